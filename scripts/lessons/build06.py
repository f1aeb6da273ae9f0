"""Builds notebooks/06_facial_attributes.ipynb (run from anywhere; writes into the repository's notebooks/)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _lesson import Lesson  # noqa: E402

lesson = Lesson()
md, code = lesson.md, lesson.code


md(r"""
# Lesson 06 · Facial attributes (FAR)

Lesson 05 turned a face video into one feature vector and found that nearest neighbours could
not tell what the tiny pretraining added. Now we do what MARLIN does to evaluate an encoder:
freeze it and train a **linear head** on its features for a labelled task. The first task is
**facial attribute recognition** (FAR): does this person have a beard, bangs, glasses, a hat...?
MARLIN evaluates it on CelebV-HQ (40 appearance attributes); we use the 24 attributes that every
SynthFace person carries.

**In this lesson you will**
1. see why FAR is *multi-label* and why sparse labels make accuracy over all entries a weak
   metric (an "always absent" guess scores about 0.77), and compute the floors every metric has;
2. write the entry-wise accuracy (the exercise) and derive AUC from ranks (Mann-Whitney),
   micro and macro, checked against `marlin_lite.tasks.metrics`;
3. build the linear head with BCE-with-logits by hand and check it against
   `marlin_lite.tasks.linear_probe`;
4. run MARLIN's three baselines with `marlin_lite.tasks.run_far` (random-init probe,
   supervised from scratch, pretrained probe) over label fractions and seeds, with error bars;
5. read per-attribute AUCs and a low-data curve honestly, next to what the paper reports, and
   look at the test people behind any attribute's AUC (an explorer over all 24).

*Run time: under a minute on 2 CPU cores when lesson 04's checkpoint exists; about a minute
more when it has to be trained first.*
""")
code("""
SEED = 0
CONFIG = "../configs/tiny.yaml"  # the pretraining run of lesson 04 (same file, same settings)
OUT_DIR = "../runs/lesson04"  # where lesson 04 keeps its checkpoint; trained here if missing
RESULTS_DIR = "../runs/lesson06"  # the results table is saved here (JSON and Markdown)
NUM_IDENTITIES = 120  # people; attributes belong to a person, so people are the samples that count
CLIPS_PER_IDENTITY = 1
SPLIT = (0.6, 0.1, 0.3)  # train / val / test shares of the people (no person in two splits)
WORLD_SEED = 1  # people pretraining never saw (lesson 04 pretrained on world 0)
FRACTIONS = (0.1, 0.3, 1.0)  # shares of the training labels for the low-data curve
SEEDS = (0, 1, 2)  # every (method, fraction) runs once per seed: mean +- std
PROBE_LR = 1e-2  # MARLIN uses 1e-4; section 4 shows why a lesson-sized run needs more
PROBE_EPOCHS = 200  # full-batch Adam steps of the linear probe
FINETUNE_EPOCHS = 5  # supervised from scratch: epochs of encoder + head training (MARLIN's lr 1e-4)
MARGIN = 0.01  # AUC differences smaller than this are reported as "no clear difference"
""", tags=["parameters"])
code("""
import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from marlin_lite.data import SynthFaceDataset
from marlin_lite.pretrain import ensure_pretrained, load_config
from marlin_lite.synthface import ATTRIBUTES
from marlin_lite.tasks import FeatureCache, ResultsTable, far_report, linear_probe, make_head, random_encoder, run_far, task_generator
from marlin_lite.tasks import metrics
from marlin_lite.utils import seed_everything

%matplotlib inline
plt.rcParams["figure.dpi"] = 80
generator = seed_everything(SEED)
train_cfg = load_config(CONFIG, out_dir=OUT_DIR)
mcfg = train_cfg.model_config()
SIZE, NUM_FRAMES = mcfg.img_size, mcfg.num_frames  # clips are made at the size and length the encoder takes
A = len(ATTRIBUTES)
print(f"model {mcfg.name}: {mcfg.num_frames} frames of {mcfg.img_size}x{mcfg.img_size}, feature width D = {mcfg.enc_dim}")
print(f"{A} attributes: {', '.join(ATTRIBUTES)}")
""")
md(r"""
## 1. The task: many yes/no questions per person

A face has many attributes at once (black hair *and* a beard *and* glasses), so FAR is
**multi-label**: the target of a video is a vector $y \in \{0, 1\}^{A}$ with $A = 24$ here
($40$ appearance attributes on CelebV-HQ), and the model answers $A$ independent yes/no
questions. In SynthFace the attributes belong to the *person* (hair, glasses, beard... do not
change from clip to clip), so the splits are **by identity**: the test people are never seen
in training, and the question is whether the attributes of *new* people are recognised. FAR
must use real clips only (`fake_fraction=0`): a face swap keeps the target's labels but shows
the donor's face.
""")
code("""
kw = dict(num_identities=NUM_IDENTITIES, clips_per_identity=CLIPS_PER_IDENTITY, world_seed=WORLD_SEED, fractions=SPLIT,
          size=SIZE, num_frames=NUM_FRAMES, fake_fraction=0.0, cache=True)
train_set, val_set, test_set = (SynthFaceDataset(split, **kw) for split in ("train", "val", "test"))
splits = {"train": train_set, "val": val_set, "test": test_set}
y = {name: torch.stack([ds[i]["attributes"] for i in range(len(ds))]) for name, ds in splits.items()}
for name, ds in splits.items():
    print(f"{name:5s}: {len(ds):3d} clips of {len(ds.identities):3d} people | targets {tuple(y[name].shape)} {y[name].dtype}")
print("a person in two splits:", bool(set(train_set.identities) & (set(val_set.identities) | set(test_set.identities))))
print("values in the targets:", y["train"].unique().tolist())
""")
code("""
mid = NUM_FRAMES // 2
show = 6
fig, axes = plt.subplots(1, show, figsize=(1.9 * show, 3.6))
for ax, i in zip(axes, range(show)):
    item = train_set[i]
    ax.imshow(item["video"][:, mid].permute(1, 2, 0).numpy())
    ax.set_xticks([])
    ax.set_yticks([])
    names = [ATTRIBUTES[a] for a in torch.nonzero(item["attributes"]).flatten().tolist()]
    ax.set_title(f"person {int(item['identity'])}", fontsize=8)
    ax.set_xlabel("\\n".join(names) if names else "(none)", fontsize=7)
fig.suptitle("training people and their attributes (frame %d)" % mid, fontsize=9)
plt.tight_layout()
plt.show()
""")
md(r"""
Most attributes are **rare**: a person has a handful of the 24. The prevalence of attribute
$a$ is the share of people who have it, $\pi_a = \frac{1}{N}\sum_i y_{ia}$:
""")
code("""
prevalence = {name: t.mean(dim=0) for name, t in y.items()}
fig, ax = plt.subplots(figsize=(10, 3.4))
xs = np.arange(A)
ax.bar(xs - 0.2, prevalence["train"], 0.4, label=f"train ({len(train_set)} people)")
ax.bar(xs + 0.2, prevalence["test"], 0.4, label=f"test ({len(test_set)} people)")
ax.axhline(0.5, color="k", lw=0.8, ls="--")
ax.set_xticks(xs, ATTRIBUTES, rotation=60, ha="right", fontsize=8)
ax.set_ylabel("share of people with it")
ax.set_title("attribute prevalence", fontsize=9)
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
single = [ATTRIBUTES[a] for a in range(A) if prevalence["test"][a] in (0, 1)]
print(f"share of 1s over all entries: train {y['train'].mean():.3f}, test {y['test'].mean():.3f}")
print(f"attributes above 50 % in train: {int((prevalence['train'] > 0.5).sum())} of {A}")
print(f"attributes with a single class in test (no AUC possible): {single}")
""")
md(r"""
## 2. Accuracy over all entries, and its floor

MARLIN's FAR accuracy thresholds each probability at $0.5$ and counts **every (sample,
label) entry** once:

$$\text{acc} = \frac{1}{N A} \sum_{i=1}^{N} \sum_{a=1}^{A} \mathbb{1}\big[\,\mathbb{1}[p_{ia} > 0.5] = y_{ia}\big].$$

Note the strict $>$: a probability of exactly $0.5$ is a "no". This is not the *subset*
accuracy of multi-label papers (a sample counts only when all its labels are right), and not a
per-attribute average either (with full label matrices the per-sample, per-label and pooled
averages coincide; subset accuracy does not).

## Exercise: entry-wise accuracy

Write `entry_accuracy(probs, targets)` for `probs (N, A)` of probabilities in $[0, 1]$ and
`targets (N, A)` of 0/1; return a Python `float`. One line of tensor code is enough.
""")
code("""
def entry_accuracy(probs: torch.Tensor, targets: torch.Tensor) -> float:
    \"\"\"(N, A) probabilities, (N, A) 0/1 targets -> share of (sample, label) entries where (p > 0.5) == target.\"\"\"
    # BEGIN SOLUTION
    return ((probs > 0.5).float() == targets.float()).float().mean().item()
    # END SOLUTION
""", tags=["solution"])
code("""
# Self-check
# 1. By hand: entries (p, y) -> right?  (0.9,1) yes  (0.2,0) yes  (0.5,1) NO: 0.5 is not > 0.5
#                                      (0.4,0) yes  (0.7,0) no   (0.1,0) yes   -> 4 of 6
probs = torch.tensor([[0.9, 0.2, 0.5], [0.4, 0.7, 0.1]])
targets = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
got = entry_accuracy(probs, targets)
assert isinstance(got, float), f"return a Python float (use .item()), got {type(got).__name__}"
assert abs(got - 4 / 6) < 1e-6, (f"expected 4/6 = 0.667 on the hand example, got {got:.3f}; count every entry once and "
                                 "remember that p = 0.5 means 'absent' (strictly greater than 0.5 is 'present')")

# 2. The same as the package on random data (any N, A).
check_gen = torch.Generator().manual_seed(6)
p = torch.rand(50, 24, generator=check_gen)
t = (torch.rand(50, 24, generator=check_gen) < 0.3).float()
assert abs(entry_accuracy(p, t) - metrics.binary_accuracy(p, t)) < 1e-6, "differs from metrics.binary_accuracy on random data"
assert abs(entry_accuracy(p[:7, :5], t[:7, :5]) - metrics.binary_accuracy(p[:7, :5], t[:7, :5])) < 1e-6, "wrong for a (7, 5) input"

# 3. "Always absent" scores exactly 1 - (share of 1s).
assert abs(entry_accuracy(torch.zeros_like(t), t) - (1 - t.mean().item())) < 1e-6, "the all-zero guess should score 1 - mean(targets)"
print("self-check passed")
""", tags=["self-check"])
md(r"""
Now the floor. A "model" that answers **no** to every question never looks at a face, yet its
accuracy is $1 - \bar{y}$, one minus the share of 1s. Another blind guess, the
**train prevalence** $\pi_a$ of each attribute as the probability for every test person, says
"yes" only for attributes that more than half the people have; here no attribute is that
common, so at the threshold it is the same guess:
""")
code("""
always_absent = torch.zeros_like(y["test"])
prior = prevalence["train"].expand_as(y["test"])  # the same row for every test person
floors = {
    "always absent": {"accuracy": metrics.binary_accuracy(always_absent, y["test"])},
    "train prevalence": {"accuracy": metrics.binary_accuracy(prior, y["test"])},
}
assert abs(floors["always absent"]["accuracy"] - (1 - y["test"].mean().item())) < 1e-6  # 1 - share of 1s
for name, f in floors.items():
    print(f"{name:16s}: test accuracy {f['accuracy']:.3f}")
""")
md(r"""
About 0.77 without looking at a single face. On CelebV-HQ the 40 appearance attributes are
sparse as well, which is one reason the paper's 93.90 % accuracy needs the AUC beside it.
Accuracy also depends on the threshold $0.5$, which a probe trained with few labels may not
have calibrated. AUC does not use a threshold at all.

## 3. AUC from ranks

The ROC AUC of scores $s$ for binary targets is the probability that a random positive scores
higher than a random negative (ties count one half):

$$\text{AUC} = \frac{1}{n_+ n_-} \sum_{i: y_i = 1} \sum_{j: y_j = 0} \Big(\mathbb{1}[s_i > s_j] + \tfrac12 \mathbb{1}[s_i = s_j]\Big).$$

The double sum has $n_+ n_-$ terms. Ranks give it in $O(n \log n)$ (Mann-Whitney): sort all
$n$ scores, give each its 1-based rank $r_i$ (tied scores share the average of their ranks).
The rank of a positive counts every score below it, itself, and half of its ties; summed over the positives,
$\sum_{i: y_i=1} r_i$ counts each positive-positive pair once as well, $n_+(n_+ + 1)/2$ in
total, so

$$\text{AUC} = \frac{\sum_{i: y_i = 1} r_i - n_+(n_+ + 1)/2}{n_+ n_-}.$$

For multi-label scores there are two ways to average:
- **micro** (what MARLIN reports): flatten all $N \times A$ entries into one binary problem;
- **macro**: one AUC per attribute (over the people), then the mean over attributes that have
  both classes.
""")
code("""
def average_ranks(values):
    \"\"\"1-based ranks of a 1-D tensor; tied values share the average of their ranks.\"\"\"
    _, inverse, counts = torch.unique(values, sorted=True, return_inverse=True, return_counts=True)
    last = counts.cumsum(0).double()  # the rank of the last member of each group of equal values
    return (last - (counts.double() - 1) / 2)[inverse]


def auc_by_ranks(scores, targets):
    \"\"\"ROC AUC of 1-D scores for 1-D 0/1 targets (Mann-Whitney); nan with a single class.\"\"\"
    pos = targets.bool()
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    return (average_ranks(scores)[pos].sum().item() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def auc_by_pairs(scores, targets):
    \"\"\"The definition: every (positive, negative) pair, O(n_pos * n_neg).\"\"\"
    sp, sn = scores[targets.bool()], scores[~targets.bool()]
    return ((sp[:, None] > sn[None, :]).double() + 0.5 * (sp[:, None] == sn[None, :]).double()).mean().item()


print("ranks of [0.1, 0.5, 0.5, 0.9]:", average_ranks(torch.tensor([0.1, 0.5, 0.5, 0.9])).tolist())
noisy = (y["test"] + 1.5 * torch.randn(y["test"].shape, generator=generator)).sigmoid()  # a weak, noisy predictor
for name, s in [("noisy predictor", noisy), ("train prevalence (many ties)", prior)]:
    flat_s, flat_y = s.flatten(), y["test"].flatten()
    micro = auc_by_ranks(flat_s, flat_y)
    torch.testing.assert_close(micro, auc_by_pairs(flat_s, flat_y))
    torch.testing.assert_close(micro, metrics.multilabel_auc(s, y["test"], "micro"))
    per_attribute = [auc_by_ranks(s[:, a], y["test"][:, a]) for a in range(A)]
    macro = float(np.nanmean(per_attribute))
    torch.testing.assert_close(macro, metrics.multilabel_auc(s, y["test"], "macro"))
    print(f"{name:29s}: micro AUC {micro:.3f} | macro AUC {macro:.3f}  (== marlin_lite.tasks.metrics)")
""")
md(r"""
Look at the second line: the train prevalence does not look at a face, yet its **micro AUC is
well above 0.5**. Pooling all entries mixes attributes, and "a common attribute is more likely
than a rare one" already ranks many positives above many negatives. Its **macro AUC is exactly
0.5**: within one attribute it gives every person the same score, all ties. So each metric has
its own floor, and this lesson prints them beside every result:

| metric | blind floor | what it rewards |
|---|---|---|
| accuracy over entries (MARLIN) | "always absent", about 0.77 here | being right on the many 0s |
| micro AUC (MARLIN) | train prevalence, above 0.5 | ranking, including *which attributes are common* |
| macro AUC | 0.5 | ranking *people* within each attribute: seeing the face |

On CelebV-HQ the floors are different numbers, but they exist as well.
""")
code("""
floors["always absent"].update(auc_micro=metrics.multilabel_auc(always_absent, y["test"], "micro"), auc_macro=0.5)
floors["train prevalence"].update(auc_micro=metrics.multilabel_auc(prior, y["test"], "micro"),
                                  auc_macro=metrics.multilabel_auc(prior, y["test"], "macro"))
for name, f in floors.items():
    print(f"{name:16s}: accuracy {f['accuracy']:.3f} | micro AUC {f['auc_micro']:.3f} | macro AUC {f['auc_macro']:.3f}")
""")
md(r"""
## 4. The linear head and BCE-with-logits

The probe is one `Linear(D, A)`: logits $z = W x + b$ for a feature $x \in \mathbb{R}^D$, and
$p = \sigma(z)$ answers the $A$ questions independently. The loss is the binary cross-entropy
of each entry, averaged over all $N \times A$ entries:
$\ell(z, y) = -\,[\,y \log \sigma(z) + (1 - y) \log(1 - \sigma(z))\,]$.
With $\log \sigma(z) = -\log(1 + e^{-z})$ and $\log(1 - \sigma(z)) = -z - \log(1 + e^{-z})$
this is $(1 - y)\,z + \log(1 + e^{-z})$, and since $\log(1 + e^{-z}) = -z + \log(1 + e^{z})$,
the form that never overflows is

$$\ell(z, y) = \max(z, 0) - z\,y + \log\big(1 + e^{-|z|}\big).$$

That is what "with logits" buys: the sigmoid and the log are fused, so large logits are safe.
From here on we use PyTorch's `F.binary_cross_entropy_with_logits`, which computes this value
and takes the gradient $\sigma(z) - y$ directly (our formula's autograd gradient is the same
number up to rounding, and Adam would amplify that rounding over 200 steps).
""")
code("""
def bce_with_logits(z, y):
    return (z.clamp(min=0) - z * y + torch.log1p(torch.exp(-z.abs()))).mean()


z = torch.tensor([[-100.0, -3.0, 0.0, 2.0, 100.0]])
t = torch.tensor([[1.0, 0.0, 1.0, 1.0, 0.0]])
naive = -(t * torch.log(torch.sigmoid(z)) + (1 - t) * torch.log(1 - torch.sigmoid(z))).mean()
torch.testing.assert_close(bce_with_logits(z, t), F.binary_cross_entropy_with_logits(z, t))
print(f"stable form {bce_with_logits(z, t).item():.3f} == F.binary_cross_entropy_with_logits | naive form: {naive.item()}")
""")
md(r"""
### The pretrained encoder, from the checkpoint ladder

As in lesson 05, `ensure_pretrained` loads lesson 04's run from `OUT_DIR` in a second, or
trains it here with the same seed and settings (about a minute). A progress bar may appear, so
the notebook tests do not compare this cell's output; the next cell checks what matters.
""")
code("""
# NBVAL_IGNORE_OUTPUT
result = ensure_pretrained(load_config(CONFIG, out_dir=OUT_DIR, progress=True))
""")
code("""
model = result.model.cpu().eval()
rec = [h["rec"] for h in result.history]
print("checkpoint in OUT_DIR:", (Path(OUT_DIR) / "checkpoint.pt").exists())
print("steps trained == max_steps of the config:", result.step == train_cfg.max_steps)
print("reconstruction loss lower at the end than at the start:", rec[-1] < rec[0])
""")
md(r"""
Features follow lesson 05's protocol (encoder over all tokens, mean over tokens, final
LayerNorm; a video's windows averaged). Each SynthFace clip here is rendered at the model's 8
frames, so it is exactly one window (`sample_rate=1`). A `FeatureCache` keys the features by
the encoder's weights and the data set, so `run_far` below reuses them instead of encoding
again. The **random-init** encoder is the same architecture with fresh weights
(`random_encoder(cfg, seed)`): whatever the pretrained probe does better, pretraining taught it.
""")
code("""
cache = FeatureCache()
encoders = {"pretrained": model, "random init": random_encoder(mcfg, SEEDS[0])}
feats = {enc_name: {name: cache.get(enc, ds) for name, ds in splits.items()} for enc_name, enc in encoders.items()}
x_train = feats["pretrained"]["train"].pooled()  # (N, D): one vector per person
print("windows per clip:", feats["pretrained"]["train"].windows_per_item.unique().tolist(),
      "| pooled train features", tuple(x_train.shape), x_train.dtype)
print("labels stored beside the features == the dataset's:", torch.equal(feats["pretrained"]["train"].labels["attributes"], y["train"]))
print(f"feature sets computed: {cache.misses} (2 encoders x 3 splits)")
""")
md(r"""
The probe, by hand: a `Linear(D, A)` with PyTorch's default init drawn from a seeded generator
(`make_head`), Adam with MARLIN's betas $(0.5, 0.9)$, full-batch steps on the BCE above.
`linear_probe` does the same (and, given a validation set, keeps the epoch with the lowest
validation loss; `run_far` uses that). Without a validation set the two must agree exactly:
""")
code("""
def train_probe(x, targets, lr, epochs, seed=0):
    head = make_head(x.shape[1], targets.shape[1], task_generator(seed, "probe_head"))  # Linear(D, A)
    opt = torch.optim.Adam(head.parameters(), lr=lr, betas=(0.5, 0.9))
    losses = []
    for _ in range(epochs):
        loss = F.binary_cross_entropy_with_logits(head(x), targets)  # == bce_with_logits, fused gradient
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return head.eval(), losses


head, losses = train_probe(x_train, y["train"], PROBE_LR, PROBE_EPOCHS)
package = linear_probe(x_train, y["train"], task="multilabel", lr=PROBE_LR, epochs=PROBE_EPOCHS, batch_size=None, seed=0)
torch.testing.assert_close(head.weight, package.head.weight)
torch.testing.assert_close(head.bias, package.head.bias)
print("head:", head, "| by hand == linear_probe:", True)
""")
md(r"""
**A deviation from MARLIN, and why.** MARLIN trains the probe with Adam at lr $10^{-4}$ on
CelebV-HQ's tens of thousands of clips, for many thousands of steps. Our lesson-sized probe
takes `PROBE_EPOCHS` = 200 full-batch steps on 72 people. Adam moves each weight by at most
about the learning rate per step, so 200 steps at $10^{-4}$ move a weight by about $0.02$ at
most. The dashed line below is the loss of the blind guess of section 2 (every person gets the
train prevalence of each attribute): a head that only knows the base rates reaches it.
""")
code("""
curves = {lr: train_probe(x_train, y["train"], lr, PROBE_EPOCHS)[1] for lr in (1e-4, PROBE_LR)}
fig, ax = plt.subplots(figsize=(6.5, 3.2))
for lr, c in curves.items():
    ax.plot(np.arange(1, PROBE_EPOCHS + 1), c, label=f"lr {lr:g}")
prior_loss = F.binary_cross_entropy(prevalence["train"].expand_as(y["train"]), y["train"]).item()
ax.axhline(prior_loss, color="k", lw=0.8, ls="--", label="train prevalence (blind)")
ax.set_xlabel("full-batch step")
ax.set_ylabel("train BCE")
ax.set_title("linear probe on pretrained features", fontsize=9)
ax.legend(fontsize=8)
plt.tight_layout()
plt.show()
print(f"loss of the blind prevalence guess on the training people: {prior_loss:.3f}")
print(f"lr 1e-4: final loss within 0.05 of the blind guess's: {abs(curves[1e-4][-1] - prior_loss) < 0.05}")
print(f"lr {PROBE_LR:g}: final loss more than 0.1 below the blind guess's: {curves[PROBE_LR][-1] < prior_loss - 0.1}")
""")
md(r"""
At $10^{-4}$, 200 steps bring the head to about what the base rates give: it has learned which
attributes are common, and little about the faces. At $10^{-2}$ it goes well below. So the
probes of this lesson train at `PROBE_LR` = $10^{-2}$ and keep the epoch with the best
validation loss (validation people, never test people, choose it). That is a deviation from
MARLIN's protocol, made because a lesson has hundreds of steps where MARLIN has tens of
thousands; MARLIN's setting is one argument away, `run_far(..., probe=dict(lr=1e-4))`.
""")
md(r"""
## 5. MARLIN's baselines: random init, from scratch, pretrained

`run_far` runs, for every label fraction and seed,

* **random-init probe**: a frozen, randomly initialised encoder (seeded by the row's seed) and
  a linear probe; it measures what the architecture alone gives;
* **supervised from scratch**: the same architecture trained end to end (encoder + head) on
  the labelled people only, MARLIN's fine-tuning recipe (one random clip per video per epoch,
  Adam lr $10^{-4}$) for `FINETUNE_EPOCHS` epochs; with this little data and compute it hardly
  moves, so read it as the protocol at work rather than a strong baseline;
* **pretrained probe**: lesson 04's frozen encoder and a linear probe.

The label fractions take a seeded, nested subset of the training people (a seed's 10 % lies
inside its 30 %); validation (12 people) picks the probe's epoch; the test people (36) are
only scored. Every row reports MARLIN's accuracy and micro AUC and our macro AUC.
""")
code("""
table = run_far(model, train_set, test_set, val_set=val_set, fractions=FRACTIONS, seeds=SEEDS, cache=cache,
                probe=dict(lr=PROBE_LR, epochs=PROBE_EPOCHS), finetune=dict(epochs=FINETUNE_EPOCHS))
methods = list(dict.fromkeys(r["method"] for r in table))
print(f"{len(table)} rows = {len(methods)} methods x {len(FRACTIONS)} fractions x {len(SEEDS)} seeds; metrics {table.metric_columns()}")
print("training people per fraction:", {f: table.filter(fraction=float(f), seed=SEEDS[0])[0]["n_train"] for f in FRACTIONS})
print("frozen-encoder features computed once each:", cache.misses == 2 * 3 + 3 * (len(SEEDS) - 1))
""")
md(r"""
The table, as `ResultsTable.to_markdown()` writes it (mean ± std over the seeds), is saved
beside the JSON of every row. The numbers themselves depend on the pretrained weights, and
those differ in the last digits between machines and thread counts (hundreds of training steps
amplify rounding), so the notebook shows the table as a figure and prints only comparisons
that such noise does not flip: "better" when an AUC is higher by more than `MARGIN` = 0.01
(the standard deviations over seeds with all labels are about that size).
""")
code("""
results_dir = Path(RESULTS_DIR)
results_dir.mkdir(parents=True, exist_ok=True)
markdown = table.to_markdown(digits=3, metrics=["accuracy", "auc_micro", "auc_macro"])
(results_dir / "far_results.md").write_text(markdown + "\\n")
table.to_json(results_dir / "far_results.json")
print("saved:", [str(results_dir / f) for f in ("far_results.md", "far_results.json")])

rows = [[c.strip() for c in line.strip("|").split("|")] for line in markdown.splitlines() if not line.startswith("|---")]
keep = [rows[0].index(c) for c in ("method", "fraction", "n_train", "accuracy", "auc_micro", "auc_macro")]
cells = [[r[k] for k in keep] for r in rows]
for name, f in floors.items():
    cells.append([f"floor: {name}", "-", "0", f"{f['accuracy']:.3f}", f"{f['auc_micro']:.3f}", f"{f['auc_macro']:.3f}"])
fig, ax = plt.subplots(figsize=(10, 0.32 * len(cells) + 0.4))
ax.axis("off")
tab = ax.table(cellText=cells[1:], colLabels=cells[0], loc="center", cellLoc="center")
tab.auto_set_font_size(False)
tab.set_fontsize(8)
tab.scale(1, 1.3)
ax.set_title(f"FAR on SynthFace, test = {len(test_set)} unseen people, mean ± std over seeds {SEEDS}", fontsize=9)
plt.tight_layout()
plt.show()
""")
code("""
summary = {(r["method"], r["fraction"]): r for r in table.summarize()}


def compare(a, b, margin=MARGIN):
    \"\"\"'better' / 'worse' / 'no clear difference' for a metric a against b.\"\"\"
    return "better" if a - b > margin else "worse" if b - a > margin else "no clear difference"


full = {m: summary[(m, 1.0)] for m in methods}
p = full["pretrained_probe"]
print("with all training labels, the pretrained probe against ...")
for other in ("random_init_probe", "supervised_scratch"):
    print(f"  {other:18s}: micro AUC {compare(p['auc_micro_mean'], full[other]['auc_micro_mean'])}, "
          f"macro AUC {compare(p['auc_macro_mean'], full[other]['auc_macro_mean'])}")
print(f"  the blind floors  : micro AUC {compare(p['auc_micro_mean'], floors['train prevalence']['auc_micro'])}, "
      f"macro AUC {compare(p['auc_macro_mean'], 0.5)}")
close = all(abs(full[m]["accuracy_mean"] - floors["always absent"]["accuracy"]) < 0.03 for m in methods)
print("every method's accuracy within 0.03 of 'always absent':", close)
""")
md(r"""
**What the paper reports, and what this course measured.** MARLIN (ViT-B, pretrained 2000
epochs on YouTube Faces, linear probe) reports **93.90 % accuracy and 0.9561 micro AUC** on
CelebV-HQ's appearance attributes (its abstract: FAR 1.13 % above the supervised benchmark). When this lesson was written, the course's tiny model (4 layers, 128 wide, 600 steps on
64 synthetic clips of 16 people) gave, with all 72 training people:

| | accuracy | micro AUC | macro AUC |
|---|---|---|---|
| pretrained probe | about 0.78 | about 0.685 | about 0.61 |
| random-init probe | about 0.78 | about 0.66 | about 0.59 |
| supervised from scratch | about 0.77 | about 0.64 | about 0.56 |
| blind floor | 0.769 (always absent) | 0.639 (prevalence) | 0.5 |

So: accuracy shows nothing (every method is within about 0.01 of "always absent"); in AUC the
pretrained probe is ahead of the random-init probe by about 0.02-0.03, a small but real lead
that pretraining taught. Even a *random* encoder beats the blind floors: mean-pooled features
of random weights still carry colour statistics (hair colour, skin tone), which is also why
random-init baselines are worth running. The printed lines above are your run's verdict. The
gap to the paper (0.9561 micro AUC) is the gap between 600 CPU steps on 64 toy clips and 2000
epochs of a ViT-B on real faces: this lesson demonstrates the protocol, it does not replicate
the paper's number.

## 6. Which attributes, and how many labels

Per attribute, the AUC of the probes on all training labels, averaged over the seeds (each
seed has its own random-init encoder; the pretrained features are the same, the probe's init
differs). Attributes with a single class among the test people get no bar.
""")
code("""
def per_attribute_auc(enc_for_seed):
    \"\"\"(A,) test AUC of each attribute and (N_test, A) test probabilities, both the mean over the seeds' probes.\"\"\"
    aucs, probs = [], []
    for seed in SEEDS:
        f = {name: cache.get(enc_for_seed(seed), ds) for name, ds in splits.items()}
        probe = linear_probe(f["train"].pooled(), y["train"], f["val"].pooled(), y["val"], task="multilabel",
                             lr=PROBE_LR, epochs=PROBE_EPOCHS, seed=seed)
        scores = probe.predict(f["test"].pooled()).detach()
        aucs.append([r["auc"] for r in far_report(scores, y["test"])])
        probs.append(scores)
    # nan AUC where the test people hold a single class (the same for every seed)
    return np.array(aucs).mean(axis=0), torch.stack(probs).mean(dim=0)


misses = cache.misses
encoder_for_seed = {"pretrained": lambda seed: model, "random init": lambda seed: random_encoder(mcfg, seed)}
auc_attr, test_probs = {}, {}  # test_probs: kept for the attribute explorer below
for name, enc_for_seed in encoder_for_seed.items():
    auc_attr[name], test_probs[name] = per_attribute_auc(enc_for_seed)
print("features reused from the cache (none recomputed):", cache.misses == misses)
order = np.argsort(-np.nan_to_num(auc_attr["pretrained"], nan=-1))
fig, ax = plt.subplots(figsize=(10, 3.8))
xs = np.arange(A)
for k, (name, v) in enumerate(auc_attr.items()):
    ax.bar(xs + (k - 0.5) * 0.4, v[order], 0.4, label=f"{name} probe")
ax.axhline(0.5, color="k", lw=0.8, ls="--", label="chance (0.5)")
ax.set_xticks(xs, [ATTRIBUTES[a] for a in order], rotation=60, ha="right", fontsize=8)
ax.set_ylim(0, 1)
ax.set_ylabel("test AUC (mean over seeds)")
ax.set_title(f"per-attribute AUC, all {len(train_set)} training people", fontsize=9)
ax.legend(fontsize=8, ncol=3)
plt.tight_layout()
plt.show()
""")
md(r"""
When this lesson was written, the attributes that are **colours or sizes of large regions**
(hair colour, pale or dark skin, long hair) were read well by both encoders, with the
pretrained one ahead on most of them; attributes a person sees at once (a beard, a moustache,
a hat) and shape attributes (big lips, a long face) were at or even below 0.5 for both: a
mean over all tokens of a tiny encoder washes them out, and 72 training people are too few for
the probe to find them without also fitting noise (an AUC below 0.5 on new people is such
noise). With 36 test people a rare attribute has only a few positives, so one bar is noisy:
read the pattern, not a single attribute.

### Behind one bar: the people it ranks

An AUC says how well a probe *ranks people*: the share of (with, without) pairs of test people
in which the one who has the attribute gets the higher probability. `show_attribute` draws the
test people behind one bar. Top row: people who have the attribute; bottom row: people who do
not; each row runs from the highest to the lowest probability the probe gives (evenly spaced
along that ranking, so the first and last faces are the best- and worst-ranked of the row).
Right: every test person's probability, the shown ones ringed; the AUC is the share of (green,
grey) pairs with the green point further right. The probabilities are those of section 6's
probes (the mean over the seeds' probes), so nothing is trained again. The title repeats the
train prevalence and the two probes' AUCs of the bar chart; the supervised-from-scratch
baseline has only the table's overall numbers (per attribute it would have to be trained
again).
""")
code("""
test_frames = torch.stack([test_set[i]["video"][:, mid] for i in range(len(test_set))]).permute(0, 2, 3, 1).numpy()  # once


def show_attribute(attribute, probe="pretrained", k=4):
    \"\"\"k test people with the attribute (top row) and k without (bottom), middle frames titled with the probe's
    probability, highest first; right: every test person's probability. Rows may be short or empty.\"\"\"
    a = ATTRIBUTES.index(attribute)
    scores, has = test_probs[probe][:, a].numpy(), y["test"][:, a].bool().numpy()
    fig = plt.figure(figsize=(1.9 * k + 4.4, 4.6))
    grid = fig.add_gridspec(2, k + 1, width_ratios=[1] * k + [2.3])
    strip = fig.add_subplot(grid[:, k])
    for row, (value, label, colour) in enumerate([(True, "with", "C2"), (False, "without", "0.55")]):
        members = np.flatnonzero(has == value)
        members = members[np.argsort(-scores[members], kind="stable")]  # highest probability first
        picks = np.unique(np.linspace(0, len(members) - 1, min(k, len(members))).round().astype(int))
        shown = members[picks]
        for col in range(k):
            ax = fig.add_subplot(grid[row, col])
            ax.set_xticks([])
            ax.set_yticks([])
            if col < len(shown):
                ax.imshow(test_frames[shown[col]])
                ax.set_title(f"p = {scores[shown[col]]:.2f}", fontsize=8)
            else:
                for spine in ax.spines.values():
                    spine.set_visible(False)
            if col == 0:
                ax.set_ylabel(f"{label} {attribute}\\n({len(members)} of {len(has)} test people)", fontsize=8)
                if len(members) == 0:
                    ax.text(0.5, 0.5, f"no test person\\n{label} it", ha="center", va="center", fontsize=8, transform=ax.transAxes)
        offsets = ((np.arange(len(members)) % 5) - 2) * 0.08  # a fixed spread so equal probabilities stay visible
        strip.scatter(scores[members], 1 - row + offsets, s=16, color=colour, label=f"{label} ({len(members)})")
        strip.scatter(scores[shown], 1 - row + offsets[picks], s=70, facecolors="none", edgecolors="k", lw=0.8)
    strip.axvline(0.5, color="k", lw=0.8, ls="--", label="threshold 0.5")
    strip.axvline(float(prevalence["train"][a]), color="C3", lw=0.8, ls=":", label="train prevalence")
    right = max(0.5, float(scores.max()), float(prevalence["train"][a])) + 0.05
    strip.set(xlim=(0, right), ylim=(-0.6, 2.1), xlabel=f"{probe} probe's probability")
    strip.set_yticks([1, 0], ["with", "without"])
    auc_here = metrics.binary_auc(test_probs[probe][:, a], y["test"][:, a])  # of these averaged probabilities
    strip.set_title("every test person (ringed: shown)\\nAUC of these probabilities: "
                    + ("n/a" if math.isnan(auc_here) else f"{auc_here:.2f}"), fontsize=8)
    strip.legend(fontsize=7, loc="upper center", ncol=2)

    def auc_text(name):
        v = auc_attr[name][a]
        return "n/a (one class in test)" if np.isnan(v) else f"{v:.2f}"

    fig.suptitle(f"{attribute}: {float(prevalence['train'][a]):.0%} of the {len(train_set)} training people have it | "
                 f"test AUC (mean over seeds): pretrained probe {auc_text('pretrained')}, random-init probe {auc_text('random init')}"
                 f"\\nmiddle frames of test people, highest probability first; titles: the {probe} probe's probability", fontsize=9)
    plt.tight_layout()
    plt.show()


show_attribute("black_hair")
""")
md(r"""
When this lesson was written, black hair was the attribute the pretrained probe ranked best: nearly
every person with black hair got a higher probability than nearly every person without, while
the probabilities themselves stayed modest (a rare attribute pulls the head's bias down), so
at the threshold 0.5 several of them would still count as "absent". That is the difference
between the two metrics of section 2 in one picture: the ranking (AUC) can be right while the
threshold (accuracy) is not.

### Explore

Pick any of the 24 attributes and either probe. Compare a colour (`red_hair`, `pale_skin`) with
`beard` or `mustache`, which were below 0.5 when this lesson was written: do the faces in the
top row have the attribute at a glance, and does the probe rank them any better than a coin
would? With the `random init` probe, which attributes still separate, and why might those be
colours? An attribute that no test person has (possible with other parameters) shows an empty
row and no AUC. (The widget needs a running kernel; the figure above shows `black_hair` under
the pretrained probe.)
""")
code("""
# NBVAL_IGNORE_OUTPUT
from marlin_lite.course import interact  # ipywidgets.interact, checked by the tests (see its docstring)


def explore(attribute="black_hair", probe="pretrained"):
    show_attribute(attribute, probe)


interact(explore, attribute=list(ATTRIBUTES), probe=list(test_probs));
""")
md(r"""
The low-data curve: each metric against the share of training labels, mean ± std over the
seeds, with the blind floors as dashed lines. MARLIN's claim is that pretraining helps most
when labels are few.
""")
code("""
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
metric_names = {"accuracy": "accuracy over entries", "auc_micro": "micro AUC", "auc_macro": "macro AUC"}
for ax, (metric, title) in zip(axes, metric_names.items()):
    for k, m in enumerate(methods):
        mean = np.array([summary[(m, float(f))][f"{metric}_mean"] for f in FRACTIONS])
        std = np.array([summary[(m, float(f))][f"{metric}_std"] for f in FRACTIONS])
        xs = np.array(FRACTIONS) * (1 + 0.04 * (k - 1))  # a small offset so the error bars do not overlap
        ax.errorbar(xs, mean, yerr=std, marker="o", capsize=3, label=m.replace("_", " "))
    floor = floors["always absent"]["accuracy"] if metric == "accuracy" else (
        floors["train prevalence"]["auc_micro"] if metric == "auc_micro" else 0.5)
    ax.axhline(floor, color="k", lw=0.8, ls="--", label="blind floor")
    ax.set_xscale("log")
    ax.set_xticks(FRACTIONS, [f"{f:.0%}" for f in FRACTIONS])
    ax.set_xlabel("share of training labels")
    ax.set_title(title, fontsize=9)
axes[0].legend(fontsize=7)
plt.tight_layout()
plt.show()
""")
md(r"""
When this lesson was written: with 7 training people (10 %) every method's accuracy and micro
AUC were *below* the blind floors (a head fitted on 7 people has not even learned the base
rates well, and it pays for that on the many 0s), and macro AUC was above 0.5 with wide error
bars. The pretrained probe was ahead of the random-init probe in macro AUC at every fraction,
but only clearly so with all labels; at 10 % and 30 % the difference lies within the
seed-to-seed spread. MARLIN's low-data advantage needs features good enough for a handful of
labels to find; a tiny encoder pretrained for a minute is not there, and bigger runs through
the `parameters` cell (`notebooks/scaled/`) are where to look for it.

## Summary
- **FAR is multi-label**: $A$ yes/no questions per face, one `Linear(D, A)` head, BCE with
  logits in its stable form ($\max(z, 0) - zy + \log(1 + e^{-|z|})$).
- **Metrics** (`marlin_lite.tasks.metrics`): accuracy over all (sample, label) entries at
  $p > 0.5$ (your `entry_accuracy`, `binary_accuracy`) and AUC from average ranks
  (`binary_auc`, `multilabel_auc` micro / macro). Each has a blind floor: "always absent" for
  accuracy, the attribute prevalence for micro AUC, 0.5 for macro AUC. Report results beside
  their floors.
- **Protocol** (`marlin_lite.tasks.probe`, `marlin_lite.tasks.far`): cached frozen features
  (`FeatureCache`), `linear_probe` (MARLIN's Adam betas; we used lr $10^{-2}$ instead of
  $10^{-4}$ because 200 steps on 72 people are far fewer than MARLIN's), and `run_far` for
  the three baselines over label fractions and seeds, as a `ResultsTable` (Markdown, JSON,
  mean ± std).
- **Measured**: the tiny pretrained encoder gives a probe a small, real lead in AUC over a
  random encoder; accuracy hides it. The paper's 93.90 % / 0.9561 come from a ViT-B trained
  2000 epochs on real faces.

**Next:** lesson 07 (facial expressions): a multi-class task with the same protocol, where a
face's *motion* matters, not only its appearance.
""")

lesson.write("06_facial_attributes.ipynb")
