"""Translator: image-to-image with a conditional GAN (pix2pix-style) on the user's own
images of any size: super-resolution, inpainting, colorization, deblurring and
paired translation (one contrast or stain to another); and unpaired translation
(CycleGAN-style: two generators and two discriminators, from two sets of images
that show different scenes).

One U-Net generator and one PatchGAN discriminator (spectral norm) with an L1 term;
``adversarial_weight=0`` trains a plain CNN and no discriminator. To be useful after
minutes on a CPU the generator never starts from nothing: it learns a *residual* on
top of a cheap classical estimate (a cubic-spline upsampling, the blurred image, a
spline fill of the hole, zero chroma, or the source itself), so an untrained
model already equals the classical estimate and training only adds what it learns.

One module per task (``superres``, ``inpaint``, ``colorize``, ``deblur``, ``paired``,
``unpaired``) holds its data, degradation, classical estimate and what its predictions
need; ``common`` what they share (the :class:`~.common.Task` interface, reading images,
sampling crops), ``fills`` the classical hole fills, ``config`` the options and
``model`` the :class:`Translator` that trains and applies them.
"""

from .colorize import gray_to_lightness, unit_range
from .common import gaussian_blur
from .config import DEFAULT_DEBLUR_SIGMA, TASKS, TranslatorConfig
from .fills import FILL_TENSION, classical_fill, pyramid_fill, tension_fill
from .inpaint import FILLS, random_masks
from .model import Translator
from .superres import downscale, upscale

__all__ = [
    "DEFAULT_DEBLUR_SIGMA",
    "FILLS",
    "FILL_TENSION",
    "TASKS",
    "Translator",
    "TranslatorConfig",
    "classical_fill",
    "downscale",
    "gaussian_blur",
    "gray_to_lightness",
    "pyramid_fill",
    "random_masks",
    "tension_fill",
    "unit_range",
    "upscale",
]
