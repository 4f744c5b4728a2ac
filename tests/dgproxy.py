"""Objects as deltaglider_proxy 1.19 writes them, and a reader that follows its read rules.

No proxy binary runs here, so tests build its objects with boto3 by the rules
in docs/FORMAT.md §7, "deltaglider_proxy 1.19" (read from the proxy's
``src/types.rs`` ``to_bare_metadata_map``, ``src/storage/s3.rs``
``headers_to_metadata``, ``src/storage/encrypting.rs`` and
``src/s3_adapter_s3s.rs``), and check what dgtui writes by reading it back
the way the proxy does.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TOOL = "deltaglider_proxy/1.19.0"
REFERENCE = "reference.bin"
BASE_TIME = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def created_at(offset_s: float = 0.0) -> str:
    """``dg-created-at`` in the proxy's format (``%Y-%m-%dT%H:%M:%S.%6fZ``)."""
    return (BASE_TIME + timedelta(seconds=offset_s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _folder(key: str) -> str:
    return key.rsplit("/", 1)[0] if "/" in key else ""


def _join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def _common(name: str, data: bytes, when: float, content_type: str | None,
            user: dict[str, str] | None) -> dict[str, str]:
    meta = {
        "dg-tool": TOOL, "dg-original-name": name, "dg-file-sha256": sha256(data),
        "dg-file-size": str(len(data)), "dg-md5": md5(data), "dg-created-at": created_at(when),
    }
    if content_type is not None:
        meta["content-type"] = content_type
    for k, v in (user or {}).items():
        meta[f"user-{k}"] = v
    return meta


def _encrypted_body(plain: bytes, scheme: str) -> bytes:
    """A body shaped like the proxy's ciphertext (nobody here can or should decrypt it)."""
    noise = hashlib.sha256(plain).digest()
    if scheme == "aes-256-gcm-chunked-v1":
        frames = b""
        for start in range(0, max(len(plain), 1), 64 * 1024):
            chunk = plain[start:start + 64 * 1024]
            frames += len(chunk).to_bytes(4, "little") + bytes(b ^ noise[i % 32] for i, b in enumerate(chunk))
            frames += noise[:16]
        return b"DGE1" + noise[:12] + frames
    return noise[:12] + bytes(b ^ noise[i % 32] for i, b in enumerate(plain)) + noise[16:32]


def _encrypt(meta: dict[str, str], body: bytes, plain: bytes, scheme: str | None) -> bytes:
    if scheme is None:
        return body
    meta["user-dg-encrypted"] = scheme
    meta["user-dg-encryption-key-id"] = "k-2026"
    return _encrypted_body(body, scheme)


def _put(s3: Any, bucket: str, key: str, body: bytes, meta: dict[str, str]) -> None:
    # The proxy sends its metadata with Content-Type application/octet-stream.
    s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=meta, ContentType="application/octet-stream")


def encode(ref: bytes, data: bytes) -> bytes:
    """A delta the way the proxy makes one: ``xdelta3 -e -D -s <reference>`` on a pipe."""
    with tempfile.TemporaryDirectory() as tmp:
        ref_path = Path(tmp) / REFERENCE
        ref_path.write_bytes(ref)
        return subprocess.run(["xdelta3", "-e", "-9", "-D", "-s", str(ref_path), "-c"], input=data,
                              capture_output=True, check=True).stdout


def put_reference(s3: Any, bucket: str, folder: str, data: bytes, *, source_key: str, when: float = 0,
                  encrypted: str | None = None) -> None:
    meta = _common("__reference__", data, when, None, None)
    meta.update({"dg-note": "reference", "dg-source-name": source_key})
    _put(s3, bucket, _join(folder, REFERENCE), _encrypt(meta, data, data, encrypted), meta)


def put_delta(s3: Any, bucket: str, key: str, data: bytes, ref: bytes, *, note: str = "delta", when: float = 0,
              ref_path: str = REFERENCE, encrypted: str | None = None, content_type: str | None = None,
              user: dict[str, str] | None = None) -> bytes:
    """``<key>.delta`` against the reference ``ref`` (which must be the folder's reference.bin)."""
    body = encode(ref, data)
    meta = _common(key.rsplit("/", 1)[-1], data, when, content_type, user)
    meta.update({"dg-note": note, "dg-ref-path": ref_path, "dg-ref-sha256": sha256(ref),
                 "dg-delta-size": str(len(body)),
                 "dg-delta-cmd": f"xdelta3 -e -D -s {REFERENCE} {key.rsplit('/', 1)[-1]}"})
    _put(s3, bucket, key + ".delta", _encrypt(meta, body, data, encrypted), meta)
    return body


def put_first(s3: Any, bucket: str, key: str, data: bytes, *, when: float = 0, encrypted: str | None = None) -> None:
    """The first upload into a folder: reference.bin, then a zero-diff delta of the file against itself."""
    put_reference(s3, bucket, _folder(key), data, source_key=key, when=when, encrypted=encrypted)
    put_delta(s3, bucket, key, data, data, note="zero-diff (reference identical)", when=when, encrypted=encrypted)


def put_passthrough(s3: Any, bucket: str, key: str, data: bytes, *, when: float = 0, note: str = "passthrough",
                    content_type: str | None = None, user: dict[str, str] | None = None,
                    encrypted: str | None = None, replica: bool = False, native: str | None = None) -> None:
    """A passthrough object. ``replica``: copied by the proxy's replication or lifecycle jobs, with empty
    ``dg-file-sha256`` and ``dg-md5``. ``native``: S3 encrypts it (``dg-encrypted-native``)."""
    meta = _common(key.rsplit("/", 1)[-1], data, when, content_type, user)
    meta["dg-note"] = note
    if replica:
        meta["dg-file-sha256"] = ""
        meta["dg-md5"] = ""
    if native:
        meta["dg-encrypted-native"] = native
    _put(s3, bucket, key, _encrypt(meta, data, data, encrypted), meta)


# -- reading as the proxy does ---------------------------------------------------------


class ProxyReadError(Exception):
    pass


@dataclass
class Served:
    """What the proxy answers for a GET."""

    body: bytes
    kind: str  # "delta", "passthrough", "reference", "unmanaged"
    stored_key: str
    content_length: int
    etag: str
    content_type: str
    metadata: dict[str, str] = field(default_factory=dict)


def _get_value(md: dict[str, str], *keys: str) -> str | None:
    for k in keys:
        v = md.get(k)
        if v:
            return v
    return None


def parse(md: dict[str, str]) -> dict[str, Any] | None:
    """``headers_to_metadata``: None when the proxy would treat the object as unmanaged."""
    tool = _get_value(md, "dg-tool", "tool")
    name = _get_value(md, "dg-original-name", "original-name", "dg-source-name", "source-name")
    file_sha = _get_value(md, "dg-file-sha256", "file-sha256")
    if tool is None or name is None or file_sha is None:
        return None
    size = int(_get_value(md, "dg-file-size", "file-size") or "0")
    note = _get_value(md, "dg-note", "note")
    ref_path = _get_value(md, "dg-ref-path", "dg-ref-key", "ref-path", "ref-key")
    is_reference = note == "reference"
    is_delta = ref_path is not None or (note is not None and (note == "delta" or note.startswith("zero-diff")))
    parsed: dict[str, Any] = {"name": name, "file_sha256": file_sha, "file_size": size,
                              "md5": md.get("dg-md5", ""), "created_at": _get_value(md, "dg-created-at", "created-at"),
                              "content_type": _get_value(md, "content-type")}
    if is_reference:
        parsed["kind"] = "reference"
    elif is_delta:
        if ref_path is None:
            raise ProxyReadError("Missing dg-ref-path")
        ref_sha = _get_value(md, "dg-ref-sha256", "ref-sha256")
        if ref_sha is None:
            raise ProxyReadError("Missing dg-ref-sha256")
        parsed.update(kind="delta", ref_path=ref_path.rsplit("/", 1)[-1], ref_sha256=ref_sha)
    else:
        parsed["kind"] = "passthrough"
    return parsed


def _when(parsed: dict[str, Any], last_modified: datetime) -> datetime:
    raw = (parsed.get("created_at") or "").strip()
    try:
        return datetime.fromisoformat(raw).astimezone(UTC)
    except ValueError:
        return last_modified


def served_metadata(md: dict[str, str]) -> dict[str, str]:
    """``response_metadata_map``: dg-* fields, ``user-foo`` as ``foo`` (but never ``dg-*``), no content-type."""
    out = {k: v for k, v in md.items() if k != "content-type" and not k.startswith("user-")}
    out.update({k[5:]: v for k, v in md.items() if k.startswith("user-") and not k[5:].lower().startswith("dg-")})
    return out


def _head(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def _decode(ref: bytes, delta: bytes) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        ref_path = os.path.join(tmp, REFERENCE)
        Path(ref_path).write_bytes(ref)
        done = subprocess.run(["xdelta3", "-d", "-D", "-s", ref_path, "-c"], input=delta, capture_output=True,
                              check=False)
        if done.returncode != 0:
            raise ProxyReadError(f"xdelta3 decode failed: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout


def read(s3: Any, bucket: str, key: str) -> Served:
    """GET ``key`` as deltaglider_proxy 1.19 serves it; raises ProxyReadError where the proxy would fail."""
    found = []
    for stored in ([key] if key.endswith(".delta") else [key + ".delta", key]):
        head = _head(s3, bucket, stored)
        if head is not None:
            found.append((stored, head, parse(head.get("Metadata", {}))))
    if not found:
        raise ProxyReadError(f"NoSuchKey {key}")
    managed = [f for f in found if f[2] is not None]
    if not managed:
        stored, head, _ = found[0]
        body = s3.get_object(Bucket=bucket, Key=stored)["Body"].read()
        return Served(body, "unmanaged", stored, len(body), head["ETag"].strip('"'),
                      head.get("ContentType", "application/octet-stream"), head.get("Metadata", {}))
    stored, head, parsed = max(managed, key=lambda f: (_when(f[2], f[1]["LastModified"]), f[1]["LastModified"]))
    md = head.get("Metadata", {})
    if md.get("user-dg-encrypted"):
        raise ProxyReadError("encrypted by the proxy: needs its key")
    folder = _folder(stored)
    if parsed["kind"] == "delta":
        ref_key = _join(folder, parsed["ref_path"])
        ref_head = _head(s3, bucket, ref_key)
        if ref_head is None:
            raise ProxyReadError(f"reference {ref_key} missing")
        ref = s3.get_object(Bucket=bucket, Key=ref_key)["Body"].read()
        if sha256(ref) != parsed["ref_sha256"]:
            raise ProxyReadError("reference sha256 mismatch")
        body = _decode(ref, s3.get_object(Bucket=bucket, Key=stored)["Body"].read())
    elif parsed["kind"] == "passthrough":
        # The proxy reads a passthrough object from the key its original name gives.
        body = s3.get_object(Bucket=bucket, Key=_join(folder, parsed["name"]))["Body"].read()
    else:
        body = s3.get_object(Bucket=bucket, Key=stored)["Body"].read()
    if sha256(body) != parsed["file_sha256"]:
        raise ProxyReadError("sha256 mismatch")
    content_type = (parsed["content_type"] or "").strip() or "application/octet-stream"
    return Served(body, parsed["kind"], stored, parsed["file_size"], parsed["md5"], content_type,
                  served_metadata(md))
