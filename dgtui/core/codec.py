"""xdelta3 as a subprocess: encode, decode, and reading a delta's header.

We encode with ``-D``: without it xdelta3 silently decompresses gzip, bzip2
and xz inputs and recompresses on decode, and the recompressed bytes differ
from the original (see FORMAT.md, "Trap"). Deltas made with ``-D`` carry no
external-compression marker, so DeltaGlider decodes them as usual.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Callable

from .errors import CancelledError, CodecError, LocalWriteError, XdeltaMissingError

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


def _run(args: list[str], what: str, should_cancel: ShouldCancel | None,
         on_poll: Callable[[], None] | None = None) -> subprocess.CompletedProcess:
    cmd = [xdelta3_path(), *args]
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
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


def encode(reference: str | Path, target: str | Path, delta_out: str | Path,
           should_cancel: ShouldCancel | None = None) -> int:
    """Write the delta from ``reference`` to ``target``; returns its size.

    ``-A`` leaves out xdelta3's application header, which would otherwise
    store the local paths of the cached reference and of the file in every
    delta. Decoding never needs it: the source and output are always named.
    """
    _run(["-e", "-f", "-9", "-D", "-A", "-s", str(reference), str(target), str(delta_out)],
         "encode", should_cancel)
    return os.path.getsize(delta_out)


def decode(reference: str | Path, delta: str | Path, out: str | Path,
           should_cancel: ShouldCancel | None = None, *, recompress: bool = True,
           decompress_source: bool = True, written: Callable[[int], None] | None = None) -> None:
    """Rebuild a file from a reference and a delta.

    The defaults are DeltaGlider 6.2.0's exact command (``xdelta3 -d -f -s``),
    so a delta that decodes here decodes there too. ``recompress=False``
    (``-R``) writes what xdelta3 stored for a delta made without ``-D``: the
    decompressed payload, checked by the delta's own window checksums.
    ``decompress_source=False`` (``-D``) is for deltas made with ``-D``
    against a compressed reference by other writers. ``written`` hears the
    output's size a few times a second while xdelta3 runs (for progress).
    """
    args = ["-d", "-f"]
    if not recompress:
        args.append("-R")
    if not decompress_source:
        args.append("-D")
    def poll() -> None:
        if written is not None:
            try:
                written(os.path.getsize(out))
            except OSError:
                pass

    _run([*args, "-s", str(reference), str(delta), str(out)], "decode", should_cancel,
         poll if written is not None else None)


def decode_sha256(reference: str | Path, delta: str | Path,
                  should_cancel: ShouldCancel | None = None, *, decompress_source: bool = True) -> str:
    """sha256 of what DeltaGlider's decode command rebuilds, read from a pipe.

    The same ``-d -f -s`` as ``decode``, with ``-c`` so nothing is written
    to disk only to be read back for hashing (``decompress_source=False``
    adds ``-D``, as in ``decode``).
    """
    cmd = [xdelta3_path(), "-d", "-f", "-c", *([] if decompress_source else ["-D"]), "-s", str(reference), str(delta)]
    digest = hashlib.sha256()
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        except FileNotFoundError as exc:
            raise XdeltaMissingError() from exc
        try:
            assert proc.stdout is not None  # stdout=PIPE
            while chunk := proc.stdout.read(1024 * 1024):
                digest.update(chunk)
                if should_cancel and should_cancel():
                    proc.kill()
                    raise CancelledError()
        finally:
            if proc.stdout is not None:
                proc.stdout.close()
            proc.wait()
        if proc.returncode != 0:
            err.seek(0)
            lines = err.read().decode("utf-8", "replace").strip().splitlines()
            raise CodecError(f"xdelta3 could not decode: {lines[-1] if lines else proc.returncode}")
    return digest.hexdigest()


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
        head = f.read(6)
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
