"""Errors raised by the dgtui core.

Every error says in one line what went wrong and, where there is one, on
which key. Messages never contain credentials. Callers (the CLI and the app)
show ``str(error)`` as it is.
"""

from __future__ import annotations

XDELTA3_INSTALL_HINT = "sudo apt-get install xdelta3"
#: the error code dgtui's own listing parse gives a 200 whose body is not XML (no S3 server sends it)
UNREADABLE_LISTING_CODE = "DgtuiUnreadableListingPage"


class DgError(Exception):
    """Base class of every error the core raises on purpose."""

    #: short machine-readable kind, used by the CLI's --json output
    kind = "error"
    #: the operation whose failure the message names ("list", "delete"...), when it names one
    action: str | None = None

    def __init__(self, message: str, *, key: str | None = None, bucket: str | None = None):
        super().__init__(message)
        self.message = message
        self.key = key
        self.bucket = bucket

    def __str__(self) -> str:
        return self.message


class NotFoundError(DgError, FileNotFoundError):
    """A key, object or bucket that is not there.

    Also a ``FileNotFoundError``, as DeltaGlider's ``head_object`` and
    ``get_object_info`` raise, so existing ``except`` clauses keep working.
    """

    kind = "not_found"


class BucketNotFoundError(NotFoundError):
    kind = "bucket_not_found"


class BucketNotEmptyError(DgError, RuntimeError):
    """Also a ``RuntimeError``, which DeltaGlider raises for a bucket that is not empty."""

    kind = "bucket_not_empty"


class AccessDeniedError(DgError):
    kind = "access_denied"


class CredentialsError(DgError):
    """No credentials, unknown access key, bad signature or expired token."""

    kind = "credentials"


class ConnectionFailedError(DgError):
    """The endpoint could not be reached or the connection dropped."""

    kind = "connection"


class TimedOutError(ConnectionFailedError):
    """The server kept the connection open but sent nothing (or next to nothing) for the stall limit."""

    kind = "timed_out"


class NotS3Error(ConnectionFailedError):
    """The endpoint answered, but not as an S3 server does (a web page, a portal)."""

    kind = "not_s3"


class ListingLoopError(DgError):
    """The server's listing does not advance (a continuation token or a page comes again): it would never end."""

    kind = "listing_loop"


class IntegrityError(DgError):
    """Bytes did not match the sha256 they were stored with."""

    kind = "integrity"


class RecompressionError(IntegrityError):
    """A delta written without ``-D`` by DeltaGlider whose rebuilt file differs.

    xdelta3 decompressed the gzip/bzip2/xz input before diffing and recompresses
    on decode; the recompressed bytes differ from the original upload. The
    stored, decompressed payload can still be rescued (``rescue=True``).
    """

    kind = "recompression"

    def __init__(self, message: str, *, compressor: str, key: str | None = None,
                 bucket: str | None = None):
        super().__init__(message, key=key, bucket=bucket)
        self.compressor = compressor


class ExpansionError(IntegrityError):
    """A delta rebuilds to more bytes than its metadata records (or, recording none, than the configured cap).

    The decode was stopped as soon as its output passed ``limit`` and what it wrote was removed.
    """

    kind = "expansion"

    def __init__(self, message: str, *, limit: int, key: str | None = None, bucket: str | None = None):
        super().__init__(message, key=key, bucket=bucket)
        self.limit = limit


class MetadataInvalidError(DgError):
    kind = "metadata_invalid"


class ProxyEncryptedError(DgError):
    """The object's body is encrypted by deltaglider_proxy with its own key; only the proxy can read it."""

    kind = "proxy_encrypted"

    def __init__(self, message: str, *, scheme: str, key: str | None = None, bucket: str | None = None):
        super().__init__(message, key=key, bucket=bucket)
        self.scheme = scheme


class XdeltaMissingError(DgError):
    kind = "xdelta3_missing"

    def __init__(self, message: str | None = None):
        super().__init__(message or f"xdelta3 is not installed; install it with: {XDELTA3_INSTALL_HINT}")


class CodecError(DgError):
    """xdelta3 failed to encode or decode."""

    kind = "codec"


class InvalidKeyError(DgError, ValueError):
    """A key or URL that dgtui refuses to write or cannot parse (also a ``ValueError``, as in DeltaGlider)."""

    kind = "invalid_key"


class KeyRewrittenError(InvalidKeyError):
    """The server stored an upload under another key than the one asked for (``stored_as``, when found)."""

    kind = "key_rewritten"

    def __init__(self, message: str, *, bucket: str | None = None, key: str | None = None,
                 stored_as: str | None = None):
        super().__init__(message, bucket=bucket, key=key)
        self.stored_as = stored_as


class DestinationExistsError(DgError):
    kind = "destination_exists"


class SourceFileError(DgError, OSError):
    """A local file to upload cannot be read (also an ``OSError``, as DeltaGlider raises)."""

    kind = "source_file"


class SourceNotFoundError(SourceFileError, FileNotFoundError):
    """The local file to upload does not exist (also a ``FileNotFoundError``, as in DeltaGlider)."""

    kind = "source_not_found"


class SourceChangedError(SourceFileError):
    """The local file changed while it was being uploaded; what was written for it has been removed."""

    kind = "source_changed"


class UnsupportedParameterError(DgError, TypeError):
    """A keyword argument the SDK does not support (also a ``TypeError``, as Python raises for one)."""

    kind = "unsupported_parameter"


class MetadataError(DgError, ValueError):
    """Metadata S3 cannot carry (non-ASCII, too large); nothing was written."""

    kind = "metadata"


class LocalWriteError(DgError):
    """The local destination could not be written (disk full, permissions)."""

    kind = "local_write"

    def __init__(self, message: str, *, reason: str | None = None, key: str | None = None,
                 bucket: str | None = None):
        super().__init__(message, key=key, bucket=bucket)
        #: the operating system's words, e.g. "No space left on device"
        self.reason = reason


class CancelledError(DgError):
    kind = "cancelled"

    def __init__(self, message: str = "cancelled", **kw):
        super().__init__(message, **kw)


class EndpointURLError(DgError, ValueError):
    """An endpoint URL that is not an http:// or https:// URL (also a ``ValueError``, as botocore raises)."""

    kind = "endpoint_url"


def endpoint_url_problem(url: str | None) -> str | None:
    """Why ``url`` cannot be an S3 endpoint URL, with the fix; None when it can."""
    from urllib.parse import urlsplit

    if url is None:
        return None
    shown = url.encode("unicode_escape").decode("ascii")[:120]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        return (f"the endpoint URL '{shown}' is not a URL: give the server's address with its scheme, e.g. "
                "http://127.0.0.1:9000 or https://s3.example.com")
    return None


def tls_failure(host: str, detail: str) -> ConnectionFailedError:
    """An https:// endpoint whose TLS handshake failed: name the likely cause and the fix."""
    lower = detail.lower()
    if "wrong version number" in lower or "record layer failure" in lower or "unknown protocol" in lower \
            or "http request" in lower:
        plain = host.replace("https://", "http://", 1) if host.startswith("https://") else "an http:// URL"
        return ConnectionFailedError(f"{host} does not speak TLS (it looks like a plain HTTP server): use {plain} "
                                     "as the endpoint URL")
    if "certificate" in lower:
        return ConnectionFailedError(f"the TLS certificate of {host} is not trusted: set AWS_CA_BUNDLE to the "
                                     "CA certificate that signed it (or fix the server's certificate)")
    return ConnectionFailedError(f"the TLS handshake with {host} failed; check that the endpoint URL's scheme "
                                 "(https:// or http://) and port match the server")


_RUNTIME_KINDS: dict[type, type] = {}


def as_runtime_error(exc: DgError, message: str | None = None) -> DgError:
    """``exc``, also made a ``RuntimeError``, for the bucket calls where DeltaGlider raises one.

    The class stays a subclass of the original, so ``except AccessDeniedError``
    still matches; ``message`` (e.g. "Failed to delete bucket x: ...") replaces the text.
    """
    cls = type(exc)
    if not isinstance(exc, RuntimeError):
        combined = _RUNTIME_KINDS.get(cls)
        if combined is None:
            combined = _RUNTIME_KINDS[cls] = type(cls.__name__, (cls, RuntimeError), {"__module__": cls.__module__})
        exc.__class__ = combined
    if message is not None:
        exc.message = message
        exc.args = (message,)
    return exc
