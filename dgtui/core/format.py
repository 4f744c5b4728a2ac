"""The DeltaGlider object format: key naming, metadata aliases, classification.

The rules are written down in docs/FORMAT.md (keys §2, the delta policy §3, fields
and aliases §4, classification §5, references §6, deltaglider_proxy §7, what
dgtui writes §8). Everything here is pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .models import ObjectKind

REFERENCE_NAME = "reference.bin"
DELTA_SUFFIX = ".delta"
INTERNAL_PREFIX = ".deltaglider/"
#: deltaglider_proxy's locks and leases in a coordination bucket: housekeeping, shown as such
PROXY_HOUSEKEEPING_PREFIX = "_dgp/"
TOOL_NAME = "dgtui"
#: deltaglider_proxy's own encryption schemes (``user-dg-encrypted``); only the proxy can read these bodies
PROXY_ENCRYPTION_SCHEMES = ("aes-256-gcm-v1", "aes-256-gcm-chunked-v1")
#: what a passthrough (direct) object's ``dg-note`` says; the proxy accepts ``direct`` as well
PASSTHROUGH_NOTES = ("passthrough", "direct")

# DeltaGlider 6.x policy: files with these endings are stored as deltas.
DELTA_COMPOUND_EXTENSIONS = (".tar.gz", ".tar.bz2", ".tar.xz")
DELTA_EXTENSIONS = frozenset(
    ".zip .tar .gz .tgz .bz2 .xz .7z .rar .dmg .iso .pkg .deb .rpm .apk .jar .war .ear".split()
)

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
#: sizes above this (1 PiB; an S3 object is at most 50 TB) are garbage, not files
MAX_SIZE = 2**50


def is_delta_eligible(name: str) -> bool:
    """True when DeltaGlider's extension policy stores ``name`` as a delta."""
    lower = name.lower()
    if lower.endswith(DELTA_COMPOUND_EXTENSIONS):
        return True
    dot = lower.rfind(".")
    return dot > lower.rfind("/") and lower[dot:] in DELTA_EXTENSIONS


def deltaspace_of(key: str) -> str:
    """The parent prefix of a key, without trailing slash ('' at the root)."""
    return key.rsplit("/", 1)[0] if "/" in key else ""


def reference_key_for(deltaspace: str) -> str:
    return f"{deltaspace}/{REFERENCE_NAME}" if deltaspace else REFERENCE_NAME


def delta_key_for(logical_key: str) -> str:
    return logical_key + DELTA_SUFFIX


def is_reference_key(key: str) -> bool:
    return key == REFERENCE_NAME or key.endswith("/" + REFERENCE_NAME)


def is_internal_key(key: str) -> bool:
    """Housekeeping keys that are never shown as user files."""
    return is_reference_key(key) or key.startswith(INTERNAL_PREFIX)


def is_housekeeping_key(key: str) -> bool:
    """deltaglider_proxy's coordination keys (``_dgp/locks/...``, ``_dgp/leases/...``): listed, never user files."""
    return key.startswith(PROXY_HOUSEKEEPING_PREFIX) or key == PROXY_HOUSEKEEPING_PREFIX.rstrip("/")


def logical_key_of(stored_key: str) -> str:
    return stored_key[: -len(DELTA_SUFFIX)] if stored_key.endswith(DELTA_SUFFIX) else stored_key


def refuse_reason_for_upload_key(key: str) -> str | None:
    """Why a logical key cannot be written, or None when it can."""
    if not key:
        return "the key is empty"
    if key.endswith("/"):
        return "the key ends in '/'; name a file"
    name = key.rsplit("/", 1)[-1]
    if name == REFERENCE_NAME:
        return f"'{REFERENCE_NAME}' is the name DeltaGlider uses for a deltaspace's reference"
    if key.endswith(DELTA_SUFFIX):
        return "keys ending in '.delta' are DeltaGlider's stored deltas"
    if key.startswith(INTERNAL_PREFIX) or key == INTERNAL_PREFIX.rstrip("/"):
        return "'.deltaglider/' holds DeltaGlider's housekeeping files"
    if is_housekeeping_key(key):
        return "'_dgp/' holds deltaglider_proxy's locks and leases"
    if len(key.encode("utf-8")) > 1024 - len(DELTA_SUFFIX):
        return "the key is longer than S3 allows (1024 bytes, including '.delta')"
    return None


# --- metadata -------------------------------------------------------------

#: fields and the order in which their aliases are looked up
FIELDS = (
    "tool", "source_name", "original_name", "file_sha256", "file_size", "created_at",
    "ref_key", "ref_sha256", "delta_size", "delta_cmd", "note", "compression",
)


def _aliases(field_name: str) -> tuple[str, ...]:
    dashed = field_name.replace("_", "-")
    return (f"dg-{dashed}", f"dg_{field_name}", field_name, dashed)


ALIASES: dict[str, tuple[str, ...]] = {f: _aliases(f) for f in FIELDS}
ALIASES["ref_path"] = ("dg-ref-path", "dg_ref_path", "ref_path", "ref-path")


def resolve(metadata: dict[str, str], field_name: str) -> str | None:
    """The first non-empty value of a field under any of its aliases."""
    for alias in ALIASES[field_name]:
        value = metadata.get(alias)
        if value not in (None, ""):
            return value
    return None


def normalise_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """S3 lowercases user metadata keys; some clients do not. Compare lowercase."""
    return {k.lower(): v for k, v in metadata.items()}


@dataclass(slots=True)
class ParsedMetadata:
    """What a stored object's metadata says, checked."""

    kind: ObjectKind
    file_sha256: str | None = None
    file_size: int | None = None
    ref_key: str | None = None
    ref_sha256: str | None = None
    delta_size: int | None = None
    tool: str | None = None
    created_at: str | None = None
    note: str | None = None
    original_name: str | None = None
    problems: list[str] = field(default_factory=list)
    #: a proxy replica whose sha256 (and MD5) were left empty: restores check the size only
    sha256_missing: bool = False
    #: deltaglider_proxy's own encryption scheme (see ``proxy_encryption``)
    encryption: str | None = None

    @property
    def problem(self) -> str | None:
        return "; ".join(self.problems) if self.problems else None


def _parse_size(value: str | None, what: str, problems: list[str]) -> int | None:
    if value is None:
        return None
    try:
        size = int(value.strip())
    except ValueError:
        problems.append(f"{what} is not a number")
        return None
    if size < 0:
        problems.append(f"{what} is negative")
        return None
    if size > MAX_SIZE:
        problems.append(f"{what} is out of range")
        return None
    return size


def _parse_sha(value: str | None, what: str, problems: list[str]) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not _SHA256_RE.match(value):
        problems.append(f"{what} is not a sha256")
        return None
    return value


def proxy_encryption(metadata: dict[str, str]) -> str | None:
    """The scheme of deltaglider_proxy's own encryption of an object's body, or None.

    The proxy stamps ``user-dg-encrypted`` (``aes-256-gcm-v1`` or
    ``aes-256-gcm-chunked-v1``) on what it encrypts with its own key: only the
    proxy can read those bytes. ``dg-encrypted-native`` (``sse-s3``,
    ``sse-kms``) means S3 itself encrypts, and reads return plain bytes: None.
    An unknown scheme under the same key is returned as well, since its body
    is not the file either.
    """
    for key, value in metadata.items():
        if key.lower() in ("user-dg-encrypted", "dg-encrypted") and value and value.strip():
            return value.strip()
    return None


def object_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """The object's own metadata, as deltaglider_proxy serves it to clients (names without ``user-``).

    The proxy stores a client's ``x-amz-meta-foo`` as ``user-foo``; its own
    ``user-dg-*`` markers are not the client's. Keys of other tools (neither
    DeltaGlider's fields nor the proxy's) are the object's own as they are.
    """
    own: dict[str, str] = {}
    for key, value in metadata.items():
        lower = key.lower()
        if lower.startswith("user-"):
            name = key[5:]
            if name and not name.lower().startswith("dg-"):
                own[name] = value
        elif lower != "content-type" and not _is_format_key(lower):
            own.setdefault(key, value)
    return own


def stored_content_type(metadata: dict[str, str]) -> str | None:
    """The client's Content-Type that deltaglider_proxy keeps as a ``content-type`` metadata key."""
    for key, value in metadata.items():
        if key.lower() == "content-type" and value.strip():
            return value.strip()
    return None


def served_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """``Metadata`` of a HEAD or GET as deltaglider_proxy answers it.

    DeltaGlider's fields stay; ``user-foo`` is served as ``foo`` (and the
    proxy's ``user-dg-*`` markers not at all); ``content-type`` is the
    response's Content-Type, not metadata.
    """
    served = {k: v for k, v in metadata.items()
              if k.lower() != "content-type" and not k.lower().startswith("user-")}
    for key, value in metadata.items():
        if key.lower().startswith("user-") and key[5:] and not key[5:].lower().startswith("dg-"):
            served[key[5:]] = value
    return served


_FORMAT_KEYS = frozenset(a for aliases in ALIASES.values() for a in aliases) | {
    "dg-md5", "dg-multipart-etag", "dg-encrypted-native", "dg-encrypted", "dg-encryption-key-id"}


def _is_format_key(lower_key: str) -> bool:
    return lower_key in _FORMAT_KEYS or lower_key.startswith(("dg-", "dg_"))


def _is_replica(md: dict[str, str], note: str, stored_key: str) -> bool:
    """A passthrough object of deltaglider_proxy with empty checksums (its replication and lifecycle copies)."""
    if stored_key.endswith(DELTA_SUFFIX) or is_reference_key(stored_key):
        return False
    # The empty sha256 is kept by some servers and dropped by others (SeaweedFS): the marks that
    # remain are the writer and the passthrough note.
    if resolve(md, "tool") is None:
        return False
    return note in PASSTHROUGH_NOTES or (resolve(md, "compression") or "").lower() == "none"


def parse_metadata(stored_key: str, metadata: dict[str, str]) -> ParsedMetadata:
    """Classify a stored object from its key and user metadata (docs/FORMAT.md §5, §6)."""
    md = normalise_metadata(metadata)
    problems: list[str] = []
    raw_sha = resolve(md, "file_sha256")
    note = resolve(md, "note")
    note_lower = (note or "").strip().lower()
    common: dict[str, Any] = dict(
        tool=resolve(md, "tool"),
        created_at=resolve(md, "created_at"),
        note=note,
        original_name=resolve(md, "original_name") or resolve(md, "source_name"),
        encryption=proxy_encryption(md),
    )
    if raw_sha is None:
        if _is_replica(md, note_lower, stored_key):
            # Copied by the proxy's replication or lifecycle jobs without checksums: the body is
            # the file; only its size (and a single-part ETag) can be checked.
            file_size = _parse_size(resolve(md, "file_size"), "file size", problems)
            return ParsedMetadata(ObjectKind.DIRECT, file_size=file_size, sha256_missing=True,
                                  problems=problems, **common)
        if stored_key.endswith(DELTA_SUFFIX):
            # A .delta without DeltaGlider metadata cannot be rebuilt; a size it names is still shown.
            problems.append("delta has no file sha256")
            size = _parse_size(resolve(md, "file_size"), "file size", problems)
            return ParsedMetadata(ObjectKind.DELTA, file_size=size, problems=problems, **common)
        return ParsedMetadata(ObjectKind.PLAIN, **common)

    file_sha = _parse_sha(raw_sha, "file sha256", problems)
    file_size = _parse_size(resolve(md, "file_size"), "file size", problems)
    compression = resolve(md, "compression")
    if (compression or "").lower() == "none" or note_lower in PASSTHROUGH_NOTES:
        return ParsedMetadata(ObjectKind.DIRECT, file_sha256=file_sha, file_size=file_size,
                              problems=problems, **common)

    ref_path = resolve(md, "ref_path")
    if ref_path is not None:
        # deltaglider_proxy's rule: the last segment of the path, in the delta's own folder.
        ref_key: str | None = reference_key_join(deltaspace_of(stored_key), ref_path.rsplit("/", 1)[-1])
    else:
        ref_key = resolve(md, "ref_key")
    if ref_key is None and not stored_key.endswith(DELTA_SUFFIX):
        if is_reference_key(stored_key):
            return ParsedMetadata(ObjectKind.PLAIN, file_sha256=file_sha, problems=problems, **common)
        # DeltaGlider metadata but neither direct nor delta markers: treat as
        # direct, since the body is the file itself and its sha256 is known.
        return ParsedMetadata(ObjectKind.DIRECT, file_sha256=file_sha, file_size=file_size,
                              problems=problems, **common)
    if ref_key is None:
        ref_key = reference_key_for(deltaspace_of(stored_key))
        problems.append("delta names no reference; assuming the deltaspace's reference.bin")
    ref_sha = _parse_sha(resolve(md, "ref_sha256"), "reference sha256", problems)
    if ref_sha is None and "reference sha256 is not a sha256" not in problems:
        problems.append("delta has no reference sha256")
    delta_size = _parse_size(resolve(md, "delta_size"), "delta size", problems)
    if file_size is None and not any(p.startswith("file size") for p in problems):
        problems.append("delta has no file size")
    return ParsedMetadata(ObjectKind.DELTA, file_sha256=file_sha, file_size=file_size,
                          ref_key=ref_key, ref_sha256=ref_sha, delta_size=delta_size,
                          problems=problems, **common)


def reference_key_join(deltaspace: str, ref_path: str) -> str:
    ref_path = ref_path.lstrip("/")
    return f"{deltaspace}/{ref_path}" if deltaspace else ref_path


def utc_now_iso(with_z: bool) -> str:
    """DeltaGlider's created-at: naive ISO-8601 UTC, 'Z' on references and deltas."""
    text = datetime.now(timezone.utc).replace(tzinfo=None).isoformat()
    return text + "Z" if with_z else text


def header_safe(value: str) -> str:
    """S3 metadata travels in HTTP headers, which carry ASCII only.

    File names are informational in the metadata (restores use the key), so a
    non-ASCII or control character is percent-encoded rather than refused.
    """
    if value.isascii() and value.isprintable():
        return value
    from urllib.parse import quote

    return quote(value, safe=" !#$&'()*+,-./:;=?@[]^_`{|}~")


#: where DeltaGlider keeps rehydrated copies with a ``dg-expires-at`` (its purge_temp_files deletes them)
TMP_PREFIX = ".deltaglider/tmp/"


def expiry_iso(seconds: int) -> str:
    """``dg-expires-at`` as DeltaGlider 6.2.0 writes and its purge reads it: naive ISO-8601 UTC."""
    return (datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(seconds=seconds)).isoformat()


def tool_string(version: str) -> str:
    return f"{TOOL_NAME}/{version}"


def reference_metadata(*, version: str, source_name: str, file_sha256: str, file_size: int | None = None,
                       md5: str | None = None) -> dict[str, str]:
    meta = {
        "dg-tool": tool_string(version),
        "dg-source-name": header_safe(source_name),
        "dg-file-sha256": file_sha256,
        "dg-created-at": utc_now_iso(True),
        "dg-note": "reference",
    }
    # deltaglider_proxy reads a reference's size and serves its MD5 as the ETag.
    if file_size is not None:
        meta["dg-file-size"] = str(file_size)
    if md5:
        meta["dg-md5"] = md5
    return meta


def delta_metadata(*, version: str, original_name: str, file_sha256: str, file_size: int,
                   ref_key: str, ref_sha256: str, delta_size: int, zero_diff: bool,
                   md5: str | None = None, level: int = 9) -> dict[str, str]:
    meta = {
        "dg-tool": tool_string(version),
        "dg-original-name": header_safe(original_name),
        "dg-file-sha256": file_sha256,
        "dg-file-size": str(file_size),
        "dg-created-at": utc_now_iso(True),
        # DeltaGlider 6.2.0 reads the full key; deltaglider_proxy reads the name in the delta's folder.
        "dg-ref-key": ref_key,
        "dg-ref-path": ref_key.rsplit("/", 1)[-1],
        "dg-ref-sha256": ref_sha256,
        "dg-delta-size": str(delta_size),
        "dg-delta-cmd": header_safe(f"xdelta3 -e -{level} -D -A -s reference.bin {original_name} "
                                    f"{original_name}.delta"),
        "dg-note": "zero-diff (reference identical)" if zero_diff else "delta",
    }
    if md5:
        meta["dg-md5"] = md5
    return meta


def direct_metadata(*, version: str, original_name: str, file_sha256: str, file_size: int,
                    md5: str | None = None) -> dict[str, str]:
    meta = {
        "dg-tool": tool_string(version),
        "dg-original-name": header_safe(original_name),
        "dg-file-sha256": file_sha256,
        "dg-file-size": str(file_size),
        "dg-created-at": utc_now_iso(False),
        "dg-compression": "none",
        # deltaglider_proxy tells passthrough from delta by the note (and ignores dg-compression).
        "dg-note": "passthrough",
    }
    if meta["dg-original-name"] != original_name:
        # deltaglider_proxy reads a passthrough object from the key its original name gives, so a
        # percent-encoded name would send it elsewhere; without the name it serves the key as it is.
        del meta["dg-original-name"]
    if md5:
        meta["dg-md5"] = md5
    return meta


def client_metadata(metadata: dict[str, str] | None, content_type: str | None = None) -> dict[str, str]:
    """A client's own metadata to store: under its own names, as boto3 would, and as deltaglider_proxy
    keeps it (``user-<name>``, and the Content-Type as a ``content-type`` key), so both serve it."""
    stored = dict(metadata or {})
    for key, value in (metadata or {}).items():
        stored[f"user-{key}"] = value
    if content_type:
        stored["content-type"] = content_type
    return stored


# --- which stored copy is the object ---------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StoredCopy:
    """What decides which of ``<name>`` and ``<name>.delta`` is the object (see ``current_copy``)."""

    stored_key: str
    #: ``dg-created-at``, as UTC; None when it is missing or no date
    created_at: datetime | None = None
    #: LastModified, in whole seconds: a HEAD answer has no more, so a listing compares the same
    modified: datetime | None = None

    @classmethod
    def of(cls, stored_key: str, metadata: dict[str, str] | None, modified: datetime | str | None) -> StoredCopy:
        return cls(stored_key, _utc(resolve(normalise_metadata(metadata or {}), "created_at")), _seconds(modified))


def current_copy(a: StoredCopy, b: StoredCopy) -> StoredCopy:
    """The one rule for which of two stored copies of a name (``<name>`` and ``<name>.delta``) is the object.

    The newer ``dg-created-at`` when both have one and they differ; else the
    newer LastModified (whole seconds); else (the same second) the delta.
    Listings, details, statistics, savings, audit, restore, verify and the
    SDK all ask this, so every one of them describes the same copy.
    """
    if a.created_at is not None and b.created_at is not None and a.created_at != b.created_at:
        return a if a.created_at > b.created_at else b
    if a.modified is not None and b.modified is not None and a.modified != b.modified:
        return a if a.modified > b.modified else b
    return a if a.stored_key.endswith(DELTA_SUFFIX) else b


def _utc(value: datetime | str | None) -> datetime | None:
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" and text else text)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _seconds(value: datetime | str | None) -> datetime | None:
    moment = _utc(value)
    return moment.replace(microsecond=0) if moment is not None else None
