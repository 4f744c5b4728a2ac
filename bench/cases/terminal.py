"""What the app writes to its terminal: the bytes an SSH link carries per key.

dgtui runs as a real process in a tmux pane of 120x36 (a tmux server of its own, on its own socket);
``tmux pipe-pane -O`` copies everything the app writes to a file, and each key is sent with
``tmux send-keys``. After a key the case waits until the output has been quiet for a moment and
counts the bytes written since the key: per Down, per PageDown, per tree move (Down with the tree
focused), and while idle. It also reports the time from launch to the first rows on screen
(``tmux capture-pane``) and the app's peak RSS.
"""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .. import datasets
from ..measure import median
from ..report import Row, below
from . import Context

WIDTH, HEIGHT = 120, 36
#: output quiet this long: the key's frames are all out
QUIET_S = 0.6
#: no key may take longer than this to settle (a bound, not a target)
KEY_DEADLINE_S = 20.0
DOWNS = 10
PAGE_DOWNS = 3
TREE_MOVES = 3
IDLE_S = 3.0
#: targets of issue 22 at 120x36
DOWN_LIMIT_BYTES = 1_000
PAGE_DOWN_LIMIT_BYTES = 8_000
TREE_LIMIT_BYTES = 1_000
FIRST_ROWS_LIMIT_S = 0.7
#: End must land on the last row: the issue measured dgtui at 0.5 s on 100,000 objects; a bound to keep it there
END_LIMIT_S = 1.0
#: how long End may take to show the last key before it counts as never reached (s3ranger pages as you scroll)
END_DEADLINE_S = 30.0
#: peak RSS bound on 100,000 objects (the issue measured 182 MB for dgtui and 352 MB for s3ranger)
RSS_LIMIT_MB = 300.0


_panes = itertools.count()


class Pane:
    """One tmux server and session running one command; its output copied to a file."""

    def __init__(self, work: Path, command: list[str], env: dict[str, str]) -> None:
        self.socket = f"dgtui-bench-{os.getpid()}-{next(_panes)}"  # a server of its own, never reused
        self.output = work / "pane-output.bin"
        self.output.write_bytes(b"")
        script = work / "run.sh"
        exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
        script.write_text("#!/bin/sh\n" + exports + "exec " + " ".join(shlex.quote(a) for a in command) + "\n")
        script.chmod(0o755)
        tmux_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
                    "TERM": "xterm-256color", "LANG": "C.UTF-8"}
        self.env = tmux_env
        self.launched = time.monotonic()
        self._tmux("new-session", "-d", "-s", "bench", "-x", str(WIDTH), "-y", str(HEIGHT), str(script))
        self._tmux("set-option", "-t", "bench", "remain-on-exit", "on")
        self._tmux("pipe-pane", "-O", "-t", "bench", f"cat >> {shlex.quote(str(self.output))}")

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, "-f", os.devnull, *args], env=self.env,
                              capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {done.stderr.strip()}")
        return done.stdout

    @property
    def written(self) -> int:
        return self.output.stat().st_size

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "bench")

    def pid(self) -> int:
        return int(self._tmux("display-message", "-p", "-t", "bench", "#{pane_pid}").strip())

    def send(self, key: str) -> None:
        self._tmux("send-keys", "-t", "bench", key)

    def quiet(self, deadline_s: float = KEY_DEADLINE_S) -> int:
        """Wait until nothing has been written for QUIET_S; the size written by then."""
        deadline = time.monotonic() + deadline_s
        size, since = self.written, time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self.written
            if now != size:
                size, since = now, time.monotonic()
            elif time.monotonic() - since >= QUIET_S:
                return size
        raise TimeoutError(f"the app kept writing for {deadline_s:.0f} s")

    def key_bytes(self, key: str) -> int:
        before = self.quiet()
        self.send(key)
        return self.quiet() - before

    def wait_for_text(self, text: str, deadline_s: float) -> float:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if text in self.screen():
                return time.monotonic()
            time.sleep(0.02)
        raise TimeoutError(f"{text!r} not on screen after {deadline_s:.0f} s")

    def stop(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], env=self.env, capture_output=True, timeout=30)


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def s3ranger_command() -> str | None:
    """s3ranger 1.4.0, when installed in a virtualenv of its own and named by ``BENCH_S3RANGER``."""
    path = os.environ.get("BENCH_S3RANGER")
    return path if path and os.access(path, os.X_OK) else None


def measure(pane: Pane, first_row: str, listed: str | None, open_keys: tuple[str, ...], tree: bool,
            last_row: str) -> dict:
    """Bytes per key in a pane whose app shows ``first_row`` once its first rows are in."""
    for key in open_keys:  # s3ranger opens on its bucket list: Enter the bucket, Enter the folder
        pane.quiet()
        pane.send(key)
    first_rows = pane.wait_for_text(first_row, 60) - pane.launched
    if listed is not None:
        pane.wait_for_text(listed, 120)  # dgtui's location bar: the whole listing is in
    result: dict = {"first_rows_s": first_rows}
    result["down"] = [pane.key_bytes("Down") for _ in range(DOWNS)]
    result["pagedown"] = [pane.key_bytes("PageDown") for _ in range(PAGE_DOWNS)]
    if tree:
        pane.key_bytes("BTab")  # the focus goes to the tree (footer and both panes repaint once)
        result["tree"] = [pane.key_bytes(key) for key in ("Up", "Down", "Up")[:TREE_MOVES]]
    if tree:
        pane.key_bytes("Tab")  # the focus back on the table, where End is measured
    before_idle = pane.quiet()
    time.sleep(IDLE_S)
    result["idle"] = pane.written - before_idle
    sent = time.monotonic()
    pane.send("End")
    try:
        result["end_s"] = pane.wait_for_text(last_row, END_DEADLINE_S) - sent
    except TimeoutError:
        result["end_s"] = None  # never reached: told in the row's note
    result["rss_mb"] = peak_rss_mb(pane.pid())
    return result


def run(ctx: Context) -> list[Row]:
    n = ctx.sizes.terminal_keys
    net = ctx.networks[0]  # loopback: what is measured is the terminal, not the network
    if shutil.which("tmux") is None:
        return [Row("terminal", "bytes per key at 120x36", net.name, "bytes", None, note="tmux not installed")]
    datasets.build_list(ctx.env, n, ctx.log)
    bucket = datasets.list_bucket(n)
    first_row = datasets.list_key(0).split("/")[-1]
    last_row = datasets.list_key(n - 1).split("/")[-1]
    work = ctx.env.scratch("terminal")
    env = ctx.env.child_env(net.endpoint_url)
    env.update({"AWS_ENDPOINT_URL": net.endpoint_url, "DGTUI_CACHE_DIR": str(work / "cache"),
                "DGTUI_CONFIG": str(work / "no-config.toml"), "TERM": "xterm-256color", "COLORTERM": "truecolor"})
    command = [sys.executable, "-m", "dgtui", f"s3://{bucket}/{datasets.LIST_PREFIX}"]
    ctx.log(f"terminal: dgtui in tmux at {WIDTH}x{HEIGHT} on {n:,} objects")
    pane = Pane(work, command, env)
    try:
        ours = measure(pane, first_row, f"{n:,} objects", (), tree=True, last_row=last_row)
    finally:
        pane.stop()
    theirs: dict = {}
    s3ranger = s3ranger_command()
    if s3ranger is not None:
        peer_work = ctx.env.scratch("terminal-s3ranger")
        peer_env = dict(env, HOME=str(peer_work))  # no ~/.s3ranger.config of the machine
        server = ctx.env.server
        peer_command = [s3ranger, "--endpoint-url", net.endpoint_url, "--region-name", "us-east-1",
                        "--aws-access-key-id", server.access_key, "--aws-secret-access-key", server.secret_key,
                        "--enable-pagination"]
        ctx.log("terminal: s3ranger 1.4.0 in the same pane size on the same prefix")
        pane = Pane(peer_work, peer_command, peer_env)
        try:
            pane.wait_for_text(bucket, 60)
            keys = ("Down",) * _bucket_position(ctx, bucket) + ("Enter", "Enter")
            theirs = measure(pane, first_row, None, keys, tree=False, last_row=last_row)
        finally:
            pane.stop()
    peer = "s3ranger 1.4.0" if theirs else ""
    why_no_peer = "" if theirs else "; s3ranger 1.4.0 not measured (set BENCH_S3RANGER to its executable)"

    def row(what: str, key: str, limit: float) -> Row:
        values = ours[key]
        mine = median(values) if isinstance(values, list) else float(values)
        peer_values = theirs.get(key)
        peer_value = None if peer_values is None else (
            median(peer_values) if isinstance(peer_values, list) else float(peer_values))
        samples = {"dgtui": values if isinstance(values, list) else [values]}
        if peer_values is not None:
            samples["peer"] = peer_values if isinstance(peer_values, list) else [peer_values]
        note = f"each: {values}" + (f"; s3ranger each: {peer_values}" if peer_values is not None else "")
        return below(Row("terminal", what, net.name, "bytes", mine, peer if peer_value is not None else "",
                         peer_value, note=note + why_no_peer, samples=samples), limit,
                     strict=limit <= 1)

    rss = ours["rss_mb"]
    peer_rss = theirs.get("rss_mb")
    note = "the process started from nothing (interpreter and imports included)"
    if theirs:
        note += ("; s3ranger's includes the keys that open the bucket and the folder, each sent once "
                 "the screen was quiet for 0.6 s")
    if rss is not None:
        note += f"; peak RSS {rss:.0f} MB" + (f" (s3ranger {peer_rss:.0f} MB)" if peer_rss is not None else "")
    return [
        row(f"bytes written per Down, {n:,}-object prefix, {WIDTH}x{HEIGHT}", "down", DOWN_LIMIT_BYTES),
        row("bytes written per PageDown", "pagedown", PAGE_DOWN_LIMIT_BYTES),
        row("bytes written per tree move (Up/Down, tree focused)", "tree", TREE_LIMIT_BYTES),
        row(f"bytes written in {IDLE_S:.0f} s idle", "idle", 1),
        below(Row("terminal", "launch to first rows on screen (tmux)", net.name, "s", ours["first_rows_s"],
                  "s3ranger 1.4.0" if theirs else "", theirs.get("first_rows_s"), note=note,
                  samples={"dgtui": [ours["first_rows_s"]]}), FIRST_ROWS_LIMIT_S, strict=False),
        below(Row("terminal", f"End: key to the last of {n:,} rows on screen (tmux)", net.name, "s",
                  ours["end_s"], peer, theirs.get("end_s"), note=_end_note(ours, theirs),
                  samples={"dgtui": [ours["end_s"]]}), END_LIMIT_S, strict=False),
        below(Row("terminal", f"peak RSS after End, {n:,} objects", net.name, "MB", rss, peer, peer_rss,
                  note="VmHWM of the app's process", samples={"dgtui": [rss]}), RSS_LIMIT_MB),
    ]


def _end_note(ours: dict, theirs: dict) -> str:
    notes = ["after the whole listing is in (dgtui's location bar shows the count)"]
    if ours["end_s"] is None:
        notes.append(f"dgtui did not show the last row within {END_DEADLINE_S:.0f} s")
    if theirs and theirs.get("end_s") is None:
        notes.append(f"s3ranger 1.4.0 did not show the last row within {END_DEADLINE_S:.0f} s of the End key")
    return "; ".join(notes)


def _bucket_position(ctx: Context, bucket: str) -> int:
    """Where the bench bucket is in s3ranger's bucket list (sorted by name, as ListBuckets returns them)."""
    names = [b["Name"] for b in ctx.env.admin().list_buckets().get("Buckets", [])]
    return names.index(bucket) if bucket in names else 0
