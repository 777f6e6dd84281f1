"""Plain ``nn.Module`` networks, one per file."""

from .unet import UNet, UNetConfig

__all__ = ["UNet", "UNetConfig"]
