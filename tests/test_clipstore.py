"""Clip store: exact round trip, atomic and resumable writes, config changes, verification, the
loader, the CLI, and pretraining from a store (`data_path`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from marlin_lite.clipstore import ClipStore, VideoClips, fit_frames, main, make_loader, to_device_float, write_clip_store
from marlin_lite.data import SynthFaceDataset
from marlin_lite.pretrain import CHECKPOINT, _parse, ensure_pretrained, load_checkpoint, load_config, train
from marlin_lite.utils import sha256_file
from marlin_lite.video import read_clip, write_video

REPO = Path(__file__).resolve().parents[1]
T, S = 4, 16
QUIET = dict(clip_len=T, size=S, shard_size=3, progress=False)


def _clips(n: int, seed: int = 0) -> list[tuple[str, np.ndarray, np.ndarray, dict]]:
    rng = np.random.default_rng(seed)
    return [
        (f"clip{i}", rng.integers(0, 256, (T, S, S, 3), dtype=np.uint8), rng.integers(0, 11, (T, S, S), dtype=np.uint8),
         {"i": i, "label": np.int64(i % 3)})
        for i in range(n)
    ]


class Frames:
    """The random-access source protocol (``__len__`` + ``frames(i)``; parsing/name optional)."""

    def __init__(self, clips, fail_at: int | None = None, has_parsing: bool = True):
        self.clips, self.fail_at, self.has_parsing, self.calls = clips, fail_at, has_parsing, []

    def __len__(self) -> int:
        return len(self.clips)

    def frames(self, i: int) -> np.ndarray:
        if i == self.fail_at:
            raise RuntimeError("simulated crash")
        self.calls.append(i)
        return self.clips[i][1]

    def parsing(self, i: int) -> np.ndarray:
        return self.clips[i][2]

    def name(self, i: int) -> str:
        return self.clips[i][0]


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------------------
# Writing and reading
# --------------------------------------------------------------------------------------


def test_round_trip_is_exact(tmp_path):
    clips, out = _clips(7), tmp_path / "s"
    store = write_clip_store(iter(clips), out, **QUIET)
    assert (len(store), len(store.shards), store.has_parsing) == (7, 3, True)
    assert _files(out) == ["index.json"] + [f"shard_0000{k}.{kind}.npy" for k in range(3) for kind in ("frames", "parsing")]
    order = [6, 0, 3, 3, 1]
    batch = store.get_batch(order)
    assert batch.dtype == torch.uint8 and batch.shape == (5, T, S, S, 3)
    np.testing.assert_array_equal(batch.numpy(), np.stack([clips[i][1] for i in order]))
    np.testing.assert_array_equal(store.get_parsing(order).numpy(), np.stack([clips[i][2] for i in order]))
    item = store[4]
    assert item["video"].dtype == torch.float32 and item["video"].shape == (3, T, S, S) and int(item["index"]) == 4
    assert torch.equal(item["video"], torch.from_numpy(clips[4][1]).permute(3, 0, 1, 2).float().div(255))
    assert torch.equal(item["parsing"], torch.from_numpy(clips[4][2]))
    assert torch.equal(ClipStore(out, output="uint8")[4]["frames"], torch.from_numpy(clips[4][1]))
    assert store.names == [c[0] for c in clips] and store.labels(5) == {"i": 5, "label": 2}
    index = json.loads((out / "index.json").read_text())
    assert all(sha256_file(out / s["frames"]) == s["frames_sha256"] for s in index["shards"])
    assert store.verify()["files"] == 6
    parallel = write_clip_store(Frames(clips), tmp_path / "p", **QUIET, workers=2)  # clips loaded by 2 processes
    assert parallel.shards == write_clip_store(Frames(clips), tmp_path / "q", **QUIET).shards
    with pytest.raises(IndexError, match="clip 7 out of range"):
        store.get_batch([7])

    # the random-access protocol, without parsing maps, and frames of another size (cropped + resized)
    wide = [(n, np.concatenate([f, f[:, :, :8]], axis=2), None, {}) for n, f, _, _ in clips]  # (T, 16, 24, 3)
    small = write_clip_store(Frames(wide, has_parsing=False), tmp_path / "r", **{**QUIET, "size": 8})
    assert not small.has_parsing and "parsing" not in small[0] and small.get_batch([0]).shape == (1, T, 8, 8, 3)
    np.testing.assert_array_equal(small.get_batch([2])[0].numpy(), fit_frames(wide[2][1], 8))
    with pytest.raises(ValueError, match="no parsing maps"):
        small.get_parsing([0])


def test_bad_source_clips_are_named(tmp_path):
    clips = _clips(2)
    with pytest.raises(ValueError, match="source clip 'clip0' has 4 frames but the store holds 5-frame clips"):
        write_clip_store(iter(clips), tmp_path / "a", **{**QUIET, "clip_len": 5})
    floats = [(n, f.astype(np.float32), p) for n, f, p, _ in clips]
    with pytest.raises(ValueError, match="frames of source clip 'clip0' must be a uint8 array"):
        write_clip_store(iter(floats), tmp_path / "b", **QUIET)
    with pytest.raises(ValueError, match="cannot write clips from a int"):
        write_clip_store(3, tmp_path / "c", **QUIET)


def test_a_crash_leaves_no_partial_shard_and_the_rerun_finishes(tmp_path):
    clips, out = _clips(8), tmp_path / "s"
    with pytest.raises(RuntimeError, match="simulated crash"):
        write_clip_store(Frames(clips, fail_at=4), out, **QUIET)
    # shard 0 (clips 0-2) is finished; shard 1 (clips 3-5) never became visible, nor did index.json
    assert _files(out) == [".writing", "shard_00000.frames.npy", "shard_00000.parsing.npy"]
    with pytest.raises(ValueError, match="unfinished clip store"):
        ClipStore(out)
    (out / ".shard_00001.frames.npy.99999.tmp").write_bytes(b"left by a killed writer")
    source = Frames(clips)
    store = write_clip_store(source, out, **QUIET)
    assert source.calls == [3, 4, 5, 6, 7]  # the finished shard was skipped
    clean = write_clip_store(Frames(clips), tmp_path / "clean", **QUIET)
    assert store.fingerprint == clean.fingerprint and store.shards == clean.shards
    assert _files(out) == _files(tmp_path / "clean")  # no temp files, no .writing
    again = Frames(clips)
    assert write_clip_store(again, out, **QUIET).fingerprint == clean.fingerprint and again.calls == []

    # an iterable source resumes too (the clips of finished shards are read and dropped)
    def crashing():
        for n, c in enumerate(clips):
            if n == 7:
                raise RuntimeError("simulated crash")
            yield c

    with pytest.raises(RuntimeError):
        write_clip_store(crashing(), tmp_path / "it", **QUIET)
    assert (tmp_path / "it" / "shard_00001.frames.npy").exists() and not (tmp_path / "it" / "index.json").exists()
    assert write_clip_store(iter(clips), tmp_path / "it", **QUIET).shards == clean.shards


def test_a_changed_config_is_an_error_that_says_what_changed(tmp_path):
    clips, out = _clips(5), tmp_path / "s"
    write_clip_store(Frames(clips), out, **QUIET)
    with pytest.raises(ValueError, match=r"finished clip store written with a different config \(.*size: 16 -> 8.*overwrite=True"):
        write_clip_store(Frames(clips), out, **{**QUIET, "size": 8})
    store = write_clip_store(Frames(clips), out, **{**QUIET, "size": 8, "shard_size": 5}, overwrite=True)
    assert store.size == 8 and _files(out) == ["index.json", "shard_00000.frames.npy", "shard_00000.parsing.npy"]
    with pytest.raises(RuntimeError):
        write_clip_store(Frames(clips, fail_at=4), tmp_path / "u", **QUIET)
    with pytest.raises(ValueError, match=r"unfinished clip store written with a different config \(shard_size: 3 -> 4\)"):
        write_clip_store(Frames(clips), tmp_path / "u", **{**QUIET, "shard_size": 4})


def test_verify_and_damage_name_the_file(tmp_path):
    out = tmp_path / "s"
    write_clip_store(Frames(_clips(7)), out, **QUIET)
    shard = out / "shard_00001.frames.npy"
    data = bytearray(shard.read_bytes())
    data[-5] ^= 1
    shard.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"failed verification \(1 of 6 files\): .*shard_00001.frames.npy: SHA-256"):
        ClipStore(out).verify()
    assert main(["verify", str(out)]) == 1

    shard.write_bytes(bytes(data[:-10]))
    with pytest.raises(ValueError, match=r"shard_00001.frames.npy is \d+ bytes but index.json says"):
        ClipStore(out)
    first = out / "shard_00000.frames.npy"
    size = first.stat().st_size
    np.save(first, np.zeros((3, T, S, 3 * S, 1), np.uint8))  # same bytes, another shape
    assert first.stat().st_size == size
    shard.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"shard_00000.frames.npy holds uint8 \(3, 4, 16, 48, 1\), index.json expects uint8 \(3, 4, 16, 16, 3\)"):
        ClipStore(out).get_batch([0])
    (out / "index.json").write_text("{not json")
    with pytest.raises(ValueError, match="index.json is unreadable or not JSON"):
        ClipStore(out)
    with pytest.raises(FileNotFoundError, match="no clip store at"):
        ClipStore(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="is not a clip store"):
        ClipStore(tmp_path / "empty")


# --------------------------------------------------------------------------------------
# Loader
# --------------------------------------------------------------------------------------


def test_loader_batches_depend_on_the_seed_not_the_workers(tmp_path):
    store = write_clip_store(Frames(_clips(10)), tmp_path / "s", **{**QUIET, "shard_size": 4})

    def epochs(workers: int, backend: str = "thread") -> list[tuple[list[int], torch.Tensor, torch.Tensor]]:
        loader = make_loader(store, 3, workers=workers, seed=5, backend=backend)
        assert len(loader) == 3
        return [(b["index"].tolist(), b["frames"].clone(), b["parsing"].clone()) for _ in range(2) for b in loader]

    a = epochs(0)
    assert len(a) == 6  # 2 epochs x 3 full batches
    for b in (epochs(2), epochs(2, "process")):  # reader threads, worker processes
        assert [x[0] for x in a] == [x[0] for x in b]
        assert all(torch.equal(x[1], y[1]) and torch.equal(x[2], y[2]) for x, y in zip(a, b))
    assert all(torch.equal(f, store.get_batch(i)) for i, f, _ in a)
    first, second = [sum((x[0] for x in a[e * 3 : e * 3 + 3]), []) for e in (0, 1)]
    assert len(set(first)) == 9 and first != second  # no repeats in an epoch; a new order each epoch
    assert [b["index"].tolist() for b in make_loader(store, 3, seed=6)] != [x[0] for x in a[:3]]
    # batch buffers are recycled, but never while the consumer still holds a batch or a view of one
    assert len({b["frames"].data_ptr() for b in make_loader(store, 3)}) == 2  # 3 batches, 2 buffers
    for workers in (0, 2):
        kept = [(b["index"], b["frames"], b["parsing"][1:]) for b in make_loader(store, 3, workers=workers, seed=1)]
        assert all(torch.equal(f, store.get_batch(i)) and torch.equal(p, store.get_parsing(i)[1:]) for i, f, p in kept)
        views = [(b["index"][0], b["frames"][0]) for b in make_loader(store, 3, workers=workers, seed=2)]
        assert all(torch.equal(v, store.get_batch([int(i)])[0]) for i, v in views)
    ordered = [b["index"].tolist() for b in make_loader(store, 4, shuffle=False, drop_last=False, parsing=False)]
    assert ordered == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert "parsing" not in next(iter(make_loader(store, 4, parsing=False)))
    with pytest.raises(ValueError, match="fewer than one batch of 11"):
        make_loader(store, 11)


def test_to_device_float():
    batch = torch.randint(0, 256, (2, T, S, S, 3), dtype=torch.uint8)
    x = to_device_float(batch, "cpu")
    assert x.shape == (2, 3, T, S, S) and x.dtype == torch.float32 and x.is_contiguous()
    assert torch.equal(x, batch.permute(0, 4, 1, 2, 3).float().div(255))
    assert x.min() >= 0 and x.max() <= 1
    z = to_device_float(batch, "cpu", mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.5))
    torch.testing.assert_close(z[:, 1], (x[:, 1] - 0.4) / 0.25)
    assert to_device_float(batch, "cpu", dtype=torch.bfloat16).dtype == torch.bfloat16
    with pytest.raises(ValueError, match=r"uint8 tensor \(B, T, H, W, 3\)"):
        to_device_float(batch.float(), "cpu")


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def test_cli_write_synthface_verify_info(tmp_path, capsys):
    out = tmp_path / "synth"
    args = ["write", "--synthface", "--out", str(out), "--num-identities", "6", "--clips-per-identity", "2",
            "--frames", "8", "--size", "32", "--shard-size", "3", "--no-progress"]
    assert main(args) == 0
    store = ClipStore(out)
    ds = SynthFaceDataset("train", num_identities=6, clips_per_identity=2, size=32, num_frames=8)
    assert len(store) == len(ds) == 8 and store.has_parsing
    assert torch.equal(store[5]["video"], ds[5]["video"]) and torch.equal(store[5]["parsing"], ds[5]["parsing"])
    assert store.labels(5)["identity"] == int(ds[5]["identity"])
    assert main(["verify", str(out)]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["num_clips"] == 8 and info["clip_shape"] == [8, 32, 32, 3] and info["source"]["kind"] == "synthface"
    assert main(args[:-1] + ["--size", "16", "--no-progress"]) == 2  # another config into the same folder
    assert "different config" in capsys.readouterr().err
    run = subprocess.run([sys.executable, "-m", "marlin_lite.clipstore", "info", str(tmp_path / "none")],
                         capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 2 and "no clip store at" in run.stderr


def test_cli_write_synthface_in_the_course_framing(tmp_path):
    out = tmp_path / "course"
    assert main(["write", "--synthface", "--out", str(out), "--num-identities", "6", "--clips-per-identity", "1", "--frames", "8",
                 "--size", "32", "--framing", "face", "--expressions", "marked", "--no-progress"]) == 0
    store = ClipStore(out)
    face = SynthFaceDataset("train", num_identities=6, clips_per_identity=1, size=32, num_frames=8, framing="face", expressions="marked")
    scene = SynthFaceDataset("train", num_identities=6, clips_per_identity=1, size=32, num_frames=8)
    assert torch.equal(store[0]["video"], face[0]["video"]) and not torch.equal(store[0]["video"], scene[0]["video"])


def test_cli_write_videos(tmp_path):
    rng = np.random.default_rng(0)
    videos = tmp_path / "videos"
    write_video(videos / "a.mp4", rng.integers(0, 256, (40, 24, 32, 3), dtype=np.uint8), 25)
    write_video(videos / "sub" / "b.mp4", rng.integers(0, 256, (20, 24, 32, 3), dtype=np.uint8), 25)
    write_video(videos / "short.mp4", rng.integers(0, 256, (5, 24, 32, 3), dtype=np.uint8), 25)
    out = tmp_path / "store"
    assert main(["write", "--videos", str(videos), "--out", str(out), "--frames", "4", "--sample-rate", "2",
                 "--size", "16", "--no-progress"]) == 0
    store = ClipStore(out)
    # spans of 7 frames every 8: a.mp4 (40 frames) -> starts 0, 8, 16, 24, 32; sub/b.mp4 (20) -> 0, 8
    assert store.names == [f"a.mp4#{s}" for s in (0, 8, 16, 24, 32)] + ["sub/b.mp4#0", "sub/b.mp4#8"]
    assert not store.has_parsing and store.labels(1) == {"video": "a.mp4", "start": 8, "sample_rate": 2}
    np.testing.assert_array_equal(store.get_batch([6])[0].numpy(), fit_frames(read_clip(videos / "sub" / "b.mp4", 8, 4, 2), 16))

    # preprocessed videos carry their parsing maps in <name>.npz: they are stored too
    maps = rng.integers(0, 11, (40, 24, 32), dtype=np.uint8)
    np.savez(videos / "a.npz", parsing=maps)
    (videos / "sub" / "b.mp4").unlink()
    (videos / "short.mp4").unlink()
    out2 = tmp_path / "parsed"
    assert main(["write", "--videos", str(videos), "--out", str(out2), "--frames", "4", "--size", "24", "--no-progress"]) == 0
    parsed = ClipStore(out2)
    assert parsed.has_parsing and len(parsed) == 5
    np.testing.assert_array_equal(parsed.get_parsing([2])[0].numpy(), maps[16:23:2, :, 4:28])  # centre square crop


class WholeVideos:
    """A data set of whole videos in the style of marlin_lite.datasets (frames(i) is video i whole)."""

    def __init__(self, lengths):
        rng = np.random.default_rng(1)
        self.videos = [rng.integers(0, 256, (n, 12, 12, 3), dtype=np.uint8) for n in lengths]
        self.items = [SimpleNamespace(name=f"person{i}/v", labels={"identity": i}) for i in range(len(lengths))]

    def __len__(self):
        return len(self.videos)

    def num_frames(self, i):
        return len(self.videos[i])

    def frames(self, i):
        return self.videos[i]

    def spec(self):
        return json.dumps([len(v) for v in self.videos])


def test_whole_videos_are_cut_into_clips(tmp_path):
    videos = WholeVideos([20, 6, 9])  # spans of 7 frames every 8: 0, 8 | too short | 0
    clips = VideoClips(videos, clip_len=4, sample_rate=2)
    assert len(clips) == 3 and clips.skipped == ["person1/v: 6 frames < 7"] and not clips.has_parsing
    store = write_clip_store(clips, tmp_path / "s", **QUIET)
    assert store.names == ["person0/v#0", "person0/v#8", "person2/v#0"]
    assert store.labels(1) == {"identity": 0, "video": "person0/v", "start": 8, "sample_rate": 2}
    np.testing.assert_array_equal(store.get_batch([1])[0].numpy(), fit_frames(videos.videos[0][8:15:2], S))
    with pytest.raises(ValueError, match=r"has 20 frames but the store holds 4-frame clips.*VideoClips"):
        write_clip_store(videos, tmp_path / "whole", **QUIET)


def test_cli_write_a_dataset(tmp_path):
    from marlin_lite.datasets import get_dataset, make_replica

    make_replica("ytf", tmp_path / "ytf")
    out = tmp_path / "store"
    assert main(["write", "--dataset", "ytf", "--root", str(tmp_path / "ytf"), "--out", str(out), "--frames", "4",
                 "--size", "16", "--limit", "2", "--no-progress"]) == 0
    ds = get_dataset("ytf", tmp_path / "ytf", "train", limit=2)
    store = ClipStore(out)
    first = ds.items[0].name
    assert store.names[0] == f"{first}#0" and store.labels(0)["identity"] == ds.items[0].labels["identity"]
    np.testing.assert_array_equal(store.get_batch([1])[0].numpy(), fit_frames(ds.frames(0)[8:15:2], 16))
    assert main(["write", "--dataset", "ytf", "--out", str(tmp_path / "x")]) == 2  # no --root


# --------------------------------------------------------------------------------------
# Pretraining from a clip store
# --------------------------------------------------------------------------------------

MICRO = dict(
    model="tiny", model_overrides={"enc_depth": 1, "dec_depth": 1}, num_identities=6, clips_per_identity=2,
    batch_size=2, max_steps=3, warmup_steps=1, lr=0.05, min_lr=0.001, log_every=1, ckpt_every=3, progress=False,
)


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory) -> Path:
    """The SynthFace training split MICRO describes, at the tiny model's 8 x 64 x 64."""
    out = tmp_path_factory.mktemp("store") / "tiny"
    write_clip_store(SynthFaceDataset("train", num_identities=6, clips_per_identity=2, size=64, num_frames=8), out,
                     clip_len=8, size=64, shard_size=3, progress=False)
    return out


def _cfg(**kw):
    return load_config(**{**MICRO, **kw})


def _losses(result) -> list[float]:
    return [h["loss"] for h in result.history]


def test_pretraining_from_a_store_matches_synthface(tiny_store, tmp_path):
    synth = train(_cfg(out_dir=str(tmp_path / "synth")))
    cfg = _cfg(data_path=str(tiny_store), out_dir=str(tmp_path / "store"))
    stored = train(cfg)
    assert stored.step == 3 and _losses(stored) == _losses(synth)  # same clips, masks and steps
    assert load_checkpoint(tmp_path / "store" / CHECKPOINT)["data"] == ClipStore(tiny_store).fingerprint
    assert ensure_pretrained(cfg).step == 3  # the checkpoint ladder reuses the run


def test_the_run_identity_includes_the_store(tiny_store, tmp_path):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(tiny_store, data)
    cfg = _cfg(data_path=str(data), out_dir=str(tmp_path / "run"), max_steps=2, ckpt_every=1)
    first = train(cfg)
    other = SynthFaceDataset("train", num_identities=6, clips_per_identity=2, size=64, num_frames=8, world_seed=1)
    store = write_clip_store(other, data, clip_len=8, size=64, shard_size=3, progress=False, overwrite=True)
    with pytest.raises(ValueError, match="training data changed"):
        train(cfg, resume=True)
    again = ensure_pretrained(cfg)  # same config, other data: trains afresh
    assert load_checkpoint(tmp_path / "run" / CHECKPOINT)["data"] == store.fingerprint
    assert _losses(again) != _losses(first)


def test_stores_that_do_not_fit_the_run_are_explained(tmp_path):
    clips = [(f"c{i}", np.full((8, 64, 64, 3), 40 * i, np.uint8)) for i in range(4)]
    plain = write_clip_store(iter(clips), tmp_path / "plain", clip_len=8, size=64, progress=False)
    cfg = _cfg(data_path=str(plain.path), out_dir=str(tmp_path / "run"), max_steps=2)
    with pytest.raises(ValueError, match="has no parsing maps.*mask_strategy 'fasking'.*use tube or random masking"):
        train(cfg)
    tube = train(_cfg(data_path=str(plain.path), out_dir=str(tmp_path / "tube"), max_steps=2, mask_strategy="tube"))
    assert tube.step == 2 and all(np.isfinite(_losses(tube)))
    small = write_clip_store(iter(clips), tmp_path / "small", clip_len=8, size=32, progress=False)
    with pytest.raises(ValueError, match="holds 8 x 32 x 32 clips, but 8 x 64 x 64 are needed.*--size 64"):
        train(_cfg(data_path=str(small.path), out_dir=str(tmp_path / "s"), mask_strategy="tube"))


def test_data_path_in_yaml_and_on_the_command_line(tmp_path):
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("model: tiny\ndata_path: data/store\n")
    assert load_config(yaml_file).data_path == "data/store"
    assert load_config().data_path is None and load_config(data_path="").data_path is None
    config, _, _, overrides = _parse(["--config", str(yaml_file), "--data-path", "other/store"])
    assert load_config(config, **overrides).data_path == "other/store"
    from marlin_lite.pretrain import main as pretrain_main

    assert pretrain_main(["--data-path", str(tmp_path / "missing"), "--out-dir", str(tmp_path / "r"), "--progress", "false"]) == 2
