"""Inputs and outputs of ``napari-gan predict``: zarr and OME-Zarr, ``.npy`` and
TIFF in; a zarr array out. Inputs are opened lazily (dask) and checked before
anything is computed or allocated."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError

#: an input chunk larger than this is refused: every block would have to read it whole
MAX_CHUNK_BYTES = 1 << 30
_OME_AXES = {"t": "T", "c": "C", "z": "Z", "y": "Y", "x": "X"}


def _zarr():
    try:
        import zarr
    except ImportError:
        raise InputError("reading and writing zarr needs the zarr package: pip install zarr") from None
    return zarr


def _ome_image(group) -> tuple[str, str | None] | None:
    """(path of the full-resolution array, axes) of an OME-Zarr image group, or None."""
    attrs = dict(group.attrs)
    multiscales = attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales")
    if not multiscales:
        return None
    first = multiscales[0]
    path = first["datasets"][0]["path"]
    names = [a["name"] if isinstance(a, dict) else a for a in first.get("axes", [])]
    letters = [_OME_AXES.get(str(n).lower()) for n in names]
    return path, ("".join(letters) if names and None not in letters else None)


def open_image(path, component: str | None = None):
    """Open an image lazily.

    Parameters
    ----------
    path : str or Path
        A zarr array or group (OME-Zarr: its full-resolution level), a ``.npy``
        file (memory-mapped) or a TIFF file (read tile by tile).
    component : str, optional
        Path of the array inside a zarr group or a TIFF's zarr view.

    Returns
    -------
    image : dask.array.Array
    axes : str or None
        From OME-Zarr metadata when it names its axes; else None.
    """
    import dask.array as da

    p = Path(path)
    if not p.exists():
        raise InputError(f"input {str(path)!r} does not exist")
    suffix = p.suffix.lower()
    axes = None
    if suffix == ".npy":
        try:
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        except ValueError as exc:
            raise InputError(f"{path}: not a plain numeric .npy array ({exc})") from None
        node = arr
    else:
        zarr = _zarr()
        if suffix in (".tif", ".tiff"):
            import tifffile

            try:
                store = tifffile.imread(p, aszarr=True)
            except (tifffile.TiffFileError, ValueError) as exc:
                raise InputError(f"{path}: not a readable TIFF ({exc})") from None
            node = zarr.open(store, mode="r")
        else:
            try:
                node = zarr.open(str(p), mode="r")
            except Exception as exc:  # zarr raises several kinds for "not a zarr store"
                raise InputError(f"{path}: not a zarr array or group, nor a .npy or TIFF file ({exc})") from None
        if isinstance(node, zarr.Group):
            ome = _ome_image(node) if component is None else None
            if ome is not None:
                component, axes = ome
            if component is None:
                arrays = sorted(node.array_keys())
                if len(arrays) != 1:
                    raise InputError(
                        f"{path} is a zarr group with arrays {arrays}; choose one with --component"
                        if arrays
                        else f"{path} is a zarr group without arrays; choose one with --component"
                    )
                component = arrays[0]
            if component not in node or not isinstance(node[component], zarr.Array):
                raise InputError(f"{path} has no array {component!r}; it has {sorted(node.array_keys())}")
            node = node[component]
        elif component is not None:
            raise InputError(f"{path} is a single array; --component {component!r} does not apply")
        chunk_bytes = int(np.prod(node.chunks)) * node.dtype.itemsize
        if chunk_bytes > MAX_CHUNK_BYTES:
            raise InputError(
                f"{path}: chunks {node.chunks} of {chunk_bytes / 2**30:.1f} GiB each are too large to read "
                "block by block; rechunk the store"
            )
    if node.dtype.kind not in "uif":
        raise InputError(f"{path} has dtype {node.dtype}; use an integer or floating-point image")
    if node.ndim < 2 or any(s == 0 for s in node.shape):
        raise InputError(f"{path} has shape {node.shape}; an image needs at least Y and X")
    return da.from_array(node, chunks=getattr(node, "chunks", "auto"), lock=False), axes


def create_output(store, component, shape, chunks, dtype, *, overwrite: bool = False, names=None):
    """Create the zarr array a prediction is written to; refuse an existing one unless
    ``overwrite``."""
    zarr = _zarr()
    options = dict(shape=shape, chunks=chunks, dtype=dtype, fill_value=0, dimension_names=names)
    if isinstance(store, zarr.Group):
        if component is None:
            raise InputError("writing into a zarr group needs component= (the array's name)")
        if component in store and not overwrite:
            raise InputError(f"the group already has {component!r}; pass overwrite=True to replace it")
        return store.create_array(component, overwrite=overwrite, **options)
    if isinstance(store, (str, Path)):
        p = Path(store)
        existing = p / component if component else p
        if existing.exists() and not overwrite:
            raise InputError(f"output {str(existing)!r} already exists; pass --overwrite to replace it")
        store = str(p)
    try:
        return zarr.create_array(store=store, name=component, overwrite=overwrite, **options)
    except zarr.errors.ContainsArrayError:
        raise InputError("the output store already holds an array there; pass overwrite=True to replace it") from None
