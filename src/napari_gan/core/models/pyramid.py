"""Coarse-to-fine generation of samples larger than 32 pixels.

A DCGAN pair (:mod:`.dcgan`) learns the images at a coarse scale (at most 16
pixels per side), where its steps are cheap and layouts come quickly; one
:class:`DetailNet` per octave above it learns to double the resolution of an image
of its scale, adding the detail that scale holds (edges, texture, noise of the
right grain). Each detail network is a small conditional GAN on local patches,
trained on the real images' own pyramid (each octave restored from its own 2 x 2
means), so all stages train side by side from the first step; at generation they
run in turn on the coarse generator's output. It is the Laplacian-pyramid GAN
(Denton et al. 2015) with the per-scale patch discriminators of SinGAN (Shaham et
al. 2019), across many images instead of one.

Why: the generator of one DCGAN on a 64 x 64 canvas takes about 20 times the
operations per image of the 16 x 16 one, and in the minutes a CPU user gives it, it
learns blurred averages (docs/benchmarks.md, "Samples larger than 32 pixels").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import check_positive_ints

#: the coarse scale's longest side is at most this
COARSE_MAX = 16
#: the coarse scale's shortest side is at least this (the smallest DCGAN input)
COARSE_MIN = 8
#: at most this many octaves of detail
MAX_LEVELS = 4
#: images up to this many pixels per side are learnt at their own size; larger ones
#: are resized to fit it (keeping their aspect)
MAX_SIDE = 128


@dataclass(frozen=True)
class DetailConfig:
    """Shape of a :class:`DetailNet` and its discriminator (a
    :class:`~.dcgan.PatchDiscriminator`, which reads ``channels``, ``d_features`` and ``d_layers``): image
    ``channels``, the detail network's width ``features`` and its number of 3 x 3
    convolutions ``layers``; the discriminator's first width ``d_features`` and its
    stride-2 stages ``d_layers``."""

    channels: int = 1
    features: int = 32
    layers: int = 4
    d_features: int = 32
    d_layers: int = 2

    def __post_init__(self):
        check_positive_ints(self, ("channels", "features", "layers", "d_features", "d_layers"))
        if self.layers > 8 or self.d_layers > 4:
            raise ValueError(f"layers must be 1..8 and d_layers 1..4, got {self.layers} and {self.d_layers}")


def pyramid_levels(shape: tuple[int, int]) -> int:
    """Octaves of detail above the coarse scale for images of ``shape`` (Y, X):
    the fewest that bring the longest side to at most :data:`COARSE_MAX`."""
    return max(1, math.ceil(math.log2(max(shape) / COARSE_MAX)))


def padded_shape(shape: tuple[int, int], levels: int) -> tuple[int, int]:
    """``shape`` grown to a multiple of ``2**levels`` per side, and to at least
    :data:`COARSE_MIN` pixels per side at the coarse scale."""
    k = 2**levels
    return tuple(max(COARSE_MIN, -(-int(v) // k)) * k for v in shape)


def downsample(x: torch.Tensor) -> torch.Tensor:
    """One octave down: the mean of every 2 x 2 block (exact for the pyramid)."""
    return F.avg_pool2d(x, 2)


class DetailNet(nn.Module):
    """An image (B, C, h, w) in [-1, 1] and per-pixel noise (B, 1, 2h, 2w) -> the
    image at twice the resolution, (B, C, 2h, 2w) in [-1, 1].

    The output is the bilinear upsampling plus a learned correction, added before a
    tanh (in the upsampling's atanh), so the network starts as plain upsampling and
    only has to learn the missing detail."""

    def __init__(self, config: DetailConfig):
        super().__init__()
        self.config = config
        c, f = config.channels, config.features
        layers = [nn.Conv2d(c + 1, f, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        for _ in range(config.layers - 1):
            layers += [nn.Conv2d(f, f, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        layers.append(nn.Conv2d(f, c, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, coarse: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(coarse, scale_factor=2, mode="bilinear", align_corners=False)
        return torch.tanh(torch.atanh(up.clamp(-0.999, 0.999)) + self.body(torch.cat([up, noise], 1)))
