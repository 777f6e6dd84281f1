"""One validated file per training run (YAML or TOML).

::

    model: Denoiser                  # a model kind: Denoiser, Segmenter, ImageGAN, ...
    options: {patch_size: 64}        # fields of that kind's config (ng.DenoiserConfig)
    data:                            # the fit arguments that are data, by name
      image: noisy.tif               # a path: .npy, .npz, .tif/.tiff, .zarr (OME-Zarr: level 0)
      target: {path: clean.zarr, component: "0"}
    fit: {axes: YX, max_steps: 2000, time_limit: null, seed: 0, device: auto}
    output: runs/denoise             # folder for model.ngan, last.ngan + last.state, log.jsonl
    checkpoint_every: 200            # steps between `last` checkpoints

Relative paths are relative to the file. Every unknown key and every bad value is
an error (:class:`ConfigError`) that names the key. The file is read with
``yaml.safe_load`` or ``tomllib``, which build plain data only.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

TOP_KEYS = ("model", "options", "data", "fit", "output", "checkpoint_every")
MAX_CONFIG_BYTES = 1 * 2**20  # a run's config is a few hundred bytes; bound what a hostile file costs


class ConfigError(InputError):
    """A run config that cannot be used; the message names the key."""


@dataclass
class RunConfig:
    """A training run: which model, its options, its data, its budget and where it writes."""

    model: str
    options: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    fit: dict = field(default_factory=dict)
    output: Path = Path("run")
    checkpoint_every: int = 100
    source: Path | None = None  # the file it was read from

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "options": dict(self.options),
            "data": {k: _data_entry(v) for k, v in self.data.items()},
            "fit": dict(self.fit),
            "output": str(self.output),
            "checkpoint_every": self.checkpoint_every,
        }

    @property
    def seed(self) -> int:
        return int(self.fit.get("seed", 0))


def _data_entry(value):
    if isinstance(value, dict) and isinstance(value.get("path"), Path):
        if value.get("component") is None:
            return str(value["path"])
        return {"path": str(value["path"]), "component": value["component"]}
    return value


def _kinds() -> dict:
    import napari_gan  # noqa: F401  (registers every model kind)

    from ..tasks.base import MODEL_KINDS

    return MODEL_KINDS


BUDGET = ("max_steps", "time_limit", "seed", "device")


def fit_parameters(cls) -> tuple[list[str], list[str], dict[str, inspect.Parameter]]:
    """(data argument names, required ones, keyword options) of ``cls.fit_iter``.
    Data are its positional arguments and, given as a file, any keyword option
    that is not the budget (e.g. a Segmenter's ``region`` mask)."""
    params = list(inspect.signature(cls.fit_iter).parameters.values())[1:]
    options = {p.name: p for p in params if p.kind is p.KEYWORD_ONLY and p.name != "resume"}
    data = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    data += [name for name in options if name not in BUDGET]
    required = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD and p.default is p.empty]
    return data, required, options


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_a(value, tp: type) -> bool:
    if tp is bool:
        return isinstance(value, bool)
    if isinstance(value, bool):  # not an int or a float in a config file
        return False
    return _is_number(value) if tp is float else isinstance(value, tp)


def _check_option(where: str, name: str, value, hint) -> None:
    """A value of the type a config field is declared with (``int``, ``float | None``,
    ``bool | str``, ...); fields of other declarations are left to the config's own checks."""
    arms = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    arms = tuple(t for t in arms if t is not type(None))
    if value is None or not all(t in (bool, int, float, str) for t in arms):
        return
    if not any(_is_a(value, t) for t in arms):
        names = " or ".join(t.__name__ for t in arms)
        raise ConfigError(f"{where}: {name} = {value!r} should be of type {names}")


def _check_fit(where: str, fit: dict, allowed: dict) -> dict:
    for key in fit:
        if key not in allowed:
            raise ConfigError(f"{where}: fit.{key} is not an option of fit (options: {', '.join(sorted(allowed))})")
    v = fit.get("max_steps", 1)
    if v is None:
        if fit.get("time_limit") is None:
            raise ConfigError(f"{where}: fit.max_steps = null (no step limit) needs a fit.time_limit")
    elif not (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
        raise ConfigError(f"{where}: fit.max_steps = {v!r} should be a whole number >= 1, or null with a time_limit")
    v = fit.get("time_limit")
    if v is not None and not (_is_number(v) and v > 0):
        raise ConfigError(f"{where}: fit.time_limit = {v!r} should be a number of seconds > 0, or null")
    v = fit.get("seed", 0)
    if not (isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**63):
        raise ConfigError(f"{where}: fit.seed = {v!r} should be a whole number >= 0")
    v = fit.get("device", "auto")
    if not (isinstance(v, str) and (v in ("auto", "cpu", "mps") or v.split(":")[0] == "cuda")):
        raise ConfigError(f"{where}: fit.device = {v!r} should be auto, cpu, cuda, cuda:N or mps")
    return dict(fit)


def _int_keys(value):
    """TOML keys are strings: ``{"3": "dividing"}`` means label 3."""
    if isinstance(value, dict):
        return {(int(k) if isinstance(k, str) and k.isdigit() else k): _int_keys(v) for k, v in value.items()}
    return value


def _check_data(where: str, data: dict, names: list[str], required: list[str], base: Path) -> dict:
    out = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"{where}: data.{key} is not an argument of fit (arguments: {', '.join(names)})")
        if isinstance(value, str):
            value = {"path": value}
        if isinstance(value, dict) and "path" in value:
            extra = set(value) - {"path", "component"}
            if extra:
                raise ConfigError(f"{where}: data.{key} has unknown key(s) {sorted(extra)} (path, component)")
            if not isinstance(value["path"], str) or not value["path"]:
                raise ConfigError(f"{where}: data.{key}.path should be a file or folder name")
            comp = value.get("component")
            if comp is not None and not isinstance(comp, str):
                raise ConfigError(f"{where}: data.{key}.component should be a string such as '0'")
            path = Path(value["path"])
            path = path if path.is_absolute() else base / path
            if not path.exists():
                raise ConfigError(f"{where}: data.{key}: {path} does not exist")
            out[key] = {"path": path, "component": comp}
        else:  # literal values: class names per image, classes per label, ...
            out[key] = _int_keys(value)
    missing = [k for k in required if k not in out]
    if missing:
        raise ConfigError(f"{where}: data lacks {', '.join(missing)} (required by fit)")
    return out


def parse_config(raw, *, where: str = "config", base: Path | None = None) -> RunConfig:
    """Check a config mapping (as read from a file) and return a :class:`RunConfig`."""
    base = Path.cwd() if base is None else base
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a run config is a mapping of {', '.join(TOP_KEYS)}")
    for key in raw:
        if key not in TOP_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (keys: {', '.join(TOP_KEYS)})")
    kinds = _kinds()
    kind = raw.get("model")
    if kind not in kinds:
        raise ConfigError(f"{where}: model = {kind!r} is not a model kind ({', '.join(sorted(kinds))})")
    cls = kinds[kind]
    for key in ("options", "data", "fit"):
        if not isinstance(raw.get(key, {}), dict):
            raise ConfigError(f"{where}: {key} should be a mapping")
    options = dict(raw.get("options", {}))
    fields = {f.name: f for f in dataclasses.fields(cls.config_class)}
    hints = typing.get_type_hints(cls.config_class)
    for name, value in options.items():
        if name not in fields:
            raise ConfigError(
                f"{where}: options.{name} is not an option of {kind} (options: {', '.join(sorted(fields))})"
            )
        _check_option(where, f"options.{name}", value, hints[name])
    try:
        cls.config_class(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: options: {exc}") from None
    names, required, fit_options = fit_parameters(cls)
    data = _check_data(where, dict(raw.get("data", {})), names, required, base)
    fit = _check_fit(where, dict(raw.get("fit", {})), fit_options)
    both = sorted(set(data) & set(fit))
    if both:
        raise ConfigError(f"{where}: {both[0]} is given both in data and in fit")
    output = raw.get("output", "run")
    if not isinstance(output, str) or not output:
        raise ConfigError(f"{where}: output should be a folder name")
    output = Path(output) if Path(output).is_absolute() else base / output
    every = raw.get("checkpoint_every", 100)
    if not (isinstance(every, int) and not isinstance(every, bool) and every >= 1):
        raise ConfigError(f"{where}: checkpoint_every = {every!r} should be a whole number of steps >= 1")
    return RunConfig(kind, options, data, fit, output, every)


def read_config(path) -> RunConfig:
    """Read a ``.yaml``/``.yml`` or ``.toml`` run config and check it (:class:`ConfigError`)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path} does not exist or is not a file")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is larger than {MAX_CONFIG_BYTES} bytes: not a run config")
    text = path.read_text(encoding="utf-8", errors="strict")
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML ({exc})") from None
    elif suffix == ".toml":
        if sys.version_info < (3, 11):
            raise ConfigError(f"{path}: TOML configs need Python 3.11 or newer; use YAML")
        import tomllib

        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML ({exc})") from None
    else:
        raise ConfigError(f"{path}: a run config is a .yaml, .yml or .toml file")
    config = parse_config(raw, where=str(path), base=path.parent)
    config.source = path
    return config


def write_config(config: RunConfig, path) -> Path:
    """Write ``config`` as YAML (what the widgets' *Export config* does)."""
    import yaml

    path = Path(path)
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise ConfigError(f"{path}: configs are written as .yaml")
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False), encoding="utf-8")
    return path
