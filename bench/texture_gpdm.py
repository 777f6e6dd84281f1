"""GPDM, the training-free baseline, at equal time and as its authors run it.

bench/textures.py gives GPDM (``napari_gan.core.patchdist.match_patches``) the CPU
seconds our texture costs (half its training time plus its refinement, per image).
On 2 CPU cores that buys a 256 px image far fewer than the authors' 300 Adam steps
per pyramid level: ``match_patches(seconds=...)`` lowers the steps equally at every
level (the authors' ``--num_steps``), and the output is then not converged. This
script puts three rows side by side, the same seeds for both GPDM rows:

* ours: ``generate()`` of a saved texture generator (refined, the default);
* GPDM at equal time: ``--gpdm-seconds`` per image (default, as in bench/textures.py:
  half the generators' training time, ``--seconds``, which that script shares between
  its two images, plus our refinement time per image measured here);
* GPDM as its authors run it: 300 steps at every level, whatever it takes.

Scored as in bench/textures.py (top 256 rows of each 512 x 512 texture train, the two
bottom 256 x 256 quadrants are the reference; classifier test on 32 px crops, 3 seeds,
300 steps, 0.5 = indistinguishable; ``copied``: ``metrics.memorisation_distance`` of
16 px patches to the training half), with the seconds per image and GPDM's steps per
level.

Writes bench/out/texture_gpdm.json and bench/out/texture_gpdm.png (per texture, two
lines: reference | ours | GPDM at equal time | GPDM, 300 steps; then the top-left
96 px of each, 2x).

    python bench/textures.py --only brick,grass,gravel,histology --save-models bench/out/texture_models  # generators
    python bench/texture_gpdm.py --models bench/out/texture_models --only grass,gravel   # ~70 min on 2 CPU cores
    python bench/texture_gpdm.py --models bench/out/texture_models --only grass --n 1 --gpdm-seconds 175  # ~20 min
    python bench/texture_gpdm.py --only grass --seconds 10 --n 1 --authors-steps 5    # smoke run, trains its own
"""

from __future__ import annotations

import json
import time

import numpy as np
from generate import OUT, panel_row
from paired import SIDE, arguments, generators, print_row, print_table, save_grid, score_row
from textures import N

from napari_gan.core.patchdist import STEPS, match_patches, pyramid_heights

SEED = 4321  # generation seed, never used in training
ZOOM = 96  # side of the zoomed corner shown under each texture


def gpdm(train: np.ndarray, n: int, **budget) -> tuple[list[np.ndarray], float, float]:
    """``n`` GPDM textures of the bench's size from ``train`` (grey, in its own units),
    the seconds per image and the Adam steps it ran per pyramid level."""
    lo, hi = np.percentile(train, [0.5, 99.5])
    source = np.clip((train - lo) / (hi - lo) * 2 - 1, -1, 1)[None].astype(np.float32)
    calls = [0]

    def count(_fraction):
        calls[0] += 1

    t0 = time.perf_counter()
    images = [
        (match_patches(source, (SIDE, SIDE), seed=SEED + s, progress=count, **budget)[0] + 1) / 2 * (hi - lo) + lo
        for s in range(n)
    ]
    return images, (time.perf_counter() - t0) / n, calls[0] / n / len(pyramid_heights(SIDE))


def more(ap) -> None:
    ap.add_argument("--gpdm-seconds", type=float, help="GPDM's budget per image at equal time")
    ap.add_argument("--authors-steps", type=int, default=STEPS, help="steps per level of the last row")


def main():
    args = arguments(__doc__, n=2, more=more)
    rows = ("ours, refined (default)", "GPDM, equal time", f"GPDM, {args.authors_steps} steps per level")
    results, pictures = {}, []
    for name, train, reference, gan in generators(args):
        t0 = time.perf_counter()
        ours = list(gan.generate(args.n, seed=SEED, size=(SIDE, SIDE)))
        ours_s = (time.perf_counter() - t0) / args.n
        budget = args.gpdm_seconds or args.seconds / N + ours_s
        equal, equal_s, equal_steps = gpdm(train, args.n, seconds=budget)
        full, full_s, full_steps = gpdm(train, args.n, steps=args.authors_steps)
        named = dict(zip(rows, [(ours, ours_s, None), (equal, equal_s, equal_steps), (full, full_s, full_steps)]))
        results[name] = {"steps_trained": gan.steps_trained, "gpdm_budget_s": budget}
        print(f"{name}: GPDM's budget at equal time: {budget:.0f} s per image", flush=True)
        for row, (images, seconds, steps) in named.items():
            results[name][row] = r = score_row(images, reference, train, seconds) | {"steps_per_level": steps}
            print_row(name, row, r)
            if steps is not None:
                print(f"{name}: {row}: {steps:.0f} Adam steps per level", flush=True)
        lo, hi = np.percentile(train, [0.5, 99.5])
        shown = [reference[0]] + [images[0] for images, _, _ in named.values()]
        pictures.append(panel_row(shown, lo, hi))
        pictures.append(panel_row([np.kron(p[:ZOOM, :ZOOM], np.ones((2, 2))) for p in shown], lo, hi))
    print_table(results, rows)
    OUT.mkdir(parents=True, exist_ok=True)
    save_grid(pictures, OUT / "texture_gpdm.png")
    results["conditions"] = vars(args) | {"seed": SEED}
    (OUT / "texture_gpdm.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
