"""A bucket this identity may not read says so on its node; the others still browse."""

from __future__ import annotations

import logging

import pytest

from dgtui.app.widgets.bucket_tree import BucketTree
from dgtui.app.widgets.object_table import ObjectTable

from ..hardening.conftest import LIMITED_KEY, LIMITED_SECRET, LIST_ONLY_KEY, LIST_ONLY_SECRET, as_new
from .helpers import make_app, make_client, table_settled, wait_for
from .test_browse import line_text

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def limited_server(two_identity_server):
    return as_new(two_identity_server)


async def test_access_denied_on_one_bucket_is_shown_on_its_node(limited_server, tmp_path):
    client = make_client(limited_server, tmp_path / "cache", aws_access_key_id=LIMITED_KEY,
                         aws_secret_access_key=LIMITED_SECRET)
    app = make_app(client, "s3://team-b/docs/", metadata_in_view=True)
    async with app.run_test(size=(120, 40)) as pilot:
        tree = app.screen.query_one(BucketTree)
        node = await wait_for(pilot, lambda: tree.node_for_bucket("team-b"), timeout=30)
        await wait_for(pilot, lambda: node.data.error, what="the error on the node", timeout=30)
        assert "access denied" in node.label.plain
        assert app.is_running
    # the same identity still browses the bucket it may read
    app = make_app(client, "s3://team-a/docs/", metadata_in_view=True)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: table.view and not table.listing, timeout=30)
        assert [row.name for row in table.view] == ["readme.txt"]


async def test_rows_whose_metadata_may_not_be_read_stay_unknown_quietly(limited_server, tmp_path, caplog):
    # This identity may list team-a but not read it: every HEAD is denied.
    client = make_client(limited_server, tmp_path / "cache", aws_access_key_id=LIST_ONLY_KEY,
                         aws_secret_access_key=LIST_ONLY_SECRET)
    denied = []
    client.boto3_client.meta.events.register("after-call.s3.HeadObject",
                                             lambda http_response, **_: denied.append(http_response.status_code))
    app = make_app(client, "s3://team-a/docs/", metadata_in_view=True)
    with caplog.at_level(logging.WARNING, logger="dgtui.app"):
        async with app.run_test(size=(120, 40)) as pilot:
            table = app.screen.query_one(ObjectTable)
            await table_settled(pilot, table, timeout=30)
            assert [row.name for row in table.view] == ["readme.txt"]
            assert denied and set(denied) == {403}
            assert not table.view[0].info.metadata_loaded
            line = line_text(table, 1)
            assert "readme.txt" in line and not any(kind in line for kind in ("plain", "direct", "encr."))
            # The view moving again does not ask again.
            heads = len(denied)
            await pilot.resize_terminal(120, 30)
            await table_settled(pilot, table)
            assert len(denied) == heads
            # No notification about it: the rows just stay unknown.
            messages = [n.message for n in app._notifications]
            assert not any("readme" in m or "metadata" in m for m in messages), messages
            assert app.is_running
    logged = [r.getMessage() for r in caplog.records if r.name == "dgtui.app"]
    assert len(logged) == 1 and "s3://team-a/docs/" in logged[0] and "access denied" in logged[0], logged
