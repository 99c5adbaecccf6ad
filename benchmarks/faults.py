"""Fault and kill probe: does a flaky endpoint or a killed run ever lose or mislabel an item?

Runs the built-in suite (89 cases) for gpt-5.2 and gemma-4-26b-a4b (178 items) through
the real SDKs against the fake server, which answers every case with its reference
answer (``reference.correct`` in the eval files):

* ``faults``: once without faults (the baseline outcome of every item), then with a seeded
  share of requests (default 20%) failing: 429 with and without Retry-After, 500, 503,
  connection resets, hangs past the timeout, truncated and malformed bodies. Counts items
  lost (no result), mislabelled (passed/failed differently from the baseline) and errors
  (every attempt hit a fault), with and without ``-n 2``.
* ``kill``: kill -9 of the pytest process (and of the xdist controller under ``-n 2``)
  once calls are on the wire, then a re-run: answers lost (answered by the server but not
  in the cache) and calls repeated by the re-run.

    python benchmarks/faults.py                 # both, 20% faults, seed 1
    python benchmarks/faults.py faults --rate 0.3 --seed 7
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pytest_visionevals.assertions import default_registry
from pytest_visionevals.cases import load_eval_file
from pytest_visionevals.testing.fake_server import FakeVLMServer, Fault, RecordedRequest

REPO = Path(__file__).resolve().parent.parent
MODELS = "gpt-5.2,gemma-4-26b-a4b"
JUDGE_REPLY = '{"score": 0.9, "reason": "matches the rubric"}'
REASONS: dict[str, str] = {}
KINDS: list[Fault] = [
    Fault("429", retry_after=0.2),
    Fault("429"),
    Fault("500"),
    Fault("status", status=503),
    Fault("reset"),
    Fault("hang"),
    Fault("truncated"),
    Fault("malformed"),
]


def reference_answers() -> list[tuple[str, str]]:
    """(case prompt, its first correct reference answer) for every built-in case."""
    out = []
    for path in sorted((REPO / "evals").rglob("*.yaml")):
        if path.name.startswith(("_", ".")):
            continue
        for case in load_eval_file(path, default_registry()).cases:
            if case.reference and case.reference.correct:
                out.append((case.prompt, case.reference.correct[0]))
    return out


def scripted(answers: list[tuple[str, str]]) -> Any:
    def answer(req: RecordedRequest) -> str:
        if "You are grading" in req.prompt:
            return JUDGE_REPLY
        for prompt, text in answers:
            if prompt in req.prompt:
                return text
        return "I am not sure."

    return answer


def run_suite(srv: FakeVLMServer, work: Path, *args: str) -> tuple[int, dict[str, str]]:
    env = {
        **os.environ,
        "OPENAI_BASE_URL": srv.openai_base_url,
        "GOOGLE_GEMINI_BASE_URL": srv.base_url,
        "OPENAI_API_KEY": "sk-probe-faults",
        "GEMINI_API_KEY": "gm-probe-faults",
    }
    env.pop("PYTEST_ADDOPTS", None)
    out = work / "out.json"
    out.unlink(missing_ok=True)
    cmd = [
        sys.executable, "-m", "pytest", "evals", "-q", "-p", "no:cacheprovider",
        "-p", "no:randomly", "--vision-models", MODELS, "--vision-record", "all",
        "--vision-cache-dir", str(work / "cache"), "--vision-json", str(out),
        "--vision-timeout", "2", "--vision-concurrency", "16", *args,
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    outcomes: dict[str, str] = {}
    if out.is_file():
        for r in json.loads(out.read_text())["results"]:
            outcomes[r["nodeid"]] = r["outcome"]
            if r["outcome"] == "error":
                REASONS[r["nodeid"]] = r["reason"]
    return proc.returncode, outcomes


def faults(rate: float, seed: int) -> None:
    answers = reference_answers()
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeVLMServer(answer=scripted(answers), hang_s=4) as srv,
    ):
        work = Path(tmp)
        _, baseline = run_suite(srv, work)
        print(f"baseline: {len(baseline)} items, "
              f"{sum(o == 'passed' for o in baseline.values())} passed")  # fmt: skip
        for label, extra in (("no xdist", []), ("-n 2", ["-n", "2"])):
            rng = random.Random(seed)
            injected = {"n": 0}

            def hook(
                req: RecordedRequest, rng: random.Random = rng, injected: dict[str, int] = injected
            ) -> Fault | None:
                if rng.random() < rate:
                    injected["n"] += 1
                    return rng.choice(KINDS)
                return None

            srv.fault_hook = hook
            srv.clear()
            started = time.monotonic()
            _, got = run_suite(srv, work, *extra)
            wall = time.monotonic() - started
            srv.fault_hook = None
            lost = sorted(set(baseline) - set(got))
            answered = {"passed", "failed"}
            mislabelled = [k for k, o in got.items() if o in answered and o != baseline.get(k)]
            errors = [k for k, o in got.items() if o == "error"]
            print(
                f"{label}: {srv.request_count} requests, {injected['n']} faults injected "
                f"({injected['n'] / max(1, srv.request_count):.0%}); items lost {len(lost)}, "
                f"mislabelled {len(mislabelled)}, errors {len(errors)} "
                f"(all its attempts hit faults), {wall:.1f} s"
            )
            for k in errors:
                print(f"  error: {k}: {REASONS.get(k)}")
            for k in mislabelled:
                print(f"  mislabelled: {k}: {baseline.get(k)} -> {got[k]}")


def _identity(r: RecordedRequest) -> str:
    """A request's identity: its whole body (prompt, image and parameters), not its
    prompt alone, which several built-in cases share with different images."""
    body = json.dumps(r.body, sort_keys=True, default=str)
    return f"{r.model}|{hashlib.sha256(body.encode()).hexdigest()}"


def kill(delay_requests: int = 40) -> None:
    answers = reference_answers()
    for label, extra in (("no xdist", []), ("-n 2", ["-n", "2"])):
        with (
            tempfile.TemporaryDirectory() as tmp,
            FakeVLMServer(answer=scripted(answers), latency=0.3) as srv,
        ):
            work = Path(tmp)
            env = {
                **os.environ,
                "OPENAI_BASE_URL": srv.openai_base_url,
                "GOOGLE_GEMINI_BASE_URL": srv.base_url,
                "OPENAI_API_KEY": "sk-probe-kill",
                "GEMINI_API_KEY": "gm-probe-kill",
            }
            env.pop("PYTEST_ADDOPTS", None)
            cmd = [
                sys.executable, "-m", "pytest", "evals", "-q", "-p", "no:cacheprovider",
                "-p", "no:randomly", "--vision-models", MODELS,
                "--vision-cache-dir", str(work / "cache"), "--vision-concurrency", "8", *extra,
            ]  # fmt: skip
            proc = subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
            while srv.request_count < delay_requests and proc.poll() is None:
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            time.sleep(3)  # orphaned xdist workers finish what is on the wire
            # What the server answered in full before the kill (calls on the wire when the
            # process died got no answer: calling them again is not a repeat).
            first = {_identity(r) for r in srv.requests if r.answered}
            on_wire = sum(not r.answered for r in srv.requests)
            recorded = len(list((work / "cache").rglob("*.json")))
            srv.clear()
            subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, check=False)
            again = [_identity(r) for r in srv.requests]
            repeated = len(first & set(again))
            print(
                f"kill -9 ({label}): {len(first)} answers delivered before the process died "
                f"({on_wire} calls still on the wire), {recorded} in the cache; answers lost "
                f"{max(0, len(first) - recorded)}; the re-run made {len(again)} calls, "
                f"repeating {repeated} answered ones"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Checked here: argparse tests an empty or default list against ``choices`` as one value.
    parser.add_argument("what", nargs="*", help="faults, kill (default: both)")
    parser.add_argument("--rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    what = args.what or ["faults", "kill"]
    if set(what) - {"faults", "kill"}:
        parser.error(f"unknown probe(s): {', '.join(sorted(set(what) - {'faults', 'kill'}))}")
    if "faults" in what:
        faults(args.rate, args.seed)
    if "kill" in what:
        kill()


if __name__ == "__main__":
    main()
