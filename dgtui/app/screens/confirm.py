"""A question with a few answers, as a modal dialog.

Message text is given as ``Text`` or plain ``str`` (never markup), so key
names in it are shown exactly as they are.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static
from textual.widgets.button import ButtonVariant


class ConfirmScreen(ModalScreen[str | None]):
    """Returns the chosen answer, or None on Escape.

    ``choices`` are (answer, button label); the first is the default
    (Enter) unless ``danger`` is set, in which case the user must pick it
    explicitly (Tab, arrow keys or its letter) so Enter alone deletes nothing.
    """

    BINDINGS = [
        Binding("escape", "dismiss_none", "Cancel", id="dialog.cancel"),
        Binding("q", "dismiss_none", "Cancel", show=False, id="dialog.cancel"),
        Binding("left", "button(-1)", "Previous", show=False, id="dialog.previous"),
        Binding("right", "button(1)", "Next", show=False, id="dialog.next"),
    ]

    def __init__(self, title: str, body: str | Text, choices: list[tuple[str, str]] | None = None, *,
                 danger: bool = False) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.choices = choices or [("yes", "Yes"), ("no", "No")]
        self.danger = danger
        # Danger: the harmless answer (the last) has the focus, so Enter alone changes nothing.
        focused = self.choices[-1] if danger and len(self.choices) > 1 else self.choices[0]
        self.AUTO_FOCUS = f"#answer-{focused[0]}"

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="danger" if self.danger else ""):
            yield Label(Text(self.title_text), id="dialog-title")
            with VerticalScroll(id="dialog-body"):
                body = self.body if isinstance(self.body, Text) else Text(self.body)
                yield Static(body, markup=False)
            with Horizontal(id="dialog-buttons"):
                for index, (answer, label) in enumerate(self.choices):
                    variant: ButtonVariant = ("error" if self.danger and index == 0
                                              else "primary" if index == 0 else "default")
                    yield Button(Text(label), id=f"answer-{answer}", variant=variant, compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        answer = (event.button.id or "").removeprefix("answer-")
        self.dismiss(answer)

    def action_button(self, step: int) -> None:
        """Left/Right go round the buttons only (Tab also reaches the text, to scroll a long one)."""
        buttons = list(self.query(Button))
        if self.focused in buttons:
            index = (buttons.index(self.focused) + step) % len(buttons)  # type: ignore[arg-type]
        else:
            index = 0 if step > 0 else len(buttons) - 1
        buttons[index].focus()

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
