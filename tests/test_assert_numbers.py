"""number and count: tolerances, units, readable failures."""

from __future__ import annotations

import pytest

from pytest_visionevals.assertions import default_registry
from pytest_visionevals.assertions.base import AnswerContext, Verdict
from pytest_visionevals.assertions.registry import ExpectError


def run(raw: object, text: str) -> Verdict:
    return default_registry().parse(raw).evaluate(AnswerContext(text=text))


def test_count_pass_and_fail_explanations() -> None:
    v = run({"count": 27}, "There are 27 bottles.")
    assert v.passed
    assert v.parsed == 27
    v = run({"count": 27}, "I count 26 bottles.")
    assert not v.passed
    assert v.explanation == "expected 27, parsed 26 from answer 'I count 26 bottles.'"
    v = run({"count": 27}, "26 or 27")
    assert v.explanation == "expected 27; ambiguous: found 26 and 27 in answer '26 or 27'"


def test_count_tolerance_and_integers() -> None:
    assert run({"count": {"value": 27, "tolerance": 1}}, "26").passed
    assert not run({"count": {"value": 27, "tolerance": 1}}, "25").passed
    assert not run({"count": 27}, "27.5").passed
    assert run({"count": 27}, "twenty-seven").passed


def test_number_thousands_vs_decimal() -> None:
    assert run({"number": 2428}, "2,428").passed
    assert run({"number": 2428}, "2428").passed
    assert not run({"number": 2428}, "2.428").passed
    assert run({"number": 2.428}, "2.428").passed
    v = run({"number": 2428}, "2.428")
    assert v.explanation == "expected 2428, parsed 2.428 from answer '2.428'"


def test_number_tolerances() -> None:
    assert run({"number": {"value": 10, "abs_tol": 0.5}}, "10.4").passed
    assert not run({"number": {"value": 10, "abs_tol": 0.5}}, "10.6").passed
    assert run({"number": {"value": 100, "rel_tol": 0.05}}, "104").passed
    assert not run({"number": {"value": 100, "rel_tol": 0.05}}, "106").passed
    assert run({"number": -3}, "minus three").passed


def test_number_units() -> None:
    assert run({"number": {"value": 12, "unit": "cm"}}, "12 cm").passed
    assert run({"number": {"value": 12, "unit": "cm"}}, "about 12cm wide").passed
    assert run({"number": {"value": 12, "unit": "cm"}}, "120 mm").passed
    v = run({"number": {"value": 12, "unit": "cm"}}, "12")
    assert v.passed
    assert "assumed cm" in v.explanation
    v = run({"number": {"value": 12, "unit": "cm"}}, "12 kg")
    assert not v.passed
    assert "unit mismatch" in v.explanation
    assert run({"number": {"value": 30, "unit": "cm"}}, "30 cm (about 12 inches)").passed


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"count": "27"}, "expect.count"),
        ({"count": -1}, "expect.count"),
        ({"count": {"value": 3, "tol": 1}}, "expect.count.tol"),
        ({"number": "2,428"}, "expect.number"),
        ({"number": True}, "expect.number"),
    ],
)
def test_bad_expectations(raw: object, path: str) -> None:
    with pytest.raises(ExpectError) as err:
        default_registry().parse(raw)
    assert err.value.path == path
