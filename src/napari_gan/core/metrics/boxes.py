"""Bounding-box detection scoring: box IoU and COCO-style average precision.

Boxes are arrays of shape (M, 2, D): row 0 the min corner, row 1 the max corner, in
pixel coordinates, for any D (2: (row, col); 3: (plane, row, col)). The max corner is
exclusive, as in :func:`skimage.measure.regionprops`' ``bbox``: a box covering pixels
2..11 has min 2 and max 12, and its size is ``max - min``. A regionprops bbox
``(min_row, min_col, max_row, max_col)`` becomes one box with
``np.reshape(bbox, (2, -1))``. A box whose min equals its max on an axis is empty: its
IoU with any box is 0.

Average precision follows COCO (pycocotools' ``COCOeval`` for bounding boxes): per
class, predictions are taken in order of decreasing score and each is matched to the
unmatched reference box of its class with the largest IoU >= t; precision is made
monotone and read at the 101 recall values 0, 0.01, ..., 1. The differences from
pycocotools: no limit on detections per image, no area ranges or "crowd" boxes, a class
with predictions but no reference box scores 0.0 (pycocotools leaves it out of the
mean), predictions with equal scores form one point of the precision-recall curve, and
with no box on either side AP is 1.0 (the package's convention, see
:mod:`napari_gan.core.metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import InputError
from ._common import _best_matching, _ratio
from .instances import _thresholds

__all__ = ["COCO_IOU_THRESHOLDS", "BoxAP", "box_average_precision", "box_iou"]

#: IoU thresholds 0.5, 0.55, ..., 0.95 of COCO's AP@[.5:.95], used by :func:`box_average_precision`
COCO_IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))

_RECALL_POINTS = np.linspace(0.0, 1.0, 101)  # as pycocotools, so that AP agrees to the last digit


@dataclass(frozen=True)
class BoxAP:
    """Agreement of predicted boxes with reference boxes: COCO-style average precision
    and the precision, recall and F1 of all predictions at IoU 0.5.

    Attributes
    ----------
    iou_thresholds : tuple of float
        Thresholds over which ``ap`` and ``class_ap`` are averaged.
    ap : float
        AP averaged over ``iou_thresholds`` and then over the classes (COCO's
        "AP@[.5:.95]" with the default thresholds).
    ap50 : float
        AP at IoU 0.5, averaged over the classes (Pascal VOC's "AP50").
    ap_at : dict of float to float
        AP at each of ``iou_thresholds``, averaged over the classes.
    class_ap, class_ap50 : dict of class to float
        ``ap`` and ``ap50`` of each class, in order of first appearance (reference
        first). With no classes given, the single key is ``None``.
    tp, fp, fn : int
        At IoU >= 0.5, with every prediction counted whatever its score: matched pairs,
        unmatched predictions, unmatched reference boxes (summed over the classes).
    n_true, n_pred : int
        Number of reference and predicted boxes.
    precision, recall, f1 : float
        ``tp / n_pred``, ``tp / n_true`` and ``2 tp / (n_true + n_pred)`` at IoU 0.5:
        the scores of a prediction the user has already thresholded.
    """

    iou_thresholds: tuple[float, ...]
    ap: float
    ap50: float
    ap_at: dict[float, float] = field(repr=False)
    class_ap: dict[Hashable, float] = field(repr=False)
    class_ap50: dict[Hashable, float] = field(repr=False)
    tp: int
    fp: int
    fn: int
    n_true: int
    n_pred: int
    precision: float
    recall: float
    f1: float

    def as_dict(self) -> dict[str, float | int]:
        """The scalar fields as a plain dict (without the per-class and per-threshold dicts)."""
        out = asdict(self)
        for key in ("iou_thresholds", "ap_at", "class_ap", "class_ap50"):
            del out[key]
        return out


# --------------------------------------------------------------------------- input checks


def _as_boxes(boxes, name: str) -> np.ndarray:
    """``boxes`` as a float64 (M, 2, D) array; an empty set may have D = 0 (unknown)."""
    boxes = np.asarray(boxes)
    if boxes.ndim in (1, 2) and len(boxes) == 0:  # [] or np.empty((0, k)): no box
        return np.zeros((0, 2, 0))
    if boxes.ndim != 3 or boxes.shape[1] != 2 or boxes.shape[2] < 1:
        raise InputError(
            f"{name} must be an (M, 2, D) array of boxes (row 0 the min corner, row 1 the max corner), "
            f"got shape {boxes.shape}"
        )
    if not (np.issubdtype(boxes.dtype, np.integer) or np.issubdtype(boxes.dtype, np.floating)):
        raise InputError(f"{name} must hold real coordinates, got dtype {boxes.dtype}")
    boxes = boxes.astype(np.float64)
    if not np.all(np.isfinite(boxes)):
        raise InputError(f"{name} contains NaN or infinite coordinates")
    inverted = np.argwhere(boxes[:, 0] > boxes[:, 1])
    if inverted.size:
        i, axis = inverted[0]
        raise InputError(
            f"{name}: box {i} has its min corner above its max corner on axis {axis} "
            f"({boxes[i, 0, axis]:g} > {boxes[i, 1, axis]:g}); each box is (min corner, max corner)"
        )
    return boxes


def _same_dimension(a: np.ndarray, b: np.ndarray, names: str) -> None:
    if len(a) and len(b) and a.shape[2] != b.shape[2]:
        raise InputError(f"boxes differ in dimension: {names} have D = {a.shape[2]} and {b.shape[2]}")


def _as_classes(classes, n: int, name: str) -> list[Hashable]:
    values = np.asarray(classes, dtype=object)
    if values.ndim != 1 or len(values) != n:
        raise InputError(f"{name} must hold one class per box: {n} boxes but {name} has shape {values.shape}")
    out = values.tolist()
    for i, value in enumerate(out):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            raise InputError(f"{name}: the class of box {i} is missing")
        try:
            hash(value)
        except TypeError:
            raise InputError(f"{name}: the class of box {i} is a {type(value).__name__}, not a name") from None
    return out


def _as_scores(scores, n: int) -> np.ndarray:
    if scores is None:
        return np.zeros(n)
    values = np.asarray(scores)
    if values.ndim != 1 or len(values) != n:
        raise InputError(f"scores must hold one score per predicted box: {n} boxes but scores has shape {values.shape}")
    if not (np.issubdtype(values.dtype, np.integer) or np.issubdtype(values.dtype, np.floating)):
        raise InputError(f"scores must be numbers, got dtype {values.dtype}")
    values = values.astype(np.float64)
    if not np.all(np.isfinite(values)):
        raise InputError("scores contain NaN or infinite values")
    return values


def _columns(value, classes, scores, name: str, *, with_scores: bool):
    """Split a dict of columns {"boxes", "class"[, "score"]} into its parts."""
    if not isinstance(value, Mapping):
        return value, classes, scores
    if "boxes" not in value:
        raise InputError(f"{name} is a dict but has no 'boxes' column (keys: {sorted(map(str, value))})")
    taken = {"class": classes, "score": scores} if with_scores else {"class": classes}
    for key, given in taken.items():
        if key in value and given is not None:
            raise InputError(f"{name} has a {key!r} column and {key}s were also passed: give them once")
    return (
        value["boxes"],
        value.get("class", classes),
        value.get("score", scores) if with_scores else scores,
    )


# --------------------------------------------------------------------------- IoU


def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of boxes ``a`` and ``b`` (..., 2, D), broadcast over the leading axes."""
    lo = np.maximum(a[..., 0, :], b[..., 0, :])
    hi = np.minimum(a[..., 1, :], b[..., 1, :])
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=-1)
    union = np.prod(a[..., 1, :] - a[..., 0, :], axis=-1) + np.prod(b[..., 1, :] - b[..., 0, :], axis=-1) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _pair_iou(a[:, None], b[None, :])


def box_iou(a, b) -> np.ndarray:
    """Intersection over union of every pair of boxes.

    Parameters
    ----------
    a, b : array_like, shape (M, 2, D) and (N, 2, D)
        Boxes: ``[i, 0]`` the min corner, ``[i, 1]`` the max corner (exclusive), in
        the same pixel coordinates. An empty set may be ``[]`` or shape (0, 2, D).

    Returns
    -------
    ndarray of float64, shape (M, N)
        ``volume(a[i] & b[j]) / volume(a[i] | b[j])``; 0 for boxes that do not overlap
        and for empty boxes (zero extent on an axis).

    Raises
    ------
    napari_gan.InputError
        If a shape is not (M, 2, D), a coordinate is not finite, a min corner lies
        above its max corner, or the two sets differ in D.
    """
    a, b = _as_boxes(a, "a"), _as_boxes(b, "b")
    _same_dimension(a, b, "a and b")
    if not (len(a) and len(b)):
        return np.zeros((len(a), len(b)))
    return _iou_matrix(a, b)


# --------------------------------------------------------------------------- average precision


def _class_ap(ious: np.ndarray, scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """AP of one class at each threshold; ``ious`` is (n_pred, n_true)."""
    n_pred, n_true = ious.shape
    if n_true == 0 or n_pred == 0:
        return np.full(thresholds.size, 1.0 if n_true == n_pred else 0.0)
    order = np.argsort(-scores, kind="stable")
    ious, scores = ious[order], scores[order]
    taken = np.zeros((thresholds.size, n_true), dtype=bool)
    hit = np.zeros((thresholds.size, n_pred), dtype=bool)
    lowest = thresholds.min()
    every = np.arange(thresholds.size)
    for k in range(n_pred):
        near = np.flatnonzero(ious[k] >= lowest)
        if near.size == 0:
            continue
        iou = ious[k, near]
        # greedy, as COCO: the unmatched reference box with the largest IoU >= t
        candidate = np.where((iou >= thresholds[:, None]) & ~taken[:, near], iou, -1.0)
        best = candidate.argmax(axis=1)
        ok = candidate[every, best] >= 0.0
        taken[every[ok], near[best[ok]]] = True
        hit[ok, k] = True
    # one point of the curve per distinct score: tied predictions are one operating point
    last = np.flatnonzero(np.r_[scores[1:] != scores[:-1], True])
    found = np.cumsum(hit, axis=1)[:, last]
    recall = found / n_true
    precision = found / (last + 1.0)
    precision = np.maximum.accumulate(precision[:, ::-1], axis=1)[:, ::-1]
    ap = np.empty(thresholds.size)
    for t in range(thresholds.size):
        at = np.searchsorted(recall[t], _RECALL_POINTS, side="left")
        reached = at < last.size
        ap[t] = precision[t, at[reached]].sum() / _RECALL_POINTS.size
    return ap


def _groups(classes: list[Hashable] | None, n: int) -> dict[Hashable, list[int]]:
    if classes is None:
        return {None: list(range(n))}
    groups: dict[Hashable, list[int]] = {}
    for i, c in enumerate(classes):
        groups.setdefault(c, []).append(i)
    return groups


def box_average_precision(
    true_boxes,
    pred_boxes,
    scores=None,
    *,
    true_classes=None,
    pred_classes=None,
    iou_thresholds: float | Iterable[float] = COCO_IOU_THRESHOLDS,
) -> BoxAP:
    """COCO-style average precision of predicted boxes against reference boxes.

    Parameters
    ----------
    true_boxes : array_like, shape (M, 2, D), or dict of columns
        Reference boxes: ``[i, 0]`` the min corner, ``[i, 1]`` the max corner
        (exclusive, as regionprops' ``bbox``). Or a dict ``{"boxes": ..., "class": ...}``
        ("class" optional).
    pred_boxes : array_like, shape (N, 2, D), or dict of columns
        Predicted boxes, in the same coordinates. Or the dict of columns a detector
        returns: ``{"boxes": (N, 2, D), "class": (N,), "score": (N,)}`` ("class" and
        "score" optional), whose columns then stand for ``pred_classes`` and ``scores``.
    scores : array_like, shape (N,), optional
        Confidence of each prediction; higher ranks first. Without scores every
        prediction is equally confident and the precision-recall curve has one point.
    true_classes, pred_classes : array_like, shape (M,) and (N,), optional
        Class of each box (names or numbers). Give both or neither: with classes, a
        prediction only matches a reference box of its class, and AP is averaged over
        the classes found on either side; without, all boxes are one class.
    iou_thresholds : float or iterable of float, optional
        Thresholds in (0, 1] over which ``ap`` is averaged; default COCO's 0.5, 0.55,
        ..., 0.95. ``ap50`` is always at 0.5.

    Returns
    -------
    BoxAP
        ``ap`` (AP@[.5:.95]), ``ap50``, AP per threshold and per class, and the
        precision, recall and F1 at IoU 0.5 of all predictions.

    Raises
    ------
    napari_gan.InputError
        If a box array is not (M, 2, D), a coordinate or score is not finite, a min
        corner lies above its max corner, the two sides differ in D, scores or classes
        do not have one entry per box, only one side has classes, or a threshold lies
        outside (0, 1].

    Notes
    -----
    Per class and threshold ``t``, predictions are taken by decreasing score (equal
    scores in the order given) and each is matched to the unmatched reference box of
    its class with the largest IoU >= t. Precision after each distinct score is made
    non-increasing in recall and read at recall 0, 0.01, ..., 1; AP is the mean of
    those 101 values. See the module notes for the differences from pycocotools.

    Precision, recall and F1 at IoU 0.5 ignore the scores: boxes of a class are paired
    one-to-one with as many pairs as possible, then the largest total IoU, like
    :func:`match_instances` and :func:`match_points`.
    """
    true_boxes, true_classes, _ = _columns(true_boxes, true_classes, None, "true_boxes", with_scores=False)
    pred_boxes, pred_classes, scores = _columns(pred_boxes, pred_classes, scores, "pred_boxes", with_scores=True)
    true = _as_boxes(true_boxes, "true_boxes")
    pred = _as_boxes(pred_boxes, "pred_boxes")
    _same_dimension(true, pred, "true_boxes and pred_boxes")
    scores = _as_scores(scores, len(pred))
    if (true_classes is None) != (pred_classes is None):
        given = "true_classes" if pred_classes is None else "pred_classes"
        raise InputError(f"only {given} was given: give the classes of both sides, or of neither")
    if true_classes is not None:
        true_classes = _as_classes(true_classes, len(true), "true_classes")
        pred_classes = _as_classes(pred_classes, len(pred), "pred_classes")
    thresholds = _thresholds(iou_thresholds)
    grid = np.asarray(sorted({*thresholds, 0.5}))
    asked = np.searchsorted(grid, thresholds)
    half = int(np.searchsorted(grid, 0.5))

    true_groups = _groups(true_classes, len(true))
    pred_groups = _groups(pred_classes, len(pred))
    per_class: dict[Hashable, np.ndarray] = {}
    tp = 0
    for c in (*true_groups, *(c for c in pred_groups if c not in true_groups)):
        t, p = true[true_groups.get(c, [])], pred[pred_groups.get(c, [])]
        ious = _iou_matrix(p, t) if len(t) and len(p) else np.zeros((len(p), len(t)))
        per_class[c] = _class_ap(ious, scores[pred_groups.get(c, [])], grid)
        cols, rows = np.nonzero(ious >= 0.5)
        tp += int(_best_matching(rows, cols, ious[cols, rows]).size)

    if per_class:
        table = np.stack(list(per_class.values()))  # (classes, thresholds)
        mean = table.mean(axis=0)
    else:  # classes were given and there is no box at all: nothing to find, nothing found
        table, mean = np.zeros((0, grid.size)), np.ones(grid.size)
    class_ap = table[:, asked].mean(axis=1)
    empty = len(true) == 0 and len(pred) == 0
    return BoxAP(
        iou_thresholds=thresholds,
        ap=float(mean[asked].mean()),
        ap50=float(mean[half]),
        ap_at={t: float(mean[i]) for t, i in zip(thresholds, asked)},
        class_ap={c: float(v) for c, v in zip(per_class, class_ap)},
        class_ap50={c: float(v) for c, v in zip(per_class, table[:, half])},
        tp=tp,
        fp=len(pred) - tp,
        fn=len(true) - tp,
        n_true=len(true),
        n_pred=len(pred),
        precision=_ratio(tp, len(pred), both_empty=empty),
        recall=_ratio(tp, len(true), both_empty=empty),
        f1=_ratio(2 * tp, len(true) + len(pred), both_empty=empty),
    )
