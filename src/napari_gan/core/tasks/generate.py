"""ImageGAN: learn to generate new images like a stack of examples ("samples" mode),
or new, seamless textures of any size like one example image ("texture" mode).
Its options are :class:`ImageGANConfig` (``_gan_config.py``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
from skimage.transform import resize

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
from ._gan_losses import AdaptiveAugment, _ema_update, _hinge_d, averaged, diff_augment, patch_statistics
from ._gan_pyramid import DetailTraining, Pyramid
from ._gan_sampling import GANSampling
from ._gan_texture import _MARGIN, _Exemplar, exemplar_of
from .base import TrainableModel, register

#: samples made coarse to fine: updates of the coarse pair per training step
_COARSE_STEPS = 3


# --------------------------------------------------------------------------- model


@register
class ImageGAN(GANSampling, TrainableModel):
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
        #: samples larger than 32 pixels: made coarse to fine (None: by one DCGAN)
        self.pyramid: Pyramid | None = None
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
            (discriminator, hinge); where the patch-statistics loss is on
            (``patch_loss``: by default textures, and samples without classes
            learnt by one DCGAN) also ``patch`` (that term, before its weight).
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
        levels = None
        if cfg.mode == "samples":
            if not continuing:
                n_classes = len(names or ())
                self.pyramid = Pyramid.plan(shape, cfg.image_size, channels, n_classes)
                options = dict(channels=channels, latent=cfg.latent, features=cfg.width, n_classes=n_classes)
                if self.pyramid is not None:  # the coarse scale, at most 16 pixels per side
                    cy, cx = self.pyramid.coarse_shape
                    self.net_config = DCGANConfig(size=16, height=cy, width=cx, **options)
                else:
                    self.net_config = DCGANConfig.fitting(shape, cfg.image_size, **options)
            net_shape = self.net_config.image_shape
            if self.pyramid is not None:  # the coarse pair learns the coarsest octave
                levels = self.pyramid.images(xn, dev)
                data = levels[-1]
            else:
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
            self.net = self._build(self.net_config, self.pyramid)
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
        optimizers = {"opt_g": opt_g, "opt_d": opt_d}
        bs = cfg.batch
        rng = torch.Generator().manual_seed(seed)
        detail = None
        if levels is not None:
            detail = DetailTraining(self.net, levels, cfg.flip, rng, labels)
            optimizers["opt_detail"] = torch.optim.Adam(detail.nets.parameters(), lr=lr, betas=(0.5, 0.99))
            optimizers["opt_detail_d"] = torch.optim.Adam(detail.critics.parameters(), lr=lr, betas=(0.5, 0.99))
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
        patch_weight = cfg.patch_weight(conditional=labels is not None)
        if patch_weight > 0 and levels is None:  # texture mode, and samples learnt by one DCGAN
            shape = (cfg.crop_size, cfg.crop_size) if cfg.mode == "texture" else tuple(data.shape[-2:])
            patch_stats = patch_statistics(data, shape, flip)

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

        def adversarial_step(t: int, decay: float) -> dict:
            real, yb = real_batch()
            fake = fake_batch(yb)
            d_real = d(augment(real), yb)
            loss_d = _hinge_d(d_real, d(augment(fake.detach()), yb))
            if ada is not None:
                ada.observe(d_real, t, bs)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            with frozen(d):  # gradients through the discriminator, not of its weights
                loss_g = -d(augment(fake), yb).mean()
                record = {}
                if patch_stats is not None:
                    loss_p = patch_stats(fake, rng)
                    loss_g = loss_g + patch_weight * loss_p
                    record["patch"] = loss_p.detach().item()
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
            opt_g.step()
            _ema_update(g_ema, g, decay)
            return {"g": loss_g.detach().item(), "d": loss_d.detach().item(), **record}

        def step():
            t = self.steps_trained + 1
            decay = min(cfg.ema, (1 + t) / (10 + t))  # the moving averages' warm-up
            # the coarse pair of a pyramid is cheap and learns the layout: it takes
            # several steps for every one of the detail networks
            for _ in range(_COARSE_STEPS if detail is not None else 1):
                record = adversarial_step(t, decay)
            if detail is not None:
                record.update(detail.step(optimizers["opt_detail"], optimizers["opt_detail_d"], decay))
            self.steps_trained = t
            self._statistics_fresh = False
            return record

        def on_end(done):
            g_ema.eval()

        return training_loop(
            step,
            max_steps=max_steps,
            time_limit=time_limit,
            optimizers=list(optimizers.values()),
            history=self.history,
            history_offset=self.steps_trained,
            on_end=on_end,
            state=self._begin_run(pending, seed, **optimizers, rng=rng),
        )

    @staticmethod
    def _build(net_config, pyramid: Pyramid | None = None) -> torch.nn.ModuleDict:
        if isinstance(net_config, DCGANConfig):
            g, d = Generator(net_config), Discriminator(net_config)
        else:
            g, d = TextureGenerator(net_config), PatchDiscriminator(net_config)
        nets = {"generator": g, "generator_ema": averaged(g), "discriminator": d}
        if pyramid is not None:
            nets.update(pyramid.build())
        # channels-last, here where every network is built (trained or loaded), so
        # that a loaded model computes exactly what the trained one did
        return channels_last(torch.nn.ModuleDict(nets))

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
            "pyramid": self.pyramid.to_json() if self.pyramid is not None else None,
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
        if self.mode == "samples" and self.config.patch_loss == 1.0 and not any("patch" in h for h in self.history):
            # saved before 2026-12-07, when 1 was the default whatever the data, by a run in
            # which the loss never ran (samples mode once ignored it): the data's default again
            self.config = dataclasses.replace(self.config, patch_loss=None)
        self.pyramid = Pyramid.from_json(state["pyramid"]) if state.get("pyramid") is not None else None
        if self.pyramid is not None and self.mode != "samples":
            raise CheckpointError("only samples mode makes its images coarse to fine")
        # (conditional samples saved before commit 49eff48 have unconditional detail networks)
        if self.pyramid is not None and self.pyramid.detail.n_classes not in (0, self.net_config.n_classes):
            raise CheckpointError(
                f"the detail networks know {self.pyramid.detail.n_classes} classes and the coarse generator "
                f"{self.net_config.n_classes}"
            )
        self.net = self._build(self.net_config, self.pyramid)
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
