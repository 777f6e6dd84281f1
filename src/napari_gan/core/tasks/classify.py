"""Classification with a small CNN: the objects of a label image (:class:`ObjectClassifier`)
or whole images of a stack (:class:`ImageClassifier`), learned from a few named examples."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage as ndi
from skimage.transform import resize

from ..axes import spatial_dims
from ..data import array_like
from ..errors import InputError, check_positive_ints
from ..metrics import ClassificationReport, classification_report
from ..models.classifier import ClassifierNet, ClassifierNetConfig
from ..training import check_budget, resolve_device, seed_everything, training_loop
from ._pixelwise import ChannelNorm, prepare_image, prepare_labels
from .base import TrainableModel, register

AUGMENTS = ("none", "shift", "flips")
OUTPUTS = ("table", "labels")


@dataclass(frozen=True)
class _ClassifierOptions:
    """The options both classifiers share (documented on :class:`ObjectClassifierConfig`)."""

    input_size: int = 32
    features: int = 32
    batch_size: int = 32
    learning_rate: float = 2e-3
    augment: str = "flips"
    jitter: float = 0.15
    validation_fraction: float = 0.0

    def __post_init__(self):
        check_positive_ints(self, ("input_size", "batch_size", "features"))
        if self.input_size < 8:
            raise ValueError(f"input_size must be at least 8 pixels, got {self.input_size}")
        if not self.learning_rate > 0:
            raise ValueError("learning_rate must be positive")
        if self.augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {AUGMENTS}, got {self.augment!r}")
        if not 0 <= self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction}")
        if self.jitter < 0:
            raise ValueError("jitter must be >= 0")


@dataclass(frozen=True)
class ObjectClassifierConfig(_ClassifierOptions):
    """Options of an :class:`ObjectClassifier`.

    Parameters
    ----------
    crop : int
        Edge in pixels of the square window cut around each object's bounding-box
        centre. Fixed (not scaled to the object), so object size stays a feature;
        choose it a little larger than the largest object.
    input_size : int
        The crops are resized to ``input_size`` x ``input_size`` for the network.
    features : int
        Width of the network's first stage (doubling twice).
    batch_size : int
        Crops per training step (drawn with equal weight per class).
    learning_rate : float
        Adam learning rate (cosine-annealed over the budget).
    augment : {"flips", "shift", "none"}
        ``flips``: random flips and 90-degree rotations plus a small shift (objects
        whose class does not depend on orientation); ``shift``: only the shift.
    jitter : float
        Strength of the random contrast/brightness change of the image channels.
    validation_fraction : float
        Part of the annotated objects of each class held out of training and used to
        compute :attr:`ObjectClassifier.evaluation` (0: no evaluation).
    """

    crop: int = 48

    def __post_init__(self):
        super().__post_init__()
        if int(self.crop) < 8:
            raise ValueError(f"crop must be at least 8 pixels, got {self.crop!r}")


@dataclass(frozen=True)
class ImageClassifierConfig(_ClassifierOptions):
    """Options of an :class:`ImageClassifier`; as :class:`ObjectClassifierConfig`
    without ``crop``: each whole image is resized to ``input_size`` x ``input_size``."""

    input_size: int = 64


# --------------------------------------------------------------------------- helpers


def _check_names(names: list[str], what: str) -> tuple[str, ...]:
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


def _augment(x: np.ndarray, rng: np.random.Generator, *, mode: str, image_channels: int, jitter: float) -> np.ndarray:
    """Flips/rot90 and a small shift of each crop, and a contrast/brightness change of
    its image channels (the mask channel stays 0/1)."""
    out = np.empty_like(x)
    size = x.shape[-1]
    shift = max(1, size // 16)
    for i, c in enumerate(x):
        if mode == "flips":
            if rng.random() < 0.5:
                c = c[:, ::-1]
            c = np.rot90(c, int(rng.integers(4)), axes=(1, 2))
        if mode != "none":
            dy, dx = rng.integers(-shift, shift + 1, size=2)
            c = np.pad(c, ((0, 0), (shift, shift), (shift, shift)), mode="edge")
            c = c[:, shift + dy : shift + dy + size, shift + dx : shift + dx + size]
        out[i] = c
    if jitter > 0:
        n = len(x)
        gain = np.exp(rng.uniform(-1, 1, n) * np.log1p(jitter)).astype(np.float32)[:, None, None, None]
        offset = (rng.uniform(-1, 1, n) * jitter).astype(np.float32)[:, None, None, None]
        out[:, :image_channels] = out[:, :image_channels] * gain + offset
    return out


class CNNClassifier(TrainableModel):
    """What both classifiers (:class:`ObjectClassifier`, :class:`ImageClassifier`)
    share: the network, training on prepared inputs, probabilities, evaluation and
    persistence."""

    def __init__(self, config=None, **options):
        super().__init__(config, **options)
        self.classes: tuple[str, ...] = ()
        #: held-out evaluation of the last fit (None without validation_fraction)
        self.evaluation: ClassificationReport | None = None
        self._image_channels = 0

    def _train(
        self, x: np.ndarray, y: np.ndarray, classes, *, max_steps, time_limit, seed, device, image_channels, pending
    ):
        """Generator training the net on (M, C, S, S) inputs ``x`` with class indices ``y``."""
        cfg = self.config
        train, val = _split(y, cfg.validation_fraction, seed)
        want = ClassifierNetConfig(in_channels=x.shape[1], n_classes=len(classes), features=cfg.features)
        continuing = self.net is not None and self.net.config == want and tuple(classes) == self.classes
        if self.net is not None and not continuing:
            raise InputError(
                f"this {self.kind} was trained on classes {list(self.classes)} with "
                f"{self.net.config.in_channels} input channel(s); the new data has classes {list(classes)} and "
                f"{want.in_channels} channel(s). Create a new {self.kind}."
            )
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
        # every class drawn equally often: a user annotates what is easy to find, not
        # what is common
        counts = np.bincount(yt, minlength=len(classes)).astype(np.float64)
        p = 1.0 / counts[yt]
        p /= p.sum()

        def step():
            net.train()
            idx = rng.choice(len(yt), size=cfg.batch_size, p=p)
            xb = _augment(xt[idx], rng, mode=cfg.augment, image_channels=image_channels, jitter=cfg.jitter)
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

        def on_end(done):
            net.eval()
            if done and len(val):
                pred = self._proba(x[val]).argmax(1)
                self.evaluation = classification_report(
                    [classes[i] for i in y[val]], [classes[i] for i in pred], classes=classes
                )

        return training_loop(
            step,
            max_steps=max_steps,
            time_limit=time_limit,
            optimizers=[opt],
            warmup=0 if continuing else 10,
            history=self.history,
            history_offset=self.steps_trained,
            on_end=on_end,
            state=self._begin_run(pending, seed, opt=opt, rng=rng),
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
        self.device = None


# --------------------------------------------------------------------------- objects


def _prepare_2d(image, labels, axes):
    x, axes = prepare_image(image, axes)
    if spatial_dims(axes) != 2 or x.shape[0] != 1:
        raise InputError(
            f"ObjectClassifier works on one 2D image (axes YX or YXC); got axes {axes!r} with shape "
            f"{np.shape(image)}: classify a stack or volume frame by frame"
        )
    lab = prepare_labels(labels, tuple(np.shape(image)), axes)[0, 0]
    return x[0].astype(np.float32, copy=False), lab, axes


def object_crops(image: np.ndarray, labels: np.ndarray, ids, *, crop: int, size: int) -> np.ndarray:
    """Crops centred on each object's bounding box, with the object's mask as a last channel.

    Parameters
    ----------
    image : ndarray, shape (C, Y, X), float32
        Normalised image.
    labels : ndarray of int, shape (Y, X)
    ids : sequence of int
        Label ids to crop (each must be present).
    crop, size : int
        Window edge in pixels, and the edge it is resized to (skimage, linear, with
        anti-aliasing when shrinking). Outside the image the window is padded by
        reflection (image) and with 0 (mask).

    Returns
    -------
    ndarray of float32, shape (len(ids), C + 1, size, size)
    """
    c = image.shape[0]
    half = crop // 2
    pad = ((0, 0), (half, crop), (half, crop))
    padded = np.pad(image, pad, mode="reflect" if min(image.shape[1:]) > crop else "symmetric")
    lab = np.pad(labels, pad[1:], mode="constant")
    boxes = ndi.find_objects(labels)
    out = np.empty((len(ids), c + 1, size, size), np.float32)
    for k, i in enumerate(ids):
        sl = boxes[int(i) - 1]
        cy = (sl[0].start + sl[0].stop - 1) // 2
        cx = (sl[1].start + sl[1].stop - 1) // 2
        window = (slice(cy, cy + crop), slice(cx, cx + crop))  # padded coordinates
        stack = np.concatenate([padded[(slice(None), *window)], (lab[window] == i)[None].astype(np.float32)])
        if crop != size:
            stack = resize(
                stack.transpose(1, 2, 0), (size, size), order=1, anti_aliasing=crop > size, preserve_range=True
            ).transpose(2, 0, 1)
        out[k] = stack
    return out


def _check_classes(classes, present: np.ndarray) -> dict[int, str]:
    if not isinstance(classes, dict):
        raise InputError(
            f"classes must be a dict {{label id: class name}}, e.g. {{3: 'dividing', 7: 'normal'}}; "
            f"got {type(classes).__name__}"
        )
    out: dict[int, str] = {}
    for key, name in classes.items():
        if isinstance(key, (bool, np.bool_)) or not isinstance(key, (int, np.integer)):
            raise InputError(f"class keys must be integer label ids; got {key!r}")
        if int(key) <= 0:
            raise InputError(f"label id {key} is not an object: ids are positive (0 is background)")
        if not isinstance(name, str) or not name.strip():
            raise InputError(f"class name of label {key} must be a non-empty string; got {name!r}")
        out[int(key)] = name.strip()
    missing = sorted(set(out) - set(present.tolist()))
    if missing:
        shown = missing[:10] + (["..."] if len(missing) > 10 else [])
        raise InputError(f"label id(s) {shown} are not in the labels (ids present: {len(present)} objects)")
    return out


def _present_ids(lab: np.ndarray) -> np.ndarray:
    counts = np.bincount(lab.reshape(-1))
    ids = np.flatnonzero(counts)
    return ids[ids > 0]


@register
class ObjectClassifier(CNNClassifier):
    """Classify the objects of a label image from a few named examples.

    Each object is seen through a window of ``crop`` pixels centred on it, with its
    mask as an extra channel so that neighbours in the window do not confuse it.

    Examples
    --------
    >>> import napari_gan as ng
    >>> clf = ng.ObjectClassifier().fit(image, labels, classes={3: "dividing", 4: "dividing", 7: "normal", 9: "normal"})
    >>> table = clf.predict(image, labels)      # dict of columns: label, class, probability, ...
    >>> colored = clf.class_labels(labels, table)  # class index + 1 per pixel
    """

    kind = "ObjectClassifier"
    config_class = ObjectClassifierConfig

    def __init__(self, config: ObjectClassifierConfig | None = None, **options):
        super().__init__(config, **options)
        self.axes: str | None = None

    def _crops(self, x, lab, ids) -> np.ndarray:
        xn = ChannelNorm.fit(x[None]).apply(x[None])[0]
        return object_crops(xn, lab, ids, crop=self.config.crop, size=self.config.input_size)

    def fit_iter(
        self,
        image,
        labels,
        classes: dict,
        *,
        axes: str | None = None,
        max_steps: int = 400,
        time_limit: float | None = None,
        seed: int = 0,
        device: str = "auto",
        resume=False,
    ):
        """Validate the data, then return a generator that trains one step per ``next()``.

        Parameters
        ----------
        image : array-like, shape (Y, X) or (Y, X, C)
            One 2D image (numpy or dask).
        labels : integer array-like, shape (Y, X)
            Objects: 0 = background, each object its own id.
        classes : dict of int -> str
            The class of the annotated objects, ``{label id: class name}``; at least two
            classes with at least two objects each.
        axes : str, optional
            ``YX`` or ``YXC`` (default from the shape).
        max_steps, time_limit, seed, device
            Budget (whichever ends first), random seed and ``"auto"``/``"cpu"``/``"cuda"``.
        resume : bool or path, optional
            Continue an interrupted run: as for :meth:`napari_gan.Denoiser.fit_iter`.

        Yields
        ------
        StepRecord
            Losses ``loss`` (cross-entropy) and ``accuracy`` (on the augmented batch).
        """
        check_budget(max_steps, time_limit)
        pending = self._resume_from(resume, seed)
        x, lab, axes = _prepare_2d(image, labels, axes)
        named = _check_classes(classes, _present_ids(lab))
        names = _check_names(list(named.values()), "object")
        ids = np.array(sorted(named), dtype=np.int64)
        y = np.array([names.index(named[i]) for i in ids], dtype=np.int64)
        crops = self._crops(x, lab, ids)
        self.axes = axes
        return self._train(
            crops,
            y,
            names,
            max_steps=max_steps,
            time_limit=time_limit,
            seed=seed,
            device=device,
            image_channels=x.shape[0],
            pending=pending,
        )

    def _check_input(self, image, labels, axes):
        self._require_fitted()
        image = array_like(image, name="image")
        if axes is None and self.axes and len(self.axes) == np.ndim(image):
            axes = self.axes
        x, lab, axes = _prepare_2d(image, labels, axes)
        if x.shape[0] + 1 != self.net.config.in_channels:
            raise InputError(
                f"this ObjectClassifier expects {self.net.config.in_channels - 1} channel(s), "
                f"the image has {x.shape[0]}"
            )
        return x, lab

    def predict(
        self,
        image,
        labels,
        *,
        output: str = "table",
        axes: str | None = None,
        device: str | None = None,
        progress=None,
    ):
        """Classify every object of ``labels``.

        Parameters
        ----------
        image, labels, axes
            As for :meth:`fit_iter` (any image with the training image's channels).
        output : {"table", "labels"}
            ``table``: a dict of columns, one row per object (see Returns);
            ``labels``: :meth:`class_labels` of that table.

        Returns
        -------
        dict of str -> ndarray, or ndarray of int32
            ``label`` (int64), ``class`` (str), ``probability`` (float32, of the chosen
            class) and ``probability_<class name>`` for every class; ready for a napari
            layer's ``features`` or ``pandas.DataFrame(table)``.
        """
        if output not in OUTPUTS:
            raise InputError(f"output must be one of {OUTPUTS}, got {output!r}")
        x, lab = self._check_input(image, labels, axes)
        ids = _present_ids(lab)
        proba = self._proba(self._crops(x, lab, ids), device=device, progress=progress) if len(ids) else None
        table = self._table(ids, proba)
        return self.class_labels(lab, table) if output == "labels" else table

    def predict_proba(self, image, labels, *, axes: str | None = None, device: str | None = None):
        """``(ids, probabilities)``: the object ids and an (n_objects, n_classes) array."""
        x, lab = self._check_input(image, labels, axes)
        ids = _present_ids(lab)
        if not len(ids):
            return ids, np.zeros((0, len(self.classes)), np.float32)
        return ids, self._proba(self._crops(x, lab, ids), device=device)

    def _table(self, ids: np.ndarray, proba: np.ndarray | None) -> dict:
        if proba is None:
            proba = np.zeros((0, len(self.classes)), np.float32)
        best = proba.argmax(1) if len(proba) else np.zeros(0, np.int64)
        table = {
            "label": np.asarray(ids, np.int64),
            "class": np.array([self.classes[i] for i in best], dtype=object),
            "probability": proba[np.arange(len(best)), best].astype(np.float32),
        }
        for k, name in enumerate(self.classes):
            table[f"probability_{name}"] = proba[:, k].astype(np.float32)
        return table

    def class_labels(self, labels, table: dict) -> np.ndarray:
        """A label image with each object's pixels set to its class index + 1
        (``self.classes[i]`` is class ``i + 1``; 0 stays background, objects not in
        ``table`` become 0)."""
        lab = np.asarray(labels)
        index = {c: i + 1 for i, c in enumerate(self.classes)}
        lut = np.zeros(int(lab.max(initial=0)) + 1, np.int32)
        ids = np.asarray(table["label"], np.int64)
        keep = ids < len(lut)
        lut[ids[keep]] = [index[c] for c in np.asarray(table["class"])[keep]]
        return lut[lab]

    def evaluate(self, image, labels, classes: dict, *, axes: str | None = None) -> ClassificationReport:
        """Accuracy, per-class precision/recall/F1 and confusion matrix on annotated
        objects ``classes`` ({label id: true class name}) of ``image``/``labels``."""
        x, lab = self._check_input(image, labels, axes)
        named = _check_classes(classes, _present_ids(lab))
        unknown = sorted(set(named.values()) - set(self.classes))
        if unknown:
            raise InputError(f"class(es) {unknown} are not among this model's classes {list(self.classes)}")
        ids = np.array(sorted(named), dtype=np.int64)
        pred = self._proba(self._crops(x, lab, ids)).argmax(1)
        return classification_report([named[i] for i in ids], [self.classes[k] for k in pred], classes=self.classes)

    def _state(self) -> dict:
        return {**super()._state(), "axes": self.axes}

    def _restore(self, state, tensors):
        super()._restore(state, tensors)
        self.axes = state.get("axes")


# --------------------------------------------------------------------------- images


@register
class ImageClassifier(CNNClassifier):
    """Classify whole images of a stack (one class per image) from a few named ones.

    Images are resized to ``input_size`` and normalised with the training stack's
    per-channel percentiles (so brightness differences between classes are kept).

    Examples
    --------
    >>> ic = ng.ImageClassifier().fit(stack, ["a", "b", None, "a", ...])  # None: not annotated
    >>> names = ic.predict(stack)           # one class name per image
    >>> proba = ic.predict_proba(stack)     # (N, n_classes)
    """

    kind = "ImageClassifier"
    config_class = ImageClassifierConfig

    def __init__(self, config: ImageClassifierConfig | None = None, **options):
        super().__init__(config, **options)
        self.axes: str | None = None
        self.norm: ChannelNorm | None = None

    def _inputs(self, x: np.ndarray) -> np.ndarray:
        s = self.config.input_size
        xn = self.norm.apply(x)
        if xn.shape[-2:] == (s, s):
            return xn
        out = np.empty((len(xn), xn.shape[1], s, s), np.float32)
        for i, img in enumerate(xn):
            shrink = max(img.shape[-2:]) > s
            out[i] = resize(img, (img.shape[0], s, s), order=1, anti_aliasing=shrink, preserve_range=True)
        return out

    def _stack(self, images, axes):
        x, axes = prepare_image(images, axes, name="images")
        if spatial_dims(axes) != 2:
            raise InputError(f"ImageClassifier works on stacks of 2D images (axes SYX or SYXC); got axes {axes!r}")
        return x, axes

    def fit_iter(
        self,
        images,
        names,
        *,
        axes: str | None = None,
        max_steps: int = 500,
        time_limit: float | None = None,
        seed: int = 0,
        device: str = "auto",
        resume=False,
    ):
        """Validate the data, then return a generator that trains one step per ``next()``.

        Parameters
        ----------
        images : array-like, shape (N, Y, X) or (N, Y, X, C)
            The stack (numpy or dask); axes ``SYX``/``SYXC`` by default from the shape.
        names : sequence of str or None, length N
            The class of each image; None or "" for images that are not annotated.
        axes, max_steps, time_limit, seed, device
            As for :meth:`ObjectClassifier.fit_iter`.
        resume : bool or path, optional
            Continue an interrupted run: as for :meth:`napari_gan.Denoiser.fit_iter`.
        """
        check_budget(max_steps, time_limit)
        pending = self._resume_from(resume, seed)
        x, axes = self._stack(images, axes)
        names = [None if n is None else str(n).strip() for n in names]
        if len(names) != x.shape[0]:
            raise InputError(f"got {len(names)} class names for {x.shape[0]} images: give one per image")
        annotated = np.array([bool(n) for n in names])
        classes = _check_names([n for n in names if n], "image")
        y = np.array([classes.index(n) for n in names if n], dtype=np.int64)
        x = x[annotated]
        if self.net is None or self.norm is None:
            self.norm = ChannelNorm.fit(x, name="images")
        self.axes = axes
        return self._train(
            self._inputs(x),
            y,
            classes,
            max_steps=max_steps,
            time_limit=time_limit,
            seed=seed,
            device=device,
            image_channels=x.shape[1],
            pending=pending,
        )

    def predict_proba(self, images, *, axes: str | None = None, device: str | None = None, progress=None):
        """(N, n_classes) class probabilities, columns in the order of ``self.classes``."""
        self._require_fitted()
        images = array_like(images, name="images")
        if axes is None and self.axes and len(self.axes) == np.ndim(images):
            axes = self.axes
        x, _ = self._stack(images, axes)
        if x.shape[1] != self.net.config.in_channels:
            raise InputError(
                f"this ImageClassifier expects {self.net.config.in_channels} channel(s), the images have {x.shape[1]}"
            )
        return self._proba(self._inputs(x), device=device, progress=progress)

    def predict(self, images, *, axes: str | None = None, device: str | None = None, progress=None) -> np.ndarray:
        """One class name per image (ndarray of str, length N)."""
        proba = self.predict_proba(images, axes=axes, device=device, progress=progress)
        return np.array([self.classes[i] for i in proba.argmax(1)], dtype=object)

    def evaluate(self, images, names, *, axes: str | None = None) -> ClassificationReport:
        """Accuracy, per-class precision/recall/F1 and confusion matrix against ``names``
        (None or "" entries are skipped)."""
        names = [None if n is None else str(n).strip() for n in names]
        if len(names) != np.shape(images)[0]:
            raise InputError(f"got {len(names)} class names for {np.shape(images)[0]} images")
        keep = np.array([bool(n) for n in names])
        unknown = sorted({n for n in names if n} - set(self.classes))
        if unknown:
            raise InputError(f"class(es) {unknown} are not among this model's classes {list(self.classes)}")
        pred = self.predict(np.asarray(images)[keep], axes=axes)
        return classification_report([n for n in names if n], pred, classes=self.classes)

    def _state(self) -> dict:
        return {**super()._state(), "axes": self.axes, "norm": self.norm.to_state()}

    def _restore(self, state, tensors):
        super()._restore(state, tensors)
        self.axes = state.get("axes")
        self.norm = ChannelNorm.from_state(state["norm"])
