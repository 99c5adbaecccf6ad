"""The Google provider: the real ``google-genai`` SDK over HTTP against the fake server."""

from __future__ import annotations

import base64
import io
import json
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from pytest_visionevals.calls import Request
from pytest_visionevals.cost import compute_cost
from pytest_visionevals.imageprep import prepare_image
from pytest_visionevals.models import ModelSpec, load_catalog
from pytest_visionevals.params import GenerationParams
from pytest_visionevals.providers.base import MissingCredentials, ProviderError
from pytest_visionevals.providers.google import GoogleProvider
from pytest_visionevals.providers.retry import RetryPolicy
from pytest_visionevals.testing import FakeUsage, FakeVLMServer

if TYPE_CHECKING:
    from collections.abc import Iterator

KEY = "AIzaTEST-secret-key-0123456789abcdefXYZ"
FAST = RetryPolicy(base_delay_s=0.01, max_delay_s=0.02, retry_after_cap_s=2.0)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVLMServer]:
    with FakeVLMServer(answer={"cat": "a cat"}, default_answer="nothing") as srv:
        monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
        monkeypatch.setenv("GEMINI_API_KEY", KEY)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", srv.base_url)
        yield srv


def spec(name: str = "gemma-4-26b-a4b", **overrides: Any) -> ModelSpec:
    base = load_catalog().get(name).model_dump()
    base.update(overrides)
    return ModelSpec(**base)


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 20), "blue").save(buf, format="JPEG")
    return buf.getvalue()


def request(model: ModelSpec, prompt: str = "What animal is this, a cat?", **kw: Any) -> Request:
    params = kw.pop("params", None) or model.params
    return Request(
        model=model,
        prompt=prompt,
        images=(prepare_image(jpeg(), "pet.jpg"),),
        params=params,
        timeout_s=kw.pop("timeout_s", 5.0),
        max_attempts=kw.pop("max_attempts", 3),
        **kw,
    )


def field(obj: dict[str, Any], camel: str) -> Any:
    """A field by its camelCase or snake_case name (the API accepts both; the SDK mixes)."""
    snake = "".join("_" + c.lower() if c.isupper() else c for c in camel)
    return obj[camel] if camel in obj else obj[snake]


def provider(model: ModelSpec | None = None) -> GoogleProvider:
    return GoogleProvider(model or spec(), policy=FAST)


def test_request_body_gemma4(server: FakeVLMServer) -> None:
    out = provider().complete(request(spec(), system="Be brief."))
    assert out.text == "a cat"
    rec = server.requests[-1]
    assert rec.path == "/v1beta/models/gemma-4-26b-a4b-it:generateContent"
    assert rec.headers["x-goog-api-key"] == "<redacted>"
    body = rec.body
    (content,) = body["contents"]
    assert content["role"] == "user"
    image, text = content["parts"]
    inline = field(image, "inlineData")
    assert field(inline, "mimeType") == "image/jpeg"
    # The SDK encodes bytes URL-safe (the API accepts both alphabets).
    assert base64.urlsafe_b64decode(inline["data"]) == jpeg()
    assert text == {"text": "What animal is this, a cat?"}
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    config = body["generationConfig"]
    assert config["temperature"] == 0.0
    assert config["maxOutputTokens"] == 4096
    assert "thinkingConfig" not in config  # catalog: thinking none for Gemma
    assert "responseMimeType" not in config


def test_gemini_thinking_level_and_json_mode(server: FakeVLMServer) -> None:
    model = spec("gemini-3-flash")
    provider(model).complete(request(model, json_mode=True))
    rec = server.requests[-1]
    assert rec.model == "gemini-3-flash-preview"
    config = rec.body["generationConfig"]
    assert field(field(config, "thinkingConfig"), "thinkingLevel") == "LOW"
    assert config["responseMimeType"] == "application/json"
    assert config["maxOutputTokens"] == 8192


def test_thinking_budget_mode_and_explicit_budget(server: FakeVLMServer) -> None:
    model = spec("gemini-3-flash", options={"thinking": "budget"})
    provider(model).complete(request(model, params=GenerationParams(reasoning_effort="high")))
    thinking = server.requests[-1].body["generationConfig"]["thinkingConfig"]
    assert field(thinking, "thinkingBudget") == 24576
    params = GenerationParams(thinking_budget=-1, reasoning_effort="low")
    provider(spec("gemini-3-flash")).complete(request(model, params=params))
    thinking = server.requests[-1].body["generationConfig"]["thinkingConfig"]
    assert field(thinking, "thinkingBudget") == -1


def test_gemma3_folds_system_into_prompt_and_skips_json_mode(server: FakeVLMServer) -> None:
    model = spec("gemma-3-27b")
    provider(model).complete(request(model, system="You count things.", json_mode=True))
    body = server.requests[-1].body
    assert "systemInstruction" not in body
    assert body["contents"][0]["parts"][1]["text"] == (
        "You count things.\n\nWhat animal is this, a cat?"
    )
    assert "responseMimeType" not in body["generationConfig"]


def test_gemma4_thought_parts_dropped_and_counted(server: FakeVLMServer) -> None:
    server.thought_text = "Let me look closely at the animal..."
    server.usage = FakeUsage(input_tokens=294, output_tokens=214, reasoning_tokens=150)
    out = provider().complete(request(spec()))
    assert out.text == "a cat"
    u = out.usage
    assert (u.input_tokens, u.cached_input_tokens, u.output_tokens, u.reasoning_tokens) == (
        294,
        0,
        214,
        150,
    )
    # Providers report usage; the engine prices it from the catalog (once per call).
    assert compute_cost(out.usage, spec().pricing) == pytest.approx((294 * 0.06 + 214 * 0.33) / 1e6)
    assert out.raw is not None
    assert "sdk_http_response" not in out.raw
    assert KEY not in json.dumps(out.raw)


def test_cached_tokens_priced_as_cached(server: FakeVLMServer) -> None:
    server.usage = FakeUsage(input_tokens=1000, cached_tokens=600, output_tokens=100)
    model = spec("gemini-3-flash")
    out = provider(model).complete(request(model))
    assert out.usage.cached_input_tokens == 600
    expected = (400 * 0.5 + 600 * 0.05 + 100 * 3.0) / 1e6
    assert compute_cost(out.usage, model.pricing) == pytest.approx(expected)


def test_api_version_override(server: FakeVLMServer) -> None:
    model = spec(api_version="v1")
    provider(model).complete(request(model))
    assert server.requests[-1].path == "/v1/models/gemma-4-26b-a4b-it:generateContent"


def test_429_with_retry_after_then_success(server: FakeVLMServer) -> None:
    server.add_fault("429", retry_after=0.3)
    out = provider().complete(request(spec()))
    assert (out.text, out.attempts) == ("a cat", 2)
    assert out.total_time_s >= 0.3
    assert server.request_count == 2


def test_503_every_time(server: FakeVLMServer) -> None:
    server.add_fault("status", status=503, times=4)
    with pytest.raises(ProviderError, match=r"^HTTP 503 .*after 4 attempts$"):
        provider().complete(request(spec(), max_attempts=4))
    assert server.request_count == 4


def test_400_fails_at_once_and_key_is_scrubbed(server: FakeVLMServer) -> None:
    server.add_fault("status", status=400, message=f"API key {KEY} rejected")
    with pytest.raises(ProviderError, match=r"^HTTP 400 ") as info:
        provider().complete(request(spec()))
    assert server.request_count == 1
    assert KEY not in str(info.value)


def test_malformed_body(server: FakeVLMServer) -> None:
    server.add_fault("malformed")
    with pytest.raises(ProviderError, match="malformed response body"):
        provider().complete(request(spec()))
    assert server.request_count == 1


def test_timeout(server: FakeVLMServer) -> None:
    server.add_fault("hang", times=2)
    with pytest.raises(ProviderError, match=r"^timeout after 0\.3 s \(2 attempts\)$"):
        provider().complete(request(spec(), timeout_s=0.3, max_attempts=2))


def test_missing_key_names_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    with pytest.raises(MissingCredentials) as info:
        provider().check_credentials()
    assert info.value.env_var == "GEMINI_API_KEY or GOOGLE_API_KEY"
    assert "GEMINI_API_KEY or GOOGLE_API_KEY" in str(info.value)


def test_google_api_key_alone_is_enough(
    server: FakeVLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.setenv("GOOGLE_API_KEY", KEY)
    assert provider().complete(request(spec())).text == "a cat"


def test_catalog_base_url_wins(server: FakeVLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:9")
    model = spec(base_url=server.base_url)
    assert provider(model).complete(request(model)).text == "a cat"


def test_blocked_prompt_is_an_error(server: FakeVLMServer) -> None:
    def blocked(_: Any, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 5},
        }

    server.response_hook = blocked
    with pytest.raises(ProviderError, match=r"no answer candidates.*SAFETY"):
        provider().complete(request(spec()))
    assert server.request_count == 1


def test_missing_usage_means_unknown_cost(server: FakeVLMServer) -> None:
    def no_usage(_: Any, payload: dict[str, Any]) -> dict[str, Any]:
        payload.pop("usageMetadata")
        return payload

    server.response_hook = no_usage
    out = provider().complete(request(spec()))
    assert out.text == "a cat"
    assert out.usage.input_tokens is None
    assert compute_cost(out.usage, spec().pricing) is None


def test_one_provider_shared_by_32_threads(server: FakeVLMServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    server.latency = 0.2
    p = provider()
    model = spec()
    with ThreadPoolExecutor(max_workers=32) as pool:
        outs = list(pool.map(lambda i: p.complete(request(model, prompt=f"cat {i}")), range(32)))
    assert [o.text for o in outs] == ["a cat"] * 32
    assert server.request_count == 32


@pytest.mark.parametrize("kind", ["reset", "truncated"])
def test_a_reset_or_cut_connection_is_retried(server: FakeVLMServer, kind: str) -> None:
    server.add_fault(kind)  # type: ignore[arg-type]
    out = provider().complete(request(spec(), max_attempts=2))
    assert out.attempts == 2
    assert server.request_count == 2
