"""Can a refined texture copy less of its example and still look like it?

The default refinement (``ImageGAN.generate(refine=True)``: patch synthesis from the
generator's layout, then ``patchdist.polish``) is made of the example's own pieces,
so many of its 16 px patches are copies (bench/textures.py's *copied*). This
compares it, on one texture and one trained generator, with refinements of the same
generator layouts that copy less:

* *longer polish*: the same patch synthesis, then 60 polish steps instead of 10;
* *GPDM from the layout, 100 steps per level*: no patch synthesis; the generator's
  layout, taken at half the size, optimised coarse to fine by patch-distribution
  matching (``patchdist.match_patches``, the authors' settings, 100 Adam steps per
  pyramid level from half size to full size), then the example's histogram;
* *GPDM from the layout, 60 s*: the same from a quarter of the size, its steps cut
  to about 60 s per image.

Each row is two 256 x 256 images from the same two generator layouts, scored as in
bench/textures.py (training half: the top 256 rows; reference: the bottom two
quadrants): classifier test (0.5 = indistinguishable), copied share of 16 px patches,
nearest-neighbour ratio (about 1 without copying), and seconds per image. Writes
bench/out/texture_copies_<texture>.png: reference | default | longer polish | GPDM
from the layout (100 steps per level) | GPDM from the layout (60 s).

    python bench/texture_copies.py                    # gravel: 300 s training + ~25 min
    python bench/texture_copies.py --only grass
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from generate import OUT, SEED_EVAL, panel_row
from skimage.io import imsave
from textures import TEXTURES, halves, texture

import napari_gan as ng
from napari_gan.core import metrics
from napari_gan.core.patchdist import match_patches, polish
from napari_gan.core.patchsynth import synthesize
from napari_gan.core.tasks._gan_texture import REFINE_LEVELS, refine

SIDE = 256


def variants(example: np.ndarray, layout: np.ndarray, seed: int) -> dict:
    """The refinements of one generator ``layout`` (C, Y, X in [-1, 1]), name -> (image, seconds)."""
    size = layout.shape[1:]
    half = size[0] // 2

    def synthesis():
        return synthesize(example, size, start=np.clip(layout, -1, 1), levels=REFINE_LEVELS, seed=seed)

    makers = {
        "ours, refined (default)": lambda: refine(example, layout, seed=seed),
        "longer polish (60 steps)": lambda: polish(example, synthesis(), steps=60, seed=seed),
        "GPDM from the layout, 100 steps per level": lambda: polish(
            example, match_patches(example, size, start=layout, start_height=half, steps=100, seed=seed), steps=0
        ),
        "GPDM from the layout, 60 s": lambda: polish(
            example, match_patches(example, size, start=layout, seconds=60, seed=seed), steps=0
        ),
    }
    out = {}
    for name, make in makers.items():
        t0 = time.perf_counter()
        image = make()
        out[name] = (image, time.perf_counter() - t0)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="gravel", choices=TEXTURES)
    ap.add_argument("--seconds", type=float, default=300.0, help="ImageGAN training time")
    ap.add_argument("--model", help="a texture model saved from this texture's top half, instead of training")
    args = ap.parse_args()
    image = texture(args.only)
    train, reference = halves(image, SIDE)
    if args.model:
        gan = ng.load_model(args.model)
    else:
        gan = ng.ImageGAN(mode="texture")
        gan.fit(train, time_limit=args.seconds, seed=0)
    print(f"{args.only}: generator trained {gan.steps_trained} steps", flush=True)
    example = gan.net["exemplar"].image.cpu().numpy()
    low, high = float(gan.low), float(gan.high)
    layouts = gan.generate(2, seed=SEED_EVAL, size=(SIDE, SIDE), refine=False)
    rows: dict[str, list] = {}
    for k, layout in enumerate(layouts):
        scaled = ((layout - low) / (high - low) * 2 - 1)[None].astype(np.float32)
        for name, (out, seconds) in variants(example, scaled, SEED_EVAL * 7919 + k).items():
            rows.setdefault(name, []).append(((np.clip(out[0], -1, 1) + 1) / 2 * (high - low) + low, seconds))
            print(f"{args.only}: {name}, image {k}: {seconds:.1f} s", flush=True)
    print()
    print(f"| {args.only} | classifier test | copied | NN ratio | s per image |")
    print("|---|---|---|---|---|")
    real = [train[:, :SIDE], train[:, SIDE:]]
    c2st = metrics.classifier_test(real, reference, steps=300, seeds=3)
    print(f"| real (another region: floor) | {c2st.accuracy:.3f} | | | |")
    for name, items in rows.items():
        images = [im for im, _ in items]
        c2st = metrics.classifier_test(images, reference, steps=300, seeds=3)
        mem = metrics.memorisation_distance(images, train, n_patches=1000)
        seconds = np.mean([s for _, s in items])
        print(f"| {name} | {c2st.accuracy:.3f} | {mem['copied_fraction']:.3f} | {mem['ratio']:.2f} | {seconds:.1f} |")
    lo, hi = np.percentile(image, [0.5, 99.5])
    OUT.mkdir(parents=True, exist_ok=True)
    panels = [reference[0]] + [items[0][0] for items in rows.values()]
    imsave(OUT / f"texture_copies_{args.only}.png", panel_row(panels, lo, hi), check_contrast=False)


if __name__ == "__main__":
    main()
