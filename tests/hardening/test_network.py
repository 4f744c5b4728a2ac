"""An endpoint that cannot be reached, and connections that drop mid-listing."""

from __future__ import annotations

import socket
import time
from collections import Counter

import pytest

from dgtui import ConnectionFailedError
from dgtui.core.s3 import CONNECT_ATTEMPTS
from dgtui.testing import TcpProxy

from ..scripted_http import QuietHandler, serving
from .conftest import assert_one_line_error, cli_env, leftovers, make_client, run_cli


@pytest.fixture
def refused_endpoint() -> str:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def silent_endpoint():
    """A port whose SYNs go unanswered (full accept queue): connects time out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(s)
    time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    for s in fillers:
        s.close()
    listener.close()


def count_sends(client) -> list[str]:
    """Every HTTP request attempt the client's botocore makes (retries included)."""
    sent: list[str] = []
    client.boto3_client.meta.events.register("before-send.s3", lambda request, **_: sent.append(request.url))
    return sent


# "Fast" is counted, not timed: an unreachable endpoint is tried CONNECT_ATTEMPTS times (not botocore's
# five attempts with backoff), each connect bounded by the client's connect timeout.

def test_refused_endpoint_fails_fast_sdk(refused_endpoint, s3_env, tmp_path):
    c = make_client(refused_endpoint, "k", "s", tmp_path / "c")
    sent = count_sends(c)
    for call in (c.list_buckets, lambda: c.list_objects(Bucket="some-bucket"),
                 lambda: c.download("s3://some-bucket/a.txt", tmp_path / "a.txt")):
        sent.clear()
        with pytest.raises(ConnectionFailedError) as info:
            call()
        # each request (a download asks for the key and its .delta twin at once) tried CONNECT_ATTEMPTS times
        assert set(Counter(sent).values()) == {CONNECT_ATTEMPTS}, sent
        assert "cannot reach" in str(info.value) and refused_endpoint in str(info.value)
    assert not (tmp_path / "a.txt").exists()


def test_refused_endpoint_fails_fast_cli(refused_endpoint, tmp_path):
    env = cli_env({"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_DEFAULT_REGION": "us-east-1",
                   "DGTUI_CACHE_DIR": str(tmp_path / "c"), "AWS_EC2_METADATA_DISABLED": "true",
                   "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")})
    proc = run_cli("ls", "--endpoint-url", refused_endpoint, "s3://some-bucket", env=env)
    assert_one_line_error(proc, "cannot reach", refused_endpoint, "check the endpoint URL")
    # The request log of --debug shows how many times it tried.
    debug = run_cli("ls", "--debug", "--endpoint-url", refused_endpoint, "s3://some-bucket", env=env)
    assert debug.returncode != 0
    assert debug.stderr.count(b"Sending http request") == CONNECT_ATTEMPTS


def test_endpoint_that_drops_packets_fails_in_seconds(silent_endpoint, s3_env, tmp_path):
    c = make_client(silent_endpoint, "k", "s", tmp_path / "c")
    sent = count_sends(c)
    with pytest.raises(ConnectionFailedError) as info:
        c.list_objects(Bucket="some-bucket")
    assert "cannot reach" in str(info.value)
    # At most CONNECT_ATTEMPTS connects, each given up after the connect timeout: seconds, not minutes.
    assert len(sent) == CONNECT_ATTEMPTS, sent
    assert c.boto3_client.meta.config.connect_timeout <= 5


@pytest.fixture
def proxy(s3_server):
    with TcpProxy.for_endpoint(s3_server.endpoint_url) as running:
        yield running


@pytest.fixture
def keys(boto3_s3, bucket) -> list[str]:
    made = [f"logs/{i:03d}.txt" for i in range(23)]
    for k in made:
        boto3_s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    boto3_s3.put_object(Bucket=bucket, Key="logs/reference.bin", Body=b"hidden")
    return made


def test_listing_retries_a_dropped_page_by_itself(proxy, s3_server, s3_env, bucket, keys, tmp_path):
    c = make_client(proxy.endpoint_url, s3_server.access_key, s3_server.secret_key, tmp_path / "c")
    pages = c.iter_pages(bucket, "logs/", delimiter=None, page_size=5)
    seen = [o.key for o in next(pages).contents]
    connections = proxy.connections_accepted
    proxy.cut_after_bytes(300, once=True)  # the next page's response is cut in the middle
    for page in pages:
        seen += [o.key for o in page.contents]
    assert seen == keys
    assert proxy.connections_accepted > connections  # the cut page was asked again


def test_listing_resumes_from_its_page_after_the_connection_is_lost(proxy, s3_server, s3_env, bucket, keys,
                                                                    tmp_path):
    c = make_client(proxy.endpoint_url, s3_server.access_key, s3_server.secret_key, tmp_path / "c")
    seen, last, stopped = [], None, False
    with pytest.raises(ConnectionFailedError) as info:
        for page in c.iter_pages(bucket, "logs/", delimiter=None, page_size=5):
            seen += [o.key for o in page.contents]
            last = page
            if len(seen) >= 9 and not stopped:
                stopped = True
                # the network goes away after about two pages (a page ending on a plain name gives that
                # name to the next page, which could hold its .delta; the page after may be on its way)
                proxy.stop()
    assert "logs/" in str(info.value) or "cannot reach" in str(info.value)
    assert 9 <= len(seen) < len(keys) and seen == keys[:len(seen)] and last.next_continuation_token
    # Later, with the network back: carry on from the last page's token.
    again = make_client(s3_server.endpoint_url, s3_server.access_key, s3_server.secret_key, tmp_path / "c2")
    rest = [o.key for page in again.iter_pages(bucket, "logs/", delimiter=None, page_size=5,
                                                continuation_token=last.next_continuation_token)
            for o in page.contents]
    assert rest == keys[len(seen):]
    # The same through list_objects, boto3 style.
    resumed = again.list_objects(Bucket=bucket, Prefix="logs/", MaxKeys=100,
                                 ContinuationToken=last.next_continuation_token)
    assert [o.key for o in resumed.contents] == keys[len(seen):]


@pytest.fixture
def web_page_endpoint():
    """A web server (a captive portal, a wrong port) answering every request with a page."""

    class Portal(QuietHandler):
        protocol_version = "HTTP/1.0"

        def do_GET(self):
            body = b"<html><body>Welcome! Accept the terms to continue.</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_HEAD = do_GET

    with serving(Portal) as url:
        yield url


def test_endpoint_that_is_not_s3(web_page_endpoint, s3_env, capsys, tmp_path):
    from dgtui.cli import main
    from dgtui.core.errors import NotS3Error

    c = make_client(web_page_endpoint, "k", "s", tmp_path / "c")
    out = tmp_path / "out"
    out.mkdir()
    for call in (lambda: c.list_objects(Bucket="b"), lambda: c.get_bucket_stats("b"),
                 lambda: c.download("s3://b/backup.tar.gz", out), lambda: c.download("s3://b/notes.txt", out)):
        with pytest.raises(NotS3Error) as info:
            call()
        assert "check the endpoint URL" in str(info.value)
    for argv in (["ls", "s3://b/"], ["get", "s3://b/notes.txt", str(out)], ["get", "-r", "s3://b/p/", str(out)]):
        code = main([*argv, "--endpoint-url", web_page_endpoint])
        err = capsys.readouterr().err
        assert code == 1 and "check the endpoint URL" in err and err.count("\n") == 1, err
    assert leftovers(out) == []
