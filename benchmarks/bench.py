"""Benchmark of the call engine and the plugin's overhead (a script, not a test).

It starts the fake OpenAI-compatible server on 127.0.0.1 with a fixed answer latency,
generates a suite in a temporary directory (one small PNG, ``equals`` cases, a catalog
override pointing a model at the server), runs pytest on it in a subprocess and prints:

* wall time of the run phase (``pytest_runtestloop``) and of the whole process, against
  the ideal ``ceil(N / C) x latency``, next to the ``floor``: the same calls from plain
  threads with no pytest and no plugin, i.e. what the fake server and the machine allow;
* plugin CPU time per case (user + sys of the pytest process / N, and the marginal cost
  per extra case between a small and a large run);
* peak RSS of the pytest process;
* collection time of a large suite (``--collect-only -q``);
* a fully replayed re-run of the built-in suite for two models (``--vision-record none``),
  with the number of requests the server received (must be 0);
* a live run of the built-in suite for one model with its ``judge`` cases graded by a judge
  model on the same server (``judged``): answer and judge calls, against the ideal
  ``max(ceil(calls / C), 2) x latency``.

Usage::

    python benchmarks/bench.py                 # every scenario, default sizes
    python benchmarks/bench.py floor run xdist # some scenarios
    python benchmarks/bench.py --cases 400 --latency 0.25 --concurrency 32 --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pytest_visionevals.testing.fake_server import FakeVLMServer, RecordedRequest

REPO = Path(__file__).resolve().parent.parent
MODEL = "bench-vlm"
SCENARIOS = ("floor", "run", "xdist", "collect", "large", "replay", "dataset", "judged")
ANSWER = "27"
JUDGE_MODEL = "gpt-5-mini"  # the catalog model grading the judged cases
JUDGE_REPLY = '{"score": 0.9, "reason": "describes the scene"}'

# Timings of the pytest session, written by a tiny plugin loaded with ``-p`` in the subprocess.
TIMING_PLUGIN = """
import json, os, time
import pytest

_T = {"start": time.perf_counter()}

@pytest.hookimpl(wrapper=True)
def pytest_collection(session):
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        return (yield)
    finally:
        _T["collect_s"] = time.perf_counter() - t0
        # CPU time too: wall time on a shared machine measures the neighbours.
        _T["collect_cpu_s"] = time.process_time() - c0

@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session):
    t0 = time.perf_counter()
    try:
        return (yield)
    finally:
        _T["loop_s"] = time.perf_counter() - t0

# The run phase: first item started -> last item reported (on the xdist controller too,
# so worker start-up and collection are not counted as running items).
def pytest_runtest_logstart(nodeid, location):
    _T.setdefault("first_start", time.perf_counter())

def pytest_runtest_logreport(report):
    now = time.perf_counter()
    _T["last_report"] = now
    if "first_start" in _T:
        _T.setdefault("first_wait_s", now - _T["first_start"])

def pytest_unconfigure(config):
    out = os.environ.get("VISIONEVALS_BENCH_TIMES")
    if out and not hasattr(config, "workerinput"):
        _T["session_s"] = time.perf_counter() - _T.pop("start")
        if "first_start" in _T:
            _T["run_s"] = _T.pop("last_report") - _T.pop("first_start")
        with open(out, "w") as fh:
            json.dump(_T, fh)
"""


@dataclass
class Result:
    scenario: str
    cases: int
    workers: int = 0
    concurrency: int = 0
    latency_s: float = 0.0
    ideal_s: float | None = None
    run_s: float | None = None  # pytest_runtestloop
    process_s: float = 0.0  # whole subprocess, interpreter start to exit
    collect_s: float | None = None
    collect_cpu_s: float | None = None
    cpu_s: float = 0.0  # user + sys of pytest and its xdist workers
    cpu_ms_per_case: float = 0.0
    peak_rss_mb: float = 0.0
    requests: int = 0  # received by the fake server
    peak_in_flight: int = 0  # most requests the fake server was handling at once
    answer_calls: int = 0  # judged: calls of the model under test
    judge_calls: int = 0  # judged: calls of the judge model
    judge_peak_in_flight: int = 0  # judged: most requests on the server during judge calls
    judge_at_once: int = 0  # judged: most judge calls on the server at once
    exit_code: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def run_ratio(self) -> float | None:
        return None if not self.ideal_s or self.run_s is None else self.run_s / self.ideal_s

    @property
    def process_ratio(self) -> float | None:
        return None if not self.ideal_s else self.process_s / self.ideal_s


def make_suite(root: Path, n: int, base_url: str, *, files: int = 1) -> None:
    """N ``equals`` cases sharing one PNG, spread over ``files`` eval files."""
    from PIL import Image

    (root / "evals").mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (64, 48), (200, 30, 30)).save(root / "shelf.png")
    (root / "visionevals.models.yaml").write_text(
        "models:\n"
        f"  {MODEL}:\n"
        "    provider: openai-compatible\n"
        f"    model_id: {MODEL}\n"
        f"    base_url: {base_url}\n"
        "    pricing: {input: 0.10, output: 0.40}\n"
        "    timeout_s: 30\n"
    )
    (root / "pytest.ini").write_text(f"[pytest]\nvision_models = {MODEL}\n")
    per_file = math.ceil(n / files)
    for f in range(files):
        lines = ["category: Bench", "task: vqa", "cases:"]
        for i in range(f * per_file, min(n, (f + 1) * per_file)):
            lines += [
                f"  - id: case-{i:05d}",
                "    image: ../shelf.png",
                f"    prompt: Case {i}. How many bottles? Answer with a number.",
                f"    expect: {{equals: '{ANSWER}'}}",
            ]
        (root / "evals" / f"bench_{f:03d}.yaml").write_text("\n".join(lines) + "\n")


def run_pytest(
    cwd: Path,
    args: list[str],
    env_extra: dict[str, str] | None = None,
) -> tuple[int, float, float, float, dict[str, float], str]:
    """(exit code, process wall s, cpu s, peak rss MB, session timings, output tail)."""
    plugin_dir = Path(tempfile.mkdtemp(prefix="ve-bench-plugin-"))
    (plugin_dir / "ve_bench_timing.py").write_text(TIMING_PLUGIN)
    times_file = plugin_dir / "times.json"
    pythonpath = os.pathsep.join(p for p in (str(plugin_dir), os.environ.get("PYTHONPATH")) if p)
    env = {
        **os.environ,
        "VISIONEVALS_BENCH_TIMES": str(times_file),
        "PYTHONPATH": pythonpath,
        **(env_extra or {}),
    }
    env.pop("PYTEST_ADDOPTS", None)
    # hypothesis (a dev dependency here) auto-loads a pytest plugin costing seconds of
    # start-up per process; it is not this plugin's overhead, so it is left out.
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:hypothesispytest",
        "-p",
        "ve_bench_timing",
        *args,
    ]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, text=True
        )
        # wait4: this child's own usage (its xdist workers included once it reaped them),
        # and its own peak RSS, not the largest child of the whole benchmark so far.
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    cpu = usage.ru_utime + usage.ru_stime
    rss_mb = usage.ru_maxrss / 1024  # KiB on Linux
    times: dict[str, float] = {}
    if times_file.exists():
        times = json.loads(times_file.read_text())
    shutil.rmtree(plugin_dir, ignore_errors=True)
    tail = "\n".join(output.strip().splitlines()[-6:])
    return proc.returncode, wall, cpu, rss_mb, times, tail


def scenario_run(
    name: str,
    n: int,
    latency: float,
    concurrency: int,
    workers: int,
    files: int = 1,
    replay: bool = False,
) -> Result:
    """Live calls (default record mode, empty cache); with ``replay``, then time a
    replay-only pass."""
    with (
        FakeVLMServer(answer=ANSWER, latency=latency) as srv,
        tempfile.TemporaryDirectory(prefix="ve-bench-") as tmp,
    ):
        root = Path(tmp)
        make_suite(root, n, srv.openai_base_url, files=files)
        args = [
            "-q",
            f"--vision-concurrency={concurrency}",
            f"--vision-cache-dir={root / 'c'}",
            "--vision-no-progress",
        ]
        if workers:
            args += ["-n", str(workers)]
        # The default record mode ('once'): the cache directory is new, so every case calls.
        code, wall, cpu, rss, times, tail = run_pytest(root, args)
        live_requests = srv.request_count
        peak = srv.peak_in_flight
        notes = []
        if code not in (0, 1) or live_requests != n:
            notes.append(f"unexpected: exit {code}, {live_requests} requests\n{tail}")
        if replay:
            srv.clear()
            notes.append(f"live pass: process {wall:.2f}s, cpu {cpu / n * 1000:.2f} ms/case")
            code, wall, cpu, rss, times, tail = run_pytest(root, [*args, "--vision-record=none"])
            if code not in (0, 1):
                notes.append(f"unexpected: exit {code}\n{tail}")
        # --vision-concurrency is the run's total; xdist workers share it.
        first = times.get("first_wait_s")
        res = Result(
            scenario=name,
            cases=n,
            workers=workers,
            concurrency=concurrency,
            latency_s=latency,
            ideal_s=math.ceil(n / concurrency) * latency if latency and not replay else None,
            run_s=times.get("run_s"),
            process_s=wall,
            collect_s=times.get("collect_s"),
            cpu_s=cpu,
            cpu_ms_per_case=cpu / n * 1000,
            peak_rss_mb=rss,
            requests=srv.request_count,
            peak_in_flight=peak,
            exit_code=code,
            notes=notes,
        )
        if first is not None and res.ideal_s:
            res.notes.append(f"first answer after {first:.2f}s (SDK import + one call)")
        return res


def scenario_floor(n: int, latency: float, concurrency: int) -> Result:
    """No pytest, no plugin: ``concurrency`` threads posting the same requests with the
    standard library's http.client. What the fake server and the machine allow, so the
    ``run`` figures can be read against it."""
    import base64
    import http.client
    import threading
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    with FakeVLMServer(answer=ANSWER, latency=latency) as srv:
        jobs = iter(range(n))
        lock = threading.Lock()

        def worker() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
            while True:
                with lock:
                    i = next(jobs, None)
                if i is None:
                    conn.close()
                    return
                content = [
                    {"type": "text", "text": f"Case {i}. How many bottles? Answer with a number."},
                    {"type": "image_url", "image_url": {"url": url}},
                ]
                body = {"model": MODEL, "messages": [{"role": "user", "content": content}]}
                conn.request(
                    "POST",
                    "/v1/chat/completions",
                    body=json.dumps(body),
                    headers={"Content-Type": "application/json"},
                )
                json.loads(conn.getresponse().read())

        t0 = time.perf_counter()
        cpu0 = time.process_time()
        threads = [threading.Thread(target=worker) for _ in range(concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
        return Result(
            scenario="floor",
            cases=n,
            concurrency=concurrency,
            latency_s=latency,
            ideal_s=math.ceil(n / concurrency) * latency,
            run_s=wall,
            process_s=wall,
            cpu_s=time.process_time() - cpu0,  # client and server: one process here
            cpu_ms_per_case=(time.process_time() - cpu0) / n * 1000,
            requests=srv.request_count,
            peak_in_flight=srv.peak_in_flight,
        )


def _single_pass(scenario: str, root: Path, n: int, args: list[str]) -> Result:
    """One pytest run over ``n`` items in ``root``: its timings, CPU and memory."""
    code, wall, cpu, rss, times, tail = run_pytest(root, args)
    res = Result(
        scenario=scenario,
        cases=n,
        run_s=times.get("run_s"),
        process_s=wall,
        collect_s=times.get("collect_s"),
        collect_cpu_s=times.get("collect_cpu_s"),
        cpu_s=cpu,
        cpu_ms_per_case=cpu / n * 1000,
        peak_rss_mb=rss,
        exit_code=code,
    )
    if code != 0:
        res.notes.append(f"unexpected exit {code}\n{tail}")
    return res


def scenario_plain(n: int) -> Result:
    """pytest alone (this plugin disabled) on ``n`` trivial parametrized tests: the cost of
    pytest's own per-item protocol, to tell it apart from the plugin's."""
    with tempfile.TemporaryDirectory(prefix="ve-bench-") as tmp:
        root = Path(tmp)
        (root / "test_plain.py").write_text(
            f"import pytest\n\n@pytest.mark.parametrize('i', range({n}))\n"
            "def test_plain(i):\n    pass\n"
        )
        return _single_pass("plain", root, n, ["-q", "-p", "no:visionevals"])


def scenario_collect(n: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="ve-bench-") as tmp:
        root = Path(tmp)
        make_suite(root, n, "http://127.0.0.1:9/v1", files=max(1, n // 100))
        res = _single_pass("collect", root, n, ["--collect-only", "-q"])
        res.run_s = None  # nothing runs
        return res


def make_dataset_suite(root: Path, rows: int) -> None:
    """A ``rows``-row JSON-lines dataset, one image file per row, for two models. The data
    sits outside ``evals/``: pytest walks every file under a collected directory."""
    from PIL import Image

    (root / "data" / "img").mkdir(parents=True)
    (root / "evals").mkdir()
    buf = root / "data" / "img" / "00000.png"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf)
    raw = buf.read_bytes()
    lines = []
    for i in range(rows):
        (root / "data" / "img" / f"{i:05d}.png").write_bytes(raw)
        row = {"id": f"q{i:05d}", "image": f"img/{i:05d}.png", "n": i % 40, "kind": "shelf"}
        row["question"] = f"Row {i}. How many bottles are on the {row['kind']}?"
        lines.append(json.dumps(row))
    (root / "data" / "rows.jsonl").write_text("\n".join(lines) + "\n")
    (root / "evals" / "dataset.yaml").write_text(
        "category: Object Counting\ntask: vqa\ndataset:\n  path: ../data/rows.jsonl\n"
        '  id: "{id}"\n  image: "{image}"\n  tags: ["{kind}"]\n'
        '  prompt: "{question} Answer with a number."\n  expect: {count: "{n}"}\n'
    )
    models = "".join(
        f"  {m}:\n    provider: openai-compatible\n    model_id: {m}\n"
        "    base_url: http://127.0.0.1:9/v1\n"
        for m in ("bench-a", "bench-b")
    )
    (root / "visionevals.models.yaml").write_text("models:\n" + models)
    (root / "pytest.ini").write_text("[pytest]\nvision_models = bench-a,bench-b\n")


def scenario_dataset(rows: int) -> Result:
    """Collection of a ``rows``-row JSON-lines dataset for two models (2 x rows items),
    against plain pytest collecting as many parametrized items (its own per-item cost)."""
    items = 2 * rows
    with tempfile.TemporaryDirectory(prefix="ve-bench-") as tmp:
        root = Path(tmp)
        make_dataset_suite(root, rows)
        res = _single_pass("dataset", root, items, ["--collect-only", "-q"])
        res.run_s = None
    with tempfile.TemporaryDirectory(prefix="ve-bench-") as tmp:
        root = Path(tmp)
        (root / "test_plain.py").write_text(
            f"import pytest\n\n@pytest.mark.parametrize('i', range({items}))\n"
            "def test_plain(i):\n    pass\n"
        )
        plain = _single_pass("plain", root, items, ["--collect-only", "-q", "-p", "no:visionevals"])
    if res.collect_cpu_s is not None and plain.collect_cpu_s is not None:
        res.notes.append(
            f"{rows} rows x 2 models = {items} items: collection {res.collect_s:.2f}s wall, "
            f"{res.collect_cpu_s:.2f}s CPU; plain pytest collecting {items} parametrized "
            f"items: {plain.collect_s:.2f}s wall, {plain.collect_cpu_s:.2f}s CPU (peak RSS "
            f"{plain.peak_rss_mb:.0f} MB). Beyond pytest's own per-item cost: "
            f"{res.collect_cpu_s - plain.collect_cpu_s:.2f}s CPU"
        )
    return res


def scenario_replay(models: tuple[str, str] = ("gpt-5.2", "gemma-4-26b-a4b")) -> Result:
    """Record the built-in suite against the fake server, then replay it with no network."""
    evals = REPO / "evals"
    with (
        FakeVLMServer(answer=ANSWER) as srv,
        tempfile.TemporaryDirectory(prefix="ve-bench-") as tmp,
    ):
        tmpdir = Path(tmp)
        catalog = tmpdir / "catalog.yaml"
        catalog.write_text(
            "models:\n"
            f"  {models[0]}: {{base_url: {srv.openai_base_url}}}\n"
            f"  {models[1]}: {{base_url: {srv.base_url}}}\n"
        )
        common = [
            str(evals),
            "-q",
            "--vision-no-progress",
            f"--vision-catalog={catalog}",
            f"--vision-models={','.join(models)}",
            f"--vision-cache-dir={tmpdir / 'c'}",
        ]
        keys = {"OPENAI_API_KEY": "sk-bench", "GEMINI_API_KEY": "bench", "GOOGLE_API_KEY": "bench"}
        code1, *_rest, tail1 = run_pytest(REPO, [*common, "--vision-record=all"], keys)
        recorded = srv.request_count
        srv.clear()
        # Replay with no keys at all: a replay must not need credentials.
        env_no_keys = {k: "" for k in keys}
        code, wall, cpu, rss, times, tail = run_pytest(
            REPO, [*common, "--vision-record=none"], env_no_keys
        )
        cases = recorded or 1
        res = Result(
            scenario="replay",
            cases=recorded,
            process_s=wall,
            run_s=times.get("run_s"),
            collect_s=times.get("collect_s"),
            cpu_s=cpu,
            cpu_ms_per_case=cpu / cases * 1000,
            peak_rss_mb=rss,
            requests=srv.request_count,
            exit_code=code,
        )
        res.notes.append(f"record pass: {recorded} requests, exit {code1}")
        if not recorded:
            res.notes.append(f"nothing recorded (is evals/ populated?)\n{tail1}")
        if code not in (0, 1):
            res.notes.append(f"unexpected exit {code}\n{tail}")
        return res


def _peak_overlap(spans: list[tuple[float, float]], window: tuple[float, float]) -> int:
    """The most ``(start, end)`` spans open at once inside ``window``."""
    lo, hi = window
    events = sorted(
        (t, d)
        for a, b in spans
        if a < hi and b > lo
        for t, d in ((max(a, lo), 1), (min(b, hi), -1))
    )
    peak = now = 0
    for _t, d in events:  # an end sorts before a start at the same instant
        now += d
        peak = max(peak, now)
    return peak


def scenario_judged(
    latency: float, concurrency: int, model: str = "gpt-5.2", judge: str = JUDGE_MODEL
) -> Result:
    """The built-in suite, live, for one model, its ``judge`` cases graded by ``judge``;
    both models on one fake server (the judge's prompts get a passing verdict)."""
    evals = REPO / "evals"
    done: dict[int, float] = {}  # id(request) -> when its answer was ready

    def answer(req: RecordedRequest) -> str:
        done[id(req)] = time.monotonic()  # called after the latency sleep
        return JUDGE_REPLY if req.model == judge else ANSWER

    with (
        FakeVLMServer(answer=answer, latency=latency) as srv,
        tempfile.TemporaryDirectory(prefix="ve-bench-") as tmp,
    ):
        tmpdir = Path(tmp)
        catalog = tmpdir / "catalog.yaml"
        catalog.write_text(
            "models:\n"
            f"  {model}: {{base_url: {srv.openai_base_url}}}\n"
            f"  {judge}: {{base_url: {srv.openai_base_url}}}\n"
        )
        args = [
            str(evals),
            "-q",
            "--vision-no-progress",
            f"--vision-catalog={catalog}",
            f"--vision-models={model}",
            f"--vision-judge-model={judge}",
            f"--vision-concurrency={concurrency}",
            # The default record mode ('once') with a new cache: every call is live.
            f"--vision-cache-dir={tmpdir / 'c'}",
        ]
        code, wall, cpu, rss, times, tail = run_pytest(REPO, args, {"OPENAI_API_KEY": "sk-bench"})
        reqs = srv.model_calls
        judged = [r for r in reqs if r.model == judge]
        total = len(reqs)
        # A judged item needs its answer, then its judge call: two latencies at least.
        ideal = max(math.ceil(total / concurrency), 2) * latency if latency else None
        res = Result(
            scenario="judged",
            cases=total - len(judged),
            concurrency=concurrency,
            latency_s=latency,
            ideal_s=ideal,
            run_s=times.get("run_s"),
            process_s=wall,
            collect_s=times.get("collect_s"),
            cpu_s=cpu,
            cpu_ms_per_case=cpu / max(1, total) * 1000,
            peak_rss_mb=rss,
            requests=total,
            peak_in_flight=srv.peak_in_flight,
            answer_calls=total - len(judged),
            judge_calls=len(judged),
            exit_code=code,
        )
        if code not in (0, 1) or not judged:
            res.notes.append(f"unexpected: exit {code}, {len(judged)} judge calls\n{tail}")
        if judged and reqs:
            t0 = reqs[0].received_at
            spans = [(r.received_at, done.get(id(r), r.received_at)) for r in reqs]
            phase = (min(r.received_at for r in judged), max(done.get(id(r), 0) for r in judged))
            res.judge_peak_in_flight = _peak_overlap(spans, phase)
            res.judge_at_once = _peak_overlap(
                [(r.received_at, done.get(id(r), r.received_at)) for r in judged], phase
            )
            last = max(b for _a, b in spans)
            res.notes.append(
                f"calls: {res.answer_calls} answers + {res.judge_calls} judge = {total}; "
                "judge calls sent at "
                + ", ".join(f"{r.received_at - t0:.2f}" for r in judged)
                + f" s after the first call (up to {res.judge_at_once} at once, "
                f"{res.judge_peak_in_flight} requests on the server); "
                f"last answer at {last - t0:.2f} s"
            )
        first = times.get("first_wait_s")
        if first is not None:
            res.notes.append(f"first item reported {first:.2f}s after it started")
        return res


def fmt(r: Result) -> str:
    def s(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}s"

    parts = [f"{r.scenario:<8} N={r.cases:<5}"]
    if r.concurrency:
        parts.append(
            f"C={r.concurrency}"
            + (
                f" over {r.workers} workers ({r.concurrency // r.workers} each)"
                if r.workers
                else ""
            )
        )
    if r.ideal_s:
        parts.append(f"ideal {s(r.ideal_s)}")
        parts.append(f"run {s(r.run_s)} ({r.run_ratio or 0:.2f}x)")
        parts.append(f"process {s(r.process_s)} ({r.process_ratio or 0:.2f}x)")
    else:
        parts.append(f"run {s(r.run_s)} process {s(r.process_s)}")
    if r.scenario != "floor":
        parts.append(f"collect {s(r.collect_s)}")
    parts.append(f"cpu {r.cpu_ms_per_case:.2f} ms/case")
    if r.peak_rss_mb:
        parts.append(f"peak RSS {r.peak_rss_mb:.0f} MB")
    parts.append(f"requests {r.requests}")
    if r.peak_in_flight:
        parts.append(f"peak in flight {r.peak_in_flight}")
    if r.judge_calls:
        parts.append(f"judge calls {r.judge_calls}, {r.judge_at_once} at once")
    out = " | ".join(parts)
    for note in r.notes:
        out += "\n    " + note.replace("\n", "\n    ")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help=f"some of {', '.join(SCENARIOS)} (default: all)",
    )
    ap.add_argument("--cases", type=int, default=400)
    ap.add_argument("--latency", type=float, default=0.25)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--large", type=int, default=5000)
    ap.add_argument("--rows", type=int, default=10000, help="rows of the dataset scenario")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    scenarios = args.scenarios or list(SCENARIOS)

    results: list[Result] = []
    for name in scenarios:
        if name == "floor":
            r = scenario_floor(args.cases, args.latency, args.concurrency)
        elif name == "run":
            r = scenario_run("run", args.cases, args.latency, args.concurrency, 0)
        elif name == "xdist":
            r = scenario_run("xdist", args.cases, args.latency, args.concurrency, 2)
        elif name == "collect":
            r = scenario_collect(args.large)
        elif name == "dataset":
            r = scenario_dataset(args.rows)
        elif name == "large":
            # Replay-only passes isolate the plugin (collection, cache, scoring, reports)
            # from the SDK; the marginal CPU between two sizes drops the fixed start-up.
            r = scenario_run("large", args.large, 0.0, 64, 0, files=50, replay=True)
            small = scenario_run("small", args.cases, 0.0, 64, 0, files=4, replay=True)
            print(fmt(small), flush=True)
            marginal = (r.cpu_s - small.cpu_s) / max(1, r.cases - small.cases) * 1000
            # The same difference for plain pytest tests, with this plugin disabled.
            plain_small, plain_large = scenario_plain(args.cases), scenario_plain(args.large)
            plain = (plain_large.cpu_s - plain_small.cpu_s) / max(1, args.large - args.cases)
            r.notes.append(
                f"replay pass; marginal CPU per extra case ({small.cases} -> {r.cases}): "
                f"{marginal:.2f} ms, of which pytest's own per-item protocol "
                f"{plain * 1000:.2f} ms (a plain test, plugin disabled): "
                f"the plugin's own {marginal - plain * 1000:.2f} ms"
            )
        elif name == "judged":
            r = scenario_judged(args.latency, args.concurrency)
        else:
            r = scenario_replay()
        print(fmt(r), flush=True)
        results.append(r)
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    asdict(r) | {"run_ratio": r.run_ratio, "process_ratio": r.process_ratio}
                    for r in results
                ],
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
