"""The benchmark cases. Each takes a ``Context`` and returns table rows."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from ..env import BenchEnv, Network
from ..report import Row
from ..sizes import Sizes


@dataclass
class Context:
    env: BenchEnv
    sizes: Sizes
    wanted: set[str]
    verbose: bool = True
    started: float = field(default_factory=time.monotonic)

    @property
    def networks(self) -> list[Network]:
        """Plain http, loopback and through the latency proxy."""
        return [n for n in self.env.networks if not n.name.startswith("https")]

    @property
    def all_networks(self) -> list[Network]:
        """http and https, each loopback and through the latency proxy (listing and statistics)."""
        return self.env.networks

    def log(self, message: str) -> None:
        if self.verbose:
            print(f"[{time.monotonic() - self.started:7.1f}s] {message}", file=sys.stderr, flush=True)


def label(network: Network) -> str:
    """A short, path-safe name for a network."""
    base = "lo" if network.name.endswith("loopback") else "lat"
    return f"tls-{base}" if network.name.startswith("https") else base


# Order matters: the table follows it. Each entry: case id -> (module, description)
CASES: dict[str, str] = {
    "list": "list a prefix, no metadata: dgtui vs boto3 paginator and s5cmd ls",
    "stats": "detailed stats over delta objects: dgtui (fresh cache) vs DeltaGlider",
    "stats-again": "detailed stats again, nothing changed: dgtui vs its own first run",
    "stats-throttled": "detailed stats with 10% of requests answered 503 SlowDown: dgtui vs DeltaGlider",
    "upload": "upload versions of an archive: dgtui vs DeltaGlider (time and stored bytes)",
    "restore": "restore versions from one deltaspace, a new process each: dgtui vs DeltaGlider",
    "startup": "start-up of a command, a process each: `dgtui --help`, `dgtui ls` of ten objects vs DeltaGlider and boto3",
    "get-cli": "`dgtui get` vs `deltaglider cp` of archive versions, a new process each (start-up included)",
    "app-open": "open the app on the big prefix: time to first rows, peak memory",
    "app-keys": "keystroke-to-screen latency while a large restore runs in the app",
    "table-keys": "key to screen in the object table at 100,000 rows (pilot, no server): Down, PageDown, End",
    "terminal": "bytes the app writes to a 120x36 tmux pane per Down, PageDown, tree move and while idle",
    "memory": "peak RSS of a process uploading and restoring a big direct file and a delta",
    "audit-full": "audit --full of one folder of deltas vs DeltaGlider 6.2.0's verify() on each",
    "audit-meta": "metadata audit vs detailed stats over the same deltas",
    "audit-memory": "peak RSS of a process auditing the big prefix",
    "savings-memory": "peak RSS of savings by folder and quick stats: 1,000,000-object generated listing, real server",
    "sampled": "sampled stats against detailed stats with cold caches: time and accuracy",
    "bigfile": "a big archive's next version: restore (cached, cold) and upload, a process each, vs s5cmd cp",
    "bigfile-link": "the same restores through a 50 MB/s link: cached vs s5cmd cp, cold vs the reference's download",
    "encoder-level": "xdelta3 levels 1, 3, 6, 9 on four archive families: delta size against encode time",
    "versions-at": "`get -r --at` of a folder with versions of history vs `get -r` of the current folder",
    "versions-memory": "peak RSS of `versions --recursive --json` over many versions",
}


def runners() -> dict[str, Callable[[Context], list[Row]]]:
    from . import (app, audit, bigfile, cli_restore, encoder, listing, memory, restore, savings, startup, stats,
                   table_keys, terminal, throttled, upload, versions)

    return {
        "list": listing.run,
        "stats": stats.run,
        "stats-again": stats.run,  # one run measures both; rows are filtered by case id
        "stats-throttled": throttled.run,
        "upload": upload.run,
        "restore": restore.run,
        "startup": startup.run,
        "get-cli": cli_restore.run,
        "app-open": app.run_open,
        "app-keys": app.run_keys,
        "table-keys": table_keys.run,
        "terminal": terminal.run,
        "memory": memory.run,
        "audit-full": audit.run,  # one run measures all three; rows are filtered by case id
        "audit-meta": audit.run,
        "audit-memory": audit.run,
        "savings-memory": savings.run,
        "sampled": savings.run,  # one run measures both; rows are filtered by case id
        "bigfile": bigfile.run,
        "bigfile-link": bigfile.run,  # one run measures both; rows are filtered by case id
        "encoder-level": encoder.run,
        "versions-at": versions.run,  # one run measures both; rows are filtered by case id
        "versions-memory": versions.run,
    }
