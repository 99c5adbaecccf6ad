"""The call engine: concurrent model calls ahead of pytest's sequential protocol.

pytest runs items one after another; the engine is told which jobs come next
(``prefetch``), takes up to ``4 x concurrency`` of them ahead of pytest and keeps up to
``concurrency`` calls in flight, in the given order, so an item's setup (``result``)
usually finds its answer already there.
Each job goes through the response cache, the shared budget and rate limits. Nothing
here imports pytest.

Per job, in two stages. Lookup, on one thread, in run order: build the request -> cache
lookup (per record mode). A replayed answer ends there, and so does a request that this
run's provider batches left unanswered (``batch_ledger``, ``--vision-batch``: an error,
never a second, full-price call); the rest go on to the call stage,
on up to ``concurrency`` threads: credentials -> budget -> rate limit -> call -> cost ->
record. Replays are CPU work under one GIL: dozens of threads doing them at once spent
more on contention than on the work. Whatever goes wrong ends as a CallOutcome (error or
skipped); the run never crashes and no other result is lost.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pytest_visionevals.cache import (
    DamagedRecording,
    RecordMode,
    RequestKey,
    ResponseCache,
    request_key,
)
from pytest_visionevals.calls import CallJob, CallOutcome
from pytest_visionevals.cost import compute_cost
from pytest_visionevals.models import ModelSpec
from pytest_visionevals.progress import Stats, StatusLine
from pytest_visionevals.providers.base import MissingCredentials, Provider, ProviderError
from pytest_visionevals.providers.endpoints import endpoint

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from pytest_visionevals.batch import BatchLedger
    from pytest_visionevals.calls import Request
    from pytest_visionevals.ratelimit import Budget, Limit, RateLimiter, SharedState

    # Call stage work: the job, its future, and the lookup's request and key (None when
    # the job skipped the lookup stage and builds them itself).
    _CallItem = tuple[CallJob, Future[CallOutcome], tuple[Request | None, RequestKey | None] | None]

ProviderFactory = Callable[[ModelSpec], Provider]
DEFAULT_CONCURRENCY = 8
# HTTP 200 with no text (a blocked or truncated answer): no answer, so an error outcome.
EMPTY_ANSWER = "empty answer: the model returned no text"
# Finished-but-unclaimed answers kept ahead of pytest, in multiples of the concurrency:
# enough to ride out a slow stretch of scoring, bounded so memory stays flat.
_LOOKAHEAD_FACTOR = 4


def _default_factory(spec: ModelSpec) -> Provider:
    from pytest_visionevals.providers import make_provider

    return make_provider(spec)


@dataclass
class _Counters:
    done: int = 0
    retried: int = 0
    replayed: int = 0
    errors: int = 0
    skipped: int = 0
    spent_usd: float = 0.0
    unpriced: int = 0
    network_calls: int = 0


@dataclass
class _ModelState:
    provider: Provider | None = None
    credentials_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class Engine:
    def __init__(
        self,
        concurrency: int = DEFAULT_CONCURRENCY,
        cache: ResponseCache | None = None,
        record_mode: RecordMode = "once",
        rate_limiter: RateLimiter | None = None,
        budget: Budget | None = None,
        progress: StatusLine | None = None,
        *,
        provider_factory: ProviderFactory | None = None,
        orphaned: Callable[[], bool] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.concurrency = concurrency
        self.cache = cache
        self.record_mode: RecordMode = record_mode
        self.rate_limiter = rate_limiter
        self.budget = budget
        self.progress = progress
        self._factory = provider_factory or _default_factory
        # True once the process that drives this one is gone (an xdist worker whose
        # controller was killed): no call is issued after that.
        self._orphaned = orphaned
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)  # notified when no call is on the wire
        self._futures: dict[str, Future[CallOutcome]] = {}  # submitted, not yet claimed
        self._claimed: set[str] = set()
        self._upcoming: list[CallJob] = []
        self._cursor = 0
        self._running = 0  # submitted and not finished
        self._calling = 0  # in the call stage: credentials, limits, on the wire
        # Call stage work by (job priority, order): an item's judge calls (priority 0)
        # overtake the look-ahead, since pytest is waiting on them.
        self._queue: queue.PriorityQueue[tuple[int, int, _CallItem | None]] = queue.PriorityQueue()
        self._seq = itertools.count()
        # Follow-up jobs (judge calls) by the key of the job whose answer started them.
        self._children: dict[str, list[str]] = {}
        # Damaged recordings found by the lookup, by job key, until the job is settled.
        self._warnings: dict[str, str] = {}
        # Single flight: digests of requests on the wire, so an identical request waits
        # for that answer (and replays it) instead of paying for it twice.
        self._inflight: dict[str, threading.Event] = {}
        # Lookup stage (one thread), used when a cache is consulted before calling.
        self._lookup_queue: queue.SimpleQueue[tuple[CallJob, Future[CallOutcome]] | None] = (
            queue.SimpleQueue()
        )
        self._lookup_thread: threading.Thread | None = None
        self._threads: list[threading.Thread] = []
        self._models: dict[str, _ModelState] = {}
        self._stats = _Counters()
        self._stop = threading.Event()
        self._stop_reason: str | None = None
        self._budget_reason: str | None = None
        self._closed = False
        # Batch mode: what this run's batches left unanswered (set before items run).
        self.batch_ledger: BatchLedger | None = None

    # -- scheduling -------------------------------------------------------------------------
    def prefetch(self, jobs: Sequence[CallJob], start: int = 0) -> None:
        """The upcoming jobs, in run order, from ``jobs[start]`` on (idempotent by key).

        Passing the same list object again with a later ``start`` only advances the
        cursor: the plugin hands over the whole run's job list once, not a window per item.
        """
        with self._lock:
            if jobs is self._upcoming:
                self._cursor = max(self._cursor, start)
            else:
                self._upcoming = jobs if isinstance(jobs, list) else list(jobs)
                self._cursor = start
            self._fill_locked()

    def has_room(self) -> bool:
        """Whether prefetch() would take another job now (cheap; lets callers skip building
        the upcoming list while the look-ahead is full)."""
        with self._lock:
            return (
                not self._stop.is_set()
                and not self._closed
                and len(self._futures) < self.concurrency * _LOOKAHEAD_FACTOR
            )

    def _fill_locked(self) -> None:
        if self._stop.is_set() or self._closed:
            return
        cap = self.concurrency * _LOOKAHEAD_FACTOR
        # Up to ``cap`` jobs are looked up (and queued for a call) ahead of pytest; the
        # ``concurrency`` call threads bound how many calls are on the wire at once.
        while len(self._futures) < cap and self._cursor < len(self._upcoming):
            job = self._upcoming[self._cursor]
            self._cursor += 1
            if job.key in self._futures or job.key in self._claimed:
                continue
            self._submit_locked(job)

    def _uses_lookup(self) -> bool:
        return self.cache is not None and self.record_mode != "all"

    def _submit_locked(self, job: CallJob) -> Future[CallOutcome]:
        self._running += 1
        fut: Future[CallOutcome] = Future()
        self._futures[job.key] = fut
        fut.add_done_callback(self._on_done)
        if self._uses_lookup():
            self._lookup_queue.put((job, fut))
            if self._lookup_thread is None:
                self._lookup_thread = threading.Thread(
                    target=self._lookup_worker, daemon=True, name="visionevals-lookup"
                )
                self._lookup_thread.start()
        else:
            self._put_call_locked(job, (job, fut, None))
        return fut

    def _put_call_locked(self, job: CallJob, item: _CallItem) -> None:
        self._queue.put((job.priority, next(self._seq), item))
        self._ensure_call_threads_locked()

    def _ensure_call_threads_locked(self) -> None:
        if len(self._threads) < min(self._running, self.concurrency):
            # Daemon threads (unlike a ThreadPoolExecutor's): a call stuck on the wire
            # cannot hold up interpreter exit after Ctrl-C. Started lazily, then reused,
            # because a thread start costs the main thread a GIL hand-off (up to 5 ms).
            thread = threading.Thread(
                target=self._worker, daemon=True, name=f"visionevals-call-{len(self._threads)}"
            )
            self._threads.append(thread)
            thread.start()

    def _lookup_worker(self) -> None:
        while True:
            item = self._lookup_queue.get()
            if item is None:
                return
            job, fut = item
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                done, request, key = self._guarded_lookup(job)
                if done is not None:
                    fut.set_result(self._settled(job, done))
                    continue
                with self._lock:
                    self._put_call_locked(job, (job, fut, (request, key)))
            except BaseException as exc:  # _guarded_lookup catches Exception
                fut.set_exception(exc)

    def _worker(self) -> None:
        while True:
            item = self._queue.get()[2]
            if item is None:
                return
            job, fut, looked_up = item
            # A job from the lookup stage is already running; a direct one starts here.
            if looked_up is None and not fut.set_running_or_notify_cancel():
                continue
            try:
                if looked_up is None:
                    fut.set_result(self._run_job(job))
                else:
                    request, key = looked_up
                    fut.set_result(self._settled(job, self._guarded_call(job, request, key)))
            except BaseException as exc:  # the guards catch Exception; keep waiters unblocked
                fut.set_exception(exc)

    def _on_done(self, _fut: Future[CallOutcome]) -> None:
        # No refill here: the look-ahead is bounded by unclaimed futures, which only
        # result() and release() free (and they refill).
        with self._lock:
            self._running -= 1

    def result(self, job: CallJob) -> CallOutcome:
        """The job's outcome, waiting for it (and starting it now if it was never submitted)."""
        with self._lock:
            fut = self._futures.get(job.key)
            if fut is None and (self._stop.is_set() or self._closed):
                return self._skipped_locked(self._stop_reason or "engine closed")
        # Not prefetched (e.g. an item outside the known queue): run it right here rather
        # than queue it behind other items' calls.
        outcome = self._run_job(job) if fut is None else self._wait(fut)
        with self._lock:
            self._futures.pop(job.key, None)
            self._claimed.add(job.key)
            self._fill_locked()
        return outcome

    def release(self, job: CallJob) -> None:
        """The item finished: drop what it did not claim (its answer when it was skipped
        by a marker or a fixture error, judge calls its scoring never asked for), so
        unclaimed answers never block the look-ahead."""
        with self._lock:
            freed = False
            for key in (job.key, *self._children.pop(job.key, ())):
                if self._futures.pop(key, None) is not None:
                    self._claimed.add(key)
                    freed = True
            if freed:
                self._fill_locked()

    def _wait(self, fut: Future[CallOutcome]) -> CallOutcome:
        progress = self.progress
        try:
            if progress is not None:
                try:
                    while not wait([fut], timeout=progress.interval_s).done:
                        progress.show(self.stats())
                finally:
                    progress.clear()
            return fut.result()
        except CancelledError:
            return CallOutcome(
                "skipped", reason=self._stop_reason or "cancelled", skip_kind="stopped"
            )

    def stop_issuing(self, reason: str) -> None:
        """No new calls: queued jobs and later ``result`` calls resolve as skipped."""
        with self._lock:
            if not self._stop.is_set():
                self._stop_reason = reason
                self._stop.set()
            self._upcoming = []

    @property
    def stop_reason(self) -> str | None:
        return self._stop_reason

    def close(self, wait_s: float = 0.0) -> int:
        """Stop issuing, then wait up to ``wait_s`` for the calls already on the wire, so
        answers paid for reach the cache before the process ends. Returns how many were
        still on the wire when the wait ended (they end with the process: daemon threads)."""
        with self._lock:
            self._closed = True
            if not self._stop.is_set():
                self._stop_reason = "session finished"
                self._stop.set()
            self._upcoming = []
            for _ in self._threads:
                self._queue.put((99, next(self._seq), None))
            if self._lookup_thread is not None:
                self._lookup_queue.put(None)
            if wait_s > 0:
                self._idle.wait_for(lambda: self._calling == 0, timeout=wait_s)
            return self._calling

    @property
    def on_the_wire(self) -> int:
        with self._lock:
            return self._calling

    def stats(self) -> Stats:
        with self._lock:
            s = self._stats
            return Stats(
                done=s.done,
                in_flight=self._calling,
                retried=s.retried,
                replayed=s.replayed,
                errors=s.errors,
                skipped=s.skipped,
                spent_usd=s.spent_usd,
                unpriced=s.unpriced,
            )

    @property
    def network_calls(self) -> int:
        """Calls that reached a provider in this process (replays excluded)."""
        with self._lock:
            return self._stats.network_calls

    # -- one job ----------------------------------------------------------------------------
    def _skipped_locked(self, reason: str) -> CallOutcome:
        self._stats.skipped += 1
        return CallOutcome("skipped", reason=reason, skip_kind="stopped")

    def _run_job(self, job: CallJob) -> CallOutcome:
        """Both stages in the calling thread (items outside the prefetch)."""
        done, request, key = self._guarded_lookup(job)
        if done is None:
            done = self._guarded_call(job, request, key)
        return self._settled(job, done)

    def _settled(self, job: CallJob, outcome: CallOutcome) -> CallOutcome:
        """Count the outcome, then start the job's follow-ups (before anyone sees it)."""
        self._account(outcome)
        if self._warnings:
            with self._lock:
                outcome.warning = self._warnings.pop(job.key, None) or outcome.warning
        if job.follow_up is not None and outcome.status == "ok":
            try:
                children = list(job.follow_up(outcome))
            except Exception:  # the item's scoring builds them again and reports it
                children = []
            with self._lock:
                if not (self._stop.is_set() or self._closed):
                    keys = self._children.setdefault(job.key, [])
                    for child in children:
                        if child.key not in self._futures and child.key not in self._claimed:
                            keys.append(child.key)
                            self._submit_locked(child)
        return outcome

    def _guarded_lookup(
        self, job: CallJob
    ) -> tuple[CallOutcome | None, Request | None, RequestKey | None]:
        try:
            return self._lookup(job)
        except Exception as exc:  # never crash the run, never lose other results
            return _crashed(exc), None, None

    def _guarded_call(
        self, job: CallJob, request: Request | None, key: RequestKey | None
    ) -> CallOutcome:
        with self._lock:
            self._calling += 1
        try:
            if request is None:
                request = job.build_request()
            return self._call(job, request, key)
        except Exception as exc:
            return _crashed(exc)
        finally:
            with self._lock:
                self._calling -= 1
                if self._calling == 0:
                    self._idle.notify_all()

    def _account(self, outcome: CallOutcome) -> CallOutcome:
        with self._lock:
            s = self._stats
            if outcome.status == "skipped":
                s.skipped += 1
            else:
                s.done += 1
                if outcome.status == "error":
                    s.errors += 1
            c = outcome.completion
            if c is not None:
                if c.replayed:
                    s.replayed += 1
                elif c.cost_usd is None:
                    s.unpriced += 1
                else:
                    s.spent_usd += c.cost_usd
                if c.attempts > 1 and not c.replayed:
                    s.retried += 1
        return outcome

    def _lookup(self, job: CallJob) -> tuple[CallOutcome | None, Request | None, RequestKey | None]:
        """The outcome when the cache (or a stop) settles the job, else what the call needs."""
        if self._stop.is_set():
            return (
                CallOutcome("skipped", reason=self._stop_reason or "stopped", skip_kind="stopped"),
                None,
                None,
            )
        request = job.build_request()
        spec = job.model
        mode = self.record_mode
        key = request_key(request, job.repeat_index) if self.cache is not None else None
        if self.cache is not None and key is not None and mode != "all":
            try:
                cached = self.cache.load(spec.name, key)
            except DamagedRecording as exc:
                if mode == "none":
                    reason = (
                        f"{exc}; record mode 'none' does not call: re-record it with "
                        "--vision-record new_episodes"
                    )
                    return CallOutcome("error", reason=reason, request=request), request, key
                with self._lock:  # said on the item's result once it is answered again
                    self._warnings[job.key] = f"{exc}; called again and re-recorded"
                return None, request, key
            ledger = self.batch_ledger
            if cached is not None:
                if ledger is not None and ledger.answered_now(spec.name, key.digest):
                    cached.replayed = False  # this run's batch paid for it: not a replay
                return CallOutcome("ok", cached, request=request), request, key
            why = ledger.unanswered(spec.name, key.digest) if ledger is not None else None
            if why is not None:  # it went through a batch: never called again directly
                return CallOutcome("error", reason=why, request=request), request, key
            if mode == "none":
                msg = self.cache.missing_message(
                    spec.name, key, job_key=job.key, label=job.label, mode=mode
                )
                return CallOutcome("error", reason=msg, request=request), request, key
            if mode == "once":
                clash = self.cache.conflicting(spec.name, job.key, key)
                if clash is not None:
                    from pytest_visionevals.cache import describe_difference

                    diff = ", ".join(describe_difference(key.summary, clash.summary))
                    return (
                        CallOutcome(
                            "error",
                            request=request,
                            reason=(
                                f"{job.label or job.key} [{spec.name}] was recorded for a "
                                f"different request ({clash.path}; changed: "
                                f"{diff or 'unknown'}); record mode 'once' does not "
                                "re-record: use --vision-record new_episodes to record the "
                                "new request, or all to re-record everything"
                            ),
                        ),
                        request,
                        key,
                    )
        return None, request, key

    def _call(self, job: CallJob, request: Request, key: RequestKey | None) -> CallOutcome:
        """Single flight -> credentials -> budget -> rate limit -> the call -> record."""
        if self._stop.is_set():
            return self._stopped(request)
        if key is None or self.cache is None or self.record_mode == "all":
            return self._call_provider(job, request, key)
        # An identical request already on the wire (the same judge request of two
        # models' identical answers, say): wait for its answer and replay it.
        while True:
            with self._lock:
                twin = self._inflight.get(key.digest)
                if twin is None:
                    done = self._inflight[key.digest] = threading.Event()
                    break
            while not twin.wait(0.5):
                if self._stop.is_set():
                    return self._stopped(request)
            cached = None
            with contextlib.suppress(DamagedRecording):  # then call it ourselves
                cached = self.cache.load(job.model.name, key)
            if cached is not None:
                return CallOutcome("ok", cached, request=request)
        try:
            return self._call_provider(job, request, key)
        finally:
            with self._lock:
                del self._inflight[key.digest]
            done.set()

    def _call_provider(self, job: CallJob, request: Request, key: RequestKey | None) -> CallOutcome:
        spec = job.model
        provider, cred_error = self._provider(spec)
        if cred_error is not None or provider is None:
            return CallOutcome(
                "skipped",
                reason=cred_error or "no provider",
                request=request,
                skip_kind="credentials",
            )

        if self.budget is not None:
            reason = self._budget_reason or self.budget.exhausted_reason()
            if reason is not None:
                self._budget_reason = reason
                return CallOutcome("skipped", reason=reason, request=request, skip_kind="budget")

        limit = None
        if self.rate_limiter is not None:
            limit = self.rate_limiter.limit_for(spec.name, spec.rate_limit)
            if not self.rate_limiter.acquire(spec.name, limit, stop=self._stop):
                return self._stopped(request)
        if self._orphaned is not None and self._orphaned():
            self.stop_issuing("the process that started this one is gone (xdist controller)")
        if self._stop.is_set():
            return self._stopped(request)

        with self._lock:
            self._stats.network_calls += 1
        # Imported here: replay-only runs never load the retry loop (tenacity, ~0.1 s).
        from pytest_visionevals.providers.retry import gate_retries

        gate = None  # the server counts every attempt: each retry waits for the limiter too
        if self.rate_limiter is not None and limit is not None and limit.active:
            gate = functools.partial(self.rate_limiter.acquire, spec.name, limit, self._stop)
        try:
            with gate_retries(gate):
                completion = provider.complete(request)
        except ProviderError as exc:
            return CallOutcome(
                "error",
                reason=exc.reason,
                request=request,
                attempts=exc.attempts,
                total_time_s=exc.total_time_s,
            )
        completion.replayed = False
        completion.endpoint = endpoint(spec)
        # The engine prices every call from the catalog, whatever the provider reported.
        completion.cost_usd = compute_cost(completion.usage, spec.pricing)
        if not completion.text.strip():
            outcome = CallOutcome("error", completion, request=request, reason=EMPTY_ANSWER)
        else:
            outcome = CallOutcome("ok", completion, request=request)
            # Recorded first: whatever happens next (the process killed), it is paid for.
            if self.cache is not None and key is not None and self.record_mode != "none":
                self.cache.store(
                    spec.name, key, completion, request=request, job_key=job.key, label=job.label
                )
        if self.rate_limiter is not None and limit is not None:
            u = completion.usage
            tokens = (u.input_tokens or 0) + (u.output_tokens or 0)
            self.rate_limiter.record_tokens(spec.name, limit, tokens)
        if self.budget is not None and completion.cost_usd:
            self.budget.add(completion.cost_usd)
        return outcome

    def _stopped(self, request: Request) -> CallOutcome:
        return CallOutcome(
            "skipped", reason=self._stop_reason or "stopped", request=request, skip_kind="stopped"
        )

    def warm_up(self, spec: ModelSpec) -> None:
        """Create the model's provider in the background (SDK imports take seconds).

        Called for every selected model at the first eval file, so the import overlaps
        collection instead of delaying the first calls. Jobs wait for it on the model lock.
        """
        with self._lock:
            if spec.name in self._models or self._stop.is_set():
                return
            self._models[spec.name] = _ModelState()
        threading.Thread(
            target=self._warm, args=(spec,), daemon=True, name=f"visionevals-warm-{spec.name}"
        ).start()

    def _warm(self, spec: ModelSpec) -> None:
        with contextlib.suppress(Exception):  # the first job reports the same failure
            self._provider(spec)

    def _provider(self, spec: ModelSpec) -> tuple[Provider | None, str | None]:
        """One provider per model, created and credential-checked once (thread-safe)."""
        with self._lock:
            state = self._models.setdefault(spec.name, _ModelState())
        with state.lock:
            if state.provider is None and state.credentials_error is None:
                try:
                    provider = self._factory(spec)
                    provider.check_credentials()
                    # Optional hook: build the HTTP client now (its TLS context alone takes
                    # ~0.1 s), during the warm-up, not on the first call's critical path.
                    prepare = getattr(provider, "prepare", None)
                    if callable(prepare):
                        prepare()
                except MissingCredentials as exc:
                    state.credentials_error = str(exc)
                except Exception as exc:  # an unknown provider, a broken SDK install
                    raise RuntimeError(
                        f"model {spec.name}: cannot create its provider: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                else:
                    state.provider = provider
            return state.provider, state.credentials_error


def _crashed(exc: Exception) -> CallOutcome:
    return CallOutcome("error", reason=f"{type(exc).__name__}: {exc}")


def open_engine(
    cache_dir: Path,
    *,
    concurrency: int,
    record_mode: RecordMode,
    rate_limits: Mapping[str, Limit],
    max_cost: float | None,
    run_id: str,
    progress: StatusLine | None = None,
    orphaned: Callable[[], bool] | None = None,
) -> tuple[Engine, SharedState]:
    """An engine over the cache directory's response cache and shared state (rate limits
    and budget, shared by every process of the run); close both when done."""
    from pytest_visionevals.ratelimit import STATE_FILENAME, Budget, RateLimiter, SharedState

    state = SharedState(cache_dir / STATE_FILENAME)
    engine = Engine(
        orphaned=orphaned,
        concurrency=concurrency,
        cache=ResponseCache(cache_dir),
        record_mode=record_mode,
        rate_limiter=RateLimiter(state, rate_limits),
        budget=Budget(state, run_id, max_cost) if max_cost is not None else None,
        progress=progress,
    )
    return engine, state
