"""Headless runs: config files, the ``train``/``predict``/``generate`` command line,
torch.distributed set-up and dask/zarr block prediction. Imports no Qt."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ..errors import CheckpointError, InputError


def exit_status(command: str, call: Callable[[], object]) -> int:
    """Run ``call`` for ``napari-gan COMMAND``: 0, or 2 after one line on stderr for a
    problem with the user's input or model file."""
    try:
        call()
    except (InputError, CheckpointError) as exc:
        print(f"napari-gan {command}: {exc}", file=sys.stderr)
        return 2
    return 0
