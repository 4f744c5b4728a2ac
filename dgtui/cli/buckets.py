"""``dgtui rm`` and ``dgtui mb``: deleting objects and creating buckets."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..core.errors import DgError
from ..core.text import display_key, plural, safe_line
from ..jobs.delete import delete_prefix
from ..jobs.job import Job
from .common import client_from, shown

if TYPE_CHECKING:
    pass


def cmd_rm(args: argparse.Namespace) -> int:
    from ..core.client import parse_s3_url

    client = client_from(args)
    bucket, key = parse_s3_url(args.url)
    if args.recursive:
        outcome = delete_prefix(client, Job(), args.url)
        print(f"deleted {plural(outcome.deleted, 'stored object')} under {shown(args.url)}")
        for k, reason in outcome.errors:
            print(f"failed {shown(k)}: {safe_line(str(reason))}", file=sys.stderr)
        return 1 if outcome.errors else 0
    if not key or key.endswith("/"):
        raise DgError(f"{display_key(args.url)} is a prefix; use --recursive to delete everything under it")
    client.head_object(Bucket=bucket, Key=key)  # a clear "not found" before deleting
    result = client.delete_object(Bucket=bucket, Key=key)
    print(f"deleted {shown(args.url)}")
    for ref in result.get("RemovedReferences", []):
        print(f"removed the unused reference {shown(f's3://{bucket}/{ref}')}")
    return 0


def cmd_mb(args: argparse.Namespace) -> int:
    from ..core.client import parse_s3_url

    bucket, _ = parse_s3_url(args.url)
    client = client_from(args)
    existed = any(b["Name"] == bucket for b in client.list_buckets()["Buckets"])
    client.create_bucket(Bucket=bucket)
    url = shown(f"s3://{bucket}")
    print(f"bucket {url} already existed; nothing changed" if existed else f"bucket {url} created")
    return 0
