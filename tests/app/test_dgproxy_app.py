"""The app on a bucket written by deltaglider_proxy 1.19 (objects built by its rules)."""

from __future__ import annotations

import os
import random
import threading

import pytest

from dgtui.app.messages import Location
from dgtui.app.screens.details import DetailsScreen
from dgtui.app.screens.prompt import PromptScreen
from dgtui.app.widgets.object_table import ObjectTable
from dgtui.app.widgets.stats_panel import StatsPanel
from dgtui.core.text import human_size

from .. import dgproxy
from .helpers import count_heads, make_app, screen_of, table_settled, wait_for
from .test_browse import line_text, table_lines
from .test_transfers import answer_prompt, finished, open_at

pytestmark = pytest.mark.asyncio

V1 = random.Random(5).randbytes(120_000)
V2 = V1[:30_000] + b"changed" + V1[30_007:]
V3 = V1[:90_000] + b"again!!" + V1[90_007:]
REPLICA = random.Random(6).randbytes(50_000)


@pytest.fixture
def proxy_bucket(bucket, boto3_s3):
    s3 = boto3_s3
    dgproxy.put_first(s3, bucket, "rel/app-1.zip", V1)
    dgproxy.put_delta(s3, bucket, "rel/app-2.zip", V2, V1, when=60, content_type="application/zip",
                      user={"release": "2", "owner": "[red]ops[/]"})
    dgproxy.put_passthrough(s3, bucket, "rel/app-3.zip", V3, when=10)  # older than the delta beside it
    dgproxy.put_delta(s3, bucket, "rel/app-3.zip", V3, V1, when=90)
    dgproxy.put_passthrough(s3, bucket, "rel/secret.txt", b"only the proxy reads this", encrypted="aes-256-gcm-v1")
    dgproxy.put_passthrough(s3, bucket, "rel/disk.img", REPLICA, replica=True)
    s3.put_object(Bucket=bucket, Key="_dgp/locks/rel", Body=b"{}")
    s3.put_object(Bucket=bucket, Key=".deltaglider/stats_quick.json", Body=b"{}")
    return bucket


async def details_text(pilot, app, name: str) -> str:
    table = app.screen.query_one(ObjectTable)
    table.cursor_row = [row.name for row in table.view].index(name)
    await pilot.press("enter")
    screen = await screen_of(pilot, DetailsScreen)
    await wait_for(pilot, lambda: screen.info is not None, what=f"details of {name}")
    await pilot.pause()
    content = screen.query_one("#details-content")
    text = "\n".join(line_text(content, y) for y in range(content.size.height))
    await pilot.press("escape")
    await wait_for(pilot, lambda: not isinstance(app.screen, DetailsScreen))
    return text


async def test_table_and_details_of_a_proxy_bucket(client, proxy_bucket):
    app = make_app(client, f"s3://{proxy_bucket}/rel/", metadata_in_view=True)
    async with app.run_test(size=(140, 40)) as pilot:
        table = await open_at(pilot, app)
        assert [row.name for row in table.view] == ["app-1.zip", "app-2.zip", "app-3.zip", "disk.img", "secret.txt"]
        lines = table_lines(table)
        assert "delta" in lines[1] and "delta" in lines[2] and "delta" in lines[3]

        text = await details_text(pilot, app, "app-2.zip")
        assert "delta: stored as a binary diff" in text and "rel/reference.bin" in text
        assert "Content-Type: application/zip" in text and "release: 2" in text and "owner: [red]ops[/]" in text

        text = await details_text(pilot, app, "app-3.zip")
        assert "Older copy" in text and "rel/app-3.zip also exists" in text

        text = await details_text(pilot, app, "disk.img")
        assert "not checked: no sha256 stored" in text and "metadata invalid" not in text

        text = await details_text(pilot, app, "secret.txt")
        assert "Encrypted" in text and "deltaglider_proxy" in text and "aes-256-gcm-v1" in text
        # The row knows it now.
        row = [row.name for row in table.view].index("secret.txt")
        assert "encr." in line_text(table, row + 1)


def row_line(table: ObjectTable, name: str) -> str:
    """The line the table draws for ``name`` (which must be in view)."""
    index = [row.name for row in table.view].index(name)
    y = index - int(table.scroll_y) + 1
    assert 0 < y < table.size.height, f"{name} is not in view"
    return line_text(table, y)


async def test_the_table_marks_encrypted_objects_without_opening_details(client, proxy_bucket, boto3_s3):
    dgproxy.put_delta(boto3_s3, proxy_bucket, "rel/app-4.zip", V2, V1, when=120, encrypted="aes-256-gcm-chunked-v1")
    heads = count_heads(client)
    app = make_app(client, f"s3://{proxy_bucket}/rel/", metadata_in_view=True)
    async with app.run_test(size=(140, 40)) as pilot:
        table = await open_at(pilot, app)
        await table_settled(pilot, table)
        assert not isinstance(app.screen, DetailsScreen)
        assert "encr." in row_line(table, "secret.txt"), "an encrypted passthrough object"
        assert "encr." in row_line(table, "app-4.zip"), "an encrypted delta"
        # The encrypted delta's original size is the file's (its metadata says so), not the ciphertext's.
        assert human_size(len(V2)) in row_line(table, "app-4.zip")
        for name in ("app-1.zip", "app-2.zip", "app-3.zip"):
            line = row_line(table, name)
            assert "delta" in line and "encr." not in line and "%" in line, line  # original size and savings
        assert "direct" in row_line(table, "disk.img")
        # One HEAD per object row, none for the folder's reference or housekeeping; and one for the older
        # copy: the listing reads both app-3.zip and app-3.zip.delta to settle which is the object.
        stored = ["app-1.zip.delta", "app-2.zip.delta", "app-3.zip", "app-3.zip.delta", "app-4.zip.delta",
                  "disk.img", "secret.txt"]
        assert sorted(heads) == [f"/rel/{key}" for key in stored]
        # Leaving and coming back reads nothing again: the metadata cache answers.
        heads.clear()
        table.show(Location(proxy_bucket, "rel/"))
        await table_settled(pilot, table)
        assert heads == [] and "encr." in row_line(table, "secret.txt")


@pytest.fixture
def long_bucket(bucket, boto3_s3):
    """rel/ with 120 plain log files between an encrypted delta and an encrypted passthrough object."""
    dgproxy.put_first(boto3_s3, bucket, "rel/aa-app-1.zip", V1, encrypted="aes-256-gcm-v1")
    for i in range(LONG_LOGS):
        boto3_s3.put_object(Bucket=bucket, Key=f"rel/log-{i:03d}.txt", Body=b"log\n" * (i + 1))
    dgproxy.put_delta(boto3_s3, bucket, "rel/zz-app-2.zip", V2, V1, encrypted="aes-256-gcm-chunked-v1")
    dgproxy.put_passthrough(boto3_s3, bucket, "rel/zz-secret.txt", b"only the proxy reads this",
                            encrypted="aes-256-gcm-v1")
    return bucket


LONG_LOGS = 120


async def test_scrolling_fills_the_rows_further_down(client, long_bucket):
    app = make_app(client, f"s3://{long_bucket}/rel/", metadata_in_view=True)
    async with app.run_test(size=(140, 40)) as pilot:
        table = await open_at(pilot, app)
        await table_settled(pilot, table)
        names = [row.name for row in table.view]
        assert len(names) == LONG_LOGS + 3 and names[-2:] == ["zz-app-2.zip", "zz-secret.txt"]
        assert "encr." in row_line(table, "aa-app-1.zip")
        assert "plain" in row_line(table, "log-000.txt")
        loaded = [row.name for row in table.view if row.info.metadata_loaded]
        # the rows in view and a few below; not the 123 of the listing
        assert "log-000.txt" in loaded and len(loaded) < table.size.height + 10
        assert not any(row.info.metadata_loaded for row in table.view[-10:])

        await pilot.press("end")
        await table_settled(pilot, table)
        assert table.current.name == "zz-secret.txt"
        assert "encr." in row_line(table, "zz-secret.txt") and "encr." in row_line(table, "zz-app-2.zip")
        assert "plain" in row_line(table, names[-3])
        middle = len(names) // 2
        assert not table.view[middle].info.metadata_loaded, "rows scrolled past are not read"

        # PageUp brings rows into view that were never read: they fill in too.
        read_before = {row.name for row in table.view if row.info.metadata_loaded}
        await pilot.press("pageup", "pageup")  # the first one moves the cursor to the top of the view
        await table_settled(pilot, table)
        top = int(table.scroll_y)
        shown = table.view[top:top + table.scrollable_content_region.height - 1]
        assert any(row.name not in read_before for row in shown)
        assert shown and all(row.info.metadata_loaded for row in shown)
        assert all("plain" in row_line(table, row.name) for row in shown if row.name.startswith("log-"))

        # A filter changes what is in view: the matching rows are read.
        table.set_filter("log-05")
        await table_settled(pilot, table)
        assert [row.name for row in table.view] == [f"log-05{i}.txt" for i in range(10)]
        assert all(row.info.metadata_loaded for row in table.view)


async def test_rows_show_before_any_head_answers(client, proxy_bucket):
    # Every HEAD waits until the test lets it go (through botocore: the fast path is off for this client).
    client._fetcher.fast_head.disable("every HEAD through botocore, so that the test can hold it")
    release = threading.Event()
    waiting = []

    def hold(params, **_):
        if params.get("url_path", "").startswith("/rel/app-3.zip"):
            return  # the listing settles which of app-3.zip and app-3.zip.delta is the object by their HEADs
        waiting.append(1)
        release.wait(30)

    client.boto3_client.meta.events.register("before-call.s3.HeadObject", hold)
    app = make_app(client, f"s3://{proxy_bucket}/rel/", metadata_in_view=True)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            table = await open_at(pilot, app)
            assert [row.name for row in table.view] == ["app-1.zip", "app-2.zip", "app-3.zip", "disk.img",
                                                        "secret.txt"]
            await wait_for(pilot, lambda: waiting, what="a HEAD on its way")
            # The listing is complete and the keys work while the HEADs hang.
            assert table.reading_metadata and "encr." not in row_line(table, "secret.txt")
            await pilot.press("down")
            assert table.current.name == "app-2.zip"
            release.set()
            await table_settled(pilot, table)
            assert "encr." in row_line(table, "secret.txt")
    finally:
        release.set()


async def test_restores_in_the_app(client, proxy_bucket, tmp_path):
    out = tmp_path / "out"
    app = make_app(client, f"s3://{proxy_bucket}/rel/", download_dir=str(out), metadata_in_view=True)
    async with app.run_test(size=(140, 40)) as pilot:
        table = await open_at(pilot, app)
        table.cursor_row = [row.name for row in table.view].index("secret.txt")
        await pilot.press("d")
        await answer_prompt(pilot, app)
        transfer, text = await finished(pilot, app)
        assert transfer.state == "failed" and "encrypted by deltaglider_proxy" in text, text
        assert sum("deltaglider_proxy" in line for line in text.splitlines()) == 1
        assert not out.exists() or os.listdir(out) == []

        table.cursor_row = [row.name for row in table.view].index("disk.img")
        await pilot.press("d")
        await answer_prompt(pilot, app)
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done" and "not checked: no sha256 stored" in text, text
        assert (out / "disk.img").read_bytes() == REPLICA

        table.cursor_row = [row.name for row in table.view].index("app-3.zip")
        await pilot.press("d")
        await answer_prompt(pilot, app)
        transfer, text = await finished(pilot, app)
        assert transfer.state == "done" and "sha256 verified" in text, text
        assert (out / "app-3.zip").read_bytes() == V3
        assert sorted(os.listdir(out)) == ["app-3.zip", "disk.img"]


async def test_statistics_count_encrypted_objects_apart(client, proxy_bucket, boto3_s3):
    dgproxy.put_delta(boto3_s3, proxy_bucket, "rel/app-4.zip", V2, V1, when=120, encrypted="aes-256-gcm-chunked-v1")
    app = make_app(client, f"s3://{proxy_bucket}/rel/", metadata_in_view=True)
    async with app.run_test(size=(140, 40)) as pilot:
        await open_at(pilot, app)
        panel = app.screen.query_one(StatsPanel)
        await pilot.press("c")
        await wait_for(pilot, lambda: panel.detailed is not None, what="exact stats")
        # the encrypted delta and the encrypted passthrough object
        assert panel.detailed.encrypted_objects == 2 and panel.detailed.object_count == 6
        # the original sizes, not the ciphertext's
        originals = [V1, V2, V3, b"only the proxy reads this", REPLICA, V2]
        assert panel.detailed.total_size == sum(map(len, originals)) and not panel.detailed.estimated
        await pilot.pause()
        rendered = "\n".join(line_text(panel, y) for y in range(panel.size.height))
        assert any("Encrypted" in line and line.rstrip().endswith("2") for line in rendered.splitlines()), rendered


async def test_housekeeping_keys_in_the_app(client, proxy_bucket):
    app = make_app(client, f"s3://{proxy_bucket}/", metadata_in_view=True)
    async with app.run_test(size=(140, 40)) as pilot:
        table = await open_at(pilot, app)
        assert [row.name for row in table.view] == ["_dgp/", "rel/"]
        assert "system" in line_text(table, 1) and "folder" in line_text(table, 2)
    app = make_app(client, f"s3://{proxy_bucket}/_dgp/locks/", metadata_in_view=True)
    async with app.run_test(size=(140, 40)) as pilot:
        table = await open_at(pilot, app)
        assert "system" in line_text(table, 1)
        await pilot.press("u")
        await pilot.pause()
        assert not isinstance(app.screen, PromptScreen)
        messages = [n.message for n in app._notifications]
        assert any("_dgp/" in m and "locks and leases" in m for m in messages), messages
