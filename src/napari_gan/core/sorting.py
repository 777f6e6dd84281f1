"""Sorting for sliced Wasserstein distances, fast on the CPU.

The patch-statistics losses (the GANs' :mod:`~napari_gan.core.tasks._gan_losses`
and :mod:`~napari_gan.core.patchdist`'s matching) sort tens of thousands of
projections along 64 directions at every step, and sorting is most of their time.
On the CPU, ``torch.sort`` of a (4096, 64) float32 tensor takes 4-7 times as long
as NumPy's sort of the same values (whose float sort uses the processor's vector
instructions); the sort that carries a gradient needs the order too (an argsort),
where NumPy is faster with one thread and about as fast with two
(``python bench/sorting.py`` prints both). On the CPU, :func:`sort_values` sorts
with NumPy and carries the gradient back along the same order with NumPy;
elsewhere (CUDA) it calls ``torch.sort``.

The sorted values are the same as ``torch.sort``'s. Where values tie, the order
among them may differ, which changes nothing where the tied values are one and the
same variable (a patch set repeated to another's length), and otherwise only which
of two equal values receives which gradient.
"""

from __future__ import annotations

import numpy as np
import torch

#: sort CPU tensors with NumPy (False: ``torch.sort`` everywhere; ``bench/sorting.py``
#: compares the two)
NUMPY_ON_CPU = True


def _by_numpy(x: torch.Tensor) -> bool:
    return NUMPY_ON_CPU and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)


class _SortedByNumpy(torch.autograd.Function):
    """Values of a CPU tensor sorted along ``dim``; the gradient goes back to where
    each value came from."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, dim: int) -> torch.Tensor:
        a = x.detach().numpy()
        order = np.argsort(a, axis=dim)
        ctx.order, ctx.dim = order, dim
        return torch.from_numpy(np.take_along_axis(a, order, dim))

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        g = grad.contiguous().numpy()
        out = np.empty_like(g)
        np.put_along_axis(out, ctx.order, g, ctx.dim)
        return torch.from_numpy(out), None


def sort_values(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``torch.sort(x, dim).values``, differentiable where ``x`` needs a gradient."""
    if not _by_numpy(x):
        return torch.sort(x, dim).values
    dim = dim % x.ndim
    if x.requires_grad and torch.is_grad_enabled():
        return _SortedByNumpy.apply(x, dim)
    return torch.from_numpy(np.sort(x.detach().numpy(), axis=dim))


def sort_order(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """The indices that sort ``x`` along ``dim`` (``torch.sort(x, dim).indices`` up to
    the order of ties), int64 on ``x``'s device."""
    if not _by_numpy(x):
        return torch.sort(x, dim).indices
    return torch.from_numpy(np.argsort(x.detach().numpy(), axis=dim))
