"""How long the network probes take: the VPN probe runs every few seconds, so it must cost a
few milliseconds.

    sudo .venv/bin/python bench/network.py [--runs N]

Times, in this process, `agent.probes.network()` (interfaces from /sys, the route the
kernel would use, default routes, the gateway's hardware address, NetworkManager over the
system bus when it runs) and `agent.probes.listeners()` (psutil's sockets and their
programs), medians over --runs calls, interleaved, on this machine as it is. With root (for
`ip netns`), it also times network() inside a namespace holding a gateway, two tun devices
and a default route through one of them, from a child process started there.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.probes import listeners, network  # noqa: E402

TIMED = """
import json, os, statistics, sys, time
from agent.probes import network
runs = int(sys.argv[1])
times = []
for _ in range(runs):
    start = time.perf_counter()
    network(os.environ)
    times.append(time.perf_counter() - start)
print(json.dumps(statistics.median(times)))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=201)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"network": [], "listeners": []}
    network(os.environ)  # first call: imports
    listeners()
    for _ in range(args.runs):
        for name, probe in (("network", lambda: network(os.environ)), ("listeners", listeners)):
            start = time.perf_counter()
            probe()
            times[name].append(time.perf_counter() - start)
    net = network(os.environ)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.runs} calls each")
    print(f"this machine: {len(net.interfaces)} interfaces, {len(listeners())} listening sockets")
    for name, values in times.items():
        print(f"{name + '()':<14} median {statistics.median(values) * 1000:7.3f} ms")
    if os.geteuid() == 0:
        print(f"network() in a namespace with a VPN: {_in_namespace(args.runs) * 1000:.3f} ms")
    return 0


def _in_namespace(runs: int) -> float:
    from tests.netns import Netns  # noqa: PLC0415 - only with root, for the namespace

    name = f"hygbench{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    ns = Netns(name, "ip")
    try:
        ns.gateway()
        ns.tun("wg9")
        ns.tun("tun9")
        ns.default_via("wg9")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = ns.run(sys.executable, "-c", TIMED, str(runs), env=env)
        return float(json.loads(done.stdout))
    finally:
        ns.close()


if __name__ == "__main__":
    sys.exit(main())
