"""The one place that talks to S3: a botocore client, and errors made plain.

Every call goes through ``S3Access``, which turns botocore's exceptions into
``DgError`` subclasses with one-line messages naming the bucket and key.
Messages never carry credentials: botocore's own texts do not, and we add
only the endpoint, bucket and key.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterator

import botocore.exceptions as bexc
import botocore.loaders
import botocore.session
import botocore.utils
import urllib3.exceptions as urllib3_exc
from botocore.config import Config

from . import errors, logs
from .config import stall_seconds
from .listing import install_fast_list_parser
from .text import display_key, where

MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024
TRANSFER_CONCURRENCY = 4
STREAM_CHUNK = 1024 * 1024
#: a download in ranged parts (``get_to_file_in_parts``): the part, the smallest object split, parts held at most
PARALLEL_GET_PART = 8 * 1024 * 1024
PARALLEL_GET_MIN = 4 * PARALLEL_GET_PART
PARTS_AHEAD = 4
#: a download that receives less than this in the stall limit (``config.stall_seconds``) has stalled
STALL_MIN_BYTES = 64 * 1024

log = logging.getLogger("dgtui.s3")

ProgressFn = Callable[[int], None]
ShouldCancel = Callable[[], bool]

_CREDENTIAL_CODES = {
    "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
    "TokenRefreshRequired", "AuthorizationHeaderMalformed", "InvalidClientTokenId",
    "ExpiredTokenException", "UnrecognizedClientException",
}
_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}


#: where ``S3Access.head`` notes what it could not read of an answer (the rest of the answer is kept)
ANSWER_PROBLEM = "DgtuiAnswerProblem"


class UnparsedTime(str):
    """A timestamp in an answer that is not a date: kept as its text, for the object's finding."""


def lenient_timestamp(value: Any) -> Any:
    """botocore's timestamp parser, except that a value that is no date does not end the whole call."""
    try:
        return botocore.utils.parse_timestamp(value)
    except (ValueError, TypeError, OverflowError):
        return UnparsedTime(value)


def _refuse_userinfo(endpoint_url: str | None) -> None:
    """An endpoint URL with a user name or password is refused before any request.

    botocore takes it as it is and repeats it in every error message and
    log line; S3 signs requests with AWS credentials and has no use for it.
    """
    if endpoint_url and logs.has_userinfo(endpoint_url):
        raise errors.ConnectionFailedError(
            f"the endpoint URL {display_key(logs.redact_url(endpoint_url))} holds a user name or password; S3 "
            f"requests are signed with AWS credentials instead: give the endpoint without them")


def redact_credential_error_source() -> str:
    """Names what to check for credentials without showing any of them."""
    return ("check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, "
            "AWS_PROFILE, or ~/.aws/credentials")


def translate(exc: BaseException, *, bucket: str | None = None, key: str | None = None,
              endpoint: str | None = None, action: str = "request", timeout: float | None = None) -> errors.DgError:
    """The DgError that says in one line what ``exc`` means (``timeout``: the read timeout, to name it)."""
    if isinstance(exc, errors.DgError):
        return exc
    place = where(bucket, key)
    host = display_key(logs.redact_url(endpoint)) if endpoint else "the S3 endpoint"
    if isinstance(exc, (bexc.NoCredentialsError, bexc.PartialCredentialsError)):
        return errors.CredentialsError(f"no usable AWS credentials were found: {redact_credential_error_source()}")
    if isinstance(exc, bexc.ProfileNotFound):
        return errors.CredentialsError(f"AWS profile not found: {exc.kwargs.get('profile', '?')}; check ~/.aws/config")
    if isinstance(exc, (bexc.TokenRetrievalError, bexc.SSOTokenLoadError, bexc.UnauthorizedSSOTokenError)):
        return errors.CredentialsError("the SSO token is missing or expired: run `aws sso login`")
    if isinstance(exc, bexc.SSLError):
        return errors.tls_failure(host, str(exc))
    if isinstance(exc, (bexc.EndpointConnectionError, bexc.ConnectTimeoutError)):
        return errors.ConnectionFailedError(
            f"cannot reach {host}: check the endpoint URL and that the server is running")
    if isinstance(exc, bexc.ReadTimeoutError):
        # Nothing dropped: the server kept the connection open and sent nothing.
        waited = f"for {timeout:g} s" if timeout else "within the stall limit"
        return errors.TimedOutError(
            f"{action} of {place} timed out: {host} sent nothing {waited} (the stall limit: stall_seconds in "
            f"the settings file or DGTUI_STALL_SECONDS); retry", bucket=bucket, key=key)
    if isinstance(exc, (bexc.ConnectionClosedError, bexc.ResponseStreamingError,
                        bexc.IncompleteReadError, bexc.HTTPClientError, ConnectionError)):
        return errors.ConnectionFailedError(f"the connection to {host} dropped during {action} on {place}; retry")
    if isinstance(exc, bexc.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = err.get("Message") or ""
        if code in _CREDENTIAL_CODES:
            what = {"ExpiredToken": "the session token has expired",
                    "InvalidAccessKeyId": "the access key is not known to the server",
                    "SignatureDoesNotMatch": "the secret key does not match the access key",
                    }.get(code, f"credentials rejected ({code})")
            return errors.CredentialsError(f"{what} at {host}: {redact_credential_error_source()}")
        if code == "NoSuchBucket":
            return errors.BucketNotFoundError(f"bucket not found: {where(bucket)}", bucket=bucket)
        if (code in _NOT_FOUND_CODES or status == 404) and bucket is None and key is None:
            # The bucket list itself is "not found": this is no S3 server, or not at this URL.
            return errors.NotS3Error(f"{host} answered 404 Not Found to a request for its bucket list: it is not an "
                                     "S3 endpoint at this URL; check the endpoint URL (its host, port and path)")
        if code in _NOT_FOUND_CODES or status == 404:
            return errors.NotFoundError(f"not found: {place}", bucket=bucket, key=key)
        if code in ("AccessDenied", "AllAccessDisabled", "403") or status == 403:
            return errors.AccessDeniedError(f"access denied to {place}: check this identity's permissions",
                                            bucket=bucket, key=key)
        if code == "BucketNotEmpty":
            return errors.BucketNotEmptyError(f"bucket {where(bucket)} is not empty", bucket=bucket)
        if code == errors.UNREADABLE_LISTING_CODE:  # set by dgtui's own listing parse, not by a server
            return errors.NotS3Error(f"{action} failed on {place}: {message}", bucket=bucket, key=key)
        text = f"{action} failed on {place}: {code or status}"
        if message:
            text += f": {display_key(message, 160)}"
        return _naming(errors.DgError(text, bucket=bucket, key=key), action)
    if isinstance(exc, OSError):
        return errors.LocalWriteError(f"local file error: {exc.strerror or exc}")
    return _naming(errors.DgError(f"{action} failed on {place}: {type(exc).__name__}: {display_key(str(exc), 160)}",
                                  bucket=bucket, key=key), action)


def _naming(error: errors.DgError, action: str) -> errors.DgError:
    """``error``, marked as saying that ``action`` failed (callers need not say it again)."""
    error.action = action
    return error


@contextlib.contextmanager
def translated(*, bucket: str | None = None, key: str | None = None, endpoint: str | None = None,
               action: str = "request", timeout: float | None = None) -> Iterator[None]:
    try:
        yield
    except errors.DgError:
        raise
    except (bexc.BotoCoreError, bexc.ClientError, ConnectionError) as exc:
        raise translate(exc, bucket=bucket, key=key, endpoint=endpoint, action=action, timeout=timeout) from None


def _is_bodiless_refusal(exc: bexc.ClientError) -> bool:
    """A 400 or 403 without an S3 error code (botocore puts the status there)."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("400", "403", "Forbidden", "Bad Request")


#: what boto3 adds to every S3 client (boto3.s3.inject.inject_s3_transfer_methods)
_TRANSFER_METHODS = ("upload_file", "download_file", "copy", "upload_fileobj", "download_fileobj")


def _transfer_method(name: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        from boto3.s3 import inject  # s3transfer with it: only when a transfer method is used

        return getattr(inject, name)(self, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = f"boto3's ``{name}`` (s3transfer's managed transfer)."
    return method


def _inject_transfer_methods(class_attributes: dict[str, Any], **_: Any) -> None:
    """boto3's managed-transfer methods on the client class, as boto3's Session adds them."""
    for name in _TRANSFER_METHODS:
        class_attributes.setdefault(name, _transfer_method(name))


#: tries to open a connection before an endpoint counts as unreachable
CONNECT_ATTEMPTS = 2
#: tries of a download whose body was cut short, each going on from the bytes already written
DOWNLOAD_ATTEMPTS = 5
#: what a body cut short raises while it is read
_CUT_SHORT = (bexc.ResponseStreamingError, bexc.IncompleteReadError, bexc.ReadTimeoutError,
              bexc.ConnectionClosedError, ConnectionError)


def _cut_short(exc: BaseException, failures: int, what: str, received: int) -> int:
    """A download cut short: the failures counted so far plus this one, after a pause before it goes on
    from the byte it reached; ``exc`` itself once there have been ``DOWNLOAD_ATTEMPTS``."""
    failures += 1
    if failures >= DOWNLOAD_ATTEMPTS:
        raise exc
    log.debug("%s cut short after %d bytes (%s); going on from there", what, received, type(exc).__name__)
    time.sleep(min(2.0, 0.1 * 2 ** failures))
    return failures


def _give_up_on_unreachable(attempts: int, caught_exception: BaseException | None = None, **_: Any) -> None:
    """Stop botocore's retries once connecting has failed ``CONNECT_ATTEMPTS`` times.

    A refused or unanswered connection rarely heals within botocore's backoff
    over every attempt (half a minute for an endpoint that drops packets);
    a wrong URL or a stopped server should say so in seconds. Other
    transient errors (5xx, throttling, a connection cut mid-response) keep
    all attempts.
    """
    if attempts >= CONNECT_ATTEMPTS and isinstance(
            caught_exception, (bexc.EndpointConnectionError, bexc.ConnectTimeoutError)):
        raise caught_exception
    if isinstance(caught_exception, bexc.ReadTimeoutError):
        # A server that accepted the request and said nothing for the whole stall limit: trying again
        # would multiply the limit (five attempts of a minute each looked like a hang).
        raise caught_exception


def read_into(f: Any, buffer: memoryview) -> int:
    """Fill ``buffer`` from an unbuffered file; fewer bytes only at its end (a raw read may return less)."""
    got = 0
    while got < len(buffer):
        n = f.readinto(buffer[got:])
        if not n:
            break
        got += n
    return got


def is_precondition_failed(exc: BaseException) -> bool:
    if not isinstance(exc, bexc.ClientError):
        return False
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code in ("PreconditionFailed", "ConditionalRequestConflict") or status in (412,)


ADDRESSING_STYLES = ("path", "virtual", "auto")


def _s3_config(session: botocore.session.Session, addressing_style: str | None, *,
               custom_endpoint: bool) -> dict[str, str] | None:
    """The client's ``s3`` settings: the addressing style asked for, else the one in the AWS config
    (``s3 = addressing_style = ...``), else path style for a custom endpoint.

    A client's own ``s3`` settings win over the config file's, so path style is set only when
    neither the caller nor the config chose: MinIO, Ceph or a local server often have no DNS
    name per bucket, while a user who configured virtual-hosted style has one.
    """
    if addressing_style is not None:
        if addressing_style not in ADDRESSING_STYLES:
            raise errors.DgError(f"unknown addressing style {display_key(addressing_style, 40)!r}: "
                                 f"use {', '.join(ADDRESSING_STYLES)}")
        return {"addressing_style": addressing_style}
    configured = session.get_config_variable("s3")
    if isinstance(configured, dict) and configured.get("addressing_style") in ("path", "virtual"):
        return None  # botocore applies the config file's choice itself
    return {"addressing_style": "path"} if custom_endpoint else None


class _PlainJSONFileLoader(botocore.loaders.JSONFileLoader):
    """botocore's model files read into plain dicts: they keep their order as OrderedDicts did, and the
    S3 model, its endpoint rules and the endpoint list parse in 15 ms of CPU rather than 37 ms."""

    def _load_file(self, full_path: str, open_method: Any) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as fp:
            payload = fp.read().decode("utf-8")
        return json.loads(payload)


class _ModelLoader(botocore.loaders.Loader):
    """botocore's loader, without listing every service it ships to learn that one is known.

    ``load_service_model`` checks the name against all ~400 service folders (about 1,800 stat calls,
    10-20 ms of CPU, twice for an S3 client). A service with a version folder holding the model is in that
    list, so for one the model loads as botocore loads it; any other name goes to botocore's own method,
    which raises what it always raised.
    """

    FILE_LOADER_CLASS = _PlainJSONFileLoader

    @botocore.loaders.instance_cache
    def load_service_model(self, service_name: str, type_name: str, api_version: str | None = None) -> Any:
        try:
            versions = self.list_api_versions(service_name, type_name)
        except bexc.DataNotFoundError:
            versions = []
        if not versions or (api_version is not None and api_version not in versions) \
                or not hasattr(self, "_extras_processor") or not hasattr(self, "_find_extras"):
            # botocore's own way: unknown names, versions it lacks, or a botocore whose insides moved on
            return super().load_service_model(service_name, type_name, api_version)
        version = api_version or max(versions)
        model = self.load_data(os.path.join(service_name, version, type_name))
        self._extras_processor.process(model, self._find_extras(service_name, type_name, version))
        return model


def _model_loader(search_path: str | None) -> _ModelLoader:
    """What ``botocore.loaders.create_loader`` makes of AWS_DATA_PATH (the session's ``data_path``)."""
    if search_path is None:
        return _ModelLoader()
    return _ModelLoader(extra_search_paths=[os.path.expanduser(os.path.expandvars(path))
                                            for path in search_path.split(os.pathsep)])


class S3Access:
    """A botocore S3 client with the calls the core needs."""

    def __init__(self, *, endpoint_url: str | None = None, profile: str | None = None,
                 region_name: str | None = None, aws_access_key_id: str | None = None,
                 aws_secret_access_key: str | None = None, aws_session_token: str | None = None,
                 max_pool_connections: int = 64, connect_timeout: float = 3, read_timeout: float | None = None,
                 max_attempts: int = 5, addressing_style: str | None = None):
        if read_timeout is None:
            read_timeout = stall_seconds()
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        _refuse_userinfo(endpoint_url)
        problem = errors.endpoint_url_problem(
            endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
        if problem is not None:
            raise errors.EndpointURLError(problem)
        with translated(endpoint=endpoint_url, action="setup"):
            # botocore's session, as boto3's Session sets it up for a client: importing boto3 (and with it
            # s3transfer) would cost every command a tenth of a second that only multipart uploads need.
            # The client still has boto3's transfer methods (upload_file, copy, ...), imported on first use.
            self.botocore_session = botocore.session.Session(profile=profile)
            session = self.botocore_session
            session.lazy_register_component("data_loader",
                                            lambda: _model_loader(session.get_config_variable("data_path")))
            self.botocore_session.register("creating-client-class.s3", _inject_transfer_methods)
            # One object with a garbage Last-Modified is that object's problem (see ``head``), not a ValueError
            # out of every call that reads it.
            self.botocore_session.get_component("response_parser_factory").set_parser_defaults(
                timestamp_parser=lenient_timestamp)
            if aws_access_key_id or aws_secret_access_key or aws_session_token:
                self.botocore_session.set_credentials(aws_access_key_id, aws_secret_access_key, aws_session_token)
            if region_name:
                self.botocore_session.set_config_variable("region", region_name)
            config = Config(
                max_pool_connections=max_pool_connections, connect_timeout=connect_timeout,
                read_timeout=read_timeout, retries={"mode": "standard", "max_attempts": max_attempts},
                tcp_keepalive=True,
                s3=_s3_config(self.botocore_session, addressing_style,
                              custom_endpoint=bool(endpoint_url or os.environ.get("AWS_ENDPOINT_URL"))),
            )
            self.client = self.botocore_session.create_client("s3", endpoint_url=endpoint_url, config=config)
        _refuse_userinfo(self.client.meta.endpoint_url)  # from AWS_ENDPOINT_URL or a profile's endpoint_url
        install_fast_list_parser(self.client)
        self.client.meta.events.register_first("needs-retry.s3", _give_up_on_unreachable)
        if logs.redacting():
            self._redact_credentials()
        self.endpoint_url = self.client.meta.endpoint_url
        self._transfer_config: Any = None
        self._boto3_session: Any = None

    @property
    def session(self) -> Any:
        """A boto3 Session over the same botocore session (boto3 is imported when this is first asked for)."""
        if self._boto3_session is None:
            import boto3.session

            # boto3 adds its own transfer methods to the clients it makes from here on.
            self.botocore_session.unregister("creating-client-class.s3", _inject_transfer_methods)
            self._boto3_session = boto3.session.Session(botocore_session=self.botocore_session)
        return self._boto3_session

    @property
    def transfer_config(self) -> Any:
        """s3transfer's settings for multipart uploads (s3transfer is imported only when one is needed)."""
        if self._transfer_config is None:
            from boto3.s3.transfer import TransferConfig

            self._transfer_config = TransferConfig(
                multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK,
                max_concurrency=TRANSFER_CONCURRENCY, use_threads=True)
        return self._transfer_config

    def _redact_credentials(self) -> None:
        """Debug logs redact these credentials by value, wherever they came from
        (a profile file or SSO, not only the environment)."""
        try:
            creds = self.botocore_session.get_credentials()
            frozen = creds.get_frozen_credentials() if creds is not None else None
        except Exception:  # no usable credentials: requests will say so
            return
        if frozen is not None:
            logs.add_secrets(frozen.access_key, frozen.secret_key, frozen.token)

    # -- helpers ---------------------------------------------------------
    def ctx(self, bucket: str | None = None, key: str | None = None, action: str = "request"):
        return translated(bucket=bucket, key=key, endpoint=self.endpoint_url, action=action,
                          timeout=self.read_timeout)

    def head(self, bucket: str, key: str) -> dict[str, Any] | None:
        """HEAD an object; None when it does not exist."""
        try:
            head = self.client.head_object(Bucket=bucket, Key=key)
        except bexc.ClientError as exc:
            err = translate(exc, bucket=bucket, key=key, endpoint=self.endpoint_url, action="HEAD")
            if _is_bodiless_refusal(exc):
                err = self._explain_refused_head(bucket, key, err)
            if type(err) is errors.NotFoundError:
                return None
            raise err from None
        except (bexc.BotoCoreError, ConnectionError) as exc:
            raise translate(exc, bucket=bucket, key=key, endpoint=self.endpoint_url, action="HEAD",
                            timeout=self.read_timeout) from None
        except ValueError as exc:  # a header botocore cannot parse (Content-Length: garbage)
            raise errors.MetadataInvalidError(
                f"the server's answer for {where(bucket, key)} cannot be read: {display_key(str(exc), 120)}",
                bucket=bucket, key=key) from None
        if not head.get("ETag"):
            # Every S3 server sends an ETag; a web server or portal answering 200 does not.
            raise errors.NotS3Error(f"{self.endpoint_url} answered for {where(bucket, key)} without an ETag, "
                                    f"so it is not an S3 server; check the endpoint URL", bucket=bucket, key=key)
        problems = []
        if isinstance(head.get("LastModified"), UnparsedTime):
            problems.append(f"its Last-Modified is not a date ({display_key(head.pop('LastModified'), 40)})")
        if not isinstance(head.get("ContentLength", 0), int) or head.get("ContentLength", 0) < 0:
            problems.append(f"its Content-Length is not a size ({display_key(str(head.pop('ContentLength')), 40)})")
        if problems:
            head[ANSWER_PROBLEM] = "the server's answer cannot be read: " + "; ".join(problems)
        return head

    def _explain_refused_head(self, bucket: str, key: str, fallback: errors.DgError) -> errors.DgError:
        """The reason behind a HEAD refused without a body.

        A HEAD answer has no body, so a wrong key, a wrong secret and an
        expired token all arrive as a bare 403 that reads as "access
        denied". A one-byte GET of the same key carries S3's error code.
        """
        try:
            self.client.get_object(Bucket=bucket, Key=key, Range="bytes=0-0")["Body"].close()
        except bexc.ClientError as exc:
            return translate(exc, bucket=bucket, key=key, endpoint=self.endpoint_url, action="HEAD")
        except (bexc.BotoCoreError, ConnectionError) as exc:
            return translate(exc, bucket=bucket, key=key, endpoint=self.endpoint_url, action="HEAD")
        return fallback

    def put_small(self, bucket: str, key: str, body: bytes | Any, metadata: dict[str, str],
                  if_none_match: bool = False, extra_args: dict[str, Any] | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {**(extra_args or {}), "Bucket": bucket, "Key": key, "Body": body,
                                  "Metadata": metadata}
        if if_none_match:
            params["IfNoneMatch"] = "*"
        return self.client.put_object(**params)

    def put_file(self, bucket: str, key: str, path: str, metadata: dict[str, str], *,
                 if_none_match: bool = False, progress: ProgressFn | None = None,
                 should_cancel: ShouldCancel | None = None, extra_args: dict[str, Any] | None = None) -> None:
        """Upload a file without reading it into memory.

        Files up to the multipart threshold go in one PUT; larger ones go
        through s3transfer's multipart upload with bounded parts, or, with
        ``if_none_match``, through our own multipart upload whose
        CompleteMultipartUpload carries ``If-None-Match: *`` (s3transfer cannot
        send it). A precondition failure is raised as the raw ClientError so
        callers can tell it apart.
        """
        size = os.path.getsize(path)
        if size <= MULTIPART_THRESHOLD:
            with open(path, "rb") as body:
                reader = _ProgressReader(body, progress, should_cancel)
                try:
                    self.put_small(bucket, key, reader, metadata, if_none_match, extra_args)
                except bexc.ClientError as exc:
                    if if_none_match and is_precondition_failed(exc):
                        raise
                    raise translate(exc, bucket=bucket, key=key, endpoint=self.endpoint_url, action="upload") from None
                except (bexc.BotoCoreError, ConnectionError) as exc:
                    raise translate(exc, bucket=bucket, key=key, endpoint=self.endpoint_url, action="upload") from None
            return

        def callback(n: int) -> None:
            if should_cancel and should_cancel():
                raise errors.CancelledError()
            if progress:
                progress(n)

        if if_none_match:
            self._put_multipart_if_absent(bucket, key, path, size, metadata, extra_args, callback)
            return
        with self.ctx(bucket, key, "upload"):
            self.client.upload_file(path, bucket, key, ExtraArgs={**(extra_args or {}), "Metadata": metadata},
                                    Callback=callback, Config=self.transfer_config)

    def _put_multipart_if_absent(self, bucket: str, key: str, path: str, size: int, metadata: dict[str, str],
                                 extra_args: dict[str, Any] | None, callback: ProgressFn) -> None:
        """A multipart upload of ``path`` that completes only if ``key`` does not exist (``If-None-Match: *``)."""
        with open(path, "rb", buffering=0) as f:
            self.put_parts_if_absent(bucket, key, metadata, lambda buffer: read_into(f, buffer),
                                     extra_args=extra_args, callback=callback)

    def put_parts_if_absent(self, bucket: str, key: str, metadata: dict[str, str], fill: Callable[[memoryview], int],
                            *, callback: ProgressFn, extra_args: dict[str, Any] | None = None,
                            before_complete: Callable[[], None] | None = None) -> None:
        """A multipart upload, completed only if ``key`` does not exist (``If-None-Match: *``), of the parts
        ``fill`` puts in a buffer one after the other: ``fill(buffer)`` writes the next part's bytes at the
        start of ``buffer`` (``MULTIPART_CHUNK`` long) and returns how many; a part shorter than that is the
        last, and 0 means there is no more.

        At most ``TRANSFER_CONCURRENCY`` parts go up at once, from as many buffers used again and again (no
        fresh memory for each part): the next part is filled when one of them has gone up.
        ``before_complete`` runs after the last part went up and before the upload is completed; an
        exception from it or from ``fill`` aborts the upload (nothing is stored) and is raised. A
        precondition failure is raised as the raw ClientError so callers can tell it apart.
        """
        with self.ctx(bucket, key, "upload"):
            upload_id = self.client.create_multipart_upload(
                **(extra_args or {}), Bucket=bucket, Key=key, Metadata=metadata)["UploadId"]

        def send(number: int, buffer: bytearray, n: int) -> dict[str, Any]:
            callback(0)  # honours cancellation before the part goes
            body = buffer if n == len(buffer) else bytes(memoryview(buffer)[:n])
            etag = self.client.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                           Body=body)["ETag"]
            callback(n)
            return {"PartNumber": number, "ETag": etag}

        try:
            sent: list[dict[str, Any]] = []
            free: list[bytearray] = []
            with ThreadPoolExecutor(max_workers=TRANSFER_CONCURRENCY, thread_name_prefix="dgtui-part") as pool:
                going: collections.deque[tuple[Future[dict[str, Any]], bytearray]] = collections.deque()
                try:
                    number = 0
                    while True:
                        if len(going) >= TRANSFER_CONCURRENCY:
                            future, done = going.popleft()
                            sent.append(future.result())
                            free.append(done)
                        buffer = free.pop() if free else bytearray(MULTIPART_CHUNK)
                        n = fill(memoryview(buffer))
                        if n:
                            number += 1
                            going.append((pool.submit(send, number, buffer, n), buffer))
                        if n < len(buffer):
                            break
                    while going:
                        sent.append(going.popleft()[0].result())
                except BaseException:
                    for future, _ in going:
                        future.cancel()
                    raise
            if before_complete is not None:
                before_complete()
            try:
                self.client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                                      MultipartUpload={"Parts": sent}, IfNoneMatch="*")
            except bexc.ClientError as exc:
                if is_precondition_failed(exc):
                    raise
                raise translate(exc, bucket=bucket, key=key, endpoint=self.endpoint_url, action="upload") from None
        except BaseException:
            try:
                self.client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except Exception:  # noqa: BLE001 - the first failure is the one to report
                pass
            raise

    def copy(self, bucket: str, source_key: str, dest_key: str, metadata: dict[str, str], *,
             if_match: str | None = None) -> None:
        """Server-side copy within a bucket with new metadata (multipart for large objects)."""
        extra: dict[str, Any] = {"MetadataDirective": "REPLACE", "Metadata": metadata}
        if if_match:
            extra["CopySourceIfMatch"] = if_match
        with self.ctx(bucket, source_key, "copy"):
            self.client.copy({"Bucket": bucket, "Key": source_key}, bucket, dest_key, ExtraArgs=extra,
                             Config=self.transfer_config)

    def get_to_file(self, bucket: str, key: str, path: str, *, progress: ProgressFn | None = None,
                    should_cancel: ShouldCancel | None = None, size_hint: int | None = None,
                    etag: str | None = None, hasher: Any = None, listed_size: int | None = None) -> None:
        """Stream an object into ``path`` (created or truncated), hashing as it goes.

        ``etag`` pins the object version (If-Match) so a concurrent rewrite
        cannot mix two versions into one file; without it the first answer's
        ETag pins it. A body longer than its Content-Length or than
        ``listed_size`` (what a HEAD or a listing said) is cut off as soon as it
        passes it and refused (``IntegrityError``). A download cut short (a
        dropped connection, an answer shorter than its Content-Length) goes on
        from the bytes already written with a ranged GET of the same version, up
        to ``DOWNLOAD_ATTEMPTS`` times: botocore's retries end where the body
        starts. A stalled read is not resumed: it fails as timed out once the
        stall limit passes.
        """
        pinned = etag
        total: int | None = None
        limit: int | None = None
        written = 0
        failures = 0
        # Unbuffered: each chunk is in the file before ``hasher`` hears of it (a restore's early rebuild reads
        # the file up to the bytes hashed).
        with self.ctx(bucket, key, "download"), open(path, "wb", buffering=0) as out:
            while True:
                params: dict[str, Any] = {"Bucket": bucket, "Key": key}
                if pinned:
                    params["IfMatch"] = f'"{pinned}"' if not pinned.startswith('"') else pinned
                if written:
                    params["Range"] = f"bytes={written}-"
                try:
                    response = self.client.get_object(**params)
                    if written and not response.get("ContentRange"):
                        response["Body"].close()
                        raise errors.ConnectionFailedError(
                            f"the connection dropped during the download of {where(bucket, key)} and the server "
                            f"cannot resume it (no ranged answer); retry", bucket=bucket, key=key)
                    if total is None:
                        total = response.get("ContentLength")
                        limits = [n for n in (total, listed_size) if isinstance(n, int) and n >= 0]
                        limit = min(limits) if limits else None
                    pinned = pinned or response.get("ETag")
                    stream = response["Body"]
                    reader = _StallGuard(stream, self.read_timeout, where(bucket, key))
                    try:
                        while True:
                            if should_cancel and should_cancel():
                                raise errors.CancelledError()
                            chunk = reader.read(STREAM_CHUNK if limit is None
                                                else min(STREAM_CHUNK, limit + 1 - written))
                            if not chunk:
                                break
                            if limit is not None and written + len(chunk) > limit:
                                raise errors.IntegrityError(
                                    f"the download of {where(bucket, key)} sent more than its {limit} bytes; refused",
                                    bucket=bucket, key=key)
                            view = memoryview(chunk)
                            while view:  # a raw file may take less than all of it
                                took = out.write(view)
                                if not took:
                                    raise OSError(f"{path}: the file took none of {len(view)} bytes")
                                view = view[took:]
                            written += len(chunk)
                            if hasher is not None:
                                hasher.update(chunk)
                            if progress:
                                progress(len(chunk))
                    finally:
                        stream.close()
                except bexc.ReadTimeoutError:
                    raise  # stalled past the limit: resuming would wait as long again
                except _CUT_SHORT as exc:
                    failures = _cut_short(exc, failures, f"download of {where(bucket, key)}", written)
                    continue
                if total is None or written >= total:
                    break
                failures += 1  # an answer shorter than announced, without an error
                if failures >= DOWNLOAD_ATTEMPTS:
                    break
        if total is not None and written != total:
            # The body ended before its length: the connection closed under it, every time.
            raise errors.ConnectionFailedError(
                f"the connection to {self.endpoint_url} dropped during the download of {where(bucket, key)} "
                f"({written:,} of {total:,} bytes arrived); retry", bucket=bucket, key=key)

    def delete_version(self, bucket: str, key: str, version_id: str) -> None:
        """Delete one version of a key for good (no delete marker): for copies of our own, made a moment ago."""
        with self.ctx(bucket, key, "delete"):
            self.client.delete_object(Bucket=bucket, Key=key, VersionId=version_id)

    def get_to_file_in_parts(self, bucket: str, key: str, path: str, *, size: int, etag: str, hasher: Any,
                             progress: ProgressFn | None = None, should_cancel: ShouldCancel | None = None) -> None:
        """``get_to_file`` of a big object as ranged GETs on ``TRANSFER_CONCURRENCY`` connections (as s5cmd
        downloads), every part of the version ``etag`` (If-Match) that measured ``size``.

        Each part is written where it belongs (``os.pwrite``) and handed, in order, to ``hasher`` on this
        thread while the next parts arrive: the file is hashed as it comes, not read again afterwards. At
        most ``PARTS_AHEAD`` parts wait in memory to be hashed. A part cut short goes on from where it
        stopped, as ``get_to_file`` does; an answer for another range or longer than its part is refused.
        """
        if size < PARALLEL_GET_MIN:
            self.get_to_file(bucket, key, path, progress=progress, should_cancel=should_cancel, etag=etag,
                             hasher=hasher, listed_size=size)
            return
        part = PARALLEL_GET_PART
        count = (size + part - 1) // part
        stop = threading.Event()
        free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(PARTS_AHEAD):
            free.put(bytearray(part))
        pinned = f'"{etag.strip(chr(34))}"'
        place = where(bucket, key)

        def fetch(index: int, fd: int) -> memoryview:
            first = index * part
            want = min(size, first + part) - first
            buf = free.get()  # one of PARTS_AHEAD buffers, used again and again: no fresh pages for each part
            got = 0
            failures = 0
            while got < want:
                if stop.is_set() or (should_cancel and should_cancel()):
                    raise errors.CancelledError()
                last = first + want - 1
                try:
                    response = self.client.get_object(Bucket=bucket, Key=key, IfMatch=pinned,
                                                      Range=f"bytes={first + got}-{last}")
                    stream = response["Body"]
                    try:
                        answered = response.get("ContentRange")
                        if not answered:
                            raise _NoRanges()
                        if answered != f"bytes {first + got}-{last}/{size}":
                            raise errors.IntegrityError(
                                f"the server answered a part of {place} with another range "
                                f"({display_key(str(answered), 60)}); refused", bucket=bucket, key=key)
                        reader = _StallGuard(stream, self.read_timeout, place)
                        while got < want:
                            if stop.is_set() or (should_cancel and should_cancel()):
                                raise errors.CancelledError()
                            chunk = reader.read(min(STREAM_CHUNK, want - got + 1))
                            if not chunk:
                                break
                            if got + len(chunk) > want:
                                raise errors.IntegrityError(f"the download of {place} sent more than its part; refused",
                                                            bucket=bucket, key=key)
                            buf[got:got + len(chunk)] = chunk
                            got += len(chunk)
                            if progress:
                                progress(len(chunk))
                    finally:
                        stream.close()
                except bexc.ReadTimeoutError:
                    raise  # stalled past the limit: resuming would wait as long again
                except _CUT_SHORT as exc:
                    failures = _cut_short(exc, failures, f"part {index} of {place}", got)
                    continue
                if got < want:
                    failures += 1  # an answer shorter than its range, without an error
                    if failures >= DOWNLOAD_ATTEMPTS:
                        raise errors.ConnectionFailedError(
                            f"the connection to {self.endpoint_url} dropped during the download of {place} "
                            f"(part {index + 1} of {count} kept arriving short); retry", bucket=bucket, key=key)
            view = memoryview(buf)[:want]
            done = 0
            while done < want:  # a regular file takes all of it at once, short of an error
                done += os.pwrite(fd, view[done:], first + done)
            return view

        try:
            self._get_parts(bucket, key, path, count, fetch, hasher, stop, free)
        except _NoRanges:
            # A server that answers ranged GETs with the whole object (none of it was hashed: the first
            # part came that way too): one plain download instead.
            log.debug("%s: the server does not answer ranged GETs; downloading it in one piece", place)
            self.get_to_file(bucket, key, path, progress=progress, should_cancel=should_cancel, etag=etag,
                             hasher=hasher, listed_size=size)

    def _get_parts(self, bucket: str, key: str, path: str, count: int, fetch: Callable[[int, int], memoryview],
                   hasher: Any, stop: threading.Event, free: queue.Queue[bytearray]) -> None:
        """Run ``fetch`` for each part on the pool, at most ``PARTS_AHEAD`` ahead, and hash the parts in order."""
        with self.ctx(bucket, key, "download"), open(path, "wb") as out:
            fd = out.fileno()
            pool = ThreadPoolExecutor(max_workers=TRANSFER_CONCURRENCY, thread_name_prefix="dgtui-get-part")
            waiting: collections.deque[Future[memoryview]] = collections.deque()
            following = 0
            try:
                while following < count and len(waiting) < PARTS_AHEAD:
                    waiting.append(pool.submit(fetch, following, fd))
                    following += 1
                hashed = False
                while waiting:
                    try:
                        data = waiting.popleft().result()
                    except _NoRanges:
                        if hashed:  # ranged answers first, then none: not a server to trust with this object
                            raise errors.IntegrityError(
                                f"the server stopped answering ranged GETs of {where(bucket, key)} midway; refused",
                                bucket=bucket, key=key) from None
                        raise
                    hashed = True
                    hasher.update(data)  # in order, while the parts after it arrive
                    free.put(data.obj)  # type: ignore[arg-type]  # the part's buffer, for the next part
                    data.release()
                    if following < count:
                        waiting.append(pool.submit(fetch, following, fd))
                        following += 1
            except BaseException:
                stop.set()
                raise
            finally:
                pool.shutdown(wait=True, cancel_futures=True)

    def delete_keys(self, bucket: str, keys: list[str]) -> list[tuple[str, str]]:
        """Delete stored keys in batches; returns (key, error) for failures."""
        failures: list[tuple[str, str]] = []
        for start in range(0, len(keys), 1000):
            batch = keys[start:start + 1000]
            with self.ctx(bucket, action="delete"):
                response = self.client.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            for err in response.get("Errors", []):
                failures.append((err.get("Key", ""), f"{err.get('Code')}: {err.get('Message', '')}"))
        return failures


class _NoRanges(Exception):
    """A ranged GET answered without a Content-Range: the server sends whole objects only."""


class _StallGuard:
    """Reads a response body as bytes arrive, and fails it as timed out once less than ``STALL_MIN_BYTES``
    came in ``seconds``: a body that trickles (a byte every few seconds) never trips the socket's read
    timeout, which only sees each wait for the next byte."""

    def __init__(self, stream: Any, seconds: float, place: str):
        self.stream, self.seconds, self.place = stream, seconds, place
        raw = getattr(stream, "_raw_stream", None)
        # urllib3 2's read1 returns what has arrived; StreamingBody.read waits for a whole chunk.
        self._read1 = getattr(raw, "read1", None)
        self._window_start = time.monotonic()
        self._window_bytes = 0

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes, fewer when that many have not come within a quarter of a second (so that
        progress and cancelling stay live); b"" at the end."""
        if self._read1 is None:
            chunk = self.stream.read(size)
            self._count(len(chunk))
            return chunk
        pieces: list[bytes] = []
        got = 0
        started = time.monotonic()
        while got < size:
            try:
                piece = self._read1(size - got)
            except urllib3_exc.ReadTimeoutError as exc:  # as botocore's StreamingBody.read says them
                raise bexc.ReadTimeoutError(endpoint_url=str(exc)) from None
            except urllib3_exc.ProtocolError as exc:
                raise bexc.ResponseStreamingError(error=exc) from None
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
            if self._count(len(piece)) - started >= 0.25:
                break
        return b"".join(pieces)

    def _count(self, n: int) -> float:
        """Add ``n`` bytes to the window; the time now. ``TimedOutError`` when the window closes short."""
        self._window_bytes += n
        now = time.monotonic()
        if now - self._window_start >= self.seconds:
            if n and self._window_bytes < STALL_MIN_BYTES:
                raise errors.TimedOutError(
                    f"the download of {self.place} timed out: {self._window_bytes} bytes arrived in the last "
                    f"{now - self._window_start:.0f} s (the stall limit is {self.seconds:g} s: stall_seconds in "
                    f"the settings file or DGTUI_STALL_SECONDS); retry")
            self._window_start, self._window_bytes = now, 0
        return now


class _ProgressReader:
    """A file wrapper that reports bytes read and honours cancellation.

    botocore may read the body more than once (to sign or checksum it, then
    to send it, again on a retry): each byte is reported once, the first time
    it is read; a later pass after seek(0) reports only what goes beyond the
    furthest point read before, so the total never exceeds the file's size.
    """

    def __init__(self, f, progress: ProgressFn | None, should_cancel: ShouldCancel | None):
        self._f = f
        self._progress = progress
        self._should_cancel = should_cancel
        self._reported = 0
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        if self._should_cancel and self._should_cancel():
            raise errors.CancelledError()
        data = self._f.read(n)
        self._pos += len(data)
        if self._progress and self._pos > self._reported:
            self._progress(self._pos - self._reported)
            self._reported = self._pos
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = self._f.seek(offset, whence)
        return self._pos

    def tell(self) -> int:
        return self._f.tell()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)
