"""ObjectClassifier / ImageClassifier (core, no Qt): learning, tables, class labels,
evaluation, bad input, save/load; and the classification metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import napari_gan as ng
from napari_gan.core.io import FORMAT, read_header
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
    assert (back.input_size, back.augment, back.orientation) == (clf.input_size, clf.augment, clf.orientation)
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


def test_validation_accuracy_is_plotted_during_training_and_leaves_training_alone(scene, monkeypatch):
    """With a validation fraction, the held-out accuracy is measured during training
    (the widget plots it beside the loss), the last one equals the final evaluation,
    and measuring it often or only at the end trains the same weights."""
    from napari_gan.core import training

    image, labels, kinds = scene
    classes = named(kinds, pick(kinds, 10))

    def run(every):
        monkeypatch.setattr(training, "VALIDATE_SECONDS", every)
        monkeypatch.setattr(training, "VALIDATE_SHARE", 1.0)
        clf = ng.ObjectClassifier(**SMALL, validation_fraction=0.3, augment="flips")
        records = list(clf.fit_iter(image, labels, classes, max_steps=12, seed=0, device="cpu"))
        return clf, records

    often, records = run(0.0)  # after every step
    measured = [r.metrics["validation accuracy"] for r in records if r.metrics]
    assert len(measured) == 12 and all(0.0 <= v <= 1.0 for v in measured)
    assert measured[-1] == pytest.approx(often.evaluation.accuracy)
    assert sum("validation accuracy" in h for h in often.history) == 12
    once, records = run(1e9)  # only after the last step
    assert [r.step for r in records if r.metrics] == [12]
    for key, value in once.net.state_dict().items():
        torch.testing.assert_close(often.net.state_dict()[key], value)
    plain = ng.ObjectClassifier(**SMALL, augment="flips").fit(image, labels, classes, max_steps=3, seed=0)
    assert not any(k.startswith("validation") for h in plain.history for k in h)


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


# --------------------------------------------------------------------------- defaults chosen from the data


def arrows(n: int, *, size: int = 24, seed: int = 0):
    """Frames with one arrow each, pointing left or right (the class), at a random
    place, length and thickness: mirrored, a left arrow is a right arrow."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    frames, names = [], []
    for i in range(n):
        right = i % 2
        length, half = rng.uniform(0.45, 0.7) * size, rng.uniform(0.8, 1.3)
        cy, cx = rng.uniform(0.4, 0.6, 2) * size
        shaft = (np.abs(yy - cy) < half) & (np.abs(xx - cx) < length / 2)
        head = 0.35 * length
        tip = cx + length / 2 if right else cx - length / 2
        along = (tip - xx) if right else (xx - tip)  # distance behind the tip
        barb = (along >= 0) & (along < head) & (np.abs(yy - cy) < 0.8 * along)
        frames.append((shaft | barb) + rng.normal(0, 0.2, (size, size)))
        names.append(("left", "right")[right])
    return np.asarray(frames, np.float32), names


def discs_and_rings(n: int, *, size: int = 24, seed: int = 0):
    """A bright disc or a bright ring (the class) at a random place: no orientation."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    frames, names = [], []
    for i in range(n):
        (cy, cx), r = rng.uniform(0.4, 0.6, 2) * size, rng.uniform(0.18, 0.28) * size
        d = np.hypot(yy - cy, xx - cx)
        frames.append(((d < r) if i % 2 == 0 else (np.abs(d - r) < 1.5)) + rng.normal(0, 0.3, d.shape))
        names.append(("disc", "ring")[i % 2])
    return np.asarray(frames, np.float32), names


TINY = dict(features=8, batch_size=8)


@pytest.mark.parametrize(("shape", "expected"), [((12, 12), 12), ((10, 10), 8), ((8, 8), 8), ((30, 20), 28)])
def test_default_input_size_does_not_enlarge_small_images(shape, expected):
    rng = np.random.default_rng(0)
    stack = rng.normal(size=(6, *shape)).astype(np.float32)
    ic = ng.ImageClassifier(**TINY).fit(stack, ["a", "b"] * 3, max_steps=2, seed=0)
    assert ic.config.input_size is None  # the option stays as given; the choice is the model's
    assert ic.input_size == expected <= max(shape)
    assert ic.predict_proba(stack).shape == (6, 2)
    # three 2x poolings would leave an 8 px input 1 x 1: smaller inputs get two
    assert ic.net.config.stages == (2 if expected < 16 else 3)


def test_default_input_size_caps_large_images_and_object_crops(scene):
    rng = np.random.default_rng(0)
    big = rng.normal(size=(4, 150, 120)).astype(np.float32)
    assert ng.ImageClassifier(**TINY).fit(big, ["a", "b"] * 2, max_steps=1).input_size == 64
    image, labels, kinds = scene
    classes = named(kinds, pick(kinds, 2))
    assert ng.ObjectClassifier(**TINY).fit(image, labels, classes, max_steps=1).input_size == 32  # crop 48
    assert ng.ObjectClassifier(crop=20, **TINY).fit(image, labels, classes, max_steps=1).input_size == 20


def test_auto_augment_leaves_out_flips_where_orientation_is_the_class():
    stack, names = arrows(24)
    ic = ng.ImageClassifier(**TINY).fit(stack, names, max_steps=30, seed=0)
    assert ic.config.augment == "auto" and ic.augment == "shift"
    seen = ic.orientation["neighbours"]
    assert seen["transformed"] < seen["accuracy"] - 0.2  # mirrored arrows find arrows of the other class


def test_auto_augment_flips_where_orientation_does_not_matter():
    stack, names = discs_and_rings(24)
    ic = ng.ImageClassifier(**TINY).fit(stack, names, max_steps=2, seed=0)
    assert ic.augment == "flips" and "network" not in ic.orientation


def test_auto_augment_measures_the_network_where_neighbours_cannot_tell(scene):
    """Textured objects: nearest neighbours in pixel space do not separate the
    classes, so the first quarter of the steps trains without flips and the network
    is measured on held-out examples before the choice is made."""
    image, labels, kinds = scene
    clf = ng.ObjectClassifier(**SMALL)
    steps = iter(clf.fit_iter(image, labels, named(kinds, pick(kinds, 8)), max_steps=8, seed=0))
    next(steps)
    assert clf.augment is None and set(clf.orientation) == {"neighbours"}  # undecided while probing
    for _ in steps:
        pass
    assert clf.augment in ("flips", "shift") and set(clf.orientation) == {"neighbours", "network"}


def test_explicit_size_and_augmentation_are_used_exactly(monkeypatch, scene):
    import napari_gan.core.tasks.classify._base as classify

    modes = []
    real = classify.augment_batch

    def spy(x, rng, *, mode, **kw):
        modes.append((mode, x.shape[-1]))
        return real(x, rng, mode=mode, **kw)

    monkeypatch.setattr(classify, "augment_batch", spy)
    stack, names = arrows(12)
    ic = ng.ImageClassifier(input_size=40, augment="flips", **TINY).fit(stack, names, max_steps=3, seed=0)
    assert (ic.input_size, ic.augment, ic.orientation) == (40, "flips", None)
    assert modes == [("flips", 40)] * 3
    modes.clear()
    image, labels, kinds = scene
    clf = ng.ObjectClassifier(crop=32, input_size=24, augment="none", **TINY)
    clf.fit(image, labels, named(kinds, pick(kinds, 3)), max_steps=2, seed=0)
    assert (clf.input_size, clf.augment, clf.orientation) == (24, "none", None)
    assert modes == [("none", 24)] * 2
    with pytest.raises(ValueError, match="augment must be one of"):
        ng.ImageClassifier(augment="rotate")
    with pytest.raises(ValueError, match="at least 8"):
        ng.ImageClassifier(input_size=4)


def _rewrite(path, out, edit):
    """A copy of checkpoint ``path`` at ``out`` with its JSON header changed by ``edit``."""
    import json

    from safetensors.torch import load_file, save_file

    header = edit(json.loads(json.dumps(read_header(path))))
    save_file(load_file(str(path)), str(out), metadata={FORMAT: json.dumps(header)})
    return out


def test_save_load_keeps_the_choices_and_older_files_load(tmp_path):
    stack, names = arrows(24)
    ic = ng.ImageClassifier(**TINY).fit(stack, names, max_steps=2, seed=0)
    path = ic.save(tmp_path / "ic.ngan")
    back = ng.load_model(path)
    assert (back.input_size, back.augment, back.orientation) == (24, "shift", ic.orientation)
    assert back.config == ic.config and (back.config.input_size, back.config.augment) == (None, "auto")
    np.testing.assert_allclose(back.predict_proba(stack), ic.predict_proba(stack), atol=1e-5)
    back.fit(stack, names, max_steps=1, seed=0)  # trained further: the same choices
    assert (back.input_size, back.augment) == (24, "shift")

    def older(h):  # as saved before the options could be left to the data
        for key in ("input_size", "augment", "orientation"):
            h.pop(key, None)
        h["config"].update(input_size=24, augment="flips")
        return h

    old = ng.load_model(_rewrite(path, tmp_path / "old.ngan", older))
    assert (old.input_size, old.augment, old.orientation) == (24, "flips", None)
    np.testing.assert_allclose(old.predict_proba(stack), ic.predict_proba(stack), atol=1e-5)

    def edited(key, value):
        return lambda h: {**h, key: value}

    for edit, message in [
        (edited("input_size", 10**9), "input_size must be in"),
        (edited("input_size", "24"), "input_size must be an integer"),
        (edited("augment", "rotate"), "augment must be one of"),
        (edited("orientation", {"neighbours": {"accuracy": "high"}}), "accuracy must be a finite number"),
        (edited("orientation", {"elsewhere": {}}), "unknown key"),
        (lambda h: {**older(h), "config": {**h["config"], "input_size": None}}, "no input size"),
        (lambda h: {**h, "config": {**h["config"], "input_size": 2}}, "at least 8"),
        (lambda h: {**h, "config": {**h["config"], "augment": "sideways"}}, "augment must be one of"),
    ]:
        with pytest.raises(ng.CheckpointError, match=message):
            ng.load_model(_rewrite(path, tmp_path / "bad.ngan", edit))


def test_a_run_stopped_while_measuring_orientation_resumes_exactly(tmp_path):
    """Noise frames: nothing to tell the classes by, so the network measures
    orientation at steps 2 and 3 of 6 and decides at step 4 (half the budget); a
    run stopped before, at or after any of these ends as one that ran through."""
    rng = np.random.default_rng(0)
    stack, names = rng.normal(size=(8, 24, 24)).astype(np.float32), ["a", "b"] * 4
    whole = ng.ImageClassifier(**TINY).fit(stack, names, max_steps=6, seed=1)
    assert whole.orientation["network"]["progress"] == 0.5 and whole.augment == "flips"
    for stop in (1, 2, 3, 4):
        stopped = ng.ImageClassifier(**TINY)
        steps = stopped.fit_iter(stack, names, max_steps=6, seed=1)
        for _ in range(stop):
            next(steps)
        steps.close()
        assert stopped.augment == (None if stop < 4 else "flips")
        resumed = ng.load_model(stopped.save_training_state(tmp_path / f"run{stop}.state"))
        resumed.fit(stack, names, max_steps=6, seed=1, resume=True)
        assert (resumed.augment, resumed.orientation) == (whole.augment, whole.orientation), stop
        for key, value in whole.net.state_dict().items():
            torch.testing.assert_close(resumed.net.state_dict()[key], value, rtol=1e-4, atol=1e-6)


def test_auto_augment_with_one_training_example_per_class():
    """Half of two examples per class held out for evaluation: one left to train on,
    none to measure orientation with, so nothing shows it matters."""
    stack, names = discs_and_rings(4)
    ic = ng.ImageClassifier(validation_fraction=0.5, **TINY).fit(stack, names, max_steps=3, seed=0)
    assert ic.augment == "flips" and ic.evaluation.n == 2 and ic.steps_trained == 3
