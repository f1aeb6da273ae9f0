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
# # Lesson 03 · The ViT autoencoder
#
# Lessons 01 and 02 decided *which* tokens the encoder sees. Now we build the network that
# sees them: a Vision Transformer **encoder** that runs on the visible tokens only, a small
# **decoder** that predicts the hidden ones, and the per-patch **discriminator** MARLIN adds for
# sharper reconstructions.
#
# **In this lesson you will**
# 1. derive the fixed sine-cosine position table and a pre-LayerNorm transformer block inline,
#    and check both against `marlin_lite.model`;
# 2. assemble the encoder and the decoder by hand from the package's weights and get the same
#    numbers as the package;
# 3. follow the tensor shapes through the network, for the lesson's tiny model and for MARLIN's;
# 4. count parameters and FLOPs of MARLIN's ViT-S/B/L, compare with the paper, and see where
#    the work goes as the mask ratio changes;
# 5. load a tiny model built with the *official* MARLIN code and reproduce its outputs.
#
# *Run time: under a minute on a laptop CPU.*

# %% tags=["parameters"]
SEED = 0
PRESET = "tiny"  # tiny: 8 frames of 64x64, patches 8x8, tubelets of 2 frames -> 256 tokens
BATCH = 2
MASK_RATIO = 0.9
STRATEGY = "fasking"

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from marlin_lite import model as M
from marlin_lite import official
from marlin_lite import viz
from marlin_lite.masking import TokenGrid, make_visible_mask, num_visible
from marlin_lite.pretrain import step_flops
from marlin_lite.synthface import generate_clip
from marlin_lite.utils import seed_everything
from marlin_lite.video import frames_to_tensor, tensor_to_frames

# %matplotlib inline
plt.rcParams["figure.dpi"] = 80
generator = seed_everything(SEED)
cfg = M.get_config(PRESET)
grid = TokenGrid(cfg.num_frames, cfg.img_size, cfg.tubelet_size, cfg.patch_size)
N, n_visible = grid.num_tokens, num_visible(grid.num_tokens, MASK_RATIO)
print(cfg)
print(f"tokens N = {N} on a {grid.shape} grid; visible n = {n_visible}; values per patch P = {cfg.patch_dim}")

# %% [markdown]
# A batch of SynthFace clips and their face-guided masks (lesson 02), in the package's video
# layout `(B, C, T, H, W)`:

# %%
clips = [generate_clip(i, 0, size=cfg.img_size, num_frames=cfg.num_frames) for i in range(BATCH)]
x = torch.stack([frames_to_tensor(c.frames) for c in clips])
parsing = torch.stack([torch.from_numpy(c.parsing) for c in clips])
visible = make_visible_mask(STRATEGY, BATCH, grid, MASK_RATIO, parsing=parsing, generator=generator)
print("x", tuple(x.shape), x.dtype, "| visible", tuple(visible.shape), visible.dtype, "| visible per clip", visible.sum(1).tolist())
model = M.MarlinAutoencoder(cfg).eval()  # random weights: we study the wiring, not the skill


# %% [markdown]
# ## 1. Positions: a fixed sine-cosine table
#
# MARLIN has no CLS token and learns no position embedding: token `p` (counting in `(t, h, w)`
# order) gets a fixed vector whose column `2i` is $\sin(p / 10000^{2i/D})$ and column `2i+1`
# the matching cosine. Low columns change fast with `p`, high ones slowly, so nearby tokens get
# similar vectors.

# %%
def position_table(num_positions, dim):
    pos = torch.arange(num_positions, dtype=torch.float64)[:, None]
    freq = 10000.0 ** (2 * (torch.arange(dim) // 2) / dim)  # each frequency used twice
    angle = pos / freq
    table = torch.empty(num_positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angle[:, 0::2])
    table[:, 1::2] = torch.cos(angle[:, 1::2])
    return table[None].float()


ours = position_table(N, cfg.enc_dim)
torch.testing.assert_close(ours, M.sincos_table(N, cfg.enc_dim))
torch.testing.assert_close(ours, model.encoder.pos_embed)
print("inline table == package table == the encoder's buffer:", True)

fig, axes = plt.subplots(1, 2, figsize=(10, 3))
axes[0].imshow(ours[0].T, aspect="auto", cmap="RdBu")
axes[0].set(xlabel="token position", ylabel="dimension", title="sine-cosine table")
similarity = F.normalize(ours[0], dim=1) @ F.normalize(ours[0], dim=1).T
axes[1].plot(similarity[100].numpy())
axes[1].set(xlabel="token position", ylabel="cosine similarity", title="similarity to token 100")
plt.tight_layout()
plt.show()


# %% [markdown]
# ## 2. One transformer block, by hand
#
# A *pre-LayerNorm* block: `x + Attention(LN(x))`, then `x + MLP(LN(x))`. MARLIN's attention
# projects to queries, keys and values with one matrix **without bias**, then adds learned
# biases to `q` and `v` only (the key bias is zero: a constant added to every key would not
# change the softmax anyway). The package calls `F.scaled_dot_product_attention`, which picks
# fused flash / memory-efficient kernels on a GPU; here we write the softmax out.

# %%
def block_by_hand(blk, x, heads):
    h = F.layer_norm(x, (x.shape[-1],), blk.norm1.weight, blk.norm1.bias, eps=1e-5)
    bias = torch.cat([blk.attn.q_bias, torch.zeros_like(blk.attn.q_bias), blk.attn.v_bias])
    q, k, v = rearrange(h @ blk.attn.qkv.weight.T + bias, "b n (three h d) -> three b h n d", three=3, h=heads)
    weights = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)  # (B, heads, n, n)
    x = x + blk.attn.proj(rearrange(weights @ v, "b h n d -> b n (h d)"))
    h = F.layer_norm(x, (x.shape[-1],), blk.norm2.weight, blk.norm2.bias, eps=1e-5)
    return x + blk.mlp.fc2(F.gelu(blk.mlp.fc1(h)))


blk = model.encoder.blocks[0]
torch.nn.init.normal_(blk.attn.q_bias, std=0.5)  # make the biases matter for this check
torch.nn.init.normal_(blk.attn.v_bias, std=0.5)
tokens = torch.randn(BATCH, n_visible, cfg.enc_dim, generator=generator)
with torch.no_grad():
    torch.testing.assert_close(block_by_hand(blk, tokens, cfg.enc_heads), blk(tokens), atol=1e-5, rtol=1e-5)
print("block by hand == package block (SDPA):", True)

# %% [markdown]
# ## 3. The encoder sees only the visible tokens
#
# Tubelet embedding (a `Conv3d` whose kernel and stride are a tubelet), plus positions, then
# **keep only the visible tokens**, in ascending token order, and run the blocks on them. This
# is what makes masked autoencoders cheap: with 90 % masked, the encoder's attention works on
# 10 % of the tokens, 1 % of the pairs.

# %%
with torch.no_grad():
    z = model.encoder.patch_embed.proj(x)  # (B, D, T', H', W')
    print("conv output     ", tuple(z.shape))
    z = rearrange(z, "b d t h w -> b (t h w) d") + ours  # tokens in (t, h, w) order, + positions
    print("all tokens      ", tuple(z.shape))
    idx = torch.stack([torch.nonzero(v).flatten() for v in visible])  # ascending indices
    z = torch.gather(z, 1, idx[..., None].expand(-1, -1, cfg.enc_dim))
    print("visible tokens  ", tuple(z.shape))
    for b in model.encoder.blocks:
        z = block_by_hand(b, z, cfg.enc_heads)
    encoded = F.layer_norm(z, (cfg.enc_dim,), model.encoder.norm.weight, model.encoder.norm.bias, eps=1e-5)
    torch.testing.assert_close(encoded, model.encoder(x, visible), atol=1e-5, rtol=1e-5)
print("encoder by hand == package encoder:", True)

# %% [markdown]
# ## 4. The decoder predicts the hidden tokens
#
# The encoded tokens are projected to the decoder's width (`enc_dec_proj`, no bias) and get
# the decoder's own position table. Every masked position gets a shared learned **mask token**
# plus its position. The decoder attends over all `N` tokens, keeps the last `N - n` (the mask
# tokens, in ascending order), and a linear head turns each into `P` pixel values: a tubelet
# flattened `(c, pt, ph, pw)`, the patch order of lesson 01.

# %%
dec = model.decoder
with torch.no_grad():
    y = model.enc_dec_proj(encoded)
    pos = dec.pos_embed.expand(BATCH, -1, -1)
    masked_idx = torch.stack([torch.nonzero(~v).flatten() for v in visible])
    take = lambda t, i: torch.gather(t, 1, i[..., None].expand(-1, -1, t.shape[-1]))  # noqa: E731
    seq = torch.cat([y + take(pos, idx), dec.mask_token + take(pos, masked_idx)], dim=1)
    print("decoder input   ", tuple(seq.shape), "=", n_visible, "visible +", N - n_visible, "mask tokens")
    for b in dec.blocks:
        seq = block_by_hand(b, seq, cfg.dec_heads)
    pred = dec.head(F.layer_norm(seq[:, -masked_idx.shape[1] :], (cfg.dec_dim,), dec.norm.weight, dec.norm.bias, eps=1e-5))
    print("predictions     ", tuple(pred.shape))
    torch.testing.assert_close(pred, model(x, visible), atol=1e-5, rtol=1e-5)
    scores = model.discriminator(pred)
print("decoder by hand == package decoder:", True, "| discriminator scores", tuple(scores.shape))

# %% [markdown]
# The loss (lesson 04) compares these predictions with the true masked patches, taken in the
# same ascending order. Putting predictions back in place of the masked patches gives a clip:
# with random weights it is noise where the face was hidden, which is exactly what
# pretraining will fix.

# %%
with torch.no_grad():
    targets = model.targets(x, visible)
    recon = model.reconstruct(x, visible, pred.clamp(0, 1))
    masked_only = model.reconstruct(x, visible, torch.full_like(targets, 0.5))
print("targets", tuple(targets.shape), "| MSE of the untrained model:", round(F.mse_loss(pred, targets).item(), 3))
rows = [tensor_to_frames(t) for t in (x[0], masked_only[0], recon[0])]
viz.show_frames(rows, frame_ids=range(0, cfg.num_frames, 2), row_titles=["original", "masked", "untrained recon"])
plt.show()


# %% [markdown]
# ## 5. Shapes through MARLIN's real model
#
# The same code at MARLIN's size: 16 frames of 224x224, patches of 16, so 1568 tokens of 1536
# values, 156 of them visible. Forward hooks record every module's output shape.

# %%
def shape_trace(m, x, visible):
    # Output shape of the main stages, in the order they run.
    stages = {"encoder.patch_embed": m.encoder.patch_embed, "encoder.blocks[0]": m.encoder.blocks[0],
              "encoder.blocks[-1]": m.encoder.blocks[-1], "encoder.norm": m.encoder.norm,
              "enc_dec_proj": m.enc_dec_proj, "decoder.blocks[0]": m.decoder.blocks[0],
              "decoder.norm": m.decoder.norm, "decoder.head": m.decoder.head}
    rows = []
    hooks = [mod.register_forward_hook(lambda mod, i, o, name=name: rows.append((name, tuple(o.shape))))
             for name, mod in stages.items()]
    with torch.no_grad():
        m(x, visible)
    for h in hooks:
        h.remove()
    return rows


big = M.get_config("small")  # ViT-S: same shapes as B and L, except the widths
big_grid = TokenGrid(big.num_frames, big.img_size, big.tubelet_size, big.patch_size)
torch.manual_seed(SEED)
vit_s = M.MarlinAutoencoder(big, discriminator=False).eval()
xb = torch.rand(1, 3, big.num_frames, big.img_size, big.img_size)
vb = make_visible_mask("tube", 1, big_grid, 0.9, generator=generator)
print(f"{'input clip':22s} {tuple(xb.shape)}")
for name, shape in shape_trace(vit_s, xb, vb):
    print(f"{name:22s} {shape}")

# %% [markdown]
# ## 6. Parameters and FLOPs
#
# The paper reports 22.5 M, 87.4 M and 305.5 M *encoder* parameters for ViT-S/B/L. Those
# figures include the fixed position table (1568 x width numbers), which is not trained. We
# build the models on PyTorch's `meta` device: shapes without memory, so even ViT-L costs
# nothing to count.

# %%
official_m = {"small": 22.5, "base": 87.4, "large": 305.5}
print(f"{'preset':7s} {'encoder (trained)':>18s} {'+ pos. table':>13s} {'paper':>7s} {'whole AE + critic':>18s}")
for name in ["tiny", "small", "base", "large"]:
    with torch.device("meta"):
        m = M.MarlinAutoencoder(name)
    trained = M.count_parameters(m.encoder) / 1e6
    with_table = M.count_parameters(m.encoder, include_buffers=True) / 1e6
    paper = f"{official_m[name]:.1f}" if name in official_m else "-"
    print(f"{name:7s} {trained:17.2f}M {with_table:12.1f}M {paper:>7s} {M.count_parameters(m) / 1e6:17.1f}M")
    if name in official_m:
        assert round(with_table, 1) == official_m[name]

# %% [markdown]
# **FLOPs.** A block of width $D$ over $n$ tokens multiplies matrices of cost $2nD\cdot3D$ (qkv),
# $2nD^2$ (output projection), $2\cdot 2nD\cdot4D$ (MLP), and $2\cdot2n^2D$ (scores and weighted
# sum): $24nD^2 + 4n^2D$. The encoder pays it on the $n$ visible tokens only, the decoder on all
# $N$. Let us write the whole count inline and compare with the package's `estimate_flops`,
# then with PyTorch's own `FlopCounterMode` (which, on CPU, does not count the fused attention
# kernel: we expect it to match our count *minus* the $4n^2D$ terms exactly).

# %%
from torch.utils.flop_counter import FlopCounterMode


def flops_inline(c, n, critic=True):
    N, P = c.num_tokens, c.patch_dim
    block = lambda t, d: 24 * t * d * d + 4 * t * t * d  # noqa: E731  (MLP ratio 4)
    total = 2 * N * P * c.enc_dim + c.enc_depth * block(n, c.enc_dim) + 2 * n * c.enc_dim * c.dec_dim
    total += c.dec_depth * block(N, c.dec_dim) + 2 * (N - n) * c.dec_dim * P
    if critic:
        total += 2 * (N - n) * (P * 4 * c.dec_dim + 4 * c.dec_dim)
    return total


assert flops_inline(cfg, n_visible) == M.estimate_flops(cfg, n_visible, discriminator=True)["total"]
counter = FlopCounterMode(display=False)
with counter, torch.no_grad():
    model.discriminator(model(x[:1], visible[:1]))
attention_products = cfg.enc_depth * 4 * n_visible**2 * cfg.enc_dim + cfg.dec_depth * 4 * N**2 * cfg.dec_dim
print("FlopCounterMode == our count minus attention products:", counter.get_total_flops() == flops_inline(cfg, n_visible) - attention_products)
for name in ["tiny", "small", "base", "large"]:
    c = M.get_config(name)
    k = num_visible(c.num_tokens, 0.9)
    f = M.estimate_flops(c, k, discriminator=True)
    print(f"{name:6s} forward {f['total'] / 1e9:8.2f} GFLOP/clip (encoder {f['encoder_blocks'] / f['total']:.0%}, decoder {f['decoder_blocks'] / f['total']:.0%})"
          f" -> training step {step_flops(c, k) / 1e12:.3f} TFLOP/clip")

# %% [markdown]
# A training step costs about 3x the forward (a backward costs about twice its forward), but not
# exactly: the pixels need no gradient, and the critic runs more than once per step.
# `marlin_lite.pretrain.step_flops` keeps that account (lesson 04 derives it and checks it with
# `FlopCounterMode`): about 0.25 TFLOP per clip for ViT-B, the figure the course's reference
# notes use. Lesson 04 turns such counts and measured clips per second into GPU utilisation.
#
# ### Where the work goes
#
# The same count, split by part, for each preset at a mask ratio of 0.9: the decoder runs on
# all $N$ tokens, the encoder only on the visible tenth, so the big encoder is the cheaper half.

# %%
PARTS = ["patch_embed", "encoder_blocks", "enc_dec_proj", "decoder_blocks", "decoder_head", "discriminator"]


def show_flops(ax, preset, mask_ratio):
    """Bars of one preset's forward GFLOP per clip, by part, at mask_ratio (the critic on the masked patches)."""
    c = M.get_config(preset)
    k = num_visible(c.num_tokens, mask_ratio)
    f = M.estimate_flops(c, k, discriminator=True)
    ax.barh(PARTS, [f[p] / 1e9 for p in PARTS], color=[f"C{i}" for i in range(len(PARTS))])
    ax.invert_yaxis()
    ax.set_xlabel("GFLOP per clip (forward)")
    ax.set_title(f"{preset}, ratio {mask_ratio:.2f}: {k} visible of {c.num_tokens} | step {step_flops(c, k) / 1e9:.1f} GFLOP", fontsize=8)
    return f


fig, axes = plt.subplots(1, 4, figsize=(15, 2.6), sharey=True)
for ax, name in zip(axes, ["tiny", "small", "base", "large"]):
    f = show_flops(ax, name, 0.9)
    assert sum(f[p] for p in PARTS) == f["total"]
plt.tight_layout()
plt.show()

# %% [markdown]
# Change the preset and the mask ratio yourself: at a ratio of 0.5 the encoder sees five times
# as many tokens, so its matrix products cost five times as much and its attention products,
# quadratic in the visible tokens, twenty-five times. (The widget
# needs a running kernel; the figure above shows every preset at 0.9.)

# %%
# NBVAL_IGNORE_OUTPUT
import ipywidgets as widgets

from marlin_lite.course import interact  # ipywidgets.interact, checked by the tests (see its docstring)


def explore(preset="base", mask_ratio=0.9):
    fig, ax = plt.subplots(figsize=(6, 2.6))
    show_flops(ax, preset, mask_ratio)
    plt.tight_layout()
    plt.show()


interact(explore, preset=["tiny", "small", "base", "large"], mask_ratio=widgets.FloatSlider(value=0.9, min=0.5, max=0.95, step=0.05));

# %% [markdown]
# ## 7. The official model, reproduced
#
# The official MARLIN release ships its weights in three layouts, and `official.from_official` reads
# each by its keys, accounting for every one:
#
# | file | keys | what you get |
# |---|---|---|
# | `marlin_vit_*_ytf.encoder.pt` | `encoder.*` | the encoder (the decoder stays untrained) |
# | `marlin_vit_*_ytf.full.pt` | `encoder.*`, `enc_dec_proj.*`, `decoder.*` | the autoencoder, no critic |
# | a training checkpoint (`.ckpt`) | the same plus `discriminator.*`, under `state_dict` | everything |
#
# The course ships a tiny model built with the official code's own modules (random weights,
# one input, its visible mask and every output: `data_samples/official/`, with its provenance).
# `official.official_parity()` (module `marlin_lite.official`) loads it into MARLIN-lite and measures how far each of our outputs is
# from the official one. The differences are float32 rounding (about 1e-6); the cell stops if any
# exceeds 1e-5. (Rounding differs between CPUs, so the notebook tests do not compare the printed
# digits; they still fail if the check fails.)

# %%
# NBVAL_IGNORE_OUTPUT
diffs, report = official.official_parity()
print(report)
for key, diff in diffs.items():
    print(f"{key:28s} max |ours - official| = {diff:.1e}")
assert max(diffs.values()) <= 1e-5, diffs

# %% [markdown]
# The conversion also runs the other way: our weights under official names and back give the
# identical model. `load_pretrained("marlin_vit_base_ytf")` reads the released encoder file
# (`"marlin_vit_base_ytf.full"` the full one) the same way; it downloads a file once, on request,
# and nothing in the course does.

# %%
official_names = official.to_official(model)
print(len(official_names), "tensors, layout", official.official_layout(official_names), "e.g.", list(official_names)[:3])
back, report = official.from_official({"model." + k: v for k, v in official_names.items()}, cfg)
with torch.no_grad():
    largest = (back.eval()(x, visible) - model(x, visible)).abs().max().item()
print(report, f"| largest output difference after the round trip: {largest:.1e}")
assert largest == 0.0


# %% [markdown]
# ## Exercise: keep the visible tokens
#
# Everything above relies on one small operation: take the rows of `tokens (B, N, D)` where
# `visible (B, N)` is True, **in ascending token order**, giving `(B, n, D)`. Write it without
# Python loops over tokens (hint: `torch.nonzero`, or sort the indices, then `torch.gather`).

# %% tags=["solution"]
def keep_visible(tokens: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """tokens (B, N, D), visible bool (B, N) with n True per row -> (B, n, D), ascending order."""
    # BEGIN SOLUTION
    idx = visible.float().argsort(dim=1, descending=True, stable=True)[:, : int(visible[0].sum())]
    idx = idx.sort(dim=1).values
    return tokens.gather(1, idx[..., None].expand(-1, -1, tokens.shape[-1]))
    # END SOLUTION


# %% tags=["self-check"]
# Self-check
check_gen = torch.Generator().manual_seed(1)
t = torch.randn(3, N, 5, generator=check_gen)
v = make_visible_mask("random", 3, grid, 0.75, generator=check_gen)
got = keep_visible(t, v)
assert got.shape == (3, num_visible(N, 0.75), 5), f"wrong shape {tuple(got.shape)}"
torch.testing.assert_close(got, M.select_tokens(t, v), msg="not the visible rows in ascending order")
torch.testing.assert_close(keep_visible(t, ~v), M.select_tokens(t, ~v))
print("self-check passed")

# %% [markdown]
# ## Summary
# - `marlin_lite.model` holds the whole network: `MarlinEncoder` (tubelet `Conv3d`, fixed
#   sine-cosine positions, pre-LN blocks with q/v biases and SDPA attention, final LayerNorm),
#   `MarlinDecoder` (mask tokens, predictions of the masked patches in ascending order) and the
#   per-patch `Discriminator`; presets `tiny`, `small`, `base`, `large`.
# - The encoder runs on visible tokens only; the decoder on all of them. Counting the fixed
#   position table, the encoders have the paper's 22.5 M / 87.4 M / 305.5 M parameters.
# - `marlin_lite.official`: `from_official` / `to_official` / `load_pretrained` move weights between the official
#   layouts (encoder-only, full, training checkpoint) and ours, with every key accounted for;
#   the shipped official reference is reproduced to 1e-5.
#
# **Next:** lesson 04 trains this network on SynthFace: the reconstruction loss, the adversarial
# term, and a tiny pretraining run.
