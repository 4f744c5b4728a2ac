"""HEAD requests over HTTP/1.1 keep-alive connections, parsed by httptools (llhttp, in C).

The fast HEADs of detailed statistics are bound by the client's CPU, and most of it went to aiohttp's
per-request machinery (its request and response objects, timers, the connector's bookkeeping), which a
HEAD whose answer is a status and a few headers does not need. ``HeadWire`` keeps at most ``limit``
connections to one host open on the running loop, writes ``HEAD <path> HTTP/1.1`` with exactly the
headers it is given, and hands back the status and the header pairs as received (names' case kept).

It is only ever a fast path: whatever it does not get a clear answer to (a connection refused, reset or
closed before the answer ended, a timeout, an answer it cannot parse or one larger than
``MAX_HEADER_BYTES``) is raised as ``WireError`` (or ``TimeoutError``), and ``FastHead`` repeats that
HEAD through botocore as it does a failure of aiohttp. A request sent on a kept-alive connection that
the server had closed while idle, and that got no byte of an answer, is sent once more on a fresh one.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
from typing import Deque, List, Optional, Tuple

import httptools

#: the most bytes an answer's status line and headers may take: a HEAD's answer is a few hundred
MAX_HEADER_BYTES = 64 * 1024


class WireError(Exception):
    """A HEAD that got no clear answer; ``before_answer``: no byte of an answer arrived; ``surprise``: an
    answer that could not be parsed or was too large (not a network's failure)."""

    def __init__(self, message: str, before_answer: bool = False, surprise: bool = False):
        super().__init__(message)
        self.before_answer = before_answer
        self.surprise = surprise


class _AnswerEnded(Exception):
    """Raised from the parser's callback to stop it at the end of a HEAD answer's headers."""


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self.transport: Optional[asyncio.Transport] = None
        self.closed = False
        self.reused = False  #: has answered a request before (a stale keep-alive is possible)
        self._parser: Optional[httptools.HttpResponseParser] = None
        self._waiter: Optional[asyncio.Future[Tuple[int, List[Tuple[bytes, bytes]]]]] = None
        self._headers: List[Tuple[bytes, bytes]] = []
        self._name = b""
        self._value = b""
        self._size = 0
        self._got_bytes = False
        self._tail = b""
        self._keep_alive = True

    # -- asyncio.Protocol --------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            why = f"connection lost: {exc}" if exc else "connection closed by the server"
            waiter.set_exception(WireError(why, before_answer=not self._got_bytes))

    def data_received(self, data: bytes) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():  # bytes nobody asked for: the connection is not reusable
            self._fail(WireError("bytes received outside an answer"))
            return
        self._got_bytes = True
        self._size += len(data)
        # the last 4 bytes received: an answer to a HEAD ends in a blank line, split anywhere
        self._tail = data[-4:] if len(data) >= 4 else (self._tail + data)[-4:]
        try:
            assert self._parser is not None
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(WireError("an upgrade answer to a HEAD", surprise=True))
            return
        except httptools.HttpParserError as exc:
            if not waiter.done():
                self._fail(WireError(f"unparsable answer: {exc}", surprise=True))
            elif self._tail != b"\r\n\r\n":
                # Stopped after the headers (on_headers_complete) with bytes left over (a body a HEAD must
                # not have): the next answer on this connection could not be told apart from them.
                self._keep_alive = False
            return
        if not waiter.done() and self._size > MAX_HEADER_BYTES:
            self._fail(WireError(f"an answer's headers larger than {MAX_HEADER_BYTES} bytes", surprise=True))

    # -- httptools callbacks -------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        # httptools hands a name or value split across packets in pieces: joined here, kept as received.
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        assert parser is not None
        status = parser.get_status_code()
        if 100 <= status < 200:  # an interim answer: the final one follows
            self._headers = []
            return
        self._keep_alive = parser.should_keep_alive()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result((status, self._headers))
        # The answer to a HEAD ends with its headers, whatever its Content-Length or Transfer-Encoding
        # says; the response parser cannot know it answers a HEAD, so it is stopped here.
        raise _AnswerEnded

    # -- requests ---------------------------------------------------------------
    def _fail(self, error: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def send(self, request: bytes) -> asyncio.Future[Tuple[int, List[Tuple[bytes, bytes]]]]:
        self._parser = httptools.HttpResponseParser(self)
        self._headers = []
        self._size = 0
        self._got_bytes = False
        self._tail = b""
        self._keep_alive = True
        self._waiter = waiter = self._loop.create_future()
        assert self.transport is not None
        self.transport.write(request)
        return waiter

    def finished(self) -> bool:
        """Whether the connection may carry another request (its answer ended and it is kept alive)."""
        self._waiter = None
        self._parser = None
        return not self.closed and self._keep_alive


def _time_out(waiter: asyncio.Future[Tuple[int, List[Tuple[bytes, bytes]]]]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError("no answer within the read timeout"))


class HeadWire:
    """HEADs to one ``host:port`` (TLS when ``tls`` is given), at most ``limit`` connections open.

    Used on one event loop only; ``limit`` bounds connections, not requests: the caller bounds how many
    HEADs are in flight (``FastHead``'s slots), and a request beyond ``limit`` waits for a free one.
    """

    def __init__(self, host: str, port: int, tls: Optional[ssl.SSLContext], server_hostname: Optional[str],
                 limit: int, connect_timeout: Optional[float], read_timeout: Optional[float]):
        self.host, self.port, self.tls, self.server_hostname = host, port, tls, server_hostname
        self.limit = max(1, limit)
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self._idle: Deque[_Connection] = collections.deque()
        self._open: set[_Connection] = set()
        self._waiters: Deque[asyncio.Future[None]] = collections.deque()
        #: connections opened over this pool's life (tests and the bench read it)
        self.connections_opened = 0
        self._closed = False

    async def head(self, path: str, headers: dict[str, str]) -> Tuple[int, List[Tuple[bytes, bytes]]]:
        """Send ``HEAD path`` with exactly ``headers`` (which carry Host); (status, header pairs)."""
        lines = [f"HEAD {path} HTTP/1.1\r\n"]
        for name, value in headers.items():
            lines.append(f"{name}: {value}\r\n")
        lines.append("\r\n")
        request = "".join(lines).encode("latin-1")
        conn = await self._take()
        try:
            try:
                return await self._exchange(conn, request)
            except WireError as error:
                # A kept-alive connection the server closed while it was idle: nothing was answered, so the
                # request is sent once more on a fresh connection.
                if not (error.before_answer and conn.reused):
                    raise
            conn = await self._take(fresh=True)
            return await self._exchange(conn, request)
        finally:
            self._wake()

    async def _exchange(self, conn: _Connection, request: bytes) -> Tuple[int, List[Tuple[bytes, bytes]]]:
        done = False
        timer: Optional[asyncio.TimerHandle] = None
        try:
            waiter = conn.send(request)
            if self.read_timeout is not None:  # a timer, not wait_for: no task of its own for each HEAD
                timer = asyncio.get_running_loop().call_later(self.read_timeout, _time_out, waiter)
            answer = await waiter
            done = True
            return answer
        finally:
            if timer is not None:
                timer.cancel()
            if done and conn.finished() and not self._closed:
                conn.reused = True
                self._idle.append(conn)
            else:  # an error, a timeout, a cancel or a connection not kept alive: never reused
                conn.close()
                self._open.discard(conn)

    async def _take(self, fresh: bool = False) -> _Connection:
        if self._closed:
            raise WireError("the HEAD connections are closed", before_answer=True)
        while not fresh and self._idle:
            conn = self._idle.pop()  # the most recently used: the least likely to have been closed
            if not conn.closed:
                return conn
            self._open.discard(conn)
        while len(self._open) >= self.limit:
            if fresh and self._idle:  # make room: an idle connection goes for a fresh one
                self._drop(self._idle.popleft())
                continue
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            while not fresh and self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn
                self._open.discard(conn)
        return await self._connect()

    async def preconnect(self, count: int) -> int:
        """Open connections until ``count`` (at most ``limit``) are open or opening, for HEADs known to
        follow; each waits idle for them. A connection that fails to open is left alone: the HEADs then
        open their own and meet the error themselves. Returns how many it opened."""
        wanted = min(count, self.limit) - len(self._open)
        if wanted <= 0 or self._closed:
            return 0

        async def one() -> int:
            try:
                conn = await self._connect()
            except Exception:
                return 0
            if self._closed:
                self._drop(conn)
                return 0
            conn.reused = True  # idle before its first request, as a kept-alive one: the server may close it
            self._idle.append(conn)
            self._wake()
            return 1

        return sum(await asyncio.gather(*(one() for _ in range(wanted))))

    def _drop(self, conn: _Connection) -> None:
        conn.close()
        self._open.discard(conn)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        conn = _Connection(loop)
        self._open.add(conn)  # counted while it connects, so that ``limit`` holds
        try:
            opening = loop.create_connection(lambda: conn, self.host, self.port, ssl=self.tls,
                                             server_hostname=self.server_hostname if self.tls else None)
            if self.connect_timeout is None:
                await opening
            else:
                await asyncio.wait_for(opening, self.connect_timeout)
        except BaseException:
            self._drop(conn)
            self._wake()
            raise
        self.connections_opened += 1
        return conn

    def _wake(self) -> None:
        while self._waiters and (self._idle or len(self._open) < self.limit):
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        """Close every connection; later HEADs fail (``WireError``)."""
        self._closed = True
        for conn in list(self._open) + list(self._idle):
            conn.close()
        self._open.clear()
        self._idle.clear()
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()
