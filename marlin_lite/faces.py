"""Real faces: find a face in every frame, crop it square, and parse it into MARLIN's labels.

MARLIN never sees a whole video frame: its preprocessing detects the face, crops a square box
centred on it with side ``max(w, h)``, pads with zeros where the box leaves the frame, and
resizes the crop to the clip size; when a frame has no detection it reuses the previous box.
Face-guided masking then needs a parsing map per frame with the 11 LaPa labels of
:mod:`marlin_lite.labels`. This module does all of that offline, on a laptop CPU:

* **landmarks**: :class:`MediaPipeLandmarker` wraps MediaPipe's FaceMesh (``mediapipe==0.10.21``,
  an *optional* extra: ``pip install --no-deps -r requirements-faces.txt``, which
  ``scripts/_env.sh`` runs). Its models ship inside the wheel, so nothing is downloaded. It
  returns 478 points per face (468 mesh points + 10 iris points) in pixels;
* **tracking**: :func:`track_faces` keeps one face per frame (the largest, saying when there
  were several), drops faces smaller than ``min_face_size`` pixels, and records frames with
  no face;
* **boxes**: :func:`square_boxes` turns landmarks into square crop boxes ``(cx, cy, side)``
  (side = ``margin * max(w, h)`` of the landmarks' bounding box), smooths them over time with
  a Gaussian and reuses the last box where a frame has no face;
* **cropping**: :func:`crop_frames` (zero padding, antialiased bilinear resize),
  :func:`crop_labels` (nearest neighbour, for label maps) and :func:`to_crop_coords`;
* **parsing**: :func:`mesh_parsing` rasterises the mesh's named contours (face oval, brows,
  eyes, nose, lips, an approximate hair band) into label maps, so
  :func:`marlin_lite.masking.make_visible_mask` works unchanged on real faces;
* **one interface, two parsers**: :class:`FaceParser` with :class:`GroundTruthParser`
  (SynthFace: the clip's known maps and landmarks) and :class:`LandmarkParser` (real faces);
* :func:`crop_faces` runs the whole chain on an in-memory video; ``python -m
  marlin_lite.preprocess`` runs it on a folder of video files.

Pixel coordinates follow the package: ``(x, y)`` with pixel centres at integers (pixel ``i``
covers ``[i - 0.5, i + 0.5)``), as SynthFace's landmarks.

Test data without committing a real video: :func:`sample_face_photo` is a public-domain
portrait that matplotlib ships as sample data (Grace Hopper, official U.S. Navy photograph),
and :func:`animate_photo` turns a photo into a short video with pan, zoom and a small rotation.

MediaPipe's C++ code logs to the process's standard error (file descriptor 2) with
timestamps; every call into it here runs inside :func:`silence_stderr`, so notebooks stay
clean.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
import os
import sys
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageDraw

from marlin_lite import labels as L

__all__ = [
    "FACES_EXTRA_HINT",
    "MEDIAPIPE_VERSION",
    "MESH_CONTOURS",
    "FaceCrop",
    "FaceParse",
    "FaceParser",
    "FaceTrack",
    "FacesExtraMissingError",
    "GroundTruthParser",
    "LandmarkParser",
    "Landmarker",
    "MediaPipeLandmarker",
    "NoFaceError",
    "MESH_POINTS",
    "animate_photo",
    "apply_transform",
    "crop_faces",
    "crop_frames",
    "crop_labels",
    "face_boxes",
    "mediapipe_available",
    "mesh_parsing",
    "mesh_regions",
    "require_mediapipe",
    "sample_face_photo",
    "silence_stderr",
    "square_boxes",
    "synthetic_mesh",
    "to_crop_coords",
    "track_faces",
    "track_warnings",
]

#: The MediaPipe release the course pins (the last one that bundles the FaceMesh models).
MEDIAPIPE_VERSION = "0.10.21"

#: What to tell someone whose environment lacks the optional extra.
FACES_EXTRA_HINT = (
    "real-face detection needs the optional 'faces' extra (MediaPipe FaceMesh, models inside the "
    f"wheel, mediapipe=={MEDIAPIPE_VERSION}). Install it into the course's environment with "
    "`pip install --no-deps -r requirements-faces.txt` (scripts/_env.sh does this; --no-deps because "
    "mediapipe's metadata asks for numpy<2, yet it works with the course's numpy 2). MediaPipe "
    f"{MEDIAPIPE_VERSION} has wheels for Python 3.9-3.12 on Linux x86_64, macOS and Windows."
)

#: Clip frames MARLIN reads: 16 frames at sample rate 2 span 31 source frames.
MARLIN_CLIP_SPAN = 31

# ----------------------------------------------------------------------------------------
# MediaPipe FaceMesh topology: ordered contours of the 468-point mesh (+10 iris points)
# ----------------------------------------------------------------------------------------
# Indices are the mesh's vertex ids; "right" is the person's right (the image's left for a
# frontal face), as in MediaPipe and in marlin_lite.labels. Each contour is ordered along the
# outline, so it can be filled as a polygon. tests/test_faces.py checks them against the edge
# sets of mediapipe.solutions.face_mesh_connections when the extra is installed.

MESH_CONTOURS: dict[str, tuple[int, ...]] = {
    # Closed loop round the face, starting at the top of the forehead, going over the
    # person's left side (image right), round the chin and back up the right side.
    "face_oval": (
        10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
        152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
    ),
    "right_brow_upper": (70, 63, 105, 66, 107),
    "right_brow_lower": (46, 53, 52, 65, 55),
    "left_brow_upper": (300, 293, 334, 296, 336),
    "left_brow_lower": (276, 283, 282, 295, 285),
    # Eyes: upper and lower lids from the outer to the inner corner.
    "right_eye_upper": (33, 246, 161, 160, 159, 158, 157, 173, 133),
    "right_eye_lower": (33, 7, 163, 144, 145, 153, 154, 155, 133),
    "left_eye_upper": (263, 466, 388, 387, 386, 385, 384, 398, 362),
    "left_eye_lower": (263, 249, 390, 373, 374, 380, 381, 382, 362),
    # Lips from the right mouth corner (61 outer, 78 inner) to the left one (291, 308).
    "lips_upper_outer": (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291),
    "lips_lower_outer": (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291),
    "lips_upper_inner": (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308),
    "lips_lower_inner": (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308),
    # Nose: the bridge from between the eyes (168) to the tip, and the nostril outline; the
    # nose region is their convex hull.
    "nose_bridge": (168, 6, 197, 195, 5, 4, 1, 19, 94, 2),
    "nose_outline": (98, 97, 2, 326, 327, 294, 278, 344, 440, 275, 4, 45, 220, 115, 48, 64),
}
MESH_POINTS = 478  # 468 mesh vertices + 2 x 5 iris points (refine_landmarks=True)

#: The upper half of the face oval (from the right cheek at eye height over the forehead to
#: the left cheek): where the approximate hair band goes.
_OVAL = MESH_CONTOURS["face_oval"]
_UPPER_OVAL = _OVAL[_OVAL.index(234) :] + _OVAL[: _OVAL.index(454) + 1]

# ----------------------------------------------------------------------------------------
# Errors and the optional extra
# ----------------------------------------------------------------------------------------


class FacesExtraMissingError(ImportError):
    """The optional 'faces' extra (MediaPipe) is not installed; the message says how to add it."""


class NoFaceError(ValueError):
    """No usable face in any frame of a video (nothing to crop)."""


def mediapipe_available() -> bool:
    """Whether ``import mediapipe`` can work here (checked without importing it)."""
    try:
        return importlib.util.find_spec("mediapipe") is not None
    except (ImportError, ValueError):
        return False


def require_mediapipe() -> Any:
    """Import and return MediaPipe's FaceMesh solution module, quietly.

    Raises:
        FacesExtraMissingError: MediaPipe (or one of its needs: opencv, protobuf, absl,
            flatbuffers) is missing or broken; the message says how to install the extra.
    """
    if not mediapipe_available():
        raise FacesExtraMissingError(f"mediapipe is not installed: {FACES_EXTRA_HINT}")
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with silence_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from mediapipe.python.solutions import face_mesh  # type: ignore[import-not-found]
    except Exception as err:  # ImportError, or a protobuf/numpy ABI error raised on import
        raise FacesExtraMissingError(
            f"mediapipe is installed but cannot be imported ({type(err).__name__}: {err}). {FACES_EXTRA_HINT}"
        ) from err
    return face_mesh


@contextlib.contextmanager
def silence_stderr() -> Iterator[None]:
    """Send everything written to file descriptor 2 inside the block to ``/dev/null``.

    MediaPipe's C++ code (glog/absl, TensorFlow Lite) logs straight to fd 2, bypassing
    ``sys.stderr``; Jupyter forwards that descriptor into cell outputs. Python-level writes to
    ``sys.stderr`` are flushed before and after, so they keep their order.
    """
    try:
        sys.stderr.flush()
    except (AttributeError, ValueError, OSError):
        pass
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all (some embedded interpreters): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        try:
            sys.stderr.flush()
        except (AttributeError, ValueError, OSError):
            pass
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


# ----------------------------------------------------------------------------------------
# Landmarkers
# ----------------------------------------------------------------------------------------


class Landmarker(Protocol):
    """Finds faces in one frame.

    ``landmarker(frame)`` takes a ``uint8 (H, W, 3)`` RGB frame and returns one ``float32
    (K, 2)`` array of pixel ``(x, y)`` landmarks per face it found (any order; an empty list
    when there is none). ``scheme`` names the landmark layout (``"mediapipe478"``).
    """

    scheme: str

    def __call__(self, frame: np.ndarray) -> list[np.ndarray]: ...


class MediaPipeLandmarker:
    """MediaPipe FaceMesh as a :class:`Landmarker`: 478 landmarks per face, offline.

    Every frame is processed on its own (``static_image_mode=True``: face detection, then the
    mesh), so results do not depend on the frames before and are deterministic. The graph is
    built on first use; use it as a context manager or call :meth:`close` to free it.

    Args:
        max_faces: at most this many faces per frame (the largest is kept by :func:`track_faces`).
        min_detection_confidence: MediaPipe's face-detector threshold in [0, 1].

    Raises:
        FacesExtraMissingError: the optional extra is not installed (on first use).
    """

    scheme = "mediapipe478"

    def __init__(self, max_faces: int = 4, min_detection_confidence: float = 0.5) -> None:
        if isinstance(max_faces, bool) or not isinstance(max_faces, int) or max_faces < 1:
            raise ValueError(f"max_faces must be an int >= 1, got {max_faces!r}")
        if not 0.0 <= float(min_detection_confidence) <= 1.0:
            raise ValueError(f"min_detection_confidence must be in [0, 1], got {min_detection_confidence!r}")
        self.max_faces = max_faces
        self.min_detection_confidence = float(min_detection_confidence)
        self._mesh: Any = None

    def _graph(self) -> Any:
        if self._mesh is None:
            face_mesh = require_mediapipe()
            with silence_stderr():
                self._mesh = face_mesh.FaceMesh(
                    static_image_mode=True,
                    max_num_faces=self.max_faces,
                    refine_landmarks=True,
                    min_detection_confidence=self.min_detection_confidence,
                )
        return self._mesh

    def __call__(self, frame: np.ndarray) -> list[np.ndarray]:
        image = _as_rgb_frame(frame)
        mesh = self._graph()
        with silence_stderr():
            result = mesh.process(image)
        faces = result.multi_face_landmarks or []
        h, w = image.shape[:2]
        out = []
        for face in faces:
            xy = np.array([(p.x, p.y) for p in face.landmark], dtype=np.float64)
            # MediaPipe's coordinates are fractions of the image with pixel *edges* at 0 and 1;
            # the package puts pixel centres at integers.
            out.append((xy * (w, h) - 0.5).astype(np.float32))
        return out

    def close(self) -> None:
        """Free MediaPipe's graph (it is rebuilt if the landmarker is used again)."""
        if self._mesh is not None:
            with silence_stderr():
                self._mesh.close()
            self._mesh = None

    def __enter__(self) -> MediaPipeLandmarker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __getstate__(self) -> dict[str, Any]:  # picklable for worker processes: no graph
        return {"max_faces": self.max_faces, "min_detection_confidence": self.min_detection_confidence, "_mesh": None}

    def __repr__(self) -> str:
        return f"MediaPipeLandmarker(max_faces={self.max_faces}, min_detection_confidence={self.min_detection_confidence})"


def _as_rgb(array: Any, *, video: bool) -> np.ndarray:
    """A frame ``(H, W[, 3])`` or a video ``(T, H, W[, 3])`` as ``uint8`` RGB; grayscale is repeated."""
    name, shape = ("frames", "(T, H, W, 3)") if video else ("a frame", "(H, W, 3)")
    gray = "(T, H, W)" if video else "(H, W)"
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8:
        raise TypeError(
            f"{name} must be a uint8 numpy array {shape} or {gray}; got {type(array).__name__} "
            f"{getattr(array, 'dtype', '')}"
        )
    rank = 4 if video else 3
    if array.ndim == rank - 1:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != rank or array.shape[-1] != 3:
        detail = f"{shape} or {gray}" if video else f"{shape} (RGB) or {gray} (grayscale)"
        raise ValueError(f"{name} must have shape {detail}; got {array.shape}")
    if video and array.shape[0] == 0:
        raise ValueError("frames is empty (T = 0); a video needs at least one frame")
    return array if video else np.ascontiguousarray(array)


def _as_rgb_frame(frame: Any) -> np.ndarray:
    """One frame as contiguous ``uint8 (H, W, 3)``; a grayscale ``(H, W)`` frame is repeated."""
    return _as_rgb(frame, video=False)


def _as_rgb_frames(frames: Any) -> np.ndarray:
    """Frames as ``uint8 (T, H, W, 3)``; grayscale ``(T, H, W)`` is repeated to 3 channels."""
    return _as_rgb(frames, video=True)


# ----------------------------------------------------------------------------------------
# Tracking: one face per frame
# ----------------------------------------------------------------------------------------


@dataclass
class FaceTrack:
    """The face kept in each frame of a video, in the frames' pixel coordinates.

    Attributes:
        landmarks: ``float32 (T, K, 2)`` pixel ``(x, y)``; ``NaN`` in frames without a face.
        detected: ``bool (T,)``: a face was kept in this frame.
        num_faces: ``int16 (T,)``: faces the landmarker found (before the size filter).
        tiny: ``bool (T,)``: faces were found but all were smaller than ``min_face_size``.
        frame_size: ``(H, W)`` of the frames.
        scheme: landmark layout (``"mediapipe478"``, ``"synthface22"``).
        start: index of the first frame (a slice of a longer track starts later).
    """

    landmarks: np.ndarray
    detected: np.ndarray
    num_faces: np.ndarray
    tiny: np.ndarray
    frame_size: tuple[int, int]
    scheme: str
    start: int = 0

    def __len__(self) -> int:
        return int(self.detected.shape[0])

    def slice(self, begin: int, end: int) -> FaceTrack:
        """Frames ``[begin, end)`` of this track (``start`` moves along)."""
        if not 0 <= begin <= end <= len(self):
            raise ValueError(f"slice [{begin}, {end}) is outside the track's {len(self)} frames")
        return replace(
            self,
            landmarks=self.landmarks[begin:end],
            detected=self.detected[begin:end],
            num_faces=self.num_faces[begin:end],
            tiny=self.tiny[begin:end],
            start=self.start + begin,
        )


def face_boxes(landmarks: np.ndarray) -> np.ndarray:
    """Bounding boxes of landmark sets: ``(..., K, 2)`` -> ``float64 (..., 4)`` ``x0, y0, x1, y1``.

    ``NaN`` landmarks give ``NaN`` boxes.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim < 2 or pts.shape[-1] != 2:
        raise ValueError(f"landmarks must have shape (..., K, 2); got {pts.shape}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows
        lo = np.min(pts, axis=-2)
        hi = np.max(pts, axis=-2)
    return np.concatenate([lo, hi], axis=-1)


def _box_side(box: np.ndarray) -> np.ndarray:
    return np.maximum(box[..., 2] - box[..., 0], box[..., 3] - box[..., 1])


def track_faces(
    frames: np.ndarray | Iterable[np.ndarray],
    landmarker: Landmarker,
    *,
    min_face_size: float = 24.0,
) -> FaceTrack:
    """Run ``landmarker`` on every frame and keep one face per frame.

    Rules (each is reported, never silent):

    * **several faces**: the largest is kept (largest side of its landmarks' bounding box);
      ``num_faces`` records how many there were. Two faces of nearly the same size can swap
      from frame to frame; crop such videos by hand.
    * **tiny faces**: faces whose box side is below ``min_face_size`` pixels are dropped
      (their landmarks are unreliable and their crops would be blown-up blur); a frame whose
      faces were all dropped has ``tiny`` set and counts as a frame without a face.
    * **no face**: ``detected`` is False and the landmarks are ``NaN``.

    Args:
        frames: ``uint8 (T, H, W, 3)`` (or grayscale ``(T, H, W)``), or any iterable of
            ``(H, W, 3)`` frames (e.g. a generator decoding a long video chunk by chunk).
        landmarker: a :class:`Landmarker` (e.g. :class:`MediaPipeLandmarker`).
        min_face_size: smallest usable face, in pixels.

    Returns:
        A :class:`FaceTrack`.
    """
    if not math.isfinite(min_face_size) or min_face_size < 0:
        raise ValueError(f"min_face_size must be a number >= 0 (pixels), got {min_face_size!r}")
    if isinstance(frames, np.ndarray):
        frames = _as_rgb_frames(frames)
    points: list[np.ndarray | None] = []
    counts: list[int] = []
    tiny: list[bool] = []
    frame_size: tuple[int, int] | None = None
    k: int | None = None
    for i, frame in enumerate(frames):
        frame = _as_rgb_frame(frame)
        if frame_size is None:
            frame_size = (int(frame.shape[0]), int(frame.shape[1]))
        elif frame.shape[:2] != frame_size:
            raise ValueError(f"frame {i} is {frame.shape[1]}x{frame.shape[0]} but frame 0 is {frame_size[1]}x{frame_size[0]}")
        faces = [np.asarray(f, dtype=np.float32) for f in landmarker(frame)]
        for f in faces:
            if f.ndim != 2 or f.shape[1] != 2 or (k is not None and f.shape[0] != k):
                raise ValueError(f"the landmarker returned landmarks of shape {f.shape} in frame {i}; expected (K, 2) with one K")
            k = f.shape[0]
        sides = [float(_box_side(face_boxes(f))) for f in faces]
        usable = [j for j, s in enumerate(sides) if s >= min_face_size]
        counts.append(len(faces))
        tiny.append(bool(faces) and not usable)
        points.append(faces[max(usable, key=lambda j: (sides[j], -j))] if usable else None)
    if frame_size is None:
        raise ValueError("frames is empty (T = 0); a video needs at least one frame")
    if k is None:
        k = MESH_POINTS if getattr(landmarker, "scheme", "") == "mediapipe478" else 1
    landmarks = np.full((len(points), k, 2), np.nan, dtype=np.float32)
    for i, p in enumerate(points):
        if p is not None:
            landmarks[i] = p
    return FaceTrack(
        landmarks=landmarks,
        detected=np.array([p is not None for p in points], dtype=bool),
        num_faces=np.array(counts, dtype=np.int16),
        tiny=np.array(tiny, dtype=bool),
        frame_size=frame_size,
        scheme=str(getattr(landmarker, "scheme", "custom")),
    )


def _ranges(flags: np.ndarray) -> list[list[int]]:
    """``[[first, last], ...]`` runs of True in a bool vector (inclusive frame indices)."""
    idx = np.flatnonzero(flags)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]])
    return [[int(a), int(b)] for a, b in zip(starts, ends)]


def track_warnings(track: FaceTrack, *, size: int | None = None, boxes: np.ndarray | None = None) -> list[str]:
    """Plain-language warnings about a track: several faces, tiny faces, frames without a
    face, crops upsampled a lot (with ``boxes`` and ``size``), too short for a MARLIN clip."""
    out = []
    t = len(track)
    several = track.num_faces > 1
    if several.any():
        out.append(
            f"several faces in {int(several.sum())} of {t} frames (up to {int(track.num_faces.max())}): "
            "kept the largest in each frame"
        )
    if track.tiny.any():
        out.append(f"faces smaller than min_face_size ignored in {int(track.tiny.sum())} of {t} frames")
    missing = ~track.detected
    if missing.any() and track.detected.any():
        runs = ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in _ranges(missing)[:8])
        more = " ..." if len(_ranges(missing)) > 8 else ""
        out.append(f"no face in {int(missing.sum())} of {t} frames ({runs}{more}): reused the last box")
    if boxes is not None and size is not None and track.detected.any():
        side = float(np.median(boxes[track.detected, 2]))
        if side < size / 2:
            out.append(f"small face: median crop side {side:.0f} px is upsampled {size / side:.1f}x to {size} px")
    if t < MARLIN_CLIP_SPAN:
        out.append(f"only {t} frame{'s' if t != 1 else ''}: shorter than one MARLIN clip ({MARLIN_CLIP_SPAN} source frames)")
    return out


# ----------------------------------------------------------------------------------------
# Crop boxes
# ----------------------------------------------------------------------------------------


def _gaussian_smooth(values: np.ndarray, valid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-weighted average over time of ``values (T, C)`` using only ``valid`` frames."""
    radius = int(math.ceil(3 * sigma))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    weight = valid.astype(np.float64)
    data = np.where(valid[:, None], values, 0.0)
    den = np.convolve(weight, kernel, mode="full")[radius : radius + len(weight)]
    out = np.empty_like(values)
    for c in range(values.shape[1]):
        num = np.convolve(data[:, c] * 1.0, kernel, mode="full")[radius : radius + len(weight)]
        out[:, c] = num / np.where(den > 0, den, 1.0)
    return out


def square_boxes(
    landmarks: np.ndarray,
    detected: np.ndarray | None = None,
    *,
    margin: float = 1.25,
    smoothing: float = 2.0,
) -> np.ndarray:
    """Square crop boxes from per-frame landmarks, smoothed over time.

    For each frame with a face: the landmarks' bounding box ``(w, h)`` gives a square of side
    ``margin * max(w, h)`` centred on the box (``margin=1`` is MARLIN's rule applied to the
    landmark box; the default 1.25 leaves room for the hair band). The centres and sides are
    then smoothed with a Gaussian over time (standard deviation ``smoothing`` frames, using
    only frames with a face; 0 turns it off). A frame without a face reuses the box of the
    frame before it; frames before the first face take the first face's box. Smoothing does
    not know about cuts between shots: split edited videos at their cuts first.

    Args:
        landmarks: ``(T, K, 2)`` pixel ``(x, y)``, ``NaN`` where there is no face.
        detected: ``bool (T,)``; default: frames whose landmarks are all finite.
        margin: box side over the landmarks' extent (> 0).
        smoothing: Gaussian standard deviation in frames (>= 0).

    Returns:
        ``float64 (T, 3)``: ``cx, cy, side`` in pixels.

    Raises:
        NoFaceError: no frame has a face.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[-1] != 2:
        raise ValueError(f"landmarks must have shape (T, K, 2); got {pts.shape}")
    if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a positive number, got {margin!r}")
    if not (isinstance(smoothing, (int, float)) and math.isfinite(smoothing) and smoothing >= 0):
        raise ValueError(f"smoothing must be a number >= 0 (frames), got {smoothing!r}")
    ok = np.isfinite(pts).all(axis=(1, 2)) if detected is None else np.asarray(detected, dtype=bool).copy()
    if ok.shape != (pts.shape[0],):
        raise ValueError(f"detected must have shape ({pts.shape[0]},); got {ok.shape}")
    ok &= np.isfinite(pts).all(axis=(1, 2))
    if not ok.any():
        raise NoFaceError(f"no face in any of the {pts.shape[0]} frames: nothing to crop")
    raw = face_boxes(pts)
    boxes = np.stack(
        [(raw[:, 0] + raw[:, 2]) / 2, (raw[:, 1] + raw[:, 3]) / 2, margin * _box_side(raw)], axis=1
    )
    boxes[~ok] = np.nan
    if smoothing > 0:
        boxes[ok] = _gaussian_smooth(np.nan_to_num(boxes), ok, float(smoothing))[ok]
    first = int(np.flatnonzero(ok)[0])
    boxes[:first] = boxes[first]
    for i in range(first + 1, len(boxes)):
        if not ok[i]:
            boxes[i] = boxes[i - 1]
    boxes[:, 2] = np.maximum(boxes[:, 2], 1.0)
    return boxes


def _check_boxes(boxes: np.ndarray, t: int) -> np.ndarray:
    b = np.asarray(boxes, dtype=np.float64)
    if b.shape != (t, 3):
        raise ValueError(f"boxes must have shape ({t}, 3) (cx, cy, side per frame); got {b.shape}")
    if not np.isfinite(b).all() or (b[:, 2] <= 0).any():
        raise ValueError("boxes must be finite with a positive side")
    return b


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 2:
        raise ValueError(f"size must be an int >= 2 (pixels of the square crop), got {size!r}")
    return int(size)


def _box_edges(box: np.ndarray) -> tuple[float, float, float]:
    """Left and top *edge* coordinates of a box (pixel i spans [i, i + 1)) and its side."""
    cx, cy, side = (float(v) for v in box)
    return cx + 0.5 - side / 2, cy + 0.5 - side / 2, side


def crop_frames(frames: np.ndarray, boxes: np.ndarray, size: int = 224) -> np.ndarray:
    """Cut square boxes out of frames and resize them to ``size x size``.

    The parts of a box outside the frame are black (zero padding, as MARLIN). Resizing is
    Pillow's bilinear filter, antialiased when shrinking; it works in fixed point on 8-bit
    images, so the result is the same on every machine.

    Args:
        frames: ``uint8 (T, H, W, 3)`` (or grayscale ``(T, H, W)``).
        boxes: ``(T, 3)`` ``cx, cy, side`` in pixels (from :func:`square_boxes`).
        size: output side in pixels.

    Returns:
        ``uint8 (T, size, size, 3)``.
    """
    frames = _as_rgb_frames(frames)
    size = _check_size(size)
    b = _check_boxes(boxes, frames.shape[0])
    _, h, w, _ = frames.shape
    out = np.empty((frames.shape[0], size, size, 3), dtype=np.uint8)
    for i, frame in enumerate(frames):
        left, top, side = _box_edges(b[i])
        x0, y0 = math.floor(left), math.floor(top)
        x1, y1 = math.ceil(left + side), math.ceil(top + side)
        region = np.zeros((y1 - y0, x1 - x0, 3), dtype=np.uint8)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        if sx0 < sx1 and sy0 < sy1:
            region[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = frame[sy0:sy1, sx0:sx1]
        img = Image.fromarray(region)
        box = (left - x0, top - y0, left - x0 + side, top - y0 + side)
        out[i] = np.asarray(img.resize((size, size), Image.Resampling.BILINEAR, box=box))
    return out


def crop_labels(maps: np.ndarray, boxes: np.ndarray, size: int = 224) -> np.ndarray:
    """Crop label maps ``uint8 (T, H, W)`` like :func:`crop_frames`, by nearest neighbour.

    Each output pixel takes the label under its centre; outside the frame it is background (0).
    """
    maps = np.asarray(maps)
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (T, H, W); got {maps.shape}")
    size = _check_size(size)
    b = _check_boxes(boxes, maps.shape[0])
    _, h, w = maps.shape
    out = np.zeros((maps.shape[0], size, size), dtype=maps.dtype)
    centres = np.arange(size) + 0.5
    for i in range(maps.shape[0]):
        left, top, side = _box_edges(b[i])
        xs = np.floor(left + centres * side / size).astype(np.int64)
        ys = np.floor(top + centres * side / size).astype(np.int64)
        okx, oky = (xs >= 0) & (xs < w), (ys >= 0) & (ys < h)
        out[i][np.ix_(oky, okx)] = maps[i][np.ix_(ys[oky], xs[okx])]
    return out


def to_crop_coords(points: np.ndarray, boxes: np.ndarray, size: int = 224) -> np.ndarray:
    """Map pixel ``(x, y)`` points ``(T, K, 2)`` from the frames into the crops of ``boxes``."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 3 or pts.shape[-1] != 2:
        raise ValueError(f"points must have shape (T, K, 2); got {pts.shape}")
    size = _check_size(size)
    b = _check_boxes(boxes, pts.shape[0])
    left = b[:, 0] + 0.5 - b[:, 2] / 2
    top = b[:, 1] + 0.5 - b[:, 2] / 2
    scale = size / b[:, 2]
    x = (pts[..., 0] + 0.5 - left[:, None]) * scale[:, None] - 0.5
    y = (pts[..., 1] + 0.5 - top[:, None]) * scale[:, None] - 0.5
    return np.stack([x, y], axis=-1).astype(np.float32)


# ----------------------------------------------------------------------------------------
# Parsing maps from the mesh
# ----------------------------------------------------------------------------------------


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Convex hull of 2-D points (Andrew's monotone chain), counter-clockwise, no repeats."""
    pts = sorted(set(map(tuple, np.asarray(points, dtype=np.float64).tolist())))
    if len(pts) < 3:
        return np.array(pts, dtype=np.float64).reshape(-1, 2)

    def cross(o: tuple, a: tuple, b: tuple) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def _area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def mesh_regions(points: np.ndarray, *, hair: float = 0.3) -> list[tuple[int, np.ndarray]]:
    """The label polygons of one face, in painting order: ``[(label id, (N, 2) polygon), ...]``.

    Painting them in order gives the parsing map: the hair band (the upper half of the face
    oval pushed out by ``hair`` times its distance from the face centre; 0 = no hair), the
    skin (the face oval), the nose (convex hull of the bridge and nostrils), brows, eyes,
    upper and lower lip, and the inner mouth (skipped when the mouth is closed).
    """
    p = np.asarray(points, dtype=np.float64)
    if p.shape not in ((MESH_POINTS, 2), (468, 2)):
        raise ValueError(f"mesh landmarks must have shape (478, 2) or (468, 2); got {p.shape}")
    c = MESH_CONTOURS

    def pts(name: str) -> np.ndarray:
        return p[list(c[name])]

    def band(a: str, b: str) -> np.ndarray:  # polygon between two chains with shared ends
        return np.concatenate([pts(a), pts(b)[::-1]])

    regions: list[tuple[int, np.ndarray]] = []
    oval = pts("face_oval")
    if hair > 0:
        centre = oval.mean(axis=0)
        inner = p[list(_UPPER_OVAL)]
        outer = centre + (1 + hair) * (inner - centre)
        regions.append((L.HAIR, np.concatenate([outer, inner[::-1]])))
    regions.append((L.SKIN, oval))
    regions.append((L.NOSE, _convex_hull(np.concatenate([pts("nose_bridge"), pts("nose_outline")]))))
    regions.append((L.RIGHT_BROW, band("right_brow_upper", "right_brow_lower")))
    regions.append((L.LEFT_BROW, band("left_brow_upper", "left_brow_lower")))
    regions.append((L.RIGHT_EYE, band("right_eye_upper", "right_eye_lower")))
    regions.append((L.LEFT_EYE, band("left_eye_upper", "left_eye_lower")))
    regions.append((L.UPPER_LIP, band("lips_upper_outer", "lips_upper_inner")))
    regions.append((L.LOWER_LIP, band("lips_lower_outer", "lips_lower_inner")))
    inner_mouth = band("lips_upper_inner", "lips_lower_inner")
    if _area(inner_mouth) >= 1.0:
        regions.append((L.INNER_MOUTH, inner_mouth))
    return regions


def mesh_parsing(
    landmarks: np.ndarray, height: int, width: int | None = None, *, hair: float = 0.3
) -> np.ndarray:
    """Rasterise FaceMesh landmarks into parsing maps with MARLIN's 11 label ids.

    Args:
        landmarks: ``(T, 478, 2)`` (or ``(T, 468, 2)``) pixel ``(x, y)`` in the map's
            coordinates; frames whose landmarks are ``NaN`` get an all-background map (as
            MARLIN treats frames without a parse: every patch is a visible candidate).
        height, width: map size (``width`` defaults to ``height``).
        hair: thickness of the approximate hair band (see :func:`mesh_regions`).

    Returns:
        ``uint8 (T, height, width)`` label ids of :mod:`marlin_lite.labels`.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim != 3:
        raise ValueError(f"landmarks must have shape (T, 478, 2); got {pts.shape}")
    width = height if width is None else width
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if not (math.isfinite(hair) and hair >= 0):
        raise ValueError(f"hair must be a number >= 0, got {hair!r}")
    out = np.zeros((pts.shape[0], height, width), dtype=np.uint8)
    for i, face in enumerate(pts):
        if not np.isfinite(face).all():
            continue
        img = Image.new("L", (int(width), int(height)), L.BACKGROUND)
        draw = ImageDraw.Draw(img)
        for label, poly in mesh_regions(face, hair=hair):
            draw.polygon([(float(x), float(y)) for x, y in poly], fill=int(label))
        out[i] = np.asarray(img)
    return out


# ----------------------------------------------------------------------------------------
# Parsers: one interface, ground truth (SynthFace) and landmarks (real faces)
# ----------------------------------------------------------------------------------------


@dataclass
class FaceParse:
    """A parsed video at its own resolution: ``parsing uint8 (T, H, W)`` and its :class:`FaceTrack`."""

    parsing: np.ndarray
    track: FaceTrack


class FaceParser(ABC):
    """Finds the face in every frame and draws its parsing map.

    Two steps, so that maps can be drawn directly in crop coordinates (sharper than cropping
    a map drawn at the frame's resolution): :meth:`track` finds the face (landmarks in frame
    pixels), :meth:`maps` draws the label maps of a track, either at the frames' resolution or
    inside crop boxes. :meth:`parse` does both at the frames' resolution.
    """

    #: short name recorded in outputs
    name: str = "parser"

    @abstractmethod
    def track(self, frames: np.ndarray | Iterable[np.ndarray]) -> FaceTrack:
        """One face per frame: see :class:`FaceTrack`."""

    @abstractmethod
    def maps(self, track: FaceTrack, boxes: np.ndarray | None = None, size: int | None = None) -> np.ndarray:
        """``uint8`` label maps of ``track``'s frames: ``(T, H, W)`` at the frames' resolution
        when ``boxes`` is ``None``, else ``(T, size, size)`` inside the crop ``boxes (T, 3)``."""

    def parse(self, frames: np.ndarray) -> FaceParse:
        """Track and draw at the frames' own resolution."""
        track = self.track(frames)
        return FaceParse(self.maps(track), track)


class GroundTruthParser(FaceParser):
    """The known parsing maps and landmarks of a SynthFace clip, behind the parser interface.

    Args:
        parsing: ``uint8 (T, H, W)`` label maps.
        landmarks: ``(T, K, 2)`` pixel landmarks (SynthFace's 22), used for the crop boxes.

    Use :meth:`from_clip` with a :class:`~marlin_lite.synthface.SynthClip`.
    """

    name = "ground_truth"

    def __init__(self, parsing: np.ndarray, landmarks: np.ndarray, scheme: str = "synthface22") -> None:
        parsing = np.asarray(parsing)
        landmarks = np.asarray(landmarks, dtype=np.float32)
        if parsing.ndim != 3:
            raise ValueError(f"parsing must have shape (T, H, W); got {parsing.shape}")
        if landmarks.ndim != 3 or landmarks.shape[0] != parsing.shape[0] or landmarks.shape[-1] != 2:
            raise ValueError(
                f"landmarks must have shape (T, K, 2) with T = {parsing.shape[0]}; got {landmarks.shape}"
            )
        self.parsing = parsing.astype(np.uint8, copy=False)
        self.landmarks = landmarks
        self.scheme = scheme

    @classmethod
    def from_clip(cls, clip: Any) -> GroundTruthParser:
        """From a SynthFace clip (anything with ``parsing`` and ``landmarks``)."""
        return cls(clip.parsing, clip.landmarks)

    def track(self, frames: np.ndarray | Iterable[np.ndarray]) -> FaceTrack:
        if not isinstance(frames, np.ndarray):
            frames = np.stack([_as_rgb_frame(f) for f in frames])
        frames = _as_rgb_frames(frames)
        if frames.shape[:3] != self.parsing.shape:
            raise ValueError(
                f"frames (T, H, W) = {frames.shape[:3]} do not match the ground truth's {self.parsing.shape}: "
                "the ground-truth parser only parses the clip it was made from"
            )
        t = frames.shape[0]
        return FaceTrack(
            landmarks=self.landmarks.copy(),
            detected=np.ones(t, dtype=bool),
            num_faces=np.ones(t, dtype=np.int16),
            tiny=np.zeros(t, dtype=bool),
            frame_size=(int(frames.shape[1]), int(frames.shape[2])),
            scheme=self.scheme,
        )

    def maps(self, track: FaceTrack, boxes: np.ndarray | None = None, size: int | None = None) -> np.ndarray:
        known = self.parsing[track.start : track.start + len(track)]
        if known.shape[0] != len(track):
            raise ValueError(f"track frames [{track.start}, {track.start + len(track)}) are outside the clip's {self.parsing.shape[0]}")
        if boxes is None:
            return known.copy()
        if size is None:
            raise ValueError("size is required with boxes")
        return crop_labels(known, boxes, size)


class LandmarkParser(FaceParser):
    """Real faces: MediaPipe FaceMesh landmarks rasterised into MARLIN's labels.

    Args:
        landmarker: a :class:`Landmarker` with ``scheme == "mediapipe478"`` (default: a
            :class:`MediaPipeLandmarker`, which needs the optional extra).
        min_face_size: faces smaller than this many pixels are ignored (see :func:`track_faces`).
        hair: thickness of the approximate hair band (0 = none), see :func:`mesh_regions`.
        missing: frames without a face get an all-background map (``"empty"``, MARLIN's
            convention: every patch becomes a visible candidate) or the last face's landmarks
            (``"hold"``, matching the reused crop box).
    """

    name = "landmarks"

    def __init__(
        self,
        landmarker: Landmarker | None = None,
        *,
        min_face_size: float = 24.0,
        hair: float = 0.3,
        missing: str = "empty",
    ) -> None:
        if missing not in ("empty", "hold"):
            raise ValueError(f"missing must be 'empty' or 'hold', got {missing!r}")
        self.landmarker = landmarker if landmarker is not None else MediaPipeLandmarker()
        self.min_face_size = float(min_face_size)
        self.hair = float(hair)
        self.missing = missing

    def track(self, frames: np.ndarray | Iterable[np.ndarray]) -> FaceTrack:
        return track_faces(frames, self.landmarker, min_face_size=self.min_face_size)

    def _landmarks_for_maps(self, track: FaceTrack) -> np.ndarray:
        pts = track.landmarks.astype(np.float64)
        if self.missing == "hold" and track.detected.any():
            pts = pts.copy()
            first = int(np.flatnonzero(track.detected)[0])
            pts[:first] = pts[first]
            for i in range(first + 1, len(pts)):
                if not track.detected[i]:
                    pts[i] = pts[i - 1]
        return pts

    def maps(self, track: FaceTrack, boxes: np.ndarray | None = None, size: int | None = None) -> np.ndarray:
        if track.scheme != "mediapipe478":
            raise ValueError(f"LandmarkParser draws FaceMesh landmarks ('mediapipe478'); this track is {track.scheme!r}")
        pts = self._landmarks_for_maps(track)
        if boxes is None:
            h, w = track.frame_size
            return mesh_parsing(pts, h, w, hair=self.hair)
        if size is None:
            raise ValueError("size is required with boxes")
        return mesh_parsing(to_crop_coords(pts, boxes, size), size, size, hair=self.hair)

    def close(self) -> None:
        close = getattr(self.landmarker, "close", None)
        if close is not None:
            close()


# ----------------------------------------------------------------------------------------
# The whole chain in memory
# ----------------------------------------------------------------------------------------


@dataclass
class FaceCrop:
    """A video cropped to its face, with parsing maps in crop coordinates.

    Attributes:
        frames: ``uint8 (T, S, S, 3)`` the square crops.
        parsing: ``uint8 (T, S, S)`` MARLIN's label ids.
        landmarks: ``float32 (T, K, 2)`` the kept face's landmarks in crop pixels (``NaN``
            where no face was found).
        boxes: ``float64 (T, 3)`` the crop boxes ``cx, cy, side`` in the source frames' pixels.
        track: the :class:`FaceTrack` in source pixels.
        warnings: plain-language notes (several faces, missing frames, small faces, ...).
    """

    frames: np.ndarray
    parsing: np.ndarray
    landmarks: np.ndarray
    boxes: np.ndarray
    track: FaceTrack
    warnings: list[str] = field(default_factory=list)

    @property
    def no_face_frames(self) -> np.ndarray:
        """Indices of the frames where no face was kept (their box was reused)."""
        return np.flatnonzero(~self.track.detected)


def crop_faces(
    frames: np.ndarray,
    parser: FaceParser | None = None,
    *,
    size: int = 224,
    margin: float = 1.25,
    smoothing: float = 2.0,
) -> FaceCrop:
    """Crop a video to its face and parse it, as MARLIN's preprocessing.

    Args:
        frames: ``uint8 (T, H, W, 3)`` RGB (grayscale ``(T, H, W)`` is repeated to 3 channels).
        parser: a :class:`FaceParser` (default: :class:`LandmarkParser` with MediaPipe).
        size: side of the output crops in pixels (224 in MARLIN).
        margin, smoothing: see :func:`square_boxes`.

    Returns:
        A :class:`FaceCrop`.

    Raises:
        NoFaceError: no frame has a usable face.
        FacesExtraMissingError: the default parser needs the optional extra.
    """
    frames = _as_rgb_frames(frames)
    size = _check_size(size)
    parser = parser if parser is not None else LandmarkParser()
    track = parser.track(frames)
    try:
        boxes = square_boxes(track.landmarks, track.detected, margin=margin, smoothing=smoothing)
    except NoFaceError:
        why = ""
        if track.tiny.any():
            why = f" (faces were found in {int(track.tiny.sum())} frames, but all smaller than the minimum face size)"
        raise NoFaceError(f"no usable face in any of the {len(track)} frames{why}: nothing to crop") from None
    crops = crop_frames(frames, boxes, size)
    parsing = parser.maps(track, boxes, size)
    landmarks = to_crop_coords(track.landmarks, boxes, size)
    return FaceCrop(crops, parsing, landmarks, boxes, track, track_warnings(track, size=size, boxes=boxes))


# ----------------------------------------------------------------------------------------
# Test material: a public-domain face photo, animated
# ----------------------------------------------------------------------------------------


def sample_face_photo() -> np.ndarray:
    """A real face photo that ships with an installed package: ``uint8 (600, 512, 3)``.

    It is the official U.S. Navy portrait of Rear Admiral Grace Hopper (1984), a work of the
    U.S. federal government and so in the public domain, which matplotlib ships as sample data
    (``grace_hopper.jpg``). Nothing is downloaded.

    Raises:
        FileNotFoundError: this matplotlib installation lacks its sample data (some Linux
            distributions strip it; ``pip install matplotlib`` includes it).
    """
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if not path.is_file():
        raise FileNotFoundError(
            f"matplotlib's sample photo {path} is missing; reinstall matplotlib from PyPI "
            "(pip install --force-reinstall matplotlib), whose wheel includes it"
        )
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8).copy()


def animate_photo(
    photo: np.ndarray,
    num_frames: int = 48,
    *,
    height: int = 240,
    width: int = 320,
    centre: tuple[float, float] | None = None,
    scale: float = 1.0,
    pan: float = 0.08,
    zoom: float = 0.15,
    rotation: float = 6.0,
) -> tuple[np.ndarray, np.ndarray]:
    """A short "video" made by moving a camera over a still photo: pan, zoom, small rotation.

    Frame ``t`` shows the photo turned by ``rotation * sin(2 pi t / T)`` degrees, scaled by
    ``scale * (1 + zoom * sin(pi t / T))`` and shifted along a small ellipse of ``pan`` times the
    frame's width and height, around ``centre`` (default: the photo's centre) which lands in the
    middle of the frame. Deterministic; bilinear sampling, black outside the photo.

    Args:
        photo: ``uint8 (h, w, 3)``.
        num_frames: ``T`` (>= 1).
        height, width: frame size (even, so the frames can be written as H.264).

    Returns:
        ``(frames uint8 (T, height, width, 3), transforms float64 (T, 2, 3))``: the affine
        maps from photo pixel ``(x, y, 1)`` to frame pixel ``(x, y)`` (pixel centres at integers).
    """
    photo = _as_rgb_frame(photo)
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise ValueError(f"num_frames must be an int >= 1, got {num_frames!r}")
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 2:
            raise ValueError(f"{name} must be an int >= 2, got {v!r}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale!r}")
    ph, pw = photo.shape[:2]
    cx, cy = ((pw - 1) / 2, (ph - 1) / 2) if centre is None else (float(centre[0]), float(centre[1]))
    img = Image.fromarray(photo)
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    transforms = np.empty((num_frames, 2, 3), dtype=np.float64)
    for t in range(num_frames):
        phase = t / num_frames
        s = scale * (1 + zoom * math.sin(math.pi * phase))
        a = math.radians(rotation * math.sin(2 * math.pi * phase))
        dx = pan * width * math.sin(2 * math.pi * phase)
        dy = pan * height * 0.5 * (1 - math.cos(2 * math.pi * phase))
        rot = s * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        target = np.array([(width - 1) / 2 + dx, (height - 1) / 2 + dy])
        offset = target - rot @ np.array([cx, cy])
        forward = np.concatenate([rot, offset[:, None]], axis=1)  # photo -> frame, pixel centres
        transforms[t] = forward
        # Pillow wants the inverse (frame -> photo) in pixel-edge coordinates.
        inv = np.linalg.inv(rot)
        inv_off = -inv @ offset
        # edge coords: x_e = x_c + 0.5 on both sides
        coeffs = (
            inv[0, 0], inv[0, 1], inv_off[0] + 0.5 - 0.5 * (inv[0, 0] + inv[0, 1]),
            inv[1, 0], inv[1, 1], inv_off[1] + 0.5 - 0.5 * (inv[1, 0] + inv[1, 1]),
        )
        frames[t] = np.asarray(
            img.transform((width, height), Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))
        )
    return frames, transforms


def apply_transform(points: np.ndarray, transform: np.ndarray) -> np.ndarray:
    """Apply a ``(2, 3)`` affine map (from :func:`animate_photo`) to ``(K, 2)`` points."""
    p = np.asarray(points, dtype=np.float64)
    return p @ np.asarray(transform)[:, :2].T + np.asarray(transform)[:, 2]


def synthetic_mesh(cx: float, cy: float, side: float) -> np.ndarray:
    """A schematic 478-point FaceMesh layout for a frontal face: ``float32 (478, 2)``.

    Every contour of :data:`MESH_CONTOURS` is placed on a simple shape (the oval on an
    ellipse of width ``0.8 side`` and height ``side`` centred at ``(cx, cy)``, eyes, brows,
    nose and lips at their usual places); the other points sit at the centre. It lets code
    and lessons exercise the parsing and cropping logic without MediaPipe.
    """
    pts = np.tile(np.array([cx, cy], dtype=np.float64), (MESH_POINTS, 1))
    rx, ry = 0.4 * side, 0.5 * side

    def put(name: str, xy: np.ndarray) -> None:
        pts[list(MESH_CONTOURS[name])] = xy

    n = len(MESH_CONTOURS["face_oval"])
    ang = -math.pi / 2 + 2 * math.pi * np.arange(n) / n  # from the top, turning towards image right
    put("face_oval", np.stack([cx + rx * np.cos(ang), cy + ry * np.sin(ang)], 1))

    def arc(x0: float, x1: float, y: float, bulge: float, k: int) -> np.ndarray:
        u = np.linspace(0, 1, k)
        return np.stack([x0 + (x1 - x0) * u, y - bulge * np.sin(math.pi * u)], 1)

    e = 0.18 * side  # eye half-distance from the centre line
    ey = cy - 0.08 * side
    for sign, side_name in ((-1, "right"), (1, "left")):
        outer, inner = cx + sign * (e + 0.09 * side), cx + sign * (e - 0.09 * side)
        put(f"{side_name}_eye_upper", arc(outer, inner, ey, 0.035 * side, 9))
        put(f"{side_name}_eye_lower", arc(outer, inner, ey, -0.03 * side, 9))
        by = ey - 0.1 * side
        put(f"{side_name}_brow_upper", arc(outer + sign * 0.02 * side, inner, by, 0.03 * side, 5))
        put(f"{side_name}_brow_lower", arc(outer + sign * 0.02 * side, inner, by + 0.025 * side, 0.03 * side, 5))
    put("nose_bridge", np.stack([np.full(10, cx), np.linspace(ey, cy + 0.12 * side, 10)], 1))
    ang = 2 * math.pi * np.arange(16) / 16
    put("nose_outline", np.stack([cx + 0.08 * side * np.cos(ang), cy + 0.12 * side + 0.03 * side * np.sin(ang)], 1))
    my = cy + 0.27 * side
    mr, ml = cx - 0.14 * side, cx + 0.14 * side
    put("lips_upper_outer", arc(mr, ml, my, 0.05 * side, 11))
    put("lips_lower_outer", arc(mr, ml, my, -0.06 * side, 11))
    put("lips_upper_inner", arc(mr + 0.02 * side, ml - 0.02 * side, my, 0.015 * side, 11))
    put("lips_lower_inner", arc(mr + 0.02 * side, ml - 0.02 * side, my, -0.02 * side, 11))
    return pts.astype(np.float32)
