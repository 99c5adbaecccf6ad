"""A user-defined assertion type (the example of docs/assertions.md) through the registry."""

from __future__ import annotations

import subprocess
import sys
from typing import ClassVar

import pytest

from pytest_visionevals.assertions import (
    BUILTIN_FAMILIES,
    AnswerContext,
    Assertion,
    AssertionRegistry,
    ExpectError,
    Verdict,
    builtin_types,
    default_registry,
    family_types,
)
from pytest_visionevals.assertions.registry import load_registry


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


# -- built-in families, imported on first use ------------------------------------------


def test_family_table_matches_each_family_types() -> None:
    # The registry knows built-in names before importing their module: this table must
    # list exactly what each family module defines, in its order.
    for family, names in BUILTIN_FAMILIES.items():
        assert tuple(cls.type_name for cls in family_types(family)) == names, family
    assert [cls.type_name for cls in builtin_types()] == [
        name for names in BUILTIN_FAMILIES.values() for name in names
    ]


def test_builtin_names_replaced_or_clashing_like_registered_ones() -> None:
    reg = load_registry()
    assert "boxes" in reg.names()
    assert "word_limit" not in reg.names()

    class Count(WordLimit):
        type_name: ClassVar[str] = "count"

    with pytest.raises(ValueError, match="'count' is already registered"):
        reg.register(Count)
    reg.register(Count, replace=True)
    assert reg.get("count") is Count
    assert default_registry().get("count") is not Count  # a copy was changed
    reg.register(default_registry().get("boxes"))  # the same class again: accepted
    with pytest.raises(ExpectError, match=r"unknown assertion type 'bogus'; valid types: all, "):
        reg.parse({"bogus": 1})


def test_a_suite_that_only_counts_imports_no_other_family() -> None:
    """Parsing ``count`` imports the numbers family only: not the box parsers, the OCR
    metric (rapidfuzz) or json_repair (a fresh interpreter: nothing imported them yet)."""
    code = (
        "import sys\n"
        "from pytest_visionevals.assertions.registry import load_registry\n"
        "load_registry().parse({'count': 3})\n"
        "print(sorted(m.rsplit('.', 1)[1] for m in sys.modules\n"
        "             if m.startswith('pytest_visionevals.assertions.')))\n"
        "print([m for m in ('rapidfuzz', 'json_repair') if m in sys.modules])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    loaded, third_party = out.stdout.strip().splitlines()
    assert loaded == "['base', 'numbers', 'numparse', 'registry']"
    assert third_party == "[]"
