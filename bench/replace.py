"""Object replacement: every object of kind A replaced by a generated object of kind B.

    python bench/replace.py                  # 240 s of GAN training
    python bench/replace.py --seconds 60     # a quick check
    python bench/replace.py --crop 48        # crops over 32 px: the GAN is made coarse to fine
    python bench/replace.py --gan-options '{"patch_loss": 0}' --tag no_patch_loss   # other ImageGAN options

Synthetic objects of two kinds (``napari_gan.core.synthetic.two_kinds``: uniform
and bright-rimmed, same sizes and brightness). A class-conditional ImageGAN learns
32 px crops (``--crop``) of the objects with their masks (``ng.object_crops``); then
``ng.replace_objects`` replaces every uniform object by a generated rimmed one.
Judged by:

- an ObjectClassifier trained on the real objects (60 s): the share of inserted
  objects it calls "rim" (target: at least 90 %), beside its accuracy on real
  held-out objects of a second image;
- the seam score (``ng.metrics.seam_score``) along the inserted objects' borders,
  against the same score along real objects' borders (target: within 1.5x);
- the outlines: mean solidity (area over convex-hull area, scikit-image
  regionprops) of the inserted objects' masks against the real objects'; the same
  replacement with the generated mask cut unsmoothed (``MASK_SMOOTH = 0``) beside it;
- the same GAN's objects placed with ``grain=False`` (no noise added), classified too;
- the two-sample classifier test (``ng.metrics.classifier_test``, 12 px crops within
  the objects' regions, dilated by 6 px): inserted objects against the rimmed
  objects of a second image that nothing trained on, beside real against real (the
  rimmed objects of the two images: the floor);
- removal alone: the classifier test (8 px crops) of the filled holes against the
  background of the second image, beside the fill allowed to copy from the other objects too (as
  before ``patch_fill(avoid=...)``) and real background against real (the floor);
- a PNG before / after (``bench/out/replace.png``) and one of the removal with and
  without avoiding the other objects (``bench/out/remove.png``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi
from skimage.io import imsave
from skimage.segmentation import find_boundaries

import napari_gan as ng
from napari_gan.core import replace as replace_module
from napari_gan.core.synthetic import two_kinds

OUT = Path(__file__).parent / "out"
KINDS = ("uniform", "rim")


def _border_seam(image: np.ndarray, labels: np.ndarray, ids) -> float:
    """Seam score of the objects' regions: how much the image jumps across their border."""
    region = ndi.binary_dilation(np.isin(labels, ids), iterations=1)
    return float(ng.metrics.seam_score(image, region))


def _view(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    g = (255 * (image - image.min()) / np.ptp(image)).astype(np.uint8)
    rgb = np.stack([g] * 3, axis=-1)
    rgb[find_boundaries(labels, mode="outer")] = (255, 200, 0)
    return rgb


def main() -> None:
    image, labels, kinds = two_kinds((256, 256), seed=args.seed)
    ids = np.arange(1, labels.max() + 1)
    classes = {int(i): KINDS[kinds[i - 1]] for i in ids if (labels == i).any()}
    uniform = [i for i, k in classes.items() if k == "uniform"]
    rims = [i for i, k in classes.items() if k == "rim"]

    crops, names = ng.object_crops(image, labels, size=args.crop, classes=classes)
    t0 = time.perf_counter()
    options = {"batch_size": 32, **json.loads(args.gan_options)}
    gan = ng.ImageGAN(**options).fit(crops, classes=names, time_limit=args.seconds, max_steps=10**7, seed=0)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    new, new_labels = ng.replace_objects(image, labels, ids=uniform, generator=gan, classes="rim", seed=1)
    replace_s = time.perf_counter() - t0
    placed = [i for i in uniform if (new_labels == i).any()]
    default_smooth = replace_module.MASK_SMOOTH
    replace_module.MASK_SMOOTH = 0.0
    _, raw_labels = ng.replace_objects(image, labels, ids=uniform, generator=gan, classes="rim", seed=1)
    replace_module.MASK_SMOOTH = default_smooth
    smooth_new, _ = ng.replace_objects(image, labels, ids=uniform, generator=gan, classes="rim", seed=1, grain=False)

    clf = ng.ObjectClassifier().fit(image, labels, classes, time_limit=60, max_steps=10**6, seed=0)
    table = clf.predict(new, new_labels)
    called = {int(r["label"]): r["class"] for r in _rows(table)}
    share_rim = np.mean([called.get(i) == "rim" for i in placed]) if placed else float("nan")
    called_smooth = {int(r["label"]): r["class"] for r in _rows(clf.predict(smooth_new, new_labels))}
    share_smooth = np.mean([called_smooth.get(i) == "rim" for i in placed]) if placed else float("nan")
    # the classifier on real objects it did not train on: a second image of the same kinds
    img2, lab2, kinds2 = two_kinds((256, 256), seed=args.seed + 1)
    truth2 = {int(i): KINDS[kinds2[i - 1]] for i in range(1, lab2.max() + 1) if (lab2 == i).any()}
    called2 = {int(r["label"]): r["class"] for r in _rows(clf.predict(img2, lab2))}
    real_acc = np.mean([called2.get(i) == k for i, k in truth2.items()])

    judge = dict(crop=12, seeds=3, steps=300)
    near = lambda lab, ids: ndi.binary_dilation(np.isin(lab, ids), iterations=6)  # noqa: E731
    rims2 = [i for i, k in truth2.items() if k == "rim"]
    c2st_new = ng.metrics.classifier_test(
        new, img2, generated_mask=near(new_labels, placed), real_mask=near(lab2, rims2), **judge
    )
    c2st_floor = ng.metrics.classifier_test(
        image, img2, generated_mask=near(labels, rims), real_mask=near(lab2, rims2), **judge
    )
    # removal alone, with and without keeping the fill off the other objects
    removed, _ = ng.replace_objects(image, labels, ids=uniform, seed=1)
    fill = replace_module.patch_fill
    replace_module.patch_fill = lambda *a, avoid=None, **k: fill(*a, **k)
    removed_any, _ = ng.replace_objects(image, labels, ids=uniform, seed=1)
    replace_module.patch_fill = fill
    # the background is crowded: 8 px crops of the filled holes (away from the kept
    # objects) and of the second image's background, 2 px away from any object
    edge = lambda lab, ids: ndi.binary_dilation(np.isin(lab, ids), iterations=replace_module.HALO)  # noqa: E731
    others = [i for i in classes if i not in set(uniform)]
    hole = edge(labels, uniform) & ~edge(labels, others)
    background2 = ~edge(lab2, list(truth2))
    c2st_removed, c2st_removed_any, c2st_bg_floor = (
        ng.metrics.classifier_test(a, img2, generated_mask=m, real_mask=background2, **{**judge, "crop": 8})
        for a, m in ((removed, hole), (removed_any, hole), (image, ~edge(labels, list(classes))))
    )

    solid_new, solid_raw, solid_real = (
        _solidity(new_labels, placed),
        _solidity(raw_labels, placed),
        _solidity(labels, rims),
    )
    seam_new = _border_seam(new, new_labels, placed)
    seam_real = _border_seam(image, labels, rims)
    print(
        f"two_kinds seed {args.seed}: {len(uniform)} uniform objects replaced ({len(placed)} placed), "
        f"{len(rims)} real rimmed objects; GAN {gan.steps_trained} steps in {train_s:.0f} s, "
        f"replacement {replace_s:.1f} s"
    )
    print()
    print("| measure | inserted objects | real objects | target |")
    print("|---|---|---|---|")
    print(
        f"| called 'rim' by a classifier trained on real objects | {share_rim:.0%} "
        f"(without grain: {share_smooth:.0%}) | "
        f"accuracy on a second image: {real_acc:.0%} | >= 90 % |"
    )
    print(
        f"| seam score along the objects' borders | {seam_new:.2f} | {seam_real:.2f} | "
        f"within 1.5x ({seam_new / seam_real:.2f}x) |"
    )
    print(
        f"| mean solidity of the masks (outline regularity) | {solid_new:.3f} (mask cut unsmoothed: "
        f"{solid_raw:.3f}) | {solid_real:.3f} | - |"
    )
    print(
        f"| classifier test against the second image's rimmed objects (0.5: indistinguishable) | "
        f"{c2st_new.accuracy:.3f} | {c2st_floor.accuracy:.3f} (first image's rimmed objects) | - |"
    )
    print()
    print("| removal | classifier test of the holes against the second image's background |")
    print("|---|---|")
    print(f"| fill from the background (default) | {c2st_removed.accuracy:.3f} |")
    print(f"| fill from anywhere (other objects too) | {c2st_removed_any.accuracy:.3f} |")
    print(f"| real: the first image's background (floor) | {c2st_bg_floor.accuracy:.3f} |")
    OUT.mkdir(exist_ok=True)
    parts = ([str(args.crop)] if args.crop != 32 else []) + ([args.tag] if args.tag else [])
    tag = "".join(f"_{part}" for part in parts)
    replaced_png, removed_png = OUT / f"replace{tag}.png", OUT / f"remove{tag}.png"
    imsave(
        replaced_png,
        np.concatenate([_view(image, labels), _view(new, new_labels)], axis=1),
        check_contrast=False,
    )
    imsave(
        removed_png,
        np.concatenate([_view(a, np.zeros_like(labels)) for a in (image, removed_any, removed)], axis=1),
        check_contrast=False,
    )
    print(f"\nPNG: {replaced_png} (left: before, right: uniform objects replaced by generated rimmed ones)")
    print(f"PNG: {removed_png} (before; uniform objects removed copying from anywhere; from the background)")


def _solidity(labels: np.ndarray, ids) -> float:
    from skimage.measure import regionprops

    return float(np.mean([r.solidity for r in regionprops(labels) if r.label in set(ids)]))


def _rows(table):
    """The classifier's table as dicts (a dict of columns or a list of rows)."""
    if isinstance(table, dict):
        keys = list(table)
        return [dict(zip(keys, values)) for values in zip(*table.values())]
    return list(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--crop", type=int, default=32, help="object crop size (over 32: coarse to fine)")
    parser.add_argument("--gan-options", default="{}", help="ImageGAN options as JSON (batch_size 32 unless given)")
    parser.add_argument("--tag", default="", help="added to the PNGs' names")
    args = parser.parse_args()
    main()
