"""Sorting for the patch-statistics losses: NumPy on the CPU must give what
``torch.sort`` gives, values and gradients, so the losses learn as before."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from napari_gan.core import sorting
from napari_gan.core.patchdist import patch_swd
from napari_gan.core.tasks._gan_losses import patch_statistics


@pytest.fixture(autouse=True)
def _numpy_sort_after():
    """Every test here may switch the sort; the default comes back after it."""
    yield
    sorting.NUMPY_ON_CPU = True


def _tie_free(shape, seed=0, dtype=torch.float32) -> torch.Tensor:
    """Distinct values in random order (no ties, so every sort agrees on the order)."""
    gen = torch.Generator().manual_seed(seed)
    n = int(np.prod(shape))
    return (torch.randperm(n, generator=gen).to(dtype) * 0.37 - 100).reshape(shape)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_sorted_values_and_their_gradient_are_torch_sorts(dtype, dim):
    x = _tie_free((300, 17), dtype=dtype)
    weights = torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    grads = []
    for flag in (True, False):
        sorting.NUMPY_ON_CPU = flag
        xg = x.clone().requires_grad_(True)
        values = sorting.sort_values(xg, dim)
        (values * weights).sum().backward()
        assert values.dtype == dtype and values.shape == x.shape
        grads.append((values.detach(), xg.grad))
    sorting.NUMPY_ON_CPU = True
    assert torch.equal(grads[0][0], torch.sort(x, dim).values)
    assert torch.equal(grads[0][0], grads[1][0])
    assert torch.equal(grads[0][1], grads[1][1])  # each value's gradient goes back to where it came from
    order = sorting.sort_order(x, dim)
    assert order.dtype == torch.int64 and torch.equal(torch.gather(x, dim % 2, order), grads[0][0])


def test_ties_between_copies_of_one_value_give_torch_sorts_gradient():
    """A patch set repeated to another's length (patch_swd) holds copies: which copy
    takes which place among equal values must not change the gradient of the original."""
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(8, 50, generator=gen, dtype=torch.float64)
    target = torch.randn(8, 150, generator=gen, dtype=torch.float64)
    grads = []
    for flag in (True, False):
        sorting.NUMPY_ON_CPU = flag
        b = base.clone().requires_grad_(True)
        loss = (sorting.sort_values(b.repeat(1, 3), 1) - sorting.sort_values(target, 1)).square().mean()
        loss.backward()
        grads.append((loss.detach(), b.grad))
    sorting.NUMPY_ON_CPU = True
    assert torch.equal(grads[0][0], grads[1][0])
    torch.testing.assert_close(grads[0][1], grads[1][1], rtol=1e-12, atol=1e-15)


def test_no_gradient_where_none_is_asked_for_and_other_dtypes_fall_back():
    x = _tie_free((40, 3)).requires_grad_(True)
    with torch.no_grad():
        assert not sorting.sort_values(x, 0).requires_grad
    ints = torch.tensor([[3, 1, 2], [0, 5, 4]])
    assert torch.equal(sorting.sort_values(ints, 1), torch.tensor([[1, 2, 3], [0, 4, 5]]))
    assert torch.equal(sorting.sort_order(ints, 1), torch.tensor([[1, 2, 0], [0, 2, 1]]))


def _losses_and_gradients():
    """The two patch-statistics losses and their gradients, on smooth random images
    (no ties among their projections)."""
    gen = torch.Generator().manual_seed(3)
    source = torch.randn(6, 1, 24, 24, generator=gen).cumsum(-1) / 5
    fake = (torch.randn(4, 1, 24, 24, generator=gen).cumsum(-2) / 5).requires_grad_(True)
    gan_loss = patch_statistics(source, (24, 24), flip=True)(fake, torch.Generator().manual_seed(4))
    (g1,) = torch.autograd.grad(gan_loss, fake)
    out = fake[:1].detach().clone().requires_grad_(True)
    dirs = torch.randn(64, 1, 7, 7, generator=gen)
    swd = patch_swd(out, source[:2].reshape(1, 1, 48, 24), dirs, torch.Generator().manual_seed(5))
    (g2,) = torch.autograd.grad(swd, out)
    return gan_loss.detach(), g1, swd.detach(), g2


def test_the_patch_losses_learn_as_with_torch_sort():
    sorting.NUMPY_ON_CPU = False
    before = _losses_and_gradients()
    sorting.NUMPY_ON_CPU = True
    now = _losses_and_gradients()
    for a, b in zip(before, now):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
