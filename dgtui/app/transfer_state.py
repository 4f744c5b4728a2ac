"""State of one transfer (restore, upload or delete) shared by its worker and the UI.

The worker thread only assigns counters (``on_progress``) and reads the
cancel flag; the UI samples the counters a few times per second to draw the
progress bar, rate and time left. Nothing here touches widgets.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

from .messages import Question

Direction = Literal["download", "upload", "delete"]
State = Literal["running", "waiting", "done", "failed", "cancelled"]

#: seconds of samples the transfer rate is averaged over
RATE_WINDOW_S = 5.0

_ids = itertools.count(1)


@dataclass(eq=False)
class Transfer:
    direction: Direction
    title: str  #: what is transferred, already made printable
    target: str  #: where to, already made printable
    items_total: int = 1
    items_done: int = 0
    state: State = "running"
    #: the current stage as the SDK names it ("downloading", "uploading", "decoding"...)
    stage: str = "starting"
    stage_done: int = 0
    stage_total: int = 0
    #: bytes moved in stages that have finished
    bytes_before: int = 0
    #: the final line: savings, "sha256 verified", or the error
    result: str = ""
    started_at: float = 0.0
    id: int = field(default_factory=lambda: next(_ids))
    samples: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=64))
    cancel_event: threading.Event = field(default_factory=threading.Event)
    # A question the worker waits on (see ``ask``).
    _answer: str | None = None
    _answered: threading.Event = field(default_factory=threading.Event)

    # -- called from the worker thread ---------------------------------------
    def on_progress(self, done: int, total: int, stage: str) -> None:
        """The SDK's progress callback: only updates counters."""
        if stage != self.stage:
            self.bytes_before += self.stage_done
            self.stage = stage
            self.stage_done = 0
        self.stage_total = total
        self.stage_done = done

    def item_finished(self) -> None:
        self.bytes_before += self.stage_done
        self.stage_done = 0
        self.stage_total = 0
        self.items_done += 1

    def should_cancel(self) -> bool:
        return self.cancel_event.is_set()

    def ask(self, post_question, question: Question) -> str | None:
        """Ask the user (``post_question`` shows the question) and wait for the answer.

        Waits in the worker thread, never in the UI. Returns None when the
        transfer is cancelled meanwhile.
        """
        self._answered.clear()
        self._answer = None
        self.state = "waiting"
        post_question(self, question)
        while not self._answered.wait(0.2):
            if self.cancel_event.is_set():
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

    @property
    def bytes_moved(self) -> int:
        return self.bytes_before + self.stage_done

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

    def fraction(self) -> float | None:
        if self.stage_total:
            return min(self.stage_done / self.stage_total, 1.0)
        return None

    def seconds_left(self) -> float | None:
        rate = self.rate()
        if not rate or not self.stage_total:
            return None
        return max(self.stage_total - self.stage_done, 0) / rate
