"""Resuming a run: a run stopped (or killed) at step K and resumed ends with the
same weights and history as one that ran through, for every model kind."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import napari_gan as ng
from napari_gan.core.synthetic import spots, touching_nuclei, two_kinds
from napari_gan.core.synthetic_boxes import blobs_and_rods
from napari_gan.core.synthetic_landmarks import landmark_cells


def _image(shape=(64, 64), seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (np.sin(yy / 5.0) * np.cos(xx / 7.0) + 0.3 * rng.normal(size=shape)).astype(np.float32)


def _blobs(n=6, size=20):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    out = [40 + 180 * (((yy - cy) ** 2 + (xx - cx) ** 2) < 16) for cy, cx in rng.uniform(5, size - 5, (n, 2))]
    return np.array(out, dtype=np.uint8)


def _object_data():
    image, labels, kinds = two_kinds((128, 128), seed=3, rim=(0.5, 0.8))
    ids = [int(i) for i in np.unique(labels) if i][:8]
    return (image, labels, {i: ("a", "b")[n % 2] for n, i in enumerate(ids)}), {}


# kind -> (model factory, fit arguments, fit keywords)
RUNS = {
    "Denoiser": (
        lambda: ng.Denoiser(patch_size=32, batch_size=2, features=8, pretrained=False),
        lambda: ((_image(),), {}),
    ),
    "Segmenter": (
        lambda: ng.Segmenter(mode="instance", patch_size=32, batch_size=2, features=8),
        lambda: (touching_nuclei((64, 64), seed=3), {}),
    ),
    "SpotDetector": (
        lambda: ng.SpotDetector(patch_size=32, batch_size=2, features=4),
        lambda: (spots((64, 64), n=10, snr=8, seed=1), {}),
    ),
    "BoxDetector": (
        lambda: ng.BoxDetector(patch_size=32, batch_size=2, features=4, depth=2),
        lambda: (blobs_and_rods((64, 64), n=(3, 3), seed=2), {}),
    ),
    "KeypointDetector": (
        lambda: ng.KeypointDetector(patch_size=32, batch_size=2, features=4),
        lambda: (landmark_cells((64, 64), n_cells=3, seed=1), {}),
    ),
    "ObjectClassifier": (
        lambda: ng.ObjectClassifier(crop=32, input_size=16, features=8, batch_size=8),
        _object_data,
    ),
    "ImageClassifier": (
        lambda: ng.ImageClassifier(input_size=16, features=8, batch_size=4),
        lambda: ((np.stack([_image((24, 24), seed=s) for s in range(8)]), ["a", "b"] * 4), {}),
    ),
    "ImageGAN-samples": (
        lambda: ng.ImageGAN(features=8, latent=16, batch_size=4),
        lambda: ((_blobs(),), {"classes": ["a", "b"] * 3}),
    ),
    "ImageGAN-adaptive": (
        lambda: ng.ImageGAN(features=8, latent=16, batch_size=4, augment="adaptive"),
        lambda: ((_blobs(),), {}),
    ),
    "ImageGAN-pyramid": (  # samples over 32 px: coarse pair, detail networks, 4 optimizers
        lambda: ng.ImageGAN(features=8, latent=16, batch_size=4),
        lambda: ((np.stack([_image((40, 36), seed=s) for s in range(4)]),), {}),
    ),
    "ImageGAN-texture": (
        lambda: ng.ImageGAN(mode="texture", features=4, crop_size=32, batch_size=2),
        lambda: ((_image((64, 64)),), {}),
    ),
    "Translator": (
        lambda: ng.Translator(task="superres", features=8, depth=2, patch_size=32, batch_size=2, d_features=8),
        lambda: ((_image(),), {}),
    ),
    "Translator-unpaired": (
        lambda: ng.Translator(task="unpaired", features=8, depth=2, patch_size=32, batch_size=2, d_features=8),
        lambda: ((_image(), 1 - _image((48, 56), seed=1)), {}),
    ),
}
N, K = 6, 3


def _stopped_at(make, args, kw, k, **fit):
    model = make()
    it = model.fit_iter(*args, max_steps=N, seed=1, **kw, **fit)
    for _ in itertools.islice(it, k):
        pass
    it.close()  # what the widgets' Stop does
    return model


def _same_weights(a, b):
    # Two identical runs of some kinds differ by ~1e-8 on CPU already (the order of
    # parallel float sums); a resume that lost any state differs by far more.
    sa, sb = a.net.state_dict(), b.net.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        torch.testing.assert_close(sa[key], sb[key], rtol=1e-4, atol=1e-6, msg=key)


def _same_curve(a, b):
    assert [h["step"] for h in a.history] == [h["step"] for h in b.history]
    for ha, hb in zip(a.history, b.history):
        assert ha.keys() == hb.keys()
        np.testing.assert_allclose(
            [ha[k] for k in ha if k != "elapsed"], [hb[k] for k in hb if k != "elapsed"], rtol=1e-4, atol=1e-6
        )


@pytest.mark.parametrize("kind", sorted(RUNS))
def test_resumed_run_ends_where_an_uninterrupted_one_does(kind, tmp_path):
    make, data = RUNS[kind]
    args, kw = data()
    whole = make().fit(*args, max_steps=N, seed=1, **kw)

    stopped = _stopped_at(make, args, kw, K)
    assert stopped.steps_trained == K
    path = stopped.save_training_state(tmp_path / "last.state")
    resumed = ng.load_model(path)  # a fresh process would do just this
    assert type(resumed) is type(whole) and resumed.steps_trained == K
    resumed.fit(*args, max_steps=N, seed=1, resume=True, **kw)
    _same_weights(whole, resumed)
    assert resumed.steps_trained == whole.steps_trained == N
    _same_curve(resumed, whole)  # the same curve, numbered 1..N

    # Continue training in memory (the widget's Continue) gives the same too
    again = _stopped_at(make, args, kw, K)
    again.fit(*args, max_steps=N, seed=1, resume=True, **kw)
    _same_weights(whole, again)


def test_resume_needs_a_run_the_same_seed_and_budget_left(tmp_path):
    make, data = RUNS["Denoiser"]
    (img,), _ = data()
    with pytest.raises(ng.InputError, match="no run to resume"):
        make().fit_iter(img, max_steps=N, resume=True)
    stopped = _stopped_at(make, (img,), {}, K)
    with pytest.raises(ng.InputError, match="seed 1"):
        stopped.fit_iter(img, max_steps=N, seed=2, resume=True)
    finished = make().fit(img, max_steps=2, seed=1)
    with pytest.raises(ng.InputError, match="nothing to resume"):
        finished.fit_iter(img, max_steps=2, seed=1, resume=True)
    # a new (non-resumed) run from a stopped model still works as before
    stopped.fit(img, max_steps=2, seed=1)
    assert stopped.steps_trained == K + 2


def test_a_run_state_file_is_loaded_as_the_model_it_holds(tmp_path):
    make, data = RUNS["Denoiser"]
    (img,), _ = data()
    stopped = _stopped_at(make, (img,), {}, K)
    path = stopped.save_training_state(tmp_path / "last.state")
    model = ng.load_model(path)
    np.testing.assert_allclose(model.predict(img), stopped.predict(img), atol=1e-6)
    assert ng.Denoiser.load(path).steps_trained == K
    with pytest.raises(ng.CheckpointError, match="not a 'Segmenter'"):
        ng.Segmenter.load(path)


def _rewrite(path, out, *, tensors=None, meta=None):
    stored = load_file(str(path))
    from safetensors import safe_open

    with safe_open(str(path), "pt") as fh:
        header = json.loads(fh.metadata()["napari-gan"])
    if tensors:
        stored = tensors(stored)
    if meta:
        meta(header)
    save_file(stored, str(out), metadata={"napari-gan": json.dumps(header)})
    return out


@pytest.mark.parametrize(
    "tensors, meta, message",
    [
        (None, lambda h: h["state"].update(step="3"), "step"),
        (None, lambda h: h["state"].update(step=99), "beyond its budget"),
        (None, lambda h: h["state"].update(base_lrs="x"), "learning rates"),
        (None, lambda h: h.pop("model"), "no model header"),
        (lambda t: {**t, "elsewhere": torch.zeros(2)}, None, "neither the model's nor the run's"),
        (lambda t: {k: v for k, v in t.items() if k != "run/global/torch"}, None, "global/torch"),
        (lambda t: {**t, "run/opt/0/exp_avg": torch.zeros(1, 2, 3)}, None, "exp_avg of parameter 0 has shape"),
        (lambda t: {k: v for k, v in t.items() if k != "model/head.weight"}, None, "lacks"),
    ],
)
def test_a_damaged_or_hostile_state_file_is_refused_before_anything_changes(tmp_path, tensors, meta, message):
    make, data = RUNS["Denoiser"]
    (img,), _ = data()
    stopped = _stopped_at(make, (img,), {}, K)
    path = stopped.save_training_state(tmp_path / "last.state")
    bad = _rewrite(path, tmp_path / "bad.state", tensors=tensors, meta=meta)
    with pytest.raises(ng.CheckpointError, match=message):
        model = ng.load_model(bad)
        model.fit_iter(img, max_steps=N, seed=1, resume=True)
