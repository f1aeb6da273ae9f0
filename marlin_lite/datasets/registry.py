"""The registry of the real-data loaders: names (with forgiving aliases) -> loader classes."""

from __future__ import annotations

import os
from typing import Any

from marlin_lite.datasets.base import VideoDataset
from marlin_lite.datasets.celebvhq import CelebVHQ
from marlin_lite.datasets.ffpp import FaceForensics
from marlin_lite.datasets.lrs2 import LRS2
from marlin_lite.datasets.mosei import CMUMOSEI
from marlin_lite.datasets.ytf import YouTubeFaces

#: Registry: name -> loader class.
DATASETS: dict[str, type[VideoDataset]] = {
    "ytf": YouTubeFaces,
    "celebvhq": CelebVHQ,
    "ffpp": FaceForensics,
    "mosei": CMUMOSEI,
    "lrs2": LRS2,
}
_ALIASES = {
    "youtubefaces": "ytf",
    "youtubeface": "ytf",
    "faceforensicspp": "ffpp",
    "faceforensics": "ffpp",
    "ffplusplus": "ffpp",
    "cmumosei": "mosei",
}


def canonical_name(name: str) -> str:
    """The registry name of ``name`` (case, ``-``, ``_`` and ``+`` -> ``p`` forgiven:
    ``"CelebV-HQ"`` -> ``"celebvhq"``, ``"FF++"`` -> ``"ffpp"``)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str; got {type(name).__name__}")
    key = name.strip().lower().replace("-", "").replace("_", "").replace(" ", "").replace("+", "p")
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {sorted(DATASETS)}")
    return key


def get_dataset(name: str, root: str | os.PathLike[str], split: str = "train", **kwargs: Any) -> VideoDataset:
    """Build loader ``name`` (``ytf``, ``celebvhq``, ``ffpp``, ``mosei``, ``lrs2``) on ``root``.

    ``kwargs`` go to the loader's constructor (``clip_len``, ``sample_rate``, ``clip``, ``seed``,
    ``size``, ``limit``, ``missing`` and the loader's own options).
    """
    return DATASETS[canonical_name(name)](root, split, **kwargs)
