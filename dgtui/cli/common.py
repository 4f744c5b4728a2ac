"""Shared by every command: the connection options and the client, how keys, sizes and progress are printed."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..core.text import display_key, human_size
from ..jobs.job import Job, Question

if TYPE_CHECKING:
    pass


def shown(text: str) -> str:
    """A key or path as output shows it: whole, with control characters escaped.

    Listings and reports print full keys (up to S3's 1,024 bytes) so they can
    be copied; escaping keeps ANSI/OSC sequences and newlines in keys from
    reaching the terminal or splitting a line.
    """
    return display_key(text, limit=sys.maxsize)


def human(n: int | None) -> str:
    """Sizes as the app shows them ("56 B", "8.3 MiB")."""
    return "-" if n is None else human_size(n)


def client_from(args: argparse.Namespace):
    from ..core.client import create_client
    from .collector import resume as resume_collection

    client = create_client(endpoint_url=args.endpoint_url, profile=args.profile, region_name=args.region,
                           addressing_style=args.addressing_style)
    resume_collection()  # start-up is over: what the command does next is collected as usual
    return client


class ProgressLine:
    """A one-line progress display on stderr, only on a terminal."""

    def __init__(self, label: str, enabled: bool | None = None):
        self.label = display_key(label, 50)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, total: int, stage: str) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.2 and done < total):
            return
        self.last = now
        rate = done / max(now - self.started, 1e-6)
        pct = f"{done * 100 // total:3d}%" if total else "    "
        sys.stderr.write(f"\r{self.label}: {stage:<18} {pct} {human(done)}/{human(total)} {human(int(rate))}/s   ")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()


def emit_json(obj: Any) -> None:
    print(json.dumps(obj, default=str, ensure_ascii=True))


class CountLine:
    """A one-line count of what an audit has done, on stderr, only on a terminal."""

    def __init__(self, label: str, enabled: bool | None = None):
        self.label = display_key(label, 50)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.last = 0.0
        self.shown = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.2 and done < total):
            return
        self.last = now
        self.shown = True
        count = f"{done:,}/{total:,}" if total else f"{done:,}"
        sys.stderr.write(f"\r{self.label}: {stage} {count}          ")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled and self.shown:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()
            self.shown = False


class CliJob(Job):
    """A job on the command line: progress on stderr, questions answered by the flags.

    ``show(done, total, stage)`` draws the progress (a ``ProgressLine``); ``answers`` maps a question's
    title to the answer the flags give.
    """

    def __init__(self, show: Callable[[int, int, str], None] | None = None,
                 answers: dict[str, str] | None = None) -> None:
        super().__init__()
        self.show = show
        self.answers = answers or {}

    def on_progress(self, done: int, total: int, stage: str) -> None:
        super().on_progress(done, total, stage)
        if self.show is not None:
            self.show(done, total, stage)

    def ask(self, question: Question) -> str | None:
        return self.answers.get(question.title)
