"""Run-wide state of the plugin, built once from the pytest config (kept in config.stash)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import pytest

    from pytest_visionevals.assertions import AssertionRegistry
    from pytest_visionevals.engine import Engine
    from pytest_visionevals.models import Catalog
    from pytest_visionevals.runner import CallSettings


@dataclass
class VisionSession:
    rootdir: Path
    catalog: Catalog
    registry: AssertionRegistry
    models: list[str]  # selected catalog names, in column order
    eval_dirs: tuple[str, ...]
    repeat: int | None  # --vision-repeat (overrides the cases' own repeat)
    settings: CallSettings
    work_dir: Path  # .visionevals under rootdir: downloaded images, runs, cache
    judge_model: str
    # Returns the engine plugin's Engine; set by plugin.py once that plugin is registered.
    engine_getter: Callable[[], Engine | None] | None = None
    failed_eval_files: set[str] = field(default_factory=set)
    # Category/task/tag markers declared so far, each built once (items share them).
    markers: dict[str, pytest.MarkDecorator] = field(default_factory=dict)

    def engine(self) -> Engine | None:
        return self.engine_getter() if self.engine_getter is not None else None

    def is_eval_file(self, path: Path) -> bool:
        """Eval files: *.yaml / *.yml under a directory named in ``vision_eval_dirs``."""
        if path.suffix not in (".yaml", ".yml") or path.name.startswith(("_", ".")):
            return False
        try:
            parts = path.resolve().relative_to(self.rootdir.resolve()).parts[:-1]
        except ValueError:
            parts = path.parts[:-1]
        return any(p in self.eval_dirs for p in parts)
