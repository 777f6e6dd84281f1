"""The options of an :class:`~napari_gan.core.tasks.generate.ImageGAN`, checked when
they are made (and again when a checkpoint's header is read)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import check_positive_ints

MODES = ("samples", "texture")


@dataclass(frozen=True)
class ImageGANConfig:
    """Options of an :class:`ImageGAN`.

    Parameters
    ----------
    mode : {"samples", "texture"}
        ``samples``: learn from a stack of images (N, Y, X[, C]) and generate new
        images of that size. ``texture``: learn from one image (Y, X[, C]) and
        generate textures of any size.
    image_size : {None, 32, 64}
        Samples mode. None (the default): images of at most 32 pixels per side are
        learnt at their own size by one DCGAN; larger ones coarse to fine (a DCGAN at
        most 16 pixels per side, plus one detail network per octave above it,
        :mod:`napari_gan.core.models.pyramid`; images over 128 pixels are resized to
        fit 128 and generated ones resized back; with classes, every stage is told
        the class). On 48 px crops of nuclei, 2 CPU cores: classifier test 0.69 at
        300 s and 0.59 at 1200 s (real vs real 0.58) against 0.98 for one DCGAN on
        the whole image at 300 s (docs/benchmarks/nuclei.md, "Samples larger than 32
        pixels"). 32 or 64: one DCGAN of that edge; images that fit are learnt at
        their own size, others resized to it (and generated images resized back to
        the data's size).
    latent : int
        Samples mode: length of the latent vector z.
    features : int or None
        Width of the generator's finest block (samples mode: also the
        discriminator's first block; texture mode: the generator's). None: 16
        (samples) or 24 (texture). On the faces of ``lfw_subset``, 2 CPU cores, a
        pair 16 wide learnt as much per step as one 32 wide and ran three times as
        many steps (docs/benchmarks/faces_earlier.md, "Faces (samples mode), 2026-12-06").
    batch_size : int or None
        Images (samples) or crops (texture) per step; None: 32 (samples) or 8 (texture).
    crop_size : int
        Texture mode: edge of the training crops (a multiple of 8). The texture
        must be at least this large.
    learning_rate : float
        Adam learning rate of both networks (cosine-annealed over the budget).
    ema : float
        Decay of the exponential moving average of the generator's weights; the
        averaged generator is the one that generates.
    augment : bool or "adaptive"
        Differentiable augmentation (DiffAugment: translation, cutout, brightness,
        contrast) of the images the discriminator sees. Off by default: on the 100
        faces of ``lfw_subset`` with 5 minutes of CPU training it slowed learning
        (classifier test 0.89 with it, 0.68-0.71 without; docs/benchmarks/faces_earlier.md).
        ``"adaptive"``: each image is augmented with a probability that starts at 0
        and rises only while the discriminator grows sure of the training images
        (adaptive discriminator augmentation, Karras et al. 2020), so a run trains
        as without augmentation until its discriminator starts to memorise them; for
        long runs on a few hundred images. On the faces it held the discriminator
        there from about 4500 steps on (probability 0.12-0.14) but did not improve
        the 1200 s result: classifier test 0.550 and patch SWD 1.46x the floor's,
        against 0.582 and 1.22x without (docs/benchmarks/faces_earlier.md, "Adaptive augmentation").
    flip : bool
        Also learn from the horizontally flipped images (not for data with a
        handedness, e.g. text).
    patch_loss : float or None
        Weight of a patch-statistics loss added to the generator's adversarial
        loss (texture mode, and samples mode for images learnt by one DCGAN, i.e.
        up to 32 pixels per side): the sliced Wasserstein distance between the 5 x 5
        neighbourhoods of generated crops and of the source, on every band of a
        Laplacian pyramid (the patch-matching of GPDM, on raw pixels). 0 turns it
        off (the generator then learns from the discriminator alone). None (the
        default) chooses by the data: 1 for textures and for samples without
        classes, 0 for class-conditional samples (given ``classes``). After 5
        minutes on 2 CPU cores it gave patch SWD 83 / 45 / 40 on skimage's brick,
        grass and gravel, against 86 / 78 / 69 without (docs/benchmarks.md in git at e0deeed), at
        about 80 % of the steps per second. In samples mode it holds the generated
        images' contrast, which the discriminator alone lets drift away over a long
        run: on the faces of ``lfw_subset`` over a 27000-step budget, classifier
        test 0.482-0.484 at 2000 to 27000 steps (real vs real 0.482) and contrast
        0.95-0.97 of the real faces', against 0.525 at 6500 and 0.591 at 27000
        steps and contrast 0.88 without, at about half the steps per second
        (docs/benchmarks/faces.md, "The patch-statistics loss holds the contrast").
        With classes it is off by default: on object crops it lowered the share
        of generated objects of the asked class in two of three pairs of runs
        (79 % against 91 %; docs/benchmarks/replace.md).
    """

    mode: str = "samples"
    image_size: int | None = None
    latent: int = 64
    features: int | None = None
    batch_size: int | None = None
    crop_size: int = 64
    learning_rate: float = 2e-4
    ema: float = 0.999
    augment: bool | str = False
    flip: bool = True
    patch_loss: float | None = None

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.image_size not in (None, 32, 64):
            raise ValueError(f"image_size must be None, 32 or 64, got {self.image_size!r}")
        check_positive_ints(self, [n for n in ("latent", "features", "batch_size") if getattr(self, n) is not None])
        if self.crop_size < 16 or self.crop_size % 8:
            raise ValueError(f"crop_size must be a multiple of 8 and at least 16, got {self.crop_size!r}")
        if not self.learning_rate > 0:
            raise ValueError("learning_rate must be positive")
        if not (isinstance(self.augment, bool) or self.augment == "adaptive"):
            raise ValueError(f"augment must be True, False or 'adaptive', got {self.augment!r}")
        if not 0 <= self.ema < 1:
            raise ValueError("ema must be in [0, 1)")
        if self.patch_loss is not None and (
            isinstance(self.patch_loss, bool)
            or not (isinstance(self.patch_loss, (int, float)) and 0 <= self.patch_loss < math.inf)
        ):
            raise ValueError(f"patch_loss must be None or a finite number >= 0, got {self.patch_loss!r}")

    def patch_weight(self, conditional: bool) -> float:
        """The patch-statistics loss's weight for this data: ``patch_loss``, or when
        it is None, 0 for class-conditional samples and 1 otherwise."""
        if self.patch_loss is not None:
            return float(self.patch_loss)
        return 0.0 if conditional else 1.0

    @property
    def width(self) -> int:
        return self.features or (16 if self.mode == "samples" else 24)

    @property
    def batch(self) -> int:
        return self.batch_size or (32 if self.mode == "samples" else 8)
