"""``visionevals compare``: one question about a few images, every model side by side.

A pytest run without pytest: each image becomes an in-memory ``Case`` (the prompt, and as
its ``expect`` either the user's ``--expect`` or ``TaskInstruction``, which only adds the
task's instruction), each model gets a ``CallJob`` whose request ``prepare.build_request``
builds, and one ``Engine`` (response cache, rate limits, budget, cost accounting) calls
every model on every image concurrently. Detection answers are read back to original
pixels with the ``boxes`` assertion's parser, point answers with the ``point``
assertion's; with ``--expect`` each answer is also scored by the case's assertions.

Exit status (``CompareRun.exit_status``): 0 when every selected model answered (and,
with ``--expect``, passed); 1 when any model errored, was skipped or failed; 2 on bad
input (``CompareError``: a missing image, an unknown model, a bad ``--expect``).
pytest-free.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TextIO

import yaml

from pytest_visionevals.assertions.base import AnswerContext, Assertion, Verdict
from pytest_visionevals.assertions.boxes import (
    BOXES_HINTS,
    POINT_HINTS,
    predicted_pixel_boxes,
    predicted_pixel_points,
)
from pytest_visionevals.assertions.boxparse import BoxFormatError
from pytest_visionevals.assertions.registry import ExpectError, load_registry
from pytest_visionevals.calls import CallJob
from pytest_visionevals.cases import Case
from pytest_visionevals.engine import DEFAULT_CONCURRENCY, open_engine
from pytest_visionevals.imageprep import ImageError
from pytest_visionevals.images import ResolvedImage, resolve_image
from pytest_visionevals.models import OVERRIDE_FILENAME, CatalogError, load_catalog
from pytest_visionevals.options import DEFAULT_CACHE_DIR, WORK_DIR
from pytest_visionevals.outcome import ScoringError, evaluate, to_builtins
from pytest_visionevals.params import TASKS, GenerationParams
from pytest_visionevals.prepare import CallSettings, build_request
from pytest_visionevals.providers.base import MissingCredentials
from pytest_visionevals.results import SKIP_KINDS, CaseResult, Outcome, SkipKind

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from pytest_visionevals.assertions.registry import AssertionRegistry
    from pytest_visionevals.cache import RecordMode
    from pytest_visionevals.calls import CallOutcome
    from pytest_visionevals.models import Catalog, ModelSpec
    from pytest_visionevals.params import BoxFormat
    from pytest_visionevals.progress import StatusLine
    from pytest_visionevals.providers.base import Provider
    from pytest_visionevals.ratelimit import Limit

# ``point`` is detection answered as one point, with the ``point`` assertion's instruction.
COMPARE_TASKS: tuple[str, ...] = (*TASKS, "point")
LOCATE_TASKS = ("detection", "point")
JSON_SCHEMA_VERSION = 1
EXIT_OK, EXIT_INCOMPLETE, EXIT_BAD_INPUT = 0, 1, 2

AnswerStatus = Literal["answered", "error", "skipped"]


class CompareError(Exception):
    """Bad input (exit status 2); the message names the option, file or model."""


def case_task(task: str) -> str:
    """The eval-file task of a compare task (``point`` is saved as ``detection``)."""
    return "detection" if task == "point" else task


class TaskInstruction(Assertion):
    """Not an expectation: only the instruction the explored task adds to the prompt.

    Detection asks each model for its own box format in the ``boxes`` assertion's words,
    point in the ``point`` assertion's: the prompt sent is the one a saved case with a
    ``boxes`` / ``point`` expectation sends, so its recorded answers replay. Never scored.
    """

    type_name: ClassVar[str] = "task_instruction"
    task: str = "open"

    def prompt_hint(self, box_format: BoxFormat) -> str | None:
        if self.task == "detection":
            return BOXES_HINTS[box_format]
        if self.task == "point":
            return POINT_HINTS[box_format]
        return None

    def check(self, ctx: AnswerContext) -> Verdict:
        return Verdict(True, 1.0, "no expectation")


@dataclass(frozen=True)
class CompareSpec:
    """What to compare and how to call (the engine options mean what the pytest ones do)."""

    images: tuple[str, ...]
    prompt: str
    task: str = "open"
    models: tuple[str, ...] | None = None  # None: every model with credentials for the task
    expect: str | None = None  # the --expect YAML text
    catalog: Path | None = None  # an override file; None: ./visionevals.models.yaml if present
    concurrency: int = DEFAULT_CONCURRENCY
    record_mode: RecordMode = "once"
    cache_dir: Path = DEFAULT_CACHE_DIR
    max_cost: float | None = None
    rate_limits: dict[str, Limit] = field(default_factory=dict)
    work_dir: Path = WORK_DIR  # downloaded images
    # File-level defaults of the eval file the case will be saved to (sent the same way).
    params: GenerationParams | None = None
    system: str | None = None
    case_file: Path | None = None


@dataclass
class ModelAnswer:
    """One model's answer about one image, with its figures (plain builtins)."""

    image: str  # as given
    model: str
    status: AnswerStatus
    reason: str | None = None  # error or skip reason (a missing key names its variable)
    skip_kind: str | None = None
    answer: str | None = None  # untrusted model text
    prompt: str = ""  # as sent, with the task's instruction
    box_format: str = "xyxy_px"
    latency_s: float | None = None
    total_time_s: float | None = None
    attempts: int = 0
    input_tokens: int | None = None
    cached_input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: float | None = None  # None: unknown (unpriced model), never shown as $0
    replayed: bool = False
    # Detection: [{"box": [x1, y1, x2, y2], "label": str | None}]; point: [[x, y]]. Both
    # in original-image pixels; None when the task asks for neither.
    boxes: list[dict[str, Any]] | None = None
    points: list[list[float]] | None = None
    parsed_from: str | None = None
    note: str | None = None  # e.g. no boxes found, could not be scored
    verdict: dict[str, Any] | None = None  # with --expect: Verdict.to_dict()

    @property
    def passed(self) -> bool | None:
        return None if self.verdict is None else bool(self.verdict.get("passed"))

    @property
    def shown_status(self) -> str:
        """answered / passed / failed (with --expect) / error / skipped."""
        if self.status == "answered" and self.verdict is not None:
            return "passed" if self.passed else "failed"
        return self.status

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["passed"] = self.passed
        return out


@dataclass
class Plan:
    """Checked input: everything is known to be usable before the first call."""

    spec: CompareSpec
    catalog: Catalog
    registry: AssertionRegistry
    models: list[ModelSpec]  # selected, in column order
    left_out: list[tuple[str, str]]  # default selection: (model, why it was not selected)
    images: list[ResolvedImage]
    expect: Assertion | None = None
    expect_raw: Any = None


@dataclass
class CompareRun:
    spec: CompareSpec
    models: list[str]
    images: list[ResolvedImage]
    answers: list[ModelAnswer]
    left_out: list[tuple[str, str]] = field(default_factory=list)
    facts: dict[str, dict[str, Any]] = field(default_factory=dict)
    expect_raw: Any = None
    network_calls: int = 0

    @property
    def scored(self) -> bool:
        return self.spec.expect is not None

    def ok(self, answer: ModelAnswer) -> bool:
        return answer.status == "answered" and (not self.scored or answer.passed is True)

    @property
    def exit_status(self) -> int:
        if self.answers and all(self.ok(a) for a in self.answers):
            return EXIT_OK
        return EXIT_INCOMPLETE

    def results(self) -> list[CaseResult]:
        """The answers as the records a scorecard reads (one case per image), so a run of
        several images with ``--expect`` gets the report's charts and comparisons."""
        out = []
        for a in self.answers:
            outcome: Outcome = "error"
            if a.status == "skipped":
                outcome = "skipped"
            elif a.status == "answered" and a.passed is not None:
                outcome = "passed" if a.passed else "failed"
            score = self.verdict_score(a)
            out.append(
                CaseResult(
                    nodeid=f"compare::{a.image}[{a.model}]",
                    file="compare",
                    case_id=a.image,
                    model=a.model,
                    category=self.spec.task,
                    task=self.spec.task,
                    outcome=outcome,
                    skip_kind=_skip_kind(a.skip_kind) if outcome == "skipped" else None,
                    score=score,
                    reason=a.reason,
                    answer=a.answer,
                    latency_s=a.latency_s,
                    input_tokens=a.input_tokens,
                    output_tokens=a.output_tokens,
                    cost_usd=a.cost_usd,
                    replayed=a.replayed,
                    attempts=a.attempts,
                )
            )
        return out

    @staticmethod
    def verdict_score(a: ModelAnswer) -> float | None:
        if a.verdict is None:
            return None
        return float(a.verdict.get("score") or 0.0)

    def to_document(self) -> dict[str, Any]:
        """The ``--json`` file (docs/compare.md describes it)."""
        from pytest_visionevals.report.json_report import generator, now_iso

        return {
            "schema_version": JSON_SCHEMA_VERSION,
            "kind": "visionevals-compare",
            "generator": generator(),
            "created_at": now_iso(),
            "prompt": self.spec.prompt,
            "task": self.spec.task,
            "expect": self.expect_raw,
            "model_order": list(self.models),
            "models": self.facts,
            "not_selected": [{"model": m, "reason": r} for m, r in self.left_out],
            "images": [
                {"path": i.source, "width": i.width, "height": i.height} for i in self.images
            ],
            "answers": [a.to_dict() for a in self.answers],
            "exit_status": self.exit_status,
        }


# -- checking the input ---------------------------------------------------------------------
def load_catalog_for(path: Path | None) -> Catalog:
    if path is not None and not path.is_file():
        raise CompareError(f"--catalog: no such file: {path}")
    try:
        return load_catalog(path if path is not None else Path.cwd() / OVERRIDE_FILENAME)
    except CatalogError as exc:
        raise CompareError(f"model catalog: {exc}") from None


def parse_expect(text: str, registry: AssertionRegistry) -> tuple[Assertion, Any]:
    """The ``--expect`` YAML, validated by the assertion registry (errors name the field)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CompareError(f"--expect: invalid YAML: {exc}") from None
    try:
        return registry.parse(raw, "expect"), raw
    except ExpectError as exc:
        raise CompareError(f"--expect: {exc.path}: {exc.message}") from None


def select_models(
    catalog: Catalog,
    task: str,
    names: Sequence[str] | None,
    provider_factory: Callable[[ModelSpec], Provider] | None = None,
) -> tuple[list[ModelSpec], list[tuple[str, str]]]:
    """The models to call, and (default selection only) those left out, with why.

    Named models are all called (one without credentials ends skipped, naming the
    variable to set). By default: every catalog model that does the task and whose
    provider's ``check_credentials`` passes (a local OpenAI-compatible model with a
    ``base_url`` and no key variable counts).
    """
    if names is not None:
        if not names:
            raise CompareError("--models: no model named")
        unknown = [n for n in names if n not in catalog.models]
        if unknown:
            raise CompareError(
                f"--models: unknown model(s) {', '.join(unknown)}; "
                f"known models: {', '.join(catalog.names())}"
            )
        return [catalog.models[n] for n in dict.fromkeys(names)], []
    if provider_factory is None:
        from pytest_visionevals.providers import make_provider

        provider_factory = make_provider
    chosen: list[ModelSpec] = []
    left_out: list[tuple[str, str]] = []
    for name, spec in catalog.models.items():
        if not spec.supports(task):
            continue
        try:
            provider_factory(spec).check_credentials()
        except MissingCredentials as exc:
            left_out.append((name, str(exc)))
        except Exception as exc:  # a broken SDK install: say so, compare the others
            left_out.append((name, f"cannot create its provider: {type(exc).__name__}: {exc}"))
        else:
            chosen.append(spec)
    return chosen, left_out


def plan(
    spec: CompareSpec,
    *,
    registry: AssertionRegistry | None = None,
    provider_factory: Callable[[ModelSpec], Provider] | None = None,
) -> Plan:
    """Check everything before the first call; CompareError names what is wrong."""
    if not spec.prompt.strip():
        raise CompareError("--prompt: must not be empty")
    if spec.task not in COMPARE_TASKS:
        raise CompareError(f"--task {spec.task!r}: expected one of {', '.join(COMPARE_TASKS)}")
    if spec.concurrency < 1:
        raise CompareError(f"--concurrency must be >= 1, got {spec.concurrency}")
    if spec.max_cost is not None and spec.max_cost < 0:
        raise CompareError("--max-cost must be >= 0")
    if not spec.images:
        raise CompareError("no IMAGE given")
    catalog = load_catalog_for(spec.catalog)
    images = []
    for ref in dict.fromkeys(spec.images):
        try:
            images.append(resolve_image(ref, Path.cwd(), spec.work_dir))
        except ImageError as exc:
            raise CompareError(str(exc)) from None
    registry = registry or load_registry()
    expect, expect_raw = (
        parse_expect(spec.expect, registry) if spec.expect is not None else (None, None)
    )
    unknown = sorted(set(spec.rate_limits) - set(catalog.models))
    if unknown:
        raise CompareError(
            f"--rate-limit: unknown model(s) {', '.join(unknown)}; "
            f"known models: {', '.join(catalog.names())}"
        )
    models, left_out = select_models(
        catalog, case_task(spec.task), spec.models, provider_factory=provider_factory
    )
    return Plan(spec, catalog, registry, models, left_out, images, expect, expect_raw)


# -- running ----------------------------------------------------------------------------------
def build_case(plan: Plan, image: ResolvedImage) -> Case:
    """The in-memory case of one image: what a saved case would send, nothing else."""
    spec = plan.spec
    return Case(
        id=Path(image.source).stem or "image",
        file=spec.case_file or Path("compare"),
        line=0,
        category="compare",
        task=case_task(spec.task),
        tags=(),
        models=None,
        exclude_models=(),
        params=spec.params or GenerationParams(),
        repeat=1,
        prompt=spec.prompt,
        system=spec.system,
        image_refs=(image.source,),
        expect=plan.expect if plan.expect is not None else TaskInstruction(task=spec.task),
        expect_raw=plan.expect_raw,
        reference=None,
        json_mode=False,
        box_hint=True,
    )


def _job_key(plan: Plan, image: ResolvedImage, model: ModelSpec) -> str:
    # The question is part of the key: record mode "once" refuses a *changed* request under
    # the same key, and a new prompt on the same image is a new question, not a change.
    question = json.dumps(
        [plan.spec.prompt, plan.spec.task, plan.expect_raw], sort_keys=True, default=str
    )
    digest = hashlib.sha256(question.encode("utf-8")).hexdigest()[:12]
    return f"compare::{image.source}::{digest}[{model.name}]"


def execute(plan: Plan, *, progress: StatusLine | None = None) -> CompareRun:
    """Call every selected model on every image through one Engine; answers in grid order."""
    spec = plan.spec
    settings = CallSettings()
    engine, state = open_engine(
        spec.cache_dir,
        concurrency=spec.concurrency,
        record_mode=spec.record_mode,
        rate_limits=spec.rate_limits,
        max_cost=spec.max_cost,
        run_id=uuid.uuid4().hex,
        progress=progress,
    )
    slots: list[tuple[ResolvedImage, Case, ModelSpec, CallJob | None]] = []
    for image in plan.images:
        case = build_case(plan, image)
        for model in plan.models:
            job = None
            if model.supports(case.task):
                job = CallJob(
                    key=_job_key(plan, image, model),
                    model=model,
                    build_request=functools.partial(build_request, case, model, [image], settings),
                    label=f"compare {image.source}",
                )
            slots.append((image, case, model, job))
    answers: list[ModelAnswer] = []
    try:
        if spec.record_mode != "none":  # SDK imports in the background, as pytest does
            for model in plan.models:
                engine.warm_up(model)
        engine.prefetch([job for *_, job in slots if job is not None])
        for image, case, model, job in slots:
            if job is None:
                answers.append(
                    ModelAnswer(
                        image=image.source,
                        model=model.name,
                        status="skipped",
                        skip_kind="unsupported",
                        reason=f"not supported: {model.name} does not do {case.task}",
                        box_format=model.box_format,
                    )
                )
                continue
            answers.append(_to_answer(plan, case, model, image, engine.result(job)))
    finally:
        engine.close()
        state.close()
    return CompareRun(
        spec=spec,
        models=[m.name for m in plan.models],
        images=plan.images,
        answers=answers,
        left_out=plan.left_out,
        facts=plan.catalog.facts(m.name for m in plan.models),
        expect_raw=plan.expect_raw,
        network_calls=engine.network_calls,
    )


def _to_answer(
    plan: Plan, case: Case, model: ModelSpec, image: ResolvedImage, call: CallOutcome
) -> ModelAnswer:
    out = ModelAnswer(
        image=image.source,
        model=model.name,
        status="error",
        prompt=call.request.prompt if call.request is not None else case.prompt,
        box_format=model.box_format,
    )
    comp = call.completion
    if comp is not None:  # also on errors: the attempts made
        u = comp.usage
        out.answer = comp.text
        out.latency_s = float(comp.latency_s)
        out.total_time_s = float(comp.total_time_s)
        out.attempts = int(comp.attempts)
        out.input_tokens = u.input_tokens
        out.cached_input_tokens = u.cached_input_tokens
        out.output_tokens = u.output_tokens
        out.reasoning_tokens = u.reasoning_tokens
        out.cost_usd = None if comp.cost_usd is None else float(comp.cost_usd)
        out.replayed = bool(comp.replayed)
    if call.status == "skipped":
        out.status, out.reason = "skipped", call.reason or "skipped"
        out.skip_kind = call.skip_kind or "other"
        return out
    if call.status == "error" or comp is None:
        out.reason = call.reason or "no answer"
        return out
    out.status = "answered"
    notes = []
    if plan.spec.task in LOCATE_TASKS:
        notes.append(_locate(out, plan.spec.task, model, call))
    if plan.expect is not None:
        try:
            verdict = evaluate(case, model, call, None)
        except ScoringError as exc:
            notes.append(f"could not be scored: {exc}")
        else:
            out.verdict = to_builtins(verdict.to_dict())
    out.note = "; ".join(n for n in notes if n) or None
    return out


def _locate(out: ModelAnswer, task: str, model: ModelSpec, call: CallOutcome) -> str | None:
    """Boxes (detection) or points of the answer in original pixels; a note when none."""
    assert call.completion is not None
    request = call.request
    ctx = AnswerContext(
        text=call.completion.text,
        model=model.name,
        box_format=model.box_format,
        images=request.images if request is not None else (),
        prompt=request.prompt if request is not None else "",
    )
    what = "boxes" if task == "detection" else "point"
    try:
        if task == "detection":
            found, how = predicted_pixel_boxes(ctx)
            out.boxes = [{"box": [round(v, 2) for v in b], "label": lab} for b, lab in found]
            count = len(out.boxes)
        else:
            points, how = predicted_pixel_points(ctx)
            out.points = [[round(x, 2), round(y, 2)] for x, y in dict.fromkeys(points)]
            count = len(out.points)
    except BoxFormatError as exc:
        out.boxes, out.points = ([], None) if task == "detection" else (None, [])
        return str(exc)
    out.parsed_from = how
    return None if count else f"no {what} found in the answer (asked for {model.box_format})"


# -- the command ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outputs:
    json: Path | None = None
    html: Path | None = None
    width: int | None = None


def run_command(
    spec: CompareSpec,
    outputs: Outputs,
    *,
    save: Path | None = None,
    category: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """``visionevals compare``: check, call, print, write, save. Returns the exit status."""
    import shutil

    from pytest_visionevals.providers import close_providers
    from pytest_visionevals.report import compare_view
    from pytest_visionevals.save_case import NewCase, SaveError, SaveTarget, open_target

    out = out or sys.stdout
    err = err or sys.stderr

    def fail(message: str) -> int:
        print(f"visionevals compare: {message}", file=err)
        return EXIT_BAD_INPUT

    if save is not None and spec.expect is None:
        return fail("--save needs --expect (the saved case's expectation, a YAML mapping)")
    if save is None and category is not None:
        return fail("--category is for --save")
    registry = load_registry()
    target: SaveTarget | None = None
    try:
        checked = plan(spec, registry=registry)
        catalog_names = checked.catalog.names()
        if save is not None:
            target = open_target(save, registry, catalog_names)
            # Send what the saved case will send: the file's default params and system.
            spec = checked.spec = dataclasses.replace(
                spec, params=target.params, system=target.system, case_file=save
            )
    except (CompareError, SaveError) as exc:
        return fail(str(exc))
    if not checked.models:
        print("visionevals compare: no model to compare", file=err)
        for name, why in checked.left_out:
            print(f"  {name}: {why}", file=err)
        return EXIT_INCOMPLETE
    if spec.expect is not None and spec.task in LOCATE_TASKS:
        hinted = any(checked.expect and checked.expect.hints(m.box_format) for m in checked.models)
        if not hinted:
            print(
                "note: --expect has no box or point assertion, so no box format is asked "
                "for (the saved case sends the same prompt)",
                file=err,
            )
    try:
        run = execute(checked, progress=_progress(err))
    finally:
        close_providers()
    width = outputs.width or shutil.get_terminal_size((120, 24)).columns
    out.write(compare_view.render_table(run, width))
    if outputs.json is not None:
        from pytest_visionevals.report.json_report import write

        write(outputs.json, run.to_document())
        print(f"wrote JSON -> {outputs.json}", file=out)
    if outputs.html is not None:
        from pytest_visionevals.report.html import write as write_html

        write_html(outputs.html, compare_view.render_html(run))
        print(f"wrote HTML -> {outputs.html}", file=out)
    status = run.exit_status
    if save is not None and target is not None:
        from pytest_visionevals.save_case import save as save_cases

        new = [
            NewCase(image.source, spec.prompt, case_task(spec.task), checked.expect_raw)
            for image in run.images
        ]
        try:
            ids = save_cases(
                save,
                new,
                registry,
                category=category,
                known_models=catalog_names,
                work_dir=spec.work_dir,
            )
        except SaveError as exc:
            return fail(str(exc))
        print(f"saved case(s) {', '.join(ids)} -> {save}", file=out)
        for note in target.notes():
            print(f"note: {note}", file=err)
    return status


def _progress(stream: TextIO) -> StatusLine | None:
    """The engine's live status line on a terminal (never in a pipe or a file)."""
    import shutil

    from pytest_visionevals.progress import StatusLine

    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None

    def write(text: str) -> None:
        stream.write(text)
        stream.flush()

    return StatusLine(write, lambda: shutil.get_terminal_size((80, 24)).columns)


def _skip_kind(kind: str | None) -> SkipKind:
    return kind if kind in SKIP_KINDS else "other"
