"""A look inside a text object (a README, checksums, a log) without saving it.

The object is restored exactly as ``d`` would restore it (a delta is rebuilt
and its sha256 checked) into a temporary folder, read, and deleted. Objects
larger than ``PREVIEW_LIMIT`` and binary contents are not shown.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import LoadingIndicator, Static

from dgtui import ObjectInfo
from dgtui.jobs.job import Job
from dgtui.jobs.restore import check_of

from ...core.text import human_size, printable
from ..jobs import JobFinished, JobRunner
from ..messages import ObjectInfoLoaded
from ..widgets.footer import AppFooter

#: the largest object (original size) that is previewed
PREVIEW_LIMIT = 1024 * 1024


def preview_text(data: bytes) -> str | None:
    """The bytes as text with control characters spelled out; None for binary data."""
    if b"\x00" in data[:8192]:
        return None
    text = data.decode("utf-8", errors="replace")
    return "\n".join(printable(line) for line in text.splitlines())


class PreviewScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="preview.back"),
        Binding("q,p", "app.pop_screen", "Back", show=False, id="preview.back"),
        Binding("d", "download", "Restore", id="preview.restore"),
        Binding("y", "copy_url", "Copy URL", id="preview.copy-url"),
        Binding("Y", "copy_sha256", "Copy sha256", id="preview.copy-sha256"),
    ]

    def __init__(self, bucket: str, info: ObjectInfo) -> None:
        super().__init__()
        self.bucket = bucket
        self.info = info
        self.text: str | None = None
        self.jobs = JobRunner(self)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.info.key}"

    def compose(self) -> ComposeResult:
        yield Static(Text("Preview  ", style="bold") + Text(printable(self.url, 300)), id="details-title",
                     markup=False)
        with VerticalScroll(id="details-body"):
            yield LoadingIndicator(id="details-loading")
            yield Static("", id="preview-content", markup=False)
        yield AppFooter()

    def on_mount(self) -> None:
        size = self.info.original_size if self.info.original_size is not None else self.info.size
        if not self.info.is_delta and size > PREVIEW_LIMIT:
            self._show(_too_big(size))
            return
        self._fetch()

    def _fetch(self) -> None:
        app, url, info = self.app, self.url, self.info
        bucket = self.bucket

        def metadata_read(read: ObjectInfo) -> None:
            self.post_message(ObjectInfoLoaded(bucket, read))

        self.jobs.start(Job(), lambda job: read_preview(app.live_client, url, info, metadata_read),
                        what="previewing the object", group="preview")

    def on_object_info_loaded(self, message: ObjectInfoLoaded) -> None:
        """The delta's metadata arrived before its contents: its sha256 can be copied already."""
        message.stop()
        self.info = message.info

    def on_job_finished(self, message: JobFinished) -> None:
        message.stop()
        preview = message.result
        if not self.jobs.take(message) or message.cancelled or not isinstance(preview, Preview):
            return
        self.info = preview.info
        if preview.text is not None:
            self.text = preview.text
        self._show(preview.body)

    # -- the keys the text offers ("d restores it") -------------------------------------------
    def action_download(self) -> None:
        """Restore the previewed object, as ``d`` in the table does (its dialog asks where)."""
        info = self.info
        self.app.pop_screen()
        browser = self.app.browser
        if browser is not None:
            browser.download_objects([info])

    def action_copy_url(self) -> None:
        self.app.copy_url(self.url)

    def action_copy_sha256(self) -> None:
        if not self.info.metadata_loaded:
            self.app.notify("Still reading the object's metadata.", timeout=2)
        else:
            self.app.copy_sha256(self.info)

    def _show(self, body: Text) -> None:
        if not self.is_attached:
            return
        self.query_one("#details-loading").display = False
        self.query_one("#preview-content", Static).update(body)

    def show_inline_error(self, text: str, error: BaseException, context: tuple = ()) -> None:
        if self.jobs.failed(context) is None:
            return
        self._show(Text("Could not preview the object:\n", style="bold") + Text(text))


@dataclass
class Preview:
    """What the preview shows: the object's metadata as read, and the text (None when not shown)."""

    info: ObjectInfo
    body: Text
    text: str | None = None


def read_preview(client: Any, url: str, info: ObjectInfo, metadata_read: Callable[[ObjectInfo], None]) -> Preview:
    """Restore the object into a temporary folder as ``d`` would (rebuilt, checked), read it, delete it.

    ``metadata_read`` hears of the metadata when it had to be read first (a delta's size lives in it)."""
    if info.original_size is None:
        info = client.get_object_info(url)
        metadata_read(info)
    size = info.original_size if info.original_size is not None else info.size
    if size > PREVIEW_LIMIT:
        return Preview(info, _too_big(size))
    with tempfile.TemporaryDirectory(prefix="dgtui-preview-") as tmp:
        result = client.download(url, Path(tmp) / "preview")
        if result.size > PREVIEW_LIMIT:
            return Preview(info, _too_big(result.size))
        text = preview_text((Path(tmp) / "preview").read_bytes())
    if text is None:
        return Preview(info, Text("Binary contents: not shown. d restores the object.", style="italic"))
    return Preview(info, Text(f"{human_size(result.size)} · {check_of(result)}\n\n", style="italic") + Text(text),
                   text)


def _too_big(size: int) -> Text:
    return Text(f"{human_size(size)} is too big to preview (the limit is {human_size(PREVIEW_LIMIT)}); d restores it.",
                style="italic")
