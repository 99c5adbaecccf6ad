"""A run killed mid-stream leaves a JSON-lines file that rebuilds the scorecard."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import TYPE_CHECKING

from PIL import Image

from pytest_visionevals.testing.fake_server import FakeVLMServer

if TYPE_CHECKING:
    from pathlib import Path

CASES = 12
KILL_AFTER = 3  # results on disk before the kill


def result_lines(path: Path) -> int:
    if not path.exists():
        return 0
    return sum('"kind":"result"' in line for line in path.read_text().splitlines())


def test_killed_run_rebuilds_from_jsonl(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    Image.new("RGB", (32, 32), "blue").save(tmp_path / "img" / "a.png")
    (tmp_path / "evals").mkdir()
    cases = "\n".join(
        f"  - id: case-{i:02d}\n    image: ../img/a.png\n    prompt: Count item {i}.\n"
        f"    expect: {{count: {i % 3}}}"
        for i in range(CASES)
    )
    (tmp_path / "evals" / "slow.yaml").write_text(
        f"category: Object Counting\ntask: vqa\ncases:\n{cases}\n"
    )
    stream = tmp_path / "run.jsonl"
    # Every answer is "1": cases with i % 3 == 1 pass, the others fail.
    with FakeVLMServer(default_answer="1", latency=0.4) as server:
        (tmp_path / "visionevals.models.yaml").write_text(
            "models:\n  slow:\n    provider: openai-compatible\n    model_id: s\n"
            f"    base_url: {server.openai_base_url}\n    pricing: {{input: 1, output: 1}}\n"
        )
        (tmp_path / "pytest.ini").write_text("[pytest]\nvision_models = slow\n")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-q",
                "--vision-concurrency",
                "1",
                "--vision-jsonl",
                str(stream),
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 60
            while result_lines(stream) < KILL_AFTER:
                assert proc.poll() is None, proc.communicate()[0].decode()
                assert time.monotonic() < deadline, "no results streamed within 60 s"
                time.sleep(0.05)
            proc.kill()  # SIGKILL: no sessionfinish, no cleanup
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
    assert proc.returncode < 0  # killed by a signal, not finished
    kinds = [
        json.loads(line)["kind"]
        for line in stream.read_text().splitlines()
        if line.strip().endswith("}")
    ]
    assert "end" not in kinds
    answered = result_lines(stream)
    assert KILL_AFTER <= answered < CASES

    out_md = tmp_path / "rebuilt.md"
    rebuilt = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest_visionevals",
            "report",
            str(stream),
            "--width",
            "100",
            "--md",
            str(out_md),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    records = [
        json.loads(line)["result"]
        for line in stream.read_text().splitlines()
        if '"kind":"result"' in line
    ]
    passed = sum(r["outcome"] == "passed" for r in records)
    assert f"({passed}/{len(records)})" in rebuilt.stdout
    assert "Overall score" in rebuilt.stdout
    assert "run incomplete" in rebuilt.stdout
    assert out_md.read_text().startswith("## Vision eval scorecard")
