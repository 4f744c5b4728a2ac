"""One rule for the keys: they act on the focused pane's item; a click in the tree keeps the focus there."""

from __future__ import annotations

import pytest

from dgtui.app.screens.details import DetailsScreen
from dgtui.app.screens.prompt import PromptScreen
from dgtui.app.widgets.bucket_tree import BucketTree
from dgtui.app.widgets.object_table import ObjectTable

from .helpers import make_app, screen_of, wait_for
from .test_errors import notifications
from .test_moves import dialog_text
from .test_transfers import open_at

pytestmark = pytest.mark.asyncio


@pytest.fixture
def folders(client, bucket):
    client.put_object(Bucket=bucket, Key="rel/readme.txt", Body=b"read me\n")
    client.put_object(Bucket=bucket, Key="logs/today.log", Body=b"log\n")
    client.put_object(Bucket=bucket, Key="top.txt", Body=b"top\n")
    return bucket


async def tree_on(pilot, app, bucket: str, prefix: str) -> BucketTree:
    from dgtui.app.messages import Location

    tree = app.screen.query_one(BucketTree)
    await wait_for(pilot, lambda: tree.node_for(Location(bucket, prefix)), what="the folder's node")
    tree.focus()
    tree.move_cursor(tree.node_for(Location(bucket, prefix)))
    await pilot.pause()
    return tree


async def test_keys_act_on_the_trees_folder_or_say_why_not(client, folders):
    # The table shows the bucket's top level (its rows: logs/, rel/, top.txt); the tree highlights rel/.
    app = make_app(client, f"s3://{folders}/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        tree = app.screen.query_one(BucketTree)
        await wait_for(pilot, lambda: tree.node_for_bucket(folders), what="bucket node")
        tree.node_for_bucket(folders).expand()
        tree = await tree_on(pilot, app, folders, "rel/")
        while table.current.name != "top.txt":
            table.action_cursor_down()
        for key, says in (("i", "i shows an object's details; a folder has none"),
                          ("p", "p previews an object's text; a folder has none"),
                          ("Y", "Y copies an object's sha256; a folder has none")):
            await pilot.press(key)
            await pilot.pause()
            assert app.screen.query_one(BucketTree) is tree and not isinstance(app.screen, DetailsScreen)
            assert says in notifications(app)[-1], notifications(app)
        await pilot.press("y")
        await pilot.pause()
        assert notifications(app)[-1] == f"Copied s3://{folders}/rel/"
        # D and u too: the tree's folder, not the folder the table shows.
        await pilot.press("D")
        prompt = await screen_of(pilot, PromptScreen)
        assert f"s3://{folders}/rel/" in dialog_text(prompt) and "1 object" in dialog_text(prompt)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, PromptScreen), what="the prompt to close")
        app.screen.query_one(BucketTree).focus()
        await pilot.press("u")
        prompt = await screen_of(pilot, PromptScreen)
        assert f"s3://{folders}/rel/" in dialog_text(prompt)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, PromptScreen), what="the prompt to close")
        # With the table focused, the same keys act on its highlighted row.
        table.focus()
        await pilot.press("y")
        await pilot.pause()
        assert notifications(app)[-1] == f"Copied s3://{folders}/top.txt"


async def test_a_click_in_the_tree_opens_the_folder_and_keeps_the_focus(client, folders):
    from dgtui.app.messages import Location

    app = make_app(client, f"s3://{folders}/")
    async with app.run_test(size=(120, 36)) as pilot:
        table = await open_at(pilot, app)
        tree = app.screen.query_one(BucketTree)
        await wait_for(pilot, lambda: tree.node_for_bucket(folders), what="bucket node")
        tree.node_for_bucket(folders).expand()
        await wait_for(pilot, lambda: tree.node_for(Location(folders, "logs/")), what="the folder's node")
        await pilot.pause()
        node = tree.node_for(Location(folders, "logs/"))
        assert await pilot.click(BucketTree, offset=(6, node.line - tree.scroll_offset.y))
        await wait_for(pilot, lambda: table.location == Location(folders, "logs/") and not table.listing,
                       what="the clicked folder in the table")
        assert app.focused is tree and tree.cursor_node is node
        # Enter on the keyboard opens it and moves the focus to the table.
        tree.move_cursor(tree.node_for_bucket(folders))
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.focused is app.screen.query_one(ObjectTable), what="focus in the table")
        await wait_for(pilot, lambda: table.location == Location(folders), what="the bucket in the table")
