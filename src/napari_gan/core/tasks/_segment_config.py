"""The options of a :class:`~napari_gan.core.tasks.segment.Segmenter` (checked when
they are made) and the rule that picks its mode from the labels."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage import measure

from ..errors import check_positive_ints

MODES = ("auto", "semantic", "instance")
OUTPUTS = ("labels", "instances", "classes", "probabilities")


@dataclass(frozen=True)
class SegmenterConfig:
    """Options of a :class:`Segmenter`.

    Parameters
    ----------
    mode : {"auto", "semantic", "instance"}
        ``semantic``: labels are scribbles, 0 = not annotated, 1 = background,
        2..K = classes; the output is a class map. ``instance``: labels are object
        masks (each object its own id, 0 = background inside the annotated region);
        the output separates touching objects. ``auto`` picks instance when a region
        is given or every id is a single connected object and there are at least 3,
        else semantic.
    patch_size, batch_size : int
        Training patches (pixels per edge; 3D patches use at most 32 planes) and
        patches per step.
    features, depth : int
        U-Net width and number of downsamplings (receptive field grows with depth).
    learning_rate : float
        Adam learning rate (cosine-annealed over the budget).
    min_size : int or None
        Objects (and holes) smaller than this many pixels/voxels are removed from
        instance output. None: a fifth of the smallest typical training object
        (instance mode), or 16 pixels / 64 voxels (semantic mode).
    tile_size, tile_overlap : int
        Tiled prediction.
    vary_appearance : bool
        Also train on patches whose brightness varies smoothly up to 2x either way
        over about an object's diameter, some blurred and some noisier (see
        :func:`~napari_gan.core.tasks._pixelwise.appearance_jitter`). Off by default:
        on real images trained on one half and scored on the other it lowered F1@0.5
        (0.970 -> 0.903 on nuclei, 1.000 -> 0.867 on coins; ``bench/segment_real.py``,
        docs/benchmarks/segmentation.md). Flips, quarter turns and a global brightness and contrast
        change are always used.
    """

    mode: str = "auto"
    patch_size: int = 96
    batch_size: int = 8
    features: int = 16
    depth: int = 3
    learning_rate: float = 2e-3
    min_size: int | None = None
    tile_size: int = 384
    tile_overlap: int = 48
    vary_appearance: bool = False

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        check_positive_ints(self, ("patch_size", "batch_size", "features", "depth", "tile_size"))
        if self.patch_size < 16:
            raise ValueError(f"patch_size must be at least 16, got {self.patch_size}")
        if not 0 <= self.tile_overlap < self.tile_size:
            raise ValueError("tile_overlap must be >= 0 and smaller than tile_size")
        if not self.learning_rate > 0:
            raise ValueError("learning_rate must be positive")
        if self.min_size is not None and self.min_size < 0:
            raise ValueError("min_size must be >= 0 or None")


def guess_mode(labels: np.ndarray, region) -> str:
    """The ``auto`` rule (see :class:`SegmenterConfig`); ``labels`` (N, 1, *spatial)."""
    if region is not None:
        return "instance"
    ids = np.unique(labels)
    ids = ids[ids > 0]
    if len(ids) < 3:
        return "semantic"
    if len(ids) > 64:  # scribble classes are few; many ids are objects
        return "instance"
    for n in range(labels.shape[0]):
        frame = labels[n, 0]
        for i in np.unique(frame):
            if i and measure.label(frame == i).max() > 1:
                return "semantic"  # strokes of one class in several places
    return "instance"
