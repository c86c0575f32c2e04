"""What a policy file of up to 1 MiB costs to validate, by shape.

    python bench/policy_size.py [--runs N] [--agent]

For each shape, a file just under 1 MiB (or the largest that still fits the limits) is
given to `hygiene policy validate` in a child process, interleaved with a tiny valid file
(the baseline: interpreter, imports, one model). Prints the median wall time and the
median peak RSS of the child (getrusage of the waited child), and, measured in this
process with tracemalloc, the peak of Python allocations while load_file reads the file.
Targets (issue 15): under 1 s and under 60 MB peak RSS for any 1 MiB file. `--agent` also
starts `hygiene run` on the largest valid policy and prints its RSS once it has audited.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # tests/ and bench/ live in the repository, not in the installed package.
    sys.path.insert(0, str(ROOT))

from bench.shared import person_env  # noqa: E402

LIMIT = 1024 * 1024 - 64
SETTING = (
    "      s{i}: {{title: t, why: w, advice: a, read: [{{gsettings: org.gnome.desktop.privacy, "
    "key: remember-recent-files, equals: false}}]}}"
)


def filled(
    head: str, item: Callable[[int], str], sep: str, tail: str = "", *, most: int = 0
) -> Iterator[str]:
    """`head`, then items until the file would pass 1 MiB (or `most` items), then `tail`."""
    yield head
    size, i = len(head) + len(tail), 0
    while not most or i < most:
        piece = item(i) + sep
        if size + len(piece) > LIMIT:
            break
        yield piece
        size += len(piece)
        i += 1
    yield tail


def setting(i: int) -> str:
    return SETTING.format(i=i)


def nested(i: int) -> str:
    return "".join("  " * (d + 1) + f"k{i}_{d}:\n" for d in range(15)) + "  " * 16 + "v: 1"


SHAPES: dict[str, Callable[[], Iterable[str]]] = {
    "one flow list of 1-byte items": lambda: filled(
        "schema: 1\nchecks:\n  exposed_services:\n    allow: [", lambda i: "1", ",", "1]\n"
    ),
    "one block list of paths": lambda: filled(
        "schema: 1\nchecks:\n  ssh_keys:\n    extra_paths:\n", lambda i: f"      - ~/k{i}", "\n"
    ),
    "unknown top-level keys": lambda: filled("schema: 1\n", lambda i: f"k{i}: 1", "\n"),
    "many privacy settings": lambda: filled(
        "schema: 1\nchecks:\n  privacy_settings:\n    settings:\n", setting, "\n"
    ),
    "a words mapping": lambda: filled(
        "schema: 1\nchecks:\n  privacy_settings:\n    settings:\n      s:\n        title: t\n"
        "        why: w\n        advice: a\n        read:\n          - {gsettings: org.gnome.x, "
        "key: k, equals: 1, words: {",
        lambda i: f"'{i}': w",
        ",",
        "}}\n",
    ),
    "deep mappings (16 levels)": lambda: filled("schema: 1\nchecks:\n", nested, "\n"),
    "empty mappings in a list": lambda: filled("schema: 1\nx: [", lambda i: "{}", ",", "{}]\n"),
    "one 1 MiB string": lambda: ("schema: 1\nname: '", "a" * (LIMIT - 20), "'\n"),
    "long paths (5 kB each)": lambda: filled(
        "schema: 1\nchecks:\n  ssh_keys:\n    extra_paths:\n",
        lambda i: "      - ~/" + "p" * 5000,
        "\n",
    ),
    # The largest files that fit the 10,000-value limit: all of it reaches pydantic.
    "9,990 paths (valid)": lambda: filled(
        "schema: 1\nchecks:\n  ssh_keys:\n    extra_paths:\n",
        lambda i: f"      - ~/k{i}",
        "\n",
        most=9_990,
    ),
    "9,990 wrong items (9,990 errors)": lambda: filled(
        "schema: 1\nchecks:\n  ssh_keys:\n    extra_paths: [",
        lambda i: "1",
        ",",
        "1]\n",
        most=9_990,
    ),
    "570 privacy settings (valid)": lambda: filled(
        "schema: 1\nchecks:\n  privacy_settings:\n    settings:\n",
        setting,
        "\n",
        most=570,
    ),
}
TINY = "schema: 1\nchecks:\n  ssh_keys: {every: 2h}\n"


# A child's peak RSS includes what its parent held when it forked (a child begins as a copy,
# and Linux keeps that peak across exec), so each run is started by a fresh, small Python
# that reports the wall time and the peak of its one child.
_STARTER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(time.perf_counter() - started, usage.ru_maxrss)
"""


def measured(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB and the last line of stderr of one run of `argv`."""
    done = subprocess.run(
        [sys.executable, "-c", _STARTER, *argv],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    took, peak = done.stdout.split()
    return float(took), int(peak) / 1024, (done.stderr.strip().splitlines() or ["valid"])[-1]


def python_peak(path: Path) -> float:
    """Peak MB of Python allocations while load_file reads `path` (models built before)."""
    from agent.checks import ALL_CHECKS  # noqa: PLC0415
    from agent.errors import PolicyError  # noqa: PLC0415
    from agent.policy import load_file, policy_file_model  # noqa: PLC0415
    from agent.policy_settings import Level  # noqa: PLC0415

    model = policy_file_model(ALL_CHECKS)
    tracemalloc.start()
    with contextlib.suppress(PolicyError):
        load_file(path, ALL_CHECKS, Level.user, model=model)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def agent_rss(hygiene: Path, env: dict[str, str], policy: str, folder: Path) -> float:
    """RSS in MB of `hygiene run` once it has run its checks on `policy`."""
    policies = Path(env["XDG_CONFIG_HOME"]) / "hygiene-agent" / "policies.d"
    policies.mkdir(parents=True, exist_ok=True)
    (policies / "big.yaml").write_text(policy)
    log = folder / "agent.log"
    with log.open("wb") as out:
        agent = subprocess.Popen([str(hygiene), "run"], env=env, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while "started (process" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(5)
        status = Path(f"/proc/{agent.pid}/status").read_text()
        rss = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(rss.split()[1]) / 1024
    finally:
        agent.terminate()
        agent.wait(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--agent", action="store_true", help="also the running agent's RSS")
    args = parser.parse_args()
    hygiene = Path(sys.executable).with_name("hygiene")
    if not hygiene.exists():
        print("install the package first: pip install -e .", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = person_env(root)
        (root / "home").mkdir()
        tiny = root / "tiny.yaml"
        tiny.write_text(TINY)
        files = {}
        for n, (shape, text) in enumerate(SHAPES.items()):
            files[shape] = root / f"shape{n}.yaml"
            with files[shape].open("w") as out:
                out.writelines(text())
        rows: dict[str, list[tuple[float, float, str]]] = {"baseline (tiny file)": []}
        rows |= {shape: [] for shape in SHAPES}
        for _ in range(args.runs):
            for shape, samples in rows.items():
                path = tiny if shape.startswith("baseline") else files[shape]
                samples.append(measured([str(hygiene), "policy", "validate", str(path)], env))
        print(f"runs: {args.runs} each, interleaved; medians; Python {sys.version.split()[0]}")
        base = statistics.median(s[0] for s in rows["baseline (tiny file)"])
        head = f"{'shape':38} {'bytes':>8} {'wall s':>7} {'+s':>6} {'peak RSS MB':>11}"
        print(f"{head} {'py peak MB':>10}  outcome")
        for shape, samples in rows.items():
            path = tiny if shape.startswith("baseline") else files[shape]
            wall = statistics.median(s[0] for s in samples)
            rss = statistics.median(s[1] for s in samples)
            said = samples[-1][2]
            outcome = said.split(".yaml, ", 1)[-1] if said != "valid" else "valid"
            print(
                f"{shape:38} {path.stat().st_size:8d} {wall:7.3f} {wall - base:6.3f} {rss:11.1f} "
                f"{python_peak(path):10.1f}  {outcome[:70]}"
            )
        if args.agent:
            policy = "".join(SHAPES["570 privacy settings (valid)"]())
            rss = agent_rss(hygiene, env, policy, root)
            print(f"hygiene run on 570 privacy settings: RSS {rss:.1f} MB after its first audit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
