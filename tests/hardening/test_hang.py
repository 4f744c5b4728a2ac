"""A server cannot hang dgtui or make it loop: listings that never advance stop with one line,
stalled transfers time out naming the object, and Ctrl-C, SIGTERM, SIGHUP and `q` end it
at once whatever is hanging, leaving no partial file (and the next run removes what a
SIGKILL left)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import pytest

from tests.scripted_http import QuietHandler, serving

from .conftest import cli_env, leftovers, make_client, run_cli

#: most requests a looping listing may cost before it is stopped (one page, the one that repeats,
#: and the requests of a ranged listing's first round)
MOST_LIST_REQUESTS = 40


class LoopingServer:
    """Answers every listing with the same truncated page and the same NextContinuationToken."""

    def __init__(self) -> None:
        self.list_requests = 0
        self.lock = threading.Lock()

    def handler(self) -> type[QuietHandler]:
        server = self

        class Handler(QuietHandler):
            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                if url.path == "/":
                    self._answer(200, b'<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult '
                                      b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID></Owner>'
                                      b'<Buckets><Bucket><Name>loop</Name><CreationDate>2025-01-01T00:00:00.000Z'
                                      b'</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>')
                    return
                if query.get("list-type") == ["2"]:
                    with server.lock:
                        server.list_requests += 1
                        if server.list_requests > 2000:  # a bound for the test itself
                            self._answer(500, b"")
                            return
                    prefix = escape(query.get("prefix", [""])[0])
                    items = "".join(f"<Contents><Key>{prefix}file-{n}.bin</Key><Size>10</Size>"
                                    f"<LastModified>2025-01-01T00:00:00.000Z</LastModified><ETag>\"e{n}\"</ETag>"
                                    f"<StorageClass>STANDARD</StorageClass></Contents>" for n in (1, 2))
                    body = (f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
                            f'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>loop</Name>'
                            f"<Prefix>{prefix}</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>"
                            f"<IsTruncated>true</IsTruncated><NextContinuationToken>SAME</NextContinuationToken>"
                            f"{items}</ListBucketResult>")
                    self._answer(200, body.encode())
                    return
                self._answer(404, b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code>'
                                  b'<Message>no</Message></Error>')

            do_HEAD = do_GET

        return Handler


@pytest.fixture
def looping() -> Iterator[tuple[LoopingServer, str]]:
    server = LoopingServer()
    with serving(server.handler()) as url:
        yield server, url


def loop_env(tmp_path) -> dict[str, str]:
    return cli_env(AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s", AWS_DEFAULT_REGION="us-east-1",
                   AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=str(tmp_path / "none"),
                   AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), DGTUI_CACHE_DIR=str(tmp_path / "cache"))


@pytest.mark.parametrize("argv", [["ls", "s3://loop/p/"], ["ls", "-r", "s3://loop/"], ["get", "-r", "s3://loop/p/"]])
def test_a_repeated_continuation_token_ends_the_cli_listing(looping, argv, tmp_path):
    server, url = looping
    out = tmp_path / "out"
    out.mkdir()
    if argv[0] == "get":
        argv = [*argv, str(out)]
    proc = run_cli(*argv, "--endpoint-url", url, env=loop_env(tmp_path), timeout=120)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and "same continuation token twice" in err and "s3://loop" in err, err
    assert 2 <= server.list_requests <= MOST_LIST_REQUESTS
    # Each name once at most, never the endless repeats.
    printed = proc.stdout.decode().splitlines()
    assert len(printed) == len(set(printed)) <= 2
    assert leftovers(out) == []


def test_a_repeated_continuation_token_ends_sdk_listings(looping, tmp_path, monkeypatch):
    from dgtui.core.errors import ListingLoopError

    server, url = looping
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    c = make_client(url, "k", "s", tmp_path / "c")
    try:
        for ranged in (False, True):
            for delimiter in ("/", None):
                with pytest.raises(ListingLoopError):
                    for _ in c.iter_pages("loop", "p/", delimiter=delimiter, ranged=ranged):
                        pass
    finally:
        c.close()
    assert server.list_requests <= 4 * MOST_LIST_REQUESTS


def test_a_page_that_comes_again_with_a_new_token_ends_the_listing(tmp_path, monkeypatch):
    """The same names again and again, each time under a new token."""
    from dgtui.core.errors import ListingLoopError

    count = {"n": 0}

    class NewTokenEachTime(QuietHandler):
        def do_GET(self) -> None:
            count["n"] += 1
            if count["n"] > 2000:
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = (f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
                    f'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>loop</Name><KeyCount>1</KeyCount>'
                    f"<IsTruncated>true</IsTruncated><NextContinuationToken>t{count['n']}</NextContinuationToken>"
                    f"<Contents><Key>same.bin</Key><Size>1</Size><LastModified>2025-01-01T00:00:00.000Z"
                    f"</LastModified><ETag>\"e\"</ETag></Contents></ListBucketResult>").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with serving(NewTokenEachTime) as url:
        c = make_client(url, "k", "s", tmp_path / "c")
        try:
            for ranged in (False, True):
                with pytest.raises(ListingLoopError) as info:
                    for _ in c.iter_pages("loop", "", delimiter=None, ranged=ranged):
                        pass
                assert "same page again" in str(info.value)
        finally:
            c.close()
    assert count["n"] <= 4 * MOST_LIST_REQUESTS


@pytest.mark.asyncio
async def test_a_repeated_continuation_token_ends_the_app_listing(looping, tmp_path, monkeypatch):
    from dgtui.app.widgets.object_table import ObjectTable
    from tests.app.helpers import make_app, wait_for

    server, url = looping
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("DGTUI_CACHE_DIR", str(tmp_path / "cache"))
    app = make_app(lambda: make_client(url, "k", "s", tmp_path / "cache"), start_url="s3://loop/p/")
    async with app.run_test(size=(120, 40)) as pilot:
        def said() -> list[str]:
            return [n.message for n in app._notifications if "same continuation token twice" in n.message]

        await wait_for(pilot, said, timeout=60, what="the notification")
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: not table.listing, what="the listing to end")
        # The table's listing and the tree's (of the bucket) each say it once.
        assert len(said()) == len(set(said())) and any("s3://loop/p/;" in m for m in said())
        await pilot.pause()
        bar = app.screen.query_one("#location-bar")
        assert "loading" not in "".join(str(cell) for column in bar.render().columns for cell in column._cells)
        keys = [row.key for row in table.objects]
        assert len(keys) == len(set(keys)) <= 2
        requests = server.list_requests
        await pilot.pause(0.5)
        assert server.list_requests == requests <= MOST_LIST_REQUESTS, "no request after the listing stopped"
