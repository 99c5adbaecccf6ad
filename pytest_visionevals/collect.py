"""pytest nodes: an EvalFile yields one EvalItem per case x model (x repeat).

Item ids look like ``evals/object_counting/shelves.yaml::bottles-on-shelf[gpt-5.2]``.
Setup obtains the answer (a call error is a pytest *error*, a missing key or an
unsupported task a *skip*); the call phase scores it (a wrong answer is a *failure*).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import traceback
from typing import TYPE_CHECKING, Any

import pytest

from pytest_visionevals.calls import CallJob, CallOutcome, Completion, ImageInput
from pytest_visionevals.cases import Case, EvalFileError, RowError, load_eval_file
from pytest_visionevals.engine_plugin import ENGINE_KEY
from pytest_visionevals.imageprep import ImageError
from pytest_visionevals.images import LazyImage, ResolvedImage, resolve_image
from pytest_visionevals.outcome import (
    ScoringError,
    answer_context,
    evaluate,
    new_result,
    settle,
)
from pytest_visionevals.prepare import build_judge_request, build_request
from pytest_visionevals.providers.base import ProviderError
from pytest_visionevals.results import CaseResult
from pytest_visionevals.session import SESSION_KEY
from pytest_visionevals.untrusted import printable, shorten

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from _pytest._code.code import TerminalRepr

    from pytest_visionevals.assertions.base import JudgeFn
    from pytest_visionevals.models import ModelSpec

RESULT_KEY = pytest.StashKey[CaseResult]()


@functools.lru_cache(maxsize=4096)  # a handful of categories and tags, thousands of items
def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


class WrongAnswer(Exception):
    """The answer did not pass the case's assertions (outcome *failed*)."""


class BadRow(pytest.Collector):
    """A dataset row that could not become a case: one collection error of its own, so
    the file's other rows still run."""

    def __init__(self, *, error: RowError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.error = error

    def collect(self) -> Iterator[pytest.Item]:
        raise self.CollectError(printable(f"invalid dataset row {self.error}", multiline=True))


class EvalFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        try:
            yield from self._collect()
        except self.CollectError:
            raise
        except Exception as exc:
            # A bug or a limit nobody foresaw: this file's collection error, not the end of
            # the session (the other files still run, see pytest_runtestloop).
            self.config.stash[SESSION_KEY].failed_eval_files.add(self.nodeid)
            tb = traceback.extract_tb(exc.__traceback__)
            at = f" (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno})" if tb else ""
            raise self.CollectError(
                printable(
                    f"invalid eval file {self.path}: unexpected error while collecting it: "
                    f"{type(exc).__name__}: {shorten(str(exc), 300)}{at}"
                )
            ) from None

    def _collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        vs = self.config.stash[SESSION_KEY]
        try:
            loaded = load_eval_file(
                self.path, vs.registry, vs.catalog.names(), work_dir=vs.work_dir
            )
        except EvalFileError as exc:
            vs.failed_eval_files.add(self.nodeid)
            raise self.CollectError(printable(f"invalid eval file {exc}", multiline=True)) from None
        base_dir = self.path.parent
        prepared: list[tuple[Case, list[ResolvedImage | LazyImage]]] = []
        for index, case in enumerate(loaded.cases):
            if case.row is not None:
                # Dataset rows: checked to exist when loaded, read when the request is built.
                prepared.append((case, list(case.lazy_images)))
                continue
            images: list[ResolvedImage | LazyImage] = []
            for j, ref in enumerate(case.image_refs):
                try:
                    images.append(resolve_image(ref, base_dir, vs.work_dir))
                except ImageError as exc:
                    vs.failed_eval_files.add(self.nodeid)
                    field = (
                        f"cases[{index}].images[{j}]"
                        if len(case.image_refs) > 1
                        else f"cases[{index}].image"
                    )
                    err = EvalFileError(
                        self.path, str(exc), line=case.line, case_id=case.id, field_path=field
                    )
                    raise self.CollectError(
                        printable(f"invalid eval file {err}", multiline=True)
                    ) from None
            prepared.append((case, images))
        for case, images in prepared:
            for model_name in vs.models:
                if case.models is not None and model_name not in case.models:
                    continue
                if model_name in case.exclude_models:
                    continue
                model = vs.catalog.get(model_name)
                repeat = vs.repeat or case.repeat
                for r in range(repeat):
                    name = (
                        f"{case.id}[{model_name}]"
                        if repeat == 1
                        else f"{case.id}[{model_name}-r{r}]"
                    )
                    yield EvalItem.from_parent(
                        self,
                        name=name,
                        # Given as a string so pytest parses "[model]" as the parameters,
                        # as it does for the ids it stores: --lf, --ff, --sw and --nf
                        # then match ("case[model]" as one name never would).
                        nodeid=f"{self.nodeid}::{name}",
                        case=case,
                        model=model,
                        repeat_index=r,
                        images=images,
                    )
        for bad in loaded.bad_rows:
            node = BadRow.from_parent(self, name=f"{bad.source} row {bad.row}", error=bad)
            vs.failed_eval_files.add(node.nodeid)
            yield node


class EvalItem(pytest.Item):
    def __init__(
        self,
        *,
        case: Case,
        model: ModelSpec,
        repeat_index: int,
        images: list[ResolvedImage | LazyImage],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.model = model
        self.repeat_index = repeat_index
        self.images = images
        self._outcome: CallOutcome | None = None
        for marker in dict.fromkeys([slug(case.category), case.task, *map(slug, case.tags)]):
            if marker:
                self.add_marker(_marker(self.config, marker))
        self.extra_keyword_matches.update({model.name, case.task, slug(case.category)})
        # The engine prefetches this job; None = no call (task not supported by the model).
        self.vision_job: CallJob | None = None
        if model.supports(case.task):
            vs = self.config.stash[SESSION_KEY]
            self.vision_job = CallJob(
                key=self.nodeid,
                model=model,
                repeat_index=repeat_index,
                build_request=lambda: build_request(case, model, images, vs.settings),
                label=f"{self.path.name}::{case.id}",
                # Judge calls start as soon as the answer is in, ahead of pytest.
                follow_up=self._judge_jobs if case.expect.needs_judge() else None,
            )

    # -- the protocol -------------------------------------------------------------------------
    def setup(self) -> None:
        vs = self.config.stash[SESSION_KEY]
        result = new_result(
            self.case,
            self.model,
            nodeid=self.nodeid,
            rootdir=vs.rootdir,
            repeat_index=self.repeat_index,
            images=self.images,
        )
        self.stash[RESULT_KEY] = result
        if self.vision_job is None:
            reason = f"not supported: {self.model.name} does not do {self.case.task}"
            settle(result, unsupported=reason)
            pytest.skip(printable(reason))
        outcome = self.config.stash[ENGINE_KEY].engine.result(self.vision_job)
        decided = settle(result, call=outcome)
        if decided == "skipped":
            pytest.skip(printable(result.reason or "skipped"))
        if decided == "error":
            # pytrace=False: setup errors bypass repr_failure; show the reason, not our stack.
            pytest.fail(
                printable(
                    f"{self.case.id} [{self.model.name}] produced no answer: {result.reason}",
                    multiline=True,
                ),
                pytrace=False,
            )
        self._outcome = outcome

    def runtest(self) -> None:
        assert self._outcome is not None
        result = self.stash[RESULT_KEY]
        try:
            verdict = evaluate(self.case, self.model, self._outcome, self._judge())
        except ScoringError as exc:
            settle(result, error=f"scoring failed: {exc}")
            pytest.fail(
                printable(
                    f"{self.case.id} [{self.model.name}] could not be scored: {exc}", multiline=True
                ),
                pytrace=False,
            )
        if settle(result, verdict=verdict) == "failed":
            raise WrongAnswer(verdict.explanation)

    def _judge_job(self, prompt: str, images: tuple[ImageInput, ...], model: str | None) -> CallJob:
        """One judge call of this item: the same key whether the engine starts it as soon
        as the answer arrives (``_judge_jobs``) or scoring asks for it (``_judge``)."""
        vs = self.config.stash[SESSION_KEY]
        spec = vs.catalog.get(model or vs.judge_model)
        digest = hashlib.sha256(f"{spec.name}\n{prompt}".encode()).hexdigest()[:12]
        settings = vs.settings
        return CallJob(
            key=f"{self.nodeid}::judge::{digest}",
            model=spec,
            build_request=lambda: build_judge_request(spec, prompt, images, settings),
            label=f"{self.path.name}::{self.case.id}::judge",
            priority=0,  # this item is waiting on it
        )

    def _judge_jobs(self, answered: CallOutcome) -> list[CallJob]:
        ctx = answer_context(self.case, self.model, answered)
        return [
            self._judge_job(prompt, ctx.images, model)
            for prompt, model in self.case.expect.judge_requests(ctx)
        ]

    def _judge(self) -> JudgeFn:
        engine = self.config.stash[ENGINE_KEY].engine

        def judge(
            prompt: str,
            images: tuple[ImageInput, ...],
            model: str | None = None,
        ) -> Completion:
            job = self._judge_job(prompt, images, model)
            outcome = engine.result(job)
            if outcome.status != "ok" or outcome.completion is None:
                raise ProviderError(f"judge {job.model.name}: {outcome.reason}")
            return outcome.completion

        return judge

    # -- presentation -------------------------------------------------------------------------
    def repr_failure(
        self,
        excinfo: pytest.ExceptionInfo[BaseException],
        style: Any = None,
    ) -> str | TerminalRepr:
        result = self.stash.get(RESULT_KEY, None)
        if isinstance(excinfo.value, WrongAnswer) and result is not None:
            answer = (result.answer or "").strip()
            if len(answer) > 600:
                answer = answer[:600] + " [...]"
            return printable(
                f"{self.case.id} [{self.model.name}] failed "
                f"(score {result.score or 0:.2f})\n"
                f"  {excinfo.value}\n  answer: {answer!r}",
                multiline=True,
            )
        rep = super().repr_failure(excinfo)
        # A crash's message may quote the answer or a server: plain text when it must be.
        text = str(rep)
        safe = printable(text, multiline=True)
        return rep if safe == text else safe

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.case.line - 1, f"{self.case.id}[{self.model.name}]"


def _marker(config: pytest.Config, name: str) -> pytest.MarkDecorator:
    """The category/task/tag marker, declared on first use so ``--strict-markers`` accepts it."""
    declared = config.stash[SESSION_KEY].markers
    known = declared.get(name)
    if known is not None:
        return known
    config.addinivalue_line("markers", f"{name}: vision eval category, task or tag")
    mark: pytest.MarkDecorator = getattr(pytest.mark, name)
    declared[name] = mark
    return mark
