"""Feature extraction: shapes, pooling, batching, the windowed video protocol, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from marlin_lite.features import extract_features, extract_video, prepare_clips, video_windows
from marlin_lite.model import MarlinAutoencoder, get_config
from marlin_lite.samples import DEFAULT_DIR
from marlin_lite.synthface import generate_clip
from marlin_lite.video import read_video, write_video

CFG = get_config("tiny", enc_depth=1, dec_depth=1)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MarlinAutoencoder(CFG).eval()


def test_pooling_and_batching(model):
    x = torch.rand(5, 3, CFG.num_frames, CFG.img_size, CFG.img_size, generator=torch.Generator().manual_seed(0))
    mean = extract_features(model, x, batch_size=2)
    assert mean.shape == (5, CFG.enc_dim) and mean.dtype == torch.float32
    torch.testing.assert_close(mean, extract_features(model.encoder, x, batch_size=5), atol=1e-5, rtol=1e-5)
    with torch.no_grad():
        torch.testing.assert_close(mean, model.encoder.extract_features(x), atol=1e-5, rtol=1e-5)
    seq = extract_features(model, x, pooling="none", batch_size=3)
    assert seq.shape == (5, CFG.num_tokens, CFG.enc_dim)
    # no clips: an empty batch of the same shape, so torch.cat with other batches still works
    assert extract_features(model, x[:0]).shape == (0, CFG.enc_dim)
    assert extract_features(model, x[:0], pooling="none").shape == (0, CFG.num_tokens, CFG.enc_dim)
    with pytest.raises(ValueError, match="pooling"):
        extract_features(model, x, pooling="cls")
    with pytest.raises(TypeError, match="MarlinEncoder"):
        extract_features(torch.nn.Linear(2, 2), x)


def test_bad_clips_fail_before_the_model_moves(model):
    x = torch.rand(2, 3, CFG.num_frames, CFG.img_size, CFG.img_size, generator=torch.Generator().manual_seed(0))
    model.train()
    try:
        with pytest.raises(TypeError, match="clips must hold float pixels.*clips.float\\(\\) / 255"):
            extract_features(model, x.mul(255).to(torch.uint8))
        assert model.training  # the error came before extract_features switched to eval mode
    finally:
        model.eval()
    with pytest.raises(TypeError, match="clips must be a torch tensor.*got ndarray"):
        extract_features(model, x.numpy())
    with pytest.raises(TypeError, match="batch_size must be an int"):
        extract_features(model, x, batch_size=2.5)
    frames = np.zeros((40, CFG.img_size, CFG.img_size, 3), np.uint8)
    with pytest.raises(TypeError, match="video must be a video file path or frames as a numpy uint8 array.*got Tensor"):
        extract_video(torch.from_numpy(frames), model)
    for bad in (frames[None], frames.transpose(0, 3, 1, 2), frames[..., 0]):
        with pytest.raises(ValueError, match=r"frames must be one video as an array \(T, H, W, 3\)"):
            extract_video(bad, model)


def test_windows_follow_the_official_extract_video():
    frames = np.arange(50, dtype=np.uint8)[:, None, None, None] * np.ones((1, 2, 2, 3), np.uint8)
    first = lambda w: w[:, :, 0, 0, 0].tolist()  # noqa: E731 (the source frame index of each window frame)
    w = video_windows(frames, clip_len=8, sample_rate=2)
    assert w.shape == (3, 8, 2, 2, 3)  # starts range(0, 50 - 16, 16) = 0, 16, 32
    assert first(w)[1] == list(range(16, 32, 2))
    # The official bound is exclusive: 48 frames give starts 0 and 16 (a window at 32 would fit).
    assert [r[0] for r in first(video_windows(frames[:48], clip_len=8, sample_rate=2))] == [0, 16]
    assert [r[0] for r in first(video_windows(frames[:48], clip_len=8, sample_rate=2, rule="full"))] == [0, 16, 32]
    # At most clip_len * sample_rate frames: one window, the first clip_len frames at rate 1.
    assert first(video_windows(frames[:10], clip_len=8, sample_rate=2, name="short.mp4")) == [list(range(8))]
    assert first(video_windows(frames[:16], clip_len=8, sample_rate=2)) == [list(range(8))]
    # At most clip_len frames: the whole video, its last frame repeated ("same" padding at the tail).
    assert first(video_windows(frames[:5], clip_len=8, sample_rate=2)) == [[0, 1, 2, 3, 4, 4, 4, 4]]
    assert first(video_windows(frames[:1], clip_len=8, sample_rate=2)) == [[0] * 8]
    with pytest.raises(ValueError, match="video 'empty.mp4' has no frames"):
        video_windows(frames[:0], clip_len=8, sample_rate=2, name="empty.mp4")
    with pytest.raises(ValueError, match="rule must be one of"):
        video_windows(frames, rule="every")


def test_window_counts_match_the_official_rule_for_every_length():
    """Count and starts for every length 1..200 against the official rule, written out again."""
    from marlin_lite.video import window_indices

    for t in range(1, 201):
        idx = window_indices(t, 16, 2)
        if t <= 16:
            expected = [[min(i, t - 1) for i in range(16)]]
        elif t <= 32:
            expected = [list(range(16))]
        else:
            expected = [[s + 2 * i for i in range(16)] for s in range(0, t - 32, 32)]
        assert idx.tolist() == expected, t
        assert idx.max() < t


def test_prepare_clips_resizes():
    windows = np.zeros((2, 8, 112, 112, 3), np.uint8)
    windows[..., 0] = 255
    x = prepare_clips(windows, 64)
    assert x.shape == (2, 3, 8, 64, 64)
    torch.testing.assert_close(x[:, 0], torch.ones(2, 8, 64, 64))


def test_extract_video_from_a_file(model, tmp_path):
    clip = generate_clip(2, 0, size=64, num_frames=40)
    path = write_video(tmp_path / "face.mp4", clip.frames, 25.0)
    per_window = extract_video(path, model)
    assert per_window.shape == (2, CFG.enc_dim)  # 40 frames: windows at 0 and 16
    torch.testing.assert_close(extract_video(path, model, reduction="mean"), per_window.mean(0))
    torch.testing.assert_close(extract_video(path, model, reduction="max"), per_window.max(0).values)
    same = extract_video(clip.frames, model)  # frames in memory: close to the decoded h264
    assert (same - per_window).abs().max() < 0.2
    with pytest.raises(ValueError, match="reduction"):
        extract_video(path, model, reduction="median")


def test_extract_video_on_the_committed_sample(model):
    feats = extract_video(DEFAULT_DIR / "synth_00_a.mp4", model)
    assert feats.shape == (2, CFG.enc_dim) and torch.isfinite(feats).all()  # 48 frames at 112x112: starts 0, 16 (< 48 - 16)


def test_feature_cli_on_a_folder(tmp_path, capsys, monkeypatch):
    """python -m marlin_lite.features: one .npy per video with extract_video's numbers (a video
    under one window padded as the official extract_video pads it), a recorded error per
    unreadable video (the rest go on, exit 1), and a second run keeps what exists."""
    import json

    from marlin_lite.features import FEATURES_REPORT, main
    from marlin_lite.scaled import load_encoder

    videos, out = tmp_path / "videos", tmp_path / "features"
    (videos / "people").mkdir(parents=True)
    write_video(videos / "a.mp4", generate_clip(1, 0, size=64, num_frames=40).frames, 25.0)
    write_video(videos / "people" / "b.mp4", generate_clip(2, 0, size=64, num_frames=24).frames, 25.0)
    write_video(videos / "short.mp4", generate_clip(3, 0, size=64, num_frames=6).frames, 25.0)  # under one window
    (videos / "broken.mp4").write_bytes(b"not a video")
    args = [str(videos), str(out), "--encoder", "random:tiny", "--no-progress"]
    assert main(args) == 1
    report = json.loads((out / FEATURES_REPORT).read_text())
    status = {r["video"]: r["status"] for r in report["files"]}
    assert status == {"a.mp4": "done", "people/b.mp4": "done", "short.mp4": "done", "broken.mp4": "error"}
    assert report["counts"] == {"done": 3, "kept": 0, "error": 1} and report["encoder"]["kind"] == "random"
    assert report["settings"]["windows"] == "official" and not (out / "broken.npy").exists()
    printed = capsys.readouterr().out
    assert "broken.mp4:" in printed and "short.mp4:" not in printed
    encoder, _ = load_encoder("random:tiny")
    a = np.load(out / "a.npy")
    assert a.shape == (2, encoder.cfg.enc_dim) and a.dtype == np.float32  # 40 frames at rate 2: windows at 0 and 16
    np.testing.assert_allclose(a, extract_video(videos / "a.mp4", encoder).numpy(), rtol=1e-5, atol=1e-5)
    assert np.load(out / "people" / "b.npy").shape == (1, encoder.cfg.enc_dim)
    short = read_video(videos / "short.mp4", audio=False).frames  # 6 frames: the 6th repeated up to 8
    padded = np.concatenate([short, short[-1:].repeat(2, axis=0)])[None]
    np.testing.assert_allclose(np.load(out / "short.npy"), extract_features(encoder, prepare_clips(padded, 64)).numpy(),
                               rtol=1e-5, atol=1e-5)

    before = (out / "a.npy").stat().st_mtime_ns
    (out / "short.npy").write_bytes(b"damaged")  # a damaged file is computed again, and said so
    assert main(args) == 1  # the same recipe resumes: existing files are kept, as they were
    report = json.loads((out / FEATURES_REPORT).read_text())
    assert report["counts"] == {"done": 1, "kept": 2, "error": 1} and (out / "a.npy").stat().st_mtime_ns == before
    assert "unreadable" in next(r["replaced"] for r in report["files"] if r["video"] == "short.mp4")
    assert np.load(out / "short.npy").shape == (1, encoder.cfg.enc_dim)
    # another recipe never mixes into the folder: refused (naming what differs), or --overwrite starts over
    assert main([*args, "--reduction", "mean"]) == 2
    assert "reduction 'none' then, 'mean' now" in capsys.readouterr().err and (out / "a.npy").stat().st_mtime_ns == before
    assert main([str(videos), str(out), "--encoder", "random:small", "--no-progress"]) == 2
    assert "encoder_sha256" in capsys.readouterr().err
    assert main([*args, "--reduction", "mean", "--overwrite"]) == 1
    assert np.load(out / "a.npy").shape == (encoder.cfg.enc_dim,)
    assert json.loads((out / "features_recipe.json").read_text())["reduction"] == "mean"
    (out / "features_recipe.json").unlink()  # files whose recipe is unknown are not trusted either
    assert main([*args, "--reduction", "mean"]) == 2 and "are unknown" in capsys.readouterr().err
    assert main([*args, "--batch-size", "0"]) == 2 and "batch_size must be an int >= 1" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("x")
    assert main([str(videos), str(tmp_path / "a_file"), "--encoder", "random:tiny", "--no-progress"]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main([str(tmp_path / "missing"), str(out), "--encoder", "random:tiny"]) == 2
    assert "does not exist" in capsys.readouterr().err

    # a checkpoint path is read from the working directory, as a command line reads paths
    from marlin_lite.pretrain import load_config, model_from_checkpoint, train

    train(load_config(model="tiny", model_overrides={"enc_depth": 1, "dec_depth": 1}, num_identities=4, clips_per_identity=1,
                      batch_size=2, max_steps=1, warmup_steps=1, progress=False, out_dir=str(tmp_path / "run")))
    monkeypatch.chdir(tmp_path)
    assert main(["videos", "from_checkpoint", "--encoder", "run/checkpoint.pt", "--no-progress"]) == 1
    report = json.loads((tmp_path / "from_checkpoint" / FEATURES_REPORT).read_text())
    assert report["encoder"]["kind"] == "marlin_lite" and report["counts"]["done"] == 3
    np.testing.assert_allclose(np.load(tmp_path / "from_checkpoint" / "a.npy"),
                               extract_video(videos / "a.mp4", model_from_checkpoint(tmp_path / "run" / "checkpoint.pt")).numpy(),
                               rtol=1e-5, atol=1e-5)
