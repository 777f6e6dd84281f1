"""Shared parts of the paired texture benchmarks (bench/texture_start.py,
bench/texture_layout_cost.py): the same generators and seeds for every row, each row
scored as in bench/textures.py, a table and a picture grid."""

from __future__ import annotations

import argparse

import numpy as np
from skimage.io import imsave
from textures import halves, texture, texture_generator

from napari_gan.core import metrics

SIDE = 256  # the generated textures' and the reference quadrants' side


def arguments(doc: str, n: int, more=None) -> argparse.Namespace:
    """--only, --models, --seconds and --n (default ``n``) from the command line, and
    the arguments ``more`` (a function of the parser) adds."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if more is not None:
        more(ap)
    ap.add_argument("--only", default="brick,grass,gravel,histology", help="comma list of textures (bench/textures.py)")
    ap.add_argument("--models", metavar="DIR", help="load DIR/<texture>.ngan (bench/textures.py --save-models)")
    ap.add_argument("--seconds", type=float, default=300.0, help="training time per texture without --models")
    ap.add_argument("--n", type=int, default=n, help="images per row")
    return ap.parse_args()


def generators(args: argparse.Namespace):
    """(name, training half, reference quadrants, generator) for each of ``--only``."""
    for name in [s for s in args.only.split(",") if s]:
        train, reference = halves(texture(name), SIDE)
        yield name, train, reference, texture_generator(name, train, args.models, args.seconds, seed=0)


def score_row(images: list[np.ndarray], reference, train, seconds: float) -> dict:
    """The classifier test of ``images`` against ``reference`` (32 px crops, 3 seeds,
    300 steps) and the share of their 16 px patches copied from ``train``."""
    c2st = metrics.classifier_test(images, reference, steps=300, seeds=3)
    mem = metrics.memorisation_distance(images, train, n_patches=1000)
    return {
        "c2st": c2st.accuracy,
        "c2st_seeds": list(c2st.per_seed),
        "copied": mem["copied_fraction"],
        "s_per_image": seconds,
    }


def print_row(name: str, row: str, r: dict) -> None:
    print(
        f"{name}: {row}: classifier test {r['c2st']:.3f} {[round(v, 3) for v in r['c2st_seeds']]}, "
        f"copied {r['copied']:.3f} ({r['s_per_image']:.1f} s per image)",
        flush=True,
    )


def print_table(results: dict, rows) -> None:
    """One line per texture, one cell per row: classifier test (copied, seconds per image)."""
    print()
    print("| texture | " + " | ".join(rows) + " |")
    print("|---|" + "---|" * len(rows))
    for name, r in results.items():
        cells = [f"{r[w]['c2st']:.3f} ({r[w]['copied']:.0%} copied, {r[w]['s_per_image']:.1f} s)" for w in rows]
        print(f"| {name} | " + " | ".join(cells) + " |")


def save_grid(pictures: list[np.ndarray], path) -> None:
    """The textures' picture rows (uint8, of any widths) one under another."""
    width = max(p.shape[1] for p in pictures)
    grid = np.concatenate([np.pad(p, ((0, 6), (0, width - p.shape[1])), constant_values=255) for p in pictures])
    imsave(path, grid, check_contrast=False)
