"""The transfers panel: restores, uploads and deletes running in the background.

Restores and uploads are run by the controller in ``dgtui.jobs`` (the
CLI uses the same one) from a thread worker; this panel only starts them and
draws them. The controller updates counters on a ``Transfer``; a timer
redraws the panel a few times per second from those counters, so a fast
transfer cannot flood the UI with messages. When the controller needs an
answer (the destination exists, a delta cannot be rebuilt byte for byte) the
worker asks through a modal and waits in its own thread.

The panel is one stop in the Tab order: arrows pick a row, ``x`` cancels the
running transfer, Enter lists every file of a finished one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget

from dgtui import CancelledError, DownloadResult
from dgtui.core.versions import ObjectVersion
from dgtui.jobs.delete import DeleteOutcome, delete_objects, delete_prefix
from dgtui.jobs.job import Question
from dgtui.jobs.restore import RestoreOutcome, restore_objects, restore_prefix
from dgtui.jobs.upload import UploadOutcome, upload_files
from dgtui.jobs.versions import AsOfPlan, local_stamp, restore_as_of, restore_version

from ...core.text import human_count, human_duration, human_size, plural, printable
from ..jobs import JobFinished, JobRunner
from ..messages import ContentsChanged, Location, TransferFinished, TransferQuestion
from ..transfer_state import Transfer
from .progress import progress_bar

REFRESH_INTERVAL_S = 0.25
ARROWS = {"download": "↓", "upload": "↑", "delete": "✗"}


class TransferView(Widget):
    """Two lines about one transfer: what and where, then progress or the result."""

    COMPONENT_CLASSES = {
        "transfer-view--title", "transfer-view--dim", "transfer-view--ok", "transfer-view--error",
        "transfer-view--bar", "transfer-view--bar-back",
    }

    DEFAULT_CSS = """
    TransferView { height: 2; padding: 0 1; }
    TransfersPanel:focus TransferView.-selected { background: $boost; }
    TransferView > .transfer-view--title { text-style: bold; }
    TransferView > .transfer-view--dim { color: $text-muted; }
    TransferView > .transfer-view--ok { color: $text-success; }
    TransferView > .transfer-view--error { color: $text-error; }
    TransferView > .transfer-view--bar { color: $accent; }
    TransferView > .transfer-view--bar-back { color: $surface-lighten-2; }
    """

    def __init__(self, transfer: Transfer) -> None:
        super().__init__(id=f"transfer-{transfer.id}")
        self.transfer = transfer

    def style(self, name: str):
        return self.get_component_rich_style(f"transfer-view--{name}", partial=True)

    def render(self) -> Text:
        t = self.transfer
        width = max(self.size.width - 2, 20)
        head = Text(no_wrap=True, overflow="ellipsis")
        mark = {"done": "✓", "failed": "✗", "cancelled": "–"}.get(t.state, ARROWS[t.direction])
        state_style = {"done": "ok", "failed": "error", "cancelled": "dim"}.get(t.state, "title")
        head.append(f"{mark} ", style=self.style(state_style))
        head.append(t.title, style=self.style("title"))
        if t.target:
            head.append(" → " if t.direction != "delete" else " from ")
            head.append(t.target)
        if t.items_total > 1:
            head.append(f"  {human_count(t.items_done)}/{human_count(t.items_total)}", style=self.style("dim"))
        head.truncate(width, overflow="ellipsis")
        body = self._progress_line(width) if t.active else self._result_line()
        body.truncate(width, overflow="ellipsis")
        return Text("\n").join([head, Text("  ") + body])

    def _progress_line(self, width: int) -> Text:
        t = self.transfer
        if t.state == "waiting":
            return Text("waiting for your answer…", style=self.style("dim"))
        if t.cancel_event.is_set():
            return Text("cancelling…", style=self.style("dim"))
        fraction = t.fraction()
        numbers = f"{t.stage} "
        if fraction is not None:
            numbers += f"{fraction * 100:3.0f}% "
        if t.bytes_total:
            done = t.bytes_items_done + int(t.item_fraction() * t.item_size)
            numbers += f"{human_size(done)}/{human_size(t.bytes_total)}"
        elif t.stage_total:
            numbers += f"{human_size(t.stage_done)}/{human_size(t.stage_total)}"
        if t.direction == "download" and t.items_total > 1 and not t.bytes_total and t.items_done:
            numbers += f"  {human_size(t.bytes_written)} restored"
        if t.sizes_unknown:
            numbers += f"  (total unknown: no size for {plural(t.sizes_unknown, 'file')})"
        rate = t.rate()
        if rate is not None:
            numbers += f"  {human_size(rate)}/s"
            left = t.seconds_left()
            if left is not None:
                numbers += f"  {human_duration(left)} left"
        # The numbers stay whole on a narrow terminal: the bar gives way, down to nothing.
        bar_width = min(width - 2 - len(numbers) - 1, 40)
        if bar_width < 4:
            return Text(numbers, style=self.style("dim"))
        line = progress_bar(fraction, bar_width, self.style("bar"), self.style("bar-back"))
        line.append(" " + numbers, style=self.style("dim"))
        return line

    def _result_line(self) -> Text:
        t = self.transfer
        style = {"done": "ok", "failed": "error"}.get(t.state, "dim")
        return Text(t.result or t.state, style=self.style(style))


class TransfersPanel(VerticalScroll, can_focus=True):
    """All transfers of this session, newest last; hidden while there are none."""

    BINDINGS = [
        # short words: at 80 columns the footer holds all three beside the global keys
        Binding("x", "cancel", "Cancel transfer", id="transfers.cancel"),
        Binding("delete", "cancel", "Cancel transfer", show=False, id="transfers.cancel"),
        Binding("enter", "show_report", "List files", id="transfers.report"),
        Binding("c", "clear", "Clear finished", id="transfers.clear"),
        Binding("up,k", "select(-1)", "Previous", show=False, id="transfers.previous"),
        Binding("down,j", "select(1)", "Next", show=False, id="transfers.next"),
    ]

    DEFAULT_CSS = """
    TransfersPanel { height: auto; max-height: 9; display: none; border-top: solid $primary; }
    TransfersPanel:focus { border-top: solid $accent; }
    TransfersPanel.-has-transfers { display: block; }
    """

    def __init__(self, *, clock: Callable[[], float], id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.transfers: list[Transfer] = []
        self.selected = -1
        self.jobs = JobRunner(self)
        self.border_title = "Transfers (Tab here · x cancels · Enter lists files · c clears finished)"

    def on_mount(self) -> None:
        self.set_interval(REFRESH_INTERVAL_S, self._tick)

    def on_unmount(self) -> None:
        # The app is closing: a worker waiting for an answer must not keep it open.
        for transfer in self.active:
            self.jobs.cancel(transfer)

    # -- bookkeeping -----------------------------------------------------------------
    def add(self, transfer: Transfer) -> Transfer:
        transfer.started_at = self.clock()
        transfer.sample(transfer.started_at)
        transfer.post_question = self._ask
        self.transfers.append(transfer)
        view = TransferView(transfer)
        self.mount(view)
        self.add_class("-has-transfers")
        self._select(len(self.transfers) - 1)
        self.call_after_refresh(self.scroll_end, animate=False)
        return transfer

    def view_of(self, transfer: Transfer) -> TransferView | None:
        for view in self.query(TransferView):
            if view.transfer is transfer:
                return view
        return None

    def clear_finished(self) -> None:
        for view in list(self.query(TransferView)):
            if not view.transfer.active:
                self.transfers.remove(view.transfer)
                view.remove()
        self._select(len(self.transfers) - 1)
        if not self.transfers:
            self.remove_class("-has-transfers")

    @property
    def active(self) -> list[Transfer]:
        return [t for t in self.transfers if t.active]

    @property
    def current(self) -> Transfer | None:
        return self.transfers[self.selected] if 0 <= self.selected < len(self.transfers) else None

    def _select(self, index: int) -> None:
        self.selected = max(min(index, len(self.transfers) - 1), -1)
        current = self.current
        for view in self.query(TransferView):
            view.set_class(view.transfer is current, "-selected")
            if view.transfer is current:
                self.call_after_refresh(self.scroll_to_widget, view, animate=False)

    def _tick(self) -> None:
        now = self.clock()
        for view in self.query(TransferView):
            if view.transfer.active:
                view.transfer.sample(now)
                view.refresh()

    def finish(self, transfer: Transfer, state: str, result: str, report: list[str] | None = None) -> None:
        """Called on the UI thread when a transfer's worker ends."""
        transfer.state = state  # type: ignore[assignment]
        transfer.result = result
        transfer.report = report or []
        view = self.view_of(transfer)
        if view is not None:
            view.refresh()
        self.post_message(TransferFinished(transfer))

    def show_inline_error(self, text: str, error: BaseException, context: tuple = ()) -> None:
        """A transfer's worker failed: its row ends with the error."""
        transfer = self.jobs.failed(context)
        if not isinstance(transfer, Transfer):
            return
        if isinstance(error, CancelledError) or transfer.cancel_event.is_set():
            self.finish(transfer, "cancelled", CANCELLED_LINE)
        else:
            self.finish(transfer, "failed", text)

    def _ask(self, transfer: Transfer, question: Question) -> None:
        self.post_message(TransferQuestion(transfer, question))

    def _start(self, transfer: Transfer, work, what: str) -> None:  # type: ignore[no-untyped-def]
        self.jobs.start(transfer, work, what=what, group="transfers", exclusive=False)

    def on_job_finished(self, message: JobFinished) -> None:
        """A transfer's job ended: its row takes the outcome's state, line and list of files."""
        message.stop()
        transfer = message.job
        if not self.jobs.take(message) or not isinstance(transfer, Transfer):
            return
        outcome = message.result
        if outcome is None:  # cancelled before the job function could say what it did
            self.finish(transfer, "cancelled", CANCELLED_LINE)
        elif isinstance(outcome, DeleteOutcome):
            self.finish(transfer, outcome.state, outcome.line(), outcome.failures)
        else:
            if isinstance(outcome, RestoreOutcome):
                self._warn_cached_references(outcome.results)
            report = outcome.report() if len(outcome.report()) > 1 or outcome.failures else []
            self.finish(transfer, outcome.state, outcome.line(), report)

    # -- keys ------------------------------------------------------------------------
    def action_select(self, step: int) -> None:
        if self.transfers:
            self._select(max(self.selected + step, 0))

    def action_cancel(self) -> None:
        """Cancel the running transfer: the selected one if it runs, the only one, or ask which."""
        current = self.current
        active = self.active
        if current is not None and current.active:
            self.cancel(current)
        elif len(active) == 1:
            self.cancel(active[0])
        elif not active:
            self.app.notify("No transfer is running.", timeout=2)
        else:
            from ..screens.confirm import ConfirmScreen

            choices = [(str(t.id), f"{ARROWS[t.direction]} {t.title}") for t in active[:6]]

            def answered(answer: str | None) -> None:
                for t in active:
                    if str(t.id) == answer:
                        self.cancel(t)

            self.app.push_screen(ConfirmScreen("Cancel which transfer?", f"{len(active)} transfers are running.",
                                               choices + [("none", "None")]), answered)

    def cancel(self, transfer: Transfer) -> None:
        self.jobs.cancel(transfer)
        view = self.view_of(transfer)
        if view is not None:
            view.refresh()
        self.app.notify(f"Cancelling {transfer.title}", timeout=2)

    def action_clear(self) -> None:
        self.clear_finished()

    def action_show_report(self) -> None:
        transfer = self.current
        if transfer is None:
            return
        if transfer.active:
            self.app.notify("Still running; its list comes when it ends.", timeout=2)
            return
        from ..screens.confirm import ConfirmScreen

        lines = transfer.report or [transfer.result]
        self.app.push_screen(ConfirmScreen(f"{transfer.title}: {plural(len(lines), 'line')}",
                                           "\n".join(lines), [("close", "Close")]))

    def _warn_cached_references(self, results: list[DownloadResult]) -> None:
        """Restores that rebuilt from this machine's cached reference (the bucket's is missing or different)."""
        for warning in dict.fromkeys(r.reference_warning for r in results if r.reference_warning):
            self.app.notify(warning, title="Restored with the cached reference", severity="warning", timeout=20)

    # -- restores --------------------------------------------------------------------
    def download_objects(self, bucket: str, objects: list[tuple[str, int]], destination: str, *,
                         as_file: bool = False) -> Transfer:
        first = objects[0][0].rsplit("/", 1)[-1]
        title = printable(first, 60) if len(objects) == 1 else f"{len(objects)} objects"
        transfer = self.add(Transfer("download", title, printable(destination, 60), items_total=len(objects)))
        app = self.app
        self._start(transfer, lambda job: restore_objects(app.live_client, job, bucket, objects, destination,
                                                          as_file=as_file), "restoring")
        return transfer

    def download_version(self, bucket: str, version: ObjectVersion, destination: str, *,
                         as_file: bool = False) -> Transfer:
        """Restore one version of an object (from the versions screen) into a folder or to a file path."""
        title = f"{printable(version.key.rsplit('/', 1)[-1], 50)} ({local_stamp(version.last_modified)})"
        transfer = self.add(Transfer("download", title, printable(destination, 60), items_total=1))
        app = self.app
        self._start(transfer, lambda job: restore_version(app.live_client, job, bucket, version, destination,
                                                          as_file=as_file), "restoring a version")
        return transfer

    def download_as_of(self, plan: AsOfPlan, folder: str) -> Transfer:
        """Restore a folder as it stood at ``plan.at`` (from the bucket's versions) into ``folder``."""
        title = f"{printable(plan.url, 50)} as of {local_stamp(plan.at)}"
        transfer = self.add(Transfer("download", title, printable(folder, 60), items_total=plan.files))
        transfer.stage = "reading versions"
        app = self.app
        self._start(transfer, lambda job: restore_as_of(app.live_client, job, plan, folder),
                    "restoring a folder as of a time")
        return transfer

    def download_prefix(self, location: Location, folder: str) -> Transfer:
        title = printable(location.url, 60)
        transfer = self.add(Transfer("download", title, printable(folder, 60), items_total=0))
        transfer.stage = "listing"
        app = self.app
        self._start(transfer, lambda job: restore_prefix(app.live_client, job, location.url, folder),
                    "restoring a folder")
        return transfer

    # -- uploads ---------------------------------------------------------------------
    def upload(self, paths: list[Path], location: Location, base: Path | None, total_bytes: int = 0) -> Transfer:
        title = printable(paths[0].name, 60) if len(paths) == 1 else f"{len(paths)} files"
        transfer = self.add(Transfer("upload", title, printable(location.url, 60), items_total=len(paths),
                                     bytes_total=total_bytes))
        app = self.app

        def work(job: Transfer) -> UploadOutcome:
            outcome = UploadOutcome()
            try:
                outcome = upload_files(app.live_client, job, paths, location.bucket, location.prefix, base)
            finally:
                if outcome.summaries or outcome.cancelled:
                    self.post_message(ContentsChanged(location))
            return outcome

        self._start(transfer, work, "uploading")
        return transfer

    # -- deletes ---------------------------------------------------------------------
    def delete_objects(self, location: Location, keys: list[str]) -> Transfer:
        title = printable(keys[0].rsplit("/", 1)[-1], 60) if len(keys) == 1 else f"{len(keys)} objects"
        transfer = self.add(Transfer("delete", f"delete {title}", printable(location.url, 60),
                                     items_total=len(keys)))
        transfer.stage = "deleting"
        app = self.app

        def work(job: Transfer) -> DeleteOutcome:
            try:
                return delete_objects(app.live_client, job, location.bucket, keys)
            finally:
                self.post_message(ContentsChanged(location))

        self._start(transfer, work, "deleting")
        return transfer

    def delete_prefix(self, location: Location, count: int) -> Transfer:
        transfer = self.add(Transfer("delete", f"delete {printable(location.url, 60)}", "", items_total=count))
        transfer.stage = "deleting"
        app = self.app

        def work(job: Transfer) -> DeleteOutcome:
            try:
                return delete_prefix(app.live_client, job, location.url)
            finally:
                self.post_message(ContentsChanged(location.parent or Location(location.bucket)))

        self._start(transfer, work, "deleting a folder")
        return transfer


#: the line of a transfer cancelled before its job could say what it did
CANCELLED_LINE = "cancelled; nothing was written for the unfinished file"
