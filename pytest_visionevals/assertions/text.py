"""Text assertions: ``equals``, ``contains``, ``regex``, ``one_of``, ``label``, ``yes_no``.

All comparisons use :func:`normalize.normalize_answer` (NFKC, case fold, whitespace
collapsed, markdown emphasis / surrounding quotes / trailing ``.!,;:`` stripped) unless
the assertion says otherwise; ``regex`` sees the raw answer.
"""

from __future__ import annotations

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from pytest_visionevals.assertions.base import AnswerContext, Assertion, Verdict
from pytest_visionevals.assertions.normalize import (
    Text,
    TextOrTexts,
    Texts,
    normalize_answer,
    strip_markdown,
    unicode_clean,
    words_pattern,
)
from pytest_visionevals.untrusted import shorten


def _verdict(ok: bool, explanation: str, parsed: object = None) -> Verdict:
    return Verdict(ok, 1.0 if ok else 0.0, explanation, parsed=parsed)


class Equals(Assertion):
    """The normalised answer equals the normalised value."""

    type_name: ClassVar[str] = "equals"
    shorthand: ClassVar[str | None] = "value"
    description: ClassVar[str] = "Answer equals value after normalisation."
    value: Text
    case_sensitive: bool = False

    def check(self, ctx: AnswerContext) -> Verdict:
        got = normalize_answer(ctx.text, case_sensitive=self.case_sensitive)
        want = normalize_answer(self.value, case_sensitive=self.case_sensitive)
        ok = got == want
        expl = (
            f"equals {self.value!r}"
            if ok
            else f"expected {self.value!r}, got {shorten(ctx.text)!r} (normalised {got!r})"
        )
        return _verdict(ok, expl, got)


class Contains(Assertion):
    """The normalised answer contains the value(s) as substrings (``all`` or any)."""

    type_name: ClassVar[str] = "contains"
    shorthand: ClassVar[str | None] = "value"
    description: ClassVar[str] = "Answer contains the value (or all / any of the values)."
    value: TextOrTexts = Field(min_length=1)
    all: bool = True
    case_sensitive: bool = False

    def check(self, ctx: AnswerContext) -> Verdict:
        values = [self.value] if isinstance(self.value, str) else list(self.value)
        got = normalize_answer(ctx.text, case_sensitive=self.case_sensitive)
        found = [
            v for v in values if normalize_answer(v, case_sensitive=self.case_sensitive) in got
        ]
        missing = [v for v in values if v not in found]
        ok = not missing if self.all else bool(found)
        if ok:
            expl = f"contains {', '.join(repr(v) for v in found)}"
        elif self.all:
            expl = f"missing {', '.join(repr(v) for v in missing)} in {shorten(ctx.text)!r}"
        else:
            expl = f"none of {values!r} in {shorten(ctx.text)!r}"
        score = len(found) / len(values) if self.all else float(ok)
        return Verdict(ok, score, expl, parsed=found)


class Regex(Assertion):
    """The raw answer (NFKC, stripped) matches ``pattern`` (search, or full match)."""

    type_name: ClassVar[str] = "regex"
    shorthand: ClassVar[str | None] = "pattern"
    description: ClassVar[str] = "Answer matches a regular expression."
    pattern: Text
    ignore_case: bool = True
    full: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        return v

    def check(self, ctx: AnswerContext) -> Verdict:
        flags = re.IGNORECASE if self.ignore_case else 0
        text = unicode_clean(ctx.text).strip()
        rx = re.compile(self.pattern, flags)
        m = rx.fullmatch(text) if self.full else rx.search(text)
        how = "fully match" if self.full else "match"
        expl = (
            f"matched {m.group(0)!r}"
            if m
            else f"{shorten(ctx.text)!r} does not {how} /{self.pattern}/"
        )
        return _verdict(m is not None, expl, m.group(0) if m else None)


class OneOf(Assertion):
    """The normalised answer equals one of ``values`` (acceptable alternatives)."""

    type_name: ClassVar[str] = "one_of"
    shorthand: ClassVar[str | None] = "values"
    description: ClassVar[str] = "Answer equals one of the values after normalisation."
    values: Texts = Field(min_length=1)
    case_sensitive: bool = False

    def check(self, ctx: AnswerContext) -> Verdict:
        got = normalize_answer(ctx.text, case_sensitive=self.case_sensitive)
        for v in self.values:
            if normalize_answer(v, case_sensitive=self.case_sensitive) == got:
                return _verdict(True, f"equals {v!r}", got)
        return _verdict(False, f"expected one of {self.values!r}, got {shorten(ctx.text)!r}", got)


# A mention preceded closely by one of these is negated: "not a bolt", "isn't a bolt".
_NEGATION = re.compile(
    r"(?<!\w)(?:not|no|never|neither|nor|without|isn't|aren't|wasn't|doesn't|don't|"
    r"cannot|can't)(?:\s+\S+){0,2}\s*$"
)


def find_mentions(text: str, phrases: list[str]) -> tuple[list[str], list[str]]:
    """(phrases mentioned affirmatively, phrases mentioned only negated) in ``text``."""
    plain, negated = [], []
    for phrase in phrases:
        hits = list(re.finditer(words_pattern(normalize_answer(phrase)), text))
        if not hits:
            continue
        if any(not _NEGATION.search(text[max(0, h.start() - 40) : h.start()]) for h in hits):
            plain.append(phrase)
        else:
            negated.append(phrase)
    return plain, negated


class Label(Assertion):
    """The answer names ``label`` or a synonym as whole words, not negated, and no forbidden.

    Word boundaries make "bolt" not match "bolts" or "unbolted": list plural or compound
    forms in ``synonyms``. A mention is negated when "not", "no", "isn't", ... appears
    within the two words before it ("this is not a bolt").
    """

    type_name: ClassVar[str] = "label"
    shorthand: ClassVar[str | None] = "label"
    description: ClassVar[str] = "Answer names the label (or a synonym) and none forbidden."
    label: Text = Field(min_length=1)
    synonyms: Texts = Field(default_factory=list)
    forbidden: Texts = Field(default_factory=list)

    def check(self, ctx: AnswerContext) -> Verdict:
        text = normalize_answer(ctx.text)
        wanted = [self.label, *self.synonyms]
        named, negated = find_mentions(text, wanted)
        bad, _ = find_mentions(text, self.forbidden)
        if bad:
            return _verdict(
                False,
                f"names forbidden {', '.join(map(repr, bad))} in {shorten(ctx.text)!r}",
                named,
            )
        if named:
            return _verdict(True, f"names {named[0]!r}", named)
        if negated:
            return _verdict(
                False, f"{negated[0]!r} only appears negated in {shorten(ctx.text)!r}", []
            )
        return _verdict(
            False,
            f"expected {self.label!r}"
            + (f" (or {', '.join(map(repr, self.synonyms))})" if self.synonyms else "")
            + f", got {shorten(ctx.text)!r}",
            [],
        )


_YES = re.compile(r"(?<!\w)(?:yes|yeah|yep|yup|affirmative)(?!\w)")
# "no" is a verdict at the start of a sentence or before punctuation / the end; inside a
# sentence ("there is no damage") it is a determiner, not an answer.
_NO = re.compile(
    r"(?<!\w)(?:no|nope)(?=\s*(?:[.,!;:)]|$))"  # "No." "no, it is not" "No!"
    r"|(?:^|(?<=[.!?;:] ))(?:no|nope)(?= (?:it|there|they|this|that|i|he|she|we|you)\b)"
)
_TRUE_FALSE = {"true": "yes", "false": "no", "correct": "yes", "incorrect": "no"}
_HEDGE = re.compile(
    r"(?<!\w)(?:maybe|perhaps|possibly|probably|not sure|unsure|uncertain|unclear|"
    r"can't tell|cannot tell|can't be sure|cannot determine|can't determine|"
    r"hard to (?:say|tell)|difficult to (?:say|tell)|it depends|unknown|not certain)(?!\w)"
)


def read_yes_no(answer: str) -> tuple[str | None, str]:
    """('yes' | 'no' | None, reason). Refuses hedged answers and answers saying both."""
    text = normalize_answer(strip_markdown(answer))
    if text in _TRUE_FALSE:
        return _TRUE_FALSE[text], "verdict word"
    hedge = _HEDGE.search(text)
    if hedge:
        return None, f"hedged ({hedge.group(0)!r})"
    yes = bool(_YES.search(text))
    no = bool(_NO.search(text))
    if yes and no:
        return None, "ambiguous: says both yes and no"
    if yes:
        return "yes", "says yes"
    if no:
        return "no", "says no"
    return None, "no yes/no verdict found"


class YesNo(Assertion):
    """The answer is a clear yes or a clear no, equal to ``value``.

    Accepts "Yes.", "**No**", "no, it is not", "Yes, there is no damage" (the "no" inside a
    sentence is not a verdict). Rejects hedges ("maybe", "I'm not sure") and answers that
    say both yes and no.
    """

    type_name: ClassVar[str] = "yes_no"
    shorthand: ClassVar[str | None] = "value"
    description: ClassVar[str] = "Answer is a clear yes or no equal to value."
    value: Literal["yes", "no"]

    @field_validator("value", mode="before")
    @classmethod
    def _bool_ok(cls, v: object) -> object:
        # YAML 1.1 reads a bare `yes` as True.
        if isinstance(v, bool):
            return "yes" if v else "no"
        return v.strip().lower() if isinstance(v, str) else v

    def check(self, ctx: AnswerContext) -> Verdict:
        got, reason = read_yes_no(ctx.text)
        if got is None:
            return _verdict(False, f"expected {self.value}, {reason}: {shorten(ctx.text)!r}")
        ok = got == self.value
        expl = f"says {got}" if ok else f"expected {self.value}, got {got}: {shorten(ctx.text)!r}"
        return _verdict(ok, expl, got)


TYPES: list[type[Assertion]] = [Equals, Contains, Regex, OneOf, Label, YesNo]
