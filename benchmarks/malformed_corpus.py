"""The malformed-input figures: each corpus file run on its own beside a valid eval file.

For every file in tests/malformed/ (and the few generated ones), runs pytest over that file
and a valid eval file, in a child process under a time cap and an address-space cap, and
sorts the outcome into:

* clear:   a collection error for that file naming the file, the field (and the case) and
           what the corpus header asks for, in at most a few thousand characters;
* unclear: an error missing some of that, or no error at all;
* crash:   a traceback / internal error, or the run aborted (exit 2, "Interrupted",
           killed by the memory cap), or the valid file did not run;
* hang:    no result within the time cap.

    python benchmarks/malformed_corpus.py                       # this checkout
    PYTHONPATH=/path/to/old/checkout python benchmarks/malformed_corpus.py --label old
    python benchmarks/malformed_corpus.py --only url-slow-drip.yaml image-bomb.yaml

It takes a few minutes (one pytest process per file).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from malformed_corpus import (
    BAD_DIR,
    GOOD_OUTCOMES,
    ImageServer,
    build_project,
    corpus,
    error_sections,
    good_outcomes,
    judge,
    run_pytest,
    write_images,
)

from pytest_visionevals.testing.fake_server import FakeVLMServer


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", nargs="*", help="file names to run (default: all)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per file (hang above)")
    ap.add_argument("--memory-mb", type=int, default=2048, help="RLIMIT_AS of each run")
    ap.add_argument("--label", default="this checkout")
    ap.add_argument("--json", help="write per-file verdicts here")
    args = ap.parse_args()

    names = sorted(args.only or corpus())
    verdicts: dict[str, dict[str, object]] = {}
    with (
        FakeVLMServer(answer="There are 3.") as model,
        tempfile.TemporaryDirectory() as tmp,
    ):
        root = Path(tmp)
        with ImageServer(write_images(root / "img")) as images:
            expected = build_project(root, model_base_url=model.openai_base_url, images=images)
            extra = {"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}
            for name in names:
                out = root / f"out-{name}.json"
                run = run_pytest(
                    root,
                    ["-q", "evals/good.yaml", f"{BAD_DIR}/{name}", "--vision-json", str(out)],
                    timeout_s=args.timeout,
                    memory_mb=args.memory_mb,
                    extra_env=extra,
                )
                section = error_sections(run.output).get(name)
                verdict, why = judge(expected[name], section, run)
                if verdict == "clear" and good_outcomes(out) != GOOD_OUTCOMES:
                    verdict, why = "crash", f"the valid file did not run: {good_outcomes(out)}"
                verdicts[name] = {
                    "verdict": verdict,
                    "why": why,
                    "seconds": round(run.seconds, 2),
                    "max_rss_mb": round(run.max_rss_mb),
                    "exit": run.returncode,
                }
                print(
                    f"{verdict:8} {run.seconds:6.1f} s {run.max_rss_mb:6.0f} MB  {name}  "
                    f"{why[:150]}",
                    flush=True,
                )
    counts = collections.Counter(v["verdict"] for v in verdicts.values())
    print(
        f"\n{args.label}: {counts['clear']} of {len(verdicts)} malformed eval files got a clear "
        f"error; unclear {counts['unclear']}, crash {counts['crash']}, hang {counts['hang']} "
        f"(cap {args.timeout:g} s, {args.memory_mb} MB address space; {time.strftime('%Y-%m-%d')})"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"label": args.label, "files": verdicts}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
