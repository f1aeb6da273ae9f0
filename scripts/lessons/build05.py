"""Builds notebooks/05_feature_extraction.ipynb (run from anywhere; writes into the repository's notebooks/)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _lesson import Lesson  # noqa: E402

lesson = Lesson()
md, code = lesson.md, lesson.code


md(r"""
# Lesson 05 · Features: what the pretrained encoder knows

Lesson 04 pretrained a tiny MARLIN on SynthFace without a single label. The decoder and the
critic were only scaffolding: what MARLIN keeps is the **encoder**, and what every downstream
task uses is the **feature vector** it turns a face video into. This lesson builds that vector
with MARLIN's protocol and then asks, without training anything new, what it knows.

**In this lesson you will**
1. get the pretrained tiny model from the *checkpoint ladder* (lesson 04's run, or a fresh one);
2. derive MARLIN's feature protocol by hand (non-overlapping windows at sample rate 2, the
   encoder over *all* tokens, mean over tokens, final LayerNorm) and check it against
   `marlin_lite.features.extract_video`;
3. extract features of SynthFace clips with the pretrained encoder, with the *same network
   before pretraining*, and with raw pixels, and look at them with PCA written from an SVD;
4. measure what nearest-neighbour retrieval finds (same person? same expression?) against
   chance, and read the result honestly;
5. write `cosine_knn`, the k-nearest-neighbour search behind it.

*Run time: under a minute on 2 CPU cores when lesson 04's checkpoint exists; about a minute
more when it has to be trained first.*
""")
code("""
SEED = 0
CONFIG = "../configs/tiny.yaml"  # the pretraining run of lesson 04 (same file, same settings)
OUT_DIR = "../runs/lesson04"  # where lesson 04 keeps its checkpoint; trained here if missing
NUM_IDENTITIES = 12  # people in the retrieval set
CLIPS_PER_IDENTITY = 6  # with 6, every person shows each of the 6 expressions once
WORLD_SEED = 1  # a SynthFace "world" of people pretraining never saw (it used world 0)
SAMPLE_RATE = 2  # MARLIN takes every 2nd frame of a video
VIDEO = "synth_03_a"  # a clip of data_samples/ for the whole-video protocol
""", tags=["parameters"])
code("""
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from marlin_lite.data import SynthFaceDataset
from marlin_lite.features import extract_features, extract_video, prepare_clips, video_windows
from marlin_lite.model import MarlinAutoencoder, patchify
from marlin_lite.pretrain import ensure_pretrained, load_config
from marlin_lite.samples import DEFAULT_DIR
from marlin_lite.synthface import EXPRESSIONS
from marlin_lite.utils import seed_everything
from marlin_lite.video import clip_indices, read_video, window_starts

%matplotlib inline
plt.rcParams["figure.dpi"] = 80
generator = seed_everything(SEED)
train_cfg = load_config(CONFIG, out_dir=OUT_DIR)
mcfg = train_cfg.model_config()
SIZE, NUM_FRAMES = mcfg.img_size, mcfg.num_frames  # clips are made at the size and length the encoder takes
print(f"model {mcfg.name}: {mcfg.num_frames} frames of {mcfg.img_size}x{mcfg.img_size}, "
      f"{mcfg.num_tokens} tokens, feature width D = {mcfg.enc_dim}")
""")
md(r"""
## 1. The pretrained encoder, from the checkpoint ladder

`ensure_pretrained` is the course's checkpoint ladder: if `OUT_DIR` holds a finished run of
exactly this configuration (lesson 04's), it loads it in a second; if the run stopped early, it
resumes; otherwise it trains the tiny model here, with the same seed and settings as lesson 04,
so whichever of the two lessons runs first, both use one model. A progress bar may appear, so the notebook
tests do not compare this cell's output; the next cell checks what matters.
""")
code("""
# NBVAL_IGNORE_OUTPUT
result = ensure_pretrained(load_config(CONFIG, out_dir=OUT_DIR, progress=True))
""")
code("""
model = result.model.cpu().eval()  # features on the CPU in fp32 (a GPU would use bf16)
rec = [h["rec"] for h in result.history]
print("checkpoint in OUT_DIR:", (Path(OUT_DIR) / "checkpoint.pt").exists())
print("steps trained == max_steps of the config:", result.step == train_cfg.max_steps)
print("reconstruction loss lower at the end than at the start:", rec[-1] < rec[0])
print("encoder:", type(model.encoder).__name__, "| preset:", model.cfg.name)
""")
md(r"""
## 2. MARLIN's feature protocol, by hand

A downstream task gets a whole video, of any length. MARLIN turns it into features like this:

1. cut the video into **non-overlapping windows**: window $k$ takes the `num_frames` frames
   $s_k + 2j$ ($j = 0, \dots,$ `num_frames`$-1$), every 2nd frame as in pretraining, starting at
   $s_k = k \cdot$ `num_frames` $\cdot 2$; only windows that fit completely are kept;
2. resize each frame to the model's size (the frames are already square face crops);
3. run the encoder over **all** tokens: no masking at feature time;
4. take the **mean over the tokens**, then the encoder's **final LayerNorm**, in that order:
   one vector of width $D$ per window, so a video becomes `(n_windows, D)`;
5. for a single vector per video, reduce over the windows by `mean` (or `max`).

MARLIN uses 16-frame windows (32 source frames each); our tiny model uses
`NUM_FRAMES` = 8 (16 source frames). Let us do it for one clip of `data_samples/`.
""")
code("""
path = DEFAULT_DIR / f"{VIDEO}.mp4"
frames = read_video(path, audio=False).frames  # uint8 (T, H, W, 3)
span = (NUM_FRAMES - 1) * SAMPLE_RATE + 1  # source frames one window touches
starts = list(range(0, len(frames) - span + 1, NUM_FRAMES * SAMPLE_RATE))
index = np.stack([s + np.arange(NUM_FRAMES) * SAMPLE_RATE for s in starts])  # (n_windows, NUM_FRAMES)
windows = frames[index]  # (n_windows, NUM_FRAMES, H, W, 3)

assert starts == window_starts(len(frames), NUM_FRAMES, SAMPLE_RATE)
assert all(np.array_equal(row, clip_indices(len(frames), NUM_FRAMES, SAMPLE_RATE, start=s)) for row, s in zip(index, starts))
assert np.array_equal(windows, video_windows(frames, NUM_FRAMES, SAMPLE_RATE))
print(f"{DEFAULT_DIR.name}/{path.name}: {frames.shape[0]} frames of {frames.shape[1]}x{frames.shape[2]}")
print(f"window starts {starts}, each window {span} source frames -> windows {windows.shape}")
for k, row in enumerate(index):
    print(f"  window {k}: source frames {row.tolist()}")
""")
code("""
fig, axes = plt.subplots(len(index), NUM_FRAMES, figsize=(1.1 * NUM_FRAMES, 1.25 * len(index)), squeeze=False)
for k, row in enumerate(index):
    for j, t in enumerate(row):
        ax = axes[k, j]
        ax.imshow(frames[t])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"frame {t}", fontsize=7)
    axes[k, 0].set_ylabel(f"window {k}", fontsize=8)
fig.suptitle(f"{VIDEO}: non-overlapping windows, every {SAMPLE_RATE}nd frame", fontsize=9)
plt.tight_layout()
plt.show()
""")
md(r"""
Next, the windows become model tensors `(n, 3, T, SIZE, SIZE)` in $[0, 1]$: channels first,
then each frame resized on its own (bilinear with antialiasing, as `prepare_clips` does). Then
the encoder, written out with the package's own layers (lesson 03 derived each of them): patch
embedding plus positions for **all** $N$ tokens, the blocks, the mean over tokens, and only then
the final LayerNorm.
""")
code("""
x = torch.from_numpy(windows).float().div(255).permute(0, 4, 1, 2, 3)  # (n, 3, T, H, W)
n, c, t, h, w = x.shape
flat = x.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w)  # every frame on its own
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
print("by hand == extract_video(path, model):", True)
print("LayerNorm-then-mean gives the same vector:", torch.allclose(other_order, by_hand, atol=1e-3))
""")
md(r"""
The order matters: LayerNorm after the mean gives a vector with zero mean and unit variance over
its $D$ entries (times the learned scale), the official order; LayerNorm on every token and then
the mean is a different vector. Finally, a video is either its windows or one vector:
""")
code("""
for reduction in ["none", "mean", "max"]:
    f = extract_video(path, model, sample_rate=SAMPLE_RATE, reduction=reduction)
    print(f"reduction={reduction!r:7s} -> {tuple(f.shape)}")
torch.testing.assert_close(extract_video(path, model, reduction="mean"), package.mean(0))
torch.testing.assert_close(extract_video(path, model, reduction="max"), package.max(0).values)
print("mean / max are taken over the windows:", True)
""")
md(r"""
For your own videos there is a command line that does this for a whole folder (face crops, as
`python -m marlin_lite.preprocess` makes them): one `.npy` per video, written atomically, a
report of what failed, and a rerun that keeps what is already there. Here it runs on the 36
clips of `data_samples/` with this lesson's checkpoint, and its file for our video holds the
numbers `extract_video` gave:
""")
code("""
import json
import shutil
import subprocess
import sys
import tempfile

features_dir = Path(tempfile.mkdtemp(prefix="lesson05_features_"))
command = [sys.executable, "-m", "marlin_lite.features", str(DEFAULT_DIR), str(features_dir),
           "--encoder", str(Path(OUT_DIR) / "checkpoint.pt"), "--sample-rate", str(SAMPLE_RATE), "--no-progress"]  # paths from here
print("$ python -m marlin_lite.features", DEFAULT_DIR.name, "FEATURES_DIR --encoder", Path(OUT_DIR).name + "/checkpoint.pt")
done = subprocess.run(command, capture_output=True, text=True)
assert done.returncode == 0, done.stderr[-2000:]
report = json.loads((features_dir / "features_report.json").read_text())
print("counts:", report["counts"], "| encoder:", report["encoder"]["kind"], report["encoder"]["preset"])
from_file = np.load(features_dir / f"{VIDEO}.npy")
print(f"{VIDEO}.npy: {from_file.shape} float32")
torch.testing.assert_close(torch.from_numpy(from_file), extract_video(path, model, sample_rate=SAMPLE_RATE), rtol=1e-5, atol=1e-5)
print("the same numbers as extract_video:", True)
shutil.rmtree(features_dir)  # only a demonstration: keep the folder when you run it on your own videos
""")
md(r"""
## 3. A set of faces to probe: identities x expressions

To ask *what* the features encode we need clips whose factors we control. `SynthFaceDataset`
with `split_by="clip"` keeps every person in one split (here all clips go to `"train"`, with
`fractions=(1, 0, 0)`), and its plan cycles the expressions so that, with 6 clips per person,
**every person shows every expression exactly once**. The people come from `WORLD_SEED` = 1, a
world the encoder never saw: lesson 04 pretrained on world 0 (identity 3 of world 1 is another
person than identity 3 of world 0). Each clip is rendered directly at the model's size, so it
is one window already.
""")
code("""
dataset = SynthFaceDataset("train", split_by="clip", fractions=(1.0, 0.0, 0.0), num_identities=NUM_IDENTITIES,
                           clips_per_identity=CLIPS_PER_IDENTITY, world_seed=WORLD_SEED, size=SIZE, num_frames=NUM_FRAMES)
items = [dataset[i] for i in range(len(dataset))]
videos = torch.stack([it["video"] for it in items])  # (N_clips, 3, T, H, W)
identity = torch.stack([it["identity"] for it in items])
expression = torch.stack([it["expression"] for it in items])
pairs = torch.zeros(NUM_IDENTITIES, len(EXPRESSIONS), dtype=torch.long)
pairs.index_put_((identity, expression), torch.ones_like(identity), accumulate=True)
print(f"{len(dataset)} clips {tuple(videos.shape)} | {identity.unique().numel()} people | {expression.unique().numel()} expressions")
print("clips per (person, expression): min", pairs.min().item(), "max", pairs.max().item())
""")
code("""
show_people = min(NUM_IDENTITIES, 6)
mid = NUM_FRAMES // 2
fig, axes = plt.subplots(show_people, len(EXPRESSIONS), figsize=(1.2 * len(EXPRESSIONS), 1.2 * show_people), squeeze=False)
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
for i in range(len(items)):
    p, e = int(identity[i]), int(expression[i])
    if p < show_people:
        axes[p, e].imshow(videos[i, :, mid].permute(1, 2, 0).numpy())
for e, name in enumerate(EXPRESSIONS):
    axes[0, e].set_title(name, fontsize=8)
for p in range(show_people):
    axes[p, 0].set_ylabel(f"person {p}", fontsize=8)
fig.suptitle(f"frame {mid} of each clip (first {show_people} people)", fontsize=9)
plt.tight_layout()
plt.show()
""")
md(r"""
Three feature sets for the same clips:

* **pretrained**: the encoder of lesson 04, with the protocol above (`extract_features` does
  steps 3-4 for clips that are one window each);
* **random init**: the *same network before pretraining*. `train()` seeds PyTorch with the
  config's `seed` and then builds the model, so building it after the same seed gives exactly
  the weights pretraining started from. (`fork_rng` keeps the lesson's own random state as it
  was.) Whatever the pretrained encoder does better than this one, pretraining taught it;
* **pixels**: no network at all: the clip cut into the same tubelets and averaged over the
  tokens, the same mean-pooling with the identity map as "encoder" (`3*2*8*8 = 384` numbers).
""")
code("""
with torch.random.fork_rng():
    torch.manual_seed(train_cfg.seed)
    untrained = MarlinAutoencoder(mcfg, discriminator=True).eval()

features = {
    "pretrained": extract_features(model, videos),
    "random init": extract_features(untrained, videos),
    "pixels": patchify(videos, mcfg.patch_size, mcfg.tubelet_size).mean(dim=1),
}
same_weights = all(torch.equal(a, b) for a, b in zip(model.encoder.parameters(), untrained.encoder.parameters()))
print("same architecture:", [p.shape for p in model.encoder.parameters()] == [p.shape for p in untrained.encoder.parameters()],
      "| same weights:", same_weights)
for name, f in features.items():
    print(f"{name:12s} {tuple(f.shape)} {f.dtype}")
""")
md(r"""
## 4. A first look: PCA from an SVD

PCA finds the directions along which the features vary most. Center the $N \times D$ matrix,
$X_c = X - \bar{x}$, and take its SVD $X_c = U S V^\top$: the rows of $V^\top$ are the principal
directions, $X_c V_{:, :2}$ the 2-D coordinates, and $S_i^2 / (N-1)$ the variance along
direction $i$, so $S_i^2 / \sum_j S_j^2$ is the share of the variance it explains. (t-SNE would
need scikit-learn, which the course does not depend on; PCA is linear and honest about
distances, which is what retrieval uses next.)
""")
code("""
def pca_2d(f):
    \"\"\"(N, D) features -> (N, 2) coordinates on the top two principal directions, explained-variance ratios (N',).\"\"\"
    centered = f - f.mean(dim=0)
    _, s, vh = torch.linalg.svd(centered, full_matrices=False)
    return centered @ vh[:2].T, s**2 / (s**2).sum()


# Check: the coordinates' variances are the two largest eigenvalues of the covariance matrix,
# and the two coordinates are uncorrelated.
for name, f in features.items():
    coords, ratio = pca_2d(f)
    cov = torch.cov(f.T.double())
    top2 = torch.linalg.eigvalsh(cov).flip(0)[:2]
    torch.testing.assert_close(coords.double().var(dim=0), top2, rtol=1e-4, atol=1e-8)
    assert abs(torch.corrcoef(coords.T)[0, 1]) < 1e-3
print("PCA by SVD == eigen-decomposition of the covariance:", True)
""")
code("""
colors_id = plt.get_cmap("tab20")(np.arange(20))
colors_ex = plt.get_cmap("Dark2")(np.arange(len(EXPRESSIONS)))
fig, axes = plt.subplots(2, 2, figsize=(10, 8.5))
for r, name in enumerate(["pretrained", "random init"]):
    coords, ratio = pca_2d(features[name])
    for col, (labels, palette, title) in enumerate([(identity, colors_id, "person"), (expression, colors_ex, "expression")]):
        ax = axes[r, col]
        ax.scatter(coords[:, 0], coords[:, 1], c=palette[labels.numpy() % len(palette)], s=28, edgecolors="k", linewidths=0.3)
        ax.set_title(f"{name}: coloured by {title} (PC1+PC2 explain {ratio[:2].sum():.0%})", fontsize=9)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
handles = [plt.Line2D([], [], marker="o", ls="", color=colors_ex[e], label=n) for e, n in enumerate(EXPRESSIONS)]
axes[0, 1].legend(handles=handles, fontsize=7, loc="best")
plt.tight_layout()
plt.show()
""")
md(r"""
Look for clusters: the points of one person (left column) or one expression (right column)
close together. PCA shows only the two directions of largest variance, so a factor can be
present in the features and still invisible here; retrieval, next, uses all $D$ dimensions.

## 5. Nearest-neighbour retrieval

For each clip (the *query*) find the most similar **other** clip by cosine similarity
$\cos(a, b) = a^\top b / (\lVert a\rVert \lVert b\rVert)$ and ask: is it the same person? the same
expression? Top-1 accuracy over all queries. Because every person shows every expression once,
a clip's same-person neighbours all have *other* expressions: when the nearest clip is the same
person, it cannot be the same expression, and "same expression" can fall *below* chance. So we
also ask the expression question **among other people's clips only**. Chance levels follow from the labels:
""")
code("""
def cosine_similarity_matrix(f):
    f = F.normalize(f, dim=1)
    return f @ f.T


def retrieval(f, identity, expression):
    sim = cosine_similarity_matrix(f)
    sim.fill_diagonal_(float("-inf"))  # never retrieve the query itself
    nearest = sim.argmax(dim=1)
    other_people = sim.masked_fill(identity[:, None] == identity[None, :], float("-inf"))
    nearest_other = other_people.argmax(dim=1)
    return {
        "person": (identity[nearest] == identity).float().mean().item(),
        "expression": (expression[nearest] == expression).float().mean().item(),
        "expression, other people": (expression[nearest_other] == expression).float().mean().item(),
    }


same_person = identity[:, None] == identity[None, :]
same_expr = expression[:, None] == expression[None, :]
others = ~torch.eye(len(identity), dtype=torch.bool)
chance = {
    "person": ((same_person & others).sum(1) / others.sum(1)).mean().item(),
    "expression": ((same_expr & others).sum(1) / others.sum(1)).mean().item(),
    "expression, other people": ((same_expr & ~same_person).sum(1) / (~same_person).sum(1)).mean().item(),
}
scores = {name: retrieval(f, identity, expression) for name, f in features.items()}
print("chance level (a random other clip):", {k: round(v, 3) for k, v in chance.items()})
""")
md(r"""
The accuracies of the pretrained encoder depend on its weights, and those differ in the last
digits between machines and thread counts (hundreds of training steps amplify rounding), so the
numbers go into a figure and the printed lines are comparisons that such noise does not flip:
"better" or "worse" only when two accuracies differ by more than `MARGIN` = 0.10 (7 of the 72
queries at the default size; the standard error of an accuracy near 0.5 over 72 queries is about 0.06, near 0.9
about 0.035).
""")
code("""
tasks = list(chance)
fig, ax = plt.subplots(figsize=(9, 3.6))
width = 0.2
for k, name in enumerate(scores):
    values = [scores[name][t] for t in tasks]
    bars = ax.bar(np.arange(len(tasks)) + (k - 1) * width, values, width, label=name)
    ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=7)
for i, t in enumerate(tasks):
    ax.hlines(chance[t], i - 1.7 * width, i + 1.7 * width, colors="k", linestyles="--", label="chance" if i == 0 else None)
ax.set_xticks(np.arange(len(tasks)), [f"same {t}" for t in tasks])
ax.set_ylabel("top-1 accuracy")
ax.set_ylim(0, 1.12)
ax.set_title(f"nearest-neighbour retrieval over {len(identity)} clips of {NUM_IDENTITIES} unseen people", fontsize=9)
ax.legend(fontsize=8, ncol=4, loc="upper right")
plt.tight_layout()
plt.show()
""")
code("""
MARGIN = 0.10


def compare(a, b, margin=MARGIN):
    \"\"\"'better' / 'worse' / 'no clear difference' for accuracy a against accuracy b.\"\"\"
    return "better" if a - b > margin else "worse" if b - a > margin else "no clear difference"


for task in tasks:
    vs = {name: compare(scores[name][task], chance[task]) for name in scores}
    print(f"same {task:25s} vs chance: " + ", ".join(f"{k} {v}" for k, v in vs.items()))
for task in tasks:
    print(f"same {task:25s} pretrained vs random init: {compare(scores['pretrained'][task], scores['random init'][task])}"
          f" | pretrained vs pixels: {compare(scores['pretrained'][task], scores['pixels'][task])}")
""")
code("""
p = scores["pretrained"]
beats_random = any(compare(p[t], scores["random init"][t]) == "better" for t in tasks)
beats_pixels = any(compare(p[t], scores["pixels"][t]) == "better" for t in tasks)
print(f"pretrained ({result.step} steps) clearly beats random init on some question: {beats_random}")
print(f"pretrained ({result.step} steps) clearly beats raw pixels on some question: {beats_pixels}")
if not (beats_random or beats_pixels):
    print("-> nearest-neighbour retrieval shows no gain from this tiny pretraining run.")
""")
md(r"""
Read these lines as they come out: this text cannot know your run. When this lesson was
written, the course's tiny run (a few hundred steps of a 4-layer, 128-wide encoder at 64x64)
gave this picture: **who** is in a SynthFace clip is easy for every feature set, even raw pixels, because
each synthetic person has their own background, hair and skin; **which expression** they
make is a small change around the mouth and brows over a few frames, swamped in cosine
similarity by everything else, and nearest neighbours find it at about chance level whatever
the features. Retrieval weighs every dimension equally; lessons 06-09 train *heads* on
these features, which can weight the few directions that carry expression, and compare the
encoders again. MARLIN's real encoders train for 2000 epochs on YouTube Faces; lesson 04's
run is a demonstration of the recipe, not of the result.

The similarity matrices show the same thing at a glance (clips sorted by person, each block is
one person's 6 clips):
""")
code("""
fig, axes = plt.subplots(1, 3, figsize=(12, 3.9))
for ax, (name, f) in zip(axes, features.items()):
    im = ax.imshow(cosine_similarity_matrix(f), cmap="viridis")
    ax.set_title(f"{name}: cosine similarity", fontsize=9)
    ax.set_xticks(np.arange(0, len(identity), CLIPS_PER_IDENTITY))
    ax.set_yticks(np.arange(0, len(identity), CLIPS_PER_IDENTITY))
    fig.colorbar(im, ax=ax, fraction=0.046)
plt.tight_layout()
plt.show()
""")
md(r"""
## 6. What the neighbours look like

Three queries and their 4 nearest other clips under the pretrained features (one frame each; a
green title means the same person as the query). `show_neighbours` draws them: for each query it
sorts the query's row of a similarity matrix, most similar first, and leaves the query itself
out of that one row. The exercise below computes the neighbours of *every* clip at once.
""")
code("""
def show_neighbours(queries, sim, k, title=None):
    \"\"\"One row per query clip: its middle frame, then its k most similar other clips under sim (N, N),
    each titled with person, expression and cosine similarity (green: the query's person, red: another).\"\"\"
    fig, axes = plt.subplots(len(queries), k + 1, figsize=(1.9 * (k + 1), 2.1 * len(queries)), squeeze=False)
    for r, q in enumerate(queries):
        order = sim[q].argsort(descending=True)
        neighbours = order[order != q][:k].tolist()  # most similar first, without the query
        for col, j in enumerate([q] + neighbours):
            ax = axes[r, col]
            ax.imshow(videos[j, :, mid].permute(1, 2, 0).numpy())
            ax.set_xticks([])
            ax.set_yticks([])
            label = f"p{int(identity[j])} {EXPRESSIONS[int(expression[j])]}"
            if col == 0:
                ax.set_title(f"query: {label}", fontsize=8, fontweight="bold")
            else:
                same = bool(identity[j] == identity[q])
                ax.set_title(f"{label}\\ncos {sim[q, j]:.3f}", fontsize=8, color="green" if same else "red")
    if title:
        fig.suptitle(title, fontsize=9)
    plt.tight_layout()
    plt.show()
""")
code("""
queries = [0, len(identity) // 3, 2 * len(identity) // 3]
show_neighbours(queries, cosine_similarity_matrix(features["pretrained"]), k=4)
""")
md(r"""
### Explore

Pick any query clip (its index, 0 to 71 at the default size), a feature set and `k` yourself:
do the neighbours under `random init` or `pixels` look like those under `pretrained`? Are any
of them the same expression? (The widget needs a running kernel; the figure above shows the
same for three queries under the pretrained features.)
""")
code("""
# NBVAL_IGNORE_OUTPUT
import ipywidgets as widgets

from marlin_lite.course import interact  # ipywidgets.interact, checked by the tests (see its docstring)

similarities = {name: cosine_similarity_matrix(f) for name, f in features.items()}  # once, not per redraw


def explore(query=0, feature_set="pretrained", k=4):
    show_neighbours([query], similarities[feature_set], k, title=f"clip {query}, {feature_set} features")


interact(
    explore,
    query=widgets.IntSlider(value=0, min=0, max=len(identity) - 1, continuous_update=False),
    feature_set=list(features),
    k=widgets.IntSlider(value=4, min=1, max=8),
);
""")
md(r"""
## Exercise: k nearest neighbours by cosine similarity

Write `cosine_knn(features, k)`: for each row of `features (N, D)`, the indices of the `k`
*other* rows with the highest cosine similarity, most similar first, as a `(N, k)` `int64`
tensor. Exclude each row from its own neighbours explicitly (do not rely on "it is always
first": two identical clips would make that trick wrong). No Python loop over rows.
""")
code("""
def cosine_knn(features: torch.Tensor, k: int) -> torch.Tensor:
    \"\"\"features (N, D) -> (N, k) int64 indices of each row's k most cosine-similar other rows, best first.\"\"\"
    # BEGIN SOLUTION
    f = F.normalize(features, dim=1)
    sim = f @ f.T
    sim.fill_diagonal_(float("-inf"))
    return sim.topk(k, dim=1).indices
    # END SOLUTION
""", tags=["solution"])
code("""
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
""", tags=["self-check"])
md(r"""
With `cosine_knn`, *precision at k* (the share of a query's k neighbours that are the same
person) is a one-liner; it is a gentler measure than top-1, which lessons 06-09 do not need
but you can try: `(identity[cosine_knn(features["pretrained"], 5)] == identity[:, None]).float().mean()`.

## Summary
- **Protocol** (`marlin_lite.features`): `video_windows` cuts a video into non-overlapping
  windows of `num_frames` frames at sample rate 2, `prepare_clips` resizes them,
  `extract_features` runs the encoder over all tokens and takes the mean over tokens, then
  the final LayerNorm; `extract_video` does the whole chain for a file and reduces over the
  windows with `none` / `mean` / `max`.
- **The checkpoint ladder** (`marlin_lite.pretrain.ensure_pretrained`) gives every lesson
  the same pretrained model, trained once.
- **Probing without training**: PCA (an SVD of the centered features) and cosine
  nearest-neighbour retrieval, compared with chance, with the untrained network and with raw
  pixels. When this lesson was written, identity was easy for all three on SynthFace and
  expression at chance for all three: retrieval alone did not show what the tiny
  pretraining added (the printed comparisons say what your run shows).

**Next:** lessons 06-09 train small heads on these frozen features (facial attributes,
expressions, lip sync, deepfakes) and fine-tune the encoder, the way MARLIN is evaluated.
""")

lesson.write("05_feature_extraction.ipynb")
