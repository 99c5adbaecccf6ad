"""Numeric assertions: ``number`` (tolerances, optional unit) and ``count`` (integers).

Numbers are read by :mod:`numparse`, which refuses to guess (two different numbers in the
answer fail with "ambiguous: found 26 and 27"). A failure always shows the parsed number
and the raw answer.
"""

from __future__ import annotations

import math
from typing import ClassVar

from pydantic import Field, field_validator

from pytest_visionevals.assertions.base import AnswerContext, Assertion, Verdict
from pytest_visionevals.assertions.numparse import (
    NumberMatch,
    NumberParse,
    find_numbers,
    format_number,
    parse_single_number,
)
from pytest_visionevals.untrusted import shorten

# Unit aliases -> (canonical unit, factor to the dimension's base unit).
_UNIT_TABLE: dict[str, tuple[str, str, float]] = {}


def _add(dim: str, canon: str, factor: float, *aliases: str) -> None:
    for a in (canon, *aliases):
        _UNIT_TABLE[a] = (dim, canon, factor)


_add("length", "mm", 0.001, "millimeter", "millimeters", "millimetre", "millimetres")
_add("length", "cm", 0.01, "centimeter", "centimeters", "centimetre", "centimetres")
_add("length", "m", 1.0, "meter", "meters", "metre", "metres")
_add("length", "km", 1000.0, "kilometer", "kilometers", "kilometre", "kilometres")
_add("length", "in", 0.0254, "inch", "inches", '"', "″", "''")
_add("length", "ft", 0.3048, "foot", "feet", "'", "′")
_add("mass", "g", 0.001, "gram", "grams")
_add("mass", "kg", 1.0, "kilogram", "kilograms", "kilo", "kilos")
_add("mass", "mg", 1e-6, "milligram", "milligrams")
_add("mass", "lb", 0.45359237, "lbs", "pound", "pounds")
_add("volume", "ml", 0.001, "milliliter", "milliliters", "millilitre", "millilitres")
_add("volume", "l", 1.0, "liter", "liters", "litre", "litres")
_add("ratio", "%", 1.0, "percent", "per cent", "pct")
_add("angle", "deg", 1.0, "°", "degree", "degrees")
_add("time", "s", 1.0, "sec", "secs", "second", "seconds")
_add("time", "ms", 0.001, "millisecond", "milliseconds")
_add("time", "min", 60.0, "mins", "minute", "minutes")
_add("time", "h", 3600.0, "hr", "hrs", "hour", "hours")
_add("pixels", "px", 1.0, "pixel", "pixels")


def unit_info(unit: str | None) -> tuple[str, str, float] | None:
    if unit is None:
        return None
    return _UNIT_TABLE.get(unit.strip().lower())


def _convert(m: NumberMatch, want: str) -> float | None:
    """``m`` in unit ``want``, or None when its unit is unknown or of another dimension."""
    have, target = unit_info(m.unit), unit_info(want)
    if have is None or target is None or have[0] != target[0]:
        return None
    return m.value * have[2] / target[2]


def parse_with_unit(text: str, unit: str) -> tuple[NumberParse, str]:
    """Read one number in ``unit``: prefer numbers written with that unit (or a convertible
    one, converted), else unitless numbers. Returns the parse and a note for explanations.
    """
    target = unit_info(unit)
    matches = find_numbers(text)
    good = [m for m in matches if not m.ambiguous]
    same = [
        m
        for m in good
        if m.unit is not None
        and (m.unit == unit.lower() or (target and unit_info(m.unit) == target))
    ]
    if same:
        values = {m.value for m in same}
        if len(values) == 1:
            return NumberParse(same[0].value, tuple(matches)), f"read with unit {unit}"
    converted = [(m, v) for m in good if (v := _convert(m, unit)) is not None]
    if converted and not same:
        values = {round(v, 9) for _, v in converted}
        if len(values) == 1:
            m, v = converted[0]
            return (
                NumberParse(v, tuple(matches)),
                f"converted {format_number(m.value)} {m.unit} to {format_number(v)} {unit}",
            )
    known = [m for m in good if unit_info(m.unit) is not None]
    if known and not same and not converted:
        m = known[0]
        return (
            NumberParse(
                None, tuple(matches), f"unit mismatch: found {m.text} {m.unit}, expected {unit}"
            ),
            "",
        )
    parse = parse_single_number(text)
    return parse, "no unit given in answer; assumed " + unit if parse.value is not None else ""


class Number(Assertion):
    """The answer states one number equal to ``value`` within ``abs_tol`` / ``rel_tol``.

    With ``unit`` set, a number written with that unit (or a convertible one: ``12 cm`` for
    ``mm``) is preferred; a bare number is taken to be in ``unit``; an incompatible unit
    fails.
    """

    type_name: ClassVar[str] = "number"
    shorthand: ClassVar[str | None] = "value"
    description: ClassVar[str] = "Answer states one number equal to value within tolerance."
    value: float
    abs_tol: float = Field(default=0.0, ge=0)
    rel_tol: float = Field(default=0.0, ge=0)
    unit: str | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _no_strings(cls, v: object) -> object:
        if isinstance(v, (str, bool)):  # "2,428" is ambiguous by design: ask for a number
            raise ValueError("write the expected number as a YAML number (2428, 2.428)")
        return v

    def check(self, ctx: AnswerContext) -> Verdict:
        note = ""
        if self.unit:
            parse, note = parse_with_unit(ctx.text, self.unit)
        else:
            parse = parse_single_number(ctx.text)
        want = format_number(self.value) + (f" {self.unit}" if self.unit else "")
        if parse.value is None:
            return Verdict(
                False, 0.0, f"expected {want}; {parse.error} in answer {shorten(ctx.text)!r}"
            )
        got = parse.value
        ok = (
            math.isclose(got, self.value, rel_tol=self.rel_tol, abs_tol=self.abs_tol)
            or got == self.value
        )
        tol = []
        if self.abs_tol:
            tol.append(f"±{format_number(self.abs_tol)}")
        if self.rel_tol:
            tol.append(f"±{self.rel_tol:.0%}")
        tol_s = f" ({', '.join(tol)})" if tol else ""
        extra = f" [{note}]" if note else ""
        expl = (
            f"{format_number(got)} == {want}{tol_s}{extra}"
            if ok
            else f"expected {want}{tol_s}, parsed {format_number(got)}{extra} from answer "
            f"{shorten(ctx.text)!r}"
        )
        return Verdict(
            ok,
            float(ok),
            expl,
            parsed=got,
            details={"parsed_value": got, "expected_value": self.value},
        )


class Count(Assertion):
    """The answer states one whole number within ``tolerance`` of ``value``."""

    type_name: ClassVar[str] = "count"
    shorthand: ClassVar[str | None] = "value"
    description: ClassVar[str] = "Answer states one whole number equal to value (± tolerance)."
    value: int = Field(ge=0)
    tolerance: int = Field(default=0, ge=0)

    @field_validator("value", mode="before")
    @classmethod
    def _strict_int(cls, v: object) -> object:
        if (
            isinstance(v, bool)
            or (isinstance(v, float) and not v.is_integer())
            or isinstance(v, str)
        ):
            raise ValueError("count value must be a whole number")
        return v

    def check(self, ctx: AnswerContext) -> Verdict:
        parse = parse_single_number(ctx.text, integer=True)
        tol = f" ± {self.tolerance}" if self.tolerance else ""
        if parse.value is None:
            return Verdict(
                False,
                0.0,
                f"expected {self.value}{tol}; {parse.error} in answer {shorten(ctx.text)!r}",
            )
        got = int(parse.value)
        ok = abs(got - self.value) <= self.tolerance
        expl = (
            f"counted {got}" + (f" (expected {self.value}{tol})" if tol else "")
            if ok
            else f"expected {self.value}{tol}, parsed {got} from answer {shorten(ctx.text)!r}"
        )
        return Verdict(
            ok,
            float(ok),
            expl,
            parsed=got,
            details={"parsed_value": got, "expected_value": self.value},
        )


TYPES: list[type[Assertion]] = [Number, Count]
