"""``all``, ``any`` and ``not``: combine assertions, with weights for partial credit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pytest_visionevals.assertions.base import AnswerContext, Assertion, Verdict
from pytest_visionevals.assertions.registry import ExpectError
from pytest_visionevals.untrusted import short_repr

if TYPE_CHECKING:
    from pytest_visionevals.assertions.registry import AssertionRegistry


def _weight(value: Any, allowed: set[str], path: str) -> float:
    if not isinstance(value, dict) or not (allowed - {"weight"}) & value.keys():
        return 1.0
    extra = sorted(set(value) - allowed)
    if extra:
        raise ExpectError(
            f"{path}.{extra[0]}", f"unknown field; accepts: {', '.join(sorted(allowed))}"
        )
    weight = value.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
        raise ExpectError(f"{path}.weight", f"expected a number >= 0 (got {short_repr(weight)})")
    return float(weight)


def _weighted(verdicts: list[Verdict], weights: list[float]) -> float:
    total = sum(weights)
    if total <= 0:
        return 0.0
    return sum(v.score * w for v, w in zip(verdicts, weights, strict=True)) / total


class AllOf(Assertion):
    """Passes when every item passes; score is the weighted mean (partial credit)."""

    type_name: ClassVar[str] = "all"
    description: ClassVar[str] = "Every listed assertion must pass; score = weighted mean."
    items: list[Assertion]

    @classmethod
    def parse_value(cls, value: Any, path: str, reg: AssertionRegistry) -> Assertion:
        # A list, or {items: [...], weight: w} when the combinator itself carries a weight.
        weight = _weight(value, {"items", "weight"}, path)
        items = value["items"] if isinstance(value, dict) and "items" in value else value
        base = f"{path}.items" if items is not value else path
        if not isinstance(items, list) or not items:
            raise ExpectError(base, "expected a non-empty list of assertions")
        return cls(items=[reg.parse(v, f"{base}[{i}]") for i, v in enumerate(items)], weight=weight)

    def children(self) -> list[Assertion]:
        return list(self.items)

    def check(self, ctx: AnswerContext) -> Verdict:
        verdicts = [a.evaluate(ctx) for a in self.items]
        passed = all(v.passed for v in verdicts)
        failed = [v for v in verdicts if not v.passed]
        expl = (
            "all passed" if passed else "; ".join(f"{v.assertion}: {v.explanation}" for v in failed)
        )
        return Verdict(
            passed, _weighted(verdicts, [a.weight for a in self.items]), expl, children=verdicts
        )


class AnyOf(AllOf):
    """Passes when at least one item passes; score is the best item score."""

    type_name: ClassVar[str] = "any"
    description: ClassVar[str] = "At least one listed assertion must pass; score = best."

    def check(self, ctx: AnswerContext) -> Verdict:
        verdicts = [a.evaluate(ctx) for a in self.items]
        passed = any(v.passed for v in verdicts)
        best = max(verdicts, key=lambda v: v.score)
        expl = (
            f"passed by {next(v.assertion for v in verdicts if v.passed)}"
            if passed
            else "none passed: " + "; ".join(f"{v.assertion}: {v.explanation}" for v in verdicts)
        )
        return Verdict(
            passed,
            best.score if passed else max(v.score for v in verdicts) if verdicts else 0.0,
            expl,
            children=verdicts,
        )


class Not(Assertion):
    """Passes when the inner assertion fails (e.g. the answer must not name a wrong label)."""

    type_name: ClassVar[str] = "not"
    description: ClassVar[str] = "Inverts one assertion."
    item: Assertion

    @classmethod
    def parse_value(cls, value: Any, path: str, reg: AssertionRegistry) -> Assertion:
        # An expect mapping, or {item: {...}, weight: w}.
        if isinstance(value, dict) and "item" in value:
            return cls(
                item=reg.parse(value["item"], f"{path}.item"),
                weight=_weight(value, {"item", "weight"}, path),
            )
        return cls(item=reg.parse(value, path))

    def children(self) -> list[Assertion]:
        return [self.item]

    def check(self, ctx: AnswerContext) -> Verdict:
        inner = self.item.evaluate(ctx)
        passed = not inner.passed
        expl = (
            f"as required, not {inner.assertion}"
            if passed
            else f"must not pass {inner.assertion} but did ({inner.explanation})"
        )
        return Verdict(passed, 1.0 if passed else 0.0, expl, children=[inner])


TYPES: list[type[Assertion]] = [AllOf, AnyOf, Not]
