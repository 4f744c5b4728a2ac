"""Metadata fetching (cache first, then concurrent HEADs) and bucket statistics."""

from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Iterable, Iterator

from . import format as fmt
from .cache import MetadataCache
from .errors import CancelledError, MetadataInvalidError
from .fasthead import FastHead
from .listing import Head, head_by, logical_page, one_per_logical_key, page_bounds
from .models import BucketStats, ObjectInfo, ObjectKind
from .ranged import iter_ranged_pages
from .s3 import ANSWER_PROBLEM, S3Access

#: keys per LIST request when listing for statistics
STATS_PAGE_SIZE = 1000
#: parts a listing is split into when it is listed again (more parts, shorter server work each)
SPLIT_SEGMENTS = 16
#: fewest keys per part (each part is one more request)
SPLIT_MIN_PAGE = 200

StatsProgress = Callable[[int, int], None]  # metadata fetched, metadata needed
ShouldCancel = Callable[[], bool]


def apply_metadata(info: ObjectInfo, metadata: dict[str, str]) -> ObjectInfo:
    """Fill an ObjectInfo from its stored object's metadata."""
    parsed = fmt.parse_metadata(info.stored_key or info.key, metadata)
    info.metadata = dict(metadata)
    info.metadata_loaded = True
    info.kind = parsed.kind
    info.file_sha256 = parsed.file_sha256
    info.ref_sha256 = parsed.ref_sha256
    info.tool = parsed.tool
    info.created_at = parsed.created_at
    info.note = parsed.note
    info.original_name = parsed.original_name
    info.metadata_problem = "; ".join(p for p in (info.answer_problem, parsed.problem) if p) or None
    info.encryption = parsed.encryption
    info.sha256_missing = parsed.sha256_missing
    if parsed.kind == ObjectKind.DELTA:
        info.is_delta = True
        info.reference_key = parsed.ref_key or info.reference_key
        info.original_size = parsed.file_size
    elif parsed.kind == ObjectKind.DIRECT:
        info.original_size = parsed.file_size if parsed.file_size is not None else info.size
        # A body encrypted by the proxy is larger than the file it holds.
        if parsed.file_size is not None and parsed.file_size != info.size and not parsed.encryption:
            problem = f"file size {parsed.file_size} differs from the stored size {info.size}"
            info.metadata_problem = f"{info.metadata_problem}; {problem}" if info.metadata_problem else problem
    else:
        info.original_size = info.size
    info.compressed_size = info.size
    if info.original_size:
        # the fraction saved, as DeltaGlider's average_compression_ratio (0.99: 99% smaller)
        info.compression_ratio = 1 - info.size / info.original_size
    return info


def object_version(info: ObjectInfo) -> str:
    """What the metadata cache checks an entry against: the ETag and the modification time.

    Rewriting only the metadata (a copy onto itself) keeps the ETag of the
    bytes but not the date.
    """
    return f"{info.etag or ''}@{info.last_modified}"


class MetadataFetcher:
    """Fills ObjectInfos with metadata: the on-disk cache first, then HEADs in parallel.

    Batches of ``FAST_MIN_BATCH`` HEADs or more go through ``FastHead`` (signed by
    botocore's SigV4 signer and sent from one event loop over aiohttp without
    botocore's per-call work, botocore for anything unusual), ``max_workers`` at
    a time; smaller ones through botocore alone from threads (bounded by the
    client's connection pool), where learning the fast path's URL would cost more
    than it saves.
    """

    #: default HEADs in flight at once
    HEAD_WORKERS = 128
    #: HEADs from which a batch takes the fast path
    FAST_MIN_BATCH = 32
    #: rows of fresh metadata kept before they are written to the cache mid-batch
    CACHE_WRITE_ROWS = 5000
    #: most HEADs one task of the thread pool does
    CHUNK = 8

    def __init__(self, s3: S3Access, cache: MetadataCache | None, max_workers: int = HEAD_WORKERS):
        self.s3 = s3
        self.cache = cache
        self.fast_head = FastHead(s3, max_workers)
        self.max_workers = self.fast_head.max_workers
        self._pool = ThreadPoolExecutor(max_workers=self.fast_head.workers(max_workers),
                                        thread_name_prefix="dgtui-head")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.fast_head.close()

    def fetch(self, bucket: str, items: list[ObjectInfo], progress: StatsProgress | None = None,
              should_cancel: ShouldCancel | None = None) -> list[ObjectInfo]:
        total = len(items)
        done = 0
        pending: list[ObjectInfo] = []
        if self.cache is not None and items:
            cached = self.cache.get_many(self.s3.endpoint_url, bucket,
                                         [(i.stored_key, object_version(i)) for i in items])
            for info in items:
                md = cached.get(info.stored_key)
                if md is not None:
                    apply_metadata(info, md)
                    done += 1
                else:
                    pending.append(info)
        else:
            pending = list(items)
        if progress:
            progress(done, total)
        if not pending:
            return items

        batch = self.fast_head.batch(bucket) if len(pending) >= self.FAST_MIN_BATCH else None
        s3 = self.s3

        def head(info: ObjectInfo) -> dict | None:
            if batch is not None:
                answer = batch.head(info.stored_key)
                return None if answer is None else answer[1]
            try:
                response = s3.head(bucket, info.stored_key)
            except MetadataInvalidError as exc:  # this object's answer cannot be read: its finding, not the end
                info.answer_problem = str(exc)
                return {}
            if response is None:
                return None
            if response.get(ANSWER_PROBLEM):
                info.answer_problem = response[ANSWER_PROBLEM]
            return response.get("Metadata", {})

        def head_chunk(chunk: list[ObjectInfo]) -> list[tuple[ObjectInfo, dict | None]]:
            out = []
            for info in chunk:
                if should_cancel and should_cancel():
                    raise CancelledError()
                out.append((info, head(info)))
            return out

        def threaded(todo: list[ObjectInfo]) -> Iterator[list[tuple[ObjectInfo, dict | None]]]:
            # Tasks of a few HEADs each: fewer futures to hand between threads, still many more
            # tasks than workers so that they stay busy until the end.
            size = max(1, min(self.CHUNK, len(todo) // (self.max_workers * 4)))
            yield from self._pool.map(head_chunk, [todo[i:i + size] for i in range(0, len(todo), size)])

        def answers(todo: list[ObjectInfo]) -> Iterator[list[tuple[ObjectInfo, dict | None]]]:
            if batch is None:
                yield from threaded(todo)
                return
            # One event loop sends them all; a batch whose fast path is off goes to the threads.
            keys = [info.stored_key for info in todo]
            asked = 0
            for group in batch.head_many(keys, should_cancel) if batch.fast else ():
                asked += len(group)
                yield [(todo[i], None if answer is None else answer[1]) for i, answer in group]
                if asked == 1 and not batch.fast:
                    break  # the first HEAD found the fast path off
            if asked < len(todo):
                yield from threaded(todo[asked:])

        fresh: list[tuple[str, str, dict[str, str]]] = []
        try:
            for group in answers(pending):
                before = done
                for info, md in group:
                    done += 1
                    if md is not None:
                        apply_metadata(info, md)
                        if not info.answer_problem:  # the next run asks again, and finds the problem again
                            fresh.append((info.stored_key, object_version(info), md))
                if progress and (done // 50 != before // 50 or done == total):
                    progress(done, total)
                if should_cancel and done < total and should_cancel():
                    raise CancelledError()  # the threads may be ahead: what arrived so far is kept
                if len(fresh) >= self.CACHE_WRITE_ROWS and self.cache is not None:
                    # a cancelled run over a huge bucket keeps most of its work
                    self.cache.put_many(self.s3.endpoint_url, bucket, fresh)
                    fresh = []
        finally:
            if self.cache is not None and fresh:
                self.cache.put_many(self.s3.endpoint_url, bucket, fresh)
        return items


def compute_stats(s3: S3Access, fetcher: MetadataFetcher, bucket: str, prefix: str = "", *,
                  detailed: bool = False, progress: StatsProgress | None = None,
                  should_cancel: ShouldCancel | None = None,
                  pages: Iterable | None = None) -> BucketStats:
    """Statistics from one full listing (and, in detailed mode, every object's metadata).

    Counted while the pages arrive: no list of every object is kept. Detailed
    mode reads the metadata of every object once (the on-disk cache, checked
    against each object's ETag and date, answers for what was read before):
    deltas for their original size, every object to count those encrypted
    by deltaglider_proxy and those with invalid metadata. It keeps the
    objects (to read their metadata once the listing is known to differ
    from the last one counted) up to ``DEFER_OBJECTS``; beyond that it reads
    their metadata batch by batch while listing, so memory stays bounded on
    any bucket. When nothing was counted for the prefix before (no shortcut
    can apply), the metadata is read from the first page on, in the
    background while the rest of the listing arrives.
    """
    cache = fetcher.cache if detailed else None
    objects_digest, references_digest = hashlib.sha256(), hashlib.sha256()
    reference_sizes: dict[str, int] = {}
    reference_count = reference_size = 0
    object_count = delta_count = stored = other_bytes = 0
    pending: list[ObjectInfo] = []  # waiting for their metadata (detailed mode)
    guess_counts: dict[str, list[int]] = {}  # deltaspace -> [deltas, their stored bytes]
    streaming = False
    known_total = invalid = fetched = encrypted = housekeeping = older = 0
    #: objects whose metadata detailed mode reads (every object counted, deltas and the others)
    to_read = 0
    #: encrypted direct objects: what their metadata says the file holds beyond the listed (ciphertext) bytes
    direct_extra = 0

    def take_batch(final: bool) -> list[ObjectInfo]:
        """What ``pending`` holds, to be read now (the listing shows each name once, as its current copy)."""
        batch = list(pending)
        pending.clear()
        return batch

    def read_batch(final: bool) -> None:
        count_batch(take_batch(final))

    def count_batch(batch: list[ObjectInfo]) -> None:
        nonlocal known_total, invalid, fetched, encrypted, direct_extra
        base = fetched

        def batch_progress(done: int, _total: int) -> None:
            if progress:
                progress(base + done, max(to_read, base + done))

        fetcher.fetch(bucket, batch, batch_progress, should_cancel)
        fetched += len(batch)
        for o in batch:
            if o.encryption:
                encrypted += 1
            if not o.stored_key.endswith(fmt.DELTA_SUFFIX):  # as listed: metadata cannot make it a delta here
                if o.metadata_problem:
                    invalid += 1
                if o.encryption and o.original_size is not None:
                    # the listing gives the ciphertext's size; dg-file-size the file's
                    direct_extra += o.original_size - o.size
                continue
            if o.original_size is None or o.metadata_problem:
                invalid += 1
            if o.original_size is None:
                counts = guess_counts.setdefault(fmt.deltaspace_of(o.stored_key), [0, 0])
                counts[0] += 1
                counts[1] += o.size
            else:
                known_total += o.original_size

    # A first run (nothing counted for this prefix yet, so no shortcut can apply) reads the metadata
    # from the first page on, on a thread of its own, while the listing goes on.
    eager = detailed and (cache is None or not cache.has_totals(s3.endpoint_url, bucket, prefix))
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dgtui-stats") if eager else None
    reading: list[tuple[Future[None], int]] = []  # batches handed to the reader, and their sizes

    def read_in_background() -> None:
        batch = take_batch(final=False)
        if batch and reader is not None:
            reading.append((reader.submit(count_batch, batch), len(batch)))
        # The listing runs ahead of the HEADs: past EXACT_BATCH objects waiting, it waits too,
        # so memory stays bounded on any bucket.
        while reading and (reading[0][0].done() or sum(n for _, n in reading) > EXACT_BATCH):
            reading.pop(0)[0].result()  # a failure (or a cancel) there ends the listing here

    try:
        with s3.ctx(bucket, prefix, "list"):
            for page in pages if pages is not None else _full_listing(s3, fetcher.cache, bucket, prefix):
                if should_cancel and should_cancel():
                    raise CancelledError()
                for o in page.contents:
                    if o.housekeeping:  # deltaglider_proxy's _dgp/ locks and leases: not user files
                        housekeeping += 1
                        continue
                    stored += o.size
                    if cache is not None:
                        objects_digest.update(_fingerprint_line(o))
                    object_count += 1
                    if detailed:
                        pending.append(o)
                        to_read += 1
                    if o.is_delta:
                        delta_count += 1
                        if not detailed:
                            counts = guess_counts.setdefault(fmt.deltaspace_of(o.stored_key), [0, 0])
                            counts[0] += 1
                            counts[1] += o.size
                    else:
                        other_bytes += o.size
                for hidden in page.hidden:
                    if fmt.is_reference_key(hidden.key):
                        if cache is not None:
                            references_digest.update(_fingerprint_line(hidden))
                        reference_count += 1
                        reference_size += hidden.size
                        reference_sizes[fmt.deltaspace_of(hidden.key)] = hidden.size
                    elif not fmt.is_internal_key(hidden.stored_key or hidden.key):
                        # the older of two copies of one logical key (settled within the page)
                        stored += hidden.size
                        older += 1
                        if cache is not None:
                            objects_digest.update(_fingerprint_line(hidden))
                if eager:
                    if len(pending) >= EAGER_BATCH:
                        read_in_background()
                elif detailed and len(pending) >= (EXACT_BATCH if streaming else DEFER_OBJECTS):
                    streaming = True
                    read_batch(final=False)
        for future, _ in reading:
            future.result()
    finally:
        if reader is not None:
            reader.shutdown(wait=False, cancel_futures=True)
    stored += reference_size
    encrypted_objects: int | None = None
    if detailed:
        # The same listing (every key, ETag, size and date) has the same metadata behind it,
        # so the totals worked out for it last time still hold, without reading the metadata.
        fingerprint = None
        if cache is not None:
            fingerprint = hashlib.sha256(objects_digest.digest() + references_digest.digest()).hexdigest()
        known = cache.get_totals(s3.endpoint_url, bucket, prefix, fingerprint) \
            if cache is not None and fingerprint and not streaming else None
        if known is not None:
            total, invalid, encrypted = known
            if progress:
                progress(to_read, to_read)
        else:
            read_batch(final=True)
            total = other_bytes + direct_extra + known_total + _guessed(guess_counts, reference_sizes)
            if cache is not None and fingerprint:
                cache.put_totals(s3.endpoint_url, bucket, prefix, fingerprint, total, invalid, encrypted)
        estimated = invalid > 0
        encrypted_objects = encrypted
    else:
        total = other_bytes + _guessed(guess_counts, reference_sizes)
        estimated = bool(delta_count)
    saved = total - stored
    return BucketStats(
        bucket=bucket, prefix=prefix, object_count=object_count, total_size=total,
        compressed_size=stored, space_saved=saved,
        average_compression_ratio=(saved / total) if total else 0.0,
        delta_objects=delta_count, direct_objects=object_count - delta_count, detailed=detailed, estimated=estimated,
        reference_objects=reference_count, reference_size=reference_size,
        metadata_invalid=invalid if detailed else None, encrypted_objects=encrypted_objects,
        housekeeping_objects=housekeeping, older_copies=older,
    )


#: objects kept for the unchanged-listing shortcut of detailed stats before reading metadata while listing
DEFER_OBJECTS = 100_000
#: objects per round of metadata reads once detailed stats read while listing
EXACT_BATCH = 5000
#: objects a first run of detailed stats gathers before it reads their metadata in the background
EAGER_BATCH = 500


def _fingerprint_line(o: ObjectInfo) -> bytes:
    return f"{o.stored_key}\0{o.etag}\0{o.size}\0{o.last_modified}\n".encode("utf-8", "surrogatepass")


def _guessed(counts: dict[str, list[int]], reference_sizes: dict[str, int]) -> int:
    """Quick mode's guess for deltas of unknown size: their deltaspace's reference size each (else their own)."""
    total = 0
    for space, (count, own_bytes) in counts.items():
        ref = reference_sizes.get(space)
        total += count * ref if ref is not None else own_bytes
    return total


def listing_fingerprint(objects: list[ObjectInfo], references: list[ObjectInfo]) -> str:
    """A digest of what a listing says of every object: key, ETag, size and modification time.

    Metadata is part of an object's version: rewriting it (even a copy onto
    itself) gives a new modification time, so an unchanged fingerprint
    means unchanged metadata.
    """
    digest = hashlib.sha256()
    for o in (*objects, *references):
        digest.update(f"{o.stored_key}\0{o.etag}\0{o.size}\0{o.last_modified}\n".encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _estimate(delta: ObjectInfo, reference_sizes: dict[str, int]) -> int:
    """Quick mode's guess at a delta's original size: its deltaspace's reference size."""
    ds = fmt.deltaspace_of(delta.stored_key)
    return reference_sizes.get(ds, delta.size)


def _full_listing(s3: S3Access, cache: MetadataCache | None, bucket: str, prefix: str) -> Iterable:
    """Every page under a prefix, key ranges listed in parallel.

    A listing records where its pages broke (about ``SPLIT_SEGMENTS`` parts
    of at most ``STATS_PAGE_SIZE`` keys); the next one starts every part at
    once from there. Without that, ranges are split as the first pages
    show the prefix is large. Statistics need every page before they can
    say anything, so fetching them together costs nothing in what is shown
    first. A name stored both as ``<name>`` and ``<name>.delta`` is listed as
    its current copy (``fmt.current_copy``), the other among ``hidden``.
    """
    head = head_by(s3.client, bucket, cache, s3.endpoint_url)
    return one_per_logical_key(_listed_pages(s3, cache, bucket, prefix, head), head)


def _listed_pages(s3: S3Access, cache: MetadataCache | None, bucket: str, prefix: str, head: Head) -> Iterator:
    kept = cache.get_bounds(s3.endpoint_url, bucket, prefix) if cache is not None else None
    stored_keys: list[str] = []
    raws = iter_ranged_pages(s3.client, bucket, prefix, page_size=kept[0] if kept else STATS_PAGE_SIZE,
                             hints=kept[1] if kept else ())
    for raw in raws:
        stored_keys.extend(o[0] for o in raw.objects)
        yield logical_page(bucket, raw, prefix=prefix, delimiter=None, max_keys=STATS_PAGE_SIZE,
                           continuation_token=None, head=head)
    if cache is not None:
        page = min(STATS_PAGE_SIZE, max(SPLIT_MIN_PAGE, len(stored_keys) // SPLIT_SEGMENTS))
        bounds = page_bounds(stored_keys, page) or None
        if (page, bounds) != (kept or (None, None)):
            cache.put_bounds(s3.endpoint_url, bucket, prefix, page, bounds)
