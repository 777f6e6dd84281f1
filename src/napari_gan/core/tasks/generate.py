"""ImageGAN: learn to generate new images like a stack of examples ("samples" mode),
or new, seamless textures of any size like one example image ("texture" mode).
Its options are :class:`ImageGANConfig` (``_gan_config.py``)."""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import torch
from skimage.transform import resize

from ..data import check_memory
from ..errors import CheckpointError, InputError
from ..models.dcgan import (
    DCGANConfig,
    Discriminator,
    Generator,
    PatchDiscriminator,
    TextureGANConfig,
    TextureGenerator,
)
from ..training import channels_last, check_budget, frozen, resolve_device, seed_everything, training_loop
from ._gan_config import ImageGANConfig
from ._gan_inputs import _class_indices, _prepare_samples, _prepare_texture
from ._gan_losses import AdaptiveAugment, _ema_update, _hinge_d, _PatchStatistics, diff_augment, standing_statistics
from ._gan_texture import _MARGIN, _Exemplar, example_layout, exemplar_of, texture_pass
from ._gan_texture import refine as refine_texture
from .base import TrainableModel, register

# batches of latents (and their seed) from which the averaged generator's batch-norm
# statistics are computed before it generates (ImageGAN._refresh_statistics)
_STANDING, _STANDING_SEED = 16, 2**31 - 1
#: texture mode's patch-statistics loss: neighbourhood edge, patches and random
#: directions drawn per pyramid band and step
_STATS_PATCH = 5
_STATS_SAMPLES = 4096
_STATS_PROJECTIONS = 64


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_seed(seed, name: str) -> None:
    if not _is_int(seed):
        raise InputError(f"{name} must be an integer, got {seed!r}")


def _walk(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """A point between two Gaussian latents that stays Gaussian (unit variance):
    cos/sin weights, where a straight line would pass through low-norm latents."""
    angle = t * math.pi / 2
    return math.cos(angle) * a + math.sin(angle) * b


# --------------------------------------------------------------------------- model


@register
class ImageGAN(TrainableModel):
    """A generative adversarial network that learns from your images.

    ``samples`` mode learns from a stack of images (cells, particles, faces, digits)
    and generates new ones of the same size; ``texture`` mode learns from one image of
    a texture (tissue, a material, a micrograph) and generates seamless textures of
    any size. Generated images are float32 in the training data's intensity range.

    Examples
    --------
    >>> import napari_gan as ng
    >>> gan = ng.ImageGAN().fit(stack, max_steps=2000)            # (N, Y, X[, C])
    >>> samples = gan.generate(16, seed=0)                        # (16, Y, X[, C])
    >>> walk = gan.interpolate(30, seed_a=0, seed_b=1)            # a latent walk
    >>> tex = ng.ImageGAN(mode="texture").fit(image).generate(1, size=(1024, 1024))
    """

    kind = "ImageGAN"
    config_class = ImageGANConfig

    def __init__(self, config: ImageGANConfig | None = None, **options):
        super().__init__(config, **options)
        self.net: torch.nn.ModuleDict | None = None
        self.net_config: DCGANConfig | TextureGANConfig | None = None
        self.shape: tuple[int, int] | None = None  # (Y, X) of the training images
        self.channels: int = 0
        self.has_channel_axis = False
        self.low = self.high = 0.0
        self.class_names: list | None = None
        self._statistics_fresh = False  # generator_ema's batch-norm statistics are its own

    @property
    def mode(self) -> str:
        return self.config.mode

    @property
    def augment(self) -> bool | str:
        """Differentiable augmentation: True, False or "adaptive" (``config.augment``)."""
        return self.config.augment

    @property
    def augment_probability(self) -> float | None:
        """With ``augment="adaptive"``: the probability the last training step
        augmented each image with (0 until the discriminator overfits); else None."""
        if self.net is None or "augment" not in self.net:
            return None
        return float(self.net["augment"].p)

    # -- training ------------------------------------------------------------------
    def fit_iter(
        self,
        images,
        *,
        classes: Sequence | None = None,
        max_steps: int | None = 2000,
        time_limit: float | None = None,
        seed: int = 0,
        device: str = "auto",
        resume=False,
    ):
        """Validate the data, then return a generator that trains one step per ``next()``.

        Calling it again on a trained model continues training (same data layout).

        Parameters
        ----------
        images : array-like
            Samples mode: (N, Y, X) or (N, Y, X, C) with C <= 4, or a list of
            same-shaped 2D images; at least 2. Texture mode: one image (Y, X) or
            (Y, X, C), at least ``crop_size`` pixels per side. numpy or dask.
        classes : sequence, optional
            Samples mode: one class label (int or str) per image, for a
            class-conditional GAN; then ``generate(n, classes=...)``.
        max_steps, time_limit, seed, device
            Budget (whichever ends first), random seed (deterministic on CPU for a
            seed) and device ("auto": cuda, then mps, then cpu).
        resume : bool or path, optional
            Continue an interrupted run: as for :meth:`napari_gan.Denoiser.fit_iter`.

        Yields
        ------
        StepRecord
            Losses ``g`` (generator, the total it minimises) and ``d``
            (discriminator, hinge); texture mode with ``patch_loss > 0`` also
            ``patch`` (the patch-statistics term, before its weight).
        """
        max_steps = check_budget(max_steps, time_limit)
        pending = self._resume_from(resume, seed)
        cfg = self.config
        if cfg.mode == "samples":
            x, has_c = _prepare_samples(images)
            if classes is not None:
                y, names = _class_indices(classes, x.shape[0])
            else:
                y, names = None, None
        else:
            if classes is not None:
                raise InputError("classes are for samples mode; a texture is one image")
            x, has_c = _prepare_texture(images, cfg.crop_size)
            y, names = None, None
        channels = x.shape[-3]
        shape = tuple(int(s) for s in x.shape[-2:])
        continuing = self.net is not None
        if continuing:
            if channels != self.channels or (cfg.mode == "samples" and shape != self.shape):
                raise InputError(
                    f"this ImageGAN was trained on {self.channels}-channel images of {self.shape}; the new data has "
                    f"{channels} channel(s) of {shape}. Create a new ImageGAN"
                )
            if (names is None) != (self.class_names is None) or (names is not None and names != self.class_names):
                raise InputError(
                    f"this ImageGAN was trained with classes {self.class_names}; continue with the same classes"
                )
        else:
            low, high = float(x.min()), float(x.max())
            if not high > low:
                raise InputError(f"the images are constant (every pixel is {low:g}); there is nothing to learn")
            self.low, self.high = low, high
            self.channels, self.shape, self.has_channel_axis, self.class_names = channels, shape, has_c, names
        xn = (x - np.float32(self.low)) / np.float32((self.high - self.low) / 2) - 1
        xn = np.clip(xn, -1.0, 1.0, out=xn)  # a continued run may bring slightly wider data

        dev = resolve_device(device)
        seed_everything(seed)
        if cfg.mode == "samples":
            if not continuing:
                self.net_config = DCGANConfig.fitting(
                    shape,
                    cfg.image_size,
                    channels=channels,
                    latent=cfg.latent,
                    features=cfg.width,
                    n_classes=len(names) if names else 0,
                )
            net_shape = self.net_config.image_shape
            if shape != net_shape:
                xn = np.stack([resize(im, (channels, *net_shape), order=1, anti_aliasing=True) for im in xn])
            data = torch.from_numpy(np.ascontiguousarray(xn, dtype=np.float32)).to(dev)
            labels = torch.from_numpy(y).to(dev) if y is not None else None
        else:
            if not continuing:
                self.net_config = TextureGANConfig(channels=channels, features=cfg.width)
            data = torch.from_numpy(np.ascontiguousarray(xn)).to(dev)
            labels = None
        if not continuing:
            self.net = self._build(self.net_config)
        if cfg.mode == "texture":  # the newest example is the one the refinement copies detail from
            ex = exemplar_of(xn)
            self.net["exemplar"] = _Exemplar(ex.shape)
            self.net["exemplar"].image.copy_(torch.from_numpy(ex))
        self.net.to(dev)
        self.device = dev
        g, g_ema, d = self.net["generator"], self.net["generator_ema"], self.net["discriminator"]
        g.train()
        d.train()
        g_ema.eval()
        lr = cfg.learning_rate
        opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(0.5, 0.99))
        opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(0.5, 0.99))
        bs = cfg.batch
        rng = torch.Generator().manual_seed(seed)
        ada = None
        if self.augment == "adaptive":  # kept with the networks: saved, and continued by a resumed run
            if "augment" not in self.net:
                self.net["augment"] = AdaptiveAugment().to(dev)
            ada = self.net["augment"]
            augment = ada
        else:
            augment = diff_augment if self.augment is True else (lambda t: t)
        flip = cfg.flip
        patch_stats = None
        if cfg.mode == "texture" and cfg.patch_loss > 0:
            levels = max(1, int(math.log2(cfg.crop_size / (2 * _STATS_PATCH))) + 1)
            patch_stats = _PatchStatistics(data, levels, _STATS_PATCH, flip, _STATS_SAMPLES, _STATS_PROJECTIONS)

        def real_batch():
            if cfg.mode == "samples":
                idx = torch.randint(data.shape[0], (bs,), generator=rng).to(dev)
                batch = data[idx]
                yb = labels[idx] if labels is not None else None
            else:
                c = cfg.crop_size
                ys = torch.randint(data.shape[-2] - c + 1, (bs,), generator=rng).tolist()
                xs = torch.randint(data.shape[-1] - c + 1, (bs,), generator=rng).tolist()
                batch = torch.stack([data[:, a : a + c, b : b + c] for a, b in zip(ys, xs)])
                yb = None
            if flip:
                flips = (torch.rand(bs, generator=rng) < 0.5).to(dev)
                batch = torch.where(flips[:, None, None, None], batch.flip(-1), batch)
            return batch, yb

        def fake_batch(yb):
            if cfg.mode == "samples":
                return g(self._training_noise(bs, dev), yb)
            m = _MARGIN * self.net_config.stride
            return g(self._training_noise(bs, dev))[..., m : m + cfg.crop_size, m : m + cfg.crop_size]

        def step():
            real, yb = real_batch()
            fake = fake_batch(yb)
            d_real = d(augment(real), yb)
            loss_d = _hinge_d(d_real, d(augment(fake.detach()), yb))
            if ada is not None:
                ada.observe(d_real, self.steps_trained + 1, bs)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            with frozen(d):  # gradients through the discriminator, not of its weights
                loss_g = -d(augment(fake), yb).mean()
                record = {}
                if patch_stats is not None:
                    loss_p = patch_stats(fake, rng)
                    loss_g = loss_g + cfg.patch_loss * loss_p
                    record["patch"] = loss_p.detach().item()
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
            opt_g.step()
            self.steps_trained += 1
            t = self.steps_trained
            _ema_update(g_ema, g, min(cfg.ema, (1 + t) / (10 + t)))
            self._statistics_fresh = False
            return {"g": loss_g.detach().item(), "d": loss_d.detach().item(), **record}

        def on_end(done):
            g_ema.eval()

        return training_loop(
            step,
            max_steps=max_steps,
            time_limit=time_limit,
            optimizers=[opt_g, opt_d],
            history=self.history,
            history_offset=self.steps_trained,
            on_end=on_end,
            state=self._begin_run(pending, seed, opt_g=opt_g, opt_d=opt_d, rng=rng),
        )

    @staticmethod
    def _build(net_config) -> torch.nn.ModuleDict:
        if isinstance(net_config, DCGANConfig):
            g, d = Generator(net_config), Discriminator(net_config)
        else:
            g, d = TextureGenerator(net_config), PatchDiscriminator(net_config)
        g_ema = copy.deepcopy(g)
        for p in g_ema.parameters():
            p.requires_grad_(False)
        # channels-last, here where every network is built (trained or loaded), so
        # that a loaded model computes exactly what the trained one did
        return channels_last(torch.nn.ModuleDict({"generator": g, "generator_ema": g_ema, "discriminator": d}))

    # -- generation ------------------------------------------------------------------
    def _class_tensor(self, classes, n: int, seed: int) -> torch.Tensor | None:
        if self.class_names is None:
            if classes is not None:
                raise InputError("this ImageGAN was trained without classes; call generate() without classes=")
            return None
        k = len(self.class_names)
        if classes is None:  # one random class per image, from the seed
            return torch.randint(k, (n,), generator=torch.Generator().manual_seed(seed + 7919))
        many = isinstance(classes, (list, tuple, np.ndarray))
        labels = list(classes) if many else [classes] * n
        if len(labels) != n:
            raise InputError(f"classes must be one label or {n} labels, got {len(labels)}")
        out = []
        by_str = {str(v): i for i, v in enumerate(self.class_names)}
        for v in labels:
            v = v.item() if isinstance(v, np.generic) else v
            if v in self.class_names:
                out.append(self.class_names.index(v))
            elif str(v) in by_str:
                out.append(by_str[str(v)])
            else:
                raise InputError(f"unknown class {v!r}; this ImageGAN knows {self.class_names}")
        return torch.tensor(out, dtype=torch.int64)

    def _latents(self, n: int, seed: int, cells: tuple[int, int] | None = None) -> torch.Tensor:
        gen = torch.Generator().manual_seed(int(seed))
        if self.mode == "samples":
            return torch.randn(n, self.net_config.latent, generator=gen)
        return torch.randn(n, self.net_config.noise_channels, *cells, generator=gen)

    def _cells(self, size) -> tuple[tuple[int, int], tuple[int, int]]:
        if size is None:
            size = self.shape
        if _is_int(size):
            size = (size, size)
        if not isinstance(size, (tuple, list, np.ndarray)) or len(size) != 2 or not all(_is_int(v) for v in size):
            raise InputError(f"size must be (Y, X) with positive integer sizes, got {size!r}")
        size = tuple(int(v) for v in size)
        if min(size) < 1:
            raise InputError(f"size must be (Y, X) with positive sizes, got {size!r}")
        s = self.net_config.stride
        return size, tuple(-(-v // s) + 2 * _MARGIN for v in size)

    def _training_noise(self, n: int, dev, gen: torch.Generator | None = None) -> torch.Tensor:
        """Latents as training draws them: z (samples), or a noise field of a training
        crop plus its margin (texture); from torch's global generator, or ``gen``."""
        c = self.net_config
        if self.mode == "samples":
            shape = (n, c.latent)
        else:
            cells = self.config.crop_size // c.stride + 2 * _MARGIN
            shape = (n, c.noise_channels, cells, cells)
        return torch.randn(shape, device=dev) if gen is None else torch.randn(shape, generator=gen).to(dev)

    def _refresh_statistics(self, dev) -> None:
        """Give the averaged generator batch-norm statistics of its own weights
        (:func:`standing_statistics`) from ``_STANDING`` batches of latents drawn as
        in training, from a fixed seed so generation stays deterministic. Done
        before generating when the generator changed since (training, loading)."""
        if self._statistics_fresh:
            return
        gen = torch.Generator().manual_seed(_STANDING_SEED)
        bs, k = self.config.batch, len(self.class_names or ())

        def inputs():
            for _ in range(_STANDING):
                if self.mode == "samples":
                    y = torch.randint(k, (bs,), generator=gen).to(dev) if k else None
                    yield self._training_noise(bs, dev, gen), y
                else:
                    yield (self._training_noise(bs, dev, gen),)

        standing_statistics(self.net["generator_ema"], inputs())
        self._statistics_fresh = True

    @torch.no_grad()
    def _decode(
        self, z: torch.Tensor, y: torch.Tensor | None, size=None, progress=None, refine: bool | str = False, seed=0
    ) -> np.ndarray:
        """Latents -> (n, Y, X[, C]) float32 in the data's range."""
        dev = self.device or "cpu"
        self._refresh_statistics(dev)
        g = self.net["generator_ema"].eval()
        outs = []
        n = z.shape[0]
        step = 64 if self.mode == "samples" else 1
        example = self.net["exemplar"].image.cpu().numpy() if refine else None
        for i in range(0, n, step):
            zi = z[i : i + step]
            if self.mode == "samples":
                yi = y[i : i + step].to(dev) if y is not None else None
                outs.append(g(zi.to(dev), yi).float().cpu().numpy())
            else:
                s = int(seed) * 7919 + i
                if refine == "example":  # the layout from the example, not from the generator
                    out = refine_texture(example, example_layout(example, size, s), seed=s)[None]
                else:
                    out = texture_pass(g, zi, size, self.net_config, self.channels, dev)
                    if example is not None:
                        out = refine_texture(example, out[0], seed=s)[None]
                outs.append(out)
            if progress is not None:
                progress(min(i + len(zi), n), n)
        out = np.concatenate(outs)
        if self.mode == "samples" and tuple(out.shape[-2:]) != self.shape:
            out = np.stack([resize(im, (out.shape[1], *self.shape), order=1, anti_aliasing=True) for im in out])
        out = (np.clip(out, -1, 1) + 1) * np.float32((self.high - self.low) / 2) + np.float32(self.low)
        out = np.moveaxis(out.astype(np.float32, copy=False), 1, -1)
        return np.ascontiguousarray(out if self.has_channel_axis else out[..., 0])

    @property
    def can_refine(self) -> bool:
        """Texture mode: whether the model holds its example, for ``refine=True``
        (models saved before 2026-12-03 do not)."""
        return self.net is not None and "exemplar" in self.net

    def generate(
        self, n: int = 1, *, seed: int = 0, classes=None, size=None, progress=None, refine: bool | str | None = None
    ) -> np.ndarray:
        """Generate ``n`` new images.

        Parameters
        ----------
        n : int
            Number of images.
        seed : int
            The same seed gives the same images (the i-th image depends on the seed
            and on i only up to ``n``: use one call per set).
        classes : label or sequence of n labels, optional
            Class-conditional models: the class of every image (one label for all).
            None: random classes from the seed.
        size : int or (int, int), optional
            Texture mode: the output's (Y, X), any size (default: the training
            image's). Samples mode generates the training images' size.
        refine : bool, optional
            Texture mode: give the generator's layout the example's own detail, by
            patch synthesis (:func:`napari_gan.core.patchsynth.synthesize`) started
            from the generator's output at a quarter of the size, then the example's
            histogram and fine patch statistics (:func:`napari_gan.core.patchdist.polish`).
            Sharp stones, blades and joints where the generator alone gives blurred
            blobs; the detail is made of pieces of the example, so at the scale of a
            patch it copies (docs/benchmarks.md, "Textures"). About 10 s per
            256 x 256 and 75 s per 512 x 512 on 2 CPU cores. None (default): True
            when the model holds its example (:attr:`can_refine`). ``"example"``: the
            same refinement of a layout made from the example alone by patch-distribution
            matching at a quarter of the size (:func:`._gan_texture.example_layout`), not
            by the generator: for regular patterns (bricks, tiles, grids), whose courses
            the generator's layout breaks; about 30 s per 256 x 256.
        progress : callable, optional
            Called with (done, total) after every image.

        Returns
        -------
        ndarray of float32, shape (n, Y, X) or (n, Y, X, C)
            In the training data's intensity range (de-normalised).
        """
        self._require_fitted()
        n = self._check_n(n)
        _check_seed(seed, "seed")
        if self.mode == "samples":
            self._check_output(n, self.shape)
            if size is not None and tuple(np.atleast_1d(size)) not in (self.shape, (self.shape[0],)):
                raise InputError(
                    f"samples mode generates images of the training size {self.shape}; size= is for texture mode"
                )
            return self._decode(self._latents(n, seed), self._class_tensor(classes, n, seed), progress=progress)
        if classes is not None:
            raise InputError("texture mode has no classes")
        if refine is None:
            refine = self.can_refine
        elif not (isinstance(refine, bool) or refine == "example"):
            raise InputError(f"refine must be True, False or 'example', got {refine!r}")
        elif refine and not self.can_refine:
            raise InputError("this model does not hold its example image (saved before 2026-12-03); use refine=False")
        size, cells = self._cells(size)
        self._check_output(n, size)
        return self._decode(self._latents(n, seed, cells), None, size, progress=progress, refine=refine, seed=seed)

    def interpolate(self, n: int, seed_a: int = 0, seed_b: int = 1, *, classes=None, size=None) -> np.ndarray:
        """A latent walk: ``n`` images going smoothly from ``generate(1, seed=seed_a)``
        to ``generate(1, seed=seed_b)`` (same ``classes`` / ``size``).

        Returns
        -------
        ndarray of float32, shape (n, Y, X[, C])
            Frame 0 is seed_a's image, frame n-1 seed_b's.
        """
        self._require_fitted()
        n = self._check_n(n)
        _check_seed(seed_a, "seed_a")
        _check_seed(seed_b, "seed_b")
        if self.mode == "samples":
            self._check_output(n, self.shape)
            za, zb = self._latents(1, seed_a), self._latents(1, seed_b)
            ya = self._class_tensor(classes, 1, seed_a)
            y = ya.repeat(n) if ya is not None else None
            size_ = None
        else:
            if classes is not None:
                raise InputError("texture mode has no classes")
            size_, cells = self._cells(size)
            self._check_output(n, size_)
            za, zb = self._latents(1, seed_a, cells), self._latents(1, seed_b, cells)
            y = None
        ts = np.linspace(0, 1, n) if n > 1 else [0.0]
        z = torch.cat([_walk(za, zb, float(t)) for t in ts])
        return self._decode(z, y, size_)

    @staticmethod
    def _check_n(n) -> int:
        if not _is_int(n) or n < 1:
            raise InputError(f"n must be a positive integer, got {n!r}")
        return int(n)

    def _check_output(self, n: int, size) -> None:
        # the float32 result alone; the generator's activations for one image come on top
        check_memory(
            4.0 * n * size[0] * size[1] * self.channels,
            what=f"{n} generated image(s) of {size[0]} x {size[1]} pixels",
            hint="generate fewer or smaller images at a time",
        )

    # -- persistence -----------------------------------------------------------------
    def _state(self) -> dict:
        return {
            "net_config": dataclasses.asdict(self.net_config),
            "shape": list(self.shape),
            "channels": self.channels,
            "has_channel_axis": self.has_channel_axis,
            "range": [self.low, self.high],
            "class_names": self.class_names,
            "exemplar_shape": list(self.net["exemplar"].image.shape) if self.can_refine else None,
            "adaptive_augment": "augment" in self.net,
        }

    def _restore(self, state: dict, tensors: dict[str, torch.Tensor]) -> None:
        if self.mode == "samples":
            self.net_config = DCGANConfig(**state["net_config"])
        else:  # checkpoints from before fine noise / the upsample option have neither
            self.net_config = TextureGANConfig(**{"fine_noise": 0, "upsample": "nearest", **state["net_config"]})
        self.shape = tuple(state["shape"])
        self.channels = int(state["channels"])
        self.has_channel_axis = bool(state["has_channel_axis"])
        self.low, self.high = (float(v) for v in state["range"])
        self.class_names = state.get("class_names")
        self.net = self._build(self.net_config)
        if state.get("exemplar_shape") is not None:
            if self.mode != "texture":
                raise CheckpointError("only texture mode keeps an example image")
            self.net["exemplar"] = _Exemplar(state["exemplar_shape"])
        if state.get("adaptive_augment"):  # its probability, to continue from
            self.net["augment"] = AdaptiveAugment()
        self.net.load_state_dict(tensors)
        self.net["generator_ema"].eval()
        self._statistics_fresh = False
        self.device = resolve_device("auto")
        self.net.to(self.device)
