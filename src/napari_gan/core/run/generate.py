"""``napari-gan generate MODEL OUTPUT``: samples or textures from a saved ImageGAN,
written to a .npy, .tif or zarr file, without Qt (for a GAN trained headless with
``napari-gan train``, on a cluster)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..tasks.base import load_model
from . import exit_status

#: what ``--detail`` asks of a texture model -> ``ImageGAN.generate(refine=...)``
DETAIL = {"patches": True, "layout": "example", "generator": False}
#: how many images are generated unless told (``--count``, the widget's Count): a grid
#: of samples, but one texture (a refined 512 x 512 texture takes about four minutes on
#: 2 CPU cores, so 16 of them would keep a user waiting an hour)
COUNT = {"samples": 16, "texture": 1}
SUFFIXES = (".npy", ".tif", ".tiff", ".zarr")


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"512"`` or ``"384x512"`` (Y x X) -> (Y, X); None -> None."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX,]\s*(\d+))?\s*", text)
    if not m:
        raise InputError(f"--size must be N or HxW (e.g. 512 or 384x512), got {text!r}")
    y = int(m.group(1))
    return (y, int(m.group(2)) if m.group(2) else y)


def generate_main(args) -> int:
    """``napari-gan generate``: parsed ``args`` -> exit status (errors print one line)."""
    return exit_status(
        "generate",
        lambda: generate_file(
            args.model,
            args.output,
            count=args.count,
            seed=args.seed,
            size=parse_size(args.size),
            label=args.label,
            detail=args.detail,
            overwrite=args.overwrite,
        ),
    )


def generate_file(
    model_path,
    output_path,
    *,
    count: int | None = None,
    seed: int = 0,
    size: tuple[int, int] | None = None,
    label: str | None = None,
    detail: str = "patches",
    overwrite: bool = False,
    quiet: bool = False,
) -> np.ndarray:
    """Generate with the ImageGAN saved at ``model_path`` and write the stack (N, Y, X[, C],
    float32, the training data's range) to ``output_path``; returns it. Everything the
    options can get wrong is refused before anything is generated."""
    out = Path(output_path)
    if out.suffix.lower() not in SUFFIXES:
        raise InputError(f"output must end in {', '.join(SUFFIXES)}, got {str(output_path)!r}")
    if out.exists() and not overwrite:
        raise InputError(f"output {str(output_path)!r} already exists; pass --overwrite to replace it")
    if detail not in DETAIL:
        raise InputError(f"--detail must be one of {', '.join(DETAIL)}, got {detail!r}")
    model = load_model(model_path)
    if type(model).__name__ != "ImageGAN":
        raise InputError(f"{model_path} holds a {type(model).__name__}, not an ImageGAN: use napari-gan predict")
    texture = model.mode == "texture"
    if not texture and (size is not None or detail != "patches"):
        raise InputError("--size and --detail are for texture models; this one makes samples of its training size")
    if texture and label is not None:
        raise InputError("--class is for class-conditional samples; this is a texture model")
    if texture and DETAIL[detail] and not model.can_refine:
        raise InputError("this texture model was saved without its training image; use --detail generator")
    refine = DETAIL[detail] if texture else None
    n = COUNT[model.mode] if count is None else count

    shown = [-1]

    def progress(done, total):
        percent = 100 * done // max(total, 1)
        if not quiet and percent // 5 != shown[0]:
            shown[0] = percent // 5
            print(f"napari-gan generate: {percent} %", file=sys.stderr, flush=True)

    images = model.generate(n, seed=seed, classes=label, size=size, refine=refine, progress=progress)
    _write(out, images, overwrite)
    if not quiet:
        print(f"napari-gan generate: wrote {images.shape} to {out}", file=sys.stderr)
    return images


def _write(out: Path, images: np.ndarray, overwrite: bool) -> None:
    suffix = out.suffix.lower()
    if suffix == ".zarr":
        from .storage import create_output

        arr = create_output(str(out), None, images.shape, images.shape, images.dtype, overwrite=overwrite)
        arr[...] = images
    elif suffix == ".npy":
        np.save(out, images, allow_pickle=False)
    else:
        import tifffile

        tifffile.imwrite(out, images)
