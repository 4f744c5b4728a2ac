"""What AWS users meet first: buckets outside us-east-1, the configured addressing style, ``--debug``
that shows dgtui's own decisions, and keys a server stores under another name."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from dgtui import create_client
from dgtui.cli import main
from dgtui.core.errors import KeyRewrittenError
from dgtui.testing.proxy import FaultProxy, FaultRates
from tests.conftest import bucket_name_for
from tests.core.conftest import make_release
from tests.core.test_fasthead import put_deltas
from tests.scripted_http import QuietHandler, serving

from .conftest import assert_one_line_error, cli_env, run_cli


def moto_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, moto_endpoint: str, region: str) -> None:
    """The environment of a user of ``region`` (no config file, nothing else set)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "moto-key",
                        "AWS_SECRET_ACCESS_KEY": "moto-secret", "AWS_DEFAULT_REGION": region,
                        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
                        "DGTUI_CACHE_DIR": str(tmp_path / "cache"), "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)


def moto_admin(moto_endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=moto_endpoint, aws_access_key_id="moto-key",
                        aws_secret_access_key="moto-secret", region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}))


# --- buckets outside us-east-1 ---------------------------------------------------------------

@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1"])
def test_mb_and_create_bucket_in_the_clients_region(moto_endpoint, monkeypatch, tmp_path, capsys, request,
                                                     region):
    moto_env(monkeypatch, tmp_path, moto_endpoint, region)
    admin = moto_admin(moto_endpoint)
    # Without a LocationConstraint, moto refuses outside us-east-1, as AWS does.
    by_cli = bucket_name_for(request.node.name + "-cli")
    assert main(["mb", f"s3://{by_cli}"]) == 0, capsys.readouterr().err
    assert main(["mb", f"s3://{by_cli}"]) == 0  # one's own bucket: still a success
    out, err = capsys.readouterr()
    assert out == f"bucket s3://{by_cli} created\nbucket s3://{by_cli} already existed; nothing changed\n" \
        and err == ""
    client = create_client()
    by_sdk = bucket_name_for(request.node.name + "-sdk")
    client.create_bucket(Bucket=by_sdk)
    client.create_bucket(Bucket=by_sdk)
    client.close()
    expected = None if region == "us-east-1" else region
    for name in (by_cli, by_sdk):
        assert admin.get_bucket_location(Bucket=name).get("LocationConstraint") == expected, name
    # A configuration given by the caller goes as it is.
    named = bucket_name_for(request.node.name + "-named")
    with closing(create_client(region_name="us-east-1")) as other:
        other.create_bucket(Bucket=named, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    assert admin.get_bucket_location(Bucket=named)["LocationConstraint"] == "eu-central-1"


def test_mb_with_a_region_on_seaweedfs(s3_server, s3_env, monkeypatch, capsys, request, boto3_s3):
    # A server with a region of its own (or none) takes the constraint of the client's region.
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    name = bucket_name_for(request.node.name)
    assert main(["mb", f"s3://{name}"]) == 0, capsys.readouterr().err
    assert main(["mb", f"s3://{name}", "--region", "eu-west-1"]) == 0, capsys.readouterr().err
    assert name in [b["Name"] for b in boto3_s3.list_buckets()["Buckets"]]


# --- the addressing style ----------------------------------------------------------------------

class _Recording(QuietHandler):
    """Answers like an S3 server with one empty bucket and records each request line and Host header."""

    seen: list[tuple[str, str]] = []
    lock = threading.Lock()

    def _record(self) -> None:
        with self.lock:
            self.seen.append((self.path, self.headers.get("Host", "")))

    def do_HEAD(self) -> None:  # noqa: N802
        self._record()
        self.send_response(200)
        self.send_header("ETag", '"0cc175b9c0f1b6a831c399e269772661"')
        self.send_header("Content-Length", "1")
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        self._record()
        body = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>bkt</Name><Prefix></Prefix>'
                b"<KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated></ListBucketResult>")
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def recording_proxy(monkeypatch, tmp_path) -> Iterator[Path]:
    """Every request goes to a recording server on 127.0.0.1 as an HTTP proxy, so the host botocore
    addresses (``bkt.localhost:9000`` with virtual-hosted style) needs no DNS. Yields the AWS config
    file's path."""
    _Recording.seen = []
    with serving(_Recording) as url:
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "NO_PROXY", "no_proxy", "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(name, raising=False)
        config = tmp_path / "aws-config"
        for name, value in {"HTTP_PROXY": url, "http_proxy": url, "AWS_ACCESS_KEY_ID": "key",
                            "AWS_SECRET_ACCESS_KEY": "secret", "AWS_DEFAULT_REGION": "us-east-1",
                            "AWS_CONFIG_FILE": str(config),
                            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
                            "DGTUI_CACHE_DIR": str(tmp_path / "cache"), "AWS_EC2_METADATA_DISABLED": "true"}.items():
            monkeypatch.setenv(name, value)
        yield config


ENDPOINT = "http://localhost:9000"


def head_through(**options: Any) -> tuple[str, set[str]]:
    """The URL of the request for ``dir/a.txt`` (it is looked up as ``dir/a.txt.delta`` too) and the Host
    headers sent."""
    _Recording.seen = []
    with closing(create_client(endpoint_url=ENDPOINT, **options)) as client:
        client.head_object(Bucket="bkt", Key="dir/a.txt")
    urls = [url for url, _ in _Recording.seen if url.endswith("/dir/a.txt")]
    assert len(urls) == 1, _Recording.seen
    return urls[0], {host for _, host in _Recording.seen}


def test_the_configured_addressing_style_is_honoured(recording_proxy, capsys):
    # Nothing configured: path style for a custom endpoint, as before.
    assert head_through() == ("http://localhost:9000/bkt/dir/a.txt", {"localhost:9000"})
    recording_proxy.write_text("[default]\ns3 =\n    addressing_style = virtual\n")
    assert head_through() == ("http://bkt.localhost:9000/dir/a.txt", {"bkt.localhost:9000"})
    # The option wins over the config file, either way.
    assert head_through(addressing_style="path") == ("http://localhost:9000/bkt/dir/a.txt", {"localhost:9000"})
    recording_proxy.write_text("[default]\ns3 =\n    addressing_style = path\n")
    assert head_through(addressing_style="virtual")[1] == {"bkt.localhost:9000"}
    # The CLI's --addressing-style, before or after the command.
    for argv in (["ls", "s3://bkt/", "--endpoint-url", ENDPOINT, "--addressing-style", "virtual"],
                 ["--addressing-style", "virtual", "--endpoint-url", ENDPOINT, "ls", "s3://bkt/"]):
        _Recording.seen = []
        assert main(argv) == 0, capsys.readouterr().err
        assert _Recording.seen and all(host == "bkt.localhost:9000" for _, host in _Recording.seen)
    with pytest.raises(SystemExit) as usage:
        main(["ls", "s3://bkt/", "--endpoint-url", ENDPOINT, "--addressing-style", "sideways"])
    assert usage.value.code == 2
    assert "invalid choice: 'sideways'" in capsys.readouterr().err


# --- --debug shows dgtui's own logs ------------------------------------------------------------------

def test_debug_logs_fast_heads_fallbacks_and_redacts(s3_server, s3_env, bucket, boto3_s3):
    put_deltas(boto3_s3, bucket, 40, spaces=2)
    # Some HEADs answered 500 once: botocore repeats them, and says so.
    with FaultProxy(s3_server.endpoint_url, FaultRates(error=0.2), methods=("HEAD",), seed=1,
                    first_attempts=1) as proxy:
        proc = run_cli("--debug", "stats", "--detailed", f"s3://{bucket}", "--endpoint-url", proxy.endpoint_url,
                       env=cli_env(s3_env))
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0, err[-2000:]
    fast = [line for line in err.splitlines() if " dgtui.fasthead DEBUG fast HEAD " in line]
    assert len(fast) >= 30, err[-3000:]
    assert all("Signature=[redacted]" in line for line in fast)
    repeated = [line for line in err.splitlines() if "through botocore after a fast HEAD (HTTP 500)" in line]
    # each logged repeat is one of the proxy's 500s; a 500 met by a HEAD botocore sent itself (not a fast
    # one) is repeated by botocore without this line
    assert 0 < len(repeated) <= proxy.counts["error"]
    assert s3_server.secret_key not in err and s3_server.access_key not in err


def test_debug_logs_the_ranged_listings_decisions(s3_server, s3_env, bucket, boto3_s3):
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: boto3_s3.put_object(Bucket=bucket, Key=f"k/{i:05d}", Body=b""), range(1500)))
    proc = run_cli("--debug", "ls", "-r", f"s3://{bucket}/", env=cli_env(s3_env))
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 0 and proc.stdout.decode().count("\n") == 1500, err[-2000:]
    assert " dgtui.ranged DEBUG listing s3://" in err and "cut into" in err, err[-3000:]


# --- keys the server rewrites -----------------------------------------------------------------------

REWRITTEN = {
    # asked for: where SeaweedFS stores it
    "releases//dbl/app.zip": "releases/dbl/app.zip.delta",
    "k \\ end.txt": "k / end.txt",
    "/lead/notes.txt": "lead/notes.txt",
}


def upload_each(client: Any, bucket: str, tmp_path: Path) -> dict[str, BaseException | str]:
    outcome: dict[str, BaseException | str] = {}
    for key in REWRITTEN:
        source = tmp_path / key.replace("/", "_").replace("\\", "_")
        if key.endswith(".zip"):
            make_release(source, 1)
        else:
            source.write_text(f"contents of {key}")
        try:
            outcome[key] = client.upload(source, f"s3://{bucket}/{key}").stored_key
        except KeyRewrittenError as exc:
            outcome[key] = exc
    return outcome


def test_a_key_seaweedfs_rewrites_is_reported_where_it_went(s3_server, s3_env, bucket, boto3_s3, tmp_path):
    # SeaweedFS's quirk: it stores keys as file paths ('//' and '\\' as '/', no leading '/'), answers the
    # PUT with success and a HEAD of either name, and lists only the rewritten one.
    client = create_client(endpoint_url=s3_server.endpoint_url, cache_dir=tmp_path / "cache")
    outcome = upload_each(client, bucket, tmp_path)
    client.close()
    for key, stored_as in REWRITTEN.items():
        error = outcome[key]
        assert isinstance(error, KeyRewrittenError), (key, error)
        assert error.stored_as == stored_as and error.key == key
        assert f"stored it as s3://{bucket}/{stored_as}" in str(error) and "\n" not in str(error)
    listed = {o["Key"] for o in boto3_s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert set(REWRITTEN.values()) <= listed


def test_a_rewritten_key_fails_put_with_one_line(s3_server, s3_env, bucket, tmp_path):
    source = tmp_path / "notes.txt"
    source.write_text("notes")
    proc = run_cli("put", str(source), f"s3://{bucket}/docs//notes.txt", env=cli_env(s3_env))
    assert_one_line_error(proc, f"stored it as s3://{bucket}/docs/notes.txt", "choose a key without them")


def test_moto_keeps_the_keys_seaweedfs_rewrites(moto_endpoint, moto_bucket, moto_s3, monkeypatch, tmp_path):
    moto_env(monkeypatch, tmp_path, moto_endpoint, "us-east-1")
    client = create_client(cache_dir=tmp_path / "cache")
    outcome = upload_each(client, moto_bucket, tmp_path)
    client.close()
    assert outcome == {"releases//dbl/app.zip": "releases//dbl/app.zip.delta", "k \\ end.txt": "k \\ end.txt",
                       "/lead/notes.txt": "/lead/notes.txt"}
    listed = {o["Key"] for o in moto_s3.list_objects_v2(Bucket=moto_bucket)["Contents"]}
    assert set(outcome.values()) <= listed
