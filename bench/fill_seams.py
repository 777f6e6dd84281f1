"""Seam score of the textured fill over many hole layouts.

bench/fill.py scores one layout of holes per image and hole size; with 128 px holes
in a 384 px crop that layout is a single hole, and a single hole's seam score
varies by more than the target's margin (the real content's own ranges from 0.4 to
1.1 on brick). This fills ``--layouts`` layouts per image (bench/fill.py's images
and hole placement, other seeds; fill seed = layout index) and prints, per image,
the mean, range and count over 1.5x of the ratio of the fill's seam score to the
real content's in the same holes.

    python bench/fill_seams.py                  # 128 px holes, 8 layouts: about 1 min on 2 CPU cores
    python bench/fill_seams.py --holes 64 128
"""

from __future__ import annotations

import argparse

import numpy as np
from fill import images, place_holes

import napari_gan as ng


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--holes", type=int, nargs="+", default=[128], help="hole sizes (px)")
    parser.add_argument("--layouts", type=int, default=8, help="hole layouts per image and size")
    parser.add_argument("--size", type=int, default=384, help="image crop size (px)")
    args = parser.parse_args(argv)
    model = ng.Translator(task="inpaint")  # the textured fill needs no training
    print("| image | hole | fill seam, mean [range] | real seam, mean [range] | ratio of means | layouts over 1.5x |")
    print("|---|---|---|---|---|---|")
    for hole in args.holes:
        for name, img in images(args.size).items():
            ch = -1 if img.ndim == 3 else None
            fill, real = [], []
            for k in range(args.layouts):
                mask = place_holes(img.shape[:2], hole, np.random.default_rng(100 + k))
                out = np.asarray(model.predict(img, mask=mask, fill="texture", seed=k), np.float32)
                fill.append(ng.metrics.seam_score(out, mask, channel_axis=ch))
                real.append(ng.metrics.seam_score(img, mask, channel_axis=ch))
            f, r = np.array(fill), np.array(real)
            print(
                f"| {name} | {hole} | {f.mean():.2f} [{f.min():.2f}, {f.max():.2f}] | {r.mean():.2f} "
                f"[{r.min():.2f}, {r.max():.2f}] | {f.mean() / r.mean():.2f} | {int((f / r > 1.5).sum())} of "
                f"{args.layouts} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
