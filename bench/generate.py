"""GAN benchmark: ImageGAN's textures and samples against the real-vs-real floor and
two simple baselines, all in one run.

For scikit-image's ``brick``, ``grass`` and ``gravel`` (texture mode, one 512 x 512
image each) and the 100 faces of ``lfw_subset`` (samples mode, 25 x 25; its other 100
images are not faces), one training run of ``--seconds`` (300 s) per data set is
evaluated twice: at the 60 s mark (a snapshot of the same run, taken by pausing the
``fit_iter`` loop) and at the end. Measured:

* patch sliced Wasserstein distance (``napari_gan.metrics.sliced_wasserstein``, x1e3,
  mean over the Laplacian-pyramid levels) of generated images to the real data;
  textures: ``--samples`` (4) generated textures, phase-noise draws and shuffles per
  row, each scored on its own, reported as mean ± sd (one texture varies by several
  SWD units from another);
* the real-vs-real floor: the same SWD between two disjoint halves of the real data
  (textures: left/right halves; faces: even/odd images);
* baselines: "phase": noise with the data's mean and amplitude spectrum (phase
  randomisation); "shuffle": the source cut into blocks (textures 32 px, faces 5 px)
  put back in random order (faces: blocks drawn from all faces);
* memorisation: median nearest-neighbour distance of generated 16 x 16 patches
  (faces 12 x 12) to the training data over the real-to-real one (ratio near 1: no
  copying; shuffled blocks are copies and score far below 1), and the fraction of
  generated patches closer than 99% of real ones;
* lattice (textures): ``metrics.lattice_strength`` at the generator's noise-cell
  period (8 px), the spectral peak of a periodic upsampling artefact; the real
  image's value alongside (1-3: none);
* diversity (faces): mean pairwise distance of samples, real faces for comparison;
* steps/s.

Writes bench/out/generate.json and two PNGs: bench/out/generate_grid.png (per
texture: real | ours at 60 s | ours at the end | phase | shuffle) and
bench/out/generate_faces.png (real faces | ours at 60 s | ours at the end).

    python bench/generate.py            # full run: 4 x 300 s of training, ~25 min on 2 CPU cores
    python bench/generate.py --quick    # smoke run of the same code (short budgets), ~2-3 min
    python bench/generate.py --only brick,grass,gravel --texture-options '{"patch_loss": 0}'  # an ImageGAN option
    python bench/generate.py --only brick,grass,gravel --held-out  # textures scored on an unseen half

``--held-out``: each texture's generator and both baselines are built from the left
half of the image only, and scored against the right half, which none of them saw;
the floor is then the SWD of the left half to the right half.
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
TEXTURES = ("brick", "grass", "gravel")
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


# --------------------------------------------------------------------------- helpers


def train_with_snapshot(gan, images, seconds: float, snapshot_at: float, generate):
    """Train for ``seconds``; call ``generate()`` once the run passes ``snapshot_at``
    seconds (the pause is not counted) and at the end. Returns the two outputs, the
    steps at each point and steps/s."""
    snap, snap_steps = None, 0
    paused = 0.0
    start = time.perf_counter()
    for record in gan.fit_iter(images, max_steps=10_000_000, time_limit=seconds, seed=0):
        if snap is None and record.elapsed >= snapshot_at:
            t0 = time.perf_counter()
            snap, snap_steps = generate(), record.step
            paused += time.perf_counter() - t0
    # fit_iter's clock kept running during the pause; report training time only
    wall = time.perf_counter() - start - paused
    steps = gan.steps_trained
    return snap, snap_steps, generate(), steps, steps / max(wall, 1e-9)


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


def summarise_swd(each: list[dict]) -> dict:
    """Several ``metrics.sliced_wasserstein`` results -> mean, sd (0 for one), the
    means themselves and the mean per pyramid level."""
    means = np.array([e["mean"] for e in each])
    return {
        "swd": float(means.mean()),
        "swd_sd": float(means.std(ddof=1)) if len(means) > 1 else 0.0,
        "swd_samples": means.tolist(),
        "swd_levels": np.mean([e["levels"] for e in each], axis=0).tolist(),
    }


def swd(a, b, opts) -> float:
    return metrics.sliced_wasserstein(a, b, **opts)["mean"]


# --------------------------------------------------------------------------- sections


def section_texture(name: str, args, seconds: float, snapshot: float, swd_opts: dict, rows: list, pictures: list):
    image = getattr(data, name)().astype(np.float32)
    if args.quick:
        image = image[:256, :256]
    rng = np.random.default_rng(0)
    if args.held_out:
        # learn from the left half only; score against the right half, which neither
        # the generator nor the baselines ever see; the floor is left vs right
        source, reference = image[:, : image.shape[1] // 2], image[:, image.shape[1] // 2 :]
        floor = metrics.sliced_wasserstein(source, reference, **swd_opts)
    else:
        source = reference = image
        floor = metrics.sliced_wasserstein_floor(image, **swd_opts)
    levels = len(floor["levels"])
    opts = {**swd_opts, "levels": levels}

    gan = ng.ImageGAN(mode="texture", **json.loads(args.texture_options))

    n_samples = args.samples

    def generate():  # n_samples textures from as many noise fields of one seed, never used in training
        return gan.generate(n_samples, seed=SEED_EVAL, size=reference.shape)

    snap, snap_steps, final, steps, rate = train_with_snapshot(gan, source, seconds, snapshot, generate)
    block = 32 if not args.quick else 16
    phase = [phase_randomised(source, rng) for _ in range(n_samples)]
    shuffle = [shuffled_blocks(source[None], block, rng)[0] for _ in range(n_samples)]
    cells = {
        f"ours {snapshot:g} s ({snap_steps} steps)": snap,
        f"ours {seconds:g} s ({steps} steps)": final,
        "baseline: phase randomised": phase,
        f"baseline: shuffled {block} px blocks": shuffle,
    }
    period = gan.net_config.stride  # output pixels per noise cell: where a generator lattice would show
    result = {
        "floor": floor["mean"],
        "floor_levels": floor["levels"],
        "steps_per_s": rate,
        "lattice_period": period,
        "lattice_real": metrics.lattice_strength(reference, period),
        "rows": {},
    }
    for label, imgs in cells.items():
        if imgs is None:
            continue
        # every sample is scored on its own against the reference: mean and spread over them
        summary = summarise_swd([metrics.sliced_wasserstein(img, reference, **opts) for img in imgs])
        mem = metrics.memorisation_distance(imgs[0], source, n_patches=args.mem_patches)
        result["rows"][label] = {
            **summary,
            "swd_over_floor": summary["swd"] / floor["mean"],
            "lattice": metrics.lattice_strength(imgs, period),
        }
        result["rows"][label].update({f"mem_{k}": v for k, v in mem.items()})
        row = result["rows"][label]
        rows.append(
            (
                name,
                label,
                row["swd"],
                row["swd_sd"],
                row["swd_over_floor"],
                mem["ratio"],
                mem["copied_fraction"],
                row["lattice"],
            )
        )
    print(f"{name}: floor {floor['mean']:.1f}, {steps} steps, {rate:.2f} steps/s", flush=True)
    c = min(192, image.shape[0])
    low, high = np.percentile(image, [0.5, 99.5])
    first = [x[0] for x in (snap if snap is not None else final, final, phase, shuffle)]
    pictures.append(panel_row([p[:c, :c] for p in [image, *first]], low, high))
    return result


def section_faces(args, seconds: float, snapshot: float, rows: list):
    faces = data.lfw_subset()[:100].astype(np.float32)  # images 100-199 are not faces
    rng = np.random.default_rng(0)
    opts = {"n_descriptors": args.descriptors, "n_projections": args.projections, "min_size": 12}
    floor = metrics.sliced_wasserstein_floor(faces, **opts)
    opts["levels"] = len(floor["levels"])
    gan = ng.ImageGAN(**json.loads(args.faces_options))

    def generate():
        return gan.generate(100, seed=SEED_EVAL)

    snap, snap_steps, final, steps, rate = train_with_snapshot(gan, faces, seconds, snapshot, generate)
    phase = np.stack([phase_randomised(f, rng) for f in faces])
    shuffle = shuffled_blocks(faces, 5, rng)
    cells = {
        f"ours {snapshot:g} s ({snap_steps} steps)": snap,
        f"ours {seconds:g} s ({steps} steps)": final,
        "baseline: phase randomised": phase,
        "baseline: shuffled 5 px blocks": shuffle,
    }
    result = {
        "floor": floor["mean"],
        "floor_levels": floor["levels"],
        "steps_per_s": rate,
        "diversity_real": metrics.diversity(faces),
        "rows": {},
    }
    for label, imgs in cells.items():
        if imgs is None:
            continue
        s = metrics.sliced_wasserstein(imgs, faces, **opts)
        mem = metrics.memorisation_distance(imgs, faces, patch=12, n_patches=args.mem_patches)
        div = metrics.diversity(imgs)
        result["rows"][label] = {
            "swd": s["mean"],
            "swd_levels": s["levels"],
            "swd_over_floor": s["mean"] / floor["mean"],
        }
        result["rows"][label].update({f"mem_{k}": v for k, v in mem.items()}, diversity=div)
        rows.append(
            ("faces", label, s["mean"], None, s["mean"] / floor["mean"], mem["ratio"], mem["copied_fraction"], None)
        )
    print(f"faces: floor {floor['mean']:.1f}, {steps} steps, {rate:.2f} steps/s", flush=True)
    low, high = float(faces.min()), float(faces.max())
    grids = [face_grid(faces[:64])] + [face_grid(x[:64]) for x in (snap, final) if x is not None]
    OUT.mkdir(parents=True, exist_ok=True)
    imsave(OUT / "generate_faces.png", panel_row(grids, low, high, gap=12), check_contrast=False)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short budgets and 256 px textures: checks the script runs")
    ap.add_argument("--seconds", type=float, default=300.0, help="training time per data set (default 300)")
    ap.add_argument("--snapshot", type=float, default=60.0, help="evaluate the same run also at this time (60)")
    ap.add_argument("--only", default="brick,grass,gravel,faces", help="comma list of data sets")
    ap.add_argument(
        "--faces-options",
        default="{}",
        help='ImageGAN options for the faces as JSON, e.g. \'{"augment": false, "learning_rate": 5e-4}\'',
    )
    ap.add_argument(
        "--texture-options",
        default="{}",
        help="ImageGAN options for the textures as JSON, e.g. '{\"patch_loss\": 0}'",
    )
    ap.add_argument(
        "--held-out",
        action="store_true",
        help="textures: train (and build the baselines) on the left half, score against the unseen right half",
    )
    ap.add_argument(
        "--samples", type=int, default=4, help="textures: generated textures (and baseline draws) scored per row (4)"
    )
    ap.add_argument("--json", default=str(OUT / "generate.json"), help="where to write the raw numbers")
    ap.add_argument("--grid", default=str(OUT / "generate_grid.png"), help="where to write the texture panels")
    args = ap.parse_args()
    if args.samples < 1:
        ap.error("--samples must be at least 1")
    seconds, snapshot = (20.0, 8.0) if args.quick else (args.seconds, args.snapshot)
    args.descriptors, args.projections = (2048, 128) if args.quick else (8192, 512)
    args.mem_patches = 300 if args.quick else 1000
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {seconds:g} s per data set", flush=True)

    rows, results, pictures = [], {}, []
    swd_opts = {"n_descriptors": args.descriptors, "n_projections": args.projections}
    for name in TEXTURES:
        if name in only:
            results[name] = section_texture(name, args, seconds, snapshot, swd_opts, rows, pictures)
    if "faces" in only:
        results["faces"] = section_faces(args, seconds, snapshot, rows)
    if pictures:
        width = max(p.shape[1] for p in pictures)
        sheet = np.concatenate(
            [np.pad(p, ((0, 6), (0, width - p.shape[1])), constant_values=255) for p in pictures], axis=0
        )
        Path(args.grid).parent.mkdir(parents=True, exist_ok=True)
        imsave(args.grid, sheet, check_contrast=False)

    print()
    print("| data | method | SWD x1e3 | SWD / floor | memorisation NN ratio | copied patches | lattice |")
    print("|---|---|---|---|---|---|---|")
    for name, result in results.items():
        real_lattice = f"{result['lattice_real']:.1f} (real)" if "lattice_real" in result else "-"
        print(f"| {name} | real vs real (floor) | {result['floor']:.1f} | 1.00 | - | - | {real_lattice} |")
        for r in (r for r in rows if r[0] == name):
            swd = f"{r[2]:.1f}" if r[3] is None else f"{r[2]:.1f} ± {r[3]:.1f}"
            lattice = "-" if r[7] is None else f"{r[7]:.1f}"
            print(f"| {name} | {r[1]} | {swd} | {r[4]:.2f} | {r[5]:.2f} | {r[6]:.1%} | {lattice} |")
    if any(n in TEXTURES for n in results):
        print(
            f"\n(textures: mean ± sd of the SWD of {args.samples} generated textures / baseline draws, each scored "
            "on its own; memorisation of the first; lattice: metrics.lattice_strength at the generator's "
            "noise-cell period, mean over the textures, compare with the real image's)"
        )
    print()
    print("| data | steps/s | diversity (ours at the end / real) |")
    print("|---|---|---|")
    for name, result in results.items():
        div = "-"
        if "diversity_real" in result:
            last = [v for k, v in result["rows"].items() if k.startswith(f"ours {seconds:g}")]
            div = f"{last[0]['diversity']:.2f} / {result['diversity_real']:.2f}" if last else "-"
        print(f"| {name} | {result['steps_per_s']:.2f} | {div} |")
    results["conditions"] = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "seconds": seconds,
        "snapshot": snapshot,
        "quick": args.quick,
        "faces_options": json.loads(args.faces_options),
        "texture_options": json.loads(args.texture_options),
        "held_out": args.held_out,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1))
    written = (
        [args.json] + ([args.grid] if pictures else []) + ([str(OUT / "generate_faces.png")] if "faces" in only else [])
    )
    print(f"\nwrote {', '.join(written)}")


if __name__ == "__main__":
    main()
