"""FaceForensics++ (FF++): 1,000 YouTube videos and their manipulated copies (deepfake detection).

Layout of the official download (``download-FaceForensics.py``)::

    <root>/original_sequences/youtube/<compression>/videos/071.mp4
    <root>/manipulated_sequences/<Method>/<compression>/videos/071_054.mp4
    <root>/splits/train.json, val.json, test.json

with ``<compression>`` one of ``raw``, ``c23`` (the usual choice), ``c40`` and ``<Method>``
one of :data:`FFPP_METHODS`. ``<target>_<source>.mp4`` is target video ``071`` with the face
(or expression) of source ``054``.

The official splits (``dataset/splits`` of the FaceForensics repository) are JSON lists of
pairs ``[["071", "054"], ...]``: 360 / 70 / 70 pairs, i.e. 720 / 140 / 140 original videos.
A pair ``(a, b)`` contributes the originals ``a`` and ``b`` and, for every method, the fakes
``a_b`` and ``b_a``; all of them share the source ``"a_b"`` (ids sorted), so no face of a test
pair is seen in training. With all five methods a split holds one real video per five fakes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from marlin_lite.datasets.base import SPLITS, PathLike, VideoDataset, VideoItem, count_lines

__all__ = ["FFPP_COMPRESSIONS", "FFPP_KINDS", "FFPP_METHODS", "FaceForensics"]

#: The manipulation methods of FF++ (FaceShifter was added later; older downloads lack it).
FFPP_METHODS: tuple[str, ...] = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter")
#: ``item["manipulation"]`` indexes this: 0 is a real (original) video.
FFPP_KINDS: tuple[str, ...] = ("original",) + FFPP_METHODS
#: ``item["compression"]`` indexes this.
FFPP_COMPRESSIONS: tuple[str, ...] = ("raw", "c23", "c40")
SPLITS_URL = "https://github.com/ondyari/FaceForensics/tree/master/dataset/splits"


class FaceForensics(VideoDataset):
    """FaceForensics++ as a dataset of clips (see the module docstring for layout and splits).

    Item keys: ``video`` ``float32 (3, T, H, W)``; ``fake`` ``int64`` 0/1; ``manipulation``
    ``int64`` index into :data:`FFPP_KINDS` (0 = original); ``compression`` ``int64`` index
    into :data:`FFPP_COMPRESSIONS`; ``index``, ``frame_indices``. ``items[i].labels`` also
    keeps ``kind``, ``target``, ``source_id`` (``None`` for originals) and ``pair``.

    Args:
        root: the download's root (holding ``original_sequences``).
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"``.
        compression: ``"raw"``, ``"c23"`` (default) or ``"c40"``.
        methods: manipulation methods to include (default: those of :data:`FFPP_METHODS` whose
            folder exists for this compression; ``()`` gives the real videos only).
        splits_dir: folder with ``train.json`` / ``val.json`` / ``test.json`` (default
            ``<root>/splits``).
        Other keyword arguments: see :class:`~marlin_lite.datasets.base.VideoDataset`.
    """

    key = "ffpp"
    title = "FaceForensics++"
    url = "https://github.com/ondyari/FaceForensics"
    layout = """\
  <root>/original_sequences/youtube/<compression>/videos/<id>.mp4          (e.g. 071.mp4)
  <root>/manipulated_sequences/<Method>/<compression>/videos/<target>_<source>.mp4   (e.g. 071_054.mp4)
  <root>/splits/train.json, val.json, test.json: lists of id pairs [["071", "054"], ...]
  (<compression>: raw, c23, c40; <Method>: Deepfakes, Face2Face, FaceSwap, NeuralTextures, FaceShifter;
   the split files are in """ + SPLITS_URL + ")"
    default_fps = 30.0

    def __init__(
        self,
        root: PathLike,
        split: str = "train",
        *,
        compression: str = "c23",
        methods: Sequence[str] | None = None,
        splits_dir: PathLike | None = None,
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
        if compression not in FFPP_COMPRESSIONS:
            raise ValueError(f"compression must be one of {FFPP_COMPRESSIONS}; got {compression!r}")
        self.compression = compression
        self.originals_dir = self._require_dir(
            self.root / "original_sequences" / "youtube" / compression / "videos", f"{self.title} original-video folder"
        )
        if methods is None:
            methods = tuple(m for m in FFPP_METHODS if self._method_dir(m).is_dir())
        else:
            if isinstance(methods, str):
                raise ValueError(f"methods must be a sequence of method names, e.g. ['Deepfakes']; got the string {methods!r}")
            methods = tuple(methods)
            bad = [m for m in methods if m not in FFPP_METHODS]
            if bad:
                raise ValueError(f"unknown FaceForensics++ methods {bad}; choose from {FFPP_METHODS}")
            for m in methods:
                self._require_dir(self._method_dir(m), f"{self.title} {m} folder")
        self.methods: tuple[str, ...] = methods
        self.splits_dir = Path(splits_dir) if splits_dir is not None else self.root / "splits"

        items: list[VideoItem] = []
        comp = FFPP_COMPRESSIONS.index(compression)
        for a, b in self._pairs(split):
            pair = "_".join(sorted((a, b)))
            for vid in (a, b):
                items.append(
                    VideoItem(f"original/{vid}", self.originals_dir / f"{vid}.mp4", pair,
                              {"kind": "original", "target": vid, "source_id": None, "pair": pair, "compression": comp})
                )
            for m in self.methods:
                for t, s in ((a, b), (b, a)):
                    items.append(
                        VideoItem(f"{m}/{t}_{s}", self._method_dir(m) / f"{t}_{s}.mp4", pair,
                                  {"kind": m, "target": t, "source_id": s, "pair": pair, "compression": comp})
                    )
        self._set_items(items)

    def _method_dir(self, method: str) -> Path:
        return self.root / "manipulated_sequences" / method / self.compression / "videos"

    def _pairs(self, split: str) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for s in SPLITS if split == "all" else (split,):
            path = self.splits_dir / f"{s}.json"
            if not path.is_file():
                raise FileNotFoundError(
                    f"{self.title} split file '{path}' does not exist. Copy the official split lists "
                    f"(train.json, val.json, test.json) from {SPLITS_URL} into '{self.splits_dir}' "
                    f"(or pass splits_dir=).\n{self._help()}"
                )
            data = self._read_json(path, f"{self.title} split file")
            if not isinstance(data, list) or not data:
                raise ValueError(f"{self.title} split file '{path}' must be a non-empty JSON list of id pairs like [[\"071\", \"054\"], ...].")
            for k, pair in enumerate(data):
                if not isinstance(pair, list) or len(pair) != 2 or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in pair):
                    raise ValueError(
                        f"{self.title} split file '{path}': entry {k} is {pair!r}; every entry must be a pair of "
                        "video ids like [\"071\", \"054\"]."
                    )
                a, b = (v if isinstance(v, str) else f"{v:03d}" for v in pair)
                pairs.append((a, b))
        return pairs

    # ---- labels ---------------------------------------------------------------------

    def _labels(self, item: VideoItem) -> dict[str, Any]:
        kind = item.labels["kind"]
        return {
            "fake": torch.tensor(int(kind != "original"), dtype=torch.int64),
            "manipulation": torch.tensor(FFPP_KINDS.index(kind), dtype=torch.int64),
            "compression": torch.tensor(item.labels["compression"], dtype=torch.int64),
        }

    def _extra_options(self) -> dict[str, Any]:
        return {"compression": self.compression, "methods": list(self.methods), "splits_dir": str(self.splits_dir)}

    def _summary_lines(self) -> list[str]:
        kinds = Counter(it.labels["kind"] for it in self.items)
        return [
            f"compression {self.compression}; methods: {', '.join(self.methods) or 'none (real videos only)'}; "
            f"sources = official id pairs",
            "videos: " + count_lines(kinds, ("original",) + self.methods),
        ]
