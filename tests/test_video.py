"""Tests for marlin_lite.video: PyAV reading/writing, seeking, clip sampling, bad inputs.

Every file is generated in pytest's ``tmp_path``; the videos are tiny (at most 64x64 pixels, 70
frames) so the whole module runs in a few seconds.
"""

from __future__ import annotations

import hashlib
import random
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from marlin_lite import video as V
from marlin_lite.video import (
    Video,
    VideoInfo,
    clip_indices,
    clip_span,
    frames_to_tensor,
    probe_video,
    random_clip_start,
    read_clip,
    read_frame_folder,
    read_frames,
    read_video,
    tensor_to_frames,
    window_starts,
    write_video,
)

FPS = 25
SR = 16000


# ----------------------------------------------------------------------------------------
# Helpers and fixtures
# ----------------------------------------------------------------------------------------


def smooth_frames(t: int = 40, h: int = 48, w: int = 64) -> np.ndarray:
    """Smooth, moving colour gradients: uint8 (T, H, W, 3), easy for H.264 to compress."""
    tt = np.arange(t)[:, None, None]
    yy = np.arange(h)[None, :, None]
    xx = np.arange(w)[None, None, :]
    r = 128 + 90 * np.sin(2 * np.pi * (xx / w + tt / 40))
    g = 128 + 90 * np.cos(2 * np.pi * (yy / h + tt / 25))
    b = 128 + 60 * np.sin(2 * np.pi * (xx + yy) / 80 + tt / 10)
    out = np.stack(np.broadcast_arrays(r, g, b), axis=-1)
    return np.round(out).astype(np.uint8)


def sine(freq: float = 440.0, seconds: float = 1.6, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_raw_mp4(path: Path, frames: np.ndarray, *, faststart: bool = False) -> Path:
    """Write an MP4 with plain PyAV (moov atom at the end unless faststart)."""
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format="mp4", options=options) as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        s.codec_context.gop_size = 5
        for f in frames:
            for pkt in s.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    return path


def assert_clear_error(info: pytest.ExceptionInfo[BaseException], name: str) -> None:
    """The error names the file and is ours, not a leaked PyAV exception.

    (``av.FFmpegError`` subclasses ``ValueError``, so ``pytest.raises(ValueError)`` alone
    would not notice a leak.)
    """
    assert name in str(info.value), str(info.value)
    assert not isinstance(info.value, av.FFmpegError), repr(info.value)
    assert type(info.value).__module__ == "builtins", repr(info.value)


@pytest.fixture(scope="module")
def gop_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray]:
    """70 smooth frames with a keyframe every 8 frames (several GOPs), no audio."""
    frames = smooth_frames(70)
    path = write_video(tmp_path_factory.mktemp("gop") / "gop.mp4", frames, FPS, gop_size=8)
    return path, frames


@pytest.fixture(scope="module")
def av_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, np.ndarray, np.ndarray]:
    """40 frames + a 1.6 s 440 Hz sine track at 16 kHz."""
    frames = smooth_frames(40)
    audio = sine(seconds=40 / FPS)
    path = write_video(tmp_path_factory.mktemp("av") / "speech.mp4", frames, FPS, audio=audio, sample_rate=SR)
    return path, frames, audio


# ----------------------------------------------------------------------------------------
# Write -> read roundtrip
# ----------------------------------------------------------------------------------------


def test_write_read_roundtrip(gop_video: tuple[Path, np.ndarray]) -> None:
    path, frames = gop_video
    video = read_video(path)
    assert isinstance(video, Video)
    assert video.frames.dtype == np.uint8
    assert video.frames.shape == frames.shape
    assert video.fps == pytest.approx(FPS)
    assert video.num_frames == 70
    assert video.duration == pytest.approx(70 / FPS)
    assert video.audio is None and video.sample_rate is None
    assert video.path == path
    err = np.abs(video.frames.astype(np.int16) - frames.astype(np.int16))
    assert err.mean() < 4.0, err.mean()  # crf 18, smooth content: only small chroma loss


def test_probe_video(av_video: tuple[Path, np.ndarray, np.ndarray]) -> None:
    path, frames, _ = av_video
    info = probe_video(path)
    assert isinstance(info, VideoInfo)
    assert (info.num_frames, info.height, info.width) == frames.shape[:3]
    assert info.fps == pytest.approx(FPS)
    assert info.duration == pytest.approx(len(frames) / FPS)
    assert info.has_audio and info.sample_rate == SR
    assert info.path == path


@pytest.mark.parametrize(("h", "w"), [(18, 22), (2, 2), (30, 64)])
def test_roundtrip_small_and_unusual_sizes(tmp_path: Path, h: int, w: int) -> None:
    # H = 2 (mod 4) exercises the chroma plane layout; 2x2 is a single chroma sample, so
    # that frame gets one colour.
    frames = smooth_frames(5, h, w) if h > 2 else np.full((5, 2, 2, 3), (200, 60, 90), np.uint8)
    video = read_video(write_video(tmp_path / f"{h}x{w}.mp4", frames, FPS))
    assert video.frames.shape == frames.shape
    assert np.abs(video.frames.astype(np.int16) - frames).mean() < 12


def test_float_frames_are_converted(tmp_path: Path) -> None:
    frames = smooth_frames(6)
    as_float = frames.astype(np.float32) / 255.0
    a = write_video(tmp_path / "u8.mp4", frames, FPS)
    b = write_video(tmp_path / "f32.mp4", as_float, FPS)
    assert sha256(a) == sha256(b)


def test_fractional_fps(tmp_path: Path) -> None:
    path = write_video(tmp_path / "ntsc.mp4", smooth_frames(8), Fraction(30000, 1001))
    assert read_video(path).fps == pytest.approx(30000 / 1001)


# ----------------------------------------------------------------------------------------
# Audio
# ----------------------------------------------------------------------------------------


def test_audio_roundtrip(av_video: tuple[Path, np.ndarray, np.ndarray]) -> None:
    path, _, audio = av_video
    video = read_video(path)
    assert video.sample_rate == SR
    out = video.audio
    assert out is not None and out.dtype == np.float32 and out.ndim == 1
    assert np.abs(out).max() <= 1.0
    # AAC works in 1024-sample frames: the decoded track may be padded by < 1 frame.
    assert len(audio) <= len(out) < len(audio) + 1024
    # Same loudness and pitch.
    rms_in, rms_out = np.sqrt(np.mean(audio**2)), np.sqrt(np.mean(out[: len(audio)] ** 2))
    assert rms_out == pytest.approx(rms_in, rel=0.05)
    spectrum = np.abs(np.fft.rfft(out[: len(audio)]))
    peak_hz = np.fft.rfftfreq(len(audio), 1 / SR)[np.argmax(spectrum)]
    assert abs(peak_hz - 440) < 2
    # Strongly correlated once aligned for any leftover encoder delay (searched within
    # half a period of the sine so the alignment is unambiguous).
    core = audio[2048:-2048]
    best = max(
        np.corrcoef(core, out[2048 + lag : 2048 + lag + len(core)])[0, 1] for lag in range(-18, 19)
    )
    assert best > 0.98


def test_audio_can_be_skipped(av_video: tuple[Path, np.ndarray, np.ndarray]) -> None:
    video = read_video(av_video[0], audio=False)
    assert video.audio is None and video.sample_rate is None
    assert video.num_frames == 40


def test_stereo_audio_is_averaged_to_mono(tmp_path: Path) -> None:
    left = sine(seconds=1.0)
    right = 0.5 * left
    path = tmp_path / "stereo.mp4"
    frames = smooth_frames(25, 32, 32)
    with av.open(str(path), "w", format="mp4") as c:
        vs = c.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = 32, 32, "yuv420p"
        aus = c.add_stream("aac", rate=SR)
        aus.layout = "stereo"
        for f in frames:
            for pkt in vs.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                c.mux(pkt)
        for pkt in vs.encode():
            c.mux(pkt)
        af = av.AudioFrame.from_ndarray(np.stack([left, right]), format="fltp", layout="stereo")
        af.sample_rate = SR
        for pkt in aus.encode(af):
            c.mux(pkt)
        for pkt in aus.encode(None):
            c.mux(pkt)
    out = read_video(path).audio
    assert out is not None and out.ndim == 1
    expected_rms = np.sqrt(np.mean((0.75 * left) ** 2))  # mean of L and R = 0.75 * left
    assert np.sqrt(np.mean(out[: len(left)] ** 2)) == pytest.approx(expected_rms, rel=0.05)


def test_read_audio_matches_read_video_and_resamples(av_video: tuple[Path, np.ndarray, np.ndarray], tmp_path: Path) -> None:
    path, _, audio = av_video
    wave, rate = V.read_audio(path)
    full = read_video(path)
    assert rate == SR and wave is not None and np.array_equal(wave, full.audio)
    half, half_rate = V.read_audio(path, rate=SR // 2)
    assert half_rate == SR // 2 and half is not None and abs(len(half) - len(wave) / 2) < 64
    spectrum = np.abs(np.fft.rfft(half[: len(audio) // 2]))
    assert abs(np.fft.rfftfreq(len(audio) // 2, 2 / SR)[np.argmax(spectrum)] - 440) < 4  # same pitch
    silent = write_video(tmp_path / "silent.mp4", smooth_frames(8), FPS)
    assert V.read_audio(silent) == (None, None)
    with pytest.raises(FileNotFoundError):
        V.read_audio(tmp_path / "missing.mp4")
    with pytest.raises(ValueError, match="rate must be a positive int"):
        V.read_audio(path, rate=0)


# ----------------------------------------------------------------------------------------
# Seeking
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "count"),
    [(0, 5), (1, 3), (7, 2), (8, 1), (9, 8), (15, 10), (16, 16), (23, 31), (31, 9), (50, 20), (69, 1)],
)
def test_read_frames_equals_read_video_slice(
    gop_video: tuple[Path, np.ndarray], start: int, count: int
) -> None:
    path, _ = gop_video
    full = read_video(path, audio=False).frames
    got = read_frames(path, start, count)
    assert got.shape == (count, *full.shape[1:]) and got.dtype == np.uint8
    np.testing.assert_array_equal(got, full[start : start + count])


def test_read_frames_uses_seeking(
    gop_video: tuple[Path, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """For a start past the first GOP only frames from the nearest keyframe are decoded."""
    path, _ = gop_video
    converted = []
    original = V._frame_to_rgb
    monkeypatch.setattr(V, "_frame_to_rgb", lambda f: converted.append(f.pts) or original(f))
    monkeypatch.setattr(V, "_decode_range_linear", lambda *a: pytest.fail("fell back to linear decoding"))
    read_frames(path, 50, 4)
    assert len(converted) == 4


def test_read_frames_past_end(gop_video: tuple[Path, np.ndarray]) -> None:
    path, _ = gop_video
    with pytest.raises(ValueError, match="has 70 frames") as info:
        read_frames(path, 65, 10)
    assert_clear_error(info, path.name)


def test_read_frames_argument_checks(gop_video: tuple[Path, np.ndarray]) -> None:
    path, _ = gop_video
    with pytest.raises(ValueError, match="start"):
        read_frames(path, -1, 3)
    with pytest.raises(ValueError, match="count"):
        read_frames(path, 0, 0)
    with pytest.raises(TypeError, match="start"):
        read_frames(path, 1.5, 3)  # type: ignore[arg-type]


def test_read_clip(gop_video: tuple[Path, np.ndarray]) -> None:
    path, _ = gop_video
    full = read_video(path).frames
    clip = read_clip(path, start=11)
    assert clip.shape == (16, *full.shape[1:])
    np.testing.assert_array_equal(clip, full[11 : 11 + 31 : 2])
    np.testing.assert_array_equal(read_clip(path, 3, clip_len=4, sample_rate=3), full[[3, 6, 9, 12]])


def test_read_clip_too_short(tmp_path: Path) -> None:
    path = write_video(tmp_path / "short.mp4", smooth_frames(20, 16, 16), FPS)
    with pytest.raises(ValueError) as info:
        read_clip(path)
    assert_clear_error(info, "short.mp4")
    msg = str(info.value)
    assert "has 20 frames" in msg and "needs 31" in msg and "11 frames short" in msg


def test_read_clip_start_too_late(gop_video: tuple[Path, np.ndarray]) -> None:
    path, _ = gop_video
    with pytest.raises(ValueError, match="start <= 39") as info:
        read_clip(path, start=40)
    assert_clear_error(info, path.name)


# ----------------------------------------------------------------------------------------
# Clip index helpers
# ----------------------------------------------------------------------------------------


def test_clip_indices() -> None:
    idx = clip_indices(100, start=5)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx, 5 + 2 * np.arange(16))
    np.testing.assert_array_equal(clip_indices(31), np.arange(0, 31, 2))
    np.testing.assert_array_equal(clip_indices(10, clip_len=4, sample_rate=3), [0, 3, 6, 9])
    assert clip_span() == 31 and clip_span(8, 1) == 8


def test_clip_indices_too_short_message() -> None:
    with pytest.raises(ValueError) as info:
        clip_indices(20, name="x.mp4")
    assert str(info.value) == (
        "video 'x.mp4' has 20 frames; a 16-frame clip at sample rate 2 needs 31 "
        "(20 < 31: 11 frames short). Use a longer video, a smaller clip_len or sample_rate."
    )
    with pytest.raises(ValueError, match="start <= 69"):
        clip_indices(100, start=70)


def test_window_starts() -> None:
    assert window_starts(31) == [0]
    assert window_starts(62) == [0]
    assert window_starts(63) == [0, 32]
    assert window_starts(100) == [0, 32, 64]
    assert window_starts(20, clip_len=4, sample_rate=1) == [0, 4, 8, 12, 16]
    for n in (31, 50, 95, 96, 200):
        starts = window_starts(n)
        assert all(b - a == 32 for a, b in zip(starts, starts[1:]))
        assert starts[-1] + clip_span() <= n < starts[-1] + 32 + clip_span()
    with pytest.raises(ValueError, match="'clip.mp4' has 30 frames"):
        window_starts(30, name="clip.mp4")


def test_random_clip_start_reproducible_and_in_range() -> None:
    draws = [random_clip_start(40, generator=torch.Generator().manual_seed(7)) for _ in range(3)]
    assert len(set(draws)) == 1
    gen = torch.Generator().manual_seed(0)
    starts = [random_clip_start(40, generator=gen) for _ in range(500)]
    assert min(starts) == 0 and max(starts) == 40 - 31  # both ends reachable, never past
    assert random_clip_start(31) == 0
    with pytest.raises(ValueError, match="'a.mp4' has 30 frames"):
        random_clip_start(30, name="a.mp4")


# ----------------------------------------------------------------------------------------
# Frame folders
# ----------------------------------------------------------------------------------------


def _write_folder(folder: Path, names: list[str], size: tuple[int, int] = (20, 16)) -> dict[str, int]:
    """Write one solid-colour image per name (value = frame number * 10); shuffled order."""
    folder.mkdir(parents=True, exist_ok=True)
    values = {}
    order = list(names)
    random.Random(3).shuffle(order)
    for name in order:
        number = int(Path(name).stem.split(".")[-1])
        values[name] = number * 10
        Image.new("RGB", size, (number * 10, 0, 255 - number * 10)).save(folder / name)
    return values


def test_read_frame_folder_numeric_order(tmp_path: Path) -> None:
    _write_folder(tmp_path / "plain", ["10.png", "1.png", "2.png"])
    frames = read_frame_folder(tmp_path / "plain")
    assert frames.shape == (3, 16, 20, 3) and frames.dtype == np.uint8
    assert list(frames[:, 0, 0, 0]) == [10, 20, 100]  # 1, 2, 10 (not 1, 10, 2)


def test_read_frame_folder_youtube_faces_names(tmp_path: Path) -> None:
    names = ["0.1.jpg", "0.2.jpg", "0.10.jpg", "0.9.jpg", "0.11.jpg"]
    _write_folder(tmp_path / "ytf", names)
    frames = read_frame_folder(tmp_path / "ytf")
    # JPEG is lossy: compare approximately against the frame numbers 1, 2, 9, 10, 11.
    np.testing.assert_allclose(frames[:, 8, 10, 0], [10, 20, 90, 100, 110], atol=4)


def test_read_frame_folder_converts_to_rgb_and_ignores_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "gray"
    folder.mkdir()
    Image.new("L", (8, 6), 77).save(folder / "aligned_detect_3.2.png")
    Image.new("RGBA", (8, 6), (1, 2, 3, 4)).save(folder / "aligned_detect_3.1.png")
    (folder / "notes.txt").write_text("not a frame")
    frames = read_frame_folder(folder)
    assert frames.shape == (2, 6, 8, 3)
    assert tuple(frames[0, 0, 0]) == (1, 2, 3) and tuple(frames[1, 0, 0]) == (77, 77, 77)


def test_read_frame_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_frame_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images") as info:
        read_frame_folder(tmp_path / "empty")
    assert_clear_error(info, "empty")
    _write_folder(tmp_path / "mixed", ["1.png", "2.png"])
    Image.new("RGB", (21, 16)).save(tmp_path / "mixed" / "3.png")
    with pytest.raises(ValueError, match="same size") as info:
        read_frame_folder(tmp_path / "mixed")
    assert_clear_error(info, "3.png")
    _write_folder(tmp_path / "unnumbered", ["1.png"])
    Image.new("RGB", (20, 16)).save(tmp_path / "unnumbered" / "cover.png")
    with pytest.raises(ValueError, match="cover.png"):
        read_frame_folder(tmp_path / "unnumbered")


# ----------------------------------------------------------------------------------------
# Writing: determinism, atomicity, validation
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("h", "w"), [(32, 48), (64, 64)])
def test_write_video_is_deterministic(tmp_path: Path, h: int, w: int) -> None:
    rng = np.random.default_rng(0)
    noise = rng.integers(-12, 13, (30, h, w, 3))
    frames = np.clip(smooth_frames(30, h, w) + noise, 0, 255).astype(np.uint8)  # some detail
    audio = sine(seconds=30 / FPS)
    kwargs = dict(audio=audio, sample_rate=SR, gop_size=10)
    a = write_video(tmp_path / "a" / "sample.mp4", frames, FPS, **kwargs)
    hashes = {sha256(a)}
    for i in range(3):
        # Reading and allocating in between changes the process's memory layout, which
        # exposed x264's uninitialised reads before the SIMD restriction (see _x264_params).
        read_video(a)
        _ = [np.ones(1000 * k) for k in range(1, 30)]
        hashes.add(sha256(write_video(tmp_path / f"copy{i}.mp4", frames, FPS, **kwargs)))
    hashes.add(sha256(write_video(tmp_path / "a" / "sample.mp4", frames, FPS, **kwargs)))  # overwrite
    assert len(hashes) == 1
    assert b"creation_time" not in a.read_bytes()


def test_write_video_does_not_depend_on_cpu_features(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """x264 with SSE2-only assembly (x86) and with no assembly (other CPUs) agree."""
    frames = smooth_frames(20, 48, 64)
    a = write_video(tmp_path / "native.mp4", frames, FPS, gop_size=8)
    monkeypatch.setattr(V.platform, "machine", lambda: "arm64")
    assert V._x264_params() == "asm=0"
    b = write_video(tmp_path / "plain_c.mp4", frames, FPS, gop_size=8)
    assert sha256(a) == sha256(b)


def test_rgb_to_yuv420p() -> None:
    rgb = np.zeros((2, 4, 3), np.uint8)
    rgb[:, :2] = 255  # left block white, right block black
    yuv = V._rgb_to_yuv420p(rgb)
    assert yuv.shape == (3, 4) and yuv.dtype == np.uint8
    np.testing.assert_array_equal(yuv[:2], [[235, 235, 16, 16]] * 2)  # limited-range luma
    np.testing.assert_array_equal(yuv[2], [128, 128, 128, 128])  # U then V: grey, no colour


def test_write_video_is_atomic(tmp_path: Path) -> None:
    write_video(tmp_path / "ok.mp4", smooth_frames(4, 16, 16), FPS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.mp4"]  # no temp files left
    with pytest.raises(ValueError):
        write_video(tmp_path / "bad.mp4", smooth_frames(4, 16, 16), FPS, audio=sine(), sample_rate=12345)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.mp4"]


def test_write_video_odd_size(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even") as info:
        write_video(tmp_path / "odd.mp4", np.zeros((3, 31, 32, 3), np.uint8), FPS)
    assert_clear_error(info, "32x31")
    assert not (tmp_path / "odd.mp4").exists()


def test_write_video_validation(tmp_path: Path) -> None:
    ok = smooth_frames(3, 16, 16)
    out = tmp_path / "v.mp4"
    with pytest.raises(ValueError, match="fps"):
        write_video(out, ok, 0)
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        write_video(out, ok[..., :2], FPS)
    with pytest.raises(TypeError, match="int32"):
        write_video(out, ok.astype(np.int32), FPS)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        write_video(out, ok.astype(np.float32), FPS)  # 0..255 floats
    with pytest.raises(ValueError, match=r"\.mp4"):
        write_video(tmp_path / "v.avi", ok, FPS)
    with pytest.raises(ValueError, match="sample_rate"):
        write_video(out, ok, FPS, audio=sine())
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        write_video(out, ok, FPS, audio=3 * sine(), sample_rate=SR)
    with pytest.raises(ValueError, match="mono"):
        write_video(out, ok, FPS, audio=np.zeros((100, 2), np.float32), sample_rate=SR)
    assert not out.exists()


# ----------------------------------------------------------------------------------------
# NumPy frames <-> tensors
# ----------------------------------------------------------------------------------------


def test_frames_tensor_roundtrip() -> None:
    frames = smooth_frames(4, 6, 8)
    x = frames_to_tensor(frames)
    assert x.shape == (3, 4, 6, 8) and x.dtype == torch.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert x[0, 2, 3, 5] == pytest.approx(frames[2, 3, 5, 0] / 255)
    np.testing.assert_array_equal(tensor_to_frames(x), frames)

    batch = np.stack([frames, frames[::-1]])
    xb = frames_to_tensor(batch)
    assert xb.shape == (2, 3, 4, 6, 8)
    np.testing.assert_array_equal(tensor_to_frames(xb), batch)


def test_tensor_to_frames_rounds_and_clips() -> None:
    x = torch.full((3, 1, 1, 2), 0.5)
    x[0, 0, 0, 0], x[1, 0, 0, 0] = -0.2, 1.7
    out = tensor_to_frames(x.requires_grad_())
    assert out.shape == (1, 1, 2, 3) and out.dtype == np.uint8
    assert list(out[0, 0, 0]) == [0, 255, 128] and list(out[0, 0, 1]) == [128, 128, 128]
    with pytest.raises(ValueError, match="3, T, H, W"):
        tensor_to_frames(torch.zeros(4, 2, 2, 2))
    with pytest.raises(ValueError, match="T, H, W, 3"):
        frames_to_tensor(np.zeros((2, 2, 2), np.uint8))


# ----------------------------------------------------------------------------------------
# Bad inputs: each error is clear and names the file
# ----------------------------------------------------------------------------------------

READERS = {
    "read_video": read_video,
    "probe_video": probe_video,
    "read_frames": lambda p: read_frames(p, 0, 1),
    "read_clip": read_clip,
}


@pytest.mark.parametrize("reader", list(READERS))
def test_missing_file(tmp_path: Path, reader: str) -> None:
    with pytest.raises(FileNotFoundError) as info:
        READERS[reader](tmp_path / "ghost.mp4")
    assert_clear_error(info, "ghost.mp4")


@pytest.mark.parametrize("name", ["notes.txt", "notes.mp4"])
@pytest.mark.parametrize("reader", list(READERS))
def test_text_file_is_not_a_video(tmp_path: Path, name: str, reader: str) -> None:
    path = tmp_path / name
    path.write_text("hello, this is a text file and not a video\n" * 30)
    with pytest.raises(ValueError, match="is not a readable video file") as info:
        READERS[reader](path)
    assert_clear_error(info, name)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="not a readable video file") as info:
        read_video(path)
    assert_clear_error(info, "empty.mp4")


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="read_frame_folder"):
        read_video(tmp_path)


@pytest.mark.parametrize("reader", list(READERS))
def test_audio_only_file(tmp_path: Path, reader: str) -> None:
    path = tmp_path / "voice.m4a"
    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("aac", rate=SR)
        s.layout = "mono"
        frame = av.AudioFrame.from_ndarray(sine(seconds=0.5)[None], format="flt", layout="mono")
        frame.sample_rate = SR
        for pkt in s.encode(frame):
            c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    with pytest.raises(ValueError, match="no video stream") as info:
        READERS[reader](path)
    assert_clear_error(info, "voice.m4a")


@pytest.mark.parametrize("faststart", [False, True], ids=["moov-at-end", "faststart"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_file(tmp_path: Path, faststart: bool, keep: float) -> None:
    full = write_raw_mp4(tmp_path / "full.mp4", smooth_frames(40, 32, 32), faststart=faststart)
    data = full.read_bytes()
    path = tmp_path / "cut.mp4"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match="truncated or corrupt") as info:
        read_video(path)
    assert_clear_error(info, "cut.mp4")
    # Reading a window that reaches into the missing part fails the same way.
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_frames(path, 30, 10)


def test_decoded_count_shortfall_is_truncation() -> None:
    with pytest.raises(ValueError, match="truncated or corrupt") as info:
        V._check_decoded_count(30, 60, Path("clip.mp4"))
    assert "clip.mp4" in str(info.value) and "60" in str(info.value)
    V._check_decoded_count(60, 60, Path("clip.mp4"))  # no error


@pytest.mark.parametrize("reader", list(READERS))
def test_zero_frame_video(tmp_path: Path, reader: str) -> None:
    # MP4 drops a track without samples, but AVI keeps a video stream with no frames.
    path = tmp_path / "blank.avi"
    with av.open(str(path), "w", format="avi") as c:
        s = c.add_stream("mpeg4", rate=FPS)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        c.start_encoding()
        for pkt in s.encode():
            c.mux(pkt)
    with pytest.raises(ValueError, match="has no frames") as info:
        READERS[reader](path)
    assert_clear_error(info, "blank.avi")


def test_no_av_exceptions_leak(tmp_path: Path) -> None:
    """Random bytes behind a valid-looking MP4 header give a ValueError, not an av error."""
    path = tmp_path / "garbage.mp4"
    rng = np.random.default_rng(0)
    path.write_bytes(b"\x00\x00\x00\x18ftypisom" + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match="truncated or corrupt") as info:
        read_video(path)
    assert_clear_error(info, "garbage.mp4")


def test_av_log_level_is_restored(tmp_path: Path) -> None:
    path = tmp_path / "junk.mp4"
    path.write_text("junk")
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with pytest.raises(ValueError):
            read_video(path)
        assert av.logging.get_level() == av.logging.ERROR
    finally:
        av.logging.set_level(previous)


def test_corrupted_copies_of_a_sample_raise_only_the_documented_errors(tmp_path):
    """A small fuzz test (fixed seed): byte flips, truncations, zeroed runs and a scrambled header in
    copies of a committed sample. Every read either works or raises ValueError / FileNotFoundError,
    never a PyAV or attribute error (before the fix: AttributeError on a stream whose codec_context is None)."""
    from pathlib import Path

    from marlin_lite import video as V

    data = (Path(__file__).resolve().parents[1] / "data_samples" / "synth_00_a.mp4").read_bytes()
    rng = np.random.default_rng(1234)
    outcomes = {"read": 0, "refused": 0}
    for i in range(80):
        b = bytearray(data)
        kind = i % 4
        if kind == 0:
            for _ in range(int(rng.integers(1, 50))):
                b[int(rng.integers(len(b)))] = int(rng.integers(256))
        elif kind == 1:
            b = b[: int(rng.integers(1, len(b)))]
        elif kind == 2:
            s = int(rng.integers(len(b)))
            n = int(rng.integers(1, 4096))
            b[s : s + n] = bytes(len(b[s : s + n]))
        else:
            s = int(rng.integers(0, 2000))
            n = int(rng.integers(1, 64))
            b[s : s + n] = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        path = tmp_path / f"copy{i}.mp4"
        path.write_bytes(bytes(b))
        for read in (V.probe_video, V.read_video, lambda p: V.read_frames(p, 0, 4)):
            try:
                read(path)
                outcomes["read"] += 1
            except (ValueError, FileNotFoundError):
                outcomes["refused"] += 1
    assert outcomes["refused"] > 0 and outcomes["read"] > 0  # both kinds of damage occur
