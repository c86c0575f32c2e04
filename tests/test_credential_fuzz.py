"""Every config format's parser, fed what no sample holds: any bytes, and the real samples
(tests/data/credentials) damaged at random, with a canary planted where their secrets were.

Through the scanner's own path (agent/credentials/scan.py `examine`, as `_read` calls it
after reading a file) each input must give facts or a note that is not a parser's crash,
and the canary must never come out: not as text, UTF-16, hex or base64. A few examples go
through the real child (`python -I -m agent.credentials`) and its printed JSON.

The short form runs here (EXAMPLES per format and property); the long form is
`bench/fuzz_credentials.py --examples N`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.credentials.families import FAMILIES
from agent.credentials.model import Source
from agent.credentials.scan import MAX_BYTES, MAX_SECRETS, OutOfTime, examine, time_limit
from agent.credentials.strength import is_token
from tests.test_credential_formats import placed, put, scan_request

try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # cryptography before 43, which pyproject.toml allows
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

DATA = Path(__file__).parent / "data" / "credentials"
EXAMPLES = 50  # per format and property: 24 formats x 2 x 50, about 30 s in all
HANG = 60
BY_ID = {f.id: f for f in FAMILIES}

# Pieces of the formats' syntax, so that a mutation reaches past the first check of a parser.
PIECES = [
    *(b"\n", b"\r\n", b"\r", b"=", b":", b'"', b"'", b"`", b"\\", b"#", b";", b",", b" "),
    *(b"[", b"]", b"{", b"}", b"<", b">", b"</", b"/>", b"<![CDATA[", b"]]>", b"<!--", b"&"),
    *(b"&#0;", b"&amp;", b"@", b"://", b"\t", b"\x00", b"\xff", b"\xc3", b"\x85", b"%", b"$"),
    *(b"${", b"*", b"-", b"null", b"true", b"[]", b"{}", b"\xef\xbb\xbf", b"\xff\xfe"),
    *("é\u202e\u2028".encode(), b"9" * 40, b"a" * 3000, b"export ", b"machine ", b"password "),
    *(b"login ", b"default ", b"macdef m\n", b"account ", b"psk=", b"auth", b"base64:", b"!!"),
    *(b"<!DOCTYPE a>", b'<!ENTITY e "x">', b"&e;", b"<?xml version='1.0'?>"),
]


@dataclass(frozen=True)
class Sample:
    """A real sample file of one format, where the tests put it, and its known secrets."""

    family: str
    file: Path
    place: str
    secrets: tuple[str, ...]

    def planted(self, canary: str) -> tuple[bytes, list[bytes]]:
        """The file with each known secret replaced by the canary (also where it is kept
        base64-encoded with its user name, or encrypted by Remmina), and what was put in."""
        data = self.file.read_bytes()
        put_in = []
        for secret in sorted(self.secrets, key=len, reverse=True):
            for plain, encoded in _encodings(secret, canary, self.secrets):
                if plain in data:
                    data = data.replace(plain, encoded)
                    put_in.append(encoded)
        return data, put_in


def _encodings(secret: str, canary: str, known: Sequence[str]) -> list[tuple[bytes, bytes]]:
    # A token keeps its service's prefix (ghp_, AKIA): where a parser tells a token by it
    # (a token given as a login), the canary is a token too.
    prefix = next((secret[:i] for i in range(len(secret)) if is_token(secret[:i] + canary)), "")
    pairs = [
        (secret.encode(), (prefix + canary).encode()),
        (remmina_encrypted(secret), remmina_encrypted(canary)),
    ]
    try:
        decoded = base64.b64decode(secret, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return pairs
    for inner in known:
        if inner != secret and inner in decoded:
            pairs.insert(
                0, (secret.encode(), base64.b64encode(decoded.replace(inner, canary).encode()))
            )
    return pairs


def remmina_encrypted(value: str) -> bytes:
    """`value` as Remmina keeps it, encrypted with the key of the sample remmina.pref."""
    pref = (DATA / "remmina" / "remmina.pref").read_text()
    (line,) = [x for x in pref.splitlines() if x.startswith("secret=")]
    key = base64.b64decode(line.removeprefix("secret="))
    raw = value.encode()
    raw += b"\0" * (-len(raw) % 8)
    cipher = Cipher(TripleDES(key[:24]), modes.CBC(key[24:32])).encryptor()
    return base64.b64encode(cipher.update(raw) + cipher.finalize())


def prepare(home: Path) -> None:
    """What the samples need beside them: Remmina's key, where Remmina keeps it."""
    pref = home / ".config" / "remmina" / "remmina.pref"
    pref.parent.mkdir(parents=True, exist_ok=True)
    pref.write_bytes((DATA / "remmina" / "remmina.pref").read_bytes())


def samples() -> dict[str, list[Sample]]:
    found: dict[str, list[Sample]] = {f.id: [] for f in FAMILIES}
    for folder in sorted(p for p in DATA.iterdir() if p.is_dir()):
        for case in yaml.safe_load((folder / "cases.yaml").read_text()):
            found[folder.name].append(
                Sample(
                    family=folder.name,
                    file=folder / case["file"],
                    place=case["place"],
                    secrets=tuple(str(s) for s in case.get("secrets") or ()),
                )
            )
    return found


SAMPLES = samples()


def canary(tail: str | None = None) -> str:
    return "CanaryS3cret-" + (tail if tail is not None else secrets.token_hex(6))


# The canary's random part drawn by hypothesis: a failure replays and shrinks like the rest.
_TAIL = st.text(alphabet="0123456789abcdef", min_size=12, max_size=12)


def canary_forms(value: str) -> list[bytes]:
    """The canary as it could leak: text, UTF-16 (both orders), hex (both cases), and base64
    at each of the three alignments a value can have inside a longer base64 text."""
    raw = value.encode()
    forms = [raw, value.encode("utf-16-le"), value.encode("utf-16-be")]
    forms += [raw.hex().encode(), raw.hex().upper().encode()]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw)
        # Leave out the characters the alignment's padding bytes and the tail touch.
        forms.append(encoded[4 if shift else 0 : -4])
    return forms


def leaked(output: bytes, value: str) -> list[bytes]:
    return [form for form in canary_forms(value) if form in output]


# --- the inputs -------------------------------------------------------------------------

_POSITION = st.integers(min_value=0, max_value=1 << 20)
_EDIT = st.one_of(
    st.tuples(
        st.just("insert"), _POSITION, st.one_of(st.sampled_from(PIECES), st.binary(max_size=12))
    ),
    st.tuples(st.just("delete"), _POSITION, st.integers(min_value=1, max_value=80)),
    st.tuples(st.just("byte"), _POSITION, st.integers(min_value=0, max_value=255)),
    st.tuples(st.just("repeat"), _POSITION, st.integers(min_value=1, max_value=200)),
    st.tuples(st.just("cut"), _POSITION, st.just(0)),
)
Edit = tuple[str, int, Any]


def mutate(data: bytes, edits: Sequence[Edit], protected: Sequence[tuple[int, int]] = ()) -> bytes:
    """`data` after each edit, at its position taken modulo the length then. No edit
    touches a `protected` span (the lines holding the canary), which moves with the edits."""
    spans = [list(s) for s in protected]
    for kind, position, arg in edits:
        at = position % (len(data) + 1)
        if kind == "insert":
            if _inside(at, spans, edge=False):
                continue
            data = data[:at] + arg + data[at:]
            _shift(spans, at, len(arg))
        elif kind == "delete":
            end = min(len(data), at + arg)
            if _overlaps(at, end, spans):
                continue
            data = data[:at] + data[end:]
            _shift(spans, at, at - end)
        elif kind == "byte" and at < len(data) and not _overlaps(at, at + 1, spans):
            data = data[:at] + bytes([arg]) + data[at + 1 :]
        elif kind == "repeat":
            # A copy of a stretch that holds no canary, put back right after itself.
            end = min(len(data), at + arg)
            if _overlaps(at, end, spans) or _inside(end, spans, edge=False):
                continue
            data = data[:end] + data[at:end] + data[end:]
            _shift(spans, end, end - at)
        elif kind == "cut" and not any(at < hi for _, hi in spans):
            data = data[:at]
    return data


def _inside(at: int, spans: list[list[int]], *, edge: bool) -> bool:
    return any(lo < at < hi or (edge and at in (lo, hi)) for lo, hi in spans)


def _overlaps(lo: int, hi: int, spans: list[list[int]]) -> bool:
    return any(lo < s_hi and s_lo < hi for s_lo, s_hi in spans)


def _shift(spans: list[list[int]], at: int, by: int) -> None:
    for span in spans:
        if span[0] >= at:
            span[0] += by
            span[1] += by


def canary_lines(data: bytes, planted: Sequence[bytes]) -> list[tuple[int, int]]:
    """The lines holding the canary (in each form it was planted), with the line break
    before them, up to 200 bytes either side of it on a long line.

    Kept whole so that the canary stays in the slot of a secret: an edit that joins its line
    to the one before ("user =" + "password = CANARY") makes it, by the file's own syntax,
    the value of another setting (a user name, which the check shows by design)."""
    spans = []
    for needle in set(planted):
        start = data.find(needle)
        while start >= 0:
            end = start + len(needle)
            lo = max(data.rfind(b"\n", 0, start), start - 200, 0)
            nl = data.find(b"\n", end)
            hi = min(len(data) if nl < 0 else nl + 1, end + 200)
            spans.append((lo, hi))
            start = data.find(needle, end)
    return spans


# --- the properties ---------------------------------------------------------------------


def source_for(family: str, home: Path) -> Source:
    """Where a file of this format is read from (some parsers look at the name)."""
    place = SAMPLES[family][0].place if SAMPLES[family] else f"~/{family}"
    return Source(placed(home, place), home)


def examined(family: str, data: bytes, home: Path) -> dict[str, Any]:
    """The scanner's answer for one file of `family` holding `data`, checked for shape."""
    prepare(home)
    try:
        # Not a timing: a hang detector, for what takes a second at most.
        with time_limit(HANG):
            record = examine(BY_ID[family].load()(), data, source_for(family, home))
    except OutOfTime:
        pytest.fail(f"{family}: {len(data):,} bytes were still being read after {HANG}s")
    note = record["note"]
    # A note is always a file not (wholly) checked, and says so: never a quiet skip.
    assert set(record) == ({"facts", "note"} if note is None else {"facts", "note", "unchecked"})
    assert note is None or "internal error" not in note, (family, note)
    assert isinstance(record["facts"], list)
    if note is not None and record["facts"]:
        assert note.startswith(f"holds more than {MAX_SECRETS:,} secrets") or note.endswith(
            ("only what comes before that line was checked", "the other lines were")
        ), note
    return record


def check_bytes(family: str, data: bytes, home: Path) -> None:
    examined(family, data, home)


def check_planted(
    family: str, sample: Sample, edits: Sequence[Edit], utf16: bool, home: Path, tail: str
) -> None:
    value = canary(tail)
    data, planted = sample.planted(value)
    data = mutate(data, edits, canary_lines(data, planted))
    if utf16:
        data = b"\xff\xfe" + data.decode("utf-8", errors="replace").encode("utf-16-le")
    record = examined(family, data, home)
    out = json.dumps(record).encode()
    assert not leaked(out, value), (family, sample.file.name, edits)


_TEXTY = st.text(
    alphabet=st.sampled_from(list(" \t\n\r=:\"'`[]{}<>/#;,@\\$%*-_.!&?abxyzPpasword0123ÿé\u202e")),
    max_size=400,
).map(lambda t: t.encode("utf-8", errors="surrogatepass"))
# Soup of the formats' own syntax and words: reaches further into a parser than noise.
_SOUP = st.lists(st.sampled_from(PIECES) | st.binary(max_size=6), max_size=120).map(b"".join)
ANY_BYTES = st.one_of(st.binary(max_size=600), _TEXTY, _SOUP)
# Up to the scanner's 1 MiB of one piece: deep nesting, many lines, many entries.
_REPEATED = [
    *PIECES,
    *(b'{"a":', b"- \n", b" - ", b"x=1\n", b"password x\n", b"[a]\npassword=x\n", b"<a>"),
    *(b"machine m login l password p\n", b"poll p user u password x\n", b"a:b:c:d:e\n"),
]
_SIZE = st.one_of(
    st.integers(min_value=1, max_value=MAX_BYTES), st.sampled_from([MAX_BYTES // 8, MAX_BYTES])
)
BIG = st.tuples(st.sampled_from(_REPEATED), _SIZE).map(
    lambda piece: (piece[0] * (piece[1] // len(piece[0]) + 1))[:MAX_BYTES]
)


@dataclass
class Counter:
    examples: int = 0


def bytes_property(
    family: str, examples: int, count: Counter, *, big: bool = False
) -> Callable[[], None]:
    """A hypothesis test of `family` on any bytes (`big`: up to 1 MiB of one piece), with
    `examples` examples."""

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=BIG if big else ANY_BYTES)
    def run(data: bytes) -> None:
        count.examples += 1
        with tempfile.TemporaryDirectory(prefix="hygiene-fuzz-") as home:
            check_bytes(family, data, Path(home))

    return run


def planted_property(family: str, examples: int, count: Counter) -> Callable[[], None]:
    """A hypothesis test of `family` on its samples, canary planted, damaged at random."""
    if not SAMPLES[family]:
        raise ValueError(f"no samples for {family}")

    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        sample=st.sampled_from(SAMPLES[family]),
        edits=st.lists(_EDIT, max_size=8),
        utf16=st.booleans(),
        tail=_TAIL,
    )
    def run(sample: Sample, edits: list[Edit], utf16: bool, tail: str) -> None:
        count.examples += 1
        with tempfile.TemporaryDirectory(prefix="hygiene-fuzz-") as home:
            check_planted(family, sample, edits, utf16, Path(home), tail)

    return run


FAMILY_IDS = [f.id for f in FAMILIES]


@pytest.mark.parametrize("family", FAMILY_IDS)
def test_any_bytes_give_facts_or_a_note(family: str) -> None:
    count = Counter()
    bytes_property(family, EXAMPLES, count)()
    assert count.examples >= EXAMPLES // 2  # hypothesis ran, not one example


@pytest.mark.parametrize("family", FAMILY_IDS)
def test_damaged_samples_never_give_the_canary_away(family: str) -> None:
    count = Counter()
    planted_property(family, EXAMPLES, count)()
    assert count.examples >= EXAMPLES // 2


def test_every_format_has_a_sample_a_canary_can_be_planted_in() -> None:
    value = canary()
    without = [f for f, found in SAMPLES.items() if not any(s.planted(value)[1] for s in found)]
    assert without == []


def test_an_edit_never_joins_the_canarys_line_to_the_one_before() -> None:
    # The shrunk example that showed the canary as [client]'s user name: the edits must
    # leave the canary where the file keeps a secret, or the property means nothing.
    (sample,) = [s for s in SAMPLES["my_cnf"] if s.file.name == "my.cnf"]
    value = canary("000000000000")
    data, planted = sample.planted(value)
    damaged = mutate(data, [("repeat", 0, 16), ("delete", 114154, 5)], canary_lines(data, planted))
    assert b'\npassword = "' + value.encode() in damaged


def test_the_leak_check_sees_every_form_of_the_canary() -> None:
    value = canary()
    for form in canary_forms(value):
        assert leaked(b"<" + form + b">", value)
    for before in ("", "a", "ab"):
        inside = base64.b64encode(f"{before}{value}!".encode())
        assert leaked(inside, value), before
    assert not leaked(json.dumps({"target": "CanaryS3cret"}).encode(), value)


# What the fuzz found (bench/fuzz_credentials.py's big inputs), kept as regular cases.


@pytest.mark.parametrize("family", ["docker", "composer", "gh", "kube"])
def test_nesting_deeper_than_the_stack_is_not_a_crash(family: str, tmp_path: Path) -> None:
    # json.loads and PyYAML recurse once per level: not a crash, and not a quiet skip
    # either (a secret may be in it): a note that it was not checked.
    for deep in (b"[" * 2_000 + b"]" * 2_000, b'{"a":' * 2_000 + b"1" + b"}" * 2_000):
        record = examined(family, deep, tmp_path)
        assert record["facts"] == []
        assert record["note"].endswith(": it is nested too deeply to read; it was not checked")


@pytest.mark.parametrize(
    ("family", "data"),
    [
        ("dotenv", b"x=1\n" * 250_000),  # each line's number counted from the start: minutes
        ("fetchmail", b'{"a":' * 200_000),
        ("wpa_supplicant", b" " * 200_000),  # two runs of blanks side by side in one regex
        (
            "docker",
            b'{"auths": {'
            + b"".join(b'"h%d": {"auth": ""},' % i for i in range(40_000))
            + b'"e": {}}}',
        ),
    ],
    ids=["dotenv", "fetchmail", "wpa_supplicant", "docker"],
)
def test_a_file_of_many_lines_is_read_in_the_scanners_time(
    family: str, data: bytes, tmp_path: Path
) -> None:
    assert len(data) <= MAX_BYTES
    examined(family, data, tmp_path)


@pytest.mark.parametrize("family", ["filezilla", "maven", "pidgin", "unattend"])
def test_an_xml_document_type_is_refused_in_words(family: str, tmp_path: Path) -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">]><l>&a;&a;</l>'
    record = examined(family, bomb, tmp_path)
    assert record["facts"] == []
    assert record["note"].endswith(
        ": a document type declaration is not accepted in a config file; it was not checked"
    )


def test_a_file_of_many_secrets_is_bounded(tmp_path: Path) -> None:
    data = b"machine m login l password hunter2\n" * 1_200
    record = examined("netrc", data, tmp_path)
    assert len(record["facts"]) == MAX_SECRETS
    assert record["note"] == f"holds more than {MAX_SECRETS:,} secrets; the rest were not looked at"


# --- through the real child ---------------------------------------------------------------


def child_answer(
    home: Path, files: dict[str, tuple[str, bytes]]
) -> subprocess.CompletedProcess[bytes]:
    """Run the scanning child on a home holding `files` (place -> (format, bytes))."""
    extra = [e for place, (family, data) in files.items() for e in put(home, family, place, data)]
    prepare(home)
    request = {**scan_request(home, extra), "budget": 30}
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
    }
    return subprocess.run(
        [sys.executable, "-I", "-m", "agent.credentials"],
        input=json.dumps(request).encode(),
        capture_output=True,
        check=False,
        timeout=120,
        env=env,
    )


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(_EDIT, max_size=6), utf16=st.booleans(), tail=_TAIL)
def test_the_childs_json_never_holds_the_canary(edits: list[Edit], utf16: bool, tail: str) -> None:
    """One home with one damaged, canary-planted sample of every format, read by the child."""
    value = canary(tail)
    files: dict[str, tuple[str, bytes]] = {}
    for family, found in SAMPLES.items():
        for sample in found:
            data, planted = sample.planted(value)
            if planted and sample.place not in files:
                data = mutate(data, edits, canary_lines(data, planted))
                if utf16:
                    data = b"\xff\xfe" + data.decode("utf-8", errors="replace").encode("utf-16-le")
                files[sample.place] = (family, data)
    with tempfile.TemporaryDirectory(prefix="hygiene-fuzz-") as home:
        done = child_answer(Path(home), files)
    assert done.returncode == 0, done.stdout[-500:]
    answer = json.loads(done.stdout)
    assert "error" not in answer
    crashes = [r["note"] for r in answer["files"].values() if "internal error" in (r["note"] or "")]
    assert crashes == []
    assert not leaked(done.stdout + done.stderr, value), edits
