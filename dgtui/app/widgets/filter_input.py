"""The table's name filter: an input whose every change takes effect before the next key is read."""

from __future__ import annotations

from typing import Callable

from textual.widgets import Input


class FilterInput(Input):
    """Each change of the text is applied at once (``apply``), and Enter gives the focus to ``then_focus``
    at once: not after a message round trip, so that keys typed in the same burst (``/01`` Enter ``j``)
    find the table already filtered and focused."""

    def __init__(self, *, apply: Callable[[str], None], then_focus: str, placeholder: str = "",
                 id: str | None = None) -> None:
        # Selecting the text on focus would let the next key replace what was typed just before it.
        super().__init__(placeholder=placeholder, id=id, compact=True, select_on_focus=False)
        self.apply = apply
        self.then_focus = then_focus

    def watch_value(self, value: str) -> None:
        if self.is_mounted:
            self.apply(value)

    async def action_submit(self) -> None:
        await super().action_submit()
        self.screen.set_focus(self.screen.query_one(self.then_focus))
