"""Textured hole filling from the image's own patches (exemplar-based completion).

A smooth fill (:func:`napari_gan.core.tasks.translate.tension_fill`) is the best
estimate in the least-squares sense, and it looks like a smear wherever the image
is textured. :func:`patch_fill` instead makes every patch that touches the hole
look like some patch of the known image, coarse to fine, as in Wexler, Shechtman
and Irani, "Space-time completion of video" (PAMI 2007), with PatchMatch's
randomised nearest-neighbour search (Barnes et al., SIGGRAPH 2009):

1. an image pyramid; at the coarsest level the hole is a few patches across and
   starts as a mosaic of random known patches (a mean or a smooth start would be
   flat, and flat patches attract flat matches);
2. per level, a few rounds of (a) finding for every patch overlapping the hole its
   nearest fully known patch (exhaustively once at the coarsest level, then with
   PatchMatch's propagation and random search, favouring matches that continue a
   neighbour's, so that the field stays coherent) and (b) setting each hole pixel
   to the value that the best-matching of those patches puts there;
3. the nearest-neighbour field is carried to the next finer level, where it copies
   fine detail straight away;
4. the brightness mismatch left at the border is spread smoothly over the hole
   (a healing brush), so no seam shows.

Nothing is trained and nothing is downloaded: the only data is the image itself.
Known pixels are never changed.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi

from .errors import InputError

#: patch edge in pixels at every level (patch synthesis of textures)
PATCH = 7
#: patch edge of :func:`patch_fill` by default. Larger patches carry more of the
#: structure around the hole across its border: seam score (``ng.metrics.seam_score``;
#: real content about 1) of brick, gravel and grass fills, 384 px crops that
#: bench/fill.py does not score (top left), 64 and 128 px holes, 2 layouts x 3 seeds:
#: mean 1.33 with 7 px patches, 1.22 with 9 and 1.14 with 11, while the classifier test
#: of the hole content stayed level (0.64 / 0.65 for 7 / 11 px; 32 and 64 px holes, 2
#: seeds). It costs 2-5x the time: 24 holes of 32 px in a 384 px crop 6.9 s against
#: 1.4 s; a 150 px hole in the RGB astronaut 5.2 s against 2.4 s (2 CPU cores)
FILL_PATCH = 11
#: the default patch edges tried in turn where the known image around a hole is too
#: small or thin for the larger ones
_DEFAULT_PATCHES = (FILL_PATCH, PATCH, 5, 3)
#: factor on the distance of a candidate that continues a neighbour's match: coherent
#: copies vote the same values, so the mean vote stays sharp (grass, gravel: without it
#: the fill drifts to a smooth patch, which is the L2-nearest to any blurred estimate)
COHERENCE = 0.8
#: near the border, a patch that overlaps known pixels wins the vote over a better-
#: matching one inside the hole, by this share of its known pixels; with the healing
#: step, seam scores on 384 px crops with 32 and 64 px holes (bench/fill.py's layout)
#: came out 1.13-1.45, real content 0.86-1.05; without either, 1.92-2.91
ANCHOR = 0.95
#: a patch may be copied if at most this share of its pixels is to be avoided (``avoid``
#: of :func:`patch_fill`, e.g. other objects when objects are removed)
AVOID_SHARE = 0.1
#: largest patch bank (floats: positions x channels x patch pixels; 512 MB) kept in memory
_BANK_MAX = 128_000_000
#: rows of the distance matrix computed at once in the exact search (memory bound)
_CHUNK = 2048


def _pyramid(image: torch.Tensor, hole: torch.Tensor, levels: int):
    """Lists, fine to coarse, of (C, Y, X) images (2x2 means) and (Y, X) holes (a
    coarse pixel is a hole if any of its fine pixels is)."""
    imgs, holes = [image], [hole]
    for _ in range(levels - 1):
        imgs.append(F.avg_pool2d(imgs[-1][None], 2, ceil_mode=True)[0])
        holes.append(F.max_pool2d(holes[-1][None, None].float(), 2, ceil_mode=True)[0, 0] > 0)
    return imgs, holes


def _positions(mask: torch.Tensor) -> torch.Tensor:
    """(K, 2) int64 (y, x) of the True entries of a 2D mask."""
    return torch.nonzero(mask, as_tuple=False)


def _gather(img: torch.Tensor, pos: torch.Tensor, p: int) -> torch.Tensor:
    """Patches of ``img`` (C, Y, X) with top-left corners ``pos`` (K, 2) -> (K, C*p*p)."""
    c, h, w = img.shape
    oy, ox = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    flat = (pos[:, 0, None] + oy.reshape(1, -1)) * w + (pos[:, 1, None] + ox.reshape(1, -1))  # (K, p*p)
    return img.reshape(c, -1)[:, flat].permute(1, 0, 2).reshape(len(pos), -1)


def _exact_nn(tgt: torch.Tensor, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of ``tgt`` (T, D) the index of its nearest row of ``src`` (S, D) and
    the squared distance."""
    s2 = (src * src).sum(1)
    idx, dist = [], []
    for i in range(0, len(tgt), _CHUNK):
        t = tgt[i : i + _CHUNK]
        d = s2[None, :] - 2 * (t @ src.T)
        best, j = d.min(1)
        idx.append(j)
        dist.append((best + (t * t).sum(1)).clamp(min=0))
    return torch.cat(idx), torch.cat(dist)


class _Level:
    """Targets, valid sources and the nearest-neighbour field at one pyramid level."""

    def __init__(self, img: torch.Tensor, hole: torch.Tensor, p: int, avoid: torch.Tensor | None = None):
        self.img, self.hole, self.p = img, hole, p
        _, h, w = img.shape
        self.ny, self.nx = h - p + 1, w - p + 1
        win = F.max_pool2d(hole[None, None].float(), p, stride=1)[0, 0] > 0  # patch touches the hole
        self.targets = _positions(win)
        known = 1 - F.avg_pool2d(hole[None, None].float(), p, stride=1)[0, 0]
        self.anchored = known[self.targets[:, 0], self.targets[:, 1]]  # known share of each target
        self.source_ok = ~win
        if avoid is not None:  # patches mostly of pixels to avoid are no source, while enough others are left
            clean = self.source_ok & (F.avg_pool2d(avoid[None, None], p, stride=1)[0, 0] <= AVOID_SHARE)
            if int(clean.sum()) >= max(16, int(self.source_ok.sum()) // 100):
                self.source_ok = clean
        self.sources = _positions(self.source_ok)
        if len(self.sources) == 0:
            raise InputError("no patch of known pixels is left around the hole; use the smooth fill")
        self.nnf = torch.zeros_like(self.targets)
        self.dist = torch.full((len(self.targets),), float("inf"))
        # every patch as a row, once: known patches never change, and a row gather is
        # several times faster than gathering each patch's pixels (rows of patches that
        # touch the hole go stale, but those are never valid matches)
        c = img.shape[0]
        self.bank = None
        if self.ny * self.nx * c * p * p <= _BANK_MAX:
            self.bank = F.unfold(img[None], p)[0].T.contiguous()

    def source_patches(self, pos: torch.Tensor) -> torch.Tensor:
        if self.bank is None:
            return _gather(self.img, pos, self.p)
        return self.bank.index_select(0, pos[:, 0] * self.nx + pos[:, 1])

    def target_patches(self) -> torch.Tensor:
        return _gather(self.img, self.targets, self.p)

    def evaluate(self, cand: torch.Tensor, tp: torch.Tensor, factor: float = 1.0) -> None:
        """Keep ``cand`` (T, 2) where it is a valid source nearer than the current match."""
        cy = cand[:, 0].clamp(0, self.ny - 1)
        cx = cand[:, 1].clamp(0, self.nx - 1)
        cand = torch.stack([cy, cx], 1)
        ok = self.source_ok[cy, cx]
        d = ((self.source_patches(cand) - tp) ** 2).sum(1)
        d = torch.where(ok, d * factor, torch.full_like(d, float("inf")))
        better = d < self.dist
        self.nnf[better] = cand[better]
        self.dist[better] = d[better]

    def exact_search(self) -> None:
        tp = self.target_patches()
        j, d = _exact_nn(tp, self.source_patches(self.sources))
        self.nnf, self.dist = self.sources[j].clone(), d

    def patchmatch(self, gen: torch.Generator, rounds: int = 2) -> None:
        """Jump-flood propagation from neighbouring targets plus random search around
        the current match, vectorised over all targets."""
        tp = self.target_patches()
        # distances of the current field to the current estimate
        d = ((self.source_patches(self.nnf) - tp) ** 2).sum(1)
        self.dist = torch.where(self.source_ok[self.nnf[:, 0], self.nnf[:, 1]], d, torch.full_like(d, float("inf")))
        index = torch.full((self.ny, self.nx), -1, dtype=torch.long)
        index[self.targets[:, 0], self.targets[:, 1]] = torch.arange(len(self.targets))
        radius = max(self.ny, self.nx)
        for _ in range(rounds):
            for jump in (8, 4, 2, 1):
                for dy, dx in ((0, jump), (0, -jump), (jump, 0), (-jump, 0)):
                    ny = self.targets[:, 0] - dy
                    nx = self.targets[:, 1] - dx
                    inside = (ny >= 0) & (ny < self.ny) & (nx >= 0) & (nx < self.nx)
                    nb = torch.where(inside, index[ny.clamp(0, self.ny - 1), nx.clamp(0, self.nx - 1)], -1)
                    has = nb >= 0
                    if not has.any():
                        continue
                    cand = self.nnf.clone()
                    cand[has] = self.nnf[nb[has]] + torch.tensor([dy, dx])
                    self.evaluate(cand, tp, COHERENCE if jump == 1 else 1.0)
            r = radius
            while r >= 1:
                step = torch.randint(-r, r + 1, self.nnf.shape, generator=gen)
                self.evaluate(self.nnf + step, tp)
                r //= 2
            # a few matches anywhere: escapes from a poor local basin
            pick = torch.randint(0, len(self.sources), (len(self.targets),), generator=gen)
            self.evaluate(self.sources[pick], tp)

    def scatter_random(self, gen: torch.Generator) -> None:
        """Tile the hole with whole random source patches (no averaging): a start
        with the texture's contrast, where a mean of random patches would be flat."""
        c, h, w = self.img.shape
        p = self.p
        img = self.img.clone()
        ys, xs = torch.nonzero(self.hole, as_tuple=True)
        y0, x0 = int(ys.min()), int(xs.min())
        off_y, off_x = torch.randint(0, p, (2,), generator=gen).tolist()
        for ty in range(y0 - off_y, int(ys.max()) + 1, p):
            for tx in range(x0 - off_x, int(xs.max()) + 1, p):
                sy, sx = self.sources[torch.randint(0, len(self.sources), (1,), generator=gen)][0].tolist()
                a0, b0 = max(ty, 0), max(tx, 0)
                a1, b1 = min(ty + p, h), min(tx + p, w)
                blk = self.img[:, sy + a0 - ty : sy + a1 - ty, sx + b0 - tx : sx + b1 - tx]
                img[:, a0:a1, b0:b1] = torch.where(self.hole[a0:a1, b0:b1], blk, img[:, a0:a1, b0:b1])
        self.img = img

    def vote(self) -> None:
        """Each hole pixel <- what the best-matching patch through it puts there. (A
        mean over all the patches through a pixel, as in Wexler et al., keeps a bit of
        blur: neighbour differences in grass and gravel fills came out at 56 % and 53 %
        of the real ones, against 97 % and 107 % with this vote; 160 px crops, 40 px
        hole.)"""
        c, h, w = self.img.shape
        p = self.p
        acc = torch.zeros(c, h * w)
        wsum = torch.zeros(h * w)
        best = torch.full((h * w,), float("inf"))
        src = self.img.reshape(c, -1)
        rank = self.dist * (1 - ANCHOR * self.anchored)
        for oy in range(p):
            for ox in range(p):
                to = (self.targets[:, 0] + oy) * w + self.targets[:, 1] + ox
                fr = (self.nnf[:, 0] + oy) * w + self.nnf[:, 1] + ox
                better = rank <= best[to]  # one target per pixel at a given offset: no collisions
                best[to[better]] = rank[better]
                acc[:, to[better]] = src[:, fr[better]]
                wsum[to[better]] = 1.0
        est = acc / wsum.clamp(min=1e-12)
        # what the copies put on the known pixels next to the hole (for the seam's offset)
        self.copied = torch.where(wsum[None] > 0, est, torch.nan).reshape(c, h, w)
        # per pixel, the RMS difference of its patches from their matches: where the
        # fill resembles no known patch well
        rms = torch.sqrt(self.dist.clamp(max=1e30) / (c * p * p)).nan_to_num(0.0)
        err, count = torch.zeros(h * w), torch.zeros(h * w)
        for oy in range(p):
            for ox in range(p):
                to = (self.targets[:, 0] + oy) * w + self.targets[:, 1] + ox
                err.index_add_(0, to, rms)
                count.index_add_(0, to, torch.ones_like(rms))
        flat_hole = self.hole.reshape(-1)
        self.error = torch.where(flat_hole, err / count.clamp(min=1), 0.0).reshape(h, w)
        self.img = torch.where(flat_hole[None], est, src).reshape(c, h, w)


def _levels_for(hole: np.ndarray, shape: tuple[int, int], p: int) -> int:
    """Enough levels that the hole is about two patches thick at the coarsest, while
    the image there still holds several patches of known pixels."""
    thickness = float(ndi.distance_transform_edt(hole).max()) * 2
    levels = 1 + max(0, math.ceil(math.log2(max(thickness, 1.0) / (2 * p))))
    while levels > 1 and min(shape) / 2 ** (levels - 1) < 4 * p:
        levels -= 1
    return levels


def _fill_region(
    x: np.ndarray,
    hole: np.ndarray,
    p: int,
    iterations: int,
    gen: torch.Generator,
    *,
    levels: int | None = None,
    start: np.ndarray | None = None,
    heal: bool = True,
    avoid: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Fill ``hole`` in ``x`` (C, Y, X). ``start``: an initial guess of the hole's
    values (same shape as ``x``), used at the coarsest of ``levels`` levels instead
    of a mosaic of random patches. ``avoid``: (Y, X) bool, pixels not to copy from."""
    levels = levels or _levels_for(hole, hole.shape, p)
    img = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    imgs, holes = _pyramid(img, torch.from_numpy(hole), levels)
    avoids = [None] * levels
    if avoid is not None:  # per level, the share of each pixel's fine pixels to avoid
        shares, _ = _pyramid(torch.from_numpy(avoid).float()[None], holes[0], levels)
        avoids = [a[0] for a in shares]
    if start is not None:
        first = torch.from_numpy(np.ascontiguousarray(start, dtype=np.float32))
        for _ in range(levels - 1):
            first = F.avg_pool2d(first[None], 2, ceil_mode=True)[0]
        imgs[-1] = torch.where(holes[-1][None], first, imgs[-1])
    prev = None
    for lvl in range(levels - 1, -1, -1):
        # the hole's values are replaced before any search: random patches at the
        # coarsest level, the coarser field's vote at the others
        level = _Level(imgs[lvl], holes[lvl], min(p, *imgs[lvl].shape[1:]), avoids[lvl])
        if prev is not None:  # the coarser field, doubled, copies this level's detail at once
            index = torch.full((prev.ny, prev.nx), -1, dtype=torch.long)
            index[prev.targets[:, 0], prev.targets[:, 1]] = torch.arange(len(prev.targets))
            up = (level.targets // 2).clamp(max=torch.tensor([prev.ny - 1, prev.nx - 1]))
            j = index[up[:, 0], up[:, 1]]
            parent = prev.nnf[j.clamp(min=0)] * 2 + level.targets % 2
            parent[:, 0].clamp_(0, level.ny - 1)
            parent[:, 1].clamp_(0, level.nx - 1)
            bad = (j < 0) | ~level.source_ok[parent[:, 0], parent[:, 1]]
            pick = torch.randint(0, len(level.sources), (int(bad.sum()),), generator=gen)
            parent[bad] = level.sources[pick]
            level.nnf = parent
            level.dist = torch.ones(len(level.targets))
            level.vote()
        elif start is None:
            level.scatter_random(gen)
        for it in range(iterations):
            if prev is None and it == 0:  # the coarsest level is small: search it exhaustively once
                level.exact_search()
            else:
                level.patchmatch(gen)
            level.vote()
        prev = level
    out = level.img.numpy()
    return (_heal(out, hole, level.copied.numpy()) if heal else out), level.error.numpy()


def _heal(img: np.ndarray, hole: np.ndarray, copied: np.ndarray) -> np.ndarray:
    """Remove the fill's brightness mismatch at the hole's border: the difference
    between the known pixels just outside the hole and what the copied patches had
    there, spread smoothly (harmonically) over the hole, as a healing brush does."""
    from .tasks.translate.fills import pyramid_fill

    ring = ndi.binary_dilation(hole, iterations=2) & ~hole & np.isfinite(copied).all(0)
    if not ring.any():
        return img
    diff = np.where(ring[None], img - np.nan_to_num(copied), 0.0).astype(np.float32)
    known = torch.from_numpy(ring[None, None].astype(np.float32))
    offset = pyramid_fill(torch.from_numpy(diff)[None], known)[0].numpy()
    low = img[:, ~hole].min(axis=1)[:, None, None]
    high = img[:, ~hole].max(axis=1)[:, None, None]
    return np.where(hole[None], np.clip(img + offset, low, high), img)


def patch_fill(
    image: np.ndarray,
    hole: np.ndarray,
    *,
    patch: int | None = None,
    iterations: int = 4,
    context: int | None = None,
    seed: int = 0,
    return_error: bool = False,
    avoid: np.ndarray | None = None,
):
    """Fill ``hole`` in ``image`` with texture continued from the image's own patches.

    Parameters
    ----------
    image : ndarray, (C, Y, X) float
        The image, every channel on a comparable scale (e.g. normalised to [0, 1]).
    hole : ndarray, (Y, X) bool
        True where to fill.
    patch : int, optional
        Patch edge in pixels (odd, >= 3): about the size of the texture's smallest
        element. Default :data:`FILL_PATCH` (11), or 7, 5 or 3 where the known
        image around a hole is too small or thin to hold patches that large.
    iterations : int
        Search-and-vote rounds per pyramid level.
    context : int, optional
        Pixels around each group of holes that patches are taken from (default: the
        group's extent, at least 48). Patches further away are not used.
    seed : int
        Seed of the random search: the same seed gives the same fill.
    avoid : ndarray, (Y, X) bool, optional
        Known pixels not to copy from: a patch with more than ``AVOID_SHARE`` of
        its pixels here is no source (while enough other patches are left). When
        objects are removed, their neighbours: the fill is then made of the
        background, not of pieces of other objects.
    return_error : bool
        Also return, per pixel, the RMS difference (image units) between the patches
        through it and the known patches they were copied from: high where the fill
        resembles nothing in the image well. 0 outside the hole.

    Returns
    -------
    filled : ndarray, (C, Y, X) float32
        ``image`` with the hole filled; known pixels are returned unchanged.
    error : ndarray, (Y, X) float32, only with ``return_error``

    Raises
    ------
    InputError
        If the shapes disagree, the hole is empty or covers the image, or no patch
        of known pixels is left near the hole.
    """
    x = np.asarray(image, dtype=np.float32)
    hole = np.asarray(hole)
    if x.ndim != 3:
        raise InputError(f"image must be (C, Y, X), got shape {x.shape}")
    if hole.shape != x.shape[1:]:
        raise InputError(f"hole has shape {hole.shape} but the image is {x.shape[1:]} (Y, X)")
    if hole.dtype.kind not in "bui":
        raise InputError(f"hole must be boolean or integer, got {hole.dtype}")
    hole = hole.astype(bool)
    if avoid is not None:
        avoid = np.asarray(avoid)
        if avoid.shape != hole.shape or avoid.dtype.kind not in "bui":
            raise InputError(
                f"avoid must be a boolean (Y, X) mask of shape {hole.shape}, got {avoid.dtype} {avoid.shape}"
            )
        avoid = avoid.astype(bool)
    if not hole.any():
        raise InputError("the hole is empty: nothing to fill")
    if hole.all():
        raise InputError("the hole covers the whole image: a fill needs known pixels")
    if patch is not None and (int(patch) != patch or patch < 3 or patch % 2 == 0):
        raise InputError(f"patch must be an odd integer >= 3, got {patch!r}")
    if int(iterations) != iterations or iterations < 1:
        raise InputError(f"iterations must be a positive integer, got {iterations!r}")
    if not np.isfinite(x).all():
        raise InputError("image has NaN or infinite values")
    out = x.copy()
    error = np.zeros(hole.shape, dtype=np.float32)
    gen = torch.Generator().manual_seed(int(seed))
    parts = ndi.find_objects(ndi.label(hole)[0])
    extent = max(max(b[0].stop - b[0].start, b[1].stop - b[1].start) for b in parts)
    m = int(context) if context is not None else max(48, extent)
    # holes whose context overlaps are filled together: one pyramid, one search
    near = ndi.distance_transform_cdt(~hole, metric="chessboard") <= m
    groups, _ = ndi.label(near)
    for i, box in enumerate(ndi.find_objects(groups), start=1):
        y0, x0, y1, x1 = box[0].start, box[1].start, box[0].stop, box[1].stop
        region = hole[y0:y1, x0:x1]  # other groups' holes in the box are no source either
        sub = region & (groups[y0:y1, x0:x1] == i)
        keep_off = None if avoid is None else avoid[y0:y1, x0:x1]
        sizes = [int(patch)] if patch is not None else [q for q in _DEFAULT_PATCHES if q <= min(sub.shape)]
        if not sizes or sizes[0] > min(sub.shape):
            raise InputError(f"the image is smaller than one {sizes[0] if sizes else 3} px patch around the hole")
        part = out[:, y0:y1, x0:x1]
        for p in sizes[:-1]:  # the default's larger patches, while the known image holds enough of them
            try:
                filled, err = _fill_region(part, region, p, int(iterations), gen, avoid=keep_off)
                break
            except InputError:
                continue
        else:
            filled, err = _fill_region(part, region, sizes[-1], int(iterations), gen, avoid=keep_off)
        out[:, y0:y1, x0:x1] = np.where(sub[None], filled, out[:, y0:y1, x0:x1])
        error[y0:y1, x0:x1] = np.where(sub, err, error[y0:y1, x0:x1])
    return (out, error) if return_error else out
