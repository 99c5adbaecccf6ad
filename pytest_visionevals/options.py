"""Every command-line (``--vision-*``) and ini (``vision_*``) option, in one place.

The CLI wins over the ini file. Owners read them with ``config.getoption`` /
``config.getini`` through the helpers at the bottom.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

DEFAULT_MODELS = "gpt-5.2,gemma-4-26b-a4b,rapidocr"
RECORD_MODES = ("none", "once", "new_episodes", "all")


def addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("visionevals", "vision-language model evals")
    # -- selection / collection -----------------------------------------------------------
    g.addoption(
        "--vision-models",
        default=None,
        metavar="A,B,C",
        help="Comma-separated catalog names to evaluate (default: ini vision_models, "
        f"else {DEFAULT_MODELS}).",
    )
    parser.addini(
        "vision_models",
        "Models to evaluate (comma or newline separated).",
        type="string",
        default="",
    )
    g.addoption(
        "--vision-catalog",
        default=None,
        metavar="PATH",
        help="Model catalog override file (default: visionevals.models.yaml in rootdir).",
    )
    parser.addini("vision_catalog", "Model catalog override file.", type="string", default="")
    parser.addini(
        "vision_eval_dirs",
        "Directory names whose YAML files are eval files.",
        type="args",
        default=["evals"],
    )
    g.addoption(
        "--vision-repeat",
        type=int,
        default=None,
        metavar="N",
        help="Run every case N times (pass@k, pass^k, flaky cases).",
    )
    parser.addini("vision_repeat", "Default repeat count.", type="string", default="")
    # -- calls ----------------------------------------------------------------------------
    g.addoption(
        "--vision-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="Per-attempt timeout of a model call (default: the catalog's).",
    )
    g.addoption(
        "--vision-attempts",
        type=int,
        default=None,
        metavar="N",
        help="Attempts per call, retries included (default: the catalog's).",
    )
    g.addoption(
        "--vision-judge-model",
        default=None,
        metavar="NAME",
        help="Catalog model used by `judge` assertions (default: ini vision_judge_model).",
    )
    parser.addini(
        "vision_judge_model",
        "Judge model for `judge` assertions.",
        type="string",
        default="gpt-5.2",
    )
    g.addoption(
        "--vision-max-image-side",
        type=int,
        default=None,
        metavar="PX",
        help="Downscale images whose longer side exceeds PX before sending.",
    )
    # -- speed and cost ---------------------------------------------------------------------
    g.addoption(
        "--vision-concurrency",
        type=int,
        default=None,
        metavar="N",
        help="Model calls in flight at once (default 8); under xdist, the total of all workers.",
    )
    parser.addini(
        "vision_concurrency",
        "Model calls in flight at once (the total under xdist).",
        type="string",
        default="",
    )
    g.addoption(
        "--vision-rate-limit",
        action="append",
        default=[],
        metavar="MODEL=RPM[:TPM]",
        help="Requests (and tokens) per minute for a model, shared by xdist workers.",
    )
    g.addoption(
        "--vision-record",
        default=None,
        choices=RECORD_MODES,
        help="Response cache mode: none (replay only), once (default), "
        "new_episodes, all (always call, overwrite).",
    )
    parser.addini("vision_record", "Response cache mode.", type="string", default="")
    g.addoption(
        "--vision-cache-dir",
        default=None,
        metavar="PATH",
        help="Response cache directory (default .visionevals/cache in rootdir).",
    )
    parser.addini("vision_cache_dir", "Response cache directory.", type="string", default="")
    g.addoption(
        "--vision-no-progress",
        action="store_true",
        default=False,
        help="Do not show the live status line.",
    )
    # -- reports ----------------------------------------------------------------------------
    g.addoption("--vision-json", default=None, metavar="PATH", help="Write results as JSON.")
    g.addoption(
        "--vision-jsonl",
        default=None,
        metavar="PATH",
        help="Stream results as JSON lines while running (default .visionevals/runs/<time>.jsonl).",
    )
    g.addoption("--vision-md", default=None, metavar="PATH", help="Write a Markdown report.")
    g.addoption(
        "--vision-html", default=None, metavar="PATH", help="Write a self-contained HTML report."
    )
    # -- gates ------------------------------------------------------------------------------
    g.addoption(
        "--vision-fail-under",
        action="append",
        default=[],
        metavar="[SCOPE=]SCORE",
        help="Gate: overall score, or 'Category=0.5' / 'model=0.8'. Repeatable.",
    )
    g.addoption(
        "--vision-min-coverage",
        type=float,
        default=None,
        metavar="FRACTION",
        help="Gate: minimum answered/attempted per model (default 0.9 when gating).",
    )
    g.addoption(
        "--vision-max-cost",
        type=float,
        default=None,
        metavar="USD",
        help="Budget: no new calls once spent; remaining items are skipped.",
    )
    g.addoption(
        "--vision-baseline",
        default=None,
        metavar="PATH",
        help="Gate: compare against a saved --vision-json file.",
    )
    g.addoption(
        "--vision-max-regression",
        type=float,
        default=None,
        metavar="POINTS",
        help="Gate: largest allowed drop in percentage points against the baseline.",
    )


def ini_or_option(config: pytest.Config, option: str, ini: str) -> str | None:
    """CLI value if given, else a non-empty ini value, else None."""
    value = config.getoption(option)
    if value is not None:
        return str(value)
    raw = config.getini(ini)
    if isinstance(raw, list):
        raw = ",".join(raw)
    return str(raw) if raw else None


def split_names(raw: str) -> list[str]:
    return [p.strip() for p in raw.replace("\n", ",").split(",") if p.strip()]
