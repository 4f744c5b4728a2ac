"""The fault proxy (503 SlowDown at a given rate) in a process of its own, as ``bench.latency_proxy``:
in the benchmark's process its event loop would take the GIL from the code being timed. It prints its
port, then serves until its stdin closes (which also happens when the parent dies).

    python -m bench.fault_proxy <target endpoint URL> <SlowDown rate> <seed>
"""

from __future__ import annotations

import sys

from dgtui.testing.proxy import FaultProxy, FaultRates


def main() -> int:
    target, rate, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    proxy = FaultProxy(target, FaultRates(slowdown=rate), seed=seed).start()
    print(proxy.port, flush=True)
    try:
        sys.stdin.read()
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
