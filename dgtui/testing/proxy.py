"""Loopback proxies for tests and benchmarks: latency, broken connections, and S3's own faults.

``TcpProxy`` forwards bytes; ``FaultProxy`` speaks HTTP and answers like a
struggling S3 (503 SlowDown, 500, resets, cut and stalled answers).


Put it between a client and the local S3 server to make the server look like
a cloud region (``latency_s`` per request) or an unreliable network
(refused connections, connections cut in the middle of a response).

Latency is added once per HTTP request: the proxy delays the first client
bytes that follow a response (or open a connection), which is where a new
request starts when requests are not pipelined (botocore never pipelines).
A request sent with ``Expect: 100-continue`` pays twice, as it would over a
real network.
"""

from __future__ import annotations

import logging
import queue
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
_REQUEST_LINE = re.compile(rb"([A-Z]{3,10}) (\S+) HTTP/1\.[01]\r\n")
CHUNK = 64 * 1024
ACCEPT_POLL_S = 0.2
CONNECT_TIMEOUT_S = 5.0


@dataclass(slots=True)
class _CutRule:
    """Close connections once this many response bytes went through them."""

    after_bytes: int
    once: bool
    generation: int


@dataclass(eq=False)
class _Link:
    """One proxied connection: the client side and the upstream side."""

    client: socket.socket
    upstream: socket.socket
    #: a new request starts with the next client bytes (no pipelining)
    awaiting_request: bool = True
    #: response bytes counted for the cut rule of this generation
    cut_generation: int = -1
    response_bytes: int = 0
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self, *, abort: bool = False) -> None:
        """Close both sides; ``abort`` sends a TCP reset instead of a FIN."""
        with self.lock:
            if self.closed:
                return
            self.closed = True
        for sock in (self.client, self.upstream):
            _close(sock, abort=abort)


def _close(sock: socket.socket, *, abort: bool = False) -> None:
    try:
        if abort:
            # Linger 0: close() sends RST, as a dropped network path would look;
            # shutting down reading alone sends nothing.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            how = socket.SHUT_RD
        else:
            how = socket.SHUT_RDWR
        # A close() alone would not wake the pump thread blocked in recv().
        sock.shutdown(how)
    except OSError:
        pass
    sock.close()


class TcpProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<target_port>.

    ``latency_s`` may be changed while the proxy runs, and so may
    ``bandwidth_bps``: bytes a second each way, shared by every connection
    as one link's are (0: unlimited). Fault modes:
    :meth:`refuse`, :meth:`cut_after_bytes`, :meth:`drop_all`; :meth:`reset`
    returns to plain forwarding. At most ``max_connections`` connections are
    served at once; further clients wait in the listen backlog.
    """

    def __init__(self, target_port: int, *, latency_s: float = 0.0, max_connections: int = 64,
                 bandwidth_bps: float = 0.0):
        self.target_port = target_port
        self.latency_s = latency_s
        self.bandwidth_bps = bandwidth_bps
        #: per direction ("up", "down"): when the link is free again for the next bytes
        self._link_free_at = {"up": 0.0, "down": 0.0}
        self.max_connections = max_connections
        self.connections_accepted = 0
        #: "METHOD /path?query" of every HTTP request that went through, in order (for tests that count)
        self.requests: list[str] = []
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._slots = threading.BoundedSemaphore(max_connections)
        self._links: set[_Link] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._refusing = False
        self._cut: _CutRule | None = None
        self._cut_generation = 0

    @classmethod
    def for_endpoint(cls, endpoint_url: str, **options: float | int) -> "TcpProxy":
        """A proxy in front of an ``http://127.0.0.1:<port>`` endpoint."""
        parts = urlsplit(endpoint_url)
        if parts.hostname not in (LOOPBACK, "localhost") or parts.port is None:
            raise ValueError(f"the proxy only forwards to {LOOPBACK}:<port>, not {endpoint_url}")
        return cls(parts.port, **options)  # type: ignore[arg-type]

    # -- lifecycle ---------------------------------------------------------

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the proxy is not started")
        return self._listener.getsockname()[1]

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> "TcpProxy":
        if self._listener is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, 0))
        listener.listen(128)
        listener.settimeout(ACCEPT_POLL_S)
        self._listener = listener
        self._stopping.clear()
        self._accept_thread = threading.Thread(target=self._accept_loop, name="dgtui-proxy-accept", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting and close every connection; idempotent."""
        self._stopping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
            self._accept_thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self.drop_all()

    def __enter__(self) -> "TcpProxy":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- faults ------------------------------------------------------------

    def refuse(self) -> None:
        """Close every new connection as soon as it is accepted."""
        self._refusing = True

    def cut_after_bytes(self, n: int, *, once: bool = False) -> None:
        """Close connections after forwarding n more response bytes on each.

        With ``once`` only the first connection to reach n is cut, then the
        proxy forwards normally again.
        """
        with self._lock:
            self._cut_generation += 1
            self._cut = _CutRule(after_bytes=n, once=once, generation=self._cut_generation)

    def reset(self) -> None:
        """Back to plain forwarding (latency is kept)."""
        with self._lock:
            self._refusing = False
            self._cut = None

    def drop_all(self) -> None:
        """Abort every live connection with a TCP reset."""
        with self._lock:
            links = list(self._links)
        for link in links:
            link.close(abort=True)

    @property
    def live_connections(self) -> int:
        with self._lock:
            return len(self._links)

    # -- forwarding ----------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        listener = self._listener
        while not self._stopping.is_set():
            if not self._slots.acquire(timeout=ACCEPT_POLL_S):
                continue
            try:
                client, _ = listener.accept()
            except TimeoutError:
                self._slots.release()
                continue
            except OSError:
                self._slots.release()
                return
            self.connections_accepted += 1
            if self._refusing:
                _close(client)
                self._slots.release()
                continue
            threading.Thread(target=self._serve, args=(client,), name="dgtui-proxy-link", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            link = self._open_link(client)
            if link is None:
                return
            upstream_pump = threading.Thread(target=self._pump_responses, args=(link,),
                                             name="dgtui-proxy-down", daemon=True)
            upstream_pump.start()
            self._pump_requests(link)
            upstream_pump.join()
            with self._lock:
                self._links.discard(link)
        finally:
            self._slots.release()

    def _open_link(self, client: socket.socket) -> _Link | None:
        try:
            upstream = socket.create_connection((LOOPBACK, self.target_port), timeout=CONNECT_TIMEOUT_S)
        except OSError:
            _close(client, abort=True)
            return None
        for sock in (client, upstream):
            sock.settimeout(None)
            # Nagle plus delayed ACKs would add their own ~40 ms to small requests.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(client, upstream)
        with self._lock:
            self._links.add(link)
        if self._stopping.is_set():
            link.close(abort=True)
        return link

    def _pump_requests(self, link: _Link) -> None:
        """Client to server, delaying the start of each request."""
        while True:
            data = _recv(link.client)
            if not data:
                break
            if link.awaiting_request:
                link.awaiting_request = False
                self._record_request(data)
                if self.latency_s > 0:
                    time.sleep(self.latency_s)
            self._throttle("up", len(data))
            if not _send(link.upstream, data):
                break
        link.close()

    def _record_request(self, data: bytes) -> None:
        """Note the request line, when ``data`` starts one (a body sent after "100 Continue" does not)."""
        match = _REQUEST_LINE.match(data)
        if match is not None:
            with self._lock:
                self.requests.append(f"{match[1].decode()} {match[2].decode('ascii', 'replace')}")

    def _pump_responses(self, link: _Link) -> None:
        """Server to client, applying the cut rule."""
        while True:
            data = _recv(link.upstream)
            if not data:
                break
            link.awaiting_request = True
            data, cut_now = self._apply_cut(link, data)
            self._throttle("down", len(data))
            if data and not _send(link.client, data):
                break
            if cut_now:
                break
        link.close()

    def _throttle(self, direction: str, size: int) -> None:
        """Hold ``size`` bytes back until the link (one for all connections) has carried what came before."""
        rate = self.bandwidth_bps
        if rate <= 0 or size <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._link_free_at[direction])
            self._link_free_at[direction] = start + size / rate
        wait = start + size / rate - now
        if wait > 0:
            time.sleep(wait)

    def _apply_cut(self, link: _Link, data: bytes) -> tuple[bytes, bool]:
        """The part of data to forward and whether to close afterwards."""
        with self._lock:
            rule = self._cut
            if rule is None:
                return data, False
            if link.cut_generation != rule.generation:
                link.cut_generation, link.response_bytes = rule.generation, 0
            allowed = rule.after_bytes - link.response_bytes
            if len(data) < allowed:
                link.response_bytes += len(data)
                return data, False
            if rule.once:
                self._cut = None
            return data[:max(allowed, 0)], True


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(CHUNK)
    except OSError:
        return b""


def _send(sock: socket.socket, data: bytes) -> bool:
    try:
        sock.sendall(data)
    except OSError:
        return False
    return True


# -- an HTTP-aware proxy that answers like a struggling S3 --------------------------------------------

#: the faults ``FaultProxy`` injects, in the order a request's draw is compared against their rates
FAULTS = ("slowdown", "error", "reset", "truncate", "stall")
#: hop-by-hop headers: about one connection, never forwarded
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                         "upgrade", "expect", "proxy-authorization", "proxy-authenticate"})
_S3_ERROR = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
             '<RequestId>fault-proxy</RequestId></Error>')


@dataclass
class FaultRates:
    """The share of requests (0 to 1) that meet each fault; together at most 1.

    ``slowdown``: 503 SlowDown, as S3 throttles; ``error``: 500 InternalError;
    ``reset``: the connection reset before the request reaches the server;
    ``truncate``: the server's answer ends after half its body (the
    connection closed cleanly, so only its Content-Length tells);
    ``stall``: the answer stops for ``FaultProxy.stall_s`` after half its
    body, then goes on. Answers without a body are cut or stalled before
    their headers.
    """

    slowdown: float = 0.0
    error: float = 0.0
    reset: float = 0.0
    truncate: float = 0.0
    stall: float = 0.0

    def total(self) -> float:
        return self.slowdown + self.error + self.reset + self.truncate + self.stall


class FaultPlan:
    """Which request meets which fault: the decision both fault proxies take, apart from how they answer.

    Each request draws from a random generator seeded with ``seed``, the
    method, the target and how often that request was seen before, so a run
    meets the same faults whatever order concurrent requests arrive in, and
    a retry of a failed request draws again. ``methods`` limits the faults to
    those methods (all when empty); ``max_faults`` bounds how many are
    injected in all; ``first_attempts`` spares every sending of a request
    after its first n. ``counts`` tells how many of each fault were drawn;
    ``requests`` how many requests came in.
    """

    def __init__(self, rates: FaultRates | None = None, *, seed: int = 0, methods: tuple[str, ...] = (),
                 max_faults: int | None = None, first_attempts: int | None = None):
        self.rates = _checked(rates or FaultRates())
        self.seed = seed
        self.methods = tuple(m.upper() for m in methods)
        self.max_faults = max_faults
        self.first_attempts = first_attempts
        self.counts: dict[str, int] = dict.fromkeys(FAULTS, 0)
        self.requests = 0
        self._seen: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def set_rates(self, rates: FaultRates) -> None:
        self.rates = _checked(rates)

    def draw(self, method: str, target: str) -> str | None:
        """The fault this request (``target`` as sent: path and query) meets, if any."""
        import random

        with self._lock:
            self.requests += 1
            nth = self._seen.get((method, target), 0)
            self._seen[(method, target)] = nth + 1
            if self.methods and method not in self.methods:
                return None
            if self.first_attempts is not None and nth >= self.first_attempts:
                return None
            if self.max_faults is not None and sum(self.counts.values()) >= self.max_faults:
                return None
            draw = random.Random(f"{self.seed}\0{method}\0{target}\0{nth}").random()
            edge = 0.0
            for fault in FAULTS:
                edge += getattr(self.rates, fault)
                if draw < edge:
                    self.counts[fault] += 1
                    return fault
        return None


def _checked(rates: FaultRates) -> FaultRates:
    if not 0 <= rates.total() <= 1:
        raise ValueError("fault rates must add up to at most 1")
    return rates


class LoopThreadServer:
    """A server whose asyncio loop runs in a thread of its own: ``start`` returns once it serves (or raises what
    kept it from serving), ``stop`` ends it and closes every connection. Subclasses give ``_serve``, which puts
    None (or an exception) on ``ready`` once it listens and returns when ``self._stop`` is set."""

    THREAD_NAME = "dgtui-proxy"
    _thread: threading.Thread | None = None
    _loop: Any = None
    _stop: Any = None
    _port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the proxy is not started")
        return self._port

    def _new_loop(self) -> Any:
        import asyncio

        return asyncio.new_event_loop()

    async def _serve(self, ready: "queue.SimpleQueue[BaseException | None]") -> None:
        raise NotImplementedError

    def start(self) -> Self:
        import asyncio

        if self._thread is not None:
            return self
        loop = self._new_loop()
        ready: "queue.SimpleQueue[BaseException | None]" = queue.SimpleQueue()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(ready))
            except BaseException as exc:  # noqa: BLE001 - told to start() when it happens before serving
                ready.put(exc)
            finally:
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=self.THREAD_NAME, daemon=True)
        self._thread.start()
        problem = ready.get(timeout=CONNECT_TIMEOUT_S * 2)
        if problem is not None:
            raise problem
        return self

    def stop(self) -> None:
        """Stop serving and close every connection; idempotent."""
        if self._thread is None:
            return
        if self._stop is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class FaultProxy(LoopThreadServer):
    """An HTTP proxy on 127.0.0.1 in front of an S3 endpoint that injects S3's faults at given rates.

    Which request meets which fault is ``FaultPlan``'s draw (``seed``,
    ``methods``, ``max_faults``, ``first_attempts`` are its settings): rate 1
    with ``first_attempts=1`` makes each request fail once and its retry go
    through. Every request is bounded in time (``upstream_timeout_s`` for the
    server, ``stall_s`` for a stall). ``counts`` tells how many of each fault
    were injected; ``requests`` how many requests came in.
    """

    THREAD_NAME = "dgtui-fault-proxy"

    def __init__(self, target_url: str, rates: FaultRates | None = None, *, seed: int = 0,
                 methods: tuple[str, ...] = (), stall_s: float = 0.5, max_faults: int | None = None,
                 first_attempts: int | None = None, upstream_timeout_s: float = 60.0):
        parts = urlsplit(target_url)
        if parts.hostname not in (LOOPBACK, "localhost") or parts.port is None or parts.scheme != "http":
            raise ValueError(f"the fault proxy only forwards to http://{LOOPBACK}:<port>, not {target_url}")
        self.target = f"http://{LOOPBACK}:{parts.port}"
        self.plan = FaultPlan(rates, seed=seed, methods=methods, max_faults=max_faults,
                              first_attempts=first_attempts)
        self.stall_s = stall_s
        self.upstream_timeout_s = upstream_timeout_s

    # -- lifecycle ---------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def set_rates(self, rates: FaultRates) -> None:
        """Other rates from the next request on (``FaultRates()``: a clean proxy)."""
        self.plan.set_rates(rates)

    @property
    def rates(self) -> FaultRates:
        return self.plan.rates

    @property
    def counts(self) -> dict[str, int]:
        """How many of each fault were injected."""
        return self.plan.counts

    @property
    def requests(self) -> int:
        """How many requests came in."""
        return self.plan.requests

    # -- serving -----------------------------------------------------------

    async def _serve(self, ready: "queue.SimpleQueue[BaseException | None]") -> None:
        import asyncio

        import aiohttp
        from aiohttp import web

        self._stop = asyncio.Event()
        timeout = aiohttp.ClientTimeout(total=self.upstream_timeout_s, sock_connect=CONNECT_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout, auto_decompress=False,
                                         skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent",
                                                            "Content-Type"),
                                         cookie_jar=aiohttp.DummyCookieJar()) as session:
            self._session = session
            # The faults end requests with an exception on purpose: aiohttp's own report of them stays quiet.
            quiet = logging.getLogger("dgtui.testing.fault_proxy")
            quiet.setLevel(logging.CRITICAL)
            server = web.Server(self._handle, access_log=None, handler_cancellation=True, logger=quiet)
            net = await asyncio.get_running_loop().create_server(server, LOOPBACK, 0)
            self._port = net.sockets[0].getsockname()[1]
            ready.put(None)
            try:
                await self._stop.wait()
            finally:
                net.close()
                await server.shutdown(timeout=2)
                net.close()

    async def _handle(self, request: Any) -> Any:
        import asyncio

        from aiohttp import web
        from yarl import URL

        method, target = request.method, request.raw_path
        if request.headers.get("Expect", "").lower() == "100-continue":
            # What aiohttp's router would do: the client waits for this before sending its body.
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = await request.content.read()  # not request.read(): that refuses bodies over 1 MiB
        fault = self.plan.draw(method, target)
        if fault in ("slowdown", "error"):
            status, code, message = ((503, "SlowDown", "Please reduce your request rate.") if fault == "slowdown"
                                     else (500, "InternalError", "We encountered an internal error. Please try "
                                                                 "again."))
            text = "" if method == "HEAD" else _S3_ERROR.format(code=code, message=message)
            return web.Response(status=status, text=text or None, content_type="application/xml")
        if fault == "reset":
            _abort(request)
            raise ConnectionResetError("fault proxy: connection reset")
        headers = [(name, value) for name, value in request.headers.items() if name.lower() not in _HOP_BY_HOP]
        if "Transfer-Encoding" in request.headers and "Content-Length" not in request.headers:
            headers.append(("Content-Length", str(len(body))))
        async with self._session.request(method, URL(self.target + target, encoded=True), headers=headers,
                                         data=body if body or method in ("PUT", "POST") else None,
                                         allow_redirects=False) as upstream:
            payload = await upstream.read()
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in upstream.headers.items():
                if name.lower() not in _HOP_BY_HOP and name.lower() not in ("server", "date"):
                    response.headers.add(name, value)
        bodiless = method == "HEAD" or upstream.status in (204, 304) or not payload
        if fault == "truncate" and bodiless:
            _abort(request)
            raise ConnectionResetError("fault proxy: answer cut")
        if fault == "stall" and bodiless:
            await asyncio.sleep(self.stall_s)
        if "Content-Length" in upstream.headers:
            response.content_length = int(upstream.headers["Content-Length"])
        await response.prepare(request)
        if bodiless:
            await response.write_eof()
            return response
        half = len(payload) // 2
        await response.write(payload[:half])
        if fault == "truncate":
            # Closed cleanly after half the body: only the Content-Length tells the client it is short.
            request.transport.close()
            raise ConnectionResetError("fault proxy: answer cut")
        if fault == "stall":
            await asyncio.sleep(self.stall_s)
        await response.write(payload[half:])
        await response.write_eof()
        return response


def _abort(request: Any) -> None:
    """Reset the client's connection (a TCP RST, as a dropped path or a crashed server looks)."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()
