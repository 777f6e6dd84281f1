"""What each exportable model kind puts into a bioimage.io package: the network and
what it does around the U-Net (:class:`.network.PackagedNet`), the processing ops,
channels, a test image and our own prediction of it, and what the package cannot say.

Needs no bioimageio: ops are plain dicts here (``{"id": ..., "kwargs": ...}``) that
:mod:`.package` turns into bioimage.io descriptions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..axes import check_axes, default_axes, spatial_dims, to_ncs
from ..data import as_array, check_finite
from ..errors import InputError
from .network import PERCENTILES

#: Translator tasks whose prediction is a network on the normalised image (superres
#: adds a cubic-spline upsampling, done inside the packaged network)
TRANSLATOR_TASKS = ("paired", "unpaired", "superres", "deblur")
_PCT = f"{PERCENTILES[0]:g} and {PERCENTILES[1]:g} percentiles"
#: largest test image edge (pixels; 3D: voxels along Z)
TEST_EDGE = (64, 32)


class ExportError(NotImplementedError):
    """A model cannot be written as a bioimage.io package (its kind, task or mode)."""


@dataclass
class Plan:
    """Everything kind-specific about one package."""

    net: object  # the trained UNet
    wrapper: dict  # PackagedNet keyword arguments other than ``net``
    spatial: str  # "yx" or "zyx"
    in_channels: list[str]
    out_channels: list[str]
    test_input: np.ndarray  # (1, C, *spatial) float32
    test_output: np.ndarray  # (1, C_out, *spatial') float32
    cover: np.ndarray  # (Y, X) or (Y, X, 3): what the cover shows as the result
    preprocessing: list[dict] = field(default_factory=list)
    postprocessing: list[dict] = field(default_factory=list)
    upscale: int = 1
    summary: str = ""  # one line: what the model does
    processing: list[str] = field(default_factory=list)  # what happens, step by step
    not_expressed: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    cite: list[dict] = field(default_factory=list)


UNET_CITE = {"text": "Ronneberger et al. U-Net. MICCAI 2015.", "doi": "10.1007/978-3-319-24574-4_28"}


def can_export(model) -> bool:
    """Whether ``model`` (fitted or not) is of a kind that has a bioimage.io package."""
    kind = getattr(model, "kind", None)
    return kind in ("Denoiser", "Segmenter") or (kind == "Translator" and model.config.task in TRANSLATOR_TASKS)


def check_exportable(model) -> None:
    """:class:`ExportError` unless ``model`` is of a kind that has a bioimage.io package."""
    if can_export(model):
        return
    kind = getattr(model, "kind", type(model).__name__)
    if kind == "Translator":
        task = model.config.task
        how = (
            "fills a given mask with a classical or texture fill"
            if task == "inpaint"
            else "converts to and from Lab colour"
        )
        raise ExportError(
            f"a Translator with task={task!r} cannot be exported to bioimage.io: its prediction {how}, which a "
            f"package's network and processing ops cannot express; exportable tasks: {', '.join(TRANSLATOR_TASKS)}"
        )
    raise ExportError(
        f"a {kind} cannot be exported to bioimage.io: only models that map an image to an image or to labels "
        f"can (Denoiser, Segmenter, and Translator tasks {', '.join(TRANSLATOR_TASKS)})"
    )


def plan(model, test_image=None, axes: str | None = None) -> Plan:
    """The :class:`Plan` of a fitted ``model`` (:func:`check_exportable` first)."""
    check_exportable(model)
    if model.kind == "Denoiser":
        return _denoiser(model, test_image, axes)
    if model.kind == "Segmenter":
        return _segmenter(model, test_image, axes)
    return _translator(model, test_image, axes)


# ------------------------------------------------------------------------ test images


def _edge(spatial_index: int, dims: int, largest: int, multiple: int) -> int:
    """A test-image edge: a multiple of ``multiple``, at most ``largest`` (one tile of predict)."""
    want = TEST_EDGE[1] if (dims == 3 and spatial_index == 0) else TEST_EDGE[0]
    edge = min(want, largest) // multiple * multiple
    return max(edge, multiple)


def _test_input(model, test_image, axes, *, channels: int, dims: int, largest: int, multiple: int, ranges=None):
    """(1, C, *spatial) float32: the centre of the user's ``test_image`` (first frame), or
    generated nuclei (one random layout per channel) scaled to ``ranges`` [(low, high)]."""
    if test_image is not None:
        arr = as_array(test_image, name="test_image")
        check_finite(arr, name="test_image")
        if axes is None:
            axes = model.axes if model.axes and len(model.axes) == arr.ndim else default_axes(arr.shape)
        axes = check_axes(axes, arr.shape)
        if spatial_dims(axes) != dims:
            raise InputError(f"test_image has axes {axes!r}, but the model is {dims}D")
        src = to_ncs(arr, axes)[:1]
        if src.shape[1] != channels:
            raise InputError(f"test_image has {src.shape[1]} channel(s); the model expects {channels}")
        box = []
        for i, size in enumerate(src.shape[2:]):
            edge = min(_edge(i, dims, largest, multiple), size // multiple * multiple)
            if edge < multiple:
                raise InputError(f"test_image is {size} pixels along a spatial axis; at least {multiple} are needed")
            start = (size - edge) // 2
            box.append(slice(start, start + edge))
        return np.ascontiguousarray(src[(slice(None), slice(None), *box)], dtype=np.float32)
    from ..synthetic import touching_nuclei

    shape = tuple(_edge(i, dims, largest, multiple) for i in range(dims))
    shape = tuple(max(s, 16) for s in shape)  # touching_nuclei's smallest image
    layers = []
    for c in range(channels):
        image = touching_nuclei(shape, radius=(4.0, 7.0), seed=c)[0].astype(np.float32)
        low, high = ranges[c] if ranges else (0.0, 1.0)
        layers.append(low + image * np.float32(high - low))
    return np.stack(layers)[None].astype(np.float32)


def _ncs_axes(dims: int) -> str:
    return "CZYX" if dims == 3 else "CYX"


# ------------------------------------------------------------------------------ kinds


def _denoiser(model, test_image, axes) -> Plan:
    cfg, net = model.config, model.net
    dims, channels = net.config.dims, net.config.in_channels
    tile = cfg.tile_size if dims == 2 else 64
    overlap = min(cfg.tile_overlap, tile // 4)
    margin = overlap // 2
    norm = model.normalization
    ranges = [(norm.low, norm.high)] * channels if norm is not None else None
    x = _test_input(
        model,
        test_image,
        axes,
        channels=channels,
        dims=dims,
        largest=tile - 2 * margin,
        multiple=net.multiple,
        ranges=ranges,
    )
    y = model.predict(x[0], axes=_ncs_axes(dims), device="cpu")[None]
    method = {
        "supervised": ("supervised (CARE-style) on pairs", "10.1038/s41592-018-0216-7", "Weigert et al. CARE. 2018."),
        "n2v2": (
            "self-supervised (Noise2Void with the N2V2 fixes)",
            "10.1109/CVPR.2019.00223",
            "Krull et al. Noise2Void. CVPR 2019.",
        ),
        "neighbor2neighbor": ("self-supervised (Neighbor2Neighbor)", None, None),
    }.get(model.mode, (str(model.mode), None, None))
    cite = [UNET_CITE] + ([{"text": method[2], "doi": method[1]}] if method[1] else [])
    names = _channel_names(channels)
    return Plan(
        net=net,
        wrapper={"normalize": "joint", "invert": True, "margin": margin},
        spatial="zyx" if dims == 3 else "yx",
        in_channels=names,
        out_channels=names,
        test_input=x,
        test_output=y.astype(np.float32),
        cover=y[0],
        summary=f"Denoises {dims}D images ({channels} channel(s)); trained {method[0]}.",
        processing=[
            f"the network normalises each input sample by its own {_PCT} (all channels together), runs the "
            f"U-Net on the image mirror-padded by {margin} pixels, and maps the result back to the input's "
            "intensities with the same two values",
        ],
        not_expressed=[
            "the percentile normalisation and its inverse are inside the network (PackagedNet in the "
            "architecture file): bioimage.io's postprocessing ops cannot scale an output by its input's percentiles",
            "napari-gan predicts large images tile by tile with blended overlaps (and optional test-time "
            "augmentation); the package runs the whole image at once, which differs only near tile seams",
            "napari-gan normalises a stack of frames together; the package normalises each batch entry on its own",
        ],
        tags=["denoising", "unet", "napari-gan", f"{dims}d"],
        cite=cite,
    )


def _segmenter(model, test_image, axes) -> Plan:
    import torch

    from ..tasks._instances import _instance_activation
    from ..tasks._pixelwise import predict_maps

    cfg, net = model.config, model.net
    dims, channels = net.config.dims, net.config.in_channels
    tile = cfg.tile_size if dims == 2 else min(cfg.tile_size, 64)
    margin = min(cfg.tile_overlap, tile // 4) // 2
    x = _test_input(
        model, test_image, axes, channels=channels, dims=dims, largest=tile - 2 * margin, multiple=net.multiple
    )
    instance = model.mode == "instance"

    def activation(t):
        return _instance_activation(t) if instance else torch.softmax(t, 1)

    maps = predict_maps(net, x, device="cpu", activation=activation, tile=cfg.tile_size, overlap=cfg.tile_overlap)
    labels = model.predict(x[0], axes=_ncs_axes(dims), device="cpu")
    spatial = "zyx" if dims == 3 else "yx"
    pre = [
        {
            "id": "scale_range",
            "kwargs": {
                "axes": list(spatial),
                "min_percentile": PERCENTILES[0],
                "max_percentile": PERCENTILES[1],
                "eps": 1e-10,
            },
        }
    ]
    if instance:
        outputs = ["background", "interior", "boundary", "distance"]
        post, what = [], "instance"
        steps = [
            f"the network (mirror-padding by {margin} pixels, U-Net, crop) ends with a softmax over the first three "
            "channels (background, interior, boundary probabilities) and a sigmoid of the fourth (the distance to "
            "the object's edge, relative to its size)"
        ]
        labels_how = (
            "napari-gan turns these maps into instance labels: foreground where interior + boundary > 0.5, "
            f"{_seeding(model)}, and objects under {model.min_size} pixels removed"
        )
    else:
        outputs = [f"class{k + 1}" for k in range(net.config.out_channels)]
        post, what = [{"id": "softmax", "kwargs": {"axis": "channel"}}], "none"
        steps = [
            f"the network mirror-pads the image by {margin} pixels, runs the U-Net and crops; the postprocessing "
            "softmax gives the probability of each class (class1 is the background, class2... the labels painted "
            "2, 3, ... in napari-gan)"
        ]
        labels_how = "napari-gan's class map is the channel of highest probability plus one"
    label_word = "instance" if instance else "semantic"
    return Plan(
        net=net,
        wrapper={"margin": margin, "activation": what},
        spatial=spatial,
        in_channels=_channel_names(channels),
        out_channels=outputs,
        test_input=x,
        test_output=maps.astype(np.float32),
        cover=labels,
        preprocessing=pre,
        postprocessing=post,
        summary=f"{label_word.capitalize()} segmentation of {dims}D images ({channels} channel(s)); "
        "the package outputs per-pixel probability maps.",
        processing=[
            f"preprocessing scales each channel of each sample by its own {_PCT} (scale_range)",
            *steps,
        ],
        not_expressed=[
            "labels: the package's output is the network's per-pixel maps. " + labels_how + ", which bioimage.io's "
            "postprocessing ops cannot express; for labels load the attached model.ngan in napari-gan "
            "(napari_gan.load_model('model.ngan').predict(image))",
            "where a channel's two percentiles are equal napari-gan falls back to its minimum and maximum; "
            "the scale_range op does not",
            "napari-gan predicts large images tile by tile with blended overlaps; the package runs the whole image "
            "at once, which differs only near tile seams",
        ],
        tags=["segmentation", f"{label_word}-segmentation", "unet", "napari-gan", f"{dims}d"],
        cite=[UNET_CITE],
    )


def _channel_names(n: int) -> list[str]:
    return ["intensity"] if n == 1 else [f"channel{c}" for c in range(n)]


def _scale_linear(gains: list[float], offsets: list[float]) -> dict:
    if len(gains) == 1:
        return {"id": "scale_linear", "kwargs": {"gain": gains[0], "offset": offsets[0]}}
    return {"id": "scale_linear", "kwargs": {"axis": "channel", "gain": gains, "offset": offsets}}


def _translator(model, test_image, axes) -> Plan:
    cfg, task, g = model.config, model.config.task, model._spec.generator(model)
    cin, cout = model.channels, model.out_channels
    tile = max(g.multiple, min(cfg.tile_size, 1024) // g.multiple * g.multiple)
    margin = min(cfg.tile_overlap, tile // 4) // 2
    scale = cfg.scale if task == "superres" else 1
    fixed = task in ("paired", "unpaired")
    ranges = [(n.low, n.high) for n in model.source_norm.norms] if fixed else None
    x = _test_input(
        model,
        test_image,
        axes,
        channels=cin,
        dims=2,
        largest=(tile - 2 * margin) // scale,
        multiple=g.multiple,
        ranges=ranges,
    )
    y = np.asarray(model.predict(x[0], axes="CYX", device="cpu"), dtype=np.float32)
    y = y.reshape((1, cout) + y.shape[-2:])
    pre, post = [], []
    residual = cin == cout
    if fixed:
        src, tgt = model.source_norm, model.target_norm
        pre = [_scale_linear([1 / (n.high - n.low) for n in src.norms], [-n.low / (n.high - n.low) for n in src.norms])]
        post = [_scale_linear([n.high - n.low for n in tgt.norms], [n.low for n in tgt.norms])]
        wrapper = {"margin": margin, "residual_input": residual}
        norm_step = (
            f"preprocessing scales each channel by the fixed {_PCT} of the "
            + ("source" if task == "paired" else "A")
            + " training images (scale_linear); postprocessing maps the result to the "
            + ("target" if task == "paired" else "B")
            + " training images' intensities the same way"
        )
    else:
        wrapper = {"normalize": "channel", "invert": True, "upscale": scale, "margin": margin, "residual_input": True}
        norm_step = (
            f"the network normalises each channel of each sample by its own {_PCT} and maps the result back "
            "with the same values at the end"
        )
    steps = [norm_step]
    if scale > 1:
        steps.append(
            f"the network upsamples Y and X {scale}-fold by cubic-spline interpolation (as scikit-image's "
            "rescale(order=3, mode='reflect'), clipped to the input's range)"
        )
    steps.append(
        f"the U-Net runs on the image mirror-padded by {margin} pixels"
        + (" and its output is added to its input (it learns a residual)" if residual else "")
    )
    not_expressed = [
        "napari-gan predicts large images tile by tile with blended overlaps; the package runs the whole image "
        "at once, which differs only near tile seams",
        "napari-gan's return_uncertainty (the spread over flips) is not part of the package",
    ]
    if not fixed:
        not_expressed.insert(
            0,
            "the per-image percentile normalisation and its inverse"
            + (" and the spline upsampling" if scale > 1 else "")
            + " are inside the network (PackagedNet in the architecture file): bioimage.io's ops cannot scale an "
            "output by its input's percentiles, nor upsample",
        )
    if task == "unpaired":
        not_expressed.append("only the A -> B direction is packaged (napari-gan also translates B -> A)")
    what = {
        "paired": "Translates source images into target images (paired training)",
        "unpaired": "Translates images of domain A into domain B (unpaired, CycleGAN-style training)",
        "superres": f"Upscales images {scale}-fold (super-resolution)",
        "deblur": f"Removes a Gaussian blur of {cfg.sigma:g} pixels",
    }[task]
    cite = [UNET_CITE]
    if task == "unpaired":
        cite.append({"text": "Zhu et al. CycleGAN. ICCV 2017.", "doi": "10.1109/ICCV.2017.244"})
    elif cfg.adversarial_weight > 0:
        cite.append({"text": "Isola et al. pix2pix. CVPR 2017.", "doi": "10.1109/CVPR.2017.632"})
    tag = {"paired": "image-to-image", "unpaired": "image-to-image", "superres": "super-resolution"}
    return Plan(
        net=g,
        wrapper=wrapper,
        spatial="yx",
        in_channels=_channel_names(cin),
        out_channels=_channel_names(cout),
        test_input=x,
        test_output=y,
        cover=y[0],
        preprocessing=pre,
        postprocessing=post,
        upscale=scale,
        summary=f"{what}; 2D, {cin} channel(s) in, {cout} out.",
        processing=steps,
        not_expressed=not_expressed,
        tags=[tag.get(task, "image-restoration"), task, "unet", "napari-gan", "2d"],
        cite=cite,
    )


def _seeding(model) -> str:
    """How an instance Segmenter's seeds and watershed are made, in words."""
    h = model._seed_h()
    if h is None:
        return (
            f"seeds at peaks of the distance map above 0.3 at least {model._peak_distance()} pixels apart, a "
            "watershed on the distance within the foreground"
        )
    return (
        f"seeds at the h-maxima (h = {h:.1f} pixels) of the Euclidean distance transform of the pixels more "
        "interior than boundary, a watershed on that distance transform within the foreground"
    )
