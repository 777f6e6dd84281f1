"""What the last step of the texture refinement (``core/patchdist.polish``) should match:
the whole histogram of the example, or only the histogram of its fine detail.

The same generator and the same two refined layouts per texture, polished three
ways, so the comparison is paired (no training noise between the rows):

* without the polish;
* the whole histogram: ``skimage.exposure.match_histograms`` of the image onto the
  example, then 10 steps of patch-distribution matching (the polish until 2026-12-06);
* the detail: the same with only the histogram of the detail above a Gaussian of
  sigma pixels matched (``patchdist.match_detail``, the default; ``--sigmas``: the
  scales to compare, default ``patchdist.DETAIL_SIGMA``).

Scored as in bench/textures.py (top 256 rows of each 512 x 512 texture train, the two
bottom 256 x 256 quadrants are the reference; classifier test on 32 px crops, 3 seeds,
300 steps; 0.5 = indistinguishable). Then small examples with no held-out region
(a 128 px crop of ``coins``, the 102 px ``microaneurysms``), shown for the eye only:
where the generator's layout holds less of the example's dark or bright structure
than the example does, matching the whole histogram stretches the background into
blotches.

Writes bench/out/texture_polish.json and bench/out/texture_polish.png (per row:
reference or example | without the polish | whole histogram | detail, per sigma).

    python bench/texture_polish.py                      # 4 textures x 120 s + 2 examples x 60 s, ~30 min on 2 CPU cores
    python bench/texture_polish.py --only grass --seconds 20 --examples ""   # smoke run
"""

from __future__ import annotations

import argparse
import json

import numpy as np
from generate import OUT, SEED_EVAL, to_uint8
from skimage import data
from skimage.exposure import match_histograms
from skimage.io import imsave
from textures import texture

import napari_gan as ng
from napari_gan.core import metrics, patchdist
from napari_gan.core.tasks import _gan_texture as texture_module

FIXED = ("without the polish", "whole histogram")
EXAMPLES = {
    "coins": lambda: data.coins()[150:278, 100:228],
    "microaneurysms": data.microaneurysms,
}


def variants(sigmas: list[float]) -> list[str]:
    return [*FIXED, *(f"detail, sigma {s:g}" for s in sigmas)]


def polished(gan, n: int, size: tuple[int, int], sigmas: list[float]) -> dict[str, list[np.ndarray]]:
    """``n`` refined textures of ``gan`` (seed SEED_EVAL) under each variant."""
    out = {}
    polish, detail = texture_module.polish, patchdist.match_detail
    for variant, sigma in zip(variants(sigmas), [None, None, *sigmas]):
        if variant == "without the polish":
            texture_module.polish = lambda source, image, seed=0, progress=None: image
        elif variant == "whole histogram":
            patchdist.match_detail = lambda image, source: match_histograms(image, source, channel_axis=0)
        else:
            patchdist.match_detail = lambda image, source, sigma=sigma: detail(image, source, sigma)
        try:
            out[variant] = list(gan.generate(n, seed=SEED_EVAL, size=size))
        finally:
            texture_module.polish, patchdist.match_detail = polish, detail
    return out


def row_picture(first: np.ndarray, images: list[np.ndarray], lo: float, hi: float, side: int) -> np.ndarray:
    tiles = []
    for a in [first, *images]:
        tile = np.full((side, side), 255, np.uint8)
        crop = to_uint8(a, lo, hi)[:side, :side]
        tile[: crop.shape[0], : crop.shape[1]] = crop
        tiles.append(np.pad(tile, ((0, 6), (0, 6)), constant_values=255))
    return np.concatenate(tiles, axis=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="brick,grass,gravel,histology", help="comma list of textures (bench/textures.py)")
    ap.add_argument("--seconds", type=float, default=120.0, help="training time per texture")
    ap.add_argument("--examples", default=",".join(EXAMPLES), help="comma list of small examples, shown only")
    ap.add_argument("--example-seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument(
        "--sigmas", default=f"{patchdist.DETAIL_SIGMA:g}", help="comma list of detail scales (pixels) to compare"
    )
    args = ap.parse_args()
    sigmas = [float(s) for s in args.sigmas.split(",") if s]
    names = variants(sigmas)
    results, pictures = {}, []
    side = 256
    for name in [s for s in args.only.split(",") if s]:
        image = texture(name)
        train, held = image[:side, : 2 * side], image[side : 2 * side, : 2 * side]
        reference = [held[:, :side], held[:, side:]]
        gan = ng.ImageGAN(mode="texture").fit(train, time_limit=args.seconds, seed=args.seed)
        rows = polished(gan, 2, (side, side), sigmas)
        results[name] = {"steps": gan.steps_trained}
        for variant, images in rows.items():
            c2st = metrics.classifier_test(images, reference, steps=300, seeds=3)
            results[name][variant] = {"c2st": c2st.accuracy, "c2st_seeds": list(c2st.per_seed)}
            print(f"{name}: {variant}: classifier test {c2st.accuracy:.3f}", flush=True)
        lo, hi = np.percentile(train, [0.5, 99.5])
        pictures.append(row_picture(reference[0], [rows[v][0] for v in names], lo, hi, side))
    for name in [s for s in args.examples.split(",") if s]:
        example = np.asarray(EXAMPLES[name](), np.float32)
        gan = ng.ImageGAN(mode="texture").fit(example, time_limit=args.example_seconds, seed=args.seed)
        rows = polished(gan, 1, (side, side), sigmas)
        results[name] = {"steps": gan.steps_trained, "shown only": True}
        lo, hi = np.percentile(example, [0.5, 99.5])
        pictures.append(row_picture(example, [rows[v][0] for v in names], lo, hi, side))
    print()
    print(f"| texture | steps | {' | '.join(names)} |")
    print("|---|---|" + "---|" * len(names))
    for name, r in results.items():
        if not r.get("shown only"):
            print(f"| {name} | {r['steps']} | " + " | ".join(f"{r[v]['c2st']:.3f}" for v in names) + " |")
    OUT.mkdir(parents=True, exist_ok=True)
    width = max(p.shape[1] for p in pictures)
    grid = np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1])), constant_values=255) for p in pictures])
    imsave(OUT / "texture_polish.png", grid, check_contrast=False)
    results["conditions"] = vars(args) | {"detail_sigma": patchdist.DETAIL_SIGMA}
    (OUT / "texture_polish.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
