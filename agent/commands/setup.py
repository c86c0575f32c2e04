"""The commands that set the agent up on this device: as a service of the person's own,
and which networks count as trusted."""

from __future__ import annotations

import argparse
import os

from agent.paths import Paths
from agent.service import service_command
from agent.trust import network_command


def network(args: argparse.Namespace) -> int:
    return network_command(
        args.action,
        label=args.label,
        as_json=args.json,
        paths=Paths.from_environment(),
        env=os.environ,
        now=args.clock(),
    )


def service(args: argparse.Namespace) -> int:
    return service_command(args.action, dry_run=args.dry_run)
