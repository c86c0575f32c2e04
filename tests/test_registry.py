"""ALL_CHECKS is the one list: every module in agent/checks is in it, once, complete."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

import agent.checks
from agent.checks import ALL_CHECKS, CHECKS, load_checks
from agent.checks.base import Check, CheckParams
from agent.models import Severity

NOT_CHECKS = {"base"}


def test_every_check_module_is_listed() -> None:
    listed = {check.__module__ for check in ALL_CHECKS}
    modules = {
        f"agent.checks.{m.name}"
        for m in pkgutil.iter_modules(agent.checks.__path__)
        # A module whose name starts with "_" holds words or helpers two checks share.
        if m.name not in NOT_CHECKS and not m.name.startswith("_")
    }
    assert modules - listed == set(), "check modules missing from ALL_CHECKS"
    for name in modules:
        defined = [
            obj
            for obj in vars(importlib.import_module(name)).values()
            if inspect.isclass(obj) and issubclass(obj, Check) and obj.__module__ == name
        ]
        assert defined, f"{name} defines no check"
        assert set(defined) <= set(ALL_CHECKS), f"{name} has a check missing from ALL_CHECKS"


def test_the_names_of_the_checks_are_the_checks() -> None:
    # CHECKS names each check without importing it; ALL_CHECKS is what the names load.
    assert [check.id for check in ALL_CHECKS] == list(CHECKS)
    for check in ALL_CHECKS:
        assert check.__module__ == f"agent.checks.{check.id}"
        assert check.__name__ == CHECKS[check.id]
    assert load_checks(["vpn", "ssh_keys"]) == tuple(
        c for c in ALL_CHECKS if c.id in ("vpn", "ssh_keys")
    )


def test_ids_are_unique_and_plain() -> None:
    ids = [check.id for check in ALL_CHECKS]
    assert len(ids) == len(set(ids))
    for check_id in ids:
        assert check_id.isidentifier() and check_id.islower()


def test_every_check_says_what_it_is_reads_and_keeps() -> None:
    for check in ALL_CHECKS:
        c: type[Check[Any]] = check
        assert c.title and c.rationale and c.advice and c.keeps, c.id
        assert c.reads and all(c.reads), c.id
        assert c.alert and "{n}" in c.alert_many, c.id
        # A summary notice lists checks by topic: a few words, not its title.
        assert c.topic and len(c.topic) <= 30 and c.topic != c.title, c.id
        # Titles by kind: a few words each, the one for several with their number.
        for kind, one, many in c.alerts:
            assert kind and one and "{n}" in many and len(many) < 60, (c.id, kind)
        assert isinstance(c.severity, Severity)
        assert len(c.explanation()) > 80, f"{c.id} needs a docstring a person can read"
        assert issubclass(c.Params, CheckParams)
        # Made with agent.settings.settings: a subclass without it is no dataclass of its own.
        assert "__dataclass_fields__" in vars(c.Params), f"{c.id}: @settings is missing"
        assert getattr(c.Params, "__pydantic_config__", {}).get("extra") == "forbid"


def test_the_default_policy_enables_every_check() -> None:
    from agent.policy import BUILTIN, builtin_policy_path, load_file
    from agent.policy_settings import Level

    layer = load_file(builtin_policy_path(), ALL_CHECKS, Level.default, source=BUILTIN)
    assert set(layer.checks) == {check.id for check in ALL_CHECKS}
    for check_id, settings in layer.checks.items():
        assert settings.get("enabled", True) is True, check_id
        assert settings.get("advice"), f"the default policy gives {check_id} no advice"
