"""This process's temporary files (``.dgtui-*.part`` beside a restore, ``.incoming-*`` in the reference
cache): each is locked while it lives, removed at once when the process is interrupted, and removed
by a later run once no process holds its lock (a run killed with SIGKILL cannot clean up).

The lock is ``flock`` on the file itself, taken before the file gets the name a sweep looks for: it
is created under a ``.pending`` name, locked, then renamed, so a sweep never sees it unlocked. The
lock goes with the process, whatever ends it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

#: a ``.pending`` name (created, not yet locked and renamed) older than this was left by a crash
PENDING_STALE_SECONDS = 3600.0
_PENDING = ".pending"
#: registrations kept before those of removed paths are forgotten
_PRUNE_AT = 1000

_lock = threading.Lock()
#: path -> the descriptor holding its lock (None: registered for removal only)
_live: dict[str, int | None] = {}
#: folders swept by this process already
_swept: set[str] = set()


def create(folder: Path, prefix: str, suffix: str = "", mode: int = 0o666) -> Path:
    """A new empty file ``folder/<prefix><random><suffix>``, locked by this process until ``release``.

    ``mode`` as ``open`` takes it (the umask applies): a restored file gets the mode any new file gets.

    When the folder cannot take it (it does not exist yet, it is read-only), the name is only
    registered: whoever writes it then reports the error as before.
    """
    name = f"{prefix}{uuid.uuid4().hex[:12]}{suffix}"
    path = folder / name
    pending = folder / f"{name}{_PENDING}"
    try:
        fd = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_CLOEXEC", 0), mode)
    except OSError:
        register(path)
        return path
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(pending, path)
    except OSError:
        os.close(fd)
        _unlink(pending)
        register(path)
        return path
    with _lock:
        _live[str(path)] = fd
    return path


def register(path: Path) -> None:
    """Remove ``path`` (a file or a folder) if the process is interrupted (before ``release``, or while it
    is still there: a temporary folder whose ``with`` block removes it need not be released)."""
    with _lock:
        _live.setdefault(str(path), None)
        if len(_live) > _PRUNE_AT:
            for name in [n for n, fd in _live.items() if fd is None and not os.path.lexists(n)]:
                del _live[name]


def release(path: Path) -> None:
    """``path`` is done with (removed, or renamed to its final name): drop its lock. Never raises."""
    with _lock:
        fd = _live.pop(str(path), None)
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass


def remove_all() -> None:
    """Remove every temporary file and folder of this process (on an interrupt: the process ends next)."""
    with _lock:
        paths = list(_live)
    for name in paths:
        path = Path(name)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            _unlink(path)


def sweep(folder: Path, pattern: str) -> int:
    """Remove the files matching ``pattern`` in ``folder`` that no live process holds; how many went.

    A file still locked belongs to a running process (another restore into the same folder) and
    stays. ``.pending`` names are removed only when old: one may be about to be locked.
    """
    removed = 0
    try:
        entries = list(folder.glob(pattern))
        pending = list(folder.glob(pattern + _PENDING))
    except OSError:
        return 0
    for entry in entries:
        if entry.name.endswith(_PENDING):
            continue
        try:
            fd = os.open(entry, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # held: a live process is writing it
        try:
            # Still the file we locked (not one renamed there since): then nobody can be using it.
            if os.path.samestat(os.fstat(fd), os.lstat(entry)):
                entry.unlink()
                removed += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    now = time.time()
    for entry in pending:
        try:
            if now - entry.lstat().st_mtime > PENDING_STALE_SECONDS:
                entry.unlink()
                removed += 1
        except OSError:
            continue
    return removed


def sweep_once(folder: Path, pattern: str) -> None:
    """``sweep``, the first time this process writes into ``folder``."""
    key = f"{folder}\0{pattern}"
    with _lock:
        if key in _swept:
            return
        _swept.add(key)
    sweep(folder, pattern)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
