"""The Segmenter's instance representation: what each pixel of object masks becomes
for the network (background / interior / boundary and the distance to the object's
edge), and instance labels back from the network's maps (a watershed seeded at the
h-maxima of the predicted interior's distance transform, or at the predicted distance
map's peaks), with the scikit-image clean-up they share."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage as ndi
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from skimage import measure, morphology, segmentation
from skimage.feature import peak_local_max

#: pixels the loss ignores (outside an annotated region; unannotated in semantic mode)
IGNORE = -1
# instance targets: what each pixel is
BACKGROUND, INTERIOR, BOUNDARY = 0, 1, 2


def instance_targets(labels: np.ndarray, region: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel class (background / interior / boundary; IGNORE outside ``region``) and
    distance to the object's edge scaled to 1 at its centre, from (N, 1, *spatial) masks."""
    classes = np.zeros(labels.shape, dtype=np.int64)
    dist = np.zeros(labels.shape, dtype=np.float32)
    for n in range(labels.shape[0]):
        lab = labels[n, 0]
        edge = segmentation.find_boundaries(lab, mode="inner") & (lab > 0)
        classes[n, 0][lab > 0] = INTERIOR
        classes[n, 0][edge] = BOUNDARY
        for obj in measure.regionprops(lab):
            sl = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in obj.slice)
            inside = lab[sl] == obj.label
            d = ndi.distance_transform_edt(inside)
            top = d.max()
            if top > 0:
                dist[n, 0][sl][inside] = (d / top)[inside]
    if region is not None:
        classes[~region] = IGNORE
    return classes, dist


def _object_sizes(labels: np.ndarray) -> np.ndarray:
    counts = np.bincount(labels.reshape(-1))
    return counts[1:][counts[1:] > 0]


def _instance_activation(t: torch.Tensor) -> torch.Tensor:
    """Raw instance-net output -> background/interior/boundary probabilities + distance."""
    return torch.cat([torch.softmax(t[:, :3], 1), torch.sigmoid(t[:, 3:])], 1)


def split_instances(
    interior: np.ndarray,
    boundary: np.ndarray,
    distance: np.ndarray,
    *,
    min_size: int = 0,
    min_distance: int = 3,
    h: float | None = None,
    merge: float = 0.0,
) -> np.ndarray:
    """Instance labels from predicted interior/boundary probabilities and distance map.

    Foreground is where interior + boundary > 0.5. Seeds come one of two ways:

    * ``h`` given (pixels): from the shape of the predicted interior (pixels more
      interior than boundary). Its distance transform has one maximum per object
      wherever the predicted boundaries separate touching objects; every maximum
      rising at least ``h`` above the ridge that joins it to a higher one (an
      h-maximum) seeds a watershed on that distance transform. The boundary class is
      learnt early and well, so this holds where the regressed distance map is
      still flat or noisy (real images after minutes of training).
    * otherwise: each peak of the predicted distance-to-edge map (above 0.3, at
      least ``min_distance`` pixels from a higher one; about half the typical
      object radius) seeds a watershed on that map.

    Either way touching objects meet where the height is lowest: at their shared
    boundary. ``merge`` (0-1, 0: off) then joins pieces of one object that the seeds
    cut apart (:func:`merge_pieces`). Foreground regions no seed reaches become
    objects of their own; holes and objects under ``min_size`` go.
    """
    lab, height = seeded_watershed(interior, boundary, distance, min_size=min_size, min_distance=min_distance, h=h)
    return finish_instances(merge_pieces(lab, height, merge), min_size)


def seeded_watershed(interior, boundary, distance, *, min_size=0, min_distance=3, h=None):
    """The watershed of :func:`split_instances` before merging and clean-up: the
    labels and the height they were grown on."""
    fg = interior + boundary > 0.5
    if min_size:
        fg = fill_small_holes(fg, min_size)
    if h:
        core = (interior > boundary) & fg
        height = ndi.distance_transform_edt(core)
        seeds = measure.label(morphology.h_maxima(height, float(h)).astype(bool) & core)
        return _grow(height, seeds, fg), height
    peaks = peak_local_max(
        distance,
        min_distance=max(1, int(min_distance)),
        threshold_abs=0.3,
        labels=measure.label(fg),
        exclude_border=False,
    )
    return _grow(distance, _peak_seeds(peaks, fg.shape), fg), distance


def merge_pieces(labels: np.ndarray, height: np.ndarray, ratio: float) -> np.ndarray:
    """Join touching objects that are pieces of one: where the highest pass across
    their common border (the largest, over neighbouring pixel pairs one in each, of
    the lower ``height``) is at least ``ratio`` times the lower of their two peaks.

    A thin, long object (a rod, a bacterium, a neurite) has a nearly flat ridge of
    height along its axis, whose small bumps (a pixel of the distance transform of
    a band two or three pixels wide) seed several pieces; their passes are almost as
    high as their peaks. Touching round objects meet at a neck far below their
    peaks, or across a predicted boundary, where the height is 0. ``ratio`` 0: none
    are joined.
    """
    if not ratio:
        return labels
    n = int(labels.max()) + 1
    pairs, passes = [], []
    for axis in range(labels.ndim):
        lo = tuple(slice(0, -1) if a == axis else slice(None) for a in range(labels.ndim))
        hi = tuple(slice(1, None) if a == axis else slice(None) for a in range(labels.ndim))
        p, q = labels[lo], labels[hi]
        across = (p != q) & (p > 0) & (q > 0)
        pairs.append(np.minimum(p[across], q[across]).astype(np.int64) * n + np.maximum(p[across], q[across]))
        passes.append(np.minimum(height[lo][across], height[hi][across]))
    key, value = np.concatenate(pairs), np.concatenate(passes)
    if len(key) == 0:
        return labels
    pair, index = np.unique(key, return_inverse=True)
    top = np.zeros(len(pair))
    np.maximum.at(top, index, value)
    a, b = pair // n, pair % n
    peak = np.asarray(ndi.maximum(height, labels, np.arange(n)), dtype=np.float64)
    join = (top > 0) & (top >= ratio * np.minimum(peak[a], peak[b]))
    graph = coo_matrix((np.ones(int(join.sum())), (a[join], b[join])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    return np.where(labels > 0, component[labels] + 1, 0).astype(np.int32)


def remove_small(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Drop objects (ids of a label image, or connected regions of a mask) with fewer
    than ``min_size`` pixels. (Written out because scikit-image 0.26 renamed the
    parameters of ``remove_small_objects`` with a changed meaning.)"""
    lab = measure.label(labels) if labels.dtype == bool else labels
    if min_size <= 1 or not lab.any():
        return labels
    counts = np.bincount(lab.reshape(-1))
    small = counts < min_size
    small[0] = False
    kept = np.where(small[lab], 0, lab)
    return kept > 0 if labels.dtype == bool else kept


def fill_small_holes(mask: np.ndarray, max_hole: int) -> np.ndarray:
    """Fill background regions of ``mask`` with fewer than ``max_hole`` pixels."""
    if max_hole <= 1:
        return mask
    holes = remove_small(~mask, max_hole)
    return mask | ~holes


def distance_watershed(mask: np.ndarray, *, min_size: int = 0, footprint: int | None = None) -> np.ndarray:
    """Split a binary mask into objects: peaks of its distance transform seed a watershed.

    The classical recipe (as in scikit-image's gallery); ``footprint`` (pixels) is
    the smallest distance between two centres, by default from the median object size.
    """
    mask = np.asarray(mask, bool)
    if not mask.any():
        return np.zeros(mask.shape, np.int32)
    dist = ndi.distance_transform_edt(mask)
    comps = measure.label(mask)
    if footprint is None:
        sizes = _object_sizes(comps)
        d = mask.ndim
        r = (np.median(sizes) / (np.pi if d == 2 else 4 / 3 * np.pi)) ** (1 / d) if len(sizes) else 3
        footprint = max(3, int(round(r * 0.7)))
    peaks = peak_local_max(dist, min_distance=footprint, labels=comps, exclude_border=False)
    return _watershed_from_peaks(dist, peaks, mask, min_size)


def _watershed_from_peaks(height: np.ndarray, peaks: np.ndarray, mask: np.ndarray, min_size: int) -> np.ndarray:
    """Objects of ``mask`` grown from ``peaks`` (K, D) downhill on ``height``."""
    return finish_instances(_grow(height, _peak_seeds(peaks, mask.shape), mask), min_size)


def _peak_seeds(peaks: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A label image with seeds 1..K at ``peaks`` (K, D)."""
    seeds = np.zeros(shape, np.int32)
    seeds[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return seeds


def _grow(height: np.ndarray, seeds: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Objects of ``mask`` grown from the labelled ``seeds`` downhill on ``height``;
    parts no seed reaches become objects of their own."""
    lab = segmentation.watershed(-height, seeds, mask=mask)
    missed = measure.label(mask & (lab == 0))
    return np.where(missed > 0, missed + lab.max(), lab)


def finish_instances(lab: np.ndarray, min_size: int) -> np.ndarray:
    """Objects under ``min_size`` go; ids 1..K as int32."""
    if min_size:
        lab = remove_small(lab, min_size)
    return segmentation.relabel_sequential(lab)[0].astype(np.int32)
