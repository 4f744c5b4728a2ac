"""Helpers for tests and benchmarks: a local S3 server and a fault-injecting proxy."""

from pathlib import Path

from dgtui.demo.server import LocalS3Server
from dgtui.testing.proxy import TcpProxy

__all__ = ["LocalS3Server", "TcpProxy", "process_alive"]


def process_alive(pid: int) -> bool:
    """True while any thread of the process runs.

    A zombie waiting to be reaped counts as gone, but a leader thread shows
    as a zombie while the other threads still tear down and hold its files.
    """
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError):
        return False
    for task in tasks:
        try:
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state not in ("Z", "X"):
            return True
    return False
