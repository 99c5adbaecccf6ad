"""Catalog facts of the compared models, as plain builtins for the JSON and the reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pytest_visionevals.models import Catalog


def model_facts(catalog: Catalog, names: Iterable[str]) -> dict[str, dict[str, Any]]:
    """{name: {organization, weights, license, ..., pricing}} for the names in the catalog."""
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        spec = catalog.models.get(name)
        if spec is None:
            continue
        out[name] = {
            "display_name": spec.label,
            "provider": spec.provider,
            "model_id": spec.model_id,
            **spec.facts.model_dump(),
            "pricing": spec.pricing.model_dump(),
        }
    return out
