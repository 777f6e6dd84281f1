"""Prediction of images larger than memory, block by block with dask.

The image is cut into blocks (dask chunks). Each block is predicted together with
a halo of its neighbours' pixels, at least the network's receptive field wide, so
that every kept pixel sees the same context as in a whole-image prediction; the
halo is then cropped. Intensity normalisation is fitted once on a strided sample
of the whole image, as the in-memory ``predict`` does, so that blocks do not
differ in brightness. Instance labels get globally unique ids and objects cut by
block borders are merged (:mod:`.merge`).

Nothing here starts processes: the blocks are dask tasks, run by dask's threaded
scheduler or by a ``dask.distributed`` cluster.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
import warnings

import numpy as np

from ..axes import check_axes, default_axes, from_ncs, spatial_dims, to_ncs
from ..data import lazy_or_array
from ..errors import InputError
from .storage import create_output

#: block edge (pixels per spatial axis) when the caller gives none
DEFAULT_CHUNKS = {2: 1024, 3: 128}
#: set by dask's nannies in every worker by default; it stops glibc adapting its mmap
#: threshold, and torch's convolutions ran about 1.3x slower there (docs/scale.md)
SLOW_MALLOC = "MALLOC_TRIM_THRESHOLD_"


def is_dask_array(x) -> bool:
    """True for a ``dask.array.Array`` (without importing dask for other inputs)."""
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(x, da.Array)


def receptive_radius(config) -> int:
    """Pixels on each side of an output pixel that a U-Net with ``config`` reads.

    Two 3x3 convolutions per level (radius ``2 * 2**level``) on the way down and
    up, two at the bottom, and one pixel at each level's scale for the pooling and
    the transposed convolution (two with blur pooling).
    """
    r = 2 * 2**config.depth
    for level in range(config.depth):
        r += 4 * 2**level + (3 if getattr(config, "blurpool", False) else 2) * 2**level
    return r


def round_up(value: int, multiple: int) -> int:
    return -(-int(value) // multiple) * multiple


class BlockPredictor:
    """How one trained model predicts a (1, C, *spatial) block: subclasses set the
    output channels, dtype, spatial ``scale``, output axes and the halo."""

    scale = 1
    dtype = np.dtype(np.float32)
    instances = False

    def __init__(self, model, src, axes: str, *, device: str | None, tile_size: int | None, **options):
        from ..training import resolve_device

        self.model, self.axes, self.tile_size = model, axes, tile_size
        self.device = resolve_device(device or model.device or "auto")
        self.progress = None
        self._lock = threading.Lock()
        self._done = 0
        self.total = 0

    def __getstate__(self):
        # a progress callback (often bound to a GUI) and a lock stay in this process
        state = dict(self.__dict__)
        state.update(progress=None, _lock=None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def halo(self) -> int:
        # with the receptive field as halo every kept pixel is computed from the same
        # pixels as in a whole-image prediction (the tile overlap is about blending
        # tiles, which happens inside each block as it does in the whole image)
        net = self._net()
        return round_up(receptive_radius(net.config), net.multiple)

    def _net(self):
        return self.model.net

    def tick(self) -> None:
        if self.progress is None:
            return
        with self._lock:
            self._done += 1
            done = self._done
        self.progress(done, self.total)


def _block_predictor(model, src, axes, *, device, tile_size, options) -> BlockPredictor:
    kind = type(model).__name__
    make = getattr(model, "block_predictor", None)
    if make is None:
        from ..tasks.base import MODEL_KINDS

        able = sorted(name for name, cls in MODEL_KINDS.items() if hasattr(cls, "block_predictor"))
        raise InputError(
            f"block prediction covers models that predict an image or labels ({', '.join(able)}), not a {kind}"
        )
    try:
        return make(src, axes, device=device, tile_size=tile_size, **options)
    except TypeError as exc:
        raise InputError(f"{kind} block prediction: {exc}") from None


def _axis_chunks(size: int, chunk: int, halo: int) -> tuple[int, ...]:
    """Regular chunks along one axis; a last piece narrower than the halo joins the
    one before (dask's overlap needs every chunk at least as wide as the halo)."""
    n, rest = divmod(size, chunk)
    sizes = [chunk] * n
    if rest:
        if sizes and rest < halo:
            sizes[-1] += rest
        else:
            sizes.append(rest)
    return tuple(sizes)


def _prepare(model, image, axes, chunks, halo, device, tile_size, options):
    """Validate and lay out the input: returns (predictor, ext, core_chunks, halo)."""
    import dask.array as da

    model._require_fitted()
    arr, _ = lazy_or_array(image)
    if not is_dask_array(arr):
        arr = da.from_array(arr)
    if arr.dtype.kind not in "uif":
        raise InputError(f"image has unsupported dtype {arr.dtype}; use an integer or floating-point image")
    if any(s == 0 for s in arr.shape):
        raise InputError(f"image is empty (shape {arr.shape})")
    if axes is None and hasattr(model, "_spec"):
        axes = model._spec.default_axes(model, arr.ndim) or default_axes(arr.shape)
    elif axes is None:
        axes = model.axes if model.axes and len(model.axes) == arr.ndim else default_axes(arr.shape)
    axes = check_axes(axes, arr.shape)
    dims = spatial_dims(axes)
    src = to_ncs(arr, axes)
    net = model.net["g"] if type(model).__name__ == "Translator" else model.net
    cfg = net.config
    if type(model).__name__ != "Translator":
        if dims != cfg.dims:
            raise InputError(f"this {type(model).__name__} is {cfg.dims}D but axes {axes!r} describe {dims}D data")
        if src.shape[1] != cfg.in_channels:
            raise InputError(
                f"this {type(model).__name__} expects {cfg.in_channels} channel(s), the image has {src.shape[1]}"
            )
    predictor = _block_predictor(model, src, axes, device=device, tile_size=tile_size, options=options)
    halo = predictor.halo() if halo is None else int(halo)
    if halo < 0:
        raise InputError(f"halo must be >= 0 pixels, got {halo}")
    if chunks is None:  # the input's own blocks
        chunks = tuple(c[0] for c in src.chunks[2:])
    edges = (int(chunks),) * dims if np.isscalar(chunks) else tuple(int(c) for c in chunks)
    if len(edges) != dims or min(edges) < 1:
        raise InputError(f"chunks must be one positive size or one per spatial axis ({dims}), got {chunks!r}")
    # a block at least as wide as the halo: dask's overlap reads only direct neighbours
    edges = tuple(round_up(max(c, halo), net.multiple) for c in edges)
    spatial = [_axis_chunks(s, c, halo) for s, c in zip(src.shape[2:], edges)]
    src = src.rechunk(((1,) * src.shape[0], (src.shape[1],), *spatial))
    depth = {0: 0, 1: 0, **{2 + i: min(halo, s) for i, s in enumerate(src.shape[2:])}}
    ext = da.overlap.overlap(src, depth=depth, boundary="none") if halo else src
    return predictor, ext, src.chunks, [depth[2 + i] for i in range(dims)]


def _environ(name: str) -> str | None:
    return os.environ.get(name)


def _warn_slow_workers(scheduler) -> None:
    """Warn when a ``distributed.Client``'s workers run with :data:`SLOW_MALLOC` set."""
    if not callable(getattr(scheduler, "run", None)):
        return
    try:
        found = scheduler.run(_environ, SLOW_MALLOC)
    except Exception:  # noqa: BLE001 - a check, never a reason to fail a prediction
        return
    slow = [worker for worker, value in found.items() if value is not None]
    if slow:
        warnings.warn(
            f"{len(slow)} of {len(found)} dask workers run with {SLOW_MALLOC} set (dask's default), which made "
            "torch about 1.3x slower in them; start the workers without it (docs/scale.md, 'A dask cluster')",
            RuntimeWarning,
            stacklevel=3,
        )


def _crop(out: np.ndarray, location, numblocks, halos, scale: int) -> np.ndarray:
    """Cut the halo (present only towards neighbouring blocks) off a block's output."""
    index = [slice(None), slice(None)]
    for i, h in enumerate(halos):
        lo = h * scale if location[2 + i] > 0 else 0
        hi = h * scale if location[2 + i] < numblocks[2 + i] - 1 else 0
        index.append(slice(lo, out.shape[2 + i] - hi))
    return out[tuple(index)]


def _predict_block(block, predictor, halos, block_info=None):
    info = block_info[0]
    out = predictor(np.asarray(block), info["chunk-location"][0])
    out = _crop(out, info["chunk-location"], info["num-chunks"], halos, predictor.scale)
    predictor.tick()
    return out.astype(predictor.dtype, copy=False)


def predict_blocks(
    model,
    image,
    *,
    axes: str | None = None,
    chunks: int | tuple[int, ...] | None = None,
    halo: int | None = None,
    store=None,
    component: str | None = None,
    overwrite: bool = False,
    scheduler=None,
    device: str | None = None,
    tile_size: int | None = None,
    progress=None,
    **options,
):
    """Predict ``image`` block by block, lazily or into a zarr store.

    Parameters
    ----------
    model : Denoiser, Segmenter or Translator
        A trained model (its predict maps an image to an image or to labels).
    image : array-like (dask, zarr, numpy), shape per ``axes``
        Read one block (plus halo) at a time.
    axes : str, optional
        Letters from ``STCZYX``; default: the training axes when the number of
        dimensions agrees, else guessed from the shape.
    chunks : int or tuple of int, optional
        Block edge per spatial axis (default: the input's chunks), rounded up to
        a multiple the network needs and to at least the halo. Memory per task
        grows with the block's area (volume). The command line's default is
        1024 in 2D, 128 in 3D (``DEFAULT_CHUNKS``).
    halo : int, optional
        Pixels of context read around each block and cropped after prediction.
        Default: the network's receptive field, plus three typical object radii
        for instance labels.
    store : str, path, zarr store or zarr group, optional
        Where to write the result as a zarr array (chunked like the blocks).
        None returns a lazy dask array.
    component : str, optional
        Path of the array inside ``store`` (default: its root).
    overwrite : bool
        Replace an existing array at ``store``/``component``; otherwise refuse.
    scheduler : str or distributed.Client, optional
        Used when writing to ``store``: a dask scheduler name ("threads",
        "synchronous", ...) or a ``dask.distributed.Client``. Default: dask's.
    device, tile_size : optional
        As for the model's ``predict``.
    progress : callable(done, total), optional
        Called after each block (in this process: local schedulers only).
    **options
        Options of the model's ``predict``: ``output`` (Segmenter), ``tta``
        (Denoiser).

    Returns
    -------
    dask.array.Array or zarr.Array
        Lazy result with the same layout as ``model.predict(image)`` gives (for
        ``superres``, Y and X times ``scale``), or the written zarr array.

    Notes
    -----
    Instance labels are written in two passes when ``store`` is given: the blocks'
    own labels first, then every block is relabelled to globally unique ids with
    the objects cut by block borders merged; no pass holds the whole output. A
    lazy instance result keeps the blocks' labels in memory until the merge is
    known, so for labels larger than memory give ``store``.
    """
    import dask.array as da

    predictor, ext, core_chunks, halos = _prepare(model, image, axes, chunks, halo, device, tile_size, options)
    _warn_slow_workers(scheduler)
    predictor.progress = progress
    predictor.total = int(np.prod(ext.numblocks))
    s = predictor.scale
    out_chunks = (core_chunks[0], (predictor.out_channels,)) + tuple(tuple(c * s for c in cs) for cs in core_chunks[2:])
    target = None
    if store is not None:
        shape = _layout_chunks(out_chunks, predictor.out_axes, sizes=True)
        lead = ("class",) if len(shape) > len(predictor.out_axes) else ()
        target = create_output(
            store,
            component,
            shape,
            _layout_chunks(out_chunks, predictor.out_axes),
            predictor.dtype,
            overwrite=overwrite,
            names=lead + tuple(a.lower() for a in predictor.out_axes),
        )
    if predictor.instances:
        from .merge import merged_labels

        return merged_labels(predictor, ext, core_chunks, halos, target, scheduler)
    import dask

    ncs = da.map_blocks(
        _predict_block,
        ext,
        dask.delayed(predictor, pure=False),  # one copy of the weights in the graph, not one per block
        halos,
        chunks=out_chunks,
        dtype=predictor.dtype,
        meta=np.empty((0,) * ext.ndim, predictor.dtype),
        name=f"predict-{uuid.uuid4().hex}",  # not a hash of the model's weights
    )
    result = _to_axes(ncs, predictor)
    if target is None:
        return result
    da.store(result, target, lock=False, scheduler=scheduler)
    return target


def _to_axes(ncs, predictor):
    """(N, K, *spatial) -> the layout ``predict`` returns (probabilities: K first)."""
    import dask.array as da

    if getattr(predictor, "output", None) == "probabilities":
        # one chunk along K: each zarr chunk is then written by one task
        stacked = da.stack([from_ncs(ncs[:, k : k + 1], predictor.out_axes) for k in range(ncs.shape[1])])
        return stacked.rechunk({0: -1})
    return from_ncs(ncs, predictor.out_axes)


def _layout_chunks(chunks_ncs, out_axes, sizes: bool = False):
    """Chunk sizes (or shape, ``sizes=True``) of an (N, K, *spatial) array in ``out_axes``.

    A leading K axis stands first for probabilities (``out_axes`` without C)."""
    letters = "SC" + ("ZYX" if len(chunks_ncs) == 5 else "YX")
    pick = {a: (sum(c) if sizes else max(c)) for a, c in zip(letters, chunks_ncs)}
    pick["T"] = pick["S"]
    lead = () if "C" in out_axes or pick["C"] == 1 else (pick["C"],)
    return lead + tuple(pick[a] for a in out_axes)
