"""The benchmarks' fault proxy: requests pass through as bytes, faults are FaultProxy's draw."""

from __future__ import annotations

import socket
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from dgtui import create_client
from dgtui.demo.server import LocalS3Server
from dgtui.testing.fast_fault_proxy import FastFaultProxy
from dgtui.testing.proxy import LOOPBACK, FaultProxy, FaultRates
from tests.core.test_fasthead import put_deltas

BODY = bytes(range(256)) * 8192  # 2 MiB: many reads and writes each way


def client_through(endpoint_url: str, server: LocalS3Server, *, attempts: int = 1, verify: Any = None) -> Any:
    return boto3.client(
        "s3", endpoint_url=endpoint_url, aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key, region_name=server.region, verify=verify,
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": attempts, "mode": "standard"},
                      connect_timeout=2, read_timeout=10),
    )


def test_requests_without_a_fault_pass_through_intact(s3_server, bucket, boto3_s3):
    with FastFaultProxy(s3_server.endpoint_url) as proxy:
        s3 = client_through(proxy.endpoint_url, s3_server)
        s3.put_object(Bucket=bucket, Key="x/big.bin", Body=BODY)
        s3.put_object(Bucket=bucket, Key="x/small.txt", Body=b"v", Metadata={"dg-file-sha256": "ab"})
        assert boto3_s3.get_object(Bucket=bucket, Key="x/big.bin")["Body"].read() == BODY
        assert s3.get_object(Bucket=bucket, Key="x/big.bin")["Body"].read() == BODY
        assert s3.get_object(Bucket=bucket, Key="x/big.bin", Range="bytes=10-19")["Body"].read() == BODY[10:20]
        assert s3.head_object(Bucket=bucket, Key="x/small.txt")["Metadata"] == {"dg-file-sha256": "ab"}
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="x/")["Contents"]]
        assert keys == ["x/big.bin", "x/small.txt"]
        s3.delete_object(Bucket=bucket, Key="x/small.txt")
        with pytest.raises(ClientError) as missing:
            s3.head_object(Bucket=bucket, Key="x/small.txt")
        assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert proxy.requests == 8 and sum(proxy.counts.values()) == 0


def throttled_keys(endpoint_url: str, server: LocalS3Server, bucket: str, keys: list[str]) -> list[str]:
    """The keys whose HEAD (one attempt each, one after another) was answered 503 SlowDown."""
    s3 = client_through(endpoint_url, server)
    throttled = []
    for key in keys:
        try:
            s3.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 503, exc
            throttled.append(key)
    return throttled


def test_the_same_seed_throttles_the_same_requests_as_fault_proxy(s3_server, bucket, boto3_s3):
    keys = [f"k/{i:03}" for i in range(40)]
    for key in keys:
        boto3_s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    rates = FaultRates(slowdown=0.3)
    with FaultProxy(s3_server.endpoint_url, rates, seed=7) as reference:
        expected = throttled_keys(reference.endpoint_url, s3_server, bucket, keys)
    with FastFaultProxy(s3_server.endpoint_url, rates, seed=7) as fast:
        got = throttled_keys(fast.endpoint_url, s3_server, bucket, keys)
        assert fast.counts == reference.counts and fast.requests == reference.requests == len(keys)
    assert got == expected and 0 < len(got) < len(keys)
    with FastFaultProxy(s3_server.endpoint_url, rates, seed=8) as other:
        assert throttled_keys(other.endpoint_url, s3_server, bucket, keys) != expected


@pytest.mark.parametrize(("fault", "status", "code"), [("slowdown", 503, "SlowDown"),
                                                       ("error", 500, "InternalError")])
def test_faults_answer_as_s3_does(s3_server, bucket, boto3_s3, fault, status, code):
    boto3_s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    with FastFaultProxy(s3_server.endpoint_url, FaultRates(**{fault: 1.0})) as proxy:
        s3 = client_through(proxy.endpoint_url, s3_server)
        with pytest.raises(ClientError) as answer:
            s3.get_object(Bucket=bucket, Key="k")
        assert answer.value.response["Error"]["Code"] == code
        assert answer.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        with pytest.raises(ClientError) as bodiless:
            s3.head_object(Bucket=bucket, Key="k")
        assert bodiless.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
        assert proxy.counts[fault] == 2


def test_a_reset_is_a_connection_error(s3_server, bucket, boto3_s3):
    boto3_s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    with FastFaultProxy(s3_server.endpoint_url, FaultRates(reset=1.0)) as proxy:
        with pytest.raises(BotoCoreError):
            client_through(proxy.endpoint_url, s3_server).get_object(Bucket=bucket, Key="k")
        with socket.create_connection((LOOPBACK, proxy.port), timeout=10) as raw:
            raw.sendall(f"GET /{bucket}/k HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode())
            with pytest.raises(ConnectionResetError):  # a TCP reset, not a clean close
                raw.recv(100)
        assert proxy.counts["reset"] == 2


def test_pipelined_requests_close_the_connection(s3_server, bucket, boto3_s3):
    boto3_s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    request = f"HEAD /{bucket}/k HTTP/1.1\r\nHost: {LOOPBACK}\r\n\r\n".encode()
    with FastFaultProxy(s3_server.endpoint_url) as proxy, \
            socket.create_connection((LOOPBACK, proxy.port), timeout=10) as raw:
        raw.sendall(request * 2)
        received = b""
        for _ in range(100):  # bounded: the proxy closes the connection
            chunk = raw.recv(4096)
            if not chunk:
                break
            received += chunk
        assert b" 200 " not in received  # neither request reached the server as a pair of requests


def test_a_throttled_upload_is_stored_whole_by_its_retry(s3_server, bucket, boto3_s3):
    # The first sending of the PUT (its body included) is answered 503 and never reaches the server;
    # botocore sends it again on the same kept-alive connection.
    with FastFaultProxy(s3_server.endpoint_url, FaultRates(slowdown=1.0), methods=("PUT",),
                        first_attempts=1) as proxy:
        s3 = client_through(proxy.endpoint_url, s3_server, attempts=3)
        s3.put_object(Bucket=bucket, Key="up.bin", Body=BODY)
        assert proxy.counts["slowdown"] == 1 and proxy.requests == 2
    assert boto3_s3.get_object(Bucket=bucket, Key="up.bin")["Body"].read() == BODY


def test_serves_https_in_front_of_an_https_server(s3_tls_server, request):
    admin = s3_tls_server.boto3_client()
    bucket = "fast-fault-proxy-tls"
    admin.create_bucket(Bucket=bucket)
    request.addfinalizer(lambda: [admin.delete_object(Bucket=bucket, Key="t.bin"), admin.delete_bucket(Bucket=bucket)])
    cert, key, ca_bundle = s3_tls_server.tls
    with FastFaultProxy(s3_tls_server.https_endpoint_url, tls=(cert, key), ca_bundle=ca_bundle) as proxy:
        assert proxy.endpoint_url.startswith("https://")
        s3 = client_through(proxy.endpoint_url, s3_tls_server, verify=ca_bundle)
        s3.put_object(Bucket=bucket, Key="t.bin", Body=BODY)
        assert s3.get_object(Bucket=bucket, Key="t.bin")["Body"].read() == BODY


def test_dgtui_stats_through_it_are_the_clean_run_s(s3_server, s3_env, bucket, boto3_s3, tmp_path):
    put_deltas(boto3_s3, bucket, 300, spaces=3)
    clean = create_client(endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path / "clean")
    expected = clean.get_bucket_stats(bucket, detailed_stats=True)
    clean.close()
    with FastFaultProxy(s3_server.endpoint_url, FaultRates(slowdown=0.1), seed=1) as proxy:
        client = create_client(endpoint_url=proxy.endpoint_url, cache_dir=tmp_path / "throttled")
        got = client.get_bucket_stats(bucket, detailed_stats=True)
        fast = client._fetcher.fast_head
        assert got == expected and got.delta_objects == 300
        assert fast.enabled and fast.throttled_requests > 0
        assert proxy.counts["slowdown"] >= fast.throttled_requests
        client.close()


def test_refuses_faults_it_cannot_inject(s3_server):
    for rates in (FaultRates(truncate=0.1), FaultRates(stall=0.1)):
        with pytest.raises(ValueError, match="FaultProxy can"):
            FastFaultProxy(s3_server.endpoint_url, rates)
    with pytest.raises(ValueError, match="only forwards"):
        FastFaultProxy("http://example.com:80")
