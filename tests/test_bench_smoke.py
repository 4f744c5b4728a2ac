"""The benchmark runner works end to end at its smallest size (numbers are never asserted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cases import CASES  # noqa: E402
NUMBER = re.compile(r"^-?[\d,]+(\.\d+)? (s|ms|MB|B)$")


def table_rows(markdown: str) -> list[dict[str, str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[1:]]


class SmokeRun:
    """``python -m bench --size smoke`` in a process of its own, its output in files.

    It is about two minutes of its own servers and tools, mostly waiting on them: the suite starts it with
    the session (``tests/conftest.py``), beside the other tests, and this test collects what it printed.
    """

    started: SmokeRun | None = None

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.out = folder / "RESULTS.md"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DGTUI_", "DG_"))}
        with open(folder / "stdout", "wb") as stdout, open(folder / "stderr", "wb") as stderr:
            self.proc = subprocess.Popen([sys.executable, "-m", "bench", "--size", "smoke", "--quiet", "--out",
                                          str(self.out)], cwd=ROOT, env=env, stdout=stdout, stderr=stderr)

    @classmethod
    def start(cls, folder: Path) -> SmokeRun:
        cls.started = cls(folder)
        return cls.started

    def wait(self) -> tuple[int, str]:
        """The exit status and the end of what it printed; a hang guard, not a timing."""
        try:
            code = self.proc.wait(timeout=1200)
        except subprocess.TimeoutExpired:
            self.stop()
            code = -1
        printed = (self.folder / "stdout").read_text(errors="replace")[-3000:]
        return code, printed + (self.folder / "stderr").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# The run's own hang guard (``SmokeRun.wait``) and not the suite's 300 s per test: on a busy machine the smoke
# run takes longer than that without hanging.
@pytest.mark.timeout(1260)
def test_smoke_run_reports_every_case(tmp_path: Path) -> None:
    run = SmokeRun.started or SmokeRun.start(tmp_path)
    code, printed = run.wait()
    assert code == 0, printed
    out, tmp_path = run.out, run.folder
    rows = table_rows(out.read_text())
    assert (tmp_path / "RESULTS.json").exists()
    for case in CASES:
        mine = [r for r in rows if r["case"] == case]
        assert mine, f"no row for {case}"
        for row in mine:
            assert NUMBER.match(row["dgtui"]), row
            if row["compared with"] != "—":
                assert NUMBER.match(row["their value"]), row
            assert row["result"] in ("met", "MISSED"), row
    peers = {r["compared with"] for r in rows}
    assert {"boto3 paginator", "s5cmd ls", "DeltaGlider 6.2.0 detailed"} <= peers
    networks = {r["network"] for r in rows}
    assert {"loopback", "+30 ms", "https loopback", "https +30 ms"} <= networks
    assert {"`deltaglider cp`, a process each", "dgtui bare listing of the bucket"} <= peers
