"""Objects whose DeltaGlider metadata is garbage: flagged "metadata invalid"
for that object, never a crash; listing, stats and details keep working."""

from __future__ import annotations

import pytest

from dgtui import MetadataInvalidError, ObjectKind
from dgtui.cli import main
from tests.core.conftest import make_release

SHA = "ab" * 32

# stored key -> metadata changes applied to a real, restorable object
GARBAGE = {
    "g/size-word.zip.delta": {"dg-file-size": "twelve"},
    "g/size-negative.zip.delta": {"dg-file-size": "-5"},
    "g/size-huge.zip.delta": {"dg-file-size": "9" * 40},
    "g/size-float.zip.delta": {"dg-file-size": "1e9"},
    "g/ref-sha.zip.delta": {"dg-ref-sha256": "not-a-sha"},
    "g/no-ref-sha.zip.delta": {"dg-ref-sha256": None},
    "g/delta-size.zip.delta": {"dg-delta-size": "-1"},
    "g/file-sha.zip.delta": {"dg-file-sha256": "0x" + "f" * 62},
    "g/direct-sha.txt": {"dg-file-sha256": "zz" * 32},
    "g/direct-size.txt": {"dg-file-size": "77777"},
}
HARMLESS = {
    "g/unknown-tool.zip.delta": {"dg-tool": "someone-else/99.9 (not deltaglider)"},
    "g/odd-dates.txt": {"dg-created-at": "yesterday-ish", "dg-tool": ""},
    "g/extra-keys.txt": {"dg-mystery": "42", "user-owner": "ops"},
}


@pytest.fixture
def garbage(client, bucket, boto3_s3, tmp_path):
    """One real delta and one real direct object, copied under many keys with changed metadata."""
    src = tmp_path / "src"
    src.mkdir()
    make_release(src / "base.zip", 0, size=40_000)
    make_release(src / "v1.zip", 1, size=40_000)
    (src / "note.txt").write_text("a note\n" * 10)
    for f in ("base.zip", "v1.zip", "note.txt"):
        client.upload(src / f, f"s3://{bucket}/g/")
    templates = {".delta": "g/v1.zip.delta", ".txt": "g/note.txt"}
    for stored, change in {**GARBAGE, **HARMLESS}.items():
        template = templates[".delta" if stored.endswith(".delta") else ".txt"]
        meta = dict(boto3_s3.head_object(Bucket=bucket, Key=template)["Metadata"])
        for k, v in change.items():
            if v is None:
                meta.pop(k, None)
            else:
                meta[k] = v
        boto3_s3.copy_object(Bucket=bucket, Key=stored, CopySource={"Bucket": bucket, "Key": template},
                             Metadata=meta, MetadataDirective="REPLACE")
        assert boto3_s3.head_object(Bucket=bucket, Key=stored)["Metadata"] == meta
    boto3_s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "g/v1.zip.delta"}, {"Key": "g/note.txt"}]})
    return {".zip": (src / "v1.zip").read_bytes(), ".txt": (src / "note.txt").read_bytes()}


def logical(stored: str) -> str:
    return stored.removesuffix(".delta")


def test_listing_details_and_stats_flag_only_the_bad_objects(garbage, client, bucket):
    objects = list(client.iter_objects(bucket, "g/"))
    assert len(objects) == 1 + len(GARBAGE) + len(HARMLESS)
    client.fetch_metadata(bucket, objects)
    by_key = {o.key: o for o in objects}
    for stored in GARBAGE:
        assert by_key[logical(stored)].metadata_problem, stored
    for stored in [*HARMLESS, "g/base.zip"]:
        assert by_key[logical(stored)].metadata_problem is None, (stored, by_key[logical(stored)].metadata_problem)
    for stored in GARBAGE:
        info = client.get_object_info(f"s3://{bucket}/{logical(stored)}")
        assert info.metadata_problem and info.kind in (ObjectKind.DELTA, ObjectKind.DIRECT), stored
    assert "not a number" in by_key["g/size-word.zip"].metadata_problem
    assert "differs from the stored size" in by_key["g/direct-size.txt"].metadata_problem
    assert by_key["g/unknown-tool.zip"].tool.startswith("someone-else/")
    stats = client.get_bucket_stats(bucket, prefix="g/", detailed_stats=True)
    # every object's metadata is read: the direct objects' garbage counts too
    assert stats.metadata_invalid == len(GARBAGE) and stats.object_count == len(objects)
    assert stats.estimated  # invalid sizes make the totals an estimate
    assert 0 < stats.total_size < 100 * 1024 * 1024  # a bogus size is not added up


def test_restores_follow_what_the_metadata_can_still_prove(garbage, client, bucket, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    # The sha256 is intact: the file restores, verified.
    for stored in ("g/size-word.zip.delta", "g/size-huge.zip.delta", "g/delta-size.zip.delta",
                   "g/direct-size.txt", "g/unknown-tool.zip.delta", "g/odd-dates.txt"):
        name = logical(stored).rsplit("/", 1)[-1]
        assert client.download(f"s3://{bucket}/{logical(stored)}", out / name).verified, stored
        assert (out / name).read_bytes() == garbage[name[-4:]]
    # No sha256 to check against: refused, with the reason.
    for stored in ("g/file-sha.zip.delta", "g/direct-sha.txt"):
        with pytest.raises(MetadataInvalidError) as info:
            client.download(f"s3://{bucket}/{logical(stored)}", out / "x")
        assert "metadata invalid" in str(info.value) and "sha256" in str(info.value)
    assert not (out / "x").exists()


def test_cli_shows_metadata_invalid(garbage, s3_env, bucket, capsys, tmp_path):
    assert main(["ls", "-r", f"s3://{bucket}/g/"]) == 0
    assert capsys.readouterr().out.count("\n") == 1 + len(GARBAGE) + len(HARMLESS)
    assert main(["stats", "--detailed", f"s3://{bucket}/g/"]) == 0
    out = capsys.readouterr().out
    assert f"metadata invalid: {len(GARBAGE)}" in out
    code = main(["get", f"s3://{bucket}/g/direct-sha.txt", str(tmp_path / "d.txt")])
    err = capsys.readouterr().err
    assert code == 1 and "metadata invalid" in err and err.count("\n") == 1
    assert main(["get", f"s3://{bucket}/g/size-word.zip", str(tmp_path / "w.zip")]) == 0
