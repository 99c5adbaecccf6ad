"""The one owner of an item's outcome: the rules that make a CaseResult passed, failed,
error or skipped, and the scoring of an answer. pytest-free.

The rules (the README's outcome table):

* skipped: the model does not do the task (``unsupported``, not held against coverage),
  no credentials, over budget, or the run stopped issuing calls.
* error: the call never produced an answer (429 after retries, timeout, 5xx, unparseable
  response), or no verdict could be produced (the judge was unreachable, an assertion or
  the plugin crashed). Errors lower coverage, not the score.
* passed / failed: the model answered and the assertions passed or not.

``settle`` is called at each stage an item goes through (before the call, after it, after
scoring, after a crash) and is the only code that writes ``outcome``, ``skip_kind`` and
``reason``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_visionevals.assertions.base import AnswerContext, ScoringUnavailable
from pytest_visionevals.images import shown_path
from pytest_visionevals.results import CaseResult

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pytest_visionevals.assertions.base import JudgeFn, Verdict
    from pytest_visionevals.calls import CallOutcome
    from pytest_visionevals.cases import Case
    from pytest_visionevals.images import LazyImage, ResolvedImage
    from pytest_visionevals.models import ModelSpec
    from pytest_visionevals.results import Outcome


class ScoringError(Exception):
    """Scoring could not produce a verdict (e.g. the judge model was unreachable).

    The item's outcome is *error*: it lowers coverage, not the score.
    """


@functools.lru_cache(maxsize=1024)
def _relative(file: Path, rootdir: Path) -> str:
    try:
        return file.resolve().relative_to(rootdir.resolve()).as_posix()
    except ValueError:
        return file.as_posix()


def new_result(
    case: Case,
    model: ModelSpec,
    *,
    nodeid: str,
    rootdir: Path,
    repeat_index: int,
    images: Sequence[ResolvedImage | LazyImage],
) -> CaseResult:
    """The item's record before anything happened to it."""
    return CaseResult(
        nodeid=nodeid,
        file=_relative(case.file, rootdir),
        case_id=case.id,
        model=model.name,
        category=case.category,
        task=case.task,
        tags=list(case.tags),
        repeat_index=repeat_index,
        prompt=case.prompt,
        images=[shown_path(img) for img in images],
        source=(_relative(case.source, rootdir) if isinstance(case.source, Path) else case.source),
        row=case.row,
    )


def settle(
    result: CaseResult,
    *,
    unsupported: str | None = None,
    call: CallOutcome | None = None,
    verdict: Verdict | None = None,
    error: str | None = None,
) -> Outcome | None:
    """Record what is known now and decide the outcome (see the module docstring).

    Exactly one keyword is given. Returns the outcome decided, or None after a call that
    produced an answer (the outcome waits for its verdict).
    """
    if unsupported is not None:
        result.outcome, result.skip_kind, result.reason = "skipped", "unsupported", unsupported
    elif call is not None:
        _copy_call_facts(result, call)
        if call.status == "skipped":
            result.outcome, result.reason = "skipped", call.reason or "skipped"
            result.skip_kind = call.skip_kind or "other"
        elif call.status == "error" or call.completion is None:
            # An empty answer is an error too: the engine says so in the reason.
            result.outcome, result.reason = "error", call.reason or "no answer"
        else:
            return None
    elif verdict is not None:
        _copy_verdict(result, verdict)
        result.outcome = "passed" if verdict.passed else "failed"
    elif error is not None:
        result.outcome, result.reason = "error", error
    else:
        raise TypeError("settle() needs one of unsupported, call, verdict or error")
    return result.outcome


def _copy_call_facts(result: CaseResult, call: CallOutcome) -> None:
    """Tokens, latency, cost and replay of the call (also for errors: the attempts made)."""
    if call.request is not None:
        result.prompt = call.request.prompt
    result.cache_warning = call.warning
    comp = call.completion
    if comp is None:
        result.attempts = call.attempts
        result.total_time_s = call.total_time_s
        return
    u = comp.usage
    result.answer = comp.text
    result.input_tokens = u.input_tokens
    result.cached_input_tokens = u.cached_input_tokens
    result.output_tokens = u.output_tokens
    result.reasoning_tokens = u.reasoning_tokens
    result.batch_id = comp.batch_id
    # A batch answer has no response time of its own (the batch took hours, not it).
    result.latency_s = None if comp.batch_id else float(comp.latency_s)
    result.total_time_s = None if comp.batch_id else float(comp.total_time_s)
    result.cost_usd = None if comp.cost_usd is None else float(comp.cost_usd)
    result.replayed = bool(comp.replayed)
    result.endpoint = comp.endpoint
    result.attempts = int(comp.attempts)


def _copy_verdict(result: CaseResult, verdict: Verdict) -> None:
    jcost, jin, jout = _judge_totals(verdict)
    verdict_dict = to_builtins(verdict.to_dict())  # converted once; "parsed" is inside it
    result.score = float(verdict.score)
    result.explanation = verdict.explanation
    result.parsed = verdict_dict["parsed"]
    result.verdict = verdict_dict
    result.judge_cost_usd = jcost
    result.judge_input_tokens = jin
    result.judge_output_tokens = jout


def answer_context(
    case: Case, model: ModelSpec, call: CallOutcome, judge: JudgeFn | None = None
) -> AnswerContext:
    """What the assertions see of an answered call."""
    comp = call.completion
    assert comp is not None
    assert call.request is not None
    return AnswerContext(
        text=comp.text,
        model=model.name,
        box_format=model.box_format,
        images=call.request.images,
        prompt=call.request.prompt,
        case_id=case.id,
        judge=judge,
    )


def evaluate(case: Case, model: ModelSpec, call: CallOutcome, judge: JudgeFn | None) -> Verdict:
    """Run the case's assertions over the answer; ScoringError when no verdict comes."""
    ctx = answer_context(case, model, call, judge)
    try:
        return case.expect.evaluate(ctx)
    except ScoringUnavailable as exc:
        raise ScoringError(str(exc)) from None


def _judge_totals(verdict: Verdict) -> tuple[float | None, int | None, int | None]:
    calls: list[dict[str, Any]] = []
    for v in verdict.walk():
        calls.extend(v.details.get("judge_calls", []) or [])
    if not calls:
        return None, None, None
    costs = [c.get("cost_usd") for c in calls]
    cost = None if any(c is None for c in costs) else float(sum(c for c in costs if c is not None))
    tin = sum(int(c.get("input_tokens") or 0) for c in calls)
    tout = sum(int(c.get("output_tokens") or 0) for c in calls)
    return cost, tin, tout


def to_builtins(value: Any) -> Any:
    """Coerce to exact builtins (execnet refuses numpy scalars, str subclasses, tuples ok)."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_builtins(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [to_builtins(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return to_builtins(value.item())
    if hasattr(value, "tolist"):  # numpy array
        return to_builtins(value.tolist())
    return repr(value)
