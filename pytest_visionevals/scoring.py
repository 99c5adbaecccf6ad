"""Scorecard: turn CaseResults into per model x category statistics.

Counting rules (documented in docs/reports.md, pinned by tests/test_scoring.py):

* answered = passed + failed. Pass rate = passed / answered, with a Wilson 95% interval.
  Errors (the call never produced an answer) lower coverage, not the score.
* Skips are excluded from every figure except their own count. A skip of kind
  ``unsupported`` (the model does not do the task) is not held against coverage; any other
  skip (missing credentials, over budget, ...) is.
* coverage = answered / (attempted - unsupported skips); attempted counts every result.
* The "Overall" score is the micro average over every answered case of the model (as the
  public leaderboard's 68.66% = 46/67); the macro average over categories is given apart.
* Latency is averaged over answered cases (replayed answers keep their original latency).
* Cost per task = mean cost over answered cases; unknown (None) as soon as one answered case
  lacks a cost, never $0. Judge costs are summed apart.
* A model is "incomplete" when its coverage is below 90% (the leaderboard's rule).
* Paired comparisons of every pair of models, overall and per category, on the cases both
  answered: see paired.py.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from pytest_visionevals.paired import Comparison
    from pytest_visionevals.results import CaseResult

INCOMPLETE_BELOW = 0.9
Z95 = 1.959963984540054


def wilson_interval(passed: float, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a binomial proportion; None when n == 0.

    ``passed`` may be fractional (a sum of per-case means over repeats, see paired.py).
    """
    if n <= 0:
        return None
    if not 0 <= passed <= n:
        raise ValueError(f"passed={passed} must be within 0..n={n}")
    p = passed / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # Clamp float noise so 0/n and n/n give exactly 0 and 1.
    return max(0.0, centre - half), min(1.0, centre + half)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default method); None for no values."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q={q} must be within 0..100")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _median(values: Sequence[float]) -> float | None:
    return float(statistics.median(values)) if values else None


@dataclass(frozen=True)
class CellStats:
    """Counts and pass rate of one model over a set of results (a category, or all)."""

    attempted: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    skipped_unsupported: int = 0
    score_sum: float = 0.0  # partial-credit scores of answered cases

    @property
    def answered(self) -> int:
        return self.passed + self.failed

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.answered if self.answered else None

    @property
    def interval(self) -> tuple[float, float] | None:
        return wilson_interval(self.passed, self.answered)

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.answered if self.answered else None

    @property
    def coverage(self) -> float | None:
        eligible = self.attempted - self.skipped_unsupported
        return self.answered / eligible if eligible > 0 else None

    @classmethod
    def of(cls, results: Iterable[CaseResult]) -> CellStats:
        counts = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
        unsupported = 0
        attempted = 0
        score_sum = 0.0
        for r in results:
            attempted += 1
            outcome = r.outcome
            if outcome not in counts:
                raise ValueError(f"result {r.nodeid or r.case_id!r}: unknown outcome {outcome!r}")
            counts[outcome] += 1
            if r.unsupported:
                unsupported += 1
            if outcome in ("passed", "failed"):
                score = r.score
                score_sum += float(score) if score is not None else (outcome == "passed")
        return cls(
            attempted,
            counts["passed"],
            counts["failed"],
            counts["error"],
            counts["skipped"],
            unsupported,
            score_sum,
        )

    def to_dict(self) -> dict[str, Any]:
        interval = self.interval
        return {
            "attempted": self.attempted,
            "answered": self.answered,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "skipped_unsupported": self.skipped_unsupported,
            "pass_rate": _round(self.pass_rate),
            "ci95": [_round(interval[0]), _round(interval[1])] if interval else None,
            "mean_score": _round(self.mean_score),
            "coverage": _round(self.coverage),
        }


def _round(value: float | None, digits: int = 6) -> float | None:
    # Rounded so the JSON is stable across summation orders (xdist delivers in any order).
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class CaseRepeats:
    """One case of one model across its repeats."""

    file: str
    case_id: str
    category: str
    runs: int  # results, skips excluded
    answered: int
    passed: int

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.answered if self.answered else None

    @property
    def flaky(self) -> bool:
        return 0 < self.passed < self.answered


@dataclass(frozen=True)
class RepeatStats:
    """pass@k and pass^k over cases answered at least once (k = answered repeats)."""

    k: int  # largest number of repeats of any case
    cases: tuple[CaseRepeats, ...]

    @property
    def answered_cases(self) -> list[CaseRepeats]:
        return [c for c in self.cases if c.answered]

    @property
    def pass_at_k(self) -> float | None:
        cases = self.answered_cases
        return sum(c.passed > 0 for c in cases) / len(cases) if cases else None

    @property
    def pass_pow_k(self) -> float | None:
        cases = self.answered_cases
        return sum(c.passed == c.answered for c in cases) / len(cases) if cases else None

    @property
    def flaky(self) -> list[CaseRepeats]:
        return [c for c in self.cases if c.flaky]

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "pass_at_k": _round(self.pass_at_k),
            "pass_pow_k": _round(self.pass_pow_k),
            "flaky": [f"{c.file}::{c.case_id}" for c in self.flaky],
            "cases": [
                {**asdict(c), "pass_rate": _round(c.pass_rate), "flaky": c.flaky}
                for c in self.cases
            ],
        }


@dataclass(frozen=True)
class ModelSummary:
    model: str
    overall: CellStats
    categories: dict[str, CellStats]
    latency_avg_s: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    median_input_tokens: float | None
    median_output_tokens: float | None
    cost_per_task_usd: float | None  # None = unknown (or nothing answered)
    total_cost_usd: float | None  # None = unknown
    cost_known: bool
    judge_cost_usd: float | None  # None when no judge call reported a cost
    repeats: RepeatStats | None
    # Why items were skipped (other than "not supported") or errored, most frequent first:
    # the line that tells a newcomer which environment variable to set.
    skip_reasons: dict[str, int] = field(default_factory=dict)
    error_reasons: dict[str, int] = field(default_factory=dict)
    # Answers replayed from the response cache, and the endpoints they were recorded at.
    replayed: int = 0
    replayed_from: dict[str, int] = field(default_factory=dict)
    # Answers a provider batch gave in this run (--vision-batch), their cost at batch
    # prices (None: unknown or none) and the batches' ids.
    batched: int = 0
    batch_cost_usd: float | None = None
    batch_ids: list[str] = field(default_factory=list)

    @property
    def macro_average(self) -> float | None:
        rates = [c.pass_rate for c in self.categories.values() if c.pass_rate is not None]
        return sum(rates) / len(rates) if rates else None

    @property
    def coverage(self) -> float | None:
        return self.overall.coverage

    @property
    def incomplete(self) -> bool:
        cov = self.coverage
        return cov is None or cov < INCOMPLETE_BELOW

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "overall": self.overall.to_dict(),
            "macro_average": _round(self.macro_average),
            "coverage": _round(self.coverage),
            "incomplete": self.incomplete,
            "categories": {name: c.to_dict() for name, c in self.categories.items()},
            "latency_s": {
                "avg": _round(self.latency_avg_s),
                "p50": _round(self.latency_p50_s),
                "p95": _round(self.latency_p95_s),
            },
            "median_input_tokens": self.median_input_tokens,
            "median_output_tokens": self.median_output_tokens,
            "cost_per_task_usd": _round(self.cost_per_task_usd, 9),
            "total_cost_usd": _round(self.total_cost_usd, 9),
            "cost_known": self.cost_known,
            "judge_cost_usd": _round(self.judge_cost_usd, 9),
            "repeats": self.repeats.to_dict() if self.repeats else None,
            "skip_reasons": dict(self.skip_reasons),
            "error_reasons": dict(self.error_reasons),
            "replayed": self.replayed,
            "replayed_from": dict(self.replayed_from),
            "batched": self.batched,
            "batch_cost_usd": _round(self.batch_cost_usd, 9),
            "batch_ids": list(self.batch_ids),
        }


def _reasons(results: Iterable[CaseResult], outcome: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        if r.outcome == outcome and not r.unsupported:
            reason = r.reason or outcome
            counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _floats(values: Iterable[float | int | None]) -> list[float]:
    return [float(v) for v in values if v is not None]


def _summarise(model: str, results: list[CaseResult], categories: list[str]) -> ModelSummary:
    answered = [r for r in results if r.outcome in ("passed", "failed")]
    latencies = _floats(r.latency_s for r in answered)
    inputs = _floats(r.input_tokens for r in answered)
    outputs = _floats(r.output_tokens for r in answered)
    costs = [r.cost_usd for r in answered]
    cost_known = all(c is not None for c in costs)
    known_costs = [float(c) for c in costs if c is not None]
    cost_per_task = sum(known_costs) / len(known_costs) if cost_known and known_costs else None
    # Money spent by calls that did not end answered (errors) still counts in the total.
    spent = _floats(r.cost_usd for r in results)
    total = sum(spent) if cost_known else None
    judge = _floats(r.judge_cost_usd for r in results)
    replayed_from: dict[str, int] = {}
    for r in answered:
        if r.replayed:
            where = r.endpoint or "unknown endpoint"
            replayed_from[where] = replayed_from.get(where, 0) + 1
    # Replays of an earlier run's batch answers are replays, not this run's batch answers.
    batched = [r for r in answered if r.batch_id and not r.replayed]
    batch_costs = [r.cost_usd for r in batched]
    by_category = {
        name: CellStats.of(r for r in results if r.category == name) for name in categories
    }
    return ModelSummary(
        model=model,
        overall=CellStats.of(results),
        categories={k: v for k, v in by_category.items() if v.attempted},
        latency_avg_s=sum(latencies) / len(latencies) if latencies else None,
        latency_p50_s=percentile(latencies, 50),
        latency_p95_s=percentile(latencies, 95),
        median_input_tokens=_median(inputs),
        median_output_tokens=_median(outputs),
        cost_per_task_usd=cost_per_task,
        total_cost_usd=total,
        cost_known=cost_known,
        judge_cost_usd=sum(judge) if judge else None,
        repeats=_repeats(results),
        skip_reasons=_reasons(results, "skipped"),
        error_reasons=_reasons(results, "error"),
        replayed=sum(replayed_from.values()),
        replayed_from=dict(sorted(replayed_from.items())),
        batched=len(batched),
        batch_cost_usd=(
            sum(float(c) for c in batch_costs if c is not None)
            if batched and all(c is not None for c in batch_costs)
            else None
        ),
        batch_ids=sorted({str(r.batch_id) for r in batched}),
    )


def _repeats(results: list[CaseResult]) -> RepeatStats | None:
    if not any(r.repeat_index > 0 for r in results):
        return None
    groups: dict[tuple[str, str], list[CaseResult]] = {}
    for r in results:
        groups.setdefault((r.file, r.case_id), []).append(r)
    cases = []
    for (file, case_id), group in sorted(groups.items()):
        kept = [r for r in group if r.outcome != "skipped"]
        cases.append(
            CaseRepeats(
                file=file,
                case_id=case_id,
                category=group[0].category,
                runs=len(kept),
                answered=sum(r.outcome in ("passed", "failed") for r in kept),
                passed=sum(r.outcome == "passed" for r in kept),
            )
        )
    k = max((len(g) for g in groups.values()), default=0)
    return RepeatStats(k=k, cases=tuple(cases))


def sort_results(results: Iterable[CaseResult]) -> list[CaseResult]:
    """Deterministic order whatever order xdist delivered them in."""
    return sorted(
        results,
        key=lambda r: (r.file, r.case_id, r.model, r.repeat_index, r.nodeid),
    )


@dataclass
class Scorecard:
    models: list[ModelSummary]
    categories: list[str]
    results: list[CaseResult] = field(repr=False)
    # Every pair of models in column order (A before B): overall, then each category.
    comparisons: list[Comparison] = field(default_factory=list, repr=False)

    @classmethod
    def build(
        cls, results: Iterable[CaseResult], model_order: Sequence[str] | None = None
    ) -> Scorecard:
        """Aggregate results. Columns follow ``model_order`` (then any other model, sorted)."""
        ordered = sort_results(results)
        present = {r.model for r in ordered}
        names = [m for m in dict.fromkeys(model_order or ()) if m in present]
        names += sorted(present - set(names))
        categories = sorted({r.category for r in ordered})
        models = [_summarise(m, [r for r in ordered if r.model == m], categories) for m in names]
        # Imported here: paired.py builds on this module's Wilson interval.
        from pytest_visionevals import paired

        comparisons = paired.compare_models(paired.tallies_by_model(ordered), names, categories)
        return cls(models=models, categories=categories, results=ordered, comparisons=comparisons)

    def model(self, name: str) -> ModelSummary:
        for m in self.models:
            if m.model == name:
                return m
        raise KeyError(name)

    @property
    def total_cost_usd(self) -> float | None:
        totals = [m.total_cost_usd for m in self.models]
        return None if any(t is None for t in totals) else sum(t or 0.0 for t in totals)

    @property
    def judge_cost_usd(self) -> float | None:
        costs = [m.judge_cost_usd for m in self.models if m.judge_cost_usd is not None]
        return sum(costs) if costs else None

    @property
    def cache_warnings(self) -> list[str]:
        """Damaged recordings met during the run (each called again), once each."""
        return sorted({r.cache_warning for r in self.results if r.cache_warning})

    @property
    def has_repeats(self) -> bool:
        return any(m.repeats is not None for m in self.models)

    def overall_comparisons(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.category is None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": [m.model for m in self.models],
            "categories": list(self.categories),
            "total_cost_usd": _round(self.total_cost_usd, 9),
            "judge_cost_usd": _round(self.judge_cost_usd, 9),
            "per_model": {m.model: m.to_dict() for m in self.models},
            "comparisons": [c.to_dict() for c in self.comparisons],
        }
