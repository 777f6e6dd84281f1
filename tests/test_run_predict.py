"""Block-by-block prediction (napari_gan.core.run.blocks) and ``napari-gan predict``:
dask and zarr inputs give the same result as the in-memory predict, objects cut by
block borders are merged, on dask's threads and on a distributed LocalCluster."""

from __future__ import annotations

import warnings

import dask.array as da
import numpy as np
import pytest
import torch

import napari_gan as ng
from napari_gan.__main__ import main
from napari_gan.core import synthetic
from napari_gan.core.run.blocks import predict_blocks

zarr = pytest.importorskip("zarr")

SIZE, CHUNK = 192, 64  # 3 x 3 blocks


@pytest.fixture(scope="module")
def nuclei():
    return synthetic.touching_nuclei((SIZE, SIZE), seed=1)


@pytest.fixture(scope="module")
def denoiser(nuclei):
    return ng.Denoiser(features=8, batch_size=4).fit(nuclei[0], max_steps=5, seed=0)


@pytest.fixture(scope="module")
def segmenter(nuclei):
    image, labels = nuclei
    return ng.Segmenter(features=8, depth=2, batch_size=4).fit(image, labels, max_steps=5, seed=0)


def _zarr_image(path, image, chunks=64):
    arr = zarr.create_array(store=str(path), shape=image.shape, chunks=(chunks,) * image.ndim, dtype=image.dtype)
    arr[...] = image
    return str(path)


def _crossing(labels, chunks) -> int:
    """Objects of ``labels`` cut by the borders between blocks of sizes ``chunks``."""
    ids = set()
    for axis, sizes in enumerate(chunks):
        for b in np.cumsum(sizes)[:-1]:
            ids |= set(np.unique(np.take(labels, [b - 1, b], axis=axis)).tolist())
    return len(ids - {0})


def _assert_same_objects(ref, out):
    assert out.dtype == np.int32 and out.shape == ref.shape
    match = ng.metrics.match_instances(ref, out, thresholds=(0.9,))[0.9]
    assert match.n_true == match.n_pred > 0
    assert match.f1 == 1.0


def test_denoiser_dask_in_lazy_out_equals_in_memory(denoiser, nuclei):
    image = nuclei[0]
    ref = denoiser.predict(image)
    assert isinstance(ref, np.ndarray)  # numpy in, numpy out, unchanged
    lazy = denoiser.predict(da.from_array(image, chunks=CHUNK))
    assert isinstance(lazy, da.Array) and lazy.numblocks == (3, 3)
    out = lazy.compute()
    assert out.dtype == np.float32 and out.shape == image.shape
    # the halo covers the receptive field: the same numbers up to float rounding
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5 * float(np.ptp(ref)))


def test_denoiser_zarr_to_zarr(denoiser, nuclei, tmp_path):
    image = nuclei[0]
    src = da.from_zarr(_zarr_image(tmp_path / "in.zarr", image))
    done = []
    out = predict_blocks(denoiser, src, chunks=CHUNK, store=tmp_path / "out.zarr", progress=lambda i, n: done.append(n))
    assert isinstance(out, zarr.Array) and out.chunks == (CHUNK, CHUNK)
    assert len(done) == 9 and done[-1] == 9
    np.testing.assert_allclose(out[...], denoiser.predict(image), rtol=0, atol=1e-5 * float(np.ptp(image)))
    with pytest.raises(ng.InputError, match="already exists"):
        predict_blocks(denoiser, src, chunks=CHUNK, store=tmp_path / "out.zarr")


def test_instance_labels_merged_across_blocks(segmenter, nuclei, tmp_path):
    image = nuclei[0]
    ref = segmenter.predict(image)
    lazy = segmenter.predict(da.from_array(image, chunks=CHUNK), output="labels")
    assert isinstance(lazy, da.Array) and lazy.numblocks == (3, 3)
    assert _crossing(ref, lazy.chunks) >= 10  # the check means something only if objects straddle borders
    _assert_same_objects(ref, lazy.compute())
    # written in two passes (blocks' own labels, then relabelled in place)
    src = da.from_zarr(_zarr_image(tmp_path / "in.zarr", image))
    out = predict_blocks(segmenter, src, chunks=CHUNK, store=str(tmp_path / "labels.zarr"))
    labels = out[...]
    _assert_same_objects(ref, labels)
    assert set(np.unique(labels)) == set(range(labels.max() + 1))  # ids 1..K with none missing


def test_classes_and_probabilities_blockwise(segmenter, nuclei):
    image = nuclei[0]
    src = da.from_array(image, chunks=CHUNK)
    classes = segmenter.predict(src, output="classes").compute()
    np.testing.assert_array_equal(classes, segmenter.predict(image, output="classes"))
    probs = segmenter.predict(src, output="probabilities")
    ref = segmenter.predict(image, output="probabilities")
    assert probs.shape == ref.shape
    np.testing.assert_allclose(probs.compute(), ref, atol=1e-5)


def test_distributed_local_cluster(denoiser, segmenter, nuclei, tmp_path):
    distributed = pytest.importorskip("distributed")
    image = nuclei[0]
    src = da.from_zarr(_zarr_image(tmp_path / "in.zarr", image))
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        den = predict_blocks(denoiser, src, chunks=CHUNK, store=tmp_path / "den.zarr", scheduler=client)
        lab = predict_blocks(segmenter, src, chunks=CHUNK, store=tmp_path / "lab.zarr", scheduler=client)
    np.testing.assert_allclose(den[...], denoiser.predict(image), rtol=0, atol=1e-5 * float(np.ptp(image)))
    _assert_same_objects(segmenter.predict(image), lab[...])


def test_superres_blocks_scale_the_output():
    image = synthetic.touching_nuclei((96, 96), seed=2)[0]
    sr = ng.Translator(task="superres", scale=2, features=8, depth=2, batch_size=2).fit(image, max_steps=3, seed=0)
    ref = sr.predict(image)
    lazy = sr.predict(da.from_array(image, chunks=48))
    assert lazy.shape == ref.shape == (192, 192)
    np.testing.assert_allclose(lazy.compute(), ref, rtol=0, atol=1e-4 * float(np.ptp(ref)))


def test_unpaired_blocks_translate_with_the_averaged_generator():
    """Block prediction of an unpaired model equals predict: both use the moving
    average of the generator's weights (here moved far from the generator's own)."""
    image = synthetic.touching_nuclei((96, 96), seed=2)[0]
    m = ng.Translator(task="unpaired", features=8, depth=2, patch_size=32, batch_size=2, d_features=8)
    m.fit(image, (image.max() - image) ** 1.5, max_steps=3, seed=0)
    with torch.no_grad():
        for p in m.net["g"].parameters():
            p.add_(0.05 * torch.randn_like(p))
    ref = m.predict(image)
    lazy = m.predict(da.from_array(image, chunks=48))
    assert lazy.shape == ref.shape == image.shape
    np.testing.assert_allclose(lazy.compute(), ref, rtol=0, atol=1e-4 * float(np.ptp(ref)))


def test_cli_round_trip(denoiser, nuclei, tmp_path):
    image = nuclei[0]
    model = str(denoiser.save(tmp_path / "den.ngan"))
    ref = denoiser.predict(image)
    sources = {"zarr": _zarr_image(tmp_path / "in.zarr", image), "npy": str(tmp_path / "in.npy")}
    np.save(sources["npy"], image)
    tifffile = pytest.importorskip("tifffile")
    sources["tif"] = str(tmp_path / "in.tif")
    tifffile.imwrite(sources["tif"], image, tile=(64, 64))
    for kind, path in sources.items():
        out = str(tmp_path / f"out-{kind}.zarr")
        assert main(["predict", model, path, out, "--chunks", str(CHUNK), "--scheduler", "synchronous"]) == 0
        np.testing.assert_allclose(zarr.open_array(out, mode="r")[...], ref, rtol=0, atol=1e-5 * float(np.ptp(ref)))


def test_cli_refuses_bad_input(denoiser, nuclei, tmp_path, capsys):
    image = nuclei[0]
    model = str(denoiser.save(tmp_path / "den.ngan"))
    src = _zarr_image(tmp_path / "in.zarr", image)
    out = str(tmp_path / "out.zarr")

    def error(*args):
        assert main(["predict", *args]) == 2
        return capsys.readouterr().err

    assert "does not exist" in error(model, str(tmp_path / "missing.zarr"), out)
    assert "3 letters" in error(model, src, out, "--axes", "ZYX")
    assert "must contain Y and X" in error(model, src, out, "--axes", "YC")
    np.save(tmp_path / "volume.npy", np.zeros((4, 32, 32), np.float32))
    assert "is 2D but axes 'ZYX' describe 3D" in error(model, str(tmp_path / "volume.npy"), out, "--axes", "ZYX")
    (tmp_path / "bad.ngan").write_bytes(b"not a checkpoint")
    assert "bad.ngan" in error(str(tmp_path / "bad.ngan"), src, out)
    np.save(tmp_path / "flags.npy", image > 0.5)
    assert "dtype bool" in error(model, str(tmp_path / "flags.npy"), out)
    group = zarr.open_group(str(tmp_path / "group.zarr"), mode="w")
    for name in ("a", "b"):
        group.create_array(name, shape=(8, 8), dtype="f4")
    assert "--component" in error(model, str(tmp_path / "group.zarr"), out)
    assert main(["predict", model, src, out]) == 0
    before = zarr.open_array(out, mode="r")[...]
    assert "already exists" in error(model, src, out)
    assert np.array_equal(zarr.open_array(out, mode="r")[...], before)  # untouched
    assert main(["predict", model, src, out, "--overwrite", "--chunks", "64"]) == 0


def test_workers_with_dasks_malloc_setting_are_named(denoiser, nuclei, tmp_path, monkeypatch):
    # dask's nannies set MALLOC_TRIM_THRESHOLD_ in every worker, which slows torch;
    # these in-process workers share this process's environment
    distributed = pytest.importorskip("distributed")
    image = nuclei[0]
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
        with pytest.warns(RuntimeWarning, match="1 of 1 dask workers run with MALLOC_TRIM_THRESHOLD_"):
            out = predict_blocks(denoiser, image, chunks=CHUNK, store=tmp_path / "a.zarr", scheduler=client)
        np.testing.assert_allclose(out[...], denoiser.predict(image), rtol=0, atol=1e-5 * float(np.ptp(image)))
        monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            predict_blocks(denoiser, image, chunks=CHUNK, store=tmp_path / "b.zarr", scheduler=client)


def test_a_model_kind_without_block_prediction_is_named(nuclei):
    image = nuclei[0]
    points = np.array([[40.0, 40.0], [100.0, 120.0], [150.0, 60.0]])
    detector = ng.SpotDetector(features=8, batch_size=2).fit(image, points, max_steps=1, seed=0)
    with pytest.raises(ng.InputError, match="block prediction covers .*Denoiser, Segmenter, Translator.*SpotDetector"):
        predict_blocks(detector, da.from_array(image, chunks=CHUNK))
