"""The statistics accumulator and the one listing stream, fed with pages a real server lists."""

from __future__ import annotations

import dataclasses
import hashlib
import threading

import pytest

from dgtui import BucketNotFoundError, CancelledError
from dgtui.core import walk as walk_module
from dgtui.core.stats import ReadAhead, StatsAccumulator
from dgtui.core.walk import hidden_objects, walk

DG_TOOL = "deltaglider/6.2.0"
CREATED = "2026-01-02T03:04:05Z"
REFERENCE = b"r" * 1000
#: original sizes of the deltas in rel/app/ (their metadata says so; quick mode guesses the reference's size)
APP_SIZES = (5000, 5001, 5002)


def seed(boto3_s3, bucket: str) -> None:
    """A folder of three deltas and their reference, a delta whose metadata gives no size and has no
    reference, a plain file, deltaglider_proxy's housekeeping and a ``.deltaglider/`` key."""
    ref_sha = hashlib.sha256(REFERENCE).hexdigest()
    boto3_s3.put_object(Bucket=bucket, Key="rel/app/reference.bin", Body=REFERENCE, Metadata={
        "dg-tool": DG_TOOL, "dg-source-name": "app.zip", "dg-file-sha256": ref_sha,
        "dg-created-at": CREATED, "dg-note": "reference"})
    for i, size in enumerate(APP_SIZES):
        name = f"app-{i}.zip"
        boto3_s3.put_object(Bucket=bucket, Key=f"rel/app/{name}.delta", Body=b"d" * 10, Metadata={
            "dg-tool": DG_TOOL, "dg-original-name": name, "dg-file-sha256": hashlib.sha256(name.encode()).hexdigest(),
            "dg-file-size": str(size), "dg-created-at": CREATED, "dg-ref-key": "rel/app/reference.bin",
            "dg-ref-sha256": ref_sha, "dg-delta-size": "10"})
    boto3_s3.put_object(Bucket=bucket, Key="rel/lost/old.zip.delta", Body=b"x" * 7, Metadata={"dg-tool": DG_TOOL})
    boto3_s3.put_object(Bucket=bucket, Key="rel/readme.txt", Body=b"hello")
    boto3_s3.put_object(Bucket=bucket, Key="_dgp/locks/rel", Body=b"lock")
    boto3_s3.put_object(Bucket=bucket, Key=".deltaglider/config", Body=b"internal")


def listed(client, bucket: str, accumulator: StatsAccumulator, prefix: str = "") -> StatsAccumulator:
    for page in walk(client._s3, None, bucket, prefix):
        accumulator.add_page(page)
    return accumulator


def as_dict(stats) -> dict:
    return dataclasses.asdict(stats)


def test_quick_mode_counts_the_listing_alone(client, bucket, boto3_s3):
    seed(boto3_s3, bucket)
    counts = listed(client, bucket, StatsAccumulator(bucket))
    assert (counts.object_count, counts.delta_count, counts.housekeeping, counts.older) == (5, 4, 1, 0)
    assert (counts.reference_count, counts.reference_size) == (1, len(REFERENCE))
    assert counts.pending == [] and counts.to_read == 0, "quick mode keeps no object"
    stats = counts.result()
    assert stats.compressed_size == 3 * 10 + 7 + 5 + len(REFERENCE), "every stored byte, the reference's too"
    # a delta's original size is guessed: its folder's reference size, else (no reference) its own size
    assert stats.total_size == 5 + 3 * len(REFERENCE) + 7
    assert stats.estimated and stats.metadata_invalid is None and stats.encrypted_objects is None
    assert as_dict(stats) == as_dict(client.get_bucket_stats(bucket))


def test_detailed_mode_counts_what_the_metadata_says(client, bucket, boto3_s3):
    seed(boto3_s3, bucket)
    counts = listed(client, bucket, StatsAccumulator(bucket, detailed=True))
    assert counts.to_read == 5 and len(counts.pending) == 5, "every object counted waits for its metadata"
    batch = counts.take_pending()
    assert counts.pending == [] and counts.to_read == 5
    # read in two rounds, in any order: the counts add up the same
    first, second = batch[3:], batch[:3]
    for part in (first, second):
        client._fetcher.fetch(bucket, part)
        counts.add_metadata(part)
    stats = counts.result()
    assert stats.total_size == 5 + sum(APP_SIZES) + 7, "the known sizes, and the lost delta's own bytes"
    assert stats.metadata_invalid == 1 and stats.estimated, "the delta whose metadata gives no size"
    assert stats.encrypted_objects == 0
    assert as_dict(stats) == as_dict(client.get_bucket_stats(bucket, detailed_stats=True))


def test_metadata_counted_before_stands_in_for_the_same_listing(client, bucket, boto3_s3):
    seed(boto3_s3, bucket)
    assert listed(client, bucket, StatsAccumulator(bucket, detailed=True)).fingerprint() is None, "not kept"
    first = listed(client, bucket, StatsAccumulator(bucket, detailed=True, fingerprint=True))
    same = listed(client, bucket, StatsAccumulator(bucket, detailed=True, fingerprint=True))
    assert first.fingerprint() == same.fingerprint()
    stats = same.result(known=(123_456, 0, 2))
    assert (stats.total_size, stats.metadata_invalid, stats.encrypted_objects) == (123_456, 0, 2)
    assert not stats.estimated and stats.object_count == 5
    boto3_s3.put_object(Bucket=bucket, Key="rel/readme.txt", Body=b"hello!")  # a new ETag, size and date
    changed = listed(client, bucket, StatsAccumulator(bucket, detailed=True, fingerprint=True))
    assert changed.fingerprint() != first.fingerprint()


def test_the_older_of_two_copies_is_stored_bytes_not_an_object(client, bucket, boto3_s3):
    boto3_s3.put_object(Bucket=bucket, Key="rel/x.zip", Body=b"p" * 20)
    boto3_s3.put_object(Bucket=bucket, Key="rel/x.zip.delta", Body=b"d" * 3, Metadata={
        "dg-tool": DG_TOOL, "dg-created-at": "2099-01-01T00:00:00Z", "dg-file-size": "20"})
    boto3_s3.put_object(Bucket=bucket, Key=".deltaglider/config", Body=b"internal")
    pages = list(walk(client._s3, None, bucket))
    hidden = [(o.stored_key, is_reference) for page in pages for o, is_reference in hidden_objects(page)]
    assert len(hidden) == 1 and not hidden[0][1], ".deltaglider/ keys are neither references nor copies"
    counts = StatsAccumulator(bucket)
    for page in pages:
        counts.add_page(page)
    stats = counts.result()
    assert (stats.object_count, stats.older_copies, stats.compressed_size) == (1, 1, 23)
    assert as_dict(stats) == as_dict(client.get_bucket_stats(bucket))


def test_walk_sees_a_cancel_as_each_page_arrives_and_translates_errors(client, bucket, boto3_s3, monkeypatch):
    monkeypatch.setattr(walk_module, "STATS_PAGE_SIZE", 2)
    for i in range(9):
        boto3_s3.put_object(Bucket=bucket, Key=f"k/{i}", Body=b"x")
    assert sum(len(page.contents) for page in walk(client._s3, None, bucket)) == 9
    given = []
    with pytest.raises(CancelledError):
        for page in walk(client._s3, None, bucket, should_cancel=lambda: bool(given)):
            given.append(page)
    assert len(given) == 1, "the page after the cancel is not given"
    with pytest.raises(BucketNotFoundError):
        next(walk(client._s3, None, bucket + "-missing"))


def test_read_ahead_gives_batches_back_in_order_and_raises_their_failure(client, bucket, boto3_s3):
    seed(boto3_s3, bucket)
    objects = [o for page in walk(client._s3, None, bucket) for o in page.contents]
    ahead: ReadAhead[str] = ReadAhead(client._fetcher, bucket, None, "test-read-ahead")
    try:
        for i in range(0, len(objects), 2):
            ahead.submit(objects[i:i + 2], None, f"batch {i // 2}")
        assert ahead.busy
        assert list(ahead.finished()) == ["batch 0", "batch 1", "batch 2"]
        assert not ahead.busy and ahead.waiting == 0
        assert all(o.metadata_loaded for o in objects)
    finally:
        ahead.close()
    fresh = [o for page in walk(client._s3, None, bucket) for o in page.contents]
    client._fetcher.cache = None  # nothing answered from the cache: every object is asked for
    cancelled: ReadAhead[str] = ReadAhead(client._fetcher, bucket, lambda: True, "test-read-ahead")
    try:
        cancelled.submit(fresh, None, "cancelled")
        with pytest.raises(CancelledError):
            list(cancelled.finished())
    finally:
        cancelled.close(wait=True)


def test_read_ahead_reads_the_next_batch_while_one_is_still_read(client, bucket, boto3_s3):
    seed(boto3_s3, bucket)
    objects = [o for page in walk(client._s3, None, bucket) for o in page.contents]
    fetcher = client._fetcher
    second_started = threading.Event()
    fetch = fetcher.fetch

    def fetch_holding_the_first(b, items, *args, **kwargs):  # the first batch ends only once the second began
        if items[0] is objects[0]:
            assert second_started.wait(timeout=10), "the second batch waited for the first"
        else:
            second_started.set()
        return fetch(b, items, *args, **kwargs)

    fetcher.fetch = fetch_holding_the_first
    ahead: ReadAhead[str] = ReadAhead(fetcher, bucket, None, "test-read-ahead", parallel=2)
    try:
        ahead.submit(objects[:2], None, "first")
        ahead.submit(objects[2:], None, "second")
        assert list(ahead.finished()) == ["first", "second"]  # still given back in the order handed over
        assert all(o.metadata_loaded for o in objects)
    finally:
        ahead.close()
