"""napari-gan: train CNNs and GANs on napari layers, from the GUI or from Python.

The public scripting API (importing it loads no Qt)::

    import napari_gan as ng
    den = ng.Denoiser().fit(noisy, max_steps=2000, time_limit=120, seed=0)
    out = den.predict(noisy)
    den.save("den.ngan"); den = ng.load_model("den.ngan")
    seg = ng.Segmenter().fit(image, labels)    # scribbles (semantic) or object masks (instance)
    masks = seg.predict(image)
    spots = ng.SpotDetector().fit(image, points).predict(image)
    table = ng.ObjectClassifier().fit(image, labels, classes={3: "a", 5: "a", 7: "b", 9: "b"}).predict(image, labels)
    samples = ng.ImageGAN().fit(stack).generate(16, seed=0)   # or mode="texture" on one image
    big = ng.Translator(task="superres", scale=2).fit(images).predict(small)   # also inpaint, colorize, deblur, paired
"""

from .core import metrics
from .core.errors import CheckpointError, InputError
from .core.replace import object_crops, replace_objects
from .core.tasks._gan_config import ImageGANConfig
from .core.tasks.base import load_model
from .core.tasks.boxes import BoxDetector, BoxDetectorConfig, boxes_from_labels
from .core.tasks.classify import ImageClassifier, ImageClassifierConfig, ObjectClassifier, ObjectClassifierConfig
from .core.tasks.denoise import Denoiser, DenoiserConfig
from .core.tasks.detect import SpotDetector, SpotDetectorConfig
from .core.tasks.generate import ImageGAN
from .core.tasks.keypoints import KeypointDetector, KeypointDetectorConfig
from .core.tasks.segment import Segmenter, SegmenterConfig
from .core.tasks.translate import Translator, TranslatorConfig
from .core.training import StepRecord, resolve_device

__version__ = "0.1.0"

__all__ = [
    "BoxDetector",
    "BoxDetectorConfig",
    "CheckpointError",
    "Denoiser",
    "DenoiserConfig",
    "ImageGAN",
    "ImageGANConfig",
    "ImageClassifier",
    "ImageClassifierConfig",
    "InputError",
    "KeypointDetector",
    "KeypointDetectorConfig",
    "ObjectClassifier",
    "ObjectClassifierConfig",
    "Segmenter",
    "SegmenterConfig",
    "SpotDetector",
    "SpotDetectorConfig",
    "StepRecord",
    "Translator",
    "TranslatorConfig",
    "boxes_from_labels",
    "load_model",
    "metrics",
    "object_crops",
    "replace_objects",
    "resolve_device",
]
