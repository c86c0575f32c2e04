"""The disks' facts that `disk_encryption` and `app_sessions` share: looked at once per run."""

from __future__ import annotations

from agent import probes
from agent.checks.base import CheckContext
from agent.probes import Volume


def volumes(ctx: CheckContext) -> list[Volume]:
    """Whether the file systems holding / and the home folder are encrypted
    (agent.probes.disk_encryption), gathered by whichever check of this run asks first."""
    home = str(ctx.paths.home)
    return ctx.facts.once(("disk_encryption", home), lambda: probes.disk_encryption(home))
