"""``python -m pytest_visionevals`` / ``visionevals``: work with saved runs without pytest.

    visionevals report FILE.jsonl|FILE.json [--md PATH] [--html PATH] [--json PATH]

rebuilds the scorecard from a JSON-lines stream (also one left by a killed run) or a
``--vision-json`` file, prints the side-by-side table and writes the requested reports.

    visionevals import vision-checkup DIR [--out evals/vision_checkup.yaml]

turns a Vision Checkup folder (``prompts.csv`` + ``images/``) into a dataset eval file.

    visionevals compare IMAGE [IMAGE ...] --prompt TEXT [--task T] [--models A,B] ...

asks every model the same question about the images, through the same engine as a
pytest run, and shows the answers side by side (docs/compare.md; the logic is in
``pytest_visionevals.compare``). ``visionevals schema`` prints the eval-file JSON Schema.
Subcommands are argparse subparsers: add one with a ``_add_<name>(subparsers)`` function.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_visionevals.models import OVERRIDE_FILENAME, CatalogError, load_catalog
from pytest_visionevals.report import terminal
from pytest_visionevals.report.files import write_reports
from pytest_visionevals.report.format import display_names
from pytest_visionevals.report.json_report import ReportError
from pytest_visionevals.report.jsonl import load_any
from pytest_visionevals.untrusted import printable

if TYPE_CHECKING:
    from collections.abc import Sequence

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def _report(args: argparse.Namespace) -> int:
    try:
        run = load_any(args.file)
    except ReportError as exc:
        print(printable(f"visionevals report: {exc}", multiline=True), file=sys.stderr)
        return EXIT_BAD_INPUT
    card = run.scorecard()
    facts = run.facts
    if not facts:
        catalog = Path(args.catalog) if args.catalog else Path.cwd() / OVERRIDE_FILENAME
        try:
            facts = load_catalog(catalog).facts(m.model for m in card.models)
        except CatalogError as exc:
            print(
                printable(f"visionevals report: catalog not read ({exc})", multiline=True),
                file=sys.stderr,
            )
    width = args.width or shutil.get_terminal_size((100, 24)).columns
    print(terminal.render_text(card, width, display_names=display_names(facts)))
    notes = [f"{len(run.results)} results from {args.file}"]
    if not run.complete:
        notes.append("run incomplete (no end record: interrupted or killed)")
    if run.dropped_lines:
        notes.append(f"{run.dropped_lines} partial line dropped")
    print(printable("; ".join(notes)))
    written = write_reports(
        card,
        facts,
        json=args.json,
        md=args.md,
        html_path=args.html,
        complete=run.complete,
        model_order=run.model_order or None,
    )
    for what, path in written:
        print(printable(f"wrote {what} -> {path}"))
    return EXIT_OK


def _add_report(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "report",
        help="rebuild the scorecard from a .jsonl stream or a --vision-json file",
        description="Rebuild the scorecard from a saved run and print the side-by-side table.",
    )
    p.add_argument("file", metavar="FILE", help="a .jsonl stream or a --vision-json file")
    p.add_argument("--md", metavar="PATH", help="write the Markdown report")
    p.add_argument("--html", metavar="PATH", help="write the self-contained HTML report")
    p.add_argument("--json", metavar="PATH", help="write the JSON report (schema_version 1)")
    p.add_argument(
        "--catalog",
        metavar="PATH",
        help=f"catalog override for the models table (default ./{OVERRIDE_FILENAME})",
    )
    p.add_argument("--width", type=int, default=None, help="table width (default: terminal)")
    p.set_defaults(func=_report)


def _schema(args: argparse.Namespace) -> int:
    import json

    from pytest_visionevals.assertions import default_registry
    from pytest_visionevals.cases import json_schema

    text = json.dumps(json_schema(default_registry()), indent=2, sort_keys=True) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote JSON Schema -> {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _add_schema(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "schema",
        help="print the eval-file JSON Schema (for editors' yaml-language-server)",
        description="Print the JSON Schema of eval files, built-in assertion types included.",
    )
    p.add_argument("-o", "--output", metavar="PATH", help="write to PATH instead of stdout")
    p.set_defaults(func=_schema)


def _import_vision_checkup(args: argparse.Namespace) -> int:
    from pytest_visionevals.dataset.vision_checkup import CheckupImportError, import_vision_checkup

    mapping = {}
    for item in args.category_map or []:
        original, sep, ours = item.partition("=")
        if not sep:
            print(
                f"visionevals import: --category-map {item!r}: use ORIGINAL=OURS", file=sys.stderr
            )
            return EXIT_BAD_INPUT
        mapping[original.strip()] = ours.strip()
    try:
        done = import_vision_checkup(
            Path(args.dir), Path(args.out), json_answer=args.json_answer, category_map=mapping
        )
    except CheckupImportError as exc:
        print(f"visionevals import: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for original, ours in sorted(done.categories.items()):
        print(f"category {original!r} -> {ours}")
    for missing in done.missing_images:
        print(f"warning: image not found, {missing}", file=sys.stderr)
    print(f"wrote {done.rows} rows -> {done.data_file}")
    print(f"wrote eval file -> {done.eval_file}")
    return EXIT_OK


def _add_import(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "import",
        help="turn a benchmark folder into a dataset-backed eval file",
        description="Turn a benchmark folder into a dataset-backed eval file.",
    )
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    vc = kinds.add_parser(
        "vision-checkup",
        help="Roboflow's Vision Checkup layout: prompts.csv + images/",
        description=(
            "Read DIR/prompts.csv (file_name, prompt, answer, category) and DIR/images/; "
            "write an eval file and its .jsonl data (categories mapped to ours and kept as "
            "tags, an assertion chosen per answer)."
        ),
    )
    vc.add_argument("dir", metavar="DIR", help="the folder holding prompts.csv and images/")
    vc.add_argument(
        "--out",
        default="evals/vision_checkup.yaml",
        help="eval file to write (its data: the same name with .jsonl)",
    )
    vc.add_argument(
        "--json-answer",
        choices=("auto", "always", "never"),
        default="auto",
        help='check the answer inside {"answer": ...} (auto: when the prompt asks for it)',
    )
    vc.add_argument(
        "--category-map",
        action="append",
        metavar="ORIGINAL=OURS",
        help="map an original category to one of ours (repeatable)",
    )
    vc.set_defaults(func=_import_vision_checkup)


def _compare(args: argparse.Namespace) -> int:
    from pytest_visionevals.cache import parse_record_mode
    from pytest_visionevals.compare import CompareSpec, Outputs, run_command
    from pytest_visionevals.options import split_names
    from pytest_visionevals.ratelimit import Limit, parse_rate_limit

    limits: dict[str, Limit] = {}
    try:
        for raw in args.rate_limit:
            name, limit = parse_rate_limit(raw, "--rate-limit")
            limits[name] = limit
    except ValueError as exc:
        print(f"visionevals compare: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    spec = CompareSpec(
        images=tuple(args.images),
        prompt=args.prompt,
        task=args.task,
        models=tuple(split_names(args.models)) if args.models is not None else None,
        expect=args.expect,
        catalog=Path(args.catalog) if args.catalog else None,
        concurrency=args.concurrency,
        record_mode=parse_record_mode(args.record),
        cache_dir=Path(args.cache_dir),
        max_cost=args.max_cost,
        rate_limits=limits,
    )
    outputs = Outputs(
        json=Path(args.json) if args.json else None,
        html=Path(args.html) if args.html else None,
        width=args.width,
    )
    try:
        return run_command(
            spec,
            outputs,
            save=Path(args.save) if args.save else None,
            category=args.category,
        )
    except KeyboardInterrupt:
        print("visionevals compare: interrupted", file=sys.stderr)
        return 130


def _add_compare(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from pytest_visionevals.cache import RECORD_MODES
    from pytest_visionevals.compare import COMPARE_TASKS
    from pytest_visionevals.engine import DEFAULT_CONCURRENCY
    from pytest_visionevals.options import DEFAULT_CACHE_DIR

    p = subparsers.add_parser(
        "compare",
        help="ask every model the same question about images, side by side",
        description=(
            "Call every model on every image concurrently, through the same providers, "
            "cache, rate limits and cost accounting as a pytest run, and show the answers "
            "side by side. Exit status: 0 when every selected model answered (and passed "
            "--expect), 1 when any errored, was skipped or failed, 2 on bad input."
        ),
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files (or https URLs)")
    p.add_argument("--prompt", required=True, help="the question asked about each image")
    p.add_argument(
        "--task",
        choices=COMPARE_TASKS,
        default="open",
        help="detection asks each model for boxes in its own format and draws them; "
        "point asks for one point (saved as a detection case); default open",
    )
    p.add_argument(
        "--models",
        metavar="A,B,C",
        help="catalog names (default: every model with credentials that does the task)",
    )
    p.add_argument("--html", metavar="PATH", help="write a self-contained HTML page")
    p.add_argument("--json", metavar="PATH", help="write every answer with its figures")
    p.add_argument(
        "--catalog",
        metavar="PATH",
        help=f"model catalog override file (default ./{OVERRIDE_FILENAME} when present)",
    )
    calls = p.add_argument_group("calls (as --vision-* under pytest)")
    calls.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"model calls in flight at once (default {DEFAULT_CONCURRENCY})",
    )
    calls.add_argument(
        "--record",
        choices=RECORD_MODES,
        default="once",
        help="response cache mode: none (replay only), once (default), new_episodes, "
        "all (always call, overwrite)",
    )
    calls.add_argument(
        "--cache-dir",
        default=str(DEFAULT_CACHE_DIR),
        metavar="PATH",
        help=f"response cache directory (default {DEFAULT_CACHE_DIR}, as a pytest run "
        "from this directory)",
    )
    calls.add_argument(
        "--max-cost", type=float, metavar="USD", help="budget: no new calls once spent"
    )
    calls.add_argument(
        "--rate-limit",
        action="append",
        default=[],
        metavar="MODEL=RPM[:TPM]",
        help="requests (and tokens) per minute for a model; repeatable",
    )
    save = p.add_argument_group("saving the question as an eval case")
    save.add_argument(
        "--save",
        metavar="EVAL_FILE",
        help="append one case per image to this eval file (created when new)",
    )
    save.add_argument(
        "--expect",
        metavar="YAML",
        help="the case's expectation, e.g. '{count: 3}'; also scores the answers",
    )
    save.add_argument(
        "--category", help="the saved case's category (default: the file's, or its folder)"
    )
    p.add_argument("--width", type=int, default=None, help="table width (default: terminal)")
    p.set_defaults(func=_compare)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visionevals", description="pytest-visionevals command-line tools"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_report(subparsers)
    _add_schema(subparsers)
    _add_import(subparsers)
    _add_compare(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
