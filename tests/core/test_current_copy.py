"""One answer to "which copy is this object": ``<name>`` and ``<name>.delta`` both stored.

Listing, details, statistics, savings, audit, restore, verify, the sha256 that ``Y`` copies
and the SDK all describe the same copy, chosen by ``fmt.current_copy``: the newer
``dg-created-at``, then the newer LastModified (whole seconds), then the delta.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime

import pytest

from dgtui.cli import main
from dgtui.core import format as fmt
from dgtui.core import listing
from dgtui.core.audit import ProblemKind

from .. import dgproxy
from .conftest import random_bytes

V1 = random_bytes(200_000, seed=5)
DELTA_BYTES = V1[:70_000] + b"delta copy" + V1[70_010:]
PLAIN_BYTES = b"plain copy, 23 bytes..."  # what another writer put beside the delta
BETWEEN = [f"q/ok.zip-{i}" for i in range(3)]  # keys between q/ok.zip and q/ok.zip.delta: twins on other pages


def _write(s3, bucket: str, case: str) -> None:
    dgproxy.put_first(s3, bucket, "q/base.zip", V1)
    for key in BETWEEN:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    if case == "plain newer by dg-created-at":
        # written last, the delta has the newer modification time; dg-created-at says the plain copy is newer
        dgproxy.put_passthrough(s3, bucket, "q/ok.zip", PLAIN_BYTES, when=500)
        dgproxy.put_delta(s3, bucket, "q/ok.zip", DELTA_BYTES, V1, when=10)
    elif case == "delta newer by dg-created-at in the same second":
        dgproxy.put_delta(s3, bucket, "q/ok.zip", DELTA_BYTES, V1, when=0.7)
        dgproxy.put_passthrough(s3, bucket, "q/ok.zip", PLAIN_BYTES, when=0.3)
    elif case == "plain without metadata, newer by a second":
        dgproxy.put_delta(s3, bucket, "q/ok.zip", DELTA_BYTES, V1, when=0)
        time.sleep(1.1)  # modification times have one-second steps
        s3.put_object(Bucket=bucket, Key="q/ok.zip", Body=PLAIN_BYTES)
    else:  # "same dg-created-at in the same second: the delta"
        for _ in range(5):  # bounded: until both land in the same second
            dgproxy.put_delta(s3, bucket, "q/ok.zip", DELTA_BYTES, V1, when=0)
            dgproxy.put_passthrough(s3, bucket, "q/ok.zip", PLAIN_BYTES, when=0)
            seconds = {s3.head_object(Bucket=bucket, Key=k)["LastModified"] for k in ("q/ok.zip", "q/ok.zip.delta")}
            if len(seconds) == 1:
                break
        else:
            pytest.fail("could not write both copies within one second")


CASES = {
    "plain newer by dg-created-at": "q/ok.zip",
    "delta newer by dg-created-at in the same second": "q/ok.zip.delta",
    "plain without metadata, newer by a second": "q/ok.zip",
    "same dg-created-at in the same second: the delta": "q/ok.zip.delta",
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_reader_describes_the_current_copy(client, bucket, boto3_s3, tmp_path, capsys, monkeypatch, case):
    _write(boto3_s3, bucket, case)
    current = CASES[case]
    older = "q/ok.zip" if current.endswith(".delta") else "q/ok.zip.delta"
    content = DELTA_BYTES if current.endswith(".delta") else PLAIN_BYTES
    stored_size = boto3_s3.head_object(Bucket=bucket, Key=current)["ContentLength"]
    sha = hashlib.sha256(content).hexdigest()

    # listing: one page, pages of every size (the twin on a later page), plain and ranged, the SDK's dict
    page = client.list_objects(Bucket=bucket, Prefix="q/")
    [ok] = [o for o in page.contents if o.key == "q/ok.zip"]
    assert (ok.stored_key, ok.size, ok.older_copy_key) == (current, stored_size, older)
    assert [o["Size"] for o in page["Contents"] if o["Key"] == "q/ok.zip"] == [stored_size]
    for hold_limit in (1000, 1):  # the twin on the next pages: held back until it comes, or looked up by a HEAD
        monkeypatch.setattr(listing, "HOLD_LIMIT", hold_limit)
        for size in (1, 2, 3, 4, 1000):
            for ranged in (False, True):
                pages = list(client.iter_pages(bucket, "q/", delimiter=None, page_size=size, ranged=ranged))
                listed = [o for p in pages for o in p.contents]
                shown = [(o.stored_key, o.size) for o in listed if o.key == "q/ok.zip"]
                assert shown == [(current, stored_size)], (hold_limit, size, ranged, shown)
                assert len(listed) == 2 + len(BETWEEN), (hold_limit, size, ranged)
                assert [h.stored_key for p in pages for h in p.hidden if h.key == "q/ok.zip"] == [older]
    assert main(["ls", "s3://" + bucket + "/q/"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.endswith("  q/ok.zip"))
    assert ("delta" in line) == current.endswith(".delta")

    # details, and the sha256 that Y copies (the app reads it from the same details)
    info = client.get_object_info(f"s3://{bucket}/q/ok.zip")
    assert (info.stored_key, info.older_copy_key) == (current, older)
    if content is DELTA_BYTES or case != "plain without metadata, newer by a second":
        assert info.file_sha256 == sha

    # restore, verify and the SDK's reads
    restored = client.download(f"s3://{bucket}/q/ok.zip", tmp_path / "ok.zip")
    assert (tmp_path / "ok.zip").read_bytes() == content and restored.sha256 == sha
    checked = client.verify_object(f"s3://{bucket}/q/ok.zip")
    assert checked.valid
    assert client.get_object(Bucket=bucket, Key="q/ok.zip")["Body"].read() == content
    assert client.head_object(Bucket=bucket, Key="q/ok.zip")["ContentLength"] == len(content)

    # statistics and savings count the current copy's file; the other is an older copy
    stats = client.get_bucket_stats(bucket, prefix="q/", detailed_stats=True)
    assert stats.object_count == 2 + len(BETWEEN) and stats.older_copies == 1
    assert stats.total_size == len(V1) + len(content) + len(BETWEEN)
    report = client.folder_savings(bucket, "", exact=True)
    [folder] = [r for r in report.rows if r.prefix == "q/"]
    assert folder.objects == 2 + len(BETWEEN) and folder.original_bytes == len(V1) + len(content) + len(BETWEEN)

    # audit names the same copy as the one read
    problems = [p for p in client.audit(f"s3://{bucket}/q/") if p.kind == ProblemKind.DUPLICATE]
    assert [p.reader_gets for p in problems] == [current]


def test_the_rule():
    def copy(key: str, created: str | None, modified: str) -> fmt.StoredCopy:
        return fmt.StoredCopy.of(key, {"dg-created-at": created} if created else {}, modified)

    plain, delta = "a/x.zip", "a/x.zip.delta"
    # dg-created-at first, to the microsecond
    assert fmt.current_copy(copy(plain, "2026-01-01T00:00:00.900000Z", "2026-01-01T00:00:00Z"),
                            copy(delta, "2026-01-01T00:00:00.100000Z", "2026-01-01T00:00:05Z")).stored_key == plain
    # then LastModified, in whole seconds (a listing's milliseconds are not in a HEAD answer)
    assert fmt.current_copy(copy(plain, None, "2026-01-01T00:00:00.900Z"),
                            copy(delta, "2026-01-01T00:00:00.100000Z", "2026-01-01T00:00:00.100Z")).stored_key == delta
    assert fmt.current_copy(copy(plain, None, "2026-01-01T00:00:02.000Z"),
                            copy(delta, None, datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC))).stored_key == plain
    # then the delta, in either order
    same = "2026-01-01T00:00:00Z"
    assert fmt.current_copy(copy(plain, same, same), copy(delta, same, same)).stored_key == delta
    assert fmt.current_copy(copy(delta, same, same), copy(plain, same, same)).stored_key == delta


def test_a_listing_of_single_copies_sends_no_head(client, bucket, boto3_s3):
    for key in ("p/a.zip", "p/a.zip-1", "p/b.txt", "p/c.zip"):
        boto3_s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    heads: list[str] = []
    client.boto3_client.meta.events.register("before-call.s3.HeadObject",
                                             lambda params, **_: heads.append(params.get("url_path", "")))
    for size in (1, 2, 1000):
        keys = [o.key for p in client.iter_pages(bucket, "p/", delimiter=None, page_size=size) for o in p.contents]
        assert keys == ["p/a.zip", "p/a.zip-1", "p/b.txt", "p/c.zip"], size
    assert heads == []
