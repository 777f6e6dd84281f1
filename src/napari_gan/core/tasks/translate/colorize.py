"""task="colorize": learn colour (Lab chroma) from RGB images and give it to grayscale
ones; the generator's residual is added to zero chroma (the gray image itself)."""

from __future__ import annotations

import numpy as np
import torch
from skimage import color

from ...errors import InputError
from .common import Task, TrainingData, read_frames

#: what the training images are called in messages
_NAME = "the colour training image"


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


class ColorizeTask(Task):
    name = "colorize"
    images_name = _NAME

    def training_data(self, images, target, axes, target_axes) -> TrainingData:
        self.check_target(target)
        frames, axes = read_frames(images, axes, name=_NAME, prep=unit_range)
        inputs, outputs = colorize_frames(frames, _NAME)
        return TrainingData(axes, inputs, outputs, channels=1, out_channels=3)

    def net_channels(self, model):
        return 1, 2

    def base(self, model, inp):
        return torch.zeros((inp.shape[0], 2) + inp.shape[2:], dtype=inp.dtype, device=inp.device)

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

    def output_axes(self, model, axes):
        return axes + "C"

    def degrade(self, model, arr, axes):
        if "C" not in axes or arr.shape[axes.index("C")] != 3:
            raise InputError("colorize: degrade() takes an RGB image")
        rgb = np.moveaxis(unit_range(arr, name="image"), axes.index("C"), -1)
        return color.rgb2gray(rgb).astype(np.float32), None
