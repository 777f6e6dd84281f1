"""Dock widgets: thin Qt front-ends that turn layers into arrays, run the core in
worker threads and turn the results back into layers. Importing this package imports
napari and Qt; the scripting API (``import napari_gan``) never does."""
