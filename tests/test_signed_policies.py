"""Admin policies once an admin installs a signing key: what is applied, what is refused,
and what stays in force, as a person and an admin see it through the CLI.

Keys and signatures are made by `hygiene policy keygen` and `hygiene policy sign` (the
signing module is tested against openssl in tests/test_signing.py).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Machine, Outcome


@pytest.fixture
def admin_key(machine: Machine, hygiene: Callable[..., Outcome], tmp_path: Path) -> Path:
    """The admin's private key; its public half installed in the admin folder's keys/."""
    private = tmp_path / "admin-key"
    assert hygiene("policy", "keygen", "--out", str(private)).code == 0
    keys = machine.admin / "keys"
    keys.mkdir(parents=True)
    shutil.copy(private.with_name("admin-key.pub"), keys / "admin.pub")
    return private


def admin_policy(machine: Machine, revision: int, bits: int, name: str = "10-acme.yaml") -> Path:
    path = machine.admin_policies / name
    path.write_text(
        f"schema: 1\nname: acme\nrevision: {revision}\n"
        f"checks:\n  ssh_keys: {{min_rsa_bits: {bits}}}\n"
    )
    return path


def shown(hygiene: Callable[..., Outcome]) -> dict[str, Any]:
    outcome = hygiene("policy", "show", "--json")
    data = json.loads(outcome.out)
    assert isinstance(data, dict)
    # Exit 1 when a policy is not applied as written, so that scripts notice; 0 otherwise.
    assert outcome.code == (1 if data["admin"]["rejected"] else 0), outcome.err
    return data


def bits_and_origin(hygiene: Callable[..., Outcome]) -> tuple[int, str]:
    entry = shown(hygiene)["checks"]["ssh_keys"]
    return entry["settings"]["min_rsa_bits"], entry["from"].get("min_rsa_bits", "")


def test_without_keys_admin_policies_apply_unsigned(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    path = admin_policy(machine, 1, 3072)
    assert bits_and_origin(hygiene) == (3072, str(path))
    assert shown(hygiene)["admin"]["trust"] == "unsigned"
    assert "admin policies: taken unsigned (no trusted keys installed)" in (
        hygiene("policy", "show").out
    )


def test_a_signed_policy_applies_and_says_by_which_key(
    machine: Machine, hygiene: Callable[..., Outcome], admin_key: Path
) -> None:
    path = admin_policy(machine, 1, 3072)
    assert hygiene("policy", "sign", str(path), "--key", str(admin_key)).code == 0
    bits, origin = bits_and_origin(hygiene)
    assert bits == 3072
    assert origin.startswith(f"{path} (signed by key ") and origin.endswith("(admin.pub))")
    assert shown(hygiene)["admin"]["trust"] == "signed"


def test_unsigned_tampered_and_unknown_key_are_rejected_and_the_last_good_stays(
    machine: Machine, hygiene: Callable[..., Outcome], admin_key: Path, tmp_path: Path
) -> None:
    path = admin_policy(machine, 1, 3072)
    # Unsigned while a key is installed: refused, nothing of it applies.
    check = hygiene("check", "--only", "ssh_keys")
    assert f"{path} was rejected: no signature (no 10-acme.yaml.sig); no earlier copy was " in (
        check.err
    )
    assert bits_and_origin(hygiene)[0] == 2048  # the built-in default
    status = " ".join(hygiene("status").out.split())  # long paths wrap
    assert f"POLICY {path} was rejected: no signature (no 10-acme.yaml.sig)" in status

    # Signed: applied, and kept as the last good copy.
    assert hygiene("policy", "sign", str(path), "--key", str(admin_key)).code == 0
    assert bits_and_origin(hygiene)[0] == 3072
    assert "POLICY" not in hygiene("status").out

    # Tampered after signing: refused; the last good copy stays in force.
    path.write_text(path.read_text().replace("3072", "1024"))
    data = shown(hygiene)
    assert data["checks"]["ssh_keys"]["settings"]["min_rsa_bits"] == 3072
    assert data["admin"]["rejected"] == [
        f"{path} was rejected: the signature does not match the file (tampered, or signed by "
        "another key); its last good copy stays in force."
    ]
    assert (
        "(the last good copy, revision 1, signed by key "
        in (data["checks"]["ssh_keys"]["from"]["min_rsa_bits"])
    )

    # Signed by a key the device does not trust: refused the same way.
    other = tmp_path / "other-key"
    assert hygiene("policy", "keygen", "--out", str(other)).code == 0
    assert hygiene("policy", "sign", str(path), "--key", str(other)).code == 0
    rejected = shown(hygiene)["admin"]["rejected"]
    assert "which is not among the trusted keys in" in rejected[0]
    assert bits_and_origin(hygiene)[0] == 3072


def test_a_lower_revision_is_a_downgrade_and_refused(
    machine: Machine, hygiene: Callable[..., Outcome], admin_key: Path
) -> None:
    path = admin_policy(machine, 5, 4096)
    assert hygiene("policy", "sign", str(path), "--key", str(admin_key)).code == 0
    assert bits_and_origin(hygiene)[0] == 4096
    # An old policy, properly signed, sent again (a replay): refused.
    admin_policy(machine, 3, 2048)
    assert hygiene("policy", "sign", str(path), "--key", str(admin_key)).code == 0
    data = shown(hygiene)
    assert data["checks"]["ssh_keys"]["settings"]["min_rsa_bits"] == 4096
    assert data["admin"]["rejected"] == [
        f"{path} was rejected: its revision 3 of 'acme' is lower than revision 5 in force (an "
        "old policy sent again); its last good copy stays in force."
    ]
    # A newer one is taken; policy show says which revision of which policy is in force.
    admin_policy(machine, 6, 3072)
    assert hygiene("policy", "sign", str(path), "--key", str(admin_key)).code == 0
    assert bits_and_origin(hygiene)[0] == 3072
    assert shown(hygiene)["admin"]["rejected"] == []
    (layer,) = [la for la in shown(hygiene)["layers"] if la["level"] == "admin"]
    assert (layer["name"], layer["revision"]) == ("acme", 6)
    assert "  # acme, revision 6" in hygiene("policy", "show").out


def test_sources_and_report_are_admin_only(
    machine: Machine, hygiene: Callable[..., Outcome]
) -> None:
    (machine.user_policies / "me.yaml").write_text(
        "schema: 1\nsources: {urls: ['https://example.org/p.yaml']}\nreport: {details: true}\n"
    )
    data = shown(hygiene)
    assert data["admin"]["pulled_sources"]["urls"] == []
    assert data["admin"]["report"]["details"] is False
    assert any("sources is only honoured in admin policy files" in w for w in data["warnings"])
    bad = machine.admin_policies / "20.yaml"
    bad.write_text("schema: 1\nsources: {urls: ['http://example.org/p.yaml']}\n")
    outcome = hygiene("policy", "show")
    assert outcome.code == 1  # shown without it, and the refusal is said
    assert "a source is an https:// or file:// address, got 'http://example.org/p.yaml'" in (
        outcome.err
    )
    assert hygiene("check").code == 2


def test_an_admin_folder_hidden_by_hygiene_admin_dir_is_said(
    machine: Machine, tmp_path: Path
) -> None:
    """HYGIENE_ADMIN_DIR is for tests; on a device with real admin policies, pointing it
    elsewhere takes them out of force, and that is said (log, status, policy show)."""

    from agent.checks import ALL_CHECKS
    from agent.paths import Paths
    from agent.policy import load_policy

    system = tmp_path / "etc-hygiene-agent"
    (system / "policies.d").mkdir(parents=True)
    (system / "policies.d" / "10-acme.yaml").write_text("schema: 1\nlocked: [vpn]\n")
    paths = Paths.from_environment()._replace(admin_replaced=system)
    policy = load_policy(paths, ALL_CHECKS)
    assert policy.locked == {}
    assert policy.rejected == [
        f"HYGIENE_ADMIN_DIR replaces the admin folder {system}: its policies and locks are "
        "not in force"
    ]
    (system / "policies.d" / "10-acme.yaml").unlink()
    assert load_policy(paths, ALL_CHECKS).rejected == []


def test_holes_an_admin_review_found_stay_closed(
    machine: Machine, hygiene: Callable[..., Outcome], admin_key: Path, tmp_path: Path
) -> None:
    sign = ("policy", "sign")
    path = admin_policy(machine, 5, 4096)
    assert hygiene(*sign, str(path), "--key", str(admin_key)).code == 0
    assert bits_and_origin(hygiene)[0] == 4096

    # An old signed revision dropped in under another file name: a downgrade of 'acme'.
    old = admin_policy(machine, 3, 1024, name="20-acme-old.yaml")
    assert hygiene(*sign, str(old), "--key", str(admin_key)).code == 0
    data = shown(hygiene)
    assert data["checks"]["ssh_keys"]["settings"]["min_rsa_bits"] == 4096
    assert any(
        "its revision 3 of 'acme' is lower than revision 5" in r for r in data["admin"]["rejected"]
    )
    old.unlink()
    old.with_name("20-acme-old.yaml.sig").unlink()

    # Another signed policy served in this one's place: refused.
    lab = tmp_path / "lab.yaml"
    lab.write_text(
        "schema: 1\nname: lab\nrevision: 50\nchecks:\n  ssh_keys: {min_rsa_bits: 1024}\n"
    )
    assert hygiene(*sign, str(lab), "--key", str(admin_key)).code == 0
    shutil.copy(lab, path)
    shutil.copy(lab.with_name("lab.yaml.sig"), path.with_name("10-acme.yaml.sig"))
    data = shown(hygiene)
    assert data["checks"]["ssh_keys"]["settings"]["min_rsa_bits"] == 4096
    assert "it carries policy 'lab', but this source carried 'acme'" in data["admin"]["rejected"][0]

    # The keys folder broken (only a junk .pub): signing stays required, nothing unsigned passes.
    for key in (machine.admin / "keys").iterdir():
        key.unlink()
    (machine.admin / "keys" / "admin.pub").write_text("not a key\n")
    path.write_text(
        "schema: 1\nname: acme\nrevision: 9\nchecks:\n  ssh_keys: {min_rsa_bits: 1024}\n"
    )
    path.with_name("10-acme.yaml.sig").unlink()
    data = shown(hygiene)
    assert data["admin"]["trust"] == "signed"
    assert data["checks"]["ssh_keys"]["settings"]["min_rsa_bits"] == 4096
    assert "no signature (no 10-acme.yaml.sig)" in data["admin"]["rejected"][0]


def test_a_signed_policy_that_does_not_read_is_rejected_and_the_last_good_stays(
    machine: Machine, hygiene: Callable[..., Outcome], admin_key: Path
) -> None:
    path = admin_policy(machine, 1, 3072)
    assert hygiene("policy", "sign", str(path), "--key", str(admin_key)).code == 0
    assert bits_and_origin(hygiene)[0] == 3072
    path.write_text(
        "schema: 1\nname: acme\nrevision: 2\nchecks:\n  ssh_keys: {min_rsa_bits: lots}\n"
    )
    assert hygiene("policy", "sign", str(path), "--key", str(admin_key)).code == 0
    outcome = hygiene("policy", "show", "--json")
    assert outcome.code == 1, outcome.err  # the device keeps going; the refusal is said
    data = json.loads(outcome.out)
    assert data["checks"]["ssh_keys"]["settings"]["min_rsa_bits"] == 3072
    assert (
        "was rejected: it is not a valid policy (line 5: checks.ssh_keys.min_rsa_bits: "
        in (data["admin"]["rejected"][0])
    )
    # Fixed and signed again (same revision 2: it was never in force): taken.
    path.write_text(
        "schema: 1\nname: acme\nrevision: 2\nchecks:\n  ssh_keys: {min_rsa_bits: 4096}\n"
    )
    assert hygiene("policy", "sign", str(path), "--key", str(admin_key)).code == 0
    assert bits_and_origin(hygiene)[0] == 4096


def test_keys_rotate_without_a_flag_day(
    machine: Machine, hygiene: Callable[..., Outcome], admin_key: Path, tmp_path: Path
) -> None:
    """The runbook in the README, step by step, on a device: every revision along the way is
    applied, and none is refused."""
    new_key = tmp_path / "new-key"
    assert hygiene("policy", "keygen", "--out", str(new_key)).code == 0
    keys = machine.admin / "keys"

    # 1. Sign with the old key and the new one; devices that know only the old key accept.
    path = admin_policy(machine, 2, 3072)
    signed = hygiene("policy", "sign", str(path), "--key", str(admin_key), "--key", str(new_key))
    assert signed.code == 0, signed.err
    assert signed.out.startswith(f"{path}.sig: signed by keys ")
    assert len(Path(f"{path}.sig").read_text().splitlines()) == 5
    bits, origin = bits_and_origin(hygiene)
    assert (bits, origin.endswith("(admin.pub))")) == (3072, True)

    # 2. Devices learn the new key, then forget the old one: still accepted, by the new key.
    shutil.copy(new_key.with_name("new-key.pub"), keys / "new.pub")
    assert bits_and_origin(hygiene)[0] == 3072
    (keys / "admin.pub").unlink()
    bits, origin = bits_and_origin(hygiene)
    assert (bits, origin.endswith("(new.pub))")) == (3072, True)

    # 3. From now on the new key alone signs; a file signed by the old key alone is refused.
    path = admin_policy(machine, 3, 4096)
    assert hygiene("policy", "sign", str(path), "--key", str(new_key)).code == 0
    assert bits_and_origin(hygiene)[0] == 4096
    path = admin_policy(machine, 4, 2048)
    assert hygiene("policy", "sign", str(path), "--key", str(admin_key)).code == 0
    data = shown(hygiene)
    assert data["checks"]["ssh_keys"]["settings"]["min_rsa_bits"] == 4096  # the last good
    assert "which is not among the trusted keys" in " ".join(data["admin"]["rejected"])


def test_several_signatures_none_trusted_or_one_forged(
    machine: Machine, hygiene: Callable[..., Outcome], admin_key: Path, tmp_path: Path
) -> None:
    others = [tmp_path / "b-key", tmp_path / "c-key"]
    for key in others:
        assert hygiene("policy", "keygen", "--out", str(key)).code == 0
    path = admin_policy(machine, 1, 3072)
    argv = ["policy", "sign", str(path), "--key", str(others[0]), "--key", str(others[1])]
    assert hygiene(*argv).code == 0
    verdict = hygiene("policy", "verify", str(path))
    assert verdict.code == 1
    assert ", none of which is among the trusted keys in " in verdict.out

    # A trusted key's signature that does not match is not saved by an untrusted one.
    argv = ["policy", "sign", str(path), "--key", str(others[0]), "--key", str(admin_key)]
    assert hygiene(*argv).code == 0
    path.write_text(path.read_text().replace("3072", "1024"))
    verdict = hygiene("policy", "verify", str(path))
    assert verdict.code == 1 and "does not match the file" in verdict.out

    # One key twice is refused when signing, and such a file is not read as ours.
    twice = hygiene("policy", "sign", str(path), "--key", str(admin_key), "--key", str(admin_key))
    assert twice.code == 2 and "give each key once" in twice.err
    sig = Path(f"{path}.sig")
    header, key_line, signature = sig.read_text().splitlines()[:3]
    sig.write_text(f"{header}\n{key_line}\n{signature}\n{key_line}\n{signature}\n")
    verdict = hygiene("policy", "verify", str(path))
    assert "the signature file is not one hygiene-agent wrote" in verdict.out
