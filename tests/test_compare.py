"""``visionevals compare`` end to end: the real SDKs over HTTP to the fake server.

Three models: ``gpt-5.2`` (OpenAI Responses), ``gemma-4-26b-a4b`` (Gemini API) and
``local`` (an OpenAI-compatible server, from a ``--catalog`` override). The fake server
answers a detection prompt in the format each model was asked for: Gemini's ``box_2d``
``[ymin, xmin, ymax, xmax]`` on a 0-1000 grid, the others pixel ``xyxy`` of the image as
sent (the 4000x2000 image is sent downscaled to 2048x1024), so every box must come back to
the same original-pixel rectangle.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from browser import IMG_ANSWER, SCRIPT_ANSWER, open_page
from PIL import Image

from pytest_visionevals.__main__ import main
from pytest_visionevals.assertions.boxes import BOXES_HINTS, POINT_HINTS
from pytest_visionevals.report.compare_view import terminal_safe
from pytest_visionevals.testing.fake_server import FakeVLMServer, RecordedRequest

if TYPE_CHECKING:
    from collections.abc import Iterator

MODELS = "gpt-5.2,gemma-4-26b-a4b,local"
# Where every model's box lands in the original 4000x2000 image.
CRATE = [1000.0, 500.0, 3000.0, 1500.0]

CATALOG = """\
models:
  local:
    provider: openai-compatible
    model_id: local-vlm
    base_url: "{openai}"
    api_key_env: null
    max_attempts: 1
    timeout_s: 1
  gpt-5.2: {{max_attempts: 1, timeout_s: 1}}
  gemma-4-26b-a4b: {{max_attempts: 1}}
  ollama-gemma3: {{base_url: "{openai}", max_attempts: 1}}
"""


def answer(req: RecordedRequest) -> str:
    """A scripted model that answers in the box format its prompt asked for."""
    if '"point"' in req.prompt:
        if "0-1000" in req.prompt:
            return '{"point": [500, 250]}'  # [y, x] on 0-1000 = (1000, 1000) original
        return '{"point": [512, 512]}'  # pixels of the 2048x1024 image sent
    if "box_2d" in req.prompt:
        return '```json\n[{"box_2d": [250, 250, 750, 750], "label": "crate"}]\n```'
    if "bbox" in req.prompt:
        assert "2048x1024 image" in req.prompt  # the size of the image as sent
        boxes = '[{"bbox": [512, 256, 1536, 768], "label": "crate"}]'
        if req.api == "chat":
            return f"{IMG_ANSWER} {boxes} \x1b[31m{SCRIPT_ANSWER}"
        return boxes
    if req.api == "chat":
        return f"{SCRIPT_ANSWER} it is a crate"
    return "A wooden crate."


@dataclass
class Project:
    path: Path
    server: FakeVLMServer
    catalog: Path

    def compare(self, *args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["compare", *args, "--width", "200"])
        return code, out.getvalue(), err.getvalue()

    def detect(self, *args: str) -> tuple[int, str, str]:
        return self.compare(
            "shelf.png",
            "--prompt",
            "Find the crate.",
            "--task",
            "detection",
            "--catalog",
            str(self.catalog),
            *args,
        )


@contextlib.contextmanager
def project_in(path: Path, server: FakeVLMServer, mp: pytest.MonkeyPatch) -> Iterator[Project]:
    Image.new("RGB", (4000, 2000), "white").save(path / "shelf.png")
    catalog = path / "catalog.yaml"
    catalog.write_text(CATALOG.format(openai=server.openai_base_url))
    mp.chdir(path)
    mp.setenv("OPENAI_BASE_URL", server.openai_base_url)
    mp.setenv("GOOGLE_GEMINI_BASE_URL", server.base_url)
    mp.setenv("OPENAI_API_KEY", "sk-test-compare")
    mp.setenv("GEMINI_API_KEY", "gm-test-compare")
    mp.delenv("GOOGLE_API_KEY", raising=False)
    yield Project(path, server, catalog)


@pytest.fixture
def server() -> Iterator[FakeVLMServer]:
    with FakeVLMServer(answer=answer, hang_s=5) as srv:
        yield srv


@pytest.fixture
def project(
    tmp_path: Path, server: FakeVLMServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    with project_in(tmp_path, server, monkeypatch) as p:
        yield p


# -- one detection run, shared by the checks below -------------------------------------------
@dataclass
class DetectionRun:
    code: int
    out: str
    err: str
    doc: dict[str, Any]
    html: Path
    requests: list[RecordedRequest]


@pytest.fixture(scope="module")
def detection(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DetectionRun]:
    path = tmp_path_factory.mktemp("compare")
    with (
        FakeVLMServer(answer=answer) as srv,
        pytest.MonkeyPatch.context() as mp,
        project_in(path, srv, mp) as p,
    ):
        code, out, err = p.detect("--models", MODELS, "--json", "out.json", "--html", "out.html")
        yield DetectionRun(
            code,
            out,
            err,
            json.loads((path / "out.json").read_text()),
            path / "out.html",
            srv.requests,
        )


def by_model(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["model"]: a for a in doc["answers"]}


def test_every_model_is_asked_in_its_own_box_format(detection: DetectionRun) -> None:
    assert detection.code == 0, detection.err
    assert sorted(r.api or "" for r in detection.requests) == ["chat", "gemini", "responses"]
    prompts = {r.api: r.prompt for r in detection.requests}
    size = ("{width}", "2048"), ("{height}", "1024")
    pixel_hint = BOXES_HINTS["xyxy_px"].replace(*size[0]).replace(*size[1])
    # The boxes assertion's own words, not a second copy of them.
    assert prompts["gemini"] == "Find the crate.\n\n" + BOXES_HINTS["yxyx_1000"]
    assert prompts["responses"] == "Find the crate.\n\n" + pixel_hint
    assert prompts["chat"] == "Find the crate.\n\n" + pixel_hint
    assert all(r.images == 1 for r in detection.requests)


def test_boxes_come_back_in_original_pixels(detection: DetectionRun) -> None:
    answers = by_model(detection.doc)
    assert list(answers) == ["gpt-5.2", "gemma-4-26b-a4b", "local"]
    for name, a in answers.items():
        assert a["status"] == "answered", name
        assert a["boxes"] == [{"box": CRATE, "label": "crate"}], name
    assert answers["gemma-4-26b-a4b"]["box_format"] == "yxyx_1000"
    assert answers["gpt-5.2"]["box_format"] == "xyxy_px"
    assert detection.doc["images"] == [{"path": "shelf.png", "width": 4000, "height": 2000}]
    assert detection.doc["exit_status"] == 0


def test_figures_and_cost(detection: DetectionRun) -> None:
    answers = by_model(detection.doc)
    gpt = answers["gpt-5.2"]
    assert (gpt["input_tokens"], gpt["output_tokens"]) == (120, 20)
    # Priced once by the engine from the catalog: 120 x $1.75 + 20 x $14 per 1M tokens.
    assert gpt["cost_usd"] == pytest.approx((120 * 1.75 + 20 * 14.0) / 1e6)
    assert answers["local"]["cost_usd"] is None  # unpriced: unknown, never $0
    assert gpt["latency_s"] is not None
    assert gpt["replayed"] is False


def test_table_on_stdout(detection: DetectionRun) -> None:
    lines = detection.out.splitlines()
    assert lines[0] == "shelf.png (4000x2000)"
    assert lines[1].split() == [
        "model",
        "status",
        "answer",
        "latency",
        "tokens",
        "in/out",
        "cost",
        "boxes",
    ]
    rows = {line.split()[0]: line for line in lines[3:6]}
    assert set(rows) == {"gpt-5.2", "gemma-4-26b-a4b", "local"}
    for row in rows.values():
        assert " answered " in row
        assert "120 / 20" in row
        assert row.rstrip().endswith(" 1")  # one box each
    assert "unknown" in rows["local"]
    assert "$0 " not in rows["local"]
    assert "$0.0005" in rows["gpt-5.2"]
    # Terminal-safe: one line each, the escape sequence shown, never sent raw.
    assert "\x1b" not in detection.out
    assert "\\x1b[31m" in rows["local"]
    assert "3 answered; 3 call(s) made; exit status 0" in detection.out


@pytest.fixture(scope="module")
def page(detection: DetectionRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with open_page(detection.html.as_uri(), tmp_path_factory.mktemp("chromium-profile")) as pg:
        yield pg


RECTS = (
    "rs => rs.map(r => [r.x.baseVal.value, r.y.baseVal.value, "
    "r.x.baseVal.value + r.width.baseVal.value, r.y.baseVal.value + r.height.baseVal.value])"
)


def shown_groups(page: Any) -> dict[str, str]:
    return dict(
        page.eval_on_selector_all(
            "g.predicted", "gs => gs.map(g => [g.dataset.model, getComputedStyle(g).display])"
        )
    )


def test_page_draws_every_models_boxes(page: Any) -> None:
    assert page.errors == []
    assert page.get_attribute("section.case svg", "viewBox") == "0 0 4000 2000"
    for model in ("gpt-5.2", "gemma-4-26b-a4b", "local"):
        rects = page.eval_on_selector_all(f'g.predicted[data-model="{model}"] rect', RECTS)
        assert rects == [CRATE], model
    colours = page.eval_on_selector_all(
        "g.predicted rect", "rs => rs.map(r => r.getAttribute('stroke'))"
    )
    assert len(set(colours)) == 3  # one colour per model
    answers = page.eval_on_selector_all(".answer", "els => els.map(e => e.dataset.model)")
    assert answers == ["gpt-5.2", "gemma-4-26b-a4b", "local"]
    assert page.locator("#compare-models tbody tr").count() == 3


def test_page_toggles_hide_and_show_a_models_boxes(page: Any) -> None:
    assert set(shown_groups(page).values()) == {"inline"}
    page.uncheck('input.f-model[value="gemma-4-26b-a4b"]')
    assert shown_groups(page) == {"gpt-5.2": "inline", "gemma-4-26b-a4b": "none", "local": "inline"}
    hidden = page.eval_on_selector_all(
        ".answer", "els => els.filter(e => e.hidden).map(e => e.dataset.model)"
    )
    assert hidden == ["gemma-4-26b-a4b"]
    page.check('input.f-model[value="gemma-4-26b-a4b"]')
    assert set(shown_groups(page).values()) == {"inline"}
    assert page.eval_on_selector_all(".answer", "els => els.filter(e => e.hidden).length") == 0


def test_page_keeps_untrusted_answers_inert(page: Any) -> None:
    assert page.evaluate("typeof window.pwned") == "undefined"
    local = page.text_content('.answer[data-model="local"] pre.model-answer')
    assert IMG_ANSWER in local
    assert SCRIPT_ANSWER in local
    assert page.eval_on_selector_all(".answers script, .answers img", "els => els.length") == 0
    page.uncheck('input.f-model[value="local"]')
    page.check('input.f-model[value="local"]')
    assert page.evaluate("typeof window.pwned") == "undefined"


# -- credentials, errors, the cache -------------------------------------------------------------
def test_missing_credentials_skip_that_model_only(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    code, out, _err = project.detect("--models", f"{MODELS},rapidocr", "--json", "out.json")
    answers = by_model(json.loads(Path("out.json").read_text()))
    assert answers["gpt-5.2"]["status"] == "skipped"
    assert answers["gpt-5.2"]["skip_kind"] == "credentials"
    assert "set the environment variable OPENAI_API_KEY" in answers["gpt-5.2"]["reason"]
    assert answers["rapidocr"]["status"] == "skipped"
    assert answers["rapidocr"]["reason"] == "not supported: rapidocr does not do detection"
    assert answers["gemma-4-26b-a4b"]["status"] == answers["local"]["status"] == "answered"
    assert project.server.count(path="/responses") == 0
    row = next(line for line in out.splitlines() if line.startswith("gpt-5.2"))
    assert " skipped " in row
    assert "OPENAI_API_KEY" in row
    assert code == 1


def test_default_models_are_those_with_credentials(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    code, out, _err = project.compare(
        "shelf.png", "--prompt", "What is this?", "--catalog", str(project.catalog)
    )
    served = sorted({r.model for r in project.server.requests})
    # Every Gemini-API model (GEMINI_API_KEY is set) and the local servers with a base_url.
    assert served == [
        "gemini-3-flash-preview",
        "gemma-3-27b-it",
        "gemma-4-26b-a4b-it",
        "gemma-4-31b-it",
        "gemma3:4b",
        "local-vlm",
    ]
    assert "not run: no credentials for gpt-5.2: set the environment variable OPENAI_API_KEY" in out
    assert "not run: no credentials for gpt-5-mini" in out
    assert "rapidocr" not in out  # it does OCR only
    assert code == 0


def test_no_model_with_credentials(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("OPENAI_API_KEY", "GEMINI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(var)
    catalog = Path("only-keys.yaml")
    catalog.write_text("models:\n  ollama-gemma3: {tasks: [ocr]}\n")
    code, _out, err = project.compare(
        "shelf.png", "--prompt", "What is this?", "--task", "vqa", "--catalog", str(catalog)
    )
    assert code == 1
    assert "no model to compare" in err
    assert "set the environment variable OPENAI_API_KEY" in err
    assert project.server.request_count == 0


def test_a_models_error_never_stops_the_others(project: Project) -> None:
    project.server.add_fault("500", model="gemma-4-26b-a4b-it")
    project.server.add_fault("hang", model="local-vlm")
    project.server.add_fault("malformed", model="gpt-5.2")
    project.compare(
        *("shelf.png", "--prompt", "What is this?", "--models", MODELS, "--json", "a.json"),
        *("--catalog", str(project.catalog)),
    )
    first = by_model(json.loads(Path("a.json").read_text()))
    assert {m: a["status"] for m, a in first.items()} == dict.fromkeys(first, "error")
    assert "500" in first["gemma-4-26b-a4b"]["reason"]
    assert "timeout" in first["local"]["reason"]
    assert "malformed" in first["gpt-5.2"]["reason"]

    project.server.add_fault("500", model="gemma-4-26b-a4b-it")
    code, out, _err = project.compare(
        *("shelf.png", "--prompt", "What is this?", "--models", MODELS, "--json", "b.json"),
        *("--catalog", str(project.catalog)),
    )
    second = by_model(json.loads(Path("b.json").read_text()))
    assert second["gemma-4-26b-a4b"]["status"] == "error"
    assert second["gpt-5.2"]["answer"] == "A wooden crate."
    assert second["local"]["status"] == "answered"
    row = next(line for line in out.splitlines() if line.startswith("gemma-4-26b-a4b"))
    assert " error " in row
    assert "500" in row
    assert code == 1


def test_second_run_replays_from_the_cache(project: Project) -> None:
    code, _out, _err = project.detect("--models", MODELS, "--json", "1.json")
    assert code == 0
    assert project.server.request_count == 3
    code, out, _err = project.detect("--models", MODELS, "--json", "2.json")
    assert code == 0
    assert project.server.request_count == 3  # no new request
    first = by_model(json.loads(Path("1.json").read_text()))
    second = by_model(json.loads(Path("2.json").read_text()))
    assert all(a["replayed"] for a in second.values())
    assert {m: a["boxes"] for m, a in second.items()} == {m: a["boxes"] for m, a in first.items()}
    assert "0 call(s) made" in out
    assert "replayed from the response cache" in out
    # A new question about the same image is a new request, not a conflicting one.
    code, _out, _err = project.compare(
        *("shelf.png", "--prompt", "Find the crate!", "--task", "detection"),
        *("--models", MODELS, "--catalog", str(project.catalog)),
    )
    assert code == 0
    assert project.server.request_count == 6


def test_record_none_and_rate_limit_options(project: Project) -> None:
    code, out, _err = project.detect("--models", "gpt-5.2", "--record", "none")
    assert code == 1
    assert "no recorded answer" in out
    assert "record mode 'none'" in out
    assert project.server.request_count == 0
    code, _out, _err = project.detect(
        "--models", "gpt-5.2", "--rate-limit", "gpt-5.2=600", "--max-cost", "1"
    )
    assert code == 0
    assert project.server.request_count == 1


def test_point_task(project: Project) -> None:
    code, _out, err = project.compare(
        *("shelf.png", "--prompt", "Point at the crate.", "--task", "point"),
        *("--models", "gpt-5.2,gemma-4-26b-a4b", "--catalog", str(project.catalog)),
        *("--json", "p.json", "--html", "p.html"),
    )
    assert code == 0, err
    prompts = {r.api: r.prompt for r in project.server.requests}
    assert prompts["gemini"].endswith(POINT_HINTS["yxyx_1000"])
    answers = by_model(json.loads(Path("p.json").read_text()))
    assert answers["gemma-4-26b-a4b"]["points"] == [[1000.0, 1000.0]]
    assert answers["gpt-5.2"]["points"] == [[1000.0, 1000.0]]
    assert answers["gpt-5.2"]["boxes"] is None
    assert Path("p.html").read_text().count('<circle cx="1000.0" cy="1000.0"') == 2


# -- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.png", "--prompt", "x"], "image 'missing.png'"),
        (["shelf.png", "--prompt", "x", "--models", "gpt-5.2,nope"], "unknown model(s) nope"),
        (
            ["shelf.png", "--prompt", "x", "--expect", "{boxes: [[10, 20, 5, 40]]}"],
            "--expect: expect.boxes[0].box: Value error",
        ),
        (["shelf.png", "--prompt", "x", "--expect", "{cuont: 3}"], "unknown assertion type"),
        (["shelf.png", "--prompt", "x", "--expect", "{count: [3"], "--expect: invalid YAML"),
        (["shelf.png", "--prompt", "x", "--save", "evals/x.yaml"], "--save needs --expect"),
        (["shelf.png", "--prompt", "x", "--rate-limit", "gpt-5.2"], "--rate-limit 'gpt-5.2'"),
        (["shelf.png", "--prompt", "x", "--rate-limit", "nope=5"], "--rate-limit: unknown model"),
        (["shelf.png", "--prompt", "x", "--concurrency", "0"], "--concurrency must be >= 1"),
        (["shelf.png", "--prompt", "x", "--catalog", "nope.yaml"], "--catalog: no such file"),
    ],
)
def test_bad_input_exits_2(project: Project, args: list[str], message: str) -> None:
    code, _out, err = project.compare(*args)
    assert code == 2
    assert message in err
    assert project.server.request_count == 0


def test_command_line_entry_point(project: Project) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest_visionevals", "compare", "nope.png", "--prompt", "x"],
        capture_output=True,
        text=True,
        env=os.environ,
        check=False,
    )
    assert done.returncode == 2
    assert "visionevals compare: image 'nope.png'" in done.stderr


def test_terminal_safe() -> None:
    text = "line one\nline\ttwo \x1b[2J\x07 \u202eevil\u2028end \x9b"
    assert terminal_safe(text) == "line one line two \\x1b[2J\\x07 \\u202eevil end \\x9b"


# -- --expect and --save ------------------------------------------------------------------------
EXPECT = "{boxes: {boxes: [[1000, 500, 3000, 1500]], iou: 0.5}}"


def test_expect_scores_the_answers(project: Project) -> None:
    project.server.answer = lambda req: (
        '[{"bbox": [0, 0, 100, 100]}]' if req.api == "chat" else answer(req)
    )
    code, out, _err = project.detect("--models", MODELS, "--expect", EXPECT, "--json", "e.json")
    answers = by_model(json.loads(Path("e.json").read_text()))
    assert {m: a["passed"] for m, a in answers.items()} == {
        "gpt-5.2": True,
        "gemma-4-26b-a4b": True,
        "local": False,
    }
    assert answers["local"]["verdict"]["details"]["expected_boxes"] == [
        {"box": CRATE, "label": None}
    ]
    assert "1 failed" in out
    assert "2 passed" in out
    assert code == 1


def test_several_scored_images_get_the_reports_charts(project: Project) -> None:
    Image.new("RGB", (4000, 2000), "white").save(project.path / "shelf2.png")
    code, _out, _err = project.compare(
        *("shelf.png", "shelf2.png", "--prompt", "Find the crate.", "--task", "detection"),
        *("--catalog", str(project.catalog), "--models", MODELS, "--expect", EXPECT),
        *("--html", "c.html"),
    )
    assert code in (0, 1)
    page = Path("c.html").read_text()
    assert "Choosing a model" in page
    # One mark per model on each chart; "local" has no price, so it is only on the
    # latency chart.
    marks = {m: page.count(f'class="mark" data-model="{m}"') for m in MODELS.split(",")}
    assert marks == {"gpt-5.2": 2, "gemma-4-26b-a4b": 2, "local": 1}
    # One image: no charts (a score of one case says nothing).
    project.compare(
        *("shelf.png", "--prompt", "Find the crate.", "--task", "detection"),
        *("--catalog", str(project.catalog), "--models", MODELS, "--expect", EXPECT),
        *("--html", "one.html"),
    )
    assert 'class="mark"' not in Path("one.html").read_text()


def test_save_creates_a_case_that_pytest_runs_from_the_cache(
    pytester: pytest.Pytester, server: FakeVLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with project_in(pytester.path, server, monkeypatch) as p:
        code, out, err = p.detect(
            *("--models", MODELS, "--save", "evals/found.yaml", "--expect", EXPECT)
        )
        assert code == 0, err
        assert "saved case(s) shelf -> evals/found.yaml" in out
        text = (pytester.path / "evals" / "found.yaml").read_text()
        assert text == (
            "# yaml-language-server: $schema=../schema/visionevals.schema.json\n"
            "category: Found\n"
            "task: detection\n"
            "cases:\n"
            "- id: shelf\n"
            "  image: ../shelf.png\n"
            "  prompt: Find the crate.\n"
            "  expect:\n"
            "    boxes:\n"
            "      boxes:\n"
            "      - [1000, 500, 3000, 1500]\n"
            "      iou: 0.5\n"
        )
        assert server.request_count == 3
        pytester.makeini(f"[pytest]\nvision_models = {MODELS}\nvision_catalog = catalog.yaml\n")
        result = pytester.runpytest("evals", "-p", "no:cacheprovider")
        result.assert_outcomes(passed=3)
        # The case sends exactly what compare sent: every answer replays from the cache.
        assert server.request_count == 3


EXISTING = """\
# Hand-written: keep this comment.
category: Logistics
task: vqa
params: {temperature: 0.3}   # sent with every case
cases:
  # the first case
  - id: shelf
    image: ../shelf.png
    prompt: What is this?
    expect: {contains: crate}   # trailing comment
tags: [warehouse]
"""


def test_save_appends_keeping_comments_and_file_defaults(project: Project) -> None:
    evals = project.path / "evals"
    evals.mkdir()
    target = evals / "logistics.yaml"
    target.write_text(EXISTING)
    code, out, err = project.detect(
        *("--models", "gemma-4-26b-a4b", "--save", str(target), "--expect", EXPECT)
    )
    assert code == 0, out + err
    assert "saved case(s) shelf-2" in out
    # The file's default params were sent, as the pytest run will send them.
    body = project.server.requests[0].body
    assert body["generationConfig"]["temperature"] == 0.3
    text = target.read_text()
    head, _tail = EXISTING.split("tags: [warehouse]\n")
    assert text == head + (
        "  - id: shelf-2\n"
        "    image: ../shelf.png\n"
        "    prompt: Find the crate.\n"
        "    task: detection\n"
        "    expect:\n"
        "      boxes:\n"
        "        boxes:\n"
        "        - [1000, 500, 3000, 1500]\n"
        "        iou: 0.5\n"
        "tags: [warehouse]\n"
    )
    from pytest_visionevals.assertions import default_registry
    from pytest_visionevals.cases import load_eval_file

    loaded = load_eval_file(target, default_registry())
    assert [c.id for c in loaded.cases] == ["shelf", "shelf-2"]
    assert loaded.cases[1].task == "detection"
    assert loaded.cases[1].category == "Logistics"
    assert loaded.cases[1].params.temperature == 0.3


def test_save_with_a_bad_expect_or_file_writes_nothing(project: Project) -> None:
    evals = project.path / "evals"
    evals.mkdir()
    target = evals / "logistics.yaml"
    target.write_text(EXISTING)
    code, _out, err = project.detect(
        *("--models", MODELS, "--save", str(target), "--expect", "{count: -1}")
    )
    assert code == 2
    assert "--expect: expect.count" in err
    broken = evals / "broken.yaml"
    broken.write_text("category: X\ntask: vqa\ncases:\n  - id: a\n    prompt: hi\n")
    code, _out, err = project.detect(
        *("--models", MODELS, "--save", str(broken), "--expect", "{count: 3}")
    )
    assert code == 2
    assert "cannot append to an invalid eval file" in err
    assert "broken.yaml:4: case 'a': cases[0].expect: Field required" in err
    assert target.read_text() == EXISTING
    assert project.server.request_count == 0


def test_render_several_cases(tmp_path: Path) -> None:
    from pytest_visionevals.save_case import NewCase, SaveTarget, render

    shared = {"count": 3}
    target = SaveTarget(
        path=tmp_path / "evals" / "object_counting" / "new.yaml", text=None, ids=frozenset()
    )
    text, ids = render(
        target,
        [
            NewCase("a b.png", "How many?", "vqa", shared),
            NewCase("sub/a_b.png", "How many?", "vqa", shared),
        ],
    )
    assert ids == ["a-b", "a_b"]
    assert "&id" not in text
    assert "*id" not in text
    assert text.count("expect: {count: 3}") == 2
    assert "category: Object Counting\ntask: vqa\ncases:\n" in text
    taken = frozenset({"shelf", "shelf-2"})
    assert render(SaveTarget(target.path, None, taken), [NewCase("shelf.png", "x", "vqa", 1)])[
        1
    ] == ["shelf-3"]
