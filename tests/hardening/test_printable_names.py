"""What dgtui prints and copies is printable: bucket names from a server, keys that look like escapes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dgtui.core.text import printable, safe_line

from ..scripted_http import QuietHandler, serving
from .conftest import cli_env, run_cli

#: names a hostile server can list: RIGHT-TO-LEFT OVERRIDE, C1 CSI, NEXT LINE
HOSTILE_BUCKETS = ["evil\u202etxt.exe", "csi\u009b2J", "next\u0085line"]
RAW = ["\u202e".encode(), "\u009b".encode(), "\u0085".encode(), b"\x1b"]


def _list_buckets_body(names: list[str]) -> bytes:
    buckets = "".join(f"<Bucket><Name>{n}</Name><CreationDate>2026-01-01T00:00:00.000Z</CreationDate></Bucket>"
                      for n in names)
    return ('<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult '
            'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID></Owner>'
            f"<Buckets>{buckets}</Buckets></ListAllMyBucketsResult>").encode()


class _Buckets(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path.split("?")[0] == "/":
            status, body = 200, _list_buckets_body(HOSTILE_BUCKETS)
        else:  # any bucket: it does not exist
            status, body = 404, (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchBucket</Code>'
                                 b"<Message>The specified bucket does not exist</Message></Error>")
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET  # noqa: N815


@pytest.fixture
def hostile_server() -> Iterator[dict[str, str]]:
    with serving(_Buckets) as url:
        yield cli_env(AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s", AWS_DEFAULT_REGION="us-east-1",
                      AWS_ENDPOINT_URL=url, AWS_MAX_ATTEMPTS="1")


def test_ls_escapes_bucket_names_from_the_server(hostile_server):
    proc = run_cli("ls", env=hostile_server, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for raw in RAW:
        assert raw not in proc.stdout, raw
    out = proc.stdout.decode()
    assert out.count("\n") == len(HOSTILE_BUCKETS), out
    assert "s3://evil\\u202etxt.exe" in out and "s3://csi\\x9b2J" in out and "s3://next\\x85line" in out


def test_errors_escape_bucket_names(hostile_server):
    proc = run_cli("ls", "s3://csi\u009b2J\x1b]0;x\x07/", env=hostile_server, timeout=60)
    assert proc.returncode == 1
    for raw in RAW + [b"\x07"]:
        assert raw not in proc.stderr, raw
    err = proc.stderr.decode()
    assert err.count("\n") == 1 and "csi\\x9b2J\\x1b]0;x\\x07" in err, err


def test_a_backslash_is_escaped_so_lookalikes_differ():
    literal, real = "k/\\x1b[31m.txt", "k/\x1b[31m.txt"
    assert printable(literal) == "k/\\\\x1b[31m.txt"
    assert printable(real) == "k/\\x1b[31m.txt"
    assert printable(literal) != printable(real)
    # a message made of escaped names is not escaped twice, but still cannot carry a raw control
    assert safe_line(f"cannot read {printable(real)}\x1b[2J") == "cannot read k/\\x1b[31m.txt\\x1b[2J"


def test_ls_tells_a_literal_backslash_from_a_control_character(moto_s3, moto_bucket, moto_endpoint, capsys,
                                                                 tmp_path, monkeypatch):
    from dgtui.cli import main

    # moto keeps backslashes in keys (SeaweedFS turns them into slashes)
    moto_s3.put_object(Bucket=moto_bucket, Key="k/a\\x1b.txt", Body=b"1")
    moto_s3.put_object(Bucket=moto_bucket, Key="k/a\x1b.txt", Body=b"2")
    for name, value in {"AWS_ENDPOINT_URL": moto_endpoint, "AWS_ACCESS_KEY_ID": "moto-key",
                        "AWS_SECRET_ACCESS_KEY": "moto-secret", "AWS_DEFAULT_REGION": "us-east-1",
                        "DGTUI_CACHE_DIR": str(tmp_path / "cache"), "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    assert main(["ls", f"s3://{moto_bucket}/k/"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = sorted(line.rsplit("  ", 1)[-1] for line in lines)
    assert names == ["k/a\\\\x1b.txt", "k/a\\x1b.txt"], lines
