"""Deterministic data sets, built with raw boto3 (setup is never timed).

Each builder first checks whether its data set is already there (a marker
object, or the expected keys), so a run on a kept ``--work-dir`` skips work.
"""

from __future__ import annotations

import hashlib
import os
import random
import zipfile
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .env import BenchEnv

LIST_BUCKET = "bench-list"
LIST_PREFIX = "big/"
STATS_BUCKET = "bench-stats"
UPLOAD_BUCKET = "bench-upload"
RESTORE_BUCKET = "bench-restore"
RESTORE_PREFIX = "rel/"
MEMORY_BUCKET = "bench-memory"
AUDIT_BUCKET = "bench-audit"
MARKER_BUCKET = "bench-markers"

SEED = 20261125
DG_TOOL = "deltaglider/6.2.0"
FIXED_TIME = "2026-01-01T00:00:00Z"


def _marker_present(env: BenchEnv, admin: Any, bucket: str, name: str) -> bool:
    """Markers say "this data set is complete"; they live in a bucket of their own so that
    no benchmarked bucket holds anything but its data set."""
    env.ensure_bucket(MARKER_BUCKET)
    try:
        admin.head_object(Bucket=MARKER_BUCKET, Key=f"{bucket}/{name}")
        return True
    except admin.exceptions.ClientError:
        return False


def _put_marker(admin: Any, bucket: str, name: str) -> None:
    admin.put_object(Bucket=MARKER_BUCKET, Key=f"{bucket}/{name}", Body=b"")


# -- the listing data set ---------------------------------------------------------

def list_bucket(n: int) -> str:
    return f"{LIST_BUCKET}-{n}"


def list_key(i: int) -> str:
    return f"{LIST_PREFIX}obj-{i:06d}.bin"


def _fill_list_chunk(endpoint: str, access: str, secret: str, bucket: str, start: int, stop: int) -> int:
    import boto3
    from botocore.config import Config

    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access, aws_secret_access_key=secret,
                          region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}, max_pool_connections=32,
                                        request_checksum_calculation="when_required",
                                        retries={"mode": "standard", "max_attempts": 8}))

    def put(i: int) -> None:
        client.put_object(Bucket=bucket, Key=list_key(i), Body=b"%06d\n" % i)

    with ThreadPoolExecutor(24) as pool:
        list(pool.map(put, range(start, stop)))
    return stop - start


def build_list(env: BenchEnv, n: int, log) -> None:
    """``n`` small objects directly under ``big/`` (one flat folder, as a build-artifact prefix is)."""
    admin = env.admin()
    bucket = list_bucket(n)
    env.ensure_bucket(bucket)
    marker = f"list-{n}"
    if _marker_present(env, admin, bucket, marker):
        return
    log(f"building {n:,} objects under s3://{bucket}/{LIST_PREFIX} …")
    procs = max(1, min(4, os.cpu_count() or 1))
    step = 2_000
    chunks = [(i, min(i + step, n)) for i in range(0, n, step)]
    if n <= step:
        _fill_list_chunk(env.server.endpoint_url, env.server.access_key, env.server.secret_key, bucket, 0, n)
    else:
        import multiprocessing

        with ProcessPoolExecutor(procs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [pool.submit(_fill_list_chunk, env.server.endpoint_url, env.server.access_key,
                                   env.server.secret_key, bucket, a, b) for a, b in chunks]
            done = 0
            for f in futures:
                done += f.result()
                if done % 20_000 == 0:
                    log(f"  {done:,} / {n:,}")
    _put_marker(admin, bucket, marker)


# -- the stats data set ----------------------------------------------------------

def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class StatsTruth:
    deltas: int
    original_total: int  #: sum of dg-file-size over all deltas
    stored_total: int  #: bytes stored: deltas plus references


def build_stats(env: BenchEnv, n: int, spaces: int, log) -> StatsTruth:
    """``n`` small ``.delta`` objects with valid DeltaGlider metadata and a reference per deltaspace.

    Both tools only HEAD deltas for statistics, so the delta bodies are
    stand-ins; the metadata is exactly what DeltaGlider 6.2.0 writes.
    """
    admin = env.admin()
    bucket = stats_bucket(n)
    env.ensure_bucket(bucket)
    rng = random.Random(SEED)
    refs = []
    for s in range(spaces):
        body = random.Random(f"ref-{s}").randbytes(16_384)
        refs.append((f"releases/app-{s}/reference.bin", body, hashlib.sha256(body).hexdigest()))
    deltas = []
    for i in range(n):
        s = i % spaces
        ref_key, _, ref_sha = refs[s]
        name = f"app-{s}-1.{i // spaces}.{i % 7}.zip"
        size = 40_000_000 + rng.randrange(20_000_000)
        body_len = 200 + rng.randrange(3_000)
        meta = {
            "dg-tool": DG_TOOL, "dg-original-name": name, "dg-file-sha256": _sha(f"file-{i}"),
            "dg-file-size": str(size), "dg-created-at": FIXED_TIME, "dg-ref-key": ref_key,
            "dg-ref-sha256": ref_sha, "dg-delta-size": str(body_len),
            "dg-delta-cmd": f"xdelta3 -e -9 -s reference.bin {name} {name}.delta",
        }
        deltas.append((f"releases/app-{s}/{name}.delta", body_len, meta))
    truth = StatsTruth(deltas=n, original_total=sum(int(m["dg-file-size"]) for _, _, m in deltas),
                       stored_total=sum(b for _, b, _ in deltas) + sum(len(b) for _, b, _ in refs))
    marker = f"stats-{n}-{spaces}"
    if _marker_present(env, admin, bucket, marker):
        return truth
    log(f"building {n:,} deltas in {spaces} deltaspaces in s3://{bucket}/ …")
    for key, body, sha in refs:
        admin.put_object(Bucket=bucket, Key=key, Body=body, Metadata={
            "dg-tool": DG_TOOL, "dg-source-name": "app-1.0.0.zip", "dg-file-sha256": sha,
            "dg-created-at": FIXED_TIME, "dg-note": "reference"})

    def put(item: tuple[str, int, dict[str, str]]) -> None:
        key, body_len, meta = item
        admin.put_object(Bucket=bucket, Key=key, Body=bytes(body_len), Metadata=meta)

    with ThreadPoolExecutor(32) as pool:
        list(pool.map(put, deltas))
    _put_marker(admin, bucket, marker)
    return truth


def stats_bucket(n: int) -> str:
    return f"{STATS_BUCKET}-{n}"


# -- archives: a .zip whose versions change a little ------------------------------

def archive_versions(env: BenchEnv, size: int, count: int, log) -> list[Path]:
    """``count`` versions of a ~``size``-byte zip (stored members, so it is as incompressible as a
    real archive of compressed files). Each version rewrites part of one member, bumps a manifest,
    and grows a changelog: what a nightly build of an application looks like."""
    folder = env.files(f"archive-{size}")
    paths = [folder / f"app-1.0.{k}.zip" for k in range(count)]
    if all(p.exists() for p in paths):
        return paths
    log(f"writing {count} versions of a {size / 2**20:.0f} MB archive …")
    member_count = 48
    member_size = max(4096, size // member_count)
    members = [bytearray(random.Random(f"{SEED}-member-{m}").randbytes(member_size)) for m in range(member_count)]
    changelog = []
    for k in range(count):
        rng = random.Random(f"{SEED}-version-{k}")
        if k:
            for _ in range(2):
                m = rng.randrange(member_count)
                span = min(16_384, member_size // 4)
                at = rng.randrange(member_size - span)
                members[m][at:at + span] = rng.randbytes(span)
            changelog.append(f"1.0.{k}: fixed issue #{rng.randrange(10_000)}\n")
        tmp = paths[k].with_suffix(".part")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
            stamp = (2026, 1, 1, 0, 0, 0)
            z.writestr(zipfile.ZipInfo("MANIFEST.txt", stamp), f"name: app\nversion: 1.0.{k}\n")
            z.writestr(zipfile.ZipInfo("CHANGELOG.txt", stamp), "".join(changelog))
            for m, data in enumerate(members):
                z.writestr(zipfile.ZipInfo(f"lib/module-{m:02d}.so", stamp), bytes(data))
        tmp.replace(paths[k])
    return paths


# -- restore data set: uploaded by DeltaGlider, as a DeltaGlider user's bucket is ----

def build_restore(env: BenchEnv, versions: list[Path], log) -> list[str]:
    """The versions uploaded into one deltaspace by DeltaGlider 6.2.0; returns their logical keys."""
    admin = env.admin()
    env.ensure_bucket(RESTORE_BUCKET)
    size = versions[0].stat().st_size
    prefix = f"{RESTORE_PREFIX}{size}/"
    keys = [prefix + p.name for p in versions]
    marker = f"restore-{size}-{len(versions)}"
    if _marker_present(env, admin, RESTORE_BUCKET, marker):
        return keys
    log(f"uploading {len(versions)} versions with DeltaGlider into s3://{RESTORE_BUCKET}/{prefix} …")
    dg = env.deltaglider(env.server.endpoint_url)
    for p in versions:
        dg.upload(str(p), f"s3://{RESTORE_BUCKET}/{prefix}")
    _put_marker(admin, RESTORE_BUCKET, marker)
    return keys


# -- big files for the memory case ---------------------------------------------------

BLOCK = 64 * 1024 * 1024


def big_file(path: Path, size: int, salt: str) -> Path:
    """``size`` bytes that no compressor shrinks: one random block (at most 64 MB), repeated
    with the block number and the salt written over its start so no two blocks are equal."""
    if path.exists() and path.stat().st_size == size:
        return path
    block = bytearray(random.Random(f"{SEED}-big").randbytes(min(BLOCK, size)))
    tmp = path.with_suffix(path.suffix + ".part")
    with open(tmp, "wb") as f:
        written = 0
        n = 0
        while written < size:
            stamp = hashlib.sha256(f"{salt}-{n}".encode()).digest() * 128  # 4 KiB
            block[:len(stamp)] = stamp
            chunk = memoryview(block)[: min(len(block), size - written)]
            f.write(chunk)
            written += len(chunk)
            n += 1
    tmp.replace(path)
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(4 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# -- audit data set: one folder of deltas as DeltaGlider 6.2.0 writes them --------------

@dataclass(frozen=True)
class AuditFolder:
    prefix: str
    stored_keys: list[str]  #: the ``.delta`` keys


def build_audit(env: BenchEnv, n: int, size: int, log) -> AuditFolder:
    """A reference and ``n`` deltas in one folder, encoded and labelled the way DeltaGlider 6.2.0 does
    (``xdelta3 -e -9 -s reference``, its metadata), uploaded with raw boto3.

    Each version is the reference with a different 4 KiB stretch rewritten, as nightly builds differ.
    """
    import subprocess

    admin = env.admin()
    env.ensure_bucket(AUDIT_BUCKET)
    prefix = f"nightly-{n}-{size}/"
    keys = [f"{prefix}app-1.0.{k}.zip.delta" for k in range(n)]
    marker = f"audit-{n}-{size}"
    if _marker_present(env, admin, AUDIT_BUCKET, marker):
        return AuditFolder(prefix, keys)
    log(f"building {n} deltas of {size / 2**20:.2f} MB files in s3://{AUDIT_BUCKET}/{prefix} …")
    folder = env.files(f"audit-{size}")
    reference = bytes(random.Random(f"{SEED}-audit").randbytes(size))
    ref_path = folder / "reference.bin"
    ref_path.write_bytes(reference)
    ref_sha = hashlib.sha256(reference).hexdigest()
    admin.put_object(Bucket=AUDIT_BUCKET, Key=f"{prefix}reference.bin", Body=reference, Metadata={
        "dg-tool": DG_TOOL, "dg-source-name": "app-1.0.0.zip", "dg-file-sha256": ref_sha,
        "dg-created-at": FIXED_TIME, "dg-note": "reference"})

    def one(k: int) -> None:
        rng = random.Random(f"{SEED}-audit-{k}")
        data = bytearray(reference)
        at = rng.randrange(0, max(1, size - 4096))
        data[at:at + 4096] = rng.randbytes(min(4096, size - at))
        name = f"app-1.0.{k}.zip"
        src, out = folder / f"{name}.part", folder / f"{name}.delta"
        src.write_bytes(data)
        subprocess.run(["xdelta3", "-e", "-f", "-9", "-s", str(ref_path), str(src), str(out)], check=True)
        body = out.read_bytes()
        admin.put_object(Bucket=AUDIT_BUCKET, Key=keys[k], Body=body, Metadata={
            "dg-tool": DG_TOOL, "dg-original-name": name, "dg-file-sha256": hashlib.sha256(data).hexdigest(),
            "dg-file-size": str(size), "dg-created-at": FIXED_TIME, "dg-ref-key": f"{prefix}reference.bin",
            "dg-ref-sha256": ref_sha, "dg-delta-size": str(len(body)),
            "dg-delta-cmd": f"xdelta3 -e -9 -s reference.bin {name} {name}.delta"})
        src.unlink()
        out.unlink()

    with ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
        list(pool.map(one, range(n)))
    _put_marker(admin, AUDIT_BUCKET, marker)
    return AuditFolder(prefix, keys)
