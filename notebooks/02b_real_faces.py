# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lesson 02b · Real faces: detect, crop, parse
#
# Lesson 02 masked SynthFace clips, whose parsing maps come for free from the generator. Real
# videos have no such maps: MARLIN's preprocessing first **finds the face** in every frame,
# **crops a square** around it, and **parses** the crop into the 11 facial labels that fasking
# needs. This lesson runs that chain on a real photo, offline, on a CPU.
#
# **In this lesson you will**
# 1. turn a still portrait into a short video with camera motion (or load your own video);
# 2. find 478 face landmarks per frame with MediaPipe FaceMesh and see which named contours
#    (eyes, brows, lips, nose, face oval) they form;
# 3. derive MARLIN's square crop box (centre of the landmarks' box, side = margin x max(w, h),
#    zero padding outside the frame), check it against the package, and smooth it over time;
# 4. rasterise the landmarks into parsing maps, run fasking on the real crops, and measure how
#    close landmark parsing gets to exact maps on SynthFace;
# 5. write `square_box` yourself, then preprocess a folder of videos (one of them corrupt) with
#    the command-line tool.
#
# *Run time: well under a minute on a laptop CPU.*

# %% tags=["parameters"]
# Parameters (papermill can override these). Tiny defaults: this lesson runs on a laptop CPU.
SEED = 0
SIZE = 112  # side of the square face crops in pixels (MARLIN: 224)
NUM_FRAMES = 32  # frames of the video (a MARLIN clip spans 31: 16 frames, every 2nd)
MARGIN = 1.25  # crop side over the landmarks' extent (MARLIN's rule: 1.0 on a detector's box)
VIDEO = None  # set to the path of any mp4 to run the lesson on your own video

# %%
from marlin_lite.masking import TokenGrid

CLIP_FRAMES, SAMPLE_RATE = 16, 2  # a MARLIN clip: 16 frames, every 2nd source frame
grid = TokenGrid(frames=CLIP_FRAMES, size=SIZE, tubelet=2, patch=16)
print(f"crops {SIZE}x{SIZE}; token grid (T', H', W') = {grid.shape}: {grid.num_tokens} tokens")

# %% [markdown]
# ## Setup
#
# The face tools live in `marlin_lite.faces`. MediaPipe is an *optional* extra
# (`pip install --no-deps -r requirements-faces.txt`, which `scripts/_env.sh` runs). Without
# it the lesson still runs: it falls back to `synthetic_mesh`, a schematic 478-point layout,
# and skips the two sections that need a real detector.

# %%
import json
import shutil
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from marlin_lite import faces as F
from marlin_lite import labels as L
from marlin_lite import masking as M
from marlin_lite import viz
from marlin_lite.samples import load_sample
from marlin_lite.synthface import generate_clip
from marlin_lite.utils import seed_everything
from marlin_lite.video import clip_indices, read_video, write_video

generator = seed_everything(SEED)
# %matplotlib inline
plt.rcParams["figure.dpi"] = 80

try:
    F.require_mediapipe()
    HAVE_MEDIAPIPE = True
except F.FacesExtraMissingError as err:
    HAVE_MEDIAPIPE = False
    print("NOTE: the optional 'faces' extra is missing, so this lesson uses a schematic mesh "
          "(faces.synthetic_mesh) instead of MediaPipe and skips sections 6 and 7.\n", err)
print("MediaPipe FaceMesh available:", HAVE_MEDIAPIPE)

# %% [markdown]
# ## 1. A real face, moving
#
# We need a real face without committing a video. Matplotlib ships a public-domain portrait
# (Grace Hopper, U.S. Navy photograph); `faces.animate_photo` moves a virtual camera over it:
# a pan along a small ellipse, a zoom in and out, and a rotation of up to 6 degrees. It also
# returns each frame's affine map from photo to frame pixels, which the fallback uses.
# If you set `VIDEO`, your file is read instead (its first `NUM_FRAMES` frames).

# %%
if VIDEO is None:
    photo = F.sample_face_photo()
    frames, transforms = F.animate_photo(photo, NUM_FRAMES, height=240, width=320, scale=0.7)
    fps = 25.0
    print("photo", photo.shape, photo.dtype)
else:
    video = read_video(VIDEO, audio=False)
    frames, transforms, fps = video.frames[:NUM_FRAMES], None, video.fps
T, H, W = frames.shape[:3]
print(f"video: {T} frames of {W}x{H} px at {fps:g} fps")

show_ids = list(np.linspace(0, T - 1, 6).round().astype(int))
fig = viz.show_frames(frames, frame_ids=show_ids, size=2.0)
plt.show()

# %% [markdown]
# ## 2. Landmarks with MediaPipe FaceMesh
#
# `faces.MediaPipeLandmarker` wraps MediaPipe's FaceMesh (its models ship inside the wheel, so
# nothing is downloaded). Each frame is processed on its own (`static_image_mode`): a face
# detector, then a mesh of **468 points plus 10 iris points = 478** per face, in pixel
# `(x, y)`. `faces.track_faces` keeps one face per frame (the largest), drops tiny faces and
# marks frames without a face (`NaN` landmarks, `detected = False`).
#
# The mesh has no labels of its own, only vertex ids; `faces.MESH_CONTOURS` lists the ordered
# ids of the outlines we need (face oval, brows, eyes, lips, nose).

# %%
if HAVE_MEDIAPIPE:
    landmarker = F.MediaPipeLandmarker()
    track = F.track_faces(frames, landmarker)
elif transforms is not None:  # fallback: a schematic mesh carried along by the camera motion
    mesh = F.synthetic_mesh(256.0, 300.0, 330.0)  # roughly where the face is in the photo
    points = np.stack([F.apply_transform(mesh, tr) for tr in transforms]).astype(np.float32)
    track = F.FaceTrack(points, np.ones(T, bool), np.ones(T, np.int16), np.zeros(T, bool), (H, W), "mediapipe478")
else:
    raise F.FacesExtraMissingError("your own VIDEO needs MediaPipe: " + F.FACES_EXTRA_HINT)
print("landmarks", track.landmarks.shape, track.landmarks.dtype, "| scheme:", track.scheme)
print(f"face found in {int(track.detected.sum())} of {T} frames; faces per frame: {sorted(set(track.num_faces.tolist()))}")
print("contours:", {name: len(ids) for name, ids in list(F.MESH_CONTOURS.items())[:6]}, "...")

# %%
SETS = {  # named landmark sets -> colour
    "face oval": (["face_oval"], "white"),
    "brows": ([n for n in F.MESH_CONTOURS if "brow" in n], "gold"),
    "eyes": ([n for n in F.MESH_CONTOURS if "eye" in n], "deepskyblue"),
    "nose": (["nose_bridge", "nose_outline"], "lime"),
    "lips": ([n for n in F.MESH_CONTOURS if n.startswith("lips")], "red"),
}
t0 = 0
pts = track.landmarks[t0]
named = set()
fig, axes = plt.subplots(1, 2, figsize=(11, 4.3))
axes[0].imshow(frames[t0])
axes[0].scatter(pts[:, 0], pts[:, 1], s=1.5, c="cyan")
axes[0].set_title(f"frame {t0}: all {len(pts)} landmarks", fontsize=9)
axes[1].imshow(frames[t0])
for label, (contours, colour) in SETS.items():
    ids = sorted({i for n in contours for i in F.MESH_CONTOURS[n]})
    named |= set(ids)
    axes[1].scatter(pts[ids, 0], pts[ids, 1], s=5, c=colour, label=f"{label} ({len(ids)})")
others = sorted(set(range(len(pts))) - named)
axes[1].scatter(pts[others, 0], pts[others, 1], s=0.8, c="0.6", label=f"other ({len(others)})")
axes[1].legend(fontsize=7, loc="lower right", markerscale=2)
axes[1].set_title("coloured by named set", fontsize=9)
x0, y0 = np.nanmin(pts, 0)
x1, y1 = np.nanmax(pts, 0)
axes[1].set_xlim(x0 - 20, x1 + 20)
axes[1].set_ylim(y1 + 20, y0 - 20)
for ax in axes:
    ax.set_xticks([])
    ax.set_yticks([])
fig.tight_layout()
plt.show()
print(f"{len(named)} landmarks lie on the named contours; the other {len(others)} fill the surface")

# %% [markdown]
# ## 3. MARLIN's square crop
#
# MARLIN's preprocessing (and ours) crops a **square** around the face, so the face keeps its
# aspect ratio when resized to the clip size:
#
# * the landmarks' bounding box `x0, y0, x1, y1`, of width `w = x1 - x0` and height `h = y1 - y0`;
# * centre `(cx, cy) = ((x0 + x1) / 2, (y0 + y1) / 2)`;
# * side `s = margin * max(w, h)`. MARLIN applies `max(w, h)` to a face *detector's* box, which
#   includes the forehead; landmarks stop at the hairline, so we default to `margin = 1.25` to
#   leave room for the hair band drawn in section 4;
# * where the square leaves the frame, the crop is **padded with zeros** (black).
#
# Inline, for one frame:

# %%
pts = track.landmarks[t0].astype(np.float64)  # (478, 2) x, y
(x0, y0), (x1, y1) = pts.min(0), pts.max(0)
w, h = x1 - x0, y1 - y0
cx, cy, side = (x0 + x1) / 2, (y0 + y1) / 2, MARGIN * max(w, h)
inline_box = np.array([cx, cy, side])
print("taller than wide (h > w):", bool(h > w), "| side = MARGIN * h:", bool(np.isclose(side, MARGIN * h)))
print("side larger than the frame height:", bool(side > H))
left, top = cx - side / 2, cy - side / 2
print("square leaves the frame:", {"top": bool(top < -0.5), "bottom": bool(top + side > H - 0.5),
                                    "left": bool(left < -0.5), "right": bool(left + side > W - 0.5)})

raw_boxes = F.square_boxes(track.landmarks, track.detected, margin=MARGIN, smoothing=0)
np.testing.assert_allclose(inline_box, raw_boxes[t0], rtol=0, atol=1e-6)
print("inline box == faces.square_boxes(..., smoothing=0)[t0]: True")

# %% [markdown]
# Landmarks jitter from frame to frame (each frame is detected on its own), and a jittering
# box makes the whole crop shake. `square_boxes` therefore smooths the centres and sides over
# time with a Gaussian (`smoothing` = its standard deviation in frames, 2 by default; 0 turns it
# off), and reuses the previous box in frames without a face. On our smooth camera path the
# smoothed box follows the raw one closely and only cuts the jitter:

# %%
boxes = F.square_boxes(track.landmarks, track.detected, margin=MARGIN)  # smoothing=2 frames
fig, axes = plt.subplots(1, 3, figsize=(12, 2.8))
for ax, k, name in zip(axes, range(3), ("centre x", "centre y", "side")):
    ax.plot(raw_boxes[:, k], ".-", lw=0.8, ms=3, label="raw (smoothing=0)")
    ax.plot(boxes[:, k], lw=2, label="smoothed (sigma=2 frames)")
    ax.set_title(f"box {name} (px)", fontsize=9)
    ax.set_xlabel("frame", fontsize=8)
axes[0].legend(fontsize=7)
fig.tight_layout()
plt.show()
step = lambda b: np.abs(np.diff(b[:, :2], axis=0)).mean()
print("smoothing lowers the frame-to-frame centre motion:", bool(step(boxes) < step(raw_boxes)))
print("smoothed centres stay within 5 % of the side of the raw ones:",
      bool((np.abs(boxes[:, :2] - raw_boxes[:, :2]) < 0.05 * raw_boxes[:, 2:]).all()))

# %% [markdown]
# `faces.crop_frames` cuts each box out of its frame (black outside the frame) and resizes it to
# `SIZE x SIZE` with an antialiased bilinear filter (Pillow's fixed-point code, identical on
# every machine). The frame with the box, then the crops:

# %%
crops = F.crop_frames(frames, boxes, SIZE)
print("crops", crops.shape, crops.dtype)

fig, ax = plt.subplots(figsize=(4.5, 3.6))
ax.imshow(frames[t0])
bx, by, bs = boxes[t0]
ax.add_patch(plt.Rectangle((bx - bs / 2, by - bs / 2), bs, bs, fill=False, ec="yellow", lw=2))
ax.set_xlim(min(-10, bx - bs / 2 - 10), max(W + 10, bx + bs / 2 + 10))
ax.set_ylim(max(H + 10, by + bs / 2 + 10), min(-10, by - bs / 2 - 10))
ax.set_title(f"frame {t0} and its crop box (side {bs:.0f} px)", fontsize=9)
plt.show()
fig = viz.show_frames(crops, frame_ids=show_ids, size=1.6)
plt.show()

# %% [markdown]
# **Explore.** Move through the frames and change the margin and the smoothing: the raw box
# (white) jumps with the landmarks, the smoothed one (yellow) glides, and a small margin cuts the
# hair band and the chin off the crop. (The widget needs a running kernel; the figures above show
# frame `t0` at the defaults.)

# %%
# NBVAL_IGNORE_OUTPUT
import ipywidgets as widgets

from marlin_lite.course import interact  # ipywidgets.interact, checked by the tests (see its docstring)


def explore(frame=t0, margin=MARGIN, smoothing=2.0):
    raw_b = F.square_boxes(track.landmarks, track.detected, margin=margin, smoothing=0)
    smooth_b = F.square_boxes(track.landmarks, track.detected, margin=margin, smoothing=smoothing)
    crop = F.crop_frames(frames[frame : frame + 1], smooth_b[frame : frame + 1], SIZE)[0]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3.4), gridspec_kw={"width_ratios": [1.6, 1]})
    ax1.imshow(frames[frame])
    for (bx, by, bs), colour in ((raw_b[frame], "white"), (smooth_b[frame], "yellow")):
        ax1.add_patch(plt.Rectangle((bx - bs / 2, by - bs / 2), bs, bs, fill=False, ec=colour, lw=1.5))
    bx, by, bs = smooth_b[frame]
    ax1.set_xlim(min(-10, bx - bs / 2 - 10), max(W + 10, bx + bs / 2 + 10))
    ax1.set_ylim(max(H + 10, by + bs / 2 + 10), min(-10, by - bs / 2 - 10))
    ax1.set_title(f"frame {frame}: raw box (white), smoothed (yellow), side {bs:.0f} px", fontsize=8)
    ax2.imshow(crop)
    ax2.set_title(f"the crop, {SIZE}x{SIZE} (margin {margin:.2f}, smoothing {smoothing:g})", fontsize=8)
    for ax in (ax1, ax2):
        ax.set_xticks([])
        ax.set_yticks([])
    plt.tight_layout()
    plt.show()


interact(explore, frame=widgets.IntSlider(value=t0, min=0, max=T - 1),
         margin=widgets.FloatSlider(value=MARGIN, min=1.0, max=2.0, step=0.05),
         smoothing=widgets.FloatSlider(value=2.0, min=0.0, max=6.0, step=0.5));

# %% [markdown]
# ## 4. Parsing: landmarks -> 11-label maps
#
# Fasking needs MARLIN's 11 labels per pixel. `faces.mesh_parsing` draws them from the
# landmarks, painting polygons in order: an approximate **hair band**, the **skin** (the face
# oval), the **nose** (convex hull of bridge and nostrils), **brows**, **eyes**, **upper/lower
# lip** and the **inner mouth** (only when the mouth is open). `faces.LandmarkParser` draws
# the maps directly in crop coordinates (sharper than cropping a full-frame map).
#
# **The hair band is a guess.** FaceMesh has no hair points: the band is the upper half of the
# face oval pushed outwards by 30 % of its distance from the face centre (`hair=0.3`). It
# covers the hairline of most people, misses long hair, and paints "hair" on a bald forehead or
# a hat (as here: the band lands on the officer's cap). Section 6 measures how much that costs.

# %%
if HAVE_MEDIAPIPE:
    parser = F.LandmarkParser(landmarker)
    parsing = parser.maps(track, boxes, SIZE)
else:
    parsing = F.mesh_parsing(F.to_crop_coords(track.landmarks, boxes, SIZE), SIZE)
print("parsing", parsing.shape, parsing.dtype)
share = {L.LABEL_NAMES[k]: float((parsing == k).mean()) for k in range(L.NUM_LABELS)}
print("labels present in every frame:", [L.LABEL_NAMES[k] for k in range(L.NUM_LABELS) if all((p == k).any() for p in parsing)])
print("skin is the largest face label:", max(share, key=lambda k: share[k] if k != "background" else -1) == "skin")

fig = viz.show_frames([crops, viz.overlay_parsing(crops, parsing, alpha=0.55), viz.parsing_to_rgb(parsing)],
                      frame_ids=show_ids, row_titles=["crop", "overlay", "parsing"], size=1.6)
viz.label_legend(fig.axes[len(show_ids) * 2 - 1])
plt.show()

# %% [markdown]
# ## 5. Fasking on the real crops
#
# From here on the crops are ordinary MARLIN inputs. A clip is 16 frames taken every 2nd frame;
# its parsing maps go straight into `masking.make_visible_mask`, exactly as in lesson 02.

# %%
idx = clip_indices(T, CLIP_FRAMES, SAMPLE_RATE)
clip_frames, clip_parsing = crops[idx], torch.from_numpy(parsing[idx])[None]  # (T, S, S, 3), (1, T, S, S)
member = M.region_membership(clip_parsing, grid)  # {group: bool (1, N)}
component = torch.stack([member[g] for g in M.COMPONENTS]).any(0)
masks = {s: M.make_visible_mask(s, 1, grid, 0.9, parsing=clip_parsing, generator=generator) for s in ("fasking", "tube")}
print(f"clip frames {idx[:3].tolist()}...{idx[-1]}; visible tokens:", {s: int(m.sum()) for s, m in masks.items()})


def masked(frames, visible, ghost=0.2, fill=70):
    v = visible.reshape(grid.shape).numpy().repeat(grid.tubelet, 0).repeat(grid.patch, 1).repeat(grid.patch, 2)[..., None]
    return np.where(v, frames, (fill * (1 - ghost) + frames * ghost).astype(np.uint8))


comp_px = np.isin(clip_parsing[0].numpy(), [i for g in M.COMPONENTS for i in L.REGION_GROUPS[g]])
tokens_px = component[0].reshape(grid.shape).numpy().repeat(2, 0).repeat(16, 1).repeat(16, 2)[..., None]
token_view = np.where(tokens_px, (0.5 * clip_frames + 0.5 * np.array([230, 60, 60])).astype(np.uint8), clip_frames // 3)
slots = list(range(0, CLIP_FRAMES, 2))  # the first frame of every tubelet slot
fig = viz.show_frames([clip_frames, viz.overlay_parsing(clip_frames, clip_parsing[0].numpy(), 0.55), token_view,
                       masked(clip_frames, masks["fasking"][0]), masked(clip_frames, masks["tube"][0])],
                      frame_ids=slots, row_titles=["clip", "parsing", "component tokens", "fasking", "tube"], size=1.3)
plt.show()

# %% [markdown]
# Which tokens does each strategy show? The share of visible tokens that touch a facial
# component (eyes, brows, nose, mouth, hair), against the share among all tokens:

# %%
shares = {s: float(component[m].float().mean()) for s, m in masks.items()}
overall = float(component.float().mean())
print(f"fasking shows fewer component tokens than tube: {shares['fasking'] < shares['tube']}")
print(f"fasking shows fewer component tokens than their share among all tokens: {shares['fasking'] < overall}")
print("every fasking-visible token touches background or skin:",
      bool((member["background"] | member["skin"])[masks["fasking"]].all()))

fig, ax = plt.subplots(figsize=(4.5, 2.4))
ax.barh(["all tokens", "tube", "fasking"], [overall, shares["tube"], shares["fasking"]], color=["0.6", "tab:blue", "tab:red"])
ax.set_xlim(0, 1)
ax.set_xlabel("share touching a facial component", fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 6. How good is landmark parsing?
#
# On a real video we have no exact maps to compare with, but SynthFace has them. We run
# MediaPipe on a SynthFace clip (it finds the cartoon faces) and compare the `LandmarkParser`'s
# maps with `GroundTruthParser`'s, both drawn at the clip's resolution, by **intersection over
# union** per region group. Both parsers share one interface (`track`, then `maps`), which is
# what lets the preprocessing take either.

# %%
if HAVE_MEDIAPIPE:
    synth = generate_clip(0, 0, size=SIZE, num_frames=CLIP_FRAMES)
    truth = F.GroundTruthParser.from_clip(synth).parse(synth.frames).parsing
    guess = F.LandmarkParser(landmarker).parse(synth.frames).parsing
    iou = {}
    for name, ids in L.REGION_GROUPS.items():
        a, b = np.isin(guess, ids), np.isin(truth, ids)
        iou[name] = (a & b).sum() / max((a | b).sum(), 1)
    print("face found in every SynthFace frame:", bool(np.isin(guess, L.REGION_GROUPS["skin"]).any(axis=(1, 2)).all()))
    for name, threshold in (("skin", 0.5), ("mouth", 0.5), ("nose", 0.25), ("right_eye", 0.25), ("left_eye", 0.25), ("background", 0.6)):
        print(f"{name} IoU > {threshold}: {iou[name] > threshold}")
    print("eyes are harder than skin:", bool(max(iou["right_eye"], iou["left_eye"]) < iou["skin"]))

    fig, axes = plt.subplots(1, 4, figsize=(12, 3), gridspec_kw={"width_ratios": [1, 1, 1, 1.6]})
    for ax, img, title in zip(axes, (synth.frames[0], viz.parsing_to_rgb(truth[0]), viz.parsing_to_rgb(guess[0])),
                              ("SynthFace frame", "ground truth", "from landmarks")):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[3].barh(list(iou), list(iou.values()), color="tab:purple")
    axes[3].set_xlim(0, 1)
    axes[3].set_title("IoU per region group", fontsize=9)
    axes[3].tick_params(labelsize=7)
    fig.tight_layout()
    plt.show()
else:
    print("skipped: needs MediaPipe (the optional 'faces' extra)")


# %% [markdown]
# The skin, the mouth and the background agree well; eyes and brows are thin regions where a
# few pixels of offset halve the IoU (the mesh draws each eye between its lids, a thin slit, where
# SynthFace paints a larger eye); and the hair band is a guess that fits some hairstyles and not others. For fasking
# that is good enough: a token belongs to a region when **any** of its 16 x 16 pixels does, so
# small boundary errors rarely change which tokens are hidden.
#
# ## Exercise: the square box
#
# Write `square_box(landmarks_xy, margin)`: for one frame's landmarks `(N, 2)` (pixel `x, y`),
# return `(cx, cy, side)`: the centre of the landmarks' bounding box and `margin` times the
# longer of its width and height. Then it must agree with the package's box with smoothing
# off.

# %% tags=["solution"]
def square_box(landmarks_xy: np.ndarray, margin: float) -> tuple[float, float, float]:
    """(N, 2) pixel x, y of one face -> (cx, cy, side) of MARLIN's square crop box."""
    # BEGIN SOLUTION
    p = np.asarray(landmarks_xy, dtype=np.float64)
    (x0, y0), (x1, y1) = p.min(0), p.max(0)
    return (x0 + x1) / 2, (y0 + y1) / 2, margin * max(x1 - x0, y1 - y0)
    # END SOLUTION


# %% tags=["self-check"]
# Self-check: run me after your solution.
expected = F.square_boxes(track.landmarks, track.detected, margin=MARGIN, smoothing=0)
for t in (0, T // 3, T - 1):
    got = np.asarray(square_box(track.landmarks[t], MARGIN), dtype=np.float64)
    assert got.shape == (3,), f"return three numbers (cx, cy, side), got {got!r}"
    np.testing.assert_allclose(got, expected[t], rtol=0, atol=1e-4,
                               err_msg=f"frame {t}: (cx, cy, side) differs from faces.square_boxes(..., smoothing=0)")
tall = np.array([[0.0, 0.0], [10.0, 40.0], [4.0, 20.0]])
np.testing.assert_allclose(np.asarray(square_box(tall, 2.0), dtype=np.float64), [5.0, 20.0, 80.0],
                           err_msg="a 10 x 40 box at (0, 0): centre (5, 20), side 2 * max(w, h) = 80")
print("self-check passed")

# %% [markdown]
# ## 7. Your own videos: the preprocessing command
#
# `python -m marlin_lite.preprocess VIDEO_DIR OUT_DIR` runs the whole chain (landmarks, smoothed
# square boxes, crops, parsing maps) on every video under a folder and writes, per video, an
# `.mp4` of the crops, an `.npz` of parsing maps and landmarks, and a `.json` record, in the
# layout of `data_samples/`. Files it cannot read are reported, and the others go on.
#
# We try it on a temporary folder with our animated photo and a **corrupt** file (a few bytes
# named `bad.mp4`). The Python entry point `preprocess_folder` is what the command calls; the
# progress bar varies from run to run, so the tests ignore this cell's output.

# %%
# NBVAL_IGNORE_OUTPUT
from marlin_lite.preprocess import PreprocessSettings, preprocess_folder

work = Path(tempfile.mkdtemp(prefix="marlin_02b_"))
(work / "videos").mkdir()
write_video(work / "videos" / "photo.mp4", frames, fps)
(work / "videos" / "bad.mp4").write_bytes(b"this is not a video" * 8)
if HAVE_MEDIAPIPE:
    report = preprocess_folder(work / "videos", work / "out", PreprocessSettings(size=SIZE, audio=False))
    # The same from a shell:  python -m marlin_lite.preprocess VIDEO_DIR OUT_DIR --size 112
else:
    report = None
    print("skipped: the preprocessing needs MediaPipe (the optional 'faces' extra)")

# %%
if report is not None:
    for r in report.results:
        print(f"{r['name']}: {r['status']}" + (f" ({r['error']})" if r["status"] == "error" else ""))
    print("report.ok (no errors):", report.ok)
    saved = json.loads((work / "out" / "preprocess_report.json").read_text())
    print("preprocess_report.json statuses:", sorted((r["name"], r["status"]) for r in saved["results"]))
    print("outputs:", sorted(p.name for p in (work / "out").iterdir()))

# %% [markdown]
# The output folder reads like `data_samples/`: `samples.load_sample` takes a name and a folder.

# %%
if report is not None:
    sample = load_sample("photo", work / "out")
    print("frames", sample.frames.shape, "| parsing", sample.parsing.shape, "| landmarks", sample.landmarks.shape)
    print("face in every frame:", bool(sample.per_frame["detected"].all()))
    print("same parsing as in this lesson (up to the video's smoothing):",
          bool((sample.parsing == parsing).mean() > 0.95))
    fig = viz.show_frames([sample.frames, viz.overlay_parsing(sample.frames, sample.parsing, 0.55)],
                          frame_ids=show_ids, row_titles=["photo.mp4", "parsing"], size=1.6)
    plt.show()
shutil.rmtree(work, ignore_errors=True)  # the temporary folder of section 7

# %% [markdown]
# ## Summary
#
# - `faces.MediaPipeLandmarker` + `faces.track_faces` find 478 FaceMesh landmarks per frame,
#   offline (the optional 'faces' extra); `faces.MESH_CONTOURS` names the outlines we use.
# - MARLIN's crop is a square centred on the face's box with side `margin * max(w, h)`, zero
#   padded outside the frame: `faces.square_boxes` (smoothed over time, `smoothing=0` for the raw
#   boxes) and `faces.crop_frames`.
# - `faces.mesh_parsing` / `faces.LandmarkParser` turn landmarks into MARLIN's 11 labels, with
#   an approximate hair band; on SynthFace they agree well with the exact maps for skin, mouth
#   and background and less for the thin eyes and the guessed hair.
# - Fasking works unchanged on those maps; `python -m marlin_lite.preprocess` does the whole
#   chain for a folder of videos and reports unreadable files instead of stopping.
#
# **Next:** lesson 03 builds the ViT autoencoder that sees the visible tokens and reconstructs
# the hidden ones.
