"""Write the requested report files of one scorecard (the plugin and `visionevals report`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from pytest_visionevals.scoring import Scorecard


def write_reports(
    card: Scorecard,
    facts: Mapping[str, dict[str, Any]],
    *,
    json: Path | str | None = None,
    md: Path | str | None = None,
    html_path: Path | str | None = None,
    step_summary: Path | str | None = None,
    gate_lines: Sequence[str] = (),
    gate: Mapping[str, Any] | None = None,
    complete: bool = True,
    model_order: Sequence[str] | None = None,
) -> list[tuple[str, str]]:
    """Write each report whose path is given; returns ``(what, path)`` for each written.

    ``step_summary`` (``$GITHUB_STEP_SUMMARY``) gets the Markdown appended when the
    scorecard has any model.
    """
    # Each renderer imported only when its report is asked for: a run that writes none
    # loads none of them (HTML alone is ~30 KB of code plus its charts).
    written: list[tuple[str, str]] = []
    if json:
        from pytest_visionevals.report import json_report

        doc = json_report.build_document(
            card, dict(facts), gate, complete=complete, model_order=list(model_order or []) or None
        )
        json_report.write(json, doc)
        written.append(("JSON", str(json)))
    if md or (step_summary and card.models):
        from pytest_visionevals.report import markdown

        md_text = markdown.render(card, dict(facts), gate_lines)
        if md:
            markdown.write(md, md_text)
            written.append(("Markdown", str(md)))
        if step_summary and card.models:
            markdown.append_step_summary(step_summary, md_text)
            written.append(("GitHub step summary", str(step_summary)))
    if html_path:
        from pytest_visionevals.report import html

        html.write(html_path, html.render(card, dict(facts), gate_lines))
        written.append(("HTML", str(html_path)))
    return written
