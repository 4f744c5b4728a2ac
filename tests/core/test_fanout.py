"""The HEAD fan-out over http and https: botocore's answers, max_workers honoured, logged with
credentials redacted, fallbacks counted, and a botocore without what it reads leaves it off."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest

from dgtui import CancelledError, DgError, create_client
from dgtui.core import logs
from dgtui.core.fasthead import FastHead
from dgtui.core.s3 import S3Access
from dgtui.testing import TcpProxy

from .test_fasthead import AWKWARD_KEYS, DG_TOOL, botocore_answer, put_deltas, record_sent, scripted  # noqa: F401


@pytest.fixture(params=["http", "https"])
def server(request, s3_server, s3_env, monkeypatch):
    """The suite's http server, or the https one (its CA in AWS_CA_BUNDLE, as a user would set it)."""
    if request.param == "http":
        return s3_server
    return over_https(request.getfixturevalue("s3_tls_server"), monkeypatch)


def over_https(tls_server, monkeypatch) -> SimpleNamespace:
    """A server as its https clients see it; ``boto3_client`` (for setting data up) stays on http."""
    for name, value in tls_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", tls_server.https_endpoint_url)
    monkeypatch.setenv("AWS_CA_BUNDLE", tls_server.ca_bundle)
    return SimpleNamespace(endpoint_url=tls_server.https_endpoint_url, access_key=tls_server.access_key,
                           secret_key=tls_server.secret_key, region=tls_server.region,
                           boto3_client=tls_server.boto3_client)


def access(server, **kw) -> S3Access:
    settings = {"endpoint_url": server.endpoint_url, "aws_access_key_id": server.access_key,
                "aws_secret_access_key": server.secret_key, "region_name": server.region, **kw}
    return S3Access(**settings)


def fresh_bucket(server, request) -> tuple[str, object]:
    from ..conftest import bucket_name_for

    admin = server.boto3_client()
    name = bucket_name_for(request.node.name)
    admin.create_bucket(Bucket=name)
    return name, admin


def test_fast_answers_equal_botocore_on_http_and_https(server, request):
    bucket, admin = fresh_bucket(server, request)
    for i, key in enumerate(AWKWARD_KEYS):
        admin.put_object(Bucket=bucket, Key=key, Body=b"x" * i, Metadata={"dg-tool": DG_TOOL, "Mixed-Case": f"v{i}"})
    s3 = access(server)
    fast = FastHead(s3)
    sent = record_sent(fast)
    batch = fast.batch(bucket)
    answers = [batch.head(key) for key in [*AWKWARD_KEYS, "missing/key"]]
    assert answers == [botocore_answer(s3, bucket, key) for key in AWKWARD_KEYS] + [None]
    assert (fast.learn_requests, fast.fast_requests, fast.fallback_requests) == (1, len(AWKWARD_KEYS), 0)
    assert fast.enabled and all(url.startswith(server.endpoint_url + "/") for url, _ in sent)
    assert server.endpoint_url.startswith(request.node.callspec.params["server"] + "://")


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_fast_answers_are_the_same_on_uvloop_and_on_asyncios_own_loop(server, request, loop, monkeypatch):
    """uvloop's loop where it is installed; asyncio's where it is not (Windows, or an install without it)."""
    import asyncio

    from dgtui.core import fasthead

    if loop == "asyncio":
        monkeypatch.setattr(fasthead, "_new_loop", asyncio.new_event_loop)
    bucket, admin = fresh_bucket(server, request)
    keys = [f"l/{i:02d}.delta" for i in range(20)]
    for key in keys:
        admin.put_object(Bucket=bucket, Key=key, Body=b"d", Metadata={"k": key})
    s3 = access(server)
    fast = FastHead(s3, max_workers=4)
    answers = dict(pair for group in fast.batch(bucket).head_many([*keys, "l/missing"]) for pair in group)
    assert [answers[i] for i in range(len(keys) + 1)] == [botocore_answer(s3, bucket, k) for k in keys] + [None]
    assert fast.fast_requests == len(keys) and fast.enabled
    running = type(fast._event_loop()).__module__.split(".")[0]
    assert running == loop
    fast.close()


@contextmanager
def counting_connections(server) -> Iterator[tuple[str, TcpProxy]]:
    """The server's endpoint behind a TCP forwarder that counts the connections opened to it."""
    with TcpProxy.for_endpoint(server.endpoint_url) as forwarder:
        scheme = server.endpoint_url.split(":", 1)[0]
        yield f"{scheme}://127.0.0.1:{forwarder.port}", forwarder


def test_detailed_stats_over_http_and_https_use_at_most_max_workers_connections(server, request, tmp_path):
    bucket, admin = fresh_bucket(server, request)
    total = put_deltas(admin, bucket, 120)
    with counting_connections(server) as (endpoint, forwarder):
        client = create_client(endpoint_url=endpoint, aws_access_key_id=server.access_key,
                               aws_secret_access_key=server.secret_key, region_name=server.region,
                               cache_dir=tmp_path / "cache", max_workers=3)
        fast = client._fetcher.fast_head
        stats = client.get_bucket_stats(bucket, detailed_stats=True)
        assert stats.total_size == total and stats.delta_objects == 120 and not stats.estimated
        assert (fast.learn_requests, fast.fast_requests, fast.fallback_requests) == (1, 119, 0)
        assert client._fetcher.max_workers == fast.max_workers == 3
        # botocore's one connection (the listing, then the HEAD that taught the URL), and the fast path's
        assert 2 <= forwarder.connections_accepted <= 1 + 3
        client.close()


def test_the_fast_connections_open_while_the_learning_head_is_answered(server, request):
    """The connections of a batch's fast HEADs are opened as its first HEAD goes out through botocore to
    learn the URL, not after its answer; the HEADs then use those connections and open no others."""
    bucket, admin = fresh_bucket(server, request)
    keys = [f"k{i:02d}" for i in range(13)]
    for key in keys:
        admin.put_object(Bucket=bucket, Key=key, Body=b"x", Metadata={"key": key})
    with TcpProxy.for_endpoint(server.endpoint_url, latency_s=0.2) as slow:  # each request waits 0.2 s
        scheme = server.endpoint_url.split(":", 1)[0]
        fast = FastHead(access(server, endpoint_url=f"{scheme}://127.0.0.1:{slow.port}"), max_workers=6)
        fast._event_loop()  # running, as statistics warm it while they list
        open_when_answered: list[int] = []
        fast.client.meta.events.register("after-call.s3.HeadObject",
                                         lambda **_: open_when_answered.append(slow.live_connections))
        answers = dict(pair for group in fast.batch(bucket).head_many(keys) for pair in group)
        assert [answers[i][1] for i in range(len(keys))] == [{"key": k} for k in keys]
        assert (fast.learn_requests, fast.fast_requests, fast.fallback_requests) == (1, 12, 0)
        assert open_when_answered == [1 + 6], "botocore's connection and the six fast ones"
        assert slow.connections_accepted == 1 + 6, "the fast HEADs used the connections opened for them"
        fast.close()


def test_dropped_connections_go_to_botocore_and_switch_the_fast_path_off(server, request):
    """A dropped connection is the network's hiccup, botocore repeats it; only when such failures outnumber
    the answered HEADs (and reach TRANSIENT_LIMIT) is the fast path switched off."""
    from dgtui.core.fasthead import TRANSIENT_LIMIT

    bucket, admin = fresh_bucket(server, request)
    keys = [f"k{i}" for i in range(TRANSIENT_LIMIT + 4)]
    for key in keys:
        admin.put_object(Bucket=bucket, Key=key, Body=b"x", Metadata={"key": key})
    fast = FastHead(access(server))
    dropped = []

    async def drop(url, headers):  # fault injection: the connection drops before any answer
        dropped.append(url)
        raise ConnectionResetError("dropped")

    fast._send = drop  # type: ignore[method-assign]
    batch = fast.batch(bucket)
    assert [batch.head(k)[1] for k in keys] == [{"key": k} for k in keys]
    assert len(dropped) == TRANSIENT_LIMIT and fast.fast_requests == 0
    assert fast.disabled_reason and f"{TRANSIENT_LIMIT} fast HEADs failed on server errors or dropped connections" \
        in fast.disabled_reason


def test_an_answer_between_failures_resets_the_count(s3_server, s3_env, bucket, boto3_s3):
    for key in ("a", "b"):
        boto3_s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    fast = FastHead(access(s3_server))
    send, calls = fast._send, []

    async def every_other(url, headers):
        calls.append(url)
        if len(calls) % 2:
            raise ConnectionResetError("dropped")
        return await send(url, headers)

    fast._send = every_other  # type: ignore[method-assign]
    batch = fast.batch(bucket)
    for _ in range(10):
        assert batch.head("a") is not None and batch.head("b") is not None
    assert fast.enabled and fast.fast_requests > 0 and fast.fallback_requests > 0


def test_fast_heads_are_logged_with_credentials_redacted(server, request):
    bucket, admin = fresh_bucket(server, request)
    for i in range(3):
        admin.put_object(Bucket=bucket, Key=f"k{i}", Body=b"x")
    stream = io.StringIO()
    handler = logs.configure_debug_logging(stream, extra_secrets=(server.access_key, server.secret_key))
    try:
        fast = FastHead(access(server))
        batch = fast.batch(bucket)
        for i in range(3):
            batch.head(f"k{i}")
    finally:
        for name in ("dgtui", "botocore", "boto3", "s3transfer", "urllib3"):
            logging.getLogger(name).removeHandler(handler)
            logging.getLogger(name).setLevel(logging.WARNING)
        logs._filters.clear()
    text = stream.getvalue()
    fast_lines = [line for line in text.splitlines() if "dgtui.fasthead" in line and "fast HEAD" in line]
    assert len(fast_lines) == 2 and all(f"/{bucket}/k" in line and "-> 200" in line for line in fast_lines)
    assert "Signature=[redacted]" in fast_lines[0] and "Credential=[redacted]" in fast_lines[0]
    assert server.secret_key not in text and server.access_key not in text


def test_a_botocore_without_its_tls_setting_leaves_the_fast_path_off(s3_server, s3_env, bucket, boto3_s3):
    boto3_s3.put_object(Bucket=bucket, Key="a", Body=b"x", Metadata={"a": "1"})
    s3 = access(s3_server)

    class KeptElsewhere:
        """botocore's HTTP session as a botocore release that keeps its TLS setting elsewhere shows it."""

        def __init__(self, real):
            self._real = real

        def __getattr__(self, name):
            if name == "_verify":
                raise AttributeError(name)
            return getattr(self._real, name)

    s3.client._endpoint.http_session = KeptElsewhere(s3.client._endpoint.http_session)
    fast = FastHead(s3)
    assert not fast.enabled and "TLS setting" in fast.disabled_reason
    batch = fast.batch(bucket)
    assert batch.head("a")[1] == {"a": "1"} and batch.head("b") is None
    assert fast.fast_requests == 0 and fast.fallback_requests == 2


def test_a_certificate_the_client_does_not_trust_is_botocores_error(s3_tls_server, s3_env, request, monkeypatch):
    """Without the CA, the fast path refuses the server as botocore does, and the error is botocore's."""
    bucket, admin = fresh_bucket(s3_tls_server, request)
    admin.put_object(Bucket=bucket, Key="a", Body=b"x")
    target = over_https(s3_tls_server, monkeypatch)
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    fast = FastHead(access(target))
    batch = fast.batch(bucket)
    with pytest.raises(Exception) as failed:
        batch.head("a")
    assert "certificate" in str(failed.value).lower() or "ssl" in str(failed.value).lower()
    assert fast.fast_requests == 0


def test_concurrent_heads_over_https(s3_tls_server, s3_env, request, monkeypatch):
    target = over_https(s3_tls_server, monkeypatch)
    bucket, admin = fresh_bucket(s3_tls_server, request)
    keys = [f"many/{i:03d}.delta" for i in range(60)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: admin.put_object(Bucket=bucket, Key=k, Body=b"d", Metadata={"n": k}), keys))
    fast = FastHead(access(target), max_workers=8)
    batch = fast.batch(bucket)
    with ThreadPoolExecutor(fast.max_workers) as pool:
        answers = list(pool.map(batch.head, keys))
    assert [md for _, md in answers] == [{"n": k} for k in keys]
    assert fast.fast_requests + fast.learn_requests == len(keys) and fast.fallback_requests == 0


def test_head_many_answers_every_key_once_over_http_and_https(server, request):
    bucket, admin = fresh_bucket(server, request)
    keys = [f"many/{i:03d}.delta" for i in range(90)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: admin.put_object(Bucket=bucket, Key=k, Body=b"d", Metadata={"n": k}), keys))
    asked = [*keys, "many/missing.delta"]
    with counting_connections(server) as (endpoint, forwarder):
        fast = FastHead(access(SimpleNamespace(**{**vars(server), "endpoint_url": endpoint})), max_workers=5)
        groups = list(fast.batch(bucket).head_many(asked))
        answers = dict(pair for group in groups for pair in group)
        assert sorted(answers) == list(range(len(asked))), "every key answered exactly once"
        assert [answers[i][1] for i in range(len(keys))] == [{"n": k} for k in keys]
        assert answers[len(keys)] is None
        assert (fast.learn_requests, fast.fast_requests, fast.fallback_requests) == (1, len(keys), 0)
        assert 2 <= forwarder.connections_accepted <= 1 + 5, "never more fast connections than max_workers"
        fast.close()


def test_head_many_raises_the_first_error_and_stops(scripted):
    from .test_fasthead import _Scripted

    _Scripted.answers = {f"k{i}": (200, [("ETag", f'"{i}"'), ("x-amz-meta-i", str(i))]) for i in range(40)}
    _Scripted.answers["k20"] = (500, [])
    s3 = S3Access(endpoint_url=scripted, aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1",
                  max_attempts=1)
    fast = FastHead(s3, max_workers=4)
    seen: list[int] = []
    with pytest.raises(DgError) as info:
        for group in fast.batch("bucket").head_many([f"k{i}" for i in range(40)]):
            seen.extend(index for index, _ in group)
    assert "500" in str(info.value) and 20 not in seen
    fast.close()


def test_head_many_stops_when_cancelled(s3_server, s3_env, bucket, boto3_s3):
    keys = [f"c/{i:03d}" for i in range(300)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: boto3_s3.put_object(Bucket=bucket, Key=k, Body=b"d"), keys))
    fast = FastHead(access(s3_server), max_workers=2)
    seen: list[int] = []
    with pytest.raises(CancelledError):
        for group in fast.batch(bucket).head_many(keys, should_cancel=lambda: len(seen) >= 20):
            seen.extend(index for index, _ in group)
    assert 20 <= len(seen) < len(keys)
    fast.close()


def test_a_client_never_closed_exits_without_warnings(s3_server, s3_env, bucket, boto3_s3, tmp_path):
    import subprocess
    import sys

    put_deltas(boto3_s3, bucket, 60)
    script = (
        "import sys\n"
        "from dgtui import create_client\n"
        f"client = create_client(endpoint_url={s3_server.endpoint_url!r}, aws_access_key_id={s3_server.access_key!r},"
        f" aws_secret_access_key={s3_server.secret_key!r}, region_name={s3_server.region!r},"
        f" cache_dir={str(tmp_path / 'cache')!r})\n"
        f"stats = client.get_bucket_stats({bucket!r}, detailed_stats=True)\n"
        "assert client._fetcher.fast_head.fast_requests > 0\n"
        "print(stats.delta_objects)\n"
    )
    done = subprocess.run([sys.executable, "-W", "error::ResourceWarning", "-c", script], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "60"
    assert "Unclosed" not in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_the_lean_client_and_aiohttp_answer_the_same_on_http_and_https(server, request):
    bucket, admin = fresh_bucket(server, request)
    for i, key in enumerate(AWKWARD_KEYS):
        admin.put_object(Bucket=bucket, Key=key, Body=b"x" * i, Metadata={"dg-tool": DG_TOOL, "Mixed-Case": f"v{i}"})
    keys = [*AWKWARD_KEYS, "missing/key"]
    lean, aio = FastHead(access(server)), FastHead(access(server))
    aio.use_wire = False
    try:
        lean_answers = [answer for group in lean.batch(bucket).head_many(keys) for answer in group]
        aio_answers = [answer for group in aio.batch(bucket).head_many(keys) for answer in group]
        assert sorted(lean_answers, key=lambda a: a[0]) == sorted(aio_answers, key=lambda a: a[0])
        assert lean.fast_requests == aio.fast_requests == len(keys) - 1 and not lean.fallback_requests
        assert sum(w.connections_opened for w in lean._wires.values()) >= 1 and not aio._wires
    finally:
        lean.close()
        aio.close()


def test_answers_the_lean_client_cannot_parse_go_to_botocore_then_aiohttp_sends(s3_server, s3_env, bucket,
                                                                                boto3_s3, monkeypatch):
    from dgtui.core import headwire
    from dgtui.core.fasthead import WIRE_SURPRISE_LIMIT

    keys = [f"k{i}" for i in range(WIRE_SURPRISE_LIMIT + 4)]
    for key in keys:
        boto3_s3.put_object(Bucket=bucket, Key=key, Body=b"x", Metadata={"key": key})
    surprises = []

    async def garbled(self, path, headers):  # fault injection: every answer unparsable
        surprises.append(path)
        raise headwire.WireError("unparsable answer", surprise=True)

    monkeypatch.setattr(headwire.HeadWire, "head", garbled)
    fast = FastHead(access(s3_server))
    batch = fast.batch(bucket)
    assert [batch.head(k)[1] for k in keys] == [{"key": k} for k in keys]
    assert len(surprises) == WIRE_SURPRISE_LIMIT and not fast.use_wire
    # botocore repeated the garbled ones; aiohttp answered the rest, and the fast path stayed on
    assert fast.enabled and fast.fallback_requests == WIRE_SURPRISE_LIMIT
    assert fast.fast_requests == len(keys) - 1 - WIRE_SURPRISE_LIMIT
    fast.close()
