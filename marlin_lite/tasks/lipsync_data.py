"""Lip-sync clips from real talking-face videos (LRS2): face crops, aligned log-mels, segments.

:mod:`marlin_lite.tasks.lipsync` trains and scores on :class:`~marlin_lite.tasks.lipsync.LipSyncClips`:
equal-length clips of face crops whose lower half holds the mouth, with the log-mel
spectrogram of their audio, ``m`` mel frames per video frame. SynthFace renders such clips
directly; this module makes them from video files with their sound track, as Wav2Lip's
preprocessing does for LRS2 (face crops per frame, 16 kHz audio, mel frames following video
frames), so that the same sync expert, generators and metrics run on real speech:

1. **decode** each utterance (:meth:`VideoDataset.read_video`: ``uint8`` frames, fps, mono audio);
   the audio is resampled to ``audio_rate`` when the file has another rate. ``fps`` must be the
   front-end's (25 for LRS2: 16,000 / 25 / 160 = 4 mel frames per video frame);
2. **crop** the face: ``crop="landmarks"`` tracks it with a face landmarker
   (:func:`marlin_lite.faces.crop_faces`: square boxes around the landmarks, smoothed over time,
   zero padding), which puts the face centre at the crop centre, so the lips sit in the lower
   half that the generator redraws (the report counts the frames where every lip landmark
   does); ``crop="frame"`` keeps the whole frame (centre square), for videos that are face
   tracks already (LRS2's 160x160 frames are) or where no landmarker is installed;
3. **log-mel** the whole utterance once (:func:`marlin_lite.audio.log_mel`, audio zero-padded or
   cut to the video's duration), so that segments carry the true audio context at their edges;
4. **segment** it into non-overlapping pieces of ``segment_frames`` frames (centred in the
   utterance, at most ``max_segments`` per utterance): a segment must hold a window of the
   encoder's ``T`` frames, its audio shifts of up to ``K`` frames and a non-overlapping
   reference window, hence the default ``max(2 T + 2 K, T + 4 K)``.

Utterances too short for one segment, without audio, or without a face are skipped and listed
in the :class:`LipSyncReport`; nothing is dropped silently. Clips are stored as ``uint8`` (a
quarter of float32): ``N x 3 x L x S x S`` bytes, which the report states; cap ``limit``
(utterances per split) on large data sets. :func:`lrs2_lipsync_splits` builds the train and test
splits of LRS2's official file lists; ``cache_dir`` keeps the result on disk (built once; the
key covers the data set's items and every setting).

Shapes: ``N`` clips, ``L`` frames per clip (``segment_frames``), ``S`` crop side (the encoder's
``img_size``), ``m`` mel frames per video frame.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from marlin_lite import faces as F
from marlin_lite.audio import log_mel, mel_frames_per_video_frame
from marlin_lite.datasets import LRS2
from marlin_lite.datasets.lrs2 import resample_linear
from marlin_lite.pretrain import atomic_save
from marlin_lite.tasks.lipsync import LipSyncClips
from marlin_lite.utils import progress_bar

__all__ = [
    "CROP_MODES",
    "LipSyncReport",
    "default_segment_frames",
    "lrs2_lipsync_splits",
    "segment_starts",
    "stable_group_id",
    "talking_face_clips",
]

#: How faces are cut out of the frames (see the module docstring).
CROP_MODES = ("landmarks", "frame")

_LIP_CONTOURS = ("lips_upper_outer", "lips_lower_outer")


@dataclass
class LipSyncReport:
    """What :func:`talking_face_clips` kept and skipped.

    Attributes:
        utterances: videos read; used: videos that gave at least one segment.
        segments: clips made (``N``).
        too_short: ``"<name> (<frames> frames)"`` of videos shorter than one segment.
        no_audio, no_face: names of videos without a sound track / without a usable face.
        mouth_lower_half: share of the kept frames whose lip landmarks all lie in the crop's
            lower half (``crop="landmarks"``; ``None`` for ``crop="frame"``, which has no landmarks).
        memory_bytes: bytes of the clips' video (``uint8``) and mel (``float32``) tensors.
        warnings: face-tracking notes (several faces, frames without a face, ...), per video.
        settings: the settings that made the clips.
    """

    utterances: int = 0
    used: int = 0
    segments: int = 0
    too_short: list[str] = field(default_factory=list)
    no_audio: list[str] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)
    mouth_lower_half: float | None = None
    memory_bytes: int = 0
    warnings: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """A few lines for a notebook or a log."""
        lines = [
            f"{self.segments} clips from {self.used} of {self.utterances} videos "
            f"({self.memory_bytes / 2**20:.1f} MiB in memory)"
        ]
        for what, names in (("too short for one segment", self.too_short), ("without audio", self.no_audio), ("without a face", self.no_face)):
            if names:
                shown = ", ".join(names[:3]) + (f", ... ({len(names)} in all)" if len(names) > 3 else "")
                lines.append(f"  skipped {len(names)} {what}: {shown}")
        if self.mouth_lower_half is not None:
            lines.append(f"  lips inside the crop's lower half in {100 * self.mouth_lower_half:.1f}% of the frames")
        if self.warnings:
            lines.append(f"  {len(self.warnings)} face-tracking notes, first: {self.warnings[0]}")
        return "\n".join(lines)


def default_segment_frames(num_frames: int, max_offset: int = 3) -> int:
    """Frames per segment for ``num_frames``-frame windows and audio shifts up to ``max_offset``:
    ``max(2 T + 2 K, T + 4 K)`` (a window with its shifts and a non-overlapping reference; the
    sync expert's test windows need ``2 K`` frames of margin on each side)."""
    T, K = int(num_frames), int(max_offset)
    if T < 1 or K < 0:
        raise ValueError(f"num_frames must be >= 1 and max_offset >= 0, got {num_frames!r}, {max_offset!r}")
    return max(2 * T + 2 * K, T + 4 * K)


def segment_starts(num_frames: int, segment_frames: int, max_segments: int | None = None) -> list[int]:
    """First frames of non-overlapping ``segment_frames``-frame segments of a ``num_frames``-frame
    video, as many as fit (at most ``max_segments``), centred: the frames left over are split
    between the two ends. ``[]`` when not even one fits."""
    if segment_frames < 1:
        raise ValueError(f"segment_frames must be >= 1, got {segment_frames}")
    n = num_frames // segment_frames
    if max_segments is not None:
        n = min(n, int(max_segments))
    if n <= 0:
        return []
    first = (num_frames - n * segment_frames) // 2
    return [first + k * segment_frames for k in range(n)]


def stable_group_id(name: str) -> int:
    """A non-negative int64 id of a group name (an LRS2 programme), the same in every split and
    on every machine (SHA-256, not Python's salted ``hash``)."""
    return int.from_bytes(hashlib.sha256(str(name).encode()).digest()[:8], "big") >> 1


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _square_frame_boxes(frames: np.ndarray) -> np.ndarray:
    """The centred square of side ``min(H, W)`` of every frame, as ``(T, 3)`` crop boxes."""
    t, h, w = frames.shape[:3]
    return np.tile(np.array([(w - 1) / 2, (h - 1) / 2, min(h, w)], dtype=np.float64), (t, 1))


def _resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    return resample_linear(np.asarray(audio, dtype=np.float32), int(rate), int(target))


def _one_video(dataset: Any, i: int, opts: dict[str, Any], parser: Any) -> dict[str, Any]:
    """Decode, crop, log-mel and segment video ``i`` (see :func:`talking_face_clips`) -> a dict:
    ``status`` (``ok``, ``too_short``, ``no_audio``, ``no_face``), ``name``, and for ``ok`` the
    segments' ``videos`` / ``mels`` / ``starts``, the lip counts and the tracking warnings."""
    size, L, fps, m = opts["size"], opts["segment_frames"], opts["fps"], opts["mel_per_frame"]
    item = dataset.items[i]
    video = dataset.read_video(i)
    if abs(video.fps - fps) > 0.01:
        raise ValueError(
            f"{video.path or item.name} runs at {video.fps:g} fps, but lip-sync clips pair {m} mel frames with each video "
            f"frame at {fps:g} fps; re-encode it at {fps:g} fps (ffmpeg -i IN -r {fps:g} OUT) or pass fps={video.fps:g} "
            f"with an audio_rate / hop_length that divide evenly"
        )
    out: dict[str, Any] = {"name": item.name, "source": item.source, "warnings": [], "lip_frames": 0, "lip_inside": 0}
    if video.audio is None or video.sample_rate is None or video.audio.size == 0:
        return {**out, "status": "no_audio"}
    T = video.frames.shape[0]
    starts = segment_starts(T, L, opts["max_segments"])
    if not starts:
        return {**out, "status": "too_short", "frames": T}
    if opts["crop"] == "landmarks":
        try:
            fc = F.crop_faces(video.frames, parser, size=size, margin=opts["margin"], smoothing=opts["smoothing"])
        except F.NoFaceError:
            return {**out, "status": "no_face"}
        frames = fc.frames
        # (a MARLIN clip's 32-frame span does not matter here: segments are checked above)
        out["warnings"] = [f"{item.name}: {w}" for w in fc.warnings if "shorter than one MARLIN clip" not in w]
        used = np.zeros(T, dtype=bool)
        for s0 in starts:
            used[s0 : s0 + L] = True
        lips = np.array(sorted({k for name in _LIP_CONTOURS for k in F.MESH_CONTOURS[name]}))
        pts = fc.landmarks[used][:, lips, 1]  # (frames, lip points) y in crop pixels, NaN without a face
        found = np.isfinite(pts).all(axis=1)
        out["lip_frames"] = int(found.sum())
        out["lip_inside"] = int((pts[found] >= size / 2 - 0.5).all(axis=1).sum())
    else:
        frames = F.crop_frames(video.frames, _square_frame_boxes(video.frames), size)
    rate = opts["audio_rate"]
    audio = _resample(video.audio, video.sample_rate, rate)
    need = int(round(T / fps * rate))
    audio = np.pad(audio[:need], (0, max(0, need - audio.size)))
    mel = log_mel(torch.from_numpy(np.ascontiguousarray(audio))[None], rate, n_mels=opts["n_mels"], hop_length=opts["hop_length"])[0]
    clip_video = torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)  # (3, T, S, S) uint8
    return {
        **out, "status": "ok", "starts": starts,
        "videos": [clip_video[:, s0 : s0 + L].clone() for s0 in starts],
        "mels": [mel[:, m * s0 : m * (s0 + L) + 1].clone() for s0 in starts],
    }  # fmt: skip


_WORKER: dict[str, Any] = {}


def _init_worker(dataset: Any, opts: dict[str, Any], parser: Any) -> None:
    """Per-process setup for ``workers > 0``: one thread, the data set, one parser reused."""
    torch.set_num_threads(1)
    _WORKER.update(dataset=dataset, opts=opts, parser=parser)


def _worker_video(i: int) -> dict[str, Any]:
    w = _WORKER
    if w["opts"]["crop"] == "landmarks" and w["parser"] is None:
        w["parser"] = F.LandmarkParser()  # MediaPipe's graph is built once per process
    return _one_video(w["dataset"], i, w["opts"], w["parser"])


def talking_face_clips(
    dataset: Any,
    *,
    size: int,
    segment_frames: int,
    max_segments: int | None = 4,
    crop: str = "landmarks",
    parser: Any = None,
    margin: float = 1.25,
    smoothing: float = 2.0,
    n_mels: int = 40,
    hop_length: int = 160,
    audio_rate: int = 16000,
    fps: float = 25.0,
    workers: int = 0,
    progress: bool = False,
) -> tuple[LipSyncClips, LipSyncReport]:
    """Lip-sync clips from the videos of ``dataset`` (steps in the module docstring).

    Args:
        dataset: a :class:`~marlin_lite.datasets.base.VideoDataset` whose videos have sound
            (e.g. :class:`~marlin_lite.datasets.LRS2`): ``read_video(i)`` and ``items[i]`` with
            ``.name`` and ``.source`` (the group the identity id is made from).
        size: crop side ``S`` in pixels (the encoder's ``img_size``).
        segment_frames: frames per clip ``L`` (see :func:`default_segment_frames`).
        max_segments: at most this many clips per video (``None``: all that fit).
        crop: ``"landmarks"`` or ``"frame"`` (module docstring).
        parser: the :class:`~marlin_lite.faces.FaceParser` for ``crop="landmarks"`` (default:
            :class:`~marlin_lite.faces.LandmarkParser` with MediaPipe, the optional extra).
        margin, smoothing: crop boxes, see :func:`marlin_lite.faces.square_boxes`.
        n_mels, hop_length, audio_rate, fps: the audio front-end (``audio_rate / fps /
            hop_length`` mel frames per video frame must be whole).
        workers: worker processes (0: this process). Face tracking runs at about 100 frames
            per second per core, so a machine with many cores should use them; the data set
            (and a given ``parser``) must pickle. The clips are the same for any ``workers``.
        progress: a progress bar over the videos.

    Returns:
        ``(clips, report)``: :class:`LipSyncClips` with ``uint8`` video ``(N, 3, L, S, S)``, mel
        ``(N, n_mels, m L + 1)``, ``identity`` = :func:`stable_group_id` of the video's source,
        ``clip_seed`` = the segment's first frame, ``names`` = ``"<item name>@<first frame>"``;
        and the :class:`LipSyncReport`.

    Raises:
        ValueError: bad settings; a video whose frame rate is not ``fps`` (the file is named);
            no video gave a clip (the report's reasons are in the message).
        marlin_lite.faces.FacesExtraMissingError: ``crop="landmarks"`` without a ``parser`` and
            without the optional MediaPipe extra (pass ``crop="frame"`` or install it).
    """
    if crop not in CROP_MODES:
        raise ValueError(f"crop must be one of {CROP_MODES}, got {crop!r}")
    size = _check_int(size, "size", 2)
    L = _check_int(segment_frames, "segment_frames", 2)
    if max_segments is not None:
        max_segments = _check_int(max_segments, "max_segments", 1)
    workers = _check_int(workers, "workers", 0)
    m = mel_frames_per_video_frame(audio_rate, fps, hop_length)
    if crop == "landmarks" and parser is None:
        F.require_mediapipe()  # the clear error here, not in a worker
        parser = F.LandmarkParser() if workers == 0 else None
    settings = dict(size=size, segment_frames=L, max_segments=max_segments, crop=crop, margin=margin, smoothing=smoothing,
                    n_mels=n_mels, hop_length=hop_length, audio_rate=audio_rate, fps=fps,
                    parser=(getattr(parser, "name", None) if parser is not None else "landmarks") if crop == "landmarks" else None)
    opts = {**settings, "mel_per_frame": m}
    report = LipSyncReport(utterances=len(dataset), settings=settings)
    indices = range(len(dataset))
    bar = progress_bar(total=len(dataset), desc="lip-sync clips", unit="video", enabled=progress)
    if workers == 0:
        results: Any = (_one_video(dataset, i, opts, parser) for i in indices)
    else:
        import concurrent.futures as cf
        import multiprocessing

        pool = cf.ProcessPoolExecutor(min(workers, max(len(dataset), 1)), mp_context=multiprocessing.get_context("spawn"),
                                      initializer=_init_worker, initargs=(dataset, opts, parser))
        results = pool.map(_worker_video, indices)
    videos: list[torch.Tensor] = []
    mels: list[torch.Tensor] = []
    ident: list[int] = []
    firsts: list[int] = []
    names: list[str] = []
    lip_frames = lip_inside = 0
    try:
        for r in results:  # in the data set's order, whatever the workers
            bar.update(1)
            if r["status"] == "no_audio":
                report.no_audio.append(r["name"])
            elif r["status"] == "too_short":
                report.too_short.append(f"{r['name']} ({r['frames']} frames)")
            elif r["status"] == "no_face":
                report.no_face.append(r["name"])
            else:
                report.warnings.extend(r["warnings"])
                lip_frames += r["lip_frames"]
                lip_inside += r["lip_inside"]
                videos.extend(r["videos"])
                mels.extend(r["mels"])
                ident.extend([stable_group_id(r["source"])] * len(r["starts"]))
                firsts.extend(r["starts"])
                names.extend(f"{r['name']}@{s0}" for s0 in r["starts"])
                report.used += 1
    finally:
        if workers:
            pool.shutdown(cancel_futures=True)
        bar.close()
    if not videos:
        raise ValueError(
            f"no lip-sync clip could be made from the {len(dataset)} videos of {getattr(dataset, 'root', 'the data set')}: "
            f"{len(report.too_short)} shorter than {L} frames, {len(report.no_audio)} without audio, "
            f"{len(report.no_face)} without a face. Lower segment_frames (now {L}) or check the files"
        )
    clips = LipSyncClips(
        torch.stack(videos), torch.stack(mels), torch.tensor(ident, dtype=torch.int64), torch.tensor(firsts, dtype=torch.int64),
        None, m, float(fps), int(audio_rate), int(hop_length), names,
    )
    report.segments = len(clips)
    report.memory_bytes = clips.video.numel() + 4 * clips.mel.numel()
    if crop == "landmarks":
        report.mouth_lower_half = lip_inside / lip_frames if lip_frames else math.nan
    return clips, report


# --------------------------------------------------------------------------------------
# LRS2 splits, with a cache
# --------------------------------------------------------------------------------------


def _cache_file(cache_dir: Path, dataset: Any, settings: dict[str, Any]) -> Path:
    key = json.dumps({"data": dataset.spec(), "items": [it.name for it in dataset.items], **settings}, sort_keys=True, default=str)
    return cache_dir / f"lipsync_{dataset.key}_{dataset.split}_{hashlib.sha256(key.encode()).hexdigest()[:16]}.pt"


def _save(path: Path, clips: LipSyncClips, report: LipSyncReport) -> None:
    payload = {k: getattr(clips, k) for k in ("video", "mel", "identity", "clip_seed")}
    payload.update(meta=json.dumps({"mel_per_frame": clips.mel_per_frame, "fps": clips.fps, "sample_rate": clips.sample_rate,
                                    "hop_length": clips.hop_length, "names": clips.names, "report": asdict(report)}))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(payload, path)


def _load(path: Path) -> tuple[LipSyncClips, LipSyncReport]:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        meta = json.loads(payload["meta"])
        report = LipSyncReport(**meta.pop("report"))
        clips = LipSyncClips(payload["video"], payload["mel"], payload["identity"], payload["clip_seed"], None, **meta)
    except Exception as err:  # noqa: BLE001 - a damaged cache is rebuilt, never trusted
        why = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise ValueError(f"lip-sync cache '{path}' cannot be read ({why}); delete it and run again to rebuild it") from err
    return clips, report


def lrs2_lipsync_splits(
    root: str | os.PathLike[str],
    *,
    size: int,
    num_frames: int,
    max_offset: int = 3,
    splits: Sequence[str] = ("train", "test"),
    limit: int | None = None,
    segment_frames: int | None = None,
    max_segments: int | None = 4,
    crop: str = "landmarks",
    parser: Any = None,
    n_mels: int = 40,
    workers: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
) -> tuple[dict[str, LipSyncClips], dict[str, LipSyncReport]]:
    """LRS2's official splits as lip-sync clips for :func:`~marlin_lite.tasks.lipsync.run_lipsync`.

    ``root`` is the download (``main/``, ``train.txt``, ``test.txt``, ...; see
    :class:`~marlin_lite.datasets.LRS2`). Each split in ``splits`` gives at most ``limit``
    utterances (file-list order) cut by :func:`talking_face_clips` into ``segment_frames``-frame
    clips (default :func:`default_segment_frames` of the encoder's ``num_frames`` and
    ``max_offset``), cropped to ``size`` pixels. The identity of a clip is its programme
    (videoID); the official lists keep programmes apart, and ``run_lipsync`` checks that the
    train and test clips share none. ``workers`` processes crop the videos (see
    :func:`talking_face_clips`). With ``cache_dir`` each split is saved there once and read back
    on later calls with the same items and settings.

    Returns ``({split: clips}, {split: report})``.
    """
    L = segment_frames if segment_frames is not None else default_segment_frames(num_frames, max_offset)
    if L < default_segment_frames(num_frames, max_offset):
        raise ValueError(
            f"segment_frames={L} is too short for {num_frames}-frame windows with audio shifts up to {max_offset} frames; "
            f"use at least {default_segment_frames(num_frames, max_offset)}"
        )
    out: dict[str, LipSyncClips] = {}
    reports: dict[str, LipSyncReport] = {}
    for split in splits:
        ds = LRS2(root, split, clip="all", sample_rate=1, limit=limit)
        kw = dict(size=size, segment_frames=L, max_segments=max_segments, crop=crop, n_mels=n_mels)
        path = None
        if cache_dir is not None:
            key = {**kw, "parser": getattr(parser, "name", None) if crop == "landmarks" else None, "format": 1}
            path = _cache_file(Path(cache_dir), ds, key)
            if path.is_file():
                out[split], reports[split] = _load(path)
                continue
        out[split], reports[split] = talking_face_clips(ds, parser=parser, workers=workers, progress=progress, **kw)
        if path is not None:
            _save(path, out[split], reports[split])
    return out, reports
