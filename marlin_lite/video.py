"""Video input/output with PyAV: decode, seek, sample clips, write deterministic MP4s.

This is the first module of the pipeline; everything that touches a video file on disk
goes through it. Two array conventions are used throughout the package:

* **frames on disk / in NumPy**: ``uint8`` arrays of shape ``(T, H, W, 3)``, RGB:
  ``T`` frames of ``H x W`` pixels (time first, channels last, as decoders produce them);
* **model tensors**: ``float32`` torch tensors of shape ``(C, T, H, W)`` with values in
  ``[0, 1]`` (channels first, then time), or ``(B, C, T, H, W)`` for a batch.
  :func:`frames_to_tensor` and :func:`tensor_to_frames` convert between the two.

MARLIN samples **clips** of ``clip_len = 16`` frames taking every 2nd source frame
(``sample_rate = 2``), so a clip starting at frame ``start`` uses the frame indices
``start + arange(clip_len) * sample_rate`` and spans ``(clip_len - 1) * sample_rate + 1``
source frames (31 by default). Evaluation uses non-overlapping windows that step by
``clip_len * sample_rate`` source frames (32 by default), see :func:`window_indices` (which
also says what a video shorter than one window gives, as the official ``extract_video`` does).

Errors are always plain Python exceptions that name the file and say what to do:
``FileNotFoundError`` for a missing file and ``ValueError`` for everything else that is
wrong with a file (not a video, no video stream, truncated or corrupt, no frames, too
short for a clip). PyAV's own exceptions never leak out of this module.

FFmpeg's log output is silenced while this module works (PyAV's log level is set to
``None`` for the duration of each call and restored afterwards), so notebooks stay clean.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.logging
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from marlin_lite.utils import atomic_file

__all__ = [
    "Video",
    "VideoInfo",
    "probe_video",
    "resize_clips",
    "read_video",
    "read_audio",
    "AAC_RATES",
    "read_frames",
    "read_clip",
    "clip_span",
    "clip_indices",
    "window_starts",
    "window_indices",
    "WINDOW_RULES",
    "random_clip_start",
    "list_frame_files",
    "read_frame_files",
    "read_frame_folder",
    "read_frame_image",
    "stack_frames",
    "FRAME_IMAGE_EXTENSIONS",
    "write_video",
    "frames_to_tensor",
    "tensor_to_frames",
]

PathLike = str | os.PathLike[str]

#: Demuxers / decoders that FFmpeg will happily use to "play" a plain text file as a video
#: (ANSI art). A text file is not a video for our purposes, so these are rejected.
_TEXT_FORMATS = frozenset({"tty", "bin", "xbin", "adf", "idf"})
_TEXT_CODECS = frozenset({"ansi", "bintext", "xbin", "idf"})

#: Sample rates the native FFmpeg AAC encoder accepts (what :func:`write_video` can store).
AAC_RATES = _AAC_RATES = (96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350)


# ----------------------------------------------------------------------------------------
# Data classes
# ----------------------------------------------------------------------------------------


@dataclass
class Video:
    """A decoded video held in memory.

    Attributes:
        frames: ``uint8`` array ``(T, H, W, 3)``, RGB.
        fps: frame rate in frames per second (> 0).
        audio: mono ``float32`` waveform ``(S,)`` with values in ``[-1, 1]`` (stereo and
            multi-channel tracks are averaged to mono), or ``None`` when there is none.
        sample_rate: audio samples per second, or ``None`` when ``audio`` is ``None``.
        path: the file the video was read from, if any.
    """

    frames: np.ndarray
    fps: float
    audio: np.ndarray | None
    sample_rate: int | None
    path: Path | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.frames, np.ndarray) or self.frames.dtype != np.uint8:
            raise TypeError(
                f"Video.frames must be a uint8 numpy array (T, H, W, 3); got "
                f"{type(self.frames).__name__} of dtype {getattr(self.frames, 'dtype', None)}."
            )
        if self.frames.ndim != 4 or self.frames.shape[-1] != 3:
            raise ValueError(f"Video.frames must have shape (T, H, W, 3); got {self.frames.shape}.")
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"Video.fps must be a positive number; got {self.fps}.")
        if (self.audio is None) != (self.sample_rate is None):
            raise ValueError("Video.audio and Video.sample_rate must be both set or both None.")

    @property
    def num_frames(self) -> int:
        """Number of frames ``T``."""
        return int(self.frames.shape[0])

    @property
    def duration(self) -> float:
        """Video duration in seconds, ``num_frames / fps``."""
        return self.num_frames / self.fps


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns about a file without decoding its pixels.

    Attributes:
        path: the probed file.
        num_frames: number of video frames (from the container header when it states it,
            otherwise counted by demuxing packets).
        fps: average frame rate (frames per second).
        width, height: frame size in pixels.
        duration: ``num_frames / fps`` seconds (matches :attr:`Video.duration`).
        has_audio: whether the file has an audio stream.
        sample_rate: that audio stream's sample rate, or ``None``.
    """

    path: Path
    num_frames: int
    fps: float
    width: int
    height: int
    duration: float
    has_audio: bool
    sample_rate: int | None


# ----------------------------------------------------------------------------------------
# Opening files safely
# ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_av() -> Iterator[None]:
    """Silence FFmpeg's log output inside the block, then restore the previous level."""
    previous = av.logging.get_level()
    av.logging.set_level(None)
    try:
        yield
    finally:
        av.logging.set_level(previous)


def _sniff_container(path: Path) -> str | None:
    """Name the container family from the file's first bytes, or ``None`` if unknown.

    Used only to word error messages: a file that *starts* like a video but cannot be read
    is truncated or corrupt, while one that does not is simply not a video.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return None
    if len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip"):
        return "MP4/QuickTime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "Matroska/WebM"
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "AVI"
    if head.startswith(b"FLV"):
        return "FLV"
    if head.startswith(b"OggS"):
        return "Ogg"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "MPEG-PS"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "MPEG-TS"
    if head.startswith(b"YUV4MPEG2"):
        return "Y4M"
    return None


def _corrupt_error(path: Path, detail: str) -> ValueError:
    return ValueError(
        f"video file '{path}' is truncated or corrupt: {detail}. "
        "Re-download or re-export the file (a partially copied or still-being-written "
        "file looks like this)."
    )


def _check_file(path: PathLike, what: str = "video file") -> Path:
    """Turn ``path`` into a ``Path`` and check that it names an existing, non-empty file."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike; got {type(path).__name__}.")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{what} '{p}' does not exist. Check the path (cwd is '{Path.cwd()}').")
    if p.is_dir():
        raise ValueError(
            f"'{p}' is a folder, not a {what}. Pass a video file, or use read_frame_folder() "
            "for a folder of frame images."
        )
    if p.stat().st_size == 0:
        raise ValueError(f"'{p}' is empty (0 bytes): it is not a readable video file.")
    return p


@contextlib.contextmanager
def _open_video(path: Path) -> Iterator[tuple[Any, Any]]:
    """Open ``path`` for reading and yield ``(container, video_stream)``.

    Translates every way opening can fail into a clear ``ValueError``/``OSError`` and
    closes the container afterwards. Must be used inside :func:`_quiet_av`.
    """
    try:
        container = av.open(str(path), mode="r", metadata_errors="replace")
    except PermissionError as e:  # av.error.PermissionError is also a builtin one
        raise PermissionError(f"cannot read video file '{path}': permission denied.") from e
    except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
        kind = _sniff_container(path)
        if kind is not None:
            detail = f"it starts like a video ({kind}) but FFmpeg cannot parse it ({e})"
            raise _corrupt_error(path, detail) from e
        raise ValueError(
            f"'{path}' is not a readable video file (FFmpeg could not recognise its format: {e}). "
            "Pass a video such as .mp4, .mkv, .avi or .webm."
        ) from e
    try:
        if container.format.name in _TEXT_FORMATS:
            raise ValueError(
                f"'{path}' is not a readable video file: it is a text file "
                "(FFmpeg would only render it as ANSI art). Pass a real video file."
            )
        if not container.streams.video:
            found = ", ".join(sorted({s.type for s in container.streams})) or "nothing"
            raise ValueError(
                f"'{path}' has no video stream (it contains: {found}). Pass a file with a "
                "video track; an audio-only file such as .m4a/.wav cannot be used as a video."
            )
        stream = container.streams.video[0]
        if stream.codec_context is None:
            raise _corrupt_error(path, "its video stream has no usable codec (a damaged header)")
        if stream.codec_context.name in _TEXT_CODECS:
            raise ValueError(f"'{path}' is not a readable video file: it is text rendered as video.")
        yield container, stream
    finally:
        container.close()


def _audio_stream(container: Any) -> Any:
    """The first audio stream that can be decoded, or ``None`` (no audio, or a damaged audio header:
    the video is still read, without sound)."""
    for stream in container.streams.audio:
        if stream.codec_context is not None and (stream.codec_context.sample_rate or 0) > 0:
            return stream
    return None


def _stream_fps(stream: Any, path: Path) -> float:
    """Average frame rate of a video stream as a float (errors if unknown)."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return float(rate)
    raise ValueError(f"cannot determine the frame rate of '{path}'; re-encode it with a fixed frame rate.")


def _count_frames(container: Any, stream: Any, path: Path) -> int:
    """Number of frames: the header's count when present, else count demuxed packets.

    Packets are counted without decoding them (cheap). The container is seeked back to
    the start afterwards so that it can be decoded from the beginning.
    """
    if stream.frames and stream.frames > 0:
        return int(stream.frames)
    count = 0
    try:
        for packet in container.demux(stream):
            if packet.size > 0:
                count += 1
    except av.FFmpegError as e:
        raise _corrupt_error(path, f"demuxing failed after {count} packets ({e})") from e
    try:
        container.seek(0)
    except av.FFmpegError:
        pass
    return count


def _no_frames_error(path: Path) -> ValueError:
    return ValueError(f"video file '{path}' has no frames. Re-export it with at least one frame.")


# ----------------------------------------------------------------------------------------
# Probing and reading
# ----------------------------------------------------------------------------------------


def probe_video(path: PathLike) -> VideoInfo:
    """Read a video file's metadata without decoding its frames.

    Args:
        path: video file (any container FFmpeg reads: .mp4, .mkv, .avi, .webm, ...).

    Returns:
        A :class:`VideoInfo`. ``num_frames`` is the stream's declared frame count when the
        container states it (MP4, AVI), otherwise it is counted by demuxing packets.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a video, has no video stream, is truncated/corrupt or
            has no frames.
    """
    p = _check_file(path)
    with _quiet_av(), _open_video(p) as (container, stream):
        num_frames = _count_frames(container, stream, p)
        if num_frames == 0:
            raise _no_frames_error(p)
        fps = _stream_fps(stream, p)
        astream = _audio_stream(container)
        sample_rate = int(astream.codec_context.sample_rate) if astream is not None else None
        return VideoInfo(
            path=p,
            num_frames=num_frames,
            fps=fps,
            width=int(stream.codec_context.width),
            height=int(stream.codec_context.height),
            duration=num_frames / fps,
            has_audio=astream is not None,
            sample_rate=sample_rate,
        )


def _frame_to_rgb(frame: Any) -> np.ndarray:
    """Decoded ``av.VideoFrame`` -> ``uint8 (H, W, 3)`` RGB array."""
    return frame.to_ndarray(format="rgb24")


def _stack_frames(frames: list[np.ndarray], path: Path) -> np.ndarray:
    """Stack ``(H, W, 3)`` frames into ``(T, H, W, 3)``, erroring if the size changes."""
    first = frames[0].shape
    for i, f in enumerate(frames):
        if f.shape != first:
            raise ValueError(
                f"video file '{path}' changes frame size mid-stream (frame 0 is {first[1]}x{first[0]}, "
                f"frame {i} is {f.shape[1]}x{f.shape[0]}); re-encode it at a fixed size."
            )
    return np.stack(frames, axis=0)


def _check_decoded_count(decoded: int, declared: int, path: Path) -> None:
    """Raise the truncated/corrupt error if clearly fewer frames decoded than declared.

    A tolerance of 1 % (at least one frame) absorbs containers whose declared count is an
    estimate; MP4 counts are exact, and truncation usually loses far more than that.
    """
    if declared > 0:
        tolerance = max(1, round(0.01 * declared))
        if decoded < declared - tolerance:
            raise _corrupt_error(
                path, f"its header declares {declared} frames but only {decoded} could be decoded"
            )


def read_video(path: PathLike, *, audio: bool = True) -> Video:
    """Decode a whole video file (all frames, and optionally its audio).

    Args:
        path: video file.
        audio: also decode the first audio stream, if there is one. Audio is converted
            to ``float32`` at its native sample rate with ``av.AudioResampler`` and made
            mono by averaging the channels (``(L + R) / 2`` for stereo), giving values in
            ``[-1, 1]``.

    Returns:
        A :class:`Video` with ``frames`` ``uint8 (T, H, W, 3)`` RGB, ``fps``, and
        ``audio`` ``float32 (S,)`` / ``sample_rate`` (both ``None`` when the file has no
        audio or ``audio=False``).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not a video, no video stream, truncated or corrupt, or no frames.
    """
    p = _check_file(path)
    with _quiet_av(), _open_video(p) as (container, vstream):
        declared = int(vstream.frames or 0)
        astream = _audio_stream(container) if audio else None
        streams = [vstream] if astream is None else [vstream, astream]
        # Planar float at the native rate and layout; channels are averaged below. (Asking
        # swresample for layout="mono" would downmix stereo as (L + R) / sqrt(2), which is
        # not an average and can leave [-1, 1].)
        resampler = av.AudioResampler(format="fltp") if astream is not None else None

        frames: list[np.ndarray] = []
        chunks: list[np.ndarray] = []
        audio_rate: int | None = int(astream.codec_context.sample_rate) if astream is not None else None

        def take_audio(decoded: Any) -> None:
            assert resampler is not None
            for out in resampler.resample(decoded):
                planes = out.to_ndarray()  # float32 (channels, samples)
                chunks.append(planes.mean(axis=0, dtype=np.float32) if planes.shape[0] > 1 else planes[0])

        try:
            for packet in container.demux(*streams):
                for decoded in packet.decode():
                    if packet.stream.type == "video":
                        frames.append(_frame_to_rgb(decoded))
                    else:
                        take_audio(decoded)
            if resampler is not None:
                take_audio(None)
        except av.FFmpegError as e:
            raise _corrupt_error(p, f"decoding failed after {len(frames)} frames ({e})") from e

        if not frames:
            if declared > 0:
                raise _corrupt_error(p, f"its header declares {declared} frames but none could be decoded")
            raise _no_frames_error(p)
        _check_decoded_count(len(frames), declared, p)
        fps = _stream_fps(vstream, p)

        wave: np.ndarray | None = None
        if astream is not None:
            wave = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
            wave = wave.astype(np.float32, copy=False)
            np.clip(wave, -1.0, 1.0, out=wave)
        return Video(
            frames=_stack_frames(frames, p),
            fps=fps,
            audio=wave,
            sample_rate=audio_rate if astream is not None else None,
            path=p,
        )


def read_audio(path: PathLike, *, rate: int | None = None) -> tuple[np.ndarray | None, int | None]:
    """Decode only the first audio stream of a file: ``(wave, sample_rate)``.

    ``wave`` is mono ``float32 (S,)`` in ``[-1, 1]`` (the channels' average, as in
    :func:`read_video`) at the native rate, or resampled to ``rate`` Hz by
    ``av.AudioResampler`` when given. ``(None, None)`` when the file has no audio stream or it
    decodes to nothing. Cheap on long videos: no video frame is decoded.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: not a media file, or the audio is corrupt (the file is named).
    """
    p = _check_file(path, "media file")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int) or rate < 1):
        raise ValueError(f"rate must be a positive int (Hz) or None, got {rate!r}")
    with _quiet_av():
        try:
            container = av.open(str(p), mode="r", metadata_errors="replace")
        except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot open '{p}' ({e}); it is not a readable media file.") from e
        with container:
            stream = _audio_stream(container)
            if stream is None:
                return None, None
            native = int(stream.codec_context.sample_rate or 0)
            out_rate = rate or native
            resampler = av.AudioResampler(format="fltp", rate=rate) if rate else av.AudioResampler(format="fltp")
            chunks: list[np.ndarray] = []

            def take(decoded: Any) -> None:
                for out in resampler.resample(decoded):
                    planes = out.to_ndarray()  # float32 (channels, samples)
                    chunks.append(planes.mean(axis=0, dtype=np.float32) if planes.shape[0] > 1 else planes[0].copy())

            try:
                for packet in container.demux(stream):
                    for decoded in packet.decode():
                        take(decoded)
                take(None)
            except av.FFmpegError as e:
                raise _corrupt_error(p, f"decoding its audio failed ({e})") from e
    if not chunks or out_rate <= 0:
        return None, None
    wave = np.concatenate(chunks).astype(np.float32, copy=False)
    if wave.size == 0:
        return None, None
    np.clip(wave, -1.0, 1.0, out=wave)
    return wave, out_rate


def _check_int(value: Any, name: str, minimum: int) -> int:
    """Validate an integer argument (bools and floats are rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int; got {value!r} ({type(value).__name__}).")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}.")
    return int(value)


def _decode_range_linear(path: Path, start: int, count: int) -> list[np.ndarray]:
    """Decode a freshly opened file from its first frame, keeping ``[start, start + count)``.

    The slow but always-correct path: frame indices are simply decode-order positions,
    exactly as in :func:`read_video`.
    """
    out: list[np.ndarray] = []
    with _open_video(path) as (container, stream):
        for index, frame in enumerate(container.decode(stream)):
            if index >= start:
                out.append(_frame_to_rgb(frame))
                if len(out) == count:
                    break
    return out


def _decode_range_seek(
    container: Any, stream: Any, start: int, count: int, fps: float
) -> list[np.ndarray] | None:
    """Seek to the keyframe at/before ``start`` and decode forward to the wanted frames.

    Each decoded frame's index is computed from its timestamp,
    ``index = round((pts - start_time) * time_base * fps)``. Returns ``None`` when the
    timestamps cannot be trusted (missing pts, the seek landed after ``start``, or the
    indices are not consecutive), so the caller falls back to a linear decode.
    """
    time_base = stream.time_base
    if time_base is None:
        return None
    start_time = stream.start_time or 0
    rate = Fraction(fps).limit_denominator(1_000_000)
    pts_per_frame = 1 / (rate * time_base)  # a Fraction
    target = start_time + math.floor(start * pts_per_frame)
    container.seek(target, stream=stream, backward=True, any_frame=False)

    out: list[np.ndarray] = []
    expected = start
    first = True
    for frame in container.decode(stream):
        if frame.pts is None:
            return None
        index = round((frame.pts - start_time) * time_base * rate)
        if first and index > start:
            return None  # seek overshot: cannot reach `start` from here
        first = False
        if index < start:
            continue
        if index != expected:
            return None  # gap or duplicate timestamp: variable frame rate, do it linearly
        out.append(_frame_to_rgb(frame))
        expected += 1
        if len(out) == count:
            break
    return out


def _read_frames_open(container: Any, stream: Any, path: Path, start: int, count: int) -> np.ndarray:
    """Body of :func:`read_frames` on an already opened container."""
    num_frames = _count_frames(container, stream, path)
    if num_frames == 0:
        raise _no_frames_error(path)
    if start + count > num_frames:
        raise ValueError(
            f"video '{path}' has {num_frames} frames (indices 0..{num_frames - 1}); frames "
            f"[{start}, {start + count}) run past the end. Use start + count <= {num_frames}."
        )
    fps = _stream_fps(stream, path)
    try:
        frames = None
        if start > 0:
            frames = _decode_range_seek(container, stream, start, count, fps)
        if frames is None or len(frames) != count:
            frames = _decode_range_linear(path, start, count)
    except av.FFmpegError as e:
        raise _corrupt_error(path, f"decoding frames [{start}, {start + count}) failed ({e})") from e
    if len(frames) != count:
        raise _corrupt_error(
            path,
            f"its header declares {num_frames} frames but decoding stopped before frame "
            f"{start + len(frames)}",
        )
    return _stack_frames(frames, path)


def read_frames(path: PathLike, start: int, count: int) -> np.ndarray:
    """Decode the frames ``[start, start + count)`` without decoding the whole file.

    Seeks to the keyframe at or before ``start`` and decodes forward from there, using
    each frame's timestamp to know its index; frames before ``start`` are decoded (they
    must be, to reconstruct later ones) but discarded. Falls back to decoding from the
    beginning when the file's timestamps are unreliable. The result is pixel-identical to
    ``read_video(path).frames[start:start + count]``.

    Args:
        path: video file.
        start: index of the first frame (0-based, >= 0).
        count: number of frames (>= 1).

    Returns:
        ``uint8`` array ``(count, H, W, 3)``, RGB.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: bad file (see :func:`read_video`) or the window runs past the end
            (the message says how many frames the video has).
    """
    start = _check_int(start, "start", 0)
    count = _check_int(count, "count", 1)
    p = _check_file(path)
    with _quiet_av(), _open_video(p) as (container, stream):
        return _read_frames_open(container, stream, p, start, count)


def read_clip(path: PathLike, start: int = 0, clip_len: int = 16, sample_rate: int = 2) -> np.ndarray:
    """Read one MARLIN clip: frames ``start + arange(clip_len) * sample_rate``.

    Decodes only the clip's span of ``(clip_len - 1) * sample_rate + 1`` source frames
    (via :func:`read_frames`) and keeps every ``sample_rate``-th one.

    Args:
        path: video file.
        start: first source frame of the clip.
        clip_len: frames in the clip (16 in MARLIN).
        sample_rate: temporal stride between clip frames (2 in MARLIN).

    Returns:
        ``uint8`` array ``(clip_len, H, W, 3)``, RGB.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: bad file, or the video is too short for this clip (the message gives
            the numbers).
    """
    start = _check_int(start, "start", 0)
    clip_len = _check_int(clip_len, "clip_len", 1)
    sample_rate = _check_int(sample_rate, "sample_rate", 1)
    p = _check_file(path)
    with _quiet_av(), _open_video(p) as (container, stream):
        num_frames = _count_frames(container, stream, p)
        if num_frames == 0:
            raise _no_frames_error(p)
        clip_indices(num_frames, clip_len, sample_rate, start, name=str(p))  # validates
        span = clip_span(clip_len, sample_rate)
        frames = _read_frames_open(container, stream, p, start, span)
    return np.ascontiguousarray(frames[::sample_rate])


# ----------------------------------------------------------------------------------------
# Clip index helpers
# ----------------------------------------------------------------------------------------


def clip_span(clip_len: int = 16, sample_rate: int = 2) -> int:
    """Number of source frames a clip covers: ``(clip_len - 1) * sample_rate + 1`` (31)."""
    clip_len = _check_int(clip_len, "clip_len", 1)
    sample_rate = _check_int(sample_rate, "sample_rate", 1)
    return (clip_len - 1) * sample_rate + 1


def _too_short_error(num_frames: int, clip_len: int, sample_rate: int, name: str | None) -> ValueError:
    span = clip_span(clip_len, sample_rate)
    who = f"video '{name}'" if name else "the video"
    return ValueError(
        f"{who} has {num_frames} frames; a {clip_len}-frame clip at sample rate {sample_rate} "
        f"needs {span} ({num_frames} < {span}: {span - num_frames} frames short). "
        "Use a longer video, a smaller clip_len or sample_rate."
    )


def _check_clip_args(num_frames: int, clip_len: int, sample_rate: int, name: str | None) -> int:
    """Validate the common arguments; return the clip span. Raises if the video is too short."""
    num_frames = _check_int(num_frames, "num_frames", 0)
    span = clip_span(clip_len, sample_rate)
    if num_frames < span:
        raise _too_short_error(num_frames, clip_len, sample_rate, name)
    return span


def clip_indices(
    num_frames: int, clip_len: int = 16, sample_rate: int = 2, start: int = 0, *, name: str | None = None
) -> np.ndarray:
    """Source frame indices of the clip starting at ``start``.

    Args:
        num_frames: frames in the video.
        clip_len: frames in the clip.
        sample_rate: stride between clip frames.
        start: first source frame.
        name: file name used in error messages (optional).

    Returns:
        ``int64`` array ``(clip_len,)`` equal to ``start + arange(clip_len) * sample_rate``.

    Raises:
        ValueError: the video is shorter than one clip span, or the clip starting at
            ``start`` runs past the last frame.
    """
    span = _check_clip_args(num_frames, clip_len, sample_rate, name)
    start = _check_int(start, "start", 0)
    if start + span > num_frames:
        who = f"video '{name}'" if name else "the video"
        raise ValueError(
            f"{who} has {num_frames} frames; a {clip_len}-frame clip at sample rate {sample_rate} "
            f"starting at frame {start} needs frames {start}..{start + span - 1}. "
            f"Use start <= {num_frames - span}."
        )
    return start + np.arange(clip_len, dtype=np.int64) * sample_rate


def window_starts(
    num_frames: int, clip_len: int = 16, sample_rate: int = 2, *, name: str | None = None
) -> list[int]:
    """Start frames of the non-overlapping full windows of a video (``rule="full"`` of
    :func:`window_indices`, which also covers videos shorter than one window and the official rule).

    Windows step by ``clip_len * sample_rate`` source frames (32 by default): starts
    ``0, 32, 64, ...``. Only full windows are kept, i.e. those whose whole clip fits:
    ``start + (clip_len - 1) * sample_rate + 1 <= num_frames`` (the window's last, unused
    source frame need not exist). A 63-frame video gives ``[0, 32]``, a 62-frame one ``[0]``.

    Returns:
        List of ``int`` starts (at least one).

    Raises:
        ValueError: the video is too short for even one clip.
    """
    span = _check_clip_args(num_frames, clip_len, sample_rate, name)
    return list(range(0, num_frames - span + 1, clip_len * sample_rate))


#: Window rules of :func:`window_indices`: ``"official"`` (the official ``extract_video``) and
#: ``"full"`` (every full window; the course's in-memory SynthFace protocol).
WINDOW_RULES: tuple[str, ...] = ("official", "full")


def window_indices(
    num_frames: int, clip_len: int = 16, sample_rate: int = 2, *, rule: str = "official", name: str | None = None
) -> np.ndarray:
    """Source frame indices of every evaluation window of a video: ``int64 (n, clip_len)``.

    The official MARLIN ``extract_video`` rule for ``T = num_frames`` (16-frame clips at rate 2):

    * ``T <= clip_len``: one window, the whole video with its last frame repeated up to
      ``clip_len`` frames ("same" padding at the tail);
    * ``clip_len < T <= clip_len * sample_rate``: one window, the first ``clip_len`` frames at
      rate 1;
    * longer: windows every ``clip_len * sample_rate`` frames starting at
      ``range(0, T - clip_len * sample_rate, clip_len * sample_rate)`` (the bound is exclusive:
      a video of 64 frames gives 1 window, not 2), each taking every ``sample_rate``-th frame.

    ``rule="full"`` differs only for long videos: it keeps every window whose frames exist,
    ``start + (clip_len - 1) * sample_rate < T`` (64 frames: 2 windows), as the course's lessons
    window their in-memory clips. Raises ``ValueError`` for a video with no frames.
    """
    num_frames = _check_int(num_frames, "num_frames", 0)
    clip_len = _check_int(clip_len, "clip_len", 1)
    sample_rate = _check_int(sample_rate, "sample_rate", 1)
    if rule not in WINDOW_RULES:
        raise ValueError(f"rule must be one of {WINDOW_RULES}, got {rule!r}")
    if num_frames == 0:
        who = f"video '{name}'" if name else "the video"
        raise ValueError(f"{who} has no frames; check that the file decodes (marlin_lite.video.probe_video(path) lists its streams)")
    if num_frames <= clip_len:
        return np.minimum(np.arange(clip_len, dtype=np.int64), num_frames - 1)[None]
    step = clip_len * sample_rate
    if num_frames <= step and (rule == "official" or num_frames < clip_span(clip_len, sample_rate)):
        return np.arange(clip_len, dtype=np.int64)[None]
    starts = range(0, num_frames - step, step) if rule == "official" else window_starts(num_frames, clip_len, sample_rate, name=name)
    return np.stack([s + np.arange(clip_len, dtype=np.int64) * sample_rate for s in starts])


def random_clip_start(
    num_frames: int,
    clip_len: int = 16,
    sample_rate: int = 2,
    generator: torch.Generator | None = None,
    *,
    name: str | None = None,
) -> int:
    """Uniformly random clip start in ``[0, num_frames - span]`` (training-time sampling).

    Args:
        num_frames, clip_len, sample_rate: as in :func:`clip_indices`.
        generator: a seeded ``torch.Generator`` for reproducible draws (default: torch's
            global generator).
        name: file name used in error messages (optional).

    Raises:
        ValueError: the video is too short for one clip.
    """
    span = _check_clip_args(num_frames, clip_len, sample_rate, name)
    high = num_frames - span + 1
    return int(torch.randint(0, high, (1,), generator=generator).item())


# ----------------------------------------------------------------------------------------
# Frame folders (YouTube Faces layout)
# ----------------------------------------------------------------------------------------

_LAST_INT = re.compile(r"(\d+)(?!.*\d)")


#: Image files a frame folder may hold (matched case-insensitively).
FRAME_IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp")


def list_frame_files(folder: PathLike, extensions: Sequence[str] = FRAME_IMAGE_EXTENSIONS) -> list[Path]:
    """The frame images of one video folder, ordered **numerically** by the last integer in
    each file stem (so ``2`` comes before ``10``).

    YouTube Faces names frames ``<prefix><video_idx>.<frame_no>.jpg`` (e.g.
    ``aligned_detect_0.1.jpg``). Hidden files (starting with ``.``) and other extensions are
    ignored; extensions match case-insensitively.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: not a folder, no images, an image without a frame number, or two images
            with the same frame number (each named).
    """
    if not isinstance(folder, (str, os.PathLike)):
        raise TypeError(f"folder must be a str or os.PathLike; got {type(folder).__name__}.")
    root = Path(folder)
    if not root.exists():
        raise FileNotFoundError(f"frame folder '{root}' does not exist. Check the path.")
    if not root.is_dir():
        raise ValueError(f"'{root}' is not a folder; a video's frames are read from a folder of frame images.")
    exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
    numbered: list[tuple[int, str, Path]] = []
    for f in root.iterdir():
        if f.name.startswith(".") or f.suffix.lower() not in exts or not f.is_file():
            continue
        m = _LAST_INT.search(f.stem)
        if m is None:
            raise ValueError(
                f"cannot order frame '{f}': its name has no frame number. Name frames like "
                "'1.jpg' or '<video>.<frame>.jpg' (YouTube Faces), or move other images out of the folder."
            )
        numbered.append((int(m.group(1)), f.name, f))
    if not numbered:
        raise ValueError(f"frame folder '{root}' has no images with extensions {sorted(exts)}. Check the folder, or pass extensions=.")
    numbered.sort()
    for (a, _, fa), (b, _, fb) in zip(numbered, numbered[1:]):
        if a == b:
            raise ValueError(
                f"frames '{fa}' and '{fb}' have the same frame number {a}; the folder seems to mix "
                "videos. Keep one video per folder."
            )
    return [f for _, _, f in numbered]


def read_frame_image(path: PathLike) -> np.ndarray:
    """One frame image -> ``uint8 (H, W, 3)`` RGB (grayscale / RGBA / palette converted).
    ``FileNotFoundError`` for a missing file, ``ValueError`` naming a corrupt one."""
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except FileNotFoundError as e:
        raise FileNotFoundError(f"frame image '{path}' does not exist any more.") from e
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"cannot read image '{path}' ({e}); it is not a valid image or is corrupt.") from e


def stack_frames(frames: Sequence[np.ndarray], files: Sequence[PathLike]) -> np.ndarray:
    """Decoded frames (``(H, W, 3)`` each, read from ``files``) -> ``uint8 (T, H, W, 3)``;
    ``ValueError`` naming the first frame whose size differs from the first one's."""
    for f, arr in zip(files, frames):
        if arr.shape != frames[0].shape:
            raise ValueError(
                f"image '{f}' is {arr.shape[1]}x{arr.shape[0]} but '{files[0]}' is "
                f"{frames[0].shape[1]}x{frames[0].shape[0]}; all frames of a video must have the same size."
            )
    return np.stack(frames, axis=0)


def read_frame_files(files: Sequence[PathLike]) -> np.ndarray:
    """Frame images, in this order -> ``uint8 (len(files), H, W, 3)`` RGB."""
    files = list(files)
    return stack_frames([read_frame_image(f) for f in files], files)


def read_frame_folder(folder: PathLike, *, extensions: Sequence[str] = FRAME_IMAGE_EXTENSIONS) -> np.ndarray:
    """Read a folder of frame images as a video, ordered by frame number
    (:func:`list_frame_files`, then :func:`read_frame_files`).

    Args:
        folder: the folder holding one video's frames.
        extensions: image file extensions to read.

    Returns:
        ``uint8`` array ``(T, H, W, 3)``, RGB.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: not a folder, no images, an image without a frame number, two images
            with the same frame number, an unreadable image, or images of different sizes.
    """
    return read_frame_files(list_frame_files(folder, extensions))


# ----------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------


def _prepare_frames(frames: Any) -> np.ndarray:
    """Validate ``frames`` for writing and return them as contiguous ``uint8 (T, H, W, 3)``."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    if not isinstance(frames, np.ndarray):
        raise TypeError(f"frames must be a numpy array (T, H, W, 3); got {type(frames).__name__}.")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape (T, H, W, 3) (RGB, channels last); got {frames.shape}.")
    t, h, w, _ = frames.shape
    if t == 0:
        raise ValueError("frames is empty (T = 0); a video needs at least one frame.")
    if h % 2 or w % 2:
        raise ValueError(
            f"frame size {w}x{h} (width x height) has an odd side; H.264 with yuv420p needs even "
            "width and height. Crop or pad the frames by one pixel."
        )
    if frames.dtype == np.uint8:
        return np.ascontiguousarray(frames)
    if np.issubdtype(frames.dtype, np.floating):
        if not np.all(np.isfinite(frames)):
            raise ValueError("float frames contain NaN or inf; expected values in [0, 1].")
        lo, hi = float(frames.min()), float(frames.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(
                f"float frames must be in [0, 1]; got values in [{lo:.4g}, {hi:.4g}]. "
                "Divide by 255 or clip them first."
            )
        return np.ascontiguousarray(np.round(frames * 255.0).astype(np.uint8))
    raise TypeError(
        f"frames must be uint8 (0..255) or float in [0, 1]; got dtype {frames.dtype}. Convert them first."
    )


def _prepare_audio(audio: Any, sample_rate: Any) -> tuple[np.ndarray | None, int | None]:
    """Validate the optional audio track; return ``(float32 (S,), rate)`` or ``(None, None)``."""
    if audio is None:
        if sample_rate is not None:
            raise ValueError("sample_rate was given but audio is None; pass both or neither.")
        return None, None
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    if not isinstance(audio, np.ndarray) or not np.issubdtype(audio.dtype, np.floating):
        raise TypeError(
            "audio must be a float numpy array (S,) with values in [-1, 1] (for int16 PCM, "
            f"divide by 32768); got {type(audio).__name__} {getattr(audio, 'dtype', '')}."
        )
    if audio.ndim != 1:
        raise ValueError(
            f"audio must be mono with shape (S,); got {audio.shape}. Average the channels first."
        )
    if audio.size == 0:
        raise ValueError("audio is empty; pass audio=None for a silent video.")
    if not np.all(np.isfinite(audio)):
        raise ValueError("audio contains NaN or inf.")
    peak = float(np.abs(audio).max())
    if peak > 1.0:
        raise ValueError(f"audio must be in [-1, 1]; its peak is {peak:.4g}. Normalise or clip it first.")
    if sample_rate is None:
        raise ValueError("audio was given without sample_rate; pass sample_rate= (e.g. 16000).")
    sample_rate = _check_int(sample_rate, "sample_rate", 1)
    if sample_rate not in _AAC_RATES:
        raise ValueError(f"AAC cannot encode sample_rate={sample_rate}; use one of {list(_AAC_RATES)}.")
    return np.ascontiguousarray(audio, dtype=np.float32), sample_rate


def _rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """Convert one RGB frame to planar YUV 4:2:0 (I420), BT.601 limited range.

    Done in NumPy (float64, then round-half-up) rather than by FFmpeg's swscale so that the
    encoder input is identical on every machine: swscale picks CPU-specific SIMD code.

    Args:
        rgb: ``uint8 (H, W, 3)`` with even ``H`` and ``W``.

    Returns:
        ``uint8 (H * 3 // 2, W)``: the ``Y`` plane ``(H, W)``, then the ``U`` and ``V``
        planes ``(H/2, W/2)`` each, concatenated flat and viewed as rows of width ``W``
        (the layout ``av.VideoFrame.from_ndarray(..., format="yuv420p")`` expects).
    """
    h, w, _ = rgb.shape
    x = rgb.astype(np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 16.0 + (219.0 / 255.0) * (0.299 * r + 0.587 * g + 0.114 * b)
    # Chroma is sampled once per 2x2 block: average the block's RGB first (the transform
    # is linear, so this equals averaging the chroma values).
    blocks = x.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    rb, gb, bb = blocks[..., 0], blocks[..., 1], blocks[..., 2]
    u = 128.0 + (224.0 / 255.0) * (-0.168736 * rb - 0.331264 * gb + 0.5 * bb)
    v = 128.0 + (224.0 / 255.0) * (0.5 * rb - 0.418688 * gb - 0.081312 * bb)

    def to_u8(a: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(a + 0.5), 0, 255).astype(np.uint8)

    planes = np.concatenate([to_u8(y).ravel(), to_u8(u).ravel(), to_u8(v).ravel()])
    return planes.reshape(h * 3 // 2, w)


def _x264_params() -> str:
    """x264 settings that make its output reproducible.

    x264's hand-written SIMD beyond SSE2 is not always bit-identical to its C code (so
    output would depend on the CPU), and some of it (the AVX2/AVX-512 macroblock-tree
    code) was observed to read uninitialised memory, giving different bytes from run to
    run. On x86 we therefore allow only SSE2 assembly (present on every x86-64 CPU and
    bit-identical to the C code); elsewhere assembly is turned off.
    """
    machine = platform.machine().lower()
    return "asm=SSE2" if machine in ("x86_64", "amd64", "x86", "i386", "i686") else "asm=0"


def _audio_frame(chunk: np.ndarray, sample_rate: int, pts: int) -> Any:
    frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="mono")
    frame.sample_rate = sample_rate
    frame.pts = pts
    frame.time_base = Fraction(1, sample_rate)
    return frame


def write_video(
    path: PathLike,
    frames: np.ndarray,
    fps: float,
    *,
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
    crf: int = 18,
    gop_size: int | None = None,
) -> Path:
    """Write frames (and optional mono audio) to an H.264 MP4, atomically and reproducibly.

    Video is encoded with libx264 (``yuv420p``, constant quality ``crf``); audio, if
    given, with FFmpeg's native AAC encoder as a mono track. The file is first written to
    a temporary file in the same folder and then moved into place with ``os.replace``, so
    readers never see a half-written file.

    The output is byte-for-byte reproducible (useful for committed data samples: compare
    SHA-256 hashes): encoding is single-threaded, FFmpeg's ``bitexact`` flags are set, no
    creation time is stored, RGB -> YUV conversion is done in NumPy (:func:`_rgb_to_yuv420p`)
    and x264 is limited to assembly that matches its C code (:func:`_x264_params`). Same
    inputs + same PyAV wheel give the same bytes run after run; the video track should
    also match on any x86-64 CPU. FFmpeg's AAC encoder picks CPU-specific FFT code, so a
    file *with audio* is only guaranteed identical on the same kind of CPU, and a
    different PyAV/FFmpeg/x264 version or architecture (e.g. ARM) may give other bytes.

    Args:
        path: output file; must end in ``.mp4``. Missing parent folders are created.
        frames: ``uint8 (T, H, W, 3)`` RGB, or float in ``[0, 1]`` (converted with
            rounding). ``H`` and ``W`` must be even (a yuv420p requirement).
        fps: frame rate (> 0), e.g. 25 or 30000/1001.
        audio: optional mono ``float (S,)`` waveform in ``[-1, 1]``.
        sample_rate: audio sample rate; required with ``audio`` (an AAC rate, e.g. 16000).
        crf: x264 quality, 0 (lossless) .. 51 (worst); 18 is visually near-lossless.
        gop_size: keyframe interval in frames (x264 default when ``None``). Small values
            make seeking cheaper and files larger.

    Returns:
        The written path.

    Raises:
        TypeError / ValueError: invalid frames, fps, audio, crf, gop_size or path.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike; got {type(path).__name__}.")
    out = Path(path)
    if out.suffix.lower() != ".mp4":
        raise ValueError(f"write_video() writes MP4 files; '{out}' should end in .mp4.")
    if out.is_dir():
        raise ValueError(f"'{out}' is a folder; pass a file path ending in .mp4.")
    data = _prepare_frames(frames)
    if isinstance(fps, bool) or not isinstance(fps, (int, float, Fraction, np.integer, np.floating)):
        raise TypeError(f"fps must be a number; got {fps!r}.")
    if not (math.isfinite(float(fps)) and float(fps) > 0):
        raise ValueError(f"fps must be a positive finite number; got {fps}.")
    crf = _check_int(crf, "crf", 0)
    if crf > 51:
        raise ValueError(f"crf must be in 0..51; got {crf}.")
    if gop_size is not None:
        gop_size = _check_int(gop_size, "gop_size", 1)
    wave, rate_hz = _prepare_audio(audio, sample_rate)

    rate = _fps_fraction(fps)
    n, h, w, _ = data.shape
    try:
        with atomic_file(out, suffix=".mp4") as tmp, _quiet_av():  # .mp4: PyAV picks the container by it
            _encode_mp4(tmp, data, rate, wave, rate_hz, crf, gop_size)
    except PermissionError as e:  # also av.error.PermissionError
        raise PermissionError(f"cannot write '{out}': permission denied for folder '{out.parent}'.") from e
    except av.FFmpegError as e:
        raise ValueError(f"FFmpeg failed to write '{out}': {e}") from e
    return out


def _fps_fraction(fps: float | Fraction) -> Fraction:
    """Exact frame rate for the encoder: ``Fraction`` inputs as is, floats snapped to a
    small denominator (29.97002997 -> 30000/1001, 12.5 -> 25/2) when that is within 0.01 %."""
    if isinstance(fps, Fraction):
        return fps
    value = float(fps)
    rate = Fraction(value).limit_denominator(1001)
    if rate <= 0 or abs(float(rate) - value) > 1e-4 * value:
        rate = Fraction(value).limit_denominator(1_000_000)
    return rate


def _encode_mp4(
    tmp: Path,
    data: np.ndarray,
    rate: Fraction,
    wave: np.ndarray | None,
    rate_hz: int | None,
    crf: int,
    gop_size: int | None,
) -> None:
    """Encode ``data`` (and ``wave``) into ``tmp``; see :func:`write_video`."""
    n, h, w, _ = data.shape
    with av.open(
        str(tmp), mode="w", format="mp4", options={"fflags": "+bitexact", "movflags": "+faststart"}
    ) as container:
        vstream = container.add_stream(
            "libx264", rate=rate, options={"crf": str(crf), "preset": "medium", "x264-params": _x264_params()}
        )
        vstream.width = w
        vstream.height = h
        vstream.pix_fmt = "yuv420p"
        vctx = vstream.codec_context
        vctx.colorspace = 6  # AVCOL_SPC_SMPTE170M: the BT.601 matrix used by _rgb_to_yuv420p
        vctx.color_range = 1  # AVCOL_RANGE_MPEG: limited ("TV") range, Y in 16..235
        vctx.time_base = 1 / rate
        vctx.thread_count = 1
        vctx.thread_type = "NONE"
        vctx.flags |= av.codec.context.Flags.bitexact
        if gop_size is not None:
            vctx.gop_size = gop_size

        astream = None
        if wave is not None:
            assert rate_hz is not None
            astream = container.add_stream("aac", rate=rate_hz)
            astream.layout = "mono"
            actx = astream.codec_context
            actx.thread_count = 1
            actx.flags |= av.codec.context.Flags.bitexact

        sent = 0  # audio samples handed to the encoder so far
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(_rgb_to_yuv420p(data[i]), format="yuv420p")
            frame.pts = i
            for packet in vstream.encode(frame):
                container.mux(packet)
            if astream is not None:
                # Interleave: feed the audio that plays up to the end of this frame.
                upto = len(wave) if i == n - 1 else min(len(wave), round((i + 1) * rate_hz / rate))
                if upto > sent:
                    for packet in astream.encode(_audio_frame(wave[sent:upto], rate_hz, sent)):
                        container.mux(packet)
                    sent = upto
        for packet in vstream.encode(None):
            container.mux(packet)
        if astream is not None:
            for packet in astream.encode(None):
                container.mux(packet)


# ----------------------------------------------------------------------------------------
# NumPy frames <-> model tensors
# ----------------------------------------------------------------------------------------


def resize_clips(clips: torch.Tensor, size: int) -> torch.Tensor:
    """The one resize of the package: ``float32 (..., 3, T, H, W) -> (..., 3, T, size, size)``.

    Every frame is resized on its own (bilinear, antialiased, ``align_corners=False``) and the
    values are clamped back to [0, 1]; a clip already ``size x size`` is returned as it is.
    Leading dimensions (a batch, windows) are kept.
    """
    if clips.dim() < 4:
        raise ValueError(f"clips must be (..., 3, T, H, W), got shape {tuple(clips.shape)}")
    *lead, c, t, h, w = clips.shape
    if (h, w) == (size, size):
        return clips
    frames = clips.reshape(-1, c, t, h, w).transpose(1, 2).reshape(-1, c, h, w)
    out = F.interpolate(frames, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.reshape(-1, t, c, size, size).transpose(1, 2).reshape(*lead, c, t, size, size).clamp_(0, 1).contiguous()


def frames_to_tensor(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Frames ``(T, H, W, 3)`` -> model tensor ``float32 (C, T, H, W)`` in ``[0, 1]``.

    A batch ``(B, T, H, W, 3)`` becomes ``(B, C, T, H, W)``. ``uint8`` input is divided
    by 255; float input must already be in ``[0, 1]``.
    """
    x: Any = frames
    if isinstance(frames, np.ndarray):
        arr = np.ascontiguousarray(frames)
        x = torch.from_numpy(arr if arr.flags.writeable else arr.copy())
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"frames must be a numpy array or torch tensor; got {type(frames).__name__}.")
    if x.ndim not in (4, 5) or x.shape[-1] != 3:
        raise ValueError(
            "frames must have shape (T, H, W, 3) or (B, T, H, W, 3) (RGB, channels last); "
            f"got {tuple(x.shape)}."
        )
    if x.dtype == torch.uint8:
        x = x.to(torch.float32) / 255.0
    elif x.is_floating_point():
        x = x.to(torch.float32)
        if x.numel() and (not torch.isfinite(x).all() or x.min() < 0 or x.max() > 1):
            raise ValueError("float frames must be finite and in [0, 1]; divide uint8-range values by 255.")
    else:
        raise TypeError(f"frames must be uint8 or float in [0, 1]; got dtype {x.dtype}.")
    perm = (3, 0, 1, 2) if x.ndim == 4 else (0, 4, 1, 2, 3)
    return x.permute(*perm).contiguous()


def tensor_to_frames(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Model tensor ``(C, T, H, W)`` in ``[0, 1]`` -> frames ``uint8 (T, H, W, 3)``.

    The inverse of :func:`frames_to_tensor`: values are clipped to ``[0, 1]``, scaled by
    255 and rounded. A batch ``(B, C, T, H, W)`` becomes ``(B, T, H, W, 3)``. Tensors on
    any device or with gradients are accepted (they are detached and moved to the CPU).
    """
    t: Any = torch.from_numpy(np.array(x)) if isinstance(x, np.ndarray) else x
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"x must be a torch tensor or numpy array; got {type(x).__name__}.")
    if t.ndim not in (4, 5) or t.shape[-4] != 3:
        raise ValueError(f"x must have shape (3, T, H, W) or (B, 3, T, H, W); got {tuple(t.shape)}.")
    t = t.detach().cpu()
    if t.dtype != torch.uint8:
        if not t.is_floating_point():
            raise TypeError(f"x must be a float tensor in [0, 1] (or uint8); got dtype {t.dtype}.")
        t = torch.round(t.to(torch.float32).clamp(0.0, 1.0) * 255.0).to(torch.uint8)
    perm = (1, 2, 3, 0) if t.ndim == 4 else (0, 2, 3, 4, 1)
    return np.ascontiguousarray(t.permute(*perm).numpy())
