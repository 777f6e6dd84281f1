"""How each model kind predicts one block of an image larger than memory: the
adapters that :func:`napari_gan.core.run.blocks.predict_blocks` calls through a
model's ``block_predictor`` (the dask machinery knows no model kind)."""

from __future__ import annotations

import numpy as np
import torch

from ..data import Normalization
from ..errors import InputError
from ..run.blocks import BlockPredictor, round_up
from ..tiling import dihedral_stack, predict_tiled
from ._instances import _instance_activation
from ._pixelwise import ChannelNorm, annotation_axes, strided_sample
from ._segment_config import OUTPUTS


def fit_sample(src, frame: int | None = None, max_pixels: int = 4_000_000) -> np.ndarray:
    """A strided subsample of (N, C, *spatial) ``src`` (one frame, or all), as float32."""
    part = src if frame is None else src[frame : frame + 1]
    return np.asarray(strided_sample(part, max_pixels), dtype=np.float32)


class DenoiserBlocks(BlockPredictor):
    def __init__(self, model, src, axes, *, device, tile_size, tta: bool = False):
        super().__init__(model, src, axes, device=device, tile_size=tile_size)
        cfg = model.net.config
        self.tta, self.out_channels, self.out_axes = tta, cfg.out_channels, axes
        self.norm = Normalization.fit(fit_sample(src), name="image")
        self.fmt = torch.channels_last if cfg.dims == 2 else torch.channels_last_3d
        self.net = model.net.to(self.device).eval().to(memory_format=self.fmt)

    def __call__(self, block: np.ndarray, frame: int) -> np.ndarray:
        net, fmt, dev, norm = self.net, self.fmt, self.device, self.norm

        def fn(batch):
            with torch.inference_mode():
                t = torch.from_numpy(norm.apply(batch)).to(dev)
                if self.tta:
                    out = dihedral_stack(lambda ti: net(ti.contiguous(memory_format=fmt)).float(), t).mean(0)
                else:
                    out = net(t.contiguous(memory_format=fmt)).float()
                return out.contiguous().cpu().numpy()

        dims = net.config.dims
        t = self.tile_size or (self.model.config.tile_size if dims == 2 else 64)
        out = predict_tiled(
            block,
            fn,
            out_channels=self.out_channels,
            tile=(t,) * dims,
            overlap=min(self.model.config.tile_overlap, t // 4),
            multiple=net.multiple,
            batch_size=2,
        )
        return norm.invert(out)


class SegmenterBlocks(BlockPredictor):
    def __init__(self, model, src, axes, *, device, tile_size, output: str = "labels"):
        from ._pixelwise import ChannelNorm

        super().__init__(model, src, axes, device=device, tile_size=tile_size)
        if output not in OUTPUTS:
            raise InputError(f"output must be one of {OUTPUTS}, got {output!r}")
        self.output = output
        self.instance = model.mode == "instance"
        self.norm = ChannelNorm.fit(fit_sample(src))
        self.fmt = torch.channels_last if model.net.config.dims == 2 else torch.channels_last_3d
        self.net = model.net.to(self.device).eval().to(memory_format=self.fmt)
        self.out_axes = annotation_axes(axes)
        if output == "probabilities":
            self.out_channels = 3 if self.instance else model.net.config.out_channels
        else:
            self.out_channels, self.dtype = 1, np.dtype(np.int32)
        self.instances = output == "instances" or (self.instance and output == "labels")

    def halo(self) -> int:
        h = super().halo()
        if self.instances:
            # both blocks beside a border must see the whole of an object that straddles it
            radius = self.model.object_radius or 8.0
            h += round_up(3 * radius, self.model.net.multiple)
        return h

    def maps(self, block: np.ndarray) -> np.ndarray:
        net, fmt, dev, norm = self.net, self.fmt, self.device, self.norm
        activation = _instance_activation if self.instance else (lambda t: torch.softmax(t, 1))

        def fn(batch):
            with torch.inference_mode():
                t = torch.from_numpy(norm.apply(batch)).to(dev).contiguous(memory_format=fmt)
                return activation(net(t)).float().contiguous().cpu().numpy()

        dims = net.config.dims
        t = self.tile_size or self.model.config.tile_size
        t = t if dims == 2 else min(t, 64)
        channels = activation(torch.zeros((1, net.config.out_channels) + (1,) * dims)).shape[1]
        return predict_tiled(
            block,
            fn,
            out_channels=channels,
            tile=(t,) * dims,
            overlap=min(self.model.config.tile_overlap, t // 4),
            multiple=net.multiple,
            batch_size=2,
        )[0]

    def __call__(self, block: np.ndarray, frame: int) -> np.ndarray:
        model, maps = self.model, self.maps(block)
        if self.output == "probabilities":
            return maps[None, : self.out_channels]
        if self.instance and self.instances:
            lab = model._split(maps)
        elif self.instance:
            lab = np.where(maps[1] + maps[2] > 0.5, 2, 1)
        else:
            classes = maps.argmax(0) + 1
            lab = model._split_semantic(classes) if self.output == "instances" else classes
        return lab[None, None].astype(np.int32)


class TranslatorBlocks(BlockPredictor):
    def __init__(self, model, src, axes, *, device, tile_size):
        super().__init__(model, src, axes, device=device, tile_size=tile_size)
        spec = model._spec
        if spec.takes_mask:
            raise InputError("inpainting works on the bounding box of the holes; use predict(image, mask=...)")
        if "Z" in axes:
            raise InputError(f"axes {axes!r}: the Translator works on 2D frames; use S or T for the leading axis")
        spec.check_channels(model, src.shape[1])
        self.g = spec.generator(model).to(self.device).eval()
        # paired uses the training normalisation and colorize the dtype's range; the
        # others fit each frame's range, as predict does, here on the whole frame
        self.norms = None
        if model.task not in ("paired", "colorize"):
            self.norms = [ChannelNorm.fit(fit_sample(src, n)) for n in range(src.shape[0])]
        self.out_axes = spec.output_axes(model, axes)
        # the output's channels and size factor, from a block of the network's minimal size
        m = self.g.multiple
        probe = self(np.zeros((1, src.shape[1], m, m), dtype=src.dtype), 0)
        self.out_channels, self.scale = probe.shape[1], probe.shape[-1] // m

    def _net(self):
        return self.g

    def __call__(self, block: np.ndarray, frame: int) -> np.ndarray:
        norm = None if self.norms is None else self.norms[frame]
        out, _ = self.model._predict_frame(block[0], None, self.g, self.device, self.tile_size, False, None, norm)
        return out[None]
