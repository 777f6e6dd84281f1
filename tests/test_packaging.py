"""Packaging: no Qt in the core, the npe2 manifest as installed, the wheel, the CLI."""

import importlib.resources
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_KEYS = {
    "noisy_camera",
    "noisy_moon",
    "noisy_clean_pair",
    "noisy_stack_3d",
    "microscopy_like",
    "nuclei_with_masks",
    "spots_with_points",
    "cells_with_landmarks",
    "blobs_and_rods_with_boxes",
    "objects_two_kinds",
    "brick_texture",
    "faces_stack",
    "lowres_highres_pair",
    "image_with_hole_mask",
}
# Top-level names; "napari" must not match our own "napari_gan".
GUI_PACKAGES = (
    "qtpy",
    "PyQt5",
    "PyQt6",
    "PySide2",
    "PySide6",
    "napari",
    "magicgui",
    "superqt",
    "vispy",
)


def test_import_loads_no_gui():
    code = (
        "import napari_gan, sys; "
        f"bad = [m for m in sys.modules if m.partition('.')[0] in {GUI_PACKAGES!r}]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_manifest_from_distribution():
    from npe2 import PluginManifest

    pm = PluginManifest.from_distribution("napari-gan")
    assert pm.name == "napari-gan"
    assert pm.display_name == "napari-gan"
    commands = {c.id: c.python_name for c in pm.contributions.commands}
    assert commands["napari-gan.make_denoise_widget"] == "napari_gan._widgets.denoise:DenoiseWidget"
    widgets = {w.display_name: w.command for w in pm.contributions.widgets}
    assert widgets == {
        "Denoise": "napari-gan.make_denoise_widget",
        "Segment": "napari-gan.make_segment_widget",
        "Detect": "napari-gan.make_detect_widget",
        "Keypoints": "napari-gan.make_keypoints_widget",
        "Boxes": "napari-gan.make_boxes_widget",
        "Compare layers": "napari-gan.make_compare_widget",
        "Classify": "napari-gan.make_classify_widget",
        "Generate (GAN)": "napari-gan.make_generate_widget",
        "Image-to-image": "napari-gan.make_translate_widget",
    }
    samples = {s.key: s.command for s in pm.contributions.sample_data}
    assert set(samples) == SAMPLE_KEYS
    for key, command in samples.items():
        assert commands[command] == f"napari_gan._sample_data:{key}"
    # What `npe2 validate --imports napari-gan` checks: every python_name imports.
    pm.validate_imports()


def test_packaged_manifest_is_the_root_one():
    root_manifest = ROOT / "napari.yaml"
    if not root_manifest.is_file():
        pytest.skip("not run from a source checkout")
    packaged = importlib.resources.files("napari_gan").joinpath("napari.yaml")
    assert packaged.read_text() == root_manifest.read_text()


def test_wheel_ships_manifest(tmp_path):
    """A non-editable wheel carries napari.yaml as a file and the napari.manifest entry point."""
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("not run from a source checkout")
    pytest.importorskip("setuptools", minversion="77")  # what pyproject.toml needs
    # Build from a copy so that the checkout gets no build/ or egg-info litter;
    # symlinks are copied as symlinks, as git checks them out.
    project = tmp_path / "project"
    shutil.copytree(
        ROOT / "src",
        project / "src",
        symlinks=True,
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    for name in ("pyproject.toml", "napari.yaml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, project / name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(project),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = (tmp_path / "dist").glob("napari_gan-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        info = zf.getinfo("napari_gan/napari.yaml")
        assert not (info.external_attr >> 16) & 0o020000  # a regular file, not a symlink
        assert zf.read(info).decode() == (ROOT / "napari.yaml").read_text()
        # the bundled generic denoiser (the warm start) ships too
        weights = ROOT / "src" / "napari_gan" / "weights" / "denoise_generic_2d.ngan"
        assert zf.read("napari_gan/weights/denoise_generic_2d.ngan") == weights.read_bytes()
        entry_points = next(n for n in zf.namelist() if n.endswith(".dist-info/entry_points.txt"))
        text = zf.read(entry_points).decode()
    assert "[napari.manifest]\nnapari-gan = napari_gan:napari.yaml" in text
    assert "napari-gan = napari_gan.__main__:main" in text


def test_cli_help():
    result = subprocess.run([sys.executable, "-m", "napari_gan", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "gui" in result.stdout


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], {"sample": "noisy_camera", "widget": "Denoise"}),
        (["gui"], {"sample": "noisy_camera", "widget": "Denoise"}),
        (["gui", "--sample", "none"], {"sample": None, "widget": "Denoise"}),
        (["gui", "--sample", "noisy_moon"], {"sample": "noisy_moon", "widget": "Denoise"}),
    ],
)
def test_cli_dispatches_to_gui(monkeypatch, argv, expected):
    from napari_gan import __main__ as cli

    calls = []
    monkeypatch.setattr(cli, "gui", lambda **kwargs: calls.append(kwargs))
    assert cli.main(argv) == 0
    assert calls == [expected]


def test_gui_opens_widget_and_sample(make_napari_viewer, monkeypatch):
    """`napari-gan` docks the Denoise widget beside the noisy camera sample."""
    import napari

    from napari_gan import __main__ as cli

    viewer = make_napari_viewer()
    monkeypatch.setattr(napari, "Viewer", lambda: viewer)
    monkeypatch.setattr(napari, "run", lambda: None)  # the test, not napari, owns the loop
    cli.main([])
    assert [layer.name for layer in viewer.layers] == ["camera (noisy, sigma=25)"]
    assert any("Denoise" in name for name in viewer.window.dock_widgets)
