"""How low can a generator that does not copy go? The texture baselines of
bench/generate.py against independent real samples of the same texture.

bench/generate.py scores generated textures, and two baselines, by their patch SWD to
the real image. A generator that learned the texture perfectly, without copying,
would produce new samples of it: images like another part of the same photograph.
This script asks where such samples land among the baselines (it trains nothing
unless ``--ours`` is given).

Each 512 x 512 texture (scikit-image's ``brick``, ``grass``, ``gravel``) is cut into
its four 256 x 256 quadrants. Every quadrant in turn is the reference, and the SWD to
it (``napari_gan.metrics.sliced_wasserstein``, the benchmark's options) is measured
for:

* **another real quadrant**: an independent sample of the texture, what a perfect
  non-copying generator would give;
* **shuffled 32 px blocks of another quadrant**: the baseline as in
  ``generate.py --held-out``, built from data the reference does not contain;
* **shuffled 32 px blocks of the reference itself**: the baseline as in the
  whole-image benchmark, built from the scored image's own pixels;
* **phase-randomised noise** of another quadrant and of the reference itself.

Each row is the mean ± sd over the 12 (reference, other quadrant) pairs (the
"itself" rows: one draw per pair, 12 draws). Pyramid levels, finest first, as in
generate.py.

``--ours SECONDS`` adds ImageGAN (texture mode; defaults, or ``--texture-options``) to
the table: one generator is trained for SECONDS on the top half of the image
(quadrants 1 and 2) and one on the bottom half, and each generates a 256 x 256
texture per pair (seed never used in training) that is scored against the quadrants
of the other half, which it never saw.
Every row then uses those 8 cross-half pairs only (the baselines' "another quadrant"
is a quadrant of the half the generator learned from).

    python bench/texture_references.py                 # ~20 min on 2 CPU cores
    python bench/texture_references.py --only grass,gravel --ours 300   # ~45 min
    python bench/texture_references.py --only grass --quick   # smoke run (~1 min)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from generate import (  # this folder's benchmark
    OUT,
    SEED_EVAL,
    TEXTURES,
    phase_randomised,
    shuffled_blocks,
    summarise_swd,
)
from skimage import data

import napari_gan as ng
from napari_gan.core import metrics

ROWS = (
    "another real quadrant",
    "shuffled blocks of another quadrant",
    "shuffled blocks of the reference itself",
    "phase noise of another quadrant",
    "phase noise of the reference itself",
)
OURS = "ours (ImageGAN trained on the other half)"


def quadrants(image: np.ndarray) -> list[np.ndarray]:
    h, w = image.shape[0] // 2, image.shape[1] // 2
    return [image[:h, :w], image[:h, w : 2 * w], image[h : 2 * h, :w], image[h : 2 * h, w : 2 * w]]


def train_halves(quads: list[np.ndarray], seconds: float, options: dict) -> dict[int, np.ndarray]:
    """One texture generator per half (top: quadrants 0, 1; bottom: 2, 3), trained for
    ``seconds``; -> for every reference quadrant, two textures of its size from the
    generator of the other half."""
    out = {}
    for half in ((0, 1), (2, 3)):
        source = np.concatenate([quads[half[0]], quads[half[1]]], axis=1)
        gan = ng.ImageGAN(mode="texture", **options)
        gan.fit(source, max_steps=10_000_000, time_limit=seconds, seed=0)
        refs = [r for r in range(4) if r not in half]
        textures = gan.generate(2 * len(refs), seed=SEED_EVAL, size=quads[0].shape)
        for k, r in enumerate(refs):
            out[r] = textures[2 * k : 2 * k + 2]
        rate = gan.steps_trained / max(gan.history[-1]["elapsed"], 1e-9)
        print(f"  generator on quadrants {half[0] + 1}, {half[1] + 1}: {gan.steps_trained} steps, {rate:.2f} steps/s")
    return out


def measure(name: str, opts: dict, block: int, quick: bool, ours_seconds: float | None, options: dict) -> dict:
    image = getattr(data, name)().astype(np.float64)
    if quick:
        image = image[:256, :256]
    quads = quadrants(image)
    rng = np.random.default_rng(0)
    ours = train_halves([q.astype(np.float32) for q in quads], ours_seconds, options) if ours_seconds else None
    scores = {row: [] for row in ROWS + ((OURS,) if ours else ())}
    for r, ref in enumerate(quads):
        others = [i for i in range(4) if i != r and (ours is None or (i < 2) != (r < 2))]
        for k, i in enumerate(others):
            other = quads[i]
            candidates = {
                ROWS[0]: other,
                ROWS[1]: shuffled_blocks(other[None], block, rng)[0],
                ROWS[2]: shuffled_blocks(ref[None], block, rng)[0],
                ROWS[3]: phase_randomised(other, rng),
                ROWS[4]: phase_randomised(ref, rng),
            }
            if ours:
                candidates[OURS] = ours[r][k]
            for row, img in candidates.items():
                scores[row].append(metrics.sliced_wasserstein(img, ref, **opts))
        print(f"{name}: reference quadrant {r + 1}/4 done", flush=True)
    return {row: summarise_swd(each) for row, each in scores.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(TEXTURES), help="comma list of textures")
    ap.add_argument("--quick", action="store_true", help="fewer descriptors and 128 px quadrants: checks the script")
    ap.add_argument(
        "--ours", type=float, default=None, metavar="SECONDS", help="also train ImageGAN on each half for SECONDS"
    )
    ap.add_argument(
        "--texture-options", default="{}", help="with --ours: ImageGAN options as JSON, e.g. '{\"batch_size\": 4}'"
    )
    ap.add_argument("--json", default=str(OUT / "texture_references.json"), help="where to write the raw numbers")
    args = ap.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(TEXTURES))
    if unknown:
        ap.error(f"unknown textures {unknown}; choose from {TEXTURES}")
    if args.quick:
        opts, block = {"n_descriptors": 2048, "n_projections": 128, "levels": 4}, 16
    else:  # generate.py's options; 5 levels, as its floor of 256-px-wide halves has
        opts, block = {"n_descriptors": 8192, "n_projections": 512, "levels": 5}, 32
    options = json.loads(args.texture_options)
    results = {name: measure(name, opts, block, args.quick, args.ours, options) for name in only}
    pairs = len(next(iter(results.values()))[ROWS[0]]["swd_samples"]) if results else 0

    print()
    head = f"SWD x1e3 (mean ± sd of {pairs})"
    print(f"| data | compared with the reference quadrant | {head} | per level (finest first) |")
    print("|---|---|---|---|")
    for name, rows in results.items():
        for row, r in rows.items():
            label = row.replace("blocks", f"{block} px blocks")
            levels = " / ".join(f"{v:.1f}" for v in r["swd_levels"])
            print(f"| {name} | {label} | {r['swd']:.1f} ± {r['swd_sd']:.1f} | {levels} |")
    results["conditions"] = {
        "swd_options": opts,
        "block": block,
        "quick": args.quick,
        "ours_seconds": args.ours,
        "texture_options": options,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
