"""The nearest-neighbour-field machinery of the textured fill (:mod:`.patchfill`) and
of patch synthesis (:mod:`.patchsynth`): image pyramids, patch gathering, exact and
PatchMatch search (Barnes et al., SIGGRAPH 2009), the two starts of a hole (grown
inward from its border, or a mosaic of random patches) and the vote that turns a
field into pixels. One :class:`_Level` holds one pyramid level."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import InputError

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
#: rows of a distance matrix computed at once (exact search, grown start), at most
_CHUNK = 2048
#: floats of a distance matrix block computed at once (128 MB): with many sources, fewer rows
_BLOCK = 2**25
#: largest exhaustive search (targets x sources x values per patch, multiply-adds; a
#: few seconds on 2 CPU cores). A larger one (a long thin hole across a large image:
#: every target against millions of sources) compares an even random sample of the
#: sources instead, and PatchMatch's rounds then search them all
_SEARCH_MAX = 400_000_000_000


def _hole_pyramid(hole: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """(Y, X) holes, fine to coarse: a coarse pixel is a hole if any of its fine pixels is."""
    holes = [hole]
    for _ in range(levels - 1):
        holes.append(F.max_pool2d(holes[-1][None, None].float(), 2, ceil_mode=True)[0, 0] > 0)
    return holes


def _pyramid(image: torch.Tensor, hole: torch.Tensor, levels: int):
    """Lists, fine to coarse, of (C, Y, X) images (2x2 means) and (Y, X) holes
    (:func:`_hole_pyramid`)."""
    imgs = [image]
    for _ in range(levels - 1):
        imgs.append(F.avg_pool2d(imgs[-1][None], 2, ceil_mode=True)[0])
    return imgs, _hole_pyramid(hole, levels)


def _positions(mask: torch.Tensor) -> torch.Tensor:
    """(K, 2) int64 (y, x) of the True entries of a 2D mask."""
    return torch.nonzero(mask, as_tuple=False)


def _gather(img: torch.Tensor, pos: torch.Tensor, p: int) -> torch.Tensor:
    """Patches of ``img`` (C, Y, X) with top-left corners ``pos`` (K, 2) -> (K, C*p*p)."""
    c, h, w = img.shape
    oy, ox = torch.meshgrid(torch.arange(p), torch.arange(p), indexing="ij")
    flat = (pos[:, 0, None] + oy.reshape(1, -1)) * w + (pos[:, 1, None] + ox.reshape(1, -1))  # (K, p*p)
    return img.reshape(c, -1)[:, flat].permute(1, 0, 2).reshape(len(pos), -1)


def _block_rows(sources: int) -> int:
    """Rows of a (targets x ``sources``) distance matrix to compute at once."""
    return max(1, min(_CHUNK, _BLOCK // max(sources, 1)))


def _exact_nn(tgt: torch.Tensor, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of ``tgt`` (T, D) the index of its nearest row of ``src`` (S, D) and
    the squared distance."""
    s2 = (src * src).sum(1)
    idx, dist = [], []
    rows = _block_rows(len(src))
    for i in range(0, len(tgt), rows):
        t = tgt[i : i + rows]
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
        self.true = self.dist.clone()  # the match's distance without the favour of coherence
        # every patch of the sources' bounding box as a row, once: known patches never
        # change, and a row gather is several times faster than gathering each patch's
        # pixels (rows of patches that touch the hole go stale, but those are never
        # valid matches). The box, not the whole canvas: patch synthesis of a large
        # texture puts a small example beside a large output, whose rows are never read
        c = img.shape[0]
        y0, x0 = (int(v) for v in self.sources.min(0).values)
        y1, x1 = (int(v) + 1 for v in self.sources.max(0).values)
        self.box = (y0, x0, y1 - y0, x1 - x0)
        self.bank = None
        if (y1 - y0) * (x1 - x0) * c * p * p <= _BANK_MAX:
            self.bank = F.unfold(img[None, :, y0 : y1 + p - 1, x0 : x1 + p - 1], p)[0].T.contiguous()

    def source_patches(self, pos: torch.Tensor) -> torch.Tensor:
        if self.bank is None:
            return _gather(self.img, pos, self.p)
        y0, x0, bh, bw = self.box
        y, x = pos[:, 0] - y0, pos[:, 1] - x0
        inside = (y >= 0) & (y < bh) & (x >= 0) & (x < bw)
        if bool(inside.all()):
            return self.bank.index_select(0, y * bw + x)
        # positions outside the box (a field not yet valid) are never sources: read them as they are
        out = torch.empty(len(pos), self.bank.shape[1])
        out[inside] = self.bank.index_select(0, (y * bw + x)[inside])
        out[~inside] = _gather(self.img, pos[~inside], self.p)
        return out

    def target_patches(self) -> torch.Tensor:
        return _gather(self.img, self.targets, self.p)

    def evaluate(self, cand: torch.Tensor, tp: torch.Tensor, factor: float = 1.0) -> None:
        """Keep ``cand`` (T, 2) where it is a valid source nearer than the current match
        (distance times ``factor``). Only candidates that differ from the current
        match are compared patch by patch: once the field is coherent, most candidates
        a neighbour proposes are the match already (and cost nothing)."""
        cy = cand[:, 0].clamp(0, self.ny - 1)
        cx = cand[:, 1].clamp(0, self.nx - 1)
        cand = torch.stack([cy, cx], 1)
        same = (cand == self.nnf).all(1)
        new = torch.nonzero(~same & self.source_ok[cy, cx]).squeeze(1)
        diff = self.source_patches(cand[new]).sub_(tp.index_select(0, new))  # a new tensor: in place is safe
        true = diff.mul_(diff).sum(1)
        better = true * factor < self.dist[new]
        take = new[better]
        self.nnf[take] = cand[take]
        self.dist[take] = true[better] * factor
        self.true[take] = true[better]
        if factor != 1.0:  # the current match, proposed again, is favoured again
            self.dist = torch.where(same, torch.minimum(self.dist, self.true * factor), self.dist)

    def candidates(self, gen: torch.Generator) -> torch.Tensor:
        """The sources an exhaustive search compares every target with: all of them,
        or an even random sample where the search would pass :data:`_SEARCH_MAX`."""
        size = self.img.shape[0] * self.p * self.p
        k = max(1, _SEARCH_MAX // max(len(self.targets) * size, 1))
        if len(self.sources) <= k:
            return self.sources
        return self.sources[torch.randperm(len(self.sources), generator=gen)[:k].sort().values]

    def exact_search(self, gen: torch.Generator) -> None:
        tp = self.target_patches()
        sources = self.candidates(gen)
        j, d = _exact_nn(tp, self.source_patches(sources))
        self.nnf, self.dist = sources[j].clone(), d

    def patchmatch(self, gen: torch.Generator, rounds: int = 2) -> None:
        """Jump-flood propagation from neighbouring targets plus random search around
        the current match, vectorised over all targets."""
        tp = self.target_patches()
        # distances of the current field to the current estimate
        d = ((self.source_patches(self.nnf) - tp) ** 2).sum(1)
        self.dist = torch.where(self.source_ok[self.nnf[:, 0], self.nnf[:, 1]], d, torch.full_like(d, float("inf")))
        self.true = self.dist.clone()
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

    def onion_peel(self, gen: torch.Generator) -> None:
        """Fill the hole from its border inward, one ring of pixels at a time: each
        pixel takes the value that the known patch best matching its patch's already
        known pixels has there. What surrounds a hole then grows into it (background
        stays background, a joint continues), where a mosaic of random patches would
        bring in whatever the image holds elsewhere."""
        c, h, w = self.img.shape
        p, r = self.p, self.p // 2
        img, unknown = self.img.clone(), self.hole.clone()
        sources = self.candidates(gen)
        src = self.source_patches(sources)
        src2 = (src * src).T.contiguous()
        src = src.T.contiguous()
        rows = _block_rows(len(sources))
        srcimg = self.img.reshape(c, -1)
        while unknown.any():
            near = F.max_pool2d((~unknown)[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0
            ys, xs = torch.nonzero(unknown & near, as_tuple=True)
            if len(ys) == 0:  # no known pixel touches what is left (cannot happen with sources)
                break
            corner = torch.stack([(ys - r).clamp(0, h - p), (xs - r).clamp(0, w - p)], 1)
            known = (~unknown)[None].float().expand(c, h, w).contiguous()
            best_d, best_j = [], []
            for i in range(0, len(ys), rows):
                sl = slice(i, i + rows)
                tp, m = _gather(img, corner[sl], p), _gather(known, corner[sl], p)
                # squared distance over the known pixels only, per known pixel
                d = (m * tp * tp).sum(1, keepdim=True) - 2 * (m * tp) @ src + m @ src2
                bd, bj = (d / m.sum(1, keepdim=True).clamp(min=1)).min(1)
                best_d.append(bd)
                best_j.append(bj)
            dist, j = torch.cat(best_d), torch.cat(best_j)
            # each matched patch is pasted whole over the unknown pixels it covers; where
            # patches overlap, the best-matching wins (whole patches keep the texture's
            # contrast, where pixels from many matches would average it away)
            flat = torch.full((h * w,), float("inf"))
            val = torch.zeros(c, h * w)
            sp = sources[j]
            for oy in range(p):
                for ox in range(p):
                    to = (corner[:, 0] + oy) * w + corner[:, 1] + ox
                    fr = (sp[:, 0] + oy) * w + sp[:, 1] + ox
                    ok = unknown.reshape(-1)[to] & (dist <= flat[to])
                    flat[to[ok]] = dist[ok]
                    val[:, to[ok]] = srcimg[:, fr[ok]]
            done = torch.isfinite(flat).reshape(h, w)
            img = torch.where(done[None], val.reshape(c, h, w), img)
            unknown &= ~done
        self.img = img

    def energy(self) -> float:
        """Mean squared distance of the patches touching the hole from their matches:
        how far the fill is from being made of the image's own patches (Wexler et
        al.'s objective)."""
        return float(((self.source_patches(self.nnf) - self.target_patches()) ** 2).sum(1).mean())

    def copied(self) -> torch.Tensor:
        """(C, H, W): what the last vote's copies put on each pixel, NaN where no patch
        reaches; on the known pixels next to the hole, for the seam's offset. (Owners
        are known pixels, which votes do not change.)"""
        c, h, w = self.img.shape
        owner = self.owner.reshape(-1)
        values = self.img.reshape(c, -1)[:, owner.clamp(min=0)]
        return torch.where(owner[None] >= 0, values, torch.nan).reshape(c, h, w)

    def vote(self) -> None:
        """Each hole pixel <- what the best-matching patch through it puts there. (A
        mean over all the patches through a pixel, as in Wexler et al., keeps a bit of
        blur: neighbour differences in grass and gravel fills came out at 56 % and 53 %
        of the real ones, against 97 % and 107 % with this vote; 160 px crops, 40 px
        hole.) ``owner`` keeps, per pixel, the flat index of the known pixel it was
        copied from (-1 where no patch reaches)."""
        c, h, w = self.img.shape
        p = self.p
        owner = torch.full((h * w,), -1, dtype=torch.long)
        best = torch.full((h * w,), float("inf"))
        src = self.img.reshape(c, -1)
        rank = self.dist * (1 - ANCHOR * self.anchored)
        for oy in range(p):
            for ox in range(p):
                to = (self.targets[:, 0] + oy) * w + self.targets[:, 1] + ox
                fr = (self.nnf[:, 0] + oy) * w + self.nnf[:, 1] + ox
                better = rank <= best[to]  # one target per pixel at a given offset: no collisions
                best[to[better]] = rank[better]
                owner[to[better]] = fr[better]
        est = torch.where(owner[None] >= 0, src[:, owner.clamp(min=0)], 0.0)
        self.owner = owner.reshape(h, w)
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
