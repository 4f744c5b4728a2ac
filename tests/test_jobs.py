"""The job functions of ``dgtui.jobs`` without Textual: deletes, statistics, savings and audits against the
real server, with the job's counters, its cancel flag and its outcome."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dgtui import create_client
from dgtui.core.errors import CancelledError
from dgtui.jobs.audit import AuditJob, audit
from dgtui.jobs.delete import delete_objects, delete_prefix
from dgtui.jobs.job import Job
from dgtui.jobs.savings import folder_savings, sampled_stats
from dgtui.jobs.stats import bucket_stats

from .app.helpers import release_bytes


@pytest.fixture
def client(s3_server: Any, s3_env: dict[str, str], tmp_path: Path) -> Any:
    c = create_client(endpoint_url=s3_server.endpoint_url, aws_access_key_id=s3_server.access_key,
                      aws_secret_access_key=s3_server.secret_key, region_name=s3_server.region,
                      cache_dir=tmp_path / "dgtui-cache")
    yield c
    c.close()


def stored_keys(boto3_s3: Any, bucket: str, prefix: str = "") -> list[str]:
    response = boto3_s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in response.get("Contents", []))


@pytest.fixture
def releases(client: Any, bucket: str) -> str:
    """rel/: two similar archives (two deltas of one reference), docs/: a text file."""
    for version in range(2):
        client.put_object(Bucket=bucket, Key=f"rel/app-{version}.tar", Body=release_bytes(version))
    client.put_object(Bucket=bucket, Key="docs/notes.txt", Body=b"notes\n" * 50)
    return bucket


def test_delete_objects_counts_on_the_job_and_says_what_went(client, bucket, boto3_s3):
    keys = [f"logs/{i}.log" for i in range(3)]
    for key in keys:
        client.put_object(Bucket=bucket, Key=key, Body=b"log")
    job = Job(items_total=len(keys))
    outcome = delete_objects(client, job, bucket, keys)
    assert (outcome.deleted, outcome.failures, outcome.state) == (3, [], "done")
    assert outcome.line() == "deleted 3 objects"
    assert job.items_done == 3
    assert stored_keys(boto3_s3, bucket, "logs/") == []


def test_a_cancelled_delete_deletes_nothing_more(client, bucket, boto3_s3):
    client.put_object(Bucket=bucket, Key="keep.log", Body=b"log")
    job = Job()
    job.cancel()
    with pytest.raises(CancelledError):
        delete_objects(client, job, bucket, ["keep.log"])
    assert stored_keys(boto3_s3, bucket) == ["keep.log"]


def test_delete_prefix_takes_the_folder_with_its_reference_and_leaves_the_rest(client, releases, boto3_s3):
    stored = stored_keys(boto3_s3, releases, "rel/")
    assert any(k.endswith("reference.bin") for k in stored) and any(k.endswith(".delta") for k in stored)
    job = Job(items_total=2)
    outcome = delete_prefix(client, job, f"s3://{releases}/rel/")
    assert outcome.deleted == len(stored) and outcome.state == "done"
    assert outcome.line() == f"deleted {len(stored)} stored objects"
    assert job.items_done == 2
    assert stored_keys(boto3_s3, releases, "rel/") == []
    assert stored_keys(boto3_s3, releases, "docs/") == ["docs/notes.txt"]


def test_detailed_stats_count_every_object_read(client, releases):
    job = Job()
    stats = bucket_stats(client, job, releases, "", detailed=True)
    assert stats.detailed and stats.object_count == 3 and stats.delta_objects == 2
    assert stats.total_size == len(release_bytes(0)) + len(release_bytes(1)) + len(b"notes\n" * 50)
    assert job.stage == "reading metadata" and job.stage_total > 0 and job.stage_done == job.stage_total


def test_a_cancelled_stats_job_stops_with_cancelled_error(client, releases):
    job = Job()
    job.cancel()
    with pytest.raises(CancelledError):
        bucket_stats(client, job, releases, "", detailed=True)


def test_folder_savings_and_a_sample_report_through_the_job(client, releases):
    job = Job()
    report = folder_savings(client, job, releases, "", exact=True)
    assert report.exact
    assert sorted(row.prefix for row in report.rows if not row.here) == ["docs/", "rel/"]
    assert report.total.original_bytes == len(release_bytes(0)) + len(release_bytes(1)) + len(b"notes\n" * 50)
    assert job.stage == "reading metadata" and job.stage_done == 2  # the deltas' metadata
    sample_job = Job()
    sampled = sampled_stats(client, sample_job, releases, "")
    assert sampled.exact and sampled.deltas == 2
    assert sample_job.stage == "reading a sample" and sample_job.stage_done == 2


def test_a_cancelled_savings_job_stops(client, releases):
    job = Job()
    job.cancel()
    with pytest.raises(CancelledError):
        folder_savings(client, job, releases, "", exact=True)


def test_an_audit_job_collects_problems_as_it_finds_them(client, releases, boto3_s3):
    boto3_s3.delete_object(Bucket=releases, Key="rel/reference.bin")
    heard = []
    job = AuditJob()
    summary = audit(client, job, f"s3://{releases}/", on_problem=heard.append)
    assert summary is job.summary
    assert summary.problem_count == len(job.found) >= 1
    assert heard == job.found
    assert {p.kind.label for p in job.found} == {"missing reference"}
    assert job.stage_done > 0


def test_a_job_stops_when_its_runner_says_so(client, releases):
    """The app's worker flag (``stop_flag``) stops a job as its own cancel does."""
    job = Job(stop_flag=lambda: True)
    assert job.should_cancel() and not job.cancel_event.is_set()
    with pytest.raises(CancelledError):
        audit(client, AuditJob(stop_flag=lambda: True), f"s3://{releases}/")


def test_the_cli_measures_a_layout_through_the_job_function(capsys, s3_env, client, bucket, tmp_path):
    """``stats --by-folder --measure-layout`` calls ``measure_layout`` (it could not import the layout module
    once the CLI moved into its own package)."""
    from dgtui.cli import main

    from .core.test_savings import put_release_layout

    put_release_layout(client, bucket, tmp_path)
    code = main(["stats", f"s3://{bucket}/releases/", "--by-folder", "--measure-layout"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "layout: 4 folders under releases/product/" in out
    assert "measured on " in out and "one shared folder would store about" in out
