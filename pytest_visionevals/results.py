"""CaseResult: the plain-builtins record of one finished item.

It travels on pytest's TestReport (attribute ``vision_result``) so that xdist workers
deliver it to the controller; execnet carries only exact builtins, so every value here
is a str, int, float, bool, None, list or dict of those.
"""

from __future__ import annotations

from typing import Any, TypedDict

RESULT_SCHEMA_VERSION = 1


class CaseResult(TypedDict):
    schema: int
    nodeid: str
    file: str  # eval file, relative to rootdir, posix
    case_id: str
    model: str
    category: str
    task: str
    tags: list[str]
    repeat_index: int
    outcome: str  # passed | failed | error | skipped
    score: float | None  # 0..1 for passed/failed, None otherwise
    explanation: str
    reason: str | None  # error or skip reason
    answer: str | None
    parsed: Any
    verdict: dict[str, Any] | None  # Verdict.to_dict()
    prompt: str
    images: list[str]  # image paths (resolved, posix) or URLs
    input_tokens: int | None
    cached_input_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int | None
    latency_s: float | None
    total_time_s: float | None
    cost_usd: float | None
    judge_cost_usd: float | None
    judge_input_tokens: int | None
    judge_output_tokens: int | None
    replayed: bool
    attempts: int


def empty_result(**fields: Any) -> CaseResult:
    """A CaseResult with every field defaulted; ``fields`` override."""
    base: dict[str, Any] = {
        "schema": RESULT_SCHEMA_VERSION,
        "nodeid": "",
        "file": "",
        "case_id": "",
        "model": "",
        "category": "",
        "task": "",
        "tags": [],
        "repeat_index": 0,
        "outcome": "skipped",
        "score": None,
        "explanation": "",
        "reason": None,
        "answer": None,
        "parsed": None,
        "verdict": None,
        "prompt": "",
        "images": [],
        "input_tokens": None,
        "cached_input_tokens": None,
        "output_tokens": None,
        "reasoning_tokens": None,
        "latency_s": None,
        "total_time_s": None,
        "cost_usd": None,
        "judge_cost_usd": None,
        "judge_input_tokens": None,
        "judge_output_tokens": None,
        "replayed": False,
        "attempts": 0,
    }
    unknown = set(fields) - set(base)
    if unknown:
        raise TypeError(f"unknown CaseResult fields: {sorted(unknown)}")
    base.update(fields)
    return base  # type: ignore[return-value]
