"""make_provider: one cached instance per model, the right class per provider."""

from __future__ import annotations

import pytest

from pytest_visionevals.models import ModelSpec, load_catalog
from pytest_visionevals.providers import clear_provider_cache, make_provider
from pytest_visionevals.providers.google import GoogleProvider
from pytest_visionevals.providers.openai_compat import OpenAICompatProvider
from pytest_visionevals.providers.openai_responses import OpenAIResponsesProvider
from pytest_visionevals.providers.rapidocr_baseline import RapidOCRProvider


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("gpt-5.2", OpenAIResponsesProvider),
        ("gpt-5-mini", OpenAIResponsesProvider),
        ("gemma-4-26b-a4b", GoogleProvider),
        ("gemini-3-flash", GoogleProvider),
        ("ollama-gemma3", OpenAICompatProvider),
        ("rapidocr", RapidOCRProvider),
    ],
)
def test_provider_class_per_catalog_entry(name: str, cls: type) -> None:
    assert isinstance(make_provider(load_catalog().get(name)), cls)


def test_cached_per_model_and_content() -> None:
    clear_provider_cache()
    spec = load_catalog().get("gpt-5.2")
    assert make_provider(spec) is make_provider(load_catalog().get("gpt-5.2"))
    changed = ModelSpec(**{**spec.model_dump(), "base_url": "http://127.0.0.1:1/v1"})
    assert make_provider(changed) is not make_provider(spec)
    first = make_provider(spec)
    clear_provider_cache()
    assert make_provider(spec) is not first


def test_unknown_provider_is_a_clear_error() -> None:
    # model_construct: the catalog schema would refuse the name before make_provider sees it.
    spec = ModelSpec.model_construct(name="x", provider="fake", model_id="x")
    with pytest.raises(ValueError, match="'x': provider 'fake'"):
        make_provider(spec)


def test_catalog_has_required_models_with_sourced_prices() -> None:
    catalog = load_catalog()
    gpt = catalog.get("gpt-5.2").pricing
    assert (gpt.input, gpt.cached_input, gpt.output) == (1.75, 0.175, 14.0)
    gemma = catalog.get("gemma-4-26b-a4b")
    assert (gemma.model_id, gemma.pricing.input, gemma.pricing.output) == (
        "gemma-4-26b-a4b-it",
        0.06,
        0.33,
    )
    assert catalog.get("rapidocr").tasks == ["ocr"]
    for name in catalog.names():
        spec = catalog.get(name)
        assert spec.pricing.source, f"{name}: every price needs a source"
        expected = "yxyx_1000" if spec.provider == "google" else "xyxy_px"
        assert spec.box_format == expected, name
