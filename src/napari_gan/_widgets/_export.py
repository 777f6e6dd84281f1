"""*Export config…*: the run a widget is set to, as a file for ``napari-gan train``."""

from __future__ import annotations

from pathlib import Path

from ..core.run.export import bind_fit, export_run
from ._jobs import TrainingJob

CONFIG_FILE_FILTER = "napari-gan run config (*.yaml *.yml)"


def fit_arguments(job: TrainingJob) -> dict:
    """The arguments ``job.start()`` would train with, without training: its call
    to the model's ``fit_iter`` is recorded instead of made."""
    model, calls = job.model, []

    def record(*args, **kwargs):
        calls.append((args, kwargs))
        return iter(())

    model.fit_iter = record  # on the instance only, for this one call
    try:
        job.start()
    finally:
        del model.fit_iter
    if not calls:
        raise RuntimeError("the widget prepared no training call to export")
    args, kwargs = calls[0]
    return bind_fit(model, args, kwargs)


def export_config(panel, path) -> Path | None:
    """What *Export config…* does once a file is chosen: the widget's training
    set-up (model kind, options, layers' data, budget) to ``path`` and its data
    beside it. Problems are notified; returns the path, or None."""
    if panel.is_busy:
        panel.warning("Wait until training or prediction has finished to export its config")
        return None
    try:
        job = panel._prepare(panel.model)
        config = export_run(job.model, fit_arguments(job), path)
    except Exception as exc:
        panel.error(exc, context="Cannot export the config")
        return None
    panel.set_status(f"Wrote {path}; train it with: napari-gan train {Path(path).name}  (output: {config.output.name})")
    return Path(path)
