"""Prediction of a zarr image larger than memory on a dask.distributed LocalCluster.

A Denoiser (trained for a few steps: speed, not quality, is measured) predicts a
SIZE x SIZE float32 zarr image block by block on a LocalCluster of WORKERS worker
processes (one thread each, torch on one thread each) limited to MEMORY each,
writing zarr. Reported: wall time, MPix/s, the peak resident memory of each
worker (sampled every 0.25 s) and whether any worker was restarted, against the
in-process tiled prediction (``model.predict`` on a numpy crop, torch on all
cores) in MPix/s.

The workers start without the ``MALLOC_TRIM_THRESHOLD_`` that dask's nannies set
by default (``distributed.nanny.pre-spawn-environ``): with it glibc stops adapting
its mmap threshold, every large tensor is mapped and unmapped afresh, and torch's
convolutions ran about 1.3x slower in the workers (docs/scale.md). ``--dask-malloc``
keeps dask's setting, to measure the difference.

    python bench/predict_large.py                 # 32768 x 32768 (4 GiB of float32)
    python bench/predict_large.py --size 4096     # a quick check
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _single_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _train(seed: int = 0):
    import napari_gan as ng
    from napari_gan.core import synthetic

    image = synthetic.touching_nuclei((256, 256), seed=seed)[0]
    return ng.Denoiser().fit(image, max_steps=3, seed=seed)


def _write_input(path: Path, size: int, chunks: int) -> None:
    """A smooth random image plus noise, generated and written chunk by chunk."""
    import dask.array as da

    rng = da.random.default_rng(0)
    noise = rng.standard_normal((size, size), chunks=chunks, dtype=np.float32)
    yy = da.arange(size, chunks=chunks, dtype=np.float32)[:, None]
    xx = da.arange(size, chunks=chunks, dtype=np.float32)[None, :]
    image = (0.5 + 0.25 * da.sin(yy / 37.0) * da.cos(xx / 23.0) + 0.1 * noise).astype(np.float32)
    image.to_zarr(str(path), overwrite=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32768, help="image edge in pixels (default %(default)s)")
    parser.add_argument("--chunks", type=int, default=1024, help="block edge (default %(default)s)")
    parser.add_argument("--crop", type=int, default=8192, help="edge of the in-process crop (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory", default="2GB", help="memory limit per worker (default %(default)s)")
    parser.add_argument("--dask-malloc", action="store_true", help="keep dask's MALLOC_TRIM_THRESHOLD_ in the workers")
    parser.add_argument("--keep", help="folder for the input and output zarr (default: a temporary one, removed)")
    args = parser.parse_args(argv)

    import dask
    import dask.array as da
    import torch
    from distributed import Client, LocalCluster

    from napari_gan.core.run.blocks import predict_blocks

    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="napari-gan-predict-large-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        model = _train()
        src_path, out_path = folder / "input.zarr", folder / "output.zarr"
        t0 = time.perf_counter()
        _write_input(src_path, args.size, args.chunks)
        print(f"input: {args.size} x {args.size} float32 zarr written in {time.perf_counter() - t0:.1f} s")

        crop = min(args.crop, args.size)
        image = da.from_zarr(str(src_path))
        sample = np.asarray(image[:crop, :crop])
        model.predict(sample[:256, :256])  # warm-up
        t0 = time.perf_counter()
        model.predict(sample)
        local_s = time.perf_counter() - t0
        local_mpix = crop * crop / local_s / 1e6
        del sample

        # None unsets a variable there (distributed.nanny._get_env_variables)
        malloc = {} if args.dask_malloc else {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
        with (
            dask.config.set(malloc),
            LocalCluster(
                n_workers=args.workers,
                threads_per_worker=1,
                memory_limit=args.memory,
                processes=True,
                dashboard_address=None,
            ) as cluster,
            Client(cluster) as client,
        ):
            client.run(_single_thread)
            workers = set(client.scheduler_info()["workers"])
            peaks = dict.fromkeys(workers, 0)
            stop = threading.Event()

            def sample_memory():
                while not stop.is_set():
                    try:
                        for w, rss in client.run(_rss).items():
                            peaks[w] = max(peaks.get(w, 0), rss)
                    except Exception:  # a worker restarting between samples
                        pass
                    stop.wait(0.25)

            sampler = threading.Thread(target=sample_memory, daemon=True)
            sampler.start()
            t0 = time.perf_counter()
            predict_blocks(model, image, chunks=args.chunks, store=out_path, overwrite=True, scheduler=client)
            cluster_s = time.perf_counter() - t0
            stop.set()
            sampler.join()
            restarted = workers != set(client.scheduler_info()["workers"])
        cluster_mpix = args.size**2 / cluster_s / 1e6
        limit = args.memory

        print()
        print(f"| run | pixels | wall s | MPix/s | peak memory per worker (limit {limit}) |")
        print("|---|---|---|---|---|")
        print(
            f"| in-process model.predict, torch {torch.get_num_threads()} threads | {crop} x {crop} "
            f"| {local_s:.1f} | {local_mpix:.2f} | - |"
        )
        peak_text = ", ".join(f"{p / 2**30:.2f} GiB" for p in peaks.values())
        malloc_text = ", dask malloc setting" if args.dask_malloc else ""
        print(
            f"| LocalCluster {args.workers} x 1 thread{malloc_text}, zarr -> zarr, "
            f"chunks {args.chunks} | {args.size} x {args.size} "
            f"| {cluster_s:.1f} | {cluster_mpix:.2f} | {peak_text}{' (a worker restarted)' if restarted else ''} |"
        )
        print(f"\ncluster / in-process throughput: {cluster_mpix / local_mpix:.2f}")
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
