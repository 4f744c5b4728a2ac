"""Ctrl-C, SIGTERM and SIGHUP: a command unwinds, says what it did and ends within a second, whatever hangs."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..jobs.job import Job


#: after Ctrl-C, SIGTERM or SIGHUP, how long the command may take to unwind before it is ended
UNWIND_SECONDS = 1.0
_EXIT_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
#: the signal that is ending the process (None: none yet)
_stopping: int | None = None
_said_interrupted = False


def say_interrupted(*, raw: bool = False) -> None:
    """"dgtui: interrupted", once; ``raw`` from a signal handler or a timer (straight to the descriptor: the
    thread that was stopped may hold sys.stderr's lock)."""
    global _said_interrupted
    if _said_interrupted:
        return
    _said_interrupted = True
    try:
        if raw:
            os.write(2, b"dgtui: interrupted\n")
        else:
            print("dgtui: interrupted", file=sys.stderr)
    except (OSError, ValueError):
        pass


def end_now(code: int) -> None:
    """End the process at once: this process's temporary files removed, threads not waited for.

    A thread blocked on a server that never answers (or a pool joining it) would otherwise keep
    the process alive for minutes after Ctrl-C or ``q``.
    """
    from ..core import codec, tempfiles

    codec.stop_all()
    tempfiles.remove_all()
    os._exit(code)


def _on_exit_signal(signum: int, _frame: Any) -> None:
    """Ctrl-C, SIGTERM, SIGHUP: unwind as an interrupt (the command cleans up and says what it did), but
    end within ``UNWIND_SECONDS`` whatever is hanging; a second signal ends it at once."""
    if _stopping is not None:
        say_interrupted(raw=True)
        end_now(128 + _stopping)
    _arm_overdue(signum)
    raise KeyboardInterrupt


def _arm_overdue(signum: int) -> None:
    """The process is stopping because of ``signum``: it ends with 128 + ``signum`` once the command has
    unwound (``finish``), or after ``UNWIND_SECONDS`` whatever is hanging."""
    global _stopping
    _stopping = signum

    def overdue() -> None:
        say_interrupted(raw=True)
        end_now(128 + signum)

    timer = threading.Timer(UNWIND_SECONDS, overdue)
    timer.daemon = True
    timer.start()


def catch_exit_signals() -> None:
    for name in _EXIT_SIGNALS:
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, _on_exit_signal)


def finish(code: int) -> int:
    """The exit status, output flushed. Interrupted: the process ends here. Otherwise it ends the usual
    way, but a thread still blocked on the network (which the interpreter would wait for) gets at most
    ``UNWIND_SECONDS`` before the process ends without it."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if _stopping is not None:
        end_now(128 + _stopping)
    timer = threading.Timer(UNWIND_SECONDS, end_now, args=(code,))
    timer.daemon = True
    timer.start()
    return code


@contextmanager
def ctrl_c_cancels(job: Job) -> Iterator[None]:
    """The first Ctrl-C cancels the job, which ends after the file under way and says what it did;
    a second one interrupts at once."""
    import signal

    def interrupted(signum: int, frame: object) -> None:
        if job.should_cancel():
            raise KeyboardInterrupt
        job.cancel()
        if previous is _on_exit_signal:
            # The command owns the process: a file hanging on a silent server would not see the cancel
            # before the stall limit, so the process still ends within UNWIND_SECONDS, as any Ctrl-C does.
            _arm_overdue(signum)

    try:
        previous = signal.signal(signal.SIGINT, interrupted)
    except ValueError:  # not the main thread: Ctrl-C keeps its usual meaning
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
