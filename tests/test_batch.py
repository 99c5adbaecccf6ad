"""The batch step without pytest: BatchRunner, its state files, the ledger, the leader lock,
and the two batch APIs against the fake server (real SDKs)."""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest

from pytest_visionevals.batch import (
    BatchLedger,
    BatchRecord,
    BatchRunner,
    BatchStore,
    RunSummary,
    lead_or_wait,
)
from pytest_visionevals.cache import ResponseCache, request_key
from pytest_visionevals.calls import CallJob, ImageInput, Request
from pytest_visionevals.models import ModelSpec, Pricing
from pytest_visionevals.params import GenerationParams
from pytest_visionevals.providers import make_batch_api, supports_batch
from pytest_visionevals.providers.google_batch import GoogleBatchAPI
from pytest_visionevals.providers.openai_batch import OpenAIBatchAPI
from pytest_visionevals.providers.openai_responses import OpenAIResponsesProvider
from pytest_visionevals.testing import FakeVLMServer

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from pathlib import Path

    from pytest_visionevals.batch import BatchView
    from pytest_visionevals.providers.base import BatchAPI

KEYS = {"BATCH_TEST_OPENAI_KEY": "sk-batch-test-0001", "BATCH_TEST_GEMINI_KEY": "gm-batch-0001"}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeVLMServer]:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    with FakeVLMServer(answer={"q1": "one", "q2": "two"}, default_answer="yes") as srv:
        yield srv


def gpt(srv: FakeVLMServer, **pricing: Any) -> ModelSpec:
    return ModelSpec(
        name="gpt",
        provider="openai",
        model_id="gpt-x",
        base_url=srv.openai_base_url,
        api_key_env="BATCH_TEST_OPENAI_KEY",
        pricing=Pricing(input=2.0, output=10.0, **pricing),
        params=GenerationParams(reasoning_effort="low", max_output_tokens=99),
    )


def gemma(srv: FakeVLMServer) -> ModelSpec:
    return ModelSpec(
        name="gemma",
        provider="google",
        model_id="gemma-x-it",
        base_url=srv.base_url,
        api_key_env="BATCH_TEST_GEMINI_KEY",
        pricing=Pricing(input=1.0, output=1.0, batch_discount=0.5),
        params=GenerationParams(temperature=0.0),
    )


IMAGE = ImageInput(b"\x89PNG-fake", "image/png", 4, 4, 4, 4, "a.png")


def job(spec: ModelSpec, n: int, *, image: ImageInput = IMAGE) -> CallJob:
    request = Request(model=spec, prompt=f"question q{n}", images=(image,), params=spec.params)
    return CallJob(
        key=f"evals/x.yaml::q{n}[{spec.name}]",
        model=spec,
        build_request=lambda: request,
        label=f"x.yaml::q{n}",
    )


def runner(tmp_path: Path, **kwargs: Any) -> BatchRunner:
    cache = ResponseCache(tmp_path / "cache")
    kwargs.setdefault("poll_s", 0.02)
    return BatchRunner(cache, BatchStore.for_cache(tmp_path / "cache"), **kwargs)


def test_one_batch_per_model_recorded_before_polling_and_answers_in_the_cache(
    server: FakeVLMServer, tmp_path: Path
) -> None:
    server.batch_delay = 0.2
    a, b = gpt(server, batch_discount=0.5), gemma(server)
    jobs = [job(spec, n) for n in range(3) for spec in (a, b)]
    store = BatchStore.for_cache(tmp_path / "cache")
    seen_on_disk: list[set[str]] = []

    def progress(views: Sequence[BatchView], elapsed: float) -> None:
        # The first time anything is shown, both batches are already on disk.
        seen_on_disk.append({r.id for m in ("gpt", "gemma") for r in store.load(m)})
        assert {v.id for v in views} <= seen_on_disk[-1]

    summary = runner(tmp_path, progress=progress).run(jobs)
    assert len(summary.submitted) == 2
    assert not summary.timed_out
    assert seen_on_disk[0] == set(summary.submitted)
    assert sorted(len(x.requests) for x in server.batches) == [3, 3]
    assert server.model_calls == []
    cache = ResponseCache(tmp_path / "cache")
    for j in jobs:
        request = j.build_request()
        answer = cache.load(j.model.name, request_key(request))
        assert answer is not None
        assert answer.batch_id in summary.submitted
    # A batch answer is priced at batch prices: 300 in x 1.0 + 20 out x 5.0 (per 1M).
    answer = cache.load("gpt", request_key(jobs[0].build_request()))
    assert answer is not None
    assert answer.text == "yes"
    assert answer.cost_usd == pytest.approx((120 * 1.0 + 20 * 5.0) / 1e6)
    records = {r.model: r for m in ("gpt", "gemma") for r in store.load(m)}
    assert records["gpt"].collected
    assert records["gpt"].answered == 3
    assert records["gpt"].cost_usd == pytest.approx(3 * (120 * 1.0 + 20 * 5.0) / 1e6)
    ledger = BatchLedger(summary)
    key = request_key(jobs[0].build_request())
    assert ledger.answered_now("gpt", key.digest)
    assert ledger.unanswered("gpt", key.digest) is None


def test_the_batch_body_is_the_direct_calls_body(server: FakeVLMServer) -> None:
    spec = gpt(server)
    api = make_batch_api(spec)
    request = job(spec, 1).build_request()
    line = json.loads(api.prepare("cid", request).payload)
    assert line["custom_id"] == "cid"
    assert line["method"] == "POST"
    assert line["url"] == "/v1/responses"
    assert line["body"] == OpenAIResponsesProvider(spec).build_body(request)
    assert isinstance(api, OpenAIBatchAPI)
    assert api.max_requests == 50_000
    assert isinstance(make_batch_api(gemma(server)), GoogleBatchAPI)


def test_requests_are_split_by_the_size_cap_and_the_apis_byte_limit(
    server: FakeVLMServer, tmp_path: Path
) -> None:
    spec = gpt(server)
    jobs = [job(spec, n) for n in range(5)]
    runner(tmp_path, max_requests=2).run(jobs)
    assert [len(b.requests) for b in server.batches] == [2, 2, 1]

    # A tiny byte limit: every request needs a batch of its own.
    big = ImageInput(b"x" * 3000, "image/png", 4, 4, 4, 4, "big.png")
    other = gemma(server)

    def small_api(s: ModelSpec) -> BatchAPI:
        api = make_batch_api(s)
        api.max_bytes = 5000  # type: ignore[misc]
        return api

    before = len(server.batches)
    runner(tmp_path, api_factory=small_api).run([job(other, n, image=big) for n in range(3)])
    assert [len(b.requests) for b in server.batches[before:]] == [1, 1, 1]


def test_cached_and_duplicate_requests_are_not_submitted(
    server: FakeVLMServer, tmp_path: Path
) -> None:
    spec = gpt(server)
    runner(tmp_path).run([job(spec, 1)])
    assert len(server.batches) == 1
    # Same request twice (two items asking the same), plus the cached one: one new request.
    twin = job(spec, 2)
    summary = runner(tmp_path).run([job(spec, 1), twin, twin])
    assert len(server.batches) == 2
    assert len(server.batches[1].requests) == 1
    assert summary.submitted == [server.batches[1].id]
    summary = runner(tmp_path).run([job(spec, 1), job(spec, 2)])
    assert summary.submitted == []
    assert summary.batches == []
    assert len(server.batches) == 2


def test_a_timed_out_batch_is_collected_by_the_next_run_not_resubmitted(
    server: FakeVLMServer, tmp_path: Path
) -> None:
    server.batch_delay = 60.0
    spec = gpt(server)
    jobs = [job(spec, n) for n in range(2)]
    summary = runner(tmp_path, timeout_s=0.1).run(jobs)
    assert summary.timed_out
    assert len(summary.submitted) == 1
    batch_id = summary.submitted[0]
    ledger = BatchLedger(summary)
    reason = ledger.unanswered("gpt", request_key(jobs[0].build_request()).digest)
    assert reason is not None
    assert batch_id in reason
    assert "re-run" in reason
    assert "--vision-batch-timeout 0.1 s" in reason
    assert not ledger.answered_now("gpt", request_key(jobs[0].build_request()).digest)

    server.batches[0].delay = server.batch_delay = 0.0
    again = runner(tmp_path).run(jobs)
    assert again.submitted == []
    assert [b.id for b in again.batches] == [batch_id]
    assert len(server.batches) == 1
    assert again.batches[0].collected
    assert again.batches[0].answered == 2
    # Only a batch carrying this run's requests is polled: another run's open batch is not.
    assert runner(tmp_path).run([job(spec, 7)]).batches[0].id != batch_id


def test_per_request_errors_and_a_failed_batch_are_in_the_ledger(
    server: FakeVLMServer, tmp_path: Path
) -> None:
    spec = gemma(server)
    server.add_fault("status", status=400, message="bad image", prompt="q1", batch=True)
    jobs = [job(spec, n) for n in range(3)]
    summary = runner(tmp_path).run(jobs)
    ledger = BatchLedger(summary)
    digests = [request_key(j.build_request()).digest for j in jobs]
    reason = ledger.unanswered("gemma", digests[1])
    assert reason is not None
    assert "bad image" in reason
    assert summary.submitted[0] in reason
    assert ledger.unanswered("gemma", digests[0]) is None
    assert ledger.answered_now("gemma", digests[0])

    # A failed batch: every request says so, with the batch's own error.
    server.script_batch("failed", message="quota exhausted")
    failed = runner(tmp_path).run([job(spec, 1)])
    record = failed.batches[0]
    assert record.state == "failed"
    assert record.collected
    reason = BatchLedger(failed).unanswered("gemma", digests[1])
    assert reason is not None
    assert "failed before answering" in reason


def test_missing_credentials_skip_the_model_and_unknown_batches_are_given_up(
    server: FakeVLMServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = gpt(server)
    monkeypatch.delenv("BATCH_TEST_OPENAI_KEY")
    assert runner(tmp_path).run([job(spec, 1)]).batches == []
    assert server.requests == []
    monkeypatch.setenv("BATCH_TEST_OPENAI_KEY", "sk-batch-test-0001")
    # A recorded batch the API does not know (purged, another account): given up, once.
    store = BatchStore.for_cache(tmp_path / "cache")
    request = job(spec, 1).build_request()
    key = request_key(request)
    store.save(
        BatchRecord(
            id="batch_unknown",
            model="gpt",
            provider="openai",
            model_id="gpt-x",
            endpoint=server.openai_base_url,
            api="/v1/responses",
            created_at="2026-01-01T00:00:00+00:00",
            requests=[
                {"custom_id": "c", "digest": key.digest, "job_key": "", "label": "",
                 "summary": key.summary}
            ],
        )
    )  # fmt: skip
    summary = runner(tmp_path).run([job(spec, 1)])
    assert summary.submitted == []
    assert summary.batches[0].collected
    reason = BatchLedger(summary).unanswered("gpt", key.digest)
    assert reason is not None
    assert "cannot be read" in reason
    assert "HTTP 404" in reason
    assert runner(tmp_path).run([job(spec, 1)]).submitted != []  # the next run resubmits


def test_submission_failures_are_reasons_not_crashes(server: FakeVLMServer, tmp_path: Path) -> None:
    spec = gpt(server)
    server.add_fault("status", status=400, message="quota", path="/batches")
    # The fault is for a direct call route; the batch route never consumes it.
    summary = runner(tmp_path).run([job(spec, 1)])
    assert summary.submitted != []

    class Broken:
        def __init__(self, s: ModelSpec) -> None:
            self.api = make_batch_api(s)
            self.endpoint = self.api.endpoint
            self.max_requests, self.max_bytes = 10, 10**9

        def __getattr__(self, name: str) -> Any:
            return getattr(self.api, name)

        def submit(self, lines: Any, display_name: str) -> str:
            from pytest_visionevals.providers.base import ProviderError

            raise ProviderError("HTTP 400 (quota exceeded)")

    summary = runner(tmp_path, api_factory=Broken).run([job(spec, 5)])
    reason = BatchLedger(summary).unanswered(
        "gpt", request_key(job(spec, 5).build_request()).digest
    )
    assert reason == "submitting the batch failed: HTTP 400 (quota exceeded)"
    assert summary.problems


def test_ledger_of_a_failed_step_blocks_full_price_calls() -> None:
    ledger = BatchLedger(RunSummary(problems=["boom"]), failed_models=["gpt"])
    assert ledger.unanswered("gpt", "any") == "boom"
    assert ledger.unanswered("other", "any") is None


def test_lead_or_wait_runs_the_step_in_one_process_only(tmp_path: Path) -> None:
    store = BatchStore(tmp_path / "state")
    calls: list[int] = []
    started = threading.Event()

    def lead() -> RunSummary:
        calls.append(1)
        started.set()
        time.sleep(0.3)
        return RunSummary(submitted=["batch_1"])

    got: list[RunSummary] = []
    threads = [
        threading.Thread(target=lambda: got.append(lead_or_wait(store, "run-1", lead)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(calls) == 1
    assert [s.submitted for s in got] == [["batch_1"]] * 3
    # Another run id leads again; a leader that fails leaves the lock to the next one.
    with pytest.raises(RuntimeError):
        lead_or_wait(store, "run-2", lambda: (_ for _ in ()).throw(RuntimeError("dead")))
    assert lead_or_wait(store, "run-2", lambda: RunSummary(submitted=["b2"])).submitted == ["b2"]


def test_batch_pricing() -> None:
    p = Pricing(input=2.0, cached_input=0.2, output=10.0, batch_discount=0.5)
    assert p.batch().model_dump(include={"input", "cached_input", "output"}) == {
        "input": 1.0,
        "cached_input": 0.1,
        "output": 5.0,
    }
    explicit = Pricing(
        input=2.0, output=10.0, batch_input=0.7, batch_output=3.0, batch_discount=0.5
    )
    assert (explicit.batch().input, explicit.batch().output) == (0.7, 3.0)
    unknown = Pricing(input=2.0, output=10.0).batch()
    assert (unknown.input, unknown.output) == (None, None)  # unknown stays unknown
    with pytest.raises(ValueError, match="less than or equal to 1"):
        Pricing(batch_discount=1.5)


def test_which_models_are_batched(server: FakeVLMServer) -> None:
    assert supports_batch(gpt(server))
    assert supports_batch(gemma(server))
    assert not supports_batch(gpt(server).model_copy(update={"batch": False}))
    local = ModelSpec(name="l", provider="openai-compatible", model_id="m")
    assert not supports_batch(local)


def test_reports_count_this_runs_batch_answers_and_escape_batch_ids() -> None:
    from pytest_visionevals.progress import format_batches
    from pytest_visionevals.report import markdown, terminal
    from pytest_visionevals.results import CaseResult
    from pytest_visionevals.scoring import Scorecard

    hostile = "batch_\x1b[31mevil"

    def result(i: int, **kw: Any) -> CaseResult:
        base: dict[str, Any] = {
            "nodeid": f"x::c{i}[m]", "file": "x.yaml", "case_id": f"c{i}", "model": "m",
            "category": "C", "outcome": "passed", "score": 1.0, "cost_usd": 0.5,
            "batch_id": hostile,
        }  # fmt: skip
        return CaseResult(**{**base, **kw})

    card = Scorecard.build(
        [result(0), result(1, cost_usd=0.25), result(2, replayed=True), result(3, batch_id=None)]
    )
    m = card.model("m")
    assert m.batched == 2  # the replay of an earlier run's batch answer is a replay
    assert m.batch_cost_usd == pytest.approx(0.75)
    assert m.batch_ids == [hostile]
    text = terminal.render_text(card)
    assert "Answered through provider batches, at batch prices: m 2 ($0.7500;" in text
    assert "\x1b" not in text
    assert "\\x1b[31mevil" in text
    md = markdown.render(card)
    assert "\x1b" not in md
    assert "Answered through provider batches" in md
    unknown = Scorecard.build([result(0, cost_usd=None)]).model("m")
    assert unknown.batch_cost_usd is None

    lines = terminal.batch_lines(
        {
            "batches": [
                {"id": hostile, "model": "m", "state": "running", "provider_state": "in_progress",
                 "requests": 3, "collected": False},
                {"id": "b2", "model": "m", "state": "expired", "provider_state": "expired",
                 "requests": 3, "collected": True, "answered": 1, "errors": 2, "cost_usd": 0.1,
                 "submitted_now": True},
            ],
            "timeout_s": 60,
            "problems": ["m: submitting the batch failed: HTTP 400 (\x1b]8;;x)"],
        }
    )  # fmt: skip
    texts = [t for t, _ in lines]
    assert all("\x1b" not in t for t in texts)
    assert "still running after --vision-batch-timeout 60 s" in texts[0]
    assert "submitted by an earlier run" in texts[0]
    assert texts[1] == (
        "vision batch b2 (m): expired, 3 requests, 1 answered ($0.1000 at batch prices), "
        "2 without an answer"
    )
    assert lines[1][1] == "red"
    assert texts[2].startswith("vision batch: m: submitting the batch failed")
    from pytest_visionevals.batch import BatchView

    line = format_batches([BatchView("m", hostile, "in_progress", 10, 3, 1)], 75)
    assert line == "[vision batches: m batch_\\x1b[31mevil in_progress 3/10 done, 1 failed | 1m15s]"
