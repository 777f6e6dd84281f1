"""Denoising benchmark: ours against scikit-image (and BM3D), all in one run.

Prints one markdown table of PSNR/SSIM on camera and moon (Gaussian sigma=25)
and on a Poisson-Gaussian "microscopy-like" image, then training and prediction
speed and the peak memory of an 8192 x 8192 prediction.

    pip install -e ".[bench]"          # adds bm3d
    python bench/denoise.py            # full run, ~40 min on 2 CPU cores
    python bench/denoise.py --quick    # a smoke run of the same code, ~3 min

Our self-supervised model sees only the noisy image it is measured on. The
supervised one trains on *other* images (camera/moon: 288 x 384 crops of ten other
scikit-image images with the same noise; microscopy: another region of the deep field)
and is measured on images it never saw. A further row continues that model
self-supervised on the measured noisy image (``--adapt-seconds``): its clean version
is still never seen.
"""

from __future__ import annotations

import argparse
import copy
import json
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from skimage import data
from skimage.color import rgb2gray
from skimage.restoration import denoise_nl_means, denoise_tv_chambolle, estimate_sigma
from skimage.util import img_as_ubyte

import napari_gan as ng
from napari_gan._sample_data import SIGMA, load_pair, make_noisy, make_poisson_gaussian

try:
    import bm3d
except ImportError:  # benchmark-only extra
    bm3d = None


def scores(clean, img, data_range):
    return ng.metrics.psnr(clean, img, data_range=data_range), ng.metrics.ssim(clean, img, data_range=data_range)


def timed_scores(predict, clean, data_range):
    """(PSNR, SSIM) of ``predict()`` and the seconds it took."""
    t = time.perf_counter()
    out = predict()
    return scores(clean, out, data_range), time.perf_counter() - t


def classical(noisy, data_range, sigma=None):
    """Baselines on [0, 1]-scaled data; sigma estimated when not known."""
    lo = float(np.min(noisy))
    x = (noisy.astype(np.float64) - lo) / data_range
    s = sigma / data_range if sigma is not None else float(estimate_sigma(x))
    out = {}
    t = time.perf_counter()
    out["non-local means (skimage)"] = (
        denoise_nl_means(x, h=0.8 * s, sigma=s, fast_mode=True, patch_size=5, patch_distance=6),
        time.perf_counter() - t,
    )
    # TV's weight has no rule of thumb: pick it by the discrepancy principle (the
    # removed part should have the noise's variance), from a grid
    t = time.perf_counter()
    candidates = [denoise_tv_chambolle(x, weight=w) for w in (0.04, 0.06, 0.08, 0.1, 0.14, 0.2)]
    best = min(candidates, key=lambda y: abs(np.mean((y - x) ** 2) - s**2))
    out["TV Chambolle (skimage)"] = (best, (time.perf_counter() - t) / 6)
    if bm3d is not None:
        t = time.perf_counter()
        out["BM3D"] = (bm3d.bm3d(x, sigma_psd=s), time.perf_counter() - t)
    return {k: (v * data_range + lo, sec) for k, (v, sec) in out.items()}


def supervised_training_set(name, seed=100):
    """Noisy/clean pairs of other images with the same noise as the measured one."""
    if name == "microscopy":
        sky = img_as_ubyte(rgb2gray(data.hubble_deep_field()))[-512:, -512:]  # bottom-right, unseen
        photons = sky.astype(np.float64) * (30 / 255.0)
        noisy = make_poisson_gaussian(photons, read_noise=2.0, offset=100.0, seed=seed)
        return noisy[None].astype(np.float32), (photons + 100.0)[None].astype(np.float32)
    names = ["astronaut", "coins", "brick", "grass", "gravel", "cell", "chelsea", "coffee", "rocket", "clock"]
    cleans = []
    for n in names:
        img = getattr(data, n)()
        img = img_as_ubyte(rgb2gray(img)) if img.ndim == 3 else img
        cleans.append(img[:288, :384].astype(np.float32))  # the largest crop all of them have
    clean = np.stack(cleans)
    noisy = np.stack([make_noisy(c, sigma=SIGMA, seed=seed + i) for i, c in enumerate(clean)])
    return noisy, clean


def conv_rate():
    """Measured GFLOP/s of this machine on 3x3 convolutions (32 -> 32 channels): the
    best of the plain and the channels-last layout, over several repeats."""
    best = 0.0
    for fmt in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(4, 32, 256, 256).contiguous(memory_format=fmt)
        conv = torch.nn.Conv2d(32, 32, 3, padding=1).to(memory_format=fmt)
        with torch.inference_mode():
            conv(x)
            for _ in range(3):
                t = time.perf_counter()
                for _ in range(3):
                    conv(x)
                best = max(best, 3 * 2 * 32 * 32 * 9 * x.shape[0] * 256 * 256 / (time.perf_counter() - t) / 1e9)
    return best


def flops_per_pixel(net):
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.zeros(1, net.config.in_channels, 256, 256)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops() / (256 * 256)


def peak_memory_child(model_path, size):
    code = f"""
import numpy as np, resource, time, napari_gan as ng
den = ng.load_model({str(model_path)!r})
img = (np.random.default_rng(0).random(({size}, {size})) * 255).astype(np.uint8)
t = time.perf_counter(); out = den.predict(img); sec = time.perf_counter() - t
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2, sec, out.shape, out.dtype)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    gib, sec, *_ = res.stdout.split()
    return float(gib), float(sec)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short budgets and small images: checks the script runs")
    ap.add_argument("--budgets", default="30,120,300", help="self-supervised training seconds")
    ap.add_argument("--supervised-seconds", type=float, default=180)
    ap.add_argument(
        "--adapt-seconds",
        type=float,
        default=120,
        help="then continue the supervised model self-supervised on the measured noisy image (0: skip)",
    )
    ap.add_argument("--images", default="camera,moon,microscopy")
    ap.add_argument("--json", help="also write the raw numbers here")
    ap.add_argument("--no-n2v2", dest="n2v2", action="store_false", help="skip the N2V2 comparison row")
    ap.add_argument("--speed-only", action="store_true", help="only the prediction speed and memory section")
    ap.add_argument(
        "--supervised-only",
        action="store_true",
        help="baselines and the supervised model only (no self-supervised runs, no speed section)",
    )
    args = ap.parse_args()
    budgets = [2.0, 4.0] if args.quick else [float(b) for b in args.budgets.split(",")]
    if args.supervised_only:
        budgets, args.n2v2 = [], False
    sup_seconds = 5.0 if args.quick else args.supervised_seconds
    big = 1024 if args.quick else 4096
    huge = 1024 if args.quick else 8192
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, bm3d: {bm3d is not None}", flush=True)

    raw = {}
    speed = {}
    sup_models = {}
    for name in [] if args.speed_only else args.images.split(","):
        pair = load_pair(name)
        noisy, clean = pair.noisy, pair.clean.astype(np.float32)
        if args.quick:
            noisy, clean = noisy[:128, :128], clean[:128, :128]
        gaussian = pair.noise["kind"] == "gaussian"
        rng_ = float(clean.max() - clean.min()) if not gaussian else 255.0
        res = {"noisy input": (scores(clean, noisy, rng_), 0.0)}
        for k, (img, sec) in classical(noisy, rng_, SIGMA if gaussian else None).items():
            res[k] = (scores(clean, img, rng_), sec)
        print(name, {k: round(v[0][0], 2) for k, v in res.items()}, flush=True)

        # the bundled generic model alone (0 s of training): what the warm start brings
        generic = ng.Denoiser.generic()
        for label, tta in (("", False), (", tta=True", True)):
            res["ours, bundled generic model, no training" + label] = timed_scores(
                partial(generic.predict, noisy, tta=tta), clean, rng_
            )
        for budget in budgets:
            den = ng.Denoiser()
            t = time.perf_counter()
            steps = sum(1 for _ in den.fit_iter(noisy, max_steps=1_000_000, time_limit=budget, seed=0))
            train_sec = time.perf_counter() - t
            for label, tta in (("", False), (", tta=True", True)):
                res[f"ours, self-supervised, {budget:g} s" + label] = timed_scores(
                    partial(den.predict, noisy, tta=tta), clean, rng_
                )
            speed[f"{name} {budget:g}s"] = (steps, train_sec, den.config.batch_size)
            print(
                name,
                budget,
                "s",
                steps,
                "steps",
                round(res[f"ours, self-supervised, {budget:g} s"][0][0], 2),
                flush=True,
            )
        if args.n2v2 and budgets:
            # the classic blind-spot recipe (N2V2 fixes, from scratch) for comparison
            den = ng.Denoiser(self_supervised="n2v2")
            n2v_budget = budgets[min(1, len(budgets) - 1)]
            den.fit(noisy, max_steps=1_000_000, time_limit=n2v_budget, seed=0)
            res[f"N2V2 blind-spot (from scratch), {n2v_budget:g} s"] = (scores(clean, den.predict(noisy), rng_), 0.0)
        kind = "microscopy" if not gaussian else "gaussian"
        if kind not in sup_models:
            sx, sy = supervised_training_set(name)
            if args.quick:
                sx, sy = sx[:, :128, :128], sy[:, :128, :128]
            den = ng.Denoiser()
            den.fit(sx, target=sy, axes="SYX", max_steps=1_000_000, time_limit=sup_seconds, seed=0)
            sup_models[kind] = den
        out = sup_models[kind].predict(noisy)
        res[f"ours, supervised on other images, {sup_seconds:g} s"] = (scores(clean, out, rng_), 0.0)
        out = sup_models[kind].predict(noisy, tta=True)
        res[f"ours, supervised on other images, {sup_seconds:g} s, tta=True"] = (scores(clean, out, rng_), 0.0)
        adapt = 2.0 if args.quick else args.adapt_seconds
        if adapt > 0:
            # the same model, then adapted to the measured image without its clean version
            den = copy.deepcopy(sup_models[kind])
            den.fit(noisy, max_steps=1_000_000, time_limit=adapt, seed=0)
            label = f"ours, supervised on other images, then {adapt:g} s self-supervised on this noisy image"
            res[label] = (scores(clean, den.predict(noisy), rng_), 0.0)
            res[label + ", tta=True"] = (scores(clean, den.predict(noisy, tta=True), rng_), 0.0)
        raw[name] = {k: {"psnr": v[0][0], "ssim": v[0][1], "seconds": v[1]} for k, v in res.items()}

    if args.speed_only:
        sup_models["gaussian"] = ng.Denoiser().fit(load_pair("astronaut").noisy, max_steps=1)
    methods = list(next(iter(raw.values())).keys()) if raw else []
    names = list(raw)
    print()
    print("| method | " + " | ".join(f"{n} PSNR / SSIM" for n in names) + " |")
    print("|---|" + "---|" * len(names))
    for m in methods:
        cells = [f"{raw[n][m]['psnr']:.2f} / {raw[n][m]['ssim']:.3f}" if m in raw[n] else "-" for n in names]
        print(f"| {m} | " + " | ".join(cells) + " |")

    if args.supervised_only:
        return
    # speed ------------------------------------------------------------------------
    print()
    den = sup_models["gaussian"] if "gaussian" in sup_models else next(iter(sup_models.values()))
    print("| training run | steps | steps/s | patches/s |")
    print("|---|---|---|---|")
    for k, (steps, sec, bs) in speed.items():
        print(f"| {k} | {steps} | {steps / sec:.2f} | {steps * bs / sec:.1f} |")
    img = np.tile(load_pair("camera").noisy, (big // 512, big // 512))
    t = time.perf_counter()
    den.predict(img)
    sec = time.perf_counter() - t
    mpix = img.size / 1e6 / sec
    fpp = flops_per_pixel(den.net)
    rate = conv_rate()
    bound = rate * 1e9 / fpp / 1e6
    with tempfile.TemporaryDirectory() as folder:
        path = den.save(Path(folder) / "model.ngan")
        peak_gib, huge_sec = peak_memory_child(str(path), huge)
    print()
    print("| prediction | value |")
    print("|---|---|")
    print(f"| network FLOPs per pixel | {fpp / 1e3:.0f} kFLOP |")
    print(f"| measured 3x3 conv rate (32->32 ch) | {rate:.0f} GFLOP/s |")
    print(f"| throughput bound from those two | {bound:.2f} MPix/s |")
    print(f"| measured prediction, {big} x {big} | {mpix:.2f} MPix/s ({sec:.1f} s, {mpix / bound:.0%} of the bound) |")
    print(f"| peak memory (RSS, whole process), {huge} x {huge} uint8 | {peak_gib:.2f} GiB ({huge_sec:.0f} s) |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(
                {
                    "quality": raw,
                    "speed": {k: list(v) for k, v in speed.items()},
                    "mpix_s": mpix,
                    "flops_per_pixel": fpp,
                    "conv_gflops": rate,
                    "peak_gib": peak_gib,
                },
                fh,
                indent=1,
            )


if __name__ == "__main__":
    main()
