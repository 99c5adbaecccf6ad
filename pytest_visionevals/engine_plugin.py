"""pytest wiring of the call engine: options in, upcoming items out, stop on -x / Ctrl-C.

Before each item runs, the engine is told which jobs come next, in run order: without
xdist, ``session.items`` from the current item on (so -k / -m deselection is already
applied); in an xdist worker, the indexes the scheduler has sent that worker and it has
not run yet (``WorkerInteractor.torun``). ``--vision-concurrency`` is the total for the
run: under ``-n W`` each worker gets its share (``worker_share``), so the workers together
keep at most that many calls in flight; rate limits and the budget are shared through
SQLite.

Batch mode (``--vision-batch``, docs/batch.md): before the first item of the process runs,
the batch step (``batch.BatchRunner``) submits, polls and collects the run's batches, in
one process only (``batch.lead_or_wait``), and hands the engine the ledger of what they
left unanswered; the items then score as replays.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from pytest_visionevals import xdist_compat
from pytest_visionevals.batch import (
    BatchLedger,
    BatchRunner,
    BatchStore,
    RunSummary,
    lead_or_wait,
    process_run_id,
)
from pytest_visionevals.cache import (
    RecordMode,
    ResponseCache,
)
from pytest_visionevals.engine import Engine, open_engine
from pytest_visionevals.progress import Stats, StatusLine, combine_stats, format_batches
from pytest_visionevals.providers import supports_batch
from pytest_visionevals.session import SESSION_KEY

if TYPE_CHECKING:
    from collections.abc import Generator, Sequence
    from pathlib import Path

    from pytest_visionevals.batch import BatchView
    from pytest_visionevals.calls import CallJob
    from pytest_visionevals.ratelimit import (
        Limit,
        SharedState,
    )

INTERRUPTED = "interrupted (Ctrl-C)"
# How long the end of a session waits for calls still on the wire (after Ctrl-C, or in a
# worker whose controller died), so answers already paid for reach the cache.
ON_THE_WIRE_GRACE_S = 10.0
# How often the batch leader publishes its progress for the xdist controller to draw.
_PUBLISH_S = 0.5
# Items scanned ahead per prefetch, in multiples of the concurrency (bounds the per-item
# cost on huge suites; the engine keeps at most 4x concurrency answers ahead anyway).
_SCAN_FACTOR = 8


class EnginePlugin:
    """Owns the run's Engine (created on first use); items reach it through ENGINE_KEY."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        opts = config.stash[SESSION_KEY].options
        # The run's total; ``concurrency`` is this process's share of it.
        self.total_concurrency = opts.concurrency
        workerinput = getattr(config, "workerinput", None)
        self.concurrency = (
            worker_share(
                self.total_concurrency,
                int(workerinput.get("workercount", 1)),
                _worker_index(workerinput.get("workerid")),
            )
            if workerinput
            else self.total_concurrency
        )
        self.record_mode: RecordMode = opts.record_mode
        self.cache_dir = opts.cache_dir
        self.rate_limits = opts.rate_limits
        _check_model_names(config, self.rate_limits)
        self.max_cost: float | None = opts.max_cost
        self.is_worker = hasattr(config, "workerinput")
        self.show_progress = (
            not self.is_worker
            and opts.progress
            and config.get_verbosity() >= 0
            and _stdout_is_tty()
        )
        self._engine: Engine | None = None
        self._state: SharedState | None = None
        # id(item) -> index of its (or the next) job in _all_jobs, the jobs in run order.
        self._positions: dict[int, int] | None = None
        self._positions_len = -1
        self._all_jobs: list[CallJob] = []
        self._warmed_all = False
        self._interactor: Any = None
        self._interactor_looked_up = False
        # On the xdist controller: each worker's latest call stats, and the line showing
        # their sum (workers draw nothing; their reports carry the figures).
        self._worker_stats: dict[str, Stats] = {}
        self._controller_line: StatusLine | None = None
        # Batch mode: done once per process, before its first item.
        self.batch = opts.batch and self.record_mode != "none"
        self._batch_started = False
        self.batch_summary: RunSummary | None = None
        self._batch_reported = False
        # On the xdist controller: a thread drawing the leader's batch progress until
        # the first item is reported (no report arrives while batches run).
        self._batch_watch: threading.Thread | None = None
        self._batch_watch_stop = threading.Event()
        self._batch_draw_lock = threading.Lock()
        self._batch_watch_line: StatusLine | None = None

    # -- the engine -------------------------------------------------------------------------
    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = self._make_engine()
        return self._engine

    def _make_engine(self) -> Engine:
        workerinput = getattr(self.config, "workerinput", None)
        progress = None
        if self.show_progress:
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                progress = StatusLine(self._write_terminal, self._terminal_room)
        orphaned = None
        if self.is_worker:
            # An xdist worker whose controller is gone (kill -9, a CI timeout) must not
            # start calls whose answers nobody will collect.
            parent = os.getppid()
            orphaned = lambda: os.getppid() != parent  # noqa: E731
        engine, self._state = open_engine(
            self.cache_dir,
            concurrency=self.concurrency,
            record_mode=self.record_mode,
            rate_limits=self.rate_limits,
            max_cost=self.max_cost,
            # One budget for the whole xdist run: every worker books against its id.
            run_id=str(workerinput["testrunuid"]) if workerinput else uuid.uuid4().hex,
            progress=progress,
            orphaned=orphaned,
        )
        return engine

    def _write_terminal(self, text: str) -> None:
        # The line is drawn during an item's setup, while pytest captures fd 1: suspend
        # capturing around the write, the way pytest's live logging does.
        capman = self.config.pluginmanager.get_plugin("capturemanager")
        ctx = (
            capman.global_and_fixture_disabled() if capman is not None else contextlib.nullcontext()
        )
        with ctx:
            self.config.get_terminal_writer().write_raw(text, flush=True)

    def _terminal_room(self) -> int:
        tw = self.config.get_terminal_writer()
        return tw.fullwidth - tw.width_of_current_line

    # -- hooks ------------------------------------------------------------------------------
    def pytest_collect_file(self, file_path: Path, parent: pytest.Collector) -> None:
        # On the first eval file, warm up every selected model's provider so that its
        # imports and HTTP client overlap collection. A model that -k / -m later leaves
        # out costs an import in the background, nothing else. The run's judge model too:
        # else its first call builds the client while the judged items wait.
        if self._warmed_all or self.record_mode == "none" or self.config.option.collectonly:
            return
        vs = self.config.stash.get(SESSION_KEY, None)
        if vs is None or not vs.is_eval_file(file_path):
            return
        self._warmed_all = True
        for name in vs.models:  # every item's model is among these; warm_up is idempotent
            self.engine.warm_up(vs.catalog.get(name))
        if vs.judge_model in vs.catalog.models:  # an unknown one errs at its judge calls
            self.engine.warm_up(vs.catalog.get(vs.judge_model))

    def pytest_ignore_collect(self, collection_path: Path, config: pytest.Config) -> bool | None:
        # Recordings are never tests, and a cache committed inside the project holds one
        # JSON file per answer: walking it would cost collection time on every run.
        return True if collection_path == self.cache_dir else None

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> Generator[None, object, object]:
        if self.batch and not self._batch_started:
            self._batch_started = True
            self._batch_step(item.session)
        # While every slot is busy, finished calls refill from the list given last time;
        # rebuilding it for every item would cost O(lookahead) per item for nothing.
        if self.engine.has_room():
            jobs, start = self._upcoming_jobs(item)
            if start < len(jobs):
                self.engine.prefetch(jobs, start)
        try:
            return (yield)
        except KeyboardInterrupt:
            # Stop issuing at once: pytest formats the traceback (~0.5 s) before its
            # keyboard-interrupt hook runs, and releasing this item below refills the queue.
            if self._engine is not None:
                self._engine.stop_issuing(INTERRUPTED)
            raise
        finally:
            engine = self._engine
            if engine is not None:
                job = getattr(item, "vision_job", None)
                if job is not None:
                    engine.release(job)
                session = item.session
                if session.shouldfail or session.shouldstop:
                    reason = session.shouldfail or session.shouldstop
                    engine.stop_issuing(f"run stopped early: {reason}")

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        summary = self.batch_summary
        if (
            summary is not None
            and not self._batch_reported
            and report.when == "teardown"
            and getattr(item, "vision_job", None) is not None
        ):
            # Once per process: the batches reach the reporting plugin (the controller's
            # under xdist) on a report, as results do.
            self._batch_reported = True
            report.vision_batches = summary.report_dict()  # type: ignore[attr-defined]
        # In an xdist worker, the last report of each eval item carries the worker's call
        # stats to the controller, which draws the status line for the whole run.
        engine = self._engine
        if (
            self.is_worker
            and engine is not None
            and report.when == "teardown"
            and getattr(item, "vision_job", None) is not None
        ):
            report.vision_calls = dataclasses.asdict(engine.stats())  # type: ignore[attr-defined]
        return report

    # -- the xdist controller's status line --------------------------------------------------
    # The line is erased before pytest writes an item's progress (start, report, "[ 42%]")
    # and drawn again after it, so the two never overlap.
    def _erase_line(self) -> None:
        self._stop_batch_watch()
        if self._controller_line is not None:
            self._controller_line.clear()

    def _draw_line(self) -> None:
        if self._controller_line is not None:
            self._controller_line.show(combine_stats(self._worker_stats.values()))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logstart(self, nodeid: str, location: object) -> Generator[None, None, None]:
        self._erase_line()
        try:
            return (yield)
        finally:
            self._draw_line()

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None, None, None]:
        self._erase_line()
        try:
            return (yield)
        finally:
            figures = getattr(report, "vision_calls", None)
            if self.show_progress and isinstance(figures, dict):
                node = getattr(report, "node", None)
                worker = str(getattr(getattr(node, "gateway", None), "id", None) or "?")
                with contextlib.suppress(TypeError):
                    self._worker_stats[worker] = Stats(**figures)
                if self._controller_line is None:
                    self._controller_line = StatusLine(self._write_terminal, self._terminal_room)
            self._draw_line()

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logfinish(
        self, nodeid: str, location: object
    ) -> Generator[None, None, None]:
        self._erase_line()
        try:
            return (yield)
        finally:
            self._draw_line()

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        # Innermost wrapper: erased before the terminal reporter writes the final "[100%]".
        if self.batch and self.show_progress and xdist_compat.is_controller(self.config):
            self._start_batch_watch()
        try:
            return (yield)
        finally:
            self._erase_line()
            self._controller_line = None

    @pytest.hookimpl(tryfirst=True, optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """Under ``--dist load``, keep enough items queued on each worker to prefetch.

        xdist's load scheduler hands out ever smaller chunks near the end of a run (down
        to 2 items) and holds back new items while the last one took over 0.1 s, which
        would leave the tail of the run at 1-2 calls in flight per worker.
        """
        if config.getvalue("dist") != "load":
            return None
        total = self.total_concurrency
        scheduler = xdist_compat.prefetch_load_scheduling(
            # 1.5 x the largest worker share, + 1 for the item that is running.
            config,
            log,
            lambda workers: worker_share(total, workers, 0) * 3 // 2 + 1,
        )
        workers = scheduler.numnodes if scheduler is not None else len(config.getvalue("tx"))
        if total < workers:
            config.issue_config_time_warning(
                pytest.PytestConfigWarning(
                    f"--vision-concurrency {total} is below the number of xdist workers "
                    f"({workers}): each worker still makes one call at a time, {workers} in all"
                ),
                stacklevel=2,
            )
        return scheduler

    @pytest.hookimpl(tryfirst=True)
    def pytest_keyboard_interrupt(self, excinfo: object) -> None:
        if self._engine is not None:
            self._engine.stop_issuing(INTERRUPTED)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self._erase_line()
        self._controller_line = None
        if self._engine is not None:
            pending = self._engine.on_the_wire
            if pending:
                reporter = session.config.pluginmanager.get_plugin("terminalreporter")
                if reporter is not None:
                    reporter.write_line(
                        f"vision: waiting up to {ON_THE_WIRE_GRACE_S:.0f} s for {pending} "
                        "call(s) on the wire, so their answers are recorded (Ctrl-C to leave them)"
                    )
            self._engine.close(wait_s=ON_THE_WIRE_GRACE_S)
        if self._state is not None:
            self._state.close()

    # -- batch mode -------------------------------------------------------------------------
    def _batch_step(self, session: pytest.Session) -> None:
        """Submit, poll and collect the run's batches (one process), then hand the engine
        the ledger of what they left unanswered."""
        items = session.items
        jobs = [j for it in items if (j := getattr(it, "vision_job", None)) is not None]
        if not any(supports_batch(j.model) for j in jobs):
            return
        engine = self.engine
        if engine.budget is not None and engine.budget.exhausted_reason() is not None:
            return  # nothing may be spent: the engine skips the items, saying why
        opts = self.config.stash[SESSION_KEY].options
        store = BatchStore.for_cache(self.cache_dir)
        line = None
        if self.show_progress:
            line = StatusLine(self._write_terminal, self._terminal_room)

        published = [0.0]

        def show(views: Sequence[BatchView], elapsed_s: float) -> None:
            if line is not None:
                line.show_text(format_batches(views, elapsed_s))
            elif self.is_worker and time.monotonic() - published[0] >= _PUBLISH_S:
                # The controller draws the line of an xdist run (see _watch_batches).
                published[0] = time.monotonic()
                store.write_progress(format_batches(views, elapsed_s))

        def wait(started: float) -> None:
            # Another process leads (an xdist worker: it publishes the progress; another
            # run sharing the cache: it holds the lock). Said here, never published.
            if line is not None:
                line.show_text(format_batches([], time.monotonic() - started))

        def lead() -> RunSummary:
            if not self.is_worker:
                # The calls of models without a batch API go out while the batches run.
                engine.prefetch([j for j in jobs if not supports_batch(j.model)])
            runner = BatchRunner(
                engine.cache or ResponseCache(self.cache_dir),
                store,
                record_mode=self.record_mode,
                max_requests=opts.batch_size,
                poll_s=opts.batch_poll_s,
                timeout_s=opts.batch_timeout_s,
                progress=show,
                on_cost=engine.budget.add if engine.budget is not None else None,
            )
            return runner.run(jobs)

        workerinput = getattr(self.config, "workerinput", None)
        run_id = str(workerinput["testrunuid"]) if workerinput else process_run_id()
        started = time.monotonic()
        try:
            summary = lead_or_wait(store, run_id, lead, waiting=lambda: wait(started))
        except KeyboardInterrupt:
            if line is not None:
                line.clear()
                line = None
            if not self.is_worker:
                self._write_terminal(
                    "\nvision batches: interrupted; every batch submitted is recorded in "
                    f"{store.root}: re-run with the same options to collect them\n"
                )
            raise
        except Exception as exc:  # never fall back to full-price direct calls silently
            reason = f"the batch step failed: {type(exc).__name__}: {exc}"
            summary = RunSummary(problems=[reason])
            models = {j.model.name for j in jobs if supports_batch(j.model)}
            engine.batch_ledger = BatchLedger(summary, failed_models=models)
        else:
            engine.batch_ledger = BatchLedger(summary)
        finally:
            if line is not None:
                line.clear()
        self.batch_summary = summary

    def _start_batch_watch(self) -> None:
        since = time.time()
        self._batch_watch_line = StatusLine(self._write_raw, self._terminal_room)
        self._batch_watch_stop.clear()
        self._batch_watch = threading.Thread(
            target=self._watch_batches, args=(since,), daemon=True, name="visionevals-batches"
        )
        self._batch_watch.start()

    def _watch_batches(self, since: float) -> None:
        store = BatchStore.for_cache(self.cache_dir)
        line = self._batch_watch_line
        while not self._batch_watch_stop.wait(_PUBLISH_S):
            text = store.read_progress(since)
            if text is None or line is None:
                continue
            with self._batch_draw_lock:
                if self._batch_watch_stop.is_set():
                    return
                line.show_text(text)

    def _stop_batch_watch(self) -> None:
        if self._batch_watch is None:
            return
        self._batch_watch_stop.set()
        with self._batch_draw_lock:  # no drawing after this: pytest writes next
            if self._batch_watch_line is not None:
                self._batch_watch_line.clear()
        self._batch_watch = None

    def _write_raw(self, text: str) -> None:
        # The controller's own thread: nothing is captured on the controller between items.
        self.config.get_terminal_writer().write_raw(text, flush=True)

    # -- which items come next --------------------------------------------------------------
    def _upcoming_jobs(self, item: pytest.Item) -> tuple[list[CallJob], int]:
        """The jobs to prefetch and where the current item starts in that list."""
        items = item.session.items
        order = self._worker_order(items)
        if order is None:
            jobs, start = self._session_jobs(item, items)
            if start is not None:
                # The same list object every time: the engine just advances its cursor
                # instead of rescanning the look-ahead window for every item.
                return jobs, start
            own = getattr(item, "vision_job", None)
            return ([own] if own is not None else []), 0
        want = self.concurrency * 4
        found: list[CallJob] = []
        for it in [item, *order]:
            job = getattr(it, "vision_job", None)
            if job is not None:
                found.append(job)
                if len(found) >= want:
                    break
        return found, 0

    def _session_jobs(
        self, item: pytest.Item, items: Sequence[pytest.Item]
    ) -> tuple[list[CallJob], int | None]:
        """Every job of ``session.items`` in run order (built once), and the item's index."""
        if self._positions is None or self._positions_len != len(items):
            self._positions = {}
            self._all_jobs = []
            self._positions_len = len(items)
            for it in items:
                self._positions[id(it)] = len(self._all_jobs)
                job = getattr(it, "vision_job", None)
                if job is not None:
                    self._all_jobs.append(job)
        return self._all_jobs, self._positions.get(id(item))

    def _worker_order(self, items: Sequence[pytest.Item]) -> list[pytest.Item] | None:
        """In an xdist worker, the items queued on it after the current one ([] when that
        queue cannot be read: the current item only); None outside a worker."""
        if not self.is_worker:
            return None
        if not self._interactor_looked_up:
            self._interactor_looked_up = True
            self._interactor = xdist_compat.find_worker_interactor(self.config.pluginmanager)
        if self._interactor is None:
            # Every worker collects every item: prefetching session.items would make
            # each worker call the other workers' items too.
            return []
        indexes = xdist_compat.queued_indexes(self._interactor, self.concurrency * _SCAN_FACTOR)
        if indexes is None:
            return []  # one item at a time
        return [items[i] for i in indexes if 0 <= i < len(items)]


def worker_share(total: int, workers: int, index: int | None) -> int:
    """Worker ``index``'s part of ``total`` concurrent calls among ``workers`` workers.

    The shares add up to ``total`` exactly (the first ``total % workers`` workers take one
    more). A worker always gets at least 1, so with fewer calls than workers the run has
    one call per worker in flight (the controller warns about it). An unknown index
    (a custom ``--tx`` id) gets the smaller share, so the total is never exceeded.
    """
    workers = max(1, workers)
    base, extra = divmod(total, workers)
    bonus = 1 if index is not None and 0 <= index < extra else 0
    return max(1, base + bonus)


def _worker_index(workerid: object) -> int | None:
    # xdist names its workers gw0, gw1, ...
    text = str(workerid or "")
    return int(text[2:]) if text.startswith("gw") and text[2:].isdigit() else None


def _check_model_names(config: pytest.Config, limits: dict[str, Limit]) -> None:
    vs = config.stash.get(SESSION_KEY, None)
    if vs is None:
        return
    unknown = sorted(set(limits) - set(vs.catalog.models))
    if unknown:
        raise pytest.UsageError(
            f"--vision-rate-limit: unknown model(s) {', '.join(unknown)}; "
            f"known models: {', '.join(vs.catalog.names())}"
        )


def _stdout_is_tty() -> bool:
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


ENGINE_KEY = pytest.StashKey[EnginePlugin]()
