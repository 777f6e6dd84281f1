"""Exceptions raised by napari-gan. Both are ValueErrors, so callers that already
catch ValueError for bad input keep working."""


class InputError(ValueError):
    """The data given to a model cannot be used (shape, dtype, values, axes)."""


class CheckpointError(ValueError):
    """A file is not a napari-gan checkpoint, is damaged, or holds another model kind."""


def check_positive_ints(config, names, error: type[ValueError] = ValueError) -> None:
    """Raise ``error`` for the first attribute of ``config`` in ``names`` below 1."""
    for name in names:
        value = getattr(config, name)
        if int(value) < 1:
            raise error(f"{name} must be a positive integer, got {value!r}")
