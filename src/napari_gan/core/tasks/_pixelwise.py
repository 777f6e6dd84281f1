"""What the pixel-wise recognition tasks (Segmenter, SpotDetector) share: turning an
image and an annotation of its spatial shape into network layout, per-channel
normalisation, and tiled prediction of per-pixel maps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..axes import check_axes, default_axes, spatial_dims, to_ncs
from ..data import Normalization, as_array, check_finite, lazy_or_array, read_array
from ..errors import InputError
from ..tiling import predict_tiled


def annotation_axes(axes: str) -> str:
    """The axes of an annotation (labels, points) of an image with ``axes``: no C."""
    return axes.replace("C", "")


@dataclass(frozen=True)
class ChannelNorm:
    """Percentile normalisation of each channel separately (fluorescence channels
    differ in brightness by orders of magnitude)."""

    norms: tuple[Normalization, ...]

    @classmethod
    def fit(cls, x: np.ndarray, *, name: str = "image") -> ChannelNorm:
        """``x``: (N, C, *spatial). A constant channel next to informative ones is kept
        (scaled by 1) rather than refused; an image that is constant throughout is refused."""
        norms = []
        for c in range(x.shape[1]):
            try:
                norms.append(Normalization.fit(x[:, c], name=name))
            except InputError:
                norms.append(None)
        if all(n is None for n in norms):
            Normalization.fit(x, name=name)  # raises the "constant image" message
        norms = [
            n if n is not None else Normalization(float(x[:, c].min()), float(x[:, c].min()) + 1.0)
            for c, n in enumerate(norms)
        ]
        return cls(tuple(norms))

    def apply(self, x: np.ndarray) -> np.ndarray:
        out = np.empty(x.shape, dtype=np.float32)
        for c, n in enumerate(self.norms):
            out[:, c] = n.apply(x[:, c])
        return out

    def invert(self, x: np.ndarray) -> np.ndarray:
        """(N, C, ...) in normalised units -> original intensities."""
        out = np.empty(x.shape, dtype=np.float32)
        for c, n in enumerate(self.norms):
            out[:, c] = n.invert(x[:, c])
        return out

    def spans(self) -> np.ndarray:
        """(C,) float32: one normalised unit of each channel in original intensities."""
        return np.array([n.high - n.low for n in self.norms], dtype=np.float32)

    def to_state(self) -> list[list[float]]:
        """JSON-ready ``[[low, high], ...]`` for a checkpoint."""
        return [[n.low, n.high] for n in self.norms]

    @classmethod
    def from_state(cls, state) -> ChannelNorm:
        return cls(tuple(Normalization(float(a), float(b)) for a, b in state))


def prepare_image(image, axes: str | None, *, name: str = "image") -> tuple[np.ndarray, str]:
    """Validate ``image`` and return it as float-ready (N, C, *spatial) with its axes."""
    arr = as_array(image, name=name)
    check_finite(arr, name=name)
    axes = check_axes(axes, arr.shape) if axes is not None else default_axes(arr.shape)
    return to_ncs(arr, axes), axes


def annotation_shape(image_shape: tuple[int, ...], axes: str) -> tuple[int, ...]:
    return tuple(s for s, a in zip(image_shape, axes) if a != "C")


def prepare_labels(labels, image_shape: tuple[int, ...], axes: str, *, name: str = "labels") -> np.ndarray:
    """Validate an integer annotation of the image's non-channel shape; returns (N, 1, *spatial) int64."""
    if labels is None:
        raise InputError(f"{name} is None: give an annotation of the image's shape")
    lab = read_array(labels, name=name)
    want = annotation_shape(image_shape, axes)
    if lab.dtype.kind == "b":
        lab = lab.astype(np.uint8)
    if lab.dtype.kind == "f":
        raise InputError(
            f"{name} have floating-point dtype {lab.dtype}; labels must be integers "
            "(0 = not annotated / background, 1, 2, ... = classes or objects)"
        )
    if lab.dtype.kind not in "ui":
        raise InputError(f"{name} have unsupported dtype {lab.dtype}; use an integer Labels layer")
    if lab.shape != want:
        raise InputError(
            f"{name} have shape {lab.shape} but the image (axes {axes!r}, shape {image_shape}) needs {want}"
        )
    if lab.size and lab.min() < 0:
        raise InputError(f"{name} contain negative values; use 0 for unannotated and positive ids")
    return to_ncs(lab.astype(np.int64, copy=False), annotation_axes(axes))


def prepare_region(region, image_shape: tuple[int, ...], axes: str) -> np.ndarray | None:
    """``region``: None, a boolean mask of the annotation's shape, or a tuple of slices.

    Returns (N, 1, *spatial) bool, or None for "everywhere"."""
    if region is None:
        return None
    want = annotation_shape(image_shape, axes)
    if isinstance(region, tuple) and all(isinstance(s, slice) for s in region):
        mask = np.zeros(want, dtype=bool)
        mask[region] = True
    else:
        mask = read_array(region, name="region")
        if mask.shape != want:
            raise InputError(f"region has shape {mask.shape} but the annotation needs {want}")
        mask = mask.astype(bool)
    if not mask.any():
        raise InputError("the training region is empty: draw or give a region that covers annotated pixels")
    return to_ncs(mask, annotation_axes(axes))


def prediction_input(image, axes: str | None, model) -> tuple[object, object, str, bool]:
    """Check an image against a trained model before prediction.

    Returns ``(arr, src, axes, lazy)``: the array (numpy, or dask for lazy inputs,
    which stay unread), its (N, C, *spatial) view, the resolved axes (default: the
    training axes when the number of dimensions agrees) and whether it is lazy.
    """
    arr, lazy = lazy_or_array(image)
    if arr.dtype.kind not in "uif":
        raise InputError(f"image has unsupported dtype {arr.dtype}; use an integer or floating-point image")
    if axes is None:
        axes = model.axes if model.axes and len(model.axes) == arr.ndim else default_axes(arr.shape)
    axes = check_axes(axes, arr.shape)
    cfg, kind = model.net.config, type(model).__name__
    if spatial_dims(axes) != cfg.dims:
        raise InputError(f"this {kind} is {cfg.dims}D but axes {axes!r} describe {spatial_dims(axes)}D data")
    src = to_ncs(arr, axes)
    if src.shape[1] != cfg.in_channels:
        raise InputError(f"this {kind} expects {cfg.in_channels} channel(s), the image has {src.shape[1]}")
    if not lazy:  # lazy arrays are not scanned for NaNs: that would read them whole once more
        check_finite(arr, name="image")
    return arr, src, axes, lazy


def predict_maps(
    net: torch.nn.Module,
    src,
    *,
    device: str,
    activation,
    tile: int,
    overlap: int,
    batch_size: int = 2,
    progress=None,
) -> np.ndarray:
    """Per-pixel maps of ``net`` over ``src`` (N, C, *spatial), tile by tile.

    ``activation`` turns raw network output of a batch into the maps to blend (e.g.
    a softmax), so the overlaps average probabilities, not logits. Each tile is
    normalised with per-image channel percentiles computed once here.
    """
    cfg = net.config
    sample = src if isinstance(src, np.ndarray) else strided_sample(src)
    norm = ChannelNorm.fit(np.asarray(sample, dtype=np.float32))
    fmt = torch.channels_last if cfg.dims == 2 else torch.channels_last_3d
    net = net.to(device).eval().to(memory_format=fmt)

    def fn(batch):
        with torch.inference_mode():
            t = torch.from_numpy(norm.apply(batch)).to(device).contiguous(memory_format=fmt)
            return activation(net(t)).float().contiguous().cpu().numpy()

    out_channels = activation(torch.zeros((1, cfg.out_channels) + (1,) * cfg.dims)).shape[1]
    t = tile if cfg.dims == 2 else min(tile, 64)
    return predict_tiled(
        src,
        fn,
        out_channels=out_channels,
        tile=(t,) * cfg.dims,
        overlap=min(overlap, t // 4),
        multiple=net.multiple,
        batch_size=batch_size,
        progress=progress,
    )


def strided_sample(arr, max_pixels: int = 4_000_000) -> np.ndarray:
    """A strided subsample of a (N, C, *spatial) array, enough for percentiles."""
    stride = max(1, int((arr.size / max_pixels) ** (1 / max(1, arr.ndim - 2))) + 1) if arr.size > max_pixels else 1
    sub = arr[(slice(None), slice(None)) + (slice(None, None, stride),) * (arr.ndim - 2)]
    return np.asarray(sub.compute() if hasattr(sub, "compute") else sub)


def intensity_jitter(x: torch.Tensor, gen: torch.Generator, *, gain: float = 1.25, shift: float = 0.1):
    """Random per-patch contrast and brightness change, so the model does not depend
    on the exact percentile normalisation of the one image it was trained on."""
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    g = torch.exp((torch.rand(shape, generator=gen) * 2 - 1) * np.log(gain)).to(x.device)
    s = ((torch.rand(shape, generator=gen) * 2 - 1) * shift).to(x.device)
    return x * g + s


def dims_of(axes: str) -> int:
    return spatial_dims(axes)


def appearance_jitter(
    x: torch.Tensor, gen: torch.Generator, *, scale: float, p_blur: float = 0.3, p_noise: float = 0.3
):
    """What varies between real images and between parts of one (B, C, *spatial), on top
    of :func:`intensity_jitter` (``SegmenterConfig.vary_appearance``; off by default,
    as it measured worse on real images, see there):

    * brightness that varies several-fold between neighbouring objects: a smooth random
      gain field (up to about 2x either way, one value every ``2 * scale`` pixels,
      ``scale`` being the typical object radius), applied above each patch's
      background level so the background stays where it is;
    * defocus: with probability ``p_blur`` a Gaussian blur of sigma 0.5 to
      ``max(1, scale / 3)`` pixels;
    * noise: with probability ``p_noise`` Gaussian noise of up to 0.1 of the patch's
      standard deviation.
    """
    b, c, *spatial = x.shape
    dims = len(spatial)
    cells = [max(2, int(np.ceil(s / max(2.0 * scale, 4.0))) + 1) for s in spatial]
    field = torch.randn((b, 1, *cells), generator=gen) * (np.log(2.0) / 2)
    mode = "bilinear" if dims == 2 else "trilinear"
    gain = torch.exp(F.interpolate(field, size=tuple(spatial), mode=mode, align_corners=True)).to(x.device)
    flat = x.reshape(b, c, -1)
    floor = torch.quantile(flat.float(), 0.1, dim=2).reshape((b, c) + (1,) * dims)
    x = floor + (x - floor) * gain

    blur = torch.rand(b, generator=gen) < p_blur
    if blur.any():
        top = max(1.0, scale / 3)
        for i in torch.nonzero(blur).flatten().tolist():
            sigma = 0.5 + float(torch.rand(1, generator=gen)) * (top - 0.5)
            x[i] = _gaussian(x[i : i + 1], sigma)[0]
    noisy = (torch.rand(b, generator=gen) < p_noise).to(x.device)
    if noisy.any():
        amount = (torch.rand((b,) + (1,) * (dims + 1), generator=gen) * 0.1).to(x.device)
        spread = flat.std(dim=2).reshape((b, c) + (1,) * dims)
        noise = torch.randn(x.shape, generator=gen).to(x.device) * amount * spread
        x = torch.where(noisy.reshape((b,) + (1,) * (dims + 1)), x + noise, x)
    return x


def _gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (1, C, *spatial), reflecting at the edges."""
    c, dims = x.shape[1], x.ndim - 2
    conv = F.conv2d if dims == 2 else F.conv3d
    for axis in range(dims):
        r = min(max(1, int(np.ceil(3 * sigma))), x.shape[2 + axis] - 1)  # reflect needs r < size
        t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
        k = torch.exp(-0.5 * (t / sigma) ** 2)
        shape = [1] * dims
        shape[axis] = 2 * r + 1
        pad = [0, 0] * dims  # F.pad lists the last axis first
        pad[2 * (dims - 1 - axis)] = pad[2 * (dims - 1 - axis) + 1] = r
        weight = (k / k.sum()).reshape(1, 1, *shape).repeat(c, *([1] * (dims + 1)))
        x = conv(F.pad(x, pad, mode="reflect"), weight, groups=c)
    return x
