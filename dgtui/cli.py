"""The ``dgtui`` command: the browser by default, and small commands for scripts.

    dgtui [S3_URL]                       open the browser (at S3_URL if given)
    dgtui demo [--reset] [--serve-only]  a local S3 server with sample data
    dgtui ls|stats|get|put|verify|audit|rm  non-interactive commands

Errors are one line on stderr and a non-zero exit: 1 for an error, 2 for a
usage error, 3 when ``verify`` finds a mismatch or ``audit`` finds problems,
130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .cli_savings import add_arguments as add_savings_arguments
from .cli_savings import run_by_folder, run_sampled
from .core import codec
from .core.config import HIDDEN_BUCKETS
from .core.errors import XDELTA3_INSTALL_HINT, DestinationExistsError, DgError, RecompressionError
from .core.s3 import display_key
from .core.text import human_count, human_size, percent, plural, safe_line
from .transfers import Job, Question

if TYPE_CHECKING:
    from .core.audit import AuditSummary

COMMANDS = ("demo", "ls", "stats", "get", "put", "verify", "audit", "rm", "mb", "browse", "versions")


def shown(text: str) -> str:
    """A key or path as output shows it: whole, with control characters escaped.

    Listings and reports print full keys (up to S3's 1,024 bytes) so they can
    be copied; escaping keeps ANSI/OSC sequences and newlines in keys from
    reaching the terminal or splitting a line.
    """
    return display_key(text, limit=sys.maxsize)


def human(n: int | None) -> str:
    """Sizes as the app shows them ("56 B", "8.3 MiB")."""
    return "-" if n is None else human_size(n)


def _add_connection_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint-url", help="S3 endpoint (default: AWS_ENDPOINT_URL or AWS)")
    p.add_argument("--profile", help="AWS profile (default: AWS_PROFILE)")
    p.add_argument("--region", help="AWS region")
    p.add_argument("--addressing-style", choices=("path", "virtual", "auto"),
                   help="bucket in the URL path or in the host name (default: the AWS config's "
                        "s3.addressing_style, else path with --endpoint-url)")
    p.add_argument("--debug", action="store_true", help="log requests to stderr (credentials redacted)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dgtui",
                                     description="Browse, restore and upload DeltaGlider-compressed S3 buckets.")
    parser.add_argument("--version", action="version", version="dgtui 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("browse", help="open the terminal browser (the default)")
    p.add_argument("url", nargs="?", help="s3://bucket/prefix/ to open at")
    _add_connection_options(p)

    p = sub.add_parser("demo", help="run a local S3 server with sample data and open the browser on it")
    p.add_argument("--reset", action="store_true", help="start again from fresh sample data")
    p.add_argument("--serve-only", action="store_true", help="run only the server and print how to reach it")

    p = sub.add_parser("ls", help="list a bucket or prefix (no argument: list buckets)")
    p.add_argument("url", nargs="?", help="s3://bucket[/prefix/]")
    p.add_argument("--recursive", "-r", action="store_true", help="list every object below the prefix")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    _add_connection_options(p)

    p = sub.add_parser("stats", help="compression statistics of a bucket or prefix")
    p.add_argument("url", help="s3://bucket[/prefix]")
    p.add_argument("--detailed", action="store_true",
                   help="read every object's metadata once, cached: exact numbers, encrypted objects counted "
                        "(with --by-folder: every delta's)")
    p.add_argument("--json", action="store_true")
    add_savings_arguments(p)
    _add_connection_options(p)

    p = sub.add_parser("get", help="restore an object (or a prefix with --recursive)")
    p.add_argument("url", help="s3://bucket/key or s3://bucket/prefix/")
    p.add_argument("dest", help="local file or folder")
    p.add_argument("--recursive", "-r", action="store_true", help="restore every object below the prefix into DEST")
    p.add_argument("--overwrite", action="store_true", help="replace existing local files")
    p.add_argument("--rescue", action="store_true",
                   help="for a DeltaGlider delta of a gzip/bzip2/xz file that fails its check: "
                        "write the stored, decompressed contents to DEST.decompressed")
    p.add_argument("--version-id", metavar="ID",
                   help="restore this version of the object (see: dgtui versions S3_URL)")
    p.add_argument("--at", metavar="TIME",
                   help="with --recursive: every key as it stood at TIME (ISO time or date, local time "
                        "unless it gives its offset, e.g. 2026-11-30T12:00 or 2026-11-30T12:00Z)")
    p.add_argument("--include-deleted", action="store_true",
                   help="with --recursive: also bring back keys that were deleted (their newest version)")
    p.add_argument("--json", action="store_true")
    _add_connection_options(p)

    p = sub.add_parser("versions", help="the versions of an object (or of every key below a prefix with --recursive)")
    p.add_argument("url", help="s3://bucket/key or s3://bucket/prefix/")
    p.add_argument("--recursive", "-r", action="store_true", help="every key below the prefix")
    p.add_argument("--sizes", action="store_true",
                   help="also read each version's original size (one HEAD per version)")
    p.add_argument("--json", action="store_true", help="one JSON object per version")
    _add_connection_options(p)

    p = sub.add_parser("put", help="upload files (deltas where DeltaGlider's policy says so)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("url", help="s3://bucket/prefix/ (or s3://bucket/key for one file)")
    p.add_argument("--max-ratio", type=float, default=0.5,
                   help="store direct when the delta is larger than this share of the file (default 0.5)")
    p.add_argument("--json", action="store_true")
    _add_connection_options(p)

    p = sub.add_parser("verify", help="rebuild an object and check its sha256")
    p.add_argument("url", help="s3://bucket/key")
    _add_connection_options(p)

    p = sub.add_parser("audit", help="check that everything under a prefix can be restored (exit 3 on problems)")
    p.add_argument("url", help="s3://bucket[/prefix]")
    p.add_argument("--full", action="store_true",
                   help="also rebuild every delta and read every object to check its bytes (slower)")
    p.add_argument("--json", action="store_true", help="one JSON document: the summary and every problem")
    p.add_argument("--workers", type=int, default=None, help="objects checked at once with --full")
    _add_connection_options(p)

    p = sub.add_parser("rm", help="delete an object (or a prefix with --recursive)")
    p.add_argument("url", help="s3://bucket/key or s3://bucket/prefix/")
    p.add_argument("--recursive", "-r", action="store_true")
    _add_connection_options(p)

    p = sub.add_parser("mb", help="create a bucket")
    p.add_argument("url", help="s3://bucket")
    _add_connection_options(p)
    return parser


#: options that take a value, so the word after them is not a command
_VALUE_OPTIONS = ("--endpoint-url", "--profile", "--region", "--addressing-style")


def _normalise_argv(argv: list[str]) -> list[str]:
    """``dgtui`` and ``dgtui s3://…`` mean ``dgtui browse``; options may come before the command.

    ``dgtui --endpoint-url http://minio:9000 --profile backup ls`` works as
    ``dgtui ls --endpoint-url … --profile backup``: an option's value is
    never taken for a command.
    """
    if any(a in ("-h", "--help", "--version") for a in argv[:1]):
        return argv
    leading: list[str] = []
    index = 0
    while index < len(argv) and argv[index].startswith("-") and argv[index] not in ("-h", "--help"):
        leading.append(argv[index])
        if argv[index] in _VALUE_OPTIONS and index + 1 < len(argv):
            leading.append(argv[index + 1])
            index += 1
        index += 1
    rest = argv[index:]
    first = rest[0] if rest else None
    if first in COMMANDS or (first is not None and not first.startswith("s3://") and not first.startswith("-")):
        return [first, *leading, *rest[1:]]  # a command, or a typo that argparse reports as one
    return ["browse", *leading, *rest]


def _client(args: argparse.Namespace):
    from .core.client import create_client

    return create_client(endpoint_url=args.endpoint_url, profile=args.profile, region_name=args.region,
                         addressing_style=args.addressing_style)


class ProgressLine:
    """A one-line progress display on stderr, only on a terminal."""

    def __init__(self, label: str, enabled: bool | None = None):
        self.label = display_key(label, 50)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.started = time.monotonic()
        self.last = 0.0

    def __call__(self, done: int, total: int, stage: str) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.2 and done < total):
            return
        self.last = now
        rate = done / max(now - self.started, 1e-6)
        pct = f"{done * 100 // total:3d}%" if total else "    "
        sys.stderr.write(f"\r{self.label}: {stage:<18} {pct} {human(done)}/{human(total)} {human(int(rate))}/s   ")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()


def _emit_json(obj: Any) -> None:
    print(json.dumps(obj, default=str, ensure_ascii=True))


# --- commands --------------------------------------------------------------

def cmd_ls(args: argparse.Namespace) -> int:
    client = _client(args)
    if not args.url:
        for b in client.list_buckets()["Buckets"]:
            if b["Name"] in HIDDEN_BUCKETS:
                continue  # the demo's bookkeeping, hidden as the app hides it
            if args.json:
                _emit_json({"bucket": b["Name"], "created": b.get("CreationDate")})
            else:
                print(f"{shown(str(b.get('CreationDate', ''))[:19]):19}  {shown('s3://' + b['Name'])}")
        return 0
    from .core.client import parse_s3_url

    bucket, prefix = parse_s3_url(args.url)
    delimiter = None if args.recursive else "/"
    for page in client.iter_pages(bucket, prefix, delimiter=delimiter, ranged=True):
        for p in page.common_prefixes:
            if args.json:
                _emit_json({"prefix": p})
            else:
                print(f"{'':19}  {'PRE':>10}  {shown(p)}")
        for o in page.contents:
            if args.json:
                _emit_json({"key": o.key, "size": o.size if o.size_known else None, "last_modified": o.last_modified,
                            "etag": o.etag, "is_delta": o.is_delta, **({"problem": o.answer_problem}
                                                                      if o.answer_problem else {})})
            else:
                kind = "delta" if o.is_delta else ""
                size = human(o.size if o.size_known else None)
                print(f"{o.last_modified[:19].replace('T', ' '):19}  {size:>10}  {kind:5}  {shown(o.key)}")
                if o.answer_problem:
                    print(f"warning: {shown(f's3://{bucket}/{o.key}')}: {safe_line(o.answer_problem)}", file=sys.stderr)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from .core.client import parse_s3_url

    client = _client(args)
    bucket, prefix = parse_s3_url(args.url)
    bar = ProgressLine(f"stats {bucket}")
    if args.by_folder or args.sampled:
        if args.by_folder and args.sampled:
            raise DgError("--by-folder and --sampled are separate views; choose one")
        run = run_by_folder if args.by_folder else run_sampled
        return run(args, client, bucket, prefix, bar, shown, human)
    stats = client.get_bucket_stats(bucket, prefix=prefix, detailed_stats=args.detailed,
                                    progress=(lambda d, t: bar(d, t, "reading metadata")) if args.detailed else None)
    bar.finish()
    if args.json:
        _emit_json(asdict(stats))
        return 0
    est = (" (estimate: quick mode guesses each delta's original size as its reference's size; use --detailed)"
           if stats.estimated and not stats.detailed else "")
    rows = [
        ("location", shown(f"s3://{bucket}/{prefix}")),
        ("objects", f"{stats.object_count} ({stats.delta_objects} delta, {stats.direct_objects} other)"),
        ("original size", human(stats.total_size) + est),
        ("stored size", f"{human(stats.compressed_size)} "
                        f"(references: {stats.reference_objects}, {human(stats.reference_size)})"),
        ("space saved", f"{human(stats.space_saved)} ({percent(stats.savings_percent)})"),
        ("mode", "detailed" if stats.detailed else
         "quick (reads no metadata: encryption and invalid metadata not checked; use --detailed)"),
    ]
    if stats.metadata_invalid:
        rows.append(("metadata invalid", str(stats.metadata_invalid)))
    if stats.encrypted_objects:
        rows.append(("proxy-encrypted", f"{stats.encrypted_objects} (readable only through deltaglider_proxy)"))
    if stats.older_copies:
        rows.append(("older copies", f"{stats.older_copies} (beside a newer copy of the same name)"))
    if stats.housekeeping_objects:
        rows.append(("housekeeping", f"{stats.housekeeping_objects} (deltaglider_proxy's _dgp/ locks and leases)"))
    for k, v in rows:
        print(f"{k:>16}: {v}")
    if stats.delta_objects and not stats.reference_objects:
        print(f"warning: {plural(stats.delta_objects, 'delta')} but no reference under "
              f"{shown(f's3://{bucket}/{prefix}')}: they cannot be restored; run: dgtui audit "
              f"{shown(f's3://{bucket}/{prefix}')}", file=sys.stderr)
    return 0


class _CliJob(Job):
    """A transfer on the command line: progress on stderr, questions answered by the flags."""

    def __init__(self, bar: ProgressLine, answers: dict[str, str]) -> None:
        super().__init__()
        self.bar = bar
        self.answers = answers

    def on_progress(self, done: int, total: int, stage: str) -> None:
        super().on_progress(done, total, stage)
        self.bar(done, total, stage)

    def ask(self, question: Question) -> str | None:
        return self.answers.get(question.title)


@contextmanager
def _ctrl_c_cancels(job: Job) -> Iterator[None]:
    """The first Ctrl-C cancels the job, which ends after the file under way and says what it did;
    a second one interrupts at once."""
    import signal

    def interrupted(signum: int, frame: object) -> None:
        if job.should_cancel():
            raise KeyboardInterrupt
        job.cancel()
        if previous is _on_exit_signal:
            # The command owns the process: a file hanging on a silent server would not see the cancel
            # before the stall limit, so the process still ends within UNWIND_SECONDS, as any Ctrl-C does.
            _arm_overdue(signum)

    try:
        previous = signal.signal(signal.SIGINT, interrupted)
    except ValueError:  # not the main thread: Ctrl-C keeps its usual meaning
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def cmd_get(args: argparse.Namespace) -> int:
    from .transfers import check_of, restore_prefix

    client = _client(args)
    if args.recursive and args.version_id:
        raise DgError("--version-id names a version of one object; it cannot go with --recursive")
    if args.at or args.include_deleted:
        return _get_as_of(client, args)
    if args.recursive:
        bar = ProgressLine("restore")
        job = _CliJob(bar, {"Some files already exist": "overwrite" if args.overwrite else "skip",
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

        with _ctrl_c_cancels(job):
            outcome = restore_prefix(client, job, args.url, args.dest, on_item=on_item, read_sizes=False)
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
            _emit_json({"restored": [asdict(r) for r in outcome.results],
                        "already_restored": [path for _, path in outcome.already],
                        "kept": [path for _, path in outcome.kept],
                        "problems": outcome.failures + ([(args.url, outcome.stopped)] if outcome.stopped else []),
                        "not_restored": outcome.left()})
        else:
            for result in outcome.results:
                if result.rescued:
                    print(f"rescued {shown(result.key)} -> {shown(result.path)} ({check_of(result)})")
            print(outcome.line(more=""))
        if outcome.cancelled:
            raise KeyboardInterrupt
        return 1 if outcome.failures or outcome.kept or outcome.stopped else 0
    from .core.client import parse_s3_url

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
        _emit_json(asdict(result))
    elif result.rescued:
        print(f"rescued the decompressed contents to {shown(result.path)} "
              f"(checked by the delta's checksums; sha256 {result.sha256})")
    else:
        print(f"restored {shown(result.path)} ({human(result.size)}, {check_of(result)})")
    return 0


def _get_as_of(client: Any, args: argparse.Namespace) -> int:
    """``get -r --at TIME`` / ``--include-deleted``: a folder as it stood then, from the bucket's versions."""
    from .core.versions import parse_point_in_time
    from .transfers import check_of

    if not args.recursive:
        raise DgError("--at and --include-deleted restore a folder: add --recursive (for one object, "
                      "use --version-id; see: dgtui versions S3_URL)")
    at = parse_point_in_time(args.at) if args.at else None
    bar = ProgressLine("restore")

    def on_item(key: str, result: Any, _exc: Exception | None) -> None:
        bar.label = display_key(key.rsplit("/", 1)[-1], 40)
        if result is not None and not args.json:
            bar.finish()
            print(f"restored {shown(key)} -> {shown(result.path)} ({check_of(result)})")

    done, problems = client.download_prefix_as_of(args.url, args.dest, at=at, include_deleted=args.include_deleted,
                                                  overwrite=args.overwrite, progress=bar, on_item=on_item)
    bar.finish()
    for key, reason in problems:
        print(f"failed {shown(key)}: {safe_line(reason)}", file=sys.stderr)
    if args.json:
        _emit_json({"at": at.isoformat() if at else None, "restored": [asdict(r) for r in done],
                    "problems": problems})
    else:
        when = f" as of {at.isoformat(timespec='seconds')}" if at else ""
        print(f"restored {plural(len(done), 'file')}{when}"
              + (f"; {plural(len(problems), 'file')} not restored" if problems else ""))
    return 1 if problems else 0


def cmd_versions(args: argparse.Namespace) -> int:
    from .core.client import parse_s3_url

    client = _client(args)
    bucket, key = parse_s3_url(args.url, need_key=not args.recursive)
    if not args.recursive and key.endswith("/"):
        raise DgError(f"{display_key(args.url)} is a folder; use --recursive for the versions of every key under it")
    status = client.bucket_versioning(bucket)
    if status != "Enabled":
        print(f"warning: versioning is {'suspended' if status == 'Suspended' else 'off'} on bucket "
              f"{shown(bucket)}: what is overwritten or deleted now is not kept", file=sys.stderr)
    count = 0
    for logical, versions in client.versions(args.url, recursive=args.recursive, original_sizes=args.sizes):
        if not args.json:
            print(shown(logical))
        for v in versions:
            count += 1
            if args.json:
                _emit_json(v.as_dict())
                continue
            when = v.last_modified.astimezone().strftime("%Y-%m-%d %H:%M:%S") if v.last_modified else ""
            form = "deleted" if v.is_delete_marker else v.stored_form
            size = "" if v.is_delete_marker else human(v.size)
            original = "" if v.is_delete_marker or v.original_size is None else human(v.original_size)
            print(f"  {when:19}  {'latest' if v.is_latest else '':6}  {form:7}  {size:>10}  {original:>10}  "
                  f"{shown(v.version_id)}")
    if not count and args.recursive and not args.json:
        print(f"no versions under {shown(args.url)}")
    return 0


def cmd_put(args: argparse.Namespace) -> int:
    from .core.client import parse_s3_url
    from .transfers import upload_files, upload_line

    client = _client(args)
    target = args.url
    if len(args.files) > 1 and not target.endswith("/"):
        target += "/"
    bucket, key = parse_s3_url(target)
    bar = ProgressLine("upload")
    job = _CliJob(bar, {})

    def on_item(path: Path, summary, exc) -> None:
        bar.finish()
        if exc is not None:
            raise exc  # one line and exit 1, as before: the first failure stops the command
        if args.json:
            _emit_json(asdict(summary))
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

    from .core import tempfiles
    from .core.client import parse_s3_url
    from .transfers import verify_object

    client = _client(args)
    bucket, key = parse_s3_url(args.url)
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
            result = verify_object(client, url, Path(tmp))
            if result.ok:
                unchecked += result.status == "unchecked"
                digest = f" (sha256 {result.sha256})" if result.sha256 else ""
                print(f"OK {shown(url)}: {safe_line(result.message)}{digest}")
            else:
                failed += 1
                print(f"FAILED {shown(url)}: {safe_line(result.message)}", file=sys.stderr)
    if len(urls) > 1:
        print(f"{len(urls) - failed} of {len(urls)} objects OK"
              + (f", {unchecked} of them without a checksum to check" if unchecked else "")
              + (f"; {failed} FAILED" if failed else ""))
    return 3 if failed else 0


class CountLine:
    """A one-line count of what an audit has done, on stderr, only on a terminal."""

    def __init__(self, label: str, enabled: bool | None = None):
        self.label = display_key(label, 50)
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.last = 0.0
        self.shown = False

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if not self.enabled or (now - self.last < 0.2 and done < total):
            return
        self.last = now
        self.shown = True
        count = f"{done:,}/{total:,}" if total else f"{done:,}"
        sys.stderr.write(f"\r{self.label}: {stage} {count}          ")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled and self.shown:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()
            self.shown = False


def cmd_audit(args: argparse.Namespace) -> int:
    from .core.client import parse_s3_url

    client = _client(args)
    bucket, _ = parse_s3_url(args.url)
    if args.workers is not None and args.workers < 1:
        raise DgError("--workers must be at least 1")
    bar = CountLine(f"audit {args.url}")
    auditor = client.audit(args.url, full=args.full, progress=bar, workers=args.workers)
    found = []
    try:
        for problem in auditor:
            if args.json:
                found.append(problem.to_dict())
                continue
            bar.finish()
            print(f"{problem.kind.label}: {shown(f's3://{bucket}/{problem.key}')}: {safe_line(problem.message)}"
                  + (f"; run: {shown(problem.command)}" if problem.command else ""))
    except KeyboardInterrupt:
        bar.finish()
        summary = auditor.summary
        print(f"dgtui: audit interrupted after {plural(summary.objects, 'object')}; "
              f"{plural(summary.problem_count, 'problem')} found so far", file=sys.stderr)
        return 130
    bar.finish()
    summary = auditor.summary
    if args.json:
        _emit_json({"summary": summary.to_dict(), "problems": found})
    else:
        print(audit_summary_line(summary))
    return 3 if summary.problem_count else 0


def audit_summary_line(summary: AuditSummary) -> str:
    from .core.audit import ProblemKind

    where_ = shown(f"s3://{summary.bucket}/{summary.prefix}")
    if not summary.objects:
        return f"audited {where_}: nothing is stored there"
    parts = [f"{plural(summary.objects, 'stored object')}: {plural(summary.deltas, 'delta')} in "
             f"{plural(summary.folders, 'folder')}, {plural(summary.references, 'reference')}, "
             f"{human_count(summary.other_objects)} other"]
    if summary.proxy_encrypted:
        parts.append(f"{summary.proxy_encrypted:,} encrypted by deltaglider_proxy (only the proxy can read them)")
    if summary.full:
        parts.append(f"{plural(summary.rebuilt, 'delta')} rebuilt and {plural(summary.checked, 'other object')} "
                     f"checked: {human(summary.bytes_checked)} read from the bucket, {human(summary.bytes_rebuilt)} "
                     "rebuilt")
        if summary.unchecked:
            parts.append(f"{summary.unchecked:,} could not be checked by their bytes")
    else:
        parts.append(f"metadata of {summary.metadata_read:,} read (--full also checks the bytes)")
    if summary.wasted_bytes:
        parts.append(f"{human(summary.wasted_bytes)} stored for nothing")
    if summary.problem_count:
        kinds = ", ".join(f"{n:,} {ProblemKind(k).label}" for k, n in sorted(summary.problems.items()))
        verdict = f"{plural(summary.problem_count, 'problem')} ({kinds})"
    else:
        verdict = "no problems found"
    return f"audited {where_}: {verdict}; " + "; ".join(parts)


def cmd_rm(args: argparse.Namespace) -> int:
    from .core.client import parse_s3_url

    client = _client(args)
    bucket, key = parse_s3_url(args.url)
    if args.recursive:
        result = client.delete_prefix(args.url)
        print(f"deleted {plural(result['deleted'], 'stored object')} under {shown(args.url)}")
        for k, reason in result["errors"]:
            print(f"failed {shown(k)}: {safe_line(str(reason))}", file=sys.stderr)
        return 1 if result["errors"] else 0
    if not key or key.endswith("/"):
        raise DgError(f"{display_key(args.url)} is a prefix; use --recursive to delete everything under it")
    client.head_object(Bucket=bucket, Key=key)  # a clear "not found" before deleting
    result = client.delete_object(Bucket=bucket, Key=key)
    print(f"deleted {shown(args.url)}")
    for ref in result.get("RemovedReferences", []):
        print(f"removed the unused reference {shown(f's3://{bucket}/{ref}')}")
    return 0


def cmd_mb(args: argparse.Namespace) -> int:
    from .core.client import parse_s3_url

    bucket, _ = parse_s3_url(args.url)
    client = _client(args)
    existed = any(b["Name"] == bucket for b in client.list_buckets()["Buckets"])
    client.create_bucket(Bucket=bucket)
    url = shown(f"s3://{bucket}")
    print(f"bucket {url} already existed; nothing changed" if existed else f"bucket {url} created")
    return 0


def cmd_browse(args: argparse.Namespace) -> int:
    if not codec.xdelta3_available():
        print(f"note: xdelta3 is not installed; browsing works, restoring or uploading deltas needs: "
              f"{XDELTA3_INSTALL_HINT}", file=sys.stderr)
    from .app.app import run_app

    return run_app(endpoint_url=args.endpoint_url, profile=args.profile, region=args.region, start_url=args.url,
                   addressing_style=args.addressing_style)


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo.server import find_weed

    find_weed()  # one line naming the extra to install when SeaweedFS is missing
    if not codec.xdelta3_available():
        raise DgError(f"the demo stores real deltas and needs xdelta3; install it with: {XDELTA3_INSTALL_HINT}")
    from .demo.sample import run_demo

    return run_demo(reset=args.reset, serve_only=args.serve_only)


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "ls": cmd_ls, "stats": cmd_stats, "get": cmd_get, "put": cmd_put, "verify": cmd_verify,
    "audit": cmd_audit, "rm": cmd_rm, "mb": cmd_mb, "browse": cmd_browse, "demo": cmd_demo,
    "versions": cmd_versions,
}


#: after Ctrl-C, SIGTERM or SIGHUP, how long the command may take to unwind before it is ended
UNWIND_SECONDS = 1.0
_EXIT_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
#: the signal that is ending the process (None: none yet)
_stopping: int | None = None
_said_interrupted = False


def _say_interrupted(*, raw: bool = False) -> None:
    """"dgtui: interrupted", once; ``raw`` from a signal handler or a timer (straight to the descriptor: the
    thread that was stopped may hold sys.stderr's lock)."""
    global _said_interrupted
    if _said_interrupted:
        return
    _said_interrupted = True
    try:
        if raw:
            os.write(2, b"dgtui: interrupted\n")
        else:
            print("dgtui: interrupted", file=sys.stderr)
    except (OSError, ValueError):
        pass


def _end_now(code: int) -> None:
    """End the process at once: this process's temporary files removed, threads not waited for.

    A thread blocked on a server that never answers (or a pool joining it) would otherwise keep
    the process alive for minutes after Ctrl-C or ``q``.
    """
    from .core import tempfiles

    tempfiles.remove_all()
    os._exit(code)


def _on_exit_signal(signum: int, _frame: Any) -> None:
    """Ctrl-C, SIGTERM, SIGHUP: unwind as an interrupt (the command cleans up and says what it did), but
    end within ``UNWIND_SECONDS`` whatever is hanging; a second signal ends it at once."""
    if _stopping is not None:
        _say_interrupted(raw=True)
        _end_now(128 + _stopping)
    _arm_overdue(signum)
    raise KeyboardInterrupt


def _arm_overdue(signum: int) -> None:
    """The process is stopping because of ``signum``: it ends with 128 + ``signum`` once the command has
    unwound (``_finish``), or after ``UNWIND_SECONDS`` whatever is hanging."""
    global _stopping
    _stopping = signum

    def overdue() -> None:
        _say_interrupted(raw=True)
        _end_now(128 + signum)

    timer = threading.Timer(UNWIND_SECONDS, overdue)
    timer.daemon = True
    timer.start()


def _catch_exit_signals() -> None:
    for name in _EXIT_SIGNALS:
        number = getattr(signal, name, None)
        if number is not None:
            signal.signal(number, _on_exit_signal)


def _finish(code: int) -> int:
    """The exit status, output flushed. Interrupted: the process ends here. Otherwise it ends the usual
    way, but a thread still blocked on the network (which the interpreter would wait for) gets at most
    ``UNWIND_SECONDS`` before the process ends without it."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if _stopping is not None:
        _end_now(128 + _stopping)
    timer = threading.Timer(UNWIND_SECONDS, _end_now, args=(code,))
    timer.daemon = True
    timer.start()
    return code


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the command itself (not a call from Python): it owns the process
        _catch_exit_signals()
        return _finish(_main(sys.argv[1:]))
    return _main(list(argv))


def _main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(_normalise_argv(argv))
    if getattr(args, "debug", False):
        from .core.logs import configure_debug_logging

        configure_debug_logging()
    try:
        return HANDLERS[args.command](args)
    except DgError as exc:
        print(f"dgtui: error: {safe_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        _say_interrupted()
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        print(f"dgtui: error: {safe_line(str(exc), 300)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line, the traceback only with --debug
        if getattr(args, "debug", False):
            import traceback

            traceback.print_exc()
        print(f"dgtui: unexpected error: {type(exc).__name__}: {safe_line(str(exc), 300)} "
              f"(run with --debug for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
