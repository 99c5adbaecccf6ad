"""all / any / not with weights (partial credit), and several keys in one expect."""

from __future__ import annotations

import pytest

from pytest_visionevals.assertions import default_registry
from pytest_visionevals.assertions.base import AnswerContext, Verdict


def run(raw: object, text: str) -> Verdict:
    return default_registry().parse(raw).evaluate(AnswerContext(text=text))


def test_all_weighted_partial_credit() -> None:
    raw = {"all": [{"count": {"value": 27, "weight": 3}}, {"contains": {"value": "bottles"}}]}
    v = run(raw, "27 jars")
    assert not v.passed
    assert v.score == pytest.approx(3 / 4)
    assert v.explanation.startswith("contains: missing 'bottles'")
    v = run(raw, "26 bottles")
    assert v.score == pytest.approx(1 / 4)
    assert run(raw, "27 bottles").score == 1.0


def test_zero_weight_counts_for_pass_not_score() -> None:
    raw = {"all": [{"count": 27}, {"contains": {"value": "bottles", "weight": 0}}]}
    v = run(raw, "27 jars")
    assert not v.passed
    assert v.score == 1.0


def test_several_keys_mean_all() -> None:
    v = run({"count": 27, "contains": "bottles"}, "There are 27 bottles.")
    assert v.passed
    assert [c.assertion for c in v.children] == ["count", "contains"]


def test_any() -> None:
    raw = {"any": [{"equals": "cat"}, {"equals": "kitten"}]}
    assert run(raw, "Kitten").passed
    v = run(raw, "dog")
    assert not v.passed
    assert "none passed" in v.explanation


def test_not() -> None:
    assert run({"not": {"label": "screw"}}, "A bolt.").passed
    v = run({"not": {"label": "screw"}}, "A screw.")
    assert not v.passed
    assert v.explanation.startswith("must not pass label")


def test_nested_hints_collected() -> None:
    a = default_registry().parse({"all": [{"boxes": [[0, 0, 10, 10]]}, {"count": 1}]})
    assert len(a.hints("yxyx_1000")) == 1


def test_nesting_is_limited_with_a_clear_error() -> None:
    from pytest_visionevals.assertions import ExpectError

    def chain(depth: int) -> object:
        raw: object = {"contains": "x"}
        for _ in range(depth):
            raw = {"not": raw}
        return raw

    with pytest.raises(ExpectError, match=r"assertions nested more than \d+ levels deep"):
        default_registry().parse(chain(300))
    # A value that contains itself (a recursive YAML alias) is the same error, not a crash.
    loop: dict[str, list[object]] = {"all": []}
    loop["all"].append(loop)
    with pytest.raises(ExpectError, match="nested more than") as info:
        default_registry().parse(loop)
    assert info.value.path.startswith("expect.all[0].all[0]")

    from pytest_visionevals.assertions.registry import MAX_EXPECT_DEPTH

    assert run(chain(MAX_EXPECT_DEPTH - 1), "y").passed  # an odd number of nots


def test_errors_show_a_bounded_value() -> None:
    from pytest_visionevals.assertions.registry import ExpectError

    huge = [["x" * 1000] * 1000] * 1000  # a billion characters if printed in full
    with pytest.raises(ExpectError) as info:
        default_registry().parse({"count": {"value": huge}})
    assert len(str(info.value)) < 400, str(info.value)
