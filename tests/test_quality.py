"""End-to-end quality on images the bundled model never saw (slow: trains for real)."""

import numpy as np
import pytest
from skimage.restoration import denoise_nl_means

import napari_gan as ng
from napari_gan._sample_data import load_pair


@pytest.mark.slow
@pytest.mark.parametrize("name", ["moon", "microscopy"])
def test_self_supervised_beats_non_local_means(name):
    pair = load_pair(name)
    noisy, clean = pair.noisy[128:384, 128:384], pair.clean[128:384, 128:384].astype(np.float32)
    data_range = float(clean.max() - clean.min()) if name == "microscopy" else 255.0
    lo = float(noisy.min())
    sigma = 25.0 / data_range if name != "microscopy" else None
    x = (noisy.astype(np.float64) - lo) / data_range
    if sigma is None:
        from skimage.restoration import estimate_sigma

        sigma = float(estimate_sigma(x))
    nlm = denoise_nl_means(x, h=0.8 * sigma, sigma=sigma, fast_mode=True, patch_size=5, patch_distance=6)
    nlm_psnr = ng.metrics.psnr(clean, nlm * data_range + lo, data_range=data_range)

    den = ng.Denoiser().fit(noisy, max_steps=40, seed=0)
    ours = ng.metrics.psnr(clean, den.predict(noisy), data_range=data_range)
    assert ours > nlm_psnr, (ours, nlm_psnr)
