"""What the classifiers choose from the training data when the user leaves it to
them: the network's input size (``input_size=None``) and the augmentation
(``augment="auto"``); and the augmentations themselves.

Input size: small images are seen at their own size (an 8 x 8 digit resized to
64 x 64 only costs 64 times the pixels), large ones shrunk to a cap. The network
pools by 2 three times, so inputs under 16 px get a network with two pooling stages.

Augmentation: flips and 90-degree rotations are right for objects whose class does
not depend on orientation and wrong where it does (a 6 rotated is a 9, a left arrow
mirrored points right). Whether it does is measured on the training examples
themselves: each is flipped and rotated (the seven symmetries of a square) and
compared with the untransformed examples, in two ways.

1. Nearest neighbours in pixel space, before training (:func:`neighbour_evidence`):
   how often an example's nearest other example is of its class, as it is and
   transformed. Costs about a second; decides digits, arrows, rods and faces.
2. Where nearest neighbours cannot tell the classes apart (small objects in large
   frames, texture differences, objects at random orientations), the network itself
   early in training (:class:`OrientationProbe`): trained without flips on three
   quarters of the examples, its probability of the true class on the held-out
   quarter, as they are and transformed.

A clear drop means orientation carries the class: a small shift only. No drop, or no
answer in time, means flips (nothing showed that they change the class).
:func:`verdict` has the thresholds.
"""

from __future__ import annotations

import numpy as np
from skimage.transform import resize

#: ``augment`` values; "auto" is resolved to one of the others at fit
AUGMENTS = ("auto", "none", "shift", "flips")
#: the largest input edge ``input_size=None`` chooses: larger images (and object
#: crops) are shrunk to it
MAX_IMAGE_INPUT = 64
MAX_OBJECT_INPUT = 32
#: the eight flips and 90-degree rotations of a square image, by name
SYMMETRIES = {
    "identity": lambda a: a,
    "mirror_x": lambda a: a[..., ::-1],
    "mirror_y": lambda a: a[..., ::-1, :],
    "rot180": lambda a: a[..., ::-1, ::-1],
    "transpose": lambda a: np.swapaxes(a, -1, -2),
    "rot90": lambda a: np.rot90(a, 1, axes=(-2, -1)),
    "rot270": lambda a: np.rot90(a, 3, axes=(-2, -1)),
    "antitranspose": lambda a: np.rot90(np.swapaxes(a, -1, -2), 2, axes=(-2, -1)),
}
#: nearest neighbours are compared on inputs shrunk to at most this edge, and on at
#: most this many examples (a stratified subset): about a second whatever the data
_NN_SIZE = 16
_NN_EXAMPLES = 1500
#: when nearest neighbours cannot tell, the network trains without flips on the
#: other examples while this share of each class is held out to measure it on...
PROBE_HELD = 0.25
#: ... at most this many of them (times eight symmetries) ...
PROBE_EXAMPLES = 256
#: ... from this share of the budget on, every PROBE_EVERY of it, until it can tell
#: or time is up, where flips are chosen (nothing showed they change the class):
#: after PROBE_STEPS steps and PROBE_SOON of the budget, or PROBE_LAST of it. A small
#: network learns left from right arrows in 30-40 steps (24 px, 6 per class)
PROBE_FIRST, PROBE_EVERY = 0.10, 0.05
PROBE_STEPS, PROBE_SOON, PROBE_LAST = 60, 0.15, 0.50


def network_stages(size: int) -> int:
    """Pooling stages of the network for ``size`` px inputs: three (the default
    network) from 16 px, two below, so that the last stage still sees 2 x 2 pixels.
    Measured on scikit-learn's digits (8 x 8, no augmentation, 500 steps, mean of 3
    seeds): 0.995 at 8 px with two stages against 0.990 with three."""
    return 3 if size >= 16 else 2


def choose_input_size(native: int, *, cap: int) -> int:
    """The input edge for examples ``native`` px across: their own size, or ``cap``
    for larger ones, rounded down to a multiple of 4 (whole pixels after two 2x
    poolings) and at least 8 (the smallest input the network takes)."""
    return max(8, 4 * (min(int(native), int(cap)) // 4))


def augment_for(found: str | None, size: int) -> str | None:
    """What ``augment="auto"`` trains ``size`` px inputs with, by the :func:`verdict`
    on orientation: flips where it is free, a shift where it matters, but nothing
    under 16 px, where one pixel is a large shift (scikit-learn's digits at 8 px, 500
    steps: 0.989 with the shift, 0.996 without); None while it is not known."""
    if found == "free":
        return "flips"
    if found == "matters":
        return "shift" if size >= 16 else "none"
    return None


def augment_batch(x: np.ndarray, rng: np.random.Generator, *, mode: str, image_channels: int, jitter: float):
    """Flips/rot90 and a small shift of each example (``mode``), and a
    contrast/brightness change of its image channels (a mask channel stays 0/1).

    ``x``: (M, C, S, S) float32; returns a new array of the same shape.
    """
    out = np.empty_like(x)
    size = x.shape[-1]
    shift = max(1, size // 16)
    for i, c in enumerate(x):
        if mode == "flips":
            if rng.random() < 0.5:
                c = c[:, ::-1]
            c = np.rot90(c, int(rng.integers(4)), axes=(1, 2))
        if mode != "none":
            dy, dx = rng.integers(-shift, shift + 1, size=2)
            c = np.pad(c, ((0, 0), (shift, shift), (shift, shift)), mode="edge")
            c = c[:, shift + dy : shift + dy + size, shift + dx : shift + dx + size]
        out[i] = c
    if jitter > 0:
        n = len(x)
        gain = np.exp(rng.uniform(-1, 1, n) * np.log1p(jitter)).astype(np.float32)[:, None, None, None]
        offset = (rng.uniform(-1, 1, n) * jitter).astype(np.float32)[:, None, None, None]
        out[:, :image_channels] = out[:, :image_channels] * gain + offset
    return out


def stratified_subset(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """At most ``n`` indices of ``y``, the same share of every class."""
    if len(y) <= n:
        return np.arange(len(y))
    rng = np.random.default_rng(seed + 104729)
    keep = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        keep.append(rng.choice(idx, min(len(idx), max(2, int(round(n * len(idx) / len(y))))), replace=False))
    return np.sort(np.concatenate(keep))


def _evidence(same: np.ndarray, moved: np.ndarray, y: np.ndarray, n_classes: int) -> dict[str, float]:
    """Scores of the examples as they are (``same``) and flipped or rotated
    (``moved``, the mean over the seven symmetries), each example weighted so that
    every class counts equally; standard errors from the spread over examples."""
    w = 1.0 / np.bincount(y)[y]
    w /= w.sum()
    same, moved = same.astype(np.float64), moved.astype(np.float64)
    accuracy, transformed = float(w @ same), float(w @ moved)
    diff = same - moved
    return {
        "accuracy": accuracy,
        "transformed": transformed,
        "chance": 1.0 / n_classes,
        "se": float(np.sqrt(np.sum(w**2 * (diff - (accuracy - transformed)) ** 2))),
        "se_accuracy": float(np.sqrt(np.sum(w**2 * (same - accuracy) ** 2))),
        "examples": float(len(y)),
    }


def neighbour_evidence(x: np.ndarray, y: np.ndarray, *, n_classes: int, seed: int = 0) -> dict[str, float]:
    """Whether each example, as it is and flipped or rotated, has a nearest other
    example (Euclidean, in pixel space) of its own class.

    Parameters
    ----------
    x : ndarray, shape (M, C, S, S)
        Normalised inputs (all channels, a mask channel included); compared shrunk
        to at most 16 x 16, at most 1,500 of them (a stratified subset).
    y : ndarray of int, shape (M,)
        Class indices.

    Returns
    -------
    dict
        ``accuracy``: leave-one-out 1-nearest-neighbour accuracy (every class
        weighing the same); ``transformed``: the same for the examples flipped or
        rotated (mean over the seven non-identity symmetries; an example's own
        untransformed self is not a neighbour); ``chance``: 1 / ``n_classes``;
        ``se`` and ``se_accuracy``: standard errors of ``accuracy - transformed``
        (paired over examples) and of ``accuracy``; ``examples``: how many.
    """
    keep = stratified_subset(y, _NN_EXAMPLES, seed)
    x, y = np.asarray(x[keep], np.float32), y[keep]
    if x.shape[-1] > _NN_SIZE:
        x = resize(x, x.shape[:2] + (_NN_SIZE, _NN_SIZE), order=1, anti_aliasing=True, preserve_range=True)
    flat = x.reshape(len(x), -1).astype(np.float64)
    sq = (flat**2).sum(1)
    hits = {}
    for name, t in SYMMETRIES.items():
        q = np.ascontiguousarray(t(x)).reshape(len(x), -1).astype(np.float64)
        d = (q**2).sum(1)[:, None] + sq[None] - 2 * q @ flat.T
        np.fill_diagonal(d, np.inf)
        hits[name] = y[d.argmin(1)] == y
    same = hits.pop("identity")
    return _evidence(same, np.mean(list(hits.values()), axis=0), y, n_classes)


def network_evidence(proba, x: np.ndarray, y: np.ndarray, *, n_classes: int) -> dict[str, float]:
    """As :func:`neighbour_evidence`, with a network's probability of the true class
    (``proba``: (M, C, S, S) -> (M, n_classes)) on held-out examples ``x`` in place
    of nearest-neighbour hits."""
    rows = np.arange(len(y))
    same = proba(x)[rows, y]
    moved = np.mean([proba(np.ascontiguousarray(t(x)))[rows, y] for n, t in SYMMETRIES.items() if n != "identity"], 0)
    return _evidence(same, moved, y, n_classes)


def verdict(evidence: dict[str, float]) -> str | None:
    """What a measurement shows about orientation.

    ``above``: what the untransformed examples score above chance; ``drop``: what
    flipping and rotating them loses of it. ``"matters"`` when the drop is clear
    (over three standard errors) and material (over a quarter of ``above`` and over
    0.05); ``"free"`` when the classes are clearly told apart (``above`` over three
    standard errors) and even a pessimistic drop (plus two standard errors) is
    under half of ``above``; otherwise None: the measurement cannot tell.
    """
    above = evidence["accuracy"] - evidence["chance"]
    drop = evidence["accuracy"] - evidence["transformed"]
    if drop > max(3 * evidence["se"], 0.25 * above, 0.05):
        return "matters"
    if above > 3 * evidence["se_accuracy"] and drop + 2 * evidence["se"] < 0.5 * above:
        return "free"
    return None


class OrientationProbe:
    """The network's own measurement, for ``augment="auto"`` where nearest
    neighbours could not tell whether orientation carries the class.

    Training starts without flips on three quarters of each class's examples
    (:attr:`fit`); from a tenth of the budget on, every twentieth, the network is
    measured on the held-out quarter as they are and flipped or rotated
    (:func:`network_evidence`) until :func:`verdict` can tell, or until time is up
    (60 steps and 15 % of the budget, or half the budget), where flips are chosen.
    Then training goes on with all the examples.
    Measuring draws no random numbers, so a resumed run decides at the same step.
    """

    def __init__(self, y: np.ndarray, *, seed: int):
        rng = np.random.default_rng(seed + 15485863)
        fit, held = [], []
        for c in np.unique(y):
            idx = rng.permutation(np.flatnonzero(y == c))
            k = min(max(1, int(round(PROBE_HELD * len(idx)))), len(idx) - 1)
            held.append(idx[:k])
            fit.append(idx[k:])
        #: indices (into ``y``) trained on while probing, and measured on
        self.fit = np.sort(np.concatenate(fit))
        held = np.sort(np.concatenate(held))
        self.held = held[stratified_subset(y[held], PROBE_EXAMPLES, seed)]
        self._last: int | None = None

    def measure(self, progress: float, steps: int, max_steps: int, proba, x, y, n_classes: int):
        """Before a step, ``steps`` steps and ``progress`` (0 to 1) of the budget
        done: None while nothing is measured or decided, else ``(verdict, evidence)``
        (the verdict None: the time was up before the measurement could tell)."""
        eps = 1e-9
        if self._last is None:  # a new run, or one resumed: where the step before stood
            self._last = int((steps - 1) / max_steps / PROBE_EVERY + eps) if steps else -1
        mark = int(progress / PROBE_EVERY + eps)
        due = mark > self._last and progress >= PROBE_FIRST - eps
        self._last = mark
        if not due:
            return None
        evidence = {**network_evidence(proba, x[self.held], y[self.held], n_classes=n_classes), "progress": progress}
        found = verdict(evidence)
        time_up = (steps >= PROBE_STEPS and progress >= PROBE_SOON - eps) or progress >= PROBE_LAST - eps
        if found is None and not time_up:
            return None
        return found, evidence
