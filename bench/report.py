"""Result rows, the printed table, and RESULTS.md."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Row:
    case: str  #: case id (``--cases``)
    what: str  #: what was measured
    network: str
    unit: str  #: "s", "bytes", "MB", "ms"
    dgtui: float | None
    peer: str = ""  #: what dgtui is compared with ("" for an absolute target)
    peer_value: float | None = None
    #: how the comparison reads, e.g. "2.31x faster"; filled by ``judge``
    ratio: str = ""
    target: str = ""
    met: bool | None = None  #: None: not judged (not available, failed)
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.met is None:
            return "n/a"
        return "met" if self.met else "MISSED"


def speedup(row: Row, at_least: float) -> Row:
    """Target: dgtui at least ``at_least`` times faster than the peer (time ratio peer/dgtui)."""
    row.target = f">= {at_least:g}x faster" if at_least != 1 else "no slower"
    if _usable(row.dgtui) and _usable(row.peer_value) and row.dgtui > 0:
        factor = row.peer_value / row.dgtui
        row.ratio = f"{factor:.2f}x faster" if factor >= 1 else f"{1 / factor:.2f}x slower"
        row.met = factor >= at_least
    return row


def at_most(row: Row, fraction: float) -> Row:
    """Target: dgtui's value at most ``fraction`` of the peer's."""
    row.target = f"<= {fraction:g}x of peer"
    if _usable(row.dgtui) and _usable(row.peer_value) and row.peer_value > 0:
        share = row.dgtui / row.peer_value
        row.ratio = f"{share:.4f}x of peer" if 0.99 < share < 1.01 else f"{share:.2f}x of peer"
        row.met = share <= fraction
    return row


def below(row: Row, limit: float, *, strict: bool = True) -> Row:
    """Target: dgtui's value under an absolute limit (in the row's unit)."""
    row.target = f"< {_fmt(limit, row.unit)}" if strict else f"<= {_fmt(limit, row.unit)}"
    if _usable(row.dgtui):
        row.ratio = f"{row.dgtui / limit:.2f}x of limit"
        row.met = row.dgtui < limit if strict else row.dgtui <= limit
    return row


def _usable(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def _fmt(value: float | None, unit: str) -> str:
    if not _usable(value):
        return "—"
    if unit == "s":
        return f"{value:.3f} s" if value < 10 else f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "MB":
        return f"{value:.0f} MB"
    if unit == "bytes":
        return f"{value:,.0f} B"
    return f"{value:g} {unit}"


HEADER = ["case", "measured", "network", "dgtui", "compared with", "their value", "ratio", "target", "result"]


def table_lines(rows: list[Row]) -> list[str]:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join("---" for _ in HEADER) + "|"]
    for r in rows:
        cells = [r.case, r.what, r.network, _fmt(r.dgtui, r.unit), r.peer or "—",
                 _fmt(r.peer_value, r.unit) if r.peer else "—", r.ratio or "—", r.target or "—", r.verdict]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return lines


def notes_lines(rows: list[Row]) -> list[str]:
    out = []
    for r in rows:
        if r.note:
            out.append(f"- **{r.case} / {r.network} / {r.what}**: {r.note}")
    return out


def summary_line(rows: list[Row]) -> str:
    met = sum(1 for r in rows if r.met is True)
    missed = sum(1 for r in rows if r.met is False)
    na = sum(1 for r in rows if r.met is None)
    return f"Targets: {met} met, {missed} missed, {na} not judged."


def write_markdown(path: Path, rows: list[Row], *, machine: dict[str, str], size: str, command: str,
                   started: str, seconds: float, method: list[str]) -> None:
    lines = [
        "# dgtui benchmarks",
        "",
        f"- Date: {started}",
        f"- Command: `{command}`",
        f"- Size: {size}; wall time of the whole run: {seconds:.0f} s",
    ]
    lines += [f"- {k}: {v}" for k, v in machine.items()]
    lines += ["", "## Results", "", summary_line(rows), ""]
    lines += table_lines(rows)
    notes = notes_lines(rows)
    if notes:
        lines += ["", "## Notes", ""] + notes
    lines += ["", "## Method", ""] + [f"- {m}" for m in method] + [""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    path.with_suffix(".json").write_text(json.dumps(
        {"date": started, "size": size, "command": command, "machine": machine,
         "rows": [asdict(r) for r in rows]}, indent=1))
