"""Samples benchmark: ImageGAN (samples mode) on the 100 faces of ``lfw_subset``
(25 x 25; its other 100 images are not faces), judged first by the two-sample
classifier test, at several marks of one training run, with two simple baselines.

One run of ``--seconds`` (1200 s) is evaluated at every ``--marks`` time (60 and 300
s; the run is paused to generate, and the pause is not counted) and at the end.
Each evaluation generates 100 faces (seed never used in training) and measures

* the classifier test (``napari_gan.metrics.classifier_test``, 16 px crops of the
  25 px faces, whole images split between the classifier's training and test sets,
  3 seeds, 300 steps) of generated against real faces; ``lfw_subset`` holds no other
  faces, so "real" are the training faces and the memorisation columns tell a copy
  from a good sample; the floor is the same test between the even and the odd faces;
* the whole-face classifier test: the same with 24 px crops of the 25 px faces, a
  classifier 5 convolutions deep (33 px field of view: it sees the whole face), no
  turns or flips of its training crops (a face's orientation matters), against the
  real faces and their mirror images (what the generator learns with its default
  ``flip=True``; lfw_subset's lighting makes the real faces mirrored tellable from
  them at about 0.75); the floor: the even faces and their mirrors against the odd;
* patch sliced Wasserstein distance (x1e3, mean over Laplacian-pyramid levels) to the
  real faces, and its floor (even vs odd faces); beside it the same distance for real
  faces that every other one mirrored, one half against the other (both halves, both
  choices of which faces: four numbers): where a generator that learns the faces and
  their mirror images (``flip=True``) without copying them would land;
* memorisation: median nearest-neighbour distance of generated 12 x 12 patches to
  the training faces over the real-to-real one (near 1: no copying), and the share
  closer than 99 % of real ones;
* diversity (mean pairwise distance; real faces alongside); contrast (mean per-image
  standard deviation over the real faces'); steps/s.

Baselines: noise with each face's amplitude spectrum (phase randomised), faces
cut into 5 px blocks put back at random, and the real faces mirrored left to right
(what a generator that learns a mirror-symmetric version of the faces drifts towards;
the mean face is brighter on the left). Writes bench/out/generate.json and
bench/out/generate_faces.png (real | ours at each mark).

    python bench/generate.py                  # 1200 s of training plus evaluations, ~25 min on 2 CPU cores
    python bench/generate.py --seconds 300 --marks 60
    python bench/generate.py --seconds 300 --marks 60 --seed 1   # another training run
    python bench/generate.py --quick          # smoke run (~2 min)
    python bench/generate.py --steps 4000 --marks 800,2000   # a budget in steps, whatever the machine's speed
    python bench/generate.py --faces-options '{"augment": true}'   # an ImageGAN option

The texture benchmark is bench/textures.py, which imports this file's baselines.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from skimage import data
from skimage.io import imsave

import napari_gan as ng
from napari_gan.core import metrics

OUT = Path(__file__).resolve().parent / "out"
SEED_EVAL = 12345  # generation seed, never used in training


# --------------------------------------------------------------------------- baselines


def phase_randomised(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Noise with the image's mean and amplitude spectrum (random phases)."""
    image = np.asarray(image, dtype=np.float64)
    amplitude = np.abs(np.fft.fft2(image - image.mean()))
    # the phases of a real white-noise field keep the Hermitian symmetry of a real image
    phase = np.angle(np.fft.fft2(rng.standard_normal(image.shape)))
    return np.real(np.fft.ifft2(amplitude * np.exp(1j * phase))) + image.mean()


def shuffled_blocks(images: np.ndarray, block: int, rng: np.random.Generator) -> np.ndarray:
    """(N, Y, X): cut every image into block x block tiles and refill all positions
    with tiles drawn at random (without replacement) from all images."""
    n, h, w = images.shape
    hb, wb = h // block, w // block
    tiles = images[:, : hb * block, : wb * block].reshape(n, hb, block, wb, block).transpose(0, 1, 3, 2, 4)
    tiles = tiles.reshape(-1, block, block)[rng.permutation(n * hb * wb)]
    out = images.astype(np.float64).copy()
    core = tiles.reshape(n, hb, wb, block, block).transpose(0, 1, 3, 2, 4).reshape(n, hb * block, wb * block)
    out[:, : hb * block, : wb * block] = core
    return out


# ------------------------------------------------------------------------- internals


def to_uint8(image: np.ndarray, low: float, high: float) -> np.ndarray:
    return (np.clip((np.asarray(image, np.float64) - low) / (high - low), 0, 1) * 255).astype(np.uint8)


def panel_row(panels: list[np.ndarray], low: float, high: float, gap: int = 4) -> np.ndarray:
    h = max(p.shape[0] for p in panels)
    parts = []
    for p in panels:
        parts.append(np.pad(to_uint8(p, low, high), ((0, h - p.shape[0]), (0, gap)), constant_values=255))
    return np.concatenate(parts, axis=1)


def face_grid(stack: np.ndarray, columns: int = 8, zoom: int = 3) -> np.ndarray:
    n, h, w = stack.shape
    rows = -(-n // columns)
    out = np.ones((rows * (h + 1), columns * (w + 1)))
    for i, im in enumerate(stack):
        r, c = divmod(i, columns)
        out[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = im
    return np.kron(out, np.ones((zoom, zoom)))


def train_with_marks(gan, images, seconds: float, marks, generate, seed: int = 0, steps: int | None = None):
    """Train for ``seconds`` (the budget a user would set: the learning-rate schedule
    spans it); call ``generate()`` once the run passes each of ``marks`` seconds and
    at the end. Generating pauses the run and counts against its clock (under a
    second for 100 faces). With ``steps``, the budget is that many steps instead (the
    schedule spans them, no time limit) and ``marks`` are steps: the same point of
    training on any machine. Returns [(mark, steps, output), ...], the last at the
    end, and steps/s."""
    end = steps or seconds
    budget = {"max_steps": steps} if steps else {"max_steps": 10_000_000, "time_limit": seconds}
    marks = sorted(m for m in marks if m < end)
    out = []
    start = time.perf_counter()
    for record in gan.fit_iter(images, seed=seed, **budget):
        if marks and (record.step if steps else record.elapsed) >= marks[0]:
            out.append((marks.pop(0), record.step, generate()))
    rate = gan.steps_trained / max(time.perf_counter() - start, 1e-9)
    out.append((end, gan.steps_trained, generate()))
    return out, rate


def train_with_snapshot(gan, images, seconds: float, snapshot_at: float, generate):
    """One mark: (output at the mark, steps there, output at the end, steps, steps/s)."""
    runs, rate = train_with_marks(gan, images, seconds, [snapshot_at], generate)
    first = runs[0] if len(runs) > 1 else (None, 0, None)
    return first[2], first[1], runs[-1][2], runs[-1][1], rate


# --------------------------------------------------------------------------- faces


def measure(images, faces, opts: dict, c2st_opts: dict, mem_patches: int, whole: tuple | None = None) -> dict:
    """The columns of one row; with ``whole`` (options, reference images), also the
    whole-face classifier test against that reference."""
    c2st = metrics.classifier_test(images, faces, **c2st_opts)
    whole = {} if whole is None else {"c2st_whole": metrics.classifier_test(images, whole[1], **whole[0]).accuracy}
    s = metrics.sliced_wasserstein(images, faces, **opts)
    mem = metrics.memorisation_distance(images, faces, patch=12, n_patches=mem_patches)
    return {
        "c2st": c2st.accuracy,
        "c2st_seeds": list(c2st.per_seed),
        "swd": s["mean"],
        "swd_levels": s["levels"],
        "nn_ratio": mem["ratio"],
        "copied": mem["copied_fraction"],
        "diversity": metrics.diversity(images),
        "contrast": contrast(images, faces),
        **whole,
    }


def half_mirrored_swd(faces, opts: dict) -> list[float]:
    """Patch SWD of one half of the real faces, every other one mirrored, to the other
    half: for the even and the odd half, mirroring the first or the second of each pair."""
    out = []
    for a in (0, 1):
        mine, other = faces[a::2], list(faces[1 - a :: 2])
        for parity in (0, 1):
            mixed = [f[:, ::-1] if i % 2 == parity else f for i, f in enumerate(mine)]
            out.append(float(metrics.sliced_wasserstein(mixed, other, **opts)["mean"]))
    return out


def contrast(images, faces) -> float:
    """Mean standard deviation of each image's pixels over the real faces' (1: the
    same contrast): a generator that drifts towards flat grey faces scores below 1."""
    return float(np.mean([np.std(im) for im in images]) / np.mean([np.std(f) for f in faces]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=1200.0, help="training time (default 1200)")
    ap.add_argument("--marks", default="60,300", help="also evaluate the run at these times (s; steps with --steps)")
    ap.add_argument("--steps", type=int, default=None, help="train for this many steps instead of --seconds")
    ap.add_argument("--quick", action="store_true", help="20 s of training, fewer descriptors: checks the script")
    ap.add_argument("--faces-options", default="{}", help="ImageGAN options as JSON, e.g. '{\"augment\": true}'")
    ap.add_argument("--seed", type=int, default=0, help="training seed (the spread between runs)")
    ap.add_argument("--json", default=str(OUT / "generate.json"), help="where to write the raw numbers")
    ap.add_argument("--png", default=str(OUT / "generate_faces.png"), help="where to write the grid of faces")
    args = ap.parse_args()
    marks = [float(m) for m in args.marks.split(",") if m.strip()]
    if args.quick:
        args.seconds, marks = 20.0, [8.0]
    faces = data.lfw_subset()[:100].astype(np.float32)  # images 100-199 are not faces
    opts = {"n_descriptors": 2048 if args.quick else 8192, "n_projections": 128 if args.quick else 512, "min_size": 12}
    c2st_opts = {"crop": 16, "steps": 100 if args.quick else 300, "seeds": 2 if args.quick else 3}
    whole_opts = {**c2st_opts, "crop": faces.shape[-1] - 1, "depth": 5, "augment": False}
    mem_patches = 300 if args.quick else 1000
    budget = f"{args.steps} steps" if args.steps else f"{args.seconds:g} s"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {budget}", flush=True)

    floor_swd = metrics.sliced_wasserstein_floor(faces, **opts)
    opts["levels"] = len(floor_swd["levels"])
    floor_c2st = metrics.classifier_test(list(faces[0::2]), list(faces[1::2]), **c2st_opts)
    even, odd = ([f for im in faces[k::2] for f in (im, im[:, ::-1])] for k in (0, 1))
    floor_whole = metrics.classifier_test(even, odd, **whole_opts)
    with_mirrors = (whole_opts, list(faces) + [f[:, ::-1] for f in faces])  # the whole-face test's reference
    flip_swd = half_mirrored_swd(faces, opts)
    gan = ng.ImageGAN(**json.loads(args.faces_options))
    augment_p = []  # adaptive augmentation's probability at each mark (None without it)

    def sample():
        augment_p.append(gan.augment_probability)
        return gan.generate(100, seed=SEED_EVAL)

    runs, rate = train_with_marks(gan, faces, args.seconds, marks, sample, seed=args.seed, steps=args.steps)

    def label(mark, steps, p):
        where = f"{steps} steps" if args.steps else f"{mark:g} s ({steps} steps)"
        return f"ours {where}" + (f", augment p {p:.2f}" if p is not None else "")

    rng = np.random.default_rng(0)
    rows = {label(m, steps, p): imgs for (m, steps, imgs), p in zip(runs, augment_p)}
    rows["baseline: phase randomised"] = np.stack([phase_randomised(f, rng) for f in faces])
    rows["baseline: shuffled 5 px blocks"] = shuffled_blocks(faces, 5, rng)
    rows["baseline: the real faces mirrored"] = faces[..., ::-1]
    results = {"rows": {}}
    for label, imgs in rows.items():
        results["rows"][label] = measure(list(imgs), list(faces), opts, c2st_opts, mem_patches, with_mirrors)
        print(f"faces: {label}: classifier test {results['rows'][label]['c2st']:.3f}", flush=True)
    results.update(
        floor_c2st=floor_c2st.accuracy,
        floor_c2st_whole=floor_whole.accuracy,
        floor_swd=floor_swd["mean"],
        half_mirrored_swd=flip_swd,
        steps_per_s=rate,
        diversity_real=metrics.diversity(faces),
        conditions={
            "seconds": None if args.steps else args.seconds,
            "steps": args.steps,
            "marks": marks,
            "quick": args.quick,
            "options": args.faces_options,
            "seed": args.seed,
        },
    )
    print()
    columns = "classifier test | whole-face test | SWD x1e3 | SWD / floor | NN ratio | copied | diversity | contrast"
    print(f"| faces | {columns} |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(
        f"| real vs real (even / odd faces) | {floor_c2st.accuracy:.3f} | {floor_whole.accuracy:.3f} "
        f"| {floor_swd['mean']:.1f} | 1.00 | - | - | {results['diversity_real']:.3f} | 1.00 |"
    )
    ratios = [v / floor_swd["mean"] for v in flip_swd]
    print(
        f"| real vs real, every other face of one half mirrored | - | - | {min(flip_swd):.1f}-{max(flip_swd):.1f} "
        f"| {min(ratios):.2f}-{max(ratios):.2f} | - | - | - | - |"
    )
    for label, r in results["rows"].items():
        print(
            f"| {label} | {r['c2st']:.3f} | {r['c2st_whole']:.3f} | {r['swd']:.1f} "
            f"| {r['swd'] / floor_swd['mean']:.2f} | "
            f"{r['nn_ratio']:.2f} | {r['copied']:.1%} | {r['diversity']:.3f} | {r['contrast']:.2f} |"
        )
    print(f"\n{rate:.2f} steps/s")
    OUT.mkdir(parents=True, exist_ok=True)
    low, high = float(faces.min()), float(faces.max())
    grids = [face_grid(faces[:64])] + [face_grid(imgs[:64]) for _, _, imgs in runs]
    imsave(args.png, panel_row(grids, low, high, gap=12), check_contrast=False)
    Path(args.json).write_text(json.dumps(results, indent=1, default=float))
    print(f"wrote {args.json} and {args.png}")


if __name__ == "__main__":
    main()
