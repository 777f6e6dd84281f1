"""Writing a bioimage.io model package (spec 0.5) of a fitted model with bioimageio.spec,
and testing it with bioimageio.core, offline.

The package holds the packaged network (:mod:`.network`) as a PyTorch state dict with
its architecture as a source file (``napari_gan/core/models/unet.py`` followed by
``network.py``) and as TorchScript; input and output axes; the processing ops; test
tensors from our own ``predict`` on a small image; a cover made from that
prediction; a README; and the model's ``.ngan`` checkpoint.
"""

from __future__ import annotations

import datetime
import inspect
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from ..models import unet as unet_module
from . import network
from .kinds import ExportError, Plan, check_exportable, plan

EXTRA_HINT = "pip install 'napari-gan[bioimageio]'"
ARCHITECTURE_FILE = "napari_gan_network.py"
_IMPORT_LINE = "from ..models.unet import UNet, UNetConfig"


def _bioimageio():
    try:
        import bioimageio.core  # noqa: F401
        import bioimageio.spec  # noqa: F401
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"exporting to bioimage.io needs bioimageio.core and bioimageio.spec ({exc}): {EXTRA_HINT}"
        ) from None


def export_bioimageio(
    model,
    path,
    *,
    name: str | None = None,
    description: str | None = None,
    authors=None,
    license: str = "CC-BY-4.0",
    tags: list[str] | None = None,
    test_image=None,
    axes: str | None = None,
    overwrite: bool = False,
    test: bool = True,
) -> Path:
    """Write ``model`` as a bioimage.io model package (format 0.5, a ``.zip``).

    Parameters
    ----------
    model : Denoiser, Segmenter or Translator
        Fitted. Translator tasks: paired, unpaired (A -> B), superres, deblur.
    path : str or Path
        The ``.zip`` to write.
    name, description : str, optional
        The package's name (letters, digits, spaces, ``_+-()``, 5-128 characters)
        and one-line description; default from the model.
    authors : list of str or dict, optional
        Names, or dicts with ``name`` and optionally ``affiliation``, ``email``,
        ``orcid``. Default: one author, "napari-gan user".
    license : str
        SPDX identifier of the weights' licence.
    tags : list of str, optional
        Added to the tags chosen from the model kind.
    test_image : array-like, optional
        An image in the model's layout (e.g. one the model was trained on): its
        centre (at most 64 pixels per axis, 32 planes in Z) becomes the package's
        test input and cover. Default: generated nuclei.
    axes : str, optional
        Axes of ``test_image`` (default: the training axes or guessed from the shape).
    overwrite : bool
        Replace an existing file at ``path``.
    test : bool
        Run bioimageio.core's ``test_model`` on the package before it is written
        (a few seconds); a failure raises and writes nothing.

    Returns
    -------
    Path
        The written package.

    Raises
    ------
    ValueError
        If ``path`` does not end in ``.zip``, or a name, author or licence is not
        valid for bioimage.io (pydantic's ValidationError).
    ExportError
        For model kinds that do not map an image to an image or labels (ImageGAN,
        classifiers, detectors) and Translator tasks inpaint and colorize.
    RuntimeError
        If the model is not fitted, or the package fails bioimageio.core's test.
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ModuleNotFoundError
        If bioimageio.core is not installed (the ``bioimageio`` extra).
    """
    path = Path(path)
    if path.suffix.lower() != ".zip":
        raise ValueError(f"a bioimage.io package is a .zip file, not {path.name!r}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    check_exportable(model)
    model._require_fitted()
    _bioimageio()
    kind_plan = plan(model, test_image, axes)
    from bioimageio.spec import save_bioimageio_package

    with tempfile.TemporaryDirectory(prefix="napari-gan-bmz-") as tmp:
        descr = _describe(model, kind_plan, Path(tmp), name, description, authors, license, tags or [])
        if test:
            summary = check_package(descr)
            if summary.status != "passed":
                raise RuntimeError(f"the bioimage.io package failed bioimageio.core's test:\n{summary.format()}")
        path.parent.mkdir(parents=True, exist_ok=True)
        out = save_bioimageio_package(descr, output_path=path)
    return Path(out)


def check_package(source):
    """bioimageio.core's ``test_model`` on a package (a ``.zip``, or a description),
    without network access: the description's files are all in the package."""
    _bioimageio()
    import gc

    from bioimageio.core import test_model

    # bioimageio.core runs a full garbage collection at every model unload (a dozen per
    # test); with torch and napari loaded each took ~0.5 s. Objects alive now are no
    # garbage of the test's, so they are left out of those collections.
    # TorchScript's optimising executor re-profiles the graph for every new input shape
    # the test tries (~0.5 s each); the results are the same without it.
    gc.freeze()
    try:
        with torch.jit.optimized_execution(False):
            return test_model(source, devices=["cpu"])
    finally:
        gc.unfreeze()


# --------------------------------------------------------------------------- pieces


def architecture_source() -> str:
    """``unet.py`` followed by ``network.py``: one file that needs only torch."""
    unet = inspect.getsource(unet_module)
    own = inspect.getsource(network)
    if _IMPORT_LINE not in own:
        raise RuntimeError("network.py no longer imports the U-Net the way the package's file expects")
    parts = []
    for origin, text in (
        ("napari_gan/core/models/unet.py", unet),
        ("napari_gan/core/bmz/network.py", own.replace(_IMPORT_LINE, "# (UNet and UNetConfig: defined above)")),
    ):
        body = "\n".join(line for line in text.splitlines() if line != "from __future__ import annotations")
        parts.append(f"# {'-' * 20} {origin} {'-' * 20}\n\n{body}\n")
    header = (
        '"""napari-gan\'s U-Net and PackagedNet: the network of a bioimage.io package exported by '
        'napari-gan (needs only torch)."""\n\nfrom __future__ import annotations\n\n'
    )
    return header + "\n\n".join(parts)


def packaged_net(kind_plan: Plan) -> network.PackagedNet:
    """The packaged network with the model's weights, on the CPU, in eval mode."""
    net_config = kind_plan.net.config.to_dict()
    wrapped = network.PackagedNet(net_config, **kind_plan.wrapper)
    wrapped.net.load_state_dict({k: v.detach().cpu() for k, v in kind_plan.net.state_dict().items()})
    return wrapped.eval()


def _torchscript(kind_plan: Plan, example: torch.Tensor):
    """The packaged network scripted around a traced U-Net (the U-Net's config object is
    not scriptable; tracing it is exact, its forward has no data-dependent branches)."""
    wrapped = packaged_net(kind_plan)
    # torch marks TorchScript deprecated; it is still the format bioimage.io's consumers run
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        inner = wrapped._upsample(example) if wrapped.upscale > 1 else example
        wrapped.net = torch.jit.trace(wrapped.net, wrapped._pad(inner), check_trace=False)
        return torch.jit.script(wrapped)


def _apply_ops(ops: list[dict], x: np.ndarray) -> np.ndarray:
    """The processing ops a plan uses, applied to (B, C, ...) as bioimageio.core does."""
    x = np.asarray(x, dtype=np.float32)
    for op in ops:
        kw = op["kwargs"]
        if op["id"] == "scale_range":  # per sample and channel: the ops' axes are the spatial ones
            flat = x.reshape(x.shape[:2] + (-1,))
            lo, hi = np.percentile(flat, [kw["min_percentile"], kw["max_percentile"]], axis=-1)
            shape = x.shape[:2] + (1,) * (x.ndim - 2)
            x = (x - lo.reshape(shape)) / (hi - lo + kw["eps"]).reshape(shape)
        elif op["id"] == "scale_linear":
            shape = (1, -1) + (1,) * (x.ndim - 2)
            x = x * np.reshape(kw["gain"], shape) + np.reshape(kw["offset"], shape)
        elif op["id"] == "softmax":
            e = np.exp(x - x.max(axis=1, keepdims=True))
            x = e / e.sum(axis=1, keepdims=True)
        else:
            raise ValueError(f"unknown op {op['id']!r}")
    return x.astype(np.float32)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(image, [1, 99.8]) if image.size else (0.0, 1.0)
    scaled = (image.astype(np.float64) - lo) / (hi - lo if hi > lo else 1.0)
    return (np.clip(scaled, 0, 1) * 255).round().astype(np.uint8)


def _panel(arr: np.ndarray, labels: bool) -> np.ndarray:
    """(Y, X, 3) uint8 of a (C, [Z,] Y, X) array, or of a label image."""
    if labels:
        from skimage.color import label2rgb

        arr = arr[arr.shape[0] // 2] if arr.ndim == 3 else arr
        return (label2rgb(arr, bg_label=0) * 255).round().astype(np.uint8)
    if arr.ndim == 4:  # (C, Z, Y, X): the middle plane
        arr = arr[:, arr.shape[1] // 2]
    rgb = arr[:3] if arr.shape[0] == 3 else np.repeat(arr[:1], 3, axis=0)
    return np.moveaxis(_to_uint8(rgb), 0, -1)


def write_cover(path: Path, kind_plan: Plan) -> Path:
    """Input beside the model's result, 2:1, at least 256 pixels high."""
    import imageio.v3 as iio

    labels = kind_plan.cover.dtype.kind in "iu"
    right = _panel(kind_plan.cover, labels)
    left = _panel(kind_plan.test_input[0], False)
    f = right.shape[0] // left.shape[0]
    left = np.repeat(np.repeat(left, f, axis=0), f, axis=1)[: right.shape[0], : right.shape[1]]
    image = np.concatenate([left, right], axis=1)
    k = max(1, -(-256 // image.shape[0]))
    image = np.repeat(np.repeat(image, k, axis=0), k, axis=1)
    iio.imwrite(path, image)
    return path


def write_readme(path: Path, model, kind_plan: Plan, name: str, description: str) -> Path:
    from ... import __version__

    lines = [
        f"# {name}",
        "",
        *([description, ""] if description != kind_plan.summary else []),
        f"Exported by napari-gan {__version__} on {datetime.date.today().isoformat()} from a {model.kind} trained "
        f"for {model.steps_trained} steps. {kind_plan.summary}",
        "",
        "## What the package computes",
        "",
        *[f"{i}. {step}." for i, step in enumerate(kind_plan.processing, 1)],
        "",
        "Input: `input`, axes (batch, channel, "
        + ", ".join(kind_plan.spatial)
        + "), float32, channels "
        + ", ".join(kind_plan.in_channels)
        + f", any size from {kind_plan.net.multiple} pixels per axis (the network pads). Output: `output`, channels "
        + ", ".join(kind_plan.out_channels)
        + (f", {kind_plan.upscale} times the input's size in y and x." if kind_plan.upscale > 1 else ", same size."),
        "",
        "## What it does not express",
        "",
        *[f"- {item}." for item in kind_plan.not_expressed],
        "",
        "## Validation",
        "",
        "The test output is napari-gan's own prediction of the test input; bioimageio.core's test_model "
        "reproduces it with both weight formats (napari-gan runs that test before it writes a package, unless "
        "told not to). The package carries no accuracy measurement: check the model on images with a known "
        "answer before relying on it.",
        "",
        "## Files",
        "",
        "- `weights.pt` (PyTorch state dict; architecture: `PackagedNet` in "
        f"`{ARCHITECTURE_FILE}`, napari-gan's own U-Net and wrapper) and `weights.torchscript.pt` (TorchScript).",
        "- `test_input.npy`, `test_output.npy` (and the same as `sample_*.tif`): a test image and napari-gan's "
        "own prediction of it.",
        "- `model.ngan`: the napari-gan checkpoint (safetensors + JSON), for "
        "`napari_gan.load_model('model.ngan')` and the napari-gan plugin.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _authors(authors):
    from bioimageio.spec.model.v0_5 import Author

    if authors is None:
        authors = ["napari-gan user"]
    if isinstance(authors, (str, dict)):
        authors = [authors]
    return [Author(name=a) if isinstance(a, str) else Author(**a) for a in authors]


def _op(spec):
    from bioimageio.spec.model import v0_5

    kinds = {
        "scale_range": (v0_5.ScaleRangeDescr, v0_5.ScaleRangeKwargs),
        "softmax": (v0_5.SoftmaxDescr, v0_5.SoftmaxKwargs),
        "scale_linear": (v0_5.ScaleLinearDescr, v0_5.ScaleLinearKwargs),
    }
    descr, kwargs = kinds[spec["id"]]
    if spec["id"] == "scale_linear" and "axis" in spec["kwargs"]:
        kwargs = v0_5.ScaleLinearAlongAxisKwargs
    return descr(kwargs=kwargs(**spec["kwargs"]))


def _describe(model, kind_plan: Plan, tmp: Path, name, description, authors, license, extra_tags):
    """The package's ModelDescr over files written into ``tmp``."""
    from bioimageio.spec.model import v0_5

    wrapped = packaged_net(kind_plan)
    example = torch.from_numpy(kind_plan.test_input)
    with torch.no_grad():
        inner = torch.from_numpy(_apply_ops(kind_plan.preprocessing, kind_plan.test_input))
        check = _apply_ops(kind_plan.postprocessing, wrapped(inner).numpy())
    scale = max(float(np.abs(kind_plan.test_output).max()), 1.0)
    if not np.allclose(check, kind_plan.test_output, rtol=1e-4, atol=1e-4 * scale):
        raise RuntimeError(
            "the packaged network does not reproduce napari-gan's prediction of the test image "
            f"(largest difference {np.abs(check - kind_plan.test_output).max():.3g})"
        )
    files = {
        "weights": tmp / "weights.pt",
        "torchscript": tmp / "weights.torchscript.pt",
        "architecture": tmp / ARCHITECTURE_FILE,
        "input": tmp / "test_input.npy",
        "output": tmp / "test_output.npy",
        "sample_input": tmp / "sample_input.tif",
        "sample_output": tmp / "sample_output.tif",
        "checkpoint": tmp / "model.ngan",
    }
    torch.save(wrapped.state_dict(), files["weights"])
    scripted = _torchscript(kind_plan, example)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted.save(str(files["torchscript"]))
    files["architecture"].write_text(architecture_source(), encoding="utf-8")
    np.save(files["input"], kind_plan.test_input)
    np.save(files["output"], kind_plan.test_output)
    import tifffile  # a dependency of scikit-image

    tifffile.imwrite(files["sample_input"], kind_plan.test_input, photometric="minisblack")
    tifffile.imwrite(files["sample_output"], kind_plan.test_output, photometric="minisblack")
    model.save(files["checkpoint"])
    kind_word = model.kind if model.kind != "Translator" else f"{model.config.task} Translator"
    name = name or f"napari-gan {kind_word}"
    description = description or kind_plan.summary
    readme = write_readme(tmp / "README.md", model, kind_plan, name, description)
    cover = write_cover(tmp / "cover.png", kind_plan)

    smallest = kind_plan.net.multiple
    in_axes = [v0_5.BatchAxis(), v0_5.ChannelAxis(channel_names=kind_plan.in_channels)]
    out_axes = [v0_5.BatchAxis(), v0_5.ChannelAxis(channel_names=kind_plan.out_channels)]
    for a in kind_plan.spatial:
        # any size: the network pads to its multiple itself
        in_axes.append(v0_5.SpaceInputAxis(id=a, size=v0_5.ParameterizedSize(min=smallest, step=1)))
        ref = v0_5.SizeReference(tensor_id="input", axis_id=a)
        out_scale = 1.0 / kind_plan.upscale if a in "yx" else 1.0
        out_axes.append(v0_5.SpaceOutputAxis(id=a, size=ref, scale=out_scale))
    inputs = v0_5.InputTensorDescr(
        id="input",
        axes=in_axes,
        test_tensor=v0_5.FileDescr(source=files["input"]),
        sample_tensor=v0_5.FileDescr(source=files["sample_input"]),
        preprocessing=[_op(p) for p in kind_plan.preprocessing],
    )
    outputs = v0_5.OutputTensorDescr(
        id="output",
        axes=out_axes,
        test_tensor=v0_5.FileDescr(source=files["output"]),
        sample_tensor=v0_5.FileDescr(source=files["sample_output"]),
        postprocessing=[_op(p) for p in kind_plan.postprocessing],
    )
    torch_version = v0_5.Version(torch.__version__.split("+")[0])
    architecture = v0_5.ArchitectureFromFileDescr(
        source=files["architecture"],
        callable="PackagedNet",
        kwargs={"net": kind_plan.net.config.to_dict(), **kind_plan.wrapper},
    )
    weights = v0_5.WeightsDescr(
        pytorch_state_dict=v0_5.PytorchStateDictWeightsDescr(
            source=files["weights"], architecture=architecture, pytorch_version=torch_version
        ),
        torchscript=v0_5.TorchscriptWeightsDescr(
            source=files["torchscript"], pytorch_version=torch_version, parent="pytorch_state_dict"
        ),
    )
    from ... import __version__

    return v0_5.ModelDescr(
        name=name,
        description=description,
        authors=_authors(authors),
        cite=[v0_5.CiteEntry(**c) for c in kind_plan.cite],
        license=license,
        documentation=v0_5.FileDescr(source=readme),
        covers=[v0_5.FileDescr(source=cover)],
        inputs=[inputs],
        outputs=[outputs],
        weights=weights,
        attachments=[v0_5.FileDescr(source=files["checkpoint"])],
        tags=list(dict.fromkeys(kind_plan.tags + list(extra_tags))),
        config={"napari_gan": {"version": __version__, "kind": model.kind, "checkpoint": "model.ngan"}},
    )


__all__ = ["ExportError", "check_package", "export_bioimageio"]
