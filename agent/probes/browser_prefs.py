"""The browsers' own preferences, read as each browser reads them when it starts. Facts only:
which value a preference has and where it came from; the check judges.

Firefox and its forks, per profile that `profiles.ini` names (agent.probes.browsers):
`prefs.js` (what Firefox saved), then `user.js` (applied over it at start-up), then the
enterprise policies, which win. Policies come from the first `policies.json` found, the
system's (/etc/firefox/policies) before the install's (`distribution/policies.json`), as
Firefox looks for them on Linux; their own names (DisableTelemetry, EnableTrackingProtection,
Cookies, ...) are mapped onto the preferences they decide, and `Preferences` entries keep
their Status: locked wins over everything, user replaces the profile's value at each start,
clear removes it, default only changes the default. The install's default pref files
(`defaults/pref/*.js`, `browser/defaults/preferences/*.js`, Debian's /etc/firefox-esr/*.js)
give defaults, or locks with `locked`. A preference set nowhere has Firefox's built-in
default, from the small table below (the ones the built-in rules use).

Chromium and the browsers built on it, per profile folder holding a `Preferences` file: that
JSON, the user data folder's `Local State` (settings of the whole browser: usage reports),
and the managed policies in /etc (a JSON object per file, policy name to value), which win
over the profile where a table below says which preference a policy decides; recommended
policies only change the default.

Every file is read whole with a size limit, regular files only (a FIFO or a device is
refused, a symbolic link loop is a reason), and a statement of prefs.js that cannot be read
is skipped and counted: the file's other preferences still count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from agent.files import json_value, read_small_file
from agent.probes.browsers import (
    Unreadable,
    chromium_user_data,
    firefox_profile_folders,
    reason_of,
)

PrefValue = bool | int | float | str
T = TypeVar("T")

MAX_PREFS_FILE = 8 * 1024 * 1024  # a long-used prefs.js is a few hundred kilobytes
MAX_JSON_FILE = 16 * 1024 * 1024  # Chromium's Preferences grows with extensions
MAX_POLICY_FILES = 64  # per policy folder
MAX_DEFAULT_FILES = 32  # per defaults folder
MAX_PATH_DEPTH = 16  # parts of a Chromium preference's dotted path

# Where Firefox's forks look for policies and default pref files, relative to the root:
# (system policies first, then each install's distribution folder).
FIREFOX_POLICY_FILES: dict[str, tuple[str, ...]] = {
    "Firefox": (
        "etc/firefox/policies/policies.json",
        "usr/lib/firefox-esr/distribution/policies.json",
        "usr/lib/firefox/distribution/policies.json",
        "usr/lib64/firefox/distribution/policies.json",
        "opt/firefox/distribution/policies.json",
    ),
    "LibreWolf": (
        "etc/librewolf/policies/policies.json",
        "usr/lib/librewolf/distribution/policies.json",
    ),
}
FIREFOX_DEFAULT_FOLDERS: dict[str, tuple[str, ...]] = {
    "Firefox": (
        "usr/lib/firefox-esr/defaults/pref",
        "usr/lib/firefox-esr/browser/defaults/preferences",
        "etc/firefox-esr",  # Debian's firefox-esr: browser/defaults/syspref points here
        "usr/lib/firefox/defaults/pref",
        "usr/lib/firefox/browser/defaults/preferences",
        "etc/firefox",  # Ubuntu's syspref.js
    ),
}
CHROMIUM_POLICY_FOLDERS: dict[str, str] = {
    "Chromium": "etc/chromium/policies",
    "Chrome": "etc/opt/chrome/policies",
    "Brave": "etc/brave/policies",
    "Edge": "etc/opt/edge/policies",
    "Vivaldi": "etc/opt/vivaldi/policies",
}

# Firefox's built-in defaults of the preferences the built-in rules read, as the release
# builds ship them (browser/app/profile/firefox.js and modules/libpref/init/StaticPrefList.yaml
# in mozilla-central, Firefox 128-140).
FIREFOX_DEFAULTS: dict[str, PrefValue] = {
    # firefox.js, on in Mozilla's official builds (the "Allow Firefox to send technical and
    # interaction data" box); Debian's firefox-esr turns it off in /etc/firefox-esr.
    "datareporting.healthreport.uploadEnabled": True,
    "app.shield.optoutstudies.enabled": True,  # firefox.js: studies allowed
    "browser.contentblocking.category": "standard",  # firefox.js
    # firefox.js since Firefox 103: 5, "Total Cookie Protection" (third-party cookies kept
    # apart per site, trackers' blocked).
    "network.cookie.cookieBehavior": 5,
    "privacy.donottrackheader.enabled": False,  # StaticPrefList.yaml
    "privacy.globalprivacycontrol.enabled": False,  # StaticPrefList.yaml (Firefox 120+)
    # firefox.js (formautofill): both on where Firefox offers them.
    "extensions.formautofill.addresses.enabled": True,
    "extensions.formautofill.creditCards.enabled": True,
}
# Chromium's defaults (the RegisterProfilePrefs / RegisterPrefs calls of each component).
CHROMIUM_DEFAULTS: dict[str, PrefValue] = {
    "enable_do_not_track": False,  # chrome/browser/net/profile_network_context_service
    "profile.block_third_party_cookies": False,  # components/content_settings
    # components/content_settings: kIncognitoOnly, third-party cookies blocked only in
    # Incognito windows (0 off, 1 blocked everywhere, 2 Incognito only).
    "profile.cookie_controls_mode": 2,
    "autofill.profile_enabled": True,  # components/autofill
    "autofill.credit_card_enabled": True,  # components/autofill
}
CHROMIUM_STATE_DEFAULTS: dict[str, PrefValue] = {
    # components/metrics: reports only after the person agreed (Chrome's first-run box).
    "user_experience_metrics.reporting_enabled": False,
}

# Which preference each Chromium policy decides (Chromium's policy templates and its
# configuration_policy_handler_list_factory.cc), with the value it gives it.
CHROMIUM_POLICY_PREFS: dict[str, tuple[tuple[str, Any], ...]] = {
    "BlockThirdPartyCookies": (
        ("profile.block_third_party_cookies", None),
        # CookieSettingsPolicyHandler: true -> 1 (block third-party), false -> 0 (off).
        ("profile.cookie_controls_mode", {True: 1, False: 0}),
    ),
    "AutofillAddressEnabled": (("autofill.profile_enabled", None),),
    "AutofillCreditCardEnabled": (("autofill.credit_card_enabled", None),),
    "PasswordManagerEnabled": (("credentials_enable_service", None),),
    "SearchSuggestEnabled": (("search.suggest_enabled", None),),
    "SafeBrowsingExtendedReportingEnabled": (("safebrowsing.scout_reporting_enabled", None),),
    "UrlKeyedAnonymizedDataCollectionEnabled": (
        ("url_keyed_anonymized_data_collection.enabled", None),
    ),
}
CHROMIUM_POLICY_STATE: dict[str, tuple[tuple[str, Any], ...]] = {
    "MetricsReportingEnabled": (("user_experience_metrics.reporting_enabled", None),),
}

# Firefox policies (policies.json's own names) and the preferences they decide, locked
# (Policies.sys.mjs: setAndLockPref), when the policy's value is the key.
_FIREFOX_POLICY_LOCKS: dict[str, dict[Any, tuple[tuple[str, PrefValue], ...]]] = {
    "DisableTelemetry": {
        True: (
            ("datareporting.healthreport.uploadEnabled", False),
            ("datareporting.policy.dataSubmissionEnabled", False),
            ("toolkit.telemetry.archive.enabled", False),
        )
    },
    # Studies are refused as a feature ("Shield"); the preference is what the person sees.
    "DisableFirefoxStudies": {True: (("app.shield.optoutstudies.enabled", False),)},
    "AutofillAddressEnabled": {
        v: (("extensions.formautofill.addresses.enabled", v),) for v in (True, False)
    },
    "AutofillCreditCardEnabled": {
        v: (("extensions.formautofill.creditCards.enabled", v),) for v in (True, False)
    },
}
_COOKIE_BEHAVIORS = {
    "accept": 0,
    "reject-foreign": 1,
    "reject": 2,
    "limit-foreign": 3,
    "reject-tracker": 4,
    "reject-tracker-and-partition-foreign": 5,
}

# One statement of a prefs file, or what may stand between statements. Learned from
# Firefox's parser (modules/libpref/parser): pref, user_pref and sticky_pref; strings in
# either quote with backslash escapes; whole numbers; true and false; `locked` and `sticky`
# after the value; //, # and /* */ comments. What it refuses is skipped to the line's end.
_STRING = r""""(?:[^"\\\n]|\\[^\n])*"|'(?:[^'\\\n]|\\[^\n])*'"""
_PREFS_STATEMENT = re.compile(
    rf"""
    (?P<blank>\s+|//[^\n]*|\#[^\n]*|/\*.*?\*/)
    |(?P<kind>user_pref|sticky_pref|pref)\s*\(\s*(?P<name>{_STRING})\s*,\s*
     (?P<value>true|false|[+-]?[0-9]+|{_STRING})\s*
     (?P<attributes>(?:,\s*(?:locked|sticky)\s*)*)\)\s*;
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPE = re.compile(r"\\(x[0-9A-Fa-f]{2}|u[0-9A-Fa-f]{4}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "n": "\n", "r": "\r"}
_INT32 = range(-(2**31), 2**31)


@dataclass(frozen=True)
class PrefsFile:
    """What one prefs file sets: user values (user_pref), defaults (pref, sticky_pref) and
    which of them are locked; `skipped`: statements that could not be read."""

    user: dict[str, PrefValue] = field(default_factory=dict)
    defaults: dict[str, PrefValue] = field(default_factory=dict)
    locked: frozenset[str] = frozenset()
    skipped: int = 0


def parse_prefs(data: bytes) -> PrefsFile:
    """The statements of a prefs.js, user.js or default pref file; ValueError when it is not
    text at all."""
    if b"\0" in data:
        raise ValueError("it is not a text file")
    text = data.decode("utf-8", "replace")
    user: dict[str, PrefValue] = {}
    defaults: dict[str, PrefValue] = {}
    locked: set[str] = set()
    skipped = 0
    position = 0
    while position < len(text):
        match = _PREFS_STATEMENT.match(text, position)
        if match is None:
            skipped += 1
            end = text.find("\n", position)
            position = len(text) if end < 0 else end + 1
            continue
        position = match.end()
        if match["blank"] is not None:
            continue
        try:
            name = _unquote(match["name"])
            value = _pref_value(match["value"])
        except ValueError:
            skipped += 1
            continue
        if match["kind"] == "user_pref":
            user[name] = value
        else:
            defaults[name] = value
            if "locked" in match["attributes"]:
                locked.add(name)
    return PrefsFile(user, defaults, frozenset(locked), skipped)


def _pref_value(literal: str) -> PrefValue:
    if literal in ("true", "false"):
        return literal == "true"
    if literal[0] in "\"'":
        return _unquote(literal)
    number = int(literal)
    if number not in _INT32:
        # Firefox keeps whole numbers in 32 bits and refuses a larger one.
        raise ValueError("a number too large for a preference")
    return number


def _unquote(token: str) -> str:
    def escape(match: re.Match[str]) -> str:
        code = match[1]
        if code[0] in "xu" and len(code) > 1:
            return chr(int(code[1:], 16))
        if code in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[code]
        raise ValueError("an escape Firefox does not know")

    text = _ESCAPE.sub(escape, token[1:-1])
    # \uD83D\uDE00: two halves of one character, joined as Firefox joins them.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


# --- Firefox -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FirefoxPolicy:
    """What the enterprise policies and the install's default files say about preferences,
    for one browser (all its profiles)."""

    locked: dict[str, PrefValue] = field(default_factory=dict)
    user: dict[str, PrefValue] = field(default_factory=dict)  # set at each start-up
    cleared: frozenset[str] = frozenset()  # the profile's value removed at each start-up
    defaults: dict[str, PrefValue] = field(default_factory=dict)
    files: tuple[Path, ...] = ()  # the policies.json and default files that were read


@dataclass(frozen=True)
class FirefoxPrefs:
    browser: str
    path: Path  # the profile folder
    started: bool  # prefs.js exists: Firefox has run with this profile
    complete: bool  # False: prefs.js is there but could not be read (a problem says why)
    saved: dict[str, PrefValue]  # prefs.js
    user_js: dict[str, PrefValue]  # user.js, applied over prefs.js at start-up
    policy: FirefoxPolicy
    skipped: tuple[tuple[str, int], ...] = ()  # (file name, statements skipped)

    def value(self, name: str) -> tuple[PrefValue | None, str]:
        """The value Firefox uses, and where it comes from (a few words); None when it is
        set nowhere and its default is not known here."""
        policy = self.policy
        if name in policy.locked:
            return policy.locked[name], "locked by policy"
        if name in policy.user:
            return policy.user[name], "set by policy"
        if name not in policy.cleared:
            if name in self.user_js:
                return self.user_js[name], "user.js"
            if name in self.saved:
                return self.saved[name], "prefs.js"
        if name in policy.defaults:
            return policy.defaults[name], "default set by the system"
        if name in FIREFOX_DEFAULTS:
            return FIREFOX_DEFAULTS[name], "Firefox's default"
        return None, "not set"


def firefox_policy(browser: str, root: Path, problems: list[Unreadable]) -> FirefoxPolicy:
    locked: dict[str, PrefValue] = {}
    defaults: dict[str, PrefValue] = {}
    files: list[Path] = []
    for folder in FIREFOX_DEFAULT_FOLDERS.get(browser, ()):
        for path in _files_in(root / folder, ".js", MAX_DEFAULT_FILES, browser, problems):
            read = _read_prefs(browser, path, problems)
            if read is None:
                continue
            files.append(path)
            for name, value in {**read.defaults, **read.user}.items():
                defaults.setdefault(name, value)
                if name in read.locked:
                    locked.setdefault(name, value)
    user: dict[str, PrefValue] = {}
    cleared: set[str] = set()
    for relative in FIREFOX_POLICY_FILES.get(browser, ()):
        path = root / relative
        if not present(path):
            continue
        # Firefox reads the first file it finds, good or bad.
        data = _read(browser, path, problems, MAX_JSON_FILE, json_object)
        if data is None:
            break
        files.append(path)
        policies = data.get("policies")
        if isinstance(policies, dict):
            _map_firefox_policies(policies, locked, user, cleared, defaults)
        else:
            problems.append(Unreadable(browser, path, "it holds no policies object"))
        break
    return FirefoxPolicy(locked, user, frozenset(cleared), defaults, tuple(files))


def _map_firefox_policies(
    policies: Mapping[str, Any],
    locked: dict[str, PrefValue],
    user: dict[str, PrefValue],
    cleared: set[str],
    defaults: dict[str, PrefValue],
) -> None:
    for name, by_value in _FIREFOX_POLICY_LOCKS.items():
        given = policies.get(name)
        if isinstance(given, bool):
            for pref, value in by_value.get(given, ()):
                locked[pref] = value
    protection = policies.get("EnableTrackingProtection")
    if isinstance(protection, dict):
        lock = protection.get("Locked") is True
        into = locked if lock else defaults
        if isinstance(protection.get("Value"), bool):
            into["privacy.trackingprotection.enabled"] = protection["Value"]
            into["privacy.trackingprotection.pbmode.enabled"] = protection["Value"]
        for key, pref in (
            ("Cryptomining", "privacy.trackingprotection.cryptomining.enabled"),
            ("Fingerprinting", "privacy.trackingprotection.fingerprinting.enabled"),
        ):
            if isinstance(protection.get(key), bool):
                into[pref] = protection[key]
        if protection.get("Category") in ("strict", "standard"):
            into["browser.contentblocking.category"] = protection["Category"]
    cookies = policies.get("Cookies")
    if isinstance(cookies, dict) and cookies.get("Behavior") in _COOKIE_BEHAVIORS:
        into = locked if cookies.get("Locked") is True else defaults
        into["network.cookie.cookieBehavior"] = _COOKIE_BEHAVIORS[cookies["Behavior"]]
    preferences = policies.get("Preferences")
    if not isinstance(preferences, dict):
        return
    for pref, entry in list(preferences.items())[:4096]:
        if not isinstance(pref, str):
            continue
        if not isinstance(entry, dict):
            # The first form (a bare value) sets and locks.
            if isinstance(entry, bool | int | str) and not isinstance(entry, float):
                locked[pref] = entry
            continue
        status = entry.get("Status", "default")
        given = entry.get("Value")
        if status == "clear":
            cleared.add(pref)
        elif isinstance(given, bool | int | str):
            {"locked": locked, "user": user, "default": defaults}.get(status, {})[pref] = given


def firefox_prefs(
    home: Path, root: Path = Path("/")
) -> tuple[list[FirefoxPrefs], list[Unreadable]]:
    """Each Firefox profile's preferences; `root`: where /etc and the installs are."""
    folders, problems = firefox_profile_folders(home)
    policies: dict[str, FirefoxPolicy] = {}
    found: list[FirefoxPrefs] = []
    for browser, path in folders:
        try:
            if not path.is_dir():
                continue
        except OSError as err:
            problems.append(Unreadable(browser, path, reason_of(err)))
            continue
        if browser not in policies:
            policies[browser] = firefox_policy(browser, root, problems)
        started = present(path / "prefs.js")
        saved = _read_prefs(browser, path / "prefs.js", problems)
        user_js = _read_prefs(browser, path / "user.js", problems)
        skipped = tuple(
            (name, read.skipped)
            for name, read in (("prefs.js", saved), ("user.js", user_js))
            if read is not None and read.skipped
        )
        found.append(
            FirefoxPrefs(
                browser,
                path,
                started=started,
                complete=saved is not None or not started,
                saved=saved.user if saved else {},
                user_js=user_js.user if user_js else {},
                policy=policies[browser],
                skipped=skipped,
            )
        )
    return found, problems


def _read_prefs(browser: str, path: Path, problems: list[Unreadable]) -> PrefsFile | None:
    return _read(browser, path, problems, MAX_PREFS_FILE, parse_prefs)


def _read(
    browser: str,
    path: Path,
    problems: list[Unreadable],
    limit: int,
    parse: Callable[[bytes], T],
) -> T | None:
    """`parse` of the file at `path`; None when it is absent, or cannot be read or parsed
    (said in `problems`)."""
    try:
        return parse(read_small_file(path, limit))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as err:
        if not isinstance(err, NotADirectoryError):
            problems.append(Unreadable(browser, path, reason_of(err)))
        return None


# --- Chromium ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChromiumPolicy:
    managed: dict[str, Any] = field(default_factory=dict)  # policy name -> value
    recommended: dict[str, Any] = field(default_factory=dict)
    files: tuple[Path, ...] = ()


@dataclass(frozen=True)
class ChromiumPrefs:
    browser: str
    path: Path  # the profile folder (Default, Profile 1, ...)
    prefs: Mapping[str, Any]  # its Preferences
    state: Mapping[str, Any]  # the user data folder's Local State; {} when there is none
    policy: ChromiumPolicy

    def value(self, name: str) -> tuple[PrefValue | None, str]:
        """A profile preference's value, and where it comes from."""
        return self._value(name, self.prefs, CHROMIUM_POLICY_PREFS, CHROMIUM_DEFAULTS)

    def state_value(self, name: str) -> tuple[PrefValue | None, str]:
        """A Local State preference's value, and where it comes from."""
        return self._value(name, self.state, CHROMIUM_POLICY_STATE, CHROMIUM_STATE_DEFAULTS)

    def _value(
        self,
        name: str,
        prefs: Mapping[str, Any],
        by_policy: Mapping[str, tuple[tuple[str, Any], ...]],
        defaults: Mapping[str, PrefValue],
    ) -> tuple[PrefValue | None, str]:
        managed = _from_policy(name, self.policy.managed, by_policy)
        if managed is not None:
            return managed, "set by policy"
        found = dotted(prefs, name)
        if found is not None:
            return found, "Preferences" if prefs is self.prefs else "Local State"
        recommended = _from_policy(name, self.policy.recommended, by_policy)
        if recommended is not None:
            return recommended, "recommended by policy"
        if name in defaults:
            return defaults[name], f"{self.browser}'s default"
        return None, "not set"


def _from_policy(
    name: str, policies: Mapping[str, Any], by_policy: Mapping[str, tuple[tuple[str, Any], ...]]
) -> PrefValue | None:
    for policy, prefs in by_policy.items():
        given = policies.get(policy)
        if not isinstance(given, bool | int | str) or isinstance(given, float):
            continue
        for pref, mapping in prefs:
            if pref == name:
                value = given if mapping is None else mapping.get(given)
                if isinstance(value, bool | int | str):
                    return value
    return None


def dotted(data: Mapping[str, Any], name: str) -> PrefValue | None:
    """The value at a dotted path of a Chromium preferences object, when it is one value (a
    list or an object is not a preference the rules compare)."""
    node: Any = data
    for part in name.split(".", MAX_PATH_DEPTH)[:MAX_PATH_DEPTH]:
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    if isinstance(node, bool | int | float | str):
        return node
    return None


def chromium_policy(browser: str, root: Path, problems: list[Unreadable]) -> ChromiumPolicy:
    folder = CHROMIUM_POLICY_FOLDERS.get(browser)
    if folder is None:
        return ChromiumPolicy()
    kinds: dict[str, dict[str, Any]] = {"managed": {}, "recommended": {}}
    files: list[Path] = []
    for kind, into in kinds.items():
        for path in _files_in(root / folder / kind, ".json", MAX_POLICY_FILES, browser, problems):
            data = _read_json(browser, path, problems)
            if data is not None:
                files.append(path)
                for name, value in data.items():
                    into.setdefault(name, value)
    return ChromiumPolicy(kinds["managed"], kinds["recommended"], tuple(files))


def chromium_prefs(
    home: Path, root: Path = Path("/")
) -> tuple[list[ChromiumPrefs], list[Unreadable]]:
    """Each Chromium profile's preferences (a folder with a Preferences file); `root`: where
    /etc is."""
    folders, problems = chromium_user_data(home)
    found: list[ChromiumPrefs] = []
    for browser, base, entries in folders:
        profiles: list[tuple[Path, dict[str, Any]]] = []
        for entry in entries:
            prefs = _read_json(browser, entry / "Preferences", problems)
            if prefs is not None:
                profiles.append((entry, prefs))
        if not profiles:
            continue
        state = _read_json(browser, base / "Local State", problems) or {}
        policy = chromium_policy(browser, root, problems)
        found += [ChromiumPrefs(browser, path, prefs, state, policy) for path, prefs in profiles]
    return found, problems


def _read_json(browser: str, path: Path, problems: list[Unreadable]) -> dict[str, Any] | None:
    return _read(browser, path, problems, MAX_JSON_FILE, json_object)


def json_object(data: bytes) -> dict[str, Any]:
    """A JSON object; ValueError, in words, when it is not one."""
    try:
        value = json_value(data)
    except ValueError:
        raise ValueError("it is not JSON") from None
    if not isinstance(value, dict):
        raise ValueError("it is not a JSON object")  # noqa: TRY004 - bad input, said in words
    return value


def _files_in(
    folder: Path, suffix: str, most: int, browser: str, problems: list[Unreadable]
) -> list[Path]:
    """The files named *suffix in `folder`, sorted, at most `most`; none when it is absent."""
    try:
        if not folder.is_dir():
            return []
        names = sorted(p for p in folder.iterdir() if p.name.endswith(suffix))
    except OSError as err:
        problems.append(Unreadable(browser, folder, reason_of(err)))
        return []
    return names[:most]


def present(path: Path) -> bool:
    """Whether anything is at `path`, even a broken link."""
    try:
        path.lstat()
    except OSError:
        return False
    return True
