"""Train the generic 2D denoiser shipped in the wheel (the warm start of ``Denoiser``).

Supervised on scikit-image's bundled images with synthetic noise drawn fresh every
step: Gaussian (sigma 2-60 on a 0-255 scale) and Poisson-Gaussian (5-300 photons at
the brightest pixel, read noise up to 3 photons). The noisy input is normalised
exactly as ``Denoiser.predict`` will normalise a user's image (percentiles of the
whole noisy image), so the warm start sees the same input statistics.

camera, moon and hubble_deep_field are never used: the benchmarks measure on them.

The shipped model was made in two runs on 2 CPU cores (6.9k steps, then 13.3k more
from that checkpoint with a fresh cosine schedule at half the learning rate)::

    python scripts/pretrain_denoiser.py --minutes 25 --out generic_a.ngan
    python scripts/pretrain_denoiser.py --minutes 70 --init generic_a.ngan --lr 5e-4 \
        --out src/napari_gan/weights/denoise_generic_2d.ngan

``--features`` trains a wider network (a 48-feature continuation, 2026-11-30,
gained nothing in 2000 CPU steps; docs/benchmarks.md), ``--device cuda`` runs it on
a GPU; the checkpoint is always saved from the CPU.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from skimage import color, data, img_as_float32, transform

from napari_gan import Denoiser
from napari_gan.core.data import Normalization
from napari_gan.core.models.unet import UNet
from napari_gan.core.training import channels_last, resolve_device, seed_everything, training_loop

HELD_OUT = {"camera", "moon", "hubble_deep_field"}
GRAY = ["brick", "clock", "coins", "grass", "gravel", "page", "text", "cell", "microaneurysms", "checkerboard"]
RGB = ["astronaut", "chelsea", "coffee", "immunohistochemistry", "retina", "rocket", "colorwheel"]


def training_images(max_side: int = 512) -> list[np.ndarray]:
    images = []
    for name in GRAY + RGB:
        assert name not in HELD_OUT
        img = img_as_float32(getattr(data, name)())
        if img.ndim == 3:
            img = color.rgb2gray(img[..., :3]).astype(np.float32)
            if name == "immunohistochemistry":  # stains are more interesting per channel
                images += [img_as_float32(getattr(data, name)())[..., c] for c in range(3)]
        scale = max_side / max(img.shape)
        if scale < 1:
            img = transform.rescale(img, scale, anti_aliasing=True).astype(np.float32)
        images.append(img)
        # the same scene at half resolution adds finer texture per pixel
        images.append(transform.rescale(img, 0.5, anti_aliasing=True).astype(np.float32))
    images.append(data.shepp_logan_phantom().astype(np.float32))
    return [i for i in images if min(i.shape) >= 64]


def add_noise(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    lo, hi = np.percentile(clean, [0.5, 99.5])
    clean = np.clip((clean - lo) / max(hi - lo, 1e-3), 0, 1) * rng.uniform(0.6, 1.0) + rng.uniform(0, 0.2)
    if rng.random() < 0.6:
        return (clean + rng.normal(0, rng.uniform(2, 60) / 255, clean.shape)).astype(np.float32), clean
    photons = np.exp(rng.uniform(np.log(5), np.log(300)))
    read = rng.uniform(0, 3)
    noisy = rng.poisson(clean * photons) + rng.normal(0, read, clean.shape)
    return (noisy / photons).astype(np.float32), clean.astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=25)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--out", default="src/napari_gan/weights/denoise_generic_2d.ngan")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init", help="continue from this checkpoint (one this script wrote)")
    ap.add_argument("--lr", type=float, help="learning rate (default: the Denoiser's)")
    ap.add_argument("--features", type=int, default=32, help="U-Net width (the shipped model: 32)")
    ap.add_argument("--device", default="auto", help="auto (cuda, then mps, then cpu), cuda, mps or cpu")
    args = ap.parse_args()

    seed_everything(args.seed)
    rng = np.random.default_rng(args.seed)
    images = training_images()
    den = Denoiser(pretrained=False, features=args.features)
    dev = resolve_device(args.device)
    cfg = den.config
    net = UNet(den._unet_config(2, 1, "supervised"))
    previous: list[dict] = []
    done_before = 0
    if args.init:
        start = Denoiser.load(args.init)
        net.load_state_dict(start.net.state_dict())
        previous, done_before = start.history, start.steps_trained
    channels_last(net.to(dev))
    opt = torch.optim.Adam(net.parameters(), lr=args.lr or cfg.learning_rate)
    p, per_image = cfg.patch_size, 4

    def step():
        xs, ys = [], []
        for _ in range(cfg.batch_size // per_image):
            img = images[rng.integers(len(images))]
            noisy, clean = add_noise(img, rng)
            norm = Normalization.fit(noisy)
            nx, cy = norm.apply(noisy), norm.apply(clean)
            for _ in range(per_image):
                y0, x0 = rng.integers(img.shape[0] - p + 1), rng.integers(img.shape[1] - p + 1)
                k, flip = rng.integers(4), rng.random() < 0.5
                a, b = (np.rot90(t[y0 : y0 + p, x0 : x0 + p], k) for t in (nx, cy))
                if flip:
                    a, b = a[:, ::-1], b[:, ::-1]
                xs.append(a.copy())
                ys.append(b.copy())
        x = torch.from_numpy(np.stack(xs))[:, None].to(dev)
        y = torch.from_numpy(np.stack(ys))[:, None].to(dev)
        loss = F.mse_loss(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    history: list[dict] = []
    t0 = time.time()
    for rec in training_loop(
        step, max_steps=args.steps, time_limit=args.minutes * 60, optimizers=[opt], warmup=50, history=history
    ):
        if rec.step % 200 == 0:
            recent = np.mean([h["loss"] for h in history[-200:]])
            print(f"step {rec.step} loss {recent:.5f} {time.time() - t0:.0f}s", flush=True)

    den.net = net.cpu().eval()
    den.axes, den.mode, den.device = "YX", "supervised", "cpu"
    den.history = previous + [{**h, "step": h["step"] + done_before} for h in history]
    den.steps_trained = done_before + len(history)
    print("saved", den.save(args.out))


if __name__ == "__main__":
    main()
