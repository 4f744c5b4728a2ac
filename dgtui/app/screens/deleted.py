"""Files deleted from a folder of a versioned bucket (their latest version is a delete marker).

Enter opens the versions of the highlighted file, with the cursor on its last version before the deletion,
where ``d`` restores it.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from dgtui.jobs.versions import DeletedKeys, VersionsRead

from ...core.text import human_size, plural, printable
from ..messages import Location
from ..widgets.footer import AppFooter
from .versions import VersionsScreen


class DeletedScreen(Screen[None]):
    """One row per deleted file: its name, when it was deleted, its last version's date and size."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="deleted.back"),
        Binding("q,backspace", "app.pop_screen", "Back", show=False, id="deleted.back"),
        Binding("d", "open_versions", "Versions / restore", id="deleted.restore"),
    ]

    def __init__(self, location: Location, found: DeletedKeys, *,
                 folder_problem: Callable[[str], str | None] = lambda _path: None) -> None:
        super().__init__()
        self.location = location
        self.found = found
        self.folder_problem = folder_problem

    def compose(self) -> ComposeResult:
        title = Text("Deleted files  ", style="bold") + Text(printable(self.location.url, 300))
        title.append(f"  ·  {plural(len(self.found.keys), 'file')} whose latest version is a delete marker")
        yield Static(title, id="versions-title", markup=False)
        yield DataTable(id="versions-table", cursor_type="row")
        yield Static(Text("Enter or d opens a file's versions at its last one before the deletion; d there "
                          "restores it.", style="italic"), id="versions-detail", markup=False)
        yield AppFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Name", key="name")
        table.add_column("Deleted", key="deleted")
        table.add_column("Last version", key="last")
        table.add_column(Text("Stored", justify="right"), key="stored")
        time_format = self.app.time_format
        prefix = self.found.prefix
        for n, (key, versions) in enumerate(self.found.keys):
            marker = versions[0]
            last = next(v for v in versions if not v.is_delete_marker)

            def date(v) -> str:  # type: ignore[no-untyped-def]
                return time_format(v.last_modified.isoformat()) if v.last_modified else "?"

            table.add_row(Text(printable(key[len(prefix):] if key.startswith(prefix) else key, 200)),
                          Text(date(marker), style="dim"), Text(date(last)),
                          Text(human_size(last.size), justify="right"), key=str(n))
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_versions()

    def action_open_versions(self) -> None:
        table = self.query_one(DataTable)
        if not self.found.keys or table.cursor_row < 0:
            self.app.notify("No deleted file here.", timeout=3)
            return
        key, versions = self.found.keys[min(table.cursor_row, len(self.found.keys) - 1)]
        found = VersionsRead(self.found.bucket, key, self.found.status, versions)
        start = next(n for n, v in enumerate(versions) if not v.is_delete_marker)
        self.app.push_screen(VersionsScreen(self.location, found, folder_problem=self.folder_problem,
                                            start_row=start))
