"""The committed data sample: integrity, contents, and exact regeneration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from marlin_lite import samples as S
from marlin_lite.synthface import MANIPULATIONS, generate_clip

FOLDER = S.DEFAULT_DIR


def test_manifest_matches_committed_files():
    assert S.verify_manifest(FOLDER) == []


def test_sample_is_small_and_complete():
    names = S.list_samples(FOLDER)
    assert 24 <= len(names) <= 48
    total = sum(p.stat().st_size for p in FOLDER.iterdir() if p.is_file())
    assert total <= 10 * 1024 * 1024, f"data_samples/ is {total / 1e6:.1f} MB (limit 10 MB)"
    labels = [json.loads((FOLDER / f"{n}.json").read_text()) for n in names]
    assert {lab["manipulation"] for lab in labels} == set(MANIPULATIONS)
    assert any(lab["av_offset"] != 0 for lab in labels)
    for n in names:
        for ext in (".mp4", ".json", ".npz"):
            assert (FOLDER / f"{n}{ext}").exists()


def test_verify_reports_tampering(tmp_path):
    for p in FOLDER.iterdir():
        if p.is_file():  # the samples; subfolders (official/) have their own records
            (tmp_path / p.name).write_bytes(p.read_bytes())
    victim = tmp_path / "synth_00_a.json"
    victim.write_text(victim.read_text().replace('"identity": 0', '"identity": 99'))
    (tmp_path / "stray.txt").write_text("x")
    (tmp_path / "synth_01_a.npz").unlink()
    problems = S.verify_manifest(tmp_path)
    assert any("synth_00_a.json" in p and "SHA-256" in p for p in problems)
    assert any("synth_01_a.npz" in p and "missing" in p for p in problems)
    assert any("stray.txt" in p for p in problems)
    with pytest.raises(FileNotFoundError, match="MANIFEST"):
        S.verify_manifest(tmp_path / "nowhere")


def test_loaded_sample_matches_the_generator():
    spec = next(s for s in S.sample_specs() if s.manipulation == "face_swap")
    sample = S.load_sample(spec.name, FOLDER)
    clip = generate_clip(
        spec.identity, spec.clip_seed, size=S.SAMPLE_SIZE, num_frames=S.SAMPLE_FRAMES, fps=S.SAMPLE_FPS,
        expression=spec.expression, manipulation=spec.manipulation, donor_identity=spec.donor_identity,
    )  # spelled out on purpose: an independent check of SampleSpec.render
    assert sample.frames.shape == clip.frames.shape and sample.fps == S.SAMPLE_FPS
    np.testing.assert_array_equal(sample.parsing, clip.parsing)
    np.testing.assert_allclose(sample.landmarks, clip.landmarks, atol=0.01)
    assert np.abs(sample.frames.astype(float) - clip.frames).mean() < 3, "h264 at crf 18 is nearly lossless"
    assert sample.sample_rate == S.SAMPLE_RATE
    assert len(sample.audio) == len(clip.audio)  # the reader trims the AAC priming delay
    assert np.corrcoef(sample.audio, clip.audio)[0, 1] > 0.98
    assert sample.labels["manipulation"] == "face_swap" and sample.fake_mask is not None
    with pytest.raises(FileNotFoundError, match="no sample named"):
        S.load_sample("synth_99_z", FOLDER)


def test_regeneration_reproduces_labels_and_maps(tmp_path, monkeypatch):
    """Regenerate the whole sample: labels and maps byte-identical, videos identical or close."""
    S.write_data_samples(tmp_path, progress=False)
    committed = dict(line.split()[::-1] for line in (FOLDER / S.MANIFEST).read_text().splitlines())
    fresh = dict(line.split()[::-1] for line in (tmp_path / S.MANIFEST).read_text().splitlines())
    assert committed.keys() == fresh.keys()
    for name in committed:
        if name.endswith(".json"):
            assert committed[name] == fresh[name], f"{name} does not regenerate exactly"
        elif name.endswith(".npz") and committed[name] != fresh[name]:
            # float32 sums in the per-frame truth can differ in the last bit across CPU kinds (SIMD
            # width); maps, landmarks and integer arrays must not
            with np.load(FOLDER / name) as a, np.load(tmp_path / name) as b:
                assert sorted(a.files) == sorted(b.files), name
                for key in a.files:
                    if a[key].dtype.kind == "f":
                        np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-6, err_msg=f"{name}:{key}")
                    else:
                        np.testing.assert_array_equal(a[key], b[key], err_msg=f"{name}:{key}")
    differing = [n for n in committed if n.endswith(".mp4") and committed[n] != fresh[n]]
    # mp4 bytes can differ across CPU kinds (the AAC encoder's FFT); the pictures must not.
    for name in differing[:3]:
        a = S.V.read_video(FOLDER / name, audio=False).frames.astype(int)
        b = S.V.read_video(tmp_path / name, audio=False).frames.astype(int)
        assert np.abs(a - b).max() <= 2, name
