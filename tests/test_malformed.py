"""The malformed-input corpus: every bad eval file gets a clear error of its own, in bounded
time and memory, and a valid eval file beside them still runs.

One pytest run in a child process (so that an address-space cap can be set and its peak
memory measured) collects all of tests/malformed/ plus the generated inputs of
tests/malformed_corpus.py. ``benchmarks/malformed_corpus.py`` runs each file on its own
for the clear / unclear / crash / hang figures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from malformed_corpus import (
    GOOD_OUTCOMES,
    Expected,
    ImageServer,
    Run,
    build_project,
    corpus,
    good_outcomes,
    iter_verdicts,
    run_pytest,
    summary_counts,
    write_images,
)

from pytest_visionevals.testing.fake_server import FakeVLMServer

if TYPE_CHECKING:
    from pathlib import Path

# Caps, not speed targets: a bomb that got through would take minutes and gigabytes.
TIME_CAP_S = 240.0
MEMORY_CAP_MB = 3072  # address space (RLIMIT_AS); the peak RSS bound is tighter
MAX_RSS_MB = 600


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Run, Path, dict[str, Expected]]:
    root = tmp_path_factory.mktemp("malformed")
    with (
        FakeVLMServer(answer="There are 3.") as model,
        ImageServer(write_images(root / "img")) as images,
    ):
        expected = build_project(root, model_base_url=model.openai_base_url, images=images)
        run = run_pytest(
            root,
            ["-q", "evals", "--vision-json", "out.json"],
            timeout_s=TIME_CAP_S,
            memory_mb=MEMORY_CAP_MB,
        )
    return run, root, dict(expected)


def test_corpus_has_every_kind_of_bad_input() -> None:
    names = set(corpus())
    assert len(names) >= 60
    for prefix in (
        "syntax-", "top-", "case-", "dupkey-", "alias-bomb", "alias-recursive", "deep-",
        "huge-", "non-utf8", "empty", "category-", "tag-", "expect-", "count-", "number-",
        "boxes-", "box-", "point-", "ocr-", "json-", "label-", "regex-", "judge-", "image-",
        "url-404", "url-slow-drip", "url-too-large", "models-", "params-", "repeat-",
    ):  # fmt: skip
        assert any(n.startswith(prefix) for n in names), prefix


def test_every_malformed_file_gets_a_clear_error_and_the_valid_one_runs(
    corpus_run: tuple[Run, Path, dict[str, Expected]],
) -> None:
    run, root, expected = corpus_run
    assert not run.timed_out, f"no result within {TIME_CAP_S:g} s:\n{run.output[-3000:]}"
    # Every bad file is a collection error of its own; the session is not interrupted.
    assert run.returncode == 1, run.output[-3000:]
    assert "Interrupted" not in run.output
    assert good_outcomes(root / "out.json") == GOOD_OUTCOMES, run.output[-3000:]
    counts = summary_counts(run.output)
    assert (counts.get("failed"), counts.get("passed"), counts.get("errors")) == (
        1,
        1,
        len(expected),
    ), run.output[-3000:]
    assert run.max_rss_mb < MAX_RSS_MB, f"peak RSS {run.max_rss_mb:.0f} MB"
    bad = [
        f"{name}: {verdict}: {why}"
        for name, verdict, why in iter_verdicts(expected, run)
        if verdict != "clear"
    ]
    assert not bad, "\n".join(bad)
