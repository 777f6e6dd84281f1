"""``napari-gan predict MODEL INPUT OUTPUT``: a model file applied to an image file
block by block (:func:`~.blocks.predict_blocks`), written to zarr."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from ..tasks.base import load_model
from . import exit_status
from .blocks import DEFAULT_CHUNKS, predict_blocks
from .storage import open_image


def predict_main(args) -> int:
    """``napari-gan predict``: parsed ``args`` -> exit status (errors print one line)."""
    return exit_status(
        "predict",
        lambda: predict_file(
            args.model,
            args.input,
            args.output,
            component=args.component,
            chunks=args.chunks,
            scheduler=args.scheduler,
            axes=args.axes,
            overwrite=args.overwrite,
            device=args.device,
            output_kind=args.output_kind,
        ),
    )


def predict_file(
    model_path,
    input_path,
    output_path,
    *,
    component: str | None = None,
    chunks: int | None = None,
    scheduler: str | None = None,
    axes: str | None = None,
    overwrite: bool = False,
    device: str | None = None,
    output_kind: str | None = None,
    quiet: bool = False,
):
    """Predict an image file into a zarr array, block by block.

    ``scheduler``: None or ``"threads"`` (dask's threads in this process),
    ``"synchronous"``, or the address of a ``dask.distributed`` scheduler
    (``tcp://host:8786``). Returns the written zarr array.
    """
    out = Path(output_path)
    if out.resolve() == Path(input_path).resolve():
        raise InputError("the output must not be the input")
    if out.exists() and not overwrite:  # checked before the model and input are read
        raise InputError(f"output {str(output_path)!r} already exists; pass --overwrite to replace it")
    model = load_model(model_path)
    image, file_axes = open_image(input_path, component)
    options = {}
    if output_kind is not None:
        if type(model).__name__ != "Segmenter":
            raise InputError(f"--output-kind applies to a Segmenter, not a {type(model).__name__}")
        options["output"] = output_kind
    client = None
    if scheduler not in (None, "threads", "synchronous", "sync", "single-threaded"):
        try:
            from distributed import Client
        except ImportError:
            raise InputError("--scheduler ADDRESS needs dask.distributed: pip install distributed") from None
        client = Client(scheduler)
    done = [0]

    def progress(i, total):
        if not quiet and (i == total or i * 20 // total != done[0]):
            done[0] = i * 20 // total
            print(f"napari-gan predict: {i}/{total} blocks", file=sys.stderr, flush=True)

    try:
        return predict_blocks(
            model,
            image,
            axes=axes or file_axes,
            chunks=chunks or DEFAULT_CHUNKS[3 if "Z" in (axes or file_axes or model.axes or "") else 2],
            store=output_path,
            overwrite=overwrite,
            scheduler=client if client is not None else scheduler,
            device=device,
            progress=None if client is not None else progress,
            **options,
        )
    finally:
        if client is not None:
            client.close()
