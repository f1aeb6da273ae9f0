"""SynthFace: determinism, ground truth consistency, speech, manipulations, errors."""

from __future__ import annotations

import numpy as np
import pytest

from marlin_lite import labels as L
from marlin_lite.synthface import (
    ATTRIBUTES,
    EXPRESSIONS,
    LANDMARK_NAMES,
    MANIPULATIONS,
    generate_clip,
    sample_identity,
)

LM = {n: i for i, n in enumerate(LANDMARK_NAMES)}


def _hairy_identity() -> int:
    return next(i for i in range(100) if sample_identity(i).hair_style != "bald" and not sample_identity(i).hat)


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def test_clip_shapes_and_dtypes():
    c = generate_clip(3, 0, size=64, num_frames=16)
    assert c.frames.shape == (16, 64, 64, 3) and c.frames.dtype == np.uint8
    assert c.parsing.shape == (16, 64, 64) and c.parsing.dtype == np.uint8
    assert c.landmarks.shape == (16, len(LANDMARK_NAMES), 2) and c.landmarks.dtype == np.float32
    assert c.audio.shape == (int(round(16 / 25 * 16000)),) and c.audio.dtype == np.float32
    assert np.abs(c.audio).max() <= 1.0
    assert c.parsing.max() < L.NUM_LABELS
    for key, arr in c.per_frame.items():
        assert arr.shape == (16,), key
    assert c.fake_mask is None and c.labels["fake"] == 0


def test_deterministic_and_seed_dependent():
    a = generate_clip(5, 2, size=48, num_frames=6)
    b = generate_clip(5, 2, size=48, num_frames=6)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.parsing, b.parsing)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert a.labels == b.labels
    c = generate_clip(5, 3, size=48, num_frames=6)
    assert not np.array_equal(a.frames, c.frames)
    d = generate_clip(5, 2, size=48, num_frames=6, world_seed=1)
    assert not np.array_equal(a.frames, d.frames)


def test_all_labels_present_and_face_layout():
    ident = _hairy_identity()
    c = generate_clip(ident, 0, size=96, num_frames=24, expression="surprised")
    assert set(np.unique(c.parsing)) == set(range(L.NUM_LABELS))
    p = c.parsing[12]
    right_eye, left_eye = _centroid(p == L.RIGHT_EYE), _centroid(p == L.LEFT_EYE)
    right_brow, left_brow = _centroid(p == L.RIGHT_BROW), _centroid(p == L.LEFT_BROW)
    nose, mouth = _centroid(p == L.NOSE), _centroid(np.isin(p, (L.UPPER_LIP, L.LOWER_LIP)))
    # "right" is the person's right: the image's left side.
    assert right_eye[0] < left_eye[0] and right_brow[0] < left_brow[0]
    assert right_brow[1] < right_eye[1] and left_brow[1] < left_eye[1]  # brows above eyes
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]  # eyes, nose, mouth top to bottom
    assert _centroid(p == L.HAIR)[1] < right_eye[1]


def test_landmarks_sit_on_their_regions():
    c = generate_clip(2, 1, size=128, num_frames=12, expression="neutral")
    hits = {"right_eye_centre": L.RIGHT_EYE, "left_eye_centre": L.LEFT_EYE, "nose_tip": L.NOSE}
    open_frames = np.nonzero(c.per_frame["eye_open"] > 0.9)[0]
    assert len(open_frames) > 0
    for t in open_frames:
        for name, label in hits.items():
            x, y = np.round(c.landmarks[t, LM[name]]).astype(int)
            window = c.parsing[t, y - 1 : y + 2, x - 1 : x + 2]
            assert (window == label).any(), (name, t)
    assert (c.landmarks >= -1).all() and (c.landmarks <= 128).all()


def test_geometry_is_resolution_independent():
    small = generate_clip(4, 0, size=64, num_frames=4)
    large = generate_clip(4, 0, size=192, num_frames=4)
    np.testing.assert_allclose((small.landmarks + 0.5) / 64, (large.landmarks + 0.5) / 192, atol=1e-4)
    for label in (L.SKIN, L.NOSE, L.HAIR, L.BACKGROUND):
        a = (small.parsing == label).mean()
        b = (large.parsing == label).mean()
        assert abs(a - b) < 0.02, label


def test_attributes_vocabulary_and_prevalence():
    assert len(ATTRIBUTES) >= 10
    vectors = np.stack([sample_identity(i).attribute_vector for i in range(300)])
    assert vectors.shape == (300, len(ATTRIBUTES))
    prevalence = vectors.mean(0)
    rare = [a for a, p in zip(ATTRIBUTES, prevalence) if not 0.03 < p < 0.97]
    assert not rare, f"attributes that (almost) never vary: {rare}"
    ident = sample_identity(7)
    assert ident.attributes["bald"] == int(ident.hair_style == "bald")
    assert ident.attributes[f"{ident.hair_colour}_hair"] == int(ident.hair_style != "bald")


def test_expression_dynamics():
    neutral = generate_clip(1, 0, num_frames=32, expression="neutral")
    assert np.all(neutral.per_frame["expression_intensity"] == 0)
    for expr in EXPRESSIONS[1:]:
        c = generate_clip(1, 0, num_frames=32, expression=expr)
        phase = c.per_frame["expression_phase"]
        assert np.all(np.diff(phase) >= 0), "phases go neutral -> onset -> apex -> offset"
        assert {1, 2} <= set(phase.tolist())
        assert c.per_frame["expression_intensity"].max() > 0.9


def test_expressions_change_the_face():
    kw = dict(identity=6, clip_seed=0, size=96, num_frames=32, speaking=False)
    neutral, happy, surprised = (generate_clip(expression=e, **kw) for e in ("neutral", "happy", "surprised"))
    apex = int(np.argmax(happy.per_frame["expression_intensity"]))
    lm_h, lm_n = happy.landmarks[apex], neutral.landmarks[apex]
    # Smiling lifts the mouth corners relative to the upper lip.
    lift = lambda lm: lm[LM["upper_lip_bottom"], 1] - lm[[LM["mouth_right"], LM["mouth_left"]], 1].mean()  # noqa: E731
    assert lift(lm_h) > lift(lm_n) + 0.5
    apex = int(np.argmax(surprised.per_frame["expression_intensity"]))
    eye = lambda c, t: np.isin(c.parsing[t], (L.RIGHT_EYE, L.LEFT_EYE)).sum()  # noqa: E731
    mouth = lambda c, t: (c.parsing[t] == L.INNER_MOUTH).sum()  # noqa: E731
    assert eye(surprised, apex) > 1.15 * eye(neutral, apex)
    assert mouth(surprised, apex) > mouth(neutral, apex) + 20


def test_blinks_close_the_eyes():
    for seed in range(20):
        c = generate_clip(0, seed, size=64, num_frames=48, expression="neutral")
        if c.per_frame["blink"].any() and (~c.per_frame["blink"]).any():
            break
    else:
        pytest.fail("no clip with a blink in 20 seeds")
    eye_px = np.isin(c.parsing, (L.RIGHT_EYE, L.LEFT_EYE)).sum((1, 2))
    assert eye_px[c.per_frame["blink"]].mean() < 0.75 * eye_px[~c.per_frame["blink"]].mean()


def test_speech_drives_the_mouth():
    c = generate_clip(8, 0, size=96, num_frames=50, expression="neutral")
    env, opening = c.per_frame["speech_envelope"], c.per_frame["mouth_open"]
    assert np.corrcoef(env, opening)[0, 1] > 0.8
    inner = (c.parsing == L.INNER_MOUTH).sum((1, 2))
    assert np.corrcoef(inner, opening)[0, 1] > 0.7, "visible mouth opening follows the ground truth"
    # Audio loudness per frame follows the envelope too.
    spf = 16000 // 25
    rms = np.sqrt((c.audio[: 50 * spf].reshape(50, spf) ** 2).mean(1))
    assert np.corrcoef(rms, env)[0, 1] > 0.6  # vowels differ in loudness, so not 1
    silent = generate_clip(8, 0, size=32, num_frames=20, expression="neutral", speaking=False)
    assert silent.per_frame["mouth_open"].max() == 0 and np.abs(silent.audio).max() < 0.01


@pytest.mark.parametrize("k", [3, -2])
def test_av_offset_shifts_audio_only(k):
    base = generate_clip(9, 4, size=32, num_frames=20, expression="happy")
    shifted = generate_clip(9, 4, size=32, num_frames=20, expression="happy", av_offset=k)
    np.testing.assert_array_equal(base.frames, shifted.frames)
    assert shifted.labels["av_offset"] == k
    n = k * 16000 // 25  # samples per frame = 640
    if k > 0:  # audio lags: what was at time t is now at t + k frames
        np.testing.assert_array_equal(shifted.audio[n:], base.audio[:-n])
    else:
        np.testing.assert_array_equal(shifted.audio[:n], base.audio[-n:])


@pytest.mark.parametrize("kind", MANIPULATIONS[1:])
def test_manipulations(kind):
    kw = dict(identity=10, clip_seed=1, size=64, num_frames=16, expression="happy")
    real = generate_clip(**kw)
    fake = generate_clip(manipulation=kind, **kw)
    assert fake.labels["fake"] == 1 and fake.labels["manipulation"] == kind
    assert fake.fake_mask is not None and fake.fake_mask.shape == fake.parsing.shape
    np.testing.assert_array_equal(fake.audio, real.audio)  # the sound track is the real one
    untouched = fake.fake_mask == 0
    np.testing.assert_array_equal(fake.frames[untouched], real.frames[untouched])
    changed = np.abs(fake.frames.astype(int) - real.frames.astype(int)).sum(-1) > 12
    assert changed[fake.fake_mask > 0.5].mean() > 0.05
    if kind == "face_swap":
        assert fake.labels["donor_identity"] != 10
    if kind == "mouth_resynthesis":
        mouth = np.isin(real.parsing, (L.UPPER_LIP, L.INNER_MOUTH, L.LOWER_LIP))
        assert fake.fake_mask[mouth].mean() > 0.9  # the mask covers the mouth...
        assert (fake.fake_mask > 0).mean() < 0.15  # ...and not much else
    if kind == "reenactment":
        # Frame-to-frame change of the mean brightness inside the pasted face.
        inside = fake.fake_mask.min(0) > 0.9
        flicker = lambda c: np.abs(np.diff(c.frames[:, inside].astype(float).mean((1, 2)))).mean()  # noqa: E731
        assert flicker(fake) > 1.5 * flicker(real)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(expression="joy"), "unknown expression"),
        (dict(manipulation="morph"), "unknown manipulation"),
        (dict(size=8), "size"),
        (dict(num_frames=0), "num_frames"),
        (dict(fps=0), "fps"),
        (dict(manipulation="face_swap", donor_identity=0), "donor_identity"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_clip(0, 0, **kwargs)
    with pytest.raises(ValueError, match="identity"):
        sample_identity(-1)


# --------------------------------------------------------------------------------------
# MARLIN-like framing and marked expressions
# --------------------------------------------------------------------------------------


def test_face_framing_fills_the_frame_and_draws_the_background_per_clip():
    from marlin_lite import labels as L

    def face_share(framing):
        shares = []
        for ident in range(6):
            c = generate_clip(ident, 0, size=64, num_frames=4, framing=framing)
            shares.append(float((c.parsing != L.BACKGROUND).mean()))
        return np.mean(shares)

    scene, face = face_share("scene"), face_share("face")
    assert face > 0.6 and face > scene + 0.2, (scene, face)  # neck, clothes and hats are labelled background
    # the crop follows the face: the face centre moves little between frames
    c = generate_clip(5, 1, size=64, num_frames=16, framing="face")
    centre = c.landmarks[:, LANDMARK_NAMES.index("nose_tip")]
    assert np.abs(centre - centre.mean(0)).max() < 6
    # the background belongs to the clip: two clips of one person differ outside the face
    a, b = (generate_clip(2, s, size=64, num_frames=2, framing="face") for s in (0, 1))
    bg = (a.parsing[0] == L.BACKGROUND) & (b.parsing[0] == L.BACKGROUND)
    assert bg.sum() > 50
    assert np.abs(a.frames[0][bg].astype(int) - b.frames[0][bg].astype(int)).mean() > 15
    assert a.labels["framing"] == "face" and a.labels["expressions"] == "subtle"


def test_marked_expressions_change_more_pixels_than_subtle_ones():
    def change(style):
        out = []
        for ident in range(4):
            happy = generate_clip(ident, 0, size=64, num_frames=8, expression="happy", framing="face", expressions=style)
            angry = generate_clip(ident, 0, size=64, num_frames=8, expression="angry", framing="face", expressions=style)
            out.append(float((np.abs(happy.frames.astype(int) - angry.frames.astype(int)).max(-1) > 20).mean()))
        return np.mean(out)

    subtle, marked = change("subtle"), change("marked")
    assert marked > 1.5 * subtle, (subtle, marked)


def test_framing_and_expression_style_are_checked():
    with pytest.raises(ValueError, match="unknown framing"):
        generate_clip(0, 0, size=32, num_frames=2, framing="tight")
    with pytest.raises(ValueError, match="unknown expressions"):
        generate_clip(0, 0, size=32, num_frames=2, expressions="loud")
    from marlin_lite.data import SynthFaceDataset

    with pytest.raises(ValueError, match="framing must be one of"):
        SynthFaceDataset("train", num_identities=6, framing="x")
    ds = SynthFaceDataset("train", num_identities=6, clips_per_identity=1, size=32, num_frames=2, framing="face", expressions="marked")
    assert ds.render["framing"] == "face" and ds.render["expressions"] == "marked"
    assert "framing" not in SynthFaceDataset("train", num_identities=6).render  # defaults keep old cache keys
    clip = ds.clip(0)
    assert clip.labels["framing"] == "face" and clip.labels["expressions"] == "marked"
