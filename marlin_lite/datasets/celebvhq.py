"""CelebV-HQ: 35,666 face clips with 40 appearance, 35 action and 8 emotion labels.

MARLIN's facial-attribute benchmark (linear probe / fine-tune on appearance and action).
Layout::

    <root>/celebvhq_info.json
    <root>/<video_dir>/<ytb_id>_<n>.mp4

``celebvhq_info.json`` (from the official repository) holds ``meta_info.appearance_mapping``
(40 names), ``meta_info.action_mapping`` (35 names) and ``clips[<ytb_id>_<n>]`` with
``ytb_id``, ``duration {start_sec, end_sec}``, a normalised ``bbox {top, bottom, left,
right}`` and ``attributes {appearance: 40 x 0/1, action: 35 x 0/1, emotion: {sep_flag,
labels}}``. ``emotion.labels`` is one name when ``sep_flag`` is false, and a list of timed
segments when the emotion changes within the clip (``sep_flag`` true); then the emotion
covering the longest time is used (the first on ties) and ``emotion_mixed`` is 1.

CelebV-HQ has no official split (MARLIN wrote an 80/10/10 split in ``os.listdir`` order).
The default is a hash split **by YouTube id**, so clips cut from one YouTube video never
straddle splits; ``splits="lists"`` reads ``<root>/{train,val,test}.txt`` (one clip id per
line, the files MARLIN's preprocessing writes).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import torch

from marlin_lite.datasets.base import SPLITS, PathLike, VideoDataset, VideoItem, check_fractions, count_lines, hash_split

__all__ = ["CELEBVHQ_EMOTIONS", "CelebVHQ"]

#: CelebV-HQ's emotion classes, in the order of the official ``split_dataset.py``.
CELEBVHQ_EMOTIONS: tuple[str, ...] = ("neutral", "happy", "anger", "sadness", "contempt", "fear", "disgust", "surprise")
_EMOTION_ALIASES = {"sad": "sadness", "angry": "anger", "surprised": "surprise", "disgusted": "disgust", "fearful": "fear", "happiness": "happy"}


class CelebVHQ(VideoDataset):
    """CelebV-HQ as a dataset of clips (see the module docstring for layout and splits).

    Item keys: ``video`` ``float32 (3, T, H, W)``; ``attributes`` ``float32 (40,)`` and
    ``actions`` ``float32 (35,)`` of 0/1 (names in :attr:`appearance_names` /
    :attr:`action_names`, read from the json); ``emotion`` ``int64`` index into
    :data:`CELEBVHQ_EMOTIONS`; ``emotion_mixed`` ``int64`` 0/1; ``index``, ``frame_indices``.
    ``items[i].labels`` also keeps ``ytb_id``, ``duration`` (seconds) and ``bbox``.

    Args:
        root: folder holding ``celebvhq_info.json``.
        video_dir: the videos' folder, relative to ``root`` (default: ``cropped`` - where
            MARLIN's preprocessing writes face crops - if it exists, else ``videos``, else
            ``root`` itself).
        info: the annotation file's name.
        splits: ``"hash"`` (by YouTube id, default) or ``"lists"`` (``<root>/<split>.txt``).
        fractions, split_seed: of the hash split (default 80 / 10 / 10, as MARLIN).
        Other keyword arguments: see :class:`~marlin_lite.datasets.base.VideoDataset`.
    """

    key = "celebvhq"
    title = "CelebV-HQ"
    url = "https://github.com/CelebV-HQ/CelebV-HQ"
    layout = """\
  <root>/celebvhq_info.json   (meta_info.appearance_mapping, meta_info.action_mapping, clips{...})
  <root>/<video_dir>/<ytb_id>_<n>.mp4   (video_dir: 'cropped', 'videos' or the root itself)
  optional (splits='lists'): <root>/train.txt, val.txt, test.txt with one clip id per line"""
    default_fps = 25.0

    def __init__(
        self,
        root: PathLike,
        split: str = "train",
        *,
        video_dir: str | None = None,
        info: str = "celebvhq_info.json",
        splits: str = "hash",
        fractions: Sequence[float] = (0.8, 0.1, 0.1),
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
        if splits not in ("hash", "lists"):
            raise ValueError(f"splits must be 'hash' or 'lists'; got {splits!r}")
        self.splits = splits
        self.fractions = check_fractions(fractions)
        self.split_seed = int(split_seed)
        if video_dir is None:
            video_dir = next((d for d in ("cropped", "videos") if (self.root / d).is_dir()), ".")
        self.video_dir = video_dir
        self.videos_root = self._require_dir(self.root / video_dir, f"{self.title} video folder")
        self.info_path = self.root / info
        data = self._read_json(self.info_path, f"{self.title} annotation file")
        self.appearance_names, self.action_names, records = self._parse(data)

        if splits == "hash":
            ids = [cid for cid, rec in records.items() if split == "all" or hash_split(rec["ytb_id"], self.fractions, self.split_seed) == split]
        else:
            ids = self._lists(split, records)
        items = [VideoItem(cid, self.videos_root / f"{cid}.mp4", records[cid]["ytb_id"], records[cid]) for cid in ids]
        self._set_items(items)

    # ---- annotation parsing ----------------------------------------------------------------

    def _bad(self, detail: str) -> ValueError:
        return ValueError(
            f"{self.title} annotation file '{self.info_path}' is malformed: {detail}. Expected the official "
            "celebvhq_info.json: {'meta_info': {'appearance_mapping': [40 names], 'action_mapping': [35 names]}, "
            "'clips': {'<ytb_id>_<n>': {'ytb_id': ..., 'attributes': {'appearance': [40 x 0/1], "
            f"'action': [35 x 0/1], 'emotion': {{'sep_flag': false, 'labels': 'neutral'}}}}, ...}}}}}}.\n{self._help()}"
        )

    def _parse(self, data: Any) -> tuple[list[str], list[str], dict[str, dict[str, Any]]]:
        if not isinstance(data, dict) or not isinstance(data.get("meta_info"), dict) or not isinstance(data.get("clips"), dict):
            raise self._bad("the top level must be an object with 'meta_info' and 'clips' objects")
        meta = data["meta_info"]
        names = {}
        for key in ("appearance_mapping", "action_mapping"):
            value = meta.get(key)
            if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
                raise self._bad(f"meta_info.{key} must be a non-empty list of names")
            names[key] = list(value)
        app_names, act_names = names["appearance_mapping"], names["action_mapping"]
        records: dict[str, dict[str, Any]] = {}
        for cid, clip in data["clips"].items():
            if not isinstance(clip, dict) or not isinstance(clip.get("attributes"), dict):
                raise self._bad(f"clips['{cid}'] has no 'attributes' object")
            attrs = clip["attributes"]
            vectors = {}
            for key, ref in (("appearance", app_names), ("action", act_names)):
                vec = attrs.get(key)
                if not isinstance(vec, list) or len(vec) != len(ref) or any(v not in (0, 1) for v in vec):
                    raise self._bad(
                        f"clips['{cid}'].attributes.{key} must be a list of {len(ref)} zeros and ones "
                        f"(one per meta_info.{key}_mapping name); got {str(vec)[:80]}"
                    )
                vectors[key] = [int(v) for v in vec]
            emotion, mixed = self._emotion(cid, attrs.get("emotion"))
            ytb = clip.get("ytb_id")
            if not isinstance(ytb, str) or not ytb:
                ytb = cid.rsplit("_", 1)[0]
            duration = clip.get("duration") or {}
            try:
                seconds = float(duration["end_sec"]) - float(duration["start_sec"])
            except (KeyError, TypeError, ValueError):
                seconds = None
            records[cid] = {
                "ytb_id": ytb,
                "appearance": vectors["appearance"],
                "action": vectors["action"],
                "emotion": emotion,
                "emotion_mixed": mixed,
                "duration": seconds,
                "bbox": clip.get("bbox"),
            }
        if not records:
            raise self._bad("'clips' is empty")
        return app_names, act_names, records

    def _emotion_index(self, cid: str, name: Any) -> int:
        if not isinstance(name, str):
            raise self._bad(f"clips['{cid}'].attributes.emotion has a label {name!r} that is not a name")
        key = _EMOTION_ALIASES.get(name.strip().lower(), name.strip().lower())
        if key not in CELEBVHQ_EMOTIONS:
            raise self._bad(f"clips['{cid}'].attributes.emotion label {name!r} is not one of {CELEBVHQ_EMOTIONS}")
        return CELEBVHQ_EMOTIONS.index(key)

    def _emotion(self, cid: str, emo: Any) -> tuple[int, int]:
        """``(emotion index, mixed 0/1)`` of one clip's ``attributes.emotion``."""
        if not isinstance(emo, dict) or "labels" not in emo:
            raise self._bad(f"clips['{cid}'].attributes.emotion must be an object with 'sep_flag' and 'labels'")
        labels = emo["labels"]
        if isinstance(labels, str):
            return self._emotion_index(cid, labels), int(bool(emo.get("sep_flag", False)))
        if not isinstance(labels, list) or not labels:
            raise self._bad(f"clips['{cid}'].attributes.emotion.labels must be a name or a non-empty list of segments")
        best, best_len = None, -1.0
        for seg in labels:
            if isinstance(seg, str):
                name, length = seg, 0.0
            elif isinstance(seg, dict):
                name = seg.get("emotion", seg.get("label", seg.get("labels")))
                try:
                    length = float(seg.get("end_sec", 0.0)) - float(seg.get("start_sec", 0.0))
                except (TypeError, ValueError):
                    length = 0.0
            else:
                raise self._bad(f"clips['{cid}'].attributes.emotion.labels has a segment {seg!r}; expected a name or an object")
            index = self._emotion_index(cid, name)
            if length > best_len:
                best, best_len = index, length
        assert best is not None
        return best, 1

    def _lists(self, split: str, records: dict[str, dict[str, Any]]) -> list[str]:
        ids: list[str] = []
        for s in SPLITS if split == "all" else (split,):
            path = self._require_file(self.root / f"{s}.txt", f"{self.title} split file")
            for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                cid = line.strip()
                if cid.endswith(".mp4"):
                    cid = cid[:-4]
                if not cid:
                    continue
                if cid not in records:
                    raise ValueError(
                        f"{self.title} split file '{path}', line {line_no}: clip '{cid}' is not in "
                        f"'{self.info_path}'. The list and the annotation file do not belong together."
                    )
                ids.append(cid)
        return ids

    # ---- labels ---------------------------------------------------------------------

    def _labels(self, item: VideoItem) -> dict[str, Any]:
        lab = item.labels
        return {
            "attributes": torch.tensor(lab["appearance"], dtype=torch.float32),
            "actions": torch.tensor(lab["action"], dtype=torch.float32),
            "emotion": torch.tensor(lab["emotion"], dtype=torch.int64),
            "emotion_mixed": torch.tensor(lab["emotion_mixed"], dtype=torch.int64),
        }

    def _extra_options(self) -> dict[str, Any]:
        return {"video_dir": self.video_dir, "splits": self.splits, "fractions": list(self.fractions), "split_seed": self.split_seed}

    def _summary_lines(self) -> list[str]:
        emo = Counter(CELEBVHQ_EMOTIONS[it.labels["emotion"]] for it in self.items)
        app = [sum(it.labels["appearance"][k] for it in self.items) for k in range(len(self.appearance_names))]
        top = [k for k in sorted(range(len(app)), key=lambda k: -app[k])[:5] if app[k] > 0]
        return [
            f"labels: {len(self.appearance_names)} appearance, {len(self.action_names)} action, emotion; "
            f"sources = YouTube ids; split: {self.splits}",
            "emotion: " + count_lines(emo, CELEBVHQ_EMOTIONS),
            "most frequent appearance: " + (", ".join(f"{self.appearance_names[k]} {app[k]}" for k in top) or "none"),
        ]
