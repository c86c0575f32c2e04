"""What the Step 7 probes cost: screen lock settings, privacy settings, disk encryption.

    .venv/bin/python bench/desktop.py [--runs N]

In this process, interleaved, medians over --runs calls, on GNOME's settings as Debian's
schemas ship them (the keyfile backend in a temporary XDG_CONFIG_HOME, XDG_CURRENT_DESKTOP
set to GNOME):
- `screen_lock(env)`: four keys, each one `gsettings get`, run side by side;
- `read_settings(...)`: the built-in GNOME privacy settings (eight keys, side by side);
- `disk_encryption(home)`: /proc/self/mountinfo and /sys/class/block on this machine.
Against it, what a hand-written script does for the same screen lock facts: three
`gsettings get` commands (one per key), timed the same way.
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from agent.checks.privacy_settings import builtin_settings  # noqa: E402
from agent.probes import disk_encryption, read_settings, screen_lock  # noqa: E402

KEYS = (
    ("org.gnome.desktop.screensaver", "lock-enabled"),
    ("org.gnome.desktop.screensaver", "lock-delay"),
    ("org.gnome.desktop.session", "idle-delay"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=51)
    args = parser.parse_args()
    gsettings = shutil.which("gsettings")
    if gsettings is None:
        print("bench/desktop.py needs gsettings (libglib2.0-bin, gsettings-desktop-schemas)")
        return 1
    with tempfile.TemporaryDirectory() as config:
        env = {
            **os.environ,
            "XDG_CONFIG_HOME": config,
            "GSETTINGS_BACKEND": "keyfile",
            "XDG_CURRENT_DESKTOP": "GNOME",
        }
        sources = [
            s.where()
            for setting in builtin_settings().values()
            for s in setting.read
            if s.applies_to("gnome")
        ]
        home = str(Path.home())

        def script() -> None:
            for schema, key in KEYS:
                subprocess.run(
                    [gsettings, "get", schema, key], env=env, capture_output=True, check=True
                )

        probes: dict[str, Callable[[], object]] = {
            "screen_lock()": lambda: screen_lock(env),
            "read_settings()": lambda: read_settings(sources, env),
            "disk_encryption()": lambda: disk_encryption(home),
            "3 x gsettings get": script,
        }
        times: dict[str, list[float]] = {name: [] for name in probes}
        for probe in probes.values():
            probe()  # first call: imports
        for _ in range(args.runs):
            for name, probe in probes.items():
                start = time.perf_counter()
                probe()
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.runs} calls each")
    print(f"{len(sources)} GNOME privacy keys; disk: {disk_encryption(home)[0].how}")
    for name, median in medians.items():
        print(f"{name:<20} median {median * 1000:8.3f} ms")
    ratio = medians["3 x gsettings get"] / medians["screen_lock()"]
    print(f"screen_lock() is {ratio:.2f}x the speed of three gsettings get")
    return 0


if __name__ == "__main__":
    sys.exit(main())
