"""A big folder's first rows are painted before the rest of it is asked for (start-up over a thin link)."""

from __future__ import annotations

import pytest

from dgtui.app.widgets.object_table import ObjectTable

from .helpers import BIG_COUNT, BIG_PREFIX, make_app, make_client, table_settled, wait_for


@pytest.mark.asyncio
async def test_the_first_rows_are_on_screen_before_the_folders_ranges_are_listed(s3_server, big_bucket, tmp_path):
    """The first page of a 5,000-object folder is painted while nothing else of it is listed; its ranges follow,
    and the folder ends up whole."""
    client = make_client(s3_server, tmp_path / "cache")  # a new cache: no page breaks of an earlier listing
    app = make_app(client, f"s3://{big_bucket}/{BIG_PREFIX}")
    painted = [0]  # rows of the folder in the last frame the app displayed
    rows_when_asked: list[int] = []  # what was painted when each request for the folder went out

    def asked(params, **_):
        if params.get("query_string", {}).get("prefix") == BIG_PREFIX:
            rows_when_asked.append(painted[0])

    client.boto3_client.meta.events.register("before-call.s3.ListObjectsV2", asked)
    original = app._display

    def display(screen, renderable):
        result = original(screen, renderable)
        tables = list(app.screen.query(ObjectTable)) if renderable is not None else []
        if tables and tables[0].location is not None:
            painted[0] = len(tables[0].view)
        return result

    app._display = display
    async with app.run_test(size=(120, 36)) as pilot:
        table = await wait_for(pilot, lambda: app.screen.query(ObjectTable).first(ObjectTable), what="the table")
        await table_settled(pilot, table, timeout=60)
        assert len(table.objects) == BIG_COUNT
        assert len(rows_when_asked) > 2, "the folder was listed in ranges"
        assert rows_when_asked[0] == 0
        assert all(rows > 0 for rows in rows_when_asked[1:]), rows_when_asked


@pytest.mark.asyncio
async def test_the_footer_keys_are_not_restyled_one_by_one(s3_server, big_bucket, tmp_path, monkeypatch):
    """Each footer key starts with the footer's compact value: composing the footer (at start, on every focus
    change) styles the keys once, without a second style pass for each key as its binding settles."""
    from textual.widgets._footer import FooterKey

    from dgtui.app.widgets.footer import AppFooter

    restyled: list[str] = []
    original = FooterKey.update_node_styles

    def update_node_styles(self, *args, **kwargs):
        restyled.append(self.key)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FooterKey, "update_node_styles", update_node_styles)
    app = make_app(make_client(s3_server, tmp_path / "cache"), f"s3://{big_bucket}/{BIG_PREFIX}")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await wait_for(pilot, lambda: app.screen.query(ObjectTable).first(ObjectTable), what="the table")
        await table_settled(pilot, table, timeout=60)
        footer = app.screen.query_one(AppFooter)
        keys = await wait_for(pilot, lambda: list(footer.query(FooterKey)), what="the footer's keys")
        assert all(key.compact == footer.compact and key.has_class("-compact") == footer.compact for key in keys)
        restyled.clear()
        await pilot.press("tab")  # another pane: the footer is composed again with its keys
        await wait_for(pilot, lambda: app.focused is not table, what="the focus to move")
        await pilot.pause()
        assert list(footer.query(FooterKey)), "the footer shows keys"
        assert restyled == []


@pytest.mark.asyncio
async def test_the_stats_panel_fits_its_lines_once_the_listing_is_complete(s3_server, big_bucket, tmp_path):
    """At 80 columns "Listed here: counting…" takes two lines while a folder is listed: once the listing is
    complete the panel is one line shorter again, not left with a blank line (the first page is painted
    before the rest of a folder is listed, so the counting state is on screen)."""
    from dgtui.app.object_rows import ListingSummary
    from dgtui.app.widgets.stats_panel import StatsPanel

    app = make_app(make_client(s3_server, tmp_path / "cache"), f"s3://{big_bucket}/{BIG_PREFIX}")
    async with app.run_test(size=(80, 24)) as pilot:
        table = await wait_for(pilot, lambda: app.screen.query(ObjectTable).first(ObjectTable), what="the table")
        await table_settled(pilot, table, timeout=60)
        stats = app.screen.query_one(StatsPanel)
        location, done = table.location, table.summary
        assert done.complete
        await pilot.pause()
        complete_height = stats.size.height
        stats.show_summary(location, ListingSummary(objects=1000, deltas=0, stored_bytes=1, complete=False))
        await pilot.pause()
        assert stats.size.height == complete_height + 1, "the counting title wraps at this width"
        stats.show_summary(location, done)
        await pilot.pause()
        assert stats.size.height == complete_height
