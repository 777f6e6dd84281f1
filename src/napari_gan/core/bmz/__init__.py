"""Export to bioimage.io model packages (spec 0.5): :func:`export_bioimageio`.

Importing this package does not import bioimageio (the optional ``bioimageio`` extra);
exporting does, and says which extra to install when it is missing.
"""

from .kinds import TRANSLATOR_TASKS, ExportError, can_export
from .package import check_package, export_bioimageio

__all__ = ["TRANSLATOR_TASKS", "ExportError", "can_export", "check_package", "export_bioimageio"]
