"""task="superres": learn to upscale by ``scale`` from high-resolution images, degraded
by averaging ``scale`` x ``scale`` blocks (after an optional Gaussian blur, plus
optional noise); the generator's residual is added to a cubic-spline upsampling."""

from __future__ import annotations

import numpy as np
import torch
from skimage import transform

from .common import Task, gaussian_blur


def upscale(frame: np.ndarray, scale: int) -> np.ndarray:
    """(C, Y, X) -> (C, scale*Y, scale*X) by cubic-spline interpolation (skimage order 3)."""
    return transform.rescale(frame, scale, order=3, channel_axis=0, anti_aliasing=False, mode="reflect").astype(
        np.float32
    )


def downscale(frame: np.ndarray, scale: int) -> np.ndarray:
    """(C, Y, X) -> mean of ``scale`` x ``scale`` blocks (what super-resolution learns to undo)."""
    c, h, w = frame.shape
    h, w = h // scale * scale, w // scale * scale
    return frame[:, :h, :w].reshape(c, h // scale, scale, w // scale, scale).mean(axis=(2, 4))


class SuperresTask(Task):
    name = "superres"

    def patch_multiple(self, config) -> int:
        # a high-resolution patch must also be a whole number of low-resolution pixels
        return config.scale

    def batch(self, model, crops, rng, gen):
        cfg = model.config
        sigma, scale = cfg.sigma, cfg.scale
        y = crops[0]
        hr = y.numpy()
        if sigma > 0:
            hr_blur = gaussian_blur(y, sigma * scale / 2).numpy()
        else:
            hr_blur = hr
        lr_ = np.stack([downscale(f, scale) for f in hr_blur])
        if cfg.noise > 0:
            lr_ = lr_ + cfg.noise * torch.randn(lr_.shape, generator=gen).numpy()
        inp = torch.from_numpy(np.stack([upscale(f, scale) for f in lr_]))
        return inp, y, None

    def net_input(self, model, frame, hole, norm):
        x, norm = super().net_input(model, frame, hole, norm)
        return upscale(x, model.config.scale), norm

    def degrade_frames(self, config, src):
        return np.stack([downscale(f, config.scale) for f in src])
