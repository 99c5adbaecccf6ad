"""Hooks that pytest-visionevals offers to conftest.py files and plugins."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_visionevals.assertions import AssertionRegistry


@pytest.hookspec(historic=True)
def pytest_visionevals_register_assertions(registry: AssertionRegistry) -> None:
    """Register custom assertion types: ``registry.register(MyAssertion)``.

    ``MyAssertion`` subclasses :class:`pytest_visionevals.assertions.Assertion`, sets
    ``type_name`` (its key under ``expect:``) and implements ``check(ctx) -> Verdict``.
    """
