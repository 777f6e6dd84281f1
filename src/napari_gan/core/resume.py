"""The state of a training run beyond the network's weights, so a run can resume.

A model's ``.ngan`` file holds its weights, config and history: enough to
predict and to start a *new* run from those weights. Continuing the *same* run
(after a crash, a cluster's wall-time kill, or a stop in the widget) so that it
ends where an uninterrupted run would, also needs what the training loop holds:
the optimizers' moments, the position in the learning-rate schedule and step
budget, and every random generator the run draws from (patch positions,
masks, latent codes, augmentations). :class:`TrainingState` gathers those by
name from a task's ``fit_iter``; :func:`save_state` writes them to a
safetensors file beside the model (``last.ngan`` + ``last.state``), with no
pickle: tensors as tensors, everything else as JSON, all of it checked against
the run it is loaded into before anything is overwritten.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import torch

from .errors import CheckpointError
from .io import CheckpointInfo, save_checkpoint

STATE_KIND = "TrainingState"
STATE_SUFFIX = ".state"


def _flat_optimizer(name: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    sd = opt.state_dict()
    scalars = {}
    for idx, entry in sd["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{name}/{idx}/{key}"] = value
            else:
                scalars[f"{idx}/{key}"] = value
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    meta[name] = {"type": "optimizer", "param_groups": groups, "scalars": scalars}


def _load_optimizer(name: str, opt: torch.optim.Optimizer, entry: dict, tensors: dict) -> None:
    current = opt.state_dict()
    groups = entry.get("param_groups")
    if not isinstance(groups, list) or len(groups) != len(current["param_groups"]):
        raise CheckpointError(f"optimizer {name!r}: the saved parameter groups do not match this run's")
    params = [p for g in opt.param_groups for p in g["params"]]
    restored_groups = []
    for saved, now in zip(groups, current["param_groups"]):
        if not isinstance(saved, dict) or saved.get("params") != now["params"]:
            raise CheckpointError(f"optimizer {name!r}: the saved parameter groups do not match this run's")
        restored_groups.append({k: (tuple(v) if k == "betas" else v) for k, v in saved.items()})
    state: dict[int, dict] = {}
    prefix = f"{name}/"
    for key, value in tensors.items():
        if not key.startswith(prefix):
            continue
        idx, field = key[len(prefix) :].split("/", 1)
        i = int(idx)
        if not 0 <= i < len(params):
            raise CheckpointError(f"optimizer {name!r}: state for parameter {i}, which this run does not have")
        if value.dim() > 0 and tuple(value.shape) != tuple(params[i].shape):
            raise CheckpointError(
                f"optimizer {name!r}: {field} of parameter {i} has shape {tuple(value.shape)}, "
                f"the parameter {tuple(params[i].shape)}"
            )
        state.setdefault(i, {})[field] = value
    for key, value in (entry.get("scalars") or {}).items():
        idx, field = key.split("/", 1)
        state.setdefault(int(idx), {})[field] = value
    opt.load_state_dict({"state": state, "param_groups": restored_groups})


class TrainingState:
    """A run's optimizers and random generators, by name, and where the run is.

    ``objects`` maps names to ``torch.optim.Optimizer``, ``torch.Generator`` or
    ``numpy.random.Generator``. torch's, numpy's and Python's global generators
    are always included (GAN latents and augmentations draw from torch's).
    The training loop fills in the budget, base learning rates and progress.
    """

    #: where a run is: what the training loop keeps up to date and a saved run restores
    PROGRESS = ("step", "max_steps", "time_limit", "elapsed", "base_lrs", "warmup", "history_offset")

    def __init__(self, objects: dict[str, object], *, seed: int):
        for name, obj in objects.items():
            if not isinstance(obj, (torch.optim.Optimizer, torch.Generator, np.random.Generator)):
                raise TypeError(f"cannot save the state of {name!r}, a {type(obj).__name__}")
        self.objects = objects
        self.seed = int(seed)
        self.step = 0  # steps of this run done
        self.max_steps = 0
        self.time_limit: float | None = None
        self.elapsed = 0.0
        self.base_lrs: list[list[float]] = []
        self.warmup = 0
        self.history_offset = 0
        self.pending: tuple[dict, dict] | None = None  # (meta, tensors) to restore when the loop starts

    @property
    def finished(self) -> bool:
        """Whether the run used up its step or time budget (nothing left to resume)."""
        out_of_time = self.time_limit is not None and self.elapsed >= self.time_limit
        return self.step >= self.max_steps or out_of_time

    # -- capture -------------------------------------------------------------------
    def snapshot(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors: dict[str, torch.Tensor] = {"global/torch": torch.get_rng_state()}
        objects: dict[str, dict] = {}
        for name, obj in self.objects.items():
            if isinstance(obj, torch.optim.Optimizer):
                _flat_optimizer(name, obj, tensors, objects)
            elif isinstance(obj, torch.Generator):
                tensors[f"{name}/rng"] = obj.get_state()
                objects[name] = {"type": "torch_generator"}
            else:
                objects[name] = {"type": "numpy_generator", "state": obj.bit_generator.state}
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                tensors[f"global/cuda{i}"] = s
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        tensors["global/numpy"] = torch.from_numpy(keys.astype(np.int64))
        version, pystate, pygauss = random.getstate()
        tensors["global/python"] = torch.tensor(pystate, dtype=torch.int64)
        meta = {
            "seed": self.seed,
            "step": self.step,
            "max_steps": self.max_steps,
            "time_limit": self.time_limit,
            "elapsed": self.elapsed,
            "base_lrs": self.base_lrs,
            "warmup": self.warmup,
            "history_offset": self.history_offset,
            "objects": objects,
            "numpy_global": [kind, pos, has_gauss, gauss],
            "python_global": [version, pygauss],
        }
        return tensors, meta

    # -- restore -------------------------------------------------------------------
    def restore(self) -> None:
        """Apply the pending saved state (called by the training loop as it starts)."""
        if self.pending is None:
            return
        meta, tensors = self.pending
        self.pending = None
        saved = meta["objects"]
        if set(saved) != set(self.objects):
            raise CheckpointError(
                f"the saved training state holds {sorted(saved)}, this run has {sorted(self.objects)}: "
                "it was saved by another kind of run"
            )
        for name, obj in self.objects.items():
            entry = saved[name]
            if isinstance(obj, torch.optim.Optimizer) and entry.get("type") == "optimizer":
                _load_optimizer(name, obj, entry, tensors)
            elif isinstance(obj, torch.Generator) and entry.get("type") == "torch_generator":
                obj.set_state(tensors[f"{name}/rng"])
            elif isinstance(obj, np.random.Generator) and entry.get("type") == "numpy_generator":
                obj.bit_generator.state = entry["state"]
            else:
                raise CheckpointError(f"the saved state of {name!r} is a {entry.get('type')!r}, not what this run has")
        torch.set_rng_state(tensors["global/torch"])
        cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("global/cuda"))]
        if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
        kind, pos, has_gauss, gauss = meta["numpy_global"]
        np.random.set_state((kind, tensors["global/numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
        version, pygauss = meta["python_global"]
        random.setstate((version, tuple(int(v) for v in tensors["global/python"].tolist()), pygauss))
        self._take_progress(meta)

    def _take_progress(self, meta: dict) -> None:
        for key in self.PROGRESS:
            setattr(self, key, meta[key])

    @classmethod
    def saved(cls, meta: dict, tensors: dict[str, torch.Tensor]) -> TrainingState:
        """A run read from a file, not yet tied to a run's objects: it knows where it
        stopped (so :attr:`finished` is right) and restores when a run resumes it."""
        run = cls({}, seed=meta["seed"])
        run._take_progress(meta)
        run.pending = (meta, tensors)
        return run


MODEL_PREFIX, STATE_PREFIX = "model/", "run/"


def save_state(path, state: TrainingState, weights: dict[str, torch.Tensor], model_meta: dict) -> Path:
    """Write the model (``weights`` and the header its ``.ngan`` file would have)
    and ``state`` to one file, atomically, so a run killed at any moment leaves a
    model and a run state that belong together."""
    tensors, meta = state.snapshot()
    tensors = {**{MODEL_PREFIX + k: v for k, v in weights.items()}, **{STATE_PREFIX + k: v for k, v in tensors.items()}}
    return save_checkpoint(path, tensors, {"kind": STATE_KIND, "model": model_meta, "state": meta})


def split_state(tensors: dict) -> dict[str, dict]:
    """The tensors of a ``.state`` file as ``{"model": ..., "state": ...}``."""
    out = {"model": {}, "state": {}}
    for key, value in tensors.items():
        if key.startswith(MODEL_PREFIX):
            out["model"][key[len(MODEL_PREFIX) :]] = value
        else:
            out["state"][key[len(STATE_PREFIX) :]] = value
    return out


_NUMBER = (int, float)


def _check_meta(meta, path) -> None:
    def need(ok, what):
        if not ok:
            raise CheckpointError(f"{path}: the training state's {what}")

    need(isinstance(meta, dict), "header is not a mapping")
    for key in ("seed", "step", "max_steps", "warmup", "history_offset"):
        v = meta.get(key)
        need(isinstance(v, int) and not isinstance(v, bool) and v >= 0, f"{key} {v!r} is not a whole number >= 0")
    need(1 <= meta["max_steps"] and meta["step"] <= meta["max_steps"], "step is beyond its budget")
    tl = meta.get("time_limit")
    need(tl is None or (isinstance(tl, _NUMBER) and math.isfinite(tl) and tl > 0), f"time_limit {tl!r} is invalid")
    el = meta.get("elapsed")
    need(isinstance(el, _NUMBER) and math.isfinite(el) and el >= 0, f"elapsed {el!r} is invalid")
    lrs = meta.get("base_lrs")
    need(
        isinstance(lrs, list)
        and all(isinstance(g, list) and all(isinstance(x, _NUMBER) and math.isfinite(x) for x in g) for g in lrs),
        "base learning rates are not lists of numbers",
    )
    need(isinstance(meta.get("objects"), dict), "objects are not a mapping")
    for name, entry in meta["objects"].items():
        need(
            isinstance(entry, dict) and entry.get("type") in ("optimizer", "torch_generator", "numpy_generator"),
            f"entry {name!r} is not an optimizer or a random generator",
        )
    ng, pg = meta.get("numpy_global"), meta.get("python_global")
    need(isinstance(ng, list) and len(ng) == 4 and ng[0] == "MT19937", "numpy generator state is malformed")
    need(isinstance(pg, list) and len(pg) == 2, "Python generator state is malformed")


def check_state(path, info: CheckpointInfo) -> tuple[dict, CheckpointInfo]:
    """Check a ``.state`` file's header (read by :func:`.io.inspect_checkpoint`):
    the run's metadata, and the model's part as a :class:`CheckpointInfo` of its
    own for the model kind's checks. No tensor data is read."""
    model_header, meta = info.header.get("model"), info.header.get("state")
    if not isinstance(model_header, dict) or not isinstance(model_header.get("kind"), str):
        raise CheckpointError(f"{path}: the training state holds no model header")
    _check_meta(meta, path)
    model, run = {}, {}
    for key, stored in info.tensors.items():
        if key.startswith(MODEL_PREFIX):
            model[key[len(MODEL_PREFIX) :]] = stored
        elif key.startswith(STATE_PREFIX):
            run[key[len(STATE_PREFIX) :]] = stored
        else:
            raise CheckpointError(f"{path}: tensor {key!r} is neither the model's nor the run's")
    for key, shape in (("global/torch", None), ("global/numpy", (624,)), ("global/python", (625,))):
        if key not in run or (shape is not None and run[key].shape != shape):
            raise CheckpointError(f"{path}: the training state lacks a valid {key!r}")
    model_header = {
        **model_header,
        "format": info.header.get("format"),
        "format_version": info.header["format_version"],
    }
    return meta, CheckpointInfo(model_header, model)
