"""Data-parallel training under ``torchrun`` with torch.distributed.

torchrun starts one process per GPU (or per CPU slot) and sets ``WORLD_SIZE``,
``RANK`` and ``LOCAL_RANK``; :func:`setup` joins the process group (nccl on GPUs,
gloo on CPUs). Each process builds the same model, draws its own patches and
noise (its seed is the run's seed plus its rank) from a share of the global
batch, and after every backward pass the gradients are averaged across
processes before each optimizer step, as DistributedDataParallel does, so every
replica takes the same step and stays identical: the weights, the GAN's
discriminator and its moving average (EMA) alike.

The averaging is an optimizer step pre-hook (one all-reduce of all of an
optimizer's gradients, flattened), not the ``DistributedDataParallel`` wrapper:
the wrapper ties each backward pass to one forward pass of the wrapped module,
and a GAN step runs its discriminator three times and its generator twice
before their two backward passes. The hook needs no change to any task's
training step.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.modules.batchnorm import _BatchNorm

from .config import ConfigError, RunConfig


@dataclass
class World:
    """This process's place among the run's processes (one process: rank 0 of 1)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: str = "auto"
    #: seconds this process spent averaging gradients (the communication of a step)
    comm_seconds: float = 0.0

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True in every process if ``flag`` is true in any (so all stop at the same step)."""
        if self.size == 1:
            return bool(flag)
        t = torch.tensor([1.0 if flag else 0.0], device=self.device if self.device.startswith("cuda") else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def close(self) -> None:
        if self.size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def setup(device: str = "auto") -> World:
    """Join torchrun's process group if there is one; the device this process uses."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(device=device)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    want_cuda = device == "auto" or device.startswith("cuda")
    if want_cuda and torch.cuda.is_available():
        torch.cuda.set_device(local)
        dev, backend = f"cuda:{local}", "nccl"
    elif device.startswith("cuda"):
        raise ConfigError(f"fit.device = {device!r} but this process sees no CUDA GPU")
    else:
        dev, backend = "cpu", "gloo"
    dist.init_process_group(backend)
    return World(rank=rank, size=size, local_rank=local, device=dev)


def split_batch(cfg: RunConfig, world: World) -> dict:
    """The model options for this process: ``batch_size`` is the global batch,
    split evenly across the processes."""
    if world.size == 1:
        return dict(cfg.options)
    from ..tasks.base import MODEL_KINDS

    fields = MODEL_KINDS[cfg.model].config_class.__dataclass_fields__
    if "batch_size" not in fields:
        raise ConfigError(f"{cfg.model} has no batch_size option to split across {world.size} processes")
    batch = cfg.options.get("batch_size", fields["batch_size"].default)
    if not isinstance(batch, int) or batch % world.size:
        raise ConfigError(
            f"options.batch_size = {batch!r}: under torchrun with {world.size} processes, set it to the global "
            f"batch, a multiple of {world.size}"
        )
    return {**cfg.options, "batch_size": batch // world.size}


def _average(world: World, tensors: list[torch.Tensor]) -> None:
    """Replace each tensor by its mean over the processes: one all-reduce of them all, flattened."""
    if not tensors:
        return
    start = time.perf_counter()
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for t in tensors:
        t.copy_(flat[offset : offset + t.numel()].view_as(t))
        offset += t.numel()
    world.comm_seconds += time.perf_counter() - start


def _average_gradients(world: World):
    def hook(optimizer, args, kwargs):
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for p in params:
            if p.grad is None:  # every process must send the same sizes
                p.grad = torch.zeros_like(p)
        _average(world, [p.grad for p in params])

    return hook


def replicate(model, world: World):
    """Make the processes' replicas start equal and step together: process 0's
    weights and buffers go to all, and every optimizer of the run averages the
    gradients across processes before it steps. Batch normalisation's running
    statistics, which each process updates from its own share of the batch, are
    averaged between steps by the function this returns (the statistics of the
    global batch, near enough), so the replicas stay identical in their buffers
    too; between steps, because a step's graph still holds them."""
    if world.size == 1:
        return lambda: None
    with torch.no_grad():
        for t in model.net.state_dict().values():
            if t.is_contiguous():
                dist.broadcast(t, src=0)
            else:  # channels-last weights
                flat = t.contiguous()
                dist.broadcast(flat, src=0)
                t.copy_(flat)
    norms = [m for m in model.net.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    stats = [b for m in norms for b in (m.running_mean, m.running_var) if b is not None]
    for obj in model.training_state.objects.values():
        if isinstance(obj, torch.optim.Optimizer):
            obj.register_step_pre_hook(_average_gradients(world))
    return lambda: _average(world, stats)
