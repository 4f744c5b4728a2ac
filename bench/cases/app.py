"""The app, driven headless in a process of its own (see ``bench.app_driver``).

app-open: time from starting the app on the big prefix until the first rows
are on screen, and the process's peak RSS once all of the prefix is listed.
app-keys: keystroke-to-frame latency (cursor down/up in the object table)
while the app restores a big direct object.
"""

from __future__ import annotations

import json
import sys
import time

from .. import datasets
from ..measure import check, median, run_child
from ..report import Row, below
from . import Context, label

FIRST_ROWS_LIMIT_S = 1.0
OPEN_MEMORY_LIMIT_MB = 400
KEY_LIMIT_MS = 100
KEYS_BUCKET = "bench-app-keys"


def app_available() -> str | None:
    try:
        from dgtui.app.app import DgtuiApp  # noqa: F401
    except Exception as exc:  # not there, or broken
        return f"app not available ({type(exc).__name__}: {exc})"
    return None


def _unavailable(case: str, what: str, ctx: Context, reason: str) -> list[Row]:
    return [Row(case, what, net.name, "s", None, note=reason) for net in ctx.networks]


def driver(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.app_driver", *args]


def run_open(ctx: Context) -> list[Row]:
    reason = app_available()
    if reason:
        return _unavailable("app-open", "first rows on screen", ctx, reason)
    n = ctx.sizes.list_keys
    datasets.build_list(ctx.env, n, ctx.log)
    url = f"s3://{datasets.list_bucket(n)}/{datasets.LIST_PREFIX}"
    rows: list[Row] = []
    for net in ctx.networks:
        ctx.log(f"app: open on {n:,} objects over {net.name}")
        results = []
        for rep in range(ctx.sizes.app_reps):
            cache = ctx.env.scratch(f"app-open-cache-{label(net)}-{rep}")
            launched = time.time()
            child = check(run_child(driver("open", net.endpoint_url, str(cache), url, repr(launched)),
                                    ctx.env.child_env(net.endpoint_url), cwd=str(ctx.env.work)), "app open")
            result = json.loads(child.stdout.strip().splitlines()[-1])
            if result["objects"] != n:
                raise RuntimeError(f"the app listed {result['objects']} objects, expected {n}")
            results.append(result)
        first = [r["first_rows_s"] for r in results]
        launch = [r["first_rows_from_launch_s"] for r in results]
        peak = [r["peak_rss"] / 2**20 for r in results]
        note = (f"from launching the process (interpreter and imports included): {median(launch):.2f} s; "
                f"all {n:,} rows listed after {median([r['all_rows_s'] for r in results]):.2f} s")
        rows.append(below(Row("app-open", f"first rows on screen, {n:,}-object prefix", net.name, "s", median(first),
                              note=note, samples={"dgtui": first, "from_launch": launch}), FIRST_ROWS_LIMIT_S,
                          strict=False))
        rows.append(below(Row("app-open", f"peak RSS with all {n:,} rows listed", net.name, "MB", max(peak),
                              samples={"dgtui": peak}), OPEN_MEMORY_LIMIT_MB))
    return rows


def run_keys(ctx: Context) -> list[Row]:
    reason = app_available()
    if reason:
        return _unavailable("app-keys", "keystroke to screen", ctx, reason)
    size = ctx.sizes.keystroke_restore_bytes
    folder = ctx.env.files("app-keys")
    blob = datasets.big_file(folder / "a-big-restore.bin", size, "keys")
    ctx.env.ensure_bucket(KEYS_BUCKET)
    admin = ctx.env.admin()
    prefix = f"restore-{size}/"
    try:
        admin.head_object(Bucket=KEYS_BUCKET, Key=prefix + blob.name)
    except admin.exceptions.ClientError:
        ctx.log(f"app: uploading the {size / 2**20:.0f} MB object to restore")
        setup = ctx.env.dgtui(ctx.env.server.endpoint_url, ctx.env.scratch("app-keys-setup"))
        setup.upload(blob, f"s3://{KEYS_BUCKET}/{prefix}")
        setup.close()
        for i in range(60):  # rows to move the cursor over, after the big object
            admin.put_object(Bucket=KEYS_BUCKET, Key=f"{prefix}notes-{i:03d}.txt", Body=b"note %d\n" % i)
    blob.unlink(missing_ok=True)
    url = f"s3://{KEYS_BUCKET}/{prefix}"
    rows: list[Row] = []
    size_text = f"{size / 2**30:.0f} GB" if size >= 2**30 else f"{size / 2**20:.0f} MB"
    for net in ctx.networks:
        ctx.log(f"app: keystrokes during a {size_text} restore over {net.name}")
        out = ctx.env.scratch(f"app-keys-out-{label(net)}")
        child = check(run_child(driver("keys", net.endpoint_url, str(ctx.env.scratch("app-keys-cache")), url,
                                       str(out), str(ctx.sizes.keystrokes)),
                                ctx.env.child_env(net.endpoint_url), cwd=str(ctx.env.work)), "app keys")
        result = json.loads(child.stdout.strip().splitlines()[-1])
        all_ms = [x * 1000 for x in result["latencies_s"]]
        ms = [x for x, during in zip(all_ms, result["during_restore"]) if during]
        if ms:
            note = f"{len(ms)} keystrokes while the restore ran, max {max(ms):.0f} ms"
        else:
            ms = all_ms
            note = (f"the restore ended before a keystroke could be timed during it; {len(ms)} keystrokes "
                    f"timed right after it") if ms else "no keystroke was measured"
        note += f"; restore ended '{result['transfer_state']}'"
        if result["transfer_state"] != "done":
            note += f" ({result['transfer_result']})"
        rows.append(below(Row("app-keys", f"keystroke to screen during a {size_text} restore", net.name, "ms",
                              median(ms) if ms else None, note=note, samples={"dgtui": ms}), KEY_LIMIT_MS))
        import shutil

        shutil.rmtree(out, ignore_errors=True)
    return rows
