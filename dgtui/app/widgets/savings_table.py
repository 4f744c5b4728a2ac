"""One row per folder: a bar of stored against original, sizes, savings and a grade.

A DataTable: a view holds the folders of one prefix (hundreds, rarely more),
and the table sorts and moves its cursor itself. Sorting is by the report's
numbers, never by the text shown.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import DataTable

from dgtui.core.savings import FolderReport, FolderSavings

from ...core.text import column_digits, human_count, human_size, percent, printable

BAR_WIDTH = 10
#: (column key, title, how rows sort by it: largest first unless named), in display order: the folder's
#: name first, so that a narrow terminal never cuts it
COLUMNS = (
    ("name", "Folder", "name"),
    ("stored", "Stored", "stored"),
    ("original", "Original", "original"),
    ("saved", "Saved", "saved"),
    ("grade", "Grade", "grade"),
    ("objects", "Objects", "objects"),
    ("deltas", "Deltas", "deltas"),
    ("bar", "Stored of original", "stored"),
)
#: always shown; the others in this order while they fit the width
ESSENTIAL = ("name", "stored", "original", "saved")
OPTIONAL = ("grade", "objects", "deltas", "bar")
#: cells a column's widest content takes (sizes like "~1023.9 MiB", grades like "excellent")
CONTENT_WIDTH = {"stored": 10, "original": 11, "saved": 7, "grade": 9, "objects": 7, "deltas": 6, "bar": BAR_WIDTH}
#: the Folder column shows this much of a long name at most (the details below show it whole)
NAME_MAX_WIDTH = 48
SORTS = ("stored", "original", "saved", "objects", "deltas", "grade", "name")
SORT_TITLES = {"stored": "stored size", "original": "original size", "saved": "saved %", "objects": "objects",
               "deltas": "deltas", "grade": "grade", "name": "name"}
#: how a column reads in its own order, and reversed
SORT_ORDER_WORDS = {"name": ("A to Z", "Z to A"), "grade": ("best first", "worst first")}
GRADE_RANK = {"excellent": 0, "good": 1, "fair": 2, "poor": 3, "no deltas": 4}


def sort_value(row: FolderSavings, column: str) -> object:
    if column == "name":
        return row.prefix
    if column == "grade":
        return (GRADE_RANK[row.grade], -row.stored_bytes)
    value = {"stored": row.stored_bytes, "original": row.original_bytes, "saved": row.saved_percent,
             "objects": row.objects, "deltas": row.deltas}[column]
    return -value


def sort_words(column: str, reverse: bool) -> str:
    """``stored size, largest first``: what the rows are sorted by, for the title."""
    words = SORT_ORDER_WORDS.get(column, ("largest first", "smallest first"))
    return f"{SORT_TITLES[column]}, {words[1] if reverse else words[0]}"


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

    class ColumnsChanged(Message):
        """The width changed which columns fit (``hidden_columns``)."""

    def on_mount(self) -> None:
        self._columns_for: int | None = None
        self.hidden_columns: list[str] = []

    def on_resize(self, event: events.Resize) -> None:
        if self.report is not None and self._fitting(self.report)[0] != self.shown_columns:
            keep = self.current.prefix if self.current is not None else None
            self._fill(keep)

    shown_columns: tuple[str, ...] = ()

    def _name_width(self, report: FolderReport) -> int:
        names = [12 if row.here else cell_len(printable(row.prefix[len(report.prefix):], 200)) for row in report.rows]
        return min(max(names + [len("Folder")]), NAME_MAX_WIDTH)

    def _fitting(self, report: FolderReport) -> tuple[tuple[str, ...], list[str]]:
        """(keys of the columns that fit the width, titles of those left out)."""
        titles = {key: title for key, title, _ in COLUMNS}
        room = self.size.width - 1 - (self._name_width(report) + 2)  # 1: the scroll bar; 2: cell padding
        keys = set(ESSENTIAL)
        room -= sum(max(CONTENT_WIDTH[key], len(titles[key])) + 2 for key in ESSENTIAL if key != "name")
        hidden = []
        for key in OPTIONAL:
            need = max(CONTENT_WIDTH[key], len(titles[key])) + 2
            if need <= room:
                keys.add(key)
                room -= need
            else:
                hidden.append(titles[key])
        return tuple(key for key, _, _ in COLUMNS if key in keys), hidden

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
        report = self.report
        if report is None:
            self.clear()
            self.rows_shown = []
            return
        shown, hidden = self._fitting(report)
        # columns are laid anew each time: the sorted one's title carries ▼ (its own order: largest, A,
        # best first) or ▲
        self.clear(columns=True)
        for key, title, _ in COLUMNS:
            if key in shown:
                if key == self.sort_column:
                    title = f"{title} {'▲' if self.sort_reverse else '▼'}"
                self.add_column(title, key=key, width=self._name_width(report) if key == "name" else None)
        if shown != self.shown_columns:
            self.shown_columns = shown
            self.hidden_columns = hidden
            self.post_message(self.ColumnsChanged())
        rows = sorted(report.rows, key=lambda r: (sort_value(r, self.sort_column), r.prefix),
                      reverse=self.sort_reverse)
        self.rows_shown = rows
        styles = {name: self.get_component_rich_style(f"savings-table--{name}", partial=True)
                  for name in ("stored", "saved", "estimate", "excellent", "good", "fair", "poor", "none")}
        # one precision for the whole Saved column, so 99.999% and 99.7% do not sit side by side
        digits = column_digits([max(r.saved_percent, 0.0) for r in rows if r.original_bytes])
        order = [key for key, _, _ in COLUMNS]
        for row in rows:
            cells = dict(zip(order, self._cells(row, report.prefix, styles, digits)))
            self.add_row(*(cells[key] for key in self.shown_columns), key=row.prefix)
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
        return [  # in the order of COLUMNS
            Text(name, style="bold" if not row.here else "italic", no_wrap=True, overflow="ellipsis"),
            Text(human_size(row.stored_bytes), justify="right"),
            Text(guess + human_size(row.original_bytes), justify="right",
                 style=styles["estimate"] if guess else ""),
            Text(guess + percent(max(row.saved_percent, 0.0), digits) if row.original_bytes else "", justify="right",
                 style=styles["estimate"] if guess else ""),
            Text(row.grade, style=grade_style),
            Text(human_count(row.objects), justify="right"),
            Text(human_count(row.deltas), justify="right"),
            bar,
        ]
