"""The store soak, long form: the agent and the command line together, the agent SIGKILLed.

    sudo .venv/bin/python bench/soak.py [--commands 500] [--kills 20] [--seed N]

`hygiene run` runs on a policy whose checks (ssh_keys, credentials, vpn) run every second,
inside a network namespace with a real gateway, on a private desktop (Xvfb, a session bus,
dunst) so that notices are really told; findings appear and resolve (a key without a
passphrase made by ssh-keygen, a .netrc with a weak password, the network trusted and not)
while --commands CLI commands run against it one after another (status, notifications,
snooze, unsnooze, network trust, untrust and list, check, run --once) and the agent is
killed with SIGKILL --kills times at random points and started again. tests/soak.py does
the work and the judging; tests/test_soak.py is the short form. Prints the counts; exits 1
when anything the soak holds did not hold.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.checks import ALL_CHECKS  # noqa: E402
from bench.shared import installed, interruptible, person_env  # noqa: E402
from tests.desktop import Desktop  # noqa: E402
from tests.netns import Netns  # noqa: E402
from tests.soak import CHECKS, SoakReport, soak  # noqa: E402

TOOLS = ("Xvfb", "dbus-daemon", "dbus-monitor", "dunst", "ssh-keygen", "ip")


def held(report: SoakReport) -> bool:
    return (
        not report.unexpected
        and not report.missing
        and report.integrity == "ok"
        and not report.deleted
        and not report.io_errors
        and not report.store_errors
        and not report.python_opened
        and max(report.agent_connections, default=0) <= 2
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=500)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/soak.py: needs root for its network namespace (ip netns add)", file=sys.stderr)
        return 2
    found = installed("bench/soak.py", TOOLS)
    if found is None:
        return 2
    _, tools = found
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4))
    interruptible()
    root = Path(tempfile.mkdtemp(prefix="hygiene-soak-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        env = person_env(root)
        home = Path(env["HOME"])
        home.mkdir()
        policies = Path(env["XDG_CONFIG_HOME"]) / "hygiene-agent" / "policies.d"
        policies.mkdir(parents=True)
        off = "".join(f"  {c.id}: {{enabled: false}}\n" for c in ALL_CHECKS if c.id not in CHECKS)
        (policies / "00-only-the-soaked.yaml").write_text(f"schema: 1\nchecks:\n{off}")
        (root / "desktop").mkdir()
        desktop = Desktop(root / "desktop", {k: v for k, v in tools.items() if k in TOOLS[:4]})
        stack.callback(desktop.close)
        desktop.start()
        namespace = Netns(f"hygsoak{os.getpid()}", tools["ip"])
        subprocess.run([tools["ip"], "netns", "add", namespace.name], check=True, timeout=60)
        stack.callback(namespace.close)
        namespace.gateway()
        logs = root / "logs"
        logs.mkdir()
        report = soak(
            env={**env, **desktop.env},
            state=Path(env["XDG_STATE_HOME"]),
            home=home,
            user_policies=policies,
            prefix=[tools["ip"], "netns", "exec", namespace.name],
            keygen=tools["ssh-keygen"],
            commands=args.commands,
            kills=args.kills,
            rng=random.Random(seed),  # noqa: S311 - timings, not secrets
            logs=logs,
        )
    print(f"seed {seed}, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    for line in report.lines():
        print(line)
    for problem in [
        *report.unexpected,
        *(" ".join(key) for key in report.missing),
        *report.deleted,
        *report.io_errors,
        *report.store_errors,
        *report.python_opened,
    ][:20]:
        print(f"  problem: {problem}")
    ok = held(report)
    print("held" if ok else "DID NOT HOLD")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
