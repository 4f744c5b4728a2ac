"""The object table: folders and objects of one prefix, filled page by page.

It is a line-based ScrollView rather than a DataTable: the rows are an
:class:`~dgtui.app.object_rows.ObjectRows` (plain Python: merge, sort, filter,
marks, the books of metadata reads), only the visible lines are rendered, and
each rendered line is kept in a small cache until what it shows changes. The
column layout is worked out once per width (and again when a longer name
arrives), not per line.

The listing worker reads pages with a Delimiter (one LIST request per page,
no HEAD) and posts them back; rows show as soon as their page arrives. Once
the view settles (after new rows, a scroll, a filter or a sort), a second
worker fills the object rows in view from the metadata cache (this session's
and the on-disk one), so that their type (an object deltaglider_proxy
encrypted shows "encr.") and a delta's original size show without opening the
details. Browsing sends no HEAD: only with the setting ``metadata_in_view``
(``m``) does that worker read the metadata the cache lacks from the server.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Hashable, Iterable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from dgtui import CancelledError, ObjectInfo, ObjectKind
from dgtui.core.errors import BucketNotFoundError
from dgtui.core.format import is_housekeeping_key
from dgtui.core.stats import apply_metadata
from dgtui.jobs.job import Job
from dgtui.jobs.versions import FolderDeleted, read_folder_deleted

from ...core.text import column_digits, human_size, percent, plural, printable, safe_line
from ..jobs import JobFinished, JobRunner
from ..known import fill_known
from ..messages import (
    ListingChanged,
    ListingDone,
    ListingPage,
    ListingSummary,
    Location,
    Navigate,
)
from ..object_rows import ObjectRows, Row, deleted_rows

__all__ = ["ObjectTable", "Row", "merge_blanks", "kind_label"]

#: how often arriving pages are merged into the view while a listing runs
MERGE_INTERVAL_S = 0.25
#: the longest the listing job waits for the first page to be painted before it asks for the rest
FIRST_PAINT_WAIT_S = 2.0
#: how long the view must stay put (no scroll, filter, sort or new rows) before the metadata of the
#: rows in view is read: holding PageDown sends nothing until the key is let go
VISIBLE_METADATA_DELAY_S = 0.2
#: rendered lines kept: a few screens' worth, so that scrolling back and forth renders nothing again
LINE_CACHE_SIZE = 1024
#: lines of the next page rendered per turn of the message queue (about 2 ms: a key is not held up)
PREPARED_LINES_A_TURN = 4

log = logging.getLogger("dgtui.app")



@dataclass(frozen=True)
class Column:
    title: str
    width: int  # 0: takes the remaining width
    align: str  # "left" or "right"
    sort: str | None = None


MARK_COLUMN = Column("", 1, "left")
NAME_COLUMN = Column("Name", 0, "left", "name")
#: the Name column grows to the longest name shown, never beyond this: on a wide terminal the
#: numbers stay near the names
NAME_MAX_WIDTH = 120
NAME_MIN_WIDTH = 28

DISPLAY_ORDER = [
    Column("Stored", 9, "right", "size"),
    Column("Original", 10, "right", "original"),
    Column("Saved", 7, "right", "saved"),
    Column("Type", 6, "left"),
    Column("Modified", 16, "left", "date"),
    Column("Date", 10, "left", "date"),
]


def kind_label(info: ObjectInfo) -> str:
    if info.housekeeping:
        return "system"
    if info.encryption:
        return "encr."  # encrypted by deltaglider_proxy: only the proxy reads it
    if info.kind == ObjectKind.DELTA or info.is_delta:
        return "delta"
    if info.kind == ObjectKind.DIRECT:
        return "direct"
    if info.kind == ObjectKind.PLAIN:
        return "plain"
    return ""


@lru_cache(maxsize=256)  # a table uses a dozen styles; this is asked for every segment of every row drawn
def _shows_only_background(style: Style | None) -> bool:
    """Spaces in this style show its background and nothing else (no reverse, no lines through or under)."""
    return style is not None and not (style.reverse or style.underline or style.strike or style.overline
                                      or style.underline2 or style.link)


def merge_blanks(segments: Iterable[Segment]) -> list[Segment]:
    """The same cells with fewer style changes: what a terminal is sent for a row, over SSH, is mostly these.

    A run of spaces looks the same in any style with its background, so it joins the segment beside it
    (the padding of a cell, the gap between columns, an empty cell); neighbours of one style join too.
    A row of the table goes from about ten colour changes to two or three.
    """
    merged: list[Segment] = []
    for segment in segments:
        text, style, control = segment
        if merged and not control and text:
            before_text, before_style, before_control = merged[-1]
            if not before_control and before_style is not None and style is not None:
                if before_style == style:
                    merged[-1] = Segment(before_text + text, style)
                    continue
                if before_style.bgcolor == style.bgcolor and _shows_only_background(style) \
                        and _shows_only_background(before_style):
                    if not text.strip(" "):
                        merged[-1] = Segment(before_text + text, before_style)
                        continue
                    if not before_text.strip(" "):
                        merged[-1] = Segment(before_text + text, style)
                        continue
        merged.append(segment)
    return merged


class ObjectTable(ScrollView, can_focus=True):
    """Folders first, then objects, of the location being shown."""

    BINDINGS = [
        Binding("enter", "open", "Open", id="table.open"),
        Binding("backspace", "up", "Parent / edit filter", show=False, id="table.parent"),
        Binding("left,h", "up", "Parent", show=False, id="table.parent"),
        Binding("right,l", "open", "Open", show=False, id="table.open"),
        Binding("space", "toggle_mark", "Mark", id="table.mark"),
        Binding("a", "mark_all", "Mark all / none", show=False, id="table.mark-all"),
        Binding("up,k", "cursor_up", "Cursor up", show=False, id="table.cursor-up"),
        Binding("down,j", "cursor_down", "Cursor down", show=False, id="table.cursor-down"),
        Binding("pageup", "page_up", "Page up", show=False, id="table.page-up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="table.page-down"),
        Binding("home,g", "first", "First", show=False, id="table.first"),
        Binding("end,G", "last", "Last", show=False, id="table.last"),
        Binding("n", "sort('name')", "Sort by name (again: reverse)", show=False, id="table.sort-name"),
        Binding("S", "sort('size')", "Sort by stored size (again: reverse)", show=False, id="table.sort-stored"),
        Binding("o", "sort('original')", "Sort by original size (again: reverse)", show=False,
                id="table.sort-original"),
        Binding("percent_sign", "sort('saved')", "Sort by saved share (again: reverse)", show=False,
                id="table.sort-saved"),
        Binding("t", "sort('date')", "Sort by date (again: reverse)", show=False, id="table.sort-date"),
        Binding("m", "toggle_metadata_in_view", "Read metadata of rows in view (HEADs; on/off)", show=False,
                id="table.metadata-in-view"),
    ]

    COMPONENT_CLASSES = {
        "object-table--header",
        "object-table--cursor",
        "object-table--marked",
        "object-table--folder",
        "object-table--delta",
        "object-table--dim",
        "object-table--message",
        "object-table--damaged",
        "object-table--deleted",
    }

    DEFAULT_CSS = """
    ObjectTable {
        background: $surface;
        /* rows are cut to the width: a horizontal scrollbar would only cost a row, and its repaint
           on every scroll */
        overflow-x: hidden;
    }
    ObjectTable > .object-table--header { text-style: bold; color: $text-accent; }
    ObjectTable > .object-table--cursor { background: $boost; text-style: reverse; }
    ObjectTable:focus > .object-table--cursor { background: $accent; color: $text; text-style: bold; }
    ObjectTable > .object-table--marked { color: $text-warning; text-style: bold; }
    ObjectTable > .object-table--folder { color: $text-primary; text-style: bold; }
    ObjectTable > .object-table--delta { color: $text-success; }
    ObjectTable > .object-table--dim { color: $text-muted; }
    ObjectTable > .object-table--message { color: $text-muted; text-style: italic; }
    ObjectTable > .object-table--damaged { color: $text-error; text-style: bold; }
    """

    cursor_row: reactive[int] = reactive(0, always_update=True, layout=False, repaint=False)

    class Highlighted(Message):
        def __init__(self, table: "ObjectTable", row: Row | None) -> None:
            super().__init__()
            self.table = table
            self.row = row

    class EditFilter(Message):
        """Backspace while a filter is on: the filter loses its last character."""

    class OpenObject(Message):
        """Enter on an object: show its compression details."""

        def __init__(self, location: Location, info: ObjectInfo) -> None:
            super().__init__()
            self.location = location
            self.info = info

    class OpenDeleted(Message):
        """Enter on a deleted key: show that it is deleted, when, and its versions."""

        def __init__(self, location: Location, row: Row) -> None:
            super().__init__()
            self.location = location
            self.row = row

    def __init__(self, *, time_format: Callable[[str], str], name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.time_format = time_format
        #: the rows shown, their order, filter and marks
        self.rows = ObjectRows()
        #: the listing and the metadata reads run as jobs; the model tells their stale answers by request id
        self.jobs = JobRunner(self)
        self._time_cache: dict[str, str] = {}
        #: when arriving pages were last merged, and the timer of the next merge
        self._merged_at = 0.0
        self._merge_timer: Timer | None = None
        #: reads the metadata of the rows in view once the view has stayed put (see ``_view_moved``)
        self._metadata_timer: Timer | None = None
        self.hidden_columns: list[str] = []
        #: column layouts by width, for names up to ``_layouts_longest`` long
        self._layouts: dict[int, tuple[list[tuple[Column, int]], list[str]]] = {}
        self._layouts_longest = -1
        #: rendered lines; a key holds everything the line shows (see ``render_line``)
        self._lines: LRUCache[Hashable, Strip] = LRUCache(LINE_CACHE_SIZE)
        #: the Saved column's precision for the rows on screen, and what it was worked out for
        self._digits: tuple[tuple[int, int, int], int] | None = None
        #: the table's own style (its background) under every line, until the styles change
        self._base_style: Style | None = None
        #: which view the next page is being rendered for (see ``_prepare_next_page``)
        self._preparing = 0
        #: the deleted files were just asked for (the toggle): their arrival, or the lack of versioning, is said
        self._say_deleted = False

    # -- what the table shows (kept by ``rows``) -----------------------------------
    @property
    def location(self) -> Location | None:
        return self.rows.location

    @property
    def request_id(self) -> int:
        return self.rows.request_id

    @property
    def folders(self) -> list[Row]:
        return self.rows.folders

    @property
    def objects(self) -> list[Row]:
        return self.rows.objects

    @property
    def view(self) -> list[Row]:
        return self.rows.view

    @property
    def marked(self) -> set[str]:
        return self.rows.marked

    @property
    def sort_key(self) -> str:
        return self.rows.sort_key

    @property
    def sort_reverse(self) -> bool:
        return self.rows.sort_reverse

    @property
    def filter_text(self) -> str:
        return self.rows.filter_text

    @filter_text.setter
    def filter_text(self, text: str) -> None:
        self.rows.filter_text = text  # the next listing shows through it (``set_filter`` applies it now)

    @property
    def listing(self) -> bool:
        """A listing is under way (not Widget.loading: that would cover the table with a spinner)."""
        return self.rows.listing

    @property
    def message(self) -> str | None:
        return self.rows.message

    @property
    def summary(self) -> ListingSummary:
        return self.rows.summary

    # -- public API ------------------------------------------------------------
    @property
    def current(self) -> Row | None:
        return self.rows.row_at(self.cursor_row)

    @property
    def reading_metadata(self) -> bool:
        """The metadata of rows in view is about to be read, or being read."""
        return self._metadata_timer is not None or bool(self.rows.metadata_reading)

    @property
    def visible_objects(self) -> int:
        """Objects the view shows (after the filter)."""
        return self.rows.visible_objects

    def marked_rows(self) -> list[Row]:
        return self.rows.marked_rows()

    def show(self, location: Location, *, cursor_key: str | None = None) -> None:
        """Start listing ``location``; rows appear as pages arrive."""
        request_id = self.rows.start(location, cursor_key=cursor_key)
        self._stop_merge_timer()
        self._forget_view_metadata()
        gc.unfreeze()  # let the collector see what earlier screens left behind
        self._lines.clear()  # the rows they showed are gone
        self.cursor_row = 0
        self.scroll_to(y=0, animate=False)
        self._update_virtual_size()
        self.refresh()
        self._announce()
        for job in self.jobs.running("deleted"):
            self.jobs.forget(job)  # another folder's deleted files: not wanted any more
        self.jobs.start(Job(), lambda job: self._list(job, location, request_id), what="listing the folder",
                        group="listing")

    # -- deleted files (versioned buckets) ---------------------------------------
    @property
    def show_deleted(self) -> bool:
        return self.rows.show_deleted

    def toggle_deleted(self) -> None:
        """Show the keys of this folder whose latest version is a delete marker among the rows, or stop."""
        current = self.current
        on = not self.rows.show_deleted
        self.rows.set_show_deleted(on)
        if not on:
            for job in self.jobs.running("deleted"):
                self.jobs.forget(job)
            self.app.notify("Deleted files hidden.", timeout=2)
        elif self.rows.deleted is not None:
            self._say_deleted_count()
        else:
            self._say_deleted = True
            self.app.notify("Looking for deleted files here…", timeout=2)
            if not self.listing:
                self._read_deleted()
        self._view_rebuilt(keep=current.key if current else None)
        self._announce()

    def _read_deleted(self) -> None:
        """Read the deleted files of the folder shown (after its listing: folders it lists are not deleted)."""
        if self.location is None or self.app.client is None:
            return
        location, request_id, app = self.location, self.request_id, self.app
        # The listing is complete: its lists no longer change (a new listing makes new ones).
        objects, folders = self.rows.objects, self.rows.folders

        def read(job: Job) -> tuple[int, FolderDeleted, list[Row]]:
            found = read_folder_deleted(app.live_client, job, location.bucket, location.prefix)
            return request_id, found, deleted_rows(location.prefix, found.keys, found.folders, objects, folders)

        self.jobs.start(Job(), read, what="looking for deleted files", group="deleted")

    def _deleted_arrived(self, request_id: int, found: FolderDeleted, rows: list[Row]) -> None:
        if request_id != self.request_id:
            return
        if found.status is None:
            self.rows.set_show_deleted(False)
            self._say_deleted = False
            self.app.notify(f"Bucket {printable(found.bucket, 63)} has no versioning: a deleted file is gone, there "
                            "is no older version to show or restore.", severity="warning", timeout=6)
            self._announce()
            return
        current = self.current
        if self.rows.set_deleted(request_id, rows, found.status):
            self._view_rebuilt(keep=current.key if current else None)
            self._announce()
            if self._say_deleted:
                self._say_deleted_count()

    def _say_deleted_count(self) -> None:
        self._say_deleted = False
        rows = self.rows.deleted or []
        files = sum(1 for row in rows if not row.is_folder)
        folders = len(rows) - files
        if not rows:
            self.app.notify("No deleted files with versions in this folder.", timeout=3)
            return
        parts = [plural(files, "deleted file")] if files else []
        if folders:
            parts.append(plural(folders, "deleted folder"))
        self.app.notify(f"Showing {' and '.join(parts)} (× in the first column); d restores a file's last version.",
                        timeout=4)

    def reload(self) -> None:
        if self.location is not None:
            current = self.current
            self.show(self.location, cursor_key=current.key if current else None)

    def set_filter(self, text: str) -> None:
        current = self.current
        self.rows.set_filter(text)
        self._view_rebuilt(keep=current.key if current else None)

    def set_sort(self, key: str, reverse: bool | None = None) -> None:
        current = self.current
        self.rows.sort_by(key, reverse)
        self._view_rebuilt(keep=current.key if current else None)

    def update_info(self, info: ObjectInfo) -> None:
        """Metadata for one object arrived: show its kind, original size and savings."""
        if self.rows.update_info(info):
            self.refresh()

    def fill_known(self) -> None:
        """Show original sizes that became known meanwhile (exact stats, savings by folder): no HEAD."""
        if self.location is not None and self.summary.unknown and not self.listing:
            location, request_id, infos = self.location, self.request_id, self.rows.unknown_deltas()
            app = self.app
            self.jobs.start(Job(), lambda job: (request_id, fill_known(app, location.bucket, infos, copy=True)),
                            what="reading known metadata", group="known-metadata")

    def _apply_known(self, request_id: int, infos: list[ObjectInfo]) -> None:
        if self.rows.apply_known(request_id, infos):
            self.refresh()
            self._announce()

    # -- listing worker --------------------------------------------------------
    def _list(self, job: Job, location: Location, request_id: int) -> None:
        """The listing job: pages go to the table as they arrive (``ListingPage``), then ``ListingDone``."""
        client = self.app.live_client
        first_shown: threading.Event | None = threading.Event()
        for page in client.iter_pages(location.bucket, location.prefix, delimiter="/", ranged=True):
            if job.should_cancel():
                return
            fill_known(self.app, location.bucket, page.contents)  # original sizes already read: no HEAD
            self.post_message(ListingPage(request_id, page, first_shown))
            if first_shown is not None:
                # The next page starts the parallel ranges of a big folder, whose threads would share the
                # interpreter with the UI thread while it paints the first rows: ask for it once they are on
                # screen (or after a bounded wait).
                deadline = time.monotonic() + FIRST_PAINT_WAIT_S
                while not first_shown.wait(0.02) and time.monotonic() < deadline and not job.should_cancel():
                    pass
                first_shown = None
        if not job.should_cancel():
            self.post_message(ListingDone(request_id))

    def on_job_finished(self, message: JobFinished) -> None:
        """A listing or metadata job ended: its answer goes to the model, which drops a stale one."""
        message.stop()
        if not self.jobs.take(message) or message.cancelled or message.result is None:
            return
        if message.group == "known-metadata":
            self._apply_known(*message.result)
        elif message.group == "empty-folders":
            self._mark_empty(*message.result)
        elif message.group == "sort-metadata":
            self._metadata_arrived(*message.result)
        elif message.group == "view-metadata":
            self._view_metadata_read(*message.result)
        elif message.group == "deleted":
            self._deleted_arrived(*message.result)

    def on_listing_page(self, message: ListingPage) -> None:
        """Queue a page; pages are merged a few times per second, the first one at once.

        Each merge changes the virtual size, which lays the screen out again:
        doing that for every page of a fast listing would starve the keyboard.
        """
        message.stop()
        if message.shown is not None:
            self.call_after_refresh(message.shown.set)  # after this page is merged and painted (below)
        if not self.rows.queue_page(message.request_id, message.page):
            return  # a page of a listing the user has already left
        if not self.view or time.monotonic() - self._merged_at >= MERGE_INTERVAL_S:
            self._merge_pending()
        elif self._merge_timer is None:
            self._merge_timer = self.set_timer(MERGE_INTERVAL_S, self._merge_pending)

    def _merge_pending(self) -> None:
        self._stop_merge_timer()
        current = self.current
        keep = self.rows.cursor_wanted or (current.key if current else None)
        shown = len(self.view)
        if not self.rows.merge_pending():
            return
        self._merged_at = time.monotonic()
        if len(self.view) != shown:  # rows joined the view (a filter may have let none of them in)
            self._place_cursor(keep)
        self._update_virtual_size()
        self.refresh()
        self._announce()
        self._view_moved()
        # Rows live as long as the listing is shown. Without this, Python's full
        # garbage collections walk every row again and again while a big listing
        # grows (pauses of 100-300 ms each on 100,000 rows). Frozen objects are
        # still freed by reference counting when the user leaves the folder.
        gc.freeze()

    def _stop_merge_timer(self) -> None:
        if self._merge_timer is not None:
            self._merge_timer.stop()
            self._merge_timer = None

    def on_listing_done(self, message: ListingDone) -> None:
        message.stop()
        if message.request_id != self.request_id:
            return
        self._merge_pending()
        self.rows.finish()
        self.refresh()
        self._announce()
        if self.rows.show_deleted and self.rows.deleted is None:
            self._read_deleted()
        if self.folders and self.location is not None:
            location, request_id, prefixes = self.location, self.request_id, self.rows.folders_to_check()
            self.jobs.start(Job(), lambda job: self._find_empty_folders(job, location, request_id, prefixes),
                            what="checking folders for contents", group="empty-folders")

    def _find_empty_folders(self, job: Job, location: Location, request_id: int,
                            prefixes: list[str]) -> tuple[int, set[str]] | None:
        """Some servers (SeaweedFS) keep listing a folder after everything in it was deleted: find those."""
        client = self.app.live_client
        empty = []
        for prefix in prefixes:
            if job.should_cancel():
                return None
            page = client.list_objects(Bucket=location.bucket, Prefix=prefix, Delimiter=None, MaxKeys=2)
            if not page.is_truncated and all(o.key == prefix for o in page.contents):
                empty.append(prefix)  # nothing but, at most, a console's folder marker
        return (request_id, set(empty)) if empty else None

    def _mark_empty(self, request_id: int, prefixes: set[str]) -> None:
        if self.rows.mark_empty(request_id, prefixes):
            self.refresh()

    def show_inline_error(self, text: str, error: BaseException, context: tuple = ()) -> None:
        """The listing failed: say so where the rows would be."""
        if context and context[0] in self.jobs.running("deleted"):
            self.jobs.failed(context)  # the rows stay; the app's notification says what failed
            return
        self.rows.fail(text, bucket_missing=isinstance(error, BucketNotFoundError))
        self.refresh()
        self._announce()

    # -- view ------------------------------------------------------------------
    def _view_rebuilt(self, keep: str | None) -> None:
        """The rows were sorted or filtered again: keep the cursor on ``keep`` and show them."""
        self._place_cursor(keep)
        self._update_virtual_size()
        self.refresh()
        self._view_moved()

    def _place_cursor(self, key: str | None) -> None:
        current = self.current
        if key is not None and current is not None and current.key == key:
            return
        index = self.rows.index_of(key) if key is not None else None
        if index is not None:
            self.cursor_row = index
            self._scroll_cursor_into_view()
            return
        self.cursor_row = min(self.cursor_row, max(len(self.view) - 1, 0))

    def _update_virtual_size(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.view) + 1)

    def _announce(self) -> None:
        """Tell the screen (stats panel, location bar) what the table now holds."""
        self.post_message(ListingChanged(self.location, self.summary))
        self.post_message(self.Highlighted(self, self.current))

    # -- cursor ----------------------------------------------------------------
    def watch_cursor_row(self, old: int, new: int) -> None:
        top = int(self.scroll_y)
        self._scroll_cursor_into_view()
        if int(self.scroll_y) == top:
            # Only the rows that lost and gained the cursor change: over SSH a whole table per key is
            # ten times the bytes (a scroll repaints the table through ``watch_scroll_y``).
            self._refresh_row(old)
            self._refresh_row(new)
        if old != new:
            self.post_message(self.Highlighted(self, self.current))
        self._prepare_next_page()

    def _refresh_row(self, index: int) -> None:
        """Repaint the screen line of view row ``index`` (line 0 is the header), if it is in view."""
        line = index - int(self.scroll_y) + 1
        if 1 <= line < self.size.height:
            self.refresh(Region(0, line, self.size.width, 1))

    def _scroll_cursor_into_view(self) -> None:
        height = self.scrollable_content_region.height
        if height <= 1:
            return
        top = int(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row > top + height - 2:
            self.scroll_to(y=self.cursor_row - height + 2, animate=False, immediate=True)

    def _move(self, delta: int) -> None:
        if not self.view:
            return
        self.rows.cursor_wanted = None
        self.cursor_row = max(0, min(len(self.view) - 1, self.cursor_row + delta))

    def action_cursor_up(self) -> None:
        self._move(-1)

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_page_up(self) -> None:
        self._move(-max(self.scrollable_content_region.height - 2, 1))

    def action_page_down(self) -> None:
        self._move(max(self.scrollable_content_region.height - 2, 1))

    def action_first(self) -> None:
        self._move(-len(self.view))

    def action_last(self) -> None:
        self._move(len(self.view))

    def action_sort(self, key: str) -> None:
        self.set_sort(key)
        if key in ("original", "saved") and self.location is not None:
            missing = self.rows.unknown_deltas()
            if missing:
                # A delta's original size lives in its metadata: read it (cached on disk) to sort by it.
                self.app.notify(f"Reading the metadata of {len(missing):,} deltas to sort by their original size…",
                                timeout=3)
                location, request_id, app = self.location, self.request_id, self.app
                self.jobs.start(Job(), lambda job: (request_id, app.live_client.fetch_metadata(
                    location.bucket, missing, should_cancel=job.should_cancel)),
                    what="reading metadata to sort", group="sort-metadata")

    def _metadata_arrived(self, request_id: int, infos: list[ObjectInfo]) -> None:
        current = self.current
        if self.rows.apply_metadata(request_id, infos):
            self._view_rebuilt(keep=current.key if current else None)

    # -- metadata of the rows in view ------------------------------------------------
    def _rows_wanting_metadata(self) -> list[Row]:
        return self.rows.rows_wanting_metadata(int(self.scroll_y), self.scrollable_content_region.height)

    def _view_moved(self) -> None:
        """The rows in view may have changed: read their metadata once the view stays put a moment."""
        if self.location is None or not self._rows_wanting_metadata():
            return
        if self._metadata_timer is not None:
            self._metadata_timer.stop()
        self._metadata_timer = self.set_timer(VISIBLE_METADATA_DELAY_S, self._read_view_metadata)

    def _forget_view_metadata(self) -> None:
        if self._metadata_timer is not None:
            self._metadata_timer.stop()
            self._metadata_timer = None
        self.rows.forget_view_metadata()
        for job in self.jobs.running("view-metadata"):
            self.jobs.forget(job)

    def _read_view_metadata(self) -> None:
        self._metadata_timer = None
        if self.location is None or self.app.client is None:
            return
        rows = self._rows_wanting_metadata()
        infos = self.rows.begin_view_read(rows)
        if infos is not None:
            location, request_id = self.location, self.request_id
            self.jobs.start(Job(), lambda job: self._read_metadata(job, location, request_id, rows, infos),
                            what="reading the metadata of the rows in view", group="view-metadata")

    @property
    def metadata_in_view(self) -> bool:
        """The rows in view have their missing metadata read from the server (the app's setting)."""
        return bool(getattr(self.app, "metadata_in_view", False))

    def action_toggle_metadata_in_view(self) -> None:
        app: Any = self.app
        app.metadata_in_view = not self.metadata_in_view
        if app.metadata_in_view:
            app.notify("Metadata of the rows in view: read from the server (a HEAD per object not cached).",
                       timeout=4)
        else:
            app.notify("Metadata of the rows in view: from the cache only; browsing sends listings only "
                       "(c or s reads everything below).", timeout=4)
        # Rows tried from the cache alone are worth asking the server now.
        self.rows.metadata_tried = set()
        self._view_moved()
        self._announce()

    def _read_metadata(self, job: Job, location: Location, request_id: int, rows: list[Row],
                       infos: list[ObjectInfo]) -> tuple[int, list[Row], list[ObjectInfo]] | None:
        app = self.app
        if not self.metadata_in_view:
            # The cache only: no request. Deltas listed earlier were filled by the listing already;
            # this covers the other objects (direct or plain, encrypted) the cache knows.
            session = getattr(app, "info_cache", {})
            rest = []
            for info in infos:
                seen = session.get((location.bucket, info.key))
                if seen is not None and seen.metadata_loaded and seen.etag == info.etag:
                    apply_metadata(info, seen.metadata)
                else:
                    rest.append(info)
            if app.client is not None:
                app.client.known_metadata(location.bucket, rest)
            return request_id, rows, infos
        try:
            app.client.fetch_metadata(location.bucket, infos, should_cancel=job.should_cancel)
        except CancelledError:
            return None
        except Exception as exc:  # noqa: BLE001 - the rows stay unknown; a notification per scroll would be noise
            if job.should_cancel():
                return None
            log.warning("metadata of %d rows in s3://%s/%s not read: %s", len(infos), location.bucket,
                        location.prefix, exc)
        return request_id, rows, infos

    def _view_metadata_read(self, request_id: int, rows: list[Row], infos: list[ObjectInfo]) -> None:
        changed, unknown_changed = self.rows.view_read_done(request_id, rows, infos)
        if changed:
            self.refresh()  # nothing new read: nothing to repaint (a scroll already painted these rows)
        if unknown_changed:
            self._announce()

    # -- actions -----------------------------------------------------------------
    def action_open(self) -> None:
        row = self.current
        if row is None or self.location is None:
            return
        if row.is_folder:
            self.post_message(Navigate(Location(self.location.bucket, row.key)))
        elif row.deleted is not None:
            self.post_message(self.OpenDeleted(self.location, row))
        else:
            self.post_message(self.OpenObject(self.location, row.info))  # type: ignore[arg-type]

    def action_up(self) -> None:
        if self.filter_text:
            self.post_message(self.EditFilter())
            return
        if self.location is None:
            return
        parent = self.location.parent
        if parent is None:
            self.app.notify("Already at the top of the bucket; the bucket list is on the left (Tab).",
                            timeout=3)
            return
        self.post_message(Navigate(parent))

    def action_toggle_mark(self) -> None:
        row = self.current
        if row is None:
            return
        if row.deleted is not None:
            self.app.notify("A deleted file is not marked: d restores its last version, Enter shows its versions.",
                            timeout=4)
            return
        if not self.rows.toggle_mark(row):
            self.app.notify("Space marks objects. To restore or delete a whole folder, "
                            "highlight it and press d or Delete.", timeout=4)
            return
        self._refresh_row(self.cursor_row)  # its mark; the move repaints what it changes
        self._move(1)
        self.post_message(self.Highlighted(self, self.current))

    def action_mark_all(self) -> None:
        self.rows.mark_all()
        self.refresh()
        self.post_message(self.Highlighted(self, self.current))

    # -- mouse -------------------------------------------------------------------
    def on_click(self, event: events.Click) -> None:
        if event.y == 0:
            column = self._column_at(event.x)
            if column is not None and column.sort:
                self.set_sort(column.sort)
            return
        index = int(self.scroll_y) + event.y - 1
        if 0 <= index < len(self.view):
            self.rows.cursor_wanted = None
            self.cursor_row = index
            if event.chain >= 2:
                self.action_open()

    def _column_at(self, x: int) -> Column | None:
        offset = 0
        for column, width in self._layout(self.size.width):
            if offset <= x < offset + width + 1:
                return column
            offset += width + 1
        return None

    # -- rendering ---------------------------------------------------------------
    def _layout(self, width: int) -> list[tuple[Column, int]]:
        """Columns that fit in ``width``, most useful first; the name keeps at least 28 cells.

        Worked out once per width and longest name, not per line.
        """
        longest = self.rows.longest_name
        if longest != self._layouts_longest:
            self._layouts = {}
            self._layouts_longest = longest
        known = self._layouts.get(width)
        if known is None:
            known = self._layouts[width] = self._work_out_layout(width, longest)
        layout, self.hidden_columns = known
        return layout

    @staticmethod
    def _work_out_layout(width: int, longest_name: int) -> tuple[list[tuple[Column, int]], list[str]]:
        """The columns and their widths, and the titles of the columns left out for want of width."""
        # Each entry lists alternatives, widest first: the date drops its time before it goes.
        optional = [
            [Column("Stored", 9, "right", "size")],
            [Column("Original", 10, "right", "original")],
            [Column("Saved", 7, "right", "saved")],
            [Column("Type", 6, "left")],
            [Column("Modified", 16, "left", "date"), Column("Date", 10, "left", "date")],
        ]
        chosen: list[Column] = []
        room = width - 2 - 24  # mark column, minimal name
        for alternatives in optional:
            for column in alternatives:
                if column.width + 1 <= room:
                    chosen.append(column)
                    room -= column.width + 1
                    break
        order = {c.title: i for i, c in enumerate(DISPLAY_ORDER)}
        chosen.sort(key=lambda c: order[c.title])
        titles = {c.title for c in chosen}
        hidden = [alternatives[0].title for alternatives in optional
                  if not titles & {c.title for c in alternatives}]
        wanted = min(max(longest_name + 2, NAME_MIN_WIDTH), NAME_MAX_WIDTH)
        name_width = min(max(width - 2 - sum(c.width + 1 for c in chosen), 1), wanted)
        return [(MARK_COLUMN, 1), (NAME_COLUMN, name_width - 1)] + [(c, c.width) for c in chosen], hidden

    def _cell(self, text: str | Text, width: int, align: str, style: Style | str = "") -> Text:
        cell = text if isinstance(text, Text) else Text(text, style=style)
        cell.no_wrap = True
        cell.truncate(width, overflow="ellipsis")
        if align == "right":
            cell.pad_left(width - cell.cell_len)
        else:
            cell.pad_right(width - cell.cell_len)
        return cell

    def _format_time(self, iso: str) -> str:
        cached = self._time_cache.get(iso)
        if cached is None:
            cached = self.time_format(iso)
            if len(self._time_cache) > 50_000:
                self._time_cache.clear()
            self._time_cache[iso] = cached
        return cached

    def _header(self, layout: list[tuple[Column, int]]) -> Text:
        style = self.get_component_rich_style("object-table--header")
        line = Text(no_wrap=True)
        for column, width in layout:
            title = column.title
            if column.sort and column.sort == self.sort_key and self.location is not None:
                title += " ▼" if self.sort_reverse else " ▲"
            if column is NAME_COLUMN and self.hidden_columns:
                # Narrow terminal: say what is left out (i shows it for one object).
                named = f"{title} (hidden: {', '.join(self.hidden_columns)})"
                counted = f"{title} ({plural(len(self.hidden_columns), 'column')} hidden)"
                title = named if len(named) <= width else counted if len(counted) <= width else title
            line.append_text(self._cell(title, width, column.align, style))
            line.append(" ")
        return line

    def _row_text(self, row: Row, layout: list[tuple[Column, int]], *, damaged: bool | None = None) -> Text:
        dim = self.get_component_rich_style("object-table--dim")
        line = Text(no_wrap=True)
        marked = row.key in self.marked
        if damaged is None:
            damaged = self._damaged(row)
        deleted_style = self.get_component_rich_style("object-table--deleted") if row.deleted is not None else None
        for column, width in layout:
            title = column.title
            if deleted_style is not None and title in ("", "Name", "Type"):
                # Said in letters, not only by colour: "×" in the first column, "del." as the type (as "encr.").
                if title == "Name":
                    cell = self._cell(printable(row.name, width + 1), width, "left", deleted_style)
                else:  # the name alone is struck through
                    cell = self._cell("×" if title == "" else "del.", width, "left",
                                      deleted_style + Style(strike=False))
            elif title == "":
                if marked or not damaged:
                    cell = self._cell("*" if marked else " ", width, "left",
                                      self.get_component_rich_style("object-table--marked"))
                else:
                    cell = self._cell("!", width, "left", self.get_component_rich_style("object-table--damaged"))
            elif title == "Name":
                style = self.get_component_rich_style("object-table--folder") if row.is_folder else ""
                if row.empty:
                    style = dim
                if damaged:
                    style = self.get_component_rich_style("object-table--damaged")
                if marked:
                    style = self.get_component_rich_style("object-table--marked")
                cell = self._cell(Text(printable(row.name, width + 1), style=style), width, "left")
            elif row.is_folder:
                label = "system" if is_housekeeping_key(row.key) else "empty" if row.empty else "folder"
                cell = self._cell(label if title == "Type" else "", width, column.align, dim)
            else:
                info = row.info
                assert info is not None
                if title == "Stored":
                    cell = self._cell(human_size(row.size if info.size_known else None), width, "right")
                elif title == "Type":
                    label = kind_label(info)
                    style = self.get_component_rich_style("object-table--delta") if label == "delta" else dim
                    cell = self._cell(label, width, "left", style)
                elif title in ("Modified", "Date"):
                    cell = self._cell(self._format_time(row.modified)[:width], width, "left", dim)
                elif title == "Original":
                    value = info.original_size
                    if value is None and info.kind in (ObjectKind.DIRECT, ObjectKind.PLAIN):
                        value = row.size
                    cell = self._cell(human_size(value) if value is not None else "", width, "right", dim)
                else:  # Saved
                    saved = info.savings_percent if info.original_size else None
                    cell = self._cell(percent(saved, self._saved_digits()) if saved is not None else "", width,
                                      "right")
            line.append_text(cell)
            line.append(" ")
        return line

    def _damaged(self, row: Row) -> bool:
        """The last audit found a problem with this object, or below this folder ("!" in the first column)."""
        if row.info is not None and row.info.answer_problem:
            return True  # the server's listing of it cannot be read (a negative size, a date that is none)
        findings = getattr(self.app, "audit_findings", None)
        if not findings or self.location is None:
            return False
        if row.is_folder:
            return findings.folder_damaged(self.location.bucket, row.key)
        return bool(findings.for_key(self.location.bucket, row.key))

    def _message_line(self) -> str | None:
        if self.message:
            return self.message
        if self.location is None:
            return "Choose a bucket on the left (Tab switches panes, Enter opens)."
        if self.listing:
            return "Loading…"
        if self.filter_text and (self.folders or self.objects):
            return f"No names contain “{printable(self.filter_text, 60)}” (Esc clears the filter)."
        return "This folder is empty."

    def _saved_digits(self, height: int | None = None, start: int | None = None) -> int:
        """One precision for the Saved column on screen: the most any row in view needs.

        Worked out once per scroll position and change of the rows, not per line. ``start``: the view row
        at the top of the screen (the one shown now when None).
        """
        start = int(self.scroll_y) if start is None else start
        height = max(self.size.height if height is None else height, 1)
        wanted_for = (start, height, self.rows.version)
        if self._digits is not None and self._digits[0] == wanted_for:
            return self._digits[1]
        values = []
        for row in self.view[start:start + height]:
            info = row.info
            if info is not None and info.original_size:
                values.append(info.savings_percent)
        digits = column_digits(values)
        self._digits = (wanted_for, digits)
        return digits

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._base_style = None
        self._lines.clear()  # the lines were rendered in the styles of before

    @property
    def _base(self) -> Style:
        if self._base_style is None:
            self._base_style = self.rich_style
        return self._base_style

    def render_line(self, y: int) -> Strip:
        size = self.size
        width = size.width
        layout = self._layout(width)
        key: Hashable
        if y == 0:
            key = ("header", width, self.rows.longest_name, self.sort_key, self.sort_reverse, self.location is None)
            cached = self._lines.get(key)
            if cached is not None:
                return cached
            text = self._header(layout)
        else:
            index = int(self.scroll_y) + y - 1
            if index < len(self.view):
                return self._row_line(index, self.cursor_row, self._saved_digits(size.height), width, layout)
            elif not self.view and y == 2:
                message = self._message_line() or ""
                text = Text(" " + safe_line(message), style=self.get_component_rich_style("object-table--message"),
                            no_wrap=True)
                if self.message:
                    text.stylize(Style(color=None, italic=False, bold=True))
                return self._strip(text, width)
            else:
                return Strip.blank(width, self._base)
        strip = self._strip(text, width)
        self._lines[key] = strip
        return strip

    def _row_line(self, index: int, cursor_row: int, digits: int, width: int,
                  layout: list[tuple[Column, int]]) -> Strip:
        """The line of view row ``index``, from the line cache when it is there."""
        row = self.view[index]
        cursor = 0 if index != cursor_row else 2 if self.has_focus else 1
        damaged = self._damaged(row)
        # Everything this line shows: a row that changes gets a new version, a move of the cursor or a
        # mark a new key; the Saved column's precision follows the rows on screen.
        key = (row, row.version, width, self.rows.longest_name, cursor, row.key in self.marked, damaged, digits)
        cached = self._lines.get(key)
        if cached is not None:
            return cached
        text = self._row_text(row, layout, damaged=damaged)
        if cursor:
            text.stylize(self.get_component_rich_style("object-table--cursor"))
        strip = self._strip(text, width)
        self._lines[key] = strip
        return strip

    def _prepare_next_page(self) -> None:
        """Render the page a PageDown would show into the line cache once this frame is out.

        A PageDown draws a whole screen of rows nobody has seen: rendered on the key, that is the
        slowest key of all. Rendered here, a few lines per turn of the message queue (so a key that
        comes meanwhile is not held up), the PageDown finds them ready. Only the cache is filled:
        nothing is painted, and a line is used only when everything it shows is as prepared.
        """
        self._preparing += 1
        if self.view and self.size.height > 2:
            self.call_after_refresh(self._prepare_lines, self._preparing)

    def _prepare_lines(self, generation: int, start: int | None = None) -> None:
        if generation != self._preparing or not self.view:
            return  # the view moved again: that move prepares its own next page
        height = self.size.height
        width = self.size.width
        step = max(self.scrollable_content_region.height - 2, 1)
        cursor_after = min(len(self.view) - 1, self.cursor_row + step)
        top_after = max(int(self.scroll_y), cursor_after - height + 2)
        digits = self._saved_digits(height, top_after)
        layout = self._layout(width)
        first = top_after if start is None else start
        stop = min(len(self.view), top_after + height - 1)
        for index in range(first, min(stop, first + PREPARED_LINES_A_TURN)):
            self._row_line(index, cursor_after, digits, width, layout)
        if first + PREPARED_LINES_A_TURN < stop:
            self.call_later(self._prepare_lines, generation, first + PREPARED_LINES_A_TURN)

    def _strip(self, text: Text, width: int) -> Strip:
        base = self._base
        text.stylize_before(base)
        # Padded to the width before blanks are merged: the padding joins the last cell instead of costing
        # a colour change of its own on every row.
        padded = Strip(text.render(self.app.console)).crop_extend(0, width, base)
        return Strip(merge_blanks(padded), width)

    def on_resize(self, event: events.Resize) -> None:
        self._update_virtual_size()
        self._scroll_cursor_into_view()
        self._view_moved()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if int(old_value) != int(new_value):
            self._view_moved()
            self._prepare_next_page()
