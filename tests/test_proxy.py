"""The latency and fault-injection proxy in front of the test server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dgtui.demo.server import LocalS3Server
from dgtui.testing import TcpProxy

LATENCY_S = 0.05
BODY = bytes(range(256)) * 4096  # 1 MiB


def client_through(proxy: TcpProxy, server: LocalS3Server) -> Any:
    return boto3.client(
        "s3", endpoint_url=proxy.endpoint_url, aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key, region_name=server.region,
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )


@pytest.fixture
def proxy(s3_server: LocalS3Server) -> Iterator[TcpProxy]:
    with TcpProxy.for_endpoint(s3_server.endpoint_url) as running:
        yield running


@pytest.fixture
def proxied(proxy: TcpProxy, s3_server: LocalS3Server) -> Any:
    return client_through(proxy, s3_server)


def median_head_time(client: Any, bucket: str, key: str, rounds: int = 5) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        client.head_object(Bucket=bucket, Key=key)
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def test_forwards_requests(proxied: Any, bucket: str, boto3_s3: Any) -> None:
    proxied.put_object(Bucket=bucket, Key="x/one.bin", Body=BODY)
    assert boto3_s3.get_object(Bucket=bucket, Key="x/one.bin")["Body"].read() == BODY
    assert proxied.get_object(Bucket=bucket, Key="x/one.bin")["Body"].read() == BODY


def test_latency_is_added_to_every_request(proxy: TcpProxy, proxied: Any, bucket: str, boto3_s3: Any) -> None:
    boto3_s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    proxied.head_object(Bucket=bucket, Key="k")  # open the pooled connection first
    proxy.latency_s = LATENCY_S
    assert median_head_time(proxied, bucket, "k") >= LATENCY_S
    proxy.latency_s = 0
    assert median_head_time(proxied, bucket, "k") < LATENCY_S


def test_bandwidth_limit_holds_bytes_back_and_forwards_them_intact(proxy: TcpProxy, proxied: Any, bucket: str,
                                                                   boto3_s3: Any) -> None:
    boto3_s3.put_object(Bucket=bucket, Key="big", Body=BODY)
    proxied.head_object(Bucket=bucket, Key="big")  # open the pooled connection first
    proxy.bandwidth_bps = 4 * len(BODY)  # a quarter of a second for the body, at the least
    started = time.perf_counter()
    assert proxied.get_object(Bucket=bucket, Key="big")["Body"].read() == BODY
    assert time.perf_counter() - started >= 0.25
    proxied.put_object(Bucket=bucket, Key="up", Body=BODY)
    assert boto3_s3.get_object(Bucket=bucket, Key="up")["Body"].read() == BODY
    proxy.bandwidth_bps = 0
    assert proxied.get_object(Bucket=bucket, Key="big")["Body"].read() == BODY


def test_refuse_fails_new_connections_and_reset_restores(proxy: TcpProxy, s3_server: LocalS3Server,
                                                          bucket: str) -> None:
    proxy.refuse()
    with pytest.raises(BotoCoreError):
        client_through(proxy, s3_server).list_objects_v2(Bucket=bucket)
    proxy.reset()
    client_through(proxy, s3_server).list_objects_v2(Bucket=bucket)


def test_cut_after_bytes_breaks_a_download(proxy: TcpProxy, proxied: Any, bucket: str, boto3_s3: Any) -> None:
    boto3_s3.put_object(Bucket=bucket, Key="big.bin", Body=BODY)
    proxy.cut_after_bytes(100_000)
    with pytest.raises((BotoCoreError, ClientError, OSError)):
        proxied.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    proxy.reset()
    assert proxied.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == BODY


def test_cut_once_only_breaks_the_first_response(proxy: TcpProxy, proxied: Any, bucket: str,
                                                 boto3_s3: Any) -> None:
    boto3_s3.put_object(Bucket=bucket, Key="big.bin", Body=BODY)
    proxy.cut_after_bytes(1000, once=True)
    with pytest.raises((BotoCoreError, ClientError, OSError)):
        proxied.get_object(Bucket=bucket, Key="big.bin")["Body"].read()
    assert proxied.get_object(Bucket=bucket, Key="big.bin")["Body"].read() == BODY


def test_drop_all_closes_live_connections(proxy: TcpProxy, proxied: Any, bucket: str) -> None:
    proxied.list_objects_v2(Bucket=bucket)
    assert proxy.live_connections == 1
    proxy.drop_all()
    assert wait_for(lambda: proxy.live_connections == 0)
    # botocore notices the dead pooled connection and opens a new one.
    proxied.list_objects_v2(Bucket=bucket)


def test_only_forwards_to_loopback() -> None:
    with pytest.raises(ValueError):
        TcpProxy.for_endpoint("http://example.com:9000")


def test_stop_closes_the_listener(s3_server: LocalS3Server, bucket: str) -> None:
    proxy = TcpProxy.for_endpoint(s3_server.endpoint_url).start()
    client = client_through(proxy, s3_server)
    client.list_objects_v2(Bucket=bucket)
    proxy.stop()
    proxy.stop()
    with pytest.raises(BotoCoreError):
        client.list_objects_v2(Bucket=bucket)


def wait_for(condition: Any, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False
