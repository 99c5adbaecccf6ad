"""The fake API server itself: routes, scripted answers, faults, recording, concurrency."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from pytest_visionevals.testing import FakeUsage, FakeVLMServer


def post(
    url: str, body: Any, headers: dict[str, str] | None = None, timeout: float = 5.0
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


RESPONSES_BODY = {
    "model": "gpt-5.2",
    "instructions": "be brief",
    "input": [
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "How many bottles are there?"},
                {
                    "type": "input_image",
                    "image_url": "data:image/png;base64,AAAA",
                    "detail": "high",
                },
            ],
        }
    ],
}


def test_responses_route_usage_and_answer_mapping() -> None:
    usage = FakeUsage(input_tokens=300, cached_tokens=100, output_tokens=50, reasoning_tokens=30)
    with FakeVLMServer(
        answer={"bottles": "27", "cats": "3"}, default_answer="?", usage=usage
    ) as srv:
        status, _, raw = post(
            f"{srv.openai_base_url}/responses",
            RESPONSES_BODY,
            {"Authorization": "Bearer sk-secret"},
        )
        assert status == 200
        body = json.loads(raw)
        msg = next(o for o in body["output"] if o["type"] == "message")
        assert msg["content"][0]["text"] == "27"
        assert body["usage"]["input_tokens"] == 300
        assert body["usage"]["input_tokens_details"]["cached_tokens"] == 100
        assert body["usage"]["output_tokens"] == 50
        assert body["usage"]["output_tokens_details"]["reasoning_tokens"] == 30
        rec = srv.requests[0]
        assert (rec.api, rec.model, rec.images) == ("responses", "gpt-5.2", 1)
        assert rec.system == "be brief"
        assert rec.headers["authorization"] == "<redacted>"
        assert "sk-secret" not in repr(srv.requests)


def test_chat_route_default_answer_and_function_answer() -> None:
    with FakeVLMServer(answer=lambda r: f"echo:{r.model}:{r.images}") as srv:
        body = {
            "model": "llava",
            "messages": [
                {"role": "system", "content": "sys"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "hi"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
                    ],
                },
            ],
        }
        status, _, raw = post(f"{srv.openai_base_url}/chat/completions", body)
        assert status == 200
        data = json.loads(raw)
        assert data["choices"][0]["message"]["content"] == "echo:llava:1"
        assert data["usage"]["prompt_tokens"] == 120
        assert srv.requests[0].system == "sys"
        assert srv.requests[0].prompt == "hi"


@pytest.mark.parametrize("version", ["v1", "v1beta"])
def test_gemini_route_with_thought_part(version: str) -> None:
    usage = FakeUsage(input_tokens=294, output_tokens=214, reasoning_tokens=150)
    with FakeVLMServer(default_answer="a cat", usage=usage, thought_text="thinking") as srv:
        body = {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                        {"text": "what?"},
                    ],
                }
            ]
        }
        status, _, raw = post(
            f"{srv.base_url}/{version}/models/gemma-4-26b-a4b-it:generateContent",
            body,
            {"x-goog-api-key": "g-secret"},
        )
        assert status == 200
        data = json.loads(raw)
        parts = data["candidates"][0]["content"]["parts"]
        assert parts == [{"text": "thinking", "thought": True}, {"text": "a cat"}]
        meta = data["usageMetadata"]
        assert (
            meta["promptTokenCount"],
            meta["candidatesTokenCount"],
            meta["thoughtsTokenCount"],
        ) == (294, 64, 150)
        rec = srv.requests[0]
        assert (rec.model, rec.images, rec.prompt) == ("gemma-4-26b-a4b-it", 1, "what?")
        assert rec.headers["x-goog-api-key"] == "<redacted>"


def test_faults_are_consumed_in_order_and_filtered() -> None:
    with FakeVLMServer() as srv:
        srv.add_fault("429", retry_after=2)
        srv.add_fault("500", model="other-model")  # must not hit gpt-5.2
        srv.add_fault("status", status=401)
        srv.add_fault("malformed")
        url = f"{srv.openai_base_url}/responses"
        status, headers, _ = post(url, RESPONSES_BODY)
        assert (status, headers.get("Retry-After")) == (429, "2")
        assert post(url, RESPONSES_BODY)[0] == 401
        status, _, raw = post(url, RESPONSES_BODY)
        assert status == 200
        with pytest.raises(json.JSONDecodeError):
            json.loads(raw)
        assert post(url, RESPONSES_BODY)[0] == 200
        assert srv.pending_faults == 1  # the other-model 500 is still queued
        assert srv.request_count == 4
        assert srv.count(model="gpt-5.2") == 4


def test_hang_makes_the_client_time_out_and_shutdown_is_prompt() -> None:
    srv = FakeVLMServer(hang_s=30).start()
    srv.add_fault("hang")
    with pytest.raises(OSError, match="timed out"):
        post(f"{srv.openai_base_url}/responses", RESPONSES_BODY, timeout=0.3)
    start = time.monotonic()
    srv.shutdown()
    srv.shutdown()  # idempotent
    assert time.monotonic() - start < 3


def test_unknown_route_is_404() -> None:
    with FakeVLMServer() as srv:
        assert post(f"{srv.base_url}/v2/nothing", {})[0] == 404


def test_latency_and_32_concurrent_connections() -> None:
    with FakeVLMServer(latency=0.3, default_answer="x") as srv:
        url = f"{srv.openai_base_url}/chat/completions"
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=40) as pool:
            statuses = list(pool.map(lambda _: post(url, body)[0], range(40)))
        elapsed = time.monotonic() - start
        assert statuses == [200] * 40
        assert srv.request_count == 40
        # Served in parallel: 40 x 0.3 s sequentially would be 12 s.
        assert 0.3 <= elapsed < 4.0
        assert 2 <= srv.peak_in_flight <= 40
        peak = srv.peak_in_flight
        assert post(url, body)[0] == 200
        assert srv.peak_in_flight == peak  # one more at a time does not raise it
        srv.clear()
        # The handler counts itself out just after the client has its answer.
        assert srv.peak_in_flight <= 1


def test_runs_as_a_script_and_prints_the_base_url() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest_visionevals.testing.fake_server",
            "--port",
            "0",
            "--latency",
            "0",
            "--answer",
            "hello",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:")
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        status, _, raw = post(f"{base}/v1/chat/completions", body)
        assert status == 200
        assert json.loads(raw)["choices"][0]["message"]["content"] == "hello"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
