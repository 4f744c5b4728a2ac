"""Browsing: the lazy tree, the paged table, filter and sort, details, and HEADs only for the rows in view."""

from __future__ import annotations

import threading

import pytest
from textual.widgets import Input

from dgtui.app.messages import Location
from dgtui.app.screens.details import DetailsScreen
from dgtui.app.widgets.bucket_tree import BucketTree
from dgtui.app.widgets.object_table import ObjectTable
from dgtui.app.widgets.stats_panel import StatsPanel
from dgtui.testing.proxy import TcpProxy

from .helpers import (
    BIG_COUNT,
    BIG_PREFIX,
    count_heads,
    make_app,
    make_client,
    release_bytes,
    screen_of,
    table_settled,
    wait_for,
)

pytestmark = pytest.mark.asyncio


def line_text(widget, y: int) -> str:
    return "".join(segment.text for segment in widget.render_line(y))


def table_lines(table: ObjectTable) -> list[str]:
    return [line_text(table, y) for y in range(table.size.height)]


def tree_labels(tree: BucketTree) -> list[str]:
    labels = []

    def walk(node):
        for child in node.children:
            labels.append(child.label.plain)
            if child.is_expanded:
                walk(child)

    walk(tree.root)
    return labels


@pytest.fixture
def small_bucket(client, bucket):
    """releases/ with two deltas, docs/ with a plain object, and a nested folder."""
    for version in range(2):
        client.put_object(Bucket=bucket, Key=f"releases/app-{version}.tar", Body=release_bytes(version))
    client.put_object(Bucket=bucket, Key="docs/readme.txt", Body=b"read me\n")
    client.put_object(Bucket=bucket, Key="docs/old/notes.txt", Body=b"notes\n")
    return bucket


async def test_tree_lists_buckets_then_folders_lazily(client, small_bucket):
    heads = count_heads(client)
    app = make_app(client)
    async with app.run_test(size=(120, 40)) as pilot:
        tree = app.screen.query_one(BucketTree)
        node = await wait_for(pilot, lambda: tree.node_for_bucket(small_bucket), what="bucket node")
        assert not node.children, "nothing is listed before the bucket is expanded"
        tree.move_cursor(node)
        tree.focus()
        await pilot.press("enter")
        # The listing answers quickly on a local server; the node says it is loading until it does.
        await wait_for(pilot, lambda: node.data.loaded, what="folders of the bucket")
        names = [child.label.plain for child in node.children]
        assert names == ["docs/", "releases/"]
        docs = node.children[0]
        assert not docs.children
        assert app.focused is app.screen.query_one(ObjectTable), "Enter on a bucket moves the keys to the table"
        tree.focus()
        tree.move_cursor(docs)
        await pilot.press("enter")
        await wait_for(pilot, lambda: docs.data.loaded, what="folders of docs/")
        assert [child.label.plain for child in docs.children] == ["old/"]
        # Enter on a folder node also shows it in the table.
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: table.location and table.location.prefix == "docs/" and not table.listing)
        assert [row.name for row in table.view] == ["old/", "readme.txt"]
        await table_settled(pilot, table)
        assert "direct" not in line_text(table, 2), "its type is in its metadata, which nothing read"
    # The tree and the table list only: browsing sends no HEAD (m would read the rows in view).
    assert heads == [], "no HEAD while browsing"


async def test_tree_shows_loading_state_while_listing(s3_server, small_bucket, tmp_path):
    proxy = TcpProxy.for_endpoint(s3_server.endpoint_url, latency_s=0.6).start()
    slow = make_client(s3_server, tmp_path / "cache", endpoint_url=proxy.endpoint_url)
    try:
        app = make_app(slow)
        async with app.run_test(size=(120, 40)) as pilot:
            tree = app.screen.query_one(BucketTree)
            node = await wait_for(pilot, lambda: tree.node_for_bucket(small_bucket), what="bucket node")
            node.expand()
            await pilot.pause(0.1)
            assert "loading…" in node.label.plain
            assert [child.label.plain for child in node.children] == ["loading…"]
            await wait_for(pilot, lambda: node.data.loaded, what="folders")
            assert not node.label.plain.endswith("loading…")
    finally:
        slow.close()
        proxy.stop()


async def test_table_fills_page_by_page_and_stays_responsive(s3_server, big_bucket, tmp_path):
    # Latency per request makes the 5 pages arrive one by one, as over a real network.
    proxy = TcpProxy.for_endpoint(s3_server.endpoint_url, latency_s=0.6).start()
    slow = make_client(s3_server, tmp_path / "cache", endpoint_url=proxy.endpoint_url)
    heads = count_heads(slow)
    starts: list[str] = []
    slow.boto3_client.meta.events.register(
        "before-call.s3.ListObjectsV2",
        lambda params, **_: starts.append(params.get("query_string", {}).get("start-after", "")))
    # Pages after the first wait until the keys below have been answered: "while pages keep arriving"
    # holds however fast or slow this machine is.
    keys_answered = threading.Event()
    listed: list[str] = []

    def hold(request, **_):
        if f"/{big_bucket}?" in request.url and "prefix=logs" in request.url:
            listed.append(request.url)
            if len(listed) > 1:
                keys_answered.wait(30)

    slow.boto3_client.meta.events.register("before-send.s3.ListObjectsV2", hold)
    try:
        app = make_app(slow, f"s3://{big_bucket}/{BIG_PREFIX}", metadata_in_view=True)
        async with app.run_test(size=(120, 40)) as pilot:
            table = app.screen.query_one(ObjectTable)
            await wait_for(pilot, lambda: len(table.view) > 0, what="first rows")
            assert table.listing and len(table.objects) < BIG_COUNT, "first rows show before the listing ends"
            # The app answers keys while pages keep arriving.
            await pilot.press("down", "down", "down")
            # (a folder listed on a later page may have been inserted above the cursor meanwhile)
            assert table.cursor_row >= 3 and table.listing
            chosen = table.current.key
            await pilot.press("slash")
            assert isinstance(app.focused, Input)
            await pilot.press("escape")
            assert table.listing
            keys_answered.set()
            await wait_for(pilot, lambda: not table.listing, timeout=30, what="the whole listing")
            assert len(table.objects) == BIG_COUNT
            assert [row.name for row in table.view[:2]] == ["archive/", "zzz/"], "folders come first"
            assert table.summary.objects == BIG_COUNT and table.summary.folders == 2
            # The cursor stayed on the row the user moved to while pages arrived (a folder
            # listed on the last page may have pushed it down).
            assert table.current.key == chosen
            # The location bar is redrawn by a timer, so it may show the end a moment later.
            await wait_for(pilot, lambda: "5,000 objects" in line_text(app.screen.query_one("#location-bar"), 0),
                           what="the location bar's final count")
            # Only the rows around the view have their metadata read: not 5,000 HEADs.
            await table_settled(pilot, table, timeout=30)
            read = [i for i, row in enumerate(table.view) if row.info is not None and row.info.metadata_loaded]
            height = table.scrollable_content_region.height
            assert read and max(read) < int(table.scroll_y) + height + 10
            assert all("plain" in line_text(table, i + 1 - int(table.scroll_y)) for i in read
                       if 0 < i + 1 - int(table.scroll_y) < height)
            sent = len(heads) + slow._fetcher.fast_head.fast_requests
            assert 0 < sent <= len(read) + 1, "HEADs only for the rows in view (and a few around)"
        assert starts[0] == "" and any(starts[1:]), "after the first page, key ranges were listed at once"
    finally:
        keys_answered.set()
        slow.close()
        proxy.stop()


async def test_filter_and_sort_on_thousands_of_rows(session_client, big_bucket):
    app = make_app(session_client, f"s3://{big_bucket}/{BIG_PREFIX}")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: not table.listing and table.objects, timeout=30, what="listing")
        await pilot.press("slash", "0", "4", "9", "9")
        await pilot.pause()
        names = [row.name for row in table.view]
        assert names == ["file-000499.log", "file-004990.log", "file-004991.log", "file-004992.log",
                         "file-004993.log", "file-004994.log", "file-004995.log", "file-004996.log",
                         "file-004997.log", "file-004998.log", "file-004999.log"]
        await pilot.press("enter")  # back to the table
        assert app.focused is table
        await pilot.press("S")  # largest first
        sizes = [row.size for row in table.view]
        assert sizes == sorted(sizes, reverse=True)
        assert "Stored ▼" in line_text(table, 0)
        await pilot.press("escape")  # clears the filter
        await pilot.pause()
        assert len(table.view) == BIG_COUNT + 2
        assert table.view[2].size == 976
        await pilot.press("n")
        assert [row.name for row in table.view[2:4]] == ["file-000000.log", "file-000001.log"]
        await pilot.press("n")
        assert table.view[2].name == "file-004999.log"
        await pilot.press("t")
        dates = [row.modified for row in table.view[2:]]
        assert dates == sorted(dates, reverse=True)


async def test_enter_opens_folder_and_backspace_goes_up(session_client, big_bucket):
    app = make_app(session_client, f"s3://{big_bucket}/")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: not table.listing and table.view, what="bucket root")
        assert [row.name for row in table.view] == ["logs/"]
        await pilot.press("enter")
        # zzz/ is listed last (after the 5,000 objects): only once the listing is in is it the second row.
        await wait_for(pilot, lambda: table.location.prefix == "logs/" and table.view and not table.listing,
                       what="logs/")
        await pilot.press("down")  # zzz/
        await pilot.press("enter")
        await wait_for(pilot, lambda: table.location.prefix == "logs/zzz/" and not table.listing)
        assert [row.name for row in table.view] == ["inner.log"]
        await pilot.press("backspace")
        await wait_for(pilot, lambda: table.location.prefix == "logs/" and not table.listing, timeout=30)
        assert table.current.name == "zzz/", "going up lands on the folder we came from"


async def test_a_url_naming_an_object_opens_its_folder_on_it(client, small_bucket):
    app = make_app(client, f"s3://{small_bucket}/releases/app-1.tar")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: table.location.prefix == "releases/" and not table.listing and table.view,
                       what="the object's folder")
        assert table.current.name == "app-1.tar"
        assert app.screen.focused is table
    # A URL without the trailing "/" that names a folder still opens the folder.
    app = make_app(client, f"s3://{small_bucket}/docs")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: not table.listing and table.view, what="docs/")
        assert table.location.prefix == "docs/"
        assert [row.name for row in table.view] == ["old/", "readme.txt"]


async def test_details_heads_only_when_opened_and_caches(client, small_bucket):
    heads = count_heads(client)
    app = make_app(client, f"s3://{small_bucket}/releases/", metadata_in_view=True)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: not table.listing and table.view, what="releases/")
        assert [row.name for row in table.view] == ["app-0.tar", "app-1.tar"]
        assert "delta" in line_text(table, 1)
        # The rows in view have their metadata read once the table is shown: original size and savings.
        await table_settled(pilot, table)
        assert sorted(heads) == ["/releases/app-0.tar.delta", "/releases/app-1.tar.delta"]
        assert "%" in line_text(table, 1) and "%" in line_text(table, 2)
        heads.clear()
        await pilot.press("down", "enter")
        screen = await screen_of(pilot, DetailsScreen)
        await wait_for(pilot, lambda: screen.info is not None, what="metadata")
        assert heads and all(path.startswith("/releases/app-1.tar") for path in heads)
        text = str(screen.query_one("#details-content").render())
        content = app.screen.query_one("#details-content")
        rendered = "\n".join(line_text(content, y) for y in range(content.size.height))
        for expected in ("Original size", "293.0 KiB (300,000 bytes)", "Stored size", "Savings",
                         "delta: stored as a binary diff", "releases/reference.bin", "Reference sha256",
                         "File sha256", "Tool", "dgtui/"):
            assert expected in rendered, expected
        assert text
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DetailsScreen))
        # The row now knows what the metadata said.
        assert "%" in line_text(table, 2)
        count = len(heads)
        await pilot.press("i")
        screen = await screen_of(pilot, DetailsScreen)
        await wait_for(pilot, lambda: screen.info is not None)
        assert len(heads) == count, "details are cached for the session"


async def test_details_says_metadata_invalid(client, bucket, boto3_s3):
    boto3_s3.put_object(Bucket=bucket, Key="bad/file.zip.delta", Body=b"not a delta",
                        Metadata={"dg-file-sha256": "nothex", "dg-file-size": "many", "dg-ref-key": "reference.bin"})
    app = make_app(client, f"s3://{bucket}/bad/")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: not table.listing and table.view)
        await pilot.press("enter")
        screen = await screen_of(pilot, DetailsScreen)
        await wait_for(pilot, lambda: screen.info is not None)
        content = screen.query_one("#details-content")
        rendered = "\n".join(line_text(content, y) for y in range(content.size.height))
        assert "metadata invalid:" in rendered


async def test_keys_render_literally(client, bucket, boto3_s3):
    nasty = ["odd/[bold]not bold[/bold]", "odd/\x1b[31mred\x1b[0m.txt", "odd/\x1b]0;title\x07.txt",
             "odd/line\nbreak.txt", "odd/日本語 ملف.txt", "odd/" + "long" * 60 + ".txt"]
    for key in nasty:
        boto3_s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    app = make_app(client, f"s3://{bucket}/odd/")
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: not table.listing and len(table.view) == len(nasty))
        screen_text = "\n".join(table_lines(table))
        assert "\x1b" not in screen_text and "\x07" not in screen_text
        for expected in ("[bold]not bold[/", "\\x1b[31mred\\x1b[0m.txt", "\\x1b]0;title\\x07.txt",
                         "line\\nbreak.txt", "日本語 ملف.txt", "longlong"):
            assert expected in screen_text, expected
        # The folder made by "[bold]not bold[/" is shown as typed in the tree too.
        tree = app.screen.query_one(BucketTree)
        await wait_for(pilot, lambda: tree.node_for_bucket(bucket))
        # Confirmation dialogs show the same text.
        for _ in range(len(table.view)):
            if table.current.name.startswith("\x1b[31m"):
                break
            await pilot.press("down")
        await pilot.press("delete")
        dialog = await wait_for(pilot, lambda: app.screen.query("#dialog") and app.screen)
        body = "\n".join(str(w.render()) for w in dialog.query("Static"))
        assert "\\x1b[31mred\\x1b[0m.txt" in body and "\x1b" not in body
        await pilot.press("escape")


async def test_mouse_sorts_selects_and_opens(session_client, big_bucket):
    app = make_app(session_client, f"s3://{big_bucket}/")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: not table.listing and table.view)
        await pilot.click(ObjectTable, offset=(3, 1), times=2)  # double click on logs/
        await wait_for(pilot, lambda: table.location.prefix == "logs/" and not table.listing, timeout=30)
        header = line_text(table, 0)
        await pilot.click(ObjectTable, offset=(header.index("Stored") + 2, 0))
        assert table.sort_key == "size" and table.sort_reverse
        await pilot.click(ObjectTable, offset=(3, 5))
        assert table.cursor_row == 4


async def test_leaving_a_listing_drops_its_late_pages(client, big_bucket, small_bucket):
    # The old listing's next pages are held in flight until the new listing is shown, then let go;
    # the check waits until the old listing's worker has ended, so its pages had every chance to land.
    released = threading.Event()
    listed: list[str] = []

    def hold(request, **_):
        if f"/{big_bucket}?" in request.url and "prefix=logs" in request.url:
            listed.append(request.url)
            if len(listed) > 1:  # the first page goes through
                released.wait(30)

    client.boto3_client.meta.events.register("before-send.s3.ListObjectsV2", hold)
    try:
        app = make_app(client, f"s3://{big_bucket}/{BIG_PREFIX}")
        async with app.run_test(size=(120, 40)) as pilot:
            table = app.screen.query_one(ObjectTable)
            await wait_for(pilot, lambda: len(table.view) > 0, what="first rows")
            assert table.listing and len(table.objects) < BIG_COUNT
            old = [w for w in app.workers if w.group == "listing" and not w.is_finished]
            assert old, "the old listing is still running"
            # The rest is asked for once the first rows are painted: wait until those requests are held.
            await wait_for(pilot, lambda: len(listed) > 1, what="its next pages held in flight")
            app.screen.navigate(Location(small_bucket, "releases/"))
            await wait_for(pilot, lambda: not table.listing, timeout=30, what="the new listing")
            released.set()
            await wait_for(pilot, lambda: all(w.is_finished for w in old), timeout=30, what="the old listing ended")
            await pilot.pause()
            await pilot.pause()  # whatever it posted before ending has been handled
            assert [row.name for row in table.view] == ["app-0.tar", "app-1.tar"]
            assert table.summary.objects == 2
    finally:
        released.set()
        client.boto3_client.meta.events.unregister("before-send.s3.ListObjectsV2", hold)


async def test_exact_stats_run_in_the_background_and_cancel(s3_server, big_bucket, tmp_path):
    # Room for both pools of keep-alive connections (the fast HEADs' and botocore's): a proxy serving
    # fewer at once leaves the extra ones waiting for a slot that idle kept-alive connections never free.
    proxy = TcpProxy.for_endpoint(s3_server.endpoint_url, latency_s=0.3, max_connections=256).start()
    slow = make_client(s3_server, tmp_path / "cache", endpoint_url=proxy.endpoint_url)
    try:
        app = make_app(slow, f"s3://{big_bucket}/")
        async with app.run_test(size=(120, 40)) as pilot:
            table = app.screen.query_one(ObjectTable)
            stats = app.screen.query_one(StatsPanel)
            await wait_for(pilot, lambda: not table.listing and table.view)
            await pilot.press("c")
            assert stats.running
            assert "c cancels" in "\n".join(line_text(stats, y) for y in range(stats.size.height))
            await pilot.press("down")  # browsing goes on meanwhile
            await pilot.press("c")
            assert not stats.running and stats.detailed_note == "cancelled"
            # Exact stats read the metadata of every one of the 5,000 objects: no need to wait for slow links.
            proxy.latency_s = 0
            await pilot.press("c")
            await wait_for(pilot, lambda: stats.detailed is not None, timeout=60, what="exact stats")
            assert stats.detailed.object_count == BIG_COUNT + 2
            text = "\n".join(line_text(stats, y) for y in range(stats.size.height))
            assert "Whole bucket (exact)" in text
    finally:
        slow.close()
        proxy.stop()


async def test_browsing_and_scrolling_send_only_listings_by_default(s3_server, big_bucket, tmp_path):
    """The design's promise: the listing carries what browsing needs; no HEAD unless asked (m)."""
    counting = TcpProxy.for_endpoint(s3_server.endpoint_url).start()  # notes every request it forwards
    client = make_client(s3_server, tmp_path / "cache", endpoint_url=counting.endpoint_url)
    try:
        app = make_app(client, f"s3://{big_bucket}/{BIG_PREFIX}")
        async with app.run_test(size=(120, 40)) as pilot:
            table = app.screen.query_one(ObjectTable)
            await wait_for(pilot, lambda: table.summary.complete and not table.listing, timeout=30,
                           what="the whole listing")
            await table_settled(pilot, table)
            for keys in (["pagedown"] * 3, ["G"], ["g"], ["t"], ["n"]):
                await pilot.press(*keys)
                await table_settled(pilot, table)  # the rows in view were filled (from the cache: nothing)
            await pilot.press("slash", "0", "0", "4", "enter")
            await table_settled(pilot, table)
            assert table.rows.metadata_tried, "the rows in view were looked up (in the cache)"
            assert not any(row.info.metadata_loaded for row in table.view if row.info is not None)
            requests = list(counting.requests)
            assert requests, "the listing went through the counting proxy"
            not_listings = [r for r in requests if not (r.startswith("GET ") and ("list-type=2" in r or r == "GET /"))]
            assert not_listings == [], "browsing sent only listings"
            # With the setting on (m), the rows in view are read from the server.
            await pilot.press("m")
            assert app.metadata_in_view
            await table_settled(pilot, table)
            heads = [r for r in counting.requests[len(requests):] if r.startswith("HEAD ")]
            read = [row for row in table.view if row.info is not None and row.info.metadata_loaded]
            assert read and len(heads) == len(read)
            assert all(row.name.startswith("file-") and "004" in row.name for row in read)
    finally:
        client.close()
        counting.stop()


async def test_a_folder_emptied_elsewhere_shows_as_empty_after_refresh(client, bucket, boto3_s3):
    """SeaweedFS keeps listing a folder whose objects were all deleted: the table says it is empty."""
    boto3_s3.put_object(Bucket=bucket, Key="gone/sub/a.txt", Body=b"a")
    boto3_s3.put_object(Bucket=bucket, Key="keep/b.txt", Body=b"b")
    app = make_app(client, f"s3://{bucket}/")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: table.summary.complete and not table.listing, what="the bucket")
        await wait_for(pilot, lambda: not any(w.group == "empty-folders" and not w.is_finished
                                              for w in app.workers), what="the folder check")
        assert [(row.name, row.empty) for row in table.view] == [("gone/", False), ("keep/", False)]
        boto3_s3.delete_object(Bucket=bucket, Key="gone/sub/a.txt")
        assert [p["Prefix"] for p in boto3_s3.list_objects_v2(Bucket=bucket, Delimiter="/")["CommonPrefixes"]] \
            == ["gone/", "keep/"], "the server still lists the emptied folder"
        await pilot.press("r")
        await wait_for(pilot, lambda: table.summary.complete and not table.listing, what="the bucket again")
        await wait_for(pilot, lambda: table.view and table.view[0].empty, what="gone/ found empty")
        assert [(row.name, row.empty) for row in table.view] == [("gone/", True), ("keep/", False)]
        assert "empty" in line_text(table, 1) and "folder" in line_text(table, 2)


@pytest.mark.parametrize("width", [80, 100, 120])
async def test_the_footer_shows_whole_keys_at_any_width(client, small_bucket, width):
    from textual.widgets._footer import FooterKey

    from dgtui.app.widgets.footer import AppFooter

    app = make_app(client, f"s3://{small_bucket}/releases/")
    async with app.run_test(size=(width, 30)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: table.summary.complete and not table.listing, what="the listing")
        await pilot.pause()
        footer = app.screen.query_one(AppFooter)
        keys = list(footer.query(FooterKey))
        descriptions = [key.description for key in keys]
        assert descriptions[:2] == ["Keys", "Quit"] and "Restore" in descriptions
        assert all(key.region.right <= width for key in keys), "no key is cut at the edge"
        assert sum(key.region.width for key in keys) <= width
        assert (footer.left_out > 0) == (width == 80), "what does not fit is left out whole (and is in ?)"
