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
# # Lesson 01 · Patches, tubelets and tube masking
#
# A masked autoencoder hides most of its input and learns by filling it back in. Before MARLIN
# can hide anything it must cut a clip into pieces, the *tokens*, and decide which pieces the
# encoder sees. This lesson builds both steps, and shows why, for video, *which* tokens you hide
# matters as much as how many.
#
# **In this lesson you will**
# 1. cut a clip into tubelets with one einops pattern, in MARLIN's `(t, h, w)` token order and
#    channel-first `(c, pt, ph, pw)` patch layout, and check it against `marlin_lite.model`;
# 2. derive random masking from uniform noise and reproduce the package's mask bit for bit;
# 3. compare random, frame and tube masks, as pictures and as counts;
# 4. measure *information leakage*: how well a "copy the same patch from a nearby frame" cheat
#    reconstructs the hidden tokens under each mask;
# 5. write tube masking yourself.
#
# *Run time: well under a minute on a laptop CPU.*

# %% tags=["parameters"]
# Parameters (papermill can override these). Tiny defaults: this lesson runs on a laptop CPU.
SEED = 0
SIZE = 64  # frame side in pixels (MARLIN: 224)
FRAMES = 16  # frames per clip (MARLIN: 16)
PATCH = 8  # patch side in pixels (MARLIN: 16)
TUBELET = 2  # frames per tubelet (MARLIN: 2)
MASK_RATIO = 0.9  # share of the tokens hidden from the encoder (MARLIN: 0.9)
IDENTITY = 3  # the SynthFace person we look at
LEAK_CLIPS = 8  # clips in the leakage experiment
LEAK_DRAWS = 5  # masks drawn per clip and strategy in the leakage experiment

# %%
# Derived values: the token grid of a clip, and how many tokens stay visible.
import math

from marlin_lite.masking import TokenGrid, num_visible

grid = TokenGrid(frames=FRAMES, size=SIZE, tubelet=TUBELET, patch=PATCH)
SLOTS, ROWS, COLS = grid.shape  # tubelet slots T', patch rows H', patch columns W'
P = grid.tokens_per_slot  # spatial positions per slot, H' * W'
N = grid.num_tokens
N_VISIBLE = num_visible(N, MASK_RATIO)
print(f"this lesson: {FRAMES}x{SIZE}x{SIZE} px, patch {PATCH}, tubelet {TUBELET} -> grid {grid.shape} = {N} tokens;"
      f" mask ratio {MASK_RATIO} leaves {N_VISIBLE} visible")
marlin = TokenGrid(frames=16, size=224, tubelet=2, patch=16)
print(f"MARLIN     : 16x224x224 px, patch 16, tubelet 2 -> grid {marlin.shape} = {marlin.num_tokens} tokens;"
      f" mask ratio 0.9 leaves {num_visible(marlin.num_tokens, 0.9)} visible")

# %% [markdown]
# The arithmetic behind these numbers: a clip of `T x H x W` pixels cut into tubelets of
# `tubelet x patch x patch` pixels gives `T' = T / tubelet` *slots* in time and `H' x W'` patches
# per slot. The encoder sees `floor(N (1 - ratio))` tokens. The `floor` needs care: `1 - 0.9` is
# not exactly `0.1` in floating point, so `num_visible` adds a tiny tolerance before rounding down.

# %%
assert grid.shape == (FRAMES // TUBELET, SIZE // PATCH, SIZE // PATCH)
assert marlin.num_tokens == (16 // 2) * (224 // 16) ** 2 == 1568
print("1568 * (1 - 0.9) =", round(1568 * (1 - 0.9), 6), "-> floor", math.floor(1568 * (1 - 0.9)))
print("1 - 0.9 =", 1 - 0.9, "| so floor(10 * (1 - 0.9)) =", math.floor(10 * (1 - 0.9)),
      "while num_visible(10, 0.9) =", num_visible(10, 0.9))

# %% [markdown]
# ## Setup
# Imports, and the lesson's one seeding call: `seed_everything` seeds Python, NumPy and PyTorch
# and returns a `torch.Generator` that we pass to everything random.

# %%
import einops
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import Rectangle

from marlin_lite import labels as L
from marlin_lite import viz
from marlin_lite.masking import make_visible_mask
from marlin_lite.model import PatchEmbed, get_config, patchify, unpatchify
from marlin_lite.synthface import generate_clip
from marlin_lite.utils import seed_everything
from marlin_lite.video import frames_to_tensor, tensor_to_frames

generator = seed_everything(SEED)
# %matplotlib inline
plt.rcParams["figure.dpi"] = 80
STRATEGIES = ("random", "frame", "tube")  # this lesson's masks; face-guided ones come in lesson 02
print("ready")

# %% [markdown]
# ## 1. Patches and tubelets
#
# We take one SynthFace clip and turn it into the model's input tensor `(B, C, T, H, W)`.
# A **tubelet** is a block of `TUBELET` consecutive frames x `PATCH` x `PATCH` pixels; each one
# becomes a token, a vector of `C * TUBELET * PATCH * PATCH` numbers. One einops pattern does the
# whole cut: the brackets `(t pt)` split an axis into *which block* and *where inside the block*.

# %%
clip = generate_clip(IDENTITY, 0, size=SIZE, num_frames=FRAMES)
video = frames_to_tensor(clip.frames)[None]  # (1, 3, T, H, W) float32 in [0, 1]
print("video :", tuple(video.shape), video.dtype)

tokens = einops.rearrange(video, "b c (t pt) (h ph) (w pw) -> b (t h w) (c pt ph pw)", pt=TUBELET, ph=PATCH, pw=PATCH)
print("tokens:", tuple(tokens.shape), f"= (clips, {SLOTS}*{ROWS}*{COLS} tokens, 3*{TUBELET}*{PATCH}*{PATCH} values)")

torch.testing.assert_close(tokens, patchify(video, PATCH, TUBELET), rtol=0, atol=0)
torch.testing.assert_close(unpatchify(tokens, grid.shape, PATCH, TUBELET), video, rtol=0, atol=0)
print("equal to marlin_lite.model.patchify: True | unpatchify gives the video back exactly: True")


# %% [markdown]
# **Token order.** `(t h w)` on the left of the arrow's output means the token index runs over
# the columns fastest, then the rows, then the slots: token `n = (t * H' + h) * W' + w`. Every
# slot is a block of `H' x W'` consecutive tokens, which is what makes per-slot reshapes such as
# `visible.reshape(B, T', H' * W')` possible below.
#
# **Patch layout.** `(c pt ph pw)` flattens each tubelet *channel-first*: all red values of both
# frames, then all green, then all blue. That is the official MARLIN order. VideoMAE flattens
# channel-last, `(pt ph pw c)`: the same numbers in another order.

# %%
def token_index(t, h, w):
    """Index of the tubelet at slot t, patch row h, patch column w in the (t, h, w) order."""
    return (t * ROWS + h) * COLS + w


t, h, w = 3, 4, 5
block = video[0, :, t * TUBELET : (t + 1) * TUBELET, h * PATCH : (h + 1) * PATCH, w * PATCH : (w + 1) * PATCH]
print(f"tubelet (t, h, w) = {(t, h, w)} is token {token_index(t, h, w)}; its pixels form a block {tuple(block.shape)} = (c, pt, ph, pw)")
print("token == that block flattened channel-first:", torch.equal(tokens[0, token_index(t, h, w)], block.reshape(-1)))

tokens_videomae = einops.rearrange(video, "b c (t pt) (h ph) (w pw) -> b (t h w) (pt ph pw c)", pt=TUBELET, ph=PATCH, pw=PATCH)
print("VideoMAE layout holds the same values:", torch.equal(tokens_videomae.sort(-1).values, tokens.sort(-1).values),
      "| in the same order:", torch.equal(tokens_videomae, tokens))

# %% [markdown]
# Why the layout matters: the encoder's first layer, the *patch embedding*, is a `Conv3d` whose
# kernel and stride are both one tubelet. A convolution that never overlaps is just a `Linear`
# layer on the flattened tubelets, with the kernel `(dim, c, pt, ph, pw)` flattened the same
# way, channel-first. Official weights therefore only fit tokens in the official layout. Let us
# check that on the package's `PatchEmbed`:

# %%
cfg = get_config("tiny", img_size=SIZE, patch_size=PATCH, num_frames=FRAMES, tubelet_size=TUBELET)
embed = PatchEmbed(cfg, dim=32)
with torch.no_grad():
    by_conv = embed(video)  # (1, N, 32): Conv3d, then flatten to (t, h, w) order
    weight = embed.proj.weight.reshape(32, -1)  # (dim, c * pt * ph * pw)
    by_linear = tokens @ weight.T + embed.proj.bias
    by_linear_videomae = tokens_videomae @ weight.T + embed.proj.bias
torch.testing.assert_close(by_linear, by_conv, rtol=1e-4, atol=1e-4)
print("PatchEmbed (Conv3d) == Linear on channel-first tokens: True")
print("... on channel-last (VideoMAE) tokens:", torch.allclose(by_linear_videomae, by_conv, rtol=1e-4, atol=1e-4))

# %% [markdown]
# The picture: the first frame of a slot with its patch grid, and three tubelets, each shown as
# its two frames (we take the slot in which the mouth moves most). A token holds a little bit of motion: the mouth moves between the two frames
# of its tubelet, while the background does not.

# %%
mouth = clip.per_frame["mouth_open"]
slot = int(np.argmax(np.abs(mouth[1::TUBELET] - mouth[::TUBELET])))  # the slot whose mouth moves most
first = slot * TUBELET  # the slot's first frame


def patch_of(labels):
    """(row, column) of the patch holding the most pixels with these parsing labels."""
    counts = einops.reduce(np.isin(clip.parsing[first], labels), "(h ph) (w pw) -> h w", "sum", ph=PATCH, pw=PATCH)
    return np.unravel_index(int(counts.argmax()), counts.shape)


picks = {"background": (0, 0), "right eye": patch_of([L.RIGHT_EYE]), "mouth": patch_of([L.UPPER_LIP, L.INNER_MOUTH, L.LOWER_LIP])}
colours = ["tab:cyan", "tab:orange", "tab:red"]

fig = plt.figure(figsize=(7.5, 3.6))
spec = fig.add_gridspec(3, 4, width_ratios=[1, 1, 0.62, 0.62], wspace=0.1, hspace=0.35)
ax = fig.add_subplot(spec[:, :2])
ax.imshow(clip.frames[first], interpolation="nearest")
for k in range(1, ROWS):
    ax.axhline(k * PATCH - 0.5, color="white", lw=0.6, alpha=0.7)
    ax.axvline(k * PATCH - 0.5, color="white", lw=0.6, alpha=0.7)
for (name, (r, c)), colour in zip(picks.items(), colours):
    ax.add_patch(Rectangle((c * PATCH - 0.5, r * PATCH - 0.5), PATCH, PATCH, fill=False, ec=colour, lw=2.2))
ax.set_title(f"frame {first} (slot {slot}): {ROWS}x{COLS} patches of {PATCH}x{PATCH} px", fontsize=9)
ax.axis("off")
for i, ((name, (r, c)), colour) in enumerate(zip(picks.items(), colours)):
    for j in range(TUBELET):
        a = fig.add_subplot(spec[i, 2 + j])
        a.imshow(clip.frames[first + j, r * PATCH : (r + 1) * PATCH, c * PATCH : (c + 1) * PATCH], interpolation="nearest")
        a.set_xticks([])
        a.set_yticks([])
        for side in a.spines.values():
            side.set_edgecolor(colour)
            side.set_linewidth(2)
        a.set_title(f"frame {first + j}", fontsize=7)
        if j == 0:
            a.set_ylabel(f"{name}\ntoken {token_index(slot, r, c)}", fontsize=7)
plt.show()

# %% [markdown]
# ## 2. Masking strategies
#
# A *visible mask* is a boolean `(B, N)` tensor, True where the encoder sees the token (the
# official MARLIN convention; VideoMAE stores the opposite). MARLIN keeps **exactly**
# `num_visible(N, ratio)` tokens per clip, so every clip in a batch has the same number of
# visible tokens and the encoder can run on a dense `(B, n, dim)` tensor.
#
# **Random masking**, derived inline: give every token a uniform random score and keep the `n`
# tokens with the highest scores. (MAE sorts the other way and keeps the lowest; it is the same
# distribution.) Since this draws the same random numbers as the package, replaying the
# generator's state must give the package's mask exactly.

# %%
B = 4
state = generator.get_state()
score = torch.rand(B, N, generator=generator)  # one uniform score per token
keep = score.argsort(dim=1, descending=True)[:, :N_VISIBLE]  # the n best-scored tokens
visible_ours = torch.zeros(B, N, dtype=torch.bool).scatter_(1, keep, True)
print("visible tokens per clip:", visible_ours.sum(1).tolist(), f"(n = {N_VISIBLE})")

generator.set_state(state)  # replay the same random numbers through the package
visible_package = make_visible_mask("random", B, grid, MASK_RATIO, generator=generator)
torch.testing.assert_close(visible_ours, visible_package)
print("identical to make_visible_mask('random', ...): True")


# %% [markdown]
# The package has two more structured masks (and the face-guided ones of lesson 02):
#
# * **frame**: show whole slots (all `H' x W'` tokens of a time step), as few as needed, then
#   trim at random to exactly `n`. With `n` smaller than one slot, that is *most of one slot*.
# * **tube**: choose `ceil(n / T')` spatial positions and show them in *every* slot, "tubes"
#   through time; trim the few extra tokens at random to exactly `n`.
#
# To see a mask we paint it onto the clip: a per-token mask becomes a per-pixel mask with
# `unpatchify`, the exact inverse of the cut above.

# %%
def paint_visible(video, visible, grid, grey=0.3):
    """Grey out hidden tubelets: video (1 or B, 3, T, H, W), visible bool (B, N) -> uint8 frames (B, T, H, W, 3)."""
    per_token = visible[..., None].float().expand(-1, -1, 3 * grid.tubelet * grid.patch**2)
    shown = unpatchify(per_token, grid.shape, grid.patch, grid.tubelet)  # 1.0 on visible pixels
    return tensor_to_frames(video * shown + grey * (1 - shown))


masks = {s: make_visible_mask(s, 1, grid, MASK_RATIO, generator=generator) for s in STRATEGIES}
painted = {s: paint_visible(video, v, grid)[0] for s, v in masks.items()}
fig = viz.show_frames([clip.frames, *painted.values()], frame_ids=range(0, FRAMES, TUBELET),
                      row_titles=["clip", *painted], size=1.05)
for k, ax in enumerate(fig.axes[:SLOTS]):
    ax.set_title(f"slot {k}", fontsize=8)
fig.suptitle(f"first frame of every slot; {N_VISIBLE} of {N} tokens visible, the rest dark grey", fontsize=9, y=1.02)
plt.show()

# %% [markdown]
# The same masks as numbers, for a batch of 4 clips per strategy: the count is exact for all
# three; what differs is *where* the visible tokens sit, across space and across time.

# %%
for s in STRATEGIES:
    v = make_visible_mask(s, 4, grid, MASK_RATIO, generator=generator).reshape(4, SLOTS, P)
    print(f"{s:<6}  visible per clip {v.sum((1, 2)).tolist()}  |  distinct spatial positions {v.any(1).sum(1).tolist()}"
          f"  |  clip 0, visible per slot {v[0].sum(1).tolist()}")
print(f"tube uses ceil(n / T') = ceil({N_VISIBLE} / {SLOTS}) = {math.ceil(N_VISIBLE / SLOTS)} positions;"
      f" at MARLIN's scale ceil(156 / 8) = {math.ceil(156 / 8)}")

# %% [markdown]
# ## 3. Why video needs tubes: information leakage
#
# Neighbouring frames of a video are nearly identical. If a hidden token's twin, the token at
# the **same spatial position in a nearby slot**, is visible, the decoder can copy it and score
# well without understanding anything about faces. That shortcut is *information leakage*, and
# it is the reason VideoMAE, and MARLIN after it, mask *tubes*.
#
# First, how similar are the slots? The mean squared error (MSE, pixels in [0, 1]) of predicting
# a token by the token at the same position `d` slots away, against predicting it by the clip's
# mean patch, over a few SynthFace clips:

# %%
leak_video = torch.stack([frames_to_tensor(generate_clip(i, 0, size=SIZE, num_frames=FRAMES).frames) for i in range(LEAK_CLIPS)])
leak_tokens = patchify(leak_video, PATCH, TUBELET)  # (LEAK_CLIPS, N, D)
per_slot = leak_tokens.reshape(LEAK_CLIPS, SLOTS, P, -1)
copy_error = [((per_slot[:, d:] - per_slot[:, : SLOTS - d]) ** 2).mean().item() for d in range(1, SLOTS)]
mean_patch_error = ((per_slot - per_slot.mean(dim=(1, 2), keepdim=True)) ** 2).mean().item()
print(f"{LEAK_CLIPS} clips; MSE of copying the same position from d slots away:",
      {d: round(e, 4) for d, e in enumerate(copy_error, start=1)})
print(f"MSE of predicting the clip's mean patch: {mean_patch_error:.4f}")
print(f"copying from the next slot costs {copy_error[0] / mean_patch_error:.2f} x the mean patch's error")


# %% [markdown]
# Now the cheat as a "model": for every hidden token, find a **visible token at the same
# `(h, w)` in the nearest slot** and copy it; if no slot shows that position, predict the clip's
# mean visible patch. No loops: a `(slot, source slot)` distance table, made infinite where the
# source is hidden, and a `min` over source slots. Visible tokens are their own nearest source
# (distance 0), which gives a quick sanity check.

# %%
def copy_from_neighbours(tokens, visible, grid):
    """The leakage baseline: predict each token from the same position in the nearest slot.

    tokens float (B, N, D), visible bool (B, N) -> predictions (B, N, D) and has_source bool (B, N).
    Where no slot shows a position, the prediction is the clip's mean visible patch (has_source False).
    """
    B, N, D = tokens.shape
    slots = grid.shape[0]
    positions = grid.tokens_per_slot
    tok = tokens.reshape(B, slots, positions, D)
    vis = visible.reshape(B, slots, positions)
    s = torch.arange(slots, dtype=torch.float32)
    distance = (s[:, None] - s[None, :]).abs() + 0.01 * s[None, :]  # (slot, source slot); ties -> earlier slot
    distance = distance[None, :, :, None].expand(B, slots, slots, positions)
    distance = distance.masked_fill(~vis[:, None, :, :], float("inf"))  # only visible sources count
    nearest, source = distance.min(dim=2)  # (B, slot, position)
    copied = tok.gather(1, source[..., None].expand(-1, -1, -1, D))
    mean_visible = (tokens * visible[..., None]).sum(1) / visible.sum(1, keepdim=True)  # (B, D)
    has_source = torch.isfinite(nearest)
    predictions = torch.where(has_source[..., None], copied, mean_visible[:, None, None, :])
    return predictions.reshape(B, N, D), has_source.reshape(B, N)


v = make_visible_mask("random", LEAK_CLIPS, grid, MASK_RATIO, generator=generator)
pred, _ = copy_from_neighbours(leak_tokens, v, grid)
torch.testing.assert_close(pred[v], leak_tokens[v], rtol=0, atol=0)
print("visible tokens are copied from themselves: True")

# %% [markdown]
# The experiment: for each strategy, `LEAK_DRAWS` masks for each of the `LEAK_CLIPS` clips;
# we score the cheat only on the **hidden** tokens, the ones the decoder must reconstruct. For
# reference, the last column scores predicting the mean visible patch for every hidden token,
# that is, not copying at all.

# %%
results = {}
for s in STRATEGIES:
    copy_mse, mean_mse, sourced = [], [], []
    for _ in range(LEAK_DRAWS):
        visible = make_visible_mask(s, LEAK_CLIPS, grid, MASK_RATIO, generator=generator)
        hidden = ~visible
        pred, has_source = copy_from_neighbours(leak_tokens, visible, grid)
        mean_visible = (leak_tokens * visible[..., None]).sum(1, keepdim=True) / visible.sum(1)[:, None, None]
        copy_mse.append(((pred - leak_tokens) ** 2).mean(-1)[hidden].mean().item())
        mean_mse.append(((mean_visible - leak_tokens) ** 2).mean(-1)[hidden].mean().item())
        sourced.append(has_source[hidden].float().mean().item())
    results[s] = {"sourced": np.mean(sourced), "copy": np.mean(copy_mse), "mean": np.mean(mean_mse)}

print(f"{LEAK_CLIPS} clips x {LEAK_DRAWS} masks per strategy, {N - N_VISIBLE} hidden tokens per clip")
print(f"{'strategy':<9}{'hidden with a same-position source':>36}{'copy MSE':>11}{'mean-patch MSE':>16}")
for s, r in results.items():
    print(f"{s:<9}{r['sourced']:>36.3f}{r['copy']:>11.4f}{r['mean']:>16.4f}")
print(f"error ratio tube / random: {results['tube']['copy'] / results['random']['copy']:.2f}"
      f" | tube / frame: {results['tube']['copy'] / results['frame']['copy']:.2f}")
print("easiest to cheat first:", ", ".join(sorted(results, key=lambda s: results[s]["copy"])))

# %%
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 2.8))
ax1.plot(range(1, SLOTS), copy_error, "o-", color="tab:blue", label="copy same position")
ax1.axhline(mean_patch_error, color="0.4", ls="--", lw=1, label="clip's mean patch")
ax1.set_xlabel("distance to the source slot (slots)")
ax1.set_ylabel("MSE")
ax1.set_ylim(bottom=0)
ax1.set_title("how alike are the slots?", fontsize=9)
ax1.legend(fontsize=7)
x = np.arange(len(results))
ax2.bar(x, [r["copy"] for r in results.values()], color=["tab:green", "tab:purple", "tab:red"], width=0.6, label="copy from neighbours")
ax2.hlines([r["mean"] for r in results.values()], x - 0.38, x + 0.38, colors="k", lw=2, zorder=3, label="no copying (mean patch)")
ax2.set_xticks(x, list(results))
ax2.set_ylabel("MSE on hidden tokens")
ax2.set_title("the copying cheat under each mask", fontsize=9)
ax2.set_ylim(0, 1.55 * max(r["mean"] for r in results.values()))
ax2.legend(fontsize=7, loc="upper left")
fig.tight_layout()
plt.show()

# %% [markdown]
# How to read it:
#
# * **Tube** masking hides every position in (nearly) every slot together: only the handful of
#   trimmed tokens have a same-position source, so the cheat falls back to the mean patch and
#   fails. The decoder has to *infer* the hidden regions from the visible ones elsewhere in the
#   face, which is the kind of understanding pretraining is after.
# * **Random** masking leaves about half of the hidden tokens with a visible twin in another
#   slot; copying it is nearly free (left panel), so a good part of the reconstruction task is
#   solved without learning anything about faces.
# * **Frame** masking shows most of *one* slot. On these short, slowly moving clips the other
#   slots are near copies of it, so on our data it leaks the most. In VideoMAE's ablations it was
#   also the weakest of the three for downstream accuracy: the encoder then sees a single time
#   step, and the task degenerates into copying it.
#
# The printed ranking is what this notebook measures on SynthFace; the numbers shift with the
# clips and the grid, but the tube/random gap comes from the structure of the masks.
#
# ## 4. Watch the masks
#
# A space-time view of the three masks drawn above: one row per slot, one column per spatial
# position `h * W' + w`, dark where the token is visible. Tubes are vertical stripes, a frame
# mask is a horizontal band, random masking is scattered dots.

# %%
fig, axes = plt.subplots(len(masks), 1, figsize=(7.5, 3.6), sharex=True)
for ax, (s, v) in zip(axes, masks.items()):
    ax.imshow(v.reshape(SLOTS, P), cmap="Greys", vmin=0, vmax=1.4, aspect="auto", interpolation="nearest")
    ax.set_ylabel(f"{s}\nslot", fontsize=8)
    ax.set_yticks(range(SLOTS))
    ax.tick_params(labelsize=6)
axes[-1].set_xlabel("spatial position h * W' + w", fontsize=8)
fig.suptitle(f"visible tokens (dark): {N_VISIBLE} of {N}", fontsize=9)
fig.tight_layout()
plt.show()

# %% [markdown]
# And as an animation: the clip, then the same clip seen through the random, frame and tube
# masks above. Watch how much of the moving mouth each mask gives away. (Animations differ in
# their bytes from machine to machine, so the tests skip this output.)

# %%
# NBVAL_IGNORE_OUTPUT
viz.show_gif([clip.frames, *painted.values()], fps=6, scale=2)

# %% [markdown]
# ## 5. Explore
#
# The mask ratio sets how much is hidden. A static view first: random and tube masks at four
# ratios, on the first frame of slot 0.

# %%
ratios = (0.5, 0.75, 0.9, 0.95)
fig, axes = plt.subplots(2, len(ratios), figsize=(1.6 * len(ratios), 3.5))
for row, s in enumerate(("random", "tube")):
    for col, ratio in enumerate(ratios):
        v = make_visible_mask(s, 1, grid, ratio, generator=generator)
        axes[row, col].imshow(paint_visible(video, v, grid)[0, 0], interpolation="nearest")
        axes[row, col].set_xticks([])
        axes[row, col].set_yticks([])
        axes[row, col].set_title(f"ratio {ratio}: {num_visible(N, ratio)} visible", fontsize=7)
    axes[row, 0].set_ylabel(s, fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Now pick a strategy, a ratio, a seed and a slot yourself. (The widget needs a running kernel;
# the figure above shows the same.)

# %%
# NBVAL_IGNORE_OUTPUT
import ipywidgets as widgets

from marlin_lite.course import interact  # ipywidgets.interact, checked by the tests (see its docstring)


def explore(strategy="tube", mask_ratio=0.9, seed=0, slot=0):
    visible = make_visible_mask(strategy, 1, grid, mask_ratio, generator=torch.Generator().manual_seed(seed))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(7, 2.6), gridspec_kw={"width_ratios": [1, 2.4]})
    ax1.imshow(paint_visible(video, visible, grid)[0, slot * TUBELET], interpolation="nearest")
    ax1.set_title(f"slot {slot}: {int(visible.reshape(SLOTS, P)[slot].sum())} visible", fontsize=8)
    ax1.axis("off")
    ax2.imshow(visible.reshape(SLOTS, P), cmap="Greys", vmin=0, vmax=1.4, aspect="auto", interpolation="nearest")
    ax2.axhline(slot, color="tab:red", lw=6, alpha=0.3)
    ax2.set_title(f"{strategy}: {int(visible.sum())} of {N} tokens visible", fontsize=8)
    ax2.set_xlabel("spatial position", fontsize=8)
    ax2.set_ylabel("slot", fontsize=8)
    plt.show()


interact(
    explore,
    strategy=list(STRATEGIES),
    mask_ratio=widgets.FloatSlider(value=0.9, min=0.5, max=0.95, step=0.05),
    seed=widgets.IntSlider(value=0, min=0, max=99),
    slot=widgets.IntSlider(value=0, min=0, max=SLOTS - 1),
);


# %% [markdown]
# ## Exercise: write tube masking yourself
#
# Write `my_tube_mask(batch_size, grid, mask_ratio, generator)` returning a `bool` tensor of
# shape `(batch_size, grid.num_tokens)`, True = visible, tokens in `(t, h, w)` order, with:
#
# * exactly `n = num_visible(grid.num_tokens, mask_ratio)` visible tokens in every clip;
# * tube structure: the visible tokens sit on the fewest spatial positions possible,
#   `ceil(n / T')`, the same positions in every slot; since `ceil(n / T') * T'` can exceed `n`
#   by up to `T' - 1`, drop that surplus at random;
# * new random positions for every clip, drawn with `generator` only (so a seeded generator
#   reproduces the mask).
#
# *Hints:* the inline random mask above (score, `argsort`, `scatter_`) picks positions;
# `einops.repeat(x, "b p -> b (t p)", t=T')` copies a per-position mask into every slot in
# `(t, h, w)` order; then keep the `n` best-scored candidates.

# %% tags=["solution"]
def my_tube_mask(batch_size: int, grid: TokenGrid, mask_ratio: float, generator: torch.Generator) -> torch.Tensor:
    """Tube masking: bool (batch_size, grid.num_tokens), True = visible, tokens ordered (t, h, w).

    Exactly num_visible(grid.num_tokens, mask_ratio) visible tokens per clip, on ceil(n / T')
    spatial positions shared by every slot (a surplus of fewer than T' tokens dropped at random).
    """
    # BEGIN SOLUTION
    slots = grid.shape[0]
    positions = grid.tokens_per_slot
    n = num_visible(grid.num_tokens, mask_ratio)
    tubes = math.ceil(n / slots)  # fewest positions that can hold n tokens
    score = torch.rand(batch_size, positions, generator=generator)
    chosen = torch.zeros(batch_size, positions, dtype=torch.bool)
    chosen.scatter_(1, score.argsort(dim=1, descending=True)[:, :tubes], True)
    candidates = einops.repeat(chosen, "b p -> b (t p)", t=slots)  # the same positions in every slot
    trim = torch.rand(batch_size, grid.num_tokens, generator=generator).masked_fill(~candidates, -1.0)
    visible = torch.zeros(batch_size, grid.num_tokens, dtype=torch.bool)
    visible.scatter_(1, trim.argsort(dim=1, descending=True)[:, :n], True)  # drop the surplus at random
    return visible
    # END SOLUTION


# %% tags=["self-check"]
# Self-check: run me after your solution.
def check_tube_mask(fn, grid, mask_ratio, batch_size=64, seed=SEED):
    n = num_visible(grid.num_tokens, mask_ratio)
    slots = grid.shape[0]
    tubes = math.ceil(n / slots)
    visible = fn(batch_size, grid, mask_ratio, torch.Generator().manual_seed(seed))
    assert isinstance(visible, torch.Tensor) and visible.dtype == torch.bool, "return a torch.bool tensor (True = visible)"
    assert visible.shape == (batch_size, grid.num_tokens), f"expected shape {(batch_size, grid.num_tokens)}, got {tuple(visible.shape)}"
    counts = visible.sum(1)
    assert (counts == n).all(), f"every clip needs exactly {n} visible tokens; got counts {sorted(set(counts.tolist()))}"
    per_position = visible.reshape(batch_size, slots, -1).sum(1)  # (B, H' * W'): slots in which each position is visible
    used = (per_position > 0).sum(1)
    assert (used == tubes).all(), (
        f"tube structure: the {n} visible tokens should sit on ceil(n / T') = {tubes} spatial positions shared by "
        f"the slots; got {sorted(set(used.tolist()))} positions (are you using the (t, h, w) token order?)")
    shapes = {tuple(row.nonzero().flatten().tolist()) for row in per_position > 0}
    assert len(shapes) > batch_size // 2, "different clips should get different random positions"
    again = fn(batch_size, grid, mask_ratio, torch.Generator().manual_seed(seed))
    assert torch.equal(visible, again), "the same seeded generator must give the same mask (draw only from `generator`)"
    other = fn(batch_size, grid, mask_ratio, torch.Generator().manual_seed(seed + 1))
    assert not torch.equal(visible, other), "another seed should give another mask"
    full = (per_position == slots).sum(1).min().item()
    return f"grid {grid.shape}, ratio {mask_ratio}: {n} visible on {tubes} tubes, at least {full} of them in all {slots} slots"


def package_tube(batch_size, grid, mask_ratio, generator):
    return make_visible_mask("tube", batch_size, grid, mask_ratio, generator=generator)


print("the checker accepts the package's tube mask:", check_tube_mask(package_tube, grid, MASK_RATIO))
for g, ratio in ((grid, MASK_RATIO), (grid, 0.75), (marlin, 0.9), (TokenGrid(frames=8, size=32, tubelet=2, patch=8), 0.6)):
    print("my_tube_mask ->", check_tube_mask(my_tube_mask, g, ratio))
wide = my_tube_mask(512, grid, MASK_RATIO, torch.Generator().manual_seed(SEED))
assert wide.reshape(512, SLOTS, P).any(1).any(0).all(), "positions should be drawn from the whole frame, not a fixed part of it"
print("Well done!")

# %% [markdown]
# ## Summary
# - A clip `(B, 3, T, H, W)` becomes `N = T' H' W'` tokens with one einops pattern,
#   `b c (t pt) (h ph) (w pw) -> b (t h w) (c pt ph pw)`: tokens in `(t, h, w)` order, each
#   flattened channel-first like the official weights expect (`marlin_lite.model.patchify`,
#   `unpatchify`, and the Conv3d `PatchEmbed` that equals a Linear layer on those tokens).
# - A visible mask is `bool (B, N)`, True = seen, with exactly `num_visible(N, ratio)` True per
#   clip (156 of 1568 for MARLIN). Random masking is "keep the `n` best of `N` uniform scores";
#   frame and tube masks add structure in time (`marlin_lite.masking.make_visible_mask`,
#   `TokenGrid`, `num_visible`).
# - Video leaks: a hidden token can often be copied from the same position in a nearby slot.
#   Tube masking removes that shortcut; random and frame masks leave it open.
#
# **Next:** lesson 02, *face-guided masking*: MARLIN does not choose its hidden tokens blindly,
# it reads the face's parsing map and hides the eyes, nose, mouth and hair first ("fasking").
