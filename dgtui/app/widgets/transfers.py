"""The transfers panel: restores, uploads and deletes running in the background.

Each transfer is a thread worker that calls the SDK with a progress callback
and a cancel check. The callbacks only update counters on a ``Transfer``; a
timer redraws the panel a few times per second from those counters, so a
fast transfer cannot flood the UI with messages. When the SDK needs an
answer (the destination exists, a delta cannot be rebuilt byte for byte) the
worker asks through a modal and waits in its own thread.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widget import Widget

from dgtui import (
    CancelledError,
    DestinationExistsError,
    DownloadResult,
    ObjectInfo,
    RecompressionError,
    UploadSummary,
)

from ..errors import describe
from ..messages import ContentsChanged, Location, Question, TransferFinished, TransferQuestion
from ..text import human_count, human_duration, human_size, printable
from ..transfer_state import Transfer
from ..workers import background
from .progress import progress_bar

REFRESH_INTERVAL_S = 0.25
ARROWS = {"download": "↓", "upload": "↑", "delete": "✗"}


class TransferView(Widget, can_focus=True):
    """Two lines about one transfer: what and where, then progress or the result."""

    BINDINGS = [
        Binding("x", "cancel", "Cancel transfer"),
        Binding("delete", "cancel", "Cancel transfer", show=False),
        Binding("c", "clear", "Clear finished"),
    ]

    COMPONENT_CLASSES = {
        "transfer-view--title", "transfer-view--dim", "transfer-view--ok", "transfer-view--error",
        "transfer-view--bar", "transfer-view--bar-back",
    }

    DEFAULT_CSS = """
    TransferView { height: 2; padding: 0 1; }
    TransferView:focus { background: $boost; }
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

    def action_cancel(self) -> None:
        if self.transfer.active:
            self.transfer.cancel()
            self.refresh()
        else:
            self.app.notify("This transfer has already finished.", timeout=2)

    def action_clear(self) -> None:
        panel = self.parent
        if isinstance(panel, TransfersPanel):
            panel.clear_finished()

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
            head.append(" → ")
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
        if t.stage_total:
            numbers += f"{fraction * 100:3.0f}% {human_size(t.stage_done)}/{human_size(t.stage_total)}"
        rate = t.rate()
        if rate is not None:
            numbers += f"  {human_size(rate)}/s"
            left = t.seconds_left()
            if left is not None:
                numbers += f"  {human_duration(left)} left"
        bar_width = max(min(width - 2 - len(numbers) - 1, 40), 8)
        line = progress_bar(fraction, bar_width, self.style("bar"), self.style("bar-back"))
        line.append(" " + numbers, style=self.style("dim"))
        return line

    def _result_line(self) -> Text:
        t = self.transfer
        style = {"done": "ok", "failed": "error"}.get(t.state, "dim")
        return Text(t.result or t.state, style=self.style(style))


class TransfersPanel(VerticalScroll, can_focus=False):
    """All transfers of this session, newest last; hidden while there are none."""

    DEFAULT_CSS = """
    TransfersPanel { height: auto; max-height: 9; display: none; border-top: solid $primary; }
    TransfersPanel.-has-transfers { display: block; }
    """

    def __init__(self, *, clock: Callable[[], float], id: str | None = None) -> None:
        super().__init__(id=id)
        self.clock = clock
        self.transfers: list[Transfer] = []
        self.border_title = "Transfers (Tab to select · x cancels · c clears finished)"

    def on_mount(self) -> None:
        self.set_interval(REFRESH_INTERVAL_S, self._tick)

    # -- bookkeeping -----------------------------------------------------------------
    def add(self, transfer: Transfer) -> Transfer:
        transfer.started_at = self.clock()
        transfer.sample(transfer.started_at)
        self.transfers.append(transfer)
        view = TransferView(transfer)
        self.mount(view)
        self.add_class("-has-transfers")
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
        if not self.transfers:
            self.remove_class("-has-transfers")

    @property
    def active(self) -> list[Transfer]:
        return [t for t in self.transfers if t.active]

    def _tick(self) -> None:
        now = self.clock()
        for view in self.query(TransferView):
            if view.transfer.active:
                view.transfer.sample(now)
                view.refresh()

    def finish(self, transfer: Transfer, state: str, result: str) -> None:
        """Called on the UI thread when a transfer's worker ends."""
        transfer.state = state  # type: ignore[assignment]
        transfer.result = result
        view = self.view_of(transfer)
        if view is not None:
            view.refresh()
        self.post_message(TransferFinished(transfer))

    def show_inline_error(self, text: str, error: BaseException, context: tuple = ()) -> None:
        """A transfer's worker failed: its row ends with the error."""
        transfer = context[0] if context and isinstance(context[0], Transfer) else None
        if transfer is None:
            return
        if isinstance(error, CancelledError) or transfer.cancel_event.is_set():
            self.finish(transfer, "cancelled", "cancelled; nothing was written for the unfinished file")
        else:
            self.finish(transfer, "failed", text)

    def _ask(self, transfer: Transfer, question: Question) -> None:
        self.post_message(TransferQuestion(transfer, question))

    def _done(self, transfer: Transfer, state: str, result: str) -> None:
        self.app.call_from_thread(self.finish, transfer, state, result)

    def _warn_cached_references(self, results: list[DownloadResult]) -> None:
        """Restores that rebuilt from this machine's cached reference (the bucket's is missing or different)."""
        for warning in dict.fromkeys(r.reference_warning for r in results if r.reference_warning):
            self.app.call_from_thread(self.app.notify, warning, title="Restored with the cached reference",
                                      severity="warning", timeout=20)

    # -- restores --------------------------------------------------------------------
    def download_objects(self, bucket: str, objects: list[ObjectInfo], folder: str) -> Transfer:
        title = printable(objects[0].name, 60) if len(objects) == 1 else f"{len(objects)} objects"
        transfer = self.add(Transfer("download", title, printable(folder, 60), items_total=len(objects)))
        self._run_download_objects(transfer, bucket, [o.key for o in objects], folder)
        return transfer

    @background("restoring", group="transfers")
    def _run_download_objects(self, transfer: Transfer, bucket: str, keys: list[str], folder: str) -> None:
        client = self.app.client
        results: list[DownloadResult] = []
        failures: list[str] = []
        skipped = 0
        overwrite_all = False
        dest = folder if folder.endswith(os.sep) else folder + os.sep
        for key in keys:
            if transfer.should_cancel():
                raise CancelledError()
            overwrite, rescue = overwrite_all, False
            while True:
                try:
                    result = client.download(f"s3://{bucket}/{key}", dest, overwrite=overwrite,
                                             progress=transfer.on_progress, should_cancel=transfer.should_cancel,
                                             rescue=rescue)
                except DestinationExistsError as exc:
                    answer = transfer.ask(self._ask, Question(
                        "The file already exists",
                        f"{describe(exc)}\n\nReplace it with the restored object {printable(key, 300)}?",
                        [("overwrite", "Overwrite"), ("all", "Overwrite all"), ("skip", "Skip")]
                        if len(keys) > 1 else [("overwrite", "Overwrite"), ("skip", "Keep the existing file")],
                        danger=True))
                    if answer is None and transfer.should_cancel():
                        raise CancelledError() from None
                    if answer in ("overwrite", "all"):
                        overwrite = True
                        overwrite_all = overwrite_all or answer == "all"
                        continue
                    skipped += 1
                    result = None
                except RecompressionError as exc:
                    answer = transfer.ask(self._ask, Question(
                        "The original file cannot be rebuilt exactly",
                        f"{describe(exc)}\n\nThis object was stored by DeltaGlider from a compressed file whose "
                        "compression cannot be reproduced byte for byte, so its sha256 cannot match. "
                        "Its decompressed contents are intact and can be saved as "
                        f"“{printable(key.rsplit('/', 1)[-1], 80)}.decompressed”.",
                        [("rescue", "Rescue decompressed contents"), ("skip", "Skip")]))
                    if answer is None and transfer.should_cancel():
                        raise CancelledError() from None
                    if answer == "rescue":
                        rescue = True
                        continue
                    failures.append(describe(exc))
                    result = None
                except CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - one bad object must not stop the others
                    if len(keys) == 1:
                        raise
                    failures.append(describe(exc))
                    result = None
                break
            if result is not None:
                results.append(result)
            transfer.item_finished()
        self._warn_cached_references(results)
        self._done(transfer, *restore_outcome(results, failures, skipped))

    def download_prefix(self, location: Location, folder: str) -> Transfer:
        title = printable(location.url, 60)
        transfer = self.add(Transfer("download", title, printable(folder, 60), items_total=0))
        transfer.stage = "listing"
        self._run_download_prefix(transfer, location, folder)
        return transfer

    @background("restoring a folder", group="transfers")
    def _run_download_prefix(self, transfer: Transfer, location: Location, folder: str) -> None:
        client = self.app.client
        plan = client.plan_prefix_restore(location.url, folder)
        if transfer.should_cancel():
            raise CancelledError()
        transfer.items_total = len(plan)
        existing = [item for item in plan if item.destination and os.path.exists(item.destination)]
        overwrite = False
        if existing:
            names = "\n".join("  " + printable(item.destination or "", 120) for item in existing[:8])
            more = f"\n  … and {human_count(len(existing) - 8)} more" if len(existing) > 8 else ""
            answer = transfer.ask(self._ask, Question(
                "Some files already exist",
                f"{human_count(len(existing))} of {human_count(len(plan))} files already exist in "
                f"{printable(folder, 200)}:\n{names}{more}",
                [("overwrite", "Overwrite them"), ("skip", "Keep them (skip)")], danger=True))
            if answer is None:
                raise CancelledError()
            overwrite = answer == "overwrite"
        rescue_candidates: list[tuple[str, str]] = []
        skipped = 0

        def on_item(item, result, exc) -> None:
            nonlocal skipped
            transfer.item_finished()
            if isinstance(exc, RecompressionError) and item.destination:
                rescue_candidates.append((item.key, item.destination))
            if isinstance(exc, DestinationExistsError):
                skipped += 1

        results, problems = client.download_prefix(location.url, folder, overwrite=overwrite,
                                                   progress=transfer.on_progress,
                                                   should_cancel=transfer.should_cancel, on_item=on_item)
        failures = [f"{printable(key, 80)}: {printable(reason, 200)}" for key, reason in problems
                    if "already exists" not in reason]
        if rescue_candidates:
            answer = transfer.ask(self._ask, Question(
                "Some files cannot be rebuilt exactly",
                f"{human_count(len(rescue_candidates))} objects were stored by DeltaGlider from compressed files "
                "whose compression cannot be reproduced byte for byte. Their decompressed contents are intact "
                "and can be saved as “<name>.decompressed”.",
                [("rescue", "Rescue decompressed contents"), ("skip", "Skip them")]))
            if answer == "rescue":
                for key, destination in rescue_candidates:
                    results.append(client.download(f"s3://{location.bucket}/{key}", destination, overwrite=False, rescue=True,
                                                   progress=transfer.on_progress,
                                                   should_cancel=transfer.should_cancel))
                failures = [f for f in failures if "rebuil" not in f and "recompress" not in f]
        self._warn_cached_references(results)
        self._done(transfer, *restore_outcome(results, failures, skipped))

    # -- uploads ---------------------------------------------------------------------
    def upload(self, paths: list[Path], location: Location, base: Path | None) -> Transfer:
        title = printable(paths[0].name, 60) if len(paths) == 1 else f"{len(paths)} files"
        transfer = self.add(Transfer("upload", title, printable(location.url, 60), items_total=len(paths)))
        self._run_upload(transfer, paths, location, base)
        return transfer

    @background("uploading", group="transfers")
    def _run_upload(self, transfer: Transfer, paths: list[Path], location: Location, base: Path | None) -> None:
        client = self.app.client
        summaries: list[UploadSummary] = []
        failures: list[str] = []
        try:
            for path in paths:
                if transfer.should_cancel():
                    raise CancelledError()
                relative = path.relative_to(base).parent.as_posix() if base is not None else "."
                sub = "" if relative in ("", ".") else relative + "/"
                target = f"s3://{location.bucket}/{location.prefix}{sub}"
                try:
                    summaries.append(client.upload(path, target, progress=transfer.on_progress,
                                                   should_cancel=transfer.should_cancel))
                except CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - report it, go on with the other files
                    if len(paths) == 1:
                        raise
                    failures.append(f"{printable(path.name, 60)}: {describe(exc)}")
                transfer.item_finished()
        finally:
            if summaries:
                self.post_message(ContentsChanged(location))
        self._done(transfer, *upload_outcome(summaries, failures))

    # -- deletes ---------------------------------------------------------------------
    def delete_objects(self, location: Location, keys: list[str]) -> Transfer:
        title = printable(keys[0].rsplit("/", 1)[-1], 60) if len(keys) == 1 else f"{len(keys)} objects"
        transfer = self.add(Transfer("delete", title, printable(location.url, 60), items_total=len(keys)))
        transfer.stage = "deleting"
        self._run_delete_objects(transfer, location, keys)
        return transfer

    @background("deleting", group="transfers")
    def _run_delete_objects(self, transfer: Transfer, location: Location, keys: list[str]) -> None:
        client = self.app.client
        failures: list[str] = []
        deleted = 0
        try:
            for start in range(0, len(keys), 500):
                if transfer.should_cancel():
                    raise CancelledError()
                batch = keys[start:start + 500]
                response = client.delete_objects(location.bucket, {"Objects": [{"Key": k} for k in batch]})
                deleted += len(response.get("Deleted", []))
                failures += [f"{printable(e['Key'], 80)}: {printable(str(e.get('Message')), 120)}"
                             for e in response.get("Errors", [])]
                transfer.items_done += len(batch)
        finally:
            self.post_message(ContentsChanged(location))
        if failures:
            self._done(transfer, "failed", f"deleted {human_count(deleted)}; {len(failures)} failed: {failures[0]}")
        else:
            self._done(transfer, "done", f"deleted {human_count(deleted)} object{'s' if deleted != 1 else ''}")

    def delete_prefix(self, location: Location, count: int) -> Transfer:
        transfer = self.add(Transfer("delete", printable(location.url, 60), "", items_total=count))
        transfer.stage = "deleting"
        self._run_delete_prefix(transfer, location)
        return transfer

    @background("deleting a folder", group="transfers")
    def _run_delete_prefix(self, transfer: Transfer, location: Location) -> None:
        try:
            response = self.app.client.delete_prefix(location.url, should_cancel=transfer.should_cancel)
        finally:
            parent = location.parent or Location(location.bucket)
            self.post_message(ContentsChanged(parent))
        errors = response.get("errors") or []
        transfer.items_done = transfer.items_total
        if errors:
            first = errors[0]
            self._done(transfer, "failed", f"deleted {human_count(response['deleted'])} stored objects; "
                                           f"{len(errors)} failed: {printable(str(first), 160)}")
        else:
            self._done(transfer, "done", f"deleted {human_count(response['deleted'])} stored objects")


def restore_outcome(results: list[DownloadResult], failures: list[str], skipped: int) -> tuple[str, str]:
    """(state, one line) for the end of a restore."""
    verified = sum(1 for r in results if r.verified)
    rescued = sum(1 for r in results if r.rescued)
    size = sum(r.size for r in results)
    if len(results) == 1 and not failures and not skipped:
        r = results[0]
        if r.rescued:
            text = f"rescued decompressed contents to {printable(r.path, 120)} ({human_size(r.size)})"
        elif r.verified:
            text = f"sha256 verified · {human_size(r.size)} · {printable(r.path, 120)}"
        else:
            text = (f"restored {human_size(r.size)} to {printable(r.path, 120)} "
                    "(no checksum stored by the tool that wrote it)")
        return "done", text
    if not results and not failures and skipped:
        return "done", ("nothing restored: kept the existing file" if skipped == 1
                        else f"nothing restored: kept the {human_count(skipped)} existing files")
    parts = [f"restored {human_count(len(results))} ({human_size(size)})"]
    if results:
        parts.append("sha256 verified" if verified == len(results) - rescued else
                     f"{human_count(verified)} sha256 verified")
    if rescued:
        parts.append(f"{human_count(rescued)} rescued as .decompressed")
    if skipped:
        parts.append(f"{human_count(skipped)} kept (already existed)")
    if failures:
        parts.append(f"{human_count(len(failures))} failed: {failures[0]}")
        return "failed", " · ".join(parts)
    return "done", " · ".join(parts)


def upload_outcome(summaries: list[UploadSummary], failures: list[str]) -> tuple[str, str]:
    if len(summaries) == 1 and not failures:
        s = summaries[0]
        sizes = f"{human_size(s.original_size)} → {human_size(s.stored_size)}"
        if s.is_delta:
            text = f"stored as delta: {s.savings_percent:.1f}% saved ({sizes})"
        elif s.operation == "create_reference":
            text = f"stored as this folder's reference ({human_size(s.original_size)}); later versions become deltas"
        else:
            text = f"stored whole ({human_size(s.stored_size)})"
            if s.fallback_reason:
                text += f": {printable(s.fallback_reason, 100)}"
        if s.verified:
            text += ", verified"
        return "done", text
    original = sum(s.original_size for s in summaries)
    stored = sum(s.stored_size for s in summaries)
    saved = (1 - stored / original) * 100 if original else 0.0
    text = (f"uploaded {human_count(len(summaries))} files: {human_size(original)} → {human_size(stored)} "
            f"({saved:.1f}% saved)")
    if failures:
        return "failed", text + f" · {len(failures)} failed: {failures[0]}"
    return "done", text
