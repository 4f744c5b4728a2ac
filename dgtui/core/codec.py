"""xdelta3 as a subprocess: encode, decode, and reading a delta's header.

We encode with ``-D``: without it xdelta3 silently decompresses gzip, bzip2
and xz inputs and recompresses on decode, and the recompressed bytes differ
from the original (docs/FORMAT.md §9.4). Deltas made with ``-D`` carry no
external-compression marker, so DeltaGlider decodes them as usual.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import queue
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Protocol

from .directio import DIRECT_MIN_BYTES, DirectFile
from .errors import CancelledError, CodecError, ExpansionError, LocalWriteError, XdeltaMissingError

ShouldCancel = Callable[[], bool]

_xdelta3_path: str | None = None
_lock = threading.Lock()

# printhdr names the external compressor in lines like
# "XDELTA ext comp (output):     gzip".
_EXT_COMP_OUTPUT = "XDELTA ext comp (output):"


def xdelta3_path() -> str:
    """The xdelta3 binary, or XdeltaMissingError with the install command."""
    global _xdelta3_path
    with _lock:
        if _xdelta3_path and os.path.exists(_xdelta3_path):
            return _xdelta3_path
        found = os.environ.get("DGTUI_XDELTA3") or shutil.which("xdelta3")
        if not found or not os.path.exists(found):
            raise XdeltaMissingError()
        _xdelta3_path = found
        return found


def xdelta3_available() -> bool:
    try:
        xdelta3_path()
    except XdeltaMissingError:
        return False
    return True


#: every xdelta3 this process started: a process that ends at once (Ctrl-C, ``q``) ends them too
_started: weakref.WeakSet[subprocess.Popen] = weakref.WeakSet()
_started_lock = threading.RLock()  # re-entrant: ``stop_all`` may run in a signal handler on a thread inside ``_popen``
_ending = False


def _popen(cmd: list[str], **kwargs: object) -> subprocess.Popen:
    with _started_lock:
        if _ending:
            raise CancelledError()
        proc = subprocess.Popen(cmd, **kwargs)  # type: ignore[call-overload]
        _started.add(proc)
    return proc


def stop_all() -> None:
    """Kill every xdelta3 still running and start no more: the process is about to end without waiting
    for the threads that run them (one starting xdelta3 just then would leave it behind)."""
    global _ending
    locked = _started_lock.acquire(timeout=0.5)
    try:
        _ending = True
        for proc in list(_started):
            if proc.poll() is None:
                try:
                    proc.kill()
                except OSError:
                    pass
    finally:
        if locked:
            _started_lock.release()


def _run(args: list[str], what: str, should_cancel: ShouldCancel | None,
         on_poll: Callable[[], None] | None = None) -> subprocess.CompletedProcess:
    cmd = [xdelta3_path(), *args]
    try:
        proc = _popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        raise XdeltaMissingError() from exc
    if should_cancel is None and on_poll is None:
        out, err = proc.communicate()
    else:
        # Poll so a cancel takes effect while a long encode or decode runs.
        try:
            while True:
                try:
                    out, err = proc.communicate(timeout=0.1)
                    break
                except subprocess.TimeoutExpired:
                    if on_poll is not None:
                        on_poll()
                    if should_cancel is not None and should_cancel():
                        raise CancelledError() from None
        except BaseException:
            # Cancelled, or the callback failed: xdelta3 stops with us, it does not run on unseen.
            proc.kill()
            proc.communicate()
            raise
    if proc.returncode != 0:
        message = err.decode("utf-8", "replace").strip().splitlines()
        tail = message[-1] if message else f"exit code {proc.returncode}"
        reason = _local_write_failure(proc.returncode, tail)
        if reason:
            raise LocalWriteError(f"xdelta3 could not write its output: {reason}", reason=reason)
        raise CodecError(f"xdelta3 could not {what}: {tail}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


# xdelta3's words when writing its output fails ("write failed: <path>: No
# space left on device", "file open failed: write: <path>: <reason>").
_WRITE_FAILURES = ("write failed:", "file open failed: write:")


def _local_write_failure(returncode: int, tail: str) -> str | None:
    """The reason when xdelta3 failed because its output could not be written.

    Those failures are about the local disk (full, read-only, a file size
    limit), not about the delta, and must not be reported as a damaged one.
    """
    if returncode == -signal.SIGXFSZ:
        return os.strerror(errno.EFBIG)
    if any(marker in tail for marker in _WRITE_FAILURES):
        return tail.rsplit(": ", 1)[-1]
    return None


#: xdelta3's source window (``-B``) for a reference bigger than its default window (64 MiB): measured on
#: four archive families at 200 MB (bench/RESULTS.md, "source window"), 32 MiB keeps every delta within
#: 1.6% of the default's and the encoder's peak memory at about 115-130 MB instead of 175-195 MB
BIG_SOURCE_WINDOW = 32 * 1024 * 1024
#: xdelta3's own default source window: a reference up to this size is held whole, as before
DEFAULT_SOURCE_WINDOW = 64 * 1024 * 1024


def source_window_args(reference: str | Path) -> list[str]:
    """``-B`` for a big reference, nothing for one that fits xdelta3's default window.

    A reference that fits the default window is held whole, which matters most for small
    files (deltas of SQL dumps under 64 MiB grow 7-8% with a 32 MiB window). A bigger one
    never fits: xdelta3 slides its window along the source either way, and a smaller window
    bounds the memory an upload of a multi-gigabyte archive takes. Any decoder (DeltaGlider's
    included) reads such a delta: the window is the encoder's choice of where to look.
    """
    try:
        size = os.path.getsize(reference)
    except OSError:
        return []
    return ["-B", str(BIG_SOURCE_WINDOW)] if size > DEFAULT_SOURCE_WINDOW else []


def encode(reference: str | Path, target: str | Path, delta_out: str | Path,
           should_cancel: ShouldCancel | None = None, *, level: int | None = None) -> int:
    """Write the delta from ``reference`` to ``target``; returns its size.

    ``-A`` leaves out xdelta3's application header, which would otherwise
    store the local paths of the cached reference and of the file in every
    delta. Decoding never needs it: the source and output are always named.
    ``level`` is xdelta3's compression level; None means the one uploads use
    (the settings file's ``xdelta3_level``), so estimates match what is stored.
    """
    if level is None:
        from .config import encoder_level

        level = encoder_level()
    _run(["-e", "-f", f"-{level}", "-D", "-A", *source_window_args(reference), "-s", str(reference), str(target),
          str(delta_out)],
         "encode", should_cancel)
    return os.path.getsize(delta_out)


class _Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


class StreamCheck:
    """The delta decoded while the encoder writes it: DeltaGlider's decode (``xdelta3 -d -f -c -s reference``)
    reads the delta from a pipe as it comes, and what it rebuilds is hashed.

    After the encode, ``rebuilt`` is the sha256 of what the decode rebuilt (None when it failed or went past
    ``limit`` bytes) and ``delta_sha256`` the sha256 of the delta bytes written to the file: a caller that
    finds the file still hashing to it knows the delta it stores is the one that rebuilt ``rebuilt``.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.rebuilt: str | None = None
        self.delta_sha256: str | None = None


def encode_hashing(reference: str | Path, target: str | Path, delta_out: str | Path,
                   should_cancel: ShouldCancel | None = None, *, level: int | None = None,
                   hashers: tuple[_Hasher, ...] = (), check: StreamCheck | None = None,
                   give_up_above: float | None = None) -> int:
    """``encode`` reading ``target`` once: we read it and feed xdelta3 through a pipe, and every
    chunk fed also goes to ``hashers``; returns the delta's size.

    The hashes are of exactly the bytes the delta was made from, so a delta
    checked against them (``decode_sha256``) rebuilds what they name even if
    the file changes meanwhile. Reading and hashing run on one core while
    xdelta3 encodes on the other. ``level`` is xdelta3's compression level
    (the settings file's ``xdelta3_level`` when None); the delta restores with
    DeltaGlider 6.2.0 whatever the level, as its decoder reads every level.
    With ``check``, the delta is also decoded as it is written (``StreamCheck``),
    on the core the encoder leaves: no decode after the encode.
    With ``give_up_above`` (a fraction), the encode stops and ``DeltaTooLarge`` is raised as soon as the
    delta written so far is more than that fraction of the bytes fed (give or take xdelta3's window).
    """
    if level is None:
        from .config import encoder_level

        level = encoder_level()
    cmd = [xdelta3_path(), "-e", "-c", f"-{level}", "-D", "-A", *source_window_args(reference), "-s", str(reference)]
    if should_cancel is not None and should_cancel():
        raise CancelledError()  # not started at all: a short encode could finish before the first look
    source = open(target, "rb", buffering=0)  # fails here, before xdelta3 starts, when it cannot be read
    with source, open(delta_out, "wb") as out, tempfile.TemporaryFile() as err:
        try:
            proc = _popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE if check else out,
                          stderr=err)
        except FileNotFoundError as exc:
            raise XdeltaMissingError() from exc
        assert proc.stdin is not None  # stdin=PIPE
        pipe = proc.stdin
        widen_pipe(pipe.fileno())
        stop = threading.Event()
        failed: list[BaseException] = []
        try:
            checking = _DecodeBeside(reference, proc, out, check, failed) if check is not None else None
        except BaseException:
            proc.kill()
            proc.wait()
            raise

        # Read on this thread, hashed on threads of their own (one per hash, in order): xdelta3 gets each
        # chunk as soon as it is read, and the hashes take their time on whichever core is free.
        buffers = _Buffers(_READ_AHEAD)
        stages: list[_Stage] = []
        hand_on: Callable[[memoryview], None] = buffers.give_back
        for hasher in reversed(hashers):
            stages.insert(0, _Stage(hasher.update, hand_on, _READ_AHEAD, "dgtui-encode-hash"))
            hand_on = stages[0].put

        fed = 0

        def feed() -> None:
            nonlocal fed
            try:
                while not stop.is_set():
                    buf = buffers.take(stop.is_set)
                    n = source.readinto(buf)
                    if not n:
                        break
                    fed += n
                    chunk = memoryview(buf)[:n]
                    pipe.write(chunk)
                    hand_on(chunk)
            except BrokenPipeError:
                pass  # xdelta3 stopped reading: its exit status says why
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                failed.append(exc)
            finally:
                try:
                    pipe.close()
                except OSError:
                    pass
                for stage in stages:  # in order: each one's last chunk goes on to the next before it ends
                    try:
                        stage.finish()
                    except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                        failed.append(exc)

        feeder = threading.Thread(target=feed, name="dgtui-encode-feed", daemon=True)
        feeder.start()
        try:
            while True:
                try:
                    proc.wait(timeout=0.1)  # a little at a time, so a cancel takes effect during a long encode
                    break
                except subprocess.TimeoutExpired:
                    if should_cancel is not None and should_cancel():
                        raise CancelledError() from None
                    if give_up_above is not None:
                        written = checking.copied if checking is not None else os.fstat(out.fileno()).st_size
                        if written > fed * give_up_above + _GIVE_UP_SLACK:
                            raise DeltaTooLarge() from None
        except BaseException:
            stop.set()
            proc.kill()
            proc.wait()
            feeder.join()
            if checking is not None:
                checking.finish(abort=True)
            raise
        feeder.join()
        if checking is not None:
            checking.finish()
        if failed:
            proc.kill()
            raise failed[0]
        if proc.returncode != 0:
            err.seek(0)
            lines = err.read().decode("utf-8", "replace").strip().splitlines()
            tail = lines[-1] if lines else f"exit code {proc.returncode}"
            reason = _local_write_failure(proc.returncode, tail)
            if reason:
                raise LocalWriteError(f"xdelta3 could not write its output: {reason}", reason=reason)
            raise CodecError(f"xdelta3 could not encode: {tail}")
    return os.path.getsize(delta_out)


class DeltaTooLarge(Exception):
    """An encode given ``give_up_above`` stopped: its delta was growing past that share of the file."""


#: delta bytes allowed beyond ``give_up_above``'s share while an encode runs: xdelta3 writes a window's
#: instructions at once, so early on the delta runs ahead of its share of what was fed
_GIVE_UP_SLACK = 64 * 1024


class _DecodeBeside:
    """``StreamCheck``'s work: a thread copies the encoder's output to the delta file and into a decoder's
    stdin, another hashes what the decoder rebuilds. A decode that fails, or rebuilds more than the limit,
    only leaves ``rebuilt`` None: the delta still goes to its file, and the caller decides."""

    def __init__(self, reference: str | Path, encoder: subprocess.Popen, out: BinaryIO, check: StreamCheck,
                 failed: list[BaseException]):
        self._encoder, self._out, self._check, self._failed = encoder, out, check, failed
        self._decoder = _popen([xdelta3_path(), "-d", "-f", "-c", "-s", str(reference)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._delta_digest = hashlib.sha256()
        self._rebuilt: str | None = None
        self.copied = 0  #: delta bytes written to the file so far
        self._pump = threading.Thread(target=self._copy, name="dgtui-encode-out", daemon=True)
        self._reader = threading.Thread(target=self._hash, name="dgtui-encode-check", daemon=True)
        self._pump.start()
        self._reader.start()

    def _copy(self) -> None:
        assert self._encoder.stdout is not None and self._decoder.stdin is not None  # both PIPE
        source, sink = self._encoder.stdout.fileno(), self._decoder.stdin
        feeding = True
        try:
            while chunk := os.read(source, _CHUNK):
                try:
                    self._out.write(chunk)
                except OSError as exc:  # the local disk: said as xdelta3's own write failures are
                    reason = exc.strerror or str(exc)
                    self._failed.append(LocalWriteError(f"xdelta3 could not write its output: {reason}",
                                                        reason=reason))
                    self._encoder.kill()
                    break
                self._delta_digest.update(chunk)
                self.copied += len(chunk)
                if feeding:
                    try:
                        sink.write(chunk)
                    except OSError:  # the decoder stopped (failed, or was stopped past the limit)
                        feeding = False
        finally:
            try:
                sink.close()
            except OSError:
                pass

    def _hash(self) -> None:
        assert self._decoder.stdout is not None  # stdout=PIPE
        source = self._decoder.stdout.fileno()
        widen_pipe(source)
        digest = hashlib.sha256()
        total = 0
        within = True
        # Hashed on a thread of its own, as ``decode`` does: the decoder's pipe is drained as it fills.
        buffers = _Buffers(_CHECK_AHEAD + 1)
        hashing = _Stage(digest.update, buffers.give_back, _CHECK_AHEAD, "dgtui-encode-check-hash")
        try:
            while True:
                buffer = buffers.take(None)
                n = os.readv(source, [buffer])
                if not n:
                    buffers.give_back(memoryview(buffer))
                    break
                total += n
                if total > self._check.limit:
                    within = False
                    self._decoder.kill()
                    break
                hashing.put(memoryview(buffer)[:n])
        finally:
            hashing.finish(quiet=True)
        self._decoder.stdout.close()
        if self._decoder.wait() == 0 and within:
            self._rebuilt = digest.hexdigest()

    def finish(self, *, abort: bool = False) -> None:
        """Wait for both threads (``abort``: stop the decoder first); fill in the ``StreamCheck``."""
        if abort:
            self._decoder.kill()
        self._pump.join()
        self._reader.join()
        assert self._encoder.stdout is not None
        self._encoder.stdout.close()
        self._check.rebuilt = None if abort else self._rebuilt
        self._check.delta_sha256 = self._delta_digest.hexdigest()


def decode(reference: str | Path | int, delta: str | Path, out: str | Path,
           should_cancel: ShouldCancel | None = None, *, recompress: bool = True,
           decompress_source: bool = True, written: Callable[[int], None] | None = None,
           limit: int | None = None, source_window: int | None = None) -> str:
    """Rebuild a file from a reference and a delta; returns the sha256 of what was written.

    The defaults are DeltaGlider 6.2.0's decode (``xdelta3 -d -f -s``), so a
    delta that decodes here decodes there too; xdelta3 writes to a pipe
    (``-c``) and we write the file, so that no more than ``limit`` bytes are
    ever written: past it xdelta3 is stopped, ``out`` removed and
    ``ExpansionError`` raised ("the delta expands beyond its recorded size").
    ``limit`` is the recorded size of the file; None means the object
    records none, and the settings file's cap holds (``unsized_delta_limit``).
    ``recompress=False`` (``-R``) writes what xdelta3 stored for a delta made
    without ``-D``: the decompressed payload, checked by the delta's own
    window checksums. ``decompress_source=False`` (``-D``) is for deltas made
    with ``-D`` against a compressed reference by other writers. ``written``
    hears the output's size as it grows (for progress). ``reference`` may be the reading end of a pipe
    (a descriptor) that the reference comes through as it downloads: xdelta3 reads a source it cannot seek
    forwards, and fails a delta that copies from further back than its source window (``source_window``
    bytes, ``-B``; xdelta3's default when None).
    """
    digest = hashlib.sha256()
    try:
        # A big file goes past the page cache where the file system takes it (``directio``): on virtual
        # machines, filling the cache was most of a big restore's time.
        big = limit is not None and limit >= DIRECT_MIN_BYTES
        with _closing_as_local_write(DirectFile(out) if big else open(out, "wb")) as f:
            buffers = _Buffers(_READ_AHEAD + _WRITE_AHEAD + 2)
            writer = _Writer(f, buffers)
            hashing = _Stage(digest.update, writer.put, _READ_AHEAD, "dgtui-decode-hash")
            try:
                # Each chunk is read once, here, and handed on: hashed on one thread, then written on another
                # (which hands the buffer back). xdelta3 writes a whole window at a time and decodes the next
                # one meanwhile; with the hashing off this thread the pipe is drained as fast as xdelta3
                # fills it, so xdelta3 never waits for the hash and the hash works while xdelta3 decodes.
                _stream_decode(reference, delta, hashing.put, should_cancel, recompress=recompress,
                               decompress_source=decompress_source, limit=limit, written=written,
                               buffers=buffers, source_window=source_window)
            except BaseException:
                hashing.finish(quiet=True)
                writer.finish(quiet=True)  # the decode's own error is the one to tell
                raise
            try:
                hashing.finish()
            finally:
                writer.finish(quiet=hashing.failed)
    except BaseException:
        try:
            os.unlink(out)  # what was written is not the file: never leave it behind
        except OSError:
            pass
        raise
    return digest.hexdigest()


@contextmanager
def _closing_as_local_write(f: BinaryIO | DirectFile) -> Iterator[BinaryIO | DirectFile]:
    """``f``, closed at the end; a close that fails (a direct file writes its last block then, so a full
    disk may show only there) is the local disk's ``LocalWriteError``, as a failed write is."""
    try:
        yield f
    except BaseException:
        try:
            f.close()
        except OSError:
            pass  # the error on its way is the one to tell
        raise
    try:
        f.close()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise LocalWriteError(f"xdelta3 could not write its output: {reason}", reason=reason) from None


class _Stage:
    """A thread that runs ``work`` on each chunk ``put`` to it, in order, then hands the chunk to ``then``;
    at most ``depth`` chunks wait. The first error is raised by the next ``put`` or by ``finish``; after it
    chunks go straight to ``then`` (whose own error, if any, is the one kept) so that nothing waits for good
    and every buffer goes back."""

    def __init__(self, work: Callable[[memoryview], object], then: Callable[[memoryview], None], depth: int,
                 name: str):
        self._work, self._then = work, then
        self._queue: queue.Queue[memoryview | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def failed(self) -> bool:
        return self._error is not None

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._work(chunk)
                except BaseException as exc:  # noqa: BLE001 - raised on the caller's thread
                    self._error = exc
            try:
                self._then(chunk)
            except BaseException as exc:  # noqa: BLE001 - raised on the caller's thread
                if self._error is None:
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, chunk: memoryview) -> None:
        self._raise()
        self._queue.put(chunk)

    def finish(self, *, quiet: bool = False) -> None:
        """Wait until every chunk is through; raise the first error unless ``quiet``."""
        self._queue.put(None)
        self._thread.join()
        if not quiet:
            self._raise()


class _Writer(_Stage):
    """Writes chunks to a file from a thread of its own, so the disk's time overlaps xdelta3's and the
    hashing's; at most ``_WRITE_AHEAD`` chunks wait. A write error (a full disk, a file size limit) is
    raised as ``LocalWriteError`` by the next ``put`` or by ``finish``."""

    def __init__(self, f: BinaryIO | DirectFile, buffers: _Buffers):
        super().__init__(self._write, buffers.give_back, _WRITE_AHEAD, "dgtui-decode-write")
        self._f = f
        self._buffers = buffers

    def put(self, chunk: memoryview) -> None:
        if self.failed:
            self._buffers.give_back(chunk)  # not written, but its buffer may be waited for
        super().put(chunk)

    def _write(self, chunk: memoryview) -> None:
        try:
            self._f.write(chunk)
        except OSError as exc:  # the local disk, not the delta
            reason = exc.strerror or str(exc)
            raise LocalWriteError(f"xdelta3 could not write its output: {reason}", reason=reason) from None


#: chunks (of up to ``_CHUNK`` bytes) waiting for the writer thread at most
_WRITE_AHEAD = 8
#: chunks read from xdelta3 and waiting to be hashed at most: more than the 8 MiB window xdelta3 writes at once
_READ_AHEAD = 12
#: the same for a decode that is only hashed (a check beside an upload, whose memory counts most)
_CHECK_AHEAD = 4


class _Buffers:
    """Up to ``count`` buffers of ``_CHUNK`` bytes that xdelta3's output is read into, each used again once its
    chunk is written and hashed: no fresh memory (and its page faults) for every megabyte of a big file. A
    buffer is made when none is free and fewer than ``count`` exist: a small file, or a reader that keeps
    up, never pays for the others (each is zero-filled, page by page, when made)."""

    def __init__(self, count: int):
        self._free: queue.Queue[bytearray] = queue.Queue()
        self._unmade = count

    def take(self, should_cancel: ShouldCancel | None) -> bytearray:
        try:
            return self._free.get_nowait()
        except queue.Empty:
            pass
        if self._unmade > 0:  # only the thread that reads takes buffers
            self._unmade -= 1
            return bytearray(_CHUNK)
        while True:
            try:
                return self._free.get(timeout=0.1)
            except queue.Empty:
                if should_cancel is not None and should_cancel():
                    raise CancelledError() from None

    def give_back(self, chunk: memoryview) -> None:
        buffer = chunk.obj
        chunk.release()
        self._free.put(buffer)  # type: ignore[arg-type]  # a view of one of ours


def decode_sha256(reference: str | Path, delta: str | Path,
                  should_cancel: ShouldCancel | None = None, *, decompress_source: bool = True,
                  limit: int | None = None) -> str:
    """sha256 of what DeltaGlider's decode command rebuilds, read from a pipe.

    The same decode as ``decode``, with nothing written to disk only to be
    read back for hashing, and the same ``limit``.
    """
    digest = hashlib.sha256()
    buffers = _Buffers(_CHECK_AHEAD + 1)
    hashing = _Stage(digest.update, buffers.give_back, _CHECK_AHEAD, "dgtui-decode-hash")  # as in ``decode``
    try:
        _stream_decode(reference, delta, hashing.put, should_cancel, decompress_source=decompress_source,
                       limit=limit, buffers=buffers)
    except BaseException:
        hashing.finish(quiet=True)
        raise
    hashing.finish()
    return digest.hexdigest()


#: bytes read from xdelta3's output at a time
_CHUNK = 1024 * 1024


def widen_pipe(fd: int) -> None:
    """Let a pipe hold ``_CHUNK`` bytes (Linux), not 64 KiB: the other end then runs a whole
    chunk ahead, and each wake-up writes and hashes a large chunk instead of 16 small ones."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _CHUNK)
    except (AttributeError, OSError):
        pass  # another system, or above the user's limit (fs.pipe-max-size): the default size works too


def expansion_message(limit: int, recorded: bool) -> str:
    if recorded:
        return f"the delta expands beyond its recorded size ({limit} bytes)"
    from .config import UNSIZED_DELTA_LIMIT_KEY

    return (f"the delta expands beyond {limit} bytes, the limit for a delta that records no size "
            f"({UNSIZED_DELTA_LIMIT_KEY} in the settings file)")


def _stream_decode(reference: str | Path | int, delta: str | Path, sink: Callable[[memoryview], None],
                   should_cancel: ShouldCancel | None, *, buffers: _Buffers, recompress: bool = True,
                   decompress_source: bool = True, limit: int | None = None,
                   written: Callable[[int], None] | None = None, source_window: int | None = None) -> None:
    """Run xdelta3's decode to a pipe and hand its output to ``sink``, at most ``limit`` bytes of it.

    Each chunk is read into one of ``buffers`` and handed over as a view of it; ``sink`` (or whoever it
    passes the view on to) gives the buffer back when done with it."""
    recorded = limit is not None
    if limit is None:
        from .config import unsized_delta_limit

        limit = unsized_delta_limit()
    args = ["-d", "-f", "-c"]
    if not recompress:
        args.append("-R")
    if not decompress_source:
        args.append("-D")
    if source_window is not None:
        args += ["-B", str(source_window)]
    # A descriptor (a pipe) is handed to xdelta3 as itself, by the name every process has for it.
    passed = (reference,) if isinstance(reference, int) else ()
    source = f"/dev/fd/{reference}" if isinstance(reference, int) else str(reference)
    cmd = [xdelta3_path(), *args, "-s", source, str(delta)]
    with tempfile.TemporaryFile() as err:
        try:
            proc = _popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                          pass_fds=passed)
        except FileNotFoundError as exc:
            raise XdeltaMissingError() from exc
        assert proc.stdout is not None  # stdout=PIPE
        fd = proc.stdout.fileno()
        widen_pipe(fd)
        poller = select.poll()  # not select.select: a busy process may hold descriptors past FD_SETSIZE
        poller.register(fd, select.POLLIN)
        total = 0
        told = 0.0  # when ``written`` last heard: a few times a second is enough for progress
        try:
            while True:
                # Wait a little at a time, so a cancel takes effect while xdelta3 works on a large file.
                ready = poller.poll(100)
                if should_cancel is not None and should_cancel():
                    raise CancelledError()
                if not ready:
                    continue
                buffer = buffers.take(should_cancel)
                n = os.readv(fd, [buffer])
                if not n:
                    break
                total += n
                if total > limit:
                    raise ExpansionError(expansion_message(limit, recorded), limit=limit)
                sink(memoryview(buffer)[:n])
                if written is not None and time.monotonic() - told >= 0.1:
                    told = time.monotonic()
                    written(total)
        except BaseException:
            proc.kill()
            raise
        finally:
            proc.stdout.close()
            proc.wait()
        if proc.returncode != 0:
            err.seek(0)
            lines = err.read().decode("utf-8", "replace").strip().splitlines()
            raise CodecError(f"xdelta3 could not decode: {lines[-1] if lines else f'exit code {proc.returncode}'}")
        if written is not None:
            written(total)


# Magic numbers of the formats xdelta3 decompresses on its own when it
# reads a file (its "external compression" support).
_COMPRESSED_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\x1f\x9d", "compress"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"]\x00\x00", "lzma"),
)


def compressed_format(path: str | Path) -> str | None:
    """The compressor whose stream ``path`` starts with, as xdelta3 would detect it."""
    with open(path, "rb") as f:
        return compressed_format_of(f.read(6))


def compressed_format_of(head: bytes) -> str | None:
    """The compressor whose stream starts with the bytes ``head``, as xdelta3 would detect it."""
    for magic, name in _COMPRESSED_MAGIC:
        if head.startswith(magic):
            return name
    return None


def external_compressor(delta: str | Path) -> str | None:
    """The external compressor (gzip, bzip2, xz...) a delta was made through, if any."""
    try:
        result = _run(["printhdr", str(delta)], "read the delta header", None)
    except CodecError:
        return None
    for line in result.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith(_EXT_COMP_OUTPUT):
            name = line[len(_EXT_COMP_OUTPUT):].strip()
            return name or None
    return None
