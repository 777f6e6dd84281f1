"""Classification with a small CNN: the objects of a label image (:class:`ObjectClassifier`)
or whole images of a stack (:class:`ImageClassifier`), learned from a few named examples.

``_base``: what both share; ``objects`` and ``images``: the two model kinds;
``choice``: the input size and augmentation chosen from the data by default."""

from ._base import CNNClassifier
from .choice import AUGMENTS
from .images import ImageClassifier, ImageClassifierConfig
from .objects import OUTPUTS, ObjectClassifier, ObjectClassifierConfig, object_crops

__all__ = [
    "AUGMENTS",
    "OUTPUTS",
    "CNNClassifier",
    "ImageClassifier",
    "ImageClassifierConfig",
    "ObjectClassifier",
    "ObjectClassifierConfig",
    "object_crops",
]
