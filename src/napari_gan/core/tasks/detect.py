"""SpotDetector: learn to find spots (or any small objects marked by a point) from a
few annotated points, by regressing a heatmap of Gaussians and finding its peaks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from skimage.feature import peak_local_max

from ..axes import from_ncs, spatial_dims, to_ncs
from ..data import PatchSampler, fit_patch_shape, read_array
from ..errors import InputError, check_positive_ints
from ..models.unet import UNet, UNetConfig
from ..training import check_budget, resolve_device, seed_everything, training_loop
from ._pixelwise import (
    ChannelNorm,
    annotation_axes,
    annotation_shape,
    intensity_jitter,
    predict_maps,
    prediction_input,
    prepare_image,
    prepare_region,
)
from .base import TrainableModel, register


@dataclass(frozen=True)
class SpotDetectorConfig:
    """Options of a :class:`SpotDetector`.

    Parameters
    ----------
    sigma : float
        Width (pixels) of the Gaussian drawn at each training point; about the spots'
        own radius / sqrt(2). Also sets the smallest distance between two detections.
    patch_size, batch_size, features, depth, learning_rate
        Training patches and U-Net size, as for :class:`napari_gan.Segmenter`.
    threshold : float or None
        Heatmap value (0-1) above which a peak is a spot. None: chosen at the end of
        training as the value that best reproduces the training points.
    tile_size, tile_overlap : int
        Tiled prediction.
    """

    sigma: float = 1.5
    patch_size: int = 64
    batch_size: int = 16
    features: int = 32
    depth: int = 2
    learning_rate: float = 1e-3
    threshold: float | None = None
    tile_size: int = 384
    tile_overlap: int = 32

    def __post_init__(self):
        if not self.sigma > 0:
            raise ValueError(f"sigma must be positive, got {self.sigma!r}")
        check_positive_ints(self, ("patch_size", "batch_size", "features", "depth", "tile_size"))
        if self.threshold is not None and not 0 < self.threshold < 1:
            raise ValueError("threshold must be between 0 and 1, or None")
        if not 0 <= self.tile_overlap < self.tile_size:
            raise ValueError("tile_overlap must be >= 0 and smaller than tile_size")


def prepare_points(points, label_shape: tuple[int, ...], *, name: str = "points") -> np.ndarray:
    """Validate (M, D) point coordinates in the annotation's axes (data coordinates)."""
    if points is None:
        raise InputError(f"{name} is None: give the (M, {len(label_shape)}) coordinates of the spots")
    pts = read_array(points, name=name)
    if pts.dtype.kind not in "uif":
        raise InputError(f"{name} have unsupported dtype {pts.dtype}; give integer or floating-point coordinates")
    pts = pts.astype(np.float64, copy=False)
    if pts.ndim == 1 and pts.size == 0:
        pts = pts.reshape(0, len(label_shape))
    if pts.ndim != 2 or pts.shape[1] != len(label_shape):
        raise InputError(
            f"{name} must have shape (M, {len(label_shape)}) for an annotation of shape {label_shape}, got {pts.shape}"
        )
    if len(pts) == 0:
        raise InputError(f"no {name} given: click at least a few spots")
    if not np.isfinite(pts).all():
        raise InputError(f"{name} contain NaN or infinite coordinates")
    outside = ((pts < -0.5) | (pts > np.asarray(label_shape) - 0.5)).any(axis=1)
    if outside.any():
        raise InputError(
            f"{int(outside.sum())} of {len(pts)} {name} lie outside the image (shape {label_shape}); "
            "delete them or check that the points and the image share the same coordinates"
        )
    return pts


def heatmap(points: np.ndarray, shape: tuple[int, ...], sigma: float, axes: str) -> np.ndarray:
    """(N, 1, *spatial) float32 target: a unit-height Gaussian at every point (max where
    they overlap). ``points`` are in annotation axes (S/T column first for stacks)."""
    target = np.zeros(shape, dtype=np.float32)  # annotation-axes shape
    frame_axis = 0 if axes[0] in "ST" else None
    spatial = [i for i, a in enumerate(axes) if a in "ZYX"]
    r = int(np.ceil(3 * sigma))
    offsets = np.stack(np.meshgrid(*[np.arange(-r, r + 1)] * len(spatial), indexing="ij"), -1).reshape(-1, len(spatial))
    for p in points:
        centre = p[spatial]
        base = np.round(centre).astype(int)
        coords = base + offsets
        ok = ((coords >= 0) & (coords < np.asarray([shape[i] for i in spatial]))).all(1)
        c = coords[ok]
        value = np.exp(-((c - centre) ** 2).sum(1) / (2 * sigma**2)).astype(np.float32)
        index = [None] * len(axes)
        if frame_axis is not None:
            index[frame_axis] = np.full(len(c), int(round(p[frame_axis])))
        for k, i in enumerate(spatial):
            index[i] = c[:, k]
        index = tuple(index)
        target[index] = np.maximum(target[index], value)
    return to_ncs(target, axes)


def find_peaks(heat: np.ndarray, *, threshold: float, min_distance: int) -> np.ndarray:
    """Peaks of one (spatial) heatmap above ``threshold``, refined to sub-pixel by the
    heatmap's centre of mass in a 3-pixel neighbourhood."""
    peaks = peak_local_max(heat, min_distance=min_distance, threshold_abs=threshold, exclude_border=False)
    if len(peaks) == 0:
        return np.zeros((0, heat.ndim))
    padded = np.pad(heat, 1, mode="edge")
    offsets = np.stack(np.meshgrid(*[np.arange(-1, 2)] * heat.ndim, indexing="ij"), -1).reshape(-1, heat.ndim)
    vals = np.stack([padded[tuple((peaks + 1 + o).T)] for o in offsets], 1)  # (P, 3**d)
    vals = np.clip(vals - vals.min(1, keepdims=True), 0, None) + 1e-12
    shift = (vals[:, :, None] * offsets[None]).sum(1) / vals.sum(1, keepdims=True)
    return peaks + shift


def _match_f1(true: np.ndarray, pred: np.ndarray, radius: float) -> float:
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    if len(true) == 0 or len(pred) == 0:
        return 0.0
    d = cdist(true, pred)
    cost = np.where(d <= radius, d, 1e6)
    r, c = linear_sum_assignment(cost)
    tp = int((d[r, c] <= radius).sum())
    return 2 * tp / (len(true) + len(pred))


def detector_net(model, x: np.ndarray, dims: int, out_channels: int) -> tuple[UNetConfig, bool]:
    """The U-Net a detector needs for image ``x`` (N, C, *spatial), and whether
    ``model.net`` already is that network (training continues); a net of another
    shape is an InputError."""
    cfg = model.config
    want = UNetConfig(
        dims=dims,
        in_channels=x.shape[1],
        out_channels=out_channels,
        features=cfg.features,
        depth=cfg.depth,
        residual=False,
    )
    continuing = model.net is not None and model.net.config == want
    if model.net is not None and not continuing:
        net = model.net.config
        raise InputError(
            f"this {model.kind} was trained on {net.dims}D data with {net.in_channels} channel(s) and "
            f"{net.out_channels} output(s); the new data is {dims}D with {x.shape[1]} and {out_channels}. "
            f"Create a new {model.kind}."
        )
    return want, continuing


def detector_patch(config, x: np.ndarray, dims: int) -> tuple[int, ...]:
    """Training patch shape: ``config.patch_size`` square (at most 32 planes deep in
    3D), fitted to the image and to the U-Net's depth."""
    multiple = 2**config.depth
    p = config.patch_size
    patch = fit_patch_shape((p, p), x.shape[-2:], multiple, name="image", minimum=min(p, 16))
    if dims == 3:
        patch = fit_patch_shape((min(p, 32),), x.shape[2:3], multiple, name="image") + patch
    return patch


class HeatmapDetector(TrainableModel):
    """What the heatmap detectors share: a U-Net regressing one Gaussian heatmap per
    kind of point (sigmoid output), trained with point pixels weighted up, a threshold
    per kind calibrated on the training image, and peaks found frame by frame.
    Subclasses set ``kind`` and ``config_class`` (a config with the fields of
    :class:`SpotDetectorConfig`) and register themselves."""

    def _train_heatmaps(self, x, axes, target, region, *, max_steps, time_limit, seed, device, pending, calibrate):
        """The training generator for ``target``, (N, K, *spatial) heatmaps of the
        validated image ``x`` (N, C, *spatial); ``calibrate(device)`` runs once the
        budget is spent."""
        known = region if region is not None else np.ones((target.shape[0], 1) + target.shape[2:], dtype=bool)
        dims = spatial_dims(axes)
        want, continuing = detector_net(self, x, dims, target.shape[1])
        patch = detector_patch(self.config, x, dims)

        norm = ChannelNorm.fit(x)
        xn = np.ascontiguousarray(norm.apply(x))
        rng = np.random.default_rng(seed)
        # half the patches around a point, half anywhere annotated (mostly background)
        spot_px = np.argwhere(target.max(axis=1) > 0.5)
        anywhere = np.argwhere(known[:, 0])
        anywhere = anywhere[rng.choice(len(anywhere), min(len(anywhere), max(len(spot_px), 1000)), replace=False)]
        centers = np.concatenate([spot_px, anywhere]) if len(spot_px) else anywhere
        sampler = PatchSampler([xn, target, known], patch, seed=seed, centers=centers)

        seed_everything(seed)
        if not continuing:
            self.net = UNet(want)
            with torch.no_grad():  # start predicting "no point" everywhere
                self.net.head.bias.fill_(-4.0)
        dev = resolve_device(device)
        self.net.to(dev).train()
        self.device, self.axes = dev, axes
        lr = self.config.learning_rate * (0.25 if continuing else 1.0)
        opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        net, bs = self.net, self.config.batch_size

        def step():
            net.train()
            xb, tb, kb = (t.to(dev) for t in sampler.sample(bs))
            out = torch.sigmoid(net(intensity_jitter(xb, gen)))
            # points are a small fraction of pixels: weight them up so peaks are learned
            w = (1.0 + 10.0 * tb) * kb
            loss = (w * (out - tb) ** 2).sum() / w.sum().clamp(min=1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            self.steps_trained += 1
            return {"loss": loss.detach().item()}

        def on_end(done):
            net.eval()
            if done:
                calibrate(dev)

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

    def _calibrate(self, x, points_by_channel, region, lab_axes, dev, max_px: int = 512**2) -> list[float]:
        """Per output channel, the threshold that best reproduces that channel's
        training points (F1 within 2 sigma + 1), measured on (up to 4 frames of) the
        training image."""
        sigma = self.config.sigma
        heat = []
        frames = range(min(x.shape[0], 4))
        for n in frames:
            sub = x[n : n + 1]
            if int(np.prod(sub.shape[2:])) > max_px * 4:  # large images: the centre only
                sl = tuple(slice(max(0, s // 2 - 256), s // 2 + 256) for s in sub.shape[2:])
            else:
                sl = tuple(slice(0, s) for s in sub.shape[2:])
            maps = self._maps(sub[(slice(None), slice(None)) + sl], dev)[0]
            h = np.zeros((maps.shape[0],) + sub.shape[2:], np.float32)
            h[(slice(None),) + sl] = maps
            inside = np.zeros(sub.shape[2:], bool)
            inside[sl] = True
            if region is not None:
                inside &= region[n, 0]
            heat.append((h, inside))
        frame_col = lab_axes[0] in "ST"
        min_distance = max(1, int(round(sigma)))
        thresholds = []
        for c, pts in enumerate(points_by_channel):
            best, best_f1 = 0.5, -1.0
            for thr in np.arange(0.1, 0.91, 0.05):
                f1s = []
                for n, (h, inside) in zip(frames, heat):
                    found = find_peaks(h[c], threshold=thr, min_distance=min_distance)
                    found = found[inside[tuple(np.round(found).astype(int).T)]] if len(found) else found
                    mine = pts[np.round(pts[:, 0]) == n][:, 1:] if frame_col else pts
                    mine = mine[inside[tuple(np.clip(np.round(mine).astype(int), 0, np.array(h.shape[1:]) - 1).T)]]
                    f1s.append(_match_f1(mine, found, 2 * sigma + 1))
                f1 = float(np.mean(f1s))
                if f1 > best_f1 + 1e-9:
                    best, best_f1 = float(thr), f1
            thresholds.append(best)
        return thresholds

    def _maps(self, src, dev, progress=None):
        return predict_maps(
            self.net,
            src,
            device=dev,
            activation=torch.sigmoid,
            tile=self.config.tile_size,
            overlap=self.config.tile_overlap,
            progress=progress,
        )

    def _peaks(self, heat, channel: int, threshold: float, lab_axes: str) -> tuple[np.ndarray, np.ndarray]:
        """Peaks of one channel of (N, K, *spatial) heatmaps (a frame column first for
        stacks) and the heatmap's value at each, its score."""
        min_distance = max(1, int(round(self.config.sigma)))
        found, scores = [], []
        for n in range(heat.shape[0]):
            h = heat[n, channel]
            peaks = find_peaks(h, threshold=threshold, min_distance=min_distance)
            at = np.clip(np.round(peaks).astype(int), 0, np.array(h.shape) - 1)
            scores.append(h[tuple(at.T)])
            if lab_axes[0] in "ST":
                peaks = np.column_stack([np.full(len(peaks), n), peaks])
            found.append(peaks)
        d = len(lab_axes)
        return np.concatenate(found).reshape(-1, d), np.concatenate(scores).astype(np.float32)


@register
class SpotDetector(HeatmapDetector):
    """Learn to detect spots from a Points annotation.

    Examples
    --------
    >>> import napari_gan as ng
    >>> det = ng.SpotDetector().fit(image, points, max_steps=500)   # points: (M, 2) y, x
    >>> found = det.predict(image)                                  # (K, 2) float coordinates
    """

    kind = "SpotDetector"
    config_class = SpotDetectorConfig

    def __init__(self, config: SpotDetectorConfig | None = None, **options):
        super().__init__(config, **options)
        self.axes: str | None = None
        self.threshold: float | None = None

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
        points : (M, D) array
            Spot centres in data coordinates of the image's non-channel axes (the
            ``data`` of a napari Points layer over the image), e.g. (y, x), (t, y, x)
            or (z, y, x). Every spot in the image (or in ``region``) should be marked:
            unmarked spots are taught as background.
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
        pts = prepare_points(points, shape)
        reg = prepare_region(region, tuple(np.shape(image)), axes)
        lab_axes = annotation_axes(axes)
        target = heatmap(pts, shape, self.config.sigma, lab_axes)

        def calibrate(dev):
            if self.config.threshold is None:
                self.threshold = self._calibrate(x, [pts], reg, lab_axes, dev)[0]

        return self._train_heatmaps(
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

    def predict(
        self,
        image,
        *,
        threshold: float | None = None,
        axes: str | None = None,
        device: str | None = None,
        output: str = "points",
        progress=None,
    ) -> np.ndarray:
        """Find the spots in ``image``.

        Parameters
        ----------
        threshold : float, optional
            Heatmap level (0-1) for a detection; default: the calibrated one.
        output : {"points", "heatmap"}
            ``points``: (K, D) float64 coordinates in the image's non-channel axes
            (a frame column first for stacks), ready for ``viewer.add_points``.
            ``heatmap``: float32 of the image's non-channel shape.
        """
        self._require_fitted()
        if output not in ("points", "heatmap"):
            raise InputError(f"output must be 'points' or 'heatmap', got {output!r}")
        _, src, axes, _ = prediction_input(image, axes, self)
        dev = resolve_device(device or self.device or "auto")
        heat = self._maps(src, dev, progress)
        lab_axes = annotation_axes(axes)
        if output == "heatmap":
            return from_ncs(heat, lab_axes).astype(np.float32)
        thr = threshold if threshold is not None else (self.threshold or self.config.threshold or 0.5)
        return self._peaks(heat, 0, thr, lab_axes)[0]

    def _state(self) -> dict:
        return {"axes": self.axes, "threshold": self.threshold, "net": self.net.config.to_dict()}

    def _restore(self, state, tensors):
        self.axes = state.get("axes")
        self.threshold = state.get("threshold")
        self.net = UNet(UNetConfig(**state["net"]))
        self.net.load_state_dict(tensors)
        self.net.eval()
        self.device = None
