"""A loopback TCP proxy that adds latency and injects faults.

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

import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
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
                if self.latency_s > 0:
                    time.sleep(self.latency_s)
            self._throttle("up", len(data))
            if not _send(link.upstream, data):
                break
        link.close()

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
