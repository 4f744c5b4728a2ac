"""Keyboard first: quitting, the help screen, the command palette, the footer."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from dgtui.app.app import QuitConfirmScreen
from dgtui.app.screens.browser import BrowserScreen
from dgtui.app.screens.help import HelpScreen
from dgtui.app.transfer_state import Transfer
from dgtui.app.widgets.object_table import ObjectTable
from dgtui.app.widgets.transfers_panel import TransfersPanel

from .helpers import make_app, screen_of, wait_for

pytestmark = pytest.mark.asyncio


@pytest.mark.parametrize("key", ["q", "ctrl+q", "ctrl+c"])
async def test_quit_keys(session_client, key):
    app = make_app(session_client)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press(key)
        await pilot.pause()
        assert not app.is_running
    assert app.return_code == 0


async def test_quit_asks_while_transfers_run(session_client):
    app = make_app(session_client)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        panel = app.screen.query_one(TransfersPanel)
        running = panel.add(Transfer("download", "backup.tar", "/tmp"))  # no worker: stays running
        await pilot.press("q")
        await screen_of(pilot, QuitConfirmScreen)
        await pilot.press("enter")  # the harmless answer has the focus
        await wait_for(pilot, lambda: not isinstance(app.screen, QuitConfirmScreen))
        assert app.is_running and not running.should_cancel()
        await pilot.press("ctrl+c")
        await screen_of(pilot, QuitConfirmScreen)
        await pilot.press("ctrl+c")  # twice: the user means it
        await pilot.pause()
        assert not app.is_running
    assert running.should_cancel()


async def test_help_lists_every_browser_key(session_client):
    app = make_app(session_client)
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        await pilot.press("question_mark")
        screen = await screen_of(pilot, HelpScreen)
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(screen._table())
        text = console.export_text()
        for binding in BrowserScreen.BINDINGS + ObjectTable.BINDINGS:
            assert binding.description in text, binding.description
        await pilot.press("escape")
        assert isinstance(app.screen, BrowserScreen)


async def test_command_palette_offers_the_actions(session_client, bucket):
    app = make_app(session_client, f"s3://{bucket}/")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for title in ("Restore", "Restore folder", "Upload", "Details", "Delete", "Exact stats", "Refresh",
                      "Copy URL", "New bucket", "Filter", "Keys", "Quit"):
            assert title in titles, title
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"exact stats")
        await pilot.pause(0.3)
        await pilot.press("enter")
        stats = app.screen.query_one("#stats")
        await wait_for(pilot, lambda: stats.detailed is not None or stats.running, what="stats started")


async def test_footer_shows_keys_and_quit_first_at_80_columns(session_client):
    app = make_app(session_client)
    async with app.run_test(size=(80, 24)) as pilot:
        # the footer fills in once the screen's bindings are known: on a loaded machine, after a while
        def footer_with_keys():
            found = app.screen.query("AppFooter")
            return found.first() if found and found.first().children else None

        footer = await wait_for(pilot, footer_with_keys, what="the footer's keys")
        keys = [key.description for key in footer.children]
        assert keys[:2] == ["Keys", "Quit"]


async def test_copy_url_shows_it(session_client, bucket):
    session_client.put_object(Bucket=bucket, Key="a/[bold]x.txt", Body=b"x")
    app = make_app(session_client, f"s3://{bucket}/a/")
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: table.view and not table.listing)
        await pilot.press("y")
        await pilot.pause()
        assert app.clipboard == f"s3://{bucket}/a/[bold]x.txt"
        assert any(n.message == f"Copied s3://{bucket}/a/[bold]x.txt" and not n.markup for n in app._notifications)


@pytest.mark.parametrize("name", ["\x1b]0;PWNED\x07t.txt", "bidi\u202etxt.exe"])
async def test_copy_url_copies_what_it_shows(session_client, bucket, name):
    session_client.put_object(Bucket=bucket, Key=f"t/{name}", Body=b"x")
    app = make_app(session_client, f"s3://{bucket}/t/")
    async with app.run_test(size=(100, 30)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: table.view and not table.listing)
        await pilot.press("y")
        await pilot.pause()
        shown = f"s3://{bucket}/t/" + name.encode("unicode_escape").decode("ascii")
        assert app.clipboard == shown
        assert not any(ch in app.clipboard for ch in "\x1b\x07\u202e")
        assert any(n.message.startswith(f"Copied {shown} (as shown") for n in app._notifications)
