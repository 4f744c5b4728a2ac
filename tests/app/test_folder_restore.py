"""Folder restores count the bytes they write and ask about existing files as single restores do."""

from __future__ import annotations

import pytest

from dgtui.app.screens.confirm import ConfirmScreen
from dgtui.app.screens.prompt import PromptScreen
from dgtui.app.widgets.transfers_panel import TransfersPanel
from dgtui.core.text import human_size
from dgtui.jobs.job import Job
from dgtui.jobs.restore import restore_prefix
from dgtui.testing.proxy import TcpProxy

from .helpers import click_shown, make_app, make_client, release_bytes, screen_of, wait_for
from .test_moves import dialog_text
from .test_transfers import answer_prompt, finished, open_at

TEXTS = {"readme.txt": b"read me\n" * 50, "notes.txt": b"notes\n" * 80}


@pytest.fixture
def folder(client, bucket):
    for version in range(3):
        client.put_object(Bucket=bucket, Key=f"rel/app-{version}.tar", Body=release_bytes(version))
    for name, body in TEXTS.items():
        client.put_object(Bucket=bucket, Key=f"rel/{name}", Body=body)
    return bucket


def original_total() -> int:
    return 3 * len(release_bytes(0)) + sum(len(b) for b in TEXTS.values())


class Recorder(Job):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, float | None]] = []

    def on_progress(self, done: int, total: int, stage: str) -> None:
        super().on_progress(done, total, stage)
        self.seen.append((self.bytes_total, self.fraction()))


def test_folder_restore_counts_the_bytes_of_the_restored_files(client, folder, tmp_path):
    job = Recorder()
    outcome = restore_prefix(client, job, f"s3://{folder}/rel/", str(tmp_path / "out"))
    assert outcome.state == "done" and len(outcome.results) == 5, outcome.line()
    # The total is the restored files' size (deltas' original sizes), not the stored bytes of the listing.
    assert job.sizes_unknown == 0 and job.bytes_total == original_total()
    assert {total for total, _ in job.seen} == {original_total()}
    fractions = [f for _, f in job.seen]
    assert fractions == sorted(fractions), "the bar only moves forward"
    assert any(0 < f < 0.9 for f in fractions) and fractions[-1] == 1.0


def test_unknown_sizes_give_no_false_total(client, folder, boto3_s3, tmp_path):
    # A delta whose metadata lost its file size: it restores (the sha256 is there), its size is unknown.
    stored = "rel/app-2.tar.delta"
    head = boto3_s3.head_object(Bucket=folder, Key=stored)
    metadata = {k: v for k, v in head["Metadata"].items() if "size" not in k}
    boto3_s3.copy_object(Bucket=folder, Key=stored, CopySource={"Bucket": folder, "Key": stored},
                         Metadata=metadata, MetadataDirective="REPLACE")
    job = Recorder()
    outcome = restore_prefix(client, job, f"s3://{folder}/rel/", str(tmp_path / "out"))
    assert outcome.state == "done", outcome.line()
    assert job.sizes_unknown == 1 and job.bytes_total == 0


@pytest.mark.asyncio
async def test_folder_restore_shows_bytes_with_a_total_while_running(s3_server, folder, tmp_path):
    # Each request waits a little, so the running restore is seen on screen.
    proxy = TcpProxy.for_endpoint(s3_server.endpoint_url, latency_s=0.2).start()
    slow = make_client(s3_server, tmp_path / "slow-cache", endpoint_url=proxy.endpoint_url)
    total = human_size(original_total())
    try:
        app = make_app(slow, f"s3://{folder}/rel/", download_dir=str(tmp_path / "out"))
        async with app.run_test(size=(120, 36)) as pilot:
            await open_at(pilot, app)
            await pilot.press("D")
            prompt = await screen_of(pilot, PromptScreen, timeout=30)
            assert "5 objects" in dialog_text(prompt) and f"; writes {total}." in dialog_text(prompt)
            await answer_prompt(pilot, app)
            panel = app.screen.query_one(TransfersPanel)
            await wait_for(pilot, lambda: panel.transfers, what="the transfer")
            transfer = panel.transfers[-1]

            def running_line() -> str:
                line = panel.view_of(transfer).render().plain
                return line if transfer.active and f"/{total}" in line and transfer.items_done else ""

            line = await wait_for(pilot, running_line, timeout=60, what="bytes of a total while running")
            fraction = transfer.fraction()
            assert fraction is not None and 0 < fraction < 1, line
            transfer, text = await finished(pilot, app, timeout=60)
            assert transfer.state == "done" and "restored 5" in text, text
    finally:
        slow.close()
        proxy.stop()


@pytest.mark.asyncio
async def test_folder_restore_asks_for_each_existing_file(client, folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "readme.txt").write_text("mine")
    (out / "notes.txt").write_text("mine too")
    (out / "app-1.tar").write_text("old")
    app = make_app(client, f"s3://{folder}/rel/", download_dir=str(out))
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        await pilot.press("D")
        await answer_prompt(pilot, app)
        first = await screen_of(pilot, ConfirmScreen)
        assert "3 of 5 files already exist" in dialog_text(first)
        assert {"answer-overwrite", "answer-rename", "answer-skip", "answer-ask"} <= \
            {b.id for b in first.query("Button")}
        await click_shown(pilot, "#answer-ask")
        answers = {"app-1.tar": "#answer-overwrite", "notes.txt": "#answer-rename", "readme.txt": "#answer-skip"}
        for _ in range(3):
            question = await wait_for(pilot, lambda before=first: isinstance(app.screen, ConfirmScreen)
                                      and app.screen is not before and app.screen, what="a question for one file")
            body = dialog_text(question)
            name = next(n for n in answers if f"rel/{n}" in body)
            assert {"answer-overwrite", "answer-all", "answer-rename", "answer-skip"} <= \
                {b.id for b in question.query("Button")}, "the single restore's choices"
            await click_shown(pilot, answers.pop(name))
            first = question
            await wait_for(pilot, lambda shown=question: app.screen is not shown, what="the question to close")
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done", text
        assert "restored 4" in text and "1 kept" in text, text
    assert (out / "app-1.tar").read_bytes() == release_bytes(1)
    assert (out / "notes.txt").read_text() == "mine too"
    assert (out / "notes (1).txt").read_bytes() == TEXTS["notes.txt"]
    assert (out / "readme.txt").read_text() == "mine"
    assert (out / "app-0.tar").read_bytes() == release_bytes(0)


@pytest.mark.asyncio
async def test_folder_restore_keeps_both_for_all_existing_files(client, folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "readme.txt").write_text("mine")
    (out / "app-2.tar").write_text("old")
    app = make_app(client, f"s3://{folder}/rel/", download_dir=str(out))
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        await pilot.press("D")
        await answer_prompt(pilot, app)
        question = await screen_of(pilot, ConfirmScreen)
        assert "readme (1).txt" in dialog_text(question) or "app-2 (1).tar" in dialog_text(question)
        await click_shown(pilot, "#answer-rename")
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done" and "restored 5" in text, text
    assert (out / "readme.txt").read_text() == "mine" and (out / "app-2.tar").read_text() == "old"
    assert (out / "readme (1).txt").read_bytes() == TEXTS["readme.txt"]
    assert (out / "app-2 (1).tar").read_bytes() == release_bytes(2)


@pytest.mark.asyncio
async def test_the_panel_says_when_the_total_is_unknown(session_client):
    from dgtui.app.transfer_state import Transfer

    app = make_app(session_client)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(TransfersPanel)
        # No worker: the transfer stays as set, as a folder restore with one delta of unknown size would be.
        transfer = panel.add(Transfer("download", "s3://b/rel/", "/tmp/out", items_total=5, items_done=2,
                                      sizes_unknown=1, bytes_written=600_000))
        await pilot.pause()
        line = panel.view_of(transfer).render().plain
        assert "585.9 KiB restored" in line and "total unknown: no size for 1 file" in line, line


@pytest.mark.parametrize("name, kept", [("app-1.0.0.zip", "app-1.0.0 (1).zip"), ("db.sql.gz", "db (1).sql.gz"),
                                        ("notes.txt", "notes (1).txt"), (".bashrc", ".bashrc (1)"),
                                        ("README", "README (1)")])
def test_keep_both_names_keep_the_extension(tmp_path, name, kept):
    from dgtui.jobs.restore import free_name

    (tmp_path / name).write_text("exists")
    assert free_name(tmp_path / name).name == kept
