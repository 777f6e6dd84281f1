"""The prediction half of the :class:`~.model.Translator`: tiled prediction of an
image or stack frame by frame (with a hole mask, a region, a direction, the four-flip
spread), block prediction of arrays larger than memory, results in the image's own
dtype, and ``degrade`` (what the model learns to undo)."""

from __future__ import annotations

import numpy as np
import torch

from ...axes import check_axes, default_axes, from_ncs, to_ncs
from ...data import as_array, check_finite, lazy_or_array
from ...dtypes import cast_image, output_dtype, source_dtype
from ...errors import InputError
from ...run.blocks import is_dask_array, predict_blocks
from ...tiling import dihedral_stack
from ...training import resolve_device
from .._blocks import TranslatorBlocks
from .common import predict_frame_tiled, region_weights
from .inpaint import FILLS
from .unpaired import DIRECTIONS

#: tasks whose result is in the input image's own intensity units (``dtype="input"``)
SAME_UNITS = ("superres", "deblur", "inpaint")


class TranslatorPrediction:
    """Mixin of :class:`~.model.Translator`: it reads the trained model's ``net``,
    ``config``, task spec (``_spec``) and ``_forward``."""

    # -- inference ------------------------------------------------------------------
    def block_predictor(self, src, axes: str, *, device=None, tile_size=None, **options) -> TranslatorBlocks:
        """What :func:`~napari_gan.core.run.blocks.predict_blocks` predicts a block of ``src`` with."""
        return TranslatorBlocks(self, src, axes, device=device, tile_size=tile_size, **options)

    def predict(
        self,
        image,
        *,
        mask=None,
        fill: str = "texture",
        axes: str | None = None,
        region=None,
        direction: str = "a2b",
        return_uncertainty: bool = False,
        device: str | None = None,
        tile_size: int | None = None,
        seed: int = 0,
        dtype="float32",
        progress=None,
    ):
        """Translate ``image`` tile by tile (stacks frame by frame).

        Parameters
        ----------
        image : array-like (numpy or dask), any size
            ``superres``/``deblur``/``inpaint``/``paired``: an image with the training
            channels. ``colorize``: a grayscale image (integers, or floats in [0, 1]).
            ``unpaired``: an image of domain A (of B with ``direction="b2a"``).
        mask : bool array-like, the image's shape without C
            ``inpaint`` only: True where to fill. Other pixels are returned unchanged.
            On a stack, a (Y, X) mask is the same hole in every frame.
            The image's values under the mask are never read and may be NaN.
        fill : {"texture", "smooth"}
            ``inpaint`` only. ``"texture"`` (default, for removing objects): the hole
            continues the surrounding texture, built coarse to fine from the image's
            own patches, then blended so that pieces copied from places of different
            brightness meet without a step (:func:`napari_gan.core.patchfill.patch_fill`;
            the network is not used, so an untrained ``Translator(task="inpaint")``
            fills too, in the image's own channels). ``"smooth"``: the classical spline fill plus the trained
            network's correction: the best estimate on average (highest PSNR), which
            looks like a smear where the image is textured.
        axes : str, optional
            Letters from ``STCYX``; default by shape.
        region : bool or integer array-like, the image's shape without C, optional
            ``colorize`` and ``unpaired`` only: translate only here (e.g. a Labels
            layer's objects: nonzero = inside) and keep the rest of the image as it
            is (``colorize``: gray), with an edge softened over a pixel or two.
            ``unpaired``: the pixels outside keep the input's own values, so A and B
            should share intensity units (as two stainings in 8-bit RGB do).
        direction : {"a2b", "b2a"}
            ``unpaired`` only: translate an A image into B (default) or a B image
            into A.
        return_uncertainty : bool
            Also return the spread (standard deviation) of the predictions over the
            four flips of each tile: where it is high the model is unsure, or
            inventing detail. The prediction is then the mean over the flips. With
            ``fill="texture"``: how far each filled pixel's patches are from the
            known patches they were built from (0 outside the hole). ``unpaired``:
            instead a change map: the cycle error ``|x - back(there(x))|`` (mean
            over channels, Gaussian-smoothed over 2 pixels, in the input's
            intensity units), high where the model changed content (invented or
            removed structure) rather than colour, which translating back undoes.
        device, tile_size, seed, progress
            Device (default: the training device), output tile edge, the seed of the
            texture fill's random search (same seed, same fill), and a callable
            ``progress(done, total)``.
        dtype : {"float32", "input"} or numpy dtype
            ``"input"`` (``superres``, ``deblur``, ``inpaint``, whose result is in the
            image's own units): an 8/16-bit (any integer) image comes back in its own
            dtype, clipped to its range and rounded. A numpy integer dtype does the
            same for any task but ``colorize`` (RGB in [0, 1]). Default float32.

        Returns
        -------
        out : ndarray, float32
            ``superres``: the image's shape with Y and X times ``scale``.
            ``colorize``: RGB in [0, 1], the image's shape plus a last axis of 3.
            ``paired``: the target's channels. Otherwise the image's shape.
        uncertainty : ndarray, float32, only with ``return_uncertainty``
            The output's shape without channels (mean spread over channels, in output
            units; ``unpaired``: the change map, in the input's units).
        """
        task, spec = self.task, self._spec
        if fill not in FILLS:  # before anything else: a typo is not a missing model
            raise InputError(f"fill must be one of {FILLS}, got {fill!r}")
        # the texture fill reads only the image's own patches: it needs no training
        texture_only = task == "inpaint" and fill == "texture" and not self.is_fitted
        if not texture_only:
            self._require_fitted()
        if not (isinstance(dtype, str) and dtype == "float32"):
            want = output_dtype(dtype, source_dtype(image))
            if isinstance(dtype, str) and dtype == "input" and task not in SAME_UNITS and want.kind != "f":
                raise InputError(
                    f"dtype='input': the {task!r} result is not in the image's units; give a numpy dtype or float32"
                )
            if task == "colorize" and want.kind != "f":
                raise InputError("dtype: colorize returns RGB in [0, 1]; it can only be a float type")
            result = self.predict(
                image,
                mask=mask,
                fill=fill,
                axes=axes,
                region=region,
                direction=direction,
                return_uncertainty=return_uncertainty,
                device=device,
                tile_size=tile_size,
                seed=seed,
                progress=progress,
            )
            if return_uncertainty:
                return cast_image(result[0], want), result[1]
            return cast_image(result, want)

        if direction not in DIRECTIONS:
            raise InputError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        if direction != "a2b" and task != "unpaired":
            raise InputError(f"direction is only used by task='unpaired', not {task!r}")
        one_way = task != "unpaired" or (direction == "a2b" and not return_uncertainty)
        plain = mask is None and region is None and not return_uncertainty and not spec.takes_mask
        if is_dask_array(image) and plain and one_way:
            # lazy in, lazy out: block by block with a halo
            return predict_blocks(self, image, axes=axes, device=device, tile_size=tile_size, progress=progress)
        if mask is not None and not spec.takes_mask:
            raise InputError(f"mask is only used by task='inpaint', not {task!r}")
        if region is not None and not spec.takes_region:
            raise InputError(f"region is only used by task='colorize' and task='unpaired', not {task!r}")
        arr, lazy = lazy_or_array(image)
        if arr.dtype.kind not in "uif":
            raise InputError(f"image has unsupported dtype {arr.dtype}; use an integer or floating-point image")
        if axes is None:
            axes = spec.default_axes(self, arr.ndim) or default_axes(arr.shape)
        axes = check_axes(axes, arr.shape)
        if "Z" in axes:
            raise InputError(f"axes {axes!r}: the Translator works on 2D frames; use S or T for the leading axis")
        src = to_ncs(arr, axes)
        if not texture_only:
            spec.check_channels(self, src.shape[1])
        holes = spec.holes(self, mask, arr.shape, axes)
        if not lazy and arr.dtype.kind == "f":
            # inpainting: missing values (NaN) are what a hole may mark; they are never read
            check_finite(arr if holes is None else np.where(holes[:, None], 0, src), name="image")
        weights = None if region is None else region_weights(region, arr.shape, axes)
        dev = resolve_device(device or self.device or "auto")
        g = None if texture_only else self.net["g"].to(dev).eval()
        n_frames = src.shape[0]
        outs, spreads = [], []
        for n in range(n_frames):
            frame = np.asarray(src[n])  # colorize needs the dtype to find the intensity range
            if holes is not None and frame.dtype.kind == "f":
                frame = np.where(holes[n][None], 0, frame).astype(frame.dtype, copy=False)
            frame_progress = None
            if progress is not None:

                def frame_progress(done, total, n=n):
                    progress(n * total + done, n_frames * total)

            hole = None if holes is None else holes[n]
            if task == "unpaired":
                out, spread = spec.translate_frame(
                    self,
                    frame,
                    direction=direction,
                    dev=dev,
                    tile_size=tile_size,
                    change=return_uncertainty,
                    progress=frame_progress,
                )
            elif hole is None:
                out, spread = self._predict_frame(frame, None, g, dev, tile_size, return_uncertainty, frame_progress)
            else:
                out, spread = spec.fill_frame(
                    self,
                    frame,
                    hole,
                    fill=fill,
                    seed=seed,
                    g=g,
                    dev=dev,
                    tile_size=tile_size,
                    tta=return_uncertainty,
                    progress=frame_progress,
                )
            if weights is not None:
                w = weights[n]
                out = w * out + (1 - w) * spec.unchanged(self, frame)
                spread = None if spread is None else spread * w
            outs.append(out)
            spreads.append(spread)
        out = np.stack(outs)  # (N, C, Y, X)
        out_axes = spec.output_axes(self, axes)
        result = from_ncs(out, out_axes).astype(np.float32, copy=False)
        if not return_uncertainty:
            return result
        spread = from_ncs(np.stack(spreads)[:, None], out_axes.replace("C", ""))
        return result, spread.astype(np.float32, copy=False)

    def degrade(self, image, *, axes: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """What the model learns to undo, applied to ``image`` (e.g. a training image):
        the model's input for it, and the hole mask (``inpaint``: a centred box) or None.

        ``superres``: mean of ``scale`` x ``scale`` blocks (Y and X cropped to a
        multiple of ``scale``); ``deblur``: the Gaussian blur; ``colorize``: grayscale
        (Y, X, 3 -> Y, X); ``inpaint`` and ``paired``: the image itself. Previews and
        benchmarks compare ``predict(*degrade(x))`` with ``x``.
        """
        arr = as_array(image, name="image")
        axes = check_axes(axes or default_axes(arr.shape), arr.shape)
        return self._spec.degrade(self, arr, axes)

    def _predict_frame(self, frame, hole, g, dev, tile_size, tta, progress, norm=None):
        """One (C, Y, X) frame -> (C_out, Y', X') output and (Y', X') spread (or None).
        ``norm``: the intensity normalisation to use (default: fitted on ``frame``)."""
        spec, cfg = self._spec, self.config
        net_in, norm = spec.net_input(self, frame, hole, norm)
        _, cout = spec.net_channels(self)
        fmt = torch.channels_last

        def forward(t):  # the classical estimate plus ``g``'s residual
            t = t.contiguous(memory_format=fmt)
            return spec.base(self, t) + g(t)

        def fn(batch):
            with torch.inference_mode():
                t = torch.from_numpy(batch).to(dev)
                if not tta:
                    return forward(t).float().contiguous().cpu().numpy()
                stack = dihedral_stack(forward, t, 4)
                return torch.cat([stack.mean(0), stack.std(0)], 1).float().contiguous().cpu().numpy()

        maps = predict_frame_tiled(
            cfg,
            net_in[None],
            fn,
            out_channels=cout * (2 if tta else 1),
            multiple=g.multiple,
            tile_size=tile_size,
            progress=progress,
        )
        pred, std = maps[:cout], (maps[cout:] if tta else None)
        return spec.finish(self, frame, hole, net_in, pred, std, norm)
