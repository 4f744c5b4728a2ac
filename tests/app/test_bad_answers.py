"""The table marks an object the server lists badly, and lists the others as usual."""

from __future__ import annotations

import pytest

from dgtui.app.widgets.object_table import ObjectTable

from ..rewriting_proxy import Rewriting
from ..scripted_http import serving
from .helpers import make_app, make_client, table_settled

pytestmark = pytest.mark.asyncio


async def test_a_negative_size_is_marked_not_shown(s3_server, session_client, bucket, tmp_path):
    session_client.put_object(Bucket=bucket, Key="k/neg.bin", Body=b"negative")
    session_client.put_object(Bucket=bucket, Key="k/ok.txt", Body=b"fine")
    Rewriting.upstream = s3_server.endpoint_url.split("://", 1)[1]
    with serving(Rewriting) as url:
        client = make_client(s3_server, tmp_path / "cache", endpoint_url=url)
        app = make_app(client, f"s3://{bucket}/k/")
        try:
            async with app.run_test(size=(120, 30)) as pilot:
                table = app.screen.query_one(ObjectTable)
                await table_settled(pilot, table)
                rows = {row.name: row for row in table.view}
                assert set(rows) == {"neg.bin", "ok.txt"}
                neg = rows["neg.bin"]
                assert neg.info.answer_problem == "the listing gives no valid size (-77)"
                text = table._row_text(neg, table._layout(120)).plain
                assert text.startswith("!") and "-77" not in text and " ? " in text, text
                assert table._row_text(rows["ok.txt"], table._layout(120)).plain.startswith(" ")
        finally:
            client.close()
