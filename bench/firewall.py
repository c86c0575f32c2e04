"""How long the firewall check takes with each source this machine has.

    .venv/bin/python bench/firewall.py [--runs N] [--firewalld]

In this process, medians over --runs calls of the whole check (probe and judgement):
- files: ufw's installed files and Debian's /etc/nftables.conf copied into a made-up /etc
  (the latter loaded by nft in a private network namespace), no system bus (the address
  names a missing socket), the kernel not asked;
- nft: the same, and as root the kernel's rules through `nft -j list ruleset`;
- firewalld (--firewalld, root only): the real firewalld in a network namespace on a private
  system bus, asked for its state, default zone, active zones and their targets.
Goal: under 50 ms each.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.checks.base import CheckContext  # noqa: E402
from agent.checks.firewall import FirewallCheck, FirewallParams  # noqa: E402
from agent.errors import CheckSkipped  # noqa: E402
from agent.fingerprint import Fingerprinter  # noqa: E402
from agent.paths import Paths  # noqa: E402
from agent.probes._firewalld import ask_firewalld  # noqa: E402
from agent.probes._linux_firewall import firewalls  # noqa: E402

BUS = """<busconfig><type>system</type><listen>unix:path={socket}</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><deny own="*"/><deny send_type="method_call"/>
<allow send_type="signal"/><allow send_requested_reply="true" send_type="method_return"/>
<allow send_requested_reply="true" send_type="error"/><allow receive_type="method_call"/>
<allow receive_type="method_return"/><allow receive_type="error"/><allow receive_type="signal"/>
<allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/></policy>
<includedir>/usr/share/dbus-1/system.d</includedir></busconfig>"""


def timed(runs: int, once: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        once()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def check_once(ctx: CheckContext, env: Mapping[str, str], root: Path, kernel: bool) -> None:
    check = FirewallCheck(FirewallParams())
    with contextlib.suppress(CheckSkipped):
        check.judge(ctx, firewalls(env, root=root, kernel=kernel))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=101)
    parser.add_argument("--firewalld", action="store_true", help="start a real firewalld too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder)
        root = base / "root"
        (root / "etc/default").mkdir(parents=True)
        if Path("/etc/ufw").is_dir():
            shutil.copytree("/etc/ufw", root / "etc/ufw")
            shutil.copy("/etc/default/ufw", root / "etc/default/ufw")
        if Path("/etc/nftables.conf").is_file():
            shutil.copy("/etc/nftables.conf", root / "etc/nftables.conf")
        paths = Paths(base, base / "policies.d", base / "etc", base / "state")
        ctx = CheckContext(paths=paths, fingerprint=Fingerprinter.for_state_dir(base / "state"))
        no_bus = {"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={base}/no-bus"}
        took = timed(args.runs, lambda: check_once(ctx, no_bus, root, False))
        print(f"files (ufw, nftables.conf): {took:.2f} ms")
        if os.geteuid() == 0 and shutil.which("nft", path="/usr/sbin:/sbin"):
            took = timed(args.runs, lambda: check_once(ctx, no_bus, root, True))
            print(f"files and the kernel's rules (nft, as root): {took:.2f} ms")
        if args.firewalld:
            took = with_firewalld(base, args.runs, ctx, root)
            print(f"files and firewalld on a private system bus: {took:.2f} ms")
    return 0


def with_firewalld(base: Path, runs: int, ctx: CheckContext, root: Path) -> float:
    if os.geteuid() != 0:
        raise SystemExit("--firewalld needs root (firewalld and a network namespace)")
    (base / "bus.conf").write_text(BUS.format(socket=base / "bus"))
    (base / "fw").mkdir()
    namespace = f"hygbench{os.getpid()}"
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={base}/bus"}
    bus = subprocess.Popen(
        ["dbus-daemon", "--config-file", str(base / "bus.conf"), "--nofork"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    daemon = None
    try:
        while not (base / "bus").exists():
            time.sleep(0.05)
        daemon = subprocess.Popen(
            ["ip", "netns", "exec", namespace, "firewalld", "--nofork", "--nopid",
             "--system-config", str(base / "fw"), "--log-target", "file",
             "--log-file", str(base / "firewalld.log")],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not ask_firewalld(env, Path("/")).zones:
            if time.monotonic() > deadline:
                raise SystemExit("firewalld did not come up")
            time.sleep(0.2)
        return timed(runs, lambda: check_once(ctx, env, root, False))
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.wait(timeout=30)
        bus.terminate()
        bus.wait(timeout=10)
        subprocess.run(["ip", "netns", "delete", namespace], check=False)


if __name__ == "__main__":
    sys.exit(main())
