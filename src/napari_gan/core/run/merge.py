"""Instance labels predicted block by block: globally unique ids, and objects cut by
block borders merged into one.

Each block is segmented with its halo, so two neighbouring blocks both segment a
strip on either side of the border between them. An object of one block and an
object of the other are the same object when they cover mostly the same pixels
of that strip (at least half of the smaller one's strip pixels); two different
objects that merely touch at the border overlap in neither block's view and stay
apart. The pairs found at every border make a graph over all blocks' ids whose
connected components (scipy.sparse.csgraph) are the final objects, numbered
1..K in block order. Compared with pairing the labels that touch across a border
(as cellpose's distributed segmentation does, after shrinking them), comparing
overlaps in a strip both blocks predicted needs no shrinking and keeps touching
objects apart.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

import numpy as np

from ..axes import from_ncs

#: half-width (pixels) of the strip around a border in which two blocks' objects are compared
STRIP = 8


@dataclass
class BlockLabels:
    """One block's segmentation: its own labels 1..n, without the halo (None once
    written to the store), the ids present there, and the halo-side strips."""

    core: np.ndarray | None
    n: int
    present: np.ndarray
    strips: dict


def _ranges(location, numblocks, halos, shape):
    """Per spatial axis: (halo before, halo after) present in the extended block."""
    out = []
    for i, h in enumerate(halos):
        lo = h if location[2 + i] > 0 else 0
        hi = h if location[2 + i] < numblocks[2 + i] - 1 else 0
        out.append((lo, shape[i] - hi))
    return out


def _segment(block, location, numblocks, predictor, halos, target, region) -> BlockLabels:
    lab = predictor(np.asarray(block), location[0])[0, 0]
    core_range = _ranges(location, numblocks, halos, lab.shape)
    core = lab[tuple(slice(a, b) for a, b in core_range)]
    strips = {}
    for i, (a, b) in enumerate(core_range):
        w = min(STRIP, halos[i])
        for side, face, has in (("lo", a, location[2 + i] > 0), ("hi", b, location[2 + i] < numblocks[2 + i] - 1)):
            if has and w:
                index = [slice(lo, hi) for lo, hi in core_range]
                index[i] = slice(face - w, face + w)
                strips[(i, side)] = lab[tuple(index)].copy()
    present = np.unique(core)
    present = present[present > 0]
    n = int(lab.max())
    if target is not None:
        target[region] = from_ncs(core[None, None], predictor.out_axes)
        core = None
    else:
        core = core.copy()
    predictor.tick()
    return BlockLabels(core, n, present, strips)


def _summary(block: BlockLabels) -> tuple[int, np.ndarray]:
    return block.n, block.present


def _face_pairs(a: BlockLabels, b: BlockLabels, axis: int) -> np.ndarray:
    """(M, 2) pairs (id in ``a``, id in ``b``) of one object seen from both sides of
    the border after ``a`` along spatial ``axis``."""
    sa, sb = a.strips.get((axis, "hi")), b.strips.get((axis, "lo"))
    if sa is None or sb is None:
        return np.empty((0, 2), np.int64)
    both = (sa > 0) & (sb > 0)
    if not both.any():
        return np.empty((0, 2), np.int64)
    pairs, counts = np.unique(np.stack([sa[both], sb[both]], 1).astype(np.int64), axis=0, return_counts=True)
    size_a = np.bincount(sa.reshape(-1).astype(np.int64))
    size_b = np.bincount(sb.reshape(-1).astype(np.int64))
    keep = 2 * counts >= np.minimum(size_a[pairs[:, 0]], size_b[pairs[:, 1]])
    return pairs[keep]


def relabelling(indices, summaries, faces) -> dict:
    """Lookup tables (one per block) from each block's ids to the final ids.

    Parameters
    ----------
    indices : list of tuple
        Block indices, in the order of ``summaries``.
    summaries : list of (int, ndarray)
        Per block: its highest id and the ids present in its core.
    faces : list of (tuple, tuple, ndarray)
        Neighbouring blocks ``a`` and ``b`` and the (M, 2) id pairs that are one object.

    Returns
    -------
    dict
        Block index -> int32 array ``lut`` with ``lut[local_id]`` the final id (0 stays 0).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    counts = np.array([n for n, _ in summaries], dtype=np.int64)
    offsets = dict(zip(indices, np.concatenate([[0], np.cumsum(counts)[:-1]])))
    total = int(counts.sum()) + 1  # node 0: background
    edges = [np.stack([p[:, 0] + offsets[a], p[:, 1] + offsets[b]], 1) for a, b, p in faces if len(p)]
    edges = np.concatenate(edges) if edges else np.empty((0, 2), np.int64)
    graph = coo_matrix((np.ones(len(edges), np.int8), (edges[:, 0], edges[:, 1])), shape=(total, total))
    _, component = connected_components(graph, directed=False)
    present = np.concatenate([offsets[i] + p for i, (_, p) in zip(indices, summaries)]).astype(np.int64)
    kept, first = np.unique(component[present], return_index=True)
    order = kept[np.argsort(first)]  # numbered in the order the blocks first show them
    if len(order) > np.iinfo(np.int32).max:
        from ..errors import InputError

        raise InputError(f"{len(order)} objects do not fit int32 labels")
    final = np.zeros(component.max() + 1, dtype=np.int32)
    final[order] = np.arange(1, len(order) + 1, dtype=np.int32)
    nodes = final[component]
    return {
        i: np.concatenate([[0], nodes[offsets[i] + 1 : offsets[i] + n + 1]]).astype(np.int32)
        for i, (n, _) in zip(indices, summaries)
    }


def _relabel(block: BlockLabels, luts: dict, index) -> np.ndarray:
    return luts[index][block.core][None, None]


def _relabel_region(target, region, lut: np.ndarray) -> None:
    target[region] = lut[np.asarray(target[region])]


def _regions(core_chunks, out_axes):
    """Block index -> the slices of ``out_axes`` that its core covers."""
    starts = [np.concatenate([[0], np.cumsum(c)]) for c in core_chunks]
    letters = "SC" + ("ZYX" if len(core_chunks) == 5 else "YX")
    regions = {}
    for index in itertools.product(*[range(len(c)) for c in core_chunks]):
        by = {a: slice(int(s[i]), int(s[i + 1])) for a, s, i in zip(letters, starts, index)}
        by["T"] = by["S"]
        regions[index] = tuple(by[a] for a in out_axes)
    return regions


def merged_labels(predictor, ext, core_chunks, halos, target, scheduler):
    """Instance labels of the extended blocks ``ext`` with objects merged across
    borders: a lazy dask array (``target`` None) or written to the zarr ``target``."""
    import dask
    import dask.array as da

    tag = uuid.uuid4().hex  # keys that are not a hash of the model's weights
    pred = dask.delayed(predictor, pure=False)
    numblocks = ext.numblocks
    regions = _regions(core_chunks, predictor.out_axes)
    blocks = ext.to_delayed()
    segment = dask.delayed(_segment, pure=True)
    seg = {}
    for index in itertools.product(*[range(n) for n in numblocks]):
        seg[index] = segment(
            blocks[index], index, numblocks, pred, halos, target, regions[index], dask_key_name=f"segment-{tag}-{index}"
        )
    indices = list(seg)
    summaries = [dask.delayed(_summary, pure=True)(seg[i]) for i in indices]
    faces = []
    for index in indices:
        for axis in range(len(halos)):
            after = list(index)
            after[2 + axis] += 1
            after = tuple(after)
            if after in seg:
                faces.append((index, after, dask.delayed(_face_pairs, pure=True)(seg[index], seg[after], axis)))
    if target is None:
        luts = dask.delayed(relabelling, pure=True)(indices, summaries, faces)
        parts = np.empty(numblocks, dtype=object)
        for index in indices:
            shape = (1, 1) + tuple(c[i] for c, i in zip(core_chunks[2:], index[2:]))
            part = dask.delayed(_relabel, pure=True)(seg[index], luts, index)
            parts[index] = da.from_delayed(part, shape, dtype=np.int32)
        return from_ncs(da.block(parts.tolist()), predictor.out_axes)
    summaries, faces = dask.compute(summaries, faces, scheduler=scheduler)
    luts = relabelling(indices, summaries, faces)
    writes = [dask.delayed(_relabel_region, pure=False)(target, regions[i], luts[i]) for i in indices]
    dask.compute(writes, scheduler=scheduler)
    return target
