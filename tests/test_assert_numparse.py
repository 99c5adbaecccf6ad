"""The number parser: examples first, then properties (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_visionevals.assertions.numparse import (
    find_numbers,
    format_number,
    parse_single_number,
)

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def to_words(n: int, *, use_and: bool = False) -> str:
    """English words for 0 <= n < 10**12 (independent of the parser's tables' code)."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("-" + _ONES[n % 10] if n % 10 else "")
    if n < 1000:
        rest = n % 100
        head = _ONES[n // 100] + " hundred"
        return head + ((" and " if use_and else " ") + to_words(rest) if rest else "")
    for scale, name in ((10**9, "billion"), (10**6, "million"), (10**3, "thousand")):
        if n >= scale:
            rest = n % scale
            head = to_words(n // scale, use_and=use_and) + " " + name
            joint = " and " if use_and and rest < 100 else " "  # "one thousand and five"
            return head + (joint + to_words(rest, use_and=use_and) if rest else "")
    raise AssertionError(n)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("27", 27),
        ("There are 27 bottles.", 27),
        ("27. There are 27 bottles", 27),
        ("**27**", 27),
        ("2,428", 2428),
        ("2428", 2428),
        ("2.428", 2.428),
        ("1,234,567.5", 1234567.5),
        ("2\u202f428 people", 2428),
        ("-3", -3),
        ("It is \u22123 degrees", -3),
        ("minus three", -3),
        ("0.5", 0.5),
        (".5", 0.5),
        ("1e3", 1000),
        ("twenty-seven", 27),
        ("Twenty seven bottles", 27),
        ("one hundred and five", 105),
        ("two thousand four hundred twenty-eight", 2428),
        ("a hundred", 100),
        ("a thousand and one", 1001),
        ("nineteen hundred", 1900),
        ("1.5 million", 1_500_000),
        ("12cm", 12),
        ("45%", 45),
        ("Only one bottle is visible", 1),
        ("The one on the left holds 3 apples", 3),
        ("It is the 3rd shelf; it holds 12 jars", 12),
        ("Final answer: 27", 27),
        ("**Answer:** 27 (at first I counted 26)", 27),
        ("The answer is: 27", 27),
        ("1. Top shelf: 12\n2. Bottom shelf: 15\n3. Total: 27", 27),
        ("H2O contains 3 atoms", 3),
        ("Twelve.", 12),
        ("None.", 0),
        ("There are no cats in the image.", 0),
        ("None of the bottles are broken.", 0),
        ('{"count": 27, "confidence": 0.9}', 27),
    ],
)
def test_reads_one_number(text: str, value: float) -> None:
    parsed = parse_single_number(text)
    assert parsed.error is None, parsed.error
    assert parsed.value == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("I count 26 or 27", "ambiguous: found 26 and 27"),
        ("26-27 bottles", "ambiguous: found 26 and 27"),
        ("3 rows of 9 bottles, 27 in total", "ambiguous: found 3, 9 and 27"),
        ("1,5", "not a thousands group"),
        ("12,3456", "not a thousands group"),
        ("a dozen", "no number found"),
        ("a couple of bottles", "no number found"),
        ("two dozen eggs", "vague multiple"),
        ("No damage", "no number found"),  # "no" before a singular noun is not a count
        ("There are 27 bottles and no cans.", "ambiguous: found 27 and 0"),
        ("", "no number found"),
        ("It is a 3D render in 4K", "no number found"),
        ("the 27th bottle", "no number found"),
        ("Final answer: 27. Answer: 26", "ambiguous: found 27 and 26"),
    ],
)
def test_refuses_to_guess(text: str, error: str) -> None:
    parsed = parse_single_number(text)
    assert parsed.value is None
    assert parsed.error is not None
    assert error in parsed.error


def test_decimal_is_never_a_thousands_separator() -> None:
    assert parse_single_number("2.428").value == pytest.approx(2.428)
    assert parse_single_number("2.428").value != 2428


def test_integer_mode_rejects_fractions() -> None:
    parsed = parse_single_number("27.5", integer=True)
    assert parsed.value is None
    assert parsed.error == "27.5 is not a whole number"


def test_units_are_recorded() -> None:
    (m,) = find_numbers("about 12 cm wide")
    assert (m.value, m.unit) == (12, "cm")
    (m,) = find_numbers("45% full")
    assert m.unit == "%"


def test_version_numbers_are_not_numbers() -> None:
    assert parse_single_number("version 1.2.3").error == "no number found"


def test_format_number() -> None:
    assert format_number(27.0) == "27"
    assert format_number(2.5) == "2.5"
    assert format_number(-3) == "-3"


ints = st.integers(min_value=0, max_value=10**9)


@settings(deadline=None)  # a loaded CI machine must not make this flaky
@given(ints)
def test_property_plain_digits(n: int) -> None:
    assert parse_single_number(str(n)).value == n


@settings(deadline=None)  # a loaded CI machine must not make this flaky
@given(ints)
def test_property_thousands_separators(n: int) -> None:
    assert parse_single_number(f"{n:,}").value == n
    assert parse_single_number(f"There are {n:,} bottles.").value == n


@settings(deadline=None)  # a loaded CI machine must not make this flaky
@given(ints, st.booleans())
def test_property_words(n: int, use_and: bool) -> None:
    words = to_words(n, use_and=use_and)
    assert parse_single_number(words).value == n, words
    assert parse_single_number(f"I see {words} items.").value == n, words


@settings(deadline=None)  # a loaded CI machine must not make this flaky
@given(st.integers(min_value=1, max_value=10**6))
def test_property_negative(n: int) -> None:
    assert parse_single_number(f"-{n:,}").value == -n
    assert parse_single_number(f"minus {to_words(n)}").value == -n


@settings(deadline=None)  # a loaded CI machine must not make this flaky
@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=999))
def test_property_decimals(whole: int, frac: int) -> None:
    text = f"{whole}.{frac:03d}"
    assert parse_single_number(text).value == pytest.approx(float(text))


@settings(deadline=None)  # a loaded CI machine must not make this flaky
@given(ints, ints)
def test_property_two_different_numbers_are_ambiguous(a: int, b: int) -> None:
    parsed = parse_single_number(f"Either {a:,} or {b:,}.")
    if a == b:
        assert parsed.value == a
    else:
        assert parsed.value is None
        assert parsed.error == f"ambiguous: found {a} and {b}"
