"""Gradient-domain composition of a patch fill (Poisson image editing).

A patch fill copies every hole pixel from some known pixel, its *owner*. Copied
values keep the brightness of the place they came from, so where neighbouring
pixels were copied from different places they can meet at a step: straight-edged
blocks on smooth images (fur, skin, sky, a retina), and a seam at the hole's
border. :func:`blend_copies` keeps the copies' differences between neighbouring
pixels instead of their values and solves for the hole whose differences match
them best in the least-squares sense, the known pixels fixed (Pérez, Gangnet and
Blake, "Poisson image editing", SIGGRAPH 2003; patch votes in the gradient domain
as in Darabi et al., "Image melding", SIGGRAPH 2012). Inside one copied piece the
differences are the source's own, so texture is kept exactly; where two pieces
meet, the difference is the mean of what either piece has beside it, so the step
between them, like the mismatch at the border, is spread smoothly over the hole.

Spreading a step everywhere would also spread the steps that belong to the
texture: a mortar joint copied up to where a brick begins becomes a bright glow.
A step between two pieces is therefore kept where it is no larger than the
contrast the sources themselves have nearby (:data:`MASKING` times the largest
neighbour difference within :data:`WINDOW` px of either piece's source), where a
texture's own edges hide it, and spread only where the surroundings are smoother
than the step. Steps at the hole's border are always spread.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy import ndimage as ndi

#: unknown pixels above which :func:`blend_copies` declines (returns None): a sparse
#: factorisation of a hole of 400 000 pixels (about 630 x 630) takes seconds and about
#: a gigabyte, as for :func:`napari_gan.core.tasks.translate.tension_fill`
MAX_UNKNOWNS = 400_000
#: a step between copied pieces no larger than this times the sources' local contrast
#: is kept (see the module's text)
MASKING = 1.0
#: edge of the window (px) over which the sources' local contrast is taken
WINDOW = 11


def _edges(hole: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The flat indices (a, b) of the right and down neighbour pairs with at least one
    pixel in the hole, and the flat step b - a of each."""
    h, w = hole.shape
    flat = hole.ravel()
    a_parts, b_parts, steps = [], [], []
    for dy, dx in ((0, 1), (1, 0)):
        ys, xs = np.mgrid[0 : h - dy, 0 : w - dx]
        a = (ys * w + xs).ravel()
        b = a + dy * w + dx
        keep = flat[a] | flat[b]
        a_parts.append(a[keep])
        b_parts.append(b[keep])
        steps.append(np.full(int(keep.sum()), dy * w + dx))
    return np.concatenate(a_parts), np.concatenate(b_parts), np.concatenate(steps)


def _contrast(values: np.ndarray, known: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per pixel (flat), the largest difference between neighbouring known pixels
    (over channels) within :data:`WINDOW` px."""
    h, w = shape
    img = values.reshape(-1, h, w)
    ok = known.reshape(h, w)
    dx = np.abs(np.diff(img, axis=2)).max(axis=0) * (ok[:, 1:] & ok[:, :-1])
    dy = np.abs(np.diff(img, axis=1)).max(axis=0) * (ok[1:] & ok[:-1])
    edge = np.zeros((h, w))
    edge[:, :-1] = dx
    edge[:, 1:] = np.maximum(edge[:, 1:], dx)
    edge[:-1] = np.maximum(edge[:-1], dy)
    edge[1:] = np.maximum(edge[1:], dy)
    return ndi.maximum_filter(edge, size=WINDOW).ravel()


def _targets(values: np.ndarray, known: np.ndarray, owner: np.ndarray, a, b, step, w: int) -> np.ndarray:
    """Per edge (a, b), the target of ``u[a] - u[b]`` (C, E); see the module's text."""
    total = np.zeros((values.shape[0], len(a)))
    count = np.zeros(len(a))
    horizontal = step == 1
    for pixel, sign in ((a, 1), (b, -1)):
        src = owner[pixel]
        other = src + sign * step
        # the owner's neighbour must lie on the same row / column, and be known
        col = src % w + sign * horizontal
        ok = (src >= 0) & (col >= 0) & (col < w) & (other >= 0) & (other < len(known))
        ok[ok] &= known[src[ok]] & known[other[ok]]
        first, second = (src[ok], other[ok]) if sign == 1 else (other[ok], src[ok])
        total[:, ok] += values[:, first] - values[:, second]
        count[ok] += 1
    now = values[:, a] - values[:, b]
    target = np.where(count > 0, total / np.maximum(count, 1), now)
    local = _contrast(values, known, (len(known) // w, w))
    near = np.maximum(
        np.where(owner[a] >= 0, local[np.maximum(owner[a], 0)], 0.0),
        np.where(owner[b] >= 0, local[np.maximum(owner[b], 0)], 0.0),
    )
    hidden = (np.abs(now - target).max(axis=0) <= MASKING * near) & ~known[a] & ~known[b]
    target[:, hidden] = now[:, hidden]
    return target


def blend_copies(img: np.ndarray, hole: np.ndarray, owner: np.ndarray) -> np.ndarray | None:
    """The hole of ``img`` (C, Y, X float) re-solved from the differences of what
    was copied into it (see the module's text).

    ``owner`` (Y, X int): for each hole pixel, the flat index (y * X + x) of the known
    pixel its value was copied from, -1 where none. Known pixels are returned
    unchanged; filled ones are clipped to the known pixels' range per channel. Returns
    None when the hole has more than :data:`MAX_UNKNOWNS` pixels or no known pixel.
    """
    c, h, w = img.shape
    hole = np.asarray(hole, dtype=bool)
    n = int(hole.sum())
    if n == 0:
        return img
    if n > MAX_UNKNOWNS or n == hole.size:
        return None
    values = img.reshape(c, -1).astype(np.float64)
    known = ~hole.ravel()
    a, b, step = _edges(hole)
    rhs = _targets(values, known, np.asarray(owner).ravel(), a, b, step, w)
    index = np.full(h * w, -1)
    index[~known] = np.arange(n)
    ia, ib = index[a], index[b]
    rows = np.arange(len(a))
    in_a, in_b = ia >= 0, ib >= 0
    # one equation per edge, u[a] - u[b] = target; known ends move to the right side
    d = sp.csr_matrix(
        (
            np.concatenate([np.ones(in_a.sum()), -np.ones(in_b.sum())]),
            (np.concatenate([rows[in_a], rows[in_b]]), np.concatenate([ia[in_a], ib[in_b]])),
        ),
        shape=(len(a), n),
    )
    rhs[:, ~in_a] -= values[:, a[~in_a]]
    rhs[:, ~in_b] += values[:, b[~in_b]]
    # the normal equations: a graph Laplacian, positive definite when every hole pixel
    # is joined to a known one through other hole pixels (a hole never covers its box)
    lu = spla.splu((d.T @ d).tocsc(), permc_spec="MMD_AT_PLUS_A")
    solution = lu.solve(np.ascontiguousarray(d.T @ rhs.T))
    low = values[:, known].min(axis=1)
    high = values[:, known].max(axis=1)
    out = values.copy()
    out[:, ~known] = np.clip(solution.T, low[:, None], high[:, None])
    return out.reshape(c, h, w).astype(img.dtype)
