"""Hole-filling benchmark: does a fill look like the rest of the image?

For each textured image (brick, grass, gravel, a histology crop in colour, generated
nuclei) and hole size (32, 64, 128 px), square holes are placed at random (fixed
seed, about a sixth of the image) and filled by

* ``texture``: ours, ``Translator(task="inpaint").predict(..., fill="texture")``, the
  default (patches of the image itself, coarse to fine);
* ``smooth``: ours, ``fill="smooth"``: the spline fill plus the network trained on the
  image for ``--train`` seconds;
* ``biharmonic``: ``skimage.restoration.inpaint_biharmonic``;
* ``real``: the true content (the floor of every measure).

Measures, all in this run:

* ``c2st``: two-sample classifier test (``ng.metrics.classifier_test``) of crops of
  hole content against crops of the same image at least 8 px away from any hole
  (crop 16 px for 32 px holes, 32 px otherwise): 0.5 = indistinguishable;
* ``swd``: patch SWD (x1e3, mean over levels) of the holes' contents against equally
  sized real crops away from the holes; ``swd/real``: its ratio to the real content's;
* ``seam``: ``ng.metrics.seam_score`` at the holes' borders (real content about 1);
* ``psnr``: inside the holes, against the true content;
* ``s``: seconds to fill.

The crops of brick, grass and gravel used here are their bottom-right 384 px; the
fill's design choices were looked at on their top-left 160-384 px and on the
astronaut, which overlap these only in part.

    python bench/fill.py            # ~13 min on 2 CPU cores; bench/out/fill.{json,png}
    python bench/fill.py --quick    # smoke run, ~2 min
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage import data, restoration, transform

import napari_gan as ng
from napari_gan.core.synthetic import touching_nuclei

OUT = Path(__file__).resolve().parent / "out"
SIZES = (32, 64, 128)
METHODS = ("texture", "smooth", "biharmonic", "real")


def images(size: int) -> dict[str, np.ndarray]:
    """(Y, X) or (Y, X, 3) float32 in [0, 1]."""

    def u8(a):
        return np.asarray(a, dtype=np.float32) / 255

    nuclei, _ = touching_nuclei((size, size), seed=11)
    return {
        "brick": u8(data.brick()[-size:, -size:]),
        "grass": u8(data.grass()[-size:, -size:]),
        "gravel": u8(data.gravel()[-size:, -size:]),
        "histology": u8(data.immunohistochemistry()[-size:, -size:]),
        "nuclei": np.clip(nuclei, 0, 1).astype(np.float32),
    }


def place_holes(shape, hole: int, rng: np.random.Generator) -> np.ndarray:
    """Non-overlapping square holes at least half a hole apart and 16 px from the edges,
    covering about a sixth of the image."""
    mask = np.zeros(shape, bool)
    want = max(1, int(shape[0] * shape[1] / 6 / hole**2))
    gap = hole // 2
    for _ in range(2000):
        if mask.sum() >= want * hole * hole:
            break
        y, x = rng.integers(16, shape[0] - hole - 16), rng.integers(16, shape[1] - hole - 16)
        if not mask[max(y - gap, 0) : y + hole + gap, max(x - gap, 0) : x + hole + gap].any():
            mask[y : y + hole, x : x + hole] = True
    return mask


def hole_contents(img: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    return [img[box] for box in ndi.find_objects(ndi.label(mask)[0])]


def real_crops(img: np.ndarray, away: np.ndarray, size: int, n: int, rng) -> list[np.ndarray]:
    """Up to ``n`` crops of ``size`` px lying wholly in ``away``."""
    ok = ndi.minimum_filter(away.astype(np.uint8), size=size, origin=-(size // 2)) > 0
    ys, xs = np.nonzero(ok[: img.shape[0] - size + 1, : img.shape[1] - size + 1])
    pick = rng.choice(len(ys), size=min(n, len(ys)), replace=False)
    return [img[ys[i] : ys[i] + size, xs[i] : xs[i] + size] for i in pick]


def fill_all(img, mask, model, methods) -> dict:
    out, seconds = {}, {}
    for m in methods:
        t = time.perf_counter()
        if m == "real":
            out[m] = img
        elif m == "biharmonic":
            out[m] = restoration.inpaint_biharmonic(img, mask, channel_axis=-1 if img.ndim == 3 else None)
        else:
            out[m] = model.predict(img, mask=mask, fill=m)
        out[m] = np.asarray(out[m], dtype=np.float32)
        seconds[m] = time.perf_counter() - t
    return out, seconds


def score(img, filled, mask, away, hole, args, rng) -> dict:
    ch = -1 if img.ndim == 3 else None
    crop = 16 if hole <= 32 else 32
    c2 = ng.metrics.classifier_test(
        filled,
        img,
        crop=crop,
        generated_mask=mask,
        real_mask=away,
        seeds=args.seeds,
        steps=args.steps,
        channel_axis=ch,
    )
    contents = hole_contents(filled, mask)
    refs = real_crops(img, away, hole, max(8, 2 * len(contents)), np.random.default_rng(1))
    swd = ng.metrics.sliced_wasserstein(
        contents, refs, channel_axis=-1 if img.ndim == 3 else None, n_descriptors=2048, n_projections=128
    )
    psnr = ng.metrics.psnr(img[mask], filled[mask], data_range=1.0)
    return {
        "c2st": c2.accuracy,
        "c2st_seeds": list(c2.per_seed),
        "swd": swd["mean"],
        "seam": ng.metrics.seam_score(filled, mask, channel_axis=ch),
        "psnr": psnr,
    }


def panel(img, filled: dict, mask, hole) -> np.ndarray:
    """One row: the holes (white), then each method, around the first hole."""
    box = ndi.find_objects(ndi.label(mask)[0])[0]
    cy, cx = (box[0].start + box[0].stop) // 2, (box[1].start + box[1].stop) // 2
    r = min(int(hole * 1.5), img.shape[0] // 2)
    y0 = int(np.clip(cy - r, 0, img.shape[0] - 2 * r))
    x0 = int(np.clip(cx - r, 0, img.shape[1] - 2 * r))
    win = (slice(y0, y0 + 2 * r), slice(x0, x0 + 2 * r))
    shown = [np.where(mask[..., None] if img.ndim == 3 else mask, 1.0, img)] + [filled[m] for m in METHODS]
    tiles = []
    for a in shown:
        a = a[win]
        a = np.repeat(a[..., None], 3, -1) if a.ndim == 2 else a
        tiles.append(transform.resize(a, (192, 192), order=0 if r < 96 else 1))
    return np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=1) for t in tiles], 1)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=384, help="image crop size (px)")
    parser.add_argument("--train", type=float, default=60, help="seconds of training for the smooth fill's network")
    parser.add_argument("--seeds", type=int, default=2, help="classifier-test seeds")
    parser.add_argument("--steps", type=int, default=300, help="classifier-test training steps")
    parser.add_argument("--only", default="", help="comma-separated image names")
    parser.add_argument("--holes", default=",".join(map(str, SIZES)), help="comma-separated hole sizes")
    parser.add_argument("--quick", action="store_true", help="smoke run: one image, 32 px holes, few steps")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.holes.split(",")]
    imgs = images(args.size)
    if args.only:
        imgs = {k: v for k, v in imgs.items() if k in args.only.split(",")}
    if args.quick:
        imgs, sizes = dict(list(imgs.items())[1:2]), [32]
        args.train, args.seeds, args.steps = 5, 1, 40
    OUT.mkdir(parents=True, exist_ok=True)
    results, rows = [], []
    for name, img in imgs.items():
        model = ng.Translator(task="inpaint").fit(img, time_limit=args.train, max_steps=100_000, seed=0)
        for hole in sizes:
            rng = np.random.default_rng(hole)
            mask = place_holes(img.shape[:2], hole, rng)
            away = ~ndi.binary_dilation(mask, iterations=8)
            corrupted = np.where(mask[..., None] if img.ndim == 3 else mask, 0.0, img).astype(np.float32)
            filled, seconds = fill_all(corrupted, mask, model, METHODS[:-1])
            filled["real"] = img
            seconds["real"] = 0.0
            row = {"image": name, "hole": hole, "holes": int(ndi.label(mask)[1])}
            for m in METHODS:
                row[m] = score(img, filled[m], mask, away, hole, args, rng) | {"seconds": seconds[m]}
            real_swd = row["real"]["swd"]
            for m in METHODS:
                row[m]["swd_ratio"] = row[m]["swd"] / real_swd
            results.append(row)
            rows.append(panel(corrupted, filled, mask, hole))
            print(
                f"{name:10s} {hole:4d} px x{row['holes']:2d} | "
                + " | ".join(
                    f"{m}: c2st {row[m]['c2st']:.2f} swd/real {row[m]['swd_ratio']:.2f} "
                    f"seam {row[m]['seam']:.2f} psnr {row[m]['psnr']:.1f} {row[m]['seconds']:.0f}s"
                    for m in METHODS
                ),
                flush=True,
            )
    tag = "fill_quick" if args.quick else "fill"
    (OUT / f"{tag}.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    from skimage import io

    io.imsave(OUT / f"{tag}.png", (np.clip(np.concatenate(rows, 0), 0, 1) * 255).astype(np.uint8))
    print_table(results)
    print(f"\nwrote {OUT / (tag + '.json')} and {OUT / (tag + '.png')} (columns: holes, " + ", ".join(METHODS) + ")")


def print_table(results):
    print("\n| image | hole | " + " | ".join(f"{m} c2st / swd÷real / seam / PSNR" for m in METHODS) + " |")
    print("|---|---|" + "---|" * len(METHODS))
    for r in results:
        cells = [
            f"{r[m]['c2st']:.2f} / {r[m]['swd_ratio']:.2f} / {r[m]['seam']:.2f} / {r[m]['psnr']:.1f}" for m in METHODS
        ]
        print(f"| {r['image']} | {r['hole']} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
