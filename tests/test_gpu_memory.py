"""GPU memory is given back: after a model trained and predicted on CUDA is dropped,
``torch.cuda.memory_allocated()`` is where it was before. Runs only where a CUDA GPU
is present (CI has none)."""

from __future__ import annotations

import gc

import numpy as np
import pytest
import torch

import napari_gan as ng

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _denoiser(rng):
    noisy = rng.normal(0.5, 0.1, (64, 64)).astype(np.float32)
    model = ng.Denoiser().fit(noisy, max_steps=3, seed=0, device="cuda")
    model.predict(noisy)


def _segmenter(rng):
    image = rng.normal(0, 1, (64, 64)).astype(np.float32)
    labels = np.zeros((64, 64), np.int32)
    labels[10:20, 10:20], labels[40:50, 30:45] = 1, 2
    image[labels > 0] += 3
    model = ng.Segmenter().fit(image, labels, max_steps=3, seed=0, device="cuda")
    model.predict(image)


def _gan(rng):
    stack = rng.normal(0, 1, (16, 32, 32)).astype(np.float32)
    model = ng.ImageGAN().fit(stack, max_steps=3, seed=0, device="cuda")
    model.generate(4, seed=0)


def _translator(rng):
    image = rng.normal(0, 1, (64, 64)).astype(np.float32)
    model = ng.Translator(task="superres", scale=2).fit(image, max_steps=3, seed=0, device="cuda")
    model.predict(image[:32, :32])


@pytest.mark.parametrize("cycle", [_denoiser, _segmenter, _gan, _translator], ids=lambda f: f.__name__[1:])
def test_dropping_a_model_frees_its_gpu_memory(cycle):
    gc.collect()
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    cycle(np.random.default_rng(0))  # the model goes out of scope inside
    gc.collect()
    torch.cuda.synchronize()
    assert torch.cuda.memory_allocated() == before
