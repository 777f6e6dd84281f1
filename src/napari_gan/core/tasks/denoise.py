"""Denoiser: self-supervised (Neighbor2Neighbor or N2V2 blind-spot) or supervised (CARE)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np
import torch
import torch.nn.functional as F

from ..axes import check_axes, default_axes, from_ncs, spatial_dims, to_ncs
from ..data import Normalization, PatchSampler, array_like, as_array, check_finite, fit_patch_shape
from ..dtypes import cast_image, output_dtype, source_dtype
from ..errors import CheckpointError, InputError, check_positive_ints
from ..io import load_checkpoint
from ..models.unet import UNet, UNetConfig
from ..run.blocks import is_dask_array, predict_blocks
from ..tiling import dihedral_stack, predict_tiled
from ..training import channels_last, check_budget, resolve_device, seed_everything, training_loop
from ._blocks import DenoiserBlocks
from ._pixelwise import prediction_input, strided_sample
from .base import TrainableModel, register

SELF_SUPERVISED = ("neighbor2neighbor", "n2v2")
#: generic 2D single-channel model trained by scripts/pretrain_denoiser.py on
#: scikit-image's bundled images; the warm start for self-supervised training
PRETRAINED = "denoise_generic_2d.ngan"


@dataclass(frozen=True)
class DenoiserConfig:
    """Options of a :class:`Denoiser` (all have defaults chosen on 2 CPU cores).

    Parameters
    ----------
    self_supervised : {"neighbor2neighbor", "n2v2"}
        Objective when no target is given. ``neighbor2neighbor`` trains on pairs of
        sub-images drawn from neighbouring pixels, so every pixel gives a loss;
        ``n2v2`` is Noise2Void with the N2V2 fixes (blind-spot masking, no top skip
        connection, blur-pool, centre pixel never its own replacement).
    patch_size : int
        Training patch edge (pixels); 3D patches use it for Y/X and at most 32 for Z.
    batch_size : int
        Patches per step.
    features, depth : int
        U-Net width (channels of the first level) and number of downsamplings.
    learning_rate : float
        Adam learning rate when training from scratch; a warm start uses a quarter.
    pretrained : bool
        Start 2D single-channel training (self-supervised with Neighbor2Neighbor, or
        supervised) from the bundled generic model instead of random weights.
    tile_size, tile_overlap : int
        Tiled prediction: tile edge and overlap in pixels.
    """

    self_supervised: str = "neighbor2neighbor"
    patch_size: int = 64
    batch_size: int = 16
    features: int = 32
    depth: int = 2
    learning_rate: float = 1e-3
    pretrained: bool = True
    tile_size: int = 384
    tile_overlap: int = 32

    def __post_init__(self):
        if self.self_supervised not in SELF_SUPERVISED:
            raise ValueError(f"self_supervised must be one of {SELF_SUPERVISED}, got {self.self_supervised!r}")
        check_positive_ints(self, ("patch_size", "batch_size", "features", "depth", "tile_size"))
        if self.patch_size < 8:
            raise ValueError(f"patch_size must be at least 8, got {self.patch_size}")
        if not 0 <= self.tile_overlap < self.tile_size:
            raise ValueError("tile_overlap must be >= 0 and smaller than tile_size")
        if not self.learning_rate > 0:
            raise ValueError("learning_rate must be positive")


def _neighbor_pairs(
    x: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Neighbor2Neighbor sub-sampling (Huang et al., 2021).

    Splits every 2x2 cell of the last two axes, picks one pixel for ``g1`` and an
    adjacent one (sharing an edge) for ``g2``. Returns g1, g2 and the indices used,
    so the same sub-sampling can be applied to the network's full-size output.
    """
    *lead, h, w = x.shape
    cells = x.reshape(*lead, h // 2, 2, w // 2, 2).movedim(-3, -2).reshape(*lead, h // 2, w // 2, 4)
    shape = (x.shape[0],) + (1,) * (len(lead) - 1) + (h // 2, w // 2, 1)
    first = torch.randint(0, 4, shape, generator=gen, device="cpu").to(x.device)
    # cell order (0,0),(0,1),(1,0),(1,1): edge neighbours of k are k^1 and k^2
    second = first ^ (torch.randint(1, 3, shape, generator=gen, device="cpu").to(x.device))
    first = first.expand(*cells.shape[:-1], 1)
    second = second.expand(*cells.shape[:-1], 1)
    return cells.gather(-1, first)[..., 0], cells.gather(-1, second)[..., 0], first, second


def _apply_pairs(y: torch.Tensor, first: torch.Tensor, second: torch.Tensor):
    *lead, h, w = y.shape
    cells = y.reshape(*lead, h // 2, 2, w // 2, 2).movedim(-3, -2).reshape(*lead, h // 2, w // 2, 4)
    return cells.gather(-1, first)[..., 0], cells.gather(-1, second)[..., 0]


def _blind_spot_mask(x: torch.Tensor, gen: torch.Generator, cell: int = 6, radius: int = 2):
    """N2V masking: one random pixel per ``cell``-sized box of every spatial axis is
    replaced by a random pixel within ``radius`` that is never the pixel itself
    (N2V2's fix for plain N2V, which sometimes "replaced" a pixel with itself).

    Returns the masked input and a boolean mask of the replaced pixels.
    """
    b, c, *spatial = x.shape
    d = len(spatial)
    mask = torch.zeros((b, 1, *spatial), dtype=torch.bool)
    grids = torch.meshgrid(*[torch.arange(0, s - cell + 1, cell) for s in spatial], indexing="ij")
    base = torch.stack([g.reshape(-1) for g in grids], dim=1)  # (P, d)
    n = base.shape[0]
    coords = base[None] + torch.randint(0, cell, (b, n, d), generator=gen)
    # random non-zero offsets in [-radius, radius]^d
    offsets = torch.randint(-radius, radius + 1, (b, n, d), generator=gen)
    zero = (offsets == 0).all(-1)
    while zero.any():
        offsets[zero] = torch.randint(-radius, radius + 1, (int(zero.sum()), d), generator=gen)
        zero = (offsets == 0).all(-1)
    src = coords + offsets
    size = torch.tensor(spatial)
    # off the edge: look the other way instead (mirroring could land on the pixel itself)
    outside = ((src < 0) | (src >= size)).any(-1, keepdim=True)
    src = torch.where(outside, coords - offsets, src).clamp(min=0)
    src = torch.minimum(src, size - 1)
    bi = torch.arange(b)[:, None].expand(b, n).reshape(-1)
    dst_idx = tuple(coords.reshape(-1, d).T)
    src_idx = tuple(src.reshape(-1, d).T)
    xm = x.clone()
    xm[(bi, slice(None)) + dst_idx] = x[(bi, slice(None)) + src_idx]
    mask[(bi, 0) + dst_idx] = True
    return xm, mask


def _random_gain(x: torch.Tensor, y: torch.Tensor, gen: torch.Generator, spread: float = 2.0):
    """Scale each (input, target) patch pair by one random gain in [1/spread, spread]
    about the input's mean.

    Normalisation maps every image to the same percentile range, so the noise's size
    relative to that range differs from image to image (on skimage's moon it is 1.7x
    that of camera at the same sigma). A model trained on pairs at one such level
    under-denoises images at another; varying the gain teaches it a range of levels.
    """
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    gain = torch.exp((torch.rand(shape, generator=gen) * 2 - 1) * np.log(spread)).to(x.device)
    mean = x.mean(dim=tuple(range(1, x.ndim)), keepdim=True)
    return (x - mean) * gain + mean, (y - mean) * gain + mean


@register
class Denoiser(TrainableModel):
    """Learn to remove noise from images, with or without clean targets.

    ``fit(noisy)`` trains self-supervised on the noisy image(s) alone;
    ``fit(noisy, target=clean)`` trains supervised on pairs (CARE). See
    :meth:`fit_iter` for the arguments and :meth:`predict` for inference.

    Examples
    --------
    >>> import napari_gan as ng
    >>> den = ng.Denoiser().fit(noisy, max_steps=2000, time_limit=120, seed=0)
    >>> clean = den.predict(noisy)
    """

    kind = "Denoiser"
    config_class = DenoiserConfig

    def __init__(self, config: DenoiserConfig | None = None, **options):
        super().__init__(config, **options)
        self.axes: str | None = None
        self.mode: str | None = None  # "supervised" or the self-supervised objective
        self.normalization: Normalization | None = None

    # -- network -------------------------------------------------------------------
    def _unet_config(self, dims: int, channels: int, mode: str) -> UNetConfig:
        blind = mode == "n2v2"
        return UNetConfig(
            dims=dims,
            in_channels=channels,
            out_channels=channels,
            features=self.config.features,
            depth=self.config.depth,
            top_skip=not blind,
            blurpool=blind,
            residual=not blind,
        )

    @staticmethod
    def _generic_path():
        return resources.files("napari_gan") / "weights" / PRETRAINED

    @classmethod
    def generic(cls) -> Denoiser:
        """The bundled generic 2D single-channel model, ready to predict (no training).

        It was trained by ``scripts/pretrain_denoiser.py`` on scikit-image's bundled
        images with Gaussian and Poisson-Gaussian noise; ``fit`` fine-tunes it.
        """
        with resources.as_file(cls._generic_path()) as path:
            if not path.is_file():
                raise FileNotFoundError("this installation has no bundled generic denoiser")
            return cls.load(path)

    def _warm_start(self, net: UNet) -> bool:
        try:
            with resources.as_file(self._generic_path()) as path:
                if not path.is_file():
                    return False
                tensors, header = load_checkpoint(path, kind=self.kind)
        except (CheckpointError, FileNotFoundError, ModuleNotFoundError):
            return False
        if UNetConfig(**header["net"]) != net.config:
            return False
        net.load_state_dict(tensors)
        return True

    # -- training ------------------------------------------------------------------
    def _prepare(self, image, target, axes):
        arr = as_array(image, name="image")
        check_finite(arr, name="image")
        axes = check_axes(axes, arr.shape) if axes is not None else default_axes(arr.shape)
        if target is not None:
            tgt = as_array(target, name="target")
            if tgt.shape != arr.shape:
                raise InputError(f"target has shape {tgt.shape} but image has shape {arr.shape}; they must match")
            check_finite(tgt, name="target")
        norm = Normalization.fit(arr, name="image")
        x = to_ncs(norm.apply(arr), axes)
        # the target uses the input's normalisation so the net learns the intensity mapping too
        y = to_ncs(norm.apply(tgt), axes) if target is not None else None
        return axes, norm, np.ascontiguousarray(x), (np.ascontiguousarray(y) if y is not None else None)

    def fit_iter(
        self,
        image,
        target=None,
        *,
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
        image : array-like (numpy or dask), shape per ``axes``
            Noisy image(s): 2D, 2D with channels, a stack of frames (S or T first),
            or a volume (Z). Any integer or float dtype.
        target : array-like, optional
            Clean image(s) of the same shape: supervised (CARE) training. Without it
            training is self-supervised (``config.self_supervised``).
        axes : str, optional
            Letters from ``STCZYX``, e.g. ``"YX"``, ``"YXC"``, ``"TYX"``, ``"ZYX"`` (3D
            network). Default from the shape: see :func:`napari_gan.core.axes.default_axes`.
        max_steps : int or None
            Number of optimisation steps; None: no step limit, the time limit ends the run.
        time_limit : float, optional
            Seconds; training stops at whichever of ``max_steps``/``time_limit`` comes first.
            The learning rate anneals over whichever budget ends first.
        seed : int
            Seeds patch sampling, masking and (when training from scratch) the weights.
        device : str
            ``"auto"`` (cuda, then mps, then cpu) or a torch device string.
        resume : bool or path, optional
            Continue an interrupted run instead of starting a new one: ``True`` for this
            model's latest run in memory, or the file :meth:`save_training_state` wrote
            (into the model loaded from the model file saved with it). The run keeps its
            budget, learning-rate schedule, optimizer moments and random streams, so it
            ends where the uninterrupted run would; ``max_steps``/``time_limit`` are the
            run's own, and ``seed`` must be the run's.

        Yields
        ------
        StepRecord
            ``step``, ``total``, ``losses`` (dict) and ``elapsed`` seconds. Leaving the
            loop early keeps what was learned so far.

        Notes
        -----
        Calling ``fit``/``fit_iter`` again on a trained (or loaded) Denoiser continues
        training from its weights at a quarter of the learning rate, provided the new
        data has the same dimensionality, channels and mode; otherwise it raises.
        Validation runs before the generator is returned, so bad input raises here.
        """
        max_steps = check_budget(max_steps, time_limit)
        pending = self._resume_from(resume, seed)
        axes, norm, x, y = self._prepare(image, target, axes)
        mode = "supervised" if y is not None else self.config.self_supervised
        dims = spatial_dims(axes)
        channels = x.shape[1]
        want = self._unet_config(dims, channels, mode)
        dev = resolve_device(device)

        continuing = self.net is not None and self.net.config == want
        if self.net is not None and not continuing:
            raise InputError(
                f"this Denoiser was trained on {self.net.config.dims}D data with "
                f"{self.net.config.in_channels} channel(s) ({self.mode}); the new data needs "
                f"{dims}D with {channels} channel(s) ({mode}). Create a new Denoiser."
            )
        # Neighbor2Neighbor halves Y and X, so those need one more factor of 2
        multiple = 2**self.config.depth
        yx_multiple = multiple * (2 if mode == "neighbor2neighbor" else 1)
        p = self.config.patch_size
        patch = (p, p)
        patch = fit_patch_shape(patch, x.shape[-2:], yx_multiple, name="image", minimum=min(p, 32))
        if dims == 3:
            patch = fit_patch_shape((min(p, 32),), x.shape[2:3], multiple, name="image") + patch

        seed_everything(seed)
        warm = False
        if not continuing:
            self.net = UNet(want)
            if self.config.pretrained and mode != "n2v2" and dims == 2 and channels == 1:
                warm = self._warm_start(self.net)
        channels_last(self.net.to(dev), dims).train()
        self.device, self.axes, self.mode, self.normalization = dev, axes, mode, norm
        lr = self.config.learning_rate * (0.25 if (warm or continuing) else 1.0)
        opt = torch.optim.Adam(self.net.parameters(), lr=lr)
        sampler = PatchSampler([x] if y is None else [x, y], patch, seed=seed)
        gen = torch.Generator().manual_seed(seed)
        net, bs = self.net, self.config.batch_size

        def step():
            net.train()  # a preview predict() between steps switches to eval
            batch = [t.to(dev) for t in sampler.sample(bs)]
            xb = batch[0]
            if mode == "supervised":
                xb, yb = _random_gain(xb, batch[1], gen)
                loss = F.mse_loss(net(xb), yb)
                parts = {"loss": loss}
            elif mode == "neighbor2neighbor":
                g1, g2, i1, i2 = _neighbor_pairs(xb, gen)
                with torch.no_grad():
                    f1, f2 = _apply_pairs(net(xb), i1, i2)
                out = net(g1)
                rec = F.mse_loss(out, g2)
                reg = F.mse_loss(out - g2, f1 - f2)
                # gamma=2 as in the paper; the regulariser corrects for g1/g2 not being
                # exactly the same underlying image
                loss = rec + 2.0 * reg
                parts = {"loss": loss, "reconstruction": rec, "regularizer": reg}
            else:
                xm, m = _blind_spot_mask(xb.cpu(), gen)
                out = net(xm.to(dev))
                m = m.to(dev).expand_as(out)
                loss = F.mse_loss(out[m], xb[m])
                parts = {"loss": loss}
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            self.steps_trained += 1
            return {k: v.detach().item() for k, v in parts.items()}

        def on_end(done):
            net.eval()

        return training_loop(
            step,
            max_steps=max_steps,
            time_limit=time_limit,
            optimizers=[opt],
            warmup=0 if (warm or continuing) else 20,
            history=self.history,
            history_offset=self.steps_trained,
            on_end=on_end,
            state=self._begin_run(pending, seed, opt=opt, sampler=sampler.rng, gen=gen),
        )

    # -- inference -----------------------------------------------------------------
    def block_predictor(self, src, axes: str, *, device=None, tile_size=None, **options) -> DenoiserBlocks:
        """What :func:`~napari_gan.core.run.blocks.predict_blocks` predicts a block of ``src`` with."""
        return DenoiserBlocks(self, src, axes, device=device, tile_size=tile_size, **options)

    def predict(
        self,
        image,
        *,
        axes: str | None = None,
        device: str | None = None,
        tile_size: int | None = None,
        batch_size: int = 2,
        tta: bool = False,
        dtype="float32",
        progress=None,
    ) -> np.ndarray:
        """Denoise ``image`` tile by tile.

        Parameters
        ----------
        image : array-like (numpy, dask or zarr)
            Same layout as the training data (same channels, 2D vs 3D); any size.
            Dask/zarr arrays are read one tile at a time.
        axes : str, optional
            Defaults to the training axes when the number of dimensions agrees,
            else is guessed from the shape.
        device : str, optional
            Defaults to the training device.
        tile_size : int, optional
            Defaults to ``config.tile_size`` (2D) or 64 (3D).
        tta : bool
            Test-time augmentation: average the predictions of the eight
            rotations/flips of every tile in Y and X (8x the time). On the
            benchmark images it adds 0.07-0.16 dB (docs/benchmarks/denoising.md).
        dtype : {"float32", "input"} or numpy dtype
            ``"input"``: a uint8/uint16 (any integer) image comes back in its own
            dtype, clipped to its range and rounded; a float image as float32.
            Default float32, in the input's intensity units.
        progress : callable(done, total), optional
            Called after each batch of tiles.

        Returns
        -------
        ndarray, same shape as ``image``
            In the input's intensity units; float32 unless ``dtype`` says otherwise.
        """
        self._require_fitted()
        image = array_like(image, name="image")
        want = output_dtype(dtype, source_dtype(image))
        if want != np.float32:
            result = self.predict(
                image, axes=axes, device=device, tile_size=tile_size, batch_size=batch_size, tta=tta, progress=progress
            )
            return cast_image(result, want)
        if is_dask_array(image):  # lazy in, lazy out: block by block with a halo
            return predict_blocks(
                self, image, axes=axes, device=device, tile_size=tile_size, tta=tta, progress=progress
            )
        arr, src, axes, lazy = prediction_input(image, axes, self)
        cfg = self.net.config
        # per-image percentiles: the network was trained on normalised data, so a new
        # image of other brightness is brought to the same range and mapped back
        norm = Normalization.fit(arr if not lazy else strided_sample(src), name="image")
        dev = resolve_device(device or self.device or "auto")
        # channels-last is what oneDNN's CPU convolutions want (prediction speed: docs/benchmarks/denoising.md)
        fmt = torch.channels_last if cfg.dims == 2 else torch.channels_last_3d
        net = self.net.to(dev).eval().to(memory_format=fmt)

        def fn(batch):
            with torch.inference_mode():
                t = torch.from_numpy(norm.apply(batch)).to(dev)
                if tta:
                    out = dihedral_stack(lambda ti: net(ti.contiguous(memory_format=fmt)).float(), t).mean(0)
                else:
                    out = net(t.contiguous(memory_format=fmt)).float()
                return out.contiguous().cpu().numpy()

        t = tile_size or (self.config.tile_size if cfg.dims == 2 else 64)
        tile = (t,) * cfg.dims
        out = predict_tiled(
            src,
            fn,
            out_channels=cfg.out_channels,
            tile=tile,
            overlap=min(self.config.tile_overlap, t // 4),
            multiple=net.multiple,
            batch_size=batch_size,
            progress=progress,
        )
        return from_ncs(norm.invert(out), axes)

    # -- persistence ---------------------------------------------------------------
    def _state(self) -> dict:
        return {
            "axes": self.axes,
            "mode": self.mode,
            "normalization": None if self.normalization is None else [self.normalization.low, self.normalization.high],
            "net": self.net.config.to_dict(),
        }

    def _restore(self, state, tensors):
        self.axes = state.get("axes")
        self.mode = state.get("mode")
        n = state.get("normalization")
        self.normalization = Normalization(*n) if n else None
        self.net = UNet(UNetConfig(**state["net"]))
        self.net.load_state_dict(tensors)
        self.net.eval()
        self.device = None  # the next predict/fit picks "auto"
