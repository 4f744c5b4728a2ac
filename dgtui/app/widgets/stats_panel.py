"""Compression numbers for the location being shown.

Quick numbers come for free from the pages the object table already reads
(this level only; a delta's original size is unknown without its metadata).
Exact numbers for the whole prefix, subfolders included, are computed on a
key press by ``get_bucket_stats(detailed_stats=True)`` in a worker, with a
progress bar, and can be cancelled.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widget import Widget

from dgtui import BucketStats, CancelledError
from dgtui.jobs.job import Job
from dgtui.jobs.stats import bucket_stats

from ...core.text import human_count, human_size, percent, printable
from ..jobs import JobFinished, JobRunner
from ..messages import ListingSummary, Location, MetadataCached
from .progress import progress_bar

#: how often the progress bar of a running computation is redrawn
PROGRESS_REFRESH_S = 0.25


class StatsPanel(Widget):
    """Quick numbers from the listing, and detailed numbers on demand."""

    COMPONENT_CLASSES = {"stats-panel--title", "stats-panel--dim", "stats-panel--bar", "stats-panel--bar-back"}

    DEFAULT_CSS = """
    StatsPanel { height: auto; padding: 0 1; }
    StatsPanel > .stats-panel--title { text-style: bold; color: $text-accent; }
    StatsPanel > .stats-panel--dim { color: $text-muted; }
    StatsPanel > .stats-panel--bar { color: $accent; }
    StatsPanel > .stats-panel--bar-back { color: $surface-lighten-2; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.location: Location | None = None
        self.summary = ListingSummary()
        self.detailed_location: Location | None = None
        self.detailed: BucketStats | None = None
        self.detailed_running = False
        self.detailed_note: str | None = None
        self.jobs = JobRunner(self)
        #: the detailed computation under way or last started: its counters are the progress drawn
        self._job: Job | None = None
        #: finished detailed results, by location, for when the user comes back
        self._results: dict[Location, BucketStats] = {}
        #: the exact numbers shown were computed before something below changed
        self.detailed_stale = False
        #: locations whose exact numbers this session has (from c, or from e in the savings view): the views of
        #: that location open exact, until something under it changes
        self._exact_seen: set[Location] = set()
        #: the savings view's reports, kept for the session: (location, exact) -> report
        self.savings_reports: dict = {}

    # -- quick numbers ------------------------------------------------------------
    def show_summary(self, location: Location | None, summary: ListingSummary) -> None:
        self.location = location
        self.summary = summary
        if not self.detailed_running and location is not None and location != self.detailed_location:
            self.detailed_location = location
            self.detailed = self._results.get(location)
            self.detailed_note = None
            self.detailed_stale = False
        self._refresh_shape()

    def mark_stale(self, changed: Location) -> None:
        """Objects under ``changed`` were added, removed or listed again: exact numbers that cover it are old.

        They are dropped from the cache and, if shown, labelled stale until ``c`` computes them again.
        """
        def covers(where: Location) -> bool:
            return where.bucket == changed.bucket and (changed.prefix.startswith(where.prefix)
                                                       or where.prefix.startswith(changed.prefix))

        for where in [w for w in self._results if covers(w)]:
            del self._results[where]
        self._exact_seen = {w for w in self._exact_seen if not covers(w)}
        for key in [k for k in self.savings_reports if covers(k[0])]:
            del self.savings_reports[key]
        if self.detailed is not None and self.detailed_location is not None and covers(self.detailed_location):
            self.detailed_stale = True
            self._refresh_shape()

    def note_exact(self, location: Location) -> None:
        """Exact numbers of ``location`` were computed (the metadata they need is in the cache now)."""
        self._exact_seen.add(location)

    def has_exact(self, location: Location) -> bool:
        return location in self._results or location in self._exact_seen

    def _refresh_shape(self) -> None:
        """Repaint; lay the screen out again only when the panel's height may change.

        Pages of a big listing arrive many times a second: a full layout for
        each would make the whole screen redraw for nothing.
        """
        # The title says "counting…" until the listing is complete: in a narrow panel that takes a second line.
        counting = not (self.summary.complete or self.summary.error)
        shape = (self.location is None, counting, self.detailed_running, self.detailed is None,
                 bool(self.detailed and self.detailed.metadata_invalid), self.detailed_note, self.detailed_stale,
                 bool(self.summary.unknown), bool(self.detailed and self.detailed.encrypted_objects),
                 getattr(self.app, "metadata_in_view", False))
        if shape != getattr(self, "_shape", None):
            self._shape = shape
            self.refresh(layout=True)
        else:
            self.refresh()

    # -- detailed numbers ------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.detailed_running

    def start_detailed(self, location: Location) -> None:
        self.cancel_detailed()
        self.detailed_location = location
        self.detailed = None
        self.detailed_running = True
        self.detailed_stale = False
        self.detailed_note = "listing…"
        self.refresh(layout=True)
        app = self.app
        self._job = self.jobs.start(
            Job(subject=location),
            lambda job: bucket_stats(app.live_client, job, location.bucket, location.prefix, detailed=True),
            what="computing detailed stats", group="stats")

    def cancel_detailed(self) -> None:
        if self.detailed_running:
            self.jobs.cancel_group("stats")
            self.detailed_running = False
            self.detailed_note = "cancelled"
            self.refresh(layout=True)

    @property
    def detailed_done(self) -> int:
        return self._job.stage_done if self._job is not None else 0

    @property
    def detailed_total(self) -> int:
        return self._job.stage_total if self._job is not None else 0

    def on_mount(self) -> None:
        self.set_interval(PROGRESS_REFRESH_S, self._tick)

    def _tick(self) -> None:
        if self.detailed_running:
            self.refresh()

    def on_job_finished(self, message: JobFinished) -> None:
        message.stop()
        if not self.jobs.take(message) or message.job is not self._job:
            return
        self.detailed_running = False
        if not message.cancelled and message.result is not None and self.detailed_location is not None:
            self.detailed = message.result
            self._results[self.detailed_location] = message.result
            self.detailed_note = None
            self.post_message(MetadataCached())
        self.refresh(layout=True)

    def show_inline_error(self, text: str, error: BaseException, context: tuple = ()) -> None:
        job = self.jobs.failed(context)
        if job is None or job is not self._job:
            return
        self.detailed_running = False
        self.detailed_note = "cancelled" if isinstance(error, CancelledError) else "failed: " + text
        self.refresh(layout=True)

    # -- rendering --------------------------------------------------------------------
    def render(self) -> RenderableType:
        title = self.get_component_rich_style("stats-panel--title", partial=True)
        dim = self.get_component_rich_style("stats-panel--dim", partial=True)
        summary = self.summary
        if self.location is None:
            return Text("No folder open.", style=dim)
        more = "" if summary.complete or summary.error else "+"
        parts: list[RenderableType] = [Text("Listed here" if summary.complete or summary.error
                                            else "Listed here: counting…", style=title)]
        grid = _grid()
        grid.add_row("Objects", human_count(summary.objects) + more)
        grid.add_row("Deltas", human_count(summary.deltas) + more)
        grid.add_row("Stored", human_size(summary.stored_bytes) + more)
        parts.append(grid)
        if summary.unknown:
            # Browsing sends no HEAD unless asked: say which keys read what is missing.
            in_view = "" if getattr(self.app, "metadata_in_view", False) else " (m: the rows in view)"
            parts.append(Text(f"{human_count(summary.unknown)} without original size: c or s reads them{in_view}",
                              style=dim))
        parts.extend(self._detailed_lines(title, dim))
        return Group(*parts)

    def _detailed_lines(self, title, dim) -> list[RenderableType]:
        where = self.detailed_location
        label = "All below" if where is None or where.prefix else "Whole bucket"
        if where is not None and where != self.location:
            label = printable(where.folder_name, 16)
        lines: list[RenderableType] = []
        if self.detailed_running:
            lines.append(Text(f"{label}: c cancels", style=title))
            fraction = self.detailed_done / self.detailed_total if self.detailed_total else 0.0
            width = max(self.size.width - 2 - 5, 4)
            bar = progress_bar(fraction, width, self.get_component_rich_style("stats-panel--bar", partial=True),
                               self.get_component_rich_style("stats-panel--bar-back", partial=True))
            bar.append(f" {fraction * 100:3.0f}%")
            lines.append(bar)
            if self.detailed_total:
                lines.append(Text(f"{human_count(self.detailed_done)}/{human_count(self.detailed_total)} objects read",
                                  style=dim))
            else:
                lines.append(Text(self.detailed_note or "listing…", style=dim))
            return lines
        stats = self.detailed
        if stats is None:
            note = f" ({self.detailed_note})" if self.detailed_note else ""
            lines.append(Text(f"c: exact sizes of everything below{note}", style=dim))
            return lines
        if self.detailed_stale:
            lines.append(Text(label + " (out of date: c)", style=title))
        else:
            lines.append(Text(label + (" (estimate)" if stats.estimated else " (exact)"), style=title))
        grid = _grid()
        grid.add_row("Objects", human_count(stats.object_count))
        grid.add_row("Original", human_size(stats.total_size))
        grid.add_row("Stored", human_size(stats.compressed_size))
        if stats.reference_objects:
            # Stored bytes that no listing shows: each folder's reference.bin.
            grid.add_row(Text(" in refs", style=dim), Text(human_size(stats.reference_size), style=dim))
        grid.add_row("Saved", percent(stats.savings_percent))
        grid.add_row(Text(" in bytes", style=dim), Text(human_size(stats.space_saved), style=dim))
        if stats.metadata_invalid:
            grid.add_row("Bad metadata", human_count(stats.metadata_invalid))
        if stats.encrypted_objects:
            grid.add_row("Encrypted", human_count(stats.encrypted_objects))
        lines.append(grid)
        return lines


def _grid() -> Table:
    """Label and number; in a narrow sidebar the label gives way ("Bad meta…"), never the number."""
    grid = Table.grid(padding=(0, 1), expand=True)
    grid.add_column(no_wrap=True, overflow="ellipsis")
    grid.add_column(justify="right", no_wrap=True, min_width=NUMBER_WIDTH)
    return grid


#: cells a size takes ("118.4 MiB"): at 80 columns the sidebar has room for it and "Original"
NUMBER_WIDTH = 9
