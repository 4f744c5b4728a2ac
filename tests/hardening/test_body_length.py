"""A body longer than its Content-Length or its listed size is cut off and refused.

S3 servers never send that; a scripted server on 127.0.0.1 does: a chunked
body that goes on and on, a Content-Length larger than the HEAD said, bytes
after the Content-Length, for an object and for a delta's reference.
"""

from __future__ import annotations

import hashlib
import subprocess
from email.utils import formatdate
from pathlib import Path

import pytest

from dgtui import IntegrityError, create_client
from dgtui.core import format as fmt
from tests.core.conftest import random_bytes

from ..scripted_http import QuietHandler, serving
from .conftest import leftovers

SIZE = 1000
#: what a scripted body sends at most, whatever the client does
ENDLESS = 32 * 2**20


class _Server(QuietHandler):
    #: path -> (HEAD headers, body, how to send the body)
    objects: dict[str, tuple[dict[str, str], bytes, str]] = {}
    sent: dict[str, int] = {}

    def do_HEAD(self) -> None:  # noqa: N802
        found = self.objects.get(self.path.split("?")[0])
        if found is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        for name, value in found[0].items():
            self.send_header(name, value)
        self.end_headers()

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?")[0]
        found = self.objects.get(path)
        if found is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        headers, body, how = found
        self.send_response(200)
        for name, value in headers.items():
            if name != "Content-Length":
                self.send_header(name, value)
        sent = 0
        try:
            if how == "endless-chunked":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                piece = body * (65536 // len(body) + 1)
                while sent < ENDLESS:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                    sent += len(piece)
                self.wfile.write(b"0\r\n\r\n")
            elif how == "longer-length":
                longer = body * 5
                self.send_header("Content-Length", str(len(longer)))
                self.end_headers()
                self.wfile.write(longer)
                sent = len(longer)
            elif how == "bytes-after-length":
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body + b"\xff" * 4000)
                sent = len(body) + 4000
                self.close_connection = True
            else:
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                sent = len(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            self.sent[path] = self.sent.get(path, 0) + sent


def object_headers(body: bytes, metadata: dict[str, str]) -> dict[str, str]:
    headers = {"Content-Length": str(len(body)), "ETag": f'"{hashlib.md5(body).hexdigest()}"',
               "Last-Modified": formatdate(usegmt=True), "Content-Type": "application/octet-stream"}
    headers.update({f"x-amz-meta-{k}": v for k, v in metadata.items()})
    return headers


@pytest.fixture
def scripted(tmp_path, monkeypatch):
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    _Server.objects = {}
    _Server.sent = {}
    with serving(_Server) as url:
        client = create_client(endpoint_url=url, aws_access_key_id="k", aws_secret_access_key="s",
                               region_name="us-east-1", cache_dir=tmp_path / "cache")
        try:
            yield client
        finally:
            client.close()


def direct(how: str) -> bytes:
    body = random_bytes(SIZE)
    meta = fmt.direct_metadata(version="6.2.0", original_name="a.bin", file_sha256=hashlib.sha256(body).hexdigest(),
                               file_size=len(body))
    _Server.objects["/b/p/a.bin"] = (object_headers(body, meta), body, how)
    return body


@pytest.mark.parametrize("how", ["endless-chunked", "longer-length"])
def test_a_body_longer_than_its_listed_size_is_refused(scripted, tmp_path, how):
    direct(how)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(IntegrityError, match=r"the download of s3://b/p/a\.bin sent more than its 1000 bytes; "
                                             r"refused"):
        scripted.download("s3://b/p/a.bin", out)
    assert leftovers(out) == []


def test_bytes_after_the_content_length_are_cut_off(scripted, tmp_path):
    body = direct("bytes-after-length")
    out = tmp_path / "out"
    out.mkdir()
    result = scripted.download("s3://b/p/a.bin", out)
    assert result.verified and (out / "a.bin").read_bytes() == body, "exactly the object, nothing after it"
    assert leftovers(out) == [out / "a.bin"]


def test_a_reference_longer_than_listed_is_refused(scripted, tmp_path):
    ref = random_bytes(SIZE)
    target = bytearray(ref)
    target[10:20] = b"0123456789"
    (tmp_path / "ref").write_bytes(ref)
    (tmp_path / "target").write_bytes(bytes(target))
    subprocess.run(["xdelta3", "-e", "-f", "-9", "-s", str(tmp_path / "ref"), str(tmp_path / "target"),
                    str(tmp_path / "delta")], check=True)
    delta = Path(tmp_path / "delta").read_bytes()
    ref_sha = hashlib.sha256(ref).hexdigest()
    _Server.objects["/b/p/reference.bin"] = (
        object_headers(ref, fmt.reference_metadata(version="6.2.0", source_name="ref", file_sha256=ref_sha,
                                                   file_size=len(ref))), ref, "endless-chunked")
    _Server.objects["/b/p/x.bin.delta"] = (
        object_headers(delta, fmt.delta_metadata(version="6.2.0", original_name="x.bin",
                                                 file_sha256=hashlib.sha256(bytes(target)).hexdigest(),
                                                 file_size=len(target), ref_key="p/reference.bin", ref_sha256=ref_sha,
                                                 delta_size=len(delta), zero_diff=False)), delta, "plain")
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(IntegrityError, match=r"the download of s3://b/p/reference\.bin sent more than its 1000 "
                                             r"bytes; refused"):
        scripted.download("s3://b/p/x.bin", out)
    assert leftovers(out) == []
    assert [p for p in leftovers(tmp_path / "cache") if "references" in p.parts] == []
    # The same reference, sent as listed: the restore works (the refusal was about the length only).
    _Server.objects["/b/p/reference.bin"] = (_Server.objects["/b/p/reference.bin"][0], ref, "plain")
    assert scripted.download("s3://b/p/x.bin", out).verified
    assert (out / "x.bin").read_bytes() == bytes(target)
