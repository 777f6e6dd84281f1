"""A small 2D/3D U-Net sized for CPUs.

Two options exist for blind-spot (Noise2Void) training, following N2V2
(Hoeck et al., 2022): ``top_skip=False`` drops the highest-resolution skip
connection and ``blurpool=True`` low-pass filters before each downsampling.
Both remove the checkerboard artefacts plain N2V produces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class UNetConfig:
    """Everything needed to rebuild a :class:`UNet`."""

    dims: int = 2
    in_channels: int = 1
    out_channels: int = 1
    features: int = 32
    depth: int = 2
    top_skip: bool = True
    blurpool: bool = False
    residual: bool = True

    def __post_init__(self):
        if self.dims not in (2, 3):
            raise ValueError(f"dims must be 2 or 3, got {self.dims}")
        if self.depth < 1 or self.depth > 5:
            raise ValueError(f"depth must be 1..5, got {self.depth}")
        if self.features < 1 or self.in_channels < 1 or self.out_channels < 1:
            raise ValueError("features and channel counts must be positive")

    def to_dict(self) -> dict:
        return asdict(self)


def _conv(dims):
    return nn.Conv2d if dims == 2 else nn.Conv3d


class _Block(nn.Module):
    def __init__(self, dims, cin, cout):
        super().__init__()
        conv = _conv(dims)
        self.c1 = conv(cin, cout, 3, padding=1)
        self.c2 = conv(cout, cout, 3, padding=1)

    def forward(self, x):
        x = F.leaky_relu(self.c1(x), 0.1)
        return F.leaky_relu(self.c2(x), 0.1)


class _BlurPool(nn.Module):
    """Max pooling preceded by a [1 2 1] binomial blur (anti-aliased downsampling)."""

    def __init__(self, dims):
        super().__init__()
        self.dims = dims
        k1 = torch.tensor([1.0, 2.0, 1.0])
        k = k1[:, None] * k1[None, :] if dims == 2 else k1[:, None, None] * k1[None, :, None] * k1[None, None, :]
        self.register_buffer("kernel", (k / k.sum())[None, None], persistent=False)

    def forward(self, x):
        c = x.shape[1]
        weight = self.kernel.expand(c, *self.kernel.shape[1:])
        pool = F.max_pool2d if self.dims == 2 else F.max_pool3d
        conv = F.conv2d if self.dims == 2 else F.conv3d
        x = pool(x, 2, stride=1, padding=0)
        x = F.pad(x, (0, 1) * self.dims, mode="replicate")
        return conv(F.pad(x, (1, 1) * self.dims, mode="replicate"), weight, stride=2, groups=c)


class UNet(nn.Module):
    """U-Net: ``depth`` downsamplings, ``features * 2**level`` channels per level.

    Input (N, in_channels, *spatial) with every spatial size divisible by
    ``2**depth``; output (N, out_channels, *spatial). With ``residual`` (and equal
    channel counts) the network predicts a correction added to its input.
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        d, f = config.dims, config.features
        self.enc = nn.ModuleList()
        self.down = nn.ModuleList()
        cin = config.in_channels
        for level in range(config.depth):
            self.enc.append(_Block(d, cin, f * 2**level))
            self.down.append(_BlurPool(d) if config.blurpool else (nn.MaxPool2d(2) if d == 2 else nn.MaxPool3d(2)))
            cin = f * 2**level
        self.bottom = _Block(d, cin, f * 2**config.depth)
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        convt = nn.ConvTranspose2d if d == 2 else nn.ConvTranspose3d
        for level in reversed(range(config.depth)):
            c = f * 2**level
            self.up.append(convt(c * 2, c, 2, stride=2))
            skip = level > 0 or config.top_skip
            self.dec.append(_Block(d, c * 2 if skip else c, c))
        self.head = _conv(d)(f, config.out_channels, 1)
        if config.residual and config.in_channels == config.out_channels:
            # an untrained residual net is then exactly the identity: a safe start
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)

    @property
    def multiple(self) -> int:
        """Spatial sizes must be multiples of this."""
        return 2**self.config.depth

    def forward(self, x):
        skips = []
        h = x
        for enc, down in zip(self.enc, self.down):
            h = enc(h)
            skips.append(h)
            h = down(h)
        h = self.bottom(h)
        for i, (up, dec) in enumerate(zip(self.up, self.dec)):
            h = up(h)
            level = self.config.depth - 1 - i
            if level > 0 or self.config.top_skip:
                h = torch.cat([h, skips[level]], dim=1)
            h = dec(h)
        out = self.head(h)
        if self.config.residual and self.config.in_channels == self.config.out_channels:
            out = out + x
        return out
