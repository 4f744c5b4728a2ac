"""Pictures of the main screens, compared with the accepted ones in __snapshots__/.

The data is fixed (same names, same bytes), timestamps go through a fixed
formatter, the transfer panel is fed a frozen state and clock, and only
buckets named ``snap-*`` are shown, so every run draws the same picture.
Update with ``pytest tests/app/test_snapshots.py --snapshot-update`` and look
at the SVGs before committing them.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import pytest

from dgtui import DgClient
from dgtui.app.app import DgtuiApp
from dgtui.app.screens.details import DetailsScreen
from dgtui.app.transfer_state import Transfer
from dgtui.app.widgets.bucket_tree import BucketTree
from dgtui.app.widgets.object_table import ObjectTable
from dgtui.app.widgets.stats_panel import StatsPanel
from dgtui.app.widgets.transfers_panel import TransfersPanel

from .helpers import fixed_time, make_client, release_bytes, screen_of, table_settled, wait_for

SIZE = (100, 30)
SNAP_BUCKET = "snap-backups"
FROZEN_CLOCK = 1000.0
MIB = 1024 * 1024


def only_snapshot_buckets(client: DgClient) -> DgClient:
    """The session's server holds other tests' buckets too; show only ours."""
    list_all = client.list_buckets

    def list_buckets(**kwargs: Any) -> dict[str, Any]:
        result = list_all(**kwargs)
        result["Buckets"] = [b for b in result["Buckets"] if b["Name"].startswith("snap-")]
        return result

    client.list_buckets = list_buckets  # type: ignore[method-assign]
    return client


@pytest.fixture(scope="module")
def snap_client(s3_server, tmp_path_factory) -> DgClient:
    client = only_snapshot_buckets(make_client(s3_server, tmp_path_factory.mktemp("snap-cache")))
    client.create_bucket(Bucket=SNAP_BUCKET)
    client.create_bucket(Bucket="snap-photos")
    for version in range(3):
        client.put_object(Bucket=SNAP_BUCKET, Key=f"releases/app-1.{version}.tar", Body=release_bytes(version))
    client.put_object(Bucket=SNAP_BUCKET, Key="releases/[bold]CHANGES[red] \x1b[31m.txt", Body=b"1.2: fixes\n" * 40)
    client.put_object(Bucket=SNAP_BUCKET, Key="db/2025-01-15.sql", Body=b"insert into t values (1);\n" * 500)
    client.put_object(Bucket=SNAP_BUCKET, Key="db/2025-01-16.sql", Body=b"insert into t values (2);\n" * 520)
    # Metadata in the cache from the start (the table would read it anyway): no HEAD while pictures are taken.
    client.get_bucket_stats(SNAP_BUCKET, detailed_stats=True)
    yield client
    client.close()


def snapshot_app(client: DgClient, start_url: str | None) -> DgtuiApp:
    return DgtuiApp(lambda: client, start_url=start_url, time_format=fixed_time, clock=lambda: FROZEN_CLOCK,
                    download_dir="/home/me/restore", endpoint_label="http://s3.example:8333",
                    metadata_in_view=False)


async def browser_ready(pilot) -> None:
    app = pilot.app
    table = app.screen.query_one(ObjectTable)
    tree = app.screen.query_one(BucketTree)
    await wait_for(pilot, lambda: table.location is not None and not table.listing and table.view, what="table")
    await table_settled(pilot, table)  # the rows in view show their type and sizes
    node = await wait_for(pilot, lambda: tree.node_for_bucket(SNAP_BUCKET), what="bucket node")
    await wait_for(pilot, lambda: node.data.loaded, what="bucket folders")
    await pilot.pause()


def test_browser_with_exact_stats(snap_compare, snap_client):
    async def run_before(pilot) -> None:
        await browser_ready(pilot)
        await pilot.press("c")
        stats = pilot.app.screen.query_one(StatsPanel)
        await wait_for(pilot, lambda: stats.detailed is not None and not stats.running, what="exact stats")

    assert snap_compare(snapshot_app(snap_client, f"s3://{SNAP_BUCKET}/releases/"), terminal_size=SIZE,
                        run_before=run_before)


def test_details(snap_compare, snap_client):
    async def run_before(pilot) -> None:
        await browser_ready(pilot)
        app = pilot.app
        table = app.screen.query_one(ObjectTable)
        while table.current is not None and table.current.name != "app-1.1.tar":
            await pilot.press("down")
        await pilot.press("enter")
        screen = await screen_of(pilot, DetailsScreen)
        await wait_for(pilot, lambda: screen.info is not None, what="metadata")

    assert snap_compare(snapshot_app(snap_client, f"s3://{SNAP_BUCKET}/releases/"), terminal_size=SIZE,
                        run_before=run_before)


def frozen_transfers() -> list[Transfer]:
    running = Transfer("download", "app-1.2.tar", "/home/me/restore", stage="downloading",
                       stage_done=18 * MIB, stage_total=45 * MIB)
    running.samples = deque([(FROZEN_CLOCK - 4.0, 6 * MIB), (FROZEN_CLOCK, 18 * MIB)])
    several = Transfer("download", "3 objects", "/home/me/restore", items_total=3, items_done=1, bytes_written=45 * MIB,
                       stage="fetching reference", stage_done=2 * MIB, stage_total=8 * MIB)
    several.samples = deque([(FROZEN_CLOCK - 2.0, 0), (FROZEN_CLOCK, 2 * MIB)])
    uploaded = Transfer("upload", "app-1.3.tar", f"s3://{SNAP_BUCKET}/releases/", state="done",
                        result="stored as delta: 99.9% saved (293.0 KiB → 225 B), verified")
    restored = Transfer("download", "app-1.0.tar", "/home/me/restore", state="done",
                        result="sha256 verified · 293.0 KiB · /home/me/restore/app-1.0.tar")
    return [restored, uploaded, running, several]


def test_transfers_in_progress(snap_compare, snap_client):
    async def run_before(pilot) -> None:
        await browser_ready(pilot)
        panel = pilot.app.screen.query_one(TransfersPanel)
        for transfer in frozen_transfers():
            samples = deque(transfer.samples)
            panel.add(transfer)
            transfer.samples = samples  # keep the frozen history, not the clock's
        await pilot.pause(0.3)

    assert snap_compare(snapshot_app(snap_client, f"s3://{SNAP_BUCKET}/releases/"), terminal_size=SIZE,
                        run_before=run_before)


def test_help(snap_compare, snap_client):
    async def run_before(pilot) -> None:
        await browser_ready(pilot)

    assert snap_compare(snapshot_app(snap_client, f"s3://{SNAP_BUCKET}/releases/"), press=["question_mark"],
                        terminal_size=SIZE, run_before=run_before)


def test_connection_error(snap_compare, s3_server, tmp_path):
    from dgtui.app.screens.connection_error import ConnectionErrorScreen

    endpoint = "http://127.0.0.1:9"  # the discard port: nothing listens there
    app = DgtuiApp(lambda: make_client(s3_server, tmp_path / "cache", endpoint_url=endpoint),
                   time_format=fixed_time, clock=lambda: FROZEN_CLOCK, endpoint_label=endpoint)

    async def run_before(pilot) -> None:
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConnectionErrorScreen), timeout=60)
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_savings_by_folder(snap_compare, snap_client, monkeypatch, tmp_path):
    from dgtui.app.screens.savings import SavingsScreen

    monkeypatch.setenv("DGTUI_CONFIG", str(tmp_path / "none.toml"))  # the list price, whatever this machine has

    async def run_before(pilot) -> None:
        await browser_ready(pilot)
        await pilot.press("s")
        screen = await screen_of(pilot, SavingsScreen)
        await wait_for(pilot, lambda: screen.report is not None and screen.running is None, what="quick report")
        await pilot.press("e")
        await wait_for(pilot, lambda: screen.report.exact and screen.running is None, what="exact report")
        await pilot.pause()

    assert snap_compare(snapshot_app(snap_client, f"s3://{SNAP_BUCKET}/"), terminal_size=SIZE,
                        run_before=run_before)


# -- 80x24: every screen shows its essential columns whole, says what it hides, and whole footer keys ----------

SMALL = (80, 24)


def test_browser_at_80x24(snap_compare, snap_client):
    async def run_before(pilot) -> None:
        await browser_ready(pilot)
        table = pilot.app.screen.query_one(ObjectTable)
        assert table.hidden_columns == ["Type", "Modified"]

    assert snap_compare(snapshot_app(snap_client, f"s3://{SNAP_BUCKET}/releases/"), terminal_size=SMALL,
                        run_before=run_before)


def test_details_at_80x24(snap_compare, snap_client):
    async def run_before(pilot) -> None:
        await browser_ready(pilot)
        table = pilot.app.screen.query_one(ObjectTable)
        while table.current is not None and table.current.name != "app-1.1.tar":
            await pilot.press("down")
        await pilot.press("enter")
        screen = await screen_of(pilot, DetailsScreen)
        await wait_for(pilot, lambda: screen.info is not None, what="metadata")

    assert snap_compare(snapshot_app(snap_client, f"s3://{SNAP_BUCKET}/releases/"), terminal_size=SMALL,
                        run_before=run_before)


def test_savings_by_folder_at_80x24(snap_compare, snap_client, monkeypatch, tmp_path):
    from dgtui.app.screens.savings import SavingsScreen
    from dgtui.app.widgets.savings_table import SavingsTable

    monkeypatch.setenv("DGTUI_CONFIG", str(tmp_path / "none.toml"))

    async def run_before(pilot) -> None:
        await browser_ready(pilot)
        await pilot.press("s")
        screen = await screen_of(pilot, SavingsScreen)
        await wait_for(pilot, lambda: screen.report is not None and screen.running is None, what="quick report")
        await pilot.press("e")
        await wait_for(pilot, lambda: screen.report.exact and screen.running is None, what="exact report")
        table = screen.query_one(SavingsTable)
        assert table.shown_columns[:4] == ("name", "stored", "original", "saved")
        await pilot.pause()

    assert snap_compare(snapshot_app(snap_client, f"s3://{SNAP_BUCKET}/"), terminal_size=SMALL,
                        run_before=run_before)


def test_transfers_at_80x24(snap_compare, snap_client):
    from dgtui.app.widgets.transfers_panel import TransferView

    async def run_before(pilot) -> None:
        await browser_ready(pilot)
        panel = pilot.app.screen.query_one(TransfersPanel)
        for transfer in frozen_transfers():
            samples = deque(transfer.samples)
            panel.add(transfer)
            transfer.samples = samples
        await pilot.pause(0.3)
        lines = [line for view in panel.query(TransferView) for line in view.render().plain.splitlines()]
        assert lines and not [line for line in lines if "…" in line], "the numbers of a transfer are not cut"

    assert snap_compare(snapshot_app(snap_client, f"s3://{SNAP_BUCKET}/releases/"), terminal_size=SMALL,
                        run_before=run_before)
