"""The pytest internals of pytest_compat: fail loudly when a pytest release changes them."""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

from pytest_visionevals import pytest_compat

if TYPE_CHECKING:
    import pytest


def test_the_rewrite_hook_keeps_its_set_of_marked_names() -> None:
    # This test runs under pytest with rewriting on: the hook must be there, as must the
    # set stop_rewriting edits. If this fails, our modules are rewritten again (slower
    # start-up only): update pytest_compat for the new release.
    hook = pytest_compat.rewrite_hook()
    assert hook is not None
    assert isinstance(getattr(hook, "_must_rewrite", None), set)


def test_a_marked_package_loads_as_plain_python_once_stopped(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As pytest marks an installed plugin's package (editable installs are not marked,
    # so this builds its own package and marks it the way pytest does).
    pkg = pytester.mkpydir("vebenchpkg")
    (pkg / "before.py").write_text("X = 1\n")
    (pkg / "after.py").write_text("X = 2\n")
    monkeypatch.syspath_prepend(str(pytester.path))
    hook = pytest_compat.rewrite_hook()
    assert hook is not None
    hook.mark_rewrite("vebenchpkg")  # type: ignore[attr-defined]

    def loader(name: str) -> str:
        return type(importlib.import_module(name).__spec__.loader).__name__

    try:
        assert loader("vebenchpkg.before") == "AssertionRewritingHook"
        assert pytest_compat.stop_rewriting("vebenchpkg") is True
        assert loader("vebenchpkg.after") == "SourceFileLoader"
    finally:
        for name in ("vebenchpkg", "vebenchpkg.before", "vebenchpkg.after"):
            sys.modules.pop(name, None)


def test_without_the_hook_nothing_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pytest_compat, "rewrite_hook", lambda: None)
    assert pytest_compat.stop_rewriting("pytest_visionevals") is False
