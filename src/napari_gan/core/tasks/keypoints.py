"""KeypointDetector: learn several named kinds of landmark at once (a cell's head and
tail, the two poles of a spindle, the tips of a neurite) from one Points annotation
per kind; predict every kind's points with a score.

The network regresses one Gaussian heatmap per kind (the :class:`SpotDetector`'s
recipe with one output channel per kind), so points of different kinds may lie a
pixel apart: they are peaks of different channels. Which points belong to one object
(the head and the tail of the same cell) is not learned: each kind is found on its
own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..axes import from_ncs
from ..data import read_array
from ..errors import InputError
from ..training import check_budget, resolve_device
from ._pixelwise import annotation_axes, annotation_shape, prediction_input, prepare_image, prepare_region
from .base import register
from .detect import HeatmapDetector, SpotDetectorConfig, heatmap, prepare_points

#: most kinds one detector learns (one output channel each)
MAX_KINDS = 64


@dataclass(frozen=True)
class KeypointDetectorConfig(SpotDetectorConfig):
    """Options of a :class:`KeypointDetector`.

    Parameters
    ----------
    sigma : float
        Width (pixels) of the Gaussian drawn at each training point; sets how close two
        points of the same kind may be (about ``sigma`` pixels) and how exactly a point
        is placed. Points of different kinds may be closer.
    patch_size, batch_size, features, depth, learning_rate
        Training patches and U-Net size, as for :class:`napari_gan.Segmenter`.
    threshold : float or None
        Heatmap value (0-1) above which a peak is a point, for every kind. None: one
        threshold per kind, chosen at the end of training as the value that best
        reproduces that kind's training points.
    tile_size, tile_overlap : int
        Tiled prediction.
    """

    sigma: float = 2.0


def points_by_kind(points) -> dict[str, np.ndarray]:
    """``{kind: (M, D) points}`` from a mapping of kind -> points, or from the columns a
    detector returns (``{"points": (K, D), "kind": (K,)}``, optionally with "score")."""
    if not isinstance(points, Mapping):
        raise InputError(
            "points must be a mapping of kind name -> (M, D) coordinates, e.g. {'head': heads, 'tail': tails}, "
            f"got {type(points).__name__}"
        )
    if set(points) in ({"points", "kind"}, {"points", "kind", "score"}):
        coords = np.asarray(points["points"])
        kinds = np.asarray(points["kind"])
        if kinds.ndim != 1 or coords.ndim != 2 or len(kinds) != len(coords):
            raise InputError(
                f"'points' ({coords.shape}) and 'kind' ({kinds.shape}) must give one kind per point: "
                "shapes (K, D) and (K,)"
            )
        return {str(k): coords[kinds == k] for k in dict.fromkeys(kinds.tolist())}
    out = {}
    for kind, pts in points.items():
        if not isinstance(kind, str) or not kind.strip():
            raise InputError(f"kind names must be non-empty strings, got {kind!r}")
        out[kind] = pts
    if not out:
        raise InputError("no kinds given: give at least one kind's points, e.g. {'head': heads}")
    if len(out) > MAX_KINDS:
        raise InputError(f"{len(out)} kinds given; at most {MAX_KINDS} can be learned at once")
    return out


@register
class KeypointDetector(HeatmapDetector):
    """Learn several named kinds of point at once.

    Examples
    --------
    >>> import napari_gan as ng
    >>> kp = ng.KeypointDetector().fit(image, {"head": heads, "tail": tails}, max_steps=500)
    >>> found = kp.predict(image)     # {"points": (K, 2), "kind": (K,), "score": (K,)}
    >>> heads = found["points"][found["kind"] == "head"]
    """

    kind = "KeypointDetector"
    config_class = KeypointDetectorConfig

    def __init__(self, config: KeypointDetectorConfig | None = None, **options):
        super().__init__(config, **options)
        self.axes: str | None = None
        self.kinds: list[str] = []
        self.thresholds: list[float] | None = None

    def fit_iter(
        self,
        image,
        points,
        *,
        region=None,
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
            2D, 2D with channels, a stack (S/T first) or a volume (Z).
        points : mapping of str to (M, D) arrays
            Each kind's points in data coordinates of the image's non-channel axes
            (the ``data`` of a napari Points layer over the image): ``{"head": heads,
            "tail": tails}``. The columns a detector returns (``{"points": ..., "kind":
            ...}``) work too. Every point of every kind in the image (or in ``region``)
            should be marked: an unmarked one is taught as background.
        region : bool array or tuple of slices, optional
            Only this part of the image is annotated; the rest is ignored.
        axes, max_steps, time_limit, seed, device
            As for :meth:`napari_gan.Denoiser.fit_iter`.
        resume : bool or path, optional
            Continue an interrupted run: as for :meth:`napari_gan.Denoiser.fit_iter`.
        """
        max_steps = check_budget(max_steps, time_limit)
        pending = self._resume_from(resume, seed)
        x, axes = prepare_image(image, axes)
        shape = annotation_shape(tuple(np.shape(image)), axes)
        given = points_by_kind(points)
        if self.kinds and list(given) != self.kinds:
            raise InputError(
                f"this KeypointDetector learned the kinds {self.kinds}; the new points have {list(given)}. "
                "Give the same kinds (in the same order), or create a new KeypointDetector."
            )
        pts = []
        for kind, p in given.items():
            if p is not None:
                p = read_array(p, name=f"{kind!r} points")  # ragged lists and huge lazy arrays refused here
            if p is not None and p.size == 0:
                raise InputError(f"kind {kind!r} has no points: mark a few, or leave the kind out")
            pts.append(prepare_points(p, shape, name=f"{kind!r} points"))
        reg = prepare_region(region, tuple(np.shape(image)), axes)
        lab_axes = annotation_axes(axes)
        target = np.concatenate([heatmap(p, shape, self.config.sigma, lab_axes) for p in pts], axis=1)

        def calibrate(dev):
            if self.config.threshold is None:
                self.thresholds = self._calibrate(x, pts, reg, lab_axes, dev)

        generator = self._train_heatmaps(
            x,
            axes,
            target,
            reg,
            max_steps=max_steps,
            time_limit=time_limit,
            seed=seed,
            device=device,
            pending=pending,
            calibrate=calibrate,
        )
        self.kinds = list(given)
        return generator

    def predict(
        self,
        image,
        *,
        threshold=None,
        axes: str | None = None,
        device: str | None = None,
        output: str = "points",
        progress=None,
    ):
        """Find every kind's points in ``image``.

        Parameters
        ----------
        threshold : float or mapping of str to float, optional
            Heatmap level (0-1) for a detection, for all kinds or per kind; default:
            the calibrated ones. ``threshold=0.05`` keeps nearly every peak with its
            score, so a caller can choose a cut later without predicting again.
        output : {"points", "heatmap"}
            ``points``: a dict of columns, ready for ``viewer.add_points(found["points"],
            features={"kind": found["kind"], "score": found["score"]})``:
            ``"points"`` (K, D) float64 coordinates in the image's non-channel axes (a
            frame column first for stacks), ``"kind"`` (K,) str, ``"score"`` (K,)
            float32, the heatmap's value at the point (0-1). ``heatmap``: float32 of
            shape (number of kinds, *non-channel shape of the image).
        """
        self._require_fitted()
        if output not in ("points", "heatmap"):
            raise InputError(f"output must be 'points' or 'heatmap', got {output!r}")
        thresholds = self._thresholds(threshold)
        _, src, axes, _ = prediction_input(image, axes, self)
        dev = resolve_device(device or self.device or "auto")
        heat = self._maps(src, dev, progress)
        lab_axes = annotation_axes(axes)
        if output == "heatmap":
            return np.stack([from_ncs(heat[:, c : c + 1], lab_axes) for c in range(heat.shape[1])]).astype(np.float32)
        coords, kinds, scores = [], [], []
        for c, kind in enumerate(self.kinds):
            found, score = self._peaks(heat, c, thresholds[c], lab_axes)
            coords.append(found)
            kinds.append(np.full(len(found), kind, dtype=object))
            scores.append(score)
        return {
            "points": np.concatenate(coords).reshape(-1, len(lab_axes)),
            "kind": np.concatenate(kinds).astype(str) if kinds else np.zeros(0, str),
            "score": np.concatenate(scores).astype(np.float32),
        }

    def _thresholds(self, threshold) -> list[float]:
        def check(value, what):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 <= value < 1:
                raise InputError(f"{what} must be a number from 0 to 1 (exclusive), got {value!r}")
            return float(value)

        if threshold is None:
            fallback = self.config.threshold or 0.5
            return list(self.thresholds) if self.thresholds else [fallback] * len(self.kinds)
        if isinstance(threshold, Mapping):
            unknown = sorted(set(threshold) - set(self.kinds), key=str)
            if unknown:
                raise InputError(f"threshold given for unknown kind(s) {unknown}; this detector finds {self.kinds}")
            default = self._thresholds(None)
            return [
                check(threshold[k], f"threshold[{k!r}]") if k in threshold else d for k, d in zip(self.kinds, default)
            ]
        return [check(threshold, "threshold")] * len(self.kinds)

    def _state(self) -> dict:
        return {"axes": self.axes, "kinds": self.kinds, "thresholds": self.thresholds, "net": self.net.config.to_dict()}

    def _restore(self, state, tensors):
        from ..models.unet import UNet, UNetConfig

        self.axes = state.get("axes")
        self.kinds = list(state["kinds"])
        self.thresholds = state.get("thresholds")
        self.net = UNet(UNetConfig(**state["net"]))
        if self.net.config.out_channels != len(self.kinds):
            raise ValueError(f"{len(self.kinds)} kinds but a network with {self.net.config.out_channels} outputs")
        if self.thresholds is not None and len(self.thresholds) != len(self.kinds):
            raise ValueError(f"{len(self.kinds)} kinds but {len(self.thresholds)} thresholds")
        self.net.load_state_dict(tensors)
        self.net.eval()
        self.device = None
