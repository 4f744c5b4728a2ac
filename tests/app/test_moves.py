"""Dialogs, focus and keys move the way people expect (issue points 7, 9, 12-16)."""

from __future__ import annotations

import os

import pytest
from textual.widgets import Input

from dgtui.app.screens.confirm import ConfirmScreen
from dgtui.app.screens.preview import PreviewScreen
from dgtui.app.screens.prompt import PromptScreen
from dgtui.app.transfer_state import Transfer
from dgtui.app.widgets.bucket_tree import BucketTree
from dgtui.app.widgets.object_table import ObjectTable
from dgtui.app.widgets.transfers_panel import TransfersPanel

from .helpers import make_app, release_bytes, screen_of, wait_for
from .test_transfers import finished, open_at

pytestmark = pytest.mark.asyncio


def dialog_text(screen) -> str:
    return "\n".join(str(w.render()) for w in screen.query("Static"))


@pytest.fixture
def folder(client, bucket):
    for version in range(2):
        client.put_object(Bucket=bucket, Key=f"rel/app-{version}.tar", Body=release_bytes(version))
    for name in ("readme.txt", "notes.txt", "sums.sha256"):
        client.put_object(Bucket=bucket, Key=f"rel/{name}", Body=f"{name}\nline two\n".encode())
    client.put_object(Bucket=bucket, Key="rel/sub/inner.txt", Body=b"inner")
    return bucket


async def test_large_upload_asks_with_count_and_size_and_cancel_says_what_was_uploaded(client, bucket, tmp_path):
    source = tmp_path / "many"
    source.mkdir()
    for i in range(12):
        (source / f"f{i:02d}.txt").write_bytes(b"x" * 1000)
    client.put_object(Bucket=bucket, Key="up/keep.txt", Body=b"k")
    app = make_app(client, f"s3://{bucket}/up/", download_dir=str(tmp_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        await pilot.press("u")
        prompt = await screen_of(pilot, PromptScreen)
        prompt.query_one(Input).value = str(source)
        await pilot.press("enter")
        confirm = await screen_of(pilot, ConfirmScreen)
        assert "Upload 12 files (11.7 KiB)" in dialog_text(confirm)
        panel = app.screen_stack[-2].query_one(TransfersPanel)
        # Cancel as soon as the transfer exists: the outcome names what was already uploaded.
        await pilot.click("#answer-upload")
        await wait_for(pilot, lambda: panel.transfers and panel.transfers[-1].items_done >= 1, what="one file up")
        panel.transfers[-1].cancel()
        transfer, text = await finished(pilot, app)
        if transfer.state == "cancelled":
            assert "of 12 files were uploaded" in text and "nothing was written for the unfinished file" in text, text
        else:
            assert "uploaded 12 files" in text, text


async def test_folder_restore_shows_count_and_size_and_lists_failures(client, folder, tmp_path):
    out = tmp_path / "out"
    app = make_app(client, f"s3://{folder}/rel/", download_dir=str(out))
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        await pilot.press("D")
        prompt = await screen_of(pilot, PromptScreen)
        assert "6 objects" in dialog_text(prompt), dialog_text(prompt)
        # A folder that cannot be created keeps the dialog open with the reason.
        blocker = tmp_path / "file"
        blocker.write_text("a file")
        prompt.query_one(Input).value = str(blocker / "inside")
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is prompt and "cannot create" in str(prompt.query_one("#prompt-message").render())
        prompt.query_one(Input).value = str(out)
        out.mkdir()
        (out / "sub").write_text("a file where a folder must go: sub/inner.txt fails")
        await pilot.press("enter")
        transfer, text = await finished(pilot, app)
        assert transfer.state == "failed" and "restored 5" in text and "1 failed" in text, text
        panel = app.screen.query_one(TransfersPanel)
        panel.focus()
        await pilot.press("enter")
        report = await screen_of(pilot, ConfirmScreen)
        body = dialog_text(report)
        assert body.count("sha256 verified") + body.count("MD5") >= 5 and "FAILED rel/sub/inner.txt" in body, body


async def test_restore_one_object_under_another_name_and_keep_both(client, folder, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    app = make_app(client, f"s3://{folder}/rel/", download_dir=str(out))
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        while table.current.name != "app-1.tar":
            await pilot.press("down")
        await pilot.press("d")
        prompt = await screen_of(pilot, PromptScreen)
        prompt.query_one(Input).value = str(out / "renamed.tar")
        await pilot.press("enter")
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done", text
        assert (out / "renamed.tar").read_bytes() == release_bytes(1), "a file, not a folder"
        # The same name again: keep both.
        await pilot.press("d")
        prompt = await screen_of(pilot, PromptScreen)
        prompt.query_one(Input).value = str(out / "renamed.tar")
        await pilot.press("enter")
        question = await screen_of(pilot, ConfirmScreen)
        assert "renamed (1).tar" in dialog_text(question)
        await pilot.click("#answer-rename")
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done" and (out / "renamed (1).tar").read_bytes() == release_bytes(1)
        # Restored files carry the object's modification time, not the time of the restore.
        listed = next(row for row in table.view if row.name == "app-1.tar")
        from datetime import datetime

        stamp = datetime.fromisoformat(listed.modified).timestamp()
        assert abs(os.path.getmtime(out / "renamed.tar") - stamp) < 2


async def test_x_cancels_the_running_transfer_not_the_selected_finished_one(session_client):
    app = make_app(session_client)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(TransfersPanel)
        running = panel.add(Transfer("download", "running.tar", "/tmp"))  # no worker: stays running
        done = panel.add(Transfer("download", "done.tar", "/tmp", state="done", result="ok"))
        panel.focus()
        assert panel.current is done
        await pilot.press("x")
        assert running.should_cancel() and not done.should_cancel()


async def test_tab_order_and_enter_in_the_tree(client, folder):
    app = make_app(client, f"s3://{folder}/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        tree = app.screen.query_one(BucketTree)
        await wait_for(pilot, lambda: tree.node_for_bucket(folder), what="bucket node")
        tree.focus()
        await pilot.press("tab")
        assert app.focused is table, app.focused
        await pilot.press("tab", "j", "j")
        assert app.screen.query_one("#filter", Input).value == "", "Tab never lands in the filter"
        tree.focus()
        node = tree.node_for_bucket(folder)
        tree.move_cursor(node)
        await pilot.press("enter")
        await pilot.pause()
        assert app.focused is table and node.is_expanded
        tree.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert node.is_expanded, "Enter does not collapse"


async def test_filter_backspace_edits_and_header_counts(client, folder):
    app = make_app(client, f"s3://{folder}/rel/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        await pilot.press("slash", "t", "x", "t", "enter")
        assert app.focused is table and table.filter_text == "txt"
        bar = str(app.screen.query_one("#location-bar").render().columns[1]._cells[0])
        assert "filtered: 2 of 5 objects" in bar, bar
        await pilot.press("backspace")
        assert table.filter_text == "tx" and table.location.prefix == "rel/", "edits the filter, stays here"


async def test_ranger_keys_sort_preview_and_sha256(client, folder):
    app = make_app(client, f"s3://{folder}/rel/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        await pilot.press("G")
        assert table.cursor_row == len(table.view) - 1
        await pilot.press("g")
        assert table.cursor_row == 0 and table.current.name == "sub/"
        await pilot.press("l")
        await wait_for(pilot, lambda: table.location.prefix == "rel/sub/" and not table.listing, what="sub/")
        await pilot.press("h")
        await wait_for(pilot, lambda: table.location.prefix == "rel/" and not table.listing and table.view)
        await pilot.press("o")
        await wait_for(pilot, lambda: all(r.info.original_size for r in table.view if r.info and r.info.is_delta),
                       what="original sizes read")
        names = [r.name for r in table.view if not r.is_folder]
        assert table.sort_key == "original" and names[0] in ("app-0.tar", "app-1.tar"), names
        while table.current.name != "readme.txt":
            await pilot.press("down")
        await pilot.press("p")
        preview = await screen_of(pilot, PreviewScreen)
        await wait_for(pilot, lambda: preview.text is not None, what="preview")
        assert preview.text == "readme.txt\nline two"
        await pilot.press("q")
        await wait_for(pilot, lambda: not isinstance(app.screen, PreviewScreen))
        await pilot.press("Y")
        await wait_for(pilot, lambda: app.clipboard and len(app.clipboard) == 64, what="sha256 copied")


async def test_tab_completes_paths_in_prompts(session_client, tmp_path):
    (tmp_path / "backups-2025").mkdir()
    (tmp_path / "bank.txt").write_text("x")
    app = make_app(session_client)
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        app.push_screen(PromptScreen("Upload", "where", str(tmp_path / "bac"), paths=True))
        prompt = await screen_of(pilot, PromptScreen)
        await pilot.press("tab")
        assert prompt.query_one(Input).value == str(tmp_path / "backups-2025") + os.sep
        prompt.query_one(Input).value = str(tmp_path / "ba")
        await pilot.press("tab")
        assert "backups-2025" in str(prompt.query_one("#prompt-message").render())


@pytest.mark.parametrize("width", [80, 250])
async def test_columns_at_80_and_250(session_client, width):
    app = make_app(session_client)
    async with app.run_test(size=(width, 30)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(ObjectTable)
        layout = table._layout(table.size.width)
        titles = [c.title for c, _ in layout]
        assert "Original" in titles and "Saved" in titles, titles
        name_width = next(w for c, w in layout if c.title == "Name")
        assert name_width <= 120, name_width


async def test_polish(client, folder, boto3_s3):
    """Hidden demo bucket, the endpoint in the header, one Help command, sorts in the palette,
    the marked size, errors that say 'failed' once, and quit wording for one transfer."""
    from dgtui.app.app import QuitConfirmScreen

    shown = folder[:50] + "-shown"
    boto3_s3.create_bucket(Bucket=shown)
    app = make_app(client, hide_buckets=(folder,), endpoint_label="http://demo:1")
    async with app.run_test(size=(120, 36)) as pilot:
        tree = app.screen.query_one(BucketTree)
        await wait_for(pilot, lambda: tree.node_for_bucket(shown), what="buckets")
        assert tree.node_for_bucket(folder) is None, "hidden bucket"
        bar = app.screen.query_one("#location-bar").render()
        assert "http://demo:1" in str(bar.columns[1]._cells[0])
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert titles.count("Keys") == 1 and "Help" in titles
        assert {"Sort by original size", "Sort by saved", "Sort by date"} <= set(titles)
        app.screen._create_bucket("Not_A_Valid_Bucket")
        await wait_for(pilot, lambda: any(n.severity == "error" for n in app._notifications), what="error")
        error = [n.message for n in app._notifications if n.severity == "error"][-1]
        assert error.lower().count("failed") <= 1, error
        panel = app.screen.query_one(TransfersPanel)
        panel.add(Transfer("download", "one.tar", "/tmp"))
        await pilot.press("q")
        quit_screen = await screen_of(pilot, QuitConfirmScreen)
        body = dialog_text(quit_screen)
        assert "1 transfer is still running" in body and "cancels it" in body, body
        await pilot.press("escape")
    boto3_s3.delete_bucket(Bucket=shown)

    app = make_app(client, f"s3://{folder}/rel/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        while table.current.name != "readme.txt":
            await pilot.press("down")
        await pilot.press("space")
        bar = str(app.screen.query_one("#location-bar").render().columns[1]._cells[0])
        assert "1 marked (20 B stored)" in bar, bar
