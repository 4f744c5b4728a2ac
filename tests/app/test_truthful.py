"""What the app says is true: uploads, restores, exact stats and progress (issue points 1-6, 8, 11)."""

from __future__ import annotations

import pytest

from dgtui.app.screens.browser import BrowserScreen
from dgtui.app.screens.confirm import ConfirmScreen
from dgtui.app.screens.details import DetailsScreen
from dgtui.app.screens.prompt import PromptScreen
from dgtui.app.widgets.stats_panel import StatsPanel
from dgtui.jobs.job import Job
from dgtui.jobs.restore import restore_objects

from .helpers import make_app, release_bytes, screen_of, wait_for
from .test_transfers import answer_prompt, finished, open_at


def panel_text(app) -> str:
    from io import StringIO

    from rich.console import Console

    console = Console(width=40, file=StringIO(), record=True)
    console.print(app.screen.query_one(StatsPanel).render())
    return console.export_text()


@pytest.mark.asyncio
async def test_first_archive_is_reported_as_the_folders_reference(client, bucket, tmp_path):
    client.put_object(Bucket=bucket, Key="other/readme.txt", Body=b"x")
    archive = tmp_path / "app-1.0.tar"
    archive.write_bytes(release_bytes(0))
    app = make_app(client, f"s3://{bucket}/", download_dir=str(tmp_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        await pilot.press("u")
        await answer_prompt(pilot, app, str(archive))
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done", text
        assert "stored as this folder's reference (293.0 KiB)" in text and "saved" not in text, text


@pytest.mark.asyncio
async def test_plain_objects_are_not_claimed_sha256_verified(client, bucket, tmp_path):
    client.boto3_client.put_object(Bucket=bucket, Key="plain/notes.txt", Body=b"written by another tool\n")
    app = make_app(client, f"s3://{bucket}/plain/", download_dir=str(tmp_path / "out"))
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        await pilot.press("d")
        prompt = await screen_of(pilot, PromptScreen)
        promise = str(prompt.query_one("#dialog-explanation").render())
        assert "MD5" in promise, promise
        await answer_prompt(pilot, app)
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done", text
        assert "sha256 verified" not in text and "MD5 (ETag) checked" in text, text


@pytest.mark.asyncio
async def test_exact_stats_go_stale_and_name_the_hidden_reference(client, bucket):
    for version in range(2):
        client.put_object(Bucket=bucket, Key=f"rel/app-{version}.tar", Body=release_bytes(version))
    app = make_app(client, f"s3://{bucket}/rel/")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        await pilot.press("c")
        stats = app.screen.query_one(StatsPanel)
        await wait_for(pilot, lambda: stats.detailed is not None and not stats.running, what="exact stats")
        text = panel_text(app)
        assert "(exact)" in text and "in refs" in text, text
        client.put_object(Bucket=bucket, Key="rel/app-2.tar", Body=release_bytes(2))
        await pilot.press("r")
        await wait_for(pilot, lambda: "out of date" in panel_text(app), what="stale label")
        assert "(exact)" not in panel_text(app)
        await pilot.press("c")
        await wait_for(pilot, lambda: stats.detailed is not None and not stats.running
                       and stats.detailed.object_count == 3, what="exact stats again")
        assert "(exact)" in panel_text(app)


@pytest.mark.asyncio
async def test_left_and_right_move_between_dialog_buttons(session_client):
    app = make_app(session_client)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.push_screen(ConfirmScreen("Pick", "one", [("a", "A"), ("b", "B"), ("c", "C")]))
        screen = await screen_of(pilot, ConfirmScreen)
        assert screen.focused.id == "answer-a"
        await pilot.press("right")
        assert screen.focused.id == "answer-b"
        await pilot.press("right", "left", "left")
        assert screen.focused.id == "answer-a"
        # They go round the buttons only: never into the text, where Enter would do nothing.
        await pilot.press("left")
        assert screen.focused.id == "answer-c"
        await pilot.press("right")
        assert screen.focused.id == "answer-a"


@pytest.mark.asyncio
async def test_q_in_details_goes_back(client, bucket):
    client.put_object(Bucket=bucket, Key="d/notes.txt", Body=b"notes")
    app = make_app(client, f"s3://{bucket}/d/")
    async with app.run_test(size=(80, 24)) as pilot:
        await open_at(pilot, app)
        await pilot.press("enter")
        await screen_of(pilot, DetailsScreen)
        await pilot.press("q")
        await screen_of(pilot, BrowserScreen)
        assert app.is_running


class Recorder(Job):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int, str, float | None]] = []

    def on_progress(self, done: int, total: int, stage: str) -> None:
        super().on_progress(done, total, stage)
        self.seen.append((done, total, stage, self.fraction()))


def test_progress_counts_the_rebuilt_bytes(client, bucket, tmp_path):
    for version in range(2):
        client.put_object(Bucket=bucket, Key=f"p/app-{version}.tar", Body=release_bytes(version))
    job = Recorder()
    outcome = restore_objects(client, job, bucket, [("p/app-1.tar", 0)], str(tmp_path))
    assert outcome.state == "done" and "sha256 verified" in outcome.line()
    rebuilding = [s for s in job.seen if s[2] == "rebuilding"]
    assert rebuilding and rebuilding[-1][0] == rebuilding[-1][1] == len(release_bytes(1))
    assert rebuilding[-1][3] == 1.0, "the bar is full when the file is rebuilt"
    assert job.bytes_written == len(release_bytes(1))
