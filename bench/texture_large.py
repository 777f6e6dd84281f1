"""Refined textures larger than memory would allow untiled: time, memory and the joins.

``ImageGAN(mode="texture").generate(refine=True)`` gives a generator's layout the
example's detail (:func:`napari_gan.core.tasks._gan_texture.refine`: patch synthesis,
then the polish). Outputs larger than :data:`napari_gan.core.patchsynth.TILE` (and
:data:`napari_gan.core.patchdist.POLISH_TILE`) per side are refined in tiles. This
refines a blob layout (smoothed noise with the example's histogram, standing in for a
barely trained generator's) with gravel's top 512 rows as the example, each size in a
fresh process so that its peak memory is its own, and prints:

* seconds and MPix/s;
* the process's peak resident memory, and what the refinement added to it;
* ``joins``: how far the mean difference between neighbouring rows (and columns)
  across the synthesis tiles' borders, and across the edges of the bands before
  them, departs from the median row's, as a ratio (0 = like any row), beside the
  99th percentile of that departure over all rows (``rows p99``): a straight join
  between tiles sits far above it.

``--untiled`` raises both tile sizes above the output's, the refinement before
tiles (its memory grows with the output's area).

    python bench/texture_large.py --sizes 1024 2048   # about 10 min on 2 CPU cores
    python bench/texture_large.py --sizes 1024 --untiled
    python bench/texture_large.py --sizes 1024 --rgb   # the astronaut's top-left 512 px as the example

A PNG of the centre 768 px of the last output goes to
bench/out/texture_large_SIZE_{gray,rgb}[_untiled].png.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage import data, exposure, io

OUT = Path(__file__).resolve().parent / "out"


def example(rgb: bool) -> np.ndarray:
    img = data.astronaut()[:512, :512] if rgb else data.gravel()[:512]
    chw = np.moveaxis(img, -1, 0) if img.ndim == 3 else img[None]
    return chw.astype(np.float32) / 127.5 - 1


def blob_layout(ex: np.ndarray, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = np.stack([ndi.gaussian_filter(rng.normal(size=(n, n)), 4) for _ in ex])
    return exposure.match_histograms(noise, ex, channel_axis=0).astype(np.float32)


def joins(out: np.ndarray, tile: int, band: int, margin: int) -> tuple[float, float]:
    img = out.mean(0)
    worst, spread = 0.0, 0.0
    for axis in (0, 1):
        n = img.shape[axis] + 2 * margin
        borders = np.linspace(0, n, -(-n // tile) + 1).round().astype(int)[1:-1] - margin
        diffs = np.abs(np.diff(img, axis=axis)).mean(axis=1 - axis)
        dev = np.abs(diffs / np.median(diffs) - 1)
        spread = max(spread, float(np.percentile(dev, 99)))
        worst = max([worst, *(float(dev[b - 1 - off]) for b in borders for off in (0, band) if b - 1 - off >= 0)])
    return worst, spread


def one(size: int, rgb: bool, untiled: bool, seed: int, png: bool) -> dict:
    from napari_gan.core import patchdist, patchsynth
    from napari_gan.core.tasks._gan_texture import REFINE_LEVELS, refine

    if untiled:
        patchsynth.TILE = patchdist.POLISH_TILE = size + 1000
    ex = example(rgb)
    layout = blob_layout(ex, size, seed)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    t0 = time.perf_counter()
    out = refine(ex, layout, seed=seed)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    patch = patchsynth.PATCH
    band = max(2 * patch, patch * 2 ** (REFINE_LEVELS - 1))
    worst, spread = joins(out, patchsynth.TILE, band, 2 * patch) if not untiled else (float("nan"), float("nan"))
    if png:
        OUT.mkdir(exist_ok=True)
        c = size // 2
        crop = out[:, max(0, c - 384) : c + 384, max(0, c - 384) : c + 384]
        img = np.moveaxis((crop + 1) * 127.5, 0, -1).clip(0, 255).astype(np.uint8)
        name = f"texture_large_{size}_{'rgb' if rgb else 'gray'}{'_untiled' if untiled else ''}.png"
        io.imsave(OUT / name, img[..., 0] if img.shape[-1] == 1 else img, check_contrast=False)
    return {"size": size, "seconds": seconds, "peak": peak, "added": peak - before, "joins": worst, "p99": spread}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("--rgb", action="store_true")
    ap.add_argument("--untiled", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--png", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(one(args.sizes[0], args.rgb, args.untiled, args.seed, args.png)))
        return
    flags = (["--rgb"] if args.rgb else []) + (["--untiled"] if args.untiled else [])
    kind = ("RGB" if args.rgb else "gray") + (", untiled" if args.untiled else ", tiled")
    print(f"| size ({kind}) | seconds | MPix/s | peak GB | added GB | joins | rows p99 |")
    print("|---|---|---|---|---|---|---|")
    for i, size in enumerate(args.sizes):
        cmd = [sys.executable, __file__, "--one", "--sizes", str(size), "--seed", str(args.seed), *flags]
        if i == len(args.sizes) - 1:
            cmd.append("--png")
        r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
        mpix = size * size / 1e6 / r["seconds"]
        print(
            f"| {size} x {size} | {r['seconds']:.1f} | {mpix:.4f} | {r['peak']:.2f} | {r['added']:.2f} "
            f"| {r['joins']:.2f} | {r['p99']:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
