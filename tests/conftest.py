"""Shared fixtures for the project's own tests."""

from __future__ import annotations

# Import the SDKs and our provider modules before any in-process pytester run: pytester
# restores sys.modules afterwards, and a module first imported inside such a run would be
# re-imported later as a second copy, with exception classes that no longer match.
import google.genai
import google.genai.models  # noqa: F401
import h11  # noqa: F401
import httpcore2
import httpcore2._sync.connection_pool
import httpcore2._sync.http11  # noqa: F401
import httpx2  # noqa: F401
import openai
import openai.resources.chat
import openai.resources.responses  # noqa: F401
import pytest
import scipy.optimize  # noqa: F401  (the boxes matcher; a C extension loads once per process)

import pytest_visionevals.providers.google
import pytest_visionevals.providers.openai_compat
import pytest_visionevals.providers.openai_responses
import pytest_visionevals.providers.retry  # noqa: F401

# Every plugin-level scenario runs without xdist, with -n 0, with -n 2 and with xdist
# disabled entirely (syrupy's pattern): results must not depend on how tests are run.
XDIST_MODES = {
    "no-xdist-flag": [],
    "n0": ["-n", "0"],
    "n2": ["-n", "2"],
    "no-xdist-plugin": ["-p", "no:xdist"],
}


@pytest.fixture(params=list(XDIST_MODES), ids=list(XDIST_MODES))
def xdist_args(request: pytest.FixtureRequest) -> list[str]:
    return list(XDIST_MODES[request.param])


@pytest.fixture(autouse=True)
def _nested_runs_in_file_order(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytest-randomly (a dev dependency) stays off in the runs tests start, unless a test
    asks for it: their expectations read items in file order."""
    if "pytester" in request.fixturenames:
        request.getfixturevalue("pytester")  # first: it clears PYTEST_ADDOPTS when created
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:randomly")
