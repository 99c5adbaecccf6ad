"""No escape sequence from a model, a server or a YAML file reaches the terminal or CI log.

A hostile answer, server error message, category, prompt, case id and catalog display name
each carry ANSI sequences (clear screen, colours), a C1 CSI and a bidi override; the run's
stdout and stderr must hold none of them raw, with and without xdist, and still show them as
visible escapes.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from pytest_visionevals.__main__ import main
from pytest_visionevals.report import terminal
from pytest_visionevals.results import CaseResult
from pytest_visionevals.scoring import Scorecard
from pytest_visionevals.testing.fake_server import FakeVLMServer
from pytest_visionevals.untrusted import printable

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

HOSTILE = "\x1b[2J\x1b[1;32mALL TESTS PASSED\x1b[0m \x9b31m \u202edetcelfer\u202c \x07"
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

# YAML double-quoted strings: "\e" is ESC, "\u202e" the right-to-left override. A category
# may not hold control characters (refused at collection), a bidi override it may.
EVAL = """\
category: "PWNED \\u202eCat"
task: vqa
cases:
  - id: label
    image: ../img/a.png
    prompt: "Read the label. \\e[5m\\u202e"
    expect: {contains: "ACME"}
"""
BAD_ID = """\
category: Fine
task: vqa
cases:
  - id: "bad\\e[2Jid"
    image: ../img/a.png
    prompt: Read it.
    expect: {contains: "x"}
"""
CATALOG = """\
models:
  local-a:
    provider: openai-compatible
    model_id: a
    display_name: "Model \\e[2J A \\u202e"
    base_url: "{url}"
  local-err:
    provider: openai-compatible
    model_id: err
    base_url: "{url}"
    max_attempts: 1
"""


@pytest.fixture
def server() -> Iterator[FakeVLMServer]:
    with FakeVLMServer(answer=f"{HOSTILE} no label here") as srv:
        srv.add_fault("status", status=400, model="err", times=50, message=HOSTILE)
        yield srv


@pytest.fixture
def project(
    pytester: pytest.Pytester, server: FakeVLMServer, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    pytester.makeini("[pytest]\nvision_models = local-a,local-err\n")
    (pytester.path / "img").mkdir()
    Image.new("RGB", (32, 32), "red").save(pytester.path / "img" / "a.png")
    (pytester.path / "evals").mkdir()
    (pytester.path / "evals" / "hostile.yaml").write_text(EVAL)
    (pytester.path / "evals" / "bad_id.yaml").write_text(BAD_ID)
    (pytester.path / "visionevals.models.yaml").write_text(
        CATALOG.replace("{url}", server.openai_base_url)
    )
    return pytester


def test_run_output_holds_no_raw_escape(project: pytest.Pytester, xdist_args: list[str]) -> None:
    result = project.runpytest("-v", "-rA", "--vision-json", "out.json", *xdist_args)
    out, err = result.stdout.str(), result.stderr.str()
    assert not RAW.search(out), [line for line in out.splitlines() if RAW.search(line)]
    assert not RAW.search(err), err
    # Shown, not dropped: the wrong answer, the server's message, the category, the case id.
    assert "\\x1b[2J\\x1b[1;32mALL TESTS PASSED\\x1b[0m \\x9b31m \\u202edetcelfer" in out
    assert "errors: local-err: 1 x " in out
    assert "PWNED \\u202eCat" in out
    assert "bad\\x1b[2Jid" in out
    assert "Model \\x1b[2J" in out  # the display name, above the catalog name
    # The data keeps the original text: only what is printed is escaped.
    doc = json.loads((project.path / "out.json").read_text())
    errors = [r for r in doc["results"] if r["outcome"] == "error"]
    assert errors
    assert HOSTILE in errors[0]["reason"]


def test_terminal_table_escapes_every_untrusted_string() -> None:
    results = [
        CaseResult(
            nodeid="n",
            file=f"evals/{HOSTILE}.yaml",
            case_id="c",
            model=f"m{HOSTILE}",
            category=HOSTILE,
            task="vqa",
            outcome=outcome,
            reason=HOSTILE if outcome != "passed" else None,
            repeat_index=i,
        )
        for i, outcome in enumerate(["passed", "error", "skipped", "failed", "passed"])
    ]
    card = Scorecard.build(results)
    text = terminal.render_text(
        card, 100, [f"  FAIL  {HOSTILE}\nfake line"], display_names={f"m{HOSTILE}": HOSTILE}
    )
    assert not RAW.search(text)
    assert text.count(printable(HOSTILE)) >= 4  # category, reasons, flaky line, gate line
    assert "\\nfake line" in text


def test_report_command_output_holds_no_raw_escape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from pytest_visionevals.report.jsonl import JsonlWriter

    path = tmp_path / f"run{HOSTILE}.jsonl"
    writer = JsonlWriter(path, {"model_order": ["m"], "models": {"m": {"display_name": HOSTILE}}})
    hostile = {"category": HOSTILE, "outcome": "error", "reason": HOSTILE}
    writer.write_result(
        CaseResult(nodeid="n", file="f.yaml", case_id="c", model="m", task="vqa", **hostile)
    )
    writer.close(1)
    assert main(["report", str(path), "--width", "100"]) == 0
    bad = tmp_path / f"bad{HOSTILE}.json"
    bad.write_text("{not json")
    assert main(["report", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert not RAW.search(out), out
    assert not RAW.search(err), err
    assert printable(HOSTILE) in out


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2Jclear", "\\x1b[2Jclear"),
        ("csi \x9b31m del \x7f nul \x00 bell \x07", "csi \\x9b31m del \\x7f nul \\x00 bell \\x07"),
        ("a\u202eb\u202dc\u2066d\u2069e\u202a", "a\\u202eb\\u202dc\\u2066d\\u2069e\\u202a"),
        ("two\nlines\ttab\r\n", "two\\nlines\\ttab\\r\\n"),
        ("plain text, accents é and CJK 文字 stay", "plain text, accents é and CJK 文字 stay"),
    ],
)
def test_printable_one_line(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_printable_multiline_keeps_lines_and_tabs_only() -> None:
    assert printable("a\r\nb\n\tc", multiline=True) == "a\nb\n\tc"
    # A lone CR would rewrite the line it ends: shown, like every other control.
    assert printable("ok\rFAKE\x1b[0m\n", multiline=True) == "ok\\rFAKE\\x1b[0m\n"
