"""`hygiene policy ...`: validate, show, sign and verify policy files; print their schema.
And the policy in force, as the other commands that need it load it."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import psutil

from agent.admin_layers import pull_errors, report_errors
from agent.checks import load_checks
from agent.checks.base import Check
from agent.commands import EXIT_FAILING, EXIT_OK, EXIT_USAGE, print_json
from agent.errors import AgentError, UsageError
from agent.paths import Paths
from agent.policy import combine, load_file, load_policy, policy_file_model
from agent.policy import policy_json_schema as json_schema
from agent.policy_settings import LayerInfo, Level, Policy
from agent.report import policy_json, policy_text
from agent.text import printable


def load(
    paths: Paths,
    checks: Sequence[type[Check[Any]]],
    extra: Sequence[Path] = (),
    *,
    keep_going: bool = False,
    unloaded: Collection[str] = (),
) -> Policy:
    policy = load_policy(paths, checks, extra, keep_going=keep_going, unloaded=unloaded)
    for warning in policy.warnings:
        print(f"hygiene: warning: {printable(warning)}", file=sys.stderr)
    return policy


def in_force(paths: Paths) -> Policy:
    """The policy in force, as the agent has it: a broken file gives way to its last good
    copy or is left out, and is named in a warning."""
    return load(paths, load_checks(), keep_going=True)


def policy(args: argparse.Namespace) -> int:
    if args.action == "validate":
        return _validate(args)
    if args.action == "show":
        return _show(args)
    if args.action == "keygen":
        return _keygen(args)
    if args.action == "sign":
        return _sign(args)
    if args.action == "verify":
        return _verify(args)
    if args.action == "pull":
        return _pull(args)
    print_json(json_schema(load_checks()))
    return EXIT_OK


def _validate(args: argparse.Namespace) -> int:
    bad = 0
    checks = load_checks()
    model = policy_file_model(checks)
    for path in args.files:
        try:
            layer = load_file(path, checks, Level.admin, model=model)
            combine([layer], checks)
        except AgentError as err:
            print(f"hygiene: {printable(str(err))}", file=sys.stderr)
            bad += 1
        else:
            print(f"{printable(str(path))}: valid")
    return EXIT_USAGE if bad else EXIT_OK


def _show(args: argparse.Namespace) -> int:
    paths = Paths.from_environment()
    # Exit 1 when a file was refused (it is named under "rejected"), so scripts notice.
    policy = in_force(paths)
    failed = pull_errors(paths)  # the copies kept are in force; these say why none newer
    unwritten = report_errors(paths)  # as the running agent last found them
    if args.json:
        data = policy_json(policy)
        data["admin"]["pull_failed"] = failed
        data["admin"]["report_errors"] = unwritten
        print_json(data)
    else:
        said = [f"pull failed: {printable(e)}\n" for e in failed]
        said += [f"report not written: {printable(e)}\n" for e in unwritten]
        sys.stdout.write(policy_text(policy) + "".join(said))
    return EXIT_FAILING if policy.rejected else EXIT_OK


def _keygen(args: argparse.Namespace) -> int:
    from agent.signing import keygen, keys_folder  # noqa: PLC0415 - cryptography: keygen only

    pair = keygen(args.out)
    public = printable(str(pair.public))
    print(f"private key: {printable(str(pair.private))} (keep it secret: it signs policies)")
    print(f"public key:  {public}")
    print(f"key id:      {pair.key_id}")
    print(
        f"copy {public} to {printable(str(keys_folder(Paths.from_environment())))}/ on each device"
    )
    return EXIT_OK


def _sign(args: argparse.Namespace) -> int:
    from agent.signing import private_key_id, sign  # noqa: PLC0415 - cryptography: sign only

    signers = [private_key_id(key) for key in args.key]
    target = sign(args.file, args.key)
    keys = f"key {signers[0]}" if len(signers) == 1 else f"keys {', '.join(signers)}"
    print(f"{printable(str(target))}: signed by {keys}")
    return EXIT_OK


def _pull(args: argparse.Namespace) -> int:
    """Every source the admin policies name, pulled now whatever their `every`; one line
    each (changed, unchanged, rejected, or why not pulled), and a running agent told to
    apply them at once (SIGHUP). Each refusal is said once, on stderr."""
    from agent.scheduler import PULL_DEADLINE, pull_sources  # noqa: PLC0415
    from agent.sources import shown_url  # noqa: PLC0415

    paths = Paths.from_environment()
    checks = load_checks()
    before = load_policy(paths, checks, keep_going=True)  # its warnings: said after the pull
    urls = list(before.pull.urls)
    if not urls:
        for line in before.rejected:
            print(f"hygiene: {printable(line)}", file=sys.stderr)
        if before.rejected:
            print("No policy sources are in force: an admin policy that may name them was refused.")
            return EXIT_FAILING
        print("No policy sources: an admin policy names them under sources: urls.")
        return EXIT_OK
    deadline = PULL_DEADLINE if args.pull_deadline is None else args.pull_deadline
    pulled = pull_sources(
        urls, paths.state / "sources", args.clock(), before.pull.every,
        deadline=deadline, every_source=True,
    )  # fmt: skip
    after = load_policy(paths, checks, keep_going=True)
    for url in urls:
        print(_pulled_line(url, pulled[url], before, after, shown_url(url)))
    for line in after.rejected:
        print(f"hygiene: {printable(line)}", file=sys.stderr)
    _tell_agent(paths)
    return EXIT_FAILING if any(p.error for p in pulled.values()) or after.rejected else EXIT_OK


def _pulled_line(url: str, one: Any, before: Policy, after: Policy, shown: str) -> str:
    """`URL: changed (fleet, revision 1 -> 2)`, `unchanged (...)`, `rejected: ...` or
    `not pulled: ...`."""
    del url
    if one.error:
        return f"{printable(shown)}: not pulled: {printable(one.error)}"
    refused = next((line for line in after.rejected if line.startswith(shown)), None)
    if one.changed and refused is not None:
        why = refused.removeprefix(shown).lstrip().removeprefix("was rejected:").lstrip()
        return f"{printable(shown)}: rejected: {printable(why)}"
    # A pulled layer is named by its address, then when it was pulled and its signer.
    old, new = (_layer_of(p, shown) for p in (before, after))
    named = ""
    if new is not None and new[2] is not None:
        revision = f"{new[3]}"
        if one.changed and old is not None and old[3] != new[3]:
            revision = f"{old[3]} -> {new[3]}"
        named = f" ({printable(new[2])}, revision {revision})"
    return f"{printable(shown)}: {'changed' if one.changed else 'unchanged'}{named}"


def _tell_agent(paths: Paths) -> None:
    """SIGHUP to the agent holding the lock, once it is seen to be `hygiene run`: the lock
    file's number alone could name any process."""
    from agent.instance import running_agent  # noqa: PLC0415

    pid = running_agent(paths.state)
    if not pid or not hasattr(signal, "SIGHUP"):
        return
    try:
        words = psutil.Process(pid).cmdline()
    except psutil.Error:
        words = []
    if "run" not in words or not any(w.endswith(("hygiene", "agent")) for w in words):
        print(f"The agent's lock names process {pid}, which is not hygiene run; not told.")
        return
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as err:
        print(f"The running agent (process {pid}) could not be told: {err.strerror}.")
        return
    print(f"The running agent (process {pid}) applies it now.")


def _layer_of(policy: Policy, shown: str) -> LayerInfo | None:
    return next((la for la in policy.layers if la.source.split(" (pulled ")[0] == shown), None)


def _verify(args: argparse.Namespace) -> int:
    from agent.signing import keys_folder, load_anchors, verify_file  # noqa: PLC0415

    shown = printable(str(args.file))
    if not args.file.exists():
        raise UsageError(f"{shown} does not exist")
    if not args.file.is_file():
        raise UsageError(f"{shown} is not a file")
    if args.keys is not None and not args.keys.is_dir():
        raise UsageError(f"--keys {printable(str(args.keys))} is not a folder")
    anchors = load_anchors(args.keys or keys_folder(Paths.from_environment()))
    for warning in anchors.warnings:
        print(f"hygiene: warning: {printable(warning)}", file=sys.stderr)
    verdict = verify_file(args.file, anchors)
    print(f"{shown}: {printable(verdict.reason)}")
    return EXIT_OK if verdict.ok else EXIT_FAILING
