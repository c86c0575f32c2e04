"""The resident agent's policy, read in a short-lived child process.

Reading a policy means validating it, and validating it means pydantic: its core, its
schemas and every settings class's validator, about 10 MB that a resident agent would carry
for days to use for a fraction of a second at start and at each change of a policy file
(bench/memory.py). So the agent does not read its policy itself: it starts

    python -I -m agent.policy_child

which reads every file as `hygiene check` does (agent.policy.load_policy with keep_going:
last good copies, the signature gate, the snooze limits it notes) and hands back the policy
in force as plain data (agent.policy_settings, agent.settings): pickled, over a pipe, from
the agent's own child. Each side unpickles only the classes of the agent's own package and
the few standard ones settings use (`_PolicyData`), so even a process gone wrong cannot make
the other build anything else.

The child's stdin carries what it reads: the agent's Paths and the ids of its checks.
"""

from __future__ import annotations

import io
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from agent.children import die_with_parent, start
from agent.errors import AgentError
from agent.paths import Paths
from agent.policy_settings import Policy

# Validating 1 MiB of policy takes under a second (bench/policy_size.py); a child that
# takes this long is stuck, and the agent keeps the policy it has.
DEADLINE = 60.0
_LOOK = 0.2  # how often the wait looks whether the agent is stopping
# What settings hold besides the agent's own classes and Python's plain values.
_STANDARD = {
    ("datetime", "date"),
    ("datetime", "timedelta"),
    ("datetime", "time"),
    ("pathlib", "PosixPath"),
    ("pathlib", "WindowsPath"),
    ("pathlib", "PurePosixPath"),
    ("pathlib", "PureWindowsPath"),
}


class _PolicyData(pickle.Unpickler):
    """Builds only the agent's own classes and _STANDARD's: plain data, nothing that runs."""

    def find_class(self, module: str, name: str) -> Any:
        if "." not in name and (module, name) in _STANDARD:
            return super().find_class(module, name)
        if module.startswith("agent.") and "." not in name:
            found = super().find_class(module, name)
            if isinstance(found, type) and found.__module__ == module:
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not policy data")


class ReaderTimedOut(AgentError):
    """The policy reader took longer than its deadline; it was stopped."""


def load_apart(
    paths: Paths,
    check_ids: Sequence[str],
    env: Mapping[str, str],
    deadline: float = DEADLINE,
    cancel: threading.Event | None = None,
) -> Policy:
    """The policy in force, read by a child process. Raises AgentError (one sentence) when
    it cannot be read, ReaderTimedOut after `deadline`; `cancel` (the agent stopping) stops
    the child at once. The child's own faults are said without their traceback."""
    request = pickle.dumps((paths, list(check_ids)))
    try:
        child = start("agent.policy_child", env)
    except OSError as err:
        raise AgentError(f"the policy reader could not start: {err.strerror}") from None
    ends = time.monotonic() + deadline
    sent: bytes | None = request
    try:
        while True:
            try:
                left = max(0.0, ends - time.monotonic())
                stdout, _ = child.communicate(sent, timeout=min(_LOOK, left))
                break
            except subprocess.TimeoutExpired:
                sent = None  # already on its way: communicate() goes on writing it
                if cancel is not None and cancel.is_set():
                    raise AgentError("stopped before the policy was read") from None
                if time.monotonic() > ends:
                    raise ReaderTimedOut(
                        f"reading the policy took longer than {deadline:.0f}s"
                    ) from None
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    try:
        answer = _PolicyData(io.BytesIO(stdout)).load()
    except Exception:  # noqa: BLE001 - whatever the child wrote, one sentence
        answer = None
    match answer:
        case ("policy", Policy() as policy):
            return policy
        case ("refused", str(sentence)):
            raise AgentError(sentence)
        case ("fault", str(kind)):
            raise AgentError(f"the policy reader failed ({kind}, a fault in hygiene-agent)")
    raise AgentError(f"the policy reader failed (exit status {child.returncode})")


def main() -> int:
    answer: tuple[str, object]
    die_with_parent()  # a stopped or killed agent leaves no reader behind
    try:
        paths, check_ids = _PolicyData(sys.stdin.buffer).load()  # from the agent
        from agent.checks import load_checks  # noqa: PLC0415 - the child's own work
        from agent.policy import load_policy  # noqa: PLC0415

        checks = load_checks(check_ids)
        answer = ("policy", load_policy(paths, checks, keep_going=True))
    except AgentError as err:
        answer = ("refused", str(err))
    except Exception as err:  # noqa: BLE001 - said as one line by the agent
        answer = ("fault", type(err).__name__)
    sys.stdout.buffer.write(pickle.dumps(answer))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
