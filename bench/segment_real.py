"""Instance segmentation on real images: trained on the left half, scored on the right.

Data (nothing downloaded):

* ``nuclei``: the nuclei channel of napari's own screenshot of a fluorescence image
  (``napari/resources/multichannel_cells.png``), 207 x 207 after averaging 4 x 4
  screen pixels (nuclei ~37 px across), 26 nuclei; semi-automatic masks checked by
  eye in tests/data (how they were made: tests/real_images.py);
* ``nuclei, dimmed and defocused``: the same, with the *test* half changed the way
  the right half of a real image can differ from the left: each nucleus's
  brightness above the background multiplied by a factor from 0.25 to 1 (drawn per
  nucleus) and a third of the nuclei blurred (sigma 2 px), with the
  background and noise left as they are. Training data is unchanged;
* ``coins``: scikit-image's coins with the gallery's region-based watershed as the
  reference (as in bench/segment.py), a stand-in for round objects on an uneven
  background.

Rows: Otsu + distance-transform watershed with its smoothing, threshold scale, peak
distance and minimum size tuned on the left half (bench/segment.py's grid); the
Segmenter trained on the left half's masks with the default
``vary_appearance=False`` (flips, quarter turns and a global brightness/contrast
change) and with ``vary_appearance=True`` (also brightness varying between
neighbouring objects, blur and noise). F1 at IoU 0.5 and AP over IoU 0.5-0.9,
steps/s.

    python bench/segment_real.py [--seconds 240] [--only nuclei,coins] [--json bench/out/segment_real.json]

``--seeding STEPS``: instead, how the Segmenter splits touching objects, on the same
networks: for each training seed (``--seeds``), one Segmenter trained STEPS steps
(a fixed count, so every seed's network is the same on any machine) predicts the
right half with the seeds at the h-maxima of the predicted interior's distance
transform (h = 0.15 object radii), with the seeds at peaks of the predicted distance
map (spacing calibrated on the left half, the only seeding before 2026-12-04), and
with what the model chose after training (the default), with and without joining
touching pieces of one object (``merge_ratio``, chosen too).

    python bench/segment_real.py --seeding 400 --seeds 0,1,2,3     # about 5 minutes
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

import napari_gan as ng

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from real_images import dim_and_defocus, halves, napari_nuclei  # noqa: E402
from segment import coins_reference, mean_scores, otsu_watershed, tune_otsu  # noqa: E402

BASELINE = "Otsu + distance-transform watershed (tuned on the left half)"


def datasets(names):
    sets = {}
    if "nuclei" in names:
        image, masks = napari_nuclei(scale=2)
        (lx, ly), (rx, ry) = halves(image, masks)
        sets["nuclei"] = (lx, ly, rx, ry)
        sets["nuclei, dimmed and defocused"] = (lx, ly, dim_and_defocus(rx, ry), ry)
    if "coins" in names:
        coins, ref = coins_reference()
        (lx, ly), (rx, ry) = halves(coins.astype(np.float32), ref)
        sets["coins"] = (lx, ly, rx, ry)
    return sets


def run(name, lx, ly, rx, ry, seconds, models):
    rows = {}
    tuned = tune_otsu([lx], [ly])
    rows[BASELINE] = mean_scores([(ry, otsu_watershed(rx, **tuned["params"]))])
    print(f"{name}: baseline F1 {rows[BASELINE]['f1']:.3f} {tuned['params']}", flush=True)
    for vary in (False, True):
        key = (name.split(",")[0], vary)
        if key not in models:  # the dimmed set reuses the model trained on the same left half
            seg = ng.Segmenter(mode="instance", vary_appearance=vary)
            t = time.perf_counter()
            seg.fit(lx, ly, max_steps=10_000_000, time_limit=seconds, seed=0)
            models[key] = (seg, seg.steps_trained / (time.perf_counter() - t))
        seg, speed = models[key]
        label = f"Segmenter, vary_appearance={vary}, {seconds:g} s"
        rows[label] = mean_scores([(ry, seg.predict(rx))])
        rows[label]["steps_s"] = speed
        print(f"{name}: {label} F1 {rows[label]['f1']:.3f} ({speed:.2f} steps/s)", flush=True)
    return rows


def seeding(name, lx, ly, rx, ry, steps, seeds, models):
    """F1@0.5 of each seeding on the networks of ``seeds`` (see the module docstring)."""
    from napari_gan.core.tasks import segment

    rows = {}
    for seed in seeds:
        key = (name.split(",")[0], seed)
        if key not in models:  # the dimmed set reuses the networks trained on the same left half
            seg = ng.Segmenter(mode="instance")
            calibrate, chosen = seg._calibrate, {}

            def both(*args, seg=seg, calibrate=calibrate, chosen=chosen):
                keep = segment.SEED_H_FACTORS, segment.MERGE_RATIOS
                # the calibration as it was: distance peaks only, no joining of pieces
                segment.SEED_H_FACTORS, segment.MERGE_RATIOS = (), (0.0,)
                try:
                    calibrate(*args)
                finally:
                    segment.SEED_H_FACTORS, segment.MERGE_RATIOS = keep
                chosen["peaks"] = (0.0, seg.peak_factor, 0.0)
                calibrate(*args)
                chosen["default"] = (seg.seed_h_factor, seg.peak_factor, seg.merge_ratio)

            seg._calibrate = both
            seg.fit(lx, ly, max_steps=steps, seed=seed)
            models[key] = (seg, chosen)
        seg, chosen = models[key]
        options = {
            "interior shape (h = 0.15 radii)": (segment.SEED_H_FACTOR, chosen["peaks"][1], 0.0),
            "distance peaks (calibrated)": chosen["peaks"],
            "default without joining pieces": chosen["default"][:2] + (0.0,),
            "default (calibrated choice)": chosen["default"],
        }
        for label, setting in options.items():
            seg.seed_h_factor, seg.peak_factor, seg.merge_ratio = setting
            rows.setdefault(label, []).append(mean_scores([(ry, seg.predict(rx))])["f1"])
        seg.seed_h_factor, seg.peak_factor, seg.merge_ratio = chosen["default"]
        print(f"{name}: seed {seed}: chose h {setting[0]}, peaks {setting[1]}, joining at {setting[2]}", flush=True)
        print(f"{name}: seed {seed}: " + ", ".join(f"{k} {v[-1]:.3f}" for k, v in rows.items()), flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=240.0)
    ap.add_argument("--only", default="nuclei,coins")
    ap.add_argument("--json", default=None)
    ap.add_argument("--seeding", type=int, metavar="STEPS", help="compare the seedings after STEPS training steps")
    ap.add_argument("--seeds", default="0,1,2,3", help="training seeds for --seeding")
    args = ap.parse_args()
    results, models = {}, {}
    if args.seeding:
        seeds = [int(v) for v in args.seeds.split(",")]
        for name, (lx, ly, rx, ry) in datasets(args.only.split(",")).items():
            results[name] = seeding(name, lx, ly, rx, ry, args.seeding, seeds, models)
        print(f"\n| data | seeding | F1@0.5 per training seed ({args.seeding} steps) | mean |")
        print("|---|---|---|---|")
        for name, rows in results.items():
            for label, f1 in rows.items():
                print(f"| {name} | {label} | {' / '.join(f'{v:.3f}' for v in f1)} | {np.mean(f1):.3f} |")
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(results, indent=1, default=float))
        return
    for name, (lx, ly, rx, ry) in datasets(args.only.split(",")).items():
        n_left, n_right = len(np.unique(ly)) - 1, len(np.unique(ry)) - 1
        results[name] = {"objects": [n_left, n_right], "rows": run(name, lx, ly, rx, ry, args.seconds, models)}
    print("\n| data (objects left / right) | method | F1@0.5 | AP |")
    print("|---|---|---|---|")
    for name, res in results.items():
        for method, s in res["rows"].items():
            print(f"| {name} ({res['objects'][0]} / {res['objects'][1]}) | {method} | {s['f1']:.3f} | {s['ap']:.3f} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
