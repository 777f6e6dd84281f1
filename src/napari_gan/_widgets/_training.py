"""Parts every training widget shares: the training panel, workers and
error reporting.

A task widget (Denoise, Segment, Detect, Classify, Generate, Image-to-image, ...) turns its layers
into arrays and a model, and hands :class:`TrainingPanel` a :class:`TrainingJob`:
callables that run in a worker thread. The panel owns the worker, Train/Stop,
the progress bar, the live loss curve, the device label, Save/Load and the status
line. Worker threads only ever compute; every napari layer is touched in the GUI
thread, in the handlers of the worker's signals.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from napari.qt.threading import thread_worker
from napari.utils import cancelable_progress
from napari.utils.notifications import show_error, show_info, show_warning
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
from napari_gan.core.axes import default_axes

from ._plot import LossCurve

__all__ = [
    "AXES_CHOICES",
    "axes_picker",
    "budget_widgets",
    "LossCurve",
    "TrainingJob",
    "TrainingPanel",
    "central_crop",
    "check_image_layer",
    "describe_error",
    "image_array",
    "layer_axes",
    "report_error",
    "report_warning",
]

MODEL_FILE_FILTER = "napari-gan model (*.ngan);;All files (*)"


# --------------------------------------------------------------------------- errors


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


def image_array(layer) -> Any:
    """The full-resolution array behind an image layer (level 0 of a multiscale one).

    The array object itself, not a copy: a worker keeps it alive even if the layer is
    deleted, and the core copies what it needs while normalising.
    """
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def check_image_layer(layer, role: str = "image"):
    """Raise :class:`napari_gan.InputError` unless ``layer`` is a napari Image layer."""
    from napari.layers import Image

    if layer is None:
        raise ng.InputError(f"no {role} layer chosen: add or open an image layer first")
    if not isinstance(layer, Image):
        raise ng.InputError(
            f"layer {layer.name!r} is a {type(layer).__name__} layer; the {role} must be an Image layer"
        )
    return layer


# --------------------------------------------------------------------------- jobs


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
class _Update:
    """What the training worker yields to the GUI thread."""

    record: Any = None
    preview: Any = None
    preview_error: BaseException | None = None
    error: BaseException | None = None


def _drive(job: TrainingJob, stop: threading.Event, shown: threading.Event):
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
        yield _Update(error=exc)
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
            yield _Update(record=record, preview=preview, preview_error=preview_error)
            if preview is not None:
                _wait_shown(shown, stop)
            if stop.is_set():
                break
    except Exception as exc:
        yield _Update(error=exc)
        return
    finally:
        steps.close()
    # show the final state of the model, which the last periodic preview may predate
    if job.preview is not None and job.preview_every > 0 and last_record is not None:
        if last_preview_step != last_record.step:
            preview, preview_error = _safe_preview(job)
            yield _Update(preview=preview, preview_error=preview_error)


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


def _call_safely(func: Callable[[], Any]):
    """Worker body for one-shot jobs: return ``(result, error)`` instead of raising."""
    try:
        return func(), None
    except Exception as exc:
        return None, exc


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
        self.worker = None  # the running worker (training or one-shot), else None
        self.last_message = ""  # last error/warning shown, for tests and the status line
        self.previews_shown = 0  # previews displayed in the current training run

        self.train_button = QPushButton("Train")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip("Stop after the current step; the model keeps what it learned")
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
        self.stop_button.setEnabled(busy and self._job is not None)
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
        worker = thread_worker(_drive, start_thread=False)(job, self._stop, self._shown)
        worker.yielded.connect(self._on_update)
        worker.finished.connect(self._on_training_finished)
        self._set_busy(worker)
        worker.start()
        return True

    def stop_training(self) -> None:
        """What Stop does: end training after the current step, keeping the weights.

        The worker's generator sees the request right after its next step and closes
        the fit generator in the worker thread (``worker.quit()`` alone would abandon
        it un-closed), so the model is marked trained before the worker finishes.
        """
        if self._job is not None:
            self._stopped_by_user = True
            self._stop.set()
            self.stop_button.setEnabled(False)
            self.set_status("Stopping after the current step…")

    def _on_update(self, update: _Update) -> None:
        job = self._job
        if job is None:
            return
        if update.error is not None:
            self._failed = True
            self.error(update.error, context=f"{_sentence(job.description)} failed")
            return
        record = update.record
        if record is not None:
            if self._last_record is None and self._model is not job.model:
                self.set_model(job.model)
            self._last_record = record
            self.progress_bar.setRange(0, record.total)
            self.progress_bar.setValue(record.step)
            self.progress_bar.setFormat(f"%v / %m steps · {record.elapsed:.1f} s")
            self.loss_curve.add(record.step, record.losses, record.elapsed, getattr(record, "metrics", None))
            activity = getattr(self, "_activity", None)
            if activity is not None:
                if activity.total != record.total:
                    activity.total = record.total
                activity.update(record.step - activity.n)
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
            summary = f"{how} at step {record.step} / {record.total} ({record.elapsed:.1f} s)"
            self.set_status(f"{summary}: {self.last_message}" if self._failed else summary)
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
    ) -> bool:
        """Run ``func(progress)`` in a worker (e.g. a prediction) and call
        ``on_result(result)`` in the GUI thread.

        ``progress(done, total)`` may be called from the worker to move the progress
        bar (it only emits a queued signal). Errors from ``func`` or ``on_result`` are
        notified. Returns True if the job started.
        """
        if self.is_busy:
            self.warning(f"Busy: wait for the current job to finish before {description}")
            return False
        # Qt keeps a finished worker's signal connections: hold the job (its model, its
        # data) where finishing can drop it, so no finished prediction keeps a model alive
        job = {"func": func, "on_result": on_result}
        emit = self._job_progress.emit
        worker = thread_worker(_call_safely, start_thread=False)(lambda: job["func"](emit))

        def done(outcome) -> None:
            result, error = outcome
            if error is not None:
                self.error(error, context=f"{_sentence(description)} failed")
                return
            try:
                job["on_result"](result)
            except Exception as exc:
                self.error(exc, context=f"{_sentence(description)} failed")

        def finished() -> None:
            job.clear()
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
            self.progress_bar.setRange(0, record.total)
            self.progress_bar.setValue(record.step)
            self.progress_bar.setFormat(f"%v / %m steps · {record.elapsed:.1f} s")

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


# --------------------------------------------------------------------------- previews


def central_crop(
    shape: tuple[int, ...],
    axes: str,
    *,
    frame: dict[str, int] | None = None,
    max_yx: int = 256,
    max_z: int = 32,
) -> tuple[tuple[slice | int, ...], str, dict[int, int]]:
    """Where to take a quick preview of an image with ``axes``.

    S/T axes are reduced to one index (``frame``, else the middle), Z to at most
    ``max_z`` planes around ``frame['Z']``, Y and X to a central window of at most
    ``max_yx``; channels are kept. Returns the index tuple, the axes of the crop and
    ``{data axis: start}`` for the kept axes (to place the preview over its source).
    """
    frame = frame or {}
    index: list[slice | int] = []
    kept_axes = ""
    starts: dict[int, int] = {}
    for i, (letter, size) in enumerate(zip(axes, shape)):
        if letter in "ST":
            index.append(int(np.clip(frame.get(letter, size // 2), 0, size - 1)))
            continue
        if letter in "YXZ":
            width = min(size, max_z if letter == "Z" else max_yx)
            centre = frame.get(letter, size // 2) if letter == "Z" else size // 2
            start = int(np.clip(centre - width // 2, 0, size - width))
        else:  # channels
            width, start = size, 0
        index.append(slice(start, start + width))
        kept_axes += letter
        starts[i] = start
    return tuple(index), kept_axes, starts


#: what the axes pickers offer; "auto" resolves with :func:`layer_axes`
AXES_CHOICES = ("auto", "YX", "YXC", "SYX", "TYX", "ZYX", "SYXC", "TYXC", "SZYX", "TZYX", "CYX", "CZYX")


def layer_axes(layer, choice: str = "auto", *, model_axes: str | None = None, strict: bool = True) -> str:
    """The axes string to pass to the core for ``layer``'s data.

    An explicit ``choice`` is returned as is when ``strict`` (the core then refuses
    one of the wrong length with a clear message); otherwise only when it has one
    letter per dimension. ``"auto"`` follows napari: RGB layers end in C; otherwise
    the axes a model was trained with are reused when their length fits, else the
    core's default for the shape.
    """
    shape = tuple(image_array(layer).shape)
    if choice and choice != "auto" and (strict or len(choice) == len(shape)):
        return choice
    rgb = bool(getattr(layer, "rgb", False))
    if not rgb and model_axes and len(model_axes) == len(shape):
        return model_axes
    if not rgb and model_axes and "Z" in model_axes and len(shape) in (3, 4):
        return "ZYX" if len(shape) == 3 else "SZYX"
    return default_axes(shape, rgb=rgb)


def axes_picker():
    """The Axes option every task widget has."""
    from magicgui.widgets import ComboBox

    return ComboBox(
        choices=AXES_CHOICES,
        value="auto",
        label="Axes",
        tooltip="Letters from STCZYX: S samples, T time, C channels, Z depth (3D network). "
        "auto: YX, YXC for RGB layers, SYX for other 3D stacks.",
    )


def can_resume(model) -> bool:
    """Whether training ``model`` again resumes its stopped run (the rest of that
    run's steps, on its learning-rate schedule, with its optimizer moments and
    random streams) rather than starting a new, fine-tuning run: true after a Stop
    (or for a model loaded from a run's ``.state`` file), false once a run has
    used its whole budget."""
    run = getattr(model, "training_state", None)
    return run is not None and not run.finished


def budget_widgets(default_steps: int):
    """Max steps, time limit, preview interval and "continue training" options."""
    from magicgui.widgets import CheckBox, SpinBox

    max_steps = SpinBox(value=default_steps, min=1, max=10_000_000, label="Max steps")
    time_limit = SpinBox(value=0, min=0, max=7 * 24 * 3600, label="Time limit (s)", tooltip="0 = no time limit")
    preview_every = SpinBox(
        value=25,
        min=0,
        max=1_000_000,
        label="Preview every",
        tooltip="Refresh the preview layer every N steps (0 = no preview)",
    )
    fine_tune = CheckBox(
        value=False,
        text="Continue training the current model",
        tooltip="Train the current model further instead of starting a new one: a stopped run resumes where it "
        "stopped (its own step budget and schedule); a finished or loaded model is fine-tuned",
    )
    return max_steps, time_limit, preview_every, fine_tune
