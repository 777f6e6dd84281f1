"""Object removal on photographs and micrographs: does the textured fill leave blocks?

The textured fill copies every hole pixel from somewhere in the image. On smooth
images (fur, skin, sky, a retina, a blurred background) pieces copied from places
of different brightness meet at straight-edged steps; the fill then re-solves the
hole from the copies' differences between neighbouring pixels (``blend=True``, the
default, :mod:`napari_gan.core.poisson`). This compares, on 256 px crops of bundled
images with two rectangular holes of 40-80 px each (random, fixed seed):

* ``blended``: ``patch_fill(..., blend=True)``, what ``Translator(task="inpaint")``
  predicts with ``fill="texture"``;
* ``copies``: ``patch_fill(..., blend=False)``: the copies as they are, only the
  border's mismatch spread over the hole (the fill before 2026-12-05);
* ``biharmonic``: ``skimage.restoration.inpaint_biharmonic``;
* ``real``: the true content.

Measures: ``seam``, ``ng.metrics.seam_score`` at the holes' borders divided by the
real content's (1 = as real); ``steps``, the share of neighbouring pixel pairs in the
holes that differ by more than 99 % of the known image's pairs do, divided by the
same share in the real content (1 = as real; blocks raise it, a smear lowers it);
PSNR in the holes; seconds. A PNG shows the first hole of each image.

    python bench/fill_photos.py      # about 1 min on 2 CPU cores; bench/out/fill_photos.png
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage import data, io, restoration, transform

import napari_gan as ng
from napari_gan.core.patchfill import patch_fill

OUT = Path(__file__).resolve().parent / "out"
METHODS = ("blended", "copies", "biharmonic", "real")


def images() -> dict[str, np.ndarray]:
    """256 x 256 crops, (Y, X) or (Y, X, 3) float32 in [0, 1]."""

    def u8(a):
        return np.asarray(a, dtype=np.float32) / 255

    return {
        "cat": u8(data.chelsea()[40:296, 30:286]),
        "astronaut": u8(data.astronaut()[0:256, 150:406]),
        "coffee": u8(data.coffee()[100:356, 200:456]),
        "retina": u8(data.retina()[300:556, 300:556]),
        "camera": u8(data.camera()[0:256, 200:456]),
        "moon": u8(data.moon()[100:356, 100:356]),
        "rocket": u8(data.rocket()[100:356, 150:406]),
        "cell": u8(transform.resize(data.cell(), (256, 256), anti_aliasing=True) * 255),
        "hubble": u8(data.hubble_deep_field()[200:456, 300:556]),
    }


def holes(shape, rng) -> np.ndarray:
    mask = np.zeros(shape, bool)
    while ndi.label(mask)[1] < 2:
        h, w = rng.integers(40, 81, size=2)
        y, x = rng.integers(16, shape[0] - h - 16), rng.integers(16, shape[1] - w - 16)
        if not ndi.binary_dilation(mask, iterations=16)[y : y + h, x : x + w].any():
            mask[y : y + h, x : x + w] = True
    return mask


def steps_share(img: np.ndarray, mask: np.ndarray, known_img: np.ndarray) -> float:
    """Share of 4-neighbour pairs inside the holes differing by more than the known
    image's 99th percentile (largest difference over channels)."""
    a = img if img.ndim == 3 else img[..., None]
    k = known_img if known_img.ndim == 3 else known_img[..., None]
    dy, dx = np.abs(np.diff(a, axis=0)).max(-1), np.abs(np.diff(a, axis=1)).max(-1)
    ky, kx = np.abs(np.diff(k, axis=0)).max(-1), np.abs(np.diff(k, axis=1)).max(-1)
    known = ~ndi.binary_dilation(mask, iterations=2)
    limit = np.percentile(np.concatenate([ky[known[1:] & known[:-1]], kx[known[:, 1:] & known[:, :-1]]]), 99)
    inside = np.concatenate([dy[mask[1:] & mask[:-1]], dx[mask[:, 1:] & mask[:, :-1]]])
    return float((inside > limit).mean())


def fill(img, mask, method, seed) -> np.ndarray:
    """``img`` with its holes filled by ``method`` (the hole's pixels are not read)."""
    if method == "real":
        return img
    img = np.where(mask[..., None] if img.ndim == 3 else mask, 0, img)
    if method == "biharmonic":
        return restoration.inpaint_biharmonic(img, mask, channel_axis=-1 if img.ndim == 3 else None)
    x = img[None] if img.ndim == 2 else np.moveaxis(img, -1, 0)
    out = patch_fill(x, mask, seed=seed, blend=method == "blended")
    return out[0] if img.ndim == 2 else np.moveaxis(out, 0, -1)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="hole placement and fill seed")
    args = parser.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    print("| image | " + " | ".join(f"{m} seam / steps / PSNR / s" for m in METHODS[:-1]) + " |")
    print("|---|" + "---|" * (len(METHODS) - 1))
    rows, totals = [], {m: [] for m in METHODS[:-1]}
    for i, (name, img) in enumerate(images().items()):
        mask = holes(img.shape[:2], np.random.default_rng(args.seed * 100 + i))
        ch = -1 if img.ndim == 3 else None
        real_seam = ng.metrics.seam_score(img, mask, channel_axis=ch)
        real_steps = max(steps_share(img, mask, img), 1e-3)
        cells, shown = [], []
        for m in METHODS:
            t = time.perf_counter()
            out = np.asarray(fill(img, mask, m, args.seed), np.float32)
            dt = time.perf_counter() - t
            shown.append(out)
            if m == "real":
                continue
            seam = ng.metrics.seam_score(out, mask, channel_axis=ch) / real_seam
            steps = steps_share(out, mask, img) / real_steps
            psnr = ng.metrics.psnr(img[mask], out[mask], data_range=1.0)
            totals[m].append((seam, steps, psnr))
            cells.append(f"{seam:.2f} / {steps:.2f} / {psnr:.1f} / {dt:.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
        box = ndi.find_objects(ndi.label(mask)[0])[0]
        cy, cx = (box[0].start + box[0].stop) // 2, (box[1].start + box[1].stop) // 2
        y0, x0 = int(np.clip(cy - 64, 0, img.shape[0] - 128)), int(np.clip(cx - 64, 0, img.shape[1] - 128))
        tiles = [np.where(mask[..., None] if ch else mask, 1.0, img)] + shown
        tiles = [t[y0 : y0 + 128, x0 : x0 + 128] for t in tiles]
        tiles = [np.repeat(t[..., None], 3, -1) if t.ndim == 2 else t for t in tiles]
        tiles = [np.pad(np.kron(t, np.ones((2, 2, 1))), ((2, 2), (2, 2), (0, 0)), constant_values=1) for t in tiles]
        rows.append(np.concatenate(tiles, 1))
    means = [" / ".join(f"{v:.2f}" for v in np.mean(totals[m], axis=0)) for m in METHODS[:-1]]
    print("| mean (seam / steps / PSNR) | " + " | ".join(means) + " |")
    io.imsave(OUT / "fill_photos.png", (np.clip(np.concatenate(rows, 0), 0, 1) * 255).astype(np.uint8))
    print(f"\nwrote {OUT / 'fill_photos.png'} (columns: holes, " + ", ".join(METHODS) + ")")


if __name__ == "__main__":
    main()
