"""The footer: "? Keys" and "q Quit" first, then the focused pane's keys, as many as fit whole.

A narrow terminal (80 columns) cannot show every key: the footer keeps the
first ones (those of the focused pane come before the screen's) and stops
before a key would be cut ("del Dele"); `?` lists them all.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: actions shown before everything else, in this order
FIRST_ACTIONS = ("help", "quit", "app.pop_screen", "retry", "give_up")
#: then the focused pane's keys, then the screen's, each in this order (others after, as bound)
PREFERRED_ACTIONS = ("open", "toggle_mark", "download", "details", "focus_filter", "upload", "audit", "delete")


def key_width(key_display: str, description: str) -> int:
    """Cells a FooterKey takes: " key " and "description "."""
    return cell_len(key_display) + cell_len(description) + 3


class AppFooter(Footer):
    def __init__(self) -> None:
        super().__init__(show_command_palette=False)
        self._laid_out_for = 0

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        seen: set[str] = set()
        ranked = []
        first = {action: index for index, action in enumerate(FIRST_ACTIONS)}
        preferred = {action: index for index, action in enumerate(PREFERRED_ACTIONS)}
        focused = self.screen.focused
        for index, (namespace, binding, enabled, tooltip) in enumerate(self.screen.active_bindings.values()):
            if binding.show and binding.action not in seen:
                seen.add(binding.action)
                rank = (first.get(binding.action, len(first)), namespace is not focused,
                        preferred.get(binding.action, len(preferred)), index)
                ranked.append((rank, (binding, enabled, tooltip)))
        shown = [item for _rank, item in sorted(ranked, key=lambda pair: pair[0])]
        room = self.app.size.width
        self._laid_out_for = room
        fitting = []
        for binding, enabled, tooltip in shown:
            width = key_width(self.app.get_key_display(binding), binding.description)
            if width > room:
                break  # whole keys only; the rest are in the help (?)
            room -= width
            fitting.append((binding, enabled, tooltip))
        #: the keys left out for want of width
        self.left_out = len(shown) - len(fitting)
        for binding, enabled, tooltip in fitting:
            key = FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
            )
            # The key starts with the footer's compact value, so binding it changes nothing: otherwise the
            # binding flips it once each key is mounted, and every flip restyles that key (about a
            # millisecond each, ten keys each time the footer is composed).
            key.set_reactive(FooterKey.compact, self.compact)
            yield key.data_bind(compact=Footer.compact)

    def on_resize(self, event: events.Resize) -> None:
        if self._bindings_ready and self.app.size.width != self._laid_out_for:
            self.call_after_refresh(self.recompose)
