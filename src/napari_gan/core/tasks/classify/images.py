"""Classifying whole images of a stack: :class:`ImageClassifier` and its options."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.transform import resize

from ...axes import spatial_dims
from ...data import array_like
from ...errors import InputError
from ...metrics import ClassificationReport, classification_report
from ...training import check_budget
from .._pixelwise import ChannelNorm, prepare_image
from ..base import register
from ._base import ClassifierOptions, CNNClassifier, check_names
from .choice import MAX_IMAGE_INPUT


@dataclass(frozen=True)
class ImageClassifierConfig(ClassifierOptions):
    """Options of an :class:`ImageClassifier`; as :class:`ObjectClassifierConfig`
    without ``crop``: each whole image is resized to ``input_size`` x ``input_size``.
    With ``input_size=None`` (default) that is the images' own size (their larger
    side, rounded down to a multiple of 4; at least 8) up to 64 px, and 64 for larger
    images: small images are never enlarged beyond the 8 px the network needs."""


@register
class ImageClassifier(CNNClassifier):
    """Classify whole images of a stack (one class per image) from a few named ones.

    Images are resized to ``input_size`` and normalised with the training stack's
    per-channel percentiles (so brightness differences between classes are kept).
    By default ``input_size`` is the images' own size (at most 64 px: small images
    are not enlarged) and flips and rotations are used unless the images show that
    orientation carries the class (a 6 turned is a 9); :attr:`input_size`,
    :attr:`augment` and :attr:`orientation` say what was chosen. On scikit-learn's
    digits (50/50 split), ``ImageClassifier().fit(images, names)`` chooses 8 px, no
    flips, and scores 0.9967 (docs/benchmarks/classification.md).

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
        s = self.input_size
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
        max_steps: int | None = 500,
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
        max_steps = check_budget(max_steps, time_limit)
        pending = self._resume_from(resume, seed)
        x, axes = self._stack(images, axes)
        names = [None if n is None else str(n).strip() for n in names]
        if len(names) != x.shape[0]:
            raise InputError(f"got {len(names)} class names for {x.shape[0]} images: give one per image")
        annotated = np.array([bool(n) for n in names])
        classes = check_names([n for n in names if n], "image")
        y = np.array([classes.index(n) for n in names if n], dtype=np.int64)
        x = x[annotated]
        if self.net is None or self.norm is None:
            self.norm = ChannelNorm.fit(x, name="images")
        self._choose_input_size(max(x.shape[-2:]), MAX_IMAGE_INPUT)
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
