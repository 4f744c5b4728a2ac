"""Savings by folder, layout advice and sampled statistics, against a real S3 server."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from dgtui.cli import main
from dgtui.core.models import ObjectInfo
from dgtui.core.savings import SavingsAggregator, name_stem

from .conftest import make_release

DG_TOOL = "deltaglider/6.2.0"


def put_release_layout(client, bucket: str, tmp_path: Path) -> dict[str, int]:
    """releases/app/ (4 versions in one folder), releases/product/<v>/ (one archive per folder),
    docs/ (text), and a file at the top. Returns the original bytes of each part."""
    truth: dict[str, int] = {}
    files = [make_release(tmp_path / f"app-1.{v}.zip", v) for v in range(4)]
    for f in files:
        client.upload(f, f"s3://{bucket}/releases/app/")
    truth["releases/app/"] = sum(f.stat().st_size for f in files)
    product = [make_release(tmp_path / f"product-2.{v}.0.zip", v, seed=9) for v in range(4)]
    for v, f in enumerate(product):
        client.upload(f, f"s3://{bucket}/releases/product/2.{v}.0/")
    truth["releases/product/"] = sum(f.stat().st_size for f in product)
    for i in range(3):
        client.put_object(Bucket=bucket, Key=f"docs/notes-{i}.txt", Body=b"note\n" * (100 + i))
    truth["docs/"] = sum(len(b"note\n" * (100 + i)) for i in range(3))
    client.put_object(Bucket=bucket, Key="README.md", Body=b"# top\n")
    truth[""] = 6
    return truth


def stored_under(boto3_s3, bucket: str, prefix: str) -> int:
    total = 0
    for page in boto3_s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        total += sum(o["Size"] for o in page.get("Contents", []) if not o["Key"].startswith(".deltaglider/"))
    return total


@pytest.fixture
def layout(client, bucket, tmp_path):
    return put_release_layout(client, bucket, tmp_path)


def test_rows_per_folder_quick_then_exact(client, bucket, boto3_s3, layout):
    quick = client.folder_savings(bucket)
    rows = {r.prefix: r for r in quick.rows}
    assert set(rows) == {"releases/", "docs/", ""}
    assert rows[""].here and rows[""].objects == 1
    assert rows["releases/"].objects == 8 and rows["releases/"].deltas == 8
    assert rows["releases/"].references == 5  # one in app/, one per product version folder
    for prefix, row in rows.items():
        if prefix:
            assert row.stored_bytes == stored_under(boto3_s3, bucket, prefix)
    assert quick.total.stored_bytes == stored_under(boto3_s3, bucket, "")
    assert rows["releases/"].is_estimate and not quick.exact
    assert rows["docs/"].grade == "no deltas" and rows["docs/"].reason == "files are not delta-eligible"
    assert [r.prefix for r in quick.rows][0] == "releases/"  # the most stored bytes first

    progress: list[tuple[int, int]] = []
    exact = client.folder_savings(bucket, exact=True, progress=lambda d, t: progress.append((d, t)))
    rows = {r.prefix: r for r in exact.rows}
    assert exact.exact and not rows["releases/"].is_estimate
    assert rows["releases/"].original_bytes == layout["releases/app/"] + layout["releases/product/"]
    assert rows["docs/"].original_bytes == layout["docs/"]
    assert exact.total.original_bytes == sum(layout.values())
    assert progress and progress[-1] == (8, 8)


def test_drill_down_grades_and_layout_advice(client, bucket, layout):
    report = client.folder_savings("".join(bucket), "releases/", exact=True)
    rows = {r.prefix: r for r in report.rows}
    assert set(rows) == {"releases/app/", "releases/product/"}
    app = rows["releases/app/"]
    assert app.grade in ("good", "excellent") and app.deltas == 4 and app.references == 1
    product = rows["releases/product/"]
    assert product.grade == "poor" and product.reason == "each version sits in its own folder"
    [advice] = report.advice
    assert advice.parent == "releases/product/" and advice.folders == 4
    assert advice.stem == name_stem("product-2.0.0.zip") == "product-#.#.#.zip"
    assert advice.examples == ("releases/product/2.2.0/product-2.2.0.zip", "releases/product/2.3.0/product-2.3.0.zip")

    deeper = client.folder_savings(bucket, "releases/product/")
    assert {r.prefix for r in deeper.rows} == {f"releases/product/2.{v}.0/" for v in range(4)}
    assert all(r.reason == "each version sits in its own folder" for r in deeper.rows)
    assert deeper.advice[0].parent == "releases/product/"


def test_measured_layout_estimate_writes_nothing(client, bucket, boto3_s3, layout):
    from dgtui.core.layout import estimate_shared_folder

    before = sorted(o["Key"] for o in boto3_s3.list_objects_v2(Bucket=bucket)["Contents"])
    [advice] = client.folder_savings(bucket, "releases/", exact=True).advice
    stages: set[str] = set()
    estimate_shared_folder(client, bucket, advice, progress=lambda d, t, s: stages.add(s))
    assert advice.sample_delta_ratio is not None and 0 < advice.sample_delta_ratio < 0.1
    # four versions sharing almost every byte: about one copy instead of four
    assert advice.shared_stored_bytes is not None
    assert advice.shared_stored_bytes < advice.stored_bytes / 3
    assert "encoding one against the other" in stages
    after = sorted(o["Key"] for o in boto3_s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert after == before


def test_cli_by_folder_json_text_and_cost(capsys, s3_env, client, bucket, layout, tmp_path, monkeypatch):
    code = main(["stats", f"s3://{bucket}", "--by-folder", "--detailed", "--json", "--price-per-gb-month", "0.1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    row = {r["prefix"]: r for r in data["rows"]}["releases/"]
    for name in ("prefix", "objects", "deltas", "original_bytes", "stored_bytes", "saved_percent", "grade"):
        assert name in row
    assert row["original_bytes"] == layout["releases/app/"] + layout["releases/product/"]
    assert row["stored_cost_per_month"] == pytest.approx(row["stored_bytes"] / 2**30 * 0.1, abs=1e-4)
    assert data["price_per_gb_month"] == 0.1 and data["mode"] == "exact"

    settings = tmp_path / "config.toml"
    settings.write_text("price_per_gb_month = 0.5\n")
    monkeypatch.setenv("DGTUI_CONFIG", str(settings))
    code = main(["stats", f"s3://{bucket}", "--by-folder", "--sort", "name"])
    out, err = capsys.readouterr()
    assert code == 0, err
    lines = out.splitlines()
    assert "quick" in lines[0] and "~" in out
    rows = lines[2:5]
    assert "(files here)" in rows[0] and " docs/  (" in rows[1] and " releases/  (" in rows[2]  # sorted by name
    assert "(total)" in lines[5]
    assert "$0.5/GB-month" in out and "layout: 4 folders under releases/product/" in out

    settings.write_text("price_per_gb_month = 'cheap'\n")
    code = main(["stats", f"s3://{bucket}", "--by-folder"])
    _, err = capsys.readouterr()
    assert code == 1 and "price_per_gb_month" in err and err.count("\n") == 1


def _delta_metadata(size: int, ref_sha: str = "ab" * 32) -> dict[str, str]:
    return {"dg-tool": DG_TOOL, "dg-original-name": "x.zip", "dg-file-sha256": "cd" * 32,
            "dg-file-size": str(size), "dg-created-at": "2025-01-01T00:00:00Z",
            "dg-ref-key": "ignored/reference.bin", "dg-ref-sha256": ref_sha, "dg-delta-size": "10",
            "dg-delta-cmd": "xdelta3 -e -9 -s reference.bin x.zip x.zip.delta"}


def test_sampled_interval_holds_the_exact_answer(client, bucket, boto3_s3):
    """300 deltas in 6 folders as DeltaGlider 6.2.0 lays them out; sizes vary within and between folders."""
    rng = random.Random(5)
    for f in range(6):
        base = rng.randint(50_000, 2_000_000)
        boto3_s3.put_object(Bucket=bucket, Key=f"f{f}/reference.bin", Body=b"r" * (base // 1000),
                            Metadata={"dg-tool": DG_TOOL, "dg-note": "reference", "dg-file-sha256": "ab" * 32,
                                      "dg-source-name": "x.zip", "dg-created-at": "2025-01-01T00:00:00Z"})
        for i in range(50):
            boto3_s3.put_object(Bucket=bucket, Key=f"f{f}/v{i:03d}.zip.delta", Body=b"d" * rng.randint(10, 300),
                                Metadata=_delta_metadata(int(base * rng.uniform(0.8, 1.3))))
    exact = client.get_bucket_stats(bucket, detailed_stats=True)
    assert exact.delta_objects == 300
    for seed in (1, 2, 3):
        client.metadata_cache.path.unlink(missing_ok=True)
        sampled = client.sampled_stats(bucket, seed=seed, pilot=40, max_sample=80)
        assert sampled.sample_size == 80 and not sampled.exact
        assert sampled.stored_bytes == exact.compressed_size and sampled.deltas == 300
        assert sampled.original_low <= exact.total_size <= sampled.original_high
        assert sampled.original_low < sampled.original_high
        assert sampled.saved_percent_low <= exact.savings_percent <= sampled.saved_percent_high
    everything = client.sampled_stats(bucket, seed=1)
    assert everything.exact and everything.original_bytes == exact.total_size


def test_cli_sampled_json(capsys, s3_env, client, bucket, layout):
    code = main(["stats", f"s3://{bucket}/releases/", "--sampled", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert data["mode"] == "sampled" and data["deltas"] == 8 and data["sample_size"] == 8
    assert data["original_bytes"] == data["original_bytes_low"] == data["original_bytes_high"] \
        == layout["releases/app/"] + layout["releases/product/"]
    code = main(["stats", f"s3://{bucket}", "--sampled", "--by-folder"])
    _, err = capsys.readouterr()
    assert code == 1 and err.count("\n") == 1
    for mode in ("--sampled", "--by-folder"):
        code = main(["stats", f"s3://{bucket}-missing", mode])
        out, err = capsys.readouterr()
        assert code == 1 and err.count("\n") == 1 and "Traceback" not in err and "missing" in err


def _synthetic(key: str, size: int) -> ObjectInfo:
    from dgtui.core.listing import to_object_info

    return to_object_info(key, size, "2025-01-01T00:00:00.000Z", "e", "STANDARD")


def test_aggregation_keeps_only_the_open_folders():
    """Counters, not objects: in a listing sorted by key only the folders on the current key's path stay open."""
    aggregator = SavingsAggregator("b", "")
    most_open = 0
    count = 0
    for p in range(20):
        for v in range(50):
            folder = f"p{p:02d}/{v:03d}"
            for key, size in ((f"{folder}/a.zip.delta", 100), (f"{folder}/reference.bin", 5000),
                              (f"{folder}/sub/x.txt", 7)):
                aggregator.add(_synthetic(key, size))
                count += 1
                most_open = max(most_open, len(aggregator._open))
    report = aggregator.finish()
    assert most_open <= 3
    assert report.total.objects == 20 * 50 * 2 and report.total.references == 1000
    assert report.total.stored_bytes == 1000 * 5107
    assert report.total.original_bytes == 1000 * 5007  # each delta guessed at its reference's size
    assert len(report.rows) == 20 and all(r.objects == 100 for r in report.rows)
    assert {a.parent for a in report.advice} == {f"p{p:02d}/" for p in range(20)}


def test_unordered_listing_gives_the_same_rows():
    keys = [(f"p{p}/{v}/a-{v}.zip.delta", 100 + v) for p in range(3) for v in range(5)]
    keys += [(f"p{p}/{v}/reference.bin", 1000) for p in range(3) for v in range(5)]
    ordered = SavingsAggregator("b")
    for key, size in sorted(keys):
        ordered.add(_synthetic(key, size))
    shuffled = SavingsAggregator("b")
    random.Random(3).shuffle(keys)
    for key, size in keys:
        shuffled.add(_synthetic(key, size))
    a, b = ordered.finish(), shuffled.finish()
    assert b.unordered and not a.unordered
    assert [(r.prefix, r.stored_bytes, r.original_bytes, r.objects) for r in a.rows] == \
        [(r.prefix, r.stored_bytes, r.original_bytes, r.objects) for r in b.rows]


def test_cli_by_folder_escapes_hostile_names(capsys, s3_env, client, bucket):
    client.put_object(Bucket=bucket, Key="evil\x1b]0;title\x07\n/a.txt", Body=b"a")
    code = main(["stats", f"s3://{bucket}", "--by-folder"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out
    assert "evil\\x1b]0;title\\x07\\n/" in out


def test_sampled_interval_covers_about_95_percent():
    """The estimator and its interval, as sampled_stats runs them, over many fixed samples of one population."""
    from dgtui.core.sampling import _needed, _ratio_estimate

    rng = random.Random(42)
    population = 3000
    refs = [rng.randint(1_000_000, 50_000_000) for _ in range(30)]
    xs = [refs[i % 30] for i in range(population)]
    ys = [int(x * rng.uniform(0.7, 1.4)) for x in xs]
    x_total, y_total = sum(xs), sum(ys)
    covered = 0
    trials = 300
    for trial in range(trials):
        order = random.Random(trial).sample(range(population), population)
        read, want = 0, 100
        while True:
            read = max(read, want)
            estimate, half = _ratio_estimate([xs[i] for i in order[:read]], [ys[i] for i in order[:read]],
                                             x_total, population)
            need = _needed(read, half, 0.01 * estimate, population)
            if half <= 0.01 * estimate or need <= read or read >= population:
                break
            want = min(population, max(need, read + read // 4))
        assert half <= 0.011 * estimate  # sized for about ±1%
        covered += estimate - half <= y_total <= estimate + half
    assert 0.9 <= covered / trials <= 0.99
