"""Drawing images from a trained :class:`~napari_gan.core.tasks.generate.ImageGAN`:
latents and classes from a seed, the averaged generator's standing statistics, the
decoding into the data's range (texture mode: any size, optionally refined with the
example's patches), latent walks, and the checks of what is asked for."""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.transform import resize

from ..data import check_memory
from ..errors import InputError
from ._gan_losses import standing_statistics
from ._gan_pyramid import add_detail
from ._gan_texture import _MARGIN, field_cells, refine_bytes, texture_pass
from ._gan_texture import refine as refine_texture

# batches of latents (and their seed) from which the averaged generator's batch-norm
# statistics are computed before it generates (ImageGAN._refresh_statistics)
_STANDING, _STANDING_SEED = 16, 2**31 - 1
#: progress steps per refined texture (its refinement takes seconds to minutes)
_REFINE_UNITS = 100


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_seed(seed, name: str) -> None:
    if not _is_int(seed):
        raise InputError(f"{name} must be an integer, got {seed!r}")


def _walk(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """A point between two Gaussian latents that stays Gaussian (unit variance):
    cos/sin weights, where a straight line would pass through low-norm latents."""
    angle = t * math.pi / 2
    return math.cos(angle) * a + math.sin(angle) * b


class GANSampling:
    """The generation half of :class:`~napari_gan.core.tasks.generate.ImageGAN` (a
    mixin: it reads the trained model's ``net``, ``net_config``, ``config``, ``shape``,
    ``channels``, range and class names)."""

    def _class_tensor(self, classes, n: int, seed: int) -> torch.Tensor | None:
        if self.class_names is None:
            if classes is not None:
                raise InputError("this ImageGAN was trained without classes; call generate() without classes=")
            return None
        k = len(self.class_names)
        if classes is None:  # one random class per image, from the seed
            return torch.randint(k, (n,), generator=torch.Generator().manual_seed(seed + 7919))
        many = isinstance(classes, (list, tuple, np.ndarray))
        labels = list(classes) if many else [classes] * n
        if len(labels) != n:
            raise InputError(f"classes must be one label or {n} labels, got {len(labels)}")
        out = []
        by_str = {str(v): i for i, v in enumerate(self.class_names)}
        for v in labels:
            v = v.item() if isinstance(v, np.generic) else v
            if v in self.class_names:
                out.append(self.class_names.index(v))
            elif str(v) in by_str:
                out.append(by_str[str(v)])
            else:
                raise InputError(f"unknown class {v!r}; this ImageGAN knows {self.class_names}")
        return torch.tensor(out, dtype=torch.int64)

    def _latents(self, n: int, seed: int, cells: tuple[int, int] | None = None) -> torch.Tensor:
        gen = torch.Generator().manual_seed(int(seed))
        if self.mode == "samples":
            return torch.randn(n, self.net_config.latent, generator=gen)
        return torch.randn(n, self.net_config.noise_channels, *cells, generator=gen)

    def _cells(self, size) -> tuple[tuple[int, int], tuple[int, int]]:
        if size is None:
            size = self.shape
        if _is_int(size):
            size = (size, size)
        if not isinstance(size, (tuple, list, np.ndarray)) or len(size) != 2 or not all(_is_int(v) for v in size):
            raise InputError(f"size must be (Y, X) with positive integer sizes, got {size!r}")
        size = tuple(int(v) for v in size)
        if min(size) < 1:
            raise InputError(f"size must be (Y, X) with positive sizes, got {size!r}")
        return size, field_cells(size, self.net_config)

    def _training_noise(self, n: int, dev, gen: torch.Generator | None = None) -> torch.Tensor:
        """Latents as training draws them: z (samples), or a noise field of a training
        crop plus its margin (texture); from torch's global generator, or ``gen``."""
        c = self.net_config
        if self.mode == "samples":
            shape = (n, c.latent)
        else:
            cells = self.config.crop_size // c.stride + 2 * _MARGIN
            shape = (n, c.noise_channels, cells, cells)
        return torch.randn(shape, device=dev) if gen is None else torch.randn(shape, generator=gen).to(dev)

    def _refresh_statistics(self, dev) -> None:
        """Give the averaged generator batch-norm statistics of its own weights
        (:func:`standing_statistics`) from ``_STANDING`` batches of latents drawn as
        in training, from a fixed seed so generation stays deterministic. Done
        before generating when the generator changed since (training, loading)."""
        if self._statistics_fresh:
            return
        gen = torch.Generator().manual_seed(_STANDING_SEED)
        bs, k = self.config.batch, len(self.class_names or ())

        def inputs():
            for _ in range(_STANDING):
                if self.mode == "samples":
                    y = torch.randint(k, (bs,), generator=gen).to(dev) if k else None
                    yield self._training_noise(bs, dev, gen), y
                else:
                    yield (self._training_noise(bs, dev, gen),)

        standing_statistics(self.net["generator_ema"], inputs())
        self._statistics_fresh = True

    @torch.no_grad()
    def _decode(
        self,
        z: torch.Tensor,
        y: torch.Tensor | None,
        size=None,
        progress=None,
        refine: bool | str = False,
        seed=0,
        walk: bool = False,
    ) -> np.ndarray:
        """Latents -> (n, Y, X[, C]) float32 in the data's range. ``walk``: samples
        made coarse to fine all get the detail noise of the first image (a latent
        walk's frames differ by their latents only)."""
        dev = self.device or "cpu"
        self._refresh_statistics(dev)
        g = self.net["generator_ema"].eval()
        outs = []
        n = z.shape[0]
        step = 64 if self.mode == "samples" else 1
        example = self.net["exemplar"].image.cpu().numpy() if refine else None
        # a refined texture reports its progress in hundredths of an image as it goes
        unit = _REFINE_UNITS if example is not None else 1
        for i in range(0, n, step):
            zi = z[i : i + step]
            within = None
            if progress is not None and example is not None:
                said = [-1]  # the layout's matching reports every step: pass on each hundredth once

                def within(fraction, i=i, said=said):
                    done = i * unit + min(unit - 1, int(fraction * unit))
                    if done != said[0]:
                        said[0] = done
                        progress(done, n * unit)

            if self.mode == "samples":
                yi = y[i : i + step].to(dev) if y is not None else None
                xi = g(zi.to(dev), yi)
                if self.pyramid is not None:  # coarse to fine, then the padding off
                    details = self.net["details_ema"].eval()
                    xi = self.pyramid.crop(add_detail(details, xi, seed, i, same=walk, labels=yi))
                outs.append(xi.float().cpu().numpy())
            else:
                s = int(seed) * 7919 + i
                if refine == "example":  # the layout from the example, not from the generator
                    out = refine_texture(example, None, seed=s, progress=within, size=size)[None]
                else:
                    out = texture_pass(g, zi, size, self.net_config, self.channels, dev)
                    if example is not None:
                        out = refine_texture(example, out[0], seed=s, progress=within)[None]
                outs.append(out)
            if progress is not None:
                progress(min(i + len(zi), n) * unit, n * unit)
        out = np.concatenate(outs)
        if self.mode == "samples" and tuple(out.shape[-2:]) != self.shape:
            out = np.stack([resize(im, (out.shape[1], *self.shape), order=1, anti_aliasing=True) for im in out])
        out = (np.clip(out, -1, 1) + 1) * np.float32((self.high - self.low) / 2) + np.float32(self.low)
        out = np.moveaxis(out.astype(np.float32, copy=False), 1, -1)
        return np.ascontiguousarray(out if self.has_channel_axis else out[..., 0])

    @property
    def can_refine(self) -> bool:
        """Texture mode: whether the model holds its example, for ``refine=True``
        (models saved before 2026-12-03 do not)."""
        return self.net is not None and "exemplar" in self.net

    def generate(
        self, n: int = 1, *, seed: int = 0, classes=None, size=None, progress=None, refine: bool | str | None = None
    ) -> np.ndarray:
        """Generate ``n`` new images.

        Parameters
        ----------
        n : int
            Number of images.
        seed : int
            The same seed gives the same images (the i-th image depends on the seed
            and on i only up to ``n``: use one call per set).
        classes : label or sequence of n labels, optional
            Class-conditional models: the class of every image (one label for all).
            None: random classes from the seed.
        size : int or (int, int), optional
            Texture mode: the output's (Y, X), any size (default: the training
            image's). Samples mode generates the training images' size.
        refine : bool, optional
            Texture mode: give the generator's layout the example's structure and
            detail (:func:`._gan_texture.refine`): the layout is reorganised by
            patch-distribution matching of the example at a quarter of the size,
            started from the generator's (:func:`._gan_texture.example_layout`;
            straight courses where the generator breaks a brick wall's; outputs over
            :data:`._gan_texture.LAYOUT_MAX` pixels per side keep the generator's
            layout), then patch synthesis (:func:`napari_gan.core.patchsynth.synthesize`)
            from it at a quarter of the size and the example's fine detail and patch
            statistics (:func:`napari_gan.core.patchdist.polish`). Sharp stones,
            blades and joints where the generator alone gives blurred blobs; the
            detail is made of pieces of the example, so at the scale of a patch it
            copies (docs/benchmarks/textures.md). About 45 s per 256 x 256 image
            on 2 CPU cores (2026-12-07; before the polish's 60 steps, 40 s, and
            10 s with the generator's layout kept: ``bench/texture_layout.py``
            prints both); larger ones are refined in tiles (about 2 GB of memory
            whatever the size;
            ``bench/texture_large.py``). None (default): True when the model holds
            its example (:attr:`can_refine`). ``"example"``: the same, with the
            matching started from noise, not from the generator's layout, at any size.
        progress : callable, optional
            Called with (done, total) after every image; while a texture is refined,
            also as the refinement goes, in hundredths of an image (``total`` is
            then 100 per image).

        Returns
        -------
        ndarray of float32, shape (n, Y, X) or (n, Y, X, C)
            In the training data's intensity range (de-normalised).
        """
        self._require_fitted()
        n = self._check_n(n)
        _check_seed(seed, "seed")
        if self.mode == "samples":
            self._check_output(n, self.shape)
            if size is not None and tuple(np.atleast_1d(size)) not in (self.shape, (self.shape[0],)):
                raise InputError(
                    f"samples mode generates images of the training size {self.shape}; size= is for texture mode"
                )
            return self._decode(
                self._latents(n, seed), self._class_tensor(classes, n, seed), progress=progress, seed=seed
            )
        if classes is not None:
            raise InputError("texture mode has no classes")
        if refine is None:
            refine = self.can_refine
        elif not (isinstance(refine, bool) or refine == "example"):
            raise InputError(f"refine must be True, False or 'example', got {refine!r}")
        elif refine and not self.can_refine:
            raise InputError("this model does not hold its example image (saved before 2026-12-03); use refine=False")
        size, cells = self._cells(size)
        self._check_output(n, size)
        if refine:  # the refinement works in tiles; the whole texture's arrays come on top
            check_memory(
                refine_bytes(size, self.channels),
                what=f"refining a {size[0]} x {size[1]} texture",
                hint="generate it smaller, or without refinement, which needs less (refine=False; "
                "in napari Texture detail: generator only; napari-gan generate --detail generator)",
            )
        return self._decode(self._latents(n, seed, cells), None, size, progress=progress, refine=refine, seed=seed)

    def interpolate(self, n: int, seed_a: int = 0, seed_b: int = 1, *, classes=None, size=None) -> np.ndarray:
        """A latent walk: ``n`` images going smoothly from ``generate(1, seed=seed_a)``
        to ``generate(1, seed=seed_b)`` (same ``classes`` / ``size``).

        Returns
        -------
        ndarray of float32, shape (n, Y, X[, C])
            Frame 0 is seed_a's image, frame n-1 seed_b's (samples larger than 32
            pixels: seed_b's layout with the fine detail noise of seed_a, which every
            frame shares).
        """
        self._require_fitted()
        n = self._check_n(n)
        _check_seed(seed_a, "seed_a")
        _check_seed(seed_b, "seed_b")
        if self.mode == "samples":
            self._check_output(n, self.shape)
            za, zb = self._latents(1, seed_a), self._latents(1, seed_b)
            ya = self._class_tensor(classes, 1, seed_a)
            y = ya.repeat(n) if ya is not None else None
            size_ = None
        else:
            if classes is not None:
                raise InputError("texture mode has no classes")
            size_, cells = self._cells(size)
            self._check_output(n, size_)
            za, zb = self._latents(1, seed_a, cells), self._latents(1, seed_b, cells)
            y = None
        ts = np.linspace(0, 1, n) if n > 1 else [0.0]
        z = torch.cat([_walk(za, zb, float(t)) for t in ts])
        return self._decode(z, y, size_, seed=seed_a, walk=True)

    @staticmethod
    def _check_n(n) -> int:
        if not _is_int(n) or n < 1:
            raise InputError(f"n must be a positive integer, got {n!r}")
        return int(n)

    def _check_output(self, n: int, size) -> None:
        # the float32 result alone; the generator's activations for one image come on top
        check_memory(
            4.0 * n * size[0] * size[1] * self.channels,
            what=f"{n} generated image(s) of {size[0]} x {size[1]} pixels",
            hint="generate fewer or smaller images at a time",
        )
