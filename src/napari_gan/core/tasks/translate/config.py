"""The options of a :class:`~napari_gan.core.tasks.translate.Translator`, validated."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import InputError, check_positive_ints

#: the tasks, one module each in this package (the order error messages list them in)
TASKS = ("paired", "superres", "inpaint", "colorize", "deblur", "unpaired")
DEFAULT_DEBLUR_SIGMA = 2.0
#: Adam's learning rate unless given; ``unpaired`` uses CycleGAN's
DEFAULT_LEARNING_RATE = 1e-3
UNPAIRED_LEARNING_RATE = 2e-4


@dataclass(frozen=True)
class TranslatorConfig:
    """Options of a :class:`Translator`.

    Parameters
    ----------
    task : {"paired", "superres", "inpaint", "colorize", "deblur", "unpaired"}
        ``paired``: learn source -> target from pairs of the same scene.
        ``superres``: learn to upscale by ``scale`` from high-resolution images,
        degraded by averaging ``scale`` x ``scale`` blocks (after an optional
        Gaussian ``blur``, plus optional ``noise``). ``inpaint``: learn to fill
        holes from the image itself with random masks. ``colorize``: learn colour
        (Lab chroma) from RGB images. ``deblur``: learn to undo a Gaussian blur of
        ``blur`` pixels (default 2) from sharp images. ``unpaired``: learn A -> B
        and B -> A from two sets of images that show different scenes (CycleGAN-style:
        adversarial, cycle-consistency and identity losses; see
        :mod:`~napari_gan.core.tasks.translate.unpaired`).
    scale : {2, 4}
        Super-resolution factor.
    blur : float or None
        Gaussian sigma in pixels: the blur to undo (``deblur``; None -> 2.0), or an
        extra blur before downscaling (``superres``; None -> none).
    noise : float
        Standard deviation of Gaussian noise added to the degraded input during
        training (``superres``/``deblur``), as a fraction of the image's range.
    adversarial_weight : float
        Weight of the PatchGAN loss next to the L1 loss; 0 trains a plain CNN.
        ``unpaired``: next to the cycle loss, and it must be > 0 (the discriminators
        are all that teach the generators what B looks like); ``Translator(task=
        "unpaired")`` makes it 0.1 unless given, ``Translator(task="colorize")`` 0
        (the discriminator measured worse there).
    cycle_weight, identity_weight : float
        ``unpaired`` only: weights of the cycle-consistency term (A -> B -> A gives A
        back, and B -> A -> B gives B) and of the identity term (an image already in
        the output domain is left as it is).
    patch_size, batch_size : int
        Training patches (pixels per edge of the output) and patches per step.
    features, depth : int
        U-Net width and number of downsamplings.
    d_features : int
        Discriminator width.
    learning_rate : float or None
        Adam learning rate of the networks (cosine-annealed over the budget). None:
        ``UNPAIRED_LEARNING_RATE`` (2e-4, CycleGAN's) for ``unpaired``, 1e-3 for the
        others; at 1e-3 the unpaired generators fell from 25.9 dB (150 s) to 19.9 dB
        (300 s) on ``bench/stain_transfer.py --trace 30`` (docs/benchmarks/translation.md).
    tile_size, tile_overlap : int
        Tiled prediction (output pixels).
    """

    task: str = "paired"
    scale: int = 2
    blur: float | None = None
    noise: float = 0.0
    adversarial_weight: float = 0.01
    cycle_weight: float = 1.0
    identity_weight: float = 0.5
    patch_size: int = 64
    batch_size: int = 8
    features: int = 32
    depth: int = 3
    d_features: int = 32
    learning_rate: float | None = None
    tile_size: int = 256
    tile_overlap: int = 32

    def __post_init__(self):
        if self.task not in TASKS:
            raise InputError(f"task must be one of {TASKS}, got {self.task!r}")
        if self.scale not in (2, 4) or isinstance(self.scale, bool):
            raise InputError(f"scale must be 2 or 4, got {self.scale!r}")
        if self.blur is not None and not self.blur >= 0:
            raise InputError(f"blur must be a Gaussian sigma >= 0 or None, got {self.blur!r}")
        if not self.noise >= 0:
            raise InputError(f"noise must be >= 0, got {self.noise!r}")
        if not self.adversarial_weight >= 0:
            raise InputError(f"adversarial_weight must be >= 0, got {self.adversarial_weight!r}")
        for name in ("cycle_weight", "identity_weight"):
            if not getattr(self, name) >= 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.task == "unpaired" and not self.adversarial_weight > 0:
            raise InputError(
                "task='unpaired' learns what B looks like only from its discriminators: adversarial_weight must be > 0"
            )
        check_positive_ints(
            self, ("patch_size", "batch_size", "features", "depth", "d_features", "tile_size"), InputError
        )
        if self.patch_size < 16:
            raise InputError(f"patch_size must be at least 16, got {self.patch_size}")
        if not 0 <= self.tile_overlap < self.tile_size:
            raise InputError("tile_overlap must be >= 0 and smaller than tile_size")
        if self.learning_rate is not None and not self.learning_rate > 0:
            raise InputError(f"learning_rate must be positive (or None: the task's default), got {self.learning_rate}")

    @property
    def lr(self) -> float:
        """The learning rate actually used (the task's default filled in)."""
        if self.learning_rate is None:
            return UNPAIRED_LEARNING_RATE if self.task == "unpaired" else DEFAULT_LEARNING_RATE
        return float(self.learning_rate)

    @property
    def sigma(self) -> float:
        """The blur actually used (the deblur default filled in)."""
        if self.blur is None:
            return DEFAULT_DEBLUR_SIGMA if self.task == "deblur" else 0.0
        return float(self.blur)
