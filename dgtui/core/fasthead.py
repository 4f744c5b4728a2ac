"""HEAD requests for object metadata without botocore's per-call machinery.

Detailed statistics HEAD every object of a bucket. Through botocore each HEAD
costs about 2 ms of client CPU (event hooks, endpoint rules, model-driven
header parsing), all of it under the GIL, so thousands of HEADs are bound by
the client's CPU whatever the thread count.

``FastHead`` sends HEADs from one asyncio event loop (a daemon thread of its
own) over at most ``max_workers`` keep-alive connections, http or https alike,
each one signed as botocore's own SigV4 signer signs it. The connections are
``headwire``'s: bare HEAD requests whose answers httptools parses in C, about
half the CPU of aiohttp's per-request machinery (``python -m bench.head_cpu``).
An aiohttp session is the fallback: after ``WIRE_SURPRISE_LIMIT`` answers
``headwire`` could not parse, aiohttp sends the client's HEADs. One loop needs
no thread hand-offs, which leaves about a third of the CPU a HEAD cost from a
pool of threads (``bench/RESULTS.md``). TLS verification uses the CA bundle botocore resolved
for the client. ``HeadBatch.head_many`` sends a whole list at once;
``HeadBatch.head`` one key, from any thread. Everything it does not know how
to handle is handed back to ``S3Access.head`` (on a few threads of its own, so
the loop never waits for botocore):

* the URL is learned from botocore: the first HEAD of a batch goes through
  botocore while a hook records the request it sends, and the prefix before
  the encoded key becomes the template (path or virtual-hosted style, port,
  endpoint path are whatever botocore chose); that request also tells which
  region and service botocore signed for. As it goes out, the connections of
  the HEADs that follow are opened to its host, so that their handshakes
  overlap its round trip. Later batches in the same bucket reuse what the
  first one learned;
* a 200 with an ETag and a 404 are answered directly; anything else (403,
  400, redirects, 1xx, 5xx, connection errors, a 200 without ETag) is
  repeated through ``S3Access.head``, which has retries, redirects, the
  explanation of a bare 403 and the translation into ``DgError``;
* every fast request that botocore then had to answer counts against the
  fast path: after ``FALLBACK_LIMIT`` in a row it is switched off for the
  client (a change inside botocore or a server that does not take these
  requests then costs a few requests, not every HEAD twice). A server error
  (500, 502, 504) or a dropped connection is the server's or the network's
  hiccup, not the fast path's: botocore repeats it, and only when such
  failures outnumber the answered HEADs is the fast path switched off;
* a throttled answer (503 SlowDown, 429) is what S3 asks clients to slow down
  with: the HEAD waits (exponential backoff with jitter) and is sent again,
  and the number of HEADs in flight is halved (down to ``MIN_CONCURRENCY``),
  then raised by one for each window of answered HEADs (additive increase,
  multiplicative decrease, as AWS asks of clients). Throttling never
  switches the fast path off;
* the fast path stays off for a client that is not signed with SigV4
  (anonymous or another signature version), that goes through a proxy or
  presents a client certificate, whose URL does not end in the key as
  encoded here or carries a query string, or when the one private botocore
  attribute it reads (the HTTP session's TLS setting) is not there.

With ``--debug`` every fast request is logged (logger ``dgtui.fasthead``),
through the same redaction as botocore's own logs.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import logging
import queue
import random
import re
import threading
import time
import urllib.request
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import quote, urlsplit

import botocore
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.httpsession import get_cert_path

from .errors import CancelledError
from .s3 import S3Access

if TYPE_CHECKING:  # imported when the first fast HEAD is sent, not with every command
    import asyncio

    import aiohttp

    from .headwire import HeadWire

log = logging.getLogger("dgtui.fasthead")

#: a HEAD's payload hash: sha256 of nothing
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#: fast requests in a row that botocore had to answer before the fast path is switched off
FALLBACK_LIMIT = 3
_META_PREFIX_BYTES = b"x-amz-meta-"
_SIGV4_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=[^/]*/\d{8}/([^/]+)/([^/]+)/aws4_request,")
_SIGV4_VERSIONS = (None, "s3v4", "v4")

#: how long the caller's thread lets answers gather before it takes them
GATHER_SECONDS = 0.02
#: botocore threads that repeat the unusual answers (and HEAD while the fast path is off)
FALLBACK_THREADS = 16

#: answers that ask the client to slow down (S3's 503 SlowDown; 429 from some S3-compatible servers)
THROTTLE_STATUSES = (503, 429)
#: answers that tell of a server's hiccup, not of the fast request (botocore repeats them)
TRANSIENT_STATUSES = (500, 502, 504)
#: sends of a throttled fast HEAD before botocore takes it over (with its own retries)
THROTTLE_ATTEMPTS = 6
#: backoff after a throttled answer: about BASE * 2**attempt, half of it random, at most CAP
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 2.0
#: fewest HEADs kept in flight under throttling: 16 at 10-20 ms in-region are 800-1,600 a second, well
#: under the 5,500 GET/HEAD a second S3 allows per prefix, so this floor alone never causes SlowDown,
#: while a throttled server that answers at random (or a burst of SlowDown) cannot bring the fan-out
#: down to one HEAD at a time
MIN_CONCURRENCY = 16
#: transient failures before they may switch the fast path off (when they outnumber its answers)
TRANSIENT_LIMIT = 32

#: answers the lean client could not parse before aiohttp sends the client's HEADs instead
WIRE_SURPRISE_LIMIT = 3
#: the fast HEADs' connections take at most this share of the process's limit on open files; the rest is
#: for botocore's pool, the files being read or written and the metadata cache
OPEN_FILES_SHARE = 0.25
#: a response's headers as received: (name, value) bytes, in order
RawHeaders = Sequence[Tuple[bytes, bytes]]
#: what a HEAD answers: (ETag, metadata) for an object, None for a missing one
HeadResult = Optional[Tuple[str, Dict[str, str]]]


class CachedKeySigner(S3SigV4Auth):
    """botocore's S3 SigV4 signer, with the day's signing key derived once instead of for every request
    (four of the five HMACs a signature takes). Everything else is botocore's own."""

    def __init__(self, credentials: Any, service_name: str, region_name: str):
        super().__init__(credentials, service_name, region_name)
        self._keys: dict[str, bytes] = {}

    def signature(self, string_to_sign: str, request: Any) -> str:
        day = request.context["timestamp"][0:8]
        key = self._keys.get(day)
        if key is None:
            k_date = self._sign(f"AWS4{self.credentials.secret_key}".encode(), day)
            key = self._sign(self._sign(self._sign(k_date, self._region_name), self._service_name), "aws4_request")
            self._keys = {day: key}
        return self._sign(key, string_to_sign, hex=True)


class _NeedsBotocore(Exception):
    """A fast answer that botocore must repeat and explain; ``transient``: a server error, a throttled
    answer or a dropped connection, which says nothing against the fast path."""

    def __init__(self, status: int | None, transient: bool = False):
        super().__init__(status)
        self.status = status
        self.transient = transient


def backoff_seconds(attempt: int) -> float:
    """The wait before sending a throttled request again: exponential, capped, half of it random
    (so that the requests throttled together do not all come back together)."""
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2 ** attempt))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def encode_key(key: str) -> str:
    """A key as botocore puts it in an S3 URL path (the ``{Key+}`` label): UTF-8,
    percent-encoded, with ``/`` and ``~`` kept."""
    return quote(key.encode("utf-8"), safe="/~")


def host_of(url: str) -> str:
    """The Host value botocore signs: lowercase, without userinfo or a default port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != {"http": 80, "https": 443}.get(parts.scheme):
        host = f"{host}:{port}"
    return host


def botocore_tls_verify(client: Any) -> Any:
    """What botocore's HTTP session verifies TLS with (True, False or a CA bundle path), or
    ``None`` when that private attribute is not where this version of botocore keeps it."""
    session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    verify = getattr(session, "_verify", None)
    return verify if isinstance(verify, (bool, str)) else None


class FastHead:
    """Metadata HEADs for one ``S3Access``; thread-safe. Use ``batch(bucket)`` per run of HEADs."""

    def __init__(self, s3: S3Access, max_workers: int = 64):
        self.s3 = s3
        self.client = s3.client
        self._lock = threading.Lock()
        self._capture = threading.local()
        #: HEADs answered by the fast path (200 with an ETag, or 404)
        self.fast_requests = 0
        #: HEADs repeated through ``S3Access.head`` after a fast attempt or with the fast path off
        self.fallback_requests = 0
        #: HEADs sent through botocore to learn a batch's URL template
        self.learn_requests = 0
        #: fast answers that asked to slow down (503 SlowDown, 429); each was sent again after a backoff
        self.throttled_requests = 0
        #: HEADs waiting out a throttled answer's backoff now (their slots are free meanwhile)
        self.backing_off = 0
        #: most HEADs in flight at once, over this client's life
        self.peak_in_flight = 0
        #: fast HEADs that failed on a server error or a dropped connection (botocore repeated them)
        self.transient_failures = 0
        self._failures_in_a_row = 0
        self.disabled_reason: str | None = None
        self.pool_size: int | None = getattr(self.client.meta.config, "max_pool_connections", None)
        #: most HEADs in flight, and connections open, at once
        self.max_workers = within_open_files_limit(max(1, max_workers))
        #: HEADs allowed in flight now: halved on a throttled answer, raised by one per window of answers
        self.concurrency = self.max_workers
        #: the lowest ``concurrency`` throttling brought it to
        self.lowest_concurrency = self.max_workers
        #: times throttling halved ``concurrency``, and times answers raised it by one
        self.concurrency_decreases = 0
        self.concurrency_increases = 0
        # Touched on the loop's thread only: HEADs in flight, senders waiting for a slot, the
        # throttling wave the last decrease answered, answers since the last increase.
        self._in_flight = 0
        self._slot_waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._wave = 0
        self._answers_since_increase = 0
        self._verify: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._warming = False  #: a thread is starting the loop (``warm``)
        self._loop_thread: threading.Thread | None = None
        self._session: aiohttp.ClientSession | None = None
        #: the aiohttp sessions of this loop (none while the lean client sends), closed when it stops
        self._sessions: list[aiohttp.ClientSession] = []
        #: send HEADs over ``headwire`` (keep-alive connections parsed by httptools) rather than aiohttp;
        #: switched off after ``WIRE_SURPRISE_LIMIT`` answers it could not make sense of
        self.use_wire = True
        self.wire_surprises = 0
        #: the lean connection pools, one per scheme and host (on the loop's thread only)
        self._wires: dict[str, HeadWire] = {}
        self._tls: Any = None
        self._fallback_pool: ThreadPoolExecutor | None = None
        self._stop_loop: weakref.finalize | None = None
        #: the URL template learned per bucket, for the batches that follow
        self._templates: dict[str, _Template] = {}
        #: held while a batch learns a URL: batches started meanwhile (read at once) take what it learned
        self._learning = threading.Lock()
        config = self.client.meta.config
        signature_version = getattr(config, "signature_version", None)
        verify = botocore_tls_verify(self.client)
        if signature_version is botocore.UNSIGNED or signature_version not in _SIGV4_VERSIONS:
            self.disable("the client does not sign with SigV4")
        elif verify is None:
            self.disable("botocore's TLS setting is not reachable")
        elif getattr(config, "client_cert", None):
            self.disable("the client presents a TLS client certificate")
        else:
            self._verify = verify
            self.client.meta.events.register("before-send.s3.HeadObject", self._on_before_send,
                                             unique_id=f"dgtui-fasthead-{id(self)}")

    # -- state -------------------------------------------------------------
    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None

    def disable(self, reason: str) -> None:
        """Switch the fast path off for this client: every later HEAD goes through botocore."""
        if self.disabled_reason is None:
            self.disabled_reason = reason
            log.debug("fast HEADs off: %s", reason)

    def workers(self, wanted: int) -> int:
        """``wanted`` threads of botocore requests, bounded by botocore's pool."""
        return max(1, min(wanted, self.pool_size)) if self.pool_size else max(1, wanted)

    def knows(self, bucket: str) -> bool:
        """Whether a batch in ``bucket`` would go the fast way from its first HEAD (an earlier one learned
        the URL); while a batch learns it, the answer waits for what it learns."""
        if not self.enabled:
            return False
        with self._learning:
            return bucket in self._templates

    def batch(self, bucket: str) -> HeadBatch:
        """A run of HEADs in ``bucket``; credentials and proxy settings are read once, here."""
        return HeadBatch(self, bucket)

    def warm(self) -> None:
        """Start the event loop (uvloop's import, the TLS context with its CA bundle) and import the lean
        client on a thread of their own, for HEADs known to come soon: the first of them then does not wait
        for that (a first run of detailed statistics warms while it still lists)."""
        with self._lock:
            if not self.enabled or self._loop is not None or self._warming:
                return
            self._warming = True

        def start() -> None:
            try:
                self._event_loop()
                from . import headwire  # noqa: F401  # imported here rather than before the first fast HEAD
            except Exception as exc:  # the first HEAD that needs the loop tries again, and says why
                log.debug("starting the fast HEAD loop: %s: %s", type(exc).__name__, exc)
            finally:
                self._warming = False

        threading.Thread(target=start, name="dgtui-fasthead-start", daemon=True).start()

    def close(self) -> None:
        """Close the connections and stop the loop's thread (a later HEAD starts them again)."""
        with self._lock:
            stop, self._stop_loop = self._stop_loop, None
            self._loop = self._loop_thread = self._session = None
            self._sessions, self._wires = [], {}  # the stopping loop closes its own
            pool, self._fallback_pool = self._fallback_pool, None
            self._in_flight, self._slot_waiters = 0, collections.deque()
        if stop is not None:
            stop()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # -- the event loop and its session --------------------------------------
    def _event_loop(self) -> asyncio.AbstractEventLoop:
        """The loop the fast HEADs run on, started (with the TLS context) on first use."""
        with self._lock:
            if self._loop is None:
                loop = _new_loop()
                thread = threading.Thread(target=loop.run_forever, name="dgtui-fasthead", daemon=True)
                thread.start()
                try:
                    self._tls = self._tls_context()
                except BaseException:
                    loop.call_soon_threadsafe(loop.stop)
                    raise
                self._loop, self._loop_thread = loop, thread
                # Also when the client is never closed (or at exit): no "unclosed session" warnings.
                self._stop_loop = weakref.finalize(self, _stop_loop, loop, thread, self._sessions, self._wires)
            return self._loop

    def _tls_context(self) -> Any:
        """The TLS setting of every fast HEAD: a context that trusts what botocore trusts, or False when
        botocore does not verify."""
        import ssl

        verify = self._verify
        return ssl.create_default_context(cafile=get_cert_path(verify)) if verify else False

    def _aiohttp_session(self) -> aiohttp.ClientSession:
        """aiohttp's session, made (on the loop) the first time the lean client cannot send: importing
        aiohttp costs more than 0.1 s of CPU, which a run of HEADs that the lean client sends never pays."""
        if self._session is not None:
            return self._session
        import aiohttp

        tls = self._tls
        # No trace configs: aiohttp runs every request past them, which costs measurable CPU per HEAD.
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.max_workers, ssl=tls),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.s3.connect_timeout,
                                          sock_read=self.s3.read_timeout),
            # Only what is signed (and the User-Agent botocore sends) goes out.
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent"), auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar())  # S3 sets no cookies; a real jar is consulted per request
        self._session = session
        self._sessions.append(session)  # closed with the loop
        return session

    def _in_thread(self, fn: Callable[..., HeadResult], *args: Any) -> asyncio.Future[HeadResult]:
        """Run a botocore request on a fallback thread, awaitable from the loop."""
        import asyncio

        with self._lock:
            if self._fallback_pool is None:
                self._fallback_pool = ThreadPoolExecutor(self.workers(FALLBACK_THREADS),
                                                         thread_name_prefix="dgtui-head-fallback")
            pool = self._fallback_pool
        return asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def _frozen_credentials(self) -> Any:
        creds = self.s3.botocore_session.get_credentials()
        return None if creds is None else creds.get_frozen_credentials()

    def _uses_proxy(self) -> bool:
        if getattr(self.client.meta.config, "proxies", None):
            return True
        url = self.s3.endpoint_url or self.client.meta.endpoint_url
        parts = urlsplit(url)
        proxies = urllib.request.getproxies()
        if not proxies.get(parts.scheme):
            return False
        return not urllib.request.proxy_bypass(parts.netloc)

    async def _send(self, url: str, headers: dict[str, str]) -> tuple[int, RawHeaders]:
        """Send one HEAD (on the loop); the status and the response headers, in order, as received (bytes)."""
        if self.use_wire:
            origin, path = _origin_and_path(url)
            wire = self._wires.get(origin) or self._wire_for(origin)
            if wire is not None:
                try:
                    return await wire.head(path, headers)
                except Exception as error:  # botocore repeats it (``_fast_head``), as a failure of aiohttp
                    if getattr(error, "surprise", False):
                        self._wire_surprised(error)
                    raise
        from yarl import URL

        session = self._aiohttp_session()
        # encoded=True: the path goes out exactly as signed, never re-quoted or normalised.
        async with session.head(URL(url, encoded=True), headers=headers, allow_redirects=False) as response:
            return response.status, response.raw_headers

    def _wire_for(self, origin: str) -> HeadWire | None:
        """The lean connection pool for ``origin`` (scheme://host[:port]), made on first use; None when
        the lean path cannot take it (then aiohttp sends)."""
        import ssl

        try:
            from .headwire import HeadWire
        except ImportError as exc:  # httptools missing from an install: aiohttp sends
            self.use_wire = False
            log.debug("lean HEADs off: %s", exc)
            return None

        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or parts.hostname is None:
            return None
        tls: ssl.SSLContext | None = None
        if parts.scheme == "https":
            if isinstance(self._tls, ssl.SSLContext):
                tls = self._tls
            else:  # verify=False, as aiohttp's ssl=False: encrypted, not verified
                tls = ssl.create_default_context()
                tls.check_hostname = False
                tls.verify_mode = ssl.CERT_NONE
        port = parts.port or (443 if parts.scheme == "https" else 80)
        wire = self._wires[origin] = HeadWire(parts.hostname, port, tls, parts.hostname, self.max_workers,
                                              self.s3.connect_timeout, self.s3.read_timeout)
        return wire

    def _preconnect(self, url: str, count: int) -> None:
        """Open ``count`` lean connections to ``url``'s host on the loop, without waiting for them: called
        as the HEAD that learns the URL goes out through botocore, so that the connections of the HEADs
        after it (a TCP and often a TLS handshake each) open during its round trip, not after it."""
        loop = self._loop
        if loop is None or count <= 0 or not self.use_wire:
            return

        async def connect() -> None:
            origin, _ = _origin_and_path(url)
            wire = self._wires.get(origin) or self._wire_for(origin)
            if wire is not None:
                opened = await wire.preconnect(count)
                log.debug("opened %d connections ahead of the HEADs", opened)

        import asyncio

        opening = connect()
        try:
            asyncio.run_coroutine_threadsafe(opening, loop)
        except RuntimeError:  # the loop stopped meanwhile: the HEADs open their own connections
            opening.close()

    def _wire_surprised(self, error: Exception) -> None:
        """An answer the lean client could not make sense of: after a few, aiohttp sends instead."""
        self.wire_surprises += 1
        log.debug("lean HEAD: %s", error)
        if self.wire_surprises >= WIRE_SURPRISE_LIMIT and self.use_wire:
            self.use_wire = False
            log.debug("lean HEADs off after %d answers they could not parse: aiohttp sends them",
                      self.wire_surprises)

    # -- how many in flight (AIMD) ----------------------------------------------
    async def _take_slot(self) -> int:
        """Wait for a slot under ``concurrency`` (on the loop); the throttling wave it was taken in."""
        import asyncio

        while self._in_flight >= self.concurrency:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._slot_waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                if not waiter.cancelled() and waiter.done():
                    self._wake_senders()  # woken and cancelled at once: another sender takes the slot
                raise
            finally:
                if waiter in self._slot_waiters:
                    self._slot_waiters.remove(waiter)
        self._in_flight += 1
        if self._in_flight > self.peak_in_flight:
            self.peak_in_flight = self._in_flight
        return self._wave

    def _give_slot(self) -> None:
        self._in_flight -= 1
        self._wake_senders()

    def _wake_senders(self) -> None:
        free = self.concurrency - self._in_flight
        while free > 0 and self._slot_waiters:
            waiter = self._slot_waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                free -= 1

    def _slow_down(self, wave: int, why: str) -> None:
        """A throttled answer: halve ``concurrency``, once per wave of HEADs sent before the last cut."""
        with self._lock:
            self.throttled_requests += 1
            if wave != self._wave:
                return  # sent before the last cut: that cut already answered it
            self._wave += 1
            self.concurrency = max(min(MIN_CONCURRENCY, self.max_workers), self.concurrency // 2)
            self.lowest_concurrency = min(self.lowest_concurrency, self.concurrency)
            self.concurrency_decreases += 1
            now = self.concurrency
        log.debug("fast HEADs throttled (%s): at most %d in flight now", why, now)

    def _speed_up(self) -> None:
        """An answered HEAD: one more in flight after a window of ``concurrency`` answers."""
        with self._lock:
            if self.concurrency >= self.max_workers:
                return
            self._answers_since_increase += 1
            if self._answers_since_increase < self.concurrency:
                return
            self._answers_since_increase = 0
            self.concurrency += 1
            self.concurrency_increases += 1
        self._wake_senders()

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def _answered(self) -> None:
        with self._lock:
            self.fast_requests += 1
            self._failures_in_a_row = 0

    def _fast_failed(self, why: str) -> None:
        """A fast request botocore had to answer (whatever botocore then made of it)."""
        with self._lock:
            self._failures_in_a_row += 1
            count = self._failures_in_a_row
        if count >= FALLBACK_LIMIT:
            self.disable(f"{count} fast HEADs in a row needed botocore (last: {why})")

    def _transient_failed(self, why: str) -> None:
        """A fast request that met a server error or a dropped connection: counted apart, and against
        the fast path only when such failures outnumber its answers."""
        with self._lock:
            self.transient_failures += 1
            failures, answered = self.transient_failures, self.fast_requests
        if failures >= TRANSIENT_LIMIT and failures > answered:
            self.disable(f"{failures} fast HEADs failed on server errors or dropped connections, "
                         f"more than the {answered} answered (last: {why})")

    def _on_before_send(self, request: Any, **_: Any) -> None:
        """Records the request botocore sends, on the thread that asked for it."""
        capture = self._capture
        if getattr(capture, "active", False):
            headers = request.headers
            capture.sent = (request.url, _text(headers.get("Authorization")), _text(headers.get("User-Agent")))
            ahead, capture.preconnect = getattr(capture, "preconnect", 0), 0  # once, not again on a retry
            self._preconnect(request.url, ahead)
        return None


def _new_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (its transports and TLS are C, not Python: less CPU for
    every HEAD), else asyncio's."""
    import asyncio

    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def within_open_files_limit(wanted: int) -> int:
    """``wanted`` connections, fewer where the process may open few files (a shell on macOS starts at 256):
    ``OPEN_FILES_SHARE`` of the limit, never under ``MIN_CONCURRENCY``. Past the limit every new connection
    and file fails, botocore's included."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (ImportError, OSError, ValueError):  # no such limit here (Windows)
        return wanted
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return wanted
    return max(1, min(wanted, max(MIN_CONCURRENCY, int(soft * OPEN_FILES_SHARE))))


def _origin_and_path(url: str) -> tuple[str, str]:
    """``scheme://host[:port]`` and the path (with any query) of an absolute URL."""
    start = url.find("/", url.find("//") + 2)
    return (url, "/") if start < 0 else (url[:start], url[start:])


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


def _stop_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread, sessions: list[Any],
               wires: dict[str, HeadWire] | None = None) -> None:
    """Close the sessions' connections, then stop the loop and its thread."""
    import asyncio

    if wires and loop.is_running():
        def close_wires() -> None:
            for wire in wires.values():
                wire.close()
            wires.clear()
        try:
            loop.call_soon_threadsafe(close_wires)
        except RuntimeError:  # the loop closed meanwhile
            pass
    for session in sessions if loop.is_running() else ():
        try:
            asyncio.run_coroutine_threadsafe(session.close(), loop).result(timeout=5)
        except Exception as exc:  # closing is best effort: the process may be ending
            log.debug("closing the fast HEAD session: %s", exc)
    loop.call_soon_threadsafe(loop.stop)
    if thread is not threading.current_thread():
        thread.join(timeout=5)
    if not loop.is_running():
        loop.close()


def _from_botocore(response: dict[str, Any] | None) -> HeadResult:
    if response is None:
        return None
    return response.get("ETag", ""), response.get("Metadata", {})


def sigv4_timestamp() -> str:
    """Now as SigV4 writes it (``20261207T054500Z``), formatted once a second."""
    global _stamp
    now = int(time.time())
    if _stamp[0] != now:
        _stamp = (now, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now)))
    return _stamp[1]


_stamp: tuple[int, str] = (-1, "")


def botocore_signed(signer: S3SigV4Auth, t: _Template, encoded: str, timestamp: str | None = None) -> dict[str, str]:
    """The headers botocore's signer gives a HEAD of an encoded key (``add_auth``, at ``timestamp`` if given)."""
    request = AWSRequest("HEAD", t.base_url + encoded, headers={"Host": t.host, "X-Amz-Content-SHA256": EMPTY_SHA256})
    if t.user_agent:
        request.headers["User-Agent"] = t.user_agent
    if timestamp is None:
        signer.add_auth(request)
    else:  # add_auth's steps, at a given date
        request.context["timestamp"] = timestamp
        signer._modify_request_before_signing(request)
        signature = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        signer._inject_signature_to_request(request, signature)
    return {name: _text(value) or "" for name, value in request.headers.items()}


class LeanHeadSigner:
    """SigV4 headers of a HEAD in one bucket, built from strings: what botocore's ``S3SigV4Auth`` builds
    through an ``AWSRequest`` (its headers an ``email.message``), its canonical request and the scope,
    in about a tenth of its CPU (measured: 86 us a HEAD through botocore). A HEAD has no query string,
    no body (the payload hash of nothing) and signs host, x-amz-content-sha256, x-amz-date and the
    session token, if any. ``checked`` only gives one whose headers for a key equal botocore's for the
    same key and date, so a botocore that signs differently keeps signing itself."""

    __slots__ = ("_access_key", "_secret", "_scope_tail", "_host", "_token", "_token_line", "_user_agent",
                 "_signed_headers", "_day", "_day_key")

    def __init__(self, signer: S3SigV4Auth, t: _Template):
        creds = signer.credentials
        self._access_key, self._secret, self._token = creds.access_key, creds.secret_key, creds.token
        self._scope_tail = f"/{signer._region_name}/{signer._service_name}/aws4_request"
        self._host, self._user_agent = t.host, t.user_agent
        # botocore's canonical header value: whitespace runs folded to one space
        self._token_line = f"x-amz-security-token:{' '.join(self._token.split())}\n" if self._token else ""
        self._signed_headers = "host;x-amz-content-sha256;x-amz-date" + (";x-amz-security-token" if self._token else "")
        self._day, self._day_key = "", b""

    @classmethod
    def checked(cls, signer: S3SigV4Auth, t: _Template, encoded: str) -> LeanHeadSigner | None:
        """A lean signer for ``signer``, or None when its headers for ``encoded`` differ from botocore's."""
        try:
            lean = cls(signer, t)
            stamp = sigv4_timestamp()
            if lean.headers(t.base_path + encoded, stamp) == botocore_signed(signer, t, encoded, stamp):
                return lean
            log.debug("fast HEADs signed by botocore: its headers differ from the lean signer's")
        except Exception as exc:  # a botocore whose signer looks different: it signs itself
            log.debug("fast HEADs signed by botocore: %s: %s", type(exc).__name__, exc)
        return None

    def headers(self, path: str, timestamp: str) -> dict[str, str]:
        """The headers of a HEAD of ``path`` (the URL's path, as encoded) signed at ``timestamp``."""
        day = timestamp[:8]
        if day != self._day:
            key = hmac.new(f"AWS4{self._secret}".encode(), day.encode(), hashlib.sha256).digest()
            for part in self._scope_tail[1:].split("/"):  # region, service, aws4_request
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._day, self._day_key = day, key
        canonical = (f"HEAD\n{path}\n\nhost:{self._host}\nx-amz-content-sha256:{EMPTY_SHA256}\n"
                     f"x-amz-date:{timestamp}\n{self._token_line}\n{self._signed_headers}\n{EMPTY_SHA256}")
        scope = day + self._scope_tail
        to_sign = f"AWS4-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(self._day_key, to_sign.encode(), hashlib.sha256).hexdigest()
        headers = {"Host": self._host}
        if self._user_agent:
            headers["User-Agent"] = self._user_agent
        headers["X-Amz-Date"] = timestamp
        if self._token:
            headers["X-Amz-Security-Token"] = self._token
        headers["X-Amz-Content-SHA256"] = EMPTY_SHA256
        headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={self._access_key}/{scope}, "
                                    f"SignedHeaders={self._signed_headers}, Signature={signature}")
        return headers


class _Template:
    """What a batch's fast requests are built from."""

    __slots__ = ("base_url", "base_path", "host", "region", "service", "user_agent")

    def __init__(self, base_url: str, base_path: str, host: str, region: str, service: str,
                 user_agent: str | None):
        self.base_url, self.base_path, self.host = base_url, base_path, host
        self.region, self.service, self.user_agent = region, service, user_agent


class HeadBatch:
    """HEADs in one bucket with one set of credentials. ``head(key)`` from any number of threads."""

    def __init__(self, owner: FastHead, bucket: str):
        self.owner = owner
        self.bucket = bucket
        self._learn_lock = threading.Lock()
        self._learned = False
        self._template: _Template | None = None
        self._creds: Any = None
        self._signer: S3SigV4Auth | None = None
        #: (botocore's signer, template, the lean signer checked against it or None): signing without botocore
        self._lean: tuple[S3SigV4Auth, _Template, LeanHeadSigner | None] | None = None
        if owner.enabled and owner._uses_proxy():
            owner.disable("requests go through a proxy")
        if owner.enabled:
            try:
                self._creds = owner._frozen_credentials()
            except Exception:  # credentials that cannot be loaded: botocore's request will say why
                self._creds = None
        self._adopt_learned()

    def _adopt_learned(self) -> None:
        """Take the URL an earlier batch in this bucket learned: the URL, region and service stay botocore's."""
        known = self.owner._templates.get(self.bucket)
        if known is not None and self._creds is not None:
            self._template, self._learned = known, True
            self._signer = CachedKeySigner(self._creds, known.service, known.region)

    @property
    def fast(self) -> bool:
        """Whether this batch's HEADs (after the first) go the fast way."""
        return self._creds is not None and self.owner.disabled_reason is None

    def head(self, key: str) -> HeadResult:
        """(ETag, metadata) of ``key``, or None when it does not exist; errors as ``DgError``."""
        if not self._learned:
            # One batch learns at a time: the others started meanwhile wait for its URL instead of
            # sending a learning HEAD of their own.
            with self._learn_lock, self.owner._learning:
                if not self._learned:
                    self._adopt_learned()
                if not self._learned:
                    try:
                        if self.fast:
                            return self._learn(key)
                    finally:
                        self._learned = True
        if self._template is None or not self.fast:
            return self._fallback(key)
        import asyncio

        loop = self.owner._event_loop()
        return asyncio.run_coroutine_threadsafe(self._head_async(key), loop).result()

    def head_many(self, keys: List[str], should_cancel: Callable[[], bool] | None = None
                  ) -> Iterator[List[Tuple[int, HeadResult]]]:
        """HEAD every key, at most ``concurrency`` (``max_workers`` unthrottled) in flight; yields groups
        of (index in ``keys``, answer) as they arrive. The first error ends it (the rest are cancelled) and is raised;
        so is ``CancelledError`` once ``should_cancel()`` says so."""
        if not keys:
            return
        start = 0
        if not self._learned:
            with self._learn_lock, self.owner._learning:  # learned by a batch read at once with this one?
                if not self._learned:
                    self._adopt_learned()
        if not self._learned or self._template is None or not self.fast:
            # Teaches the URL, or tells that the fast path is off; the connections of the HEADs after it
            # open while it is answered.
            self.owner._capture.preconnect = min(self.owner.max_workers, len(keys) - 1)
            try:
                yield [(0, self.head(keys[0]))]
            finally:
                self.owner._capture.preconnect = 0
            start = 1
        if start == len(keys):
            return
        import asyncio

        answers: queue.SimpleQueue[Tuple[int, HeadResult, BaseException | None]] = queue.SimpleQueue()

        todo = iter(range(start, len(keys)))

        async def worker() -> None:
            # ``max_workers`` of these share one iterator: as many HEADs in flight, each signed just
            # before it is sent, and memory that does not grow with the number of keys.
            for index in todo:
                try:
                    answers.put((index, await self._head_async(keys[index]), None))
                except Exception as exc:  # handed to the caller's thread, which raises it
                    answers.put((index, None, exc))
                    return

        async def every() -> None:
            # Twice as many senders as slots: a HEAD waiting out a throttled answer's backoff keeps its
            # sender, not its slot, and the other senders keep the slots busy meanwhile.
            senders = min(2 * self.owner.max_workers, len(keys) - start)
            await asyncio.gather(*(worker() for _ in range(senders)))

        running = asyncio.run_coroutine_threadsafe(every(), self.owner._event_loop())
        remaining = len(keys) - start
        group = max(64, self.owner.max_workers)
        try:
            while remaining:
                try:
                    got = [answers.get(timeout=0.1)]
                except queue.Empty:
                    if should_cancel and should_cancel():
                        raise CancelledError() from None
                    continue
                if remaining > 1 and got[0][2] is None and answers.qsize() < group // 2:
                    # Let answers gather: waking this thread for each one would take the GIL from the
                    # loop's thread thousands of times.
                    time.sleep(GATHER_SECONDS)
                while len(got) < group:  # bounded, so that progress and a cancel are seen between groups
                    try:
                        got.append(answers.get_nowait())
                    except queue.Empty:
                        break
                remaining -= len(got)
                for _, _, error in got:
                    if error is not None:
                        raise error
                yield [(index, answer) for index, answer, _ in got]
                if remaining and should_cancel and should_cancel():
                    raise CancelledError()
        finally:
            if not running.done():
                running.cancel()

    async def _head_async(self, key: str) -> HeadResult:
        template = self._template
        if template is None or not self.fast:  # switched off meanwhile
            return await self.owner._in_thread(self._fallback, key)
        try:
            return await self._fast_head(template, key)
        except _NeedsBotocore as unusual:
            return await self.owner._in_thread(self._settle, key, unusual.status, unusual.transient)

    def _settle(self, key: str, status: int | None, transient: bool = False) -> HeadResult:
        """Botocore's answer to a HEAD the fast path could not take; counts against the fast path
        unless the server or the network failed it."""
        why = f"HTTP {status}" if status else "no answer"
        log.debug("HEAD s3://%s/%s through botocore after a fast HEAD (%s)", self.bucket, key, why)
        result = self._fallback(key)  # raises whatever botocore's request ends in
        if transient:
            self.owner._transient_failed(why)
        elif not (status in (400, 403) and self._credentials_rotated()):
            self.owner._fast_failed(why)
        return result

    def _credentials_rotated(self) -> bool:
        """Whether the credentials changed since this batch took them (then sign with the new ones)."""
        try:
            fresh = self.owner._frozen_credentials()
        except Exception:
            return False
        with self._learn_lock:
            if fresh is None or fresh == self._creds or self._template is None:
                return False
            self._creds = fresh
            self._signer = CachedKeySigner(fresh, self._template.service, self._template.region)
        return True

    # -- the URL template ----------------------------------------------------
    def _learn(self, key: str) -> HeadResult:
        """HEAD ``key`` through botocore and take the URL, region and service of the request it sent
        (its last attempt, after retries or a redirect) as this batch's template."""
        owner = self.owner
        owner._count("learn_requests")
        capture = owner._capture
        capture.active, capture.sent = True, None
        try:
            return _from_botocore(owner.s3.head(self.bucket, key))
        finally:
            capture.active = False
            sent, capture.sent = capture.sent, None
            if sent is not None:
                self._template = self._template_from(key, *sent)
                if self._template is not None:
                    self.owner._templates[self.bucket] = self._template

    def _template_from(self, key: str, url: str, authorization: str | None,
                       user_agent: str | None) -> _Template | None:
        owner = self.owner
        match = _SIGV4_AUTH.match(authorization or "")
        encoded = encode_key(key)
        parts = urlsplit(url)
        if match is None:
            owner.disable("botocore's requests are not signed with SigV4")
        elif match.group(2) != "s3":
            owner.disable(f"botocore signs for the service {match.group(2)!r}, not 's3'")
        elif parts.query or parts.fragment:
            owner.disable("botocore's HEAD URL carries a query string")
        elif not (url.endswith(encoded) and parts.path.endswith(encoded)):
            owner.disable("botocore's HEAD URL does not end in the key as encoded here")
        else:
            self._signer = CachedKeySigner(self._creds, match.group(2), match.group(1))
            return _Template(base_url=url[: len(url) - len(encoded)],
                             base_path=parts.path[: len(parts.path) - len(encoded)],
                             host=host_of(url), region=match.group(1), service=match.group(2),
                             user_agent=user_agent)
        return None

    # -- requests --------------------------------------------------------------
    def _fallback(self, key: str) -> HeadResult:
        self.owner._count("fallback_requests")
        if not self.owner.enabled:
            log.debug("HEAD s3://%s/%s through botocore (fast HEADs off)", self.bucket, key)
        return _from_botocore(self.owner.s3.head(self.bucket, key))

    def signed_request(self, key: str, t: _Template | None = None) -> tuple[str, dict[str, str]]:
        """The URL and headers of a HEAD of ``key``, signed as botocore's SigV4 signer signs it.

        Built by ``LeanHeadSigner`` once its headers for this batch's first key were found equal to
        botocore's own (for the same date); by botocore's signer when they were not.
        """
        t = t or self._template
        signer = self._signer
        assert t is not None and signer is not None
        encoded = encode_key(key)
        url = t.base_url + encoded
        lean = self._lean
        if lean is None or lean[0] is not signer or lean[1] is not t:
            lean = self._lean = (signer, t, LeanHeadSigner.checked(signer, t, encoded))
        if lean[2] is not None:
            return url, lean[2].headers(t.base_path + encoded, sigv4_timestamp())
        return url, botocore_signed(signer, t, encoded)

    def answer(self, status: int, raw: RawHeaders) -> HeadResult:
        """What a fast answer means: (ETag, metadata), None for a 404; ``_NeedsBotocore`` otherwise.

        The headers are read as botocore reads them, in one pass over the bytes received: decoded as
        http.client decodes them (Latin-1, byte for byte), a name received more than once (in any case)
        merged into one value joined by ", " under its first spelling (urllib3's ``itermerged``), and
        Metadata named as received with the prefix cut off (botocore's parser).
        """
        if status == 200:
            etag: str | None = None
            metadata: dict[str, str] = {}
            spelled: dict[bytes, str] = {}  # a metadata name (lowercase) -> its key in ``metadata``
            for name, value in raw:
                low = name.lower()
                if low[:11] == _META_PREFIX_BYTES:
                    text = value.decode("latin-1")
                    known = spelled.get(low)
                    if known is None:
                        spelled[low] = known = name[11:].decode("latin-1")
                        metadata[known] = text
                    else:
                        metadata[known] = f"{metadata[known]}, {text}"
                elif low == b"etag":
                    text = value.decode("latin-1")
                    etag = text if etag is None else f"{etag}, {text}"
            if etag:
                self.owner._answered()
                return etag, metadata
        elif status == 404:
            self.owner._answered()
            return None
        raise _NeedsBotocore(status, transient=status in TRANSIENT_STATUSES or status in THROTTLE_STATUSES)

    async def _fast_head(self, t: _Template, key: str) -> HeadResult:
        import asyncio

        owner = self.owner
        status: int | None = None
        for attempt in range(THROTTLE_ATTEMPTS):
            url, headers = self.signed_request(key, t)  # signed again for each send: its date is part of it
            wave = await owner._take_slot()
            try:
                status, received = await owner._send(url, headers)
            except Exception as exc:  # connection trouble (or anything else): botocore retries and explains
                log.debug("fast HEAD %s: %s: %s", url, type(exc).__name__, exc)
                raise _NeedsBotocore(None, transient=True) from None
            finally:
                owner._give_slot()
            if log.isEnabledFor(logging.DEBUG):
                log.debug("fast HEAD %s %s -> %s %s", url, headers, status,
                          {n.decode("latin-1"): v.decode("latin-1") for n, v in received})
            if status not in THROTTLE_STATUSES:
                result = self.answer(status, received)
                owner._speed_up()
                return result
            owner._slow_down(wave, f"HTTP {status}")
            owner.backing_off += 1
            try:
                await asyncio.sleep(backoff_seconds(attempt))
            finally:
                owner.backing_off -= 1
        raise _NeedsBotocore(status, transient=True)  # still throttled: botocore's retries take it from here
