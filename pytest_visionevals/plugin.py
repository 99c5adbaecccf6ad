"""pytest hooks only: each one delegates to the core or to a sub-plugin.

Sub-plugins: ``EnginePlugin`` (concurrent calls, cache, rate limits, progress) and
``ReportingPlugin`` (aggregation on the controller, reports, gate, exit status).
"""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

import pytest

from pytest_visionevals.pytest_compat import stop_rewriting

# Before any other module of ours loads: they are imported as plain Python (see
# pytest_compat for why and how).
stop_rewriting(__package__ or "pytest_visionevals")

from pytest_visionevals import hookspecs, options  # noqa: E402
from pytest_visionevals.collect import RESULT_KEY, EvalFile, EvalItem  # noqa: E402
from pytest_visionevals.engine_plugin import ENGINE_KEY, EnginePlugin  # noqa: E402
from pytest_visionevals.outcome import settle  # noqa: E402
from pytest_visionevals.params import TASKS  # noqa: E402
from pytest_visionevals.reporting_plugin import ReportingPlugin, junit_properties  # noqa: E402
from pytest_visionevals.session import SESSION_KEY, VisionSession  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Generator
    from pathlib import Path

    from pluggy import PluginManager


def pytest_addhooks(pluginmanager: PluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    options.addoption(parser)


def pytest_configure(config: pytest.Config) -> None:
    try:
        vs = VisionSession.build(options.Settings.from_config(config))
    except options.OptionError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[SESSION_KEY] = vs
    # Registered first, so it runs after pytest's own end-of-run gc.collect() calls.
    config.add_cleanup(lambda: _unfreeze(config))
    config.hook.pytest_visionevals_register_assertions.call_historic(
        kwargs={"registry": vs.registry}
    )
    for task in TASKS:
        config.addinivalue_line("markers", f"{task}: vision eval items of task {task}")
    engine_plugin = EnginePlugin(config)
    config.stash[ENGINE_KEY] = engine_plugin
    config.pluginmanager.register(engine_plugin, "visionevals-engine")
    config.pluginmanager.register(ReportingPlugin(config), "visionevals-reporting")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> EvalFile | None:
    vs = parent.config.stash.get(SESSION_KEY, None)
    if vs is not None and vs.is_eval_file(file_path):
        node: EvalFile = EvalFile.from_parent(parent, path=file_path)
        return node
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> None:
    # A broken eval file must not stop the other files: when every collection error came
    # from an eval file, continue (the errors are still shown and still fail the run).
    vs = session.config.stash[SESSION_KEY]
    if (
        session.testsfailed
        and vs.failed_eval_files
        and session.testsfailed <= len(vs.failed_eval_files)
    ):
        session.config.option.continue_on_collection_errors = True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if isinstance(item, EvalItem):
        result = item.stash.get(RESULT_KEY, None)
        final = report.when == "call" or (report.when == "setup" and not report.passed)
        if result is not None and final:
            if report.failed and result.outcome not in ("failed", "error"):
                # Failed without a verdict or a call error: a crash (ours or a custom
                # assertion's). No answer was scored, so it is an error, not a failure.
                why = f"{call.excinfo.typename}: {call.excinfo.value}" if call.excinfo else "?"
                settle(result, error=f"internal error: {why}")
            report.vision_result = result.to_dict()  # type: ignore[attr-defined]
            # JUnit reads item.user_properties (copied onto the teardown report).
            item.user_properties.extend(junit_properties(result))
    return report


_FROZEN = pytest.StashKey[bool]()


def pytest_collection_finish(session: pytest.Session) -> None:
    # The collected items, cases and modules live until the end: moved out of the
    # collector's reach, later collections (and pytest's gc.collect() at exit, ~0.1 s
    # for thousands of items) do not walk them again and again.
    if any(isinstance(item, EvalItem) for item in session.items):
        gc.freeze()
        session.config.stash[_FROZEN] = True


def _unfreeze(config: pytest.Config) -> None:
    if config.stash.get(_FROZEN, False):
        gc.unfreeze()


def pytest_unconfigure(config: pytest.Config) -> None:
    if SESSION_KEY in config.stash:
        from pytest_visionevals.providers import close_providers

        close_providers()
