"""Shared sliding-window rate limits and budget, across threads and processes."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from pytest_visionevals.models import RateLimit
from pytest_visionevals.ratelimit import (
    Budget,
    Limit,
    RateLimiter,
    SharedState,
    _wait_needed,
    parse_rate_limit,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_parse_rate_limit() -> None:
    assert parse_rate_limit("gpt-5.2=60") == ("gpt-5.2", Limit(60.0, None))
    assert parse_rate_limit("m=60:100000") == ("m", Limit(60.0, 100000.0))
    assert parse_rate_limit("m=:5000") == ("m", Limit(None, 5000.0))
    for bad in ("m", "=5", "m=x", "m=0", "m=:"):
        with pytest.raises(ValueError, match="--vision-rate-limit"):
            parse_rate_limit(bad)


def test_requests_per_minute_window(tmp_path: Path) -> None:
    clock = Clock()
    limiter = RateLimiter(SharedState(tmp_path / "s.db"), clock=clock)
    limit = Limit(requests_per_minute=3)
    assert [limiter.try_acquire("m", limit) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.try_acquire("m", limit) == pytest.approx(60.0)
    assert limiter.try_acquire("other", limit) == 0.0  # per model
    clock.now += 30
    assert limiter.try_acquire("m", limit) == pytest.approx(30.0)
    clock.now += 30.01
    assert limiter.try_acquire("m", limit) == 0.0


def test_tokens_per_minute_window(tmp_path: Path) -> None:
    clock = Clock()
    limiter = RateLimiter(SharedState(tmp_path / "s.db"), clock=clock)
    limit = Limit(tokens_per_minute=1000)
    assert limiter.try_acquire("m", limit) == 0.0
    limiter.record_tokens("m", limit, 700)
    clock.now += 10
    assert limiter.try_acquire("m", limit) == 0.0  # 700 < 1000: headroom left
    limiter.record_tokens("m", limit, 400)
    assert limiter.try_acquire("m", limit) == pytest.approx(50.0)  # first 700 expire at +60


def test_wait_needed_combines_limits() -> None:
    rows = [(0.0, 1, 0), (1.0, 1, 0), (2.0, 0, 900)]
    assert _wait_needed(rows, Limit(2, None), 5.0) == pytest.approx(55.0)
    assert _wait_needed(rows, Limit(3, 500), 5.0) == pytest.approx(57.0)
    assert _wait_needed(rows, Limit(3, 1000), 5.0) == 0.0


def test_limit_override_wins_over_catalog(tmp_path: Path) -> None:
    limiter = RateLimiter(SharedState(tmp_path / "s.db"), {"m": Limit(5, None)})
    assert limiter.limit_for("m", RateLimit(requests_per_minute=100)) == Limit(5, None)
    assert limiter.limit_for("n", RateLimit(requests_per_minute=100, tokens_per_minute=9)) == Limit(
        100, 9
    )
    assert not limiter.limit_for("n", RateLimit()).active


def _take_slots(path: str, n: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    limiter = RateLimiter(SharedState(Path(path)))
    got = sum(1 for _ in range(n) if limiter.try_acquire("m", Limit(10, None)) == 0.0)
    out.put(got)


def test_limit_is_shared_by_two_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    out: multiprocessing.Queue = ctx.Queue()  # type: ignore[type-arg]
    procs = [
        ctx.Process(target=_take_slots, args=(str(tmp_path / "s.db"), 8, out)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert out.get(timeout=5) + out.get(timeout=5) == 10  # 16 tries, 10 slots per minute


def test_acquire_stops_when_asked(tmp_path: Path) -> None:
    import threading

    limiter = RateLimiter(SharedState(tmp_path / "s.db"))
    limit = Limit(1, None)
    assert limiter.acquire("m", limit)
    stop = threading.Event()
    threading.Timer(0.1, stop.set).start()
    start = time.perf_counter()
    assert limiter.acquire("m", limit, stop=stop) is False
    assert time.perf_counter() - start < 2


def _spend(path: str, run: str) -> None:
    budget = Budget(SharedState(Path(path)), run, max_usd=1.0)
    for _ in range(50):
        budget.add(0.01)


def test_budget_is_shared_by_processes_and_scoped_to_the_run(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_spend, args=(str(tmp_path / "s.db"), "run-a")) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    state = SharedState(tmp_path / "s.db")
    budget = Budget(state, "run-a", max_usd=1.0)
    assert budget.spent() == pytest.approx(1.0)
    assert budget.exhausted_reason() == "over budget: $1.0000 spent of $1.0000"
    other = Budget(state, "run-b", max_usd=1.0)
    assert other.spent() == 0.0
    assert other.exhausted_reason() is None


def test_plugin_rate_limit_holds_across_xdist_workers(tmp_path: Path) -> None:
    """Two workers, 4 requests per minute in all: the fake server sees 4, then nothing."""
    import os
    import signal
    import subprocess
    import sys

    from PIL import Image

    from pytest_visionevals.testing.fake_server import FakeVLMServer

    Image.new("RGB", (8, 8), "white").save(tmp_path / "img.png")
    (tmp_path / "evals").mkdir()
    lines = ["category: C", "task: vqa", "cases:"]
    for i in range(12):
        lines += [f"  - id: c{i:02d}", "    image: ../img.png", f"    prompt: q{i}"]
        lines += ["    expect: {equals: 'yes'}"]
    (tmp_path / "evals" / "s.yaml").write_text("\n".join(lines) + "\n")
    (tmp_path / "pytest.ini").write_text("[pytest]\nvision_models = local\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    with FakeVLMServer(answer="yes") as server:
        (tmp_path / "visionevals.models.yaml").write_text(
            "models:\n  local:\n    provider: openai-compatible\n    model_id: m\n"
            f"    base_url: {server.openai_base_url}\n"
        )
        proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2"),
                *("--vision-cache-dir", "cache", "--vision-rate-limit", "local=4"),
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a shell job
        )
        try:
            deadline = time.monotonic() + 60
            while server.request_count < 4:
                assert proc.poll() is None, proc.communicate()[0].decode()
                assert time.monotonic() < deadline, "fewer than 4 calls within 60 s"
                time.sleep(0.05)
            time.sleep(2.0)  # both workers have had time to call again, were they free to
            assert server.request_count == 4
            assert len({r.prompt for r in server.requests}) == 4
        finally:
            # Ctrl-C in a terminal: SIGINT to the controller and its workers.
            os.killpg(proc.pid, signal.SIGINT)
            try:
                proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
