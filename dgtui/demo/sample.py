"""``dgtui demo``: a local S3 server filled with sample data that deltas suit.

The data is generated, never downloaded, and is byte-for-byte the same for a
given seed and scale: archives carry fixed timestamps and every byte comes
from ``random.Random``. It mimics what DeltaGlider is used for:

* ``releases``: three products, twelve versions each, as .zip files in one
  deltaspace per product (``acme-server/acme-server-1.3.0.zip``); versions
  differ in a few entries, so all but the first become small deltas;
* ``db-backups``: daily PostgreSQL dumps as .tar (deltas) and a few MySQL
  dumps as .sql.gz (delta-eligible, but too different, so stored direct);
  versioning is on, and the bucket has a bad day in its history: the last
  PostgreSQL dump was overwritten by one cut short, and the oldest MySQL
  dump was deleted (``V``, ``X`` and ``A`` get them back);
* ``ml-checkpoints``: tarred float32 weights per epoch, each epoch changing
  a small part of the weights;
* ``logs``: gzipped daily logs (stored direct) and text files.
"""

from __future__ import annotations

import array
import fcntl
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import signal
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from dgtui.core.config import DEMO_META_BUCKET
from dgtui.core.errors import DgError

DEFAULT_SEED = 2026
DEMO_ACCESS_KEY = "dgtui-demo"
#: local-only credentials of a server bound to 127.0.0.1
DEMO_SECRET_KEY = "dgtui-demo-secret"
DEMO_REGION = "us-east-1"
MAX_DELTA_RATIO = 0.5

ProgressFn = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class DemoMarker:
    """The object whose presence says the demo data is complete."""

    bucket: str
    key: str


DEMO_MARKER = DemoMarker(bucket=DEMO_META_BUCKET, key="seeded.json")


@dataclass(frozen=True, slots=True)
class DemoFile:
    """A generated file and where it goes."""

    bucket: str
    key: str
    path: Path

    @property
    def prefix(self) -> str:
        """The key's folder, with a trailing slash ("" at the bucket root)."""
        head, _, _ = self.key.rpartition("/")
        return f"{head}/" if head else ""


# --------------------------------------------------------------------------
# Layout: what exists at any scale (sizes scale, counts do not)
# --------------------------------------------------------------------------

RELEASES = "releases"
DB_BACKUPS = "db-backups"
ML_CHECKPOINTS = "ml-checkpoints"
LOGS = "logs"
DEMO_BUCKETS = (RELEASES, DB_BACKUPS, ML_CHECKPOINTS, LOGS)

#: product name -> archive size in bytes at scale 1
PRODUCTS = {"acme-cli": 10 << 20, "acme-server": 28 << 20, "acme-agent": 18 << 20}
VERSIONS = ("1.0.0", "1.0.1", "1.1.0", "1.1.1", "1.2.0", "1.3.0",
            "1.3.1", "1.4.0", "2.0.0", "2.0.1", "2.1.0", "2.1.1")
POSTGRES_DAYS = 14
POSTGRES_DUMP_SIZE = 10 << 20
MYSQL_DAYS = 3
MYSQL_DUMP_SIZE = 3 << 20
EPOCHS = 8
CHECKPOINT_PARAMS = 3_000_000
LOG_DAYS = 7
LOG_DAY_SIZE = 2 << 20
FIRST_DAY = datetime(2026, 11, 1, 2, 0, 0, tzinfo=timezone.utc)
ZIP_DATE_TIME = (2026, 11, 1, 12, 0, 0)
MIN_FILE_SIZE = 4096


def demo_file_count() -> int:
    """How many files :func:`iter_demo_files` yields, at any scale."""
    releases = 1 + len(PRODUCTS) * len(VERSIONS) + len(VERSIONS)
    backups = POSTGRES_DAYS + MYSQL_DAYS
    checkpoints = 1 + EPOCHS + 1
    logs = LOG_DAYS + 2
    return releases + backups + checkpoints + logs


def _scaled(size_at_scale_1: int, scale: float, minimum: int = MIN_FILE_SIZE) -> int:
    return max(minimum, int(size_at_scale_1 * scale))


def _day(index: int) -> datetime:
    return FIRST_DAY + timedelta(days=index)


def _epoch_seconds(moment: datetime) -> int:
    return int(moment.timestamp())


# --------------------------------------------------------------------------
# Deterministic building blocks
# --------------------------------------------------------------------------

WORDS = ("acme delta storage object bucket version release patch server client agent config "
         "update install package binary library network request response cache index table "
         "record backup restore checkpoint layer weight epoch metric region replica shard "
         "stream upload download verify checksum signature manifest module service").split()


def _words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(count))


def _text(rng: random.Random, size: int, line_words: int = 12) -> bytes:
    lines: list[str] = []
    length = 0
    while length < size:
        line = _words(rng, line_words).capitalize() + ".\n"
        lines.append(line)
        length += len(line)
    return "".join(lines).encode()


def _patched(rng: random.Random, data: bytes, regions: int, region_size: int) -> bytes:
    """data with a few regions overwritten, as a rebuilt binary differs."""
    changed = bytearray(data)
    size = min(region_size, max(1, len(changed) // 8))
    for _ in range(regions):
        offset = rng.randrange(0, len(changed) - size + 1)
        changed[offset:offset + size] = rng.randbytes(size)
    return bytes(changed)


def _with_insertion(rng: random.Random, data: bytes, size: int) -> bytes:
    """data with new bytes inserted, shifting everything after them."""
    offset = rng.randrange(0, len(data) + 1)
    return data[:offset] + rng.randbytes(size) + data[offset:]


def _write_zip(path: Path, entries: dict[str, bytes]) -> None:
    """A zip whose bytes depend only on the entries: fixed times, sorted names.

    Text is deflated and binaries stored, as release tooling usually does;
    an entry that did not change is byte-identical in the next version.
    """
    with zipfile.ZipFile(path, "w") as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
            info.create_system = 3
            is_text = name.endswith((".txt", ".md", ".yaml", "VERSION"))
            info.compress_type = zipfile.ZIP_DEFLATED if is_text else zipfile.ZIP_STORED
            info.external_attr = (0o755 if name.startswith("bin/") else 0o644) << 16
            archive.writestr(info, entries[name], compresslevel=6 if is_text else None)


def _write_tar(path: Path, members: list[tuple[str, bytes]], mtime: int) -> None:
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = mtime
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))


def _gzip(data: bytes, mtime: int) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=mtime)


class _Workspace:
    """Hands out a fresh path per generated file under a work directory."""

    def __init__(self, root: Path):
        self.root = root
        self._count = 0

    def file(self, bucket: str, key: str, data: bytes) -> DemoFile:
        path = self.path_for(key)
        path.write_bytes(data)
        return DemoFile(bucket, key, path)

    def path_for(self, key: str) -> Path:
        # A folder per file: the upload keeps the file name, and names repeat across buckets.
        self._count += 1
        folder = self.root / f"{self._count:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / key.rpartition("/")[2]


# --------------------------------------------------------------------------
# releases
# --------------------------------------------------------------------------


def _first_release(rng: random.Random, product: str, size: int) -> dict[str, bytes]:
    text_size = max(256, size // 40)
    entries = {
        f"bin/{product}": rng.randbytes(int(size * 0.55)),
        f"lib/lib{product}-core.so": rng.randbytes(int(size * 0.2)),
        f"lib/lib{product}-net.so": rng.randbytes(int(size * 0.12)),
        f"lib/lib{product}-crypto.so": rng.randbytes(int(size * 0.08)),
        f"etc/{product}.yaml": _config_yaml(rng, product, 0),
        "CHANGELOG.md": f"# {product} changelog\n".encode(),
        "LICENSE.txt": _text(rng, 2048),
    }
    for index in range(8):
        entries[f"share/doc/{product}-{index:02d}.txt"] = _text(rng, text_size // 8)
    return entries


def _config_yaml(rng: random.Random, product: str, version_index: int) -> bytes:
    lines = [f"name: {product}", f"workers: {2 + version_index % 5}",
             f"cache_mb: {rng.choice([64, 128, 256, 512])}", "listen: 127.0.0.1:8080",
             f"features: [{', '.join(sorted(rng.sample(WORDS, 3)))}]"]
    return ("\n".join(lines) + "\n").encode()


def _next_release(rng: random.Random, product: str, entries: dict[str, bytes], index: int, version: str,
                  size: int) -> None:
    """Change what a real release changes: version, changelog, parts of binaries."""
    binary = f"bin/{product}"
    patch_size = max(64, size // 5000)
    entries["VERSION"] = f"{version}\n".encode()
    entries["CHANGELOG.md"] = (f"## {version}\n- {_words(rng, 8)}\n- {_words(rng, 6)}\n\n".encode()
                               + entries["CHANGELOG.md"])
    entries[binary] = _with_insertion(rng, _patched(rng, entries[binary], 4, patch_size), patch_size)
    library = rng.choice(sorted(name for name in entries if name.startswith("lib/")))
    entries[library] = _patched(rng, entries[library], 1, patch_size)
    entries[f"etc/{product}.yaml"] = _config_yaml(rng, product, index)
    if index % 3 == 0:
        entries[f"share/plugins/plugin-{index:02d}.bin"] = rng.randbytes(max(256, size // 200))


def _release_files(work: _Workspace, rng: random.Random, scale: float) -> Iterator[DemoFile]:
    checksums: dict[str, list[str]] = {version: [] for version in VERSIONS}
    yield work.file(RELEASES, "README.txt", _releases_readme())
    for product, size_at_1 in PRODUCTS.items():
        size = _scaled(size_at_1, scale, minimum=16 * 1024)
        entries = _first_release(rng, product, size)
        for index, version in enumerate(VERSIONS):
            _next_release(rng, product, entries, index, version, size)
            name = f"{product}-{version}.zip"
            path = work.path_for(f"{product}/{name}")
            _write_zip(path, entries)
            checksums[version].append(f"{_sha256(path)}  {name}\n")
            yield DemoFile(RELEASES, f"{product}/{name}", path)
    for version in VERSIONS:
        yield work.file(RELEASES, f"checksums/SHA256SUMS-{version}.txt", "".join(checksums[version]).encode())


def _releases_readme() -> bytes:
    products = ", ".join(PRODUCTS)
    return (f"ACME release archive\n\nProducts: {products}.\n"
            "Each product folder is one DeltaGlider deltaspace: its first archive is the\n"
            "reference, later versions are stored as xdelta3 patches against it.\n").encode()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------
# db-backups
# --------------------------------------------------------------------------

ORDER_STATUSES = ("pending", "paid", "shipped", "delivered", "refunded")
CITIES = ("Berlin", "Lisbon", "Oslo", "Austin", "Osaka", "Lima", "Nairobi", "Perth", "Quebec", "Porto")
AVERAGE_ORDER_ROW = 60


@dataclass
class _Database:
    """Rows of a small shop database, kept as dump lines."""

    customers: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    next_order_id: int = 1

    def add_order(self, rng: random.Random, day: datetime) -> None:
        moment = day - timedelta(seconds=rng.randrange(86400))
        self.orders.append(
            f"{self.next_order_id}\t{rng.randrange(1, len(self.customers) + 1)}\t"
            f"{rng.randrange(100, 100000) / 100:.2f}\t{rng.choice(ORDER_STATUSES)}\t"
            f"{moment:%Y-%m-%d %H:%M:%S}\n")
        self.next_order_id += 1


def _new_database(rng: random.Random, dump_size: int) -> _Database:
    database = _Database()
    customer_count = max(10, dump_size // (AVERAGE_ORDER_ROW * 20))
    for number in range(1, customer_count + 1):
        name = f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()}"
        database.customers.append(f"{number}\t{name}\tuser{number}@example.com\t{rng.choice(CITIES)}\n")
    for _ in range(max(20, dump_size // AVERAGE_ORDER_ROW)):
        database.add_order(rng, FIRST_DAY - timedelta(days=rng.randrange(1, 365)))
    return database


def _next_day(rng: random.Random, database: _Database, day: datetime) -> None:
    """A day of business: new orders, some orders change status, a few vanish."""
    for _ in range(max(1, len(database.orders) // 150)):
        database.add_order(rng, day)
    for _ in range(max(1, len(database.orders) // 300)):
        index = rng.randrange(len(database.orders))
        fields = database.orders[index].split("\t")
        fields[3] = rng.choice(ORDER_STATUSES)
        database.orders[index] = "\t".join(fields)
    for _ in range(max(1, len(database.orders) // 2000)):
        del database.orders[rng.randrange(len(database.orders))]


def _sql_dump(database: _Database, name: str, day: datetime) -> bytes:
    header = (f"--\n-- PostgreSQL database dump of {name}\n-- Dumped on {day:%Y-%m-%d %H:%M:%S} UTC\n--\n\n"
              "CREATE TABLE public.customers (id integer PRIMARY KEY, name text, email text, city text);\n"
              "CREATE TABLE public.orders (id integer PRIMARY KEY, customer_id integer, amount numeric(10,2),"
              " status text, created_at timestamp);\n\n")
    return "".join([
        header,
        "COPY public.customers (id, name, email, city) FROM stdin;\n", *database.customers, "\\.\n\n",
        "COPY public.orders (id, customer_id, amount, status, created_at) FROM stdin;\n", *database.orders,
        "\\.\n\n-- dump complete\n",
    ]).encode()


def _backup_files(work: _Workspace, rng: random.Random, scale: float) -> Iterator[DemoFile]:
    appdb = _new_database(rng, _scaled(POSTGRES_DUMP_SIZE, scale))
    roles = b"CREATE ROLE app LOGIN;\nCREATE ROLE readonly;\nGRANT SELECT ON ALL TABLES TO readonly;\n"
    for index in range(POSTGRES_DAYS):
        day = _day(index)
        _next_day(rng, appdb, day)
        key = f"postgres/appdb-{day:%Y-%m-%d}.sql.tar"
        path = work.path_for(key)
        _write_tar(path, [("globals.sql", roles), ("appdb.sql", _sql_dump(appdb, "appdb", day))],
                   _epoch_seconds(day))
        yield DemoFile(DB_BACKUPS, key, path)
    crm = _new_database(rng, _scaled(MYSQL_DUMP_SIZE, scale))
    for index in range(POSTGRES_DAYS - MYSQL_DAYS, POSTGRES_DAYS):
        day = _day(index)
        _next_day(rng, crm, day)
        dump = _sql_dump(crm, "crm", day)
        yield work.file(DB_BACKUPS, f"mysql/crm-{day:%Y-%m-%d}.sql.gz", _gzip(dump, _epoch_seconds(day)))


# --------------------------------------------------------------------------
# ml-checkpoints
# --------------------------------------------------------------------------

#: layer name -> share of the model's parameters
LAYERS = {"conv1.weight": 0.02, "layer1.weight": 0.12, "layer2.weight": 0.2, "layer3.weight": 0.28,
          "layer4.weight": 0.32, "fc.weight": 0.05, "fc.bias": 0.01}
#: layers trained every epoch; the others change in a few places
HEAD_LAYERS = ("fc.weight", "fc.bias")
RUN_LENGTH = 256


def _new_model(rng: random.Random, parameters: int) -> dict[str, array.array]:
    return {name: array.array("f", [(rng.random() - 0.5) * 0.2 for _ in range(max(16, int(parameters * share)))])
            for name, share in LAYERS.items()}


def _train_epoch(rng: random.Random, model: dict[str, array.array]) -> None:
    """Update the head fully and about 1% of the other weights, in runs."""
    for name, weights in model.items():
        if name in HEAD_LAYERS:
            model[name] = array.array("f", [w + (rng.random() - 0.5) * 0.01 for w in weights])
            continue
        run = min(RUN_LENGTH, len(weights))
        for _ in range(max(1, len(weights) // (100 * run))):
            start = rng.randrange(0, len(weights) - run + 1)
            weights[start:start + run] = array.array(
                "f", [w + (rng.random() - 0.5) * 0.01 for w in weights[start:start + run]])


def _checkpoint_files(work: _Workspace, rng: random.Random, scale: float) -> Iterator[DemoFile]:
    model_dir = "resnet-small"
    config = {"model": "resnet-small", "layers": list(LAYERS), "dtype": "float32", "optimizer": "adamw",
              "learning_rate": 0.0003, "batch_size": 128, "seed": 0}
    yield work.file(ML_CHECKPOINTS, f"{model_dir}/config.json", (json.dumps(config, indent=2) + "\n").encode())
    model = _new_model(rng, _scaled(CHECKPOINT_PARAMS, scale, minimum=1024))
    metrics = ["epoch,train_loss,val_loss,val_accuracy\n"]
    for epoch in range(1, EPOCHS + 1):
        _train_epoch(rng, model)
        train_loss = 2.3 / epoch ** 0.5 + rng.random() * 0.05
        val_loss = train_loss + 0.1 + rng.random() * 0.05
        metrics.append(f"{epoch},{train_loss:.4f},{val_loss:.4f},{min(0.99, 0.4 + epoch * 0.06):.4f}\n")
        meta = {"epoch": epoch, "train_loss": round(train_loss, 4), "layers": {n: len(w) for n, w in model.items()}}
        members = [("checkpoint/meta.json", json.dumps(meta, sort_keys=True).encode())]
        members += [(f"checkpoint/{name}.f32", weights.tobytes()) for name, weights in model.items()]
        key = f"{model_dir}/epoch-{epoch:03d}.tar"
        path = work.path_for(key)
        _write_tar(path, members, _epoch_seconds(_day(epoch)))
        yield DemoFile(ML_CHECKPOINTS, key, path)
    yield work.file(ML_CHECKPOINTS, f"{model_dir}/metrics.csv", "".join(metrics).encode())


# --------------------------------------------------------------------------
# logs
# --------------------------------------------------------------------------

LOG_LEVELS = ("INFO",) * 12 + ("DEBUG",) * 4 + ("WARN", "ERROR")
LOG_PATHS = ("/api/orders", "/api/customers", "/api/products", "/healthz", "/api/search", "/login")


def _log_day(rng: random.Random, day: datetime, size: int) -> tuple[bytes, int]:
    """A day of application log lines and how many of them are errors."""
    lines: list[str] = []
    length = 0
    errors = 0
    moment = day.replace(hour=0)
    while length < size:
        moment += timedelta(milliseconds=rng.randrange(1, 4000))
        level = rng.choice(LOG_LEVELS)
        errors += level == "ERROR"
        status = 500 if level == "ERROR" else rng.choice((200, 200, 200, 201, 204, 304, 404))
        line = (f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z {level:5} "
                f"[worker-{rng.randrange(8)}] {rng.choice(LOG_PATHS)}/{rng.randrange(10000)} "
                f"status={status} duration_ms={rng.randrange(1, 900)}\n")
        lines.append(line)
        length += len(line)
    return "".join(lines).encode(), errors


def _log_files(work: _Workspace, rng: random.Random, scale: float) -> Iterator[DemoFile]:
    yield work.file(LOGS, "README.txt", b"Application logs, one gzip file per day, kept 90 days.\n")
    summary = ["day        errors\n"]
    for index in range(LOG_DAYS):
        day = _day(index)
        text, errors = _log_day(rng, day, _scaled(LOG_DAY_SIZE, scale))
        summary.append(f"{day:%Y-%m-%d} {errors:6d}\n")
        yield work.file(LOGS, f"app/{day:%Y/%m}/app-{day:%Y-%m-%d}.log.gz", _gzip(text, _epoch_seconds(day)))
    yield work.file(LOGS, f"app/{FIRST_DAY:%Y/%m}/errors-{FIRST_DAY:%Y-%m}.txt", "".join(summary).encode())


# --------------------------------------------------------------------------
# Generation and seeding
# --------------------------------------------------------------------------

GENERATORS = {RELEASES: _release_files, DB_BACKUPS: _backup_files,
              ML_CHECKPOINTS: _checkpoint_files, LOGS: _log_files}


def iter_demo_files(work_dir: str | Path, *, scale: float = 1.0, seed: int = DEFAULT_SEED) -> Iterator[DemoFile]:
    """Generate the demo files one at a time, in upload order, into work_dir.

    Files of one deltaspace come oldest first: the first upload into a
    deltaspace becomes its reference. The caller may delete each file once
    it has been handled; later files never need earlier ones on disk.
    """
    if scale <= 0:
        raise ValueError("scale must be positive")
    work = _Workspace(Path(work_dir))
    for bucket, generate in GENERATORS.items():
        # One generator per bucket, so that buckets do not shift each other's bytes.
        yield from generate(work, random.Random(f"{seed}:{bucket}"), scale)


def seed_demo(client: Any, *, scale: float = 1.0, seed: int = DEFAULT_SEED,
              progress: ProgressFn | None = None) -> dict[str, Any]:
    """Upload the demo data through the dgtui SDK and write the marker.

    ``progress(label, done, total)`` is called before each upload with a
    label such as ``"releases: acme-server-1.3.0.zip"``.
    """
    for bucket in (*DEMO_BUCKETS, DEMO_MARKER.bucket):
        client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=DB_BACKUPS, VersioningConfiguration={"Status": "Enabled"})
    total = demo_file_count()
    counts = {"files": 0, "deltas": 0, "direct": 0, "original_bytes": 0, "stored_bytes": 0}
    with tempfile.TemporaryDirectory(prefix="dgtui-demo-") as work_dir:
        for done, demo_file in enumerate(iter_demo_files(work_dir, scale=scale, seed=seed), start=1):
            if progress is not None:
                progress(f"{demo_file.bucket}: {demo_file.path.name}", done, total)
            summary = client.upload(str(demo_file.path), f"s3://{demo_file.bucket}/{demo_file.prefix}",
                                    max_ratio=MAX_DELTA_RATIO)
            _count_upload(counts, summary)
            shutil.rmtree(demo_file.path.parent)
        history = _bad_day(client, Path(work_dir))
    result = {**counts, "scale": scale, "seed": seed, "buckets": list(DEMO_BUCKETS), "history": history}
    client.put_object(Bucket=DEMO_MARKER.bucket, Key=DEMO_MARKER.key,
                      Body=(json.dumps(result, indent=2) + "\n").encode())
    return result


def _bad_day(client: Any, work_dir: Path) -> dict[str, str]:
    """What versioning is for, in db-backups: the last dump overwritten by a broken one, a dump deleted.

    The good dump stays as the older version, the deleted one behind a delete marker.
    """
    last_day = _day(POSTGRES_DAYS - 1)
    overwritten = f"postgres/appdb-{last_day:%Y-%m-%d}.sql.tar"
    broken = work_dir / "bad-day" / Path(overwritten).name
    broken.parent.mkdir(parents=True, exist_ok=True)
    _write_tar(broken, [("appdb.sql", b"-- pg_dump: error: connection to server lost\n")],
               _epoch_seconds(last_day + timedelta(hours=1)))
    client.upload(str(broken), f"s3://{DB_BACKUPS}/postgres/", max_ratio=MAX_DELTA_RATIO)
    deleted = f"mysql/crm-{_day(POSTGRES_DAYS - MYSQL_DAYS):%Y-%m-%d}.sql.gz"
    client.delete_object(Bucket=DB_BACKUPS, Key=deleted)
    return {"overwritten": overwritten, "deleted": deleted}


def _count_upload(counts: dict[str, int], summary: Any) -> None:
    counts["files"] += 1
    counts["original_bytes"] += summary.original_size
    counts["stored_bytes"] += summary.stored_size
    counts["deltas" if summary.stored_key.endswith(".delta") else "direct"] += 1


def is_demo_seeded(s3: Any) -> bool:
    """True when the marker exists (s3: a plain boto3 client)."""
    from botocore.exceptions import ClientError

    try:
        s3.head_object(Bucket=DEMO_MARKER.bucket, Key=DEMO_MARKER.key)
    except ClientError:
        return False
    return True


# --------------------------------------------------------------------------
# The runner
# --------------------------------------------------------------------------

SERVER_FILES = ("weed.log", "dgtui-ports.json", "dgtui-s3-identities.json")


class _StopRequested(BaseException):
    """SIGTERM or SIGHUP: unwind like Ctrl-C so the server stops."""


def demo_data_dir() -> Path:
    """``<user data dir>/demo``; ``DGTUI_DATA_DIR`` replaces the user data dir."""
    override = os.environ.get("DGTUI_DATA_DIR")
    if override:
        return Path(override).expanduser() / "demo"
    import platformdirs

    return Path(platformdirs.user_data_dir("dgtui")) / "demo"


def demo_scale() -> float:
    raw = os.environ.get("DGTUI_DEMO_SCALE")
    if not raw:
        return 1.0
    try:
        scale = float(raw)
    except ValueError:
        raise DgError(f"DGTUI_DEMO_SCALE must be a number, not {raw!r}") from None
    if scale <= 0:
        raise DgError("DGTUI_DEMO_SCALE must be positive")
    return scale


def run_demo(*, reset: bool = False, serve_only: bool = False, scale: float | None = None,
             data_dir: Path | None = None) -> int:
    """Start the demo server, seed it once, then open the app or just serve.

    Returns the process exit code. The server is stopped on every way out:
    the app exiting, Ctrl-C, SIGTERM, SIGHUP or an error.
    """
    directory = Path(data_dir) if data_dir is not None else demo_data_dir()
    scale = demo_scale() if scale is None else scale
    directory.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(directory) as locked:
        if not locked:
            running = _endpoint_file(directory)
            endpoint = running.read_text().strip() if running.exists() else ""
            if endpoint:
                _say(f"another dgtui demo is already serving {endpoint} (data in {directory}); use it with "
                     f"AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID={DEMO_ACCESS_KEY} "
                     f"AWS_SECRET_ACCESS_KEY={DEMO_SECRET_KEY} AWS_DEFAULT_REGION={DEMO_REGION}, or stop it first")
            else:
                _say(f"another dgtui demo is using {directory}; stop it first")
            return 1
        if reset:
            _remove_demo_dir(directory)
        with _stop_signals_raise():
            try:
                return _serve_demo(directory, scale=scale, serve_only=serve_only)
            except (KeyboardInterrupt, _StopRequested):
                _say("dgtui demo: stopped")
                return 0


def _serve_demo(directory: Path, *, scale: float, serve_only: bool) -> int:
    from dgtui.demo.server import LocalS3Server

    server = LocalS3Server(directory, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
                           region=DEMO_REGION)
    try:
        _say(f"dgtui demo: starting the local S3 server (data in {directory})")
        server.start()
        _endpoint_file(directory).write_text(server.endpoint_url + "\n")
        if not is_demo_seeded(server.boto3_client()):
            _seed_with_progress(server, scale)
        if not serve_only:
            run_app = _load_app()
            if run_app is not None:
                run_app(endpoint_url=server.endpoint_url, env=server.env(), hide_buckets=(DEMO_MARKER.bucket,))
                return 0
        return _serve_until_interrupted(server)
    finally:
        _endpoint_file(directory).unlink(missing_ok=True)
        server.stop()


def _endpoint_file(directory: Path) -> Path:
    """Where a running demo says where it serves, for a second ``dgtui demo`` to tell the user."""
    return directory.with_name(directory.name + ".endpoint")


def _seed_with_progress(server: Any, scale: float) -> None:
    from dgtui import create_client

    _say(f"dgtui demo: generating and uploading sample data (scale {scale:g}, first run only)")
    client = create_client(endpoint_url=server.endpoint_url, aws_access_key_id=server.access_key,
                           aws_secret_access_key=server.secret_key, region_name=server.region)
    started = time.monotonic()
    try:
        result = seed_demo(client, scale=scale,
                           progress=lambda label, done, total: _say(f"seeding {label} ({done}/{total})"))
    finally:
        close = getattr(client, "close", None)
        if close is not None:
            close()
    _say(f"dgtui demo: uploaded {result['files']} files ({result['original_bytes'] / 1e6:.0f} MB) "
         f"in {time.monotonic() - started:.0f} s; {result['deltas']} are stored as deltas")


def _load_app() -> Callable[..., Any] | None:
    try:
        from dgtui.app.app import run_app
    except ImportError as exc:
        _say(f"dgtui demo: the terminal app is not available ({exc}); serving only")
        return None
    return run_app


def _serve_until_interrupted(server: Any) -> int:
    _print_connection_help(server, sys.stdout)
    while server.running:
        time.sleep(0.2)
    _say(f"dgtui demo: the S3 server stopped unexpectedly; see {server.log_path}")
    return 1


def _print_connection_help(server: Any, out: TextIO) -> None:
    exports = "".join(f"  export {name}={value}\n" for name, value in server.env().items())
    out.write(
        f"dgtui demo: S3 endpoint {server.endpoint_url}\n"
        "Use it from boto3, the AWS CLI or deltaglider after:\n"
        f"{exports}"
        "For example:\n"
        "  aws s3 ls\n"
        "  deltaglider ls s3://releases/acme-server/\n"
        "  dgtui browse\n"
        "Press Ctrl-C to stop the server.\n")
    out.flush()


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@contextmanager
def _stop_signals_raise() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind the stack (running every finally) like Ctrl-C.

    SIGINT gets Python's own handler back too: a process started in the
    background by a non-interactive shell inherits SIGINT ignored, and then
    Ctrl-C (or ``kill -INT``) would leave the server running.
    """
    def request_stop(signum: int, frame: FrameType | None) -> None:
        raise _StopRequested(signum)

    wanted = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    previous = {signum: signal.signal(signum, request_stop) for signum in wanted}
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def _exclusive(directory: Path) -> Iterator[bool]:
    """Hold a lock beside the data dir: two servers on one dir would corrupt it."""
    lock_path = directory.with_name(directory.name + ".lock")
    with open(lock_path, "a") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _remove_demo_dir(directory: Path) -> None:
    """Delete the demo data, refusing a folder that does not look like it."""
    if not directory.exists():
        return
    looks_like_demo = any((directory / name).exists() for name in SERVER_FILES)
    if not looks_like_demo and any(directory.iterdir()):
        raise DgError(f"refusing to delete {directory}: it does not look like dgtui demo data")
    _say(f"dgtui demo: deleting {directory}")
    shutil.rmtree(directory)
