"""Crop and parse a folder of real face videos into MARLIN's inputs (offline, on CPU).

    python -m marlin_lite.preprocess VIDEO_DIR OUT_DIR [--size 224] [--workers 2] ...

For every video under ``VIDEO_DIR`` (recursively; ``.mp4 .avi .mkv .mov .webm .m4v .mpg
.mpeg .flv``) it finds the face in every frame with MediaPipe FaceMesh (the optional
'faces' extra, see :mod:`marlin_lite.faces`), crops a square box around it (``--crop course``:
1.25 x the face's extent, smoothed over time; ``--crop official``: the official rule, side
max(w, h), no smoothing, see :data:`CROP_PRESETS`), draws
the parsing maps in crop coordinates, and writes, under the same relative path in ``OUT_DIR``:

* ``<name>.mp4``: the crops, ``size x size`` at the source frame rate, with the source's
  audio as mono AAC when it has audio (``--no-audio`` drops it);
* ``<name>.npz``: ``parsing`` ``uint8 (T, S, S)`` (MARLIN's 11 label ids), ``landmarks``
  ``float32 (T, 478, 2)`` in crop pixels (``NaN`` where no face), and per-frame arrays
  ``frame_detected`` (bool), ``frame_num_faces`` (int16), ``frame_box`` (``cx, cy, side``
  in source pixels, float32 (T, 3));
* ``<name>.json``: what was done: source, frame counts, fps, box statistics, frames without a
  face, warnings, the settings, SHA-256 of the two files above. It is written last, so its
  presence marks the video as finished.

This is the layout of ``data_samples/`` (:func:`marlin_lite.samples.load_sample` reads a
processed video by name). At the end ``index.json`` (the manifest: every finished video,
with ``clips`` as in ``data_samples/index.json``) and ``preprocess_report.json`` (this run:
each file's status and error) are written, and a report is printed.

Defined behaviour for awkward inputs (each is reported, none stops the batch):

* **unreadable / corrupt file**: status ``error`` with the reader's message; exit status 1.
* **no face in any frame** (or only faces smaller than ``--min-face-size``): status
  ``no_face``; nothing is written; the exit status stays 0.
* **no face in some frames**: the previous box is reused (the first face's box before the
  first face), the parsing map is all background (``--missing hold`` reuses the last face's
  landmarks instead) and the frames are listed.
* **several faces**: the largest in each frame is kept, with a warning.
* **tiny faces** (< ``--min-face-size`` px, default 24): ignored; a warning when the kept
  face is so small that the crop is upsampled more than 2x.
* **grayscale video**: processed as RGB with three equal channels; ``grayscale: true``.
* **very short video** (fewer than the 31 frames of one MARLIN clip, even 1 frame):
  processed, with a warning.

**Frame folders** (``--frames``): ``VIDEO_DIR`` holds folders of numbered frame images instead of
video files (YouTube Faces' ``frame_images_DB/<Person>/<video_idx>/<video_idx>.<n>.jpg``, which
MARLIN cropped with FaceXZoo). Each folder that holds images is one video, read in frame-number
order at ``--frame-rate`` (default 24, YouTube Faces' rate), without audio; its outputs are named
after the folder (``<Person>/<video_idx>.mp4``).

Resumable: a video whose ``.json`` exists with the same settings and source size is skipped
(``--overwrite`` redoes everything); failed files are retried on the next run. Outputs are
deterministic for the same inputs and packages.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import math
import multiprocessing
import os
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from marlin_lite import faces as F
from marlin_lite import labels as L
from marlin_lite import video as V
from marlin_lite import __version__
from marlin_lite.video import list_frame_files, read_frame_files
from marlin_lite.utils import atomic_write_bytes, check_writable_dir, deterministic_npz, json_bytes, progress_bar, sha256_file

__all__ = [
    "VIDEO_EXTENSIONS",
    "PreprocessSettings",
    "Report",
    "find_videos",
    "main",
    "output_name",
    "preprocess_folder",
    "preprocess_video",
]

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".flv")
INDEX = "index.json"
REPORT = "preprocess_report.json"

@dataclass(frozen=True)
class PreprocessSettings:
    """Everything that decides a processed video's content (recorded in its ``.json``).

    Attributes:
        size: side of the square crops (224 in MARLIN; even, for H.264).
        margin: crop side over the landmarks' extent (see :func:`marlin_lite.faces.square_boxes`).
        smoothing: Gaussian smoothing of the boxes over time, in frames (0 = off).
        min_face_size: faces smaller than this many source pixels are ignored.
        max_faces: faces looked for per frame (the largest is kept).
        min_confidence: MediaPipe's face-detection threshold.
        hair: thickness of the approximate hair band (0 = none).
        missing: parsing of frames without a face: ``"empty"`` (all background) or ``"hold"``.
        audio: keep the source's audio track.
        crf: x264 quality of the output (18 = visually near-lossless).
    """

    size: int = 224
    margin: float = 1.25
    smoothing: float = 2.0
    min_face_size: float = 24.0
    max_faces: int = 4
    min_confidence: float = 0.5
    hair: float = 0.3
    missing: str = "empty"
    audio: bool = True
    crf: int = 18

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 16 or self.size % 2:
            raise ValueError(f"size must be an even int >= 16 (H.264 needs even sides), got {self.size!r}")
        if not (math.isfinite(self.margin) and self.margin > 0):
            raise ValueError(f"margin must be > 0, got {self.margin!r}")
        if not (math.isfinite(self.smoothing) and self.smoothing >= 0):
            raise ValueError(f"smoothing must be >= 0 frames, got {self.smoothing!r}")
        if not (math.isfinite(self.min_face_size) and self.min_face_size >= 0):
            raise ValueError(f"min_face_size must be >= 0 pixels, got {self.min_face_size!r}")
        if isinstance(self.max_faces, bool) or not isinstance(self.max_faces, int) or self.max_faces < 1:
            raise ValueError(f"max_faces must be an int >= 1, got {self.max_faces!r}")
        if not 0 <= self.min_confidence <= 1:
            raise ValueError(f"min_confidence must be in [0, 1], got {self.min_confidence!r}")
        if not (math.isfinite(self.hair) and self.hair >= 0):
            raise ValueError(f"hair must be >= 0, got {self.hair!r}")
        if self.missing not in ("empty", "hold"):
            raise ValueError(f"missing must be 'empty' or 'hold', got {self.missing!r}")
        if isinstance(self.crf, bool) or not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be an int in 0..51, got {self.crf!r}")


# ----------------------------------------------------------------------------------------
# Finding videos and naming outputs
# ----------------------------------------------------------------------------------------


#: Image files that make a frame folder (``--frames``).
FRAME_EXTENSIONS = (".jpg", ".jpeg", ".png")


def _holds_frames(folder: Path) -> bool:
    return any(f.suffix.lower() in FRAME_EXTENSIONS and f.is_file() and not f.name.startswith(".") for f in folder.iterdir())


def find_videos(video_dir: str | os.PathLike, out_dir: str | os.PathLike | None = None, *, frames: bool = False) -> list[Path]:
    """Video files under ``video_dir`` (recursively, sorted; hidden files and folders and
    anything inside ``out_dir`` are left out); with ``frames=True`` the folders that hold frame
    images (:data:`FRAME_EXTENSIONS`) instead, each one video."""
    root = Path(video_dir)
    if not root.exists():
        raise FileNotFoundError(f"video folder '{root}' does not exist; check the path (cwd is '{Path.cwd()}')")
    if not root.is_dir():
        raise ValueError(f"'{root}' is not a folder; pass the folder that holds the videos")
    skip = Path(out_dir).resolve() if out_dir is not None else None
    found = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if skip is not None and (path.resolve() == skip or skip in path.resolve().parents):
            continue
        if frames:
            if path.is_dir() and _holds_frames(path):
                found.append(path)
        elif path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS:
            found.append(path)
    if frames and _holds_frames(root):
        found.insert(0, root)
    return found


def output_name(path: Path, video_dir: Path) -> str:
    """The output name of a video: its path relative to ``video_dir`` without the suffix,
    with ``/`` separators (``clips/a.mp4`` -> ``clips/a``); a frame folder keeps its whole name
    (``Aaron_Eckhart/0``), and ``video_dir`` itself is named after itself."""
    if path.is_dir():
        rel = path.relative_to(video_dir).as_posix()
        return path.name if rel == "." else rel
    return path.relative_to(video_dir).with_suffix("").as_posix()


@dataclass
class _Source:
    """A video to crop: a file, or a folder of frame images."""

    path: Path
    num_frames: int
    fps: float
    width: int
    height: int
    nbytes: int
    files: list[Path] | None = None  # the frames of a folder, in order

    def read(self, start: int, count: int) -> np.ndarray:
        if self.files is None:
            return V.read_frames(self.path, start, count)
        return read_frame_files(self.files[start : start + count])


def source_bytes(path: Path) -> int:
    """Bytes of a video file, or of a frame folder's images (what resuming compares)."""
    if path.is_dir():
        return sum(f.stat().st_size for f in path.iterdir() if f.is_file() and f.suffix.lower() in FRAME_EXTENSIONS)
    return path.stat().st_size


def _open_source(src: Path, frame_rate: float) -> _Source:
    if src.is_dir():
        files = list_frame_files(src, FRAME_EXTENSIONS)
        first = read_frame_files(files[:1])
        return _Source(src, len(files), float(frame_rate), int(first.shape[2]), int(first.shape[1]), source_bytes(src), files)
    info = V.probe_video(src)
    return _Source(src, info.num_frames, info.fps, info.width, info.height, src.stat().st_size)


# ----------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------


def _read_audio(path: Path) -> tuple[np.ndarray | None, int | None, str | None]:
    """The first audio stream as mono ``float32`` (channel average) and its rate.

    Returns ``(wave, rate, None)``, ``(None, None, None)`` without audio, or ``(None, None,
    warning)`` when the audio cannot be used (the video is still processed).
    """
    try:
        wave, rate = V.read_audio(path)
    except ValueError as err:
        return None, None, f"audio could not be decoded ({err}); written without audio"
    if wave is None or rate is None:
        return None, None, None
    if rate not in V.AAC_RATES:  # others: the audio is dropped with a warning
        return None, None, f"audio sample rate {rate} Hz cannot be written as AAC; written without audio"
    return wave, rate, None


def _is_grayscale(frames: np.ndarray) -> bool:
    """All three channels equal up to codec noise (2 levels)."""
    f = frames.astype(np.int16)
    return bool(np.abs(f[..., 0] - f[..., 1]).max() <= 2 and np.abs(f[..., 1] - f[..., 2]).max() <= 2)


# ----------------------------------------------------------------------------------------
# One video
# ----------------------------------------------------------------------------------------


#: Crop presets of ``--crop`` (:func:`crop_preset`): the box side over the face's extent and the
#: temporal smoothing. ``official``: the official preprocessing's rule, a square of side
#: ``max(w, h)`` of the face box (margin 1.0), zero-padded where it leaves the frame, no smoothing
#: (each frame its own box). The official code takes the box of a RetinaFace detection (FaceXZoo);
#: here MediaPipe FaceMesh's landmark extent stands in for it, so the box is a little tighter at
#: the forehead. ``course``: 1.25 times the extent (room for the hair band), smoothed over 2 frames.
CROP_PRESETS: dict[str, dict[str, float]] = {
    "course": {"margin": PreprocessSettings.margin, "smoothing": PreprocessSettings.smoothing},  # the settings' defaults
    "official": {"margin": 1.0, "smoothing": 0.0},
}


def crop_preset(name: str) -> dict[str, float]:
    """``{"margin": ..., "smoothing": ...}`` of a :data:`CROP_PRESETS` entry (ValueError naming the choices)."""
    if name not in CROP_PRESETS:
        raise ValueError(f"crop must be one of {sorted(CROP_PRESETS)}, got {name!r}")
    return dict(CROP_PRESETS[name])


def _finished(out_dir: Path, name: str, settings: PreprocessSettings, source_bytes: int) -> bool:
    js = out_dir / f"{name}.json"
    if not js.is_file():
        return False
    try:
        record = json.loads(js.read_text())
    except (OSError, ValueError):
        return False
    return (
        record.get("status") == "ok"
        and record.get("settings") == asdict(settings)
        and record.get("source_bytes") == source_bytes
        and (out_dir / record.get("video", "")).is_file()
        and (out_dir / record.get("maps", "")).is_file()
    )


def preprocess_video(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    name: str | None = None,
    settings: PreprocessSettings = PreprocessSettings(),
    parser: F.FaceParser | None = None,
    *,
    chunk: int = 128,
    frame_rate: float = 24.0,
) -> dict[str, Any]:
    """Crop and parse one video file (or frame folder) into ``out_dir/<name>.{mp4,npz,json}``.

    The video is decoded twice in chunks of ``chunk`` frames (once to find the faces, once to
    crop), so long videos never sit in memory whole; only the crops do.

    Args:
        path: the video file, or a folder of numbered frame images (read at ``frame_rate``
            frames per second, no audio).
        out_dir: output folder.
        name: output name (default: the file's stem); may contain ``/`` (sub-folders).
        settings: see :class:`PreprocessSettings`.
        parser: a :class:`~marlin_lite.faces.FaceParser` (default: a
            :class:`~marlin_lite.faces.LandmarkParser` with MediaPipe built from ``settings``).

    Returns:
        The record written to ``<name>.json``.

    Raises:
        FileNotFoundError / ValueError: unreadable video (see :mod:`marlin_lite.video`).
        marlin_lite.faces.NoFaceError: no usable face in any frame (nothing is written).
        marlin_lite.faces.FacesExtraMissingError: the default parser needs the extra.
    """
    src = Path(path)
    out = Path(out_dir)
    name = src.stem if name is None else name
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"chunk must be an int >= 1, got {chunk!r}")
    if isinstance(frame_rate, bool) or not isinstance(frame_rate, (int, float)) or not (math.isfinite(frame_rate) and frame_rate > 0):
        raise ValueError(f"frame_rate must be a number > 0 (frames per second of frame folders), got {frame_rate!r}")
    if parser is None:
        parser = F.LandmarkParser(
            F.MediaPipeLandmarker(settings.max_faces, settings.min_confidence),
            min_face_size=settings.min_face_size,
            hair=settings.hair,
            missing=settings.missing,
        )
    mp4 = out / f"{name}.mp4"
    npz = out / f"{name}.npz"
    js = out / f"{name}.json"
    js.unlink(missing_ok=True)  # unfinished until the new record is written (even if this fails)
    info = _open_source(src, frame_rate)
    n = info.num_frames
    starts = list(range(0, n, chunk))
    gray = [True]

    def frames_once() -> Any:
        for s in starts:
            block = info.read(s, min(chunk, n - s))
            gray[0] = gray[0] and _is_grayscale(block)
            yield from block

    track = parser.track(frames_once())
    if len(track) != n:
        raise ValueError(f"'{src}': decoded {len(track)} frames but the file declares {n}")
    try:
        boxes = F.square_boxes(track.landmarks, track.detected, margin=settings.margin, smoothing=settings.smoothing)
    except F.NoFaceError:
        why = ""
        if track.tiny.any():
            why = (
                f"; faces were found in {int(track.tiny.sum())} frames but all were smaller than "
                f"--min-face-size {settings.min_face_size:g} px"
            )
        raise F.NoFaceError(f"no usable face in any of the {n} frames of '{src}'{why}") from None

    crops: list[np.ndarray] = []
    maps: list[np.ndarray] = []
    for s in starts:
        e = min(s + chunk, n)
        block = info.read(s, e - s)
        crops.append(F.crop_frames(block, boxes[s:e], settings.size))
        maps.append(parser.maps(track.slice(s, e), boxes[s:e], settings.size))
    frames = np.concatenate(crops)
    parsing = np.concatenate(maps)
    landmarks = F.to_crop_coords(track.landmarks, boxes, settings.size)

    notes = F.track_warnings(track, size=settings.size, boxes=boxes)
    wave, rate = None, None
    if settings.audio and info.files is None:
        wave, rate, audio_note = _read_audio(src)
        if audio_note:
            notes.append(audio_note)

    V.write_video(mp4, frames, info.fps, audio=wave, sample_rate=rate, crf=settings.crf)
    arrays = {
        "parsing": parsing,
        "landmarks": np.round(landmarks, 2).astype(np.float32),
        "frame_detected": track.detected,
        "frame_num_faces": track.num_faces.astype(np.int16),
        "frame_box": np.round(boxes, 2).astype(np.float32),
    }
    atomic_write_bytes(npz, deterministic_npz(arrays, compresslevel=6))
    sides = boxes[track.detected, 2]
    record = {
        "name": name,
        "status": "ok",
        "video": f"{name}.mp4",
        "maps": f"{name}.npz",
        "source": src.as_posix(),
        "source_bytes": info.nbytes,
        "source_size": [info.width, info.height],
        "num_frames": n,
        "fps": info.fps,
        **({"frame_folder": True, "frame_files": len(info.files)} if info.files is not None else {}),
        "size": settings.size,
        "has_audio": wave is not None,
        "grayscale": gray[0],
        "detected_frames": int(track.detected.sum()),
        "no_face_frames": F._ranges(~track.detected),
        "max_faces_in_a_frame": int(track.num_faces.max()),
        "several_faces_frames": int((track.num_faces > 1).sum()),
        "tiny_face_frames": int(track.tiny.sum()),
        "box_side_px": {"min": round(float(sides.min()), 1), "median": round(float(np.median(sides)), 1), "max": round(float(sides.max()), 1)},
        "label_names": list(L.LABEL_NAMES),
        "label_pixels": {L.LABEL_NAMES[k]: int(c) for k, c in enumerate(np.bincount(parsing.ravel(), minlength=L.NUM_LABELS))},
        "landmark_scheme": track.scheme,
        "parser": parser.name,
        "warnings": notes,
        "settings": asdict(settings),
        "versions": {"marlin_lite": __version__, "mediapipe": _mediapipe_version()},
        "sha256": {f"{name}.mp4": sha256_file(mp4), f"{name}.npz": sha256_file(npz)},
    }
    atomic_write_bytes(js, json_bytes(record))
    return record


def _mediapipe_version() -> str | None:
    try:
        import importlib.metadata

        return importlib.metadata.version("mediapipe")
    except Exception:
        return None


# ----------------------------------------------------------------------------------------
# A folder, in parallel
# ----------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(settings: PreprocessSettings, parser_factory: Callable[[PreprocessSettings], F.FaceParser] | None) -> None:
    """Per-process setup: one parser (and MediaPipe graph) reused for every file."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except Exception:
        pass
    _WORKER["settings"] = settings
    _WORKER["factory"] = parser_factory
    _WORKER["parser"] = None


def _default_parser(settings: PreprocessSettings) -> F.FaceParser:
    return F.LandmarkParser(
        F.MediaPipeLandmarker(settings.max_faces, settings.min_confidence),
        min_face_size=settings.min_face_size,
        hair=settings.hair,
        missing=settings.missing,
    )


def _run_one(job: tuple[str, str, str, int, float]) -> dict[str, Any]:
    """Process one file in a worker; never raises (errors become a result)."""
    path, out_dir, name, chunk, frame_rate = job
    settings: PreprocessSettings = _WORKER["settings"]
    started = time.perf_counter()
    try:
        if _WORKER["parser"] is None:
            factory = _WORKER["factory"] or _default_parser
            _WORKER["parser"] = factory(settings)
        record = preprocess_video(path, out_dir, name, settings, _WORKER["parser"], chunk=chunk, frame_rate=frame_rate)
        return {"file": path, "name": name, "status": "ok", "warnings": record["warnings"], "seconds": round(time.perf_counter() - started, 2)}
    except F.NoFaceError as err:
        return {"file": path, "name": name, "status": "no_face", "message": str(err), "seconds": round(time.perf_counter() - started, 2)}
    except Exception as err:  # one bad file never stops the batch
        return {
            "file": path,
            "name": name,
            "status": "error",
            "error": type(err).__name__,
            "message": str(err),
            "where": _where(err),
            "seconds": round(time.perf_counter() - started, 2),
        }


def _where(err: BaseException) -> str:
    """``file:line in function`` of the innermost frame of an exception."""
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}"


@dataclass
class Report:
    """What a :func:`preprocess_folder` run did: one result dict per video file."""

    results: list[dict[str, Any]]
    out_dir: Path
    seconds: float

    def by_status(self, status: str) -> list[dict[str, Any]]:
        return [r for r in self.results if r["status"] == status]

    @property
    def ok(self) -> bool:
        """No file failed with an error (files without a face do not count as errors)."""
        return not self.by_status("error")

    def summary(self) -> str:
        """The report printed at the end of a run: counts, then each error, face-less file
        and warning, one per line with the file's name."""
        counts = {s: len(self.by_status(s)) for s in ("ok", "skipped", "no_face", "error")}
        lines = [
            f"{len(self.results)} video(s) in {self.seconds:.1f} s: {counts['ok']} processed, "
            f"{counts['skipped']} already done (skipped), {counts['no_face']} without a face, "
            f"{counts['error']} failed"
        ]
        if counts["error"]:
            lines.append("errors (nothing written for these; fix or remove them and rerun):")
            for r in self.by_status("error"):
                lines.append(f"  {r['name']}: {r['error']}: {r['message']}")
        if counts["no_face"]:
            lines.append("no face (nothing written):")
            for r in self.by_status("no_face"):
                lines.append(f"  {r['name']}: {r['message']}")
        warned = [r for r in self.by_status("ok") if r.get("warnings")]
        if warned:
            lines.append("warnings:")
            for r in warned:
                for w in r["warnings"]:
                    lines.append(f"  {r['name']}: {w}")
        lines.append(f"outputs, {INDEX} (manifest) and {REPORT} in {self.out_dir}")
        return "\n".join(lines)


def _write_index(out_dir: Path) -> Path:
    """Rebuild ``index.json`` from every finished video's record in ``out_dir``."""
    clips = []
    for js in sorted(out_dir.rglob("*.json")):
        if js.name in (INDEX, REPORT) and js.parent == out_dir:
            continue
        if any(part.startswith(".") for part in js.relative_to(out_dir).parts):
            continue
        try:
            record = json.loads(js.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(record, dict) or record.get("status") != "ok" or "maps" not in record:
            continue
        clips.append(
            {k: record.get(k) for k in ("name", "source", "num_frames", "fps", "size", "detected_frames", "has_audio", "grayscale", "warnings", "sha256")}
        )
    clips.sort(key=lambda c: c["name"])
    index = {"clips": clips, "format": "marlin-lite preprocess v1", "label_names": list(L.LABEL_NAMES)}
    path = out_dir / INDEX
    atomic_write_bytes(path, json_bytes(index))
    return path


def preprocess_folder(
    video_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    settings: PreprocessSettings = PreprocessSettings(),
    *,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    chunk: int = 128,
    parser_factory: Callable[[PreprocessSettings], F.FaceParser] | None = None,
    frames: bool = False,
    frame_rate: float = 24.0,
) -> Report:
    """Crop and parse every video under ``video_dir`` into ``out_dir`` (see the module doc).

    Args:
        video_dir: folder of videos (searched recursively).
        out_dir: output folder (created).
        settings: see :class:`PreprocessSettings`.
        workers: parallel processes (1 = in this process). Each worker holds its own
            MediaPipe graph; 2 workers on 2 cores roughly halve the time.
        overwrite: redo videos that are already finished.
        progress: show a progress bar on stderr.
        chunk: frames decoded at a time.
        parser_factory: ``settings -> FaceParser`` (default: MediaPipe landmarks); must be
            picklable (a module-level function) when ``workers > 1``.
        frames: ``video_dir`` holds frame folders, not video files (see the module doc).
        frame_rate: frames per second of frame folders.

    Returns:
        A :class:`Report`. ``index.json`` and ``preprocess_report.json`` are written.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {workers!r}")
    root = Path(video_dir)
    out = Path(out_dir)
    videos = find_videos(root, out, frames=frames)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    jobs: list[tuple[str, str, str, int, float]] = []
    seen: dict[str, Path] = {}
    for path in videos:
        name = output_name(path, root)
        if name in seen:
            results.append({
                "file": str(path), "name": name, "status": "error", "error": "NameCollision",
                "message": f"'{path.name}' and '{seen[name].name}' would both be written as '{name}'; rename one",
            })
            continue
        seen[name] = path
        if not overwrite and _finished(out, name, settings, source_bytes(path)):
            results.append({"file": str(path), "name": name, "status": "skipped"})
            continue
        jobs.append((str(path), str(out), name, chunk, frame_rate))

    bar = progress_bar(total=len(jobs), desc="preprocess", unit="video", enabled=progress and bool(jobs), file=sys.stderr)
    failures = 0

    def done(result: dict[str, Any]) -> None:
        nonlocal failures
        results.append(result)
        failures += result["status"] != "ok"
        bar.set_postfix_str(f"not done: {failures}" if failures else "", refresh=False)
        bar.update(1)

    if workers == 1 or len(jobs) <= 1:
        _init_worker(settings, parser_factory)
        try:
            for job in jobs:
                done(_run_one(job))
        finally:
            parser = _WORKER.get("parser")
            if parser is not None and hasattr(parser, "close"):
                parser.close()
            _WORKER.clear()
    else:
        pending = list(jobs)
        context = multiprocessing.get_context("spawn")
        while pending:
            # A crash in native code kills a worker and breaks the pool: the files in flight
            # are reported, and the rest go on in a fresh pool.
            with cf.ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(settings, parser_factory)) as pool:
                in_flight: dict[cf.Future, tuple] = {}
                broken = False
                while (pending or in_flight) and not broken:
                    while pending and len(in_flight) < 2 * workers:
                        job = pending.pop(0)
                        in_flight[pool.submit(_run_one, job)] = job
                    finished, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
                    for fut in finished:
                        job = in_flight.pop(fut)
                        try:
                            done(fut.result())
                        except cf.process.BrokenProcessPool:
                            broken = True
                            done({"file": job[0], "name": job[2], "status": "error", "error": "WorkerCrashed",
                                  "message": "the worker process died while processing this file (a crash in native code?); rerun to retry"})
                if broken:
                    for fut, job in in_flight.items():
                        done({"file": job[0], "name": job[2], "status": "error", "error": "WorkerCrashed",
                              "message": "a worker process died while this file was in flight; rerun to retry"})
    bar.close()

    order = {str(p): i for i, p in enumerate(videos)}
    results.sort(key=lambda r: order.get(r["file"], len(order)))
    report = Report(results, out, time.perf_counter() - started)
    _write_index(out)
    atomic_write_bytes(out / REPORT, json_bytes({
        "video_dir": str(root), "settings": asdict(settings), "seconds": round(report.seconds, 2),
        "results": results,
    }))
    return report


# ----------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    defaults = PreprocessSettings()
    p = argparse.ArgumentParser(
        prog="python -m marlin_lite.preprocess",
        description="Crop and parse a folder of face videos into MARLIN's inputs (offline; needs the optional 'faces' extra).",
        epilog="Outputs per video: <name>.mp4 (crops), <name>.npz (parsing maps, landmarks), <name>.json (record); "
        f"then {INDEX} (manifest) and {REPORT}. Exit status: 0 all done (files without a face are reported, not "
        "failures), 1 some files failed, 2 bad usage or the extra is missing.",
    )
    p.add_argument("video_dir", help="folder of videos (searched recursively); with --frames, of frame folders")
    p.add_argument("out_dir", help="output folder (created; may be reused to resume)")
    p.add_argument("--size", type=int, default=defaults.size, help="crop side in pixels, even (default %(default)s)")
    p.add_argument("--crop", choices=sorted(CROP_PRESETS), default="course",
                   help="course: 1.25 x the face's extent, smoothed over 2 frames; official: the official rule, "
                        "side max(w, h) of the face box, no smoothing (default %(default)s)")
    p.add_argument("--margin", type=float, default=None, help=f"crop side over the face's landmark extent (default: the --crop preset's, {defaults.margin})")
    p.add_argument("--smoothing", type=float, default=None, help=f"box smoothing over time, Gaussian sigma in frames; 0 = off (default: the --crop preset's, {defaults.smoothing})")
    p.add_argument("--min-face-size", type=float, default=defaults.min_face_size, help="ignore faces smaller than this, in source pixels (default %(default)s)")
    p.add_argument("--max-faces", type=int, default=defaults.max_faces, help="faces looked for per frame; the largest is kept (default %(default)s)")
    p.add_argument("--min-confidence", type=float, default=defaults.min_confidence, help="face detection threshold (default %(default)s)")
    p.add_argument("--hair", type=float, default=defaults.hair, help="thickness of the approximate hair band, 0 = none (default %(default)s)")
    p.add_argument("--missing", choices=("empty", "hold"), default=defaults.missing, help="parsing of frames without a face (default %(default)s)")
    p.add_argument("--no-audio", action="store_true", help="do not copy the audio track")
    p.add_argument("--crf", type=int, default=defaults.crf, help="x264 quality 0..51 (default %(default)s)")
    p.add_argument("--frames", action="store_true",
                   help="VIDEO_DIR holds folders of numbered frame images (e.g. YouTube Faces' frame_images_DB), each one video")
    p.add_argument("--frame-rate", type=float, default=24.0, help="frames per second of frame folders (default %(default)s, YouTube Faces')")
    p.add_argument("--workers", type=int, default=1, help="parallel processes (default %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="redo videos that are already done")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        preset = crop_preset(args.crop)
        settings = PreprocessSettings(
            size=args.size, margin=preset["margin"] if args.margin is None else args.margin,
            smoothing=preset["smoothing"] if args.smoothing is None else args.smoothing, min_face_size=args.min_face_size,
            max_faces=args.max_faces, min_confidence=args.min_confidence, hair=args.hair, missing=args.missing,
            audio=not args.no_audio, crf=args.crf,
        )
        if args.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {args.workers}")
        if not (math.isfinite(args.frame_rate) and args.frame_rate > 0):
            raise ValueError(f"--frame-rate must be > 0, got {args.frame_rate}")
        if not find_videos(args.video_dir, args.out_dir, frames=args.frames) and not args.frames and find_videos(args.video_dir, args.out_dir, frames=True):
            raise ValueError(f"'{args.video_dir}' holds frame images but no video files; pass --frames to read each folder of frames as a video")
        check_writable_dir(args.out_dir)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        F.require_mediapipe()
    except F.FacesExtraMissingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        report = preprocess_folder(
            args.video_dir, args.out_dir, settings, workers=args.workers, overwrite=args.overwrite,
            progress=not args.no_progress, frames=args.frames, frame_rate=args.frame_rate,
        )
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
