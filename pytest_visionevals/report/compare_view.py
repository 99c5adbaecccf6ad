"""The views of a ``visionevals compare`` run: the terminal table and the HTML page.

The page is built from the report's pieces (``report/html.py`` and
``templates/_case.html.j2``): the image with each model's boxes drawn in that model's
colour as an SVG group the model toggles show and hide, each model's answer beside it,
the same autoescaping, Content-Security-Policy and filter script. Model text in the
terminal is one line with control characters escaped, so an answer cannot move the
cursor, recolour the terminal or hide text.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_visionevals.report.charts import charts_html
from pytest_visionevals.report.format import (
    FACT_HEADERS,
    PALETTE,
    fact_rows,
    model_colours,
    money,
    seconds,
)
from pytest_visionevals.report.html import (
    EXPECTED_COLOUR,
    AnswerView,
    Box,
    CaseView,
    ImageView,
    boxes_in_verdict,
    call_meta,
    drawable_boxes,
    environment,
    image_view,
    points_in_verdict,
    verdict_checks,
)
from pytest_visionevals.scoring import Scorecard
from pytest_visionevals.untrusted import printable

if TYPE_CHECKING:
    from pytest_visionevals.compare import CompareRun, ModelAnswer

GAP = "  "
MIN_ANSWER = 16


# -- the terminal ---------------------------------------------------------------------------
def terminal_safe(text: str) -> str:
    """One line, control and format characters (ESC, bidi overrides...) shown escaped."""
    return printable(" ".join(text.split()))


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _located(a: ModelAnswer) -> str:
    found = a.boxes if a.boxes is not None else a.points
    return "-" if found is None else str(len(found))


def _tokens(a: ModelAnswer) -> str:
    if a.input_tokens is None and a.output_tokens is None:
        return "-"
    shown = ["?" if v is None else str(v) for v in (a.input_tokens, a.output_tokens)]
    return " / ".join(shown)


def _cost(a: ModelAnswer) -> str:
    if a.status != "answered" and a.cost_usd is None:
        return "-"
    return money(a.cost_usd, a.cost_usd is not None)  # unknown, never $0, when unpriced


def _row(a: ModelAnswer, locate: bool) -> list[str]:
    text = a.answer if a.status == "answered" else a.reason
    row = [
        terminal_safe(a.model),
        a.shown_status,
        terminal_safe(text or ""),
        "-" if a.latency_s is None else seconds(a.latency_s) + (" *" if a.replayed else ""),
        _tokens(a),
        _cost(a),
    ]
    if locate:
        row.append(_located(a))
    return row


def render_table(run: CompareRun, width: int = 120) -> str:
    """One block per image, one row per model: model, status, answer, latency, tokens,
    cost (and the number of boxes or points for detection / point), then notes."""
    locate = run.spec.task in ("detection", "point")
    heads = ["model", "status", "answer", "latency", "tokens in/out", "cost"]
    if locate:
        heads.append("boxes" if run.spec.task == "detection" else "points")
    blocks = [
        (image, [_row(a, locate) for a in run.answers if a.image == image.source])
        for image in run.images
    ]
    every = [r for _image, rows in blocks for r in rows]
    # The same columns in every block, so images read as one table.
    widths = [max(len(h), *(len(r[i]) for r in every)) for i, h in enumerate(heads)]
    fixed = sum(w for i, w in enumerate(widths) if i != 2) + len(GAP) * (len(heads) - 1)
    widths[2] = max(MIN_ANSWER, min(widths[2], width - fixed))
    lines: list[str] = []
    for image, rows in blocks:
        lines.append(f"{terminal_safe(image.source)} ({image.width}x{image.height})")
        lines.append(GAP.join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip())
        lines.append("-" * min(width, sum(widths) + len(GAP) * (len(heads) - 1)))
        for r in rows:
            cells = [_fit(c, w).ljust(w) for c, w in zip(r, widths, strict=True)]
            lines.append(GAP.join(cells).rstrip())
        lines.append("")
    lines += _notes(run)
    return "\n".join(lines) + "\n"


def _notes(run: CompareRun) -> list[str]:
    """Whole reasons (the table cuts them): models not run, skips with the variable to set,
    errors, answers without boxes; each said once, not once per image."""
    out: list[str] = [f"not run: {terminal_safe(why)}" for _name, why in run.left_out]
    several = len(run.images) > 1
    seen: set[tuple[str, str]] = set()
    for a in run.answers:
        text = a.note if a.status == "answered" else a.reason
        if not text:
            continue
        if (a.model, text) in seen and a.status != "answered":
            continue
        seen.add((a.model, text))
        where = f" on {a.image}" if several and a.status == "answered" else ""
        out.append(terminal_safe(f"{a.model} {a.shown_status}{where}: {text}"))
    replayed = sum(1 for a in run.answers if a.replayed)
    if replayed:
        out.append(
            f"* replayed from the response cache ({replayed} of {len(run.answers)} answers, "
            f"{run.spec.cache_dir}; --record all calls again)"
        )
    counts = {s: sum(1 for a in run.answers if a.shown_status == s) for s in _STATUSES}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    out.append(f"{summary}; {run.network_calls} call(s) made; exit status {run.exit_status}")
    return out


_STATUSES = ("answered", "passed", "failed", "error", "skipped")


# -- the HTML page ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelRow:
    """One model's figures over every image (the page's summary table)."""

    model: str
    colour: str
    answered: str
    passed: str
    latency: str
    tokens: str
    cost: str
    located: str


def _model_rows(run: CompareRun, colours: dict[str, str]) -> list[ModelRow]:
    rows = []
    for name in run.models:
        mine = [a for a in run.answers if a.model == name]
        done = [a for a in mine if a.status == "answered"]
        lat = [a.latency_s for a in done if a.latency_s is not None]
        tin = [a.input_tokens for a in done if a.input_tokens is not None]
        tout = [a.output_tokens for a in done if a.output_tokens is not None]
        costs = [a.cost_usd for a in done]
        cost_known = bool(done) and all(c is not None for c in costs)
        found = [a.boxes if a.boxes is not None else a.points for a in done]
        rows.append(
            ModelRow(
                model=name,
                colour=colours[name],
                answered=f"{len(done)}/{len(mine)}",
                passed=f"{sum(1 for a in done if a.passed)}/{len(done)}" if run.scored else "",
                latency=seconds(sum(lat) / len(lat)) if lat else "n/a",
                tokens=f"{sum(tin)} / {sum(tout)}" if tin or tout else "n/a",
                cost=money(sum(c for c in costs if c is not None), cost_known) if done else "n/a",
                located=str(sum(len(f) for f in found if f is not None))
                if any(f is not None for f in found)
                else "-",
            )
        )
    return rows


def _answer_view(a: ModelAnswer, colour: str) -> AnswerView:
    verdict = a.verdict
    predicted: list[Box] = (
        drawable_boxes(a.boxes)
        if a.boxes is not None
        else boxes_in_verdict(verdict, "predicted_boxes")
    )
    points = (
        [(float(x), float(y)) for x, y in a.points]
        if a.points is not None
        else points_in_verdict(verdict)
    )
    score = verdict.get("score") if verdict else None
    problem = a.reason if a.status != "answered" else a.note
    return AnswerView(
        model=a.model,
        colour=colour,
        outcome=a.shown_status,
        score=f"{score:.2f}" if isinstance(score, (int, float)) else "",
        answer=a.answer or "",
        explanation=str(verdict.get("explanation") or "") if verdict else "",
        reason=problem or "",
        meta=call_meta(
            latency_s=a.latency_s,
            replayed=a.replayed,
            input_tokens=a.input_tokens,
            output_tokens=a.output_tokens,
            cost_usd=a.cost_usd,
            answered=a.status == "answered",
            attempts=a.attempts,
        ),
        predicted=predicted,
        checks=verdict_checks(verdict) if verdict else [],
        points=points,
    )


def case_views(run: CompareRun, colours: dict[str, str]) -> list[CaseView]:
    """One section per image: its answers in model order, expected boxes from --expect."""
    cache: dict[str, ImageView] = {}
    views = []
    for image in run.images:
        shown = image_view(str(image.path), cache)  # a URL's local download, embedded
        name = image.source.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
        view = CaseView(
            key=image.source,
            file=image.source,
            case_id=Path(name).name or image.source,
            category=f"task: {run.spec.task}",
            repeat_index=0,
            prompt=run.spec.prompt,
            images=[dataclasses.replace(shown, name=name)],
            expected=[],
        )
        for a in run.answers:
            if a.image != image.source:
                continue
            view.expected += [
                b for b in boxes_in_verdict(a.verdict, "expected_boxes") if b not in view.expected
            ]
            view.answers.append(_answer_view(a, colours.get(a.model, PALETTE[0])))
        views.append(view)
    return views


def render_html(run: CompareRun, title: str = "visionevals compare") -> str:
    """The self-contained page; ``templates/compare.html.j2`` has a ``charts`` block for
    the score / cost / latency charts of a multi-image run."""
    colours = model_colours(run.models)
    cases = case_views(run, colours)
    expect: Any = run.expect_raw
    charts = ""
    if run.scored and len(run.images) > 1:
        # Several scored cases: the report's score / cost / latency charts.
        charts = charts_html(Scorecard.build(run.results(), run.models), id_prefix="compare")
    return (
        environment()
        .get_template("compare.html.j2")
        .render(
            title=title,
            prompt=run.spec.prompt,
            task=run.spec.task,
            expect=None if expect is None else _flow(expect),
            models=list(run.models),
            colours=colours,
            model_rows=_model_rows(run, colours),
            scored=run.scored,
            locate_header={"detection": "Boxes", "point": "Points"}.get(run.spec.task),
            not_selected=[why for _name, why in run.left_out],
            fact_headers=FACT_HEADERS,
            facts=fact_rows(run.facts, list(run.models)),
            expected_colour=EXPECTED_COLOUR,
            has_expected=any(c.expected for c in cases),
            cases=cases,
            charts=charts,
        )
    )


def _flow(value: Any) -> str:
    import yaml

    text: str = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6)
    return text.strip()
