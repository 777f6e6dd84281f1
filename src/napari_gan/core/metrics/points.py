"""Detection scoring: two point sets matched one-to-one within a radius, and
keypoints of several named kinds matched kind by kind (see
:mod:`napari_gan.core.metrics` for the matching rules)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from ..errors import InputError
from ._common import _best_matching, _ratio

__all__ = ["KeypointMatch", "PointMatch", "match_keypoints", "match_points"]


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


def _radius(radius) -> float:
    radius = float(radius)
    if not math.isfinite(radius) or radius <= 0:
        raise InputError(f"radius must be a positive finite distance, got {radius}")
    return radius


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
    radius = _radius(radius)
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


# --------------------------------------------------------------------------- keypoints


@dataclass(frozen=True, eq=False)
class KeypointMatch(Mapping):
    """Agreement of two sets of keypoints of several kinds, matched kind by kind.

    A read-only mapping ``kind -> PointMatch`` (``result["pole"].f1``, ``for kind in
    result``, ``dict(result)``), plus the micro-averaged result over all kinds.

    Attributes
    ----------
    radius : float
        Largest distance (inclusive) at which a reference and a predicted point may match.
    kinds : dict of kind to PointMatch
        One record per kind found on either side, in order of first appearance (the
        reference's kinds, then those only the prediction has). Its ``pairs`` index the
        points of that kind on each side, in the order given: for the columns form the
        ``i``-th row whose kind is that kind.
    overall : PointMatch
        Micro average: tp, fp, fn, n_true and n_pred summed over the kinds, precision,
        recall and f1 computed from the sums, mean distance over all matched pairs. Its
        ``pairs`` index the rows of the columns form of ``true`` and ``pred`` (a mapping
        counts as its arrays stacked in its order).
    """

    radius: float
    kinds: dict[Hashable, PointMatch] = field(repr=False)
    overall: PointMatch

    def __getitem__(self, kind: Hashable) -> PointMatch:
        return self.kinds[kind]

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self.kinds)

    def __len__(self) -> int:
        return len(self.kinds)

    def __repr__(self) -> str:
        scores = ", ".join(f"{kind!r}: f1={m.f1:.3f}" for kind, m in self.kinds.items())
        return f"KeypointMatch(radius={self.radius}, overall f1={self.overall.f1:.3f}, {{{scores}}})"


def _kind_value(value, name: str, row: int) -> Hashable:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise InputError(f"{name}: the kind of row {row} is missing")
    try:
        hash(value)
    except TypeError:
        raise InputError(f"{name}: the kind of row {row} is a {type(value).__name__}, not a name") from None
    return value


def _keypoint_sets(points, name: str) -> dict[Hashable, tuple[np.ndarray, np.ndarray]]:
    """``kind -> (coordinates, rows)``: each kind's points and their rows in the columns form."""
    if not isinstance(points, Mapping):
        raise InputError(
            f"{name} must be a mapping kind -> (M, D) points, or a dict of columns with keys "
            f"'points' and 'kind'; got {type(points).__name__}"
        )
    if "points" in points and "kind" in points:
        coords = _as_points(points["points"], f"{name}['points']", None)
        kinds = np.asarray(points["kind"], dtype=object)
        if kinds.ndim != 1 or len(kinds) != len(coords):
            raise InputError(
                f"{name}['kind'] must hold one kind per point: {len(coords)} points but 'kind' has shape {kinds.shape}"
            )
        rows: dict[Hashable, list[int]] = {}
        for row, value in enumerate(kinds.tolist()):
            rows.setdefault(_kind_value(value, f"{name}['kind']", row), []).append(row)
        return {kind: (coords[idx], np.asarray(idx, dtype=np.int64)) for kind, idx in rows.items()}
    sets = {}
    offset = 0
    for kind, coords in points.items():
        kind = kind.item() if isinstance(kind, np.generic) else kind
        coords = _as_points(coords, f"{name}[{kind!r}]", None)
        sets[kind] = (coords, np.arange(offset, offset + len(coords), dtype=np.int64))
        offset += len(coords)
    return sets


def match_keypoints(true, pred, *, radius: float) -> KeypointMatch:
    """Match keypoints of several kinds one-to-one within a radius, each kind on its own.

    Parameters
    ----------
    true, pred : mapping or dict of columns
        Reference and detected keypoints, each in either form:

        * a mapping ``kind -> (M, D) array`` of coordinates, e.g.
          ``{"pole": poles, "tip": tips}`` (what ``KeypointDetector.fit`` takes);
        * a dict of columns ``{"points": (K, D) array, "kind": (K,) array}`` (what
          ``KeypointDetector.predict`` returns); other columns such as ``"score"`` are
          ignored: threshold the detections before scoring them.

        Coordinates are in the same system and units on both sides (e.g. pixels,
        (row, col) or (plane, row, col)); every kind has the same D. Kinds are names or
        numbers, compared by equality (``1`` and ``"1"`` are two kinds).
    radius : float
        Largest distance (inclusive, same units) at which two points of the same kind
        may be paired.

    Returns
    -------
    KeypointMatch
        A mapping ``kind -> PointMatch`` over the union of both sides' kinds (a kind
        missing on one side is an empty set there: all its points are missed, or all
        false positives), and ``.overall``, the micro average over all kinds. Each kind
        is matched as by :func:`match_points`; a point never matches a point of another
        kind. With no point on either side, every score is 1.0.

    Raises
    ------
    napari_gan.InputError
        If the radius is not a positive finite number, an input is neither form, a
        coordinate is not finite, the kinds and points differ in length, a kind is
        missing, or the point sets do not all have the same number of dimensions.

    Examples
    --------
    >>> true = {"pole": [[10, 10], [30, 30]], "tip": [[50, 50]]}
    >>> pred = {"points": np.array([[11, 10], [50, 52]]), "kind": np.array(["pole", "tip"])}
    >>> result = match_keypoints(true, pred, radius=3)
    >>> result["pole"].recall, result["tip"].f1, result.overall.f1
    (0.5, 1.0, 0.8)
    """
    radius = _radius(radius)
    true_sets = _keypoint_sets(true, "true")
    pred_sets = _keypoint_sets(pred, "pred")
    dims = {c.shape[1] for c, _ in (*true_sets.values(), *pred_sets.values()) if len(c)}
    if len(dims) > 1:
        raise InputError(f"keypoints differ in dimension: found {sorted(dims)} coordinates per point")
    dim = dims.pop() if dims else 0
    none = (np.zeros((0, dim)), np.zeros(0, dtype=np.int64))
    kinds: dict[Hashable, PointMatch] = {}
    pairs, distance_sum = [], 0.0
    for kind in (*true_sets, *(k for k in pred_sets if k not in true_sets)):
        (t, t_rows), (p, p_rows) = true_sets.get(kind, none), pred_sets.get(kind, none)
        match = match_points(t, p, radius=radius)
        kinds[kind] = match
        pairs.append(np.stack([t_rows[match.pairs[:, 0]], p_rows[match.pairs[:, 1]]], axis=1))
        if match.tp:
            distance_sum += match.mean_distance * match.tp
    tp = sum(m.tp for m in kinds.values())
    n_true = sum(m.n_true for m in kinds.values())
    n_pred = sum(m.n_pred for m in kinds.values())
    all_pairs = np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)
    empty = n_true == 0 and n_pred == 0
    overall = PointMatch(
        radius=radius,
        tp=tp,
        fp=n_pred - tp,
        fn=n_true - tp,
        n_true=n_true,
        n_pred=n_pred,
        precision=_ratio(tp, n_pred, both_empty=empty),
        recall=_ratio(tp, n_true, both_empty=empty),
        f1=_ratio(2 * tp, n_true + n_pred, both_empty=empty),
        mean_distance=distance_sum / tp if tp else math.nan,
        pairs=all_pairs[np.argsort(all_pairs[:, 0], kind="stable")],
    )
    return KeypointMatch(radius=radius, kinds=kinds, overall=overall)
