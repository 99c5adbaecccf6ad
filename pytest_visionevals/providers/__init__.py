"""Providers: one module per API, all behind :class:`~pytest_visionevals.providers.base.Provider`.

``make_provider(spec)`` returns the provider for a catalog entry, one instance per model
per process (SDK clients and the OCR engine are expensive and thread-safe to share).
SDK modules are imported only when a model of that provider is used.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_visionevals.models import ModelSpec
    from pytest_visionevals.providers.base import BatchAPI, Provider

# Providers whose API has a batch mode (--vision-batch).
BATCH_PROVIDERS = ("openai", "google")

_LOCK = threading.Lock()
_CACHE: dict[str, Provider] = {}


def _create(spec: ModelSpec) -> Provider:
    if spec.provider == "openai":
        from pytest_visionevals.providers.openai_responses import OpenAIResponsesProvider

        return OpenAIResponsesProvider(spec)
    if spec.provider == "google":
        from pytest_visionevals.providers.google import GoogleProvider

        return GoogleProvider(spec)
    if spec.provider == "openai-compatible":
        from pytest_visionevals.providers.openai_compat import OpenAICompatProvider

        return OpenAICompatProvider(spec)
    if spec.provider == "rapidocr":
        from pytest_visionevals.providers.rapidocr_baseline import RapidOCRProvider

        return RapidOCRProvider(spec)
    raise ValueError(f"model {spec.name!r}: provider {spec.provider!r} has no implementation here")


def make_provider(spec: ModelSpec) -> Provider:
    """The provider instance for ``spec`` (cached by the spec's full content).

    Keyed by content, not name, so an override that changes a model's ``base_url`` or
    options gets a fresh instance.
    """
    key = spec.model_dump_json()
    with _LOCK:
        provider = _CACHE.get(key)
        if provider is None:
            provider = _create(spec)
            _CACHE[key] = provider
        return provider


def supports_batch(spec: ModelSpec) -> bool:
    """Whether ``--vision-batch`` sends this model's calls through its batch API."""
    return spec.batch and spec.provider in BATCH_PROVIDERS


def make_batch_api(spec: ModelSpec) -> BatchAPI:
    """The batch API of a model (``supports_batch``), built on its provider instance."""
    provider = make_provider(spec)
    if spec.provider == "openai":
        from pytest_visionevals.providers.openai_batch import OpenAIBatchAPI
        from pytest_visionevals.providers.openai_responses import OpenAIResponsesProvider

        assert isinstance(provider, OpenAIResponsesProvider)
        return OpenAIBatchAPI(spec, provider)
    if spec.provider == "google":
        from pytest_visionevals.providers.google import GoogleProvider
        from pytest_visionevals.providers.google_batch import GoogleBatchAPI

        assert isinstance(provider, GoogleProvider)
        return GoogleBatchAPI(spec, provider)
    raise ValueError(f"model {spec.name!r}: provider {spec.provider!r} has no batch API")


def clear_provider_cache() -> None:
    """Forget cached providers (tests that swap endpoints or keys)."""
    with _LOCK:
        _CACHE.clear()


def close_providers() -> None:
    """Close the SDK clients of every cached provider and forget them (end of a session).

    Closing explicitly, not at interpreter exit: the SDKs' ``__del__`` then runs while
    module globals are being torn down and prints ignored exceptions.
    """
    with _LOCK:
        providers = list(_CACHE.values())
        _CACHE.clear()
    for provider in providers:
        close = getattr(provider, "close", None)
        if callable(close):
            # Best effort: results are already saved.
            with contextlib.suppress(Exception):
                close()


__all__ = [
    "BATCH_PROVIDERS",
    "clear_provider_cache",
    "close_providers",
    "make_batch_api",
    "make_provider",
    "supports_batch",
]
