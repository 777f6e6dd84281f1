"""Quality metrics: image fidelity (PSNR, SSIM), segmentation overlap (IoU) and
object-level matching of instance labels and of detected points.

Conventions shared by the matching functions
--------------------------------------------
* Label images: 0 is background; every other value is one object, whatever its
  connectivity. Ids need not be consecutive; any integer or boolean dtype works, and
  float arrays are accepted when every value is a whole number.
* Matching is one-to-one. Among all pairs that pass the criterion (IoU >= threshold,
  or distance <= radius), the matching first maximises the number of matched pairs,
  then the total IoU (or minimises the total distance). Pairs are matched with
  :func:`scipy.optimize.linear_sum_assignment`, separately on each connected group of
  candidate pairs, so thousands of objects cost little.
* A ratio whose denominator is 0 (e.g. precision with no predictions) is 1.0 when
  both the reference and the prediction are empty (nothing to find, nothing found),
  else 0.0. No score is ever NaN except ``mean_matched_iou`` /
  ``mean_distance`` when nothing was matched; no numpy warnings are emitted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ..errors import InputError

__all__ = [
    "ClassificationReport",
    "IOU_THRESHOLDS",
    "InstanceMatch",
    "PointMatch",
    "average_precision",
    "classification_report",
    "class_iou",
    "iou",
    "match_instances",
    "match_points",
    "psnr",
    "segmentation_scores",
    "ssim",
]

#: IoU thresholds 0.5, 0.55, ..., 0.9 used by :func:`match_instances` and :func:`average_precision`
IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(9))


# --------------------------------------------------------------------------- image fidelity


def psnr(reference: np.ndarray, image: np.ndarray, *, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; ``data_range`` defaults to the reference's range."""
    reference = np.asarray(reference, dtype=np.float64)
    if data_range is None:
        data_range = float(reference.max() - reference.min())
    return float(peak_signal_noise_ratio(reference, np.asarray(image, dtype=np.float64), data_range=data_range))


def ssim(
    reference: np.ndarray, image: np.ndarray, *, data_range: float | None = None, channel_axis: int | None = None
) -> float:
    """Structural similarity; ``data_range`` defaults to the reference's range."""
    reference = np.asarray(reference, dtype=np.float64)
    if data_range is None:
        data_range = float(reference.max() - reference.min())
    return float(
        structural_similarity(
            reference, np.asarray(image, dtype=np.float64), data_range=data_range, channel_axis=channel_axis
        )
    )


# --------------------------------------------------------------------------- result records


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


@dataclass(frozen=True)
class PointMatch:
    """Agreement of two point sets matched one-to-one within a radius.

    Attributes
    ----------
    radius : float
        Largest distance (inclusive) at which a reference and a predicted point may match.
    tp, fp, fn : int
        Matched pairs, unmatched predicted points, unmatched reference points.
    n_true, n_pred : int
        Number of reference and predicted points.
    precision, recall, f1 : float
        ``tp / n_pred``, ``tp / n_true`` and ``2 tp / (n_true + n_pred)``.
    mean_distance : float
        Mean distance of the matched pairs; NaN when ``tp == 0``.
    pairs : ndarray of int, shape (tp, 2)
        Row ``(i, j)`` matches ``true[i]`` with ``pred[j]``; sorted by ``i``.
    """

    radius: float
    tp: int
    fp: int
    fn: int
    n_true: int
    n_pred: int
    precision: float
    recall: float
    f1: float
    mean_distance: float
    pairs: np.ndarray = field(compare=False, repr=False)

    def as_dict(self) -> dict[str, float | int]:
        """The scalar fields as a plain dict (without ``pairs``)."""
        out = asdict(self)
        del out["pairs"]
        return out


# --------------------------------------------------------------------------- helpers


def _ratio(numerator: float, denominator: float, *, both_empty: bool) -> float:
    if denominator > 0:
        return float(numerator) / float(denominator)
    return 1.0 if both_empty else 0.0


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


def _best_matching(rows: np.ndarray, cols: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """One-to-one matching of candidate pairs: most pairs, then largest total weight.

    ``weights`` lie in [0, 1]. Returns the indices of the chosen candidates. Each
    connected group of candidates is solved on its own, so cost grows with the size
    of the groups, not with the number of objects.
    """
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    row_ids, r = np.unique(rows, return_inverse=True)
    col_ids, c = np.unique(cols, return_inverse=True)
    if row_ids.size == rows.size and col_ids.size == cols.size:
        return np.arange(rows.size)  # no object has two candidates: nothing to choose
    n_r = row_ids.size
    graph = coo_matrix((np.ones(rows.size), (r, c + n_r)), shape=(n_r + col_ids.size,) * 2)
    _, component = connected_components(graph, directed=False)
    edge_component = component[r]
    order = np.argsort(edge_component, kind="stable")
    bounds = np.flatnonzero(np.diff(edge_component[order])) + 1
    chosen = []
    for group in np.split(order, bounds):
        if group.size == 1:
            chosen.append(group)
            continue
        g_rows, gr = np.unique(r[group], return_inverse=True)
        g_cols, gc = np.unique(c[group], return_inverse=True)
        k = min(g_rows.size, g_cols.size)
        # each pair is worth 1 plus a bonus whose total stays below 1/2, so the count
        # of pairs comes first and the weights only break ties between maximal matchings
        cost = np.zeros((g_rows.size, g_cols.size))
        cost[gr, gc] = -1.0 - weights[group] / (2.0 * k)
        edge = np.full(cost.shape, -1, dtype=np.int64)
        edge[gr, gc] = group
        i, j = linear_sum_assignment(cost)
        picked = edge[i, j]
        chosen.append(picked[picked >= 0])
    return np.sort(np.concatenate(chosen))


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


# --------------------------------------------------------------------------- points


def _as_points(points, name: str, ndim: int | None) -> np.ndarray:
    points = np.asarray(points)
    if points.size == 0:  # [], shape (0,), (0, D): an empty set, of the other set's dimension
        return np.zeros((0, ndim if ndim is not None else (points.shape[-1] if points.ndim == 2 else 0)))
    if points.ndim != 2:
        raise InputError(f"{name} must be an (M, D) array of point coordinates, got shape {points.shape}")
    if not (np.issubdtype(points.dtype, np.integer) or np.issubdtype(points.dtype, np.floating)):
        raise InputError(f"{name} must hold real coordinates, got dtype {points.dtype}")
    points = points.astype(np.float64)
    if not np.all(np.isfinite(points)):
        raise InputError(f"{name} contains NaN or infinite coordinates")
    return points


def match_points(true: np.ndarray, pred: np.ndarray, *, radius: float) -> PointMatch:
    """Match two point sets one-to-one within a radius (detection scoring).

    Parameters
    ----------
    true, pred : array_like, shape (M, D) and (N, D)
        Reference and detected point coordinates, in the same coordinate system and
        units (e.g. pixels, (row, col) or (plane, row, col)). An empty set may be given
        as ``[]`` or an array of shape (0, D).
    radius : float
        Largest distance (inclusive, same units) at which two points may be paired.

    Returns
    -------
    PointMatch
        tp, fp, fn, precision, recall, f1, mean distance and the matched index pairs.
        The pairing is one-to-one, with as many pairs as possible and, among those,
        the smallest total distance (Hungarian matching on the candidate pairs found
        with a k-d tree). With both sets empty, precision, recall and f1 are 1.0.

    Raises
    ------
    napari_gan.InputError
        If the radius is not a positive finite number, a coordinate is not finite, or
        the two sets have a different number of dimensions.
    """
    radius = float(radius)
    if not math.isfinite(radius) or radius <= 0:
        raise InputError(f"radius must be a positive finite distance, got {radius}")
    true_a, pred_a = np.asarray(true), np.asarray(pred)
    true_dim = true_a.shape[1] if true_a.ndim == 2 and true_a.size else None
    pred_dim = pred_a.shape[1] if pred_a.ndim == 2 and pred_a.size else None
    true = _as_points(true_a, "true", pred_dim)
    pred = _as_points(pred_a, "pred", true_dim)
    if true.shape[1] != pred.shape[1] and true.size and pred.size:
        raise InputError(
            f"point sets differ in dimension: true has {true.shape[1]} coordinates per point, pred {pred.shape[1]}"
        )
    n_true, n_pred = len(true), len(pred)
    rows = cols = np.zeros(0, dtype=np.int64)
    distances = np.zeros(0)
    if n_true and n_pred:
        close = cKDTree(true).sparse_distance_matrix(cKDTree(pred), radius, output_type="ndarray")
        rows, cols, distances = close["i"].astype(np.int64), close["j"].astype(np.int64), close["v"]
    picked = _best_matching(rows, cols, 1.0 - distances / radius)
    pairs = np.stack([rows[picked], cols[picked]], axis=1) if picked.size else np.zeros((0, 2), dtype=np.int64)
    pairs = pairs[np.argsort(pairs[:, 0], kind="stable")]
    tp = int(picked.size)
    empty = n_true == 0 and n_pred == 0
    return PointMatch(
        radius=radius,
        tp=tp,
        fp=n_pred - tp,
        fn=n_true - tp,
        n_true=n_true,
        n_pred=n_pred,
        precision=_ratio(tp, n_pred, both_empty=empty),
        recall=_ratio(tp, n_true, both_empty=empty),
        f1=_ratio(2 * tp, n_true + n_pred, both_empty=empty),
        mean_distance=float(distances[picked].mean()) if tp else math.nan,
        pairs=pairs,
    )


# --------------------------------------------------------------------------- classification


@dataclass(frozen=True)
class ClassificationReport:
    """What :func:`classification_report` returns.

    Attributes
    ----------
    classes : tuple of str
        Class names, in the order of the confusion matrix's rows and columns.
    accuracy : float
        Fraction of items whose predicted class is the true one.
    precision, recall, f1 : dict of str -> float
        Per class (0.0 where the denominator is 0).
    support : dict of str -> int
        Number of items of each true class.
    confusion : ndarray of int64, shape (K, K)
        ``confusion[i, j]``: items of true class ``classes[i]`` predicted as ``classes[j]``.
    """

    classes: tuple[str, ...]
    accuracy: float
    precision: dict[str, float]
    recall: dict[str, float]
    f1: dict[str, float]
    support: dict[str, int]
    confusion: np.ndarray = field(repr=False)

    @property
    def n(self) -> int:
        return int(self.confusion.sum())

    @property
    def macro_f1(self) -> float:
        return float(np.mean([self.f1[c] for c in self.classes])) if self.classes else 0.0

    def to_dict(self) -> dict:
        """JSON-ready: the confusion matrix as nested lists."""
        out = asdict(self)
        out["confusion"] = self.confusion.tolist()
        out["classes"] = list(self.classes)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> ClassificationReport:
        return cls(
            classes=tuple(d["classes"]),
            accuracy=float(d["accuracy"]),
            precision={k: float(v) for k, v in d["precision"].items()},
            recall={k: float(v) for k, v in d["recall"].items()},
            f1={k: float(v) for k, v in d["f1"].items()},
            support={k: int(v) for k, v in d["support"].items()},
            confusion=np.asarray(d["confusion"], dtype=np.int64).reshape(len(d["classes"]), len(d["classes"])),
        )

    def as_text(self) -> str:
        """A plain-text table: accuracy, per-class precision/recall/F1/support, confusion matrix."""
        width = max([len(c) for c in self.classes] + [5])
        lines = [f"accuracy {self.accuracy:.3f} on {self.n} items", ""]
        lines.append(f"{'class':<{width}}  precision  recall    F1  support")
        for c in self.classes:
            lines.append(
                f"{c:<{width}}  {self.precision[c]:9.3f}  {self.recall[c]:6.3f}  {self.f1[c]:.3f}  {self.support[c]:7d}"
            )
        lines += ["", "confusion (rows: true, columns: predicted)"]
        cell = max([len(str(int(self.confusion.max(initial=0))))] + [min(len(c), 8) for c in self.classes])
        lines.append(" " * width + "  " + " ".join(f"{c[:8]:>{cell}}" for c in self.classes))
        for c, row in zip(self.classes, self.confusion):
            lines.append(f"{c:<{width}}  " + " ".join(f"{int(v):>{cell}d}" for v in row))
        return "\n".join(lines)


def classification_report(true, pred, *, classes=None) -> ClassificationReport:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix.

    Parameters
    ----------
    true, pred : sequence of class names (or any hashable labels), same length
        The true and predicted class of each item.
    classes : sequence, optional
        The classes and their order (default: sorted union of ``true`` and ``pred``).
        Classes listed here but absent from both still get a row (all zeros).

    Returns
    -------
    ClassificationReport
    """
    true = [str(t) for t in np.asarray(true, dtype=object).reshape(-1)]
    pred = [str(p) for p in np.asarray(pred, dtype=object).reshape(-1)]
    if len(true) != len(pred):
        raise InputError(f"true has {len(true)} items but pred has {len(pred)}")
    if classes is None:
        classes = sorted(set(true) | set(pred))
    classes = tuple(str(c) for c in classes)
    if len(set(classes)) != len(classes):
        raise InputError(f"classes repeat a name: {classes}")
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted((set(true) | set(pred)) - set(index))
    if unknown:
        raise InputError(f"labels {unknown} are not among classes {list(classes)}")
    k = len(classes)
    confusion = np.zeros((k, k), dtype=np.int64)
    if true:
        np.add.at(confusion, ([index[t] for t in true], [index[p] for p in pred]), 1)
    tp = np.diag(confusion).astype(np.float64)
    n_true, n_pred = confusion.sum(1), confusion.sum(0)
    precision = {c: _ratio(tp[i], n_pred[i], both_empty=False) for i, c in enumerate(classes)}
    recall = {c: _ratio(tp[i], n_true[i], both_empty=False) for i, c in enumerate(classes)}
    f1 = {c: _ratio(2 * tp[i], n_true[i] + n_pred[i], both_empty=False) for i, c in enumerate(classes)}
    return ClassificationReport(
        classes=classes,
        accuracy=_ratio(tp.sum(), len(true), both_empty=False),
        precision=precision,
        recall=recall,
        f1=f1,
        support={c: int(n_true[i]) for i, c in enumerate(classes)},
        confusion=confusion,
    )


# --------------------------------------------------------------------------- generative models
# Patch statistics of generated images against real ones (ImageGAN): sliced Wasserstein
# distance of Laplacian-pyramid neighbourhoods (Karras et al., ProGAN, 2018), the
# real-vs-real floor it should be compared with, a memorisation check and diversity.

__all__ += [
    "diversity",
    "lattice_strength",
    "memorisation_distance",
    "sliced_wasserstein",
    "sliced_wasserstein_floor",
    "split_halves",
]

_BINOMIAL = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _image_set(images, name: str, channel_axis: int | None) -> list[np.ndarray]:
    """Images -> list of float64 (Y, X, C) arrays.

    A 2D array is one image; 3D is a stack (N, Y, X) (or one (Y, X, C) image when
    ``channel_axis`` is given); 4D a stack with channels; a list holds 2D images (or
    3D with ``channel_axis``) of any sizes.
    """
    if isinstance(images, (list, tuple)):
        items = [np.asarray(a) for a in images]
    else:
        arr = np.asarray(images)
        per_image = 2 if channel_axis is None else 3
        if arr.ndim == per_image:
            items = [arr]
        elif arr.ndim == per_image + 1:
            items = list(arr)
        else:
            raise InputError(
                f"{name} of shape {arr.shape}: expected {'(Y, X) or (N, Y, X)' if channel_axis is None else ''}"
                f"{'(Y, X, C) or (N, Y, X, C)' if channel_axis is not None else ''}"
            )
    if not items:
        raise InputError(f"{name} is empty")
    out = []
    for a in items:
        if a.dtype.kind not in "uif":
            raise InputError(f"{name} has unsupported dtype {a.dtype}")
        a = a.astype(np.float64)
        if channel_axis is not None:
            a = np.moveaxis(a, channel_axis, -1)
        elif a.ndim == 2:
            a = a[..., None]
        if a.ndim != 3:
            raise InputError(f"{name}: every image must be 2D (with channel_axis: 2D + channels), got {a.shape}")
        if not np.isfinite(a).all():
            raise InputError(f"{name} contains NaN or infinite values")
        out.append(a)
    if len({a.shape[-1] for a in out}) > 1:
        raise InputError(f"{name}: images have different numbers of channels")
    return out


def split_halves(images, *, channel_axis: int | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Two disjoint halves of real data, for real-vs-real reference values.

    Several images: the even-indexed and the odd-indexed ones. One image: its two
    halves along the longer axis. Returns lists of (Y, X, C) float64 images.
    """
    items = _image_set(images, "images", channel_axis)
    if len(items) >= 2:
        return items[0::2], items[1::2]
    a = items[0]
    axis = 0 if a.shape[0] >= a.shape[1] else 1
    h = a.shape[axis] // 2
    return [a[:h] if axis == 0 else a[:, :h]], [a[h : 2 * h] if axis == 0 else a[:, h : 2 * h]]


def _blur(a: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    a = ndi.convolve1d(a, _BINOMIAL, axis=0, mode="reflect")
    return ndi.convolve1d(a, _BINOMIAL, axis=1, mode="reflect")


def _laplacian_pyramid(a: np.ndarray, levels: int) -> list[np.ndarray]:
    """Finest first; the last level is the coarsest Gaussian level."""
    out = []
    g = a
    for _ in range(levels - 1):
        small = _blur(g)[::2, ::2]
        up = np.repeat(np.repeat(small, 2, 0), 2, 1)[: g.shape[0], : g.shape[1]]
        out.append(g - _blur(up))
        g = small
    out.append(g)
    return out


def _n_levels(items: list[np.ndarray], min_size: int) -> int:
    side = min(min(a.shape[:2]) for a in items)
    return max(1, int(math.floor(math.log2(side / min_size))) + 1) if side >= min_size else 1


def _descriptors(pyramids, level: int, n: int, patch: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random patch x patch neighbourhoods of one pyramid level, normalised
    per channel (zero mean, unit std over the set, as ProGAN does)."""
    out = []
    which = rng.integers(len(pyramids), size=n)
    for i in range(len(pyramids)):
        k = int((which == i).sum())
        if k == 0:
            continue
        img = pyramids[i][level]
        if min(img.shape[:2]) < patch:
            raise InputError(f"pyramid level {level} is {img.shape[:2]}, smaller than the {patch}-pixel patch")
        ys = rng.integers(img.shape[0] - patch + 1, size=k)
        xs = rng.integers(img.shape[1] - patch + 1, size=k)
        win = np.lib.stride_tricks.sliding_window_view(img, (patch, patch), axis=(0, 1))
        out.append(win[ys, xs])  # (k, C, patch, patch)
    d = np.concatenate(out)
    d = d - d.mean(axis=(0, 2, 3), keepdims=True)
    d = d / (d.std(axis=(0, 2, 3), keepdims=True) + 1e-12)
    return d.reshape(n, -1)


def sliced_wasserstein(
    images_a,
    images_b,
    *,
    n_descriptors: int = 8192,
    patch: int = 7,
    n_projections: int = 512,
    n_repeats: int = 4,
    levels: int | None = None,
    min_size: int = 16,
    channel_axis: int | None = None,
    seed: int = 0,
) -> dict:
    """Patch sliced Wasserstein distance between two image sets (ProGAN's SWD).

    Each image is split into a Laplacian pyramid (5-tap binomial filter, finest level
    first, down to ``min_size`` pixels); ``n_descriptors`` random ``patch x patch``
    neighbourhoods are drawn per level and set (from images chosen at random),
    normalised per channel within each set, and the two descriptor sets are compared
    by the sliced Wasserstein distance: the mean, over ``n_projections`` random
    directions (``n_repeats`` times), of the mean absolute difference of the sorted
    projections. Lower is closer; compare with :func:`sliced_wasserstein_floor`.

    Parameters
    ----------
    images_a, images_b : array-like
        (Y, X) one image, (N, Y, X) a stack, (N, Y, X, C) with ``channel_axis=-1``,
        or lists of 2D images of any sizes (at least ``min_size`` per side).
    levels : int, optional
        Pyramid levels; default: as many as the smallest image of either set allows.
    seed : int
        Descriptor positions and projection directions; the same seed gives the
        same value.

    Returns
    -------
    dict
        ``levels``: list of SWD x 1e3 per pyramid level (finest first; ProGAN's
        scale), ``mean``: their mean.
    """
    a = _image_set(images_a, "images_a", channel_axis)
    b = _image_set(images_b, "images_b", channel_axis)
    if a[0].shape[-1] != b[0].shape[-1]:
        raise InputError("images_a and images_b have different numbers of channels")
    if levels is None:
        levels = _n_levels(a + b, min_size)
    if levels < 1:
        raise InputError(f"levels must be >= 1, got {levels}")
    smallest = min(min(x.shape[:2]) for x in a + b)
    if smallest // 2 ** (levels - 1) < patch:
        raise InputError(
            f"the smallest image ({smallest} px) is too small for {levels} pyramid levels of {patch}x{patch} patches"
        )
    rng = np.random.default_rng(seed)
    pa = [_laplacian_pyramid(x, levels) for x in a]
    pb = [_laplacian_pyramid(x, levels) for x in b]
    dim = patch * patch * a[0].shape[-1]
    per_level = []
    for level in range(levels):
        da = _descriptors(pa, level, n_descriptors, patch, rng)
        db = _descriptors(pb, level, n_descriptors, patch, rng)
        total = 0.0
        for _ in range(n_repeats):
            dirs = rng.standard_normal((dim, n_projections))
            dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
            proj_a = np.sort(da @ dirs, axis=0)
            proj_b = np.sort(db @ dirs, axis=0)
            total += float(np.abs(proj_a - proj_b).mean())
        per_level.append(total / n_repeats * 1e3)
    return {"levels": per_level, "mean": float(np.mean(per_level))}


def sliced_wasserstein_floor(images, *, channel_axis: int | None = None, **options) -> dict:
    """The real-vs-real floor of :func:`sliced_wasserstein`: the SWD between two
    disjoint halves of the real data (see :func:`split_halves`), with the same
    options. A generator whose SWD to the real data is near this value produces patch
    statistics as close to the data as the data is to itself."""
    first, second = split_halves(images, channel_axis=channel_axis)
    return sliced_wasserstein(first, second, channel_axis=-1, **options)


def _patches(items: list[np.ndarray], patch: int, stride: int, floor: float) -> np.ndarray:
    """All patches (every ``stride`` pixels), each with its own mean removed and scaled
    to unit RMS (RMS at least ``floor``): distances then compare structure, and a flat
    patch (a blurry generator's) is not "close" to every flat region of the data."""
    out = []
    for a in items:
        if min(a.shape[:2]) < patch:
            raise InputError(f"an image of {a.shape[:2]} is smaller than the {patch}-pixel patch")
        win = np.lib.stride_tricks.sliding_window_view(a, (patch, patch), axis=(0, 1))[::stride, ::stride]
        out.append(win.reshape(-1, win[0, 0].size).astype(np.float32))
    return _unit_patches(np.concatenate(out), floor)


def _unit_patches(p: np.ndarray, floor: float) -> np.ndarray:
    p -= p.mean(1, keepdims=True)
    p /= np.maximum(np.sqrt((p**2).mean(1, keepdims=True)), floor)
    return p


def _sample_patches(items: list[np.ndarray], patch: int, k: int, floor: float, rng) -> np.ndarray:
    """``k`` distinct random patches of ``items`` (the ones ``_patches(items, patch, 1)``
    would list at the drawn rows), normalised like :func:`_patches`, without building
    every patch first."""
    for a in items:
        if min(a.shape[:2]) < patch:
            raise InputError(f"an image of {a.shape[:2]} is smaller than the {patch}-pixel patch")
    widths = [a.shape[1] - patch + 1 for a in items]
    counts = np.array([(a.shape[0] - patch + 1) * w for a, w in zip(items, widths)])
    starts = np.concatenate([[0], np.cumsum(counts)])
    rows = rng.choice(int(starts[-1]), size=min(k, int(starts[-1])), replace=False)
    out = []
    for r in rows:
        i = int(np.searchsorted(starts, r, side="right") - 1)
        y, x = divmod(int(r - starts[i]), widths[i])
        out.append(np.moveaxis(items[i][y : y + patch, x : x + patch], -1, 0).reshape(-1))
    return _unit_patches(np.array(out, dtype=np.float32), floor)


def _nearest(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """RMS (per pixel) distance of each query to its nearest candidate."""
    import torch

    c = torch.from_numpy(candidates.astype(np.float32))
    out = []
    for i in range(0, len(queries), 256):
        q = torch.from_numpy(queries[i : i + 256].astype(np.float32))
        out.append(torch.cdist(q, c).min(1).values.numpy())
    return np.concatenate(out) / math.sqrt(queries.shape[1])


def memorisation_distance(
    generated,
    training,
    *,
    patch: int = 16,
    stride: int = 1,
    n_patches: int = 1000,
    channel_axis: int | None = None,
    seed: int = 0,
) -> dict:
    """Does a generator copy its training data? Nearest-neighbour distances of
    generated patches to the training patches, against real-to-real ones.

    ``n_patches`` random ``patch x patch`` patches of the generated images are each
    matched to their nearest training patch (all positions, every ``stride``
    pixels), by RMS distance after removing each patch's mean and scaling it to unit
    RMS (so the distance measures structure: 0 for a copy, about 1.4 for unrelated
    patches).
    The reference is the same distance from patches of one half of the training data
    to the other half (:func:`split_halves`): a fresh sample of the same process. A
    generator that copies gives much smaller distances than the reference.

    Returns
    -------
    dict
        ``generated``: median NN distance of generated patches; ``real``: median
        NN distance of real patches to the other half; ``ratio``: generated / real
        (near or above 1: no copying; the generated side searches twice as many
        candidates, so slightly below 1 is expected too; far below 1: copies);
        ``copied_fraction``: share of generated patches closer to the training data
        than 99% of real patches are to the other half (about 0.01 without copying).
    """
    gen = _image_set(generated, "generated", channel_axis)
    train = _image_set(training, "training", channel_axis)
    mean = float(np.mean([a.mean() for a in train]))
    std = float(np.sqrt(np.mean([((a - mean) ** 2).mean() for a in train]))) or 1.0
    gen = [(a - mean) / std for a in gen]
    train = [(a - mean) / std for a in train]
    first, second = split_halves(train, channel_axis=-1)
    rng = np.random.default_rng(seed)
    floor = 0.05  # in units of the data's standard deviation

    d_gen = _nearest(_sample_patches(gen, patch, n_patches, floor, rng), _patches(train, patch, stride, floor))
    d_real = _nearest(_sample_patches(first, patch, n_patches, floor, rng), _patches(second, patch, stride, floor))
    threshold = float(np.percentile(d_real, 1))
    return {
        "generated": float(np.median(d_gen)),
        "real": float(np.median(d_real)),
        "ratio": float(np.median(d_gen) / max(np.median(d_real), 1e-12)),
        "copied_fraction": float((d_gen < threshold).mean()),
    }


def diversity(samples, *, channel_axis: int | None = None) -> float:
    """How different generated images are from each other: the mean pairwise RMS
    distance between samples divided by ``sqrt(2)`` times their pixel standard
    deviation. About 1 for independent images, 0 when every sample is the same
    (mode collapse). Compare with the same value of real images.

    Parameters
    ----------
    samples : array-like, (N, Y, X) or (N, Y, X, C) with ``channel_axis=-1``; N >= 2
    """
    items = _image_set(samples, "samples", channel_axis)
    if len(items) < 2:
        raise InputError("diversity needs at least 2 samples")
    if len({a.shape for a in items}) > 1:
        raise InputError("diversity needs samples of one shape")
    x = np.stack(items).reshape(len(items), -1)
    std = x.std()
    if std == 0:
        return 0.0
    sq = (x**2).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0) / x.shape[1]
    iu = np.triu_indices(len(items), 1)
    return float(np.sqrt(d2[iu]).mean() / (math.sqrt(2) * std))


def lattice_strength(images, period: int, *, channel_axis: int | None = None) -> float:
    """How strongly images repeat with a given period (in pixels): a generator's
    lattice artefact, e.g. the 8 px of a texture generator that upsamples its noise
    three times.

    For every harmonic of the period (1 / period, 2 / period, ... cycles per pixel up
    to Nyquist) along Y, X and both diagonals, the amplitude of the Hann-windowed
    image's spectrum at that frequency over the median amplitude around it (2 to 4
    frequency bins away); the largest of these ratios, averaged over the images.
    About 1-3 for images without such a lattice (the spread of spectral noise),
    several times more with one. Compare with the value of the real data.

    Parameters
    ----------
    images : array-like, (Y, X), (N, Y, X) or a list of 2D images (any sizes);
        with ``channel_axis``, the channels are averaged first. Each at least
        ``4 * period`` pixels per side.
    period : int >= 2
    """
    if isinstance(period, bool) or not isinstance(period, (int, np.integer)) or period < 2:
        raise InputError(f"period must be an integer >= 2, got {period!r}")
    items = _image_set(images, "images", channel_axis)
    ys, xs = np.meshgrid(np.arange(-4, 5), np.arange(-4, 5), indexing="ij")
    ring = np.maximum(np.abs(ys), np.abs(xs)) >= 2
    ys, xs = ys[ring], xs[ring]  # the bins 2 to 4 away from a frequency
    scores = []
    for a in items:
        a = a.mean(-1)
        h, w = a.shape
        if min(h, w) < 4 * period:
            raise InputError(f"images of {a.shape} are too small for period {period}: need {4 * period} px per side")
        win = np.hanning(h)[:, None] * np.hanning(w)[None, :]
        amp = np.abs(np.fft.fft2((a - a.mean()) * win))
        best = 0.0
        for k in range(1, period // 2 + 1):
            for dy, dx in ((1, 0), (0, 1), (1, 1), (1, -1)):
                cy, cx = round(dy * k * h / period), round(dx * k * w / period)
                around = amp[(cy + ys) % h, (cx + xs) % w]
                best = max(best, amp[cy % h, cx % w] / max(float(np.median(around)), 1e-12))
        scores.append(best)
    return float(np.mean(scores))
