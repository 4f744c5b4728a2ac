"""``dgtui audit`` and ``verify`` judge the bucket: every kind of damage next to clean folders, on SeaweedFS."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dgtui import CancelledError, ProblemKind, create_client
from dgtui.cli import main
from tests.conftest import bucket_name_for
from tests.core.conftest import make_release, upload_gzip_trap

SIZE = 60_000
K = ProblemKind


def _client(server, cache: Path):
    return create_client(endpoint_url=server.endpoint_url, aws_access_key_id=server.access_key,
                         aws_secret_access_key=server.secret_key, region_name=server.region, cache_dir=cache)


def _flip(body: bytes) -> bytes:
    middle = len(body) // 2
    return body[:middle] + bytes([body[middle] ^ 0xFF]) + body[middle + 1:]


def _rewrite(s3, bucket: str, key: str, *, body=None, metadata=None) -> None:
    """Replace an object's body and/or metadata as another tool (or a faulty disk) would."""
    head = s3.head_object(Bucket=bucket, Key=key)
    data = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    meta = dict(head["Metadata"])
    if metadata:
        meta.update(metadata)
    s3.put_object(Bucket=bucket, Key=key, Body=body(data) if body else data, Metadata=meta)


@pytest.fixture(scope="module")
def damaged(s3_server, tmp_path_factory):
    """A bucket with clean folders (dgtui, DeltaGlider 6.2.0, plain, proxy-encrypted) and one folder per damage.

    Returns (bucket, the dgtui client that uploaded everything: its reference cache is warm).
    """
    s3 = s3_server.boto3_client()
    bucket = bucket_name_for("audit-damaged")
    s3.create_bucket(Bucket=bucket)
    work = tmp_path_factory.mktemp("audit-src")
    client = _client(s3_server, work / "cache")
    releases = [make_release(work / f"app-{v}.zip", v, size=SIZE) for v in range(2)]

    def upload_pair(folder: str) -> None:
        for f in releases:
            client.upload(f, f"s3://{bucket}/{folder}/")

    (work / "notes.txt").write_bytes(b"notes " * 200)
    for folder in ("clean", "missing", "replaced", "altered", "size", "corrupt", "warm"):
        upload_pair(folder)
    client.upload(work / "notes.txt", f"s3://{bucket}/clean/")
    client.upload(work / "notes.txt", f"s3://{bucket}/directbad/")
    s3.put_object(Bucket=bucket, Key="plain/readme.txt", Body=b"written by another tool")
    # DeltaGlider 6.2.0's own uploads, and its gzip trap
    with pytest.MonkeyPatch.context() as mp:
        for name, value in s3_server.env().items():
            mp.setenv(name, value)
        from deltaglider import create_client as dg_create_client

        dg = dg_create_client(endpoint_url=s3_server.endpoint_url, log_level="WARNING")
        for f in releases:
            dg.upload(str(f), f"s3://{bucket}/dgclean/")
        upload_gzip_trap(dg, bucket, work, rows=5_000)
    # orphan: the only delta went, its reference stayed
    client.upload(releases[0], f"s3://{bucket}/orphan/")
    s3.delete_object(Bucket=bucket, Key="orphan/app-0.zip.delta")
    # duplicate: a whole copy written beside the delta (as the proxy does while it rewrites)
    client.upload(releases[0], f"s3://{bucket}/dup/")
    head = s3.head_object(Bucket=bucket, Key="dup/app-0.zip.delta")["Metadata"]
    s3.put_object(Bucket=bucket, Key="dup/app-0.zip", Body=releases[0].read_bytes(), Metadata={
        "dg-tool": "deltaglider_proxy/1.19.0", "dg-file-sha256": head["dg-file-sha256"],
        "dg-file-size": str(SIZE), "dg-note": "passthrough", "dg-created-at": "2099-01-01T00:00:00.000000Z"})
    # damage
    s3.delete_object(Bucket=bucket, Key="missing/reference.bin")
    other = make_release(work / "other.zip", 9, size=SIZE, seed=99)
    import hashlib

    s3.put_object(Bucket=bucket, Key="replaced/reference.bin", Body=other.read_bytes(),
                  Metadata={"dg-file-sha256": hashlib.sha256(other.read_bytes()).hexdigest(), "dg-note": "reference"})
    _rewrite(s3, bucket, "altered/reference.bin", body=_flip)
    _rewrite(s3, bucket, "size/app-1.zip.delta", metadata={"dg-delta-size": "12345"})
    _rewrite(s3, bucket, "corrupt/app-1.zip.delta", body=_flip)
    _rewrite(s3, bucket, "directbad/notes.txt", body=_flip)
    client.upload(releases[0], f"s3://{bucket}/badmeta/")
    _rewrite(s3, bucket, "badmeta/app-0.zip.delta", metadata={"dg-file-size": "lots"})
    # what deltaglider_proxy 1.19 writes (docs/FORMAT.md §7): dg-ref-path, notes, __reference__; clean
    for key in ("reference.bin", "app-0.zip.delta", "app-1.zip.delta"):
        meta = s3.head_object(Bucket=bucket, Key=f"clean/{key}")["Metadata"]
        proxy = {"dg-tool": "deltaglider_proxy/1.19.0", "dg-file-sha256": meta["dg-file-sha256"],
                 "dg-created-at": "2026-01-01T00:00:00.000000Z", "dg-md5": "0" * 32}
        if key == "reference.bin":
            proxy.update({"dg-note": "reference", "dg-original-name": "__reference__",
                          "dg-source-name": "proxy/app-0.zip"})
        else:
            proxy.update({k: meta[k] for k in ("dg-file-size", "dg-ref-sha256", "dg-delta-size", "dg-delta-cmd")})
            proxy.update({"dg-note": "zero-diff (reference identical)" if "app-0" in key else "delta",
                          "dg-ref-path": "reference.bin", "dg-original-name": key[:-len(".delta")]})
        s3.copy_object(Bucket=bucket, Key=f"proxy/{key}", CopySource=f"{bucket}/clean/{key}", Metadata=proxy,
                       MetadataDirective="REPLACE")
    # deltaglider_proxy's own encryption: counted apart, never flagged
    enc_meta = {"dg-tool": "deltaglider_proxy/1.19.0", "dg-file-sha256": "a" * 64, "dg-file-size": "100",
                "user-dg-encrypted": "aes-256-gcm-v1", "user-dg-encryption-key-id": "k1"}
    s3.put_object(Bucket=bucket, Key="enc/reference.bin", Body=b"\0" * 140,
                  Metadata={**enc_meta, "dg-note": "reference", "dg-original-name": "__reference__"})
    s3.put_object(Bucket=bucket, Key="enc/x.zip.delta", Body=b"\1" * 60, Metadata={
        **enc_meta, "dg-note": "delta", "dg-ref-path": "reference.bin", "dg-ref-sha256": "a" * 64,
        "dg-delta-size": "20"})
    yield bucket, client
    client.close()


#: (kind, stored key) of every problem the metadata audit must find, and nothing else
METADATA_PROBLEMS = {
    (K.MISSING_REFERENCE, "missing/app-0.zip.delta"), (K.MISSING_REFERENCE, "missing/app-1.zip.delta"),
    (K.REFERENCE_MISMATCH, "replaced/app-0.zip.delta"), (K.REFERENCE_MISMATCH, "replaced/app-1.zip.delta"),
    (K.ORPHAN_REFERENCE, "orphan/reference.bin"),
    (K.INVALID_METADATA, "badmeta/app-0.zip.delta"),
    (K.DUPLICATE, "dup/app-0.zip"),
    (K.DELTA_SIZE, "size/app-1.zip.delta"),
    (K.GZIP_TRAP, "backups/db-01.sql.gz.delta"), (K.GZIP_TRAP, "backups/db-02.sql.gz.delta"),
}


def test_metadata_audit_names_each_damage_and_nothing_clean(damaged):
    bucket, client = damaged
    auditor = client.audit(f"s3://{bucket}")
    problems = list(auditor)
    assert {(p.kind, p.key) for p in problems} == METADATA_PROBLEMS
    by_key = {p.key: p for p in problems}
    assert "missing/reference.bin is missing" in by_key["missing/app-0.zip.delta"].message
    orphan = by_key["orphan/reference.bin"]
    assert orphan.wasted_bytes > SIZE  # the whole first release
    assert str(orphan.wasted_bytes) in orphan.message.replace(",", "")
    dup = by_key["dup/app-0.zip"]
    assert dup.reader_gets == "dup/app-0.zip" and "newer" in dup.message
    trap = by_key["backups/db-02.sql.gz.delta"]
    assert trap.command == f"dgtui get --rescue s3://{bucket}/backups/db-02.sql.gz ."
    summary = auditor.summary
    assert summary.problem_count == len(METADATA_PROBLEMS)
    assert summary.proxy_encrypted == 2  # the encrypted delta and its reference
    assert summary.wasted_bytes == orphan.wasted_bytes
    assert summary.deltas > 0 and summary.references > 0 and not summary.full


def test_clean_folders_give_exit_0_and_damage_exit_3(damaged, s3_env, capsys):
    bucket, _ = damaged
    for folder in ("clean", "dgclean", "plain", "enc", "proxy", "altered", "warm"):
        assert main(["audit", f"s3://{bucket}/{folder}/"]) == 0, capsys.readouterr()
        out = capsys.readouterr().out
        assert out.count("\n") == 1 and "no problems found" in out
    assert main(["audit", f"s3://{bucket}/missing"]) == 3
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"missing reference: s3://{bucket}/missing/app-0.zip.delta: ")
    assert len(out) == 3 and "2 problems (2 missing reference)" in out[-1]


def test_json_output(damaged, s3_env, capsys):
    bucket, _ = damaged
    assert main(["audit", "--json", f"s3://{bucket}/"]) == 3
    doc = json.loads(capsys.readouterr().out)
    assert {(p["kind"], p["key"]) for p in doc["problems"]} == {(k.value, key) for k, key in METADATA_PROBLEMS}
    assert doc["summary"]["problem_count"] == len(METADATA_PROBLEMS)
    assert doc["summary"]["problems"]["missing-reference"] == 2
    orphan = next(p for p in doc["problems"] if p["kind"] == "orphan-reference")
    assert orphan["wasted_bytes"] > 0 and orphan["folder"] == "orphan"


def test_errors_exit_1(damaged, s3_env, capsys, monkeypatch):
    assert main(["audit", "s3://no-such-bucket-for-audit/"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-bucket-for-audit" in err and "Traceback" not in err
    bucket, _ = damaged
    from dgtui.core import codec

    monkeypatch.setattr(codec, "_xdelta3_path", None)
    monkeypatch.setenv("DGTUI_XDELTA3", "/nonexistent/xdelta3")
    assert main(["audit", "--full", f"s3://{bucket}/missing/"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "apt-get install xdelta3" in captured.err and captured.err.count("\n") == 1
    monkeypatch.delenv("DGTUI_XDELTA3")  # (undo() would also drop s3_env's settings)
    assert main(["audit", f"s3://{bucket}/no-such-folder"]) == 0
    assert capsys.readouterr().out == f"audited s3://{bucket}/no-such-folder/: nothing is stored there\n"


FULL_PROBLEMS = METADATA_PROBLEMS | {
    (K.REFERENCE_CORRUPT, "altered/reference.bin"),
    (K.REFERENCE_MISMATCH, "altered/app-0.zip.delta"), (K.REFERENCE_MISMATCH, "altered/app-1.zip.delta"),
    (K.XDELTA3_FAILURE, "corrupt/app-1.zip.delta"),
    (K.SHA256_MISMATCH, "directbad/notes.txt"),
}


def test_full_audit_reads_the_bytes(damaged, tmp_path, s3_server):
    bucket, _ = damaged
    fresh = _client(s3_server, tmp_path / "fresh-cache")  # judges the bucket, whatever a cache holds
    try:
        auditor = fresh.audit(f"s3://{bucket}/", full=True, workers=3)
        problems = list(auditor)
    finally:
        fresh.close()
    found = {(p.kind, p.key) for p in problems}
    # a corrupted delta is caught either by xdelta3 or by the sha256 of what it rebuilt
    if (K.REBUILD_MISMATCH, "corrupt/app-1.zip.delta") in found:
        found = found - {(K.REBUILD_MISMATCH, "corrupt/app-1.zip.delta")} | {(K.XDELTA3_FAILURE,
                                                                              "corrupt/app-1.zip.delta")}
    assert found == FULL_PROBLEMS
    trap = next(p for p in problems if p.kind == K.GZIP_TRAP)
    assert "gzip" in trap.message and "do not match" in trap.message  # confirmed by rebuilding, not guessed
    assert trap.command and "--rescue" in trap.command
    summary = auditor.summary
    assert summary.full and summary.rebuilt > 0 and summary.checked >= 3  # notes, readme, the duplicate
    assert summary.proxy_encrypted == 2 and summary.unchecked >= 1
    assert list((tmp_path / "fresh-cache" / "work").iterdir()) == []


def test_cancel_stops_and_leaves_nothing(damaged, tmp_path, s3_server):
    bucket, _ = damaged
    fresh = _client(s3_server, tmp_path / "cancel-cache")
    seen: list[str] = []

    def progress(stage: str, done: int, total: int) -> None:
        seen.append(stage)

    auditor = fresh.audit(f"s3://{bucket}/", full=True, progress=progress,
                          should_cancel=lambda: "checking" in seen)
    try:
        with pytest.raises(CancelledError):
            list(auditor)
    finally:
        fresh.close()
    assert auditor.summary.cancelled
    assert list((tmp_path / "cancel-cache" / "work").iterdir()) == []
    assert list((tmp_path / "cancel-cache" / "references").glob(".incoming-*")) == []


# --- verify judges the bucket; restores say when they lean on the cache --------------------------------


def test_warm_cache_verify_fails_and_restore_warns(damaged, s3_server, s3_env, tmp_path, capsys):
    bucket, client = damaged
    s3 = s3_server.boto3_client()
    url = f"s3://{bucket}/warm/app-1.zip"
    assert client.verify(url) is True
    # replaced by another writer, metadata and all: the uploader's cache still holds the old one
    replaced = f"s3://{bucket}/replaced/app-1.zip"
    assert client.verify(replaced) is False
    assert "dg-ref-sha256" in (client.verify_object(replaced).reason or "")
    assert "replaced/reference.bin" in (client.download(replaced, tmp_path / "r.zip").reference_warning or "")
    s3.delete_object(Bucket=bucket, Key="warm/reference.bin")
    # the uploader's cache still holds the right reference: verify does not vouch for it
    result = client.verify_object(url)
    assert result.valid is False and "warm/reference.bin is missing" in (result.reason or "")
    assert client.verify(url) is False
    # the CLI uses a cache of its own (s3_env): seed it the way the uploader's machine would have it
    restored = client.download(url, tmp_path / "a.zip")
    assert restored.verified and restored.reference_warning
    assert "warm/reference.bin is missing" in restored.reference_warning
    assert "dgtui audit" in restored.reference_warning
    assert (tmp_path / "a.zip").read_bytes() == make_release(tmp_path / "expect.zip", 1, size=SIZE).read_bytes()


def test_replaced_reference_with_a_good_cached_copy(damaged, s3_server, s3_env, tmp_path, capsys):
    """Same ETag-less story through the CLI: a cache filled by an earlier get, then the reference replaced."""
    bucket, _ = damaged
    s3 = s3_server.boto3_client()
    work = tmp_path / "src"
    work.mkdir()
    releases = [make_release(work / f"app-{v}.zip", v, size=SIZE) for v in range(2)]
    for f in releases:
        assert main(["put", str(f), f"s3://{bucket}/cli-warm/"]) == 0
    url = f"s3://{bucket}/cli-warm/app-1.zip"
    assert main(["verify", url]) == 0
    capsys.readouterr()
    _rewrite(s3, bucket, "cli-warm/reference.bin", body=_flip)  # altered, metadata kept
    assert main(["verify", url]) == 3
    err = capsys.readouterr().err
    assert err.startswith("FAILED") and "cli-warm/reference.bin" in err and err.count("\n") == 1
    assert main(["get", url, str(tmp_path / "out.zip")]) == 0
    captured = capsys.readouterr()
    assert "sha256 verified" in captured.out
    assert captured.err.count("\n") == 1 and captured.err.startswith("warning: ")
    assert "cli-warm/reference.bin" in captured.err and f"dgtui audit s3://{bucket}/cli-warm/" in captured.err
    assert (tmp_path / "out.zip").read_bytes() == releases[1].read_bytes()
    assert main(["get", "--recursive", f"s3://{bucket}/cli-warm/", str(tmp_path / "all")]) == 0
    err = capsys.readouterr().err
    assert err.count("warning: ") == 1 and "cli-warm/reference.bin" in err  # once for the folder's two deltas
    assert (tmp_path / "all" / "app-0.zip").read_bytes() == releases[0].read_bytes()
    s3.delete_object(Bucket=bucket, Key="cli-warm/reference.bin")
    assert main(["verify", url]) == 3
    assert "is missing" in capsys.readouterr().err


def test_stats_warn_about_deltas_without_a_reference(damaged, s3_env, capsys):
    bucket, _ = damaged
    assert main(["stats", "--detailed", f"s3://{bucket}/missing/"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: 2 deltas but no reference") and f"dgtui audit s3://{bucket}/missing/" in err
    assert main(["stats", f"s3://{bucket}/clean/"]) == 0
    assert capsys.readouterr().err == ""


def test_progress_on_a_terminal(damaged, s3_env, capsys, monkeypatch):
    bucket, _ = damaged
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert main(["audit", "--full", f"s3://{bucket}/clean/"]) == 0
    captured = capsys.readouterr()
    assert "\r" in captured.err and "checking" in captured.err and captured.err.endswith("\r")  # line cleared
    assert "\r" not in captured.out and "no problems found" in captured.out
