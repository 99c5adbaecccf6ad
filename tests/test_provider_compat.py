"""OpenAI-compatible chat completions (vLLM, Ollama, ...) against the fake server."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from pytest_visionevals.calls import Request
from pytest_visionevals.cost import compute_cost
from pytest_visionevals.imageprep import prepare_image
from pytest_visionevals.models import ModelSpec, load_catalog
from pytest_visionevals.params import GenerationParams
from pytest_visionevals.providers.base import MissingCredentials, ProviderError
from pytest_visionevals.providers.openai_compat import OpenAICompatProvider
from pytest_visionevals.providers.retry import RetryPolicy
from pytest_visionevals.testing import FakeUsage, FakeVLMServer

if TYPE_CHECKING:
    from collections.abc import Iterator

FAST = RetryPolicy(base_delay_s=0.01, max_delay_s=0.02, retry_after_cap_s=2.0)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVLMServer]:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with FakeVLMServer(answer={"read": "HELLO"}, default_answer="?") as srv:
        yield srv


def spec(srv: FakeVLMServer | None, **overrides: Any) -> ModelSpec:
    base = load_catalog().get("ollama-gemma3").model_dump()
    base["base_url"] = srv.openai_base_url if srv else None
    base.update(overrides)
    return ModelSpec(**base)


def request(model: ModelSpec, **kw: Any) -> Request:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    return Request(
        model=model,
        prompt="Please read the sign.",
        images=(prepare_image(buf.getvalue(), "sign.png"),),
        params=kw.pop("params", None) or model.params,
        timeout_s=kw.pop("timeout_s", 5.0),
        max_attempts=kw.pop("max_attempts", 2),
        **kw,
    )


def test_body_usage_and_no_key_for_local_servers(server: FakeVLMServer) -> None:
    server.usage = FakeUsage(input_tokens=50, output_tokens=5)
    model = spec(server)
    out = OpenAICompatProvider(model, policy=FAST).complete(request(model, system="sys"))
    assert out.text == "HELLO"
    rec = server.requests[-1]
    assert rec.path == "/v1/chat/completions"
    assert "authorization" not in rec.headers  # a local server without a key gets none
    body = rec.body
    assert body["model"] == "gemma3:4b"
    assert body["messages"][0] == {"role": "system", "content": "sys"}
    text, image = body["messages"][1]["content"]
    assert text == {"type": "text", "text": "Please read the sign."}
    assert image["type"] == "image_url"
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
    assert "detail" not in image["image_url"]
    assert body["max_tokens"] == 1024
    assert body["temperature"] == 0.0
    assert "reasoning_effort" not in body
    assert (out.usage.input_tokens, out.usage.output_tokens) == (50, 5)
    # Priced at zero in the catalog: a real $0, not unknown.
    assert compute_cost(out.usage, model.pricing) == 0.0


def test_options_reasoning_effort_json_and_max_tokens_field(server: FakeVLMServer) -> None:
    model = spec(
        server, options={"send_reasoning_effort": True, "max_tokens_field": "max_completion_tokens"}
    )
    params = GenerationParams(reasoning_effort="high", max_output_tokens=64, detail="low", seed=7)
    OpenAICompatProvider(model, policy=FAST).complete(request(model, params=params, json_mode=True))
    body = server.requests[-1].body
    assert body["reasoning_effort"] == "high"
    assert body["max_completion_tokens"] == 64
    assert "max_tokens" not in body
    assert body["seed"] == 7
    assert body["response_format"] == {"type": "json_object"}
    assert body["messages"][0]["content"][1]["image_url"]["detail"] == "low"


def test_key_env_required_when_named(
    server: FakeVLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = spec(server, api_key_env="OPENROUTER_API_KEY")
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    with pytest.raises(MissingCredentials, match="OPENROUTER_API_KEY"):
        OpenAICompatProvider(model).check_credentials()
    monkeypatch.setenv("OPENROUTER_API_KEY", "or-secret-key-123456")
    server.add_fault("status", status=401, message="bad key or-secret-key-123456")
    with pytest.raises(ProviderError) as info:
        OpenAICompatProvider(model, policy=FAST).complete(request(model))
    assert "or-secret-key-123456" not in str(info.value)
    assert str(info.value).startswith("HTTP 401")
    assert server.requests[-1].headers["authorization"] == "<redacted>"  # sent as Bearer


def test_no_endpoint_is_skipped_naming_the_variable(server: FakeVLMServer) -> None:
    model = spec(None)
    with pytest.raises(MissingCredentials, match="OPENAI_BASE_URL"):
        OpenAICompatProvider(model).check_credentials()
    named = spec(None, options={"base_url_env": "VLLM_BASE_URL"})
    with pytest.raises(MissingCredentials, match="VLLM_BASE_URL"):
        OpenAICompatProvider(named).check_credentials()


def test_base_url_from_env(server: FakeVLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    model = spec(None, options={"base_url_env": "VLLM_BASE_URL"})
    monkeypatch.setenv("VLLM_BASE_URL", server.openai_base_url)
    assert OpenAICompatProvider(model, policy=FAST).complete(request(model)).text == "HELLO"


def test_local_servers_without_usage_details(server: FakeVLMServer) -> None:
    def plain_usage(_: Any, payload: dict[str, Any]) -> dict[str, Any]:
        payload["usage"] = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}
        return payload

    server.response_hook = plain_usage
    model = spec(server)
    out = OpenAICompatProvider(model, policy=FAST).complete(request(model))
    assert out.usage.cached_input_tokens is None  # not reported: unknown, not zero
    assert out.usage.reasoning_tokens is None
    assert compute_cost(out.usage, model.pricing) == 0.0


def test_retry_then_success_and_empty_choices(server: FakeVLMServer) -> None:
    model = spec(server)
    server.add_fault("429")
    out = OpenAICompatProvider(model, policy=FAST).complete(request(model))
    assert out.attempts == 2
    server.response_hook = lambda _r, p: {**p, "choices": []}
    with pytest.raises(ProviderError, match="no choices"):
        OpenAICompatProvider(model, policy=FAST).complete(request(model))


def test_timeout_malformed_and_refused(server: FakeVLMServer) -> None:
    model = spec(server)
    server.add_fault("hang", times=2)
    with pytest.raises(ProviderError, match=r"^timeout after 0\.3 s \(2 attempts\)$"):
        OpenAICompatProvider(model, policy=FAST).complete(request(model, timeout_s=0.3))
    server.add_fault("malformed")
    with pytest.raises(ProviderError, match=r"^malformed response body"):
        OpenAICompatProvider(model, policy=FAST).complete(request(model))
    server.add_fault("500", times=2)
    with pytest.raises(ProviderError, match=r"^HTTP 500.*after 2 attempts$"):
        OpenAICompatProvider(model, policy=FAST).complete(request(model))
    dead = FakeVLMServer().start()
    url = dead.openai_base_url
    dead.shutdown()
    gone = spec(None, base_url=url)
    with pytest.raises(ProviderError, match=r"^connection error.*after 2 attempts$"):
        OpenAICompatProvider(gone, policy=FAST).complete(request(gone))


@pytest.mark.parametrize("kind", ["reset", "truncated"])
def test_a_reset_or_cut_connection_is_retried(server: FakeVLMServer, kind: str) -> None:
    model = spec(server)
    server.add_fault(kind)  # type: ignore[arg-type]
    out = OpenAICompatProvider(model, policy=FAST).complete(request(model, max_attempts=2))
    assert out.attempts == 2
    assert server.request_count == 2
