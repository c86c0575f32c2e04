"""The agent's exceptions. Each message is one sentence a person can act on."""

from __future__ import annotations


class AgentError(Exception):
    """Something the agent cannot do; the message says what and why."""


def clause(err: BaseException) -> str:
    """An error's sentence to be followed by more text ("...; it is tried again"): without
    its closing full stop."""
    return str(err).rstrip(".")


class PolicyError(AgentError):
    """A policy file that cannot be used: names the file, line, field and what was expected."""

    def __init__(
        self,
        source: str,
        problem: str,
        *,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.source = source
        self.problem = problem
        self.field = field
        self.line = line
        where = source if line is None else f"{source}, line {line}"
        what = problem if field is None else f"{field}: {problem}"
        super().__init__(f"{where}: {what}")


class ProbeUnavailable(AgentError):
    """A fact the agent cannot gather on this machine (no such subsystem, no permission)."""


class CheckSkipped(AgentError):
    """Raised by a check that does not apply here; the message is the reason shown."""


class UsageError(AgentError):
    """The command line asks for something that does not exist."""
