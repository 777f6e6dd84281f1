"""``napari-gan train CONFIG``: a training run without a GUI (no Qt is imported).

The run writes to the config's ``output`` folder:

- ``last.ngan`` + ``last.state``: the model and its run's optimizer, schedule and
  random state, every ``checkpoint_every`` steps, on SIGTERM/SIGINT (a cluster's
  wall-time warning, Ctrl-C) and at the end; ``--resume`` continues from them
  and ends where an uninterrupted run would;
- ``model.ngan``: the trained model, at the end (what the widgets load);
- ``log.jsonl``: one JSON line per step (step, elapsed seconds, losses);
- ``config.yaml``: the config the run was started with.

Under ``torchrun`` every process trains a replica (see :mod:`.distributed`);
process 0 writes the model files, each process its own ``last.state``.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import distributed
from .config import RunConfig, read_config, write_config
from .storage import open_image

MODEL_FILE, LAST_FILE, LOG_FILE = "model.ngan", "last.ngan", "log.jsonl"


def state_file(output: Path, rank: int = 0) -> Path:
    return output / ("last.state" if rank == 0 else f"last.rank{rank}.state")


def read_data_file(path: Path, component: str | None = None):
    """A training array from a file: ``.npy``/``.npz`` (no pickles, any dtype: masks
    may be boolean), else what ``napari-gan predict`` reads (TIFF, zarr, OME-Zarr)."""
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return np.load(path, mmap_mode="r", allow_pickle=False)
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            keys = list(npz.keys())
            key = component or (keys[0] if len(keys) == 1 else None)
            if key not in keys:
                raise InputError(f"{path} holds {keys}: name one as component")
            return npz[key]
    return open_image(path, component)[0]


def load_data(config: RunConfig) -> dict:
    """The fit arguments: arrays read from the config's paths, literals as they are."""
    out = {}
    for key, value in config.data.items():
        if isinstance(value, dict) and isinstance(value.get("path"), Path):
            out[key] = np.asarray(read_data_file(value["path"], value.get("component")))
        else:
            out[key] = value
    return out


def _trim_log(path: Path, steps: int) -> None:
    """Drop the log lines of steps after the checkpoint a resumed run restarts from
    (a killed run may have logged steps it did not save)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line)["step"] <= steps:
                keep.append(line)
        except (ValueError, KeyError, TypeError):
            break  # a line cut short by the kill, and nothing after it
    path.write_text("".join(line + "\n" for line in keep), encoding="utf-8")


class _Stop:
    """Turns SIGTERM/SIGINT into a flag checked between steps, so the run saves first."""

    def __init__(self):
        self.signal = None
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def _handle(self, signum, frame):
        self.signal = signum

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


def _save_last(model, output: Path, rank: int) -> None:
    if rank == 0:
        model.save(output / LAST_FILE)
    model.save_training_state(state_file(output, rank))


def train(config, *, resume: bool = False, echo=None, every_seconds: float = 10.0):
    """Run the training a config describes; returns the trained model.

    Parameters
    ----------
    config : RunConfig or path
        A :class:`RunConfig` or a YAML/TOML file (:func:`read_config`).
    resume : bool
        Continue the run in ``output`` from its ``last`` checkpoint.
    echo : callable, optional
        Receives progress lines (default: print to stderr).
    every_seconds : float
        At most one progress line per this many seconds (and one per checkpoint).
    """
    from ..tasks.base import load_model

    cfg = config if isinstance(config, RunConfig) else read_config(config)
    echo = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    out = Path(cfg.output)
    world = distributed.setup(cfg.fit.get("device", "auto"))
    try:
        fit = dict(cfg.fit)
        fit["device"] = world.device
        fit["seed"] = cfg.seed + world.rank  # each process draws its own patches and noise
        options = distributed.split_batch(cfg, world)
        # Several processes must stop at the same step: the run's clock is then
        # checked here, across processes, and the schedule follows max_steps.
        time_limit = fit.pop("time_limit", None) if world.size > 1 else None
        if world.size > 1 and fit.get("max_steps", 1) is None:
            raise InputError("under torchrun fit.max_steps must be a number: the processes stop at the same step")
        if resume:
            state = state_file(out, world.rank)
            if not state.is_file():
                raise InputError(f"nothing to resume: {state} does not exist")
            model = load_model(state)
            state = True
            if world.rank == 0:
                _trim_log(out / LOG_FILE, model.steps_trained)
        else:
            if (out / LAST_FILE).exists() or (out / MODEL_FILE).exists():
                raise InputError(f"{out} already holds a run: resume it (--resume) or choose another output")
            from ..tasks.base import MODEL_KINDS

            model = MODEL_KINDS[cfg.model](**options)
            state = False
        data = load_data(cfg)
        it = model.fit_iter(**data, **fit, resume=state)
        between_steps = distributed.replicate(model, world)
        if world.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
            if not resume:
                write_config(cfg, out / "config.yaml")
        world.barrier()
        _run(model, it, cfg, out, world, echo, every_seconds, time_limit, between_steps)
    finally:
        world.close()
    return model


def _run(model, it, cfg, out: Path, world, echo, every_seconds, time_limit, between_steps) -> None:
    last_line = time.monotonic()
    log = open(out / LOG_FILE, "a", encoding="utf-8", buffering=1) if world.rank == 0 else None  # lines survive a kill
    record, metrics = None, {}
    try:
        with _Stop() as stop:
            for record in it:
                between_steps()
                metrics.update(record.metrics)  # the progress line shows the latest held-out measures
                if log is not None:
                    entry = {"step": model.steps_trained, "elapsed": round(record.elapsed, 3), **record.losses}
                    entry.update(record.metrics)
                    log.write(json.dumps(entry) + "\n")
                checkpoint = record.step % cfg.checkpoint_every == 0
                stopping = world.any(stop.signal is not None)
                out_of_time = time_limit is not None and world.any(record.elapsed >= time_limit)
                if checkpoint or stopping:
                    _save_last(model, out, world.rank)
                    world.barrier()
                now = time.monotonic()
                if world.rank == 0 and (checkpoint or now - last_line >= every_seconds):
                    echo(_progress_line(record, metrics))
                    last_line = now
                if stopping:
                    it.close()
                    raise KeyboardInterrupt(f"stopped at step {record.step}; continue with --resume")
                if out_of_time:
                    it.close()
                    break
        _save_last(model, out, world.rank)
        if world.rank == 0:
            model.save(out / MODEL_FILE)
            if record is not None:
                echo(_progress_line(record, metrics) + f"  done: {out / MODEL_FILE}")
                if world.size > 1:
                    share = world.comm_seconds / max(record.elapsed, 1e-9)
                    echo(f"averaging gradients across {world.size} processes: {world.comm_seconds:.1f} s ({share:.0%})")
    finally:
        if log is not None:
            log.close()


def _progress_line(record, metrics: dict[str, float]) -> str:
    losses = "  ".join(f"{k} {v:.4g}" for k, v in {**record.losses, **metrics}.items())
    rate = record.step / record.elapsed if record.elapsed > 0 else 0.0
    steps = f"step {record.step}" if record.by_time else f"step {record.step}/{record.total}"
    return f"{steps}  {losses}  {record.elapsed:.0f} s  {rate:.2f} steps/s"
