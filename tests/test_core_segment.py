"""Segmenter and SpotDetector through the public API: shapes, dtypes, modes, learning
beyond chance on small synthetic images, save/load, and errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest

import napari_gan as ng
from napari_gan.core import metrics
from napari_gan.core.synthetic import spots, touching_nuclei
from napari_gan.core.tasks._instances import distance_watershed, split_instances
from napari_gan.core.tasks.segment import guess_mode

SMALL = dict(patch_size=32, batch_size=4, features=8, depth=2)


@pytest.fixture(scope="module")
def nuclei():
    img, lab = touching_nuclei((96, 96), seed=3)
    return img, lab


@pytest.fixture(scope="module")
def trained_instance(nuclei):
    img, lab = nuclei
    return ng.Segmenter(mode="instance", **SMALL).fit(img, lab, max_steps=60, seed=0)


def scribbles(lab: np.ndarray) -> np.ndarray:
    """1-pixel strokes: a horizontal line through each object's centre (2) and every
    8th background row segment (1)."""
    out = np.zeros(lab.shape, np.int32)
    for i in range(1, lab.max() + 1):
        ys, xs = np.nonzero(lab == i)
        y = int(np.median(ys))
        row = xs[ys == y]
        out[y, row.min() + 1 : row.max()] = 2
    bg = lab == 0
    out[::8][bg[::8]] = 1
    return out


def test_instance_segmentation_shapes_and_learning(nuclei, trained_instance):
    img, lab = nuclei
    out = trained_instance.predict(img)
    assert out.shape == img.shape and out.dtype == np.int32
    assert trained_instance.mode == "instance"
    # 60 steps of a tiny net: clearly better than nothing and than labelling everything
    assert metrics.iou(lab, out) > 0.6
    assert out.max() > 3
    probs = trained_instance.predict(img, output="probabilities")
    assert probs.shape == (3,) + img.shape and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-4)
    classes = trained_instance.predict(img, output="classes")
    assert set(np.unique(classes)) <= {1, 2}


def test_semantic_from_scribbles(nuclei):
    img, lab = nuclei
    scr = scribbles(lab)
    assert 0 < np.count_nonzero(scr) < 0.2 * scr.size
    seg = ng.Segmenter(**SMALL)
    seg.fit(img, scr, max_steps=150, seed=0)
    assert seg.mode == "semantic"  # auto: strokes of one class in several places
    classes = seg.predict(img)
    assert classes.dtype == np.int32 and set(np.unique(classes)) <= {1, 2}
    # learned from < 20% of pixels: the unannotated foreground is found too
    assert metrics.iou(lab, classes == 2) > 0.6
    inst = seg.predict(img, output="instances")
    assert inst.max() > 3


def test_save_load_round_trip(tmp_path, nuclei, trained_instance):
    img, _ = nuclei
    path = trained_instance.save(tmp_path / "seg.ngan")
    loaded = ng.load_model(path)
    assert isinstance(loaded, ng.Segmenter) and loaded.mode == "instance"
    assert loaded.min_size == trained_instance.min_size
    np.testing.assert_array_equal(loaded.predict(img), trained_instance.predict(img))
    with pytest.raises(ng.CheckpointError):
        ng.Denoiser.load(path)


def test_stack_frames_and_channels(nuclei):
    img, lab = nuclei
    stack = np.stack([img, img[::-1]])
    labels = np.stack([lab, lab[::-1]])
    seg = ng.Segmenter(mode="instance", **SMALL).fit(stack, labels, axes="TYX", max_steps=3)
    out = seg.predict(stack)
    assert out.shape == stack.shape
    # ids of different frames never collide
    a, b = set(np.unique(out[0])) - {0}, set(np.unique(out[1])) - {0}
    assert not (a & b)
    rgb = np.stack([img, img * 0.5, np.zeros_like(img)], -1)
    seg2 = ng.Segmenter(mode="instance", **SMALL).fit(rgb, lab, max_steps=2)
    assert seg2.net.config.in_channels == 3
    assert seg2.predict(rgb).shape == lab.shape


def test_3d_volume():
    vol, lab = touching_nuclei((16, 32, 32), radius=(4, 6), seed=0)
    seg = ng.Segmenter(mode="instance", **SMALL).fit(vol, lab, axes="ZYX", max_steps=2)
    assert seg.net.config.dims == 3
    out = seg.predict(vol)
    assert out.shape == vol.shape and out.dtype == np.int32


def test_region_restricts_training(nuclei):
    img, lab = nuclei
    partial = np.zeros_like(lab)
    partial[:48] = lab[:48]
    seg = ng.Segmenter(**SMALL)
    seg.fit(img, partial, region=(slice(0, 48), slice(None)), max_steps=2)
    assert seg.mode == "instance"  # a region means object masks


def test_guess_mode():
    masks = np.zeros((1, 1, 20, 20), np.int64)
    masks[0, 0, 2:5, 2:5], masks[0, 0, 8:11, 8:11], masks[0, 0, 14:17, 2:5] = 1, 2, 3
    assert guess_mode(masks, None) == "instance"
    strokes = np.zeros((1, 1, 20, 20), np.int64)
    strokes[0, 0, 2, 2:10] = strokes[0, 0, 12, 2:10] = 1
    strokes[0, 0, 6, 2:10] = 2
    strokes[0, 0, 16, 2:10] = 3
    assert guess_mode(strokes, None) == "semantic"


def test_post_processing_separates_touching_objects():
    # two touching discs: the classical split and ours (from perfect maps) find both
    yy, xx = np.mgrid[:40, :60]
    a = (yy - 20) ** 2 + (xx - 20) ** 2 < 100
    b = (yy - 20) ** 2 + (xx - 38) ** 2 < 100
    assert distance_watershed(a | b).max() == 2
    lab = np.zeros((40, 60), np.int32)
    lab[a], lab[b & ~a] = 1, 2
    from napari_gan.core.tasks._instances import instance_targets

    cls, dist = instance_targets(lab[None, None], None)
    out = split_instances((cls[0, 0] == 1) * 1.0, (cls[0, 0] == 2) * 1.0, dist[0, 0], min_distance=4)
    assert metrics.segmentation_scores(lab, out)["f1@0.5"] == 1.0
    out = split_instances((cls[0, 0] == 1) * 1.0, (cls[0, 0] == 2) * 1.0, dist[0, 0], h=2.0)
    assert metrics.segmentation_scores(lab, out)["f1@0.5"] == 1.0


def test_interior_shape_seeds_hold_where_the_distance_map_is_noise():
    """A network early in training (or on a real image unlike its training half)
    predicts boundaries well but a flat, noisy distance map: seeds from the interior's
    shape still find one object per nucleus, where peaks of that map cut nuclei up."""
    img, lab = touching_nuclei((128, 128), seed=3)
    from napari_gan.core.tasks._instances import instance_targets

    cls, _ = instance_targets(lab[None, None].astype(np.int32), None)
    interior, boundary = (cls[0, 0] == 1) * 1.0, (cls[0, 0] == 2) * 1.0
    noisy = np.where(lab > 0, 0.55, 0.0) + np.random.default_rng(0).normal(0, 0.05, lab.shape)
    by_shape = split_instances(interior, boundary, noisy, min_size=10, h=2.0)
    by_peaks = split_instances(interior, boundary, noisy, min_size=10, min_distance=4)
    assert metrics.segmentation_scores(lab, by_shape)["f1@0.5"] >= 0.95
    assert metrics.segmentation_scores(lab, by_peaks)["f1@0.5"] < 0.6


def test_pieces_of_a_thin_object_are_joined_and_touching_discs_are_not():
    """A rod 3 px wide with three bulges: the interior's h-maxima seed one piece per
    bulge (what a network's bumpy maps of rods do); joining pieces whose pass is at
    least ``merge`` times their peaks makes it one object again, while two touching
    discs, which the predicted boundary separates, stay two."""
    from skimage.segmentation import find_boundaries

    lab = np.zeros((48, 80), np.int32)
    lab[19:22, 10:70] = 1
    for x0 in (15, 35, 55):
        lab[18:23, x0 : x0 + 4] = 1
    yy, xx = np.mgrid[:48, :80]
    lab[(yy - 36) ** 2 + (xx - 20) ** 2 < 64] = 2
    lab[((yy - 36) ** 2 + (xx - 35) ** 2 < 64) & (lab == 0)] = 3
    edge = find_boundaries(lab, mode="inner") & (lab > 0)
    interior, boundary = ((lab > 0) & ~edge) * 1.0, edge * 1.0
    split = split_instances(interior, boundary, np.zeros(lab.shape), h=0.5)
    assert len(np.unique(split[lab == 1])) == 3  # the rod in three pieces
    joined = split_instances(interior, boundary, np.zeros(lab.shape), h=0.5, merge=0.4)
    assert metrics.segmentation_scores(lab, joined)["f1@0.5"] == 1.0
    assert joined.max() == 3 and joined.dtype == np.int32
    # a pass of 1 px against peaks of 2 px: not joined at a ratio above one half
    strict = split_instances(interior, boundary, np.zeros(lab.shape), h=0.5, merge=0.6)
    np.testing.assert_array_equal(strict, split)


def test_seeding_is_saved_and_older_models_keep_theirs(tmp_path, nuclei, trained_instance):
    """The seeding chosen after training travels with the model; a file saved before
    the interior-shape seeds existed (no seed_h_factor) predicts as it did then."""
    import json

    from safetensors.torch import load_file, save_file

    from napari_gan.core.io import FORMAT, read_header

    img, _ = nuclei
    path = trained_instance.save(tmp_path / "seg.ngan")
    loaded = ng.load_model(path)
    assert (loaded.seed_h_factor, loaded.peak_factor) == (trained_instance.seed_h_factor, trained_instance.peak_factor)
    assert loaded.merge_ratio == trained_instance.merge_ratio
    header = read_header(path)
    header.pop("seed_h_factor")
    header.pop("merge_ratio")
    old = tmp_path / "old.ngan"
    save_file(load_file(str(path)), str(old), metadata={FORMAT: json.dumps(header)})
    older = ng.load_model(old)
    assert older.seed_h_factor == 0.0 and older._seed_h() is None and older.merge_ratio == 0.0
    maps_model = ng.load_model(path)
    maps_model.seed_h_factor, maps_model.merge_ratio = 0.0, 0.0
    np.testing.assert_array_equal(older.predict(img), maps_model.predict(img))


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.zeros((96, 96), np.int32), "no annotation"),
        (np.ones((96, 96), np.int32), "only one class"),
        (np.zeros((50, 50), np.int32), "shape"),
        (np.zeros((96, 96), np.float32), "integers"),
        (-np.ones((96, 96), np.int32), "negative"),
    ],
)
def test_segmenter_bad_labels(nuclei, labels, message):
    with pytest.raises(ng.InputError, match=message):
        ng.Segmenter(mode="semantic", **SMALL).fit_iter(nuclei[0], labels)


def test_segmenter_bad_input(nuclei, trained_instance):
    img, lab = nuclei
    with pytest.raises(ng.InputError, match="no objects"):
        ng.Segmenter(mode="instance").fit_iter(img, np.zeros_like(lab))
    with pytest.raises(ng.InputError, match="NaN"):
        bad = img.copy()
        bad[0, 0] = np.nan
        ng.Segmenter().fit_iter(bad, lab)
    with pytest.raises(ng.InputError, match="region"):
        ng.Segmenter().fit_iter(img, lab, region=np.zeros(lab.shape, bool))
    with pytest.raises(ng.InputError, match="channel"):
        trained_instance.predict(np.zeros((96, 96, 3), np.float32))
    with pytest.raises(ng.InputError, match="output"):
        trained_instance.predict(img, output="nope")
    with pytest.raises(RuntimeError, match="not been trained"):
        ng.Segmenter().predict(img)
    seg = ng.Segmenter(mode="semantic", **SMALL)
    seg.fit(img, scribbles(lab), max_steps=1)
    with pytest.raises(ng.InputError, match="Create a new Segmenter"):
        seg.fit_iter(np.stack([img] * 3, -1), scribbles(lab))


# --------------------------------------------------------------------------- spots


@pytest.fixture(scope="module")
def spot_data():
    img, pts = spots((96, 96), n=25, snr=8, seed=1)
    return img, pts


def test_spot_detector_learns_and_round_trips(tmp_path, spot_data):
    img, pts = spot_data
    det = ng.SpotDetector(patch_size=32, batch_size=8, features=8).fit(img, pts, max_steps=120, seed=0)
    assert det.threshold is not None and 0 < det.threshold < 1
    found = det.predict(img)
    assert found.ndim == 2 and found.shape[1] == 2 and found.dtype == np.float64
    assert metrics.match_points(pts, found, radius=3).f1 > 0.7
    heat = det.predict(img, output="heatmap")
    assert heat.shape == img.shape and heat.dtype == np.float32
    loaded = ng.load_model(det.save(tmp_path / "det.ngan"))
    assert isinstance(loaded, ng.SpotDetector) and loaded.threshold == det.threshold
    np.testing.assert_allclose(loaded.predict(img), found)


def test_spot_detector_stack_and_3d(spot_data):
    img, pts = spot_data
    stack = np.stack([img, img])
    pts_t = np.concatenate([np.column_stack([np.zeros(len(pts)), pts]), np.column_stack([np.ones(len(pts)), pts])])
    det = ng.SpotDetector(patch_size=32, batch_size=4, features=8).fit(stack, pts_t, axes="TYX", max_steps=3)
    found = det.predict(stack)
    assert found.shape[1] == 3
    assert set(np.unique(found[:, 0])) <= {0.0, 1.0}
    vol, vpts = spots((16, 32, 32), n=5, snr=8, seed=0)
    det3 = ng.SpotDetector(patch_size=16, batch_size=2, features=8).fit(vol, vpts, axes="ZYX", max_steps=2)
    assert det3.predict(vol).shape[1] == 3


def test_spot_detector_bad_input(spot_data):
    img, pts = spot_data
    with pytest.raises(ng.InputError, match="outside the image"):
        ng.SpotDetector().fit_iter(img, np.vstack([pts, [500.0, 3.0]]))
    with pytest.raises(ng.InputError, match="no points"):
        ng.SpotDetector().fit_iter(img, np.zeros((0, 2)))
    with pytest.raises(ng.InputError, match="shape"):
        ng.SpotDetector().fit_iter(img, pts[:, :1])
    with pytest.raises(ng.InputError, match="NaN"):
        ng.SpotDetector().fit_iter(img, np.vstack([pts, [np.nan, 3.0]]))
