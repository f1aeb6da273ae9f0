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
# # Lesson 00 · Welcome, and the faces we learn from
#
# **MARLIN-lite** rebuilds MARLIN (Cai et al., CVPR 2023), a *masked autoencoder for facial
# video*, one idea per lesson, on a laptop CPU, with a small package (`marlin_lite`) that you
# can reuse on a GPU for real training.
#
# **In this lesson you will**
# 1. check that your environment works;
# 2. see what MARLIN does and how the course is laid out;
# 3. load talking-face clips from `data_samples/` with the package: frames, audio, parsing maps;
# 4. watch a clip, overlay its facial regions, and compare the sound with the mouth;
# 5. write your first piece of code: measure the mouth from the parsing maps.
#
# *Run time: well under a minute on a laptop CPU.*

# %% tags=["parameters"]
# Parameters (papermill can override these). Tiny defaults: this lesson runs on a laptop CPU.
SEED = 0
SAMPLE = "synth_03_a"  # a clip of data_samples/ (see the index below)
FAKE_SAMPLE = "synth_03_fake"  # its manipulated twin
SIZE = 64  # lessons work at 64x64; MARLIN itself uses 224x224

# %% [markdown]
# ## 1. Environment check
# The versions below depend on your machine, so this cell's output is not compared by the
# notebook tests (it is marked `# NBVAL_IGNORE_OUTPUT`).

# %%
# NBVAL_IGNORE_OUTPUT
import platform

import av
import numpy as np
import torch

import marlin_lite

print(f"python {platform.python_version()} | torch {torch.__version__} | numpy {np.__version__} | PyAV {av.__version__}")
print(f"marlin_lite {marlin_lite.__version__} | CPU threads: {torch.get_num_threads()} | CUDA available: {torch.cuda.is_available()}")

# %%
import json
from collections import Counter

import matplotlib.pyplot as plt
from IPython.display import display

from marlin_lite import labels as L
from marlin_lite import viz
from marlin_lite.samples import list_samples, load_sample
from marlin_lite.synthface import ATTRIBUTES, EXPRESSIONS, generate_clip
from marlin_lite.utils import seed_everything
from marlin_lite.video import clip_indices, frames_to_tensor

generator = seed_everything(SEED)
# %matplotlib inline
plt.rcParams["figure.dpi"] = 80
assert torch.__version__ >= "2", "MARLIN-lite needs PyTorch 2"
print("ready")

# %% [markdown]
# ## 2. What MARLIN does
#
# A face video carries who someone is, what they feel, what they say, and whether the video
# was tampered with. MARLIN learns all of that **without labels**:
#
# 1. Cut a clip of 16 frames (every 2nd frame, so about 1.3 s at 25 fps) at 224x224 pixels into
#    *tubelets*: blocks of 2 frames x 16 x 16 pixels. That makes 8 x 14 x 14 = 1568 tokens.
# 2. **Hide 90 % of the tokens.** Not at random: MARLIN parses each face into regions and
#    prefers to hide the *facial components* (eyes and brows, nose, mouth, hair), keeping
#    background and skin visible. This is *face-guided masking* ("fasking").
# 3. A Vision Transformer **encoder** sees only the 156 visible tokens; a small **decoder** must
#    reconstruct the hidden ones, pixel by pixel. A per-patch **discriminator** adds an
#    adversarial push towards sharp reconstructions.
# 4. After pretraining, the encoder's features feed simple heads for four tasks: facial
#    attributes, expressions, deepfake detection and lip synchronisation.
#
# ### The course map
#
# | lesson | builds | CPU time |
# |---|---|---|
# | 00 welcome and data (this one) | video I/O, SynthFace data, parsing maps, audio | < 1 min |
# | 01 tube masking | patches, tubelets, random / frame / tube masks | < 2 min |
# | 02 face-guided masking | parsing maps to token regions, fasking | < 2 min |
# | 03 ViT autoencoder | encoder, decoder, discriminator; official-weight parity | < 2 min |
# | 04 pretraining | the losses, a tiny pretraining run | < 3 min |
# | 05 feature extraction | windows, pooling, what the features know | < 2 min |
# | 06-09 downstream tasks | attributes, expressions, deepfakes, lip sync | < 3 min each |
# | 10 ablations and low data | masking, ratio, adversarial loss, few labels | < 3 min |
# | `scaled/` | the same code on GPUs, through papermill | hours |
#
# Lessons 01 onwards arrive as the course grows; see the README for what is ready.

# %% [markdown]
# ## 3. The data: SynthFace
#
# Real face-video data sets are large and cannot ship with a course. MARLIN-lite draws its own
# faces: **SynthFace** renders talking faces from a few dozen shapes, and because it draws them,
# it knows the truth a real data set would have to label by hand: the facial region of every
# pixel, landmarks, attributes, the expression over time, when the eyes blink, how wide the
# mouth is in each frame and the speech that drives it, and, for fakes, exactly which pixels
# were manipulated.
#
# `data_samples/` holds a small sample written to disk the way a downloaded data set would be:
# an `.mp4` per clip (h264 video + AAC audio), a `.json` of labels and an `.npz` of per-frame maps.

# %%
index = json.loads((marlin_lite.samples.DEFAULT_DIR / "index.json").read_text())
clips = index["clips"]
print(f"{len(clips)} clips, {index['num_frames']} frames of {index['size']}x{index['size']} at {index['fps']:g} fps")
print("identities:", len({c["identity"] for c in clips}))
print("manipulations:", dict(sorted(Counter(c["manipulation"] for c in clips).items())))
print("expressions:", dict(sorted(Counter(c["expression"] for c in clips).items())))
print("audio offsets (frames):", dict(sorted(Counter(c["av_offset"] for c in clips).items())))

# %% [markdown]
# `load_sample` reads a clip back with the package: the video and its audio are decoded with
# PyAV (`marlin_lite.video.read_video`), the maps and labels come from the `.npz` and `.json`.

# %%
sample = load_sample(SAMPLE)
print("frames   ", sample.frames.shape, sample.frames.dtype, f"at {sample.fps:g} fps")
print("audio    ", sample.audio.shape, sample.audio.dtype, f"at {sample.sample_rate} Hz")
print("parsing  ", sample.parsing.shape, sample.parsing.dtype, "label ids", sorted(np.unique(sample.parsing).tolist()))
print("landmarks", sample.landmarks.shape)
print("expression:", sample.labels["expression"], "| attributes:", ", ".join(sample.labels["attributes"]))

# %% [markdown]
# ### Watch it
# The clip, then the same clip with its parsing map laid over it. (Animations differ from
# machine to machine in their bytes, so the tests skip this output.)

# %%
# NBVAL_IGNORE_OUTPUT
overlay = viz.overlay_parsing(sample.frames, sample.parsing, alpha=0.55)
viz.show_gif([sample.frames[::2], overlay[::2]], fps=sample.fps / 4, scale=1)  # every 2nd frame, half speed

# %% [markdown]
# The same, as a still figure: every 6th frame. The colours are MARLIN's 11 face-parsing labels
# (those of the LaPa data set). "Right" means the *person's* right, which is on the image's left.

# %%
fig = viz.show_frames([sample.frames, overlay], frame_ids=range(0, 48, 6), row_titles=["video", "parsing"])
viz.label_legend(fig.axes[len(fig.axes) // 2 - 1])
plt.show()

# %% [markdown]
# Landmarks are named points on the face, in pixels. Here are the 22 of SynthFace on one frame,
# next to the region labels.

# %%
t = 20
fig, axes = plt.subplots(1, 2, figsize=(7, 3.4))
axes[0].imshow(sample.frames[t])
axes[0].scatter(*sample.landmarks[t].T, s=9, c="yellow", edgecolors="k", linewidths=0.4)
axes[0].set_title(f"frame {t} with landmarks")
axes[1].imshow(viz.parsing_to_rgb(sample.parsing[t]))
axes[1].set_title("parsing map")
for ax in axes:
    ax.axis("off")
viz.label_legend(axes[1])
plt.show()
pixels = np.bincount(sample.parsing[t].ravel(), minlength=L.NUM_LABELS) / sample.parsing[t].size
print("share of pixels per region:", {L.LABEL_NAMES[i]: round(float(p), 3) for i, p in enumerate(pixels)})

# %% [markdown]
# ## 4. Sound and mouth
#
# SynthFace speaks in syllables: each has a vowel, and its loudness rises and falls. The vowel
# and the loudness set how far the mouth opens in each frame. That is the ground truth that
# lip-sync models must learn; here it is against the waveform.

# %%
mouth = sample.per_frame["mouth_open"]
envelope = sample.per_frame["speech_envelope"]
viz.plot_audio_and_mouth(sample.audio, sample.sample_rate, mouth, sample.fps, envelope=envelope)
plt.show()
spf = sample.sample_rate / sample.fps  # audio samples per video frame
rms = np.array([np.sqrt(np.mean(sample.audio[int(i * spf) : int((i + 1) * spf)] ** 2)) for i in range(len(mouth))])
print(f"correlation, mouth opening vs per-frame loudness of the decoded audio: {np.corrcoef(mouth, rms)[0, 1]:.2f}")

# %% [markdown]
# ## 5. Real and fake
#
# Every identity in the sample also has a manipulated clip. This one is a
# *face swap*: another person's inner face pasted with a visible seam and mismatched colour.
# SynthFace also knows *where* it manipulated: the fake mask.

# %%
fake = load_sample(FAKE_SAMPLE)
print("manipulation:", fake.labels["manipulation"], "| donor identity:", fake.labels.get("donor_identity"))
mask_rgb = (np.repeat(fake.fake_mask[..., None], 3, axis=-1) * 255).astype(np.uint8)
viz.show_frames([sample.frames, fake.frames, mask_rgb], frame_ids=range(0, 48, 8), row_titles=["real", "fake", "fake mask"])
plt.show()
print(f"share of pixels manipulated: {fake.fake_mask.mean():.3f}")

# %% [markdown]
# ## 6. SynthFace on the fly
#
# The package renders new clips in milliseconds, at any size, for any identity, expression,
# audio offset or manipulation. Each row is a different person; each column shows the
# expression at its apex.

# %%
rows = []
for identity in range(4):
    row = []
    for expression in EXPRESSIONS:
        c = generate_clip(identity, 0, size=SIZE, num_frames=16, expression=expression, speaking=False)
        apex = int(np.argmax(c.per_frame["expression_intensity"])) if expression != "neutral" else 8
        row.append(c.frames[apex])
    rows.append(np.stack(row))
fig = viz.show_frames(rows, frame_ids=range(len(EXPRESSIONS)), row_titles=[f"identity {i}" for i in range(4)])
for ax, name in zip(fig.axes, EXPRESSIONS):
    ax.set_title(name, fontsize=8)
plt.show()

# %% [markdown]
# **Explore.** Pick a person, an expression and a manipulation, and scrub through the frames.
# (The widget needs a running kernel; the static grid above shows the same.)

# %%
# NBVAL_IGNORE_OUTPUT
import ipywidgets as widgets

from marlin_lite.course import interact  # ipywidgets.interact, checked by the tests (see its docstring)

from marlin_lite.synthface import MANIPULATIONS


def explore(identity=0, expression="happy", manipulation="none", frame=8, show_parsing=False):
    c = generate_clip(identity, 0, size=96, num_frames=16, expression=expression, manipulation=manipulation)
    shown = viz.overlay_parsing(c.frames, c.parsing, 0.6) if show_parsing else c.frames
    fig, ax = plt.subplots(figsize=(3, 3))
    ax.imshow(shown[frame])
    ax.set_title(f"mouth {c.per_frame['mouth_open'][frame]:.2f}, intensity {c.per_frame['expression_intensity'][frame]:.2f}", fontsize=8)
    ax.axis("off")
    plt.show()


interact(
    explore,
    identity=widgets.IntSlider(0, 0, 99),
    expression=list(EXPRESSIONS),
    manipulation=list(MANIPULATIONS),
    frame=widgets.IntSlider(8, 0, 15),
    show_parsing=False,
);

# %%
# NBVAL_IGNORE_OUTPUT
import time

start = time.perf_counter()
for i in range(20):
    generate_clip(i, 1, size=SIZE, num_frames=16)
print(f"{(time.perf_counter() - start) / 20 * 1000:.1f} ms per 16-frame {SIZE}x{SIZE} clip with maps and audio")

# %% [markdown]
# ## 7. From a video file to MARLIN's input
#
# MARLIN takes 16 frames, every 2nd one, and feeds the model a float tensor
# `(channels, time, height, width)` in [0, 1]. Let us derive the frame indices ourselves, then
# check that the package agrees: the course's habit, so lessons and package never drift apart.

# %%
clip_len, sample_rate, start = 16, 2, 5
ours = start + np.arange(clip_len) * sample_rate  # derived inline
package = clip_indices(len(sample.frames), clip_len, sample_rate, start=start)
np.testing.assert_array_equal(ours, package)
print("indices:", ours.tolist())

x = frames_to_tensor(sample.frames[ours])  # (C, T, H, W) float32 in [0, 1]
x = torch.nn.functional.interpolate(x, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False)
print("model input:", tuple(x.shape), x.dtype, f"range [{x.min():.2f}, {x.max():.2f}]")


# %% [markdown]
# ## Exercise: measure the mouth
#
# The parsing maps tell you, pixel by pixel, where the inner mouth is (label
# `L.INNER_MOUTH` = 8). Write `mouth_opening_from_parsing(parsing)` that returns, for every
# frame, the **fraction of the frame's pixels labelled inner mouth**, as a float NumPy array of
# shape `(T,)`. The self-check below then tests that your measurement follows the ground-truth
# mouth opening on two clips.
#
# *Hint:* compare the map with the label, then average over the two pixel axes.

# %% tags=["solution"]
def mouth_opening_from_parsing(parsing: np.ndarray) -> np.ndarray:
    """Fraction of inner-mouth pixels per frame: uint8 (T, H, W) -> float (T,)."""
    # BEGIN SOLUTION
    return (parsing == L.INNER_MOUTH).mean(axis=(1, 2))
    # END SOLUTION


# %% tags=["self-check"]
# Self-check: run me after your solution.
for name in (SAMPLE, "synth_08_b"):
    s = load_sample(name)
    measured = np.asarray(mouth_opening_from_parsing(s.parsing))
    assert measured.shape == (len(s.parsing),), f"expected shape ({len(s.parsing)},), got {measured.shape}"
    assert np.issubdtype(measured.dtype, np.floating), "return floats (a fraction), not counts"
    assert 0 <= measured.min() and measured.max() < 0.2, "a fraction of the frame's pixels, between 0 and 1"
    r = np.corrcoef(measured, s.per_frame["mouth_open"])[0, 1]
    assert r > 0.7, f"{name}: your measurement barely follows the mouth (correlation {r:.2f})"
    print(f"{name}: correlation with the ground-truth mouth opening {r:.2f}")
print("Well done!")

# %% [markdown]
# ## Summary
# - MARLIN hides most of a face clip, preferring the facial components, and learns by
#   reconstructing them; its encoder then serves four facial tasks.
# - The package reads and writes real video files with PyAV (`marlin_lite.video`), and
#   SynthFace (`marlin_lite.synthface`) makes talking faces with exact ground truth: parsing
#   maps, landmarks, attributes, expressions, speech-driven mouths, fakes.
# - MARLIN's input is a `(3, 16, H, W)` float tensor of every 2nd frame.
#
# **Next:** lesson 01 cuts clips into tubelets and hides them: *tube masking*.
