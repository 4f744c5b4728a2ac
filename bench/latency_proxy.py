"""The latency proxy in a process of its own.

Run in the benchmark's own process, the proxy's threads would take the GIL
from the code being timed; a real network costs the client no CPU, so the
proxy gets its own interpreter. It prints its port, then forwards until its
stdin closes (which also happens when the parent dies).

    python -m bench.latency_proxy <target port> <latency seconds>
"""

from __future__ import annotations

import sys

from dgtui.testing.proxy import TcpProxy


def main() -> int:
    target_port, latency = int(sys.argv[1]), float(sys.argv[2])
    proxy = TcpProxy(target_port, latency_s=latency, max_connections=512).start()
    print(proxy.port, flush=True)
    try:
        sys.stdin.read()
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
