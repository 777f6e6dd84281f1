"""What every user-facing model shares: config, device, save/load, fit via fit_iter."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

import torch

from ..errors import CheckpointError
from ..io import load_checkpoint, read_header, save_checkpoint

#: kind name -> model class, filled by ``register``; used by :func:`load_model`.
MODEL_KINDS: dict[str, type[TrainableModel]] = {}


def register(cls):
    MODEL_KINDS[cls.kind] = cls
    return cls


class TrainableModel:
    """Base class: subclasses set ``kind`` and ``config_class`` and implement
    ``fit_iter``, ``_state`` (extra JSON to save) and ``_restore``."""

    kind: ClassVar[str] = ""
    config_class: ClassVar[type] = object

    def __init__(self, config=None, **options):
        if config is None:
            config = self.config_class(**options)
        elif options:
            config = dataclasses.replace(config, **options)
        self.config = config
        self.net: torch.nn.Module | None = None
        self.history: list[dict] = []
        self.device: str | None = None
        self.steps_trained = 0

    @property
    def is_fitted(self) -> bool:
        return self.net is not None and self.steps_trained > 0

    def fit(self, *args, **kwargs):
        """Train to the end of the step/time budget (see ``fit_iter``); returns self."""
        for _ in self.fit_iter(*args, **kwargs):
            pass
        return self

    def _require_fitted(self):
        if not self.is_fitted:
            raise RuntimeError(f"this {self.kind} has not been trained yet: call fit() or load_model()")

    # -- persistence -----------------------------------------------------------------
    def _state(self) -> dict:
        return {}

    def _restore(self, state: dict, tensors: dict[str, torch.Tensor]) -> None:
        raise NotImplementedError

    def save(self, path) -> Path:
        """Save weights, config, normalisation and history to one ``.ngan`` file."""
        self._require_fitted()
        history = self.history
        if len(history) > 2000:  # keep the file small: an evenly thinned curve is enough
            stride = -(-len(history) // 2000)
            history = history[::stride] + [history[-1]]
        meta = {
            "kind": self.kind,
            "config": dataclasses.asdict(self.config),
            "steps_trained": self.steps_trained,
            "history": history,
            **self._state(),
        }
        return save_checkpoint(path, self.net.state_dict(), meta)

    @classmethod
    def load(cls, path):
        """Load a model of this kind; :class:`CheckpointError` for any other file."""
        tensors, header = load_checkpoint(path, kind=cls.kind)
        try:
            config = cls.config_class(**header["config"])
            model = cls(config)
            model.history = list(header.get("history", []))
            model.steps_trained = int(header.get("steps_trained", 1)) or 1
            model._restore(header, tensors)
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: checkpoint does not match a {cls.kind} ({exc})") from None
        return model


def load_model(path):
    """Load any napari-gan model saved with ``.save(path)``.

    Raises
    ------
    CheckpointError
        If the file is missing, not a napari-gan checkpoint, truncated, or holds a
        model kind this version does not know.
    """
    kind = read_header(path).get("kind")
    if kind not in MODEL_KINDS:
        raise CheckpointError(f"{path} holds an unknown model kind {kind!r}")
    return MODEL_KINDS[kind].load(path)
