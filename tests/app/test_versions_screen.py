"""The versions screen (V): the rows it shows, the one line when there are none, and a version restored
byte-exact through the transfers pane, on SeaweedFS with versioning on."""

from __future__ import annotations

import io
import time
from datetime import datetime, timezone

import pytest
from rich.console import Console
from textual.widgets import DataTable, Static

from dgtui.app.screens.prompt import PromptScreen
from dgtui.app.screens.versions import VersionsScreen
from dgtui.core.text import human_size
from dgtui.jobs.job import Job
from dgtui.jobs.versions import dated_name, read_versions, restore_version

from .helpers import make_app, make_client, release_bytes, screen_of, wait_for
from .test_moves import dialog_text
from .test_transfers import answer_prompt, finished, open_at

pytestmark = pytest.mark.versioning  # rclone keeps no versions: skipped there, by name

KEY = "rel/app.tar"


@pytest.fixture
def history(client, boto3_s3, bucket):
    """app.tar written three times with a delete between the second and third: four versions, one a marker."""
    boto3_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=bucket, Key=KEY, Body=release_bytes(0))
    client.put_object(Bucket=bucket, Key=KEY, Body=release_bytes(1))
    client.delete_object(Bucket=bucket, Key=KEY)
    client.put_object(Bucket=bucket, Key=KEY, Body=release_bytes(2))
    return bucket


def row_texts(table: DataTable) -> list[list[str]]:
    return [[getattr(cell, "plain", str(cell)) for cell in table.get_row_at(n)] for n in range(table.row_count)]


def shown_text(renderable) -> str:
    console = Console(record=True, width=200, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def notices(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def open_versions(pilot, app) -> VersionsScreen:
    table = await open_at(pilot, app)
    while table.current is not None and table.current.key != KEY:
        await pilot.press("down")
    await pilot.press("V")
    return await screen_of(pilot, VersionsScreen)


@pytest.mark.asyncio
async def test_v_shows_every_version_newest_first_with_the_delete_marker(client, history):
    expected = read_versions(client, Job(), history, KEY).versions
    app = make_app(client, f"s3://{history}/rel/")
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_versions(pilot, app)
        rows = row_texts(screen.query_one(DataTable))
        assert len(rows) == 4
        # date, latest, stored form, stored size, original size, saved
        assert [r[1] for r in rows] == ["latest", "", "", ""]
        assert [r[2] for r in rows] == ["delta", "deleted", "delta", "delta"]
        assert rows[1][3:] == ["", "", ""], "a delete marker has no sizes"
        size = f"{len(release_bytes(2)) / 1024:.1f} KiB"
        assert rows[0][4] == size and rows[2][4] == size and rows[3][4] == size
        assert rows[0][5].endswith("%") and float(rows[0][5].rstrip("%")) > 90
        assert [v.version_id for v in screen.found.versions] == [v.version_id for v in expected]
        # Enter shows the details of one version; q goes back.
        await pilot.press("down", "enter")
        await pilot.pause()
        assert shown_text(screen.query_one("#versions-detail", Static).content).count("delete marker") == 1
        assert expected[1].version_id in shown_text(screen.query_one("#versions-detail", Static).content)
        await pilot.press("d")
        await wait_for(pilot, lambda: any("delete marker" in n for n in notices(app)), what="the refusal")
        assert not isinstance(app.screen, PromptScreen)
        await pilot.press("q")
        await wait_for(pilot, lambda: not isinstance(app.screen, VersionsScreen), what="back")


@pytest.mark.asyncio
async def test_v_without_versioning_and_on_a_folder_says_why_in_one_line(client, bucket):
    client.put_object(Bucket=bucket, Key=KEY, Body=b"current\n")
    client.put_object(Bucket=bucket, Key="rel/sub/inner.txt", Body=b"inner\n")
    app = make_app(client, f"s3://{bucket}/rel/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        while table.current is not None and not table.current.is_folder:
            await pilot.press("down")
        await pilot.press("V")
        await wait_for(pilot, lambda: any("a folder has none" in n for n in notices(app)), what="folder reason")
        while table.current is not None and table.current.key != KEY:
            await pilot.press("down")
        await pilot.press("V")
        await wait_for(pilot, lambda: any("has no versioning" in n for n in notices(app)), what="no versioning")
        assert not isinstance(app.screen, VersionsScreen)
        assert all("\n" not in n for n in notices(app))


@pytest.mark.asyncio
async def test_d_restores_an_older_version_byte_exact_beside_the_current_file(client, history, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    current = out / "app.tar"
    current.write_bytes(b"the local file of today\n")
    app = make_app(client, f"s3://{history}/rel/", download_dir=str(out))
    async with app.run_test(size=(120, 36)) as pilot:
        screen = await open_versions(pilot, app)
        await pilot.press("down", "down")  # the version before the delete: release 1
        version = screen.current
        assert version is not None and not version.is_delete_marker
        await pilot.press("d")
        prompt = await screen_of(pilot, PromptScreen)
        expected = dated_name(current, version.last_modified)
        assert prompt.query_one("Input").value == str(expected)
        await answer_prompt(pilot, app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, VersionsScreen), what="back")
        transfer, line = await finished(pilot, app)
        assert transfer.state == "done", line
    assert expected.read_bytes() == release_bytes(1)
    assert current.read_bytes() == b"the local file of today\n"
    assert sorted(p.name for p in out.iterdir()) == sorted(["app.tar", expected.name])


def test_restore_version_into_a_folder_takes_the_dated_name_and_refuses_a_marker(client, history, tmp_path):
    versions = read_versions(client, Job(), history, KEY).versions
    out = tmp_path / "out"
    outcome = restore_version(client, Job(), history, versions[-1], str(out))
    assert outcome.state == "done", outcome.line()
    assert (out / "app.tar").read_bytes() == release_bytes(0)
    outcome = restore_version(client, Job(), history, versions[0], str(out))
    assert outcome.state == "done", outcome.line()
    assert dated_name(out / "app.tar", versions[0].last_modified).read_bytes() == release_bytes(2)
    assert (out / "app.tar").read_bytes() == release_bytes(0)
    marker = restore_version(client, Job(), history, versions[1], str(out))
    assert marker.state == "failed" and "delete marker" in marker.failures[0][1]
    assert len(list(out.iterdir())) == 2


def test_a_dated_name_keeps_the_extension():
    from datetime import datetime, timezone
    from pathlib import Path

    moment = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    stamp = moment.astimezone().strftime("%Y-%m-%d %H:%M")
    assert dated_name(Path("/x/db.sql.gz"), moment) == Path(f"/x/db ({stamp}).sql.gz")
    assert dated_name(Path("/x/app-1.0.0.zip"), moment) == Path(f"/x/app-1.0.0 ({stamp}).zip")


SNAP_VERSIONS_BUCKET = "snapver-history"


@pytest.fixture(scope="module")
def snap_history(s3_server, tmp_path_factory):
    """A fixed history in a bucket of a fixed name (the title shows it); dates go through a fixed formatter."""
    client = make_client(s3_server, tmp_path_factory.mktemp("snapver-cache"))
    s3 = s3_server.boto3_client()
    s3.create_bucket(Bucket=SNAP_VERSIONS_BUCKET)
    s3.put_bucket_versioning(Bucket=SNAP_VERSIONS_BUCKET, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=SNAP_VERSIONS_BUCKET, Key=KEY, Body=release_bytes(0))
    client.put_object(Bucket=SNAP_VERSIONS_BUCKET, Key=KEY, Body=release_bytes(1))
    client.delete_object(Bucket=SNAP_VERSIONS_BUCKET, Key=KEY)
    client.put_object(Bucket=SNAP_VERSIONS_BUCKET, Key=KEY, Body=release_bytes(2))
    yield client
    client.close()


def test_versions_snapshot(snap_compare, snap_history):
    async def run_before(pilot) -> None:
        await open_versions(pilot, pilot.app)
        pilot.app.clear_notifications()
        await pilot.pause()

    app = make_app(snap_history, f"s3://{SNAP_VERSIONS_BUCKET}/rel/", download_dir="/home/me/restore",
                   endpoint_label="http://s3.example:8333", clock=lambda: 1000.0)
    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)


def _tick() -> datetime:
    """A moment strictly between what was written before and after, on servers that keep seconds only."""
    time.sleep(1.1)
    moment = datetime.now(timezone.utc)
    time.sleep(1.1)
    return moment


@pytest.mark.asyncio
async def test_a_restores_a_folder_as_it_stood_at_a_time(client, boto3_s3, bucket, tmp_path):
    boto3_s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=bucket, Key=KEY, Body=release_bytes(0))
    client.put_object(Bucket=bucket, Key="rel/notes.txt", Body=b"one\n")
    then = _tick()
    client.put_object(Bucket=bucket, Key=KEY, Body=release_bytes(1))
    client.delete_object(Bucket=bucket, Key="rel/notes.txt")
    client.put_object(Bucket=bucket, Key="rel/new.txt", Body=b"new since\n")
    out = tmp_path / "out"
    app = make_app(client, f"s3://{bucket}/", download_dir=str(out))
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        assert table.current is not None and table.current.key == "rel/"
        await pilot.press("A")
        prompt = await screen_of(pilot, PromptScreen)
        prompt.query_one("Input").value = "not a time"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PromptScreen), "a bad time is refused in place"
        prompt.query_one("Input").value = then.isoformat()
        await pilot.press("enter")
        # The count runs in a job, then the next question opens: a new prompt, with the count in it.
        confirm = await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen) and app.screen is not prompt
                                 and app.screen, what="the count")
        await pilot.pause()
        text = dialog_text(confirm)
        size = len(release_bytes(0)) + len(b"one\n")
        assert f"2 files, {human_size(size)}" in text, text
        await answer_prompt(pilot, app)
        transfer, line = await finished(pilot, app)
        assert transfer.state == "done", line
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()} == \
        {"app.tar": release_bytes(0), "notes.txt": b"one\n"}
