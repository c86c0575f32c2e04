"""Start-up cost of one audit, against importing the libraries it stands on.

    python bench/startup.py [--runs N]

Prints the median wall time of `hygiene check --only ssh_keys --json` on a home with a
few real keys, beside `python -c "import psutil, pydantic, yaml"`, measured in the same
run and interleaved so that all see the same machine load, and their ratio.

pydantic 2 loads its modules on first use, so `import pydantic` alone loads almost none
of it. A third row, the same imports plus one one-field model validated once, shows the
least any program that validates with pydantic pays; the last line compares against it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ONE_MODEL = """import psutil, pydantic, yaml
from pydantic import BaseModel
class M(BaseModel):
    x: int = 0
M(x=1)
"""


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def make_home(root: Path) -> dict[str, str]:
    ssh = root / "home" / ".ssh"
    ssh.mkdir(parents=True, mode=0o700)
    keygen = shutil.which("ssh-keygen")
    if keygen:
        for name, extra in (
            ("id_ed25519", []),
            ("id_rsa", ["-t", "rsa", "-b", "3072"]),
            ("legacy", ["-t", "rsa", "-b", "2048", "-m", "PEM"]),
        ):
            subprocess.run([keygen, "-q", "-N", "", "-f", str(ssh / name), *extra], check=True)
    (ssh / "known_hosts").write_text("example.org ssh-ed25519 AAAA\n" * 50)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "HYGIENE_"))}
    env.update(
        HOME=str(root / "home"),
        XDG_CONFIG_HOME=str(root / "config"),
        XDG_STATE_HOME=str(root / "state"),
        HYGIENE_ADMIN_DIR=str(root / "admin"),
    )
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=31)
    args = parser.parse_args()
    hygiene = Path(sys.executable).with_name("hygiene")
    if not hygiene.exists():
        print("install the package first: pip install .", file=sys.stderr)
        return 2
    audit = [str(hygiene), "check", "--only", "ssh_keys", "--json"]
    baseline = [sys.executable, "-c", "import psutil, pydantic, yaml"]
    floor = [sys.executable, "-c", ONE_MODEL]
    commands = (audit, baseline, floor)
    with tempfile.TemporaryDirectory() as tmp:
        env = make_home(Path(tmp))
        for argv in commands:
            timed(argv, env)  # warm the page cache, create the install key, validate the policy
        times: list[list[float]] = [[], [], []]
        for _ in range(args.runs):
            for argv, samples in zip(commands, times, strict=True):
                samples.append(timed(argv, env))
    a, b, c = (statistics.median(samples) for samples in times)
    print(f"runs: {args.runs} each, interleaved, Python {sys.version.split()[0]}")
    print(f"hygiene check --only ssh_keys --json        median {a * 1000:7.1f} ms")
    print(f'python -c "import psutil, pydantic, yaml"  median {b * 1000:7.1f} ms')
    print(f"the same and one pydantic model validated  median {c * 1000:7.1f} ms")
    print(f"ratio to the imports: {a / b:.2f}   (one model alone: {c / b:.2f})")
    print(f"ratio to one model:   {a / c:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
