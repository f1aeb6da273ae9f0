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
# # Lesson 05 · Features: what the pretrained encoder knows
#
# Lesson 04 pretrained MARLIN's recipe without labels and shipped the result as the **course
# checkpoint**. MARLIN keeps its **encoder**: every downstream task uses the feature vector it
# makes of a face video. This lesson builds that vector and asks what it knows before any head
# is trained, against two controls: the same network before pretraining, and raw pixels.
#
# **In this lesson you will**
# 1. load the course checkpoint (or your own run) and rebuild the network it started from;
# 2. derive MARLIN's feature protocol by hand and check it against `extract_video`;
# 3. extract features of unseen people with the pretrained encoder, the random-init encoder and
#    raw pixels, and view them with a PCA written from an SVD;
# 4. measure nearest-neighbour retrieval (same person? same expression?) with 95 % intervals
#    over people;
# 5. write `cosine_knn`, the k-nearest-neighbour search behind it.
#
# *Run time: under a minute on 2 CPU cores.*

# %% tags=["parameters"]
SEED = 0
WEIGHTS = "course"  # "course": the shipped checkpoint | "train": CONFIG/OUT_DIR through the checkpoint ladder | a checkpoint.pt path
CONFIG = "../configs/course.yaml"  # used by WEIGHTS = "train": the course recipe (about 40 min on 2 CPU cores)
OUT_DIR = "../runs/course"  # used by WEIGHTS = "train": reused if it holds a finished run of CONFIG, resumed or trained otherwise
NUM_IDENTITIES = 30  # people in the retrieval set
CLIPS_PER_IDENTITY = 6  # with 6, every person shows each of the 6 expressions once
WORLD_SEED = 1  # a SynthFace "world" of people pretraining never saw (it used world 0)
FRAMING = "face"  # MARLIN-like face crops, as the checkpoint was trained on
EXPRESSIONS = "marked"  # large, local expressions, as the checkpoint was trained on
SAMPLE_RATE = 2  # MARLIN takes every 2nd frame of a video
VIDEO_FRAMES = 48  # length of the whole video of section 2

# %%
import math
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from marlin_lite.course_weights import COURSE_WEIGHTS, course_record, lesson_model
from marlin_lite.data import SynthFaceDataset
from marlin_lite.features import extract_features, extract_video, prepare_clips, video_windows
from marlin_lite.model import MarlinAutoencoder
from marlin_lite.synthface import EXPRESSIONS as EXPRESSION_NAMES
from marlin_lite.synthface import generate_clip
from marlin_lite.utils import seed_everything
from marlin_lite.video import read_video, window_indices, write_video

# %matplotlib inline
plt.rcParams["figure.dpi"] = 80
generator = seed_everything(SEED)
RENDER = dict(framing=FRAMING, expressions=EXPRESSIONS)  # every SynthFace clip of this lesson is rendered so

# %% [markdown]
# ## 1. The encoder: the course checkpoint
#
# The course checkpoint is lesson 04's recipe run to the end: the tiny preset (4 blocks, 128
# wide), fasking at 90 %, thousands of SynthFace people, on clips **framed as MARLIN frames its
# inputs** (a square crop that follows the face, on a background drawn per clip), as is every
# clip here. `lesson_model` checks the shipped file's SHA-256 and returns a float32 model in
# eval mode (other `WEIGHTS`: appendix).

# %%
# NBVAL_IGNORE_OUTPUT
model, pre_cfg, source = lesson_model(WEIGHTS, config=CONFIG, out_dir=OUT_DIR, progress=True)  # the shipped checkpoint's hash is checked first

# %%
mcfg = model.cfg
SIZE, NUM_FRAMES = mcfg.img_size, mcfg.num_frames  # clips are made at the size and length the encoder takes
print(f"encoder: preset {mcfg.name}, {mcfg.enc_depth} blocks, width D = {mcfg.enc_dim}, "
      f"{NUM_FRAMES} frames of {SIZE}x{SIZE} = {mcfg.num_tokens} tokens")
print(f"pretraining: {pre_cfg.max_steps} steps of batch {pre_cfg.batch_size}, clips of the train split of {pre_cfg.num_identities} "
      f"people of world {pre_cfg.world_seed} ({pre_cfg.clips_per_identity} per person); {pre_cfg.mask_strategy} at {pre_cfg.mask_ratio}, "
      f"adversarial term {'on' if pre_cfg.adversarial else 'off'}")
print(f"pretraining clips: framing {pre_cfg.framing!r}, expressions {pre_cfg.expressions!r}")
assert pre_cfg.world_seed != WORLD_SEED, "this lesson's people must come from a world the encoder never saw"
print(f"this lesson:       people of world {WORLD_SEED}, framing {FRAMING!r}, expressions {EXPRESSIONS!r}")

# %% [markdown]
# The baseline is **the same network before pretraining**: `train()` seeds PyTorch with the
# config's `seed` and then builds the model, so doing the same rebuilds the starting weights
# (`fork_rng` leaves the lesson's random state alone).

# %%
with torch.random.fork_rng():
    torch.manual_seed(pre_cfg.seed)
    untrained = MarlinAutoencoder(mcfg, discriminator=True).eval()
same_shapes = [p.shape for p in model.encoder.parameters()] == [p.shape for p in untrained.encoder.parameters()]
moved = max((a - b).abs().max().item() for a, b in zip(model.encoder.parameters(), untrained.encoder.parameters()))
assert same_shapes
print(f"same architecture; the largest change of an encoder weight in pretraining: {moved:.3f}")

# %% [markdown]
# ## 2. MARLIN's feature protocol, by hand
#
# MARLIN turns a whole video, of any length, into features:
#
# 1. cut the video into **non-overlapping windows**: window $k$ takes the `num_frames` frames
#    $s_k + 2j$ ($j = 0, \dots,$ `num_frames`$-1$), every 2nd frame as in pretraining, starting at
#    $s_k = k \cdot$ `num_frames` $\cdot 2$ for every $s_k < T - 2\,$`num_frames` (the official
#    `extract_video`'s rule, $T$ the video's frames; note the strict bound);
# 2. resize each frame to the model's size;
# 3. run the encoder over **all** tokens: no masking at feature time;
# 4. take the **mean over the tokens**, then the encoder's **final LayerNorm**, in that order:
#    one vector of width $D$ per window, so a video becomes `(n_windows, D)`;
# 5. for one vector per video, reduce over the windows by `mean` (or `max`).
#
# MARLIN uses 16-frame windows; the tiny model uses 8. Here is a 48-frame face video of a
# person from world 1, written to an mp4 and read back:

# %%
video_dir = Path(tempfile.mkdtemp(prefix="lesson05_videos_"))  # a folder of face crops (the appendix adds more)
clip = generate_clip(3, 0, world_seed=WORLD_SEED, size=SIZE, num_frames=VIDEO_FRAMES, **RENDER)
path = write_video(video_dir / "person03.mp4", clip.frames, clip.fps)
frames = read_video(path, audio=False).frames  # uint8 (T, H, W, 3)

step = NUM_FRAMES * SAMPLE_RATE  # source frames between window starts
starts = list(range(0, len(frames) - step, step))  # the official rule: s < T - step
index = np.stack([s + np.arange(NUM_FRAMES) * SAMPLE_RATE for s in starts])  # (n_windows, NUM_FRAMES)
windows = frames[index]  # (n_windows, NUM_FRAMES, H, W, 3)

assert np.array_equal(index, window_indices(len(frames), NUM_FRAMES, SAMPLE_RATE))
assert np.array_equal(windows, video_windows(frames, NUM_FRAMES, SAMPLE_RATE))
print(f"{path.name}: {frames.shape[0]} frames of {frames.shape[1]}x{frames.shape[2]}")
print(f"window starts {starts} -> windows {windows.shape}")
for k, row in enumerate(index):
    print(f"  window {k}: source frames {row.tolist()}")
full = window_indices(len(frames), NUM_FRAMES, SAMPLE_RATE, rule="full")
print(f"every window that fits (rule='full') would also take frames {full[-1].tolist()}: {len(full)} windows")

# %%
fig, axes = plt.subplots(len(index), NUM_FRAMES, figsize=(1.1 * NUM_FRAMES, 1.25 * len(index)), squeeze=False)
for k, row in enumerate(index):
    for j, t in enumerate(row):
        ax = axes[k, j]
        ax.imshow(frames[t])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"frame {t}", fontsize=7)
    axes[k, 0].set_ylabel(f"window {k}", fontsize=8)
fig.suptitle(f"{path.name}: non-overlapping windows, every {SAMPLE_RATE}nd frame", fontsize=9)
plt.tight_layout()
plt.show()

# %% [markdown]
# The strict bound drops the window at frame 32 although its frames exist (the in-memory lessons
# keep it, `rule="full"`; files are read the official way). A video of at most 2·`num_frames`
# frames gets one window: its first `num_frames` frames at rate 1, padded by repeating the last
# frame when it has fewer:

# %%
for t in (5, 12):
    print(f"a {t}-frame video -> one window of source frames {window_indices(t, NUM_FRAMES, SAMPLE_RATE)[0].tolist()}")

# %% [markdown]
# The windows become tensors `(n, 3, T, SIZE, SIZE)` in $[0, 1]$ and go through the encoder
# written out with the package's layers (lesson 03): patch embedding plus positions for **all**
# $N$ tokens, the blocks, the mean over tokens, then the final LayerNorm.

# %%
x = torch.from_numpy(windows).float().div(255).permute(0, 4, 1, 2, 3)  # (n, 3, T, H, W)
n, c, t, h, w = x.shape
flat = x.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w)  # every frame on its own
if (h, w) != (SIZE, SIZE):
    flat = F.interpolate(flat, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False)
clips = flat.reshape(n, t, c, SIZE, SIZE).permute(0, 2, 1, 3, 4).clamp(0, 1)
torch.testing.assert_close(clips, prepare_clips(windows, SIZE))

enc = model.encoder
with torch.no_grad():
    z = enc.patch_embed(clips) + enc.pos_embed  # (n, N, D): every token, no mask
    for blk in enc.blocks:
        z = blk(z)
    pooled = z.mean(dim=1)  # (n, D): mean over the N tokens ...
    by_hand = F.layer_norm(pooled, (mcfg.enc_dim,), enc.norm.weight, enc.norm.bias, eps=mcfg.norm_eps)  # ... then LN
    other_order = F.layer_norm(z, (mcfg.enc_dim,), enc.norm.weight, enc.norm.bias, eps=mcfg.norm_eps).mean(dim=1)

package = extract_video(path, model, sample_rate=SAMPLE_RATE)
torch.testing.assert_close(by_hand, package)
print("tokens per window", tuple(z.shape), "-> features", tuple(by_hand.shape))
print("by hand and extract_video(path, model) agree to float32 rounding (assert_close above)")
gap = (other_order - by_hand).norm(dim=1) / by_hand.norm(dim=1)
print(f"LayerNorm-then-mean differs from mean-then-LayerNorm by {gap.mean():.2f} of the vector's length")

# %% [markdown]
# The official order gives zero mean and unit variance over the $D$ entries, before the learned
# scale and shift; the other order lands about 1 % of the vector's length away: small, but not
# zero. A video is either its windows or one vector:

# %%
for reduction in ["none", "mean", "max"]:
    f = extract_video(path, model, sample_rate=SAMPLE_RATE, reduction=reduction)
    print(f"reduction={reduction!r:7s} -> {tuple(f.shape)}")
torch.testing.assert_close(extract_video(path, model, reduction="mean"), package.mean(0))  # over the windows
torch.testing.assert_close(extract_video(path, model, reduction="max"), package.max(0).values)

# %% [markdown]
# ## 3. A set of faces to probe: identities x expressions
#
# Probing needs clips whose factors we control. With `split_by="clip"` and 6 clips per person,
# `SynthFaceDataset` cycles the expressions so that **every person shows every expression exactly
# once**. The people come from world 1, unseen by the encoder; each clip is one window.

# %%
dataset = SynthFaceDataset("train", split_by="clip", fractions=(1.0, 0.0, 0.0), num_identities=NUM_IDENTITIES,
                           clips_per_identity=CLIPS_PER_IDENTITY, world_seed=WORLD_SEED, size=SIZE, num_frames=NUM_FRAMES, **RENDER)
items = [dataset[i] for i in range(len(dataset))]
videos = torch.stack([it["video"] for it in items])  # (N_clips, 3, T, H, W)
identity = torch.stack([it["identity"] for it in items])
expression = torch.stack([it["expression"] for it in items])
pairs = torch.zeros(NUM_IDENTITIES, len(EXPRESSION_NAMES), dtype=torch.long)
pairs.index_put_((identity, expression), torch.ones_like(identity), accumulate=True)
print(f"{len(dataset)} clips {tuple(videos.shape)} | {identity.unique().numel()} people | {expression.unique().numel()} expressions")
print("clips per (person, expression): min", pairs.min().item(), "max", pairs.max().item())

# %%
show_people = min(NUM_IDENTITIES, 6)
last = NUM_FRAMES - 1  # expressions build up over the clip: the last frame shows them best
fig, axes = plt.subplots(show_people, len(EXPRESSION_NAMES), figsize=(1.2 * len(EXPRESSION_NAMES), 1.2 * show_people), squeeze=False)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
for i in range(len(items)):
    p, e = int(identity[i]), int(expression[i])
    if p < show_people:
        axes[p, e].imshow(videos[i, :, last].permute(1, 2, 0).numpy())
for e, name in enumerate(EXPRESSION_NAMES):
    axes[0, e].set_title(name, fontsize=8)
for p in range(show_people):
    axes[p, 0].set_ylabel(f"person {p}", fontsize=8)
fig.suptitle(f"last frame of each clip (first {show_people} people); each clip has its own background", fontsize=9)
plt.tight_layout()
plt.show()


# %% [markdown]
# Three feature sets for the same clips:
#
# * **pretrained**: the course encoder with the protocol above (`extract_features`);
# * **random init**: the same network before pretraining;
# * **pixels**: no network. Each frame averaged to $16 \times 16$, and each of the
#   $3 \cdot 8 \cdot 16 \cdot 16 = 6144$ numbers standardised over the clips. A network that
#   cannot beat this has learnt nothing a resize could not do.

# %%
def standardise(x):
    """Each column to zero mean and unit variance over the rows (constant columns stay 0)."""
    return (x - x.mean(0)) / x.std(0).clamp_min(1e-6)


features = {
    "pretrained": extract_features(model, videos),
    "random init": extract_features(untrained, videos),
    "pixels": standardise(F.avg_pool3d(videos, (1, SIZE // 16, SIZE // 16)).flatten(1)),
}
for name, f in features.items():
    print(f"{name:12s} {tuple(f.shape)} {f.dtype}")


# %% [markdown]
# ## 4. A first look: PCA from an SVD
#
# Center the $N \times D$ features, $X_c = X - \bar{x}$, and take the SVD $X_c = U S V^\top$:
# the rows of $V^\top$ are the principal directions, $X_c V_{:, :2}$ the 2-D coordinates,
# $S_i^2 / \sum_j S_j^2$ the share of variance direction $i$ explains. The check uses the
# $N \times N$ Gram matrix $X_c X_c^\top / (N-1)$, whose non-zero eigenvalues are the covariance
# matrix's; it stays small when $D$ is 6144.

# %%
def pca_2d(f):
    """(N, D) features -> (N, 2) coordinates on the top two principal directions, explained-variance ratios."""
    centered = f - f.mean(dim=0)
    _, s, vh = torch.linalg.svd(centered, full_matrices=False)
    return centered @ vh[:2].T, s**2 / (s**2).sum()


for name, f in features.items():
    coords, ratio = pca_2d(f)
    centered = (f - f.mean(0)).double()
    top2 = torch.linalg.eigvalsh(centered @ centered.T / (len(f) - 1)).flip(0)[:2]
    torch.testing.assert_close(coords.double().var(dim=0), top2, rtol=1e-4, atol=1e-6)
    assert abs(torch.corrcoef(coords.T)[0, 1]) < 1e-3  # the two coordinates are uncorrelated
print("PCA by SVD == eigen-decomposition (variances of the coordinates, uncorrelated):", True)

# %%
colors_id = plt.get_cmap("tab20")(np.arange(20))
colors_ex = plt.get_cmap("Dark2")(np.arange(len(EXPRESSION_NAMES)))
fig, axes = plt.subplots(2, 3, figsize=(13, 8))
for col, name in enumerate(features):
    coords, ratio = pca_2d(features[name])
    for row, (labels, palette, title) in enumerate([(identity, colors_id, "person"), (expression, colors_ex, "expression")]):
        ax = axes[row, col]
        ax.scatter(coords[:, 0], coords[:, 1], c=palette[labels.numpy() % len(palette)], s=20, edgecolors="k", linewidths=0.3)
        ax.set_title(f"{name}: coloured by {title}\n(PC1+PC2 explain {ratio[:2].sum():.0%} of the variance)", fontsize=9)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
handles = [plt.Line2D([], [], marker="o", ls="", color=colors_ex[e], label=n) for e, n in enumerate(EXPRESSION_NAMES)]
axes[1, 2].legend(handles=handles, fontsize=7, loc="best")
plt.tight_layout()
plt.show()


# %% [markdown]
# Coloured by person (top row), the pretrained features gather several people's clips into tight
# clumps of one colour, the rest overlapping in the middle; the random-init features form one
# mixed blob; pixels clump by person too. Coloured by expression (bottom row), no panel shows a
# grouping. PCA shows two directions only; retrieval uses all of them.
#
# ## 5. Nearest-neighbour retrieval, with intervals
#
# For each clip (the *query*) find the most similar **other** clip by cosine similarity: same
# person? same expression? Same-person neighbours always show *other* expressions, so we also ask
# the expression question **among other people's clips only**.
#
# A person's queries share a face, so the sampling unit is the **person**: the mean over people
# of each person's hit rate $\pm 1.96\, s/\sqrt{P}$, $s$ the standard deviation of the $P$
# per-person means (a 95 % interval). Differences between feature sets are **paired** (same
# queries): the interval of the per-person differences.

# %%
def cosine_similarity_matrix(f):
    f = F.normalize(f, dim=1)
    return f @ f.T


def retrieval_hits(f, identity, expression):
    """Per query (N,): 1.0 where its nearest other clip (or nearest clip of another person) matches."""
    sim = cosine_similarity_matrix(f)
    sim.fill_diagonal_(float("-inf"))  # never retrieve the query itself
    nearest = sim.argmax(dim=1)
    nearest_other = sim.masked_fill(identity[:, None] == identity[None, :], float("-inf")).argmax(dim=1)
    return {
        "person": (identity[nearest] == identity).float(),
        "expression": (expression[nearest] == expression).float(),
        "expression, other people": (expression[nearest_other] == expression).float(),
    }


def interval_over_people(values, identity):
    """Mean of per-query values and the 95 % half-width of that mean, with people as the sampling unit."""
    people = identity.unique()
    per_person = torch.stack([values[identity == p].mean() for p in people])
    return per_person.mean().item(), 1.96 * per_person.std().item() / math.sqrt(len(people))


same_person = identity[:, None] == identity[None, :]
same_expr = expression[:, None] == expression[None, :]
others = ~torch.eye(len(identity), dtype=torch.bool)
chance = {
    "person": ((same_person & others).sum(1) / others.sum(1)).mean().item(),
    "expression": ((same_expr & others).sum(1) / others.sum(1)).mean().item(),
    "expression, other people": ((same_expr & ~same_person).sum(1) / (~same_person).sum(1)).mean().item(),
}
hits = {name: retrieval_hits(f, identity, expression) for name, f in features.items()}
tasks = list(chance)
print(f"top-1 accuracy over {len(identity)} queries, mean ± 95 % half-width over {NUM_IDENTITIES} people")
print(f"{'':30s}" + "".join(f"{name:>14s}" for name in hits) + f"{'chance':>9s}")
for task in tasks:
    cells = [interval_over_people(hits[name][task], identity) for name in hits]
    print(f"same {task:25s}" + "".join(f"{m:7.2f} ± {h:.2f}" for m, h in cells) + f"{chance[task]:9.2f}")

# %%
fig, ax = plt.subplots(figsize=(9, 3.6))
width = 0.25
for k, name in enumerate(hits):
    stats = [interval_over_people(hits[name][t], identity) for t in tasks]
    xs = np.arange(len(tasks)) + (k - 1) * width
    bars = ax.bar(xs, [m for m, _ in stats], width, yerr=[h for _, h in stats], capsize=3, label=name)
    ax.bar_label(bars, labels=[f"{m:.2f}" for m, _ in stats], fontsize=7, padding=6)
for i, t in enumerate(tasks):
    ax.hlines(chance[t], i - 1.7 * width, i + 1.7 * width, colors="k", linestyles="--", label="chance" if i == 0 else None)
ax.set_xticks(np.arange(len(tasks)), [f"same {t}" for t in tasks])
ax.set_ylabel("top-1 accuracy")
ax.set_ylim(0, 1.15)
ax.set_title(f"nearest-neighbour retrieval over {len(identity)} clips of {NUM_IDENTITIES} unseen people (95 % intervals over people)", fontsize=9)
ax.legend(fontsize=8, ncol=4, loc="upper right")
plt.tight_layout()
plt.show()

# %% [markdown]
# Paired comparisons: pretrained against random init (what pretraining added) and against pixels
# (does the network beat a resize?). An interval that excludes 0 is a difference these 30 people
# support.

# %%
differences = {}
for task in tasks:
    line = []
    for other in ("random init", "pixels"):
        differences[task, other] = d, hw = interval_over_people(hits["pretrained"][task] - hits[other][task], identity)
        line.append(f"pretrained - {other}: {d:+.2f} ± {hw:.2f}")
    print(f"same {task:25s} " + " | ".join(line))

# What the text below says, checked with a margin (the cell fails if a change of weights or data breaks it):
d, hw = differences["person", "random init"]
assert d - hw > 0.2, "pretraining should clearly improve identity retrieval"
d, hw = differences["person", "pixels"]
assert d + hw < 0.05, "the pretrained encoder should not beat pixels at identity retrieval"
assert all(abs(hits[name]["expression, other people"].mean().item() - chance["expression, other people"]) < 0.1 for name in hits)

# %% [markdown]
# **Who is in the clip.** Pretraining helped: the nearest neighbour is the same person for most
# queries, against about a third before pretraining (a paired difference near +0.5). But resized
# pixels do better still: the pretrained-minus-pixels interval lies below 0. Backgrounds are
# drawn per clip, so pixels match the face itself: a SynthFace identity is largely the colours
# of skin, hair, beard and glasses in fixed places, which a resize keeps.
#
# **Which expression.** No feature set retrieves it. Among all clips every set is *below*
# chance: a person's other clips, all other expressions, are the nearest. Among other people's
# clips the pretrained features sit at chance, the random-init ones a little under (their
# interval just reaches chance), pixels a few points above (an interval that only just excludes
# it). Cosine similarity weighs every dimension equally, so identity swamps the small change an
# expression makes; a trained head can weight the directions that might carry it (lessons 06-09).
#
# The similarity matrices (clips sorted by person, 6 per block on the diagonal):

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.9))
for ax, (name, f) in zip(axes, features.items()):
    im = ax.imshow(cosine_similarity_matrix(f), cmap="viridis")
    ax.set_title(f"{name}: cosine similarity", fontsize=9)
    ax.set_xticks(np.arange(0, len(identity), 5 * CLIPS_PER_IDENTITY))
    ax.set_yticks(np.arange(0, len(identity), 5 * CLIPS_PER_IDENTITY))
    fig.colorbar(im, ax=ax, fraction=0.046)
plt.tight_layout()
plt.show()


# %% [markdown]
# ## 6. What the neighbours look like
#
# Three queries and their 4 nearest other clips (green title: the query's person).
# `show_neighbours` sorts the query's row of a similarity matrix, leaving the query out.

# %%
def show_neighbours(queries, sim, k, title=None):
    """One row per query clip: its last frame, then its k most similar other clips under sim (N, N),
    each titled with person, expression and cosine similarity (green: the query's person, red: another)."""
    fig, axes = plt.subplots(len(queries), k + 1, figsize=(1.9 * (k + 1), 2.1 * len(queries)), squeeze=False)
    for r, q in enumerate(queries):
        order = sim[q].argsort(descending=True)
        neighbours = order[order != q][:k].tolist()  # most similar first, without the query
        for col, j in enumerate([q] + neighbours):
            ax = axes[r, col]
            ax.imshow(videos[j, :, last].permute(1, 2, 0).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            label = f"p{int(identity[j])} {EXPRESSION_NAMES[int(expression[j])]}"
            if col == 0:
                ax.set_title(f"query: {label}", fontsize=8, fontweight="bold")
            else:
                same = bool(identity[j] == identity[q])
                ax.set_title(f"{label}\ncos {sim[q, j]:.3f}", fontsize=8, color="green" if same else "red")
    if title:
        fig.suptitle(title, fontsize=9)
    plt.tight_layout()
    plt.show()


similarities = {name: cosine_similarity_matrix(f) for name, f in features.items()}  # once, not per redraw
queries = [0, len(identity) // 3, 2 * len(identity) // 3]
show_neighbours(queries, similarities["pretrained"], k=4, title="pretrained features")

# %% [markdown]
# ### Explore
#
# Pick a query, a feature set and `k`: do the neighbours under `random init` or `pixels` look
# like those under `pretrained`? When a neighbour is another person, what do the two share? (The
# widget needs a running kernel; the figure above is one setting.)

# %%
# NBVAL_IGNORE_OUTPUT
import ipywidgets as widgets

from marlin_lite.course import interact  # ipywidgets.interact, checked by the tests (see its docstring)


def explore(query=0, feature_set="pretrained", k=4):
    show_neighbours([query], similarities[feature_set], k, title=f"clip {query}, {feature_set} features")


interact(
    explore,
    query=widgets.IntSlider(value=0, min=0, max=len(identity) - 1, continuous_update=False),
    feature_set=list(features),
    k=widgets.IntSlider(value=4, min=1, max=8),
);


# %% [markdown]
# ## Exercise: k nearest neighbours by cosine similarity
#
# Write `cosine_knn(features, k)`: for each row of `features (N, D)`, the indices of the `k`
# *other* rows with the highest cosine similarity, most similar first, as a `(N, k)` `int64`
# tensor. Exclude each row from its own neighbours explicitly (do not rely on "it is always
# first": two identical clips would make that trick wrong). No Python loop over rows.

# %% tags=["solution"]
def cosine_knn(features: torch.Tensor, k: int) -> torch.Tensor:
    """features (N, D) -> (N, k) int64 indices of each row's k most cosine-similar other rows, best first."""
    # BEGIN SOLUTION
    f = F.normalize(features, dim=1)
    sim = f @ f.T
    sim.fill_diagonal_(float("-inf"))
    return sim.topk(k, dim=1).indices
    # END SOLUTION


# %% tags=["self-check"]
# Self-check
# 1. A tiny example you can check by eye: cosine ignores length.
toy = torch.tensor([[1.0, 0.0], [10.0, 1.0], [0.0, 2.0], [-1.0, 0.5]])
got = cosine_knn(toy, 1)
assert got.shape == (4, 1) and got.dtype == torch.int64, f"expected a (4, 1) int64 tensor, got {tuple(got.shape)} {got.dtype}"
assert got.flatten().tolist() == [1, 0, 3, 2], f"nearest neighbours of the toy rows should be [1, 0, 3, 2], got {got.flatten().tolist()}"

# 2. Random features against a plain loop over pairs.
check_gen = torch.Generator().manual_seed(5)
f = torch.randn(20, 7, generator=check_gen)
want = []
for i in range(len(f)):
    sims = [(F.cosine_similarity(f[i], f[j], dim=0).item(), j) for j in range(len(f)) if j != i]
    want.append([j for _, j in sorted(sims, key=lambda s: -s[0])[:4]])
got = cosine_knn(f, 4)
assert tuple(got.shape) == (20, 4), f"expected shape (20, 4), got {tuple(got.shape)}"
assert got.tolist() == want, "the neighbours (or their order, best first) differ from the reference loop"

# 3. A duplicated direction: row 7 points exactly like row 3 (similarity 1 with each other).
f[7] = 3 * f[3]
got = cosine_knn(f, 3)
assert all(i not in row for i, row in enumerate(got.tolist())), "a row is listed among its own neighbours"
assert got[3, 0] == 7 and got[7, 0] == 3, "rows 3 and 7 point the same way: each must be the other's nearest neighbour"
print("self-check passed")

# %% [markdown]
# With `cosine_knn`, *precision at k* (the share of a query's k neighbours that are the same
# person) is a one-liner; here for $k = 5$, each person's number of other clips:

# %%
for name, f in features.items():
    precision = (identity[cosine_knn(f, CLIPS_PER_IDENTITY - 1)] == identity[:, None]).float().mean(dim=1)  # per query
    m, hw = interval_over_people(precision, identity)
    print(f"{name:12s} same-person precision at {CLIPS_PER_IDENTITY - 1}: {m:.2f} ± {hw:.2f}   (chance {chance['person']:.2f})")

# %% [markdown]
# ## Summary
#
# - **Protocol** (`marlin_lite.features`): windows at rate 2 by the official rule, short videos
#   padded or read at rate 1 (`window_indices`, `video_windows`); resizing (`prepare_clips`); all
#   tokens through the encoder, their mean, then the final LayerNorm (`extract_features`);
#   `extract_video` for a file, reducing over windows by `none` / `mean` / `max`.
# - **Controls**: the same network before pretraining and standardised $16 \times 16$ pixels,
#   with paired 95 % intervals over people.
# - **Measured with the course checkpoint**: pretraining lifts same-person retrieval (top-1 from
#   0.34 to 0.83, precision at 5 from 0.26 to 0.62), yet raw pixels do at least as well on these
#   framed faces (0.91 and 0.73). No feature set retrieves expression: below chance among all
#   clips, near chance among other people's. Pretraining changed what the encoder
#   represents; whether that beats a resize is for trained heads to say.
#
# **Next:** lesson 06 trains a linear head on these frozen features for facial attributes and
# compares the same three feature sets.
#
# ## Appendix: the command line, and where the checkpoint comes from
#
# **Features of a folder of videos.** For your own face crops (`python -m marlin_lite.preprocess`
# makes them), one command writes one `.npy` per video and a report; a rerun keeps what exists.
# Here on four SynthFace videos (section 2's and three more):

# %%
import json
import shutil
import subprocess
import sys

for ident in (5, 7, 11):
    extra = generate_clip(ident, 0, world_seed=WORLD_SEED, size=SIZE, num_frames=VIDEO_FRAMES, **RENDER)
    write_video(video_dir / f"person{ident:02d}.mp4", extra.frames, extra.fps)
features_dir = video_dir.parent / (video_dir.name + "_features")
encoder_arg = str(COURSE_WEIGHTS) if WEIGHTS == "course" else (str(Path(OUT_DIR) / "checkpoint.pt") if WEIGHTS == "train" else WEIGHTS)
command = [sys.executable, "-m", "marlin_lite.features", str(video_dir), str(features_dir),
           "--encoder", encoder_arg, "--sample-rate", str(SAMPLE_RATE), "--no-progress"]
print("$ python -m marlin_lite.features VIDEO_DIR FEATURES_DIR --encoder", Path(encoder_arg).name, "--sample-rate", SAMPLE_RATE)
done = subprocess.run(command, capture_output=True, text=True)
assert done.returncode == 0, done.stderr[-2000:]
report = json.loads((features_dir / "features_report.json").read_text())
print("counts:", report["counts"], "| encoder:", report["encoder"]["kind"], report["encoder"]["preset"])
print("files:", sorted(p.name for p in features_dir.glob("*.npy")))
from_file = np.load(features_dir / "person03.npy")
torch.testing.assert_close(torch.from_numpy(from_file), package, rtol=1e-5, atol=1e-5)
print(f"person03.npy: {from_file.shape} float32; largest difference from extract_video: {np.abs(from_file - package.numpy()).max():.1e}")
shutil.rmtree(features_dir)  # a demonstration: keep the folders when you run it on your own videos
shutil.rmtree(video_dir)

# %% [markdown]
# **Provenance.** The weights ship in `marlin_lite/weights/` with a JSON record: SHA-256 (checked
# on every load), config, metrics log, commit and command. What this lesson measured:

# %%
if WEIGHTS == "course":
    record = course_record()
    print(f"file: marlin_lite/weights/{record['file']} ({record['bytes'] / 1e6:.1f} MB, {record['dtype']}), sha256 {record['sha256'][:16]}...")
    print(f"trained at commit {record['commit'][:12]} with: {record['command']}")
    wall = record["training"]["wall_seconds"]
    print(f"final reconstruction loss {record['final']['rec']:.4f} after {record['step']} steps; trained on "
          f"{record['training']['machine']}" + (f" in {wall / 60:.0f} min" if wall else ""))
else:
    print("WEIGHTS =", WEIGHTS, "(not the shipped checkpoint)")

# %% [markdown]
# To train your own: `python -m marlin_lite.pretrain --config configs/course.yaml` (under an
# hour on 2 CPU cores; `--resume` continues), then set `WEIGHTS = "train"` or a `checkpoint.pt`
# path. `python -m marlin_lite.course_weights export runs/course` exports a run as float16
# weights with a record; `... verify` checks the shipped ones. Headless:
# `papermill notebooks/05_feature_extraction.ipynb out.ipynb -p WEIGHTS train`.
