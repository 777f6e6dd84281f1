"""Hostile or damaged checkpoint headers: each refused with a CheckpointError that
names the problem, before any network is built (so without a large allocation)."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

import napari_gan as ng
from napari_gan.core.io import FORMAT, MAX_HEADER_BYTES, inspect_checkpoint, read_header
from napari_gan.core.models.classifier import ClassifierNet, ClassifierNetConfig
from napari_gan.core.synthetic import spots, touching_nuclei, two_kinds
from napari_gan.core.synthetic_boxes import blobs_and_rods
from napari_gan.core.synthetic_landmarks import landmark_cells


def _image(shape=(64, 64), seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (0.5 + 0.3 * np.sin(xx / 5.0) * np.cos(yy / 7.0) + rng.normal(0, 0.1, shape)).astype(np.float32)


def _write(path, tensors: dict, header) -> str:
    """A checkpoint made by hand: ``header`` is JSON-encoded unless it is a string."""
    meta = header if isinstance(header, str) else json.dumps(header)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={FORMAT: meta})
    return str(path)


def _write_raw(path, layout: dict, data: bytes = b"") -> str:
    """A safetensors file with a hand-written layout (dtypes, shapes, offsets)."""
    raw = json.dumps(layout).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return str(path)


@pytest.fixture(scope="module")
def denoiser_file(tmp_path_factory):
    den = ng.Denoiser(patch_size=32, batch_size=2, features=8, depth=2, pretrained=False)
    path = den.fit(_image(), max_steps=1, seed=0).save(tmp_path_factory.mktemp("ckpt") / "den.ngan")
    return path


@pytest.fixture
def parts(denoiser_file):
    """(tensors, header) of a real small Denoiser, to be edited into hostile files."""
    from safetensors.torch import load_file

    return load_file(str(denoiser_file)), read_header(denoiser_file)


def test_the_unedited_parts_load(tmp_path, parts):
    tensors, header = parts
    model = ng.load_model(_write(tmp_path / "same.ngan", tensors, header))
    assert isinstance(model, ng.Denoiser) and model.net.config.features == 8


def _edit(header, key_path: str, value):
    out = json.loads(json.dumps(header))
    *head, last = key_path.split(".")
    node = out
    for k in head:
        node = node[k]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return out


_DELETE = object()


@pytest.mark.parametrize(
    "key_path, value, message",
    [
        # the network config asks for another network than the stored tensors (large
        # ones: test_huge_network_in_a_small_file_allocates_nothing_large)
        ("net.features", 2**40, r"net\.features must be in \[.*\], got 1099511627776"),
        ("net.depth", 4, r"not those of the Denoiser network .*lacks 'enc\.2"),
        ("net.depth", 50, r"not a valid UNetConfig: depth must be 1\.\.5"),
        ("net.in_channels", 3, r"'enc\.0\.c1\.weight' is stored with shape \(8, 1, 3, 3\).*implies \(8, 3, 3, 3\)"),
        # types
        ("format_version", "one", r"format_version 'one' is not a positive integer"),
        ("format_version", 1.5, r"format_version 1\.5 is not a positive integer"),
        ("format_version", 99, r"newer napari-gan"),
        ("config", [1, 2], r"config is not a mapping \(got list\)"),
        ("config", "features=8", r"config is not a mapping \(got str\)"),
        ("config.features", True, r"config\.features must be an integer, got bool"),
        ("config.features", "8", r"config\.features must be an integer, got str"),
        ("config.learning_rate", "fast", r"config\.learning_rate must be a finite number, got str"),
        ("net.features", 8.0, r"net\.features must be an integer, got float"),
        ("net.residual", 1, r"net\.residual must be true or false, got int"),
        ("net", [8, 2], r"net is not a mapping"),
        ("normalization", [1.0, "x"], r"normalization\[1\] must be a finite number"),
        ("normalization", [2.0, 1.0], r"normalization must be \[low, high\] with low < high"),
        ("axes", "YQ", r"axes must be distinct letters from 'STCZYX'"),
        ("steps_trained", -3, r"steps_trained must be in \[0, "),
        ("history", "long", r"history must be a list, got str"),
        ("history", [{"step": "one"}], r"history\[0\]\.step must be a number, got str"),
        ("mode", "magic", r"mode must be one of"),
        # keys
        ("config.bogus", 1, r"config has unknown key\(s\) for a DenoiserConfig: 'bogus'"),
        ("net.heads", 4, r"net has unknown key\(s\) for a UNetConfig: 'heads'"),
        ("payload", "x", r"the header has unknown key\(s\) for a Denoiser: 'payload'"),
        ("net", _DELETE, r"the header lacks 'net'"),
        ("config", _DELETE, r"the header has no config"),
        ("kind", 7, r"the model kind 7 is not a name"),
        ("kind", "Sandbox", r"unknown model kind 'Sandbox'"),
    ],
)
def test_hostile_header_is_refused_by_name(tmp_path, parts, key_path, value, message):
    tensors, header = parts
    path = _write(tmp_path / "hostile.ngan", tensors, _edit(header, key_path, value))
    with pytest.raises(ng.CheckpointError, match=message):
        ng.load_model(path)


def test_metadata_that_is_not_json(tmp_path, parts):
    tensors, _ = parts
    with pytest.raises(ng.CheckpointError, match="napari-gan metadata is not valid JSON"):
        ng.load_model(_write(tmp_path / "a.ngan", tensors, "{'kind': 'Denoiser'"))
    with pytest.raises(ng.CheckpointError, match="napari-gan metadata is not a JSON object"):
        ng.load_model(_write(tmp_path / "b.ngan", tensors, "[1, 2, 3]"))
    with pytest.raises(ng.CheckpointError, match="not valid JSON \\(nested too deeply\\)"):
        ng.load_model(_write(tmp_path / "c.ngan", tensors, "[" * 100_000 + "]" * 100_000))


def test_tensors_of_another_model(tmp_path, parts):
    _, header = parts
    foreign = ClassifierNet(ClassifierNetConfig()).state_dict()
    another = r"not those of the Denoiser network .*lacks 'enc\.0\.c1\.weight'.*has 'features\."
    with pytest.raises(ng.CheckpointError, match=another):
        ng.load_model(_write(tmp_path / "a.ngan", foreign, header))
    tensors, _ = parts
    missing = {k: v for k, v in tensors.items() if k != "head.bias"}
    with pytest.raises(ng.CheckpointError, match=r"the file lacks 'head\.bias'"):
        ng.load_model(_write(tmp_path / "b.ngan", missing, header))
    extra = {**tensors, "payload": torch.zeros(4)}
    with pytest.raises(ng.CheckpointError, match=r"the file has 'payload', which it does not"):
        ng.load_model(_write(tmp_path / "c.ngan", extra, header))
    integers = {**tensors, "head.bias": tensors["head.bias"].to(torch.int32)}
    with pytest.raises(ng.CheckpointError, match=r"'head\.bias' is stored as I32, expected a floating-point type"):
        ng.load_model(_write(tmp_path / "d.ngan", integers, header))


def test_layout_that_claims_more_than_the_file(tmp_path, parts):
    _, header = parts
    meta = {FORMAT: json.dumps(header)}
    huge = {"__metadata__": meta, "w": {"dtype": "F32", "shape": [10**6, 10**6], "data_offsets": [0, 16]}}
    with pytest.raises(ng.CheckpointError, match=r"'w' of shape \(1000000, 1000000\) \(F32\) does not fit its 16"):
        ng.load_model(_write_raw(tmp_path / "a.ngan", huge, bytes(16)))
    beyond = {"__metadata__": meta, "w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
    with pytest.raises(ng.CheckpointError, match=r"tensors take 16 bytes, the file holds 8"):
        ng.load_model(_write_raw(tmp_path / "b.ngan", beyond, bytes(8)))
    overlap = {
        "__metadata__": meta,
        "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
        "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]},
    }
    with pytest.raises(ng.CheckpointError, match=r"overlap or leave a gap"):
        ng.load_model(_write_raw(tmp_path / "c.ngan", overlap, bytes(24)))
    for entry, message in [
        ({"dtype": "F32", "shape": "4", "data_offsets": [0, 16]}, "invalid shape"),
        ({"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}, "invalid shape"),
        ({"dtype": "OBJ", "shape": [4], "data_offsets": [0, 16]}, "unsupported dtype 'OBJ'"),
        ({"dtype": "F32", "shape": [4], "data_offsets": [0, "16"]}, "invalid data_offsets"),
        ({"dtype": "F32", "shape": [4]}, "not described by dtype, shape and data_offsets"),
    ]:
        with pytest.raises(ng.CheckpointError, match=message):
            ng.load_model(_write_raw(tmp_path / "d.ngan", {"__metadata__": meta, "w": entry}, bytes(16)))
    with pytest.raises(ng.CheckpointError, match="the napari-gan metadata is not a JSON string"):
        ng.load_model(_write_raw(tmp_path / "e.ngan", {"__metadata__": {FORMAT: 5}}))


def test_safetensors_itself_refuses_shapes_larger_than_the_file(tmp_path, parts):
    """The layout check above does not rely on it, but safetensors agrees."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    _, header = parts
    huge = {"__metadata__": {}, "w": {"dtype": "F32", "shape": [10**6, 10**6], "data_offsets": [0, 16]}}
    with pytest.raises(SafetensorError):
        load_file(_write_raw(tmp_path / "a.safetensors", huge, bytes(16)))


def test_oversized_header(tmp_path):
    path = tmp_path / "big.ngan"
    n = MAX_HEADER_BYTES + 8
    path.write_bytes(struct.pack("<Q", n) + b"{" + b" " * (n - 2) + b"}")
    with pytest.raises(ng.CheckpointError, match=r"header of \d+ bytes, more than"):
        inspect_checkpoint(path)


_PEAK_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, time
    import napari_gan as ng
    from napari_gan.core.io import read_header

    # a hostile file must not reach this much address space; the cap only keeps a
    # broken loader from taking the machine's memory (its first large layer still
    # shows in the peak RSS measured below)
    with open("/proc/self/status") as fh:
        vm = next(int(line.split()[1]) for line in fh if line.startswith("VmSize")) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + 6 * 2**30, resource.RLIM_INFINITY))
    read_header(sys.argv[1])  # warms up what loading imports lazily
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        ng.load_model(sys.argv[1])
        error = None
    except ng.CheckpointError as exc:
        error = str(exc)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"error": error, "extra_mb": (peak - base) / 1024, "seconds": seconds}))
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc and ru_maxrss in kB")
@pytest.mark.parametrize(
    "features, message",
    [
        (8192, r"tensor 'enc\.0\.c1\.weight' is stored with shape \(8, 1, 3, 3\), .* implies \(8192, 1, 3, 3\)"),
        (2**31 - 1, r"describes no network that can be built: .*overflow"),
    ],
)
def test_huge_network_in_a_small_file_allocates_nothing_large(tmp_path, parts, features, message):
    """In a subprocess, to measure its peak memory (and so that a loader that does
    build the network cannot take this process's memory)."""
    tensors, header = parts
    path = _write(tmp_path / "huge.ngan", tensors, _edit(header, "net.features", features))
    run = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, path], capture_output=True, text=True, timeout=300, check=True
    )
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(result)
    assert result["error"] is not None and re.search(message, result["error"]), result
    assert result["extra_mb"] < 500, result


# ---------------------------------------------------------------- every model kind


def _object_classifier():
    image, labels, kinds = two_kinds((128, 128), seed=3, rim=(0.5, 0.8))
    ids = [int(i) for i in np.unique(labels) if i][:8]
    classes = {i: ("uniform", "rim")[kinds[i - 1]] for i in ids}
    if len(set(classes.values())) < 2 or min(list(classes.values()).count(c) for c in set(classes.values())) < 2:
        classes = {i: ("a", "b")[n % 2] for n, i in enumerate(ids)}
    return ng.ObjectClassifier(crop=32, input_size=16, features=8, batch_size=8).fit(
        image, labels, classes, max_steps=1, seed=0
    )


def _image_classifier():
    stack = np.stack([_image((24, 24), seed=s) for s in range(8)])
    return ng.ImageClassifier(input_size=16, features=8, batch_size=4).fit(stack, ["a", "b"] * 4, max_steps=1, seed=0)


def _blobs(n=6, size=20):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    out = []
    for _ in range(n):
        cy, cx = rng.uniform(5, size - 5, 2)
        out.append(40 + 180 * (((yy - cy) ** 2 + (xx - cx) ** 2) < 16))
    return np.array(out, dtype=np.uint8)


MAKERS = {
    "Denoiser": lambda: ng.Denoiser(patch_size=32, batch_size=2, features=8, pretrained=False).fit(
        _image(), max_steps=1, seed=0
    ),
    "Segmenter": lambda: ng.Segmenter(mode="instance", patch_size=32, batch_size=2, features=8).fit(
        *touching_nuclei((64, 64), seed=3), max_steps=1, seed=0
    ),
    "SpotDetector": lambda: ng.SpotDetector(patch_size=32, batch_size=2, features=4).fit(
        *spots((64, 64), n=10, snr=8, seed=1), max_steps=1, seed=0
    ),
    "BoxDetector": lambda: ng.BoxDetector(patch_size=32, batch_size=2, features=4, depth=2).fit(
        *blobs_and_rods((64, 64), n=(3, 3), seed=2), max_steps=1, seed=0
    ),
    "KeypointDetector": lambda: ng.KeypointDetector(patch_size=32, batch_size=2, features=4).fit(
        *landmark_cells((64, 64), n_cells=3, seed=1), max_steps=1, seed=0
    ),
    "ObjectClassifier": _object_classifier,
    "ImageClassifier": _image_classifier,
    "ImageGAN-samples": lambda: ng.ImageGAN(features=8, latent=16, batch_size=4).fit(
        _blobs(), classes=["a", "b"] * 3, max_steps=1, seed=0
    ),
    "ImageGAN-texture": lambda: ng.ImageGAN(mode="texture", features=4, crop_size=32, batch_size=2).fit(
        _image((64, 64)), max_steps=1, seed=0
    ),
    "Translator": lambda: ng.Translator(
        task="superres", features=8, depth=2, patch_size=32, batch_size=2, d_features=8
    ).fit(_image(), max_steps=1, seed=0),
    "Translator-unpaired": lambda: ng.Translator(
        task="unpaired", features=8, depth=2, patch_size=32, batch_size=2, d_features=8
    ).fit(_image(), 1 - _image((48, 56), seed=1), max_steps=1, seed=0),
}


@pytest.fixture(scope="module", params=sorted(MAKERS))
def any_kind_file(request, tmp_path_factory):
    path = MAKERS[request.param]().save(tmp_path_factory.mktemp("kinds") / f"{request.param}.ngan")
    from safetensors.torch import load_file

    return path, load_file(str(path)), read_header(path)


def test_every_kind_loads_and_checks_its_tensors(tmp_path, any_kind_file):
    path, tensors, header = any_kind_file
    loaded = ng.load_model(path)
    assert type(loaded).kind == header["kind"]
    assert all(not t.is_meta for t in loaded.net.state_dict().values())
    name = sorted(tensors)[len(tensors) // 2]
    fewer = {k: v for k, v in tensors.items() if k != name}
    with pytest.raises(ng.CheckpointError, match=f"the file lacks '{name}'"):
        ng.load_model(_write(tmp_path / "fewer.ngan", fewer, header))
    resized = {**tensors, name: torch.zeros(tuple(tensors[name].shape) + (2,))}
    with pytest.raises(ng.CheckpointError, match=f"tensor '{name}' is stored with shape"):
        ng.load_model(_write(tmp_path / "resized.ngan", resized, header))
    with pytest.raises(ng.CheckpointError, match=r"config has unknown key\(s\) .*'bogus'"):
        ng.load_model(_write(tmp_path / "key.ngan", tensors, _edit(header, "config.bogus", 0)))
    with pytest.raises(ng.CheckpointError, match=r"the header has unknown key\(s\)"):
        ng.load_model(_write(tmp_path / "top.ngan", tensors, _edit(header, "extra", 0)))


def test_denoiser_header_with_tensors_of_every_other_kind(tmp_path, any_kind_file, parts):
    _, tensors, header = any_kind_file
    if header["kind"] == "Denoiser":
        pytest.skip("the same kind")
    den_tensors, den_header = parts
    if {k: v.shape for k, v in tensors.items()} == {k: v.shape for k, v in den_tensors.items()}:
        pytest.skip("this network has exactly the Denoiser's tensors: nothing tells them apart")
    with pytest.raises(ng.CheckpointError, match="not those of the Denoiser network|is stored with shape"):
        ng.load_model(_write(tmp_path / "other.ngan", tensors, den_header))


def test_texture_network_depth_is_bounded_before_it_is_built(tmp_path):
    """n_up sets the number of generator levels and 4**n_up noise channels: a header
    asking for a million levels is refused by the config, not built."""
    path = MAKERS["ImageGAN-texture"]().save(tmp_path / "tex.ngan")
    from safetensors.torch import load_file

    tensors, header = load_file(str(path)), read_header(path)
    with pytest.raises(ng.CheckpointError, match=r"net_config is not a valid TextureGANConfig: n_up and d_layers"):
        ng.load_model(_write(tmp_path / "deep.ngan", tensors, _edit(header, "net_config.n_up", 10**6)))
    with pytest.raises(ng.CheckpointError, match=r"net_config has unknown key\(s\) for a TextureGANConfig: 'size'"):
        ng.load_model(_write(tmp_path / "mixed.ngan", tensors, _edit(header, "net_config.size", 32)))


def test_texture_example_shape_must_match_its_tensor(tmp_path):
    """A texture model keeps its example image as a tensor; a header whose
    exemplar_shape disagrees with it, or a samples model that claims one, is refused
    before anything is built."""
    path = MAKERS["ImageGAN-texture"]().save(tmp_path / "tex.ngan")
    from safetensors.torch import load_file

    tensors, header = load_file(str(path)), read_header(path)
    assert "exemplar.image" in tensors and header["exemplar_shape"] == list(tensors["exemplar.image"].shape)
    with pytest.raises(ng.CheckpointError, match=r"exemplar.image' is stored with shape \(1, 64, 64\)"):
        ng.load_model(_write(tmp_path / "shape.ngan", tensors, _edit(header, "exemplar_shape", [1, 4096, 4096])))
    with pytest.raises(ng.CheckpointError, match="exemplar_shape"):
        ng.load_model(_write(tmp_path / "bad.ngan", tensors, _edit(header, "exemplar_shape", [1, -3, 8])))
    samples = MAKERS["ImageGAN-samples"]().save(tmp_path / "samples.ngan")
    t2, h2 = load_file(str(samples)), read_header(samples)
    with pytest.raises(ng.CheckpointError, match="only texture mode"):
        ng.load_model(
            _write(
                tmp_path / "s.ngan",
                {**t2, "exemplar.image": torch.zeros(1, 8, 8)},
                _edit(h2, "exemplar_shape", [1, 8, 8]),
            )
        )


def test_colorize_chroma_table_is_checked_before_use(tmp_path):
    """A colorize model keeps its classical colourization, a 64 x 2 table of chroma by
    lightness, in its header: a table of another shape or with impossible colours is
    refused by name; a header without one (files saved before it existed) loads."""
    rgb = np.stack([_image(), _image(seed=1) ** 2, 1 - _image(seed=2)], -1).clip(0, 1)
    path = (
        ng.Translator(task="colorize", features=8, depth=2, patch_size=32, batch_size=2, d_features=8)
        .fit(rgb, max_steps=1, seed=0)
        .save(tmp_path / "col.ngan")
    )
    from safetensors.torch import load_file

    tensors, header = load_file(str(path)), read_header(path)
    assert np.shape(header["chroma"]) == (64, 2)
    with pytest.raises(ng.CheckpointError, match="chroma"):
        ng.load_model(_write(tmp_path / "short.ngan", tensors, _edit(header, "chroma", header["chroma"][:10])))
    wild = [[50.0, 0.0]] * 64
    with pytest.raises(ng.CheckpointError, match="chroma"):
        ng.load_model(_write(tmp_path / "wild.ngan", tensors, _edit(header, "chroma", wild)))
    old = ng.load_model(_write(tmp_path / "old.ngan", tensors, _edit(header, "chroma", _DELETE)))
    assert old.chroma is None
