"""Pictures of the audit results and of damaged rows, compared with the accepted ones in __snapshots__/.

Fixed data in a bucket of its own (the tree shows only ``audit-snapshots``), fixed
timestamps, and the audit has finished before the picture is taken.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Tree

from dgtui import DgClient
from dgtui.app.app import DgtuiApp
from dgtui.app.messages import Location
from dgtui.app.screens.audit import AuditScreen
from dgtui.app.widgets.object_table import ObjectTable

from .helpers import fixed_time, make_client, release_bytes, screen_of, table_settled, wait_for

SIZE = (100, 30)
BUCKET = "audit-snapshots"  # not "snap-": the other snapshots show every snap-* bucket


@pytest.fixture(scope="module")
def audit_client(s3_server, tmp_path_factory) -> DgClient:
    client = make_client(s3_server, tmp_path_factory.mktemp("snap-audit-cache"))
    list_all = client.list_buckets

    def list_buckets(**kwargs: Any) -> dict[str, Any]:
        result = list_all(**kwargs)
        result["Buckets"] = [b for b in result["Buckets"] if b["Name"] == BUCKET]
        return result

    client.list_buckets = list_buckets  # type: ignore[method-assign]
    client.create_bucket(Bucket=BUCKET)
    for folder in ("nightly", "weekly"):
        for version in range(3):
            client.put_object(Bucket=BUCKET, Key=f"{folder}/app-1.{version}.tar", Body=release_bytes(version))
    s3 = s3_server.boto3_client()
    s3.delete_object(Bucket=BUCKET, Key="nightly/reference.bin")
    s3.copy_object(Bucket=BUCKET, Key="weekly/app-1.2.tar.delta", CopySource=f"{BUCKET}/weekly/app-1.2.tar.delta",
                   Metadata={**s3.head_object(Bucket=BUCKET, Key="weekly/app-1.2.tar.delta")["Metadata"],
                             "dg-delta-size": "1"}, MetadataDirective="REPLACE")
    yield client
    client.close()


def audit_app(client: DgClient) -> DgtuiApp:
    return DgtuiApp(lambda: client, start_url=f"s3://{BUCKET}/", time_format=fixed_time, clock=lambda: 1000.0,
                    download_dir="/home/me/restore")


async def finished_audit(pilot) -> AuditScreen:
    """The whole bucket audited (as v does with the bucket highlighted in the tree)."""
    table = pilot.app.screen.query_one(ObjectTable)
    await wait_for(pilot, lambda: table.location is not None and not table.listing and table.view, what="table")
    await table_settled(pilot, table)
    pilot.app.push_screen(AuditScreen(Location(BUCKET, "")))
    screen = await screen_of(pilot, AuditScreen)
    await wait_for(pilot, lambda: screen.summary is not None, what="the audit")
    await pilot.pause()
    return screen


def test_audit_results(snap_compare, audit_client):
    async def run_before(pilot) -> None:
        screen = await finished_audit(pilot)
        screen.query_one(Tree).focus()
        await pilot.pause()

    assert snap_compare(audit_app(audit_client), terminal_size=SIZE, run_before=run_before)


def test_damaged_rows(snap_compare, audit_client):
    async def run_before(pilot) -> None:
        screen = await finished_audit(pilot)
        tree = screen.query_one(Tree)
        tree.focus()
        tree.move_cursor(tree.root.children[0].children[1])  # nightly/app-1.1.tar
        await pilot.press("enter")
        table = pilot.app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: table.location.prefix == "nightly/" and not table.listing
                       and table.current is not None and table.current.name == "app-1.1.tar", what="the object")
        await table_settled(pilot, table)

    assert snap_compare(audit_app(audit_client), terminal_size=SIZE, run_before=run_before)
