from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from agent.checks.base import Check, CheckContext, CheckParams, Every
from agent.errors import CheckSkipped
from agent.models import Finding, Severity
from agent.probes import Firewall, Firewalls, firewalls
from agent.settings import settings
from agent.text import printable

KERNEL = "the kernel's rules"
_INSTALL = (
    "Turn on a firewall that refuses incoming connections you have not allowed: the simplest "
    "is ufw (sudo apt install ufw, or your distribution's package), then sudo ufw enable; "
    "or firewalld: sudo systemctl enable --now firewalld."
)
# What to do, by the firewall's kind and what is wrong with it.
_FIX: dict[tuple[str, str], str] = {
    ("ufw", "off"): "Turn it on: sudo ufw enable (it then starts with the computer too).",
    ("ufw", "open"): "Make it refuse what you have not allowed: sudo ufw default deny "
    "incoming, then sudo ufw reload.",
    ("ufw", "not at boot"): "Let it start with the computer: sudo systemctl enable ufw",
    ("firewalld", "off"): "Start it, and let it start with the computer: sudo systemctl "
    "enable --now firewalld",
    ("firewalld", "failed"): "See why its rules failed (sudo journalctl -u firewalld), fix "
    "the zone or rule it names, then: sudo systemctl restart firewalld",
    ("firewalld", "open"): "Move the interface to a zone that refuses what it does not allow, "
    "for example: sudo firewall-cmd --set-default-zone=public (or, for one interface, "
    "sudo firewall-cmd --permanent --zone=public --change-interface=NAME, then "
    "sudo firewall-cmd --reload).",
    ("firewalld", "not at boot"): "Let it start with the computer: sudo systemctl enable firewalld",
    ("nftables", "not at boot"): "Load its rules now and at every start: sudo systemctl "
    "enable --now nftables",
    ("nftables", "open"): "Add `policy drop;` to the input chain of /etc/nftables.conf "
    "(after rules accepting established connections, loopback and what you need), then: "
    "sudo systemctl reload nftables",
    ("iptables", "not at boot"): "Load the saved rules at every start: sudo systemctl enable "
    "--now netfilter-persistent",
    ("iptables", "open"): "Allow what you need, then refuse the rest: sudo iptables -P INPUT "
    "DROP (and ip6tables), then sudo netfilter-persistent save.",
    ("macos", "off"): "Turn it on: System Settings > Network > Firewall (or: sudo "
    "/usr/libexec/ApplicationFirewall/socketfilterfw --setglobalstate on).",
    ("windows", "off"): "Turn it on: Windows Security > Firewall & network protection > "
    "{profile} network > Microsoft Defender Firewall: On (or, as administrator: "
    "Set-NetFirewallProfile -Profile {profile} -Enabled True).",
    ("windows", "open"): "Make it block what you have not allowed, as administrator: "
    "Set-NetFirewallProfile -Profile {profile} -DefaultInboundAction Block",
}
_SAYS = {
    "off": "{name} is set up but not on ({how}), so nothing refuses incoming connections.",
    "failed": "{name} is running, but its rules failed to load ({how}).",
    "open": "{name} is on but lets every incoming connection in ({how}).",
    "none": "No firewall is on: {name} is there, but {how}, and it does not start with the "
    "computer.",
    "not at boot": "{name} is set up ({how}) but does not start with the computer: after the "
    "next restart nothing refuses incoming connections.",
}
_NOTICE = {
    "off": "{name} is off: nothing refuses incoming connections.",
    "failed": "{name} runs, but its rules failed to load.",
    "open": "{name} lets every incoming connection in.",
    "none": "No firewall refuses incoming connections.",
    "not at boot": "{name} does not start with the computer.",
}


@settings
class FirewallParams(CheckParams):
    # Reading a few small files and asking firewalld costs milliseconds (bench/firewall.py).
    every: Every = timedelta(minutes=15)


class FirewallCheck(Check[FirewallParams]):
    """A firewall refuses incoming connections you have not allowed.

    Every program that listens on the network answers whoever reaches it: on a café's or a
    hotel's network, everyone there. A firewall that refuses incoming connections by default
    means only what you chose to open can be reached. The check asks whether one is on and
    starts with the computer: on Linux the kernel's rules when this account may read them
    (root), else firewalld, ufw, nftables and iptables' saved rules as their own settings say;
    on macOS the Application Firewall; on Windows the firewall of each network profile.
    """

    id = "firewall"
    topic = "the firewall"
    title = "A firewall refuses incoming connections you have not allowed"
    severity = Severity.medium
    rationale = "Without a firewall, every program listening on the network answers everyone on it."
    advice = (
        "Turn on your system's firewall (ufw or firewalld on Linux, the Application Firewall "
        "on macOS, Windows Firewall on every profile) so that it refuses incoming connections "
        "you have not allowed, and let it start with the computer."
    )
    reads = (
        "Linux: firewalld's state, default zone and active zones with their targets (system "
        "bus), /etc/ufw/ufw.conf and /etc/default/ufw, /etc/nftables.conf, "
        "/etc/iptables/rules.v4 and rules.v6 (64 KiB each; loaded by nft or iptables-nft into "
        "a private network namespace to see what they do), firewalld's zone files, which "
        "services start with the computer (links under /etc/systemd/system), and the kernel's "
        "rules (nft -j list ruleset) only when the agent runs as root; macOS: socketfilterfw's "
        "global state, block-all and stealth mode; Windows: each profile's Enabled and "
        "DefaultInboundAction (Get-NetFirewallProfile)",
    )
    keeps = (
        "which firewall, whether it is on, starts with the computer and refuses by default "
        "(yes/no), the interface names a zone lets everything in on; never a rule or a zone "
        "of your own by name"
    )
    alert = "No firewall refuses incoming connections"
    alert_many = "Your firewall is not on ({n} problems)"
    alerts = (
        ("off", "Your firewall is off", "Your firewalls are off ({n} problems)"),
        ("none", "No firewall is on", "No firewall is on ({n} problems)"),
        ("open", "Your firewall lets everything in", "Your firewall lets everything in ({n})"),
        ("not at boot", "Your firewall does not start with the computer", "Your firewall "
         "does not start with the computer ({n})"),
    )  # fmt: skip
    Params = FirewallParams

    def run(self, ctx: CheckContext) -> list[Finding]:
        return self.judge(ctx, firewalls(ctx.env))

    def judge(self, ctx: CheckContext, found: Firewalls) -> list[Finding]:
        """The findings for what the probe found (tests give it a probe run on a made-up
        /etc); raises CheckSkipped when nothing can tell."""
        for note in found.notes:
            self.note(printable(note))
        kernel = next((f for f in found.found if f.name == KERNEL), None)
        others = [f for f in found.found if f.name != KERNEL]
        if kernel is not None and kernel.blocks is not None:
            return self._kernel(ctx, kernel, others)
        if kernel is not None:
            self.note(f"The kernel's rules were read, but {printable(kernel.how)}.")
        good = [f for f in others if _good(f)]
        if good and (not found.every_one or len(good) == len(others)):
            self.passed = (
                "Windows Firewall refuses incoming connections you have not allowed, on every "
                "network profile"
                if found.every_one
                else _passed(good[0])
            )
            return []
        problems = [(f, p) for f in others if (p := _problem(f)) is not None]
        if any(f.on for f, _ in problems):
            # The firewall that runs is the one to fix; another installed but off is not a
            # second problem (nor a contradicting command).
            problems = [(f, p) for f, p in problems if f.on]
        elif any(p != "none" for _, p in problems):
            problems = [(f, p) for f, p in problems if p != "none"]
        elif problems:
            problems = problems[:1]  # "no firewall is on" is one problem, however many say it
        findings = [self._finding(ctx, f, p, others) for f, p in problems]
        if findings:
            return findings
        raise CheckSkipped(
            "whether a firewall is on cannot be told from this account: looked at "
            + ", ".join(found.looked_at)
            + (", and none of them is set up" if not others else "")
        )

    def _kernel(
        self, ctx: CheckContext, kernel: Firewall, others: Sequence[Firewall]
    ) -> list[Finding]:
        if kernel.blocks:
            # Closed now; a finding only when what is set up would not close it again after
            # a restart, and nothing else is known to.
            restores = [f for f in others if f.blocks and f.at_boot]
            at_boot = [f for f in others if f.blocks and f.at_boot is False]
            if at_boot and not restores:
                return [self._finding(ctx, at_boot[0], "not at boot")]
            self.passed = "The kernel's rules refuse incoming connections you have not allowed"
            return []
        # The rules in force let things in: say so, with what would fix it here.
        fix = next(
            (
                f"{_capital(printable(f.name))} is set up but "
                f"{'off' if problem == 'off' else 'does not start with the computer'}. "
                + _fix(f, problem)
                for f in others
                if f.blocks
                and (problem := _problem(f)) in ("off", "not at boot")
                and (_kind(f), problem) in _FIX
            ),
            _install(others),
        )
        how = printable(kernel.how)
        return [
            self.finding(
                ctx,
                "this computer",
                "open",
                f"No firewall refuses incoming connections now: {how}.",
                fix,
                notice=f"No firewall refuses incoming connections: {how}.",
                blocks=False,
            )
        ]

    def _finding(
        self, ctx: CheckContext, firewall: Firewall, problem: str, others: Sequence[Firewall] = ()
    ) -> Finding:
        name = printable(firewall.name)
        how = printable(firewall.how) or "not known"
        profile = firewall.name.partition("(")[2].partition(" ")[0] or "Public"
        fix = _fix(firewall, problem, profile)
        if problem == "none":
            fix = _install(others)
        said = _SAYS[problem].format(name=name, how=how)
        return self.finding(
            ctx,
            name,
            problem,
            _capital(said),
            fix,
            notice=_NOTICE[problem].format(name=_capital(name)) + " " + fix,
            on=firewall.on,
            at_boot=firewall.at_boot,
            blocks=firewall.blocks,
        )


def _kind(firewall: Firewall) -> str:
    if firewall.name.startswith("Windows"):
        return "windows"
    if firewall.name == "the Application Firewall":
        return "macos"
    return firewall.name


def _install(found: Sequence[Firewall]) -> str:
    """How to get a firewall, by what is already installed."""
    ufw = next((f for f in found if f.name == "ufw"), None)
    if ufw is not None:
        steps = [] if ufw.blocks else ["sudo ufw default deny incoming"]
        steps += [] if ufw.on else ["sudo ufw enable"]
        steps += ["sudo systemctl enable ufw"] if ufw.service is False else []
        if steps:
            return "Turn on ufw, which is installed: " + ", then ".join(steps) + "."
    if any(f.name == "firewalld" for f in found):
        return "Turn on firewalld, which is installed: sudo systemctl enable --now firewalld"
    return _INSTALL


def _fix(firewall: Firewall, problem: str, profile: str = "Public") -> str:
    kind = _kind(firewall)
    if kind == "ufw" and firewall.on is False:
        # ufw.service loads the rules at start only when `ufw enable` was run (ENABLED=yes).
        fix = _FIX["ufw", "off"]
        if firewall.service is False:
            fix = (
                "Turn it on, and let it start with the computer: sudo ufw enable, then "
                "sudo systemctl enable ufw"
            )
        return fix
    if kind == "ufw" and firewall.opening == "ipv6":
        return "Let it filter IPv6 too: set IPV6=yes in /etc/default/ufw, then sudo ufw reload."
    return _FIX.get((kind, problem), _INSTALL).format(profile=profile)


def _good(firewall: Firewall) -> bool:
    """On (or set to load at start, for rules loaded once), refusing by default, and
    starting with the computer as far as can be told."""
    if firewall.blocks is not True or firewall.at_boot is False:
        return False
    return firewall.on is True or (firewall.on is None and firewall.at_boot is True)


def _problem(firewall: Firewall) -> str | None:
    if _good(firewall):
        return None
    if firewall.how.startswith("running, but its rules failed"):
        return "failed"
    if firewall.blocks is False:
        # Lets everything in and is not even on: not a firewall anyone set up (Debian's
        # /etc/nftables.conf as installed), so no firewall at all.
        if firewall.on is not True and firewall.at_boot is not True:
            return "none"
        return "open"
    if firewall.on is False:
        return "off"
    if firewall.at_boot is False and firewall.blocks is True:
        return "not at boot"
    return None  # not known


def _passed(firewall: Firewall) -> str:
    name = _capital(printable(firewall.name))
    return f"{name} refuses incoming connections you have not allowed"


def _capital(text: str) -> str:
    """A sentence's first word: "The kernel's rules", but "ufw" and "firewalld" as written."""
    return "T" + text[1:] if text.startswith("the ") else text
