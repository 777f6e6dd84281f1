"""Whether the refinement's patch synthesis gives its start (the reorganised layout)
the example's detail before the search (``patchsynth.synthesize(start_detail=True)``,
the default since 2026-12-06), and how exactly.

The layout is softer than the example: at the synthesis's coarsest level (a quarter
of the size) its detail above a 2 px Gaussian has less RMS than the example's there
(printed per texture as "the layouts' detail at the coarsest level"). So
the nearest patches are the example's soft ones, and its crisp ones are rarely
copied. The same generators, the same layouts (made once per seed) and the same
seeds for every row, so the comparison is paired:

* the start as it is (``start_detail=False``; the default until 2026-12-06);
* its detail given the example's histogram at the coarsest level exactly (the default);
* the same with the stretch limited to 1.5x the overall one
  (``patchdist.limited_match``, as the polish does).

Scored as in bench/textures.py (top 256 rows of each 512 x 512 texture train, the two
bottom 256 x 256 quadrants are the reference; classifier test on 32 px crops, 3 seeds,
300 steps, 0.5 = indistinguishable; ``copied``: ``metrics.memorisation_distance`` of
16 px patches to the training half).

Writes bench/out/texture_start.json and bench/out/texture_start.png (per texture:
reference | each row, in the order above).

    python bench/textures.py --only brick,grass,gravel,histology --save-models bench/out/texture_models  # generators
    python bench/texture_start.py --models bench/out/texture_models --n 4   # ~25 min on 2 CPU cores
    python bench/texture_start.py --only grass --seconds 20 --n 1           # smoke run, trains its own
"""

from __future__ import annotations

import functools
import json
import time
from contextlib import contextmanager

import numpy as np
from generate import OUT, panel_row
from paired import SIDE, arguments, generators, print_row, print_table, save_grid, score_row
from scipy import ndimage as ndi

from napari_gan.core import patchdist, patchsynth
from napari_gan.core.tasks import _gan_texture as texture_module

SEED = 4321  # generation seed, never used in training
ROWS = {"start as it is": None, "detail matched (default)": "exact", "detail matched, stretch 1.5": 1.5}


@contextmanager
def start_rule(rule):
    """The refinement's synthesis with its start left as it is (``rule`` None),
    matched exactly (``"exact"``) or with its stretch limited to ``rule``."""
    synthesize, ranked = texture_module.synthesize, patchsynth._ranked
    if rule is None:
        texture_module.synthesize = functools.partial(synthesize, start_detail=False)
    elif rule != "exact":
        patchsynth._ranked = lambda values, reference: patchdist.limited_match(values, reference, rule)
    try:
        yield
    finally:
        texture_module.synthesize, patchsynth._ranked = synthesize, ranked


def coarse_contrast(image: np.ndarray) -> float:
    """RMS of ``image``'s (C, Y, X) detail above a Gaussian of ``patchsynth.START_SIGMA``
    pixels at the synthesis's coarsest level (2x2 means, ``REFINE_LEVELS - 1`` times)."""
    f = 2 ** (texture_module.REFINE_LEVELS - 1)
    c, h, w = image.shape
    small = image[:, : h - h % f, : w - w % f].reshape(c, h // f, f, w // f, f).mean(axis=(2, 4))
    sigma = (0, patchsynth.START_SIGMA, patchsynth.START_SIGMA)
    return float(np.sqrt(np.mean((small - ndi.gaussian_filter(small, sigma)) ** 2)))


@contextmanager
def layouts_once(contrasts: list[float]):
    """``_gan_texture.example_layout`` computed once per (example, size, seed): every
    row starts from the same layouts, and they cost their time once. Appends to
    ``contrasts`` each new layout's :func:`coarse_contrast` over the example's."""
    made, keep = {}, texture_module.example_layout

    def cached(example, size, seed, *, start=None, progress=None):
        key = (example.tobytes(), tuple(size), seed, None if start is None else start.tobytes())
        if key not in made:
            made[key] = keep(example, size, seed, start=start, progress=progress)
            contrasts.append(coarse_contrast(np.clip(made[key], -1, 1)) / coarse_contrast(example))
        return made[key]

    texture_module.example_layout = cached
    try:
        yield
    finally:
        texture_module.example_layout = keep


def main():
    args = arguments(__doc__, n=4)
    results, pictures = {}, []
    for name, train, reference, gan in generators(args):
        results[name] = {"steps": gan.steps_trained}
        shown, contrasts = [], []
        with layouts_once(contrasts):
            for row, rule in ROWS.items():
                t0 = time.perf_counter()
                with start_rule(rule):
                    images = list(gan.generate(args.n, seed=SEED, size=(SIDE, SIDE)))
                seconds = (time.perf_counter() - t0) / args.n
                results[name][row] = r = score_row(images, reference, train, seconds)
                print_row(name, row, r)
                shown.append(images[0])
        results[name]["layout_contrast"] = ratio = float(np.mean(contrasts))
        print(f"{name}: the layouts' detail at the coarsest level: {ratio:.2f} of the example's", flush=True)
        lo, hi = np.percentile(train, [0.5, 99.5])
        pictures.append(panel_row([reference[0], *shown], lo, hi))
    print_table(results, ROWS)
    OUT.mkdir(parents=True, exist_ok=True)
    save_grid(pictures, OUT / "texture_start.png")
    results["conditions"] = vars(args) | {"seed": SEED, "start_sigma": patchsynth.START_SIGMA}
    (OUT / "texture_start.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
