"""How strong a password a person chose is, after NIST SP 800-63B (section 3.1.1.2).

The verifier rules that apply to a stored password: at least 8 characters, not on a list of
passwords known from breaches, not a default, not made of the context (the user name, the
host, the network's name). zxcvbn (Dropbox's estimator) judges the guessability the length
rule misses: "Summer2023!" is 11 characters and still among the first guesses.

Imported only by the scanning child. zxcvbn is zxcvbn-rs (the Rust port, through
zxcvbn-rs-py): the same scores as Dropbox's, ten times faster to compute and twenty times
faster to load than the pure-Python port (tests/test_strength.py compares them). The breach
list ships beside this file.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from zxcvbn_rs_py import zxcvbn

TYPE_CHECKING = False  # typing, for mypy only: see agent/credentials/model.py
if TYPE_CHECKING:
    from collections.abc import Sequence

    from agent.credentials.model import Level

COMMON_LIST = Path(__file__).with_name("common-passwords.txt")

MIN_LENGTH = 8
GOOD_LENGTH = 15  # 800-63B asks 15 of a password that is the only factor
# bcrypt stops at 72 bytes; longer values are generated, not typed, and zxcvbn slows on them.
MAX_GRADED = 72

# Vendor defaults that ship in manuals and images; most are also on the breach list.
DEFAULTS = frozenset(
    {
        "admin", "administrator", "changeme", "change_me", "changeit", "default", "guest",
        "letmein", "password", "passw0rd", "pass", "root", "toor", "secret", "test", "user",
        "welcome", "qwerty", "raspberry", "vagrant", "ubnt", "alpine", "postgres", "mysql",
        "oracle", "cisco", "1234", "12345", "123456", "12345678", "123456789", "0000",
        "password1", "admin123", "root123", "temp", "temp123", "demo", "example",
    }
)  # fmt: skip

# Values that only refer to a secret kept elsewhere: ${VAR}, $VAR, {{ var }}, <password>,
# %VAR%, and asterisks a tool writes in place of a hidden value. $VAR is upper case, as
# environment variables are: "$ecret1" in a .netrc is a password, not a reference.
_REFERENCE = re.compile(
    r"""\$\{[^}]*\}|\$[A-Z_][A-Z0-9_]*|\{\{.*\}\}|<[^<>]+>|%[A-Za-z_][A-Za-z0-9_]*%|\*+""",
    re.DOTALL,
)

# Prefixes of tokens that services issue; such a value is not a password a person chose.
_TOKEN_PREFIXES = (
    "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "gldt-", "glrt-",
    "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xapp-", "sk-", "sk_live_", "rk_live_", "pk_live_",
    "pypi-", "npm_", "AKIA", "ASIA", "AIza", "ya29.", "hf_", "dop_v1_", "shpat_", "shpss_",
    "SG.", "sq0atp-", "sq0csp-", "glc_", "dckr_pat_", "atlassian-", "ATATT", "nfp_",
)  # fmt: skip


# Fixed words a service asks for in the password slot when the user name holds a token.
PLACEHOLDER_PASSWORDS = frozenset({"x-oauth-basic", "x-oauth-token"})
# User names that say the password is a token (GitHub apps, Bitbucket, GitLab CI, PyPI, OAuth).
TOKEN_USERS = frozenset(
    {"x-access-token", "x-token-auth", "oauth2", "gitlab-ci-token", "__token__", "oauth"}
)
# Anonymous FTP: the "password" is an e-mail address by convention.
ANONYMOUS = frozenset({"anonymous", "ftp"})
_SECRET_LIKE = re.compile(r"[A-Za-z0-9_\-+/=.]{32,}")


# The reasons name the rule a value breaks, never a property of the value itself (its length,
# its characters, which list entry it is): whoever reads the store learns no more than the
# rule. A default and a breached password break the same rule (a guesser's first list).
SHORT = f"it is shorter than {MIN_LENGTH} characters"
LISTED = "it is on the list of common and default passwords"
CONTEXT = "it contains the user, host or network name it is for"
PATTERN = "it can be guessed quickly (it follows a common pattern)"
NOT_LONG = f"it is shorter than {GOOD_LENGTH} characters ({GOOD_LENGTH} or more is recommended)"
EARLY_PATTERN = "it follows a pattern guessers try early"


class Grade:
    __slots__ = ("level", "reasons")

    def __init__(self, level: Level, reasons: tuple[str, ...]) -> None:
        self.level = level
        self.reasons = reasons  # in words, for the message: never the value or a part of it


def is_reference(value: str) -> bool:
    """A value that cannot be the secret itself: a variable, a template, a masked field."""
    return _REFERENCE.fullmatch(value.strip()) is not None


def is_token(value: str) -> bool:
    """A value a service issued (it has the service's prefix), not one a person chose."""
    return value.startswith(_TOKEN_PREFIXES)


def looks_secret(word: str) -> bool:
    """A token by its prefix, or a long run of letters and digits (a hex or base64 key)."""
    if is_token(word):
        return True
    return (
        _SECRET_LIKE.fullmatch(word) is not None
        and any(c.isdigit() for c in word)
        and any(c.isalpha() for c in word)
    )


def weak_only(value: str) -> Grade | None:
    """For a secret a service expects (not graded as a password): weak when a person plainly
    typed it (empty, short, a default, a common password); None otherwise."""
    if _listed(value):
        return Grade("weak", (LISTED,))
    if len(value) < MIN_LENGTH:
        return Grade("weak", (SHORT,))
    return None


def grade(value: str, user_inputs: Sequence[str] = ()) -> Grade | None:
    """weak, fair or strong, with the reasons; None when it is not for grading (too long)."""
    if len(value) > MAX_GRADED:
        return None
    weak: list[str] = []
    if len(value) < MIN_LENGTH:
        weak.append(SHORT)  # an empty one too: "empty" would be the value itself
    if _listed(value):
        weak.append(LISTED)
    inputs = [i for i in user_inputs if i]
    if any(len(i) >= 3 and i.lower() in value.lower() for i in inputs):
        weak.append(CONTEXT)
    if weak:
        return Grade("weak", tuple(weak))
    score = zxcvbn_score(value, inputs)
    if score <= 1:
        return Grade("weak", (PATTERN,))
    fair: list[str] = []
    if len(value) < GOOD_LENGTH:
        fair.append(NOT_LONG)
    if score == 2:
        fair.append(EARLY_PATTERN)
    if fair:
        return Grade("fair", tuple(fair))
    return Grade("strong", ())


def _listed(value: str) -> bool:
    """A default or a breached password: the first words a guesser tries."""
    return bool(value) and (value.lower() in DEFAULTS or ("\n" not in value and is_common(value)))


def zxcvbn_score(value: str, user_inputs: Sequence[str]) -> int:
    """zxcvbn's 0 (too guessable) to 4 (very unguessable)."""
    return int(zxcvbn(value, list(user_inputs)).score)


def is_common(value: str) -> bool:
    """On the breach list (compared lower-cased): a binary search of the list's sorted lines,
    in its text as read. The scanner is a new process for each scan; reading the text takes
    a tenth of the time building a set of its 30,000 words would, and a search takes
    microseconds where a plain search of the text took 50 (bench/scanner_start.py)."""
    word = value.lower()
    words = _common_words()
    low, high = 0, len(words)
    while low < high:  # [low, high): whole lines, the word's among them if it is there
        middle = (low + high) // 2
        start = words.rfind("\n", 0, middle) + 1
        end = words.find("\n", middle)
        if end < 0:
            end = len(words)
        line = words[start:end]
        if line == word:
            return True
        if line < word:
            low = end + 1
        else:
            high = start
    return False


@cache
def _common_words() -> str:
    """The list's lines, sorted, one word each (its heading of # lines left out)."""
    text = COMMON_LIST.read_text(encoding="utf-8")
    while text.startswith("#"):
        text = text.partition("\n")[2]
    return text
