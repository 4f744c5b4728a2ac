"""Savings by folder: counters per folder over one listing stream, with grades and layout advice.

One pass over a flat listing of a prefix fills one row per folder directly
below it (everything under that folder counted in), plus a row for the files
directly in the prefix. Nothing keeps the objects themselves: each folder
that holds files (a deltaspace) has a small open record while its keys are
being listed and is folded into its row as soon as the listing has moved
past it. Keys of one folder are contiguous in a listing sorted by key, so
only the folders on the path of the current key are open at a time; a server
that lists in some other order only makes the records live until the end.

Quick mode reads the listing alone: a delta's original size, which lives in
its metadata, is guessed as its folder's reference size (``estimated``
counts the guesses). Exact mode reads the metadata of the deltas of each
batch of pages before they are counted (the on-disk metadata cache first,
then HEADs), so memory stays bounded by the batch.

No formatting lives here: the CLI and the app draw the rows.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

from . import format as fmt
from .cache import MetadataCache
from .models import ListObjectsResult, ObjectInfo
from .s3 import S3Access
from .stats import MetadataFetcher, StatsProgress, apply_metadata, object_version
from .walk import walk

ShouldCancel = Callable[[], bool]

GRADES = ("excellent", "good", "fair", "poor", "no deltas")
#: saved share of the original bytes from which a folder earns a grade
GRADE_LIMITS = ((90.0, "excellent"), (60.0, "good"), (30.0, "fair"))
#: deltas whose metadata is read per round of HEADs in exact mode (memory stays bounded by this)
EXACT_BATCH = 5000
#: pages kept waiting for their deltas' metadata at most (pages of other objects count too)
EXACT_PAGES = 20
#: sibling folders, each holding a single archive, from which the layout is worth a word
MIN_SINGLE_SIBLINGS = 3
#: a delta this small is the zero-diff of a first upload, not a measure of change
TRIVIAL_DELTA = 1024
#: kept layout findings (the largest by stored bytes)
MAX_ADVICE = 50

#: names of compressed streams (gzip, bzip2, xz): DeltaGlider stores such files whole
COMPRESSED_SUFFIXES = (".gz", ".tgz", ".bz2", ".tbz2", ".xz", ".txz")

_DIGITS = re.compile(r"\d+")


def name_stem(name: str) -> str:
    """A file name with its numbers blanked: versions of one artifact share it."""
    return _DIGITS.sub("#", name)


@dataclass(slots=True)
class FolderSavings:
    """Counters of one folder and everything under it (or of the files directly in a prefix)."""

    prefix: str  #: the folder, ending in "/" (the viewed prefix itself for the files directly in it)
    here: bool = False  #: the files directly in the viewed prefix, not a subfolder
    objects: int = 0  #: logical objects (references not counted)
    deltas: int = 0
    original_bytes: int = 0  #: what restoring everything would write (guessed for ``estimated`` deltas)
    stored_bytes: int = 0  #: every stored byte, references included
    references: int = 0
    reference_bytes: int = 0
    estimated: int = 0  #: deltas whose original size is a guess (metadata not read, or unusable)
    invalid: int = 0  #: deltas whose metadata was read but gives no usable size
    whole_archives: int = 0  #: delta-eligible files stored whole
    whole_bytes: int = 0  #: stored bytes of those
    #: of those, files named as gzip/bzip2/xz streams: DeltaGlider's policy stores compressed files whole
    compressed_whole: int = 0
    #: of those, files in folders whose name is not printable ASCII: a delta could not name its reference
    non_ascii_whole: int = 0
    ineligible: int = 0  #: files that are not delta-eligible
    ineligible_bytes: int = 0
    delta_folders: int = 0  #: folders holding deltas
    single_archive_folders: int = 0  #: folders holding one archive and no other version of it
    growing_folders: int = 0  #: folders whose newest deltas are much larger than their first ones
    layout_folders: int = 0  #: folders that belong to a one-archive-per-folder layout (see ``LayoutAdvice``)

    def add(self, other: "FolderSavings") -> None:
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def saved_bytes(self) -> int:
        return self.original_bytes - self.stored_bytes

    @property
    def saved_percent(self) -> float:
        return (self.saved_bytes / self.original_bytes * 100) if self.original_bytes else 0.0

    @property
    def is_estimate(self) -> bool:
        return self.estimated > 0

    @property
    def grade(self) -> str:
        if not self.deltas:
            return "no deltas"
        saved = self.saved_percent
        for limit, grade in GRADE_LIMITS:
            if saved >= limit:
                return grade
        return "poor"

    @property
    def reason(self) -> str:
        """One line on why the folder earns its grade."""
        grade = self.grade
        if self.objects == 0:
            return "empty"
        if self.layout_folders and self.layout_folders * 2 >= max(self.delta_folders, 1):
            return "each version sits in its own folder"
        if grade == "no deltas":
            if self.whole_archives and self.whole_archives * 2 >= self.objects:
                return f"archives are stored whole: {self._why_whole()}"
            return "files are not delta-eligible"
        if self.growing_folders and self.growing_folders * 2 >= self.delta_folders:
            return "deltas grow with each version: the reference is old"
        if self.ineligible_bytes * 2 > self.original_bytes:
            return "most bytes are in files that are not delta-eligible"
        if self.whole_bytes >= self.reference_bytes and self.whole_bytes * 3 >= self.stored_bytes:
            return f"most stored bytes are archives stored whole: {self._why_whole()}"
        if self.single_archive_folders and self.single_archive_folders * 2 >= self.delta_folders:
            return "most folders hold a single version, stored in full as their reference"
        if grade == "excellent":
            return "versions share almost all their bytes"
        if grade == "good":
            return "versions share most of their bytes"
        if self.references and self.reference_bytes * 2 > self.stored_bytes:
            return "few versions per reference: the references are most of what is stored"
        return "versions differ a lot from their reference: the deltas are large"

    def _why_whole(self) -> str:
        """Why most of the archives stored whole were not made deltas."""
        if self.compressed_whole * 2 >= self.whole_archives:
            return ("they are gzip/bzip2/xz-compressed, and DeltaGlider's policy stores compressed files whole "
                    "(a delta of one cannot rebuild the exact bytes)")
        if self.non_ascii_whole * 2 >= self.whole_archives:
            return ("their folders' names are not ASCII, and a delta names its reference in metadata, which "
                    "carries ASCII only")
        return "each is the only version in its folder, or its delta was too large"

    def as_dict(self, price_per_gb_month: float | None = None) -> dict:
        row = {
            "prefix": self.prefix, "here": self.here, "objects": self.objects, "deltas": self.deltas,
            "original_bytes": self.original_bytes, "stored_bytes": self.stored_bytes,
            "saved_bytes": self.saved_bytes, "saved_percent": round(self.saved_percent, 3),
            "grade": self.grade, "reason": self.reason, "estimated": self.is_estimate,
            "estimated_deltas": self.estimated, "references": self.references,
            "reference_bytes": self.reference_bytes,
        }
        if price_per_gb_month is not None:
            row["original_cost_per_month"] = round(monthly_cost(self.original_bytes, price_per_gb_month), 4)
            row["stored_cost_per_month"] = round(monthly_cost(self.stored_bytes, price_per_gb_month), 4)
        return row


_COUNTERS = tuple(n for n in FolderSavings.__slots__ if n not in ("prefix", "here"))  # type: ignore[attr-defined]


def monthly_cost(size: int, price_per_gb_month: float) -> float:
    """What storing ``size`` bytes costs a month; a GB is 2**30 bytes, as S3 bills it."""
    return size / 2**30 * price_per_gb_month


@dataclass(slots=True)
class LayoutAdvice:
    """Sibling folders that each hold one archive of a similar name.

    DeltaGlider makes deltas only within a folder, so every one of these
    archives is stored whole. ``examples`` are two neighbours (logical keys)
    to measure what one shared folder would save.
    """

    parent: str  #: the folder holding the sibling folders ("" or ending in "/")
    folders: int
    stem: str  #: the shared file name with numbers as ``#``
    original_bytes: int
    stored_bytes: int
    examples: tuple[str, str]
    #: filled by ``estimate_shared_folder``: stored bytes if the archives shared one folder
    shared_stored_bytes: int | None = None
    sample_delta_ratio: float | None = None

    @property
    def shared_saved_bytes(self) -> int | None:
        if self.shared_stored_bytes is None:
            return None
        return self.stored_bytes - self.shared_stored_bytes

    def as_dict(self) -> dict:
        return {"parent": self.parent, "folders": self.folders, "file_name": self.stem,
                "original_bytes": self.original_bytes, "stored_bytes": self.stored_bytes,
                "examples": list(self.examples), "shared_stored_bytes": self.shared_stored_bytes,
                "sample_delta_ratio": self.sample_delta_ratio}

    @property
    def message(self) -> str:
        return (f"{self.folders} folders under {self.parent or '/'} each hold one archive named like "
                f"{self.stem}: DeltaGlider only makes deltas within a folder, so each is stored whole. "
                f"One shared folder would store them as deltas of each other.")


@dataclass(slots=True)
class FolderReport:
    """Savings of every folder directly below ``prefix``."""

    bucket: str
    prefix: str
    rows: list[FolderSavings]  #: subfolders, and the files directly in the prefix (``here``), by stored bytes
    total: FolderSavings
    exact: bool  #: every delta's metadata was read
    advice: list[LayoutAdvice] = field(default_factory=list)
    #: the listing did not come in key order: every folder record stayed in memory until the end
    unordered: bool = False

    def as_dict(self, price_per_gb_month: float | None = None) -> dict:
        return {"bucket": self.bucket, "prefix": self.prefix, "mode": "exact" if self.exact else "quick",
                "total": self.total.as_dict(price_per_gb_month),
                "rows": [r.as_dict(price_per_gb_month) for r in self.rows],
                "advice": [a.as_dict() for a in self.advice],
                **({"price_per_gb_month": price_per_gb_month} if price_per_gb_month is not None else {})}


class _Space:
    """An open folder that holds files, while its keys are listed."""

    __slots__ = ("name", "deltas", "delta_bytes", "known_original", "unknown", "unknown_bytes", "invalid",
                 "reference_size", "references", "reference_bytes", "others", "other_bytes", "whole_archives",
                 "whole_bytes", "compressed_whole",
                 "ineligible", "ineligible_bytes", "newest", "newest_size", "smallest", "archive_stem",
                 "archive_key", "archive_bytes", "older_bytes")

    def __init__(self, name: str):
        self.name = name
        self.deltas = self.delta_bytes = self.known_original = self.unknown = self.unknown_bytes = 0
        self.invalid = self.references = self.reference_bytes = self.others = self.other_bytes = 0
        self.whole_archives = self.ineligible = self.ineligible_bytes = 0
        self.whole_bytes = self.compressed_whole = 0
        self.reference_size: int | None = None
        self.newest = ""
        self.newest_size = 0
        self.smallest: int | None = None
        self.archive_stem: str | None = None
        self.archive_key: str | None = None
        self.archive_bytes = 0
        #: the older of ``<name>`` and ``<name>.delta`` (the listing shows the current one): stored, not a file
        self.older_bytes = 0


class _Siblings:
    """Folders under one parent that each hold a single archive."""

    __slots__ = ("count", "original", "stored", "stems", "last_two", "members")

    def __init__(self) -> None:
        self.count = self.original = self.stored = 0
        self.stems: Counter[str] = Counter()
        self.last_two: list[str] = []
        #: the rows of the sibling folders, when they are rows themselves (the parent is the viewed prefix)
        self.members: list[str] = []


class SavingsAggregator:
    """Counts one flat listing of ``prefix`` into per-folder rows; see the module's docstring."""

    def __init__(self, bucket: str, prefix: str = ""):
        self.bucket = bucket
        self.prefix = prefix
        self.rows: dict[str, FolderSavings] = {}
        self.total = FolderSavings(prefix)
        self.exact = True
        self.advice: list[LayoutAdvice] = []
        self._open: dict[str, _Space] = {}
        self._parents: dict[str, _Siblings] = {}
        self._current = None  # type: str | None
        self._last_key = ""
        self.ordered = True
        #: called with (deltaspace, reference size) when a folder closes (sampling uses it)
        self.on_close: Callable[[str, int | None], None] | None = None

    # -- feeding ------------------------------------------------------------------------------
    def add_page(self, page: ListObjectsResult) -> None:
        """Every object of a logical page, references included, in key order."""
        contents, hidden = page.contents, page.hidden
        if not hidden:
            for info in contents:
                self.add(info)
            return
        i = j = 0
        while i < len(contents) or j < len(hidden):
            if j >= len(hidden) or (i < len(contents) and contents[i].stored_key <= hidden[j].stored_key):
                self.add(contents[i])
                i += 1
            else:
                self.add(hidden[j], older=True)
                j += 1

    def add(self, info: ObjectInfo, older: bool = False) -> None:
        """One listed object; ``older``: from the page's hidden ones (a reference, or an older copy of a name)."""
        key = info.stored_key or info.key
        if key.startswith(fmt.INTERNAL_PREFIX) or (self.prefix and not key.startswith(self.prefix)):
            return
        if key < self._last_key:
            self.ordered = False
        self._last_key = key
        name = fmt.deltaspace_of(key)
        if name != self._current:
            if self.ordered:
                self._close_passed(name)
            self._current = name
        space = self._open.get(name)
        if space is None:
            space = self._open[name] = _Space(name)
        size = info.size
        if older and not fmt.is_reference_key(key):
            space.older_bytes += size
            return
        if fmt.is_reference_key(key):
            space.references += 1
            space.reference_bytes += size
            space.reference_size = size
            return
        if info.is_delta:
            space.deltas += 1
            space.delta_bytes += size
            if info.original_size is not None and not info.metadata_problem:
                space.known_original += info.original_size
            else:
                space.unknown += 1
                space.unknown_bytes += size
                if info.metadata_loaded:
                    space.invalid += 1
            modified = info.last_modified or ""
            if modified >= space.newest:
                space.newest, space.newest_size = modified, size
            if size >= TRIVIAL_DELTA and (space.smallest is None or size < space.smallest):
                space.smallest = size
            self._note_archive(space, info.key, size)
            return
        space.others += 1
        space.other_bytes += size
        if fmt.is_delta_eligible(info.key):
            space.whole_archives += 1
            space.whole_bytes += size
            if info.key.lower().endswith(COMPRESSED_SUFFIXES):
                space.compressed_whole += 1
            self._note_archive(space, info.key, size)
        else:
            space.ineligible += 1
            space.ineligible_bytes += size

    @staticmethod
    def _note_archive(space: _Space, key: str, size: int) -> None:
        if space.archive_key is None:
            space.archive_key = key
            space.archive_stem = name_stem(key.rsplit("/", 1)[-1])
            space.archive_bytes = size
        else:
            space.archive_stem = ""  # more than one archive here

    def _close_passed(self, name: str) -> None:
        """Fold in the open folders the listing has left: those that do not hold ``name``."""
        inside = name + "/"
        for open_name in [n for n in self._open if n and not inside.startswith(n + "/")]:
            self._close(self._open.pop(open_name))
        for parent in [p for p in self._parents if p and not inside.startswith(p + "/")]:
            self._close_parent(parent, self._parents.pop(parent))

    def finish(self) -> FolderReport:
        for space in list(self._open.values()):
            self._close(space)
        self._open.clear()
        for parent, siblings in list(self._parents.items()):
            self._close_parent(parent, siblings)
        self._parents.clear()
        self.advice.sort(key=lambda a: -a.stored_bytes)
        self.total = FolderSavings(self.prefix)
        for row in self.rows.values():
            self.total.add(row)
        rows = sorted(self.rows.values(), key=lambda r: (-r.stored_bytes, r.prefix))
        return FolderReport(self.bucket, self.prefix, rows, self.total, self.exact and self.total.estimated == 0,
                            self.advice, unordered=not self.ordered)

    # -- folding ---------------------------------------------------------------------------------
    def _row_for(self, folder: str) -> FolderSavings | None:
        """The row that counts a folder ("" or ending in "/"): the subfolder of the prefix it is in."""
        if folder == self.prefix:
            row = self.rows.get(self.prefix)
            if row is None:
                row = self.rows[self.prefix] = FolderSavings(self.prefix, here=True)
            return row
        if not folder.startswith(self.prefix):
            return None
        child = self.prefix + folder[len(self.prefix):].split("/", 1)[0] + "/"
        row = self.rows.get(child)
        if row is None:
            row = self.rows[child] = FolderSavings(child)
        return row

    def _close(self, space: _Space) -> None:
        folder = space.name + "/" if space.name else ""
        row = self._row_for(folder)
        if row is None:  # keys above the prefix (cannot happen with a prefix listing)
            return
        ref = space.reference_size
        guessed = space.unknown * ref if ref is not None else space.unknown_bytes
        original = space.known_original + guessed + space.other_bytes
        stored = space.delta_bytes + space.other_bytes + space.reference_bytes + space.older_bytes
        row.objects += space.deltas + space.others
        row.deltas += space.deltas
        row.original_bytes += original
        row.stored_bytes += stored
        row.references += space.references
        row.reference_bytes += space.reference_bytes
        row.estimated += space.unknown
        row.invalid += space.invalid
        row.whole_archives += space.whole_archives
        row.whole_bytes += space.whole_bytes
        row.compressed_whole += space.compressed_whole
        reference = fmt.reference_key_for(space.name)
        if not (reference.isascii() and reference.isprintable()):
            row.non_ascii_whole += space.whole_archives
        row.ineligible += space.ineligible
        row.ineligible_bytes += space.ineligible_bytes
        single = space.archive_key is not None and space.archive_stem != "" and space.deltas + space.whole_archives == 1
        if space.deltas:
            row.delta_folders += 1
            if single:
                row.single_archive_folders += 1
        if (space.deltas >= 3 and space.smallest is not None and ref
                and space.newest_size >= 2 * space.smallest and space.newest_size * 20 >= ref):
            row.growing_folders += 1
        if self.on_close is not None and space.deltas:
            self.on_close(space.name, ref)
        if single and space.name:
            parent = fmt.deltaspace_of(space.name)
            siblings = self._parents.get(parent)
            if siblings is None:
                siblings = self._parents[parent] = _Siblings()
            siblings.count += 1
            siblings.original += original
            siblings.stored += stored
            if len(siblings.stems) < 16 or space.archive_stem in siblings.stems:
                siblings.stems[space.archive_stem or ""] += 1
            assert space.archive_key is not None
            siblings.last_two = [*siblings.last_two[-1:], space.archive_key]
            if row.prefix == folder and not row.here:
                siblings.members.append(row.prefix)

    def _close_parent(self, parent: str, siblings: _Siblings) -> None:
        if siblings.count < MIN_SINGLE_SIBLINGS or len(siblings.last_two) < 2:
            return
        stem, count = siblings.stems.most_common(1)[0]
        if count * 2 < siblings.count:
            return  # unrelated files that happen to be alone in their folders
        folder = parent + "/" if parent else ""
        self.advice.append(LayoutAdvice(folder, siblings.count, stem, siblings.original,
                                        siblings.stored, (siblings.last_two[0], siblings.last_two[1])))
        if siblings.members:  # the sibling folders are rows of this view
            for member in siblings.members:
                self.rows[member].layout_folders += 1
        else:
            row = self._row_for(folder)
            if row is not None:
                row.layout_folders += siblings.count
        if len(self.advice) > MAX_ADVICE * 2:
            self.advice.sort(key=lambda a: -a.stored_bytes)
            del self.advice[MAX_ADVICE:]


# -- running it over a bucket ---------------------------------------------------------------------

def folder_savings(s3: S3Access, fetcher: MetadataFetcher, bucket: str, prefix: str = "", *,
                   exact: bool = False, progress: StatsProgress | None = None,
                   should_cancel: ShouldCancel | None = None, expected_deltas: int | None = None,
                   pages: Iterable[ListObjectsResult] | None = None) -> FolderReport:
    """Savings of every folder below ``prefix`` from one listing (and, when ``exact``, the deltas' metadata).

    ``progress(done, total)`` counts deltas whose metadata was read; ``total``
    is ``expected_deltas`` (e.g. from a quick pass) or the deltas listed so far.
    """
    aggregator = SavingsAggregator(bucket, prefix)
    aggregator.exact = exact
    waiting: list[ListObjectsResult] = []
    waiting_deltas: list[ObjectInfo] = []
    seen = done = 0
    lock = threading.Lock()

    def drain() -> None:
        nonlocal done
        if waiting_deltas:
            base = done

            def batch_progress(d: int, _t: int) -> None:
                if progress:
                    with lock:
                        progress(base + d, max(expected_deltas or 0, seen))

            fetcher.fetch(bucket, waiting_deltas, batch_progress, should_cancel)
            done += len(waiting_deltas)
        for page in waiting:
            aggregator.add_page(page)
        waiting.clear()
        waiting_deltas.clear()

    with s3.ctx(bucket, prefix, "list"):
        for page in walk(s3, fetcher.cache, bucket, prefix, pages=pages, should_cancel=should_cancel):
            if not exact:
                aggregator.add_page(page)
                continue
            deltas = [o for o in page.contents if o.is_delta]
            seen += len(deltas)
            waiting.append(page)
            waiting_deltas.extend(deltas)
            if len(waiting_deltas) >= EXACT_BATCH or len(waiting) >= EXACT_PAGES:
                drain()
        if exact:
            drain()
    if progress and exact:
        progress(done, max(done, expected_deltas or 0))
    return aggregator.finish()


def fill_known_metadata(cache: MetadataCache | None, endpoint: str, bucket: str, items: list[ObjectInfo]) -> int:
    """Fill items with metadata the on-disk cache holds for their exact version; no request. Returns how many."""
    if cache is None or not items:
        return 0
    wanted = [i for i in items if not i.metadata_loaded]
    found = cache.get_many(endpoint, bucket, [(i.stored_key, object_version(i)) for i in wanted])
    for info in wanted:
        md = found.get(info.stored_key)
        if md is not None:
            apply_metadata(info, md)
    return sum(1 for i in wanted if i.stored_key in found)
