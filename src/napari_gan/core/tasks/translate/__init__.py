"""Translator: image-to-image with a conditional GAN (pix2pix-style); see ``model``."""

from .model import (
    DEFAULT_DEBLUR_SIGMA,
    FILL_TENSION,
    FILLS,
    TASKS,
    Translator,
    TranslatorConfig,
    classical_fill,
    downscale,
    gaussian_blur,
    gray_to_lightness,
    pyramid_fill,
    random_masks,
    tension_fill,
    unit_range,
    upscale,
)

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
