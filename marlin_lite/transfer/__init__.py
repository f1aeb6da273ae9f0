"""Does MARLIN-style pretraining transfer on SynthFace? A seeded evaluation with intervals.

One command measures a pretrained MARLIN-lite encoder against the baselines a skeptic asks for,
on MARLIN's four downstream tasks, in four label regimes, over several seeds, and writes the
results table (Markdown) and every number behind it (JSON, beside it)::

    python -m marlin_lite.transfer --encoder runs/course/checkpoint.pt --out docs/results.md
    python -m marlin_lite.transfer --encoder CKPT --seeds 0 1 2 --tasks far fer dfd ls --quick

**Tasks** (the :class:`~marlin_lite.tasks.probe.TaskSpec`\\ s of :mod:`marlin_lite.tasks`, their
metrics; the headline metric first): FAR, facial attributes (micro AUC; macro AUC), FER,
expressions (accuracy; macro F1), DFD, deepfake detection (video AUC; accuracy). Data:
SynthFace people of ``world_seed=1`` (none of them seen in pretraining, which uses world 0),
MARLIN-like face crops (``framing="face"``) with large, local expressions
(``expressions="marked"``), split 60/10/30 % by person.

**LS**, lip sync, is a generation task and has its own protocol (:func:`evaluate_lipsync`, MARLIN's:
the encoder replaces Wav2Lip's face encoder in a generator that redraws the lower face from the
audio, scored by a sync expert): its rows are the same encoders in a generator trained for a
fixed budget (frozen random init, trained from scratch, frozen pretrained, fine-tuned), a
copy-the-reference-mouth floor and the real mouths as ceiling; its regimes are ``k`` training
people; headline: how often the expert finds the true audio offset on the generated mouths.

**Methods** (rows of the table). Everything is trained on the train split only, every choice is
made on the validation split, the test split is only scored:

* ``pixel_probe``: a linear probe on raw pixels, each clip average-pooled to ``pixel_size`` x
  ``pixel_size`` in space and ``pixel_time`` frame groups (8 x 8 x 4 x RGB = 768 numbers);
* ``random_init_probe``: the frozen, randomly initialised encoder of the same config + probe;
* ``supervised_scratch``: the same architecture (encoder + linear head on the mean token)
  trained from random init on the labelled subset; learning rate from a grid (searched by the
  first seed, reused by the others: ``TransferSettings.ft_lr_search``), early stopping on the
  validation metric (the best evaluation's weights are kept);
* ``pretrained_probe``: the frozen pretrained encoder + probe;
* ``pretrained_finetune``: encoder + head fine-tuned from the pretrained weights, tuned exactly
  as ``supervised_scratch``;
* ``ceiling``: the best supervised model trained with *all* labels, once per seed: the
  candidate with the best validation metric among ``supervised_scratch`` with all labels and a
  small 3-D CNN (:class:`SmallCNN3D`) trained from scratch, tuned the same way (with a longer
  epoch budget: its steps are cheap).

**Probes** (:func:`select_probe`): a linear head fitted by full-batch L-BFGS on standardised
features (means and standard deviations of the whole train split's features; no labels are
used for them) with an L2 penalty from a grid. Frozen encoders offer two feature *poolings*:
``mean``, MARLIN's mean over tokens then the final LayerNorm, ``(N, D)``, and ``grid``, every
token's normalised feature averaged over time and over ``grid`` x ``grid`` spatial regions,
concatenated, ``(N, grid**2 * D)``, which keeps *where* a feature fires (attributes and
expressions are local). Pooling and L2 are chosen on validation per task, regime and seed
and recorded.

**Low data** (:func:`low_data_subsets`): ``k`` = 1, 5, 10 labelled examples per class and
``"all"``. FER: ``k`` clips per expression; DFD: ``k`` real and ``k`` fake videos; FAR
(multi-label): people are added greedily, in a seeded order, until every attribute has at least
``k`` positives (or all the train split has). Subsets of one seed are nested across ``k``.

**Evidence** (:func:`t_interval`, :func:`paired_difference`): a seed draws the subsets, the
random encoder and every head's initialisation. Per task and regime each method gets a mean and
a 95 % t-interval over seeds, and three paired differences (per seed, then mean and t-interval):
pretrained probe - random-init probe, pretrained probe - supervised scratch, pretrained
fine-tune - supervised scratch. The intervals reflect the seeds' variation (which people are
labelled, initialisation), not the sampling of the fixed test split. Every sentence of the
report's conclusions is generated from these numbers (:func:`conclusion`).

**Cost.** The default run (:data:`DEFAULT_DATA`: FAR 400 people x 1 clip, FER 160 x 3, DFD 200 x
2 with half of them fake, i.e. 240-288 labelled train clips per task with all labels; 3 seeds; the
tiny preset) spends about three quarters of its time fine-tuning ViTs with all labels; estimated
at 35-45 minutes on 2 idle CPU cores (from a measured DFD single-seed run; see the report that
came with this module), minutes on a GPU (``--device cuda``). ``--quick`` runs everything at toy
sizes in well under a minute (for tests; its numbers mean nothing).

Shapes: ``N`` items (each a clip of ``T`` frames, one encoder window), ``D`` encoder width,
``C`` outputs (24 attributes, 6 expressions, 1 for real/fake), ``A`` attributes.

**Modules** (every name below is importable from ``marlin_lite.transfer`` itself; each imports
only those before it): ``settings`` (tasks, metrics, methods, regimes, :class:`TransferSettings`),
``stats`` (t quantiles, intervals, paired differences), ``subsets`` (low-data subsets), ``data``
(splits in memory, targets, features), ``probes`` (linear probes, trained classifiers),
``evaluate`` (:func:`evaluate_task`, :func:`evaluate_lipsync`, :func:`summarize`,
:func:`run_transfer`), ``report`` (:func:`render_markdown`, :func:`write_report`), ``view``
(:func:`load_results` and what a lesson shows of one task) and ``cli`` (the command).
"""

# as_encoder, random_encoder, logits_to_scores and sha256_file are re-exported: the other apps
# (diagnose, experiments, lr_check, replicate) reach them as ``transfer.name``.
from marlin_lite.encoders import as_encoder, random_encoder
from marlin_lite.tasks.probe import logits_to_scores
from marlin_lite.transfer import data, probes, settings
from marlin_lite.transfer.cli import main, merge_results
from marlin_lite.transfer.data import (
    SplitData,
    encoder_views,
    load_lipsync_data,
    load_task_data,
    num_outputs,
    pixel_features,
    task_targets,
)
from marlin_lite.transfer.evaluate import chance_levels, evaluate_lipsync, evaluate_task, run_transfer, summarize
from marlin_lite.transfer.probes import (
    EncoderClassifier,
    ProbeChoice,
    SmallCNN3D,
    fit_linear,
    select_probe,
    select_trained,
    task_metrics,
    train_classifier,
    vit_classifier,
)
from marlin_lite.transfer.report import conclusion, git_state, render_markdown, versions, write_report
from marlin_lite.transfer.settings import (
    ALL_TASKS,
    COMPARISONS,
    DEFAULT_DATA,
    HEADLINE,
    LS_METHOD_LABELS,
    METHOD_LABELS,
    METHODS,
    METRIC_NAMES,
    POOLINGS,
    QUICK_DATA,
    REGIMES,
    SECONDARY,
    TASK_METHODS,
    TASK_TITLES,
    TASKS,
    TransferSettings,
    method_label,
)
from marlin_lite.transfer.stats import betainc, paired_difference, t_cdf, t_interval, t_quantile, verdict
from marlin_lite.transfer.subsets import attribute_subsets, low_data_subsets, people_subsets, per_class_subsets
from marlin_lite.transfer.view import (
    differences_table,
    load_results,
    plot_task,
    show_budget_check,
    show_task_report,
    task_differences,
    task_rows,
    task_table,
)
from marlin_lite.utils import sha256_file

#: Private helpers that other apps (diagnose, replicate, lr_check) reach as ``transfer._name``.
_as_float = data._as_float
_predict_logits = probes._predict_logits
_regime_key = settings._regime_key
_regime_label = settings._regime_label

__all__ = [
    "ALL_TASKS",
    "COMPARISONS",
    "DEFAULT_DATA",
    "EncoderClassifier",
    "HEADLINE",
    "LS_METHOD_LABELS",
    "METHODS",
    "METHOD_LABELS",
    "METRIC_NAMES",
    "POOLINGS",
    "ProbeChoice",
    "QUICK_DATA",
    "REGIMES",
    "SECONDARY",
    "SmallCNN3D",
    "SplitData",
    "TASKS",
    "TASK_METHODS",
    "TASK_TITLES",
    "TransferSettings",
    "as_encoder",
    "attribute_subsets",
    "betainc",
    "chance_levels",
    "conclusion",
    "differences_table",
    "encoder_views",
    "evaluate_lipsync",
    "evaluate_task",
    "fit_linear",
    "git_state",
    "load_lipsync_data",
    "load_results",
    "load_task_data",
    "logits_to_scores",
    "low_data_subsets",
    "main",
    "merge_results",
    "method_label",
    "num_outputs",
    "paired_difference",
    "people_subsets",
    "per_class_subsets",
    "pixel_features",
    "plot_task",
    "random_encoder",
    "render_markdown",
    "run_transfer",
    "select_probe",
    "select_trained",
    "sha256_file",
    "show_budget_check",
    "show_task_report",
    "summarize",
    "t_cdf",
    "t_interval",
    "t_quantile",
    "task_differences",
    "task_metrics",
    "task_rows",
    "task_table",
    "task_targets",
    "train_classifier",
    "verdict",
    "versions",
    "vit_classifier",
    "write_report",
]
