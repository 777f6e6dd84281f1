"""A training run's budget in the widgets: the Max steps / Time limit options,
reading them, and showing a run's progress against whichever budget ends it."""

from __future__ import annotations

from ..core.errors import InputError


def budget_widgets(default_steps: int):
    """Max steps, time limit, preview interval and "continue training" options."""
    from magicgui.widgets import CheckBox, SpinBox

    max_steps = SpinBox(
        value=default_steps,
        min=0,
        max=10_000_000,
        label="Max steps",
        tooltip="Training stops at Max steps or the time limit, whichever comes first; "
        "0 = no step limit: train until the time limit (or Stop)",
    )
    time_limit = SpinBox(
        value=0,
        min=0,
        max=7 * 24 * 3600,
        label="Time limit (s)",
        tooltip="0 = no time limit. To train for a time whatever the steps, set Max steps to 0",
    )
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


def read_budget(max_steps, time_limit) -> tuple[int | None, float | None]:
    """``(max_steps, time_limit)`` for ``fit`` from the two options (0 = none)."""
    steps, seconds = int(max_steps.value), float(time_limit.value)
    if steps == 0 and seconds == 0:
        raise InputError("set Max steps or a Time limit: with both at 0 training would never end")
    return (steps or None), (seconds or None)


def can_resume(model) -> bool:
    """Whether training ``model`` again resumes its stopped run (the rest of that
    run's steps, on its learning-rate schedule, with its optimizer moments and
    random streams) rather than starting a new, fine-tuning run: true after a Stop
    (or for a model loaded from a run's ``.state`` file), false once a run has
    used its whole budget."""
    run = getattr(model, "training_state", None)
    return run is not None and not run.finished


def progress_units(record) -> tuple[int, int]:
    """``(done, total)`` of ``record`` for a progress counter: steps, or whole
    seconds when only the time limit ends the run."""
    if record.by_time:
        limit = int(round(record.time_limit))
        return min(int(record.elapsed), limit), limit
    return record.step, record.total


def show_progress(bar, record) -> None:
    """Set a QProgressBar to ``record``'s steps (of the step budget), or to its
    seconds (of the time limit) when only the time limit ends the run."""
    done, total = progress_units(record)
    bar.setRange(0, max(total, 1))
    bar.setValue(done)
    if record.by_time:
        bar.setFormat(f"{record.step} steps · {record.elapsed:.1f} / {total} s")
    else:
        bar.setFormat(f"%v / %m steps · {record.elapsed:.1f} s")


def summary(how: str, record) -> str:
    """``"Finished at step 2000 / 2000 (190.0 s)"``, with a hint when the step
    limit ended a run well before its time limit."""
    if record.by_time:
        return f"{how} at step {record.step} ({record.elapsed:.1f} s of {record.time_limit:g} s)"
    text = f"{how} at step {record.step} / {record.total} ({record.elapsed:.1f} s)"
    early = record.time_limit and record.elapsed < 0.9 * record.time_limit
    if how == "Finished" and early and record.step >= record.total:
        text += "; Max steps came before the time limit (Max steps 0 trains until the time limit)"
    return text
