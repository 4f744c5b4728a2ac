"""``dgtui ls`` and ``dgtui versions``: what a bucket holds, and what it held."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..core.config import HIDDEN_BUCKETS
from ..core.errors import DgError
from ..core.text import display_key, safe_line
from .common import client_from, emit_json, human, shown

if TYPE_CHECKING:
    pass


# --- commands --------------------------------------------------------------

def cmd_ls(args: argparse.Namespace) -> int:
    client = client_from(args)
    if not args.url:
        for b in client.list_buckets()["Buckets"]:
            if b["Name"] in HIDDEN_BUCKETS:
                continue  # the demo's bookkeeping, hidden as the app hides it
            if args.json:
                emit_json({"bucket": b["Name"], "created": b.get("CreationDate")})
            else:
                print(f"{shown(str(b.get('CreationDate', ''))[:19]):19}  {shown('s3://' + b['Name'])}")
        return 0
    from ..core.client import parse_s3_url

    bucket, prefix = parse_s3_url(args.url)
    delimiter = None if args.recursive else "/"
    for page in client.iter_pages(bucket, prefix, delimiter=delimiter, ranged=True):
        for p in page.common_prefixes:
            if args.json:
                emit_json({"prefix": p})
            else:
                print(f"{'':19}  {'PRE':>10}  {shown(p)}")
        for o in page.contents:
            if args.json:
                emit_json({"key": o.key, "size": o.size if o.size_known else None, "last_modified": o.last_modified,
                            "etag": o.etag, "is_delta": o.is_delta, **({"problem": o.answer_problem}
                                                                      if o.answer_problem else {})})
            else:
                kind = "delta" if o.is_delta else ""
                size = human(o.size if o.size_known else None)
                print(f"{o.last_modified[:19].replace('T', ' '):19}  {size:>10}  {kind:5}  {shown(o.key)}")
                if o.answer_problem:
                    print(f"warning: {shown(f's3://{bucket}/{o.key}')}: {safe_line(o.answer_problem)}", file=sys.stderr)
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    from ..core.client import parse_s3_url

    client = client_from(args)
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
                emit_json(v.as_dict())
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
