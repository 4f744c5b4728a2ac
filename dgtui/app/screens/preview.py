"""A look inside a text object (a README, checksums, a log) without saving it.

The object is restored exactly as ``d`` would restore it (a delta is rebuilt
and its sha256 checked) into a temporary folder, read, and deleted. Objects
larger than ``PREVIEW_LIMIT`` and binary contents are not shown.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import LoadingIndicator, Static

from dgtui import ObjectInfo
from dgtui.jobs.restore import check_of

from ...core.text import human_size, printable
from ..widgets.footer import AppFooter
from ..workers import background

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
            self._show(Text(f"{human_size(size)} is too big to preview (the limit is {human_size(PREVIEW_LIMIT)}); "
                            "d restores it.", style="italic"))
            return
        self._fetch()

    @background("previewing the object", group="preview", exclusive=True)
    def _fetch(self) -> None:
        app = self.app
        info = self.info
        if info.original_size is None:
            info = app.client.get_object_info(self.url)  # a delta's size lives in its metadata
            app.call_from_thread(setattr, self, "info", info)
        size = info.original_size if info.original_size is not None else info.size
        if size > PREVIEW_LIMIT:
            app.call_from_thread(self._show, Text(f"{human_size(size)} is too big to preview (the limit is "
                                                  f"{human_size(PREVIEW_LIMIT)}); d restores it.", style="italic"))
            return
        with tempfile.TemporaryDirectory(prefix="dgtui-preview-") as tmp:
            result = app.client.download(self.url, Path(tmp) / "preview")
            if result.size > PREVIEW_LIMIT:
                body = Text(f"{human_size(result.size)} is too big to preview (the limit is "
                            f"{human_size(PREVIEW_LIMIT)}); d restores it.", style="italic")
            else:
                text = preview_text((Path(tmp) / "preview").read_bytes())
                if text is None:
                    body = Text("Binary contents: not shown. d restores the object.", style="italic")
                else:
                    self.text = text
                    body = Text(f"{human_size(result.size)} · {check_of(result)}\n\n", style="italic") + Text(text)
        app.call_from_thread(self._show, body)

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
        self._show(Text("Could not preview the object:\n", style="bold") + Text(text))
