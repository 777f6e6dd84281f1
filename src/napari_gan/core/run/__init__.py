"""Headless runs: config files, the ``train``/``predict`` command line,
torch.distributed set-up and dask/zarr block prediction. Imports no Qt."""
