"""Restores, uploads, cancelling and deleting, through the keys a user presses."""

from __future__ import annotations

import random

import pytest
from textual.widgets import Input

from dgtui.app.screens.confirm import ConfirmScreen
from dgtui.app.screens.prompt import PromptScreen
from dgtui.app.widgets.object_table import ObjectTable
from dgtui.app.widgets.transfers_panel import TransfersPanel
from dgtui.testing.proxy import TcpProxy

from .helpers import make_app, make_client, release_bytes, screen_of, wait_for

pytestmark = pytest.mark.asyncio


@pytest.fixture
def releases(client, bucket):
    for version in range(2):
        client.put_object(Bucket=bucket, Key=f"releases/app-{version}.tar", Body=release_bytes(version))
    client.put_object(Bucket=bucket, Key="docs/readme.txt", Body=b"read me\n")
    client.put_object(Bucket=bucket, Key="docs/old/notes.txt", Body=b"notes\n")
    return bucket


def listed_keys(boto3_s3, bucket: str, prefix: str = "") -> list[str]:
    response = boto3_s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in response.get("Contents", []))


async def open_at(pilot, app) -> ObjectTable:
    table = app.screen.query_one(ObjectTable)
    await wait_for(pilot, lambda: table.location is not None and not table.listing and table.view, what="listing")
    return table


async def answer_prompt(pilot, app, value: str | None = None) -> None:
    prompt = await screen_of(pilot, PromptScreen)
    if value is not None:
        prompt.query_one(Input).value = value
    await pilot.press("enter")
    await wait_for(pilot, lambda: not isinstance(app.screen, PromptScreen))


async def finished(pilot, app, timeout: float = 30.0):
    panel = app.screen.query_one(TransfersPanel)
    await wait_for(pilot, lambda: panel.transfers and not panel.transfers[-1].active, timeout=timeout,
                   what="the transfer to end")
    transfer = panel.transfers[-1]
    return transfer, panel.view_of(transfer).render().plain


async def test_restore_verifies_sha256_and_asks_before_overwriting(client, releases, tmp_path):
    restore_dir = tmp_path / "restore"
    app = make_app(client, f"s3://{releases}/releases/", download_dir=str(restore_dir))
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_at(pilot, app)
        await pilot.press("down")
        assert table.current.name == "app-1.tar"
        await pilot.press("d")
        prompt = await screen_of(pilot, PromptScreen)
        assert prompt.query_one(Input).value == str(restore_dir) + "/", "prefilled with the last folder"
        await answer_prompt(pilot, app)
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done", text
        assert "sha256 verified" in text
        assert (restore_dir / "app-1.tar").read_bytes() == release_bytes(1)

        # Again: the file exists now, so the app asks before replacing it.
        (restore_dir / "app-1.tar").write_bytes(b"local changes")
        await pilot.press("d")
        await answer_prompt(pilot, app)
        question = await screen_of(pilot, ConfirmScreen)
        body = "\n".join(str(w.render()) for w in question.query("Static"))
        assert "already exists" in body
        await pilot.click("#answer-skip")
        transfer, text = await finished(pilot, app)
        assert text.endswith("nothing restored: kept the existing file")
        assert (restore_dir / "app-1.tar").read_bytes() == b"local changes"

        await pilot.press("d")
        await answer_prompt(pilot, app)
        await screen_of(pilot, ConfirmScreen)
        await pilot.click("#answer-overwrite")
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done" and "sha256 verified" in text, text
        assert (restore_dir / "app-1.tar").read_bytes() == release_bytes(1)


async def test_restore_marked_objects_and_a_folder(client, releases, tmp_path):
    app = make_app(client, f"s3://{releases}/", download_dir=str(tmp_path / "first"))
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_at(pilot, app)
        assert [row.name for row in table.view] == ["docs/", "releases/"]
        # d on a folder restores everything under it, subfolders included.
        await pilot.press("d")
        await answer_prompt(pilot, app, str(tmp_path / "docs-restore"))
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done", text
        assert "restored 2" in text and "sha256 verified" in text
        assert (tmp_path / "docs-restore" / "readme.txt").read_bytes() == b"read me\n"
        assert (tmp_path / "docs-restore" / "old" / "notes.txt").read_bytes() == b"notes\n"

        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: table.location.prefix == "releases/" and not table.listing and table.view)
        await pilot.press("space", "space")
        assert len(table.marked) == 2
        await pilot.press("d")
        await answer_prompt(pilot, app, str(tmp_path / "marked"))
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done", text
        assert "restored 2" in text and "sha256 verified" in text
        for version in range(2):
            assert (tmp_path / "marked" / f"app-{version}.tar").read_bytes() == release_bytes(version)
        assert not table.marked, "marks are cleared once the restore starts"


async def test_upload_reports_savings_and_shows_the_new_object(client, releases, tmp_path):
    source = tmp_path / "app-2.tar"
    source.write_bytes(release_bytes(2))
    app = make_app(client, f"s3://{releases}/releases/")
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_at(pilot, app)
        await pilot.press("u")
        await answer_prompt(pilot, app, str(source))
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done", text
        assert "stored as delta" in text and "% saved" in text and "verified" in text
        await wait_for(pilot, lambda: "app-2.tar" in [row.name for row in table.view] and not table.listing,
                       what="the table to show the upload")


async def test_upload_of_a_missing_path_says_so(client, releases, tmp_path):
    app = make_app(client, f"s3://{releases}/releases/")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_at(pilot, app)
        await pilot.press("u")
        prompt = await screen_of(pilot, PromptScreen)
        prompt.query_one(Input).value = str(tmp_path / "nope.tar")
        await pilot.press("enter")
        await pilot.pause()
        # The dialog stays open with the reason, so the path can be corrected.
        assert app.screen is prompt
        assert "no such file or folder" in str(prompt.query_one("#prompt-message").render())


async def test_cancel_a_restore(s3_server, client, bucket, tmp_path):
    payload = random.Random(5).randbytes(24 * 1024 * 1024)
    client.put_object(Bucket=bucket, Key="big/blob.bin", Body=payload)
    # Half a second per request leaves time to press x before the data flows.
    proxy = TcpProxy.for_endpoint(s3_server.endpoint_url, latency_s=0.5).start()
    slow = make_client(s3_server, tmp_path / "slow-cache", endpoint_url=proxy.endpoint_url)
    try:
        app = make_app(slow, f"s3://{bucket}/big/", download_dir=str(tmp_path / "out"))
        async with app.run_test(size=(120, 40)) as pilot:
            await open_at(pilot, app)
            await pilot.press("d")
            await answer_prompt(pilot, app)
            panel = app.screen.query_one(TransfersPanel)
            await wait_for(pilot, lambda: panel.transfers)
            panel.focus()
            await pilot.press("x")
            transfer, text = await finished(pilot, app)
            assert transfer.state == "cancelled", text
            assert "cancelled" in text
        assert not (tmp_path / "out" / "blob.bin").exists()
        assert not list((tmp_path / "out").glob("*.part")), "no partial file is left behind"
    finally:
        slow.close()
        proxy.stop()


async def test_delete_marked_objects_after_confirmation(client, releases, boto3_s3):
    app = make_app(client, f"s3://{releases}/releases/")
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_at(pilot, app)
        await pilot.press("space", "space", "delete")
        dialog = await screen_of(pilot, ConfirmScreen)
        body = "\n".join(str(w.render()) for w in dialog.query("Static"))
        assert "Delete 2 objects" in body
        assert "releases/app-0.tar" in body and "releases/app-1.tar" in body
        # Enter alone does not delete: the harmless answer has the focus.
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfirmScreen))
        assert listed_keys(boto3_s3, releases, "releases/") != []
        await pilot.press("delete")
        await screen_of(pilot, ConfirmScreen)
        await pilot.click("#answer-delete")
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done" and "deleted 2 objects" in text, text
        assert listed_keys(boto3_s3, releases, "releases/") == [], "deltas and their reference are gone"
        await wait_for(pilot, lambda: not table.listing and not table.view, what="the table to empty")


async def test_delete_a_folder_says_how_many_objects_go(client, releases, boto3_s3):
    app = make_app(client, f"s3://{releases}/")
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_at(pilot, app)
        assert table.current.name == "docs/"
        await pilot.press("delete")
        dialog = await screen_of(pilot, ConfirmScreen)
        body = "\n".join(str(w.render()) for w in dialog.query("Static"))
        assert f"s3://{releases}/docs/" in body and "2 objects" in body
        assert "docs/readme.txt" in body and "docs/old/notes.txt" in body
        listed_before = table.request_id
        await pilot.click("#answer-delete")
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done", text
        assert listed_keys(boto3_s3, releases, "docs/") == []
        # The table lists the bucket again. (SeaweedFS may keep showing the emptied
        # folder as a common prefix for a while; AWS does not.)
        await wait_for(pilot, lambda: table.request_id > listed_before and not table.listing,
                       what="the table to list again")


async def test_create_bucket(client, tmp_path, boto3_s3):
    name = f"t-app-new-{random.Random().getrandbits(32):08x}"
    app = make_app(client)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("b")
        await answer_prompt(pilot, app, name)
        tree = app.screen.query_one("#tree")
        await wait_for(pilot, lambda: tree.node_for_bucket(name), what="the new bucket in the tree")
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: table.location is not None and table.location.bucket == name,
                       what="the new bucket open in the table")
        assert app.focused is table
    assert name in [b["Name"] for b in boto3_s3.list_buckets()["Buckets"]]



async def test_upload_a_folder_keeps_its_layout(client, releases, tmp_path, boto3_s3):
    folder = tmp_path / "site"
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_text("<h1>hi</h1>")
    (folder / "assets" / "app.css").write_text("body{}")
    app = make_app(client, f"s3://{releases}/docs/")
    async with app.run_test(size=(120, 40)) as pilot:
        await open_at(pilot, app)
        await pilot.press("u")
        await answer_prompt(pilot, app, str(folder))
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done", text
        assert "uploaded 2 files" in text
    assert {"docs/site/index.html", "docs/site/assets/app.css"} <= set(listed_keys(boto3_s3, releases, "docs/site/"))


async def test_deltaglider_gzip_delta_offers_rescue(client, s3_server, s3_env, bucket, boto3_s3, tmp_path):
    import gzip

    from deltaglider import create_client as deltaglider_client

    # DeltaGlider 6.2.0 diffs .gz files without -D: the rebuilt file cannot match its sha256.
    text_v1 = b"".join(b"INSERT INTO t VALUES (%d, 'row');\n" % i for i in range(30_000))
    text_v2 = text_v1.replace(b"(77,", b"(7700,")
    first, second = tmp_path / "db-01.sql.gz", tmp_path / "db-02.sql.gz"
    first.write_bytes(gzip.compress(text_v1, compresslevel=9, mtime=1_700_000_000))
    second.write_bytes(gzip.compress(text_v2, compresslevel=9, mtime=1_700_086_400))
    dg = deltaglider_client(endpoint_url=s3_server.endpoint_url, log_level="WARNING")
    dg.upload(str(first), f"s3://{bucket}/backups/")
    dg.upload(str(second), f"s3://{bucket}/backups/")
    restore_dir = tmp_path / "restore"
    app = make_app(client, f"s3://{bucket}/backups/", download_dir=str(restore_dir))
    async with app.run_test(size=(120, 40)) as pilot:
        table = await open_at(pilot, app)
        await pilot.press("down")
        assert table.current.name == "db-02.sql.gz"
        await pilot.press("d")
        await answer_prompt(pilot, app)
        question = await screen_of(pilot, ConfirmScreen, timeout=30)
        body = "\n".join(str(w.render()) for w in question.query("Static"))
        assert "cannot be reproduced byte for byte" in body and "db-02.sql.gz.decompressed" in body
        await pilot.click("#answer-rescue")
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done", text
        assert "rescued decompressed contents to" in text
    assert (restore_dir / "db-02.sql.gz.decompressed").read_bytes() == text_v2
    assert not (restore_dir / "db-02.sql.gz").exists()
    # The rescued file carries the object's modification time, as a restored one does.
    stamp = boto3_s3.head_object(Bucket=bucket, Key="backups/db-02.sql.gz.delta")["LastModified"].timestamp()
    assert (restore_dir / "db-02.sql.gz.decompressed").stat().st_mtime == stamp
