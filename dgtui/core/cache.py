"""On-disk caches shared by every dgtui process of a user.

* ``ReferenceCache``: reference files, content-addressed by sha256, so the
  second restore from a deltaspace downloads only its delta. Entries are
  written to a temporary name and renamed into place (atomic, so two
  processes can fill the cache at once), checked against their name on use,
  and evicted least-recently-used beyond a size bound.
  Each entry also remembers which bucket object it came from (ETag, size,
  modification time), so a copy is used only while that object is still
  the one on the server: the bucket is the truth, the cache a speed-up.
* ``MetadataCache``: object metadata keyed by endpoint, bucket and stored key,
  checked against the ETag and modification date the listing reports. Any
  rewrite changes the date (a copy onto itself keeps the ETag of the bytes but
  not the date), so an entry found under both is still true.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import queue
import shutil
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from . import tempfiles

DEFAULT_REFERENCE_CACHE_BYTES = 4 * 1024**3
#: temporary files and work folders untouched this long were left by a process that died
STALE_SECONDS = 6 * 3600
HASH_CHUNK = 1024 * 1024


#: the caches hold bucket names, keys, metadata and reference files: for this user only, whatever the umask
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def cache_root() -> Path:
    override = os.environ.get("DGTUI_CACHE_DIR")
    root = Path(override) if override else Path(platformdirs.user_cache_dir("dgtui"))
    private_dir(root)
    return root


def private_dir(folder: Path) -> Path:
    """``folder`` created if missing and made 0700 (an existing one with looser modes is tightened)."""
    folder.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    _tighten(folder, PRIVATE_DIR_MODE)
    return folder


def private_file(path: Path) -> Path:
    """``path`` created empty if missing, and made 0600 (so SQLite creates its -wal and -shm files so too)."""
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_FILE_MODE))
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        _tighten(name, PRIVATE_FILE_MODE)
    return path


def _tighten(path: Path, mode: int) -> None:
    try:
        if path.is_symlink():
            return  # a link's own mode means nothing; its target is not ours to change
        if os.stat(path).st_mode & 0o777 != mode:
            os.chmod(path, mode)
    except OSError:
        pass  # missing, or not ours to change: the cache still works


def sha256_file(path: str | Path, progress=None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(HASH_CHUNK)
        view = memoryview(buf)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            digest.update(view[:n])
            if progress:
                progress(n)
    return digest.hexdigest()


class SourceChanged(OSError):
    """A file did not hash to the sha256 it was said to have when it was copied."""


def fsync_dir(folder: Path) -> None:
    """Make a rename or link in ``folder`` durable; file systems that cannot are skipped."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sweep_work_dir(work_dir: Path, max_age: float = STALE_SECONDS) -> None:
    """Remove what crashed processes left in the work folder: entries with nothing touched for ``max_age``."""
    now = time.time()
    try:
        entries = list(work_dir.iterdir())
    except OSError:
        return
    for entry in entries:
        try:
            newest = entry.lstat().st_mtime
            if entry.is_dir() and not entry.is_symlink():
                for sub in entry.rglob("*"):
                    newest = max(newest, sub.lstat().st_mtime)
            if now - newest <= max_age:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink()
        except OSError:
            continue


#: 1 MiB chunks waiting for the MD5 thread at most
_MD5_AHEAD = 8


def _drain_into(pending: queue.Queue[bytes | None], digest) -> None:
    while (chunk := pending.get()) is not None:
        digest.update(chunk)


def write_all(dst, data: bytes | memoryview) -> None:
    """Write all of ``data`` to an unbuffered file: a raw write may take part of it (a nearly full disk
    takes what fits, and only the next write says ENOSPC)."""
    view = memoryview(data)
    while view:
        written = dst.write(view)
        if not written:  # no progress and no error: say it as the disk being full rather than loop
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def _unlink_temp(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
    tempfiles.release(path)


@dataclass
class CopiedFile:
    """A cache temp file (``path``) holding ``size`` bytes whose sha256 and MD5 are these."""

    path: Path
    sha256: str
    md5: str
    size: int

    def discard(self) -> None:
        _unlink_temp(self.path)


class ReferenceCache:
    def __init__(self, root: Path | None = None, max_bytes: int | None = None):
        self.dir = private_dir((root or cache_root()) / "references")
        env_limit = os.environ.get("DGTUI_REFERENCE_CACHE_BYTES")
        self.max_bytes = max_bytes or (int(env_limit) if env_limit else DEFAULT_REFERENCE_CACHE_BYTES)
        self._verified: dict[str, tuple[int, int, int]] = {}
        self._origins_path = self.dir.parent / "reference-origins.sqlite3"
        self._local = threading.local()

    # -- where entries came from ------------------------------------------------
    def _origins(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(private_file(self._origins_path), timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE IF NOT EXISTS origins (endpoint TEXT, bucket TEXT, key TEXT, sha256 TEXT,"
                         " version TEXT, PRIMARY KEY (endpoint, bucket, key))")
            self._local.conn = conn
        return conn

    def record_origin(self, endpoint: str, bucket: str, key: str, sha256: str, version: str) -> None:
        """The bucket object ``key`` (at ``version``: ETag, size, date) has the bytes cached as ``sha256``."""
        self._origins().execute("INSERT OR REPLACE INTO origins VALUES (?,?,?,?,?)",
                                (endpoint, bucket, key, sha256, version))

    def same_origin(self, endpoint: str, bucket: str, key: str, sha256: str, version: str) -> bool:
        """True when the cached ``sha256`` was taken from exactly this version of the bucket object."""
        row = self._origins().execute("SELECT sha256, version FROM origins WHERE endpoint=? AND bucket=? AND key=?",
                                      (endpoint, bucket, key)).fetchone()
        return row is not None and row[0] == sha256 and row[1] == version

    def origin_sha256(self, endpoint: str, bucket: str, key: str, version: str) -> str | None:
        """The sha256 of the cached copy taken from exactly this version of the bucket object, if any."""
        row = self._origins().execute("SELECT sha256, version FROM origins WHERE endpoint=? AND bucket=? AND key=?",
                                      (endpoint, bucket, key)).fetchone()
        return row[0] if row is not None and row[1] == version else None

    def holds_copy_of(self, endpoint: str, bucket: str, key: str, etag: str, size: int) -> bool:
        """Whether a copy of the bucket object ``key`` with this ETag and size is cached (not re-hashed: for
        estimates of what a restore downloads, not for restoring)."""
        row = self._origins().execute("SELECT sha256, version FROM origins WHERE endpoint=? AND bucket=? AND key=?",
                                      (endpoint, bucket, key)).fetchone()
        return row is not None and str(row[1]).startswith(f"{etag}|{size}|") and self.path_for(row[0]).exists()

    def path_for(self, sha256: str) -> Path:
        return self.dir / sha256

    def get(self, sha256: str, *, checked: bool = True) -> Path | None:
        """The cached reference with this sha256, checked; None when absent or damaged.

        The first use in a process hashes the file; later uses in the same
        process re-hash only if the file's inode, size or mtime changed
        since (entries are replaced by rename, never rewritten in place).

        ``checked=False`` skips the hashing, for a caller that checks what it
        makes from the entry against a sha256 of its own (a restore checks the
        rebuilt file), so a damaged entry can only fail that check, never pass
        it; such a caller hashes the entry with ``get`` when its check fails,
        which drops a damaged entry.
        """
        path = self.path_for(sha256)
        if not checked:
            try:
                os.utime(path)  # recency for eviction
            except FileNotFoundError:
                return None
            return path
        try:
            st = path.stat()
            if self._verified.get(sha256) != (st.st_ino, st.st_size, st.st_mtime_ns):
                if sha256_file(path) != sha256:
                    # A damaged entry is dropped, never used.
                    path.unlink(missing_ok=True)
                    self._verified.pop(sha256, None)
                    return None
            os.utime(path)  # recency for eviction
            st = path.stat()
            self._verified[sha256] = (st.st_ino, st.st_size, st.st_mtime_ns)
        except FileNotFoundError:
            return None  # absent, or evicted by another process meanwhile
        return path

    def verify(self, sha256: str) -> bool:
        """Hash the entry ``sha256`` now, as ``get`` does (not again in this process while it is unchanged);
        False when it is absent or damaged (a damaged one is dropped)."""
        return self.get(sha256) is not None

    def new_temp_path(self) -> Path:
        """A new ``.incoming-*`` file, locked by this process until ``tempfiles.release``."""
        return tempfiles.create(self.dir, ".incoming-", mode=0o600)

    def adopt(self, temp_path: Path, sha256: str) -> Path:
        """Move a checked file into the cache under its sha256 (a rename: readers see all of it or nothing).

        Not flushed to disk (no fsync): a crash may leave an entry whose bytes are not its name's, and
        every user of an entry finds that out. A restore checks what it rebuilds against the stored
        sha256 and hashes the entry when that fails (dropping a damaged one), an upload hashes the entry
        (``get``) before it encodes against it, a rescue hashes it first. Flushing a multi-gigabyte
        reference would cost the restore or upload that fetched it the time of writing it all to disk.
        """
        final = self.path_for(sha256)
        os.replace(temp_path, final)
        self.evict(keep=final)
        return final

    def put_copy(self, source: Path, sha256: str) -> Path:
        """Copy a file we already checked (e.g. a reference we just uploaded).

        An entry already under that name is used only if it still hashes to
        it; a damaged one is replaced.
        """
        existing = self.get(sha256)
        if existing is not None:
            return existing
        tmp = self.new_temp_path()
        try:
            digest = hashlib.sha256()
            with open(source, "rb") as src, open(tmp, "wb") as dst:
                while chunk := src.read(HASH_CHUNK):
                    digest.update(chunk)
                    dst.write(chunk)
            if digest.hexdigest() != sha256:
                raise SourceChanged(f"{source} changed while it was copied into the reference cache")
            return self.adopt(tmp, sha256)
        finally:
            tmp.unlink(missing_ok=True)
            tempfiles.release(tmp)

    def copy_in(self, source: Path, *, size: int, progress=None) -> CopiedFile:
        """One read of ``source``: its sha256 and MD5, and a cache temp file holding exactly the bytes hashed.

        The MD5 is worked out on a thread of its own (the sha256 and the writes on this one), so both
        cores hash. ``size`` is what the file measured when the upload began: a file that reads to
        another length changed meanwhile (``SourceChanged``, nothing left behind). The caller adopts
        the temp file (``adopt``) or discards it (``CopiedFile.discard``).
        """
        tmp = self.new_temp_path()
        sha, md5 = hashlib.sha256(), hashlib.md5()
        pending: queue.Queue[bytes | None] = queue.Queue(maxsize=_MD5_AHEAD)
        md5_thread = threading.Thread(target=_drain_into, args=(pending, md5), name="dgtui-md5", daemon=True)
        md5_thread.start()
        total = 0
        try:
            try:
                with open(source, "rb", buffering=0) as src, open(tmp, "wb", buffering=0) as dst:
                    while chunk := src.read(HASH_CHUNK):
                        pending.put(chunk)
                        sha.update(chunk)
                        write_all(dst, chunk)
                        total += len(chunk)
                        if progress:
                            progress(len(chunk))
            finally:
                pending.put(None)
                md5_thread.join()
            if total != size:
                raise SourceChanged(f"{source} measured {size} bytes and read {total}")
        except BaseException:
            _unlink_temp(tmp)
            raise
        return CopiedFile(tmp, sha.hexdigest(), md5.hexdigest(), total)

    def sweep(self) -> None:
        """Remove ``.incoming-*`` files that a killed process left: those no live process holds locked."""
        tempfiles.sweep(self.dir, ".incoming-*")

    def evict(self, keep: Path | None = None) -> None:
        """Drop least-recently-used entries beyond the size bound.

        Files being written (``.incoming-*``) count toward the bound but are
        never dropped here; ``sweep`` removes those a crash left.
        """
        entries = []
        incoming = 0
        for entry in self.dir.iterdir():
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            if entry.name.startswith(".incoming-"):
                incoming += st.st_size
                continue
            entries.append((st.st_mtime, st.st_size, entry))
        total = incoming + sum(size for _, size, _ in entries)
        for _, size, entry in sorted(entries, key=lambda e: e[0]):
            if total <= self.max_bytes:
                break
            if keep is not None and entry == keep:
                continue
            entry.unlink(missing_ok=True)
            total -= size


class MetadataCache:
    """Object metadata by (endpoint, bucket, stored key), checked against "ETag@date", in SQLite.

    It also keeps where the pages of each prefix's last full listing broke,
    so the next listing of that prefix can fetch its pages in parallel.
    """

    def __init__(self, root: Path | None = None):
        self.path = (root or cache_root()) / "metadata.sqlite3"
        self._local = threading.local()
        with self._conn() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS meta (endpoint TEXT, bucket TEXT, key TEXT, etag TEXT,"
                " metadata TEXT, PRIMARY KEY (endpoint, bucket, key))"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS page_bounds (endpoint TEXT, bucket TEXT, prefix TEXT,"
                " bounds TEXT, PRIMARY KEY (endpoint, bucket, prefix))"
            )
            conn.execute(
                "CREATE TABLE IF NOT EXISTS stats_totals_v3 (endpoint TEXT, bucket TEXT, prefix TEXT,"
                " fingerprint TEXT, total INTEGER, invalid INTEGER, encrypted INTEGER,"
                " PRIMARY KEY (endpoint, bucket, prefix))"
            )
            # Earlier layouts were worked out from the deltas' metadata only: the first had no count of
            # encrypted objects, the second counted encrypted and invalid deltas but no other object.
            conn.execute("DROP TABLE IF EXISTS stats_totals")
            conn.execute("DROP TABLE IF EXISTS stats_totals_v2")

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(private_file(self.path), timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
        return conn

    def get_many(self, endpoint: str, bucket: str, items: list[tuple[str, str]]) -> dict[str, dict[str, str]]:
        """Metadata for the (key, version) pairs whose cached version ("ETag@date") still matches."""
        if not items:
            return {}
        wanted = dict(items)
        found: dict[str, dict[str, str]] = {}
        conn = self._conn()
        keys = list(wanted)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            marks = ",".join("?" * len(chunk))
            rows = conn.execute(
                f"SELECT key, etag, metadata FROM meta WHERE endpoint=? AND bucket=? AND key IN ({marks})",
                (endpoint, bucket, *chunk),
            )
            for key, etag, metadata in rows:
                if etag == wanted.get(key):
                    found[key] = json.loads(metadata)
        return found

    def put_many(self, endpoint: str, bucket: str, rows: list[tuple[str, str, dict[str, str]]]) -> None:
        if not rows:
            return
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            conn.executemany(
                "INSERT OR REPLACE INTO meta (endpoint, bucket, key, etag, metadata) VALUES (?,?,?,?,?)",
                [(endpoint, bucket, key, etag, json.dumps(md)) for key, etag, md in rows],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def get_bounds(self, endpoint: str, bucket: str, prefix: str) -> tuple[int, list[str]] | None:
        """(keys per page, last key of each page) of this prefix's last listing, if one was kept."""
        row = self._conn().execute("SELECT bounds FROM page_bounds WHERE endpoint=? AND bucket=? AND prefix=?",
                                   (endpoint, bucket, prefix)).fetchone()
        if row is None:
            return None
        try:
            kept = json.loads(row[0])
            page, bounds = int(kept["page"]), kept["bounds"]
        except (ValueError, TypeError, KeyError):
            return None
        if page < 1 or not isinstance(bounds, list) or not all(isinstance(b, str) for b in bounds):
            return None
        return page, bounds

    def put_bounds(self, endpoint: str, bucket: str, prefix: str, page: int, bounds: list[str] | None) -> None:
        conn = self._conn()
        if not bounds:
            conn.execute("DELETE FROM page_bounds WHERE endpoint=? AND bucket=? AND prefix=?",
                         (endpoint, bucket, prefix))
        else:
            conn.execute("INSERT OR REPLACE INTO page_bounds (endpoint, bucket, prefix, bounds) VALUES (?,?,?,?)",
                         (endpoint, bucket, prefix, json.dumps({"page": page, "bounds": bounds})))

    def has_totals(self, endpoint: str, bucket: str, prefix: str) -> bool:
        """Whether totals were worked out for any listing of this prefix (else no shortcut can apply)."""
        row = self._conn().execute(
            "SELECT 1 FROM stats_totals_v3 WHERE endpoint=? AND bucket=? AND prefix=? LIMIT 1",
            (endpoint, bucket, prefix)).fetchone()
        return row is not None

    def get_totals(self, endpoint: str, bucket: str, prefix: str, fingerprint: str) -> tuple[int, int, int] | None:
        """(original bytes, objects with invalid metadata, encrypted objects) worked out for exactly this listing."""
        row = self._conn().execute(
            "SELECT total, invalid, encrypted FROM stats_totals_v3"
            " WHERE endpoint=? AND bucket=? AND prefix=? AND fingerprint=?",
            (endpoint, bucket, prefix, fingerprint)).fetchone()
        return (int(row[0]), int(row[1]), int(row[2])) if row is not None else None

    def put_totals(self, endpoint: str, bucket: str, prefix: str, fingerprint: str, total: int, invalid: int,
                   encrypted: int) -> None:
        self._conn().execute(
            "INSERT OR REPLACE INTO stats_totals_v3 (endpoint, bucket, prefix, fingerprint, total, invalid, encrypted)"
            " VALUES (?,?,?,?,?,?,?)", (endpoint, bucket, prefix, fingerprint, total, invalid, encrypted))
