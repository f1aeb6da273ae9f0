"""CMU-MOSEI: opinion videos cut into utterance segments, each with sentiment and 6 emotions.

The official distribution is the CMU Multimodal SDK (``mmsdk``): its label file
``CMU_MOSEI_Labels.csd`` (HDF5) holds, per YouTube video id, ``intervals`` ``(n, 2)``
(segment start/end in seconds) and ``features`` ``(n, 7)`` =
``[sentiment in -3..3, happy, sad, anger, surprise, disgust, fear]`` (emotion intensities
0..3, averages of three annotators), and the standard folds are
``mmsdk.mmdatasdk.cmu_mosei.standard_folds.standard_{train,valid,test}_fold`` (lists of video
ids). This loader reads a plain layout that such a conversion produces::

    <root>/mosei_labels.csv
    <root>/videos/<video_id>_<segment>.mp4
    <root>/splits/train.txt, val.txt, test.txt      (optional: one video id per line)

``mosei_labels.csv`` has one row per segment and the header
``video_id,segment,start,end,sentiment,happy,sad,anger,surprise,disgust,fear``
(``start``/``end`` in seconds are optional and informational). Conversion:
:mod:`marlin_lite.datasets.mosei_convert` cuts row ``i`` of every video id of the ``.csd``
out of the full video into ``videos/<video_id>_<i>.mp4`` (audio kept), writes the label file
and, given the standard folds, the split lists (resumable; needs ``h5py``)::

    python -m marlin_lite.datasets.mosei_convert --csd CMU_MOSEI_Labels.csd \
        --videos RAW/Videos/Full/Combined --out data/mosei [--folds folds.json]

Splits: the lists in ``<root>/splits`` when that folder exists (``splits="auto"``), else a
hash split **by video id**, so the segments of one video never straddle splits.

Labels derived from the sentiment (as in the MulT / MISA evaluation code):
``sentiment_class`` = 1 if ``sentiment >= 0`` (non-negative) else 0 (negative) ("Acc-2");
``sentiment_class7`` = ``round(clip(sentiment, -3, 3)) + 3`` in 0..6 (NumPy rounding, half to
even) ("Acc-7"); ``emotions_present`` = ``emotions > 0`` (multi-label presence).
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from marlin_lite.datasets.base import SPLITS, PathLike, VideoDataset, VideoItem, check_fractions, hash_split

__all__ = ["MOSEI_COLUMNS", "MOSEI_EMOTIONS", "CMUMOSEI", "sentiment_classes"]

#: The 6 emotions, in the SDK's label-vector order (after the sentiment).
MOSEI_EMOTIONS: tuple[str, ...] = ("happy", "sad", "anger", "surprise", "disgust", "fear")
#: The header of ``mosei_labels.csv`` (``start`` and ``end`` may be empty).
MOSEI_COLUMNS: tuple[str, ...] = ("video_id", "segment", "start", "end", "sentiment") + MOSEI_EMOTIONS
_REQUIRED = ("video_id", "segment", "sentiment") + MOSEI_EMOTIONS


def sentiment_classes(sentiment: float) -> tuple[int, int]:
    """``(2-class, 7-class)`` labels of a sentiment score: ``(int(s >= 0), round(clip(s, -3, 3)) + 3)``."""
    s = float(np.clip(sentiment, -3.0, 3.0))
    return int(sentiment >= 0), int(np.round(s)) + 3


class CMUMOSEI(VideoDataset):
    """CMU-MOSEI segments as a dataset of clips (see the module docstring for the layout).

    Item keys: ``video`` ``float32 (3, T, H, W)``; ``sentiment`` ``float32`` in [-3, 3];
    ``sentiment_class`` ``int64`` (0 negative, 1 non-negative); ``sentiment_class7`` ``int64``
    0..6; ``emotions`` ``float32 (6,)`` intensities in :data:`MOSEI_EMOTIONS` order;
    ``emotions_present`` ``float32 (6,)`` 0/1; ``index``, ``frame_indices``.

    Args:
        root: folder holding ``mosei_labels.csv``.
        labels: the label file's name.
        video_dir: the segment videos' folder, relative to ``root``.
        splits: ``"auto"`` (lists if ``<root>/splits`` exists, else hash), ``"lists"`` or ``"hash"``.
        fractions, split_seed: of the hash split (by video id).
        Other keyword arguments: see :class:`~marlin_lite.datasets.base.VideoDataset`.
    """

    key = "mosei"
    title = "CMU-MOSEI"
    url = "https://github.com/A2Zadeh/CMU-MultimodalSDK"
    layout = """\
  <root>/mosei_labels.csv   header: video_id,segment,start,end,sentiment,happy,sad,anger,surprise,disgust,fear
  <root>/videos/<video_id>_<segment>.mp4
  optional: <root>/splits/train.txt, val.txt, test.txt with one video id per line (the SDK's standard folds)
  (convert the SDK's CMU_MOSEI_Labels.csd with python -m marlin_lite.datasets.mosei_convert)"""
    default_fps = 30.0

    def __init__(
        self,
        root: PathLike,
        split: str = "train",
        *,
        labels: str = "mosei_labels.csv",
        video_dir: str = "videos",
        splits: str = "auto",
        fractions: Sequence[float] = (0.7, 0.1, 0.2),
        split_seed: int = 0,
        clip_len: int = 16,
        sample_rate: int = 2,
        clip: str | None = None,
        seed: int = 0,
        size: int | None = None,
        limit: int | None = None,
        missing: str = "error",
        faces: str | None = None,
    ) -> None:
        self._setup(root, split, clip_len=clip_len, sample_rate=sample_rate, clip=clip, seed=seed, size=size, limit=limit, missing=missing,
                    faces=faces)
        if splits not in ("auto", "lists", "hash"):
            raise ValueError(f"splits must be 'auto', 'lists' or 'hash'; got {splits!r}")
        if splits == "auto":
            splits = "lists" if (self.root / "splits").is_dir() else "hash"
        self.splits = splits
        self.fractions = check_fractions(fractions)
        self.split_seed = int(split_seed)
        self.video_dir = video_dir
        self.videos_root = self._require_dir(self.root / video_dir, f"{self.title} segment-video folder")
        self.labels_path = self._require_file(self.root / labels, f"{self.title} label file")
        rows = self._read_labels()
        if splits == "lists":
            keep = self._lists(split)
            rows = [r for r in rows if r["video_id"] in keep]
        elif split != "all":
            rows = [r for r in rows if hash_split(r["video_id"], self.fractions, self.split_seed) == split]
        items = [VideoItem(f"{r['video_id']}_{r['segment']}", self.videos_root / f"{r['video_id']}_{r['segment']}.mp4", r["video_id"], r) for r in rows]
        self._set_items(items)

    def _read_labels(self) -> list[dict[str, Any]]:
        path = self.labels_path
        rows: list[dict[str, Any]] = []
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                header = [h.strip() for h in (reader.fieldnames or [])]
                lacking = [c for c in _REQUIRED if c not in header]
                if lacking:
                    raise ValueError(
                        f"{self.title} label file '{path}' lacks the columns {lacking}; its header must be "
                        f"'{','.join(MOSEI_COLUMNS)}' (got {header}).\n{self._help()}"
                    )
                reader.fieldnames = header
                for line, row in enumerate(reader, start=2):
                    vid, seg = (row.get("video_id") or "").strip(), (row.get("segment") or "").strip()
                    if not vid or not seg:
                        raise ValueError(f"{self.title} label file '{path}', line {line}: empty video_id or segment.")
                    try:
                        values = [float(row[c]) for c in ("sentiment",) + MOSEI_EMOTIONS]
                    except (TypeError, ValueError):
                        raise ValueError(
                            f"{self.title} label file '{path}', line {line}: sentiment and the 6 emotions must be "
                            f"numbers; got {[row.get(c) for c in ('sentiment',) + MOSEI_EMOTIONS]}."
                        ) from None
                    if not all(math.isfinite(v) for v in values) or not -3.0 <= values[0] <= 3.0 or min(values[1:]) < 0:
                        raise ValueError(
                            f"{self.title} label file '{path}', line {line}: sentiment must be in [-3, 3] and the "
                            f"emotion intensities >= 0; got {values}."
                        )
                    c2, c7 = sentiment_classes(values[0])
                    rows.append(
                        {
                            "video_id": vid,
                            "segment": seg,
                            "start": _maybe_float(row.get("start")),
                            "end": _maybe_float(row.get("end")),
                            "sentiment": values[0],
                            "emotions": values[1:],
                            "sentiment_class": c2,
                            "sentiment_class7": c7,
                        }
                    )
        except UnicodeDecodeError as e:
            raise ValueError(f"{self.title} label file '{path}' is not UTF-8 text ({e}).\n{self._help()}") from e
        if not rows:
            raise ValueError(f"{self.title} label file '{path}' has no rows.\n{self._help()}")
        return rows

    def _lists(self, split: str) -> set[str]:
        ids: set[str] = set()
        for s in SPLITS if split == "all" else (split,):
            path = self._require_file(self.root / "splits" / f"{s}.txt", f"{self.title} split file")
            ids.update(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
        return ids

    # ---- labels ---------------------------------------------------------------------

    def _labels(self, item: VideoItem) -> dict[str, Any]:
        lab = item.labels
        emotions = torch.tensor(lab["emotions"], dtype=torch.float32)
        return {
            "sentiment": torch.tensor(lab["sentiment"], dtype=torch.float32),
            "sentiment_class": torch.tensor(lab["sentiment_class"], dtype=torch.int64),
            "sentiment_class7": torch.tensor(lab["sentiment_class7"], dtype=torch.int64),
            "emotions": emotions,
            "emotions_present": (emotions > 0).to(torch.float32),
        }

    def _extra_options(self) -> dict[str, Any]:
        return {"video_dir": self.video_dir, "splits": self.splits, "fractions": list(self.fractions), "split_seed": self.split_seed}

    def _summary_lines(self) -> list[str]:
        c2 = Counter(it.labels["sentiment_class"] for it in self.items)
        present = [sum(it.labels["emotions"][k] > 0 for it in self.items) for k in range(6)]
        return [
            f"segments of {len(self.sources)} videos; split: {self.splits} (sources = video ids)",
            f"sentiment: {c2.get(1, 0)} non-negative, {c2.get(0, 0)} negative; mean "
            f"{np.mean([it.labels['sentiment'] for it in self.items]):+.2f}",
            "emotion present: " + ", ".join(f"{n} {c}" for n, c in zip(MOSEI_EMOTIONS, present)),
        ]


def _maybe_float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None
