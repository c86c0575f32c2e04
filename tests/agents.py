"""An agent built in the test's process, on the machine fixture's folders."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from typing import Any

from agent.checks import ALL_CHECKS
from agent.paths import Paths
from agent.policy import load_policy
from agent.policy_child import load_apart
from agent.scheduler import Agent
from agent.store import Store


@contextlib.contextmanager
def quiet_agent(**options: Any) -> Iterator[Agent]:
    """Every check, the policy in force, the store open, and no notification backend (its
    notices are logged and kept as not delivered)."""
    paths = Paths.from_environment()
    with Store.open(paths.state) as store:
        yield Agent(
            paths=paths,
            checks=ALL_CHECKS,
            policy=load_policy(paths, ALL_CHECKS),
            # As the agent reads it afresh: in its child process.
            load=functools.partial(
                load_apart, paths, [check.id for check in ALL_CHECKS], os.environ
            ),
            store=store,
            backends=[],
            **options,
        )
