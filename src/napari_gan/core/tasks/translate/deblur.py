"""task="deblur": learn to undo a Gaussian blur of ``blur`` pixels (default 2, plus
optional noise) from sharp images; the generator's residual is added to the blurred
image itself."""

from __future__ import annotations

import numpy as np
import torch

from .common import Task, gaussian_blur


class DeblurTask(Task):
    name = "deblur"

    def batch(self, model, crops, rng, gen):
        cfg = model.config
        y = crops[0]
        inp = gaussian_blur(y, cfg.sigma)
        if cfg.noise > 0:
            inp = inp + cfg.noise * torch.randn(inp.shape, generator=gen)
        return inp, y, None

    def degrade_frames(self, config, src):
        return gaussian_blur(torch.from_numpy(np.ascontiguousarray(src)), config.sigma).numpy()
