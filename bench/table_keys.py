"""Keys in the object table at many rows: time from the key to the frame that shows it, and its CPU.

    python -m bench.table_keys [rows]        (default 100,000)

No server: the table is mounted alone in a headless app (Textual's pilot) and is handed the pages a
listing would post, so what is timed is the table and the compositor, not the network. A key's time
runs from the press until the first frame showing the cursor where the key put it; that frame is
also turned into terminal escape sequences, as a real terminal frame would be (``bench.app_driver``
does the same). The machine's load shows in the wall-clock times; the CPU times (this process's)
much less. Prints one JSON object: for Down, Up, PageDown and End the median and p99 in ms, the
median CPU in ms and the median bytes of the frame. Most of the 200 Downs and 100 Ups scroll the
table by a row (the cursor is at the edge of the screen): they time a scroll, not only a cursor move.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time

PAGE = 1_000
COUNTS = {"down": 200, "up": 100, "pagedown": 40}
ENDS = 5


def page_of(start: int, stop: int):
    from dgtui import ListObjectsResult, ObjectInfo, ObjectKind

    # A third deltas, half of them with a known original size (the Saved column shows for those).
    contents = [ObjectInfo(key=f"big/file-{i:07d}.bin", size=1_000 + i, last_modified="2026-01-01T00:00:00.000Z",
                           etag=f'"{i}"', is_delta=i % 3 == 0,
                           kind=ObjectKind.DELTA if i % 3 == 0 else ObjectKind.DIRECT,
                           original_size=(50_000 + i) if i % 6 == 0 else None)
                for i in range(start, stop)]
    return ListObjectsResult(name="b", prefix="big/", delimiter="/", contents=contents)


def summary(samples: list[tuple[float, float, int]]) -> dict:
    wall = sorted(s[0] for s in samples)
    return {"median_ms": round(statistics.median(wall) * 1000, 1),
            "p99_ms": round(wall[max(0, int(len(wall) * 0.99) - 1)] * 1000, 1),
            "cpu_median_ms": round(statistics.median(s[1] for s in samples) * 1000, 1),
            "bytes_median": int(statistics.median(s[2] for s in samples))}


async def measure(rows: int) -> dict:
    from textual.app import App, ComposeResult

    from dgtui.app.messages import ListingDone, ListingPage, Location
    from dgtui.app.widgets.object_table import ObjectTable

    class Table(ObjectTable):
        def _list(self, job, location, request_id):  # type: ignore[override]
            """The pages come from ``measure``, not from a server."""

    class Bench(App):
        client = None
        info_cache: dict = {}

        def compose(self) -> ComposeResult:
            yield Table(time_format=lambda iso: iso[:16].replace("T", " "))

    app = Bench()
    frames: list[tuple[float, float, int, int]] = []  # wall, CPU, cursor row, bytes
    display = app._display

    def spy(screen, renderable):
        if renderable is not None:
            written = len(renderable.render_segments(app.console).encode())
            frames.append((time.perf_counter(), time.process_time(), app.query_one(Table).cursor_row, written))
        return display(screen, renderable)

    app._display = spy  # type: ignore[method-assign]
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.query_one(Table)
        table.focus()
        table.show(Location("b", "big/"))
        for start in range(0, rows, PAGE):
            table.post_message(ListingPage(table.request_id, page_of(start, min(rows, start + PAGE))))
        table.post_message(ListingDone(table.request_id))
        deadline = time.monotonic() + 600
        while table.listing or len(table.view) < rows:
            if time.monotonic() > deadline:
                raise TimeoutError("the rows never all showed")
            await pilot.pause(0.05)
        await pilot.pause(0.5)

        async def key(name: str, expected: int) -> tuple[float, float, int]:
            t0, c0 = time.perf_counter(), time.process_time()
            await pilot.press(name)
            deadline = time.monotonic() + 10
            while True:
                shown = [f for f in frames if f[0] >= t0 and f[2] == expected]
                if shown:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} never showed")
                await asyncio.sleep(0.001)
            await pilot.pause(0.03)  # a fast typist: about 30 keys a second
            wall, cpu, _row, written = shown[0]
            return wall - t0, cpu - c0, written

        page = max(table.scrollable_content_region.height - 2, 1)
        result: dict = {"rows": rows}
        for name, count in COUNTS.items():
            step = {"down": 1, "up": -1, "pagedown": page}[name]
            result[name] = summary([await key(name, max(0, min(rows - 1, table.cursor_row + step)))
                                    for _ in range(count)])
        ends = []
        for _ in range(ENDS):
            await key("home", 0)
            ends.append(await key("end", rows - 1))
        result["end"] = summary(ends)
    return result


def main() -> int:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(json.dumps(asyncio.run(measure(rows))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
