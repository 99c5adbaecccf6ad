"""The provider contract: a Request goes in, a Completion (or a ProviderError) comes out.

Providers are synchronous; concurrency comes from the engine's thread pool, which keeps
the SDK clients simple and lets pytest's sequential protocol wait on futures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pytest_visionevals.models import ModelSpec
    from pytest_visionevals.params import GenerationParams


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
    raw: dict[str, Any] | None = None  # provider payload, builtins only, never secrets


class ProviderError(Exception):
    """A call that produced no answer. ``retryable`` drives the retry loop."""

    def __init__(
        self, reason: str, *, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class MissingCredentials(Exception):
    """The model's items are skipped; the message names the env var to set."""

    def __init__(self, env_var: str, model: str) -> None:
        super().__init__(f"no credentials for {model}: set the environment variable {env_var}")
        self.env_var = env_var


class Provider(Protocol):
    """One API. Instances are created once per model and shared by threads."""

    def check_credentials(self) -> None:
        """Raise MissingCredentials when the call cannot be made; cheap, no network."""

    def complete(self, request: Request) -> Completion:
        """Make the call (with retries) or raise ProviderError."""
