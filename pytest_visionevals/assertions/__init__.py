"""Vision-aware assertions, one module per family, plus the registry."""

from __future__ import annotations

import importlib

from pytest_visionevals.assertions.base import AnswerContext, Assertion, Verdict
from pytest_visionevals.assertions.registry import (
    AssertionRegistry,
    ExpectError,
    default_registry,
)

__all__ = [
    "AnswerContext",
    "Assertion",
    "AssertionRegistry",
    "ExpectError",
    "Verdict",
    "builtin_types",
    "default_registry",
]

# The built-in type names of each family module (each exports ``TYPES``). The registry
# imports a family when one of its names is first used: a suite that only counts never
# loads the box parsers, the OCR metric (rapidfuzz) or json_repair, and under pytest every
# module imported costs a parse and compile on each run when bytecode is not written
# (docs/performance.md). tests/test_assert_custom.py checks this table against TYPES.
BUILTIN_FAMILIES: dict[str, tuple[str, ...]] = {
    "combinators": ("all", "any", "not"),
    "text": ("equals", "contains", "regex", "one_of", "label", "yes_no"),
    "numbers": ("number", "count"),
    "boxes": ("boxes", "box", "point"),
    "ocr": ("ocr",),
    "jsonfields": ("json",),
    "judge": ("judge",),
}


def family_types(family: str) -> list[type[Assertion]]:
    """The assertion classes of one built-in family module (imports it)."""
    module = importlib.import_module(f"pytest_visionevals.assertions.{family}")
    types: list[type[Assertion]] = module.TYPES
    return list(types)


def builtin_types() -> list[type[Assertion]]:
    """Every built-in assertion class (imports every family)."""
    return [cls for family in BUILTIN_FAMILIES for cls in family_types(family)]
