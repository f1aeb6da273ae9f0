"""MARLIN-lite: a small, readable rebuild of MARLIN (Cai et al., CVPR 2023).

MARLIN is a masked video autoencoder for faces: it hides most space-time patches of a
face clip, preferring to hide the facial regions (eyes, nose, mouth, hair), and learns by
reconstructing them. This package is the single source of truth for the course's lessons
in ``notebooks/``; the modules follow the pipeline, each importing only those before it:

``video`` (PyAV I/O) -> ``synthface`` (procedural talking faces with ground truth) and
``faces`` / ``preprocess`` (real faces: landmarks, crops, parsing) -> ``data`` (datasets and
splits) -> ``masking`` (which tokens the encoder sees) -> ``model`` (the autoencoder, official
weights) -> ``pretrain`` -> ``features`` -> ``tasks`` (attributes, expressions, deepfakes).
``labels``, ``utils``, ``viz``, ``samples`` and ``course`` serve them all.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
