"""The reporting hooks through real pytest runs: same scorecard with and without xdist."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from pytest_visionevals.testing.fake_server import FakeVLMServer

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from syrupy.assertion import SnapshotAssertion

COUNTING = """\
category: Object Counting
task: vqa
cases:
  - id: bottles
    image: ../img/a.png
    prompt: How many bottles?
    expect: {count: 3}
  - id: cans
    image: ../img/a.png
    prompt: How many cans?
    expect: {count: 5}
  - id: crates
    image: ../img/a.png
    prompt: How many crates?
    expect: {count: 2}
"""
DOCS = """\
category: Document Understanding
task: ocr
cases:
  - id: label
    image: ../img/a.png
    prompt: Read the label.
    expect: {contains: "ACME"}
"""
CATALOG = """\
models:
  local-a:
    provider: openai-compatible
    model_id: a
    base_url: "{url}"
    pricing: {input: 1.0, output: 2.0}
    facts: {organization: Acme Labs, weights: open, license: MIT, context_window: 32768}
  local-b:
    provider: openai-compatible
    model_id: b
    base_url: "{url}"
    tasks: [vqa]
  local-nokey:
    provider: openai-compatible
    model_id: c
    base_url: "{url}"
    api_key_env: VISIONEVALS_TEST_MISSING_KEY
"""
MODELS = "local-a,local-b,local-nokey"
# Per-run values: wall-clock latencies and timestamps.
VOLATILE = {"latency_s", "total_time_s", "created_at", "p50", "p95", "avg"}


@pytest.fixture
def server() -> Iterator[FakeVLMServer]:
    with FakeVLMServer(
        answer={"bottles": "3", "cans": "4", "crates": "2", "label": "ACME corp"}
    ) as srv:
        yield srv


@pytest.fixture
def project(
    pytester: pytest.Pytester, server: FakeVLMServer, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    monkeypatch.delenv("VISIONEVALS_TEST_MISSING_KEY", raising=False)
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    pytester.makeini(f"[pytest]\nvision_models = {MODELS}\n")
    (pytester.path / "img").mkdir()
    Image.new("RGB", (64, 48), "red").save(pytester.path / "img" / "a.png")
    (pytester.path / "evals").mkdir()
    (pytester.path / "evals" / "counting.yaml").write_text(COUNTING)
    (pytester.path / "evals" / "docs.yaml").write_text(DOCS)
    (pytester.path / "visionevals.models.yaml").write_text(
        CATALOG.replace("{url}", server.openai_base_url)
    )
    return pytester


def stable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    return value


def test_same_scorecard_with_and_without_xdist(
    project: pytest.Pytester, xdist_args: list[str], snapshot: SnapshotAssertion
) -> None:
    out = project.path / "out.json"
    result = project.runpytest("--vision-json", str(out), *xdist_args)
    result.assert_outcomes(passed=5, failed=2, skipped=5)
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == 1
    assert doc["complete"] is True
    assert [r["nodeid"] for r in doc["results"]] == sorted(
        (r["nodeid"] for r in doc["results"]),
        key=lambda n: (n.split("::")[0], n.split("::")[1].split("[")[0], n),
    )
    assert stable(doc["scorecard"]) == snapshot
    # The table is printed once, by the controller.
    assert result.stdout.str().count("= vision scorecard =") == 1


def test_reports_gate_and_step_summary(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    md, page, junit = (project.path / "r.md", project.path / "r.html", project.path / "junit.xml")
    result = project.runpytest(
        "--vision-models",
        "local-a,local-b",
        "--vision-fail-under",
        "0.6",
        "--vision-md",
        str(md),
        "--vision-html",
        str(page),
        f"--junitxml={junit}",
    )
    # Two wrong answers fail two items, but the gate passes: exit status 0.
    assert result.ret == 0, result.stdout.str()
    text = result.stdout.str()
    assert "vision gate: PASSED" in text
    assert "local-a overall 75.0% (3/4) >= 60.0%" in text
    assert "Object Counting" in md.read_text()
    assert "| local-a | Acme Labs | open | MIT | 32,768 |" in md.read_text()
    assert summary.read_text() == md.read_text() + ("" if md.read_text().endswith("\n") else "\n")
    assert "data:image/png;base64," in page.read_text()
    root = ET.parse(junit).getroot()
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["vision_score[local-a]"] == "0.75"
    assert props["vision_cost_usd[local-b]"] == "unknown"
    assert props["vision_gate"] == "passed"

    failing = project.runpytest(
        "--vision-models", "local-a", "--vision-fail-under", "Object Counting=0.7"
    )
    assert failing.ret == 1
    assert "FAIL  local-a Object Counting 66.7% (2/3) < 70.0%" in failing.stdout.str()


def test_junit_per_case_properties(project: pytest.Pytester) -> None:
    junit = project.path / "junit.xml"
    # Per-case properties need junit_family=xunit1 or legacy (pytest's rule).
    project.runpytest(
        "--vision-models", "local-a", f"--junitxml={junit}", "-o", "junit_family=xunit1"
    )
    case = next(
        c for c in ET.parse(junit).getroot().iter("testcase") if c.get("name") == "bottles[local-a]"
    )
    props = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert props["vision_model"] == "local-a"
    assert props["vision_outcome"] == "passed"
    assert props["vision_score"] == "1.0"


def test_unknown_gate_scope_fails_before_any_call(
    project: pytest.Pytester, server: FakeVLMServer
) -> None:
    result = project.runpytest(
        "--vision-models", "local-a", "--vision-fail-under", "Counting=0.5", "-p", "no:xdist"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*unknown scope 'Counting'; known models: *local-a*; "
            "known categories: Document Understanding, Object Counting*"
        ]
    )
    assert server.request_count == 0


def test_unknown_gate_scope_under_xdist_is_a_usage_error_at_the_end(
    project: pytest.Pytester,
) -> None:
    # The xdist controller does not collect, so the scope is checked with the results.
    result = project.runpytest(
        "--vision-models", "local-a", "--vision-fail-under", "Counting=0.5", "-n", "2"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines(["*vision gate: ERROR *unknown scope 'Counting'*"])


def test_bad_gate_value_fails_at_startup(project: pytest.Pytester) -> None:
    result = project.runpytest("--vision-fail-under", "lots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--vision-fail-under: 'lots' is not a number*"])


def test_default_jsonl_and_latest(project: pytest.Pytester) -> None:
    project.runpytest("--vision-models", "local-a")
    runs = project.path / ".visionevals" / "runs"
    streams = sorted(p for p in runs.glob("*.jsonl") if p.name != "latest.jsonl")
    assert len(streams) == 1
    latest = runs / "latest.jsonl"
    assert latest.read_text() == streams[0].read_text()
    kinds = [json.loads(line)["kind"] for line in streams[0].read_text().splitlines()]
    assert kinds == ["header", *(["result"] * 4), "end"]


def test_no_files_without_eval_results(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    assert True\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert not (pytester.path / ".visionevals" / "runs").exists()
    assert "vision scorecard" not in result.stdout.str()


def test_gate_does_not_hide_broken_files_or_other_tests(project: pytest.Pytester) -> None:
    gate = ["--vision-models", "local-a", "--vision-fail-under", "0.5"]
    assert project.runpytest(*gate).ret == 0  # eval failures alone: the gate decides
    project.makepyfile(test_plain="def test_plain():\n    assert False\n")
    assert project.runpytest(*gate).ret == 1  # a failing non-eval test still fails
    (project.path / "test_plain.py").unlink()
    (project.path / "evals" / "broken.yaml").write_text("category: X\ncases: [{id: 1}]\n")
    result = project.runpytest(*gate)
    assert result.ret == 1, result.stdout.str()  # a file that did not collect still fails


def test_repeats_show_pass_at_k_and_flaky_cases(
    project: pytest.Pytester, server: FakeVLMServer
) -> None:
    calls = {"n": 0}

    def answer(req: Any) -> str:
        if "cans" in req.prompt:  # right on the 1st and 3rd call, whatever the order
            calls["n"] += 1
            return "5" if calls["n"] % 2 else "4"
        return {"bottles": "3", "crates": "2"}.get(req.prompt.split()[2].rstrip("?"), "ACME")

    server.answer = answer
    out = project.path / "rep.json"
    result = project.runpytest(
        "--vision-models",
        "local-a",
        "--vision-repeat",
        "3",
        "--vision-record",
        "all",
        "--vision-json",
        str(out),
    )
    rep = json.loads(out.read_text())["scorecard"]["per_model"]["local-a"]["repeats"]
    assert rep["k"] == 3
    assert rep["flaky"] == ["evals/counting.yaml::cans"]
    assert rep["pass_at_k"] == 1.0
    assert rep["pass_pow_k"] == 0.75
    cans = next(c for c in rep["cases"] if c["case_id"] == "cans")
    assert (cans["passed"], cans["answered"]) == (2, 3)
    text = result.stdout.str()
    assert "flaky: local-a evals/counting.yaml::cans (2/3 passed)" in text
    assert "pass^3" in text
