"""Throttling and faults change no answer: every command through a proxy that answers like a
struggling S3 (503 SlowDown, 500, resets, cut and stalled answers) gives the clean run's result,
or fails with one line."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from dgtui import create_client
from dgtui.cli import main
from dgtui.testing.proxy import FaultProxy, FaultRates
from tests.core.conftest import make_release
from tests.core.test_fasthead import put_deltas

#: a request in four meets a fault (seeded: the same ones for the same bucket and keys); the third
#: sending of a request goes through, so the client's retries decide every answer
MIXED = FaultRates(slowdown=0.08, error=0.06, reset=0.04, truncate=0.04, stall=0.03)
SPARED_AFTER = 2
PLAIN_KEYS = 1100  # past one page: the listing goes by ranges


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def dataset(s3_server, s3_env, bucket, boto3_s3, tmp_path) -> str:
    """Real deltas and a direct file under real/, deltas' metadata alone under rel/, plain keys under plain/."""
    client = create_client(endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path / "seed-cache")
    for version in range(1, 5):
        for product in ("app", "tool"):
            release = make_release(tmp_path / f"{product}-{version}.zip", version, size=60_000,
                                   seed=len(product))
            client.upload(release, f"s3://{bucket}/real/{product}/")
    (tmp_path / "notes.txt").write_text("release notes\n" * 50)
    client.upload(tmp_path / "notes.txt", f"s3://{bucket}/real/")
    client.close()
    put_deltas(boto3_s3, bucket, 60, spaces=2)

    def put(i: int) -> None:
        boto3_s3.put_object(Bucket=bucket, Key=f"plain/{i:05d}.txt", Body=b"p" * (i % 97))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(PLAIN_KEYS)))
    return bucket


def faulty_proxy(s3_server, seed: int) -> FaultProxy:
    return FaultProxy(s3_server.endpoint_url, MIXED, seed=seed, stall_s=0.2, first_attempts=SPARED_AFTER,
                      upstream_timeout_s=30)


def run(argv: list[str], endpoint: str, cache: Path, capsys: Any, monkeypatch: Any) -> tuple[int, str, str]:
    monkeypatch.setenv("DGTUI_CACHE_DIR", str(cache))  # a cold cache: every HEAD is sent
    code = main([*argv, "--endpoint-url", endpoint])
    out, err = capsys.readouterr()
    return code, out, err


def assert_same_or_one_line(clean: tuple[int, str, str], faulty: tuple[int, str, str], what: str) -> None:
    code, out, err = faulty
    if code != clean[0] or out != clean[1]:
        # Allowed only as a failure that says so in one line, never as another answer.
        assert code == 1 and out == "" and err.count("\n") == 1 and err.startswith("dgtui: error: "), (
            what, code, err[-2000:], out[-2000:])
        pytest.fail(f"{what} failed through the faults (allowed, but not expected at these rates): {err}")


COMMANDS = {
    "ls -r --json": lambda b: ["ls", "-r", "--json", f"s3://{b}/"],
    "stats --detailed --json": lambda b: ["stats", "--detailed", "--json", f"s3://{b}"],
    "stats --by-folder --json": lambda b: ["stats", "--by-folder", "--json", f"s3://{b}"],
    "audit --json": lambda b: ["audit", "--json", f"s3://{b}"],
}


def test_listings_stats_and_audit_are_unchanged_by_faults(dataset, s3_server, capsys, monkeypatch, tmp_path):
    met: dict[str, int] = {}
    for n, (what, argv) in enumerate(COMMANDS.items()):
        clean = run(argv(dataset), s3_server.endpoint_url, tmp_path / f"clean-{n}", capsys, monkeypatch)
        assert clean[0] == 0 and clean[1], (what, clean[2])
        with faulty_proxy(s3_server, seed=n) as faulty:
            through = run(argv(dataset), faulty.endpoint_url, tmp_path / f"faulty-{n}", capsys, monkeypatch)
        assert_same_or_one_line(clean, through, what)
        assert sum(faulty.counts.values()) > 0, f"{what}: no fault was injected"
        for name, count in faulty.counts.items():
            met[name] = met.get(name, 0) + count
    # Every kind of fault was met on the way.
    assert all(met[name] > 0 for name in ("slowdown", "error", "reset", "truncate", "stall")), met


#: downloads cut short, reset or stalled: a third of the GETs
BROKEN_DOWNLOADS = FaultRates(truncate=0.3, reset=0.05, stall=0.05, error=0.03)


def test_restore_is_unchanged_by_faults(dataset, s3_server, capsys, monkeypatch, tmp_path):
    argv = ["get", "-r", f"s3://{dataset}/real/"]
    clean = run([*argv, str(tmp_path / "clean")], s3_server.endpoint_url, tmp_path / "c1", capsys, monkeypatch)
    assert clean[0] == 0, clean[2]
    with FaultProxy(s3_server.endpoint_url, BROKEN_DOWNLOADS, methods=("GET",), seed=5, stall_s=0.2,
                    first_attempts=SPARED_AFTER) as faulty:
        through = run([*argv, str(tmp_path / "faulty")], faulty.endpoint_url, tmp_path / "c2", capsys,
                      monkeypatch)
        cut = faulty.counts["truncate"] + faulty.counts["reset"]
    assert through[0] == 0, through[2]
    assert through[1] == clean[1].replace(str(tmp_path / "clean"), str(tmp_path / "faulty"))
    restored = {p.relative_to(tmp_path / "clean"): digest(p) for p in (tmp_path / "clean").rglob("*") if p.is_file()}
    again = {p.relative_to(tmp_path / "faulty"): digest(p) for p in (tmp_path / "faulty").rglob("*") if p.is_file()}
    assert len(restored) == 9 and again == restored
    assert cut > 0


#: every PUT's first answer lost after the server stored it: the retry meets what the first one stored
#: (a reference written with If-None-Match answers 412 to its own retry)
LOST_ANSWERS = {"rates": FaultRates(truncate=1.0), "methods": ("PUT",), "first_attempts": 1}


#: an upload sends a few requests per file: half of them meet a fault, so that some always do
HALF = FaultRates(slowdown=0.16, error=0.12, reset=0.08, truncate=0.08, stall=0.06)


@pytest.mark.parametrize("options", [{"rates": HALF, "first_attempts": SPARED_AFTER}, LOST_ANSWERS],
                         ids=["mixed", "lost-put-answers"])
def test_put_is_unchanged_by_faults(s3_server, s3_env, bucket, capsys, monkeypatch, tmp_path, options):
    with FaultProxy(s3_server.endpoint_url, seed=11, stall_s=0.2, **options) as faulty:
        check_put(s3_server, bucket, faulty, capsys, monkeypatch, tmp_path)


def check_put(s3_server, bucket, faulty, capsys, monkeypatch, tmp_path):
    files = [make_release(tmp_path / f"app-{v}.zip", v, size=60_000) for v in range(1, 4)]
    (tmp_path / "readme.txt").write_text("readme\n" * 100)
    files.append(tmp_path / "readme.txt")
    outputs = {}
    for name, endpoint in (("clean", s3_server.endpoint_url), ("faulty", faulty.endpoint_url)):
        lines = []
        for path in files:  # one at a time: each line tells what one upload stored
            code, out, err = run(["put", str(path), f"s3://{bucket}/{name}/"], endpoint, tmp_path / f"c-{name}",
                                 capsys, monkeypatch)
            assert code == 0, err
            lines.append(out.replace(f"/{name}/", "/X/"))
        outputs[name] = lines
    assert outputs["faulty"] == outputs["clean"]
    assert sum(faulty.counts.values()) > 0, faulty.requests
    # What the faulty run stored restores to the very bytes.
    client = create_client(endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path / "check")
    for path in files:
        result = client.download(f"s3://{bucket}/faulty/{path.name}", tmp_path / "back" / path.name)
        assert result.sha256 == digest(path)
    client.close()


def test_slowdown_lowers_the_concurrency_and_keeps_the_fast_path(s3_server, s3_env, bucket, boto3_s3, tmp_path):
    total = put_deltas(boto3_s3, bucket, 400, spaces=2)
    clean = create_client(endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path / "clean")
    expected = clean.get_bucket_stats(bucket, detailed_stats=True)
    clean.close()
    # Half the HEADs throttled, each at most three times (a server admits a request sooner or later).
    with FaultProxy(s3_server.endpoint_url, FaultRates(slowdown=0.5), methods=("HEAD",), seed=3,
                    first_attempts=3) as proxy:
        client = create_client(endpoint_url=proxy.endpoint_url, cache_dir=tmp_path / "throttled")
        got = client.get_bucket_stats(bucket, detailed_stats=True)
        fast = client._fetcher.fast_head
        assert got == expected and got.delta_objects == 400 and got.total_size >= total
        assert fast.enabled, fast.disabled_reason
        assert fast.fast_requests > 0 and fast.throttled_requests > 0
        assert fast.concurrency_decreases > 0 and fast.lowest_concurrency < fast.max_workers
        assert proxy.counts["slowdown"] >= fast.throttled_requests > 0
        assert fast.concurrency_increases > 0  # answers raised it again
        client.close()


def test_throttled_heads_waiting_out_their_backoff_leave_their_slots_to_others(s3_server, s3_env, bucket, boto3_s3):
    from dgtui.core.fasthead import FastHead
    from dgtui.core.s3 import S3Access

    keys = [f"k/{i:03d}" for i in range(60)]
    for key in keys:
        boto3_s3.put_object(Bucket=bucket, Key=key, Body=b"x", Metadata={"key": key})
    # Every HEAD is throttled once, then answered: each one waits out a backoff.
    with FaultProxy(s3_server.endpoint_url, FaultRates(slowdown=1.0), methods=("HEAD",), seed=1,
                    first_attempts=1) as proxy:
        s3 = S3Access(endpoint_url=proxy.endpoint_url, aws_access_key_id=s3_server.access_key,
                      aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region)
        fast = FastHead(s3, max_workers=8)  # under MIN_CONCURRENCY: throttling keeps all 8 slots
        seen: list[tuple[int, int]] = []  # (HEADs in flight, HEADs backing off) as each fast HEAD is sent
        send = fast._send

        async def recording(url: str, headers: dict[str, str]):
            seen.append((fast._in_flight, fast.backing_off))
            return await send(url, headers)

        fast._send = recording  # type: ignore[method-assign]
        batch = fast.batch(bucket)
        answers = {keys[i]: answer for group in batch.head_many(keys) for i, answer in group}
        assert {key: answer[1] for key, answer in answers.items()} == {key: {"key": key} for key in keys}
        assert fast.enabled and fast.throttled_requests == len(keys) - 1  # the first one taught the URL
        assert fast.concurrency == fast.max_workers == 8 and fast.fallback_requests == 0
        # While HEADs waited out their backoff, every slot was in use by others.
        assert any(in_flight == 8 and backing_off > 0 for in_flight, backing_off in seen), seen
        assert fast.peak_in_flight == 8
        fast.close()
