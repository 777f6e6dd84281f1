"""Headless training in one process against torchrun with several: steps/s,
samples/s and the share of a step spent averaging gradients, at the same
global batch.

    python bench/train_scale.py                   # Denoiser and ImageGAN, 1 vs 2 processes
    python bench/train_scale.py --steps 60 --procs 2 4

Each run is ``napari-gan train CONFIG`` on a generated image (one process with
as many threads as processes in the other run, against N processes of one
thread each: the same cores). The rate is measured from the run's log.jsonl
after the first 10 steps (start-up and warm-up excluded). The target of the
scale issue: N processes reach at least 0.9x the samples/s of one.

``--ceiling`` adds a row with no communication at all: N ordinary one-thread
processes side by side, each training its own model on 1/N of the global batch.
No data-parallel scheme on these cores can beat their summed samples/s, however
well it hides its all-reduces.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml
from skimage import data

MODELS = {
    "Denoiser": {"options": {"patch_size": 64, "batch_size": 16, "pretrained": False}},
    "ImageGAN": {"options": {"batch_size": 32}},
}


def _data(folder: Path) -> dict[str, dict]:
    rng = np.random.default_rng(0)
    cam = data.camera().astype(np.float32) / 255
    np.save(folder / "noisy.npy", (cam + rng.normal(0, 0.1, cam.shape)).astype(np.float32))
    faces = np.stack(data.lfw_subset()).astype(np.float32)
    np.save(folder / "faces.npy", faces)
    return {"Denoiser": {"image": "noisy.npy"}, "ImageGAN": {"images": "faces.npy"}}


def _config(folder: Path, name: str, model: str, inputs: dict, steps: int, batch: int) -> Path:
    cfg = {
        "model": model,
        "options": {**MODELS[model]["options"], "batch_size": batch},
        "data": inputs,
        "fit": {"max_steps": steps, "seed": 0, "device": "cpu"},
        "output": name,
        "checkpoint_every": steps,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _rate(folder: Path, name: str) -> float:
    log = [json.loads(line) for line in (folder / name / "log.jsonl").read_text().splitlines()]
    skip = min(10, len(log) // 4)
    return (len(log) - 1 - skip) / (log[-1]["elapsed"] - log[skip]["elapsed"])


def _ceiling(folder: Path, model: str, inputs: dict, steps: int, procs: int) -> dict:
    """``procs`` independent one-thread runs at once, each on 1/procs of the global batch."""
    batch = MODELS[model]["options"]["batch_size"] // procs
    names = [f"{model}-alone-{i}" for i in range(procs)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "napari_gan", "train", str(_config(folder, n, model, inputs, steps, batch))],
            env=env,
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in names
    ]
    for run in runs:
        _, err = run.communicate()
        if run.returncode:
            raise SystemExit(f"an independent run failed:\n{err[-3000:]}")
    rates = [_rate(folder, n) for n in names]
    return {
        "model": model,
        "processes": f"{procs} alone",
        "threads each": "1",
        "steps/s": min(rates),  # a step of the global batch needs every process's share
        "samples/s": sum(r * batch for r in rates),
        "communication": "none",
    }


def _run(folder: Path, model: str, inputs: dict, steps: int, procs: int) -> dict:
    name = f"{model}-{procs}"
    path = _config(folder, name, model, inputs, steps, MODELS[model]["options"]["batch_size"])
    if procs == 1:
        cmd = [sys.executable, "-m", "napari_gan", "train", str(path)]
        threads = str(args.threads or max(args.procs))
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs)]
        cmd += ["-m", "napari_gan", "train", str(path)]
        threads = "1"
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
    run = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=folder)
    if run.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{run.stderr[-3000:]}")
    rate = _rate(folder, name)
    comm = re.search(r"averaging gradients across \d+ processes: ([\d.]+) s \((\d+)%\)", run.stderr)
    return {
        "model": model,
        "processes": procs,
        "threads each": threads,
        "steps/s": rate,
        "samples/s": rate * MODELS[model]["options"]["batch_size"],
        "communication": f"{comm.group(2)} %" if comm else "-",
    }


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = _data(folder)
        for model in args.models:
            base = _run(folder, model, inputs[model], args.steps, 1)
            rows.append({**base, "vs 1 process": "1.00x"})
            for procs in args.procs:
                if procs > 1:
                    row = _run(folder, model, inputs[model], args.steps, procs)
                    rows.append({**row, "vs 1 process": f"{row['samples/s'] / base['samples/s']:.2f}x"})
                    if args.ceiling:
                        row = _ceiling(folder, model, inputs[model], args.steps, procs)
                        rows.append({**row, "vs 1 process": f"{row['samples/s'] / base['samples/s']:.2f}x"})
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + "---|" * len(keys))
    for r in rows:
        print("| " + " | ".join(f"{r[k]:.2f}" if isinstance(r[k], float) else str(r[k]) for k in keys) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--procs", type=int, nargs="+", default=[2])
    parser.add_argument("--threads", type=int, default=0, help="threads of the one-process run (default: max procs)")
    parser.add_argument(
        "--ceiling", action="store_true", help="add N independent one-thread runs on 1/N of the batch each"
    )
    args = parser.parse_args()
    main()
