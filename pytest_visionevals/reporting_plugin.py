"""pytest hooks that aggregate CaseResults into the scorecard, reports and the gate.

Registered by plugin.py's ``pytest_configure`` as ``ReportingPlugin(config)``. Every hook
does its work on the controller only (xdist workers carry ``config.workerinput``): the
workers' results arrive here through ``pytest_runtest_logreport`` as ``report.vision_result``.
"""

from __future__ import annotations

import os
import shutil
import sys
import traceback
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import pytest

from pytest_visionevals import gate as gate_mod
from pytest_visionevals.collect import EvalItem
from pytest_visionevals.report import terminal
from pytest_visionevals.report.files import write_reports
from pytest_visionevals.report.format import display_names
from pytest_visionevals.report.jsonl import JsonlWriter
from pytest_visionevals.results import CaseResult
from pytest_visionevals.scoring import Scorecard
from pytest_visionevals.session import SESSION_KEY
from pytest_visionevals.untrusted import printable

if TYPE_CHECKING:
    from collections.abc import Generator
    from pathlib import Path

    from _pytest.terminal import TerminalReporter

    from pytest_visionevals.session import VisionSession

LATEST_NAME = "latest.jsonl"


def junit_properties(result: CaseResult) -> list[tuple[str, object]]:
    """Per-test-case JUnit properties; the lead's makereport adds them to user_properties."""
    props: list[tuple[str, object]] = [
        ("vision_model", result.model),
        ("vision_category", result.category),
        ("vision_outcome", result.outcome),
    ]
    optional = [
        ("vision_score", result.score),
        ("vision_latency_s", result.latency_s),
        ("vision_input_tokens", result.input_tokens),
        ("vision_output_tokens", result.output_tokens),
        ("vision_cost_usd", result.cost_usd),
        ("vision_judge_cost_usd", result.judge_cost_usd),
    ]
    props += [(name, value) for name, value in optional if value is not None]
    if result.replayed:
        props.append(("vision_replayed", True))
    return props


class ReportingPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.is_worker = hasattr(config, "workerinput")
        self.results: list[CaseResult] = []
        self.vision_nodeids: set[str] = set()
        self.failed_nodeids: set[str] = set()
        self.collect_errors = 0
        self.collected_categories: set[str] = set()
        self.writer: JsonlWriter | None = None
        self.card: Scorecard | None = None
        self.verdict: gate_mod.GateVerdict | None = None
        self.facts: dict[str, dict[str, Any]] = {}
        self.written: list[tuple[str, str]] = []  # (what, path) for the summary
        self.problems: list[str] = []
        # --vision-batch: the run's batches by id, as the processes that ran items saw them.
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_info: dict[str, Any] = {}
        self.options = config.stash[SESSION_KEY].options
        opts = self.options
        try:
            self.gate = gate_mod.GateConfig.from_options(
                fail_under=opts.fail_under,
                min_coverage=opts.min_coverage,
                max_cost=opts.max_cost,
                baseline=str(opts.baseline) if opts.baseline else None,
                max_regression=opts.max_regression,
                regression_p=opts.regression_p,
            )
        except gate_mod.GateError as exc:
            raise pytest.UsageError(str(exc)) from None

    # -- helpers -------------------------------------------------------------------------
    def _session(self) -> VisionSession:
        # plugin.py registers this plugin right after stashing the session.
        return self.config.stash[SESSION_KEY]

    def model_order(self) -> list[str]:
        """Selected models in column order (the collection's list)."""
        return list(self._session().models)

    def known_models(self) -> list[str]:
        vs = self._session()
        return [*vs.catalog.names(), *vs.models]

    def _load_facts(self, names: list[str]) -> dict[str, dict[str, Any]]:
        return self._session().catalog.facts(names)

    def _jsonl_path(self) -> Path:
        if self.options.jsonl:
            return self.options.jsonl
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        return self.options.runs_dir / f"{stamp}.jsonl"

    def _refresh_latest(self, target: Path) -> None:
        latest = self.options.runs_dir / LATEST_NAME
        try:
            latest.parent.mkdir(parents=True, exist_ok=True)
            tmp = latest.with_name(f".{LATEST_NAME}.{os.getpid()}")
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            try:
                rel = os.path.relpath(target, latest.parent)
                tmp.symlink_to(rel)
            except OSError:  # no symlinks (Windows without privilege): copy instead
                shutil.copyfile(target, tmp)
            os.replace(tmp, latest)
        except OSError as exc:
            self.problems.append(f"could not refresh {latest}: {exc}")

    def _stream(self, result: CaseResult) -> None:
        try:
            if self.writer is None:
                # Created on the first result, so runs without evals leave no file behind.
                path = self._jsonl_path()
                order = self.model_order()
                self.writer = JsonlWriter(
                    path, {"model_order": order, "models": self._load_facts(order)}
                )
                self._refresh_latest(path)
            self.writer.write_result(result)
        except OSError as exc:
            self.problems.append(f"JSON lines stream stopped: {exc}")

    # -- hooks ---------------------------------------------------------------------------
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if self.is_worker:
            return
        if report.failed:
            self.failed_nodeids.add(report.nodeid)
        batches = getattr(report, "vision_batches", None)
        if isinstance(batches, dict):
            self._merge_batches(batches)
        raw = getattr(report, "vision_result", None)
        if not isinstance(raw, dict):
            return
        result = CaseResult.from_dict(raw)
        self.vision_nodeids.add(report.nodeid)
        self.results.append(result)
        self._stream(result)

    def _merge_batches(self, info: dict[str, Any]) -> None:
        # Every xdist worker reports the same batches (they share the leader's summary).
        for b in info.get("batches") or []:
            if isinstance(b, dict) and b.get("id"):
                self.batches[str(b["id"])] = b
        for key in ("timed_out", "timeout_s"):
            if key in info:
                self.batch_info[key] = info[key]
        problems = self.batch_info.setdefault("problems", [])
        for p in info.get("problems") or []:
            if p not in problems:
                problems.append(p)

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        # Before -k/-m deselection: a deselected category is still a known scope.
        if isinstance(item, EvalItem):
            self.collected_categories.add(item.case.category)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        # Fail fast on a mistyped gate scope, before any model is called. Only where the
        # items are known here (no xdist: the xdist controller does not collect); under
        # xdist the same check runs at the end and gives the same usage error.
        if self.is_worker or not self.gate.thresholds or not self.collected_categories:
            return
        try:
            self.gate.checks(self.known_models(), self.collected_categories)
        except gate_mod.GateError as exc:
            raise pytest.UsageError(str(exc)) from None

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # A broken eval (or test) file still fails a gated run: the gate cannot see its cases.
        if not self.is_worker and report.failed:
            self.collect_errors += 1

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, object, object]:
        # Outermost wrapper: the reports are built before any other sessionfinish (junitxml
        # writes our properties, the terminal summary prints our table), and the exit status
        # is decided after all of them, because some (syrupy) OR the original status back in.
        if self.is_worker:
            return (yield)
        try:
            self._finish(session)
        except Exception:  # a report bug must not hide the test results
            self.problems.append("reporting failed:\n" + traceback.format_exc())
        before = session.exitstatus
        result = yield
        if self.verdict is not None and session.exitstatus == before:
            # Unchanged by other plugins: the gate decides (a changed one is their verdict).
            self._set_exitstatus(session, self.verdict)
        return result

    def _finish(self, session: pytest.Session) -> None:
        if self.writer is not None:
            self.writer.close(int(session.exitstatus))
            self._refresh_latest(self.writer.path)
            self.written.append(("JSON lines", str(self.writer.path)))
        if session.exitstatus == pytest.ExitCode.USAGE_ERROR and not self.results:
            return  # nothing ran; the usage error says why
        wants_files = any((self.options.json, self.options.md, self.options.html))
        if not self.results and not self.gate.active and not wants_files:
            return
        order = self.model_order()
        card = Scorecard.build(self.results, order)
        self.card = card
        if self.gate.active:
            self.verdict = gate_mod.evaluate(self.gate, card, known_models=self.known_models())
        self.facts = self._load_facts([m.model for m in card.models])
        gate_lines = self.verdict.summary_lines() if self.verdict else []
        interrupted = session.exitstatus == pytest.ExitCode.INTERRUPTED
        self._write_files(card, gate_lines, order, complete=not interrupted)
        self._junit(card)

    def _write_files(
        self, card: Scorecard, gate_lines: list[str], order: list[str], complete: bool
    ) -> None:
        opts = self.options
        self.written += write_reports(
            card,
            self.facts,
            json=opts.json,
            md=opts.md,
            html_path=opts.html,
            step_summary=os.environ.get("GITHUB_STEP_SUMMARY") or None,
            gate_lines=gate_lines,
            gate=self.verdict.to_dict() if self.verdict else None,
            complete=complete,
            model_order=order or None,
        )

    def _junit(self, card: Scorecard) -> None:
        try:
            from _pytest.junitxml import xml_key
        except ImportError:  # pragma: no cover - pytest internals moved
            return
        xml = self.config.stash.get(xml_key, None)
        if xml is None:
            return
        for m in card.models:
            rate = m.overall.pass_rate
            xml.add_global_property(
                f"vision_score[{m.model}]", "n/a" if rate is None else round(rate, 6)
            )
            cov = m.coverage
            xml.add_global_property(
                f"vision_coverage[{m.model}]", "n/a" if cov is None else round(cov, 6)
            )
            total = m.total_cost_usd
            xml.add_global_property(
                f"vision_cost_usd[{m.model}]", "unknown" if total is None else round(total, 9)
            )
        if card.judge_cost_usd is not None:
            xml.add_global_property("vision_judge_cost_usd", round(card.judge_cost_usd, 9))
        if self.verdict is not None:
            xml.add_global_property("vision_gate", "passed" if self.verdict.passed else "failed")

    def _set_exitstatus(self, session: pytest.Session, verdict: gate_mod.GateVerdict) -> None:
        # Only the pass/fail outcome is the gate's; interrupts, internal and usage errors and
        # "no tests collected" keep pytest's code.
        if session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return
        if verdict.error:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
        elif self.collect_errors or self.failed_nodeids - self.vision_nodeids:
            # A non-eval test failed, or a file did not collect.
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        else:
            session.exitstatus = verdict.exit_code

    def pytest_terminal_summary(self, terminalreporter: TerminalReporter) -> None:
        if self.is_worker:
            return
        try:
            self._summary(terminalreporter)
        except Exception:
            print(
                "pytest-visionevals: terminal summary failed:\n"
                + printable(traceback.format_exc(), multiline=True),
                file=sys.stderr,
            )

    def _summary(self, tr: TerminalReporter) -> None:
        if self.card is None and not self.problems and not self.batches:
            return
        tr.write_sep("=", "vision scorecard")
        if self.card is not None:
            gate_lines = self.verdict.summary_lines() if self.verdict else []
            width = max(60, min(self.config.get_terminal_writer().fullwidth, 200))
            names = display_names(self.facts)
            for line in terminal.render(self.card, width, gate_lines, names):
                for text, colour in line:
                    tr.write(text, **({colour: True} if colour else {}))
                tr.line("")
        if self.card is not None:
            if any(m.replayed for m in self.card.models):
                tr.line(f"vision cache: replayed answers read from {self.options.cache_dir}")
            for warning in self.card.cache_warnings:
                tr.line(f"pytest-visionevals: {warning}", yellow=True)
        if self.batches or self.batch_info.get("problems"):
            info = {**self.batch_info, "batches": list(self.batches.values())}
            for text, colour in terminal.batch_lines(info):
                tr.line(text, **({colour: True} if colour else {}))
        for what, path in self.written:
            tr.line(printable(f"vision report: {what} -> {path}"))
        for problem in self.problems:
            tr.line(printable(f"pytest-visionevals: {problem}", multiline=True), yellow=True)
