"""Big prefixes listed as key ranges in parallel: keys in order, each exactly once, whatever changes meanwhile."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from dgtui.core.ranged import iter_ranged_pages, split_points

from .test_listing import HOSTILE, ListCalls, delete_keys, plain_keys, put_keys


def ranged(client, bucket: str, prefix: str, page_size: int, delimiter: str | None = None) -> list:
    return list(iter_ranged_pages(client.boto3_client, bucket, prefix, delimiter, page_size))


def keys_of(pages) -> list[str]:
    return [o[0] for raw in pages for o in raw.objects]


def test_split_points_follow_the_keys_alphabet():
    names = [f"data/{i:06d}.bin" for i in range(1000)]
    points = split_points(names, names[-1], None, "data/", limit=100)
    assert points[:9] == [f"data/00{d}\U0010ffff" for d in range(0, 9)]  # just before data/001 ... data/009
    assert "data/0\U0010ffff" in points and "data/0\U0010ffff" < "data/1" and all(p > names[-1] for p in points)
    assert split_points(names, names[-1], "data/003", "data/") == ["data/000\U0010ffff", "data/001\U0010ffff",
                                                                    "data/002\U0010ffff"]
    assert len(split_points(names, names[-1], None, "data/", limit=5)) == 5
    assert split_points([], "x", None, "") == []


def test_a_big_prefix_is_listed_in_parallel_ranges_in_order_once(client, bucket, boto3_s3):
    keys = [f"big/{i:04d}.delta" for i in range(600)] + [f"big/{name}" for name in HOSTILE] + ["big/zz/end"]
    put_keys(boto3_s3, bucket, keys)
    calls = ListCalls(client)
    pages = ranged(client, bucket, "big/", 40)
    assert keys_of(pages) == plain_keys(boto3_s3, bucket, "big/")
    starts = [p.get("start-after") for p in calls.params]
    assert starts[0] is None and len([s for s in starts if s]) >= 8, "ranges started from split points"
    assert all(raw.next_token is None for raw in pages)
    assert [raw.is_truncated for raw in pages] == [True] * (len(pages) - 1) + [False]
    # a small prefix costs one request, as plain paging does
    calls.params.clear()
    assert keys_of(ranged(client, bucket, "big/zz/", 40)) == ["big/zz/end"] and len(calls.params) == 1


def test_the_sdk_cli_and_app_listing_use_ranges(client, bucket, boto3_s3):
    keys = [f"f/{i:03d}" for i in range(300)] + [f"f/dir{d}/{i}" for d in range(30) for i in range(3)]
    put_keys(boto3_s3, bucket, keys)
    flat = [o.key for page in client.iter_pages(bucket, "f/", delimiter=None, page_size=20, ranged=True)
            for o in page.contents]
    assert flat == plain_keys(boto3_s3, bucket, "f/")
    pages = list(client.iter_pages(bucket, "f/", delimiter="/", page_size=20, ranged=True))
    folders = [p for page in pages for p in page.common_prefixes]
    files = [o.key for page in pages for o in page.contents]
    plain = list(client.iter_pages(bucket, "f/", delimiter="/", page_size=20))
    assert folders == [p for page in plain for p in page.common_prefixes] == sorted(f"f/dir{d}/" for d in range(30))
    assert files == [o.key for page in plain for o in page.contents] == [f"f/{i:03d}" for i in range(300)]


def test_folders_straddling_split_points_are_shown_once(client, bucket, boto3_s3):
    # Folders whose keys run past the split points the first page suggests.
    keys = [f"g/{i:02d}" for i in range(12)] + [f"g/{d}{e}/{i:03d}" for d in "0123" for e in "05" for i in range(30)]
    put_keys(boto3_s3, bucket, keys)
    pages = ranged(client, bucket, "g/", 5, delimiter="/")
    folders = [p for raw in pages for p in raw.common_prefixes]
    expected = [p for page in boto3_s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix="g/", Delimiter="/") for p in (c["Prefix"] for c in page.get("CommonPrefixes", []))]
    assert folders == expected and len(folders) == len(set(folders)) == 8
    assert keys_of(pages) == [f"g/{i:02d}" for i in range(12)]


def test_keys_added_and_deleted_at_range_boundaries_meanwhile(client, bucket, boto3_s3):
    base = [f"c/{i:03d}" for i in range(400)]
    put_keys(boto3_s3, bucket, base)
    changed = threading.Event()
    boundary_keys: list[str] = []
    lock = threading.Lock()

    def on_range_start(params, **_):
        """Fault injection: once the first ranges start, change keys at and around their split points."""
        start = params.get("query_string", {}).get("start-after")
        with lock:
            if not start or changed.is_set():
                return
            changed.set()
            boundary_keys.append(start)
        added = [start, start + "0", start + "~", start[:-1] + chr(ord(start[-1]) - 1) + "~"]
        gone = [k for k in base if start[:-1] <= k <= start + "~"][:3]
        put_keys(boto3_s3, bucket, added)
        delete_keys(boto3_s3, bucket, gone)
        on_range_start.added, on_range_start.gone = added, gone  # type: ignore[attr-defined]

    client.boto3_client.meta.events.register("before-call.s3.ListObjectsV2", on_range_start)
    listed = keys_of(ranged(client, bucket, "c/", 30))
    assert changed.is_set() and boundary_keys
    assert listed == sorted(set(listed)), "in order, none twice"
    added, gone = on_range_start.added, on_range_start.gone  # type: ignore[attr-defined]
    steady = [k for k in base if k not in gone]
    assert set(steady) <= set(listed), "every key there all along is listed"
    assert set(listed) <= set(base) | set(added)
    # listed again with nothing changing: exactly what is there
    client.boto3_client.meta.events.unregister("before-call.s3.ListObjectsV2", on_range_start)
    assert keys_of(ranged(client, bucket, "c/", 30)) == plain_keys(boto3_s3, bucket, "c/")


def test_a_server_that_ignores_start_after_still_lists_everything_once(client, bucket, boto3_s3):
    keys = [f"i/{i:03d}" for i in range(200)]
    put_keys(boto3_s3, bucket, keys)

    def drop_start_after(params, **_):  # fault injection: the server ignores StartAfter
        params.get("query_string", {}).pop("start-after", None)

    client.boto3_client.meta.events.register("before-call.s3.ListObjectsV2", drop_start_after)
    assert keys_of(ranged(client, bucket, "i/", 25)) == keys


def test_many_listings_at_once_do_not_mix(client, bucket, boto3_s3):
    put_keys(boto3_s3, bucket, [f"{p}/{i:03d}" for p in "abc" for i in range(150)])
    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda p: keys_of(ranged(client, bucket, f"{p}/", 20)), "abc"))
    assert results == [[f"{p}/{i:03d}" for i in range(150)] for p in "abc"]


def test_the_first_page_is_given_before_its_ranges_are_asked_for(client, bucket, boto3_s3):
    """A browser paints the first page while nothing else is listed: the ranges that page is cut into start when
    the caller asks for the next page, not while it is still taking the first."""
    put_keys(boto3_s3, bucket, [f"big/{i:04d}" for i in range(200)])
    calls = ListCalls(client)
    more_asked = threading.Event()
    client.boto3_client.meta.events.register("before-call.s3.ListObjectsV2",
                                             lambda params, **_: more_asked.set() if len(calls.params) > 1 else None)
    pages = iter_ranged_pages(client.boto3_client, bucket, "big/", None, 20)
    try:
        first = next(pages)
        assert [o[0] for o in first.objects] == [f"big/{i:04d}" for i in range(20)]
        # Before the change, the first page's worker had started its ranges before handing the page over.
        assert not more_asked.wait(1.0), "a range was requested while the caller still held the first page"
        assert len(calls.params) == 1
        rest = keys_of(pages)
    finally:
        pages.close()
    assert more_asked.is_set() and len(calls.params) > 2
    assert rest == [f"big/{i:04d}" for i in range(20, 200)]
