"""Samples mode for images larger than 32 pixels: the plan of the coarse-to-fine
pyramid (:mod:`..models.pyramid`), the real images' pyramid, one training step of
the detail networks, and their pass at generation."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from skimage.transform import resize

from ..models.pyramid import (
    MAX_LEVELS,
    MAX_SIDE,
    DetailConfig,
    DetailNet,
    detail_discriminator,
    downsample,
    padded_shape,
    pyramid_levels,
)
from ..training import frozen
from ._gan_losses import _ema_update, _hinge_d, averaged, patch_statistics

#: real images per detail network and step
_BATCH = 8


@dataclass(frozen=True)
class Pyramid:
    """Where an ImageGAN's samples are made coarse to fine: the images are learnt at
    ``work_shape`` (their own shape, or resized to at most :data:`MAX_SIDE`), padded
    (by reflection) to :attr:`padded`, with ``levels`` octaves of detail above the
    coarse scale, each added by a :class:`DetailNet` of ``detail``."""

    levels: int
    work_shape: tuple[int, int]
    detail: DetailConfig

    def __post_init__(self):
        if not 1 <= self.levels <= MAX_LEVELS:
            raise ValueError(f"levels must be 1..{MAX_LEVELS}, got {self.levels!r}")
        if len(self.work_shape) != 2 or not all(1 <= int(v) <= MAX_SIDE for v in self.work_shape):
            raise ValueError(f"work_shape must be two sizes of 1..{MAX_SIDE}, got {self.work_shape!r}")

    @classmethod
    def plan(cls, shape: tuple[int, int], image_size: int | None, channels: int, n_classes: int = 0) -> Pyramid | None:
        """The pyramid for images of ``shape`` (of ``n_classes`` classes, 0: none), or
        None where one DCGAN learns them directly (images of at most 32 pixels per
        side, or an explicit ``image_size``).

        The detail networks keep :class:`DetailConfig`'s width (32) whatever the
        ImageGAN's ``features``: made as narrow as the coarse pair (8 or 16), they
        did not learn the finest octave's grain in the 60 steps of
        test_samples_larger_than_32_pixels_are_made_coarse_to_fine (the mean absolute
        finest band 0.008-0.012 against the data's 0.144; plain upsampling 0.008), nor
        the classes' grain in the 100 of the conditional test (2026-12-06)."""
        if image_size is not None or max(shape) <= 32:
            return None
        scale = min(1.0, MAX_SIDE / max(shape))
        work = tuple(max(1, round(v * scale)) for v in shape)
        return cls(pyramid_levels(work), work, DetailConfig(channels=channels, n_classes=n_classes))

    @property
    def padded(self) -> tuple[int, int]:
        return padded_shape(self.work_shape, self.levels)

    @property
    def _offset(self) -> tuple[int, int]:
        """Where the working image starts in the padded one (the padding is centred)."""
        return tuple((p - w) // 2 for p, w in zip(self.padded, self.work_shape))

    @property
    def coarse_shape(self) -> tuple[int, int]:
        return tuple(v // 2**self.levels for v in self.padded)

    def to_json(self) -> dict:
        return {"levels": self.levels, "work_shape": list(self.work_shape), "detail": dataclasses.asdict(self.detail)}

    @classmethod
    def from_json(cls, state: dict) -> Pyramid:
        return cls(int(state["levels"]), tuple(int(v) for v in state["work_shape"]), DetailConfig(**state["detail"]))

    # -- data --------------------------------------------------------------------------
    def images(self, x: np.ndarray, device) -> list[torch.Tensor]:
        """(N, C, Y, X) images in [-1, 1] -> their pyramid, finest first: resized to
        ``work_shape`` if needed, padded by reflection to :attr:`padded`, then halved
        ``levels`` times by 2 x 2 averaging."""
        if tuple(x.shape[-2:]) != self.work_shape:
            x = np.stack([resize(im, (x.shape[1], *self.work_shape), order=1, anti_aliasing=True) for im in x])
        (a, b), (py, px), (wy, wx) = self._offset, self.padded, self.work_shape
        x = np.pad(x, ((0, 0), (0, 0), (a, py - wy - a), (b, px - wx - b)), mode="symmetric")
        levels = [torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)]
        for _ in range(self.levels):
            levels.append(downsample(levels[-1]))
        return levels

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """Generated images at :attr:`padded` -> the ``work_shape`` centre."""
        (a, b), (wy, wx) = self._offset, self.work_shape
        return x[..., a : a + wy, b : b + wx]

    # -- networks ------------------------------------------------------------------------
    def build(self) -> dict[str, torch.nn.Module]:
        """The detail networks (coarse to fine), their moving average and their
        discriminators, to sit in the ImageGAN's ``net`` beside the coarse pair."""
        details = torch.nn.ModuleList(DetailNet(self.detail) for _ in range(self.levels))
        critics = torch.nn.ModuleList(detail_discriminator(self.detail) for _ in range(self.levels))
        return {"details": details, "details_ema": averaged(details), "detail_discriminators": critics}


def detail_noise(n: int, shape, gen: torch.Generator, device) -> torch.Tensor:
    """Per-pixel noise for a detail network's output of ``shape`` (Y, X)."""
    return torch.randn((n, 1, *shape), generator=gen).to(device)


class DetailTraining:
    """One step of every detail network: each learns, on random real images of its
    octave (flipped at random if ``flip``), to restore them from their 2 x 2 means,
    against its patch discriminator (hinge loss) plus the patch-statistics loss of
    texture mode on its octave. ``labels`` (N,): the images' classes, which a
    class-conditional network and its discriminator are told."""

    def __init__(
        self,
        net: torch.nn.ModuleDict,
        levels: list[torch.Tensor],
        flip: bool,
        rng: torch.Generator,
        labels: torch.Tensor | None = None,
    ):
        self.nets, self.ema, self.critics = net["details"], net["details_ema"], net["detail_discriminators"]
        self.targets = levels[-2::-1]  # the octave each detail network makes, coarse to fine
        self.flip, self.rng, self.labels = flip, rng, labels
        self.stats = [patch_statistics(t, t.shape[-2:], flip) for t in self.targets]

    def _real(self, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = torch.randint(target.shape[0], (_BATCH,), generator=self.rng).to(target.device)
        real = target[idx]
        if self.flip:
            flips = (torch.rand(_BATCH, generator=self.rng) < 0.5).to(target.device)
            real = torch.where(flips[:, None, None, None], real.flip(-1), real)
        return real, (self.labels[idx] if self.labels is not None else None)

    def step(self, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer, ema: float) -> dict:
        reals, fakes, classes = [], [], []
        for net, target in zip(self.nets, self.targets):
            real, y = self._real(target)
            noise = detail_noise(real.shape[0], real.shape[-2:], self.rng, real.device)
            reals.append(real)
            classes.append(y)
            fakes.append(net(downsample(real), noise, y))
        loss_d = sum(_hinge_d(c(r, y), c(f.detach(), y)) for c, r, f, y in zip(self.critics, reals, fakes, classes))
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        with frozen(self.critics):
            loss_g = sum(
                -c(f, y).mean() + s(f, self.rng) for c, f, y, s in zip(self.critics, fakes, classes, self.stats)
            )
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
        opt_g.step()
        _ema_update(self.ema, self.nets, ema)
        return {"detail_g": loss_g.detach().item(), "detail_d": loss_d.detach().item()}


@torch.no_grad()
def add_detail(
    details: torch.nn.ModuleList,
    coarse: torch.Tensor,
    seed: int,
    first: int,
    *,
    same: bool = False,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """The detail networks in turn on generated coarse images (images ``first``,
    ``first + 1``, ... of a ``generate`` call): noise from ``seed`` and the images'
    place, so a seed gives the same images however they are batched; ``same``: the
    noise of image 0 for every image; ``labels``: the images' classes (conditional
    samples)."""
    x = coarse
    for level, net in enumerate(details):
        shape = tuple(2 * v for v in x.shape[-2:])
        noise = torch.cat(
            [
                detail_noise(1, shape, torch.Generator().manual_seed(_noise_seed(seed, index, level)), x.device)
                for index in ([0] * x.shape[0] if same else range(first, first + x.shape[0]))
            ]
        )
        x = net(x, noise, labels)
    return x


def _noise_seed(seed: int, index: int, level: int) -> int:
    return (int(seed) * 1_000_003 + index * 7919 + level * 104_729) % (2**63)
