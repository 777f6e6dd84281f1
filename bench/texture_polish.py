"""What the last step of the texture refinement (``core/patchdist.polish``) should match:
the whole histogram of the example, or only the histogram of its fine detail, how
far that match may stretch the detail's values, and how many steps of
patch-distribution matching follow.

The same generator and the same refined textures before their polish (``--n`` per
texture), polished each way, so the comparison is paired (no training or layout
noise between the rows):

* without the polish;
* the whole histogram: ``skimage.exposure.match_histograms`` of the image onto the
  example, then 10 steps of patch-distribution matching (the polish until 2026-12-06);
* the detail: the same with only the histogram of the detail above a Gaussian of
  sigma pixels matched (``patchdist.match_detail``; ``--sigmas``: the scales to
  compare, default ``patchdist.DETAIL_SIGMA``), exactly or with its stretch limited
  (``--stretches``: ``match_detail``'s ``gain``, ``exact`` for none; default: exact
  and ``patchdist.DETAIL_GAIN``), each with every step count of ``--steps`` (default
  ``patchdist.POLISH_STEPS``); with ``--area-lifts``, each also with the matching's
  lifts of whole areas kept (``patchdist.undo_area_lifts``, which the polish applies,
  turned off).

Scored as in bench/textures.py (top 256 rows of each 512 x 512 texture train, the two
bottom 256 x 256 quadrants are the reference; classifier test on 32 px crops, 3 seeds,
300 steps; 0.5 = indistinguishable), with patch SWD and the share of copied patches
as bench/textures.py scores them, and the polish's seconds per image. Then small
examples with no held-out region (a 128 px crop of ``coins``, the 102 px
``microaneurysms``), shown for the eye only:
where the generator's layout holds less of the example's dark or bright structure
than the example does, matching the whole histogram stretches the background into
blotches.

Writes bench/out/texture_polish.json and bench/out/texture_polish.png (per row:
reference or example | each variant, in the order above).

    python bench/texture_polish.py                      # 4 textures x 120 s + 2 examples x 60 s, ~30 min on 2 CPU cores
    python bench/textures.py --only brick,grass,gravel,histology --save-models bench/out/texture_models  # generators
    python bench/texture_polish.py --models bench/out/texture_models --n 4 --stretches exact,2,1.5,1.25   # ~30 min
    python bench/texture_polish.py --only grass --seconds 20 --examples "" --n 1   # smoke run
    python bench/texture_polish.py --only histology,grass,gravel,moon,brick,wall,hubble --seconds 300 \
        --examples "" --stretches 1.5 --steps 10,60    # the polish's length, ~90 min
    python bench/texture_polish.py --models bench/out/texture_models --examples "" --stretches 1.5 --area-lifts
        # the lifts of whole areas undone (the default) or kept, on saved generators
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from generate import OUT, SEED_EVAL, to_uint8
from skimage import data
from skimage.exposure import match_histograms
from skimage.io import imsave
from textures import halves, model_units, score, texture, texture_generator

import napari_gan as ng
from napari_gan.core import patchdist
from napari_gan.core.tasks import _gan_texture as texture_module

FIXED = ("without the polish", "whole histogram")
EXAMPLES = {
    "coins": lambda: data.coins()[150:278, 100:228],
    "microaneurysms": data.microaneurysms,
}


def gain_name(gain: float | None) -> str:
    return "exact" if gain is None else f"{gain:g}"


def variants(sigmas: list[float], gains: list[float | None], steps: list[int], lifts: bool = False) -> dict[str, dict]:
    """Each variant's name, the ``match_detail`` the polish uses under it and its
    steps (None: no polish at all); ``lifts``: each also with the matching's lifts of
    whole areas kept (``patchdist.undo_area_lifts`` off)."""
    out = {FIXED[0]: None, FIXED[1]: {"whole": True, "steps": patchdist.POLISH_STEPS}}
    for sigma in sigmas:
        for gain in gains:
            for n in steps:
                name = f"detail, sigma {sigma:g}, stretch {gain_name(gain)}"
                name += f", {n} steps" if len(steps) > 1 else ""
                out[name] = {"sigma": sigma, "gain": gain, "steps": n}
                if lifts:
                    out[name + ", area lifts kept"] = {"sigma": sigma, "gain": gain, "steps": n, "keep_lifts": True}
    return out


def unpolished(gan, n: int, size: tuple[int, int]) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """(example, refined texture before its polish, seed) for ``n`` textures of ``gan``
    (seed SEED_EVAL): the polish variants then start from the same images."""
    captured = []

    def capture(source, image, seed=0, progress=None):
        captured.append((source, image, seed))
        return image

    keep = texture_module.polish
    texture_module.polish = capture
    try:
        gan.generate(n, seed=SEED_EVAL, size=size)
    finally:
        texture_module.polish = keep
    return captured


def polished(start: list[tuple[np.ndarray, np.ndarray, int]], how: dict | None, gan) -> list[np.ndarray]:
    """The textures of :func:`unpolished` polished ``how``, in the image's units."""
    detail, undo = patchdist.match_detail, patchdist.undo_area_lifts
    if how is not None and how.get("keep_lifts"):
        patchdist.undo_area_lifts = lambda change: change
    if how is not None and how.get("whole"):
        patchdist.match_detail = lambda image, source: match_histograms(image, source, channel_axis=0)
    elif how is not None:
        patchdist.match_detail = lambda image, source: detail(image, source, how["sigma"], how["gain"])
    try:
        images = [
            image if how is None else patchdist.polish(src, image, seed=seed, steps=how["steps"])
            for src, image, seed in start
        ]
    finally:
        patchdist.match_detail, patchdist.undo_area_lifts = detail, undo
    return [model_units(gan, a) for a in images]


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
    ap.add_argument("--models", metavar="DIR", help="load DIR/<texture>.ngan (bench/textures.py --save-models)")
    ap.add_argument("--n", type=int, default=2, help="textures per variant")
    ap.add_argument("--examples", default=",".join(EXAMPLES), help="comma list of small examples, shown only")
    ap.add_argument("--example-seconds", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0, help="training seed")
    ap.add_argument(
        "--sigmas", default=f"{patchdist.DETAIL_SIGMA:g}", help="comma list of detail scales (pixels) to compare"
    )
    ap.add_argument(
        "--stretches",
        default=f"exact,{gain_name(patchdist.DETAIL_GAIN)}",
        help="comma list of the detail's stretch limits to compare (patchdist.match_detail's gain; exact: none)",
    )
    ap.add_argument(
        "--steps", default=str(patchdist.POLISH_STEPS), help="comma list of the polish's step counts to compare"
    )
    ap.add_argument(
        "--area-lifts", action="store_true", help="also each variant with the matching's lifts of whole areas kept"
    )
    args = ap.parse_args()
    sigmas = [float(s) for s in args.sigmas.split(",") if s]
    gains = [None if g == "exact" else float(g) for g in args.stretches.split(",") if g]
    ways = variants(sigmas, gains, [int(n) for n in args.steps.split(",") if n], args.area_lifts)
    results, pictures = {}, []
    side = 256
    for name in [s for s in args.only.split(",") if s]:
        image = texture(name)
        train, reference = halves(image, side)
        gan = texture_generator(name, train, args.models, args.seconds, seed=args.seed)
        start = unpolished(gan, args.n, (side, side))
        results[name] = {"steps": gan.steps_trained}
        shown = []
        for variant, how in ways.items():
            t0 = time.perf_counter()
            images = polished(start, how, gan)
            seconds = (time.perf_counter() - t0) / len(images)
            results[name][variant] = score(images, reference, train, {}, quick=False) | {"seconds": seconds}
            r = results[name][variant]
            print(
                f"{name}: {variant}: classifier test {r['c2st']:.3f}, copied {r['copied']:.3f}, {seconds:.1f} s",
                flush=True,
            )
            shown.append(images[0])
        lo, hi = np.percentile(train, [0.5, 99.5])
        pictures.append(row_picture(reference[0], shown, lo, hi, side))
    for name in [s for s in args.examples.split(",") if s]:
        example = np.asarray(EXAMPLES[name](), np.float32)
        gan = ng.ImageGAN(mode="texture").fit(example, time_limit=args.example_seconds, seed=args.seed)
        start = unpolished(gan, 1, (side, side))
        results[name] = {"steps": gan.steps_trained, "shown only": True}
        lo, hi = np.percentile(example, [0.5, 99.5])
        pictures.append(row_picture(example, [polished(start, how, gan)[0] for how in ways.values()], lo, hi, side))
    print()
    print(f"| texture | steps | {' | '.join(ways)} |")
    print("|---|---|" + "---|" * len(ways))
    for name, r in results.items():
        if not r.get("shown only"):
            cells = (f"{r[v]['c2st']:.3f} ({r[v]['copied']:.0%} copied, {r[v]['seconds']:.0f} s)" for v in ways)
            print(f"| {name} | {r['steps']} | " + " | ".join(cells) + " |")
    OUT.mkdir(parents=True, exist_ok=True)
    width = max(p.shape[1] for p in pictures)
    grid = np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1])), constant_values=255) for p in pictures])
    imsave(OUT / "texture_polish.png", grid, check_contrast=False)
    results["conditions"] = vars(args) | {"detail_sigma": patchdist.DETAIL_SIGMA, "detail_gain": patchdist.DETAIL_GAIN}
    (OUT / "texture_polish.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
