"""A one-line text question (a folder to restore to, a file to upload, a bucket name)."""

from __future__ import annotations

import os
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from ...core.text import printable

#: candidates listed under the input when Tab finds several
COMPLETION_LIST_LIMIT = 8


def complete_path(value: str) -> tuple[str, list[str]]:
    """Tab completion of a local path: (the completed value, the candidates when several remain)."""
    expanded = os.path.expanduser(value) if value.startswith("~") else value
    folder, stem = os.path.split(expanded)
    try:
        names = sorted(n for n in os.listdir(folder or ".") if n.startswith(stem) and (stem or not n.startswith(".")))
    except OSError:
        return value, []
    if not names:
        return value, []
    common = os.path.commonprefix(names)
    head = value[: len(value) - len(stem)]
    completed = head + common
    if len(names) == 1 and os.path.isdir(os.path.join(folder or ".", names[0])):
        completed += os.sep
    return completed, names if len(names) > 1 else []


class PromptScreen(ModalScreen[str | None]):
    """Returns the entered text, or None on Escape / Cancel.

    ``validate`` checks the answer before the dialog closes: the text it
    returns is shown in the dialog, which stays open so the user can fix
    the answer. ``paths=True`` completes local paths with Tab.
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        Binding("tab", "complete", "Complete the path", show=False, id="prompt.complete"),
    ]
    AUTO_FOCUS = "#prompt-input"

    def __init__(self, title: str, explanation: str | Text, value: str = "", *, ok_label: str = "OK",
                 placeholder: str = "", validate: Callable[[str], str | None] | None = None,
                 paths: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.explanation = explanation
        self.value = value
        self.ok_label = ok_label
        self.placeholder = placeholder
        self.validate = validate
        self.paths = paths

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(self.title_text), id="dialog-title")
            explanation = self.explanation if isinstance(self.explanation, Text) else Text(self.explanation)
            yield Static(explanation, markup=False, id="dialog-explanation")
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input", select_on_focus=False)
            yield Static("", markup=False, id="prompt-message")
            with Horizontal(id="dialog-buttons"):
                yield Button(Text(self.ok_label), id="prompt-ok", variant="primary", compact=True)
                yield Button("Cancel", id="prompt-cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#prompt-message").display = False

    def show_message(self, text: str) -> None:
        message = self.query_one("#prompt-message", Static)
        message.update(Text(text))
        message.display = bool(text)

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
        if not value:
            self.app.bell()
            return
        problem = self.validate(value) if self.validate is not None else None
        if problem:
            self.show_message(problem)
            self.query_one(Input).focus()
            return
        self.dismiss(value)

    def action_complete(self) -> None:
        """Tab in a path prompt completes the path (as a shell does); elsewhere it moves focus."""
        field = self.query_one(Input)
        if not self.paths or self.focused is not field:
            self.focus_next()
            return
        completed, candidates = complete_path(field.value)
        if completed != field.value:
            field.value = completed
            field.cursor_position = len(completed)
        if candidates:
            shown = "  ".join(printable(c, 40) for c in candidates[:COMPLETION_LIST_LIMIT])
            more = (f"  … {len(candidates) - COMPLETION_LIST_LIMIT} more"
                    if len(candidates) > COMPLETION_LIST_LIMIT else "")
            self.show_message(shown + more)
        elif completed == field.value:
            self.show_message("")

    def action_cancel(self) -> None:
        self.dismiss(None)
