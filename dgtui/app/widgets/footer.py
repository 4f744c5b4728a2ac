"""The footer, with "? Keys" and "q Quit" first so that narrow terminals still show them."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

#: actions shown before everything else, in this order
FIRST_ACTIONS = ("help", "quit", "app.pop_screen", "retry", "give_up")


class AppFooter(Footer):
    def __init__(self) -> None:
        super().__init__(show_command_palette=False)

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        seen: set[str] = set()
        shown = []
        for _namespace, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in seen:
                seen.add(binding.action)
                shown.append((binding, enabled, tooltip))
        rank = {action: index for index, action in enumerate(FIRST_ACTIONS)}
        shown.sort(key=lambda item: rank.get(item[0].action, len(rank)))
        self.styles.grid_size_columns = len(shown)
        for binding, enabled, tooltip in shown:
            yield FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                binding.description,
                binding.action,
                disabled=not enabled,
                tooltip=tooltip,
            ).data_bind(compact=Footer.compact)
