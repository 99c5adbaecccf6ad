"""Batch mode (``--vision-batch``): a run's calls through the providers' batch APIs.

Before the first item runs, ``BatchRunner.run`` takes the run's call jobs and, for every
model whose provider has a batch API (``providers.supports_batch``):

1. builds each job's request with its own ``build_request`` and keeps the ones without a
   recorded answer (the response cache decides, as for a direct call, per record mode);
2. collects the batches recorded by an earlier run that carry any of them (a re-run
   after Ctrl-C, kill -9 or a CI timeout) instead of submitting them again;
3. submits the rest as new batches, one or more per model (split by the API's count and
   size limits and ``--vision-batch-size``), each recorded in the state directory
   (``<cache dir>/.batches``) the moment it is created, before any polling;
4. polls until every batch has ended (or ``--vision-batch-timeout``), then stores every
   answer in the response cache, priced at the model's batch prices and marked with its
   batch id, and records every request's error.

The items then run through the unchanged engine: a recorded answer replays; a request
that failed inside a batch, or whose batch is still running, is an ``error`` outcome with
the provider's message or the batch id (``BatchLedger``). Nothing here imports pytest.

Under pytest-xdist every worker collects every item: ``lead_or_wait`` lets exactly one
process (the holder of a file lock in the state directory) run the batch step; the others
wait for its summary file and read the same ledger. A leader that dies leaves its
batches recorded: whoever takes the lock next collects them.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_visionevals.cache import (
    DamagedRecording,
    RecordMode,
    RequestKey,
    ResponseCache,
    atomic_write_json,
    model_dirname,
    request_key,
)
from pytest_visionevals.cost import compute_cost
from pytest_visionevals.engine import EMPTY_ANSWER
from pytest_visionevals.providers import make_batch_api, supports_batch
from pytest_visionevals.providers.base import (
    BATCH_ENDED,
    BatchAPI,
    BatchLine,
    MissingCredentials,
    ProviderError,
)
from pytest_visionevals.providers.endpoints import endpoint

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from pytest_visionevals.calls import CallJob, Request
    from pytest_visionevals.models import ModelSpec

STATE_DIRNAME = ".batches"  # under the cache dir; no model's directory starts with "."
LOCK_NAME = "submit.lock"
RUNS_DIRNAME = "runs"
DEFAULT_POLL_S = 30.0
CUSTOM_ID_CHARS = 40  # of the request's digest: unique per batch, within every API's limit
_RUN_FILES_KEPT_S = 7 * 24 * 3600


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class BatchRecord:
    """One submitted batch, as the state file keeps it (plain builtins)."""

    id: str
    model: str  # catalog name
    provider: str
    model_id: str
    endpoint: str  # where it was submitted (``endpoints.endpoint``)
    api: str  # what the batch was created for: "/v1/responses", "batchGenerateContent"
    created_at: str
    # In submission order: {"custom_id", "digest", "job_key", "label", "summary"}; the
    # summary is the request key's, for the cache entry of its answer.
    requests: list[dict[str, Any]]
    state: str = "pending"  # BatchState
    provider_state: str = ""
    completed: int | None = None
    failed: int | None = None
    error: str | None = None  # why the whole batch failed
    collected: bool = False  # its results were read and stored
    answered: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # custom_id -> why no answer
    cost_usd: float | None = None  # of its answers, at batch prices; None: unknown
    collected_at: str | None = None

    @property
    def total(self) -> int:
        return len(self.requests)

    @property
    def ended(self) -> bool:
        return self.state in BATCH_ENDED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> dict[str, Any]:
        """What reports show of it (no per-request data)."""
        return {
            "id": self.id,
            "model": self.model,
            "state": self.state,
            "provider_state": self.provider_state,
            "requests": self.total,
            "answered": self.answered,
            "errors": len(self.errors),
            "collected": self.collected,
            "cost_usd": self.cost_usd,
            "error": self.error,
            "created_at": self.created_at,
        }


class BatchStore:
    """The state directory: one JSON file per batch, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def for_cache(cls, cache_dir: Path) -> BatchStore:
        return cls(Path(cache_dir) / STATE_DIRNAME)

    def path(self, model: str, batch_id: str) -> Path:
        return self.root / model_dirname(model) / f"{model_dirname(batch_id)}.json"

    def save(self, record: BatchRecord) -> None:
        atomic_write_json(self.path(record.model, record.id), record.to_dict())

    def load(self, model: str) -> list[BatchRecord]:
        """Every recorded batch of a model, oldest first (unreadable files skipped)."""
        out: list[BatchRecord] = []
        base = self.root / model_dirname(model)
        if not base.is_dir():
            return out
        for path in base.glob("*.json"):
            try:
                out.append(BatchRecord.from_dict(json.loads(path.read_text("utf-8"))))
            except (OSError, ValueError, TypeError):
                continue
        return sorted(out, key=lambda r: (r.created_at, r.id))

    # -- the leader's status line, for the xdist controller to draw -----------------------
    def progress_path(self) -> Path:
        return self.root / "progress.txt"

    def write_progress(self, text: str) -> None:
        with contextlib.suppress(OSError):
            path = self.progress_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".progress.{os.getpid()}")
            tmp.write_text(text, "utf-8")
            os.replace(tmp, path)

    def read_progress(self, since: float) -> str | None:
        """The latest line a leader published, unless older than ``since`` (epoch s)."""
        path = self.progress_path()
        try:
            if path.stat().st_mtime < since:
                return None
            return path.read_text("utf-8")
        except OSError:
            return None

    # -- one run's summary, for the processes that did not lead --------------------------
    def run_path(self, run_id: str) -> Path:
        return self.root / RUNS_DIRNAME / f"{model_dirname(run_id)}.json"

    def read_run(self, run_id: str) -> RunSummary | None:
        try:
            data = json.loads(self.run_path(run_id).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return RunSummary.from_dict(data) if isinstance(data, dict) else None

    def write_run(self, run_id: str, summary: RunSummary) -> None:
        atomic_write_json(self.run_path(run_id), summary.to_dict())
        self._prune_runs()

    def _prune_runs(self) -> None:
        cutoff = time.time() - _RUN_FILES_KEPT_S
        with contextlib.suppress(OSError):
            for path in (self.root / RUNS_DIRNAME).glob("*.json"):
                with contextlib.suppress(OSError):
                    if path.stat().st_mtime < cutoff:
                        path.unlink()


@dataclass
class RunSummary:
    """What the batch step of one run did: its batches and every unanswered request."""

    batches: list[BatchRecord] = field(default_factory=list)  # submitted or collected now
    submitted: list[str] = field(default_factory=list)  # ids created by this run
    # {model: {digest: reason}}: requests that could not be submitted.
    not_submitted: dict[str, dict[str, str]] = field(default_factory=dict)
    timed_out: bool = False
    timeout_s: float | None = None
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "batches": [b.to_dict() for b in self.batches],
            "submitted": list(self.submitted),
            "not_submitted": {m: dict(d) for m, d in self.not_submitted.items()},
            "timed_out": self.timed_out,
            "timeout_s": self.timeout_s,
            "problems": list(self.problems),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        return cls(
            batches=[BatchRecord.from_dict(b) for b in data.get("batches") or []],
            submitted=[str(s) for s in data.get("submitted") or []],
            not_submitted={
                str(m): {str(k): str(v) for k, v in d.items()}
                for m, d in (data.get("not_submitted") or {}).items()
            },
            timed_out=bool(data.get("timed_out")),
            timeout_s=data.get("timeout_s"),
            problems=[str(p) for p in data.get("problems") or []],
        )

    def report_dict(self) -> dict[str, Any]:
        """What the terminal summary shows (plain builtins: it travels on a TestReport)."""
        return {
            "batches": [
                {**b.summary(), "submitted_now": b.id in self.submitted} for b in self.batches
            ],
            "timed_out": self.timed_out,
            "timeout_s": self.timeout_s,
            "problems": list(self.problems),
        }


class BatchLedger:
    """What the engine asks on a cache miss: did this request go through a batch of this
    run without an answer? (The answers themselves are in the response cache.)"""

    def __init__(self, summary: RunSummary, *, failed_models: Iterable[str] = ()) -> None:
        self._reasons: dict[tuple[str, str], str] = {}
        self._answered: set[tuple[str, str]] = set()
        # The batch step itself failed: no call of these models goes out at full price.
        self._failed = {m: "; ".join(summary.problems) for m in failed_models}
        for model, reasons in summary.not_submitted.items():
            for digest, reason in reasons.items():
                self._reasons[(model, digest)] = reason
        # Oldest first, so a later batch's word on a request wins.
        for b in sorted(summary.batches, key=lambda r: (r.created_at, r.id)):
            for q in b.requests:
                key = (b.model, str(q["digest"]))
                cid = str(q["custom_id"])
                if b.collected and cid not in b.errors:
                    self._answered.add(key)
                    self._reasons.pop(key, None)
                    continue
                self._answered.discard(key)
                self._reasons[key] = _unanswered_reason(b, cid, summary)

    def unanswered(self, model: str, digest: str) -> str | None:
        """Why a request of this run's batches has no answer (None: not in a batch)."""
        return self._reasons.get((model, digest)) or self._failed.get(model)

    def answered_now(self, model: str, digest: str) -> bool:
        """Whether a batch collected by this run answered it (paid now, not a replay)."""
        return (model, digest) in self._answered


def _unanswered_reason(b: BatchRecord, custom_id: str, summary: RunSummary) -> str:
    where = f"batch {b.id} ({b.model})"
    if not b.collected:
        counts = f", {b.completed}/{b.total} done" if b.completed is not None else ""
        waited = (
            f" after --vision-batch-timeout {summary.timeout_s:g} s"
            if summary.timeout_s is not None
            else ""
        )
        return (
            f"no answer yet: {where} is {b.provider_state or b.state}{counts}{waited}; "
            "re-run with the same options to collect it"
        )
    error = b.errors.get(custom_id) or "no answer"
    if b.error:
        error += f" (batch error: {b.error})"
    if b.state in ("expired", "cancelled", "failed"):
        return (
            f"{where} {b.state} before answering: {error}; a re-run submits the requests "
            "left without an answer again"
        )
    return f"{where}: {error}"


@dataclass(frozen=True)
class BatchView:
    """One batch on the live status line."""

    model: str
    id: str
    state: str  # the provider's own word for it
    total: int
    completed: int | None
    failed: int | None


@dataclass
class _Pending:
    """Requests waiting to be submitted for one model (one batch in the making)."""

    lines: list[BatchLine] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0


class BatchRunner:
    """The batch step of one run (see the module docstring). One instance per run."""

    def __init__(
        self,
        cache: ResponseCache,
        store: BatchStore,
        *,
        record_mode: RecordMode = "once",
        max_requests: int | None = None,
        poll_s: float = DEFAULT_POLL_S,
        timeout_s: float | None = None,
        api_factory: Callable[[ModelSpec], BatchAPI] | None = None,
        progress: Callable[[Sequence[BatchView], float], None] | None = None,
        on_cost: Callable[[float], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        stop: threading.Event | None = None,
    ) -> None:
        if max_requests is not None and max_requests < 1:
            raise ValueError(f"batch size must be >= 1, got {max_requests}")
        self.cache = cache
        self.store = store
        self.record_mode: RecordMode = record_mode
        self.max_requests = max_requests
        self.poll_s = max(0.01, poll_s)
        self.timeout_s = timeout_s
        self._factory = api_factory or make_batch_api
        self._progress = progress
        self._on_cost = on_cost
        self._clock = clock
        self._stop = stop or threading.Event()
        self._apis: dict[str, BatchAPI] = {}
        self._specs: dict[str, ModelSpec] = {}

    # -- the whole step -----------------------------------------------------------------
    def run(self, jobs: Iterable[CallJob]) -> RunSummary:
        started = self._clock()
        summary = RunSummary(timeout_s=self.timeout_s)
        by_model: dict[str, list[CallJob]] = {}
        for job in jobs:
            if supports_batch(job.model):
                by_model.setdefault(job.model.name, []).append(job)
                self._specs[job.model.name] = job.model
        active: list[BatchRecord] = []
        try:
            for model, model_jobs in by_model.items():
                active += self._plan_model(self._specs[model], model_jobs, summary)
            summary.batches = active
            self._poll(active, summary, started)
        finally:
            for api in self._apis.values():
                close = getattr(api, "close", None)
                if callable(close):
                    with contextlib.suppress(Exception):  # best effort: all is recorded
                        close()
        return summary

    def _api(self, spec: ModelSpec) -> BatchAPI:
        api = self._apis.get(spec.name)
        if api is None:
            api = self._apis[spec.name] = self._factory(spec)
        return api

    def _plan_model(
        self, spec: ModelSpec, jobs: list[CallJob], summary: RunSummary
    ) -> list[BatchRecord]:
        """Submit the model's unanswered requests; returns the batches to poll."""
        try:
            api = self._api(spec)
            api.check_credentials()
        except MissingCredentials:
            return []  # the engine skips these items, naming the variable to set
        where = endpoint(spec)
        open_records = [
            r
            for r in self.store.load(spec.name)
            if not r.collected
            and r.endpoint == where
            and r.model_id == spec.model_id
            and r.provider == spec.provider
        ]
        carried = {str(q["digest"]): r for r in open_records for q in r.requests}
        wanted_open: dict[str, BatchRecord] = {}
        seen: set[str] = set()
        batches: list[BatchRecord] = []
        pending = _Pending()
        cap = min(api.max_requests, self.max_requests or api.max_requests)
        failed_here = summary.not_submitted.setdefault(spec.name, {})
        for job in jobs:
            if self._stop.is_set():
                break
            found = self._unanswered(job)
            if found is None or found[1].digest in seen:
                continue
            request, key = found
            seen.add(key.digest)
            record = carried.get(key.digest)
            if record is not None:
                wanted_open[record.id] = record
                continue
            custom_id = key.digest[:CUSTOM_ID_CHARS]
            try:
                line = api.prepare(custom_id, request)
            except Exception as exc:
                failed_here[key.digest] = (
                    f"could not prepare the batch request: {type(exc).__name__}: {exc}"
                )
                continue
            if pending.lines and (
                len(pending.lines) >= cap or pending.size + line.size > api.max_bytes
            ):
                batches += self._submit(spec, api, pending, summary)
                pending = _Pending()
            pending.lines.append(line)
            pending.size += line.size
            pending.requests.append(
                {
                    "custom_id": custom_id,
                    "digest": key.digest,
                    "job_key": job.key,
                    "label": job.label,
                    "summary": key.summary,
                }
            )
        if pending.lines:
            batches += self._submit(spec, api, pending, summary)
        if not failed_here:
            del summary.not_submitted[spec.name]
        return [*wanted_open.values(), *batches]

    def _unanswered(self, job: CallJob) -> tuple[Request, RequestKey] | None:
        """The request and key of a job without a usable recording (None: none to send)."""
        try:
            request = job.build_request()
        except Exception:
            return None  # the engine's lookup builds it again and reports it on the item
        key = request_key(request, job.repeat_index)
        try:
            if self.cache.load(job.model.name, key) is not None:
                return None
        except DamagedRecording:
            pass  # re-recorded, as the engine would
        if self.record_mode == "once" and self.cache.conflicting(job.model.name, job.key, key):
            return None  # the engine refuses it (the item's request changed)
        return request, key

    def _submit(
        self, spec: ModelSpec, api: BatchAPI, pending: _Pending, summary: RunSummary
    ) -> list[BatchRecord]:
        n = len(summary.submitted) + 1
        name = f"visionevals-{spec.name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%S}-{n}"
        try:
            batch_id = api.submit(pending.lines, name)
        except ProviderError as exc:
            reason = f"submitting the batch failed: {exc.reason}"
            failed = summary.not_submitted.setdefault(spec.name, {})
            for q in pending.requests:
                failed[str(q["digest"])] = reason
            summary.problems.append(f"{spec.name}: {reason}")
            return []
        record = BatchRecord(
            id=batch_id,
            model=spec.name,
            provider=spec.provider,
            model_id=spec.model_id,
            endpoint=endpoint(spec),
            api=api.endpoint,
            created_at=_now(),
            requests=pending.requests,
        )
        # Recorded before anything else: a run killed from here on collects it next time.
        self.store.save(record)
        summary.submitted.append(batch_id)
        return [record]

    # -- polling and collecting -----------------------------------------------------------
    def _poll(self, records: list[BatchRecord], summary: RunSummary, started: float) -> None:
        active = [r for r in records if not r.collected]
        deadline = None if self.timeout_s is None else started + self.timeout_s
        next_poll = self._clock()
        while active:
            if self._clock() >= next_poll:
                for record in list(active):
                    if self._check(record):
                        active.remove(record)
                next_poll = self._clock() + self.poll_s
            self._show(records, started)
            if not active or self._stop.is_set():
                break
            now = self._clock()
            if deadline is not None and now >= deadline:
                summary.timed_out = True
                break
            wait = next_poll - now
            if deadline is not None:
                wait = min(wait, deadline - now)
            # Short slices: the status line's clock moves, and Ctrl-C lands at once.
            self._stop.wait(max(0.0, min(wait, 1.0)))

    def _show(self, records: Sequence[BatchRecord], started: float) -> None:
        if self._progress is None:
            return
        views = [
            BatchView(r.model, r.id, r.provider_state or r.state, r.total, r.completed, r.failed)
            for r in records
        ]
        self._progress(views, self._clock() - started)

    def _check(self, record: BatchRecord) -> bool:
        """Poll one batch; collect it once it has ended. True when it is done with."""
        spec = self._specs[record.model]
        api = self._api(spec)
        try:
            status = api.status(record.id)
        except ProviderError as exc:
            if exc.retryable:
                return False  # a passing fault: ask again at the next poll
            # The API does not know it (another account, purged): nothing to collect.
            record.state, record.provider_state = "failed", "unknown to the API"
            record.error = exc.reason
            self._give_up(record, f"the batch cannot be read: {exc.reason}")
            return True
        changed = (status.provider_state, status.completed, status.failed) != (
            record.provider_state,
            record.completed,
            record.failed,
        )
        record.state, record.provider_state = status.state, status.provider_state
        record.completed, record.failed = status.completed, status.failed
        record.error = status.error
        if not status.ended:
            if changed:
                self.store.save(record)
            return False
        try:
            self._collect(spec, api, record)
        except ProviderError as exc:
            if exc.retryable:
                self.store.save(record)
                return False
            self._give_up(record, f"its results cannot be read: {exc.reason}")
        return True

    def _give_up(self, record: BatchRecord, why: str) -> None:
        for q in record.requests:
            record.errors.setdefault(str(q["custom_id"]), why)
        record.collected, record.collected_at = True, _now()
        self.store.save(record)

    def _collect(self, spec: ModelSpec, api: BatchAPI, record: BatchRecord) -> None:
        answers = api.results(record.id, [str(q["custom_id"]) for q in record.requests])
        pricing = spec.pricing.batch()
        where = endpoint(spec)
        costs: list[float | None] = []
        record.errors = {}
        record.answered = 0
        for q, answer in zip(record.requests, answers, strict=True):
            cid = str(q["custom_id"])
            completion = answer.completion
            if completion is None:
                record.errors[cid] = answer.error or "no answer"
                continue
            if not completion.text.strip():
                record.errors[cid] = EMPTY_ANSWER
                continue
            completion.batch_id = record.id
            completion.endpoint = where
            completion.cost_usd = compute_cost(completion.usage, pricing)
            key = RequestKey(digest=str(q["digest"]), summary=dict(q["summary"]))
            # Stored first: whatever happens next, the answer is paid for and kept.
            self.cache.store(
                spec.name,
                key,
                completion,
                model=spec,
                job_key=str(q.get("job_key") or ""),
                label=str(q.get("label") or ""),
            )
            record.answered += 1
            costs.append(completion.cost_usd)
        known = [c for c in costs if c is not None]
        record.cost_usd = sum(known) if len(known) == len(costs) else None
        if known and self._on_cost is not None:
            self._on_cost(sum(known))
        record.collected, record.collected_at = True, _now()
        self.store.save(record)


def lead_or_wait(
    store: BatchStore,
    run_id: str,
    lead: Callable[[], RunSummary],
    *,
    interval_s: float = 0.2,
    waiting: Callable[[], None] | None = None,
) -> RunSummary:
    """Run ``lead`` in exactly one process of the run, and hand its summary to all.

    The leader holds a file lock in the state directory while it submits and polls (so
    two runs sharing a cache never submit the same request twice either); the others
    wait for the run's summary file. A leader that dies releases the lock: the next one
    to take it finds the recorded batches and collects them.
    """
    from filelock import FileLock, Timeout

    store.root.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(store.root / LOCK_NAME))
    while True:
        done = store.read_run(run_id)
        if done is not None:
            return done
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if waiting is not None:
                waiting()
            time.sleep(interval_s)
            continue
        try:
            done = store.read_run(run_id)  # finished while we waited for the lock
            if done is None:
                done = lead()
                store.write_run(run_id, done)
            return done
        finally:
            lock.release()


def process_run_id() -> str:
    """A run id for a run without xdist (unique per process)."""
    return f"pid{os.getpid()}-{time.time_ns()}"
