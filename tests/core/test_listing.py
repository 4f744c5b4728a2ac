"""Listing over HTTP: pages fetched ahead, and re-listing in parallel from the last page breaks."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from dgtui import create_client
from dgtui.core import walk as walk_module
from dgtui.core.listing import iter_raw_pages, page_bounds
from dgtui.core.ranged import iter_ranged_pages

HOSTILE = ["[red]x[/red]", "a b+c%20d", "é/日本", "new\nline", "tab\tkey", "&amp;<tag>", "x" * 200]


def put_keys(boto3_s3, bucket: str, keys: list[str]) -> None:
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: boto3_s3.put_object(Bucket=bucket, Key=k, Body=k.encode()[:50]), keys))


def delete_keys(boto3_s3, bucket: str, keys: list[str]) -> None:
    boto3_s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})


def plain_keys(boto3_s3, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for page in boto3_s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])]


def split_keys(client, bucket: str, prefix: str, bounds: list[str], page_size: int) -> list[str]:
    return [o[0] for raw in iter_ranged_pages(client.boto3_client, bucket, prefix, page_size=page_size, hints=bounds)
            for o in raw.objects]


class ListCalls:
    """The parameters of every ListObjectsV2 request a client sends."""

    def __init__(self, client):
        self.params: list[dict] = []
        self._lock = threading.Lock()
        client.boto3_client.meta.events.register("before-call.s3.ListObjectsV2", self._record)

    def _record(self, params, **_):
        with self._lock:
            self.params.append(dict(params.get("query_string", {})))


def test_pages_fetched_ahead_list_every_key_once_in_order(client, bucket, boto3_s3):
    keys = [f"p/{i:03d}" for i in range(47)] + [f"p/{name}" for name in HOSTILE]
    put_keys(boto3_s3, bucket, keys)
    listed = [o.key for page in client.iter_pages(bucket, "p/", delimiter=None, page_size=5) for o in page.contents]
    assert listed == plain_keys(boto3_s3, bucket, "p/")
    assert sorted(listed) == sorted(keys)
    # Pages that end exactly on the last key, and single-page listings, end cleanly too.
    assert len([o for page in client.iter_pages(bucket, "p/", delimiter=None, page_size=len(keys)) for o in page.contents]) == len(keys)
    assert len([o for page in client.iter_pages(bucket, "p/0", delimiter=None, page_size=1000) for o in page.contents]) == 47


def test_a_listing_left_early_stops_without_waiting(client, bucket, boto3_s3):
    put_keys(boto3_s3, bucket, [f"q/{i:03d}" for i in range(30)])
    pages = client.iter_pages(bucket, "q/", delimiter=None, page_size=3)
    # The next page's request is held in flight until the test lets it go: close() must return meanwhile.
    held, released, answered = threading.Event(), threading.Event(), threading.Event()

    def hold(request, **_):
        if "continuation-token" in request.url and not released.is_set():
            held.set()
            released.wait(30)  # bounded: a close() that waited would return only after this
            answered.set()

    client.boto3_client.meta.events.register("before-send.s3.ListObjectsV2", hold)
    first = next(pages)
    # q/002 comes with the next page, which would hold its q/002.delta if there were one
    assert [o.key for o in first.contents] == ["q/000", "q/001"]
    assert held.wait(30), "the next page was asked for ahead"
    pages.close()
    assert not answered.is_set(), "close() returned while the page fetched ahead was still in flight"
    released.set()
    client.boto3_client.meta.events.unregister("before-send.s3.ListObjectsV2", hold)
    assert [o.key for o in next(client.iter_pages(bucket, "q/", delimiter=None, page_size=3)).contents] == \
        ["q/000", "q/001"]


def test_a_continuation_token_resumes_where_the_page_ended(client, bucket, boto3_s3):
    put_keys(boto3_s3, bucket, [f"r/{i:02d}" for i in range(12)])
    first = client.list_objects(Bucket=bucket, Prefix="r/", MaxKeys=5)
    rest = [o.key for page in client.iter_pages(bucket, "r/", delimiter=None, page_size=5,
                                                continuation_token=first.next_continuation_token)
            for o in page.contents]
    assert rest == [f"r/{i:02d}" for i in range(5, 12)]


def test_split_listing_equals_plain_listing_whatever_changed(client, bucket, boto3_s3):
    keys = [f"s/{i:03d}" for i in range(0, 120, 2)] + [f"s/{name}" for name in HOSTILE]
    put_keys(boto3_s3, bucket, keys)
    listed = [o[0] for _, raw in iter_raw_pages(client.boto3_client, bucket, "s/", page_size=7) for o in raw.objects]
    bounds = page_bounds(listed, 7)
    assert bounds and len(bounds) == (len(keys) - 1) // 7
    assert split_keys(client, bucket, "s/", bounds, 7) == plain_keys(boto3_s3, bucket, "s/")

    # Keys before the first bound, inside segments, after the last; a bound itself and a whole segment deleted.
    put_keys(boto3_s3, bucket, ["s/", "s/000a", "s/001", "s/003", "s/0031", "s/0032", "s/0033", "s/0034",
                                "s/0035", "s/0036", "s/0037", "s/0038", "s/zzz", "s/zzzz"])
    delete_keys(boto3_s3, bucket, [bounds[1], *[k for k in keys if bounds[2] < k <= bounds[4]]])
    expected = plain_keys(boto3_s3, bucket, "s/")
    assert split_keys(client, bucket, "s/", bounds, 7) == expected
    # Bounds from a listing of other keys altogether still give the right answer.
    assert split_keys(client, bucket, "s/", ["a", "s/050", "s/\uffff", "t"], 7) == expected
    # Everything gone.
    delete_keys(boto3_s3, bucket, expected)
    assert split_keys(client, bucket, "s/", bounds, 7) == []


def test_split_listing_takes_bounds_in_any_order(client, bucket, boto3_s3):
    put_keys(boto3_s3, bucket, ["u/a", "u/b", "u/c"])
    assert split_keys(client, bucket, "u/", ["u/b", "u/a", "u/b"], 2) == ["u/a", "u/b", "u/c"]
    assert page_bounds(["b", "a", "c"], 1) is None  # a listing not in code-point order leaves no bounds


def test_stats_again_lists_all_pages_at_once_and_sees_changes(s3_server, s3_env, bucket, boto3_s3, tmp_path,
                                                              monkeypatch):
    monkeypatch.setattr(walk_module, "STATS_PAGE_SIZE", 4)
    put_keys(boto3_s3, bucket, [f"v/{i:02d}.bin" for i in range(30)])
    cache = tmp_path / "cache"

    def new_client():
        return create_client(endpoint_url=s3_server.endpoint_url, aws_access_key_id=s3_server.access_key,
                             aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region,
                             cache_dir=cache)

    first_client = new_client()
    first_calls = ListCalls(first_client)
    first = first_client.get_bucket_stats(bucket, prefix="v/", detailed_stats=True)
    first_client.close()
    assert first.object_count == 30
    assert first_calls.params[0].get("start-after") is None  # nothing known yet: the first page first

    again_client = new_client()
    again_calls = ListCalls(again_client)
    again = again_client.get_bucket_stats(bucket, prefix="v/", detailed_stats=True)
    assert (again.object_count, again.total_size, again.compressed_size) == \
        (first.object_count, first.total_size, first.compressed_size)
    # every part starts at once from the first listing's page breaks
    assert sorted(p.get("start-after", "") for p in again_calls.params[:8]) == \
        ["", *[f"v/{i:02d}.bin" for i in range(3, 29, 4)]]

    put_keys(boto3_s3, bucket, ["v/00a.bin", "v/15a.bin", "v/99.bin"])
    delete_keys(boto3_s3, bucket, ["v/07.bin", "v/08.bin", "v/09.bin", "v/10.bin", "v/11.bin"])
    changed = again_client.get_bucket_stats(bucket, prefix="v/", detailed_stats=True)
    again_client.close()
    assert changed.object_count == 28
    assert changed.compressed_size == sum(o["Size"] for page in boto3_s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix="v/") for o in page.get("Contents", []))


def test_stats_again_reuse_totals_only_for_the_same_listing(s3_server, s3_env, bucket, boto3_s3, tmp_path):
    from .test_fasthead import put_deltas, stats_client

    original_total = put_deltas(boto3_s3, bucket, 40, spaces=2)
    cache = tmp_path / "cache"
    first_client = stats_client(s3_server, cache)
    first = first_client.get_bucket_stats(bucket, detailed_stats=True)
    first_client.close()
    assert first.total_size == original_total and first.delta_objects == 40 and not first.estimated

    again_client = stats_client(s3_server, cache)
    heads: list[str] = []
    again_client.boto3_client.meta.events.register("before-call.s3.HeadObject", lambda **kw: heads.append("head"))
    again = again_client.get_bucket_stats(bucket, detailed_stats=True)
    assert (again.total_size, again.compressed_size, again.delta_objects) == \
        (first.total_size, first.compressed_size, first.delta_objects)
    assert heads == [] and again_client._fetcher.fast_head.fast_requests == 0

    # New metadata on the same bytes (a copy onto itself): same ETag, new date, new totals.
    key = next(o["Key"] for o in boto3_s3.list_objects_v2(Bucket=bucket, Prefix="rel/app-0/")["Contents"]
               if o["Key"].endswith(".delta"))
    metadata = boto3_s3.head_object(Bucket=bucket, Key=key)["Metadata"]
    old_size = int(metadata["dg-file-size"])
    time.sleep(1.1)  # S3 dates have one-second resolution
    boto3_s3.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": key},
                         Metadata={**metadata, "dg-file-size": str(old_size + 1000)}, MetadataDirective="REPLACE")
    changed = again_client.get_bucket_stats(bucket, detailed_stats=True)
    again_client.close()
    assert changed.total_size == original_total + 1000
