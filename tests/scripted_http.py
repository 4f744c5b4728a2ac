"""A scripted HTTP server on loopback, for answers a real S3 server never gives (errors in a 200,
cut-short pages, web portals)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class QuietHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` answering on 127.0.0.1 from a thread; yields the endpoint URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class ScriptedTcp:
    """A TCP server on 127.0.0.1 that runs ``script(connection, index)`` on a thread for each connection it
    accepts (``index`` counts from 0), for answers no HTTP server library writes: split anywhere, cut
    short, never sent. Records every connection's socket in ``connections``."""

    def __init__(self, script: Callable[[socket.socket, int], None]):
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        self.listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            index = len(self.connections)
            self.connections.append(conn)
            thread = threading.Thread(target=self._run, args=(conn, index), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _run(self, conn: socket.socket, index: int) -> None:
        try:
            self.script(conn, index)
        except OSError:
            pass

    def close(self) -> None:
        self._stop.set()
        self._accepting.join(5)
        self.listener.close()
        for conn in self.connections:
            try:
                conn.close()
            except OSError:
                pass
        for thread in self._threads:
            thread.join(5)


def read_request(conn: socket.socket, limit: int = 65536) -> bytes:
    """One request's head (up to and with the blank line) from ``conn``; b"" when it closed first."""
    data = b""
    while b"\r\n\r\n" not in data and len(data) < limit:
        chunk = conn.recv(4096)
        if not chunk:
            return b""
        data += chunk
    return data
