"""Segmentation overlap (IoU per foreground and per class) and object-level
matching of instance label images at IoU thresholds.

Label images: 0 is background; every other value is one object, whatever its
connectivity. Ids need not be consecutive; any integer or boolean dtype works, and
float arrays are accepted when every value is a whole number. The matching rules are
those of the package (see :mod:`napari_gan.core.metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InputError
from ._common import _best_matching, _ratio

__all__ = [
    "IOU_THRESHOLDS",
    "InstanceMatch",
    "average_precision",
    "class_iou",
    "iou",
    "match_instances",
    "segmentation_scores",
]


#: IoU thresholds 0.5, 0.55, ..., 0.9 used by :func:`match_instances` and :func:`average_precision`
IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(9))


@dataclass(frozen=True)
class InstanceMatch:
    """Object-level agreement of two instance label images at one IoU threshold.

    Attributes
    ----------
    threshold : float
        A reference and a predicted object may match when their IoU >= threshold.
    tp, fp, fn : int
        Matched pairs, unmatched predicted objects, unmatched reference objects.
    n_true, n_pred : int
        Objects in the reference and in the prediction.
    precision, recall, f1 : float
        ``tp / n_pred``, ``tp / n_true`` and ``2 tp / (n_true + n_pred)``.
    accuracy : float
        ``tp / (tp + fp + fn)``: the per-threshold score averaged by :func:`average_precision`.
    mean_matched_iou : float
        Mean IoU of the matched pairs; NaN when ``tp == 0``.
    panoptic_quality : float
        ``sum of matched IoUs / (tp + fp/2 + fn/2)`` (Kirillov et al. 2019).
    """

    threshold: float
    tp: int
    fp: int
    fn: int
    n_true: int
    n_pred: int
    precision: float
    recall: float
    f1: float
    accuracy: float
    mean_matched_iou: float
    panoptic_quality: float

    def as_dict(self) -> dict[str, float | int]:
        """The fields as a plain dict."""
        return asdict(self)


def _as_labels(array, name: str) -> np.ndarray:
    """``array`` as an int64 label image, or an InputError naming what is wrong."""
    array = np.asarray(array)
    if array.ndim == 0:
        raise InputError(f"{name} must be a label image, got a scalar")
    if array.dtype == bool:
        return array.astype(np.int64)
    if np.issubdtype(array.dtype, np.integer):
        if np.issubdtype(array.dtype, np.signedinteger) and array.size and array.min() < 0:
            raise InputError(f"{name} has negative label values; labels must be >= 0 (0 = background)")
        if array.dtype == np.uint64 and array.size and array.max() > np.iinfo(np.int64).max:
            raise InputError(f"{name} has label values above {np.iinfo(np.int64).max}")
        return array.astype(np.int64, copy=False)
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise InputError(f"{name} contains NaN or infinite values; a label image needs whole numbers")
        if np.any(array != np.round(array)):
            raise InputError(
                f"{name} is a float image with non-integer values; a label image needs whole numbers "
                "(0 = background, one id per object)"
            )
        if array.size and array.min() < 0:
            raise InputError(f"{name} has negative label values; labels must be >= 0 (0 = background)")
        return array.astype(np.int64)
    raise InputError(f"{name} has dtype {array.dtype}; a label image needs an integer (or whole-number) dtype")


def _label_pair(true, pred) -> tuple[np.ndarray, np.ndarray]:
    true = _as_labels(true, "true")
    pred = _as_labels(pred, "pred")
    if true.shape != pred.shape:
        raise InputError(f"label images differ in shape: true {true.shape}, pred {pred.shape}")
    return true.ravel(), pred.ravel()


def _relabel(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map the ids of a flat label image onto 0..n (0 stays background).

    Returns ``(dense, areas)``: the relabelled image and the pixel count of objects 1..n.
    """
    if labels.size == 0:
        return labels, np.zeros(0, dtype=np.int64)
    top = int(labels.max())
    if top <= max(labels.size, 1 << 20):  # counting is O(N); sorting (np.unique) is only for huge ids
        counts = np.bincount(labels, minlength=top + 1)
        ids = np.flatnonzero(counts[1:]) + 1
        lookup = np.zeros(top + 1, dtype=np.int64)
        lookup[ids] = np.arange(1, ids.size + 1)
        return lookup[labels], counts[ids]
    ids, dense, counts = np.unique(labels, return_inverse=True, return_counts=True)
    dense = dense.reshape(-1)
    if ids[0] == 0:
        return dense.astype(np.int64, copy=False), counts[1:]
    return dense.astype(np.int64) + 1, counts


def _pair_counts(a: np.ndarray, b: np.ndarray, n_b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-zero entries of the contingency table of two dense label images: (rows, cols, counts)."""
    code = a * (n_b + 1) + b
    size = (int(a.max(initial=0)) + 1) * (n_b + 1)
    if size <= max(4 * code.size, 1 << 22):
        counts = np.bincount(code, minlength=size)
        codes = np.flatnonzero(counts)
        counts = counts[codes]
    else:
        codes, counts = np.unique(code, return_counts=True)
    return codes // (n_b + 1), codes % (n_b + 1), counts


def _overlaps(true, pred) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """IoU of every overlapping pair of objects.

    Returns ``(rows, cols, ious, n_true, n_pred)``; rows and cols are 0-based object
    indices (in increasing order of the original ids).
    """
    true, pred = _label_pair(true, pred)
    true, true_areas = _relabel(true)
    pred, pred_areas = _relabel(pred)
    both = (true > 0) & (pred > 0)
    rows, cols, inter = _pair_counts(true[both], pred[both], pred_areas.size)
    rows, cols = rows - 1, cols - 1
    union = true_areas[rows] + pred_areas[cols] - inter
    return rows, cols, inter / union, true_areas.size, pred_areas.size


def _instance_match(rows, cols, ious, n_true: int, n_pred: int, threshold: float) -> InstanceMatch:
    keep = ious >= threshold
    picked = _best_matching(rows[keep], cols[keep], ious[keep])
    matched = ious[keep][picked]
    tp = int(picked.size)
    fp, fn = n_pred - tp, n_true - tp
    empty = n_true == 0 and n_pred == 0
    total = float(matched.sum())
    return InstanceMatch(
        threshold=float(threshold),
        tp=tp,
        fp=fp,
        fn=fn,
        n_true=n_true,
        n_pred=n_pred,
        precision=_ratio(tp, n_pred, both_empty=empty),
        recall=_ratio(tp, n_true, both_empty=empty),
        f1=_ratio(2 * tp, n_true + n_pred, both_empty=empty),
        accuracy=_ratio(tp, tp + fp + fn, both_empty=empty),
        mean_matched_iou=total / tp if tp else math.nan,
        panoptic_quality=_ratio(total, tp + 0.5 * fp + 0.5 * fn, both_empty=empty),
    )


def _thresholds(thresholds) -> tuple[float, ...]:
    values = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if values.ndim != 1 or values.size == 0:
        raise InputError("thresholds must be a non-empty sequence of IoU values")
    if not np.all((values > 0) & (values <= 1)):
        raise InputError(f"IoU thresholds must lie in (0, 1], got {values.tolist()}")
    # rounded so that np.arange(0.5, 0.95, 0.05) gives the keys 0.6, not 0.6000000000000001
    return tuple(round(float(t), 6) for t in values)


# --------------------------------------------------------------------------- overlap


def iou(true: np.ndarray, pred: np.ndarray) -> float:
    """Foreground intersection over union of two label images.

    Parameters
    ----------
    true, pred : ndarray, same shape (e.g. (Y, X) or (Z, Y, X))
        Label or mask images; non-zero pixels are foreground.

    Returns
    -------
    float
        ``|true > 0 & pred > 0| / |true > 0 | pred > 0|``; 1.0 when neither has foreground.

    Raises
    ------
    napari_gan.InputError
        If the shapes differ or a value is not a whole number >= 0.
    """
    true, pred = _label_pair(true, pred)
    a, b = true > 0, pred > 0
    union = int(np.count_nonzero(a | b))
    return _ratio(int(np.count_nonzero(a & b)), union, both_empty=union == 0)


def class_iou(true: np.ndarray, pred: np.ndarray, *, ignore: int | Iterable[int] | None = None) -> dict[int, float]:
    """Intersection over union of each class of two class maps (semantic segmentation).

    Parameters
    ----------
    true, pred : ndarray of int, same shape
        Class maps: every value is a class, 0 (usually background) included.
    ignore : int or iterable of int, optional
        Class value(s) of ``true`` to leave out, e.g. "not annotated": those pixels are
        dropped from both images, and the classes are not reported.

    Returns
    -------
    dict of int to float
        ``{class: |true == c & pred == c| / |true == c | pred == c|}`` for every class
        present in either image (after dropping ignored pixels), in increasing order.

    Raises
    ------
    napari_gan.InputError
        If the shapes differ or a value is not a whole number >= 0.
    """
    true, pred = _label_pair(true, pred)
    ignored = np.zeros(0, dtype=np.int64)
    if ignore is not None:
        ignored = np.atleast_1d(np.asarray(ignore if np.isscalar(ignore) else list(ignore), dtype=np.int64))
        keep = ~np.isin(true, ignored)
        true, pred = true[keep], pred[keep]
    classes = np.setdiff1d(np.union1d(true, pred), ignored)
    if classes.size == 0:
        return {}
    t = np.searchsorted(classes, true)
    p = np.searchsorted(classes, pred)
    # a predicted pixel of an ignored class belongs to no class: index classes.size
    p[(p == classes.size) | (classes[np.minimum(p, classes.size - 1)] != pred)] = classes.size
    n = classes.size + 1
    table = np.bincount(t * n + p, minlength=classes.size * n).reshape(classes.size, n)
    inter = np.diag(table[:, : classes.size])
    union = table.sum(axis=1) + table[:, : classes.size].sum(axis=0) - inter
    return {int(c): _ratio(int(i), int(u), both_empty=False) for c, i, u in zip(classes, inter, union)}


# --------------------------------------------------------------------------- instances


def match_instances(
    true: np.ndarray, pred: np.ndarray, *, thresholds: float | Iterable[float] = IOU_THRESHOLDS
) -> dict[float, InstanceMatch]:
    """Match the objects of two instance label images one-to-one at IoU thresholds.

    Parameters
    ----------
    true, pred : ndarray, same shape (e.g. (Y, X) or (Z, Y, X))
        Instance label images: 0 is background, each other value one object. Ids need
        not be consecutive nor shared between the images.
    thresholds : float or iterable of float, optional
        IoU thresholds in (0, 1]; default 0.5, 0.55, ..., 0.9.

    Returns
    -------
    dict of float to InstanceMatch
        One record per threshold (keys rounded to 6 decimals). At each threshold a
        reference and a predicted object may be paired when their IoU >= threshold;
        the pairing is one-to-one, with as many pairs as possible and, among those,
        the largest total IoU. When neither image has an object, precision, recall,
        f1, accuracy and panoptic quality are 1.0.

    Raises
    ------
    napari_gan.InputError
        If the shapes differ, a value is not a whole number >= 0, or a threshold is
        outside (0, 1].

    Notes
    -----
    The IoU of every overlapping pair is computed at once from the pixel-pair
    contingency table (one pass over the images), never from one mask per object.
    """
    thresholds = _thresholds(thresholds)
    rows, cols, ious, n_true, n_pred = _overlaps(true, pred)
    return {t: _instance_match(rows, cols, ious, n_true, n_pred, t) for t in thresholds}


def average_precision(
    true: np.ndarray, pred: np.ndarray, *, thresholds: float | Iterable[float] = IOU_THRESHOLDS
) -> float:
    """Instance segmentation score averaged over IoU thresholds (DSB 2018 / StarDist style).

    At each threshold ``t``, objects are matched one-to-one as in
    :func:`match_instances` and scored ``TP / (TP + FP + FN)``; the result is the mean
    of that score over the thresholds. Despite its name (kept from the Data Science
    Bowl 2018, and called "accuracy" by StarDist) this is not the area under a
    precision-recall curve: there are no confidence scores to rank.

    Parameters
    ----------
    true, pred : ndarray, same shape
        Instance label images (0 = background).
    thresholds : float or iterable of float, optional
        Default 0.5, 0.55, ..., 0.9 (nine values). The Data Science Bowl 2018 used
        0.5, ..., 0.95: pass ``np.arange(0.5, 1.0, 0.05)`` to reproduce it.

    Returns
    -------
    float
        In [0, 1]; 1.0 when neither image has an object.

    Raises
    ------
    napari_gan.InputError
        As :func:`match_instances`.
    """
    matches = match_instances(true, pred, thresholds=thresholds)
    return float(np.mean([m.accuracy for m in matches.values()]))


def segmentation_scores(true: np.ndarray, pred: np.ndarray) -> dict[str, float | int]:
    """The usual summary of an instance segmentation against a reference.

    Parameters
    ----------
    true, pred : ndarray, same shape
        Instance label images (0 = background).

    Returns
    -------
    dict
        ``"iou"`` foreground IoU (:func:`iou`); ``"f1@0.5"``, ``"precision@0.5"``,
        ``"recall@0.5"``, ``"tp@0.5"``, ``"fp@0.5"``, ``"fn@0.5"`` from one-to-one
        matching at IoU >= 0.5; ``"ap"`` the score of :func:`average_precision` over
        IoU 0.5, ..., 0.9; ``"n_true"`` and ``"n_pred"`` the numbers of objects.

    Raises
    ------
    napari_gan.InputError
        As :func:`match_instances`.
    """
    true_flat, pred_flat = _label_pair(true, pred)  # validated once; _overlaps accepts flat arrays
    rows, cols, ious, n_true, n_pred = _overlaps(true_flat, pred_flat)
    matches = {t: _instance_match(rows, cols, ious, n_true, n_pred, t) for t in IOU_THRESHOLDS}
    half = matches[0.5]
    return {
        "iou": iou(true_flat, pred_flat),
        "f1@0.5": half.f1,
        "precision@0.5": half.precision,
        "recall@0.5": half.recall,
        "tp@0.5": half.tp,
        "fp@0.5": half.fp,
        "fn@0.5": half.fn,
        "ap": float(np.mean([m.accuracy for m in matches.values()])),
        "n_true": n_true,
        "n_pred": n_pred,
    }
