"""Restores with their questions: objects, a folder, and what a restore would move, for the app and the CLI.

Nothing here imports Textual or writes to a terminal: the outcome says exactly what was done (how many
files, how each was checked, what was kept, rescued, cancelled or failed) and the caller words it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..core import format as fmt
from ..core.errors import CancelledError, DestinationExistsError, DgError, LocalWriteError, RecompressionError
from ..core.models import DownloadResult, ObjectInfo, ObjectKind
from ..core.paths import file_name_of, in_folder_restore, parse_s3_url, safe_relative_path
from ..core.text import human_count, human_size, plural, printable
from .job import Job, Outcome, Question, describe_error

if TYPE_CHECKING:
    from datetime import datetime

    from ..core.client import DgClient
    from ..core.versions import ObjectVersion


# -- what a restore did ------------------------------------------------------------------------------

def check_of(result: DownloadResult) -> str:
    """How a restored file was checked, in a few words."""
    if result.rescued:
        return "rescued (decompressed contents, checked by xdelta3's checksums, not by a sha256)"
    if result.check_note:  # e.g. a deltaglider_proxy replica stored without its sha256
        return f"size checked, {result.check_note}"
    if result.verified and result.kind == ObjectKind.PLAIN:
        return "MD5 checked against the ETag (no sha256 stored by the tool that wrote it)"
    if result.verified:
        return "sha256 verified"
    return "not checked: no sha256 stored and the ETag is not an MD5"


@dataclass
class RestoreOutcome(Outcome):
    results: list[DownloadResult] = field(default_factory=list)
    #: (key, local path) of existing files that were kept although they differ from the object (or were not
    #: compared): the restore did not happen for them
    kept: list[tuple[str, str]] = field(default_factory=list)
    #: (key, local path) of existing files that match the object (size, and sha256 when stored): restored before
    already: list[tuple[str, str]] = field(default_factory=list)
    #: keys of ``already`` compared by size only (no sha256 stored for them)
    already_by_size: set[str] = field(default_factory=set)
    #: why a kept file differs from its object, by key (when it was compared)
    kept_reasons: dict[str, str] = field(default_factory=dict)
    #: keys the restore set out to write, in order (to name those a cancel or a failure left)
    planned_keys: list[str] = field(default_factory=list)
    #: why the whole restore stopped (e.g. the listing failed), when it did
    stopped: str | None = None

    @property
    def state(self) -> str:
        if self.cancelled:
            return "cancelled"
        return "failed" if self.failures or self.stopped else "done"

    @property
    def skipped(self) -> int:
        """Existing files kept without being restored (they differ from the object)."""
        return len(self.kept)

    def left(self) -> list[str]:
        """Keys that were neither restored, nor found restored, kept or failed: a cancel or a stop left them."""
        handled = {r.key for r in self.results} | {k for k, _ in self.kept} | {k for k, _ in self.already} \
            | {k for k, _ in self.failures}
        return [key for key in self.planned_keys if key not in handled]

    def counts(self) -> dict[str, int]:
        rescued = sum(1 for r in self.results if r.rescued)
        md5 = sum(1 for r in self.results if r.verified and not r.rescued and r.kind == ObjectKind.PLAIN)
        sha = sum(1 for r in self.results if r.verified and not r.rescued and r.kind != ObjectKind.PLAIN)
        return {"sha256": sha, "md5": md5, "rescued": rescued, "unchecked": len(self.results) - sha - md5 - rescued}

    def line(self, more: str = " (Enter lists all)") -> str:
        """One line that claims only what was done; ``more`` says where the whole list is."""
        results, failures = self.results, self.failures
        whole = not self.cancelled and not self.stopped and not self.kept and not self.already
        if whole and len(results) == 1 and not failures:
            r = results[0]
            if r.rescued:
                return (f"rescued decompressed contents to {printable(r.path, 120)} ({human_size(r.size)}; "
                        "checked by xdelta3's checksums, no sha256 for them)")
            if r.check_note:
                return f"size checked, {r.check_note} · {human_size(r.size)} · {printable(r.path, 120)}"
            if r.verified and r.kind == ObjectKind.PLAIN:
                return (f"MD5 (ETag) checked · {human_size(r.size)} · {printable(r.path, 120)} "
                        "(no sha256 stored by the tool that wrote it)")
            if r.verified:
                return f"sha256 verified · {human_size(r.size)} · {printable(r.path, 120)}"
            return (f"restored {human_size(r.size)} to {printable(r.path, 120)} "
                    "(not checked: no sha256 stored and the ETag is not an MD5)")
        if whole and not results and len(failures) == 1:
            return printable(failures[0][1], 300)
        left = len(self.left())
        parts = []
        of = f" of {human_count(self.planned)}" if (self.cancelled or self.stopped) and self.planned > 1 else ""
        if results:
            files = "file" if len(results) == 1 and not of else "files"
            size = human_size(sum(r.size for r in results))
            parts.append(f"restored {human_count(len(results))}{of} {files} ({size})")
        elif self.cancelled or self.stopped or failures or not (self.kept or self.already):
            parts.append(f"nothing restored{of}")
        c = self.counts()
        if results and c["sha256"] == len(results):
            parts.append("sha256 verified")
        elif results:
            if c["sha256"]:
                parts.append(f"{human_count(c['sha256'])} sha256 verified")
            if c["md5"]:
                parts.append(f"{human_count(c['md5'])} MD5 checked (no sha256 stored)")
            if c["unchecked"]:
                parts.append(f"{human_count(c['unchecked'])} not checked (no checksum stored)")
            if c["rescued"]:
                parts.append(f"{human_count(c['rescued'])} rescued as .decompressed (no sha256 check)")
        if self.already:
            every = "all " if len(self.already) == self.planned > 1 else ""
            how = "same size and sha256" if not self.already_by_size else \
                "same size and sha256; same size for those with no sha256 stored"
            if len(self.already_by_size) == len(self.already):
                how = "same size; no sha256 stored to compare"
            parts.append(f"{every}{plural(len(self.already), 'file was', 'files were')} already restored ({how})")
        if self.kept and not parts:
            parts.append("nothing restored: kept the existing file" if len(self.kept) == 1
                         else f"nothing restored: kept the {human_count(len(self.kept))} existing files")
        elif self.kept:
            what = "file" if len(self.kept) == 1 else "files"
            parts.append(f"{human_count(len(self.kept))} kept (the existing {what})")
        if failures:
            key, reason = failures[0]
            hint = more if len(failures) > 1 else ""
            parts.append(f"{human_count(len(failures))} failed: {printable(key, 80)}: {printable(reason, 200)}{hint}")
        if self.stopped:
            parts.append(f"stopped: {printable(self.stopped, 200)}")
        if left and (self.cancelled or self.stopped):
            parts.append(f"{human_count(left)} not restored")
        text = " · ".join(parts)
        if self.cancelled:
            return f"cancelled: {text}; nothing was written for the unfinished file"
        return text

    def report(self) -> list[str]:
        """Every file and every failure, one line each (for "show me the whole list")."""
        lines = [f"{printable(r.path, 300)}: {check_of(r)}" for r in self.results]
        lines += [f"already restored {printable(path, 300)}: same size "
                  f"{'(no sha256 stored)' if key in self.already_by_size else 'and sha256'} as {printable(key, 300)}"
                  for key, path in self.already]
        lines += [f"KEPT {printable(path, 300)}: the existing file was kept, not restored from "
                  f"{printable(key, 300)}" + (f" ({printable(self.kept_reasons[key], 200)})"
                                              if key in self.kept_reasons else "")
                  for key, path in self.kept]
        lines += [f"FAILED {printable(key, 300)}: {printable(reason, 300)}" for key, reason in self.failures]
        why = "cancelled" if self.cancelled else "stopped" if self.stopped else ""
        if why:
            lines += [f"NOT RESTORED ({why}) {printable(key, 300)}" for key in self.left()]
        return lines


def split_extension(name: str) -> tuple[str, str]:
    """(stem, extension) of a file name, where a tag such as " (1)" goes between them.

    The extension is the last one or two suffixes with a letter in them: "db (1).sql.gz",
    "app-1.0.0 (1).zip" (a version's dots are not an extension).
    """
    parts = name.split(".")
    cut = len(parts)
    while cut > 1 and len(parts) - cut < 2 and parts[cut - 1] and any(c.isalpha() for c in parts[cut - 1]) \
            and (cut > 2 or parts[0]):
        cut -= 1
    return ".".join(parts[:cut]), "".join("." + p for p in parts[cut:])


def free_name(path: Path) -> Path:
    """``name (1).ext``, ``name (2).ext``…: the first that does not exist beside ``path``."""
    stem, ext = split_extension(path.name)
    for n in range(1, 10_000):
        candidate = path.with_name(f"{stem} ({n}){ext}")
        if not os.path.lexists(candidate):  # a dangling link takes the name too
            return candidate
    raise DgError(f"no free name beside {printable(str(path), 200)}")


def restore_objects(client: DgClient, job: Job, bucket: str, objects: Iterable[tuple[str, int]],
                    destination: str, *, as_file: bool = False) -> RestoreOutcome:
    """Restore objects ((key, listed size) pairs) into the folder ``destination``.

    With ``as_file`` (one object only) ``destination`` is the file's own path,
    so one object can be restored under another name. Asks before replacing a
    file (overwrite, overwrite all, another name, skip) and offers to rescue
    what DeltaGlider's gzip deltas cannot rebuild exactly.
    """
    items = list(objects)
    outcome = RestoreOutcome(planned=len(items), planned_keys=[key for key, _ in items])
    job.items_total = len(items)
    state = _Answers()
    root = Path(destination).parent if as_file else Path(destination)
    try:
        for key, size in items:
            if job.should_cancel():
                raise CancelledError()
            job.item_started(size)
            try:
                target = Path(destination) if as_file else root / file_name_of(bucket, key)
            except DgError as exc:
                outcome.failures.append((key, describe_error(exc)))
            else:
                _restore_asking(client, job, outcome, bucket, key, target, root, state, many=len(items) > 1)
            job.item_finished()
    except CancelledError:
        outcome.cancelled = True
    return outcome


@dataclass
class _Answers:
    """Answers that hold for the files still to come ("Overwrite all")."""

    overwrite_all: bool = False


def _restore_asking(client: DgClient, job: Job, outcome: RestoreOutcome, bucket: str, key: str, target: Path,
                    root: Path, state: _Answers, *, many: bool, version_id: str | None = None) -> None:
    """Restore one object to the file ``target`` inside the chosen folder ``root``, asking before replacing a
    file and offering a rescue; the result goes to ``outcome``.

    Every answer writes to a file path, never into a folder standing there, and only inside ``root``
    (``DgClient.restore_file``)."""
    name = key.rsplit("/", 1)[-1]
    overwrite, rescue = state.overwrite_all, False
    existing = target
    while True:
        try:
            if version_id is None:
                outcome.results.append(client.restore_file(
                    f"s3://{bucket}/{key}", target, root=root, overwrite=overwrite, progress=job.on_progress,
                    should_cancel=job.should_cancel, rescue=rescue))
            else:
                if target.is_dir() and not target.is_symlink():
                    raise LocalWriteError(f"{printable(str(target), 200)} is a folder; give a file name")
                outcome.results.append(client.download(
                    f"s3://{bucket}/{key}", target, overwrite=overwrite, progress=job.on_progress,
                    should_cancel=job.should_cancel, rescue=rescue, version_id=version_id))
            job.bytes_written += outcome.results[-1].size
        except DestinationExistsError as exc:
            choices = [("overwrite", "Overwrite"), ("all", "Overwrite all"), ("rename", "Keep both"),
                       ("skip", "Skip")] if many else \
                [("overwrite", "Overwrite"), ("rename", "Keep both"), ("skip", "Keep the existing file")]
            answer = job.ask(Question(
                "The file already exists",
                f"{describe_error(exc)}\n\nReplace it with the restored object {printable(key, 300)}, or keep "
                f"both and save the object as “{printable(free_name(existing).name, 120)}”?",
                choices, danger=True))
            if answer is None and job.should_cancel():
                raise CancelledError() from None
            if answer in ("overwrite", "all"):
                overwrite = True
                state.overwrite_all = state.overwrite_all or answer == "all"
                continue
            if answer == "rename":
                target = existing = free_name(existing)
                continue
            outcome.kept.append((key, str(existing)))
        except RecompressionError as exc:
            answer = job.ask(Question(
                "The original file cannot be rebuilt exactly",
                f"{describe_error(exc)}\n\nThis object was stored by DeltaGlider from a compressed file whose "
                "compression cannot be reproduced byte for byte, so its sha256 cannot match. "
                "Its decompressed contents are intact and can be saved as "
                f"“{printable(name, 80)}.decompressed”.",
                [("rescue", "Rescue decompressed contents"), ("skip", "Skip")]))
            if answer is None and job.should_cancel():
                raise CancelledError() from None
            if answer == "rescue":
                rescue = True
                continue
            outcome.failures.append((key, describe_error(exc)))
        except CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - one bad object must not stop the others
            outcome.failures.append((key, describe_error(exc)))
        break


NOT_RESCUED = "cannot be rebuilt exactly (its gzip/bzip2/xz recompression differs); not rescued"


@dataclass
class PrefixPlan:
    """What a folder restore would write: objects, their stored bytes, and where they go."""

    url: str
    objects: int = 0
    stored_bytes: int = 0
    #: local paths that already exist
    existing: list[str] = field(default_factory=list)
    #: the key each of ``existing`` would be restored from
    existing_keys: list[str] = field(default_factory=list)
    #: every key to restore, in listing order
    keys: list[str] = field(default_factory=list)
    #: (key, reason) for keys that cannot be written safely
    unsafe: list[tuple[str, str]] = field(default_factory=list)
    #: key -> size of the restored file, for the keys whose size is known (see ``read_restored_sizes``)
    sizes: dict[str, int] = field(default_factory=dict)
    #: objects whose restored size is unknown (a delta whose metadata gives none)
    sizes_unknown: int = 0
    #: keys of the deltas
    deltas: set[str] = field(default_factory=set)
    #: references the deltas need that this machine holds no copy of: how many, and their bytes
    references_to_fetch: int = 0
    reference_bytes: int = 0

    @property
    def restored_bytes(self) -> int:
        return sum(self.sizes.values())

    def moves(self) -> str:
        """What the restore downloads and writes, in one sentence."""
        return restore_moves(self.stored_bytes, self.references_to_fetch, self.reference_bytes,
                             self.restored_bytes, self.sizes_unknown)


def restore_moves(stored: int, references: int, reference_bytes: int, written: int, unknown: int,
                  unknown_references: int = 0) -> str:
    """"Downloads 63.3 MiB (9.5 MiB of objects, 53.8 MiB for 3 references not cached here); writes 651.2 MiB."
    ``unknown``: objects whose restored size is not known (a delta whose metadata gives none);
    ``unknown_references``: references whose size could not be read."""
    if unknown_references:
        down = (f"Downloads {human_size(stored + reference_bytes)} and {plural(unknown_references, 'reference')} "
                "of unknown size")
    elif references:
        down = (f"Downloads {human_size(stored + reference_bytes)} ({human_size(stored)} of objects, "
                f"{human_size(reference_bytes)} for {plural(references, 'reference')} not cached here)")
    else:
        down = f"Downloads {human_size(stored)} (the references needed are cached here)" if written > stored \
            else f"Downloads {human_size(stored)}"
    if unknown:
        writes = f"writes {human_size(written)} and {plural(unknown, 'file')} of unknown size"
    else:
        writes = f"writes {human_size(written)}"
    return f"{down}; {writes}."


def plan_objects(client: DgClient, bucket: str, objects: list[ObjectInfo],
                 should_cancel: Callable[[], bool] | None = None) -> str:
    """``restore_moves`` for some objects of a listing (the deltas' sizes read from their metadata)."""
    deltas = [o for o in objects if o.is_delta and o.original_size is None]
    if deltas:
        try:
            client.fetch_metadata(bucket, deltas, None, should_cancel)
        except CancelledError:
            raise
        except DgError:
            pass  # the sizes stay unknown and are said to be
    written = unknown = 0
    for o in objects:
        if o.is_delta and o.original_size is None:
            unknown += 1
        else:
            written += o.original_size if o.original_size is not None else o.size
    references = reference_bytes = unknown_references = 0
    for ref_key in sorted({fmt.reference_key_for(fmt.deltaspace_of(o.stored_key or o.key))
                           for o in objects if o.is_delta}):
        if should_cancel is not None and should_cancel():
            raise CancelledError()
        try:
            size = client.reference_fetch_bytes(bucket, ref_key)
        except CancelledError:
            raise
        except DgError:  # e.g. HEAD refused: the restore itself will say what is wrong
            unknown_references += 1
            continue
        if size:
            references += 1
            reference_bytes += size
    return restore_moves(sum(o.size for o in objects), references, reference_bytes, written, unknown,
                         unknown_references)


def plan_prefix(client: DgClient, url: str, folder: str | None = None,
                should_cancel: Callable[[], bool] | None = None, *,
                read_sizes: bool = False, progress: Callable[[int, int], None] | None = None) -> PrefixPlan:
    """Count what is under a prefix (one listing); with ``folder``, which files already exist there.

    The listing gives a delta's stored size only; ``read_sizes`` also learns
    each delta's original size from its metadata (the metadata cache first,
    then HEADs in parallel), so that a restore can count the bytes it writes.
    """
    bucket, prefix = parse_s3_url(url)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    plan = PrefixPlan(url)
    deltas = []
    listed_references: dict[str, ObjectInfo] = {}
    for obj in _objects_and_references(client, bucket, prefix, listed_references):
        if should_cancel is not None and should_cancel():
            raise CancelledError()
        if not in_folder_restore(obj, prefix):
            continue  # what a folder restore leaves out: folder markers, deltaglider_proxy's housekeeping
        plan.objects += 1
        plan.keys.append(obj.key)
        plan.stored_bytes += obj.size
        if obj.is_delta:
            deltas.append(obj)
            plan.deltas.add(obj.key)
        else:
            plan.sizes[obj.key] = obj.size
        rel, problem = safe_relative_path(obj.key, prefix)
        if rel is None:
            plan.unsafe.append((obj.key, problem or "unsafe key"))
        elif folder is not None and _occupied(os.path.join(folder, str(rel))):
            plan.existing.append(os.path.join(folder, str(rel)))
            plan.existing_keys.append(obj.key)
    if read_sizes and deltas:
        try:
            client.fetch_metadata(bucket, deltas, progress, should_cancel)
        except CancelledError:
            raise
        except DgError:
            pass  # the sizes stay unknown and are said to be
    for obj in deltas:
        if read_sizes and obj.original_size is not None:
            plan.sizes[obj.key] = obj.original_size
        else:
            plan.sizes_unknown += 1
    if read_sizes:
        for ref_key in sorted({fmt.reference_key_for(fmt.deltaspace_of(o.stored_key or o.key)) for o in deltas}):
            size = client.reference_fetch_bytes(bucket, ref_key, listed_references.get(ref_key))
            if size:
                plan.references_to_fetch += 1
                plan.reference_bytes += size
    return plan


def _occupied(path: str) -> bool:
    """A file or a link (even a dangling one) is at ``path``: restoring there replaces it.

    A folder standing there is not counted: it is never replaced, and its restore is reported as failed.
    """
    return os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path))


def _objects_and_references(client: DgClient, bucket: str, prefix: str,
                            references: dict[str, ObjectInfo]) -> Iterable[ObjectInfo]:
    """The objects under a prefix; the references the listing hides go into ``references`` on the way."""
    for page in client.iter_pages(bucket, prefix, delimiter=None, ranged=True):
        for hidden in page.hidden:
            if fmt.is_reference_key(hidden.stored_key or hidden.key):
                references[hidden.stored_key or hidden.key] = hidden
        yield from page.contents


def restore_prefix(client: DgClient, job: Job, url: str, folder: str, *,
                   on_item: Callable[[str, DownloadResult | None, Exception | None], None] | None = None,
                   read_sizes: bool = True) -> RestoreOutcome:
    """Restore everything under a prefix into ``folder``; asks about existing files and rescues.

    With ``read_sizes`` the job counts bytes of the restored files (each
    delta's original size read from its metadata first); while any size is
    unknown it counts files only and says how many sizes are unknown.
    """
    bucket, _ = parse_s3_url(url)
    outcome = RestoreOutcome()
    try:
        plan = plan_prefix(client, url, folder, job.should_cancel, read_sizes=read_sizes,
                           progress=lambda done, total: setattr(job, "stage", f"reading sizes {done}/{total}"))
        outcome.planned = plan.objects
        outcome.planned_keys = plan.keys
        job.items_total = plan.objects
        if read_sizes:
            job.sizes_unknown = plan.sizes_unknown
            job.bytes_total = 0 if plan.sizes_unknown else plan.restored_bytes
        # Files a restore wrote before (a resumed restore) are not asked about: they are already restored.
        job.stage = "comparing existing files"
        differ: list[str] = []
        for key, path in zip(plan.existing_keys, plan.existing):
            if job.should_cancel():
                raise CancelledError()
            compared: list[str] = []
            why = differs_from_object(client, bucket, key, path, compared)
            if why is None:
                outcome.already.append((key, path))
                if "sha256" not in compared:
                    outcome.already_by_size.add(key)
            else:
                differ.append(path)
                outcome.kept_reasons[key] = why
        already = {key for key, _ in outcome.already}
        job.stage = "starting"
        if read_sizes and not plan.sizes_unknown and not plan.existing:
            # Every file is new and every size known: say now that they will not fit, not at a full disk.
            from ..core.engine import check_free_space

            try:
                check_free_space(Path(folder), plan.restored_bytes,
                                 f"cannot restore {printable(url, 200)} to {printable(folder, 200)}")
            except DgError as exc:
                outcome.failures.append((url, describe_error(exc)))
                return outcome
        mode = "skip"
        if differ:
            names = "\n".join("  " + printable(p, 120) for p in differ[:8])
            more = f"\n  … and {human_count(len(differ) - 8)} more" if len(differ) > 8 else ""
            example = printable(free_name(Path(differ[0])).name, 80)
            same = f" ({plural(len(already), 'more is', 'more are')} already restored)" if already else ""
            answer = job.ask(Question(
                "Some files already exist",
                f"{human_count(len(differ))} of {plural(plan.objects, 'file')} already "
                f"{'exists' if len(differ) == 1 else 'exist'} in "
                f"{printable(folder, 200)} and differ from the objects{same}:\n{names}{more}\n\n"
                "Replace them, keep both (the restored object "
                f"gets a free name such as “{example}”), skip them, or choose for each file?",
                [("overwrite", "Overwrite all"), ("rename", "Keep both"), ("skip", "Skip them"),
                 ("ask", "Ask for each")], danger=True))
            if answer is None and job.should_cancel():
                raise CancelledError()
            mode = answer if answer in ("overwrite", "rename", "ask") else "skip"
        if mode == "overwrite":
            outcome.already, already = [], set()  # restored again, as asked
        rescue: list[tuple[str, str]] = []
        again: list[tuple[str, str]] = []  # (key, destination) of files that exist, answered after the others

        def item_start(item) -> None:
            job.item_started(plan.sizes.get(item.key, 0), "rebuilding" if item.key in plan.deltas else "downloading")

        def item_done(item, result, exc) -> None:
            if isinstance(exc, DestinationExistsError) and mode in ("rename", "ask") and item.destination \
                    and item.key not in already:
                again.append((item.key, item.destination))
                job.item_started(0)
                return
            job.item_finished()
            if result is not None:
                job.bytes_written += result.size
                outcome.results.append(result)
            if isinstance(exc, RecompressionError) and item.destination:
                rescue.append((item.key, item.destination))
            elif isinstance(exc, DestinationExistsError):
                if item.key not in already:
                    outcome.kept.append((item.key, item.destination or ""))
            elif exc is not None:
                outcome.failures.append((item.key, describe_error(exc)))
            if on_item is not None:
                on_item(item.key, result, exc)

        # Results and problems are counted as each item ends (item_done), so a cancel keeps the count.
        client.download_prefix(url, folder, overwrite=mode == "overwrite", progress=job.on_progress,
                               should_cancel=job.should_cancel, on_item=item_done, on_start=item_start)
        state = _Answers()
        for key, destination in again:
            if job.should_cancel():
                raise CancelledError()
            job.item_started(plan.sizes.get(key, 0), "rebuilding" if key in plan.deltas else "downloading")
            target = free_name(Path(destination)) if mode == "rename" else Path(destination)
            _restore_asking(client, job, outcome, bucket, key, target, Path(folder), state, many=len(again) > 1)
            job.item_finished()
        if rescue:
            answer = job.ask(Question(
                "Some files cannot be rebuilt exactly",
                f"{plural(len(rescue), 'object was', 'objects were')} stored by DeltaGlider from compressed files "
                "whose compression cannot be reproduced byte for byte. Their decompressed contents are intact "
                "and can be saved as “<name>.decompressed”.",
                [("rescue", "Rescue decompressed contents"), ("skip", "Skip them")]))
            for key, destination in rescue:
                if answer != "rescue":
                    outcome.failures.append((key, NOT_RESCUED))
                    continue
                try:
                    outcome.results.append(client.restore_file(f"s3://{bucket}/{key}", destination,
                                                               root=folder, overwrite=False, rescue=True,
                                                               progress=job.on_progress,
                                                               should_cancel=job.should_cancel))
                except CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - report it with the others
                    outcome.failures.append((key, describe_error(exc)))
    except CancelledError:
        outcome.cancelled = True
    except DgError as exc:  # e.g. the listing or the destination folder failed: say what was done before
        outcome.stopped = describe_error(exc)
    return outcome


def restore_prefix_as_of(client: DgClient, job: Job, url: str, folder: str, *, at: datetime | None,
                         include_deleted: bool = False,
                         on_item: Callable[[str, DownloadResult | None, Exception | None], None] | None = None,
                         ) -> RestoreOutcome:
    """Restore every key under a prefix as it stood at ``at`` into ``folder``, with the existing-file rules of
    ``restore_prefix``: a file that already holds the version (same size, and sha256 when one is stored) is
    kept as already restored; one that differs is kept unless the job answers "overwrite" to "Some files
    already exist"."""
    bucket, prefix = parse_s3_url(url)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    outcome = RestoreOutcome()
    try:
        job.stage = "listing versions"
        versions: list[ObjectVersion] = []
        for version in client.versions_as_of(url, at=at, include_deleted=include_deleted):
            if job.should_cancel():
                raise CancelledError()
            versions.append(version)
        outcome.planned = job.items_total = len(versions)
        outcome.planned_keys = [v.key for v in versions]
        job.stage = "comparing existing files"
        existing: list[tuple[ObjectVersion, str]] = []
        for version in versions:
            rel, _problem = safe_relative_path(version.key, prefix)
            if rel is not None and _occupied(os.path.join(folder, str(rel))):
                existing.append((version, os.path.join(folder, str(rel))))
        unreadable = None
        if existing:
            try:
                client.read_version_sizes(bucket, [v for v, _ in existing])
            except CancelledError:
                raise
            except DgError as exc:  # nothing to compare with: the files are kept unless overwritten
                unreadable = f"cannot compare: {describe_error(exc)}"
        differ: list[tuple[str, str]] = []
        for version, path in existing:
            if job.should_cancel():
                raise CancelledError()
            compared: list[str] = []
            why = unreadable or differs_from_version(version, path, compared)
            if why is None:
                outcome.already.append((version.key, path))
                if "sha256" not in compared:
                    outcome.already_by_size.add(version.key)
            else:
                differ.append((version.key, path))
                outcome.kept_reasons[version.key] = why
        mode = "skip"
        if differ:
            names = "\n".join("  " + printable(p, 120) for _, p in differ[:8])
            more = f"\n  … and {human_count(len(differ) - 8)} more" if len(differ) > 8 else ""
            answer = job.ask(Question(
                "Some files already exist",
                f"{human_count(len(differ))} of {plural(len(versions), 'file')} already "
                f"{'exists' if len(differ) == 1 else 'exist'} in {printable(folder, 200)} and differ from the "
                f"versions to restore:\n{names}{more}\n\nReplace them or skip them?",
                [("overwrite", "Overwrite all"), ("skip", "Skip them")], danger=True))
            if answer is None and job.should_cancel():
                raise CancelledError()
            mode = "overwrite" if answer == "overwrite" else "skip"
        if mode == "overwrite":
            outcome.already = []  # restored again, as asked
        else:
            outcome.kept.extend(differ)
        settled = {key for key, _ in outcome.already} | {key for key, _ in outcome.kept}
        todo = [v for v in versions if v.key not in settled]
        job.stage = "starting"

        def item_start(version: ObjectVersion) -> None:
            job.item_started(version.original_size or 0, "rebuilding" if version.stored_form == "delta"
                             else "downloading")

        def item_done(key: str, result: DownloadResult | None, exc: Exception | None) -> None:
            job.item_finished()
            if result is not None:
                job.bytes_written += result.size
                outcome.results.append(result)
            elif isinstance(exc, DestinationExistsError):  # written meanwhile, by someone else
                rel, _problem = safe_relative_path(key, prefix)
                outcome.kept.append((key, os.path.join(folder, str(rel)) if rel is not None else ""))
            elif exc is not None:
                outcome.failures.append((key, describe_error(exc)))
            if on_item is not None:
                on_item(key, result, exc)

        client.download_prefix_as_of(url, folder, at=at, include_deleted=include_deleted,
                                     overwrite=mode == "overwrite", progress=job.on_progress,
                                     should_cancel=job.should_cancel, on_item=item_done, versions=todo,
                                     on_start=item_start)
    except CancelledError:
        outcome.cancelled = True
    except DgError as exc:  # e.g. the version listing or the destination folder failed
        outcome.stopped = describe_error(exc)
    return outcome


def differs_from_version(version: ObjectVersion, path: str, compared: list[str] | None = None) -> str | None:
    """``differs_from_object`` for a version whose ``original_size`` and ``file_sha256`` were read
    (``read_version_sizes``)."""
    expected = version.original_size if version.original_size is not None else version.size
    return _differs(path, expected, version.file_sha256, compared)


def differs_from_object(client: DgClient, bucket: str, key: str, path: str,
                        compared: list[str] | None = None) -> str | None:
    """None when the local file ``path`` already holds the object ``key`` (same size, and same sha256 when one
    is stored); else why it does not (or why that cannot be told). ``compared`` hears what was compared."""
    if not os.path.isfile(path):
        return "not a file"  # before any request: nothing to compare with
    try:
        info = client.get_object_info(f"s3://{bucket}/{key}")
    except DgError as exc:
        return f"cannot compare: {describe_error(exc)}"
    return _differs(path, info.original_size if info.original_size is not None else info.size, info.file_sha256,
                    compared)


def _differs(path: str, expected: int, sha256: str | None, compared: list[str] | None) -> str | None:
    """Why the local file ``path`` is not the restored bytes of ``expected`` size and ``sha256`` (when stored);
    None when it is. The size first: the sha256 is read only when the size matches."""
    from ..core.cache import sha256_file

    try:
        if not os.path.isfile(path):
            return "not a file"
        size = os.path.getsize(path)
        if size != expected:
            return f"{human_size(size)} here, {human_size(expected)} once restored"
        if compared is not None:
            compared.append("size")
        if sha256:
            if sha256_file(path) != sha256:
                return "same size, different sha256"
            if compared is not None:
                compared.append("sha256")
    except OSError as exc:
        return f"cannot read it: {exc.strerror or exc}"
    return None
