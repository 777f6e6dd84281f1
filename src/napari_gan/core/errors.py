"""Exceptions raised by napari-gan. Both are ValueErrors, so callers that already
catch ValueError for bad input keep working."""


class InputError(ValueError):
    """The data given to a model cannot be used (shape, dtype, values, axes)."""


class CheckpointError(ValueError):
    """A file is not a napari-gan checkpoint, is damaged, or holds another model kind."""
