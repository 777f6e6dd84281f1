"""Scribbles like those a user draws on a few objects and seams, from a label image."""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi
from skimage import draw, measure, segmentation


def scribbles(labels: np.ndarray, *, seed: int, objects: float = 0.6, seams: float = 0.5) -> np.ndarray:
    """Sparse annotation of a 2D instance label image, drawn as a user would paint it
    (for the benchmark, tests and the sample data).

    2 (object): a 1-px stroke along the long axis of ``objects`` of the objects,
    kept 2 px inside their outline. 1 (background): short random strokes on the
    background, plus the whole seam between ``seams`` of the pairs of touching or
    nearly touching objects (one-pixel line where they touch, the background pixels
    of a gap under 3 px), so the model learns where one object ends and the next
    begins. 0: not annotated.
    """
    rng = np.random.default_rng(seed)
    h, w = labels.shape
    out = np.zeros(labels.shape, np.int32)
    rim = ndi.binary_dilation(segmentation.find_boundaries(labels, mode="thick"))
    deep = (labels > 0) & ~rim
    for obj in measure.regionprops(labels):
        if rng.random() >= objects:
            continue
        cy, cx = obj.centroid
        half = 0.35 * obj.axis_major_length
        dy, dx = math.cos(obj.orientation) * half, math.sin(obj.orientation) * half
        rr, cc = draw.line(*(int(round(v)) for v in (cy - dy, cx - dx, cy + dy, cx + dx)))
        ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        rr, cc = rr[ok], cc[ok]
        keep = deep[rr, cc] & (labels[rr, cc] == obj.label)
        out[rr[keep], cc[keep]] = 2

    # background strokes: about one per (size/6)^2 pixels, each ~size/10 long
    bg = np.argwhere(labels == 0)
    length = max(6, min(h, w) // 10)
    for _ in range(max(4, int(h * w / (min(h, w) / 6) ** 2))) if len(bg) else ():
        y0, x0 = bg[rng.integers(len(bg))]
        angle = rng.uniform(0, math.pi)
        y1 = int(np.clip(round(y0 + length * math.sin(angle)), 0, h - 1))
        x1 = int(np.clip(round(x0 + length * math.cos(angle)), 0, w - 1))
        rr, cc = draw.line(int(y0), int(x0), y1, x1)
        keep = labels[rr, cc] == 0
        out[rr[keep], cc[keep]] = 1

    # seams: key every seam pixel by the pair of objects it separates, paint some pairs
    big = np.iinfo(np.int32).max
    pair_lo = np.zeros(labels.shape, np.int64)
    pair_hi = np.zeros(labels.shape, np.int64)
    for axis in (0, 1):
        for step in (1, -1):
            nb = np.roll(labels, step, axis=axis)
            edge = [slice(None)] * 2
            edge[axis] = 0 if step == 1 else -1
            nb[tuple(edge)] = 0
            # one side only (the higher id), so the painted seam is a 1-px line
            touch = (labels > 0) & (nb > 0) & (nb < labels)
            pair_lo[touch], pair_hi[touch] = nb[touch], labels[touch]
    hi3 = ndi.maximum_filter(labels, size=3)
    lo3 = ndi.minimum_filter(np.where(labels > 0, labels, big), size=3)
    gap = (labels == 0) & (hi3 > 0) & (lo3 < big) & (lo3 != hi3) & (pair_hi == 0)
    pair_lo[gap], pair_hi[gap] = lo3[gap], hi3[gap]
    on_seam = pair_hi > 0
    keys = pair_lo[on_seam] * (int(labels.max()) + 1) + pair_hi[on_seam]
    pairs = np.unique(keys)
    chosen = pairs[rng.random(len(pairs)) < seams]
    painted = np.zeros(labels.shape, bool)
    painted[on_seam] = np.isin(keys, chosen)
    out[painted] = 1
    return out
