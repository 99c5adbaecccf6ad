"""Batch mode figures (a script, not a test): items, batches, direct calls, wall time, cost.

It starts the fake server on 127.0.0.1 (both batch APIs; a batch answers ``--delay``
seconds after it was created; a direct call takes ``--latency`` seconds), writes a suite
of ``--cases`` cases for three models (an ``openai`` model, a ``google`` model and an
``openai-compatible`` one, which has no batch API), and runs pytest on it in a subprocess:

* ``batch``: ``--vision-batch`` on an empty cache;
* ``cached``: the same again (every answer recorded: nothing may be submitted);
* ``direct``: without ``--vision-batch`` on an empty cache, for comparison.

For each it prints the items, the batches created on the server, the model calls made
directly (per model), the wall time of the pytest process and the reported cost of the
two batch-capable models. No keys, no network.

Usage::

    python benchmarks/batch_mode.py                       # 200 cases, 5 s batch delay
    python benchmarks/batch_mode.py --cases 1000 --delay 10 --xdist 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from pytest_visionevals.testing.fake_server import FakeVLMServer

CATALOG = """\
models:
  bench-gpt:
    provider: openai
    model_id: bench-gpt
    pricing: {{input: 1.75, cached_input: 0.175, output: 14.0, batch_discount: 0.5}}
    api_key_env: BENCH_OPENAI_KEY
    base_url: "{openai}"
  bench-gemma:
    provider: google
    model_id: bench-gemma-it
    box_format: yxyx_1000
    pricing: {{input: 0.06, output: 0.33, batch_discount: 0.5}}
    api_key_env: BENCH_GEMINI_KEY
    base_url: "{base}"
  bench-local:
    provider: openai-compatible
    model_id: bench-local
    base_url: "{openai}"
"""
MODELS = ("bench-gpt", "bench-gemma", "bench-local")
SERVED = {"bench-gpt": "bench-gpt", "bench-gemma": "bench-gemma-it", "bench-local": "bench-local"}


def write_suite(root: Path, server: FakeVLMServer, cases: int) -> None:
    Image.new("RGB", (64, 48), "white").save(root / "img.png")
    (root / "evals").mkdir()
    lines = ["category: Bench", "task: vqa", "cases:"]
    for i in range(cases):
        lines += [f"  - id: c{i:05d}", "    image: ../img.png", f"    prompt: question {i}"]
        lines.append("    expect: {equals: 'yes'}")
    (root / "evals" / "bench.yaml").write_text("\n".join(lines) + "\n")
    (root / "visionevals.models.yaml").write_text(
        CATALOG.format(openai=server.openai_base_url, base=server.base_url)
    )
    (root / "pytest.ini").write_text(f"[pytest]\nvision_models = {','.join(MODELS)}\n")


def run(
    root: Path, server: FakeVLMServer, cache: str, args: list[str], xdist: int
) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    env.update(BENCH_OPENAI_KEY="sk-bench-000000", BENCH_GEMINI_KEY="gm-bench-000000")
    before_batches = len(server.batches)
    server.clear()
    out = root / f"{cache}.json"
    cmd = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        "--vision-cache-dir", cache, "--vision-json", str(out), "--vision-concurrency", "16",
        *(["-n", str(xdist)] if xdist else []), *args,
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"pytest failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
    doc = json.loads(out.read_text())
    per_model = doc["scorecard"]["per_model"]
    calls = server.model_calls
    return {
        "items": len(doc["results"]),
        "passed": sum(r["outcome"] == "passed" for r in doc["results"]),
        "batches": len(server.batches) - before_batches,
        "batch_sizes": sorted(len(b.requests) for b in server.batches[before_batches:]),
        "direct_calls": {m: sum(1 for c in calls if c.model == SERVED[m]) for m in MODELS},
        "wall_s": round(wall, 2),
        "cost_usd": {m: per_model[m]["total_cost_usd"] for m in ("bench-gpt", "bench-gemma")},
        "batched": {m: per_model[m]["batched"] for m in ("bench-gpt", "bench-gemma")},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--delay", type=float, default=5.0, help="batch completion delay (s)")
    parser.add_argument("--latency", type=float, default=0.25, help="direct call latency (s)")
    parser.add_argument("--poll", type=float, default=1.0, help="--vision-batch-poll")
    parser.add_argument("--xdist", type=int, default=0, help="-n WORKERS (0: no xdist)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    figures: dict[str, Any] = {
        "cases": args.cases,
        "models": list(MODELS),
        "batch_delay_s": args.delay,
        "direct_latency_s": args.latency,
        "poll_s": args.poll,
        "xdist": args.xdist,
    }
    batch_args = ["--vision-batch", "--vision-batch-poll", str(args.poll)]
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeVLMServer(default_answer="yes", batch_delay=args.delay, latency=args.latency) as server,
    ):
        root = Path(tmp)
        write_suite(root, server, args.cases)
        figures["batch"] = run(root, server, "cache-batch", batch_args, args.xdist)
        figures["cached"] = run(root, server, "cache-batch", batch_args, args.xdist)
        figures["direct"] = run(root, server, "cache-direct", [], args.xdist)
    print(json.dumps(figures, indent=1))
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
