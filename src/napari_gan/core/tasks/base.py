"""What every user-facing model shares: config, device, save/load, fit via fit_iter."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import ClassVar

import torch

from ..errors import CheckpointError, InputError
from ..io import CheckpointInfo, StoredTensor, inspect_checkpoint, load_tensors, save_checkpoint
from ..resume import STATE_KIND, TrainingState, check_state, save_state, split_state
from ._header import STATE, check_header

#: kind name -> model class, filled by ``register``; used by :func:`load_model`.
MODEL_KINDS: dict[str, type[TrainableModel]] = {}


def register(cls):
    if cls.kind not in STATE:
        raise TypeError(f"{cls.kind} has no entry in _header.STATE: list the keys its _state saves there")
    MODEL_KINDS[cls.kind] = cls
    return cls


def _some(names: list[str], n: int = 3) -> str:
    shown = ", ".join(repr(x) for x in names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


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
        #: the latest run's optimizers, random generators and progress (see ``fit_iter(resume=...)``)
        self.training_state: TrainingState | None = None

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

    # -- resuming a run ----------------------------------------------------------------
    def _resume_from(self, resume: bool, seed: int):
        """The run that ``fit_iter(resume=True)`` continues, checked before any data
        is touched: ``None`` for a new run, else its saved ``(meta, tensors)``.

        The run is this model's latest (stopped) run in memory, the widgets'
        *Continue training*, or the one a ``.state`` file holds that
        :func:`load_model` read (:meth:`save_training_state` wrote it).
        """
        if not resume:
            return None
        run = self.training_state
        if run is None:
            raise InputError(
                f"this {self.kind} has no run to resume: train it first, or load a run's .state file with load_model"
            )
        if run.finished:
            raise InputError("the run used its whole budget: there is nothing to resume; start a new run")
        if run.pending is not None:
            meta, tensors = run.pending
        else:
            tensors, meta = run.snapshot()
        if meta["seed"] != int(seed):
            raise InputError(f"the run being resumed used seed {meta['seed']}, not {seed}: pass seed={meta['seed']}")
        return meta, tensors

    def _begin_run(self, pending, seed: int, **objects) -> TrainingState:
        """The new run's :class:`TrainingState` over ``objects`` (its optimizers and
        random generators, by name), with ``pending`` (from :meth:`_resume_from`)
        restored into them. Call it last, just before ``training_loop``: restoring
        sets torch's, numpy's and Python's global generators."""
        run = TrainingState(objects, seed=seed)
        if pending is not None:
            run.pending = pending
            try:
                run.restore()
            except CheckpointError:
                raise
            except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
                raise CheckpointError(f"the saved training state does not fit this run ({exc})") from None
        self.training_state = run
        return run

    def save_training_state(self, path) -> Path:
        """Write the model and its latest run (optimizer moments, schedule position,
        random generators) to one ``.state`` file (safetensors, no pickle), atomically.
        ``load_model(path).fit(..., resume=True)`` then ends where the uninterrupted
        run would have."""
        if self.training_state is None or self.training_state.pending is not None:
            raise RuntimeError(f"this {self.kind} has no run in memory to save")
        return save_state(path, self.training_state, self.net.state_dict(), self._meta())

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
        return save_checkpoint(path, self.net.state_dict(), self._meta(history))

    def export_bioimageio(self, path, *, name=None, description=None, authors=None, **options) -> Path:
        """Write this model as a bioimage.io model package (spec 0.5, a ``.zip``) that
        ilastik, deepImageJ, QuPath and bioimageio.core run; ``.save`` stays the native
        format. Options and contents: :func:`napari_gan.core.bmz.export_bioimageio`.
        Needs the ``bioimageio`` extra; raises :class:`~napari_gan.core.bmz.ExportError`
        for kinds with no such package (image generators, classifiers, detectors)."""
        from ..bmz import export_bioimageio

        return export_bioimageio(self, path, name=name, description=description, authors=authors, **options)

    def _meta(self, history=None) -> dict:
        return {
            "kind": self.kind,
            "config": dataclasses.asdict(self.config),
            "steps_trained": self.steps_trained,
            "history": self.history if history is None else history,
            **self._state(),
        }

    @classmethod
    def load(cls, path):
        """Load a model of this kind; :class:`CheckpointError` for any other file.

        Nothing is built before the header has been checked: its keys, types and
        ranges (:func:`._header.check_header`), then that the network it describes
        has exactly the stored tensors' names and shapes (built on the meta device,
        which allocates no memory). Only then are the weights read and the network
        built for real, and it cannot be larger than the file.
        """
        info = inspect_checkpoint(path)
        if info.header["kind"] == STATE_KIND:
            return _load_run(path, info, cls)
        return cls._from_parts(path, info, lambda: load_tensors(path))

    @classmethod
    def _from_parts(cls, path, info: CheckpointInfo, read_tensors):
        header = info.header
        if header["kind"] != cls.kind:
            raise CheckpointError(f"{path} holds a {header['kind']!r} model, not a {cls.kind!r}")
        config = check_header(cls, header, path)
        cls._check_tensors(path, config, header, info.tensors)
        tensors = read_tensors()
        try:
            model = cls(config)
            model.history = list(header.get("history", []))
            model.steps_trained = header.get("steps_trained", 1) or 1
            model._restore(header, tensors)
        except CheckpointError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: checkpoint does not match a {cls.kind} ({exc})") from None
        return model

    @classmethod
    def _check_tensors(cls, path, config, header: dict, stored: dict[str, StoredTensor]) -> None:
        """Restore a model from ``header`` on the meta device, given placeholders of
        the stored tensors, and compare its network's state dict with them."""
        model = cls(config)
        problem = None
        try:
            with torch.device("meta"):
                placeholders = {k: torch.empty(t.shape, dtype=t.torch_dtype) for k, t in stored.items()}
                model._restore(header, placeholders)
        except NotImplementedError:
            if model.net is None:
                raise
            # moving the built and loaded network to a real device: meta tensors have no data to move
        except CheckpointError:
            raise
        except KeyError as exc:
            problem = f"the header lacks {exc}"
        except (RuntimeError, OverflowError) as exc:  # torch's own refusal, e.g. a size beyond 64 bits
            problem = f"its header describes no network that can be built: {exc}" if model.net is None else str(exc)
        except (TypeError, ValueError, IndexError) as exc:
            problem = str(exc)
        if model.net is not None:
            _compare_tensors(path, cls.kind, model.net.state_dict(), stored)
        if problem is not None or model.net is None:
            raise CheckpointError(f"{path}: checkpoint does not match a {cls.kind} ({problem or 'no network built'})")


def _compare_tensors(path, kind: str, expected: dict[str, torch.Tensor], stored: dict[str, StoredTensor]) -> None:
    """Exactly the expected names and shapes; floating point where expected, and
    integer tensors (batch norm's step count) of their own dtype."""
    missing = [k for k in expected if k not in stored]
    extra = [k for k in stored if k not in expected]
    if missing or extra:
        what = [f"lacks {_some(missing)}"] if missing else []
        what += [f"has {_some(extra)}, which it does not"] if extra else []
        raise CheckpointError(
            f"{path}: the stored tensors are not those of the {kind} network its header describes "
            f"(the file {'; '.join(what)}): tensors of another model, or a header that is not theirs"
        )
    for name, tensor in expected.items():
        have = stored[name]
        if tuple(tensor.shape) != have.shape:
            raise CheckpointError(
                f"{path}: tensor {name!r} is stored with shape {have.shape}, but the header's network config "
                f"implies {tuple(tensor.shape)}"
            )
        if tensor.dtype.is_floating_point:
            if not have.torch_dtype.is_floating_point:
                raise CheckpointError(
                    f"{path}: tensor {name!r} is stored as {have.dtype}, expected a floating-point type"
                )
        elif have.torch_dtype != tensor.dtype:
            raise CheckpointError(f"{path}: tensor {name!r} is stored as {have.dtype}, expected {tensor.dtype}")


def _load_run(path, info: CheckpointInfo, cls=None):
    """A model from a ``.state`` file, with the saved run ready for ``fit(resume=True)``."""
    meta, model_info = check_state(path, info)
    kind = model_info.header["kind"]
    if cls is None:
        if kind not in MODEL_KINDS:
            raise CheckpointError(f"{path} holds an unknown model kind {kind!r}")
        cls = MODEL_KINDS[kind]
    parts = {}

    def read_tensors():
        parts.update(split_state(load_tensors(path)))
        return parts["model"]

    model = cls._from_parts(path, model_info, read_tensors)
    model.training_state = TrainingState.saved(meta, parts["state"])
    return model


def load_model(path):
    """Load any napari-gan model saved with ``.save(path)``, or the model of a run
    saved with ``.save_training_state(path)`` (ready for ``fit(..., resume=True)``).

    Raises
    ------
    CheckpointError
        If the file is missing, not a napari-gan checkpoint, truncated, or holds a
        model kind this version does not know.
    """
    info = inspect_checkpoint(path)
    if info.header["kind"] == STATE_KIND:
        return _load_run(path, info)
    kind = info.header["kind"]
    if kind not in MODEL_KINDS:
        raise CheckpointError(f"{path} holds an unknown model kind {kind!r}")
    return MODEL_KINDS[kind].load(path)
