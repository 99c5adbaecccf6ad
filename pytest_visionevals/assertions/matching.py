"""IoU and optimal one-to-one box matching (Hungarian, scipy's linear_sum_assignment).

The matching maximises the number of pairs whose IoU reaches the threshold, and among
those matchings the total IoU: each admissible pair weighs ``n + 1 + iou`` (more than any
sum of IoUs), inadmissible pairs (IoU below threshold, or labels that differ) weigh 0.
Maximising IoU first and thresholding afterwards could lose a match, so it is not done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 with x1 <= x2, y1 <= y2


def area(b: Sequence[float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two xyxy boxes; 0 when either is degenerate."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = area(a) + area(b) - inter
    if union <= 0:
        return 0.0
    return max(0.0, min(1.0, inter / union))


def iou_matrix(
    preds: Sequence[Sequence[float]], gts: Sequence[Sequence[float]]
) -> list[list[float]]:
    """``m[i][j]`` = IoU(preds[i], gts[j])."""
    return [[iou(p, g) for g in gts] for p in preds]


@dataclass(frozen=True)
class MatchResult:
    pairs: tuple[tuple[int, int, float], ...]  # (pred index, gt index, iou)
    n_pred: int
    n_gt: int
    matrix: tuple[tuple[float, ...], ...]

    @property
    def tp(self) -> int:
        return len(self.pairs)

    @property
    def precision(self) -> float:
        return self.tp / self.n_pred if self.n_pred else 1.0

    @property
    def recall(self) -> float:
        return self.tp / self.n_gt if self.n_gt else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    @property
    def mean_iou(self) -> float:
        return sum(p[2] for p in self.pairs) / len(self.pairs) if self.pairs else 0.0


def match_boxes(
    preds: Sequence[Sequence[float]],
    gts: Sequence[Sequence[float]],
    threshold: float = 0.5,
    compatible: Callable[[int, int], bool] | None = None,
) -> MatchResult:
    """Optimal one-to-one matching of ``preds`` to ``gts`` at IoU >= ``threshold``.

    ``compatible(i, j)`` restricts which prediction may match which ground truth (labels).
    """
    mat = iou_matrix(preds, gts)
    frozen = tuple(tuple(row) for row in mat)
    if not preds or not gts:
        return MatchResult((), len(preds), len(gts), frozen)
    big = float(min(len(preds), len(gts)) + 1)
    # Imported here, like scipy below: only runs that score boxes pay for numpy.
    import numpy as np

    weights = np.zeros((len(preds), len(gts)))
    for i, row in enumerate(mat):
        for j, v in enumerate(row):
            if v >= threshold and v > 0 and (compatible is None or compatible(i, j)):
                weights[i, j] = big + v
    # Imported here: scipy.optimize costs ~1 s of import time, paid only when boxes are scored.
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(weights, maximize=True)
    pairs = tuple(
        (int(i), int(j), mat[int(i)][int(j)])
        for i, j in zip(rows, cols, strict=True)
        if weights[i, j] > 0
    )
    return MatchResult(tuple(sorted(pairs)), len(preds), len(gts), frozen)
