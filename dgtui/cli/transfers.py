"""``dgtui get``, ``put`` and ``verify``: restores and uploads through the transfers controller, answered by flags."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import DestinationExistsError, DgError, RecompressionError
from ..core.text import display_key, safe_line
from .common import CliJob, ProgressLine, client_from, emit_json, human, shown
from .signals import ctrl_c_cancels

if TYPE_CHECKING:
    from datetime import datetime

    from ..jobs.restore import RestoreOutcome


def cmd_get(args: argparse.Namespace) -> int:
    from ..jobs.restore import check_of, restore_prefix

    client = client_from(args)
    if args.recursive and args.version_id:
        raise DgError("--version-id names a version of one object; it cannot go with --recursive")
    if args.at or args.include_deleted:
        return _get_as_of(client, args)
    if args.recursive:
        bar = ProgressLine("restore")
        job = CliJob(bar, {"Some files already exist": "overwrite" if args.overwrite else "skip",
                            "Some files cannot be rebuilt exactly": "rescue" if args.rescue else "skip"})

        warned: set[str] = set()

        def on_item(key: str, result, exc) -> None:
            bar.label = display_key(key.rsplit("/", 1)[-1], 40)
            if result is not None and result.reference_warning and result.reference_warning not in warned:
                warned.add(result.reference_warning)  # once per reference, not once per object
                bar.finish()
                print(f"warning: {safe_line(result.reference_warning)}", file=sys.stderr)
            if result is not None and not args.json:
                bar.finish()
                print(f"restored {shown(key)} -> {shown(result.path)} ({check_of(result)})")

        with ctrl_c_cancels(job):
            outcome = restore_prefix(client, job, args.url, args.dest, on_item=on_item, read_sizes=False)
        return _report_folder_restore(args, bar, outcome)
    from ..core.client import parse_s3_url

    if not parse_s3_url(args.url)[1] or args.url.endswith("/"):
        raise DgError(f"{display_key(args.url)} is a folder; use --recursive to restore everything under it")
    bar = ProgressLine(args.url.rsplit("/", 1)[-1])
    try:
        result = client.download(args.url, args.dest, overwrite=args.overwrite, progress=bar, rescue=args.rescue,
                                 version_id=args.version_id)
    except RecompressionError as exc:
        bar.finish()
        raise DgError(f"{exc}; run again with --rescue to write them to DEST.decompressed") from None
    except DestinationExistsError as exc:
        bar.finish()
        raise DgError(f"{exc.message.split(';')[0]}; use --overwrite to replace it") from None
    bar.finish()
    if result.reference_warning:
        print(f"warning: {safe_line(result.reference_warning)}", file=sys.stderr)
    if args.json:
        emit_json(asdict(result))
    elif result.rescued:
        print(f"rescued the decompressed contents to {shown(result.path)} "
              f"(checked by the delta's checksums; sha256 {result.sha256})")
    else:
        print(f"restored {shown(result.path)} ({human(result.size)}, {check_of(result)})")
    return 0


def _report_folder_restore(args: argparse.Namespace, bar: ProgressLine, outcome: RestoreOutcome,
                           at: datetime | None = None) -> int:
    """What ``get -r`` (and ``get -r --at``) did: failures and kept files on stderr, a summary (or --json)."""
    from ..jobs.restore import check_of

    bar.finish()
    for key, reason in outcome.failures:
        print(f"failed {shown(key)}: {safe_line(reason)}", file=sys.stderr)
    for key, path in outcome.kept:
        why = outcome.kept_reasons.get(key)
        print(f"kept {shown(path)}: it already exists{f' and differs from the object ({why})' if why else ''}; "
              "use --overwrite to replace it", file=sys.stderr)
    if outcome.stopped:
        print(f"dgtui: error: {safe_line(outcome.stopped)}", file=sys.stderr)
        if not outcome.planned:
            return 1  # stopped before anything was listed: the error says it all
    if args.json:
        found = {"restored": [asdict(r) for r in outcome.results],
                 "already_restored": [path for _, path in outcome.already],
                 "kept": [path for _, path in outcome.kept],
                 "problems": outcome.failures + ([(args.url, outcome.stopped)] if outcome.stopped else []),
                 "not_restored": outcome.left()}
        emit_json({"at": at.isoformat(), **found} if at is not None else found)
    else:
        for result in outcome.results:
            if result.rescued:
                print(f"rescued {shown(result.key)} -> {shown(result.path)} ({check_of(result)})")
        print((f"as of {at.isoformat(timespec='seconds')}: " if at is not None else "") + outcome.line(more=""))
    if outcome.cancelled:
        raise KeyboardInterrupt
    return 1 if outcome.failures or outcome.kept or outcome.stopped else 0


def _get_as_of(client: Any, args: argparse.Namespace) -> int:
    """``get -r --at TIME`` / ``--include-deleted``: a folder as it stood then, from the bucket's versions, with
    the existing-file rules, progress and exit codes of ``get -r``."""
    from ..core.versions import parse_point_in_time
    from ..jobs.restore import check_of, restore_prefix_as_of

    if not args.recursive:
        raise DgError("--at and --include-deleted restore a folder: add --recursive (for one object, "
                      "use --version-id; see: dgtui versions S3_URL)")
    at = parse_point_in_time(args.at) if args.at else None
    bar = ProgressLine("restore")
    job = CliJob(bar, {"Some files already exist": "overwrite" if args.overwrite else "skip"})
    warned: set[str] = set()

    def on_item(key: str, result: Any, _exc: Exception | None) -> None:
        bar.label = display_key(key.rsplit("/", 1)[-1], 40)
        if result is not None and result.reference_warning and result.reference_warning not in warned:
            warned.add(result.reference_warning)
            bar.finish()
            print(f"warning: {safe_line(result.reference_warning)}", file=sys.stderr)
        if result is not None and not args.json:
            bar.finish()
            print(f"restored {shown(key)} -> {shown(result.path)} ({check_of(result)})")

    with ctrl_c_cancels(job):
        outcome = restore_prefix_as_of(client, job, args.url, args.dest, at=at,
                                       include_deleted=args.include_deleted, on_item=on_item)
    return _report_folder_restore(args, bar, outcome, at)


def cmd_put(args: argparse.Namespace) -> int:
    from ..core.client import parse_s3_url
    from ..jobs.upload import upload_files, upload_line

    client = client_from(args)
    target = args.url
    if len(args.files) > 1 and not target.endswith("/"):
        target += "/"
    bucket, key = parse_s3_url(target)
    bar = ProgressLine("upload")
    job = CliJob(bar, {})

    def on_item(path: Path, summary, exc) -> None:
        bar.finish()
        if exc is not None:
            raise exc  # one line and exit 1, as before: the first failure stops the command
        if args.json:
            emit_json(asdict(summary))
        else:
            stored = shown(f"s3://{summary.bucket}/{summary.key}")
            print(f"uploaded {shown(str(path))} -> {stored}: {upload_line(summary)}")

    paths = [Path(f) for f in args.files]
    single_key = key if key and not key.endswith("/") else None
    outcome = upload_files(client, job, paths, bucket, "" if single_key else key, None,
                           max_ratio=args.max_ratio, key=single_key, on_item=on_item)
    bar.finish()
    if outcome.cancelled:
        print(outcome.line(), file=sys.stderr)
        return 130
    if len(outcome.summaries) > 1 and not args.json:
        print(outcome.line())
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    import tempfile

    from ..core import tempfiles
    from ..core.client import parse_s3_url

    client = client_from(args)
    bucket, key = parse_s3_url(args.url)
    if args.version_id and (not key or key.endswith("/")):
        raise DgError("--version-id names a version of one object; give s3://bucket/key (see: dgtui versions "
                      "S3_URL)")
    if key and not key.endswith("/"):
        urls = [args.url]
    else:
        # A folder (or bucket): verify every object below it.
        urls = [f"s3://{bucket}/{o.key}" for o in client.iter_objects(bucket, key)
                if not (o.key.endswith("/") and o.size == 0)]
        if not urls:
            raise DgError(f"no objects under {display_key(args.url)} to verify")
    failed = unchecked = 0
    with tempfile.TemporaryDirectory(prefix="dgtui-verify-", dir=client.work_dir) as tmp:
        tempfiles.register(Path(tmp))  # removed too if the command is interrupted
        for url in urls:
            result = client.verify_object(url, work_dir=Path(tmp), version_id=args.version_id)
            named = shown(url) + (f" version {shown(args.version_id)}" if args.version_id else "")
            if result.ok:
                unchecked += result.status == "unchecked"
                digest = f" (sha256 {result.sha256})" if result.sha256 else ""
                print(f"OK {named}: {safe_line(result.message)}{digest}")
            else:
                failed += 1
                print(f"FAILED {named}: {safe_line(result.message)}", file=sys.stderr)
    if len(urls) > 1:
        print(f"{len(urls) - failed} of {len(urls)} objects OK"
              + (f", {unchecked} of them without a checksum to check" if unchecked else "")
              + (f"; {failed} FAILED" if failed else ""))
    return 3 if failed else 0
