"""Pretraining data for the scaled notebook: SynthFace, a clip store, or a real data set (or a
folder of videos) written into a clip store once, with face-parsing maps drawn from landmarks when
the source has none; epochs counted in steps.

No PyAV at import time (the data set loaders are imported on use).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from marlin_lite.clipstore import INDEX, ClipStore, VideoClips, write_clip_store
from marlin_lite.data import SynthFaceDataset
from marlin_lite.faces import LandmarkParser
from marlin_lite.pretrain import PretrainConfig
from marlin_lite.scaled.common import REPO_ROOT, dataset_name, resolve_path


class LandmarkParsing:
    """A data set of whole videos plus parsing maps drawn from face landmarks.

    Real data sets ship no parsing maps (MARLIN drew them with FaceXZoo), but face-guided
    masking needs them. Wrapping a loader of :mod:`marlin_lite.datasets` (or anything with
    ``__len__`` and ``frames(i) -> uint8 (T, H, W, 3)``) gives it ``parsing(i) -> uint8 (T, H, W)``
    from ``parser`` (default: :class:`marlin_lite.faces.LandmarkParser`, MediaPipe FaceMesh,
    the optional ``faces`` extra), so :class:`~marlin_lite.clipstore.VideoClips` stores them.
    Names, labels, ``num_frames`` and ``spec`` come from the source (the spec names the parser).
    """

    has_parsing = True

    def __init__(self, source: Any, parser: Any = None) -> None:
        if not (hasattr(source, "__len__") and callable(getattr(source, "frames", None))):
            raise ValueError(f"source must have __len__ and frames(i) (a marlin_lite.datasets loader), got {type(source).__name__}")
        self.source = source
        self._parser = parser
        self._last: tuple[int, Any] | None = None

    @property
    def parser(self) -> Any:
        if self._parser is None:
            self._parser = LandmarkParser()
        return self._parser

    @property
    def items(self) -> Any:
        return getattr(self.source, "items", None)

    def __len__(self) -> int:
        return len(self.source)

    def num_frames(self, i: int) -> int:
        if callable(getattr(self.source, "num_frames", None)):
            return int(self.source.num_frames(i))
        return len(self.frames(i))

    def frames(self, i: int) -> Any:
        if self._last is None or self._last[0] != i:  # VideoClips asks for frames, then parsing
            self._last = (i, self.source.frames(i))
        return self._last[1]

    def parsing(self, i: int) -> Any:
        return self.parser.parse(self.frames(i)).parsing

    def spec(self) -> str:
        inner = self.source.spec() if callable(getattr(self.source, "spec", None)) else type(self.source).__name__
        return json.dumps({"source": inner, "parsing": getattr(self.parser, "name", type(self.parser).__name__)}, sort_keys=True)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_last": None}


def prepare_pretrain_data(
    dataset: str,
    *,
    num_frames: int,
    img_size: int,
    data_root: str | os.PathLike[str] | None = None,
    data_split: str = "train",
    data_limit: int | None = None,
    store_dir: str | os.PathLike[str] | None = None,
    use_clip_store: bool = False,
    face_parsing: Any = "auto",
    need_parsing: bool = False,
    data_workers: int = 0,
    synthface: dict[str, Any] | None = None,
    progress: bool = True,
) -> tuple[str | None, str]:
    """The ``data_path`` of the pretraining config and a one-line description of the data.

    Args:
        dataset: ``"synthface"`` (rendered on the fly: ``data_path`` ``None``; with
            ``use_clip_store`` the training split is written into a clip store first); a clip
            store folder (used as it is); a data set name of :mod:`marlin_lite.datasets` with
            ``data_root``; or a folder of videos (e.g. the output of ``python -m
            marlin_lite.preprocess``, whose ``<name>.npz`` parsing maps are stored too).
        num_frames, img_size: the model's clip shape; stores are written (and checked) at it.
        store_dir: where to write the store (default ``runs/clipstores/<data>_<split>_<T>x<S>``).
            A finished store of the same source and shape is reused; one of another config is
            an error naming what differs.
        face_parsing: ``"auto"`` (maps when the source has them), ``"landmarks"`` (draw them with
            :class:`LandmarkParsing`), ``"none"``, or a parser object (anything with
            ``parse(frames).parsing``) used like ``"landmarks"``.
        need_parsing: the masking needs maps (face-guided); without any, a clear error.
        synthface: ``num_identities``, ``clips_per_identity``, ``world_seed`` of the SynthFace
            split (``use_clip_store``; the config's values).
    """
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"dataset must be 'synthface', a clip store or video folder, or a data set name; got {dataset!r}")
    parse_mode = face_parsing if isinstance(face_parsing, str) else "landmarks"
    if parse_mode not in ("auto", "landmarks", "none"):
        raise ValueError(f"face_parsing must be 'auto', 'landmarks', 'none' or a parser object, got {face_parsing!r}")
    parser = None if isinstance(face_parsing, str) else face_parsing
    shape = f"{num_frames}x{img_size}"

    def default_store(stem: str) -> Path:
        return resolve_path(store_dir) if store_dir is not None else REPO_ROOT / "runs" / "clipstores" / f"{stem}_{data_split}_{shape}"

    def store_parsing() -> bool | None:
        return False if parse_mode == "none" else None

    if dataset.lower() == "synthface":
        if not use_clip_store:
            return None, "SynthFace, rendered on the fly (cached in memory)"
        kw = dict(synthface or {})
        source = SynthFaceDataset(data_split, size=img_size, num_frames=num_frames, **kw)
        out = default_store("synthface")
        store = write_clip_store(source, out, clip_len=num_frames, size=img_size, parsing=store_parsing(), workers=data_workers,
                                 progress=progress)
        return str(out), f"SynthFace {data_split} split in a clip store: {store}"

    path = resolve_path(dataset)
    name = None
    if not path.exists():
        name = dataset_name(dataset)
        if name is None:
            raise FileNotFoundError(
                f"dataset {dataset!r} is neither 'synthface', an existing folder ({path}), nor a data set name "
                "(ytf, celebvhq, ffpp, mosei, lrs2)"
            )
    if name is None and (path / INDEX).is_file():
        return str(path), f"clip store {path}"
    if name is not None:
        from marlin_lite.datasets import get_dataset

        if data_root is None:
            raise ValueError(f"dataset {dataset!r} needs data_root, the folder of the downloaded data set")
        videos: Any = get_dataset(name, resolve_path(data_root), data_split, clip_len=num_frames, sample_rate=2, limit=data_limit)
        stem = name
    elif path.is_dir():
        videos, stem = path, path.name
    else:
        raise ValueError(f"dataset {path} is a file; pass a clip store folder, a folder of videos, or a data set name")
    if parse_mode == "landmarks":
        if name is None:
            raise ValueError("face_parsing='landmarks' works on data sets (dataset = ytf, celebvhq, ...); a folder of "
                             "preprocessed videos brings its own maps (face_parsing='auto')")
        videos = LandmarkParsing(videos, parser)
    clips = VideoClips(videos, clip_len=num_frames, sample_rate=2, parsing=False if parse_mode == "none" else "auto")
    for line in clips.skipped[:10]:
        print(f"skipped (too short): {line}", file=sys.stderr)
    if need_parsing and not clips.has_parsing:
        raise ValueError(
            f"the masking strategy needs parsing maps but {dataset!r} has none: set face_parsing='landmarks' (MediaPipe "
            "FaceMesh, the 'faces' extra), preprocess the videos with python -m marlin_lite.preprocess, or use "
            "mask_strategy='tube'"
        )
    out = default_store(stem)
    store = write_clip_store(clips, out, clip_len=num_frames, size=img_size, parsing=store_parsing(), workers=data_workers, progress=progress)
    return str(out), f"{stem} ({data_split}) in a clip store: {store}"


def training_set_size(cfg: PretrainConfig) -> int:
    """How many clips one epoch of ``cfg`` passes over (the clip store's, or the SynthFace split's)."""
    if cfg.data_path:
        return len(ClipStore(cfg.data_path))
    mcfg = cfg.model_config()
    return len(SynthFaceDataset("train", num_identities=cfg.num_identities, clips_per_identity=cfg.clips_per_identity,
                                world_seed=cfg.world_seed, size=mcfg.img_size, num_frames=mcfg.num_frames))


def epochs_to_steps(epochs: float, num_clips: int, global_batch: int) -> int:
    """Steps of ``epochs`` passes over ``num_clips`` at ``global_batch`` clips per step.

    One epoch is ``num_clips // global_batch`` steps (the sampler drops the batch that would cross
    an epoch boundary); at least one step.
    """
    if not (isinstance(epochs, (int, float)) and epochs > 0):
        raise ValueError(f"epochs must be a number > 0, got {epochs!r}")
    if global_batch < 1 or num_clips < global_batch:
        raise ValueError(f"the data has {num_clips} clips, fewer than one global batch of {global_batch}")
    return max(1, round(epochs * (num_clips // global_batch)))
