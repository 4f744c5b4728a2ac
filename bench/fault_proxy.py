"""The fault proxy (503 SlowDown at a given rate) in a process of its own, as ``bench.latency_proxy``:
in the benchmark's process its event loop would take the GIL from the code being timed. It prints its
port, then serves until its stdin closes (which also happens when the parent dies).

    python -m bench.fault_proxy <target endpoint URL> <SlowDown rate> <seed> [<cert> <key> <CA bundle>]

It is ``FastFaultProxy``: requests that meet no fault pass through as bytes, so a clean run through it
costs little more than one straight to the server, and what is measured is the throttling. With a
certificate and key it serves https (and checks an https server against the CA bundle).
"""

from __future__ import annotations

import sys

from dgtui.testing.fast_fault_proxy import FastFaultProxy
from dgtui.testing.proxy import FaultRates


def main() -> int:
    target, rate, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    tls = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else None
    ca_bundle = sys.argv[6] if len(sys.argv) > 6 else None
    proxy = FastFaultProxy(target, FaultRates(slowdown=rate), seed=seed, tls=tls, ca_bundle=ca_bundle).start()
    print(proxy.port, flush=True)
    try:
        sys.stdin.read()
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
