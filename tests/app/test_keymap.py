"""Keys can be remapped by binding id in the settings file's [keymap]; ? shows the keys in force."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from textual.binding import Binding

from dgtui.app.app import KEYMAP_OWNERS, QuitConfirmScreen
from dgtui.app.screens.audit import AuditScreen
from dgtui.app.screens.browser import BrowserScreen
from dgtui.app.screens.confirm import ConfirmScreen
from dgtui.app.screens.help import HelpScreen
from dgtui.app.screens.savings import SavingsScreen
from dgtui.app.transfer_state import Transfer
from dgtui.app.widgets.object_table import ObjectTable
from dgtui.app.widgets.transfers_panel import TransfersPanel

from .helpers import make_app, screen_of, wait_for
from .test_transfers import open_at

pytestmark = pytest.mark.asyncio


@pytest.fixture
def config(tmp_path, monkeypatch):
    path = tmp_path / "config.toml"
    monkeypatch.setenv("DGTUI_CONFIG", str(path))
    return path


@pytest.fixture
def three_objects(client, bucket):
    for name in ("a.txt", "b.txt", "c.txt"):
        client.put_object(Bucket=bucket, Key=f"k/{name}", Body=name.encode())
    return bucket


def help_text(screen: HelpScreen) -> str:
    console = Console(width=160, record=True, file=io.StringIO())
    console.print(screen._table())
    return console.export_text()


def help_row(text: str, description: str) -> str:
    return next(line for line in text.splitlines() if description in line)


async def test_every_binding_of_dgtui_has_an_id():
    for owner in KEYMAP_OWNERS:
        for binding in owner.BINDINGS:
            if binding.key in ("ctrl+q", "ctrl+c"):
                assert binding.priority and binding.id is None, "Ctrl+Q and Ctrl+C quit whatever the keymap says"
                continue
            assert binding.id, (owner.__name__, binding)
            assert binding.id.split(".")[0] in ("app", "browser", "table", "tree", "transfers", "details",
                                                "preview", "savings", "audit", "dialog", "prompt", "help",
                                                "connection", "versions"), binding.id


async def test_a_remapped_key_works_and_the_old_one_no_longer(client, three_objects, config):
    config.write_text('[keymap]\ntable.cursor-down = "ctrl+n"\n"table.mark" = "m"\n')
    app = make_app(client, f"s3://{three_objects}/k/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        assert table.cursor_row == 0
        await pilot.press("ctrl+n", "ctrl+n")
        assert table.current.name == "c.txt"
        await pilot.press("j")  # no longer bound
        assert table.current.name == "c.txt"
        await pilot.press("m")
        assert table.marked_rows() and table.marked_rows()[0].name == "c.txt"
        await pilot.press("space")
        assert len(table.marked_rows()) == 1
        assert not [n for n in app._notifications if "keymap" in n.message]


async def test_help_lists_the_remapped_key_with_its_id(client, three_objects, config):
    config.write_text('[keymap]\nbrowser.restore = "ctrl+r"\napp.help = "f1"\n')
    app = make_app(client, f"s3://{three_objects}/k/")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen), "? is no longer the help key"
        await pilot.press("f1")
        screen = await screen_of(pilot, HelpScreen)
        text = help_text(screen)
        restore = help_row(text, "Restore folder")
        assert "browser.restore-folder" in restore
        restore = next(line for line in text.splitlines() if " Restore " in f"{line} " and "browser.restore " in
                       f"{line} ")
        shown = app.get_key_display(Binding("ctrl+r", "download"))
        assert restore.split()[0] == shown and "browser.restore" in restore, restore
        assert help_row(text, "Keys").split()[0] == app.get_key_display(Binding("f1", "help")), help_row(text, "Keys")
        assert "?" not in help_row(text, "Keys")
        for binding in BrowserScreen.BINDINGS + ObjectTable.BINDINGS:
            assert binding.description in text, binding.description


async def test_an_unknown_id_gives_one_warning_line_and_the_rest_applies(client, three_objects, config):
    config.write_text('[keymap]\nbrowser.restroe = "ctrl+r"\ntable.mark = "m"\n')
    app = make_app(client, f"s3://{three_objects}/k/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        warnings = [n.message for n in app._notifications if "keymap" in n.message]
        assert len(warnings) == 1 and "\n" not in warnings[0], warnings
        assert "browser.restroe" in warnings[0] and str(config) in warnings[0], warnings
        await pilot.press("m")
        assert len(table.marked_rows()) == 1


async def test_a_keymap_that_is_not_keys_is_one_line_and_the_defaults_stay(client, three_objects, config):
    config.write_text('[keymap]\ntable.mark = 3\n')
    app = make_app(client, f"s3://{three_objects}/k/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        warnings = [n.message for n in app._notifications if "keymap" in n.message]
        assert len(warnings) == 1 and "table.mark" in warnings[0] and "\n" not in warnings[0], warnings
        await pilot.press("space")
        assert len(table.marked_rows()) == 1


@pytest.mark.parametrize("screen_class, key", [(SavingsScreen, "s"), (AuditScreen, "v")])
async def test_q_goes_back_from_every_pushed_screen(client, three_objects, screen_class, key):
    app = make_app(client, f"s3://{three_objects}/k/")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        panel = app.screen.query_one(TransfersPanel)
        panel.add(Transfer("download", "kept.tar", "/tmp", state="done", result="ok"))
        await pilot.press(key)
        await screen_of(pilot, screen_class)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen), what="back in the browser")
        assert app.is_running and [t.title for t in panel.transfers] == ["kept.tar"]
        await pilot.press("question_mark")
        await screen_of(pilot, HelpScreen)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen), what="help closed")
        await pilot.press("delete")  # a dialog: q cancels it
        await screen_of(pilot, ConfirmScreen)
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, BrowserScreen), what="dialog cancelled")
        assert app.is_running


async def test_quit_from_a_pushed_screen_with_transfers_running_asks(client, three_objects):
    app = make_app(client, f"s3://{three_objects}/k/")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        panel = app.screen.query_one(TransfersPanel)
        running = panel.add(Transfer("download", "backup.tar", "/tmp"))  # no worker: stays running
        await pilot.press("s")
        await screen_of(pilot, SavingsScreen)
        await pilot.press("ctrl+q")
        await screen_of(pilot, QuitConfirmScreen)
        await pilot.press("q")  # a second quit key: the user means it
        await pilot.pause()
        assert not app.is_running
    assert running.should_cancel()


async def test_x_in_the_table_deletes_nothing(client, three_objects):
    app = make_app(client, f"s3://{three_objects}/k/")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, BrowserScreen), "no delete dialog on x"
        await pilot.press("delete")
        dialog = await screen_of(pilot, ConfirmScreen)
        assert "a.txt" in "\n".join(str(w.render()) for w in dialog.query("Static"))
        await pilot.press("escape")
