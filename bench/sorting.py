"""Sorting in the patch-statistics losses: ``torch.sort`` against NumPy on the CPU.

The GANs' patch-statistics loss and the texture refinement's patch-distribution
matching sort the projections of thousands of patches along 64 directions at every
step. ``napari_gan.core.sorting`` sorts CPU tensors with NumPy (the gradient goes
back along the sorted order); ``sorting.NUMPY_ON_CPU = False`` restores
``torch.sort``. This prints, for both, in one run:

* the sort of a (4096, 64) float32 tensor along its first axis (the samples
  mode loss's shape: 4096 patches, 64 directions), values alone and values with
  their gradient (forward and backward), with 1 and 2 threads: median ms of 30;
* training steps/s of ``ImageGAN()`` on the 100 faces of ``lfw_subset`` (samples
  mode, the patch-statistics loss on) and of ``ImageGAN(mode="texture")`` on
  a 256 x 256 crop of ``gravel``, after 10 untimed steps, with 1 and 2 threads;
* with 2 threads, the seconds of one refined 192 x 192 texture
  (``generate(refine=True)``) from a texture generator trained 20 steps, and the
  classifier test of two such textures (3 seeds) against the unseen bottom half of
  ``gravel``, beside the floor (two real regions). The same generator and seed are
  refined with either sort: ties among the projections are ordered differently by
  the two sorts, so the outputs are not bit-identical, but their quality should be
  alike.

    python bench/sorting.py            # about 10 min on 2 CPU cores
    python bench/sorting.py --quick    # fewer steps, no classifier test
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
from generate import OUT
from skimage import data

import napari_gan as ng
from napari_gan.core import metrics, sorting

SORTS = {"torch.sort": False, "NumPy (default)": True}


def median_ms(fn, repeats: int = 30) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def micro(threads: int) -> dict:
    torch.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4096, 25, generator=gen) @ torch.randn(25, 64, generator=gen)
    xg = x.clone().requires_grad_(True)
    w = torch.randn(x.shape, generator=gen)

    def with_grad():
        xg.grad = None
        (sorting.sort_values(xg, 0) * w).sum().backward()

    out = {}
    for name, flag in SORTS.items():
        sorting.NUMPY_ON_CPU = flag
        out[name] = {"values": median_ms(lambda: sorting.sort_values(x, 0)), "with gradient": median_ms(with_grad)}
    sorting.NUMPY_ON_CPU = True
    return out


def steps_per_second(model, images, steps: int) -> float:
    model.fit(images, max_steps=10, seed=0)
    t = time.perf_counter()
    model.fit(images, max_steps=steps, seed=0)
    return steps / (time.perf_counter() - t)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, no classifier test")
    args = parser.parse_args(argv)
    face_steps, texture_steps = (40, 20) if args.quick else (300, 100)

    result = {"micro": {t: micro(t) for t in (1, 2)}}
    print("\nSort of a (4096, 64) float32 tensor along axis 0, median ms of 30")
    print("| threads | sort | values | values with gradient |\n|---|---|---|---|")
    for t, rows in result["micro"].items():
        for name, r in rows.items():
            print(f"| {t} | {name} | {r['values']:.2f} | {r['with gradient']:.2f} |")

    faces = data.lfw_subset()[:100].astype(np.float32)
    gravel = data.gravel().astype(np.float32)
    top, bottom = gravel[:256, :256], gravel[256:, :]
    speed = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name, flag in SORTS.items():
            sorting.NUMPY_ON_CPU = flag
            speed[f"{threads} {name}"] = {
                "threads": threads,
                "sort": name,
                "faces steps/s": steps_per_second(ng.ImageGAN(), faces, face_steps),
                "texture steps/s": steps_per_second(ng.ImageGAN(mode="texture"), top, texture_steps),
            }
    sorting.NUMPY_ON_CPU = True
    result["training"] = speed
    print("\nTraining steps/s")
    print("| threads | sort | faces (samples) | gravel (texture) |\n|---|---|---|---|")
    for r in speed.values():
        print(f"| {r['threads']} | {r['sort']} | {r['faces steps/s']:.2f} | {r['texture steps/s']:.2f} |")

    texture_gan = ng.ImageGAN(mode="texture")
    texture_gan.fit(top, max_steps=20, seed=0)  # the generator every refinement starts from
    rows = {}
    for name, flag in SORTS.items():
        sorting.NUMPY_ON_CPU = flag
        t = time.perf_counter()
        refined = texture_gan.generate(2, size=192, seed=1)
        rows[name] = {"s per refined texture": (time.perf_counter() - t) / 2}
        if not args.quick:
            rows[name]["classifier test"] = metrics.classifier_test(list(refined), bottom).accuracy
    sorting.NUMPY_ON_CPU = True
    if not args.quick:
        rows["real (floor)"] = {"classifier test": metrics.classifier_test_floor(gravel[256:]).accuracy}
    result["refinement"] = rows
    print("\nRefined 192 x 192 gravel textures, 2 threads")
    print("| sort | s per refined texture | classifier test |\n|---|---|---|")
    for name, row in rows.items():
        cells = [f"{row[k]:.3f}" if k in row else "-" for k in ("s per refined texture", "classifier test")]
        print(f"| {name} | " + " | ".join(cells) + " |")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sorting.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
