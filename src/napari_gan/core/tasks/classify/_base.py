"""What both classifiers share: their common options, the class-name checks and
:class:`CNNClassifier` (the network, training on prepared inputs, probabilities,
evaluation and persistence)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ...errors import InputError, check_positive_ints
from ...metrics import ClassificationReport, classification_report
from ...models.classifier import ClassifierNet, ClassifierNetConfig
from ...training import resolve_device, seed_everything, training_loop
from ..base import TrainableModel
from .choice import (
    AUGMENTS,
    OrientationProbe,
    augment_batch,
    augment_for,
    choose_input_size,
    neighbour_evidence,
    network_stages,
    verdict,
)


@dataclass(frozen=True)
class ClassifierOptions:
    """The options both classifiers share (documented on :class:`ObjectClassifierConfig`)."""

    input_size: int | None = None
    features: int = 32
    batch_size: int = 32
    learning_rate: float = 2e-3
    augment: str = "auto"
    jitter: float = 0.15
    validation_fraction: float = 0.0

    def __post_init__(self):
        check_positive_ints(self, ("batch_size", "features"))
        if self.input_size is not None:
            check_positive_ints(self, ("input_size",))
        if self.input_size is not None and self.input_size < 8:
            raise ValueError(f"input_size must be at least 8 pixels, got {self.input_size}")
        if not self.learning_rate > 0:
            raise ValueError("learning_rate must be positive")
        if self.augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {AUGMENTS}, got {self.augment!r}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        if self.jitter < 0:
            raise ValueError("jitter must be >= 0")


# ------------------------------------------------------------------------- internals


def check_names(names: list[str], what: str) -> tuple[str, ...]:
    """The sorted class names; refuses fewer than two classes or a class with one example."""
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    if len(counts) == 0:
        raise InputError(f"no {what} is annotated with a class: name at least two examples of two classes")
    if len(counts) < 2:
        (only,) = counts
        raise InputError(f"only one class ({only!r}) is annotated; a classifier needs examples of at least two classes")
    single = sorted(c for c, k in counts.items() if k < 2)
    if single:
        raise InputError(
            f"class(es) {single} have a single annotated {what}; give at least two examples of every class"
        )
    return tuple(sorted(counts))


def _split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified hold-out: about ``fraction`` of each class, at least one left for training."""
    rng = np.random.default_rng(seed + 7919)
    train, val = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = min(int(round(fraction * len(idx))), len(idx) - 1) if fraction > 0 else 0
        val.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


class CNNClassifier(TrainableModel):
    """What both classifiers (:class:`ObjectClassifier`, :class:`ImageClassifier`)
    share: the network, training on prepared inputs, probabilities, evaluation and
    persistence."""

    def __init__(self, config=None, **options):
        super().__init__(config, **options)
        self.classes: tuple[str, ...] = ()
        #: held-out evaluation of the last fit (None without validation_fraction)
        self.evaluation: ClassificationReport | None = None
        #: the measurements behind ``augment="auto"``'s choice: ``"neighbours"`` (see
        #: :func:`.choice.neighbour_evidence`) and, where those could not
        #: tell, ``"network"``; None when augment was given
        self.orientation: dict[str, dict[str, float]] | None = None
        self._image_channels = 0
        self._input_size: int | None = None
        self._augment: str | None = None

    @property
    def input_size(self) -> int | None:
        """Edge in pixels of the network's inputs: ``config.input_size``, or for
        ``input_size=None`` the size chosen from the training data (None until fit)."""
        return self._input_size if self._input_size is not None else self.config.input_size

    @property
    def augment(self) -> str | None:
        """The augmentation training uses: ``config.augment``, or for ``"auto"`` the
        one chosen from the training data (None until fit)."""
        if self._augment is not None:
            return self._augment
        return None if self.config.augment == "auto" else self.config.augment

    def _choose_input_size(self, native: int, cap: int) -> int:
        """The input size of a new fit (a model being trained further keeps its own)."""
        if self.net is None:
            given = self.config.input_size
            self._input_size = int(given) if given is not None else choose_input_size(native, cap=cap)
        return self._input_size

    def _choose_augment(self, x: np.ndarray, y: np.ndarray, n_classes: int, seed: int) -> None:
        """``augment="auto"`` for a new fit: flips or not as nearest neighbours show
        (:func:`.choice.neighbour_evidence`), or undecided (None) until the
        network itself has been measured early in training. A model being trained
        further keeps its choice; an undecided one (stopped early) measures again."""
        if self.net is not None and self._augment is not None:
            return
        self.orientation = None
        if self.config.augment != "auto":
            self._augment = self.config.augment
            return
        evidence = neighbour_evidence(x, y, n_classes=n_classes, seed=seed)
        self.orientation = {"neighbours": evidence}
        self._augment = augment_for(verdict(evidence), x.shape[-1])

    def _train(
        self, x: np.ndarray, y: np.ndarray, classes, *, max_steps, time_limit, seed, device, image_channels, pending
    ):
        """Generator training the net on (M, C, S, S) inputs ``x`` with class indices ``y``."""
        cfg = self.config
        train, val = _split(y, cfg.validation_fraction, seed)
        # a network trained further keeps its depth (older models: three stages at any size)
        stages = self.net.config.stages if self.net is not None else network_stages(x.shape[-1])
        want = ClassifierNetConfig(in_channels=x.shape[1], n_classes=len(classes), features=cfg.features, stages=stages)
        continuing = self.net is not None and self.net.config == want and tuple(classes) == self.classes
        if self.net is not None and not continuing:
            raise InputError(
                f"this {self.kind} was trained on classes {list(self.classes)} with "
                f"{self.net.config.in_channels} input channel(s); the new data has classes {list(classes)} and "
                f"{want.in_channels} channel(s). Create a new {self.kind}."
            )
        self._choose_augment(x[train], y[train], len(classes), seed)
        seed_everything(seed)
        if not continuing:
            self.net = ClassifierNet(want)
        dev = resolve_device(device)
        self.net.to(dev).train()
        self.device, self.classes, self._image_channels = dev, tuple(classes), image_channels
        self.evaluation = None
        net = self.net
        lr = cfg.learning_rate * (0.25 if continuing else 1.0)
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=1e-4)
        rng = np.random.default_rng(seed)
        xt, yt = x[train], y[train]
        no_flips = augment_for("matters", x.shape[-1])
        # undecided augmentation: train without flips on most examples, then measure
        # the network on the held-out rest, as they are and flipped/rotated
        probe = OrientationProbe(yt, seed=seed) if self._augment is None else None
        if probe is not None and not len(probe.held):  # one example per class: nothing to measure on
            probe, self._augment = None, augment_for("free", x.shape[-1])

        def weights(labels):
            # every class drawn equally often: a user annotates what is easy to find,
            # not what is common
            counts = np.bincount(labels, minlength=len(classes)).astype(np.float64)
            p = 1.0 / counts[labels]
            return p / p.sum()

        pool = [probe.fit, weights(yt[probe.fit])] if probe is not None else [np.arange(len(yt)), weights(yt)]

        def step():
            if self._augment is None:
                progress = run.step / run.max_steps
                if run.time_limit:
                    progress = max(progress, run.elapsed / run.time_limit)
                found = probe.measure(progress, run.step, run.max_steps, self._proba, xt, yt, len(classes))
                if found is not None:
                    self.orientation = {**(self.orientation or {}), "network": found[1]}
                    # a network that could not tell in time showed nothing against flips
                    self._augment = augment_for(found[0] or "free", x.shape[-1])
                    pool[:] = [np.arange(len(yt)), weights(yt)]
            net.train()
            rows, p = pool
            idx = rows[rng.choice(len(rows), size=cfg.batch_size, p=p)]
            mode = self._augment or no_flips
            xb = augment_batch(xt[idx], rng, mode=mode, image_channels=image_channels, jitter=cfg.jitter)
            xb = torch.from_numpy(xb).to(dev)
            yb = torch.from_numpy(yt[idx]).to(dev)
            logits = net(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            self.steps_trained += 1
            acc = (logits.argmax(1) == yb).float().mean()
            return {"loss": loss.detach().item(), "accuracy": acc.item()}

        xv, yv = x[val], y[val]  # the held-out examples, measured during training and at its end

        def on_end(done):
            net.eval()
            if done and len(val):
                pred = self._proba(xv).argmax(1)
                self.evaluation = classification_report(
                    [classes[i] for i in yv], [classes[i] for i in pred], classes=classes
                )

        def validate():
            return {"validation accuracy": float((self._proba(xv).argmax(1) == yv).mean())}

        run = self._begin_run(pending, seed, opt=opt, rng=rng)
        return training_loop(
            step,
            max_steps=max_steps,
            time_limit=time_limit,
            optimizers=[opt],
            warmup=0 if continuing else 10,
            history=self.history,
            history_offset=self.steps_trained,
            on_end=on_end,
            state=run,
            validate=validate if len(val) else None,
        )

    def _proba(self, x: np.ndarray, *, device: str | None = None, batch_size: int = 256, progress=None) -> np.ndarray:
        dev = resolve_device(device) if device is not None else (self.device or "cpu")
        net = self.net.to(dev).eval()
        out = []
        with torch.inference_mode():
            for start in range(0, len(x), batch_size):
                t = torch.from_numpy(np.ascontiguousarray(x[start : start + batch_size])).to(dev)
                out.append(torch.softmax(net(t).float(), 1).cpu().numpy())
                if progress is not None:
                    progress(min(start + batch_size, len(x)), len(x))
        return np.concatenate(out) if out else np.zeros((0, len(self.classes)), np.float32)

    # -- persistence -----------------------------------------------------------------
    def _state(self) -> dict:
        return {
            "classes": list(self.classes),
            "image_channels": self._image_channels,
            "input_size": self.input_size,
            "augment": self.augment,
            "orientation": self.orientation,
            "net": self.net.config.to_dict(),
            "evaluation": self.evaluation.to_dict() if self.evaluation is not None else None,
        }

    def _restore(self, state, tensors):
        self.classes = tuple(str(c) for c in state["classes"])
        self._image_channels = int(state["image_channels"])
        self.net = ClassifierNet(ClassifierNetConfig(**state["net"]))
        if self.net.config.n_classes != len(self.classes):
            raise ValueError("the number of classes does not match the network")
        self.net.load_state_dict(tensors)
        self.net.eval()
        ev = state.get("evaluation")
        self.evaluation = ClassificationReport.from_dict(ev) if ev else None
        # models saved before input_size=None and augment="auto" existed have theirs in the config
        self._input_size = state.get("input_size") or self.config.input_size
        # (augment stays None in a model stopped before its choice was made)
        self._augment = state.get("augment") or (None if self.config.augment == "auto" else self.config.augment)
        if self._input_size is None:
            raise ValueError("the checkpoint records no input size")
        orientation = state.get("orientation")
        self.orientation = (
            {str(k): {str(m): float(v) for m, v in e.items()} for k, e in orientation.items()} if orientation else None
        )
        self.device = None
