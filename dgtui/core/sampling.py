"""Sampled statistics: read the metadata of a random sample of deltas, not of every one.

The listing gives every stored byte and the size of every non-delta object
exactly; only a delta's original size lives in its metadata. While the
listing streams by, a uniform random sample of deltas is kept (reservoir
sampling, so memory does not grow with the bucket). The original bytes of
all deltas are then estimated with a ratio estimator against quick mode's
guess (the size of the delta's reference, which versions of one artifact
are close to): ``Y = X * sum(y) / sum(x)`` over the sample, where ``X`` is
the guess summed over every delta. Its 95% interval uses the usual variance
``N^2 (1 - n/N) s_e^2 / n`` of the residuals ``y - R x``.

The sample starts at ``pilot`` deltas and grows, in a few rounds, to the
size the observed spread needs for the interval to be about ``target`` of
the original total (±1% by default).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

from . import format as fmt
from .models import ListObjectsResult, ObjectInfo
from .s3 import S3Access
from .savings import SavingsAggregator, ShouldCancel
from .stats import MetadataFetcher, StatsProgress
from .walk import walk

#: z for a two-sided 95% interval
Z95 = 1.959964
PILOT = 400
#: deltas kept in the reservoir: the largest sample ever read
RESERVOIR = 20_000
TARGET = 0.01


@dataclass(slots=True)
class SampledStats:
    """Totals of a prefix with the original size estimated from a sample of deltas."""

    bucket: str
    prefix: str
    objects: int
    deltas: int
    stored_bytes: int  #: exact, references included
    references: int
    reference_bytes: int
    original_bytes: int  #: estimate
    original_low: int  #: 95% interval of the original bytes
    original_high: int
    sample_size: int  #: deltas whose metadata was read
    invalid_in_sample: int = 0
    rounds: int = 0

    @property
    def saved_bytes(self) -> int:
        return self.original_bytes - self.stored_bytes

    @property
    def saved_percent(self) -> float:
        return _saved(self.stored_bytes, self.original_bytes)

    @property
    def saved_percent_low(self) -> float:
        return _saved(self.stored_bytes, self.original_low)

    @property
    def saved_percent_high(self) -> float:
        return _saved(self.stored_bytes, self.original_high)

    @property
    def exact(self) -> bool:
        return self.sample_size >= self.deltas

    @property
    def relative_half_width(self) -> float:
        return (self.original_high - self.original_low) / 2 / self.original_bytes if self.original_bytes else 0.0

    def as_dict(self) -> dict:
        return {
            "bucket": self.bucket, "prefix": self.prefix, "mode": "sampled", "objects": self.objects,
            "deltas": self.deltas, "stored_bytes": self.stored_bytes, "references": self.references,
            "reference_bytes": self.reference_bytes, "original_bytes": self.original_bytes,
            "original_bytes_low": self.original_low, "original_bytes_high": self.original_high,
            "saved_bytes": self.saved_bytes, "saved_percent": round(self.saved_percent, 3),
            "saved_percent_low": round(self.saved_percent_low, 3),
            "saved_percent_high": round(self.saved_percent_high, 3),
            "confidence": 0.95, "sample_size": self.sample_size, "invalid_in_sample": self.invalid_in_sample,
        }


def _saved(stored: int, original: int) -> float:
    return (1 - stored / original) * 100 if original else 0.0


class _Reservoir:
    """A uniform sample of the deltas listed, and the reference size of each sampled delta's folder."""

    def __init__(self, capacity: int, rng: random.Random):
        self.capacity = capacity
        self.rng = rng
        self.items: list[ObjectInfo] = []
        self.seen = 0
        self.spaces: Counter[str] = Counter()
        self.reference_sizes: dict[str, int | None] = {}

    def offer(self, info: ObjectInfo) -> None:
        self.seen += 1
        if len(self.items) < self.capacity:
            self.items.append(info)
        else:
            slot = self.rng.randrange(self.seen)
            if slot >= self.capacity:
                return
            old = self.items[slot]
            space = fmt.deltaspace_of(old.stored_key)
            self.spaces[space] -= 1
            if self.spaces[space] <= 0:
                del self.spaces[space]
            self.items[slot] = info
        self.spaces[fmt.deltaspace_of(info.stored_key)] += 1

    def folder_closed(self, name: str, reference_size: int | None) -> None:
        if name in self.spaces:
            self.reference_sizes[name] = reference_size


def sampled_stats(s3: S3Access, fetcher: MetadataFetcher, bucket: str, prefix: str = "", *,
                  target: float = TARGET, pilot: int = PILOT, max_sample: int = RESERVOIR,
                  seed: int | None = None, progress: StatsProgress | None = None,
                  should_cancel: ShouldCancel | None = None,
                  pages: Iterable[ListObjectsResult] | None = None) -> SampledStats:
    rng = random.Random(seed)
    reservoir = _Reservoir(max(max_sample, 1), rng)
    aggregator = SavingsAggregator(bucket, prefix)
    aggregator.on_close = reservoir.folder_closed
    other_bytes = 0
    with s3.ctx(bucket, prefix, "list"):
        for page in walk(s3, fetcher.cache, bucket, prefix, pages=pages, should_cancel=should_cancel):
            for info in page.contents:
                if info.is_delta:
                    reservoir.offer(info)
                else:
                    other_bytes += info.size
            aggregator.add_page(page)
    total = aggregator.finish().total
    deltas = reservoir.seen
    guessed_deltas = total.original_bytes - other_bytes  # quick mode's guess, summed over every delta
    sample = reservoir.items
    rng.shuffle(sample)  # any leading part of a shuffled uniform sample is a uniform sample

    def guess(info: ObjectInfo) -> int:
        ref = reservoir.reference_sizes.get(fmt.deltaspace_of(info.stored_key))
        return ref if ref is not None else info.size

    read = 0
    rounds = 0
    want = min(pilot, len(sample))
    estimate = low = high = float(guessed_deltas)
    invalid = 0
    while True:
        if want > read:
            rounds += 1
            base = read

            def batch_progress(done: int, _total: int, base: int = base, want: int = want) -> None:
                if progress:
                    progress(base + done, max(want, base + done))

            fetcher.fetch(bucket, sample[read:want], batch_progress, should_cancel)
            read = want
        xs: list[int] = []
        ys: list[int] = []
        invalid = 0
        for info in sample[:read]:
            x = guess(info)
            if info.original_size is None or info.metadata_problem:
                invalid += 1
                y = x
            else:
                y = info.original_size
            xs.append(x)
            ys.append(y)
        estimate, half = _ratio_estimate(xs, ys, guessed_deltas, deltas)
        whole = other_bytes + estimate
        low, high = estimate - half, estimate + half
        if read >= len(sample) or read >= deltas or rounds >= 4:
            break
        if whole and half <= target * whole:
            break
        need = _needed(read, half, target * whole, deltas)
        if need <= read:
            break
        want = min(len(sample), max(need, read + read // 4))
    if progress:
        progress(read, read)
    return SampledStats(
        bucket=bucket, prefix=prefix, objects=total.objects, deltas=deltas, stored_bytes=total.stored_bytes,
        references=total.references, reference_bytes=total.reference_bytes,
        original_bytes=other_bytes + round(estimate), original_low=other_bytes + max(0, math.floor(low)),
        original_high=other_bytes + math.ceil(high), sample_size=read, invalid_in_sample=invalid, rounds=rounds)


def _ratio_estimate(xs: list[int], ys: list[int], x_total: int, population: int) -> tuple[float, float]:
    """(estimate of the population total of y, half-width of its 95% interval)."""
    n = len(ys)
    if n == 0:
        return float(x_total), float("inf") if population else 0.0
    if n >= population:
        return float(sum(ys)), 0.0
    sum_x, sum_y = sum(xs), sum(ys)
    if sum_x > 0:
        ratio = sum_y / sum_x
        total = ratio * x_total
        residuals = [y - ratio * x for x, y in zip(xs, ys)]
    else:  # no usable guess: the plain mean per delta
        mean = sum_y / n
        total = mean * population
        residuals = [y - mean for y in ys]
    if n < 2:
        return total, float("inf")
    variance = sum(r * r for r in residuals) / (n - 1)
    half = Z95 * population * math.sqrt((1 - n / population) * variance / n)
    return total, half


def _needed(n: int, half: float, wanted: float, population: int) -> int:
    """Sample size for a half-width of ``wanted``, from the one ``n`` gave (finite population corrected)."""
    if wanted <= 0 or not math.isfinite(half):
        return population
    infinite = n * (half / wanted) ** 2 * (1 - n / population) ** -1 if n < population else n
    return math.ceil(infinite / (1 + infinite / population))
