"""What the engine runs: a CallJob (one model call of one item) and its CallOutcome.

The collection layer builds jobs; the engine (concurrency, cache, rate limits, budget)
turns them into outcomes; the runner scores outcomes. None of it imports pytest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

    from pytest_visionevals.models import ModelSpec
    from pytest_visionevals.providers.base import Completion, Request

CallStatus = Literal["ok", "error", "skipped"]


@dataclass(frozen=True)
class CallJob:
    key: str  # unique per item: the pytest nodeid (judge jobs: nodeid + "::judge")
    model: ModelSpec
    build_request: Callable[[], Request]  # lazy: reads and encodes images off the main thread
    repeat_index: int = 0
    label: str = ""  # "evals/x.yaml::case-id" for messages (e.g. a missing recording)


@dataclass
class CallOutcome:
    status: CallStatus
    completion: Completion | None = None
    reason: str | None = None  # error or skip reason, never containing secrets
    request: Request | None = None  # the request as sent (image sizes, final prompt)
