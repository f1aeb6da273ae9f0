"""Loaders for the real data sets of MARLIN's paper, and tiny replicas of their layouts.

=============  ==========================  ==========================================  =====================
name           class                       task labels in each item                    splits
=============  ==========================  ==========================================  =====================
``ytf``        :class:`YouTubeFaces`       ``identity``                                hash by person
``celebvhq``   :class:`CelebVHQ`           ``attributes`` (40), ``actions`` (35),      hash by YouTube id
                                           ``emotion``, ``emotion_mixed``
``ffpp``       :class:`FaceForensics`      ``fake``, ``manipulation``, ``compression`` official pair lists
``mosei``      :class:`CMUMOSEI`           ``sentiment``, ``sentiment_class`` (2),     lists, else hash by
                                           ``sentiment_class7``, ``emotions`` (6),     video id
                                           ``emotions_present`` (6)
``lrs2``       :class:`LRS2`               ``audio``, ``text``                         official file lists
=============  ==========================  ==========================================  =====================

``get_dataset(name, root, split, **kwargs)`` builds one; every loader is a
``torch.utils.data.Dataset`` whose items are dicts in the style of
:class:`marlin_lite.data.SynthFaceDataset`:

* ``video``: ``float32 (3, T, H, W)`` in [0, 1], one clip sampled by MARLIN's protocol -
  ``clip_len = 16`` frames taken every ``sample_rate = 2``-th frame; a seeded random clip for
  ``split="train"`` (deterministic given the index, ``seed`` and :meth:`~VideoDataset.set_epoch`),
  the centre clip otherwise, or the whole video with ``clip="all"`` (for the window-based
  feature protocol of :func:`marlin_lite.tasks.probe.compute_features`);
* ``index`` and ``frame_indices`` (``int64``; which source frames the clip took);
* the task labels of the table (tensors; LRS2's ``text`` is a ``str``).

Every loader also has ``items`` (a sorted list of :class:`VideoItem`: ``name``, ``path``,
``source``, ``labels``), ``len()``, ``frames(i)`` (the whole video, ``uint8 (T, H, W, 3)``),
``read_video(i)`` (a :class:`marlin_lite.video.Video` with fps and audio), ``num_frames(i)``,
``describe()``, ``spec()`` (a JSON cache key) and ``sources``.

Layouts (``<root>`` is the ``root`` argument):

* **YouTube Faces** (https://www.cs.tau.ac.il/~wolf/ytfaces/):
  ``<root>/frame_images_DB/<Person>/<video_idx>/<video_idx>.<frame_no>.jpg``; frames sorted
  numerically. No official split: hashed by person (or MARLIN's csv lists, ``splits="official"``).
* **CelebV-HQ** (https://github.com/CelebV-HQ/CelebV-HQ): ``<root>/celebvhq_info.json`` and
  ``<root>/{cropped,videos,.}/<ytb_id>_<n>.mp4``. No official split: hashed by YouTube id.
* **FaceForensics++** (https://github.com/ondyari/FaceForensics):
  ``<root>/original_sequences/youtube/<c>/videos/<id>.mp4``,
  ``<root>/manipulated_sequences/<Method>/<c>/videos/<target>_<source>.mp4`` and the official
  ``<root>/splits/{train,val,test}.json`` pair lists (720 / 140 / 140 originals).
* **CMU-MOSEI** (https://github.com/A2Zadeh/CMU-MultimodalSDK): the SDK ships ``.csd`` files;
  this loader reads a converted layout, ``<root>/mosei_labels.csv`` +
  ``<root>/videos/<video_id>_<segment>.mp4`` (+ optional ``<root>/splits/*.txt``), which
  :mod:`marlin_lite.datasets.mosei_convert` writes from the SDK's ``CMU_MOSEI_Labels.csd``
  and the full videos (``python -m marlin_lite.datasets.mosei_convert``; needs ``h5py``).
* **LRS2** (https://www.robots.ox.ac.uk/~vgg/data/lip_reading/lrs2.html):
  ``<root>/main/<videoID>/<NNNNN>.mp4`` + ``.txt`` transcripts, file lists
  ``<root>/{train,val,test}.txt``; 25 fps, 16 kHz audio.

Splits are deterministic: items are sorted by name, official lists are used where they exist,
and otherwise a source's split is a hash of its name (:func:`hash_split`) - never the file
system's listing order, on which MARLIN's own YTF/CelebV-HQ splits depended - so clips of one
person or source video never straddle splits. Missing folders, files or videos and malformed
annotation files raise ``FileNotFoundError`` / ``ValueError`` naming the path, the expected
layout and where to get the data set.

Replicas: ``make_replica(name, root)`` writes a tiny copy of each layout from SynthFace clips
in about a second (see :mod:`marlin_lite.datasets.replicas`); tests and the CI smoke run of the
scaled notebooks use them, and so can you, to see what a loader expects::

    from marlin_lite.datasets import get_dataset, make_replica
    make_replica("ffpp", "/tmp/ffpp")
    ds = get_dataset("ffpp", "/tmp/ffpp", "train")
    print(ds.describe()); item = ds[0]; item["video"].shape   # (3, 16, 32, 32)
"""

from __future__ import annotations

from marlin_lite.datasets.base import CLIP_MODES, SPLITS, VideoDataset, VideoItem, hash_fraction, hash_split, plan_clip
from marlin_lite.datasets.celebvhq import CELEBVHQ_EMOTIONS, CelebVHQ
from marlin_lite.datasets.ffpp import FFPP_COMPRESSIONS, FFPP_KINDS, FFPP_METHODS, FaceForensics
from marlin_lite.datasets.lrs2 import LRS2, read_transcript
from marlin_lite.datasets.replicas import REPLICAS, make_replica
from marlin_lite.datasets.registry import DATASETS, canonical_name, get_dataset
from marlin_lite.datasets.mosei import MOSEI_COLUMNS, MOSEI_EMOTIONS, CMUMOSEI, sentiment_classes
from marlin_lite.datasets.ytf import YouTubeFaces, list_frame_files

__all__ = [
    "CELEBVHQ_EMOTIONS",
    "CLIP_MODES",
    "CMUMOSEI",
    "CelebVHQ",
    "DATASETS",
    "FFPP_COMPRESSIONS",
    "FFPP_KINDS",
    "FFPP_METHODS",
    "FaceForensics",
    "LRS2",
    "MOSEI_COLUMNS",
    "MOSEI_EMOTIONS",
    "REPLICAS",
    "SPLITS",
    "VideoDataset",
    "VideoItem",
    "YouTubeFaces",
    "canonical_name",
    "get_dataset",
    "hash_fraction",
    "hash_split",
    "list_frame_files",
    "make_replica",
    "plan_clip",
    "read_transcript",
    "sentiment_classes",
]
