"""Metadata HEADs signed and sent without botocore's per-call work, against the real test server.

SeaweedFS checks SigV4 against its configured identities, so a request the
fast path signs wrongly is really refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.auth import S3SigV4Auth
from botocore.credentials import Credentials
from botocore.config import Config

from dgtui import AccessDeniedError, CancelledError, CredentialsError, DgError, NotS3Error, create_client
from dgtui.core.fasthead import MIN_CONCURRENCY, FastHead, encode_key, within_open_files_limit
from dgtui.core.listing import iter_logical_pages
from dgtui.core.s3 import S3Access
from dgtui.core.stats import MetadataFetcher, compute_stats, object_version
from dgtui.testing import TcpProxy

from ..hardening.conftest import LIMITED_KEY, LIMITED_SECRET, as_new
from ..scripted_http import QuietHandler, serving
from .test_sdk import CallCounter

DG_TOOL = "deltaglider/6.2.0"
CREATED = "2026-01-01T00:00:00Z"

#: keys that quoting, signing or parsing could get wrong
AWKWARD_KEYS = [
    "plain.txt",
    "with space/and more spaces.bin",
    "plus+sign+.zip",
    "percent%20literal%.txt",
    "tilde~home/~x",
    "star*and'quote(paren).delta",
    "caf\u00e9/\u65e5\u672c/\u00e9t\u00e9.tar.gz",
    "[red]rich markup[/red].txt",
    "a/b/c/d/e/f/deeply/nested/folder/file.delta",
    "semi;colon,comma=equals&amp@at$dollar!bang.txt",
    "dots/.../here/..hidden..delta",
    "query?looking=key#fragment",
    # 1,000 characters in folders of 100 (SeaweedFS limits one path segment, not the key)
    "/".join(f"seg{i:02d}" + "x" * 95 for i in range(10))[:1000],
]


def access(s3_server, **kw: Any) -> S3Access:
    settings = {"endpoint_url": s3_server.endpoint_url, "aws_access_key_id": s3_server.access_key,
                "aws_secret_access_key": s3_server.secret_key, "region_name": s3_server.region}
    settings.update(kw)
    return S3Access(**settings)


def botocore_answer(s3: S3Access, bucket: str, key: str) -> tuple[str, dict[str, str]]:
    head = s3.client.head_object(Bucket=bucket, Key=key)
    return head["ETag"], head["Metadata"]


def record_sent(fast: FastHead) -> list[tuple[str, dict[str, str]]]:
    """The URL and headers of every request the fast path sends."""
    sent: list[tuple[str, dict[str, str]]] = []
    send = fast._send

    async def recording(url: str, headers: dict[str, str]):
        sent.append((url, dict(headers)))
        return await send(url, headers)

    fast._send = recording  # type: ignore[method-assign]
    return sent


def botocore_urls(s3: S3Access) -> list[str]:
    urls: list[str] = []
    s3.client.meta.events.register("before-send.s3.HeadObject", lambda request, **_: urls.append(request.url))
    return urls


# --- the fast path itself ---------------------------------------------------------

def test_answers_equal_botocore_for_awkward_keys(s3_server, s3_env, bucket, boto3_s3):
    for i, key in enumerate(AWKWARD_KEYS):
        boto3_s3.put_object(Bucket=bucket, Key=key, Body=b"x" * i, Metadata={
            "dg-tool": DG_TOOL, "Dg-Mixed-Case": f"v{i}", "camelCase": "yes", "UPPER": "U",
            "spaced": "two  spaces"})
    s3 = access(s3_server)
    fast = FastHead(s3)
    sent = record_sent(fast)
    batch = fast.batch(bucket)
    answers = {key: batch.head(key) for key in AWKWARD_KEYS}
    assert fast.learn_requests == 1 and fast.fast_requests == len(AWKWARD_KEYS) - 1
    assert fast.fallback_requests == 0 and fast.enabled, fast.disabled_reason
    urls = botocore_urls(s3)
    for key in AWKWARD_KEYS:
        assert answers[key] == botocore_answer(s3, bucket, key), key
    # every URL the fast path built is the one botocore sends for the same key
    assert [url for url, _ in sent] == urls[1:]
    assert all(url.endswith("/" + bucket + "/" + encode_key(key)) for url, key in zip(urls, AWKWARD_KEYS))


def test_missing_key_is_missing_through_the_fast_path(s3_server, s3_env, bucket, boto3_s3):
    boto3_s3.put_object(Bucket=bucket, Key="there.txt", Body=b"x", Metadata={"a": "1"})
    fast = FastHead(access(s3_server))
    batch = fast.batch(bucket)
    assert batch.head("there.txt")[1] == {"a": "1"}  # learns the URL
    assert batch.head("not/there.txt") is None
    assert batch.head("not there either \u00e9") is None
    assert (fast.learn_requests, fast.fast_requests, fast.fallback_requests) == (1, 2, 0)


def test_first_key_missing_still_teaches_the_url(s3_server, s3_env, bucket, boto3_s3):
    boto3_s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"a": "1"})
    fast = FastHead(access(s3_server))
    batch = fast.batch(bucket)
    assert batch.head("missing-first") is None
    assert batch.head("k")[1] == {"a": "1"}
    assert (fast.learn_requests, fast.fast_requests, fast.fallback_requests) == (1, 1, 0)


def test_connections_go_back_to_the_pool(s3_server, s3_env, bucket, boto3_s3):
    boto3_s3.put_object(Bucket=bucket, Key="k", Body=b"x", Metadata={"a": "1"})
    with TcpProxy.for_endpoint(s3_server.endpoint_url) as counting:  # counts the connections it is asked for
        fast = FastHead(access(s3_server, endpoint_url=counting.endpoint_url))
        batch = fast.batch(bucket)
        batch.head("k")  # through botocore: learns the URL
        assert counting.connections_accepted == 1
        batch.head("k")  # the first fast HEAD opens a connection of the fast path's own pool
        assert counting.connections_accepted == 2
        for i in range(150):
            answer = batch.head("k" if i % 2 else f"missing-{i}")
            assert (answer is not None) == bool(i % 2)
        assert fast.fast_requests == 151
        assert counting.connections_accepted == 2, "each HEAD reused the one pooled connection"
        fast.close()


def test_concurrent_heads_use_the_fast_path(s3_server, s3_env, bucket, boto3_s3):
    keys = [f"many/{i:04d}.delta" for i in range(200)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: boto3_s3.put_object(Bucket=bucket, Key=k, Body=b"d", Metadata={"n": k}), keys))
    s3 = access(s3_server)
    fast = FastHead(s3)
    batch = fast.batch(bucket)
    with ThreadPoolExecutor(fast.workers(64)) as pool:
        answers = list(pool.map(batch.head, keys))
    assert [md for _, md in answers] == [{"n": k} for k in keys]
    assert fast.fast_requests + fast.learn_requests == len(keys) and fast.fallback_requests == 0


def test_botocore_threads_are_bounded_by_its_connection_pool(s3_server, s3_env):
    # botocore's requests (small batches, fallbacks) take threads, bounded by botocore's pool;
    # the fast HEADs are max_workers at a time from one loop, over their own connections.
    assert FastHead(access(s3_server, max_pool_connections=16)).workers(64) == 16
    assert MetadataFetcher(access(s3_server, max_pool_connections=16), None, max_workers=64).max_workers == 64
    assert MetadataFetcher(access(s3_server), None).max_workers == MetadataFetcher.HEAD_WORKERS == 192


def test_a_low_limit_on_open_files_lowers_the_fast_connections(s3_server, s3_env):
    import os
    import resource

    s3 = access(s3_server)  # its files (the settings, botocore's models) are opened before the limit drops
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    limit = max(256, len(os.listdir("/proc/self/fd")) + 64)  # 256: a macOS shell's default
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
        assert FastHead(s3, max_workers=4 * limit).max_workers == limit // 4
        assert FastHead(s3, max_workers=32).max_workers == 32
        resource.setrlimit(resource.RLIMIT_NOFILE, (40, hard))  # opens nothing below: only the limit is read
        assert within_open_files_limit(192) == MIN_CONCURRENCY
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# --- refusals: the fast path falls back and errors are botocore's ----------------------

def test_wrong_secret_falls_back_and_raises_the_same_error(s3_server, s3_env, bucket, boto3_s3):
    boto3_s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    boto3_s3.put_object(Bucket=bucket, Key="b", Body=b"x")
    s3 = access(s3_server, aws_secret_access_key="not-the-secret")
    with pytest.raises(CredentialsError) as expected:
        s3.head(bucket, "a")
    fast = FastHead(s3)
    sent = record_sent(fast)
    batch = fast.batch(bucket)
    with pytest.raises(CredentialsError) as learned:
        batch.head("a")  # through botocore, which also teaches the URL
    with pytest.raises(CredentialsError) as fell_back:
        batch.head("b")  # signed here, refused, repeated through botocore
    assert len(sent) == 1 and fast.fallback_requests == 1 and fast.fast_requests == 0
    assert str(learned.value) == str(fell_back.value) == str(expected.value)
    assert "\n" not in str(fell_back.value) and "not-the-secret" not in str(fell_back.value)
    assert fast.enabled, "a refusal botocore shares does not switch the fast path off"


@pytest.fixture(scope="module")
def two_identities(two_identity_server):
    return as_new(two_identity_server)


def test_access_denied_stays_access_denied(two_identities):
    admin = two_identities.boto3_client()
    for name in ("team-a", "team-b"):
        for i in range(3):
            admin.put_object(Bucket=name, Key=f"fast/{i}.delta", Body=b"d", Metadata={"i": str(i)})
    s3 = S3Access(endpoint_url=two_identities.endpoint_url, aws_access_key_id=LIMITED_KEY,
                  aws_secret_access_key=LIMITED_SECRET, region_name="us-east-1")
    fast = FastHead(s3)
    allowed = fast.batch("team-a")
    assert [allowed.head(f"fast/{i}.delta")[1] for i in range(3)] == [{"i": "0"}, {"i": "1"}, {"i": "2"}]
    assert allowed.head("fast/missing") is None
    assert fast.fast_requests == 3 and fast.fallback_requests == 0
    denied = fast.batch("team-b")
    for i in range(3):
        with pytest.raises(AccessDeniedError) as info:
            denied.head(f"fast/{i}.delta")
        assert "access denied to s3://team-b/fast/" in str(info.value) and "\n" not in str(info.value)
    assert fast.fallback_requests == 2, "the first went through botocore, the others fell back"
    assert fast.enabled, "refusals botocore also gets are not a signature problem"
    assert allowed.head("fast/0.delta")[1] == {"i": "0"} and fast.fast_requests == 4


def test_session_token_is_signed_and_refused_as_botocore_is(s3_server, s3_env, bucket, boto3_s3):
    # SeaweedFS knows no session tokens: it refuses them, for botocore and for the fast path alike.
    boto3_s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    boto3_s3.put_object(Bucket=bucket, Key="b", Body=b"x")
    token = "FwoGZXIvYXdzEXAMPLETOKEN/with+slash=="
    s3 = access(s3_server, aws_session_token=token)
    with pytest.raises(CredentialsError) as expected:
        s3.head(bucket, "a")
    fast = FastHead(s3)
    sent = record_sent(fast)
    batch = fast.batch(bucket)
    assert batch.fast, "credentials with a token are signed on the fast path"
    with pytest.raises(CredentialsError):
        batch.head("a")
    with pytest.raises(CredentialsError) as fell_back:
        batch.head("b")
    assert str(fell_back.value) == str(expected.value) and token not in str(fell_back.value)
    (_, headers), = sent
    assert headers["X-Amz-Security-Token"] == token
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token," in headers["Authorization"]


def test_no_credentials_never_take_the_fast_path(s3_server, s3_env, bucket, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    s3 = S3Access(endpoint_url=s3_server.endpoint_url, region_name="us-east-1")
    fast = FastHead(s3)
    batch = fast.batch(bucket)
    assert not batch.fast
    with pytest.raises(CredentialsError):
        batch.head("a")
    assert fast.fast_requests == fast.learn_requests == 0 and fast.fallback_requests == 1


def test_unsigned_clients_never_take_the_fast_path(s3_server, s3_env):
    s3 = access(s3_server)
    s3.client = boto3.client("s3", endpoint_url=s3_server.endpoint_url, region_name="us-east-1",
                             config=Config(signature_version=UNSIGNED))
    assert not FastHead(s3).enabled


def test_a_signature_the_server_refuses_switches_the_fast_path_off(s3_server, s3_env, bucket, boto3_s3):
    keys = [f"k{i}" for i in range(8)]
    for key in keys:
        boto3_s3.put_object(Bucket=bucket, Key=key, Body=b"x", Metadata={"key": key})
    fast = FastHead(access(s3_server))
    sent = record_sent(fast)
    batch = fast.batch(bucket)
    assert batch.head(keys[0])[1] == {"key": keys[0]}
    # Signed with a secret the server does not know (while botocore's requests are signed right): refused.
    batch._signer = S3SigV4Auth(Credentials(s3_server.access_key, "not-the-secret"), "s3", s3_server.region)
    assert [batch.head(k)[1] for k in keys[1:]] == [{"key": k} for k in keys[1:]]
    assert fast.disabled_reason and "3 fast HEADs in a row needed botocore (last: HTTP 403)" in fast.disabled_reason
    assert len(sent) == 3 and fast.fast_requests == 0 and fast.fallback_requests == 7
    assert not fast.batch(bucket).fast


# --- proxies ---------------------------------------------------------------------

@pytest.fixture
def forwarder(s3_server) -> Iterator[TcpProxy]:
    """Plays an HTTP proxy: SeaweedFS accepts the absolute URLs a proxy receives."""
    with TcpProxy.for_endpoint(s3_server.endpoint_url) as running:
        yield running


def test_a_proxy_from_the_environment_turns_the_fast_path_off(s3_server, s3_env, bucket, boto3_s3, forwarder,
                                                              monkeypatch):
    boto3_s3.put_object(Bucket=bucket, Key="a", Body=b"x", Metadata={"a": "1"})
    monkeypatch.setenv("HTTP_PROXY", forwarder.endpoint_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    fast = FastHead(access(s3_server))
    batch = fast.batch(bucket)
    assert not batch.fast and "proxy" in fast.disabled_reason
    assert batch.head("a")[1] == {"a": "1"} and batch.head("missing") is None
    assert fast.fast_requests == 0 and fast.fallback_requests == 2
    assert forwarder.connections_accepted >= 1, "botocore's requests went through the proxy"


def test_a_configured_proxy_turns_the_fast_path_off(s3_server, s3_env, bucket, boto3_s3, forwarder):
    boto3_s3.put_object(Bucket=bucket, Key="a", Body=b"x", Metadata={"a": "1"})
    s3 = access(s3_server)
    s3.client = boto3.client(
        "s3", endpoint_url=s3_server.endpoint_url, aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key, region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, proxies={"http": forwarder.endpoint_url}))
    fast = FastHead(s3)
    batch = fast.batch(bucket)
    assert batch.head("a")[1] == {"a": "1"}
    assert not fast.enabled and fast.fast_requests == 0 and fast.fallback_requests == 1


def test_no_proxy_for_the_endpoint_keeps_the_fast_path(s3_server, s3_env, bucket, boto3_s3, monkeypatch):
    boto3_s3.put_object(Bucket=bucket, Key="a", Body=b"x", Metadata={"a": "1"})
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fast = FastHead(access(s3_server))
    batch = fast.batch(bucket)
    assert batch.fast
    assert batch.head("a")[1] == {"a": "1"} and batch.head("a")[1] == {"a": "1"}
    assert fast.fast_requests == 1 and fast.fallback_requests == 0


# --- what servers may answer: a scripted HTTP server -----------------------------------

class _Scripted(QuietHandler):
    #: path -> (status, [(header, value)])
    answers: dict[str, tuple[int, list[tuple[str, str]]]] = {}

    def do_HEAD(self) -> None:  # noqa: N802
        status, headers = self.answers.get(self.path.split("/", 2)[-1], (404, []))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802 (S3Access explains a bare 403 with a GET)
        self.do_HEAD()


@pytest.fixture
def scripted(s3_env) -> Iterator[str]:
    with serving(_Scripted) as url:
        yield url


def test_header_names_keep_their_case_as_in_botocore(scripted):
    _Scripted.answers = {
        "first": (200, [("ETag", '"1"')]),
        "mixed": (200, [("ETag", '"2"'), ("X-Amz-Meta-Dg-Tool", "T"), ("x-amz-meta-camelCase", "c"),
                        ("X-AMZ-META-UPPER", "U"), ("x-amz-meta-twice", "one"), ("x-amz-meta-twice", "two"),
                        ("x-amz-metadata-directive", "not metadata")]),
    }
    s3 = S3Access(endpoint_url=scripted, aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1",
                  max_attempts=1)
    fast = FastHead(s3)
    batch = fast.batch("bucket")
    batch.head("first")
    answer = batch.head("mixed")
    assert answer == botocore_answer(s3, "bucket", "mixed")
    assert answer[1] == {"Dg-Tool": "T", "camelCase": "c", "UPPER": "U", "twice": "one, two"}
    assert fast.fast_requests == 1 and fast.fallback_requests == 0


def test_unusual_answers_go_to_botocore(scripted):
    _Scripted.answers = {
        "first": (200, [("ETag", '"1"')]),
        "no-etag": (200, [("x-amz-meta-a", "1")]),
        "broken": (500, []),
        "moved": (301, [("Location", "http://elsewhere.invalid/")]),
    }
    s3 = S3Access(endpoint_url=scripted, aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1",
                  max_attempts=1)
    fast = FastHead(s3)
    batch = fast.batch("bucket")
    batch.head("first")
    with pytest.raises(NotS3Error):
        batch.head("no-etag")
    with pytest.raises(DgError) as info:
        batch.head("broken")
    assert "500" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(DgError):
        batch.head("moved")
    assert fast.fast_requests == 0 and fast.fallback_requests == 3 and fast.enabled


# --- detailed statistics ------------------------------------------------------------

def put_deltas(boto3_s3, bucket: str, n: int, spaces: int = 3) -> int:
    """``n`` small deltas with DeltaGlider's metadata and a reference per deltaspace; their original total."""
    refs = []
    for s in range(spaces):
        body = f"reference {s}".encode() * 100
        sha = hashlib.sha256(body).hexdigest()
        key = f"rel/app-{s}/reference.bin"
        boto3_s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata={
            "dg-tool": DG_TOOL, "dg-source-name": "app.zip", "dg-file-sha256": sha,
            "dg-created-at": CREATED, "dg-note": "reference"})
        refs.append((key, sha))

    def put(i: int) -> int:
        ref_key, ref_sha = refs[i % spaces]
        name = f"app {i % spaces} v1.{i}+beta (build).zip"
        size = 1_000_000 + i * 37
        boto3_s3.put_object(Bucket=bucket, Key=f"rel/app-{i % spaces}/{name}.delta", Body=b"d" * (10 + i % 50),
                            Metadata={"dg-tool": DG_TOOL, "dg-original-name": name,
                                      "dg-file-sha256": hashlib.sha256(name.encode()).hexdigest(),
                                      "dg-file-size": str(size), "dg-created-at": CREATED, "dg-ref-key": ref_key,
                                      "dg-ref-sha256": ref_sha, "dg-delta-size": str(10 + i % 50),
                                      "dg-delta-cmd": "xdelta3 -e -9 -s reference.bin x x.delta"})
        return size

    with ThreadPoolExecutor(8) as pool:
        return sum(pool.map(put, range(n)))


def stats_client(s3_server, cache_dir: Path):
    return create_client(endpoint_url=s3_server.endpoint_url, aws_access_key_id=s3_server.access_key,
                         aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region,
                         cache_dir=cache_dir)


def test_detailed_stats_are_unchanged_and_cached(s3_server, s3_env, bucket, boto3_s3, tmp_path):
    n = 300
    original_total = put_deltas(boto3_s3, bucket, n)
    # the numbers botocore's HEADs give
    slow = stats_client(s3_server, tmp_path / "slow-cache")
    slow._fetcher.fast_head.disable("compare with botocore alone")
    expected = slow.get_bucket_stats(bucket, detailed_stats=True)
    assert slow._fetcher.fast_head.fast_requests == 0
    slow.close()
    assert expected.delta_objects == n and expected.total_size == original_total and not expected.estimated

    client = stats_client(s3_server, tmp_path / "cache")
    fast = client._fetcher.fast_head
    calls = CallCounter(client)
    writes = []
    cache = client._fetcher.cache
    put_many = cache.put_many
    cache.put_many = lambda *a: (writes.append(len(a[2])), put_many(*a))  # type: ignore[method-assign]
    progress: list[tuple[int, int]] = []
    stats = client.get_bucket_stats(bucket, detailed_stats=True, progress=lambda d, t: progress.append((d, t)))
    assert dataclasses.asdict(stats) == dataclasses.asdict(expected)
    assert (fast.learn_requests, fast.fast_requests, fast.fallback_requests) == (1, n - 1, 0)
    assert calls["HeadObject"] == 1
    assert writes == [n], "the metadata cache is written once, when all HEADs are done"
    assert progress[-1] == (n, n) and [d for d, _ in progress] == sorted(d for d, _ in progress)
    client.close()

    again = stats_client(s3_server, tmp_path / "cache")
    calls = CallCounter(again)
    assert dataclasses.asdict(again.get_bucket_stats(bucket, detailed_stats=True)) == dataclasses.asdict(expected)
    fast = again._fetcher.fast_head
    assert calls["HeadObject"] == 0 and fast.learn_requests == fast.fast_requests == fast.fallback_requests == 0
    again.close()


def test_small_batches_go_through_botocore(s3_server, s3_env, bucket, boto3_s3, tmp_path):
    put_deltas(boto3_s3, bucket, MetadataFetcher.FAST_MIN_BATCH - 1)
    client = stats_client(s3_server, tmp_path / "cache")
    calls = CallCounter(client)
    stats = client.get_bucket_stats(bucket, detailed_stats=True)
    assert stats.delta_objects == MetadataFetcher.FAST_MIN_BATCH - 1 and not stats.estimated
    assert calls["HeadObject"] == MetadataFetcher.FAST_MIN_BATCH - 1
    assert client._fetcher.fast_head.fast_requests == 0
    client.close()


def test_cancelled_fetch_keeps_what_it_fetched(s3_server, s3_env, bucket, boto3_s3, tmp_path):
    n = 200
    put_deltas(boto3_s3, bucket, n, spaces=1)
    client = stats_client(s3_server, tmp_path / "cache")
    deltas = [o for page in iter_logical_pages(client.boto3_client, bucket, "") for o in page.contents if o.is_delta]
    assert len(deltas) == n
    reported: list[int] = []

    def should_cancel() -> bool:  # the user cancels once some answers have shown
        return bool(reported) and reported[-1] >= 50

    with pytest.raises(CancelledError):
        client.fetch_metadata(bucket, deltas, progress=lambda done, total: reported.append(done),
                              should_cancel=should_cancel)
    kept = client._fetcher.cache.get_many(client.endpoint_url, bucket, [(d.stored_key, object_version(d)) for d in deltas])
    client.close()
    # what arrived before the cancel was written; the rest was never asked for or never kept
    assert 50 <= len(kept) < n, len(kept)
    assert set(kept) <= {d.stored_key for d in deltas}
    assert all(md["dg-tool"] == DG_TOOL for md in kept.values())


def test_first_run_reads_metadata_while_listing_and_counts_the_same(s3_server, s3_env, bucket, boto3_s3, tmp_path,
                                                                     monkeypatch):
    from dgtui.core import stats as stats_module
    from dgtui.core import walk as walk_module

    n = 260
    original_total = put_deltas(boto3_s3, bucket, n)
    monkeypatch.setattr(walk_module, "STATS_PAGE_SIZE", 50)
    monkeypatch.setattr(stats_module, "EAGER_BATCH", 40)
    client = stats_client(s3_server, tmp_path / "cache")
    batches: list[int] = []
    fetch = client._fetcher.fetch
    client._fetcher.fetch = lambda b, items, *a, **kw: (batches.append(len(items)), fetch(b, items, *a, **kw))[1]
    assert not client._fetcher.cache.has_totals(client.endpoint_url, bucket, "")
    first = client.get_bucket_stats(bucket, detailed_stats=True)
    assert first.delta_objects == n and first.total_size == original_total and not first.estimated
    assert len(batches) > 2 and sum(batches) == first.object_count, "read in batches as the pages came"
    # counted before: the next run with a changed listing reads once the listing is whole, as before
    boto3_s3.put_object(Bucket=bucket, Key="rel/notes.txt", Body=b"notes")
    batches.clear()
    second = client.get_bucket_stats(bucket, detailed_stats=True)
    assert batches == [first.object_count + 1]
    assert second.total_size == original_total + 5 and second.delta_objects == n
    client.close()


def test_a_first_run_learns_the_url_once_and_sends_its_last_small_batch_the_fast_way(
        s3_server, s3_env, bucket, boto3_s3, tmp_path, monkeypatch):
    from dgtui.core import stats as stats_module

    n = 250  # pages of 60 (the reference among them): four batches of 60 read at once, then a last one of 11
    original_total = put_deltas(boto3_s3, bucket, n, spaces=1)
    monkeypatch.setattr(stats_module, "EAGER_BATCH", 40)
    monkeypatch.setattr(stats_module, "READ_AHEAD_BATCHES", 8)  # every batch at once, the small one while learning
    client = stats_client(s3_server, tmp_path / "cache")
    pages = list(iter_logical_pages(client.boto3_client, bucket, "", page_size=60))
    assert len(pages[-1].contents) < MetadataFetcher.FAST_MIN_BATCH
    calls = CallCounter(client)
    progress: list[tuple[int, int]] = []
    stats = compute_stats(client._s3, client._fetcher, bucket, detailed=True, pages=pages,
                          progress=lambda d, t: progress.append((d, t)))
    fast = client._fetcher.fast_head
    assert stats.delta_objects == n and stats.total_size == original_total and not stats.estimated
    # One botocore HEAD teaches the URL to every batch, those read at once with it included; the
    # last, small one joins the fast HEADs instead of a round through botocore after them.
    assert calls["HeadObject"] == 1 and fast.learn_requests == 1 and fast.fallback_requests == 0
    assert fast.fast_requests == stats.object_count - 1
    done = [d for d, _ in progress]
    assert done == sorted(done) and progress[-1] == (stats.object_count, stats.object_count)
    client.close()


def test_a_head_refused_while_listing_ends_the_first_run_with_that_error(two_identities, tmp_path, monkeypatch):
    from dgtui.core import stats as stats_module
    from dgtui.core import walk as walk_module

    from ..hardening.conftest import LIST_ONLY_KEY, LIST_ONLY_SECRET

    admin = two_identities.boto3_client()
    for i in range(120):
        admin.put_object(Bucket="team-a", Key=f"eager/{i:03d}.delta", Body=b"d", Metadata={"i": str(i)})
    monkeypatch.setattr(walk_module, "STATS_PAGE_SIZE", 30)
    monkeypatch.setattr(stats_module, "EAGER_BATCH", 20)
    client = create_client(endpoint_url=two_identities.endpoint_url, aws_access_key_id=LIST_ONLY_KEY,
                           aws_secret_access_key=LIST_ONLY_SECRET, region_name="us-east-1",
                           cache_dir=tmp_path / "cache")
    with pytest.raises(AccessDeniedError) as refused:
        client.get_bucket_stats("team-a", prefix="eager/", detailed_stats=True)
    assert "access denied" in str(refused.value) and "\n" not in str(refused.value)
    client.close()


def test_later_batches_in_a_bucket_reuse_the_learned_url(s3_server, s3_env, bucket, boto3_s3):
    for key in ("a", "b"):
        boto3_s3.put_object(Bucket=bucket, Key=key, Body=b"x", Metadata={"key": key})
    fast = FastHead(access(s3_server))
    assert fast.batch(bucket).head("a")[1] == {"key": "a"}  # learns the URL through botocore
    later = fast.batch(bucket)
    assert later.head("b")[1] == {"key": "b"} and later.head("missing") is None
    assert (fast.learn_requests, fast.fast_requests, fast.fallback_requests) == (1, 2, 0)
    fast.close()


def test_the_cached_key_signer_signs_as_botocore_does():
    from botocore.awsrequest import AWSRequest

    from dgtui.core.fasthead import EMPTY_SHA256, CachedKeySigner

    creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "token/with+slash==")
    cached = CachedKeySigner(creds, "s3", "eu-west-1")
    for day in ("20261201", "20261201", "20261202"):  # the same day twice, then the next
        for key in AWKWARD_KEYS[:4]:
            signed = []
            for signer in (cached, S3SigV4Auth(creds, "s3", "eu-west-1")):
                request = AWSRequest("HEAD", f"https://s3.example.com/b/{encode_key(key)}",
                                     headers={"X-Amz-Content-SHA256": EMPTY_SHA256})
                request.context["timestamp"] = f"{day}T010203Z"
                signer._modify_request_before_signing(request)
                string_to_sign = signer.string_to_sign(request, signer.canonical_request(request))
                signed.append(signer.signature(string_to_sign, request))
            assert signed[0] == signed[1], (day, key)


def test_the_lean_signer_signs_a_head_as_botocore_does():
    from dgtui.core.fasthead import CachedKeySigner, LeanHeadSigner, _Template, botocore_signed

    for scheme, host, base_path in (("http", "127.0.0.1:8333", "/bucket/"), ("https", "b.s3.example.com", "/"),
                                    ("https", "[::1]:9000", "/sub/path/bucket/")):
        for token in (None, "token/with+slash==", "token  with  spaces"):
            creds = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token)
            for agent in (None, "Boto3/1.44 md/Botocore#1.44 ua/2.1 os/linux"):
                t = _Template(f"{scheme}://{host}{base_path}", base_path, host, "eu-west-1", "s3", agent)
                for signer in (S3SigV4Auth(creds, "s3", "eu-west-1"), CachedKeySigner(creds, "s3", "eu-west-1")):
                    lean = LeanHeadSigner.checked(signer, t, "x")
                    assert lean is not None, (scheme, token, agent)
                    for day in ("20261201T000000Z", "20261201T235959Z", "20261202T010203Z"):
                        for key in AWKWARD_KEYS:
                            encoded = encode_key(key)
                            assert lean.headers(base_path + encoded, day) == botocore_signed(signer, t, encoded, day)


def test_a_botocore_that_signs_differently_keeps_signing_the_fast_heads(s3_server, s3_env, bucket, boto3_s3):
    from dgtui.core.fasthead import CachedKeySigner

    class SignsMore(CachedKeySigner):  # as a later botocore might: one more header
        def _modify_request_before_signing(self, request):
            super()._modify_request_before_signing(request)
            request.headers["X-Amz-Extra"] = "1"

    keys = [f"k{i}" for i in range(4)]
    for key in keys:
        boto3_s3.put_object(Bucket=bucket, Key=key, Body=b"x", Metadata={"key": key})
    fast = FastHead(access(s3_server))
    sent = record_sent(fast)
    batch = fast.batch(bucket)
    assert batch.head(keys[0])[1] == {"key": keys[0]}  # learned through botocore
    assert batch._lean is None
    batch._signer = SignsMore(batch._signer.credentials, "s3", s3_server.region)
    assert [batch.head(k)[1] for k in keys[1:]] == [{"key": k} for k in keys[1:]]
    assert batch._lean is not None and batch._lean[2] is None, "the lean signer is not used"
    assert len(sent) == 3 and all(headers.get("X-Amz-Extra") == "1" for _, headers in sent)
    assert fast.fast_requests == 3 and fast.fallback_requests == 0
    fast.close()


def test_warming_starts_the_loop_before_any_head_and_only_for_the_fast_path(s3_server, s3_env, bucket, boto3_s3):
    import time

    boto3_s3.put_object(Bucket=bucket, Key="a", Body=b"x", Metadata={"a": "1"})
    fast = FastHead(access(s3_server))
    fast.warm()
    deadline = time.monotonic() + 20
    while fast._loop is None and time.monotonic() < deadline:  # bounded: the loop's thread starts it
        time.sleep(0.01)
    assert fast._loop is not None and fast._tls is not None
    assert fast._session is None, "aiohttp waits until the lean client cannot send"
    assert (fast.learn_requests, fast.fast_requests, fast.fallback_requests) == (0, 0, 0), "no request sent"
    batch = fast.batch(bucket)
    answers = dict(pair for group in batch.head_many(["a", "a", "missing"]) for pair in group)  # index -> answer
    assert [answers[i] for i in range(3)] == [("\"" + hashlib.md5(b"x").hexdigest() + "\"", {"a": "1"})] * 2 + [None]
    fast.close()
    off = FastHead(access(s3_server))
    off.disable("switched off for the test")
    off.warm()  # nothing to warm: its HEADs go through botocore
    time.sleep(0.2)
    assert off._loop is None
    off.close()
