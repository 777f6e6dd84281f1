"""GAN networks: a DCGAN-style generator/discriminator pair for small images (32 or
64 pixels), and a fully convolutional texture generator on spatial noise with a
patch discriminator (SGAN/PSGAN style).

Generators upsample with nearest-neighbour + 3x3 convolution (no checkerboard
artefacts of transposed convolutions) and use batch norm; discriminators use
spectral norm and no batch norm, which keeps hinge-loss training stable on the
few hundred images a user has. Class-conditional models embed the class into the
generator's input and use a projection discriminator (Miyato & Koyama, 2018).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from ..errors import check_positive_ints


@dataclass(frozen=True)
class DCGANConfig:
    """Shape of a :class:`Generator` / :class:`Discriminator` pair.

    ``size`` is the image edge (16, 32 or 64; 16 is the coarse scale of samples
    made coarse to fine, :mod:`.pyramid`), ``channels`` the image channels,
    ``latent`` the length of z, ``features`` the width of the last generator block
    (and first discriminator block; widths double per 2x downsampling, capped at
    ``8 * features``), ``n_classes`` 0 for an unconditional model.

    ``height`` and ``width`` are the edges of the images the pair works on when
    they are smaller than ``size`` (at least ``2 ** n_blocks``): the generator's
    output is cropped to its centre and the discriminator sees images of that size,
    so images are learnt at their own resolution. 0 (the setting of checkpoints
    saved before the option existed): ``size`` x ``size``, to which the images are
    resized.
    """

    size: int = 32
    channels: int = 1
    latent: int = 64
    features: int = 32
    n_classes: int = 0
    height: int = 0
    width: int = 0

    def __post_init__(self):
        if self.size not in (16, 32, 64):
            raise ValueError(f"size must be 16, 32 or 64, got {self.size!r}")
        check_positive_ints(self, ("channels", "latent", "features"))
        if self.n_classes < 0:
            raise ValueError("n_classes must be >= 0")
        if (self.height == 0) != (self.width == 0) or not all(
            v == 0 or 2**self.n_blocks <= v <= self.size for v in (self.height, self.width)
        ):
            raise ValueError(
                f"height and width must both be 0 or between {2**self.n_blocks} and {self.size}, "
                f"got {self.height!r} and {self.width!r}"
            )

    @classmethod
    def fitting(cls, shape: tuple[int, int], image_size: int | None = None, **options) -> DCGANConfig:
        """The pair for training images of ``shape`` (Y, X): images that fit in 32
        (or 64) pixels and are at least 8 (16) per side are learnt at their own size,
        on the centre of the generator's output; others are resized to ``size`` x
        ``size`` (``image_size``, or 32 up to 40 pixels, else 64). Resizing is not the
        default because the round trip blurs: on the 25 x 25 faces of ``lfw_subset``,
        faces resized to 32 and back are told from the originals by the two-sample
        classifier test 84 % of the time (50 % for two sets of real faces)."""
        fits = [s for s in (32, 64) if max(shape) <= s and min(shape) >= 2 ** (3 if s == 32 else 4)]
        if image_size is not None:
            fits = [s for s in fits if s == image_size]
        if fits:
            return cls(size=fits[0], height=shape[0], width=shape[1], **options)
        return cls(size=image_size or (32 if max(shape) <= 40 else 64), **options)

    @property
    def image_shape(self) -> tuple[int, int]:
        """(Y, X) of the images the generator makes and the discriminator judges."""
        return (self.height, self.width) if self.height else (self.size, self.size)

    @property
    def n_blocks(self) -> int:
        return {16: 2, 32: 3, 64: 4}[self.size]  # 4 px -> size


def _widths(cfg_features: int, n: int) -> list[int]:
    """Widths from coarse (4 px) to fine: 8f, 4f, 2f, f (capped at 8f)."""
    return [cfg_features * min(8, 2 ** (n - i)) for i in range(n + 1)]


class Generator(nn.Module):
    """z (B, latent) [+ class (B,)] -> images (B, channels, size, size) in [-1, 1]."""

    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.config = config
        n = config.n_blocks
        w = _widths(config.features, n)
        self.embed = nn.Embedding(config.n_classes, config.latent) if config.n_classes else None
        self.fc = nn.Linear(config.latent, w[0] * 16)
        self.bn0 = nn.BatchNorm2d(w[0])
        blocks = []
        for i in range(n):
            blocks += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(w[i], w[i + 1], 3, padding=1, bias=False),
                nn.BatchNorm2d(w[i + 1]),
                nn.ReLU(inplace=True),
            ]
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Conv2d(w[-1], config.channels, 3, padding=1)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = z * self.embed(y)  # multiplicative conditioning keeps z's scale
        h = self.fc(z).view(z.shape[0], -1, 4, 4)
        h = torch.relu(self.bn0(h))
        x = torch.tanh(self.out(self.blocks(h)))
        (hy, hx), s = self.config.image_shape, self.config.size
        if (hy, hx) != (s, s):  # the centre of the size x size output
            a, b = (s - hy) // 2, (s - hx) // 2
            x = x[..., a : a + hy, b : b + hx]
        return x


class Discriminator(nn.Module):
    """images (B, channels, size, size) [+ class] -> one realness score per image."""

    def __init__(self, config: DCGANConfig):
        super().__init__()
        self.config = config
        n = config.n_blocks
        w = _widths(config.features, n)[::-1]  # f, 2f, ... 8f
        layers = [spectral_norm(nn.Conv2d(config.channels, w[0], 3, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
        for i in range(n):
            layers += [
                spectral_norm(nn.Conv2d(w[i], w[i + 1], 4, stride=2, padding=1)),
                nn.LeakyReLU(0.2, inplace=True),
            ]
        self.body = nn.Sequential(*layers)
        # each 4 x 4 stride-2 convolution (padding 1) halves an edge, rounding down
        hy, hx = (v // 2**n for v in config.image_shape)
        self.fc = spectral_norm(nn.Linear(w[-1] * hy * hx, 1))
        self.embed = spectral_norm(nn.Embedding(config.n_classes, w[-1] * hy * hx)) if config.n_classes else None

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        h = self.body(x).flatten(1)
        out = self.fc(h)[:, 0]
        if self.embed is not None:
            out = out + (self.embed(y) * h).sum(1)
        return out


# --------------------------------------------------------------------------- textures


@dataclass(frozen=True)
class TextureGANConfig:
    """Shape of a :class:`TextureGenerator` / :class:`PatchDiscriminator` pair.

    The generator maps a noise field of ``latent`` channels at 1/``2**n_up`` of the
    output resolution to an image; ``features`` is its finest width (coarser
    blocks are twice as wide per level). ``fine_noise`` more noise channels are
    added, with a learned weight per feature, after the convolution of every
    upsampled level (per-pixel noise as in StyleGAN), so fine detail does not have
    to be made from the coarse noise alone. They travel as extra channels of the
    same coarse noise field (``4**level`` channels per fine channel, rearranged to
    the level's resolution by a pixel shuffle): one field still determines the
    texture, and tiles of it give the same result as one pass. 0 (the setting of
    checkpoints saved before it existed) turns it off. ``upsample`` is how each
    level doubles the resolution before its convolution: "bilinear", or "nearest"
    (the setting of checkpoints saved before the option existed), whose copied
    2 x 2 blocks leave a lattice with the noise cells' period in the texture.
    """

    channels: int = 1
    latent: int = 16
    features: int = 24
    n_up: int = 3
    d_features: int = 32
    d_layers: int = 3
    fine_noise: int = 1
    upsample: str = "bilinear"

    def __post_init__(self):
        check_positive_ints(self, ("channels", "latent", "features", "n_up", "d_features", "d_layers"))
        # bounded like the other networks' depths: each level is a module of its own,
        # and the fine noise grows as 4**n_up
        if self.n_up > 6 or self.d_layers > 6:
            raise ValueError(f"n_up and d_layers must be 1..6, got {self.n_up} and {self.d_layers}")
        if not isinstance(self.fine_noise, int) or isinstance(self.fine_noise, bool) or self.fine_noise < 0:
            raise ValueError(f"fine_noise must be an integer >= 0, got {self.fine_noise!r}")
        if self.upsample not in ("bilinear", "nearest"):
            raise ValueError(f"upsample must be 'bilinear' or 'nearest', got {self.upsample!r}")

    @property
    def noise_channels(self) -> int:
        """Channels of the generator's input noise field: ``latent`` plus the
        pixel-shuffled fine noise of every upsampled level."""
        return self.latent + self.fine_noise * sum(4**level for level in range(1, self.n_up + 1))

    @property
    def stride(self) -> int:
        """Output pixels per noise cell."""
        return 2**self.n_up

    @property
    def noise_halo(self) -> int:
        """Noise cells on each side that influence one output pixel's cell: the
        generator's receptive field, in noise cells (rounded up)."""
        # each 3x3 conv at level l (resolution 2**l) reaches 1 / 2**l cells; two per block
        reach = 2.0  # the two 3x3 convs at noise resolution
        for level in range(1, self.n_up + 1):
            reach += 1.0 / 2**level
            if self.upsample == "bilinear":  # one input pixel either side, at the coarser level
                reach += 1.0 / 2 ** (level - 1)
        reach += 1.0 / 2**self.n_up  # output conv
        return int(reach) + 1


class TextureGenerator(nn.Module):
    """Noise (B, latent, h, w) -> image (B, channels, h * stride, w * stride) in [-1, 1].

    Fully convolutional: any noise size gives a texture of that size times the
    stride, and a large noise field can be processed in overlapping tiles with the
    same result as one pass (see :attr:`TextureGANConfig.noise_halo`).
    """

    def __init__(self, config: TextureGANConfig):
        super().__init__()
        self.config = config
        n = config.n_up
        w = [config.features * 2 ** (n - i) for i in range(n + 1)]
        layers = [
            nn.Conv2d(config.latent, w[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(w[0]),
            nn.ReLU(inplace=True),
            nn.Conv2d(w[0], w[0], 3, padding=1, bias=False),
            nn.BatchNorm2d(w[0]),
            nn.ReLU(inplace=True),
        ]
        for i in range(n):
            layers += [
                nn.Upsample(scale_factor=2, mode=config.upsample),  # bilinear: align_corners=False
                nn.Conv2d(w[i], w[i + 1], 3, padding=1, bias=False),
                nn.BatchNorm2d(w[i + 1]),
                nn.ReLU(inplace=True),
            ]
        layers.append(nn.Conv2d(w[-1], config.channels, 3, padding=1))
        self.body = nn.Sequential(*layers)
        # per-feature weights of the fine noise; zero at the start, so training
        # begins from the plain generator and learns how much noise each level takes
        self.noise_weights = nn.ModuleList(
            nn.Conv2d(config.fine_noise, w[i + 1], 1, bias=False) for i in range(n if config.fine_noise else 0)
        )
        for conv in self.noise_weights:
            nn.init.zeros_(conv.weight)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        c = self.config
        x = self.body[:6](noise[:, : c.latent])  # the two blocks at noise resolution
        start = c.latent
        for i in range(c.n_up):
            up, conv, norm, act = self.body[6 + 4 * i : 10 + 4 * i]
            x = conv(up(x))
            if c.fine_noise:
                k = c.fine_noise * 4 ** (i + 1)
                x = x + self.noise_weights[i](F.pixel_shuffle(noise[:, start : start + k], 2 ** (i + 1)))
                start += k
            x = act(norm(x))
        return torch.tanh(self.body[-1](x))


class PatchDiscriminator(nn.Module):
    """image (B, channels, H, W) -> a map of realness scores, one per local patch."""

    def __init__(self, config: TextureGANConfig):
        super().__init__()
        f = config.d_features
        layers = [spectral_norm(nn.Conv2d(config.channels, f, 3, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
        for i in range(config.d_layers):
            a, b = f * 2**i, f * 2 ** (i + 1)
            layers += [spectral_norm(nn.Conv2d(a, b, 4, stride=2, padding=1)), nn.LeakyReLU(0.2, inplace=True)]
        layers.append(spectral_norm(nn.Conv2d(f * 2**config.d_layers, 1, 3, padding=1)))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, y: None = None) -> torch.Tensor:
        return self.body(x)
