"""Ctrl-C: no new calls, answers so far kept in the stream and the cache, the re-run resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from PIL import Image

from pytest_visionevals.testing.fake_server import FakeVLMServer

if TYPE_CHECKING:
    from pathlib import Path

CASES = 40
CONCURRENCY = 4


def make_project(root: Path, base_url: str) -> None:
    Image.new("RGB", (16, 16), "green").save(root / "img.png")
    (root / "evals").mkdir()
    lines = ["category: C", "task: vqa", "cases:"]
    for i in range(CASES):
        lines += [f"  - id: c{i:02d}", "    image: ../img.png", f"    prompt: question {i:02d}"]
        lines += ["    expect: {equals: 'yes'}"]
    (root / "evals" / "s.yaml").write_text("\n".join(lines) + "\n")
    (root / "visionevals.models.yaml").write_text(
        "models:\n  local:\n    provider: openai-compatible\n    model_id: m\n"
        f"    base_url: {base_url}\n    pricing: {{input: 1, output: 1}}\n"
    )
    (root / "pytest.ini").write_text("[pytest]\nvision_models = local\n")


def pytest_cmd(*args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "--vision-cache-dir",
        "cache",
        "--vision-concurrency",
        str(CONCURRENCY),
        *args,
    ]


def _has_result(stream: Path) -> bool:
    try:
        return '"kind":"result"' in stream.read_text()
    except OSError:
        return False


def test_ctrl_c_stops_calls_keeps_answers_and_the_rerun_resumes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    stream = tmp_path / "run.jsonl"
    with FakeVLMServer(answer="yes", latency=0.3) as server:
        make_project(tmp_path, server.openai_base_url)
        proc = subprocess.Popen(
            pytest_cmd("--vision-jsonl", str(stream)),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            # Interrupt once calls are ahead of pytest and at least one item is reported
            # (on a loaded machine the first report can lag behind the calls).
            while server.request_count < 2 * CONCURRENCY or not _has_result(stream):
                assert proc.poll() is None, proc.communicate()[0].decode()
                assert time.monotonic() < deadline, "no calls within 60 s"
                time.sleep(0.02)
            proc.send_signal(signal.SIGINT)
            at_interrupt = server.request_count
            out = proc.communicate(timeout=60)[0].decode()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        time.sleep(0.5)  # anything still on its way would have arrived by now
        after = server.request_count

        assert proc.returncode == 2, out  # pytest's "interrupted"
        assert "KeyboardInterrupt" in out
        # No new calls once interrupted: at most one per call thread that was just
        # finishing its call when the signal landed.
        assert after <= at_interrupt + CONCURRENCY, (at_interrupt, after)
        assert after < CASES

        # The answers obtained are in the stream and the cache, marked as not complete.
        records = [json.loads(line) for line in stream.read_text().splitlines()]
        answered = [r for r in records if r["kind"] == "result" and r["result"]["answer"]]
        assert answered
        assert records[-1] == {**records[-1], "kind": "end", "exitstatus": 2}
        recorded = len(list((tmp_path / "cache").rglob("*.json")))
        assert len(answered) <= recorded <= after

        # The re-run calls only what was not recorded, and every case passes.
        server.clear()
        rerun = subprocess.run(
            pytest_cmd(), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
        )
        assert rerun.returncode == 0, rerun.stdout
        assert f"{CASES} passed" in rerun.stdout
        assert server.request_count == CASES - recorded


def test_kill_9_of_the_xdist_controller_loses_no_answer_and_repeats_no_call(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    with FakeVLMServer(answer="yes", latency=0.5) as server:
        make_project(tmp_path, server.openai_base_url)
        proc = subprocess.Popen(
            pytest_cmd("-n", "2"),
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # the workers outlive the controller, as after kill -9
        )
        try:
            deadline = time.monotonic() + 60
            while server.request_count < 2 * CONCURRENCY:
                assert proc.poll() is None
                assert time.monotonic() < deadline, "no calls within 60 s"
                time.sleep(0.02)
            os.kill(proc.pid, signal.SIGKILL)
            at_kill = server.request_count
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        # The orphaned workers finish the calls on the wire, record them and issue no more.
        time.sleep(3)
        answered = [r.prompt for r in server.requests]
        assert len(answered) <= at_kill + CONCURRENCY, (at_kill, len(answered))
        assert len(answered) < CASES
        recorded = len(list((tmp_path / "cache").rglob("*.json")))
        assert recorded == len(answered)  # every answer paid for is in the cache

        server.clear()
        rerun = subprocess.run(
            pytest_cmd("-n", "2"),
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert rerun.returncode == 0, rerun.stdout
        assert f"{CASES} passed" in rerun.stdout
        repeated = {r.prompt for r in server.requests} & set(answered)
        assert not repeated
        assert server.request_count == CASES - recorded
