"""task="unpaired": learn A -> B (and B -> A) from two sets of images that show
different scenes, with no pairs: one stain or modality to another.

The recipe is CycleGAN's (Zhu et al., "Unpaired image-to-image translation using
cycle-consistent adversarial networks", ICCV 2017): two generators, G: A -> B and
F: B -> A, and two discriminators that tell generated from real images of each
domain; what fixes *which* B image an A image becomes is the cycle term (F(G(a))
gives a back, G(F(b)) gives b) and the identity term (G leaves an image that already
looks like B alone). Choices made for short CPU runs:

- each generator learns a residual on its input, starting at 0, in units of each
  domain's own intensity normalisation (percentiles of all its training images, per
  channel): an untrained model already maps A's intensity range onto B's, the cycle
  and identity terms hold from the first step, and the discriminators only have to
  teach the difference;
- the project's spectrally normalised PatchGANs with a hinge loss (as the other GAN
  tasks) instead of CycleGAN's least-squares loss and image pool;
- one Adam for both generators and one for both discriminators (as CycleGAN);
- ``predict`` uses moving averages of the generators' weights (``g_ema``, ``f_ema``,
  decay :data:`EMA_DECAY`), as ImageGAN does: the generators' own output swings by a
  few dB from one hundred steps to the next, their average does not (Yazici et al.,
  "The unusual effectiveness of averaging in GAN training", ICLR 2019).

A colour change can be undone, invented or removed structure cannot: the per-pixel
cycle error ``|a - F(G(a))|`` (smoothed) is the map ``predict`` returns with
``return_uncertainty=True`` of where the model changed content rather than colour.

The discriminators teach B's distribution, the mix of B's content included: where
A's images hold more of one tissue than B's, the generator shifts A's colours
towards B's mix. On ``bench/stain_transfer.py`` the same model reached 33 dB with A
and B from alternate tiles of one region and 24 dB with A and B from two halves of
different make-up (docs/benchmarks/translation.md).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from ...errors import InputError
from ...models.patchgan import PatchGAN, PatchGANConfig
from ...training import frozen
from .._gan_losses import _ema_update, _hinge_d, averaged
from .common import Sampler, Task, TrainingData, predict_frame_tiled, read_frames, residual_unet
from .paired import joint_norm

#: ``Translator(task="unpaired")``'s adversarial weight unless given (the config's
#: default, 0.01, weighs a PatchGAN against an L1 term to a known target)
UNPAIRED_ADVERSARIAL_WEIGHT = 0.1
#: the directions ``predict`` translates in
DIRECTIONS = ("a2b", "b2a")
#: Gaussian sigma (pixels) of the smoothing of the change map
CHANGE_SIGMA = 2.0
#: decay of the generators' moving averages (half-life about 70 steps)
EMA_DECAY = 0.99


class UnpairedTask(Task):
    name = "unpaired"
    takes_region = True
    images_name = "A"

    def check_target(self, target) -> None:
        if target is None:
            raise InputError(
                "unpaired translation learns from two sets of images: give the B images too, "
                "fit(a_images, b_images) (they need not show the same scenes)"
            )

    def training_data(self, images, target, axes, target_axes) -> TrainingData:
        self.check_target(target)
        a, axes = read_frames(images, axes, name="A")
        b, _ = read_frames(target, target_axes, name="B")
        ca, cb = a[0].shape[0], b[0].shape[0]
        if ca != cb:
            raise InputError(
                f"A has {ca} channel(s) but B has {cb}: unpaired translation maps between images with the same "
                "channels (convert one side first, e.g. skimage.color.gray2rgb or rgb2gray)"
            )
        source_norm, target_norm = joint_norm(a, "A"), joint_norm(b, "B")
        inputs = [source_norm.apply(f[None])[0] for f in a]
        outputs = [target_norm.apply(f[None])[0] for f in b]
        return TrainingData(axes, inputs, outputs, ca, cb, source_norm=source_norm, target_norm=target_norm)

    # -- networks -------------------------------------------------------------------
    def networks(self, model):
        """``g``: A -> B, ``f``: B -> A (residual U-Nets); ``d``: B's discriminator,
        ``d_a``: A's (unconditional PatchGANs: there is no input to pair them with);
        ``g_ema``, ``f_ema``: the generators' moving averages, which ``predict`` uses
        (absent from models saved before 2026-12-05, ``model.averaged`` False)."""
        cfg, c = model.config, model.channels
        nets = {
            "g": residual_unet(c, c, cfg),
            "f": residual_unet(c, c, cfg),
            "d": PatchGAN(PatchGANConfig(in_channels=c, features=cfg.d_features)),
            "d_a": PatchGAN(PatchGANConfig(in_channels=c, features=cfg.d_features)),
        }
        if model.averaged:
            nets.update(g_ema=averaged(nets["g"]), f_ema=averaged(nets["f"]))
        return nets

    def generator(self, model) -> torch.nn.Module:
        return self.generators(model)[0]

    def generators(self, model, direction: str = "a2b") -> tuple[torch.nn.Module, torch.nn.Module]:
        """(there, back): the networks that translate in ``direction`` and back, as
        ``predict`` uses them (the moving averages where the model has them)."""
        g, f = ("g_ema", "f_ema") if "g_ema" in model.net else ("g", "f")
        return (model.net[g], model.net[f]) if direction == "a2b" else (model.net[f], model.net[g])

    # -- training -------------------------------------------------------------------
    def training(self, model, data, patch, rng, gen, device, lr):
        cfg, nets = model.config, model.net
        g, f, d_b, d_a = nets["g"], nets["f"], nets["d"], nets["d_a"]
        if "g_ema" not in nets:  # a model saved before the averages: they start from its generators
            nets.update({"g_ema": averaged(g), "f_ema": averaged(f)})
            model.averaged = True
        g_ema, f_ema = nets["g_ema"], nets["f_ema"]
        opt_g = torch.optim.Adam([*g.parameters(), *f.parameters()], lr=lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam([*d_b.parameters(), *d_a.parameters()], lr=lr, betas=(0.5, 0.999))
        # two samplers, one random stream: A and B crops are drawn independently
        sample_a, sample_b = Sampler([data.inputs], patch, rng), Sampler([data.outputs], patch, rng)
        bs, w_adv, w_cyc, w_idt = cfg.batch_size, cfg.adversarial_weight, cfg.cycle_weight, cfg.identity_weight

        def step():
            real_a = sample_a.sample(bs)[0].to(device)
            real_b = sample_b.sample(bs)[0].to(device)
            fake_b = real_a + g(real_a)
            fake_a = real_b + f(real_b)
            cycle = (fake_b + f(fake_b) - real_a).abs().mean() + (fake_a + g(fake_a) - real_b).abs().mean()
            loss = w_cyc * cycle
            losses = {"cycle": cycle}
            if w_idt > 0:
                identity = g(real_b).abs().mean() + f(real_a).abs().mean()  # residuals: 0 is the identity
                loss = loss + w_idt * identity
                losses["identity"] = identity
            with frozen(d_b, d_a):
                g_adv = -d_b(fake_b).mean() - d_a(fake_a).mean()
                loss = loss + w_adv * g_adv
                opt_g.zero_grad(set_to_none=True)
                loss.backward()
                opt_g.step()
            _ema_update(g_ema, g, EMA_DECAY)
            _ema_update(f_ema, f, EMA_DECAY)
            d_loss = _hinge_d(d_b(real_b), d_b(fake_b.detach())) + _hinge_d(d_a(real_a), d_a(fake_a.detach()))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            model.steps_trained += 1
            losses.update(g_adv=g_adv, d=d_loss)
            return {k: v.detach().item() for k, v in losses.items()}

        return step, [opt_g, opt_d]

    # -- inference ------------------------------------------------------------------
    def net_input(self, model, frame, hole, norm):
        # A -> B on A's normalisation, back to intensities with B's (block prediction)
        frame = frame.astype(np.float32, copy=False)
        return model.source_norm.apply(frame[None])[0], model.target_norm

    def unchanged(self, model, frame):
        return frame.astype(np.float32)

    def translate_frame(self, model, frame, *, direction, dev, tile_size, change, progress):
        """One (C, Y, X) frame -> its translation (C, Y, X) in the other domain's
        intensities and, with ``change``, the smoothed (Y, X) cycle error in the
        frame's own intensity units (else None)."""
        a2b = direction == "a2b"
        norm_in, norm_out = (model.source_norm, model.target_norm) if a2b else (model.target_norm, model.source_norm)
        there, back = self.generators(model, direction)
        there.to(dev).eval()
        back.to(dev).eval()
        x = norm_in.apply(frame.astype(np.float32, copy=False)[None])
        c = x.shape[1]

        def fn(batch):
            with torch.inference_mode():
                t = torch.from_numpy(batch).to(dev)
                y = t + there(t)
                if change:
                    y = torch.cat([y, (y + back(y) - t).abs()], 1)
                return y.float().cpu().numpy()

        maps = predict_frame_tiled(
            model.config,
            x,
            fn,
            out_channels=c * (2 if change else 1),
            multiple=there.multiple,
            tile_size=tile_size,
            progress=progress,
        )
        out = norm_out.invert(maps[None, :c])[0]
        if not change:
            return out, None
        error = (maps[c:] * norm_in.spans()[:, None, None]).mean(0)
        return out, ndimage.gaussian_filter(error, CHANGE_SIGMA).clip(min=0).astype(np.float32)
