"""Checkpoints: one safetensors file holding the weights plus JSON metadata.

safetensors stores raw tensors and a string->string header, so loading runs no
code (unlike pickle/torch.load). The header carries ``napari_gan`` = JSON with
the format version, the model kind, its config, normalisation and history.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import CheckpointError

FORMAT = "napari-gan"
FORMAT_VERSION = 1
SUFFIX = ".ngan"


def save_checkpoint(path, tensors: dict[str, torch.Tensor], meta: dict) -> Path:
    """Write ``tensors`` and ``meta`` to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, **meta}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={FORMAT: json.dumps(header)})
    os.replace(tmp, path)
    return path


def read_header(path) -> dict:
    """Return the JSON metadata of a checkpoint without loading its weights."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist or is not a file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{path} is not a napari-gan checkpoint (file too short)")
            n = int.from_bytes(head, "little")
            if n <= 0 or n > 100_000_000 or n + 8 > path.stat().st_size:
                raise CheckpointError(f"{path} is not a napari-gan checkpoint (or it is truncated)")
            raw = json.loads(fh.read(n))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not a napari-gan checkpoint ({exc})") from None
    meta = raw.get("__metadata__", {}) if isinstance(raw, dict) else {}
    if FORMAT not in meta:
        raise CheckpointError(f"{path} is a safetensors file but not a napari-gan checkpoint")
    header = json.loads(meta[FORMAT])
    if header.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer napari-gan (format {header['format_version']}); upgrade napari-gan"
        )
    return header


def load_checkpoint(path, *, kind: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Load weights and metadata; check the model kind if ``kind`` is given."""
    header = read_header(path)
    if kind is not None and header.get("kind") != kind:
        raise CheckpointError(f"{path} holds a {header.get('kind')!r} model, not a {kind!r}")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is damaged or truncated: {exc}") from None
    return tensors, header
