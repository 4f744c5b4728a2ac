"""Drives the dgtui app headless (Textual's ``run_test`` pilot) in a process of its own.

    python -m bench.app_driver open <endpoint> <cache dir> <s3 url> <launch time>
    python -m bench.app_driver keys <endpoint> <cache dir> <s3 url> <download dir> <keystrokes>

Prints one JSON object. "On screen" means the frame the app hands to its
driver: the spy below wraps ``App._display`` and also renders each update to
terminal escape sequences, which is the work a real terminal frame costs
(only the write to the tty is missing in a headless run).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


def peak_rss() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


class FrameSpy:
    """Records every frame the app displays, with a probe's value at that moment."""

    def __init__(self, app, probe):
        self.frames: list[tuple[float, object]] = []
        self.probe = probe
        original = app._display

        def display(screen, renderable):
            if renderable is not None:
                render = getattr(renderable, "render_segments", None)
                if render is not None:
                    render(app.console)
                self.frames.append((time.perf_counter(), self.probe()))
            return original(screen, renderable)

        app._display = display

    def first_after(self, t0: float, want) -> float | None:
        for t, value in self.frames:
            if t >= t0 and want(value):
                return t
        return None


async def until(predicate, timeout: float, what: str, step: float = 0.002):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(step)


def make_app(endpoint: str, cache: str, url: str, download_dir: str | None = None):
    from dgtui import create_client
    from dgtui.app.app import DgtuiApp

    def factory():
        return create_client(endpoint_url=endpoint, cache_dir=cache)

    return DgtuiApp(factory, start_url=url, download_dir=download_dir)


def table_of(app):
    from dgtui.app.widgets.object_table import ObjectTable

    try:
        return app.screen.query_one(ObjectTable)
    except Exception:
        return None


async def open_case(endpoint: str, cache: str, url: str, launched: float) -> dict:
    from dgtui.cli import collector

    collector.hold()  # as the dgtui command starts the app: no cyclic collections while it imports
    import dgtui.app.app  # noqa: F401 - what starting the program costs, counted apart

    collector.resume()

    imported = time.time()
    t_app = time.perf_counter()
    app = make_app(endpoint, cache, url)
    state = {"table": None}

    def rows_shown() -> int:
        table = state["table"] or table_of(app)
        state["table"] = table
        return len(table.view) if table is not None else 0

    spy = FrameSpy(app, rows_shown)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(lambda: spy.first_after(t_app, lambda rows: rows > 0), 60, "first rows on screen")
        t_first = spy.first_after(t_app, lambda rows: rows > 0)
        table = state["table"]
        await until(lambda: table.location is not None and not table.listing, 600, "the whole listing", 0.05)
        t_all = time.perf_counter()
        objects = len(table.objects)
        await pilot.press("q")
    first_wall = imported + (t_first - t_app)
    return {"first_rows_s": t_first - t_app, "first_rows_from_launch_s": first_wall - launched,
            "imports_s": imported - launched, "all_rows_s": t_all - t_app, "objects": objects,
            "peak_rss": peak_rss()}


async def keys_case(endpoint: str, cache: str, url: str, download_dir: str, keystrokes: int) -> dict:
    from dgtui.app.screens.prompt import PromptScreen
    from dgtui.app.widgets.transfers_panel import TransfersPanel

    app = make_app(endpoint, cache, url, download_dir)
    state = {"table": None}

    def cursor() -> int:
        table = state["table"] or table_of(app)
        state["table"] = table
        return table.cursor_row if table is not None else -1

    spy = FrameSpy(app, cursor)
    latencies: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        table = await until(lambda: table_of(app), 60, "the table")
        await until(lambda: table.location is not None and not table.listing and table.view, 60, "the listing")
        table.focus()
        await pilot.press("home", "d")
        prompt = await until(lambda: isinstance(app.screen, PromptScreen) and app.screen, 30, "the restore prompt")
        await pilot.press("enter")
        await until(lambda: not isinstance(app.screen, PromptScreen), 30, "the prompt to close")
        panel = app.screen.query_one(TransfersPanel)
        transfer = await until(lambda: panel.transfers and panel.transfers[-1], 30, "the transfer")
        await until(lambda: transfer.bytes_moved > 0 or not transfer.active, 120, "bytes to flow")
        table.focus()
        await pilot.pause()
        during: list[bool] = []
        for i in range(keystrokes):
            key, expected = ("down", cursor() + 1) if i % 2 == 0 else ("up", cursor() - 1)
            active = transfer.active
            t0 = time.perf_counter()
            await pilot.press(key)
            t_frame = await until(lambda: spy.first_after(t0, lambda row: row == expected), 10, "the frame")
            latencies.append(t_frame - t0)
            during.append(active and transfer.active)
            if not transfer.active and any(during):
                break
            await asyncio.sleep(0.03)  # a fast typist: ~30 keys a second at most
        await until(lambda: not transfer.active, 3600, "the restore to end", 0.05)
        state_text, result = transfer.state, transfer.result
        await pilot.press("q")
    return {"latencies_s": latencies, "during_restore": during,
            "transfer_state": state_text, "transfer_result": result, "peak_rss": peak_rss()}


def main() -> int:
    what = sys.argv[1]
    if what == "open":
        endpoint, cache, url, launched = sys.argv[2:6]
        result = asyncio.run(open_case(endpoint, cache, url, float(launched)))
    elif what == "keys":
        endpoint, cache, url, download_dir, keystrokes = sys.argv[2:7]
        result = asyncio.run(keys_case(endpoint, cache, url, download_dir, int(keystrokes)))
    else:
        raise SystemExit(f"unknown: {what}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
