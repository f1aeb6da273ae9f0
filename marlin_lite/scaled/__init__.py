"""The GPU track: what ``notebooks/scaled/*.ipynb`` run, as plain functions of the package.

The two scaled notebooks hold no logic of their own: each cell calls one function here, with the
notebook's papermill parameters (``configs/pretrain_*.yaml``, ``configs/downstream_*.yaml``).
The same functions run without Jupyter (a GPU machine without papermill, a batch job)::

    python -m marlin_lite.scaled pretrain   --params configs/pretrain_base_synthface_gpu.yaml --set settings.max_steps=100
    python -m marlin_lite.scaled downstream --params configs/downstream_smoke.yaml --set seeds=[0,1]

Three rooms:

* :mod:`marlin_lite.scaled.pretraining`: ``notebooks/scaled/pretrain.ipynb``. Its model and
  training settings are :class:`~marlin_lite.pretrain.PretrainConfig` itself (a recipe plus
  ``settings``), so the notebook, the parameter files and ``python -m marlin_lite.pretrain`` share
  one schema; the notebook's own parameters say where the data come from and how to launch.
* :mod:`marlin_lite.scaled.pretrain_data`: its data (SynthFace, clip stores, real data sets
  written into a clip store once, parsing maps from landmarks) and epochs counted in steps.
* :mod:`marlin_lite.scaled.downstream`: ``notebooks/scaled/downstream.ipynb`` (encoders, the real
  data sets' tasks, the baselines, lip sync on LRS2).
* :mod:`marlin_lite.scaled.cli`: the command line and the parameter files.

Relative paths in parameters are read from the repository root (where the README's commands
run), so a notebook behaves the same whatever papermill's working directory is. Importing this
package needs no PyAV: the GPU machine may lack it (the data set loaders are imported on use).
"""

from __future__ import annotations

from marlin_lite.pretrain import read_metrics
from marlin_lite.scaled.cli import apply_sets, main, read_params
from marlin_lite.scaled.common import REPO_ROOT, resolve_path
from marlin_lite.scaled.downstream import (
    DOWNSTREAM_PARAMETERS,
    HEADLINE,
    REAL_LABELS,
    SYNTHFACE_DEFAULTS,
    TASK_DATASETS,
    DownstreamData,
    DownstreamResult,
    downstream_data,
    feature_cache,
    headline_rows,
    load_encoder,
    methods_for,
    real_task_spec,
    results_figure,
    run_downstream,
)
from marlin_lite.scaled.pretrain_data import LandmarkParsing, epochs_to_steps, prepare_pretrain_data, training_set_size
from marlin_lite.scaled.pretraining import (
    PRETRAIN_PARAMETERS,
    SUMMARY,
    PretrainOutcome,
    PretrainPlan,
    command_line,
    launch,
    plan_pretraining,
    pretrain_command,
    pretrain_pipeline,
    reconstruction_sample,
    run_pretraining,
    throughput,
    training_figure,
    write_summary,
)

__all__ = [
    "DOWNSTREAM_PARAMETERS",
    "DownstreamData",
    "DownstreamResult",
    "HEADLINE",
    "LandmarkParsing",
    "PRETRAIN_PARAMETERS",
    "PretrainOutcome",
    "PretrainPlan",
    "REAL_LABELS",
    "REPO_ROOT",
    "SUMMARY",
    "SYNTHFACE_DEFAULTS",
    "TASK_DATASETS",
    "apply_sets",
    "command_line",
    "downstream_data",
    "epochs_to_steps",
    "feature_cache",
    "headline_rows",
    "launch",
    "load_encoder",
    "main",
    "methods_for",
    "plan_pretraining",
    "prepare_pretrain_data",
    "pretrain_command",
    "pretrain_pipeline",
    "read_metrics",
    "read_params",
    "real_task_spec",
    "reconstruction_sample",
    "resolve_path",
    "results_figure",
    "run_downstream",
    "run_pretraining",
    "throughput",
    "training_figure",
    "training_set_size",
    "write_summary",
]
