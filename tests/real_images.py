"""Real images with reference masks, for the tests and bench/segment_real.py.

``napari_nuclei``: the nuclei (green) channel of the screenshot napari ships as
``napari/resources/multichannel_cells.png`` (a fluorescence image of nuclei and
membranes in napari's canvas, apparently a slice of scikit-image's ``cells3d``). Nothing is downloaded:
the image comes from the installed napari; only the masks live here
(``tests/data/napari_nuclei_masks.png``, 415 x 415, 26 nuclei including those cut by
the edges).

How the masks were made (2026-12-03): the canvas (rows 78-909, columns 482-1312 of
the screenshot) averaged 2 x 2, smoothed (Gaussian, sigma 2), thresholded at 0.8 x
Otsu, holes filled; touching nuclei split by a watershed from one seed per nucleus
placed by eye; a dim, out-of-focus nucleus cut by the left edge added with a lower
threshold (34 grey levels); one bright speck that is not a nucleus removed. Every
outline was checked by eye on the image. They are semi-automatic, not traced by
hand: a threshold-based method agrees with their outlines more easily than a
learned one does, so the comparison favours the classical baseline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "data"
CANVAS = (slice(78, 910), slice(482, 1313))


def napari_png() -> Path:
    """Where the installed napari keeps the screenshot (it may move in a later napari)."""
    import napari

    return Path(napari.__file__).parent / "resources" / "multichannel_cells.png"


def napari_nuclei(scale: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(image float32, masks int32), 415 x 415 at ``scale`` 1; ``scale`` 2 halves both
    (image averaged 2 x 2, masks by their majority label), so nuclei are ~37 px across."""
    import napari
    from skimage import io, transform

    png = Path(napari.__file__).parent / "resources" / "multichannel_cells.png"
    green = io.imread(png)[CANVAS + (1,)].astype(np.float32)
    image = transform.downscale_local_mean(green, (2, 2))[:415, :415].astype(np.float32)
    masks = io.imread(DATA / "napari_nuclei_masks.png").astype(np.int32)
    if scale > 1:
        n = (415 // scale) * scale
        image = transform.downscale_local_mean(image[:n, :n], (scale, scale)).astype(np.float32)
        masks = majority_downscale(masks[:n, :n], scale)
    return image, masks


def majority_downscale(masks: np.ndarray, scale: int) -> np.ndarray:
    """Each ``scale x scale`` block takes its most frequent label (background included)."""
    from scipy import stats

    h, w = masks.shape[0] // scale, masks.shape[1] // scale
    blocks = masks[: h * scale, : w * scale].reshape(h, scale, w, scale).transpose(0, 2, 1, 3).reshape(h, w, -1)
    # on a tie the smallest label wins
    return stats.mode(blocks, axis=-1, keepdims=False).mode.astype(np.int32)


def halves(image: np.ndarray, masks: np.ndarray):
    """(left image, left masks), (right image, right masks): objects cut by the middle
    line count as their parts on each side, relabelled 1..n."""
    from skimage.segmentation import relabel_sequential

    half = image.shape[1] // 2
    left = (image[:, :half], relabel_sequential(masks[:, :half])[0])
    right = (image[:, half:], relabel_sequential(masks[:, half:])[0])
    return left, right


def dim_and_defocus(image: np.ndarray, masks: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Each object's signal above the background scaled by 0.25-1 and a third of the
    objects blurred (sigma 2 px); the background (median outside the objects) stays."""
    from scipy import ndimage as ndi
    from skimage import filters, segmentation

    rng = np.random.default_rng(seed)
    bg = float(np.median(image[masks == 0]))
    gain = np.ones(int(masks.max()) + 1)
    gain[1:] = rng.uniform(0.25, 1.0, int(masks.max()))
    # the gain reaches 3 px past each nucleus, so its blurred rim is scaled with it
    out = bg + (image - bg) * gain[segmentation.expand_labels(masks, 3)]
    blurred = filters.gaussian(out, 2.0, preserve_range=True)
    soft = rng.random(int(masks.max()) + 1) < 1 / 3
    soft[0] = False
    near = ndi.binary_dilation(soft[masks], iterations=3)
    return np.where(near, blurred, out).astype(np.float32)
