"""Any bytes, any YAML document given as a policy: a policy, or one PolicyError sentence.

Property-based (hypothesis), through the real load path: load_file, load_policy on a
person's folders (strict, as `hygiene check` reads, and keep_going, as the agent does: the
agent must never fail to start whatever a file holds) and `hygiene policy validate`. No
other exception may escape, and each example stays within bounded memory (tracemalloc).
This is the short form (a few hundred examples); bench/fuzz_policy.py --examples N is the
long one and prints how many ran.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.checks import ALL_CHECKS
from agent.cli import main
from agent.errors import PolicyError
from agent.paths import Paths
from agent.policy import load_file, load_policy, policy_file_model, setting_names
from agent.policy_settings import Level

MAX_PEAK_BYTES = 64 * 1024 * 1024  # of Python allocations while one file is read

# Words a policy uses, so that generated documents get past the top level into validation.
WORDS = [
    "schema", "name", "revision", "log_level", "notify", "checks", "locked", "sources",
    "report", "urls", "every", "timeout", "enabled", "severity", "advice", "max_snooze",
    "quiet_hours", "grace", "remind", "high", "details", "osquery", "prometheus_dir",
    "extra_paths", "settings", "read", "gsettings", "key", "equals", "one_of", "words",
    "ignore", *(check.id for check in ALL_CHECKS),
]  # fmt: skip
ODD_SCALARS = [
    "1", "0", "-1", "0x1F", "0o17", "0b101", "1_000", "1:30:00", "1e999", "-.inf", ".nan",
    "~", "null", "", "yes", "no", "on", "off", "2024-01-01", "2001-12-14t21:59:43.10-05:00",
    "<<", "=", "!!binary aGk=", "!!str 5", "!!int '5'", "!!float x", "!!set {a}",
    "!!omap [a: 1]", "!!python/name:os.system", "!!python/object/apply:os.system ['true']",
    "!custom x", "! x", "*a", "&a 5", "&b [1, *b]", "'quoted'", '"\\x1b[2J\\x1b]0;t\\x07"',
    '"\\u202eyenom"', '"\\0"', "9" * 5000, "-", "?", ":", "[", "{", "}", "]", "%", "@", "`",
    "'", '"', "#", "|", ">", "30s", "15m", "4h", "7d", "3650d", "22:00-08:00", "~/x",
    "https://example.org/p.yaml", "file:///etc/passwd", "critical", "true", "false",
]  # fmt: skip


@dataclass
class Counts:
    """Examples run, by outcome: what the long form prints."""

    by_kind: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str) -> None:
        self.by_kind[kind] = self.by_kind.get(kind, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


def scalars() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(ODD_SCALARS),
        st.sampled_from(WORDS),
        st.text(max_size=12).map(json.dumps),  # any text, double-quoted
        st.text(st.characters(codec="utf-8"), max_size=8),  # any text, as it comes
    )


def flow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    items = st.lists(children, max_size=5)
    pairs = st.lists(st.tuples(st.sampled_from(WORDS) | scalars(), children), max_size=5)
    return st.one_of(
        items.map(lambda xs: "[" + ", ".join(xs) + "]"),
        pairs.map(lambda ps: "{" + ", ".join(f"{k}: {v}" for k, v in ps) + "}"),
        st.tuples(st.sampled_from(["!!set ", "!!omap ", "&a ", "!x ", "!!map ", ""]), items).map(
            lambda t: t[0] + "[" + ", ".join(t[1]) + "]"
        ),
    )


def documents() -> st.SearchStrategy[str]:
    """YAML text: a block mapping of policy-like keys whose values are flow collections with
    tags, anchors, aliases and odd scalars, nested up to ~30 levels; or a few odd shapes."""
    values = st.recursive(scalars(), flow, max_leaves=30)
    lines = st.lists(st.tuples(st.sampled_from(WORDS) | scalars(), values), max_size=8)
    mapping = lines.map(lambda ls: "".join(f"{k}: {v}\n" for k, v in ls))
    deep = st.integers(1, 60).map(lambda n: "schema: 1\nchecks: " + "[" * n + "]" * n + "\n")
    block_deep = st.integers(1, 40).map(
        lambda n: "schema: 1\n" + "".join("  " * d + "a:\n" for d in range(n)) + "  " * n + "1\n"
    )
    many = st.tuples(st.integers(0, 12_000), st.sampled_from(["1", "~/a", "{}", "[]", "a: 1"])).map(
        lambda t: (
            "schema: 1\nchecks:\n  ssh_keys:\n    extra_paths: [" + ", ".join([t[1]] * t[0]) + "]\n"
        )
    )
    return st.one_of(
        st.tuples(st.sampled_from(["schema: 1\n", "", "---\n", "%YAML 1.1\n---\n"]), mapping).map(
            "".join
        ),
        deep,
        block_deep,
        many,
        st.text(max_size=200),
    )


def _plain(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(WORDS) | st.text(max_size=6), children, max_size=4
    )


def dumped() -> st.SearchStrategy[str]:
    """Policy-shaped data (known keys, values of every plain type) written by a YAML dumper,
    so that examples reach the check models' own validation."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(),
        st.sampled_from(ODD_SCALARS),
        st.text(max_size=10),
    )
    values = st.recursive(leaves, _plain, max_leaves=12)
    settings_of = st.dictionaries(st.sampled_from(WORDS), values, max_size=4)
    # Each check with settings of its own names, mostly of a fitting kind of value.
    checks = st.fixed_dictionaries(
        {},
        optional={
            check.id: st.dictionaries(
                st.sampled_from(setting_names(check.Params)),
                st.sampled_from(["30s", "2h", "7d", "high", "~/x", True, 4096, [], {}]) | values,
                max_size=3,
            )
            for check in ALL_CHECKS
        },
    )
    policy = st.fixed_dictionaries(
        {"schema": st.sampled_from([1, 1, 1, 1, 1, 1, 2, True, 1.0, "1", None]), "checks": checks},
        optional={
            "name": leaves,
            "notify": settings_of,
            "locked": st.lists(st.sampled_from(WORDS), max_size=3),
            "sources": settings_of,
            "report": settings_of,
        },
    )
    return st.tuples(policy, st.booleans()).map(
        lambda t: yaml.safe_dump(t[0], default_flow_style=t[1], allow_unicode=True)
    )


def raw_bytes() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=600),
        st.tuples(st.just(b"schema: 1\nname: "), st.binary(max_size=100)).map(b"".join),
        documents().map(lambda t: t.encode("utf-8", "surrogatepass")),
    )


# --- the properties -----------------------------------------------------------------


@contextlib.contextmanager
def bounded_memory() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MAX_PEAK_BYTES, f"reading one policy took {peak / 1e6:.0f} MB"


class Machine:
    """A person's folders in one temporary directory, reused by every example."""

    def __init__(self, root: Path) -> None:
        self.paths = Paths(
            home=root / "home",
            user_policies=root / "config" / "policies.d",
            admin_policies=root / "admin" / "policies.d",
            state=root / "state",
        )
        for folder in (self.paths.home, self.paths.user_policies, self.paths.admin_policies):
            folder.mkdir(parents=True, exist_ok=True)
        self.model = policy_file_model(ALL_CHECKS)

    def file_property(self, data: bytes, counts: Counts) -> None:
        """load_file: a layer or a PolicyError naming the file, in bounded memory."""
        path = self.paths.home / "fuzzed.yaml"
        path.write_bytes(data)
        with bounded_memory():
            try:
                load_file(path, ALL_CHECKS, Level.admin, model=self.model)
            except PolicyError as err:
                assert err.source == str(path)
                assert str(err).startswith(f"{path}")
                counts.add("file refused")
                return
        counts.add("file valid")

    def layers_property(self, data: bytes, where: str, counts: Counts) -> None:
        """load_policy with the file as a user or admin file: strict, a Policy or a
        PolicyError; keep_going (the agent), always a Policy, the file's refusal said."""
        folder = self.paths.user_policies if where == "user" else self.paths.admin_policies
        for old in [*self.paths.user_policies.iterdir(), *self.paths.admin_policies.iterdir()]:
            old.unlink()
        path = folder / "50-fuzzed.yaml"
        path.write_bytes(data)
        try:
            load_policy(self.paths, ALL_CHECKS)
            strict_ok = True
        except PolicyError:
            strict_ok = False
        policy = load_policy(self.paths, ALL_CHECKS, keep_going=True)
        refused = [r for r in policy.refused if r.source == str(path)]
        assert strict_ok or refused, "a file check refuses must be said by the agent"
        counts.add(f"{where} {'applied' if strict_ok else 'refused'}")

    def validate_property(self, data: bytes, counts: Counts) -> None:
        """`hygiene policy validate FILE`: "valid" and 0, or one line on stderr and 2."""
        path = self.paths.home / "validated.yaml"
        path.write_bytes(data)
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["policy", "validate", str(path)])
        if code == 0:
            assert out.getvalue() == f"{path}: valid\n"
        else:
            assert code == 2
            assert err.getvalue().count("\n") == 1, err.getvalue()
            assert err.getvalue().startswith(f"hygiene: {path}")
        assert "Traceback" not in err.getvalue()
        counts.add("validate")


def as_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


FUZZ = settings(
    deadline=None,  # a slow example is found by the memory bound, not by a clock
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


def run_all(examples: int, report: Callable[[Counts], None] | None = None) -> Counts:
    """Every property with `examples` examples each (the short form below, or the bench)."""
    counts = Counts()
    with tempfile.TemporaryDirectory() as tmp:
        machine = Machine(Path(tmp))
        few = settings(FUZZ, max_examples=examples)
        given(raw_bytes())(few(lambda data: machine.file_property(data, counts)))()
        given(documents().map(as_bytes))(few(lambda d: machine.file_property(d, counts)))()
        given(dumped().map(as_bytes))(few(lambda d: machine.file_property(d, counts)))()
        fewer = settings(FUZZ, max_examples=max(1, examples // 3))
        given(raw_bytes() | documents().map(as_bytes), st.sampled_from(["user", "admin"]))(
            fewer(lambda d, w: machine.layers_property(d, w, counts))
        )()
        given(dumped().map(as_bytes), st.sampled_from(["user", "admin"]))(
            fewer(lambda d, w: machine.layers_property(d, w, counts))
        )()
        given(raw_bytes() | dumped().map(as_bytes))(
            fewer(lambda d: machine.validate_property(d, counts))
        )()
    if report is not None:
        report(counts)
    return counts


def test_any_policy_input_is_a_policy_or_one_policy_error() -> None:
    counts = run_all(120)
    # 3 x 120 files, 2 x 40 layerings, 40 validations, unless hypothesis ran out of ideas.
    assert counts.total >= 300, counts.by_kind
    assert counts.by_kind.get("file valid", 0) > 0, "no example got through validation"
