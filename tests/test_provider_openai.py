"""The OpenAI Responses provider: the real ``openai`` SDK over HTTP against the fake server."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx2
import pytest
from PIL import Image

from pytest_visionevals.calls import Request
from pytest_visionevals.cost import compute_cost
from pytest_visionevals.imageprep import prepare_image
from pytest_visionevals.models import ModelSpec, load_catalog
from pytest_visionevals.params import GenerationParams
from pytest_visionevals.providers.base import MissingCredentials, ProviderError
from pytest_visionevals.providers.openai_responses import OpenAIResponsesProvider
from pytest_visionevals.providers.retry import RetryPolicy
from pytest_visionevals.testing import FakeUsage, FakeVLMServer

if TYPE_CHECKING:
    from collections.abc import Iterator

KEY = "sk-test-SECRET-0123456789abcdef"
FAST = RetryPolicy(base_delay_s=0.01, max_delay_s=0.02, retry_after_cap_s=2.0)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVLMServer]:
    with FakeVLMServer(answer={"bottles": "27"}, default_answer="no idea") as srv:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", srv.openai_base_url)
        yield srv


def spec(**overrides: Any) -> ModelSpec:
    base = load_catalog().get("gpt-5.2").model_dump()
    base.update(overrides)
    return ModelSpec(**base)


def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 16), "red").save(buf, format="PNG")
    return buf.getvalue()


def request(model: ModelSpec, prompt: str = "How many bottles?", **kw: Any) -> Request:
    params = kw.pop("params", None) or model.params
    return Request(
        model=model,
        prompt=prompt,
        images=(prepare_image(png(), "shelf.png"),),
        params=params,
        timeout_s=kw.pop("timeout_s", 5.0),
        max_attempts=kw.pop("max_attempts", 3),
        **kw,
    )


def provider(model: ModelSpec | None = None) -> OpenAIResponsesProvider:
    return OpenAIResponsesProvider(model or spec(), policy=FAST)


def test_request_body_and_answer(server: FakeVLMServer) -> None:
    out = provider().complete(request(spec(), system="Answer tersely."))
    assert out.text == "27"
    rec = server.requests[-1]
    assert rec.path == "/v1/responses"
    assert rec.headers["authorization"] == "<redacted>"
    body = rec.body
    assert body["model"] == "gpt-5.2"
    assert body["instructions"] == "Answer tersely."
    assert body["max_output_tokens"] == 4096
    assert body["reasoning"] == {"effort": "low"}
    assert body["store"] is False
    assert "temperature" not in body  # GPT-5.2 takes temperature only with effort "none"
    (msg,) = body["input"]
    assert msg["role"] == "user"
    text_part, image_part = msg["content"]
    assert text_part == {"type": "input_text", "text": "How many bottles?"}
    assert image_part["type"] == "input_image"
    assert image_part["detail"] == "high"
    prefix = "data:image/png;base64,"
    assert image_part["image_url"].startswith(prefix)
    assert base64.b64decode(image_part["image_url"][len(prefix) :]) == png()


def test_temperature_sent_with_reasoning_none_and_json_mode(server: FakeVLMServer) -> None:
    params = GenerationParams(temperature=0.0, reasoning_effort="none", detail="low")
    provider().complete(request(spec(), params=params, json_mode=True))
    body = server.requests[-1].body
    assert body["temperature"] == 0.0
    assert body["reasoning"] == {"effort": "none"}
    assert body["text"] == {"format": {"type": "json_object"}}
    assert body["input"][0]["content"][1]["detail"] == "low"
    assert "instructions" not in body


def test_usage_and_cost(server: FakeVLMServer) -> None:
    server.usage = FakeUsage(
        input_tokens=1000, cached_tokens=400, output_tokens=200, reasoning_tokens=150
    )
    out = provider().complete(request(spec()))
    u = out.usage
    assert (u.input_tokens, u.cached_input_tokens, u.output_tokens, u.reasoning_tokens) == (
        1000,
        400,
        200,
        150,
    )
    expected = (600 * 1.75 + 400 * 0.175 + 200 * 14.0) / 1e6
    assert compute_cost(out.usage, spec().pricing) == pytest.approx(expected)
    assert out.attempts == 1
    assert 0 < out.latency_s <= out.total_time_s
    assert out.raw is not None
    assert KEY not in json.dumps(out.raw)


def test_unpriced_model_has_unknown_cost(server: FakeVLMServer) -> None:
    unpriced = spec(pricing={})
    out = provider(unpriced).complete(request(unpriced))
    assert compute_cost(out.usage, unpriced.pricing) is None


def test_429_with_retry_after_then_success(server: FakeVLMServer) -> None:
    server.add_fault("429", retry_after=0.3)
    out = provider().complete(request(spec()))
    assert out.text == "27"
    assert out.attempts == 2
    assert server.count(path="/responses") == 2
    assert out.total_time_s >= 0.3  # waited as told, not the 0.01 s backoff
    assert out.latency_s < out.total_time_s


def test_500_every_time_is_an_error_after_all_attempts(server: FakeVLMServer) -> None:
    server.add_fault("500", times=3)
    with pytest.raises(ProviderError, match=r"^HTTP 500 .*after 3 attempts$") as info:
        provider().complete(request(spec(), max_attempts=3))
    assert server.request_count == 3
    assert info.value.retryable is False


@pytest.mark.parametrize("status", [400, 401, 404])
def test_client_errors_fail_at_once(server: FakeVLMServer, status: int) -> None:
    server.add_fault("status", status=status, message=f"bad thing, key {KEY}")
    with pytest.raises(ProviderError, match=rf"^HTTP {status} \(bad thing") as info:
        provider().complete(request(spec()))
    assert server.request_count == 1
    assert KEY not in str(info.value)
    assert "[REDACTED]" in str(info.value)


def test_malformed_body_fails_at_once(server: FakeVLMServer) -> None:
    server.add_fault("malformed")
    with pytest.raises(ProviderError, match="malformed response body"):
        provider().complete(request(spec()))
    assert server.request_count == 1


def test_timeout_is_retried_then_reported(server: FakeVLMServer) -> None:
    server.add_fault("hang", times=2)
    with pytest.raises(ProviderError, match=r"^timeout after 0\.3 s \(2 attempts\)$"):
        provider().complete(request(spec(), timeout_s=0.3, max_attempts=2))
    assert server.request_count == 2


def test_timeout_then_success(server: FakeVLMServer) -> None:
    server.add_fault("hang")
    out = provider().complete(request(spec(), timeout_s=0.3, max_attempts=2))
    assert (out.text, out.attempts) == ("27", 2)


def test_connection_refused_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    srv = FakeVLMServer().start()
    dead = srv.openai_base_url
    srv.shutdown()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", dead)
    with pytest.raises(ProviderError, match=r"^connection error.*after 2 attempts$"):
        provider().complete(request(spec(), max_attempts=2))


def test_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    p = provider()
    with pytest.raises(MissingCredentials, match="OPENAI_API_KEY") as info:
        p.check_credentials()
    assert info.value.env_var == "OPENAI_API_KEY"
    with pytest.raises(MissingCredentials):
        p.complete(request(spec()))


def test_custom_key_env(server: FakeVLMServer, monkeypatch: pytest.MonkeyPatch) -> None:
    model = spec(api_key_env="MY_OPENAI_KEY")
    with pytest.raises(MissingCredentials, match="MY_OPENAI_KEY"):
        provider(model).check_credentials()
    monkeypatch.setenv("MY_OPENAI_KEY", KEY)
    assert provider(model).complete(request(model)).text == "27"


def test_catalog_base_url_wins_over_env(
    server: FakeVLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing listens there
    model = spec(base_url=server.openai_base_url)
    assert provider(model).complete(request(model)).text == "27"


def test_env_base_url_change_is_picked_up(
    server: FakeVLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = provider()
    p.complete(request(spec()))
    with FakeVLMServer(default_answer="other server") as other:
        monkeypatch.setenv("OPENAI_BASE_URL", other.openai_base_url)
        assert p.complete(request(spec(), prompt="hi")).text == "other server"


def test_one_provider_shared_by_32_threads(server: FakeVLMServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    server.latency = 0.2
    p = provider()
    model = spec()
    with ThreadPoolExecutor(max_workers=32) as pool:
        outs = list(
            pool.map(lambda i: p.complete(request(model, prompt=f"bottles {i}")), range(32))
        )
    assert [o.text for o in outs] == ["27"] * 32
    assert server.request_count == 32
    assert all(o.attempts == 1 for o in outs)


@pytest.mark.parametrize("kind", ["reset", "truncated"])
def test_a_reset_or_cut_connection_is_retried(server: FakeVLMServer, kind: str) -> None:
    server.add_fault(kind)  # type: ignore[arg-type]
    out = provider().complete(request(spec(), max_attempts=2))
    assert out.attempts == 2
    assert server.request_count == 2


# -- the answer is read from the response's JSON ------------------------------------------


def scripted(monkeypatch: pytest.MonkeyPatch, payload: Any) -> list[httpx2.Request]:
    """The real SDK client, answering every request with ``payload`` (a mock transport)."""
    import openai

    sent: list[httpx2.Request] = []

    def handler(req: httpx2.Request) -> httpx2.Response:
        sent.append(req)
        return httpx2.Response(200, json=payload)

    real = openai.OpenAI

    def client(**kw: Any) -> openai.OpenAI:
        return real(http_client=httpx2.Client(transport=httpx2.MockTransport(handler)), **kw)

    monkeypatch.setattr(openai, "OpenAI", client)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    return sent


def message(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "content": list(parts)}


def test_answer_joins_every_output_text_of_every_message(monkeypatch: pytest.MonkeyPatch) -> None:
    sent = scripted(
        monkeypatch,
        {
            "id": "resp_1",
            "model": "gpt-5.2-2025-12-11",
            "status": "completed",
            "instructions": None,
            "output": [
                {"type": "reasoning", "summary": []},
                message(
                    {"type": "output_text", "text": "2", "annotations": []},
                    {"type": "output_text", "text": "7", "logprobs": None},
                ),
                message({"type": "output_text", "text": " bottles"}),
            ],
            "usage": {
                "input_tokens": 300,
                "input_tokens_details": {"cached_tokens": 100},
                "output_tokens": 50,
                "output_tokens_details": {"reasoning_tokens": 40},
            },
        },
    )
    out = provider().complete(request(spec()))
    assert out.text == "27 bottles"
    u = out.usage
    assert (u.input_tokens, u.cached_input_tokens, u.output_tokens, u.reasoning_tokens) == (
        300,
        100,
        50,
        40,
    )
    # The raw payload as the SDK's model_dump(exclude_none=True) gave it.
    assert out.raw is not None
    assert out.raw["model"] == "gpt-5.2-2025-12-11"
    assert "instructions" not in out.raw
    assert out.raw["output"][1]["content"][1] == {"type": "output_text", "text": "7"}
    # The same request as client.responses.create: path, bearer key, JSON body.
    (req,) = sent
    assert req.url.path == "/v1/responses"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(req.content)["model"] == "gpt-5.2"


def test_refusal_is_the_answer_when_there_is_no_text(monkeypatch: pytest.MonkeyPatch) -> None:
    scripted(
        monkeypatch,
        {"status": "completed", "output": [message({"type": "refusal", "refusal": "I can't"})]},
    )
    out = provider().complete(request(spec()))
    assert out.text == "I can't"
    assert (out.usage.input_tokens, out.usage.output_tokens) == (None, None)


def test_failed_response_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    scripted(
        monkeypatch,
        {"status": "failed", "error": {"code": "server_error", "message": "boom"}, "output": []},
    )
    with pytest.raises(ProviderError, match=r"^response failed: boom$"):
        provider().complete(request(spec()))


@pytest.mark.parametrize("payload", [{"status": "completed"}, ["not", "an", "object"]])
def test_json_that_is_not_a_response_is_malformed(
    monkeypatch: pytest.MonkeyPatch, payload: Any
) -> None:
    sent = scripted(monkeypatch, payload)
    with pytest.raises(ProviderError, match="malformed response body"):
        provider().complete(request(spec()))
    assert len(sent) == 1  # not retried


def test_a_call_builds_no_sdk_response_model(server: FakeVLMServer) -> None:
    """The SDK's Responses resource and its typed Response are never loaded: importing
    them and building the model schemas cost ~0.2 s of CPU on the first call of a run,
    and parsing into the model ~2 ms per call (a fresh interpreter, so nothing else in
    this test session has imported them)."""
    code = (
        "import sys\n"
        "from tests.test_provider_openai import provider, request, spec\n"
        "assert provider().complete(request(spec())).text == '27'\n"
        "print(sorted(m for m in sys.modules if m.startswith('openai.resources.responses')))\n"
    )
    env = {**os.environ, "OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": server.openai_base_url}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.strip() == "[]"
