"""Screen lock, settings and disk encryption on a Mac or a Windows computer, read from what
their tools print.

Neither system exists here, so the commands are replaced by a recorder that answers with
their recorded outputs (tests/data/screen/; the README there says where each format comes
from and that none was captured by us). A command the recorder has no answer for fails the
test: every command a probe runs is listed. What is asserted is what the screen_lock,
privacy and disk checks are given: ScreenLock fields, SettingRead values and problems,
Volume fields.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence, Set
from datetime import timedelta
from pathlib import Path

import pytest

from agent.errors import ProbeUnavailable
from agent.probes import (
    Desktop,
    ScreenLock,
    Setting,
    SettingRead,
    Volume,
    _macos_disk,
    _macos_screen,
    _windows_disk,
    _windows_screen,
)
from tests.conftest import as_nobody
from tests.recorded import Answer, Recorder
from tests.recorded import recorded as recorded_in

DATA = Path(__file__).parent / "data" / "screen"


def recorded(name: str) -> bytes:
    return recorded_in(DATA, name)


def ok(name: str) -> Answer:
    return (0, recorded(name), b"")


def said(stderr: str, code: int = 0) -> Answer:
    """A command that answers on stderr (sysadminctl's NSLog line)."""
    return (code, b"", recorded(stderr))


def failed(stderr: str = "", code: int = 1, stdout: str = "") -> Answer:
    return (
        code,
        recorded(stdout) if stdout else b"",
        recorded(stderr) if stderr else b"",
    )


def timeout(argv: Sequence[str]) -> subprocess.TimeoutExpired:
    return subprocess.TimeoutExpired(list(argv), 5)


MISSING = FileNotFoundError(2, "No such file or directory")


# macOS: screen lock ----------------------------------------------------------------------------

MAC = Desktop("macos", "macOS")
LOCK = _macos_screen.SCREEN_LOCK_STATUS
SAVER = _macos_screen.SAVER_IDLE
MANAGED = _macos_screen.MANAGED_SAVER_IDLE
PMSET = _macos_screen.POWER_SETTINGS
NO_PROFILE = failed("macos-defaults-managed-absent.stderr")


def mac_lock(**answers: Answer) -> tuple[ScreenLock, Recorder]:
    table = {
        LOCK: answers.get("lock", said("macos-sysadminctl-screenlock-immediate.stderr")),
        MANAGED: answers.get("managed", NO_PROFILE),
        SAVER: answers.get("saver", failed("macos-defaults-idletime-absent.stderr")),
        PMSET: answers.get("pmset", ok("macos-pmset-g-custom-macbook.txt")),
    }
    run = Recorder(table)
    return _macos_screen.screen_lock({"HOME": "/Users/sam"}, run), run


def test_mac_password_at_once_and_the_display_sleeping_first() -> None:
    found, _ = mac_lock()
    assert found == ScreenLock(
        desktop=MAC,
        source="sysadminctl -screenLock, com.apple.screensaver and pmset",
        enabled=True,
        # display sleep: 2 minutes on battery, 10 on power: the larger holds on either
        locks_after=timedelta(minutes=10),
        on_resume=True,
        detail=(
            "the password is asked at once when the screen saver starts or the display "
            "sleeps; the screen saver starts after 20 minutes (macOS default); the display "
            "sleeps after 2 minutes on battery, after 10 minutes on power adapter"
        ),
    )


def test_mac_a_five_second_delay_is_added_to_the_sooner_of_saver_and_display() -> None:
    found, _ = mac_lock(
        lock=said("macos-sysadminctl-screenlock-5-seconds.stderr"),
        saver=ok("macos-defaults-idletime-600.txt"),
        pmset=ok("macos-pmset-g-custom-mac-mini.txt"),  # AC Power only: 10 minutes
    )
    assert found.enabled and found.on_resume is True
    assert found.locks_after == timedelta(minutes=10, seconds=5)
    assert found.detail.startswith("the password is asked 5 seconds after the screen saver")
    assert "the screen saver starts after 10 minutes;" in found.detail
    assert found.detail.endswith("the display sleeps after 10 minutes on power adapter")


def test_mac_nothing_ever_starts_when_the_saver_is_never_and_display_never_on_power() -> None:
    found, _ = mac_lock(
        lock=said("macos-sysadminctl-screenlock-300-seconds.stderr"),
        saver=ok("macos-defaults-idletime-0.txt"),
        pmset=ok("macos-pmset-g-custom-never-on-power.txt"),
    )
    assert found.enabled is True  # a password is asked, after 5 minutes...
    assert found.locks_after is None  # ...of a saver or sleep that never comes on power
    assert found.delay_known is True
    assert "the screen saver never starts by itself" in found.detail
    assert "after 5 minutes on battery, never on power adapter" in found.detail


@pytest.mark.parametrize(
    "stderr",
    ["macos-sysadminctl-screenlock-off.stderr", "macos-sysadminctl-screenlock-minus-one.stderr"],
)
def test_mac_password_off_never_locks_nor_on_waking(stderr: str) -> None:
    found, _ = mac_lock(lock=said(stderr), saver=ok("macos-defaults-idletime-600.txt"))
    assert found.enabled is False
    assert found.locks_after is None
    assert found.on_resume is False
    assert found.detail.startswith("no password is asked after the screen saver starts")


def test_mac_a_configuration_profile_wins_over_the_persons_setting() -> None:
    found, run = mac_lock(managed=ok("macos-defaults-managed-idletime-300.txt"))
    assert found.locks_after == timedelta(minutes=5)
    assert "the screen saver starts after 5 minutes (set by a configuration profile)" in (
        found.detail
    )
    assert SAVER not in run.calls


def test_mac_a_password_said_to_be_on_without_its_delay() -> None:
    found, _ = mac_lock(
        lock=(0, b"", b"2024-05-02 09:18:00.100 sysadminctl[9:9] screenLock is on\n")
    )
    assert found.enabled is True
    assert found.locks_after is None and found.delay_known is False
    assert "delay not stated" in found.detail


@pytest.mark.parametrize(
    ("answers", "words"),
    [
        (
            {"lock": said("macos-sysadminctl-usage.stderr")},
            "answered in a form this agent does not know",
        ),
        ({"lock": MISSING}, "sysadminctl is not installed"),
        ({"lock": timeout(LOCK)}, "sysadminctl did not answer within 5 seconds"),
        (
            {"lock": PermissionError(1, "Operation not permitted")},
            "could not be run (Operation not permitted)",
        ),
        ({"pmset": timeout(PMSET)}, "pmset did not answer within 3 seconds"),
        ({"pmset": failed(code=2)}, "pmset failed with exit status 2"),
        ({"pmset": (0, b"Sleep On Power Button 1\n", b"")}, "pmset listed no displaysleep"),
        ({"saver": MISSING}, "defaults is not installed"),
        ({"saver": failed(code=255)}, "defaults failed with exit status 255"),
        ({"saver": (0, b"soon\n", b"")}, "defaults gave no number of seconds"),
    ],
)
def test_mac_facts_that_cannot_be_read_are_one_sentence(
    answers: dict[str, Answer], words: str
) -> None:
    with pytest.raises(ProbeUnavailable) as caught:
        mac_lock(**answers)
    message = str(caught.value)
    assert words in message
    assert message.endswith(".") and "\n" not in message
    assert "Usage" not in message and "deleteUser" not in message  # no tool output in it


def test_mac_desktop_is_macos() -> None:
    assert _macos_screen.desktop({}) == MAC


def test_mac_pmset_without_headings_and_with_notes() -> None:
    text = " displaysleep         15\n sleep                1 (sleep prevented by backupd)\n"
    assert _macos_screen.parse_pmset_display_sleep(text) == {"": 15}


# macOS: settings --------------------------------------------------------------------------------

ANALYTICS = Setting(
    "defaults",
    ("/Library/Application Support/CrashReporter/DiagnosticMessagesHistory", "AutoSubmit"),
)
ADS = Setting("defaults", ("com.apple.AdLib", "allowApplePersonalizedAdvertising"))
LOCATION = Setting(
    "defaults",
    ("/var/db/locationd/Library/Preferences/ByHost/com.apple.locationd", "LocationServicesEnabled"),
)
PREVIEWS = Setting("defaults", ("com.apple.ncprefs", "content_visibility"))
LOCATION_DENIED = (
    "only an administrator (root) may read "
    "/var/db/locationd/Library/Preferences/ByHost/com.apple.locationd.plist, so the setting "
    "cannot be read"
)


def defaults(setting: Setting) -> tuple[str, ...]:
    domain, key = setting.path
    return _macos_screen.defaults_read(domain, key, setting.current_host)


def read_mac(
    settings: Sequence[Setting],
    answers: dict[tuple[str, ...], Answer],
    unreadable: Set[str] = frozenset(),
) -> tuple[dict[Setting, SettingRead], Recorder, list[str]]:
    inspected: list[str] = []

    def inspect(domain: str) -> str | None:
        inspected.append(domain)
        return LOCATION_DENIED if domain in unreadable else None

    run = Recorder(answers)
    found = _macos_screen.read_settings(settings, {"HOME": "/Users/sam"}, run, inspect)
    return found, run, inspected


def test_mac_the_privacy_settings_the_default_policy_reads() -> None:
    found, _, inspected = read_mac(
        [ANALYTICS, ADS, LOCATION, PREVIEWS],
        {
            defaults(ANALYTICS): ok("macos-defaults-autosubmit-on.txt"),
            defaults(ADS): ok("macos-defaults-adlib-off.txt"),
            defaults(LOCATION): failed("macos-defaults-locationd-denied.stderr"),
            defaults(PREVIEWS): ok("macos-defaults-content-visibility.txt"),
        },
        unreadable={LOCATION.path[0]},
    )
    assert found == {
        ANALYTICS: SettingRead(1),  # Share Mac Analytics: on
        ADS: SettingRead(0),  # personalised ads: off
        # defaults says "does not exist" for a file it may not read: the file tells
        LOCATION: SettingRead(None, LOCATION_DENIED),
        PREVIEWS: SettingRead(2),  # previews: when unlocked
    }
    assert inspected == [LOCATION.path[0]]  # only a path domain that failed is looked at


def test_mac_settings_never_set_are_none_without_a_problem() -> None:
    found, _, inspected = read_mac(
        [ADS, PREVIEWS, ANALYTICS],
        {
            defaults(ADS): failed("macos-defaults-adlib-absent.stderr"),
            defaults(PREVIEWS): failed("macos-defaults-ncprefs-absent.stderr"),
            defaults(ANALYTICS): failed("macos-defaults-managed-absent.stderr"),
        },
    )
    assert found == {
        ADS: SettingRead(None),
        PREVIEWS: SettingRead(None),
        ANALYTICS: SettingRead(None),
    }
    assert inspected == [ANALYTICS.path[0]]  # readable, or not there: not set


def test_mac_value_shapes() -> None:
    languages = Setting("defaults", ("NSGlobalDomain", "AppleLanguages"))
    escaped = Setting("defaults", ("com.example.app", "Recent"))
    empty = Setting("defaults", ("com.example.app", "Nothing"))
    scaling = Setting("defaults", ("NSGlobalDomain", "com.apple.mouse.scaling"))
    folder = Setting("defaults", ("com.apple.screencapture", "location"))
    module = Setting("defaults", ("com.apple.screensaver", "moduleDict"), current_host=True)
    found, run, _ = read_mac(
        [languages, escaped, empty, scaling, folder, module],
        {
            defaults(languages): ok("macos-defaults-array-languages.txt"),
            defaults(escaped): ok("macos-defaults-array-escaped.txt"),
            defaults(empty): ok("macos-defaults-array-empty.txt"),
            defaults(scaling): ok("macos-defaults-float.txt"),
            defaults(folder): ok("macos-defaults-string.txt"),
            defaults(module): ok("macos-defaults-dict.txt"),
        },
    )
    assert found[languages] == SettingRead(("en-GB", "de-DE"))
    assert found[escaped] == SettingRead(
        ("Mail", "Café Lumière", 'say "hi"', '(\n        nested,\n        "two words"\n    )', "42")
    )
    assert found[empty] == SettingRead(())
    assert found[scaling] == SettingRead(1.5)
    assert found[folder] == SettingRead("/Users/sam/Pictures/Screenshots")
    value = found[module].value
    assert isinstance(value, str) and value.startswith("{\n    moduleName = Flurry;")
    assert (
        "/usr/bin/defaults",
        "-currentHost",
        "read",
        "com.apple.screensaver",
        "moduleDict",
    ) in run.calls


def test_mac_text_that_only_looks_like_an_array() -> None:
    assert _macos_screen.parse_defaults_value("(null)\n") == "(null)"
    assert _macos_screen.parse_defaults_value("two\nlines\n") == "two\nlines"
    assert _macos_screen.parse_defaults_value("-3\n") == -3


def test_mac_settings_that_cannot_be_asked() -> None:
    registry = Setting("registry", ("HKCU\\Software\\Example", "Value"))
    short = Setting("defaults", ("com.apple.AdLib",))
    option = Setting("defaults", ("-g", "AppleLanguages"))
    slow = Setting("defaults", ("com.apple.Siri", "StatusMenuVisible"))
    broken = Setting("defaults", ("com.apple.Siri", "VoiceTriggerEnabled"))
    found, run, _ = read_mac(
        [registry, short, option, slow, broken],
        {
            defaults(slow): timeout(["/usr/bin/defaults"]),
            defaults(broken): failed(code=3),
        },
    )
    assert found[registry] == SettingRead(None, "registry settings are not kept on macOS")
    assert found[short] == SettingRead(None, "a defaults setting is named by a domain and a key")
    assert found[option] == SettingRead(None, "-g AppleLanguages is not a defaults domain and key")
    assert found[slow] == SettingRead(
        None,
        "com.apple.Siri StatusMenuVisible cannot be read: defaults did not answer within 3 seconds",
    )
    assert found[broken] == SettingRead(
        None,
        "com.apple.Siri VoiceTriggerEnabled cannot be read: defaults failed with exit status 3",
    )
    assert len(run.calls) == 2  # nothing was run for the settings that were not asked


def test_mac_a_domain_under_the_home_folder() -> None:
    setting = Setting("defaults", ("~/Library/Preferences/com.example.app", "Level"))
    path = ("/Users/sam/Library/Preferences/com.example.app", "Level")
    found, _, _ = read_mac(
        [setting], {_macos_screen.defaults_read(*path): ok("macos-defaults-idletime-600.txt")}
    )
    assert found[setting] == SettingRead(600)


def test_mac_files_that_are_not_there_or_readable_are_not_a_problem(tmp_path: Path) -> None:
    assert _macos_screen._unreadable(str(tmp_path / "absent")) is None
    (tmp_path / "present.plist").write_bytes(b"")
    assert _macos_screen._unreadable(str(tmp_path / "present")) is None


def test_mac_a_file_in_a_folder_only_its_owner_may_enter(tmp_path: Path) -> None:
    open_ = tmp_path / "open"
    open_.mkdir()
    tmp_path.chmod(0o755)
    open_.chmod(0o755)
    locked = open_ / "locationd"
    locked.mkdir()
    (locked / "com.apple.locationd.plist").write_bytes(b"")
    locked.chmod(0o700)  # only its owner may enter, as root's locationd folder on a Mac
    problem = as_nobody(
        lambda: _macos_screen._unreadable(str(locked / "com.apple.locationd")) or "readable"
    )
    assert "only an administrator (root) may read" in problem


# macOS: FileVault ------------------------------------------------------------------------------

STARTUP = _macos_disk.STARTUP


@pytest.mark.parametrize(
    ("name", "encrypted", "how"),
    [
        ("macos-fdesetup-on.txt", True, "FileVault"),
        ("macos-fdesetup-off.txt", False, "FileVault is off"),
        ("macos-fdesetup-encrypting.txt", False, "FileVault encryption in progress, 42.17% done"),
        ("macos-fdesetup-pending.txt", False, "FileVault encryption is waiting to start (pending)"),
        (
            "macos-fdesetup-decrypting.txt",
            False,
            "FileVault is being turned off: decryption in progress, 73.2% done",
        ),
        (
            "macos-fdesetup-deferred.txt",
            False,
            "FileVault is off; it will be turned on at the next log-out or log-in",
        ),
    ],
)
def test_filevault_states(name: str, encrypted: bool, how: str) -> None:
    run = Recorder({_macos_disk.FDESETUP_STATUS: ok(name)})
    assert _macos_disk.disk_encryption("/Users/sam", run) == [
        Volume(("/", "~"), "/", STARTUP, encrypted, how)
    ]


@pytest.mark.parametrize(
    ("answer", "how"),
    [
        (MISSING, "fdesetup, which tells whether FileVault is on, is not installed"),
        (timeout(_macos_disk.FDESETUP_STATUS), "fdesetup did not answer within 5 seconds"),
        (
            PermissionError(1, "Operation not permitted"),
            "fdesetup could not be run (Operation not permitted)",
        ),
        (
            (1, b"", b"Error: unexpected\n"),
            "fdesetup answered in a form this agent does not know (exit status 1)",
        ),
    ],
)
def test_filevault_not_known(answer: Answer, how: str) -> None:
    run = Recorder({_macos_disk.FDESETUP_STATUS: answer})
    assert _macos_disk.disk_encryption("/Users/sam", run) == [
        Volume(("/", "~"), "/", STARTUP, None, how)
    ]


def test_a_home_folder_on_another_volume_is_not_told_by_filevault() -> None:
    run = Recorder({_macos_disk.FDESETUP_STATUS: ok("macos-fdesetup-on.txt")})
    assert _macos_disk.disk_encryption("/Volumes/Work/Users/sam", run) == [
        Volume(("/",), "/", STARTUP, True, "FileVault"),
        Volume(
            ("~",),
            "/Volumes/Work",
            "/Volumes/Work",
            None,
            "the home folder is on another volume, and fdesetup reports on the startup disk only",
        ),
    ]


# Windows: screen lock --------------------------------------------------------------------------

WIN = Desktop("windows", "Windows")
reg_query = _windows_screen.reg_query
reg_subkey = _windows_screen.reg_subkey
reg_value = _windows_screen.reg_value
DESKTOP = _windows_screen.DESKTOP_KEY
POLICY = _windows_screen.POLICY_DESKTOP_KEY
SYSTEM = _windows_screen.SYSTEM_POLICY_KEY
POWER_POLICY = _windows_screen.POWER_POLICY_KEY
POWERCFG = _windows_screen.POWERCFG_CONSOLELOCK
NOT_FOUND = failed("windows-reg-not-found.stderr")
NO_MATCH = failed(stdout="windows-reg-search-none.txt")

# No screen saver policy: the key and its parent are missing; Microsoft\Windows is there.
NO_POLICY: dict[tuple[str, ...], Answer] = {
    reg_query(POLICY): NOT_FOUND,
    reg_subkey("HKCU\\Software\\Policies\\Microsoft\\Windows\\Control Panel", "Desktop"): NOT_FOUND,
    reg_subkey("HKCU\\Software\\Policies\\Microsoft\\Windows", "Control Panel"): NO_MATCH,
}
# No power policy: Policies\Microsoft is there, Power is not.
NO_POWER_POLICY: dict[tuple[str, ...], Answer] = {
    reg_query(POWER_POLICY): NOT_FOUND,
    reg_subkey(
        "HKLM\\SOFTWARE\\Policies\\Microsoft\\Power\\PowerSettings",
        "0e796bdb-100d-47d6-a2d5-f7d2daa51f51",
    ): NOT_FOUND,
    reg_subkey("HKLM\\SOFTWARE\\Policies\\Microsoft\\Power", "PowerSettings"): NOT_FOUND,
    reg_subkey("HKLM\\SOFTWARE\\Policies\\Microsoft", "Power"): NO_MATCH,
}


def win_lock(
    desktop: str = "windows-reg-desktop-secure.txt",
    encoding: str = "cp437",
    *,
    policy: Answer | None = None,
    system: Answer | None = None,
    powercfg: Answer | None = None,
    power_policy: Answer | None = None,
) -> tuple[ScreenLock, Recorder]:
    table: dict[tuple[str, ...], Answer] = {
        reg_query(DESKTOP): ok(desktop),
        **NO_POLICY,
        reg_query(SYSTEM): system or ok("windows-reg-system-policies.txt"),
        POWERCFG: powercfg or ok("windows-powercfg-consolelock-on.txt"),
        **NO_POWER_POLICY,
    }
    if policy is not None:
        table[reg_query(POLICY)] = policy
    if power_policy is not None:
        table[reg_query(POWER_POLICY)] = power_policy
    run = Recorder(table)
    return _windows_screen.screen_lock({}, run, encoding), run


def test_windows_a_secure_screen_saver_after_ten_minutes() -> None:
    found, _ = win_lock()
    assert found == ScreenLock(
        desktop=WIN,
        source="the registry (screen saver, Group Policy) and powercfg",
        enabled=True,
        locks_after=timedelta(minutes=10),
        on_resume=True,
        detail=(
            "the screen saver starts after 10 minutes and asks for the password on resume; "
            "waking from sleep asks for the password"
        ),
    )


def test_windows_out_of_the_box_no_screen_saver_is_chosen() -> None:
    found, _ = win_lock("windows-reg-desktop-default.txt")
    assert found.enabled is False
    assert found.locks_after is None
    assert found.on_resume is True
    assert found.detail.startswith("no screen saver is chosen;")


def test_windows_group_policy_wins_over_the_persons_screen_saver() -> None:
    found, _ = win_lock(
        "windows-reg-desktop-not-secure.txt", policy=ok("windows-reg-policy-desktop.txt")
    )
    assert found.enabled is True
    assert found.locks_after == timedelta(minutes=5)  # not the person's 30 minutes, unlocked
    assert found.detail.startswith(
        "the screen saver starts after 5 minutes and asks for the password on resume "
        "(set by Group Policy);"
    )


def test_windows_the_persons_screen_saver_without_a_password_does_not_lock() -> None:
    found, _ = win_lock("windows-reg-desktop-not-secure.txt")
    assert found.enabled is False and found.locks_after is None
    assert "starts after 30 minutes but does not ask for the password" in found.detail


def test_windows_the_machine_inactivity_limit_locks_without_a_saver() -> None:
    found, _ = win_lock(
        "windows-reg-desktop-default.txt", system=ok("windows-reg-system-policies-inactivity.txt")
    )
    assert found.enabled is True
    assert found.locks_after == timedelta(minutes=15)
    assert "Windows locks after 15 minutes without input (machine inactivity limit)" in found.detail


def test_windows_the_sooner_of_saver_and_inactivity_limit() -> None:
    found, _ = win_lock(system=ok("windows-reg-system-policies-inactivity.txt"))
    assert found.locks_after == timedelta(minutes=10)


def test_windows_german_read_from_code_page_850_and_sign_in_never_required() -> None:
    found, run = win_lock(
        "windows-reg-desktop-german.txt",
        encoding="cp850",
        policy=ok("windows-reg-policy-desktop.txt"),
        powercfg=ok("windows-powercfg-consolelock-german.txt"),
        power_policy=ok("windows-reg-power-policy.txt"),
    )
    assert found.enabled is True
    assert found.locks_after == timedelta(minutes=5)
    # DelayLockInterval 0xFFFFFFFF: Settings > Sign-in options "Never"
    assert found.on_resume is False
    assert found.detail.endswith("Windows never asks to sign in again after the screen turns off")
    assert POWERCFG not in run.calls  # "never" needs nothing more
    # The wallpaper's name has umlauts; a listing read with the wrong code page breaks nothing.
    again, _ = win_lock(
        "windows-reg-desktop-german.txt",
        encoding="oem",  # only on Windows; elsewhere code page 437
        policy=ok("windows-reg-policy-desktop.txt"),
        power_policy=ok("windows-reg-power-policy.txt"),
    )
    assert again == found


BATTERY_OFF = ok("windows-powercfg-consolelock-battery-off.txt")


@pytest.mark.parametrize(
    ("powercfg", "power_policy", "on_resume", "words"),
    [
        (BATTERY_OFF, None, False, "plugged in only"),
        # The Group Policy copies win over the power scheme's.
        (BATTERY_OFF, ok("windows-reg-power-policy.txt"), True, "asks for the password"),
        (MISSING, None, None, "whether waking from sleep asks for the password is not known"),
        (timeout(POWERCFG), None, None, "is not known"),
        ((1, b'Invalid Parameters -- try "/?" for help\r\n', b""), None, None, "is not known"),
    ],
)
def test_windows_password_on_waking(
    powercfg: Answer, power_policy: Answer | None, on_resume: bool | None, words: str
) -> None:
    found, _ = win_lock(powercfg=powercfg, power_policy=power_policy)
    assert found.on_resume is on_resume
    assert found.detail.endswith(words)
    assert found.locks_after == timedelta(minutes=10)


def test_windows_powercfg_indexes_by_shape() -> None:
    parse = _windows_screen.parse_powercfg_indexes
    assert parse(recorded("windows-powercfg-consolelock-battery-off.txt").decode("cp437")) == (1, 0)
    assert parse(recorded("windows-powercfg-consolelock-german.txt").decode("cp850")) == (1, 1)
    assert parse("") == (None, None)


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (MISSING, "The screen saver settings cannot be read: reg.exe was not found."),
        (
            timeout(reg_query(DESKTOP)),
            "The screen saver settings cannot be read: reg.exe did not answer within 3 seconds.",
        ),
        (
            PermissionError(13, "Access is denied"),
            "The screen saver settings cannot be read: reg.exe could not be run "
            "(Access is denied).",
        ),
    ],
)
def test_windows_reg_that_does_not_answer(answer: Answer, words: str) -> None:
    run = Recorder({reg_query(DESKTOP): answer})
    with pytest.raises(ProbeUnavailable) as caught:
        _windows_screen.screen_lock({}, run, "cp437")
    assert str(caught.value) == words
    assert len(run.calls) == 1  # once reg gives no answer, it is not asked again


def test_windows_a_policy_key_this_user_may_not_read() -> None:
    denied = failed("windows-reg-denied.stderr")
    run = Recorder(
        {
            reg_query(DESKTOP): ok("windows-reg-desktop-secure.txt"),
            reg_query(POLICY): denied,
            reg_subkey(
                "HKCU\\Software\\Policies\\Microsoft\\Windows\\Control Panel", "Desktop"
            ): ok("windows-reg-subkey-found-policy-desktop.txt"),
        }
    )
    with pytest.raises(
        ProbeUnavailable,
        match=r"^The Group Policy screen saver settings cannot be read: "
        r"Windows does not let this user read HKCU\\Software\\Policies",
    ):
        _windows_screen.screen_lock({}, run, "cp437")


def test_windows_desktop_is_windows() -> None:
    assert _windows_screen.desktop({}) == WIN


# Windows: settings -----------------------------------------------------------------------------

TELEMETRY_POLICY = Setting(
    "registry", ("HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\DataCollection", "AllowTelemetry")
)
TELEMETRY = Setting(
    "registry",
    (
        "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies\\DataCollection",
        "AllowTelemetry",
    ),
)
CONSENT = (
    "Software\\Microsoft\\Windows\\CurrentVersion\\CapabilityAccessManager\\ConsentStore\\location"
)
LOCATION_USER = Setting("registry", (f"HKCU\\{CONSENT}", "Value"))
LOCATION_MACHINE = Setting(
    "registry", (f"HKLM\\{CONSENT.replace('Software', 'SOFTWARE', 1)}", "Value")
)
ADVERTISING = Setting(
    "registry", ("HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\AdvertisingInfo", "Enabled")
)
TAILORED = Setting(
    "registry",
    (
        "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Privacy",
        "TailoredExperiencesWithDiagnosticDataEnabled",
    ),
)
TOASTS = Setting(
    "registry",
    (
        "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Notifications\\Settings",
        "NOC_GLOBAL_SETTING_ALLOW_TOASTS_ABOVE_LOCK",
    ),
)


def ask(setting: Setting) -> tuple[str, ...]:
    return reg_value(*setting.path)


def read_windows(
    settings: Sequence[Setting], answers: dict[tuple[str, ...], Answer], encoding: str = "cp437"
) -> tuple[dict[Setting, SettingRead], Recorder]:
    run = Recorder(answers)
    return _windows_screen.read_settings(settings, {}, run, encoding), run


def test_windows_the_privacy_settings_the_default_policy_reads() -> None:
    found, run = read_windows(
        [
            TELEMETRY_POLICY,
            TELEMETRY,
            LOCATION_USER,
            LOCATION_MACHINE,
            ADVERTISING,
            TAILORED,
            TOASTS,
        ],
        {
            ask(TELEMETRY_POLICY): ok("windows-reg-value-allowtelemetry-policy.txt"),
            ask(TELEMETRY): ok("windows-reg-value-allowtelemetry.txt"),
            ask(LOCATION_USER): ok("windows-reg-value-location-user.txt"),
            ask(LOCATION_MACHINE): ok("windows-reg-value-location-machine.txt"),
            ask(ADVERTISING): ok("windows-reg-value-advertising-id.txt"),
            ask(TAILORED): ok("windows-reg-value-tailored-experiences.txt"),
            ask(TOASTS): ok("windows-reg-value-toasts-above-lock.txt"),
        },
    )
    assert found == {
        TELEMETRY_POLICY: SettingRead(1),  # Group Policy: required diagnostic data only
        TELEMETRY: SettingRead(3),  # Settings: optional diagnostic data
        LOCATION_USER: SettingRead("Allow"),
        LOCATION_MACHINE: SettingRead("Deny"),  # location is off for the whole device
        ADVERTISING: SettingRead(0),  # advertising ID off
        TAILORED: SettingRead(1),  # tailored experiences on
        TOASTS: SettingRead(0),  # no notifications above the lock screen
    }
    # Each value was asked alone (a search for that exact name): nothing else of the key.
    assert all(call[3:] == ("/f", call[4], "/v", "/e", "/reg:64") for call in run.calls)


def test_windows_absent_values_and_keys_in_any_language() -> None:
    found, run = read_windows(
        [TELEMETRY_POLICY, TELEMETRY, TAILORED],
        {
            # The key is there, the value is not: the search's closing line is on stdout.
            ask(TELEMETRY_POLICY): NO_MATCH,
            ask(TAILORED): failed(stdout="windows-reg-search-none-russian.txt"),
            # The key is not there (German message on stderr): its parent says so.
            ask(TELEMETRY): failed("windows-reg-not-found-german.stderr"),
            reg_subkey(
                "HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies", "DataCollection"
            ): NO_MATCH,
        },
        encoding="cp866",
    )
    assert found == {
        TELEMETRY_POLICY: SettingRead(None),
        TELEMETRY: SettingRead(None),
        TAILORED: SettingRead(None),
    }
    assert len(run.calls) == 4


def test_windows_a_key_this_user_may_not_read_is_a_problem_not_absent() -> None:
    secret = Setting("registry", ("HKLM\\SECURITY\\Policy", "PolAdtEv"))
    secret_too = Setting("registry", ("HKLM\\SECURITY\\Policy", "SecDesc"))
    found, run = read_windows(
        [secret, secret_too],
        {
            ask(secret): failed("windows-reg-denied.stderr"),
            reg_subkey("HKLM\\SECURITY", "Policy"): failed("windows-reg-denied.stderr"),
            reg_subkey("HKLM", "SECURITY"): ok("windows-reg-subkey-found-security.txt"),
        },
    )
    problem = (
        "HKLM\\SECURITY\\Policy cannot be read: "
        "Windows does not let this user read HKLM\\SECURITY\\Policy"
    )
    assert found == {secret: SettingRead(None, problem), secret_too: SettingRead(None, problem)}
    assert len(run.calls) == 3  # the key's state is found once, for both


def test_windows_value_types() -> None:
    multi = Setting(
        "registry", ("HKLM\\SYSTEM\\CurrentControlSet\\Control\\Lsa", "Notification Packages")
    )
    expand = Setting("registry", ("HKCU\\Environment", "TEMP"))
    empty = Setting("registry", ("HKCU\\Control Panel\\Desktop", "Wallpaper"))
    qword = Setting(
        "registry",
        ("HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Explorer", "TelemetrySalt"),
    )
    found, _ = read_windows(
        [multi, expand, empty, qword],
        {
            ask(multi): ok("windows-reg-value-multi-sz.txt"),
            ask(expand): ok("windows-reg-value-expand-sz.txt"),
            ask(empty): ok("windows-reg-value-empty-sz.txt"),
            ask(qword): ok("windows-reg-value-qword.txt"),
        },
    )
    assert found[multi] == SettingRead(("scecli", "rassfm"))
    assert found[expand] == SettingRead("%USERPROFILE%\\AppData\\Local\\Temp")  # not expanded
    assert found[empty] == SettingRead("")
    assert found[qword] == SettingRead(500)


def test_windows_settings_that_cannot_be_asked() -> None:
    defaults = Setting("defaults", ("com.apple.AdLib", "allowApplePersonalizedAdvertising"))
    remote = Setting("registry", ("\\\\server\\HKLM\\SOFTWARE", "Value"))
    quoted = Setting("registry", ('HKCU\\Software\\" /f', "Value"))
    option = Setting("registry", ("HKCU\\Software", "/f"))
    wildcard = Setting("registry", ("HKCU\\Software", "*"))
    short = Setting("registry", ("HKCU\\Software",))
    found, run = read_windows([defaults, remote, quoted, option, wildcard, short], {})
    assert found[defaults] == SettingRead(None, "defaults settings are not kept on Windows")
    assert (
        found[remote].problem == "\\\\server\\HKLM\\SOFTWARE is not a registry key of this computer"
    )
    assert found[quoted].value is None and found[quoted].problem is not None
    assert found[option] == SettingRead(None, "'/f' is not a registry value name this agent reads")
    assert found[wildcard].problem == "'*' is not a registry value name this agent reads"
    assert found[short] == SettingRead(
        None, "a registry setting is named by a key and a value name"
    )
    assert run.calls == []


def test_windows_reg_missing_is_told_once_for_every_setting() -> None:
    found, run = read_windows([TELEMETRY, ADVERTISING], {ask(TELEMETRY): MISSING})
    key = TELEMETRY.path[0]
    assert found[TELEMETRY] == SettingRead(None, f"{key} cannot be read: reg.exe was not found")
    problem = found[ADVERTISING].problem
    assert problem is not None and "reg.exe was not found" in problem
    assert len(run.calls) == 1


# Windows: BitLocker ----------------------------------------------------------------------------

bde = _windows_disk.manage_bde_status
shell = _windows_disk.shell_protection
ENV = {"SYSTEMDRIVE": "C:", "USERPROFILE": "C:\\Users\\sam"}


def win_disk(
    answers: dict[tuple[str, ...], Answer], home: str = "C:\\Users\\sam", encoding: str = "cp437"
) -> list[Volume]:
    return _windows_disk.disk_encryption(home, Recorder(answers), ENV, encoding)


@pytest.mark.parametrize(
    ("name", "encrypted", "how"),
    [
        ("windows-manage-bde-fully-encrypted.txt", True, "BitLocker (XTS-AES 128)"),
        (
            "windows-manage-bde-used-space-decimal-comma.txt",
            True,
            "BitLocker (AES 256), used space only",
        ),
        ("windows-manage-bde-fully-decrypted.txt", False, "not encrypted (BitLocker off)"),
        (
            "windows-manage-bde-suspended.txt",
            False,
            "BitLocker suspended (protection off): the key is stored in the clear, so the disk "
            "can be read without it",
        ),
        (
            "windows-manage-bde-encrypting.txt",
            False,
            "BitLocker encryption in progress, 42.0% encrypted",
        ),
    ],
)
def test_bitlocker_as_manage_bde_says_in_english(name: str, encrypted: bool, how: str) -> None:
    assert win_disk({bde("C:"): ok(name)}) == [Volume(("/", "~"), "C:", "C:", encrypted, how)]


@pytest.mark.parametrize(
    ("number", "encrypted", "how"),
    [
        (1, True, "BitLocker"),
        (2, False, "not encrypted (BitLocker off)"),
        (3, False, "BitLocker encryption in progress"),
        (
            5,
            False,
            "BitLocker suspended: the key is stored in the clear, so the disk can be read "
            "without it",
        ),
        (6, True, "BitLocker (locked)"),
        (
            8,
            False,
            "BitLocker waiting for activation: the key is stored in the clear, so the disk can be "
            "read without it",
        ),
    ],
)
def test_bitlocker_from_the_shell_when_manage_bde_is_denied(
    number: int, encrypted: bool, how: str
) -> None:
    answers: dict[tuple[str, ...], Answer] = {
        bde("C:"): failed(stdout="windows-manage-bde-denied.txt", code=2147942405),
        shell("C:"): ok(f"windows-shell-bitlocker-{number}.txt"),
    }
    assert win_disk(answers) == [Volume(("/", "~"), "C:", "C:", encrypted, how)]


@pytest.mark.parametrize(
    ("manage_bde", "reason"),
    [
        (
            failed(stdout="windows-manage-bde-denied.txt", code=2147942405),
            "manage-bde needs administrator rights",
        ),
        (MISSING, "manage-bde.exe is not on this computer"),
        (
            failed(stdout="windows-manage-bde-not-recognized.txt", code=9009),
            "manage-bde is not on this computer",
        ),
        (
            ok("windows-manage-bde-german.txt"),
            "manage-bde answered in a language this agent does not read",
        ),
        (timeout(bde("C:")), "manage-bde.exe did not answer within 5 seconds"),
    ],
)
def test_bitlocker_the_shell_answers_whatever_kept_manage_bde_from_it(
    manage_bde: Answer, reason: str
) -> None:
    volumes = win_disk(
        {bde("C:"): manage_bde, shell("C:"): ok("windows-shell-bitlocker-1.txt")}, encoding="cp850"
    )
    assert volumes == [Volume(("/", "~"), "C:", "C:", True, "BitLocker")]
    unknown = win_disk(
        {bde("C:"): manage_bde, shell("C:"): ok("windows-shell-bitlocker-empty.txt")},
        encoding="cp850",
    )
    assert unknown == [
        Volume(
            ("/", "~"),
            "C:",
            "C:",
            None,
            f"{reason}, and the Shell gave no BitLocker state this agent knows for the drive",
        )
    ]


@pytest.mark.parametrize(
    ("powershell", "why"),
    [
        (
            ok("windows-shell-bitlocker-0.txt"),
            "the Shell gave no BitLocker state this agent knows for the drive",
        ),
        (MISSING, "powershell.exe is not on this computer"),
        (timeout(shell("C:")), "powershell.exe did not answer within 5 seconds"),
        (
            (1, b"", b"New-Object : Retrieving the COM class factory failed\r\n"),
            "PowerShell failed with exit status 1",
        ),
    ],
)
def test_bitlocker_nothing_answers(powershell: Answer, why: str) -> None:
    volumes = win_disk({bde("C:"): MISSING, shell("C:"): powershell})
    assert volumes == [
        Volume(("/", "~"), "C:", "C:", None, f"manage-bde.exe is not on this computer, and {why}")
    ]


def test_bitlocker_the_home_folder_on_another_drive() -> None:
    volumes = win_disk(
        {
            bde("C:"): ok("windows-manage-bde-fully-encrypted.txt"),
            bde("D:"): ok("windows-manage-bde-data-drive-decrypted.txt"),
        },
        home="d:\\Users\\sam",
    )
    assert volumes == [
        Volume(("/",), "C:", "C:", True, "BitLocker (XTS-AES 128)"),
        Volume(("~",), "D:", "D:", False, "not encrypted (BitLocker off)"),
    ]


def test_bitlocker_the_home_folder_on_a_network_share() -> None:
    volumes = win_disk(
        {bde("C:"): ok("windows-manage-bde-fully-encrypted.txt")}, home="\\\\nas\\homes\\sam"
    )
    assert volumes[1] == Volume(
        ("~",),
        "\\\\NAS\\HOMES",
        "\\\\NAS\\HOMES",
        None,
        "the home folder is on a network share, whose encryption this computer cannot tell",
    )


def test_bitlocker_drive_names_come_from_the_environment_only_when_well_formed() -> None:
    run = Recorder({bde("C:"): ok("windows-manage-bde-fully-encrypted.txt")})
    odd = {"SYSTEMDRIVE": "C:\\; calc", "USERPROFILE": "C:\\Users\\sam"}
    assert _windows_disk.disk_encryption("", run, odd, "cp437") == [
        Volume(("/", "~"), "C:", "C:", True, "BitLocker (XTS-AES 128)")
    ]


def test_bitlocker_suspended_for_a_number_of_restarts() -> None:
    text = recorded("windows-manage-bde-suspended.txt").decode("cp437")
    text = text.replace("Protection Off", "Protection Off (2 reboots left)")
    found = _windows_disk.parse_manage_bde(text)
    assert found is not None and found[0] is False and found[1].startswith("BitLocker suspended")
