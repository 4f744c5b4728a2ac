"""Messages that background workers and widgets send each other.

Workers run in threads and never touch widgets; they post these messages and
the UI thread applies them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from textual.message import Message

from dgtui import ListObjectsResult, ObjectInfo
from dgtui.jobs.job import Question  # noqa: F401 - re-exported: jobs ask their questions with it

from .object_rows import ListingSummary  # defined beside the rows it counts (no Textual there)


class WorkFailed(Message):
    """A background job failed; the app shows it in one place (see ``DgtuiApp.on_work_failed``).

    ``source`` is the widget that started the job; if it has a
    ``show_inline_error(text, error, context)`` method the app calls it too,
    so the message also appears where the user is looking. ``context`` is
    what the job was started with (its arguments).
    """

    def __init__(self, error: BaseException, what: str, source: Any = None, context: tuple = (), *,
                 group: str = "default") -> None:
        super().__init__()
        self.error = error
        self.what = what
        #: the worker group of the job (``background(group=...)``): what the app routes by, not the words
        self.group = group
        self.source = source
        self.context = context


class BucketsLoaded(Message):
    def __init__(self, buckets: list[dict[str, Any]]) -> None:
        super().__init__()
        self.buckets = buckets


@dataclass(frozen=True)
class Location:
    """A place in the object store: a bucket and a folder prefix ("" or ending in '/')."""

    bucket: str
    prefix: str = ""

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    @property
    def parent(self) -> "Location | None":
        if not self.prefix:
            return None
        trimmed = self.prefix[:-1]
        cut = trimmed.rfind("/")
        return Location(self.bucket, trimmed[: cut + 1] if cut >= 0 else "")

    @property
    def folder_name(self) -> str:
        if not self.prefix:
            return self.bucket
        return self.prefix[:-1].rsplit("/", 1)[-1] + "/"


class Navigate(Message):
    """Show this location in the object table."""

    def __init__(self, location: Location, *, focus_table: bool = False) -> None:
        super().__init__()
        self.location = location
        #: Enter in the tree: the keys go to the table next
        self.focus_table = focus_table


class ListingPage(Message):
    """One page of the listing that the table asked for with ``request_id``.

    ``shown``, on the first page: set once the table has taken the page and painted what it shows, so that
    the listing job asks for the rest only then."""

    def __init__(self, request_id: int, page: ListObjectsResult, shown: threading.Event | None = None) -> None:
        super().__init__()
        self.request_id = request_id
        self.page = page
        self.shown = shown


class ListingDone(Message):
    def __init__(self, request_id: int) -> None:
        super().__init__()
        self.request_id = request_id


class ListingChanged(Message):
    """The table's quick numbers changed (new pages, or a new location)."""

    def __init__(self, location: Location | None, summary: "ListingSummary") -> None:
        super().__init__()
        self.location = location
        self.summary = summary


class ObjectInfoLoaded(Message):
    """Metadata of one object arrived (details screen); the table updates its row."""

    def __init__(self, bucket: str, info: ObjectInfo) -> None:
        super().__init__()
        self.bucket = bucket
        self.info = info


class MetadataCached(Message):
    """Metadata of many deltas was read into the cache (exact stats, savings by folder): rows can show it."""


class ContentsChanged(Message):
    """Objects under this location were added or removed: refresh views of it."""

    def __init__(self, location: Location) -> None:
        super().__init__()
        self.location = location


class TransferQuestion(Message):
    def __init__(self, transfer: Any, question: Question) -> None:
        super().__init__()
        self.transfer = transfer
        self.question = question


class TransferFinished(Message):
    def __init__(self, transfer: Any) -> None:
        super().__init__()
        self.transfer = transfer
