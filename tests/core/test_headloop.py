"""The single-thread HEAD loop against a scripted HTTP server: what it answers, what it hands back."""

from __future__ import annotations

import socket
import socketserver
import threading
import time

import pytest

from dgtui.core.headloop import NEEDS_BOTOCORE, HeadLoop, merged, parse_head


class ScriptedHandler(socketserver.BaseRequestHandler):
    """Answers HEADs by the first path segment: ok, missing, denied, close, drop, garbage, slow."""

    def handle(self) -> None:
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                data = self.request.recv(65536)
                if not data:
                    return
                buffer += data
            block, buffer = buffer.split(b"\r\n\r\n", 1)
            path = block.split(b" ", 2)[1].decode()
            self.server.seen.append(path)
            kind = path.split("/")[1]
            if kind == "drop":
                return
            if kind == "garbage":
                self.request.sendall(b"NONSENSE\r\n\r\n")
                continue
            if kind == "slow":
                time.sleep(1.5)
            status = {"missing": "404 Not Found", "denied": "403 Forbidden"}.get(kind, "200 OK")
            lines = [f"HTTP/1.1 {status}", "Content-Length: 1234", f'ETag: "{path[-6:]}"',
                     "x-amz-meta-dg-file-size: 1234", "X-Amz-Meta-Mixed-Case: yes",
                     "x-amz-meta-repeated: a", "x-amz-meta-repeated: b"]
            if kind == "close":
                lines.append("Connection: close")
            self.request.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            if kind == "close":
                return


class ScriptedServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ScriptedHandler)
        self.seen: list[str] = []


@pytest.fixture
def server():
    srv = ScriptedServer()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def answer(status: int, headers: list[tuple[str, str]]):
    if status == 200:
        found = dict(headers)
        return found.get("ETag"), {k[11:]: v for k, v in headers if k.lower().startswith("x-amz-meta-")}
    if status == 404:
        return None
    return NEEDS_BOTOCORE


def run(server, keys: list[str], **options) -> dict[int, tuple[object, int | None]]:
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    loop = HeadLoop(base, lambda key: (f"/{key}", {"X-Test": "yes"}), answer, **options)
    results: dict[int, tuple[object, int | None]] = {}
    for index, result, status in loop.run(keys):
        assert index not in results, "every key is answered once"
        results[index] = (result, status)
    assert sorted(results) == list(range(len(keys)))
    return results


def test_answers_come_back_for_every_key_over_few_connections(server):
    keys = [f"ok/{i:06d}" for i in range(300)] + ["missing/x00001", "denied/x00002"]
    results = run(server, keys, connections=8)
    for i in range(300):
        etag, metadata = results[i][0]
        assert etag == f'"{i:06d}"'
        assert metadata == {"dg-file-size": "1234", "Mixed-Case": "yes", "repeated": "a, b"}
    assert results[300] == (None, 404)
    assert results[301] == (NEEDS_BOTOCORE, 403)
    assert len(server.seen) == len(keys), "one request per key, no retries of its own"


def test_closed_and_broken_connections_hand_back_only_what_they_owed(server):
    keys = ["ok/000001", "close/000002", "ok/000003", "drop/000004", "ok/000005", "garbage/06", "ok/000007"]
    results = run(server, keys, connections=1)
    assert results[0][0][0] == '"000001"' and results[1][0][0] == '"000002"'
    assert results[2][0][0] == '"000003"', "a new connection replaces one the server closed"
    assert results[3] == (NEEDS_BOTOCORE, None)
    assert results[4][0][0] == '"000005"'
    assert results[5] == (NEEDS_BOTOCORE, None)
    assert results[6][0][0] == '"000007"'


def test_a_slow_answer_times_out_and_goes_to_botocore(server):
    started = time.monotonic()
    results = run(server, ["slow/000001", "ok/000002"], connections=2, timeout=0.3)
    assert results[0] == (NEEDS_BOTOCORE, None)
    assert results[1][0][0] == '"000002"'
    assert time.monotonic() - started < 1.4


def test_an_unreachable_endpoint_hands_everything_back_at_once():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    loop = HeadLoop(f"http://127.0.0.1:{port}/", lambda key: (f"/{key}", {}), answer, connections=4)
    started = time.monotonic()
    results = list(loop.run(["a", "b", "c"]))
    assert sorted(results, key=lambda r: r[0]) == [(0, NEEDS_BOTOCORE, None), (1, NEEDS_BOTOCORE, None),
                                                   (2, NEEDS_BOTOCORE, None)]
    assert time.monotonic() - started < 2


def test_refusals_without_a_single_answer_stop_the_loop(server):
    keys = [f"denied/{i:06d}" for i in range(50)]
    results = run(server, keys, connections=1)
    assert all(result is NEEDS_BOTOCORE for result, _ in results.values())
    assert len(server.seen) < 10, "it stops asking a server that refuses every request"


def test_stopping_early_leaves_the_rest_unsent(server):
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    loop = HeadLoop(base, lambda key: (f"/{key}", {}), answer, connections=2)
    got = []
    for index, result, _ in loop.run([f"ok/{i:06d}" for i in range(100)], should_stop=lambda: len(got) >= 10):
        got.append(index)
    assert 10 <= len(got) < 100


def test_header_blocks_parse_as_received():
    status, headers, keep_alive = parse_head(b"HTTP/1.1 200 OK\r\nETag: \"x\"\r\nX-Amz-Meta-A: 1\r\nx-amz-meta-a: 2")
    assert (status, keep_alive) == (200, True)
    assert merged(headers) == [("ETag", '"x"'), ("X-Amz-Meta-A", "1, 2")]
    assert parse_head(b"HTTP/1.0 404 Not Found")[2] is False
    assert parse_head(b"HTTP/1.1 200 OK\r\nConnection: close")[2] is False
    assert parse_head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive")[2] is True
    for broken in (b"garbage", b"HTTP/1.1 abc OK", b"HTTP/1.1 200 OK\r\n folded", b"SPDY/3 200 OK"):
        assert parse_head(broken) is None
