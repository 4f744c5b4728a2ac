"""Savings by folder in the app, and original sizes that fill in without HEADs."""

from __future__ import annotations

import time

import pytest

from dgtui.app.screens.savings import SavingsScreen
from dgtui.app.widgets.object_table import ObjectTable
from dgtui.app.widgets.savings_table import SavingsTable
from dgtui.app.widgets.stats_panel import StatsPanel

from ..core.test_savings import put_release_layout
from .helpers import make_app, table_settled, wait_for

pytestmark = pytest.mark.asyncio


@pytest.fixture
def layout_bucket(client, bucket, tmp_path):
    put_release_layout(client, bucket, tmp_path)
    return bucket


def count_heads(client) -> list[str]:
    """Every HEAD the client sends (through botocore) from now on."""
    seen: list[str] = []
    client.boto3_client.meta.events.register("before-call.s3.HeadObject",
                                             lambda params, **_: seen.append(params.get("url_path", "")))
    return seen


def detail_text(screen) -> str:
    """The lines under the table, as text."""
    return "\n".join(getattr(line, "plain", "") for line in screen._detail().renderables)


async def open_savings(pilot, app):
    await pilot.press("s")
    screen = await wait_for(pilot, lambda: isinstance(app.screen, SavingsScreen) and app.screen, what="screen")
    await wait_for(pilot, lambda: screen.report is not None and screen.running is None, timeout=30, what="report")
    return screen


async def test_drill_down_exact_and_back(client, layout_bucket):
    app = make_app(client, f"s3://{layout_bucket}/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: not table.listing and table.view, what="listing")
        screen = await open_savings(pilot, app)
        savings = screen.query_one(SavingsTable)
        assert [r.prefix for r in savings.rows_shown][0] == "releases/"  # the most stored bytes first
        assert savings.current.prefix == table.current.key == "docs/"  # the folder highlighted in the table
        assert not screen.report.exact
        await pilot.press("up")
        assert savings.current.prefix == "releases/"
        await pilot.press("enter")  # into releases/
        await wait_for(pilot, lambda: screen.location.prefix == "releases/" and screen.report is not None
                       and screen.report.prefix == "releases/", timeout=30, what="drill down")
        assert {r.prefix for r in savings.rows_shown} == {"releases/app/", "releases/product/"}
        await pilot.press("e")
        await wait_for(pilot, lambda: screen.report.exact and screen.running is None, timeout=30, what="exact")
        rows = {r.prefix: r for r in savings.rows_shown}
        assert rows["releases/product/"].reason == "each version sits in its own folder"
        await pilot.press("o")  # sort by the next column: original size
        assert savings.sort_column == "original"
        await pilot.press("backspace")
        await wait_for(pilot, lambda: screen.location.prefix == "" and screen.report is not None,
                       what="back up")
        assert savings.current is not None and savings.current.prefix == "releases/"  # lands where it came from
        await pilot.press("escape")
        assert not isinstance(app.screen, SavingsScreen)


async def test_opens_on_the_highlighted_folder_and_goes_up_beyond_the_start(client, layout_bucket):
    app = make_app(client, f"s3://{layout_bucket}/releases/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: not table.listing and table.view, what="listing")
        while table.current is not None and table.current.key != "releases/product/":
            await pilot.press("down")
        screen = await open_savings(pilot, app)
        savings = screen.query_one(SavingsTable)
        assert screen.location.prefix == "releases/" and savings.current.prefix == "releases/product/"
        await pilot.press("backspace")  # to the top of the bucket, not listed yet
        await wait_for(pilot, lambda: screen.location.prefix == "" and screen.report is not None
                       and screen.report.prefix == "", timeout=30, what="bucket top")
        assert savings.current.prefix == "releases/"


async def test_table_fills_in_from_the_metadata_cache_without_heads(client, layout_bucket, s3_server, tmp_path):
    # Exact statistics fill the on-disk cache...
    client.get_bucket_stats(layout_bucket, prefix="releases/app/", detailed_stats=True)
    # ...and a new session on that cache shows every original size with no HEAD.
    from .helpers import make_client

    fresh = make_client(s3_server, client.cache_dir)
    heads = count_heads(fresh)
    try:
        app = make_app(fresh, f"s3://{layout_bucket}/releases/app/")
        async with app.run_test(size=(120, 36)) as pilot:
            table = app.screen.query_one(ObjectTable)
            await wait_for(pilot, lambda: not table.listing and table.view, what="listing")
            await pilot.pause()
            rows = [r for r in table.view if not r.is_folder]
            assert len(rows) == 4 and all(r.info.original_size for r in rows)
            assert table.summary.unknown == 0
            await table_settled(pilot, table)  # nothing left for the rows in view to read
            assert heads == []
    finally:
        fresh.close()


async def test_panel_counts_unknown_rows_until_exact_stats_fill_them(client, layout_bucket, boto3_s3):
    # Logs that sort before the four deltas, so that the deltas are out of view: the table reads the
    # metadata of the rows in view only.
    for i in range(60):
        boto3_s3.put_object(Bucket=layout_bucket, Key=f"releases/app/a-log-{i:02d}.txt", Body=b"log")
    app = make_app(client, f"s3://{layout_bucket}/releases/app/", metadata_in_view=True)
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(ObjectTable)
        panel = app.screen.query_one(StatsPanel)
        await table_settled(pilot, table)
        assert [row.name for row in table.view[-4:]] == [f"app-1.{v}.zip" for v in range(4)]
        assert table.view[0].info.metadata_loaded and not table.view[-1].info.metadata_loaded
        assert table.summary.unknown == 4
        assert "4 without original size: c or s reads them" in str(panel.render().renderables[2])
        await pilot.press("c")
        await wait_for(pilot, lambda: table.summary.unknown == 0, timeout=30, what="rows filled")
        assert all(r.info.original_size for r in table.view[-4:])


async def test_panel_names_the_key_that_reads_rows_in_view_when_browsing_sends_no_head(client, layout_bucket):
    app = make_app(client, f"s3://{layout_bucket}/releases/app/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(ObjectTable)
        panel = app.screen.query_one(StatsPanel)
        await table_settled(pilot, table)
        unknown = table.summary.unknown
        assert unknown and not any(r.info.metadata_loaded for r in table.view if r.info is not None)
        text = str(panel.render().renderables[2])
        assert f"{unknown} without original size: c or s reads them (m: the rows in view)" in text
        await pilot.press("m")
        await wait_for(pilot, lambda: table.summary.unknown == 0, timeout=30, what="rows in view read")
        assert all(r.info.original_size for r in table.view if r.info is not None and r.info.is_delta)


async def test_sampled_totals_and_cancel_in_the_view(client, layout_bucket):
    app = make_app(client, f"s3://{layout_bucket}/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: not table.listing and table.view, what="listing")
        screen = await open_savings(pilot, app)
        real = client.folder_savings

        def slow_server(*args, should_cancel=None, **kwargs):  # a server that takes its time to answer
            while should_cancel is not None and not should_cancel():
                time.sleep(0.01)
            return real(*args, should_cancel=should_cancel, **kwargs)

        client.folder_savings = slow_server
        await pilot.press("e")
        assert screen.running == "exact"
        await pilot.press("e")  # cancels
        assert screen.running is None and screen.note == "exact cancelled"
        client.folder_savings = real
        await pilot.pause(0.2)
        assert not screen.report.exact and "exact cancelled" in detail_text(screen)
        await pilot.press("a")
        await wait_for(pilot, lambda: screen.location in screen.sampled and screen.running is None,
                       timeout=30, what="sampled")
        stats = screen.sampled[screen.location]
        assert stats.exact and stats.deltas == 8  # a bucket this small is read whole
        assert "Sampled: original" in detail_text(screen)


async def test_hostile_folder_names_render_literally(client, bucket):
    client.put_object(Bucket=bucket, Key="[red]x\x1b[31m/a.txt", Body=b"a")
    app = make_app(client, f"s3://{bucket}/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: not table.listing and table.view, what="listing")
        screen = await open_savings(pilot, app)
        savings = screen.query_one(SavingsTable)
        cell = savings.get_row_at(0)[0]  # the Folder column comes first
        assert cell.plain == "[red]x\\x1b[31m/"
