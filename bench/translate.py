"""Image-to-image benchmark: ours (Translator) against scikit-image baselines, in one run.

Every model trains on some of scikit-image's bundled images and is measured on
*different* held-out images (256 x 256 crops), against a classical method computed on
the same inputs:

* super-resolution x2 and x4: input = mean of s x s blocks of the held-out image;
  baseline ``transform.rescale(order=3)``; PSNR/SSIM of the whole image;
* inpainting: 5 held-out images (the 3 above plus rocket and immunohistochemistry
  in gray), 3 masks of strokes and boxes each (7-37% of the image, fixed seeds);
  baseline ``restoration.inpaint_biharmonic``; PSNR/SSIM inside the mask only; also
  our classical fills alone: the tension-spline fill the network's residual starts
  from, and the harmonic pyramid fill;
* deblurring: Gaussian blur sigma 2 plus noise 0.01; baseline
  ``restoration.richardson_lucy`` with its iteration count chosen by the best mean PSNR
  on the test images themselves (an oracle: favours the baseline);
* colorization: PSNR of the RGB output against the true colour image; baseline the
  grayscale image replicated to RGB.

Each with adversarial weight 0 (plain CNN) and 0.01 (PatchGAN), after 120 s and, for
the targets (superres x2, inpainting), 300 s of training; the 120 s numbers of those
are taken inside the 300 s run (so their learning rate has not annealed yet).

    python bench/translate.py            # full protocol, ~35 min on 2 CPU cores
    python bench/translate.py --all-300  # 300 s for every task (~55 min)
    python bench/translate.py --quick    # smoke run of the same code, ~2-3 min
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage as ndi
from skimage import color, data, restoration, transform
from skimage.metrics import structural_similarity

import napari_gan as ng
from napari_gan.core.tasks.translate import classical_fill, downscale, random_masks

OUT = Path(__file__).resolve().parent / "out"
WEIGHTS = (0.0, 0.01)
TARGET_TASKS = ("superres2", "inpaint")
BLUR, NOISE = 2.0, 0.01
MASKS_PER_IMAGE = 3


def gray(img) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 3:
        img = color.rgb2gray(img[..., :3])
        return img.astype(np.float32)
    return (img.astype(np.float32) / (255.0 if img.dtype == np.uint8 else img.max())).astype(np.float32)


def crop(img, size):
    h, w = img.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return img[y : y + size, x : x + size]


def datasets(size: int):
    train_gray = [gray(data.camera()), gray(data.coins()), gray(data.moon()), gray(data.brick()), gray(data.grass())]
    test_gray = [crop(gray(data.astronaut()), size), crop(gray(data.chelsea()), size), crop(gray(data.coffee()), size)]
    train_rgb = [data.astronaut(), data.coffee(), data.rocket()]
    test_rgb = [crop(data.chelsea(), size), crop(data.immunohistochemistry(), size)]
    # inpainting: the gray test images plus two more (none of them trained on)
    inpaint_gray = test_gray + [crop(gray(data.rocket()), size), crop(gray(data.immunohistochemistry()), size)]
    return train_gray, test_gray, train_rgb, test_rgb, inpaint_gray


def psnr(ref, img, mask=None) -> float:
    err = (np.asarray(ref, np.float64) - np.asarray(img, np.float64)) ** 2
    mse = err[mask].mean() if mask is not None else err.mean()
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))


def ssim(ref, img, mask=None) -> float:
    _, smap = structural_similarity(ref, np.clip(img, 0, 1), data_range=1.0, full=True)
    return float(smap[mask].mean() if mask is not None else smap.mean())


def blur(img):
    rng = np.random.default_rng(0)
    return (ndi.gaussian_filter(img, BLUR, mode="reflect") + NOISE * rng.standard_normal(img.shape)).astype(np.float32)


# ------------------------------------------------------------------------ tasks


def make_cases(test_gray, test_rgb, inpaint_gray, size):
    """task -> (config kwargs, list of (model input, predict kwargs, truth, eval mask), baseline outputs)."""
    cases = {}
    for s in (2, 4):
        inputs = [downscale(t[None], s)[0] for t in test_gray]
        base = [transform.rescale(x, s, order=3) for x in inputs]
        cases[f"superres{s}"] = (
            dict(task="superres", scale=s),
            [(x, {}, t, None) for x, t in zip(inputs, test_gray)],
            base,
        )
    items = []
    for i, t in enumerate(inpaint_gray):
        for k in range(MASKS_PER_IMAGE):
            m = random_masks(1, size, np.random.default_rng(1000 + 10 * i + k))[0, 0] > 0
            items.append((t, {"mask": m, "fill": "smooth"}, t, m))  # PSNR: the smooth fill (bench/fill.py: texture)
    base = [restoration.inpaint_biharmonic(t, kw["mask"]) for t, kw, _, _ in items]
    cases["inpaint"] = (dict(task="inpaint"), items, base)
    blurred = [blur(t) for t in test_gray]
    psf = np.outer(*(2 * [np.exp(-0.5 * (np.arange(-8, 9) / BLUR) ** 2)]))
    psf /= psf.sum()
    best = None
    for it in (5, 10, 20, 30, 50):  # the best iteration count on the test images (oracle)
        outs = [restoration.richardson_lucy(np.clip(b, 0, 1), psf, num_iter=it) for b in blurred]
        score = np.mean([psnr(t, o) for t, o in zip(test_gray, outs)])
        if best is None or score > best[0]:
            best = (score, it, outs)
    cases["deblur"] = (
        dict(task="deblur", blur=BLUR, noise=NOISE),
        [(b, {}, t, None) for b, t in zip(blurred, test_gray)],
        best[2],
    )
    cases["deblur"][0]["_rl_iterations"] = best[1]
    truths = [t.astype(np.float32) / 255 for t in test_rgb]
    grays = [color.rgb2gray(t).astype(np.float32) for t in truths]
    cases["colorize"] = (
        dict(task="colorize"),
        [(g, {}, t, None) for g, t in zip(grays, truths)],
        [np.repeat(g[..., None], 3, -1) for g in grays],
    )
    return cases


def fill_only(image, mask, kind="tension"):
    """A classical fill alone: "tension", the one the inpainting network's residual is
    added to, or "pyramid", the harmonic fill that checkpoints saved before the tension
    fill still use."""
    return classical_fill(np.asarray(image, np.float32)[None], mask, kind)[0]


def score(task, outputs, items):
    ps, ss = [], []
    for out, (_, _, truth, mask) in zip(outputs, items):
        if task == "colorize":
            ps.append(psnr(truth, out))
            ss.append(float(np.mean([ssim(truth[..., c], out[..., c]) for c in range(3)])))
        else:
            ps.append(psnr(truth, out, mask))
            ss.append(ssim(truth, out, mask))
    return float(np.mean(ps)), float(np.mean(ss))


def run_model(task, cfg, items, train_gray, train_rgb, budgets, seed=0):
    """Train for max(budgets) seconds; evaluate at each budget. Returns {budget: (psnr,
    ssim, steps)}, the outputs at the last budget and the model."""
    cfg = {k: v for k, v in cfg.items() if not k.startswith("_")}
    model = ng.Translator(**cfg)
    train = train_rgb if task == "colorize" else train_gray
    results, outputs = {}, None
    pending = sorted(budgets)
    train_time = 0.0
    last = time.perf_counter()
    for record in model.fit_iter(train, max_steps=10_000_000, time_limit=max(budgets), seed=seed):
        now = time.perf_counter()
        train_time += now - last
        if pending and (train_time >= pending[0] or record.step == record.total):
            outputs = [model.predict(x, **kw) for x, kw, _, _ in items]
            results[pending.pop(0)] = (*score(task, outputs, items), record.step)
        last = time.perf_counter()
    for b in pending:  # the loop ended at its own time limit (eval time counts there)
        outputs = [model.predict(x, **kw) for x, kw, _, _ in items]
        results[b] = (*score(task, outputs, items), model.steps_trained)
    return results, outputs, model


def save_examples(examples, path):
    """One row per task: input | baseline | ours (w=0) | ours (w>0) | truth, as a PNG."""
    from skimage.io import imsave

    rows = []
    size = None
    for panels in examples.values():
        tiles = []
        for p in panels:
            p = np.clip(np.asarray(p, np.float32), 0, 1)
            if p.ndim == 2:
                p = np.repeat(p[..., None], 3, -1)
            size = size or p.shape[0]
            if p.shape[0] != size:
                p = transform.resize(p, (size, size, 3), order=0)
            tiles.append(p)
        rows.append(np.concatenate(tiles, 1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=1) for r in rows]
    imsave(path, (np.concatenate(rows, 0) * 255).astype(np.uint8), check_contrast=False)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run: small budgets (~2-3 min)")
    parser.add_argument("--all-300", action="store_true", help="300 s for every task, not only the targets")
    parser.add_argument("--only", default="", help="comma-separated tasks: superres2,superres4,inpaint,deblur,colorize")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--name", default="", help="output file stem under bench/out (default translate)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    OUT.mkdir(exist_ok=True)
    size = 96 if args.quick else 256
    short, long = (6, 12) if args.quick else (120, 300)
    train_gray, test_gray, train_rgb, test_rgb, inpaint_gray = datasets(size)
    if args.quick:
        train_gray, test_gray, train_rgb, test_rgb = train_gray[:2], test_gray[:2], train_rgb[:1], test_rgb[:1]
        inpaint_gray = inpaint_gray[:2]
    cases = make_cases(test_gray, test_rgb, inpaint_gray, size)
    only = [t for t in args.only.split(",") if t] or list(cases)
    rows, examples, report = [], {}, {"protocol": {"short_s": short, "long_s": long, "size": size}, "results": {}}
    t0 = time.perf_counter()
    for task in only:
        cfg, items, base = cases[task]
        kind = cfg["task"]
        bp, bs = score(kind, base, items)
        baseline = {
            "superres": "transform.rescale order=3",
            "inpaint": "inpaint_biharmonic",
            "deblur": f"richardson_lucy ({cfg.get('_rl_iterations')} it, best on test)",
            "colorize": "gray replicated to RGB",
        }[kind]
        rows.append((task, baseline, "-", bp, bs, "-"))
        report["results"][task] = {"baseline": {"name": baseline, "psnr": bp, "ssim": bs}, "ours": {}}
        if kind == "deblur":  # the estimate our residual starts from
            sp, ss_ = score(kind, [x for x, _, _, _ in items], items)
            rows.append((task, "input itself (no deblurring)", "-", sp, ss_, "-"))
        if kind == "inpaint":  # the classical fill our residual starts from (untrained model)
            for fill, label in (("pyramid", "harmonic pyramid fill (the earlier base)"), ("tension", "")):
                t = time.perf_counter()
                fills = [fill_only(x, kw["mask"], fill) for x, kw, _, _ in items]
                sec = (time.perf_counter() - t) / len(items)
                sp, ss_ = score(kind, fills, items)
                label = label or f"our tension-spline fill alone (no training; {sec:.2f} s per image)"
                rows.append((task, label, "-", sp, ss_, "-"))
                report["results"][task][f"fill_only_{fill}"] = {"psnr": sp, "ssim": ss_, "seconds": sec}
        budgets = [short, long] if (args.all_300 or task in TARGET_TASKS) else [short]
        panels = [items[0][0] if kind != "inpaint" else np.where(items[0][3], 1.0, items[0][0]), base[0]]
        for w in WEIGHTS:
            res, outs, model = run_model(kind, {**cfg, "adversarial_weight": w}, items, train_gray, train_rgb, budgets)
            for b, (p, s, steps) in sorted(res.items()):
                rows.append((task, f"ours, adversarial {w:g}", f"{b:g} s", p, s, steps))
                report["results"][task]["ours"][f"w={w:g},{b:g}s"] = {"psnr": p, "ssim": s, "steps": steps}
            if kind == "inpaint":  # the mean over the four flips (what return_uncertainty gives)
                flips = [model.predict(x, return_uncertainty=True, **kw)[0] for x, kw, _, _ in items]
                p, s = score(kind, flips, items)
                rows.append((task, f"ours, adversarial {w:g}, mean of 4 flips", f"{max(budgets):g} s", p, s, "-"))
                report["results"][task]["ours"][f"w={w:g},{max(budgets):g}s,flips"] = {"psnr": p, "ssim": s}
            panels.append(outs[0])
            print(f"  {task} w={w:g}: {res}  ({time.perf_counter() - t0:.0f} s so far)", flush=True)
        panels.append(items[0][2])
        examples[task] = panels
    print()
    print("| task | method | training | PSNR (dB) | SSIM | steps |")
    print("|---|---|---|---|---|---|")
    for task, method, budget, p, s, steps in rows:
        print(f"| {task} | {method} | {budget} | {p:.2f} | {s:.3f} | {steps} |")
    print("\nPSNR/SSIM: inpainting inside the mask only; colorization on RGB in [0, 1]; means over the test images.")
    print(f"total {time.perf_counter() - t0:.0f} s, torch threads {args.threads}")
    name = args.name or ("translate_quick" if args.quick else "translate")
    (OUT / f"{name}.json").write_text(json.dumps(report, indent=1))
    save_examples(examples, OUT / f"{name}_examples.png")
    print(f"wrote {OUT / (name + '.json')} and {OUT / (name + '_examples.png')}")


if __name__ == "__main__":
    main()
