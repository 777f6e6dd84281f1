"""Image fidelity against a known answer: PSNR and SSIM (scikit-image's, with the
data range taken from the reference unless given)."""

from __future__ import annotations

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

__all__ = ["psnr", "ssim"]


def psnr(reference: np.ndarray, image: np.ndarray, *, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; ``data_range`` defaults to the reference's range."""
    reference = np.asarray(reference, dtype=np.float64)
    if data_range is None:
        data_range = float(reference.max() - reference.min())
    return float(peak_signal_noise_ratio(reference, np.asarray(image, dtype=np.float64), data_range=data_range))


def ssim(
    reference: np.ndarray, image: np.ndarray, *, data_range: float | None = None, channel_axis: int | None = None
) -> float:
    """Structural similarity; ``data_range`` defaults to the reference's range."""
    reference = np.asarray(reference, dtype=np.float64)
    if data_range is None:
        data_range = float(reference.max() - reference.min())
    return float(
        structural_similarity(
            reference, np.asarray(image, dtype=np.float64), data_range=data_range, channel_axis=channel_axis
        )
    )
