"""Metadata fetching (cache first, then concurrent HEADs) and bucket statistics."""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Generic, Iterable, Iterator, TypeVar

from . import format as fmt
from .cache import MetadataCache
from .errors import CancelledError, MetadataInvalidError
from .fasthead import FastHead
from .models import BucketStats, ListObjectsResult, ObjectInfo, ObjectKind
from .s3 import ANSWER_PROBLEM, S3Access
from .walk import hidden_objects, walk

T = TypeVar("T")
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
    than it saves, unless an earlier batch in the bucket learned it.
    """

    #: default HEADs in flight at once. 2,000 HEADs are then 11 round trips (at 30 ms, 0.33 s). With the lean
    #: HEAD client, 192 took detailed stats over 2,000 deltas at +30 ms from 0.87 s to 0.82 s over https and
    #: from 0.75 s to 0.60 s over http (two cores); with no latency at all, the 64 TLS handshakes more cost
    #: about 0.07 s over https. 128 at 10-20 ms in-region can already pass the 5,500 HEADs a second S3 allows
    #: per prefix: its SlowDown answers halve what is in flight (down to ``fasthead.MIN_CONCURRENCY``, which
    #: alone stays under that limit) and answers raise it again. A low limit on open files lowers it
    #: (``fasthead.within_open_files_limit``).
    HEAD_WORKERS = 192
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
              should_cancel: ShouldCancel | None = None, *, fast: bool = False) -> list[ObjectInfo]:
        """Fill ``items`` with their metadata; ``fast``: a batch of the same run, read at once with this
        one, goes the fast way, so this one does too whatever its size (it learns the URL at most once
        between them)."""
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

        # A small batch learning the URL would cost more than it saves; once an earlier batch learned it
        # (or learns it now), any batch goes the fast way.
        fast = fast or len(pending) >= self.FAST_MIN_BATCH or self.fast_head.knows(bucket)
        batch = self.fast_head.batch(bucket) if fast else None
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


class ReadAhead(Generic[T]):
    """Metadata reads that go on while the listing does: batches handed back in the order given.

    ``MetadataFetcher.fetch`` hands a batch's answers to the thread that
    asks for them (FastHead's event loop sends the HEADs and ``head_many``
    yields them to the asking thread; the fallback maps over the fetcher's
    pool), so each batch being read takes one thread that asks, and no more:
    the fan-out of the HEADs themselves is FastHead's, whose limit on HEADs in
    flight is shared by every batch. With ``parallel`` > 1 the next batches
    are read while the last answers of the one before are still on their way
    (its last round, a throttled HEAD's backoff), so the fan-out stays full
    instead of draining at every batch's end; with 1 a run's batches are read
    one after another. What a batch was read for is given back to the caller
    (``finished``) in the order given, which counts it on its own thread.
    """

    def __init__(self, fetcher: MetadataFetcher, bucket: str, should_cancel: ShouldCancel | None, name: str,
                 parallel: int = 1):
        self._fetcher, self._bucket, self._should_cancel, self._name = fetcher, bucket, should_cancel, name
        self._parallel = max(1, parallel)
        self._pool: ThreadPoolExecutor | None = None
        self._reading: deque[tuple[Future[Any], T, int]] = deque()

    @property
    def waiting(self) -> int:
        """Objects handed over whose batch was not collected yet."""
        return sum(size for _, _, size in self._reading)

    @property
    def busy(self) -> bool:
        return bool(self._reading)

    def submit(self, items: list[ObjectInfo], progress: StatsProgress | None, what: T, *, fast: bool = False) -> None:
        """Read the metadata of ``items``; ``what`` comes back from ``finished`` once they are read
        (``fast``: see ``MetadataFetcher.fetch``)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._parallel, thread_name_prefix=self._name)
        future = self._pool.submit(self._fetcher.fetch, self._bucket, items, progress, self._should_cancel,
                                   fast=fast)
        self._reading.append((future, what, len(items)))

    def finished(self, keep: int | None = None) -> Iterator[T]:
        """The batches read so far, in order, waiting while more than ``keep`` objects are still being read
        (``None``: waiting for all). A batch's failure (a cancel included) is raised here."""
        while self._reading and (keep is None or self._reading[0][0].done() or self.waiting > keep):
            future, what, _ = self._reading.popleft()
            future.result()
            yield what

    def close(self, wait: bool = False) -> None:
        """Stop: batches not started are dropped; ``wait`` for the one being read."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)


class StatsAccumulator:
    """The counts behind one ``BucketStats``, taken one listed object at a time.

    ``add_page`` counts what a page of the listing shows. In detailed mode
    every object counted also waits in ``pending`` until its metadata was
    read (by the caller), and ``add_metadata`` counts what that metadata
    says. ``result`` makes the ``BucketStats``. Nothing here sends a request
    or starts a thread; no object is kept beyond ``pending``.
    """

    def __init__(self, bucket: str, prefix: str = "", *, detailed: bool = False, fingerprint: bool = False):
        self.bucket, self.prefix, self.detailed = bucket, prefix, detailed
        # -- what the listing shows
        self.object_count = 0  #: objects counted (housekeeping, references and older copies not)
        self.delta_count = 0
        self.stored = 0  #: stored bytes of the objects and older copies (references are added in ``result``)
        self.other_bytes = 0  #: stored bytes of the objects that are not deltas
        self.housekeeping = 0  #: deltaglider_proxy's ``_dgp/`` locks and leases: not user files
        self.older = 0  #: the older of two copies of one logical key
        self.reference_count = 0
        self.reference_size = 0
        self.reference_sizes: dict[str, int] = {}  #: deltaspace -> its reference's size
        #: deltaspace -> [deltas whose original size is not known, their stored bytes]
        self.unknown_deltas: dict[str, list[int]] = {}
        # -- what the metadata says (detailed mode)
        self.pending: list[ObjectInfo] = []  #: counted, waiting for their metadata
        self.to_read = 0  #: objects whose metadata detailed mode reads (every object counted)
        self.known_original = 0  #: original bytes of the deltas whose metadata gives them
        self.invalid = 0  #: objects whose metadata cannot be read, or gives a delta no size
        self.encrypted = 0  #: objects encrypted by deltaglider_proxy
        #: encrypted direct objects: what their metadata says the file holds beyond the listed (ciphertext) bytes
        self.direct_extra = 0
        # -- a digest of the listing (every key, ETag, size and date), for the unchanged-listing shortcut
        self._objects_digest = hashlib.sha256() if fingerprint else None
        self._references_digest = hashlib.sha256() if fingerprint else None

    # -- the listing --------------------------------------------------------------------------
    def add_page(self, page: ListObjectsResult) -> None:
        self.add_objects(page.contents)
        for hidden, is_reference in hidden_objects(page):
            if is_reference:
                self.add_reference(hidden)
            else:
                self.add_older_copy(hidden)

    def add(self, info: ObjectInfo) -> None:
        """An object as listed (its current copy)."""
        self.add_objects((info,))

    def add_objects(self, objects: Iterable[ObjectInfo]) -> None:
        """Objects as listed (their current copies); counted in locals, a page is a hot loop."""
        digest, detailed, pending, unknown = self._objects_digest, self.detailed, self.pending, self.unknown_deltas
        stored = counted = deltas = other = housekeeping = 0
        for info in objects:
            if info.housekeeping:  # deltaglider_proxy's _dgp/ locks and leases: not user files
                housekeeping += 1
                continue
            size = info.size
            stored += size
            counted += 1
            if digest is not None:
                digest.update(_fingerprint_line(info))
            if detailed:
                pending.append(info)
            if not info.is_delta:
                other += size
                continue
            deltas += 1
            if not detailed:  # its original size is in its metadata: guessed from its deltaspace
                counts = unknown.setdefault(fmt.deltaspace_of(info.stored_key), [0, 0])
                counts[0] += 1
                counts[1] += size
        self.housekeeping += housekeeping
        self.stored += stored
        self.object_count += counted
        self.other_bytes += other
        self.delta_count += deltas
        if detailed:
            self.to_read += counted

    def add_reference(self, info: ObjectInfo) -> None:
        _digest(self._references_digest, info)
        self.reference_count += 1
        self.reference_size += info.size
        self.reference_sizes[fmt.deltaspace_of(info.key)] = info.size

    def add_older_copy(self, info: ObjectInfo) -> None:
        """The older of ``<name>`` and ``<name>.delta``: stored bytes, not an object."""
        self.stored += info.size
        self.older += 1
        _digest(self._objects_digest, info)

    def take_pending(self) -> list[ObjectInfo]:
        """The objects waiting for their metadata, to be read now."""
        batch, self.pending = self.pending, []
        return batch

    # -- the metadata ---------------------------------------------------------------------------
    def add_metadata(self, batch: list[ObjectInfo]) -> None:
        """Objects from ``take_pending`` once their metadata was read."""
        for info in batch:
            if info.encryption:
                self.encrypted += 1
            if info.stored_key.endswith(fmt.DELTA_SUFFIX):
                self._delta_metadata(info)
            else:  # as listed: metadata cannot make it a delta here
                self._direct_metadata(info)

    def _delta_metadata(self, info: ObjectInfo) -> None:
        if info.original_size is None or info.metadata_problem:
            self.invalid += 1
        if info.original_size is None:
            self._unknown_delta(info)
        else:
            self.known_original += info.original_size

    def _direct_metadata(self, info: ObjectInfo) -> None:
        if info.metadata_problem:
            self.invalid += 1
        if info.encryption and info.original_size is not None:
            # the listing gives the ciphertext's size; dg-file-size the file's
            self.direct_extra += info.original_size - info.size

    def _unknown_delta(self, info: ObjectInfo) -> None:
        counts = self.unknown_deltas.setdefault(fmt.deltaspace_of(info.stored_key), [0, 0])
        counts[0] += 1
        counts[1] += info.size

    def _guessed(self) -> int:
        """The deltas of unknown size, guessed as their deltaspace's reference size each (else their own)."""
        total = 0
        for space, (count, own_bytes) in self.unknown_deltas.items():
            ref = self.reference_sizes.get(space)
            total += count * ref if ref is not None else own_bytes
        return total

    # -- the result ---------------------------------------------------------------------------------
    def fingerprint(self) -> str | None:
        """A digest of what the listing said of every object and reference (None: not kept).

        Metadata is part of an object's version: rewriting it (even a copy
        onto itself) gives a new modification time, so an unchanged
        fingerprint means unchanged metadata.
        """
        if self._objects_digest is None or self._references_digest is None:
            return None
        return hashlib.sha256(self._objects_digest.digest() + self._references_digest.digest()).hexdigest()

    def result(self, known: tuple[int, int, int] | None = None) -> BucketStats:
        """The statistics; ``known``: (total size, invalid, encrypted) counted for the same listing before."""
        stored = self.stored + self.reference_size
        invalid: int | None = None
        encrypted: int | None = None
        if not self.detailed:
            total = self.other_bytes + self._guessed()
            estimated = bool(self.delta_count)
        else:
            if known is not None:
                total, invalid, encrypted = known
            else:
                total = self.other_bytes + self.direct_extra + self.known_original + self._guessed()
                invalid, encrypted = self.invalid, self.encrypted
            estimated = invalid > 0
        saved = total - stored
        return BucketStats(
            bucket=self.bucket, prefix=self.prefix, object_count=self.object_count, total_size=total,
            compressed_size=stored, space_saved=saved, average_compression_ratio=(saved / total) if total else 0.0,
            delta_objects=self.delta_count, direct_objects=self.object_count - self.delta_count,
            detailed=self.detailed, estimated=estimated, reference_objects=self.reference_count,
            reference_size=self.reference_size, metadata_invalid=invalid, encrypted_objects=encrypted,
            housekeeping_objects=self.housekeeping, older_copies=self.older,
        )


def _digest(digest: Any, o: ObjectInfo) -> None:
    if digest is not None:
        digest.update(_fingerprint_line(o))


def _fingerprint_line(o: ObjectInfo) -> bytes:
    return f"{o.stored_key}\0{o.etag}\0{o.size}\0{o.last_modified}\n".encode("utf-8", "surrogatepass")


#: objects kept for the unchanged-listing shortcut of detailed stats before reading metadata while listing
DEFER_OBJECTS = 100_000
#: objects per round of metadata reads once detailed stats read while listing
EXACT_BATCH = 5000
#: objects a first run of detailed stats gathers before it reads their metadata in the background
EAGER_BATCH = 500
#: batches of a first run read at once: FastHead keeps the HEADs of all of them within its one limit, and
#: the next batch's HEADs take the slots the last round of the one before leaves free
READ_AHEAD_BATCHES = 3


class _StatsReads:
    """When detailed statistics read the metadata of what was listed (see ``compute_stats``)."""

    def __init__(self, fetcher: MetadataFetcher, bucket: str, counts: StatsAccumulator,
                 progress: StatsProgress | None, should_cancel: ShouldCancel | None, *, eager: bool):
        self.fetcher, self.bucket, self.counts = fetcher, bucket, counts
        self.progress, self.should_cancel = progress, should_cancel
        #: read while listing because the objects outgrew ``DEFER_OBJECTS`` (the shortcut cannot apply)
        self.streaming = False
        self.started = 0  #: objects whose metadata was handed to the fetcher
        # Objects whose metadata was read, over every batch; batches read at once report under the lock,
        # so the progress counts up.
        self._read = 0
        self._progress_lock = threading.Lock()
        self.ahead: ReadAhead[list[ObjectInfo]] | None = \
            ReadAhead(fetcher, bucket, should_cancel, "dgtui-stats", parallel=READ_AHEAD_BATCHES) if eager else None

    def after_page(self) -> None:
        if not self.counts.detailed:
            return
        pending = len(self.counts.pending)
        if self.ahead is not None:
            if not self.started and pending >= self.fetcher.FAST_MIN_BATCH:
                # HEADs will go the fast way: its loop starts while the listing goes on
                self.fetcher.fast_head.warm()
            if pending >= EAGER_BATCH:
                self._read_ahead()
        elif pending >= (EXACT_BATCH if self.streaming else DEFER_OBJECTS):
            self.streaming = True
            self.read_now()

    def _read_ahead(self) -> None:
        assert self.ahead is not None
        batch = self.counts.take_pending()
        if batch:
            self.ahead.submit(batch, self._progress(len(batch)), batch)
        # The listing runs ahead of the HEADs: past EXACT_BATCH objects waiting, it waits too,
        # so memory stays bounded on any bucket.
        for done in self.ahead.finished(keep=EXACT_BATCH):  # a failure (or a cancel) there ends the listing here
            self.counts.add_metadata(done)

    def read_now(self) -> None:
        """Read what waits, on this thread (an empty batch still reports the progress)."""
        batch = self.counts.take_pending()
        self.fetcher.fetch(self.bucket, batch, self._progress(len(batch)), self.should_cancel)
        self.counts.add_metadata(batch)

    def _progress(self, size: int) -> StatsProgress:
        self.started += size
        progress, counts, lock = self.progress, self.counts, self._progress_lock
        reported = 0  # what this batch told so far

        def batch_progress(done: int, _total: int) -> None:
            nonlocal reported
            with lock:
                self._read += done - reported
                reported = done
                if progress:
                    progress(self._read, max(counts.to_read, self._read))

        return batch_progress

    def listed(self) -> None:
        """The listing is whole: what still waits for its metadata joins the reads already going on
        (instead of a round of its own once they are all done)."""
        if self.ahead is not None and self.counts.pending:
            # after a batch of EAGER_BATCH (read the fast way), a small one is read the fast way too
            fast = self.started >= self.fetcher.FAST_MIN_BATCH
            self.ahead.submit(batch := self.counts.take_pending(), self._progress(len(batch)), batch, fast=fast)

    def wait(self) -> None:
        if self.ahead is not None:
            for done in self.ahead.finished():
                self.counts.add_metadata(done)

    def close(self) -> None:
        if self.ahead is not None:
            self.ahead.close()


def compute_stats(s3: S3Access, fetcher: MetadataFetcher, bucket: str, prefix: str = "", *,
                  detailed: bool = False, progress: StatsProgress | None = None,
                  should_cancel: ShouldCancel | None = None,
                  pages: Iterable[ListObjectsResult] | None = None) -> BucketStats:
    """Statistics from one full listing (and, in detailed mode, every object's metadata).

    Counted while the pages arrive (``StatsAccumulator``): no list of every
    object is kept. Detailed mode reads the metadata of every object once
    (the on-disk cache, checked against each object's ETag and date,
    answers for what was read before): deltas for their original size,
    every object to count those encrypted by deltaglider_proxy and those
    with invalid metadata. It keeps the objects (to read their metadata
    once the listing is known to differ from the last one counted) up to
    ``DEFER_OBJECTS``; beyond that it reads their metadata batch by batch
    while listing, so memory stays bounded on any bucket. When nothing was
    counted for the prefix before (no shortcut can apply), the metadata is
    read from the first page on, in the background while the rest of the
    listing arrives (``ReadAhead``).
    """
    cache = fetcher.cache if detailed else None
    counts = StatsAccumulator(bucket, prefix, detailed=detailed, fingerprint=cache is not None)
    # A first run (nothing counted for this prefix yet, so no shortcut can apply) reads the metadata
    # from the first page on, while the listing goes on.
    eager = detailed and (cache is None or not cache.has_totals(s3.endpoint_url, bucket, prefix))
    reads = _StatsReads(fetcher, bucket, counts, progress, should_cancel, eager=eager)
    try:
        with s3.ctx(bucket, prefix, "list"):
            for page in walk(s3, fetcher.cache, bucket, prefix, pages=pages, should_cancel=should_cancel):
                counts.add_page(page)
                reads.after_page()
        reads.listed()
        reads.wait()
    finally:
        reads.close()
    if not detailed:
        return counts.result()
    # The same listing (every key, ETag, size and date) has the same metadata behind it,
    # so the totals worked out for it last time still hold, without reading the metadata.
    fingerprint = counts.fingerprint()
    if cache is not None and fingerprint and not reads.streaming:
        known = cache.get_totals(s3.endpoint_url, bucket, prefix, fingerprint)
        if known is not None:
            if progress:
                progress(counts.to_read, counts.to_read)
            return counts.result(known)
    reads.read_now()
    stats = counts.result()
    if cache is not None and fingerprint:
        cache.put_totals(s3.endpoint_url, bucket, prefix, fingerprint, stats.total_size, counts.invalid,
                         counts.encrypted)
    return stats
