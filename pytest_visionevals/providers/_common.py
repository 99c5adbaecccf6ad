"""Helpers shared by the API providers: error classification, clients, env."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from pytest_visionevals.calls import Completion, Usage
from pytest_visionevals.providers.base import ProviderError
from pytest_visionevals.providers.retry import retry_after_from_headers
from pytest_visionevals.redaction import redact, scrub
from pytest_visionevals.untrusted import shorten

if TYPE_CHECKING:
    from pytest_visionevals.models import ModelSpec
    from pytest_visionevals.providers.retry import Attempted

# 429 and every 5xx may succeed on another attempt; 408 / 409 are transient by definition.
RETRYABLE_STATUS = frozenset({408, 409, 429})
MAX_MESSAGE = 300


def temperature_allowed(spec: ModelSpec, effort: str | None) -> bool:
    """Whether the model takes a temperature (reasoning models often refuse one)."""
    flag = spec.options.get("supports_temperature", True)
    if flag == "reasoning_none":
        return effort in (None, "none")
    return bool(flag)


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS or 500 <= status <= 599


def body_message(body: object) -> str | None:
    """The human message of an error body (OpenAI or Google shape), if any."""
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping):
            body = inner
        message = body.get("message") if isinstance(body, Mapping) else None
        if isinstance(message, str) and message.strip():
            return message
    if isinstance(body, str) and body.strip():
        return body
    return None


def http_error(
    status: int, message: str | None, headers: object, secrets: Iterable[str | None]
) -> ProviderError:
    """A ProviderError for an HTTP error status, retryable for 408/409/429/5xx."""
    reason = f"HTTP {status}"
    if message:
        reason += f" ({shorten(redact(message, secrets), MAX_MESSAGE)})"
    retryable = is_retryable_status(status)
    return ProviderError(
        reason,
        retryable=retryable,
        retry_after=retry_after_from_headers(headers) if retryable else None,
    )


def timeout_error(timeout_s: float) -> ProviderError:
    return ProviderError(f"timeout after {timeout_s:.1f} s", retryable=True)


def connection_error(detail: str, secrets: Iterable[str | None]) -> ProviderError:
    return ProviderError(
        f"connection error: {shorten(redact(detail, secrets), MAX_MESSAGE)}", retryable=True
    )


def malformed_error(detail: str, secrets: Iterable[str | None]) -> ProviderError:
    return ProviderError(f"malformed response body: {shorten(redact(detail, secrets), 200)}")


class _Closable(Protocol):
    def close(self) -> None: ...


K = TypeVar("K", bound=Hashable)
C = TypeVar("C", bound=_Closable)


class ClientPool(Generic[K, C]):
    """SDK / HTTP clients keyed by what configures them (endpoint, key, ...).

    Created lazily, shared by the engine's threads, closed together at the end of a
    session. Keyed rather than single so that tests (and users) changing an endpoint or a
    key between runs in one process get a client for the new one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[K, C] = {}

    def get(self, key: K, make: Callable[[], C]) -> C:
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = make()
                self._clients[key] = client
            return client

    def close(self) -> None:
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            client.close()


def finish_completion(
    done: Attempted[Any],
    text: str,
    usage: Usage,
    raw: Any,
    secrets: Iterable[str | None],
) -> Completion:
    """The Completion of a successful call: timings from the retry loop, the raw payload
    scrubbed of secrets. Unpriced: the engine prices every call, once."""
    return Completion(
        text=text,
        usage=usage,
        latency_s=done.latency_s,
        total_time_s=done.total_time_s,
        attempts=done.attempts,
        raw=scrub(raw, secrets),
    )
