"""Collection: the matrix, ids, selection, and every bad input as a clear error."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

if TYPE_CHECKING:
    from collections.abc import Iterator

GOOD = """\
category: Object Counting
task: vqa
cases:
  - id: bottles-on-shelf
    image: ../img/a.png
    prompt: How many bottles?
    expect: {contains: "3"}
  - id: read-label
    task: ocr
    image: ../img/a.png
    prompt: Read the label.
    expect: {contains: "ACME"}
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\nvision_models = gpt-5.2,gemma-4-26b-a4b,rapidocr\n")
    (pytester.path / "img").mkdir()
    Image.new("RGB", (64, 48), "red").save(pytester.path / "img" / "a.png")
    (pytester.path / "evals").mkdir()
    return pytester


def write(p: pytest.Pytester, name: str, text: str) -> Path:
    path = p.path / "evals" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def collect_errors(p: pytest.Pytester, *args: str) -> str:
    result = p.runpytest("--collect-only", "-q", *args)
    return result.stdout.str()


# -- the matrix ------------------------------------------------------------------------------
def test_matrix_ids_and_order(project: pytest.Pytester, xdist_args: list[str]) -> None:
    write(project, "b.yaml", GOOD)
    write(project, "a.yaml", GOOD.replace("bottles-on-shelf", "cans"))
    result = project.runpytest("--collect-only", "-q", *xdist_args)
    lines = [ln for ln in result.stdout.lines if "::" in ln]
    assert lines == [
        f"evals/{f}::{c}[{m}]"
        for f, cases in (
            ("a.yaml", ("cans", "read-label")),
            ("b.yaml", ("bottles-on-shelf", "read-label")),
        )
        for c in cases
        for m in ("gpt-5.2", "gemma-4-26b-a4b", "rapidocr")
    ]


def test_cli_models_win_over_ini(project: pytest.Pytester) -> None:
    write(project, "a.yaml", GOOD)
    result = project.runpytest("--collect-only", "-q", "--vision-models", "rapidocr")
    assert [ln for ln in result.stdout.lines if "::" in ln] == [
        "evals/a.yaml::bottles-on-shelf[rapidocr]",
        "evals/a.yaml::read-label[rapidocr]",
    ]


def test_keyword_and_marker_selection(project: pytest.Pytester) -> None:
    write(project, "counting.yaml", GOOD)
    out = project.runpytest("--collect-only", "-q", "-k", "gemma and counting").stdout.lines
    assert [ln for ln in out if "::" in ln] == [
        "evals/counting.yaml::bottles-on-shelf[gemma-4-26b-a4b]",
        "evals/counting.yaml::read-label[gemma-4-26b-a4b]",
    ]
    out = project.runpytest("--collect-only", "-q", "-m", "ocr", "--strict-markers").stdout.lines
    assert [ln for ln in out if "::" in ln] == [
        f"evals/counting.yaml::read-label[{m}]" for m in ("gpt-5.2", "gemma-4-26b-a4b", "rapidocr")
    ]
    out = project.runpytest("--collect-only", "-q", "-m", "object_counting and vqa").stdout.lines
    assert len([ln for ln in out if "::" in ln]) == 3


def test_allow_and_deny_lists_and_repeat(project: pytest.Pytester) -> None:
    write(
        project,
        "a.yaml",
        GOOD.replace(
            "  - id: read-label\n", "  - id: read-label\n    models: [rapidocr]\n"
        ).replace("task: vqa\n", "task: vqa\nexclude_models: [gpt-5.2]\n"),
    )
    out = project.runpytest("--collect-only", "-q", "--vision-repeat", "2").stdout.lines
    assert [ln for ln in out if "::" in ln] == [
        "evals/a.yaml::bottles-on-shelf[gemma-4-26b-a4b-r0]",
        "evals/a.yaml::bottles-on-shelf[gemma-4-26b-a4b-r1]",
        "evals/a.yaml::bottles-on-shelf[rapidocr-r0]",
        "evals/a.yaml::bottles-on-shelf[rapidocr-r1]",
        "evals/a.yaml::read-label[rapidocr-r0]",
        "evals/a.yaml::read-label[rapidocr-r1]",
    ]


def test_unrelated_yaml_is_not_collected(project: pytest.Pytester) -> None:
    project.path.joinpath(".github").mkdir()
    project.path.joinpath(".github", "ci.yaml").write_text("on: push\njobs: {}\n")
    project.path.joinpath("docker-compose.yml").write_text("services: {}\n")
    write(project, "_shared.yaml", "anchors: {}\n")
    write(project, "a.yaml", GOOD)
    result = project.runpytest("--collect-only", "-q", ".")
    assert "6 tests collected" in result.stdout.str()
    assert "error" not in result.stdout.str().lower()


def test_unsupported_task_is_skipped_not_failed(
    project: pytest.Pytester, xdist_args: list[str]
) -> None:
    write(project, "a.yaml", GOOD)
    result = project.runpytest("-rs", "--vision-models", "rapidocr", "-k", "bottles", *xdist_args)
    result.assert_outcomes(skipped=1, deselected=None if xdist_args else 1)
    result.stdout.fnmatch_lines(["*not supported: rapidocr does not do vqa*"])


def test_json_schema_is_exported_and_current() -> None:
    import json

    from pytest_visionevals.assertions import default_registry
    from pytest_visionevals.cases import json_schema

    committed = Path(__file__).parent.parent / "schema" / "visionevals.schema.json"
    assert json.loads(committed.read_text()) == json_schema(default_registry()), (
        "schema/visionevals.schema.json is stale: run `python -m pytest_visionevals schema "
        "> schema/visionevals.schema.json`"
    )


# -- bad input -------------------------------------------------------------------------------
def test_yaml_syntax_error_names_file_line_column(project: pytest.Pytester) -> None:
    write(project, "bad.yaml", "category: X\ntask: vqa\ncases:\n  - id: a\n    prompt: [oops\n")
    out = collect_errors(project)
    assert "evals/bad.yaml:6: YAML syntax error, column 1" in out or (
        "bad.yaml:" in out and "YAML syntax error" in out and "column" in out
    )
    assert "Traceback" not in out


@pytest.mark.parametrize(
    ("case_yaml", "expected"),
    [
        (
            "    expect: {boxes: {boxes: [[1, 2, 3]]}}\n",
            "case 'c1': cases[0].expect.boxes.boxes[0]",
        ),
        ("    expect: {count: {value: many}}\n", "case 'c1': cases[0].expect.count.value"),
        (
            "    expect: {count: 3}\n    temprature: 0\n",
            "case 'c1': cases[0].temprature: unknown field",
        ),
        (
            "    expect: {count: 3}\n    params: {temperature: 9}\n",
            "case 'c1': cases[0].params.temperature: Input should be less than or equal to 2",
        ),
    ],
    ids=["box-coords", "count-value", "unknown-field", "param-range"],
)
def test_schema_violation_names_file_case_field(
    project: pytest.Pytester, case_yaml: str, expected: str
) -> None:
    write(
        project,
        "bad.yaml",
        "category: X\ntask: vqa\ncases:\n  - id: c1\n"
        "    image: ../img/a.png\n    prompt: p\n" + case_yaml,
    )
    out = collect_errors(project)
    assert "evals/bad.yaml:" in out, out
    assert expected in out, out


def test_missing_required_field(project: pytest.Pytester) -> None:
    write(
        project,
        "bad.yaml",
        "category: X\ntask: vqa\ncases:\n  - id: c1\n"
        "    image: ../img/a.png\n    expect: {contains: a}\n",
    )
    out = collect_errors(project)
    assert "bad.yaml:4: case 'c1': cases[0].prompt: Field required" in out, out


def test_duplicate_case_id(project: pytest.Pytester) -> None:
    write(project, "dup.yaml", GOOD.replace("read-label", "bottles-on-shelf"))
    out = collect_errors(project)
    assert "dup.yaml:" in out, out
    assert "case 'bottles-on-shelf': cases[1].id" in out, out
    assert "duplicate case id 'bottles-on-shelf' (first defined at line 4)" in out, out


def test_unknown_assertion_type_lists_valid_ones(project: pytest.Pytester) -> None:
    write(project, "bad.yaml", GOOD.replace('{contains: "3"}', "{counts: 3}"))
    out = collect_errors(project)
    assert (
        "case 'bottles-on-shelf': cases[0].expect.counts: unknown assertion type 'counts'" in out
    ), out
    assert "valid types: all, any, box, boxes, contains, count, equals" in out, out


def test_unknown_model_in_file_lists_known_ones(project: pytest.Pytester) -> None:
    write(project, "bad.yaml", GOOD.replace("task: vqa\n", "task: vqa\nmodels: [gpt-9]\n"))
    out = collect_errors(project)
    assert "bad.yaml:3: models[0]: unknown model 'gpt-9'; known models:" in out, out
    assert "gpt-5.2" in out


def test_unknown_model_on_command_line(project: pytest.Pytester) -> None:
    write(project, "a.yaml", GOOD)
    result = project.runpytest("--collect-only", "--vision-models", "gpt-5.2,nope")
    result.stderr.fnmatch_lines(["*--vision-models: unknown model(s) nope; known models:*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_missing_image_names_written_and_resolved_path(project: pytest.Pytester) -> None:
    write(project, "bad.yaml", GOOD.replace("../img/a.png", "../img/missing.png", 1))
    out = collect_errors(project)
    resolved = project.path / "img" / "missing.png"
    assert (
        "case 'bottles-on-shelf': cases[0].image: image '../img/missing.png' "
        f"(resolved to {resolved}) does not exist" in out
    ), out


def test_undecodable_image(project: pytest.Pytester) -> None:
    (project.path / "img" / "fake.png").write_bytes(b"this is not a png")
    (project.path / "img" / "trunc.png").write_bytes(
        (project.path / "img" / "a.png").read_bytes()[:60]
    )
    write(project, "bad.yaml", GOOD.replace("../img/a.png", "../img/fake.png", 1))
    write(project, "bad2.yaml", GOOD.replace("../img/a.png", "../img/trunc.png", 1))
    out = collect_errors(project)
    assert "bad.yaml:4: case 'bottles-on-shelf': cases[0].image: image '../img/fake.png'" in out
    assert "is not a decodable image" in out, out
    assert "bad2.yaml:4: case 'bottles-on-shelf'" in out, out
    assert "cannot be decoded" in out, out


class _Handler(http.server.BaseHTTPRequestHandler):
    png = b""

    def do_GET(self) -> None:
        if self.path == "/ok.png":
            body = self.png
        elif self.path == "/big.png":
            body = b"\0" * 4096
        elif self.path == "/slow.png":
            threading.Event().wait(3)
            body = self.png
        elif self.path in ("/drip.png", "/drip-headers.png"):
            self._drip()
            return
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drip(self) -> None:
        """A PNG header then one byte every 0.3 s, in the body or in a header line: each
        read is quick, the whole download never ends (here: after 15 s)."""
        headers = self.path == "/drip-headers.png"
        try:
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 66\r\n")
            self.wfile.write(b"X-Slow: " if headers else b"\r\n" + self.png[:16])
            for _ in range(50):
                self.wfile.flush()
                threading.Event().wait(0.3)
                self.wfile.write(b"x" if headers else b"\0")
        except OSError:
            pass  # the client hung up

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def image_server(project: pytest.Pytester) -> Iterator[str]:
    _Handler.png = (project.path / "img" / "a.png").read_bytes()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()


def test_image_urls(
    project: pytest.Pytester, image_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pytest_visionevals.images.DEFAULT_URL_MAX_BYTES", 1024)
    monkeypatch.setattr("pytest_visionevals.images.DEFAULT_URL_TIMEOUT_S", 0.5)
    write(project, "ok.yaml", GOOD.replace("../img/a.png", f"{image_server}/ok.png"))
    write(project, "nf.yaml", GOOD.replace("../img/a.png", f"{image_server}/nope.png", 1))
    write(project, "big.yaml", GOOD.replace("../img/a.png", f"{image_server}/big.png", 1))
    write(project, "slow.yaml", GOOD.replace("../img/a.png", f"{image_server}/slow.png", 1))
    out = collect_errors(project)
    assert (
        f"nf.yaml:4: case 'bottles-on-shelf': cases[0].image: image URL "
        f"'{image_server}/nope.png' returned HTTP 404" in out
    ), out
    assert f"'{image_server}/big.png' is 4096 bytes, over the 1024-byte cap" in out, out
    assert f"'{image_server}/slow.png' timed out after 0.5 s" in out, out
    assert "ok.yaml" not in out.split("short test summary")[-1]
    cached = list((project.path / ".visionevals" / "images").iterdir())
    assert len(cached) == 1  # fetched once, cached on disk


def test_one_bad_file_does_not_stop_the_others(
    project: pytest.Pytester, xdist_args: list[str]
) -> None:
    write(project, "good.yaml", GOOD)
    write(project, "bad.yaml", "cases: [\n")
    result = project.runpytest("--vision-models", "rapidocr", "-k", "bottles", *xdist_args)
    out = result.stdout.str()
    assert "bad.yaml" in out, out
    assert "YAML syntax error" in out, out
    assert "1 skipped" in out, out
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_image_url_download_has_a_deadline(
    project: pytest.Pytester, image_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each read is well within the timeout; only a deadline on the whole download stops it.
    monkeypatch.setattr("pytest_visionevals.images.DEFAULT_URL_TIMEOUT_S", 5.0)
    monkeypatch.setattr("pytest_visionevals.images.DEFAULT_URL_DEADLINE_S", 1.5, raising=False)
    write(project, "good.yaml", GOOD)
    write(project, "body.yaml", GOOD.replace("../img/a.png", f"{image_server}/drip.png", 1))
    write(project, "head.yaml", GOOD.replace("../img/a.png", f"{image_server}/drip-headers.png", 1))
    result = project.runpytest("--vision-models", "rapidocr", "-k", "bottles")
    out = result.stdout.str()
    for name, route in (("body", "drip.png"), ("head", "drip-headers.png")):
        assert (
            f"{name}.yaml:4: case 'bottles-on-shelf': cases[0].image: image URL "
            f"'{image_server}/{route}' took more than 1.5 s to download" in out
        ), out
    result.assert_outcomes(skipped=1, errors=2, deselected=1)
    assert not (project.path / ".visionevals" / "images").exists()  # nothing half-cached


def _laughs(indent: str) -> str:
    """A billion-laughs list: 9 anchored levels of 10 aliases each, 10**9 strings in all."""
    out = ""
    for i in range(9):
        items = ", ".join([f"*b{i - 1}"] * 10) if i else ", ".join(["lol"] * 10)
        out += f"{indent}- &b{i} [{items}]\n"
    return out


def test_inputs_that_crashed_collection_are_errors_of_their_own_file(
    project: pytest.Pytester, xdist_args: list[str]
) -> None:
    from malformed_corpus import png_of_zeros

    (project.path / "img" / "bomb.png").write_bytes(png_of_zeros(20_000, 20_000))
    expect = '{contains: "3"}'
    write(project, "good.yaml", GOOD)
    write(project, "recursive.yaml", GOOD.replace(expect, "&e {all: [*e]}", 1))
    write(project, "deep.yaml", GOOD.replace(expect, "{not: " * 300 + expect + "}" * 300, 1))
    write(
        project,
        "laughs.yaml",
        "task: vqa\ncases:\n  - id: bottles-on-shelf\n    image: ../img/a.png\n    prompt: p\n"
        "    expect: {count: 3}\n    category:\n" + _laughs("      "),
    )
    write(project, "bigimage.yaml", GOOD.replace("../img/a.png", "../img/bomb.png", 1))
    result = project.runpytest("--vision-models", "rapidocr", "-k", "bottles", *xdist_args)
    out = result.stdout.str()
    where = "case 'bottles-on-shelf': cases[0]"
    for expected in (
        f"recursive.yaml:7: {where}.expect.all[0]: recursive YAML alias: this value contains "
        "itself (its anchor is at line 7)",
        f"deep.yaml:7: {where}.expect.not.not.not",
        "values nested more than 64 levels deep",
        f"laughs.yaml:13: {where}.category[5][0]: aliases repeat more than 200,000 YAML values",
        f"bigimage.yaml:4: {where}.image: image '../img/bomb.png'",
        "is 400,000,000 pixels, over the pixel limit of 89,478,485",
    ):
        assert expected in out, out
    assert "Interrupted" not in out
    assert "RecursionError" not in out
    assert "DecompressionBomb" not in out
    assert "1 skipped" in out, out  # the valid file still ran
    assert "4 errors" in out, out
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_an_unexpected_exception_is_an_error_of_that_file_only(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pytest_visionevals import collect

    real = collect.load_eval_file

    def flaky(path: Path, *args: Any, **kwargs: Any) -> Any:
        if path.name == "boom.yaml":
            raise ZeroDivisionError("a bug nobody foresaw")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(collect, "load_eval_file", flaky)
    write(project, "good.yaml", GOOD)
    write(project, "boom.yaml", GOOD)
    result = project.runpytest("--vision-models", "rapidocr", "-k", "bottles")
    result.stdout.fnmatch_lines(
        [
            "*invalid eval file */evals/boom.yaml: unexpected error while collecting it: "
            "ZeroDivisionError: a bug nobody foresaw (at test_collection.py:*)"
        ]
    )
    result.assert_outcomes(skipped=1, errors=1, deselected=1)
    assert "Interrupted" not in result.stdout.str()


def test_duplicate_keys_name_the_key_both_lines_the_case_and_the_field(
    project: pytest.Pytester,
) -> None:
    first = '    expect: {contains: "3"}\n'
    write(project, "prompt.yaml", GOOD.replace(first, first + "    prompt: p2\n", 1))
    write(project, "expect.yaml", GOOD.replace('{contains: "3"}', '{contains: "3", contains: "4"}'))
    write(project, "top.yaml", "task: x\n" + GOOD)
    out = collect_errors(project)
    assert (
        "prompt.yaml:8: case 'bottles-on-shelf': cases[0].prompt: "
        "duplicate key 'prompt' (lines 6 and 8)" in out
    ), out
    assert (
        "expect.yaml:7: case 'bottles-on-shelf': cases[0].expect.contains: "
        "duplicate key 'contains' (line 7, columns 14 and 29)" in out
    ), out
    assert "top.yaml:3: task: duplicate key 'task' (lines 1 and 3)" in out, out


def test_categories_and_tags_are_single_line_text(project: pytest.Pytester) -> None:
    write(project, "cat.yaml", GOOD.replace("Object Counting", '"A\\n```\\nB"'))
    tags = '    tags: [ok, "a\\u2028b"]\n'
    write(project, "tag.yaml", GOOD.replace("    task: ocr\n", "    task: ocr\n" + tags))
    out = collect_errors(project)
    assert (
        "cat.yaml:1: category: Value error, must be single-line text without control characters "
        "(found '\\n' at character 2) (got 'A\\n```\\nB')" in out
    ), out
    assert (
        "tag.yaml:10: case 'read-label': cases[1].tags[1]: Value error, must be single-line text "
        "without control characters (found '\\u2028' at character 2)" in out
    ), out


def test_schema_refuses_multi_line_categories_too() -> None:
    import json

    import jsonschema

    committed = Path(__file__).parent.parent / "schema" / "visionevals.schema.json"
    validator = jsonschema.Draft202012Validator(json.loads(committed.read_text()))
    case = {"id": "c1", "image": "a.png", "prompt": "p", "expect": {"count": 3}}
    doc = {"category": "Object Counting", "task": "vqa", "tags": ["fine"], "cases": [case]}
    assert validator.is_valid(doc)
    for bad in ({"category": "a\nb"}, {"tags": ["a\rb"]}, {"category": "\x1b[2J"}):
        assert not validator.is_valid({**doc, **bad}), bad


def test_the_collected_heap_is_frozen_for_the_run_and_thawed_after(
    project: pytest.Pytester,
) -> None:
    import gc

    write(project, "a.yaml", GOOD)
    project.makeconftest(
        """
        import gc

        def pytest_runtestloop(session):
            print(f"frozen during the run: {gc.get_freeze_count() > 0}")
        """
    )
    before = gc.get_freeze_count()
    result = project.runpytest_inprocess("-s", "--vision-models", "rapidocr", "-p", "no:randomly")
    result.stdout.fnmatch_lines(["*frozen during the run: True*"])
    assert gc.get_freeze_count() == before  # thawed at the end: no leak into the caller
