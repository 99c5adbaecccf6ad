"""The provider contract: a Request goes in, a Completion (or a ProviderError) comes out.

Providers are synchronous; concurrency comes from the engine's thread pool, which keeps
the SDK clients simple and lets pytest's sequential protocol wait on futures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_visionevals.calls import Completion, Request


class ProviderError(Exception):
    """A call that produced no answer. ``retryable`` drives the retry loop."""

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        attempts: int = 1,
        total_time_s: float | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        # Set by the retry loop on its final error: what the call really cost.
        self.attempts = attempts
        self.total_time_s = total_time_s


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


# -- batch APIs (--vision-batch) --------------------------------------------------------------
# A provider's batch API takes many requests at once and answers them within hours at a
# lower price. The batch module (``pytest_visionevals.batch``) groups, submits, records
# and polls; the classes behind this contract only speak their API.

BatchState = Literal[
    "pending", "running", "finalizing", "succeeded", "failed", "expired", "cancelling", "cancelled"
]
BATCH_ENDED: tuple[BatchState, ...] = ("succeeded", "failed", "expired", "cancelled")


@dataclass(frozen=True)
class BatchLine:
    """One request prepared for a batch."""

    custom_id: str
    payload: Any  # what the API's ``submit`` takes (a JSONL line, an inlined request)
    size: int  # bytes it adds to the batch, for the API's size limit


@dataclass(frozen=True)
class BatchStatus:
    state: BatchState
    provider_state: str  # as the API says it: "in_progress", "JOB_STATE_RUNNING"
    total: int | None = None  # None: the API does not say
    completed: int | None = None
    failed: int | None = None
    error: str | None = None  # why a whole batch failed

    @property
    def ended(self) -> bool:
        return self.state in BATCH_ENDED


@dataclass(frozen=True)
class BatchAnswer:
    """One request's result: an answer (unpriced), or the provider's error message."""

    custom_id: str
    completion: Completion | None = None
    error: str | None = None
    unexecuted: bool = False  # never ran (the batch expired or was cancelled first)


class BatchAPI(Protocol):
    """A provider's batch API. Errors are ProviderErrors, as for ``complete``."""

    endpoint: str  # what a batch is created for, e.g. "/v1/responses" (recorded)
    max_requests: int  # per batch
    max_bytes: int  # per batch

    def check_credentials(self) -> None: ...

    def prepare(self, custom_id: str, request: Request) -> BatchLine:
        """The request as the batch carries it (built by the provider's own body builder)."""

    def submit(self, lines: Sequence[BatchLine], display_name: str) -> str:
        """Create one batch of these requests; returns its id. Never retried: a lost
        answer must not create a second batch of the same requests."""

    def status(self, batch_id: str) -> BatchStatus: ...

    def results(self, batch_id: str, custom_ids: Sequence[str]) -> list[BatchAnswer]:
        """Every request's result, in ``custom_ids`` order (the order submitted)."""

    def cancel(self, batch_id: str) -> None: ...
