"""Shared fixtures for the project's own tests."""

from __future__ import annotations

import pytest

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
