"""``napari-gan train CONFIG``: config files, headless runs, resume after a kill,
and data-parallel training under torchrun (gloo, 2 processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import napari_gan as ng
from napari_gan.__main__ import main
from napari_gan.core.run.config import ConfigError, parse_config, read_config, write_config
from napari_gan.core.run.train import train


def _noisy(path, shape=(64, 64), seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    np.save(path, (np.sin(yy / 5.0) * np.cos(xx / 7.0) + 0.3 * rng.normal(size=shape)).astype(np.float32))
    return path


def _config(tmp_path, output="out", max_steps=12, every=4, batch=4, **extra):
    _noisy(tmp_path / "noisy.npy")
    text = f"""model: Denoiser
options: {{patch_size: 32, batch_size: {batch}, features: 8, pretrained: false}}
data: {{image: noisy.npy}}
fit: {{max_steps: {max_steps}, seed: 3}}
output: {output}
checkpoint_every: {every}
"""
    path = tmp_path / f"{output}.yaml"
    path.write_text(text)
    return path


def _weights(path):
    return ng.load_model(path).net.state_dict()


def _log(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---------------------------------------------------------------- config files


def test_yaml_and_toml_configs_read_alike_and_round_trip(tmp_path):
    yaml_cfg = read_config(_config(tmp_path))
    (tmp_path / "run.toml").write_text(
        'model = "Denoiser"\noutput = "out"\ncheckpoint_every = 4\n'
        "[options]\npatch_size = 32\nbatch_size = 4\nfeatures = 8\npretrained = false\n"
        '[data]\nimage = "noisy.npy"\n[fit]\nmax_steps = 12\nseed = 3\n'
    )
    toml_cfg = read_config(tmp_path / "run.toml")
    assert yaml_cfg.to_dict() == toml_cfg.to_dict()
    assert yaml_cfg.output == tmp_path / "out"  # relative to the file
    again = read_config(write_config(yaml_cfg, tmp_path / "again.yaml"))
    assert again.to_dict() == yaml_cfg.to_dict()


GOOD = {"model": "Denoiser", "data": {"image": "noisy.npy"}}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"modle": "Denoiser"}, "unknown key 'modle'"),
        ({"model": "Denoizer"}, "model = 'Denoizer' is not a model kind"),
        ({"options": {"patch_sise": 32}}, "options.patch_sise is not an option of Denoiser"),
        ({"options": {"patch_size": "big"}}, "options.patch_size = 'big' should be of type int"),
        ({"options": {"pretrained": 1}}, "options.pretrained = 1 should be of type bool"),
        ({"options": []}, "options should be a mapping"),
        ({"data": {"imgae": "noisy.npy"}}, "data.imgae is not an argument of fit"),
        ({"data": {"image": "missing.npy"}}, r"data.image: .*missing.npy does not exist"),
        ({"data": {"image": {"path": "noisy.npy", "key": "x"}}}, r"data.image has unknown key"),
        ({"data": {}}, "data lacks image"),
        ({"fit": {"max_step": 10}}, "fit.max_step is not an option of fit"),
        ({"fit": {"max_steps": 0}}, "fit.max_steps = 0"),
        ({"fit": {"max_steps": None}}, "fit.max_steps = null .*needs a fit.time_limit"),
        ({"fit": {"time_limit": -1}}, "fit.time_limit = -1"),
        ({"fit": {"seed": 1.5}}, "fit.seed = 1.5"),
        ({"fit": {"device": "gpu"}}, "fit.device = 'gpu'"),
        ({"checkpoint_every": 0}, "checkpoint_every = 0"),
        ({"output": 3}, "output should be a folder name"),
    ],
)
def test_every_bad_key_or_value_is_named(tmp_path, change, message):
    _noisy(tmp_path / "noisy.npy")
    raw = {**GOOD, **change}
    with pytest.raises(ConfigError, match=message):
        parse_config(raw, base=tmp_path)


def test_a_run_without_a_step_limit_trains_until_its_time_limit(tmp_path, capsys):
    _noisy(tmp_path / "noisy.npy")
    raw = {**GOOD, "options": {"patch_size": 32, "batch_size": 4, "features": 8, "pretrained": False}}
    cfg = parse_config({**raw, "fit": {"max_steps": None, "time_limit": 1.5}, "output": "out"}, base=tmp_path)
    started = time.perf_counter()
    model = train(cfg)
    assert time.perf_counter() - started >= 1.5  # not ended by a step budget
    assert model.steps_trained > 0 and (tmp_path / "out" / "model.ngan").is_file()
    assert "/" not in capsys.readouterr().err.split("step ")[-1].split()[0]  # "step 57", not "step 57/4611..."


def test_torchrun_refuses_a_run_without_a_step_limit(tmp_path, monkeypatch):
    from napari_gan.core.run import distributed

    _noisy(tmp_path / "noisy.npy")
    cfg = parse_config({**GOOD, "fit": {"max_steps": None, "time_limit": 60}, "output": "out"}, base=tmp_path)
    monkeypatch.setattr(distributed, "setup", lambda device: distributed.World(rank=0, size=2, device="cpu"))
    with pytest.raises(ng.InputError, match="under torchrun fit.max_steps must be a number"):
        train(cfg, echo=lambda line: None)
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_unreadable_config_files_are_refused(tmp_path):
    for name, text, message in [
        ("a.yaml", "model: [unclosed", "not valid YAML"),
        ("a.toml", "model = ", "not valid TOML"),
        ("a.json", "{}", "is a .yaml, .yml or .toml"),
        ("b.yaml", "- just\n- a list\n", "is a mapping"),
        ("c.yaml", "!!python/object/apply:os.system ['echo owned']", "not valid YAML"),
    ]:
        (tmp_path / name).write_text(text)
        with pytest.raises(ConfigError, match=message):
            read_config(tmp_path / name)
    with pytest.raises(ConfigError, match="does not exist"):
        read_config(tmp_path / "none.yaml")


# ---------------------------------------------------------------- headless runs


def test_train_writes_a_model_the_widgets_load_a_log_and_refuses_to_overwrite(tmp_path, capsys):
    cfg = _config(tmp_path)
    assert main(["train", str(cfg)]) == 0
    out = tmp_path / "out"
    model = ng.load_model(out / "model.ngan")
    assert model.steps_trained == 12 and isinstance(model, ng.Denoiser)
    assert [e["step"] for e in _log(out / "log.jsonl")] == list(range(1, 13))
    assert read_config(out / "config.yaml").model == "Denoiser"
    assert "step 12/12" in capsys.readouterr().err
    assert main(["train", str(cfg)]) == 2  # the output holds a run
    assert "already holds a run" in capsys.readouterr().err
    assert main(["train", str(cfg), "--resume"]) == 2  # finished: nothing to resume
    assert "nothing to resume" in capsys.readouterr().err
    assert ng.load_model(out / "model.ngan").steps_trained == 12  # nothing lost


def test_a_run_killed_mid_way_resumes_to_the_uninterrupted_result(tmp_path):
    whole = train(_config(tmp_path, output="whole", max_steps=60, every=2), echo=lambda line: None)
    cfg = _config(tmp_path, output="killed", max_steps=60, every=2)
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "napari_gan", "train", str(cfg)], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (out / "last.state").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)  # a crash: no chance to save
    proc.wait(timeout=30)
    killed_at = ng.load_model(out / "last.state").steps_trained
    assert 2 <= killed_at < 60, "the run was not killed mid-way"
    resumed = train(cfg, resume=True, echo=lambda line: None)
    assert resumed.steps_trained == whole.steps_trained == 60
    a, b = whole.net.state_dict(), _weights(out / "model.ngan")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-6, msg=key)
    log_whole, log_resumed = _log(tmp_path / "whole" / "log.jsonl"), _log(out / "log.jsonl")
    assert [e["step"] for e in log_resumed] == list(range(1, 61))
    np.testing.assert_allclose([e["loss"] for e in log_resumed], [e["loss"] for e in log_whole], rtol=1e-4, atol=1e-6)


def test_sigterm_saves_the_run_before_stopping(tmp_path):
    cfg = _config(tmp_path, max_steps=100_000, every=100_000)  # only the signal saves
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "napari_gan", "train", str(cfg)], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while (not (out / "log.jsonl").exists() or not (out / "log.jsonl").read_text().count("\n") >= 3) and (
        time.monotonic() < deadline and proc.poll() is None
    ):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)  # what SLURM sends before the wall-time kill
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert b"--resume" in err
    saved = ng.load_model(out / "last.state")
    assert saved.steps_trained >= 3
    assert ng.load_model(out / "last.ngan").steps_trained == saved.steps_trained


# ---------------------------------------------------------------- torchrun


def test_torchrun_two_processes_train_replicas_that_stay_identical(tmp_path):
    cfg = _config(tmp_path, output="ddp", max_steps=40, every=20, batch=8)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "napari_gan", "train", str(cfg)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = tmp_path / "ddp"
    model = ng.load_model(out / "model.ngan")
    assert model.steps_trained == 40 and model.config.batch_size == 4  # the global batch of 8, split
    a, b = _weights(out / "last.state"), _weights(out / "last.rank1.state")
    for key in a:  # averaged gradients: the two replicas took the same steps
        assert torch.equal(a[key], b[key]), key
    # the same global batch in one process learns alike: the last 20 steps' mean
    # loss within 25 % (the processes draw other patches, so not step for step)
    single = train(_config(tmp_path, output="single", max_steps=40, every=20, batch=8), echo=lambda line: None)
    late = lambda log: np.mean([e["loss"] for e in log[20:]])  # noqa: E731
    ratio = late(_log(out / "log.jsonl")) / late(single.history)
    assert 0.75 < ratio < 1.25, ratio


# ---------------------------------------------------------------- every model kind


@pytest.mark.parametrize(
    "kind",
    [
        "Denoiser",
        "Segmenter",
        "SpotDetector",
        "KeypointDetector",
        "BoxDetector",
        "ObjectClassifier",
        "ImageClassifier",
        "ImageGAN-samples",
        "ImageGAN-texture",
        "Translator",
        "Translator-unpaired",
    ],
)
def test_every_model_kind_exports_a_config_that_trains_headless(kind, tmp_path):
    from test_resume import RUNS

    from napari_gan.core.run.export import bind_fit, export_run

    make, data = RUNS[kind]
    args, kw = data()
    model = make()
    arguments = bind_fit(model, args, {**kw, "max_steps": 2, "seed": 4})
    cfg = export_run(model, arguments, tmp_path / "run.yaml")
    assert cfg.model == model.kind and cfg.fit["max_steps"] == 2
    trained = train(cfg, echo=lambda line: None)
    assert type(trained) is type(model) and trained.steps_trained == 2
    assert ng.load_model(cfg.output / "model.ngan").config == model.config


@pytest.mark.parametrize(
    "kind", ["ImageGAN-samples", "ImageGAN-adaptive", "ImageGAN-pyramid", "Translator-unpaired", "Segmenter"]
)
def test_torchrun_keeps_other_kinds_replicas_identical(kind, tmp_path):
    """A GAN's two optimizers (four for samples made coarse to fine), its
    discriminators, its moving averages (EMA; unpaired translation's of both
    generators) and its adaptive augmentation's counts stay in step across
    processes, as a U-Net's weights do."""
    from test_resume import RUNS

    from napari_gan.core.run.export import bind_fit, export_run

    make, data = RUNS[kind]
    args, kw = data()
    model = make()
    cfg = export_run(model, bind_fit(model, args, {**kw, "max_steps": 6, "seed": 2}), tmp_path / "run.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "napari_gan", "train"]
    run = subprocess.run([*cmd, str(cfg.source)], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    trained = ng.load_model(cfg.output / "model.ngan")
    assert trained.steps_trained == 6 and trained.config.batch_size == model.config.batch_size // 2
    a, b = _weights(cfg.output / "last.state"), _weights(cfg.output / "last.rank1.state")
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize(
    "augment, message",
    [
        ("adaptive", None),
        (True, None),
        (False, None),
        (3, "options.augment = 3 should be of type bool or str"),
        ("sometimes", "augment must be True, False or .adaptive."),
    ],
)
def test_an_option_of_several_types_takes_each_and_names_a_bad_value(tmp_path, augment, message):
    np.save(tmp_path / "faces.npy", np.zeros((4, 16, 16), np.float32))
    raw = {"model": "ImageGAN", "options": {"augment": augment}, "data": {"images": "faces.npy"}}
    if message is None:
        assert parse_config(raw, base=tmp_path).options["augment"] == augment
    else:
        with pytest.raises(ConfigError, match=message):
            parse_config(raw, base=tmp_path)
