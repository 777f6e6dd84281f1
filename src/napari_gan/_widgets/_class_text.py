"""Per-image class names typed in a text field, with a shorthand for runs.

A stack sorted by class (50 healthy images, then 50 treated ones) is written
``healthy*50, treated*50`` instead of a hundred names; ``*12`` alone is a run of 12
empty entries (frames not annotated, where a widget allows them)."""

from __future__ import annotations

import re

import napari_gan as ng

#: a run: ``name*count`` (the name may be empty)
_RUN = re.compile(r"^(?P<name>[^*]*?)\s*\*\s*(?P<count>\d+)$")
#: the most entries a run may expand to (a typo like ``a*1000000000`` must not fill memory)
MAX_RUN = 1_000_000


def expand_runs(entries: list[str]) -> list[str]:
    """``["a*2", "b", "*1"]`` -> ``["a", "a", "b", ""]``; entries are stripped."""
    out: list[str] = []
    for entry in entries:
        entry = entry.strip()
        m = _RUN.match(entry)
        if m is None:
            if "*" in entry:
                raise ng.InputError(f"{entry!r}: write a run of one class as name*count, e.g. 'healthy*50'")
            out.append(entry)
            continue
        count = int(m.group("count"))
        if not 1 <= count <= MAX_RUN:
            raise ng.InputError(f"{entry!r}: a run's count must be between 1 and {MAX_RUN}")
        out.extend([m.group("name").strip()] * count)
    return out


def parse_labels(text: str) -> list[str] | None:
    """Comma- or whitespace-separated class labels, runs expanded; empty text -> None."""
    items = [t for t in re.split(r"[,\s]+", re.sub(r"\s*\*\s*", "*", text)) if t]
    names = expand_runs(items)
    if any(not n for n in names):
        raise ng.InputError("every image needs a class name: '*count' alone leaves images without one")
    return names or None


def parse_frame_names(text: str, n_frames: int) -> list[str | None]:
    """``"a, b, , a"`` -> ``["a", "b", None, "a"]``: one entry per frame, empty = not
    annotated; ``"a*2, *1"`` -> ``["a", "a", None]``."""
    names = [n or None for n in expand_runs(text.split(","))] if text.strip() else []
    if len(names) != n_frames:
        raise ng.InputError(
            f"{len(names)} class names for {n_frames} frames: give one per frame, comma-separated, or runs "
            "as name*count (leave an entry empty for a frame that is not annotated)"
        )
    return names
