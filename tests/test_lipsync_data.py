"""Lip-sync clips from real videos (marlin_lite.tasks.lipsync_data) and lip sync on an LRS2 replica."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from marlin_lite import faces as F
from marlin_lite.audio import log_mel
from marlin_lite.tasks import lipsync as LS
from marlin_lite.tasks import lipsync_data as LD
from marlin_lite.video import Video

REPO = Path(__file__).resolve().parents[1]
RATE, FPS, HOP = 16000, 25.0, 160


@dataclass
class Item:
    name: str
    source: str


class InMemory:
    """The part of a VideoDataset that talking_face_clips uses, over in-memory videos."""

    def __init__(self, videos: dict[str, tuple[str, Video]]) -> None:
        self.items = [Item(name, src) for name, (src, _) in videos.items()]
        self._videos = [v for _, v in videos.values()]

    def __len__(self) -> int:
        return len(self.items)

    def read_video(self, i: int) -> Video:
        return self._videos[i]


def gray_video(num_frames: int, *, burst: tuple[int, int] | None = None, audio: bool = True, fps: float = FPS, size: int = 40) -> Video:
    """Frames whose value encodes the frame index (frame t is t + 10), and silence with a loud
    1 kHz tone over video frames ``burst = [a, b)``."""
    frames = np.zeros((num_frames, size, size, 3), np.uint8) + (np.arange(num_frames, dtype=np.uint8) + 10)[:, None, None, None]
    wave = None
    if audio:
        n = int(round(num_frames / fps * RATE))
        wave = np.zeros(n, np.float32)
        if burst:
            a, b = (int(round(f / fps * RATE)) for f in burst)
            wave[a:b] = 0.5 * np.sin(2 * np.pi * 1000 * np.arange(b - a) / RATE)
    return Video(frames, fps, wave, RATE if audio else None, Path("mem.mp4"))


def test_segments_are_centred_non_overlapping_and_capped():
    assert LD.segment_starts(100, 22) == [6, 28, 50, 72]
    assert LD.segment_starts(100, 22, max_segments=2) == [28, 50]
    assert LD.segment_starts(21, 22) == []
    assert LD.default_segment_frames(8, 3) == 22 and LD.default_segment_frames(16, 3) == 38
    assert LD.default_segment_frames(4, 3) == 16  # T + 4K wins for short windows
    assert LD.stable_group_id("6330311066473698535") == LD.stable_group_id("6330311066473698535") >= 0
    assert LD.stable_group_id("a") != LD.stable_group_id("b")


def test_mel_frames_follow_video_frames_across_segments():
    """A tone over video frames [40, 44) must land in mel frames 4 (40 - s) .. 4 (44 - s) of the segment
    starting at s, and the pixels of clip frame k must be source frame s + k."""
    data = InMemory({"prog/00001": ("prog", gray_video(90, burst=(40, 44)))})
    clips, report = LD.talking_face_clips(data, size=16, segment_frames=22, max_segments=None, crop="frame", n_mels=20, hop_length=HOP)
    assert report.segments == len(clips) == 4 and report.used == 1 and report.mouth_lower_half is None
    assert clips.video.dtype == torch.uint8 and clips.video.shape == (4, 3, 22, 16, 16)
    assert clips.mel.shape == (4, 20, 4 * 22 + 1) and clips.mel_per_frame == 4 and clips.mouth_open is None
    starts = clips.clip_seed.tolist()
    assert starts == LD.segment_starts(90, 22) == [1, 23, 45, 67]
    assert clips.names == [f"prog/00001@{s}" for s in starts]
    assert (clips.video[:, 0, :, 8, 8].long() == torch.tensor(starts)[:, None] + torch.arange(22) + 10).all()
    energy = clips.mel.mean(1)  # (N, F)
    k = starts.index(23)  # segment [23, 45) holds the whole tone: video frames 17..20 of the segment
    loud = energy[k] > energy[k].min() + 3.0
    frames_loud = sorted({int(f) // 4 for f in torch.nonzero(loud).flatten()})
    assert frames_loud[0] >= 16 and frames_loud[-1] <= 21 and {17, 18, 19, 20} <= set(frames_loud)
    # the same mel as one log-mel of the whole utterance, sliced: no edge effects at cuts
    whole = log_mel(torch.from_numpy(data.read_video(0).audio)[None], RATE, n_mels=20, hop_length=HOP)[0]
    assert torch.allclose(clips.mel[k], whole[:, 4 * 23 : 4 * 45 + 1])
    # uint8 clips give float windows in [0, 1]
    win = LS.take_windows(clips, torch.tensor([k]), torch.tensor([2]), 8)
    assert win.dtype == torch.float32 and torch.allclose(win[0, 0, :, 8, 8] * 255, torch.arange(8).float() + 23 + 2 + 10)


def test_videos_that_cannot_give_a_clip_are_reported_not_dropped():
    data = InMemory({
        "a/00001": ("a", gray_video(60)),
        "a/00002": ("a", gray_video(10)),
        "b/00001": ("b", gray_video(60, audio=False)),
    })
    clips, report = LD.talking_face_clips(data, size=8, segment_frames=22, crop="frame", n_mels=10)
    assert report.utterances == 3 and report.used == 1 and len(clips) == 2
    assert report.too_short == ["a/00002 (10 frames)"] and report.no_audio == ["b/00001"]
    text = report.describe()
    assert "skipped 1 too short" in text and "skipped 1 without audio" in text and "2 clips from 1 of 3 videos" in text
    with pytest.raises(ValueError, match="no lip-sync clip could be made.*1 shorter than 22 frames, 1 without audio"):
        LD.talking_face_clips(InMemory({k: v for k, v in zip(["a/00002", "b/00001"], [("a", gray_video(10)), ("b", gray_video(60, audio=False))])}),
                              size=8, segment_frames=22, crop="frame")
    with pytest.raises(ValueError, match=r"mem.mp4 runs at 30 fps.*re-encode it at 25 fps"):
        LD.talking_face_clips(InMemory({"c/00001": ("c", gray_video(60, fps=30.0))}), size=8, segment_frames=22, crop="frame")
    with pytest.raises(ValueError, match="crop must be one of"):
        LD.talking_face_clips(data, size=8, segment_frames=22, crop="mouth")


class MeshLandmarker:
    """A Landmarker that 'finds' a schematic face (marlin_lite.faces.synthetic_mesh) in every frame,
    except the frames listed in ``blind``."""

    scheme = "mediapipe478"

    def __init__(self, cx: float, cy: float, side: float, blind: bool = False) -> None:
        self.mesh, self.blind = F.synthetic_mesh(cx, cy, side), blind

    def __call__(self, frame: np.ndarray) -> list[np.ndarray]:
        return [] if self.blind else [self.mesh.copy()]


def test_landmark_crops_put_the_lips_in_the_lower_half():
    video = gray_video(50, size=120)
    data = InMemory({"p/00001": ("p", video)})
    # a face in the top-left part of the frame: the frame crop would cut its mouth in the upper half
    parser = F.LandmarkParser(MeshLandmarker(cx=35.0, cy=30.0, side=40.0))
    clips, report = LD.talking_face_clips(data, size=32, segment_frames=22, crop="landmarks", parser=parser)
    assert report.mouth_lower_half == 1.0 and len(clips) == 2
    frame_clips, frame_report = LD.talking_face_clips(data, size=32, segment_frames=22, crop="frame")
    assert frame_report.mouth_lower_half is None
    # the face box is about 40 px wide: the crop zooms in compared with the whole 120 px frame
    assert report.settings["crop"] == "landmarks" and report.settings["parser"] == "landmarks"
    blind = F.LandmarkParser(MeshLandmarker(0, 0, 1, blind=True))
    with pytest.raises(ValueError, match="1 without a face"):
        LD.talking_face_clips(data, size=32, segment_frames=22, crop="landmarks", parser=blind)


@pytest.fixture(scope="module")
def lrs2_root(tmp_path_factory):
    from marlin_lite.datasets import make_replica

    root = tmp_path_factory.mktemp("lrs2")
    make_replica("lrs2", root, num_videos=4, utterances_per_video=2, num_frames=30, size=64)
    return root


def test_lrs2_splits_keep_programmes_apart_and_are_cached(lrs2_root, tmp_path, monkeypatch):
    data, reports = LD.lrs2_lipsync_splits(lrs2_root, size=64, num_frames=8, crop="frame", cache_dir=tmp_path)
    assert set(data) == {"train", "test"} and len(data["train"]) == 4 and len(data["test"]) == 2
    assert not set(data["train"].identities) & set(data["test"].identities)
    assert data["train"].video.shape[2] == 22 and reports["train"].settings["segment_frames"] == 22
    assert len(list(tmp_path.glob("lipsync_lrs2_*.pt"))) == 2

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the cache should have been read")

    monkeypatch.setattr(LD, "talking_face_clips", no_rebuild)
    again, rep2 = LD.lrs2_lipsync_splits(lrs2_root, size=64, num_frames=8, crop="frame", cache_dir=tmp_path)
    for split in ("train", "test"):
        assert torch.equal(again[split].video, data[split].video) and torch.equal(again[split].mel, data[split].mel)
        assert again[split].names == data[split].names and rep2[split].segments == reports[split].segments
    with pytest.raises(AssertionError, match="cache should have been read"):  # other settings: another cache entry
        LD.lrs2_lipsync_splits(lrs2_root, size=64, num_frames=8, crop="frame", max_segments=1, cache_dir=tmp_path)
    bad = next(tmp_path.glob("lipsync_lrs2_*.pt"))
    bad.write_bytes(b"not a cache")
    with pytest.raises(ValueError, match="cannot be read.*delete it"):
        LD.lrs2_lipsync_splits(lrs2_root, size=64, num_frames=8, crop="frame", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="too short for 8-frame windows"):
        LD.lrs2_lipsync_splits(lrs2_root, size=64, num_frames=8, segment_frames=16)


@pytest.mark.skipif(not F.mediapipe_available(), reason="needs the optional 'faces' extra (MediaPipe)")
def test_mediapipe_crops_of_the_replica_keep_the_lips_low(lrs2_root):
    data, reports = LD.lrs2_lipsync_splits(lrs2_root, size=64, num_frames=8, splits=("test",), crop="landmarks")
    assert len(data["test"]) == 2 and reports["test"].mouth_lower_half > 0.9


def test_lip_sync_runs_on_an_lrs2_replica(lrs2_root, tmp_path):
    from marlin_lite import scaled

    result = scaled.run_downstream(
        task="ls", dataset="lrs2", data_root=lrs2_root, checkpoint="random:tiny", out_dir=tmp_path / "ls",
        methods=["copy_reference", "pretrained"], lipsync=dict(expert_steps=3, steps=2, num_eval_windows=4, expert_batch_size=4, batch_size=2),
        lipsync_data={"crop": "frame"}, progress=False, device="cpu",
    )
    rows = list(result.table)
    assert [r["method"] for r in rows] == ["sync_expert", "ground_truth", "copy_reference", "pretrained"]
    assert all(r["dataset"] == "lrs2" and r["task"] == "ls" for r in rows)
    assert np.isfinite(rows[3]["l1_lower"]) and np.isfinite(rows[3]["sync_distance"])
    assert result.info["data"] == {"dataset": "lrs2", "label": "av_sync", "n_train": 4, "n_test": 2, "crop": "frame", "segment_frames": 22}
    assert list((tmp_path / "ls" / "features").glob("lipsync_lrs2_*.pt"))
    with pytest.raises(ValueError, match="lipsync_data takes crop"):  # (size comes from the encoder)
        scaled.run_downstream(task="ls", dataset="lrs2", data_root=lrs2_root, checkpoint="random:tiny", out_dir=tmp_path / "x",
                              lipsync_data={"size": 32})
    with pytest.raises(ValueError, match="needs data_root"):
        scaled.run_downstream(task="ls", dataset="lrs2", checkpoint="random:tiny", out_dir=tmp_path / "x")
    with pytest.raises(ValueError, match="task ls runs on lrs2"):
        scaled.run_downstream(task="ls", dataset="ffpp", data_root=lrs2_root, checkpoint="random:tiny", out_dir=tmp_path / "x")
    with pytest.raises(ValueError, match="lipsync_data applies to LRS2 only"):
        scaled.run_downstream(task="ls", dataset="synthface", checkpoint="random:tiny", out_dir=tmp_path / "x", lipsync_data={"crop": "frame"})


def test_lip_sync_config_files_name_real_arguments():
    takes = set(inspect.signature(LS.run_lipsync).parameters)
    for path in sorted((REPO / "configs").glob("downstream_ls_*.yaml")):
        values = yaml.safe_load(path.read_text())
        assert set(values.get("lipsync", {})) <= takes, f"{path.name}: {set(values['lipsync']) - takes}"
        assert set(values.get("lipsync_data", {})) <= {"crop", "segment_frames", "max_segments", "n_mels", "workers"}, path.name


def test_worker_processes_make_the_same_clips(lrs2_root):
    from marlin_lite.datasets import LRS2

    ds = LRS2(lrs2_root, "train", clip="all", sample_rate=1)
    one, rep_one = LD.talking_face_clips(ds, size=32, segment_frames=22, crop="frame")
    two, rep_two = LD.talking_face_clips(ds, size=32, segment_frames=22, crop="frame", workers=2)
    assert torch.equal(one.video, two.video) and torch.equal(one.mel, two.mel) and torch.equal(one.identity, two.identity)
    assert one.names == two.names and rep_one.describe() == rep_two.describe()
    with pytest.raises(ValueError, match="workers must be an int >= 0"):
        LD.talking_face_clips(ds, size=32, segment_frames=22, crop="frame", workers=-1)
