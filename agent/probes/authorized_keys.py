"""Facts about authorized_keys files: which keys they let log in, of what type and size.

Each line is read as sshd(8) reads it ("AUTHORIZED_KEYS FILE FORMAT"): optional options,
a key type, the base64 key and a comment. Of the options only their names are kept (a
`command="..."` may hold anything); of the key, its type, size and SHA256 fingerprint (as
`ssh-keygen -l` prints it). The key itself is decoded in memory to learn its size and is
not returned. A line that cannot be read is reported by its number and why, never by its
text: a password pasted into the wrong window must not end up in a report.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from agent.files import read_small_file
from agent.probes.keyfiles import _Reader, _reason, _ssh_public_blob, _Truncated

# A few thousand keys; sshd reads any size, but a file this large is not a person's.
MAX_AUTHORIZED_KEYS = 1024 * 1024

# Key types as written in the file, and the plain type inside a certificate of that kind.
_PLAIN = (
    "ssh-rsa",
    "ssh-dss",
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
_CERTIFICATES = {
    plain.removesuffix("@openssh.com") + "-cert-v01@openssh.com": plain for plain in _PLAIN
}
KEY_TYPES = frozenset(_PLAIN) | frozenset(_CERTIFICATES)
# How many strings of the wire format make up each type's public key, after its name.
_FIELDS = {
    "ssh-rsa": 2,  # e, n
    "ssh-dss": 4,  # p, q, g, y
    "ssh-ed25519": 1,
    "ecdsa-sha2-nistp256": 2,  # curve, point
    "ecdsa-sha2-nistp384": 2,
    "ecdsa-sha2-nistp521": 2,
    "sk-ssh-ed25519@openssh.com": 2,  # key, application
    "sk-ecdsa-sha2-nistp256@openssh.com": 3,  # curve, point, application
}

# The options sshd knows (auth-options.c); it refuses a line with any other.
OPTIONS = frozenset(
    {
        "agent-forwarding",
        "cert-authority",
        "command",
        "environment",
        "expiry-time",
        "from",
        "no-agent-forwarding",
        "no-port-forwarding",
        "no-pty",
        "no-touch-required",
        "no-user-rc",
        "no-x11-forwarding",
        "permitlisten",
        "permitopen",
        "port-forwarding",
        "principals",
        "pty",
        "restrict",
        "tunnel",
        "user-rc",
        "verify-required",
        "x11-forwarding",
    }
)
_OPTION_NAME = re.compile(r"[A-Za-z0-9-]+")
_BLANKS = " \t"


@dataclass(frozen=True)
class AuthorizedKey:
    line: int  # 1-based, counting every line of the file
    key_type: str  # as written: ssh-rsa, ssh-ed25519-cert-v01@openssh.com, ...
    kind: str  # rsa, dsa, ecdsa, ed25519, ed25519-sk, ecdsa-sk
    bits: int | None
    certificate: bool
    options: tuple[str, ...]  # option names, lower case; their values are not kept
    comment: str
    fingerprint: str  # SHA256:..., as ssh-keygen -l prints it


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str  # a clause about the line ("its key is not valid base64"), never its text


@dataclass(frozen=True)
class AuthorizedKeysFile:
    path: Path
    mode: int | None  # permission bits; None where the platform does not use them
    owner: int | None  # the owning user id; None where there is none (Windows)
    keys: tuple[AuthorizedKey, ...] = ()
    bad_lines: tuple[BadLine, ...] = ()
    # Why the contents could not be read; None when they were. `denied`: permission denied,
    # and `mode` None as well when the file could not even be looked at (its folder is shut).
    unreadable: str | None = None
    denied: bool = False


class BadKeyLine(ValueError):
    """A line sshd would not accept as a key; the message is the reason, without the text."""


def read_authorized_keys(path: Path) -> AuthorizedKeysFile | None:
    """The facts of one authorized_keys file, or None when there is no such file."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    except OSError as err:
        return AuthorizedKeysFile(path, None, None, unreadable=_reason(err), denied=_is_denied(err))
    posix = os.name == "posix"
    mode = stat.S_IMODE(info.st_mode) if posix else None
    owner = info.st_uid if posix else None
    try:
        data = read_small_file(path, MAX_AUTHORIZED_KEYS)
    except FileNotFoundError:
        return None  # removed between the stat and the read
    except OSError as err:
        return AuthorizedKeysFile(path, mode, owner, unreadable=_why(err), denied=_is_denied(err))
    keys, bad = parse_authorized_keys(data.decode("utf-8", "replace"))
    return AuthorizedKeysFile(path, mode, owner, tuple(keys), tuple(bad))


def _is_denied(err: OSError) -> bool:
    return err.errno in (errno.EACCES, errno.EPERM)


def _why(err: OSError) -> str:
    if isinstance(err, IsADirectoryError):
        return "it is a folder"
    if err.errno == errno.EINVAL and err.strerror == "not a regular file":
        return "it is not a regular file (a pipe, socket or device)"
    if err.errno == errno.EFBIG:
        return f"it is larger than {MAX_AUTHORIZED_KEYS // 1024} KiB"
    return _reason(err)


def parse_authorized_keys(text: str) -> tuple[list[AuthorizedKey], list[BadLine]]:
    """The keys in an authorized_keys text, and the lines that are neither keys nor comments."""
    keys: list[AuthorizedKey] = []
    bad: list[BadLine] = []
    # Lines end at a newline only, as sshd reads them: a stray \r or \u2028 in a comment
    # must not start a line of its own and shift the numbers.
    for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        try:
            key = parse_key_line(line, number)
        except BadKeyLine as err:
            bad.append(BadLine(number, str(err)))
            continue
        if key is not None:
            keys.append(key)
    return keys, bad


def parse_key_line(line: str, number: int = 1) -> AuthorizedKey | None:
    """One line: a key, None for a blank line or a comment; BadKeyLine when it is neither."""
    text = line.rstrip("\r\n").lstrip(_BLANKS)
    if not text or text.startswith("#"):
        return None
    # Like sshd: a line is a key, or else options followed by a key.
    if _first_word(text) in KEY_TYPES:
        return _key(text, number, ())
    options, rest = _split_options(text)
    rest = rest.lstrip(_BLANKS)
    if _first_word(rest) not in KEY_TYPES:
        raise BadKeyLine("it names no key type this check knows")
    return _key(rest, number, _option_names(options))


def _first_word(text: str) -> str:
    return re.split(r"[ \t]", text, maxsplit=1)[0]


def _split_options(text: str) -> tuple[str, str]:
    """(options, the rest) as sshd splits them: at the first blank outside double quotes,
    where \\" inside quotes is a quote that does not end them."""
    quoted = False
    index = 0
    while index < len(text):
        char = text[index]
        if not quoted and char in _BLANKS:
            break
        if char == "\\" and text[index + 1 : index + 2] == '"':
            index += 1
        elif char == '"':
            quoted = not quoted
        index += 1
    if quoted:
        raise BadKeyLine("it has a quote that is never closed")
    return text[:index], text[index:]


def _option_names(options: str) -> tuple[str, ...]:
    names: list[str] = []
    for option in _split_commas(options):
        name, equals, value = option.partition("=")
        if not _OPTION_NAME.fullmatch(name) or name.lower() not in OPTIONS:
            raise BadKeyLine("it has an option sshd does not know, so sshd ignores the line")
        if equals and (len(value) < 2 or not value.startswith('"') or not value.endswith('"')):
            raise BadKeyLine("an option's value is not in double quotes")
        names.append(name.lower())
    return tuple(names)


def _split_commas(options: str) -> list[str]:
    parts: list[str] = []
    start = 0
    quoted = False
    index = 0
    while index < len(options):
        char = options[index]
        if char == "\\" and quoted and options[index + 1 : index + 2] == '"':
            index += 1
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append(options[start:index])
            start = index + 1
        index += 1
    parts.append(options[start:])
    return parts


def _key(text: str, number: int, options: tuple[str, ...]) -> AuthorizedKey:
    fields = re.split(r"[ \t]+", text, maxsplit=2)
    key_type = fields[0]
    if len(fields) < 2 or not fields[1]:
        raise BadKeyLine("it has no key after its type")
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except (binascii.Error, ValueError) as err:
        raise BadKeyLine("its key is not valid base64") from err
    try:
        reader = _Reader(blob)
        inner = reader.string()
        plain = _CERTIFICATES.get(key_type)
        if plain is not None:
            # A certificate: its nonce, then the public key's fields, then what it certifies.
            reader.string()
            start = reader.pos
            for _ in range(_FIELDS[plain]):
                reader.string()
            name = plain.encode()
            public = len(name).to_bytes(4, "big") + name + blob[start : reader.pos]
        else:
            public = blob
        kind, bits = _ssh_public_blob(public)
    except (_Truncated, ValueError, IndexError) as err:
        raise BadKeyLine("its key is damaged") from err
    if inner != key_type.encode():
        raise BadKeyLine("its key is not of the type the line names")
    comment = fields[2].strip() if len(fields) > 2 else ""
    # Of a certificate, the key it certifies: what ssh-keygen -l shows.
    digest = base64.b64encode(hashlib.sha256(public).digest()).decode().rstrip("=")
    return AuthorizedKey(
        line=number,
        key_type=key_type,
        kind=kind,
        bits=bits,
        certificate=plain is not None,
        options=options,
        comment=comment,
        fingerprint=f"SHA256:{digest}",
    )
