"""Every failure reads as one clear line, on a screen that still works."""

from __future__ import annotations

import socket

import pytest

from dgtui.app.screens.connection_error import ConnectionErrorScreen
from dgtui.app.screens.details import DetailsScreen
from dgtui.app.widgets.bucket_tree import BucketTree
from dgtui.app.widgets.object_table import ObjectTable
from dgtui.testing.proxy import TcpProxy

from .helpers import make_app, make_client, screen_of, wait_for

pytestmark = pytest.mark.asyncio


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def screen_text(screen) -> str:
    return "\n".join(str(widget.render()) for widget in screen.query("Static, Label"))


def notifications(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_bad_credentials_show_what_to_check(s3_server, tmp_path):
    app = make_app(lambda: make_client(s3_server, tmp_path / "cache", aws_secret_access_key="wrong-secret"))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await screen_of(pilot, ConnectionErrorScreen, timeout=30)
        text = screen_text(screen)
        assert "did not accept the credentials" in text
        assert "secret key does not match" in text
        assert "AWS_PROFILE" in text and "AWS_ACCESS_KEY_ID" in text and "endpoint" in text.lower()
        assert "wrong-secret" not in text, "secrets are never shown"
        assert "Traceback" not in text
        # Retry tries again and, still refused, comes back to the same screen.
        await pilot.press("r")
        await screen_of(pilot, ConnectionErrorScreen, timeout=30)


async def test_unreachable_endpoint_then_retry_connects(s3_server, bucket, tmp_path):
    proxy = TcpProxy.for_endpoint(s3_server.endpoint_url).start()
    proxy.refuse()
    try:
        app = make_app(lambda: make_client(s3_server, tmp_path / "cache", endpoint_url=proxy.endpoint_url))
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await screen_of(pilot, ConnectionErrorScreen, timeout=60)
            text = screen_text(screen)
            assert "Cannot connect to the S3 endpoint" in text
            assert proxy.endpoint_url in text
            proxy.reset()
            await pilot.press("r")
            tree = await wait_for(pilot, lambda: not isinstance(app.screen, ConnectionErrorScreen)
                                  and app.screen.query_one(BucketTree), what="the browser")
            await wait_for(pilot, lambda: tree.node_for_bucket(bucket),
                           timeout=30, what="buckets after retry")
    finally:
        proxy.stop()


async def test_closed_port(s3_server, tmp_path):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    app = make_app(lambda: make_client(s3_server, tmp_path / "cache", endpoint_url=endpoint))
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await screen_of(pilot, ConnectionErrorScreen, timeout=60)
        text = screen_text(screen)
        assert "cannot reach" in text and endpoint in text
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 1, "quitting without ever connecting is a failure for scripts"


async def test_missing_bucket_from_the_command_line(client, bucket):
    app = make_app(client, "s3://t-no-such-bucket-here/some/prefix/")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: table.message, what="the inline message")
        assert "bucket not found: s3://t-no-such-bucket-here" in table.message
        rendered = "".join(s.text for s in table.render_line(2))
        assert "bucket not found" in rendered
        assert any("bucket not found" in m for m in notifications(app))
        # The other buckets still browse.
        tree = app.screen.query_one(BucketTree)
        await wait_for(pilot, lambda: tree.node_for_bucket(bucket), what="the real buckets")


async def test_error_on_one_bucket_is_shown_on_its_node(client, bucket):
    app = make_app(client, "s3://t-no-such-bucket-here/")
    async with app.run_test(size=(120, 40)) as pilot:
        tree = app.screen.query_one(BucketTree)
        node = await wait_for(pilot, lambda: tree.node_for_bucket("t-no-such-bucket-here"))
        await wait_for(pilot, lambda: node.data.error, what="the error on the node")
        assert node.label.plain.endswith("⚠ bucket not found")
        other = tree.node_for_bucket(bucket)
        other.expand()
        await wait_for(pilot, lambda: other.data.loaded, what="another bucket still expands")


async def test_unexpected_error_in_a_worker_is_one_line(client, bucket):
    client.put_object(Bucket=bucket, Key="f/a.txt", Body=b"a")

    def broken(url):
        raise ValueError("something odd\nsecond line")

    client.get_object_info = broken
    app = make_app(client, f"s3://{bucket}/f/")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: table.view and not table.listing)
        await pilot.press("enter")
        screen = await screen_of(pilot, DetailsScreen)
        await wait_for(pilot, lambda: notifications(app))
        message = notifications(app)[-1]
        assert "unexpected error (ValueError): something odd" in message
        assert "second line" not in message and "Traceback" not in message
        text = str(screen.query_one("#details-content").render())
        assert "Could not read the object's metadata" in text
        await pilot.press("escape")
        assert app.is_running


async def test_factory_failure_is_shown_not_raised(tmp_path):
    def factory():
        raise RuntimeError("no client today")

    app = make_app(factory)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await screen_of(pilot, ConnectionErrorScreen)
        assert "unexpected error (RuntimeError): no client today" in screen_text(screen)


async def test_retry_with_a_folder_open_lists_it_again_on_a_new_client(s3_server, bucket, tmp_path):
    """The server goes away while a folder is open, comes back, Retry: the folder lists again, and the
    client of the failed connection is closed (its HEAD pool and event loop thread do not live on)."""
    setup = make_client(s3_server, tmp_path / "setup-cache")
    for name in ("a.txt", "b.txt"):
        setup.put_object(Bucket=bucket, Key=f"f/{name}", Body=name.encode())
    setup.close()
    proxy = TcpProxy.for_endpoint(s3_server.endpoint_url).start()
    clients: list = []
    closed: list = []

    def factory():
        client = make_client(s3_server, tmp_path / "cache", endpoint_url=proxy.endpoint_url)
        close = client.close

        def recorded_close() -> None:
            closed.append(client)
            close()

        client.close = recorded_close  # type: ignore[method-assign]
        clients.append(client)
        return client

    try:
        app = make_app(factory, f"s3://{bucket}/f/")
        async with app.run_test(size=(120, 40)) as pilot:
            table = app.screen.query_one(ObjectTable)
            await wait_for(pilot, lambda: table.view and not table.listing, timeout=30, what="the first listing")
            proxy.refuse()  # the server goes away: new connections closed, kept-alive ones cut
            proxy.drop_all()
            await pilot.press("r")
            await screen_of(pilot, ConnectionErrorScreen, timeout=60)
            proxy.reset()
            await pilot.press("r")
            await wait_for(pilot, lambda: len(clients) == 2 and not isinstance(app.screen, ConnectionErrorScreen)
                           and not table.listing and table.location is not None and table.summary.complete,
                           timeout=60, what="the folder listed again after Retry")
            assert [row.name for row in table.view] == ["a.txt", "b.txt"]
            assert table.message is None
            assert not [m for m in notifications(app) if "unexpected error" in m]
            await wait_for(pilot, lambda: closed, what="the old client closed")
            assert closed == [clients[0]], "the failed connection's client is closed, the new one is not"
    finally:
        proxy.stop()
        for client in clients[1:]:
            client.close()


async def test_a_failure_says_which_job_failed_whatever_its_words(client, bucket):
    """Routing goes by the error's fields, not by words in its text: an unexpected error whose
    message happens to contain "failed" still says which job it stopped."""
    client.put_object(Bucket=bucket, Key="f/a.txt", Body=b"a")

    def broken(url):
        raise ValueError("checksum failed")

    client.get_object_info = broken
    app = make_app(client, f"s3://{bucket}/f/")
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: table.view and not table.listing)
        await pilot.press("enter")
        await screen_of(pilot, DetailsScreen)
        await wait_for(pilot, lambda: notifications(app))
        assert notifications(app)[-1] == ("reading the object's metadata failed: "
                                          "unexpected error (ValueError): checksum failed")
