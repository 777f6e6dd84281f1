"""Detection scoring: two point sets matched one-to-one within a radius (see
:mod:`napari_gan.core.metrics` for the matching rules)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from ..errors import InputError
from ._common import _best_matching, _ratio

__all__ = ["PointMatch", "match_points"]


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
