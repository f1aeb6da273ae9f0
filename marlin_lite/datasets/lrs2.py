"""LRS2 (Lip Reading Sentences 2): BBC utterances with transcripts, for lip reading and lip sync.

MARLIN's lip-sync experiment (its encoder inside Wav2Lip) trains on LRS2. Layout of the
official download (after accepting the BBC licence)::

    <root>/main/<videoID>/<NNNNN>.mp4        25 fps face-track video with its audio (16 kHz)
    <root>/main/<videoID>/<NNNNN>.txt        transcript: a line "Text:  THE WORDS", then "Conf: ..."
    <root>/train.txt, val.txt, test.txt      one "<videoID>/<NNNNN>" per line
    <root>/pretrain/<videoID>/<NNNNN>.mp4/.txt and pretrain.txt   (split "pretrain", optional)

Lines of the file lists may carry extra fields after a space (``test.txt``:
``6330311066473698535/00011 NF``); only the first field is used. The official file lists are
the splits; their items are grouped by ``videoID`` (one BBC programme), which the lists keep
apart.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from marlin_lite.datasets.base import SPLITS, PathLike, VideoDataset, VideoItem
from marlin_lite.video import read_video

__all__ = ["LRS2", "read_transcript"]

_NAME = re.compile(r"^[^/\s]+/\d{5}$")


def read_transcript(path: PathLike) -> str:
    """The text of an LRS2 transcript file (the ``Text:`` line, stripped)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"LRS2 transcript '{p}' does not exist; every <NNNNN>.mp4 has a <NNNNN>.txt beside it.")
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"LRS2 transcript '{p}' is not UTF-8 text ({e}); re-download it.") from e
    for line in lines:
        if line.startswith("Text:"):
            return line[len("Text:") :].strip()
    raise ValueError(f"LRS2 transcript '{p}' has no line starting with 'Text:'; expected e.g. 'Text:  HELLO WORLD'.")


def resample_linear(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Resample mono ``float32 (S,)`` from ``rate`` to ``target`` Hz by linear interpolation."""
    if rate == target or audio.size == 0:
        return audio.astype(np.float32, copy=False)
    n = int(round(audio.size * target / rate))
    t = np.arange(n, dtype=np.float64) * (rate / target)
    return np.interp(t, np.arange(audio.size), audio).astype(np.float32)


class LRS2(VideoDataset):
    """LRS2 utterances as a dataset of clips with audio and text (see the module docstring).

    Item keys: ``video`` ``float32 (3, T, H, W)``; ``audio`` ``float32 (S,)`` mono in
    [-1, 1] at :attr:`audio_rate` Hz covering the clip's window - from its first frame for
    ``clip_len * sample_rate`` frames, i.e. ``S = round(clip_len * sample_rate / fps *
    audio_rate)`` (20,480 for 16 frames at rate 2, 25 fps, 16 kHz), zero-padded past the end
    of the track (all zeros for a file without audio) - or the whole track with ``clip="all"``; ``text`` (a ``str``, the
    transcript); ``index``, ``frame_indices``.

    Args:
        root: the download's root (holding ``main/`` and the file lists).
        split: ``"train"``, ``"val"``, ``"test"``, ``"pretrain"`` or ``"all"`` (train + val + test).
        audio_rate: audio sample rate of the items (files at another rate are resampled
            linearly).
        Other keyword arguments: see :class:`~marlin_lite.datasets.base.VideoDataset`.
    """

    key = "lrs2"
    title = "LRS2"
    url = "https://www.robots.ox.ac.uk/~vgg/data/lip_reading/lrs2.html"
    layout = """\
  <root>/main/<videoID>/<NNNNN>.mp4 and <NNNNN>.txt ('Text:  THE WORDS' transcript)
  <root>/train.txt, val.txt, test.txt: one '<videoID>/<NNNNN>' per line (extra fields after a space are ignored)
  optional: <root>/pretrain/<videoID>/<NNNNN>.mp4/.txt with <root>/pretrain.txt (split 'pretrain')"""
    default_fps = 25.0
    default_faces = "as_is"  # LRS2 ships face-centred crops (160 x 160), as MARLIN's lip-sync protocol reads them

    def __init__(
        self,
        root: PathLike,
        split: str = "train",
        *,
        audio_rate: int = 16000,
        clip_len: int = 16,
        sample_rate: int = 2,
        clip: str | None = None,
        seed: int = 0,
        size: int | None = None,
        limit: int | None = None,
        missing: str = "error",
        faces: str | None = None,
    ) -> None:
        self._setup(
            root, split, clip_len=clip_len, sample_rate=sample_rate, clip=clip, seed=seed, size=size, limit=limit,
            missing=missing, allowed_splits=SPLITS + ("pretrain",), faces=faces,
        )
        if isinstance(audio_rate, bool) or not isinstance(audio_rate, int) or audio_rate < 1000:
            raise ValueError(f"audio_rate must be an int >= 1000 (Hz); got {audio_rate!r}")
        self.audio_rate = audio_rate
        items: list[VideoItem] = []
        for s in SPLITS if split == "all" else (split,):
            folder = self.root / ("pretrain" if s == "pretrain" else "main")
            self._require_dir(folder, f"{self.title} video folder")
            for name in self._file_list(s):
                items.append(VideoItem(name, folder / f"{name}.mp4", name.split("/", 1)[0], {"transcript": str(folder / f"{name}.txt")}))
        self._set_items(items)

    def _file_list(self, split: str) -> list[str]:
        path = self._require_file(self.root / f"{split}.txt", f"{self.title} file list")
        names: list[str] = []
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            name = fields[0].strip("/")
            if name.endswith(".mp4"):
                name = name[:-4]
            if not _NAME.match(name):
                raise ValueError(
                    f"{self.title} file list '{path}', line {line_no}: {line!r} should start with "
                    f"'<videoID>/<NNNNN>' (five digits), e.g. '6330311066473698535/00011'.\n{self._help()}"
                )
            names.append(name)
        return names

    def _required_paths(self, item: VideoItem) -> list[Path]:
        return [item.path, Path(item.labels["transcript"])]

    # ---- reading ----------------------------------------------------------------------

    def text(self, index: int) -> str:
        """The transcript of item ``index``."""
        return read_transcript(self.items[self._check_index(index)].labels["transcript"])

    def _load_clip(self, index: int, idx: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        video = read_video(self.items[index].path)
        audio = np.zeros(0, np.float32)
        if video.audio is not None and video.sample_rate is not None:
            audio = resample_linear(video.audio, video.sample_rate, self.audio_rate)
        if self.clip == "all":
            return video.frames, {"audio": torch.from_numpy(np.ascontiguousarray(audio))}
        n = int(round(self.clip_len * self.sample_rate / video.fps * self.audio_rate))
        start = int(round(int(idx[0]) / video.fps * self.audio_rate))
        segment = np.zeros(n, np.float32)
        piece = audio[start : start + n]
        segment[: piece.size] = piece
        frames = video.frames[np.minimum(idx, len(video.frames) - 1)]
        return np.ascontiguousarray(frames), {"audio": torch.from_numpy(segment)}

    def _labels(self, item: VideoItem) -> dict[str, Any]:
        return {"text": read_transcript(item.labels["transcript"])}

    def _extra_options(self) -> dict[str, Any]:
        return {"audio_rate": self.audio_rate}

    def _summary_lines(self) -> list[str]:
        return [f"utterances of {len(self.sources)} programmes (videoIDs); audio at {self.audio_rate} Hz; official file lists"]
