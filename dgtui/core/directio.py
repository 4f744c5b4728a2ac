"""Writing a big file past the page cache (``O_DIRECT``), where the file system takes it.

A restore of a big archive writes hundreds of megabytes that nobody reads again soon. Through the page
cache every megabyte is first copied into freshly allocated cache pages, and on virtual machines that
copy is most of the restore: 500 MB took 0.9-1.2 s of system time to write (``cp``, ``dd bs=8M``) where
the same bytes written with ``O_DIRECT`` took 0.12 s of system time and 0.43 s in all, fsync included
(``bench/RESULTS.md``, "Big archives").

``O_DIRECT`` wants every write aligned: the buffer's address, the file offset and the length in
multiples of the device's logical block. Chunks therefore go through a page-aligned staging buffer
(``mmap`` memory is page-aligned) and leave it in whole ``STAGE`` blocks; the tail that is not a whole
block is written after ``O_DIRECT`` is switched off again (``fcntl``). A file system that refuses
``O_DIRECT`` (tmpfs, some network and FUSE file systems: ``EINVAL`` at open or at the first write)
gets the same bytes through the page cache, and the fallback is logged (``--debug``). Nothing here
changes what is written: callers hash the chunks they hand over and check that digest as before.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import mmap
import os
from pathlib import Path

log = logging.getLogger(__name__)

#: files at least this big are written direct (smaller ones are not worth a staging buffer)
DIRECT_MIN_BYTES = 64 * 1024 * 1024
#: the staging buffer; a multiple of every logical block size in use (512 B to 64 KiB)
STAGE = 4 * 1024 * 1024
#: errors that say "this file system does not do O_DIRECT", not "the disk failed"
_REFUSALS = (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP)


class DirectFile:
    """A file opened for writing, written with ``O_DIRECT`` while the file system takes it.

    ``write`` takes chunks of any size; ``close`` writes the tail and closes. ``direct`` says whether the
    bytes went past the page cache. Errors other than a refusal of ``O_DIRECT`` (a full disk) are raised
    as ``OSError`` from ``write`` or ``close``, as a plain file's would be.
    """

    def __init__(self, path: str | Path, *, direct: bool = True) -> None:
        self.path = str(path)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
        direct_flag = getattr(os, "O_DIRECT", 0)
        self.direct = bool(direct and direct_flag)
        self._fd = -1
        if self.direct:
            try:
                self._fd = os.open(self.path, flags | direct_flag, 0o666)
            except OSError as exc:
                if exc.errno not in _REFUSALS:
                    raise
                self._fall_back(exc)
        if self._fd < 0:
            self._fd = os.open(self.path, flags, 0o666)
        self._stage = mmap.mmap(-1, STAGE)
        self._view = memoryview(self._stage)
        self._filled = 0
        self.size = 0

    def _fall_back(self, why: OSError) -> None:
        self.direct = False
        log.debug("%s: the file system does not take O_DIRECT (%s); written through the page cache",
                  self.path, why.strerror or why)

    def _buffered(self) -> None:
        """Go on through the page cache (the staging buffer's bytes are written that way too)."""
        flags = fcntl.fcntl(self._fd, fcntl.F_GETFL)
        fcntl.fcntl(self._fd, fcntl.F_SETFL, flags & ~getattr(os, "O_DIRECT", 0))

    def _write_all(self, view: memoryview) -> None:
        while view:
            done = os.write(self._fd, view)
            view = view[done:]

    def _flush_stage(self) -> None:
        """Write the full staging buffer (an aligned whole block when direct)."""
        try:
            self._write_all(self._view[:self._filled])
        except OSError as exc:
            if not self.direct or exc.errno not in _REFUSALS or self.size > 0:
                raise
            # Refused at the first write (the open took the flag, the file system does not): nothing is
            # written yet, so the same bytes go through the page cache instead.
            self._fall_back(exc)
            self._buffered()
            self._write_all(self._view[:self._filled])
        self.size += self._filled
        self._filled = 0

    def write(self, chunk: bytes | bytearray | memoryview) -> int:
        data = memoryview(chunk).cast("B")
        total = len(data)
        while data:
            room = STAGE - self._filled
            take = min(room, len(data))
            self._view[self._filled:self._filled + take] = data[:take]
            self._filled += take
            data = data[take:]
            if self._filled == STAGE:
                self._flush_stage()
        return total

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        """Write what is staged (the tail through the page cache when direct) and close the file."""
        if self._fd < 0:
            return
        try:
            if self._filled:
                if self.direct:
                    self._buffered()  # the tail is not a whole block: O_DIRECT would refuse it
                self._write_all(self._view[:self._filled])
                self.size += self._filled
                self._filled = 0
        finally:
            os.close(self._fd)
            self._fd = -1
            try:
                self._view.release()
                self._stage.close()
            except BufferError:
                pass  # a failed write's traceback still holds a slice of the buffer: freed along with it

    def __enter__(self) -> "DirectFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
