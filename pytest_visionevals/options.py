"""Every command-line (``--vision-*``) and ini (``vision_*``) option, in one place.

``addoption`` declares them; ``Settings.from_config`` reads and checks all of them once
(a bad value is a usage error before anything runs). Everyone else reads ``Settings``.

Rules:

* The command line wins over the ini file.
* Relative paths: a path given on the command line is relative to the directory pytest
  was invoked from; a path in the ini file is relative to the ini file's directory (the
  rootdir when there is no ini file). Defaults live under ``<rootdir>/.visionevals``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_visionevals.batch import DEFAULT_POLL_S
from pytest_visionevals.cache import RECORD_MODES, RecordMode, parse_record_mode
from pytest_visionevals.engine import DEFAULT_CONCURRENCY
from pytest_visionevals.imageprep import DEFAULT_MAX_SIDE
from pytest_visionevals.ratelimit import Limit, parse_rate_limit

if TYPE_CHECKING:
    import pytest

DEFAULT_MODELS = "gpt-5.2,gemma-4-26b-a4b,rapidocr"
# The plugin's working directory under rootdir: response cache, shared state, downloaded
# images, JSON-lines runs.
WORK_DIR = Path(".visionevals")
DEFAULT_CACHE_DIR = WORK_DIR / "cache"


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
    # -- batch mode (docs/batch.md) ---------------------------------------------------------
    g.addoption(
        "--vision-batch",
        action="store_true",
        default=None,
        help="Send the calls of openai and google models through the providers' batch "
        "APIs (about half the price, answers within hours), then score the answers.",
    )
    parser.addini("vision_batch", "Batch mode (see --vision-batch).", type="bool", default=False)
    g.addoption(
        "--vision-batch-size",
        type=int,
        default=None,
        metavar="N",
        help="At most N requests per batch (default: the provider's limit).",
    )
    g.addoption(
        "--vision-batch-poll",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"Seconds between batch status checks (default {DEFAULT_POLL_S:g}).",
    )
    g.addoption(
        "--vision-batch-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="Stop waiting for batches after SECONDS: their items become errors naming "
        "the batch ids, and a re-run collects them (default: wait until they end).",
    )
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
    g.addoption(
        "--vision-regression-p",
        type=float,
        default=None,
        metavar="P",
        help="Gate: a drop against the baseline fails only when it is significant at P "
        "(paired test on the cases both runs answered), e.g. 0.05.",
    )


class OptionError(ValueError):
    """A bad option value; the plugin turns it into a pytest usage error."""


@dataclass(frozen=True)
class Settings:
    """Every option's value, read once from the pytest config (see the module docstring)."""

    rootdir: Path
    work_dir: Path  # <rootdir>/.visionevals
    # -- selection / collection
    models: list[str]  # as given (checked against the catalog by the session)
    catalog: Path | None  # an explicit override file (must exist); None: the default one
    eval_dirs: tuple[str, ...] = ("evals",)
    repeat: int | None = None
    # -- calls
    timeout_s: float | None = None
    max_attempts: int | None = None
    judge_model: str = ""
    max_image_side: int = DEFAULT_MAX_SIDE
    # -- speed and cost
    concurrency: int = DEFAULT_CONCURRENCY  # the run's total (xdist workers share it)
    rate_limits: dict[str, Limit] = field(default_factory=dict)
    record_mode: RecordMode = "once"
    cache_dir: Path = DEFAULT_CACHE_DIR
    progress: bool = True  # unless --vision-no-progress
    max_cost: float | None = None
    # -- batch mode
    batch: bool = False
    batch_size: int | None = None  # requests per batch; None: the provider's limit
    batch_poll_s: float = DEFAULT_POLL_S
    batch_timeout_s: float | None = None  # None: wait until every batch has ended
    # -- reports
    json: Path | None = None
    jsonl: Path | None = None  # None: <work_dir>/runs/<time>.jsonl
    md: Path | None = None
    html: Path | None = None
    # -- gates
    fail_under: list[str] = field(default_factory=list)
    min_coverage: float | None = None
    baseline: Path | None = None
    max_regression: float | None = None
    regression_p: float | None = None

    @property
    def runs_dir(self) -> Path:
        return self.work_dir / "runs"

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        reader = _Reader(config)
        rootdir = Path(config.rootpath)
        work_dir = rootdir / WORK_DIR
        repeat = reader.integer("vision_repeat", "vision_repeat")
        if repeat is not None and repeat < 1:
            raise OptionError("--vision-repeat must be >= 1")
        concurrency = reader.integer("vision_concurrency", "vision_concurrency")
        if concurrency is not None and concurrency < 1:
            raise OptionError(f"vision_concurrency must be >= 1, got {concurrency}")
        raw_mode = (reader.text("vision_record", "vision_record") or "once").strip()
        try:
            record_mode = parse_record_mode(raw_mode)
        except ValueError as exc:
            raise OptionError(f"vision_record: {exc}") from None
        limits: dict[str, Limit] = {}
        for raw in config.getoption("vision_rate_limit") or []:
            try:
                name, limit = parse_rate_limit(str(raw))
            except ValueError as exc:
                raise OptionError(str(exc)) from None
            limits[name] = limit
        max_cost = config.getoption("vision_max_cost")
        if max_cost is not None and max_cost < 0:
            raise OptionError("--vision-max-cost must be >= 0")
        catalog = reader.path("vision_catalog", "vision_catalog")
        if catalog is not None and not catalog.is_file():
            raise OptionError(f"--vision-catalog: no such file: {catalog}")
        batch_flag = config.getoption("vision_batch")
        batch = bool(config.getini("vision_batch")) if batch_flag is None else bool(batch_flag)
        batch_size = config.getoption("vision_batch_size")
        if batch_size is not None and batch_size < 1:
            raise OptionError(f"--vision-batch-size must be >= 1, got {batch_size}")
        batch_poll = config.getoption("vision_batch_poll")
        if batch_poll is not None and batch_poll <= 0:
            raise OptionError(f"--vision-batch-poll must be > 0, got {batch_poll:g}")
        batch_timeout = config.getoption("vision_batch_timeout")
        if batch_timeout is not None and batch_timeout < 0:
            raise OptionError(f"--vision-batch-timeout must be >= 0, got {batch_timeout:g}")
        if batch and record_mode == "all":
            raise OptionError(
                "--vision-batch stores the batches' answers in the response cache and the "
                "items replay them; --vision-record all never replays: use new_episodes "
                "to record changed requests"
            )
        return cls(
            rootdir=rootdir,
            work_dir=work_dir,
            models=split_names(reader.text("vision_models", "vision_models") or DEFAULT_MODELS),
            catalog=catalog,
            eval_dirs=tuple(config.getini("vision_eval_dirs")),
            repeat=repeat,
            timeout_s=config.getoption("vision_timeout"),
            max_attempts=config.getoption("vision_attempts"),
            judge_model=reader.text("vision_judge_model", "vision_judge_model") or "",
            max_image_side=config.getoption("vision_max_image_side") or DEFAULT_MAX_SIDE,
            concurrency=concurrency or DEFAULT_CONCURRENCY,
            rate_limits=limits,
            record_mode=record_mode,
            cache_dir=reader.path("vision_cache_dir", "vision_cache_dir") or work_dir / "cache",
            progress=not config.getoption("vision_no_progress"),
            max_cost=max_cost,
            batch=batch,
            batch_size=batch_size,
            batch_poll_s=DEFAULT_POLL_S if batch_poll is None else float(batch_poll),
            batch_timeout_s=None if batch_timeout is None else float(batch_timeout),
            json=reader.path("vision_json"),
            jsonl=reader.path("vision_jsonl"),
            md=reader.path("vision_md"),
            html=reader.path("vision_html"),
            fail_under=[str(v) for v in config.getoption("vision_fail_under") or []],
            min_coverage=config.getoption("vision_min_coverage"),
            baseline=reader.path("vision_baseline"),
            max_regression=config.getoption("vision_max_regression"),
            regression_p=config.getoption("vision_regression_p"),
        )


class _Reader:
    """Reads one option from the command line, else the ini file (see the path rule)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.cli_dir = Path(config.invocation_params.dir)
        self.ini_dir = Path(config.inipath).parent if config.inipath else Path(config.rootpath)

    def _raw(self, option: str, ini: str | None) -> tuple[str | None, Path]:
        value = self.config.getoption(option)
        if value is not None:
            return str(value), self.cli_dir
        if ini is None:
            return None, self.ini_dir
        raw = self.config.getini(ini)
        if isinstance(raw, list):
            raw = ",".join(raw)
        return (str(raw) if raw else None), self.ini_dir

    def text(self, option: str, ini: str | None = None) -> str | None:
        return self._raw(option, ini)[0]

    def integer(self, option: str, ini: str) -> int | None:
        raw = self.text(option, ini)
        if raw is None:
            return None
        try:
            return int(raw)
        except ValueError:
            raise OptionError(f"{ini}: expected an integer, got {raw!r}") from None

    def path(self, option: str, ini: str | None = None) -> Path | None:
        raw, base = self._raw(option, ini)
        if not raw:
            return None
        path = Path(raw).expanduser()
        return path if path.is_absolute() else base / path


def split_names(raw: str) -> list[str]:
    return [p.strip() for p in raw.replace("\n", ",").split(",") if p.strip()]
