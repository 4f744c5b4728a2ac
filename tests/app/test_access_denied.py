"""A bucket this identity may not read says so on its node; the others still browse."""

from __future__ import annotations

import pytest

from dgtui.app.widgets.bucket_tree import BucketTree
from dgtui.app.widgets.object_table import ObjectTable

from ..hardening.conftest import LIMITED_KEY, LIMITED_SECRET, serve_two_identities
from .helpers import make_app, make_client, wait_for

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory):
    yield from serve_two_identities(tmp_path_factory.mktemp("app-acl-data"))


async def test_access_denied_on_one_bucket_is_shown_on_its_node(limited_server, tmp_path):
    client = make_client(limited_server, tmp_path / "cache", aws_access_key_id=LIMITED_KEY,
                         aws_secret_access_key=LIMITED_SECRET)
    app = make_app(client, "s3://team-b/docs/")
    async with app.run_test(size=(120, 40)) as pilot:
        tree = app.screen.query_one(BucketTree)
        node = await wait_for(pilot, lambda: tree.node_for_bucket("team-b"), timeout=30)
        await wait_for(pilot, lambda: node.data.error, what="the error on the node", timeout=30)
        assert "access denied" in node.label.plain
        assert app.is_running
    # the same identity still browses the bucket it may read
    app = make_app(client, "s3://team-a/docs/")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: table.view and not table.listing, timeout=30)
        assert [row.name for row in table.view] == ["readme.txt"]
