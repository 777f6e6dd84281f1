"""task="colorize": learn colour (Lab chroma) from RGB images and give it to grayscale
ones. The generator's residual is added to the classical answer: the training
images' mean chroma at each lightness (so a model starts where the classical
colourization is and learns what lightness alone cannot tell, e.g. brown DAB from
blue haematoxylin of the same brightness)."""

from __future__ import annotations

import numpy as np
import torch
from skimage import color

from ...errors import InputError
from .common import Task, TrainingData, read_frames

#: what the training images are called in messages
_NAME = "the colour training image"
#: the default: on held-out histology a PatchGAN term of 0.01 gave 26.87 dB, below even the
#: classical colourization's 27.59, and invented red patches on natural images
#: (bench/colorize.py; docs/benchmarks.md, "Tried and not adopted")
COLORIZE_ADVERSARIAL_WEIGHT = 0.0
#: lightness bins of the chroma table
L_BINS = 64
#: |a|, |b| / 100 of any sRGB colour stay below this
CHROMA_LIMIT = 1.3


def unit_range(arr: np.ndarray, *, name: str) -> np.ndarray:
    """Integer images -> [0, 1] by their dtype's range; float images must already be in [0, 1]."""
    arr = np.asarray(arr)
    if arr.dtype.kind in "ui":
        return (arr.astype(np.float32) / np.float32(np.iinfo(arr.dtype).max)).astype(np.float32)
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise InputError(
            f"{name} is floating point with values in [{lo:g}, {hi:g}]; colour images must be integers "
            "(e.g. uint8) or floats in [0, 1]"
        )
    return np.clip(arr, 0, 1).astype(np.float32)


def gray_to_lightness(gray: np.ndarray) -> np.ndarray:
    """Lab lightness / 100 of a grayscale image in [0, 1] (any leading shape)."""
    rgb = np.repeat(gray[..., None], 3, axis=-1)
    return (color.rgb2lab(rgb)[..., 0] / 100).astype(np.float32)


def colorize_frames(frames: list[np.ndarray], name: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """RGB (3, Y, X) frames -> lightness (1, Y, X) inputs and ab/100 (2, Y, X) targets."""
    if frames[0].shape[0] != 3:
        raise InputError(
            f"colorize learns from RGB images, but {name} has {frames[0].shape[0]} channel(s); a grayscale "
            "image cannot teach colour (give an RGB layer, or axes ending in C with 3 channels)"
        )
    inputs, targets = [], []
    for f in frames:
        rgb = np.moveaxis(f, 0, -1)
        if np.ptp(rgb, axis=-1).max() == 0:
            raise InputError(f"{name} is grayscale stored as RGB (all three channels are equal): it has no colour")
        inputs.append(gray_to_lightness(color.rgb2gray(rgb))[None])
        targets.append(np.moveaxis(color.rgb2lab(rgb)[..., 1:] / 100, -1, 0).astype(np.float32))
    return inputs, targets


def chroma_table(lightness: list[np.ndarray], chroma: list[np.ndarray]) -> np.ndarray:
    """(L_BINS, 2) mean a/100, b/100 of the pixels in each bin of L/100; bins with no
    pixels take the nearest filled bin's value."""
    idx = np.concatenate([np.clip((x.reshape(-1) * L_BINS).astype(int), 0, L_BINS - 1) for x in lightness])
    ab = np.concatenate([c.reshape(2, -1) for c in chroma], axis=1)
    count = np.bincount(idx, minlength=L_BINS)
    table = np.stack([np.bincount(idx, weights=ab[k], minlength=L_BINS) for k in range(2)], 1)
    table = table / np.maximum(count, 1)[:, None]
    filled = np.flatnonzero(count)
    nearest = filled[np.abs(np.arange(L_BINS)[:, None] - filled[None]).argmin(1)]
    return table[nearest].astype(np.float32)


def checked_chroma(value) -> np.ndarray:
    """A chroma table read from a checkpoint header, checked before use."""
    table = np.asarray(value, dtype=np.float64)
    if table.shape != (L_BINS, 2) or not np.isfinite(table).all() or np.abs(table).max() > CHROMA_LIMIT:
        raise ValueError(f"the colorize chroma table must be {L_BINS} x 2 finite values within +-{CHROMA_LIMIT}")
    return table.astype(np.float32)


def chroma_by_lightness(table: np.ndarray, lightness: torch.Tensor) -> torch.Tensor:
    """(B, 1, Y, X) L/100 -> (B, 2, Y, X) chroma from the table, linear between bin centres."""
    t = torch.as_tensor(table, dtype=lightness.dtype, device=lightness.device)
    pos = (lightness[:, 0] * L_BINS - 0.5).clamp(0, L_BINS - 1)
    lo = pos.floor().long().clamp(max=L_BINS - 2)
    frac = (pos - lo).unsqueeze(-1)
    ab = t[lo] * (1 - frac) + t[lo + 1] * frac  # (B, Y, X, 2)
    return ab.permute(0, 3, 1, 2).contiguous()


class ColorizeTask(Task):
    name = "colorize"
    takes_region = True
    images_name = _NAME

    def training_data(self, images, target, axes, target_axes) -> TrainingData:
        self.check_target(target)
        frames, axes = read_frames(images, axes, name=_NAME, prep=unit_range)
        inputs, outputs = colorize_frames(frames, _NAME)
        data = TrainingData(axes, inputs, outputs, channels=1, out_channels=3)
        data.chroma = chroma_table(inputs, outputs)
        return data

    def net_channels(self, model):
        return 1, 2

    def base(self, model, inp):
        if model.chroma is None:  # saved before the chroma table existed: no colour
            return torch.zeros((inp.shape[0], 2) + inp.shape[2:], dtype=inp.dtype, device=inp.device)
        return chroma_by_lightness(model.chroma, inp)

    def default_axes(self, model, ndim):
        return None  # the training images' axes have C; a grayscale image has none

    def check_channels(self, model, channels):
        if channels != 1:
            raise InputError(
                f"colorize predicts colour for a grayscale image; this one has {channels} channels "
                "(convert it to gray first, e.g. skimage.color.rgb2gray)"
            )

    def net_input(self, model, frame, hole, norm):
        # the frame keeps its dtype: that gives its intensity range
        return gray_to_lightness(unit_range(frame[0], name="image"))[None], None

    def finish(self, model, frame, hole, net_in, pred, std, norm):
        lab = np.concatenate([net_in * 100, pred * 100]).transpose(1, 2, 0).astype(np.float64)
        out = np.clip(color.lab2rgb(lab), 0, 1).transpose(2, 0, 1).astype(np.float32)
        spread = None if std is None else std.mean(0) * 100
        return out, spread

    def unchanged(self, model, frame):
        gray = unit_range(frame[0], name="image")
        return np.repeat(gray[None], 3, axis=0)

    def output_axes(self, model, axes):
        return axes + "C"

    def degrade(self, model, arr, axes):
        if "C" not in axes or arr.shape[axes.index("C")] != 3:
            raise InputError("colorize: degrade() takes an RGB image")
        rgb = np.moveaxis(unit_range(arr, name="image"), axes.index("C"), -1)
        return color.rgb2gray(rgb).astype(np.float32), None
