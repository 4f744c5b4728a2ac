"""Timing, medians, and peak memory of child processes."""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import time
from dataclasses import dataclass
from typing import Callable


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def own_cpu() -> float:
    """User and system CPU seconds of this process so far (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int | None) -> float | None:
    """User and system CPU seconds another process (every thread) used so far; None when unknown."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class ChildResult:
    returncode: int
    seconds: float
    stdout: str
    stderr: str
    self_peak_rss: int | None  #: bytes: the child's own VmHWM, when it printed one
    children_peak_rss: int | None  #: bytes: the largest process the child waited for (xdelta3), if any
    user_s: float = 0.0  #: user CPU seconds of the child and the processes it waited for
    system_s: float = 0.0  #: their system CPU seconds (page cache, sockets, pipes)

    @property
    def tree_peak_rss(self) -> int | None:
        """The largest of the child and the processes it ran."""
        known = [v for v in (self.self_peak_rss, self.children_peak_rss) if v is not None]
        return max(known) if known else None


#: A child prints ``PEAK_RSS <bytes> <bytes>`` on stderr: its own VmHWM and its children's peak.
PEAK_MARK = "PEAK_RSS "

#: Python code a child appends to report its peaks. The parent cannot learn them from wait4():
#: a process's high-water mark starts from its parent's size at fork and survives exec, so
#: wait4() reports the benchmark process's own size for a small child.
REPORT_PEAK = (
    "\nimport sys as _s, resource as _r\n"
    "for _l in open('/proc/self/status'):\n"
    "    if _l.startswith('VmHWM:'):\n"
    "        print('PEAK_RSS', int(_l.split()[1]) * 1024,"
    " _r.getrusage(_r.RUSAGE_CHILDREN).ru_maxrss * 1024, file=_s.stderr)\n"
)


def run_child(args: list[str], env: dict[str, str], cwd: str | None = None, timeout: float = 3600) -> ChildResult:
    """Run a process to the end: its wall time, output, and the peaks it reported."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)  # grows only as children are reaped: this one's
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Read the pipes in full before reaping, so a chatty child cannot block.
    out, err = _drain(proc, timeout)
    proc.wait()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    self_peak = children_peak = None
    kept = []
    for line in err.splitlines():
        if line.startswith(PEAK_MARK):
            own, kids = line[len(PEAK_MARK):].split()
            self_peak, children_peak = int(own), (int(kids) or None)
        else:
            kept.append(line)
    return ChildResult(proc.returncode, seconds, out, "\n".join(kept), self_peak, children_peak,
                       after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime)


def _drain(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    import threading

    chunks: dict[str, list[str]] = {"out": [], "err": []}

    def pump(stream, name):
        for piece in iter(lambda: stream.read(65536), ""):
            chunks[name].append(piece)

    threads = [threading.Thread(target=pump, args=(proc.stdout, "out"), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, "err"), daemon=True)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
        if t.is_alive():
            proc.kill()
            t.join()
    return "".join(chunks["out"]), "".join(chunks["err"])


class ChildFailed(RuntimeError):
    pass


def check(result: ChildResult, what: str) -> ChildResult:
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-15:])
        raise ChildFailed(f"{what} exited with {result.returncode}:\n{tail}")
    return result
