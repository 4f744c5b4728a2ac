"""A fault proxy light enough for benchmarks: S3's answers to a busy client, passed on byte for byte.

``FaultProxy`` (``dgtui.testing.proxy``) takes every request apart and puts it together again with
aiohttp on both sides, which costs about 0.6 ms of CPU a request: through it, 2,000 HEADs 128 at a time
on loopback took several times as long as straight to the server, so a benchmark of throttling measured
the proxy. ``FastFaultProxy`` parses only the head of each request (httptools, llhttp in C) to take the
same decision (``FaultPlan``); a request that meets no fault goes to the server as the bytes the client
sent, on a server connection of its own for each client connection (kept alive as the client keeps
its own), and the server's answer comes back as the bytes the server sent, never parsed. So it injects
only the faults that are decided before the server answers: 503 SlowDown, 500 InternalError and a
connection reset; truncated and stalled answers need ``FaultProxy``. It serves https too (its own
certificate), and forwards to an http or https server.

Clients that send a request before the answer to the last one (HTTP pipelining, which neither botocore
nor aiohttp does) have their connection closed.
"""

from __future__ import annotations

import asyncio
import queue
import socket
import ssl
import struct
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dgtui.testing.proxy import _S3_ERROR, CONNECT_TIMEOUT_S, LOOPBACK, FaultPlan, FaultRates, LoopThreadServer

#: the faults this proxy can answer itself, before (and instead of) the server
FAST_FAULTS = ("slowdown", "error", "reset")
#: client bytes held per connection while the server connection opens, or a request's head is read
HEAD_LIMIT = 1024 * 1024


class FastFaultProxy(LoopThreadServer):
    """An S3 proxy on 127.0.0.1 that answers SlowDown, InternalError and resets at given rates.

    ``rates`` may only hold ``slowdown``, ``error`` and ``reset``; which request meets which fault is
    ``FaultPlan``'s draw with ``seed``, ``methods``, ``max_faults`` and ``first_attempts``, as in
    ``FaultProxy``. ``tls``: (certificate, key) files to serve https with. ``ca_bundle``: what an https
    server's certificate is checked against. The event loop is uvloop's when uvloop is installed.
    """

    THREAD_NAME = "dgtui-fast-fault-proxy"

    def __init__(self, target_url: str, rates: FaultRates | None = None, *, seed: int = 0,
                 methods: tuple[str, ...] = (), max_faults: int | None = None, first_attempts: int | None = None,
                 tls: tuple[str | Path, str | Path] | None = None, ca_bundle: str | Path | None = None):
        parts = urlsplit(target_url)
        if parts.hostname not in (LOOPBACK, "localhost") or parts.port is None or parts.scheme not in ("http", "https"):
            raise ValueError(f"the fault proxy only forwards to http(s)://{LOOPBACK}:<port>, not {target_url}")
        rates = rates or FaultRates()
        unsupported = [name for name in ("truncate", "stall") if getattr(rates, name)]
        if unsupported:
            raise ValueError(f"FastFaultProxy cannot inject {', '.join(unsupported)} (FaultProxy can)")
        self.target_port = parts.port
        self.plan = FaultPlan(rates, seed=seed, methods=methods, max_faults=max_faults,
                              first_attempts=first_attempts)
        self._upstream_ssl: ssl.SSLContext | None = None
        if parts.scheme == "https":
            self._upstream_ssl = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
        self._server_ssl: ssl.SSLContext | None = None
        if tls is not None:
            self._server_ssl = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._server_ssl.load_cert_chain(str(tls[0]), str(tls[1]))
        self._connections: set[_ClientConnection] = set()

    # -- lifecycle ---------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return f"{'https' if self._server_ssl else 'http'}://{LOOPBACK}:{self.port}"

    @property
    def counts(self) -> dict[str, int]:
        """How many of each fault were injected."""
        return self.plan.counts

    @property
    def requests(self) -> int:
        """How many requests came in."""
        return self.plan.requests

    def set_rates(self, rates: FaultRates) -> None:
        """Other rates from the next request on (``FaultRates()``: a clean proxy)."""
        if rates.truncate or rates.stall:
            raise ValueError("FastFaultProxy cannot inject truncate or stall (FaultProxy can)")
        self.plan.set_rates(rates)

    def _new_loop(self) -> asyncio.AbstractEventLoop:
        return _new_event_loop()

    async def _serve(self, ready: "queue.SimpleQueue[BaseException | None]") -> None:
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await loop.create_server(lambda: _ClientConnection(self), LOOPBACK, 0, ssl=self._server_ssl,
                                          backlog=1024)
        self._port = server.sockets[0].getsockname()[1]
        ready.put(None)
        try:
            await self._stop.wait()
        finally:
            server.close()
            for connection in list(self._connections):
                connection.close()
            await server.wait_closed()

    async def _open_upstream(self, client: "_ClientConnection") -> None:
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: _ServerConnection(client), LOOPBACK, self.target_port,
                                       ssl=self._upstream_ssl,
                                       server_hostname=LOOPBACK if self._upstream_ssl else None),
                CONNECT_TIMEOUT_S)
        except OSError:  # refused, timed out (TimeoutError) or a failed handshake (ssl.SSLError)
            client.abort()


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def _fault_answer(fault: str, method: str) -> bytes:
    """The whole HTTP answer S3 gives for ``fault``, as ``FaultProxy`` writes it."""
    status, code, message = ((503, "SlowDown", "Please reduce your request rate.") if fault == "slowdown"
                             else (500, "InternalError", "We encountered an internal error. Please try again."))
    body = b"" if method == "HEAD" else _S3_ERROR.format(code=code, message=message).encode()
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\nx-amz-request-id: fault-proxy\r\n\r\n")
    return head.encode("latin-1") + body


class _ClientConnection(asyncio.Protocol):
    """One client connection: reads request heads, answers faults, passes the rest to the server."""

    def __init__(self, proxy: FastFaultProxy):
        import httptools

        self.proxy = proxy
        self.parser = httptools.HttpRequestParser(self)
        self.transport: Any = None
        self.server: _ServerConnection | None = None
        #: bytes for the server while its connection opens
        self.waiting: list[bytes] = []
        self.waiting_bytes = 0
        #: bytes of the request being read whose fault is not drawn yet (its head is not complete)
        self.held = bytearray()
        #: what happens to the request being read: None (its head is not complete), "forward" or a fault
        self.decision: str | None = None
        self.url = bytearray()
        self.expect_continue = False
        self.completed_in_feed = False
        self.closed = False
        self.opening: asyncio.Task[None] | None = None

    # -- asyncio -----------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.proxy._connections.add(self)
        # Kept: the loop holds only a weak reference to a task, which could go before it ends.
        self.opening = asyncio.get_running_loop().create_task(self.proxy._open_upstream(self))

    def data_received(self, data: bytes) -> None:
        # Without pipelining a chunk holds bytes of one request only: the request whose head came before
        # (forwarded or answered already) or one whose head is still being read (held until it is drawn).
        decided = self.decision
        if decided is None:
            self.held += data
        self.completed_in_feed = False
        try:
            self.parser.feed_data(data)
        except Exception:  # noqa: BLE001 - not HTTP, pipelined requests or a reset: the parser stops
            if not self.closed:
                self.close()
            return
        if decided == "forward":
            self.to_server(data)
        elif self.decision is None and len(self.held) > HEAD_LIMIT:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.proxy._connections.discard(self)
        if self.server is not None:
            self.server.close()

    def pause_writing(self) -> None:
        if self.server is not None and self.server.transport is not None:
            self.server.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.server is not None and self.server.transport is not None:
            self.server.transport.resume_reading()

    # -- httptools ---------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.completed_in_feed:
            raise ConnectionError("pipelined requests are not supported")
        self.decision = None
        self.url.clear()
        self.expect_continue = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"expect" and value.strip().lower() == b"100-continue":
            self.expect_continue = True

    def on_headers_complete(self) -> None:
        method = self.parser.get_method().decode("latin-1")
        fault = self.proxy.plan.draw(method, self.url.decode("utf-8", "surrogateescape"))
        self.decision = fault or "forward"
        if fault is None:
            self.to_server(bytes(self.held))
        self.held.clear()  # a request that meets a fault never reaches the server
        if fault in ("slowdown", "error") and self.expect_continue:
            # The client waits for this before it sends the body the fault's answer comes after.
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_message_complete(self) -> None:
        self.completed_in_feed = True
        fault, self.decision = self.decision, None
        if fault == "forward" or fault is None:
            return
        if fault == "reset":
            self.abort()
            raise ConnectionResetError("fault proxy: connection reset")
        method = self.parser.get_method().decode("latin-1")
        self.transport.write(_fault_answer(fault, method))
        if not self.parser.should_keep_alive():
            self.close()

    # -- forwarding ----------------------------------------------------------
    def to_server(self, data: bytes) -> None:
        server = self.server
        if server is not None and server.transport is not None:
            server.transport.write(data)
            return
        self.waiting.append(data)
        self.waiting_bytes += len(data)
        if self.waiting_bytes > HEAD_LIMIT:
            self.transport.pause_reading()  # the server connection is still opening: hold the client back

    def server_connected(self, server: "_ServerConnection") -> None:
        if self.closed:
            server.close()
            return
        self.server = server
        for data in self.waiting:
            server.transport.write(data)
        self.waiting.clear()
        if self.waiting_bytes > HEAD_LIMIT:
            self.transport.resume_reading()
        self.waiting_bytes = 0

    def close(self) -> None:
        """Close both sides cleanly (what is written still goes out)."""
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        if self.server is not None:
            self.server.close()

    def abort(self) -> None:
        """Reset the client's connection (a TCP RST, as a dropped path or a crashed server looks)."""
        self.closed = True
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        if self.transport is not None:
            self.transport.abort()
        if self.server is not None:
            self.server.close()


class _ServerConnection(asyncio.Protocol):
    """The server side of one client connection: what the server sends goes to the client as it is."""

    def __init__(self, client: _ClientConnection):
        self.client = client
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.client.server_connected(self)

    def data_received(self, data: bytes) -> None:
        if not self.client.closed:
            self.client.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        # The server closed (or broke) its side: the client sees its connection end as the server ended it.
        if not self.client.closed:
            self.client.close()

    def pause_writing(self) -> None:
        self.client.transport.pause_reading()

    def resume_writing(self) -> None:
        self.client.transport.resume_reading()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
