"""A server cannot hang dgtui or make it loop: listings that never advance stop with one line,
stalled transfers time out naming the object, and Ctrl-C, SIGTERM, SIGHUP and `q` end it
at once whatever is hanging, leaving no partial file (and the next run removes what a
SIGKILL left)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import pytest

from dgtui.testing.proxy import TcpProxy, _recv, _send
from tests.scripted_http import QuietHandler, serving

from .conftest import PYTHON, cli_env, leftovers, make_client, run_cli

MB = 1024 * 1024
#: most requests a looping listing may cost before it is stopped (one page, the one that repeats,
#: and the requests of a ranged listing's first round)
MOST_LIST_REQUESTS = 40


class LoopingServer:
    """Answers every listing with the same truncated page and the same NextContinuationToken."""

    def __init__(self) -> None:
        self.list_requests = 0
        self.lock = threading.Lock()

    def handler(self) -> type[QuietHandler]:
        server = self

        class Handler(QuietHandler):
            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                if url.path == "/":
                    self._answer(200, b'<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult '
                                      b'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID></Owner>'
                                      b'<Buckets><Bucket><Name>loop</Name><CreationDate>2025-01-01T00:00:00.000Z'
                                      b'</CreationDate></Bucket></Buckets></ListAllMyBucketsResult>')
                    return
                if query.get("list-type") == ["2"]:
                    with server.lock:
                        server.list_requests += 1
                        if server.list_requests > 2000:  # a bound for the test itself
                            self._answer(500, b"")
                            return
                    prefix = escape(query.get("prefix", [""])[0])
                    items = "".join(f"<Contents><Key>{prefix}file-{n}.bin</Key><Size>10</Size>"
                                    f"<LastModified>2025-01-01T00:00:00.000Z</LastModified><ETag>\"e{n}\"</ETag>"
                                    f"<StorageClass>STANDARD</StorageClass></Contents>" for n in (1, 2))
                    body = (f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
                            f'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>loop</Name>'
                            f"<Prefix>{prefix}</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>"
                            f"<IsTruncated>true</IsTruncated><NextContinuationToken>SAME</NextContinuationToken>"
                            f"{items}</ListBucketResult>")
                    self._answer(200, body.encode())
                    return
                self._answer(404, b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code>'
                                  b'<Message>no</Message></Error>')

            do_HEAD = do_GET

        return Handler


@pytest.fixture
def looping() -> Iterator[tuple[LoopingServer, str]]:
    server = LoopingServer()
    with serving(server.handler()) as url:
        yield server, url


def loop_env(tmp_path) -> dict[str, str]:
    return cli_env(AWS_ACCESS_KEY_ID="k", AWS_SECRET_ACCESS_KEY="s", AWS_DEFAULT_REGION="us-east-1",
                   AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=str(tmp_path / "none"),
                   AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), DGTUI_CACHE_DIR=str(tmp_path / "cache"))


@pytest.mark.parametrize("argv", [["ls", "s3://loop/p/"], ["ls", "-r", "s3://loop/"], ["get", "-r", "s3://loop/p/"]])
def test_a_repeated_continuation_token_ends_the_cli_listing(looping, argv, tmp_path):
    server, url = looping
    out = tmp_path / "out"
    out.mkdir()
    if argv[0] == "get":
        argv = [*argv, str(out)]
    proc = run_cli(*argv, "--endpoint-url", url, env=loop_env(tmp_path), timeout=120)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert err.count("\n") == 1 and "same continuation token twice" in err and "s3://loop" in err, err
    assert 2 <= server.list_requests <= MOST_LIST_REQUESTS
    # Each name once at most, never the endless repeats.
    printed = proc.stdout.decode().splitlines()
    assert len(printed) == len(set(printed)) <= 2
    assert leftovers(out) == []


def test_a_repeated_continuation_token_ends_sdk_listings(looping, tmp_path, monkeypatch):
    from dgtui.core.errors import ListingLoopError

    server, url = looping
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    c = make_client(url, "k", "s", tmp_path / "c")
    try:
        for ranged in (False, True):
            for delimiter in ("/", None):
                with pytest.raises(ListingLoopError):
                    for _ in c.iter_pages("loop", "p/", delimiter=delimiter, ranged=ranged):
                        pass
    finally:
        c.close()
    assert server.list_requests <= 4 * MOST_LIST_REQUESTS


def test_a_page_that_comes_again_with_a_new_token_ends_the_listing(tmp_path, monkeypatch):
    """The same names again and again, each time under a new token."""
    from dgtui.core.errors import ListingLoopError

    count = {"n": 0}

    class NewTokenEachTime(QuietHandler):
        def do_GET(self) -> None:
            count["n"] += 1
            if count["n"] > 2000:
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = (f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult '
                    f'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>loop</Name><KeyCount>1</KeyCount>'
                    f"<IsTruncated>true</IsTruncated><NextContinuationToken>t{count['n']}</NextContinuationToken>"
                    f"<Contents><Key>same.bin</Key><Size>1</Size><LastModified>2025-01-01T00:00:00.000Z"
                    f"</LastModified><ETag>\"e\"</ETag></Contents></ListBucketResult>").encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with serving(NewTokenEachTime) as url:
        c = make_client(url, "k", "s", tmp_path / "c")
        try:
            for ranged in (False, True):
                with pytest.raises(ListingLoopError) as info:
                    for _ in c.iter_pages("loop", "", delimiter=None, ranged=ranged):
                        pass
                assert "same page again" in str(info.value)
        finally:
            c.close()
    assert count["n"] <= 4 * MOST_LIST_REQUESTS


@pytest.mark.asyncio
async def test_a_repeated_continuation_token_ends_the_app_listing(looping, tmp_path, monkeypatch):
    from dgtui.app.widgets.object_table import ObjectTable
    from tests.app.helpers import make_app, wait_for

    server, url = looping
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("DGTUI_CACHE_DIR", str(tmp_path / "cache"))
    app = make_app(lambda: make_client(url, "k", "s", tmp_path / "cache"), start_url="s3://loop/p/")
    async with app.run_test(size=(120, 40)) as pilot:
        def said() -> list[str]:
            return [n.message for n in app._notifications if "same continuation token twice" in n.message]

        await wait_for(pilot, said, timeout=60, what="the notification")
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: not table.listing, what="the listing to end")
        # The table's listing and the tree's (of the bucket) each say it once.
        assert len(said()) == len(set(said())) and any("s3://loop/p/;" in m for m in said())
        await pilot.pause()
        bar = app.screen.query_one("#location-bar")
        assert "loading" not in "".join(str(cell) for column in bar.render().columns for cell in column._cells)
        keys = [row.key for row in table.objects]
        assert len(keys) == len(set(keys)) <= 2
        requests = server.list_requests
        await pilot.pause(0.5)
        assert server.list_requests == requests <= MOST_LIST_REQUESTS, "no request after the listing stopped"


# --- stalled servers ----------------------------------------------------------------------

class StallingServer:
    """One plain object, ``b/slow.bin``, whose body comes as ``mode`` says:

    ``trickle``: a byte every 0.2 s; ``silent-body``: the headers, then nothing; ``silent``: nothing
    at all, to any request (listings too); ``cut``: 100 bytes, then the connection closes.
    """

    SIZE = 4096

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.release = threading.Event()  # ends every waiting answer when the test is over
        self.requests = 0

    def handler(self) -> type[QuietHandler]:
        server = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                server.requests += 1
                if server.mode == "silent":
                    server.release.wait(120)
                    return
                url = urlsplit(self.path)
                path = url.path
                if path == "/b" and "list-type=2" in url.query and self.command == "GET":
                    body = (b'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/'
                            b'doc/2006-03-01/"><Name>b</Name><KeyCount>1</KeyCount><IsTruncated>false</IsTruncated>'
                            b'<Contents><Key>slow.bin</Key><Size>%d</Size><LastModified>2025-01-01T00:00:00.000Z'
                            b'</LastModified><ETag>"0123456789abcdef0123456789abcdef"</ETag></Contents>'
                            b'</ListBucketResult>' % server.SIZE)
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                if path != "/b/slow.bin":
                    body = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code></Error>'
                    self.send_response(404)
                    self.send_header("Content-Length", str(len(body) if self.command == "GET" else 0))
                    self.end_headers()
                    if self.command == "GET":
                        self.wfile.write(body)
                    return
                self.send_response(200)
                self.send_header("ETag", '"0123456789abcdef0123456789abcdef"')
                self.send_header("Last-Modified", "Wed, 01 Jan 2025 00:00:00 GMT")
                self.send_header("Content-Length", str(server.SIZE))
                self.end_headers()
                if self.command == "HEAD":
                    return
                self.wfile.flush()
                if server.mode == "silent-body":
                    server.release.wait(120)
                elif server.mode == "cut":
                    self.wfile.write(b"x" * 100)
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                else:
                    for _ in range(server.SIZE):
                        if server.release.wait(0.2):
                            return
                        try:
                            self.wfile.write(b"x")
                            self.wfile.flush()
                        except OSError:
                            return

            do_HEAD = do_PUT = do_POST = do_DELETE = do_GET

        return Handler


@pytest.fixture
def stalling(request) -> Iterator[tuple[StallingServer, str]]:
    server = StallingServer(request.param)
    with serving(server.handler()) as url:
        try:
            yield server, url
        finally:
            server.release.set()


def stall_env(tmp_path, seconds: str = "1") -> dict[str, str]:
    return {**loop_env(tmp_path), "DGTUI_STALL_SECONDS": seconds}


@pytest.mark.parametrize("stalling", ["trickle", "silent-body", "silent"], indirect=True)
def test_a_stalled_download_times_out_naming_the_object(stalling, tmp_path):
    server, url = stalling
    out = tmp_path / "out"
    out.mkdir()
    proc = run_cli("get", "s3://b/slow.bin", str(out), "--endpoint-url", url, env=stall_env(tmp_path), timeout=120)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "timed out" in err and "dropped" not in err, err
    assert "s3://b/slow.bin" in err, err
    assert "DGTUI_STALL_SECONDS" in err, err
    assert leftovers(out) == []


@pytest.mark.parametrize("stalling", ["silent"], indirect=True)
def test_a_listing_nobody_answers_times_out_once(stalling, tmp_path):
    server, url = stalling
    proc = run_cli("ls", "s3://b/", "--endpoint-url", url, env=stall_env(tmp_path), timeout=120)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "timed out" in err and "s3://b" in err and "dropped" not in err, err
    assert server.requests == 1, "the stall limit bounds the whole listing, not each of five attempts"


@pytest.mark.parametrize("stalling", ["cut"], indirect=True)
def test_a_connection_that_drops_says_dropped(stalling, tmp_path):
    server, url = stalling
    out = tmp_path / "out"
    out.mkdir()
    proc = run_cli("get", "s3://b/slow.bin", str(out), "--endpoint-url", url, env=stall_env(tmp_path, "30"),
                   timeout=120)
    err = proc.stderr.decode("utf-8", "replace")
    assert proc.returncode == 1 and err.count("\n") == 1 and "Traceback" not in err, err
    assert "timed out" not in err and "dropped" in err and "s3://b/slow.bin" in err, err
    assert leftovers(out) == []


def test_the_stall_limit_comes_from_the_environment_or_the_settings_file(tmp_path, monkeypatch):
    from dgtui.core.config import DEFAULT_STALL_SECONDS, stall_seconds
    from dgtui.core.errors import DgError

    settings = tmp_path / "config.toml"
    monkeypatch.delenv("DGTUI_STALL_SECONDS", raising=False)
    assert stall_seconds(settings) == DEFAULT_STALL_SECONDS == 60
    settings.write_text("stall_seconds = 7.5\n")
    assert stall_seconds(settings) == 7.5
    monkeypatch.setenv("DGTUI_STALL_SECONDS", "3")
    assert stall_seconds(settings) == 3
    for bad in ("0", "-1", "soon", "inf"):
        monkeypatch.setenv("DGTUI_STALL_SECONDS", bad)
        with pytest.raises(DgError, match="DGTUI_STALL_SECONDS must be a number of seconds above 0"):
            stall_seconds(settings)
    monkeypatch.delenv("DGTUI_STALL_SECONDS")
    settings.write_text('stall_seconds = "long"\n')
    with pytest.raises(DgError, match="stall_seconds in"):
        stall_seconds(settings)


# --- Ctrl-C, SIGTERM, SIGHUP while the server hangs ----------------------------------------

def start_cli(*argv: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-m", "dgtui.cli", *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=str(Path(__file__).resolve().parents[2]))


def wait_until(predicate, what: str, bound: float = 30.0) -> None:
    deadline = time.monotonic() + bound
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def part_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(".dgtui-*"))


@pytest.mark.parametrize("stalling", ["silent-body"], indirect=True)
@pytest.mark.parametrize("command", ["ls", "get", "get -r"])
@pytest.mark.parametrize("signals", [("SIGINT",), ("SIGINT", "SIGINT"), ("SIGTERM",), ("SIGHUP",)],
                         ids=["ctrl-c", "ctrl-c twice", "sigterm", "sighup"])
def test_a_signal_ends_the_cli_at_once_while_the_server_hangs(stalling, command, signals, tmp_path):
    server, url = stalling
    out = tmp_path / "out"
    out.mkdir()
    argv = {"ls": ["ls", "s3://b/slow.bin"], "get": ["get", "s3://b/slow.bin", str(out)],
            "get -r": ["get", "-r", "s3://b/", str(out)]}[command]
    if command == "ls":
        server.mode = "silent"
    proc = start_cli(*argv, "--endpoint-url", url, env=loop_env(tmp_path))
    try:
        if command == "ls":
            wait_until(lambda: server.requests >= 1, "the listing request")
        else:
            wait_until(lambda: part_files(out), "the download to start")  # the body is awaited now
        time.sleep(0.2)
        for name in signals:
            proc.send_signal(getattr(signal, name))
            time.sleep(0.1)
        _, err = proc.communicate(timeout=30)  # a bound for the test, not a timing
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.decode("utf-8", "replace")
    assert proc.returncode == 128 + getattr(signal, signals[0]), text
    assert "Traceback" not in text and "Exception" not in text, text
    assert "interrupted" in text, text
    assert leftovers(out) == [], "no partial or temporary file"
    assert list((tmp_path / "cache").rglob(".incoming-*")) == []


@pytest.mark.parametrize("stalling", ["silent"], indirect=True)
@pytest.mark.parametrize("command", ["put", "stats --detailed", "verify", "audit --full", "rm"])
def test_ctrl_c_ends_every_command_while_the_server_hangs(stalling, command, tmp_path):
    server, url = stalling
    src = tmp_path / "notes.txt"
    src.write_bytes(b"notes" * 1000)
    argv = {"put": ["put", str(src), "s3://b/p/"], "stats --detailed": ["stats", "--detailed", "s3://b/"],
            "verify": ["verify", "s3://b/slow.bin"], "audit --full": ["audit", "--full", "s3://b/"],
            "rm": ["rm", "s3://b/slow.bin"]}[command]
    proc = start_cli(*argv, "--endpoint-url", url, env=loop_env(tmp_path))
    try:
        wait_until(lambda: server.requests >= 1, "the first request")
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)  # a bound for the test, not a timing
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = err.decode("utf-8", "replace")
    assert proc.returncode == 130 and "Traceback" not in text and "interrupted" in text, text
    cache = tmp_path / "cache"
    assert list(cache.rglob(".incoming-*")) == [] and list(cache.rglob("dgtui-*")) == [], "no temporary file"


# --- what a SIGKILLed run left --------------------------------------------------------------

class ThrottleProxy(TcpProxy):
    """The fault proxy, its answers slowed to about 80 kB/s while ``throttled`` is set."""

    def __init__(self, target_port: int, **kw):
        super().__init__(target_port, **kw)
        self.throttled = threading.Event()

    def _pump_responses(self, link) -> None:
        while True:
            data = _recv(link.upstream)
            if not data:
                break
            link.awaiting_request = True
            sent = True
            for start in range(0, len(data), 4096):
                if self.throttled.is_set():
                    time.sleep(0.05)
                if not _send(link.client, data[start:start + 4096]):
                    sent = False
                    break
            if not sent:
                break
        link.close()


def incoming(cache: Path) -> list[Path]:
    return sorted(cache.rglob(".incoming-*"))


def grown(paths) -> bool:
    return any(p.exists() and p.stat().st_size > 0 for p in paths)


def test_what_a_killed_restore_left_goes_with_the_next_run_unless_a_live_one_holds_it(
        client, s3_server, s3_env, bucket, tmp_path):
    rng = random.Random(7)
    base = rng.randbytes(3 * MB)
    changed = bytearray(base)
    changed[MB:MB + 200_000] = rng.randbytes(200_000)
    src = tmp_path / "src"
    src.mkdir()
    (src / "app-0.zip").write_bytes(base)
    (src / "app-1.zip").write_bytes(bytes(changed))
    (src / "data.bin").write_bytes(rng.randbytes(3 * MB))
    for name in ("app-0.zip", "app-1.zip", "data.bin"):
        client.upload(src / name, f"s3://{bucket}/rel/")
    assert "dg-delta-size" in client.head_object(Bucket=bucket, Key="rel/app-1.zip")["Metadata"], "stored as a delta"
    out = tmp_path / "out"
    out.mkdir()
    cache = tmp_path / "cli-cache"
    env = cli_env(s3_env, DGTUI_CACHE_DIR=str(cache))
    proxy = ThrottleProxy.for_endpoint(s3_server.endpoint_url).start()
    proxy.throttled.set()
    slow = ["--endpoint-url", proxy.endpoint_url]
    fast = ["--endpoint-url", s3_server.endpoint_url]
    running: list[subprocess.Popen] = []
    try:
        # A restore of a delta with nothing cached: the reference comes into the cache, the delta beside DEST.
        killed = start_cli("get", f"s3://{bucket}/rel/app-1.zip", str(out), *slow, env=env)
        running.append(killed)
        wait_until(lambda: grown(part_files(out)) and grown(incoming(cache)), "both downloads to be under way")
        killed.kill()
        killed.wait(30)
        left_parts, left_incoming = part_files(out), incoming(cache)
        assert left_parts and left_incoming, "a SIGKILLed run cannot clean up"

        # A live restore holds its files: another run into the same folder (and cache) leaves them alone.
        live = start_cli("get", f"s3://{bucket}/rel/data.bin", str(out), *slow, env=env)
        running.append(live)
        wait_until(lambda: grown(set(part_files(out)) - set(left_parts)), "the live restore's download")
        live_parts = sorted(set(part_files(out)) - set(left_parts))
        other = run_cli("get", f"s3://{bucket}/rel/app-1.zip", str(out), *fast, env=env)
        assert other.returncode == 0, other.stderr.decode()
        assert (out / "app-1.zip").read_bytes() == bytes(changed)
        assert not any(p.exists() for p in left_parts + left_incoming), "the killed run's leftovers are gone"
        assert all(p.exists() for p in live_parts), "a live process's files stay"
        assert live.poll() is None

        # The live one, stopped with Ctrl-C, removes its own.
        live.send_signal(signal.SIGINT)
        _, err = live.communicate(timeout=30)
        assert live.returncode == 130 and b"Traceback" not in err, err
        assert part_files(out) == [] and incoming(cache) == []
        assert sorted(p.name for p in leftovers(out)) == ["app-1.zip"]
    finally:
        for proc in running:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        proxy.stop()


# --- the app, quit while its workers hang -----------------------------------------------------

class PtyApp:
    """``dgtui browse`` on a pseudo-terminal of its own, its screen output drained and kept."""

    def __init__(self, *argv: str, env: dict[str, str]):
        import pty

        master, slave = pty.openpty()
        os.set_blocking(master, True)
        self.master = master
        self.output = bytearray()
        self.proc = subprocess.Popen([PYTHON, "-m", "dgtui.cli", "browse", *argv],
                                     env={**env, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"},
                                     stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                                     cwd=str(Path(__file__).resolve().parents[2]))
        os.close(slave)
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.output += data

    def press(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            os.close(self.master)
        except OSError:
            pass


@pytest.mark.parametrize("stalling", ["silent"], indirect=True)
@pytest.mark.parametrize("key", [b"q", b"\x11"], ids=["q", "ctrl-q"])
def test_quitting_the_app_ends_it_while_its_workers_hang(stalling, key, tmp_path):
    server, url = stalling
    app = PtyApp("s3://b/", "--endpoint-url", url, env=loop_env(tmp_path))
    try:
        wait_until(lambda: server.requests >= 1 and b"\x1b[?1049h" in app.output and len(app.output) > 2000,
                   "the app to draw and ask the server")
        time.sleep(0.5)
        app.press(key)
        assert app.proc.wait(timeout=30) == 0  # a bound for the test, not a timing
        assert b"Traceback" not in app.output
    finally:
        app.close()


@pytest.mark.parametrize("stalling", ["silent"], indirect=True)
@pytest.mark.parametrize("name", ["SIGHUP", "SIGTERM"])
def test_the_app_ends_on_sighup_and_sigterm_while_its_workers_hang(stalling, name, tmp_path):
    """An SSH session that goes away sends SIGHUP."""
    server, url = stalling
    app = PtyApp("s3://b/", "--endpoint-url", url, env=loop_env(tmp_path))
    try:
        wait_until(lambda: server.requests >= 1 and b"\x1b[?1049h" in app.output and len(app.output) > 2000,
                   "the app to draw and ask the server")
        app.proc.send_signal(getattr(signal, name))
        assert app.proc.wait(timeout=30) == 128 + getattr(signal, name)  # a bound for the test, not a timing
        assert b"Traceback" not in app.output
    finally:
        app.close()


def test_a_restored_file_gets_the_mode_of_any_new_file(client, bucket, tmp_path):
    """Its temporary file is created (and locked) by dgtui, not by open(): the umask still decides."""
    client.put_object(Bucket=bucket, Key="m/a.txt", Body=b"mode")
    out = tmp_path / "out"
    out.mkdir()
    previous = os.umask(0o022)
    try:
        client.download(f"s3://{bucket}/m/a.txt", out)
    finally:
        os.umask(previous)
    assert (out / "a.txt").stat().st_mode & 0o777 == 0o644
