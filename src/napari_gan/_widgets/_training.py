"""The training panel every training widget shares, and the worker it runs.

A task widget (Denoise, Segment, Detect, Classify, Generate, Image-to-image, ...) turns its layers
into arrays and a model, and hands :class:`TrainingPanel` a :class:`TrainingJob`:
callables that run in a worker thread. The panel owns the worker, Train/Stop,
the progress bar, the live loss curve, the device label, Save/Load and the status
line. Worker threads only ever compute; every napari layer is touched in the GUI
thread, in the handlers of the worker's signals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from napari.qt.threading import thread_worker
from napari.utils import cancelable_progress
from napari.utils.notifications import show_info
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

import napari_gan as ng

from ._budget import progress_units, show_progress, summary
from ._jobs import TrainingJob, Update, call_safely, drive, preload_torch
from ._plot import LossCurve
from ._report import describe_error, report_error, report_warning

__all__ = ["JobStopped", "LossCurve", "TrainingPanel"]

MODEL_FILE_FILTER = "napari-gan model (*.ngan);;All files (*)"


class JobStopped(Exception):
    """Raised in a one-shot job's worker, at its next progress report, after Stop."""


# --------------------------------------------------------------------------- panel


def _sentence(text: str) -> str:
    """``text`` with a capital first letter and the rest as written ("GAN training", not "Gan training")."""
    return text[:1].upper() + text[1:]


def _release(stop: threading.Event, state: dict, *_: Any) -> None:
    """When a panel is deleted: stop its worker, drop its model, job and curves."""
    stop.set()
    for key in ("_model", "_job", "_last_record", "_activity"):
        state[key] = None
    curve = state.get("loss_curve")
    if curve is not None:
        curve.__dict__["_series"], curve.__dict__["_metrics"], curve.__dict__["_elapsed"] = {}, {}, {}


class TrainingPanel(QWidget):
    """Train/Stop, progress, live loss curve, device, Save/Load and status for one model.

    Parameters
    ----------
    prepare : callable
        ``prepare(current_model) -> TrainingJob``, called in the GUI thread when Train
        is clicked. It reads the widget's layers and options; raising ValueError
        (e.g. :class:`napari_gan.InputError`) shows the message as a notification.
    model_type : type
        The core model class this panel trains (e.g. ``napari_gan.Denoiser``);
        loading a checkpoint of another kind is refused with a clear message.
    show_preview : callable, optional
        ``show_preview(payload)``, run in the GUI thread with what ``job.preview``
        returned in the worker.
    """

    #: emitted with the model when it changes (trained for >= 1 step, or loaded)
    model_changed = Signal(object)
    #: emitted when a training run ends, however it ended
    training_finished = Signal()
    #: emitted when a job (training or one-shot) starts (True) or ends (False)
    busy_changed = Signal(bool)
    # (done, total) from a one-shot job's worker; queued to the GUI thread
    _job_progress = Signal(int, int)

    def __init__(
        self,
        *,
        prepare: Callable[[Any], TrainingJob],
        model_type: type,
        show_preview: Callable[[Any], None] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        preload_torch()
        self._prepare = prepare
        self._model_type = model_type
        self._show_preview = show_preview
        self._model = None
        self._job: TrainingJob | None = None
        self._stop = threading.Event()
        self._shown = threading.Event()  # set by the GUI thread once a preview is displayed
        self._last_record = None
        self._stopped_by_user = False
        self._failed = False
        self._busy_sensitive: list[QWidget] = []
        self._job_text = ""
        self._cancel_job: threading.Event | None = None  # set by Stop during a one-shot job
        self.worker = None  # the running worker (training or one-shot), else None
        self.last_message = ""  # last error/warning shown, for tests and the status line
        self.previews_shown = 0  # previews displayed in the current training run

        self.train_button = QPushButton("Train")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip(
            "Stop training after the current step (the model keeps what it learned), "
            "or stop a prediction or generation (nothing is added)"
        )
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("not trained")
        self.progress_bar.setTextVisible(True)
        self.loss_curve = LossCurve()
        self.device_label = QLabel()
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.save_button = QPushButton("Save model…")
        self.load_button = QPushButton("Load model…")
        self.export_button = QPushButton("Export config…")
        self.export_button.setToolTip(
            "Write what Train would do (model, options, the layers' data, budget) as a run config "
            "for `napari-gan train` on another machine, a GPU node or a cluster"
        )
        self.save_button.setEnabled(False)

        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.stop_button)
        files = QHBoxLayout()
        files.addWidget(self.save_button)
        files.addWidget(self.load_button)
        files.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.loss_curve)
        layout.addWidget(self.device_label)
        layout.addLayout(files)
        layout.addWidget(self.status_label)

        self.train_button.clicked.connect(self.start_training)
        self.stop_button.clicked.connect(self.stop_training)
        self.save_button.clicked.connect(self._save_clicked)
        self.load_button.clicked.connect(self._load_clicked)
        self.export_button.clicked.connect(self._export_clicked)
        self.add_busy_sensitive(self.train_button, self.load_button, self.export_button)
        # a closed widget must not leave a worker training for nobody, nor keep its
        # model, data and plot alive (Qt deletes the widget; Python wrappers caught
        # in reference cycles with Qt may outlive it, so drop what is heavy)
        self.destroyed.connect(partial(_release, self._stop, self.__dict__))
        self._job_progress.connect(self._on_job_progress)
        self._update_device_label()

    # ----------------------------------------------------------------- state

    @property
    def model(self):
        """The current model (trained at least one step, or loaded), else None."""
        return self._model

    def set_model(self, model) -> None:
        self._model = model
        self.save_button.setEnabled(model is not None and not self.is_busy)
        self._update_device_label()
        self.model_changed.emit(model)

    @property
    def is_busy(self) -> bool:
        return self.worker is not None

    @property
    def is_training(self) -> bool:
        return self._job is not None

    @property
    def failed(self) -> bool:
        """Whether the last training run ended in an error (its message is on the status line)."""
        return self._failed

    @property
    def last_record(self):
        """The last :class:`napari_gan.StepRecord` seen from training, else None."""
        return self._last_record

    def add_busy_sensitive(self, *widgets: QWidget) -> None:
        """Widgets disabled while a job runs (e.g. a task widget's Predict button)."""
        self._busy_sensitive.extend(widgets)

    def set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def error(self, problem: BaseException | str, *, context: str = "") -> str:
        """Report an error as a notification and on the status line."""
        self.last_message = report_error(problem, context=context)
        self.set_status(f"⚠ {self.last_message}")
        return self.last_message

    def warning(self, message: str) -> str:
        self.last_message = report_warning(message)
        self.set_status(f"⚠ {message}")
        return message

    def _set_busy(self, worker) -> None:
        self.worker = worker
        busy = worker is not None
        for widget in self._busy_sensitive:
            widget.setEnabled(not busy)
        self.save_button.setEnabled(not busy and self._model is not None)
        self.stop_button.setEnabled(busy and (self._job is not None or self._cancel_job is not None))
        self.busy_changed.emit(busy)

    def _update_device_label(self) -> None:
        device = getattr(self._model, "device", None)
        if device:
            self.device_label.setText(f"Device: {device}")
        else:
            try:
                self.device_label.setText(f"Device: {ng.resolve_device('auto')} (auto)")
            except Exception as exc:  # a broken torch install must not break the widget
                self.device_label.setText(f"Device: unknown ({exc})")

    # ----------------------------------------------------------------- training

    def start_training(self) -> bool:
        """What Train does: ask the task widget for a job and run it in a worker.

        Returns True if training started; problems are notified, never raised.
        """
        if self.is_busy:
            return False
        try:
            job = self._prepare(self._model)
        except Exception as exc:
            self.error(exc, context="Cannot train")
            return False
        self._job = job
        self._stop.clear()
        self._stopped_by_user = False
        self._failed = False
        self._last_record = None
        self.previews_shown = 0
        self.loss_curve.clear()
        self.progress_bar.setRange(0, 0)  # busy until the first step reports
        self.progress_bar.setFormat("starting…")
        self.set_status(f"Starting {job.description}…")
        # the same progress in napari's activity dock, with its cancel button as Stop
        self._activity = cancelable_progress(total=0, desc=job.description)
        worker = thread_worker(drive, start_thread=False)(job, self._stop, self._shown)
        worker.yielded.connect(self._on_update)
        worker.finished.connect(self._on_training_finished)
        self._set_busy(worker)
        worker.start()
        return True

    def stop_training(self) -> None:
        """What Stop does: end training after the current step, keeping the weights;
        or end a one-shot job (prediction, generation, ...) at its next progress
        report, adding nothing.

        The worker's generator sees the request right after its next step and closes
        the fit generator in the worker thread (``worker.quit()`` alone would abandon
        it un-closed), so the model is marked trained before the worker finishes.
        """
        cancel = self._cancel_job
        if self._job is None and cancel is not None and not cancel.is_set():
            cancel.set()
            self.stop_button.setEnabled(False)
            self.set_status(f"{self._job_text}: stopping at its next piece of work…")
            return
        if self._job is not None:
            self._stopped_by_user = True
            self._stop.set()
            self.stop_button.setEnabled(False)
            self.set_status("Stopping after the current step…")

    def _on_update(self, update: Update) -> None:
        job = self._job
        if job is None:
            return
        if update.error is not None:
            self._failed = True
            self.error(update.error, context=f"{_sentence(job.description)} failed")
            return
        record = update.record
        if record is not None:
            if self._last_record is None:
                if self._model is not job.model:
                    self.set_model(job.model)
                if not self._stop.is_set():  # "Starting ..." is over: say what Stop does
                    self.set_status(
                        f"{_sentence(job.description)}: Stop ends it after the current step, keeping what it learnt"
                    )
            self._last_record = record
            show_progress(self.progress_bar, record)
            self.loss_curve.add(record.step, record.losses, record.elapsed, getattr(record, "metrics", None))
            activity = getattr(self, "_activity", None)
            if activity is not None:
                done, total = progress_units(record)
                if activity.total != total:
                    activity.total = total
                activity.update(done - activity.n)
                if activity.is_canceled and not self._stop.is_set():  # its cancel button only sets a flag
                    self.stop_training()
        if update.preview_error is not None:
            self.warning(f"Preview failed: {describe_error(update.preview_error)}")
        elif update.preview is not None and self._show_preview is not None:
            try:
                self._show_preview(update.preview)
            except Exception as exc:
                self.warning(f"Preview failed: {describe_error(exc)}")
            finally:
                self.previews_shown += 1
                self._shown.set()

    def _on_training_finished(self) -> None:
        record = self._last_record
        self._job = None
        activity, self._activity = getattr(self, "_activity", None), None
        if activity is not None:
            activity.close()
        self._set_busy(None)
        if record is None:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("not trained")
        else:
            how = "Failed" if self._failed else "Stopped" if self._stopped_by_user else "Finished"
            text = summary(how, record)
            self.set_status(f"{text}: {self.last_message}" if self._failed else text)
            self._update_device_label()
            self.model_changed.emit(self._model)
        self.training_finished.emit()

    # ----------------------------------------------------------------- one-shot jobs

    def run_job(
        self,
        func: Callable[[Callable[[int, int], None]], Any],
        on_result: Callable[[Any], None],
        *,
        description: str = "working",
        stoppable: bool = True,
    ) -> bool:
        """Run ``func(progress)`` in a worker (e.g. a prediction) and call
        ``on_result(result)`` in the GUI thread.

        ``progress(done, total)`` may be called from the worker to move the progress
        bar (it only emits a queued signal). Stop ends the job at its next
        ``progress`` call (which raises :class:`JobStopped` in the worker) and drops
        its result, so nothing is added (``stoppable=False``: Stop stays disabled, for
        a job whose effect is not its result, e.g. writing a file). Errors from
        ``func`` or ``on_result`` are notified. Returns True if the job started.
        """
        if self.is_busy:
            self.warning(f"Busy: wait for the current job to finish before {description}")
            return False
        # Qt keeps a finished worker's signal connections: hold the job (its model, its
        # data) where finishing can drop it, so no finished prediction keeps a model alive
        job = {"func": func, "on_result": on_result}
        emit, cancel = self._job_progress.emit, threading.Event()
        self._cancel_job = cancel if stoppable else None

        def progress(done: int, total: int) -> None:  # in the worker: where Stop takes effect
            if cancel.is_set():
                raise JobStopped(description)
            emit(done, total)

        worker = thread_worker(call_safely, start_thread=False)(lambda: job["func"](progress))

        def done(outcome) -> None:
            result, error = outcome
            if cancel.is_set():  # stopped: whatever came back is dropped, the layers are as they were
                self.set_status(f"{_sentence(description)} stopped; nothing was added")
                return
            if error is not None:
                self.error(error, context=f"{_sentence(description)} failed")
                return
            try:
                job["on_result"](result)
            except Exception as exc:
                self.error(exc, context=f"{_sentence(description)} failed")

        def finished() -> None:
            job.clear()
            self._cancel_job = None
            self._set_busy(None)
            self._restore_progress()

        worker.returned.connect(done)
        worker.finished.connect(finished)
        self._job_text = _sentence(description)
        self._set_busy(worker)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setFormat(f"{self._job_text}…")
        self.set_status(f"{_sentence(description)}…")
        worker.start()
        return True

    def _on_job_progress(self, done: int, total: int) -> None:
        if self.is_busy and not self.is_training and total > 0:
            self.progress_bar.setRange(0, total)
            self.progress_bar.setValue(done)
            self.progress_bar.setFormat(f"{self._job_text}… %p%")

    def _restore_progress(self) -> None:
        record = self._last_record
        if record is None:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("not trained" if self._model is None else "loaded model")
        else:
            show_progress(self.progress_bar, record)

    # ----------------------------------------------------------------- save / load

    def save_model(self, path: str | Path) -> Path | None:
        """Save the current model to ``path``; returns the path, or None after notifying."""
        if self._model is None:
            self.error("Nothing to save: train or load a model first")
            return None
        if self.is_busy:
            self.warning("Wait for the current job to finish before saving")
            return None
        try:
            saved = self._model.save(path)
        except Exception as exc:
            self.error(exc, context="Cannot save the model")
            return None
        saved = Path(saved) if isinstance(saved, (str, Path)) else Path(path)
        self.set_status(f"Saved model to {saved}")
        show_info(f"Saved model to {saved}")
        return saved

    def load_model(self, path: str | Path):
        """Load a checkpoint of this panel's model kind; returns it, or None after notifying."""
        if self.is_busy:
            self.warning("Wait for the current job to finish before loading a model")
            return None
        try:
            model = ng.load_model(path)
        except Exception as exc:
            self.error(exc, context="Cannot load the model")
            return None
        if not isinstance(model, self._model_type):
            self.error(
                f"{path} holds a {type(model).__name__}, not a {self._model_type.__name__}",
                context="Cannot load the model",
            )
            return None
        self._last_record = None
        self.loss_curve.clear()
        self.set_model(model)
        self._restore_progress()
        self.set_status(f"Loaded {type(model).__name__} from {path}")
        return model

    def _save_clicked(self) -> None:
        from ._bioimageio import export_package, save_filter, wants_package

        path, chosen = QFileDialog.getSaveFileName(self, "Save model", "model.ngan", save_filter(self._model))
        if path and wants_package(path, chosen):
            export_package(self, path)
        elif path:
            if not Path(path).suffix:
                path += ".ngan"
            self.save_model(path)

    def export_config(self, path: str | Path) -> Path | None:
        """What Export config does, without the dialog (see :mod:`._export`)."""
        from ._export import export_config

        return export_config(self, path)

    def _export_clicked(self) -> None:
        from ._export import CONFIG_FILE_FILTER

        path, _ = QFileDialog.getSaveFileName(self, "Export run config", "run.yaml", CONFIG_FILE_FILTER)
        if path:
            self.export_config(path if Path(path).suffix else path + ".yaml")

    def _load_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load model", "", MODEL_FILE_FILTER)
        if path:
            self.load_model(path)
