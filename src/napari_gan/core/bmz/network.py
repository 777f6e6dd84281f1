"""The network a bioimage.io package runs: one of the project's U-Nets with what our
``predict`` does around it on one tile, written for TorchScript.

``predict`` normalises each image by its own percentiles, mirror-pads it, runs the
U-Net tile by tile, blends the tiles and maps the result back to the input's
intensities. bioimage.io's processing ops can normalise by percentiles but cannot
undo that afterwards (no op scales an output by its input's percentiles), and
none pads symmetrically, upsamples by cubic splines or splits an output into a
softmax and a sigmoid part. :class:`PackagedNet` does those steps itself, on the
whole image as a single tile, so a package reproduces ``predict`` exactly wherever
``predict`` uses a single tile (every image up to ``tile_size`` minus the overlap)
and to within the tile blending elsewhere.

Inside a package this file follows the text of ``napari_gan/core/models/unet.py``
(the architecture file is the two together); it needs nothing but torch.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..models.unet import UNet, UNetConfig  # a package's architecture file: unet.py's text precedes this one

#: ``Normalization.fit`` in napari_gan/core/data.py: percentiles and the subsample size
PERCENTILES = (1.0, 99.8)
MAX_SAMPLES = 4_000_000
#: terms of the cardinal cubic spline kept on each side (it decays as 0.268**k: 1e-9 at 16)
SPLINE_RADIUS = 16


def _beta3(t: float) -> float:
    t = abs(t)
    if t < 1:
        return 2 / 3 - t * t + t**3 / 2
    if t < 2:
        return (2 - t) ** 3 / 6
    return 0.0


def _cardinal_spline(t: float) -> float:
    """The cubic spline through a unit impulse (B-spline coefficients sqrt(3) z**|k|,
    z = sqrt(3) - 2): interpolating samples with it is what scipy's ``order=3`` does."""
    z, k0 = math.sqrt(3) - 2, math.floor(t)
    return sum(math.sqrt(3) * z ** abs(k) * _beta3(t - k) for k in range(k0 - 40, k0 + 42))


def spline_kernels(scale: int, radius: int = SPLINE_RADIUS) -> torch.Tensor:
    """(scale, 2 radius + 1) float64: output pixel ``scale * i + p`` of a ``scale``-fold
    upsampling is ``sum_m kernel[p, m] * x[i + m - radius]``; the output grid is that of
    ``skimage.transform.rescale`` (pixel centres at ``(j + 0.5) / scale - 0.5``)."""
    rows = []
    for p in range(scale):
        delta = (p + 0.5) / scale - 0.5
        rows.append([_cardinal_spline(delta - m) for m in range(-radius, radius + 1)])
    return torch.tensor(rows, dtype=torch.float64)


def symmetric_index(n: int, lo: int, hi: int, device: torch.device) -> torch.Tensor:
    """Indices of ``numpy.pad(mode="symmetric")``: edge pixels repeated, any pad width."""
    k = torch.remainder(torch.arange(-lo, n + hi, device=device), 2 * n)
    return torch.where(k >= n, 2 * n - 1 - k, k)


def mirror_index(n: int, lo: int, hi: int, device: torch.device) -> torch.Tensor:
    """Indices of ``numpy.pad(mode="reflect")`` (scipy's "mirror"): edge pixels not repeated."""
    idx = torch.arange(-lo, n + hi, device=device)
    if n == 1:
        return torch.zeros_like(idx)
    k = torch.remainder(idx, 2 * (n - 1))
    return torch.where(k >= n, 2 * (n - 1) - k, k)


class PackagedNet(nn.Module):
    """``predict`` of one image as one tile: (B, C, *spatial) float -> (B, C_out, *spatial')
    (``spatial' = upscale * spatial`` in Y and X).

    Parameters
    ----------
    net : dict
        The U-Net's config (:class:`UNetConfig` fields).
    normalize : {"none", "joint", "channel"}
        Percentile normalisation of each sample (batch entry) inside the network:
        all channels together (the Denoiser) or each channel (the Translator); "none"
        where the package's preprocessing does it.
    invert : bool
        Map the output back with the input's normalisation.
    upscale : int
        Cubic-spline upsampling of Y and X before the U-Net (the super-resolution
        Translator), clipped to the input's range as ``skimage.transform.rescale`` does.
    margin : int
        Symmetric padding on every side before the U-Net (``predict``'s half overlap);
        the far sides are padded further up to a multiple of ``2**depth``.
    residual_input : bool
        Add the U-Net's input to its output (the Translator's residual).
    activation : {"none", "softmax", "instance"}
        "instance": softmax over the first three channels, sigmoid of the others.
    """

    def __init__(
        self,
        net: dict,
        normalize: str = "none",
        invert: bool = False,
        upscale: int = 1,
        margin: int = 0,
        residual_input: bool = False,
        activation: str = "none",
    ):
        super().__init__()
        if normalize not in ("none", "joint", "channel") or activation not in ("none", "softmax", "instance"):
            raise ValueError(f"unknown normalize {normalize!r} or activation {activation!r}")
        self.net = UNet(UNetConfig(**net))
        self.normalize = normalize
        self.invert = invert
        self.upscale = int(upscale)
        self.margin = int(margin)
        self.residual_input = residual_input
        self.activation = activation
        self.multiple = 2 ** int(net.get("depth", 2))
        self.lower_q = PERCENTILES[0] / 100
        self.upper_q = PERCENTILES[1] / 100
        self.max_samples = MAX_SAMPLES
        self.register_buffer("spline", spline_kernels(max(self.upscale, 1)), persistent=False)

    def _range(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(low, span) of one sample's values as ``Normalization.fit`` finds them (float64)."""
        if flat.numel() > self.max_samples:
            flat = flat[:: flat.numel() // self.max_samples + 1]
        flat = flat.double()
        q = torch.quantile(flat, torch.tensor([self.lower_q, self.upper_q], dtype=torch.float64, device=flat.device))
        low, high = q[0], q[1]
        if not bool(high > low):
            low, high = flat.min(), flat.max()
        if not bool(high > low):  # a constant channel is kept, scaled by 1 (as ChannelNorm)
            high = low + 1.0
        return low, high - low

    def _ranges(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C or 1, 1, ...) float32 lows and spans."""
        per_channel = self.normalize == "channel"
        groups = x.shape[1] if per_channel else 1
        lows = torch.zeros((x.shape[0], groups), dtype=torch.float64, device=x.device)
        spans = torch.ones((x.shape[0], groups), dtype=torch.float64, device=x.device)
        for b in range(x.shape[0]):
            for c in range(groups):
                values = x[b, c] if per_channel else x[b]
                low, span = self._range(values.reshape(-1))
                lows[b, c] = low
                spans[b, c] = span
        shape = [x.shape[0], groups] + [1] * (x.dim() - 2)
        return lows.float().reshape(shape), spans.float().reshape(shape)

    def _upscale_axis(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        n, r = x.shape[dim], (self.spline.shape[1] - 1) // 2
        x = x.movedim(dim, -1).index_select(-1, mirror_index(n, r, r, x.device))
        shape = [int(s) for s in x.shape[:-1]]
        shape.append(n * self.spline.shape[0])
        phases = torch.conv1d(x.reshape(-1, 1, n + 2 * r), self.spline.to(x.dtype).unsqueeze(1))  # (M, scale, n)
        return phases.transpose(1, 2).reshape(shape).movedim(-1, dim)

    def _upsample(self, x: torch.Tensor) -> torch.Tensor:
        xd = x.double()
        out = self._upscale_axis(self._upscale_axis(xd, -1), -2)
        lo = xd.flatten(1).min(1)[0].reshape([-1] + [1] * (x.dim() - 1))
        hi = xd.flatten(1).max(1)[0].reshape([-1] + [1] * (x.dim() - 1))
        return torch.maximum(torch.minimum(out, hi), lo).float()

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        for dim in range(2, x.dim()):
            n = x.shape[dim]
            total = (n + 2 * self.margin + self.multiple - 1) // self.multiple * self.multiple
            x = x.index_select(dim, symmetric_index(n, self.margin, total - n - self.margin, x.device))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        lows, spans = torch.zeros(1, device=x.device), torch.ones(1, device=x.device)
        if self.normalize != "none":
            lows, spans = self._ranges(x)
            x = (x - lows) / spans
        if self.upscale > 1:
            x = self._upsample(x)
        padded = self._pad(x)
        y = self.net(padded)
        if self.residual_input:
            y = y + padded
        if self.activation == "softmax":
            y = torch.softmax(y, 1)
        elif self.activation == "instance":
            y = torch.cat([torch.softmax(y[:, :3], 1), torch.sigmoid(y[:, 3:])], 1)
        for dim in range(2, x.dim()):
            y = y.narrow(dim, self.margin, x.shape[dim])
        if self.invert:
            y = y * spans + lows
        return y
