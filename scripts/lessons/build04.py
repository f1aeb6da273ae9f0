import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _lesson import Lesson  # noqa: E402

lesson = Lesson()
md, code = lesson.md, lesson.code

md(r"""
# Lesson 04 · Pretraining

We have masks (lessons 01-02) and a network (lesson 03). Pretraining teaches the network to
fill in what the mask hides.

**In this lesson you will**
1. derive MARLIN's reconstruction loss inline and check it against `marlin_lite.pretrain`;
2. see the adversarial term: a per-patch critic trained WGAN-style, why one forward pass
   per batch is enough for both the critic and the autoencoder, and count (with PyTorch's
   FLOP counter) how much work that saves;
3. read the learning-rate schedule (warm-up, then cosine, scaled by the batch size);
4. pretrain the tiny model on SynthFace on your CPU, watch the loss fall, and look at the
   reconstructions;
5. measure what face-guided masking asks of the model: where the reconstruction is hard.

*Run time: 1-2 minutes on 2 CPU cores (seconds when the checkpoint is already there).*
""")
code("""
SEED = 0
CONFIG = "../configs/tiny.yaml"  # the tiny preset on SynthFace (see the file for every setting)
OUT_DIR = "../runs/lesson04"  # the checkpoint later lessons reuse
MAX_STEPS = 600
MASK_STRATEGY = "fasking"
""", tags=["parameters"])
code("""
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from marlin_lite import pretrain as P
from marlin_lite.data import SynthFaceDataset
from marlin_lite.masking import TokenGrid, make_visible_mask, region_membership
from marlin_lite.masking import COMPONENTS
from marlin_lite.model import MarlinAutoencoder, patchify
from marlin_lite.utils import seed_everything

%matplotlib inline
plt.rcParams["figure.dpi"] = 80
generator = seed_everything(SEED)
cfg = P.load_config(CONFIG, out_dir=OUT_DIR, max_steps=MAX_STEPS, mask_strategy=MASK_STRATEGY, figure_every=200)
mcfg = cfg.model_config()
grid = TokenGrid(mcfg.num_frames, mcfg.img_size, mcfg.tubelet_size, mcfg.patch_size)
print(f"model {cfg.model}: {mcfg.num_frames} frames of {mcfg.img_size}x{mcfg.img_size}, {grid.num_tokens} tokens")
print(f"masking {cfg.mask_strategy} at {cfg.mask_ratio} | batch {cfg.batch_size} | {cfg.max_steps} steps | adversarial {cfg.adversarial} (weight {cfg.adv_weight})")
""")
md(r"""
A batch of training clips with face-guided masks, and an untrained model:
""")
code("""
train_set = SynthFaceDataset("train", num_identities=cfg.num_identities, clips_per_identity=cfg.clips_per_identity,
                             size=mcfg.img_size, num_frames=mcfg.num_frames)
batch = torch.utils.data.default_collate([train_set[i] for i in range(4)])
x = batch["video"]
visible = make_visible_mask(cfg.mask_strategy, 4, grid, cfg.mask_ratio, parsing=batch["parsing"], generator=generator)
torch.manual_seed(SEED)
untrained = MarlinAutoencoder(mcfg).eval()
with torch.no_grad():
    pred = untrained(x, visible)
print(f"{len(train_set)} training clips | x {tuple(x.shape)} | predictions {tuple(pred.shape)}")
""")
md(r"""
## 1. The reconstruction loss

The decoder predicts the masked patches in ascending token order. The targets are the same
patches of the input, flattened `(c, pt, ph, pw)` (lesson 01), in the same order. MARLIN
compares them with a plain mean squared error on **raw pixels in [0, 1]**. (MAE and VideoMAE
standardise each target patch by its own mean and variance first, "norm_pix"; the package
offers it as an option for the ablation lesson.)
""")
code("""
patches = patchify(x, mcfg.patch_size, mcfg.tubelet_size)  # (B, N, P)
targets = patches[~visible].reshape(x.shape[0], -1, mcfg.patch_dim)  # boolean indexing keeps ascending order
ours = ((pred - targets) ** 2).mean()
torch.testing.assert_close(ours, P.reconstruction_loss(pred, untrained.targets(x, visible)))
mu, sd = targets.mean(-1, keepdim=True), targets.var(-1, keepdim=True).add(1e-6).sqrt()
torch.testing.assert_close(((pred - (targets - mu) / sd) ** 2).mean(), P.reconstruction_loss(pred, targets, norm_pix=True))
print(f"masked-patch MSE of the untrained model: {ours:.2f} (raw pixels)")
""")
md(r"""
### Exercise: the masked MSE in one function

Write `masked_mse(pred, x, visible)`: cut `x (B, 3, T, H, W)` into patches (use the package's
`patchify` with `mcfg.patch_size` and `mcfg.tubelet_size`), keep the **masked** ones in
ascending token order, and return the mean squared error against `pred (B, M, P)`.
""")
code("""
def masked_mse(pred: torch.Tensor, x: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    \"\"\"pred (B, M, P), x (B, 3, T, H, W), visible bool (B, N) -> scalar MSE on masked patches.\"\"\"
    # BEGIN SOLUTION
    patches = patchify(x, mcfg.patch_size, mcfg.tubelet_size)
    target = patches[~visible].reshape(x.shape[0], -1, patches.shape[-1])
    return F.mse_loss(pred, target)
    # END SOLUTION
""", tags=["solution"])
code("""
# Self-check
for strategy in ("random", "tube", "fasking"):
    v = make_visible_mask(strategy, 4, grid, 0.75, parsing=batch["parsing"], generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        p = untrained(x, v)
    got = masked_mse(p, x, v)
    torch.testing.assert_close(got, P.reconstruction_loss(p, untrained.targets(x, v)), msg=f"{strategy}: not the masked-patch MSE")
    shuffled = masked_mse(p.flip(1), x, v)
    assert not torch.isclose(got, shuffled), "the order of the patches must matter"
print("self-check passed")
""", tags=["self-check"])
md(r"""
## 2. The adversarial term

Squared error rewards the *average* of all plausible answers, and averages are blurry. MARLIN
adds a small **critic** `D` that scores each patch (a 2-layer MLP on the patch's 1536 pixel
values; here `P` values). In the Wasserstein-GAN style, with no gradient penalty:

* critic loss: $\overline{D(\text{predicted})} - \overline{D(\text{real})}$: the critic learns
  to score real patches high and predicted ones low;
* generator loss: $\text{MSE} + 0.01 \cdot \left(-\overline{D(\text{predicted})}\right)$: the
  autoencoder learns to make predictions the critic scores high.

**One forward pass for both.** The official loop runs the encoder and decoder twice per batch:
once for the critic step, once for the generator step. The critic only needs the predictions
as fixed inputs, so MARLIN-lite computes them once, trains the critic on
`pred.detach()`, and trains the autoencoder on the same `pred` through the critic (whose own
weights are frozen for that step). `benchmarks/pretrain_throughput.py` measures the gain.
""")
code("""
disc = untrained.discriminator
real = untrained.targets(x, visible)
with torch.no_grad():
    ours = disc(pred).mean() - disc(real).mean()
    torch.testing.assert_close(ours, P.critic_loss(disc, pred, real))
    generator_adv = -disc(pred).mean()
print(f"critic loss {ours:+.3f} | adversarial part of the generator loss {cfg.adv_weight} x {generator_adv:+.3f}")
""")
md(r"""
### What one pass saves: count, don't guess

How much faster is one pass? Count the work of a step in FLOPs (a multiply-add counts 2). A
backward costs about twice its forward, so forward + backward is about 3x the forward. Call
`F` the encoder/decoder forward of one clip and `C` the critic's forward on that clip's masked
patches (`marlin_lite.model.estimate_flops` gives both). The encoder/decoder part is simple:
`3F` for one pass, `6F` for two. The critic is subtler:

* **one pass**: the critic step scores fake and real patches (`2C`) and takes its weight
  gradient (`2C`; its inputs need none, they are detached); then the generator's term scores
  the predictions again with the *updated* critic (`C`) and back-propagates into them (`C`,
  the critic's weights frozen): `6C`;
* **the official loop**: its critic step back-propagates into the predictions too (they are
  not detached: `2C` more), and its generator step also computes the critic's weight
  gradients, which nobody uses (`C` more): `9C`.

Bookkeeping like this is easy to get wrong, so let PyTorch count. `FlopCounterMode` records
every matrix product that runs inside it; here it watches only the critic's share of each
loop, on this lesson's batch.
""")
code("""
from torch.utils.flop_counter import FlopCounterMode

from marlin_lite.model import estimate_flops

n_visible = int(visible[0].sum())
forward = estimate_flops(mcfg, n_visible, discriminator=True)
C = forward["discriminator"]
F_ = forward["total"] - C
critic = MarlinAutoencoder(mcfg).discriminator  # a fresh critic, so the lesson's stays untouched
fake = pred.detach()


def critic_work(one_pass: bool) -> float:
    \"\"\"FLOPs per clip of the critic's part of a step, counted by PyTorch.\"\"\"
    critic.zero_grad(set_to_none=True)
    with FlopCounterMode(display=False) as counter:
        # critic step: the official loop's predictions still carry gradients
        scored = fake if one_pass else fake.clone().requires_grad_()
        P.critic_loss(critic, scored, real).backward()
        # generator's adversarial term: the one-pass loop freezes the critic's weights
        critic.requires_grad_(not one_pass)
        generated = fake.clone().requires_grad_()
        (-critic(generated).mean()).backward()
        critic.requires_grad_(True)
    return counter.get_total_flops() / x.shape[0]


for name, one_pass, units in (("one pass", True, 6), ("official", False, 9)):
    counted = critic_work(one_pass)
    print(f"{name:8s}: critic work {counted / 1e6:6.1f} MFLOP per clip = {counted / C:.2f} C (bookkeeping: {units} C)")
    assert abs(counted / C - units) < 0.05
""")
md(r"""
The counts agree with the bookkeeping. (The one-pass count is a hair over `6C`: in the critic
step the 256-to-1 output layer also back-propagates into the hidden units, to reach the first
layer's weights, a product the bookkeeping left out because it is nearly free.) The package keeps the whole step's count in
`P.step_flops` (the training log's `tflops` and the benchmarks use it); the ratio of the two
loops' work is the speed-up one pass gives *by doing less*:
""")
code("""
from marlin_lite.masking import num_visible
from marlin_lite.model import get_config

one, two = P.step_flops(mcfg, n_visible), P.step_flops(mcfg, n_visible, two_pass=True)
print(f"this model: one pass {one / 1e9:.2f} GFLOP per clip, official loop {two / 1e9:.2f}: ratio {two / one:.2f}")
presets = ["tiny", "small", "base", "large"]
ratios = []
for name in presets:
    c = get_config(name)
    k = num_visible(c.num_tokens, 0.9)
    ratios.append(P.step_flops(c, k, two_pass=True) / P.step_flops(c, k))
fig, ax = plt.subplots(figsize=(5.5, 2.4))
bars = ax.bar(presets, ratios, color="C2")
ax.bar_label(bars, labels=[f"{r:.2f}x" for r in ratios], fontsize=8)
ax.axhline(2, color="grey", ls="--", lw=1)
ax.set(ylim=(1, 2.2), ylabel="FLOP ratio", title="work of the official loop / work of one pass")
plt.show()
""")
md(r"""
Two passes never cost quite twice one pass: the critic's share of the work does not shrink by
half. The bigger the encoder and decoder are next to the critic, the closer the ratio gets to
2. A measured speed-up above these ratios comes from doing the same work faster (a fused
optimiser kernel, no repeated mask bookkeeping); `benchmarks/README.md` has the figures
(`python benchmarks/pretrain_throughput.py` prints both the measured speed-up and this ratio).
""")
md(r"""
## 3. The learning-rate schedule

The peak rate is `lr x global batch / 256` (MARLIN: 1.5e-4 per 256 clips), reached by a
linear warm-up, then a cosine decay to `min_lr x batch / 256`, updated every step. The tiny
config uses a much larger rate than MARLIN's 2000-epoch recipe, because it has 600 steps.
""")
code("""
peak = cfg.lr * cfg.batch_size / 256
steps = np.arange(cfg.max_steps)
ours = [min((s + 1) / cfg.warmup_steps, 1.0) if s < cfg.warmup_steps else
        cfg.min_lr / cfg.lr + (1 - cfg.min_lr / cfg.lr) * 0.5 * (1 + math.cos(math.pi * (s - cfg.warmup_steps) / (cfg.max_steps - cfg.warmup_steps)))
        for s in steps]
np.testing.assert_allclose(ours, [P.lr_factor(int(s), cfg) for s in steps])
fig, ax = plt.subplots(figsize=(6, 2.4))
ax.plot(steps, peak * np.array(ours))
ax.set(xlabel="step", ylabel="learning rate", title=f"warm-up {cfg.warmup_steps} steps, cosine to {cfg.min_lr * cfg.batch_size / 256:.1e}")
plt.tight_layout()
plt.show()
print(f"peak learning rate {peak:.2e} at step {cfg.warmup_steps}")
""")
md(r"""
## 4. Pretrain

`ensure_pretrained` is the course's *checkpoint ladder*: if `OUT_DIR` already holds a finished
run of this configuration it loads it in seconds; if a run stopped half way it resumes it
(checkpoints are written atomically every 100 steps, with both optimisers, the schedules and
the random states, so a resumed run ends with exactly the weights of an uninterrupted one);
otherwise it trains. The same run from a terminal:
`python -m marlin_lite.pretrain --config configs/tiny.yaml --out-dir runs/lesson04`.
""")
code("""
# NBVAL_IGNORE_OUTPUT
result = P.ensure_pretrained(cfg)
model = result.model
""")
code("""
history = result.history
rec = np.array([h["rec"] for h in history])
print(f"steps trained: {result.step} (logged every {cfg.log_every})")
print("reconstruction loss decreased:", bool(rec[-3:].mean() < rec[:3].mean()))
print("at least halved:", bool(rec[-3:].mean() < 0.5 * rec[:3].mean()))
print("finite throughout:", bool(np.isfinite([h["loss"] for h in history]).all()))
""")
code("""
logged = np.array([h["step"] for h in history])
fig, axes = plt.subplots(1, 3, figsize=(12, 2.8))
axes[0].plot(logged, rec)
axes[0].set(title="reconstruction (MSE)", xlabel="step", yscale="log")
axes[1].plot(logged, [h["critic"] for h in history], color="C1")
axes[1].set(title="critic loss", xlabel="step")
axes[2].plot(logged, [h["lr"] for h in history], color="C2")
axes[2].set(title="learning rate", xlabel="step")
plt.tight_layout()
plt.show()
""")
md(r"""
## 5. Reconstructions

MAE's four panels, over the frames of a **held-out** clip (an identity never seen in
training): the clip, what the encoder saw, the model's prediction for every masked patch, and
the prediction with the visible patches pasted back. First the untrained model, then the
pretrained one.
""")
code("""
val_set = SynthFaceDataset("val", num_identities=cfg.num_identities, clips_per_identity=cfg.clips_per_identity,
                           size=mcfg.img_size, num_frames=mcfg.num_frames)
val = torch.utils.data.default_collate([val_set[i] for i in range(0, len(val_set), max(1, len(val_set) // 8))][:8])
xv = val["video"]
vv = make_visible_mask(cfg.mask_strategy, xv.shape[0], grid, cfg.mask_ratio, parsing=val["parsing"], generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    pred_before, pred_after = untrained(xv, vv), model(xv, vv)
for name, m, p in (("untrained", untrained, pred_before), ("pretrained", model, pred_after)):
    fig = P.reconstruction_figure(m, xv[:1], vv[:1], p[:1], frames=range(0, mcfg.num_frames, 2))
    fig.suptitle(name, fontsize=9)
    plt.show()
before = P.reconstruction_loss(pred_before, untrained.targets(xv, vv)).item()
after = P.reconstruction_loss(pred_after, model.targets(xv, vv)).item()
print("held-out masked MSE: pretrained below untrained:", after < before, "| below a tenth of it:", after < 0.1 * before)
""")
md(r"""
The training run also saved such figures every 200 steps (`figure_every`), when it trained here; the first and the last:
""")
code("""
# NBVAL_IGNORE_OUTPUT
from IPython.display import Image, display

saved = sorted(result.out_dir.glob("recon_step*.png"))
for path in saved[:1] + saved[-1:] if len(saved) > 1 else saved:  # the first and the last
    display(Image(filename=str(path), width=520))
if not saved:
    print("(no training-time figures: the checkpoint was trained elsewhere, e.g. by lesson 05)")
""")
md(r"""
**Explore.** Pick a held-out clip, a masking strategy and a ratio, and watch the pretrained
model fill in what it was not shown: masks it never trained with (`frame`, or a ratio of 0.5)
ask different things of it than its own `fasking` at 0.9. (The widget needs a running kernel;
the figures above show the first clip under the training mask.)
""")
code("""
# NBVAL_IGNORE_OUTPUT
import ipywidgets as widgets

from marlin_lite.course import interact  # ipywidgets.interact, checked by the tests (see its docstring)
from marlin_lite.masking import STRATEGIES


def explore(clip=0, strategy=cfg.mask_strategy, mask_ratio=cfg.mask_ratio, seed=1):
    x1, parsing1 = xv[clip : clip + 1], val["parsing"][clip : clip + 1]
    v1 = make_visible_mask(strategy, 1, grid, mask_ratio, parsing=parsing1, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        p1 = model(x1, v1)
    mse = P.reconstruction_loss(p1, model.targets(x1, v1)).item()
    fig = P.reconstruction_figure(model, x1, v1, p1, frames=range(0, mcfg.num_frames, 2))
    fig.suptitle(f"pretrained, {strategy} at {mask_ratio:.2f}: {int(v1.sum())} tokens visible, masked MSE {mse:.4f}", fontsize=9)
    plt.show()


interact(explore, clip=widgets.IntSlider(value=0, min=0, max=len(xv) - 1), strategy=list(STRATEGIES),
                 mask_ratio=widgets.FloatSlider(value=cfg.mask_ratio, min=0.5, max=0.95, step=0.05),
                 seed=widgets.IntSlider(value=1, min=0, max=99));
""")
md(r"""
## 6. What fasking asks of the model

Face-guided masking hides the facial components and shows background and skin. So the model
must *imagine* eyes, nose and mouth from the rest of the face. Where is the reconstruction
hardest? We measure the error of the pretrained model per masked token, grouped by the region
the token touches, under fasking and under random masks of the same ratio.
""")
code("""
regions = region_membership(val["parsing"], grid)
groups = {"eyes": regions["right_eye"] | regions["left_eye"], "nose": regions["nose"], "mouth": regions["mouth"],
          "hair": regions["hair"], "skin only": regions["skin"] & ~torch.stack([regions[c] for c in COMPONENTS]).any(0) & ~regions["background"],
          "background only": regions["background"] & ~regions["skin"] & ~torch.stack([regions[c] for c in COMPONENTS]).any(0)}
errors = {}
for strategy in ("fasking", "random"):
    v = make_visible_mask(strategy, xv.shape[0], grid, cfg.mask_ratio, parsing=val["parsing"], generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        per_token = ((model(xv, v) - model.targets(xv, v)) ** 2).mean(-1)  # (B, M)
    masked = ~v
    full = torch.zeros(v.shape)
    full[masked] = per_token.flatten()
    errors[strategy] = {g: float(full[masked & m].mean()) for g, m in groups.items() if (masked & m).any()}
names = list(errors["fasking"])
fig, ax = plt.subplots(figsize=(7, 2.8))
for k, strategy in enumerate(errors):
    ax.bar(np.arange(len(names)) + 0.4 * k, [errors[strategy].get(n, np.nan) for n in names], width=0.4, label=strategy)
ax.set_xticks(np.arange(len(names)) + 0.2, names)
ax.set(ylabel="MSE per masked token", title="pretrained model, held-out clips")
ax.legend()
plt.tight_layout()
plt.show()
face = [n for n in ("eyes", "nose", "mouth") if n in errors["fasking"]]
print("under fasking, facial components are harder than plain background:",
      all(errors["fasking"][n] > errors["fasking"]["background only"] for n in face))
""")
md(r"""
Facial components carry the detail that tells people, expressions and words apart, and
fasking makes the model predict them from context rather than copy them from a neighbouring
visible patch. Whether that yields better *features* is the question of lessons 05-10.

## Summary
- `marlin_lite.pretrain` holds the loss (`reconstruction_loss`, `critic_loss`), the schedule
  (`lr_factor`), the training loop (`train`, one forward pass per batch), checkpoints
  (atomic, resumable, `weights_only=True`), the checkpoint ladder (`ensure_pretrained`) and
  the CLI (`python -m marlin_lite.pretrain --config configs/tiny.yaml`); `torchrun` runs it on
  several GPUs or processes.
- The tiny model learns visibly in a minute or two on a CPU; the same code with
  `configs/base.yaml` is MARLIN's ViT-B recipe on a GPU.

**Next:** lesson 05 asks what the pretrained encoder's features know.
""")
lesson.write("04_pretraining.ipynb")
