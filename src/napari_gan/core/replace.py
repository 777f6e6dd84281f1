"""Replacing objects: remove them (fill with the surrounding texture) or put new,
generated objects in their place, with their masks.

::

    crops = ng.object_crops(image, labels)                 # (N, S, S, C + 1): the objects and their masks
    gan = ng.ImageGAN().fit(crops, time_limit=300)         # learns objects with their masks
    new_image, new_labels = ng.replace_objects(image, labels, ids=[3, 7], generator=gan, seed=0)
    removed, cleared = ng.replace_objects(image, labels, ids=[3, 7])   # no generator: removal

The GAN learns each crop together with its object's mask (the last channel,
scaled to the image's range so the GAN's normalisation treats it like the
image), so every generated object comes with its own mask. An object is
replaced by removing the old one (the textured fill of
:func:`napari_gan.core.patchfill.patch_fill`), then blending the generated crop
in through its soft mask, after matching the crop's surroundings to the image's
around the object (an offset and gain per channel), so no seam shows where the
new object meets the old background. The label image gets the new masks under
the old ids. Nothing the caller passed is modified.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage as ndi

from .errors import InputError
from .patchfill import PATCH, patch_fill

#: label pixels dilated into the removed region: the blur around an object's edge
HALO = 2
#: Gaussian sigma (pixels) of the generated mask before it is thresholded
MASK_SMOOTH = 1.5


def _check(image, labels) -> tuple[np.ndarray, np.ndarray, bool]:
    img = np.asarray(image)
    lab = np.asarray(labels)
    if img.dtype.kind not in "uif" or img.size == 0:
        raise InputError(f"image must be a non-empty numeric array, got {img.dtype} of shape {img.shape}")
    rgb = img.ndim == 3 and img.shape[-1] in (3, 4)
    if img.ndim not in (2, 3) or (img.ndim == 3 and not rgb):
        raise InputError(f"image must be 2D (Y, X) or RGB(A) (Y, X, 3|4), got shape {img.shape}")
    if lab.dtype.kind not in "ui":
        raise InputError(f"labels must be an integer label image, got {lab.dtype}")
    if lab.shape != img.shape[:2]:
        raise InputError(f"labels have shape {lab.shape}, the image {img.shape[:2]}: they must match (Y, X)")
    if not np.isfinite(img).all():
        raise InputError("image has NaN or infinite values")
    return img, lab, rgb


def _ids(lab: np.ndarray, ids) -> list[int]:
    present = set(np.unique(lab).tolist()) - {0}
    if ids is None:
        return sorted(present)
    ids = [int(i) for i in np.atleast_1d(ids)]
    missing = sorted(set(ids) - present)
    if missing:
        raise InputError(f"label id(s) {missing} are not in the labels (ids present: {sorted(present)[:20]})")
    if not ids:
        raise InputError("ids is empty: name the label ids to replace")
    return ids


def object_crops(image, labels, *, size: int = 32, ids: Sequence[int] | None = None, classes: dict | None = None):
    """Square crops centred on objects, each with its object's mask as a last
    channel, to train an :class:`~napari_gan.ImageGAN` on (samples mode).

    Parameters
    ----------
    image : ndarray (Y, X) or (Y, X, 3|4)
    labels : ndarray (Y, X) int
        Objects; 0 is background.
    size : int
        Crop edge in pixels: larger than the objects, with some background around them.
    ids : sequence of int, optional
        The objects to crop (default: all). Objects near the border are padded by reflection.
    classes : dict, optional
        ``{label id: class name}``: also return the class of every crop (for a
        class-conditional GAN); objects without a class are left out.

    Returns
    -------
    crops : ndarray (N, size, size, C + 1) float32
        The image's channels, then the mask scaled to the image's range.
    names : list of str
        Only with ``classes``: the class of every crop.
    """
    img, lab, rgb = _check(image, labels)
    if int(size) != size or size < 8:
        raise InputError(f"size must be an integer >= 8, got {size!r}")
    wanted = _ids(lab, ids)
    if classes is not None:
        wanted = [i for i in wanted if i in classes]
        if not wanted:
            raise InputError("no object of the chosen ids has a class in classes")
    chans = img.astype(np.float32).reshape(*img.shape[:2], -1)
    lo, hi = float(chans.min()), float(chans.max())
    if not hi > lo:
        raise InputError("the image is constant: there are no objects to learn")
    half = size // 2
    padded = np.pad(chans, ((half, half), (half, half), (0, 0)), mode="reflect")
    lab_p = np.pad(lab, half)
    centres = ndi.center_of_mass(np.ones_like(lab), lab, wanted)
    crops = []
    for i, (cy, cx) in zip(wanted, centres):
        y, x = int(round(cy)), int(round(cx))
        window = (slice(y, y + size), slice(x, x + size))  # y + half - half in padded coordinates
        mask = (lab_p[window] == i).astype(np.float32) * (hi - lo) + lo
        crops.append(np.concatenate([padded[window], mask[..., None]], axis=-1))
    crops = np.stack(crops)
    return (crops, [classes[i] for i in wanted]) if classes is not None else crops


def _remove(img: np.ndarray, lab: np.ndarray, ids: list[int], seed: int, progress=None):
    hole = ndi.binary_dilation(np.isin(lab, ids), iterations=HALO)
    # the fill is made of background: pieces of the other objects (and their blurred
    # edges) copied into a hole read as smudges
    others = ndi.binary_dilation(lab > 0, iterations=HALO) & ~hole
    chans = img.astype(np.float32).reshape(*img.shape[:2], -1)
    lo, hi = chans.min(axis=(0, 1)), chans.max(axis=(0, 1))
    scale = np.where(hi > lo, hi - lo, 1.0)
    unit = np.moveaxis((chans - lo) / scale, -1, 0)
    # 7 px patches, not the fill's default 11: the background between objects is often too narrow
    # for larger ones, which then bring in the edges of the objects avoided
    filled = patch_fill(unit, hole, patch=PATCH, seed=seed, avoid=others, progress=progress)
    filled = np.moveaxis(filled, 0, -1) * scale + lo
    return np.where(hole[..., None], filled, chans), hole  # known pixels exactly as they were


def noise_level(image: np.ndarray) -> np.ndarray:
    """Per-channel standard deviation of pixel noise of a (Y, X, C) image: the
    median absolute residual from a 3 x 3 median filter, scaled to a Gaussian's
    sigma (robust to edges and texture, which the median filter keeps)."""
    out = []
    for c in range(image.shape[-1]):
        band = image[..., c].astype(np.float64)
        residual = band - ndi.median_filter(band, size=3, mode="reflect")
        # 1.4826 turns a MAD into sigma; the median of 9 noisy pixels takes ~0.3 of the
        # noise with it, which 1 / 0.865 gives back (measured on pure Gaussian noise)
        out.append(1.4826 * np.median(np.abs(residual - np.median(residual))) / 0.865)
    return np.array(out)


def _match_surroundings(crop: np.ndarray, target: np.ndarray, outside: np.ndarray) -> np.ndarray:
    """Per channel offset and gain that bring the crop's background (``outside``
    its object) to the image's background under it."""
    if outside.sum() < 8:
        return crop
    c, t = crop[outside], target[outside]
    gain = np.clip(t.std(0) / np.maximum(c.std(0), 1e-6), 0.5, 2.0)
    return (crop - c.mean(0)) * gain + t.mean(0)


def replace_objects(
    image,
    labels,
    ids: Sequence[int] | None = None,
    *,
    generator=None,
    classes=None,
    seed: int = 0,
    grain: bool = True,
    progress=None,
):
    """Replace objects of a label image: remove them, or put generated ones in their place.

    Parameters
    ----------
    image : ndarray (Y, X) or (Y, X, 3|4)
    labels : ndarray (Y, X) int
    ids : sequence of int, optional
        The label ids to replace (default: every object). Ids not in ``labels`` are an error.
    generator : ImageGAN, optional
        A samples-mode GAN trained on :func:`object_crops` of such objects (image
        channels plus a mask channel). Without it the objects are removed: filled
        with the texture around them.
    classes : str or sequence of str, optional
        For a class-conditional generator: the class of the new objects (one for
        all, or one per id).
    seed : int
        Seeds the fill and the generated objects: the same seed gives the same result.
    grain : bool
        Add to each generated object the pixel noise it lacks, up to the image's own
        (:func:`noise_level`): a generator's output is smoother than a real image,
        which makes inserted objects stand out.
    progress : callable, optional
        ``progress(done, total)``, called as the holes are filled (group by group
        of neighbouring holes).

    Returns
    -------
    new_image : ndarray, the image's shape and dtype
    new_labels : ndarray, the labels' shape and dtype
        Removed objects are 0; new objects carry the id of the one they replace.
    """
    img, lab, rgb = _check(image, labels)
    ids = _ids(lab, ids)
    if generator is not None:
        if getattr(generator, "kind", None) != "ImageGAN" or generator.config.mode != "samples":
            raise InputError("generator must be an ImageGAN in samples mode, trained on object_crops(...)")
        generator._require_fitted()
        channels = 1 if img.ndim == 2 else img.shape[-1]
        if generator.channels != channels + 1:
            raise InputError(
                f"the generator makes {generator.channels}-channel crops; this image needs {channels} channel(s) "
                "plus the mask channel that object_crops adds: train it on object_crops of such an image"
            )
    filled, hole = _remove(img, lab, ids, seed, progress)
    new_labels = lab.copy()
    new_labels[np.isin(lab, ids)] = 0
    if generator is not None:
        filled, new_labels = _place(filled, new_labels, lab, ids, generator, classes, seed, grain)
    out = filled.reshape(img.shape)
    if img.dtype.kind in "ui":
        info = np.iinfo(img.dtype)
        out = np.clip(np.round(out), info.min, info.max)
    return out.astype(img.dtype), new_labels


def _place(filled, new_labels, lab, ids, generator, classes, seed, grain):
    if isinstance(classes, str) or classes is None:
        classes = None if classes is None else [classes] * len(ids)
    elif len(classes) != len(ids):
        raise InputError(f"classes has {len(classes)} entries for {len(ids)} ids: give one, or one per id")
    crops = generator.generate(len(ids), seed=seed, classes=classes)
    rng = np.random.default_rng(seed)
    level = noise_level(filled) if grain else None  # per channel, of the image the objects go into
    crops = crops.reshape(*crops.shape[:3], -1).astype(np.float32)  # (N, S, S, C + 1)
    mid = (generator.low + generator.high) / 2
    size_y, size_x = crops.shape[1:3]
    centres = ndi.center_of_mass(np.ones_like(lab), lab, ids)
    h, w = filled.shape[:2]
    for i, crop, (cy, cx) in zip(ids, crops, centres):
        # the generated mask, smoothed before it is cut, so the new object's outline
        # is as smooth as a real one's rather than following the mask's pixel noise
        rgb, soft = crop[..., :-1], ndi.gaussian_filter(crop[..., -1], MASK_SMOOTH) > mid
        soft = ndi.binary_fill_holes(ndi.binary_opening(soft))
        keep, n = ndi.label(soft)
        if n > 1:  # the largest piece is the object
            soft = keep == 1 + np.argmax(ndi.sum(soft, keep, range(1, n + 1)))
        y0, x0 = int(round(cy)) - size_y // 2, int(round(cx)) - size_x // 2
        ys, xs = slice(max(y0, 0), min(y0 + size_y, h)), slice(max(x0, 0), min(x0 + size_x, w))
        cs = (slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0))
        free = new_labels[ys, xs] == 0  # never over another object
        mask = soft[cs] & free
        if not mask.any():
            continue
        target = filled[ys, xs]
        piece = _match_surroundings(rgb[cs], target, ~soft[cs])
        if level is not None:  # a generator's output is smoother than a real image: add the grain it lacks
            missing = np.sqrt(np.maximum(level**2 - noise_level(piece) ** 2, 0.0))
            piece = piece + rng.normal(size=piece.shape) * missing
        alpha = np.clip(ndi.gaussian_filter(mask.astype(np.float32), 1.0), 0, 1)[..., None]
        alpha = np.where(free[..., None], alpha, 0.0)
        filled[ys, xs] = alpha * piece + (1 - alpha) * target
        new_labels[ys, xs] = np.where(mask, i, new_labels[ys, xs])
    return filled, new_labels
