"""The network or the server dies in the middle of a transfer: no partial local
file, no object left that cannot be restored, and trying again succeeds."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from pathlib import Path

import pytest

from dgtui import ConnectionFailedError
from dgtui.demo.server import LocalS3Server
from dgtui.testing.proxy import TcpProxy, _recv, _send

from .conftest import leftovers, make_client

MB = 1024 * 1024


class UploadCutProxy(TcpProxy):
    """The fault proxy, plus a fault on the way up: once the clients have sent
    ``n`` more request bytes, forward up to exactly that byte, call ``on_cut``
    (by default: the network goes away, every connection is reset) and close
    that connection."""

    def __init__(self, target_port: int, **kw):
        super().__init__(target_port, **kw)
        self._armed: int | None = None
        self._sent = 0
        self._on_cut = self.stop
        self.cut = threading.Event()

    def cut_requests_after(self, n: int, on_cut=None) -> None:
        with self._lock:
            self._armed, self._sent = n, 0
            self._on_cut = on_cut or self.stop

    def _pump_requests(self, link) -> None:
        while True:
            data = _recv(link.client)
            if not data:
                break
            cut_now = False
            with self._lock:
                if self._armed is not None:
                    room = self._armed - self._sent
                    self._sent += len(data)
                    if len(data) >= room:
                        data, cut_now, self._armed = data[:max(room, 0)], True, None
            link.awaiting_request = False
            if data and not _send(link.upstream, data):
                break
            if cut_now:
                self.cut.set()
                self._on_cut()  # may block: the request stays half sent meanwhile
                break
        link.close()


def release_pair(tmp_path: Path, seed: int = 3) -> tuple[Path, Path]:
    """Two 2 MB versions; the second differs in 512 kB, so its delta is about that."""
    rng = random.Random(seed)
    base = bytearray(rng.randbytes(2 * MB))
    base[:2] = b"PK"
    v1 = bytearray(base)
    v1[MB:MB + MB // 2] = rng.randbytes(MB // 2)
    a, b = tmp_path / "app-0.zip", tmp_path / "app-1.zip"
    a.write_bytes(bytes(base))
    b.write_bytes(bytes(v1))
    return a, b


def assert_every_object_restores(client, bucket: str) -> list[str]:
    keys = [o.key for o in client.iter_objects(bucket)]
    for key in keys:
        assert client.verify(f"s3://{bucket}/{key}"), key
    return keys


@pytest.fixture
def src(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    a, b = release_pair(folder)
    data = folder / "data.bin"
    data.write_bytes(random.Random(5).randbytes(2 * MB))
    return {"a": a, "b": b, "data": data}


def through_proxy(s3_server, tmp_path, name):
    proxy = UploadCutProxy.for_endpoint(s3_server.endpoint_url).start()
    c = make_client(proxy.endpoint_url, s3_server.access_key, s3_server.secret_key, tmp_path / f"cache-{name}")
    return proxy, c


@pytest.mark.parametrize("case", ["direct", "new deltaspace (reference)", "delta"])
def test_network_lost_mid_upload(case, src, client, s3_server, s3_env, bucket, tmp_path):
    client.upload(src["a"], f"s3://{bucket}/rel/")
    path, url, cut_at = {
        "direct": (src["data"], f"s3://{bucket}/rel/", MB),
        "new deltaspace (reference)": (src["a"], f"s3://{bucket}/new/", MB),
        "delta": (src["b"], f"s3://{bucket}/rel/", 250_000),
    }[case]
    proxy, c = through_proxy(s3_server, tmp_path, "cut")
    try:
        proxy.cut_requests_after(cut_at)
        with pytest.raises(ConnectionFailedError):
            c.upload(path, url)
        assert proxy.cut.is_set()
    finally:
        proxy.stop()
        c.close()
    keys = assert_every_object_restores(client, bucket)
    assert f"{url[len(f's3://{bucket}/'):]}{path.name}" not in keys
    # The network is back: the same upload succeeds and restores exactly.
    summary = client.upload(path, url)
    assert summary.verified
    out = tmp_path / "out" / path.name
    assert client.download(f"s3://{bucket}/{summary.key}", out).verified
    assert out.read_bytes() == path.read_bytes()
    assert_every_object_restores(client, bucket)


@pytest.mark.parametrize("case", ["direct", "reference download", "delta download"])
def test_network_lost_mid_restore(case, src, client, fresh_client, s3_server, s3_env, bucket, tmp_path):
    for f in (src["a"], src["b"], src["data"]):
        client.upload(f, f"s3://{bucket}/rel/")
    key, cut_at = {"direct": ("rel/data.bin", 700_000), "reference download": ("rel/app-1.zip", 700_000),
                   "delta download": ("rel/app-1.zip", 150_000)}[case]
    proxy = TcpProxy.for_endpoint(s3_server.endpoint_url).start()
    c = make_client(proxy.endpoint_url, s3_server.access_key, s3_server.secret_key, tmp_path / "cache-cut")
    out = tmp_path / "out"
    out.mkdir()
    try:
        if case == "delta download":  # the reference is cached: only the delta travels
            c.download(f"s3://{bucket}/rel/app-0.zip", tmp_path / "warm.zip")
        restored = out / key.rsplit("/", 1)[-1]
        original = src["data"] if key == "rel/data.bin" else src["b"]
        # Cut once: the download goes on from the bytes it has, pinned to the same version.
        proxy.cut_after_bytes(cut_at, once=True)
        result = c.download(f"s3://{bucket}/{key}", out)
        assert result.verified and restored.read_bytes() == original.read_bytes()
        assert proxy.connections_accepted > 1
        restored.unlink()
        # Cut on every connection, more often than a download goes on: it fails, leaving nothing.
        c.close()
        c = make_client(proxy.endpoint_url, s3_server.access_key, s3_server.secret_key, tmp_path / "cache-cut-2")
        if case == "delta download":  # the reference is cached again: only the delta travels
            c.download(f"s3://{bucket}/rel/app-0.zip", tmp_path / "warm-2.zip")
        proxy.cut_after_bytes(cut_at // 8)
        with pytest.raises(ConnectionFailedError) as info:
            c.download(f"s3://{bucket}/{key}", out)
        assert "retry" in str(info.value)
        assert leftovers(out) == [] and leftovers(c.work_dir) == []
        assert list(c.reference_cache.dir.glob(".incoming-*")) == []
        # Trying again succeeds.
        proxy.reset()
        result = c.download(f"s3://{bucket}/{key}", out)
        assert result.verified
        assert leftovers(out) == [restored] and restored.read_bytes() == original.read_bytes()
    finally:
        proxy.stop()
        c.close()


def kill(server: LocalS3Server) -> None:
    """SIGKILL the server's process group (no chance to flush or close cleanly)."""
    os.killpg(server.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server.running and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not server.running


def test_server_killed_mid_upload_and_mid_restore(src, s3_env, tmp_path):
    """One SIGKILL of the real server process while an upload has sent part of
    a delta's body and a restore has read the first MB of a 12 MB file."""
    server = LocalS3Server(tmp_path / "own-server").start()
    try:
        def new_client(name: str, endpoint: str | None = None):
            return make_client(endpoint or server.endpoint_url, server.access_key, server.secret_key,
                               tmp_path / f"c-{name}")

        c = new_client("setup")
        c.create_bucket(Bucket="backups")
        c.upload(src["a"], "s3://backups/rel/")
        big = tmp_path / "src" / "big.bin"
        big.write_bytes(random.Random(11).randbytes(12 * MB))
        c.upload(big, "s3://backups/rel/")
        c.close()

        # The upload sends 300 kB of the delta's body, then stalls until the kill.
        killed = threading.Event()
        proxy = UploadCutProxy.for_endpoint(server.endpoint_url).start()
        proxy.cut_requests_after(300_000, on_cut=lambda: killed.wait(30))
        uploader = new_client("up", proxy.endpoint_url)
        upload_error: list[BaseException] = []

        def upload() -> None:
            try:
                uploader.upload(src["b"], "s3://backups/rel/")
            except BaseException as exc:  # checked below
                upload_error.append(exc)

        uploading = threading.Thread(target=upload)
        uploading.start()
        assert proxy.cut.wait(30)

        # The restore reads its first MB; then the server dies.
        out = tmp_path / "out"
        out.mkdir()
        reads = [0]

        def kill_after_first_chunk() -> bool:
            reads[0] += 1
            if reads[0] == 2:
                kill(server)
                killed.set()
            return False

        restorer = new_client("restore")
        try:
            with pytest.raises(ConnectionFailedError):
                restorer.download("s3://backups/rel/big.bin", out, should_cancel=kill_after_first_chunk)
            assert killed.is_set()
            uploading.join(30)
            assert len(upload_error) == 1 and isinstance(upload_error[0], ConnectionFailedError), upload_error
            assert leftovers(out) == [] and leftovers(restorer.work_dir) == []
        finally:
            killed.set()
            proxy.stop()
            uploader.close()
            restorer.close()

        server.stop()
        server.start()
        c = new_client("after")
        assert sorted(assert_every_object_restores(c, "backups")) == ["rel/app-0.zip", "rel/big.bin"]
        assert c.upload(src["b"], "s3://backups/rel/").verified
        for name, original in (("big.bin", big), ("app-1.zip", src["b"]), ("app-0.zip", src["a"])):
            assert c.download(f"s3://backups/rel/{name}", out).verified
            assert (out / name).read_bytes() == original.read_bytes()
        assert sorted(p.name for p in leftovers(out)) == ["app-0.zip", "app-1.zip", "big.bin"]
        c.close()
    finally:
        server.stop()


def test_network_lost_mid_transfer_cli(src, client, s3_server, s3_env, bucket, capsys, tmp_path):
    from dgtui.cli import main

    client.upload(src["data"], f"s3://{bucket}/rel/")
    out = tmp_path / "out"
    out.mkdir()
    proxy = UploadCutProxy.for_endpoint(s3_server.endpoint_url).start()
    try:
        proxy.cut_after_bytes(700_000 // 8)  # every connection, more often than a download goes on
        code = main(["get", "--endpoint-url", proxy.endpoint_url, f"s3://{bucket}/rel/data.bin", str(out)])
        err = capsys.readouterr().err
        assert code == 1 and "dropped" in err and "retry" in err and err.count("\n") == 1, err
        assert leftovers(out) == []
        proxy.reset()
        proxy.cut_after_bytes(700_000, once=True)  # once: the download goes on from where it was cut
        assert main(["get", "--endpoint-url", proxy.endpoint_url, f"s3://{bucket}/rel/data.bin", str(out)]) == 0
        assert (out / "data.bin").read_bytes() == src["data"].read_bytes()
        proxy.cut_requests_after(MB)
        code = main(["put", "--endpoint-url", proxy.endpoint_url, str(src["a"]), f"s3://{bucket}/cli/"])
        err = capsys.readouterr().err
        assert code == 1 and err.startswith("dgtui: error: ") and err.count("\n") == 1, err
    finally:
        proxy.stop()
    assert "cli/app-0.zip" not in assert_every_object_restores(client, bucket)
    assert main(["put", str(src["a"]), f"s3://{bucket}/cli/"]) == 0
    assert main(["verify", f"s3://{bucket}/cli/app-0.zip"]) == 0
