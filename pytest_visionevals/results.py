"""CaseResult: the record of one finished item, and the kinds of outcome it can have.

It travels on pytest's TestReport as a plain dict (``to_dict``; attribute
``vision_result``) so that xdist workers deliver it to the controller: execnet carries only
exact builtins, so every value here is a str, int, float, bool, None, list or dict of those.
Reports and the scorecard read CaseResults only (``from_dict`` rebuilds one from a report,
a JSON-lines stream or a ``--vision-json`` file).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from collections.abc import Mapping

RESULT_SCHEMA_VERSION = 1

Outcome = Literal["passed", "failed", "error", "skipped"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
ANSWERED: tuple[Outcome, ...] = ("passed", "failed")

# Why an item was skipped. Only "unsupported" (the model cannot do the task) is not held
# against coverage; the others mean the run could have answered and did not.
SkipKind = Literal["unsupported", "credentials", "budget", "stopped", "other"]
SKIP_KINDS: tuple[SkipKind, ...] = get_args(SkipKind)
# Results written before ``skip_kind`` existed say "not supported ..." in their reason.
_LEGACY_UNSUPPORTED = "not supported"


@dataclass(slots=True)
class CaseResult:
    schema: int = RESULT_SCHEMA_VERSION
    nodeid: str = ""
    file: str = ""  # eval file, relative to rootdir, posix
    case_id: str = ""
    model: str = ""
    category: str = ""
    task: str = ""
    tags: list[str] = field(default_factory=list)
    repeat_index: int = 0
    outcome: Outcome = "skipped"  # set by pytest_visionevals.outcome only
    skip_kind: SkipKind | None = None  # for skipped results
    score: float | None = None  # 0..1 for passed/failed, None otherwise
    explanation: str = ""
    reason: str | None = None  # error or skip reason
    answer: str | None = None
    parsed: Any = None
    verdict: dict[str, Any] | None = None  # Verdict.to_dict()
    prompt: str = ""
    images: list[str] = field(default_factory=list)  # image paths (posix) or URLs
    source: str | None = None  # a dataset row's data file (relative to rootdir, posix)
    row: int | None = None  # ... and its row number (docs/datasets.md says how rows count)
    input_tokens: int | None = None
    cached_input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    latency_s: float | None = None
    total_time_s: float | None = None
    cost_usd: float | None = None
    judge_cost_usd: float | None = None
    judge_input_tokens: int | None = None
    judge_output_tokens: int | None = None
    replayed: bool = False
    endpoint: str | None = None  # where the answer came from (recorded there, if replayed)
    cache_warning: str | None = None  # e.g. a damaged recording, called again
    attempts: int = 0
    batch_id: str | None = None  # the provider batch that answered it (--vision-batch)

    @property
    def answered(self) -> bool:
        return self.outcome in ANSWERED

    @property
    def unsupported(self) -> bool:
        """Skipped because the model cannot do the task: not held against coverage."""
        return self.outcome == "skipped" and self.skip_kind == "unsupported"

    def to_dict(self) -> dict[str, Any]:
        # Shallow: every value is already a builtin (the outcome module converts verdicts).
        return {name: getattr(self, name) for name in FIELD_NAMES}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CaseResult:
        """Rebuild from ``to_dict`` output; unknown keys (a newer writer) are ignored."""
        known = {k: v for k, v in data.items() if k in _FIELD_SET}
        result = cls(**known)
        if (
            "skip_kind" not in data
            and result.outcome == "skipped"
            and _LEGACY_UNSUPPORTED in (result.reason or "").lower()
        ):
            result.skip_kind = "unsupported"
        return result


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(CaseResult))
_FIELD_SET = frozenset(FIELD_NAMES)
