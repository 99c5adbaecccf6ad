"""A user-defined assertion type (the example of docs/assertions.md) through the registry."""

from __future__ import annotations

from typing import ClassVar

import pytest

from pytest_visionevals.assertions import (
    AnswerContext,
    Assertion,
    AssertionRegistry,
    ExpectError,
    Verdict,
    builtin_types,
)


class WordLimit(Assertion):
    type_name: ClassVar[str] = "word_limit"
    shorthand: ClassVar[str | None] = "max_words"
    max_words: int

    def check(self, ctx: AnswerContext) -> Verdict:
        n = len(ctx.text.split())
        ok = n <= self.max_words
        return Verdict(
            ok, 1.0 if ok else self.max_words / n, f"{n} words (limit {self.max_words})", parsed=n
        )

    def prompt_hint(self, box_format: str) -> str | None:
        return f"Answer in at most {self.max_words} words."


def registry() -> AssertionRegistry:
    reg = AssertionRegistry()
    for cls in builtin_types():
        reg.register(cls)
    reg.register(WordLimit)
    return reg


def test_custom_type_parses_and_combines() -> None:
    a = registry().parse({"all": [{"word_limit": 3}, {"contains": "car"}]})
    v = a.evaluate(AnswerContext(text="a red car parked"))
    assert not v.passed
    assert v.children[0].explanation == "4 words (limit 3)"
    assert v.score == pytest.approx((0.75 + 1) / 2)
    assert a.hints("xyxy_px") == ["Answer in at most 3 words."]


def test_custom_type_errors_name_the_field() -> None:
    with pytest.raises(ExpectError) as err:
        registry().parse({"word_limit": {"max_words": 3, "min_words": 1}})
    assert err.value.path == "expect.word_limit.min_words"


def test_duplicate_names_are_refused() -> None:
    reg = registry()

    class Other(WordLimit):
        pass

    with pytest.raises(ValueError, match="already registered"):
        reg.register(Other)
    reg.register(Other, replace=True)
    assert reg.get("word_limit") is Other
