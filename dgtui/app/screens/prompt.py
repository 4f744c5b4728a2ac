"""A one-line text question (a folder to restore to, a file to upload, a bucket name)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class PromptScreen(ModalScreen[str | None]):
    """Returns the entered text, or None on Escape / Cancel."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#prompt-input"

    def __init__(self, title: str, explanation: str | Text, value: str = "", *, ok_label: str = "OK",
                 placeholder: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.explanation = explanation
        self.value = value
        self.ok_label = ok_label
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(self.title_text), id="dialog-title")
            explanation = self.explanation if isinstance(self.explanation, Text) else Text(self.explanation)
            yield Static(explanation, markup=False, id="dialog-explanation")
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input", select_on_focus=False)
            with Horizontal(id="dialog-buttons"):
                yield Button(Text(self.ok_label), id="prompt-ok", variant="primary", compact=True)
                yield Button("Cancel", id="prompt-cancel", compact=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "prompt-ok":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        value = self.query_one(Input).value.strip()
        if value:
            self.dismiss(value)
        else:
            self.app.bell()

    def action_cancel(self) -> None:
        self.dismiss(None)
