"""A PatchGAN discriminator (Isola et al., 2017) with spectral normalisation.

It scores overlapping patches of an image as real or generated instead of the
whole image, so it judges texture and local detail, which the L1 term of an
image-to-image model leaves blurry. Spectral normalisation (Miyato et al., 2018)
keeps its gradients bounded, so short CPU runs train stably without tuning.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


@dataclass(frozen=True)
class PatchGANConfig:
    """Everything needed to rebuild a :class:`PatchGAN`.

    ``layers`` stride-2 convolutions set the receptive field (3 layers: 30 pixels).
    """

    in_channels: int = 2
    features: int = 32
    layers: int = 3

    def __post_init__(self):
        if self.in_channels < 1 or self.features < 1:
            raise ValueError("in_channels and features must be positive")
        if not 1 <= self.layers <= 5:
            raise ValueError(f"layers must be 1..5, got {self.layers}")

    def to_dict(self) -> dict:
        return asdict(self)


class PatchGAN(nn.Module):
    """Input (N, in_channels, Y, X) -> (N, 1, Y', X') real/fake logits, one per patch.

    A conditional discriminator is given the model's input and its output (or the
    true target) stacked along the channels.
    """

    def __init__(self, config: PatchGANConfig):
        super().__init__()
        self.config = config
        convs = []
        cin = config.in_channels
        for i in range(config.layers):
            cout = config.features * 2 ** min(i, 3)
            convs.append(spectral_norm(nn.Conv2d(cin, cout, 4, stride=2, padding=1)))
            cin = cout
        convs.append(spectral_norm(nn.Conv2d(cin, cin, 3, padding=1)))
        self.convs = nn.ModuleList(convs)
        self.head = spectral_norm(nn.Conv2d(cin, 1, 3, padding=1))

    def forward(self, x):
        for conv in self.convs:
            x = F.leaky_relu(conv(x), 0.2)
        return self.head(x)
