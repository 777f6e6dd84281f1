"""GUI-free core: numpy, torch and scikit-image only (never napari or Qt)."""
