"""The preprocessing CLI: a folder of videos -> crops + parsing maps + manifest, robustly.

Most tests use a stub landmarker (a white square is "the face"), so they run without the
optional MediaPipe extra; the last one runs the real command line with MediaPipe on an
animated public-domain photo and a SynthFace clip, and is skipped where the extra is missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from marlin_lite import faces as F
from marlin_lite import labels as L
from marlin_lite import preprocess as P
from marlin_lite import samples as S
from marlin_lite import video as V

REPO = Path(__file__).resolve().parents[1]


class SquareLandmarker:
    """A stand-in for FaceMesh: the bright square in a frame is "the face"."""

    scheme = "mediapipe478"

    def __call__(self, frame: np.ndarray) -> list[np.ndarray]:
        ys, xs = np.nonzero(frame.min(axis=-1) > 200)
        if ys.size < 4:
            return []
        return [F.synthetic_mesh((xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2, ys.max() - ys.min() + 1)]


def square_parser(settings: P.PreprocessSettings) -> F.FaceParser:
    """A picklable parser factory (module level) for preprocess_folder's workers."""
    return F.LandmarkParser(SquareLandmarker(), min_face_size=settings.min_face_size, hair=settings.hair, missing=settings.missing)


def square_video(num_frames: int, *, face: bool = True, colour: bool = True, height: int = 96, width: int = 128) -> np.ndarray:
    frames = np.empty((num_frames, height, width, 3), np.uint8)
    frames[:] = (40, 70, 130) if colour else 70
    if face:
        for t in range(num_frames):
            x = 30 + 2 * t
            frames[t, 30:70, x : x + 40] = 255
    return frames


def write(path: Path, frames: np.ndarray, audio: bool = False) -> Path:
    wave = None
    if audio:
        wave = (0.2 * np.sin(np.arange(int(16000 * len(frames) / 25)) * 0.05)).astype(np.float32)
    return V.write_video(path, frames, 25, audio=wave, sample_rate=16000 if audio else None)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def videos(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    write(root / "a.mp4", square_video(20), audio=True)
    write(root / "sub" / "b.mp4", square_video(10))
    write(root / "gray_one.mp4", square_video(1, colour=False))
    write(root / "noface.mp4", square_video(6, face=False))
    data = (root / "a.mp4").read_bytes()
    (root / "corrupt.mp4").write_bytes(data[: len(data) // 3])
    (root / "text.mp4").write_text("not a video\n")
    (root / "notes.txt").write_text("ignored: not a video extension\n")
    (root / ".hidden.mp4").write_bytes(data)
    return root


SMALL = P.PreprocessSettings(size=48)


def run(videos: Path, out: Path, **kwargs) -> P.Report:
    kwargs.setdefault("settings", SMALL)
    return P.preprocess_folder(videos, out, progress=False, parser_factory=square_parser, **kwargs)


def test_folder_with_a_corrupt_file_and_edge_cases(videos: Path, tmp_path: Path):
    out = tmp_path / "out"
    report = run(videos, out, chunk=7)
    status = {r["name"]: r["status"] for r in report.results}
    assert status == {"a": "ok", "corrupt": "error", "gray_one": "ok", "noface": "no_face", "sub/b": "ok", "text": "error"}
    assert not report.ok
    errors = {r["name"]: r for r in report.by_status("error")}
    assert "truncated or corrupt" in errors["corrupt"]["message"]
    assert "not a readable video file" in errors["text"]["message"]
    text = report.summary()
    assert "6 video(s)" in text and "3 processed" in text and "1 without a face" in text and "2 failed" in text
    assert "corrupt: ValueError:" in text and "noface: no usable face in any of the 6 frames" in text
    assert "gray_one: only 1 frame:" in text

    # The outputs read back like data_samples/.
    names = S.list_samples(out)
    assert names == ["a", "gray_one", "sub/b"]
    a = S.load_sample("a", out)
    assert a.frames.shape == (20, 48, 48, 3) and a.parsing.shape == (20, 48, 48) and a.landmarks.shape == (20, 478, 2)
    assert a.fps == 25 and a.sample_rate == 16000 and a.audio is not None
    assert a.per_frame["detected"].all() and a.per_frame["box"].shape == (20, 3)
    assert {L.SKIN, L.RIGHT_EYE, L.LEFT_EYE, L.NOSE}.issubset(np.unique(a.parsing))
    assert np.abs(a.frames[:, 20:28, 20:28].astype(int) - 255).mean() < 10, "the square fills the crop's centre"
    record = json.loads((out / "a.json").read_text())
    assert record["sha256"]["a.mp4"] == sha(out / "a.mp4") and record["grayscale"] is False
    assert record["settings"]["size"] == 48 and record["no_face_frames"] == []
    assert json.loads((out / "gray_one.json").read_text())["grayscale"] is True
    b = S.load_sample("sub/b", out)
    assert b.frames.shape[0] == 10 and b.audio is None
    assert not (out / "noface.json").exists() and not (out / "corrupt.mp4").exists()
    saved = json.loads((out / P.REPORT).read_text())
    assert [r["status"] for r in saved["results"]] == [r["status"] for r in report.results]


def test_resume_overwrite_settings_and_determinism(videos: Path, tmp_path: Path):
    out = tmp_path / "out"
    run(videos, out)
    first = {p.name: sha(p) for p in out.iterdir() if p.suffix in (".npz", ".json", ".mp4")}
    again = run(videos, out)
    status = {r["name"]: r["status"] for r in again.results}
    assert status["a"] == status["sub/b"] == status["gray_one"] == "skipped"
    assert status["corrupt"] == "error" and status["noface"] == "no_face", "failures are retried"
    redo = run(videos, out, overwrite=True)
    assert {r["name"]: r["status"] for r in redo.results}["a"] == "ok"
    after = {p.name: sha(p) for p in out.iterdir() if p.suffix in (".npz", ".json", ".mp4")}
    for name in ("a.npz", "a.json", "a.mp4", "gray_one.npz"):
        assert after[name] == first[name], f"{name} differs between two runs"
    bigger = run(videos, out, settings=P.PreprocessSettings(size=64))
    assert {r["name"]: r["status"] for r in bigger.results}["a"] == "ok", "new settings redo the video"
    assert S.load_sample("a", out).frames.shape[1] == 64
    # A half-finished video (no record) is redone.
    (out / "a.json").unlink()
    assert {r["name"]: r["status"] for r in run(videos, out, settings=P.PreprocessSettings(size=64)).results}["a"] == "ok"


def test_chunking_and_workers_do_not_change_outputs(videos: Path, tmp_path: Path):
    one = run(videos, tmp_path / "one", chunk=128)
    two = run(videos, tmp_path / "two", chunk=3, workers=2)
    assert [(r["name"], r["status"]) for r in one.results] == [(r["name"], r["status"]) for r in two.results]
    for name in ("a.npz", "gray_one.npz", "sub/b.npz", "a.mp4"):
        assert sha(tmp_path / "one" / name) == sha(tmp_path / "two" / name), name


def test_name_collisions_and_output_inside_input(tmp_path: Path):
    root = tmp_path / "in"
    write(root / "a.mp4", square_video(3))
    shutil.copy(root / "a.mp4", root / "a.mov")
    out = root / "processed"  # an output folder inside the input folder is not scanned
    report = run(root, out)
    assert [(r["name"], r["status"]) for r in report.results] == [("a", "ok"), ("a", "error")]
    assert "would both be written as 'a'" in report.results[1]["message"]
    assert run(root, out).results[0]["status"] == "skipped"


def test_cli_usage_errors(tmp_path: Path, capsys, monkeypatch):
    assert P.main([str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert P.main([str(tmp_path), str(tmp_path / "out"), "--size", "33"]) == 2
    assert "even" in capsys.readouterr().err
    monkeypatch.setattr(F, "mediapipe_available", lambda: False)
    assert P.main([str(tmp_path), str(tmp_path / "out")]) == 2
    assert "requirements-faces.txt" in capsys.readouterr().err
    with pytest.raises(ValueError, match="missing"):
        P.PreprocessSettings(missing="guess")


@pytest.mark.skipif(not F.mediapipe_available(), reason="the optional 'faces' extra (mediapipe==0.10.21) is not installed: pip install --no-deps -r requirements-faces.txt")
def test_cli_end_to_end_with_mediapipe(tmp_path: Path):
    root = tmp_path / "videos"
    frames, _ = F.animate_photo(F.sample_face_photo(), 24, scale=0.5)
    write(root / "hopper.mp4", frames)
    shutil.copy(S.DEFAULT_DIR / "synth_02_a.mp4", root / "synth_02_a.mp4")
    data = (root / "hopper.mp4").read_bytes()
    (root / "broken.mp4").write_bytes(data[: len(data) // 2])
    write(root / "wall.mp4", square_video(4, face=False))
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "marlin_lite.preprocess", str(root), str(out), "--size", "112", "--workers", "2", "--no-progress"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 1, done.stdout + done.stderr
    assert done.stderr == "", f"stderr should be silent (MediaPipe logs): {done.stderr[:500]}"
    assert "4 video(s)" in done.stdout and "2 processed" in done.stdout and "1 failed" in done.stdout
    assert "broken: ValueError: video file" in done.stdout and "wall: no usable face" in done.stdout
    hopper = S.load_sample("hopper", out)
    assert hopper.per_frame["detected"].all() and hopper.frames.shape == (24, 112, 112, 3)
    assert {L.SKIN, L.HAIR, L.RIGHT_EYE, L.LEFT_EYE, L.NOSE, L.UPPER_LIP, L.LOWER_LIP}.issubset(np.unique(hopper.parsing))
    synth = S.load_sample("synth_02_a", out)
    assert synth.per_frame["detected"].mean() >= 0.9 and synth.audio is not None
    assert [c["name"] for c in json.loads((out / "index.json").read_text())["clips"]] == ["hopper", "synth_02_a"]


def test_an_out_dir_that_cannot_hold_outputs_is_one_line_before_any_work(videos: Path, tmp_path: Path, capsys):
    (tmp_path / "a_file").write_text("x")
    assert P.main([str(videos), str(tmp_path / "a_file")]) == 2
    assert "is a file" in capsys.readouterr().err
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o500)
        try:
            assert P.main([str(videos), str(locked / "out")]) == 2
            assert "cannot write to OUT_DIR" in capsys.readouterr().err
        finally:
            locked.chmod(0o700)


def test_crop_presets_and_their_flags(tmp_path: Path, capsys):
    assert P.crop_preset("official") == {"margin": 1.0, "smoothing": 0.0}
    assert P.crop_preset("course") == {"margin": P.PreprocessSettings().margin, "smoothing": P.PreprocessSettings().smoothing}
    with pytest.raises(ValueError, match="crop must be one of"):
        P.crop_preset("tight")
    with pytest.raises(SystemExit):
        P.main([str(tmp_path), str(tmp_path / "out"), "--crop", "tight"])
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.skipif(not F.mediapipe_available(), reason="the optional 'faces' extra (mediapipe==0.10.21) is not installed: pip install --no-deps -r requirements-faces.txt")
def test_official_crop_is_the_face_box_made_square_without_smoothing(tmp_path: Path):
    """--crop official: each frame's box is a square of side max(w, h) of that frame's face box
    (MediaPipe's landmark extent), centred on it, with no smoothing across frames."""
    root = tmp_path / "videos"
    frames, _ = F.animate_photo(F.sample_face_photo(), 12, scale=0.5)
    write(root / "hopper.mp4", frames)
    out = tmp_path / "out"
    assert P.main([str(root), str(out), "--size", "112", "--crop", "official", "--no-progress"]) == 0
    record = json.loads((out / "hopper.json").read_text())
    assert record["settings"]["margin"] == 1.0 and record["settings"]["smoothing"] == 0.0
    with np.load(out / "hopper.npz") as z:
        box, lm, detected = z["frame_box"].astype(np.float64), z["landmarks"].astype(np.float64), z["frame_detected"]
    assert detected.all()
    # landmarks back to source pixels: crop pixel p -> cx - side / 2 + p * side / size
    src = box[:, None, :2] - box[:, None, 2:] / 2 + lm * box[:, None, 2:] / 112
    extent = (src.max(1) - src.min(1)).max(1)  # max(w, h) of each frame's landmark box
    np.testing.assert_allclose(box[:, 2], extent, rtol=1e-3)
    np.testing.assert_allclose(box[:, :2], (src.max(1) + src.min(1)) / 2, atol=0.05 * box[:, 2:].mean())


def _frame_folder(folder: Path, frames: np.ndarray, stem: str) -> None:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for n, frame in enumerate(frames):  # numbered from 1, as YouTube Faces; PNG keeps the pixels exact
        Image.fromarray(frame).save(folder / f"{stem}.{n + 1}.png")


def test_frame_folders_are_videos_and_the_ytf_loader_reads_their_crops(tmp_path: Path, capsys):
    """--frames: each folder of numbered frames (YouTube Faces' layout) is one video; the crops land
    at <Person>/<video_idx>.mp4 with their records, resume by the frames' bytes, and the YouTube
    Faces loader reads them as face crops (its default when <root>/crops exists)."""
    from marlin_lite.datasets import get_dataset

    root = tmp_path / "YouTubeFaces"
    db = root / "frame_images_DB"
    _frame_folder(db / "Alice" / "0", square_video(12), "0")
    _frame_folder(db / "Alice" / "1", square_video(8), "1")
    _frame_folder(db / "Bob" / "0", square_video(10), "0")
    (db / "Bob" / "2").mkdir(parents=True)
    (db / "Bob" / "2" / "2.1.png").write_text("not an image\n")
    (db / "Bob.labeled_faces.txt").write_text("ignored\n")
    # without --frames the command says what to do instead of finding nothing
    assert P.main([str(db), str(root / "crops")]) == 2
    assert "--frames" in capsys.readouterr().err
    report = run(db, root / "crops", frames=True, frame_rate=24.0)
    status = {r["name"]: r["status"] for r in report.results}
    assert status == {"Alice/0": "ok", "Alice/1": "ok", "Bob/0": "ok", "Bob/2": "error"}
    assert "not an image" in next(r["message"] for r in report.results if r["name"] == "Bob/2") or "cannot read" in next(
        r["message"] for r in report.results if r["name"] == "Bob/2")
    record = json.loads((root / "crops" / "Alice" / "0.json").read_text())
    assert record["frame_folder"] and record["frame_files"] == 12 and record["num_frames"] == 12 and record["fps"] == 24.0
    assert not record["has_audio"] and record["detected_frames"] == 12
    clip = V.read_video(root / "crops" / "Alice" / "0.mp4")
    assert clip.frames.shape == (12, 48, 48, 3) and clip.fps == pytest.approx(24.0)
    again = run(db, root / "crops", frames=True, frame_rate=24.0)
    assert {r["name"]: r["status"] for r in again.results if r["status"] != "error"} == {"Alice/0": "skipped", "Alice/1": "skipped", "Bob/0": "skipped"}
    # the loader: whole frames are refused with the command that crops them; the crops are read as crops
    with pytest.raises(ValueError, match="--frames --crop official"):
        get_dataset("ytf", root, "all", image_dir="frame_images_DB")
    ds = get_dataset("ytf", root, "all", clip_len=4, sample_rate=2)
    assert ds.image_dir == "crops" and ds.faces == "cropped" and ds.video_files
    assert [it.name for it in ds.items] == ["Alice/0", "Alice/1", "Bob/0"]
    item = ds[0]
    assert item["video"].shape == (3, 4, 48, 48) and ds.num_frames(0) == 12
    assert ds.people == ["Alice", "Bob"] and int(item["identity"]) == 0
