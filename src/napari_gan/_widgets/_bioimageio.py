"""Save model… as a bioimage.io package: the Save dialog's second file type, for
models that have one (Denoiser, Segmenter, most Translator tasks). The export runs
in a worker (it runs bioimageio.core's test of the package, a few seconds)."""

from __future__ import annotations

from pathlib import Path

from napari.utils.notifications import show_info

from napari_gan.core.bmz import can_export

NGAN_FILTER = "napari-gan model (*.ngan)"
BIOIMAGEIO_FILTER = "bioimage.io package (*.zip)"


def save_filter(model) -> str:
    """The Save dialog's file types: .ngan, and .zip where ``model`` can be exported."""
    types = [NGAN_FILTER] + ([BIOIMAGEIO_FILTER] if model is not None and can_export(model) else [])
    return ";;".join(types + ["All files (*)"])


def wants_package(path: str, chosen_filter: str) -> bool:
    return Path(path).suffix.lower() == ".zip" or chosen_filter == BIOIMAGEIO_FILTER


def export_package(panel, path) -> bool:
    """Export ``panel``'s model to ``path`` (``.zip`` added if missing) in a worker;
    the outcome is notified. Returns True if the export started."""
    path = Path(path)
    if path.suffix.lower() != ".zip":
        path = path.with_name(path.name + ".zip")
    model = panel.model
    if model is None:
        panel.error("Nothing to export: train or load a model first")
        return False

    def job(progress):
        # the file dialog has already asked whether to replace an existing file
        return model.export_bioimageio(path, overwrite=True)

    def done(written) -> None:
        panel.set_status(f"Exported a bioimage.io package to {written}")
        show_info(f"Exported a bioimage.io package to {written}")

    # not stoppable: its effect is the file it writes, which dropping the result would
    # not undo
    return panel.run_job(job, done, description="exporting to bioimage.io", stoppable=False)
