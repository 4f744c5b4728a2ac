"""The versions of one object (S3 versioning): what was overwritten or deleted, and getting it back.

The browser reads the versions in a job (``dgtui.jobs.versions.read_versions``) and opens this screen with
them; ``d`` restores the highlighted version through the transfers pane, under a dated name beside the
current file by default.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from dgtui.core.versions import ObjectVersion
from dgtui.jobs.versions import VersionsRead, local_stamp, version_target

from ...core.text import human_size, percent, plural, printable
from ..messages import Location
from ..widgets.footer import AppFooter
from .prompt import PromptScreen

FORM_NAMES = {"delta": "delta", "whole": "direct", "delete-marker": "deleted"}


def _saved(version: ObjectVersion) -> str:
    if version.is_delete_marker or not version.original_size:
        return ""
    return percent(max(0.0, 100.0 * (1 - version.size / version.original_size)))


class VersionsScreen(Screen[None]):
    """One row per version of an object, newest first; Enter shows one version's details."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="versions.back"),
        Binding("q,backspace", "app.pop_screen", "Back", show=False, id="versions.back"),
        Binding("d", "restore", "Restore version", id="versions.restore"),
    ]

    def __init__(self, location: Location, found: VersionsRead, *,
                 folder_problem: Callable[[str], str | None] = lambda _path: None, start_row: int = 0,
                 deleted: bool = False) -> None:
        super().__init__()
        self.location = location
        self.found = found
        #: the row the cursor starts on (the last version before a deletion, for a deleted file)
        self.start_row = start_row
        #: opened on a deleted file (its latest version is a delete marker): the title says so, and when
        self.deleted = deleted
        #: why a local folder cannot be restored into, or None (the browser's rule for every restore)
        self.folder_problem = folder_problem

    @property
    def url(self) -> str:
        return f"s3://{self.found.bucket}/{self.found.key}"

    def compose(self) -> ComposeResult:
        title = Text("Versions  ", style="bold") + Text(printable(self.url, 300))
        title.append(f"  ·  {plural(len(self.found.versions), 'version')}")
        if self.found.status == "Suspended":
            title.append("  ·  versioning suspended: new writes replace the current version")
        if self.deleted and self.found.versions:
            title.append(f"  ·  deleted {self.app.time_format(self.found.versions[0].last_modified.isoformat())}"
                         if self.found.versions[0].last_modified else "  ·  deleted", style="bold")
        yield Static(title, id="versions-title", markup=False)
        yield DataTable(id="versions-table", cursor_type="row", zebra_stripes=False)
        hint = "Enter shows a version's details; d restores it."
        if self.deleted:
            hint = ("This file is deleted: its latest version is a delete marker. The cursor is on its last version "
                    "before the deletion; d restores it, Enter shows its details.")
        yield Static(Text(hint, style="italic"), id="versions-detail", markup=False)
        yield AppFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Date", key="date")
        table.add_column("", key="latest")
        table.add_column("Stored as", key="form")
        table.add_column(Text("Stored", justify="right"), key="stored")
        table.add_column(Text("Original", justify="right"), key="original")
        table.add_column(Text("Saved", justify="right"), key="saved")
        time_format = self.app.time_format
        for n, v in enumerate(self.found.versions):
            deleted = v.is_delete_marker
            style = "dim" if deleted else ""
            date = time_format(v.last_modified.isoformat()) if v.last_modified else "?"
            table.add_row(
                Text(date, style=style),
                Text("latest", style="bold") if v.is_latest else Text(""),
                Text(FORM_NAMES.get(v.stored_form, v.stored_form), style="italic" if deleted else ""),
                Text("" if deleted else human_size(v.size), justify="right"),
                Text("" if deleted or v.original_size is None else human_size(v.original_size), justify="right"),
                Text(_saved(v), justify="right"),
                key=str(n))
        if self.start_row:
            table.move_cursor(row=self.start_row)
        table.focus()

    @property
    def current(self) -> ObjectVersion | None:
        table = self.query_one(DataTable)
        if not self.found.versions or table.cursor_row < 0:
            return None
        return self.found.versions[min(table.cursor_row, len(self.found.versions) - 1)]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        version = self.current
        if version is not None:
            self.query_one("#versions-detail", Static).update(render_version(version, self.app.time_format))

    def action_restore(self) -> None:
        version = self.current
        if version is None:
            self.app.notify("No version here to restore.", timeout=3)
            return
        ask_restore_version(self.app, self.found.bucket, version, self.folder_problem)


def ask_restore_version(app, bucket: str, version: ObjectVersion,  # type: ignore[no-untyped-def]
                        folder_problem: Callable[[str], str | None]) -> None:
    """Ask where to restore ``version``, then restore it through the transfers pane.

    Into a folder it takes the object's name, or its dated name when a file of that name is there; the
    versions screen and a deleted file's row of the object table both restore through here.
    """
    if version.is_delete_marker:
        app.notify("This row is a delete marker: it records that the file was deleted and holds no data. "
                   "Restore an older version.", severity="warning", timeout=5)
        return
    browser = app.browser
    if browser is None:
        return
    folder = app.download_dir.rstrip(os.sep) + os.sep
    try:
        suggested = str(version_target(os.path.abspath(os.path.expanduser(folder)), bucket, version))
    except Exception:  # noqa: BLE001 - a key that cannot be a file name: the folder, and the job says why
        suggested = folder
    what = Text("Restore the version of ") + Text(local_stamp(version.last_modified), style="bold")
    what.append(" of ")
    what.append(printable(version.key, 300), style="bold")
    what.append(" to this file, or into a folder (a file already there keeps its place: the version is named "
                "with its date). The file appears only after its check.")

    def as_file(value: str) -> bool:
        path = os.path.abspath(os.path.expanduser(value))
        return not value.endswith(("/", os.sep)) and not os.path.isdir(path)

    def validate(value: str) -> str | None:
        path = os.path.abspath(os.path.expanduser(value))
        return folder_problem(os.path.dirname(path) if as_file(value) else path)

    def chosen(value: str | None) -> None:
        if not value:
            return
        path = os.path.abspath(os.path.expanduser(value))
        file_name = as_file(value)
        app.download_dir = os.path.dirname(path) if file_name else path
        browser.transfers.download_version(bucket, version, path, as_file=file_name)
        app.notify(f"Restoring the version of {local_stamp(version.last_modified)}: see the transfers "
                   "pane (Esc goes back).", timeout=4)

    app.push_screen(PromptScreen("Restore a version", what, suggested, ok_label="Restore",
                                 validate=validate, paths=True), chosen)


def render_version(version: ObjectVersion, time_format) -> Table:  # type: ignore[no-untyped-def]
    """Every field of one version, as plain text."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    rows = [("Date", time_format(version.last_modified.isoformat()) if version.last_modified else "?"),
            ("Version id", printable(version.version_id, 200)),
            ("Stored key", printable(version.stored_key, 300))]
    if version.is_delete_marker:
        rows.append(("Deleted", "a delete marker: the file was deleted here; older versions still restore"))
    else:
        rows.append(("Stored as", FORM_NAMES.get(version.stored_form, version.stored_form)))
        rows.append(("Stored size", f"{human_size(version.size)} ({version.size:,} bytes)"))
        if version.original_size is not None:
            rows.append(("Original size", f"{human_size(version.original_size)} ({version.original_size:,} bytes)"))
        if version.ref_sha256:
            rows.append(("Reference sha256", printable(version.ref_sha256, 80)))
        if version.etag:
            rows.append(("ETag", printable(version.etag, 80)))
    if version.is_latest:
        rows.append(("Latest", "yes: this is what the object is now" if not version.is_delete_marker
                     else "yes: the file is deleted now"))
    for label, value in rows:
        grid.add_row(Text(label), Text(value))
    return grid
