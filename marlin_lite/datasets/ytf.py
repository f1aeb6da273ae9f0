"""YouTube Faces (YTF): 3,425 videos of 1,595 people, stored as folders of JPEG frames.

MARLIN pretrains on YTF. Layout (``frame_images_DB`` of the official download)::

    <root>/frame_images_DB/<Person>/<video_idx>/<video_idx>.<frame_no>.jpg

Frames are ordered **numerically** by the number after the last dot (``0.2.jpg`` before
``0.10.jpg``); a lexicographic sort, as MARLIN's loader did, scrambles every video with more
than ten frames. Files beside the person folders (``<Person>.labeled_faces.txt``) are ignored.

Face crops: ``frame_images_DB`` holds whole frames (MARLIN cropped the faces with FaceXZoo).
``python -m marlin_lite.preprocess <root>/frame_images_DB <root>/crops --frames --crop official``
writes the crops as ``<root>/crops/<Person>/<video_idx>.mp4`` (each with its ``.json`` record and
``.npz`` parsing maps); the loader reads them (``image_dir="crops"``, the default when that
folder exists) with the same items, names and splits.

YTF has no official train/val/test split. The default is a hash split **by person**
(:func:`marlin_lite.datasets.base.hash_split`), so no identity is in two splits.
``splits="official"`` reads MARLIN's lists ``<root>/train_set.csv`` / ``val_set.csv``
(columns ``path,len``, paths ``<Person>/<video_idx>``; train and val only), which split by
video, not by person.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from marlin_lite.datasets.base import PathLike, VideoDataset, VideoItem, check_fractions, hash_split
from marlin_lite.video import Video, list_frame_files, read_frame_files, read_frame_image, stack_frames

__all__ = ["YouTubeFaces", "list_frame_files", "read_frame_files"]


class YouTubeFaces(VideoDataset):
    """YouTube Faces as a dataset of clips (see the module docstring for layout and splits).

    Item keys: ``video`` ``float32 (3, T, H, W)``, ``identity`` (``int64``: the person's
    index in :attr:`people`, the sorted people of the *whole* data set, so it is the same in
    every split), ``index``, ``frame_indices``.

    Args:
        root: folder holding ``frame_images_DB`` (or that folder itself).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        image_dir: the frame folder's name: ``"frame_images_DB"`` (raw frames),
            ``"aligned_images_DB"`` (YTF's aligned faces), ``"crop_images_DB"`` (MARLIN's crops)
            or ``"crops"`` (``<Person>/<video_idx>.mp4`` face crops of :mod:`marlin_lite.preprocess`
            ``--frames``). Default: ``"crops"`` when ``<root>/crops`` exists, else
            ``"frame_images_DB"``. All but the raw frames count as face crops for
            ``faces="cropped"``; whole frames need ``faces="as_is"`` (or a ``faces.json``).
        splits: ``"hash"`` (by person, default) or ``"official"`` (MARLIN's csv lists).
        fractions, split_seed: of the hash split (MARLIN used about 80 / 20 train / val).
        fps: the frame rate reported by :meth:`read_video` (YTF: 24).
        extensions: image extensions that count as frames.
        Other keyword arguments: see :class:`~marlin_lite.datasets.base.VideoDataset`.
    """

    key = "ytf"
    title = "YouTube Faces"
    url = "https://www.cs.tau.ac.il/~wolf/ytfaces/"
    layout = """\
  <root>/frame_images_DB/<Person>/<video_idx>/<video_idx>.<frame_no>.jpg
  e.g. <root>/frame_images_DB/Aaron_Eckhart/0/0.555.jpg (frames sorted numerically by <frame_no>)
  optional (splits='official'): <root>/train_set.csv and val_set.csv with columns path,len"""
    default_fps = 24.0

    #: Frame folders whose frames are face crops already.
    CROPPED_DIRS: ClassVar[tuple[str, ...]] = ("aligned_images_DB", "crop_images_DB")
    #: Where ``preprocess --frames`` writes the crops of ``frame_images_DB`` (one video file per item).
    CROPS_DIR: ClassVar[str] = "crops"

    def __init__(
        self,
        root: PathLike,
        split: str = "train",
        *,
        image_dir: str | None = None,
        splits: str = "hash",
        fractions: Sequence[float] = (0.8, 0.1, 0.1),
        split_seed: int = 0,
        fps: float = 24.0,
        extensions: Sequence[str] = (".jpg", ".jpeg", ".png"),
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
        if splits not in ("hash", "official"):
            raise ValueError(f"splits must be 'hash' or 'official'; got {splits!r}")
        self.splits = splits
        self.fractions = check_fractions(fractions)
        self.split_seed = int(split_seed)
        if not (isinstance(fps, (int, float)) and fps > 0):
            raise ValueError(f"fps must be a positive number; got {fps!r}")
        self.fps = float(fps)
        self.extensions = tuple(extensions)
        if image_dir is None:
            image_dir = self.CROPS_DIR if (self.root / self.CROPS_DIR).is_dir() else "frame_images_DB"
        self.image_dir = image_dir
        images = self.root if self.root.name == image_dir else self.root / image_dir
        self.images_root = self._require_dir(images, f"{self.title} frame folder")
        self._files: dict[int, list[Path]] = {}
        folders = sorted(p for p in self.images_root.iterdir() if p.is_dir() and not p.name.startswith("."))
        #: Items are video files (``<Person>/<video_idx>.mp4``, preprocess crops), not frame folders.
        self.video_files = any(f.suffix == ".mp4" for p in folders for f in p.iterdir())

        people: dict[str, list[str]] = {}
        for person in folders:
            if self.video_files:
                names = (v.stem for v in person.iterdir() if v.is_file() and v.suffix == ".mp4" and not v.name.startswith("."))
            else:
                names = (v.name for v in person.iterdir() if v.is_dir() and not v.name.startswith("."))
            people[person.name] = sorted(names, key=_natural)
        if not any(people.values()):
            raise ValueError(
                f"{self.title} frame folder '{self.images_root}' holds no <Person>/<video_idx>/ folders.\n{self._help()}"
            )
        #: Every person of the data set (all splits), sorted: ``identity`` indexes this list.
        self.people: list[str] = sorted(people)
        ident = {p: i for i, p in enumerate(self.people)}

        def make(person: str, video: str) -> VideoItem:
            return VideoItem(
                f"{person}/{video}",
                self.images_root / person / (f"{video}.mp4" if self.video_files else video),
                person,
                {"person": person, "identity": ident.get(person, -1), "video_idx": video},
            )

        if splits == "hash":
            items = [
                make(p, v)
                for p, videos in people.items()
                for v in videos
                if split == "all" or hash_split(p, self.fractions, self.split_seed) == split
            ]
        else:
            items = [make(*name.split("/", 1)) for name in self._official_list(split)]
        self._set_items(items)

    def _official_list(self, split: str) -> list[str]:
        wanted = ("train", "val") if split == "all" else (split,)
        if "test" in wanted:
            raise ValueError("MARLIN's official YouTube Faces lists have only 'train' and 'val'; use splits='hash' for a test split.")
        names: list[str] = []
        for s in wanted:
            path = self._require_file(self.root / f"{s}_set.csv", f"{self.title} split file")
            with open(path, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                if reader.fieldnames is None or "path" not in reader.fieldnames:
                    raise ValueError(
                        f"{self.title} split file '{path}' must be a CSV with a 'path' column (header 'path,len', "
                        f"rows like 'Aaron_Eckhart/0,85'); got header {reader.fieldnames}.\n{self._help()}"
                    )
                for line, row in enumerate(reader, start=2):
                    rel = (row.get("path") or "").strip().strip("/")
                    if rel.count("/") != 1:
                        raise ValueError(
                            f"{self.title} split file '{path}', line {line}: path {rel!r} should be '<Person>/<video_idx>'."
                        )
                    names.append(rel)
        return names

    # ---- reading frame folders ---------------------------------------------------------

    def frame_files(self, index: int) -> list[Path]:
        """Item ``index``'s frame images in time order (numeric sort; cached)."""
        index = self._check_index(index)
        if index not in self._files:
            self._files[index] = list_frame_files(self.items[index].path, self.extensions)
        return self._files[index]

    def num_frames(self, index: int) -> int:
        if self.video_files:
            return super().num_frames(index)
        return len(self.frame_files(index))

    def _load_clip(self, index: int, idx: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        if self.video_files:
            return super()._load_clip(index, idx)
        files = self.frame_files(index)
        unique = sorted(set(int(i) for i in idx))
        decoded = {i: read_frame_image(files[i]) for i in unique}
        return stack_frames([decoded[int(i)] for i in idx], [files[int(i)] for i in idx]), {}

    def frames(self, index: int) -> np.ndarray:
        if self.video_files:
            return super().frames(index)
        return read_frame_files(self.frame_files(index))

    def read_video(self, index: int) -> Video:
        if self.video_files:
            return super().read_video(index)
        index = self._check_index(index)
        return Video(self.frames(index), self.fps, None, None, self.items[index].path)

    # ---- labels -------------------------------------------------------------------------

    def _is_cropped(self, item: VideoItem) -> bool:
        return self.image_dir in self.CROPPED_DIRS or super()._is_cropped(item)

    def _crop_hint(self) -> str:
        if self.video_files:
            return super()._crop_hint()
        return (f"'{self.image_dir}' holds whole frames (MARLIN cropped the faces with FaceXZoo). Crop them: "
                f"python -m marlin_lite.preprocess {self.images_root} {self.root / self.CROPS_DIR} --frames --crop official "
                f"(the loader then reads {self.root / self.CROPS_DIR}, its default when it exists), or use "
                "image_dir='aligned_images_DB' (YouTube Faces' own aligned face crops) or 'crop_images_DB' (MARLIN's crops).")

    def _labels(self, item: VideoItem) -> dict[str, Any]:
        return {"identity": torch.tensor(item.labels["identity"], dtype=torch.int64)}

    def _extra_options(self) -> dict[str, Any]:
        return {
            "image_dir": self.image_dir,
            "splits": self.splits,
            "fractions": list(self.fractions),
            "split_seed": self.split_seed,
        }

    def _summary_lines(self) -> list[str]:
        return [
            f"people: {len(self.sources)} in this split, {len(self.people)} in the data set; "
            f"split: {self.splits}" + (f" by person, fractions {self.fractions}, seed {self.split_seed}" if self.splits == "hash" else "")
        ]


def _natural(name: str) -> tuple:
    """Sort key: ``"2" < "10"`` (numbers by value), other names after, alphabetically."""
    return (0, int(name), "") if name.isdigit() else (1, 0, name)
