"""Demo data: deterministic, delta-friendly, and a runner that cleans up."""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from dgtui.demo.sample import (
    DEMO_ACCESS_KEY,
    DEMO_BUCKETS,
    DEMO_MARKER,
    DEMO_REGION,
    DEMO_SECRET_KEY,
    demo_file_count,
    iter_demo_files,
    run_demo,
    seed_demo,
)
from dgtui.demo.server import LocalS3Server
from dgtui.testing import process_alive

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_SCALE = 0.002


def file_hashes(work_dir: Path, *, scale: float = TINY_SCALE, seed: int = 2026) -> dict[tuple[str, str], str]:
    hashes = {}
    for demo_file in iter_demo_files(work_dir, scale=scale, seed=seed):
        hashes[(demo_file.bucket, demo_file.key)] = hashlib.sha256(demo_file.path.read_bytes()).hexdigest()
        demo_file.path.unlink()
    return hashes


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    first = file_hashes(tmp_path / "a")
    second = file_hashes(tmp_path / "b")
    assert first == second
    assert len(first) == demo_file_count()
    assert {bucket for bucket, _ in first} == set(DEMO_BUCKETS)


def test_another_seed_gives_other_files(tmp_path: Path) -> None:
    assert file_hashes(tmp_path / "a", seed=1) != file_hashes(tmp_path / "b", seed=2)


def test_release_versions_share_a_deltaspace_and_most_entries(tmp_path: Path) -> None:
    archives = {}
    for demo_file in iter_demo_files(tmp_path, scale=TINY_SCALE):
        if demo_file.key.startswith("acme-server/") and demo_file.key.endswith((".0.0.zip", ".0.1.zip")):
            archives[demo_file.key] = demo_file.path.read_bytes()
    first, second = (zipfile.ZipFile(io.BytesIO(data)) for data in (
        archives["acme-server/acme-server-1.0.0.zip"], archives["acme-server/acme-server-1.0.1.zip"]))
    crcs = [{info.filename: info.CRC for info in archive.infolist()} for archive in (first, second)]
    unchanged = [name for name in crcs[0] if crcs[1].get(name) == crcs[0][name]]
    assert len(unchanged) >= len(crcs[0]) // 2
    assert crcs[0]["VERSION"] != crcs[1]["VERSION"]


def test_scale_changes_sizes_not_layout(tmp_path: Path) -> None:
    small = {(f.bucket, f.key): f.path.stat().st_size for f in iter_demo_files(tmp_path / "s", scale=0.002)}
    larger = {(f.bucket, f.key): f.path.stat().st_size for f in iter_demo_files(tmp_path / "l", scale=0.01)}
    assert small.keys() == larger.keys()
    assert sum(larger.values()) > 2 * sum(small.values())


# --------------------------------------------------------------------------
# Seeding through the SDK, then serving the seeded data
# --------------------------------------------------------------------------


def require_sdk() -> Any:
    try:
        from dgtui import create_client
    except ImportError as exc:
        pytest.skip(f"the dgtui SDK is not importable yet: {exc}")
    if shutil.which("xdelta3") is None and not os.environ.get("DGTUI_XDELTA3"):
        pytest.skip("xdelta3 is not installed")
    return create_client


@pytest.fixture(scope="module")
def seeded_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A demo data dir seeded at a tiny scale, laid out as run_demo expects it."""
    create_client = require_sdk()
    root = tmp_path_factory.mktemp("demo-home")
    data_dir = root / "demo"
    progress: list[tuple[str, int, int]] = []
    with LocalS3Server(data_dir, access_key=DEMO_ACCESS_KEY, secret_key=DEMO_SECRET_KEY,
                       region=DEMO_REGION) as server:
        client = create_client(endpoint_url=server.endpoint_url, aws_access_key_id=server.access_key,
                               aws_secret_access_key=server.secret_key, region_name=server.region,
                               cache_dir=root / "cache")
        summary = seed_demo(client, scale=TINY_SCALE, progress=lambda *p: progress.append(p))
        plain = server.boto3_client()
        listing = {bucket: [o["Key"] for o in plain.list_objects_v2(Bucket=bucket).get("Contents", [])]
                   for bucket in (*DEMO_BUCKETS, DEMO_MARKER.bucket)}
        db_versions = plain.list_object_versions(Bucket="db-backups")
        versioning = plain.get_bucket_versioning(Bucket="db-backups").get("Status")
    yield {"root": root, "summary": summary, "listing": listing, "progress": progress, "db_versions": db_versions,
           "versioning": versioning}


def test_seeding_stores_deltas_against_references(seeded_demo: dict[str, Any]) -> None:
    releases = seeded_demo["listing"]["releases"]
    for product in ("acme-cli", "acme-server", "acme-agent"):
        assert f"{product}/reference.bin" in releases
        assert sum(key.startswith(f"{product}/") and key.endswith(".zip.delta") for key in releases) == 12
    assert "postgres/reference.bin" in seeded_demo["listing"]["db-backups"]
    assert any(key.endswith(".tar.delta") for key in seeded_demo["listing"]["ml-checkpoints"])
    assert "resnet-small/config.json" in seeded_demo["listing"]["ml-checkpoints"]
    assert DEMO_MARKER.key in seeded_demo["listing"][DEMO_MARKER.bucket]
    summary = seeded_demo["summary"]
    assert summary["files"] == demo_file_count()
    assert summary["deltas"] >= 3 * 12


def test_seeding_reports_progress(seeded_demo: dict[str, Any]) -> None:
    progress = seeded_demo["progress"]
    assert len(progress) == demo_file_count()
    assert progress[0][1:] == (1, demo_file_count())
    assert ("releases: acme-server-1.3.0.zip", 19, demo_file_count()) in progress


def weed_processes_on(data_dir: Path) -> list[int]:
    """Live weed processes serving data_dir."""
    wanted = f"-dir={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in arguments and process_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def read_exports(stream: Any) -> dict[str, str]:
    """Read the runner's output up to its last export line."""
    exports: dict[str, str] = {}
    for line in stream:
        match = re.match(r"\s*export (\w+)=(\S+)", line)
        if match:
            exports[match.group(1)] = match.group(2)
        elif exports:
            return exports
    return exports


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_only_answers_and_stops_the_server(seeded_demo: dict[str, Any], stop_signal: int) -> None:
    root: Path = seeded_demo["root"]
    env = {**os.environ, "DGTUI_DATA_DIR": str(root), "DGTUI_DEMO_SCALE": str(TINY_SCALE),
           "DGTUI_CACHE_DIR": str(root / "cache"), "PYTHONPATH": str(REPO_ROOT)}
    runner = subprocess.Popen(
        [sys.executable, "-c", "from dgtui.demo.sample import run_demo; raise SystemExit(run_demo(serve_only=True))"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        exports = read_exports(runner.stdout)
        assert exports.get("AWS_ENDPOINT_URL", "").startswith("http://127.0.0.1:"), runner.stderr
        client = boto3.client("s3", endpoint_url=exports["AWS_ENDPOINT_URL"],
                              aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
                              region_name=exports["AWS_REGION"])
        names = {bucket["Name"] for bucket in client.list_buckets()["Buckets"]}
        assert set(DEMO_BUCKETS) <= names
        assert weed_processes_on(root / "demo")
        runner.send_signal(stop_signal)
        _, stderr = runner.communicate(timeout=30)
        assert runner.returncode == 0, stderr
        assert "seeding" not in stderr  # the marker says the data is there
        assert not weed_processes_on(root / "demo")
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.communicate()


def test_reset_refuses_a_folder_that_is_not_demo_data(tmp_path: Path) -> None:
    from dgtui.core.errors import DgError

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(DgError, match="refusing"):
        run_demo(reset=True, data_dir=precious)
    assert (precious / "thesis.tex").exists()


def test_seeding_leaves_a_bad_day_in_db_backups_history(seeded_demo: dict[str, Any]) -> None:
    """db-backups keeps versions: the overwritten dump's good version and the deleted dump come back."""
    history = seeded_demo["summary"]["history"]
    listing = seeded_demo["listing"]["db-backups"]
    assert f"{history['overwritten']}.delta" in listing or history["overwritten"] in listing
    assert not any(key.startswith(history["deleted"]) for key in listing)
    versions = seeded_demo["db_versions"]
    overwritten = [v for v in versions["Versions"] if v["Key"].startswith(history["overwritten"])]
    assert len(overwritten) == 2 and sum(v["IsLatest"] for v in overwritten) == 1
    assert [m["Key"] for m in versions["DeleteMarkers"] if m["IsLatest"]] == [history["deleted"]]
    assert seeded_demo["versioning"] == "Enabled"
