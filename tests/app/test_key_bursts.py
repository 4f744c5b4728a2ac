"""Keys that arrive together (a paste, a burst over SSH) are each handled, in order."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time

import pytest
from textual import events
from textual.widgets import Input

from .helpers import make_app, wait_for
from .test_transfers import open_at


@pytest.fixture
def numbered(client, bucket):
    for i in range(12):
        client.put_object(Bucket=bucket, Key=f"n/file-{i:02d}.txt", Body=b"x")
    return bucket


def burst(app, *keys: str) -> None:
    """Post every key at once, as a terminal read of several bytes does: no pause between them."""
    for key in keys:
        char = key if len(key) == 1 else ("\x7f" if key == "backspace" else None)
        app.post_message(events.Key(key, char))


@pytest.mark.asyncio
@pytest.mark.parametrize("start, keys, expected", [
    ("07", ("backspace", "1"), "01"),
    ("05", ("backspace", "backspace", "1", "2"), "12"),
    ("07", ("backspace",), "0"),
])
async def test_a_burst_in_the_filter_keeps_every_key(client, numbered, start, keys, expected):
    app = make_app(client, f"s3://{numbered}/n/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        await pilot.press("slash", *start)
        filter_input = app.screen.query_one("#filter", Input)
        assert filter_input.value == start and app.focused is filter_input
        burst(app, *keys)
        await wait_for(pilot, lambda: filter_input.value == expected and table.filter_text == expected,
                       what=f"filter {expected!r} (is {filter_input.value!r})")


@pytest.mark.asyncio
async def test_a_burst_from_the_table_opens_the_filter_types_and_comes_back(client, numbered):
    app = make_app(client, f"s3://{numbered}/n/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        filter_input = app.screen.query_one("#filter", Input)
        assert app.focused is table
        # "/", the text, Enter and a move in one read: the text goes to the filter, the move to the table.
        burst(app, "slash", "-", "1", "enter", "j")
        await wait_for(pilot, lambda: table.filter_text == "-1" and app.focused is table and table.cursor_row == 1,
                       what=f"filter '-1' and the cursor on the second row (is {filter_input.value!r}, "
                            f"row {table.cursor_row}, focus {app.focused})")
        assert filter_input.value == "-1"
        assert [row.name for row in table.view] == ["file-10.txt", "file-11.txt"]
        burst(app, "slash", "escape", "k")
        await wait_for(pilot, lambda: table.filter_text == "" and app.focused is table and len(table.view) == 12,
                       what="the filter cleared")
        await pilot.pause()
        assert table.current.name == "file-10.txt" and filter_input.value == ""


@pytest.mark.asyncio
async def test_a_paste_and_keys_after_it_keep_their_order(client, numbered):
    app = make_app(client, f"s3://{numbered}/n/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        await pilot.press("slash")
        app.post_message(events.Paste("file-1"))
        burst(app, "backspace", "0")
        await wait_for(pilot, lambda: table.filter_text == "file-0", what="filter 'file-0'")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_a_burst_in_one_write_through_a_real_terminal(s3_env, boto3_s3, bucket, tmp_path):
    """The app in a terminal (tmux): Backspace and 1 written to it in one write, as SSH delivers them."""
    for i in range(12):
        boto3_s3.put_object(Bucket=bucket, Key=f"n/file-{i:02d}.txt", Body=b"x")
    socket = f"dgtui-keys-{os.getpid()}"
    env = " ".join(f"{name}={shlex.quote(value)}" for name, value in s3_env.items())
    command = f"env {env} {shlex.quote(sys.executable)} -m dgtui s3://{bucket}/n/"

    def tmux(*args: str) -> str:
        return subprocess.run(["tmux", "-L", socket, *args], check=True, capture_output=True, text=True,
                              timeout=20).stdout

    def screen_shows(*texts: str, absent: str = "") -> str:
        screen = ""
        for _ in range(300):  # at most 30 s
            screen = tmux("capture-pane", "-p", "-t", "keys")
            if all(text in screen for text in texts) and not (absent and absent in screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"the screen never showed {texts}:\n{screen}")

    tmux("new-session", "-d", "-s", "keys", "-x", "120", "-y", "36", command)
    try:
        screen_shows("12 objects", "file-11.txt")
        tmux("send-keys", "-t", "keys", "-l", "/07")
        screen_shows("filtered: 1 of 12 objects", "file-07.txt")
        tmux("send-keys", "-t", "keys", "-l", "\x7f1")  # one write: Backspace, then 1
        screen_shows("filtered: 1 of 12 objects", "file-01.txt", absent="file-07.txt")
        tmux("send-keys", "-t", "keys", "-l", "\x7f\x7f-1")
        screen_shows("filtered: 2 of 12 objects", "file-10.txt", "file-11.txt", absent="file-01.txt")
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=20)
