"""Checkpoints: one safetensors file holding the weights plus JSON metadata.

safetensors stores raw tensors and a string->string header, so loading runs no
code (unlike pickle/torch.load). The header carries ``napari_gan`` = JSON with
the format version, the model kind, its config, normalisation and history.

Reading checks the file's layout before any tensor data is read: the header is
bounded in size and valid JSON of the expected structure, every tensor's dtype,
shape and byte range agree with each other and with the file's size (so a header
cannot announce tensors larger than the file). What the model kinds add on top
(config, state, tensor names and shapes) is checked in :mod:`.tasks.base`.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import CheckpointError

FORMAT = "napari-gan"
FORMAT_VERSION = 1
SUFFIX = ".ngan"
#: Largest JSON header read. Ours are well under 1 MiB (the history is thinned to
#: 2000 steps); the bound keeps a hostile header from costing much memory to parse.
MAX_HEADER_BYTES = 16 * 2**20

#: safetensors dtype name -> (torch dtype, bytes per element)
DTYPES = {
    "F64": (torch.float64, 8),
    "F32": (torch.float32, 4),
    "F16": (torch.float16, 2),
    "BF16": (torch.bfloat16, 2),
    "I64": (torch.int64, 8),
    "I32": (torch.int32, 4),
    "I16": (torch.int16, 2),
    "I8": (torch.int8, 1),
    "U8": (torch.uint8, 1),
    "BOOL": (torch.bool, 1),
}


@dataclass(frozen=True)
class StoredTensor:
    """A tensor as the header describes it (its data is not read)."""

    dtype: str  # safetensors name, e.g. "F32"
    shape: tuple[int, ...]

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype][0]


@dataclass(frozen=True)
class CheckpointInfo:
    """What :func:`inspect_checkpoint` reads: the napari-gan metadata and the
    stored tensors' names, dtypes and shapes."""

    header: dict
    tensors: dict[str, StoredTensor]


def save_checkpoint(path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Write ``tensors`` and ``meta`` to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={FORMAT: json.dumps(header)})
    os.replace(tmp, path)
    return path


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _parse_json(text, path, what: str):
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path}: {what} is not valid JSON ({exc})") from None
    except RecursionError:
        raise CheckpointError(f"{path}: {what} is not valid JSON (nested too deeply)") from None


def _tensor_entry(name, entry, path) -> tuple[StoredTensor, int, int]:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise CheckpointError(f"{path}: tensor {name!r} is not described by dtype, shape and data_offsets")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in DTYPES:
        raise CheckpointError(f"{path}: tensor {name!r} has an unsupported dtype {dtype!r}")
    if not isinstance(shape, list) or len(shape) > 8 or not all(_is_int(s) and s >= 0 for s in shape):
        raise CheckpointError(f"{path}: tensor {name!r} has an invalid shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
        raise CheckpointError(f"{path}: tensor {name!r} has invalid data_offsets {offsets!r}")
    begin, end = offsets
    if end - begin != math.prod(shape) * DTYPES[dtype][1]:
        raise CheckpointError(
            f"{path}: tensor {name!r} of shape {tuple(shape)} ({dtype}) does not fit its {end - begin} stored bytes"
        )
    return StoredTensor(dtype, tuple(shape)), begin, end


def inspect_checkpoint(path) -> CheckpointInfo:
    """Read and check a checkpoint's header without reading any tensor data.

    Raises
    ------
    CheckpointError
        If the file is missing, not a napari-gan checkpoint, truncated, from a newer
        napari-gan, or its header is malformed (each case named in the message).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist or is not a file")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        if len(head) < 8:
            raise CheckpointError(f"{path} is not a napari-gan checkpoint (file too short)")
        n = int.from_bytes(head, "little")
        if n < 2 or n + 8 > size:
            raise CheckpointError(f"{path} is not a napari-gan checkpoint (or it is truncated)")
        if n > MAX_HEADER_BYTES:
            raise CheckpointError(f"{path}: header of {n} bytes, more than the {MAX_HEADER_BYTES} a checkpoint has")
        raw = fh.read(n)
    if not raw.lstrip().startswith(b"{"):
        raise CheckpointError(f"{path} is not a napari-gan checkpoint (no safetensors header)")
    layout = _parse_json(raw, path, "the safetensors header")
    if not isinstance(layout, dict):
        raise CheckpointError(f"{path} is not a napari-gan checkpoint (no safetensors header)")
    meta = layout.pop("__metadata__", None)
    if not isinstance(meta, dict) or FORMAT not in meta:
        raise CheckpointError(f"{path} is a safetensors file but not a napari-gan checkpoint")
    if not isinstance(meta[FORMAT], str):
        raise CheckpointError(f"{path}: the {FORMAT} metadata is not a JSON string")

    tensors: dict[str, StoredTensor] = {}
    spans = []
    for name, entry in layout.items():
        tensors[name], begin, end = _tensor_entry(name, entry, path)
        spans.append((begin, end, name))
    # safetensors' rule: the tensors' bytes follow one another with no gap or overlap
    # and fill the file exactly; then no header can claim more bytes than the file has
    position = 0
    for begin, end, name in sorted(spans):
        if begin != position:
            raise CheckpointError(f"{path}: tensor {name!r} has data_offsets that overlap or leave a gap")
        position = end
    if position != size - 8 - n:
        raise CheckpointError(
            f"{path} is damaged or truncated: its tensors take {position} bytes, the file holds {size - 8 - n}"
        )

    header = _parse_json(meta[FORMAT], path, f"the {FORMAT} metadata")
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: the {FORMAT} metadata is not a JSON object")
    if header.get("format", FORMAT) != FORMAT:
        raise CheckpointError(f"{path}: unknown format {header.get('format')!r} (expected {FORMAT!r})")
    version = header.get("format_version")
    if not _is_int(version) or version < 1:
        raise CheckpointError(f"{path}: format_version {version!r} is not a positive integer")
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer napari-gan (format {version}); upgrade napari-gan")
    if not isinstance(header.get("kind"), str):
        raise CheckpointError(f"{path}: the model kind {header.get('kind')!r} is not a name")
    return CheckpointInfo(header, tensors)


def read_header(path) -> dict:
    """Return the JSON metadata of a checkpoint (checked as by
    :func:`inspect_checkpoint`) without loading its weights."""
    return inspect_checkpoint(path).header


def load_tensors(path) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint whose header has been checked."""
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is damaged or truncated: {exc}") from None


def load_checkpoint(path, *, kind: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Load weights and metadata; check the model kind if ``kind`` is given."""
    header = read_header(path)
    if kind is not None and header.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {header.get('kind')!r} model, not a {kind!r}")
    return load_tensors(path), header
