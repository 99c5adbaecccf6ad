"""Box assertions: ``boxes`` (set matching, P/R/F1), ``box`` (one box, IoU) and ``point``.

Expected boxes are in original-image pixels, xyxy. Predicted boxes are read in the
model's BoxFormat (``ctx.box_format``) and mapped to original pixels with
``ctx.images[0]`` (see :mod:`boxparse`). ``details`` carries ``expected_boxes``,
``predicted_boxes`` (original pixels), ``iou_matrix`` (rows = predicted) and ``matches``.

Prompt hints may contain the placeholders ``{width}`` and ``{height}``: the caller
replaces them (plain ``str.replace``, the hints contain JSON braces) with the size of the
image as sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from pytest_visionevals.assertions.base import AnswerContext, Assertion, Verdict
from pytest_visionevals.assertions.boxparse import (
    BoxFormatError,
    Frame,
    box_to_pixels,
    find_raw_boxes,
    find_raw_points,
    is_degenerate,
    point_to_pixels,
)
from pytest_visionevals.assertions.matching import MatchResult, iou, match_boxes
from pytest_visionevals.untrusted import shorten

if TYPE_CHECKING:
    from pytest_visionevals.params import BoxFormat

PxBox = tuple[float, float, float, float]

_WH = "the {width}x{height} image"
BOXES_HINTS: dict[str, str] = {
    "yxyx_1000": 'Return a JSON list of objects {"box_2d": [ymin, xmin, ymax, xmax], '
    '"label": "<name>"} with coordinates normalised to 0-1000 (0,0 is the '
    "top-left corner of the image, 1000,1000 the bottom-right).",
    "xyxy_px": 'Return a JSON list of objects {"bbox": [xmin, ymin, xmax, ymax], '
    f'"label": "<name>"}} in pixel coordinates of {_WH} (0,0 is the top-left '
    "corner, x grows to the right, y grows down).",
    "xyxy_1": 'Return a JSON list of objects {"bbox": [xmin, ymin, xmax, ymax], '
    '"label": "<name>"} with coordinates normalised to 0-1 as fractions of the '
    "image width and height (0,0 is the top-left corner).",
    "xywh_px": 'Return a JSON list of objects {"bbox": [x, y, width, height], '
    f'"label": "<name>"}} in pixel coordinates of {_WH}, where x, y is the '
    "top-left corner of the box (0,0 is the top-left corner of the image).",
}
BOX_HINTS: dict[str, str] = {
    "yxyx_1000": 'Return one JSON object {"box_2d": [ymin, xmin, ymax, xmax]} with '
    "coordinates normalised to 0-1000 (0,0 is the top-left corner of the image).",
    "xyxy_px": 'Return one JSON object {"bbox": [xmin, ymin, xmax, ymax]} in pixel '
    f"coordinates of {_WH} (0,0 is the top-left corner).",
    "xyxy_1": 'Return one JSON object {"bbox": [xmin, ymin, xmax, ymax]} with coordinates '
    "normalised to 0-1 as fractions of the image width and height (0,0 is the "
    "top-left corner).",
    "xywh_px": 'Return one JSON object {"bbox": [x, y, width, height]} in pixel coordinates '
    f"of {_WH}, where x, y is the top-left corner of the box.",
}
POINT_HINTS: dict[str, str] = {
    "yxyx_1000": 'Return one JSON object {"point": [y, x]} with coordinates normalised to '
    "0-1000 (0,0 is the top-left corner of the image).",
    "xyxy_px": 'Return one JSON object {"point": [x, y]} in pixel coordinates of '
    f"{_WH} (0,0 is the top-left corner).",
    "xyxy_1": 'Return one JSON object {"point": [x, y]} with coordinates normalised to 0-1 '
    "as fractions of the image width and height (0,0 is the top-left corner).",
    "xywh_px": 'Return one JSON object {"point": [x, y]} in pixel coordinates of '
    f"{_WH} (0,0 is the top-left corner).",
}


def _r(v: float) -> float:
    return round(float(v), 2)


def _box_list(b: PxBox) -> list[float]:
    return [_r(v) for v in b]


def _t(v: list[float]) -> PxBox:
    return v[0], v[1], v[2], v[3]


def _lab(label: str | None) -> str:
    return f"{label} " if label else ""


def _fmt_box(b: PxBox) -> str:
    return "[" + ", ".join(f"{v:g}" for v in _box_list(b)) + "]"


def _check_xyxy(v: list[float]) -> list[float]:
    if len(v) != 4:
        raise ValueError(f"a box is 4 numbers [x1, y1, x2, y2], got {len(v)}")
    if not (v[0] < v[2] and v[1] < v[3]):
        raise ValueError(f"box {v} must have x1 < x2 and y1 < y2 (original-image pixels)")
    if min(v) < 0:
        raise ValueError(f"box {v} has a negative coordinate")
    return [float(x) for x in v]


class ExpectedBox(BaseModel):
    """One expected box in original-image pixels, xyxy; ``[x1, y1, x2, y2]`` is accepted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    box: list[float]
    label: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, v: Any) -> Any:
        return {"box": v} if isinstance(v, (list, tuple)) else v

    @field_validator("box")
    @classmethod
    def _valid(cls, v: list[float]) -> list[float]:
        return _check_xyxy(v)


_XYXY_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {"type": "number", "minimum": 0},
    "minItems": 4,
    "maxItems": 4,
    "description": "[x1, y1, x2, y2] in original-image pixels",
}
# An expected box is written either as [x1, y1, x2, y2] or as {box: [...], label: ...}.
ExpectedBoxField = Annotated[
    ExpectedBox,
    WithJsonSchema(
        {
            "anyOf": [
                _XYXY_SCHEMA,
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["box"],
                    "properties": {"box": _XYXY_SCHEMA, "label": {"type": ["string", "null"]}},
                },
            ]
        }
    ),
]
XyxyField = Annotated[list[float], Field(min_length=4, max_length=4), WithJsonSchema(_XYXY_SCHEMA)]


def _frame(ctx: AnswerContext) -> Frame | None:
    return Frame.of(ctx.images[0] if ctx.images else None)


def _canon(label: str) -> str:
    return " ".join(label.casefold().replace("_", " ").replace("-", " ").split())


def predicted_pixel_boxes(ctx: AnswerContext) -> tuple[list[tuple[PxBox, str | None]], str]:
    """Predicted boxes of the answer in original pixels (degenerate ones included)."""
    raws, how = find_raw_boxes(ctx.text)
    frame = _frame(ctx)
    return [(box_to_pixels(r, ctx.box_format, frame), r.label) for r in raws], how


def predicted_pixel_points(ctx: AnswerContext) -> tuple[list[tuple[float, float]], str]:
    """Predicted points of the answer in original pixels; box centres when it gave boxes."""
    frame = _frame(ctx)
    raws, how = find_raw_points(ctx.text)
    points = [point_to_pixels(r, ctx.box_format, frame) for r in raws]
    if not points:
        boxes, how = predicted_pixel_boxes(ctx)
        points = [((b[0] + b[2]) / 2, (b[1] + b[3]) / 2) for b, _ in boxes]
        how = f"{how} (box centre)"
    return points, how


def _no_boxes(ctx: AnswerContext, how: str, what: str = "boxes") -> str:
    return f"no {what} found in answer (asked for {ctx.box_format}): {shorten(ctx.text)!r}"


class Boxes(Assertion):
    """Predicted boxes match the expected set (Hungarian on IoU, per label when labelled).

    Default pass rule: precision 1.0 and recall 1.0 at IoU >= ``iou`` (every expected box
    found, nothing extra). Setting any of ``min_precision`` / ``min_recall`` / ``min_f1``
    replaces that rule with the given minimums. Score = F1. Labels match case-insensitively
    (``_`` / ``-`` as spaces) or through ``synonyms`` ({expected label: [other names]}).
    Unlabelled predictions match any expected box when the expected boxes carry at most one
    distinct label.
    """

    type_name: ClassVar[str] = "boxes"
    shorthand: ClassVar[str | None] = "boxes"
    description: ClassVar[str] = "Predicted boxes match the expected boxes (IoU, P/R/F1)."
    boxes: list[ExpectedBoxField]
    iou: float = Field(default=0.5, gt=0, le=1)
    min_precision: float | None = Field(default=None, ge=0, le=1)
    min_recall: float | None = Field(default=None, ge=0, le=1)
    min_f1: float | None = Field(default=None, ge=0, le=1)
    synonyms: dict[str, list[str]] = Field(default_factory=dict)

    def prompt_hint(self, box_format: BoxFormat) -> str | None:
        return BOXES_HINTS[box_format]

    def _compatible(self, preds: list[tuple[PxBox, str | None]]) -> Any:
        gts = self.boxes
        distinct = {_canon(b.label) for b in gts if b.label}
        names: dict[str, set[str]] = {}
        for label, others in self.synonyms.items():
            names.setdefault(_canon(label), {_canon(label)}).update(_canon(o) for o in others)

        def ok(i: int, j: int) -> bool:
            want, got = gts[j].label, preds[i][1]
            if want is None:
                return True
            if got is None:
                return len(distinct) <= 1
            w = _canon(want)
            return _canon(got) in names.get(w, {w})

        return ok

    def check(self, ctx: AnswerContext) -> Verdict:
        try:
            preds, how = predicted_pixel_boxes(ctx)
        except BoxFormatError as exc:
            return Verdict(False, 0.0, str(exc))
        gts = [tuple(b.box) for b in self.boxes]
        result = match_boxes([p[0] for p in preds], gts, self.iou, self._compatible(preds))
        custom = (self.min_precision, self.min_recall, self.min_f1)
        if all(v is None for v in custom):
            passed = result.precision == 1.0 and result.recall == 1.0
            rule = f"all {len(gts)} expected boxes and nothing else at IoU ≥ {self.iou:g}"
        else:
            passed = (
                (self.min_precision is None or result.precision >= self.min_precision)
                and (self.min_recall is None or result.recall >= self.min_recall)
                and (self.min_f1 is None or result.f1 >= self.min_f1)
            )
            names = ("precision", "recall", "F1")
            rule = ", ".join(
                f"{n} ≥ {v:g}" for n, v in zip(names, custom, strict=True) if v is not None
            )
        details = self._details(preds, result, how, ctx.box_format)
        if not preds and gts:
            expl = _no_boxes(ctx, how)
        else:
            expl = self._explain(preds, result, rule, passed)
        return Verdict(passed, result.f1, expl, parsed=details["predicted_boxes"], details=details)

    def _details(
        self, preds: list[tuple[PxBox, str | None]], result: MatchResult, how: str, box_format: str
    ) -> dict[str, Any]:
        return {
            "expected_boxes": [{"box": _box_list(_t(b.box)), "label": b.label} for b in self.boxes],
            "predicted_boxes": [{"box": _box_list(p), "label": lab} for p, lab in preds],
            "iou_matrix": [[round(v, 4) for v in row] for row in result.matrix],
            "matches": [
                {"predicted": i, "expected": j, "iou": round(v, 4)} for i, j, v in result.pairs
            ],
            "precision": round(result.precision, 4),
            "recall": round(result.recall, 4),
            "f1": round(result.f1, 4),
            "iou_threshold": self.iou,
            "box_format": box_format,
            "parsed_from": how,
        }

    def _explain(
        self, preds: list[tuple[PxBox, str | None]], result: MatchResult, rule: str, passed: bool
    ) -> str:
        head = (
            f"precision {result.precision:.2f} ({result.tp}/{result.n_pred}), recall "
            f"{result.recall:.2f} ({result.tp}/{result.n_gt}), F1 {result.f1:.2f}; "
            f"{'met' if passed else 'needed'}: {rule}"
        )
        lines = [head]
        matched_p = {i for i, _, _ in result.pairs}
        matched_g = {j for _, j, _ in result.pairs}
        for i, j, v in result.pairs:
            lines.append(
                f"  matched expected #{j} {_lab(self.boxes[j].label)}"
                f"{_fmt_box(_t(self.boxes[j].box))} <-> predicted #{i} "
                f"{_lab(preds[i][1])}{_fmt_box(preds[i][0])}: IoU {v:.2f}"
            )
        for j, b in enumerate(self.boxes):
            if j not in matched_g:
                best = max((row[j] for row in result.matrix), default=0.0)
                lines.append(
                    f"  missed expected #{j} {_lab(b.label)}{_fmt_box(_t(b.box))} "
                    f"(best IoU {best:.2f})"
                )
        for i, (p, lab) in enumerate(preds):
            if i not in matched_p:
                why = " (degenerate)" if is_degenerate(p) else ""
                lines.append(f"  extra predicted #{i} {_lab(lab)}{_fmt_box(p)}{why}")
        return "\n".join(lines)


class Box(Assertion):
    """Exactly one predicted box (duplicates ignored) with IoU >= ``min_iou``."""

    type_name: ClassVar[str] = "box"
    shorthand: ClassVar[str | None] = "box"
    description: ClassVar[str] = "One predicted box overlaps the expected box (IoU)."
    box: XyxyField
    min_iou: float = Field(default=0.5, gt=0, le=1)

    @field_validator("box")
    @classmethod
    def _valid(cls, v: list[float]) -> list[float]:
        return _check_xyxy(v)

    def prompt_hint(self, box_format: BoxFormat) -> str | None:
        return BOX_HINTS[box_format]

    def check(self, ctx: AnswerContext) -> Verdict:
        want: PxBox = (self.box[0], self.box[1], self.box[2], self.box[3])
        try:
            preds, how = predicted_pixel_boxes(ctx)
        except BoxFormatError as exc:
            return Verdict(False, 0.0, str(exc))
        unique: list[tuple[PxBox, str | None]] = []
        for p in preds:
            if all(p[0] != u[0] for u in unique):
                unique.append(p)
        details: dict[str, Any] = {
            "expected_boxes": [{"box": _box_list(want), "label": None}],
            "predicted_boxes": [{"box": _box_list(p), "label": lab} for p, lab in unique],
            "iou_matrix": [[round(iou(p, want), 4)] for p, _ in unique],
            "box_format": ctx.box_format,
            "parsed_from": how,
        }
        if not unique:
            return Verdict(False, 0.0, _no_boxes(ctx, how), details=details)
        if len(unique) > 1:
            shown = "; ".join(f"{_fmt_box(p)} IoU {iou(p, want):.2f}" for p, _ in unique)
            return Verdict(
                False, 0.0, f"expected one box, found {len(unique)}: {shown}", details=details
            )
        got = unique[0][0]
        v = iou(got, want)
        details["matches"] = (
            [{"predicted": 0, "expected": 0, "iou": round(v, 4)}] if v >= self.min_iou else []
        )
        ok = v >= self.min_iou
        expl = (
            f"IoU {v:.2f} {'≥' if ok else '<'} {self.min_iou:g}: predicted {_fmt_box(got)}"
            f" vs expected {_fmt_box(want)} (original pixels)"
        )
        return Verdict(ok, 1.0 if ok else v, expl, parsed=_box_list(got), details=details)


class Point(Assertion):
    """Exactly one predicted point (or box centre, if a box was given) inside ``box``."""

    type_name: ClassVar[str] = "point"
    shorthand: ClassVar[str | None] = "box"
    description: ClassVar[str] = "The predicted point falls inside the expected box."
    box: XyxyField

    @field_validator("box")
    @classmethod
    def _valid(cls, v: list[float]) -> list[float]:
        return _check_xyxy(v)

    def prompt_hint(self, box_format: BoxFormat) -> str | None:
        return POINT_HINTS[box_format]

    def check(self, ctx: AnswerContext) -> Verdict:
        x1, y1, x2, y2 = self.box
        try:
            points, how = predicted_pixel_points(ctx)
        except BoxFormatError as exc:
            return Verdict(False, 0.0, str(exc))
        unique = list(dict.fromkeys((_r(x), _r(y)) for x, y in points))
        details: dict[str, Any] = {
            "expected_boxes": [{"box": _box_list((x1, y1, x2, y2)), "label": None}],
            "predicted_points": [list(p) for p in unique],
            "box_format": ctx.box_format,
            "parsed_from": how,
        }
        if not unique:
            return Verdict(False, 0.0, _no_boxes(ctx, how, "point"), details=details)
        if len(unique) > 1:
            return Verdict(
                False,
                0.0,
                f"expected one point, found {len(unique)}: {', '.join(map(str, unique))}",
                details=details,
            )
        x, y = unique[0]
        ok = x1 <= x <= x2 and y1 <= y <= y2
        expl = (
            f"point ({x:g}, {y:g}) is {'inside' if ok else 'outside'} expected box "
            f"{_fmt_box((x1, y1, x2, y2))} (original pixels)"
        )
        return Verdict(ok, float(ok), expl, parsed=[x, y], details=details)


TYPES: list[type[Assertion]] = [Boxes, Box, Point]
