"""Boxes with a class and a score: ng.BoxDetector against classical boxes and against
the boxes of a Segmenter's instances.

Data: `core.synthetic_boxes.blobs_and_rods`, bright round blobs and dimmer rods at any
angle, some touching, on an uneven noisy background; boxes are the objects' exact
bounding boxes. One 256 x 256 image trains (its boxes and classes; the Segmenter gets
its masks), three others (other seeds) are held out. The Segmenter's boxes are also
given with its touching pieces never joined (``merge_ratio=0``, the same network).

Classical boxes: Otsu threshold, distance-transform watershed (peaks at least 5 px
apart), regionprops boxes; each box's class from a random forest (scikit-learn) on
regionprops features (area, eccentricity, axis lengths, solidity, mean and max
intensity) trained on the training image's objects; score: the forest's probability.

Scores (`ng.metrics.box_average_precision`): AP at IoU 0.5 and over 0.5-0.95, class
by class (mean over blob and rod) and class-agnostic (every box one class), summed
over the held-out images.

    python bench/boxes.py [--seconds 300]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
from scipy import ndimage as ndi
from skimage.feature import peak_local_max
from skimage.filters import gaussian, threshold_otsu
from skimage.measure import label as connected
from skimage.measure import regionprops
from skimage.segmentation import watershed

import napari_gan as ng
from napari_gan.core.synthetic_boxes import blobs_and_rods

SHAPE = (256, 256)
N_OBJECTS = (14, 14)
TEST_SEEDS = (101, 102, 103)
PROPS = (
    "area",
    "eccentricity",
    "axis_major_length",
    "axis_minor_length",
    "solidity",
    "intensity_mean",
    "intensity_max",
)


def otsu_watershed(image):
    smooth = gaussian(image, 1.0)
    fg = smooth > threshold_otsu(smooth)
    dist = ndi.distance_transform_edt(fg)
    peaks = peak_local_max(dist, min_distance=5, labels=connected(fg), exclude_border=False)
    markers = np.zeros(image.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-dist, markers, mask=fg)


def region_features(labels, image):
    regions = regionprops(labels, intensity_image=image)
    feats = np.array([[float(getattr(r, p)) for p in PROPS] for r in regions]).reshape(-1, len(PROPS))
    boxes = np.array([[r.bbox[:2], r.bbox[2:]] for r in regions], dtype=np.float64).reshape(-1, 2, 2)
    return feats, boxes


class ClassicalBoxes:
    """Otsu + watershed instances, a random forest on their shape for the class."""

    def fit(self, image, boxes, classes, seed=0):
        from sklearn.ensemble import RandomForestClassifier

        feats, found = region_features(otsu_watershed(image), image)
        iou = ng.metrics.box_iou(found, boxes)
        best = iou.argmax(1)
        keep = iou.max(1) >= 0.5
        # objects the segmentation got wrong teach "no object"
        y = np.where(keep, np.asarray(classes)[best], "none")
        self.rf = RandomForestClassifier(n_estimators=200, random_state=seed).fit(feats, y)
        return self

    def predict(self, image):
        feats, boxes = region_features(otsu_watershed(image), image)
        if not len(boxes):
            return {"boxes": boxes, "class": np.zeros(0, str), "score": np.zeros(0)}
        prob = self.rf.predict_proba(feats)
        names = self.rf.classes_
        objects = [i for i, n in enumerate(names) if n != "none"]
        best = np.array(objects)[prob[:, objects].argmax(1)]
        return {"boxes": boxes, "class": names[best].astype(str), "score": prob[np.arange(len(best)), best]}


def ap(truths, preds, *, agnostic: bool):
    """(AP@0.5, AP@[.5:.95]) over all held-out images, pooled."""
    tb = np.concatenate([t[0] for t in truths])
    pb = np.concatenate([p["boxes"] for p in preds])
    # boxes of different images must not match: shift each image far apart
    offsets_t = np.concatenate([np.full(len(t[0]), i * 10_000.0) for i, t in enumerate(truths)])
    offsets_p = np.concatenate([np.full(len(p["boxes"]), i * 10_000.0) for i, p in enumerate(preds)])
    tb = tb + offsets_t[:, None, None]
    pb = pb + offsets_p[:, None, None]
    scores = np.concatenate([p["score"] for p in preds])
    if agnostic:
        r = ng.metrics.box_average_precision(tb, pb, scores)
    else:
        tc = np.concatenate([t[1] for t in truths]).astype(str)
        pc = np.concatenate([p["class"] for p in preds]).astype(str)
        r = ng.metrics.box_average_precision(tb, pb, scores, true_classes=tc, pred_classes=pc)
    return r


def main():
    ap_ = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap_.add_argument("--seconds", type=float, default=300.0)
    args = ap_.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))

    image, boxes, classes, masks = blobs_and_rods(SHAPE, n=N_OBJECTS, seed=0, return_labels=True)
    tests = [blobs_and_rods(SHAPE, n=N_OBJECTS, seed=s) for s in TEST_SEEDS]
    truths = [(b, c) for _, b, c in tests]
    mpix = len(tests) * SHAPE[0] * SHAPE[1] / 1e6
    rows, timing = {}, {}

    classical = ClassicalBoxes().fit(image, boxes, classes)
    rows["classical (Otsu + watershed, random-forest class)"] = [classical.predict(t[0]) for t in tests]

    bx = ng.BoxDetector()
    t0 = time.perf_counter()
    bx.fit(image, boxes, classes, max_steps=10**9, time_limit=args.seconds, seed=0)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    name = f"ours, BoxDetector, {args.seconds:g} s"
    rows[name] = [bx.predict(t[0], threshold=0.0) for t in tests]
    timing[name] = (bx.steps_trained, fit_s, mpix / (time.perf_counter() - t0))

    seg = ng.Segmenter(mode="instance")
    t0 = time.perf_counter()
    seg.fit(image, masks, max_steps=10**9, time_limit=args.seconds, seed=0)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    name = f"Segmenter instances -> boxes_from_labels, {args.seconds:g} s"
    rows[name] = [ng.boxes_from_labels(seg.predict(t[0])) for t in tests]
    timing[name] = (seg.steps_trained, fit_s, mpix / (time.perf_counter() - t0))
    print(f"Segmenter chose: h {seg.seed_h_factor}, peaks {seg.peak_factor}, joining pieces at {seg.merge_ratio}")
    joined, seg.merge_ratio = seg.merge_ratio, 0.0  # the same network, touching pieces never joined
    rows[f"{name}, pieces not joined"] = [ng.boxes_from_labels(seg.predict(t[0])) for t in tests]
    seg.merge_ratio = joined

    n_true = sum(len(b) for b, _ in truths)
    print(f"\nBoxes on {len(tests)} held-out {SHAPE[0]} x {SHAPE[1]} images ({n_true} objects, blobs and rods)")
    print("| method | AP@0.5 | AP@[.5:.95] | blob AP@0.5 | rod AP@0.5 | class-agnostic AP@0.5 / AP@[.5:.95] |")
    print("|---|---|---|---|---|---|")
    for name, preds in rows.items():
        agn = ap(truths, preds, agnostic=True)
        if name.startswith("Segmenter"):  # one class: no class-wise scores
            print(f"| {name} | - | - | - | - | {agn.ap50:.3f} / {agn.ap:.3f} |")
            continue
        cls = ap(truths, preds, agnostic=False)
        blob, rod = cls.class_ap50.get("blob", float("nan")), cls.class_ap50.get("rod", float("nan"))
        print(f"| {name} | {cls.ap50:.3f} | {cls.ap:.3f} | {blob:.3f} | {rod:.3f} | {agn.ap50:.3f} / {agn.ap:.3f} |")
    for name, (steps, fit_s, speed) in timing.items():
        print(f"{name}: {steps} steps in {fit_s:.0f} s ({steps / fit_s:.2f} steps/s), prediction {speed:.2f} MPix/s")


if __name__ == "__main__":
    main()
