"""Judge calls go through the engine: the run's timeout and attempts, concurrency, cache."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from pytest_visionevals.testing.fake_server import FakeVLMServer

if TYPE_CHECKING:
    from collections.abc import Iterator

CATALOG = """\
models:
  local:
    provider: openai-compatible
    model_id: local-vlm
    base_url: "{model_url}"
    pricing: {{input: 1.0, output: 1.0}}
  judge:
    provider: openai-compatible
    model_id: judge-vlm
    base_url: "{judge_url}"
    pricing: {{input: 1.0, output: 1.0}}
    timeout_s: 300
    max_attempts: 4
"""
JUDGE_REPLY = '{"score": 0.9, "reason": "describes the scene"}'


@pytest.fixture
def model_server() -> Iterator[FakeVLMServer]:
    with FakeVLMServer(default_answer="A red square on a white table.") as srv:
        yield srv


def make_project(
    pytester: pytest.Pytester, model: FakeVLMServer, judge: FakeVLMServer, n: int
) -> None:
    pytester.makeini("[pytest]\nvision_models = local\nvision_judge_model = judge\n")
    Image.new("RGB", (8, 8), "red").save(pytester.path / "img.png")
    (pytester.path / "evals").mkdir()
    lines = ["category: Captions", "task: captioning", "cases:"]
    for i in range(n):
        lines += [
            f"  - id: cap{i:02d}",
            "    image: ../img.png",
            f"    prompt: Describe picture {i:02d}.",
            "    expect: {judge: {rubric: 'Mentions a red square.'}}",
        ]
    (pytester.path / "evals" / "captions.yaml").write_text("\n".join(lines) + "\n")
    (pytester.path / "visionevals.models.yaml").write_text(
        CATALOG.format(model_url=model.openai_base_url, judge_url=judge.openai_base_url)
    )


def results(pytester: pytest.Pytester) -> list[dict[str, object]]:
    doc = json.loads((pytester.path / "out.json").read_text())
    out: list[dict[str, object]] = doc["results"]
    return out


def test_judge_calls_obey_the_run_timeout_and_attempts(
    pytester: pytest.Pytester, model_server: FakeVLMServer, xdist_args: list[str]
) -> None:
    # The judge hangs for 5 minutes; the catalog would allow 4 attempts of 300 s each.
    with FakeVLMServer(answer=JUDGE_REPLY, latency=300, hang_s=300) as judge:
        make_project(pytester, model_server, judge, 2)
        result = pytester.runpytest_subprocess(
            *xdist_args,
            "-p",
            "no:cacheprovider",
            "--vision-cache-dir",
            "cache",
            "--vision-timeout",
            "0.5",
            "--vision-attempts",
            "1",
            "--vision-json",
            "out.json",
            timeout=120,
        )
        assert judge.request_count == 2  # one attempt per judged item
    res = results(pytester)
    assert [r["outcome"] for r in res] == ["error", "error"]
    for r in res:
        assert "timeout after 0.5 s" in str(r["reason"]), r["reason"]
    result.stdout.fnmatch_lines(["*judge*timeout after 0.5 s*"])


def test_judge_calls_run_concurrently_and_replay_from_the_cache(
    pytester: pytest.Pytester, model_server: FakeVLMServer
) -> None:
    with FakeVLMServer(answer=JUDGE_REPLY, latency=0.5) as judge:
        make_project(pytester, model_server, judge, 8)
        args = ["-p", "no:cacheprovider", "--vision-cache-dir", "cache"]
        result = pytester.runpytest(*args, "--vision-concurrency", "8", "--vision-json", "out.json")
        result.assert_outcomes(passed=8)
        assert judge.request_count == 8
        # Started as soon as each answer arrived, side by side (one at a time before).
        assert judge.peak_in_flight >= 3
        assert all(r["judge_cost_usd"] is not None for r in results(pytester))

        judge.clear()
        model_server.clear()
        again = pytester.runpytest(*args, "--vision-record", "none")
        again.assert_outcomes(passed=8)
        assert judge.request_count == 0
        assert model_server.request_count == 0


def test_judge_calls_count_against_the_budget(
    pytester: pytest.Pytester, model_server: FakeVLMServer
) -> None:
    with FakeVLMServer(answer=JUDGE_REPLY) as judge:
        make_project(pytester, model_server, judge, 6)
        # Each call costs 140 tokens x $1/1M = $0.00014: the budget admits about 2 items
        # with their judge calls, not 6.
        result = pytester.runpytest(
            "-p",
            "no:cacheprovider",
            "--vision-cache-dir",
            "cache",
            "--vision-concurrency",
            "1",
            "--vision-max-cost",
            "0.0005",
        )
        assert model_server.request_count + judge.request_count < 12
        assert result.ret != 0


# Records which models' providers the engine warms up (in each process of the run).
WARM_PROBE = """
from pathlib import Path
from pytest_visionevals.engine import Engine

_warm_up = Engine.warm_up

def _probe(self, spec):
    with open(Path(__file__).parent / "warmed.txt", "a") as fh:
        fh.write(spec.name + "\\n")
    return _warm_up(self, spec)

Engine.warm_up = _probe
"""


def test_the_judge_model_is_warmed_up_with_the_models(
    pytester: pytest.Pytester, model_server: FakeVLMServer, xdist_args: list[str]
) -> None:
    # Its client is built during collection, not on the first judge call's critical path.
    with FakeVLMServer(answer=JUDGE_REPLY) as judge:
        make_project(pytester, model_server, judge, 2)
        pytester.makeconftest(WARM_PROBE)
        result = pytester.runpytest_subprocess(
            *xdist_args, "-p", "no:cacheprovider", "--vision-cache-dir", "cache", timeout=120
        )
        result.assert_outcomes(passed=2)
    assert set((pytester.path / "warmed.txt").read_text().split()) == {"local", "judge"}
