"""pytest's everyday options work on eval items as on any test: --lf, --ff, --sw, --nf,
--deselect, --co, --durations, -rA, --junitxml, the cache provider and pytest-randomly."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import pytest
from PIL import Image

from pytest_visionevals.testing.fake_server import FakeVLMServer

if TYPE_CHECKING:
    from collections.abc import Iterator

FAILING = ("c2", "c4")  # the model answers 7; these cases expect 8


@pytest.fixture
def server() -> Iterator[FakeVLMServer]:
    with FakeVLMServer(answer="7") as srv:
        yield srv


def write_cases(pytester: pytest.Pytester, n: int) -> None:
    lines = ["category: C", "task: vqa", "cases:"]
    for i in range(n):
        want = 8 if f"c{i}" in FAILING else 7
        lines += [f"  - id: c{i}", "    image: ../img.png", f"    prompt: question {i}"]
        lines += [f"    expect: {{count: {want}}}"]
    (pytester.path / "evals" / "s.yaml").write_text("\n".join(lines) + "\n")


@pytest.fixture
def project(pytester: pytest.Pytester, server: FakeVLMServer) -> pytest.Pytester:
    pytester.makeini("[pytest]\nvision_models = local\n")
    Image.new("RGB", (8, 8), "white").save(pytester.path / "img.png")
    (pytester.path / "evals").mkdir()
    write_cases(pytester, 6)
    (pytester.path / "visionevals.models.yaml").write_text(
        "models:\n  local:\n    provider: openai-compatible\n    model_id: m\n"
        f"    base_url: {server.openai_base_url}\n    pricing: {{input: 1, output: 1}}\n"
    )
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # In a subprocess: the cache provider's state lives on disk between runs, as for users.
    return pytester.runpytest_subprocess(*args)


def order(result: pytest.RunResult) -> list[str]:
    """Case ids in the order -v reported them."""
    return re.findall(r"s\.yaml::(c\d+)\[local\] (?:PASSED|FAILED)", result.stdout.str())


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["no-xdist", "n2"])
def test_last_failed_and_failed_first(project: pytest.Pytester, xdist: list[str]) -> None:
    run(project, *xdist).assert_outcomes(passed=4, failed=2)
    lf = run(project, "--lf", *xdist)
    lf.assert_outcomes(failed=2)  # only the two that failed ran
    if not xdist:  # under xdist the workers collect, and the controller prints no status
        lf.stdout.fnmatch_lines(["*run-last-failure: rerun previous 2 failures*"])
    ff = run(project, "--ff", "-v", "-p", "no:xdist")
    ff.assert_outcomes(passed=4, failed=2)
    assert order(ff)[:2] == list(FAILING)


def test_stepwise_resumes_at_the_failure(project: pytest.Pytester) -> None:
    first = run(project, "--sw", "-v")
    assert order(first) == ["c0", "c1", "c2"]
    second = run(project, "--sw", "-v")
    assert order(second) == ["c2"]  # stops at it again, where it left off
    second.stdout.fnmatch_lines(["*2 deselected*"])


def test_new_first(project: pytest.Pytester) -> None:
    run(project).assert_outcomes(passed=4, failed=2)
    write_cases(project, 8)  # c6 and c7 are new
    nf = run(project, "--nf", "-v")
    assert order(nf)[:2] == ["c6", "c7"]


def test_deselect_collect_only_durations_and_report_chars(project: pytest.Pytester) -> None:
    co = run(project, "--co", "-q")
    co.stdout.fnmatch_lines([f"evals/s.yaml::c{i}[[]local[]]" for i in range(6)])
    des = run(project, "--deselect", "evals/s.yaml::c2[local]", "-rA", "--durations", "2")
    des.assert_outcomes(passed=4, failed=1, deselected=1)
    des.stdout.fnmatch_lines(
        [
            "*slowest 2 durations*",
            "*s setup*evals/s.yaml::c*[[]local[]]*",
            "PASSED evals/s.yaml::c0[[]local[]]",
        ]
    )


def test_junitxml_has_one_testcase_per_item_with_properties(project: pytest.Pytester) -> None:
    run(project, "--junitxml", "j.xml").assert_outcomes(passed=4, failed=2)
    cases = ET.parse(project.path / "j.xml").getroot().iter("testcase")
    by_name = {c.get("name"): c for c in cases}
    assert sorted(by_name) == [f"c{i}[local]" for i in range(6)]
    props = {p.get("name"): p.get("value") for p in by_name["c2[local]"].iter("property")}
    assert props["vision_model"] == "local"
    assert props["vision_outcome"] == "failed"
    assert by_name["c2[local]"].find("failure") is not None


def test_cache_provider_off_and_elsewhere(project: pytest.Pytester) -> None:
    run(project, "-p", "no:cacheprovider").assert_outcomes(passed=4, failed=2)
    assert not (project.path / ".pytest_cache").exists()
    run(project, "-o", "cache_dir=elsewhere").assert_outcomes(passed=4, failed=2)
    assert (project.path / "elsewhere" / "v" / "cache" / "lastfailed").is_file()
    run(project, "-o", "cache_dir=elsewhere", "--lf").assert_outcomes(failed=2)


@pytest.mark.parametrize("xdist", [[], ["-n", "2"]], ids=["no-xdist", "n2"])
def test_random_order_with_pytest_randomly(
    project: pytest.Pytester, xdist: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pytest_randomly")
    monkeypatch.delenv("PYTEST_ADDOPTS")
    seeded = ("-p", "randomly", "--randomly-seed", "1234", "-v")
    first = project.runpytest_subprocess(*seeded, *xdist)
    first.assert_outcomes(passed=4, failed=2)
    first.stdout.fnmatch_lines(["*--randomly-seed=1234*"])
    if not xdist:
        again = project.runpytest_subprocess(*seeded)
        assert order(again) == order(first)  # the same seed, the same order
        assert order(first) != sorted(order(first))  # and not the file's order
