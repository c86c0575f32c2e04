"""`hygiene open-url URL`: the handler of the `hygiene:` links on the "My device" page.

A browser starts it with whatever URL a page asked for, so the URL is read as hostile:
agent.links accepts only exactly a link the page writes, with the current page's token.
Anything else is refused with one line on stderr and exit 2, and nothing changes. A valid
link does what `hygiene snooze` or `hygiene unsnooze` does, within the same limits, and
since no terminal shows what it printed, says it in a short desktop notification too.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import timedelta

from agent import links
from agent.commands import EXIT_OK, EXIT_USAGE
from agent.commands.snooze import (
    snooze_target,
    snoozed_sentence,
    unsnooze_target,
    unsnoozed_sentence,
)
from agent.durations import parse_duration
from agent.errors import AgentError
from agent.paths import Paths
from agent.text import printable


def open_url(args: argparse.Namespace) -> int:
    paths = Paths.from_environment()
    try:
        action = _take(args.url, paths)
    except links.LinkRefused as err:
        # The sentence never quotes the URL, which could be anything.
        print(f"hygiene: refused a hygiene: link: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        said, title = _act(action, paths, args)
    except AgentError as err:
        _tell(f"Could not {action.name} {action.target}", str(err))
        raise
    print(said)
    # A running agent writes the page again within seconds (agent.scheduler notices the
    # snooze); the page open in the browser shows it once reloaded.
    from agent.instance import running_agent  # noqa: PLC0415

    if running_agent(paths.state) is not None:
        reload = " Reload the page to see it."
    else:
        reload = " Reload the page before you use its links again."
    _tell(title, said + reload)
    return EXIT_OK


def _take(url: str, paths: Paths) -> links.Action:
    """The action `url` asks for, its token used up: the page gets a new one before
    anything is done, under the page's lock, so that two opens of one link (at once or one
    after the other) act once. A page that cannot be renewed refuses the link."""
    # A link refused as it stands changes nothing, not even the lock file.
    links.parse(url, links.current_token(paths.state))
    try:
        with links.page_lock(paths.state):
            token = links.current_token(paths.state)
            action = links.parse(url, token)
            links.rotate_token(paths.state, token or "")
    except OSError as err:
        reason = (err.strerror or str(err)).rstrip(".").lower()
        raise links.LinkRefused(f"the page's token could not be renewed ({reason})") from None
    return action


def _act(action: links.Action, paths: Paths, args: argparse.Namespace) -> tuple[str, str]:
    """Do what the link asks; what to print, and the notification's title."""
    now = args.clock()
    target = action.target  # a check id or a finding id: links.parse let nothing else through
    if action.name == "unsnooze":
        ended = unsnooze_target(paths, target, now)
        title = f"Notices about {target} are back on" if ended else f"{target} was not snoozed"
        return unsnoozed_sentence(target, ended=ended), title
    length = parse_duration(action.length or "")
    done = snooze_target(paths, target, length, now, verbose=args.verbose)
    if done.check == target:
        subject = target
    elif done.subject:
        subject = done.subject
    else:
        subject = f"a finding of {done.check}" if done.check else "a finding"
    said = snoozed_sentence(target, done.until, done.subject)
    return said, f"Snoozed {subject} for {_spoken(length)}"


def _spoken(length: timedelta) -> str:
    """1h, 1d, 7d (the page's lengths) as people say them."""
    days, seconds = length.days, length.seconds
    count, unit = (days, "day") if days and not seconds else (seconds // 3600, "hour")
    return f"{count} {unit}{'' if count == 1 else 's'}"


def _tell(title: str, body: str) -> None:
    """The outcome as a desktop notification: the link was clicked in a browser, and what
    was printed goes nowhere the person looks. Best effort: notify logs what it cannot show."""
    from agent.logs import to_stderr  # noqa: PLC0415
    from agent.notify import Notification, default_backends, deliver  # noqa: PLC0415

    to_stderr(verbose=False)  # what notify says it could not show, as the other commands say

    notice = Notification(
        title=printable(title),
        body=printable(body),
        urgency="low",
        actions=(),
        icon="dialog-information",
    )
    deliver(notice, default_backends(os.environ, sys.platform))
