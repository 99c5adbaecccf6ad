"""--vision-batch end to end: the real SDKs against the fake server's batch APIs.

For both batch providers (an ``openai`` GPT-like model and a ``google`` Gemma-like model),
with and without xdist: every unanswered request of a model goes into one batch, no model
call is made directly, answers are priced at batch prices, per-request errors are item
errors with the provider's message, a re-run after a kill or a timeout collects the
recorded batches instead of submitting again, and a fully cached run submits nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from pytest_visionevals.batch import STATE_DIRNAME
from pytest_visionevals.testing.fake_server import FakeVLMServer, RecordedRequest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

N = 6
CATALOG = """\
models:
  fake-gpt:
    provider: openai
    model_id: fake-gpt
    pricing: {{input: 2.0, output: 10.0, batch_discount: 0.5}}
    api_key_env: FAKE_OPENAI_KEY
    base_url: "{openai}"
    max_attempts: 1
  fake-gemma:
    provider: google
    model_id: fake-gemma-it
    box_format: yxyx_1000
    pricing: {{input: 0.2, output: 1.0, batch_input: 0.1, batch_output: 0.4}}
    api_key_env: FAKE_GEMINI_KEY
    base_url: "{base}"
    max_attempts: 1
  fake-local:
    provider: openai-compatible
    model_id: local-vlm
    base_url: "{openai}"
    max_attempts: 1
"""
# FakeUsage: 120 input and 20 output tokens per answer.
GPT_BATCH_COST = (120 * 1.0 + 20 * 5.0) / 1e6  # half of 2.0 / 10.0
GEMMA_BATCH_COST = (120 * 0.1 + 20 * 0.4) / 1e6  # the explicit batch prices
JUDGE_REPLY = '{"score": 0.9, "reason": "says yes"}'
BATCH_MODELS = ("fake-gpt", "fake-gemma")
MODELS = (*BATCH_MODELS, "fake-local")


def answer(req: RecordedRequest) -> str:
    return JUDGE_REPLY if "against the rubric" in req.prompt else "yes"


def write_project(root: Path, server: FakeVLMServer, *, judged: bool = False) -> None:
    (root / "img").mkdir(exist_ok=True)
    Image.new("RGB", (32, 24), "white").save(root / "img" / "a.png")
    (root / "evals").mkdir(exist_ok=True)
    lines = ["category: Batch", "task: vqa", "cases:"]
    for i in range(N):
        lines += [f"  - id: q{i:02d}", "    image: ../img/a.png", f"    prompt: question {i:02d}"]
        lines.append("    expect: {equals: 'yes'}")
    if judged:
        lines += ["  - id: judged", "    image: ../img/a.png", "    prompt: question judged"]
        lines.append("    expect: {judge: {rubric: 'Says yes.'}}")
    (root / "evals" / "batch.yaml").write_text("\n".join(lines) + "\n")
    (root / "visionevals.models.yaml").write_text(
        CATALOG.format(openai=server.openai_base_url, base=server.base_url)
    )
    (root / "pytest.ini").write_text(
        f"[pytest]\nvision_models = {','.join(MODELS)}\nvision_judge_model = fake-gpt\n"
    )


@pytest.fixture(params=[[], ["-n", "2"]], ids=["no-xdist", "n2"])
def xdist_args(request: pytest.FixtureRequest) -> list[str]:
    """With and without xdist (the four-way matrix of conftest costs minutes here)."""
    return list(request.param)


@pytest.fixture
def server() -> Iterator[FakeVLMServer]:
    with FakeVLMServer(answer=answer, batch_delay=0.3) as srv:
        yield srv


@pytest.fixture
def project(
    pytester: pytest.Pytester, server: FakeVLMServer, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    write_project(pytester.path, server)
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-test-batch-123456")
    monkeypatch.setenv("FAKE_GEMINI_KEY", "gm-test-batch-456789")
    return pytester


BATCH_ARGS = ("--vision-batch", "--vision-batch-poll", "0.05", "--vision-cache-dir", "cache")


def run(project: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = project.runpytest(*BATCH_ARGS, "--vision-json", "out.json", *args)
    doc = json.loads((project.path / "out.json").read_text())
    return result, doc


def by_item(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{r['case_id']}[{r['model']}]": r for r in doc["results"]}


def direct_calls(server: FakeVLMServer, model: str | None = None) -> list[RecordedRequest]:
    """Model calls made outside any batch."""
    return [r for r in server.model_calls if model is None or r.model == model]


def test_items_become_one_batch_per_model_at_batch_prices_without_direct_calls(
    project: pytest.Pytester, server: FakeVLMServer, xdist_args: list[str]
) -> None:
    result, doc = run(project, *xdist_args)
    result.assert_outcomes(passed=N * len(MODELS))

    batches = server.batches
    assert sorted(b.model for b in batches) == ["fake-gemma-it", "fake-gpt"]
    assert all(len(b.requests) == N for b in batches)
    assert all(r.images == 1 for b in batches for r in b.requests)
    # Only the model without a batch API was called directly, once per item.
    assert {r.model for r in direct_calls(server)} == {"local-vlm"}
    assert len(direct_calls(server)) == N

    results = by_item(doc)
    ids = {b.model: b.id for b in batches}
    for i in range(N):
        gpt, gemma = results[f"q{i:02d}[fake-gpt]"], results[f"q{i:02d}[fake-gemma]"]
        assert gpt["batch_id"] == ids["fake-gpt"]
        assert gemma["batch_id"] == ids["fake-gemma-it"]
        assert gpt["cost_usd"] == pytest.approx(GPT_BATCH_COST)
        assert gemma["cost_usd"] == pytest.approx(GEMMA_BATCH_COST)
        assert not gpt["replayed"]
        assert gpt["latency_s"] is None
        local = results[f"q{i:02d}[fake-local]"]
        assert local["batch_id"] is None
        assert local["latency_s"] is not None

    per_model = doc["scorecard"]["per_model"]
    assert per_model["fake-gpt"]["batched"] == N
    assert per_model["fake-gpt"]["batch_ids"] == [ids["fake-gpt"]]
    assert per_model["fake-gpt"]["batch_cost_usd"] == pytest.approx(N * GPT_BATCH_COST)
    assert per_model["fake-gpt"]["total_cost_usd"] == pytest.approx(N * GPT_BATCH_COST)
    assert per_model["fake-local"]["batched"] == 0
    result.stdout.fnmatch_lines(
        [
            "Answered through provider batches, at batch prices: fake-gpt 6*",
            f"vision batch {ids['fake-gpt']} (fake-gpt): completed, {N} requests, {N} answered*",
        ]
    )
    # The keys never reach the state files.
    state = "".join(p.read_text() for p in (project.path / "cache").rglob("*.json"))
    assert "sk-test-batch" not in state
    assert "gm-test-batch" not in state


def test_per_request_errors_are_item_errors_with_the_providers_message(
    project: pytest.Pytester, server: FakeVLMServer, xdist_args: list[str]
) -> None:
    server.add_fault(
        "status", status=400, message="image too small (gpt)", prompt="question 03",
        model="fake-gpt", batch=True,
    )  # fmt: skip
    server.add_fault(
        "status", status=400, message="image too small (gemma)", prompt="question 04",
        model="fake-gemma-it", batch=True,
    )  # fmt: skip
    result, doc = run(project, *xdist_args)
    results = by_item(doc)
    gpt, gemma = results["q03[fake-gpt]"], results["q04[fake-gemma]"]
    assert gpt["outcome"] == "error"
    assert "image too small (gpt)" in gpt["reason"]
    assert gemma["outcome"] == "error"
    assert "image too small (gemma)" in gemma["reason"]
    ids = {b.model: b.id for b in server.batches}
    assert ids["fake-gpt"] in gpt["reason"]
    assert ids["fake-gemma-it"] in gemma["reason"]
    result.assert_outcomes(passed=N * len(MODELS) - 2, errors=2)
    assert not direct_calls(server, "fake-gpt")
    assert not direct_calls(server, "fake-gemma-it")

    # The re-run submits only the two requests without an answer, one batch each.
    before = len(server.batches)
    result, doc = run(project, *xdist_args)
    result.assert_outcomes(passed=N * len(MODELS))
    new = server.batches[before:]
    assert sorted((b.model, len(b.requests)) for b in new) == [
        ("fake-gemma-it", 1),
        ("fake-gpt", 1),
    ]
    assert not direct_calls(server, "fake-gpt")
    assert not direct_calls(server, "fake-gemma-it")


def test_a_fully_cached_run_submits_nothing(
    project: pytest.Pytester, server: FakeVLMServer
) -> None:
    run(project)
    assert len(server.batches) == 2
    server.clear()
    result, doc = run(project, "-n", "2")
    result.assert_outcomes(passed=N * len(MODELS))
    assert len(server.batches) == 2
    assert server.requests == []  # no batch route, no model call: all replayed
    assert all(r["replayed"] for r in doc["results"])
    assert doc["scorecard"]["per_model"]["fake-gpt"]["batched"] == 0


def test_past_the_timeout_items_are_errors_naming_the_batch_and_a_rerun_collects_it(
    project: pytest.Pytester, server: FakeVLMServer, xdist_args: list[str]
) -> None:
    server.batch_delay = 600.0
    result, doc = run(project, "--vision-batch-timeout", "0.3", *xdist_args)
    ids = sorted(b.id for b in server.batches)
    assert len(ids) == 2
    results = by_item(doc)
    for model in BATCH_MODELS:
        r = results[f"q00[{model}]"]
        assert r["outcome"] == "error"
        assert "no answer yet: batch" in r["reason"]
        assert "--vision-batch-timeout 0.3 s" in r["reason"]
    assert all(
        any(i in r["reason"] for i in ids) for r in doc["results"] if r["outcome"] == "error"
    )
    result.assert_outcomes(passed=N, errors=N * 2)
    result.stdout.fnmatch_lines(["*vision batch batch_*still running after*re-run*"])

    server.batch_delay = 0.0  # a regression (a new batch) fails fast, not by timing out
    for b in server.batches:  # the provider finishes them meanwhile
        b.delay = 0.0
    result, doc = run(project, *xdist_args)
    result.assert_outcomes(passed=N * len(MODELS))
    assert sorted(b.id for b in server.batches) == ids  # collected, not submitted again
    assert {r["batch_id"] for r in doc["results"] if r["model"] in BATCH_MODELS} == set(ids)
    assert not direct_calls(server, "fake-gpt")
    assert not direct_calls(server, "fake-gemma-it")
    result.stdout.fnmatch_lines(["vision batch * answered *submitted by an earlier run?"])


def test_an_expired_batch_is_reported_and_the_rerun_resubmits_only_the_unanswered(
    project: pytest.Pytester, server: FakeVLMServer
) -> None:
    server.script_batch("expired", answered=2)
    server.script_batch("cancelled", answered=0)
    result, doc = run(project)
    results = by_item(doc)
    expired = next(b for b in server.batches if b.final == "expired")
    cancelled = next(b for b in server.batches if b.final == "cancelled")
    errors = [r for r in doc["results"] if r["outcome"] == "error"]
    assert len(errors) == (N - 2) + N
    assert all("before answering" in r["reason"] for r in errors)
    assert any(expired.id in r["reason"] and "expired" in r["reason"] for r in errors)
    assert any(cancelled.id in r["reason"] and "cancelled" in r["reason"] for r in errors)
    assert sum(r["outcome"] == "passed" for r in results.values()) == N + 2

    result, doc = run(project)
    result.assert_outcomes(passed=N * len(MODELS))
    resubmitted = sorted(len(b.requests) for b in server.batches[2:])
    assert resubmitted == [N - 2, N]


def test_judge_calls_run_directly_after_the_batch(
    pytester: pytest.Pytester, server: FakeVLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(pytester.path, server, judged=True)
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-test-batch-123456")
    monkeypatch.setenv("FAKE_GEMINI_KEY", "gm-test-batch-456789")
    result, doc = run(pytester)
    result.assert_outcomes(passed=(N + 1) * len(MODELS))
    assert all(len(b.requests) == N + 1 for b in server.batches)
    # The three judged answers are the same "yes": one judge request, made directly (the
    # others replay it), and no batch carries a judge request.
    assert [r.prompt for r in direct_calls(server, "fake-gpt")] == [
        r.prompt for r in direct_calls(server) if "against the rubric" in r.prompt
    ]
    assert len(direct_calls(server, "fake-gpt")) == 1
    assert not any("rubric" in r.prompt for b in server.batches for r in b.requests)
    judged = [r for r in doc["results"] if r["case_id"] == "judged"]
    assert all(r["judge_cost_usd"] is not None for r in judged)


def test_options_are_checked(project: pytest.Pytester) -> None:
    result = project.runpytest("--vision-batch", "--vision-record", "all")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--vision-batch*record all never replays*"])
    result = project.runpytest("--vision-batch", "--vision-batch-size", "0")
    result.stderr.fnmatch_lines(["*--vision-batch-size must be >= 1*"])


def test_the_ini_switch_and_the_size_option(
    project: pytest.Pytester, server: FakeVLMServer
) -> None:
    ini = project.path / "pytest.ini"
    ini.write_text(ini.read_text() + "vision_batch = true\n")
    result = project.runpytest(
        "--vision-cache-dir", "cache", "--vision-batch-poll", "0.05", "--vision-batch-size", "4"
    )
    result.assert_outcomes(passed=N * len(MODELS))
    # 6 requests per model in batches of at most 4.
    assert sorted((b.model, len(b.requests)) for b in server.batches) == [
        ("fake-gemma-it", 2),
        ("fake-gemma-it", 4),
        ("fake-gpt", 2),
        ("fake-gpt", 4),
    ]
    assert not direct_calls(server, "fake-gpt")


# -- kill -9 while polling ----------------------------------------------------------------------
def _state_files(root: Path) -> list[Path]:
    return [p for p in (root / "cache" / STATE_DIRNAME).glob("*/*.json")]


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["no-xdist", "n2"])
def test_kill_9_while_polling_then_a_rerun_collects_without_submitting(
    tmp_path: Path, workers: list[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env.update(FAKE_OPENAI_KEY="sk-test-batch-123456", FAKE_GEMINI_KEY="gm-test-batch-456789")
    cmd = [
        sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *BATCH_ARGS, *workers,
    ]  # fmt: skip
    with FakeVLMServer(answer=answer, batch_delay=600.0) as server:
        write_project(tmp_path, server)
        proc = subprocess.Popen(
            cmd,
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its xdist workers die with it
        )
        try:
            deadline = time.monotonic() + 90
            while len(_state_files(tmp_path)) < 2:
                assert proc.poll() is None, proc.communicate()[0].decode()
                assert time.monotonic() < deadline, "no batches recorded within 90 s"
                time.sleep(0.05)
            time.sleep(0.3)  # polling by now
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        ids = sorted(b.id for b in server.batches)
        assert len(ids) == 2
        recorded = sorted(json.loads(p.read_text())["id"] for p in _state_files(tmp_path))
        assert recorded == ids

        server.batch_delay = 0.0  # a regression (a new batch) fails fast
        for b in server.batches:
            b.delay = 0.0
        rerun = subprocess.run(
            [*cmd, "--vision-json", "out.json"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert rerun.returncode == 0, rerun.stdout + rerun.stderr
        assert f"{N * len(MODELS)} passed" in rerun.stdout
        assert sorted(b.id for b in server.batches) == ids  # no new batch
        assert not [r for r in server.model_calls if r.model != "local-vlm"]
        doc = json.loads((tmp_path / "out.json").read_text())
        got = {r["batch_id"] for r in doc["results"] if r["model"] in BATCH_MODELS}
        assert got == set(ids)


# -- the live status line -----------------------------------------------------------------------
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["no-xdist", "n2"])
def test_the_status_line_shows_each_batch_while_polling(
    tmp_path: Path, workers: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_progress import run_on_a_terminal

    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-test-batch-123456")
    monkeypatch.setenv("FAKE_GEMINI_KEY", "gm-test-batch-456789")
    with FakeVLMServer(answer=answer, batch_delay=2.5) as server:
        write_project(tmp_path, server)
        code, out = run_on_a_terminal(tmp_path, *BATCH_ARGS, *workers)
        assert code == 0, out
        assert f"{N * len(MODELS)} passed" in out
        ids = {b.model: b.id for b in server.batches}
        assert "[vision batches: " in out
        assert f"fake-gpt {ids['fake-gpt']} in_progress " in out
        assert f"fake-gemma {ids['fake-gemma-it']} JOB_STATE_RUNNING {N} requests" in out
        # Erased before pytest reports the first item.
        last = out.rindex("[vision batches: ")
        assert out.index("\x1b8\x1b[K", last) < out.index("[100%]")
