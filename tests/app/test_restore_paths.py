"""In the app, a restore never writes outside the chosen folder, whatever the answer to "the file exists".

The report: `D` on a folder whose files stand locally as a link to a folder
outside (T/dest/a -> ../outside); "Ask for each" asked nothing and wrote
T/outside/a. A folder ok.txt where a file ok.txt goes got ok.txt/ok.txt.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dgtui.app.screens.confirm import ConfirmScreen

from .helpers import make_app, wait_for
from .test_moves import dialog_text
from .test_transfers import answer_prompt, finished, open_at

pytestmark = pytest.mark.asyncio

BODIES = {"a": b"contents of a\n" * 20, "b": b"contents of b\n" * 30}


@pytest.fixture
def plain(boto3_s3, bucket):
    for name, body in BODIES.items():
        boto3_s3.put_object(Bucket=bucket, Key=f"p/{name}", Body=body)
    return bucket


def lay_out(tmp_path: Path, kind: str) -> tuple[Path, Path]:
    dest, outside = tmp_path / "T" / "dest", tmp_path / "T" / "outside"
    dest.mkdir(parents=True)
    outside.mkdir()
    for name in BODIES:
        if kind == "link-outside":
            os.symlink("../outside", dest / name)
        elif kind == "dangling-link":
            os.symlink(f"../outside/missing-{name}", dest / name)
        else:
            (dest / name).mkdir()
    return dest, outside


async def answer_questions(pilot, app, answer: str, count: int, before=None) -> None:
    """Answer ``count`` questions about single files with the button ``answer``."""
    for _ in range(count):
        question = await wait_for(pilot, lambda shown=before: isinstance(app.screen, ConfirmScreen)
                                  and app.screen is not shown and app.screen, what="a question for one file",
                                  timeout=60)
        assert "already exists" in dialog_text(question)
        await pilot.click(f"#answer-{answer}")
        await wait_for(pilot, lambda shown=question: app.screen is not shown, what="the question to close", timeout=60)
        before = question


def check_after(dest: Path, outside: Path, kind: str, what: str) -> None:
    assert list(outside.iterdir()) == [], "nothing is written outside the chosen folder"
    for name, body in BODIES.items():
        path = dest / name
        if what == "overwrite":
            assert not path.is_symlink() and path.read_bytes() == body, "the link itself is replaced"
            continue
        assert path.is_symlink()
        if what == "rename":
            assert (dest / f"{name} (1)").read_bytes() == body
    assert not [p for p in dest.iterdir() if p.name.startswith(".dgtui-")]


FOLDER_FLOWS = [("overwrite", None), ("rename", None), ("skip", None),
                ("ask", "overwrite"), ("ask", "all"), ("ask", "rename"), ("ask", "skip")]


@pytest.mark.parametrize("kind", ["link-outside", "dangling-link"])
@pytest.mark.parametrize("folder_answer, file_answer", FOLDER_FLOWS,
                         ids=[f"{a}-{b}" if b else a for a, b in FOLDER_FLOWS])
async def test_folder_restore_answers_stay_inside(client, plain, tmp_path, kind, folder_answer, file_answer):
    dest, outside = lay_out(tmp_path, kind)
    app = make_app(client, f"s3://{plain}/p/", download_dir=str(dest))
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        await pilot.press("D")
        await answer_prompt(pilot, app, str(dest))
        first = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen,
                               what="the question about existing files", timeout=60)
        assert "2 of 2 files already exist" in dialog_text(first)
        await pilot.click(f"#answer-{folder_answer}")
        if folder_answer == "ask":
            await answer_questions(pilot, app, str(file_answer), 1 if file_answer == "all" else 2, first)
        transfer, text = await finished(pilot, app, timeout=60)
        assert transfer.state == "done", text
    what = folder_answer if folder_answer != "ask" else ("overwrite" if file_answer == "all" else file_answer)
    check_after(dest, outside, kind, str(what))


@pytest.mark.parametrize("kind", ["link-outside", "dangling-link"])
@pytest.mark.parametrize("answer", ["overwrite", "all", "rename", "skip"])
async def test_marked_rows_answers_stay_inside(client, plain, tmp_path, kind, answer):
    dest, outside = lay_out(tmp_path, kind)
    app = make_app(client, f"s3://{plain}/p/", download_dir=str(dest))
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        await pilot.press("space", "space")
        assert len(table.marked) == 2
        await pilot.press("d")
        await answer_prompt(pilot, app, str(dest))
        await answer_questions(pilot, app, answer, 1 if answer == "all" else 2)
        transfer, text = await finished(pilot, app, timeout=60)
        assert transfer.state == "done", text
    check_after(dest, outside, kind, "overwrite" if answer == "all" else answer)


@pytest.mark.parametrize("keys", ["D", "marked"])
async def test_a_folder_where_a_file_goes_is_reported_not_written_into(client, plain, tmp_path, keys):
    dest, outside = lay_out(tmp_path, "folder")
    app = make_app(client, f"s3://{plain}/p/", download_dir=str(dest))
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        if keys == "marked":
            await pilot.press("space", "space")
            assert len(table.marked) == 2
        await pilot.press("D" if keys == "D" else "d")
        await answer_prompt(pilot, app, str(dest))
        transfer, text = await finished(pilot, app, timeout=60)
        assert not isinstance(app.screen, ConfirmScreen), "no question: the folder is never replaced"
        assert transfer.state == "failed" and "2 failed" in text and "a folder stands where the file" in text, text
    for name in BODIES:
        assert (dest / name).is_dir() and list((dest / name).iterdir()) == []
    assert list(outside.iterdir()) == []


async def test_the_report_ask_for_each_asks_and_writes_inside(client, plain, tmp_path):
    """As reported: only T/dest/a stands there, a link to ../outside; "Ask for each" must ask, and the answer
    "Keep the existing file" must keep it, with nothing written in T/outside."""
    dest, outside = tmp_path / "T" / "dest", tmp_path / "T" / "outside"
    dest.mkdir(parents=True)
    outside.mkdir()
    os.symlink("../outside", dest / "a")
    app = make_app(client, f"s3://{plain}/p/", download_dir=str(dest))
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        await pilot.press("D")
        await answer_prompt(pilot, app, str(dest))
        first = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen,
                               what="the question about existing files", timeout=60)
        assert "1 of 2 files already exist" in dialog_text(first)
        await pilot.click("#answer-ask")
        question = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen is not first
                                  and app.screen, what="the question about T/dest/a", timeout=60)
        assert f"{dest / 'a'} already exists" in dialog_text(question)
        await pilot.click("#answer-skip")
        transfer, text = await finished(pilot, app, timeout=60)
        assert transfer.state == "done" and "restored 1" in text and "1 kept" in text, text
    assert list(outside.iterdir()) == []
    assert (dest / "a").is_symlink() and (dest / "b").read_bytes() == BODIES["b"]
