"""Regenerate the PNG screenshots of dgtui's main screens.

    .venv/bin/python screenshots/make_screenshots.py

Starts a local S3 server in a temporary folder, uploads a small fixed set of
backups, drives the app headless and saves browser, details, transfers, help,
error and savings-by-folder pictures at 120x36, and the browser at 80x24, here (or only those named as arguments), as SVG (Textual's export) and PNG (converted with
cairosvg or rsvg-convert, whichever is installed; without either only the
SVGs are written).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path
from typing import Any, Awaitable, Callable

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from dgtui import DgClient, create_client  # noqa: E402
from dgtui.app.app import DgtuiApp  # noqa: E402
from dgtui.app.screens.connection_error import ConnectionErrorScreen  # noqa: E402
from dgtui.app.screens.details import DetailsScreen  # noqa: E402
from dgtui.app.transfer_state import Transfer  # noqa: E402
from dgtui.app.widgets.bucket_tree import BucketTree  # noqa: E402
from dgtui.app.widgets.object_table import ObjectTable  # noqa: E402
from dgtui.app.widgets.stats_panel import StatsPanel  # noqa: E402
from dgtui.app.widgets.transfers_panel import TransfersPanel  # noqa: E402
from dgtui.demo.server import LocalS3Server  # noqa: E402

SIZE = (120, 36)
#: the smallest terminal the app is laid out for
NARROW = (80, 24)
BUCKET = "backups"
CLOCK = 1000.0
MIB = 1024 * 1024


def same_time(_iso: str) -> str:
    return "2025-01-15 09:30"


def archive(version: int, size: int = 2 * MIB) -> bytes:
    data = bytearray(random.Random(3).randbytes(size))
    data[version * 4096:version * 4096 + 512] = bytes([version]) * 512
    return bytes(data)


def seed(client: DgClient) -> None:
    client.create_bucket(Bucket=BUCKET)
    client.create_bucket(Bucket="media")
    for day in range(4):
        client.put_object(Bucket=BUCKET, Key=f"nightly/site-2025-01-{12 + day}.tar", Body=archive(day))
    client.put_object(Bucket=BUCKET, Key="nightly/RESTORE-NOTES.txt", Body=b"restore with dgtui\n" * 20)
    client.put_object(Bucket=BUCKET, Key="db/orders-2025-01-15.sql", Body=b"insert into orders values (1);\n" * 900)
    client.put_object(Bucket=BUCKET, Key="config/app.yaml", Body=b"debug: false\n")


async def until(pilot: Any, predicate: Callable[[], Any], timeout: float = 30.0) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not (value := predicate()):
        if loop.time() > deadline:
            raise TimeoutError(str(predicate))
        await pilot.pause(0.05)
    return value


async def browser_ready(pilot: Any) -> None:
    screen = pilot.app.screen
    table = screen.query_one(ObjectTable)
    tree = screen.query_one(BucketTree)
    await until(pilot, lambda: table.location is not None and not table.listing and table.view)
    await until(pilot, lambda: not table.reading_metadata)  # the rows in view show their type and sizes
    node = await until(pilot, lambda: tree.node_for_bucket(BUCKET))
    await until(pilot, lambda: node.data.loaded)
    await pilot.pause(0.2)


async def browser(pilot: Any) -> None:
    await browser_ready(pilot)
    await pilot.press("c")
    stats = pilot.app.screen.query_one(StatsPanel)
    await until(pilot, lambda: stats.detailed is not None and not stats.running)


async def details(pilot: Any) -> None:
    await browser_ready(pilot)
    table = pilot.app.screen.query_one(ObjectTable)
    while table.current is not None and table.current.name != "site-2025-01-14.tar":
        await pilot.press("down")
    await pilot.press("enter")
    screen = await until(pilot, lambda: isinstance(pilot.app.screen, DetailsScreen) and pilot.app.screen)
    await until(pilot, lambda: screen.info is not None)


async def transfers(pilot: Any) -> None:
    await browser_ready(pilot)
    panel = pilot.app.screen.query_one(TransfersPanel)
    done = Transfer("download", "site-2025-01-13.tar", "/home/me/restore", state="done",
                    result="sha256 verified · 2.0 MiB · /home/me/restore/site-2025-01-13.tar")
    uploaded = Transfer("upload", "site-2025-01-16.tar", f"s3://{BUCKET}/nightly/", state="done",
                        result="stored as delta: 99.9% saved (2.0 MiB → 1.1 KiB), verified")
    running = Transfer("download", "site-2025-01-15.tar", "/home/me/restore", stage="downloading",
                       stage_done=730 * MIB, stage_total=1800 * MIB)
    running_history = deque([(CLOCK - 5.0, 520 * MIB), (CLOCK, 730 * MIB)])
    folder = Transfer("download", f"s3://{BUCKET}/db/", "/home/me/restore/db", items_total=12, items_done=5,
                      stage="fetching reference", stage_done=90 * MIB, stage_total=310 * MIB)
    folder_history = deque([(CLOCK - 3.0, 30 * MIB), (CLOCK, 90 * MIB)])
    for transfer, history in ((done, None), (uploaded, None), (running, running_history),
                              (folder, folder_history)):
        panel.add(transfer)
        if history is not None:
            transfer.samples = history
    await pilot.pause(0.3)


async def help_screen(pilot: Any) -> None:
    await browser_ready(pilot)
    await pilot.press("question_mark")
    await pilot.pause(0.3)


def seed_layout(client: DgClient) -> None:
    """Releases kept one version per folder, the layout savings by folder warns about."""
    for minor in range(5):
        client.put_object(Bucket=BUCKET, Key=f"releases/acme/1.{minor}.0/acme-1.{minor}.0.zip",
                          Body=archive(10 + minor, size=3 * MIB))


async def savings(pilot: Any) -> None:
    from dgtui.app.screens.savings import SavingsScreen

    await browser_ready(pilot)
    await pilot.press("s")
    screen = await until(pilot, lambda: isinstance(pilot.app.screen, SavingsScreen) and pilot.app.screen)
    await until(pilot, lambda: screen.report is not None and screen.running is None)
    await pilot.press("e")
    await until(pilot, lambda: screen.report.exact and screen.running is None)
    await pilot.press(*["up"] * 5)  # the largest folder, where the layout is
    await pilot.press("m")
    await until(pilot, lambda: screen.report.advice[0].shared_stored_bytes is not None and screen.running is None)
    await pilot.pause(0.2)


async def error(pilot: Any) -> None:
    await until(pilot, lambda: isinstance(pilot.app.screen, ConnectionErrorScreen), timeout=60)
    await pilot.pause(0.2)


async def shoot(app: DgtuiApp, steps: Callable[[Any], Awaitable[None]], name: str,
                size: tuple[int, int] = SIZE) -> Path:
    async with app.run_test(size=size) as pilot:
        await steps(pilot)
        svg = app.export_screenshot(title="dgtui")
    path = HERE / f"{name}.svg"
    path.write_text(svg, encoding="utf-8")
    return path


def to_png(svg_path: Path) -> Path | None:
    """PNG beside the SVG; the terminal font is swapped for a local monospace one."""
    svg = svg_path.read_text(encoding="utf-8")
    svg = re.sub(r"@font-face \{.*?\}", "", svg, flags=re.S)
    svg = svg.replace("font-family: Fira Code, monospace;", "font-family: DejaVu Sans Mono, monospace;")
    png = svg_path.with_suffix(".png")
    try:
        import cairosvg  # type: ignore[import-not-found]
    except ImportError:
        converter = shutil.which("rsvg-convert")
        if converter is None:
            return None
        subprocess.run([converter, "-w", "1400", "-o", str(png)], input=svg.encode(), check=True)
        return png
    cairosvg.svg2png(bytestring=svg.encode("utf-8"), write_to=str(png), output_width=1400)
    return png


async def main() -> int:
    with tempfile.TemporaryDirectory(prefix="dgtui-shots-") as tmp:
        os.environ["DGTUI_CACHE_DIR"] = os.path.join(tmp, "cache")
        server = LocalS3Server(Path(tmp) / "s3").start()
        try:
            def client() -> DgClient:
                return create_client(endpoint_url=server.endpoint_url, aws_access_key_id=server.access_key,
                                     aws_secret_access_key=server.secret_key, region_name=server.region,
                                     cache_dir=Path(tmp) / "cache")

            seed(client())

            def app(start: str | None = f"s3://{BUCKET}/nightly/", factory: Callable[[], DgClient] = client,
                    endpoint: str | None = None) -> DgtuiApp:
                return DgtuiApp(factory, start_url=start, time_format=same_time, clock=lambda: CLOCK,
                                download_dir="/home/me/restore", endpoint_label=endpoint)

            unreachable = "http://127.0.0.1:9"
            wanted = set(sys.argv[1:])  # names of the pictures to make; none: all of them
            shots = []
            for name, steps, make in (
                ("browser", browser, app), ("details", details, app), ("transfers", transfers, app),
                ("help", help_screen, app),
                ("error", error, lambda: app(None, lambda: create_client(
                    endpoint_url=unreachable, aws_access_key_id="x", aws_secret_access_key="y",
                    region_name="us-east-1"), unreachable)),
            ):
                if not wanted or name in wanted:
                    shots.append(await shoot(make(), steps, name))
            if not wanted or "browser-80x24" in wanted:
                shots.append(await shoot(app(), browser, "browser-80x24", NARROW))
            if not wanted or "savings" in wanted:
                seed_layout(client())  # after the others, whose pictures do not show it
                shots.append(await shoot(app(f"s3://{BUCKET}/"), savings, "savings"))
        finally:
            server.stop()
    for svg in shots:
        png = to_png(svg)
        print(png or f"{svg} (no SVG converter installed: pip install cairosvg)")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
