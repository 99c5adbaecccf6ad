"""The private pytest-xdist internals that prefetching under xdist relies on, in one place.

Two things are not public API in pytest-xdist (checked against 3.8):

* A worker's queue of the item indexes it has been sent and not run yet:
  ``WorkerInteractor.torun`` (a ``TestQueue`` whose ``lock()`` yields a deque of indexes,
  ending with a shutdown marker) and ``nextitem_index``. The interactor is registered
  without a name, so it is found by its type name.
* The load scheduler's ``node2pending``, ``pending``, ``numnodes``, ``nodes`` and
  ``_send_tests(node, count)``: ``PrefetchLoadScheduling`` overrides ``schedule`` and
  ``check_schedule`` to keep every worker's queue deep enough to prefetch from.

``problems()`` lists what the installed xdist lacks; tests/test_xdist_compat.py fails
loudly when a release changes any of it. Without them the plugin still works: under xdist
each worker then calls only the item it runs (no prefetch), with xdist's own scheduler.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    import pytest

_INTERACTOR = "WorkerInteractor"
_SCHEDULER_METHODS = ("schedule", "check_schedule", "_send_tests")
_SCHEDULER_STATE = ("node2pending", "pending", "numnodes", "nodes")


def problems() -> list[str]:
    """What the installed pytest-xdist lacks of the internals above (empty: all there)."""
    found: list[str] = []
    try:
        from xdist.remote import WorkerInteractor  # type: ignore[import-untyped,unused-ignore]
        from xdist.scheduler import LoadScheduling  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:
        return [f"cannot import: {exc}"]
    import inspect

    init = inspect.getsource(WorkerInteractor.__init__)
    for name in ("self.torun", "self.nextitem_index"):
        if name not in init:
            found.append(f"WorkerInteractor.__init__ no longer sets {name}")
    try:
        from xdist.remote import TestQueue  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        found.append("xdist.remote.TestQueue is gone")
    else:
        if not callable(getattr(TestQueue, "lock", None)):
            found.append("TestQueue.lock() is gone")
    for name in _SCHEDULER_METHODS:
        if not callable(getattr(LoadScheduling, name, None)):
            found.append(f"LoadScheduling.{name}() is gone")
    source = inspect.getsource(LoadScheduling)
    for name in _SCHEDULER_STATE:
        if name not in source:
            found.append(f"LoadScheduling.{name} is gone")
    return found


def is_controller(config: pytest.Config) -> bool:
    """Whether this process is an xdist controller (its workers run the items).

    xdist registers its ``DSession`` plugin under the name "dsession" on the controller.
    """
    return (
        not hasattr(config, "workerinput")
        and config.pluginmanager.get_plugin("dsession") is not None
    )


def find_worker_interactor(pluginmanager: pytest.PytestPluginManager) -> Any:
    """The worker's WorkerInteractor plugin, or None (not a worker, or another xdist)."""
    for plugin in pluginmanager.get_plugins():
        if type(plugin).__name__ == _INTERACTOR and hasattr(plugin, "torun"):
            return plugin
    return None


def queued_indexes(interactor: Any, limit: int) -> list[int] | None:
    """The item indexes queued on this worker, the next one first (None: unreadable)."""
    indexes: list[int] = []
    nxt = getattr(interactor, "nextitem_index", None)
    if isinstance(nxt, int):
        indexes.append(nxt)
    torun = getattr(interactor, "torun", None)
    if torun is None:
        return None
    try:
        with torun.lock() as queue:
            for idx in queue:
                if not isinstance(idx, int):
                    break  # the shutdown marker
                indexes.append(idx)
                if len(indexes) >= limit:
                    break
    except Exception:  # another xdist version: no look-ahead
        return None
    return indexes


def prefetch_load_scheduling(
    config: pytest.Config, log: Any, depth_for: Callable[[int], int]
) -> Any:
    """xdist's LoadScheduling keeping ``depth_for(workers)`` items queued per worker
    (None: this xdist lacks the internals).

    xdist's own scheduler hands out ever smaller chunks near the end of a run (down to 2
    items) and holds back new items while the last one took over 0.1 s, which would leave
    the tail of a run at 1-2 calls in flight per worker.
    """
    if problems():
        return None
    from xdist.scheduler import LoadScheduling  # type: ignore[import-untyped,unused-ignore]

    class PrefetchLoadScheduling(LoadScheduling):  # type: ignore[misc]
        def __init__(self, config: pytest.Config, log: Any) -> None:
            super().__init__(config, log)
            self._depth = depth_for(self.numnodes)

        def _top_up(self, node: Any) -> None:
            if self.pending and not node.shutting_down:
                missing = self._depth - len(self.node2pending[node])
                if missing > 0:
                    self._send_tests(node, missing)

        def schedule(self) -> None:
            super().schedule()
            for node in self.nodes:
                self._top_up(node)

        def check_schedule(self, node: Any, duration: float = 0) -> None:
            if self.pending:
                self._top_up(node)
            super().check_schedule(node, duration)

    with contextlib.suppress(TypeError):  # a changed constructor: xdist's own scheduler
        return PrefetchLoadScheduling(config, log)
    return None
