"""Compression details of one object: the only place that reads object metadata.

Opening it sends the HEAD request(s) (``get_object_info``); the answer is
cached for the session, so opening the same object again costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import LoadingIndicator, Static

from dgtui import ObjectInfo, ObjectKind
from dgtui.core.format import object_metadata, stored_content_type
from dgtui.jobs.job import Job

from ...core.text import human_size, percent, printable, ratio, safe_line
from ..jobs import JobFinished, JobRunner
from ..messages import Location, ObjectInfoLoaded
from ..widgets.footer import AppFooter

KIND_EXPLANATIONS = {
    ObjectKind.DELTA: "delta: stored as a binary diff against this folder's reference file",
    ObjectKind.DIRECT: "direct: stored whole, with its sha256 in the metadata",
    ObjectKind.PLAIN: "plain: written by another tool; no sha256 (restores check the ETag/MD5 when possible)",
    ObjectKind.UNKNOWN: "unknown",
}


class DetailsScreen(Screen[None]):
    """What dgtui knows about one object, fetched on open."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="details.back"),
        Binding("q,backspace", "app.pop_screen", "Back", show=False, id="details.back"),
        Binding("d", "download", "Restore", id="details.restore"),
        Binding("y", "copy_url", "Copy URL", id="details.copy-url"),
        Binding("Y", "copy_sha256", "Copy sha256", id="details.copy-sha256"),
        Binding("r", "reload", "Reload", id="details.reload"),
    ]

    def __init__(self, location: Location, listed: ObjectInfo) -> None:
        super().__init__()
        self.location = location
        self.listed = listed
        self.info: ObjectInfo | None = None
        self.jobs = JobRunner(self)

    @property
    def url(self) -> str:
        return f"s3://{self.location.bucket}/{self.listed.key}"

    def compose(self) -> ComposeResult:
        yield Static(Text("Compression details  ", style="bold") + Text(printable(self.url, 300)),
                     id="details-title", markup=False)
        with VerticalScroll(id="details-body"):
            yield LoadingIndicator(id="details-loading")
            yield Static("", id="details-content", markup=False)
        yield AppFooter()

    def on_mount(self) -> None:
        cached = self.app.info_cache.get((self.location.bucket, self.listed.key))
        if cached is not None:
            self._show(cached)
        else:
            self._fetch()

    def action_reload(self) -> None:
        self.app.info_cache.pop((self.location.bucket, self.listed.key), None)
        self.query_one("#details-loading").display = True
        self.query_one("#details-content", Static).update("")
        self._fetch()

    def _fetch(self) -> None:
        self.jobs.start(Job(), read_object_info(self.app, self.location.bucket, self.url),
                        what="reading the object's metadata", group="details")

    def on_job_finished(self, message: JobFinished) -> None:
        message.stop()
        if self.jobs.take(message) and not message.cancelled and self.is_attached:
            self._show(message.result)

    def show_inline_error(self, text: str, error: BaseException, context: tuple = ()) -> None:
        if self.jobs.failed(context) is None or not self.is_attached:
            return
        self.query_one("#details-loading").display = False
        self.query_one("#details-content", Static).update(
            Text("Could not read the object's metadata:\n", style="bold") + Text(text)
            + Text("\n\nr tries again; Esc goes back.", style="italic"))

    def _show(self, info: ObjectInfo) -> None:
        self.info = info
        self.query_one("#details-loading").display = False
        findings = getattr(self.app, "audit_findings", None)
        problems = findings.for_key(self.location.bucket, info.key) if findings is not None else []
        self.query_one("#details-content", Static).update(render_details(self.location.bucket, info,
                                                                         self.app.time_format, problems))

    def action_download(self) -> None:
        self.app.pop_screen()
        browser = self.app.browser
        if browser is not None:
            browser.download_objects([self.info or self.listed])

    def action_copy_url(self) -> None:
        self.app.copy_url(self.url)

    def action_copy_sha256(self) -> None:
        if self.info is None:
            self.app.notify("Still reading the object's metadata.", timeout=2)
        else:
            self.app.copy_sha256(self.info)


def read_object_info(app: Any, bucket: str, url: str) -> Callable[[Job], ObjectInfo]:
    """A job that reads one object's metadata and tells the app (which keeps it for the session and updates
    the table's row), also when the screen that asked is closed before the answer comes."""
    def work(job: Job) -> ObjectInfo:
        info = app.live_client.get_object_info(url)
        app.post_message(ObjectInfoLoaded(bucket, info))
        return info
    return work


def render_details(bucket: str, info: ObjectInfo, time_format, problems: list | None = None) -> Table:
    """A two-column table of every field; every value is plain ``Text``. ``problems``: what an audit found."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")

    def row(label: str, value: str | Text | None, style: str = "") -> None:
        if value is None or value == "":
            return
        grid.add_row(Text(label), value if isinstance(value, Text) else Text(value, style=style))

    for problem in problems or []:
        row("Audit", f"{problem.kind.label}: {safe_line(problem.message)}", "bold red")
    if info.metadata_problem:
        row("Warning", f"metadata invalid: {safe_line(info.metadata_problem)}", "bold red")
    if info.encryption:
        row("Encrypted", f"by deltaglider_proxy ({printable(info.encryption)}): only the proxy can read it; "
                         f"restores here are refused", "bold yellow")
    row("Key", printable(info.key))
    if info.housekeeping:
        row("Type", "housekeeping: deltaglider_proxy's locks and leases (_dgp/), not a user file")
    else:
        row("Type", KIND_EXPLANATIONS.get(info.kind, str(info.kind.value)))
    original = info.original_size
    if original is None and info.kind in (ObjectKind.DIRECT, ObjectKind.PLAIN):
        original = info.size
    row("Original size", _size_with_bytes(original))
    row("Stored size", _size_with_bytes(info.size))
    if original:
        row("Ratio", f"{ratio(info.size, original)}, stored / original")
    savings = info.savings_percent if info.original_size else (0.0 if original else None)
    if savings is not None:
        row("Savings", percent(savings))
    if info.reference_key:
        row("Reference", f"s3://{bucket}/{printable(info.reference_key)}")
    row("Reference sha256", info.ref_sha256)
    if info.sha256_missing:
        row("File sha256", "none stored (a deltaglider_proxy replica): restores check the size; "
                           "not checked: no sha256 stored", "yellow")
    else:
        row("File sha256", info.file_sha256 or ("none stored" if info.kind == ObjectKind.PLAIN else None))
    row("Tool", printable(info.tool) if info.tool else None)
    row("Created", time_format(info.created_at) if info.created_at else None)
    row("Last modified", time_format(info.last_modified) if info.last_modified else None)
    if info.original_name:
        row("Original name", printable(info.original_name))
    if info.note and info.note.strip().lower() not in ("delta", "passthrough", "direct", "reference"):
        row("Note", printable(info.note))  # the plain kind names say no more than "Type"
    row("Stored key", printable(info.stored_key) if info.stored_key != info.key else None)
    if info.older_copy_key:
        row("Older copy", f"s3://{bucket}/{printable(info.older_copy_key)} also exists; "
                          f"reads use this newer one", "yellow")
    row("ETag", printable(info.etag) if info.etag else None)
    content_type = stored_content_type(info.metadata)
    own = object_metadata(info.metadata)
    if content_type or own:
        lines = [f"Content-Type: {printable(content_type)}"] if content_type else []
        lines += [f"{printable(name)}: {printable(value)}" for name, value in sorted(own.items())]
        row("Metadata", "\n".join(lines))
    return grid


def _size_with_bytes(size: int | None) -> str | None:
    if size is None:
        return None
    return f"{human_size(size)} ({size:,} bytes)"
