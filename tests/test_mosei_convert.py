"""CMU-MOSEI .csd -> segment layout: a fake label file in the SDK's HDF5 structure, SynthFace
full videos, the converter, and the loader reading its output."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

h5py = pytest.importorskip("h5py")

from marlin_lite.datasets import CMUMOSEI  # noqa: E402
from marlin_lite.datasets.mosei_convert import _labels_csv, convert_mosei, main, read_csd, read_folds  # noqa: E402
from marlin_lite.synthface import generate_clip  # noqa: E402
from marlin_lite.video import probe_video, write_video  # noqa: E402

FPS = 25.0
RATE = 16000
NAN = float("nan")
A, B, D, MISSING = "a-Video_1", "bVideo2", "dVideo3", "cMissing"
#: Full videos: id -> number of frames (A lasts 3 s, B 2.4 s, D 1.2 s).
LENGTHS = {A: 75, B: 60, D: 30}
#: The .csd rows: id -> [(start, end), [sentiment, happy, sad, anger, surprise, disgust, fear]].
ROWS = {
    A: [
        ((0.2, 1.0), [5 / 3, 1.0, 0.0, 0.0, 1 / 3, 0.0, 0.0]),
        ((1.0, 2.2), [-7 / 3, 0.0, 2.0, 2 / 3, 0.0, 0.0, 0.0]),
        ((2.2, 2.4), [NAN, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),  # NaN: skipped
        ((2.5, 3.6), [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1 / 3]),  # runs past the end (3 s): clipped
        ((4.0, 5.0), [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]),  # outside the video: skipped
    ],
    B: [
        ((0.0, 0.8), [3.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0]),
        ((1.2, 1.2), [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),  # empty interval: skipped
        ((0.8, 2.0), [-3.0, 0.0, 0.0, 3.0, 0.0, 2 / 3, 0.0]),
        ((0.5, 1.0), [3.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]),  # sentiment out of range: skipped
    ],
    D: [((0.4, 1.2), [-1 / 3, 0.0, 1 / 3, 0.0, 0.0, 0.0, 0.0])],
    MISSING: [((0.0, 1.0), [0.0] * 7)],
}
WRITTEN = [f"{A}_0", f"{A}_1", f"{A}_3", f"{B}_0", f"{B}_2", f"{D}_0"]
FOLDS = {"train": [A, "zzNotInCsd"], "valid": [B], "test": [D, MISSING]}


def write_csd(path: Path, rows: dict, *, root: str = "All Labels", width: int = 7, interval_width: int = 2,
              data_name: str = "data") -> Path:
    """A computational sequence as the SDK writes it: /<root>/data/<id>/{features,intervals}
    and /<root>/metadata/<key> = (1,) variable-length strings holding JSON."""
    with h5py.File(path, "w") as fh:
        grp = fh.create_group(root)
        data = grp.create_group(data_name)
        for vid, entries in rows.items():
            g = data.create_group(vid)
            iv = np.array([e[0] for e in entries], dtype=np.float64).reshape(len(entries), 2)
            ft = np.array([e[1] for e in entries], dtype=np.float32).reshape(len(entries), 7)
            g.create_dataset("features", data=ft[:, :width], compression="gzip")
            g.create_dataset("intervals", data=np.pad(iv, ((0, 0), (0, interval_width - 2))) if interval_width > 2 else iv)
        meta = grp.create_group("metadata")
        for key, value in {"root name": root, "dimension names": ["sentiment", "happy", "sad", "anger", "surprise", "disgust", "fear"]}.items():
            ds = meta.create_dataset(key, (1,), dtype=h5py.special_dtype(vlen=str))
            ds[0] = json.dumps(value)
    return path


def ramp_audio(num_frames: int) -> np.ndarray:
    """A 440 Hz tone whose amplitude grows linearly: its loudness says where a cut came from."""
    t = np.arange(round(num_frames / FPS * RATE)) / RATE
    return ((0.05 + 0.8 * t / t[-1]) * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def stamp(frame: np.ndarray, k: int) -> None:
    """Write frame index ``k`` into the top 4 rows as 8 black/white 4 x 4 blocks (bit b = block b)."""
    for b in range(8):
        frame[:4, 4 * b: 4 * b + 4] = 255 if (k >> b) & 1 else 0


def stamp_of(frame: np.ndarray) -> int:
    """The source frame index :func:`stamp` wrote (survives two lossy encodes)."""
    return sum(1 << b for b in range(8) if frame[:4, 4 * b: 4 * b + 4].mean() > 128)


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    """Full videos <id>.mp4 (SynthFace faces, frame index stamped in the top rows, ramp audio)."""
    folder = tmp_path_factory.mktemp("mosei_raw")
    for j, (vid, n) in enumerate(LENGTHS.items()):
        frames = generate_clip(j, j, size=32, num_frames=n, fps=FPS, sample_rate=RATE).frames.copy()
        for k in range(n):
            stamp(frames[k], k)
        write_video(folder / f"{vid}.mp4", frames, FPS, audio=ramp_audio(n), sample_rate=RATE, crf=18)
    return folder


@pytest.fixture(scope="module")
def csd(tmp_path_factory) -> Path:
    return write_csd(tmp_path_factory.mktemp("mosei_csd") / "CMU_MOSEI_Labels.csd", ROWS)


@pytest.fixture(scope="module")
def converted(raw, csd, tmp_path_factory):
    out = tmp_path_factory.mktemp("mosei_out") / "mosei"
    return out, convert_mosei(csd, raw, out, folds=FOLDS)


# --------------------------------------------------------------------------------------
# read_csd
# --------------------------------------------------------------------------------------


def test_read_csd_returns_rows_as_stored(csd, tmp_path):
    data = read_csd(csd)
    assert list(data) == sorted(ROWS)
    for vid, entries in ROWS.items():
        intervals, features = data[vid]
        assert intervals.dtype == np.float64 and intervals.shape == (len(entries), 2)
        assert features.dtype == np.float32 and features.shape == (len(entries), 7)
        np.testing.assert_array_equal(intervals, np.array([e[0] for e in entries]))
        np.testing.assert_array_equal(features, np.array([e[1] for e in entries], dtype=np.float32))
    # The root group's name varies and metadata is optional.
    other = tmp_path / "other.csd"
    with h5py.File(other, "w") as fh:
        g = fh.create_group("CMU_MOSEI_LabelsSentiment").create_group("data").create_group("x1")
        g.create_dataset("features", data=np.zeros((1, 7)))
        g.create_dataset("intervals", data=np.array([[0.0, 1.0]]))
    assert list(read_csd(other)) == ["x1"]


def test_read_csd_errors(tmp_path):
    text = tmp_path / "labels.csd"
    text.write_text("video,start,end\n")
    with pytest.raises(ValueError, match="not an HDF5 file") as e:
        read_csd(text)
    assert str(text) in str(e.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_csd(tmp_path / "nope.csd")
    rows = {A: ROWS[A][:2]}
    with pytest.raises(ValueError, match=r"features has shape \(2, 6\); expected \(n, 7\)") as e:
        read_csd(write_csd(tmp_path / "w6.csd", rows, width=6))
    assert "w6.csd" in str(e.value) and f"All Labels/data/{A}" in str(e.value)
    with pytest.raises(ValueError, match=r"intervals has shape \(2, 3\); expected \(n, 2\)"):
        read_csd(write_csd(tmp_path / "i3.csd", rows, interval_width=3))
    with pytest.raises(ValueError, match="not a CMU Multimodal SDK computational sequence.*'data' group"):
        read_csd(write_csd(tmp_path / "nodata.csd", rows, data_name="entries"))
    with h5py.File(tmp_path / "n.csd", "w") as fh:
        g = fh.create_group("All Labels").create_group("data").create_group("v")
        g.create_dataset("features", data=np.zeros((3, 7)))
        g.create_dataset("intervals", data=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="2 intervals but 3 feature rows"):
        read_csd(tmp_path / "n.csd")


def test_h5py_is_lazy_and_its_absence_is_explained(monkeypatch, csd):
    monkeypatch.setitem(sys.modules, "h5py", None)  # makes `import h5py` raise ImportError
    with pytest.raises(ImportError, match=r"pip install h5py==3\.16\.0"):
        read_csd(csd)


# --------------------------------------------------------------------------------------
# convert_mosei and the loader on its output
# --------------------------------------------------------------------------------------


def test_summary_reports_written_skipped_clipped_and_missing(converted, capsys):
    out, summary = converted
    assert summary["written"] == len(WRITTEN) and summary["existing"] == 0 and summary["segments"] == len(WRITTEN)
    assert sorted(p.stem for p in (out / "videos").glob("*.mp4")) == sorted(WRITTEN)
    assert summary["videos_missing"] == [MISSING] and summary["videos_failed"] == {}
    assert summary["videos"] == 4 and summary["videos_converted"] == 3 and summary["rows"] == 11
    skipped = {s["segment"]: s["reason"] for s in summary["skipped"]}
    assert skipped == {f"{A}_2": "NaN values", f"{A}_4": "outside the video", f"{B}_1": "empty interval",
                       f"{B}_3": "label out of range"}
    assert summary["skipped_counts"]["NaN values"] == 1
    assert summary["clipped"] == [f"{A}_3"] and summary["no_audio"] == []
    assert summary["splits"] == {"train": {"ids": 2, "converted": 1}, "val": {"ids": 1, "converted": 1},
                                 "test": {"ids": 2, "converted": 1}}
    assert any(MISSING in w for w in summary["warnings"])
    assert any("skipped 1 row(s) (NaN values)" in w for w in summary["warnings"])


def test_label_file_matches_the_csd_rows(converted):
    out, _ = converted
    with open(out / "mosei_labels.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [f"{r['video_id']}_{r['segment']}" for r in rows] == WRITTEN  # sorted by id, then segment
    for r in rows:
        (start, end), values = ROWS[r["video_id"]][int(r["segment"])]
        assert (float(r["start"]), float(r["end"])) == (start, end)
        got = np.array([r[c] for c in ("sentiment", "happy", "sad", "anger", "surprise", "disgust", "fear")], np.float32)
        np.testing.assert_array_equal(got, np.array(values, np.float32))
    # Segments sort as numbers (2 before 10), ids as strings.
    zeros = np.zeros(7, np.float32)
    text = _labels_csv([("v", 10, 0.0, 1.0, zeros), ("u", 3, 0.0, 1.0, zeros), ("v", 2, 0.0, 1.0, zeros)]).decode()
    assert [line.split(",")[:2] for line in text.splitlines()[1:]] == [["u", "3"], ["v", "2"], ["v", "10"]]


def test_loader_reads_the_converted_layout(converted):
    out, _ = converted
    with pytest.raises(ValueError, match="not known face crops"):  # converted segments are whole frames
        CMUMOSEI(out, "all", clip="all")
    ds = CMUMOSEI(out, "all", clip="all", faces="as_is")  # SynthFace scenes: not face crops
    assert [it.name for it in ds.items] == sorted(WRITTEN)
    for i, it in enumerate(ds.items):
        vid, seg = it.name.rsplit("_", 1)
        (start, end), values = ROWS[vid][int(seg)]
        item = ds[i]
        want = np.array(values, np.float32)
        assert item["sentiment"].item() == want[0] and item["emotions"].numpy().tolist() == want[1:].tolist()
        assert it.source == vid
        # The frames are the interval's: first and last stamped source index, count within a frame.
        f0, f1 = round(start * FPS), min(LENGTHS[vid], round(end * FPS))
        frames = ds.frames(i)
        assert len(frames) == f1 - f0 and stamp_of(frames[0]) == f0 and stamp_of(frames[-1]) == f1 - 1
        if it.name != f"{A}_3":
            assert abs(len(frames) / FPS - (end - start)) <= 1 / FPS
        else:  # clipped at the end of A (3 s)
            assert len(frames) / FPS == pytest.approx(LENGTHS[A] / FPS - start, abs=1 / FPS)
        # Audio kept, and from the same place: its loudness follows the source's ramp.
        video = ds.read_video(i)
        assert video.audio is not None and video.sample_rate == RATE
        assert abs(len(video.audio) - len(frames) / FPS * RATE) < 2048  # AAC pads a little
        source = ramp_audio(LENGTHS[vid])[round(f0 / FPS * RATE): round(f1 / FPS * RATE)]
        rms = lambda x: float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))  # noqa: E731
        assert rms(video.audio) == pytest.approx(rms(source), rel=0.15)


def test_folds_are_written_and_used(converted):
    out, _ = converted
    assert (out / "splits" / "val.txt").read_text() == f"{B}\n"
    assert (out / "splits" / "train.txt").read_text().split() == sorted([A, "zzNotInCsd"])
    for split, vid in (("train", A), ("val", B), ("test", D)):
        ds = CMUMOSEI(out, split, faces="as_is")
        assert ds.splits == "lists" and {it.source for it in ds.items} == {vid}


def test_rerun_skips_existing_segments_and_resumes(raw, csd, tmp_path):
    out = tmp_path / "mosei"
    first = convert_mosei(csd, raw, out, limit=1)
    assert first["written"] == 3 and first["videos"] == 1 and first["videos_missing"] == []
    csv_before = (out / "mosei_labels.csv").read_bytes()
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "videos").glob("*.mp4")}
    again = convert_mosei(csd, raw, out, limit=1)
    assert again["written"] == 0 and again["existing"] == 3
    assert {p.name: p.stat().st_mtime_ns for p in (out / "videos").glob("*.mp4")} == stamps
    assert (out / "mosei_labels.csv").read_bytes() == csv_before
    # An interrupted run: one segment lost -> only it is cut again.
    (out / "videos" / f"{A}_1.mp4").unlink()
    resumed = convert_mosei(csd, raw, out)
    assert resumed["existing"] == 2 and resumed["written"] == len(WRITTEN) - 2
    assert sorted(p.stem for p in (out / "videos").glob("*.mp4")) == sorted(WRITTEN)
    with open(out / "mosei_labels.csv", newline="", encoding="utf-8") as fh:
        assert [f"{r['video_id']}_{r['segment']}" for r in csv.DictReader(fh)] == WRITTEN  # kept and new rows sorted
    # A later trial run with a limit keeps the other videos' segments in the label file.
    limited = convert_mosei(csd, raw, out, limit=1)
    assert limited["written"] == 0 and limited["segments"] == len(WRITTEN)
    assert not (out / "splits").exists()


def test_no_video_at_all_is_an_error(csd, tmp_path):
    empty = tmp_path / "raw"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="none of the 4 videos") as e:
        convert_mosei(csd, empty, tmp_path / "out")
    assert str(empty) in str(e.value)
    with pytest.raises(FileNotFoundError, match="video folder"):
        convert_mosei(csd, tmp_path / "absent", tmp_path / "out")


def test_read_folds_forms_and_errors(tmp_path):
    want = {"train": sorted([A, "zzNotInCsd"]), "val": [B], "test": sorted([D, MISSING])}
    assert read_folds(FOLDS) == want
    sdk_names = tmp_path / "folds.json"
    sdk_names.write_text(json.dumps({"standard_train_fold": FOLDS["train"], "standard_valid_fold": [B],
                                     "standard_test_fold": FOLDS["test"]}))
    assert read_folds(sdk_names) == want
    folder = tmp_path / "lists"
    folder.mkdir()
    for name, ids in (("train.txt", FOLDS["train"]), ("valid.txt", [B]), ("test.txt", FOLDS["test"])):
        (folder / name).write_text("\n".join(ids) + "\n\n")
    assert read_folds(folder) == want
    with pytest.raises(ValueError, match="in both the train and the test fold"):
        read_folds({"train": [A], "val": [B], "test": [A]})
    with pytest.raises(ValueError, match=r"lack the split\(s\) \['test'\]"):
        read_folds({"train": [A], "valid": [B]})
    with pytest.raises(ValueError, match="unknown fold 'holdout'"):
        read_folds({"train": [A], "val": [B], "holdout": [D]})


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def test_cli_converts_and_prints_the_summary(raw, csd, tmp_path, capsys):
    folds = tmp_path / "folds.json"
    folds.write_text(json.dumps(FOLDS))
    out = tmp_path / "mosei"
    code = main(["--csd", str(csd), "--videos", str(raw), "--out", str(out), "--folds", str(folds), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 0
    assert f"{len(WRITTEN)} segments of 3 videos" in captured.out and "missing videos: 1" in captured.out
    assert "warning:" in captured.err and MISSING in captured.err
    assert (out / "splits" / "test.txt").read_text().split() == sorted([D, MISSING])
    assert probe_video(out / "videos" / f"{B}_0.mp4").has_audio
    assert main(["--csd", str(csd), "--videos", str(tmp_path / "absent"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: video folder") and err.count("\n") == 1


def test_cli_bad_csd_exits_2_with_one_line_and_h5py_is_not_imported_eagerly(raw, tmp_path):
    bad = tmp_path / "CMU_MOSEI_Labels.csd"
    bad.write_bytes(b"\x00not an hdf5 file\n")
    code = (
        "import sys, marlin_lite.datasets, marlin_lite.datasets.mosei_convert as m\n"
        "assert 'h5py' not in sys.modules, 'h5py imported at import time'\n"
        f"sys.exit(m.main(['--csd', {str(bad)!r}, '--videos', {str(raw)!r}, '--out', {str(tmp_path / 'o')!r}]))\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "not an HDF5 file" in lines[0] and str(bad) in lines[0]
    assert proc.stdout == ""
