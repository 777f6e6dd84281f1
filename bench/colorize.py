"""Colorization: ng.Translator(task="colorize") against the gray image and a classical
colourization, on held-out images of the kind it trained on.

Data (scikit-image's bundled images, nothing downloaded):

* ``histology``: immunohistochemistry (haematoxylin blue nuclei, DAB brown
  membranes): trained on the left half, scored on the right half;
* ``natural``: trained on astronaut, coffee, rocket and stereo_motorcycle's left view, scored on
  chelsea (a cat), which it has not seen.

Baselines, from the same training images:

* gray: the grayscale image replicated to RGB (no colour);
* classical: each pixel gets the training images' mean chroma (Lab a, b) of its
  lightness (64 bins of L*), the "mean chroma by lightness" lookup.

Scores on the RGB result in [0, 1] against the true colour image: PSNR, SSIM (mean
over channels) and the mean colour difference delta E (CIEDE2000, in Lab; below
about 2 is hard to see). A PNG shows gray | classical | ours | truth.

    python bench/colorize.py [--seconds 300] [--only histology,natural] [--png bench/out/colorize.png]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from skimage import color, data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import napari_gan as ng
from napari_gan.core.tasks.translate.colorize import L_BINS, chroma_table


def rgb01(img) -> np.ndarray:
    return np.asarray(img, np.float32)[..., :3] / 255.0


def datasets(names):
    sets = {}
    if "histology" in names:
        ihc = rgb01(data.immunohistochemistry())
        half = ihc.shape[1] // 2
        sets["histology"] = ([ihc[:, :half]], [ihc[:, half:]])
    if "natural" in names:
        train = [rgb01(im) for im in (data.astronaut(), data.coffee(), data.rocket(), data.stereo_motorcycle()[0])]
        sets["natural"] = (train, [rgb01(data.chelsea())])
    return sets


class ChromaByLightness:
    """The training images' mean (a, b) in each lightness bin (the table the colorize
    task itself starts from, ``chroma_table``, here from each image's own lightness);
    empty bins take the nearest filled one."""

    def fit(self, images):
        labs = [color.rgb2lab(im) for im in images]
        self.table = chroma_table(
            [lab[..., 0] / 100 for lab in labs], [np.moveaxis(lab[..., 1:], -1, 0) for lab in labs]
        )
        return self

    def predict(self, gray):
        lab = color.rgb2lab(np.repeat(gray[..., None], 3, -1))
        idx = np.clip((lab[..., 0] / 100 * L_BINS).astype(int), 0, L_BINS - 1)
        lab[..., 1:] = self.table[idx]
        return np.clip(color.lab2rgb(lab), 0, 1).astype(np.float32)


def scores(truth, out) -> dict:
    return {
        "psnr": float(peak_signal_noise_ratio(truth, out, data_range=1.0)),
        "ssim": float(np.mean([structural_similarity(truth[..., c], out[..., c], data_range=1.0) for c in range(3)])),
        "delta_e": float(color.deltaE_ciede2000(color.rgb2lab(truth), color.rgb2lab(out)).mean()),
    }


def mean_scores(truths, outs) -> dict:
    each = [scores(t, o) for t, o in zip(truths, outs)]
    return {k: float(np.mean([e[k] for e in each])) for k in each[0]}


def save_png(path, panels_by_set):
    from skimage.io import imsave
    from skimage.transform import resize

    rows = []
    for panels in panels_by_set:
        h = 256
        tiles = [resize(p, (h, int(round(p.shape[1] * h / p.shape[0])), 3), anti_aliasing=True) for p in panels]
        gap = np.ones((h, 4, 3))
        rows.append(np.concatenate([x for t in tiles for x in (t, gap)][:-1], 1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=1) for r in rows]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    imsave(path, (np.clip(np.concatenate(rows, 0), 0, 1) * 255).astype(np.uint8), check_contrast=False)
    print(f"picture (gray | classical | ours | truth, one row per set): {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--only", default="histology,natural")
    ap.add_argument("--png", default="bench/out/colorize.png")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    results, panels = {}, []
    for name, (train, tests) in datasets(args.only.split(",")).items():
        grays = [color.rgb2gray(t).astype(np.float32) for t in tests]
        rows = {"gray (no colour)": mean_scores(tests, [np.repeat(g[..., None], 3, -1) for g in grays])}
        lut = ChromaByLightness().fit(train)
        classical = [lut.predict(g) for g in grays]
        rows[f"classical: mean chroma by lightness ({L_BINS} bins)"] = mean_scores(tests, classical)
        model = ng.Translator(task="colorize")
        t0 = time.perf_counter()
        model.fit(train, max_steps=10**9, time_limit=args.seconds, seed=0)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = [model.predict(g) for g in grays]
        mpix = sum(g.size for g in grays) / 1e6 / (time.perf_counter() - t0)
        key = f"ours, Translator(task='colorize'), {args.seconds:g} s"
        rows[key] = mean_scores(tests, ours)
        rows[key].update(steps=model.steps_trained, steps_s=model.steps_trained / fit_s, mpix_s=mpix)
        results[name] = rows
        panels.append([np.repeat(grays[0][..., None], 3, -1), classical[0], ours[0], tests[0]])
        print(f"\n{name}: trained on {len(train)} image(s), scored on {len(tests)}")
        print("| method | PSNR (dB) | SSIM | delta E |")
        print("|---|---|---|---|")
        for method, s in rows.items():
            print(f"| {method} | {s['psnr']:.2f} | {s['ssim']:.3f} | {s['delta_e']:.2f} |")
        print(
            f"ours: {model.steps_trained} steps in {fit_s:.0f} s ({model.steps_trained / fit_s:.2f} steps/s), "
            f"prediction {mpix:.2f} MPix/s",
            flush=True,
        )
    if args.png:
        save_png(args.png, panels)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
