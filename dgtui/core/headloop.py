"""Many metadata HEADs from one thread, over plain HTTP keep-alive connections.

Even with its signature cached, a HEAD sent through urllib3 from a pool of
threads costs about 0.6 ms of client CPU, most of it urllib3's and
http.client's per-request objects and the threads handing the GIL to each
other. Statistics over thousands of deltas on a server nearby are bound by
that CPU, not by the network. This loop keeps up to ``connections``
non-blocking sockets to the endpoint, writes each signed HEAD as one short
HTTP/1.1 request, reads back only the status line and headers (a HEAD
answer has no body), and needs no threads at all.

It speaks only what it needs and hands everything else back: any answer but
a 200 with an ETag or a 404, a malformed or cut answer, a refused or broken
connection, a timeout: the key is returned as needing botocore, which
retries, follows redirects and explains errors. It serves ``http://``
endpoints; TLS endpoints stay on botocore's HTTP session.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Iterator
from urllib.parse import urlsplit

#: a key the loop could not answer; botocore must HEAD it
NEEDS_BOTOCORE = object()
#: the most header bytes an answer may have before it counts as malformed
MAX_HEADER_BYTES = 64 * 1024
#: refusals (400/403/301/307) with no answer at all before the loop stops trying
REFUSALS_BEFORE_GIVING_UP = 3

RequestFor = Callable[[str], "tuple[str, dict[str, str]]"]
AnswerFrom = Callable[[int, "list[tuple[str, str]]"], object]


@dataclass
class _Conn:
    sock: socket.socket
    queue: deque = field(default_factory=deque)  # (index, key) sent and not answered, oldest first
    buffer: bytearray = field(default_factory=bytearray)
    deadline: float = 0.0


def supports(base_url: str) -> bool:
    """Whether the loop can talk to this endpoint (plain HTTP)."""
    return urlsplit(base_url).scheme == "http"


def parse_head(block: bytes) -> tuple[int, list[tuple[str, str]], bool] | None:
    """(status, headers as received, keep-alive) of an answer's header block, None if malformed."""
    try:
        text = block.decode("latin-1")
    except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes any byte
        return None
    lines = text.split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/1.") or not status_line[1].isdigit():
        return None
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            return None  # folded or broken header lines: not worth guessing at
        headers.append((name, value.strip(" \t")))
    keep_alive = status_line[0] == "HTTP/1.1"
    for name, value in headers:
        if name.lower() == "connection":
            tokens = {t.strip().lower() for t in value.split(",")}
            keep_alive = "close" not in tokens and (keep_alive or "keep-alive" in tokens)
    return int(status_line[1]), headers, keep_alive


def merged(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Repeated headers joined with ", " under the first spelling of their name (as urllib3 does)."""
    out: dict[str, tuple[str, str]] = {}
    for name, value in headers:
        low = name.lower()
        if low in out:
            first, joined = out[low]
            out[low] = (first, f"{joined}, {value}")
        else:
            out[low] = (name, value)
    return list(out.values())


class HeadLoop:
    """Sends HEADs for ``keys`` on up to ``connections`` sockets and yields (index, answer, status) as they come.

    ``request_for(key)`` gives the path and headers to send; ``answer_from(status,
    headers)`` turns an answer into a result, or ``NEEDS_BOTOCORE``. Every index
    is yielded exactly once.
    """

    def __init__(self, base_url: str, request_for: RequestFor, answer_from: AnswerFrom, *,
                 connections: int = 64, timeout: float = 60.0, connect_timeout: float = 3.0,
                 in_flight_per_connection: int = 1):
        parts = urlsplit(base_url)
        self.address = (parts.hostname or "localhost", parts.port or 80)
        self.host_header = parts.netloc.rsplit("@", 1)[-1]
        self.request_for = request_for
        self.answer_from = answer_from
        self.connections = max(1, connections)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.depth = max(1, in_flight_per_connection)
        #: answers read off the wire (200/404 or otherwise) and keys handed back
        self.answered = 0
        self.handed_back = 0

    def run(self, keys: list[str],
            should_stop: Callable[[], bool] | None = None) -> Iterator[tuple[int, object, int | None]]:
        waiting: deque = deque(enumerate(keys))
        selector = selectors.DefaultSelector()
        conns: list[_Conn] = []
        refusals = 0
        answers = 0
        # Connections open in parallel: one after the other they would cost a round trip each.
        wanted = min(self.connections, len(keys))
        with ThreadPoolExecutor(max_workers=max(1, min(wanted, 32)), thread_name_prefix="dgtui-connect") as pool:
            for sock in pool.map(lambda _: self._open(), range(wanted)):
                if sock is not None:
                    conns.append(self._register(selector, sock))
        can_grow = len(conns) == wanted
        try:
            while waiting or any(c.queue for c in conns):
                if should_stop and should_stop():
                    return
                # Replace connections the server closed, unless opening one has failed before.
                while can_grow and waiting and len(conns) < min(self.connections, len(waiting)):
                    sock = self._open()
                    if sock is None:
                        can_grow = False
                        break
                    conns.append(self._register(selector, sock))
                if not conns:
                    # Nothing can be reached this way: botocore takes the rest (and reports why).
                    while waiting:
                        self.handed_back += 1
                        yield waiting.popleft()[0], NEEDS_BOTOCORE, None
                    return
                for conn in conns:
                    while waiting and len(conn.queue) < self.depth:
                        index, key = waiting.popleft()
                        if not self._send(conn, index, key):
                            waiting.appendleft((index, key))
                            break
                now = time.monotonic()
                timeout = min((c.deadline for c in conns if c.queue), default=now + 1.0) - now
                events = selector.select(max(0.0, min(timeout, 1.0)))
                for selector_key, _ in events:
                    conn = selector_key.data
                    for index, result, status in self._read(conn, selector, conns):
                        if result is NEEDS_BOTOCORE:
                            self.handed_back += 1
                            if status in (301, 307, 400, 403):
                                refusals += 1
                        else:
                            answers += 1
                        yield index, result, status
                now = time.monotonic()
                for conn in list(conns):
                    if conn.queue and now > conn.deadline:
                        for index, _key in self._drop(conn, selector, conns):
                            self.handed_back += 1
                            yield index, NEEDS_BOTOCORE, None
                if refusals >= REFUSALS_BEFORE_GIVING_UP and answers == 0:
                    # The server does not take these requests: leave everything to botocore.
                    for conn in list(conns):
                        for index, _key in self._drop(conn, selector, conns):
                            self.handed_back += 1
                            yield index, NEEDS_BOTOCORE, None
                    while waiting:
                        self.handed_back += 1
                        yield waiting.popleft()[0], NEEDS_BOTOCORE, None
                    return
        finally:
            for conn in conns:
                _close(conn.sock)
            selector.close()

    # -- connections ---------------------------------------------------------------
    def _open(self) -> socket.socket | None:
        try:
            sock = socket.create_connection(self.address, timeout=self.connect_timeout)
        except OSError:
            return None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        return sock

    @staticmethod
    def _register(selector: selectors.BaseSelector, sock: socket.socket) -> _Conn:
        conn = _Conn(sock)
        selector.register(sock, selectors.EVENT_READ, conn)
        return conn

    def _drop(self, conn: _Conn, selector: selectors.BaseSelector, conns: list[_Conn]) -> list[tuple[int, str]]:
        """Close a connection; what it still owed goes back as unanswered."""
        owed = list(conn.queue)
        conn.queue.clear()
        try:
            selector.unregister(conn.sock)
        except (KeyError, ValueError):
            pass
        _close(conn.sock)
        if conn in conns:
            conns.remove(conn)
        return owed

    def _send(self, conn: _Conn, index: int, key: str) -> bool:
        path, headers = self.request_for(key)
        lines = [f"HEAD {path} HTTP/1.1", f"Host: {self.host_header}"]
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            sent = conn.sock.send(data)
            if sent < len(data):
                # A request is a few hundred bytes; a socket buffer that cannot take it is unusual.
                conn.sock.setblocking(True)
                conn.sock.settimeout(self.timeout)
                conn.sock.sendall(data[sent:])
                conn.sock.setblocking(False)
        except (OSError, UnicodeEncodeError):
            return False
        conn.queue.append((index, key))
        conn.deadline = time.monotonic() + self.timeout
        return True

    def _read(self, conn: _Conn, selector: selectors.BaseSelector,
              conns: list[_Conn]) -> list[tuple[int, object, int | None]]:
        """Answers now complete on ``conn``: (index, result, status)."""
        out: list[tuple[int, object, int | None]] = []
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return out
        except OSError:
            data = b""
        if not data:  # closed by the server: what it owed goes to botocore
            return [(index, NEEDS_BOTOCORE, None) for index, _ in self._drop(conn, selector, conns)]
        conn.buffer += data
        while conn.queue:
            end = conn.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(conn.buffer) > MAX_HEADER_BYTES:
                    return out + [(i, NEEDS_BOTOCORE, None) for i, _ in self._drop(conn, selector, conns)]
                break
            block = bytes(conn.buffer[:end])
            del conn.buffer[:end + 4]
            index, _key = conn.queue.popleft()
            self.answered += 1
            parsed = parse_head(block)
            if parsed is None:
                out.append((index, NEEDS_BOTOCORE, None))
                out.extend((i, NEEDS_BOTOCORE, None) for i, _ in self._drop(conn, selector, conns))
                return out
            status, headers, keep_alive = parsed
            out.append((index, self.answer_from(status, merged(headers)), status))
            if not keep_alive or (not conn.queue and conn.buffer):
                # The server closes, or sent bytes no request asked for: start afresh.
                out.extend((i, NEEDS_BOTOCORE, None) for i, _ in self._drop(conn, selector, conns))
                return out
        if conn.queue:
            conn.deadline = time.monotonic() + self.timeout
        return out


def _close(sock: socket.socket) -> None:
    try:
        sock.close()
    except OSError:  # pragma: no cover
        pass
