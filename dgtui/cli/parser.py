"""The command line: every command's arguments, and options that may come before the command."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from .savings import add_arguments as add_savings_arguments

if TYPE_CHECKING:
    pass


COMMANDS = ("demo", "ls", "stats", "get", "put", "verify", "audit", "rm", "mb", "browse", "versions")


def add_connection_options(p: argparse.ArgumentParser) -> None:
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
    add_connection_options(p)

    p = sub.add_parser("demo", help="run a local S3 server with sample data and open the browser on it")
    p.add_argument("--reset", action="store_true", help="start again from fresh sample data")
    p.add_argument("--serve-only", action="store_true", help="run only the server and print how to reach it")

    p = sub.add_parser("ls", help="list a bucket or prefix (no argument: list buckets)")
    p.add_argument("url", nargs="?", help="s3://bucket[/prefix/]")
    p.add_argument("--recursive", "-r", action="store_true", help="list every object below the prefix")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    add_connection_options(p)

    p = sub.add_parser("stats", help="compression statistics of a bucket or prefix")
    p.add_argument("url", help="s3://bucket[/prefix]")
    p.add_argument("--detailed", action="store_true",
                   help="read every object's metadata once, cached: exact numbers, encrypted objects counted "
                        "(with --by-folder: every delta's)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--versions", action="store_true",
                   help="what older versions and delete markers store on a versioned bucket (count and bytes; "
                        "per folder with --by-folder)")
    add_savings_arguments(p)
    add_connection_options(p)

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
    add_connection_options(p)

    p = sub.add_parser("versions", help="the versions of an object (or of every key below a prefix with --recursive)")
    p.add_argument("url", help="s3://bucket/key or s3://bucket/prefix/")
    p.add_argument("--recursive", "-r", action="store_true", help="every key below the prefix")
    p.add_argument("--sizes", action="store_true",
                   help="also read each version's original size (one HEAD per version)")
    p.add_argument("--json", action="store_true", help="one JSON object per version")
    add_connection_options(p)

    p = sub.add_parser("put", help="upload files (deltas where DeltaGlider's policy says so)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("url", help="s3://bucket/prefix/ (or s3://bucket/key for one file)")
    p.add_argument("--max-ratio", type=float, default=0.5,
                   help="store direct when the delta is larger than this share of the file (default 0.5)")
    p.add_argument("--json", action="store_true")
    add_connection_options(p)

    p = sub.add_parser("verify", help="rebuild an object and check its sha256")
    p.add_argument("url", help="s3://bucket/key")
    p.add_argument("--version-id", metavar="ID",
                   help="verify this version of the object (a delta against the reference version it was made "
                        "against; see: dgtui versions S3_URL)")
    add_connection_options(p)

    p = sub.add_parser("audit", help="check that everything under a prefix can be restored (exit 3 on problems)")
    p.add_argument("url", help="s3://bucket[/prefix]")
    p.add_argument("--full", action="store_true",
                   help="also rebuild every delta and read every object to check its bytes (slower)")
    p.add_argument("--json", action="store_true", help="one JSON document: the summary and every problem")
    p.add_argument("--workers", type=int, default=None, help="objects checked at once with --full")
    add_connection_options(p)

    p = sub.add_parser("rm", help="delete an object (or a prefix with --recursive)")
    p.add_argument("url", help="s3://bucket/key or s3://bucket/prefix/")
    p.add_argument("--recursive", "-r", action="store_true")
    add_connection_options(p)

    p = sub.add_parser("mb", help="create a bucket")
    p.add_argument("url", help="s3://bucket")
    add_connection_options(p)
    return parser


#: options that take a value, so the word after them is not a command
_VALUE_OPTIONS = ("--endpoint-url", "--profile", "--region", "--addressing-style")


def normalise_argv(argv: list[str]) -> list[str]:
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
