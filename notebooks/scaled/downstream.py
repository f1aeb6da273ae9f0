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
# # Scaled downstream evaluation (GPU track)
#
# One pretrained encoder on one of MARLIN's tasks: facial attributes (`far`, CelebV-HQ), expressions (`fer`, CMU-MOSEI), deepfake detection (`dfd`, FaceForensics++) or lip sync (`ls`, LRS2) - or any of them on SynthFace. The baselines are those of the lessons (`marlin_lite.tasks.run_baselines`): a random-init encoder with a linear probe, the same architecture trained from scratch, the pretrained encoder with a linear probe or fine-tuned, over label fractions and seeds. Lip sync trains a sync expert and Wav2Lip-style generators whose face encoder is random, trained from scratch or pretrained (`marlin_lite.tasks.lipsync.run_lipsync`); on LRS2 its clips are face crops of the official train and test utterances with their log-mel spectrograms (`marlin_lite.tasks.lipsync_data`, settings in `lipsync_data`).
#
# ```bash
# papermill notebooks/scaled/downstream.ipynb runs/downstream_smoke.ipynb -f configs/downstream_smoke.yaml
# papermill notebooks/scaled/downstream.ipynb runs/far_celebvhq.ipynb -f configs/downstream_far_celebvhq.yaml
# papermill notebooks/scaled/downstream.ipynb runs/ls_lrs2.ipynb -f configs/downstream_ls_lrs2.yaml
# ```
#
# The table is written to `results.json` and `results.md` in `out_dir`, with `run.json` (parameters, encoder, data, device).

# %% tags=["parameters"]
task = "far"                                       # far | fer | dfd | ls
dataset = "synthface"                              # synthface, or a real data set: celebvhq (far), mosei (fer), ffpp (dfd), lrs2 (ls)
data_root = None                                   # root folder of a real data set
data_limit = None                                  # only the first N videos of each split (quick runs)
label = None                                       # labels on real data: celebvhq attributes | actions; mosei sentiment_class | sentiment_class7 | emotions_present
checkpoint = "runs/scaled_pretrain/checkpoint.pt"  # our checkpoint.pt (or its run folder), official weights (name or file), or random:<preset>
allow_download = False                             # download official weights by name when they are not in the cache
mode = "linear_probe"                              # linear_probe | finetune | all (which baselines: see marlin_lite.scaled.methods_for)
methods = None                                     # an explicit list of methods instead of mode
fractions = [1.0]                                  # shares of the training labels (the low-data regime)
seeds = [0]                                        # one run per seed; tables show mean +- std
feature_batch_size = 16                            # clips per encoder forward when extracting features
precision = "auto"                                 # auto (bf16 on CUDA) | bf16 | fp32
device = None                                      # where features, fine-tuning and lip-sync training run (None: cuda if available)
sample_rate = None                                 # frame stride inside a window (None: 1 on SynthFace, 2 on real data as MARLIN)
synthface = {}                                     # SynthFace splits: num_identities, clips_per_identity, world_seed, fractions, video_frames, fake_fraction
probe = {}                                         # linear_probe arguments, e.g. {protocol: official} (the official FAR code's) or {lr: 1.0e-4, epochs: 200}
finetune = {}                                      # fine_tune arguments, e.g. {epochs: 5, lr: 1.0e-4}
lipsync = {}                                       # run_lipsync arguments (task ls), e.g. {steps: 300, expert_steps: 300}
lipsync_data = {}                                  # LRS2 clips for task ls (lrs2_lipsync_splits): crop (landmarks | frame), segment_frames, max_segments, n_mels, workers
progress = True                                    # progress bars
cache_dir = None                                   # feature cache folder (default <out_dir>/features)
out_dir = "runs/scaled_downstream"                 # results.json, results.md and run.json go here

# %% [markdown]
# ## Setup

# %%
# %matplotlib inline
import json

import torch
from IPython.display import Markdown, display

from marlin_lite import scaled

gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
print(f"torch {torch.__version__}; GPUs: {gpus or 'none'}")

# %% [markdown]
# ## 1. Run the baselines
#
# Frozen encoders' features are computed once per (encoder, split) and cached in `out_dir/features` (or `cache_dir`); a rerun with more seeds or fractions reuses them.

# %%
result = scaled.run_downstream(
    task=task,
    dataset=dataset,
    data_root=data_root,
    data_limit=data_limit,
    label=label,
    checkpoint=checkpoint,
    allow_download=allow_download,
    mode=mode,
    methods=methods,
    fractions=fractions,
    seeds=seeds,
    feature_batch_size=feature_batch_size,
    precision=precision,
    device=device,
    sample_rate=sample_rate,
    synthface=synthface,
    probe=probe,
    finetune=finetune,
    lipsync=lipsync,
    lipsync_data=lipsync_data,
    progress=progress,
    cache_dir=cache_dir,
    out_dir=out_dir,
)

# %% [markdown]
# ## 2. Results
#
# Mean and standard deviation over seeds (just the value for one seed).

# %%
display(Markdown(result.table.to_markdown()))
print("written:", *result.paths.values(), sep="\n  ")

# %%
fig = scaled.results_figure(result.table)
fig.savefig(result.paths["json"].with_name("results.png"), dpi=80)
display(fig)

# %%
print(json.dumps({k: result.info[k] for k in ("encoder", "data", "methods", "device", "seconds")}, indent=1))
