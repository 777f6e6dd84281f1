"""Widget options remembered when napari restarts, with Restore defaults.

The numbers, switches and fixed choices of a dock widget (patch size, batch
size, budget, task, ...) are stored with Qt's QSettings (the platform's usual
place: ~/.config/napari-gan/widgets.conf on Linux) each time one changes, and
set again when the widget is next created. What depends on the data in front of
the user is not stored: layer pickers, free text (class names, names per frame)
and "Continue training the current model". A stored value that no longer fits
(a choice that went away, a number out of range) is skipped.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, SpinBox
from qtpy.QtCore import QSettings

ORGANIZATION, APPLICATION = "napari-gan", "widgets"
PLAIN = (bool, int, float, str)


def settings() -> QSettings:
    """Where options are stored: the file ``$NAPARI_GAN_SETTINGS`` if set (the
    tests give each test its own), else Qt's per-user place for napari-gan."""
    path = os.environ.get("NAPARI_GAN_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def _candidates(containers: Iterable[Container]):
    for container in containers:
        for widget in container:
            if isinstance(widget, Container):
                yield from _candidates([widget])
            elif isinstance(widget, (SpinBox, FloatSpinBox, CheckBox, ComboBox)):
                yield widget


def _same_kind(value, default) -> bool:
    """A stored value of the option's type (an int where a float is expected too)."""
    return type(value) is type(default) or (isinstance(default, float) and type(value) is int)


class Persisted:
    """The remembered options of one dock widget (its class name is the group)."""

    def __init__(self, group: str, containers: Iterable[Container], *, exclude: Iterable = ()) -> None:
        skip = {id(w) for w in exclude}
        self.group = group
        self.widgets = {}
        for widget in _candidates(containers):
            key = widget.label or widget.name or getattr(widget, "text", "")
            # layer pickers hold layers (or None), not plain values
            if not key or id(widget) in skip or not isinstance(widget.value, PLAIN) or key in self.widgets:
                continue
            self.widgets[key] = widget
        self.defaults = {key: w.value for key, w in self.widgets.items()}
        self.restore()
        for key, widget in self.widgets.items():
            widget.changed.connect(lambda value, key=key: self.store(key, value))

    def restore(self) -> None:
        store = settings()
        store.beginGroup(self.group)
        for key, widget in self.widgets.items():
            raw = store.value(key)
            if raw is None:
                continue
            try:
                value = json.loads(raw)
                if _same_kind(value, self.defaults[key]):
                    widget.value = value
            except (ValueError, TypeError):
                continue  # a choice that went away, a number out of range, a damaged file
        store.endGroup()

    def store(self, key: str, value) -> None:
        if not isinstance(value, PLAIN):
            return
        store = settings()
        store.beginGroup(self.group)
        store.setValue(key, json.dumps(value))
        store.endGroup()

    def restore_defaults(self) -> None:
        """What Restore defaults does: every remembered option back to its default."""
        for key, widget in self.widgets.items():
            widget.value = self.defaults[key]
        store = settings()
        store.remove(self.group)
        store.sync()
