"""Every key, grouped by where it works, read from the live bindings (after the config file's keymap).

Each row also names the binding's id, the name a ``[keymap]`` table in the config file uses to remap it.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ...core.text import printable

#: how the keys that act on something choose it
KEY_RULE = ("Keys act on the focused pane's item: in the tree the highlighted bucket or folder, in the table the "
            "highlighted row (or the marked ones). A key that means nothing there (i, p, Y on a folder) says so.")

#: where keys are remapped (the path is not shown: the same words on every machine)
KEYMAP_RULE = ("Remap a key in the [keymap] table of the settings file ($DGTUI_CONFIG, else "
               "~/.config/dgtui/config.toml), one line per id of the last column: browser.restore = \"ctrl+r\".")


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark,q", "dismiss", "Close", show=False, id="help.close"),
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
            yield Label(Text(KEYMAP_RULE), id="help-keymap")
            yield Static(self._table(), markup=False)

    def _table(self) -> Table:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, style="bold", min_width=12)
        grid.add_column()
        grid.add_column(style="dim", no_wrap=True)
        for title, bindings in self.sections:
            # Several keys for one action share a row.
            rows: dict[str, tuple[str, str, str]] = {}
            for binding in bindings:
                if not binding.description:
                    continue
                keys = ", ".join(self.app.get_key_display(Binding(k.strip(), binding.action))
                                 for k in binding.key.split(","))
                if binding.action in rows:
                    known, description, binding_id = rows[binding.action]
                    rows[binding.action] = (f"{known}, {keys}", description, binding_id)
                else:
                    rows[binding.action] = (keys, binding.description, binding.id or "")
            if not rows:
                continue
            grid.add_row(Text(""), Text(""), Text(""))
            grid.add_row(Text(title, style="bold underline"), Text(""), Text(""))
            for keys, description, binding_id in rows.values():
                grid.add_row(Text(keys), Text(description), Text(binding_id))
        return grid

    def action_dismiss(self) -> None:
        self.dismiss(None)
