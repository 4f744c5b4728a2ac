"""Every key, grouped by where it works, read from the bindings themselves."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ..text import printable

#: how the keys that act on something choose it
KEY_RULE = ("Keys act on the focused pane's item: in the tree the highlighted bucket or folder, in the table the "
            "highlighted row (or the marked ones). A key that means nothing there (i, p, Y on a folder) says so.")


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def __init__(self, sections: list[tuple[str, list[Binding]]]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            yield Label(Text("Keys   (Esc closes; ctrl+p opens the command palette)"), id="help-title")
            endpoint = getattr(self.app, "endpoint", None)
            if endpoint:
                yield Label(Text("Connected to " + printable(endpoint, 200)), id="help-endpoint")
            yield Label(Text(KEY_RULE), id="help-rule")
            yield Static(self._table(), markup=False)

    def _table(self) -> Table:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, style="bold", min_width=12)
        grid.add_column()
        for title, bindings in self.sections:
            # Several keys for one action share a row.
            rows: dict[str, tuple[str, str]] = {}
            for binding in bindings:
                if not binding.description:
                    continue
                keys = ", ".join(self.app.get_key_display(Binding(k.strip(), binding.action))
                                 for k in binding.key.split(","))
                if binding.action in rows:
                    known, description = rows[binding.action]
                    rows[binding.action] = (f"{known}, {keys}", description)
                else:
                    rows[binding.action] = (keys, binding.description)
            if not rows:
                continue
            grid.add_row(Text(""), Text(""))
            grid.add_row(Text(title, style="bold underline"), Text(""))
            for keys, description in rows.values():
                grid.add_row(Text(keys), Text(description))
        return grid

    def action_dismiss(self) -> None:
        self.dismiss(None)
