"""The object table's deleted files (X): keys whose latest version is a delete marker, merged into the table as
rows marked deleted, restored with d, on SeaweedFS with versioning on (rclone keeps no versions: see the
``versioning`` marker)."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from dgtui.app.messages import Location
from dgtui.app.screens.prompt import PromptScreen
from dgtui.app.screens.versions import VersionsScreen
from dgtui.app.widgets.bucket_tree import BucketTree
from dgtui.app.widgets.object_table import ObjectTable
from dgtui.jobs.versions import dated_name

from .helpers import make_app, make_client, release_bytes, screen_of, wait_for
from .test_transfers import answer_prompt, finished, open_at
from .test_versions_screen import notices, shown_text

pytestmark = pytest.mark.versioning


def deleted_history(client, s3, bucket: str) -> None:
    """rel/: app.tar deleted then written again (not deleted), gone.txt written twice then deleted, live.txt,
    and old/ whose one file was deleted (a folder the listing no longer shows)."""
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=bucket, Key="rel/app.tar", Body=release_bytes(0))
    client.delete_object(Bucket=bucket, Key="rel/app.tar")
    client.put_object(Bucket=bucket, Key="rel/app.tar", Body=release_bytes(1))
    client.put_object(Bucket=bucket, Key="rel/gone.txt", Body=b"first\n")
    client.put_object(Bucket=bucket, Key="rel/gone.txt", Body=b"last before the delete\n")
    client.delete_object(Bucket=bucket, Key="rel/gone.txt")
    client.put_object(Bucket=bucket, Key="rel/live.txt", Body=b"live\n")
    client.put_object(Bucket=bucket, Key="rel/old/a.txt", Body=b"old a\n")
    client.delete_object(Bucket=bucket, Key="rel/old/a.txt")


def shown(table: ObjectTable) -> list[tuple[str, bool]]:
    return [(row.name, row.deleted is not None) for row in table.view]


def line_of(table: ObjectTable, name: str) -> str:
    row = next(row for row in table.view if row.name == name)
    return table._row_text(row, table._layout(table.size.width)).plain


async def deleted_shown(pilot, table: ObjectTable) -> None:
    await wait_for(pilot, lambda: table.rows.deleted is not None and not table.jobs.running("deleted"),
                   what="the deleted files")
    await pilot.pause()


@pytest.mark.asyncio
async def test_x_merges_the_deleted_files_into_the_table_and_d_restores_the_last_version(client, boto3_s3, bucket,
                                                                                       tmp_path):
    deleted_history(client, boto3_s3, bucket)
    out = tmp_path / "out"
    out.mkdir()
    (out / "gone.txt").write_bytes(b"a newer file of that name, kept\n")
    app = make_app(client, f"s3://{bucket}/rel/", download_dir=str(out))
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        assert shown(table) == [("app.tar", False), ("live.txt", False)]
        await pilot.press("X")
        await deleted_shown(pilot, table)
        assert shown(table) == [("old/", True), ("app.tar", False), ("gone.txt", True), ("live.txt", False)]
        assert any("Showing 1 deleted file and 1 deleted folder" in n for n in notices(app)), notices(app)
        line = line_of(table, "gone.txt")
        assert line.startswith("×") and " del. " in line, line  # said in letters, not by colour alone
        assert table.get_component_rich_style("object-table--deleted").strike, "the .tcss strikes the name"
        assert "1 deleted shown" in app.screen.query_one("#location-bar")._shown[1], "the bar says the toggle is on"

        while table.current is not None and table.current.name != "gone.txt":
            await pilot.press("down")
        await pilot.press("space")
        assert not table.marked, "a deleted file is not marked"
        await pilot.press("enter")  # Enter tells that it is deleted, and when
        versions = await screen_of(pilot, VersionsScreen)
        title = shown_text(versions.query_one("#versions-title", Static).render())
        assert "deleted" in title and "rel/gone.txt" in title, title
        assert versions.current is not None and not versions.current.is_delete_marker
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is table.screen, what="back to the table")

        await pilot.press("d")  # its newest version that holds the file, beside the newer file of its name
        prompt = await screen_of(pilot, PromptScreen)
        last = table.current.deleted.last
        assert prompt.query_one("Input").value == str(dated_name(out / "gone.txt", last.last_modified))
        await answer_prompt(pilot, app)
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done", text

        await pilot.press("X")  # off: the listing's rows alone, in their order
        assert shown(table) == [("app.tar", False), ("live.txt", False)]
    assert (dated_name(out / "gone.txt", last.last_modified)).read_bytes() == b"last before the delete\n"
    assert (out / "gone.txt").read_bytes() == b"a newer file of that name, kept\n"


@pytest.mark.asyncio
async def test_the_toggle_follows_into_a_deleted_folder_and_a_changed_folder_cancels_the_read(client, boto3_s3,
                                                                                           bucket):
    deleted_history(client, boto3_s3, bucket)
    app = make_app(client, f"s3://{bucket}/rel/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        # Pressed and left at once: the read of rel/ is cancelled and its answer never shows.
        table.toggle_deleted()
        (reading,) = table.jobs.running("deleted")
        app.browser.navigate(Location(bucket, "rel/old/"))
        assert reading.should_cancel(), "the folder changed: its deleted files are no longer wanted"
        await deleted_shown(pilot, table)
        assert table.location == Location(bucket, "rel/old/")
        assert shown(table) == [("a.txt", True)], "only the folder shown now: a.txt, deleted"
        await pilot.press("i")  # details, as Enter: the deleted file's versions, saying it is deleted
        versions = await screen_of(pilot, VersionsScreen)
        assert [v.is_delete_marker for v in versions.found.versions] == [True, False]
        assert versions.deleted and versions.found.status == "Enabled" and versions.current is not None
        assert versions.current.version_id == versions.found.versions[1].version_id
        await pilot.press("escape")
        await pilot.press("backspace")  # up to rel/: the toggle is still on, old/ is there to come back to
        await wait_for(pilot, lambda: table.location == Location(bucket, "rel/"), what="rel/")
        await deleted_shown(pilot, table)
        assert ("old/", True) in shown(table) and ("gone.txt", True) in shown(table)


@pytest.mark.asyncio
async def test_x_without_versioning_says_so_in_one_line(client, bucket):
    client.put_object(Bucket=bucket, Key="rel/app.tar", Body=b"current\n")
    app = make_app(client, f"s3://{bucket}/rel/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        await pilot.press("X")
        await wait_for(pilot, lambda: any("has no versioning" in n for n in notices(app)), what="no versioning")
        said = [n for n in notices(app) if "has no versioning" in n]
        assert len(said) == 1 and "\n" not in said[0]
        assert not table.show_deleted, "nothing to show: the toggle goes off again"
        assert shown(table) == [("app.tar", False)]


SNAP_DELETED_BUCKET = "snapdel-history"


@pytest.fixture(scope="module")
def snap_deleted(s3_server, tmp_path_factory):
    """The history of ``deleted_history`` in a bucket of a fixed name; dates go through a fixed formatter."""
    client = make_client(s3_server, tmp_path_factory.mktemp("snapdel-cache"))
    list_all = client.list_buckets

    def list_buckets(**kwargs):  # the session's server holds other tests' buckets too: the tree shows ours
        result = list_all(**kwargs)
        result["Buckets"] = [b for b in result["Buckets"] if b["Name"] == SNAP_DELETED_BUCKET]
        return result

    client.list_buckets = list_buckets
    s3 = s3_server.boto3_client()
    s3.create_bucket(Bucket=SNAP_DELETED_BUCKET)
    deleted_history(client, s3, SNAP_DELETED_BUCKET)
    yield client
    client.close()


def test_deleted_files_snapshot(snap_compare, snap_deleted):
    async def run_before(pilot) -> None:
        table = pilot.app.screen.query_one(ObjectTable)
        await open_at(pilot, pilot.app)
        tree = pilot.app.screen.query_one(BucketTree)
        node = await wait_for(pilot, lambda: tree.node_for_bucket(SNAP_DELETED_BUCKET), what="bucket node")
        await wait_for(pilot, lambda: node.data.loaded, what="bucket folders")
        await pilot.press("X")
        await deleted_shown(pilot, table)
        await pilot.press("down", "down")  # on gone.txt
        pilot.app.clear_notifications()
        await pilot.pause()

    app = make_app(snap_deleted, f"s3://{SNAP_DELETED_BUCKET}/rel/", download_dir="/home/me/restore",
                   endpoint_label="http://s3.example:8333", clock=lambda: 1000.0)
    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)
