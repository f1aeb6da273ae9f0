"""What every real-data loader shares: items, clip sampling, hash splits, helpful errors.

A loader is a :class:`VideoDataset`: a sorted list of :class:`VideoItem` records (one per
video: a name, a path, the *source* its split keeps together, and JSON-friendly labels)
built once in the constructor, and a ``__getitem__`` that decodes one clip of an item on
demand. Subclasses only find their items and turn labels into tensors; reading and clip
sampling live here.

Clip sampling (``clip=``):

* ``"random"`` (default for ``split="train"``): one clip of ``clip_len`` frames taken every
  ``sample_rate``-th frame (MARLIN: 16 at rate 2, spanning 31 source frames) from a start
  drawn uniformly by a ``torch.Generator`` seeded with ``(seed, epoch, index)``. The same
  index, seed and epoch always give the same clip; :meth:`VideoDataset.set_epoch` draws new
  ones (MARLIN's fine-tuning protocol: one random clip per video per epoch).
* ``"center"`` (default for the other splits): the clip in the middle of the video.
* ``"all"``: every frame of the video, ``(3, T, H, W)``: the input of MARLIN's feature
  protocol, which cuts the whole video into non-overlapping windows itself
  (:func:`marlin_lite.tasks.probe.compute_features` with ``sample_rate=2``).

A video shorter than one clip span is not an error (real data sets have a few): as in the
official CelebV-HQ loader, the stride is lowered to the largest one that fits
(``(T - 1) // (clip_len - 1)``), and a video with fewer than ``clip_len`` frames repeats its
last frame. ``item["frame_indices"]`` always says which source frames were used.

Hash splits: data sets without official splits are split by a hash of each item's *source*
(person, YouTube video, ...): ``u = sha256("marlin-lite:<seed>:<source>")`` mapped to
``[0, 1)`` goes to train if ``u < f_train``, val if ``u < f_train + f_val``, else test. The
split of a source depends on nothing else (not on file-system order, as MARLIN's split did,
nor on which other videos were downloaded), and all clips of one source share a split.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset

from marlin_lite.video import Video, frames_to_tensor, probe_video, read_frames, read_video, resize_clips

PathLike = str | os.PathLike[str]

#: The standard split names; ``"all"`` (every item of the three) is accepted too.
SPLITS: tuple[str, ...] = ("train", "val", "test")
CLIP_MODES: tuple[str, ...] = ("random", "center", "all")
MISSING_POLICIES: tuple[str, ...] = ("error", "skip")
#: What the videos show (``faces=``): ``"cropped"``, face crops made by :mod:`marlin_lite.preprocess`
#: (checked: each video has its ``.json`` record beside it), or ``"as_is"``, read without a check
#: (face crops made elsewhere, e.g. by MARLIN's own preprocessing, or whole frames on purpose).
FACES: tuple[str, ...] = ("cropped", "as_is")
#: A data set root may declare its framing in this file: ``{"faces": "as_is", "note": "..."}``.
FACES_FILE = "faces.json"

__all__ = [
    "CLIP_MODES",
    "FACES",
    "FACES_FILE",
    "SPLITS",
    "VideoDataset",
    "VideoItem",
    "hash_fraction",
    "hash_split",
    "plan_clip",
]


# --------------------------------------------------------------------------------------
# Items and splits
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoItem:
    """One video of a data set.

    Attributes:
        name: unique name within the data set (e.g. ``"Aaron_Eckhart/0"``,
            ``"Deepfakes/071_054"``); items are sorted by it.
        path: the video file, or the folder of frame images (YouTube Faces).
        source: what a split keeps together (a person, a YouTube video, an FF++ pair, a BBC
            programme): items with the same source are always in the same split.
        labels: JSON-friendly labels as read from the annotation (turned into tensors by
            the loader's ``__getitem__``).
    """

    name: str
    path: Path
    source: str
    labels: dict[str, Any] = field(default_factory=dict, compare=False)


def hash_fraction(key: str, seed: int = 0) -> float:
    """A number in ``[0, 1)`` that depends only on ``key`` and ``seed`` (SHA-256 based)."""
    digest = hashlib.sha256(f"marlin-lite:{int(seed)}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    """Validate train/val/test fractions (three non-negative numbers summing to 1)."""
    try:
        fr = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        raise ValueError(f"fractions must be three numbers (train, val, test); got {fractions!r}") from None
    if len(fr) != 3 or any(not math.isfinite(f) or f < 0 for f in fr) or abs(sum(fr) - 1) > 1e-6:
        raise ValueError(
            f"fractions must be three non-negative numbers (train, val, test) summing to 1; got {fractions!r}"
        )
    return fr  # type: ignore[return-value]


def hash_split(source: str, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0) -> str:
    """The split (``"train"``, ``"val"`` or ``"test"``) of a source under a hash split.

    ``u = hash_fraction(source, seed)``: train if ``u < f_train``, val if
    ``u < f_train + f_val``, else test. Stable: adding or removing other sources never moves
    this one.
    """
    f_train, f_val, _ = check_fractions(fractions)
    u = hash_fraction(source, seed)
    if u < f_train:
        return "train"
    if u < f_train + f_val:
        return "val"
    return "test"


def check_split(split: str, allowed: Sequence[str] = SPLITS) -> str:
    choices = tuple(allowed) + ("all",)
    if split not in choices:
        raise ValueError(f"split must be one of {choices}; got {split!r}")
    return split


# --------------------------------------------------------------------------------------
# Clip sampling
# --------------------------------------------------------------------------------------


def plan_clip(
    num_frames: int,
    clip_len: int = 16,
    sample_rate: int = 2,
    mode: str = "center",
    generator: torch.Generator | None = None,
) -> np.ndarray:
    """Source frame indices of one clip: ``int64 (clip_len,)`` (``(num_frames,)`` for ``"all"``).

    ``"random"`` draws the start uniformly in ``[0, num_frames - span]`` with ``generator``;
    ``"center"`` takes the middle clip; ``"all"`` returns ``arange(num_frames)``. Short videos:
    the stride drops to ``(num_frames - 1) // (clip_len - 1)`` when the clip span does not fit,
    and with fewer than ``clip_len`` frames the last frame is repeated.
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1; got {num_frames}")
    if mode not in CLIP_MODES:
        raise ValueError(f"clip mode must be one of {CLIP_MODES}; got {mode!r}")
    if mode == "all":
        return np.arange(num_frames, dtype=np.int64)
    if num_frames < clip_len:
        idx = np.minimum(np.arange(clip_len), num_frames - 1)
        return idx.astype(np.int64)
    rate = sample_rate
    if (clip_len - 1) * rate + 1 > num_frames:
        rate = max(1, (num_frames - 1) // max(clip_len - 1, 1))
    span = (clip_len - 1) * rate + 1
    room = num_frames - span
    if mode == "random":
        start = int(torch.randint(0, room + 1, (1,), generator=generator).item())
    else:
        start = room // 2
    return (start + np.arange(clip_len) * rate).astype(np.int64)


def _check_pos_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------
# The base class
# --------------------------------------------------------------------------------------


class VideoDataset(Dataset):
    """Base of the real-data loaders (see the module docstring for clips and splits).

    Subclasses set the class attributes ``key`` (registry name), ``title``, ``url`` and
    ``layout`` (used in error messages), call :meth:`_setup` first and :meth:`_set_items`
    last in their constructor, and implement :meth:`_labels` (item -> dict of tensors).

    Common arguments:
        root: the data set's root folder.
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        clip_len, sample_rate: clip length and temporal stride (MARLIN: 16 and 2).
        clip: ``"random"``, ``"center"`` or ``"all"`` (default: random for train, else center).
        seed: seeds the random clip choice (with the epoch and the item index).
        size: resize frames to ``size x size`` (default: keep the file's size; real videos
            differ in size, so batching needs it). Loaders do not detect or crop faces: run
            :mod:`marlin_lite.preprocess` first for MARLIN's 224 x 224 face crops.
        faces: ``"cropped"`` (every video must be a face crop of :mod:`marlin_lite.preprocess`:
            its ``<name>.json`` record lies beside it; otherwise a ``ValueError`` lists the
            videos and says how to crop them) or ``"as_is"`` (no check: crops made elsewhere, or
            whole frames on purpose). Default: what ``<root>/faces.json`` declares
            (``{"faces": "as_is"}``; the replicas write one), else the loader's
            ``default_faces`` (``"cropped"``; LRS2, which ships face crops: ``"as_is"``).
        limit: keep only the first ``limit`` items (sorted by name) - for quick runs.
        missing: what to do with listed videos that are not on disk: ``"error"`` (default,
            the message names them) or ``"skip"``.
    """

    key: ClassVar[str] = ""
    title: ClassVar[str] = ""
    url: ClassVar[str] = ""
    layout: ClassVar[str] = ""
    default_fps: ClassVar[float | None] = None
    default_faces: ClassVar[str] = "cropped"

    # ---- construction ------------------------------------------------------------------

    def _setup(
        self,
        root: PathLike,
        split: str,
        *,
        clip_len: int,
        sample_rate: int,
        clip: str | None,
        seed: int,
        size: int | None,
        limit: int | None,
        missing: str,
        allowed_splits: Sequence[str] = SPLITS,
        faces: str | None = None,
    ) -> None:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be a str or os.PathLike; got {type(root).__name__}")
        self.root = Path(root)
        self.split = check_split(split, allowed_splits)
        self.clip_len = _check_pos_int(clip_len, "clip_len")
        self.sample_rate = _check_pos_int(sample_rate, "sample_rate")
        if clip is None:
            clip = "random" if split == "train" else "center"
        if clip not in CLIP_MODES:
            raise ValueError(f"clip must be one of {CLIP_MODES} (or None); got {clip!r}")
        self.clip = clip
        self.seed = _check_pos_int(seed, "seed", 0)
        self.size = None if size is None else _check_pos_int(size, "size")
        self.limit = None if limit is None else _check_pos_int(limit, "limit")
        if missing not in MISSING_POLICIES:
            raise ValueError(f"missing must be one of {MISSING_POLICIES}; got {missing!r}")
        self.missing = missing
        if faces is not None and faces not in FACES:
            raise ValueError(f"faces must be one of {FACES} (or None: the root's {FACES_FILE}, else {self.default_faces!r}); got {faces!r}")
        self.faces: str | None = faces
        self.faces_from = "the faces argument"
        self.epoch = 0
        self.skipped: list[VideoItem] = []
        self._num_frames: dict[int, int] = {}
        if not self.root.exists():
            raise self._not_found(self.root, f"{self.title} root folder")
        if not self.root.is_dir():
            raise ValueError(f"{self.title} root '{self.root}' is not a folder.\n{self._help()}")

    def _set_items(self, items: Iterable[VideoItem], *, check_exists: bool = True) -> None:
        """Sort, drop/complain about missing files, apply ``limit``, refuse an empty split."""
        items = sorted(items, key=lambda it: it.name)
        names = [it.name for it in items]
        dup = [n for n, c in Counter(names).items() if c > 1]
        if dup:
            raise ValueError(f"{self.title} under '{self.root}': duplicate item names {dup[:3]}; each video must be listed once.")
        if check_exists:
            lacking = {it.name: [p for p in self._required_paths(it) if not p.exists()] for it in items}
            present = [it for it in items if not lacking[it.name]]
            absent = [it for it in items if lacking[it.name]]
            if absent and self.missing == "error":
                shown = "\n".join(f"  {p}" for it in absent[:5] for p in lacking[it.name])
                more = f"\n  ... and {len(absent) - 5} more" if len(absent) > 5 else ""
                raise FileNotFoundError(
                    f"{len(absent)} of the {len(items)} {self.title} videos of split '{self.split}' are "
                    f"missing:\n{shown}{more}\nDownload them, or pass missing='skip' to leave them out "
                    f"(a partial download is common).\n{self._help()}"
                )
            self.skipped = absent
            items = present
        if self.limit is not None:
            items = items[: self.limit]
        if not items:
            raise ValueError(
                f"split '{self.split}' of {self.title} under '{self.root}' has no items"
                + (f" ({len(self.skipped)} listed videos are missing on disk)" if self.skipped else "")
                + ". Check the root folder and the split arguments.\n"
                + self._help()
            )
        self.items: list[VideoItem] = items
        self._check_faces()

    # ---- face crops ------------------------------------------------------------------------

    def _check_faces(self) -> None:
        """Settle ``self.faces`` (argument, ``faces.json``, default) and, for ``"cropped"``, check
        that every item is a preprocess crop (:meth:`_is_cropped`); refuse with the list and the fix."""
        if self.faces is None:
            declared = self.root / FACES_FILE
            if declared.is_file():
                data = self._read_json(declared, "face-framing declaration")
                faces = data.get("faces") if isinstance(data, dict) else None
                if faces not in FACES:
                    raise ValueError(f"face-framing declaration '{declared}': 'faces' must be one of {FACES}; got {faces!r}. "
                                     'Write e.g. {"faces": "as_is", "note": "cropped by ..."} or delete the file.')
                self.faces, self.faces_from = faces, str(declared)
            else:
                self.faces, self.faces_from = self.default_faces, f"the {self.title} loader's default"
        if self.faces == "as_is":
            return
        lacking = [it for it in self.items if not self._is_cropped(it)]
        if lacking:
            shown = "\n".join(f"  {it.path}" for it in lacking[:3]) + (f"\n  ... and {len(lacking) - 3} more" if len(lacking) > 3 else "")
            raise ValueError(
                f"{len(lacking)} of the {len(self.items)} {self.title} videos of split '{self.split}' are not known face crops "
                f"(faces='cropped', from {self.faces_from}):\n{shown}\n"
                f"MARLIN's models read 224 x 224 face crops; whole frames resized to that size are another input. "
                f"{self._crop_hint()}\nIf the videos are face crops already (e.g. made by MARLIN's own preprocessing), "
                f"or you mean to read them as they are, say so: faces='as_is', or a file {self.root / FACES_FILE} "
                'holding {"faces": "as_is", "note": "how they were framed"}.'
            )

    def _is_cropped(self, item: VideoItem) -> bool:
        """Whether an item is a face crop of :mod:`marlin_lite.preprocess` (its record beside it)."""
        return item.path.with_suffix(".json").is_file()

    def _crop_hint(self) -> str:
        return ("Crop them first (a <name>.json record is written beside each crop): python -m marlin_lite.preprocess "
                "<folder of these videos> <new folder> --crop official, then point the loader at the new folder "
                "with the same layout.")

    def _required_paths(self, item: VideoItem) -> list[Path]:
        """Files an item needs on disk (checked when the data set is built)."""
        return [item.path]

    def _help(self) -> str:
        return (
            f"Expected layout of {self.title}:\n{self.layout.rstrip()}\n"
            f"Get the data set from {self.url} ; to see the layout, build a tiny replica with "
            f"marlin_lite.datasets.make_replica('{self.key}', '/tmp/{self.key}_replica')."
        )

    def _not_found(self, path: Path, what: str) -> FileNotFoundError:
        return FileNotFoundError(f"{what} '{path}' does not exist.\n{self._help()}")

    def _require_dir(self, path: Path, what: str) -> Path:
        if not path.is_dir():
            if path.exists():
                raise ValueError(f"{what} '{path}' is not a folder.\n{self._help()}")
            raise self._not_found(path, what)
        return path

    def _require_file(self, path: Path, what: str) -> Path:
        if not path.is_file():
            if path.exists():
                raise ValueError(f"{what} '{path}' is not a file.\n{self._help()}")
            raise self._not_found(path, what)
        return path

    def _read_json(self, path: Path, what: str) -> Any:
        self._require_file(path, what)
        try:
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        except json.JSONDecodeError as e:
            raise ValueError(
                f"{what} '{path}' is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno}); "
                f"the file is damaged or not the right one. Re-download it.\n{self._help()}"
            ) from e
        except UnicodeDecodeError as e:
            raise ValueError(f"{what} '{path}' is not UTF-8 text ({e}); re-download it.\n{self._help()}") from e

    # ---- the Dataset protocol -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.items)

    def _check_index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int; got {type(index).__name__}")
        n = len(self.items)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {self.title} split '{self.split}' of {n} items")
        return int(index) % n

    def set_epoch(self, epoch: int) -> None:
        """Use another set of random clips (``clip="random"``); call once per epoch."""
        self.epoch = _check_pos_int(epoch, "epoch", 0)

    def generator(self, index: int) -> torch.Generator:
        """The ``torch.Generator`` of item ``index``'s random clip (seeded by seed, epoch, index)."""
        digest = hashlib.sha256(f"{self.key}:{self.seed}:{self.epoch}:{int(index)}".encode()).digest()
        return torch.Generator().manual_seed(int.from_bytes(digest[:8], "big") >> 1)

    def clip_frame_indices(self, index: int) -> np.ndarray:
        """Source frame indices ``int64 (clip_len,)`` (``(T,)`` for ``clip="all"``) of item ``index``."""
        index = self._check_index(index)
        return plan_clip(self.num_frames(index), self.clip_len, self.sample_rate, self.clip, self.generator(index))

    def __getitem__(self, index: int) -> dict[str, Any]:
        """One item: ``video`` ``float32 (3, T, H, W)`` in [0, 1], ``index`` and
        ``frame_indices`` (``int64``), plus the loader's labels (see its docstring)."""
        index = self._check_index(index)
        item = self.items[index]
        idx = self.clip_frame_indices(index)
        frames, extra = self._load_clip(index, idx)
        video = frames_to_tensor(frames)
        if self.size is not None:
            video = resize_clips(video, self.size)
        out: dict[str, Any] = {
            "video": video,
            "index": torch.tensor(index, dtype=torch.int64),
            "frame_indices": torch.from_numpy(idx),
        }
        out.update(self._labels(item))
        out.update(extra)
        return out

    # ---- reading (file videos; YouTube Faces overrides these) ------------------------------

    def num_frames(self, index: int) -> int:
        """Frames in item ``index``'s whole video (from the container header; cached)."""
        index = self._check_index(index)
        if index not in self._num_frames:
            self._num_frames[index] = self._count_frames(self.items[index])
        return self._num_frames[index]

    def _count_frames(self, item: VideoItem) -> int:
        return probe_video(item.path).num_frames

    def _read_indices(self, item: VideoItem, idx: np.ndarray) -> np.ndarray:
        lo, hi = int(idx.min()), int(idx.max())
        block = read_frames(item.path, lo, hi - lo + 1)
        return np.ascontiguousarray(block[idx - lo])

    def _load_clip(self, index: int, idx: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """``uint8 (len(idx), H, W, 3)`` frames of the clip and extra item entries (audio...)."""
        item = self.items[index]
        if self.clip == "all":
            return self.frames(index), {}
        return self._read_indices(item, idx), {}

    def frames(self, index: int) -> np.ndarray:
        """Every frame of item ``index``: ``uint8 (T, H, W, 3)`` RGB (for clip stores)."""
        index = self._check_index(index)
        return read_video(self.items[index].path, audio=False).frames

    def read_video(self, index: int) -> Video:
        """Item ``index`` decoded whole, as a :class:`marlin_lite.video.Video` (frames, fps,
        audio when the file has it)."""
        index = self._check_index(index)
        return read_video(self.items[index].path)

    # ---- labels and descriptions --------------------------------------------------------

    def _labels(self, item: VideoItem) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def sources(self) -> list[str]:
        """Sorted distinct sources (what the split keeps together) of this split's items."""
        return sorted({it.source for it in self.items})

    def options(self) -> dict[str, Any]:
        """The constructor settings that decide the items and clips (JSON-friendly)."""
        return {
            "split": self.split,
            "clip_len": self.clip_len,
            "sample_rate": self.sample_rate,
            "clip": self.clip,
            "seed": self.seed,
            "size": self.size,
            "limit": self.limit,
            "missing": self.missing,
            **self._extra_options(),
        }

    def _extra_options(self) -> dict[str, Any]:
        return {}

    def spec(self) -> str:
        """A JSON string that determines the items and clips (a cache key for features/clip stores)."""
        return json.dumps(
            {
                "type": type(self).__name__,
                "root": str(self.root.resolve()),
                "options": self.options(),
                "epoch": self.epoch,
                "items": [it.name for it in self.items],
            },
            sort_keys=True,
        )

    def _summary_lines(self) -> list[str]:
        return []

    def describe(self) -> str:
        """A few human-readable lines: where, which split, how many items/sources, labels, clips."""
        clip = (
            "whole videos (clip='all')"
            if self.clip == "all"
            else f"{self.clip} clip of {self.clip_len} frames at sample rate {self.sample_rate}"
        )
        lines = [
            f"{self.title} ({type(self).__name__}) at {self.root}",
            f"  split '{self.split}': {len(self)} videos from {len(self.sources)} sources",
            f"  items: {clip}" + (f", resized to {self.size}x{self.size}" if self.size else ""),
        ]
        if self.skipped:
            lines.append(f"  skipped {len(self.skipped)} listed videos missing on disk (missing='skip')")
        lines.append(f"  faces: {self.faces} (from {self.faces_from})")
        lines += [f"  {line}" for line in self._summary_lines()]
        lines.append(f"  source: {self.url}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(root='{self.root}', split='{self.split}', items={len(self)}, clip='{self.clip}')"


def count_lines(counter: Counter, names: Sequence[str] | None = None) -> str:
    """``"a: 3, b: 1"`` in ``names`` order (or sorted)."""
    keys = list(names) if names is not None else sorted(counter)
    return ", ".join(f"{k}: {counter.get(k, 0)}" for k in keys)
