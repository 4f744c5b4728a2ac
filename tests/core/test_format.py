"""The DeltaGlider format rules: pure functions, no server."""

from __future__ import annotations

import pytest

from dgtui.core import format as fmt
from dgtui.core.paths import safe_relative_path
from dgtui.core.models import ObjectInfo, ObjectKind
from dgtui.core.stats import apply_metadata

SHA_A = "a" * 64
SHA_B = "b" * 64


@pytest.mark.parametrize("name,eligible", [
    ("app.zip", True), ("APP.ZIP", True), ("x.tar.gz", True), ("x.TGZ", True), ("db.sql.gz", True),
    ("img.iso", True), ("a.jar", True), ("notes.txt", False), ("model.bin", False), ("zip", False),
    ("dir.zip/readme", False), ("archive.tar.xz", True), ("README", False),
])
def test_extension_policy(name, eligible):
    assert fmt.is_delta_eligible(name) is eligible


def test_key_naming():
    assert fmt.deltaspace_of("releases/v1/app.zip") == "releases/v1"
    assert fmt.deltaspace_of("app.zip") == ""
    assert fmt.reference_key_for("releases/v1") == "releases/v1/reference.bin"
    assert fmt.reference_key_for("") == "reference.bin"
    assert fmt.logical_key_of("a/b.zip.delta") == "a/b.zip"
    assert fmt.logical_key_of("a/b.zip") == "a/b.zip"
    assert fmt.is_internal_key("reference.bin") and fmt.is_internal_key("x/y/reference.bin")
    assert fmt.is_internal_key(".deltaglider/stats.json")
    assert not fmt.is_internal_key("x/my-reference.bin")


@pytest.mark.parametrize("key,fragment", [
    ("a/reference.bin", "reference"), ("a/b.zip.delta", ".delta"), (".deltaglider/x", ".deltaglider"),
    ("", "empty"), ("a/", "ends in '/'"), ("k" * 1020, "longer"),
])
def test_refused_upload_keys(key, fragment):
    reason = fmt.refuse_reason_for_upload_key(key)
    assert reason is not None and fragment in reason


def test_alias_lookup_order_and_empty_values():
    md = {"dg-file-sha256": "", "dg_file_sha256": SHA_B, "file_sha256": SHA_A}
    assert fmt.resolve(md, "file_sha256") == SHA_B
    assert fmt.resolve({"file-sha256": SHA_A}, "file_sha256") == SHA_A
    assert fmt.resolve({}, "file_sha256") is None


def test_classify_6x_delta_and_direct():
    delta = fmt.parse_metadata("r/a.zip.delta", {
        "dg-tool": "deltaglider/6.2.0", "dg-file-sha256": SHA_A, "dg-file-size": "100",
        "dg-ref-key": "r/reference.bin", "dg-ref-sha256": SHA_B, "dg-delta-size": "10"})
    assert delta.kind == ObjectKind.DELTA and delta.file_size == 100 and delta.ref_key == "r/reference.bin"
    assert delta.problems == []
    direct = fmt.parse_metadata("r/a.txt", {"dg-file-sha256": SHA_A, "dg-file-size": "5", "dg-compression": "none"})
    assert direct.kind == ObjectKind.DIRECT and direct.file_size == 5


def test_classify_legacy_and_proxy():
    legacy = fmt.parse_metadata("r/a.zip.delta", {"tool": "deltaglider/4.2", "file_sha256": SHA_A,
                                                  "file_size": "7", "ref_key": "r/reference.bin",
                                                  "ref_sha256": SHA_B, "delta_size": "3"})
    assert legacy.kind == ObjectKind.DELTA and legacy.ref_sha256 == SHA_B
    proxy = fmt.parse_metadata("r/s/a.zip.delta", {"dg-file-sha256": SHA_A, "dg-file-size": "7",
                                                   "dg-ref-path": "reference.bin", "dg-ref-sha256": SHA_B,
                                                   "dg-note": "delta"})
    assert proxy.kind == ObjectKind.DELTA and proxy.ref_key == "r/s/reference.bin"
    passthrough = fmt.parse_metadata("r/a.bin", {"dg-file-sha256": SHA_A, "dg-file-size": "7",
                                                 "dg-note": "passthrough"})
    assert passthrough.kind == ObjectKind.DIRECT
    legacy_direct = fmt.parse_metadata("r/a.txt", {"file_sha256": SHA_A, "compression": "none"})
    assert legacy_direct.kind == ObjectKind.DIRECT


def test_plain_object_and_garbage_metadata():
    assert fmt.parse_metadata("a.txt", {}).kind == ObjectKind.PLAIN
    assert fmt.parse_metadata("a.txt", {"user-thing": "x"}).kind == ObjectKind.PLAIN
    bad = fmt.parse_metadata("r/a.zip.delta", {"dg-file-sha256": "nothex", "dg-file-size": "-3",
                                               "dg-ref-key": "r/reference.bin", "dg-ref-sha256": "zz",
                                               "dg-tool": "\x1b[31mevil"})
    assert bad.kind == ObjectKind.DELTA
    assert bad.file_sha256 is None and bad.file_size is None
    assert "file sha256 is not a sha256" in bad.problem and "negative" in bad.problem
    no_meta_delta = fmt.parse_metadata("r/a.zip.delta", {})
    assert no_meta_delta.problems


def test_written_metadata_uses_6x_keys():
    md = fmt.delta_metadata(version="0.1.0", original_name="a.zip", file_sha256=SHA_A, file_size=9,
                            ref_key="r/reference.bin", ref_sha256=SHA_B, delta_size=3, zero_diff=True)
    assert md["dg-created-at"].endswith("Z") and md["dg-note"].startswith("zero-diff")
    assert set(md) >= {"dg-tool", "dg-original-name", "dg-file-sha256", "dg-file-size", "dg-ref-key",
                       "dg-ref-sha256", "dg-delta-size", "dg-delta-cmd"}
    direct = fmt.direct_metadata(version="0.1.0", original_name="é.txt", file_sha256=SHA_A, file_size=1)
    assert not direct["dg-created-at"].endswith("Z") and direct["dg-compression"] == "none"
    # A name that is not header-safe is left out: deltaglider_proxy would read the object from that name.
    assert "dg-original-name" not in direct and direct["dg-note"] == "passthrough"
    assert fmt.direct_metadata(version="0.1.0", original_name="a.txt", file_sha256=SHA_A,
                               file_size=1)["dg-original-name"] == "a.txt"


@pytest.mark.parametrize("key", ["p/../etc/passwd", "p//x", "p/./x", "p/a\\b", "p/\x1b[31m", "p/a\nb", "p/" + "x" * 300])
def test_unsafe_restore_paths_are_refused(key):
    rel, problem = safe_relative_path(key, "p/")
    assert rel is None and problem


def test_safe_restore_path():
    rel, problem = safe_relative_path("p/sub/ファイル [red].zip", "p/")
    assert problem is None and str(rel) == "sub/ファイル [red].zip"
    assert safe_relative_path("/abs", "")[0] is None
    assert safe_relative_path("C:/x", "")[0] is None


SHA = "ab" * 32


@pytest.mark.parametrize("metadata, kind", [
    # DeltaGlider 4.x/5.x: bare underscore names
    ({"tool": "deltaglider/5.1.0", "original_name": "notes.txt", "file_sha256": SHA, "file_size": "100",
      "created_at": "2024-05-01T10:00:00", "compression": "none"}, ObjectKind.DIRECT),
    # 6.x, and deltaglider_proxy's passthrough
    ({"dg-tool": "deltaglider/6.2.0", "dg-file-sha256": SHA, "dg-file-size": "100", "dg-compression": "none"},
     ObjectKind.DIRECT),
    ({"dg-tool": "deltaglider_proxy/1.19.0", "dg-file-sha256": SHA, "dg-file-size": "100", "dg-note": "passthrough"},
     ObjectKind.DIRECT),
    # another tool's object, with or without metadata of its own
    ({}, ObjectKind.PLAIN),
    ({"owner": "ops", "content-type": "text/plain"}, ObjectKind.PLAIN),
])
def test_metadata_of_objects_that_are_not_deltas_is_valid(metadata, kind):
    info = apply_metadata(ObjectInfo(key="docs/notes.txt", size=100, last_modified="", stored_key="docs/notes.txt"),
                          metadata)
    assert info.kind == kind and info.metadata_problem is None and not info.is_delta
    assert info.original_size == 100 and info.encryption is None


def test_metadata_of_an_encrypted_direct_object_gives_the_files_size():
    # The listed size is the ciphertext's (IV and tag around the file's 100 bytes).
    md = {"dg-tool": "deltaglider_proxy/1.19.0", "dg-file-sha256": SHA, "dg-file-size": "100",
          "dg-note": "passthrough", "user-dg-encrypted": "aes-256-gcm-v1"}
    info = apply_metadata(ObjectInfo(key="a.txt", size=128, last_modified="", stored_key="a.txt"), md)
    assert info.encryption == "aes-256-gcm-v1" and info.metadata_problem is None and info.original_size == 100
    # The same difference without encryption is a problem: the body is supposed to be the file.
    del md["user-dg-encrypted"]
    info = apply_metadata(ObjectInfo(key="a.txt", size=128, last_modified="", stored_key="a.txt"), md)
    assert "differs from the stored size" in (info.metadata_problem or "")
