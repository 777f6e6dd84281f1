"""Classification benchmark: ours with its defaults, ours with hand-picked options,
and scikit-learn baselines, all in one run.

Needs scikit-learn (``pip install -e .[bench]``); the library itself does not.

* digits (scikit-learn's bundled 8 x 8 handwritten digits, 1,797 images, 10 classes):
  stratified 50/50 train/test split (seed 0). ``ImageClassifier`` used as a user
  would, ``ImageClassifier().fit(images, names, time_limit=180)`` (defaults: input
  size and augmentation chosen from the data, 500 steps), then with the options
  picked by hand (input resized to 16 x 16, shift augmentation only: flips would
  turn a 6 into a 9; 600 steps), against an RBF SVM on raw pixels with the gamma of
  scikit-learn's own digits example (0.001) and with its default (``"scale"``).
* objects: synthetic images (512 x 512) of two kinds of separate objects
  (``napari_gan.core.synthetic.two_kinds``), in two variants: uniform vs bright-rimmed
  (same size, shape and brightness distributions, rims of random strength: texture
  only), and round vs elongated (uniform objects, overlapping elongation ranges: shape
  only, which regionprops describe well). 20 labelled objects per
  class drawn at random; tested on every other object of that image and on all
  objects of a held-out image (another seed). ``ObjectClassifier`` with its defaults
  (``fit(image, labels, classes, time_limit=180)``: 400 steps) and with options
  fixed by hand (``input_size=32, augment="flips"``, 300 steps), against a random
  forest (500 trees) on ``skimage.measure.regionprops`` shape and intensity features
  of the same 40 objects. Mean over 6 draws of the 40 training objects (single draws
  of the shape variant differ by up to 0.17, docs/benchmarks/classification.md).

Budgets are in steps (deterministic on CPU for a seed; the defaults' 180 s time limit
is not reached on 2 cores), and steps/s is printed. The numbers also go to
bench/out/classify.json (classify_quick.json with --quick).

    python bench/classify.py            # full run, about 11 min on 2 CPU cores
    python bench/classify.py --quick    # smoke run of the same code (defaults: 60 steps), under 3 min
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


def _ours(model, fit, evaluate) -> dict:
    """Train ``model`` with ``fit(model)``; its accuracy (``evaluate(model)``), time and choices."""
    t = time.perf_counter()
    fit(model)
    train_s = time.perf_counter() - t
    rep = evaluate(model)
    return {
        "accuracy": rep.accuracy,
        "macro_f1": rep.macro_f1,
        "train_s": train_s,
        "steps": model.steps_trained,
        "steps_per_s": model.steps_trained / train_s,
        "input_size": model.input_size,
        "augment": model.augment,
        "orientation": model.orientation,
        "report": rep.as_text(),
    }


def digits(steps: int, *, quick: bool, default_steps: int | None) -> dict:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.svm import SVC

    d = load_digits()
    x, y = d.images.astype(np.float32), d.target.astype(str)
    if quick:
        x, y = x[:600], y[:600]
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.5, stratify=y, random_state=0)
    rows = {}
    limit = {} if default_steps is None else {"max_steps": default_steps}
    rows["ours, defaults: ImageClassifier()"] = _ours(
        ng.ImageClassifier(),
        lambda m: m.fit(xtr, list(ytr), time_limit=180, **limit),
        lambda m: m.evaluate(xte, list(yte)),
    )
    rows["ours, tuned: ImageClassifier(input_size=16, augment='shift')"] = _ours(
        ng.ImageClassifier(input_size=16, augment="shift"),
        lambda m: m.fit(xtr, list(ytr), max_steps=steps, seed=0),
        lambda m: m.evaluate(xte, list(yte)),
    )
    for name, gamma in (
        ("SVM (RBF, gamma=0.001) on raw pixels", 0.001),
        ("SVM (RBF, gamma='scale') on raw pixels", "scale"),
    ):
        t = time.perf_counter()
        svc = SVC(gamma=gamma).fit(xtr.reshape(len(xtr), -1), ytr)
        acc = float((svc.predict(xte.reshape(len(xte), -1)) == yte).mean())
        rows[name] = {"accuracy": acc, "train_s": time.perf_counter() - t}
    return {"n_train": len(xtr), "n_test": len(xte), "rows": rows}


#: our object classifiers: row name -> (options, fit budget; None: the defaults' steps)
OBJECT_MODELS = {
    "ours, defaults: ObjectClassifier()": ({}, None),
    "ours, tuned: ObjectClassifier(input_size=32, augment='flips')": ({"input_size": 32, "augment": "flips"}, "steps"),
}


def objects(steps: int, *, quick: bool, draws: int, difference: str, default_steps: int | None, per_class: int = 20):
    from sklearn.ensemble import RandomForestClassifier

    shape = (256, 256) if quick else (512, 512)
    names = KINDS[difference]
    img, lab, kind = two_kinds(shape, seed=0, difference=difference)
    img2, lab2, kind2 = two_kinds(shape, seed=100, difference=difference)
    f1, f2 = regionprops_features(img, lab), regionprops_features(img2, lab2)
    truth2 = {int(i): names[k] for i, k in enumerate(kind2, start=1)}
    results = {"random forest on regionprops": [], **{name: [] for name in OBJECT_MODELS}}
    for draw in range(draws):
        rng = np.random.default_rng(draw)
        train = np.concatenate([rng.choice(np.flatnonzero(kind == c), per_class, replace=False) for c in (0, 1)]) + 1
        rest = np.setdiff1d(np.arange(1, lab.max() + 1), train)
        rf = RandomForestClassifier(n_estimators=500, random_state=draw).fit(f1[train - 1], kind[train - 1])
        rf_same = float((rf.predict(f1[rest - 1]) == kind[rest - 1]).mean())
        rf_held = float((rf.predict(f2) == kind2).mean())
        results["random forest on regionprops"].append({"same_image": rf_same, "held_out_image": rf_held})

        classes = {int(i): names[kind[i - 1]] for i in train}
        for name, (options, budget) in OBJECT_MODELS.items():
            if budget is None:  # as a user would: a time limit, the default steps
                fit = {"time_limit": 180} if default_steps is None else {"time_limit": 180, "max_steps": default_steps}
            else:
                fit = {"max_steps": steps}
            t = time.perf_counter()
            clf = ng.ObjectClassifier(**options).fit(img, lab, classes, seed=draw, **fit)
            train_s = time.perf_counter() - t
            same = clf.evaluate(img, lab, {int(i): names[kind[i - 1]] for i in rest})
            t = time.perf_counter()
            table = clf.predict(img2, lab2)
            predict_s = time.perf_counter() - t
            pred2 = dict(zip(table["label"].tolist(), table["class"]))
            held = classification_report([truth2[i] for i in sorted(truth2)], [pred2[i] for i in sorted(truth2)])
            results[name].append(
                {
                    "same_image": same.accuracy,
                    "held_out_image": held.accuracy,
                    "train_s": train_s,
                    "steps": clf.steps_trained,
                    "steps_per_s": clf.steps_trained / train_s,
                    "predict_objects_per_s": len(table["label"]) / predict_s,
                    "input_size": clf.input_size,
                    "augment": clf.augment,
                    "orientation": clf.orientation,
                }
            )
    summary = {
        k: {m: float(np.mean([r[m] for r in v])) for m in v[0] if isinstance(v[0][m], (int, float))}
        for k, v in results.items()
    }
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


def _choices(r: dict) -> str:
    return f"{r['input_size']} px, {r['augment']}" if "input_size" in r else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small data and budgets: checks the script runs")
    ap.add_argument("--digit-steps", type=int, default=None, help="tuned ImageClassifier steps (default 600; quick 60)")
    ap.add_argument("--object-steps", type=int, default=None, help="tuned ObjectClassifier steps (300; quick 40)")
    ap.add_argument(
        "--default-steps",
        type=int,
        default=None,
        help="max_steps of the defaults rows (default: fit's own, 500 images / 400 objects; quick 60)",
    )
    ap.add_argument("--draws", type=int, default=None, help="draws of the labelled objects (default 6; quick 1)")
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
    default_steps = args.default_steps or (60 if q else None)
    draws = args.draws or (1 if q else 6)

    start = time.perf_counter()
    d = digits(digit_steps, quick=q, default_steps=default_steps)
    print(f"\n## Digits (scikit-learn, 8x8): {d['n_train']} train / {d['n_test']} test, stratified, seed 0\n")
    print("| method | accuracy | train s | steps | steps/s | input, augmentation |")
    print("|---|---|---|---|---|---|")
    for name, r in d["rows"].items():
        steps = str(r.get("steps", "-"))
        sps = f"{r['steps_per_s']:.1f}" if "steps_per_s" in r else "-"
        print(f"| {name} | {r['accuracy']:.4f} | {r['train_s']:.1f} | {steps} | {sps} | {_choices(r)} |")
    for name, r in d["rows"].items():
        if "report" in r:
            print(f"\n{name}:\n{r['report']}")

    objs = {}
    for difference, title in (("rim", "uniform vs bright rim"), ("shape", "round vs elongated")):
        o = objs[difference] = objects(
            object_steps, quick=q, draws=draws, difference=difference, default_steps=default_steps
        )
        print(
            f"\n## Objects: synthetic {title}, {o['shape'][0]}x{o['shape'][1]}, {o['objects'][0]} objects "
            f"(held-out image {o['objects'][1]}), {o['per_class']} labelled per class, mean of {draws} draw(s)\n"
        )
        print("| method | accuracy, other objects | accuracy, held-out image | steps | input, augmentation |")
        print("|---|---|---|---|---|")
        for name, m in o["mean"].items():
            each = o["each"][name]
            steps = f"{m['steps']:.0f}" if "steps" in m else "-"
            chosen = ", ".join(sorted({_choices(r) for r in each}))
            print(f"| {name} | {m['same_image']:.4f} | {m['held_out_image']:.4f} | {steps} | {chosen} |")
        for name in OBJECT_MODELS:
            m = o["mean"][name]
            print(
                f"({name}: {m['steps_per_s']:.1f} steps/s, {m['train_s']:.1f} s training, "
                f"{m['predict_objects_per_s']:.0f} objects/s prediction)"
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
