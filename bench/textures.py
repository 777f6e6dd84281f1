"""Texture benchmark judged first by the two-sample classifier test, on pixels no
method saw, with the training-free baselines given the same CPU time.

For each texture (scikit-image's ``brick``, ``grass``, ``gravel`` and a grey
rendering of ``immunohistochemistry()``, a micrograph), the top 256 rows of the
512 x 512 image are the training half and the two bottom 256 x 256 quadrants the
held-out reference. Every row below is two 256 x 256 images, scored against the
reference by

* the classifier test (``napari_gan.metrics.classifier_test``: 32 px crops, 3 seeds,
  300 steps; 0.5 = indistinguishable), the first measure;
* patch SWD per Laplacian-pyramid level (x1e3, finest first);
* copies: ``metrics.memorisation_distance`` of 16 px patches to the training half
  (``copied``: the share closer to it than 99 % of real patches are; about 0.01
  for a process that does not copy).

Rows: the two top quadrants (a new real sample: the floor); phase-randomised noise
and shuffled 32 px blocks of them; GPDM (``napari_gan.core.patchdist``, the
authors' settings) given per image half our training time plus our refinement
time, so both rows cost the same CPU seconds for the two images; patch synthesis
from a mosaic of random patches (training-free, ``core.patchsynth``); ImageGAN's
generator alone, and refined (``generate(refine=True)``, the default), at the
``--snapshot`` mark of one training run and at its end (``--seconds 1200 --snapshot
300`` shows whether longer training helps), and refined without its last step
(``patchdist.polish``: the histogram of the source's fine detail and
``patchdist.POLISH_STEPS`` steps of patch-distribution matching at full
resolution); and ``generate(refine="example")``, the same refinement of a layout
made from the example alone (GPDM at a quarter of the size), not by the generator.

Writes bench/out/textures.json and bench/out/textures.png (per texture: reference
quadrant | ours refined without the polish | ours refined | generator alone | the
example's layout, refined | GPDM | patch mosaic | phase | shuffle).

    python bench/textures.py                    # 5 textures x 300 s training, ~85 min on 2 CPU cores
    python bench/textures.py --save-models bench/out/texture_models   # the same, keeping the generators
    python bench/textures.py --models bench/out/texture_models        # score saved generators, ~70 min
    python bench/textures.py --only grass --quick   # smoke run, ~2 min
    python bench/textures.py --only moon,hubble     # textures never used to choose the method, ~40 min
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from generate import OUT, SEED_EVAL, panel_row, phase_randomised, shuffled_blocks, train_with_snapshot
from scipy import ndimage as ndi
from skimage import color, data
from skimage.io import imsave

import napari_gan as ng
from napari_gan.core import metrics
from napari_gan.core.patchdist import match_patches
from napari_gan.core.patchsynth import synthesize
from napari_gan.core.tasks import _gan_texture as texture_module

TEXTURES = ("brick", "grass", "gravel", "histology", "wall")
#: textures never used to choose the method, for checking that it generalises
#: (``--only moon,hubble``): the moon's surface, and a grey rendering of the Hubble deep field
HELD_OUT = ("moon", "hubble")
N = 2  # images per row


def brick_wall(size: int = 512, seed: int = 0) -> np.ndarray:
    """A generated brick wall seen face on: running bond (each course shifted by half
    a brick), 22 x 52 px bricks of varying shade and grain, 4 px mortar joints.
    scikit-image's ``brick`` is photographed at an angle (its joints tilt one way on
    the left and the other on the right), so it cannot tell whether a method keeps
    straight courses; this can."""
    rng = np.random.default_rng(seed)
    course, length, joint = 26, 56, 4
    yy, xx = np.mgrid[:size, :size]
    row = yy // course
    shift = np.where(row % 2 == 1, length // 2, 0) + rng.integers(-3, 4, size=row.max() + 1)[row]
    col = (xx + shift) // length
    in_joint = ((yy % course) < joint) | (((xx + shift) % length) < joint)
    shade = rng.normal(100, 14, size=(row.max() + 1, col.max() + 2))[row, col]
    grain = ndi.gaussian_filter(rng.normal(0, 1, (size, size)), 1.2) * 30
    wall = np.where(in_joint, 185 + grain * 0.5, shade + grain)
    return np.clip(ndi.gaussian_filter(wall, 0.7), 0, 255).astype(np.float32)


def texture(name: str) -> np.ndarray:
    if name == "histology":
        return color.rgb2gray(data.immunohistochemistry()).astype(np.float32) * 255
    if name == "wall":
        return brick_wall()
    if name == "hubble":  # a grey rendering of the deep field: small bright objects on black
        return color.rgb2gray(data.hubble_deep_field()).astype(np.float32) * 255
    return getattr(data, name)().astype(np.float32)


def halves(image: np.ndarray, side: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """The benchmark's split of a texture: its top ``side`` rows (two ``side`` squares
    wide) train, its next two ``side`` squares are the held-out reference."""
    held = image[side : 2 * side, : 2 * side]
    return image[:side, : 2 * side], [held[:, :side], held[:, side:]]


def texture_generator(name: str, train: np.ndarray, models: str | None, seconds: float, seed: int = 0):
    """``models``/<name>.ngan (saved by ``--save-models``) if ``models`` is given, else
    a texture ImageGAN trained on ``train`` for ``seconds``."""
    if models:
        return ng.load_model(Path(models) / f"{name}.ngan")
    return ng.ImageGAN(mode="texture").fit(train, time_limit=seconds, seed=seed)


def model_units(gan, image: np.ndarray) -> np.ndarray:
    """A gray texture inside the refinement (1, Y, X, the model's [-1, 1]) in the
    image's units, as ``gan.generate`` returns it."""
    return (np.clip(image[0], -1, 1) + 1) / 2 * (gan.high - gan.low) + gan.low


def score(images, reference, train, opts, quick: bool, depth: int = 3) -> dict:
    c2st = metrics.classifier_test(
        list(images), reference, steps=100 if quick else 300, seeds=2 if quick else 3, depth=depth
    )
    swd = metrics.sliced_wasserstein(list(images), reference, **opts)
    mem = metrics.memorisation_distance(list(images), train, n_patches=300 if quick else 1000)
    return {
        "c2st": c2st.accuracy,
        "c2st_seeds": list(c2st.per_seed),
        "swd": swd["mean"],
        "swd_levels": swd["levels"],
        "copied": mem["copied_fraction"],
        "nn_ratio": mem["ratio"],
    }


def measure(name: str, args, opts: dict) -> tuple[dict, np.ndarray]:
    image = texture(name)
    side = 128 if args.quick else 256
    train, reference = halves(image, side)
    real = [train[:, :side], train[:, side:]]
    lo, hi = np.percentile(train, [0.5, 99.5])
    norm = lambda a: np.clip((a - lo) / (hi - lo) * 2 - 1, -1, 1)[None]  # noqa: E731
    back = lambda a: (a[0] + 1) / 2 * (hi - lo) + lo  # noqa: E731
    rng = np.random.default_rng(0)
    rows: dict[str, list[np.ndarray]] = {"real (another region)": real}
    rows["phase noise"] = [phase_randomised(r, rng) for r in real]
    rows["shuffled 32 px blocks"] = list(shuffled_blocks(np.stack(real), 32, rng))

    refine_seconds, unpolished = [], []
    polish = texture_module.polish

    def keep_unpolished(source, image, **kw):  # the refinement, its last step's input kept
        unpolished.append(image)
        return polish(source, image, **kw)

    def generate():
        t0 = time.perf_counter()
        texture_module.polish = keep_unpolished
        try:
            refined = gan.generate(N, seed=SEED_EVAL, size=(side, side))
        finally:
            texture_module.polish = polish
        refine_seconds.append(time.perf_counter() - t0)
        return refined, gan.generate(N, seed=SEED_EVAL, size=(side, side), refine=False)

    def weights():
        return {k: v.detach().clone() for k, v in gan.net.state_dict().items()}

    if args.models:  # generators trained and saved by an earlier run (--save-models)
        gan = ng.load_model(Path(args.models) / f"{name}.ngan")
        end, steps, rate = generate(), gan.steps_trained, float("nan")
        snap = snap_steps = None
    else:
        gan = ng.ImageGAN(mode="texture")
        # at the mark, only the weights are kept: refining there would take the run's clock
        # (a refined texture takes about 40 s); its textures are made after the run
        marks = train_with_snapshot(gan, train, args.seconds, args.snapshot, weights)
        snap, snap_steps, end_weights, steps, rate = marks
        gan.net.load_state_dict(snap)
        gan._statistics_fresh = False  # the averaged generator's batch-norm statistics, for these weights
        snap = generate()
        gan.net.load_state_dict(end_weights)
        gan._statistics_fresh = False
        end = generate()
        if args.save_models:
            Path(args.save_models).mkdir(parents=True, exist_ok=True)
            gan.save(Path(args.save_models) / f"{name}.ngan")
        rows[f"ours, refined, {args.snapshot:.0f} s"] = list(snap[0])
        rows[f"generator alone, {args.snapshot:.0f} s"] = list(snap[1])
    rows[f"ours, refined, {args.seconds:.0f} s"] = list(end[0])
    # the refinement without its last step: the same textures, before their polish
    rows[f"ours, refined without the polish, {args.seconds:.0f} s"] = [model_units(gan, a) for a in unpolished[-N:]]
    rows[f"generator alone, {args.seconds:.0f} s"] = list(end[1])
    t0 = time.perf_counter()
    rows["example's layout, refined"] = list(gan.generate(N, seed=SEED_EVAL, size=(side, side), refine="example"))
    layout_seconds = (time.perf_counter() - t0) / N
    per_image = (args.seconds + refine_seconds[-1]) / N
    t0 = time.perf_counter()
    rows[f"GPDM, {per_image:.0f} s per image"] = [
        back(match_patches(norm(train), (side, side), seconds=per_image, seed=s)) for s in range(N)
    ]
    gpdm_seconds = (time.perf_counter() - t0) / N
    t0 = time.perf_counter()
    rows["patch mosaic (no training)"] = [back(synthesize(norm(train), (side, side), seed=s)) for s in range(N)]
    mosaic_seconds = (time.perf_counter() - t0) / N
    results = {}
    for row, images in rows.items():
        results[row] = score(images, reference, train, opts, args.quick, args.judge_depth)
        print(f"{name}: {row}: classifier test {results[row]['c2st']:.3f}", flush=True)
    results["timing"] = {
        "steps": steps,
        "snapshot_steps": snap_steps,
        "steps_per_s": rate,
        "refine_s_per_image": refine_seconds[-1] / N,
        "example_layout_s_per_image": layout_seconds,
        "gpdm_s_per_image": gpdm_seconds,
        "mosaic_s_per_image": mosaic_seconds,
    }
    order = [
        reference[0],
        rows[f"ours, refined without the polish, {args.seconds:.0f} s"][0],
        rows[f"ours, refined, {args.seconds:.0f} s"][0],
        rows[f"generator alone, {args.seconds:.0f} s"][0],
        rows["example's layout, refined"][0],
        next(v for k, v in rows.items() if k.startswith("GPDM"))[0],
        rows["patch mosaic (no training)"][0],
        rows["phase noise"][0],
        rows["shuffled 32 px blocks"][0],
    ]
    lo_s, hi_s = np.percentile(image, [0.5, 99.5])
    return results, panel_row(order, lo_s, hi_s)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(TEXTURES), help="comma list of textures")
    ap.add_argument("--seconds", type=float, default=300.0, help="ImageGAN training time per texture")
    ap.add_argument("--snapshot", type=float, default=60.0, help="also generate at this mark of the same run")
    ap.add_argument("--quick", action="store_true", help="128 px quadrants, 20 s training: checks the script")
    ap.add_argument(
        "--refine-levels",
        type=int,
        default=None,
        help="pyramid levels of the refinement (default: ImageGAN's REFINE_LEVELS): the generator's layout is "
        "taken at 1 / 2**(levels - 1) of the size",
    )
    ap.add_argument("--save-models", metavar="DIR", help="save each trained generator as DIR/<texture>.ngan")
    ap.add_argument(
        "--models",
        metavar="DIR",
        help="load DIR/<texture>.ngan (written by --save-models) instead of training; no snapshot row. "
        "--seconds should be the time they trained (it sets GPDM's budget)",
    )
    ap.add_argument(
        "--judge-depth",
        type=int,
        default=3,
        help="convolutions of the classifier test's CNN (3: 9 px neighbourhoods, 5: 33 px)",
    )
    ap.add_argument("--json", default=str(OUT / "textures.json"))
    args = ap.parse_args()
    if args.quick:
        args.seconds, args.snapshot = min(args.seconds, 20.0), min(args.snapshot, 8.0)
    if args.refine_levels is not None:
        if args.refine_levels < 1:
            ap.error("--refine-levels must be at least 1")
        texture_module.REFINE_LEVELS = args.refine_levels
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(TEXTURES) - set(HELD_OUT))
    if unknown:
        ap.error(f"unknown textures {unknown}; choose from {TEXTURES + HELD_OUT}")
    opts = {"n_descriptors": 2048 if args.quick else 8192, "n_projections": 128 if args.quick else 512, "levels": 4}
    results, pictures = {}, []
    for name in only:
        results[name], row = measure(name, args, opts)
        pictures.append(row)
    print()
    print("| texture | method | classifier test | SWD x1e3 per level (finest first) | copied | steps / s |")
    print("|---|---|---|---|---|---|")
    for name in only:
        t = results[name]["timing"]
        for row, r in results[name].items():
            if row == "timing":
                continue
            levels = " / ".join(f"{v:.0f}" for v in r["swd_levels"])
            rate = f"{t['steps_per_s']:.2f}" if row.startswith(("ours", "generator")) else ""
            copied = "(is the training half)" if row.startswith("real") else f"{r['copied']:.3f}"
            print(f"| {name} | {row} | {r['c2st']:.3f} | {levels} | {copied} | {rate} |")
        print(
            f"| {name} | seconds per 256 px image: refinement {t['refine_s_per_image']:.1f}, "
            f"example's layout {t['example_layout_s_per_image']:.1f}, "
            f"GPDM {t['gpdm_s_per_image']:.0f}, mosaic {t['mosaic_s_per_image']:.1f} | | | | |"
        )
    width = max(p.shape[1] for p in pictures)
    grid = np.concatenate([np.pad(p, ((0, 6), (0, width - p.shape[1])), constant_values=255) for p in pictures])
    OUT.mkdir(parents=True, exist_ok=True)
    imsave(OUT / "textures.png", grid, check_contrast=False)
    results["conditions"] = {
        "seconds": args.seconds,
        "snapshot": args.snapshot,
        "quick": args.quick,
        "swd": opts,
        "judge_depth": args.judge_depth,
        "refine_levels": texture_module.REFINE_LEVELS,
    }
    Path(args.json).write_text(json.dumps(results, indent=1, default=float))
    print(f"\nwrote {args.json} and {OUT / 'textures.png'}")


if __name__ == "__main__":
    main()
