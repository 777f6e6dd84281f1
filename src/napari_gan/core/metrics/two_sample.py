"""Two-sample classifier test: can a small CNN, trained fresh, tell generated crops
from real ones?

A measure that a model is trained on cannot judge it (the texture generator trains on
a patch-SWD loss, and patch SWD rewards it). A classifier trained for each evaluation
on pixels no model saw, and scored on crops it did not train on, sees what a person
sees: blur, wrong brightness, blobs, seams, repeats. 0.5 means indistinguishable and
1.0 always told apart; the real-vs-real score (:func:`classifier_test_floor`) is the
floor a generated result is judged against (Lopez-Paz & Oquab, "Revisiting classifier
two-sample tests", ICLR 2017).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InputError
from ._c2st_regions import _mask_set, _Side, _split, _too_few
from .generative import _image_set, split_halves

__all__ = ["ClassifierTest", "classifier_test", "classifier_test_floor"]

#: largest number of test crops per class (more only costs time)
MAX_TEST = 1024


@dataclass(frozen=True)
class ClassifierTest:
    """What :func:`classifier_test` returns.

    Attributes
    ----------
    accuracy : float
        Held-out accuracy averaged over the seeds: 0.5 = indistinguishable, 1.0 =
        always told apart (below 0.5 is chance too, reported as it is).
    per_seed : tuple of float
        The accuracy of each seed's classifier.
    n_train : int
        Size of the smaller class's training region, in half-overlapping crops (crops
        are drawn at any position inside it); the smallest over the seeds.
    n_test : int
        Held-out crops per class (the same for both classes); the smallest over the seeds.
    seconds : float
        Wall time of the whole test.
    split : str
        How pixels were divided into training and test regions: ``"blocks of N px"``
        (square blocks assigned at random) or ``"halves"`` (each image's allowed region
        cut in two, for small regions); joined by ``+`` where the seeds differ.
    """

    accuracy: float
    per_seed: tuple[float, ...]
    n_train: int
    n_test: int
    seconds: float
    split: str

    def as_dict(self) -> dict:
        """The fields as a plain, JSON-ready dict."""
        out = asdict(self)
        out["per_seed"] = list(self.per_seed)
        return out


# --------------------------------------------------------------------------- inputs


def _normaliser(real: list[np.ndarray], masks: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """One affine map per channel, from the real pixels' 1st and 99th percentiles to
    -1 and 1, applied to both sets alike so that brightness and contrast stay visible."""
    pixels = np.concatenate([a[m] for a, m in zip(real, masks)])
    lo, hi = np.percentile(pixels, [1, 99], axis=0)
    span = hi - lo
    span[span <= 0] = 1.0  # a constant channel: shift only
    return lo + span / 2, span / 2


# --------------------------------------------------------------------------- classifier


def _critic(channels: int, depth: int = 3):
    import torch
    from torch import nn

    class Critic(nn.Module):
        """conv 3x3 -> 16, ``depth - 1`` stride-2 convs (32, 64, then 64), then the mean
        and the standard deviation of each feature over the crop -> one logit. The std
        pool sees texture energy (blur, noise) that a mean pool averages away. Depth 3
        sees 9 x 9 px neighbourhoods, 4 sees 17, 5 sees 33."""

        def __init__(self) -> None:
            super().__init__()
            act = nn.LeakyReLU(0.2)
            layers, width = [nn.Conv2d(channels, 16, 3, padding=1), act], 16
            for _ in range(depth - 1):
                wider = min(2 * width, 64)
                layers += [nn.Conv2d(width, wider, 3, stride=2, padding=1), act]
                width = wider
            self.features = nn.Sequential(*layers)
            self.head = nn.Linear(2 * width, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = self.features(x).flatten(2)
            return self.head(torch.cat([f.mean(2), f.std(2)], 1)).squeeze(1)

    return Critic()


def _crops(images: list[np.ndarray], rows: np.ndarray, crop: int, rng: np.random.Generator | None = None):
    """(K, C, crop, crop) float32 crops at ``rows`` of ``(image, y, x)``; with ``rng``,
    each turned by a random multiple of 90 degrees and maybe mirrored."""
    out = np.empty((len(rows), images[0].shape[0], crop, crop), dtype=np.float32)
    if rng is None:
        for k, (i, y, x) in enumerate(rows):
            out[k] = images[i][:, y : y + crop, x : x + crop]
        return out
    turns = rng.integers(4, size=len(rows))
    flips = rng.integers(2, size=len(rows))
    for k, (i, y, x) in enumerate(rows):
        c = np.rot90(images[i][:, y : y + crop, x : x + crop], turns[k], axes=(1, 2))
        out[k] = c[:, :, ::-1] if flips[k] else c
    return out


def _one_seed(gen, real, gen_side: _Side, real_side: _Side, *, crop, steps, batch, augment, device, seed, rng, depth):
    import torch

    half = batch // 2
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = _critic(gen[0].shape[0], depth).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    target = torch.cat([torch.ones(half), torch.zeros(half)]).to(device)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    net.train()
    for _ in range(steps):
        g = gen_side.train[rng.integers(len(gen_side.train), size=half)]
        r = real_side.train[rng.integers(len(real_side.train), size=half)]
        aug = rng if augment else None
        x = torch.from_numpy(np.concatenate([_crops(gen, g, crop, aug), _crops(real, r, crop, aug)]))
        loss = loss_fn(net(x.to(device)), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    n = min(len(gen_side.test), len(real_side.test), MAX_TEST)
    g = gen_side.test[np.sort(rng.choice(len(gen_side.test), n, replace=False))]
    r = real_side.test[np.sort(rng.choice(len(real_side.test), n, replace=False))]
    net.eval()
    correct = 0
    with torch.no_grad():
        for rows, label in ((g, True), (r, False)):
            for i in range(0, n, 512):
                x = torch.from_numpy(_crops(gen if label else real, rows[i : i + 512], crop)).to(device)
                correct += int(((net(x) > 0) == label).sum())
    return correct / (2 * n), n


# --------------------------------------------------------------------------- public


def classifier_test(
    generated,
    real,
    *,
    crop: int = 32,
    generated_mask=None,
    real_mask=None,
    seeds: int | Sequence[int] = 3,
    steps: int = 300,
    batch: int = 64,
    augment: bool = True,
    channel_axis: int | None = None,
    device: str = "cpu",
    depth: int = 3,
) -> ClassifierTest:
    """Two-sample classifier test: held-out accuracy of a small CNN trained fresh to
    tell ``crop x crop`` crops of the generated images from crops of real ones.

    The first measure of any generated result (fills, textures, samples,
    translations): 0.5 means a fresh classifier cannot tell them apart, 1.0 that it
    always can. Judge it against :func:`classifier_test_floor`, the same test
    between two parts of the real data. ``real`` should be pixels that no model
    being judged trained on.

    For every seed: each image's plane is cut into square blocks of ``4 * crop``
    pixels, assigned at random, half to training and half to testing. Where that
    leaves fewer than 8 half-overlapping crops of a class on either side, blocks of
    ``2 * crop`` are tried, then (e.g. for a small hole) each allowed region cut into
    two halves. Large blocks matter: a test crop next to a training block shares
    objects with it, and a classifier that learns those objects tells two real
    regions apart (on two pairs of gravel quadrants, 2 seeds: 0.64 with blocks of
    ``2 * crop``, 0.60 with ``4 * crop``, 0.58 with halves; on two samples of one
    stationary random texture 0.48-0.51 with all three). A fresh CNN (conv 3x3 -> 16,
    stride-2 convs -> 32 -> 64, mean and std pooling, one logit; leaky ReLU; no
    normalisation layers) is trained with Adam (lr 2e-3) and binary cross-entropy
    for ``steps`` steps on balanced batches of crops drawn at random positions
    wholly inside the training blocks (with random 90-degree turns and flips when
    ``augment``), then scored on crops every ``crop // 4`` pixels wholly inside the
    test blocks, as many of each class (at most 1024). Both sets are mapped by one affine map
    per channel, taking the real pixels' 1st and 99th percentiles to -1 and 1, so
    differences in brightness and contrast stay visible. The result is the mean
    accuracy over the seeds.

    Parameters
    ----------
    generated, real : array-like
        One image (Y, X), a stack (N, Y, X) or a list of 2D images of any sizes; with
        ``channel_axis``, (Y, X, C), (N, Y, X, C) or a list of (Y, X, C) images. Any
        real dtype. Both sets must have the same number of channels.
    crop : int
        Side of the square crops the classifier sees, in pixels (>= 4).
    generated_mask, real_mask : array-like of bool, optional
        Pixels crops may come from: one (Y, X) mask for every image, or one per
        image (a list or an (N, Y, X) array). A crop is used only if it lies wholly
        inside the mask, e.g. the hole of an inpainted image. Default: all pixels.
    seeds : int or sequence of int
        ``3`` means seeds 0, 1, 2; each gives its own split, initialisation and
        crops. The same seeds give the same result on the same machine and device.
    steps : int
        Training steps per seed (>= 1). About 20-30 ms each on 2 CPU cores at the
        default crop and batch.
    batch : int
        Crops per training step, half of each class (even, >= 2).
    augment : bool
        Random 90-degree turns and flips of training crops (not of test crops). It
        makes the classifier blind to orientation; turn it off to judge anisotropic
        content whose orientation matters.
    channel_axis : int, optional
        Axis of the channels in each image; default: grayscale images.
    device : str
        Torch device (``"cpu"``, ``"cuda"``, ``"auto"``, ...).
    depth : int
        Convolutions of the classifier (2-5), which set the neighbourhood it
        sees: 9 x 9 px at the default 3, 17 at 4, 33 at 5. The default judges
        local texture statistics; shapes larger than 9 px (whole stones, bricks,
        blades) need a deeper classifier and a ``crop`` that holds them.

    Returns
    -------
    ClassifierTest
        ``accuracy`` (mean over seeds), ``per_seed``, ``n_train``, ``n_test``,
        ``seconds``, ``split``; ``as_dict()`` for a table.

    Raises
    ------
    napari_gan.InputError
        (a ValueError) If an image is not 2D (plus channels), the channel counts
        differ, a mask is not boolean or does not match its image, an option is out
        of range, or the allowed regions hold fewer than 8 test crops (or 8 training
        crops) of a class.

    Notes
    -----
    Training dominates the cost: about 20 ms a step at the defaults on two idle CPU
    cores, so about 6 s per seed. Torch's default of one thread per core suffers
    badly when other processes share the cores: 50-60 s per seed were measured with
    a load average of 4 on two cores.

    Measured at the defaults (3 seeds), each side a 256 x 256 quadrant of a 512 x
    512 image, the generated side made from another quadrant than the real one:

    ====================================  ======  =====
    generated                             gravel  grass
    ====================================  ======  =====
    a third real quadrant (the floor)     0.60    0.59
    Gaussian blur, sigma 1.5              1.00    0.98
    phase-randomised (same spectrum)      0.95    0.94
    its own 32-pixel blocks, shuffled     0.63    0.74
    ====================================  ======  =====

    Seeds differ by up to 0.1 on real against real. Shuffled blocks of gravel,
    whose seams a person sees, are barely told apart: the classifier judges texture
    statistics far better than it finds straight seams.
    """
    started = time.perf_counter()
    for name, value, low in (("crop", crop, 4), ("steps", steps, 1), ("batch", batch, 2), ("depth", depth, 2)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise InputError(f"{name} must be an integer >= {low}, got {value!r}")
    if depth > 5:
        raise InputError(f"depth must be at most 5, got {depth!r}")
    if batch % 2:
        raise InputError(f"batch must be even (half of each class), got {batch}")
    seed_list = list(range(seeds)) if isinstance(seeds, (int, np.integer)) else [int(s) for s in seeds]
    if not seed_list or (isinstance(seeds, (int, np.integer)) and seeds < 1):
        raise InputError(f"seeds must be a positive count or a non-empty list of seeds, got {seeds!r}")
    gen = _image_set(generated, "generated", channel_axis)
    ref = _image_set(real, "real", channel_axis)
    if gen[0].shape[-1] != ref[0].shape[-1]:
        raise InputError(f"generated has {gen[0].shape[-1]} channels but real has {ref[0].shape[-1]}")
    gen_masks = _mask_set(generated_mask, gen, "generated_mask")
    real_masks = _mask_set(real_mask, ref, "real_mask")
    if not any(m.any() for m in real_masks) or not any(m.any() for m in gen_masks):
        raise InputError("a mask selects no pixel")

    from ..training import resolve_device

    device = resolve_device(device)
    centre, half_span = _normaliser(ref, real_masks)
    to_chw = lambda a: np.ascontiguousarray(np.moveaxis((a - centre) / half_span, -1, 0), dtype=np.float32)  # noqa: E731
    gen = [to_chw(a) for a in gen]
    ref = [to_chw(a) for a in ref]

    scores, n_train, n_test, kinds = [], [], [], set()
    for seed in seed_list:
        rng = np.random.default_rng(seed)
        found = _split(gen_masks, real_masks, crop, rng)
        if found is None:
            raise InputError(_too_few(gen_masks, real_masks, crop))
        kind, gen_side, real_side = found
        kinds.add(kind)
        acc, n = _one_seed(
            gen, ref, gen_side, real_side, crop=crop, steps=steps, batch=batch, augment=augment,
            device=device, seed=seed, rng=rng, depth=int(depth),
        )  # fmt: skip
        scores.append(acc)
        n_train.append(min(gen_side.n_train, real_side.n_train))
        n_test.append(n)
    return ClassifierTest(
        accuracy=float(np.mean(scores)),
        per_seed=tuple(float(s) for s in scores),
        n_train=int(min(n_train)),
        n_test=int(min(n_test)),
        seconds=time.perf_counter() - started,
        split="+".join(sorted(kinds)),
    )


def classifier_test_floor(real, *, real_mask=None, channel_axis: int | None = None, **options) -> ClassifierTest:
    """The real-vs-real floor of :func:`classifier_test`: the same test between two
    disjoint parts of the real data, with the same options.

    The parts are those of :func:`split_halves`: the even- and odd-indexed images of
    several, or the two halves of one image along its longer axis (``real_mask`` is
    split alike). A generated result is judged against this value, not against 0.5:
    a fresh classifier finds some difference between any two real regions (lighting,
    a few distinctive objects), and the floor measures how much. Each part holds
    half the real data, so the floor comes from less data than a test against all of
    it; compare results measured with the same ``crop``, ``steps`` and ``seeds``.

    Parameters
    ----------
    real : array-like
        As ``real`` in :func:`classifier_test`.
    real_mask : array-like of bool, optional
        As in :func:`classifier_test`.
    channel_axis : int, optional
    **options
        ``crop``, ``seeds``, ``steps``, ``batch``, ``augment``, ``device`` of
        :func:`classifier_test`.

    Returns
    -------
    ClassifierTest
    """
    for key in ("generated_mask", "generated"):
        if key in options:
            raise InputError(f"classifier_test_floor takes no {key}: both sides come from real")
    items = _image_set(real, "real", channel_axis)
    first, second = split_halves(items, channel_axis=-1)
    masks_first = masks_second = None
    if real_mask is not None:
        masks = _mask_set(real_mask, items, "real_mask")
        mf, ms = split_halves([m[..., None].astype(np.float64) for m in masks], channel_axis=-1)
        masks_first = [m[..., 0] > 0.5 for m in mf]
        masks_second = [m[..., 0] > 0.5 for m in ms]
    return classifier_test(
        first, second, generated_mask=masks_first, real_mask=masks_second, channel_axis=-1, **options
    )
