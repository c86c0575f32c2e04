"""The "My device" page, read by a real browser: Debian's chromium driven headless by selenium
through chromedriver, with axe-core for accessibility. The page is written by the real
`hygiene page` after a real `hygiene run --once` audited a home with planted problems (keys
made by ssh-keygen, a password in ~/.netrc, a file name and a policy name that try to inject
markup and reorder text).

Screenshots at 1280x800 and 390x844 go to $HYGIENE_SCREENSHOTS, or the test's own folder;
the path is printed (pytest -s, or the test's captured output).
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.links import current_token, parse
from agent.page import check_anchor, finding_anchor
from agent.store import HeldNotice, Store
from tests.conftest import Machine, Outcome, missing_component, require_tool, run_hygiene
from tests.test_privacy import secret_fragments

CANARY = "Canary-pw-Zq7kT2"  # the password planted in ~/.netrc: never on the page
HOSTILE_KEY = "id_<script>alert(1)\u202egpj.\x1b[2J"  # markup, a bidi override, an escape
HOSTILE_POLICY = "<script>alert(2)</script>\u202eliam"
SECTIONS = ("summary", "problems", "held", "snoozed", "skipped", "history", "policy", "checks")


def _hygiene(machine: Machine, *argv: str, env: dict[str, str] | None = None) -> Outcome:
    return run_hygiene(argv, env or machine.env())


@dataclass
class Planted:
    machine: Machine
    page: Path
    plain_key: Path
    findings: dict[str, dict[str, Any]]  # subject -> the finding as `status --json` has it

    @property
    def url(self) -> str:
        return self.page.as_uri()

    @property
    def state(self) -> Path:
        return self.machine.state / "hygiene-agent"

    def finding(self, subject: str) -> dict[str, Any]:
        return self.findings[subject]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    """A home with problems, audited by `hygiene run --once`; a snooze, a held notice and an
    answered notification on top; then the page, written by `hygiene page --print-path`."""
    ssh_keygen = require_tool("ssh-keygen")
    machine = Machine.at(tmp_path_factory.mktemp("page"))
    machine.keep_only("ssh_keys", "credentials")
    (machine.user_policies / "50-name.yaml").write_text(
        f"schema: 1\nname: {json.dumps(HOSTILE_POLICY)}\nrevision: 3\n"
    )
    plain = machine.ssh / "id_plain"
    for path in (plain, machine.ssh / HOSTILE_KEY):
        subprocess.run(
            [ssh_keygen, "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(path)],
            check=True,
            capture_output=True,
            timeout=60,
        )
    netrc = machine.home / ".netrc"
    netrc.write_text(f"machine mail.example.com login ann password {CANARY}\n")
    netrc.chmod(0o600)

    done = _hygiene(machine, "run", "--once")
    assert done.code == 0, done.err
    status = json.loads(_hygiene(machine, "status", "--json").out)
    findings = {f["subject"]: f for f in status["failing"]}
    assert {"~/.ssh/id_plain", "~/.netrc"} <= set(findings), findings

    snoozed = _hygiene(machine, "snooze", findings["~/.netrc"]["id"], "1d")
    assert snoozed.code == 0, snoozed.err
    now = datetime.now(UTC)
    with Store.open(machine.state / "hygiene-agent") as store:
        records = store.notifications(10)
        assert records, "the audit recorded no notification"
        store.record_response(records[0], "snoozed it for 1d", now)
        store.replace_held(
            [
                HeldNotice(
                    check="ssh_keys",
                    kind="reminder",
                    title="2 problems with your SSH keys",
                    reason="quiet hours",
                    goes_at=now + timedelta(hours=2),
                    since=now,
                    finding_ids=(findings["~/.ssh/id_plain"]["id"],),
                )
            ]
        )
    written = _hygiene(machine, "page", "--print-path")
    assert written.code == 0, written.err
    page = Path(written.out.strip())
    return Planted(machine, page, plain, findings)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless chromium for the module, its performance log on."""
    chromium = require_tool("chromium")
    chromedriver = require_tool("chromedriver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing_component("selenium is not installed (tests/run.sh installs it)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tmp_path_factory.mktemp("chromium-profile")
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=chromedriver))
    try:
        yield driver
    finally:
        driver.quit()


def _viewport(driver: Any, width: int, height: int, *, dark: bool = False) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    scheme = "dark" if dark else "light"
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )


def _open(driver: Any, url: str) -> None:
    driver.get(url)
    driver.get_log("performance")  # what came before this load is not this load's


def _text(driver: Any, selector: str) -> str:
    text: str = driver.execute_script(
        "return document.querySelector(arguments[0]).innerText", selector
    )
    return text


def test_the_page_is_private_and_holds_no_secret(planted: Planted) -> None:
    assert stat.S_IMODE(planted.page.stat().st_mode) == 0o600
    assert not [p.name for p in planted.state.iterdir() if p.name.endswith(".tmp")]
    data = planted.page.read_bytes()
    text = data.decode("utf-8")
    assert "~/.netrc" in text  # the password's file is there: the password is not
    for view in (text, data.decode("latin-1"), data.hex()):
        assert CANARY not in view
        assert CANARY.encode().hex() not in view
    for fragment in secret_fragments(planted.plain_key):
        assert fragment not in text, "a piece of the private key reached the page"


def test_outside_text_is_escaped_in_the_file(planted: Planted) -> None:
    text = planted.page.read_text(encoding="utf-8")
    assert "<script" not in text
    assert "\u202e" not in text and "\x1b" not in text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;\\u202eliam" in text  # the policy's name
    assert "id_&lt;script&gt;alert(1)\\u202egpj.\\x1b[2J" in text  # the key's file name
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    assert csp is not None
    assert csp.group(1).startswith("default-src 'none'; style-src 'sha256-")
    assert "img-src 'none'" in csp.group(1)


def test_every_section_renders_in_the_browser(planted: Planted, browser: Any) -> None:
    _viewport(browser, 1280, 800)
    _open(browser, planted.url)
    assert browser.title == "My device: hygiene-agent"
    for section in SECTIONS:
        shown = browser.execute_script(
            "const e = document.getElementById(arguments[0]);"
            "return e !== null && e.getBoundingClientRect().height > 0",
            section,
        )
        assert shown, f"section {section} is missing or empty"
    # ssh_keys and credentials fail; the eight others are turned off.
    assert _text(browser, "#summary h2") == "0 of 13 checks pass"
    # Each check's problems are headed as its notice is titled: both SSH keys lack a
    # passphrase, so the kind's own title, not the check's general one.
    assert _text(browser, "#c-ssh_keys h3") == "2 SSH keys have no passphrase"
    plain = planted.finding("~/.ssh/id_plain")
    finding = _text(browser, f"#{finding_anchor(plain['id'])}")
    assert "~/.ssh/id_plain has no passphrase" in finding
    commands = browser.execute_script(
        "return [...document.querySelectorAll('code.cmd')].map(e => e.textContent)"
    )
    assert "ssh-keygen -p -f ~/.ssh/id_plain" in commands
    assert f"hygiene snooze {plain['id']} 1d" in commands
    # One click selects a whole command.
    select = browser.execute_script(
        "return getComputedStyle(document.querySelector('code.cmd')).userSelect"
    )
    assert select == "all"

    held = _text(browser, "#held")
    assert "2 problems with your SSH keys" in held
    assert "held because it is within quiet hours; goes at" in held
    netrc = planted.finding("~/.netrc")
    snoozed = _text(browser, "#snoozed")
    assert "~/.netrc (credentials): no notices until" in snoozed
    assert f"hygiene unsnooze {netrc['id']}" in snoozed
    skipped = _text(browser, "#skipped")
    assert "vpn" in skipped and "disabled by" in skipped  # why, as the engine said it
    history = _text(browser, "#history")
    assert "not delivered" in history and "you snoozed it for 1d at" in history
    policy = _text(browser, "#policy")
    assert "<script>alert(2)</script>\\u202eliam" in policy  # shown as text, escaped
    assert "built-in default" in policy and "50-name.yaml" in policy
    assert "Revision\n3" in policy or "Revision 3" in policy
    catalogue = _text(browser, "#checks")
    assert "SSH private keys are protected" in catalogue and "Keeps:" in catalogue
    assert browser.execute_script("return document.scripts.length") == 0
    twice = browser.execute_script(
        "const ids = [...document.querySelectorAll('[id]')].map(e => e.id);"
        "return ids.filter((id, i) => ids.indexOf(id) !== i)"
    )
    assert twice == []


def test_the_snooze_links_carry_the_current_token(planted: Planted, browser: Any) -> None:
    _open(browser, planted.url)
    hrefs: list[str] = browser.execute_script(
        "return [...document.querySelectorAll('a.action')].map(a => a.getAttribute('href'))"
    )
    token = current_token(planted.state)
    assert token is not None
    actions = [parse(href, token) for href in hrefs]  # every link is one open-url takes
    plain = planted.finding("~/.ssh/id_plain")["id"]
    assert {(a.name, a.length) for a in actions if a.target == plain} == {
        ("snooze", "1h"),
        ("snooze", "1d"),
        ("snooze", "7d"),
    }
    netrc = planted.finding("~/.netrc")["id"]
    assert ("unsnooze", None) in {(a.name, a.length) for a in actions if a.target == netrc}


def test_a_finding_anchor_opens_the_page_at_it(planted: Planted, browser: Any) -> None:
    _viewport(browser, 1280, 800)
    anchor = finding_anchor(planted.finding("~/.ssh/id_plain")["id"])
    _open(browser, f"{planted.url}#{anchor}")
    top, scrolled, target = browser.execute_script(
        "const e = document.getElementById(arguments[0]);"
        "return [e.getBoundingClientRect().top, window.scrollY,"
        " document.querySelector(':target').id]",
        anchor,
    )
    assert target == anchor
    assert scrolled > 0, "the page did not move to the finding"
    assert abs(top) < 2, f"the finding is {top}px from the top of the window"
    _open(browser, f"{planted.url}#{check_anchor('ssh_keys')}")
    assert browser.execute_script("return document.querySelector(':target').tagName") in (
        "SECTION",
        "LI",
    )


def test_no_request_leaves_the_page(planted: Planted, browser: Any) -> None:
    browser.get("about:blank")
    browser.get_log("performance")
    browser.get(planted.url)
    browser.execute_script("return document.readyState")
    events = [json.loads(entry["message"])["message"] for entry in browser.get_log("performance")]
    requested = [
        e["params"]["request"]["url"] for e in events if e["method"] == "Network.requestWillBeSent"
    ]
    assert requested == [planted.url], requested
    assert any(e["method"] == "Network.responseReceived" for e in events), (
        "the performance log saw nothing: it would hide a request too"
    )


def _screenshots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("HYGIENE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_screenshots_at_desktop_and_phone_widths(
    planted: Planted, browser: Any, tmp_path: Path
) -> None:
    folder = _screenshots(tmp_path)
    for width, height, name in ((1280, 800, "page-1280x800.png"), (390, 844, "page-390x844.png")):
        _viewport(browser, width, height)
        _open(browser, planted.url)
        overflow = browser.execute_script(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{overflow}px of horizontal scroll at {width}px"
        assert browser.save_screenshot(str(folder / name))
        print(f"screenshot: {folder / name}")
    # The whole page at the phone's width: every section, for a person to look at.
    height = browser.execute_script("return document.documentElement.scrollHeight")
    _viewport(browser, 390, min(int(height), 16000))
    assert browser.save_screenshot(str(folder / "page-390-full.png"))
    print(f"screenshot: {folder / 'page-390-full.png'}")


@pytest.mark.parametrize(
    ("width", "dark"), [(1280, False), (390, False), (1280, True)], ids=["1280", "390", "dark"]
)
def test_axe_finds_no_serious_or_critical_violation(
    planted: Planted, browser: Any, width: int, dark: bool
) -> None:
    try:
        from selenium_axe_python.axe import Axe
    except ImportError:
        missing_component("selenium-axe-python is not installed (tests/run.sh installs it)")
    _viewport(browser, width, 844, dark=dark)
    _open(browser, planted.url)
    axe = Axe(browser)
    axe.inject()  # type: ignore[no-untyped-call]
    results = axe.run(options={"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa"]}})
    assert results["passes"], "axe checked nothing"
    assert any(p["id"] == "color-contrast" for p in results["passes"])
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, bad


# --- the command, without a browser ------------------------------------------------------


def test_page_opens_with_the_default_handler(machine: Machine, tmp_path: Path) -> None:
    machine.keep_only("ssh_keys")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    opened = tmp_path / "opened"
    opener = bin_dir / "xdg-open"
    # The copy is renamed into place whole: the test never reads one half written.
    opener.write_text(f'#!/bin/sh\ncp "$1" "{opened}.part" && mv "{opened}.part" "{opened}"\n')
    opener.chmod(0o755)
    env = {**machine.env(), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = _hygiene(machine, "page", env=env)
    assert done.code == 0, done.err
    page = machine.state / "hygiene-agent" / "page.html"
    assert done.out == f"Opened {page} in your browser.\n"
    for _ in range(100):
        if opened.exists():
            break
        time.sleep(0.05)
    assert opened.read_bytes() == page.read_bytes()
    assert "Not audited yet" in page.read_text()


def test_page_without_an_opener_is_one_sentence(machine: Machine, tmp_path: Path) -> None:
    machine.keep_only("ssh_keys")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    env = {**machine.env(), "PATH": str(empty)}
    done = _hygiene(machine, "page", env=env)
    assert done.code == 2
    page = machine.state / "hygiene-agent" / "page.html"
    assert done.err == (
        "hygiene: cannot open the page with xdg-open (no such file or directory); it is "
        f"written at {page}.\n"
    )
    assert page.exists()


def test_a_page_that_cannot_be_written_is_one_sentence(machine: Machine) -> None:
    machine.keep_only("ssh_keys")
    state = machine.state / "hygiene-agent"
    (state / "page.html").mkdir(parents=True)  # root writes anywhere; a folder stops it
    done = _hygiene(machine, "page", "--print-path")
    assert (done.code, done.out) == (2, "")
    assert done.err == f"hygiene: cannot write the page in {state}: is a directory.\n"
    assert not [p.name for p in state.iterdir() if p.name.endswith(".tmp")]


def test_a_state_folder_that_is_a_file_is_said_without_a_traceback(machine: Machine) -> None:
    machine.keep_only("ssh_keys")
    machine.state.mkdir(parents=True)
    (machine.state / "hygiene-agent").write_text("a file where the folder goes\n")
    done = _hygiene(machine, "page", "--print-path")
    assert (done.code, done.out) == (2, "")
    assert "Traceback" not in done.err
    assert done.err.splitlines()[-1].endswith("cannot be read: not a directory.")


# --- the parts, without a browser -----------------------------------------------------------


@pytest.mark.parametrize(
    ("advice", "commands"),
    [
        (
            "Add a passphrase: ssh-keygen -p -f ~/.ssh/id_rsa (ssh-agent then asks for it once "
            "per session).",
            ["ssh-keygen -p -f ~/.ssh/id_rsa"],
        ),
        ("Run: chmod 700 ~/.ssh", ["chmod 700 ~/.ssh"]),
        (
            "Run: chmod 600 ~/'my keys/id_(old)'; then check that you know every key in it.",
            ["chmod 600 ~/'my keys/id_(old)'"],
        ),
        (
            'Run: sudo chown "$USER" ~/.ssh/authorized_keys; then check that you know every key',
            ['sudo chown "$USER" ~/.ssh/authorized_keys'],
        ),
        (
            "If this is a network you trust (your home, your office), mark it once: hygiene "
            "network trust --label NAME",
            ["hygiene network trust --label NAME"],
        ),
        (
            "Make a new key with ssh-keygen -t ed25519, put its .pub where the old key is "
            "accepted.",
            ["ssh-keygen -t ed25519"],
        ),
        (
            "for the home folder alone, fscrypt can encrypt a new, empty home (fscrypt setup, "
            "then fscrypt encrypt).",
            ["fscrypt setup", "fscrypt encrypt"],
        ),
        (
            "keep it in your keyring (for git: git config --global credential.helper libsecret; "
            "for curl: pass it with --netrc-file). Keep the file private: chmod 600 ~/.netrc.",
            ["git config --global credential.helper libsecret", "chmod 600 ~/.netrc"],
        ),
        ("Lock it when idle: xss-lock -- i3lock, in your session start.", ["xss-lock -- i3lock"]),
        ("Sessions as `w` shows them: sign out.", ["w"]),
        ("Stop the program if you do not need it; the hygiene of it is yours.", []),
    ],
)
def test_the_commands_in_advice_are_marked_whole(advice: str, commands: list[str]) -> None:
    from html import unescape

    from agent.page import advice_html

    marked = advice_html(advice)
    found = [
        unescape(re.sub(r"</?span>", "", code))
        for code in re.findall(r'<code class="cmd" tabindex="0">(.*?)</code>', marked)
    ]
    assert found == commands
    # No word lost or added (backticks are how advice marks code; the page marks it instead).
    assert unescape(re.sub(r"<[^>]+>", "", marked)) == advice.replace("`", "")


def test_the_page_module_loads_no_policy_machinery() -> None:
    # The agent rewrites the page itself, and the resident agent carries no pydantic or YAML.
    probe = (
        "import sys, agent.page; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'yaml')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == "[]\n"


def test_a_signed_admin_policy_shows_its_key(machine: Machine, tmp_path: Path) -> None:
    machine.keep_only("ssh_keys")
    private = tmp_path / "admin-key"
    assert _hygiene(machine, "policy", "keygen", "--out", str(private)).code == 0
    keys = machine.admin / "keys"
    keys.mkdir(parents=True)
    (keys / "admin.pub").write_bytes(private.with_name("admin-key.pub").read_bytes())
    policy = machine.admin_policies / "10-acme.yaml"
    policy.write_text("schema: 1\nname: acme\nrevision: 7\n")
    signed = _hygiene(machine, "policy", "sign", str(policy), "--key", str(private))
    assert signed.code == 0, signed.err
    key_id = re.search(r"key: ([0-9a-f]+)", policy.with_name("10-acme.yaml.sig").read_text())
    assert key_id is not None
    done = _hygiene(machine, "page", "--print-path")
    assert done.code == 0, done.err
    text = Path(done.out.strip()).read_text()
    section = text[text.index('<section id="policy"') : text.index('<section id="checks"')]
    assert "only signed admin policies are taken" in section
    assert f"10-acme.yaml (signed by key {key_id.group(1)}" in section
    assert "(admin, acme, revision 7)" in section


def test_a_check_keeps_one_anchor_when_it_has_problems_and_could_not_run(
    machine: Machine,
) -> None:
    from agent.checks import load_checks
    from agent.commands.policy import in_force
    from agent.page import Facts, render
    from agent.paths import Paths
    from agent.store import CheckState, FindingState
    from agent.verdicts import Severity, Status

    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    old = FindingState(
        id="0" * 32,
        check="ssh_keys",
        subject="~/.ssh/id_rsa",
        severity=Severity.high,
        message="~/.ssh/id_rsa has no passphrase.",
        advice="Add a passphrase: ssh-keygen -p -f ~/.ssh/id_rsa",
        first_seen=now - timedelta(days=1),
        last_seen=now - timedelta(hours=1),
        resolved_at=None,
        snoozed_until=None,
        times_notified=0,
        last_notified=None,
    )
    facts = Facts(
        checks=[CheckState("ssh_keys", now, Status.error, "~/.ssh cannot be read")],
        findings=[old],
        held=[],
        snoozes={},
        notifications=[],
    )
    checks = load_checks()
    page = render(
        facts, policy=in_force(Paths.from_environment()), checks=checks, token="t" * 43, now=now
    )
    ids = re.findall(r' id="([^"]+)"', page)
    assert sorted(ids) == sorted(set(ids)), "an id is given twice"
    assert ids.count(check_anchor("ssh_keys")) == 1
    assert "~/.ssh cannot be read" in page  # said under "Could not run", without the id
