"""A fleet on an engine that already exists: Prometheus and the alert rules we ship.

promtool checks install/prometheus/hygiene.rules.yml as shipped, runs its unit test
(hygiene.rules.test.yml, time travel over hours) and lints a textfile the real agent wrote.

Then a live fleet: two devices, each a network namespace with an address of its own, its own
person (home, state, config and admin folders), a real `hygiene run` agent and Debian's
prometheus-node-exporter reading that agent's textfile folder. Device "dirty" keeps an SSH key
without a passphrase, device "clean" one with a passphrase; an admin policy on both turns off
every check but ssh_keys, audited every 5 s. A real Prometheus server (Debian's) on 127.0.0.1
scrapes both every second with the shipped rules, only their durations shortened
(`shortened_rules`, checked to change nothing else), and the test asks its HTTP API what an
admin's Alertmanager would be sent.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from agent.checks import ALL_CHECKS
from tests.conftest import REPO, Machine, require_tool
from tests.desktop import _stop as stop
from tests.netns import Netns, free_subnets
from tests.test_fleet import free_port

T = TypeVar("T")

RULES = REPO / "install" / "prometheus" / "hygiene.rules.yml"
RULES_TEST = RULES.with_name("hygiene.rules.test.yml")
STALE_SECONDS = 1800  # HygieneAgentStale as shipped: no heartbeat for half an hour
SHORT_FOR = "2s"  # every `for:` in the live fleet
SHORT_STALE = 15  # seconds: more than a 5 s cycle, a 1 s scrape and a 1 s evaluation
CYCLE = 5  # seconds: ssh_keys' `every`, so a cycle and a heartbeat come every 5 s
PORT = 9100  # node_exporter's, on each device's own address
HYGIENE = str(Path(sys.executable).with_name("hygiene"))
PASSPHRASE = "a passphrase nobody guesses"
UID = str(os.getuid())


def shipped_alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# --- promtool -----------------------------------------------------------------------------


def test_promtool_accepts_the_shipped_rules() -> None:
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(shipped_alerts())} rules found" in done.stdout
    names = {rule["alert"] for rule in shipped_alerts()}
    assert {
        "HygieneCheckFailing",
        "HygieneAgentStale",
        "HygieneCriticalFinding",
        "HygienePolicyRejected",
        "HygieneCheckDisabledByUser",
    } <= names
    for rule in shipped_alerts():
        for text in rule["annotations"].values():
            assert "{{ $labels.instance }}" in text and "{{ $labels.uid }}" in text, rule["alert"]


def test_the_docs_list_every_shipped_alert_with_its_wait_and_severity() -> None:
    docs = (REPO / "docs" / "fleet.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(Hygiene\w+)` \| .+ \| (\w+) \| (\w+) \|$", docs, re.MULTILINE)
    shipped = [(r["alert"], r["for"], r["labels"]["severity"]) for r in shipped_alerts()]
    assert rows == shipped


def test_promtool_unit_test_of_the_rules_as_shipped() -> None:
    spec = yaml.safe_load(RULES_TEST.read_text(encoding="utf-8"))
    assert spec["rule_files"] == [RULES.name]  # the shipped file itself, not a copy
    cases = [case for test in spec["tests"] for case in test["alert_rule_test"]]
    for rule in shipped_alerts():
        mine = [case for case in cases if case["alertname"] == rule["alert"]]
        assert any(case["exp_alerts"] for case in mine), f"{rule['alert']} is never seen firing"
        assert any(not case["exp_alerts"] for case in mine), f"{rule['alert']} never held back"
    stale = [case for case in cases if case["alertname"] == "HygieneAgentStale"]
    # Stale only after half an hour without a heartbeat (times there are in minutes).
    assert any(case["exp_alerts"] and int(case["eval_time"][:-1]) > 30 for case in stale)
    done = promtool("test", "rules", str(RULES_TEST))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_promtool_lints_the_textfile_the_agent_wrote(
    tmp_path: Path, make_key: Callable[..., Path]
) -> None:
    device = Machine.at(tmp_path)
    make_key(device.ssh / "id_ed25519")
    textfiles = tmp_path / "textfiles"
    textfiles.mkdir()  # the admin's to make: the agent never does
    (device.admin_policies / "fleet.yaml").write_text(fleet_policy(textfiles))
    done = subprocess.run(
        [HYGIENE, "run", "--once"],
        env=quiet(device.env()),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert [p.name for p in textfiles.iterdir()] == [f"hygiene-{UID}.prom"]
    text = (textfiles / f"hygiene-{UID}.prom").read_text(encoding="utf-8")
    assert f'hygiene_check_failing{{check="ssh_keys",uid="{UID}"}} 1' in text
    assert f'hygiene_agent_heartbeat_timestamp_seconds{{uid="{UID}"}}' in text
    linted = promtool("check", "metrics", stdin=text)  # it reads the exposition on stdin
    assert (linted.returncode, linted.stdout + linted.stderr) == (0, "")


# --- the live fleet -----------------------------------------------------------------------


def fleet_policy(textfiles: Path) -> str:
    """The admin policy of both devices: only ssh_keys, every 5 s, reported to node_exporter."""
    off = "".join(f"  {c.id}: {{enabled: false}}\n" for c in ALL_CHECKS if c.id != "ssh_keys")
    return (
        f"schema: 1\nchecks:\n{off}  ssh_keys: {{every: {CYCLE}s}}\n"
        f"report: {{prometheus_dir: '{textfiles}'}}\n"
    )


def quiet(env: dict[str, str]) -> dict[str, str]:
    """An environment with no desktop: the agent's notices go to its log."""
    gone = ("DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY")
    return {k: v for k, v in env.items() if k not in gone}


def shortened_rules(shipped: str, *, wait: str, stale_seconds: int) -> str:
    """The shipped rules with their durations shortened for a test that lasts seconds: every
    `for:` becomes `wait`, and HygieneAgentStale's "> 1800" becomes "> stale_seconds".
    Nothing else changes (`changed_fields` says so)."""
    document = yaml.safe_load(shipped)
    for group in document["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = wait
            rule["expr"] = rule["expr"].replace(f"> {STALE_SECONDS})", f"> {stale_seconds})")
    return yaml.safe_dump(document, sort_keys=False)


def changed_fields(shipped: str, shortened: str) -> dict[str, tuple[object, object]]:
    """Each rule field that differs, as "ALERT.field": (shipped, shortened); groups and the
    fields of each rule must be the same."""
    before, after = yaml.safe_load(shipped), yaml.safe_load(shortened)
    assert before.keys() == after.keys()
    changed: dict[str, tuple[object, object]] = {}
    for old, new in zip(before["groups"], after["groups"], strict=True):
        assert {k: v for k, v in old.items() if k != "rules"} == {
            k: v for k, v in new.items() if k != "rules"
        }
        for a, b in zip(old["rules"], new["rules"], strict=True):
            assert a.keys() == b.keys(), a["alert"]
            changed |= {f"{a['alert']}.{k}": (a[k], b[k]) for k in a if a[k] != b[k]}
    return changed


@dataclass
class Device:
    name: str
    address: str
    machine: Machine
    textfiles: Path
    netns: Netns
    logs: Path
    agent: subprocess.Popen[str] | None = None

    @property
    def instance(self) -> str:
        return f"{self.address}:{PORT}"

    def log_tails(self) -> str:
        return "".join(
            f"\n--- {self.name}: {log.name} ---\n{log.read_text(errors='replace')[-3000:]}"
            for log in sorted(self.logs.glob("*.log"))
        )


@dataclass
class Fleet:
    devices: dict[str, Device]
    prometheus: str = ""  # the server's base URL
    prometheus_log: Path | None = None
    started: float = field(default_factory=time.monotonic)

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.prometheus}{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local http
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def alerts(self, instance: str, state: str | None = None) -> list[dict[str, Any]]:
        """The alerts Prometheus holds now for one device (pending and firing)."""
        return [
            alert
            for alert in self.api("/api/v1/alerts")["alerts"]
            if alert["labels"].get("instance") == instance and state in (None, alert["state"])
        ]

    def ever(self, instance: str) -> set[tuple[str, str]]:
        """Every (alert, state) Prometheus has had for a device since the fleet started."""
        seconds = int(time.monotonic() - self.started) + 5
        query = f'count_over_time(ALERTS{{instance="{instance}"}}[{seconds}s])'
        found = self.api("/api/v1/query", query=query)["result"]
        return {(r["metric"]["alertname"], r["metric"]["alertstate"]) for r in found}

    def until(self, what: str, probe: Callable[[], T | None], timeout: float) -> T:
        """Poll `probe` until it returns something; fail naming `what`, with every log."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = probe()
            except OSError:  # not up yet, or refused for now
                value = None
            if value is not None:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"{what} did not happen within {timeout:g} s{self.evidence()}")
            time.sleep(0.2)

    def evidence(self) -> str:
        said = "".join(d.log_tails() for d in self.devices.values())
        if self.prometheus_log is not None:
            tail = self.prometheus_log.read_text(errors="replace")[-4000:]
            said += f"\n--- prometheus ---\n{tail}"
        if self.prometheus:
            try:
                alerts = json.dumps(self.api("/api/v1/alerts"), indent=1)
            except (OSError, AssertionError) as err:
                alerts = f"not readable ({err})"
            said += f"\n--- alerts ---\n{alerts}"
        return said


def scrapeable(url: str) -> bool | None:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local http
        return True if response.status == 200 else None


def start_device(
    fleet: Fleet, make_netns: Callable[[], Netns], root: Path, name: str, network: str
) -> Device:
    """A device: its namespace at NETWORK.2 (the machine at NETWORK.1), its person's folders
    and admin policy, and node_exporter on its own address."""
    exporter = require_tool("prometheus-node-exporter")
    (root / name).mkdir()
    netns = make_netns()
    netns.uplink(f"{network}.1", f"{network}.2")
    logs = root / name / "logs"
    logs.mkdir()
    device = Device(
        name, f"{network}.2", Machine.at(root / name), root / name / "textfiles", netns, logs
    )
    device.textfiles.mkdir(mode=0o755)
    (device.machine.admin_policies / "fleet.yaml").write_text(fleet_policy(device.textfiles))
    fleet.devices[name] = device
    netns.spawn(
        exporter,
        f"--web.listen-address={device.instance}",
        "--collector.disable-defaults",
        "--collector.textfile",
        f"--collector.textfile.directory={device.textfiles}",
        log=logs / "node_exporter.log",
    )
    fleet.until(
        f"{name}'s node_exporter answering on {device.instance}",
        lambda: scrapeable(f"http://{device.instance}/metrics"),
        20,
    )
    return device


def start_agent(fleet: Fleet, device: Device) -> None:
    env = quiet(device.machine.env())
    device.agent = device.netns.spawn(HYGIENE, "run", env=env, log=device.logs / "agent.log")
    fleet.until(
        f"{device.name}'s agent writing its textfile",
        lambda: next(device.textfiles.glob("*.prom"), None),
        30,
    )


def live_rules(root: Path) -> Path:
    """The shipped rules, shortened for the live fleet, after checking that only their
    durations differ: each `for:` and the stale threshold."""
    shipped = RULES.read_text(encoding="utf-8")
    short = shortened_rules(shipped, wait=SHORT_FOR, stale_seconds=SHORT_STALE)
    expected: dict[str, tuple[object, object]] = {
        f"{rule['alert']}.for": (rule["for"], SHORT_FOR)
        for rule in shipped_alerts()
        if "for" in rule
    }
    stale = next(r for r in shipped_alerts() if r["alert"] == "HygieneAgentStale")["expr"]
    assert stale.count(f"> {STALE_SECONDS})") == 1
    expected["HygieneAgentStale.expr"] = (
        stale,
        stale.replace(f"> {STALE_SECONDS})", f"> {SHORT_STALE})"),
    )
    assert changed_fields(shipped, short) == expected
    rules = root / "hygiene.rules.yml"
    rules.write_text(short, encoding="utf-8")
    return rules


def start_prometheus(fleet: Fleet, root: Path) -> subprocess.Popen[bytes]:
    """Debian's Prometheus on 127.0.0.1, scraping every device each second with the live
    rules; its data in `root`."""
    binary = require_tool("prometheus")
    root.mkdir()
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(live_rules(root))],
        "scrape_configs": [
            {
                "job_name": "node",
                "static_configs": [{"targets": [d.instance for d in fleet.devices.values()]}],
            }
        ],
    }
    path = root / "prometheus.yml"
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")  # JSON is YAML
    checked = promtool("check", "config", str(path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    port = free_port()
    fleet.prometheus = f"http://127.0.0.1:{port}"
    fleet.prometheus_log = root / "prometheus.log"
    with fleet.prometheus_log.open("wb") as log:
        return subprocess.Popen(
            [
                binary,
                f"--config.file={path}",
                f"--storage.tsdb.path={root / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture
def fleet(
    tmp_path: Path, make_netns: Callable[[], Netns], make_key: Callable[..., Path]
) -> Iterator[Fleet]:
    """Devices "dirty" and "clean" (10.213.N.2, each on a network of its own), each with
    node_exporter and its agent running, and Prometheus scraping both; all stopped afterwards."""
    require_tool("prometheus")  # before anything starts: skipped, or failed under CI
    fleet = Fleet({})
    first, second = free_subnets(2)
    dirty = start_device(fleet, make_netns, tmp_path, "dirty", first)
    make_key(dirty.machine.ssh / "id_ed25519")
    clean = start_device(fleet, make_netns, tmp_path, "clean", second)
    make_key(clean.machine.ssh / "id_ed25519", passphrase=PASSPHRASE)
    for device in (dirty, clean):
        start_agent(fleet, device)
    prometheus = start_prometheus(fleet, tmp_path / "prometheus")
    try:
        fleet.until("Prometheus ready", lambda: scrapeable(f"{fleet.prometheus}/-/ready"), 30)
        yield fleet
    finally:
        stop(prometheus)
        for device in fleet.devices.values():
            assert "Traceback" not in (device.logs / "agent.log").read_text(errors="replace")


def value_of(fleet: Fleet, query: str) -> float | None:
    """The one value `query` gives now, or None while it gives none."""
    found = fleet.api("/api/v1/query", query=query)["result"]
    assert len(found) <= 1, found
    return float(found[0]["value"][1]) if found else None


def test_prometheus_alerts_on_the_dirty_device_and_on_the_stopped_agent(fleet: Fleet) -> None:
    dirty, clean = fleet.devices["dirty"], fleet.devices["clean"]
    failing = 'hygiene_check_failing{{instance="{}",check="ssh_keys",uid="{}"}}'
    # Both devices are scraped: the clean one's ssh_keys passes, the dirty one's fails.
    for device, expected in ((dirty, 1.0), (clean, 0.0)):
        query = failing.format(device.instance, UID)
        fleet.until(f"{query} in Prometheus", partial(value_of, fleet, query), 20)
        assert value_of(fleet, query) == expected, query

    firing = fleet.until(
        "HygieneCheckFailing firing for the dirty device",
        lambda: fleet.alerts(dirty.instance, "firing") or None,
        20,
    )
    (alert,) = firing
    assert alert["labels"] == {
        "alertname": "HygieneCheckFailing",
        "check": "ssh_keys",
        "instance": dirty.instance,
        "job": "node",
        "severity": "warning",
        "uid": UID,
    }
    assert alert["annotations"]["summary"] == f"ssh_keys fails on {dirty.instance} (user id {UID})"
    assert fleet.alerts(clean.instance) == [], fleet.evidence()
    assert fleet.ever(clean.instance) == set(), fleet.evidence()

    # The clean device's agent is alive and well until it is stopped.
    age = f'time() - hygiene_agent_heartbeat_timestamp_seconds{{instance="{clean.instance}"}}'
    assert (value_of(fleet, age) or 0.0) < SHORT_STALE, fleet.evidence()
    assert clean.agent is not None
    clean.agent.send_signal(signal.SIGTERM)
    assert clean.agent.wait(timeout=10) == 0, fleet.evidence()
    stopped = time.monotonic()
    stale = fleet.until(
        "HygieneAgentStale firing for the clean device, whose agent was stopped",
        lambda: fleet.alerts(clean.instance, "firing") or None,
        SHORT_STALE + 30,
    )
    took = time.monotonic() - stopped
    (alert,) = stale
    assert alert["labels"] == {
        "alertname": "HygieneAgentStale",
        "instance": clean.instance,
        "job": "node",
        "severity": "warning",
        "uid": UID,
    }
    assert float(alert["value"]) > SHORT_STALE
    assert took > SHORT_STALE - CYCLE  # the last heartbeat was at most a cycle old
    # The dirty device's agent still runs: never stale, and its failing check still fires.
    failing_now = [a["labels"]["alertname"] for a in fleet.alerts(dirty.instance, "firing")]
    assert failing_now == ["HygieneCheckFailing"], fleet.evidence()
    pending_firing = {"pending", "firing"}
    assert fleet.ever(dirty.instance) == {("HygieneCheckFailing", s) for s in pending_firing}
    assert fleet.ever(clean.instance) == {("HygieneAgentStale", s) for s in pending_firing}
