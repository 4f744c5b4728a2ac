"""The rows behind the object table: plain Python, no Textual.

:class:`ObjectRows` holds the folders and objects of one listing, merges the
listing's pages as they arrive, sorts and filters them into the ``view`` the
table draws, keeps the marks, and keeps the books of the metadata the table
reads for the rows in view (which rows still want it, which are being read,
which answers still belong to the listing on screen). The table widget
(``widgets/object_table.py``) draws ``view`` and runs the workers and timers;
everything here can be tested without an App.

Every change to what a row shows bumps that row's ``version``, and every
change to the rows or their order bumps :attr:`ObjectRows.version`: the
table's cache of rendered lines is keyed by them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timezone
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Callable, Iterable

from dgtui import ObjectInfo, ObjectKind

from ..core.text import printable

if TYPE_CHECKING:
    from dgtui import ListObjectsResult
    from dgtui.core.versions import ObjectVersion

    from .messages import Location

#: rows above and below the visible ones whose metadata is read with them (the next scroll's)
VISIBLE_METADATA_MARGIN = 8
#: folders of a listing checked for being empty (one small LIST each), in listing order
EMPTY_FOLDER_CHECKS = 200


class Deleted:
    """What a row of a deleted key (or folder) knows: when it was deleted, and its versions newest first."""

    __slots__ = ("at", "versions")

    def __init__(self, at: datetime | None, versions: list[ObjectVersion]):
        #: the date of the delete marker (None for a folder: each of its keys has its own)
        self.at = at
        self.versions = versions

    @property
    def last(self) -> ObjectVersion | None:
        """The newest version that holds a file: what a restore brings back."""
        return next((v for v in self.versions if not v.is_delete_marker), None)


def listing_time(moment: datetime | None) -> str:
    """A version's date in the listing's own form (``2026-11-25T04:49:49.000Z``), so that it sorts among them."""
    if moment is None:
        return ""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Row:
    """One line of the table: a folder (common prefix) or an object; either may be a deleted one."""

    __slots__ = ("key", "name", "lower", "size", "modified", "info", "is_folder", "empty", "version", "deleted")

    def __init__(self, key: str, name: str, size: int, modified: str, info: ObjectInfo | None):
        self.key = key
        self.name = name
        self.lower = name.casefold()
        self.size = size
        self.modified = modified
        self.info = info
        self.is_folder = info is None
        #: a folder the server lists with nothing under it (a deleted folder some servers keep)
        self.empty = False
        #: bumped whenever what the row shows changes (its info, its emptiness)
        self.version = 0
        #: a key whose latest version is a delete marker, or a folder holding only such keys (shown while the
        #: table shows deleted files); None for what the listing found
        self.deleted: Deleted | None = None

    @classmethod
    def folder(cls, prefix: str, parent_prefix: str) -> "Row":
        return cls(prefix, prefix[len(parent_prefix):], -1, "", None)

    @classmethod
    def obj(cls, info: ObjectInfo, parent_prefix: str) -> "Row":
        name = info.key[len(parent_prefix):] if info.key.startswith(parent_prefix) else info.name
        return cls(info.key, name, info.size, info.last_modified or "", info)

    @classmethod
    def deleted_key(cls, key: str, versions: list[ObjectVersion], parent_prefix: str) -> "Row":
        """A key whose latest version is a delete marker: its last file version's size, the marker's date."""
        deleted = Deleted(versions[0].last_modified if versions else None, versions)
        last = deleted.last
        delta = last is not None and last.stored_form == "delta"
        info = ObjectInfo(key=key, size=last.size if last else 0, last_modified=listing_time(deleted.at),
                          etag=last.etag if last else None, stored_key=last.stored_key if last else key,
                          is_delta=delta, kind=ObjectKind.DELTA if delta else ObjectKind.UNKNOWN,
                          original_size=last.original_size if last else None)
        row = cls.obj(info, parent_prefix)
        row.deleted = deleted
        return row

    @classmethod
    def deleted_folder(cls, prefix: str, parent_prefix: str) -> "Row":
        row = cls.folder(prefix, parent_prefix)
        row.deleted = Deleted(None, [])
        return row

    def set_info(self, info: ObjectInfo) -> None:
        self.info = info
        self.version += 1

    def set_empty(self) -> None:
        if not self.empty:
            self.empty = True
            self.version += 1


@dataclass
class ListingSummary:
    """Numbers the table knows from the listing alone (no HEADs)."""

    objects: int = 0
    folders: int = 0
    deltas: int = 0
    stored_bytes: int = 0
    #: bytes of non-delta objects: their stored size is their original size
    plain_bytes: int = 0
    #: deltas whose original size is not known yet (never read, neither this session nor in the cache)
    unknown: int = 0
    complete: bool = False
    error: str | None = None
    #: the listing failed because the bucket does not exist
    bucket_missing: bool = False


def deleted_rows(prefix: str, keys: list[tuple[str, list[ObjectVersion]]], folders: list[str],
                 listed_objects: list[Row], listed_folders: list[Row]) -> list[Row]:
    """Rows for a folder's deleted keys and the folders below with versions, folders first, leaving out what the
    listing shows (a folder with current objects, a key written again since). Plain work on lists the listing
    no longer changes, done in the job that read the versions: a folder of 100,000 rows costs the UI nothing."""
    live_folders = {row.key for row in listed_folders}
    live_keys = {row.key for row in listed_objects} if keys else set()
    return [Row.deleted_folder(f, prefix) for f in folders if f not in live_folders] + \
        [Row.deleted_key(key, versions, prefix) for key, versions in keys if key not in live_keys]


def original_size(row: Row) -> int:
    """The original size when known (deltas: from their metadata), else -1 (sorts first)."""
    info = row.info
    if info is None:
        return -1
    if info.original_size is not None:
        return info.original_size
    return row.size if info.kind in (ObjectKind.DIRECT, ObjectKind.PLAIN) else -1


def saved_share(row: Row) -> float:
    info = row.info
    if info is None or not info.original_size:
        return -1.0
    return info.savings_percent or 0.0


SORT_KEYS: dict[str, Callable[[Row], Any]] = {
    "name": attrgetter("lower"), "size": attrgetter("size"), "original": original_size,
    "saved": saved_share, "date": attrgetter("modified")}


def _merge(old: list[Row], new: list[Row], key: Callable[[Row], Any], reverse: bool) -> list[Row]:
    """``old`` (sorted) with ``new`` merged in.

    Pages usually arrive in the view's order already (S3 lists by name), so the common case is an
    append; otherwise list.sort (Timsort) merges the two sorted runs in linear time.
    """
    new.sort(key=key, reverse=reverse)
    if old:
        last, first = key(old[-1]), key(new[0])
        in_order = first <= last if reverse else first >= last
        if not in_order:
            old.extend(new)
            old.sort(key=key, reverse=reverse)
            return old
    old.extend(new)
    return old


class ObjectRows:
    """The folders and objects of one location, the sorted and filtered view of them, and the marks."""

    def __init__(self) -> None:
        self.location: Location | None = None
        #: names the listing being shown; answers carrying an older one are dropped
        self.request_id = 0
        self.folders: list[Row] = []
        self.objects: list[Row] = []
        #: folders first, then objects, filtered and sorted: what the table draws
        self.view: list[Row] = []
        #: how many of ``view``'s first rows are folders
        self.view_folders = 0
        #: the longest name in the listing (the Name column need not be wider)
        self.longest_name = 0
        self.marked: set[str] = set()
        self.sort_key = "name"
        self.sort_reverse = False
        self.filter_text = ""
        #: a listing is under way
        self.listing = False
        #: the listing failed: said where the rows would be
        self.message: str | None = None
        self.summary = ListingSummary()
        #: put the cursor on this key once it arrives (e.g. the folder we came up from)
        self.cursor_wanted: str | None = None
        #: pages received but not merged yet
        self.pending: list[ListObjectsResult] = []
        #: keys of this listing whose metadata was read for the view, or could not be: not asked again
        self.metadata_tried: set[str] = set()
        #: keys whose metadata is being read for the view now
        self.metadata_reading: set[str] = set()
        #: bumped whenever the rows, their order or what any of them shows changes
        self.version = 0
        #: deleted keys (and folders holding only them) are shown among the rows: the table's toggle, kept
        #: from folder to folder
        self.show_deleted = False
        #: the deleted rows of this location (folders first), once read; None while not read
        self.deleted: list[Row] | None = None
        #: the bucket's versioning status when they were read ("Enabled" or "Suspended")
        self.deleted_versioning = "Enabled"
        #: deleted object rows in ``view``
        self.view_deleted = 0

    # -- the listing ---------------------------------------------------------------
    def start(self, location: Location, *, cursor_key: str | None = None) -> int:
        """Forget the rows shown; a listing of ``location`` begins. Returns its request id."""
        self.request_id += 1
        self.location = location
        self.folders, self.objects, self.view = [], [], []
        self.view_folders = 0
        self.longest_name = 0
        self.marked.clear()
        self.message = None
        self.listing = True
        self.summary = ListingSummary()
        self.cursor_wanted = cursor_key
        self.pending = []
        self.deleted = None
        self.view_deleted = 0
        self.forget_view_metadata()
        self.version += 1
        return self.request_id

    def queue_page(self, request_id: int, page: ListObjectsResult) -> bool:
        """Keep a page for the next merge; False if it belongs to a listing no longer shown."""
        if request_id != self.request_id or self.location is None:
            return False
        self.pending.append(page)
        return True

    def merge_pending(self) -> bool:
        """Add the queued pages to the rows and to the view; True if there were any."""
        pages, self.pending = self.pending, []
        if not pages or self.location is None:
            return False
        prefix = self.location.prefix
        new_folders = [Row.folder(p, prefix) for page in pages for p in page.common_prefixes if p != prefix]
        new_objects = [Row.obj(o, prefix) for page in pages for o in page.contents if o.key != prefix]
        summary = self.summary
        summary.folders += len(new_folders)
        summary.objects += len(new_objects)
        for row in new_objects:
            summary.stored_bytes += row.size
            if row.info is not None and row.info.is_delta:
                summary.deltas += 1
                if row.info.original_size is None:
                    summary.unknown += 1
            else:
                summary.plain_bytes += row.size
        self.folders.extend(new_folders)
        self.objects.extend(new_objects)
        self.longest_name = max([self.longest_name] + [len(printable(row.name)) for row in new_folders + new_objects])
        self._add_to_view(new_folders, new_objects)
        return True

    def finish(self) -> None:
        """The last page is in (and merged)."""
        self.listing = False
        self.summary.complete = True
        self.cursor_wanted = None

    def fail(self, text: str, *, bucket_missing: bool) -> None:
        """The listing failed: ``text`` says so where the rows would be."""
        self.listing = False
        self.message = text
        self.summary.error = text
        self.summary.bucket_missing = bucket_missing

    def folders_to_check(self) -> list[str]:
        """Folders worth a small LIST each to learn whether anything is left in them."""
        return [row.key for row in self.folders[:EMPTY_FOLDER_CHECKS]]

    def mark_empty(self, request_id: int, prefixes: set[str]) -> bool:
        """These folders hold nothing; True if that changed a row of the listing shown."""
        if request_id != self.request_id:
            return False
        changed = False
        for row in self.folders:
            if row.key in prefixes and not row.empty:
                row.set_empty()
                changed = True
        if changed:
            self.version += 1
        return changed

    # -- deleted keys -----------------------------------------------------------------
    def set_deleted(self, request_id: int, rows: list[Row], versioning: str = "Enabled") -> bool:
        """The deleted rows of the location arrived (``deleted_rows``, made off the UI thread); False if stale.

        While deleted rows are shown they join the view in its order (merged: no sort of the whole view again).
        """
        if request_id != self.request_id or self.location is None:
            return False
        if self.deleted and self.show_deleted:
            self._drop_deleted_from_view()  # read again: the new answer replaces the old
        self.deleted_versioning = versioning
        new_folders = [row for row in rows if row.is_folder]
        new_objects = [row for row in rows if not row.is_folder]
        self.deleted = new_folders + new_objects
        if self.deleted:
            self.longest_name = max([self.longest_name] + [len(printable(row.name)) for row in self.deleted])
        if self.show_deleted:
            self._add_to_view(new_folders, new_objects)
        self.version += 1
        return True

    def set_show_deleted(self, on: bool) -> None:
        """Show the deleted rows among the others, or take them out (the order of the rest stays)."""
        if on == self.show_deleted:
            return
        self.show_deleted = on
        rows = self.deleted or []
        if on:
            self._add_to_view([r for r in rows if r.is_folder], [r for r in rows if not r.is_folder])
        elif rows:
            self._drop_deleted_from_view()
        self.version += 1

    def _drop_deleted_from_view(self) -> None:
        self.view = [row for row in self.view if row.deleted is None]
        self.view_folders = sum(1 for row in self.view if row.is_folder)
        self.view_deleted = 0

    # -- the view ------------------------------------------------------------------
    @property
    def visible_objects(self) -> int:
        """Objects the view shows (after the filter), deleted ones apart."""
        return len(self.view) - self.view_folders - self.view_deleted

    def row_at(self, index: int) -> Row | None:
        return self.view[index] if 0 <= index < len(self.view) else None

    def index_of(self, key: str) -> int | None:
        for index, row in enumerate(self.view):
            if row.key == key:
                return index
        return None

    def sort_by(self, key: str, reverse: bool | None = None) -> None:
        """Sort by ``key``; ``reverse`` None: the same key again reverses it, a new one starts in its usual order."""
        if reverse is None:
            reverse = (not self.sort_reverse) if key == self.sort_key else key != "name"
        self.sort_key, self.sort_reverse = key, reverse
        self.rebuild_view()

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.rebuild_view()

    def _matches(self, rows: Iterable[Row]) -> list[Row]:
        if not self.filter_text:
            return list(rows)
        needle = self.filter_text.casefold()
        return [row for row in rows if needle in row.lower]

    def _folders_reversed(self) -> bool:
        return self.sort_reverse and self.sort_key == "name"  # folders sort by name only

    def rebuild_view(self) -> None:
        """Sort and filter all rows again."""
        all_folders, all_objects = self.folders, self.objects
        deleted = self.deleted if self.show_deleted and self.deleted else []
        if deleted:
            all_folders = all_folders + [row for row in deleted if row.is_folder]
            all_objects = all_objects + [row for row in deleted if not row.is_folder]
        folders = sorted(self._matches(all_folders), key=attrgetter("lower"), reverse=self._folders_reversed())
        objects = sorted(self._matches(all_objects), key=SORT_KEYS[self.sort_key], reverse=self.sort_reverse)
        self.view = folders + objects
        self.view_folders = len(folders)
        self.view_deleted = sum(1 for row in objects if row.deleted is not None) if deleted else 0
        self.version += 1

    def _add_to_view(self, new_folders: list[Row], new_objects: list[Row]) -> None:
        folders_new = self._matches(new_folders)
        objects_new = self._matches(new_objects)
        if folders_new or objects_new:
            split = self.view_folders
            folders, objects = self.view[:split], self.view[split:]
            if folders_new:
                folders = _merge(folders, folders_new, attrgetter("lower"), self._folders_reversed())
            if objects_new:
                objects = _merge(objects, objects_new, SORT_KEYS[self.sort_key], self.sort_reverse)
            self.view = folders + objects
            self.view_folders = len(folders)
            self.view_deleted += sum(1 for row in objects_new if row.deleted is not None)
        self.version += 1

    # -- marks ---------------------------------------------------------------------
    def toggle_mark(self, row: Row) -> bool:
        """Mark an object, or unmark it; False for a folder or a deleted key (neither is marked)."""
        if row.is_folder or row.deleted is not None:
            return False
        if row.key in self.marked:
            self.marked.discard(row.key)
        else:
            self.marked.add(row.key)
        return True

    def mark_all(self) -> None:
        """Mark every object the view shows; if all of them are marked already, unmark them."""
        visible = [row.key for row in self.view if not row.is_folder and row.deleted is None]
        if visible and all(key in self.marked for key in visible):
            self.marked.difference_update(visible)
        else:
            self.marked.update(visible)

    def marked_rows(self) -> list[Row]:
        if not self.marked:
            return []
        return [row for row in self.objects if row.key in self.marked]

    # -- metadata ------------------------------------------------------------------
    def update_info(self, info: ObjectInfo) -> bool:
        """Metadata for one object arrived (details); True if it is a row of this listing."""
        for row in self.objects:
            if row.key == info.key:
                row.set_info(info)
                self.version += 1
                return True
        return False

    def unknown_deltas(self) -> list[ObjectInfo]:
        """Deltas whose original size is not known (it lives in their metadata)."""
        return [row.info for row in self.objects
                if row.info is not None and row.info.is_delta and row.info.original_size is None]

    def apply_known(self, request_id: int, infos: list[ObjectInfo]) -> bool:
        """Metadata known without a request (caches) arrived; True if it belongs to the listing shown."""
        if request_id != self.request_id:
            return False
        by_key = {info.key: info for info in infos}
        for row in self.objects:
            info = by_key.get(row.key)
            if info is not None and row.info is not None and row.info.original_size is None:
                row.set_info(info)
                if info.original_size is not None:
                    self.summary.unknown -= 1
        self.version += 1
        return True

    def apply_metadata(self, request_id: int, infos: list[ObjectInfo]) -> bool:
        """Metadata read to sort by it arrived; True if it belongs to the listing shown (then sort again)."""
        if request_id != self.request_id:
            return False
        by_key = {info.key: info for info in infos}
        for row in self.objects:
            info = by_key.get(row.key)
            if info is not None:
                row.set_info(info)
        self.rebuild_view()
        return True

    def forget_view_metadata(self) -> None:
        self.metadata_tried = set()
        self.metadata_reading = set()

    def rows_wanting_metadata(self, top: int, height: int) -> list[Row]:
        """Object rows in view (and a few around) whose metadata is unknown and not asked for yet.

        ``top`` is the first view row on screen, ``height`` the table's height with its header line.
        """
        if height <= 1 or len(self.view) <= self.view_folders:
            return []
        start = max(self.view_folders, top - VISIBLE_METADATA_MARGIN)
        end = min(len(self.view), top + height - 1 + VISIBLE_METADATA_MARGIN)
        tried = self.metadata_tried
        return [row for row in self.view[start:end]
                if row.info is not None and not row.info.metadata_loaded and not row.info.housekeeping
                and row.deleted is None and row.key not in tried]

    def begin_view_read(self, rows: list[Row]) -> list[ObjectInfo] | None:
        """The metadata of ``rows`` is to be read: copies of their infos to fill, or None if nothing is new.

        Copies, because the reading thread fills them while the screen may be drawing the rows.
        """
        if not rows or all(row.key in self.metadata_reading for row in rows):
            return None  # nothing new in view: what is being read still is
        infos = []
        for row in rows:
            assert row.info is not None  # object rows only
            infos.append(dataclasses.replace(row.info, metadata=dict(row.info.metadata)))
        self.metadata_reading = {row.key for row in rows}
        return infos

    def view_read_done(self, request_id: int, rows: list[Row], infos: list[ObjectInfo]) -> tuple[bool, bool]:
        """The read of :meth:`begin_view_read` ended: (whether a row changed, whether ``summary.unknown`` did)."""
        if request_id != self.request_id:
            return False, False
        keys = {row.key for row in rows}
        self.metadata_reading -= keys
        self.metadata_tried |= keys
        unknown = self.summary.unknown
        changed = False
        for row, info in zip(rows, infos):
            current = row.info
            if current is None or current.metadata_loaded or not info.metadata_loaded:
                continue  # filled meanwhile (details, exact stats), or gone from the bucket, or not read
            if current.is_delta and current.original_size is None and info.original_size is not None:
                self.summary.unknown -= 1
            row.set_info(info)
            changed = True
        if changed:
            self.version += 1
        return changed, self.summary.unknown != unknown
