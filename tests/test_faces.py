"""Real faces: tracking rules, crop boxes, cropping, parsing from landmarks, the two parsers.

The first part needs no MediaPipe: it drives the logic with stub landmarkers and the
schematic mesh of ``faces.synthetic_mesh``. The second part (marked by ``needs_mediapipe``)
runs MediaPipe FaceMesh, the optional 'faces' extra, on a public-domain photo animated by
``faces.animate_photo`` and on SynthFace clips; it is skipped, with the reason, where the
extra is not installed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from marlin_lite import faces as F
from marlin_lite import labels as L
from marlin_lite.masking import TokenGrid, make_visible_mask, region_membership
from marlin_lite.synthface import generate_clip

REPO = Path(__file__).resolve().parents[1]

needs_mediapipe = pytest.mark.skipif(
    not F.mediapipe_available(),
    reason="the optional 'faces' extra (mediapipe==0.10.21) is not installed: "
    "pip install --no-deps -r requirements-faces.txt (scripts/_env.sh does it where a wheel exists)",
)


class StubLandmarker:
    """Returns the faces it is given for each frame index (a list per frame), in order."""

    scheme = "mediapipe478"

    def __init__(self, per_frame: list[list[np.ndarray]]):
        self.per_frame = per_frame
        self.calls = 0

    def __call__(self, frame: np.ndarray) -> list[np.ndarray]:
        faces = self.per_frame[self.calls]
        self.calls += 1
        return faces


def centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


# ----------------------------------------------------------------------------------------
# Mesh topology and parsing maps (no MediaPipe)
# ----------------------------------------------------------------------------------------


def test_mesh_contours_are_well_formed():
    for name, chain in F.MESH_CONTOURS.items():
        assert all(0 <= i < 468 for i in chain), name
        assert len(set(chain)) == len(chain), f"{name} repeats a vertex"
    c = F.MESH_CONTOURS
    for a, b in [("right_eye_upper", "right_eye_lower"), ("left_eye_upper", "left_eye_lower"),
                 ("lips_upper_outer", "lips_lower_outer"), ("lips_upper_inner", "lips_lower_inner")]:
        assert (c[a][0], c[a][-1]) == (c[b][0], c[b][-1]), f"{a} and {b} must share their corners"
    assert len(c["face_oval"]) == 36


def test_mesh_parsing_labels_sides_and_missing_frames():
    mesh = F.synthetic_mesh(64, 70, 80)
    maps = F.mesh_parsing(np.stack([mesh, np.full_like(mesh, np.nan)]), 128, 128)
    assert maps.shape == (2, 128, 128) and maps.dtype == np.uint8
    first = maps[0]
    assert set(np.unique(first)) == set(range(L.NUM_LABELS)), "every label appears on an open-mouthed face"
    # "right" is the person's right: the image's left.
    assert centroid(first == L.RIGHT_EYE)[0] < 64 < centroid(first == L.LEFT_EYE)[0]
    assert centroid(first == L.RIGHT_BROW)[0] < 64 < centroid(first == L.LEFT_BROW)[0]
    assert centroid(first == L.RIGHT_BROW)[1] < centroid(first == L.RIGHT_EYE)[1], "brows above the eyes"
    assert centroid(first == L.HAIR)[1] < centroid(first == L.RIGHT_BROW)[1], "hair above the brows"
    assert centroid(first == L.UPPER_LIP)[1] < centroid(first == L.INNER_MOUTH)[1] < centroid(first == L.LOWER_LIP)[1]
    assert first[0, 0] == L.BACKGROUND and first[70, 64] in (L.NOSE, L.SKIN)
    assert not maps[1].any(), "a frame without landmarks is all background (MARLIN: no parse)"
    assert L.HAIR not in F.mesh_parsing(mesh[None], 128, hair=0.0)
    # A closed mouth has no inner-mouth pixels.
    closed = mesh.copy()
    inner = list(F.MESH_CONTOURS["lips_upper_inner"]) + list(F.MESH_CONTOURS["lips_lower_inner"])
    closed[inner, 1] = closed[inner, 1].mean()
    assert L.INNER_MOUTH not in F.mesh_parsing(closed[None], 128)


def test_fasking_works_unchanged_on_mesh_parsing():
    t, size = 4, 64
    meshes = np.stack([F.synthetic_mesh(32 + i, 34, 44) for i in range(t)])
    parsing = torch.from_numpy(F.mesh_parsing(meshes, size))[None]  # (1, T, H, W)
    grid = TokenGrid(frames=t, size=size, tubelet=2, patch=8)
    visible = make_visible_mask("fasking", 1, grid, 0.9, parsing=parsing, generator=torch.Generator().manual_seed(0))
    assert int(visible.sum()) == int(grid.num_tokens * 0.1)
    regions = region_membership(parsing, grid)
    for component in ("right_eye", "left_eye", "nose", "mouth"):
        assert not (visible & regions[component]).any(), f"fasking must hide the {component} tokens"


# ----------------------------------------------------------------------------------------
# Boxes and cropping (no MediaPipe)
# ----------------------------------------------------------------------------------------


def test_square_boxes_margin_smoothing_and_reuse():
    t = 30
    rng = np.random.default_rng(0)
    centres = np.stack([100 + rng.normal(0, 3, t), 80 + rng.normal(0, 3, t)], 1)
    meshes = np.stack([F.synthetic_mesh(cx, cy, 60) for cx, cy in centres])
    raw = F.face_boxes(meshes)
    side = np.maximum(raw[:, 2] - raw[:, 0], raw[:, 3] - raw[:, 1])
    plain = F.square_boxes(meshes, margin=1.0, smoothing=0)
    np.testing.assert_allclose(plain[:, 2], side, rtol=1e-5)
    np.testing.assert_allclose(plain[:, 0], (raw[:, 0] + raw[:, 2]) / 2, rtol=1e-6)
    np.testing.assert_allclose(F.square_boxes(meshes, margin=1.5, smoothing=0)[:, 2], 1.5 * side, rtol=1e-5)
    smooth = F.square_boxes(meshes, margin=1.0, smoothing=2.0)
    assert np.diff(smooth[:, 0]).std() < 0.5 * np.diff(plain[:, 0]).std(), "smoothing steadies the box"

    detected = np.ones(t, bool)
    detected[[0, 1, 10, 11, 12, t - 1]] = False
    meshes[~detected] = np.nan
    boxes = F.square_boxes(meshes, detected, smoothing=2.0)
    assert np.isfinite(boxes).all()
    np.testing.assert_array_equal(boxes[0], boxes[2])  # before the first face: the first face's box
    np.testing.assert_array_equal(boxes[1], boxes[2])
    for i in (10, 11, 12):
        np.testing.assert_array_equal(boxes[i], boxes[9])  # the last box is reused
    np.testing.assert_array_equal(boxes[t - 1], boxes[t - 2])
    with pytest.raises(F.NoFaceError, match="no face"):
        F.square_boxes(np.full((5, 478, 2), np.nan))
    with pytest.raises(ValueError, match="margin"):
        F.square_boxes(meshes, margin=0)


def test_crop_frames_pads_with_zeros_and_matches_coordinates():
    rng = np.random.default_rng(1)
    frames = rng.integers(1, 256, (2, 40, 60, 3), dtype=np.uint8)
    # A box equal to a 40x40 window, cropped at 40 px: the window itself, exactly.
    box = np.array([[29.5, 19.5, 40.0], [29.5, 19.5, 40.0]])
    np.testing.assert_array_equal(F.crop_frames(frames, box, 40), frames[:, :, 10:50])
    # A box hanging off the top-left corner: zeros outside the frame, pixels inside.
    corner = np.array([[9.5, 9.5, 40.0]] * 2)
    out = F.crop_frames(frames, corner, 40)
    assert not out[:, :10].any() and not out[:, :, :10].any()
    np.testing.assert_array_equal(out[:, 10:, 10:], frames[:, :30, :30])
    # Labels crop by nearest neighbour; landmarks map onto the same pixels.
    maps = rng.integers(1, 11, (2, 40, 60), dtype=np.uint8)
    lab = F.crop_labels(maps, corner, 20)
    assert lab.shape == (2, 20, 20) and not lab[:, :5].any()
    # output pixel j's centre falls on source edge 2j - 9, the corner of pixels 2j - 10 and 2j - 9
    np.testing.assert_array_equal(lab[:, 5:, 5:], maps[:, 1:30:2, 1:30:2])
    pts = np.array([[[0.0, 0.0], [29.0, 29.0]]] * 2)
    np.testing.assert_allclose(F.to_crop_coords(pts, corner, 40), pts + 10, atol=1e-5)
    # Grayscale (T, H, W) frames are accepted.
    assert F.crop_frames(frames[..., 0], box, 40).shape == (2, 40, 40, 3)
    with pytest.raises(ValueError, match="boxes"):
        F.crop_frames(frames, box[:1], 40)


# ----------------------------------------------------------------------------------------
# Tracking rules and the chain, with a stub landmarker (no MediaPipe)
# ----------------------------------------------------------------------------------------


def test_tracking_keeps_the_largest_drops_tiny_and_reports():
    big, small, tiny = F.synthetic_mesh(60, 60, 80), F.synthetic_mesh(150, 60, 40), F.synthetic_mesh(100, 100, 10)
    stub = StubLandmarker([[small, big], [big], [], [tiny], [small]])
    frames = np.zeros((5, 200, 200, 3), np.uint8)
    track = F.track_faces(frames, stub, min_face_size=20)
    np.testing.assert_array_equal(track.detected, [True, True, False, False, True])
    np.testing.assert_array_equal(track.num_faces, [2, 1, 0, 1, 1])
    np.testing.assert_array_equal(track.tiny, [False, False, False, True, False])
    np.testing.assert_array_equal(track.landmarks[0], big)
    np.testing.assert_array_equal(track.landmarks[4], small)
    assert np.isnan(track.landmarks[2]).all() and np.isnan(track.landmarks[3]).all()
    notes = " | ".join(F.track_warnings(track))
    assert "several faces in 1 of 5 frames" in notes and "kept the largest" in notes
    assert "smaller than min_face_size" in notes and "no face in 2 of 5 frames (2-3)" in notes
    assert "shorter than one MARLIN clip" in notes


def test_crop_faces_chain_with_a_stub_and_no_face_cases():
    t = 8
    meshes = [F.synthetic_mesh(80 + 2 * i, 60, 50) for i in range(t)]
    frames = np.full((t, 120, 160, 3), 90, np.uint8)
    per_frame = [[m] for m in meshes]
    per_frame[3] = []
    crop = F.crop_faces(frames, F.LandmarkParser(StubLandmarker(per_frame)), size=64)
    assert crop.frames.shape == (t, 64, 64, 3) and crop.parsing.shape == (t, 64, 64)
    np.testing.assert_array_equal(crop.no_face_frames, [3])
    assert not crop.parsing[3].any() and crop.parsing[2].any()
    assert np.isnan(crop.landmarks[3]).all()
    held = F.crop_faces(frames, F.LandmarkParser(StubLandmarker(per_frame), missing="hold"), size=64)
    np.testing.assert_array_equal(held.parsing[3], held.parsing[2])
    # Without smoothing the face sits in the middle of its crop (with it, the box lags a
    # moving face a little at the ends of the video).
    still = F.crop_faces(frames, F.LandmarkParser(StubLandmarker(per_frame)), size=64, smoothing=0)
    oval = still.landmarks[:, list(F.MESH_CONTOURS["face_oval"])]
    np.testing.assert_allclose(oval[[0, 1, 2, 4, 5, 6, 7]].mean(axis=1), np.full((7, 2), 31.5), atol=0.01)

    with pytest.raises(F.NoFaceError, match="no usable face in any of the 3 frames"):
        F.crop_faces(frames[:3], F.LandmarkParser(StubLandmarker([[], [], []])))
    tiny = [[F.synthetic_mesh(50, 50, 10)]] * 3
    with pytest.raises(F.NoFaceError, match="smaller than the minimum face size"):
        F.crop_faces(frames[:3], F.LandmarkParser(StubLandmarker(tiny), min_face_size=24))


def test_ground_truth_parser_on_synthface():
    clip = generate_clip(2, 0, size=64, num_frames=6)
    gt = F.GroundTruthParser.from_clip(clip)
    parsed = gt.parse(clip.frames)
    np.testing.assert_array_equal(parsed.parsing, clip.parsing)
    assert parsed.track.detected.all() and parsed.track.scheme == "synthface22"
    crop = F.crop_faces(clip.frames, gt, size=48)
    np.testing.assert_array_equal(crop.parsing, F.crop_labels(clip.parsing, crop.boxes, 48))
    assert crop.frames.shape == (6, 48, 48, 3)
    assert (crop.parsing == L.LEFT_EYE).any() and (crop.parsing == L.RIGHT_EYE).any()
    part = gt.maps(parsed.track.slice(2, 5), crop.boxes[2:5], 48)
    np.testing.assert_array_equal(part, crop.parsing[2:5])
    with pytest.raises(ValueError, match="only parses the clip it was made from"):
        gt.track(clip.frames[:3])


def test_animate_photo_is_deterministic_and_its_transforms_are_right():
    photo = F.sample_face_photo()
    assert photo.shape == (600, 512, 3) and photo.dtype == np.uint8
    a, ta = F.animate_photo(photo, 6, height=120, width=160, scale=0.25)
    b, tb = F.animate_photo(photo, 6, height=120, width=160, scale=0.25)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (6, 120, 160, 3) and ta.shape == (6, 2, 3)
    # Frame 0 has no rotation or pan: the photo's centre lands on the frame's centre.
    np.testing.assert_allclose(F.apply_transform(np.array([[255.5, 299.5]]), ta[0]), [[79.5, 59.5]], atol=1e-9)
    # A photo made of one bright pixel moves where the transform says.
    dot = np.zeros((101, 101, 3), np.uint8)
    dot[30:33, 70:73] = 255
    frames, tr = F.animate_photo(dot, 5, height=100, width=100, rotation=20, pan=0.1)
    for f, m in zip(frames, tr):
        expected = F.apply_transform(np.array([[71.0, 31.0]]), m)[0]
        found = centroid(f[..., 0] > 100)
        np.testing.assert_allclose(found, expected, atol=0.6)


def test_missing_extra_gives_a_clear_error(monkeypatch):
    monkeypatch.setattr(F, "mediapipe_available", lambda: False)
    with pytest.raises(F.FacesExtraMissingError, match="requirements-faces.txt"):
        F.MediaPipeLandmarker()(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ImportError, match="optional 'faces' extra"):
        F.crop_faces(np.zeros((2, 8, 8, 3), np.uint8))


def test_faces_extra_pins_and_non_fatal_install(tmp_path):
    lines = [ln.split("#")[0].strip() for ln in (REPO / "requirements-faces.txt").read_text().splitlines()]
    pins = dict(ln.split("==") for ln in lines if ln)
    assert pins.get("mediapipe") == F.MEDIAPIPE_VERSION == "0.10.21"
    assert pins.get("opencv-python-headless", "").split(".")[0] == "4" and pins.get("protobuf", "").startswith("4.")
    main = {ln.split("==")[0].lower() for ln in (REPO / "requirements.txt").read_text().splitlines() if "==" in ln}
    assert not main & {n.lower() for n in pins}, "the extra stays out of the main pins (and environment.yml)"
    # pyproject's 'faces' extra lists mediapipe's needs (mediapipe itself goes in with --no-deps).
    import tomllib

    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["faces"]
    extra_names = {re.split(r"[<>=!~ ]", spec)[0].lower() for spec in extra}
    assert extra_names - {"attrs"} == {n.lower() for n in pins} - {"mediapipe"}
    # The install step never fails the environment: a venv whose pip cannot install warns,
    # remembers the failure and returns 0; the next run only warns.
    env = (REPO / "scripts" / "_env.sh").read_text()
    functions = "\n".join(re.findall(r"^(_marlin_(?:sha256|install_faces)\(\) \{.*?^\})", env, re.S | re.M))
    assert "_marlin_install_faces" in functions
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("#!/bin/sh\nexit 1\n")
    (venv / "bin" / "python").chmod(0o755)
    (tmp_path / "requirements-faces.txt").write_text("mediapipe==0.10.21\n")
    script = f"{functions}\ncd '{tmp_path}' && _marlin_install_faces '{venv}'; echo rc=$?\n_marlin_install_faces '{venv}'; echo rc=$?\n"
    run = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "MARLIN_LITE_FACES": "1"})
    assert run.stdout.split() == ["rc=0", "rc=0"], run.stderr
    assert "could not install the optional 'faces' extra" in run.stderr
    assert "failed before" in run.stderr
    assert (venv / ".marlin-lite-faces.failed").exists() and not (venv / ".marlin-lite-faces.sha256").exists()


# ----------------------------------------------------------------------------------------
# MediaPipe FaceMesh on real and synthetic faces (the optional extra)
# ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def landmarker():
    if not F.mediapipe_available():
        pytest.skip("the optional 'faces' extra (mediapipe) is not installed")
    with F.MediaPipeLandmarker() as lm:
        yield lm


@pytest.fixture(scope="module")
def photo():
    return F.sample_face_photo()


@needs_mediapipe
def test_contours_follow_mediapipe_connections():
    from mediapipe.python.solutions import face_mesh_connections as c

    def edges(chain, closed=False):
        pairs = set(zip(chain, chain[1:]))
        if closed:
            pairs.add((chain[-1], chain[0]))
        return {frozenset(p) for p in pairs}

    m = F.MESH_CONTOURS
    truth = {name: {frozenset(e) for e in getattr(c, name)} for name in dir(c) if name.startswith("FACEMESH_")}
    assert edges(m["face_oval"], closed=True) == truth["FACEMESH_FACE_OVAL"]
    for side, big in (("right", "RIGHT"), ("left", "LEFT")):
        assert edges(m[f"{side}_eye_upper"]) | edges(m[f"{side}_eye_lower"]) == truth[f"FACEMESH_{big}_EYE"]
        assert edges(m[f"{side}_brow_upper"]) | edges(m[f"{side}_brow_lower"]) == truth[f"FACEMESH_{big}_EYEBROW"]
    lips = set().union(*(edges(m[k]) for k in ("lips_upper_outer", "lips_lower_outer", "lips_upper_inner", "lips_lower_inner")))
    assert lips == truth["FACEMESH_LIPS"]
    nose = set(m["nose_bridge"]) | set(m["nose_outline"])
    assert nose == set().union(*truth["FACEMESH_NOSE"])


@needs_mediapipe
def test_photo_landmarks(landmarker, photo):
    faces = landmarker(photo)
    assert len(faces) == 1 and faces[0].shape == (478, 2)
    face = faces[0]
    assert face[33, 0] < face[263, 0], "MediaPipe's right eye (33) is the person's right: image left"
    x0, y0, x1, y1 = F.face_boxes(face)
    assert 150 < x0 < x1 < 380 and 100 < y0 < y1 < 380 and 150 < x1 - x0 < 260
    np.testing.assert_array_equal(landmarker(photo)[0], face)  # deterministic


@needs_mediapipe
def test_animated_photo_end_to_end(landmarker, photo):
    frames, transforms = F.animate_photo(photo, 16, height=240, width=320, scale=0.5)
    crop = F.crop_faces(frames, F.LandmarkParser(landmarker), size=112)
    assert crop.track.detected.all() and crop.track.num_faces.max() == 1
    # The landmarks follow the camera motion: the photo's landmarks, moved, land on them.
    reference = landmarker(photo)[0]
    errors = [np.abs(F.apply_transform(reference, m) - lm).mean() for m, lm in zip(transforms, crop.track.landmarks)]
    assert max(errors) < 2.0, f"landmarks drift from the known motion by {max(errors):.2f} px"
    assert set(np.unique(crop.parsing)) >= {L.BACKGROUND, L.SKIN, L.RIGHT_EYE, L.LEFT_EYE, L.NOSE, L.UPPER_LIP, L.LOWER_LIP, L.HAIR}
    # The face fills the middle of the crop and the crops are steady.
    skin = crop.parsing == L.SKIN
    assert 0.2 < skin.mean() < 0.7 and np.abs(centroid(skin[0]) - 55.5).max() < 15
    again = F.crop_faces(frames, F.LandmarkParser(landmarker), size=112)
    np.testing.assert_array_equal(again.frames, crop.frames)
    np.testing.assert_array_equal(again.parsing, crop.parsing)


@needs_mediapipe
def test_synthface_faces_are_found_and_parsed(landmarker):
    parser = F.LandmarkParser(landmarker)
    found = total = 0
    agree = []
    for identity in range(4):
        clip = generate_clip(identity, 0, size=112, num_frames=8)
        crop = F.crop_faces(clip.frames, parser, size=112)
        found += int(crop.track.detected.sum())
        total += len(crop.track)
        truth = F.GroundTruthParser.from_clip(clip).maps(crop.track, crop.boxes, 112)
        for label in (L.SKIN, L.RIGHT_EYE, L.LEFT_EYE):
            a, b = crop.parsing == label, truth == label
            agree.append((a & b).sum() / max((a | b).sum(), 1))
    assert found / total >= 0.9, f"FaceMesh found faces in {found}/{total} SynthFace frames"
    assert min(agree) > 0.3 and np.mean(agree) > 0.45, f"IoU with the ground truth: {np.round(agree, 2)}"


@needs_mediapipe
def test_edge_cases_several_tiny_gray_short_none(landmarker, photo):
    parser = F.LandmarkParser(landmarker)
    big, _ = F.animate_photo(photo, 2, height=240, width=200, scale=0.45)
    small, _ = F.animate_photo(photo, 2, height=240, width=200, scale=0.3)
    two = np.concatenate([big, small], axis=2)  # two people, the left one larger
    crop = F.crop_faces(two, parser, size=64)
    assert (crop.track.num_faces == 2).all()
    assert (crop.boxes[:, 0] < 200).all(), "the larger face (left) is kept"
    assert any("several faces" in w for w in crop.warnings)

    tiny, _ = F.animate_photo(photo, 3, height=256, width=256, scale=0.1)  # a ~20 px face
    with pytest.raises(F.NoFaceError):
        F.crop_faces(tiny, parser)
    small_face, _ = F.animate_photo(photo, 2, height=256, width=256, scale=0.15)  # ~32 px: found ...
    assert F.crop_faces(small_face, parser, size=64).track.detected.all()
    with pytest.raises(F.NoFaceError, match="smaller than the minimum face size"):  # ... but below 40 px
        F.crop_faces(small_face, F.LandmarkParser(landmarker, min_face_size=40))

    frames, _ = F.animate_photo(photo, 2, scale=0.5)
    gray = frames.mean(axis=-1).round().astype(np.uint8)  # (T, H, W)
    assert F.crop_faces(gray, parser, size=64).track.detected.all()
    one = F.crop_faces(frames[:1], parser, size=64)
    assert one.frames.shape == (1, 64, 64, 3) and any("1 frame:" in w for w in one.warnings)

    noise = np.random.default_rng(0).integers(0, 256, (3, 96, 96, 3), dtype=np.uint8)
    with pytest.raises(F.NoFaceError, match="no usable face in any of the 3 frames"):
        F.crop_faces(noise, parser)


@needs_mediapipe
def test_mediapipe_logs_stay_out_of_stderr():
    code = textwrap.dedent("""
        import numpy as np
        from marlin_lite import faces as F
        frames, _ = F.animate_photo(F.sample_face_photo(), 2, scale=0.5)
        crop = F.crop_faces(frames, size=64)
        print("detected", int(crop.track.detected.sum()))
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "detected 2"
    assert run.stderr == "", f"MediaPipe wrote to stderr: {run.stderr[:500]}"


def test_the_real_faces_lesson_runs_without_the_faces_extra(tmp_path, monkeypatch):
    """A classroom machine where MediaPipe did not install: lesson 02b falls back to its
    schematic mesh and still runs top to bottom (a stand-in ``mediapipe`` package that fails
    to import hides the real one from the kernel)."""
    from marlin_lite.course import error_cells, execute_notebook

    fake = tmp_path / "site" / "mediapipe"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("hidden by a test")\n')
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")]))
    lesson = Path(__file__).resolve().parents[1] / "notebooks" / "02b_real_faces.ipynb"
    nb, _ = execute_notebook(lesson, cwd=lesson.parent, allow_errors=True)
    assert error_cells(nb) == []
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "MediaPipe FaceMesh available: False" in printed
