"""task="inpaint": learn to fill holes from the image itself, with random masks drawn
over training patches; the generator's residual is added to a classical fill of the
hole (:mod:`.fills`). ``predict`` can instead continue the surrounding texture from
the image's own patches (:func:`napari_gan.core.patchfill.patch_fill`)."""

from __future__ import annotations

import numpy as np
import torch

from ...axes import to_ncs
from ...data import read_array
from ...errors import InputError
from ...patchfill import patch_fill
from .._pixelwise import ChannelNorm
from .common import Task
from .fills import classical_fill

#: how ``predict`` fills holes: continue the surrounding texture from the image's own
#: patches (object removal), or the smooth least-squares estimate
FILLS = ("texture", "smooth")
#: pixels of context around the holes' bounding box that inpainting computes on (more
#: than the U-Net's reach at the default depth and the 64 px training patches)
_INPAINT_MARGIN = 96


def random_masks(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 1, size, size) float32 hole masks (1 = hole): free-form strokes and boxes
    covering roughly 5-35% of each patch."""
    from skimage.draw import disk, rectangle

    masks = np.zeros((n, 1, size, size), dtype=np.float32)
    for i in range(n):
        m = masks[i, 0]
        target = rng.uniform(0.05, 0.35) * size * size
        while m.sum() < target:
            if rng.random() < 0.4:
                h, w = rng.integers(size // 8, size // 2, 2)
                y, x = rng.integers(0, size - h), rng.integers(0, size - w)
                rr, cc = rectangle((y, x), extent=(h, w), shape=m.shape)
                m[rr, cc] = 1
            else:  # a stroke: a random walk of disks
                y, x = rng.uniform(0, size, 2)
                radius = rng.uniform(1.5, size / 10)
                angle = rng.uniform(0, 2 * np.pi)
                for _ in range(int(rng.integers(4, 12))):
                    angle += rng.normal(0, 0.6)
                    for _ in range(int(radius) + 2):
                        y = float(np.clip(y + np.sin(angle), 0, size - 1))
                        x = float(np.clip(x + np.cos(angle), 0, size - 1))
                        rr, cc = disk((y, x), radius, shape=m.shape)
                        m[rr, cc] = 1
    return masks


def known_norm(frame: np.ndarray, hole: np.ndarray) -> ChannelNorm:
    """The intensity normalisation of a (C, Y, X) frame from its known pixels only:
    what is in the hole (the object to remove, or zeros) must not set the scale the
    network sees, which it learnt from the whole training image. With zeros in holes
    covering a sixth of a 384 px brick crop, the smooth fill of two of four 60 s
    trainings fell to 8-15 dB in the holes (18.8-20.8 dB with this scale)."""
    return ChannelNorm.fit(frame[:, ~hole][None], name="image")


class InpaintTask(Task):
    name = "inpaint"
    takes_mask = True
    # missing values are what a hole often is: say how to fill them
    nonfinite_hint = (
        ". To fill missing pixels, the texture fill needs no training at all: in the Image-to-image "
        "widget, choose inpaint, the texture fill and no mask, and press Predict; in Python, "
        "Translator(task='inpaint').predict(image, mask=~np.isfinite(image))"
    )

    def batch(self, model, crops, rng, gen):
        y = crops[0]
        bs, p = y.shape[0], y.shape[-1]
        hole = torch.from_numpy(random_masks(bs, p, rng))
        holes = hole[:, 0].numpy() > 0
        filled = torch.from_numpy(np.stack([classical_fill(y[b].numpy(), holes[b], model.fill) for b in range(bs)]))
        return torch.cat([filled, hole], 1), y, hole

    def net_channels(self, model):
        return model.channels + 1, model.channels

    def base(self, model, inp):
        return inp[:, :-1]  # the classical fill; the last channel is the hole mask

    # -- inference ------------------------------------------------------------------
    def holes(self, model, mask, shape, axes) -> np.ndarray:
        if mask is None:
            raise InputError("inpainting needs mask=: a boolean array, True where the image should be filled")
        m = read_array(mask, name="mask")  # lazy masks read only if they fit; ragged lists refused
        want = tuple(s for s, a in zip(shape, axes) if a != "C")
        spatial = tuple(s for s, a in zip(shape, axes) if a in "YX")
        if m.shape == spatial and m.shape != want:  # one (Y, X) mask for every frame of a stack
            m = np.broadcast_to(m, want)
        if m.shape != want:
            raise InputError(
                f"mask has shape {m.shape} but the image (axes {axes!r}) needs {want}"
                + (f", or {spatial} for the same hole in every frame" if spatial != want else "")
            )
        if m.dtype.kind == "f":
            raise InputError("mask is floating point; give a boolean or integer mask (nonzero = fill)")
        m = m.astype(bool)
        if not m.any():
            raise InputError("the mask is empty: draw the region to fill (nonzero pixels) first")
        holes = to_ncs(m, axes.replace("C", ""))[:, 0]
        full = [i for i in range(holes.shape[0]) if holes[i].all()]
        if full:
            raise InputError(
                "the mask covers the whole image"
                + (f" (frame {full[0]})" if holes.shape[0] > 1 else "")
                + ": inpainting needs known pixels around the hole"
            )
        return holes

    def fill_frame(self, model, frame, hole, *, fill, seed, g, dev, tile_size, tta, progress):
        if fill == "texture":
            return self.texture_frame(frame, hole, seed, tta)
        return self.smooth_frame(model, frame, hole, g, dev, tile_size, tta, progress)

    @staticmethod
    def texture_frame(frame, hole, seed, want_error):
        """Fill one (C, Y, X) frame's holes with texture from its own patches."""
        frame = frame.astype(np.float32, copy=False)
        norm = known_norm(frame, hole)
        x = norm.apply(frame[None])[0]
        filled, error = patch_fill(x, hole, seed=seed, return_error=True)
        out = np.where(hole[None], norm.invert(filled[None])[0], frame).astype(np.float32)
        spread = (error * norm.spans().mean()).astype(np.float32) if want_error else None
        return out, spread

    def smooth_frame(self, model, frame, hole, g, dev, tile_size, tta, progress):
        """Inpaint one (C, Y, X) frame: only the bounding box of its holes plus a margin of
        context (the fill and the network see no further) is computed, so a small object
        in a large image costs little. The image's own intensity scale is used."""
        frame = frame.astype(np.float32, copy=False)
        margin = _INPAINT_MARGIN
        ys, xs = np.nonzero(hole)
        y0, y1 = max(int(ys.min()) - margin, 0), min(int(ys.max()) + 1 + margin, hole.shape[0])
        x0, x1 = max(int(xs.min()) - margin, 0), min(int(xs.max()) + 1 + margin, hole.shape[1])
        norm = known_norm(frame, hole)
        box = (slice(None), slice(y0, y1), slice(x0, x1))
        part, spread_part = model._predict_frame(frame[box], hole[box[1:]], g, dev, tile_size, tta, progress, norm)
        out = frame.copy()
        out[box] = part
        spread = None
        if spread_part is not None:
            spread = np.zeros(hole.shape, dtype=np.float32)
            spread[box[1:]] = spread_part
        return out, spread

    def net_input(self, model, frame, hole, norm):
        x, norm = super().net_input(model, frame, hole, norm)
        filled = classical_fill(x, hole, model.fill)
        return np.concatenate([filled, hole[None].astype(np.float32)]), norm

    def finish(self, model, frame, hole, net_in, pred, std, norm):
        out, spread = super().finish(model, frame, hole, net_in, pred, std, norm)
        out = np.where(hole[None], out, frame.astype(np.float32, copy=False))
        if spread is not None:
            spread = np.where(hole, spread, 0).astype(np.float32)
        return out.astype(np.float32), spread

    def degrade(self, model, arr, axes):
        out, _ = super().degrade(model, arr, axes)
        spatial = [s for s, a in zip(arr.shape, axes) if a != "C"]
        hole = np.zeros(spatial, dtype=bool)
        h, w = spatial[-2:]
        hole[..., h * 3 // 8 : h * 5 // 8, w * 3 // 8 : w * 5 // 8] = True
        return out, hole
