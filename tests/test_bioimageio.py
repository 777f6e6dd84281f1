"""bioimage.io export: packages of a Denoiser, an instance Segmenter and a superres
Translator are valid (bioimageio.spec), pass bioimageio.core's test_model with the
network unreachable, and predict through bioimageio.core what napari-gan predicts;
models that have no package, unfitted models and existing files give clear errors."""

from __future__ import annotations

import gc
import socket
import sys
import zipfile

import numpy as np
import pytest
import torch

pytest.importorskip("bioimageio.core")

from bioimageio.core import create_prediction_pipeline, load_model_description, predict  # noqa: E402
from bioimageio.spec import load_description  # noqa: E402

import napari_gan as ng  # noqa: E402
from napari_gan.core.bmz import ExportError, can_export, check_package  # noqa: E402
from napari_gan.core.synthetic import touching_nuclei  # noqa: E402

# bioimageio.core loads the TorchScript weights; torch marks TorchScript deprecated
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")

TINY = {"features": 8, "depth": 2, "patch_size": 32, "batch_size": 2}


@pytest.fixture(scope="module", autouse=True)
def _quick_unloads():
    """bioimageio.core collects garbage at every model unload; with torch loaded each
    collection took ~0.5 s. What exists before these tests is left out of them."""
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(scope="module")
def nuclei():
    return touching_nuclei((64, 64), seed=1)


@pytest.fixture(scope="module")
def denoiser(nuclei):
    return ng.Denoiser(features=8, patch_size=32, batch_size=2).fit(nuclei[0], max_steps=3, seed=0)


@pytest.fixture(scope="module")
def segmenter(nuclei):
    return ng.Segmenter(mode="instance", **TINY).fit(*nuclei, max_steps=3, seed=0)


@pytest.fixture(scope="module")
def superres(nuclei):
    return ng.Translator(task="superres", scale=2, adversarial_weight=0, **TINY).fit(nuclei[0], max_steps=3, seed=0)


@pytest.fixture
def offline(monkeypatch):
    """The network is unreachable: every attempt to resolve a host or open an internet
    socket fails and is recorded; the test fails if there was any."""
    attempts = []

    def refuse(what):
        def blocked(*args, **kwargs):
            attempts.append((what, args[1:2] if what == "connect" else args[:1]))
            raise OSError(f"network access attempted ({what})")

        return blocked

    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            return refuse("connect")(sock, address)
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    yield attempts
    assert attempts == [], f"bioimage.io export or test tried to reach the network: {attempts}"


def _through_bioimageio(path, image: np.ndarray, weight_format: str) -> np.ndarray:
    """bioimageio.core's prediction of one (C, Y, X) image with the package at ``path``."""
    descr = load_model_description(path, perform_io_checks=False)
    pipeline = create_prediction_pipeline(descr, weight_format=weight_format, devices=["cpu"])
    sample = predict(model=pipeline, inputs={"input": image[None].astype(np.float32)})  # predict unloads it
    return sample.members["output"].data.to_numpy()[0]


def _check_package(path, offline) -> None:
    descr = load_description(path, perform_io_checks=True)
    assert descr.validation_summary.status in ("valid-format", "passed"), descr.validation_summary.format()
    summary = check_package(path)
    assert summary.status == "passed", summary.format()
    tested = {d.name for d in summary.details if d.name.startswith("Reproduce test outputs")}
    assert any("torchscript" in t for t in tested) and any("pytorch_state_dict" in t for t in tested)
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
    assert {"model.ngan", "cover.png", "README.md", "weights.pt", "weights.torchscript.pt"} <= names


def test_denoiser_package(denoiser, offline, tmp_path, nuclei):
    path = denoiser.export_bioimageio(
        tmp_path / "den.zip", name="tiny nuclei denoiser", authors=["A. Person"], test=False
    )
    _check_package(path, offline)
    with zipfile.ZipFile(path) as z:
        z.extract("model.ngan", tmp_path)
        readme = z.read("README.md").decode()
    assert ng.load_model(tmp_path / "model.ngan").steps_trained == denoiser.steps_trained
    assert "inside the network" in readme
    image = nuclei[0][3:73, 5:57] * 200 + 10  # another size (not a multiple of 4) and range
    ours = denoiser.predict(image)
    for weights in ("pytorch_state_dict", "torchscript"):
        theirs = _through_bioimageio(path, image[None], weights)[0]
        np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-5 * np.abs(ours).max())


def test_segmenter_package(segmenter, offline, tmp_path, nuclei):
    path = segmenter.export_bioimageio(tmp_path / "seg.zip", test=False)
    _check_package(path, offline)
    image = nuclei[0][:50, :61]
    theirs = _through_bioimageio(path, image[None], "pytorch_state_dict")
    assert theirs.shape == (4,) + image.shape  # background, interior, boundary, distance
    ours = segmenter.predict(image, output="probabilities")
    np.testing.assert_allclose(theirs[:3], ours, atol=1e-5)
    with zipfile.ZipFile(path) as z:
        assert "watershed" in z.read("README.md").decode()  # what the package leaves out


def test_superres_translator_package(superres, offline, tmp_path, nuclei):
    path = superres.export_bioimageio(tmp_path / "sr.zip", test=False)
    _check_package(path, offline)
    image = nuclei[0][:30, :41]
    ours = superres.predict(image)
    theirs = _through_bioimageio(path, image[None], "torchscript")[0]
    assert theirs.shape == ours.shape == (60, 82)
    np.testing.assert_allclose(theirs, ours, rtol=1e-5, atol=1e-5)


def test_unpaired_translator_package_uses_the_averaged_generator(offline, tmp_path, nuclei):
    """The package computes A -> B as predict does: with the moving average of the
    generator's weights, not the generator's own (here moved far from it)."""
    a = nuclei[0]
    m = ng.Translator(task="unpaired", **TINY).fit(a, (a.max() - a) ** 1.5, max_steps=3, seed=0)
    image = a[:30, :41]
    before = m.predict(image)
    with torch.no_grad():
        for p in m.net["g"].parameters():
            p.add_(0.05 * torch.randn_like(p))
    ours = m.predict(image)
    np.testing.assert_allclose(ours, before, atol=1e-5)  # the generator's own weights are not used
    path = m.export_bioimageio(tmp_path / "unpaired.zip", test=False)
    _check_package(path, offline)
    theirs = _through_bioimageio(path, image[None], "torchscript")[0]
    assert theirs.shape == ours.shape == image.shape
    np.testing.assert_allclose(theirs, ours, rtol=1e-4, atol=1e-4 * np.ptp(ours))


def test_what_cannot_be_exported(denoiser, tmp_path):
    for model in (ng.ImageGAN(), ng.ImageClassifier(), ng.Translator(task="inpaint"), ng.Translator(task="colorize")):
        assert not can_export(model)
        with pytest.raises(ExportError, match="cannot be exported to bioimage.io"):
            model.export_bioimageio(tmp_path / "x.zip")
    with pytest.raises(RuntimeError, match="not been trained"):
        ng.Denoiser().export_bioimageio(tmp_path / "x.zip")
    (tmp_path / "taken.zip").write_bytes(b"")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        denoiser.export_bioimageio(tmp_path / "taken.zip")
    with pytest.raises(ValueError, match=r"\.zip"):
        denoiser.export_bioimageio(tmp_path / "den.ngan")
    assert not (tmp_path / "x.zip").exists() and not (tmp_path / "den.ngan").exists()


def test_a_failed_test_writes_nothing(denoiser, tmp_path, monkeypatch):
    from napari_gan.core.bmz import package

    class Failed:
        status = "failed"

        def format(self):
            return "test outputs not reproduced"

    monkeypatch.setattr(package, "check_package", lambda descr: Failed())
    with pytest.raises(RuntimeError, match="test outputs not reproduced"):
        denoiser.export_bioimageio(tmp_path / "den.zip")
    assert not (tmp_path / "den.zip").exists()


def test_missing_extra_names_it(denoiser, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "bioimageio.core", None)  # as if not installed
    with pytest.raises(ModuleNotFoundError, match=r"napari-gan\[bioimageio\]"):
        denoiser.export_bioimageio(tmp_path / "den.zip")
    assert not (tmp_path / "den.zip").exists()


def test_save_dialog_offers_and_writes_a_package(dock, qtbot, errors, denoiser, tmp_path, monkeypatch):
    from napari_gan._widgets import _training
    from napari_gan._widgets._bioimageio import BIOIMAGEIO_FILTER, save_filter
    from napari_gan._widgets.denoise import DenoiseWidget

    viewer, widget = dock(DenoiseWidget, "Denoise")
    widget.panel.set_model(denoiser)
    offered = []

    def dialog(parent, title, default, filters):
        offered.append(filters)
        return str(tmp_path / "den"), BIOIMAGEIO_FILTER

    monkeypatch.setattr(_training.QFileDialog, "getSaveFileName", dialog)
    widget.panel.save_button.click()
    # the export's effect is its file: Stop, which drops a job's result, is not offered
    assert widget.panel.is_busy and not widget.panel.stop_button.isEnabled()
    qtbot.waitUntil(lambda: not widget.panel.is_busy, timeout=60_000)
    assert errors == [] and (tmp_path / "den.zip").is_file()
    assert BIOIMAGEIO_FILTER in offered[0] and "bioimage.io" in widget.panel.status_label.text()
    assert BIOIMAGEIO_FILTER not in save_filter(ng.ImageGAN()) and BIOIMAGEIO_FILTER not in save_filter(None)
