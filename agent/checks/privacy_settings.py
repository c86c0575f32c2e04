from __future__ import annotations

import re
import sqlite3
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from agent.checks.base import Check, CheckContext, CheckParams, Every
from agent.errors import CheckSkipped
from agent.models import Finding, Severity
from agent.probes import Setting, SettingRead, SettingValue, desktop, read_settings
from agent.probes._sqlite import StoreUnreadable
from agent.probes.browsers import Unreadable, reason_of
from agent.settings import STRICT, Doc, Limit, Rule, settings
from agent.text import printable
from agent.wording import WHAT_TO_DO, clip

# A policy's settings are read by running programs (gsettings) and reading files: the count is
# bounded so that a long list cannot tie the machine up, and refused in one sentence.
MAX_SETTINGS = 256
MAX_SOURCES = 12
DesktopKind = Literal["gnome", "cinnamon", "mate", "kde", "xfce", "other", "macos", "windows"]
BrowserKind = Literal[
    "Firefox", "LibreWolf", "Waterfox", "Floorp", "Zen", "Chromium", "Chrome", "Brave", "Edge",
    "Vivaldi",
]  # fmt: skip
# The browser families whose preferences a source can name, by store.
BROWSER_STORES = {"firefox": "firefox", "chromium": "chromium", "chromium_state": "chromium"}
Scalar = Annotated[bool, STRICT] | int | float | str
# Where each store's settings apply, unless a read names its desktops.
_STORE_DESKTOPS: dict[str, tuple[str, ...]] = {
    "gsettings": ("gnome",),
    "kconfig": ("kde",),
    "xfconf": ("xfce",),
    "defaults": ("macos",),
    "registry": ("windows",),
}
# What each store's names may look like: the names are handed to a tool as arguments.
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
# A browser preference: about:config's names; Chromium's dotted paths (16 parts at most).
_FIREFOX_PREF = r"(?=.{1,200}\Z)[A-Za-z0-9_@{}-][A-Za-z0-9._@{}:+-]*"
_CHROMIUM_PREF = r"(?=.{1,200}\Z)[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+){0,15}"
_FORMATS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "gsettings": (
        ("gsettings", _NAME, "a GSettings schema name"),
        ("key", r"[a-z0-9][a-z0-9-]*", "a GSettings key"),
    ),
    "kconfig": (("kconfig", _NAME, "a KDE config file name"),),
    "xfconf": (
        ("xfconf", _NAME, "an xfconf channel name"),
        ("property", r"(/[A-Za-z0-9._-]+)+", "an xfconf property (/a/b)"),
    ),
    "defaults": (("defaults", r"[^-\s][^\0]*", "a defaults domain"),),
    "registry": (
        (
            "registry",
            r"(HKCU|HKLM|HKU|HKCR|HKCC)\\[^\0*?]+",
            "a registry key (HKCU\\... or HKLM\\...)",
        ),
        ("name", r"[^\0*?]+", "a registry value name"),
    ),
    "firefox": (("firefox", _FIREFOX_PREF, "a Firefox preference name (about:config)"),),
    "chromium": (("chromium", _CHROMIUM_PREF, "a Chromium preference (dotted.path)"),),
    "chromium_state": (
        ("chromium_state", _CHROMIUM_PREF, "a Chromium Local State preference (dotted.path)"),
    ),
}
# The fields that say where a setting lives, by store.
_LOCATION = {
    "gsettings": ("key",),
    "kconfig": ("group", "key"),
    "xfconf": ("property",),
    "defaults": ("key",),
    "registry": ("name",),
    "firefox": (),
    "chromium": (),
    "chromium_state": (),
}


@settings
class SettingSource:
    """One place a setting is kept, and the value it should have there."""

    gsettings: Annotated[str | None, Doc("A GSettings schema.")] = None
    kconfig: Annotated[str | None, Doc("A KDE config file name.")] = None
    xfconf: Annotated[str | None, Doc("An Xfce xfconf channel.")] = None
    defaults: Annotated[str | None, Doc("A macOS defaults domain.")] = None
    registry: Annotated[str | None, Doc("A Windows registry key.")] = None
    key: Annotated[str | None, Doc("The key (GSettings, KDE, defaults).")] = None
    group: Annotated[str | None, Doc("The KDE group; nested: Outer][Inner.")] = None
    property: Annotated[str | None, Doc("The xfconf property, /a/b.")] = None
    name: Annotated[str | None, Doc("The registry value's name.")] = None
    firefox: Annotated[str | None, Doc("A Firefox preference, as about:config names it.")] = None
    chromium: Annotated[
        str | None, Doc("A Chromium-family profile preference: profile.block_third_party_cookies.")
    ] = None
    chromium_state: Annotated[
        str | None, Doc("A Chromium-family Local State preference (the whole browser's).")
    ] = None
    browsers: Annotated[
        list[BrowserKind] | None,
        Doc("The browsers this applies to; by default every one of its family."),
    ] = None
    unless: Annotated[
        Literal["primary_password"] | None,
        Doc("primary_password: not asked of a Firefox profile with a Primary Password."),
    ] = None
    current_host: Annotated[bool, STRICT, Doc("defaults -currentHost.")] = False
    desktops: Annotated[
        list[DesktopKind] | None,
        Doc("The desktops this applies to; by default the store's own."),
    ] = None
    default: Annotated[
        Scalar | None, Doc("The value the program assumes when the setting is not set.")
    ] = None
    unit: Annotated[Annotated[str, Limit(max_length=20)] | None, Doc("Of a number: days, ...")] = (
        None
    )
    words: Annotated[dict[str, str], Doc('Values said in words, e.g. {"-1": "forever"}.')] = field(
        default_factory=dict
    )
    equals: Scalar | None = None
    one_of: list[Scalar] | None = None
    at_least: float | None = None
    at_most: float | None = None

    def __post_init__(self) -> None:
        # Run by pydantic after the fields are read (a policy's entry), and by the
        # constructor (the built-in entries).
        stores = [s for s in _LOCATION if getattr(self, s) is not None]
        if len(stores) != 1:
            raise ValueError(f"name exactly one of {', '.join(_LOCATION)}")
        browser = stores[0] in BROWSER_STORES
        if browser and self.desktops is not None:
            raise ValueError(f"a {stores[0]} preference takes browsers, not desktops")
        if not browser and self.browsers is not None:
            raise ValueError(f"{stores[0]} takes desktops, not browsers")
        if self.unless is not None and stores[0] != "firefox":
            raise ValueError("unless: primary_password is for a firefox preference")
        missing = [f for f in _LOCATION[stores[0]] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"{stores[0]} needs {' and '.join(missing)}")
        for name, pattern, what in _FORMATS[stores[0]]:
            text = str(getattr(self, name))
            if not re.fullmatch(pattern, text):
                raise ValueError(f"{name} {text!r} is not {what}")
        exact = self.equals is not None or self.one_of is not None
        ranged = self.at_least is not None or self.at_most is not None
        if not exact and not ranged:
            raise ValueError("say the expected value: equals, one_of, at_least or at_most")
        if exact and (ranged or (self.equals is not None and self.one_of is not None)):
            raise ValueError("equals and one_of each stand alone; at_least and at_most go together")

    def store(self) -> str:
        return next(s for s in _LOCATION if getattr(self, s) is not None)

    def where(self) -> Setting:
        store = self.store()
        path = (str(getattr(self, store)), *(str(getattr(self, f)) for f in _LOCATION[store]))
        return Setting(store, path, self.current_host)

    def applies_to(self, kind: str) -> bool:
        store = self.store()
        return store not in BROWSER_STORES and kind in (self.desktops or _STORE_DESKTOPS[store])

    def applies_to_browser(self, family: str, browser: str) -> bool:
        return BROWSER_STORES.get(self.store()) == family and (
            self.browsers is None or browser in self.browsers
        )

    def label(self) -> str:
        """Where it is kept, with the browser family for a browser's preference."""
        family = {"firefox": "Firefox", "chromium": "Chromium"}.get(
            BROWSER_STORES.get(self.store(), "")
        )
        return f"{family} {self.shown()}" if family else self.shown()

    def shown(self) -> str:
        if self.chromium_state is not None:
            return f"Local State {self.chromium_state}"
        return " ".join(self.where().path)

    def said(self, value: Any) -> str:
        """A value as the person reads it: in words, with its unit."""
        text = _text(value)
        if value == "":
            return "empty"
        if text in self.words:
            return self.words[text]
        return f"{text} {self.unit}" if self.unit and isinstance(value, int | float) else text

    def expected(self) -> str:
        if self.equals is not None:
            return self.said(self.equals)
        if self.one_of is not None:
            return "one of " + ", ".join(self.said(v) for v in self.one_of)
        if self.at_least is not None and self.at_least == self.at_most:
            return self.said(self.at_least)
        unit = f" {self.unit}" if self.unit else ""
        if self.at_least is not None and self.at_most is not None:
            return f"between {_text(self.at_least)} and {_text(self.at_most)}{unit}"
        if self.at_least is not None:
            return f"at least {_text(self.at_least)}{unit}"
        return f"at most {_text(self.at_most or 0)}{unit}"

    def found(self, value: SettingValue, *, expected: bool = True) -> str:
        """What is wrong, without quoting text: a text value can be anything, a password too."""
        if not self.shows(value):
            return f"{self.shown()} is not {self.expected()}"
        said = f"{self.shown()} is {self.said(value)}"
        return f"{said}, expected {self.expected()}" if expected else said

    def shows(self, value: SettingValue) -> bool:
        """Whether `value` may be shown, stored or reported: only a number the rule compares
        as a number, or a boolean it compares as a boolean. Text, even text that reads as a
        number, and lists are never quoted: a policy can point a rule at any key, a
        password's too."""
        if isinstance(value, str | tuple):
            return False
        wanted = [self.equals] if self.equals is not None else list(self.one_of or ())
        # true/false, or the 0/1 that macOS defaults and the registry keep a flag as.
        if _boolean(value) is not None and any(isinstance(w, bool) for w in wanted):
            return True
        if isinstance(value, bool):
            return False
        ranged = self.at_least is not None or self.at_most is not None
        return ranged or any(isinstance(w, int | float) and not isinstance(w, bool) for w in wanted)

    def holds(self, value: SettingValue) -> bool | None:
        """Whether `value` is what is asked for; None when it cannot be compared."""
        if self.equals is not None or self.one_of is not None:
            wanted = [self.equals] if self.equals is not None else list(self.one_of or ())
            return any(_same(value, w) for w in wanted)
        number = _number(value)
        if number is None:
            return None
        return (self.at_least is None or number >= self.at_least) and (
            self.at_most is None or number <= self.at_most
        )


def _few_sources(value: Any) -> Any:
    return _at_most(value, MAX_SOURCES, "places to read one setting from")


@settings
class PrivacySetting:
    name: Annotated[
        Annotated[str, Limit(max_length=60)] | None, Doc("What the setting is, in a few words.")
    ] = None
    title: Annotated[str, Limit(max_length=100), Doc("The problem, in a few words.")]
    why: Annotated[str, Limit(max_length=500), Doc("Why it matters, told to the person.")]
    advice: Annotated[
        str | dict[DesktopKind | Literal["firefox", "chromium", "default"], str],
        Doc(
            "How to change it; or one text per desktop (gnome, kde, macos, windows, ..., "
            "default), or per browser family (firefox, chromium)."
        ),
    ]
    match: Annotated[
        Literal["all", "any", "first"],
        Doc(
            "all: every applicable source must hold; any: one is enough; first: the first "
            "source that has a value decides (a policy copy before the user's own)."
        ),
    ] = "all"
    read: Annotated[
        list[SettingSource],
        Rule(_few_sources, before=True),
        Limit(min_length=1, max_length=MAX_SOURCES),
    ]

    def __post_init__(self) -> None:
        kinds = {s.store() in BROWSER_STORES for s in self.read}
        if len(kinds) > 1:
            raise ValueError(
                "a setting reads desktop settings or browser preferences, not both: "
                "make two settings"
            )

    def for_browsers(self) -> bool:
        return self.read[0].store() in BROWSER_STORES

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> PrivacySetting:
        """A built-in entry, written in this module as a policy would write it."""
        read = [SettingSource(**source) for source in entry["read"]]
        return cls(**{**entry, "read": read})

    def advice_for(self, kind: str) -> str:
        if isinstance(self.advice, str):
            return self.advice
        by_kind: dict[str, str] = {str(k): v for k, v in self.advice.items()}
        return by_kind.get(kind) or by_kind.get("default") or next(iter(by_kind.values()))


def _few_settings(value: Any) -> Any:
    # Before each entry is validated: 2,000 entries are refused without reading them.
    return _at_most(value, MAX_SETTINGS, "settings")


@settings
class PrivacySettingsParams(CheckParams):
    every: Every = timedelta(hours=1)
    settings: Annotated[
        dict[str, PrivacySetting],
        Rule(_few_settings, before=True),
        Limit(max_length=MAX_SETTINGS),
        Doc("More settings to check, or built-in ones replaced, by id."),
    ] = field(default_factory=dict)
    builtin: Annotated[bool, STRICT, Doc("Check the built-in settings (listed in docs).")] = True
    ignore: Annotated[
        list[str], Doc("Ids of settings not to check, e.g. location when you want it on.")
    ] = field(default_factory=list)

    def __post_init__(self) -> None:
        known = set(BUILTIN) | set(self.settings)
        unknown = [i for i in self.ignore if i not in known]
        if unknown:
            raise ValueError(
                f"ignore names {', '.join(unknown)}, which is no setting; known: "
                + ", ".join(sorted(known))
            )


class PrivacySettingsCheck(Check[PrivacySettingsParams]):
    """Review your privacy settings: share only what you choose to share.

    Desktops, operating systems and browsers come with settings that share more than many
    people expect: where you are, your messages on the lock screen for anyone passing by, a
    history of every file you opened, reports and statistics sent to the vendor, cookies that
    let advertisers follow you from site to site. The check reads the settings the policy
    lists (built-in ones for GNOME, Cinnamon, KDE Plasma, macOS, Windows, Firefox and the
    Chromium family, plus any an admin adds) and says which differ from what is asked, why it
    matters and where to change it. It reads only those settings.

    Browsers (Linux, for now) are judged per profile, on the value the browser itself uses:
    Firefox's prefs.js, then user.js, then the enterprise policies.json (which wins);
    Chromium's Preferences and Local State, then its managed policies in /etc (which win). A
    preference set nowhere has the browser's default. A Firefox profile never started (no
    prefs.js) is left out until it is. Saved addresses and cards are acceptable in a Firefox
    profile with a Primary Password; Chromium has none, so there they should be off.
    """

    id = "privacy_settings"
    topic = "privacy settings"
    title = "Privacy settings share only what you choose"
    severity = Severity.low
    rationale = "Default settings often share more than you would choose to."
    advice = "Review your privacy settings and turn off what you do not need."
    reads = (
        "only the settings the policy lists (GSettings keys, KDE and Xfce config files, macOS "
        "defaults, Windows registry values), and the names of the programs you run (to know "
        "the desktop)",
        "browsers' preferences: Firefox profiles' prefs.js and user.js, policies.json "
        "(/etc/firefox/policies, the install's distribution folder) and the install's default "
        "pref files; Chromium, Chrome, Brave, Edge and Vivaldi profiles' Preferences, Local "
        "State and managed policies in /etc; a Firefox key store's password-check entry when a "
        "rule asks whether a Primary Password is set",
    )
    keeps = (
        "which listed settings differ from the policy (and in which browser profile), and "
        "their current values when they are numbers or true/false the policy compares (text "
        "values are never kept or shown)"
    )
    alert = "A privacy setting shares more than it should"
    alert_many = "{n} privacy settings share more than they should"
    Params = PrivacySettingsParams

    @classmethod
    def explanation(cls) -> str:
        lines = [super().explanation(), "", "Built-in settings (id: where, what is asked):"]
        for setting_id, setting in builtin_settings().items():
            asked = "; ".join(f"{s.label()}: {s.expected()}" for s in setting.read)
            lines.append(f"- {setting_id}: {asked}{_MATCH_WORDS[setting.match]}")
        return "\n".join(lines)

    def run(self, ctx: CheckContext) -> list[Finding]:
        chosen = self.settings()
        on_desktop = {k: v for k, v in chosen.items() if not v.for_browsers()}
        in_browsers = {k: v for k, v in chosen.items() if v.for_browsers()}
        findings, profiles = self._browsers(ctx, in_browsers) if in_browsers else ([], 0)
        try:
            findings += self._desktop(ctx, on_desktop)
        except CheckSkipped as skipped:
            if not profiles and not self.notes:
                raise
            # The browsers were looked at (a profile judged, or one that could not be read,
            # whose note a skip would hide): what kept the desktop's settings out is a note.
            self.notes.insert(0, f"{str(skipped).rstrip('.')}.")
        return findings

    def _desktop(self, ctx: CheckContext, chosen: dict[str, PrivacySetting]) -> list[Finding]:
        found = desktop(ctx.env)
        if found is None:
            raise CheckSkipped("this computer has no graphical desktop, so no desktop settings")
        wanted = {
            setting_id: [s for s in setting.read if s.applies_to(found.kind)]
            for setting_id, setting in chosen.items()
        }
        wanted = {k: v for k, v in wanted.items() if v}
        if not wanted:
            raise CheckSkipped(f"none of the settings in the policy apply to {found.name}")
        values = read_settings([s.where() for v in wanted.values() for s in v], ctx.env)
        findings = []
        unknown: list[tuple[str, str]] = []  # (setting, why it could not be read)
        for setting_id, sources in wanted.items():
            setting = chosen[setting_id]
            verdict, decided, why_unknown = _judge(setting, sources, values)
            if verdict is None:
                unknown.append((setting.name or setting_id, why_unknown.rstrip(".")))
            elif verdict is False and decided:
                advice = setting.advice_for(found.kind)
                findings.append(
                    self._failed(
                        ctx, setting_id, setting, decided, subject=setting.title, advice=advice
                    )
                )
        if len(unknown) == len(wanted):
            raise CheckSkipped(f"none of the settings could be read: {unknown[0][1]}")
        for name, why in unknown:
            self.note(f"{name}: could not be read ({why}).")
        return findings

    def _failed(
        self,
        ctx: CheckContext,
        setting_id: str,
        setting: PrivacySetting,
        decided: list[tuple[SettingSource, SettingValue]],
        *,
        subject: str,
        advice: str,
        browser: str = "",
    ) -> Finding:
        either = len(decided) > 1 and setting.match == "any"
        said = "; ".join(s.found(v, expected=not either) for s, v in decided)
        if either:
            said += "; any one of these would do: " + ", ".join(
                f"{source.shown()} {source.expected()}" for source, _ in decided
            )
        numbers = [v for source, v in decided if source.shows(v)]
        where = f"{browser} ({subject}): " if browser else ""
        return self.finding(
            ctx,
            subject,
            setting_id,
            f"{where}{setting.title}: {setting.why} ({said}).",
            advice,
            notice=_notice(f"{browser}: {setting.title}" if browser else setting.title, advice),
            setting=setting_id,
            where=", ".join(source.shown() for source, _ in decided),
            **({"browser": browser} if browser else {}),
            **({"value": ", ".join(_text(v) for v in numbers)} if numbers else {}),
        )

    def _browsers(
        self, ctx: CheckContext, chosen: dict[str, PrivacySetting]
    ) -> tuple[list[Finding], int]:
        """The findings of each browser profile, and how many profiles were judged."""
        # Imported here: every command that reads a policy imports this check, and only a
        # run that reads browsers needs their preference readers.
        from agent.probes.browser_prefs import chromium_prefs, firefox_prefs  # noqa: PLC0415

        if not sys.platform.startswith("linux"):
            return [], 0  # the profiles' folders are known on Linux only, for now
        families = {BROWSER_STORES[s.store()] for setting in chosen.values() for s in setting.read}
        home = ctx.paths.home
        profiles: list[_Profile] = []
        problems: list[Unreadable] = []
        if "firefox" in families:
            foxes, fox_problems = firefox_prefs(home)
            problems += fox_problems
            for fox in foxes:
                for name, count in fox.skipped:
                    shown = ctx.paths.display(fox.path / name)
                    lines = "line" if count == 1 else "lines"
                    self.note(
                        f"{fox.browser}: {count} {lines} of {shown} could not be read and "
                        f"{'was' if count == 1 else 'were'} skipped."
                    )
                # Never started: nothing of it is used yet; its first start is judged.
                if fox.started and fox.complete:
                    profiles.append(_Profile("firefox", fox.browser, fox.path, fox.value))
        if "chromium" in families:
            chromes, chrome_problems = chromium_prefs(home)
            problems += chrome_problems
            profiles += [
                _Profile("chromium", c.browser, c.path, c.value, c.state_value) for c in chromes
            ]
        for problem in problems:
            shown = ctx.paths.display(problem.path)
            self.note(f"{problem.browser}: {shown} could not be read: {problem.reason}.")
        findings: list[Finding] = []
        for profile in profiles:
            findings += self._profile(ctx, chosen, profile)
        return findings, len(profiles)

    def _profile(
        self, ctx: CheckContext, chosen: dict[str, PrivacySetting], profile: _Profile
    ) -> list[Finding]:
        shown = ctx.paths.display(profile.path)
        findings = []
        for setting_id, setting in chosen.items():
            sources = [
                s for s in setting.read if s.applies_to_browser(profile.family, profile.browser)
            ]
            if not sources:
                continue
            values = {source.where(): profile.read(source) for source in sources}
            verdict, decided, why_unknown = _judge(setting, sources, values)
            if verdict is False and any(s.unless for s, _ in decided):
                protected = self._primary_password(ctx, profile)
                if protected is None:
                    verdict = None
                    why_unknown = "whether a Primary Password is set cannot be told"
                elif protected:
                    decided = [(s, v) for s, v in decided if not s.unless]
                    verdict = None if decided else True
            if verdict is None:
                name = setting.name or setting_id
                self.note(
                    f"{profile.browser} ({shown}): {name} could not be checked "
                    f"({why_unknown.rstrip('.')})."
                )
            elif verdict is False and decided:
                advice = setting.advice_for(profile.family)
                findings.append(
                    self._failed(
                        ctx,
                        setting_id,
                        setting,
                        decided,
                        subject=shown,
                        advice=advice,
                        browser=profile.browser,
                    )
                )
        return findings

    def _primary_password(self, ctx: CheckContext, profile: _Profile) -> bool | None:
        """Whether the Firefox profile has a Primary Password; None when it cannot be told."""
        from agent.checks.browser_passwords import primary_password  # noqa: PLC0415
        from agent.probes.browser_prefs import present  # noqa: PLC0415

        try:
            return primary_password(ctx, profile.path).protected
        except StoreUnreadable as err:
            if not any(present(profile.path / name) for name in ("key4.db", "key3.db")):
                return False  # no key store yet: nothing can be locked
            self.note(
                f"{profile.browser}: {ctx.paths.display(profile.path)} key store could not "
                f"be read: {str(err).rstrip('.')}."
            )
        except (OSError, ValueError, sqlite3.Error) as err:
            self.note(
                f"{profile.browser}: {ctx.paths.display(profile.path)} key store could not "
                f"be read: {reason_of(err)}."
            )
        return None

    def settings(self) -> dict[str, PrivacySetting]:
        chosen = dict(builtin_settings()) if self.params.builtin else {}
        chosen.update(self.params.settings)
        return {k: v for k, v in chosen.items() if k not in self.params.ignore}


@dataclass(frozen=True)
class _Profile:
    """One browser profile as the rules see it: how to read a preference of it."""

    family: str  # "firefox" or "chromium"
    browser: str
    path: Path
    prefs: Callable[[str], tuple[SettingValue | None, str]]
    state: Callable[[str], tuple[SettingValue | None, str]] | None = None

    def read(self, source: SettingSource) -> SettingRead:
        name = source.firefox or source.chromium or source.chromium_state or ""
        lookup = self.state if source.chromium_state is not None and self.state else self.prefs
        value, _ = lookup(name)
        if value is None:
            return SettingRead(None, f"{source.shown()} is not set")
        return SettingRead(value)


def _notice(title: str, advice: str) -> str:
    """The setting's problem and where to change it: the settings path its advice starts with
    ("Settings > Notifications: ..."), or, for advice that names none, where to read it."""
    path = advice.split(":", 1)[0].strip() if ":" in advice else ""
    if " > " in path and len(path) <= 100:
        return f"{clip(title, 80)}. Change it in {path}."
    return f"{clip(title, 80)}. What to change: {WHAT_TO_DO}"


def _at_most(value: Any, most: int, what: str) -> Any:
    if isinstance(value, dict | list) and len(value) > most:
        raise ValueError(f"a policy may list at most {most} {what}, got {len(value)}")
    return value


def _judge(
    setting: PrivacySetting,
    sources: list[SettingSource],
    values: Mapping[Setting, SettingRead],
) -> tuple[bool | None, list[tuple[SettingSource, SettingValue]], str]:
    """Whether the setting holds (None: cannot tell), the sources and values that decided
    a failure, and why it could not be told."""
    failed: list[tuple[SettingSource, SettingValue]] = []
    passed = 0
    unknown = ""
    for source in sources:
        read = values.get(source.where(), SettingRead(None, "not read"))
        value = read.value if read.value is not None else source.default
        holds = None if value is None else source.holds(value)
        if value is None:
            unknown = unknown or (read.problem or f"{source.shown()} is not set")
        elif holds is None:
            # Never the value itself: it is not a number, so it may be any text.
            unknown = unknown or f"{source.shown()} is not a number"
        elif setting.match == "first":
            return holds, [] if holds else [(source, value)], unknown
        elif holds:
            passed += 1
        else:
            failed.append((source, value))
    if setting.match == "any":
        if passed:
            return True, [], unknown
        return (False, failed, unknown) if len(failed) == len(sources) else (None, [], unknown)
    if setting.match == "all":
        if failed:
            return False, failed, unknown
        if passed == len(sources):
            return True, [], unknown
    return None, [], unknown


def _same(value: SettingValue, wanted: Scalar) -> bool:
    if isinstance(wanted, bool):
        return _boolean(value) is wanted
    if isinstance(wanted, int | float):
        return _number(value) == wanted
    return isinstance(value, str) and value == wanted


def _boolean(value: SettingValue) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return bool(value) if value in (0, 1) else None
    if isinstance(value, str):
        word = value.strip().lower()
        if word in ("true", "yes", "on", "1"):
            return True
        if word in ("false", "no", "off", "0"):
            return False
    return None


def _number(value: SettingValue) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(int(value.strip(), 0)) if value.strip().startswith("0x") else float(value)
        except ValueError:
            return None
    return None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    shown = printable(str(value))
    return shown if len(shown) <= 60 else shown[:57] + "..."


# The built-in list: what "review your privacy settings" means on each desktop.
_PRIVACY = "org.gnome.desktop.privacy"
_CINNAMON = "org.cinnamon.desktop.privacy"
_KDE_SCORING = "Plugin-org.kde.ActivityManager.Resources.Scoring"
_LOCATIOND = "/var/db/locationd/Library/Preferences/ByHost/com.apple.locationd"
_CONSENT = "Software\\Microsoft\\Windows\\CurrentVersion\\CapabilityAccessManager\\ConsentStore"
_TELEMETRY_WORDS = {"0": "security only", "1": "required", "2": "enhanced", "3": "optional"}
_HKCU_CV = "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion"


def _gs(schema: str, key: str, **expect: Any) -> dict[str, Any]:
    return {"gsettings": schema, "key": key, **expect}


def _reg(key: str, name: str, **expect: Any) -> dict[str, Any]:
    return {"registry": key, "name": name, **expect}


_BUILTIN: dict[str, dict[str, Any]] = {
    "location": {
        "name": "Location services",
        "title": "Location services are on",
        "why": "apps can ask where you are, and some keep asking in the background",
        "advice": {
            "gnome": "Settings > Privacy (Privacy & Security in newer GNOME) > Location "
            "Services: off, and on again only while an app you trust needs it (gsettings set "
            "org.gnome.system.location enabled false). If you want it on, add location to "
            "ignore in your policy.",
            "macos": "System Settings > Privacy & Security > Location Services: off, or on "
            "only for the apps that need it. If you want it on, add location to ignore in "
            "your policy.",
            "windows": "Settings > Privacy & security > Location: Location services off, or "
            "on only for the apps that need it. If you want it on, add location to ignore in "
            "your policy.",
        },
        "match": "any",
        "read": [
            _gs("org.gnome.system.location", "enabled", equals=False),
            # Only root may read it: a Mac says so in a note instead of a verdict.
            {"defaults": _LOCATIOND, "key": "LocationServicesEnabled", "equals": False},
            # Off for the whole device, or off for this person's apps.
            _reg(f"HKLM\\{_CONSENT.replace('Software', 'SOFTWARE', 1)}\\location", "Value",
                 equals="Deny", default="Allow"),
            _reg(f"HKCU\\{_CONSENT}\\location", "Value", equals="Deny", default="Allow"),
        ],
    },
    "lock_screen_notifications": {
        "name": "Notifications on the lock screen",
        "title": "Notifications show on the lock screen",
        "why": "anyone passing your locked computer can read your messages",
        "advice": {
            "gnome": "Settings > Notifications: Lock Screen Notifications off (gsettings set "
            "org.gnome.desktop.notifications show-in-lock-screen false).",
            "macos": "System Settings > Notifications > Show previews: When Unlocked.",
            "windows": "Settings > System > Notifications: untick 'Show notifications on the "
            "lock screen'.",
        },
        "read": [
            _gs("org.gnome.desktop.notifications", "show-in-lock-screen", equals=False),
            {"defaults": "com.apple.ncprefs", "key": "content_visibility", "one_of": [1, 2],
             "default": 2, "words": {"1": "never", "2": "when unlocked", "3": "always"}},
            _reg(f"{_HKCU_CV}\\Notifications\\Settings",
                 "NOC_GLOBAL_SETTING_ALLOW_TOASTS_ABOVE_LOCK", equals=0, default=1),
        ],
    },
    "recent_files": {
        "name": "File history",
        "title": "Your file history is kept too long",
        "why": "the list of every file you opened shows anyone at your desk what you work on",
        "advice": {
            "gnome": "Settings > Privacy (Privacy & Security in newer GNOME) > File History & "
            "Trash: File History Duration 30 days or less, or File History off.",
            "cinnamon": "System Settings > Privacy: remember recently accessed files for 30 "
            "days or less, or not at all.",
            "kde": "System Settings > Activities > Privacy (Recent Files in newer Plasma): keep "
            "history for 1 month, or do not remember opened documents.",
        },
        "match": "any",
        "read": [
            _gs(_PRIVACY, "remember-recent-files", equals=False),
            _gs(_PRIVACY, "recent-files-max-age", at_least=0, at_most=30, unit="days",
                words={"-1": "forever", "0": "not kept"}),
            _gs(_CINNAMON, "remember-recent-files", equals=False, desktops=["cinnamon"]),
            _gs(_CINNAMON, "recent-files-max-age", at_least=0, at_most=30, unit="days",
                words={"-1": "forever", "0": "not kept"}, desktops=["cinnamon"]),
            # what-to-remember 2: no application; keep-history-for: months, 0 = forever.
            {"kconfig": "kactivitymanagerd-pluginsrc", "group": _KDE_SCORING,
             "key": "what-to-remember", "equals": 2, "default": 0,
             "words": {"0": "all applications", "1": "chosen applications",
                       "2": "no application"}},
            {"kconfig": "kactivitymanagerd-pluginsrc", "group": _KDE_SCORING,
             "key": "keep-history-for", "at_least": 1, "at_most": 1, "default": 0,
             "unit": "months", "words": {"0": "forever", "1": "1 month"}},
        ],
    },
    "problem_reporting": {
        "name": "Automatic problem reports",
        "title": "Problem reports are sent automatically",
        "why": "a crash report can carry what was on screen or in memory: your documents, "
        "addresses, parts of messages",
        "advice": {
            "gnome": "Settings > Privacy (Privacy & Security in newer GNOME) > Diagnostics: "
            "Automatic Problem Reporting off.",
            "macos": "System Settings > Privacy & Security > Analytics & Improvements: Share "
            "Mac Analytics off.",
        },
        "read": [
            _gs(_PRIVACY, "report-technical-problems", equals=False),
            {"defaults": "/Library/Application Support/CrashReporter/DiagnosticMessagesHistory",
             "key": "AutoSubmit", "equals": False},
        ],
    },
    "usage_statistics": {
        "name": "Usage statistics",
        "title": "Usage statistics are sent",
        "why": "which programs you use and when is sent to the vendor",
        "advice": {
            "gnome": "Settings > Privacy (Privacy & Security in newer GNOME) > Diagnostics: "
            "software usage statistics off.",
            "windows": "Settings > Privacy & security > Diagnostics & feedback: Send optional "
            "diagnostic data off.",
        },
        # Windows: the Group Policy copy, when set, decides over the Settings app's.
        "match": "first",
        "read": [
            _gs(_PRIVACY, "send-software-usage-stats", equals=False),
            _reg("HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\DataCollection",
                 "AllowTelemetry", at_most=1, words=_TELEMETRY_WORDS),
            _reg("HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies"
                 "\\DataCollection", "AllowTelemetry", at_most=1, words=_TELEMETRY_WORDS),
        ],
    },
    "advertising": {
        "name": "Personalised ads",
        "title": "Ads are personalised from what you do",
        "why": "an advertising identifier lets companies follow you from app to app",
        "advice": {
            "macos": "System Settings > Privacy & Security > Apple Advertising: Personalised "
            "Ads off.",
            "windows": "Settings > Privacy & security > General: 'Let apps show me "
            "personalized ads by using my advertising ID' off.",
        },
        "read": [
            {"defaults": "com.apple.AdLib", "key": "allowApplePersonalizedAdvertising",
             "equals": False},
            _reg(f"{_HKCU_CV}\\AdvertisingInfo", "Enabled", equals=0, default=1),
        ],
    },
    "tailored_experiences": {
        "name": "Tailored experiences",
        "title": "Tips and ads are tailored from your diagnostic data",
        "why": "Microsoft uses what your computer reports about you to pick what it shows you",
        "advice": "Settings > Privacy & security > Diagnostics & feedback > Tailored "
        "experiences: off.",
        "read": [
            _reg(f"{_HKCU_CV}\\Privacy", "TailoredExperiencesWithDiagnosticDataEnabled",
                 equals=0, default=1),
        ],
    },
    "old_files": {
        "name": "Removing old trash and temporary files",
        "title": "Old temporary and trashed files are kept",
        "why": "deleted files stay readable in the trash, and temporary copies of your "
        "documents pile up",
        "advice": {
            "gnome": "Settings > Privacy (Privacy & Security in newer GNOME) > File History & "
            "Trash: Automatically Delete Trash Content and Automatically Delete Temporary "
            "Files on.",
            "cinnamon": "System Settings > Privacy: remove old trash and temporary files "
            "automatically.",
        },
        "read": [
            _gs(_PRIVACY, "remove-old-trash-files", equals=True),
            _gs(_PRIVACY, "remove-old-temp-files", equals=True),
            _gs(_CINNAMON, "remove-old-trash-files", equals=True, desktops=["cinnamon"]),
            _gs(_CINNAMON, "remove-old-temp-files", equals=True, desktops=["cinnamon"]),
        ],
    },
    # Browsers: each profile is judged on its own preferences (agent.probes.browser_prefs).
    "browser_telemetry": {
        "name": "Browser usage data",
        "title": "The browser sends usage data and runs studies",
        "why": "how you use the browser is sent to its maker, and studies change it to "
        "measure you",
        "advice": {
            "firefox": "Settings > Privacy & Security > Firefox Data Collection and Use: "
            "untick 'Send technical and interaction data' and 'Install and run studies'.",
            "chromium": "Settings > Privacy and security (Chrome: You and Google > Sync and "
            "Google services): 'Help improve features and performance' off.",
        },
        "read": [
            {"firefox": "datareporting.healthreport.uploadEnabled", "equals": False},
            {"firefox": "app.shield.optoutstudies.enabled", "equals": False},
            {"chromium_state": "user_experience_metrics.reporting_enabled", "equals": False},
        ],
    },
    "browser_tracking": {
        "name": "Protection from trackers",
        "title": "Trackers' cookies can follow you from site to site",
        "why": "a third-party cookie lets an advertiser recognise you on every site that "
        "carries its code",
        "advice": {
            "firefox": "Settings > Privacy & Security > Enhanced Tracking Protection: Strict, "
            "or Standard with its Total Cookie Protection (Custom: Cookies 'Cross-site "
            "cookies' or 'All third-party cookies').",
            "chromium": "Settings > Privacy and security > Third-party cookies: Block "
            "third-party cookies.",
        },
        "match": "any",
        "read": [
            # A text preference: compared, never shown ("is not strict").
            {"firefox": "browser.contentblocking.category", "equals": "strict"},
            # 1 third-party blocked, 2 all blocked, 5 Total Cookie Protection (each site's
            # third-party cookies kept apart, trackers' blocked): Firefox's default since 103.
            {"firefox": "network.cookie.cookieBehavior", "one_of": [1, 2, 5],
             "words": {"0": "all cookies allowed", "1": "third-party cookies blocked",
                       "2": "all cookies blocked", "3": "unvisited sites' cookies blocked",
                       "4": "only known trackers' cookies blocked",
                       "5": "Total Cookie Protection"}},
            # Brave's Shields block them whatever these say.
            {"chromium": "profile.block_third_party_cookies", "equals": True,
             "browsers": ["Chromium", "Chrome", "Edge", "Vivaldi"]},
            {"chromium": "profile.cookie_controls_mode", "equals": 1,
             "browsers": ["Chromium", "Chrome", "Edge", "Vivaldi"],
             "words": {"0": "third-party cookies allowed", "1": "third-party cookies blocked",
                       "2": "blocked in Incognito only"}},
        ],
    },
    "browser_do_not_track": {
        "name": "Do Not Track and Global Privacy Control",
        "title": "The browser does not ask sites to leave your data alone",
        "why": "Global Privacy Control (or the older Do Not Track) tells every site you do not "
        "want your data sold or shared, and in some places the law makes sites obey",
        "advice": {
            "firefox": "Settings > Privacy & Security > Website Privacy Preferences: tick "
            "'Tell websites not to sell or share my data'.",
            "chromium": "Settings > Privacy and security > Third-party cookies: 'Send a \"Do "
            "Not Track\" request with your browsing traffic' on.",
        },
        "match": "any",
        "read": [
            {"firefox": "privacy.globalprivacycontrol.enabled", "equals": True},
            {"firefox": "privacy.donottrackheader.enabled", "equals": True},
            # Brave sends Global Privacy Control on its own.
            {"chromium": "enable_do_not_track", "equals": True,
             "browsers": ["Chromium", "Chrome", "Edge", "Vivaldi"]},
        ],
    },
    "browser_autofill": {
        "name": "Saved addresses and cards",
        "title": "Saved addresses and cards are not locked",
        "why": "the browser keeps what you type in address and card forms, and without a "
        "Primary Password any program you run, or anyone with a copy of the profile, can read "
        "them",
        "advice": {
            "firefox": "Settings > Privacy & Security > Forms and Autofill: untick 'Save and "
            "fill addresses' and 'Save and fill payment methods', or set a Primary Password "
            "(Settings > Privacy & Security > Passwords).",
            "chromium": "Settings > Autofill and passwords: Addresses and more, and Payment "
            "methods: 'Save and fill' off (Chromium has no Primary Password to lock them).",
        },
        "read": [
            {"firefox": "extensions.formautofill.addresses.enabled", "equals": False,
             "unless": "primary_password"},
            {"firefox": "extensions.formautofill.creditCards.enabled", "equals": False,
             "unless": "primary_password"},
            # No Primary Password on Linux: cards are locked with the key of the saved
            # passwords (browser_passwords), addresses are kept as they are.
            {"chromium": "autofill.profile_enabled", "equals": False},
            {"chromium": "autofill.credit_card_enabled", "equals": False},
        ],
    },
}  # fmt: skip
BUILTIN = tuple(_BUILTIN)
_MATCH_WORDS = {"all": "", "any": " (any one is enough)", "first": " (the first one set decides)"}


def builtin_settings() -> dict[str, PrivacySetting]:
    # Made when the check runs, not at import: nothing held between runs.
    return {k: PrivacySetting.of(v) for k, v in _BUILTIN.items()}
