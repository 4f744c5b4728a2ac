"""What a key writes to the terminal: the lines it changed, nothing else (the app is used over SSH).

Every frame the app hands to its terminal is recorded (``App._display``): which screen lines and
columns it rewrites, and how many bytes that is. A cursor move rewrites the two rows that changed;
the tree, the stats panel, the location bar and the footer are not written unless they changed;
an idle app writes nothing.
"""

from __future__ import annotations

import dataclasses

import pytest
from textual._compositor import ChopsUpdate
from textual.geometry import Region

from dgtui import ObjectKind
from dgtui.app.widgets.object_table import ObjectTable
from dgtui.core.text import human_size

from .helpers import make_app, wait_for

ROWS = 80


class Frames:
    """The lines of every frame displayed since the last ``clear``."""

    def __init__(self, app) -> None:
        self.app = app
        self.spans: list[tuple[int, int, int]] = []
        self.full_frames = 0
        self.bytes = 0
        original = app._display

        def display(screen, renderable):
            if renderable is not None:
                if isinstance(renderable, ChopsUpdate):
                    self.spans.extend(renderable.spans)
                else:
                    self.full_frames += 1  # a whole screen (layout change)
                self.bytes += len(renderable.render_segments(app.console).encode())
            return original(screen, renderable)

        app._display = display

    def clear(self) -> None:
        self.spans, self.full_frames, self.bytes = [], 0, 0

    def lines(self) -> set[int]:
        return {y for y, _x1, _x2 in self.spans}

    def touching(self, region: Region) -> list[tuple[int, int, int]]:
        return [(y, x1, x2) for y, x1, x2 in self.spans
                if region.y <= y < region.bottom and x1 < region.right and x2 > region.x]

    def outside(self, region: Region) -> list[tuple[int, int, int]]:
        return [(y, x1, x2) for y, x1, x2 in self.spans
                if not (region.y <= y < region.bottom and region.x <= x1 and x2 <= region.right)]


@pytest.fixture
def many(client, bucket):
    for i in range(ROWS):
        client.put_object(Bucket=bucket, Key=f"p/file-{i:03d}.txt", Body=b"x" * (i + 1))
    for folder in ("a/", "b/", "c/"):
        client.put_object(Bucket=bucket, Key=f"p/{folder}inner.txt", Body=b"inner")
    return bucket


async def settle(pilot, frames: Frames) -> None:
    """Let every pending repaint reach the terminal (the metadata of rows in view included): then no worker
    runs and 0.3 s pass without output. On a loaded machine the workers take longer than any fixed pause;
    bounded at 30 s all the same."""
    from textual.worker import WorkerState

    for _ in range(3):
        await pilot.pause(0.3)
    for _ in range(100):
        busy = any(w.state in (WorkerState.PENDING, WorkerState.RUNNING) for w in pilot.app.workers)
        written = frames.bytes
        await pilot.pause(0.3)
        if not busy and frames.bytes == written:
            return


async def open_table(pilot, app) -> ObjectTable:
    table = app.screen.query_one(ObjectTable)
    await wait_for(pilot, lambda: table.location is not None and not table.listing and table.view, what="listing")
    table.focus()
    return table


def others(app) -> dict[str, Region]:
    screen = app.screen
    return {"tree": screen.query_one("#tree").region, "stats": screen.query_one("#stats").region,
            "location bar": screen.query_one("#location-bar").region,
            "footer": screen.query_one("AppFooter").region}


@pytest.mark.asyncio
async def test_a_cursor_move_rewrites_the_two_rows_it_changed(client, many):
    app = make_app(client, f"s3://{many}/p/")
    async with app.run_test(size=(120, 36)) as pilot:
        frames = Frames(app)
        table = await open_table(pilot, app)
        await settle(pilot, frames)
        frames.clear()
        top = table.region.y  # the table's header line
        for step in range(1, 4):
            await pilot.press("down")
            await settle(pilot, frames)
            assert table.cursor_row == step
            # View row i is on screen line top + 1 + i (no scroll yet): the row left and the row reached.
            assert frames.lines() == {top + step, top + 1 + step}, frames.spans
            assert frames.outside(table.region) == [] and frames.full_frames == 0
            for name, region in others(app).items():
                assert frames.touching(region) == [], f"the {name} was repainted by a cursor move"
            assert 0 < frames.bytes < 1_500, frames.bytes
            frames.clear()
        await pilot.press("up")
        await settle(pilot, frames)
        assert table.cursor_row == 2 and frames.lines() == {top + 3, top + 4}


@pytest.mark.asyncio
async def test_a_page_down_repaints_the_table_and_nothing_beside_it(client, many):
    app = make_app(client, f"s3://{many}/p/")
    async with app.run_test(size=(120, 36)) as pilot:
        frames = Frames(app)
        table = await open_table(pilot, app)
        await settle(pilot, frames)
        frames.clear()
        await pilot.press("pagedown")  # the last row in view: the cursor moves, the rows stay
        await settle(pilot, frames)
        assert table.scroll_y == 0 and len(frames.lines()) <= 3  # two rows, the location bar maybe
        frames.clear()
        await pilot.press("pagedown")
        await settle(pilot, frames)
        assert table.scroll_y > 0 and table.cursor_row > 0
        assert frames.spans and frames.outside(table.region) == [] and frames.full_frames == 0
        # One screen of rows, once: the metadata read after the scroll finds nothing new to paint.
        assert len(frames.spans) == len(frames.lines()) <= table.region.height
        # The row now on screen line 1 of the table is the one the scroll put there.
        assert table.render_line(1).text.strip().startswith(table.view[int(table.scroll_y)].name[:20])


@pytest.mark.asyncio
async def test_a_tree_move_repaints_two_tree_lines(client, many):
    app = make_app(client, f"s3://{many}/p/")
    async with app.run_test(size=(120, 36)) as pilot:
        frames = Frames(app)
        await open_table(pilot, app)
        tree = app.screen.query_one("#tree")
        tree.focus()
        await wait_for(pilot, lambda: tree.last_line >= 2, what="tree lines")
        await settle(pilot, frames)  # the tree reveals the open folder: its cursor goes there
        start = tree.cursor_line
        key, expected = ("down", start + 1) if start < tree.last_line else ("up", start - 1)
        frames.clear()
        await pilot.press(key)
        await settle(pilot, frames)
        assert tree.cursor_line == expected
        assert len(frames.lines()) == 2 and frames.outside(tree.region) == [], frames.spans


@pytest.mark.asyncio
async def test_an_idle_app_writes_nothing(client, many):
    app = make_app(client, f"s3://{many}/p/")
    async with app.run_test(size=(120, 36)) as pilot:
        frames = Frames(app)
        await open_table(pilot, app)
        await pilot.press("down", "down", "pagedown")
        await settle(pilot, frames)
        frames.clear()
        await pilot.pause(1.0)
        assert frames.spans == [] and frames.full_frames == 0 and frames.bytes == 0


@pytest.mark.asyncio
async def test_marking_repaints_the_marked_row_the_next_and_the_location_bar(client, many):
    app = make_app(client, f"s3://{many}/p/")
    async with app.run_test(size=(120, 36)) as pilot:
        frames = Frames(app)
        table = await open_table(pilot, app)
        await pilot.press("end")  # the objects come after the folders
        await pilot.press("home")
        await settle(pilot, frames)
        first_object = table.rows.view_folders
        await pilot.press(*["down"] * first_object)
        await settle(pilot, frames)
        frames.clear()
        await pilot.press("space")
        await settle(pilot, frames)
        top = table.region.y
        bar = app.screen.query_one("#location-bar").region
        assert table.marked == {table.view[first_object].key}
        assert frames.lines() == {top + 1 + first_object, top + 2 + first_object, bar.y}, frames.spans
        # The marked row shows its mark: the change is on screen, not only in the table's state.
        assert table.render_line(1 + first_object).text.startswith("*")


@pytest.mark.asyncio
async def test_a_row_is_sent_with_few_colour_changes_and_no_horizontal_scrollbar(client, many):
    app = make_app(client, f"s3://{many}/p/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_table(pilot, app)
        await pilot.press("down", "down")
        await settle(pilot, Frames(app))
        # Rows are cut to the width: no horizontal scrollbar (it cost a row, and a repaint per scroll).
        assert not table.show_horizontal_scrollbar
        index = table.rows.view_folders + 5  # an object row, not the cursor's
        strip = table.render_line(1 + index - int(table.scroll_y))
        row = table.view[index]
        assert row.name in strip.text and strip.cell_length == table.size.width
        # Spaces join the segment beside them: the name, sizes and gaps in one run, the dim date in another.
        styles = [segment.style for segment in strip if segment.text]
        changes = sum(1 for a, b in zip(styles, styles[1:]) if a != b)
        assert changes <= 4, [(segment.text, str(segment.style)) for segment in strip]
        # The padding to the table's width joins the last cell: no colour change of its own at the end of a row.
        last, before = [segment for segment in strip if segment.text][-2:][::-1]
        assert last.text.strip(" ") or last.style.bgcolor != before.style.bgcolor, \
            [(segment.text, str(segment.style)) for segment in strip]


@pytest.mark.asyncio
async def test_a_cursor_move_renders_the_two_lines_it_changed_and_moving_back_renders_none(client, many):
    app = make_app(client, f"s3://{many}/p/")
    async with app.run_test(size=(120, 36)) as pilot:
        frames = Frames(app)
        table = await open_table(pilot, app)
        await settle(pilot, frames)
        rendered: list[str] = []
        layouts: list[int] = []
        row_text, work_out_layout = table._row_text, table._work_out_layout

        def counting_row_text(row, layout, **kwargs):
            if frames.bytes == 0:  # for the key's frame (the next page is rendered after it, while idle)
                rendered.append(row.key)
            return row_text(row, layout, **kwargs)

        def counting_layout(width, longest_name):
            layouts.append(width)
            return work_out_layout(width, longest_name)

        table._row_text = counting_row_text
        table._work_out_layout = counting_layout
        frames.clear()
        await pilot.press("down")
        await settle(pilot, frames)
        assert table.cursor_row == 1
        # At most the two rows that changed (the one that lost the cursor may be ready from the next page's
        # rendering); the row that gained it is drawn for the key.
        assert set(rendered) <= {table.view[0].key, table.view[1].key} and rendered.count(table.view[1].key) == 1
        rendered.clear()
        frames.clear()
        await pilot.press("up")
        await settle(pilot, frames)
        # Both lines look as they did before the Down: they are sent again, but not rendered again.
        assert table.cursor_row == 0 and frames.bytes > 0
        assert rendered == []
        assert layouts == [], "the columns are laid out once per width, not per key"


@pytest.mark.asyncio
async def test_a_kept_line_follows_its_row_its_mark_and_the_focus(client, many):
    app = make_app(client, f"s3://{many}/p/")
    async with app.run_test(size=(120, 36)) as pilot:
        frames = Frames(app)
        table = await open_table(pilot, app)
        await settle(pilot, frames)
        index = table.rows.view_folders + 2  # an object row, not the cursor's
        row = table.view[index]
        line = 1 + index - int(table.scroll_y)
        assert table.render_line(line) is table.render_line(line), "an unchanged line is kept"
        assert "delta" not in table.render_line(line).text
        # Its metadata arrives (the details screen read it): the line shows it.
        assert row.info is not None
        table.update_info(dataclasses.replace(row.info, kind=ObjectKind.DELTA, is_delta=True,
                                              original_size=123_456_789, metadata_loaded=True))
        shown = table.render_line(line).text
        assert "delta" in shown and human_size(123_456_789) in shown
        # Marks changed from outside the table (the browser clears them once a restore starts).
        table.marked.add(row.key)
        assert table.render_line(line).text.startswith("*")
        table.marked.clear()
        assert not table.render_line(line).text.startswith("*")
        # The cursor's line is drawn one way with the focus and another without.
        cursor_line = 1 + table.cursor_row - int(table.scroll_y)
        focused = [segment.style for segment in table.render_line(cursor_line)]
        app.screen.query_one("#tree").focus()
        await settle(pilot, frames)
        assert [segment.style for segment in table.render_line(cursor_line)] != focused


@pytest.mark.asyncio
async def test_the_page_a_page_down_shows_is_rendered_before_the_key(client, many):
    app = make_app(client, f"s3://{many}/p/")
    async with app.run_test(size=(120, 36)) as pilot:
        frames = Frames(app)
        table = await open_table(pilot, app)
        await settle(pilot, frames)
        before_the_frame: list[str] = []  # rows rendered after the key and before its frame was out
        row_text = table._row_text

        def counting_row_text(row, layout, **kwargs):
            if frames.bytes == 0:
                before_the_frame.append(row.key)
            return row_text(row, layout, **kwargs)

        table._row_text = counting_row_text
        scrolled = False
        for _ in range(3):  # the first moves the cursor down the screen, the next ones scroll a page
            await settle(pilot, frames)  # idle: the page a PageDown would show is rendered meanwhile
            before_the_frame.clear()
            frames.clear()
            top, cursor = int(table.scroll_y), table.cursor_row
            await pilot.press("pagedown")
            await wait_for(pilot, lambda c=cursor: table.cursor_row > c and frames.bytes > 0, what="the frame")
            scrolled = scrolled or int(table.scroll_y) > top
            # Every line the PageDown shows was ready when the key came: none was rendered for it.
            assert before_the_frame == []
        assert scrolled, "a PageDown that scrolls the table was tried"
