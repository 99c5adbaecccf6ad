"""Markdown report (GitHub-flavoured) for PR comments and ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_visionevals.report.format import (
    COMPARISON_HEADERS,
    FACT_HEADERS,
    batch_note,
    comparison_note,
    comparison_rows,
    display_names,
    fact_rows,
    pct,
    replay_note,
    summary_rows,
)
from pytest_visionevals.untrusted import md_code, md_fence, md_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_visionevals.scoring import ModelSummary, Scorecard

MAX_FAILURES_LISTED = 50


def _cell(text: object) -> str:
    """An untrusted table cell (names, ids, categories, explanations, server messages)."""
    return md_text(text, in_table=True)


def _header(m: ModelSummary, display: dict[str, str]) -> str:
    label = display.get(m.model)
    text = f"**{_cell(m.model)}**" if label is None else f"**{_cell(label)}** ({_cell(m.model)})"
    return text + (" (incomplete)" if m.incomplete else "")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Cells are Markdown already: untrusted ones went through ``_cell``."""
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def render(
    card: Scorecard,
    facts: dict[str, dict[str, Any]] | None = None,
    gate_lines: Sequence[str] = (),
    title: str = "Vision eval scorecard",
) -> str:
    out = [f"## {title}", ""]
    if not card.models:
        return "\n".join([*out, "No eval results.", ""])
    display = display_names(facts)
    out += _table(
        ["", *(_header(m, display) for m in card.models)],
        # Row labels are categories (untrusted) or our own names; the cells are our figures.
        [[_cell(label), *(text for text, _ in cells)] for label, cells in summary_rows(card)],
    )
    out.append("")
    out.append(
        "Pass rate (passed/answered) with a Wilson 95% interval in brackets. "
        "Overall = all answered cases of the model (micro average). Errors lower "
        "coverage, not the score."
    )
    replayed = replay_note(card)
    if replayed:
        out += ["", md_text(replayed)]
    batched = batch_note(card)
    if batched:
        out += ["", md_text(batched)]
    if any(m.incomplete for m in card.models):
        out += ["", "(incomplete): coverage below 90%, figures are not comparable."]
    out += _comparisons(card)
    if gate_lines:
        # Gate lines hold category and model names: a fence they cannot close.
        out += ["", "### Gate", "", *md_fence(gate_lines)]
    if facts is not None:
        out += ["", "### Models in this comparison", ""]
        rows = fact_rows(facts, [m.model for m in card.models])
        # Catalog text is untrusted; the last cell is our own price figures.
        out += _table(FACT_HEADERS, [[*map(_cell, row[:-1]), row[-1]] for row in rows])
    out += _repeats(card)
    out += _failures(card)
    out.append("")
    return "\n".join(out)


def _comparisons(card: Scorecard) -> list[str]:
    if not card.overall_comparisons():
        return []
    out = ["", "### Paired comparisons", ""]
    out += _table(COMPARISON_HEADERS, _escaped(comparison_rows(card, categories=False)))
    per_category = _escaped(comparison_rows(card, categories=True))
    if per_category:
        out += ["", "<details><summary>Per category</summary>", ""]
        out += _table(COMPARISON_HEADERS, per_category)
        out += ["", "</details>"]
    out += ["", comparison_note(card)]
    return out


def _escaped(rows: list[list[str]]) -> list[list[str]]:
    # The pair (model names) and the scope (a category) are untrusted; the rest are figures.
    return [[_cell(row[0]), _cell(row[1]), *row[2:]] for row in rows]


def _repeats(card: Scorecard) -> list[str]:
    if not card.has_repeats:
        return []
    out = ["", "### Repeats", ""]
    flaky = [(m.model, c) for m in card.models if m.repeats for c in m.repeats.flaky]
    if flaky:
        out += ["Flaky cases (passed some repeats, failed others):", ""]
        out += [
            f"- {md_code(model)} {md_text(f'{c.file}::{c.case_id}')}: "
            f"{c.passed}/{c.answered} passed"
            for model, c in flaky
        ]
    else:
        out.append("No flaky cases.")
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for m in card.models:
        for c in m.repeats.cases if m.repeats else ():
            rows.setdefault((c.file, c.case_id), {})[m.model] = (
                f"{pct(c.pass_rate)} ({c.passed}/{c.answered})" if c.answered else "n/a"
            )
    out += ["", "<details><summary>Per-case pass rate across repeats</summary>", ""]
    out += _table(
        ["Case", *(_cell(m.model) for m in card.models)],
        [
            [_cell(f"{f}::{cid}"), *(cells.get(m.model, "-") for m in card.models)]
            for (f, cid), cells in sorted(rows.items())
        ],
    )
    out += ["", "</details>"]
    return out


def _failures(card: Scorecard) -> list[str]:
    bad = [r for r in card.results if r.outcome in ("failed", "error")]
    if not bad:
        return []
    out = ["", f"<details><summary>Failures and errors ({len(bad)})</summary>", ""]
    rows = []
    for r in bad[:MAX_FAILURES_LISTED]:
        why = r.explanation if r.outcome == "failed" else (r.reason or "")
        # Cut before escaping: a cut escape would change what the rest shows.
        case = f"{r.file}::{r.case_id}"
        rows.append([_cell(r.model), _cell(case), r.outcome, _cell(why[:200])])
    out += _table(["Model", "Case", "Outcome", "Why"], rows)
    if len(bad) > MAX_FAILURES_LISTED:
        out += ["", f"... and {len(bad) - MAX_FAILURES_LISTED} more (see the JSON report)"]
    out += ["", "</details>"]
    return out


def write(path: str | Path, text: str) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, "utf-8")


def append_step_summary(path: str | Path, text: str) -> None:
    """Append to ``$GITHUB_STEP_SUMMARY`` (several steps may write to the same file)."""
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")
