"""What the JSON header of each model kind may hold, checked before anything is built.

A checkpoint's header names the network to build, so a hostile or damaged one could
otherwise ask for any amount of memory, or fail with a raw TypeError deep inside a
constructor. :func:`check_header` accepts only the keys a kind saves, each of the
type and in the range it is saved with, and rebuilds the configs strictly (unknown
keys are refused by name; a bool is not an int, a string not a number). Whether the
network the header describes has exactly the stored tensors is checked afterwards,
on the meta device, in :meth:`.base.TrainableModel.load`.

A kind that saves a new key in ``_state`` adds it here; its save/load round-trip
test fails until it does.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from typing import Any

from ..errors import CheckpointError
from ..models.classifier import ClassifierNetConfig
from ..models.dcgan import DCGANConfig, TextureGANConfig
from ..models.pyramid import MAX_LEVELS, MAX_SIDE, DetailConfig
from ..models.unet import UNetConfig

#: integers in a config must fit in 32 bits: every real size or count does, and the
#: meta-device build then cannot overflow torch's shape arithmetic on its own
INT_LIMIT = 2**31 - 1
#: longest string and list accepted where a kind saves a name or a list of names
MAX_NAME = 256
MAX_ITEMS = 100_000


class HeaderError(Exception):
    """One problem with one header entry; ``where`` is its dotted path."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where} {problem}")
        self.where, self.problem = where, problem


Check = Callable[[Any, str], None]


def _type_name(value) -> str:
    return "null" if value is None else type(value).__name__


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# ------------------------------------------------------------------ value checks


def integer(lo: int = -INT_LIMIT, hi: int = INT_LIMIT) -> Check:
    def check(value, where):
        if not _is_int(value):
            raise HeaderError(where, f"must be an integer, got {_type_name(value)} {value!r:.80}")
        if not lo <= value <= hi:
            raise HeaderError(where, f"must be in [{lo}, {hi}], got {value}")

    return check


def number(lo: float = -math.inf, hi: float = math.inf) -> Check:
    def check(value, where):
        if not _is_number(value) or not math.isfinite(value):
            raise HeaderError(where, f"must be a finite number, got {_type_name(value)} {value!r:.80}")
        if not lo <= value <= hi:
            raise HeaderError(where, f"must be in [{lo}, {hi}], got {value}")

    return check


def boolean(value, where):
    if not isinstance(value, bool):
        raise HeaderError(where, f"must be true or false, got {_type_name(value)} {value!r:.80}")


def text(choices: tuple[str, ...] | None = None) -> Check:
    def check(value, where):
        if not isinstance(value, str) or len(value) > MAX_NAME:
            raise HeaderError(where, f"must be a string of at most {MAX_NAME} characters, got {_type_name(value)}")
        if choices is not None and value not in choices:
            raise HeaderError(where, f"must be one of {choices}, got {value!r}")

    return check


def optional(inner: Check) -> Check:
    def check(value, where):
        if value is not None:
            inner(value, where)

    return check


def one_of(*checks: Check) -> Check:
    def check(value, where):
        errors = []
        for c in checks:
            try:
                return c(value, where)
            except HeaderError as exc:
                errors.append(exc.problem)
        raise HeaderError(where, " or ".join(errors))

    return check


def items(item: Check, *, length: int | None = None, max_length: int = MAX_ITEMS) -> Check:
    def check(value, where):
        if not isinstance(value, list):
            raise HeaderError(where, f"must be a list, got {_type_name(value)}")
        if length is not None and len(value) != length:
            raise HeaderError(where, f"must have {length} items, got {len(value)}")
        if len(value) > max_length:
            raise HeaderError(where, f"has {len(value)} items, more than {max_length}")
        for i, v in enumerate(value):
            item(v, f"{where}[{i}]")

    return check


def mapping(value_check: Check) -> Check:
    """A JSON object with any string keys and values passing ``value_check``."""

    def check(value, where):
        if not isinstance(value, dict):
            raise HeaderError(where, f"must be a mapping, got {_type_name(value)}")
        if len(value) > MAX_ITEMS:
            raise HeaderError(where, f"has {len(value)} entries, more than {MAX_ITEMS}")
        for k, v in value.items():
            value_check(v, f"{where}.{k}")

    return check


def record(fields: dict[str, Check], required: tuple[str, ...] = ()) -> Check:
    """A JSON object with only the keys in ``fields`` (those in ``required`` present)."""

    def check(value, where):
        if not isinstance(value, dict):
            raise HeaderError(where, f"must be a mapping, got {_type_name(value)}")
        unknown = sorted(set(value) - set(fields))
        if unknown:
            raise HeaderError(where, f"has unknown key(s) {', '.join(repr(k) for k in unknown[:5])}")
        missing = [k for k in required if k not in value]
        if missing:
            raise HeaderError(where, f"lacks the key(s) {', '.join(repr(k) for k in missing)}")
        for k, v in value.items():
            fields[k](v, f"{where}.{k}")

    return check


def axes(value, where):
    text()(value, where)
    if not (0 < len(value) <= 6 and set(value) <= set("STCZYX") and len(set(value)) == len(value)):
        raise HeaderError(where, f"must be distinct letters from 'STCZYX', got {value!r}")


def low_high(*, strict: bool) -> Check:
    """A ``[low, high]`` pair of finite numbers (``low < high`` if ``strict``)."""
    pair = items(number(), length=2)

    def check(value, where):
        pair(value, where)
        if strict and not value[0] < value[1]:
            raise HeaderError(where, f"must be [low, high] with low < high, got {value}")

    return check


# ------------------------------------------------------------------ configs


def _check_annotation(tp, value, where) -> None:
    if tp is bool:
        return boolean(value, where)
    if tp is int:
        return integer()(value, where)
    if tp is float:
        return number()(value, where)
    if tp is str:
        return text()(value, where)
    if tp is type(None):
        if value is not None:
            raise HeaderError(where, f"must be null, got {_type_name(value)}")
        return None
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        arms = typing.get_args(tp)
        if value is None and type(None) in arms:
            return None
        return one_of(*(lambda v, w, t=t: _check_annotation(t, v, w) for t in arms if t is not type(None)))(
            value, where
        )
    # a config field of another type needs a rule here before its checkpoints can load
    raise TypeError(f"no checkpoint rule for a config field of type {tp!r} ({where})")


def config_from_json(cls: type, value, where: str = "config"):
    """Rebuild the config dataclass ``cls`` from JSON, refusing what it would not
    have saved: a non-mapping, unknown keys, values of another type. Missing keys
    take the dataclass default (checkpoints from before an option existed)."""
    if not isinstance(value, dict):
        raise HeaderError(where, f"is not a mapping (got {_type_name(value)})")
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(value) - fields)
    if unknown:
        raise HeaderError(where, f"has unknown key(s) for a {cls.__name__}: {', '.join(repr(k) for k in unknown[:5])}")
    hints = typing.get_type_hints(cls)
    for name, v in value.items():
        _check_annotation(hints[name], v, f"{where}.{name}")
    try:
        return cls(**value)
    except (TypeError, ValueError) as exc:  # the dataclass's own range checks
        raise HeaderError(where, f"is not a valid {cls.__name__}: {exc}") from None


def config(cls_for: type | Callable[[Any], type]) -> Callable[[Any], Check]:
    """A nested network config; ``cls_for`` is its class, or a function of the
    model's (already checked) config that returns it."""

    def for_model(model_config) -> Check:
        cls = cls_for if isinstance(cls_for, type) else cls_for(model_config)

        def check(value, where):
            config_from_json(cls, value, where)

        return check

    return for_model


# ------------------------------------------------------------------ the kinds


def _history_value(value, where):
    # any float: a diverged run records its losses as NaN or infinity
    if not _is_number(value):
        raise HeaderError(where, f"must be a number, got {_type_name(value)} {value!r:.80}")


#: one entry per recorded step: {"step": ..., "elapsed": ..., loss name: value, ...}
HISTORY = items(mapping(_history_value))


NORMS = items(low_high(strict=True), max_length=4096)
CLASS_NAMES = items(text(), max_length=MAX_ITEMS)
REPORT = record(
    {
        "classes": CLASS_NAMES,
        "accuracy": number(0, 1),
        "precision": mapping(number(0, 1)),
        "recall": mapping(number(0, 1)),
        "f1": mapping(number(0, 1)),
        "support": mapping(integer(0, 2**63 - 1)),
        "confusion": items(items(integer(0, 2**63 - 1), max_length=4096), max_length=4096),
    },
    required=("classes", "accuracy", "precision", "recall", "f1", "support", "confusion"),
)


def _fixed(check: Check) -> Callable[[Any], Check]:
    return lambda model_config: check


#: a classifier's measurement of whether orientation carries the class (augment="auto")
_ORIENTATION = record(
    {k: number() for k in ("accuracy", "transformed", "chance", "se", "se_accuracy", "examples", "progress")}
)
_CLASSIFIER = {
    "axes": _fixed(optional(axes)),
    "classes": _fixed(items(text(), max_length=MAX_ITEMS)),
    "image_channels": _fixed(integer(0, 4096)),
    # what input_size=None and augment="auto" chose (absent before they existed)
    "input_size": _fixed(optional(integer(8, 4096))),
    "augment": _fixed(optional(text(("none", "shift", "flips")))),
    "orientation": _fixed(optional(record({k: optional(_ORIENTATION) for k in ("neighbours", "network")}))),
    "net": config(ClassifierNetConfig),
    "evaluation": _fixed(optional(REPORT)),
}

#: an ImageGAN's coarse-to-fine plan (tasks._gan_pyramid.Pyramid.to_json)
_PYRAMID = record(
    {
        "levels": integer(1, MAX_LEVELS),
        "work_shape": items(integer(1, MAX_SIDE), length=2),
        "detail": lambda value, where: config_from_json(DetailConfig, value, where),
    },
    required=("levels", "work_shape", "detail"),
)

#: kind -> {key the kind's ``_state`` saves: a function of the model's config that
#: returns the key's check}. Every key is optional here: ``_restore`` reads the ones
#: it needs with ``state[key]``, and its KeyError becomes a CheckpointError.
STATE: dict[str, dict[str, Callable[[Any], Check]]] = {
    "Denoiser": {
        "axes": _fixed(optional(axes)),
        "mode": _fixed(optional(text(("supervised", "neighbor2neighbor", "n2v2")))),
        "normalization": _fixed(optional(low_high(strict=True))),
        "net": config(UNetConfig),
    },
    "Segmenter": {
        "axes": _fixed(optional(axes)),
        "mode": _fixed(text(("semantic", "instance"))),
        "n_classes": _fixed(integer(0, 65535)),
        "min_size": _fixed(integer(0)),
        "object_radius": _fixed(number(0)),
        "peak_factor": _fixed(number(0)),
        "seed_h_factor": _fixed(number(0, 10)),
        "merge_ratio": _fixed(number(0, 1)),
        "net": config(UNetConfig),
    },
    "SpotDetector": {
        "axes": _fixed(optional(axes)),
        "threshold": _fixed(optional(number(0, 1))),
        "net": config(UNetConfig),
    },
    "KeypointDetector": {
        "axes": _fixed(optional(axes)),
        "kinds": _fixed(items(text(), max_length=64)),
        "thresholds": _fixed(optional(items(number(0, 1), max_length=64))),
        "net": config(UNetConfig),
    },
    "BoxDetector": {
        "axes": _fixed(optional(axes)),
        "classes": _fixed(items(text(), max_length=4096)),
        "threshold": _fixed(optional(number(0, 1))),
        "net": config(UNetConfig),
    },
    "ObjectClassifier": _CLASSIFIER,
    "ImageClassifier": {**_CLASSIFIER, "norm": _fixed(NORMS)},
    "ImageGAN": {
        "net_config": config(lambda c: DCGANConfig if c.mode == "samples" else TextureGANConfig),
        "shape": _fixed(items(integer(1, 2**16), length=2)),
        "channels": _fixed(integer(1, 4096)),
        "has_channel_axis": _fixed(boolean),
        "range": _fixed(low_high(strict=False)),
        "class_names": _fixed(optional(items(one_of(text(), integer()), max_length=MAX_ITEMS))),
        "exemplar_shape": _fixed(optional(items(integer(1, 4096), length=3))),
        "adaptive_augment": _fixed(boolean),
        # samples made coarse to fine (absent before 2026-12-05)
        "pyramid": _fixed(optional(_PYRAMID)),
    },
    "Translator": {
        "axes": _fixed(optional(axes)),
        "channels": _fixed(integer(1, 4096)),
        "out_channels": _fixed(integer(1, 4096)),
        "fill": _fixed(text(("tension", "pyramid"))),
        "source_norm": _fixed(optional(NORMS)),
        "target_norm": _fixed(optional(NORMS)),
        # colorize: mean a/100, b/100 per lightness bin (translate.colorize.L_BINS = 64)
        "chroma": _fixed(optional(items(items(number(-1.3, 1.3), length=2), length=64))),
        # unpaired: the generators' moving averages are saved (absent before 2026-12-05)
        "averaged": _fixed(boolean),
    },
}

#: keys every kind's header has (written by ``TrainableModel.save`` and ``save_checkpoint``)
COMMON = ("format", "format_version", "kind", "config", "steps_trained", "history")


def check_header(model_class, header: dict, path):
    """Check a header of ``model_class``'s kind; return its config, rebuilt.

    Raises
    ------
    CheckpointError
        Naming the first entry that is unknown, of the wrong type or out of range.
    """
    kind = model_class.kind
    state = STATE[kind]
    try:
        unknown = sorted(set(header) - set(COMMON) - set(state))
        if unknown:
            raise HeaderError("the header", f"has unknown key(s) for a {kind}: {', '.join(map(repr, unknown[:5]))}")
        if "config" not in header:
            raise HeaderError("the header", "has no config")
        model_config = config_from_json(model_class.config_class, header["config"])
        if "steps_trained" in header:
            integer(0, 2**63 - 1)(header["steps_trained"], "steps_trained")
        if "history" in header:
            HISTORY(header["history"], "history")
        for key, check_for in state.items():
            if key in header:
                check_for(model_config)(header[key], key)
    except HeaderError as exc:
        raise CheckpointError(f"{path}: {exc}") from None
    return model_config
