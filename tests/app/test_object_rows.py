"""The object table's rows without the table: merge of listing pages, sort, filter, marks, metadata books.

Plain objects, no App and no server: what the table draws is decided here, the widget only draws it.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys

from dgtui import ListObjectsResult, ObjectInfo, ObjectKind
from dgtui.app.messages import Location
from dgtui.app.object_rows import VISIBLE_METADATA_MARGIN, ObjectRows, Row, deleted_rows

HERE = Location("b", "p/")


def obj(name: str, size: int = 10, *, delta: bool = False, original: int | None = None,
        modified: str = "2026-01-01T00:00:00.000Z") -> ObjectInfo:
    return ObjectInfo(key=HERE.prefix + name, size=size, last_modified=modified, etag=f'"{name}"', is_delta=delta,
                      kind=ObjectKind.DELTA if delta else ObjectKind.DIRECT, original_size=original)


def page(*objects: ObjectInfo, folders: tuple[str, ...] = ()) -> ListObjectsResult:
    return ListObjectsResult(name="b", prefix=HERE.prefix, delimiter="/", contents=list(objects),
                             common_prefixes=[HERE.prefix + f for f in folders])


def listed(*pages: ListObjectsResult) -> ObjectRows:
    rows = ObjectRows()
    request = rows.start(HERE)
    for p in pages:
        assert rows.queue_page(request, p)
        rows.merge_pending()
    rows.finish()
    return rows


def names(rows: ObjectRows) -> list[str]:
    return [row.name for row in rows.view]


def test_the_model_imports_no_textual():
    code = ("import sys, dgtui.app.object_rows; "
            "loaded = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')); "
            "print(loaded); sys.exit(1 if loaded else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_pages_merge_into_folders_first_then_objects_by_name_with_the_summary():
    rows = listed(page(obj("c.txt", 5), obj("a.txt", 7), folders=("z/",)),
                  page(obj("b.bin", 3, delta=True), folders=("m/",)))
    assert names(rows) == ["m/", "z/", "a.txt", "b.bin", "c.txt"]
    assert rows.view_folders == 2 and rows.visible_objects == 3
    summary = rows.summary
    assert (summary.folders, summary.objects, summary.deltas, summary.unknown) == (2, 3, 1, 1)
    assert summary.stored_bytes == 15 and summary.plain_bytes == 12 and summary.complete
    assert rows.longest_name == len("c.txt") and not rows.listing


def test_the_folder_marker_of_the_prefix_itself_is_no_row():
    marker = ObjectInfo(key=HERE.prefix, size=0, last_modified="")
    rows = listed(page(marker, obj("a"), folders=("",)))  # the prefix itself as a common prefix
    assert names(rows) == ["a"]


def test_a_page_out_of_order_is_merged_in_order():
    rows = listed(page(obj("d"), obj("e")), page(obj("a"), obj("f")))
    assert names(rows) == ["a", "d", "e", "f"]


def test_a_page_of_an_older_listing_is_refused():
    rows = ObjectRows()
    old = rows.start(HERE)
    new = rows.start(Location("b", "q/"))
    assert not rows.queue_page(old, page(obj("a")))
    assert not rows.merge_pending() and rows.view == []
    assert rows.queue_page(new, page(obj("a")))


def test_sort_keys_and_reversal_keep_folders_by_name():
    rows = listed(page(obj("a", 30, modified="2026-03-01"), obj("b", 10, modified="2026-01-01"),
                       obj("c", 20, modified="2026-02-01"), folders=("x/", "y/")))
    rows.sort_by("size")  # a new key starts in its usual order: the biggest first
    assert names(rows) == ["x/", "y/", "a", "c", "b"] and rows.sort_reverse
    rows.sort_by("size")  # the same key again: reversed
    assert names(rows) == ["x/", "y/", "b", "c", "a"]
    rows.sort_by("date", reverse=False)
    assert names(rows) == ["x/", "y/", "b", "c", "a"]
    rows.sort_by("name")
    assert names(rows) == ["x/", "y/", "a", "b", "c"] and not rows.sort_reverse
    rows.sort_by("name")  # by name reversed: the folders turn too
    assert names(rows) == ["y/", "x/", "c", "b", "a"]


def test_original_size_and_saved_share_sort_unknown_first():
    rows = listed(page(obj("known", 10, delta=True, original=1000), obj("unknown", 10, delta=True),
                       obj("plain", 500)))
    rows.sort_by("original", reverse=False)
    assert names(rows) == ["unknown", "plain", "known"]
    rows.sort_by("saved", reverse=True)
    assert names(rows)[0] == "known"


def test_filter_is_case_blind_and_applies_to_later_pages():
    rows = ObjectRows()
    request = rows.start(HERE)
    rows.set_filter("LOG")
    rows.queue_page(request, page(obj("app.log"), obj("data.bin"), folders=("logs/", "tmp/")))
    rows.merge_pending()
    assert names(rows) == ["logs/", "app.log"]
    rows.set_filter("")
    assert names(rows) == ["logs/", "tmp/", "app.log", "data.bin"]
    assert rows.index_of(HERE.prefix + "data.bin") == 3 and rows.index_of("nowhere") is None


def test_marks_are_objects_only_and_mark_all_toggles_the_visible_ones():
    rows = listed(page(obj("a"), obj("b"), obj("c"), folders=("f/",)))
    folder, a = rows.view[0], rows.view[1]
    assert not rows.toggle_mark(folder) and not rows.marked
    assert rows.toggle_mark(a) and rows.marked == {a.key}
    assert rows.toggle_mark(a) and not rows.marked
    rows.set_filter("b")
    rows.mark_all()
    assert rows.marked == {HERE.prefix + "b"}
    rows.set_filter("")
    rows.mark_all()
    assert len(rows.marked) == 3
    rows.mark_all()  # all marked: none
    assert not rows.marked
    rows.toggle_mark(a)
    assert [row.key for row in rows.marked_rows()] == [a.key]


def test_a_new_listing_forgets_rows_marks_and_metadata_books():
    rows = listed(page(obj("a")))
    rows.toggle_mark(rows.view[0])
    rows.metadata_tried.add("x")
    rows.start(HERE)
    assert rows.view == [] and not rows.marked and not rows.metadata_tried and rows.listing


def test_rows_wanting_metadata_are_the_objects_in_view_and_a_margin_not_tried_yet():
    infos = [obj(f"o{i:03d}", delta=True) for i in range(100)]
    rows = listed(page(*infos, folders=("f/",)))
    height = 11  # the header and ten rows
    wanted = rows.rows_wanting_metadata(0, height)
    assert [row.name for row in wanted] == [f"o{i:03d}" for i in range(10 + VISIBLE_METADATA_MARGIN - 1)]
    top = 50
    wanted = rows.rows_wanting_metadata(top, height)
    assert wanted[0] is rows.view[top - VISIBLE_METADATA_MARGIN]
    assert wanted[-1] is rows.view[top + height - 2 + VISIBLE_METADATA_MARGIN]
    assert rows.rows_wanting_metadata(0, 1) == []


def test_a_view_read_fills_copies_and_is_not_asked_again():
    rows = listed(page(obj("a", delta=True), obj("b", delta=True)))
    wanted = rows.rows_wanting_metadata(0, 10)
    infos = rows.begin_view_read(wanted)
    assert infos is not None and all(info is not row.info for info, row in zip(infos, wanted))
    assert rows.begin_view_read(wanted) is None, "the same rows are being read already"
    first = wanted[0]
    before = first.version
    filled = dataclasses.replace(infos[0], original_size=1000, metadata_loaded=True)
    changed, unknown_changed = rows.view_read_done(rows.request_id, wanted, [filled, infos[1]])
    assert changed and unknown_changed and rows.summary.unknown == 1
    assert first.info is filled and first.version == before + 1
    assert wanted[1].info is not infos[1], "a row whose metadata was not read keeps its info"
    assert rows.rows_wanting_metadata(0, 10) == [], "tried rows are not asked again"
    assert not rows.metadata_reading


def test_a_view_read_of_an_older_listing_changes_nothing():
    rows = listed(page(obj("a", delta=True)))
    wanted = rows.rows_wanting_metadata(0, 10)
    infos = rows.begin_view_read(wanted)
    assert infos is not None
    old = rows.request_id
    rows.start(HERE)
    filled = dataclasses.replace(infos[0], original_size=5, metadata_loaded=True)
    assert rows.view_read_done(old, wanted, [filled]) == (False, False)
    assert wanted[0].info is not filled


def test_known_metadata_and_sort_metadata_fill_rows_and_count_down_the_unknown():
    rows = listed(page(obj("a", delta=True), obj("b", delta=True), obj("c")))
    assert [info.key for info in rows.unknown_deltas()] == [HERE.prefix + "a", HERE.prefix + "b"]
    known = dataclasses.replace(rows.view[0].info, original_size=100, metadata_loaded=True)
    version = rows.version
    assert not rows.apply_known(rows.request_id - 1, [known])
    assert rows.apply_known(rows.request_id, [known])
    assert rows.summary.unknown == 1 and rows.view[0].info is known and rows.version > version
    rows.sort_by("original", reverse=True)
    big = dataclasses.replace(rows.objects[1].info, original_size=10_000, metadata_loaded=True)
    assert rows.apply_metadata(rows.request_id, [big])
    assert names(rows)[0] == "b", "sorted again once the metadata is in"


def test_update_info_and_empty_folders_bump_the_row_version():
    rows = listed(page(obj("a"), folders=("f/",)))
    folder, a = rows.view
    assert rows.update_info(dataclasses.replace(a.info, original_size=10)) and a.version == 1
    assert not rows.update_info(obj("elsewhere"))
    assert rows.folders_to_check() == [folder.key]
    assert not rows.mark_empty(rows.request_id - 1, {folder.key}) and not folder.empty
    assert rows.mark_empty(rows.request_id, {folder.key}) and folder.empty and folder.version == 1
    assert not rows.mark_empty(rows.request_id, {folder.key}), "already known empty: nothing changes"


def test_a_failed_listing_says_why():
    rows = ObjectRows()
    rows.start(HERE)
    rows.fail("bucket not found", bucket_missing=True)
    assert not rows.listing and rows.message == "bucket not found"
    assert rows.summary.error == "bucket not found" and rows.summary.bucket_missing


def test_row_names_are_relative_to_the_prefix():
    assert Row.obj(obj("deep/er.txt"), HERE.prefix).name == "deep/er.txt"
    assert Row.folder("p/sub/", HERE.prefix).name == "sub/"


# -- deleted keys (the X toggle) ---------------------------------------------------------
def _deleted(name: str, size: int, deleted_at: str, last_at: str = "2026-01-01T00:00:00+00:00"):
    """(key, versions newest first) of a key whose latest version is a delete marker over one file version."""
    from datetime import datetime

    from dgtui.core.versions import ObjectVersion

    key = HERE.prefix + name
    marker = ObjectVersion(key, key, "m-" + name, datetime.fromisoformat(deleted_at), is_delete_marker=True,
                           is_latest=True, stored_form="delete-marker")
    last = ObjectVersion(key, key + ".delta", "v-" + name, datetime.fromisoformat(last_at), size=size,
                         stored_form="delta", etag="e")
    return key, [marker, last]


def test_deleted_keys_join_the_view_in_its_order_and_leave_it_without_a_sort():
    rows = listed(page(obj("c.txt", 5), obj("a.txt", 7), folders=("m/",)))
    request = rows.request_id
    rows.set_show_deleted(True)
    assert rows.set_deleted(request, deleted_rows(HERE.prefix, [
        _deleted("b.zip", 30, "2026-02-01T10:00:00+00:00"),
        _deleted("a.txt", 1, "2026-02-01T10:00:00+00:00"),  # written again since: the listing's row stands
        _deleted("d.zip", 4, "2026-03-01T10:00:00+00:00")], [HERE.prefix + "m/", HERE.prefix + "old/"],
        rows.objects, rows.folders))
    assert names(rows) == ["m/", "old/", "a.txt", "b.zip", "c.txt", "d.zip"]
    flagged = {row.name: row.deleted is not None for row in rows.view}
    assert flagged == {"m/": False, "old/": True, "a.txt": False, "b.zip": True, "c.txt": False, "d.zip": True}
    b = rows.view[3]
    assert b.size == 30 and b.modified == "2026-02-01T10:00:00.000Z" and b.info is not None and b.info.is_delta
    assert b.deleted is not None and b.deleted.last is not None and b.deleted.last.version_id == "v-b.zip"
    assert rows.visible_objects == 2 and rows.view_folders == 2, "deleted files are not counted as objects"

    rows.sort_by("date")  # newest first: the deletion dates sort among the listing's dates
    assert names(rows)[2:] == ["d.zip", "b.zip", "c.txt", "a.txt"]
    rows.sort_by("name")
    rows.set_show_deleted(False)
    assert names(rows) == ["m/", "a.txt", "c.txt"] and rows.view_folders == 1 and rows.visible_objects == 2
    rows.set_show_deleted(True)  # shown again from what was read: no second read
    assert names(rows) == ["m/", "old/", "a.txt", "b.zip", "c.txt", "d.zip"]


def test_deleted_rows_are_not_marked_nor_read_for_metadata_and_a_stale_answer_is_dropped():
    rows = listed(page(obj("a.txt", 7)))
    request = rows.request_id
    rows.set_show_deleted(True)
    assert rows.set_deleted(request, deleted_rows(HERE.prefix, [_deleted("b.zip", 30, "2026-02-01T10:00:00+00:00")],
                                                  [], rows.objects, rows.folders))
    deleted_row = rows.view[1]
    assert not rows.toggle_mark(deleted_row)
    rows.mark_all()
    assert rows.marked == {HERE.prefix + "a.txt"}
    assert [r.name for r in rows.rows_wanting_metadata(0, 10)] == ["a.txt"]

    rows.start(Location("b", "other/"))
    assert not rows.set_deleted(request, deleted_rows("other/", [_deleted("c.zip", 1, "2026-02-01T10:00:00+00:00")],
                                                      [], [], []))
    assert rows.deleted is None and rows.view == [] and rows.show_deleted, "the toggle stays from folder to folder"


def test_a_filter_applies_to_deleted_rows_too():
    rows = listed(page(obj("alpha.txt"), obj("beta.txt")))
    rows.set_show_deleted(True)
    old = _deleted("alpha-old.zip", 3, "2026-02-01T10:00:00+00:00")
    rows.set_deleted(rows.request_id, deleted_rows(HERE.prefix, [old], [], rows.objects, rows.folders))
    rows.set_filter("alpha")
    assert names(rows) == ["alpha-old.zip", "alpha.txt"] and rows.visible_objects == 1
