"""What ImageGAN's training minimises and how it shows the discriminator its
images: differentiable augmentation, the hinge loss, the exponential moving average
of the generator, and texture mode's multi-scale patch-statistics loss."""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from ..metrics import _BINOMIAL
from ..sorting import sort_values

# --------------------------------------------------------------------------- augmentation


def diff_augment(x: torch.Tensor, p: float = 1.0) -> torch.Tensor:
    """DiffAugment (Zhao et al., 2020): random brightness, contrast, translation by up to
    1/8 of the size and a cutout of half the size, all differentiable so the generator
    learns through them. ``p`` < 1: each transform is applied to each image with
    probability ``p`` (adaptive augmentation). Uses torch's global generator (seeded by ``fit``)."""
    b, _, h, w = x.shape
    dev = x.device

    def chosen() -> torch.Tensor:  # (b, 1, 1, 1): which images a transform applies to
        if p >= 1:
            return torch.ones(b, 1, 1, 1, device=dev)
        return (torch.rand(b, 1, 1, 1, device=dev) < p).to(x.dtype)

    x = x + (torch.rand(b, 1, 1, 1, device=dev) - 0.5) * 0.5 * chosen()
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * (1 + ((torch.rand(b, 1, 1, 1, device=dev) * 0.5 - 0.25) * chosen())) + mean
    # translation: shift with zero fill, through a padded gather
    sy, sx = max(1, h // 8), max(1, w // 8)
    move = chosen().view(b, 1, 1).long()
    ty = torch.randint(-sy, sy + 1, (b, 1, 1), device=dev) * move
    tx = torch.randint(-sx, sx + 1, (b, 1, 1), device=dev) * move
    gy, gx = torch.meshgrid(torch.arange(h, device=dev), torch.arange(w, device=dev), indexing="ij")
    gy = torch.clamp(gy[None] + ty + 1, 0, h + 1)
    gx = torch.clamp(gx[None] + tx + 1, 0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1))
    x = padded.permute(0, 2, 3, 1)[torch.arange(b, device=dev)[:, None, None], gy, gx].permute(0, 3, 1, 2)
    # cutout
    ch, cw = h // 2, w // 2
    cy = torch.randint(0, h + 1 - ch % 2, (b, 1, 1), device=dev) - ch // 2
    cx = torch.randint(0, w + 1 - cw % 2, (b, 1, 1), device=dev) - cw // 2
    gy, gx = torch.meshgrid(torch.arange(h, device=dev), torch.arange(w, device=dev), indexing="ij")
    keep = ~(((gy[None] - cy) >= 0) & ((gy[None] - cy) < ch) & ((gx[None] - cx) >= 0) & ((gx[None] - cx) < cw))
    cut = chosen().view(b, 1, 1) > 0
    return x * (keep | ~cut)[:, None].to(x.dtype)


class AdaptiveAugment(torch.nn.Module):
    """Adaptive discriminator augmentation (Karras et al., 2020, "Training generative
    adversarial networks with limited data"): :func:`diff_augment` with probability
    ``p``, which starts at 0 and follows the discriminator's overfitting: every
    ``INTERVAL`` steps, ``p`` rises while the mean sign of its outputs on training
    images is above ``TARGET`` (it has grown sure of them) and falls otherwise, by
    ``INTERVAL * batch / SPEED`` (0 to 1 in ``SPEED`` images). ``p`` and the running
    sums are buffers, so they are saved with the model and restored on resume; under
    DistributedDataParallel each step's counts are added over the ranks, so every
    rank keeps the same sums and ``p``."""

    TARGET = 0.6
    INTERVAL = 4
    SPEED = 100_000

    def __init__(self):
        super().__init__()
        self.register_buffer("p", torch.zeros(()))
        self.register_buffer("signs", torch.zeros(2))  # sum of signs, outputs counted

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = float(self.p)
        return diff_augment(x, p) if p > 0 else x

    @torch.no_grad()
    def observe(self, d_real: torch.Tensor, step: int, batch: int) -> None:
        """Count the discriminator's outputs on a batch of training images; every
        ``INTERVAL`` steps, move ``p``."""
        counts = torch.stack([torch.sign(d_real.detach()).sum(), d_real.new_tensor(float(d_real.numel()))]).float()
        world = 1
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(counts)  # every rank keeps the same sums (and p)
            world = torch.distributed.get_world_size()
        self.signs += counts.to(self.signs)
        if step % self.INTERVAL:
            return
        if self.signs[1] > 0:
            r = float(self.signs[0] / self.signs[1])
            delta = self.INTERVAL * batch * world / self.SPEED
            self.p.copy_((self.p + (delta if r > self.TARGET else -delta)).clamp(0, 1))
        self.signs.zero_()


# --------------------------------------------------------------------------- patch statistics


def _blur_t(x: torch.Tensor) -> torch.Tensor:
    """5-tap binomial blur of (B, C, H, W), reflect-padded, channel by channel."""
    c = x.shape[1]
    k = torch.as_tensor(_BINOMIAL, dtype=x.dtype, device=x.device)  # the metric's filter
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, 5).expand(c, 1, 1, 5), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).expand(c, 1, 5, 1), groups=c)


def _laplacian_t(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Laplacian pyramid of (B, C, H, W), finest band first, the coarsest Gaussian level last."""
    out = []
    for _ in range(levels - 1):
        small = _blur_t(x)[..., ::2, ::2]
        up = F.interpolate(small, scale_factor=2, mode="nearest")[..., : x.shape[-2], : x.shape[-1]]
        out.append(x - _blur_t(up))
        x = small
    out.append(x)
    return out


def _random_patches(x: torch.Tensor, k: int, patch: int, gen: torch.Generator) -> torch.Tensor:
    """``k`` random ``patch x patch`` neighbourhoods of (B, C, H, W) -> (k, C * patch**2),
    laid out as ``F.unfold`` lays them out (channel, row, column)."""
    b, c, h, w = x.shape
    n = torch.randint(b, (k,), generator=gen).to(x.device)
    ys = torch.randint(h - patch + 1, (k,), generator=gen).to(x.device)
    xs = torch.randint(w - patch + 1, (k,), generator=gen).to(x.device)
    off = torch.arange(patch, device=x.device)
    yy = (ys[:, None] + off)[:, :, None]
    xx = (xs[:, None] + off)[:, None, :]
    return x.permute(0, 2, 3, 1)[n[:, None, None], yy, xx].permute(0, 3, 1, 2).reshape(k, -1)


def _some_patches(x: torch.Tensor, k: int, patch: int, gen: torch.Generator) -> torch.Tensor:
    """``k`` distinct ``patch x patch`` neighbourhoods of (B, C, H, W), drawn at random,
    -> (k, C * patch**2). Through ``F.unfold``, so the gradient is summed in a fixed
    order (deterministic for a seed, where a scattered gather's is not)."""
    cols = F.unfold(x, patch).transpose(1, 2).reshape(-1, x.shape[1] * patch * patch)
    return cols[torch.randperm(cols.shape[0], generator=gen)[:k].to(x.device)]


class _PatchStatistics:
    """Multi-scale patch-distribution loss: the sliced Wasserstein distance between
    ``patch x patch`` neighbourhoods of generated and source images, on every band of
    a Laplacian pyramid (each band scaled by the source's standard deviation in it, so
    all scales count alike). The texture generator minimises it next to the
    adversarial loss. It is the patch-matching idea of Heitz et al. (2021) and of
    Elnekave & Weiss (GPDM, 2022) on raw pixels, where no pretrained feature network
    is available, and it pins down the amplitude of every band and their joint
    statistics, which the discriminator alone matches only slowly."""

    def __init__(self, source: torch.Tensor, levels: int, patch: int, flip: bool, samples: int, projections: int):
        src = source[None] if source.dim() == 3 else source
        if flip:
            src = torch.cat([src, src.flip(-1)])
        self.levels, self.patch, self.samples, self.projections = levels, patch, samples, projections
        bands = _laplacian_t(src, levels)
        self.scales = [b.std(dim=(0, 2, 3)).clamp_min(1e-6).view(1, -1, 1, 1) for b in bands]
        self.bands = [b / s for b, s in zip(bands, self.scales)]  # the source's, scaled once

    def __call__(self, fake: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        total = fake.new_zeros(())
        for band, real, scale in zip(_laplacian_t(fake, self.levels), self.bands, self.scales):
            pf = _some_patches(band / scale, self.samples, self.patch, gen)  # fewer if the band has fewer
            with torch.no_grad():
                pr = _random_patches(real, pf.shape[0], self.patch, gen)
            dirs = torch.randn(pf.shape[1], self.projections, generator=gen).to(fake.device)
            dirs = dirs / dirs.norm(dim=0, keepdim=True)
            total = total + (sort_values(pf @ dirs, 0) - sort_values(pr @ dirs, 0)).square().mean()
        return total / self.levels


#: the generators' patch-statistics loss: neighbourhood edge, patches and random
#: directions drawn per pyramid band and step
_STATS_PATCH, _STATS_SAMPLES, _STATS_PROJECTIONS = 5, 4096, 64


def patch_statistics(source: torch.Tensor, shape, flip: bool) -> _PatchStatistics:
    """The patch-statistics loss of generated images of ``shape`` (Y, X) against
    ``source``, on as many pyramid bands as that shape holds patches for."""
    levels = max(1, int(math.log2(min(shape) / (2 * _STATS_PATCH))) + 1)
    return _PatchStatistics(source, levels, _STATS_PATCH, flip, _STATS_SAMPLES, _STATS_PROJECTIONS)


def _hinge_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def averaged(net: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``net`` to hold the moving average of its weights (no gradients)."""
    avg = copy.deepcopy(net)
    for p in avg.parameters():
        p.requires_grad_(False)
    return avg


@torch.no_grad()
def _ema_update(ema: torch.nn.Module, net: torch.nn.Module, decay: float) -> None:
    for pe, p in zip(ema.parameters(), net.parameters()):
        pe.lerp_(p, 1 - decay)
    for be, b in zip(ema.buffers(), net.buffers()):
        be.copy_(b)


@torch.no_grad()
def standing_statistics(net: torch.nn.Module, inputs) -> None:
    """Give ``net`` batch-norm statistics of its own weights: reset them, run it in
    training mode on every argument tuple of ``inputs`` and keep the mean of the
    batch statistics (BigGAN's "standing statistics"); ``net`` ends in eval mode.

    The EMA generator needs this: it averages the generator's weights, but
    :func:`_ema_update` copies the generator's running statistics, which belong to
    other weights; in eval mode that mismatch shifts and scales every feature."""
    norms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
    net.train()
    try:
        if norms:
            for args in inputs:
                net(*args)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        net.eval()
