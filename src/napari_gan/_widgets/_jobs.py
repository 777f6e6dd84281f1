"""What a training widget runs off the GUI thread: a :class:`TrainingJob` (the model,
how to start its ``fit_iter`` and how to preview it) and the worker body that steps
it, adds previews and stops at the next step when asked."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["TrainingJob", "Update", "call_safely", "drive", "preload_torch"]


def preload_torch() -> None:
    """Import what torch otherwise imports on the first optimiser it builds.

    ``torch.optim`` lazily imports ``torch._dynamo`` (about 800 modules, 1.5-3.5 s on
    two cores). Done in a worker, that import holds the GIL for up to a few hundred
    milliseconds at a time and napari stalls; done here, once, in the GUI thread
    while the widget opens, training starts without a hitch.
    """
    try:
        import torch._dynamo  # noqa: F401
    except Exception:  # only a warm-up: training imports it (or fails) later anyway
        pass


@dataclass
class TrainingJob:
    """What a task widget hands to :meth:`TrainingPanel.start_training`.

    ``model`` is the core model being trained. ``start`` and ``preview`` run in the
    worker thread: ``start()`` returns the model's ``fit_iter`` generator (so its
    validation of large arrays does not block napari); ``preview()`` is called
    between steps every ``preview_every`` steps and returns anything that
    ``show_preview`` (given to the panel, run in the GUI thread) can display.
    """

    model: Any
    start: Callable[[], Iterator[Any]]
    preview: Callable[[], Any] | None = None
    preview_every: int = 0
    description: str = "training"


@dataclass(frozen=True)
class Update:
    """What the training worker yields to the GUI thread."""

    record: Any = None
    preview: Any = None
    preview_error: BaseException | None = None
    error: BaseException | None = None


def drive(job: TrainingJob, stop: threading.Event, shown: threading.Event):
    """Worker body: run ``job.start()`` step by step, adding previews.

    Exceptions become updates instead of escaping, so the GUI thread reports them
    once, in our words. The fit generator is always closed here, in the worker, so
    the model keeps (and marks as trained) what it learned however training ends.
    After yielding a preview the worker waits until the GUI thread has shown it
    (``shown``): displaying a layer is Python-heavy, and a worker competing for the
    GIL at the same time can make it several times slower and stall napari.
    """
    try:
        steps = job.start()
    except Exception as exc:  # bad input: reported by the GUI thread
        yield Update(error=exc)
        return
    last_record = None
    last_preview_step = 0
    try:
        for record in steps:
            last_record = record
            preview = preview_error = None
            if job.preview is not None and job.preview_every > 0 and record.step % job.preview_every == 0:
                preview, preview_error = _safe_preview(job)
                last_preview_step = record.step
            shown.clear()
            yield Update(record=record, preview=preview, preview_error=preview_error)
            if preview is not None:
                _wait_shown(shown, stop)
            if stop.is_set():
                break
    except Exception as exc:
        yield Update(error=exc)
        return
    finally:
        steps.close()
    # show the final state of the model, which the last periodic preview may predate
    if job.preview is not None and job.preview_every > 0 and last_record is not None:
        if last_preview_step != last_record.step:
            preview, preview_error = _safe_preview(job)
            yield Update(preview=preview, preview_error=preview_error)


def _wait_shown(shown: threading.Event, stop: threading.Event, timeout: float = 5.0) -> None:
    # bounded: a GUI thread that never answers (widget gone) only delays training
    waited = 0.0
    while not shown.wait(0.05) and not stop.is_set() and waited < timeout:
        waited += 0.05


def _safe_preview(job: TrainingJob):
    try:
        return job.preview(), None
    except Exception as exc:
        return None, exc


def call_safely(func: Callable[[], Any]):
    """Worker body for one-shot jobs: return ``(result, error)`` instead of raising."""
    try:
        return func(), None
    except Exception as exc:
        return None, exc
