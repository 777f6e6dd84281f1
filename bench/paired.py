"""Shared parts of the paired texture benchmarks (bench/texture_start.py,
bench/texture_layout_cost.py): the same generators and seeds for every row, each row
scored as in bench/textures.py, a table and a picture grid."""

from __future__ import annotations

import numpy as np
from skimage.io import imsave

from napari_gan.core import metrics


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


def print_table(results: dict, rows, seconds: bool = True) -> None:
    """One line per texture, one cell per row: classifier test (copied[, seconds])."""
    print()
    print("| texture | " + " | ".join(rows) + " |")
    print("|---|" + "---|" * len(rows))
    for name, r in results.items():
        cells = []
        for w in rows:
            extra = f", {r[w]['s_per_image']:.1f} s" if seconds else ""
            cells.append(f"{r[w]['c2st']:.3f} ({r[w]['copied']:.0%} copied{extra})")
        print(f"| {name} | " + " | ".join(cells) + " |")


def save_grid(pictures: list[np.ndarray], path) -> None:
    """The textures' picture rows (uint8, of any widths) one under another."""
    width = max(p.shape[1] for p in pictures)
    grid = np.concatenate([np.pad(p, ((0, 6), (0, width - p.shape[1])), constant_values=255) for p in pictures])
    imsave(path, grid, check_contrast=False)
