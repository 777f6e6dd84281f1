"""How the widgets tell the user about a problem: napari notifications, one line
each, that never raise (a widget handler that reports an error leaves napari running)."""

from __future__ import annotations

import traceback

from napari.utils.notifications import show_error, show_warning

__all__ = ["describe_error", "report_error", "report_warning"]


def describe_error(exc: BaseException) -> str:
    """One line for the user. Our own errors already name the problem; anything else
    is unexpected, so its type is kept to make bug reports useful."""
    if isinstance(exc, ValueError) and str(exc):
        return str(exc)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def report_error(problem: BaseException | str, *, context: str = "") -> str:
    """Show ``problem`` as a napari error notification and return the message.

    Never raises: a widget handler that reports an error leaves napari running.
    Unexpected exceptions (not ValueError) also print their traceback for bug reports.
    """
    message = problem if isinstance(problem, str) else describe_error(problem)
    if context:
        message = f"{context}: {message}"
    if isinstance(problem, BaseException) and not isinstance(problem, ValueError):
        traceback.print_exception(type(problem), problem, problem.__traceback__)
    show_error(message)
    return message


def report_warning(message: str) -> str:
    show_warning(message)
    return message
