"""The live status line: content, throttling, clearing, narrow terminals."""

from __future__ import annotations

import threading
import time

from pytest_visionevals.calls import CallJob
from pytest_visionevals.engine import Engine
from pytest_visionevals.models import ModelSpec
from pytest_visionevals.params import GenerationParams
from pytest_visionevals.progress import Stats, StatusLine, format_stats
from pytest_visionevals.providers.base import Completion, Request


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_format_stats() -> None:
    text = format_stats(
        Stats(done=12, in_flight=8, retried=1, replayed=3, errors=2, spent_usd=0.01234, unpriced=4)
    )
    assert text == (
        "[vision calls: 12 done | 8 in flight | 1 retried | 3 replayed | "
        "2 errors | $0.0123 spent (+4 unpriced)]"
    )
    assert format_stats(Stats()) == "[vision calls: 0 done | 0 in flight | $0.0000 spent]"


def test_status_line_throttles_and_clears() -> None:
    out: list[str] = []
    clock = Clock()
    line = StatusLine(out.append, lambda: 200, interval_s=0.25, clock=clock)
    line.show(Stats(done=1))
    line.show(Stats(done=2))  # same instant: throttled
    clock.now = 0.3
    line.show(Stats(done=3))
    line.clear()
    line.clear()  # nothing visible: no output
    assert len(out) == 3
    assert out[0].startswith("\x1b7 [vision calls: 1 done")
    assert out[0].endswith("\x1b8")
    assert out[1].startswith("\x1b8\x1b[K [vision calls: 3 done")
    assert out[2] == "\x1b8\x1b[K"


def test_status_line_truncates_and_skips_narrow() -> None:
    out: list[str] = []
    line = StatusLine(out.append, lambda: 40)
    line.show(Stats(done=1, in_flight=2, replayed=3))
    assert len(out[0]) - len("\x1b7 \x1b8") <= 38
    assert out[0].endswith("]\x1b8")
    narrow: list[str] = []
    StatusLine(narrow.append, lambda: 10).show(Stats())
    assert narrow == []


class Slow:
    def __init__(self) -> None:
        self.release = threading.Event()

    def check_credentials(self) -> None:
        pass

    def complete(self, request: Request) -> Completion:
        self.release.wait(5)
        return Completion(text="ok")


def test_engine_draws_while_waiting_and_clears_before_returning() -> None:
    spec = ModelSpec(name="m", provider="openai-compatible", model_id="m")
    out: list[str] = []
    line = StatusLine(out.append, lambda: 200, interval_s=0.02)
    provider = Slow()
    engine = Engine(concurrency=2, progress=line, provider_factory=lambda s: provider)
    job = CallJob(
        key="k",
        model=spec,
        build_request=lambda: Request(model=spec, prompt="p", images=(), params=GenerationParams()),
    )
    engine.prefetch([job])
    threading.Timer(0.15, provider.release.set).start()
    start = time.perf_counter()
    assert engine.result(job).status == "ok"
    assert time.perf_counter() - start >= 0.1
    engine.close()
    assert any("1 in flight" in o for o in out)
    assert out[-1] == "\x1b8\x1b[K"
