"""Classifying the objects of a label image: :class:`ObjectClassifier`, its options
and the crops it sees."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi
from skimage.transform import resize

from ...axes import spatial_dims
from ...data import array_like
from ...errors import InputError
from ...metrics import ClassificationReport, classification_report
from ...training import check_budget
from .._pixelwise import ChannelNorm, prepare_image, prepare_labels
from ..base import register
from ._base import ClassifierOptions, CNNClassifier, check_names
from .choice import MAX_OBJECT_INPUT

OUTPUTS = ("table", "labels")


@dataclass(frozen=True)
class ObjectClassifierConfig(ClassifierOptions):
    """Options of an :class:`ObjectClassifier`.

    Parameters
    ----------
    crop : int
        Edge in pixels of the square window cut around each object's bounding-box
        centre. Fixed (not scaled to the object), so object size stays a feature;
        choose it a little larger than the largest object.
    input_size : int or None
        The crops are resized to ``input_size`` x ``input_size`` for the network.
        None (default): chosen at fit, ``crop`` itself up to 32 px (rounded down to
        a multiple of 4), 32 for larger crops: a crop is never enlarged. The choice
        is :attr:`ObjectClassifier.input_size` and is saved with the model. Inputs
        under 16 px get a network with two pooling stages instead of three.
    features : int
        Width of the network's first stage (doubling twice).
    batch_size : int
        Crops per training step (drawn with equal weight per class).
    learning_rate : float
        Adam learning rate (cosine-annealed over the budget).
    augment : {"auto", "flips", "shift", "none"}
        ``flips``: random flips and 90-degree rotations plus a small shift (objects
        whose class does not depend on orientation); ``shift``: only the shift (up
        to 1/16 of the input, at least 1 px); ``none``: neither. ``auto`` (default):
        ``flips`` unless the training examples show that orientation carries the
        class, then ``shift`` (``none`` for inputs under 16 px, where a pixel is a
        large shift). Shown how: flipped and rotated examples are clearly less like
        their own class than the examples themselves, by nearest neighbours in
        pixel space or, where those cannot tell the classes apart, by the network
        early in training (until then, at most half the budget, it trains without
        flips on three quarters of the examples). The choice is
        :attr:`ObjectClassifier.augment`, the measurements behind it
        :attr:`ObjectClassifier.orientation`; both are saved with the model.
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
    By default the window is not enlarged for the network (at most 32 px) and
    flips and rotations are used unless the examples show that orientation carries
    the class (:class:`ObjectClassifierConfig`); :attr:`input_size`,
    :attr:`augment` and :attr:`orientation` say what was chosen.

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
        return object_crops(xn, lab, ids, crop=self.config.crop, size=self.input_size)

    def fit_iter(
        self,
        image,
        labels,
        classes: dict,
        *,
        axes: str | None = None,
        max_steps: int | None = 400,
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
        max_steps = check_budget(max_steps, time_limit)
        pending = self._resume_from(resume, seed)
        x, lab, axes = _prepare_2d(image, labels, axes)
        named = _check_classes(classes, _present_ids(lab))
        names = check_names(list(named.values()), "object")
        ids = np.array(sorted(named), dtype=np.int64)
        y = np.array([names.index(named[i]) for i in ids], dtype=np.int64)
        self._choose_input_size(self.config.crop, MAX_OBJECT_INPUT)
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
