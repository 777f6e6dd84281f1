"""Stain transfer with a known answer: unpaired translation (``Translator(task="unpaired")``)
against two classical colour transfers, in one run.

Domain A is scikit-image's immunohistochemistry image (hematoxylin + DAB, bundled).
Domain B is the same tissue separated into its stains (``color.rgb2hed``) and rendered
again (``color.combine_stains``) with another stain matrix: the brown DAB becomes a
red chromogen (like AEC or Fast Red) and the hematoxylin a bluer purple. Training is
unpaired and on disjoint pixels: A from the left half of the top 384 rows, B from the
right half, re-rendered. The bottom 128 rows (no model and no baseline saw them) are
the test: its A rendering is translated and compared with its true B rendering by

* PSNR and SSIM (RGB in [0, 1]) and the mean colour difference delta E (CIEDE2000) in Lab;
* the two-sample classifier test (``napari_gan.metrics.classifier_test``, 32 px crops):
  can a fresh CNN tell the translation from the true B rendering; beside it the
  real-vs-real floor (the two halves of the true rendering).

Baselines, fitted on the same training pixels: ``exposure.match_histograms`` per
channel (each test image matched to the B training half), Reinhard's transfer
(Reinhard et al. 2001): each Lab channel's mean and standard deviation set to B's,
and a percentile transfer: each RGB channel's 1st and 99.8th percentiles in A mapped
linearly onto B's. The last is where the translator starts: it normalises A and B
that way, and its generators start at the identity, so before training it returns
exactly this transfer.

    python bench/stain_transfer.py            # 300 s of training, ~7 min on 2 CPU cores
    python bench/stain_transfer.py --quick    # 60 s of training, fewer classifier steps
    python bench/stain_transfer.py --trace 20 # also the test scores every 20 s of training (and without
                                              # the generators' moving averages)
    python bench/stain_transfer.py --split checkerboard  # A and B from alternate 64 px tiles
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from skimage import color, data, exposure
from skimage.io import imsave
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import napari_gan as ng
from napari_gan.core.tasks.translate.paired import joint_norm

OUT = Path(__file__).resolve().parent / "out"
IMAGE = Path(__file__).resolve().parent.parent / "docs" / "images" / "stain_transfer.png"
#: B's stain matrix (rows: optical density of hematoxylin, eosin, the chromogen in R, G, B)
RGB_FROM_B = np.array([[0.55, 0.75, 0.37], [0.07, 0.99, 0.11], [0.12, 0.80, 0.59]])
TRAIN_ROWS = 384
MODEL = dict(features=16, depth=2, patch_size=64, batch_size=8, d_features=16, adversarial_weight=0.1)


def domains() -> tuple[np.ndarray, np.ndarray]:
    """(A, B): the IHC image in [0, 1] and its re-rendering with ``RGB_FROM_B``, float64 RGB."""
    ihc = data.immunohistochemistry()
    hed = color.rgb2hed(ihc)
    matrix = RGB_FROM_B / np.linalg.norm(RGB_FROM_B, axis=1, keepdims=True)
    return ihc.astype(np.float64) / 255, np.clip(color.combine_stains(hed, matrix), 0, 1)


def reinhard(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Reinhard colour transfer: each Lab channel's mean and std set to ``reference``'s."""
    lab, ref = color.rgb2lab(image), color.rgb2lab(reference)
    mu, sd = lab.mean((0, 1)), lab.std((0, 1))
    out = (lab - mu) / np.maximum(sd, 1e-6) * ref.std((0, 1)) + ref.mean((0, 1))
    return np.clip(color.lab2rgb(out), 0, 1)


def percentile_transfer(image: np.ndarray, a_ref: np.ndarray, b_ref: np.ndarray) -> np.ndarray:
    """Each channel's 1st and 99.8th percentiles in ``a_ref`` mapped linearly onto ``b_ref``'s:
    the Translator's own normalisations of A and B, composed (its untrained output)."""

    def pixels(x):  # (..., 3) RGB -> one (3, 1, N) frame
        return np.asarray(x, np.float32).reshape(-1, 3).T[:, None, :]

    norm_a, norm_b = joint_norm([pixels(a_ref)], "A"), joint_norm([pixels(b_ref)], "B")
    moved = norm_b.invert(norm_a.apply(np.moveaxis(np.asarray(image, np.float32), -1, 0)[None]))[0]
    return np.moveaxis(moved, 0, -1)


@contextmanager
def generators_alone(model):
    """Predict with the generators' current weights instead of their moving averages
    (what ``predict`` uses): the averages leave the model while inside."""
    averages = {k: model.net.pop(k) for k in ("g_ema", "f_ema") if k in model.net}
    try:
        yield
    finally:
        model.net.update(averages)


def scores(pred: np.ndarray, truth: np.ndarray) -> dict:
    pred = np.clip(pred, 0, 1).astype(np.float64)
    return {
        "psnr": float(peak_signal_noise_ratio(truth, pred, data_range=1)),
        "ssim": float(structural_similarity(truth, pred, data_range=1, channel_axis=-1)),
        "delta_e": float(color.deltaE_ciede2000(color.rgb2lab(truth), color.rgb2lab(pred)).mean()),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--time", type=float, default=300.0, help="seconds of training (default 300)")
    parser.add_argument("--quick", action="store_true", help="60 s of training and a shorter classifier test")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--c2st-steps", type=int, default=300, help="classifier-test training steps")
    parser.add_argument(
        "--trace", type=float, default=0, help="print the test PSNR and delta E every TRACE seconds of training"
    )
    parser.add_argument(
        "--split",
        choices=("halves", "checkerboard"),
        default="halves",
        help="training pixels: A left and B right half (default), or alternate patch-size tiles",
    )
    parser.add_argument("--options", default="{}", help="Translator options over the defaults, as JSON")
    parser.add_argument("--png", default=str(IMAGE), help="where to write the picture")
    args = parser.parse_args(argv)
    budget = 60.0 if args.quick else args.time
    c2st = dict(crop=32, seeds=2 if args.quick else 3, steps=100 if args.quick else args.c2st_steps, channel_axis=-1)
    torch.set_num_threads(args.threads)

    a_full, b_full = domains()
    if args.split == "halves":
        w = a_full.shape[1] // 2
        a_train, b_train = a_full[:TRAIN_ROWS, :w], b_full[:TRAIN_ROWS, w:]
        b_ref = b_train
    else:  # alternate tiles of one patch: the same mix of tissue on both sides, still no pairs
        t = MODEL["patch_size"]
        corners = [(i, j) for i in range(0, TRAIN_ROWS, t) for j in range(0, a_full.shape[1], t)]
        a_train = np.stack([a_full[i : i + t, j : j + t] for i, j in corners if (i // t + j // t) % 2 == 0])
        b_train = np.stack([b_full[i : i + t, j : j + t] for i, j in corners if (i // t + j // t) % 2 == 1])
        b_ref = np.concatenate(list(b_train), axis=1)  # the classical transfers read only its statistics
    test_a, test_b = a_full[TRAIN_ROWS:], b_full[TRAIN_ROWS:]
    print(f"A train {a_train.shape[:-1]}, B train {b_train.shape[:-1]} ({args.split}), test {test_a.shape[:2]}")

    results, images = {}, {}
    t = time.perf_counter()
    images["input (A)"] = test_a
    results["input (A)"] = scores(test_a, test_b)
    images["match_histograms"] = exposure.match_histograms(test_a, b_ref, channel_axis=-1)
    images["Reinhard (Lab)"] = reinhard(test_a, b_ref)
    images["percentile transfer"] = np.clip(percentile_transfer(test_a, a_train, b_train), 0, 1)
    classical_s = time.perf_counter() - t

    options = {**MODEL, **json.loads(args.options)}
    print(f"Translator(task='unpaired', {', '.join(f'{k}={v!r}' for k, v in options.items())})")
    model = ng.Translator(task="unpaired", **options)
    t = time.perf_counter()
    # A as uint8 (as read from a file), B as floats in [0, 1]: the model takes either
    a8 = (a_train * 255).round().astype(np.uint8)
    test_a8 = (test_a * 255).round().astype(np.uint8)
    trace, mark = [], args.trace
    for rec in model.fit_iter(a8, b_train.astype(np.float32), time_limit=budget, max_steps=100_000, seed=args.seed):
        if args.trace and rec.elapsed >= mark:
            mark += args.trace
            now = scores(np.clip(model.predict(test_a8), 0, 1), test_b)
            with generators_alone(model):
                raw = scores(np.clip(model.predict(test_a8), 0, 1), test_b)
            model.net.train()  # predict left the networks in eval mode (they have no batch norm)
            trace.append({"elapsed": rec.elapsed, "step": rec.step, **now, "generators_alone": raw})
            print(
                f"  {rec.elapsed:5.0f} s, step {rec.step}: PSNR {now['psnr']:.2f} dB, delta E {now['delta_e']:.2f} "
                f"(generators alone, without their moving averages: {raw['psnr']:.2f} dB, {raw['delta_e']:.2f})"
            )
    train_s = time.perf_counter() - t
    steps = model.steps_trained
    t = time.perf_counter()
    ours, change = model.predict(test_a8, return_uncertainty=True)
    predict_s = time.perf_counter() - t
    images["ours (unpaired)"] = np.clip(ours, 0, 1)
    for name in ("match_histograms", "Reinhard (Lab)", "percentile transfer", "ours (unpaired)"):
        results[name] = scores(images[name], test_b)

    print(f"classifier tests ({c2st['seeds']} seeds, {c2st['steps']} steps, 32 px crops) ...")
    floor = ng.metrics.classifier_test_floor(test_b.astype(np.float32), **c2st).accuracy
    for name in results:
        results[name]["c2st"] = ng.metrics.classifier_test(
            images[name].astype(np.float32), test_b.astype(np.float32), **c2st
        ).accuracy

    print(
        f"\nours: {steps} steps in {train_s:.0f} s ({steps / train_s:.2f} steps/s), prediction "
        f"{test_a.shape[0] * test_a.shape[1] / 1e6 / predict_s:.2f} MPix/s with the change map; "
        f"classical transfers {classical_s:.2f} s"
    )
    print(f"\n| method | PSNR (dB) | SSIM | mean delta E (CIEDE2000) | classifier test (floor {floor:.2f}) |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['delta_e']:.2f} | {r['c2st']:.2f} |")
    best = {k: min(results[n]["delta_e"] for n in ("match_histograms", "Reinhard (Lab)")) for k in ("de",)}
    ok_de = results["ours (unpaired)"]["delta_e"] < best["de"]
    ok_psnr = results["ours (unpaired)"]["psnr"] > max(
        results[n]["psnr"] for n in ("match_histograms", "Reinhard (Lab)")
    )
    print(f"\ntarget (beat both baselines on delta E and PSNR): delta E {ok_de}, PSNR {ok_psnr}")
    start, end = results["percentile transfer"], results["ours (unpaired)"]
    print(
        f"training against its start (the percentile transfer): PSNR {end['psnr'] - start['psnr']:+.2f} dB, "
        f"delta E {end['delta_e'] - start['delta_e']:+.2f}"
    )
    print(f"change map: mean {change.mean():.4f}, 99th percentile {np.percentile(change, 99):.4f} (input units)")

    # the picture: rows = test strip as A, truth B, baselines, ours, the change map
    rows = [test_a, test_b] + [images[n] for n in ("match_histograms", "Reinhard (Lab)", "ours (unpaired)")]
    cmap = np.clip(change / max(np.percentile(change, 99.5), 1e-6), 0, 1)
    rows.append(np.repeat(cmap[..., None], 3, axis=-1))
    gap = np.ones((4, test_a.shape[1], 3))
    strip = np.concatenate([x for r in rows for x in (np.clip(r, 0, 1), gap)][:-1], 0)
    png = Path(args.png)
    png.parent.mkdir(parents=True, exist_ok=True)
    imsave(png, (strip * 255).round().astype(np.uint8), check_contrast=False)
    print(f"wrote {png} (top to bottom: A, true B, match_histograms, Reinhard, ours, change map)")
    OUT.mkdir(exist_ok=True)
    record = {"budget_s": budget, "steps": steps, "train_s": train_s, "floor": floor, "results": results}
    record["trace"] = trace
    (OUT / "stain_transfer.json").write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
