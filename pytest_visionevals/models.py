"""The model catalog: packaged ``models.yaml`` plus a project-level override file.

A user adds a model or fixes a price without code: ``visionevals.models.yaml`` in the
project root (the pytest rootdir), or any path given with ``--vision-catalog`` /
``vision_catalog``. Entries there are deep-merged over the packaged ones by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pytest_visionevals.params import BoxFormat, GenerationParams, Task
from pytest_visionevals.validation import describe_validation

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

ProviderName = Literal["openai", "google", "openai-compatible", "rapidocr"]
OVERRIDE_FILENAME = "visionevals.models.yaml"


class Pricing(BaseModel):
    """USD per 1M tokens. ``None`` means unknown (cost shown as unknown, never $0).

    Answers obtained through a provider's batch API (``--vision-batch``) are priced by
    ``batch()``: the explicit ``batch_*`` prices, else the standard ones less
    ``batch_discount`` (0.5 = half price), else unknown.
    """

    model_config = ConfigDict(extra="forbid")

    input: float | None = Field(default=None, ge=0)
    cached_input: float | None = Field(default=None, ge=0)
    output: float | None = Field(default=None, ge=0)
    source: str | None = None  # where the price was read, and when
    batch_discount: float | None = Field(default=None, ge=0, le=1)  # fraction off, batch only
    batch_input: float | None = Field(default=None, ge=0)
    batch_cached_input: float | None = Field(default=None, ge=0)
    batch_output: float | None = Field(default=None, ge=0)
    batch_source: str | None = None  # where the batch price or discount was read

    def batch(self) -> Pricing:
        """The prices of an answer obtained through the provider's batch API."""
        if self.batch_input is not None or self.batch_output is not None:
            return Pricing(
                input=self.batch_input,
                cached_input=self.batch_cached_input,
                output=self.batch_output,
                source=self.batch_source,
            )
        if self.batch_discount is None:
            return Pricing(source=self.batch_source)  # unknown stays unknown
        keep = 1.0 - self.batch_discount

        def scaled(price: float | None) -> float | None:
            return None if price is None else price * keep

        return Pricing(
            input=scaled(self.input),
            cached_input=scaled(self.cached_input),
            output=scaled(self.output),
            source=self.batch_source,
        )


class RateLimit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    requests_per_minute: float | None = Field(default=None, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)


class ModelFacts(BaseModel):
    """What a comparison page shows about a model."""

    model_config = ConfigDict(extra="forbid")

    organization: str | None = None
    weights: Literal["open", "closed"] | None = None
    license: str | None = None
    context_window: int | None = None
    parameters: str | None = None  # e.g. "26B total / 4B active"
    release_date: str | None = None  # ISO date


class ModelSpec(BaseModel):
    """One entry of the catalog."""

    model_config = ConfigDict(extra="forbid")

    name: str  # the catalog name users select, e.g. "gemma-4-26b-a4b"
    provider: ProviderName
    model_id: str  # the provider's own id, e.g. "gemma-4-26b-a4b-it"
    display_name: str | None = None
    pricing: Pricing = Field(default_factory=Pricing)
    box_format: BoxFormat = "xyxy_px"
    params: GenerationParams = Field(default_factory=GenerationParams)
    tasks: list[Task] | None = None  # None = every task
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    facts: ModelFacts = Field(default_factory=ModelFacts)
    base_url: str | None = None
    api_key_env: str | None = None  # env var holding the key; None = provider default
    api_version: str | None = None  # google: v1beta by default
    # Recordings are kept per endpoint (an answer from a test server never replays for the
    # real API); true shares them across endpoints (one model behind several hosts).
    shared_recordings: bool = False
    timeout_s: float = Field(default=120.0, gt=0)
    max_attempts: int = Field(default=4, ge=1)
    # false: never sent through the provider's batch API under --vision-batch (called
    # directly instead). Only the openai and google providers have one.
    batch: bool = True
    # Provider-specific switches (e.g. supports_system_instruction, json_mode for Gemma 3).
    options: dict[str, Any] = Field(default_factory=dict)

    def supports(self, task: str) -> bool:
        return self.tasks is None or task in self.tasks

    @property
    def label(self) -> str:
        return self.display_name or self.name


class CatalogError(Exception):
    """A catalog file is malformed; the message names the file and the field."""


@dataclass(frozen=True)
class Catalog:
    models: Mapping[str, ModelSpec]
    sources: tuple[str, ...]

    def get(self, name: str) -> ModelSpec:
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(sorted(self.models))
            raise KeyError(f"unknown model {name!r}; known models: {known}") from None

    def names(self) -> list[str]:
        return sorted(self.models)

    def facts(self, names: Iterable[str]) -> dict[str, dict[str, Any]]:
        """What reports show of each named model, as plain builtins (JSON, Markdown, HTML):
        {name: {display_name, provider, model_id, organization, ..., pricing}}."""
        out: dict[str, dict[str, Any]] = {}
        for name in names:
            spec = self.models.get(name)
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


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_entries(text: str, origin: str) -> dict[str, dict[str, Any]]:
    try:
        # libyaml's loader when present: the packaged catalog takes 40 ms in pure Python.
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    except yaml.YAMLError as exc:
        raise CatalogError(f"{origin}: invalid YAML: {exc}") from None
    models = data.get("models", {}) if isinstance(data, dict) else None
    if not isinstance(models, dict):
        raise CatalogError(f"{origin}: expected a mapping 'models: {{name: {{...}}}}'")
    out: dict[str, dict[str, Any]] = {}
    for name, entry in models.items():
        if not isinstance(entry, dict):
            raise CatalogError(f"{origin}: models.{name}: expected a mapping")
        out[str(name)] = entry
    return out


def load_catalog(*override_paths: Path) -> Catalog:
    """Load the packaged catalog and merge each existing override file over it."""
    packaged = resources.files("pytest_visionevals").joinpath("models.yaml").read_text("utf-8")
    entries = _read_entries(packaged, "pytest_visionevals/models.yaml")
    sources = ["pytest_visionevals/models.yaml"]
    for path in override_paths:
        if not path.is_file():
            continue
        for name, entry in _read_entries(path.read_text("utf-8"), str(path)).items():
            entries[name] = _deep_merge(entries.get(name, {}), entry)
        sources.append(str(path))
    models: dict[str, ModelSpec] = {}
    for name, entry in entries.items():
        try:
            models[name] = ModelSpec(name=name, **entry)
        except ValidationError as exc:
            loc, msg = describe_validation(exc)
            where = ".".join(str(p) for p in loc)
            raise CatalogError(f"{' + '.join(sources)}: models.{name}.{where}: {msg}") from None
    return Catalog(models=models, sources=tuple(sources))
