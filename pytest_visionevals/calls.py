"""The value types of one model call, shared by every layer (no layer owns them).

``ImageInput`` / ``Request`` go to a provider, which returns a ``Completion`` with its
``Usage``; the collection layer wraps a request in a ``CallJob``; the engine (concurrency,
cache, rate limits, budget, pricing) turns jobs into ``CallOutcome``s; the outcome module
scores them. Nothing here imports pytest, a provider or the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from pytest_visionevals.models import ModelSpec
    from pytest_visionevals.params import GenerationParams
    from pytest_visionevals.results import SkipKind

CallStatus = Literal["ok", "error", "skipped"]


@dataclass(frozen=True)
class ImageInput:
    """One image as sent to a model (already oriented, possibly downscaled, encoded)."""

    data: bytes
    mime_type: str
    width: int  # of the image as sent
    height: int
    orig_width: int  # of the original, after EXIF orientation; boxes are scored here
    orig_height: int
    source: str  # the path or URL as written in the eval file

    @property
    def scale(self) -> tuple[float, float]:
        """Factors mapping sent-image pixels back to original pixels (x, y)."""
        return self.orig_width / self.width, self.orig_height / self.height


@dataclass(frozen=True)
class Request:
    model: ModelSpec
    prompt: str
    images: tuple[ImageInput, ...]
    params: GenerationParams
    system: str | None = None
    json_mode: bool = False
    timeout_s: float = 120.0
    max_attempts: int = 4


@dataclass
class Usage:
    """Token usage as the provider reported it; ``None`` = not reported.

    ``input_tokens`` includes image and cached tokens; ``output_tokens`` includes
    reasoning / thinking tokens (that is how both APIs bill them).
    """

    input_tokens: int | None = None
    cached_input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None


@dataclass
class Completion:
    text: str
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0  # wall time of the successful attempt
    total_time_s: float = 0.0  # including retries and backoff
    attempts: int = 1
    cost_usd: float | None = None  # None = unknown (unpriced model or missing usage)
    replayed: bool = False  # answered from the response cache
    endpoint: str | None = None  # where the answer came from (recorded there, if replayed)
    raw: dict[str, Any] | None = None  # provider payload, builtins only, never secrets
    # The provider batch that answered it (--vision-batch): priced at batch prices, and
    # without a per-request latency of its own.
    batch_id: str | None = None


@dataclass(frozen=True)
class CallJob:
    key: str  # unique per item: the pytest nodeid (judge jobs: nodeid + "::judge")
    model: ModelSpec
    build_request: Callable[[], Request]  # lazy: reads and encodes images off the main thread
    repeat_index: int = 0
    label: str = ""  # "evals/x.yaml::case-id" for messages (e.g. a missing recording)
    # Jobs to start as soon as this one has an answer (an item's judge calls), and the
    # queue priority: 0 goes before the look-ahead's 1 (an item is waiting on it).
    follow_up: Callable[[CallOutcome], Sequence[CallJob]] | None = None
    priority: int = 1


@dataclass
class CallOutcome:
    status: CallStatus
    completion: Completion | None = None
    reason: str | None = None  # error or skip reason, never containing secrets
    request: Request | None = None  # the request as sent (image sizes, final prompt)
    skip_kind: SkipKind | None = None  # why, for skipped outcomes
    warning: str | None = None  # e.g. a damaged recording that was called again
    # Of a call that ended without an answer (an answer carries its own figures).
    attempts: int = 0
    total_time_s: float | None = None
