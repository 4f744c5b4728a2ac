"""A delta rebuilt while its reference is still downloading (a restore with a cold cache).

xdelta3 reads a source it cannot seek (a pipe) front to back, holding its source window (64 MiB by
default) of what it read; a delta whose copies never reach further back than that decodes from a pipe
as from a file. The deltas DeltaGlider and dgtui write are such deltas (their encoders slide the same
window forwards). So the reference goes to xdelta3 through a pipe as its bytes arrive: from the
download's own file, in order, up to the bytes already hashed (those are written), spliced from the
page cache where the system allows it. A cold restore then takes about the download's time, not the
download's and the rebuild's one after the other.

Nothing here decides what is restored. The rebuilt file counts only when its sha256 is the stored one
and the download itself finished and checked out; a decode that fails (a copy from too far back, a
compressed reference, a wrong reference, a download that failed) is dropped, and the restore rebuilds
from the downloaded reference as it would have without this.
"""

from __future__ import annotations

import errno
import logging
import os
import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Callable

from . import codec, errors

log = logging.getLogger("dgtui.engine")

#: xdelta3's source window (``-B``) when it reads the reference from the pipe: how far back a copy may
#: reach. Its default, which is also DeltaGlider's encoding window; dgtui encodes a big reference with
#: half of it (``codec.BIG_SOURCE_WINDOW``). xdelta3 holds this much of the reference in memory.
SOURCE_WINDOW = codec.DEFAULT_SOURCE_WINDOW
#: bytes handed to the pipe at a time
_FEED_CHUNK = 4 * 1024 * 1024
#: the reference's first bytes, enough to tell a compressed one (``codec.compressed_format``)
_MAGIC_BYTES = 8


def available() -> bool:
    """xdelta3 can be given a pipe by name here (``/dev/fd``: Linux, the BSDs, macOS)."""
    return os.path.isdir("/dev/fd")


class EarlyDecode:
    """Rebuild ``delta`` into ``out`` from a reference being downloaded to a file.

    The download calls ``advanced(path, n)`` each time ``n`` more bytes, in order, are in ``path`` and
    ``ended(complete)`` when it stops; ``result()`` is then the rebuilt file's sha256, or None when it
    was not rebuilt (``out`` is left to be written again). ``stop()`` ends it early, for good.
    """

    def __init__(self, delta_ready: Future, delta: Path, out: Path, *, limit: int | None,
                 should_cancel: Callable[[], bool] | None):
        self._delta_ready = delta_ready
        self._delta = delta
        self._out = out
        self._limit = limit
        self._should_cancel = should_cancel
        self._lock = threading.Condition()
        self._source: int | None = None  # the download's file, open for reading
        self._frontier = 0  # bytes of it written and hashed, in order
        self._ended = False
        self._complete = False
        self._stopped = False
        self._result: str | None = None
        self._thread: threading.Thread | None = None

    # -- the download's side ------------------------------------------------
    def advanced(self, path: str, n: int) -> None:
        with self._lock:
            if self._stopped or self._ended:
                return
            if self._source is None:
                try:
                    self._source = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                except OSError:
                    self._stopped = True
                    return
                self._thread = threading.Thread(target=self._run, name="dgtui-early-decode", daemon=True)
                self._thread.start()
            self._frontier += n
            self._lock.notify_all()

    def ended(self, complete: bool) -> None:
        with self._lock:
            self._ended = True
            self._complete = complete
            self._lock.notify_all()

    # -- the restore's side -------------------------------------------------
    def result(self) -> str | None:
        """The rebuilt file's sha256, once the download has ended (``ended``); None when it was not rebuilt."""
        self._join()
        with self._lock:
            return self._result if self._complete else None

    def stop(self) -> None:
        """Stop for good (the restore failed or no longer needs it) and wait until xdelta3 has exited."""
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        self._join()

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            if self._source is not None:
                os.close(self._source)
                self._source = None

    def _cancelled(self) -> bool:
        with self._lock:
            if self._stopped or (self._ended and not self._complete):
                return True
        return bool(self._should_cancel and self._should_cancel())

    # -- the decode ---------------------------------------------------------
    def _run(self) -> None:
        try:
            self._delta_ready.result()
        except BaseException:  # noqa: BLE001 - the restore itself reports the delta's download failing
            return
        with self._lock:
            while self._frontier < _MAGIC_BYTES and not self._ended and not self._stopped:
                self._lock.wait()
            if self._stopped or self._source is None:
                return
            source = self._source
        if codec.compressed_format_of(os.pread(source, _MAGIC_BYTES, 0)):
            return  # a compressed reference may need -D: the rebuild after the download tries both
        reading, writing = os.pipe()
        codec.widen_pipe(writing)
        feeder = threading.Thread(target=self._feed, args=(source, writing), name="dgtui-early-feed", daemon=True)
        feeder.start()
        try:
            sha = codec.decode(reading, self._delta, self._out, self._cancelled, limit=self._limit,
                               source_window=SOURCE_WINDOW)
        except (errors.CodecError, errors.ExpansionError, errors.CancelledError) as exc:
            log.debug("the rebuild during the download did not finish (%s); rebuilding after it", exc)
            sha = None
        except errors.DgError as exc:  # the local disk, for one: the rebuild after the download says it
            log.debug("the rebuild during the download failed (%s); rebuilding after it", exc)
            sha = None
        finally:
            os.close(reading)  # xdelta3 has exited: the feeder's next write fails and it stops
            feeder.join()
        with self._lock:
            self._result = sha

    def _feed(self, source: int, pipe: int) -> None:
        """Hand the reference to the pipe as it is written, until all of it went or xdelta3 stopped reading."""
        fed = 0
        splice = getattr(os, "splice", None)
        try:
            while True:
                with self._lock:
                    while self._frontier == fed and not self._ended and not self._stopped:
                        self._lock.wait()
                    if self._stopped or (self._ended and not self._complete):
                        return
                    upto = self._frontier
                    if fed == upto:
                        return  # the whole reference went
                while fed < upto:
                    want = min(_FEED_CHUNK, upto - fed)
                    if splice is not None:
                        try:
                            n = splice(source, pipe, want, offset_src=fed)
                        except OSError as exc:
                            if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                                raise
                            splice = None  # a file system that does not splice: read and write instead
                            continue
                    else:
                        n = os.write(pipe, os.pread(source, want, fed))
                    if n <= 0:
                        return
                    fed += n
        except OSError:
            return  # xdelta3 stopped reading (EPIPE) or the file failed: the decode's outcome tells
        finally:
            os.close(pipe)
