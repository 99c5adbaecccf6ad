"""End to end: real SDKs over real HTTP to a fake server, through collection and scoring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from pytest_visionevals.testing.fake_server import FakeVLMServer, RecordedRequest

if TYPE_CHECKING:
    from collections.abc import Iterator

SUITE = """\
category: Object Counting
task: vqa
cases:
  - id: bottles
    image: ../img/shelf.png
    prompt: How many bottles are on the shelf?
    expect: {count: 27}
  - id: crate
    task: detection
    category: Defect Detection
    image: ../img/shelf.png
    prompt: Locate the crate.
    expect: {box: {box: [100, 50, 300, 150], min_iou: 0.5}}
  - id: sign
    task: ocr
    category: Document Understanding
    image: ../img/shelf.png
    prompt: Read the sign.
    expect: {ocr: {text: "OPEN 24 HOURS", max_cer: 0.1}}
"""

CATALOG = """\
models:
  fake-gpt:
    provider: openai
    model_id: fake-gpt
    box_format: xyxy_px
    pricing: {input: 1.75, cached_input: 0.175, output: 14.0}
    api_key_env: FAKE_OPENAI_KEY
    base_url: "{openai}"
    max_attempts: 2
  fake-gemma:
    provider: google
    model_id: fake-gemma-it
    box_format: yxyx_1000
    pricing: {input: 0.06, output: 0.33}
    api_key_env: FAKE_GEMINI_KEY
    base_url: "{base}"
    max_attempts: 2
  fake-local:
    provider: openai-compatible
    model_id: local-vlm
    base_url: "{openai}"
    max_attempts: 2
"""


def answer(req: RecordedRequest) -> str:
    """A scripted model: right on bottles and the crate, wrong on the sign."""
    if "bottles" in req.prompt:
        return "There are 27 bottles."
    if "crate" in req.prompt:
        if "box_2d" in req.prompt:  # asked for Gemini's format
            # [ymin, xmin, ymax, xmax] / 1000 of a 400x200 image = x 100..300, y 50..150
            return '```json\n[{"box_2d": [250, 250, 750, 750], "label": "crate"}]\n```'
        return '[{"bbox": [100, 50, 300, 150], "label": "crate"}]'
    return "CLOSED"


@pytest.fixture
def server() -> Iterator[FakeVLMServer]:
    with FakeVLMServer(answer=answer) as srv:
        yield srv


@pytest.fixture
def project(
    pytester: pytest.Pytester, server: FakeVLMServer, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    pytester.makeini("[pytest]\nvision_models = fake-gpt,fake-gemma,fake-local\n")
    (pytester.path / "img").mkdir()
    Image.new("RGB", (400, 200), "white").save(pytester.path / "img" / "shelf.png")
    (pytester.path / "evals").mkdir()
    (pytester.path / "evals" / "suite.yaml").write_text(SUITE)
    (pytester.path / "visionevals.models.yaml").write_text(
        CATALOG.replace("{openai}", server.openai_base_url).replace("{base}", server.base_url)
    )
    monkeypatch.setenv("FAKE_OPENAI_KEY", "sk-test-secret-123")
    monkeypatch.setenv("FAKE_GEMINI_KEY", "gm-test-secret-456")
    return pytester


def outcomes(path: Path) -> dict[str, str]:
    doc = json.loads(path.read_text())
    return {f"{r['case_id']}[{r['model']}]": r["outcome"] for r in doc["results"]}


def test_every_case_for_every_model(
    project: pytest.Pytester, server: FakeVLMServer, xdist_args: list[str]
) -> None:
    result = project.runpytest(
        "--vision-json", "out.json", "--vision-cache-dir", "cache", *xdist_args
    )
    got = outcomes(project.path / "out.json")
    assert got == {
        f"{case}[{model}]": outcome
        for model in ("fake-gpt", "fake-gemma", "fake-local")
        for case, outcome in (("bottles", "passed"), ("crate", "passed"), ("sign", "failed"))
    }
    result.assert_outcomes(passed=6, failed=3)
    assert server.request_count == 9
    gemma = [r for r in server.requests if r.api == "gemini"]
    assert len(gemma) == 3
    assert all(r.images == 1 for r in gemma)
    crate_prompt = next(r.prompt for r in gemma if "crate" in r.prompt)
    assert "box_2d" in crate_prompt
    assert "0-1000" in crate_prompt
    gpt = next(r.prompt for r in server.requests if r.api == "responses" and "crate" in r.prompt)
    assert "400x200" in gpt  # pixel format hint names the size of the image as sent
    # The failure shows what was expected and what the model said.
    result.stdout.fnmatch_lines(["*sign*fake-gpt*", "*CLOSED*"])
    # Keys never leak into reports.
    text = (project.path / "out.json").read_text()
    assert "sk-test-secret-123" not in text
    assert "gm-test-secret-456" not in text


def test_replay_makes_no_calls(project: pytest.Pytester, server: FakeVLMServer) -> None:
    project.runpytest("--vision-cache-dir", "cache")
    first = server.request_count
    assert first == 9
    result = project.runpytest(
        "--vision-cache-dir", "cache", "--vision-record", "none", "--vision-json", "again.json"
    )
    result.assert_outcomes(passed=6, failed=3)
    assert server.request_count == first
    doc = json.loads((project.path / "again.json").read_text())
    assert all(r["replayed"] for r in doc["results"])


def test_missing_key_skips_naming_the_variable(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAKE_OPENAI_KEY")
    result = project.runpytest("-rs", "--vision-models", "fake-gpt", "--vision-cache-dir", "c")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(["*set the environment variable FAKE_OPENAI_KEY*"])


def test_server_errors_are_errors_not_failures(
    project: pytest.Pytester, server: FakeVLMServer
) -> None:
    server.add_fault("500", times=2)  # both attempts of the first call
    result = project.runpytest(
        "--vision-models",
        "fake-local",
        "--vision-concurrency",
        "1",
        "--vision-cache-dir",
        "c",
        "--vision-json",
        "o.json",
        "-p",
        "no:randomly",
    )
    got = outcomes(project.path / "o.json")
    assert got["bottles[fake-local]"] == "error"
    result.assert_outcomes(passed=1, failed=1, errors=1)
    result.stdout.fnmatch_lines(["*bottles*fake-local*produced no answer*500*"])


CUSTOM_CONFTEST = '''
from typing import ClassVar

from pytest_visionevals.assertions import AnswerContext, Assertion, Verdict


class Shouty(Assertion):
    """Passes when the answer is written in capitals."""

    type_name: ClassVar[str] = "shouty"
    min_letters: int = 1

    def check(self, ctx: AnswerContext) -> Verdict:
        letters = [c for c in ctx.text if c.isalpha()]
        ok = len(letters) >= self.min_letters and all(c.isupper() for c in letters)
        return Verdict(ok, float(ok), f"expected capitals, got {ctx.text!r}")


def pytest_visionevals_register_assertions(registry):
    registry.register(Shouty)
'''


def test_custom_assertion_registered_by_hook(
    project: pytest.Pytester, xdist_args: list[str]
) -> None:
    project.makeconftest(CUSTOM_CONFTEST)
    (project.path / "evals" / "suite.yaml").write_text(
        SUITE.replace(
            'expect: {ocr: {text: "OPEN 24 HOURS", max_cer: 0.1}}',
            "expect: {shouty: {min_letters: 3}}",
        ).replace("expect: {count: 27}", "expect: {all: [{count: 27}, {shouty: {}}]}")
    )
    result = project.runpytest(
        "--vision-models",
        "fake-local",
        "--vision-cache-dir",
        "c",
        "--vision-json",
        "o.json",
        *xdist_args,
    )
    got = outcomes(project.path / "o.json")
    # "CLOSED" is in capitals; "There are 27 bottles." is not.
    assert got == {
        "bottles[fake-local]": "failed",
        "crate[fake-local]": "passed",
        "sign[fake-local]": "passed",
    }
    result.stdout.fnmatch_lines(["*shouty: expected capitals, got 'There are 27 bottles.'*"])


BROKEN_CONFTEST = """
from typing import ClassVar

from pytest_visionevals.assertions import Assertion


class Broken(Assertion):
    type_name: ClassVar[str] = "broken"

    def check(self, ctx):
        return None  # not a Verdict: the plugin must not report this as a skip
"""


def test_a_crash_while_scoring_is_an_error_not_a_skip(project: pytest.Pytester) -> None:
    project.makeconftest(
        BROKEN_CONFTEST + "\n\ndef pytest_visionevals_register_assertions(registry):\n"
        "    registry.register(Broken)\n"
    )
    (project.path / "evals" / "suite.yaml").write_text(
        SUITE.replace("expect: {count: 27}", "expect: {broken: {}}")
    )
    result = project.runpytest(
        "--vision-models", "fake-local", "--vision-cache-dir", "c", "--vision-json", "o.json"
    )
    doc = json.loads((project.path / "o.json").read_text())
    bottles = next(r for r in doc["results"] if r["case_id"] == "bottles")
    assert bottles["outcome"] == "error"
    assert bottles["reason"].startswith("internal error: AttributeError")
    result.assert_outcomes(passed=1, failed=2)


REPO = Path(__file__).resolve().parent.parent


def test_builtin_suite_runs_end_to_end_against_sdk_base_urls(tmp_path: Path) -> None:
    """The issue's acceptance run: the SDKs' own base-URL variables and dummy keys."""
    import os
    import subprocess
    import sys

    judge_reply = '{"score": 0.2, "reason": "does not describe the scene"}'
    with FakeVLMServer(
        answer={"You are grading an answer": judge_reply}, default_answer="I am not sure."
    ) as srv:
        env = {
            **os.environ,
            "OPENAI_BASE_URL": srv.openai_base_url,
            "GOOGLE_GEMINI_BASE_URL": srv.base_url,
            "OPENAI_API_KEY": "sk-dummy-e2e",
            "GEMINI_API_KEY": "gm-dummy-e2e",
        }
        env.pop("PYTEST_ADDOPTS", None)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "evals",
                "-q",
                "-p",
                "no:cacheprovider",
                "--vision-models",
                "gpt-5.2,gemma-4-26b-a4b",
                "--vision-cache-dir",
                str(tmp_path / "cache"),
                "--vision-jsonl",
                str(tmp_path / "run.jsonl"),
                "--vision-json",
                str(tmp_path / "out.json"),
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        doc = json.loads((tmp_path / "out.json").read_text())
        results = doc["results"]
        by_model = {
            m: [r for r in results if r["model"] == m] for m in ("gpt-5.2", "gemma-4-26b-a4b")
        }
        assert {m: len(rs) for m, rs in by_model.items()} == {"gpt-5.2": 89, "gemma-4-26b-a4b": 89}
        # Every case of both models was answered and scored: no error, no skip.
        assert {r["outcome"] for r in results} <= {"passed", "failed"}, proc.stdout[-3000:]
        apis = {r.api for r in srv.requests}
        assert apis == {"responses", "gemini"}
        # gpt-5.2 answers 89 cases and judges the 2 captioning cases of both models; both
        # models gave the same answer, so the second judge request is a content-addressed
        # cache hit, not a new call.
        assert srv.count(path="/v1/responses") == 89 + 2
        judged = [r for r in results if r["judge_cost_usd"] is not None]
        assert len(judged) == 4
        assert srv.count(path=":generateContent") == 89
        assert all(r["input_tokens"] == 120 and r["cost_usd"] is not None for r in results)
