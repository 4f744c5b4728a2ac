"""Cancelling each kind of app job through the one runner: its function stops, no worker is left running, and
nothing it computed is drawn afterwards.

Requests go through a proxy that adds latency, so each job is still under way when it is cancelled.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from dgtui.app.jobs import JobRunner
from dgtui.app.messages import Location
from dgtui.app.screens.audit import AuditScreen
from dgtui.app.screens.details import DetailsScreen
from dgtui.app.screens.savings import SavingsScreen
from dgtui.app.widgets.stats_panel import StatsPanel
from dgtui.app.widgets.transfers_panel import TransfersPanel
from dgtui.jobs.job import Job
from dgtui.testing.proxy import TcpProxy

from .helpers import make_app, make_client, release_bytes, screen_of, wait_for

pytestmark = pytest.mark.asyncio


@pytest.fixture
def releases(client, bucket):
    for version in range(2):
        client.put_object(Bucket=bucket, Key=f"releases/app-{version}.tar", Body=release_bytes(version))
    client.put_object(Bucket=bucket, Key="docs/readme.txt", Body=b"read me\n")
    return bucket


@pytest.fixture
def proxy(s3_server):
    """Every request waits half a second on the way."""
    proxy = TcpProxy.for_endpoint(s3_server.endpoint_url, latency_s=0.5, max_connections=256).start()
    yield proxy
    proxy.stop()


@pytest.fixture
def slow(s3_server, tmp_path, proxy):
    client = make_client(s3_server, tmp_path / "slow-cache", endpoint_url=proxy.endpoint_url)
    yield client
    client.close()


async def ended(pilot: Any, app: Any, runner: JobRunner, job: Job) -> None:
    """The job's function has returned, its end has been handled, and no worker of its owner still runs."""
    await wait_for(pilot, job.ended.is_set, timeout=30, what="the job's function to return")
    await wait_for(pilot, lambda: job not in runner.running(), what="the job's end to be handled")
    await wait_for(pilot, lambda: all(w.is_finished for w in app.workers if w.node is runner.owner),
                   what="the owner's workers to end")
    for _ in range(3):  # whatever the job posted before ending has been handled too
        await pilot.pause()


async def opened(pilot: Any, app: Any) -> None:
    table = app.screen.table
    await wait_for(pilot, lambda: table.location is not None and not table.listing and table.view, timeout=30,
                   what="listing")


async def test_cancelled_detailed_stats_draw_no_numbers(slow, releases):
    app = make_app(slow, f"s3://{releases}/")
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot, app)
        stats = app.screen.query_one(StatsPanel)
        await pilot.press("c")
        job = stats._job
        assert stats.running and job is not None and not job.ended.is_set()
        await pilot.press("c")
        assert not stats.running and stats.detailed_note == "cancelled"
        await ended(pilot, app, stats.jobs, job)
        assert stats.detailed is None and not stats.running and stats.detailed_note == "cancelled"


async def test_a_replaced_stats_job_does_not_draw_over_the_new_one(slow, releases):
    app = make_app(slow, f"s3://{releases}/")
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot, app)
        stats = app.screen.query_one(StatsPanel)
        stats.start_detailed(Location(releases, "docs/"))
        first = stats._job
        stats.start_detailed(Location(releases, ""))  # replaces it: the first is cancelled and forgotten
        second = stats._job
        assert first is not None and second is not first and first.should_cancel()
        await wait_for(pilot, first.ended.is_set, timeout=30, what="the first job to stop")
        await wait_for(pilot, lambda: stats.detailed is not None, timeout=60, what="the second job's numbers")
        assert stats.detailed_location == Location(releases, "") and stats.detailed.object_count == 3


async def test_cancelled_exact_savings_keep_the_quick_numbers(slow, releases):
    app = make_app(slow, f"s3://{releases}/")
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot, app)
        await pilot.press("s")
        screen = await screen_of(pilot, SavingsScreen)
        await wait_for(pilot, lambda: screen.report is not None and screen.running is None, timeout=30,
                       what="the quick report")
        for key, kind in (("e", "exact"), ("a", "sampled")):
            await pilot.press(key)
            job = screen._job
            assert screen.running == kind and job is not None
            await pilot.press(key)
            assert screen.running is None and screen.note == f"{kind} cancelled"
            await ended(pilot, app, screen.jobs, job)
            assert screen.running is None and screen.note == f"{kind} cancelled"
        assert not screen.report.exact and screen.location not in screen.sampled
        assert (screen.location, True) not in screen.reports


async def test_a_cancelled_audit_draws_no_summary(slow, releases):
    app = make_app(slow, f"s3://{releases}/releases/")  # the cursor on an object: the folder shown is audited
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot, app)
        await pilot.press("v")
        screen = await screen_of(pilot, AuditScreen)
        await wait_for(pilot, lambda: screen.running, what="the audit to start")
        job = screen._job
        await pilot.press("x")
        await ended(pilot, app, screen.jobs, job)
        assert not screen.running and screen.summary is None and screen.note == "cancelled"


async def test_cancelled_transfers_end_as_cancelled(slow, releases, tmp_path: Path, boto3_s3):
    app = make_app(slow, f"s3://{releases}/", download_dir=str(tmp_path / "out"))
    upload = tmp_path / "new.bin"
    upload.write_bytes(b"u" * 4096)
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot, app)
        panel = app.screen.query_one(TransfersPanel)
        started = [
            panel.download_prefix(Location(releases, "releases/"), str(tmp_path / "out")),
            panel.upload([upload], Location(releases, "up/"), None, upload.stat().st_size),
            panel.delete_objects(Location(releases, "docs/"), ["docs/readme.txt"]),
        ]
        for transfer in started:
            panel.cancel(transfer)
        for transfer in started:
            await ended(pilot, app, panel.jobs, transfer)
            assert transfer.state == "cancelled", transfer.result
        assert not any((tmp_path / "out").rglob("*.tar"))
        assert not boto3_s3.list_objects_v2(Bucket=releases, Prefix="up/").get("Contents")
        assert boto3_s3.list_objects_v2(Bucket=releases, Prefix="docs/")["KeyCount"] == 1


async def test_closing_details_stops_its_read(slow, proxy, releases):
    app = make_app(slow, f"s3://{releases}/releases/")
    async with app.run_test(size=(120, 40)) as pilot:
        await opened(pilot, app)
        proxy.latency_s = 3.0  # the read is still under way when the screen closes
        await pilot.press("i")
        screen = await screen_of(pilot, DetailsScreen)
        (job,) = await wait_for(pilot, screen.jobs.running, what="the read to start")
        await pilot.press("escape")
        await wait_for(pilot, job.ended.is_set, timeout=30, what="the read to return")
        await wait_for(pilot, lambda: not [w for w in app.workers if w.node is screen and not w.is_finished],
                       what="the screen's worker to end")
        await asyncio.sleep(0)
        assert not isinstance(app.screen, DetailsScreen) and screen.info is None
        # What it read still reaches the session's cache (and the table's row), as the app keeps it.
        await wait_for(pilot, lambda: (releases, "releases/app-0.tar") in app.info_cache, what="the cached metadata")


async def test_leaving_a_folder_mid_listing_cancels_its_listing_job_and_draws_none_of_it(slow, releases):
    """The table's listing is a job too: a newer folder cancels the older listing, whose pages never show."""
    from dgtui.app.widgets.object_table import ObjectTable

    app = make_app(slow, f"s3://{releases}/releases/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = app.screen.query_one(ObjectTable)
        first = await wait_for(pilot, lambda: table.jobs.running("listing"), what="the first listing job")
        old = first[0]
        table.show(Location(releases, "docs/"))  # the user goes elsewhere while releases/ is still listed
        await ended(pilot, app, table.jobs, old)
        assert old.should_cancel()
        await wait_for(pilot, lambda: not table.listing and table.view, timeout=30, what="docs/ listed")
        assert [row.key for row in table.view] == ["docs/readme.txt"]
        assert not table.jobs.running("listing")
