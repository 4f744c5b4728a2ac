"""HEAD requests for object metadata without botocore's per-call machinery.

Detailed statistics HEAD every delta of a bucket. Through botocore each HEAD
costs about 2 ms of client CPU (event hooks, a SigV4 signature that derives
its HMAC key anew, model-driven header parsing), all of it under the GIL, so
thousands of HEADs are bound by the client's CPU whatever the thread count.

``FastHead`` signs HEADs itself, with a signing key derived once per day, and
sends them through botocore's own HTTP session (so TLS verification, CA
bundle, timeouts and the connection pool stay botocore's). Everything it does
not know how to handle is handed back to ``S3Access.head``:

* the URL is learned from botocore: the first HEAD of a batch goes through
  botocore while a hook records the request it sends, and the prefix before
  the encoded key becomes the template (path or virtual-hosted style, port,
  endpoint path are whatever botocore chose); that request also tells which
  region and service botocore signed for;
* a 200 with an ETag and a 404 are answered directly; anything else (403,
  400, redirects, 5xx, connection errors, a 200 without ETag) is repeated
  through ``S3Access.head``, which has retries, redirects, the explanation of
  a bare 403 and the translation into ``DgError``;
* the fast path stays off for a client that is not signed with SigV4
  (anonymous or another signature version), that goes through a proxy, whose
  URL does not end in the key as encoded here or carries a query string, or
  whose fast requests were refused several times in a row while botocore's
  identical requests succeeded (the signature evidently does not suit this
  server).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
import time
from typing import Any, Dict, Optional, Tuple
from urllib.parse import quote, urlsplit

import botocore
from botocore.awsrequest import AWSPreparedRequest
from urllib3.util.retry import Retry

from . import headloop
from .headloop import NEEDS_BOTOCORE
from .s3 import S3Access

#: a HEAD's payload hash: sha256 of nothing
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
#: fast requests refused in a row (while botocore's succeed) before the fast path is switched off
MISMATCH_LIMIT = 3
#: statuses that, when botocore then succeeds, say the fast request itself was wrong
_MISMATCH_STATUSES = frozenset({301, 307, 400, 403})
_META_PREFIX = "x-amz-meta-"
_SIGV4_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=[^/]*/\d{8}/([^/]+)/([^/]+)/aws4_request,")
_SIGV4_VERSIONS = (None, "s3v4", "v4")
#: botocore sends with urllib3's retries off (its own retry logic is in the fallback)
_NO_RETRIES = Retry(False)

#: what a HEAD answers: (ETag, metadata) for an object, None for a missing one
HeadResult = Optional[Tuple[str, Dict[str, str]]]


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


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived key for one day, region and service."""
    k = _hmac(f"AWS4{secret}".encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


class FastHead:
    """Metadata HEADs for one ``S3Access``; thread-safe. Use ``batch(bucket)`` per run of HEADs."""

    def __init__(self, s3: S3Access):
        self.s3 = s3
        self.client = s3.client
        self._lock = threading.Lock()
        self._capture = threading.local()
        self._signing_keys: dict[tuple[str, str, str, str], bytes] = {}
        #: HEADs answered by the fast path (200 with an ETag, or 404)
        self.fast_requests = 0
        #: HEADs repeated through ``S3Access.head`` after a fast attempt or with the fast path off
        self.fallback_requests = 0
        #: HEADs sent through botocore to learn a batch's URL template
        self.learn_requests = 0
        self._mismatches = 0
        self.disabled_reason: str | None = None
        self.http_session = getattr(getattr(self.client, "_endpoint", None), "http_session", None)
        self.pool_size: int | None = getattr(self.http_session, "_max_pool_connections", None) \
            or getattr(self.client.meta.config, "max_pool_connections", None)
        # The urllib3 pool manager botocore's session sends through when no proxy is used
        # (see its send()): HEADs go straight to its pools, skipping botocore's response
        # objects; without it they go through the session's send().
        session = self.http_session
        self._pool_manager = getattr(session, "_manager", None) if all(
            hasattr(session, name) for name in ("_manager", "_setup_ssl_cert", "_verify")) else None
        signature_version = getattr(self.client.meta.config, "signature_version", None)
        if signature_version is botocore.UNSIGNED or signature_version not in _SIGV4_VERSIONS:
            self.disable("the client does not sign with SigV4")
        elif self.http_session is None or not hasattr(self.http_session, "send"):
            self.disable("botocore's HTTP session is not reachable")
        elif self._signer_credentials_holder() is None:
            self.disable("botocore's request signer is not reachable")
        else:
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

    def workers(self, wanted: int) -> int:
        """``wanted`` threads, bounded by the HTTP pool (more would open connections urllib3 then discards)."""
        return max(1, min(wanted, self.pool_size)) if self.pool_size else max(1, wanted)

    def batch(self, bucket: str) -> "HeadBatch":
        """A run of HEADs in ``bucket``; credentials and proxy settings are read once, here."""
        return HeadBatch(self, bucket)

    def _signer_credentials_holder(self) -> Any:
        return getattr(self.client, "_request_signer", None)

    def _frozen_credentials(self) -> Any:
        signer = self._signer_credentials_holder()
        creds = getattr(signer, "_credentials", None)
        if creds is None:
            return None
        return creds.get_frozen_credentials()

    def _uses_proxy(self) -> bool:
        config = getattr(self.http_session, "_proxy_config", None)
        if config is None:
            return bool(getattr(self.client.meta.config, "proxies", None))
        return bool(config.proxy_url_for(self.s3.endpoint_url or self.client.meta.endpoint_url))

    def _key_for(self, secret: str, date: str, region: str, service: str) -> bytes:
        cache_key = (secret, date, region, service)
        key = self._signing_keys.get(cache_key)
        if key is None:
            key = signing_key(secret, date, region, service)
            if len(self._signing_keys) > 8:
                self._signing_keys.clear()
            self._signing_keys[cache_key] = key
        return key

    def _send(self, url: str, path: str, headers: dict[str, str]) -> tuple[int, Any]:
        """Send one HEAD as botocore's HTTP session does; the status and the response headers.

        The response has no body: reading it (urllib3's preload, or the session's send)
        hands the connection back to the pool.
        """
        manager = self._pool_manager
        assert self.http_session is not None
        if manager is None:
            response = self.http_session.send(AWSPreparedRequest("HEAD", url, headers, None, False))
            return response.status_code, response.headers
        pool = manager.connection_from_url(url)
        self.http_session._setup_ssl_cert(pool, url, self.http_session._verify)
        response = pool.urlopen("HEAD", path, headers=headers, retries=_NO_RETRIES, assert_same_host=False,
                                preload_content=True, decode_content=False, enforce_content_length=False)
        return response.status, response.headers

    def _count(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def _on_before_send(self, request: Any, **_: Any) -> None:
        """Records the request botocore sends, on the thread that asked for it."""
        if getattr(self._capture, "active", False):
            headers = request.headers
            self._capture.sent = (request.url, _text(headers.get("Authorization")), _text(headers.get("User-Agent")))
        return None


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value


def _from_botocore(response: dict[str, Any] | None) -> Any:
    if response is None:
        return None
    return response.get("ETag"), response.get("Metadata", {})


class _Template:
    """What a batch's fast requests are built from."""

    __slots__ = ("base_url", "base_path", "host", "region", "service", "user_agent")

    def __init__(self, base_url: str, base_path: str, host: str, region: str, service: str,
                 user_agent: str | None):
        self.base_url, self.base_path, self.host = base_url, base_path, host
        self.region, self.service, self.user_agent = region, service, user_agent


class _Signing:
    """One set of credentials, ready to sign with (swapped as a whole when they rotate)."""

    __slots__ = ("creds", "access_key", "secret_key", "token", "header_lines", "signed_headers")

    def __init__(self, creds: Any):
        self.creds = creds
        self.access_key, self.secret_key = creds.access_key, creds.secret_key
        self.token = creds.token or None
        if self.token:
            # botocore signs header values with runs of whitespace folded
            self.header_lines = f"x-amz-security-token:{' '.join(self.token.split())}\n"
            self.signed_headers = "host;x-amz-content-sha256;x-amz-date;x-amz-security-token"
        else:
            self.header_lines = ""
            self.signed_headers = "host;x-amz-content-sha256;x-amz-date"


class HeadBatch:
    """HEADs in one bucket with one set of credentials. ``head(key)`` from any number of threads."""

    def __init__(self, owner: FastHead, bucket: str):
        self.owner = owner
        self.bucket = bucket
        self._learn_lock = threading.Lock()
        self._learned = False
        self._template: _Template | None = None
        self._signing: _Signing | None = None
        if owner.enabled and owner._uses_proxy():
            owner.disable("requests go through a proxy")
        if owner.enabled:
            try:
                creds = owner._frozen_credentials()
            except Exception:  # credentials that cannot be loaded: botocore's request will say why
                creds = None
            if creds is not None:
                self._signing = _Signing(creds)

    @property
    def fast(self) -> bool:
        """Whether this batch's HEADs (after the first) go the fast way."""
        return self._signing is not None and self.owner.disabled_reason is None

    def head(self, key: str) -> HeadResult:
        """(ETag, metadata) of ``key``, or None when it does not exist; errors as ``DgError``."""
        if not self._learned:
            with self._learn_lock:
                if not self._learned:
                    try:
                        if self.fast:
                            return self._learn(key)
                    finally:
                        self._learned = True
        template = self._template
        if template is None or not self.fast:
            return self._fallback(key)
        return self._fast_head(template, key)

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
            return _Template(base_url=url[: len(url) - len(encoded)],
                             base_path=parts.path[: len(parts.path) - len(encoded)],
                             host=host_of(url), region=match.group(1), service=match.group(2),
                             user_agent=user_agent)
        return None

    # -- requests --------------------------------------------------------------
    def _fallback(self, key: str) -> HeadResult:
        self.owner._count("fallback_requests")
        return _from_botocore(self.owner.s3.head(self.bucket, key))

    def signed_request(self, key: str, t: "_Template | None" = None) -> tuple[str, dict[str, str]]:
        """The path and headers of a SigV4-signed HEAD of ``key`` (Host is the template's)."""
        t = t or self._template
        owner = self.owner
        sig = self._signing
        assert t is not None and sig is not None
        encoded = encode_key(key)
        amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        date = amz_date[:8]
        scope = f"{date}/{t.region}/{t.service}/aws4_request"
        canonical = (f"HEAD\n{t.base_path}{encoded}\n\n"
                     f"host:{t.host}\nx-amz-content-sha256:{EMPTY_SHA256}\nx-amz-date:{amz_date}\n{sig.header_lines}"
                     f"\n{sig.signed_headers}\n{EMPTY_SHA256}")
        string_to_sign = (f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n"
                          f"{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}")
        signature = hmac.new(owner._key_for(sig.secret_key, date, t.region, t.service),
                             string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        headers = {
            "X-Amz-Date": amz_date,
            "X-Amz-Content-SHA256": EMPTY_SHA256,
            "Authorization": (f"AWS4-HMAC-SHA256 Credential={sig.access_key}/{scope}, "
                              f"SignedHeaders={sig.signed_headers}, Signature={signature}"),
        }
        if sig.token:
            headers["X-Amz-Security-Token"] = sig.token
        if t.user_agent:
            headers["User-Agent"] = t.user_agent
        return t.base_path + encoded, headers

    def answer(self, status: int, pairs: Any) -> Any:
        """What a fast answer means: (ETag, metadata), None for a 404, or ``NEEDS_BOTOCORE``."""
        if status == 200:
            etag = None
            metadata = {}
            for name, value in pairs:
                low = name.lower()
                if low[:11] == _META_PREFIX:
                    # As botocore's parser builds Metadata: the name as received, the prefix cut off.
                    metadata[name[11:]] = value
                elif low == "etag":
                    etag = value
            if etag:
                self._answered()
                return etag, metadata
        elif status == 404:
            self._answered()
            return None
        return NEEDS_BOTOCORE

    def after_fast_failure(self, key: str, status: int | None) -> HeadResult:
        """HEAD ``key`` through botocore after a fast attempt got ``status`` (None: no answer)."""
        result = self._fallback(key)  # raises whatever botocore's request ends in
        if status in _MISMATCH_STATUSES and self._signing is not None:
            self._refused_but_botocore_succeeded(self._signing, status)
        return result

    @property
    def loop_base_url(self) -> str | None:
        """The endpoint the single-thread loop may talk to, or None (no template, or not plain HTTP)."""
        t = self._template
        if t is None or not self.fast or not headloop.supports(t.base_url):
            return None
        return t.base_url

    def _fast_head(self, t: _Template, key: str) -> HeadResult:
        path, headers = self.signed_request(key, t)
        try:
            status, received = self.owner._send(t.base_url + encode_key(key), path, headers)
        except Exception:  # connection trouble (or anything else): botocore retries and explains
            return self._fallback(key)
        # A repeated header's values are joined with ", " (urllib3's itermerged, which is
        # what botocore's HeadersDict copies).
        pairs = received.itermerged() if hasattr(received, "itermerged") else received.items()
        result = self.answer(status, pairs)
        if result is NEEDS_BOTOCORE:
            return self.after_fast_failure(key, status)
        return result

    def _answered(self) -> None:
        owner = self.owner
        with owner._lock:
            owner.fast_requests += 1
            owner._mismatches = 0

    def _refused_but_botocore_succeeded(self, used: _Signing, status: int) -> None:
        """A fast request was refused where botocore's was not: rotated credentials, or a signature
        this server does not accept. The fast path goes off after ``MISMATCH_LIMIT`` in a row."""
        owner = self.owner
        try:
            fresh = owner._frozen_credentials()
        except Exception:
            fresh = None
        with owner._lock:
            if fresh is not None and fresh != used.creds:
                if self._signing is used:
                    self._signing = _Signing(fresh)
                owner._mismatches = 0
                return
            owner._mismatches += 1
            if owner._mismatches >= MISMATCH_LIMIT:
                owner.disable(f"the server refused {owner._mismatches} fast HEADs in a row "
                              f"(HTTP {status}) that it accepted from botocore")
