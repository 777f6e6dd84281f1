"""ObjectClassifier / ImageClassifier (core, no Qt): learning, tables, class labels,
evaluation, bad input, save/load; and the classification metrics."""

from __future__ import annotations

import numpy as np
import pytest

import napari_gan as ng
from napari_gan.core.metrics import ClassificationReport, classification_report
from napari_gan.core.synthetic import two_kinds
from napari_gan.core.tasks.classify import object_crops

KINDS = np.array(["uniform", "rim"], dtype=object)
SMALL = dict(crop=32, input_size=16, features=8, batch_size=16)


@pytest.fixture(scope="module")
def scene():
    image, labels, kinds = two_kinds((192, 192), seed=3, rim=(0.5, 0.8))
    return image, labels, kinds


def named(kinds, ids):
    return {int(i): KINDS[kinds[i - 1]] for i in ids}


def pick(kinds, per_class, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(kinds == c), per_class, replace=False) for c in (0, 1)]) + 1


@pytest.fixture(scope="module")
def trained(scene):
    image, labels, kinds = scene
    train = pick(kinds, 10)
    clf = ng.ObjectClassifier(**SMALL, validation_fraction=0.2).fit(
        image, labels, named(kinds, train), max_steps=80, seed=0, device="cpu"
    )
    return clf, train


# --------------------------------------------------------------------------- metrics


def test_classification_report_values():
    rep = classification_report(["a", "a", "b", "b", "b"], ["a", "b", "b", "b", "a"], classes=["a", "b", "c"])
    assert isinstance(rep, ClassificationReport)
    assert rep.accuracy == pytest.approx(3 / 5)
    np.testing.assert_array_equal(rep.confusion, [[1, 1, 0], [1, 2, 0], [0, 0, 0]])
    assert rep.precision["b"] == pytest.approx(2 / 3) and rep.recall["a"] == pytest.approx(0.5)
    assert rep.f1["c"] == 0.0 and rep.support == {"a": 2, "b": 3, "c": 0}
    assert "confusion" in rep.as_text() and "accuracy 0.600" in rep.as_text()
    again = ClassificationReport.from_dict(rep.to_dict())
    assert again.accuracy == rep.accuracy and (again.confusion == rep.confusion).all()
    with pytest.raises(ng.InputError, match="not among classes"):
        classification_report(["a"], ["z"], classes=["a"])
    with pytest.raises(ng.InputError, match="items"):
        classification_report(["a", "b"], ["a"])


# --------------------------------------------------------------------------- objects


def test_object_crops_centre_and_mask(scene):
    image, labels, _ = scene
    crops = object_crops(image[None], labels, [1, 2], crop=32, size=16)
    assert crops.shape == (2, 2, 16, 16) and crops.dtype == np.float32
    # the mask channel marks the object at the crop's centre, and only it
    assert crops[0, 1, 8, 8] > 0.5 and crops[0, 1].min() == 0.0


def test_object_classifier_learns_and_beats_chance(scene, trained):
    image, labels, kinds = scene
    clf, train = trained
    assert clf.classes == ("rim", "uniform")
    table = clf.predict(image, labels)
    n = labels.max()
    assert set(table) == {"label", "class", "probability", "probability_rim", "probability_uniform"}
    assert len(table["label"]) == n and table["label"].dtype == np.int64
    np.testing.assert_allclose(table["probability_rim"] + table["probability_uniform"], 1, atol=1e-5)
    assert (table["probability"] >= 0.5).all()
    rest = np.setdiff1d(np.arange(1, n + 1), train)
    truth = KINDS[kinds[rest - 1]]
    pred = dict(zip(table["label"].tolist(), table["class"]))
    acc = np.mean([pred[i] == t for i, t in zip(rest, truth)])
    assert acc >= 0.8, acc  # chance is ~0.5
    rep = clf.evaluate(image, labels, named(kinds, rest))
    assert rep.accuracy == pytest.approx(acc)
    # the held-out part of the 20 annotated objects was evaluated after fit
    assert clf.evaluation is not None and clf.evaluation.n == 4
    colored = clf.predict(image, labels, output="labels")
    assert colored.shape == labels.shape and colored.dtype == np.int32
    assert set(np.unique(colored)) <= {0, 1, 2} and ((colored > 0) == (labels > 0)).all()
    first = np.argwhere(labels == 1)[0]
    assert colored[tuple(first)] == clf.classes.index(pred[1]) + 1


def test_object_classifier_save_load_and_deterministic(scene, trained, tmp_path):
    image, labels, kinds = scene
    clf, train = trained
    path = clf.save(tmp_path / "clf.ngan")
    back = ng.load_model(path)
    assert isinstance(back, ng.ObjectClassifier) and back.classes == clf.classes
    assert back.evaluation is not None and back.evaluation.accuracy == clf.evaluation.accuracy
    a, b = clf.predict(image, labels), back.predict(image, labels)
    np.testing.assert_allclose(a["probability"], b["probability"], atol=1e-5)
    with pytest.raises(ng.CheckpointError):
        ng.ImageClassifier.load(path)
    again = ng.ObjectClassifier(**SMALL, validation_fraction=0.2).fit(
        image, labels, named(kinds, train), max_steps=5, seed=1
    )
    twice = ng.ObjectClassifier(**SMALL, validation_fraction=0.2).fit(
        image, labels, named(kinds, train), max_steps=5, seed=1
    )
    np.testing.assert_allclose(again.predict(image, labels)["probability"], twice.predict(image, labels)["probability"])


def test_object_classifier_bad_input(scene):
    image, labels, kinds = scene
    clf = ng.ObjectClassifier(**SMALL)
    ok = named(kinds, pick(kinds, 2))
    with pytest.raises(ng.InputError, match="only one class"):
        clf.fit_iter(image, labels, {1: "a", 2: "a", 3: "a"}, max_steps=1)
    with pytest.raises(ng.InputError, match="single annotated object"):
        clf.fit_iter(image, labels, {1: "a", 2: "a", 3: "b"}, max_steps=1)
    with pytest.raises(ng.InputError, match=r"\[9999\] are not in the labels"):
        clf.fit_iter(image, labels, {**ok, 9999: "rim"}, max_steps=1)
    with pytest.raises(ng.InputError, match="shape"):
        clf.fit_iter(image, labels[:-1], ok, max_steps=1)
    with pytest.raises(ng.InputError, match="floating-point"):
        clf.fit_iter(image, labels.astype(np.float32), ok, max_steps=1)
    with pytest.raises(ng.InputError, match="dict"):
        clf.fit_iter(image, labels, [1, 2], max_steps=1)
    with pytest.raises(ng.InputError, match="frame by frame"):
        clf.fit_iter(np.stack([image, image]), np.stack([labels, labels]), ok, max_steps=1)
    with pytest.raises(RuntimeError, match="not been trained"):
        clf.predict(image, labels)


# --------------------------------------------------------------------------- images


def test_image_classifier_stack(tmp_path):
    """Frames with a bright disc vs a bright ring (random position and size): learnt
    from 12 named frames, the other 12 are classified."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:24, :24]
    frames, names = [], []
    for i in range(24):
        cy, cx, r = rng.uniform(9, 15), rng.uniform(9, 15), rng.uniform(4, 7)
        d = np.hypot(yy - cy, xx - cx)
        kind = i % 2
        shape = (d < r) if kind == 0 else (np.abs(d - r) < 1.5)
        frames.append(shape + rng.normal(0, 0.3, d.shape))
        names.append(("disc", "ring")[kind])
    stack = np.asarray(frames, np.float32)
    given = [n if i < 12 else None for i, n in enumerate(names)]
    ic = ng.ImageClassifier(input_size=16, features=8, batch_size=16).fit(stack, given, max_steps=50, seed=0)
    pred = ic.predict(stack)
    assert pred.shape == (24,) and set(pred) <= {"disc", "ring"}
    acc = np.mean(pred[12:] == np.array(names[12:]))
    assert acc >= 0.8, acc
    assert ic.predict_proba(stack).shape == (24, 2)
    assert ic.evaluate(stack[12:], names[12:]).accuracy == pytest.approx(acc)
    back = ng.load_model(ic.save(tmp_path / "ic.ngan"))
    assert list(back.predict(stack)) == list(pred)
    with pytest.raises(ng.InputError, match="one per image"):
        ng.ImageClassifier().fit_iter(stack, names[:3], max_steps=1)
    with pytest.raises(ng.InputError, match="only one class"):
        ng.ImageClassifier().fit_iter(stack, ["disc"] * 24, max_steps=1)


# --------------------------------------------------------------------------- data


def test_two_kinds_generator_and_sample():
    image, labels, kinds = two_kinds((96, 96), seed=0, difference="shape")
    assert image.dtype == np.float32 and labels.dtype == np.int32 and image.shape == labels.shape == (96, 96)
    assert labels.max() == len(kinds) and set(np.unique(kinds)) == {0, 1}
    assert np.array_equal(two_kinds((96, 96), seed=0, difference="shape")[0], image)  # deterministic
    with pytest.raises(ng.InputError, match="difference"):
        two_kinds((96, 96), difference="colour")

    from napari_gan._sample_data import objects_two_kinds

    layers = objects_two_kinds()
    assert [kind for _, _, kind in layers] == ["image", "labels", "points", "points"]
    lab = layers[1][0]
    _, _, kinds = two_kinds((256, 256), seed=7)
    for expected, (points, meta, _) in enumerate(layers[2:]):
        assert meta["name"] == f"class: {KINDS[expected]}" and len(points) == 6
        ids = lab[tuple(np.round(points).astype(int).T)]
        assert (ids > 0).all() and (kinds[ids - 1] == expected).all()  # every point on an object of its kind
