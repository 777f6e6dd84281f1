"""The :class:`Translator` model: one U-Net generator (and a PatchGAN discriminator)
trained with an L1 term on whichever task its config names. Everything particular to
a task comes from that task's module in this package, through the :class:`.common.Task`
interface; the training step and checkpoint state are shared here, prediction in
:mod:`.prediction`."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...errors import InputError
from ...training import check_budget, frozen, resolve_device, seed_everything, training_loop
from .._pixelwise import ChannelNorm
from ..base import TrainableModel, register
from .colorize import COLORIZE_ADVERSARIAL_WEIGHT, ColorizeTask, checked_chroma
from .common import Sampler, Task
from .config import TranslatorConfig
from .deblur import DeblurTask
from .inpaint import InpaintTask
from .paired import PairedTask
from .prediction import TranslatorPrediction
from .superres import SuperresTask
from .unpaired import UNPAIRED_ADVERSARIAL_WEIGHT, UnpairedTask

#: task name (one of ``config.TASKS``) -> what that task adds to the shared model
TASK_SPECS: dict[str, Task] = {
    t.name: t for t in (PairedTask(), SuperresTask(), InpaintTask(), ColorizeTask(), DeblurTask(), UnpairedTask())
}


@register
class Translator(TranslatorPrediction, TrainableModel):
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
        #: unpaired: the networks include moving averages of the generators, which
        #: ``predict`` uses (False: a checkpoint saved before 2026-12-05, until trained on)
        self.averaged: bool = self.config.task == "unpaired"

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
            "averaged": self.averaged,
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
        self.averaged = self.task == "unpaired" and bool(state.get("averaged", False))
        self.net = self._build()
        self.net.load_state_dict(tensors)
        self.net.eval()
        self.device = None
