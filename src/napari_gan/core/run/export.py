"""A run config from a training call: what the widgets' *Export config* writes.

The widget builds its training call as for *Train*; instead of training, the
call's arguments become a config file and its arrays ``.npy`` files in a folder
beside it, so ``napari-gan train`` on another machine trains what the widget
was set to (a new model of the same kind and options, from scratch).
"""

from __future__ import annotations

import dataclasses
import inspect
from pathlib import Path

import numpy as np

from .config import BUDGET, ConfigError, RunConfig, fit_parameters, read_config, write_config


def _plain(value):
    """YAML-ready: tuples as lists, numpy scalars as Python numbers."""
    if isinstance(value, dict):
        return {(k.item() if isinstance(k, np.generic) else k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):  # e.g. a KeypointDetector's points per kind
        return value.tolist()
    return value


def export_run(model, arguments: dict, path, *, checkpoint_every: int = 500) -> RunConfig:
    """Write the run config of ``model.fit_iter(**arguments)`` (arrays saved as
    ``<config name>_data/<argument>.npy``) to ``path`` and return it as read back,
    so whatever it writes is what ``napari-gan train`` accepts."""
    path = Path(path)
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise ConfigError(f"{path}: configs are written as .yaml")
    names, _, options = fit_parameters(type(model))
    folder = path.with_name(path.stem + "_data")
    data, fit = {}, {}
    for name, value in arguments.items():
        if name == "resume" or (value is None and name != "max_steps"):  # max_steps None: no step limit
            continue
        if hasattr(value, "shape") and hasattr(value, "dtype") and np.ndim(value) > 0:
            if name not in names:
                raise ConfigError(f"the array argument {name!r} cannot be written to a config")
            folder.mkdir(parents=True, exist_ok=True)
            np.save(folder / f"{name}.npy", np.asarray(value), allow_pickle=False)
            data[name] = f"{folder.name}/{name}.npy"
        elif name in options:
            fit[name] = _plain(value)
        else:
            data[name] = _plain(value)
    options_now = {k: _plain(v) for k, v in dataclasses.asdict(model.config).items()}
    config = RunConfig(
        model=model.kind,
        options=options_now,
        data=data,
        fit={k: fit[k] for k in [*BUDGET, *fit] if k in fit},
        output=Path(f"{path.stem}_run"),
        checkpoint_every=checkpoint_every,
    )
    write_config(config, path)
    return read_config(path)


def bind_fit(model, args: tuple, kwargs: dict) -> dict:
    """The arguments of a ``model.fit_iter(*args, **kwargs)`` call, by name."""
    bound = inspect.signature(type(model).fit_iter).bind(model, *args, **kwargs)
    return {k: v for k, v in bound.arguments.items() if k != "self"}
