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
al. 2019), across many images instead of one. For class-conditional samples the
detail networks and their discriminators are told the class too (as in Denton et
al.'s class-conditional LAPGAN): classes may differ in detail that the coarse scale
does not hold.

Why: the generator of one DCGAN on a 64 x 64 canvas takes about 20 times the
operations per image of the 16 x 16 one, and in the minutes a CPU user gives it, it
learns blurred averages (docs/benchmarks/nuclei.md, "Samples larger than 32 pixels").
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from ..errors import check_positive_ints
from .dcgan import PatchDiscriminator

#: the coarse scale's longest side is at most this
COARSE_MAX = 16
#: the coarse scale's shortest side is at least this (the smallest DCGAN input)
COARSE_MIN = 8
#: at most this many octaves of detail
MAX_LEVELS = 4
#: images up to this many pixels per side are learnt at their own size; larger ones
#: are resized to fit it (keeping their aspect)
MAX_SIDE = 128
#: a class-conditional detail network and its discriminator see the class as this
#: many learned constant input maps
CLASS_MAPS = 8
#: at most this many classes
MAX_CLASSES = 65535


@dataclass(frozen=True)
class DetailConfig:
    """Shape of a :class:`DetailNet` and its discriminator (a
    :class:`~.dcgan.PatchDiscriminator`, which reads ``channels``, ``d_features`` and ``d_layers``): image
    ``channels``, the detail network's width ``features`` and its number of 3 x 3
    convolutions ``layers``; the discriminator's first width ``d_features`` and its
    stride-2 stages ``d_layers``; ``n_classes`` 0 for unconditional samples, else
    the classes both networks are told (absent from checkpoints before commit
    49eff48: 0)."""

    channels: int = 1
    features: int = 32
    layers: int = 4
    d_features: int = 32
    d_layers: int = 2
    n_classes: int = 0

    def __post_init__(self):
        check_positive_ints(self, ("channels", "features", "layers", "d_features", "d_layers"))
        if self.layers > 8 or self.d_layers > 4:
            raise ValueError(f"layers must be 1..8 and d_layers 1..4, got {self.layers} and {self.d_layers}")
        if not 0 <= self.n_classes <= MAX_CLASSES:
            raise ValueError(f"n_classes must be 0..{MAX_CLASSES}, got {self.n_classes}")


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


def _class_maps(embed: nn.Module | None, y: torch.Tensor | None, like: torch.Tensor) -> list[torch.Tensor]:
    """[the classes ``y`` (B,) as constant maps of ``like``'s size] for a conditional
    network (``embed`` set), else []."""
    if embed is None:
        return []
    if y is None:
        raise ValueError("a class-conditional detail network needs the classes")
    return [embed(y)[:, :, None, None].expand(-1, -1, *like.shape[-2:]).to(like.dtype)]


class DetailNet(nn.Module):
    """An image (B, C, h, w) in [-1, 1], per-pixel noise (B, 1, 2h, 2w) and, if
    ``config.n_classes``, the classes (B,) -> the image at twice the resolution,
    (B, C, 2h, 2w) in [-1, 1].

    The output is the bilinear upsampling plus a learned correction, added before a
    tanh (in the upsampling's atanh), so the network starts as plain upsampling and
    only has to learn the missing detail. A class-conditional network also sees its
    class, as :data:`CLASS_MAPS` learned constant maps: the classes of a data set may
    differ in detail the coarse scale does not hold (a thin rim, a texture)."""

    def __init__(self, config: DetailConfig):
        super().__init__()
        self.config = config
        c, f = config.channels, config.features
        self.embed = nn.Embedding(config.n_classes, CLASS_MAPS) if config.n_classes else None
        extra = CLASS_MAPS if config.n_classes else 0
        layers = [nn.Conv2d(c + 1 + extra, f, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        for _ in range(config.layers - 1):
            layers += [nn.Conv2d(f, f, 3, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        layers.append(nn.Conv2d(f, c, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, coarse: torch.Tensor, noise: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        up = F.interpolate(coarse, scale_factor=2, mode="bilinear", align_corners=False)
        inputs = torch.cat([up, noise, *_class_maps(self.embed, y, up)], 1)
        return torch.tanh(torch.atanh(up.clamp(-0.999, 0.999)) + self.body(inputs))


class ConditionalPatchDiscriminator(nn.Module):
    """The detail networks' :class:`~.dcgan.PatchDiscriminator` for class-conditional
    samples: it sees the image and its class (as :data:`CLASS_MAPS` maps, from a
    spectrally normalised embedding), so it judges the detail of each class apart."""

    def __init__(self, config: DetailConfig):
        super().__init__()
        self.embed = spectral_norm(nn.Embedding(config.n_classes, CLASS_MAPS))
        self.body = PatchDiscriminator(dataclasses.replace(config, channels=config.channels + CLASS_MAPS))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(torch.cat([x, *_class_maps(self.embed, y, x)], 1))


def detail_discriminator(config: DetailConfig) -> nn.Module:
    """The patch discriminator of a detail network of ``config`` (conditional if it is)."""
    return ConditionalPatchDiscriminator(config) if config.n_classes else PatchDiscriminator(config)
