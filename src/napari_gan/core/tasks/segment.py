"""Segmenter: semantic segmentation from sparse scribbles, or instance segmentation
from object masks, cleaned up with scikit-image."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..axes import from_ncs, spatial_dims
from ..data import PatchSampler, fit_patch_shape
from ..errors import InputError
from ..models.unet import UNet, UNetConfig
from ..run.blocks import is_dask_array, predict_blocks
from ..training import check_budget, resolve_device, seed_everything, training_loop
from ._blocks import SegmenterBlocks
from ._instances import (
    IGNORE,
    _instance_activation,
    _object_sizes,
    distance_watershed,
    fill_small_holes,
    finish_instances,
    instance_targets,
    merge_pieces,
    seeded_watershed,
    split_instances,
)
from ._pixelwise import (
    ChannelNorm,
    annotation_axes,
    appearance_jitter,
    intensity_jitter,
    predict_maps,
    prediction_input,
    prepare_image,
    prepare_labels,
    prepare_region,
)
from ._segment_config import OUTPUTS, SegmenterConfig, guess_mode
from .base import TrainableModel, register

#: instance seeds: the values of h (the interior's h-maxima, in object radii) that
#: calibration tries, in order of preference on a tie (the first is also the setting
#: before calibration), and the distance-peak spacings (in object radii) it tries after them
SEED_H_FACTORS = (0.15, 0.1, 0.2, 0.3, 0.05)
SEED_H_FACTOR = SEED_H_FACTORS[0]
PEAK_FACTORS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
#: instance pieces: the pass-to-peak ratios at which calibration tries joining touching
#: pieces of one object (:func:`._instances.merge_pieces`); 0: never (kept on a tie), then
#: from the most cautious (joins fewest) on: on real nuclei (bench/segment_real.py
#: --seeding 400, training seed 1) joining at every ratio from 0.4 to 0.8 fixed the same
#: training-half objects, but on the other half 0.4 also joined touching nuclei (F1 0.667
#: against 0.848 without joining) and 0.7-0.8 did not (0.848)
MERGE_RATIOS = (0.0, 0.8, 0.7, 0.6, 0.5, 0.4)


@register
class Segmenter(TrainableModel):
    """Learn to segment images from a few annotations.

    Examples
    --------
    >>> import napari_gan as ng
    >>> seg = ng.Segmenter().fit(image, labels, max_steps=500)   # scribbles or masks
    >>> masks = seg.predict(image)                                # int32 labels
    """

    kind = "Segmenter"
    config_class = SegmenterConfig

    def __init__(self, config: SegmenterConfig | None = None, **options):
        super().__init__(config, **options)
        self.axes: str | None = None
        self.mode: str | None = None
        self.n_classes: int = 0  # semantic: highest class id; instance: 3
        self.min_size: int = 0
        self.object_radius: float = 0.0  # typical object radius in pixels (for splitting)
        #: how touching objects are split (chosen after training, :meth:`_calibrate`):
        #: seeds at the h-maxima of the predicted interior's distance transform, with h =
        #: seed_h_factor * object_radius; 0 (models saved before 2026-12-04): seeds at
        #: peaks of the predicted distance map at least peak_factor * object_radius apart
        self.seed_h_factor: float = SEED_H_FACTOR
        self.peak_factor: float = 0.5
        #: touching pieces are joined where their pass is at least this share of their
        #: peaks (0: never; also chosen by :meth:`_calibrate`)
        self.merge_ratio: float = 0.0

    def _unet_config(self, dims: int, channels: int, out: int) -> UNetConfig:
        return UNetConfig(
            dims=dims,
            in_channels=channels,
            out_channels=out,
            features=self.config.features,
            depth=self.config.depth,
            residual=False,
        )

    # -- training ------------------------------------------------------------------
    def fit_iter(
        self,
        image,
        labels,
        *,
        region=None,
        axes: str | None = None,
        max_steps: int | None = 2000,
        time_limit: float | None = None,
        seed: int = 0,
        device: str = "auto",
        resume=False,
    ):
        """Validate the data, then return a generator that trains one step per ``next()``.

        Parameters
        ----------
        image : array-like, shape per ``axes``
            2D, 2D with channels (``YXC``), a time-lapse or stack of frames (``TYX``,
            ``SYX``: frames are independent samples), or a volume (``ZYX``: 3D network).
        labels : integer array-like, the image's shape without its C axis
            Semantic mode: 0 = not annotated, 1 = background, 2..K = classes (sparse
            scribbles are enough). Instance mode: 0 = background, each object its own id.
        region : bool array or tuple of slices, optional
            Instance mode: only this part of the image is annotated; the rest is
            ignored by the loss (e.g. a rectangle drawn around the annotated objects).
        axes, max_steps, time_limit, seed, device
            As for :meth:`napari_gan.Denoiser.fit_iter`.
        resume : bool or path, optional
            Continue an interrupted run: as for :meth:`napari_gan.Denoiser.fit_iter`.

        Yields
        ------
        StepRecord
            Losses ``loss`` (and, in instance mode, ``classes`` and ``distance``).
        """
        max_steps = check_budget(max_steps, time_limit)
        pending = self._resume_from(resume, seed)
        x, axes = prepare_image(image, axes)
        lab = prepare_labels(labels, tuple(np.shape(image)), axes)
        reg = prepare_region(region, tuple(np.shape(image)), axes)
        mode = self.config.mode
        if mode == "auto":
            mode = guess_mode(lab, reg)
        if reg is not None and mode == "semantic":
            lab = np.where(reg, lab, 0)
        annotated = lab > 0 if mode == "semantic" else (reg if reg is not None else np.ones(lab.shape, bool))
        if mode == "semantic":
            ids = np.unique(lab[annotated])
            if len(ids) == 0:
                raise InputError("the labels contain no annotation (all 0): paint background as 1 and objects as 2")
            if len(ids) < 2:
                raise InputError(
                    f"only one class ({int(ids[0])}) is annotated; semantic segmentation needs at least two: "
                    "paint background as 1 and each class of object as 2, 3, ..."
                )
            n_out = int(ids.max())
            target = np.where(lab > 0, lab - 1, IGNORE)
            dist = None
            min_size = self.config.min_size if self.config.min_size is not None else (16 if x.ndim == 4 else 64)
            radius = 0.0
        else:
            inside = lab[annotated] if reg is not None else lab
            if not (inside > 0).any():
                raise InputError(
                    "the labels contain no objects"
                    + (" inside the region" if reg is not None else "")
                    + ": paint each object with its own id"
                )
            n_out = 4  # background / interior / boundary logits + distance
            if reg is not None:
                lab = np.where(reg, lab, 0)
            target, dist = instance_targets(lab, reg)
            sizes = _object_sizes(lab)
            typical = float(np.percentile(sizes, 10)) if len(sizes) else 16.0
            min_size = self.config.min_size if self.config.min_size is not None else max(4, int(typical / 5))
            d = x.ndim - 2
            unit = np.pi if d == 2 else 4 / 3 * np.pi
            radius = float((np.median(sizes) / unit) ** (1 / d))

        dims = spatial_dims(axes)
        channels = x.shape[1]
        want = self._unet_config(dims, channels, n_out)
        continuing = self.net is not None and self.net.config == want and self.mode == mode
        if self.net is not None and not continuing:
            raise InputError(
                f"this Segmenter was trained in {self.mode} mode on {self.net.config.dims}D data with "
                f"{self.net.config.in_channels} channel(s) and {self.net.config.out_channels} outputs; the new "
                f"data needs {mode} mode, {dims}D, {channels} channel(s), {n_out} outputs. Create a new Segmenter."
            )
        multiple = 2**self.config.depth
        p = self.config.patch_size
        patch = fit_patch_shape((p, p), x.shape[-2:], multiple, name="image", minimum=min(p, 32))
        if dims == 3:
            patch = fit_patch_shape((min(p, 32),), x.shape[2:3], multiple, name="image") + patch

        norm = ChannelNorm.fit(x)
        xn = np.ascontiguousarray(norm.apply(x))
        # patches around annotated pixels: sparse scribbles are otherwise rarely hit
        where = np.argwhere(annotated[:, 0])
        if len(where) > 200_000:
            where = where[np.random.default_rng(seed).choice(len(where), 200_000, replace=False)]
        arrays = [xn, target] + ([dist] if dist is not None else [])
        sampler = PatchSampler(arrays, patch, seed=seed, centers=where)

        seed_everything(seed)
        if not continuing:
            self.net = UNet(want)
        dev = resolve_device(device)
        self.net.to(dev).train()
        self.device, self.axes, self.mode, self.n_classes = dev, axes, mode, n_out if mode == "semantic" else 3
        self.min_size, self.object_radius = int(min_size), radius
        self.seed_h_factor, self.peak_factor, self.merge_ratio = SEED_H_FACTOR, 0.5, 0.0
        lr = self.config.learning_rate * (0.25 if continuing else 1.0)
        opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        net, bs = self.net, self.config.batch_size
        vary, scale = self.config.vary_appearance, radius or 8.0
        if mode == "instance":
            freq = np.bincount(target[target >= 0].reshape(-1), minlength=3).astype(np.float64) + 1.0
        else:
            freq = np.bincount(target[target >= 0].reshape(-1), minlength=n_out).astype(np.float64) + 1.0
        # scribbles: how much of each class a user paints says nothing about how common
        # it is, so classes count equally; masks: inverse-sqrt frequency, so thin
        # boundaries still count without swamping the rest
        power = 1.0 if mode == "semantic" else 0.5
        weight = torch.tensor((freq.sum() / freq) ** power, dtype=torch.float32)
        weight = (weight / weight[freq > 1].mean()).to(dev)

        def step():
            net.train()
            batch = [t.to(dev) for t in sampler.sample(bs)]
            xb = intensity_jitter(batch[0], gen)
            if vary:
                xb = appearance_jitter(xb, gen, scale=scale)
            out = net(xb)
            tb = batch[1][:, 0]
            if mode == "semantic":
                loss = F.cross_entropy(out, tb, weight=weight, ignore_index=IGNORE)
                parts = {"loss": loss}
            else:
                ce = F.cross_entropy(out[:, :3], tb, weight=weight, ignore_index=IGNORE)
                known = (tb != IGNORE).unsqueeze(1)
                err = (torch.sigmoid(out[:, 3:]) - batch[2]) ** 2
                mse = (err * known).sum() / known.sum().clamp(min=1)
                loss = ce + 2.0 * mse
                parts = {"loss": loss, "classes": ce, "distance": mse}
            if not torch.isfinite(loss):  # e.g. a patch with nothing annotated: skip it
                return {k: float("nan") for k in parts}
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            self.steps_trained += 1
            return {k: v.detach().item() for k, v in parts.items()}

        def on_end(done):
            net.eval()
            if done and mode == "instance":
                self._calibrate(x, lab, reg, dev)

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

    # -- inference -----------------------------------------------------------------
    def block_predictor(self, src, axes: str, *, device=None, tile_size=None, **options) -> SegmenterBlocks:
        """What :func:`~napari_gan.core.run.blocks.predict_blocks` predicts a block of ``src`` with."""
        return SegmenterBlocks(self, src, axes, device=device, tile_size=tile_size, **options)

    def predict(
        self,
        image,
        *,
        output: str = "labels",
        axes: str | None = None,
        device: str | None = None,
        tile_size: int | None = None,
        progress=None,
    ) -> np.ndarray:
        """Segment ``image`` tile by tile.

        Parameters
        ----------
        image : array-like (numpy, dask or zarr)
            Same channels and dimensionality as the training image; any size.
        output : {"labels", "instances", "classes", "probabilities"}
            ``labels`` (default): instance labels for an instance model, the class map
            for a semantic one. ``instances``: for a semantic model too, each
            connected non-background region split by a distance-transform watershed.
            ``classes``: 1 = background, 2.. = classes (instance models: 2 = object).
            ``probabilities``: float32, class axis first.

        Returns
        -------
        ndarray
            int32 of the image's shape without its C axis (float32 with a leading
            class axis for ``probabilities``).
        """
        self._require_fitted()
        if output not in OUTPUTS:
            raise InputError(f"output must be one of {OUTPUTS}, got {output!r}")
        if is_dask_array(image):  # lazy in, lazy out: block by block, objects merged across blocks
            return predict_blocks(
                self, image, axes=axes, device=device, tile_size=tile_size, progress=progress, output=output
            )
        _, src, axes, _ = prediction_input(image, axes, self)
        dev = resolve_device(device or self.device or "auto")
        instance = self.mode == "instance"

        def activation(t):
            return _instance_activation(t) if instance else torch.softmax(t, 1)

        maps = predict_maps(
            self.net,
            src,
            device=dev,
            activation=activation,
            tile=tile_size or self.config.tile_size,
            overlap=self.config.tile_overlap,
            progress=progress,
        )
        out_axes = annotation_axes(axes)
        if output == "probabilities":
            probs = maps[:, :3] if instance else maps
            # (N, K, *s) -> K first, then the annotation's axes
            per_class = [from_ncs(probs[:, k : k + 1], out_axes) for k in range(probs.shape[1])]
            return np.stack(per_class).astype(np.float32)
        result = np.zeros((maps.shape[0], 1) + maps.shape[2:], dtype=np.int32)
        offset = 0
        for n in range(maps.shape[0]):
            if instance and output in ("labels", "instances"):
                lab = self._split(maps[n])
            elif instance:  # classes
                lab = np.where(maps[n, 1] + maps[n, 2] > 0.5, 2, 1)
            else:
                classes = maps[n].argmax(0) + 1
                lab = classes if output in ("labels", "classes") else self._split_semantic(classes)
            if output == "instances" or (instance and output == "labels"):
                # frames of a stack get ids of their own, as separate objects
                lab = np.where(lab > 0, lab + offset, 0)
                offset = max(offset, int(lab.max()))
            result[n, 0] = lab
        return from_ncs(result, out_axes).astype(np.int32, copy=False)

    def _peak_distance(self) -> int:
        return max(2, int(round(self.peak_factor * self.object_radius))) if self.object_radius else 3

    def _seed_h(self) -> float | None:
        """h (pixels) of the interior-shape seeds; None: seeds at the distance map's peaks."""
        if not self.seed_h_factor:
            return None
        return max(1.0, self.seed_h_factor * (self.object_radius or 8.0))

    def _split(self, maps: np.ndarray) -> np.ndarray:
        """Instance labels from one image's (4, *spatial) maps (background, interior,
        boundary, distance) with the model's seeding."""
        return split_instances(
            maps[1],
            maps[2],
            maps[3],
            min_size=self.min_size,
            min_distance=self._peak_distance(),
            h=self._seed_h(),
            merge=self.merge_ratio,
        )

    def _calibrate(self, x: np.ndarray, lab: np.ndarray, reg, dev, size: int = 384) -> None:
        """Choose how touching objects are split by what best reproduces the training
        masks (F1 at IoU 0.5) on up to 4 crops of the training image: the seeding
        (h-maxima of the interior's shape, ``seed_h_factor``, or peaks of the distance
        map, ``peak_factor``) and its one setting, fitted to the user's objects like
        the network. Ties keep the interior's shape (measured more robust on images
        the network did not see: docs/benchmarks/segmentation.md, "Instance segmentation on real
        images")."""
        from ..metrics import match_instances

        activation = _instance_activation
        crops = []
        for n in range(min(x.shape[0], 4)):
            region = reg[n, 0] if reg is not None else np.ones(lab.shape[2:], bool)
            box = tuple(
                slice(*_span(np.any(region, axis=tuple(j for j in range(region.ndim) if j != i)), size))
                for i in range(region.ndim)
            )
            if box[0].stop - box[0].start < 8:
                continue
            maps = predict_maps(
                self.net,
                x[n : n + 1][(slice(None), slice(None)) + box],
                device=dev,
                activation=activation,
                tile=self.config.tile_size,
                overlap=self.config.tile_overlap,
            )
            truth = np.where(region[box], lab[n, 0][box], 0)
            crops.append((maps[0], truth, region[box]))
        if not crops or not self.object_radius:
            return
        candidates = [(f, self.peak_factor) for f in SEED_H_FACTORS] + [(0.0, f) for f in PEAK_FACTORS]
        f1 = np.zeros((len(candidates), len(MERGE_RATIOS)))  # summed over the crops
        for i, cand in enumerate(candidates):
            self.seed_h_factor, self.peak_factor = cand
            for m, truth, inside in crops:
                lab, height = seeded_watershed(
                    m[1], m[2], m[3], min_size=self.min_size, min_distance=self._peak_distance(), h=self._seed_h()
                )
                for j, ratio in enumerate(MERGE_RATIOS):
                    pred = finish_instances(merge_pieces(lab, height, ratio), self.min_size)
                    f1[i, j] += match_instances(truth, np.where(inside, pred, 0), thresholds=(0.5,))[0.5].f1
        # the first best seeding without joining pieces (the choice before joining existed);
        # only where it does strictly better, at its first best setting
        i, j = int(np.argmax(f1[:, 0])), 0
        if f1.max() > f1[i, 0] + 1e-9:
            j, i = divmod(int(np.argmax(f1.T)), len(candidates))
        (self.seed_h_factor, self.peak_factor), self.merge_ratio = candidates[i], MERGE_RATIOS[j]

    def _split_semantic(self, classes: np.ndarray) -> np.ndarray:
        """Instances of every non-background class: connected regions split where a
        distance-transform watershed finds several centres."""
        out = np.zeros(classes.shape, dtype=np.int32)
        for c in np.unique(classes):
            if c <= 1:
                continue
            mask = fill_small_holes(classes == c, self.min_size)
            lab = distance_watershed(mask, min_size=self.min_size)
            out[lab > 0] = lab[lab > 0] + out.max()
        return out

    # -- persistence ---------------------------------------------------------------
    def _state(self) -> dict:
        return {
            "axes": self.axes,
            "mode": self.mode,
            "n_classes": self.n_classes,
            "min_size": self.min_size,
            "object_radius": self.object_radius,
            "peak_factor": self.peak_factor,
            "seed_h_factor": self.seed_h_factor,
            "merge_ratio": self.merge_ratio,
            "net": self.net.config.to_dict(),
        }

    def _restore(self, state, tensors):
        self.axes = state.get("axes")
        self.mode = state["mode"]
        if self.mode not in ("semantic", "instance"):
            raise ValueError(f"unknown mode {self.mode!r}")
        self.n_classes = int(state.get("n_classes", 0))
        self.min_size = int(state.get("min_size", 0))
        self.object_radius = float(state.get("object_radius", 0.0))
        self.peak_factor = float(state.get("peak_factor", 0.5))
        self.seed_h_factor = float(state.get("seed_h_factor", 0.0))  # saved before 2026-12-04: the distance peaks
        self.merge_ratio = float(state.get("merge_ratio", 0.0))  # older checkpoints: pieces never joined
        self.net = UNet(UNetConfig(**state["net"]))
        self.net.load_state_dict(tensors)
        self.net.eval()
        self.device = None


def _span(any_along: np.ndarray, size: int) -> tuple[int, int]:
    """At most ``size`` indices centred in the True part of a 1D mask."""
    idx = np.flatnonzero(any_along)
    lo, hi = int(idx[0]), int(idx[-1]) + 1
    if hi - lo > size:
        lo = (lo + hi - size) // 2
        hi = lo + size
    return lo, hi
