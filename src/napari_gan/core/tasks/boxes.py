"""BoxDetector: learn to find objects as boxes with a class and a score from a few
annotated rectangles (CenterNet-style: a U-Net regresses a centre heatmap per class
and each object's extent, read back at the heatmap's peaks).

:func:`boxes_from_labels` gives the same columns from an instance label image, so a
Segmenter's objects and a BoxDetector's boxes can be compared or combined.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np
import torch

from ..axes import spatial_dims
from ..data import PatchSampler, read_array
from ..errors import InputError, check_positive_ints
from ..models.unet import UNet, UNetConfig
from ..training import check_budget, resolve_device, seed_everything, training_loop
from ._boxes_common import (
    augment,
    box_targets,
    centres_and_extents,
    class_order,
    decode,
    focal_loss,
    match_f1,
    prepare_boxes,
    prepare_classes,
    suppress,
)
from ._pixelwise import ChannelNorm, intensity_jitter, predict_maps, prediction_input, prepare_image
from .base import TrainableModel, register
from .detect import detector_net, detector_patch

__all__ = ["BoxDetector", "BoxDetectorConfig", "boxes_from_labels"]


@dataclass(frozen=True)
class BoxDetectorConfig:
    """Options of a :class:`BoxDetector`.

    Parameters
    ----------
    sigma : float
        Width of the Gaussian drawn at each training box's centre, as a fraction of
        the box's extent along each axis (at least 1 pixel).
    patch_size, batch_size, features, depth, learning_rate
        Training patches and U-Net size, as for :class:`napari_gan.Segmenter`. The
        network sees about ``10 * 2**depth`` pixels around a centre: enough depth for
        the largest objects matters more than a large patch.
    threshold : float or None
        Score (0-1) from which a detection counts. None: chosen at the end of
        training as the score that best reproduces the training boxes.
    min_score : float
        The lowest score ``predict`` ever returns (``predict(image, threshold=0)``):
        below it every flicker of the heatmap would be a box.
    nms_iou : float
        Non-maximum suppression: of two boxes of one class that overlap by more than
        this IoU, the lower-scoring one is dropped. 1 keeps every peak.
    tile_size, tile_overlap : int
        Tiled prediction.
    """

    sigma: float = 0.25
    patch_size: int = 96
    batch_size: int = 8
    features: int = 32
    depth: int = 3
    learning_rate: float = 1e-3
    threshold: float | None = None
    min_score: float = 0.05
    nms_iou: float = 0.5
    tile_size: int = 384
    tile_overlap: int = 64

    def __post_init__(self):
        if not 0 < self.sigma <= 1:
            raise ValueError(f"sigma must be in (0, 1] (a fraction of the box's extent), got {self.sigma!r}")
        check_positive_ints(self, ("patch_size", "batch_size", "features", "depth", "tile_size"))
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if self.threshold is not None and not 0 < self.threshold < 1:
            raise ValueError("threshold must be between 0 and 1, or None")
        if not 0 < self.min_score < 1:
            raise ValueError(f"min_score must be between 0 and 1, got {self.min_score!r}")
        if not 0 < self.nms_iou <= 1:
            raise ValueError(f"nms_iou must be in (0, 1], got {self.nms_iou!r}")
        if not 0 <= self.tile_overlap < self.tile_size:
            raise ValueError("tile_overlap must be >= 0 and smaller than tile_size")


def _refuse_stack(axes: str) -> None:
    if axes[0] in "ST":
        raise InputError(
            f"a BoxDetector takes one image (YX, YXC or a ZYX volume), not a stack (axes {axes!r}): "
            "use one frame at a time, or pass axes='ZYX' if the array is a volume"
        )


def _activation(out: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Heatmap channels through a sigmoid; log-extent channels as they are."""
    return torch.cat([torch.sigmoid(out[:, :n_classes]), out[:, n_classes:]], 1)


@register
class BoxDetector(TrainableModel):
    """Learn to detect objects as boxes from rectangles drawn around them.

    Examples
    --------
    >>> import napari_gan as ng
    >>> bx = ng.BoxDetector().fit(image, boxes, classes, max_steps=500)  # boxes: (M, 2, 2)
    >>> det = bx.predict(image)       # {"boxes": (K, 2, 2), "class": (K,), "score": (K,)}
    >>> every = bx.predict(image, threshold=0)   # all candidates, to threshold later
    >>> sure = {k: v[every["score"] >= 0.6] for k, v in every.items()}
    """

    kind = "BoxDetector"
    config_class = BoxDetectorConfig

    def __init__(self, config: BoxDetectorConfig | None = None, **options):
        super().__init__(config, **options)
        self.axes: str | None = None
        self.threshold: float | None = None
        #: class names, in the order of the network's heatmap channels
        self.classes: list[str] = []

    def fit_iter(
        self,
        image,
        boxes,
        classes=None,
        *,
        class_names=None,
        axes: str | None = None,
        max_steps: int | None = 1000,
        time_limit: float | None = None,
        seed: int = 0,
        device: str = "auto",
        resume=False,
    ):
        """Validate the data, then return a generator that trains one step per ``next()``.

        Parameters
        ----------
        image : array-like
            2D (YX), 2D with channels (YXC) or a volume (ZYX, with ``axes="ZYX"``).
            Stacks of independent frames are refused.
        boxes : (M, 2, D) array
            Row 0 of each box its min corner, row 1 its max corner (exclusive), in
            pixels of the image's D spatial axes (skimage regionprops' ``bbox``,
            reshaped). Every object of a trained class should have a box: objects
            without one are taught as background.
        classes : sequence of M str or int, optional
            The class of each box; None: one class, ``"object"``. Integers are
            returned by ``predict`` as strings.
        class_names : sequence of str or int, optional
            All the classes, in the order the model keeps them (default: sorted).
        axes, max_steps, time_limit, seed, device
            As for :meth:`napari_gan.Denoiser.fit_iter`.
        resume : bool or path, optional
            Continue an interrupted run: as for :meth:`napari_gan.Denoiser.fit_iter`.

        Raises
        ------
        InputError
            For no boxes, boxes of another dimensionality than the image, a min
            corner not below the max corner, boxes outside the image, NaN corners, a
            class list of the wrong length, or a class with no boxes.
        """
        max_steps = check_budget(max_steps, time_limit)
        pending = self._resume_from(resume, seed)
        x, axes = prepare_image(image, axes)
        _refuse_stack(axes)
        spatial = x.shape[2:]
        bxs = prepare_boxes(boxes, spatial)
        names = prepare_classes(classes, len(bxs))
        order = class_order(names, class_names, self.classes if self.net is not None else None)
        index = np.array([order.index(n) for n in names.tolist()], dtype=np.int64)
        n_classes, dims = len(order), spatial_dims(axes)
        target = box_targets(bxs, index, n_classes, spatial, self.config.sigma)[None]

        want, continuing = detector_net(self, x, dims, n_classes + dims)
        patch = detector_patch(self.config, x, dims)

        xn = np.ascontiguousarray(ChannelNorm.fit(x).apply(x))
        rng = np.random.default_rng(seed)
        # half the patches near a box centre, half anywhere (mostly background)
        near = np.argwhere(target[:, :n_classes].max(1) > 0.3)
        n = max(len(near), 1000)
        anywhere = np.column_stack([np.zeros(n, np.int64)] + [rng.integers(0, s, n) for s in spatial])
        sampler = PatchSampler([xn, target], patch, seed=seed, centers=np.concatenate([near, anywhere]), augment=False)

        seed_everything(seed)
        if not continuing:
            self.net = UNet(want)
            with torch.no_grad():  # a prior of 0.1 everywhere (CenterNet's; -4 learnt far slower here)
                self.net.head.bias[:n_classes].fill_(-2.19)
        dev = resolve_device(device)
        self.net.to(dev).train()
        self.device, self.axes, self.classes = dev, axes, order
        lr = self.config.learning_rate * (0.25 if continuing else 1.0)
        opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        net, bs = self.net, self.config.batch_size

        def step():
            net.train()
            xb, tb = augment(*sampler.sample(bs), sampler.rng, n_classes)
            xb, tb = xb.to(dev), tb.to(dev)
            out = net(intensity_jitter(xb, gen))
            heat = focal_loss(out[:, :n_classes], tb[:, :n_classes])
            w = tb[:, -1:]
            size = (w * (out[:, n_classes:] - tb[:, n_classes:-1]).abs()).sum() / (w.sum() * dims + 1e-6)
            loss = heat + size
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            self.steps_trained += 1
            return {"loss": loss.detach().item(), "heatmap": heat.detach().item(), "size": size.detach().item()}

        def on_end(done):
            net.eval()
            if done and self.config.threshold is None:
                self.threshold = self._calibrate(x, bxs, index, dev)

        return training_loop(
            step,
            max_steps=max_steps,
            time_limit=time_limit,
            optimizers=[opt],
            warmup=0 if continuing else 20,
            history=self.history,
            history_offset=self.steps_trained,
            on_end=on_end,
            state=self._begin_run(pending, seed, opt=opt, sampler=sampler.rng, gen=gen),
        )

    def _calibrate(self, x, boxes, index, dev, max_side: int | None = None) -> float:
        """The threshold that best reproduces the training boxes (F1 of class-wise
        matches at IoU >= 0.5), measured on (a central crop of) the training image.

        In a crop, only boxes (true and found) centred at least half the largest
        training box from a cut edge count, so that cut objects do not."""
        spatial = np.asarray(x.shape[2:])
        side = max_side or (512 if len(spatial) == 2 else 128)
        lo = np.maximum(0, (spatial - side) // 2)
        hi = np.minimum(spatial, lo + side)
        crop = (slice(None), slice(None)) + tuple(slice(a, b) for a, b in zip(lo, hi))
        found, k, score = self._detect(self._maps(x[crop], dev)[0], self.config.min_score)
        found = found + lo
        margin = centres_and_extents(boxes)[1].max(0) / 2
        inner_lo, inner_hi = lo + np.where(lo > 0, margin, 0), hi - np.where(hi < spatial, margin, 0)

        def inner(b):
            c = centres_and_extents(b)[0] + 0.5
            return ((c >= inner_lo) & (c <= inner_hi)).all(1)

        true_in, found_in = inner(boxes), inner(found)
        found, k, score = found[found_in], k[found_in], score[found_in]
        grid = np.round(np.arange(max(0.05, self.config.min_score), 0.951, 0.05), 4)
        f1 = np.array([match_f1(boxes[true_in], index[true_in], found[score >= t], k[score >= t]) for t in grid])
        # the middle of the best thresholds: a plateau's edge is where a new image tips over
        best = grid[f1 >= f1.max() - 1e-9]
        return float(best[len(best) // 2])

    def _maps(self, src, dev, progress=None) -> np.ndarray:
        return predict_maps(
            self.net,
            src,
            device=dev,
            activation=partial(_activation, n_classes=len(self.classes)),
            tile=self.config.tile_size,
            overlap=self.config.tile_overlap,
            progress=progress,
        )

    def _detect(self, maps, threshold, iou=None, across_classes=False):
        boxes, k, score = decode(maps, len(self.classes), threshold=threshold)
        keep = suppress(boxes, k, score, iou=iou or self.config.nms_iou, across_classes=across_classes)
        return boxes[keep], k[keep], score[keep]

    def predict(
        self,
        image,
        *,
        threshold: float | None = None,
        nms_iou: float | None = None,
        nms_across_classes: bool = False,
        axes: str | None = None,
        device: str | None = None,
        output: str = "boxes",
        progress=None,
    ):
        """Find the objects in ``image``.

        Parameters
        ----------
        image : array-like
            Of the training image's kind (YX, YXC or ZYX); tiled, so any size.
        threshold : float, optional
            Lowest score returned; default: the calibrated :attr:`threshold`. With
            ``threshold=0`` every candidate down to ``config.min_score`` is returned,
            and keeping those with ``score >= t`` later gives exactly what
            ``predict(image, threshold=t)`` would: non-maximum suppression lets
            only higher-scoring boxes remove a box. A viewer can so move a score
            slider without predicting again.
        nms_iou : float, optional
            Overlap (IoU) above which the lower-scoring of two boxes of one class is
            dropped; default ``config.nms_iou`` (0.5).
        nms_across_classes : bool
            Suppress overlapping boxes whatever their class (one class per object).
        output : {"boxes", "heatmap"}
            ``heatmap``: the centre heatmap of each class instead of boxes, float32 of
            shape (number of classes, *spatial shape of the image), 0-1.

        Returns
        -------
        dict
            For ``output="boxes"``, columns of one row per detection, by descending score: ``"boxes"``
            (K, 2, D) float64 min and max corners (exclusive) in pixels, clipped to
            the image; ``"class"`` (K,) str; ``"score"`` (K,) float64 in [0, 1], the
            class's heatmap at the box centre.
        """
        self._require_fitted()
        if output not in ("boxes", "heatmap"):
            raise InputError(f"output must be 'boxes' or 'heatmap', got {output!r}")
        if threshold is not None and not 0 <= threshold <= 1:
            raise InputError(f"threshold must be between 0 and 1, got {threshold!r}")
        if nms_iou is not None and not 0 < nms_iou <= 1:
            raise InputError(f"nms_iou must be in (0, 1], got {nms_iou!r}")
        _, src, axes, _ = prediction_input(image, axes, self)
        _refuse_stack(axes)
        dev = resolve_device(device or self.device or "auto")
        maps = self._maps(src, dev, progress)[0]
        if output == "heatmap":
            return np.ascontiguousarray(maps[: len(self.classes)], dtype=np.float32)
        if threshold is None:
            threshold = self.threshold if self.threshold is not None else (self.config.threshold or 0.5)
        boxes, k, score = self._detect(maps, max(threshold, self.config.min_score), nms_iou, nms_across_classes)
        return {"boxes": boxes, "class": np.array(self.classes, dtype=str)[k], "score": score}

    def _state(self) -> dict:
        return {
            "axes": self.axes,
            "classes": self.classes,
            "threshold": self.threshold,
            "net": self.net.config.to_dict(),
        }

    def _restore(self, state, tensors):
        classes, cfg = state["classes"], UNetConfig(**state["net"])
        if not classes or len(set(classes)) != len(classes):
            raise ValueError(f"the class names must be distinct and at least one, got {classes[:5]}")
        if cfg.out_channels != len(classes) + cfg.dims:
            raise ValueError(
                f"a network of {cfg.out_channels} output channels does not fit {len(classes)} class(es) in {cfg.dims}D"
            )
        self.axes, self.threshold, self.classes = state.get("axes"), state.get("threshold"), list(classes)
        self.net = UNet(cfg)
        self.net.load_state_dict(tensors)
        self.net.eval()
        self.device = None


def boxes_from_labels(labels, *, image=None) -> dict[str, np.ndarray]:
    """The box of every object of an instance label image, in ``BoxDetector.predict``'s columns.

    Parameters
    ----------
    labels : (Y, X) or (Z, Y, X) int array
        0 is background; every other value is one object, whatever its
        connectivity (as ``Segmenter.predict`` returns). A bool mask is one object.
    image : array, optional
        Of the labels' shape, or with a trailing channel axis: adds the objects'
        mean intensities.

    Returns
    -------
    dict
        One row per object, by ascending label: ``"boxes"`` (K, 2, D) float64,
        regionprops' ``bbox`` (max exclusive); ``"class"`` (K,) ``"object"``;
        ``"score"`` (K,) 1.0 (a segmentation gives no confidence, and a mean
        intensity is not one); ``"label"`` (K,) int64, the object's label; with
        ``image``, ``"mean_intensity"`` (K,) or (K, C) float64.
    """
    from skimage.measure import regionprops

    lab = read_array(labels, name="labels")
    if lab.dtype.kind == "b":
        lab = lab.astype(np.uint8)
    if lab.dtype.kind not in "ui":
        raise InputError(f"labels have dtype {lab.dtype}; give an integer label image (0 = background)")
    if lab.ndim not in (2, 3):
        raise InputError(f"labels must be 2D (Y, X) or 3D (Z, Y, X), got shape {lab.shape}")
    if lab.size and lab.min() < 0:
        raise InputError("labels contain negative values; use 0 for background and positive ids for objects")
    img = None
    if image is not None:
        img = read_array(image, name="image")
        if img.shape[: lab.ndim] != lab.shape or img.ndim > lab.ndim + 1 or img.dtype.kind not in "uifb":
            raise InputError(
                f"image of shape {img.shape} ({img.dtype}) does not fit labels of shape {lab.shape}: "
                "give a numeric image of the same shape, optionally with a channel axis last"
            )
        img = img.astype(np.float64, copy=False)
    props = regionprops(lab, intensity_image=img)
    d = lab.ndim
    out = {
        "boxes": np.array([p.bbox for p in props], dtype=np.float64).reshape(-1, 2, d),
        "class": np.full(len(props), "object"),
        "score": np.ones(len(props)),
        "label": np.array([p.label for p in props], dtype=np.int64),
    }
    if img is not None:
        means = np.array([p.intensity_mean for p in props], dtype=np.float64)
        out["mean_intensity"] = means.reshape((len(props),) + img.shape[lab.ndim :])
    return out
