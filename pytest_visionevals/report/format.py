"""Number formatting shared by the terminal, Markdown and HTML reports."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_visionevals.paired import TEST_LABELS

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pytest_visionevals.paired import Comparison
    from pytest_visionevals.scoring import CellStats, ModelSummary, Scorecard

# One colour per model, in column order: the case boxes and the charts use the same.
PALETTE = ["#d62728", "#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]


def model_colours(models: Sequence[str]) -> dict[str, str]:
    return {m: PALETTE[i % len(PALETTE)] for i, m in enumerate(models)}


def pct(value: float | None, digits: int = 1) -> str:
    """0.8 -> '80%', 0.8889 -> '88.9%' (trailing zeros dropped, like the leaderboard)."""
    if value is None:
        return "n/a"
    text = f"{100 * value:.{digits}f}".rstrip("0").rstrip(".")
    return f"{text}%"


def rate_cell(cell: CellStats | None, interval: bool = True, digits: int = 1) -> str:
    """'80% (12/15) [55-93]'; 'n/a' when nothing was answered."""
    if cell is None:
        return "-"
    if cell.pass_rate is None:
        if cell.attempted and cell.skipped_unsupported == cell.attempted:
            return "not supported"
        return f"n/a (0/{cell.attempted - cell.skipped_unsupported})"
    text = f"{pct(cell.pass_rate, digits)} ({cell.passed}/{cell.answered})"
    ci = cell.interval
    if interval and ci is not None:
        text += f" [{100 * ci[0]:.0f}-{100 * ci[1]:.0f}]"
    return text


def seconds(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def tokens(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def money(value: float | None, known: bool = True) -> str:
    """Never '$0' for an unknown cost."""
    if not known:
        return "unknown"
    if value is None:
        return "n/a"
    if value == 0:
        return "$0"
    if value >= 1:
        return f"${value:.2f}"
    return f"${value:.4f}" if value >= 0.0001 else f"${value:.6f}"


def colour_for(rate: float | None) -> str | None:
    if rate is None:
        return None
    if rate >= 0.8:
        return "green"
    return "yellow" if rate >= 0.5 else "red"


Row = tuple[str, list[tuple[str, str | None]]]  # label, [(cell text, colour)]


def summary_rows(card: Scorecard, interval: bool = True) -> list[Row]:
    """The side-by-side rows shared by the terminal table and the Markdown report."""
    ms = card.models
    rows: list[Row] = [
        (
            "Overall score",
            [(rate_cell(m.overall, interval, 2), colour_for(m.overall.pass_rate)) for m in ms],
        ),
        (
            "Macro avg (categories)",
            [(pct(m.macro_average, 2), colour_for(m.macro_average)) for m in ms],
        ),
    ]
    for cat in card.categories:
        cells = []
        for m in ms:
            cell = m.categories.get(cat)
            cells.append((rate_cell(cell, interval), colour_for(cell.pass_rate if cell else None)))
        rows.append((cat, cells))
    rows += [
        ("Avg response time", [(seconds(m.latency_avg_s), None) for m in ms]),
        (
            "p50 / p95 latency",
            [(f"{seconds(m.latency_p50_s)} / {seconds(m.latency_p95_s)}", None) for m in ms],
        ),
        ("Median input tokens", [(tokens(m.median_input_tokens), None) for m in ms]),
        ("Median output tokens", [(tokens(m.median_output_tokens), None) for m in ms]),
        ("Est. cost / task", [(money(m.cost_per_task_usd, m.cost_known), None) for m in ms]),
        ("Est. cost total", [(money(m.total_cost_usd, m.cost_known), None) for m in ms]),
    ]
    if any(m.judge_cost_usd is not None for m in ms):
        rows.append(("Judge cost", [(money(m.judge_cost_usd), None) for m in ms]))
    rows.append(("Coverage", [(_coverage(m), "yellow" if m.incomplete else None) for m in ms]))
    rows.append(
        ("Errors", [(str(m.overall.errors), "red" if m.overall.errors else None) for m in ms])
    )
    rows.append(("Skipped", [(str(m.overall.skipped), None) for m in ms]))
    if card.has_repeats:
        k = max(m.repeats.k for m in ms if m.repeats)
        rows.append(
            (f"pass@{k}", [(pct(m.repeats.pass_at_k) if m.repeats else "-", None) for m in ms])
        )
        rows.append(
            (f"pass^{k}", [(pct(m.repeats.pass_pow_k) if m.repeats else "-", None) for m in ms])
        )
        rows.append(
            (
                "Flaky cases",
                [
                    (
                        str(len(m.repeats.flaky)) if m.repeats else "-",
                        "yellow" if m.repeats and m.repeats.flaky else None,
                    )
                    for m in ms
                ],
            )
        )
    return rows


def _coverage(m: ModelSummary) -> str:
    eligible = m.overall.attempted - m.overall.skipped_unsupported
    return f"{pct(m.coverage)} ({m.overall.answered}/{eligible})"


def replay_note(card: Scorecard) -> str | None:
    """How many answers were replayed from the response cache, and recorded where."""
    replayed = sum(m.replayed for m in card.models)
    if not replayed:
        return None
    answered = sum(m.overall.answered for m in card.models)
    where: dict[str, int] = {}
    for m in card.models:
        for endpoint, n in m.replayed_from.items():
            where[endpoint] = where.get(endpoint, 0) + n
    sources = ", ".join(f"{endpoint} ({n})" for endpoint, n in sorted(where.items()))
    return (
        f"Replayed from the response cache: {replayed} of {answered} answers, "
        f"recorded against {sources}."
    )


def batch_note(card: Scorecard) -> str | None:
    """How many answers came through provider batches in this run, and what they cost."""
    batched = [m for m in card.models if m.batched]
    if not batched:
        return None
    parts = []
    for m in batched:
        cost = "cost unknown" if m.batch_cost_usd is None else money(m.batch_cost_usd)
        ids = ", ".join(m.batch_ids)
        parts.append(f"{m.model} {m.batched} ({cost}; {ids})")
    return "Answered through provider batches, at batch prices: " + "; ".join(parts) + "."


def header(m: ModelSummary) -> str:
    return f"{m.model} *" if m.incomplete else m.model


def display_names(facts: Mapping[str, Mapping[str, Any]] | None) -> dict[str, str]:
    """{catalog name: the catalog's display name}, for the models whose name differs."""
    out: dict[str, str] = {}
    for name, f in (facts or {}).items():
        label = f.get("display_name")
        if isinstance(label, str) and label.strip() and label != name:
            out[name] = label
    return out


def model_title(name: str, display: Mapping[str, str]) -> str:
    """'GPT-5.2 (gpt-5.2)': the display name a person reads, with the name they select."""
    label = display.get(name)
    return f"{label} ({name})" if label else name


INCOMPLETE_NOTE = "* incomplete: coverage below 90%, figures are not comparable"


def fact_rows(facts: dict[str, dict[str, Any]], models: list[str]) -> list[list[str]]:
    """'Models in this comparison' rows: one per model, from catalog facts."""
    rows = []
    display = display_names(facts)
    for name in models:
        f = facts.get(name) or {}
        price = f.get("pricing") or {}
        prices = " / ".join(
            "?" if price.get(k) is None else f"${price[k]:g}"
            for k in ("input", "cached_input", "output")
        )
        ctx = f.get("context_window")
        rows.append(
            [
                model_title(name, display),
                f.get("organization") or "?",
                f.get("weights") or "?",
                f.get("license") or "?",
                f"{ctx:,}" if isinstance(ctx, int) else "?",
                f.get("parameters") or "?",
                f.get("release_date") or "?",
                prices,
            ]
        )
    return rows


FACT_HEADERS = [
    "Model",
    "Organization",
    "Weights",
    "Licence",
    "Context window",
    "Parameters",
    "Released",
    "USD / 1M tokens (in / cached / out)",
]


# -- paired comparisons ----------------------------------------------------------------------


def points(fraction: float) -> str:
    """0.124 -> '+12.4' (percentage points, signed)."""
    value = round(100 * fraction, 1)
    return f"{value + 0.0:+.1f}"  # + 0.0: never '-0.0'


def interval_points(ci: tuple[float, float] | None) -> str:
    """(0.031, 0.217) -> '[3.1, 21.7]'."""
    if ci is None:
        return "n/a"
    return f"[{round(100 * ci[0], 1) + 0.0:.1f}, {round(100 * ci[1], 1) + 0.0:.1f}]"


def p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def comparison_line(c: Comparison) -> str:
    """'gpt-5.2 vs gemma-4-26b-a4b: +12.4 pts [3.1, 21.7], p = 0.012, n = 89'."""
    s = c.stats
    if s.diff is None or s.ci95 is None:
        return f"{c.a} vs {c.b}: no case answered by both"
    ci = interval_points(s.ci95)
    return f"{c.a} vs {c.b}: {points(s.diff)} pts {ci}, {p_text(s.p_value)}, n = {s.n}"


def comparison_methods(card: Scorecard) -> str:
    """Which interval and test the comparisons use (the test depends on repeats)."""
    tests = sorted({c.stats.test for c in card.comparisons if c.stats.n})
    names = " / ".join(TEST_LABELS[t] for t in tests) or TEST_LABELS["mcnemar-exact"]
    return f"Newcombe paired 95% interval; p: {names}, two-sided"


COMPARISON_HEADERS = [
    "A vs B",
    "Scope",
    "n",
    "Both",
    "A only",
    "B only",
    "Neither",
    "A - B (pts)",
    "95% CI (pts)",
    "p",
]


def comparison_rows(card: Scorecard, categories: bool) -> list[list[str]]:
    """Table rows of the paired comparisons: overall ones, or per category (n > 0 only)."""
    rows = []
    for c in card.comparisons:
        if (c.category is not None) != categories:
            continue
        s = c.stats
        if categories and s.n == 0:
            continue
        rows.append(
            [
                f"{c.a} vs {c.b}",
                c.category or "Overall",
                str(s.n),
                str(s.both),
                str(s.a_only),
                str(s.b_only),
                str(s.neither),
                points(s.diff) if s.diff is not None else "n/a",
                interval_points(s.ci95),
                p_text(s.p_value).removeprefix("p = ") if s.n else "n/a",
            ]
        )
    return rows


def comparison_note(card: Scorecard) -> str:
    repeats = (
        " With repeats a case counts by its mean pass over its repeats (a tie between 0% and "
        "100% is in n but in none of the four columns)."
        if card.has_repeats
        else ""
    )
    return (
        "Paired on the cases both models answered: Both / A only / B only / Neither count "
        "those cases by who passed; A - B is the difference in pass rate on them, in "
        f"percentage points ({comparison_methods(card)}).{repeats} Many pairs and categories "
        "are compared at once: about 1 in 20 comparisons with no real difference still shows "
        "p < 0.05 (see docs/reports.md, 'Paired comparisons')."
    )
