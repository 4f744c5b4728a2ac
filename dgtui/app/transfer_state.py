"""State of one transfer (restore, upload or delete) shared by its worker and the UI.

The counters are the controller's ``Job`` (``dgtui.jobs.job``); this adds
what the panel shows: a title, a target, the state and the final line, and
samples of the bytes moved for the rate. The worker thread only assigns
counters and reads the cancel flag; the UI samples the counters a few times
per second to draw the progress bar, rate and time left. Nothing here touches
widgets.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from dgtui.jobs.job import Job, Question

Direction = Literal["download", "upload", "delete"]
State = Literal["running", "waiting", "done", "failed", "cancelled"]

#: seconds of samples the transfer rate is averaged over
RATE_WINDOW_S = 5.0

_ids = itertools.count(1)


@dataclass(eq=False)
class Transfer(Job):
    direction: Direction
    title: str  #: what is transferred, already made printable
    target: str  #: where to, already made printable
    state: State = "running"
    #: the final line: savings, "sha256 verified", or the error
    result: str = ""
    #: every file and failure, one line each, when there is more than the final line says
    report: list[str] = field(default_factory=list)
    started_at: float = 0.0
    id: int = field(default_factory=lambda: next(_ids))
    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=64))
    #: shows a question to the user (set by the panel); the answer comes back through ``answer``
    post_question: Callable[[Transfer, Question], None] | None = None
    # A question the worker waits on (see ``ask``).
    _answer: str | None = None
    _answered: threading.Event = field(default_factory=threading.Event)

    # -- called from the worker thread ---------------------------------------
    def ask(self, question: Question) -> str | None:
        """Ask the user and wait for the answer.

        Waits in the worker thread, never in the UI. Returns None when the
        transfer is cancelled meanwhile.
        """
        if self.post_question is None:
            return None
        self._answered.clear()
        self._answer = None
        self.state = "waiting"
        self.post_question(self, question)
        while not self._answered.wait(0.2):
            if self.should_cancel():
                return None
        self.state = "running"
        return self._answer

    # -- called from the UI thread -------------------------------------------
    def answer(self, value: str | None) -> None:
        self._answer = value
        self._answered.set()

    def cancel(self) -> None:
        self.cancel_event.set()
        self._answered.set()

    @property
    def active(self) -> bool:
        return self.state in ("running", "waiting")

    def sample(self, now: float) -> None:
        self.samples.append((now, self.bytes_moved))

    def rate(self) -> float | None:
        """Bytes per second over the last few seconds of samples."""
        if len(self.samples) < 2:
            return None
        newest_t, newest_b = self.samples[-1]
        oldest_t, oldest_b = self.samples[0]
        for t, b in self.samples:
            if newest_t - t <= RATE_WINDOW_S:
                oldest_t, oldest_b = t, b
                break
        if newest_t - oldest_t <= 0:
            return None
        return max(newest_b - oldest_b, 0) / (newest_t - oldest_t)

    def seconds_left(self) -> float | None:
        rate = self.rate()
        if not rate:
            return None
        if self.bytes_total:
            remaining = self.bytes_total - self.bytes_items_done - self.item_fraction() * self.item_size
            return max(remaining, 0) / rate
        if not self.stage_total or self.items_total > 1:
            return None  # several files of unknown sizes: the time left of one file would mislead
        return max(self.stage_total - self.stage_done, 0) / rate
