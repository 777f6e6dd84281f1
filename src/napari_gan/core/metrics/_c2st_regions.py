"""Which pixels a classifier test (:mod:`.two_sample`) trains and tests on: the
masks of allowed pixels, and a division of them into training and test regions
(blocks, else halves) that leaves enough crops of each class on both sides, so that
no test crop overlaps a pixel the classifier trained on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError

#: fewest test crops (and training crops, counted the same way) per class
MIN_CROPS = 8
#: sides of the blocks that divide pixels between training and testing, in crops, tried in turn:
#: large blocks leave fewer test crops next to training pixels of the same object
_BLOCKS = (4, 2)


def _mask_set(masks, items: list[np.ndarray], name: str) -> list[np.ndarray]:
    """One boolean (Y, X) mask per image: ``None`` (all pixels), one 2D mask for every
    image, or one per image (a list or an (N, Y, X) array)."""
    if masks is None:
        return [np.ones(a.shape[:2], dtype=bool) for a in items]
    if isinstance(masks, (list, tuple)):
        masks = [np.asarray(m) for m in masks]
    else:
        arr = np.asarray(masks)
        if arr.ndim == 2:
            masks = [arr] * len(items)
        elif arr.ndim == 3:
            masks = list(arr)
        else:
            raise InputError(f"{name} must be a (Y, X) mask or one mask per image, got shape {arr.shape}")
    if len(masks) != len(items):
        raise InputError(f"{name} has {len(masks)} masks for {len(items)} images")
    out = []
    for m, a in zip(masks, items):
        if m.shape != a.shape[:2]:
            raise InputError(f"{name} of shape {m.shape} does not match an image of spatial shape {a.shape[:2]}")
        out.append(_as_bool(m, name))
    return out


def _as_bool(m: np.ndarray, name: str) -> np.ndarray:
    if m.dtype == bool:
        return m
    if m.dtype.kind not in "uif" or not np.isin(m, (0, 1)).all():
        raise InputError(f"{name} must be boolean (or 0/1), got dtype {m.dtype}")
    return m.astype(bool)


# --------------------------------------------------------------------------- crop positions


def _crop_starts(region: np.ndarray, crop: int) -> np.ndarray:
    """(Y - crop + 1, X - crop + 1) bool: the crop starting there lies wholly in ``region``."""
    h, w = region.shape
    if h < crop or w < crop:
        return np.zeros((max(h - crop + 1, 0), max(w - crop + 1, 0)), dtype=bool)
    s = np.zeros((h + 1, w + 1), dtype=np.int64)
    s[1:, 1:] = region.cumsum(0).cumsum(1)
    inside = s[crop:, crop:] - s[:-crop, crop:] - s[crop:, :-crop] + s[:-crop, :-crop]
    return inside == crop * crop


def _block_split(masks: list[np.ndarray], side: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Test-region maps: square blocks of ``side`` pixels that hold allowed pixels,
    shuffled over all images and given alternately to test and training."""
    blocks = []
    for i, m in enumerate(masks):
        h, w = m.shape
        for by in range(0, h, side):
            for bx in range(0, w, side):
                if m[by : by + side, bx : bx + side].any():
                    blocks.append((i, by, bx))
    order = rng.permutation(len(blocks))
    first = int(rng.integers(2))  # which of the two groups tests
    test = [np.zeros(m.shape, dtype=bool) for m in masks]
    for rank, k in enumerate(order):
        if rank % 2 == first:
            i, by, bx = blocks[k]
            test[i][by : by + side, bx : bx + side] = True
    return test


def _halves_split(masks: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Test-region maps: each image's allowed pixels cut in two at their median row
    or column, across the longer side of their bounding box (the seed chooses where
    both sides are equal, and which half tests)."""
    upper = bool(rng.integers(2))
    tie = int(rng.integers(2))
    test = []
    for m in masks:
        coords = np.nonzero(m)
        extent = [int(c.max() - c.min()) if c.size else 0 for c in coords]
        axis = tie if extent[0] == extent[1] else int(extent[1] > extent[0])
        cut = int(np.median(coords[axis])) + 1 if coords[axis].size else 0
        t = np.zeros(m.shape, dtype=bool)
        t[(slice(None, cut), slice(None)) if axis == 0 else (slice(None), slice(None, cut))] = True
        test.append(t if upper else ~t)
    return test


def _positions(starts: list[np.ndarray], stride: int, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """(K, 3) rows ``(image, y, x)`` of allowed crop starts on a grid of ``stride``."""
    out = []
    for i, s in enumerate(starts):
        sub = s[offset[0] :: stride, offset[1] :: stride]
        ys, xs = np.nonzero(sub)
        out.append(np.stack([np.full(ys.size, i), ys * stride + offset[0], xs * stride + offset[1]], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 3), dtype=np.int64)


@dataclass
class _Side:
    """One class's crops for one seed."""

    train: np.ndarray  # (K, 3) every allowed training start
    n_train: int  # training region in half-overlapping crops
    n_test: int  # test region in half-overlapping crops
    test: np.ndarray  # (T, 3) test starts, every crop // 4 pixels


def _side(masks, test_maps, crop: int, rng: np.random.Generator) -> _Side:
    half, quarter = max(1, crop // 2), max(1, crop // 4)
    train_starts = [_crop_starts(m & ~t, crop) for m, t in zip(masks, test_maps)]
    test_starts = [_crop_starts(m & t, crop) for m, t in zip(masks, test_maps)]
    offset = (int(rng.integers(quarter)), int(rng.integers(quarter)))
    n_test = len(_positions(test_starts, half))
    test = _positions(test_starts, quarter, offset)
    if len(test) < n_test:  # regions narrower than the random offset (a crop nearly the image's size)
        test = _positions(test_starts, quarter)
    n_train = len(_positions(train_starts, half))
    return _Side(train=_positions(train_starts, 1), n_train=n_train, n_test=n_test, test=test)


def _split(gen_masks, real_masks, crop: int, rng: np.random.Generator) -> tuple[str, _Side, _Side] | None:
    """The first division that gives both classes enough crops: blocks of ``4 * crop``,
    of ``2 * crop``, then halves; None if none does."""
    for side in (*(k * crop for k in _BLOCKS), None):
        sides = []
        for masks in (gen_masks, real_masks):
            maps = _halves_split(masks, rng) if side is None else _block_split(masks, side, rng)
            sides.append(_side(masks, maps, crop, rng))
        if all(s.n_test >= MIN_CROPS and s.n_train >= MIN_CROPS for s in sides):
            return ("halves" if side is None else f"blocks of {side} px"), sides[0], sides[1]
    return None


def _too_few(gen_masks, real_masks, crop: int) -> str:
    """The error message when no split gives enough crops."""
    stride = max(1, crop // 2)
    parts = []
    for name, masks in (("generated", gen_masks), ("real", real_masks)):
        n = len(_positions([_crop_starts(m, crop) for m in masks], stride))
        parts.append(f"{name}: {n}")
    return (
        f"too few {crop}x{crop} crops for a classifier test: it needs at least {MIN_CROPS} half-overlapping "
        f"crops of each class for training and as many, from other pixels, for testing; the allowed regions "
        f"hold ({', '.join(parts)}) in all. Use a smaller crop, larger images or larger masks."
    )
