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
# # Lesson 02 · Face-guided masking (fasking)
#
# Lesson 01 hid 90 % of a clip's tokens without looking at the picture. MARLIN looks first: it
# parses every frame into facial regions and decides *which* tokens to hide from that map.
# This is **face-guided masking**, "fasking" in the paper and the code.
#
# **In this lesson you will**
# 1. turn a per-pixel face-parsing map into per-token region membership with one pooling
#    operation, and see why border patches belong to several regions (the "any pixel" rule);
# 2. walk MARLIN's fasking queue by hand for one time slot, then let the package do it for a
#    batch, and explain how random trimming leaves *exactly* `num_visible` tokens per clip;
# 3. compare `fasking`, `fasking_opp`, `fasking_paper` and `tube` masking by what the encoder
#    gets to see, and tell the official code's behaviour apart from the paper's prose;
# 4. run the same masking on a clip read from disk;
# 5. write `component_tokens`: which tokens touch a facial component.
#
# *Run time: well under a minute on a laptop CPU.*

# %% tags=["parameters"]
# Parameters (papermill can override these). Tiny defaults: this lesson runs on a laptop CPU.
SEED = 0
SIZE = 64  # frames are SIZE x SIZE pixels (MARLIN: 224)
FRAMES = 16  # frames per clip (MARLIN: 16)
PATCH = 8  # patch side in pixels (MARLIN: 16)
TUBELET = 2  # frames per tubelet (MARLIN: 2)
MASK_RATIO = 0.9  # fraction of tokens hidden (MARLIN: 0.9)
IDENTITY = 3  # the SynthFace person shown in the figures
BATCH = 12  # clips (identities 0..BATCH-1) for the statistics

# %%
from marlin_lite.masking import TokenGrid, num_visible

grid = TokenGrid(frames=FRAMES, size=SIZE, tubelet=TUBELET, patch=PATCH)
T_SLOTS, H_PATCHES, W_PATCHES = grid.shape
P = grid.tokens_per_slot  # patches per tubelet slot
N_VISIBLE = num_visible(grid.num_tokens, MASK_RATIO)
print(f"token grid (T', H', W') = {grid.shape}: {grid.num_tokens} tokens, {P} per slot")
print(f"mask ratio {MASK_RATIO}: {N_VISIBLE} visible tokens per clip")
marlin_grid = TokenGrid()  # MARLIN's own: 16 frames of 224x224, tubelets 2x16x16
print(f"MARLIN: {marlin_grid.shape} = {marlin_grid.num_tokens} tokens, {num_visible(marlin_grid.num_tokens, 0.9)} visible")

# %% [markdown]
# ## Setup

# %%
import einops
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from marlin_lite import labels as L
from marlin_lite import masking as M
from marlin_lite import viz
from marlin_lite.samples import load_sample
from marlin_lite.synthface import generate_clip
from marlin_lite.utils import seed_everything
from marlin_lite.video import clip_indices, frames_to_tensor

generator = seed_everything(SEED)
# %matplotlib inline
plt.rcParams["figure.dpi"] = 80
print("region groups:", {name: [L.LABEL_NAMES[i] for i in ids] for name, ids in L.REGION_GROUPS.items()})
print("facial components (shuffled by the queue):", M.COMPONENTS)

# %% [markdown]
# ## 1. From parsing maps to token regions
#
# A SynthFace clip comes with a **parsing map** per frame: one of MARLIN's 11 label ids per
# pixel. Fasking needs the same information per *token*. Each token is a tubelet of
# `TUBELET` frames x `PATCH` x `PATCH` pixels; MARLIN reads the map of the **first frame of the
# tubelet slot** only. Below: the first frame of every slot, with its parsing map.

# %%
clip = generate_clip(IDENTITY, 0, size=SIZE, num_frames=FRAMES)
parsing = torch.from_numpy(clip.parsing)[None]  # (B=1, T, H, W) uint8 label ids
print("frames", clip.frames.shape, clip.frames.dtype, "| parsing", tuple(parsing.shape), parsing.dtype)
print("labels present:", [L.LABEL_NAMES[i] for i in parsing.unique().tolist()])

slot_frames = list(range(0, FRAMES, TUBELET))  # the first frame of each tubelet slot
fig = viz.show_frames(
    [clip.frames, viz.overlay_parsing(clip.frames, clip.parsing, alpha=0.6), viz.parsing_to_rgb(clip.parsing)],
    frame_ids=slot_frames, row_titles=["video", "overlay", "parsing"], size=1.3,
)
for ax, s in zip(fig.axes, range(T_SLOTS)):
    ax.set_title(f"slot {s} (t={s * TUBELET})", fontsize=7)
viz.label_legend(fig.axes[len(slot_frames) * 2 - 1])
plt.show()


# %% [markdown]
# **The rule.** A token belongs to a region group (say *mouth* = upper lip, inner mouth, lower
# lip) when **any** pixel of its patch, in the slot's first frame, carries one of the group's
# labels. "Any pixel in a window" is a max over the window, so with tensor operations:
#
# 1. keep the first frame of each slot: `parsing[:, ::TUBELET]` -> `(B, T', H, W)`;
# 2. per group, a boolean pixel map `isin(labels, group)`, as float;
# 3. `max_pool2d` with a `PATCH x PATCH` window and stride -> `(B, T', H', W')`, 1 where any
#    pixel was in the group.
#
# No loop over patches, only over the 7 groups.

# %%
def region_maps(parsing: torch.Tensor, grid: TokenGrid, groups: dict = L.REGION_GROUPS) -> dict[str, torch.Tensor]:
    """(B, T, H, W) label ids -> {group: bool (B, T', H', W')}, by max-pooling each group's pixel map."""
    first = parsing[:, :: grid.tubelet]  # (B, T', H, W): first frame of each slot
    B, t = first.shape[:2]
    maps = {}
    for name, ids in groups.items():
        pixels = torch.isin(first, torch.tensor(ids)).float()  # (B, T', H, W) 0/1
        pooled = F.max_pool2d(pixels.flatten(0, 1)[:, None], kernel_size=grid.patch)  # (B*T', 1, H', W')
        maps[name] = pooled.reshape(B, t, *grid.shape[1:]).bool()
    return maps


regions = region_maps(parsing, grid)
print({name: tuple(m.shape) for name, m in list(regions.items())[:2]}, "...")
print("tokens per region in slot 0:", {name: int(m[0, 0].sum()) for name, m in regions.items()})

# %% [markdown]
# **Check against the package.** `marlin_lite.masking.region_membership` computes the same
# thing differently: `label_bitmask` turns each pixel's label `k` into the bit `1 << k` and
# OR-reduces those bits over each patch (so one `int16` per token says which of the 11 labels
# it touches); a group is then a bit test. Both must agree exactly, token for token.

# %%
package = M.region_membership(parsing, grid)  # {group: bool (B, N)}, tokens in (t, h, w) order
for name in L.REGION_GROUPS:
    torch.testing.assert_close(regions[name].flatten(1), package[name])
print("inline max-pool == package bitmask for all", len(package), "groups: True")

bits = M.label_bitmask(parsing, grid)  # int16 (B, T', H', W')
mixed = int(bits[0, 0].flatten().argmax())  # some patch with many labels
h, w = divmod(mixed, W_PATCHES)
value = int(bits[0, 0, h, w])
print(f"slot 0, patch (row {h}, col {w}): bitmask {value} = 0b{value:011b} ->",
      [L.LABEL_NAMES[k] for k in range(L.NUM_LABELS) if value >> k & 1])

# %% [markdown]
# The patch grid of slot 0, coloured by membership, one panel per group. The last panel counts
# the groups each patch belongs to: patches on a boundary (face outline, around the eyes and
# mouth) belong to **several** regions at once.

# %%
GROUP_COLOURS = {name: np.array(L.LABEL_COLOURS[ids[-1]]) for name, ids in L.REGION_GROUPS.items()}
GROUP_COLOURS["mouth"] = np.array(L.LABEL_COLOURS[L.UPPER_LIP])
GROUP_COLOURS["background"] = np.array((60, 180, 75))  # black would not show


def to_pixels(token_map: np.ndarray) -> np.ndarray:
    """(H', W') per-patch values -> (H, W) per-pixel values."""
    return einops.repeat(np.asarray(token_map), "h w -> (h ph) (w pw)", ph=PATCH, pw=PATCH)


def patch_grid(ax):
    for k in range(1, H_PATCHES):
        ax.axhline(k * PATCH - 0.5, color="white", lw=0.4, alpha=0.6)
        ax.axvline(k * PATCH - 0.5, color="white", lw=0.4, alpha=0.6)
    ax.set_xticks([])
    ax.set_yticks([])


def paint(frame: np.ndarray, token_map: np.ndarray, colour, alpha=0.75, dim=0.35) -> np.ndarray:
    """A dimmed frame with the patches of a bool (H', W') map painted in colour."""
    on = to_pixels(token_map)[..., None]
    base = frame.astype(np.float32) * dim
    return np.where(on, base * (1 - alpha) + np.asarray(colour, np.float32) * alpha, base).astype(np.uint8)


slot = 0
frame0 = clip.frames[slot * TUBELET]
fig, axes = plt.subplots(1, 8, figsize=(12.5, 2.1))
for ax, (name, m) in zip(axes, regions.items()):
    member = m[0, slot].numpy()
    ax.imshow(paint(frame0, member, GROUP_COLOURS[name]), interpolation="nearest")
    ax.set_title(f"{name}: {int(member.sum())}", fontsize=8)
    patch_grid(ax)
count = torch.stack([m[0, slot] for m in regions.values()]).sum(0).numpy()
im = axes[-1].imshow(to_pixels(count), cmap="viridis", vmin=1, vmax=4, interpolation="nearest")
axes[-1].set_title("groups per patch", fontsize=8)
patch_grid(axes[-1])
fig.colorbar(im, ax=axes[-1], ticks=[1, 2, 3, 4], fraction=0.046, pad=0.04)
fig.tight_layout()
plt.show()

per_token = torch.stack(list(package.values())).sum(0)  # (B, N): how many groups each token touches
print("share of tokens in 1 / 2 / 3+ groups:", [round(float((per_token == k).float().mean()), 3) for k in (1, 2)],
      round(float((per_token >= 3).float().mean()), 3))

# %% [markdown]
# ## 2. The fasking queue, step by step
#
# MARLIN's official code decides the visible tokens **per tubelet slot**:
#
# * start with every patch of the slot masked;
# * walk a queue of **labels**, making each label's patches visible: **background, then skin,
#   then the labels of the five facial components** (right brow and eye, left brow and eye,
#   nose, the three mouth labels, hair), the components in a random order drawn once per clip;
# * stop as soon as at least `1 - MASK_RATIO` of the slot's patches are visible. The check
#   comes after every label, so the walk can stop inside a component: a brow without its eye.
#
# Here is that walk for slot 0 of our clip. For contrast, the second walk is `fasking_opp`,
# which runs the queue the other way (components first, then skin, then background).

# %%
need = (1 - MASK_RATIO) * P
print(f"threshold: at least {need:.1f} of {P} patches visible")


def walk(title: str, queue: list[str], slot_regions: dict[str, torch.Tensor]) -> tuple[list[torch.Tensor], int]:
    """Visible patches (P,) after each step of the queue, and the step (1-based) where the walk stops."""
    visible = torch.zeros(P, dtype=torch.bool)  # start: everything masked
    after, stop, log = [], None, [title]
    for step, name in enumerate(queue, start=1):
        visible = visible | slot_regions[name]
        after.append(visible)
        if stop is None:
            reached = int(visible.sum()) >= need - 1e-6
            log.append(f"  step {step}: + {name:<10} -> {int(visible.sum()):>2}/{P} visible, threshold reached: {reached}")
            if reached:
                stop = step
    print("\n".join(log))
    return after, stop


def shuffled_components() -> list[str]:
    """The labels of the five components, components in a random order (each one's labels in order)."""
    order = torch.randperm(len(M.COMPONENTS), generator=generator).tolist()
    return [L.LABEL_NAMES[k] for i in order for k in L.REGION_GROUPS[M.COMPONENTS[i]]]


ONE_LABEL = {name: (k,) for k, name in enumerate(L.LABEL_NAMES)}  # every label its own "group"
label_regions = region_maps(parsing, grid, ONE_LABEL)
slot_regions = {name: m[0, slot].flatten() for name, m in label_regions.items()}  # (P,) bool per label
queue = ["background", "skin", *shuffled_components()]
walks = {"fasking": (frame0, queue, *walk("fasking, our clip:", queue, slot_regions))}

# %% [markdown]
# The official walk stopped at once: with the "any pixel" rule, SynthFace's background touches
# far more than 10 % of the patches (the face sits in the middle of the frame). A face
# detector's crop is often tighter. Let us render the same person larger and keep the central
# `SIZE` pixels, so the face fills the frame, and walk again; then the reverse queue on our clip.

# %%
tight_size = SIZE * 9 // 4  # render larger, keep the centre: a tight face crop


def tight_crop(identity: int) -> tuple[np.ndarray, np.ndarray]:
    c = generate_clip(identity, 0, size=tight_size, num_frames=FRAMES)
    lo = (tight_size - SIZE) // 2
    return c.frames[:, lo : lo + SIZE, lo : lo + SIZE], c.parsing[:, lo : lo + SIZE, lo : lo + SIZE]


tight_frames, tight_parsing = tight_crop(IDENTITY)
tight_regions = region_maps(torch.from_numpy(tight_parsing)[None], grid, ONE_LABEL)
queue = ["background", "skin", *shuffled_components()]
tight_slot_regions = {name: m[0, slot].flatten() for name, m in tight_regions.items()}
walks["fasking, tight crop"] = (tight_frames[0], queue, *walk("fasking, tight crop:", queue, tight_slot_regions))
queue = [*shuffled_components(), "skin", "background"]
walks["fasking_opp"] = (frame0, queue, *walk("fasking_opp, our clip:", queue, slot_regions))

# %%
fig, axes = plt.subplots(3, 8, figsize=(12.5, 5.6))
for row, (title, (frame, queue, after, stop)) in zip(axes, walks.items()):
    row[0].imshow((frame * 0.25).astype(np.uint8), interpolation="nearest")
    row[0].set_title("start: all masked", fontsize=7)
    row[0].set_ylabel(title, fontsize=8)
    for step, (ax, name, visible) in enumerate(zip(row[1:], queue, after), start=1):
        shown = visible.reshape(H_PATCHES, W_PATCHES).numpy()
        # Visible patches at full brightness, masked ones dark; steps after the stop faded.
        image = np.where(to_pixels(shown)[..., None], frame, (frame * 0.25).astype(np.uint8))
        ax.imshow(image, interpolation="nearest", alpha=1.0 if step <= stop else 0.3)
        label = f"+{name} {int(visible.sum())}/{P}"
        if step == stop:
            ax.set_title(label + "\nSTOP", fontsize=7, color="crimson", fontweight="bold")
        else:
            ax.set_title(label + ("\n(not walked)" if step > stop else ""), fontsize=7,
                         color="0.6" if step > stop else "black")
    for ax in row:
        patch_grid(ax)
fig.tight_layout()
plt.show()

# %% [markdown]
# On the full frame the official walk takes one step: every patch that shows any background is
# a *candidate*. On the tight crop the background is too scarce, so skin joins; the components
# are never reached. The opposite walk hides the background instead.
#
# **Trimming to an exact count.** The walk gives each slot *at least* 10 %, usually more.
# The encoder wants the same number of tokens in every clip (so clips can be batched), so the
# candidates of **all slots together** are then thinned at random until exactly
# `num_visible(N, MASK_RATIO)` remain: 156 of 1568 at MARLIN's size, and here:

# %%
_, _, after, stop = walks["fasking"]
print(f"slot {slot}: {int(after[stop - 1].sum())} candidates after the walk")
visible = M.make_visible_mask("fasking", 1, grid, MASK_RATIO, parsing=parsing, generator=generator)
print("visible", tuple(visible.shape), visible.dtype, "| visible tokens:", int(visible.sum()), "of", grid.num_tokens)
print("visible per slot (not fixed: the trimming is clip-wide):", visible.reshape(T_SLOTS, P).sum(1).tolist())


# %% [markdown]
# ### The candidate set for a batch, inline
#
# Now for a batch of `BATCH` clips of different people, as full frames and as tight crops.
# The walk needs no loop: the visible sets after *background* and after *background + skin*
# are two boolean unions, and a slot stops at the first that reaches the threshold. (If neither
# did, the random component order would matter; we then allow every token, a superset, and
# count how often that happens.)

# %%
def walk_candidates(parsing: torch.Tensor, grid: TokenGrid) -> tuple[torch.Tensor, list[float]]:
    """Candidates bool (B, N) of the official walk, and the share of slots stopping after background / skin / later."""
    maps = region_maps(parsing, grid)
    after_bg = maps["background"].flatten(2)  # (B, T', P)
    after_skin = after_bg | maps["skin"].flatten(2)
    stop_bg = after_bg.sum(-1) >= need - 1e-6  # (B, T')
    stop_skin = ~stop_bg & (after_skin.sum(-1) >= need - 1e-6)
    later = ~stop_bg & ~stop_skin
    candidates = torch.where(stop_bg[..., None], after_bg, torch.where(stop_skin[..., None], after_skin, True))
    return candidates.flatten(1), [round(float(s.float().mean()), 3) for s in (stop_bg, stop_skin, later)]


batch_parsing = torch.from_numpy(np.stack([generate_clip(i, 0, size=SIZE, num_frames=FRAMES).parsing for i in range(BATCH)]))
tight_batch = torch.from_numpy(np.stack([tight_crop(i)[1] for i in range(BATCH)]))  # (B, T, H, W) each
batches = {"full frame": batch_parsing, "tight crop": tight_batch}
candidates, stops = {}, {}
for kind, p in batches.items():
    candidates[kind], stops[kind] = walk_candidates(p, grid)
for kind in batches:
    count = candidates[kind].sum(1)
    print(f"{kind:<10}: slots stopping after background / skin / later: {stops[kind]}; "
          f"candidates per clip: {count.min()}..{count.max()} of {grid.num_tokens}")

# %% [markdown]
# Then the package, on the same batches: exactly `N_VISIBLE` tokens per clip, always inside the
# walk's candidates, and never a token made *only* of facial-component pixels.

# %%
visibles = {kind: M.make_visible_mask("fasking", BATCH, grid, MASK_RATIO, parsing=p, generator=generator) for kind, p in batches.items()}
for kind, p in batches.items():
    visible = visibles[kind]
    member = M.region_membership(p, grid)
    background_or_skin = member["background"] | member["skin"]
    print(f"{kind}:")
    assert (visible.sum(1) == N_VISIBLE).all() and not (visible & ~candidates[kind]).any()
    print(f"  visible per clip: {visible.sum(1).min()}..{visible.sum(1).max()} (N_VISIBLE = {N_VISIBLE}); "
          f"outside the inline candidates: {int((visible & ~candidates[kind]).sum())}")
    print(f"  share of visible tokens touching background or skin: {float(background_or_skin[visible].float().mean()):.3f}")
    print("  share of visible tokens touching each group:",
          {name: round(float(m[visible].float().mean()), 3) for name, m in member.items()})
    print("  share of all tokens touching each group:    ",
          {name: round(float(m.float().mean()), 3) for name, m in member.items()})
member = M.region_membership(batch_parsing, grid)  # the full-frame batch, used below

# %% [markdown]
# On full frames every visible token shows some background (share 1.0), and the facial
# components are well hidden: eye and mouth tokens are visible only as border patches that also
# show background, at a fraction of their share among all tokens.
#
# On **tight crops** the background step rarely suffices, skin joins in, and skin touches almost
# every patch of a face-filling crop. The candidates are then nearly all tokens (up to 509 of
# 512 above), except those made *only* of component pixels, and the visible shares come close to
# those of all tokens: with the "any pixel" rule, the official walk guides the mask much less
# once it reaches the skin step. The property that holds in every case is the one we checked:
# the visible tokens are candidates of the walk, so none is made only of component pixels while
# background or skin can fill the quota. (The package also handles the later steps of the walk,
# with the random component order, for faces that leave less than 10 % to background and skin.)
#
# ## 3. Four strategies side by side
#
# * `fasking`: the official walk above: visible tokens come from the **background first**.
# * `fasking_opp`: the reverse walk: the encoder sees the **face** and must imagine the rest.
# * `fasking_paper`: our reading of the paper's *prose*, which differs from the code: the
#   90 % masked budget goes to **facial-component tokens first** (components in random order),
#   and the rest of the budget is spent uniformly; so the visible tokens are a uniform draw from
#   the non-component tokens (background and skin alike), not biased towards background.
# * `tube` (lesson 01): the same random positions in every slot, blind to the face.
#
# The masked clip for each strategy (grey = hidden from the encoder; a faint ghost of the face
# is left so you can see *what* is hidden), at the first frame of every other slot:

# %%
STRATEGY_NAMES = ("fasking", "fasking_opp", "fasking_paper", "tube")


def masked_frames(frames: np.ndarray, visible_row: torch.Tensor, grid: TokenGrid, ghost: float = 0.2, fill: int = 70) -> np.ndarray:
    """uint8 (T, H, W, 3) frames and bool (N,) visible -> hidden tubelets grey (with a faint ghost of the frame)."""
    v = einops.repeat(visible_row.reshape(grid.shape).numpy(), "t h w -> (t pt) (h ph) (w pw) 1",
                      pt=grid.tubelet, ph=grid.patch, pw=grid.patch)
    hidden = (fill * (1 - ghost) + frames * ghost).astype(np.uint8)
    return np.where(v, frames, hidden)


clip_masks = {s: M.make_visible_mask(s, 1, grid, MASK_RATIO, parsing=parsing, generator=generator) for s in STRATEGY_NAMES}
rows = [masked_frames(clip.frames, clip_masks[s][0], grid) for s in STRATEGY_NAMES]
fig = viz.show_frames([clip.frames, *rows], frame_ids=slot_frames[::2], row_titles=["clip", *STRATEGY_NAMES], size=1.5)
for ax, s in zip(fig.axes, range(0, T_SLOTS, 2)):
    ax.set_title(f"slot {s}", fontsize=8)
plt.show()
print("visible tokens:", {s: int(m.sum()) for s, m in clip_masks.items()})

# %% [markdown]
# Measured over the batch: for each strategy, the share of visible tokens that touch each
# region group (a token can touch several, so a row need not sum to 1). The last row is the
# share of **all** tokens, what a blind strategy sees on average.

# %%
GROUPS = {"eyes": member["right_eye"] | member["left_eye"], **{g: member[g] for g in ("nose", "mouth", "hair", "skin", "background")}}
shares = {}
for s in STRATEGY_NAMES:
    vis = M.make_visible_mask(s, BATCH, grid, MASK_RATIO, parsing=batch_parsing, generator=generator)
    shares[s] = {g: float(m[vis].float().mean()) for g, m in GROUPS.items()}
shares["(all tokens)"] = {g: float(m.float().mean()) for g, m in GROUPS.items()}
table = [f"{'strategy':<14}" + "".join(f"{g:>11}" for g in GROUPS)]
table += [f"{s:<14}" + "".join(f"{row[g]:>11.3f}" for g in GROUPS) for s, row in shares.items()]
print("\n".join(table))

# %% [markdown]
# Reading the table:
#
# * **fasking** keeps only tokens that show background; eyes, nose and mouth almost never appear
#   (only as border patches that also show background). Hair is hidden much less (0.22 against
#   0.27 over all tokens): SynthFace's hair borders the background, so many hair patches are
#   background candidates too.
# * **fasking_paper** never shows a component token, hair included: here the 90 % masked budget
#   is larger than the ~41 % of tokens that touch a component, so all of them are hidden first;
#   the remaining budget samples background and skin uniformly.
# * **fasking_opp** shows mostly face: skin and components.
# * **tube** follows the clip's own proportions (compare with the last row).
#
# So the official code and our reading of the prose agree on the eyes, nose and mouth and differ
# on hair and on how strongly the visible tokens lean towards background. Both hide what is
# hardest to predict from context, which is the point: the decoder must reconstruct the
# expressive parts of the face. The ablations lesson compares the strategies in training; the
# package keeps both readings.
#
# The same four masked clips, animated (animations are not compared by the tests):

# %%
# NBVAL_IGNORE_OUTPUT
viz.show_gif([clip.frames, *rows], fps=8, scale=2)

# %% [markdown]
# ## 4. The same code on a clip from disk
#
# Nothing above is specific to SynthFace's generator: fasking only needs `(B, T, H, W)` label
# ids that match the clip. Here is a clip of `data_samples/` (an mp4 plus an `.npz` of parsing
# maps, like a real data set with maps from a face parser), sampled MARLIN-style (every 2nd
# frame) and resized to `SIZE`: frames bilinearly (with antialiasing), label maps with
# **nearest** neighbour, since averaging label ids would invent labels.

# %%
sample = load_sample("synth_05_a")
idx = clip_indices(len(sample.frames), FRAMES, 2, start=0)
x = frames_to_tensor(sample.frames[idx])  # (C, T, 112, 112) float32 in [0, 1]
x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", antialias=True, align_corners=False)
disk_parsing = F.interpolate(torch.from_numpy(sample.parsing[idx])[None], size=(SIZE, SIZE), mode="nearest")
print("frames", tuple(x.shape), x.dtype, "| parsing", tuple(disk_parsing.shape), disk_parsing.dtype)
print("labels after resizing:", disk_parsing.unique().tolist())

disk_visible = M.make_visible_mask("fasking", 1, grid, MASK_RATIO, parsing=disk_parsing, generator=generator)
disk_member = M.region_membership(disk_parsing, grid)
print("visible tokens:", int(disk_visible.sum()))
print("share of visible tokens touching each group:",
      {name: round(float(m[disk_visible].float().mean()), 3) for name, m in disk_member.items()})

disk_frames = (einops.rearrange(x, "c t h w -> t h w c").clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()
fig = viz.show_frames(
    [disk_frames, viz.overlay_parsing(disk_frames, disk_parsing[0].numpy(), 0.6), masked_frames(disk_frames, disk_visible[0], grid)],
    frame_ids=slot_frames, row_titles=["synth_05_a", "parsing", "fasking"], size=1.3)
for ax, s in zip(fig.axes, range(T_SLOTS)):
    ax.set_title(f"slot {s}", fontsize=8)
plt.show()

# %% [markdown]
# ## 5. Exactly `num_visible`, for any grid
#
# The count is `floor(N * (1 - mask_ratio))`, and every strategy trims its candidates to it,
# also on grids whose slots do not divide evenly (odd numbers of patches, slots or tokens).
# Three grids, three ratios, all six strategies:

# %%
report = []
for frames, size in ((16, 64), (6, 56), (10, 40)):
    g = TokenGrid(frames=frames, size=size, tubelet=TUBELET, patch=PATCH)
    p = torch.from_numpy(np.stack([generate_clip(i, 1, size=size, num_frames=frames).parsing for i in range(4)]))
    for ratio in (0.75, 0.9, 0.95):
        n = num_visible(g.num_tokens, ratio)
        exact = all(bool((M.make_visible_mask(s, 4, g, ratio, parsing=p, generator=generator).sum(1) == n).all())
                    for s in M.STRATEGIES)
        report.append(f"grid {g.shape} = {g.num_tokens:>3} tokens, ratio {ratio}: n = {n:>3}, exact for all strategies: {exact}")
print("\n".join(report))

# %% [markdown]
# A ratio that leaves no token visible cannot be honoured; the package says so instead of
# returning an empty mask:

# %%
small = TokenGrid(frames=6, size=56, tubelet=TUBELET, patch=PATCH)
for ratio in (0.995, 1.0):
    try:
        M.make_visible_mask("fasking", 1, small, ratio, parsing=torch.zeros(1, 6, 56, 56, dtype=torch.uint8), generator=generator)
    except ValueError as err:
        print(f"mask_ratio={ratio}: ValueError: {err}")

# %% [markdown]
# ## 6. Explore
#
# One slot of our clip through each strategy at `MASK_RATIO`, drawn by
# `viz.show_visible_tokens`: left, what the encoder sees (hidden patches dimmed); middle, the
# region map with the visible tokens outlined; right, the share of the slot's visible tokens
# that touch each region group (blue, with the count) against the share of all its tokens
# (grey), the per-slot version of the table in section 3.

# %%
EXPLORE_STRATEGIES = ("fasking", "fasking_opp", "fasking_paper", "tube", "random")


def slot_view(frames: np.ndarray, parsing: torch.Tensor, visible: torch.Tensor, slot: int) -> tuple:
    """The arguments of viz.show_visible_tokens for one slot of clip 0 of (1, T, H, W) parsing and (1, N) visible."""
    t = slot * TUBELET  # the slot's first frame: the one its regions are read from
    member = {name: m[0].reshape(grid.shape)[slot] for name, m in M.region_membership(parsing, grid).items()}
    return frames[t], parsing[0, t], visible[0].reshape(grid.shape)[slot], member


fig, axes = plt.subplots(len(EXPLORE_STRATEGIES), 3, figsize=(7.5, 1.9 * len(EXPLORE_STRATEGIES)),
                         gridspec_kw={"width_ratios": [1, 1, 1.4]})
for row, s in zip(axes, EXPLORE_STRATEGIES):
    v = M.make_visible_mask(s, 1, grid, MASK_RATIO, parsing=parsing, generator=torch.Generator().manual_seed(SEED))
    viz.show_visible_tokens(*slot_view(clip.frames, parsing, v, slot=0), axes=row)
    row[0].set_ylabel(s, fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# Now pick an identity, a strategy, a ratio, a seed and a slot yourself; *tight crop* renders
# the face larger, as in section 2. (The widget needs a running kernel; the figure above shows
# the same.)

# %%
# NBVAL_IGNORE_OUTPUT
from functools import lru_cache

import ipywidgets as widgets

from marlin_lite.course import interact  # ipywidgets.interact, checked by the tests (see its docstring)


@lru_cache(maxsize=32)
def explore_clip(identity: int, tight: bool) -> tuple[np.ndarray, torch.Tensor]:
    """One SynthFace identity: frames uint8 (T, H, W, 3) and parsing (1, T, H, W), rendered once."""
    if tight:
        frames, labels = tight_crop(identity)
    else:
        c = generate_clip(identity, 0, size=SIZE, num_frames=FRAMES)
        frames, labels = c.frames, c.parsing
    return np.ascontiguousarray(frames), torch.from_numpy(np.ascontiguousarray(labels))[None]


def explore(identity=IDENTITY, strategy="fasking", mask_ratio=MASK_RATIO, seed=SEED, slot=0, tight=False):
    frames, p = explore_clip(identity, tight)
    visible = M.make_visible_mask(strategy, 1, grid, mask_ratio, parsing=p, generator=torch.Generator().manual_seed(seed))
    print(f"{strategy}: {int(visible.sum())} of {grid.num_tokens} tokens visible in the clip, "
          f"{int(visible.reshape(T_SLOTS, P)[slot].sum())} in slot {slot}")
    viz.show_visible_tokens(*slot_view(frames, p, visible, slot))
    plt.show()


interact(
    explore,
    identity=widgets.IntSlider(value=IDENTITY, min=0, max=49),
    strategy=list(EXPLORE_STRATEGIES),
    mask_ratio=widgets.FloatSlider(value=MASK_RATIO, min=0.5, max=0.95, step=0.05),
    seed=widgets.IntSlider(value=SEED, min=0, max=99),
    slot=widgets.IntSlider(value=0, min=0, max=T_SLOTS - 1),
    tight=widgets.Checkbox(value=False, description="tight crop"),
);


# %% [markdown]
# ## Exercise: count facial-component tokens
#
# Write `component_tokens(parsing, grid)`: a `bool (B, N)` tensor (tokens in `(t, h, w)`
# order), True where the token touches **any** of the five facial components (right eye+brow,
# left eye+brow, nose, mouth, hair: the groups in `M.COMPONENTS`) in the **first frame of its
# slot**. Use tensor operations, no loop over patches.
#
# *Hint:* collect the components' label ids from `L.REGION_GROUPS`, then do what
# `region_maps` did, once.

# %% tags=["solution"]
def component_tokens(parsing: torch.Tensor, grid: TokenGrid) -> torch.Tensor:
    """(B, T, H, W) integer label ids -> bool (B, N): True where a token touches a facial component."""
    # BEGIN SOLUTION
    ids = torch.tensor([i for name in M.COMPONENTS for i in L.REGION_GROUPS[name]])
    first = parsing[:, :: grid.tubelet]  # (B, T', H, W)
    pixels = torch.isin(first, ids).float()
    pooled = F.max_pool2d(pixels.flatten(0, 1)[:, None], kernel_size=grid.patch)  # (B*T', 1, H', W')
    return pooled.reshape(parsing.shape[0], -1) > 0
    # END SOLUTION


# %% tags=["self-check"]
# Self-check: run me after your solution.
got = component_tokens(batch_parsing, grid)
assert isinstance(got, torch.Tensor) and got.dtype == torch.bool, f"return a bool tensor, got {type(got)} {getattr(got, 'dtype', '')}"
assert got.shape == (BATCH, grid.num_tokens), f"expected shape {(BATCH, grid.num_tokens)}, got {tuple(got.shape)}"
member = M.region_membership(batch_parsing, grid)
expected = torch.stack([member[name] for name in M.COMPONENTS]).any(0)
assert torch.equal(got, expected), f"{int((got != expected).sum())} tokens differ from the package's region_membership"

# One nose pixel in the first frame of slot 1 counts; a mouth pixel in its second frame does not.
probe = torch.zeros(1, FRAMES, SIZE, SIZE, dtype=torch.uint8)
probe[0, TUBELET, PATCH - 1, 2 * PATCH - 1] = L.NOSE  # last pixel of patch (row 0, col 1)
probe[0, TUBELET + 1, 0, 0] = L.LOWER_LIP  # not a slot's first frame
hit = component_tokens(probe, grid)
assert hit.sum() == 1 and hit[0, P + 1], "only token (slot 1, row 0, col 1) should be True: read each slot's first frame, any pixel counts"

vis = M.make_visible_mask("fasking", BATCH, grid, MASK_RATIO, parsing=batch_parsing, generator=generator)
component_only = got & ~(member["background"] | member["skin"])
share = float(component_only[vis].float().mean())
assert share <= 0.05, f"{share:.3f} of fasking's visible tokens are component-only; expected (almost) none"
print(f"component tokens per clip: {got.float().mean():.3f} of all tokens")
print(f"visible tokens made only of components under fasking: {share:.3f}")
print("self-check passed")

# %% [markdown]
# ## Summary
#
# - A parsing map becomes per-token region membership by max-pooling each group's pixel map
#   over patch windows (the "any pixel" rule); `marlin_lite.masking.region_membership` does the
#   same with a bitmask OR-reduction (`label_bitmask`), and the two agree exactly.
# - `make_visible_mask("fasking", ...)` walks MARLIN's queue per slot (background, skin, then the
#   five components in random order) until 10 % is visible, then trims the candidates over the
#   whole clip to exactly `num_visible` tokens (156 of 1568 for MARLIN).
# - On full SynthFace frames the official walk stops after the background step: every visible
#   token shows some background and the eyes, nose and mouth stay hidden. On tight crops the skin
#   step joins and, with the "any pixel" rule, the mask is much less face-guided.
#   `fasking_paper` (our reading of the prose) hides every component token and samples the rest
#   uniformly; `fasking_opp` shows the face; `tube` ignores it.
# - The masking needs only `(B, T, H, W)` label maps, so it runs unchanged on clips from disk.
#
# **Next:** lesson 03 builds the ViT autoencoder that sees the visible tokens and reconstructs
# the hidden ones.
