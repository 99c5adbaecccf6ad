"""Vision-aware assertions, one module per family, plus the registry."""

from __future__ import annotations

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


def builtin_types() -> list[type[Assertion]]:
    """Every built-in assertion class. Each family module exports ``TYPES``."""
    from pytest_visionevals.assertions import combinators, text

    families = [combinators, text]
    for optional in ("numbers", "boxes", "ocr", "jsonfields", "judge"):
        try:
            module = __import__(f"pytest_visionevals.assertions.{optional}", fromlist=["TYPES"])
        except ModuleNotFoundError as exc:
            if exc.name != f"pytest_visionevals.assertions.{optional}":
                raise
            continue
        families.append(module)
    out: list[type[Assertion]] = [combinators.AllOf, combinators.AnyOf, combinators.Not]
    for fam in families[1:]:
        out.extend(fam.TYPES)
    return out
