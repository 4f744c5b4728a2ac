"""One job: the counters it reports, the questions it asks, how it is cancelled and how a batch ends.

A job runs in the caller's thread (a worker thread in the app, the main thread in the CLI). It only
assigns numbers to its ``Job``; whoever shows it samples them at its own pace. It asks through
``Job.ask`` (the app shows a dialog and waits, the CLI answers from its flags) and stops at the next
item once ``Job.cancel`` is called, from any thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import DgError


@dataclass
class Question:
    """A question a transfer asks the user and waits for."""

    title: str
    body: str
    choices: list[tuple[str, str]] = field(default_factory=list)  # (answer, button label)
    #: the first answer loses data: Enter alone must not choose it
    danger: bool = False


@dataclass(eq=False, kw_only=True)
class Job:
    """Counters of one job (a transfer, statistics, an audit): the job function writes them, a user interface
    reads them.

    The controller only assigns numbers here; whoever draws them samples
    them at its own pace, so a fast transfer cannot flood a screen.
    """

    items_total: int = 1
    items_done: int = 0
    #: bytes of every item when known before the start (uploads), else 0
    bytes_total: int = 0
    #: bytes of the items that have finished
    bytes_items_done: int = 0
    #: items whose size could not be learnt: then ``bytes_total`` stays 0 rather than claim a false total
    sizes_unknown: int = 0
    #: size of the item under way (0: unknown)
    item_size: int = 0
    #: the stage that writes the item's own bytes ("rebuilding" for a delta); "" when every stage does
    item_stage: str = ""
    #: the current stage as the SDK names it ("downloading", "rebuilding", "uploading"...)
    stage: str = "starting"
    stage_done: int = 0
    stage_total: int = 0
    #: bytes moved in stages that have finished (for the transfer rate)
    bytes_before: int = 0
    #: bytes of the files restored or uploaded so far (their full, original size)
    bytes_written: int = 0
    cancel_event: threading.Event = field(default_factory=threading.Event)
    #: a second flag that stops the job too, set by whoever runs it (the app: its worker was cancelled because
    #: a newer job replaced it or its screen closed)
    stop_flag: Callable[[], bool] | None = None
    #: set by whoever runs the job once its function has returned or raised (the app's runner; tests wait on it)
    ended: threading.Event = field(default_factory=threading.Event)
    #: what the job is about, for whoever started it (a tree node, a location); the job functions ignore it
    subject: Any = None

    # -- called by the controller ------------------------------------------------------------------
    def on_progress(self, done: int, total: int, stage: str) -> None:
        """The SDK's progress callback: only updates counters."""
        if stage != self.stage:
            self.bytes_before += self.stage_done
            self.stage = stage
            self.stage_done = 0
        self.stage_total = total
        self.stage_done = done

    def item_started(self, size: int = 0, stage: str = "") -> None:
        self.item_size = size
        self.item_stage = stage

    def item_finished(self) -> None:
        self.bytes_before += self.stage_done
        self.bytes_items_done += self.item_size
        self.item_size = 0
        self.stage_done = 0
        self.stage_total = 0
        self.items_done += 1

    def should_cancel(self) -> bool:
        return self.cancel_event.is_set() or (self.stop_flag is not None and self.stop_flag())

    def count_progress(self, stage: str) -> Callable[[int, int], None]:
        """A ``progress(done, total)`` callback for the core that counts under ``stage``."""
        def progress(done: int, total: int) -> None:
            self.on_progress(done, total, stage)
        return progress

    def ask(self, question: Question) -> str | None:
        """The user's answer; None when nobody can answer or the transfer was cancelled."""
        return None

    # -- for whoever draws the job -----------------------------------------------------------------
    def cancel(self) -> None:
        self.cancel_event.set()

    @property
    def bytes_moved(self) -> int:
        return self.bytes_before + self.stage_done

    def stage_fraction(self) -> float | None:
        if self.stage_total:
            return min(self.stage_done / self.stage_total, 1.0)
        return None

    def item_fraction(self) -> float:
        """How much of the item under way is written: only its own stage counts, so the bar never goes back
        when a delta's download ends and its rebuild starts."""
        if self.item_stage and self.stage != self.item_stage:
            return 0.0
        return self.stage_fraction() or 0.0

    def fraction(self) -> float | None:
        """How much of the whole transfer is done: by bytes when they are known, else by items."""
        stage = self.item_fraction()
        if self.bytes_total:
            return min((self.bytes_items_done + stage * self.item_size) / self.bytes_total, 1.0)
        if self.items_total > 1:
            return min((self.items_done + stage) / self.items_total, 1.0)
        return self.stage_fraction()


@dataclass
class Outcome:
    """How a batch of transfers ended."""

    #: (key or name, reason)
    failures: list[tuple[str, str]] = field(default_factory=list)
    cancelled: bool = False
    #: items the batch set out to transfer
    planned: int = 0

    @property
    def state(self) -> str:
        if self.cancelled:
            return "cancelled"
        return "failed" if self.failures else "done"


# -- the controller ---------------------------------------------------------------------------------------

def describe_error(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, DgError) else f"{type(exc).__name__}: {exc}"
