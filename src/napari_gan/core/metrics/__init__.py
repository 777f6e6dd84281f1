"""Quality metrics; see :mod:`napari_gan.core.metrics.instances` for now."""

from .instances import *  # noqa: F403
from .instances import _BINOMIAL, _laplacian_pyramid, __all__  # noqa: F401
