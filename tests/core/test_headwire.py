"""The lean HEAD client's edge cases, against a scripted TCP server on 127.0.0.1: keep-alive reuse,
answers that close, a kept-alive connection the server closed while idle, answers split into many
packets, an answer larger than the bound, timeouts, cancellation and close()."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Iterator

import pytest

from dgtui.core.headwire import MAX_HEADER_BYTES, HeadWire, WireError

from ..scripted_http import ScriptedTcp, read_request

OK = (b"HTTP/1.1 200 OK\r\nETag: \"abc\"\r\nx-amz-meta-dg-ref-sha256: 1234\r\n"
      b"X-Amz-Meta-Rclone-Mtime: 5\r\nContent-Length: 12345\r\n\r\n")
HEADERS = {"Host": "127.0.0.1", "X-Amz-Date": "20261207T000000Z", "Authorization": "AWS4-HMAC-SHA256 x"}
EXPECTED = [(b"ETag", b'"abc"'), (b"x-amz-meta-dg-ref-sha256", b"1234"), (b"X-Amz-Meta-Rclone-Mtime", b"5"),
            (b"Content-Length", b"12345")]


@pytest.fixture
def scripted() -> Iterator[type[ScriptedTcp]]:
    servers: list[ScriptedTcp] = []

    class Tracked(ScriptedTcp):
        def __init__(self, script):
            super().__init__(script)
            servers.append(self)

    yield Tracked
    for server in servers:
        server.close()


def wire(port: int, tls: ssl.SSLContext | None = None, limit: int = 4, connect_timeout: float = 5,
         read_timeout: float = 5) -> HeadWire:
    return HeadWire("127.0.0.1", port, tls, "127.0.0.1", limit, connect_timeout, read_timeout)


def serve_forever(answer: bytes, seen: list[bytes] | None = None):
    def script(conn: socket.socket, index: int) -> None:
        conn.settimeout(10)
        while True:
            request = read_request(conn)
            if not request:
                return
            if seen is not None:
                seen.append(request)
            conn.sendall(answer)
    return script


def wait_closed(conn: socket.socket) -> bool:
    """Whether the peer closed ``conn`` (bounded wait)."""
    conn.settimeout(5)
    try:
        return conn.recv(1) == b""
    except (ConnectionResetError, OSError):
        return True



def two_heads(port: int) -> tuple[list, int]:
    """Two HEADs one after the other on a fresh pool: their answers and the connections opened."""

    async def run():
        pool = wire(port)
        answers = [await pool.head("/b/k", HEADERS) for _ in range(2)]
        pool.close()
        return answers, pool.connections_opened

    return asyncio.run(run())

def test_answers_reuse_one_kept_alive_connection_and_send_exactly_the_given_headers(scripted):
    seen: list[bytes] = []
    server = scripted(serve_forever(OK, seen))

    async def run():
        pool = wire(server.port)
        answers = [await pool.head(f"/bucket/key{i}%20x", HEADERS) for i in range(3)]
        pool.close()
        return answers, pool.connections_opened

    answers, opened = asyncio.run(run())
    # No body is awaited although the answer says Content-Length: 12345 (an answer to a HEAD has none).
    assert answers == [(200, EXPECTED)] * 3
    assert opened == 1 and len(server.connections) == 1
    assert seen[1] == (b"HEAD /bucket/key1%20x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Date: 20261207T000000Z\r\n"
                       b"Authorization: AWS4-HMAC-SHA256 x\r\n\r\n")


def test_a_chunked_answer_to_a_head_has_no_body_either(scripted):
    server = scripted(serve_forever(b"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"))

    answers, opened = two_heads(server.port)
    assert answers == [(404, [(b"Transfer-Encoding", b"chunked")])] * 2 and opened == 1


def test_an_answer_with_connection_close_is_not_reused(scripted):
    def script(conn, index):
        conn.settimeout(10)
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nETag: \"e\"\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        conn.close()

    server = scripted(script)

    async def run():
        pool = wire(server.port)
        answers = [await pool.head("/b/k", HEADERS) for _ in range(3)]
        pool.close()
        return answers, pool.connections_opened

    answers, opened = asyncio.run(run())
    assert [status for status, _ in answers] == [200, 200, 200]
    assert opened == 3 and len(server.connections) == 3


def test_a_request_on_a_connection_the_server_closed_while_idle_is_sent_again_on_a_fresh_one(scripted):
    seen: list[tuple[int, bytes]] = []

    def script(conn, index):
        conn.settimeout(10)
        if index == 0:  # answers one request, then closes as the next one arrives: no answer byte sent
            read_request(conn)
            conn.sendall(OK)
            seen.append((0, read_request(conn)))
            conn.close()
        else:
            serve_forever(OK)(conn, index)

    server = scripted(script)

    async def run():
        pool = wire(server.port)
        first = await pool.head("/b/k1", HEADERS)
        second = await pool.head("/b/k2", HEADERS)
        pool.close()
        return first, second, pool.connections_opened

    first, second, opened = asyncio.run(run())
    assert first == second == (200, EXPECTED)
    assert opened == 2 and seen and seen[0][1].startswith(b"HEAD /b/k2 ")


def test_a_connection_closed_after_part_of_an_answer_is_a_failure_not_sent_again(scripted):
    def script(conn, index):
        conn.settimeout(10)
        read_request(conn)
        conn.sendall(OK)
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nETa")
        conn.close()

    server = scripted(script)

    async def run():
        pool = wire(server.port)
        await pool.head("/b/k1", HEADERS)
        with pytest.raises(WireError) as failed:
            await pool.head("/b/k2", HEADERS)
        pool.close()
        return failed.value, pool.connections_opened

    error, opened = asyncio.run(run())
    assert not error.before_answer and not error.surprise
    assert opened == 1 and len(server.connections) == 1


def test_a_fresh_connection_closed_before_an_answer_is_a_failure_not_sent_again(scripted):
    def script(conn, index):
        conn.settimeout(10)
        read_request(conn)
        conn.close()

    server = scripted(script)

    async def run():
        pool = wire(server.port)
        with pytest.raises(WireError) as failed:
            await pool.head("/b/k", HEADERS)
        return failed.value, pool.connections_opened

    error, opened = asyncio.run(run())
    assert error.before_answer and opened == 1 and len(server.connections) == 1


def test_an_answer_split_into_one_byte_packets_is_read_whole(scripted):
    def script(conn, index):
        conn.settimeout(10)
        for _ in range(2):
            read_request(conn)
            for i in range(len(OK)):
                conn.sendall(OK[i:i + 1])
                time.sleep(0.0005)

    server = scripted(script)

    answers, opened = two_heads(server.port)
    assert answers == [(200, EXPECTED)] * 2 and opened == 1


def test_headers_larger_than_the_bound_are_refused_and_the_connection_closed(scripted):
    def script(conn, index):
        conn.settimeout(10)
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        line = b"X-Filler: " + b"a" * 1000 + b"\r\n"
        try:
            for _ in range(MAX_HEADER_BYTES // len(line) * 4):  # never ends within the bound
                conn.sendall(line)
        except OSError:
            pass

    server = scripted(script)

    async def run():
        pool = wire(server.port)
        with pytest.raises(WireError) as failed:
            await pool.head("/b/k", HEADERS)
        return failed.value, pool

    error, pool = asyncio.run(run())
    assert error.surprise and "larger than" in str(error)
    assert not pool._idle and not pool._open
    assert wait_closed(server.connections[0])


def test_an_unparsable_answer_is_a_surprise(scripted):
    server = scripted(serve_forever(b"SSH-2.0-OpenSSH_9.6\r\n\r\n"))

    async def run():
        pool = wire(server.port)
        with pytest.raises(WireError) as failed:
            await pool.head("/b/k", HEADERS)
        return failed.value

    assert asyncio.run(run()).surprise


def test_an_answer_that_never_comes_times_out_after_the_read_timeout(scripted):
    def script(conn, index):
        conn.settimeout(10)
        read_request(conn)
        conn.recv(1)  # until the client closes

    server = scripted(script)

    async def run():
        pool = wire(server.port, read_timeout=0.2)
        with pytest.raises(asyncio.TimeoutError):
            await pool.head("/b/k", HEADERS)
        return pool

    pool = asyncio.run(run())
    assert not pool._open and wait_closed(server.connections[0])


def test_a_tls_handshake_that_never_ends_times_out_after_the_connect_timeout(scripted):
    def script(conn, index):
        conn.settimeout(10)
        conn.recv(1)  # accepted, but no TLS handshake ever answered

    server = scripted(script)

    async def run():
        pool = wire(server.port, tls=ssl.create_default_context(), connect_timeout=0.2, read_timeout=30)
        with pytest.raises(asyncio.TimeoutError):
            await pool.head("/b/k", HEADERS)
        return pool

    pool = asyncio.run(run())
    assert not pool._open and pool.connections_opened == 0


def test_a_cancelled_head_closes_its_connection_and_never_returns_it_to_the_pool(scripted):
    sent_part = threading.Event()

    def script(conn, index):
        conn.settimeout(10)
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nETag: \"e\"\r\n")  # part of an answer, then nothing
        sent_part.set()
        conn.recv(1)

    server = scripted(script)

    async def run():
        pool = wire(server.port)
        task = asyncio.ensure_future(pool.head("/b/k", HEADERS))
        while not sent_part.is_set():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return pool

    pool = asyncio.run(run())
    assert not pool._idle and not pool._open
    assert wait_closed(server.connections[0])


def test_close_closes_every_connection_and_later_heads_fail(scripted):
    server = scripted(serve_forever(OK))

    async def run():
        pool = wire(server.port)
        await asyncio.gather(*(pool.head(f"/b/k{i}", HEADERS) for i in range(3)))
        opened = pool.connections_opened
        pool.close()
        with pytest.raises(WireError):
            await pool.head("/b/k", HEADERS)
        return opened

    opened = asyncio.run(run())
    assert opened == 3 == len(server.connections)
    assert all(wait_closed(conn) for conn in server.connections)


def test_no_more_connections_than_the_limit(scripted):
    server = scripted(serve_forever(OK))

    async def run():
        pool = wire(server.port, limit=2)
        answers = await asyncio.gather(*(pool.head(f"/b/k{i}", HEADERS) for i in range(20)))
        pool.close()
        return answers, pool.connections_opened

    answers, opened = asyncio.run(run())
    assert answers == [(200, EXPECTED)] * 20 and opened == 2 == len(server.connections)


def test_an_answer_with_body_bytes_a_head_must_not_have_is_not_reused(scripted):
    server = scripted(serve_forever(b"HTTP/1.1 200 OK\r\nETag: \"e\"\r\nContent-Length: 5\r\n\r\nhello"))

    answers, opened = two_heads(server.port)
    assert [status for status, _ in answers] == [200, 200] and opened == 2
