"""Samples benchmark for images larger than 32 pixels: ImageGAN (samples mode) on 300
crops of 48 x 48 pixels, each centred on a nucleus of a generated fluorescence image
(``napari_gan.core.synthetic.nuclei.touching_nuclei``: neighbours, shot noise,
texture), judged against 200 crops of other images that no model trained on.

Rows, each trained for ``--seconds`` (300 s) with the same seed (``--marks``: ours is
also scored at those times of the same run; ``--baseline-seconds``: the one-DCGAN
row's own time):

* *ours*: the defaults: coarse to fine (a DCGAN at 12 x 12 plus one detail network
  per octave, ``napari_gan.core.models.pyramid``);
* *one DCGAN at 64 px*: ``ImageGAN(image_size=64)``, the default before
  2026-12-05 (one DCGAN on the whole image, its output cropped to 48 px);
* baselines: noise with each crop's amplitude spectrum (phase randomised) and the
  crops cut into 8 px blocks put back at random.

Measures as bench/generate.py (classifier test on 32 px crops, 3 seeds; patch SWD
and its floor; memorisation; diversity), the floor being 100 training crops against
the held-out ones. Writes bench/out/generate_cells.json and
bench/out/generate_cells.png (held-out real | ours at each mark and at the end | one DCGAN
at 64 px).

    python bench/generate_cells.py              # about 13 min on 2 CPU cores
    python bench/generate_cells.py --seconds 1200 --marks 60,300 --baseline-seconds 300
                                                # quality over time, about 33 min
    python bench/generate_cells.py --quick      # smoke run (~2 min)
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from generate import (
    OUT,
    SEED_EVAL,
    face_grid,
    measure,
    panel_row,
    phase_randomised,
    shuffled_blocks,
    train_with_marks,
)
from skimage import measure as skmeasure
from skimage.io import imsave

import napari_gan as ng
from napari_gan.core import metrics
from napari_gan.core.synthetic.nuclei import touching_nuclei

EDGE = 48


def nucleus_crops(first_seed: int, n: int) -> np.ndarray:
    """``n`` crops of EDGE x EDGE centred on nuclei of images generated from seeds
    ``first_seed``, ``first_seed + 1``, ..."""
    out, seed, h = [], first_seed, EDGE // 2
    while len(out) < n:
        image, labels = touching_nuclei((256, 256), seed=seed, clustering=0.3, density=0.2)
        seed += 1
        for region in skmeasure.regionprops(labels):
            cy, cx = (int(v) for v in region.centroid)
            if h <= cy < 256 - h and h <= cx < 256 - h:
                out.append(image[cy - h : cy + h, cx - h : cx + h])
    return np.stack(out[:n]).astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=300.0, help="training time of each GAN (default 300)")
    ap.add_argument("--marks", default="", help="also score ours at these times of the same run (s), e.g. 60,300")
    ap.add_argument("--baseline-seconds", type=float, default=None, help="the one-DCGAN row's time (default --seconds)")
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument("--quick", action="store_true", help="20 s per GAN, fewer descriptors: checks the script")
    args = ap.parse_args()
    marks = [float(m) for m in args.marks.split(",") if m.strip()]
    if args.quick:
        args.seconds, args.baseline_seconds, marks = 20.0, 20.0, [8.0] if marks else []
    baseline_seconds = args.seconds if args.baseline_seconds is None else args.baseline_seconds
    train, held = nucleus_crops(0, 300), nucleus_crops(1000, 200)
    opts = {"n_descriptors": 2048 if args.quick else 8192, "n_projections": 128 if args.quick else 512, "min_size": 12}
    c2st_opts = {"crop": 32, "steps": 100 if args.quick else 300, "seeds": 2 if args.quick else 3}
    mem_patches = 300 if args.quick else 1000
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.seconds:g} s per GAN", flush=True)

    reference = list(held[:100])
    floor_c2st = metrics.classifier_test(list(train[:100]), reference, **c2st_opts)
    floor_swd = metrics.sliced_wasserstein(list(train[:100]), reference, **opts)
    opts["levels"] = len(floor_swd["levels"])
    rows, rates, grids = {}, {}, [face_grid(held[:32], 8, 2)]
    gan = ng.ImageGAN()
    runs, rates["ours"] = train_with_marks(
        gan, train, args.seconds, marks, lambda: gan.generate(100, seed=SEED_EVAL), seed=args.seed
    )
    for mark, steps, images in runs:
        rows[f"ours (coarse to fine), {mark:g} s, {steps} steps"] = images
        grids.append(face_grid(images[:32], 8, 2))
    t = time.perf_counter()
    gan.generate(100, seed=SEED_EVAL)
    print(f"ours: {gan.steps_trained} steps, generated 100 in {time.perf_counter() - t:.1f} s", flush=True)
    label = "one DCGAN at 64 px (image_size=64)"
    t = time.perf_counter()
    gan = ng.ImageGAN(image_size=64).fit(train, max_steps=None, time_limit=baseline_seconds, seed=args.seed)
    rates[label] = gan.steps_trained / (time.perf_counter() - t)
    t = time.perf_counter()
    rows[f"{label}, {baseline_seconds:g} s, {gan.steps_trained} steps"] = images = gan.generate(100, seed=SEED_EVAL)
    print(f"{label}: {gan.steps_trained} steps, generated 100 in {time.perf_counter() - t:.1f} s", flush=True)
    grids.append(face_grid(images[:32], 8, 2))
    rng = np.random.default_rng(0)
    rows["baseline: phase randomised"] = np.stack([phase_randomised(c, rng) for c in train[:100]])
    rows["baseline: shuffled 8 px blocks"] = shuffled_blocks(train[:100], 8, rng)
    results = {"rows": {}}
    for label, images in rows.items():
        results["rows"][label] = measure(list(images), reference, opts, c2st_opts, mem_patches)
        results["rows"][label]["memorisation vs training"] = metrics.memorisation_distance(
            images, train, patch=16, n_patches=mem_patches
        )["copied_fraction"]
        print(f"{label}: classifier test {results['rows'][label]['c2st']:.3f}", flush=True)
    results.update(
        floor_c2st=floor_c2st.accuracy,
        floor_swd=floor_swd["mean"],
        diversity_real=metrics.diversity(held[:100]),
        steps_per_s=rates,
        conditions={
            "seconds": args.seconds,
            "marks": marks,
            "baseline_seconds": baseline_seconds,
            "seed": args.seed,
            "quick": args.quick,
        },
    )
    print()
    print("| 48 px nuclei crops | classifier test | SWD / floor | copied (16 px, vs training) | diversity |")
    print("|---|---|---|---|---|")
    floor_row = f"| real vs real (training / held-out) | {floor_c2st.accuracy:.3f} | 1.00 | - |"
    print(f"{floor_row} {results['diversity_real']:.3f} |")
    for label, r in results["rows"].items():
        print(
            f"| {label} | {r['c2st']:.3f} | {r['swd'] / floor_swd['mean']:.2f} | "
            f"{r['memorisation vs training']:.1%} | {r['diversity']:.3f} |"
        )
    print("\n" + ", ".join(f"{k}: {v:.2f} steps/s" for k, v in rates.items()))
    OUT.mkdir(parents=True, exist_ok=True)
    low, high = np.percentile(train, [0.5, 99.5])
    imsave(OUT / "generate_cells.png", panel_row(grids, low, high, gap=12), check_contrast=False)
    path = OUT / "generate_cells.json"
    path.write_text(json.dumps(results, indent=1, default=float))
    print(f"wrote {path} and {OUT / 'generate_cells.png'}")


if __name__ == "__main__":
    main()
