"""Command line: ``napari-gan`` (or ``python -m napari_gan``).

``napari-gan`` alone, or ``napari-gan gui``, opens napari with the Denoise widget
docked and the noisy camera sample loaded. ``napari-gan train CONFIG [--resume]``
trains headless, under torchrun data-parallel (:mod:`napari_gan.core.run.train`);
``napari-gan predict MODEL INPUT OUTPUT`` predicts block by block
(:mod:`napari_gan.core.run.blocks`); ``napari-gan generate MODEL OUTPUT`` writes
samples or textures of a saved GAN (:mod:`napari_gan.core.run.generate`). None of
them imports Qt.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

PLUGIN = "napari-gan"


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PLUGIN, description="Train CNNs and GANs on napari layers.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="open napari with the Denoise widget and a sample (default)")
    gui.add_argument(
        "--sample",
        default="noisy_camera",
        help="napari-gan sample to open, or 'none' (default: %(default)s)",
    )
    gui.add_argument("--widget", default="Denoise", help="widget to dock (default: %(default)s)")
    _add_train_parser(sub)
    _add_predict_parser(sub)
    _add_generate_parser(sub)
    return parser


def _add_train_parser(sub) -> None:
    train = sub.add_parser(
        "train",
        help="train the model a run config (YAML/TOML) describes, without a GUI; under torchrun: data-parallel",
        description="Train headless. Under `torchrun --nproc_per_node N -m napari_gan train CONFIG` every process "
        "trains a replica on its share of the batch (gloo on CPU, nccl on GPU).",
    )
    train.add_argument("config", help="run config file (.yaml, .yml or .toml)")
    train.add_argument("--resume", action="store_true", help="continue the run in the config's output folder")


def _add_predict_parser(sub) -> None:
    predict = sub.add_parser(
        "predict",
        help="apply a saved model to an image (zarr, OME-Zarr, .npy, TIFF) block by block, writing zarr",
        description="Predict block by block with dask: each block is read with a halo of context, predicted and "
        "written to a zarr array, so neither the image nor the result needs to fit in memory. Instance labels "
        "get unique ids, with objects cut by block borders merged.",
    )
    predict.add_argument("model", help="model file (.ngan) saved by napari-gan")
    predict.add_argument("input", help="input image: a zarr array or group (OME-Zarr), a .npy or a .tif file")
    predict.add_argument("output", help="output zarr array (a folder; refused if it exists, unless --overwrite)")
    predict.add_argument(
        "--component",
        metavar="PATH",
        help="array inside the input zarr group (default: OME-Zarr level 0, or the only array)",
    )
    predict.add_argument("--chunks", type=int, metavar="N", help="block edge in pixels (default 1024 in 2D, 128 in 3D)")
    predict.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="dask.distributed scheduler address (tcp://host:8786); default: dask's threads in this process",
    )
    predict.add_argument(
        "--axes", help="axes of the input, letters from STCZYX (default: OME-Zarr metadata, else the model's)"
    )
    predict.add_argument("--overwrite", action="store_true", help="replace an existing output")
    predict.add_argument("--device", help="cpu, cuda, mps (default: auto)")
    predict.add_argument(
        "--output-kind",
        choices=("labels", "instances", "classes", "probabilities"),
        help="Segmenter only: what to write (default: labels)",
    )


def _add_generate_parser(sub) -> None:
    generate = sub.add_parser(
        "generate",
        help="generate samples or a texture with a saved ImageGAN, into a .npy, .tif or .zarr file",
        description="Generate with a GAN saved by napari-gan (trained in napari, from Python or with "
        "`napari-gan train`): a stack (N, Y, X[, C]) of float32 images in the training data's range. "
        "The same model, seed and options give the same images as ImageGAN.generate and the widget.",
    )
    generate.add_argument("model", help="ImageGAN model file (.ngan)")
    generate.add_argument("output", help="output file: .npy, .tif/.tiff or .zarr (refused if it exists)")
    generate.add_argument("--count", type=int, metavar="N", help="how many images (default: 16 samples, or 1 texture)")
    generate.add_argument("--seed", type=int, default=0, help="the same seed gives the same images (default: 0)")
    generate.add_argument("--size", metavar="HxW", help="texture models: output size, e.g. 1024 or 768x1024")
    generate.add_argument("--class", dest="label", metavar="NAME", help="class-conditional models: the class")
    generate.add_argument(
        "--detail",
        choices=("patches", "layout", "generator"),
        default="patches",
        help="texture models: the generator's layout, rearranged to match the training image's patches and "
        "filled in with them (default), the same with a layout made from the training image alone, or the "
        "generator alone (nothing copied)",
    )
    generate.add_argument("--overwrite", action="store_true", help="replace an existing output")


def gui(*, sample: str | None = "noisy_camera", widget: str = "Denoise") -> None:
    """Open napari with one of the plugin's widgets docked and a sample loaded.

    Parameters
    ----------
    sample : str or None, optional
        Key of a napari-gan sample (see napari.yaml); None opens none.
    widget : str, optional
        Display name of the widget to dock.
    """
    # napari is imported here, not at module level, so that other subcommands
    # (headless training) run without Qt.
    import napari

    viewer = napari.Viewer()
    if sample:
        viewer.open_sample(PLUGIN, sample)
    viewer.window.add_plugin_dock_widget(PLUGIN, widget)
    napari.run()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``napari-gan`` console script.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name; by default ``sys.argv[1:]``.

    Returns
    -------
    status : int
        Process exit status.
    """
    args = _build_parser().parse_args(argv)
    if args.command in (None, "gui"):
        # A bare `napari-gan` did not go through the gui subparser: use its defaults.
        sample = getattr(args, "sample", "noisy_camera")
        widget = getattr(args, "widget", "Denoise")
        gui(sample=None if sample.lower() == "none" else sample, widget=widget)
    elif args.command == "train":
        return _train(args)
    elif args.command == "predict":
        from .core.run.predict import predict_main

        return predict_main(args)
    elif args.command == "generate":
        from .core.run.generate import generate_main

        return generate_main(args)
    return 0


def _train(args) -> int:
    from .core.errors import CheckpointError, InputError
    from .core.run.train import train

    try:
        train(args.config, resume=args.resume)
    except (InputError, CheckpointError) as exc:
        print(f"{PLUGIN} train: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(f"{PLUGIN} train: {exc or 'stopped'}", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
