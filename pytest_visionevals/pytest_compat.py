"""The private pytest internals the plugin leans on for start-up speed, in one place.

pytest rewrites the ``assert`` statements of every module of a distribution that
declares a ``pytest11`` entry point, so that a plugin's fixtures fail with rich messages.
Our modules hold no asserts meant for users, but the rewrite costs each process a parse
and a compile of every module it imports, every time when bytecode writes are off
(``PYTHONDONTWRITEBYTECODE``, common in CI and containers): ~0.1-0.2 s of start-up per
process and per xdist worker. ``stop_rewriting`` takes the package off the rewrite
hook's list (``AssertionRewritingHook._must_rewrite``, a set of module names, checked
against pytest 9.2). If a release renames it, nothing happens: the modules are
rewritten as before. tests/test_pytest_compat.py fails loudly when that happens.
"""

from __future__ import annotations

import sys

_HOOK = "AssertionRewritingHook"


def rewrite_hook() -> object | None:
    """pytest's assertion rewriting import hook, when it is installed."""
    return next((f for f in sys.meta_path if type(f).__name__ == _HOOK), None)


def stop_rewriting(package: str) -> bool:
    """Let the package's modules not imported yet load as plain Python; False when the
    hook is absent (``--assert=plain``, or not under pytest) or its internals changed."""
    marked = getattr(rewrite_hook(), "_must_rewrite", None)
    if not isinstance(marked, set):
        return False
    marked.discard(package)
    return True
