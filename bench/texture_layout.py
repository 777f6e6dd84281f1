"""Where a refined texture's layout comes from: the generator as it is, or the
generator's layout reorganised by patch-distribution matching at a quarter of the
size (``_gan_texture.example_layout`` started from it; the default since 2026-12-06).

The same generators and the same seeds for every row, so the comparison is paired
(no training noise between the rows):

* the generator's layout, refined (patch synthesis and the polish; the default until
  2026-12-06);
* the generator's layout reorganised, refined (the default);
* the example's layout, refined (``generate(refine="example")``: the same matching
  from noise, without the generator).

Scored as in bench/textures.py (top 256 rows of each 512 x 512 texture train, the two
bottom 256 x 256 quadrants are the reference; classifier test on 32 px crops, 3 seeds,
300 steps; 0.5 = indistinguishable), on ``--n`` images per row. Then the time of one
refined texture per size (``--sizes``), with and without the reorganised layout.

Writes bench/out/texture_layout.json and bench/out/texture_layout.png (per texture:
reference | generator's layout | reorganised | example's layout).

    python bench/textures.py --only brick,grass,gravel,histology --save-models bench/out/texture_models  # generators
    python bench/texture_layout.py --models bench/out/texture_models --n 4 --sizes 256,512   # ~40 min, 2 CPU cores
    python bench/texture_layout.py --only grass --seconds 20 --n 1 --sizes 128   # smoke run, trains its own
    python bench/texture_layout.py --models bench/out/texture_models --n 2 --sizes "" --rows example   # ~10 min
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager

import numpy as np
from generate import OUT, panel_row
from skimage.io import imsave
from textures import halves, texture, texture_generator

from napari_gan.core import metrics
from napari_gan.core.tasks import _gan_texture as texture_module

SEED = 4321  # generation seed, never used in training
ROWS = ("generator's layout", "reorganised (default)", "example's layout")
KEYS = dict(zip(("generator", "reorganised", "example"), ROWS))  # --rows


@contextmanager
def layout_max(limit: int):
    """``_gan_texture.LAYOUT_MAX`` set to ``limit`` (0: every size keeps the generator's layout)."""
    keep = texture_module.LAYOUT_MAX
    texture_module.LAYOUT_MAX = limit
    try:
        yield
    finally:
        texture_module.LAYOUT_MAX = keep


def rows_of(gan, n: int, size: tuple[int, int], rows=ROWS) -> tuple[dict[str, list[np.ndarray]], dict[str, float]]:
    """``n`` refined textures of ``gan`` per row of ``rows``, and the seconds per image."""
    out, seconds = {}, {}
    for row in rows:
        t0 = time.perf_counter()
        with layout_max(0 if row == ROWS[0] else texture_module.LAYOUT_MAX):
            out[row] = list(gan.generate(n, seed=SEED, size=size, refine="example" if row == ROWS[2] else True))
        seconds[row] = (time.perf_counter() - t0) / n
    return out, seconds


def timing(gan, sizes: list[int]) -> dict[int, dict[str, float]]:
    """Seconds for one refined texture of each size, with the generator's layout and reorganised."""
    out = {}
    for side in sizes:
        out[side] = {}
        for row, limit in ((ROWS[0], 0), (ROWS[1], max(texture_module.LAYOUT_MAX, side))):
            t0 = time.perf_counter()
            with layout_max(limit):
                gan.generate(1, seed=SEED, size=(side, side))
            out[side][row] = time.perf_counter() - t0
        print(f"{side} px: " + ", ".join(f"{k} {v:.1f} s" for k, v in out[side].items()), flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="brick,grass,gravel,histology", help="comma list of textures (bench/textures.py)")
    ap.add_argument("--models", metavar="DIR", help="load DIR/<texture>.ngan (bench/textures.py --save-models)")
    ap.add_argument("--seconds", type=float, default=300.0, help="training time per texture without --models")
    ap.add_argument("--n", type=int, default=6, help="images per row")
    ap.add_argument("--sizes", default="256,512,1024", help="comma list of sizes to time (first texture only)")
    ap.add_argument("--rows", default=",".join(KEYS), help=f"comma list of rows to make: {', '.join(KEYS)}")
    args = ap.parse_args()
    if not set(args.rows.split(",")) <= set(KEYS):
        ap.error(f"--rows takes a comma list of {', '.join(KEYS)}, got {args.rows!r}")
    chosen = [KEYS[k] for k in args.rows.split(",")]
    side = 256
    results, pictures, gans = {}, [], []
    for name in [s for s in args.only.split(",") if s]:
        image = texture(name)
        train, reference = halves(image, side)
        gan = texture_generator(name, train, args.models, args.seconds, seed=0)
        gans.append(gan)
        rows, seconds = rows_of(gan, args.n, (side, side), chosen)
        results[name] = {"steps": gan.steps_trained}
        for row, images in rows.items():
            c2st = metrics.classifier_test(images, reference, steps=300, seeds=3)
            results[name][row] = {"c2st": c2st.accuracy, "c2st_seeds": list(c2st.per_seed), "s_per_image": seconds[row]}
            print(f"{name}: {row}: classifier test {c2st.accuracy:.3f} ({seconds[row]:.1f} s per image)", flush=True)
        lo, hi = np.percentile(train, [0.5, 99.5])
        pictures.append(panel_row([reference[0], *(rows[r][0] for r in chosen)], lo, hi))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    times = timing(gans[0], sizes) if sizes and gans else {}
    print()
    print(f"| texture | steps | {' | '.join(chosen)} |")
    print("|---|---|" + "---|" * len(chosen))
    for name, r in results.items():
        print(f"| {name} | {r['steps']} | " + " | ".join(f"{r[row]['c2st']:.3f}" for row in chosen) + " |")
    if times:
        print()
        print(f"| size | {ROWS[0]}, s | {ROWS[1]}, s |")
        print("|---|---|---|")
        for s, t in times.items():
            print(f"| {s} | {t[ROWS[0]]:.1f} | {t[ROWS[1]]:.1f} |")
    OUT.mkdir(parents=True, exist_ok=True)
    width = max(p.shape[1] for p in pictures)
    grid = np.concatenate([np.pad(p, ((0, 6), (0, width - p.shape[1])), constant_values=255) for p in pictures])
    imsave(OUT / "texture_layout.png", grid, check_contrast=False)
    results["timing_s"] = {str(k): v for k, v in times.items()}
    results["conditions"] = vars(args) | {"layout_max": texture_module.LAYOUT_MAX, "seed": SEED}
    (OUT / "texture_layout.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
