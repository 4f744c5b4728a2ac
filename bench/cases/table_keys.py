"""Keypress to screen in the object table at 100,000 rows (a pilot, no server): Down, PageDown and End.

Runs ``bench.table_keys`` in a process of its own (see its docstring for what is timed): the time from
a key to the first frame that shows its effect, median and p99, and the bytes of that frame.
"""

from __future__ import annotations

import json
import sys

from ..measure import check, run_child
from ..report import Row, below
from . import Context

#: the issue's bound for a Down: the next frame at 60 Hz
FRAME_MS = 16.0


def run(ctx: Context) -> list[Row]:
    rows = 2_000 if ctx.sizes.name == "smoke" else 100_000
    ctx.log(f"table keys at {rows:,} rows (pilot, no server)")
    result = check(run_child([sys.executable, "-m", "bench.table_keys", str(rows)], ctx.env.child_env(),
                             timeout=1200), "bench.table_keys")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    out = []
    for key, label in (("down", "Down"), ("pagedown", "PageDown"), ("end", "End (to the last row)")):
        m = measured[key]
        note = (f"p99 {m['p99_ms']:.1f} ms; CPU median {m['cpu_median_ms']:.1f} ms; "
                f"frame {m['bytes_median']:,} bytes")
        row = Row("table-keys", f"{label}: key to screen, median, {rows:,} rows", "none", "ms", m["median_ms"],
                  note=note, samples={"p99": [m["p99_ms"]]})
        out.append(below(row, FRAME_MS, strict=False))  # every key's effect in the next frame
    return out
