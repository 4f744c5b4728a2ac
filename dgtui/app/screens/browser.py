"""The main screen: bucket tree, object table, stats and transfers."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

from dgtui import CancelledError, ObjectInfo
from dgtui.core.errors import DgError
from dgtui.core.format import is_housekeeping_key
from dgtui.core.versions import parse_point_in_time
from dgtui.jobs.job import Job
from dgtui.jobs.restore import PrefixPlan, plan_objects, plan_prefix
from dgtui.jobs.upload import files_to_upload, needs_upload_confirmation
from dgtui.jobs.versions import (
    AsOfPlan,
    VersionsRead,
    local_stamp,
    plan_as_of,
    read_versions,
)

from ...core.text import human_count, human_size, plural, printable
from ..jobs import JobFinished, JobRunner
from ..messages import (
    ContentsChanged,
    ListingChanged,
    ListingSummary,
    Location,
    MetadataCached,
    Navigate,
)
from ..widgets.bucket_tree import BucketTree
from ..widgets.filter_input import FilterInput
from ..widgets.footer import AppFooter
from ..widgets.object_table import ObjectTable, Row
from ..widgets.stats_panel import StatsPanel
from ..widgets.transfers_panel import TransfersPanel
from .audit import AuditScreen
from .confirm import ConfirmScreen
from .details import DetailsScreen, read_object_info
from .preview import PreviewScreen
from .prompt import PromptScreen
from .savings import SavingsScreen
from .versions import VersionsScreen, ask_restore_version

#: keys listed in a delete confirmation before "… and N more"
CONFIRM_LIST_LIMIT = 12

#: what a restore checks, promised in its dialog (no more than is done)
CHECK_PROMISE = ("Each file appears only after its check: the sha256 stored with it, or for objects written by "
                 "other tools their MD5 ETag where there is one (objects uploaded in parts by other tools have "
                 "neither, and are restored unchecked).")


def _prepare_folder(path: str) -> str | None:
    """Why ``path`` cannot be restored into, or None.

    The folder is not created here: the restore creates it, and removes it again if it ends up empty
    (cancelled, failed), so that a restore that did nothing leaves nothing behind.
    """
    if os.path.exists(path) and not os.path.isdir(path):
        return f"{printable(path, 200)} is a file, not a folder; choose a folder to restore into"
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        return f"cannot create {printable(path, 200)}: {printable(existing, 200)} is a file"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot create {printable(path, 200)}: {printable(existing, 200)} is not writable"
    return None


class LocationBar(Widget):
    """Where we are, and how much of it has been listed.

    One line of fixed height: updates repaint it without laying out the screen.
    """

    DEFAULT_CSS = "LocationBar { height: 1; }"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._content: Table | None = None
        #: the text shown now (location, status fields)
        self._shown: tuple[str, tuple[str, ...]] | None = None

    def render(self) -> Table | Text:
        return self._content if self._content is not None else Text("")

    def show(self, location: Location | None, summary: ListingSummary, marked: int, loading: bool, *,
             shown: int | None = None, marked_bytes: int = 0, endpoint: str | None = None,
             deleted: int | None = None) -> None:
        grid = Table.grid(expand=True)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        grid.add_column(no_wrap=True, justify="right")
        where = Text(printable(location.url, 400) if location else "dgtui", style="bold")
        status = []
        if location is None and endpoint:
            status.append(printable(endpoint, 120))
        if location is not None:
            if summary.bucket_missing:
                status.append("this bucket does not exist")
            elif summary.error and not summary.objects and not summary.folders:
                status.append("not listed: the listing failed")
            elif shown is not None:
                status.append(f"filtered: {human_count(shown)} of {plural(summary.objects, 'object')}")
            else:
                status.append(f"{plural(summary.folders, 'folder')}, {plural(summary.objects, 'object')}")
            if deleted is not None:
                status.append(f"{human_count(deleted)} deleted shown")
            if loading:
                status.append("loading…")
            if marked:
                status.append(f"{human_count(marked)} marked ({human_size(marked_bytes)} stored)")
        shown_now = (where.plain, tuple(status))
        if shown_now == self._shown and self._content is not None:
            return  # a cursor move that changes nothing here writes nothing to the terminal
        self._shown = shown_now
        grid.add_row(where, Text(" · ".join(status)))
        self._content = grid
        self.refresh()


def _kind(location: Location) -> str:
    return "folder" if location.prefix else "bucket"


class _NoTreeItem(Exception):
    """The tree has the focus, on a line that is not a bucket or folder ("more folders…", "loading…")."""


def _on_focused_item(action):
    """An action on the focused pane's item: the tree's bucket or folder, or the table's row."""
    @functools.wraps(action)
    def run(self, *args):
        try:
            return action(self, *args)
        except _NoTreeItem:
            self.app.notify("The tree's highlighted line is not a bucket or folder: nothing to act on.", timeout=3)
    return run


class BrowserScreen(Screen[None]):
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", id="browser.filter"),
        Binding("d", "download", "Restore", id="browser.restore"),
        Binding("D", "download_folder", "Restore folder", show=False, id="browser.restore-folder"),
        Binding("u", "upload", "Upload", id="browser.upload"),
        Binding("i", "details", "Details", id="browser.details"),
        Binding("V", "versions", "Versions", show=False, id="browser.versions"),
        Binding("A", "restore_as_of", "Restore folder as of…", show=False, id="browser.restore-as-of"),
        Binding("X", "toggle_deleted", "Deleted files (on/off)", show=False, id="browser.deleted"),
        Binding("v", "audit", "Audit", id="browser.audit"),
        Binding("delete", "delete", "Delete", id="browser.delete"),
        Binding("c", "detailed_stats", "Exact stats", show=False, id="browser.exact-stats"),
        Binding("s", "savings", "Savings by folder", show=False, id="browser.savings"),
        Binding("r,f5", "refresh", "Refresh", show=False, id="browser.refresh"),
        Binding("y", "copy_url", "Copy URL", show=False, id="browser.copy-url"),
        Binding("Y", "copy_sha256", "Copy sha256", show=False, id="browser.copy-sha256"),
        Binding("p", "preview", "Preview", show=False, id="browser.preview"),
        Binding("b", "create_bucket", "New bucket", show=False, id="browser.new-bucket"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="browser.clear-filter"),
    ]

    def __init__(self, start: Location | None = None, *, start_object: str | None = None) -> None:
        super().__init__()
        self.jobs = JobRunner(self)
        self.start = start
        #: the key a start URL without a trailing "/" named, in case it is an object, not a folder
        self.start_object = start_object
        self.location: Location | None = None
        # Opened on a folder: keys go to its table; otherwise choose a bucket first.
        self.AUTO_FOCUS = "#table" if start is not None else "#tree"

    def compose(self) -> ComposeResult:
        yield LocationBar(id="location-bar")
        with Horizontal(id="main"):
            with Vertical(id="sidebar"):
                yield BucketTree(id="tree")
                yield StatsPanel(id="stats")
            with Vertical(id="content"):
                yield FilterInput(apply=self._apply_filter, placeholder="/ to filter names", then_focus="#table",
                                  id="filter")
                yield ObjectTable(time_format=self.app.time_format, id="table")
        yield TransfersPanel(clock=self.app.clock, id="transfers")
        yield AppFooter()

    # -- parts -------------------------------------------------------------------------
    @property
    def tree(self) -> BucketTree:
        return self.query_one(BucketTree)

    @property
    def table(self) -> ObjectTable:
        return self.query_one(ObjectTable)

    @property
    def stats(self) -> StatsPanel:
        return self.query_one(StatsPanel)

    @property
    def transfers(self) -> TransfersPanel:
        return self.query_one(TransfersPanel)

    def on_mount(self) -> None:
        self.query_one(LocationBar).show(None, ListingSummary(), 0, False, endpoint=self.app.endpoint)
        # The filter is reached with "/", not with Tab: Tab goes tree → table → transfers.
        self.query_one("#filter", Input).can_focus = False
        if self.app.client is not None:
            self.client_ready()

    def client_ready(self) -> None:
        """The SDK client exists: open the start location (the bucket list comes separately)."""
        if self.start is not None and self.location is None:
            self.navigate(self.start)

    # -- buckets -----------------------------------------------------------------------
    def set_buckets(self, names: list[str]) -> None:
        if self.start is not None and self.start.bucket not in names:
            # Opened with s3://bucket/... that ListBuckets does not show (other account, no permission).
            names = [self.start.bucket] + names
        self.tree.set_buckets(names)
        if self.start is not None:
            node = self.tree.node_for(Location(self.start.bucket))
            if node is not None:
                node.expand()
            self.tree.reveal(self.location or self.start)

    def show_connection_problem(self, text: str) -> None:
        self.tree.set_status(text)

    # -- navigation --------------------------------------------------------------------
    def navigate(self, location: Location, cursor_key: str | None = None) -> None:
        if cursor_key is None and self.location is not None and self.location.bucket == location.bucket \
                and self.location.prefix.startswith(location.prefix) and self.location != location:
            # Going up: land on the folder we came from.
            rest = self.location.prefix[len(location.prefix):]
            cursor_key = location.prefix + rest.split("/", 1)[0] + "/"
        self.location = location
        filter_input = self.query_one("#filter", Input)
        if filter_input.value:
            filter_input.value = ""
        self.table.filter_text = ""
        self.table.show(location, cursor_key=cursor_key)
        self.tree.reveal(location)

    def on_navigate(self, message: Navigate) -> None:
        message.stop()
        if message.focus_table:
            self.table.focus()
        if message.location == self.location and not self.table.message and self.table.listing:
            return  # already on its way
        self.navigate(message.location)

    def on_listing_changed(self, message: ListingChanged) -> None:
        message.stop()
        summary, start_object = message.summary, self.start_object
        if start_object is not None and message.location == self.start and summary.complete:
            self.start_object = None
            if not summary.objects and not summary.folders and not summary.error:
                # Nothing under "key/": the URL named an object. Show it where it lives.
                parent = start_object.rsplit("/", 1)[0] + "/" if "/" in start_object else ""
                assert self.start is not None  # start_object comes with a start
                self.navigate(Location(self.start.bucket, parent), cursor_key=start_object)
                return
        self.stats.show_summary(message.location, message.summary)
        self._update_location_bar()

    def on_object_table_highlighted(self, message: ObjectTable.Highlighted) -> None:
        message.stop()
        self._update_location_bar()

    def _update_location_bar(self) -> None:
        table = self.table
        marked = table.marked_rows()
        self.query_one(LocationBar).show(table.location, table.summary, len(table.marked),
                                         table.listing and table.location is not None,
                                         shown=table.visible_objects if table.filter_text else None,
                                         marked_bytes=sum(row.size for row in marked), endpoint=self.app.endpoint,
                                         deleted=table.rows.view_deleted if table.show_deleted else None)

    def on_object_table_open_object(self, message: ObjectTable.OpenObject) -> None:
        message.stop()
        self.app.push_screen(DetailsScreen(message.location, message.info))

    def object_info_loaded(self, bucket: str, info: ObjectInfo) -> None:
        """Metadata of an object arrived (details screen): its row shows type, original size, savings."""
        if self.location is not None and self.location.bucket == bucket:
            self.table.update_info(info)

    def on_contents_changed(self, message: ContentsChanged) -> None:
        message.stop()
        changed = message.location
        if self.location is not None and self.location.bucket == changed.bucket and (
                self.location.prefix.startswith(changed.prefix) or changed.prefix.startswith(self.location.prefix)):
            self.table.reload()
        self.tree.reload(changed)
        self.stats.mark_stale(changed)

    # -- filter ----------------------------------------------------------------------------
    def _apply_filter(self, text: str) -> None:
        """The filter's text changed (FilterInput calls this as it changes, not through a message)."""
        if self.table.filter_text != text:
            self.table.set_filter(text)
            self._update_location_bar()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "filter":
            event.stop()
            self._apply_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            event.stop()
            self.table.focus()

    def on_descendant_blur(self, event) -> None:
        filter_input = self.query_one("#filter", Input)
        if event.widget is filter_input:
            filter_input.can_focus = False

    def action_focus_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        filter_input.can_focus = True
        # At once, not on the next turn of the event loop: "/07" typed in one go filters on "07".
        self.set_focus(filter_input)

    def on_object_table_edit_filter(self, message: ObjectTable.EditFilter) -> None:
        """Backspace in the table while a filter is on: take its last character off."""
        message.stop()
        filter_input = self.query_one("#filter", Input)
        filter_input.value = filter_input.value[:-1]

    def action_clear_filter(self) -> None:
        filter_input = self.query_one("#filter", Input)
        if filter_input.value:
            filter_input.value = ""
        self.set_focus(self.table)

    def action_sort(self, key: str) -> None:
        self.table.set_sort(key)

    # -- simple actions -------------------------------------------------------------------
    def action_refresh(self) -> None:
        if self.location is None:
            self.app.load_buckets()
            return
        self.table.reload()
        self.tree.reload(self.location)
        self.stats.mark_stale(self.location)
        self.app.notify(f"Refreshing {printable(self.location.url, 200)}", timeout=2)

    @_on_focused_item
    def action_details(self) -> None:
        in_tree = self._tree_target()
        if in_tree is not None:
            self.app.notify(f"i shows an object's details; a {_kind(in_tree)} has none (Enter opens it in the "
                            "table).", timeout=4)
            return
        row = self.table.current
        if row is None or self.location is None:
            self.app.notify("Highlight an object in the table first.", timeout=3)
        elif row.is_folder:
            self.app.notify("Details are for objects; Enter opens the folder.", timeout=3)
        elif row.deleted is not None:
            self._open_deleted(self.location, row)
        else:
            self.app.push_screen(DetailsScreen(self.location, row.info))  # type: ignore[arg-type]

    @_on_focused_item
    def action_copy_url(self) -> None:
        in_tree = self._tree_target()
        if in_tree is not None:
            self.app.copy_url(in_tree.url)
            return
        row = self.table.current
        if self.location is None:
            self.app.notify("Open a bucket first.", timeout=3)
            return
        key = row.key if row is not None else self.location.prefix
        self.app.copy_url(f"s3://{self.location.bucket}/{key}")

    def _highlighted_object(self, key_does: str) -> ObjectInfo | None:
        """The object the table highlights (keys act on the focused pane: not with the tree focused)."""
        in_tree = self._tree_target()
        if in_tree is not None:
            self.app.notify(f"{key_does}; a {_kind(in_tree)} has none (Enter opens it in the table).", timeout=4)
            return None
        row = self.table.current
        if row is None or row.is_folder or self.location is None:
            self.app.notify("Highlight an object in the table first.", timeout=3)
            return None
        if row.deleted is not None:
            self.app.notify(f"{printable(row.name, 80)} is deleted: {key_does} of a current object (Enter shows "
                            "the deleted file's versions, d restores its last one).", timeout=5)
            return None
        return row.info

    @_on_focused_item
    def action_copy_sha256(self) -> None:
        info = self._highlighted_object("Y copies an object's sha256")
        if info is None or self.location is None:
            return
        cached = self.app.info_cache.get((self.location.bucket, info.key))
        if cached is not None:
            self.app.copy_sha256(cached)
        else:
            self.jobs.start(Job(), read_object_info(self.app, self.location.bucket,
                                                    f"s3://{self.location.bucket}/{info.key}"),
                            what="reading the object's sha256", group="sha256")

    def on_job_finished(self, message: JobFinished) -> None:
        """The end of a job this screen started: the next step (a copy, a dialog) on the UI thread."""
        message.stop()
        if not self.jobs.take(message) or message.cancelled:
            return
        result, subject = message.result, message.job.subject
        if message.group == "sha256":
            self.app.copy_sha256(result)  # the app keeps the metadata (ObjectInfoLoaded)
        elif message.group == "restore-count" and isinstance(result, PrefixPlan):
            self._confirm_download_prefix(subject, result)
        elif message.group == "restore-count":
            location, objects = subject
            self._confirm_download_objects(location, objects, result)
        elif message.group == "delete-count":
            count, sample = result
            self._confirm_delete_prefix(subject, count, sample)
        elif message.group == "create-bucket":
            self._bucket_created(subject)
        elif message.group == "versions" and isinstance(result, VersionsRead):
            self._show_versions(subject, result)
        elif message.group == "as-of-count" and isinstance(result, AsOfPlan):
            self._confirm_as_of(result)

    # -- versions --------------------------------------------------------------------------
    @_on_focused_item
    def action_versions(self) -> None:
        """The versions of the highlighted object, read in a job; the screen opens when they are in."""
        in_tree = self._tree_target()
        if in_tree is not None:
            self.app.notify(f"V shows an object's versions; a {_kind(in_tree)} has none (open it and highlight "
                            "an object).", timeout=4)
            return
        row = self.table.current
        if self.location is None or row is None:
            self.app.notify("Highlight an object in the table first: V shows its versions.", timeout=3)
            return
        if row.is_folder:
            self.app.notify("V shows an object's versions; a folder has none (open it and highlight an object).",
                            timeout=4)
            return
        location, key, app = self.location, row.key, self.app
        self.app.notify(f"Reading the versions of {printable(key, 200)}…", timeout=2)
        self.jobs.start(Job(subject=location), lambda job: read_versions(app.live_client, job, location.bucket, key),
                        what="reading the object's versions", group="versions")

    def _show_versions(self, location: Location, found: VersionsRead) -> None:
        if found.status is None:
            self.app.notify(f"Bucket {printable(found.bucket, 63)} has no versioning: S3 keeps only the current "
                            "version of each object, so there are no older versions to show.",
                            severity="warning", timeout=6)
            return
        self.app.push_screen(VersionsScreen(location, found, folder_problem=_prepare_folder))

    def _folder_target(self) -> Location | None:
        """The highlighted folder (tree, or a folder row), else the open one; None, said in one line, when none."""
        target = self._tree_target()
        if target is None and self.location is not None:
            row = self.table.current
            target = Location(self.location.bucket, row.key) if row is not None and row.is_folder else self.location
        if target is None:
            self.app.notify("Open a bucket first.", timeout=3)
        return target

    def action_toggle_deleted(self) -> None:
        """Show the open folder's deleted files (latest version a delete marker) among its rows, or stop."""
        if self.location is None:
            self.app.notify("Open a bucket first: X shows the deleted files of the open folder.", timeout=3)
            return
        self.table.toggle_deleted()
        self._update_location_bar()

    def on_object_table_open_deleted(self, message: ObjectTable.OpenDeleted) -> None:
        message.stop()
        self._open_deleted(message.location, message.row)

    def _open_deleted(self, location: Location, row: Row) -> None:
        """A deleted file's versions, with the cursor on its last one before the deletion (where d restores)."""
        assert row.deleted is not None
        versions = row.deleted.versions
        found = VersionsRead(location.bucket, row.key, self.table.rows.deleted_versioning, versions)
        start = next((n for n, v in enumerate(versions) if not v.is_delete_marker), 0)
        self.app.push_screen(VersionsScreen(location, found, folder_problem=_prepare_folder, start_row=start,
                                            deleted=True))

    def _restore_deleted(self, row: Row) -> None:
        """``d`` on a deleted file: its newest version that holds the file, as the versions screen restores."""
        assert row.deleted is not None
        if self.location is None:
            return
        if row.is_folder:
            self.app.notify("A deleted folder: open it (Enter) and restore its files, or A restores it as it "
                            "stood at a time.", timeout=5)
            return
        last = row.deleted.last
        if last is None:
            self.app.notify("No version of this file holds data: nothing to restore.", timeout=4)
            return
        ask_restore_version(self.app, self.location.bucket, last, _prepare_folder)

    @_on_focused_item
    def action_restore_as_of(self) -> None:
        """Restore the highlighted (or current) folder as it stood at a time the user gives."""
        target = self._folder_target()
        if target is None:
            return
        what = Text("Restore ") + Text(printable(target.url, 300), style="bold")
        what.append(" as it stood at a time: every file's newest version not after it, from the bucket's versions "
                    "(files deleted by then are left out). An ISO time or date, local time unless it says "
                    "otherwise: 2026-11-30 12:00, 2026-11-30, 2026-11-30T12:00Z.")

        def validate(value: str) -> str | None:
            try:
                parse_point_in_time(value)
            except DgError as exc:
                return str(exc)
            return None

        def chosen(value: str | None) -> None:
            if value:
                self._count_as_of(target, parse_point_in_time(value))

        self.app.push_screen(PromptScreen("Restore folder as of…", what, "", ok_label="Count files",
                                          validate=validate, placeholder="2026-11-30 12:00"), chosen)

    def _count_as_of(self, location: Location, at: datetime) -> None:
        app = self.app
        self.app.notify(f"Reading the versions under {printable(location.url, 200)}…", timeout=2)
        self.jobs.start(Job(subject=location), lambda job: plan_as_of(app.live_client, job, location.url, at),
                        what="reading the versions of a folder", group="as-of-count")

    def _confirm_as_of(self, plan: AsOfPlan) -> None:
        if not plan.files:
            self.app.notify(f"Nothing stood under {printable(plan.url, 200)} at {local_stamp(plan.at)}.", timeout=4)
            return
        size = human_size(plan.original_bytes) + (f" and {plural(plan.sizes_unknown, 'file')} of unknown size"
                                                  if plan.sizes_unknown else "")
        what = Text("Restore ") + Text(printable(plan.url, 300), style="bold")
        what.append(f" as it stood at {local_stamp(plan.at)}: {plural(plan.files, 'file')}, {size}, into this "
                    "local folder. Files already there are kept and reported, never replaced. " + CHECK_PROMISE)

        self._ask_local_folder("Restore folder as of…", what, lambda path: self.transfers.download_as_of(plan, path))

    @_on_focused_item
    def action_preview(self) -> None:
        info = self._highlighted_object("p previews an object's text")
        if info is not None and self.location is not None:
            self.app.push_screen(PreviewScreen(self.location.bucket, info))

    def action_detailed_stats(self) -> None:
        if self.stats.running:
            self.stats.cancel_detailed()
            self.app.notify("Stopped computing exact stats.", timeout=2)
        elif self.location is None:
            self.app.notify("Open a bucket first.", timeout=3)
        else:
            self.stats.start_detailed(self.location)

    @_on_focused_item
    def action_audit(self) -> None:
        """Audit the folder under the cursor (tree or table), else the folder shown."""
        target = self._folder_target()
        if target is None:
            return
        self.app.push_screen(AuditScreen(target))

    @_on_focused_item
    def action_savings(self) -> None:
        in_tree = self._tree_target()
        target = in_tree or self.location
        if target is None:
            self.app.notify("Open a bucket first.", timeout=3)
            return
        row = self.table.current if in_tree is None else None
        # Exact numbers this session computed (c, or e in an earlier savings view) serve this view too.
        self.app.push_screen(SavingsScreen(target, cursor=row.key if row is not None and row.is_folder else None,
                                           exact=self.stats.has_exact(target), reports=self.stats.savings_reports,
                                           on_exact=self.stats.note_exact))

    def on_metadata_cached(self, message: MetadataCached) -> None:
        message.stop()
        self.table.fill_known()

    def on_screen_resume(self) -> None:
        self.table.fill_known()  # savings by folder or details may have read metadata meanwhile

    # -- restore ---------------------------------------------------------------------------
    def _tree_target(self) -> Location | None:
        """The bucket or folder highlighted in the tree, when the tree has the focus: keys act on it."""
        if self.focused is self.tree:
            location = self.tree.current_location()
            if location is None:
                raise _NoTreeItem()
            return location
        return None

    def _targets(self) -> tuple[list[Row], Row | None]:
        """(marked objects, or the highlighted object) and the highlighted folder, if that is the target."""
        marked = self.table.marked_rows()
        if marked:
            return marked, None
        row = self.table.current
        if row is None:
            return [], None
        if row.is_folder:
            return [], row
        return [row], None

    @_on_focused_item
    def action_download(self) -> None:
        in_tree = self._tree_target()
        if in_tree is not None:
            self._ask_download_prefix(in_tree)
            return
        if self.location is None:
            self.app.notify("Open a bucket first.", timeout=3)
            return
        objects, folder = self._targets()
        deleted = folder if folder is not None else objects[0] if len(objects) == 1 else None
        if deleted is not None and deleted.deleted is not None:
            self._restore_deleted(deleted)
        elif folder is not None:
            self._ask_download_prefix(Location(self.location.bucket, folder.key))
        elif objects:
            self.download_objects([row.info for row in objects if row.info is not None])
        else:
            self.app.notify("Nothing to restore here.", timeout=3)

    @_on_focused_item
    def action_download_folder(self) -> None:
        in_tree = self._tree_target()
        if in_tree is not None:
            self._ask_download_prefix(in_tree)
            return
        if self.location is None:
            self.app.notify("Open a bucket first.", timeout=3)
            return
        self._ask_download_prefix(self.location)

    def download_objects(self, objects: list[ObjectInfo]) -> None:
        """Ask where to restore ``objects``, once what the restore moves is counted (in a worker)."""
        if self.location is None or not objects:
            return
        app, location = self.app, self.location
        self.jobs.start(Job(subject=(location, objects)),
                        lambda job: plan_objects(app.live_client, location.bucket, objects,
                                                 should_cancel=job.should_cancel),
                        what="counting what the restore moves", group="restore-count")

    def _confirm_download_objects(self, location: Location, objects: list[ObjectInfo], moves: str) -> None:
        if len(objects) == 1:
            what = Text("Restore ") + Text(printable(objects[0].key, 300), style="bold")
            what.append(f"\ninto this local folder (created if missing), or give a file name to restore it under "
                        f"another name. {moves}")
        else:
            names = ", ".join(printable(o.name, 40) for o in objects[:5])
            what = Text(f"Restore {len(objects)} marked objects ({names}{', …' if len(objects) > 5 else ''})\n"
                        f"into this local folder (created if missing). {moves}")
        what.append(" " + CHECK_PROMISE)
        single = len(objects) == 1

        def as_file(value: str) -> bool:
            """One object and a path that is not a folder: that path is the file's new name."""
            path = os.path.abspath(os.path.expanduser(value))
            return single and not value.endswith(("/", os.sep)) and not os.path.isdir(path)

        def validate(value: str) -> str | None:
            path = os.path.abspath(os.path.expanduser(value))
            return _prepare_folder(os.path.dirname(path) if as_file(value) else path)

        def chosen(value: str | None) -> None:
            if not value:
                return
            path = os.path.abspath(os.path.expanduser(value))
            file_name = as_file(value)
            self.app.download_dir = os.path.dirname(path) if file_name else path
            self.transfers.download_objects(location.bucket, [(o.key, o.size) for o in objects], path,
                                            as_file=file_name)
            self.table.marked.clear()
            self.table.refresh()
            self._update_location_bar()

        self.app.push_screen(PromptScreen("Restore to folder" if not single else "Restore to folder or file", what,
                                          self.app.download_dir.rstrip(os.sep) + os.sep, ok_label="Restore",
                                          validate=validate, paths=True), chosen)

    def _ask_download_prefix(self, location: Location) -> None:
        self.app.notify(f"Counting what is under {printable(location.url, 200)}…", timeout=2)
        app = self.app
        self.jobs.start(Job(subject=location),
                        lambda job: plan_prefix(app.live_client, location.url, should_cancel=job.should_cancel,
                                                read_sizes=True),
                        what="counting objects to restore", group="restore-count")

    def _confirm_download_prefix(self, location: Location, plan: PrefixPlan) -> None:
        if not plan.objects:
            self.app.notify(f"Nothing to restore under {printable(location.url, 200)}.", timeout=3)
            return
        what = Text("Restore everything under ") + Text(printable(location.url, 300), style="bold")
        what.append(f": {plural(plan.objects, 'object')}, subfolders included, into this local folder. "
                    f"{plan.moves()}")
        if plan.unsafe:
            what.append(f" {plural(len(plan.unsafe), 'key')} unsafe as file names will be skipped and reported.")
        what.append(" " + CHECK_PROMISE)

        self._ask_local_folder("Restore folder", what, lambda path: self.transfers.download_prefix(location, path))

    def _ask_local_folder(self, title: str, what: Text, start: Callable[[str], object]) -> None:
        """Ask for the local folder a folder restore goes into (made if missing), remember it, and ``start``."""

        def chosen(folder: str | None) -> None:
            if folder:
                path = os.path.abspath(os.path.expanduser(folder))
                self.app.download_dir = path
                start(path)

        self.app.push_screen(PromptScreen(title, what, self.app.download_dir, ok_label="Restore",
                                          validate=lambda value: _prepare_folder(
                                              os.path.abspath(os.path.expanduser(value))), paths=True), chosen)

    # -- upload ----------------------------------------------------------------------------
    @_on_focused_item
    def action_upload(self) -> None:
        location = self._tree_target() or self.location
        if location is None:
            self.app.notify("Open a bucket or folder first: uploads go into it.", timeout=3)
            return
        if is_housekeeping_key(location.prefix):
            self.app.notify("_dgp/ holds deltaglider_proxy's locks and leases; upload into another folder.",
                            severity="warning", timeout=4)
            return
        what = Text("Upload a local file, or a folder with everything in it, into ")
        what.append(printable(location.url, 300), style="bold")
        what.append(". Archives become deltas when a similar file is already there. Tab completes paths.")

        def validate(value: str) -> str | None:
            path = Path(os.path.expanduser(value)).absolute()
            if path.is_file():
                return None
            if path.is_dir():
                return None if any(p.is_file() for p in path.rglob("*")) else \
                    f"{printable(str(path), 200)} has no files to upload"
            return f"no such file or folder: {printable(str(path), 200)}"

        def chosen(value: str | None) -> None:
            if not value:
                return
            path = Path(os.path.expanduser(value)).absolute()
            files, base, size = files_to_upload(path)
            self.app.upload_dir = str(path.parent) + os.sep
            if not needs_upload_confirmation(len(files), size):
                self.transfers.upload(files, location, base, size)
                return
            body = Text(f"Upload {plural(len(files), 'file')} ({human_size(size)}) from ")
            body.append(printable(str(path), 300), style="bold")
            body.append(" into ")
            body.append(printable(location.url, 300), style="bold")
            body.append(", keeping their folders?\n\n")
            body.append("\n".join(printable(str(f.relative_to(path)), 120) for f in files[:8]))
            if len(files) > 8:
                body.append(f"\n… and {human_count(len(files) - 8)} more")

            def answered(answer: str | None) -> None:
                if answer == "upload":
                    self.transfers.upload(files, location, base, size)

            self.app.push_screen(ConfirmScreen("Upload a folder", body, [
                ("upload", f"Upload {plural(len(files), 'file')}"), ("cancel", "Cancel")]), answered)

        self.app.push_screen(PromptScreen("Upload", what, self.app.upload_dir, ok_label="Upload",
                                          validate=validate, paths=True), chosen)

    # -- delete ----------------------------------------------------------------------------
    @_on_focused_item
    def action_delete(self) -> None:
        in_tree = self._tree_target()
        if in_tree is not None:
            if not in_tree.prefix:
                self.app.notify("dgtui does not empty whole buckets; open the bucket and delete folders or "
                                "objects in it.", timeout=5)
                return
            self.app.notify(f"Counting what is under {printable(in_tree.url, 200)}…", timeout=3)
            self._count_for_delete(in_tree)
            return
        if self.location is None:
            self.app.notify("Open a bucket first.", timeout=3)
            return
        objects, folder = self._targets()
        if any(row.deleted is not None for row in objects + ([folder] if folder is not None else [])):
            self.app.notify("Already deleted: its older versions stay in the bucket's versioning (d restores "
                            "the last one).", timeout=4)
            return
        if folder is not None:
            target = Location(self.location.bucket, folder.key)
            self.app.notify(f"Counting what is under {printable(target.url, 200)}…", timeout=3)
            self._count_for_delete(target)
        elif objects:
            self._confirm_delete_objects(self.location, [row.key for row in objects])
        else:
            self.app.notify("Nothing to delete here.", timeout=3)

    def _confirm_delete_objects(self, location: Location, keys: list[str]) -> None:
        count = len(keys)
        body = Text(f"Delete {count} object{'s' if count != 1 else ''} from s3://{printable(location.bucket)}? "
                    "This cannot be undone.\n\n")
        body.append("\n".join(printable(key, 200) for key in keys[:CONFIRM_LIST_LIMIT]), style="bold")
        if count > CONFIRM_LIST_LIMIT:
            body.append(f"\n… and {count - CONFIRM_LIST_LIMIT} more")

        def answered(answer: str | None) -> None:
            if answer == "delete":
                self.transfers.delete_objects(location, keys)
                self.table.marked.difference_update(keys)

        self.app.push_screen(ConfirmScreen("Delete objects", body,
                                           [("delete", f"Delete {count}"), ("cancel", "Cancel")], danger=True),
                             answered)

    def _count_for_delete(self, location: Location) -> None:
        app = self.app

        def count(job: Job) -> tuple[int, list[str]]:
            found = 0
            sample: list[str] = []
            for page in app.live_client.iter_pages(location.bucket, location.prefix, delimiter=None, ranged=True):
                if job.should_cancel():
                    raise CancelledError()
                found += len(page.contents)
                sample.extend(o.key for o in page.contents[: CONFIRM_LIST_LIMIT - len(sample)])
            return found, sample

        self.jobs.start(Job(subject=location), count, what="counting objects to delete", group="delete-count")

    def _confirm_delete_prefix(self, location: Location, count: int, sample: list[str]) -> None:
        body = Text("Delete the folder ")
        body.append(printable(location.url, 300), style="bold")
        body.append(f" and everything under it: {human_count(count)} object{'s' if count != 1 else ''}, "
                    "subfolders included, and DeltaGlider's reference files there. This cannot be undone.\n\n")
        body.append("\n".join(printable(key, 200) for key in sample), style="bold")
        if count > len(sample):
            body.append(f"\n… and {human_count(count - len(sample))} more")

        def answered(answer: str | None) -> None:
            if answer == "delete":
                self.transfers.delete_prefix(location, count)

        self.app.push_screen(ConfirmScreen("Delete folder", body,
                                           [("delete", f"Delete {human_count(count)} objects"), ("cancel", "Cancel")],
                                           danger=True), answered)

    # -- buckets -----------------------------------------------------------------------------
    def action_create_bucket(self) -> None:
        def chosen(name: str | None) -> None:
            if name:
                self._create_bucket(name.strip())

        self.app.push_screen(PromptScreen("New bucket", "Name of the bucket to create (lowercase letters, digits, "
                                                        "dots and hyphens, 3 to 63 characters).", "",
                                          ok_label="Create", placeholder="my-backups"), chosen)

    def _create_bucket(self, name: str) -> None:
        app = self.app
        self.jobs.start(Job(subject=name), lambda job: app.live_client.create_bucket(Bucket=name),
                        what="creating the bucket", group="create-bucket", exclusive=False)

    def _bucket_created(self, name: str) -> None:
        self.app.notify(f"Created bucket {printable(name, 63)}", timeout=3)
        self.app.open_bucket = name
        self.app.load_buckets()

    def open_bucket(self, name: str) -> None:
        """Show a bucket (one just created) in the table, with the tree's cursor on it."""
        self.navigate(Location(name))
        self.table.focus()
