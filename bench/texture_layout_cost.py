"""What the refinement's layout costs, and what a cheaper one gives.

Making the layout (``_gan_texture.example_layout``: patch-distribution matching of the
example at a quarter of the size, started from the generator's layout) takes most of
a refined texture's time: with the authors' settings, 300 Adam steps at each of about
eight pyramid levels, each step comparing with all the example's patches. Paired rows
(the same generators and seeds; only the layout's matching differs, through
``_gan_texture.LAYOUT_STEPS`` and ``LAYOUT_SUBSAMPLE``):

* the authors' settings (the default until 2026-12-07): 300 steps per level, all the
  example's patches;
* subsampled (the default since 2026-12-07): each step compares with a random
  subset of the example's patches of the layout's count
  (``match_patches(subsample=True)``: an unbiased estimate, cheaper to sort);
* fewer steps as well: 100 steps per level, subsampled (the matching starts from
  the generator's layout, not from noise).

The third scored alike here too but, in ``tests/test_core_texture.py``, leaves a
barely trained generator's rows bent, so the default is the second.

Scored as in bench/textures.py (top 256 rows of each 512 x 512 texture train, the two
bottom 256 x 256 quadrants are the reference; classifier test on 32 px crops, 3 seeds,
300 steps, 0.5 = indistinguishable; ``copied``: ``metrics.memorisation_distance`` of
16 px patches to the training half), on ``--n`` images per row, with the seconds per
refined image.

Writes bench/out/texture_layout_cost.json and bench/out/texture_layout_cost.png (per
texture: reference | each row, in the order above).

    python bench/textures.py --only brick,grass,gravel,histology --save-models bench/out/texture_models  # generators
    python bench/texture_layout_cost.py --models bench/out/texture_models --n 3   # ~20 min on 2 CPU cores
    python bench/texture_layout_cost.py --only grass --seconds 20 --n 1           # smoke run, trains its own
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager

import numpy as np
from generate import OUT, panel_row
from paired import SIDE, arguments, generators, print_row, print_table, save_grid, score_row

from napari_gan.core.tasks import _gan_texture as texture_module

SEED = 4321  # generation seed, never used in training
#: row -> (``LAYOUT_STEPS``, ``LAYOUT_SUBSAMPLE``)
ROWS = {
    "300 steps, all patches": (300, False),
    "300 steps, subsampled (default)": (300, True),
    "100 steps, subsampled": (100, True),
}


@contextmanager
def layout_matching(steps: int, subsample: bool):
    """The layout's matching from the generator's layout with ``steps`` per level and ``subsample``."""
    keep = texture_module.LAYOUT_STEPS, texture_module.LAYOUT_SUBSAMPLE
    texture_module.LAYOUT_STEPS, texture_module.LAYOUT_SUBSAMPLE = steps, subsample
    try:
        yield
    finally:
        texture_module.LAYOUT_STEPS, texture_module.LAYOUT_SUBSAMPLE = keep


def main():
    args = arguments(__doc__, n=3)
    results, pictures = {}, []
    for name, train, reference, gan in generators(args):
        results[name] = {"steps": gan.steps_trained}
        shown = []
        for row, options in ROWS.items():
            t0 = time.perf_counter()
            with layout_matching(*options):
                images = list(gan.generate(args.n, seed=SEED, size=(SIDE, SIDE)))
            seconds = (time.perf_counter() - t0) / args.n
            results[name][row] = r = score_row(images, reference, train, seconds)
            print_row(name, row, r)
            shown.append(images[0])
        lo, hi = np.percentile(train, [0.5, 99.5])
        pictures.append(panel_row([reference[0], *shown], lo, hi))
    print_table(results, ROWS)
    OUT.mkdir(parents=True, exist_ok=True)
    save_grid(pictures, OUT / "texture_layout_cost.png")
    results["conditions"] = vars(args) | {"seed": SEED, "rows": ROWS}
    (OUT / "texture_layout_cost.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
