from __future__ import annotations

import sys

from agent.checks._disks import volumes
from agent.checks.base import Check, CheckContext, CheckParams
from agent.models import Finding, Severity
from agent.wording import clip

_NAMES = {"/": "the system (/)", "~": "your home folder"}

_HOW = {
    "linux": "Encryption is chosen when the system is installed: back up your files, then "
    "reinstall with 'Encrypt the new installation' (LUKS) ticked; for the home folder alone, "
    "fscrypt can encrypt a new, empty home (fscrypt setup, then fscrypt encrypt).",
    "darwin": "Turn on FileVault: System Settings > Privacy & Security > FileVault > Turn On, "
    "and keep the recovery key somewhere safe (not on this Mac).",
    "win32": "Turn on BitLocker (Settings > Privacy & security > Device encryption, or "
    "Control Panel > BitLocker Drive Encryption > Turn on BitLocker), and keep the recovery "
    "key somewhere safe.",
}


# The one thing to do, for a notice.
_SHORT = {
    "linux": "Encryption comes with installing: back up, then reinstall with 'Encrypt the new "
    "installation' (LUKS).",
    "darwin": "Turn on FileVault: System Settings > Privacy & Security > FileVault.",
    "win32": "Turn on BitLocker: Settings > Privacy & security > Device encryption.",
}


class DiskEncryptionCheck(Check[CheckParams]):
    """A lost or stolen computer does not hand over its disk.

    Without encryption, anyone who holds the computer can take the disk out (or start it
    from a USB stick) and read every file, whatever your password is. The check asks
    whether the file systems holding the system and your home folder are encrypted:
    LUKS/dm-crypt (also under LVM or RAID), fscrypt or eCryptfs for the home folder on
    Linux; FileVault on macOS; BitLocker on Windows.
    """

    id = "disk_encryption"
    topic = "disk encryption"
    title = "Your disk is encrypted"
    severity = Severity.high
    rationale = "An unencrypted disk can be read by whoever holds the computer."
    advice = (
        "Encrypt the disk (LUKS on Linux, FileVault on macOS, BitLocker on Windows), so that "
        "a lost or stolen computer gives away nothing."
    )
    reads = (
        "the mount table and the block devices under them (/proc/self/mountinfo, "
        "/sys/class/block: device-mapper names and kinds), whether your home folder has an "
        "fscrypt policy; fdesetup status on macOS, manage-bde on Windows",
    )
    keeps = "whether / and your home folder are encrypted, how, and the device names"
    alert = "Your disk is not encrypted"
    alert_many = "Your disks are not encrypted ({n} problems)"

    def run(self, ctx: CheckContext) -> list[Finding]:
        findings = []
        for volume in volumes(ctx):
            what = " and ".join(_NAMES.get(h, h) for h in volume.holds)
            if volume.encrypted is None:
                self.note(f"Whether {what} is encrypted cannot be told: {volume.how}.")
                continue
            if volume.encrypted:
                continue
            both = len(volume.holds) > 1
            how = volume.how.removesuffix(", not encrypted")
            findings.append(
                self.finding(
                    ctx,
                    what,
                    "not encrypted",
                    f"{what[0].upper()}{what[1:]} {'are' if both else 'is'} not encrypted "
                    f"({how}): whoever holds this computer can read "
                    f"{'them' if both else 'it'} without your password.",
                    _HOW.get(sys.platform, _HOW["linux"]),
                    notice=f"{what[0].upper()}{what[1:]} {'are' if both else 'is'} not "
                    f"encrypted ({clip(how, 40)}). {_SHORT.get(sys.platform, _SHORT['linux'])}",
                    mount=volume.mount,
                    device=volume.device,
                )
            )
        return findings
