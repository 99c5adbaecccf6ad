"""The fake server's batch APIs, driven by the real SDKs (openai 3.5x, google-genai 3.x)."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import openai
import pytest
from google import genai
from google.genai import types

from pytest_visionevals.testing import FakeUsage, FakeVLMServer

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def server() -> Iterator[FakeVLMServer]:
    usage = FakeUsage(input_tokens=300, cached_tokens=100, output_tokens=50, reasoning_tokens=30)
    with FakeVLMServer(answer={"one": "1", "two": "2"}, batch_delay=0.2, usage=usage) as srv:
        yield srv


def oai(srv: FakeVLMServer) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-fake-000000", base_url=srv.openai_base_url, max_retries=0)


def gem(srv: FakeVLMServer) -> genai.Client:
    options = types.HttpOptions(api_version="v1beta", base_url=srv.base_url)
    return genai.Client(api_key="gm-fake-000000", http_options=options)


def jsonl(prompts: list[str], model: str = "gpt-x") -> bytes:
    lines = []
    for i, text in enumerate(prompts):
        body = {
            "model": model,
            "input": [
                {
                    "role": "user",
                    "content": [
                        {"type": "input_text", "text": text},
                        {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
                    ],
                }
            ],
        }
        line = {"custom_id": f"c{i}", "method": "POST", "url": "/v1/responses", "body": body}
        lines.append(json.dumps(line))
    return ("\n".join(lines) + "\n").encode()


def wait_openai(client: openai.OpenAI, batch_id: str) -> Any:
    states = []
    for _ in range(200):
        batch = client.batches.retrieve(batch_id)
        states.append(batch.status)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch, states
        time.sleep(0.03)
    raise AssertionError(f"batch never ended: {states}")


def test_openai_batch_lifecycle_output_and_error_files(server: FakeVLMServer) -> None:
    server.add_fault("status", status=400, message="bad image", prompt="two", batch=True)
    client = oai(server)
    upload = client.files.create(
        file=("in.jsonl", jsonl(["one", "two", "three"]), "application/jsonl"), purpose="batch"
    )
    assert upload.purpose == "batch"
    assert upload.bytes > 0
    created = client.batches.create(
        input_file_id=upload.id, endpoint="/v1/responses", completion_window="24h"
    )
    assert created.status == "validating"
    assert created.request_counts is not None
    assert created.request_counts.total == 3
    batch, states = wait_openai(client, created.id)
    assert states[0] == "validating"
    assert "in_progress" in states
    assert states[-1] == "completed"
    assert batch.request_counts.completed == 2
    assert batch.request_counts.failed == 1

    out = [json.loads(x) for x in client.files.content(batch.output_file_id).text.splitlines()]
    assert [x["custom_id"] for x in out] == ["c0", "c2"]
    body = out[0]["response"]["body"]
    assert out[0]["response"]["status_code"] == 200
    assert out[0]["error"] is None
    assert body["output"][-1]["content"][0]["text"] == "1"
    assert body["usage"]["input_tokens"] == 300
    errors = [json.loads(x) for x in client.files.content(batch.error_file_id).text.splitlines()]
    assert errors[0]["custom_id"] == "c1"
    assert errors[0]["response"]["status_code"] == 400
    assert errors[0]["response"]["body"]["error"]["message"] == "bad image"

    # What was carried is recorded apart from the direct model calls.
    assert [r.prompt for r in server.batch_requests] == ["one", "two", "three"]
    assert all(r.in_batch and r.images == 1 for r in server.batch_requests)
    assert server.model_calls == []
    assert server.batches[0].id == batch.id


def test_openai_expired_and_cancelled_batches(server: FakeVLMServer) -> None:
    client = oai(server)
    server.script_batch("expired", answered=1)
    upload = client.files.create(
        file=("in.jsonl", jsonl(["one", "two"]), "application/jsonl"), purpose="batch"
    )
    created = client.batches.create(
        input_file_id=upload.id, endpoint="/v1/responses", completion_window="24h"
    )
    batch, _ = wait_openai(client, created.id)
    assert batch.status == "expired"
    assert batch.request_counts.completed == 1
    assert batch.request_counts.failed == 1
    error = json.loads(client.files.content(batch.error_file_id).text)
    assert error["response"] is None
    assert error["error"]["code"] == "batch_expired"

    server.batch_delay = 60.0
    again = client.batches.create(
        input_file_id=upload.id, endpoint="/v1/responses", completion_window="24h"
    )
    assert client.batches.cancel(again.id).status == "cancelling"
    ended, _ = wait_openai(client, again.id)
    assert ended.status == "cancelled"
    assert ended.output_file_id is None


def test_openai_batch_rejects_bad_input(server: FakeVLMServer) -> None:
    client = oai(server)
    upload = client.files.create(
        file=("in.jsonl", b'{"custom_id": "a", "method": "GET"}\n', "application/jsonl"),
        purpose="batch",
    )
    with pytest.raises(openai.BadRequestError, match="method must be POST"):
        client.batches.create(
            input_file_id=upload.id, endpoint="/v1/responses", completion_window="24h"
        )
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_nope")


def inlined(text: str, key: str) -> types.InlinedRequest:
    return types.InlinedRequest(
        contents=[
            types.Content(
                role="user",
                parts=[
                    types.Part.from_bytes(data=b"\x89PNG....", mime_type="image/png"),
                    types.Part.from_text(text=text),
                ],
            )
        ],
        config=types.GenerateContentConfig(temperature=0.0, system_instruction="be brief"),
        metadata={"key": key},
    )


def test_gemini_batch_lifecycle_and_inlined_responses(server: FakeVLMServer) -> None:
    server.add_fault("status", status=400, message="bad image", prompt="two", batch=True)
    client = gem(server)
    job = client.batches.create(
        model="gemma-x-it",
        src=[inlined("one", "k0"), inlined("two", "k1"), inlined("three", "k2")],
        config={"display_name": "visionevals-test"},
    )
    assert job.name is not None
    assert job.name.startswith("batches/")
    assert job.state == types.JobState.JOB_STATE_PENDING
    seen = []
    for _ in range(200):
        job = client.batches.get(name=job.name)
        seen.append(job.state)
        if job.done:
            break
        time.sleep(0.03)
    assert types.JobState.JOB_STATE_RUNNING in seen
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.dest is not None
    assert job.dest.inlined_responses is not None
    first, second, third = job.dest.inlined_responses
    assert first.metadata == {"key": "k0"}
    assert first.response is not None
    assert first.response.text == "1"
    meta = first.response.usage_metadata
    assert meta is not None
    assert meta.prompt_token_count == 300
    assert meta.candidates_token_count == 20
    assert meta.thoughts_token_count == 30
    assert second.error is not None
    assert second.error.message == "bad image"
    assert third.response is not None
    assert third.response.text == "OK"
    carried = server.batch_requests
    assert [r.prompt for r in carried] == ["one", "two", "three"]
    assert carried[0].system == "be brief"
    assert carried[0].images == 1
    assert carried[0].model == "gemma-x-it"
    assert server.batches[0].display_name == "visionevals-test"


def test_gemini_cancel_expire_and_unknown(server: FakeVLMServer) -> None:
    client = gem(server)
    server.batch_delay = 60.0
    job = client.batches.create(model="gemma-x-it", src=[inlined("one", "k0")])
    assert job.name is not None
    client.batches.cancel(name=job.name)
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_CANCELLED

    server.batch_delay = 0.0
    server.script_batch("expired", answered=0)
    job = client.batches.create(model="gemma-x-it", src=[inlined("one", "k0")])
    assert job.name is not None
    ended = client.batches.get(name=job.name)
    assert ended.state == types.JobState.JOB_STATE_EXPIRED

    with pytest.raises(genai.errors.ClientError) as info:
        client.batches.get(name="batches/nope")
    assert info.value.code == 404
