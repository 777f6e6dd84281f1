"""Small training data for the ImageGAN tests: tiny network options, discs on a
background (samples mode) and noisy stripes (texture mode)."""

from __future__ import annotations

import numpy as np

TINY = dict(features=8, latent=16, batch_size=4)


def blobs_stack(n=6, size=20, channels=None, seed=0):
    """Bright discs at random places on a dark background, uint8."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = []
    for _ in range(n):
        cy, cx = rng.uniform(5, size - 5, 2)
        img = 40 + 180 * (((yy - cy) ** 2 + (xx - cx) ** 2) < 16)
        out.append(img)
    stack = np.array(out, dtype=np.uint8)
    if channels:
        stack = np.stack([stack] * channels, -1)
    return stack


def stripes(shape=(80, 96), seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (100 + 50 * np.sin(xx / 3.0 + yy / 5.0) + rng.normal(0, 5, shape)).astype(np.float32)
