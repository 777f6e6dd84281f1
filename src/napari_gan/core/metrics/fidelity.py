"""Image fidelity against a known answer: PSNR and SSIM (scikit-image's, with the
data range taken from the reference unless given)."""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from ..errors import InputError

__all__ = ["psnr", "ssim"]


def _pair(reference, image, data_range) -> tuple[np.ndarray, np.ndarray, float]:
    """Both as float64 of one shape, and a positive data range (a constant reference
    has none: every score would be -inf or NaN)."""
    reference = np.asarray(reference, dtype=np.float64)
    image = np.asarray(image, dtype=np.float64)
    if reference.shape != image.shape:
        raise InputError(f"reference has shape {reference.shape} but image has {image.shape}: they must match")
    if data_range is None:
        data_range = float(reference.max() - reference.min()) if reference.size else 0.0
    if not data_range > 0:
        raise InputError(f"data_range must be positive, got {data_range} (a constant reference: give data_range)")
    return reference, image, float(data_range)


def psnr(reference: np.ndarray, image: np.ndarray, *, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; ``data_range`` defaults to the reference's range."""
    reference, image, data_range = _pair(reference, image, data_range)
    return float(peak_signal_noise_ratio(reference, image, data_range=data_range))


def ssim(
    reference: np.ndarray, image: np.ndarray, *, data_range: float | None = None, channel_axis: int | None = None
) -> float:
    """Structural similarity; ``data_range`` defaults to the reference's range."""
    reference, image, data_range = _pair(reference, image, data_range)
    return float(structural_similarity(reference, image, data_range=data_range, channel_axis=channel_axis))
