"""What the Translator's tasks share: reading the training images, sampling aligned
crops, the Gaussian blur, and :class:`Task`, the interface through which each task
(one module each) tells the model in ``model.py`` what is particular to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from ...axes import check_axes, default_axes, from_ncs, to_ncs
from ...data import as_array, check_finite, flip_rot, read_array
from ...errors import InputError
from ...models.patchgan import PatchGAN, PatchGANConfig
from ...models.unet import UNet, UNetConfig
from ...tiling import predict_tiled
from .._pixelwise import ChannelNorm


@dataclass
class TrainingData:
    """What a task makes of its training images: the network's inputs and targets as
    (C, Y, X) float32 frames (``inputs is outputs`` where the task degrades the
    targets itself at every step), and what the model keeps of them."""

    axes: str
    inputs: list[np.ndarray]
    outputs: list[np.ndarray]
    channels: int  # of the images the model is applied to
    out_channels: int
    source_norm: ChannelNorm | None = None
    target_norm: ChannelNorm | None = None
    #: colorize: the training images' mean chroma by lightness (see colorize.chroma_table)
    chroma: np.ndarray | None = None


class Task:
    """What one task adds to the shared :class:`~.model.Translator`: its training
    data and batches, its networks' channels, the classical estimate the generator's
    residual is added to, how a frame becomes the network's input and its output a
    result, and what ``degrade`` does.

    The defaults are those of a task that learns from the images alone (``superres``,
    ``deblur``, ``inpaint``): each image on its own intensity scale, the same channels
    in and out, the estimate being the (degraded) input itself. Tasks are stateless;
    what a fitted model holds lives on the model, which every method is given.
    """

    name: ClassVar[str] = ""
    #: what the training images are called in messages
    images_name: ClassVar[str] = "images"
    #: whether ``predict`` takes ``mask=`` (holes to fill)
    takes_mask: ClassVar[bool] = False
    #: whether ``predict`` takes ``region=`` (translate only there; see :meth:`unchanged`)
    takes_region: ClassVar[bool] = False
    #: ends the message refusing training images with NaN or infinite values
    nonfinite_hint: ClassVar[str] = ""

    # -- training -------------------------------------------------------------------
    def check_target(self, target) -> None:
        if target is not None:
            raise InputError(f"task {self.name!r} learns from the images alone; target is only for task='paired'")

    def training_data(self, images, target, axes, target_axes) -> TrainingData:
        self.check_target(target)
        frames, axes = read_frames(images, axes, name=self.images_name, hint=self.nonfinite_hint)
        # each image on its own scale, as at prediction: the model never depends
        # on one image's brightness
        outputs = [ChannelNorm.fit(f[None], name="images").apply(f[None])[0] for f in frames]
        channels = frames[0].shape[0]
        return TrainingData(axes, outputs, outputs, channels, channels)

    def patch_multiple(self, config) -> int:
        """Training patches are a multiple of this times the U-Net's ``2**depth``."""
        return 1

    def batch(self, model, crops: list[torch.Tensor], rng: np.random.Generator, gen: torch.Generator):
        """One step's (generator input, target, loss mask or None), on the CPU, from
        the sampled crops of the training data's arrays; ``rng`` (numpy) and ``gen``
        (torch) are the run's seeded random streams. Default: the input and target
        crops as they are."""
        return crops[0], crops[1], None

    def training(self, model, data: TrainingData, patch: int, rng, gen, device, lr: float):
        """``(step, optimizers)`` for a task whose training step is not the shared
        one-generator step of :meth:`~.model.Translator.fit_iter` (``unpaired``: two
        generators and two discriminators); None (the default) for the shared step."""
        return None

    # -- networks -------------------------------------------------------------------
    def networks(self, model) -> dict[str, torch.nn.Module]:
        """The networks by name: the generator ``g`` and, with ``adversarial_weight >
        0``, a conditional PatchGAN ``d`` that sees the input beside the output."""
        cin, cout = self.net_channels(model)
        cfg = model.config
        nets = {"g": residual_unet(cin, cout, cfg)}
        if cfg.adversarial_weight > 0:
            nets["d"] = PatchGAN(PatchGANConfig(in_channels=cin + cout, features=cfg.d_features))
        return nets

    def generator(self, model) -> torch.nn.Module:
        """The network predictions are made with (block prediction and bioimage.io
        packages included): ``g``."""
        return model.net["g"]

    def net_channels(self, model) -> tuple[int, int]:
        """(generator input channels, output channels)."""
        return model.channels, model.channels

    def base(self, model, inp: torch.Tensor) -> torch.Tensor:
        """The classical estimate the generator's residual is added to."""
        return inp

    # -- inference ------------------------------------------------------------------
    def default_axes(self, model, ndim: int) -> str | None:
        """The axes ``predict`` assumes when given none (None: by shape)."""
        return model.axes if (model.axes and len(model.axes) == ndim) else None

    def check_channels(self, model, channels: int) -> None:
        if channels != model.channels:
            raise InputError(f"this Translator expects {model.channels} channel(s), the image has {channels}")

    def unchanged(self, model, frame: np.ndarray) -> np.ndarray:
        """What ``predict(region=...)`` keeps outside the region: the (C, Y, X) frame as
        the task's output shows it (tasks with :attr:`takes_region`)."""
        raise NotImplementedError

    def holes(self, model, mask, shape, axes) -> np.ndarray | None:
        """(N, Y, X) bool holes to fill from ``predict``'s ``mask`` (None: no holes)."""
        return None

    def fill_frame(self, model, frame, hole, *, fill, seed, g, dev, tile_size, tta, progress):
        """Predict one (C, Y, X) frame that has holes (tasks whose ``holes`` gives some)."""
        raise NotImplementedError

    def net_input(self, model, frame: np.ndarray, hole, norm: ChannelNorm | None):
        """One (C, Y, X) frame -> (the network's input, the normalisation that turns its
        output back into intensities); ``norm``: the one to use (default: fitted on
        the frame)."""
        frame = frame.astype(np.float32, copy=False)
        if norm is None:
            norm = ChannelNorm.fit(frame[None], name="image")
        return norm.apply(frame[None])[0], norm

    def finish(self, model, frame, hole, net_in, pred: np.ndarray, std: np.ndarray | None, norm):
        """The network's (C_out, Y', X') output (and its spread over flips, or None) ->
        the result frame and the (Y', X') spread in output units (or None)."""
        out = norm.invert(pred[None])[0]
        spread = None if std is None else (std * norm.spans()[:, None, None]).mean(0)
        return out.astype(np.float32), spread

    def output_axes(self, model, axes: str) -> str:
        """The axes of ``predict``'s result for an input with ``axes``."""
        return axes

    def degrade(self, model, arr: np.ndarray, axes: str) -> tuple[np.ndarray, np.ndarray | None]:
        """What the model learns to undo, applied to ``arr``: its input, and a hole mask or None."""
        src = to_ncs(arr, axes).astype(np.float32)
        return from_ncs(self.degrade_frames(model.config, src), axes).astype(np.float32), None

    def degrade_frames(self, config, src: np.ndarray) -> np.ndarray:
        """(N, C, Y, X) float32 -> what the network is given for them. Default: themselves."""
        return src


def residual_unet(cin: int, cout: int, config) -> UNet:
    """The generator: a U-Net whose output is a residual on the task's classical
    estimate, starting at 0, so an untrained model returns the estimate."""
    g = UNet(
        UNetConfig(
            dims=2, in_channels=cin, out_channels=cout, features=config.features, depth=config.depth, residual=False
        )
    )
    torch.nn.init.zeros_(g.head.weight)
    torch.nn.init.zeros_(g.head.bias)
    return g


# ----------------------------------------------------------------------------- data


def read_frames(images, axes: str | None, *, name: str, prep=None, hint: str = "") -> tuple[list[np.ndarray], str]:
    """A single image, a stack, or a list of images (sizes may differ) -> list of
    float32 (C, Y, X) frames and the axes of the (first) input."""
    items = list(images) if isinstance(images, (list, tuple)) else [images]
    if not items:
        raise InputError(f"{name} is an empty list")
    frames, first_axes = [], None
    for i, item in enumerate(items):
        label = name if len(items) == 1 else f"{name}[{i}]"
        arr = as_array(item, name=label)
        check_finite(arr, name=label, hint=hint)
        ax = check_axes(axes, arr.shape) if axes is not None else default_axes(arr.shape)
        if "Z" in ax:
            raise InputError(
                f"{label} has axes {ax!r}: the Translator works on 2D images; pass axes with S or T "
                "(e.g. 'SYX') to treat the planes of a volume as separate frames"
            )
        first_axes = first_axes or ax
        if prep is not None:
            arr = prep(arr, name=label)
        ncs = to_ncs(arr, ax)
        frames.extend(np.ascontiguousarray(f, dtype=np.float32) for f in ncs)
    channels = {f.shape[0] for f in frames}
    if len(channels) > 1:
        raise InputError(f"the images of {name} have different channel counts {sorted(channels)}")
    return frames, first_axes


class Sampler:
    """Random aligned crops (with flips/rot90) from lists of (C, Y, X) frames whose
    sizes may differ; frames are drawn in proportion to their area."""

    def __init__(self, arrays: list[list[np.ndarray]], patch: int, rng: np.random.Generator):
        self.arrays, self.patch, self.rng = arrays, patch, rng
        area = np.array([f.shape[-1] * f.shape[-2] for f in arrays[0]], dtype=np.float64)
        self.p = area / area.sum()

    def sample(self, batch: int) -> list[torch.Tensor]:
        outs = [[] for _ in self.arrays]
        p = self.patch
        for _ in range(batch):
            i = int(self.rng.choice(len(self.p), p=self.p))
            h, w = self.arrays[0][i].shape[-2:]
            y, x = int(self.rng.integers(h - p + 1)), int(self.rng.integers(w - p + 1))
            crops = flip_rot([a[i][:, y : y + p, x : x + p] for a in self.arrays], self.rng)
            for o, c in zip(outs, crops):
                o.append(np.ascontiguousarray(c))
        return [torch.from_numpy(np.stack(o)) for o in outs]


# ----------------------------------------------------------------------------- operators


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (B, C, Y, X), reflecting at the borders."""
    if sigma <= 0:
        return x
    r = max(1, int(np.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, (r, r, r, r), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


#: Gaussian sigma (pixels) of the soft edge of ``predict(region=...)``
REGION_EDGE = 1.0


def region_weights(region, shape: tuple[int, ...], axes: str) -> np.ndarray:
    """(N, Y, X) float32 weights in [0, 1] from ``predict``'s ``region``: a boolean mask
    or a label image (nonzero = inside) of the image's shape without C, its edge
    softened over a pixel or two so the recoloured part has no hard seam."""
    from scipy import ndimage

    m = read_array(region, name="region")
    want = tuple(s for s, a in zip(shape, axes) if a != "C")
    if m.shape != want:
        raise InputError(f"region has shape {m.shape} but the image (axes {axes!r}) needs {want}")
    if m.dtype.kind not in "biu":
        raise InputError("region must be a boolean mask or a label image (nonzero = inside)")
    inside = to_ncs(m.astype(bool), axes.replace("C", ""))[:, 0]
    if not inside.any():
        raise InputError("region is empty: paint or pick the objects to recolour first")
    soft = [ndimage.gaussian_filter(f.astype(np.float32), REGION_EDGE) for f in inside]
    # inside stays fully translated; the soft edge lies outside the region
    return np.stack([np.where(f, 1.0, s) for f, s in zip(inside, soft)]).astype(np.float32)


def predict_frame_tiled(config, x: np.ndarray, fn, *, out_channels: int, multiple: int, tile_size, progress):
    """(1, C, Y, X) -> (out_channels, Y', X') through ``fn`` tile by tile: tiles of
    ``tile_size`` (default ``config.tile_size``; at most 1024, a multiple of the
    network's ``multiple``) overlapping by ``config.tile_overlap`` (at most a quarter)."""
    tile = min(tile_size or config.tile_size, 1024)
    tile = max(multiple, tile // multiple * multiple)
    return predict_tiled(
        x,
        fn,
        out_channels=out_channels,
        tile=(tile, tile),
        overlap=min(config.tile_overlap, tile // 4),
        multiple=multiple,
        batch_size=2,
        progress=progress,
    )[0]
