"""Segmentation and spot-detection benchmark: ours against scikit-image, all in one run.

Prints one markdown table of F1@0.5 and AP (instance segmentation) and detection F1
(spots), then training and prediction speed:

* touching nuclei (synthetic: blur, Poisson + read noise, uneven background), trained
  on 2 generated images, measured on 3 others (other seeds); mean over the 3;
* scikit-image's ``coins``: trained on the left half, measured on the right half,
  against a semi-automatic reference (the gallery's region-based watershed);
* spots (synthetic) at a low and a high SNR, trained on one image, measured on
  another, against ``skimage.feature.blob_log``.

Rows: the classical baseline (Otsu + distance-transform watershed; blob_log for
spots), each with its parameters tuned on the *training* image(s), never on the test
ones; ours trained on dense masks (instance mode); ours trained on sparse scribbles
(semantic mode, under 5% of pixels annotated, then ``predict(output="instances")``).

    python bench/segment.py            # full run: 300 s per trained model, ~35 min on 2 CPU cores
    python bench/segment.py --quick    # a smoke run of the same code, small images, ~2 min
    python bench/segment.py --only nuclei,speed --json   # raw numbers to bench/out/segment.json
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage as ndi
from skimage import data, filters, measure, segmentation
from skimage.feature import blob_log, peak_local_max

import napari_gan as ng
from napari_gan.core.metrics import match_points, segmentation_scores
from napari_gan.core.synthetic import scribbles, spots, touching_nuclei

SECTIONS = ("nuclei", "coins", "spots", "speed")
OUT = Path(__file__).resolve().parent / "out"
NUCLEI_TRAIN_SEEDS = (0, 1)
NUCLEI_TEST_SEEDS = (100, 101, 102)
# every degradation the issue asks for, spelled out (these are also the generator's defaults)
NUCLEI_OPTIONS = dict(blur=1.0, photons=100.0, noise=0.02, background=0.45)
SPOT_SIGMA = 1.5
SPOT_RADIUS = 3.0  # a detection within 3 px of a true spot is a hit
SPOT_TRAIN_SEED, SPOT_TEST_SEED = 0, 100

BASELINE = "classical: Otsu + distance-transform watershed (skimage, tuned on training)"
BLOB = "classical: blob_log (skimage, tuned on training)"


# ------------------------------------------------------------------------- internals


def remove_small(lab: np.ndarray, min_size: int) -> np.ndarray:
    """Zero the objects of a label image with fewer than ``min_size`` pixels."""
    if min_size <= 1 or not lab.any():
        return lab
    counts = np.bincount(lab.ravel())
    small = counts < min_size
    small[0] = False
    return np.where(small[lab], 0, lab)


def typical_sizes(labels: np.ndarray) -> tuple[float, float]:
    """(10th percentile, median) object area of a label image, in pixels."""
    counts = np.bincount(labels.ravel())[1:]
    counts = counts[counts > 0]
    return float(np.percentile(counts, 10)), float(np.median(counts))


def mean_scores(pairs) -> dict:
    """Mean of segmentation_scores over (true, pred) pairs, plus the per-image values."""
    each = [segmentation_scores(t, p) for t, p in pairs]
    return {
        "f1": float(np.mean([s["f1@0.5"] for s in each])),
        "ap": float(np.mean([s["ap"] for s in each])),
        "per_image": [{k: (float(v) if isinstance(v, float) else int(v)) for k, v in s.items()} for s in each],
    }


def train(model, *args, seconds: float, **kwargs) -> dict:
    """Fit with a time budget (steps effectively unlimited); record steps and seconds."""
    t = time.perf_counter()
    model.fit(*args, max_steps=10_000_000, time_limit=seconds, seed=0, **kwargs)
    sec = time.perf_counter() - t
    steps = model.steps_trained
    return {"steps": steps, "seconds": sec, "steps_s": steps / sec, "batch": model.config.batch_size}


# --------------------------------------------------------------------------- classical baseline


def otsu_watershed(image, *, sigma: float, scale: float, min_distance: int, min_size: int) -> np.ndarray:
    """The textbook pipeline: smooth, global Otsu threshold (times ``scale``), fill
    holes, drop small specks, split by a watershed on the distance transform seeded
    at its peaks at least ``min_distance`` apart."""
    smooth = filters.gaussian(np.asarray(image, np.float64), sigma=sigma, preserve_range=True)
    mask = smooth > scale * filters.threshold_otsu(smooth)
    mask = ndi.binary_fill_holes(mask)
    mask = remove_small(measure.label(mask), min_size) > 0
    if not mask.any():
        return np.zeros(mask.shape, np.int32)
    dist = ndi.distance_transform_edt(mask)
    comps = measure.label(mask)
    peaks = peak_local_max(dist, min_distance=min_distance, labels=comps, exclude_border=False)
    markers = np.zeros(mask.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    lab = segmentation.watershed(-dist, markers, mask=mask)
    missed = measure.label(mask & (lab == 0))  # a component without a peak is one object
    lab = np.where(missed > 0, missed + lab.max(), lab)
    lab = remove_small(lab, min_size)
    return segmentation.relabel_sequential(lab)[0].astype(np.int32)


def tune_otsu(images, labels) -> dict:
    """The baseline's parameters with the best mean F1@0.5 (then AP) on the training data."""
    small, median = typical_sizes(np.concatenate([lab.ravel() for lab in labels]))
    radius = math.sqrt(median / math.pi)
    min_size = max(4, int(small / 5))  # the same rule as our instance mode's
    # every integer peak distance from 2 px to 0.9 x the median radius
    distances = list(range(2, max(3, int(round(0.9 * radius))) + 1))
    best, best_key = None, (-1.0, -1.0)
    for sigma in (0.5, 1.0, 2.0):
        for scale in (0.7, 0.85, 1.0, 1.15, 1.3):
            for min_distance in distances:
                p = dict(sigma=sigma, scale=scale, min_distance=min_distance, min_size=min_size)
                s = mean_scores([(lab, otsu_watershed(img, **p)) for img, lab in zip(images, labels)])
                key = (round(s["f1"], 6), s["ap"])
                if key > best_key:
                    best, best_key = p, key
    return {"params": best, "train_f1": best_key[0], "grid_min_distance": distances}


# --------------------------------------------------------------------------- scribbles


# --------------------------------------------------------------------------- datasets


def nuclei_set(size: int, seeds) -> tuple[np.ndarray, np.ndarray]:
    pairs = [touching_nuclei((size, size), seed=s, **NUCLEI_OPTIONS) for s in seeds]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def coins_reference() -> tuple[np.ndarray, np.ndarray]:
    """coins and a semi-automatic reference: scikit-image's gallery region-based
    recipe (Sobel elevation map, markers from intensity < 30 and > 150, watershed,
    fill holes, label), with specks under 50 px dropped."""
    coins = data.coins()
    elevation = filters.sobel(coins)
    markers = np.zeros(coins.shape, np.int32)
    markers[coins < 30] = 1
    markers[coins > 150] = 2
    fg = ndi.binary_fill_holes(segmentation.watershed(elevation, markers) == 2)
    ref = remove_small(measure.label(fg), 50)
    return coins, segmentation.relabel_sequential(ref)[0].astype(np.int32)


# --------------------------------------------------------------------------- sections


def run_segmentation(name, train_x, train_y, test_x, test_y, *, seconds, opts, axes, notes, models):
    """Baseline, dense instance and sparse semantic on one data set; returns rows."""
    rows, timing = {}, {}
    t = time.perf_counter()
    tuned = tune_otsu(list(train_x), list(train_y))
    p = tuned["params"]
    rows[BASELINE] = mean_scores([(y, otsu_watershed(x, **p)) for x, y in zip(test_x, test_y)])
    rows[BASELINE]["params"] = p
    notes.append(
        f"{name}: baseline tuned on the training data (F1@0.5 there {tuned['train_f1']:.3f}): "
        f"gaussian sigma={p['sigma']:g}, threshold={p['scale']:g} x Otsu, min_distance={p['min_distance']} "
        f"(grid {tuned['grid_min_distance'][0]}..{tuned['grid_min_distance'][-1]}), min_size={p['min_size']} px "
        f"[{time.perf_counter() - t:.0f} s to tune]"
    )
    print(name, "baseline", round(rows[BASELINE]["f1"], 3), p, flush=True)

    x_train = train_x if axes == "SYX" else train_x[0]
    y_train = train_y if axes == "SYX" else train_y[0]
    dense = ng.Segmenter(mode="instance", **opts)
    timing[f"{name}, dense (instance)"] = train(dense, x_train, y_train, axes=axes, seconds=seconds)
    key = f"ours, dense masks (instance), {seconds:g} s"
    rows[key] = mean_scores([(y, dense.predict(x)) for x, y in zip(test_x, test_y)])
    print(name, "dense", round(rows[key]["f1"], 3), timing[f"{name}, dense (instance)"]["steps"], "steps", flush=True)

    scrib = np.stack([scribbles(y, seed=1000 + i) for i, y in enumerate(train_y)])
    frac = float((scrib > 0).mean())
    notes.append(
        f"{name}: sparse scribbles cover {frac:.2%} of the training pixels "
        f"({int((scrib == 2).sum())} object, {int((scrib == 1).sum())} background/seam of {scrib.size})"
    )
    sparse = ng.Segmenter(mode="semantic", **opts)
    s_train = scrib if axes == "SYX" else scrib[0]
    timing[f"{name}, sparse (semantic)"] = train(sparse, x_train, s_train, axes=axes, seconds=seconds)
    key = f"ours, sparse scribbles (semantic -> instances), {seconds:g} s"
    rows[key] = mean_scores([(y, sparse.predict(x, output="instances")) for x, y in zip(test_x, test_y)])
    rows[key]["annotated_fraction"] = frac
    print(name, "sparse", round(rows[key]["f1"], 3), timing[f"{name}, sparse (semantic)"]["steps"], "steps", flush=True)
    models.setdefault("dense", dense)
    models.setdefault("sparse", sparse)
    return rows, timing


def section_nuclei(args, seconds, opts, notes, models):
    size = 128 if args.quick else 256
    train_x, train_y = nuclei_set(size, NUCLEI_TRAIN_SEEDS)
    test_x, test_y = nuclei_set(size, NUCLEI_TEST_SEEDS)
    notes.append(
        f"nuclei: {size}x{size}, train seeds {NUCLEI_TRAIN_SEEDS} ({int(train_y.max(axis=(1, 2)).sum())} nuclei), "
        f"test seeds {NUCLEI_TEST_SEEDS} ({int(test_y.max(axis=(1, 2)).sum())} nuclei); scores are means over the "
        "test images"
    )
    return run_segmentation(
        "nuclei", train_x, train_y, test_x, test_y, seconds=seconds, opts=opts, axes="SYX", notes=notes, models=models
    )


def section_coins(args, seconds, opts, notes, models):
    coins, ref = coins_reference()
    notes.append(
        f"coins: the reference is semi-automatic (gallery region-based watershed), {int(ref.max())} coins, "
        "not a manual annotation; train on the left half, score on the right half (objects cut by the "
        "middle line count as their right-hand parts)"
    )
    half = coins.shape[1] // 2
    left_x, left_y = coins[:, :half], segmentation.relabel_sequential(ref[:, :half])[0]
    right_x, right_y = coins[:, half:], segmentation.relabel_sequential(ref[:, half:])[0]
    return run_segmentation(
        "coins",
        left_x[None],
        left_y[None],
        right_x[None],
        right_y[None],
        seconds=seconds,
        opts=opts,
        axes="YX",
        notes=notes,
        models={},
    )


def blob_points(image, *, threshold, max_sigma, lo, hi):
    x = (np.asarray(image, np.float64) - lo) / (hi - lo)
    found = blob_log(x, min_sigma=1.0, max_sigma=max_sigma, num_sigma=5, threshold=threshold, exclude_border=False)
    return found[:, :2]


def section_spots(args, seconds, notes):
    size = 128 if args.quick else 256
    n = 30 if args.quick else 120
    rows = {BLOB: {}, f"ours, SpotDetector, {seconds:g} s": {}}
    timing = {}
    for snr in (3.0, 6.0):
        opts = dict(n=n, snr=snr, sigma=SPOT_SIGMA)
        tr_img, tr_pts = spots((size, size), seed=SPOT_TRAIN_SEED, **opts)
        te_img, te_pts = spots((size, size), seed=SPOT_TEST_SEED, **opts)
        # one intensity scaling rule for both images: 1st-99.9th percentile of each
        best, best_f1 = None, -1.0
        tr_range = np.percentile(tr_img, [1, 99.9])
        for max_sigma in (2.0, 3.0):
            for thr in np.geomspace(0.005, 0.5, 31):
                found = blob_points(tr_img, threshold=thr, max_sigma=max_sigma, lo=tr_range[0], hi=tr_range[1])
                f1 = match_points(tr_pts, found, radius=SPOT_RADIUS).f1
                if f1 > best_f1 + 1e-9:
                    best, best_f1 = dict(threshold=float(thr), max_sigma=max_sigma), f1
        te_range = np.percentile(te_img, [1, 99.9])
        m = match_points(te_pts, blob_points(te_img, lo=te_range[0], hi=te_range[1], **best), radius=SPOT_RADIUS)
        rows[BLOB][snr] = {"f1": m.f1, "precision": m.precision, "recall": m.recall, "params": best}
        notes.append(
            f"spots SNR {snr:g}: blob_log (image scaled by its 1st-99.9th percentiles, min_sigma=1, num_sigma=5) "
            f"tuned on the training image: threshold={best['threshold']:.4f}, max_sigma={best['max_sigma']:g} "
            f"(training F1 {best_f1:.3f})"
        )
        det = ng.SpotDetector(sigma=SPOT_SIGMA)
        timing[f"spots SNR {snr:g}"] = train(det, tr_img, tr_pts, seconds=seconds)
        m = match_points(te_pts, det.predict(te_img), radius=SPOT_RADIUS)
        key = f"ours, SpotDetector, {seconds:g} s"
        rows[key][snr] = {"f1": m.f1, "precision": m.precision, "recall": m.recall, "threshold": det.threshold}
        print("spots", snr, "blob_log", round(rows[BLOB][snr]["f1"], 3), "ours", round(m.f1, 3), flush=True)
    notes.append(
        f"spots: {size}x{size}, {n} spots of sigma {SPOT_SIGMA} px (+ n/5 faint wide blobs), train seed "
        f"{SPOT_TRAIN_SEED}, test seed {SPOT_TEST_SEED}; a hit is within {SPOT_RADIUS:g} px (one-to-one)"
    )
    return rows, timing


def section_speed(args, opts, models):
    """Prediction MPix/s of the trained segmenters on a large tiled nuclei image."""
    size = 512 if args.quick else 2048
    if "dense" not in models or "sparse" not in models:  # --only speed: speed does not depend on training
        x, y = touching_nuclei((256, 256), seed=NUCLEI_TRAIN_SEEDS[0], **NUCLEI_OPTIONS)
        models["dense"] = ng.Segmenter(mode="instance", **opts).fit(x, y, max_steps=3, seed=0)
        models["sparse"] = ng.Segmenter(mode="semantic", **opts).fit(x, scribbles(y, seed=0), max_steps=3, seed=0)
    tile, _ = touching_nuclei((256, 256), seed=NUCLEI_TEST_SEEDS[0], **NUCLEI_OPTIONS)
    big = np.tile(tile, (size // 256, size // 256))
    out = {}
    for label, model, output in (
        ("dense (instance) -> labels", models["dense"], "labels"),
        ("dense (instance) -> probabilities (network only)", models["dense"], "probabilities"),
        ("sparse (semantic) -> instances", models["sparse"], "instances"),
    ):
        t = time.perf_counter()
        model.predict(big, output=output)
        sec = time.perf_counter() - t
        out[label] = {"size": size, "seconds": sec, "mpix_s": big.size / 1e6 / sec}
        print("speed", label, round(out[label]["mpix_s"], 3), "MPix/s", flush=True)
    return out


# --------------------------------------------------------------------------- report


def fmt(cell, keys=("f1", "ap")):
    return " / ".join(f"{cell[k]:.3f}" for k in keys) if cell else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10 s budgets and small images: checks the script runs")
    ap.add_argument("--seconds", type=float, default=300.0, help="training time per trained model (default 300)")
    ap.add_argument("--features", type=int, default=None, help="U-Net width of the Segmenter (default: library's)")
    ap.add_argument(
        "--json",
        nargs="?",
        const=str(OUT / "segment.json"),
        default=None,
        help="also write the raw numbers (default path bench/out/segment.json)",
    )
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma list of sections, from {','.join(SECTIONS)}")
    args = ap.parse_args()
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {sorted(unknown)}; choose from {SECTIONS}")
    seconds = 10.0 if args.quick else args.seconds
    opts = {} if args.features is None else {"features": args.features}
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, budget {seconds:g} s per model, "
        f"Segmenter features={opts.get('features', ng.SegmenterConfig().features)}",
        flush=True,
    )

    notes, results, timing, models = [], {}, {}, {}
    for name, fn in (("nuclei", section_nuclei), ("coins", section_coins)):
        if name in only:
            rows, t = fn(args, seconds, opts, notes, models)
            results[name] = rows
            timing.update(t)
    if "spots" in only:
        rows, t = section_spots(args, seconds, notes)
        results["spots"] = rows
        timing.update(t)
    speed = section_speed(args, opts, models) if "speed" in only else {}

    # one table: rows are methods, columns data sets
    columns = [(ds, f"{ds} F1@0.5 / AP") for ds in ("nuclei", "coins") if ds in results]
    if "spots" in results:
        columns += [("spots3", "spots SNR 3 F1"), ("spots6", "spots SNR 6 F1")]
    table = {}
    for ds in ("nuclei", "coins"):
        for key, cell in results.get(ds, {}).items():
            extra = f" ({cell['annotated_fraction']:.1%} px annotated)" if "annotated_fraction" in cell else ""
            table.setdefault(key, {})[ds] = fmt(cell) + extra
    for key, per_snr in results.get("spots", {}).items():
        for snr, cell in per_snr.items():
            table.setdefault(key, {})[f"spots{snr:g}"] = fmt(cell, ("f1",))
    print()
    print("| method | " + " | ".join(c[1] for c in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for row, cells in table.items():
        print(f"| {row} | " + " | ".join(cells.get(c[0], "-") for c in columns) + " |")

    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print()
    print("| training / prediction | value |")
    print("|---|---|")
    for k, v in timing.items():
        print(
            f"| train {k} | {v['steps']} steps in {v['seconds']:.0f} s = {v['steps_s']:.2f} steps/s "
            f"({v['steps_s'] * v['batch']:.0f} patches/s) |"
        )
    for k, v in speed.items():
        print(f"| predict {v['size']}x{v['size']}, {k} | {v['mpix_s']:.3f} MPix/s ({v['seconds']:.1f} s) |")
    print(f"| peak RSS of the whole run | {peak_gib:.2f} GiB |")

    # the targets, checked (meaningful at the default 300 s budgets only)
    checks = []
    nuc = results.get("nuclei")
    if nuc:
        base = nuc[BASELINE]["f1"]
        dense = next(v for k, v in nuc.items() if k.startswith("ours, dense"))["f1"]
        sparse = next(v for k, v in nuc.items() if k.startswith("ours, sparse"))["f1"]
        checks.append(
            ("nuclei dense F1@0.5 >= baseline + 0.15", f"{dense:.3f} vs {base + 0.15:.3f}", dense >= base + 0.15)
        )
        checks.append(("nuclei dense F1@0.5 >= 0.85", f"{dense:.3f}", dense >= 0.85))
        checks.append(("nuclei sparse F1@0.5 (instances) >= 0.75", f"{sparse:.3f}", sparse >= 0.75))
    sp = results.get("spots")
    if sp:
        ours = next(v for k, v in sp.items() if k != BLOB)[3.0]["f1"]
        blob = sp[BLOB][3.0]["f1"]
        checks.append(("spots SNR 3: F1 above blob_log", f"{ours:.3f} vs {blob:.3f}", ours > blob))
    if checks:
        print()
        caveat = " (quick run: budgets far below the targets' 5 min)" if args.quick else ""
        print(f"| target{caveat} | value | met |")
        print("|---|---|---|")
        for what, val, ok in checks:
            print(f"| {what} | {val} | {'yes' if ok else 'no'} |")
    print()
    print("Notes:")
    for n in notes:
        print(f"- {n}")

    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        spots_json = {k: {f"snr{s:g}": v for s, v in per.items()} for k, per in results.get("spots", {}).items()}
        with open(path, "w") as fh:
            json.dump(
                {
                    "seconds": seconds,
                    "quick": args.quick,
                    "features": opts.get("features"),
                    "threads": torch.get_num_threads(),
                    "quality": {k: v for k, v in results.items() if k != "spots"},
                    "spots": spots_json,
                    "training": timing,
                    "prediction": speed,
                    "peak_rss_gib": peak_gib,
                    "notes": notes,
                },
                fh,
                indent=1,
            )
        print(f"raw numbers written to {path}")


if __name__ == "__main__":
    main()
