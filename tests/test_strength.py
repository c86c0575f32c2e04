"""The password grading rules (NIST SP 800-63B and zxcvbn), on the values the issue names."""

from __future__ import annotations

import random
import string

import pytest
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from agent.credentials.strength import (
    COMMON_LIST,
    CONTEXT,
    EARLY_PATTERN,
    LISTED,
    NOT_LONG,
    PATTERN,
    SHORT,
    grade,
    is_common,
    is_reference,
    is_token,
    weak_only,
)


def test_the_shipped_list_is_zxcvbns_own_lower_cased_and_sorted() -> None:
    shipped = [w for w in COMMON_LIST.read_text().splitlines() if not w.startswith("#")]
    want = sorted({w.lower() for w in FREQUENCY_LISTS["passwords"]})
    assert shipped == want  # sorted: is_common searches it by bisection


def test_every_word_of_the_list_and_nothing_else_is_common() -> None:
    words = {w.lower() for w in FREQUENCY_LISTS["passwords"]}
    assert all(is_common(w) and is_common(w.upper()) for w in words)
    # Neighbours of listed words, and words before the first and after the last.
    near = {w + c for w in words for c in "\x00~"} | {"", "\x00", "~~~~~~~~~~"}
    assert not any(is_common(w) for w in near - words)


@pytest.mark.parametrize(
    ("value", "level", "reason"),
    [
        ("", "weak", "it is shorter than 8 characters"),
        ("hunter2", "weak", "it is shorter than 8 characters"),
        ("changeme", "weak", "it is on the list of common and default passwords"),
        ("password123", "weak", "it is on the list of common and default passwords"),
        ("Qwerty!Qwerty!1", "weak", "it can be guessed quickly (it follows a common pattern)"),
        ("ann.example.com1", "weak", "it contains the user, host or network name it is for"),
        ("Summer2023!", "fair", "it is shorter than 15 characters (15 or more is recommended)"),
        ("x7Kq9#mZ2vLw8RtP4nBy6jHd", "strong", None),
        ("correct horse battery staple", "strong", None),
    ],
)
def test_grades(value: str, level: str, reason: str | None) -> None:
    graded = grade(value, ["ann", "example.com"])
    assert graded is not None
    assert graded.level == level
    if reason:
        assert reason in graded.reasons


def test_a_reason_names_the_rule_broken_never_a_property_of_the_value() -> None:
    # Whoever reads the store learns which rules a value breaks, and nothing else: not its
    # length, its characters or which word of a list it is. So every value of every length
    # and make-up gets its reasons from the same few sentences.
    rng = random.Random(80063)  # noqa: S311 - the same values every run, not secrets
    alphabets = (string.ascii_lowercase, string.digits, string.ascii_letters + "!#%&")
    values = ["", "changeme", "admin", "password123", "hunter2", "ann.example.com1"]
    values += [
        "".join(rng.choice(alphabet) for _ in range(length))
        for length in range(1, 40)
        for alphabet in alphabets
    ]
    said: set[str] = set()
    for value in values:
        for graded in (grade(value, ["ann", "example.com"]), weak_only(value)):
            if graded is not None:
                said.update(graded.reasons)
    assert said <= {SHORT, LISTED, CONTEXT, PATTERN, NOT_LONG, EARLY_PATTERN}
    assert {SHORT, LISTED, CONTEXT, NOT_LONG} <= said  # the values above break each of these


def test_values_too_long_to_be_typed_are_not_graded() -> None:
    assert grade("a" * 73) is None


@pytest.mark.parametrize(
    "value", ["${DB_PASS}", "$TOKEN", "{{ vault }}", "<password>", "%PASS%", "****"]
)
def test_references(value: str) -> None:
    assert is_reference(value)


@pytest.mark.parametrize("value", ["$ecret1", "pass$word", "hunter2", "{{half"])
def test_not_references(value: str) -> None:
    assert not is_reference(value)


def test_vendor_tokens() -> None:
    assert is_token("ghp_" + "a" * 36)
    assert is_token("pypi-AgEIcHlwaS5vcmc")
    assert not is_token("Summer2023!")


def test_scores_are_those_of_the_reference_zxcvbn() -> None:
    from zxcvbn import zxcvbn as reference

    from agent.credentials.strength import zxcvbn_score

    rng = random.Random(800063)  # noqa: S311 - the same samples every run
    alphabet = string.ascii_letters + string.digits + "!#%&*-_"
    values = [
        *("Summer2023!", "Winter2020", "Tr0ub4dor&3", "P@ssw0rd2024", "ilovemycat99"),
        *("correct horse battery staple", "ann.example.com1", "qwertyuiop1234"),
        *("".join(rng.choices(alphabet, k=rng.randint(8, 24))) for _ in range(150)),
    ]
    inputs = ["ann", "example.com"]
    assert [zxcvbn_score(v, inputs) for v in values] == [
        reference(v, user_inputs=inputs)["score"] for v in values
    ]


@pytest.mark.parametrize("value", ["Hornets2024", "backup2023", "Outbreak2020"])
def test_a_word_and_a_recent_year_is_weak(value: str) -> None:
    # The one place the Rust port differs: it counts years up to today as "recent", where
    # the Python port's list of recent years ends in 2016 and scores these 2 or 3.
    from zxcvbn import zxcvbn as reference

    graded = grade(value)
    assert graded is not None and graded.level == "weak"
    assert reference(value)["score"] >= 2
