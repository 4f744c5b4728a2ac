"""xdelta3 runs as a child process: it never outlives the call that started it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dgtui import CancelledError
from dgtui.core import codec


def xdelta3_children() -> list[int]:
    """Pids of this process's xdelta3 children, running or not yet reaped."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        if name == "xdelta3" and int(rest[1]) == os.getpid():
            pids.append(int(entry))
    return pids


@pytest.fixture
def stuck_encode(tmp_path):
    """Arguments of an encode that cannot finish: its input is a FIFO nobody writes to."""
    reference = tmp_path / "reference.bin"
    reference.write_bytes(b"reference " * 100)
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    yield ["-e", "-f", "-s", str(reference), str(fifo), str(tmp_path / "out.delta")]
    try:  # an xdelta3 left behind (the test failed) reads end-of-file and exits
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass  # no reader: nothing left behind


class PollFailed(Exception):
    pass


def test_xdelta3_stops_when_the_poll_callback_raises(stuck_encode):
    seen: list[list[int]] = []

    def on_poll() -> None:
        seen.append(xdelta3_children())
        raise PollFailed("the progress hook failed")

    with pytest.raises(PollFailed):
        codec._run(stuck_encode, "encode", None, on_poll=on_poll)
    assert seen and seen[0], "xdelta3 was running when the callback raised"
    assert xdelta3_children() == [], "xdelta3 was stopped and reaped"


def test_xdelta3_stops_when_cancelled(stuck_encode):
    polls: list[int] = []

    def cancel() -> bool:
        polls.append(len(xdelta3_children()))
        return True

    with pytest.raises(CancelledError):
        codec._run(stuck_encode, "encode", cancel)
    assert polls == [1]
    assert xdelta3_children() == []
