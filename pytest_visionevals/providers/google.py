"""Gemini and Gemma through the official ``google-genai`` SDK against the Gemini API.

Images are inline parts placed before the prompt text (Google's advice for single-image
prompts). ``api_version`` is the catalog's, else ``v1beta`` (the 3.x SDK defaults to
``v1``, where Gemma and newer features are missing). The base URL is the catalog's
``base_url``, else ``GOOGLE_GEMINI_BASE_URL`` (read by the SDK), else Google's.
Catalog ``options`` understood here:

* ``system_instruction: false`` / ``json_mode: false``: Gemma 3 rejects both; the system
  prompt is then folded into the user prompt and JSON is asked for in words only.
* ``thinking``: ``level`` (Gemini 3: ``thinking_level`` from the reasoning effort),
  ``budget`` (Gemini 2.5: ``thinking_budget``), or ``none`` (never send a thinking config).
* Thought parts (Gemma 4, thinking Gemini models) are dropped from the answer text; their
  tokens (``thoughts_token_count``) are counted as output and as reasoning.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx2
import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from pytest_visionevals.calls import Completion, Request, Usage
from pytest_visionevals.providers import endpoints
from pytest_visionevals.providers._common import (
    ClientPool,
    connection_error,
    finish_completion,
    http_error,
    malformed_error,
    timeout_error,
)
from pytest_visionevals.providers.base import MissingCredentials, ProviderError
from pytest_visionevals.providers.endpoints import env_value
from pytest_visionevals.providers.retry import RetryPolicy, call_with_retries
from pytest_visionevals.redaction import redact

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pytest_visionevals.models import ModelSpec

# The SDK reads GOOGLE_API_KEY first when both are set; so do we.
API_KEY_ENVS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")

_LEVELS = {
    "none": "MINIMAL",
    "minimal": "MINIMAL",
    "low": "LOW",
    "medium": "MEDIUM",
    "high": "HIGH",
    "xhigh": "HIGH",
}
_BUDGETS = {"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768}


def google_error(
    exc: BaseException, timeout_s: float, secrets: Iterable[str | None]
) -> ProviderError:
    """Classify an exception raised by ``google-genai`` or its HTTP client."""
    if isinstance(exc, genai_errors.APIError):
        headers = getattr(getattr(exc, "response", None), "headers", None)
        return http_error(int(exc.code or 0), exc.message, headers, secrets)
    if isinstance(exc, httpx2.TimeoutException):
        return timeout_error(timeout_s)
    if isinstance(exc, httpx2.TransportError):
        return connection_error(f"{type(exc).__name__}: {exc}", secrets)
    if isinstance(exc, (ValueError, pydantic.ValidationError)):
        # UnknownApiResponseError and json.JSONDecodeError are ValueErrors.
        return malformed_error(f"{type(exc).__name__}: {exc}", secrets)
    return ProviderError(redact(f"{type(exc).__name__}: {exc}", secrets))


class GoogleProvider:
    """Provider ``google``."""

    def __init__(self, spec: ModelSpec, *, policy: RetryPolicy | None = None) -> None:
        self.spec = spec
        self.policy = policy or RetryPolicy.from_options(spec.options)
        self._clients: ClientPool[tuple[str | None, str, str, int], genai.Client] = ClientPool()

    def close(self) -> None:
        self._clients.close()

    @property
    def key_envs(self) -> tuple[str, ...]:
        return (self.spec.api_key_env,) if self.spec.api_key_env else API_KEY_ENVS

    def api_key(self) -> str | None:
        for name in self.key_envs:
            value = env_value(name)
            if value:
                return value
        return None

    def base_url(self) -> str | None:
        return endpoints.base_url(self.spec)

    def check_credentials(self) -> None:
        if self.api_key() is None:
            names = " or ".join(reversed(self.key_envs))  # "GEMINI_API_KEY or GOOGLE_API_KEY"
            raise MissingCredentials(names, self.spec.name)

    def _client(self, api_key: str, timeout_s: float) -> genai.Client:
        version = self.spec.api_version or endpoints.GEMINI_API_VERSION
        timeout_ms = max(1, int(timeout_s * 1000))  # HttpOptions.timeout is milliseconds
        base_url = self.base_url()

        def make() -> genai.Client:
            # google-genai makes one attempt unless retry_options are given: good.
            options = types.HttpOptions(api_version=version, base_url=base_url, timeout=timeout_ms)
            return genai.Client(api_key=api_key, http_options=options)

        return self._clients.get((base_url, version, api_key, timeout_ms), make)

    def client_for(self, timeout_s: float) -> genai.Client:
        """A client with this model's endpoint, API version and key (the batch API's)."""
        return self._client(self.api_key() or "", timeout_s)

    def secrets(self) -> tuple[str | None, ...]:
        """Every candidate key, to scrub from messages and payloads (both may be set)."""
        return (self.api_key(), *(env_value(name) for name in self.key_envs))

    def build_call(
        self, request: Request
    ) -> tuple[list[types.Content], types.GenerateContentConfig]:
        """The ``contents`` and ``config`` of ``generate_content`` (no secrets)."""
        opts = self.spec.options
        params = request.params
        prompt = request.prompt
        system = request.system or None
        if system and not opts.get("system_instruction", True):
            prompt, system = f"{system}\n\n{prompt}", None
        parts = [
            types.Part.from_bytes(data=img.data, mime_type=img.mime_type) for img in request.images
        ]
        parts.append(types.Part.from_text(text=prompt))
        config = types.GenerateContentConfig(
            system_instruction=system,
            temperature=params.temperature,
            max_output_tokens=params.max_output_tokens,
            seed=params.seed,
            response_mime_type=(
                "application/json" if request.json_mode and opts.get("json_mode", True) else None
            ),
            thinking_config=self._thinking(request),
        )
        return [types.Content(role="user", parts=parts)], config

    def _thinking(self, request: Request) -> types.ThinkingConfig | None:
        mode = self.spec.options.get("thinking", "level")
        params = request.params
        if mode == "none":
            return None
        if params.thinking_budget is not None:
            return types.ThinkingConfig(thinking_budget=params.thinking_budget)
        effort = params.reasoning_effort
        if effort is None:
            return None
        if mode == "budget":
            return types.ThinkingConfig(thinking_budget=_BUDGETS[effort])
        return types.ThinkingConfig(thinking_level=types.ThinkingLevel(_LEVELS[effort]))

    def complete(self, request: Request) -> Completion:
        self.check_credentials()
        api_key = self.api_key() or ""
        client = self._client(api_key, request.timeout_s)
        contents, config = self.build_call(request)
        # Scrub every candidate key, not only the one used: both may be set.
        secrets = (api_key, *self.secrets())

        def attempt() -> types.GenerateContentResponse:
            try:
                return client.models.generate_content(
                    model=self.spec.model_id, contents=contents, config=config
                )
            except Exception as exc:
                raise google_error(exc, request.timeout_s, secrets) from None

        done = call_with_retries(attempt, attempts=request.max_attempts, policy=self.policy)
        text, usage, raw = parse_response(done.value)
        return finish_completion(done, text, usage, raw, secrets)


def parse_response(response: types.GenerateContentResponse) -> tuple[str, Usage, Any]:
    """The answer text, usage and raw payload of a ``generateContent`` response (a direct
    call's, or one inlined response of a batch)."""
    text = _answer_text(response)
    usage = _usage(response.usage_metadata)
    raw = json.loads(response.model_dump_json(exclude_none=True, exclude={"sdk_http_response"}))
    return text, usage, raw


def _answer_text(response: types.GenerateContentResponse) -> str:
    """Text of the first candidate without thought parts; an error when blocked."""
    candidates = response.candidates or []
    if not candidates:
        feedback = response.prompt_feedback
        block = getattr(feedback, "block_reason", None) if feedback else None
        detail = f" (blocked: {getattr(block, 'value', block)})" if block else ""
        raise ProviderError(f"no answer candidates in the response{detail}")
    content = candidates[0].content
    parts = (content.parts if content is not None else None) or []
    return "".join(p.text for p in parts if p.text and not p.thought)


def _usage(meta: types.GenerateContentResponseUsageMetadata | None) -> Usage:
    if meta is None:
        return Usage()
    thoughts = meta.thoughts_token_count or 0
    # Gemini omits zero counts; an empty answer has no candidatesTokenCount at all.
    return Usage(
        input_tokens=meta.prompt_token_count,
        cached_input_tokens=meta.cached_content_token_count or 0,
        output_tokens=(meta.candidates_token_count or 0) + thoughts,
        reasoning_tokens=thoughts,
    )
