"""Synthetic microscopy-like images with exact ground truth, for tests and benchmarks.

:func:`touching_nuclei` draws crowded, touching nuclei with an instance label image;
:func:`spots` draws diffraction-limited spots with their sub-pixel coordinates. Both
work in 2D (Y, X) and 3D (Z, Y, X), are deterministic for a seed, and are meant to be
hard for the textbook pipelines (Otsu + distance-transform watershed, Laplacian of
Gaussian) while staying plainly readable by eye. :func:`two_kinds` draws objects of
two kinds (told apart by a rim or by shape) with their labels and kinds;
:func:`scribbles` draws the sparse strokes a user paints on a label image. Objects
with boxes and with named landmarks are in ``synthetic_boxes`` and
``synthetic_landmarks``.
"""

from .kinds import two_kinds
from .nuclei import touching_nuclei
from .scribbles import scribbles
from .spots import spots

__all__ = ["scribbles", "spots", "touching_nuclei", "two_kinds"]
