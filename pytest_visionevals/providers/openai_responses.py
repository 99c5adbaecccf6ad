"""OpenAI through the official SDK and the Responses API.

The request goes through the SDK's client (auth, base URL, headers, timeouts, its error
classes); the answer is read from the response's JSON, not from the SDK's typed
``Response`` (see ``complete``). Images go as ``input_image`` parts holding data URLs with
a ``detail`` setting; the system prompt goes as ``instructions``; reasoning effort as
``reasoning={"effort": ...}``.
Catalog ``options`` understood here:

* ``supports_temperature``: ``true`` (default), ``false`` (never sent), or
  ``"reasoning_none"`` (sent only when the reasoning effort is ``none``, as GPT-5.x wants).
* ``reasoning``: ``false`` for models that reject the ``reasoning`` parameter.
* ``json_mode``: ``false`` for models that reject ``text.format = json_object``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx2
import openai
import pydantic

from pytest_visionevals.calls import Completion, Request, Usage
from pytest_visionevals.imageprep import to_data_url
from pytest_visionevals.providers import endpoints
from pytest_visionevals.providers._common import (
    ClientPool,
    body_message,
    connection_error,
    finish_completion,
    http_error,
    malformed_error,
    temperature_allowed,
    timeout_error,
)
from pytest_visionevals.providers.base import MissingCredentials, ProviderError
from pytest_visionevals.providers.endpoints import env_value
from pytest_visionevals.providers.retry import Attempted, RetryPolicy, call_with_retries

if TYPE_CHECKING:
    from collections.abc import Iterable

    from openai import RequestOptions

    from pytest_visionevals.models import ModelSpec

API_KEY_ENV = "OPENAI_API_KEY"


def openai_error(
    exc: BaseException, timeout_s: float, secrets: Iterable[str | None]
) -> ProviderError:
    """Classify an exception raised by the ``openai`` SDK (both APIs)."""
    if isinstance(exc, openai.APITimeoutError):
        return timeout_error(timeout_s)
    if isinstance(exc, openai.APIConnectionError):
        return connection_error(str(exc.__cause__ or exc), secrets)
    if isinstance(exc, openai.APIStatusError):
        message = body_message(exc.body) or exc.message
        return http_error(exc.status_code, message, exc.response.headers, secrets)
    if isinstance(exc, (openai.APIResponseValidationError, ValueError, pydantic.ValidationError)):
        # json.JSONDecodeError is a ValueError: the server sent a body that is not JSON.
        return malformed_error(f"{type(exc).__name__}: {exc}", secrets)
    return ProviderError(f"{type(exc).__name__}: {exc}")


class OpenAIResponsesProvider:
    """Provider ``openai``."""

    def __init__(self, spec: ModelSpec, *, policy: RetryPolicy | None = None) -> None:
        self.spec = spec
        self.policy = policy or RetryPolicy.from_options(spec.options)
        self._clients: ClientPool[tuple[str | None, str], openai.OpenAI] = ClientPool()

    def close(self) -> None:
        self._clients.close()

    @property
    def key_env(self) -> str:
        return self.spec.api_key_env or API_KEY_ENV

    def base_url(self) -> str | None:
        """The catalog's ``base_url`` wins over ``OPENAI_BASE_URL``; else the SDK default."""
        return endpoints.base_url(self.spec)

    def check_credentials(self) -> None:
        if env_value(self.key_env) is None:
            raise MissingCredentials(self.key_env, self.spec.name)

    def build_body(self, request: Request) -> dict[str, Any]:
        """The keyword arguments of ``client.responses.create`` (no secrets)."""
        params = request.params
        detail = params.detail or "auto"
        content: list[dict[str, Any]] = [{"type": "input_text", "text": request.prompt}]
        content += [
            {"type": "input_image", "image_url": to_data_url(img), "detail": detail}
            for img in request.images
        ]
        body: dict[str, Any] = {
            "model": self.spec.model_id,
            "input": [{"role": "user", "content": content}],
            "store": False,  # evals need no server-side conversation state
        }
        if request.system:
            body["instructions"] = request.system
        if params.max_output_tokens is not None:
            body["max_output_tokens"] = params.max_output_tokens
        effort = params.reasoning_effort
        if effort is not None and self.spec.options.get("reasoning", True):
            body["reasoning"] = {"effort": effort}
        if params.temperature is not None and temperature_allowed(self.spec, effort):
            body["temperature"] = params.temperature
        if request.json_mode and self.spec.options.get("json_mode", True):
            body["text"] = {"format": {"type": "json_object"}}
        return body

    def prepare(self) -> None:
        """Create the SDK client ahead of the first call (see Engine._provider)."""
        api_key = env_value(self.key_env)
        if api_key is not None:
            self._client(self.base_url(), api_key)

    def _client(self, base_url: str | None, api_key: str) -> openai.OpenAI:
        return self._clients.get(
            (base_url, api_key),
            # max_retries=0: our retry loop is the only one, so attempts are counted.
            lambda: openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0),
        )

    def complete(self, request: Request) -> Completion:
        self.check_credentials()
        api_key = env_value(self.key_env) or ""
        client = self._client(self.base_url(), api_key)
        body = self.build_body(request)
        secrets = (api_key,)
        # The request ``client.responses.create`` sends (same path, body, auth, timeout),
        # through the SDK's generic ``post``, which hands back the HTTP response unparsed:
        # building the SDK's typed Response costs ~2 ms of CPU per call, and loading its
        # Responses resource and model schemas ~0.2 s on the first call. We read the few
        # fields we need from the JSON ourselves.
        options: RequestOptions = {"timeout": request.timeout_s, "security": {"bearer_auth": True}}

        def attempt() -> dict[str, Any]:
            try:
                http = client.post(
                    "/responses", cast_to=httpx2.Response, body=body, options=options
                )
                payload = http.json()
            except Exception as exc:
                raise openai_error(exc, request.timeout_s, secrets) from None
            if not isinstance(payload, dict):
                raise malformed_error(f"expected a JSON object, got {payload!r}", secrets)
            return payload

        done = call_with_retries(attempt, attempts=request.max_attempts, policy=self.policy)
        return self._completion(done, secrets)

    def _completion(self, done: Attempted[dict[str, Any]], secrets: tuple[str, ...]) -> Completion:
        text, usage, raw = parse_response(done.value, secrets)
        return finish_completion(done, text, usage, raw, secrets)


def parse_response(
    response: dict[str, Any], secrets: Iterable[str | None]
) -> tuple[str, Usage, dict[str, Any]]:
    """The answer text, usage and raw payload of a Responses API response body as JSON (a
    direct call's, or one line of a batch's output file)."""
    error = response.get("error")
    if error is not None and response.get("status") == "failed":
        message = error.get("message") if isinstance(error, dict) else None
        raise ProviderError(f"response failed: {message or error}")
    output = response.get("output")
    if not isinstance(output, list):
        raise malformed_error("no output list in the response", secrets)
    items = [item for item in output if isinstance(item, dict)]
    # The SDK's ``output_text``: every output_text part of every message, joined.
    text = "".join(
        part["text"]
        for item in items
        if item.get("type") == "message"
        for part in _parts(item)
        if part.get("type") == "output_text" and isinstance(part.get("text"), str)
    )
    if not text:
        text = _refusal(items) or ""
    u = response.get("usage")
    usage = Usage()
    if isinstance(u, dict):
        usage = Usage(
            input_tokens=_int(u.get("input_tokens")),
            cached_input_tokens=_detail(u.get("input_tokens_details"), "cached_tokens"),
            output_tokens=_int(u.get("output_tokens")),
            reasoning_tokens=_detail(u.get("output_tokens_details"), "reasoning_tokens"),
        )
    # As the SDK's model_dump(exclude_none=True) gave it: fields set to null left out.
    return text, usage, _without_none(response)


def _parts(item: dict[str, Any]) -> list[dict[str, Any]]:
    content = item.get("content")
    return [p for p in content if isinstance(p, dict)] if isinstance(content, list) else []


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _detail(details: Any, name: str) -> int:
    value = details.get(name) if isinstance(details, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _refusal(items: list[dict[str, Any]]) -> str | None:
    for item in items:
        for part in _parts(item):
            if part.get("type") == "refusal":
                return str(part.get("refusal") or "")
    return None


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value
