"""Replacing objects: removal fills them with the surrounding texture; a GAN
trained on object crops puts new objects (with their masks) in their place."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

import napari_gan as ng
from napari_gan.core import replace as replace_module
from napari_gan.core.synthetic import touching_nuclei, two_kinds


@pytest.fixture(scope="module")
def scene():
    img, lab = touching_nuclei((96, 96), seed=3)
    return (img * 1000).astype(np.uint16), lab.astype(np.int32)


@pytest.fixture(scope="module")
def object_gan(scene):
    img, lab = scene
    crops = ng.object_crops(img, lab, size=32)
    return ng.ImageGAN(batch_size=8, features=8, latent=16).fit(crops, max_steps=20, seed=0)


def test_object_crops_hold_each_object_and_its_mask(scene):
    img, lab = scene
    ids = [int(i) for i in np.unique(lab) if i]
    crops = ng.object_crops(img, lab, size=32)
    assert crops.shape == (len(ids), 32, 32, 2) and crops.dtype == np.float32
    lo, hi = float(img.min()), float(img.max())
    mask = crops[..., 1]
    assert set(np.unique(mask)) <= {lo, hi} and (mask[:, 16, 16] == hi).mean() > 0.8  # objects at the centre
    crops, names = ng.object_crops(img, lab, size=32, classes={ids[0]: "a", ids[1]: "b"})
    assert len(crops) == 2 and names == ["a", "b"]


def test_removal_fills_only_the_objects_and_clears_their_labels(scene):
    img, lab = scene
    ids = [int(i) for i in np.unique(lab) if i][:2]
    before = img.copy(), lab.copy()
    new, new_lab = ng.replace_objects(img, lab, ids=ids, seed=0)
    np.testing.assert_array_equal(img, before[0])  # the caller's arrays are untouched
    np.testing.assert_array_equal(lab, before[1])
    assert new.dtype == img.dtype and new.shape == img.shape and new_lab.dtype == lab.dtype
    assert not np.isin(new_lab, ids).any() and np.array_equal(new_lab > 0, (lab > 0) & ~np.isin(lab, ids))
    hole = ndi.binary_dilation(np.isin(lab, ids), iterations=2)
    np.testing.assert_array_equal(new[~hole], img[~hole])  # known pixels exactly kept
    inside = np.isin(lab, ids)
    # the objects are gone: their pixels now look like the background around them
    background = img[(lab == 0) & ~hole]
    assert (
        abs(float(new[inside].mean()) - float(background.mean()))
        < abs(float(img[inside].mean()) - background.mean()) / 2
    )
    reports = []  # progress (what the widget's bar and Stop use) changes nothing
    again, _ = ng.replace_objects(img, lab, ids=ids, seed=0, progress=lambda done, total: reports.append((done, total)))
    np.testing.assert_array_equal(again, new)
    assert reports and reports[-1][0] == reports[-1][1] and [d for d, _ in reports] == sorted(d for d, _ in reports)


def test_removal_fills_with_background_not_pieces_of_other_objects(monkeypatch):
    """Objects removed from among others: the fill copies the background between
    them, not fragments of the neighbours (bright smudges where an object was)."""
    image, labels, kinds = two_kinds((128, 128), seed=0)
    ids = [i for i in range(1, labels.max() + 1) if (labels == i).any() and kinds[i - 1] == 0]
    hole = ndi.binary_dilation(np.isin(labels, ids), iterations=replace_module.HALO)
    background = image[~ndi.binary_dilation(labels > 0, iterations=3)]
    bright = np.percentile(background, 99.9)
    new, _ = ng.replace_objects(image, labels, ids=ids, seed=0)
    assert (new[hole] > bright).mean() < 0.01
    assert abs(float(new[hole].mean()) - float(background.mean())) < 0.1 * float(np.ptp(image))
    # the same fill allowed to copy from anywhere: what the check is there to catch
    fill = replace_module.patch_fill
    monkeypatch.setattr(replace_module, "patch_fill", lambda *a, avoid=None, **k: fill(*a, **k))
    anywhere, _ = ng.replace_objects(image, labels, ids=ids, seed=0)
    assert (anywhere[hole] > bright).mean() > 0.1


def test_a_generator_puts_new_objects_with_masks_in_place(scene, object_gan):
    img, lab = scene
    ids = [int(i) for i in np.unique(lab) if i][:3]
    new, new_lab = ng.replace_objects(img, lab, ids=ids, generator=object_gan, seed=1)
    assert new.shape == img.shape and new.dtype == img.dtype
    # a new object is pasted as a 32 px crop at the old one's centre: nothing changes beyond that box
    far = ~ndi.binary_dilation(np.isin(lab, ids), structure=np.ones((3, 3)), iterations=17)
    np.testing.assert_array_equal(new[far], img[far])
    others = (lab > 0) & ~np.isin(lab, ids)
    np.testing.assert_array_equal(new_lab[others], lab[others])  # other objects are kept
    assert all((new_lab == i).sum() > 0 for i in ids)  # every replaced id has a new mask
    same, same_lab = ng.replace_objects(img, lab, ids=ids, generator=object_gan, seed=1)
    np.testing.assert_array_equal(same, new)
    np.testing.assert_array_equal(same_lab, new_lab)


def test_noise_level_reads_the_grain_of_an_image():
    from napari_gan.core.replace import noise_level

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:128, :128]
    smooth = (np.sin(xx / 9.0) * np.cos(yy / 7.0))[..., None]  # texture without noise
    assert noise_level(smooth)[0] < 0.01
    for sigma in (0.05, 0.3):
        pure = noise_level(rng.normal(0, sigma, smooth.shape))[0]
        assert 0.9 * sigma < pure < 1.1 * sigma
        # on texture it reads low (the median filter keeps some noise), never the texture itself
        level = noise_level(smooth + rng.normal(0, sigma, smooth.shape))[0]
        assert 0.6 * sigma < level < 1.2 * sigma


def test_new_objects_get_the_grain_of_the_image(scene, object_gan):
    """A generator's objects are smoother than the noisy image they go into: the
    replacement adds the missing noise, so inside them the grain is the image's."""
    from napari_gan.core.replace import noise_level

    img, lab = scene
    noisy = img.astype(np.float32) + np.random.default_rng(1).normal(0, 40, img.shape).astype(np.float32)
    ids = [int(i) for i in np.unique(lab) if i][:4]
    new, new_lab = ng.replace_objects(noisy, lab, ids=ids, generator=object_gan, seed=1)
    inside = ndi.binary_erosion(np.isin(new_lab, ids), iterations=2)  # the new objects' own pixels
    residual = new - ndi.median_filter(new, size=3)
    grain = 1.4826 * np.median(np.abs(residual[inside] - np.median(residual[inside]))) / 0.865
    assert inside.sum() > 50 and grain > 0.9 * noise_level(noisy[..., None])[0]  # without grain: 0.71


def test_bad_input_is_named(scene, object_gan):
    img, lab = scene
    with pytest.raises(ng.InputError, match=r"label id\(s\) \[999\]"):
        ng.replace_objects(img, lab, ids=[999])
    with pytest.raises(ng.InputError, match="labels have shape"):
        ng.replace_objects(img, lab[:50])
    with pytest.raises(ng.InputError, match="integer label image"):
        ng.replace_objects(img, lab.astype(np.float32))
    with pytest.raises(ng.InputError, match="ImageGAN in samples mode"):
        ng.replace_objects(img, lab, ids=[1], generator=ng.Denoiser())
    rgb = np.stack([img] * 3, axis=-1)
    with pytest.raises(ng.InputError, match="plus the mask channel"):
        ng.replace_objects(rgb, lab, ids=[1], generator=object_gan)
    with pytest.raises(ng.InputError, match="NaN"):
        ng.replace_objects(np.full(lab.shape, np.nan), lab)
