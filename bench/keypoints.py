"""Keypoints with two named kinds: ng.KeypointDetector against a classical pipeline.

Data: `core.synthetic_landmarks.landmark_cells`, tapered cells whose blunt head and
thin tail are marked (the ends differ by shape; which is brighter is random). One
256 x 256 image trains, three others (other seeds) are held out.

Classical pipeline, trained on the same image: a random forest (scikit-learn, 100
trees) on skimage's multiscale_basic_features (intensity, edges, texture at sigma 1-8)
classifies each pixel as head / tail / background, as ilastik or convpaint would;
the points are the peaks of each kind's probability map (peak_local_max), with the
threshold chosen on the training image.

Scores: per kind, precision / recall / F1 of a one-to-one matching within RADIUS px
(`ng.metrics.match_points`), summed over the held-out images.

    python bench/keypoints.py [--seconds 300] [--png bench/out/keypoints.png]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
from skimage.feature import multiscale_basic_features, peak_local_max

import napari_gan as ng
from napari_gan.core.synthetic_landmarks import landmark_cells

RADIUS = 4.0
KINDS = ("head", "tail")
SHAPE = (256, 256)
TEST_SEEDS = (101, 102, 103)


def features(image):
    return multiscale_basic_features(image, sigma_min=1, sigma_max=8, num_sigma=5)


class ClassicalKeypoints:
    """Random-forest pixel classifier + peaks of each kind's probability map."""

    def fit(self, image, points, seed=0):
        from sklearn.ensemble import RandomForestClassifier

        f = features(image)
        label = np.zeros(image.shape, np.int64)
        yy, xx = np.mgrid[: image.shape[0], : image.shape[1]]
        for k, kind in enumerate(KINDS, start=1):
            for p in points[kind]:
                label[(yy - p[0]) ** 2 + (xx - p[1]) ** 2 <= 2.0**2] = k
        rng = np.random.default_rng(seed)
        near = np.zeros(image.shape, bool)
        for kind in KINDS:
            for p in points[kind]:
                near |= (yy - p[0]) ** 2 + (xx - p[1]) ** 2 <= 5.0**2
        background = np.argwhere(~near)
        background = background[rng.choice(len(background), 20000, replace=False)]
        fg = np.argwhere(label > 0)
        idx = np.concatenate([fg, background])
        self.rf = RandomForestClassifier(n_estimators=100, max_depth=16, n_jobs=2, random_state=seed)
        self.rf.fit(f[idx[:, 0], idx[:, 1]], label[idx[:, 0], idx[:, 1]])
        maps = self.maps(image)
        self.thresholds = {}
        for k, kind in enumerate(KINDS):
            best = max(
                np.arange(0.1, 0.91, 0.05),
                key=lambda t: ng.metrics.match_points(points[kind], self._peaks(maps[k], t), radius=RADIUS).f1,
            )
            self.thresholds[kind] = float(best)
        return self

    def maps(self, image):
        f = features(image)
        prob = self.rf.predict_proba(f.reshape(-1, f.shape[-1])).reshape(image.shape + (-1,))
        return [prob[..., k] for k in range(1, len(KINDS) + 1)]

    @staticmethod
    def _peaks(prob, threshold):
        return peak_local_max(prob, min_distance=2, threshold_abs=threshold, exclude_border=False).astype(float)

    def predict(self, image):
        maps = self.maps(image)
        return {kind: self._peaks(maps[k], self.thresholds[kind]) for k, kind in enumerate(KINDS)}


def score(truths, preds):
    """Per kind: (precision, recall, F1) over all held-out images together."""
    out = {}
    for kind in KINDS:
        tp = n_true = n_pred = 0
        for truth, pred in zip(truths, preds):
            m = ng.metrics.match_points(truth[kind], pred[kind], radius=RADIUS)
            tp, n_true, n_pred = tp + m.tp, n_true + m.n_true, n_pred + m.n_pred
        p, r = tp / max(n_pred, 1), tp / max(n_true, 1)
        out[kind] = (p, r, 2 * tp / max(n_true + n_pred, 1))
    return out


def by_kind(found):
    return {kind: found["points"][found["kind"] == kind] for kind in KINDS}


COLOURS = {"head": (255, 150, 0), "tail": (0, 220, 255)}


def save_png(path, image, truth, rows):
    """Side by side, one panel per method, upscaled 3x: circles are the true points,
    crosses the found ones (orange head, cyan tail)."""
    from skimage.draw import circle_perimeter, line
    from skimage.io import imsave

    scale = 3
    grey = np.clip((image - np.percentile(image, 1)) / (np.ptp(image) + 1e-9), 0, 1)
    grey = np.kron(grey, np.ones((scale, scale)))
    panels = []
    for pred in rows.values():
        rgb = (np.repeat(grey[..., None], 3, axis=2) * 200).astype(np.uint8)
        for kind in KINDS:
            for y, x in truth[kind] * scale:
                rr, cc = circle_perimeter(int(y), int(x), 3 * scale, shape=rgb.shape[:2])
                rgb[rr, cc] = COLOURS[kind]
            for y, x in pred[kind] * scale:
                for dy, dx in ((-4, -4), (-4, 4)):
                    rr, cc = line(int(y + dy), int(x + dx), int(y - dy), int(x - dx))
                    ok = (rr >= 0) & (rr < rgb.shape[0]) & (cc >= 0) & (cc < rgb.shape[1])
                    rgb[rr[ok], cc[ok]] = COLOURS[kind]
        panels.append(rgb)
        panels.append(np.full((rgb.shape[0], 8, 3), 255, np.uint8))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    imsave(path, np.concatenate(panels[:-1], axis=1), check_contrast=False)
    print(f"picture ({' | '.join(rows)}): {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--png", default="bench/out/keypoints.png")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))

    image, points = landmark_cells(SHAPE, n_cells=20, seed=0)
    tests = [landmark_cells(SHAPE, n_cells=20, seed=s) for s in TEST_SEEDS]
    truths = [t[1] for t in tests]

    t0 = time.perf_counter()
    classical = ClassicalKeypoints().fit(image, points)
    t_classical_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    preds_classical = [classical.predict(img) for img, _ in tests]
    t_classical_pred = time.perf_counter() - t0

    kp = ng.KeypointDetector()
    t0 = time.perf_counter()
    kp.fit(image, points, max_steps=10**9, time_limit=args.seconds, seed=0)
    t_fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    preds_ours = [by_kind(kp.predict(img)) for img, _ in tests]
    t_pred = time.perf_counter() - t0
    mpix = len(tests) * SHAPE[0] * SHAPE[1] / 1e6

    rows = {
        "classical (RF pixel classifier + peaks)": score(truths, preds_classical),
        f"ours, KeypointDetector, {args.seconds:g} s": score(truths, preds_ours),
    }
    print(f"\nKeypoints on {len(tests)} held-out {SHAPE[0]} x {SHAPE[1]} images, radius {RADIUS:g} px")
    print("| method | " + " | ".join(f"{k} P / R / F1" for k in KINDS) + " |")
    print("|---|" + "---|" * len(KINDS))
    for name, s in rows.items():
        print(f"| {name} | " + " | ".join("{:.3f} / {:.3f} / {:.3f}".format(*s[k]) for k in KINDS) + " |")
    steps = kp.steps_trained
    print(
        f"\nours: {steps} steps in {t_fit:.0f} s ({steps / t_fit:.2f} steps/s), prediction {mpix / t_pred:.2f} MPix/s;"
        f" classical: fit {t_classical_fit:.1f} s, prediction {mpix / t_classical_pred:.2f} MPix/s"
    )
    print(f"thresholds: ours {dict(zip(kp.kinds, np.round(kp.thresholds, 2)))}, classical {classical.thresholds}")
    save_png(
        args.png,
        tests[0][0],
        truths[0],
        {"classical": preds_classical[0], f"ours, {args.seconds:g} s": preds_ours[0]},
    )


if __name__ == "__main__":
    main()
