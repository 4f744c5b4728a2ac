"""Object versions on logical keys, and restores of a chosen version.

With S3 versioning on, an overwritten or deleted file keeps its old versions.
A logical key ``name`` has the versions of both its stored forms (``name.delta``
and a plain ``name``) and their delete markers, merged newest first. A delta
version rebuilds only against the reference it was encoded against: that
reference is looked up among ``reference.bin``'s versions by the delta's
``dg-ref-sha256`` (stored metadata first, then the bytes are checked by sha256
as every restore checks them), never guessed.

A chosen version is restored by the usual restore path (``Engine.restore``)
over a view of the bucket in which the delta's stored key and its reference are
pinned to the chosen versions (``PinnedS3``), so the checks, the temp file
beside the target and the rename are the same as for current objects.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator
from xml.etree import ElementTree

from . import errors
from . import format as fmt
from .s3 import S3Access, where

#: versions asked for per listing request
PAGE_SIZE = 1000
#: HEADs sent at once when original sizes are asked for
HEAD_WORKERS = 8


@dataclass(slots=True)
class ObjectVersion:
    """One version of a logical key: a stored version of ``name`` or ``name.delta``, or a delete marker."""

    key: str
    stored_key: str
    version_id: str
    last_modified: datetime | None
    is_delete_marker: bool = False
    #: the newest entry of the logical key (over both stored forms)
    is_latest: bool = False
    #: S3's own flag for the stored key
    stored_is_latest: bool = False
    #: bytes stored (the delta's size for a delta); 0 for a delete marker
    size: int = 0
    etag: str = ""
    #: "delta", "whole" (the stored key is the name itself) or "delete-marker"
    stored_form: str = "whole"
    #: the file's size (dg-file-size), read with a HEAD only when asked for
    original_size: int | None = None
    #: the delta's dg-ref-sha256, when read
    ref_sha256: str | None = None
    #: the file's dg-file-sha256, when read (objects stored whole by other tools have none)
    file_sha256: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "stored_key": self.stored_key, "version_id": self.version_id,
                "last_modified": self.last_modified.isoformat() if self.last_modified else None,
                "is_delete_marker": self.is_delete_marker, "is_latest": self.is_latest,
                "stored_form": self.stored_form, "size": self.size, "original_size": self.original_size,
                "etag": self.etag}


def _stamp(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return None


#: the key under which the answer's own order of versions and delete markers is kept (botocore splits them)
ORDER_KEY = "DgtuiVersionOrder"


def _keep_answer_order(http_response: Any = None, parsed: Any = None, **_kw: Any) -> None:
    """After a ListObjectVersions call: note the (key, version id) order the server sent.

    botocore parses versions and delete markers into two lists, losing their order within a key; S3 lists
    each key's versions newest first, and dates alone cannot order them on servers that keep seconds only.
    """
    if not isinstance(parsed, dict) or http_response is None or getattr(http_response, "status_code", 0) != 200:
        return
    try:
        root = ElementTree.fromstring(http_response.content)
    except (ElementTree.ParseError, TypeError, ValueError):
        return
    order: list[tuple[str, str]] = []
    for child in root:
        tag = child.tag.rsplit("}", 1)[-1]
        if tag in ("Version", "DeleteMarker"):
            key = vid = ""
            for part in child:
                name = part.tag.rsplit("}", 1)[-1]
                if name == "Key":
                    key = part.text or ""
                elif name == "VersionId":
                    vid = part.text or ""
            order.append((key, vid))
    parsed[ORDER_KEY] = order


def _in_answer_order(page: dict[str, Any]) -> list[dict[str, Any]]:
    entries = [{**e, "DeleteMarker": False} for e in page.get("Versions", []) or []] + \
              [{**e, "DeleteMarker": True, "Size": 0} for e in page.get("DeleteMarkers", []) or []]
    # Each key's entries newest first by date; equal dates (servers that keep seconds only) in the order
    # the answer gave them, when it interleaves versions and markers (some servers list all markers last).
    low = datetime.min.replace(tzinfo=timezone.utc)
    position = {pair: n for n, pair in enumerate(page.get(ORDER_KEY) or [])}
    # S3's IsLatest settles a tie for the newest (moto lists every marker after every version).
    return sorted(entries, key=lambda e: (e.get("Key", ""), -(_stamp(e.get("LastModified")) or low).timestamp(),
                                          not e.get("IsLatest"),
                                          position.get((e.get("Key", ""), str(e.get("VersionId") or "")),
                                                       len(position))))


def iter_raw_versions(s3: S3Access, bucket: str, prefix: str, *, delimiter: str | None = None,
                      on_prefixes: Callable[[list[str]], None] | None = None) -> Iterator[dict[str, Any]]:
    """Every stored version and delete marker under ``prefix``, page by page, as S3 gives them.

    Each item is S3's own entry with ``DeleteMarker`` set for delete markers. With ``delimiter`` the
    folders below come as CommonPrefixes, handed to ``on_prefixes`` page by page.
    A server whose markers do not advance (the same KeyMarker/VersionIdMarker
    again, or a truncated page without them) stops the listing with
    ``ListingLoopError`` instead of looping for ever.
    """
    seen: set[tuple[str, str]] = set()
    params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": PAGE_SIZE}
    if delimiter:
        params["Delimiter"] = delimiter
    place = where(bucket, prefix or None)
    s3.client.meta.events.register("after-call.s3.ListObjectVersions", _keep_answer_order,
                                   unique_id="dgtui-version-order")
    while True:
        with s3.ctx(bucket, prefix or None, "list versions"):
            page = s3.client.list_object_versions(**params)
        if on_prefixes is not None:
            on_prefixes([str(p.get("Prefix") or "") for p in page.get("CommonPrefixes", []) or []])
        yield from _in_answer_order(page)
        if not page.get("IsTruncated"):
            return
        marker = (page.get("NextKeyMarker") or "", page.get("NextVersionIdMarker") or "")
        if not marker[0] or marker in seen:
            raise errors.ListingLoopError(
                f"the server's version listing of {place} does not advance (KeyMarker "
                f"{'missing' if not marker[0] else 'repeated'}); the listing stopped there (it would never end)",
                bucket=bucket)
        seen.add(marker)
        params["KeyMarker"], params["VersionIdMarker"] = marker
        if not marker[1]:
            params.pop("VersionIdMarker")


def _entry_version(entry: dict[str, Any], seq: int) -> tuple[ObjectVersion, int]:
    stored = entry.get("Key", "")
    marker = bool(entry.get("DeleteMarker"))
    version = ObjectVersion(
        key=fmt.logical_key_of(stored), stored_key=stored, version_id=str(entry.get("VersionId") or "null"),
        last_modified=_stamp(entry.get("LastModified")), is_delete_marker=marker,
        stored_is_latest=bool(entry.get("IsLatest")), size=int(entry.get("Size") or 0),
        etag=str(entry.get("ETag") or "").strip('"'),
        stored_form="delete-marker" if marker else "delta" if stored.endswith(fmt.DELTA_SUFFIX) else "whole")
    return version, seq


def _newest_first(items: list[tuple[ObjectVersion, int]]) -> list[ObjectVersion]:
    """The stored forms' versions merged newest first.

    Within one stored key S3's own order (newest first) stands, whatever the dates say. Between the two
    forms the later date goes first; on equal dates (servers that keep dates to the second) a delete marker
    goes before a file, since writers delete the other form after writing one, then the delta.
    """
    low = datetime.min.replace(tzinfo=timezone.utc)
    queues: dict[str, list[ObjectVersion]] = {}
    for version, _seq in sorted(items, key=lambda item: item[1]):
        queues.setdefault(version.stored_key, []).append(version)
    for stored, queue in queues.items():
        # Some writers (earlier dgtui builds among them) delete the other stored form of a key on every
        # upload, whether it is there or not: on a versioned bucket each such delete leaves a marker over
        # nothing. Only a marker over a file is news.
        queues[stored] = [v for n, v in enumerate(queue)
                          if not v.is_delete_marker or (n + 1 < len(queue) and not queue[n + 1].is_delete_marker)]
    queues = {stored: queue for stored, queue in queues.items() if queue}

    def rank(v: ObjectVersion) -> tuple[float, int, int]:
        return ((v.last_modified or low).timestamp(), 1 if v.is_delete_marker else 0,
                1 if v.stored_key.endswith(fmt.DELTA_SUFFIX) else 0)

    merged: list[ObjectVersion] = []
    heads = {stored: 0 for stored in queues}
    while heads:
        stored = max(heads, key=lambda k: rank(queues[k][heads[k]]))
        merged.append(queues[stored][heads[stored]])
        heads[stored] += 1
        if heads[stored] == len(queues[stored]):
            del heads[stored]
    # Writers delete the other stored form when they write one (a delete marker there, newer than the file):
    # the key is deleted only when no stored form's latest version is a file.
    live = [v for v in merged if v.stored_is_latest and not v.is_delete_marker]
    if live:
        live[0].is_latest = True
    elif merged:
        merged[0].is_latest = True
    return merged


def list_versions(s3: S3Access, bucket: str, key: str, *, original_sizes: bool = False) -> list[ObjectVersion]:
    """Versions of one logical key (``name`` and ``name.delta`` merged), newest first."""
    logical = fmt.logical_key_of(key)
    forms = {logical, fmt.delta_key_for(logical)}
    items = [_entry_version(e, n) for n, e in enumerate(iter_raw_versions(s3, bucket, logical))
             if e.get("Key") in forms]
    versions = _newest_first(items)
    if original_sizes:
        read_original_sizes(s3, bucket, versions)
    return versions


def list_versions_under(s3: S3Access, bucket: str, prefix: str, *,
                        original_sizes: bool = False) -> Iterator[tuple[str, list[ObjectVersion]]]:
    """(logical key, its versions newest first) for every logical key under ``prefix``, in key order.

    References and ``.deltaglider/`` are DeltaGlider's own and left out.
    """
    grouped: dict[str, list[tuple[ObjectVersion, int]]] = {}
    for n, entry in enumerate(iter_raw_versions(s3, bucket, prefix)):
        stored = entry.get("Key", "")
        if fmt.is_internal_key(stored):
            continue
        version, seq = _entry_version(entry, n)
        grouped.setdefault(version.key, []).append((version, seq))
    for logical in sorted(grouped):
        versions = _newest_first(grouped.pop(logical))
        if not versions:
            continue  # only markers over nothing
        if original_sizes:
            read_original_sizes(s3, bucket, versions)
        yield logical, versions


@dataclass
class DeletedInFolder:
    """What one folder's version listing (with a delimiter) shows beyond its current objects."""

    #: (logical key, its versions newest first) of the folder's own keys whose latest version is a delete
    #: marker and that keep a version to restore, in key order
    keys: list[tuple[str, list[ObjectVersion]]]
    #: the folders below that the version listing names (those with current objects among them)
    folders: list[str]


def deleted_in_folder(s3: S3Access, bucket: str, prefix: str, *,
                      should_cancel: Callable[[], bool] | None = None) -> DeletedInFolder:
    """The deleted keys directly in the folder ``prefix``, and the folders below it that have versions.

    One pass over the folder's version listing (with a "/" delimiter): a key with a current file in either
    stored form is dropped as soon as that shows, so what is held is the deleted keys' versions and the
    names of live keys, not every version of a large folder.
    """
    live: set[str] = set()
    pending: dict[str, list[tuple[ObjectVersion, int]]] = {}
    folders: set[str] = set()
    keep_housekeeping = fmt.is_housekeeping_key(prefix)

    def add_folders(names: list[str]) -> None:
        folders.update(name for name in names if name.startswith(prefix) and name != prefix)

    for n, entry in enumerate(iter_raw_versions(s3, bucket, prefix, delimiter="/", on_prefixes=add_folders)):
        if should_cancel is not None and n % PAGE_SIZE == 0 and should_cancel():
            raise errors.CancelledError()
        stored = str(entry.get("Key") or "")
        rest = stored[len(prefix):] if stored.startswith(prefix) else ""
        if not rest:
            continue  # the folder's own marker
        if "/" in rest:  # a server that ignores the delimiter: the key names a folder below
            folders.add(prefix + rest.split("/", 1)[0] + "/")
            continue
        if fmt.is_internal_key(stored) or (fmt.is_housekeeping_key(stored) and not keep_housekeeping):
            continue
        version, seq = _entry_version(entry, n)
        if version.key in live:
            continue
        if version.stored_is_latest and not version.is_delete_marker:
            live.add(version.key)
            pending.pop(version.key, None)
            continue
        pending.setdefault(version.key, []).append((version, seq))
    keys = []
    for logical in sorted(pending):
        versions = _newest_first(pending[logical])
        if versions and versions[0].is_delete_marker and any(not v.is_delete_marker for v in versions):
            keys.append((logical, versions))
    return DeletedInFolder(keys, sorted(f for f in folders if not fmt.is_internal_key(f)))


def head_version(s3: S3Access, bucket: str, stored_key: str, version_id: str) -> dict[str, Any]:
    with s3.ctx(bucket, stored_key, "HEAD"):
        return dict(s3.client.head_object(Bucket=bucket, Key=stored_key, VersionId=version_id))


def read_original_sizes(s3: S3Access, bucket: str, versions: list[ObjectVersion]) -> None:
    """Fill ``original_size`` (dg-file-size, else the stored size of a whole object) with a HEAD per version."""
    todo = [v for v in versions if not v.is_delete_marker]

    def fill(version: ObjectVersion) -> None:
        head = head_version(s3, bucket, version.stored_key, version.version_id)
        parsed = fmt.parse_metadata(version.stored_key, head.get("Metadata", {}) or {})
        version.ref_sha256 = parsed.ref_sha256
        version.file_sha256 = parsed.file_sha256
        if parsed.file_size is not None:
            version.original_size = parsed.file_size
        elif version.stored_form == "whole":
            version.original_size = version.size

    with ThreadPoolExecutor(max_workers=HEAD_WORKERS, thread_name_prefix="dgtui-versions") as pool:
        list(pool.map(fill, todo))


def find_version(s3: S3Access, bucket: str, key: str, version_id: str) -> ObjectVersion:
    """The version ``version_id`` of the logical key ``key`` (of either stored form)."""
    for version in list_versions(s3, bucket, key):
        if version.version_id == version_id:
            if version.is_delete_marker:
                raise errors.NotFoundError(
                    f"version {display_id(version_id)} of {where(bucket, version.key)} is a delete marker: it holds "
                    f"no file (restore an older version)", bucket=bucket, key=version.key)
            return version
    raise errors.NotFoundError(
        f"{where(bucket, fmt.logical_key_of(key))} has no version {display_id(version_id)} (see: dgtui versions "
        f"s3://{bucket}/{fmt.logical_key_of(key)})", bucket=bucket, key=fmt.logical_key_of(key))


def display_id(version_id: str) -> str:
    from .s3 import display_key

    return display_key(version_id, 80)


class ReferenceVersions:
    """The versions of one reference, the current one first, then the older ones newest first; each one's
    stored sha256 is read with a HEAD when first needed and remembered, so the deltas of a folder look up
    theirs with one listing."""

    def __init__(self, s3: S3Access, bucket: str, ref_key: str):
        self.s3, self.bucket, self.ref_key = s3, bucket, ref_key
        candidates = [e for e in iter_raw_versions(s3, bucket, ref_key)
                      if e.get("Key") == ref_key and not e.get("DeleteMarker")]
        low = datetime.min.replace(tzinfo=timezone.utc)
        candidates.sort(key=lambda e: (not e.get("IsLatest"), -(_stamp(e.get("LastModified")) or low).timestamp()))
        self.version_ids = [str(e.get("VersionId") or "null") for e in candidates]
        #: the current version's id (None when the reference is deleted)
        self.latest = self.version_ids[0] if candidates and candidates[0].get("IsLatest") else None
        self._sha256: dict[str, str | None] = {}

    def find(self, sha256: str) -> str | None:
        """The id of the first version (current, then newest older) whose stored sha256 is ``sha256``."""
        for version_id in self.version_ids:
            if version_id not in self._sha256:
                head = head_version(self.s3, self.bucket, self.ref_key, version_id)
                self._sha256[version_id] = fmt.parse_metadata(self.ref_key, head.get("Metadata", {}) or {}).file_sha256
            if self._sha256[version_id] == sha256:
                return version_id
        return None

    def looked_at(self) -> str:
        """What ``find`` read, in words: "2 version(s): id (sha256…), ..." or "no version is left"."""
        seen = [f"{display_id(v)} ({(self._sha256[v] or '')[:12] + '…' if self._sha256[v] else 'no sha256'})"
                for v in self.version_ids if v in self._sha256]
        if not seen:
            return "no version is left"
        return f"{len(seen)} version(s): {', '.join(seen[:5])}{', …' if len(seen) > 5 else ''}"


def find_reference_version(s3: S3Access, bucket: str, ref_key: str, ref_sha256: str) -> str:
    """The version id of ``ref_key`` whose stored sha256 is ``ref_sha256``: the current one when it still
    matches, else the newest older one. The bytes are checked by sha256 when the restore reads them.

    ``NotFoundError`` (naming what was looked at) when no version matches.
    """
    versions = ReferenceVersions(s3, bucket, ref_key)
    found = versions.find(ref_sha256)
    if found is not None:
        return found
    raise errors.NotFoundError(
        f"no version of the reference {where(bucket, ref_key)} has sha256 {ref_sha256[:12]}… (the delta's "
        f"dg-ref-sha256), so this delta version cannot be rebuilt; looked at {versions.looked_at()}",
        bucket=bucket, key=ref_key)


class _PinnedClient:
    """The botocore client, with reads of some keys pinned to one version."""

    def __init__(self, client: Any, pins: dict[str, str]):
        self._client = client
        self._pins = pins

    def _pinned(self, params: dict[str, Any]) -> dict[str, Any]:
        version_id = self._pins.get(params.get("Key", ""))
        return {**params, "VersionId": version_id} if version_id else params

    def get_object(self, **params: Any) -> Any:
        return self._client.get_object(**self._pinned(params))

    def head_object(self, **params: Any) -> Any:
        return self._client.head_object(**self._pinned(params))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class PinnedS3(S3Access):
    """``S3Access`` seeing some keys at one version, and others (the other stored form) as absent."""

    def __init__(self, inner: S3Access, pins: dict[str, str], hidden: frozenset[str] = frozenset()):
        # The same client settings and caches; only reads go through the pinning client.
        self.__dict__.update(inner.__dict__)
        self.client = _PinnedClient(inner.client, pins)
        self._hidden = hidden

    def head(self, bucket: str, key: str) -> dict[str, Any] | None:
        if key in self._hidden:
            return None
        return super().head(bucket, key)


def pinned_view(s3: S3Access, bucket: str, version: ObjectVersion, *,
                cached: Callable[[str], bool] | None = None) -> tuple[PinnedS3, str | None]:
    """The view of the bucket in which ``version`` is its logical key's object; (view, reference version id).

    For a delta, its reference is pinned to the version whose sha256 is the delta's ``dg-ref-sha256``.
    When no version matches and ``cached(sha256)`` says this machine holds that reference, the view shows
    the reference as missing, so the restore takes the cached copy and warns that it did, as it does for
    current objects; otherwise the lookup's ``NotFoundError`` stands.
    """
    other = fmt.delta_key_for(version.key) if version.stored_form == "whole" else version.key
    pins = {version.stored_key: version.version_id}
    ref_version = None
    if version.stored_form == "delta":
        head = head_version(s3, bucket, version.stored_key, version.version_id)
        parsed = fmt.parse_metadata(version.stored_key, head.get("Metadata", {}) or {})
        if parsed.ref_sha256 and parsed.ref_key:
            try:
                ref_version = find_reference_version(s3, bucket, parsed.ref_key, parsed.ref_sha256)
            except errors.NotFoundError:
                if cached is None or not cached(parsed.ref_sha256):
                    raise
                return PinnedS3(s3, pins, frozenset({other, parsed.ref_key})), None
            pins[parsed.ref_key] = ref_version
    return PinnedS3(s3, pins, frozenset({other})), ref_version


def state_at(versions: list[ObjectVersion], at: datetime | None, *,
             include_deleted: bool = False) -> ObjectVersion | None:
    """The version a logical key had at ``at`` (now when None), from its versions newest first.

    Each stored form stands as its newest entry not after ``at``; the key holds the newest of those that
    is a file. None when every form was deleted (or not yet written) then, unless ``include_deleted``:
    then the newest file version before the deletion.
    """
    pool = [v for v in versions if at is None or (v.last_modified is not None and v.last_modified <= at)]
    newest_of_form: dict[str, ObjectVersion] = {}
    for version in pool:
        newest_of_form.setdefault(version.stored_key, version)
    for version in pool:
        if newest_of_form[version.stored_key] is version and not version.is_delete_marker:
            return version
    if include_deleted:
        return next((v for v in pool if not v.is_delete_marker), None)
    return None


def versions_as_of(s3: S3Access, bucket: str, prefix: str, at: datetime | None, *,
                   include_deleted: bool = False) -> Iterator[ObjectVersion]:
    """For every logical key under ``prefix``, the version it had at ``at`` (see ``state_at``), in key order.

    Folder markers (empty keys ending in '/') and deltaglider_proxy's ``_dgp/`` keys are left out, as in
    folder restores.
    """
    for logical, versions in list_versions_under(s3, bucket, prefix):
        if logical.endswith("/") or (fmt.is_housekeeping_key(logical) and not fmt.is_housekeeping_key(prefix)):
            continue
        version = state_at(versions, at, include_deleted=include_deleted)
        if version is not None:
            yield version


def parse_point_in_time(text: str) -> datetime:
    """``--at``: an ISO-8601 time or date; local time unless it names its offset (``Z``, ``+02:00``).
    A date alone is the start of that day."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise errors.DgError(
            f"not a time: {text[:60]!r}; give an ISO time or date, e.g. 2026-11-30T12:00 (local time), "
            f"2026-11-30T12:00Z (UTC) or 2026-11-30") from None
    if when.tzinfo is None:
        when = when.astimezone()  # the machine's local time
    return when
