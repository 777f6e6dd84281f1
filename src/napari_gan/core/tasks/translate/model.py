"""The :class:`Translator` model: one U-Net generator (and a PatchGAN discriminator)
trained with an L1 term on whichever task its config names. Everything particular to
a task comes from that task's module in this package, through the :class:`.common.Task`
interface; the training step, tiled prediction and checkpoint state are shared here."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...axes import check_axes, default_axes, from_ncs, to_ncs
from ...data import as_array, check_finite, lazy_or_array
from ...dtypes import cast_image, output_dtype, source_dtype
from ...errors import InputError
from ...run.blocks import is_dask_array, predict_blocks
from ...tiling import dihedral_stack, predict_tiled
from ...training import check_budget, frozen, resolve_device, seed_everything, training_loop
from .._blocks import TranslatorBlocks
from .._pixelwise import ChannelNorm
from ..base import TrainableModel, register
from .colorize import COLORIZE_ADVERSARIAL_WEIGHT, ColorizeTask, checked_chroma
from .common import Sampler, Task, region_weights
from .config import TranslatorConfig
from .deblur import DeblurTask
from .inpaint import FILLS, InpaintTask
from .paired import PairedTask
from .superres import SuperresTask
from .unpaired import DIRECTIONS, UNPAIRED_ADVERSARIAL_WEIGHT, UnpairedTask

#: task name (one of ``config.TASKS``) -> what that task adds to the shared model
TASK_SPECS: dict[str, Task] = {
    t.name: t for t in (PairedTask(), SuperresTask(), InpaintTask(), ColorizeTask(), DeblurTask(), UnpairedTask())
}


#: tasks whose result is in the input image's own intensity units (``dtype="input"``)
SAME_UNITS = ("superres", "deblur", "inpaint")


@register
class Translator(TrainableModel):
    """Image-to-image translation: a U-Net generator (+ PatchGAN discriminator) that
    learns a residual on a classical estimate; see :class:`TranslatorConfig`.

    Examples
    --------
    >>> import napari_gan as ng
    >>> sr = ng.Translator(task="superres", scale=2).fit(images, max_steps=500)
    >>> big = sr.predict(small)                        # (2 * Y, 2 * X)
    >>> inp = ng.Translator(task="inpaint").fit(image)
    >>> filled = inp.predict(image, mask=mask)         # mask: True where to fill
    >>> col = ng.Translator(task="colorize").fit(rgb)
    >>> colored = col.predict(gray)                    # (Y, X, 3) in [0, 1]
    >>> pair = ng.Translator(task="paired").fit(source, target)
    >>> out, spread = pair.predict(source, return_uncertainty=True)
    >>> cyc = ng.Translator(task="unpaired").fit(a_images, b_images)  # no pairs
    >>> b_like, change = cyc.predict(a_image, return_uncertainty=True)
    >>> a_like = cyc.predict(b_image, direction="b2a")
    """

    kind = "Translator"
    config_class = TranslatorConfig

    def __init__(self, config: TranslatorConfig | None = None, **options):
        if config is None and options.get("task") == "unpaired":
            # no L1 term to weigh against: CycleGAN's 1:10 of adversarial to cycle loss
            options.setdefault("adversarial_weight", UNPAIRED_ADVERSARIAL_WEIGHT)
        if config is None and options.get("task") == "colorize":
            # measured: the discriminator made colours worse on held-out images (bench/colorize.py)
            options.setdefault("adversarial_weight", COLORIZE_ADVERSARIAL_WEIGHT)
        super().__init__(config, **options)
        self.axes: str | None = None
        self.channels: int = 0  # channels of the images the model is applied to
        self.out_channels: int = 0
        self.source_norm: ChannelNorm | None = None  # paired, unpaired (A) only
        self.target_norm: ChannelNorm | None = None  # paired, unpaired (B) only
        #: inpainting: the classical fill the residual is learned on: "tension"
        #: (:func:`tension_fill`) or "pyramid" (:func:`pyramid_fill`, checkpoints saved before)
        self.fill: str = "tension"
        #: colorize: the training images' mean (a, b) / 100 in each lightness bin, the
        #: classical colourization the residual is learned on (None: checkpoints saved
        #: before 2026-12-03, whose residual is learned on no colour)
        self.chroma: np.ndarray | None = None

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def _spec(self) -> Task:
        """What the task adds to this model (its module in this package)."""
        return TASK_SPECS[self.task]

    # -- networks -------------------------------------------------------------------
    def _build(self) -> nn.ModuleDict:
        return nn.ModuleDict(self._spec.networks(self))

    def _forward(self, inp: torch.Tensor) -> torch.Tensor:
        return self._spec.base(self, inp) + self.net["g"](inp)

    # -- training -------------------------------------------------------------------
    def fit_iter(
        self,
        images,
        target=None,
        *,
        axes: str | None = None,
        target_axes: str | None = None,
        max_steps: int | None = 2000,
        time_limit: float | None = None,
        seed: int = 0,
        device: str = "auto",
        resume=False,
    ):
        """Validate the data, then return a generator that trains one step per ``next()``.

        Parameters
        ----------
        images : array-like or list of array-likes
            One image, a stack of frames (``SYX``/``SYXC``), or a list of images of
            different sizes (numpy or dask). ``paired``: the sources. ``superres``,
            ``deblur``: sharp high-resolution images. ``inpaint``: the image(s) to
            learn the texture of (holes are drawn at random). ``colorize``: RGB images.
            ``unpaired``: the images of domain A.
        target : array-like or list, optional
            ``paired``: the targets, one per source, of the same spatial shape.
            ``unpaired``: the images of domain B, with A's channels but any number,
            sizes and scenes (no pairs).
        axes, target_axes : str, optional
            Letters from ``STCYX``; default by shape (``YX``, ``YXC`` for RGB, ``SYX``).
        max_steps, time_limit, seed, device
            Step/time budget (whichever ends first), random seed, and device
            (``"auto"``: cuda, then mps, then cpu).
        resume : bool
            Continue an interrupted run: as for :meth:`napari_gan.Denoiser.fit_iter`.

        Yields
        ------
        StepRecord
            Losses ``l1`` and, with ``adversarial_weight > 0``, ``g_adv`` and ``d``;
            ``unpaired``: ``cycle``, ``identity`` (with ``identity_weight > 0``),
            ``g_adv`` and ``d``.
        """
        max_steps = check_budget(max_steps, time_limit)
        pending = self._resume_from(resume, seed)
        cfg, spec = self.config, self._spec
        data = spec.training_data(images, target, axes, target_axes)
        channels, out_channels = data.channels, data.out_channels

        continuing = self.net is not None
        if continuing and (self.channels, self.out_channels) != (channels, out_channels):
            raise InputError(
                f"this Translator was trained on {self.channels}-channel images; the new data has "
                f"{channels}. Create a new Translator."
            )
        unit = 2**cfg.depth * spec.patch_multiple(cfg)
        smallest = min(min(f.shape[-2:]) for f in data.inputs + data.outputs)
        p = min(cfg.patch_size, smallest) // unit * unit
        if p < max(16, unit):
            raise InputError(
                f"the smallest training image is {smallest} pixels across; the Translator needs images of at "
                f"least {max(16, unit)} pixels per axis"
            )

        seed_everything(seed)
        rng = np.random.default_rng(seed)
        self.axes, self.channels, self.out_channels = data.axes, channels, out_channels
        self.source_norm, self.target_norm = data.source_norm, data.target_norm
        if not continuing:  # a continued run keeps the estimate its residual was learned on
            self.chroma = data.chroma
            self.net = self._build()
        dev = resolve_device(device)
        self.device = dev
        self.net.to(dev).train()
        lr = cfg.lr * (0.25 if continuing else 1.0)
        gen = torch.Generator().manual_seed(seed)
        own = spec.training(self, data, p, rng, gen, dev, lr)
        step, opts = own if own is not None else self._one_way_training(data, p, rng, gen, dev, lr)

        def on_end(done):
            self.net.eval()

        return training_loop(
            step,
            max_steps=max_steps,
            time_limit=time_limit,
            optimizers=opts,
            warmup=0 if continuing else 20,
            history=self.history,
            history_offset=self.steps_trained,
            on_end=on_end,
            state=self._begin_run(pending, seed, rng=rng, gen=gen, **{f"opt{i}": o for i, o in enumerate(opts)}),
        )

    def _one_way_training(self, data, p, rng, gen, dev, lr):
        """``(step, optimizers)`` of the shared training step: one generator learns
        input -> target with L1 (and a conditional discriminator's hinge loss)."""
        cfg, spec = self.config, self._spec
        g, d = self.net["g"], self.net["d"] if "d" in self.net else None
        opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.999) if d is not None else (0.9, 0.999))
        opts = [opt_g]
        if d is not None:
            opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.999))
            opts.append(opt_d)
        arrays = [data.outputs] if data.inputs is data.outputs else [data.inputs, data.outputs]
        sampler = Sampler(arrays, p, rng)
        bs, w = cfg.batch_size, cfg.adversarial_weight

        def make_batch():
            """(generator input, target, loss mask or None) for one step."""
            inp, tgt, hole = spec.batch(self, sampler.sample(bs), rng, gen)
            return inp.to(dev), tgt.to(dev), None if hole is None else hole.to(dev)

        def step():
            inp, tgt, hole = make_batch()
            out = self._forward(inp)
            if hole is not None:
                out = tgt * (1 - hole) + out * hole  # known pixels are given, not predicted
                l1 = ((out - tgt).abs() * hole).sum() / (hole.sum() * out.shape[1]).clamp(min=1)
            else:
                l1 = (out - tgt).abs().mean()
            losses = {"l1": l1}
            loss = l1
            if d is not None:
                d_real = d(torch.cat([inp, tgt], 1))
                d_fake = d(torch.cat([inp, out.detach()], 1))
                d_loss = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
                with frozen(d):
                    g_adv = -d(torch.cat([inp, out], 1)).mean()
                loss = l1 + w * g_adv
                losses.update(g_adv=g_adv, d=d_loss)
            opt_g.zero_grad(set_to_none=True)
            loss.backward()  # no gradients of d's weights: its forward pass above kept none
            opt_g.step()
            self.steps_trained += 1
            return {k: v.detach().item() for k, v in losses.items()}

        return step, opts

    # -- inference ------------------------------------------------------------------
    def block_predictor(self, src, axes: str, *, device=None, tile_size=None, **options) -> TranslatorBlocks:
        """What :func:`~napari_gan.core.run.blocks.predict_blocks` predicts a block of ``src`` with."""
        return TranslatorBlocks(self, src, axes, device=device, tile_size=tile_size, **options)

    def predict(
        self,
        image,
        *,
        mask=None,
        fill: str = "texture",
        axes: str | None = None,
        region=None,
        direction: str = "a2b",
        return_uncertainty: bool = False,
        device: str | None = None,
        tile_size: int | None = None,
        seed: int = 0,
        dtype="float32",
        progress=None,
    ):
        """Translate ``image`` tile by tile (stacks frame by frame).

        Parameters
        ----------
        image : array-like (numpy or dask), any size
            ``superres``/``deblur``/``inpaint``/``paired``: an image with the training
            channels. ``colorize``: a grayscale image (integers, or floats in [0, 1]).
            ``unpaired``: an image of domain A (of B with ``direction="b2a"``).
        mask : bool array-like, the image's shape without C
            ``inpaint`` only: True where to fill. Other pixels are returned unchanged.
        fill : {"texture", "smooth"}
            ``inpaint`` only. ``"texture"`` (default, for removing objects): the hole
            continues the surrounding texture, built coarse to fine from the image's
            own patches (:func:`napari_gan.core.patchfill.patch_fill`; the network is
            not used). ``"smooth"``: the classical spline fill plus the trained
            network's correction: the best estimate on average (highest PSNR), which
            looks like a smear where the image is textured.
        axes : str, optional
            Letters from ``STCYX``; default by shape.
        region : bool or integer array-like, the image's shape without C, optional
            ``colorize`` and ``unpaired`` only: translate only here (e.g. a Labels
            layer's objects: nonzero = inside) and keep the rest of the image as it
            is (``colorize``: gray), with an edge softened over a pixel or two.
            ``unpaired``: the pixels outside keep the input's own values, so A and B
            should share intensity units (as two stainings in 8-bit RGB do).
        direction : {"a2b", "b2a"}
            ``unpaired`` only: translate an A image into B (default) or a B image
            into A.
        return_uncertainty : bool
            Also return the spread (standard deviation) of the predictions over the
            four flips of each tile: where it is high the model is unsure, or
            inventing detail. The prediction is then the mean over the flips. With
            ``fill="texture"``: how far each filled pixel's patches are from the
            known patches they were built from (0 outside the hole). ``unpaired``:
            instead a change map: the cycle error ``|x - back(there(x))|`` (mean
            over channels, Gaussian-smoothed over 2 pixels, in the input's
            intensity units), high where the model changed content (invented or
            removed structure) rather than colour, which translating back undoes.
        device, tile_size, seed, progress
            Device (default: the training device), output tile edge, the seed of the
            texture fill's random search (same seed, same fill), and a callable
            ``progress(done, total)``.
        dtype : {"float32", "input"} or numpy dtype
            ``"input"`` (``superres``, ``deblur``, ``inpaint``, whose result is in the
            image's own units): an 8/16-bit (any integer) image comes back in its own
            dtype, clipped to its range and rounded. A numpy integer dtype does the
            same for any task but ``colorize`` (RGB in [0, 1]). Default float32.

        Returns
        -------
        out : ndarray, float32
            ``superres``: the image's shape with Y and X times ``scale``.
            ``colorize``: RGB in [0, 1], the image's shape plus a last axis of 3.
            ``paired``: the target's channels. Otherwise the image's shape.
        uncertainty : ndarray, float32, only with ``return_uncertainty``
            The output's shape without channels (mean spread over channels, in output
            units; ``unpaired``: the change map, in the input's units).
        """
        self._require_fitted()
        task, spec = self.task, self._spec
        if not (isinstance(dtype, str) and dtype == "float32"):
            want = output_dtype(dtype, source_dtype(image))
            if isinstance(dtype, str) and dtype == "input" and task not in SAME_UNITS and want.kind != "f":
                raise InputError(
                    f"dtype='input': the {task!r} result is not in the image's units; give a numpy dtype or float32"
                )
            if task == "colorize" and want.kind != "f":
                raise InputError("dtype: colorize returns RGB in [0, 1]; it can only be a float type")
            result = self.predict(
                image,
                mask=mask,
                fill=fill,
                axes=axes,
                region=region,
                direction=direction,
                return_uncertainty=return_uncertainty,
                device=device,
                tile_size=tile_size,
                seed=seed,
                progress=progress,
            )
            if return_uncertainty:
                return cast_image(result[0], want), result[1]
            return cast_image(result, want)

        if direction not in DIRECTIONS:
            raise InputError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        if direction != "a2b" and task != "unpaired":
            raise InputError(f"direction is only used by task='unpaired', not {task!r}")
        one_way = task != "unpaired" or (direction == "a2b" and not return_uncertainty)
        plain = mask is None and region is None and not return_uncertainty and not spec.takes_mask
        if is_dask_array(image) and plain and one_way:
            # lazy in, lazy out: block by block with a halo
            return predict_blocks(self, image, axes=axes, device=device, tile_size=tile_size, progress=progress)
        if mask is not None and not spec.takes_mask:
            raise InputError(f"mask is only used by task='inpaint', not {task!r}")
        if region is not None and not spec.takes_region:
            raise InputError(f"region is only used by task='colorize' and task='unpaired', not {task!r}")
        if fill not in FILLS:
            raise InputError(f"fill must be one of {FILLS}, got {fill!r}")
        arr, lazy = lazy_or_array(image)
        if arr.dtype.kind not in "uif":
            raise InputError(f"image has unsupported dtype {arr.dtype}; use an integer or floating-point image")
        if axes is None:
            axes = spec.default_axes(self, arr.ndim) or default_axes(arr.shape)
        axes = check_axes(axes, arr.shape)
        if "Z" in axes:
            raise InputError(f"axes {axes!r}: the Translator works on 2D frames; use S or T for the leading axis")
        src = to_ncs(arr, axes)
        spec.check_channels(self, src.shape[1])
        if not lazy:
            check_finite(arr, name="image")
        holes = spec.holes(self, mask, arr.shape, axes)
        weights = None if region is None else region_weights(region, arr.shape, axes)
        dev = resolve_device(device or self.device or "auto")
        g = self.net["g"].to(dev).eval()
        n_frames = src.shape[0]
        outs, spreads = [], []
        for n in range(n_frames):
            frame = np.asarray(src[n])  # colorize needs the dtype to find the intensity range
            frame_progress = None
            if progress is not None:

                def frame_progress(done, total, n=n):
                    progress(n * total + done, n_frames * total)

            hole = None if holes is None else holes[n]
            if task == "unpaired":
                out, spread = spec.translate_frame(
                    self,
                    frame,
                    direction=direction,
                    dev=dev,
                    tile_size=tile_size,
                    change=return_uncertainty,
                    progress=frame_progress,
                )
            elif hole is None:
                out, spread = self._predict_frame(frame, None, g, dev, tile_size, return_uncertainty, frame_progress)
            else:
                out, spread = spec.fill_frame(
                    self,
                    frame,
                    hole,
                    fill=fill,
                    seed=seed,
                    g=g,
                    dev=dev,
                    tile_size=tile_size,
                    tta=return_uncertainty,
                    progress=frame_progress,
                )
            if weights is not None:
                w = weights[n]
                out = w * out + (1 - w) * spec.unchanged(self, frame)
                spread = None if spread is None else spread * w
            outs.append(out)
            spreads.append(spread)
        out = np.stack(outs)  # (N, C, Y, X)
        out_axes = spec.output_axes(self, axes)
        result = from_ncs(out, out_axes).astype(np.float32, copy=False)
        if not return_uncertainty:
            return result
        spread = from_ncs(np.stack(spreads)[:, None], out_axes.replace("C", ""))
        return result, spread.astype(np.float32, copy=False)

    def degrade(self, image, *, axes: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """What the model learns to undo, applied to ``image`` (e.g. a training image):
        the model's input for it, and the hole mask (``inpaint``: a centred box) or None.

        ``superres``: mean of ``scale`` x ``scale`` blocks (Y and X cropped to a
        multiple of ``scale``); ``deblur``: the Gaussian blur; ``colorize``: grayscale
        (Y, X, 3 -> Y, X); ``inpaint`` and ``paired``: the image itself. Previews and
        benchmarks compare ``predict(*degrade(x))`` with ``x``.
        """
        arr = as_array(image, name="image")
        axes = check_axes(axes or default_axes(arr.shape), arr.shape)
        return self._spec.degrade(self, arr, axes)

    def _predict_frame(self, frame, hole, g, dev, tile_size, tta, progress, norm=None):
        """One (C, Y, X) frame -> (C_out, Y', X') output and (Y', X') spread (or None).
        ``norm``: the intensity normalisation to use (default: fitted on ``frame``)."""
        spec, cfg = self._spec, self.config
        net_in, norm = spec.net_input(self, frame, hole, norm)
        _, cout = spec.net_channels(self)
        fmt = torch.channels_last

        def fn(batch):
            with torch.inference_mode():
                t = torch.from_numpy(batch).to(dev)
                if not tta:
                    return self._forward(t.contiguous(memory_format=fmt)).float().contiguous().cpu().numpy()
                stack = dihedral_stack(lambda ti: self._forward(ti.contiguous(memory_format=fmt)), t, 4)
                return torch.cat([stack.mean(0), stack.std(0)], 1).float().contiguous().cpu().numpy()

        tile = min(tile_size or cfg.tile_size, 1024)
        tile = max(g.multiple, tile // g.multiple * g.multiple)
        maps = predict_tiled(
            net_in[None],
            fn,
            out_channels=cout * (2 if tta else 1),
            tile=(tile, tile),
            overlap=min(cfg.tile_overlap, tile // 4),
            multiple=g.multiple,
            batch_size=2,
            progress=progress,
        )[0]
        pred, std = maps[:cout], (maps[cout:] if tta else None)
        return spec.finish(self, frame, hole, net_in, pred, std, norm)

    # -- persistence ----------------------------------------------------------------
    def _state(self) -> dict:
        return {
            "axes": self.axes,
            "channels": self.channels,
            "out_channels": self.out_channels,
            "fill": self.fill,
            "source_norm": None if self.source_norm is None else self.source_norm.to_state(),
            "target_norm": None if self.target_norm is None else self.target_norm.to_state(),
            "chroma": None if self.chroma is None else self.chroma.tolist(),
        }

    def _restore(self, state, tensors):
        self.axes = state.get("axes")
        self.channels = int(state["channels"])
        self.out_channels = int(state["out_channels"])
        self.fill = state.get("fill", "pyramid")
        if self.fill not in ("tension", "pyramid"):
            raise ValueError(f"unknown inpainting fill {self.fill!r}")
        self.source_norm = ChannelNorm.from_state(state["source_norm"]) if state.get("source_norm") else None
        self.target_norm = ChannelNorm.from_state(state["target_norm"]) if state.get("target_norm") else None
        if self.task in ("paired", "unpaired") and (self.source_norm is None or self.target_norm is None):
            raise ValueError(f"a {self.task} Translator checkpoint needs its source and target normalisation")
        self.chroma = checked_chroma(state["chroma"]) if state.get("chroma") is not None else None
        self.net = self._build()
        self.net.load_state_dict(tensors)
        self.net.eval()
        self.device = None
