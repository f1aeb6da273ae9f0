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
# # Scaled pretraining (GPU track)
#
# MARLIN's masked-autoencoder pretraining at full size, with exactly the code of the lessons: `marlin_lite.pretrain.train` on the `PretrainConfig` that `load_config(config, **settings)` builds: the recipe `config` plus `settings`, any of its fields (the same object, and the same schema, as the command line's `--config RECIPE --field value`). Run it with papermill and a parameter file from `configs/`:
#
# ```bash
# papermill notebooks/scaled/pretrain.ipynb runs/pretrain_smoke.ipynb -f configs/pretrain_tiny_smoke.yaml        # CPU, a minute
# papermill notebooks/scaled/pretrain.ipynb runs/pretrain_gpu.ipynb -f configs/pretrain_base_synthface_gpu.yaml  # ViT-B, one GPU
# papermill notebooks/scaled/pretrain.ipynb runs/pretrain_ytf.ipynb -f configs/pretrain_base_ytf.yaml            # MARLIN's recipe, 4 GPUs
# ```
#
# With `num_gpus > 1` the notebook launches `torchrun` (DDP) and reads the run folder afterwards. Every cell below calls one function of `marlin_lite.scaled`; `notebooks/scaled/README.md` has the details.

# %% tags=["parameters"]
config = "configs/tiny.yaml"      # the PretrainConfig recipe: a YAML file or a shipped recipe by name (the CLI's --config)
settings = {}                     # PretrainConfig fields over the recipe, e.g. {model: base, batch_size: 64, max_steps: 300, lr: 1.5e-4}
dataset = "synthface"             # synthface | a clip store folder | a folder of videos | ytf, celebvhq, ffpp, mosei, lrs2 (with data_root)
data_root = None                  # root folder of a real data set (when dataset is its name)
data_split = "train"              # split of a real data set written into the clip store
data_limit = None                 # only the first N videos of a real data set (quick runs)
store_dir = None                  # clip store to write or reuse (default runs/clipstores/<data>_<split>_<T>x<S>)
use_clip_store = False            # SynthFace: render the split into a clip store first (fast GPU feeding) instead of on the fly
face_parsing = "auto"             # parsing maps for fasking: auto (the source's, if any) | landmarks (MediaPipe FaceMesh) | none
data_workers = 0                  # processes that write the clip store
epochs = None                     # passes over the training clips, converted to max_steps (instead of settings' max_steps)
warmup_epochs = None              # warm-up in epochs, converted to warmup_steps
out_dir = "runs/scaled_pretrain"  # the run folder (checkpoint.pt, metrics.jsonl, summary.json, figures)
resume = False                    # continue from out_dir/checkpoint.pt (a fresh start when there is none)
overwrite = False                 # delete a previous run in out_dir first (otherwise an existing run is an error unless resume)
num_gpus = 1                      # processes: up to 1 trains in this kernel, more runs torchrun --nproc_per_node num_gpus
launch_torchrun = True            # with num_gpus > 1: launch torchrun from here (false: only print the command)

# %% [markdown]
# ## Setup

# %%
# %matplotlib inline
import json

import torch
from IPython.display import display

from marlin_lite import scaled
from marlin_lite.pretrain import CHECKPOINT, model_from_checkpoint

gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
print(f"torch {torch.__version__}; GPUs: {gpus or 'none'}")

# %% [markdown]
# ## 1. The run
#
# Data first (a real data set or a folder of videos is written into a clip store once and reused), then the config, the schedule and the equivalent command lines.

# %%
plan = scaled.plan_pretraining(
    config=config,
    settings=settings,
    dataset=dataset,
    data_root=data_root,
    data_split=data_split,
    data_limit=data_limit,
    store_dir=store_dir,
    use_clip_store=use_clip_store,
    face_parsing=face_parsing,
    data_workers=data_workers,
    epochs=epochs,
    warmup_epochs=warmup_epochs,
    out_dir=out_dir,
    resume=resume,
    overwrite=overwrite,
    num_gpus=num_gpus,
    launch_torchrun=launch_torchrun,
)
print(plan.describe())

# %% [markdown]
# ## 2. Train
#
# In this kernel with `num_gpus <= 1`; with more, the torchrun command above runs as a subprocess (its output is also saved to `torchrun.log` in the run folder). `resume=True` continues from the run folder's checkpoint and ends with exactly the weights of an uninterrupted run.

# %%
outcome = scaled.run_pretraining(plan)
print(f"{outcome.launched}: step {outcome.step} of {plan.cfg.max_steps} in {outcome.seconds:.1f} s")

# %% [markdown]
# ## 3. Loss curves and throughput
#
# From `metrics.jsonl` (one line per `log_every` steps, all runs of a resumed run). Throughput is the median over logging windows, the first one (start-up, compilation) left out.

# %%
rows = scaled.read_metrics(plan.out_dir)
if rows:
    fig = scaled.training_figure(rows)
    fig.savefig(plan.out_dir / "loss_curve.png", dpi=80)
    display(fig)
    speed = scaled.throughput(rows)
    print(f"loss {rows[0]['loss']:.4f} -> {rows[-1]['loss']:.4f} over {int(rows[-1]['step'])} steps; "
          f"{speed['clips_per_s']:.1f} clips/s ({speed['tflops']:.2f} TFLOP/s) on {plan.cfg.batch_size} clips per process")
else:
    print("no metrics yet: the run has not been launched here")

# %% [markdown]
# ## 4. Reconstructions
#
# MAE's four panels (original, masked, reconstruction, reconstruction + visible) on a clip the model did not train on when the data allow (SynthFace: the validation people), masked with the run's strategy.

# %%
if outcome.trained:
    model = outcome.model if outcome.model is not None else model_from_checkpoint(plan.out_dir / CHECKPOINT)
    fig = scaled.reconstruction_sample(model, plan.cfg)
    fig.savefig(plan.out_dir / "reconstruction.png", dpi=80)
    display(fig)

# %% [markdown]
# ## 5. Summary
#
# `summary.json` in the run folder: steps, losses, throughput, device, commands and the full config.

# %%
if outcome.trained:
    summary = scaled.write_summary(plan, outcome)
    print(json.dumps({k: summary[k] for k in ("steps", "finished", "final", "throughput", "device", "wall_seconds")}, indent=1))
    print("written:", plan.out_dir / scaled.SUMMARY)
