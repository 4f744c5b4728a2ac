"""One row per folder: a bar of stored against original, sizes, savings and a grade.

A DataTable: a view holds the folders of one prefix (hundreds, rarely more),
and the table sorts and moves its cursor itself. Sorting is by the report's
numbers, never by the text shown.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from dgtui.core.savings import FolderReport, FolderSavings

from ..text import column_digits, human_count, human_size, percent, printable

BAR_WIDTH = 10
#: (column key, title, how rows sort by it: largest first unless named)
COLUMNS = (
    ("bar", "Stored of original", "stored"),
    ("stored", "Stored", "stored"),
    ("original", "Original", "original"),
    ("saved", "Saved", "saved"),
    ("objects", "Objects", "objects"),
    ("deltas", "Deltas", "deltas"),
    ("grade", "Grade", "grade"),
    ("name", "Folder", "name"),
)
SORTS = ("stored", "original", "saved", "objects", "deltas", "grade", "name")
SORT_TITLES = {"stored": "stored size", "original": "original size", "saved": "saved %", "objects": "objects",
               "deltas": "deltas", "grade": "grade", "name": "name"}
GRADE_RANK = {"excellent": 0, "good": 1, "fair": 2, "poor": 3, "no deltas": 4}


def sort_value(row: FolderSavings, column: str) -> object:
    if column == "name":
        return row.prefix
    if column == "grade":
        return (GRADE_RANK[row.grade], -row.stored_bytes)
    value = {"stored": row.stored_bytes, "original": row.original_bytes, "saved": row.saved_percent,
             "objects": row.objects, "deltas": row.deltas}[column]
    return -value


def bar_text(row: FolderSavings, width: int = BAR_WIDTH) -> Text:
    """Filled: what is stored; empty: what deltas saved."""
    text = Text(no_wrap=True)
    if row.original_bytes <= 0:
        return text.append(" " * width)
    share = min(max(row.stored_bytes / row.original_bytes, 0.0), 1.0)
    filled = round(share * width)
    if row.stored_bytes and filled == 0 and share * width >= 0.25:
        filled = 1
    text.append("█" * filled)
    text.append("░" * (width - filled))
    return text


class SavingsTable(DataTable):
    """Rows of one ``FolderReport``; the screen decides what Enter and Backspace do."""

    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {
        "savings-table--stored", "savings-table--saved", "savings-table--estimate",
        "savings-table--excellent", "savings-table--good", "savings-table--fair", "savings-table--poor",
        "savings-table--none",
    }

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.report: FolderReport | None = None
        self.rows_shown: list[FolderSavings] = []
        self.sort_column = "stored"
        self.sort_reverse = False

    def on_mount(self) -> None:
        for key, title, _ in COLUMNS:
            self.add_column(title, key=key)

    def show(self, report: FolderReport | None, keep: str | None = None) -> None:
        self.report = report
        self._fill(keep)

    def set_sort(self, column: str, reverse: bool | None = None) -> None:
        keep = self.current.prefix if self.current is not None else None
        if reverse is None:
            reverse = not self.sort_reverse if column == self.sort_column else False
        self.sort_column, self.sort_reverse = column, reverse
        self._fill(keep)

    def next_sort(self) -> str:
        column = SORTS[(SORTS.index(self.sort_column) + 1) % len(SORTS)]
        self.set_sort(column, False)
        return column

    @property
    def current(self) -> FolderSavings | None:
        if 0 <= self.cursor_row < len(self.rows_shown):
            return self.rows_shown[self.cursor_row]
        return None

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        column = next((sort for key, _, sort in COLUMNS if key == event.column_key.value), None)
        if column is not None:
            self.set_sort(column)

    def _fill(self, keep: str | None) -> None:
        self.clear()
        report = self.report
        if report is None:
            self.rows_shown = []
            return
        rows = sorted(report.rows, key=lambda r: (sort_value(r, self.sort_column), r.prefix),
                      reverse=self.sort_reverse)
        self.rows_shown = rows
        styles = {name: self.get_component_rich_style(f"savings-table--{name}", partial=True)
                  for name in ("stored", "saved", "estimate", "excellent", "good", "fair", "poor", "none")}
        # one precision for the whole Saved column, so 99.999% and 99.7% do not sit side by side
        digits = column_digits([max(r.saved_percent, 0.0) for r in rows if r.original_bytes])
        for row in rows:
            self.add_row(*self._cells(row, report.prefix, styles, digits), key=row.prefix)
        target = next((i for i, r in enumerate(rows) if r.prefix == keep), 0)
        if rows:
            self.move_cursor(row=target, animate=False)

    @staticmethod
    def _cells(row: FolderSavings, prefix: str, styles: dict, digits: int = 1) -> list[Text]:
        bar = bar_text(row)
        bar.stylize(styles["stored"], 0, bar.plain.count("█"))
        bar.stylize(styles["saved"], bar.plain.count("█"))
        guess = "~" if row.is_estimate else ""
        grade_style = styles.get(row.grade.replace("no deltas", "none"), "")
        name = "(files here)" if row.here else printable(row.prefix[len(prefix):], 200)
        return [
            bar,
            Text(human_size(row.stored_bytes), justify="right"),
            Text(guess + human_size(row.original_bytes), justify="right",
                 style=styles["estimate"] if guess else ""),
            Text(guess + percent(max(row.saved_percent, 0.0), digits) if row.original_bytes else "", justify="right",
                 style=styles["estimate"] if guess else ""),
            Text(human_count(row.objects), justify="right"),
            Text(human_count(row.deltas), justify="right"),
            Text(row.grade, style=grade_style),
            Text(name, style="bold" if not row.here else "italic"),
        ]
