"""xdelta3's level, by measurement: delta size against encode time for levels 1, 3, 6 and 9.

Each archive family (``bench/archives.py``) is encoded once per level, the way dgtui encodes
(``-e -D -A -s reference``, the file fed through a pipe), and each delta is decoded back and compared
byte for byte. The default level (``DEFAULT_ENCODER_LEVEL``) must keep every family's delta within 2%
of ``-9``'s and encode no slower.

Then each family is encoded as an upload encodes it (``engine.encode_at_levels``: the file hashed as it is
read, the delta decoded as it is written), once with the fast pass of big files (level 1 first, kept when
its delta is at most ``FAST_FIRST_SHARE`` of the file) and once at the default level alone.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

from dgtui.core import codec, engine
from dgtui.core.config import DEFAULT_ENCODER_LEVEL

from .. import archives
from ..report import Row, at_most, speedup
from . import Context

LEVELS = (1, 3, 6, 9)


def encode_once(reference: Path, target: Path, delta: Path, level: int) -> float:
    started = time.perf_counter()
    codec.encode_hashing(reference, target, delta, level=level, hashers=(hashlib.sha256(),))
    return time.perf_counter() - started


def rebuilds(reference: Path, delta: Path, target: Path) -> bool:
    out = subprocess.run([codec.xdelta3_path(), "-d", "-c", "-s", str(reference), str(delta)],
                         capture_output=True, check=True).stdout
    return out == target.read_bytes()


def upload_encode(reference: Path, target: Path, delta: Path, work: Path, fast_first: bool) -> tuple[int, int, float]:
    """(level kept, delta bytes, seconds) of an upload's encode, with or without the fast pass."""
    config = work / f"encoder-{'fast' if fast_first else 'settings'}.toml"
    config.write_text(f"xdelta3_level = {DEFAULT_ENCODER_LEVEL}\nxdelta3_fast_first = {str(fast_first).lower()}\n")
    before = os.environ.get("DGTUI_CONFIG")
    os.environ["DGTUI_CONFIG"] = str(config)
    try:
        started = time.perf_counter()
        level, size, _hashes, check = engine.encode_at_levels(reference, target, delta, target.stat().st_size,
                                                              lambda: (hashlib.sha256(), hashlib.md5()))
        seconds = time.perf_counter() - started
    finally:
        if before is None:
            del os.environ["DGTUI_CONFIG"]
        else:
            os.environ["DGTUI_CONFIG"] = before
    if check.rebuilt is None or not rebuilds(reference, delta, target):
        raise RuntimeError(f"the upload's delta of {target.name} does not rebuild the file")
    return level, size, seconds


#: what ``measure`` reports beside the levels: "fast" and "settings" -> family -> (level, bytes, seconds)
Uploads = dict[str, dict[str, tuple[int, int, float]]]


def measure(ctx: Context) -> dict[str, dict[int, tuple[int, float]]]:
    """family -> level -> (delta bytes, encode seconds)."""
    size = ctx.sizes.encoder_family_bytes
    folder = ctx.env.files(f"encoder-{size}")
    work = ctx.env.scratch("encoder")
    table: dict[str, dict[int, tuple[int, float]]] = {}
    for family in archives.FAMILIES:
        ctx.log(f"encoder: generating {family} ({size / 2**20:.0f} MB)")
        first, second = archives.generate(family, folder, size)
        table[family] = {}
        for level in LEVELS:
            delta = work / f"{family}-{level}.delta"
            seconds = encode_once(first, second, delta, level)
            if not rebuilds(first, delta, second):
                raise RuntimeError(f"the -{level} delta of {family} does not rebuild the file")
            table[family][level] = (delta.stat().st_size, seconds)
            ctx.log(f"encoder: {family} -{level}: {delta.stat().st_size:,} bytes in {seconds:.3f} s")
    return table


def measure_uploads(ctx: Context) -> Uploads:
    size = ctx.sizes.encoder_family_bytes
    folder = ctx.env.files(f"encoder-{size}")
    work = ctx.env.scratch("encoder-upload")
    uploads: Uploads = {"fast": {}, "settings": {}}
    for family in archives.FAMILIES:
        first, second = archives.generate(family, folder, size)
        for name, fast in (("fast", True), ("settings", False)):
            level, delta_size, seconds = upload_encode(first, second, work / f"{family}-{name}.delta", work, fast)
            uploads[name][family] = (level, delta_size, seconds)
            ctx.log(f"encoder: {family} as uploaded ({name}): -{level}, {delta_size:,} bytes in {seconds:.3f} s")
    return uploads


def markdown(table: dict[str, dict[int, tuple[int, float]]], sizes: dict[str, int],
             uploads: Uploads | None = None) -> list[str]:
    lines = ["| family | version size | " + " | ".join(f"-{lv} delta | -{lv} encode" for lv in LEVELS) + " |",
             "|---|---|" + "---|---|" * len(LEVELS)]
    for family, by_level in table.items():
        nine = by_level[9][0]
        cells = []
        for level in LEVELS:
            size, seconds = by_level[level]
            cells.append(f"{size:,} B ({size / nine - 1:+.1%})" if level != 9 else f"{size:,} B")
            cells.append(f"{seconds:.3f} s")
        lines.append(f"| {family} | {sizes[family] / 2**20:.1f} MB | " + " | ".join(cells) + " |")
    if uploads:
        lines += ["", f"| family | upload, fast pass: level kept | delta | encode | upload, -{DEFAULT_ENCODER_LEVEL} "
                      "only: delta | encode |", "|---|---|---|---|---|---|"]
        for family, by_level in table.items():
            nine = by_level[9][0]
            level, fast_size, fast_s = uploads["fast"][family]
            _, own_size, own_s = uploads["settings"][family]
            lines.append(f"| {family} | -{level} | {fast_size:,} B ({fast_size / nine - 1:+.1%}) | {fast_s:.3f} s | "
                         f"{own_size:,} B ({own_size / nine - 1:+.1%}) | {own_s:.3f} s |")
    return lines


def run(ctx: Context) -> list[Row]:
    table = measure(ctx)
    uploads = measure_uploads(ctx)
    folder = ctx.env.files(f"encoder-{ctx.sizes.encoder_family_bytes}")
    sizes = {f: archives.generate(f, folder, ctx.sizes.encoder_family_bytes)[1].stat().st_size for f in table}
    for line in markdown(table, sizes, uploads):
        ctx.log(line)
    rows: list[Row] = []
    default = DEFAULT_ENCODER_LEVEL
    for family, by_level in table.items():
        what = f"{family}, {sizes[family] / 2**20:.0f} MB: delta at -{default}"
        notes = ", ".join(f"-{lv} {by_level[lv][0]:,} B in {by_level[lv][1]:.2f} s" for lv in LEVELS)
        rows.append(at_most(Row("encoder-level", what, "local", "bytes", by_level[default][0], "xdelta3 -9",
                                by_level[9][0], note=notes), 1.02))
        rows.append(speedup(Row("encoder-level", f"{family}: encode time at -{default}", "local", "s",
                                by_level[default][1], "xdelta3 -9", by_level[9][1]), 1.0))
        level, fast_size, fast_s = uploads["fast"][family]
        _, own_size, own_s = uploads["settings"][family]
        # Where the fast pass is given up it must cost little: at most a quarter of the encode at the level.
        rows.append(at_most(Row("encoder-level", f"{family}: an upload's encode with the fast pass (kept -{level})",
                                "local", "s", fast_s, f"-{default} only", own_s,
                                note=f"delta {fast_size:,} B ({fast_size / by_level[9][0] - 1:+.1%} against -9), "
                                     f"-{default} only {own_size:,} B"), 1.25))
    return rows
