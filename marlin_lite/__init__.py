"""MARLIN-lite: a small, readable rebuild of MARLIN (Cai et al., CVPR 2023).

MARLIN is a masked video autoencoder for faces: it hides most space-time patches of a
face clip, preferring to hide the facial regions (eyes, nose, mouth, hair), and learns by
reconstructing them. This package is the single source of truth for the course's lessons
in ``notebooks/``; the modules follow the pipeline, each importing only those before it:

``video`` (PyAV I/O) -> ``synthface`` (procedural talking faces with ground truth)
-> ``data`` (datasets and splits) -> later: masking, model, pretrain, features, tasks.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
