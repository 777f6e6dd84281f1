"""The one training loop, written as a generator.

Every task supplies a ``step()`` callable that performs one optimisation step
and returns its losses; :func:`training_loop` owns timing, the step/time budget,
the learning-rate schedule and the history, and yields a :class:`StepRecord`
after every step. A widget runs the generator in a worker thread and stops it by
closing it between steps (``gen.close()``); a script stops it by leaving its
``for`` loop. Either way the weights learned so far stay in the model.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from .resume import TrainingState


@dataclass(frozen=True)
class StepRecord:
    """What one training step reports."""

    step: int
    total: int
    losses: dict[str, float] = field(default_factory=dict)
    elapsed: float = 0.0
    #: held-out measures (e.g. ``"validation accuracy"``), on the steps that took them
    metrics: dict[str, float] = field(default_factory=dict)
    #: the run's time limit in seconds (None: none)
    time_limit: float | None = None

    @property
    def by_time(self) -> bool:
        """Whether only the time limit ends this run (``max_steps=None``)."""
        return self.total >= NO_STEP_LIMIT and bool(self.time_limit)


#: at least this many seconds between two validations of a run ...
VALIDATE_SECONDS = 2.0
#: ... and at most this share of its time spent on them
VALIDATE_SHARE = 0.1


def resolve_device(device: str | torch.device = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` if available, then ``"mps"``, then ``"cpu"``."""
    device = str(device)
    if device != "auto":
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("device='cuda' was requested but no CUDA GPU is available")
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def channels_last(net: torch.nn.Module, dims: int = 2) -> torch.nn.Module:
    """Put ``net``'s convolution weights in the channels-last layout (in place).

    oneDNN's CPU convolutions (and CUDA's tensor cores) are faster on it, and a
    convolution whose weight is channels-last gives a channels-last output, so
    the whole network follows without converting its input. Measured on 2 CPU
    cores (docs/benchmarks/denoising.md, "Channels-last training"): denoiser training 1.2-1.3x, texture GAN training
    1.2x the steps/s; prediction unchanged. Checkpoints are unaffected (they store
    contiguous tensors).
    """
    return net.to(memory_format=torch.channels_last if dims == 2 else torch.channels_last_3d)


@contextmanager
def frozen(*modules: torch.nn.Module):
    """Inside the block, no gradients of ``modules``' weights are computed (they still
    pass gradients on to their inputs): a generator's step through its
    discriminator needs only the latter; the weights are trainable again after."""
    for m in modules:
        m.requires_grad_(False)
    try:
        yield
    finally:
        for m in modules:
            m.requires_grad_(True)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


#: the step budget of a run that only its time limit ends (``max_steps=None``)
NO_STEP_LIMIT = 2**62


def check_budget(max_steps: int | None, time_limit: float | None) -> int:
    """Check a fit's budget; returns the step budget (:data:`NO_STEP_LIMIT` for ``max_steps=None``)."""
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be a positive number of seconds or None, got {time_limit!r}")
    if max_steps is None:
        if time_limit is None:
            raise ValueError("max_steps=None (no step limit) needs a time_limit: give one of them")
        return NO_STEP_LIMIT
    whole = isinstance(max_steps, (int, np.integer)) and not isinstance(max_steps, bool)
    if not (whole and 1 <= max_steps < NO_STEP_LIMIT):
        raise ValueError(f"max_steps must be a positive integer (or None with a time_limit), got {max_steps!r}")
    return int(max_steps)


def cosine_factor(progress: float, floor: float = 0.05) -> float:
    """Learning-rate multiplier: cosine from 1 down to ``floor`` as progress goes 0 -> 1."""
    progress = min(max(progress, 0.0), 1.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def training_loop(
    step: Callable[[], dict[str, float]],
    *,
    max_steps: int,
    time_limit: float | None = None,
    optimizers: list[torch.optim.Optimizer] = (),
    warmup: int = 0,
    history: list | None = None,
    history_offset: int = 0,
    on_end: Callable[[int], None] | None = None,
    state: TrainingState | None = None,
    validate: Callable[[], dict[str, float]] | None = None,
) -> Iterator[StepRecord]:
    """Run ``step`` until ``max_steps`` or ``time_limit`` seconds, whichever comes first.

    The learning rate of each optimizer follows a cosine schedule over the
    progress towards whichever budget ends first, so a time-limited run still
    anneals. History entries count steps from ``history_offset`` (the steps a
    model had before this run), so a continued model's history stays one curve.
    ``on_end(steps_done)`` runs however the loop ends (finished,
    stopped, or failed), so the model can mark itself trained.

    ``state`` (a :class:`~.resume.TrainingState`) is kept up to date after every
    step, so the run can be saved between any two steps; when it holds a
    restored run, the loop continues that run's budget, schedule and history
    numbering instead of starting a new one.

    ``validate()``, when given, measures the model on held-out data (without
    touching the random state or the weights) and returns named values; it runs
    after a step at most every :data:`VALIDATE_SECONDS` seconds, at most
    :data:`VALIDATE_SHARE` of the run's time, and after the last step of a run that
    ends by its budget. Its values go into that step's record (``metrics``) and
    history entry.
    """
    base_lrs = [[g["lr"] for g in opt.param_groups] for opt in optimizers]
    first, before = 1, 0.0
    if state is not None:
        if state.max_steps:  # a restored run: its budget, schedule and numbering
            max_steps, time_limit, warmup = state.max_steps, state.time_limit, state.warmup
            history_offset, before, first = state.history_offset, state.elapsed, state.step + 1
            if [len(g) for g in state.base_lrs] != [len(g) for g in base_lrs]:
                raise ValueError("the restored learning rates do not match this run's optimizers")
            base_lrs = state.base_lrs
        else:
            state.max_steps, state.time_limit, state.warmup = max_steps, time_limit, warmup
            state.history_offset, state.base_lrs = history_offset, base_lrs
    start = time.perf_counter() - before
    done = first - 1
    validated, validate_cost = before, 0.0
    try:
        for i in range(first, max_steps + 1):
            elapsed = time.perf_counter() - start
            progress = (i - 1) / max_steps
            if time_limit:
                progress = max(progress, elapsed / time_limit)
            factor = cosine_factor(progress) * (min(1.0, i / warmup) if warmup else 1.0)
            for opt, lrs in zip(optimizers, base_lrs):
                for g, lr in zip(opt.param_groups, lrs):
                    g["lr"] = lr * factor
            losses = {k: float(v) for k, v in step().items()}
            done = i
            elapsed = time.perf_counter() - start
            metrics = {}
            if validate is not None:
                ending = i == max_steps or bool(time_limit and elapsed >= time_limit)
                if ending or elapsed - validated >= max(VALIDATE_SECONDS, validate_cost / VALIDATE_SHARE):
                    metrics = {k: float(v) for k, v in validate().items()}
                    validated = elapsed
                    elapsed = time.perf_counter() - start
                    validate_cost = elapsed - validated
            if state is not None:
                state.step, state.elapsed = i, elapsed
            record = StepRecord(
                step=i, total=max_steps, losses=losses, elapsed=elapsed, metrics=metrics, time_limit=time_limit
            )
            if history is not None:
                history.append({"step": history_offset + i, "elapsed": round(elapsed, 3), **losses, **metrics})
            yield record
            if time_limit and time.perf_counter() - start >= time_limit:
                break
    finally:
        for opt, lrs in zip(optimizers, base_lrs):
            for g, lr in zip(opt.param_groups, lrs):
                g["lr"] = lr
        if on_end is not None:
            on_end(done)
