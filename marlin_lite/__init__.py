"""MARLIN-lite: a small, readable rebuild of MARLIN (Cai et al., CVPR 2023).

MARLIN is a masked video autoencoder for faces: it hides most space-time patches of a
face clip, preferring to hide the facial regions (eyes, nose, mouth, hair), and learns by
reconstructing them. This package is the single source of truth for the course's lessons
in ``notebooks/``. Its modules form five layers, each importing only its own layer and those
below (``tests/test_layers.py`` checks; ``docs/ARCHITECTURE.md`` draws them):

* base: ``utils``, ``labels``;
* data: ``video`` (PyAV I/O), ``audio``, ``synthface`` (procedural talking faces with ground
  truth), ``faces`` / ``preprocess`` (real faces: landmarks, crops, parsing), ``data`` (SynthFace
  datasets and splits), ``clipstore``, ``samples``, ``datasets`` (real-data loaders);
* core: ``masking`` (which tokens the encoder sees) -> ``model`` (the autoencoder) -> ``official``
  (official weights) -> ``runs`` (a run folder) -> ``pretrain`` -> ``course_weights`` -> ``encoders`` (which encoder) -> ``features``;
  ``recon``;
* tasks: ``tasks`` (attributes, expressions, deepfakes, lip sync; probes and fine-tuning);
* apps: ``transfer``, ``experiments``, ``diagnose``, ``lr_check``, ``replicate``, ``scaled``,
  ``course``, ``viz``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
