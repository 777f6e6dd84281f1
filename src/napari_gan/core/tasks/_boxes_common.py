"""Boxes as arrays for :mod:`.boxes`: input checks, training targets, augmentation and
loss, IoU, non-maximum suppression, decoding of the network's maps and matching
against true boxes.

A box is a (2, D) array: row 0 its min corner, row 1 its max corner (exclusive), in
pixel coordinates of the image's spatial axes, as skimage's regionprops ``bbox``.
The box ``[2, 5)`` covers pixels 2, 3 and 4: its centre is pixel 3, its extent 3.
"""

from __future__ import annotations

import itertools
from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from ..data import read_array
from ..errors import InputError
from ..metrics.boxes import _iou_matrix as box_iou  # checked input: no validation per call
from ..metrics.boxes import _pair_iou
from .detect import find_peaks

#: boxes may stick out of the image by this much (pixels): a rectangle drawn by hand
#: along an object at the image's edge often does
EDGE_TOLERANCE = 0.5


def prepare_boxes(boxes, spatial: tuple[int, ...], *, name: str = "boxes") -> np.ndarray:
    """Validate (M, 2, D) boxes for an image of spatial shape ``spatial``; float64,
    clipped to the image (by at most :data:`EDGE_TOLERANCE`)."""
    d = len(spatial)
    if boxes is None:
        raise InputError(f"{name} is None: give the (M, 2, {d}) min and max corners of the objects")
    arr = read_array(boxes, name=name)
    if arr.dtype.kind not in "uif":
        raise InputError(f"{name} have unsupported dtype {arr.dtype}; give integer or floating-point corners")
    if arr.size == 0:
        raise InputError(f"no {name} given: draw at least a few boxes around objects")
    if arr.ndim != 3 or arr.shape[1] != 2:
        raise InputError(
            f"{name} must have shape (M, 2, {d}): the min corner then the max corner of each box, got {arr.shape}"
        )
    if arr.shape[2] != d:
        raise InputError(
            f"{name} are {arr.shape[2]}D (shape {arr.shape}) but the image has {d} spatial axes {spatial}; "
            f"give (M, 2, {d}) corners"
        )
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).any(axis=(1, 2)).sum())
        raise InputError(f"{bad} of {len(arr)} {name} have NaN or infinite corners")
    flipped = (arr[:, 0] >= arr[:, 1]).any(axis=1)
    if flipped.any():
        i = int(np.argmax(flipped))
        raise InputError(
            f"{int(flipped.sum())} of {len(arr)} {name} have a min corner that is not below their max corner "
            f"(e.g. box {i}: min {arr[i, 0].tolist()}, max {arr[i, 1].tolist()}); row 0 is the min corner, "
            "row 1 the max corner (exclusive), and every box needs a positive extent"
        )
    size = np.asarray(spatial, dtype=np.float64)
    outside = ((arr[:, 0] < -EDGE_TOLERANCE) | (arr[:, 1] > size + EDGE_TOLERANCE)).any(axis=1)
    if outside.any():
        i = int(np.argmax(outside))
        raise InputError(
            f"{int(outside.sum())} of {len(arr)} {name} lie (partly) outside the image of spatial shape {spatial} "
            f"(e.g. box {i}: {arr[i].tolist()}); delete or shrink them, or check that the boxes and the image "
            "share the same coordinates"
        )
    return np.clip(arr, 0, size)


def prepare_classes(classes, m: int, *, name: str = "classes") -> np.ndarray:
    """``None`` (one class, "object") or M names (str) or integers -> (M,) str array."""
    if classes is None:
        return np.full(m, "object")
    if isinstance(classes, str):
        raise InputError(f"{name} is one string; give one class name per box ({m} boxes)")
    values = list(classes.tolist() if isinstance(classes, np.ndarray) else classes)
    if len(values) != m:
        raise InputError(f"{name} has {len(values)} entries but there are {m} boxes: give one class per box")
    ints = [isinstance(v, Integral) and not isinstance(v, bool) for v in values]
    strs = [isinstance(v, str) for v in values]
    if not all(i or s for i, s in zip(ints, strs)):
        bad = next(v for v, i, s in zip(values, ints, strs) if not (i or s))
        raise InputError(f"{name} must be class names (str) or integers, got {type(bad).__name__} {bad!r}")
    if any(ints) and any(strs):
        raise InputError(f"{name} mix strings and integers; use one or the other")
    if any(s and not v for v, s in zip(values, strs)):
        raise InputError(f"{name} contain an empty class name")
    return np.array([str(v) for v in values], dtype=str)


def class_order(names: np.ndarray, class_names, known: list[str] | None) -> list[str]:
    """The classes, in the order of the heatmap channels; each must have a box."""
    if class_names is not None:
        if not isinstance(class_names, str):
            class_names = list(class_names.tolist() if isinstance(class_names, np.ndarray) else class_names)
        order = prepare_classes(class_names, len(class_names), name="class_names").tolist()
        if len(set(order)) != len(order):
            raise InputError(f"class_names repeat a name: {order}")
    elif known is not None:
        order = list(known)
    else:
        present = set(names.tolist())
        try:  # integer classes in numeric order
            order = sorted(present, key=int)
        except ValueError:
            order = sorted(present)
    if known is not None:
        new = sorted(set(names.tolist()) - set(known))
        if order != list(known) or new:
            raise InputError(
                f"this BoxDetector was trained on the classes {known}; "
                f"{f'the boxes have new class(es) {new}' if new else f'class_names are {order}'}: "
                "create a new BoxDetector"
            )
    unknown = sorted(set(names.tolist()) - set(order))
    if unknown:
        raise InputError(f"boxes have the class(es) {unknown}, which are not among the classes {order}")
    empty = [c for c in order if c not in set(names.tolist())]
    if empty:
        raise InputError(
            f"the class(es) {empty} have no boxes: draw at least one box of each class "
            "(a class with no boxes would be learnt as absent everywhere)"
        )
    return order


def augment(xb: torch.Tensor, tb: torch.Tensor, rng: np.random.Generator, n_classes: int):
    """Random flips (every spatial axis) and rot90 (last two axes, square patches) of
    each image and its target; a quarter turn swaps the Y and X extent channels."""
    dims = xb.ndim - 2
    swap = list(range(tb.shape[1]))
    y, x = n_classes + dims - 2, n_classes + dims - 1
    swap[y], swap[x] = x, y
    xs, ts = [], []
    for xi, ti in zip(xb, tb):
        for axis in range(1, xi.ndim):
            if rng.random() < 0.5:
                xi, ti = xi.flip(axis), ti.flip(axis)
        if xi.shape[-1] == xi.shape[-2]:
            k = int(rng.integers(4))
            xi, ti = torch.rot90(xi, k, (-2, -1)), torch.rot90(ti, k, (-2, -1))
            if k % 2:
                ti = ti[swap]
        xs.append(xi)
        ts.append(ti)
    return torch.stack(xs), torch.stack(ts)


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss, per positive (centre) pixel."""
    pos = (target >= 1.0 - 1e-6).float()
    log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
    p = log_p.exp()
    pos_loss = -(pos * (1 - p) ** 2 * log_p).sum()
    neg_loss = -((1 - pos) * (1 - target) ** 4 * p**2 * log_not_p).sum()
    return (pos_loss + neg_loss) / pos.sum().clamp(min=1)


def centres_and_extents(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres in pixel-index coordinates and extents of (M, 2, D) boxes."""
    return (boxes[:, 0] + boxes[:, 1]) / 2 - 0.5, boxes[:, 1] - boxes[:, 0]


def box_targets(
    boxes: np.ndarray, class_index: np.ndarray, n_classes: int, spatial: tuple[int, ...], sigma: float
) -> np.ndarray:
    """(C + D + 1, *spatial) float32 training target for one image.

    Channels ``0..C-1``: per class, a Gaussian at each box centre with a width of
    ``sigma`` times the box's extent along each axis (at least 1 pixel), scaled to
    1 at the pixel nearest the centre (the focal loss's positives), max where they
    overlap. Channels ``C..C+D-1``: log extent of the box whose Gaussian is highest
    at that pixel; the last channel weighs the extent loss: that Gaussian's value
    where it exceeds 0.1 (extents are regressed only near centres), else 0.
    """
    d = len(spatial)
    out = np.zeros((n_classes + d + 1,) + tuple(spatial), np.float32)
    owner = np.zeros(spatial, np.float32)  # the highest Gaussian so far, any class
    centres, extents = centres_and_extents(boxes)
    shape = np.asarray(spatial)
    for c, e, k in zip(centres, extents, class_index):
        s = np.maximum(sigma * e, 1.0)
        lo = np.maximum(np.floor(c - 3 * s).astype(int), 0)
        hi = np.minimum(np.ceil(c + 3 * s).astype(int) + 1, shape)
        grids = np.meshgrid(*[np.arange(a, b) for a, b in zip(lo, hi)], indexing="ij", sparse=True)
        g = np.exp(-sum((x - ci) ** 2 / (2 * si**2) for x, ci, si in zip(grids, c, s)))
        nearest = np.clip(np.round(c).astype(int), lo, hi - 1) - lo
        g = (g / g[tuple(nearest)]).clip(max=1.0).astype(np.float32)
        window = tuple(slice(a, b) for a, b in zip(lo, hi))
        out[(k,) + window] = np.maximum(out[(k,) + window], g)
        mine = g > owner[window]
        owner[window][mine] = g[mine]
        for axis in range(d):
            out[(n_classes + axis,) + window][mine] = np.log(e[axis])
    out[-1] = np.where(owner > 0.1, owner, 0.0)
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, highest score first: a box is
    dropped when it overlaps a kept, higher-scoring box by IoU > ``iou`` (in (0, 1]).

    Whether a box is kept depends only on boxes that score higher, so the boxes kept
    above any score are the same whatever lower-scoring candidates there were.

    Only boxes that overlap are compared: two boxes overlap only if their centres are
    closer on every axis than the larger one's longest side, which a k-d tree finds,
    so many small boxes cost about linear time (an untrained model's tens of thousands
    of candidates took over a minute when every box was compared with every other).
    """
    from scipy.spatial import cKDTree

    n = len(boxes)
    order = np.argsort(-scores, kind="stable")
    if n < 2:
        return order.astype(np.int64)
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    centre = (boxes[:, 0] + boxes[:, 1]) / 2
    reach = (boxes[:, 1] - boxes[:, 0]).max(1)
    near = cKDTree(centre).query_ball_point(centre, reach, p=np.inf, return_sorted=False)
    i = np.repeat(np.arange(n), [len(v) for v in near])
    j = np.concatenate([np.asarray(v, np.int64) for v in near])
    first = rank[i] < rank[j]  # each pair once, as (higher score, lower score)
    hi, lo = np.where(first, i, j)[i != j], np.where(first, j, i)[i != j]
    pairs = np.unique(np.stack([rank[hi], rank[lo]], 1), axis=0)  # in ranks, sorted by the higher
    hi, lo = order[pairs[:, 0]], order[pairs[:, 1]]
    over = _pair_iou(boxes[hi], boxes[lo]) > iou
    hi_rank, lo = pairs[over, 0], lo[over]
    start = np.searchsorted(hi_rank, np.arange(n + 1))
    alive = np.ones(n, bool)
    keep = []
    for r, box in enumerate(order):
        if alive[box]:
            keep.append(box)
            alive[lo[start[r] : start[r + 1]]] = False
    return np.asarray(keep, dtype=np.int64)


def decode(
    maps: np.ndarray, n_classes: int, *, threshold: float, min_distance: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boxes from one image's (C + D, *spatial) maps: per class, the heatmap's peaks
    at or above ``threshold`` (refined to sub-pixel by their neighbourhood's centre
    of mass, :func:`.detect.find_peaks`), each with the extent read (interpolated)
    at its centre.

    Returns ``(boxes (K, 2, D) float64, class index (K,), score (K,) float64)``;
    the score is the heatmap's value at the peak.
    """
    spatial = maps.shape[1:]
    d = len(spatial)
    size = np.asarray(spatial, dtype=np.float64)
    found_boxes, found_class, found_score = [], [], []
    corners = np.array(list(itertools.product((np.floor, np.ceil), repeat=d)))
    for k in range(n_classes):
        heat = maps[k]
        centre = find_peaks(heat, threshold=threshold, min_distance=min_distance)
        if len(centre) == 0:
            continue
        # the refined centre lies less than a pixel from its integer peak, the maximum
        # of its neighbourhood: the largest of the pixels around the centre is the peak
        around = [[np.clip(f(centre[:, a]), 0, spatial[a] - 1).astype(int) for a, f in enumerate(c)] for c in corners]
        score = np.max([heat[tuple(pixel)] for pixel in around], axis=0).astype(np.float64)
        extent = np.exp(
            np.stack([ndi.map_coordinates(maps[n_classes + a], centre.T, order=1, mode="nearest") for a in range(d)], 1)
        )
        extent = np.clip(extent, 1.0, size)
        lo = np.clip(centre + 0.5 - extent / 2, 0, size)
        hi = np.clip(centre + 0.5 + extent / 2, 0, size)
        found_boxes.append(np.stack([lo, hi], 1))
        found_class.append(np.full(len(centre), k))
        found_score.append(score)
    if not found_boxes:
        return np.zeros((0, 2, d)), np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(found_boxes), np.concatenate(found_class), np.concatenate(found_score)


def suppress(
    boxes: np.ndarray, class_index: np.ndarray, scores: np.ndarray, *, iou: float, across_classes: bool
) -> np.ndarray:
    """Indices kept by :func:`nms` (per class unless ``across_classes``), by descending score."""
    if across_classes:
        keep = nms(boxes, scores, iou)
    else:
        keep = np.concatenate(
            [
                np.flatnonzero(class_index == k)[nms(boxes[class_index == k], scores[class_index == k], iou)]
                for k in np.unique(class_index)
            ]
            or [np.zeros(0, np.int64)]
        )
    return keep[np.argsort(-scores[keep], kind="stable")]


def match_f1(true_boxes, true_class, boxes, classes, *, iou: float = 0.5) -> float:
    """F1 of a one-to-one matching of predicted to true boxes of the same class with
    IoU >= ``iou`` (1.0 when both are empty)."""
    from scipy.optimize import linear_sum_assignment

    if len(true_boxes) == 0 and len(boxes) == 0:
        return 1.0
    tp = 0
    for k in np.unique(np.concatenate([true_class, classes])):
        a, b = true_boxes[true_class == k], boxes[classes == k]
        if len(a) == 0 or len(b) == 0:
            continue
        m = box_iou(a, b)
        r, c = linear_sum_assignment(-np.where(m >= iou, m, 0.0))
        tp += int((m[r, c] >= iou).sum())
    return 2 * tp / (len(true_boxes) + len(boxes))
