"""A loopback HTTP proxy in front of the real S3 server that rewrites its answers about some objects,
for what no S3 server sends (a date that is none, a negative size)."""

from __future__ import annotations

import http.client
import re
import urllib.parse

from .scripted_http import QuietHandler

HOP_BY_HOP = {"transfer-encoding", "connection", "keep-alive", "content-length"}


class Rewriting(QuietHandler):
    """Forwards every request to the real server; rewrites the answers about some objects:
    ``Last-Modified: garbage`` for keys with ``bad-date``, ``<Size>-77</Size>`` in listings for keys with ``neg``."""

    upstream = ""

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        try:
            # the Host header stays the proxy's: it is part of the signature
            conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                conn.putheader(name, value)
            conn.endheaders(body)
            answer = conn.getresponse()
            data = answer.read()
            headers = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP]
            length_header = answer.getheader("Content-Length")
        finally:
            conn.close()
        path = urllib.parse.unquote(self.path.split("?", 1)[0])
        if "bad-date" in path:
            headers = [(k, "garbage" if k.lower() == "last-modified" else v) for k, v in headers]
        if "list-type=2" in self.path:
            data = re.sub(rb"(<Key>[^<]*neg[^<]*</Key>.*?<Size>)\d+(</Size>)", rb"\g<1>-77\g<2>", data, flags=re.S)
        self.send_response(answer.status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", length_header if self.command == "HEAD" else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward  # noqa: N815
