"""`updates` on Debian with the real apt: local file:// repositories built here (dpkg-deb,
apt-ftparchive), apt pointed at private folders through APT_CONFIG, `apt-get update` run by
the test, and the real `apt-get -s upgrade` asked by the check (tests/apt_repo.py)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.checks.base import CheckContext
from agent.checks.updates import UpdatesCheck, UpdatesParams
from agent.durations import parse_duration
from agent.errors import CheckSkipped
from agent.fingerprint import Fingerprinter
from agent.models import Finding, Severity
from agent.paths import Paths
from agent.store import CachedPath, Store
from tests.apt_repo import AptRepo, build
from tests.conftest import Machine, require_tool, run_hygiene

DAY = 86400.0


@pytest.fixture
def repo(tmp_path: Path) -> AptRepo:
    for tool in ("apt-get", "apt-config", "apt-ftparchive", "dpkg-deb"):
        require_tool(tool)
    found = build(tmp_path / "apt")
    found.update()
    return found


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "state") as opened:
        yield opened


class Run:
    def __init__(self, check: UpdatesCheck, findings: list[Finding]) -> None:
        self.check = check
        self.findings = findings
        self.notes = check.notes

    def reasons(self) -> list[str]:
        return [str(f.evidence["reason"]) for f in self.findings]

    def one(self, reason: str) -> Finding:
        (found,) = [f for f in self.findings if f.evidence["reason"] == reason]
        return found


def run(
    repo: AptRepo,
    tmp_path: Path,
    *,
    store: Store | None = None,
    env: dict[str, str] | None = None,
    **params: Any,
) -> Run:
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    ctx = CheckContext(
        paths=Paths(tmp_path, state / "u", state / "a", state),
        fingerprint=Fingerprinter.for_state_dir(state),
        env=env if env is not None else repo.env,
        store=store,
    )
    given: dict[str, Any] = {
        k: parse_duration(v) if isinstance(v, str) else v for k, v in params.items()
    }
    check = UpdatesCheck(UpdatesParams(**given))
    return Run(check, check.run(ctx))


def fake_tool(folder: Path, name: str, script: str) -> None:
    folder.mkdir(exist_ok=True)
    tool = folder / name
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)


# --- what is waiting -------------------------------------------------------------------------


def test_fresh_security_updates_are_within_the_grace_and_normal_ones_do_not_count(
    repo: AptRepo, tmp_path: Path
) -> None:
    done = run(repo, tmp_path)
    assert "security updates waiting" not in done.reasons()
    # hyg-openssl, hyg-curl and hyg-kernel come from the security archive; hyg-tzdata from
    # stable-updates.
    assert done.check.passed is not None
    assert done.check.passed.startswith(
        "3 security updates wait, seen waiting for less than 3 days so far: install them now"
    )
    assert "sudo apt upgrade" in done.check.passed


def test_security_updates_waiting_longer_than_allowed_are_named(
    repo: AptRepo, tmp_path: Path
) -> None:
    repo.age_lists(5 * DAY)
    done = run(repo, tmp_path)
    waiting = done.one("security updates waiting")
    assert waiting.severity is None  # the check's own: high
    assert waiting.evidence["count"] == 3
    assert waiting.evidence["waited_days"] == 5
    assert "hyg-openssl" in waiting.message and "hyg-curl" in waiting.message
    # The kernel's update needs a new package: counted once, as `apt upgrade` installs it.
    assert "hyg-kernel" in waiting.message and "hyg-kernel-6.2" not in waiting.message
    assert "hyg-tzdata" not in waiting.message and "hyg-kept" not in waiting.message
    assert "at least 5 days" in waiting.message
    assert "sudo apt upgrade" in waiting.advice
    assert "lists not fetched" not in done.reasons()  # 5 days is within max_list_age


def test_many_waiting_are_named_by_a_few_and_counted(tmp_path: Path) -> None:
    for tool in ("apt-get", "apt-config", "apt-ftparchive", "dpkg-deb"):
        require_tool(tool)
    big = build(tmp_path / "apt", extra_security=6)
    big.update()
    big.age_lists(4 * DAY)
    waiting = run(big, tmp_path).one("security updates waiting")
    assert waiting.evidence["count"] == 9
    assert "and 6 more" in waiting.message


def test_a_security_update_that_needs_a_normal_update_still_counts(tmp_path: Path) -> None:
    """apt is given the security archive's lists alone (they are a few thousand packages of
    sixty thousand); an update that needs a newer package from a normal archive is then kept
    back by apt, and still counted as waiting."""
    for tool in ("apt-get", "apt-config", "apt-ftparchive", "dpkg-deb"):
        require_tool(tool)
    repo = build(tmp_path / "apt", needs_normal=True)
    repo.update()
    repo.age_lists(4 * DAY)
    waiting = run(repo, tmp_path).one("security updates waiting")
    assert waiting.evidence["count"] == 4
    assert "hyg-needs" in waiting.message
    assert "hyg-base" not in waiting.message and "hyg-tzdata" not in waiting.message


def test_an_upgraded_package_is_no_longer_waiting(repo: AptRepo, tmp_path: Path) -> None:
    repo.age_lists(5 * DAY)
    status = repo.status.read_text().replace("Version: 1.0\n", "Version: 1.1\n")
    repo.status.write_text(status)  # as dpkg would after installing hyg-openssl 1.1
    waiting = run(repo, tmp_path).one("security updates waiting")
    assert waiting.evidence["count"] == 2
    assert "hyg-curl" in waiting.message and "hyg-openssl" not in waiting.message


def test_stale_lists_mean_updates_are_not_checked_for(repo: AptRepo, tmp_path: Path) -> None:
    repo.age_lists(10 * DAY)
    done = run(repo, tmp_path)
    stale = done.one("lists not fetched")
    assert stale.severity is Severity.medium
    assert stale.evidence["days"] == 10
    assert "10 days ago" in stale.message
    assert "sudo apt update" in stale.advice
    # Updates in lists 10 days old have waited at least that long.
    assert done.one("security updates waiting").evidence["waited_days"] == 10
    assert "lists not fetched" not in run(repo, tmp_path, max_list_age="14d").reasons()


def test_the_update_stamp_counts_as_a_fetch(repo: AptRepo, tmp_path: Path) -> None:
    # apt's own hook touched update-success-stamp at the update; lists unchanged since (a
    # server that answered "not modified") are still checked for.
    repo.age_lists(10 * DAY)
    stamp = repo.root / "state" / "periodic" / "update-success-stamp"
    stamp.touch()
    assert "lists not fetched" not in run(repo, tmp_path).reasons()


# --- automatic updates and restarts ----------------------------------------------------------


@pytest.mark.parametrize(
    ("installed", "periodic", "reported"),
    [
        (False, None, "the unattended-upgrades package is not installed"),
        (False, "1", "the unattended-upgrades package is not installed"),
        (True, "0", "APT::Periodic::Unattended-Upgrade is 0 or not set"),
        (True, None, "APT::Periodic::Unattended-Upgrade is 0 or not set"),
        (True, "1", None),
        (True, "always", None),
    ],
)
def test_automatic_security_updates(
    repo: AptRepo, tmp_path: Path, installed: bool, periodic: str | None, reported: str | None
) -> None:
    repo.unattended(installed=installed, periodic=periodic)
    done = run(repo, tmp_path)
    if reported is None:
        assert "not automatic" not in done.reasons()
    else:
        off = done.one("not automatic")
        assert reported in off.message
        assert "sudo dpkg-reconfigure -plow unattended-upgrades" in off.advice
        assert "not automatic" not in run(repo, tmp_path, require_automatic=False).reasons()


def test_a_restart_waiting_longer_than_allowed(repo: AptRepo, tmp_path: Path) -> None:
    flag = Path(repo.env["HYGIENE_REBOOT_REQUIRED"])
    flag.write_text("*** System restart required ***\n")
    Path(f"{flag}.pkgs").write_text("linux-image-amd64\nlibc6\nlibc6\n")
    fresh = run(repo, tmp_path)
    assert "restart waiting" not in fresh.reasons()
    assert any("A restart is waiting" in n for n in fresh.notes)
    old = time.time() - 4 * DAY
    os.utime(flag, (old, old))
    restart = run(repo, tmp_path).one("restart waiting")
    assert "linux-image-amd64, libc6)" in restart.message
    assert "for 4 days" in restart.message
    assert "sudo reboot" in restart.advice


# --- what the agent remembers ----------------------------------------------------------------


def test_the_first_sighting_in_the_store_counts_when_lists_are_fresh(
    repo: AptRepo, tmp_path: Path, store: Store
) -> None:
    first = run(repo, tmp_path, store=store)
    assert "security updates waiting" not in first.reasons()
    kept = {r.path: r for r in store.scan_cache("updates", f"1 {repo.env['APT_CONFIG']}")}
    assert set(kept) >= {"updates:since:hyg-openssl=1.0", "updates:since:hyg-curl=7.0"}
    assert not any("tzdata" in path for path in kept)
    # Four days later, by the store: the agent saw hyg-openssl 1.0 waiting back then.
    then = (datetime.now(UTC) - timedelta(days=4)).isoformat()
    rows = [
        r._replace(record={"since": then}) if r.path == "updates:since:hyg-openssl=1.0" else r
        for r in kept.values()
    ]
    store.keep_scan_cache("updates", f"1 {repo.env['APT_CONFIG']}", rows, list(kept.values()))
    repo.update()  # the lists are fetched again: they say nothing of the four days
    waiting = run(repo, tmp_path, store=store).one("security updates waiting")
    assert waiting.evidence["count"] == 1
    assert "hyg-openssl" in waiting.message and "hyg-curl" not in waiting.message


def test_a_failed_listing_keeps_the_first_sightings(
    repo: AptRepo, tmp_path: Path, store: Store
) -> None:
    version = f"1 {repo.env['APT_CONFIG']}"
    run(repo, tmp_path, store=store)
    seen = {r.path: r.record for r in store.scan_cache("updates", version)}
    later = time.time() + 2
    os.utime(repo.status, (later, later))  # something changed: apt is asked again, and fails
    env = _with_fake_apt_get(repo, tmp_path, "exit 100")
    run(repo, tmp_path, store=store, env=env)
    after = {r.path: r.record for r in store.scan_cache("updates", version)}
    assert {p: r for p, r in after.items() if p.startswith("updates:since:")} == {
        p: r for p, r in seen.items() if p.startswith("updates:since:")
    }
    assert len([p for p in after if p.startswith("updates:since:")]) == 3


def test_unchanged_lists_are_answered_without_asking_apt(
    repo: AptRepo, tmp_path: Path, store: Store
) -> None:
    repo.age_lists(5 * DAY)
    first = run(repo, tmp_path, store=store).one("security updates waiting")
    # apt is gone from PATH: only the kept answer can say what waits.
    no_apt = {**repo.env, "PATH": str(tmp_path / "empty")}
    again = run(repo, tmp_path, store=store, env=no_apt).one("security updates waiting")
    assert again.message == first.message
    # The person installs hyg-curl: dpkg's status changes, so the kept answer is not used.
    repo.status.write_text(repo.status.read_text().replace("Version: 7.0\n", "Version: 7.1\n"))
    later = time.time() + 2  # apt itself tells a changed status by its size and second
    os.utime(repo.status, (later, later))
    with pytest.raises(CheckSkipped, match="no package manager this agent knows"):
        run(repo, tmp_path, store=store, env=no_apt)
    after = run(repo, tmp_path, store=store).one("security updates waiting")
    assert after.evidence["count"] == 2


def test_hygiene_check_reads_what_the_agent_kept(
    repo: AptRepo, tmp_path: Path, store: Store
) -> None:
    repo.age_lists(5 * DAY)
    run(repo, tmp_path, store=store)
    store.close()
    no_apt = {**repo.env, "PATH": str(tmp_path / "empty")}
    # No store given (as `hygiene check`): the kept answer is read read-only.
    waiting = run(repo, tmp_path, env=no_apt).one("security updates waiting")
    assert waiting.evidence["count"] == 3


# --- bad input ---------------------------------------------------------------------------------


def test_no_package_manager_is_a_skip(repo: AptRepo, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckSkipped, match=r"^no package manager this agent knows \(apt"):
        run(repo, tmp_path, env={**repo.env, "PATH": str(tmp_path / "empty")})


def _with_fake_apt_get(repo: AptRepo, tmp_path: Path, script: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "apt-get", script)
    fake_tool(bin_dir, "apt", script)  # what apt lists given the security lists alone
    return {**repo.env, "PATH": f"{bin_dir}:{repo.env['PATH']}"}


@pytest.mark.parametrize(
    ("script", "note"),
    [
        ("echo 'E: The package lists are damaged' >&2; exit 100", "exit status 100"),
        ("head -c 3000 /dev/urandom; exit 0", "answered in a form this agent does not know"),
        ("echo 'Inst broken'; exit 0", "answered in a form this agent does not know"),
        ("exec sleep 60", "did not answer within 1 seconds"),
        ("yes 'Inst x [1] (2 Debian-Security:12/stable-security [all])'", "printed more than"),
    ],
)
def test_an_apt_get_that_fails_is_a_note_and_the_rest_is_still_checked(
    repo: AptRepo, tmp_path: Path, script: str, note: str
) -> None:
    env = _with_fake_apt_get(repo, tmp_path, script)
    started = time.monotonic()
    done = run(repo, tmp_path, env=env, timeout="3s")
    assert time.monotonic() - started < 10
    assert any(note in n for n in done.notes), done.notes
    assert "security updates waiting" not in done.reasons()
    assert "not automatic" in done.reasons()  # what could be read is still judged
    for text in done.notes:
        assert "damaged" not in text  # apt's own words are never shown


def test_unreadable_lists_are_a_note(repo: AptRepo, tmp_path: Path) -> None:
    moved = repo.lists.with_name("lists-moved")
    repo.lists.rename(moved)
    repo.lists.symlink_to(repo.lists)  # a loop: ELOOP for whoever opens it
    done = run(repo, tmp_path)
    assert any("package lists could not be read" in n for n in done.notes), done.notes
    assert "lists not fetched" not in done.reasons()


def test_no_lists_yet_is_a_note(tmp_path: Path) -> None:
    for tool in ("apt-get", "apt-config", "apt-ftparchive", "dpkg-deb"):
        require_tool(tool)
    fresh = build(tmp_path / "apt")  # no apt-get update
    done = run(fresh, tmp_path)
    assert any("apt has no package lists yet" in n for n in done.notes), done.notes


def test_a_fifo_for_dpkg_status_is_not_opened(repo: AptRepo, tmp_path: Path) -> None:
    # apt-get itself would block on it: a fake one answers, the probe must not block either.
    env = _with_fake_apt_get(repo, tmp_path, "echo '0 upgraded, 0 newly installed'; exit 0")
    repo.status.unlink()
    os.mkfifo(repo.status)
    done = run(repo, tmp_path, env=env, timeout="5s")
    assert any("dpkg's status file could not be read" in n for n in done.notes), done.notes


def test_a_store_that_cannot_be_read_is_a_note(repo: AptRepo, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "store.db").write_bytes(b"this is not a database" * 100)
    done = run(repo, tmp_path)
    assert "not automatic" in done.reasons()
    assert all("Traceback" not in n for n in done.notes)


def test_cached_rows_that_are_damaged_are_a_fresh_look(
    repo: AptRepo, tmp_path: Path, store: Store
) -> None:
    version = f"1 {repo.env['APT_CONFIG']}"
    store.keep_scan_cache("updates", version, [CachedPath("updates:answer", None, {"manager": 3})])
    repo.age_lists(5 * DAY)
    assert run(repo, tmp_path, store=store).one("security updates waiting").evidence["count"] == 3


def test_a_pass_never_claims_what_was_not_seen(repo: AptRepo, tmp_path: Path) -> None:
    repo.unattended(installed=True, periodic="1")
    env = _with_fake_apt_get(repo, tmp_path, "exit 100")
    done = run(repo, tmp_path, env=env)
    assert done.findings == []
    assert done.check.passed == (
        "nothing else needs doing, but what apt would install could not be told (see the note)"
    )


# --- as a person runs it ---------------------------------------------------------------------


def test_hygiene_check_json(repo: AptRepo, machine: Machine) -> None:
    repo.age_lists(5 * DAY)
    env = {**os.environ, **machine.env(), **repo.env}
    done = run_hygiene(["check", "--only", "updates", "--json"], env)
    assert done.code == 1, done.err
    (result,) = json.loads(done.out)["results"]
    assert result["status"] == "fail" and result["error"] is None
    reasons = {f["evidence"]["reason"]: f for f in result["findings"]}
    assert set(reasons) == {"security updates waiting", "not automatic"}
    assert reasons["security updates waiting"]["evidence"]["count"] == 3
    assert reasons["not automatic"]["severity"] == "medium"


def test_hygiene_check_without_a_package_manager_skips(repo: AptRepo, machine: Machine) -> None:
    empty = machine.home / "bin"
    empty.mkdir()
    env = {**os.environ, **machine.env(), **repo.env, "PATH": str(empty)}
    done = run_hygiene(["check", "--only", "updates"], env)
    assert done.code == 0, done.err
    assert "SKIP" in done.out and "no package manager this agent knows" in done.out
    assert "Traceback" not in done.err
