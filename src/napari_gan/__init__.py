"""napari-gan: train CNNs and GANs on napari layers, from the GUI or from Python.

The public scripting API (importing it loads no Qt)::

    import napari_gan as ng
    den = ng.Denoiser().fit(noisy, max_steps=2000, time_limit=120, seed=0)
    out = den.predict(noisy)
    den.save("den.ngan"); den = ng.load_model("den.ngan")
    seg = ng.Segmenter().fit(image, labels)    # scribbles (semantic) or object masks (instance)
    masks = seg.predict(image)
    spots = ng.SpotDetector().fit(image, points).predict(image)
"""

from .core import metrics
from .core.errors import CheckpointError, InputError
from .core.tasks.base import load_model
from .core.tasks.denoise import Denoiser, DenoiserConfig
from .core.tasks.detect import SpotDetector, SpotDetectorConfig
from .core.tasks.segment import Segmenter, SegmenterConfig
from .core.training import StepRecord, resolve_device

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "Denoiser",
    "DenoiserConfig",
    "InputError",
    "Segmenter",
    "SegmenterConfig",
    "SpotDetector",
    "SpotDetectorConfig",
    "StepRecord",
    "load_model",
    "metrics",
    "resolve_device",
]
