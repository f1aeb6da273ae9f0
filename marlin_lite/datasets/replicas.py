"""Tiny replicas of the real data sets' layouts, filled with SynthFace clips.

``make_replica(name, root)`` writes, in about a second, a handful of small videos (32 x 32
pixels, 36-39 frames) laid out exactly as the real data set is, with annotation files in
the real formats and labels taken from SynthFace's ground truth:

* ``ytf``: JPEG frame folders numbered from 1 (so a lexicographic sort would put frame 10
  before frame 2), a stand-in ``<Person>.labeled_faces.txt`` beside the person folders;
* ``celebvhq``: ``<ytb_id>_<n>.mp4`` clips and a ``celebvhq_info.json`` whose 40 appearance
  labels come from SynthFace's attributes (:data:`SYNTH_TO_APPEARANCE`), whose actions mark
  talking, smiling, frowning and pulling a face, and whose emotion is the clip's expression
  (one clip has two timed emotions, ``sep_flag`` true);
* ``ffpp``: originals and, for each pair, the fakes ``a_b`` / ``b_a`` of every method made
  with SynthFace's manipulations (:data:`METHOD_TO_SYNTH`), and the split JSON lists;
* ``mosei``: segment videos, ``mosei_labels.csv`` (sentiment and emotions derived from the
  expression, in thirds like the averages of three annotators) and split lists;
* ``lrs2``: 25 fps utterances with SynthFace speech as AAC audio, ``Text:`` transcripts and
  file lists (test lines carry an extra field).

Splits: every split gets at least one source. For data sets that the loaders hash-split,
source names are drawn until each split has its share under the loader's default hash split.

Each ``make_*_replica`` returns a manifest (also written to ``<root>/replica_manifest.json``):
``{"name", "root", "seed", "items": {item name: {"split", "labels", "synthface"}}}`` where
``labels`` are what the loader should report and ``synthface`` the arguments of
:func:`marlin_lite.synthface.generate_clip` that rendered the item (tests re-render from it).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from marlin_lite.datasets.base import FACES_FILE, SPLITS, hash_split
from marlin_lite.datasets.celebvhq import CELEBVHQ_EMOTIONS
from marlin_lite.datasets.ffpp import FFPP_COMPRESSIONS, FFPP_KINDS, FFPP_METHODS
from marlin_lite.datasets.mosei import MOSEI_COLUMNS, MOSEI_EMOTIONS, sentiment_classes
from marlin_lite.synthface import ATTRIBUTES, EXPRESSIONS, SynthClip, generate_clip
from marlin_lite.video import write_video
from marlin_lite.datasets.registry import canonical_name

__all__ = [
    "CELEBVHQ_ACTION_NAMES",
    "CELEBVHQ_APPEARANCE_NAMES",
    "METHOD_TO_SYNTH",
    "REPLICAS",
    "SYNTH_TO_APPEARANCE",
    "make_celebvhq_replica",
    "make_ffpp_replica",
    "make_lrs2_replica",
    "make_mosei_replica",
    "make_replica",
    "make_ytf_replica",
]

PathLike = str | os.PathLike[str]

#: CelebV-HQ's 40 appearance attributes (CelebA-style names) as the replica writes them.
#: The loader always takes the names from the annotation file's ``appearance_mapping``.
CELEBVHQ_APPEARANCE_NAMES: tuple[str, ...] = (
    "blurry", "male", "young", "chubby", "pale_skin", "rosy_cheeks", "oval_face", "receding_hairline",
    "bald", "bangs", "black_hair", "blonde_hair", "gray_hair", "brown_hair", "straight_hair", "wavy_hair",
    "long_hair", "arched_eyebrows", "bushy_eyebrows", "bags_under_eyes", "eyeglasses", "sunglasses",
    "narrow_eyes", "big_nose", "pointy_nose", "high_cheekbones", "big_lips", "double_chin", "no_beard",
    "5_o_clock_shadow", "goatee", "mustache", "sideburns", "heavy_makeup", "wearing_earrings", "wearing_hat",
    "wearing_lipstick", "wearing_necklace", "wearing_necktie", "wearing_mask",
)  # fmt: skip
#: CelebV-HQ's 35 actions as the replica writes them.
CELEBVHQ_ACTION_NAMES: tuple[str, ...] = (
    "blow", "chew", "close_eyes", "cough", "cry", "drink", "eat", "frown", "gaze", "glare", "head_wagging",
    "kiss", "laugh", "listen_to_music", "look_around", "make_a_face", "nod", "play_instrument", "read",
    "shake_head", "shout", "sigh", "sing", "sleep", "smile", "smoke", "sneer", "sneeze", "sniff", "talk",
    "turn", "weep", "whisper", "wink", "yawn",
)  # fmt: skip
#: SynthFace attribute -> CelebV-HQ appearance name (``beard`` sets ``no_beard`` to 0).
SYNTH_TO_APPEARANCE: dict[str, str] = {
    "black_hair": "black_hair", "brown_hair": "brown_hair", "blond_hair": "blonde_hair", "gray_hair": "gray_hair",
    "bald": "bald", "bangs": "bangs", "long_hair": "long_hair", "eyeglasses": "eyeglasses",
    "sunglasses": "sunglasses", "mustache": "mustache", "wearing_hat": "wearing_hat",
    "wearing_earrings": "wearing_earrings", "wearing_lipstick": "wearing_lipstick", "rosy_cheeks": "rosy_cheeks",
    "bushy_eyebrows": "bushy_eyebrows", "big_nose": "big_nose", "big_lips": "big_lips", "pale_skin": "pale_skin",
    "round_face": "chubby",
}  # fmt: skip
#: SynthFace expression -> CelebV-HQ emotion.
EXPRESSION_TO_CELEBVHQ: dict[str, str] = {
    "neutral": "neutral", "happy": "happy", "sad": "sadness", "surprised": "surprise", "angry": "anger", "disgusted": "disgust",
}  # fmt: skip
#: SynthFace expression -> CMU-MOSEI emotion (neutral has none).
EXPRESSION_TO_MOSEI: dict[str, str | None] = {
    "neutral": None, "happy": "happy", "sad": "sad", "surprised": "surprise", "angry": "anger", "disgusted": "disgust",
}  # fmt: skip
#: Typical sentiment of each expression in the MOSEI replica (a little seeded noise is added).
EXPRESSION_SENTIMENT: dict[str, float] = {
    "neutral": 0.0, "happy": 2.0, "surprised": 1.0, "sad": -2.0, "angry": -2.0, "disgusted": -5.0 / 3.0,
}  # fmt: skip
#: FF++ method -> the SynthFace manipulation that imitates it.
METHOD_TO_SYNTH: dict[str, str] = {
    "Deepfakes": "face_swap", "Face2Face": "reenactment", "FaceSwap": "face_swap",
    "NeuralTextures": "mouth_resynthesis", "FaceShifter": "face_swap",
}  # fmt: skip
_WORDS = (
    "ABOUT", "AFTER", "AGAIN", "BEFORE", "BETTER", "COUNTRY", "EVERY", "FAMILY", "GOING", "GREAT", "HOUSE",
    "LITTLE", "MONEY", "NEVER", "PEOPLE", "PLACE", "RIGHT", "SHOULD", "THINK", "WATER", "WORLD", "YEARS",
)  # fmt: skip
_CRF = {"raw": 0, "c23": 23, "c40": 40}


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _fake_youtube_id(seed: int, k: int) -> str:
    """An 11-character YouTube-style id (letters, digits, ``-`` and ``_``), deterministic."""
    digest = hashlib.sha256(f"replica-ytb:{seed}:{k}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:11]


def _split_counts(n: int, minimum: int = 3) -> dict[str, int]:
    """``n`` sources as ``{train: n - 2, val: 1, test: 1}`` (n >= 3)."""
    if n < minimum:
        raise ValueError(f"a replica needs at least {minimum} sources so that train, val and test each get one; got {n}")
    return {"train": n - 2, "val": 1, "test": 1}


def _draw_sources(
    names: Iterator[str], counts: dict[str, int], fractions: Sequence[float], split_seed: int = 0
) -> dict[str, str]:
    """Take names in order, keeping those whose hash split still needs sources -> ``{name: split}``."""
    need = dict(counts)
    chosen: dict[str, str] = {}
    for name in itertools.islice(names, 100_000):
        split = hash_split(name, fractions, split_seed)
        if need.get(split, 0) > 0:
            chosen[name] = split
            need[split] -= 1
            if not any(need.values()):
                return chosen
    raise RuntimeError(f"could not fill the splits {counts} with fractions {fractions}")  # pragma: no cover


def _clip(spec: dict[str, Any]) -> SynthClip:
    return generate_clip(**spec)


def _spec(identity: int, clip_seed: int, *, seed: int, size: int, num_frames: int, **extra: Any) -> dict[str, Any]:
    return {"identity": identity, "clip_seed": clip_seed, "world_seed": seed, "size": size, "num_frames": num_frames, "fps": 25.0, **extra}


def _check_size(size: int, num_frames: int) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 16 or size % 2:
        raise ValueError(f"size must be an even int >= 16 (H.264 needs even sides); got {size!r}")
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames must be an int >= 1; got {num_frames!r}")


def _prepare_root(root: PathLike) -> Path:
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a str or os.PathLike; got {type(root).__name__}")
    out = Path(root)
    if out.exists() and not out.is_dir():
        raise ValueError(f"replica root '{out}' exists and is not a folder; pass a new or empty folder.")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1, sort_keys=False) + "\n", encoding="utf-8")


def _finish(name: str, root: Path, seed: int, items: dict[str, Any]) -> dict[str, Any]:
    manifest = {"name": name, "root": str(root), "seed": seed, "items": dict(sorted(items.items()))}
    _write_json(root / "replica_manifest.json", manifest)
    # the replicas show whole SynthFace scenes in the data set's layout, not face crops: say so,
    # so the loaders read them without the face-crop check (marlin_lite.datasets.base.FACES)
    _write_json(root / FACES_FILE, {"faces": "as_is", "note": "a marlin_lite replica: scene-framed SynthFace clips in "
                                    f"the {name} layout, not face crops"})
    return manifest


# --------------------------------------------------------------------------------------
# YouTube Faces
# --------------------------------------------------------------------------------------


def make_ytf_replica(
    root: PathLike, *, num_people: int = 5, videos_per_person: int = 2, num_frames: int = 36, size: int = 32, seed: int = 0
) -> dict[str, Any]:
    """Write ``<root>/frame_images_DB/<Person>/<video_idx>/<video_idx>.<frame_no>.jpg`` (JPEG, quality 95).

    Frame numbers start at ``1 + 2 * video_idx`` (so ``2`` and ``10`` both occur) and a video
    has ``num_frames + video_idx`` frames. People are named ``Synth_Person_NNN``.
    """
    _check_size(size, num_frames)
    out = _prepare_root(root)
    people = _draw_sources((f"Synth_Person_{k:03d}" for k in itertools.count()), _split_counts(num_people), (0.8, 0.1, 0.1))
    db = out / "frame_images_DB"
    items: dict[str, Any] = {}
    for identity, (person, split) in enumerate(sorted(people.items())):
        boxes = []
        for v in range(videos_per_person):
            spec = _spec(identity, v, seed=seed, size=size, num_frames=num_frames + v)
            clip = _clip(spec)
            folder = db / person / str(v)
            folder.mkdir(parents=True, exist_ok=True)
            first = 1 + 2 * v
            for t, frame in enumerate(clip.frames):
                Image.fromarray(frame).save(folder / f"{v}.{first + t}.jpg", quality=95)
                boxes.append(f"{person}\\{v}\\{v}.{first + t}.jpg,0,{size // 2},{size // 2},{size // 2},{size // 2},0.0,1.0")
            items[f"{person}/{v}"] = {
                "split": split,
                "labels": {"person": person, "num_frames": len(clip.frames), "first_frame_no": first},
                "synthface": spec,
            }
        (db / f"{person}.labeled_faces.txt").write_text("\n".join(boxes) + "\n", encoding="utf-8")
    return _finish("ytf", out, seed, items)


# --------------------------------------------------------------------------------------
# CelebV-HQ
# --------------------------------------------------------------------------------------


def appearance_vector(attribute_vector: Sequence[int], beard: bool) -> list[int]:
    """SynthFace attributes (in :data:`~marlin_lite.synthface.ATTRIBUTES` order) -> 40 CelebV-HQ 0/1."""
    vec = [0] * len(CELEBVHQ_APPEARANCE_NAMES)
    for name, on in zip(ATTRIBUTES, attribute_vector):
        target = SYNTH_TO_APPEARANCE.get(name)
        if target is not None and on:
            vec[CELEBVHQ_APPEARANCE_NAMES.index(target)] = 1
    vec[CELEBVHQ_APPEARANCE_NAMES.index("no_beard")] = int(not beard)
    return vec


def make_celebvhq_replica(
    root: PathLike, *, num_videos: int = 4, clips_per_video: int = 2, num_frames: int = 36, size: int = 32, seed: int = 0
) -> dict[str, Any]:
    """Write ``<root>/celebvhq_info.json`` and ``<root>/videos/<ytb_id>_<n>.mp4``.

    ``num_videos`` YouTube ids (one SynthFace person each) with ``clips_per_video`` clips;
    clip ``n`` of video ``j`` shows expression ``EXPRESSIONS[(j + n) % 6]`` and speaks when
    ``n`` is even. Clip 1 of the first video has two timed emotions (``sep_flag`` true).
    """
    _check_size(size, num_frames)
    out = _prepare_root(root)
    ids = _draw_sources((_fake_youtube_id(seed, k) for k in itertools.count()), _split_counts(num_videos), (0.8, 0.1, 0.1))
    clips: dict[str, Any] = {}
    items: dict[str, Any] = {}
    for j, (ytb, split) in enumerate(sorted(ids.items())):
        for n in range(clips_per_video):
            expression = EXPRESSIONS[(j + n) % len(EXPRESSIONS)]
            speaking = n % 2 == 0
            spec = _spec(j, n, seed=seed, size=size, num_frames=num_frames + (j + n) % 4, expression=expression, speaking=speaking)
            clip = _clip(spec)
            cid = f"{ytb}_{n}"
            write_video(out / "videos" / f"{cid}.mp4", clip.frames, clip.fps, crf=20)
            beard = "beard" in clip.labels["attributes"]
            appearance = appearance_vector(clip.labels["attribute_vector"], beard)
            action = [0] * len(CELEBVHQ_ACTION_NAMES)
            for name, on in (
                ("talk", speaking),
                ("smile", expression == "happy"),
                ("frown", expression in ("angry", "sad")),
                ("make_a_face", expression == "disgusted"),
            ):
                action[CELEBVHQ_ACTION_NAMES.index(name)] = int(on)
            emotion = EXPRESSION_TO_CELEBVHQ[expression]
            duration = len(clip.frames) / clip.fps
            if j == 0 and n == 1:
                first = "neutral" if emotion != "neutral" else "happy"
                labels: Any = [
                    {"emotion": first, "start_sec": 0.0, "end_sec": round(duration / 4, 3)},
                    {"emotion": emotion, "start_sec": round(duration / 4, 3), "end_sec": round(duration, 3)},
                ]
                emo = {"sep_flag": True, "labels": labels}
            else:
                emo = {"sep_flag": False, "labels": emotion}
            start = 10.0 * n
            clips[cid] = {
                "ytb_id": ytb,
                "duration": {"start_sec": start, "end_sec": round(start + duration, 3)},
                "bbox": {"top": 0.1, "bottom": 0.7, "left": 0.3, "right": 0.6},
                "attributes": {"appearance": appearance, "action": action, "emotion": emo},
                "version": "replica",
            }
            items[cid] = {
                "split": split,
                "labels": {
                    "appearance": appearance,
                    "action": action,
                    "emotion": CELEBVHQ_EMOTIONS.index(emotion),
                    "emotion_mixed": int(emo["sep_flag"]),
                    "ytb_id": ytb,
                },
                "synthface": spec,
            }
    info = {
        "meta_info": {"appearance_mapping": list(CELEBVHQ_APPEARANCE_NAMES), "action_mapping": list(CELEBVHQ_ACTION_NAMES)},
        "clips": clips,
    }
    _write_json(out / "celebvhq_info.json", info)
    return _finish("celebvhq", out, seed, items)


# --------------------------------------------------------------------------------------
# FaceForensics++
# --------------------------------------------------------------------------------------


def make_ffpp_replica(
    root: PathLike,
    *,
    num_pairs: int = 3,
    methods: Sequence[str] = FFPP_METHODS,
    compressions: Sequence[str] = ("c23",),
    num_frames: int = 32,
    size: int = 32,
    seed: int = 0,
) -> dict[str, Any]:
    """Write FF++'s originals, manipulated videos and ``splits/{train,val,test}.json``.

    Ids ``000 .. 2 * num_pairs - 1`` (SynthFace person = id); pair ``k`` is
    ``(2k, 2k + 1)``; the last two pairs go to val and test, the rest to train. Fake
    ``a_b`` renders person ``a``'s clip with :data:`METHOD_TO_SYNTH`'s manipulation (face
    swaps take ``b``'s face). Each compression is written with x264 ``crf`` 0 / 23 / 40.
    """
    _check_size(size, num_frames)
    counts = _split_counts(num_pairs)
    bad = [m for m in methods if m not in FFPP_METHODS]
    if bad:
        raise ValueError(f"unknown methods {bad}; choose from {FFPP_METHODS}")
    bad = [c for c in compressions if c not in FFPP_COMPRESSIONS]
    if bad or not compressions:
        raise ValueError(f"compressions must be a non-empty subset of {FFPP_COMPRESSIONS}; got {compressions!r}")
    out = _prepare_root(root)
    pairs = [(f"{2 * k:03d}", f"{2 * k + 1:03d}") for k in range(num_pairs)]
    split_of = ["train"] * counts["train"] + ["val", "test"]
    lists: dict[str, list[list[str]]] = {s: [] for s in SPLITS}
    items: dict[str, Any] = {}
    for (a, b), split in zip(pairs, split_of):
        lists[split].append([a, b])
        renders: list[tuple[str, str, dict[str, Any]]] = []
        for vid in (a, b):
            renders.append(("original", vid, _spec(int(vid), 0, seed=seed, size=size, num_frames=num_frames)))
        for m in methods:
            for t, s in ((a, b), (b, a)):
                manip = METHOD_TO_SYNTH[m]
                extra: dict[str, Any] = {"manipulation": manip}
                if manip == "face_swap":
                    extra["donor_identity"] = int(s)
                renders.append((m, f"{t}_{s}", _spec(int(t), 0, seed=seed, size=size, num_frames=num_frames, **extra)))
        for kind, stem, spec in renders:
            clip = _clip(spec)
            for comp in compressions:
                if kind == "original":
                    path = out / "original_sequences" / "youtube" / comp / "videos" / f"{stem}.mp4"
                else:
                    path = out / "manipulated_sequences" / kind / comp / "videos" / f"{stem}.mp4"
                write_video(path, clip.frames, clip.fps, crf=_CRF[comp])
            items[f"{kind}/{stem}"] = {
                "split": split,
                "labels": {
                    "fake": int(kind != "original"),
                    "manipulation": FFPP_KINDS.index(kind),
                    "compressions": list(compressions),
                    "pair": f"{a}_{b}",
                },
                "synthface": spec,
            }
    for s in SPLITS:
        _write_json(out / "splits" / f"{s}.json", lists[s])
    return _finish("ffpp", out, seed, items)


# --------------------------------------------------------------------------------------
# CMU-MOSEI
# --------------------------------------------------------------------------------------


def make_mosei_replica(
    root: PathLike, *, num_videos: int = 4, segments_per_video: int = 2, num_frames: int = 36, size: int = 32, seed: int = 0
) -> dict[str, Any]:
    """Write ``<root>/mosei_labels.csv``, ``<root>/videos/<video_id>_<seg>.mp4`` and ``splits/*.txt``.

    Segment ``n`` of video ``j`` shows expression ``EXPRESSIONS[(j + 2n) % 6]``; its
    sentiment is :data:`EXPRESSION_SENTIMENT` plus a seeded -1/3, 0 or +1/3 (clipped to
    [-3, 3]); the matching emotion (:data:`EXPRESSION_TO_MOSEI`) gets a seeded intensity in
    {1, 4/3, 5/3, 2}, the others 0. The split lists equal the loader's hash split, so the
    replica splits the same with and without them.
    """
    _check_size(size, num_frames)
    out = _prepare_root(root)
    ids = _draw_sources((_fake_youtube_id(seed + 1000, k) for k in itertools.count()), _split_counts(num_videos), (0.7, 0.1, 0.2))
    rng = np.random.default_rng([seed, 0x305E1])
    rows: list[list[Any]] = []
    items: dict[str, Any] = {}
    lists: dict[str, list[str]] = {s: [] for s in SPLITS}
    for j, (vid, split) in enumerate(sorted(ids.items())):
        lists[split].append(vid)
        for n in range(segments_per_video):
            expression = EXPRESSIONS[(j + 2 * n) % len(EXPRESSIONS)]
            spec = _spec(j, n, seed=seed, size=size, num_frames=num_frames + (j + n) % 4, expression=expression)
            clip = _clip(spec)
            write_video(out / "videos" / f"{vid}_{n}.mp4", clip.frames, clip.fps, crf=20)
            sentiment = round(float(np.clip(EXPRESSION_SENTIMENT[expression] + rng.choice([-1, 0, 1]) / 3, -3, 3)), 4)
            emotions = [0.0] * len(MOSEI_EMOTIONS)
            target = EXPRESSION_TO_MOSEI[expression]
            if target is not None:
                emotions[MOSEI_EMOTIONS.index(target)] = round(float(rng.choice([3, 4, 5, 6]) / 3), 4)
            start = round(5.0 * n, 3)
            end = round(start + len(clip.frames) / clip.fps, 3)
            rows.append([vid, n, start, end, sentiment, *emotions])
            c2, c7 = sentiment_classes(sentiment)
            items[f"{vid}_{n}"] = {
                "split": split,
                "labels": {"sentiment": sentiment, "emotions": emotions, "sentiment_class": c2, "sentiment_class7": c7, "video_id": vid},
                "synthface": spec,
            }
    lines = [",".join(MOSEI_COLUMNS)] + [",".join(str(v) for v in row) for row in rows]
    (out / "mosei_labels.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for s in SPLITS:
        (out / "splits").mkdir(exist_ok=True)
        (out / "splits" / f"{s}.txt").write_text("".join(f"{v}\n" for v in sorted(lists[s])), encoding="utf-8")
    return _finish("mosei", out, seed, items)


# --------------------------------------------------------------------------------------
# LRS2
# --------------------------------------------------------------------------------------


def make_lrs2_replica(
    root: PathLike, *, num_videos: int = 4, utterances_per_video: int = 2, num_frames: int = 36, size: int = 32, seed: int = 0
) -> dict[str, Any]:
    """Write ``<root>/main/<videoID>/<NNNNN>.mp4`` (25 fps, 16 kHz AAC speech) with ``.txt``
    transcripts and ``train.txt`` / ``val.txt`` / ``test.txt`` (test lines end in `` NF``).

    The last two programmes (videoIDs) go to val and test, the rest to train. Transcripts are
    2-4 words drawn (seeded) from a small vocabulary; SynthFace's speech is syllables, so
    the words and the audio do not match.
    """
    _check_size(size, num_frames)
    counts = _split_counts(num_videos)
    out = _prepare_root(root)
    rng = np.random.default_rng([seed, 0x1A52])
    programmes = [str(int.from_bytes(hashlib.sha256(f"replica-lrs2:{seed}:{k}".encode()).digest()[:8], "big") % 10**19).zfill(19) for k in range(num_videos)]
    split_of = ["train"] * counts["train"] + ["val", "test"]
    lists: dict[str, list[str]] = {s: [] for s in SPLITS}
    items: dict[str, Any] = {}
    for j, (prog, split) in enumerate(zip(programmes, split_of)):
        for n in range(utterances_per_video):
            name = f"{prog}/{n + 1:05d}"
            spec = _spec(j, n, seed=seed, size=size, num_frames=num_frames + (j + n) % 4, speaking=True)
            clip = _clip(spec)
            write_video(out / "main" / f"{name}.mp4", clip.frames, clip.fps, audio=clip.audio, sample_rate=clip.sample_rate, crf=20)
            text = " ".join(str(w) for w in rng.choice(_WORDS, size=int(rng.integers(2, 5))))
            (out / "main" / f"{name}.txt").write_text(f"Text:  {text}\nConf:  {int(rng.integers(1, 10))}\n", encoding="utf-8")
            lists[split].append(name + (" NF" if split == "test" else ""))
            items[name] = {"split": split, "labels": {"text": text, "programme": prog}, "synthface": spec}
    for s in SPLITS:
        (out / f"{s}.txt").write_text("".join(f"{line}\n" for line in lists[s]), encoding="utf-8")
    return _finish("lrs2", out, seed, items)


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------

REPLICAS = {
    "ytf": make_ytf_replica,
    "celebvhq": make_celebvhq_replica,
    "ffpp": make_ffpp_replica,
    "mosei": make_mosei_replica,
    "lrs2": make_lrs2_replica,
}


def make_replica(name: str, root: PathLike, **kwargs: Any) -> dict[str, Any]:
    """Write a tiny replica of data set ``name`` (``ytf``, ``celebvhq``, ``ffpp``, ``mosei``,
    ``lrs2``) under ``root`` and return its manifest; ``kwargs`` go to ``make_<name>_replica``
    (e.g. ``size=``, ``num_frames=``, ``seed=``)."""
    return REPLICAS[canonical_name(name)](root, **kwargs)
