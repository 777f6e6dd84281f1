"""task="paired": learn source -> target from pairs of the same scene (one contrast or
stain to another), each side on one intensity scale over all its images; the
generator's residual is added to the source itself (or to zero where the channel
counts differ)."""

from __future__ import annotations

import numpy as np
import torch

from ...errors import InputError
from .._pixelwise import ChannelNorm
from .common import Task, TrainingData, read_frames


def joint_norm(frames: list[np.ndarray], name: str) -> ChannelNorm:
    """One per-channel normalisation fitted on all of ``frames`` (C, Y, X) together."""
    c = frames[0].shape[0]
    flat = np.concatenate([f.reshape(c, -1) for f in frames], axis=1)[None]
    return ChannelNorm.fit(flat, name=name)


class PairedTask(Task):
    name = "paired"
    images_name = "source"

    def check_target(self, target) -> None:
        if target is None:
            raise InputError("paired mode needs a target for every source")

    def training_data(self, images, target, axes, target_axes) -> TrainingData:
        self.check_target(target)
        frames, axes = read_frames(images, axes, name="source")
        targets, _ = read_frames(target, target_axes, name="target")
        if len(targets) != len(frames):
            raise InputError(f"{len(frames)} source frame(s) but {len(targets)} target frame(s); give one per source")
        for i, (s, t) in enumerate(zip(frames, targets)):
            if s.shape[1:] != t.shape[1:]:
                raise InputError(
                    f"source and target must have the same shape: frame {i} of the source is "
                    f"{s.shape[1:]} (Y, X) but the target is {t.shape[1:]}"
                )
        source_norm, target_norm = joint_norm(frames, "source"), joint_norm(targets, "target")
        inputs = [source_norm.apply(f[None])[0] for f in frames]
        outputs = [target_norm.apply(t[None])[0] for t in targets]
        return TrainingData(
            axes,
            inputs,
            outputs,
            channels=frames[0].shape[0],
            out_channels=targets[0].shape[0],
            source_norm=source_norm,
            target_norm=target_norm,
        )

    def net_channels(self, model):
        return model.channels, model.out_channels

    def base(self, model, inp):
        if model.channels != model.out_channels:
            return torch.zeros((inp.shape[0], model.out_channels) + inp.shape[2:], dtype=inp.dtype, device=inp.device)
        return inp

    def net_input(self, model, frame, hole, norm):
        frame = frame.astype(np.float32, copy=False)
        return model.source_norm.apply(frame[None])[0], model.target_norm

    def output_axes(self, model, axes):
        if "C" not in axes and model.out_channels > 1:
            axes = axes + "C"
        if "C" in axes and model.out_channels == 1 and model.channels > 1:
            axes = axes.replace("C", "")
        return axes
