"""The training loop and its helpers (core/training.py), on toy modules."""

import time

import pytest
import torch

from napari_gan.core.training import check_budget, frozen, training_loop


def test_a_time_limited_run_anneals_its_learning_rate_over_the_time():
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    seen = []

    def step():
        seen.append(opt.param_groups[0]["lr"])
        time.sleep(0.01)
        return {"loss": 0.0}

    records = list(training_loop(step, max_steps=check_budget(None, 0.5), time_limit=0.5, optimizers=[opt]))
    assert records[-1].elapsed >= 0.5 and len(records) < 100
    assert seen[0] == pytest.approx(1.0) and seen[-1] < 0.2  # cosine over the seconds, not over 2**62 steps
    assert all(a >= b for a, b in zip(seen, seen[1:]))
    assert opt.param_groups[0]["lr"] == 1.0  # restored when the run ends


def test_frozen_modules_pass_gradients_on_but_keep_none_and_are_trainable_after():
    d, g = torch.nn.Linear(3, 1), torch.nn.Linear(2, 3)
    with frozen(d):
        d(g(torch.ones(4, 2))).sum().backward()
    assert g.weight.grad is not None and g.weight.grad.abs().sum() > 0  # through d to g
    assert d.weight.grad is None  # d's own weights: not computed
    assert all(p.requires_grad for p in d.parameters())
    with pytest.raises(RuntimeError, match="boom"):
        with frozen(d):
            raise RuntimeError("boom")
    assert all(p.requires_grad for p in d.parameters())  # a failed step leaves d trainable
