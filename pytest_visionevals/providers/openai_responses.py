"""OpenAI through the official SDK and the Responses API.

Images go as ``input_image`` parts holding data URLs with a ``detail`` setting; the system
prompt goes as ``instructions``; reasoning effort as ``reasoning={"effort": ...}``.
Catalog ``options`` understood here:

* ``supports_temperature``: ``true`` (default), ``false`` (never sent), or
  ``"reasoning_none"`` (sent only when the reasoning effort is ``none``, as GPT-5.x wants).
* ``reasoning``: ``false`` for models that reject the ``reasoning`` parameter.
* ``json_mode``: ``false`` for models that reject ``text.format = json_object``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

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

    def complete(self, request: Request) -> Completion:
        self.check_credentials()
        api_key = env_value(self.key_env) or ""
        base_url = self.base_url()
        client = self._clients.get(
            (base_url, api_key),
            # max_retries=0: our retry loop is the only one, so attempts are counted.
            lambda: openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0),
        )
        body = self.build_body(request)
        secrets = (api_key,)

        def attempt() -> Any:
            try:
                return client.responses.create(**body, timeout=request.timeout_s)
            except Exception as exc:
                raise openai_error(exc, request.timeout_s, secrets) from None

        done = call_with_retries(attempt, attempts=request.max_attempts, policy=self.policy)
        return self._completion(done, secrets)

    def _completion(self, done: Attempted[Any], secrets: tuple[str, ...]) -> Completion:
        text, usage, raw = parse_response(done.value, secrets)
        return finish_completion(done, text, usage, raw, secrets)


def parse_response(response: Any, secrets: Iterable[str | None]) -> tuple[str, Usage, Any]:
    """The answer text, usage and raw payload of a Responses API ``Response`` (a direct
    call's, or one line of a batch's output file)."""
    error = getattr(response, "error", None)
    if error is not None and getattr(response, "status", None) == "failed":
        raise ProviderError(f"response failed: {getattr(error, 'message', error)}")
    try:
        text = response.output_text
    except (AttributeError, TypeError) as exc:
        raise malformed_error(str(exc), secrets) from None
    if not text:
        text = _refusal(response) or ""
    u = response.usage
    usage = Usage()
    if u is not None:
        usage = Usage(
            input_tokens=u.input_tokens,
            cached_input_tokens=_get(u.input_tokens_details, "cached_tokens", 0),
            output_tokens=u.output_tokens,
            reasoning_tokens=_get(u.output_tokens_details, "reasoning_tokens", 0),
        )
    raw = json.loads(response.model_dump_json(exclude_none=True))
    return text, usage, raw


def _get(obj: Any, name: str, default: int) -> int:
    value = getattr(obj, name, None) if obj is not None else None
    return int(value) if isinstance(value, int) else default


def _refusal(response: Any) -> str | None:
    for item in getattr(response, "output", None) or []:
        for part in getattr(item, "content", None) or []:
            if getattr(part, "type", None) == "refusal":
                return str(getattr(part, "refusal", "") or "")
    return None
