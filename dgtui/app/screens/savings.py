"""Savings by folder: where the bytes are, how well each folder compresses, and why.

Opens on a bucket or folder with quick numbers from the listing alone
(estimates marked ``~``); ``e`` reads every delta's metadata for exact
numbers (progress, ``e`` again cancels), ``a`` estimates the totals from a
random sample of deltas with a 95% interval, ``m`` measures what a
one-archive-per-folder layout would save in one shared folder. Enter opens a
folder, Backspace goes up. Every view already computed is kept for going
back.
"""

from __future__ import annotations

from typing import Any, Callable

from rich.console import Group, RenderableType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from dgtui import CancelledError
from dgtui.core.config import DEFAULT_PRICE_PER_GB_MONTH, Settings, load_settings
from dgtui.core.sampling import SampledStats
from dgtui.core.savings import FolderReport, FolderSavings, LayoutAdvice, monthly_cost
from dgtui.core.text import money, worth_a_cent
from dgtui.jobs.job import Job
from dgtui.jobs.savings import folder_savings, measure_layout, sampled_stats

from ...core.text import human_count, human_size, percent, printable, safe_line
from ..jobs import JobFinished, JobRunner
from ..messages import Location
from ..widgets.footer import AppFooter
from ..widgets.progress import progress_bar
from ..widgets.savings_table import SavingsTable, sort_words

PROGRESS_REFRESH_S = 0.25


class SavingsScreen(Screen[None]):
    """Savings of every folder below a location, drawn from ``FolderReport``s."""

    BINDINGS = [
        Binding("escape", "close", "Back", id="savings.back"),
        Binding("q", "close", "Back", show=False, id="savings.back"),
        Binding("enter", "open", "Open folder", show=False, id="savings.open"),
        Binding("backspace", "up", "Parent", show=False, id="savings.parent"),
        Binding("e", "exact", "Exact", id="savings.exact"),
        Binding("a", "sampled", "Sampled", id="savings.sampled"),
        Binding("m", "measure", "Measure layout", id="savings.measure"),
        Binding("o", "next_sort", "Sort", id="savings.sort"),
        Binding("O", "reverse_sort", "Reverse sort", show=False, id="savings.reverse-sort"),
    ]

    def __init__(self, location: Location, cursor: str | None = None, *, exact: bool = False,
                 reports: dict[tuple[Location, bool], FolderReport] | None = None,
                 on_exact: Callable[[Location], None] | None = None) -> None:
        """``cursor``: the folder (a row of this view) to highlight first, e.g. the one highlighted in the table.

        ``exact``: the session has exact numbers of ``location`` already (``c``), so the view opens exact
        (the metadata cache holds what it needs). ``reports`` are the session's reports, shared by every
        savings view until something changes; ``on_exact`` hears of each location read exactly.
        """
        super().__init__()
        self.location = location
        self.cursor = cursor
        self.reports: dict[tuple[Location, bool], FolderReport] = reports if reports is not None else {}
        self.on_exact = on_exact
        self.sampled: dict[Location, SampledStats] = {}
        self.report: FolderReport | None = None
        self.settings = Settings()
        self.settings_problem: str | None = None
        self.running: str | None = None  # "listing", "exact", "sampled", "measure"
        self.exact_mode = exact
        self.note: str | None = None
        self.jobs = JobRunner(self)
        #: the job under way or last started (its counters are the progress drawn)
        self._job: Job | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="savings-title", markup=False)
        yield SavingsTable(id="savings-table")
        yield Static("", id="savings-detail", markup=False)
        yield AppFooter()

    @property
    def table(self) -> SavingsTable:
        return self.query_one(SavingsTable)

    def on_mount(self) -> None:
        try:
            self.settings = load_settings()
        except Exception as exc:  # noqa: BLE001 - a bad settings file: say so once, use the list price
            self.settings_problem = str(exc)
            self.app.notify(f"{exc}; costs use ${DEFAULT_PRICE_PER_GB_MONTH}/GB-month", timeout=6)
        self.set_interval(PROGRESS_REFRESH_S, self._tick)
        self.table.focus()
        self.show(self.location, keep=self.cursor)

    # -- loading ------------------------------------------------------------------------
    def show(self, location: Location, keep: str | None = None) -> None:
        self.cancel_running(quiet=True)
        self.location = location
        self.note = None
        self.cursor = keep  # for when the report arrives
        report = self.reports.get((location, True)) or self.reports.get((location, False))
        self.report = report
        self.table.show(report, keep)
        if report is None or (self.exact_mode and not report.exact):
            # Once exact numbers were asked for, folders opened later are read exactly too
            # (the metadata cache makes that cheap for what was read already).
            self._start_load(location, self.exact_mode)
        self._redraw()

    def _start(self, kind: str, work: Callable[[Job], Any], what: str, subject: Any) -> None:
        self.running = kind
        self._job = self.jobs.start(Job(subject=subject), work, what=what, group="savings")
        self._redraw()

    def _start_load(self, location: Location, exact: bool) -> None:
        app = self.app
        quick = self.reports.get((location, False))
        expected = quick.total.deltas if exact and quick is not None else None
        self._start("exact" if exact else "listing",
                    lambda job: folder_savings(app.live_client, job, location.bucket, location.prefix, exact=exact,
                                               expected_deltas=expected),
                    "computing savings by folder", (location, exact))

    def cancel_running(self, quiet: bool = False) -> None:
        if self.running is not None:
            self.jobs.cancel_group("savings")
            if self._job is not None:
                self.jobs.forget(self._job)
            if not quiet:
                self.note = f"{self.running} cancelled"
            self.running = None
            self._redraw()

    @property
    def done(self) -> int:
        return self._job.stage_done if self._job is not None else 0

    @property
    def total(self) -> int:
        return self._job.stage_total if self._job is not None else 0

    @property
    def stage(self) -> str:
        """The measurement's stage; listing, exact and sampled runs show their numbers alone."""
        return self._job.stage if self._job is not None and self.running == "measure" else ""

    def on_job_finished(self, message: JobFinished) -> None:
        message.stop()
        result = message.result
        if isinstance(result, FolderReport) and not message.cancelled:
            # Kept even when the view moved on meanwhile: going back to that folder shows it at once.
            location, exact = message.job.subject
            self.reports[(location, exact)] = result
        elif isinstance(result, SampledStats) and not message.cancelled:
            self.sampled[message.job.subject] = result
        if not self.jobs.take(message) or message.job is not self._job:
            return
        self.running = None
        if isinstance(result, FolderReport) and not message.cancelled:
            location, exact = message.job.subject
            self._loaded(location, exact, result)
        self._redraw()

    def _loaded(self, location: Location, exact: bool, report: FolderReport) -> None:
        if exact:
            self.post_message_to_browser()
            if self.on_exact is not None:
                self.on_exact(location)
        if location == self.location:
            keep = self.table.current.prefix if self.table.current is not None else self.cursor
            self.cursor = None
            self.report = report
            self.table.show(report, keep)

    def post_message_to_browser(self) -> None:
        from ..messages import MetadataCached

        for screen in self.app.screen_stack:
            if screen is not self and hasattr(screen, "table"):
                screen.post_message(MetadataCached())

    def show_inline_error(self, text: str, error: BaseException, context: tuple = ()) -> None:
        job = self.jobs.failed(context)
        if job is None or job is not self._job:
            return
        self.running = None
        self.note = "cancelled" if isinstance(error, CancelledError) else f"failed: {text}"
        self._redraw()

    # -- actions ---------------------------------------------------------------------------
    def action_close(self) -> None:
        self.cancel_running(quiet=True)
        self.app.pop_screen()

    def action_open(self) -> None:
        row = self.table.current
        if row is None:
            return
        if row.here:
            self.app.notify("These are the files directly in this folder; Backspace goes up.", timeout=3)
            return
        self.show(Location(self.location.bucket, row.prefix))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._redraw()

    def action_up(self) -> None:
        parent = self.location.parent
        if parent is None:
            self.app.notify("Already at the top of the bucket; Esc goes back to the browser.", timeout=3)
            return
        self.show(parent, keep=self.location.prefix)

    def action_exact(self) -> None:
        if self.running == "exact":
            self.exact_mode = False
            self.cancel_running()
            return
        self.exact_mode = True
        if self.report is not None and self.report.exact:
            self.app.notify("These numbers are exact already.", timeout=3)
            return
        self._start_load(self.location, True)

    def action_sampled(self) -> None:
        if self.running == "sampled":
            self.cancel_running()
            return
        app, location = self.app, self.location
        self._start("sampled", lambda job: sampled_stats(app.live_client, job, location.bucket, location.prefix),
                    "estimating savings from a sample", location)

    def action_measure(self) -> None:
        if self.running == "measure":
            self.cancel_running()
            return
        advice = self._advice_for_row()
        if advice is None:
            self.app.notify("No one-archive-per-folder layout here to measure.", timeout=3)
            return
        app, bucket = self.app, self.location.bucket
        self._start("measure", lambda job: measure_layout(app.live_client, job, bucket, advice), "measuring the layout",
                    advice)

    def action_next_sort(self) -> None:
        column = self.table.next_sort()
        self.app.notify(f"Sorted by {sort_words(column, self.table.sort_reverse)}", timeout=2)
        self._redraw()

    def action_reverse_sort(self) -> None:
        self.table.set_sort(self.table.sort_column, not self.table.sort_reverse)
        self._redraw()

    # -- drawing ---------------------------------------------------------------------------
    def _advice_for_row(self) -> LayoutAdvice | None:
        report = self.report
        if report is None or not report.advice:
            return None
        row = self.table.current
        if row is not None and not row.here:
            for advice in report.advice:
                if advice.parent.startswith(row.prefix) or row.prefix.startswith(advice.parent):
                    return advice
        return report.advice[0]

    def _tick(self) -> None:
        if self.running is not None:
            self._redraw()

    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        self.query_one("#savings-title", Static).update(self._title())
        self.query_one("#savings-detail", Static).update(self._detail())

    def _title(self) -> Text:
        report = self.report
        title = Text("Savings by folder  ", style="bold")
        title.append(printable(self.location.url, 300))
        if report is not None:
            title.append("  exact" if report.exact else "  quick: ~ marks estimates (e: exact)", style="italic")
        title.append(f"  sorted by {sort_words(self.table.sort_column, self.table.sort_reverse)} (o, O)",
                     style="italic")
        hidden = self.table.hidden_columns if self.is_mounted else []
        if hidden:
            title.append(f"  (hidden: {', '.join(hidden)})", style="italic")
        return title

    def on_savings_table_columns_changed(self, message: SavingsTable.ColumnsChanged) -> None:
        message.stop()
        self._redraw()

    def _detail(self) -> RenderableType:
        lines: list[RenderableType] = []
        width = max(self.size.width - 2, 20)
        if self.running is not None:
            what = {"listing": "listing", "exact": "reading metadata (e cancels)",
                    "sampled": "reading a sample of deltas (a cancels)",
                    "measure": "measuring the layout with xdelta3 (m cancels)"}[self.running]
            fraction = self.done / self.total if self.total else None
            line = Text(f"{what}  ")
            line.append_text(progress_bar(fraction, min(30, width // 3), "bold", "dim"))
            if self.total:
                unit = human_size if self.running == "measure" else human_count
                line.append(f" {unit(self.done)}/{unit(self.total)} {self.stage}")
            lines.append(line)
        elif self.note:
            lines.append(Text(self.note, style="italic"))
        report = self.report
        row = self.table.current if report is not None else None
        if row is not None:
            lines.append(self._row_line(row))
        if report is not None:
            lines.append(self._cost_line(report.total))
            for advice in report.advice[:2]:
                lines.append(Text("Layout: " + safe_line(advice.message, 400), style="bold"))
                if advice.shared_stored_bytes is not None:
                    lines.append(Text(
                        f"  measured on two neighbours: a delta is {(advice.sample_delta_ratio or 0) * 100:.2g}% of "
                        f"a file; one shared folder would store about {human_size(advice.shared_stored_bytes)} "
                        f"instead of {human_size(advice.stored_bytes)}, saving about "
                        f"{human_size(max(advice.shared_saved_bytes or 0, 0))}"))
                else:
                    lines.append(Text("  m measures what one shared folder would store (two archives are "
                                      "restored here and compared; nothing is written to the bucket)",
                                      style="italic"))
        sampled = self.sampled.get(self.location)
        if sampled is not None:
            lines.append(self._sampled_line(sampled))
        return Group(*lines)

    def _row_line(self, row: FolderSavings) -> Text:
        name = "files directly here" if row.here else printable(row.prefix[len(self.location.prefix):], 120)
        line = Text()
        line.append(f"{name}: ", style="bold")
        line.append(f"{row.grade}, {row.reason}")
        price = self.settings.price_per_gb_month
        guess = "~" if row.is_estimate else ""
        stored, original = monthly_cost(row.stored_bytes, price), monthly_cost(row.original_bytes, price)
        if worth_a_cent(stored, original):
            line.append(f"; {money(stored)} a month, {guess}{money(original)} without deltas")
        if row.is_estimate:
            line.append(f"; {human_count(row.estimated)} deltas guessed at their reference's size (e: exact)",
                        style="italic")
        return line

    def _cost_line(self, total: FolderSavings) -> Text:
        price = self.settings.price_per_gb_month
        guess = "~" if total.is_estimate else ""
        stored, original = monthly_cost(total.stored_bytes, price), monthly_cost(total.original_bytes, price)
        cost = (f"; a month costs {money(stored)} instead of {guess}{money(original)} "
                f"(${price:g}/GB-month, {self.settings.price_source})" if worth_a_cent(stored, original) else "")
        return Text(f"Total: {human_size(total.stored_bytes)} stored of {guess}{human_size(total.original_bytes)}, "
                    f"{guess}{percent(max(total.saved_percent, 0.0))} saved{cost}")

    @staticmethod
    def _sampled_line(stats: SampledStats) -> Text:
        if stats.exact:
            how = f"all {human_count(stats.deltas)} deltas read"
        else:
            how = f"{human_count(stats.sample_size)} of {human_count(stats.deltas)} deltas read, 95% interval"
        return Text(f"Sampled: original {human_size(stats.original_bytes)} ({human_size(stats.original_low)} to "
                    f"{human_size(stats.original_high)}), saved {percent(stats.saved_percent)} "
                    f"({percent(stats.saved_percent_low)} to {percent(stats.saved_percent_high)}); {how}")
