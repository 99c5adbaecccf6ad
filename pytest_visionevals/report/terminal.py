"""The side-by-side terminal table (models as columns), as lines of coloured segments.

The core does not know pytest: ``render`` returns segments ``(text, colour)``; the plugin
writes them with terminalreporter markup, ``render_text`` joins them for files and tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_visionevals.paired import TEST_LABELS
from pytest_visionevals.report.format import (
    INCOMPLETE_NOTE,
    batch_note,
    comparison_line,
    header,
    money,
    replay_note,
    summary_rows,
)
from pytest_visionevals.untrusted import printable

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pytest_visionevals.scoring import Scorecard

Segment = tuple[str, str | None]  # text, colour name for terminal markup (green/red/...)
Line = list[Segment]

GAP = 2
MIN_LABEL = 12
MAX_FLAKY_LISTED = 10


MAX_REASONS_LISTED = 3


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "~"


def render(
    card: Scorecard,
    width: int = 100,
    gate_lines: Sequence[str] = (),
    display_names: Mapping[str, str] | None = None,
) -> list[Line]:
    """Lines of the table, fitted to ``width`` by shortening the label column if needed.

    ``display_names`` ({catalog name: display name}) adds a header line above the catalog
    names; it never widens a column (a long display name is cut). Every name, category and
    reason is shown through ``printable``: no escape sequence of theirs reaches the terminal.
    """
    if not card.models:
        return [[("vision scorecard: no eval results", "yellow")]]
    # Row labels are categories or our own names; the cells are our figures.
    rows = [(printable(label), cells) for label, cells in summary_rows(card)]
    heads = [printable(header(m)) for m in card.models]
    col_w = [
        max(len(heads[i]), *(len(cells[i][0]) for _, cells in rows)) for i in range(len(heads))
    ]
    label_w = max(len(label) for label, _ in rows)
    spare = width - (label_w + sum(w + GAP for w in col_w))
    if spare < 0:
        label_w = max(MIN_LABEL, label_w + spare)

    out: list[Line] = []
    names = display_names or {}
    if any(m.model in names for m in card.models):
        top: Line = [(" " * label_w, None)]
        for m, w in zip(card.models, col_w, strict=False):
            label = printable(names.get(m.model, ""))
            top.append((" " * GAP + _fit(label, w).ljust(w), "bold"))
        out.append(top)
    head: Line = [(" " * label_w, None)]
    for text, w in zip(heads, col_w, strict=False):
        head.append((" " * GAP + _fit(text, w).ljust(w), "bold"))
    out.append(head)
    out.append([("-" * (label_w + sum(w + GAP for w in col_w)), None)])
    for label, cells in rows:
        line: Line = [(_fit(label, label_w).ljust(label_w), None)]
        for (text, colour), w in zip(cells, col_w, strict=False):
            line.append((" " * GAP, None))
            line.append((text.ljust(w), colour))
        out.append(line)
    notes: list[Line] = []
    replayed = replay_note(card)
    if replayed:
        notes.append([(printable(replayed), None)])
    batched = batch_note(card)
    if batched:
        notes.append([(printable(batched), None)])
    if any(m.incomplete for m in card.models):
        notes.append([(INCOMPLETE_NOTE, "yellow")])
    if card.judge_cost_usd is not None:
        notes.append([("Judge calls are billed apart from the models' own cost.", None)])
    for m in card.models:
        if not m.repeats:
            continue
        for c in m.repeats.flaky[:MAX_FLAKY_LISTED]:
            notes.append(
                [
                    (
                        printable(
                            f"flaky: {m.model} {c.file}::{c.case_id} "
                            f"({c.passed}/{c.answered} passed)"
                        ),
                        "yellow",
                    )
                ]
            )
        hidden = len(m.repeats.flaky) - MAX_FLAKY_LISTED
        if hidden > 0:
            notes.append([(printable(f"flaky: {m.model} ... and {hidden} more"), "yellow")])
    for m in card.models:
        for label, reasons, colour in (
            ("skipped", m.skip_reasons, "yellow"),
            ("errors", m.error_reasons, "red"),
        ):
            shown = list(reasons.items())[:MAX_REASONS_LISTED]
            for reason, n in shown:
                # Never cut: the reason is what to do (e.g. the variable to set).
                notes.append([(printable(f"{label}: {m.model}: {n} x {reason}"), colour)])
            hidden = len(reasons) - len(shown)
            if hidden > 0:
                notes.append(
                    [(printable(f"{label}: {m.model}: ... and {hidden} more reasons"), colour)]
                )
    out.extend(notes)
    out.extend(_comparisons(card))
    if gate_lines:
        out.append([])
    for text in map(printable, gate_lines):
        colour = "green" if "PASS" in text.split()[:3] else "red"
        if text.startswith("vision gate:"):
            colour = "green" if "PASSED" in text else "red"
        out.append([(text, colour)])
    # Trailing spaces from padding are noise in files and snapshots.
    return [_rstrip(line) for line in out]


def _comparisons(card: Scorecard) -> list[Line]:
    """One line per pair of models, overall (per category in the Markdown/HTML reports)."""
    comps = card.overall_comparisons()
    if not comps:
        return []
    tests = " / ".join(sorted({TEST_LABELS[c.stats.test] for c in comps if c.stats.n}))
    head = (
        "Paired comparisons, cases both answered "
        f"(A - B pts [95% CI], p: {tests or TEST_LABELS['mcnemar-exact']}):"
    )
    lines: list[Line] = [[], [(head, "bold")]]
    lines += [[("  " + printable(comparison_line(c)), None)] for c in comps]
    return lines


def _rstrip(line: Line) -> Line:
    trimmed = list(line)
    while trimmed and not trimmed[-1][0].strip():
        trimmed.pop()
    if trimmed:
        text, colour = trimmed[-1]
        trimmed[-1] = (text.rstrip(), colour)
    return trimmed


def render_text(
    card: Scorecard,
    width: int = 100,
    gate_lines: Sequence[str] = (),
    display_names: Mapping[str, str] | None = None,
) -> str:
    lines = render(card, width, gate_lines, display_names)
    return "\n".join("".join(t for t, _ in line) for line in lines)


def batch_lines(info: Mapping[str, Any]) -> list[Segment]:
    """The terminal summary's lines on the run's provider batches (``--vision-batch``):
    each batch id with its model, state and counts, so a later run (or a person) can find
    it; ``info`` is ``batch.RunSummary.report_dict()``, merged across xdist workers."""
    out: list[Segment] = []
    for b in info.get("batches") or []:
        state = b.get("provider_state") or b.get("state")
        head = (
            f"vision batch {b.get('id')} ({b.get('model')}): {state}, {b.get('requests')} requests"
        )
        colour = None
        if not b.get("collected"):
            waited = info.get("timeout_s")
            after = f" after --vision-batch-timeout {waited:g} s" if waited is not None else ""
            text = f"{head}, still running{after}: re-run with the same options to collect it"
            colour = "yellow"
        else:
            cost = b.get("cost_usd")
            paid = money(cost) + " at batch prices" if cost is not None else "cost unknown"
            text = f"{head}, {b.get('answered')} answered ({paid})"
            if b.get("errors"):
                text += f", {b.get('errors')} without an answer"
                colour = "red"
            if b.get("error"):
                text += f"; batch error: {b.get('error')}"
                colour = "red"
        if not b.get("submitted_now"):
            text += " [submitted by an earlier run]"
        out.append((printable(text), colour))
    for problem in info.get("problems") or []:
        out.append((printable(f"vision batch: {problem}"), "red"))
    return out
