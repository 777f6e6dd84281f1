"""Classification benchmark: ours against scikit-learn baselines, all in one run.

Needs scikit-learn (``pip install -e .[bench]``); the library itself does not.

* digits (scikit-learn's bundled 8 x 8 handwritten digits, 1,797 images, 10 classes):
  stratified 50/50 train/test split (seed 0). ``ImageClassifier`` (input resized to
  16 x 16, shift augmentation only: flips would turn a 6 into a 9) against an RBF SVM
  on raw pixels, with the gamma of scikit-learn's own digits example (0.001) and with
  its default (``"scale"``).
* objects: synthetic images (512 x 512) of two kinds of separate objects
  (``napari_gan.core.synthetic.two_kinds``), in two variants: uniform vs bright-rimmed
  (same size, shape and brightness distributions, rims of random strength: texture
  only), and round vs elongated (uniform objects, overlapping elongation ranges: shape
  only, which regionprops describe well). 20 labelled objects per
  class drawn at random; tested on every other object of that image and on all
  objects of a held-out image (another seed). ``ObjectClassifier`` against a random
  forest (500 trees) on ``skimage.measure.regionprops`` shape and intensity features
  of the same 40 objects. Mean over 3 draws of the 40 training objects.

Budgets are in steps (deterministic on CPU for a seed), and steps/s is printed. The
numbers also go to bench/out/classify.json (classify_quick.json with --quick).

    python bench/classify.py            # full run, about 6-10 min on 2 CPU cores
    python bench/classify.py --quick    # smoke run of the same code, under 3 min
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

import napari_gan as ng
from napari_gan.core.metrics import classification_report
from napari_gan.core.synthetic import two_kinds

OUT = Path(__file__).resolve().parent / "out"
KINDS = {"rim": np.array(["uniform", "rim"], dtype=object), "shape": np.array(["round", "elongated"], dtype=object)}
PROPS = (
    "area",
    "perimeter",
    "eccentricity",
    "solidity",
    "extent",
    "major_axis_length",
    "minor_axis_length",
    "intensity_mean",
    "intensity_max",
    "intensity_min",
    "intensity_std",
)


def regionprops_features(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(n_objects, n_features) for ids 1..max, in id order."""
    from skimage.measure import regionprops_table

    props = PROPS
    try:
        table = regionprops_table(labels, image, properties=("label",) + props)
    except (AttributeError, ValueError):  # scikit-image without intensity_std
        props = PROPS[:-1]
        table = regionprops_table(labels, image, properties=("label",) + props)
    order = np.argsort(table["label"])
    return np.stack([np.asarray(table[p], np.float64)[order] for p in props], 1)


def digits(steps: int, *, quick: bool) -> dict:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC

    d = load_digits()
    x, y = d.images.astype(np.float32), d.target.astype(str)
    if quick:
        x, y = x[:600], y[:600]
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.5, stratify=y, random_state=0)
    rows = {}
    for name, gamma in (
        ("SVM (RBF, gamma=0.001) on raw pixels", 0.001),
        ("SVM (RBF, gamma='scale') on raw pixels", "scale"),
    ):
        t = time.perf_counter()
        svc = SVC(gamma=gamma).fit(xtr.reshape(len(xtr), -1), ytr)
        acc = float((svc.predict(xte.reshape(len(xte), -1)) == yte).mean())
        rows[name] = {"accuracy": acc, "train_s": time.perf_counter() - t}
    t = time.perf_counter()
    ic = ng.ImageClassifier(input_size=16, augment="shift").fit(xtr, list(ytr), max_steps=steps, seed=0)
    train_s = time.perf_counter() - t
    rep = ic.evaluate(xte, list(yte))
    rows["ours: ImageClassifier"] = {
        "accuracy": rep.accuracy,
        "macro_f1": rep.macro_f1,
        "train_s": train_s,
        "steps": ic.steps_trained,
        "steps_per_s": ic.steps_trained / train_s,
    }
    return {"n_train": len(xtr), "n_test": len(xte), "rows": rows, "report": rep.as_text()}


def objects(steps: int, *, quick: bool, draws: int, difference: str, per_class: int = 20) -> dict:
    from sklearn.ensemble import RandomForestClassifier

    shape = (256, 256) if quick else (512, 512)
    names = KINDS[difference]
    img, lab, kind = two_kinds(shape, seed=0, difference=difference)
    img2, lab2, kind2 = two_kinds(shape, seed=100, difference=difference)
    f1, f2 = regionprops_features(img, lab), regionprops_features(img2, lab2)
    truth2 = {int(i): names[k] for i, k in enumerate(kind2, start=1)}
    results = {"rf": [], "ours": []}
    speeds = []
    for draw in range(draws):
        rng = np.random.default_rng(draw)
        train = np.concatenate([rng.choice(np.flatnonzero(kind == c), per_class, replace=False) for c in (0, 1)]) + 1
        rest = np.setdiff1d(np.arange(1, lab.max() + 1), train)
        rf = RandomForestClassifier(n_estimators=500, random_state=draw).fit(f1[train - 1], kind[train - 1])
        rf_same = float((rf.predict(f1[rest - 1]) == kind[rest - 1]).mean())
        rf_held = float((rf.predict(f2) == kind2).mean())
        results["rf"].append({"same_image": rf_same, "held_out_image": rf_held})

        classes = {int(i): names[kind[i - 1]] for i in train}
        t = time.perf_counter()
        clf = ng.ObjectClassifier().fit(img, lab, classes, max_steps=steps, seed=draw)
        train_s = time.perf_counter() - t
        speeds.append(clf.steps_trained / train_s)
        same = clf.evaluate(img, lab, {int(i): names[kind[i - 1]] for i in rest})
        t = time.perf_counter()
        table = clf.predict(img2, lab2)
        predict_s = time.perf_counter() - t
        pred2 = dict(zip(table["label"].tolist(), table["class"]))
        held = classification_report([truth2[i] for i in sorted(truth2)], [pred2[i] for i in sorted(truth2)])
        results["ours"].append(
            {
                "same_image": same.accuracy,
                "held_out_image": held.accuracy,
                "train_s": train_s,
                "predict_objects_per_s": len(table["label"]) / predict_s,
            }
        )
    summary = {k: {m: float(np.mean([r[m] for r in v])) for m in v[0]} for k, v in results.items()}
    summary["ours"]["steps_per_s"] = float(np.mean(speeds))
    return {
        "difference": difference,
        "shape": shape,
        "objects": [int(lab.max()), int(lab2.max())],
        "per_class": per_class,
        "draws": draws,
        "steps": steps,
        "mean": summary,
        "each": results,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small data and budgets: checks the script runs")
    ap.add_argument("--digit-steps", type=int, default=None, help="ImageClassifier steps (default 600; quick 60)")
    ap.add_argument("--object-steps", type=int, default=None, help="ObjectClassifier steps (default 300; quick 40)")
    ap.add_argument("--draws", type=int, default=None, help="draws of the labelled objects (default 3; quick 1)")
    ap.add_argument(
        "--json",
        default=None,
        help="where to write the raw numbers (default bench/out/classify.json; --quick: classify_quick.json)",
    )
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    q = args.quick
    digit_steps = args.digit_steps or (60 if q else 600)
    object_steps = args.object_steps or (40 if q else 300)
    draws = args.draws or (1 if q else 3)

    start = time.perf_counter()
    d = digits(digit_steps, quick=q)
    print(f"\n## Digits (scikit-learn, 8x8): {d['n_train']} train / {d['n_test']} test, stratified, seed 0\n")
    print("| method | accuracy | train s | steps/s |")
    print("|---|---|---|---|")
    for name, r in d["rows"].items():
        sps = f"{r['steps_per_s']:.1f}" if "steps_per_s" in r else "-"
        print(f"| {name} | {r['accuracy']:.4f} | {r['train_s']:.1f} | {sps} |")
    print(f"\n(ours: {digit_steps} steps, batch 32, input 16x16, shift augmentation)\n")
    print(d["report"])

    objs = {}
    for difference, title in (("rim", "uniform vs bright rim"), ("shape", "round vs elongated")):
        o = objs[difference] = objects(object_steps, quick=q, draws=draws, difference=difference)
        print(
            f"\n## Objects: synthetic {title}, {o['shape'][0]}x{o['shape'][1]}, {o['objects'][0]} objects "
            f"(held-out image {o['objects'][1]}), {o['per_class']} labelled per class, mean of {draws} draw(s)\n"
        )
        print("| method | accuracy, other objects | accuracy, held-out image |")
        print("|---|---|---|")
        rf, ours = o["mean"]["rf"], o["mean"]["ours"]
        print(f"| random forest on regionprops | {rf['same_image']:.4f} | {rf['held_out_image']:.4f} |")
        print(f"| ours: ObjectClassifier | {ours['same_image']:.4f} | {ours['held_out_image']:.4f} |")
        print(
            f"\n(ours: {object_steps} steps, batch 32, crop 48 -> 32; {ours['steps_per_s']:.1f} steps/s, "
            f"{ours['train_s']:.1f} s training, {ours['predict_objects_per_s']:.0f} objects/s prediction)"
        )
    total = time.perf_counter() - start
    print(f"\ntotal {total:.0f} s, torch threads {args.threads}")
    path = Path(args.json or OUT / ("classify_quick.json" if q else "classify.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        json.dump({"digits": d, "objects": objs, "total_s": total, "quick": q}, fh, indent=1)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
