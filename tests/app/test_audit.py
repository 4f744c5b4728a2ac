"""Auditing from the app: the key, progress and cancel, results by folder, jumping to a damaged object."""

from __future__ import annotations

import threading

import pytest
from rich.console import Console
from textual.widgets import Tree

from dgtui.app.screens.audit import AuditScreen
from dgtui.app.screens.details import DetailsScreen
from dgtui.app.screens.help import HelpScreen
from dgtui.app.widgets.footer import AppFooter

from .helpers import make_app, release_bytes, screen_of, wait_for
from .test_browse import line_text
from .test_transfers import answer_prompt, finished, open_at

pytestmark = pytest.mark.asyncio


@pytest.fixture
def damaged(client, bucket, boto3_s3):
    """bad/: two deltas whose reference is gone; good/: the same, intact."""
    for folder in ("bad", "good"):
        for version in range(2):
            client.put_object(Bucket=bucket, Key=f"{folder}/app-{version}.tar", Body=release_bytes(version))
    boto3_s3.delete_object(Bucket=bucket, Key="bad/reference.bin")
    return bucket


def plain(renderable) -> str:
    console = Console(width=200, record=True)
    console.print(renderable)
    return console.export_text()


def status_text(screen: AuditScreen) -> str:
    status = screen.query_one("#audit-status")
    return "\n".join(line_text(status, y) for y in range(status.size.height))


async def test_audit_key_results_by_folder_and_jump(client, damaged):
    app = make_app(client, f"s3://{damaged}/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        await pilot.pause()
        audit_key = next(k for k in app.screen.query_one(AppFooter).query("FooterKey") if k.description == "Audit")
        assert audit_key.key == "v" and 0 < audit_key.region.width and audit_key.region.right <= 120  # on screen
        await pilot.press("question_mark")
        help_screen = await screen_of(pilot, HelpScreen)
        assert "Audit" in plain(help_screen._table())
        await pilot.press("escape")

        assert table.current.key == "bad/"  # the highlighted folder is what gets audited
        await pilot.press("v")
        screen = await screen_of(pilot, AuditScreen)
        assert screen.location.prefix == "bad/"
        await wait_for(pilot, lambda: screen.summary is not None, what="the audit to finish")
        assert screen.summary.problems == {"missing-reference": 2}
        tree = screen.query_one(Tree)
        folders = list(tree.root.children)
        assert [str(n.label).split()[0] for n in folders] == ["bad/"]
        leaves = folders[0].children
        assert [n.data.key for n in leaves] == ["bad/app-0.tar.delta", "bad/app-1.tar.delta"]
        assert "missing reference" in str(leaves[1].label) and "reference.bin is missing" in str(leaves[1].label)

        # Enter on a problem: the browser opens its folder with the cursor on the object
        tree.focus()
        tree.move_cursor(leaves[1])
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, AuditScreen))
        await wait_for(pilot, lambda: table.location is not None and table.location.prefix == "bad/"
                       and not table.listing and table.current is not None, what="the folder")
        assert table.current.key == "bad/app-1.tar"
        rendered = table._row_text(table.current, table._layout(100)).plain
        assert rendered.startswith("!")  # marked damaged
        await pilot.press("i")
        details = await screen_of(pilot, DetailsScreen)
        await wait_for(pilot, lambda: details.info is not None, what="details")
        content = details.query_one("#details-content")
        text = "\n".join(line_text(content, y) for y in range(content.size.height))
        assert "Audit" in text and "missing reference: its reference" in text
        await pilot.press("escape")

        # the clean folder: nothing found, nothing marked
        await pilot.press("backspace")
        await wait_for(pilot, lambda: table.location.prefix == "" and not table.listing and table.view)
        assert table._row_text(table.view[0], table._layout(100)).plain.startswith("!")  # bad/ holds damage
        good = next(r for r in table.view if r.key == "good/")
        assert not table._row_text(good, table._layout(100)).plain.startswith("!")
        table.cursor_row = table.view.index(good)
        await pilot.press("v")
        screen = await screen_of(pilot, AuditScreen)
        await wait_for(pilot, lambda: screen.summary is not None, what="the audit to finish")
        assert screen.summary.problem_count == 0 and not list(screen.query_one(Tree).root.children)
        assert "No problems found" in status_text(screen)
        await pilot.press("f")  # again, rebuilding every delta
        await wait_for(pilot, lambda: screen.summary is not None and screen.summary.full, what="the full audit")
        assert screen.summary.problem_count == 0 and screen.summary.rebuilt == 2
        assert "2 deltas rebuilt" in status_text(screen)


async def test_audit_runs_in_the_background_and_cancels(client, damaged):
    """The audit waits (in its worker) until it is cancelled; the screen stays responsive and says so."""
    started = threading.Event()
    real_audit = client.audit

    def slow_audit(url, **kwargs):
        progress, should_cancel = kwargs["progress"], kwargs["should_cancel"]

        def held(stage, done, total):
            progress(stage, done, total)
            started.set()
            for _ in range(200):
                if should_cancel():
                    break
                threading.Event().wait(0.05)

        kwargs["progress"] = held
        return real_audit(url, **kwargs)

    client.audit = slow_audit  # type: ignore[method-assign]
    app = make_app(client, f"s3://{damaged}/bad/")
    async with app.run_test(size=(120, 36)) as pilot:
        await open_at(pilot, app)
        await pilot.press("v")
        screen = await screen_of(pilot, AuditScreen)
        await wait_for(pilot, started.is_set, what="the audit to start")
        assert screen.running
        await pilot.pause(0.3)
        assert "listing" in status_text(screen)
        await pilot.press("x")
        await wait_for(pilot, lambda: not screen.running and screen.note == "cancelled")
        workers = [w for w in app.workers if w.group == "audit"]
        await wait_for(pilot, lambda: all(w.is_finished for w in workers), what="the worker to stop")
        assert "cancelled" in status_text(screen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, AuditScreen))


async def test_restore_from_the_cached_reference_warns(client, bucket, boto3_s3, tmp_path):
    for version in range(2):
        client.put_object(Bucket=bucket, Key=f"rel/app-{version}.tar", Body=release_bytes(version))
    client.download(f"s3://{bucket}/rel/app-1.tar", tmp_path / "warm.tar")  # this machine's cache knows it
    boto3_s3.delete_object(Bucket=bucket, Key="rel/reference.bin")
    restore_dir = tmp_path / "restore"
    app = make_app(client, f"s3://{bucket}/rel/", download_dir=str(restore_dir))
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        await pilot.press("down")
        assert table.current.name == "app-1.tar"
        await pilot.press("d")
        await answer_prompt(pilot, app)
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done" and "sha256 verified" in text, text
        assert (restore_dir / "app-1.tar").read_bytes() == release_bytes(1)
        await wait_for(pilot, lambda: any("dgtui audit" in n.message for n in app._notifications))
        warning = next(n for n in app._notifications if "dgtui audit" in n.message)
        assert warning.severity == "warning" and "rel/reference.bin is missing" in warning.message
