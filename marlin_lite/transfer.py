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
"""

from __future__ import annotations

import argparse
import copy
import math
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import marlin_lite
from marlin_lite.data import SynthFaceDataset
from marlin_lite.encoders import as_encoder, random_encoder
from marlin_lite.model import MarlinAutoencoder, MarlinConfig, MarlinEncoder
from marlin_lite.pretrain import load_checkpoint, model_from_checkpoint, saved_config
from marlin_lite.tasks.dfd import DFD, dfd_breakdown, dfd_metrics
from marlin_lite.tasks.far import FAR, far_metrics
from marlin_lite.tasks.fer import FER, fer_metrics
from marlin_lite.tasks.lipsync import lipsync_splits, run_lipsync, train_sync_expert
from marlin_lite.tasks.metrics import multiclass_accuracy, multilabel_auc
from marlin_lite.tasks.probe import Features, logits_to_scores, make_head, task_generator, task_loss, TaskSpec
from marlin_lite.utils import atomic_write_bytes, json_bytes, pick_device, sha256_file

#: The classification task specs evaluated, by name.
TASKS: dict[str, TaskSpec] = {"far": FAR, "fer": FER, "dfd": DFD}
#: Every task the harness runs: the classification tasks and LS, lip sync (a generation task, :func:`evaluate_lipsync`).
ALL_TASKS: tuple[str, ...] = (*TASKS, "ls")
#: Headline metric per task (the table and the differences use it) and a secondary one.
HEADLINE = {"far": "auc_micro", "fer": "accuracy", "dfd": "auc", "ls": "sync_offset_acc"}
SECONDARY = {"far": "auc_macro", "fer": "f1_macro", "dfd": "accuracy", "ls": "psnr_lower"}
TASK_TITLES = {"far": "FAR: facial attributes", "fer": "FER: facial expressions", "dfd": "DFD: deepfake detection",
               "ls": "LS: lip sync"}
METRIC_NAMES = {"auc_micro": "micro AUC", "auc_macro": "macro AUC", "accuracy": "accuracy", "f1_macro": "macro F1", "auc": "video AUC",
                "sync_offset_acc": "sync offset accuracy", "psnr_lower": "lower-face PSNR (dB)"}
#: Rows of the table, in order.
METHODS = ("pixel_probe", "random_init_probe", "supervised_scratch", "pretrained_probe", "pretrained_finetune", "ceiling")
METHOD_LABELS = {
    "pixel_probe": "pixel probe",
    "random_init_probe": "random-init encoder + probe",
    "supervised_scratch": "supervised from scratch",
    "pretrained_probe": "pretrained encoder + probe",
    "pretrained_finetune": "pretrained, fine-tuned",
    "ceiling": "ceiling (all labels)",
    "copy_reference": "copy the reference mouth (no audio)",
}
#: Rows of each task's table, in order. LS has no pixel probe (its generator always sees the pixels
#: through its skip connection); copying the reference window's mouth is its no-learning floor.
TASK_METHODS: dict[str, tuple[str, ...]] = {
    **{t: METHODS for t in TASKS},
    "ls": ("copy_reference", "random_init_probe", "supervised_scratch", "pretrained_probe", "pretrained_finetune", "ceiling"),
}
#: What the rows mean in LS: every encoder feeds the same Wav2Lip-style generator.
LS_METHOD_LABELS = {
    "random_init_probe": "random-init encoder (frozen) + generator",
    "supervised_scratch": "encoder trained from scratch with the generator",
    "pretrained_probe": "pretrained encoder (frozen) + generator",
    "pretrained_finetune": "pretrained encoder fine-tuned with the generator",
    "ceiling": "real mouths (ceiling)",
}


def method_label(task: str, method: str) -> str:
    """The row label of ``method`` in ``task``'s table (LS names its rows after the generator)."""
    if task == "ls" and method in LS_METHOD_LABELS:
        return LS_METHOD_LABELS[method]
    return METHOD_LABELS.get(method, method)

#: Label regimes: labelled examples per class, and all of the train split.
REGIMES: tuple[int | str, ...] = (1, 5, 10, "all")
#: Paired differences ``(a, b)``: ``a - b`` per seed.
COMPARISONS = (
    ("pretrained_probe", "random_init_probe"),
    ("pretrained_probe", "supervised_scratch"),
    ("pretrained_finetune", "supervised_scratch"),
)
POOLINGS = ("mean", "grid")

#: Data per task (SynthFace arguments besides the shared ones). Sizes of the default run.
DEFAULT_DATA: dict[str, dict[str, Any]] = {
    "far": {"num_identities": 400, "clips_per_identity": 1, "fake_fraction": 0.0},
    "fer": {"num_identities": 160, "clips_per_identity": 3, "fake_fraction": 0.0},
    "dfd": {"num_identities": 200, "clips_per_identity": 2, "fake_fraction": 0.5},
    "ls": {"num_identities": 200, "clips_per_identity": 1},
}
#: ``--quick``: a few people per task (seconds; for tests and smoke runs, not for conclusions).
QUICK_DATA: dict[str, dict[str, Any]] = {
    "far": {"num_identities": 20, "clips_per_identity": 1, "fake_fraction": 0.0},
    "fer": {"num_identities": 12, "clips_per_identity": 3, "fake_fraction": 0.0},
    "dfd": {"num_identities": 16, "clips_per_identity": 2, "fake_fraction": 0.5},
    "ls": {"num_identities": 12, "clips_per_identity": 1},
}


# --------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------


@dataclass
class TransferSettings:
    """Everything the evaluation depends on besides the encoder and the seeds.

    Attributes:
        data: per task, the :class:`~marlin_lite.data.SynthFaceDataset` size arguments
            (``num_identities``, ``clips_per_identity``, ``fake_fraction``).
        world_seed, split_fractions, framing, expressions: the SynthFace world (1: people
            never seen in pretraining), the train/val/test split by person, the rendering.
        regimes: labelled examples per class (ints) and/or ``"all"``.
        pixel_size, pixel_time: the pixel probe's pooling, ``(3, T, H, W) -> (3, pixel_time,
            pixel_size, pixel_size)``, flattened.
        grid: regions per side of the ``grid`` pooling.
        probe_l2: L2 penalties tried by every probe (``0.5 * l2 * |W|^2`` added to the mean loss).
        probe_max_iter: L-BFGS iterations per fit.
        ft_lrs: learning rates tried by fine-tuning (AdamW, constant rate).
        ft_lr_search: ``"every_seed"``: every seed tries every rate; ``"first_seed"``: the first
            seed tries them all (per task, method and regime) and the later seeds train with
            the rate it chose (on validation), which saves 2/3 of the later seeds' training.
        ft_batch_size, ft_weight_decay: fine-tuning batch and AdamW weight decay.
        ft_max_epochs, ft_min_steps, ft_max_steps: the step budget, ``max(ft_min_steps,
            ft_max_epochs * ceil(n / batch))`` steps (so tiny subsets still get enough steps),
            capped at ``ft_max_steps`` when that is set.
        ft_evals: validation evaluations spread over the budget; ``ft_patience``: stop after
            this many evaluations without improvement (the best evaluation's weights are kept).
        cnn_width: channels of the first layer of the 3-D CNN ceiling candidate (0: no CNN).
        cnn_max_epochs: the CNN's ``ft_max_epochs`` (a CNN step costs about a fifth of a ViT
            step, so the ceiling gets a longer budget; the rest of its tuning is the same). 60:
            at 15 every ceiling run's best check was its last, and ``python -m marlin_lite.replicate``
            measured the DFD ceiling at 0.707 (15 epochs) against 0.814 (60) on the same people.
        feature_batch_size: clips per forward pass when extracting features.
        ls_clip_frames, ls_max_offset: LS clips (frames per clip, long enough for a window, its
            audio shifts and a reference window) and the audio shifts ``-K .. K`` scored.
        ls_expert_steps: steps of each sync expert (one scores, a second drives the sync loss).
        ls_steps, ls_batch_size, ls_lr, ls_sync_weight: every LS generator's fixed budget
            (Adam steps of ``ls_batch_size`` windows, lr, Wav2Lip's sync-loss weight). Nothing is
            chosen on validation in LS: every row trains the same way.
        ls_eval_windows: fixed held-out windows every LS method is scored on.
    """

    data: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(DEFAULT_DATA))
    world_seed: int = 1
    split_fractions: tuple[float, float, float] = (0.6, 0.1, 0.3)
    framing: str = "face"
    expressions: str = "marked"
    regimes: tuple[int | str, ...] = REGIMES
    pixel_size: int = 8
    pixel_time: int = 4
    grid: int = 2
    probe_l2: tuple[float, ...] = (10.0, 1.0, 1e-1, 1e-2, 1e-3, 1e-4)
    probe_max_iter: int = 100
    ft_lrs: tuple[float, ...] = (3e-4, 1e-3, 3e-3)
    ft_lr_search: str = "first_seed"
    ft_batch_size: int = 16
    ft_weight_decay: float = 0.05
    ft_max_epochs: int = 8
    ft_min_steps: int = 30
    ft_max_steps: int | None = None
    ft_evals: int = 6
    ft_patience: int = 2
    cnn_width: int = 16
    cnn_max_epochs: int = 60
    feature_batch_size: int = 32
    ls_clip_frames: int = 24
    ls_max_offset: int = 3
    ls_expert_steps: int = 150
    ls_steps: int = 100
    ls_batch_size: int = 4
    ls_lr: float = 1e-3
    ls_sync_weight: float = 0.03
    ls_eval_windows: int = 96

    @classmethod
    def quick(cls) -> TransferSettings:
        """Tiny sizes and budgets: the whole pipeline in seconds (tests, smoke runs)."""
        return cls(
            data=copy.deepcopy(QUICK_DATA), probe_l2=(1.0, 1e-2), probe_max_iter=15, ft_lrs=(1e-3,), ft_batch_size=4,
            ft_max_epochs=1, ft_min_steps=1, ft_max_steps=2, ft_evals=1, ft_patience=1, cnn_width=4, cnn_max_epochs=1,
            ls_expert_steps=2, ls_steps=2, ls_eval_windows=8,
        )

    def validate(self, tasks: Iterable[str] = ALL_TASKS) -> TransferSettings:
        for t in tasks:
            if t not in self.data:
                raise ValueError(f"settings.data has no entry for task {t!r} (it has {sorted(self.data)})")
        bad = [r for r in self.regimes if not (r == "all" or (isinstance(r, int) and not isinstance(r, bool) and r >= 1))]
        ints = [r for r in self.regimes if r != "all"]
        ordered = ints == sorted(set(ints)) and ("all" not in self.regimes or list(self.regimes).index("all") == len(self.regimes) - 1)
        if bad or not self.regimes or not ordered:
            raise ValueError(f"regimes must be increasing ints >= 1 (labels per class), optionally followed by 'all'; got {self.regimes}")
        if not self.probe_l2 or not self.ft_lrs:
            raise ValueError("probe_l2 and ft_lrs must each name at least one value")
        if self.ft_lr_search not in ("every_seed", "first_seed"):
            raise ValueError(f"ft_lr_search must be 'every_seed' or 'first_seed', got {self.ft_lr_search!r}")
        if min(self.ft_batch_size, self.ft_max_epochs, self.ft_evals, self.ft_patience, self.probe_max_iter, self.grid,
               self.ft_max_steps or 1, self.cnn_max_epochs, self.ls_max_offset, self.ls_expert_steps, self.ls_steps,
               self.ls_batch_size, self.ls_eval_windows) < 1:
            raise ValueError("ft_batch_size, ft_max_epochs, ft_max_steps, ft_evals, ft_patience, probe_max_iter, grid, "
                             "cnn_max_epochs and the ls_ sizes must be >= 1")
        return self

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(asdict(self))


def _regime_key(regime: int | str) -> str:
    return str(regime)


def _regime_label(regime: int | str) -> str:
    return "all labels" if regime == "all" else f"k = {regime}"


# --------------------------------------------------------------------------------------
# Statistics: Student t quantiles, intervals, paired differences
# --------------------------------------------------------------------------------------


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c if abs(1 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c if abs(1 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function ``I_x(a, b)`` for ``a, b > 0``, ``0 <= x <= 1``."""
    if not 0 <= x <= 1:
        raise ValueError(f"x must be in [0, 1], got {x}")
    if x in (0, 1):
        return float(x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    """``P(T <= t)`` for Student's t with ``df > 0`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"df must be > 0, got {df}")
    tail = 0.5 * betainc(df / 2, 0.5, df / (df + t * t))
    return 1 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (bisection on :func:`t_cdf`).

    ``t_quantile(0.975, 2) = 4.3027``, ``t_quantile(0.975, 30) = 2.0423``; for large ``df`` it
    approaches the normal quantile (1.96).
    """
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if df <= 0:
        raise ValueError(f"df must be > 0, got {df}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2


def t_interval(values: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """Mean and two-sided ``level`` t-interval of ``values`` (e.g. one number per seed).

    Returns ``mean``, ``half_width`` (``t_{(1+level)/2, n-1} * sd / sqrt(n)``, sample sd),
    ``lo``, ``hi``, ``n`` and ``sd``. Non-finite values are dropped; with one value the
    half-width is ``nan`` (no interval); with none, every number is ``nan``.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    kept = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(kept)
    if n == 0:
        return {"mean": math.nan, "half_width": math.nan, "lo": math.nan, "hi": math.nan, "n": 0, "sd": math.nan}
    mean = sum(kept) / n
    if n == 1:
        return {"mean": mean, "half_width": math.nan, "lo": math.nan, "hi": math.nan, "n": 1, "sd": math.nan}
    sd = math.sqrt(sum((v - mean) ** 2 for v in kept) / (n - 1))
    half = t_quantile((1 + level) / 2, n - 1) * sd / math.sqrt(n)
    return {"mean": mean, "half_width": half, "lo": mean - half, "hi": mean + half, "n": n, "sd": sd}


def paired_difference(a: Mapping[Any, float], b: Mapping[Any, float], level: float = 0.95) -> dict[str, Any]:
    """Per-seed differences ``a[s] - b[s]`` over the seeds both have (finite values), and their
    mean with a ``level`` t-interval (:func:`t_interval`). ``per_seed`` maps seed -> difference."""
    seeds = [s for s in a if s in b and a[s] is not None and b[s] is not None and math.isfinite(a[s]) and math.isfinite(b[s])]
    per_seed = {s: float(a[s]) - float(b[s]) for s in seeds}
    return {"per_seed": per_seed, **t_interval(list(per_seed.values()), level)}


def verdict(lo: float | None, hi: float | None) -> str:
    """``"> 0"``, ``"< 0"`` or ``"n.s."`` (the interval holds 0, or there is none)."""
    if lo is not None and math.isfinite(lo) and lo > 0:
        return "> 0"
    if hi is not None and math.isfinite(hi) and hi < 0:
        return "< 0"
    return "n.s."


# --------------------------------------------------------------------------------------
# Low-data subsets
# --------------------------------------------------------------------------------------


def per_class_subsets(labels: torch.Tensor, ks: Sequence[int | str], seed: int, purpose: str = "subset") -> dict[str, torch.Tensor]:
    """``k`` items per class for each ``k`` of ``ks`` (``"all"``: every item) -> sorted ``int64``.

    ``labels``: ``(N,)`` class ids. Each class is shuffled once per seed and its first
    ``min(k, n_class)`` members are kept, so the subsets of one seed are nested across ``k``.
    Keys are ``str(k)``.
    """
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or labels.numel() == 0:
        raise ValueError(f"labels must be a non-empty (N,) tensor of class ids, got shape {tuple(labels.shape)}")
    gen = task_generator(seed, "transfer", purpose)
    shuffled = {}
    for c in torch.unique(labels).tolist():  # sorted: a deterministic draw order
        members = torch.nonzero(labels == c).flatten()
        shuffled[c] = members[torch.randperm(members.numel(), generator=gen)]
    out = {}
    for k in ks:
        if k == "all":
            out[_regime_key(k)] = torch.arange(labels.numel())
        else:
            out[_regime_key(k)] = torch.cat([m[: int(k)] for m in shuffled.values()]).sort().values
    return out


def attribute_subsets(attributes: torch.Tensor, ks: Sequence[int | str], seed: int, purpose: str = "subset") -> dict[str, torch.Tensor]:
    """Multi-label subsets: people added greedily until every attribute has ``>= k`` positives.

    ``attributes``: ``(N, A)`` of 0/1. People are visited in one seeded order; for ``k = 1, 2,
    ...`` in turn, a person not yet chosen is added when one of their positive attributes has
    fewer than ``k`` positives among those chosen so far. After the pass for ``k`` every
    attribute has ``min(k, positives in the whole set)`` positives or more, and each subset
    contains the previous one (nested). ``"all"``: every person. Keys are ``str(k)``; values
    sorted ``int64``.
    """
    attributes = torch.as_tensor(attributes)
    if attributes.dim() != 2 or attributes.shape[0] == 0:
        raise ValueError(f"attributes must be a non-empty (N, A) tensor of 0/1, got shape {tuple(attributes.shape)}")
    pos = attributes > 0.5
    order = torch.randperm(pos.shape[0], generator=task_generator(seed, "transfer", purpose)).tolist()
    chosen: list[int] = []
    taken = torch.zeros(pos.shape[0], dtype=torch.bool)
    counts = torch.zeros(pos.shape[1], dtype=torch.int64)
    ints = sorted(int(k) for k in ks if k != "all")
    out = {}
    for k in range(1, (ints[-1] if ints else 0) + 1):
        for p in order:
            if not taken[p] and bool((pos[p] & (counts < k)).any()):
                taken[p] = True
                chosen.append(p)
                counts += pos[p].to(torch.int64)
        if k in ints:
            out[str(k)] = torch.tensor(sorted(chosen), dtype=torch.int64)
    if "all" in ks:
        out["all"] = torch.arange(pos.shape[0])
    return {_regime_key(k): out[_regime_key(k)] for k in ks}


def low_data_subsets(task: str, targets: torch.Tensor, ks: Sequence[int | str], seed: int) -> dict[str, torch.Tensor]:
    """The labelled train items of each regime for a task: FER per expression, DFD per class
    (real / fake), FAR per attribute (:func:`attribute_subsets`). Keys ``str(k)``."""
    if task == "far":
        return attribute_subsets(targets, ks, seed, purpose="far")
    if task in ("fer", "dfd"):
        return per_class_subsets(torch.as_tensor(targets).long(), ks, seed, purpose=task)
    raise ValueError(f"task must be one of {tuple(TASKS)}, got {task!r}")


# --------------------------------------------------------------------------------------
# Data and features
# --------------------------------------------------------------------------------------


@dataclass
class SplitData:
    """One split of a task, in memory.

    Attributes:
        clips: ``uint8 (N, 3, T, H, W)`` (divide by 255 for the ``[0, 1]`` video convention).
        labels: per item: ``attributes (N, A)``, ``expression``, ``fake``, ``manipulation``,
            ``identity`` ``(N,)``.
    """

    clips: torch.Tensor
    labels: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return int(self.clips.shape[0])


def load_task_data(task: str, cfg: MarlinConfig, settings: TransferSettings,
                   splits: Sequence[str] = ("train", "val", "test")) -> dict[str, SplitData]:
    """Render the train / val / test splits of a task at the encoder's clip size.

    Clips are ``cfg.num_frames`` frames of ``cfg.img_size``: one encoder window per item. Raises
    ``ValueError`` (from the task's own check) when a split cannot serve the task. ``splits``:
    which of them to render (e.g. only ``("test",)`` of another world's people).
    """
    spec = TASKS[task]
    out = {}
    for split in splits:
        ds = SynthFaceDataset(
            split, world_seed=settings.world_seed, size=cfg.img_size, num_frames=cfg.num_frames, framing=settings.framing,
            expressions=settings.expressions, fractions=tuple(settings.split_fractions), cache=False, **settings.data[task],
        )
        if len(ds) == 0:
            raise ValueError(f"the {task} {split} split is empty; raise settings.data[{task!r}]['num_identities']")
        clips, labels = [], {k: [] for k in ("attributes", "expression", "fake", "manipulation", "identity")}
        for i in range(len(ds)):
            item = ds[i]
            clips.append((item["video"] * 255).round_().to(torch.uint8))
            for k in labels:
                labels[k].append(item[k])
        data = SplitData(torch.stack(clips), {k: torch.stack(v) for k, v in labels.items()})
        if spec.check is not None:  # the task's own refusal (fakes in FAR/FER, one class in DFD)
            spec.check(Features(torch.zeros(len(data), 1), torch.arange(len(data)), data.labels), split)
        out[split] = data
    return out


def task_targets(task: str, labels: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Targets of a task from a split's labels: FAR ``float (N, A)``, FER ``int64 (N,)``,
    DFD ``float (N,)``."""
    y = labels[TASKS[task].label_key]
    return y.long() if TASKS[task].kind == "multiclass" else y.float()


def num_outputs(task: str, targets: torch.Tensor) -> int:
    """Head outputs: attributes (FAR), 6 expressions (FER), 1 (DFD)."""
    spec = TASKS[task]
    if spec.kind == "multilabel":
        return int(targets.shape[1])
    return int(spec.num_classes) if spec.kind == "multiclass" else 1


def _as_float(clips: torch.Tensor) -> torch.Tensor:
    return clips.float().div_(255) if clips.dtype == torch.uint8 else clips.float()


def pixel_features(clips: torch.Tensor, size: int = 8, time_groups: int = 4) -> torch.Tensor:
    """Raw-pixel features: ``(N, 3, T, H, W)`` (uint8 or float) -> ``float32 (N, 3 * time_groups
    * size * size)``: the clip average-pooled to ``time_groups`` frame groups of ``size`` x
    ``size`` pixels, flattened."""
    if clips.dim() != 5:
        raise ValueError(f"clips must be (N, 3, T, H, W), got shape {tuple(clips.shape)}")
    out = [F.adaptive_avg_pool3d(_as_float(clips[i : i + 64]), (time_groups, size, size)) for i in range(0, clips.shape[0], 64)]
    return torch.cat(out).flatten(1)


@torch.no_grad()
def encoder_views(
    encoder: MarlinEncoder | MarlinAutoencoder, clips: torch.Tensor, *, grid: int = 2, batch_size: int = 32,
    device: str | torch.device = "cpu",
) -> dict[str, torch.Tensor]:
    """Frozen features of clips in both poolings, from one forward pass each.

    Args:
        clips: ``(N, 3, T, H, W)``, uint8 or float in [0, 1], the encoder's clip size.
    Returns:
        ``{"mean": (N, D), "grid": (N, grid * grid * D)}``: ``mean`` is MARLIN's feature (mean
        over tokens, then the final LayerNorm; :func:`marlin_lite.features.extract_features`);
        ``grid`` takes every token's normalised feature (``reduction="none"``), averages it over
        time and over ``grid`` x ``grid`` spatial regions, and concatenates the regions
        (row-major), ``float32`` on the CPU.
    """
    enc = as_encoder(encoder)
    was_training = enc.training
    enc = enc.to(device).eval()
    tt, hh, ww = enc.cfg.grid
    means, grids = [], []
    for i in range(0, clips.shape[0], batch_size):
        x = _as_float(clips[i : i + batch_size]).to(device)
        z = enc.tokens(x)  # (B, N_tokens, D) before the final norm
        means.append(enc.norm(z.mean(1)).float().cpu())
        tok = enc.norm(z).reshape(z.shape[0], tt, hh, ww, -1).mean(1).permute(0, 3, 1, 2)  # (B, D, H', W')
        pooled = F.adaptive_avg_pool2d(tok, grid)  # (B, D, g, g)
        grids.append(pooled.permute(0, 2, 3, 1).flatten(1).float().cpu())  # regions row-major, D per region
    enc.train(was_training)
    return {"mean": torch.cat(means), "grid": torch.cat(grids)}


# --------------------------------------------------------------------------------------
# Linear probes
# --------------------------------------------------------------------------------------


def task_metrics(task: str, scores: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """The task's metrics of probabilities ``scores`` (``(N, A)``, ``(N, 6)`` or ``(N,)``)."""
    if task == "far":
        return far_metrics(scores, targets)
    if task == "fer":
        return fer_metrics(scores, targets.long(), TASKS["fer"].num_classes)
    return dfd_metrics(scores, targets)


def _select_key(metric: float, loss: float) -> tuple[float, float]:
    """Order of candidates on validation: higher metric first, then lower loss (NaN metric last)."""
    return (metric if math.isfinite(metric) else -math.inf, -loss if math.isfinite(loss) else -math.inf)


def fit_linear(x: torch.Tensor, y: torch.Tensor, kind: str, n_out: int, l2: float, max_iter: int = 100) -> nn.Linear:
    """A linear head fitted by full-batch L-BFGS (strong Wolfe line search) from zeros.

    Minimises ``mean task loss + 0.5 * l2 * |W|^2`` (BCE-with-logits for multilabel and binary,
    cross-entropy for multiclass; the bias is not penalised). Convex, so the result does not
    depend on a seed. ``x``: ``(n, D)``; ``y``: ``(n, C)`` 0/1, ``(n,)`` class ids or ``(n,)`` 0/1.
    """
    x = x.double()
    y = y.long() if kind == "multiclass" else y.double()
    w = torch.zeros(x.shape[1], n_out, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_out, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-7, tolerance_change=1e-10)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = task_loss(x @ w + b, y, kind) + 0.5 * l2 * (w * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    head = nn.Linear(x.shape[1], n_out)
    with torch.no_grad():
        head.weight.copy_(w.detach().T.float())
        head.bias.copy_(b.detach().float())
    return head.eval()


@dataclass
class ProbeChoice:
    """A probe chosen on validation: which pooling and L2, its validation numbers, test scores.

    ``scores``: the chosen probe's scores of every split besides ``"train"`` and ``"val"`` that the
    views held (``"test"`` and any extra test sets, e.g. new people), split name -> scores.
    """

    pooling: str
    l2: float
    val_metric: float
    val_loss: float
    test_scores: torch.Tensor
    tried: list[dict[str, Any]]
    scores: dict[str, torch.Tensor] = field(default_factory=dict)


def select_probe(
    views: Mapping[str, Mapping[str, torch.Tensor]],
    targets: Mapping[str, torch.Tensor],
    train_items: torch.Tensor,
    *,
    task: str,
    l2_grid: Sequence[float],
    max_iter: int = 100,
) -> ProbeChoice:
    """Fit a linear probe per (pooling, L2) on the labelled train items; keep the best on val.

    Args:
        views: pooling name -> split (``"train"``, ``"val"``, ``"test"``) -> features ``(N_split, D_view)``.
            Each view is standardised with the mean and sd of its *whole* train split (no labels).
        targets: split -> per-item targets of the task (:func:`task_targets`).
        train_items: ``int64 (n,)``, the labelled train items (a low-data subset).
        task: ``"far"``, ``"fer"`` or ``"dfd"`` (kind, metric: :data:`HEADLINE`).
    Returns:
        the :class:`ProbeChoice` with the highest validation headline metric (ties: lower
        validation loss, then the earlier pooling and the stronger L2) and its test scores.
    """
    kind = TASKS[task].kind
    n_out = num_outputs(task, targets["train"])
    ytr = targets["train"][train_items]
    best, tried = None, []
    for pooling, split_feats in views.items():
        mu = split_feats["train"].double().mean(0)
        sd = split_feats["train"].double().std(0, unbiased=False).clamp_min(1e-6)
        z = {s: (f.double() - mu) / sd for s, f in split_feats.items()}
        for l2 in l2_grid:
            head = fit_linear(z["train"][train_items], ytr, kind, n_out, l2, max_iter).double()
            with torch.no_grad():
                logits = head(z["val"])
                loss = float(task_loss(logits, targets["val"].long() if kind == "multiclass" else targets["val"].double(), kind))
                metric = task_metrics(task, logits_to_scores(logits, kind).float(), targets["val"])[HEADLINE[task]]
            tried.append({"pooling": pooling, "l2": l2, "val_metric": metric, "val_loss": loss})
            if best is None or _select_key(metric, loss) > _select_key(best[2], best[3]):
                with torch.no_grad():
                    scored = {s: logits_to_scores(head(f), kind).float() for s, f in z.items() if s not in ("train", "val")}
                best = (pooling, l2, metric, loss, scored)
    assert best is not None
    return ProbeChoice(best[0], float(best[1]), best[2], best[3], best[4]["test"], tried, best[4])


# --------------------------------------------------------------------------------------
# Supervised training (from scratch, fine-tuning, the CNN ceiling)
# --------------------------------------------------------------------------------------


class EncoderClassifier(nn.Module):
    """A MARLIN encoder and a linear head on its mean-token feature: ``(B, 3, T, H, W) -> (B, C)``
    logits (MARLIN's fine-tuning architecture)."""

    def __init__(self, encoder: MarlinEncoder, head: nn.Linear) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder.extract_features(x))


def vit_classifier(init: MarlinEncoder, task: str, n_out: int, seed: int) -> Callable[[], nn.Module]:
    """A factory of fresh :class:`EncoderClassifier` s: a copy of ``init`` and a linear head drawn
    from ``seed`` (the same head for every call), as the report's scratch and fine-tuning rows
    train them; :func:`select_trained` calls it once per learning rate."""
    return lambda: EncoderClassifier(copy.deepcopy(init), make_head(init.cfg.enc_dim, n_out, task_generator(seed, "transfer", task, "head")))


class SmallCNN3D(nn.Module):
    """A small 3-D CNN trained from scratch (the ceiling's second candidate).

    ``(B, 3, T, H, W) -> (B, C)`` logits: four Conv3d-BatchNorm-ReLU stages (``width``, 2x, 4x, 8x
    channels; strides (1,2,2), (2,2,2), (2,2,2), (1,2,2): a 8 x 64 x 64 clip becomes 2 x 4 x 4
    cells), average-pooled to 2 x 2 spatial regions (so *where* a pattern is survives), flattened
    (``32 * width``) and a linear head. About 0.4 M parameters at ``width=16``.
    """

    def __init__(self, out_dim: int, width: int = 16) -> None:
        super().__init__()
        chans = [3, width, 2 * width, 4 * width, 8 * width]
        strides = [(1, 2, 2), (2, 2, 2), (2, 2, 2), (1, 2, 2)]
        layers: list[nn.Module] = []
        for cin, cout, stride in zip(chans[:-1], chans[1:], strides):
            layers += [nn.Conv3d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool3d((1, 2, 2))
        self.head = nn.Linear(chans[-1] * 4, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(x)).flatten(1))


@torch.no_grad()
def _predict_logits(model: nn.Module, clips: torch.Tensor, device: torch.device, batch_size: int = 32) -> torch.Tensor:
    model.eval()
    out = [model(_as_float(clips[i : i + batch_size]).to(device)).float().cpu() for i in range(0, clips.shape[0], batch_size)]
    return torch.cat(out)


def train_classifier(
    model: nn.Module,
    train_clips: torch.Tensor,
    train_targets: torch.Tensor,
    val_clips: torch.Tensor,
    val_targets: torch.Tensor,
    *,
    task: str,
    lr: float,
    settings: TransferSettings,
    seed: int,
    device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Train a whole model (clips -> logits) with AdamW at a constant ``lr``; early stopping on val.

    The budget is ``max(ft_min_steps, ft_max_epochs * ceil(n / batch))`` steps of mini-batches
    (at most ``ft_max_steps`` when set)
    (a seeded reshuffle every pass); the validation headline metric (ties: lower loss) is
    measured ``ft_evals`` times, evenly spread; training stops after ``ft_patience``
    evaluations without improvement and the best evaluation's weights are loaded back into
    ``model`` (trained in place). ``train_clips``: ``(n, 3, T, H, W)``; targets as
    :func:`task_targets`. Returns ``val_metric``, ``val_loss``, ``best_step``, ``steps``.
    """
    kind = TASKS[task].kind
    dev = torch.device(device)
    model.to(dev)
    n = train_clips.shape[0]
    bs = min(settings.ft_batch_size, n)
    per_epoch = math.ceil(n / bs)
    total = max(settings.ft_min_steps, settings.ft_max_epochs * per_epoch)
    if settings.ft_max_steps is not None:
        total = min(total, settings.ft_max_steps)
    eval_at = sorted({max(1, round(total * (i + 1) / settings.ft_evals)) for i in range(settings.ft_evals)})
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=settings.ft_weight_decay)
    gen = task_generator(seed, "transfer", task, "shuffle")
    y_train = train_targets.long() if kind == "multiclass" else train_targets.float()
    y_val = val_targets.long() if kind == "multiclass" else val_targets.float()
    best = {"key": (-math.inf, -math.inf), "val_metric": math.nan, "val_loss": math.nan, "best_step": 0, "state": None}
    order, pos, since, step = torch.empty(0, dtype=torch.int64), 0, 0, 0
    for step in range(1, total + 1):
        model.train()
        if pos + bs > order.numel():
            order, pos = torch.randperm(n, generator=gen), 0
        idx = order[pos : pos + bs]
        pos += bs
        loss = task_loss(model(_as_float(train_clips[idx]).to(dev)).float(), y_train[idx].to(dev), kind)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step in eval_at:
            logits = _predict_logits(model, val_clips, dev)
            v_loss = float(task_loss(logits, y_val, kind))
            v_metric = task_metrics(task, logits_to_scores(logits, kind), val_targets)[HEADLINE[task]]
            key = _select_key(v_metric, v_loss)
            if best["state"] is None or key > best["key"]:
                best.update(key=key, val_metric=v_metric, val_loss=v_loss, best_step=step,
                            state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
                since = 0
            else:
                since += 1
                if since >= settings.ft_patience:
                    break
    model.load_state_dict(best["state"])
    model.eval()
    return {"val_metric": best["val_metric"], "val_loss": best["val_loss"], "best_step": best["best_step"], "steps": step}


def select_trained(
    make_model: Callable[[], nn.Module],
    data: Mapping[str, SplitData],
    targets: Mapping[str, torch.Tensor],
    train_items: torch.Tensor,
    *,
    task: str,
    settings: TransferSettings,
    seed: int,
    device: str | torch.device = "cpu",
    lrs: Sequence[float] | None = None,
) -> dict[str, Any]:
    """Train a fresh ``make_model()`` per learning rate (``lrs``, default ``settings.ft_lrs``) on
    the labelled items; keep the one with the best validation metric; score it on test.

    Returns ``lr``, ``val_metric``, ``val_loss``, ``best_step``, ``steps``, ``tried`` (one dict
    per lr) and ``test_scores`` (probabilities of the test items).
    """
    kind = TASKS[task].kind
    best, tried = None, []
    for lr in (settings.ft_lrs if lrs is None else lrs):
        model = make_model()
        r = train_classifier(model, data["train"].clips[train_items], targets["train"][train_items], data["val"].clips,
                             targets["val"], task=task, lr=lr, settings=settings, seed=seed, device=device)
        tried.append({"lr": lr, **r})
        if best is None or _select_key(r["val_metric"], r["val_loss"]) > _select_key(best[1]["val_metric"], best[1]["val_loss"]):
            scores = logits_to_scores(_predict_logits(model, data["test"].clips, torch.device(device)), kind)
            best = (lr, r, scores)
        del model
    assert best is not None
    return {"lr": best[0], **best[1], "tried": tried, "test_scores": best[2]}


# --------------------------------------------------------------------------------------
# One task
# --------------------------------------------------------------------------------------


def chance_levels(task: str, train_targets: torch.Tensor, test_targets: torch.Tensor) -> dict[str, float]:
    """What a predictor that never looks at a clip scores on the headline metric.

    FAR: ``blind`` 0.5 (constant scores) and ``prevalence_floor``, the micro AUC of giving every
    test person the train prevalence of each attribute (micro AUC rewards knowing which
    attributes are common). FER: ``chance`` 1/6 and ``majority`` (always the most frequent
    train expression). DFD: ``chance`` 0.5.
    """
    if task == "far":
        prior = train_targets.float().mean(0).expand_as(test_targets)
        return {"blind": 0.5, "prevalence_floor": multilabel_auc(prior, test_targets, "micro")}
    if task == "fer":
        n = TASKS["fer"].num_classes
        majority = torch.full_like(test_targets, int(torch.bincount(train_targets.long(), minlength=n).argmax()))
        return {"chance": 1 / n, "majority": multiclass_accuracy(majority, test_targets)}
    return {"chance": 0.5}


def _record(task: str, method: str, regime: int | str, seed: int, n_train: int, scores: torch.Tensor, test: SplitData,
            test_targets: torch.Tensor, choice: dict[str, Any], seconds: float) -> dict[str, Any]:
    metrics = task_metrics(task, scores, test_targets)
    row = {"task": task, "method": method, "regime": _regime_key(regime), "seed": int(seed), "n_train": int(n_train),
           "n_test": len(test), "metrics": metrics, "headline": metrics[HEADLINE[task]], "choice": choice,
           "seconds": round(seconds, 2)}
    if task == "dfd":
        row["by_manipulation"] = dfd_breakdown(scores, test.labels["fake"], test.labels["manipulation"])
    return row


def _reused_records(records: Sequence[dict[str, Any]], seed: int, same: int | str, regime: int | str) -> list[dict[str, Any]]:
    """Copies of ``seed``'s records of regime ``same`` (ceiling excluded) for ``regime``, which
    labels exactly the same items: the runs are deterministic, so they are not repeated."""
    return [{**r, "regime": _regime_key(regime), "choice": {**r["choice"], "same_subset_as": _regime_key(same)}, "seconds": 0.0}
            for r in records if r["seed"] == seed and r["regime"] == _regime_key(same) and r["method"] != "ceiling"]


def evaluate_task(
    task: str,
    encoder: MarlinEncoder,
    data: Mapping[str, SplitData],
    *,
    seeds: Sequence[int],
    settings: TransferSettings,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every method x regime x seed of one task -> ``{"records": [...], "chance": ..., "timings_s": ...}``.

    One record per (method, regime, seed) (the ceiling: regime ``"all"`` only): ``n_train``,
    ``metrics`` (all the task's metrics on test), ``headline``, ``choice`` (what validation chose:
    pooling / L2, or lr / best step / candidate) and ``seconds``. ``subsets``: seed -> regime ->
    the labelled train items (indices into the train split; ``"all"`` is every item).
    """
    cfg = encoder.cfg
    targets = {s: task_targets(task, d.labels) for s, d in data.items()}
    n_out = num_outputs(task, targets["train"])
    timings: dict[str, float] = {}
    records: list[dict[str, Any]] = []
    labelled: dict[int, dict[str, list[int]]] = {}  # seed -> regime -> labelled train items

    def tick(name: str, t0: float) -> float:
        timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - t0, 2)
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    pixel = {"pixel": {s: pixel_features(d.clips, settings.pixel_size, settings.pixel_time) for s, d in data.items()}}
    pre = {s: encoder_views(encoder, d.clips, grid=settings.grid, batch_size=settings.feature_batch_size, device=device)
           for s, d in data.items()}
    pre_views = {p: {s: pre[s][p] for s in data} for p in POOLINGS}
    tick("features", t0)

    def probe(views: Mapping[str, Mapping[str, torch.Tensor]], items: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        c = select_probe(views, targets, items, task=task, l2_grid=settings.probe_l2, max_iter=settings.probe_max_iter)
        return c.test_scores, {"pooling": c.pooling, "l2": c.l2, "val_metric": c.val_metric, "val_loss": c.val_loss, "tried": c.tried}

    chosen_lr: dict[tuple[str, str], float] = {}  # (method, regime) -> the lr the first seed chose

    cnn_settings = replace(settings, ft_max_epochs=settings.cnn_max_epochs)

    def trained(make: Callable[[], nn.Module], items: torch.Tensor, seed: int, which: tuple[str, str],
                budget: TransferSettings | None = None, **extra: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        lrs = None
        if settings.ft_lr_search == "first_seed" and which in chosen_lr:
            lrs = (chosen_lr[which],)
            extra = {**extra, "lr_chosen_by_seed": seeds[0]}
        r = select_trained(make, data, targets, items, task=task, settings=budget or settings, seed=seed, device=device, lrs=lrs)
        chosen_lr.setdefault(which, r["lr"])
        keep = {k: r[k] for k in ("lr", "val_metric", "val_loss", "best_step", "steps")}
        keep["tried"] = [{k: t[k] for k in ("lr", "val_metric", "val_loss", "best_step", "steps")} for t in r["tried"]]
        return r["test_scores"], {**extra, **keep}

    def cnn(seed: int) -> Callable[[], nn.Module]:
        def make() -> nn.Module:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(task_generator(seed, "transfer", task, "cnn").initial_seed()))
                return SmallCNN3D(n_out, settings.cnn_width)
        return make

    for seed in seeds:
        t0 = time.perf_counter()
        rand_enc = random_encoder(cfg, seed)
        rand = {s: encoder_views(rand_enc, d.clips, grid=settings.grid, batch_size=settings.feature_batch_size, device=device)
                for s, d in data.items()}
        rand_views = {p: {s: rand[s][p] for s in data} for p in POOLINGS}
        tick("features", t0)
        subsets = low_data_subsets(task, targets["train"], settings.regimes, seed)
        labelled[int(seed)] = {k: v.tolist() for k, v in subsets.items() if k != "all"}
        scratch_all, scratch_runs = None, []
        done: dict[tuple[int, ...], int | str] = {}  # labelled items -> the regime that ran them
        for regime in settings.regimes:
            items = subsets[_regime_key(regime)]
            same = done.get(tuple(items.tolist()))
            if same is not None:  # e.g. k = 10 when every class has fewer: the runs are deterministic, so reuse them
                records += _reused_records(records, seed, same, regime)
                for which in ("supervised_scratch", "pretrained_finetune"):
                    if (which, _regime_key(same)) in chosen_lr:
                        chosen_lr.setdefault((which, _regime_key(regime)), chosen_lr[(which, _regime_key(same))])
                if regime == "all":
                    scratch_all = next((s for s in scratch_runs if s[0] == same), (None, None))[1]
                log(f"[{task}] seed {seed}, {_regime_label(regime)}: the same {items.numel()} items as {_regime_label(same)}")
                continue
            done[tuple(items.tolist())] = regime
            runs = {
                "pixel_probe": lambda: probe(pixel, items),
                "random_init_probe": lambda: probe(rand_views, items),
                "supervised_scratch": lambda: trained(vit_classifier(rand_enc, task, n_out, seed), items, seed, ("supervised_scratch", _regime_key(regime))),
                "pretrained_probe": lambda: probe(pre_views, items),
                "pretrained_finetune": lambda: trained(vit_classifier(encoder, task, n_out, seed), items, seed, ("pretrained_finetune", _regime_key(regime))),
            }
            line = []
            for method in METHODS[:-1]:
                t1 = time.perf_counter()
                scores, choice = runs[method]()
                rec = _record(task, method, regime, seed, items.numel(), scores, data["test"], targets["test"], choice, tick(method, t1))
                records.append(rec)
                line.append(f"{method} {rec['headline']:.3f}")
                if method == "supervised_scratch":
                    scratch_runs.append((regime, (scores, choice)))
                    if regime == "all":
                        scratch_all = (scores, choice)
            log(f"[{task}] seed {seed}, {_regime_label(regime)} (n={items.numel()}): " + ", ".join(line))
        # the ceiling: val-selected best of supervised-from-scratch and a small 3-D CNN, all labels
        t1 = time.perf_counter()
        everyone = torch.arange(len(data["train"]))
        if scratch_all is None:
            scratch_all = trained(vit_classifier(rand_enc, task, n_out, seed), everyone, seed, ("supervised_scratch", "all"))
        candidates = {"supervised_scratch": scratch_all}
        if settings.cnn_width > 0:
            candidates["cnn3d"] = trained(cnn(seed), everyone, seed, ("cnn3d", "all"), budget=cnn_settings)
        name = max(candidates, key=lambda c: _select_key(candidates[c][1]["val_metric"], candidates[c][1]["val_loss"]))
        choice = {"candidate": name, **candidates[name][1],
                  "candidates": {c: {k: v[1][k] for k in ("lr", "val_metric", "val_loss")} for c, v in candidates.items()}}
        rec = _record(task, "ceiling", "all", seed, everyone.numel(), candidates[name][0], data["test"], targets["test"], choice, tick("ceiling", t1))
        records.append(rec)
        log(f"[{task}] seed {seed}: ceiling {rec['headline']:.3f} ({name})")
    return {"records": records, "chance": chance_levels(task, targets["train"], targets["test"]), "timings_s": timings,
            "subsets": labelled}


# --------------------------------------------------------------------------------------
# LS: lip sync, a generation task
# --------------------------------------------------------------------------------------

#: ``run_lipsync``'s method names -> the harness's rows (the frozen encoders play the probes' part).
_LS_ROWS = {"copy_reference": "copy_reference", "random_init": "random_init_probe", "supervised_scratch": "supervised_scratch",
            "pretrained": "pretrained_probe", "pretrained_finetune": "pretrained_finetune"}


def load_lipsync_data(cfg: MarlinConfig, settings: TransferSettings) -> dict[str, Any]:
    """Render the LS train / val / test splits (:func:`~marlin_lite.tasks.lipsync.lipsync_splits`):
    talking SynthFace clips of ``settings.ls_clip_frames`` frames at the encoder's size, framed
    and split by person as the other tasks (``settings.world_seed``, ``split_fractions``).
    The val split is rendered for its size only: nothing is chosen in LS."""
    d = settings.data["ls"]
    return lipsync_splits(d["num_identities"], d["clips_per_identity"], splits=("train", "val", "test"), world_seed=settings.world_seed,
                          fractions=tuple(settings.split_fractions), size=cfg.img_size, num_frames=settings.ls_clip_frames,
                          framing=settings.framing, expressions=settings.expressions)


def people_subsets(identity: torch.Tensor, ks: Sequence[int | str], seed: int) -> dict[str, torch.Tensor]:
    """LS regimes: the clips of ``k`` training people (a seeded order of the people, so subsets
    are nested across ``k``; ``"all"``: every clip) -> sorted ``int64`` clip indices."""
    people = sorted(set(identity.tolist()))
    order = torch.randperm(len(people), generator=task_generator(seed, "transfer", "ls", "people")).tolist()
    out = {}
    for k in ks:
        chosen = set(people) if k == "all" else {people[i] for i in order[: min(int(k), len(people))]}
        out[_regime_key(k)] = torch.tensor(sorted(i for i, p in enumerate(identity.tolist()) if p in chosen), dtype=torch.long)
    return out


def evaluate_lipsync(
    encoder: MarlinEncoder,
    data: Mapping[str, Any],
    *,
    seeds: Sequence[int],
    settings: TransferSettings,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """LS rows for every regime and seed -> ``{"records", "chance", "timings_s", "subsets", "extra"}``
    (the shape of :func:`evaluate_task`'s answer).

    Protocol (:func:`~marlin_lite.tasks.lipsync.run_lipsync`, MARLIN's: the encoder replaces
    Wav2Lip's face encoder): two sync experts are trained once on the whole train split (one
    scores, the other drives the generators' sync loss); then per seed and regime (``k``
    training people) a generator is trained with each encoder for the same fixed budget and
    scored on the same held-out windows of the test people. Rows: ``copy_reference`` (the
    reference window's mouth, no audio), ``random_init_probe`` (random-init encoder, frozen),
    ``supervised_scratch`` (that encoder trained with the generator), ``pretrained_probe`` (the
    pretrained encoder, frozen), ``pretrained_finetune`` (trained with the generator at a tenth of
    the generator's lr) and ``ceiling`` (the real mouths: what the expert gives real video).
    Headline: how often the expert finds the true audio offset (0) on generated mouths; chance
    is ``1 / (2K + 1)``.
    """
    train, test = data["train"], data["test"]
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    experts = [train_sync_expert(train, steps=settings.ls_expert_steps, max_offset=settings.ls_max_offset, seed=s, device=device).expert
               for s in (0, 1)]
    timings["experts"] = round(time.perf_counter() - t0, 2)
    records: list[dict[str, Any]] = []
    labelled: dict[int, dict[str, list[int]]] = {}
    extra: dict[str, Any] = {}
    chance = 1.0 / (2 * settings.ls_max_offset + 1)
    for seed in seeds:
        subsets = people_subsets(train.identity, settings.regimes, seed)
        labelled[int(seed)] = {k: v.tolist() for k, v in subsets.items() if k != "all"}
        done: dict[tuple[int, ...], str] = {}
        for regime in settings.regimes:
            key = _regime_key(regime)
            items = subsets[key]
            same = done.get(tuple(items.tolist()))
            if same is not None:
                records += _reused_records(records, seed, same, regime)
                continue
            done[tuple(items.tolist())] = key
            art: dict[str, Any] = {}
            table = run_lipsync(
                encoder, seeds=(seed,), methods=tuple(_LS_ROWS), data={"train": train.subset(items), "test": test},
                max_offset=settings.ls_max_offset, expert=experts[0], loss_expert=experts[1], steps=settings.ls_steps,
                batch_size=settings.ls_batch_size, lr=settings.ls_lr, sync_weight=settings.ls_sync_weight,
                num_eval_windows=settings.ls_eval_windows, artifacts=art, device=device,
            )
            line = []
            for row in table:
                if row["method"] == "sync_expert":
                    extra.setdefault("expert", {k: row[k] for k in ("sync_offset_acc", "sync_offset_acc_pm1", "n_test")})
                    continue
                if row["method"] == "ground_truth":
                    extra.setdefault("real", {k: row[k] for k in ("sync_offset_acc", "sync_distance", "sync_confidence")})
                    continue
                method = _LS_ROWS[row["method"]]
                metrics = {k: float(v) for k, v in row.items() if k not in ("task", "method", "encoder", "seed", "n_train", "n_test", "chance")}
                seconds = art["seconds"][f"{row['method']}/{seed}"]
                timings[method] = round(timings.get(method, 0.0) + seconds, 2)
                records.append({"task": "ls", "method": method, "regime": key, "seed": int(seed), "n_train": len(items),
                                "n_test": int(row["n_test"]), "metrics": metrics, "headline": metrics[HEADLINE["ls"]],
                                "choice": {"encoder": row["encoder"]}, "seconds": round(seconds, 2)})
                line.append(f"{method} {metrics[HEADLINE['ls']]:.3f}")
            log(f"[ls] seed {seed}, {len({int(p) for p in train.identity[items]})} people ({len(items)} clips): " + ", ".join(line))
        real = extra["real"]
        records.append({"task": "ls", "method": "ceiling", "regime": "all", "seed": int(seed), "n_train": len(train),
                        "n_test": settings.ls_eval_windows, "headline": real["sync_offset_acc"],
                        "metrics": {**real, "psnr_lower": math.nan}, "choice": {"candidate": "real video"}, "seconds": 0.0})
    return {"records": records, "chance": {"chance": chance}, "timings_s": timings, "subsets": labelled, "extra": extra}


# --------------------------------------------------------------------------------------
# The whole evaluation
# --------------------------------------------------------------------------------------


def summarize(records: Sequence[dict[str, Any]], level: float = 0.95) -> dict[str, Any]:
    """Means with t-intervals per (task, method, regime) and the paired differences of
    :data:`COMPARISONS` per (task, regime), from per-seed records.

    Returns ``{"cells": [...], "differences": [...]}``: a cell holds ``task``, ``method``,
    ``regime``, ``metric``, ``per_seed`` (seed -> value) and the :func:`t_interval` numbers; a
    difference holds ``task``, ``regime``, ``a``, ``b``, ``metric`` and :func:`paired_difference`'s.
    Cells exist for the headline and the secondary metric (``metric`` says which).
    """
    groups: dict[tuple[str, str, str], dict[int, dict[str, float]]] = {}
    for r in records:
        groups.setdefault((r["task"], r["method"], r["regime"]), {})[r["seed"]] = r["metrics"]
    cells = []
    for (task, method, regime), by_seed in groups.items():
        for metric in (HEADLINE[task], SECONDARY[task]):
            per_seed = {s: m[metric] for s, m in by_seed.items()}
            cells.append({"task": task, "method": method, "regime": regime, "metric": metric, "per_seed": per_seed,
                          **t_interval(list(per_seed.values()), level)})
    diffs = []
    for task, regime in dict.fromkeys((t, g) for t, _, g in groups):
        for a, b in COMPARISONS:
            if (task, a, regime) in groups and (task, b, regime) in groups:
                m = HEADLINE[task]
                va = {s: v[m] for s, v in groups[(task, a, regime)].items()}
                vb = {s: v[m] for s, v in groups[(task, b, regime)].items()}
                diffs.append({"task": task, "regime": regime, "a": a, "b": b, "metric": m, **paired_difference(va, vb, level)})
    return {"cells": cells, "differences": diffs, "level": level}


def run_transfer(
    encoder: MarlinEncoder | MarlinAutoencoder,
    *,
    tasks: Sequence[str] = tuple(TASKS),
    seeds: Sequence[int] = (0, 1, 2),
    settings: TransferSettings | None = None,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Evaluate a pretrained encoder on ``tasks`` over ``seeds`` -> a JSON-friendly dict.

    Keys: ``records`` (one per task, method, regime and seed), ``summary``
    (:func:`summarize`), ``chance``, ``data`` (split sizes) and ``subsets`` (the labelled
    items) per task, ``settings``, ``seeds``, ``tasks``, ``model`` and ``timings_s``. The encoder is not modified (fine-tuning works on
    copies).
    """
    settings = (settings or TransferSettings()).validate(tasks)
    bad = [t for t in tasks if t not in ALL_TASKS]
    if bad or not tasks:
        raise ValueError(f"tasks must be a non-empty subset of {ALL_TASKS}, got {tuple(tasks)}")
    if not seeds or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct non-negative ints, e.g. (0, 1, 2); got {tuple(seeds)}")
    enc = copy.deepcopy(as_encoder(encoder)).cpu().eval()
    records, chance, sizes, timings, subsets, extra = [], {}, {}, {}, {}, {}
    for task in tasks:
        t0 = time.perf_counter()
        data = load_lipsync_data(enc.cfg, settings) if task == "ls" else load_task_data(task, enc.cfg, settings)
        t_data = time.perf_counter() - t0
        sizes[task] = {**settings.data[task], **{s: len(d) for s, d in data.items()}}
        log(f"[{task}] data: " + ", ".join(f"{s} {len(d)}" for s, d in data.items()) + f" clips ({t_data:.0f} s)")
        evaluate = evaluate_lipsync if task == "ls" else partial(evaluate_task, task)
        out = evaluate(enc, data, seeds=seeds, settings=settings, device=device, log=log)
        records += out["records"]
        chance[task] = out["chance"]
        subsets[task] = out["subsets"]
        if out.get("extra"):
            extra[task] = out["extra"]
        timings[task] = {"data": round(t_data, 2), **out["timings_s"], "total": round(time.perf_counter() - t0, 2)}
    return {"records": records, "summary": summarize(records), "chance": chance, "data": sizes, "settings": settings.to_dict(),
            "seeds": list(seeds), "tasks": list(tasks), "timings_s": timings, "model": enc.cfg.to_dict(), "subsets": subsets,
            "extra": extra}


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _jsonable(obj: Any) -> Any:
    """JSON-friendly copy: tuples -> lists, tensors -> lists, non-finite floats -> None, keys -> str."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.floating, np.integer)):
        return _jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _num(v: Any, digits: int = 3, sign: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def _cell(c: Mapping[str, Any] | None) -> str:
    if c is None:
        return "—"
    if c["n"] == 0:
        return "n/a"
    if c["n"] == 1 or c["half_width"] is None or not math.isfinite(c["half_width"]):
        return _num(c["mean"])
    return f"{_num(c['mean'])} ± {_num(c['half_width'])}"


def _interval(d: Mapping[str, Any]) -> str:
    if d["n"] < 2:
        return f"{_num(d['mean'], sign=True)} (one seed: no interval)"
    return f"{_num(d['mean'], sign=True)} [{_num(d['lo'], sign=True)}, {_num(d['hi'], sign=True)}]"


def _phrase(d: Mapping[str, Any] | None, a: str, b: str) -> str:
    """A clause generated from one paired difference."""
    if d is None or d["n"] == 0:
        return f"{a} vs {b}: not measured"
    if d["n"] < 2:
        return f"{a} differs from {b} by {_num(d['mean'], sign=True)} (one seed, no interval)"
    word = {"> 0": "beats", "< 0": "falls short of", "n.s.": "cannot be told apart from"}[verdict(d["lo"], d["hi"])]
    return f"{a} {word} {b} ({_interval(d)})"


def conclusion(task: str, summary: Mapping[str, Any], regimes: Sequence[int | str]) -> str:
    """One sentence about a task, generated from the summary's paired differences and cells.

    It covers the pretrained probe against the random-init probe and against scratch with all
    labels (the largest regime run), fine-tuning against scratch with the fewest labels, and the
    measured ceiling.
    """
    diffs = {(d["regime"], d["a"], d["b"]): d for d in summary["differences"] if d["task"] == task}
    cells = {(c["method"], c["regime"]): c for c in summary["cells"] if c["task"] == task and c["metric"] == HEADLINE[task]}
    keys = [_regime_key(r) for r in regimes]
    most, fewest = keys[-1], keys[0]
    if task == "ls":
        probe, rand, scratch = ("the generator on the frozen pretrained encoder", "the same generator on a frozen random-init encoder",
                                "the same generator with an encoder trained from scratch")
        most_words = "all training people" if regimes[-1] == "all" else f"{regimes[-1]} training people"
        few_words = f"{regimes[0]} training {'person' if regimes[0] == 1 else 'people'}"
    else:
        probe, rand, scratch = "the pretrained probe", "the random-init probe", "supervised training from scratch"
        most_words = _regime_label(regimes[-1])
        few_words = f"{regimes[0]} labelled example{'s' if regimes[0] != 1 else ''} per class"
    parts = [
        f"with {most_words}, " + _phrase(diffs.get((most, "pretrained_probe", "random_init_probe")), probe, rand),
        _phrase(diffs.get((most, "pretrained_probe", "supervised_scratch")), probe, scratch),
    ]
    if fewest != most:
        parts.append(f"with {few_words}, "
                     + _phrase(diffs.get((fewest, "pretrained_finetune", "supervised_scratch")), "the fine-tuned pretrained encoder",
                               "scratch"))
    ceiling = cells.get(("ceiling", "all"))
    text = f"{task.upper()} ({METRIC_NAMES[HEADLINE[task]]}): " + "; ".join(parts)
    if ceiling is not None and ceiling["n"]:
        text += (f"; real mouths score {_cell(ceiling)}" if task == "ls" else f"; the supervised ceiling with all labels is {_cell(ceiling)}")
    return text + "."


def render_markdown(results: Mapping[str, Any], provenance: Mapping[str, Any]) -> str:
    """The report: header (what was run), one table per task (headline and secondary metric),
    the paired differences with intervals, and generated conclusions."""
    summary = results["summary"]
    settings = results["settings"]
    regimes = [r if r == "all" else int(r) for r in settings["regimes"]]
    keys = [_regime_key(r) for r in regimes]
    n_seeds = len(results["seeds"])
    t_used = t_quantile((1 + summary["level"]) / 2, n_seeds - 1) if n_seeds > 1 else math.nan
    lines = [
        "# Does MARLIN-lite pretraining transfer? SynthFace downstream results",
        "",
        "*Written by `python -m marlin_lite.transfer`; every number and sentence below comes from the run it describes "
        "(the JSON beside this file holds each per-seed number). Do not edit by hand: rerun the command.*",
        "",
        f"- **command**: `{provenance['command']}`",
        f"- **commit**: `{provenance.get('git_commit') or 'unknown'}`" + (" (with uncommitted changes)" if provenance.get("git_dirty") else ""),
        f"- **encoder**: `{provenance['encoder']}`, SHA-256 `{provenance['encoder_sha256']}` "
        f"(preset `{results['model'].get('name')}`, {results['model']['num_frames']} frames of {results['model']['img_size']} px)",
        f"- **date**: {provenance['date']}; **time taken**: {provenance['elapsed_s']:.0f} s on {provenance['machine']}",
        f"- **versions**: " + ", ".join(f"{k} {v}" for k, v in sorted(provenance["versions"].items())),
        f"- **seeds**: {' '.join(str(s) for s in results['seeds'])} (a seed draws the labelled subsets, the random encoder and every "
        "trained head's initialisation)" + (" — **quick mode: toy sizes, not for conclusions**" if provenance.get("quick") else ""),
        _pretraining_line(provenance.get("pretraining"), settings),
        f"- **data**: SynthFace world {settings['world_seed']}, framing "
        f"`{settings['framing']}`, expressions `{settings['expressions']}`, split by person "
        f"{'/'.join(f'{f:g}' for f in settings['split_fractions'])}; "
        + "; ".join(f"{t.upper()}: {d['num_identities']} people x {d['clips_per_identity']} clips"
                    + (f" ({d['fake_fraction']:.0%} fake)" if d.get("fake_fraction") else "")
                    + f" = {d['train']}/{d['val']}/{d['test']} train/val/test" for t, d in results["data"].items()),
        f"- **regimes**: k labelled train examples per class (FER: per expression; DFD: k real + k fake videos; FAR: people "
        "added greedily until each attribute has k positives) and all labels; subsets nested across k"
        + ("; LS: the clips of k training people, and all of them" if "ls" in results["tasks"] else ""),
        f"- **selection**: on the validation split only (all its labels, in every regime): probe pooling "
        f"({'/'.join(POOLINGS)}, grid = {settings['grid']}x{settings['grid']} regions x time mean) and L2 in "
        f"{{{', '.join(f'{v:g}' for v in settings['probe_l2'])}}} (full-batch L-BFGS, features standardised with the whole "
        f"train split's statistics); fine-tuning lr in {{{', '.join(f'{v:g}' for v in settings['ft_lrs'])}}} "
        + ("(searched by the first seed per task, method and regime, then reused by the other seeds; "
           if settings.get("ft_lr_search") == "first_seed" else "(searched by every seed; ")
        + f"AdamW, weight decay "
        f"{settings['ft_weight_decay']:g}, batch {settings['ft_batch_size']}, up to max({settings['ft_min_steps']}, "
        f"{settings['ft_max_epochs']} epochs) steps"
        + (f" (at most {settings['ft_max_steps']})" if settings.get("ft_max_steps") else "")
        + f", {settings['ft_evals']} validation checks, patience {settings['ft_patience']}, "
        "best check's weights kept); the test split is only scored",
        *([f"- **LS protocol**: MARLIN's (the encoder replaces Wav2Lip's face encoder): two sync experts trained once on the "
           f"whole train split ({settings['ls_expert_steps']} steps each; one scores, the other drives the generators' sync loss, "
           f"weight {settings['ls_sync_weight']:g}); per seed and regime every generator trains {settings['ls_steps']} Adam steps of "
           f"{settings['ls_batch_size']} windows at lr {settings['ls_lr']:g} (a trained encoder: the same lr from scratch, a tenth "
           f"when fine-tuned); nothing is chosen on validation; all are scored on the same {settings['ls_eval_windows']} held-out "
           f"windows of {results['model']['num_frames']} frames (clips of {settings['ls_clip_frames']} frames, audio shifts "
           f"-{settings['ls_max_offset']} .. +{settings['ls_max_offset']}); headline: how often the expert finds offset 0 on the "
           "generated mouths"] if "ls" in results["tasks"] else []),
        f"- **pixel probe**: each clip average-pooled to {settings['pixel_time']} frame groups x {settings['pixel_size']}x"
        f"{settings['pixel_size']} pixels x RGB ({3 * settings['pixel_time'] * settings['pixel_size'] ** 2} numbers)",
        f"- **ceiling**: per seed, the validation-best of supervised-from-scratch with all labels and a small 3-D CNN "
        f"(width {settings['cnn_width']}, up to {settings.get('cnn_max_epochs', settings['ft_max_epochs'])} epochs, same lr grid "
        "and early stopping) from scratch" if settings["cnn_width"] else
        "- **ceiling**: per seed, supervised-from-scratch with all labels",
        f"- **intervals**: mean ± half-width of the {summary['level']:.0%} t-interval over {n_seeds} seed(s)"
        + (f" (t = {t_used:.3f}, df = {n_seeds - 1})" if n_seeds > 1 else " (one seed: none)")
        + "; they reflect the seeds (which examples are labelled, initialisation), not the sampling of the fixed test split",
        "",
    ]
    cells = {(c["task"], c["method"], c["regime"], c["metric"]): c for c in summary["cells"]}
    for task in results["tasks"]:
        chance = results["chance"][task]
        lines += [f"## {TASK_TITLES[task]}", ""]
        floors = ", ".join(f"{k.replace('_', ' ')} {_num(v)}" for k, v in chance.items())
        lines += [f"Floors that never look at a clip (headline metric): {floors}.", ""]
        for metric in (HEADLINE[task], SECONDARY[task]):
            head = "| method | " + " | ".join(_regime_label(r) for r in regimes) + " |"
            lines += [f"**{METRIC_NAMES[metric]}** ({'headline' if metric == HEADLINE[task] else 'secondary'}, test split)", "",
                      head, "|---" * (len(regimes) + 1) + "|"]
            for method in TASK_METHODS[task]:
                row = [_cell(cells.get((task, method, k, metric))) for k in keys]
                lines.append(f"| {method_label(task, method)} | " + " | ".join(row) + " |")
            lines.append("")
        if task == "ls" and results.get("extra", {}).get("ls"):
            ex = results["extra"]["ls"]
            lines += [f"The scoring expert finds the true offset of real held-out clips in {_num(ex['expert']['sync_offset_acc'])} "
                      f"of {ex['expert']['n_test']} windows ({_num(ex['expert']['sync_offset_acc_pm1'])} within one frame); the real "
                      f"mouths of the scored windows: {_num(ex['real']['sync_offset_acc'])} (the ceiling row, the same for every seed). "
                      "Copying the reference window's mouth ignores the audio: its score is the no-learning floor.", ""]
        n_train = {}
        for r in results["records"]:
            if r["task"] == task and r["method"] == "pretrained_probe":
                n_train.setdefault(r["regime"], []).append(r["n_train"])
        if n_train:
            spans = [f"{_regime_label(k if k == 'all' else int(k))}: " + (f"{min(v)}" if min(v) == max(v) else f"{min(v)}-{max(v)}")
                     for k, v in n_train.items()]
            what = "Training clips" if task == "ls" else "Labelled train items"
            lines += [f"{what} per regime (over seeds): " + "; ".join(spans) + ".", ""]
        picks = _choices(results["records"], task, settings["ft_lrs"])
        if picks:
            lines += ["Chosen on validation (counts over regimes and seeds): " + "; ".join(picks) + ".", ""]
    lines += ["## Paired differences (headline metric, per seed, then mean [95 % t-interval])", "",
              "| task | regime | difference | per seed | mean [interval] | sign |", "|---|---|---|---|---|---|"]
    for d in summary["differences"]:
        per = ", ".join(_num(v, sign=True) for v in d["per_seed"].values())
        lines.append(f"| {d['task'].upper()} | {_regime_label(d['regime'] if d['regime'] == 'all' else int(d['regime']))} | "
                     f"{method_label(d['task'], d['a'])} − {method_label(d['task'], d['b'])} | {per} | {_interval(d)} | "
                     f"{verdict(d['lo'], d['hi'])} |")
    lines += ["", "## Conclusions (generated from the numbers above)", ""]
    lines += [f"- {conclusion(task, summary, regimes)}" for task in results["tasks"]]
    return "\n".join(lines) + "\n"


def _pretraining_line(pre: Mapping[str, Any] | None, settings: Mapping[str, Any]) -> str:
    """What the encoder was pretrained on, and whether its people overlap the evaluation's."""
    if not pre:
        return "- **pretraining**: unknown (no config in the checkpoint)"
    text = (f"- **pretraining**: {pre['step']} steps of `{pre['model']}`, {pre['mask_strategy']} masking at {pre['mask_ratio']:g}, on "
            + (f"the clip store `{pre['data_path']}`" if pre.get("data_path") else
               f"SynthFace world {pre['world_seed']} ({pre['num_identities']} people x {pre['clips_per_identity']} clips, framing "
               f"`{pre['framing']}`, expressions `{pre['expressions']}`)"))
    if pre.get("data_path"):
        return text
    if pre["world_seed"] == settings["world_seed"]:
        return text + f"; **warning: the evaluation uses the same world ({settings['world_seed']}): its people may have been seen in pretraining**"
    return text + f"; the evaluation's people (world {settings['world_seed']}) were never seen in pretraining"


def _choices(records: Sequence[dict[str, Any]], task: str, lrs: Sequence[float] = ()) -> list[str]:
    """Counts of what validation chose, e.g. ``pretrained probe: grid 10, mean 2`` and, for the
    trained methods, their learning rates (``lr 0.001 x4``), flagged when a choice sits at an end of
    ``lrs`` (the grid may not reach the best rate)."""
    if task == "ls":  # nothing is chosen in LS
        return []
    out = []
    for method in ("random_init_probe", "pretrained_probe", "ceiling"):
        key = "candidate" if method == "ceiling" else "pooling"
        counts: dict[str, int] = {}
        for r in records:
            if r["task"] == task and r["method"] == method and key in r["choice"]:
                counts[r["choice"][key]] = counts.get(r["choice"][key], 0) + 1
        if counts:
            out.append(f"{METHOD_LABELS[method]}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for method in ("supervised_scratch", "pretrained_finetune"):
        picked: dict[float, int] = {}
        for r in records:
            if r["task"] == task and r["method"] == method and "lr" in r["choice"] and "same_subset_as" not in r["choice"]:
                picked[float(r["choice"]["lr"])] = picked.get(float(r["choice"]["lr"]), 0) + 1
        if picked:
            text = f"{METHOD_LABELS[method]}: " + ", ".join(f"lr {k:g} x{v}" for k, v in sorted(picked.items()))
            edge = sum(v for k, v in picked.items() if lrs and len(lrs) > 1 and k in (min(lrs), max(lrs)))
            if edge:
                text += f" ({edge} of {sum(picked.values())} at an end of the lr grid)"
            out.append(text)
    return out


def git_state(path: str | Path | None = None) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the git checkout holding ``path`` (default: this package), or
    ``(None, None)`` where there is none."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                text=True, timeout=10)
        return commit.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None, None


def versions() -> dict[str, str]:
    """Versions of Python and the packages the numbers depend on."""
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "marlin_lite": marlin_lite.__version__}


def write_report(results: Mapping[str, Any], provenance: Mapping[str, Any], out: str | Path) -> tuple[Path, Path]:
    """Write the Markdown report to ``out`` and the JSON (``results`` + ``provenance``) beside it
    (same name, ``.json``), both atomically. Returns both paths."""
    out = Path(out)
    md_path, json_path = out, out.with_suffix(".json")
    if md_path == json_path:
        raise ValueError(f"--out must not end in .json (the JSON goes beside the Markdown), got {out}")
    atomic_write_bytes(json_path, json_bytes(_jsonable({"provenance": provenance, **results})))
    atomic_write_bytes(md_path, render_markdown(_jsonable(results), provenance).encode())
    return md_path, json_path


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a report's JSON (what :func:`write_report` wrote beside the Markdown).

    Accepts the Markdown path too (the JSON beside it is read). Raises ``FileNotFoundError``
    naming the file and the command that writes it, and ``ValueError`` when the file is not a
    transfer report.
    """
    path = Path(path)
    json_path = path.with_suffix(".json")
    if not json_path.is_file():
        raise FileNotFoundError(f"no transfer results at {json_path}; write them with "
                                f"`python -m marlin_lite.transfer --encoder CKPT --out {json_path.with_suffix('.md')}`")
    import json

    try:
        results = json.loads(json_path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{json_path} is not valid JSON ({err}); rerun the transfer command to rewrite it") from err
    missing = [k for k in ("summary", "settings", "tasks", "seeds", "provenance") if k not in results]
    if missing:
        raise ValueError(f"{json_path} is not a marlin_lite.transfer report (missing {missing})")
    return results


def task_rows(results: Mapping[str, Any], task: str, metric: str | None = None) -> list[dict[str, Any]]:
    """The cells of one task and metric (default: the headline), in table order.

    Returns one dict per (method, regime) that was run: ``method``, ``label``, ``regime``,
    ``mean``, ``half_width``, ``lo``, ``hi`` (the t-interval; ``None`` or NaN with one seed),
    ``n`` (seeds) and ``per_seed``.
    """
    if task not in results.get("tasks", ()):
        raise ValueError(f"task {task!r} is not in these results (they have {results.get('tasks')})")
    metric = metric or HEADLINE[task]
    order = {m: i for i, m in enumerate(TASK_METHODS.get(task, METHODS))}
    regimes = [_regime_key(r) for r in results["settings"]["regimes"]]
    rows = []
    for c in results["summary"]["cells"]:
        if c["task"] == task and c["metric"] == metric:
            rows.append({"method": c["method"], "label": method_label(task, c["method"]), "regime": c["regime"],
                         "mean": c["mean"], "half_width": c.get("half_width"), "lo": c.get("lo"), "hi": c.get("hi"),
                         "n": c["n"], "per_seed": c["per_seed"]})
    rows.sort(key=lambda r: (order.get(r["method"], len(order)), regimes.index(r["regime"]) if r["regime"] in regimes else 99))
    return rows


def task_table(results: Mapping[str, Any], task: str, metric: str | None = None) -> str:
    """A plain-text table of one task (methods x regimes, mean ± t half-width over seeds) with
    its floors and seeds: what a lesson prints from the committed report."""
    metric = metric or HEADLINE[task]
    regimes = [r if r == "all" else int(r) for r in results["settings"]["regimes"]]
    cells = {(r["method"], r["regime"]): r for r in task_rows(results, task, metric)}
    methods = TASK_METHODS.get(task, METHODS)
    width = max(len(method_label(task, m)) for m in methods)
    head = f"{'':{width}s}" + "".join(f"{_regime_label(r):>16s}" for r in regimes)
    lines = [f"{TASK_TITLES[task]}: {METRIC_NAMES[metric]} on the test people, mean ± 95 % t half-width over seeds "
             f"{', '.join(str(s) for s in results['seeds'])}", head]
    for m in methods:
        if any((m, _regime_key(r)) in cells for r in regimes):
            row = []
            for r in regimes:
                c = cells.get((m, _regime_key(r)))
                row.append(_cell(c) if c else "—")
            lines.append(f"{method_label(task, m):{width}s}" + "".join(f"{v:>16s}" for v in row))
    floors = ", ".join(f"{k.replace('_', ' ')} {_num(v)}" for k, v in results["chance"][task].items())
    lines.append(f"floors (never look at a clip): {floors}")
    return "\n".join(lines)


def task_differences(results: Mapping[str, Any], task: str) -> list[dict[str, Any]]:
    """The paired differences of one task (headline metric): ``label``, ``regime``, ``mean``,
    ``lo``, ``hi``, ``n``, ``per_seed`` and ``verdict`` (``"> 0"``, ``"< 0"`` or ``"n.s."``)."""
    out = []
    for d in results["summary"]["differences"]:
        if d["task"] == task:
            out.append({"label": f"{method_label(task, d['a'])} − {method_label(task, d['b'])}", "a": d["a"], "b": d["b"],
                        "regime": d["regime"], "mean": d["mean"], "lo": d.get("lo"), "hi": d.get("hi"), "n": d["n"],
                        "per_seed": d["per_seed"], "verdict": verdict(d.get("lo"), d.get("hi"))})
    return out


def differences_table(results: Mapping[str, Any], task: str) -> str:
    """The paired differences of one task as text: per regime, each comparison's mean and 95 %
    t-interval over seeds and its sign (``> 0``, ``< 0`` or ``n.s.``)."""
    rows = task_differences(results, task)
    width = max((len(d["label"]) for d in rows), default=10)
    lines = [f"{TASK_TITLES[task]}: paired differences of {METRIC_NAMES[HEADLINE[task]]} (same seed, same labelled items)"]
    for d in rows:
        regime = _regime_label(d["regime"] if d["regime"] == "all" else int(d["regime"]))
        lines.append(f"{regime:>10s}  {d['label']:{width}s}  {_interval(d):>26s}  {d['verdict']}")
    return "\n".join(lines)


def plot_task(ax, results: Mapping[str, Any], task: str, methods: Sequence[str] | None = None, metric: str | None = None) -> None:
    """Draw one task's results into a matplotlib ``ax``: the headline metric (or ``metric``)
    against the number of labels, one line per method with its 95 % t-interval as error bars,
    and (for the headline metric) the best floor that never looks at a clip as a dashed line."""
    metric = metric or HEADLINE[task]
    methods = list(methods or TASK_METHODS.get(task, METHODS))
    regimes = [_regime_key(r) for r in results["settings"]["regimes"]]
    rows = task_rows(results, task, metric)
    for i, m in enumerate(methods):
        pts = [(regimes.index(r["regime"]), r) for r in rows if r["method"] == m and r["regime"] in regimes]
        if not pts:
            continue
        xs = np.array([x for x, _ in pts], dtype=float) + (i - (len(methods) - 1) / 2) * 0.05  # a small offset per method
        ys = np.array([r["mean"] for _, r in pts], dtype=float)
        err = np.array([0.0 if r["half_width"] is None or not math.isfinite(r["half_width"]) else r["half_width"] for _, r in pts])
        style = dict(marker="o", capsize=3, label=method_label(task, m))
        if len(pts) == 1:
            style.update(marker="*", markersize=11, linestyle="none")
        ax.errorbar(xs, ys, yerr=err, **style)
    if metric == HEADLINE[task]:  # the floors are computed for the headline metric
        floor = max(v for v in results["chance"][task].values() if v is not None)
        ax.axhline(floor, color="0.5", linestyle="--", linewidth=1, label="best blind floor")
    ax.set_xticks(range(len(regimes)), [_regime_label(r if r == "all" else int(r)) for r in regimes])
    ax.set_xlabel("training people" if task == "ls" else "labelled training examples (per class)")
    ax.set_ylabel(METRIC_NAMES[metric])
    ax.set_title(f"{TASK_TITLES[task]}: {len(results['seeds'])} seeds, mean and 95 % t-interval", fontsize=10)


def show_task_report(path: str | Path, task: str, *, encoder_sha256: str | None = None) -> dict[str, Any]:
    """What a lesson shows of the committed report for its ``task``: the command and commit that
    made it, :func:`task_table`, :func:`plot_task` (a figure) and :func:`differences_table`.

    ``encoder_sha256``, when given, must be the report's encoder (``ValueError`` otherwise: the
    report would be about another checkpoint). Returns the report (:func:`load_results`).
    """
    import matplotlib.pyplot as plt

    results = load_results(path)
    prov = results["provenance"]
    if encoder_sha256 is not None and prov["encoder_sha256"] != encoder_sha256:
        raise ValueError(f"{path} was made with encoder {prov['encoder_sha256'][:16]}..., not {encoder_sha256[:16]}...: "
                         "rerun its command with this checkpoint")
    print(prov["command"])
    print(f"commit {prov['git_commit'][:12]}, encoder sha256 {prov['encoder_sha256'][:16]}..., seeds {results['seeds']}")
    print()
    print(task_table(results, task))
    fig, ax = plt.subplots(figsize=(8, 4))
    plot_task(ax, results, task)
    ax.legend(fontsize=7, loc="best")
    plt.show()
    print(differences_table(results, task))
    return results


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``prog: error: message``), exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> _Parser:
    p = _Parser(prog="python -m marlin_lite.transfer", description=__doc__.splitlines()[0])
    p.add_argument("--encoder", required=True, help="a MARLIN-lite pretraining checkpoint (checkpoint.pt of marlin_lite.pretrain)")
    p.add_argument("--out", default="docs/results.md", help="the Markdown report; the JSON goes beside it (.json)")
    p.add_argument("--seeds", nargs="+", default=["0", "1", "2"], help="seeds (non-negative ints), default 0 1 2")
    p.add_argument("--tasks", nargs="+", default=list(ALL_TASKS), help=f"any of {' '.join(ALL_TASKS)} (default all)")
    p.add_argument("--quick", action="store_true", help="toy sizes and budgets (seconds): a smoke test, not results")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, auto, ...")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--jobs", type=int, default=1,
                   help="run the tasks in this many processes at once (each with --threads, default 1 then); the tasks "
                        "are independent, so the numbers are those of one process at the same thread count")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def merge_results(parts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One results dict from runs of disjoint task sets with the same settings, seeds and model
    (what ``--jobs`` makes); the summary is computed again over all records. ``ValueError`` when
    the parts cannot belong to one report."""
    if not parts:
        raise ValueError("nothing to merge")
    first = parts[0]
    for part in parts[1:]:
        for key in ("settings", "seeds", "model"):
            if part[key] != first[key]:
                raise ValueError(f"cannot merge: the parts differ in {key}")
    tasks = [t for part in parts for t in part["tasks"]]
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"cannot merge: a task appears twice ({tasks})")
    records = [r for part in parts for r in part["records"]]
    merged = {"records": records, "summary": summarize(records), "settings": first["settings"], "seeds": first["seeds"],
              "tasks": tasks, "model": first["model"]}
    for key in ("chance", "data", "subsets", "timings_s", "extra"):
        merged[key] = {k: v for part in parts for k, v in part.get(key, {}).items()}
    return merged


def _run_parallel(args: Sequence[str], tasks: Sequence[str], jobs: int, threads: int, quiet: bool) -> dict[str, Any]:
    """Run each task as its own ``python -m marlin_lite.transfer`` process (at most ``jobs`` at once)
    and merge their results; a failed task stops the whole run with its exit status."""
    import subprocess
    import tempfile

    base, skip = [], False
    for i, arg in enumerate(args):  # the parent's arguments without --out, --tasks, --jobs, --threads
        if skip:
            if arg.startswith("--"):
                skip = False
            else:
                continue
        if arg in ("--out", "--tasks", "--jobs", "--threads"):
            skip = True
            continue
        base.append(arg)
    with tempfile.TemporaryDirectory(prefix="transfer_jobs_") as tmp:
        pending, running, parts = list(tasks), [], {}
        while pending or running:
            while pending and len(running) < jobs:
                task = pending.pop(0)
                cmd = [sys.executable, "-m", "marlin_lite.transfer", *base, "--tasks", task, "--threads", str(threads),
                       "--out", str(Path(tmp) / f"{task}.md")]
                running.append((task, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if quiet else None)))
            time.sleep(0.5)
            for task, proc in list(running):
                if proc.poll() is not None:
                    running.remove((task, proc))
                    if proc.returncode != 0:
                        for _, other in running:
                            other.kill()
                        raise RuntimeError(f"the {task} process failed (exit status {proc.returncode}); run it alone with --tasks {task}")
                    parts[task] = load_results(Path(tmp) / f"{task}.json")
        for part in parts.values():
            part.pop("provenance", None)
        return merge_results([parts[t] for t in tasks])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m marlin_lite.transfer --encoder PATH [--out docs/results.md] [--seeds 0 1 2]
    [--tasks far fer dfd] [--quick]``. Bad arguments exit with code 2 and a one-line message
    naming the argument."""
    args = list(sys.argv[1:] if argv is None else argv)
    p = _parser()
    a = p.parse_args(args)
    try:
        seeds = [int(s) for s in a.seeds]
    except ValueError:
        p.error(f"--seeds: expected non-negative integers, got {' '.join(a.seeds)}")
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        p.error(f"--seeds: expected distinct non-negative integers, got {' '.join(a.seeds)}")
    unknown = [t for t in a.tasks if t not in ALL_TASKS]
    if unknown:
        p.error(f"--tasks: unknown task(s) {' '.join(unknown)}; choose from {' '.join(ALL_TASKS)}")
    tasks = list(dict.fromkeys(a.tasks))
    if Path(a.out).suffix == ".json":
        p.error(f"--out: give the Markdown path (the JSON goes beside it), got {a.out}")
    if a.threads is not None:
        if a.threads < 1:
            p.error(f"--threads: expected an integer >= 1, got {a.threads}")
        torch.set_num_threads(a.threads)
    if a.jobs < 1:
        p.error(f"--jobs: expected an integer >= 1, got {a.jobs}")
    encoder_path = Path(a.encoder)
    if not encoder_path.is_file():
        p.error(f"--encoder: no checkpoint file at {encoder_path}")
    try:
        model = model_from_checkpoint(encoder_path)
        ckpt = load_checkpoint(encoder_path)
        pre_cfg = saved_config(ckpt, encoder_path)
    except (ValueError, FileNotFoundError) as err:
        p.error(f"--encoder: {' '.join(str(err).split())}")
    pretraining = {k: getattr(pre_cfg, k) for k in ("model", "world_seed", "framing", "expressions", "num_identities",
                                                     "clips_per_identity", "mask_strategy", "mask_ratio", "max_steps", "data_path")}
    pretraining["step"] = int(ckpt.get("step", -1))
    del ckpt
    try:
        device = pick_device(a.device)
        torch.empty(0, device=device)
    except Exception as err:  # noqa: BLE001 (a CPU-only build raises AssertionError for cuda)
        p.error(f"--device: {a.device!r} is not usable here ({' '.join(str(err).split())[:200]})")
    settings = TransferSettings.quick() if a.quick else TransferSettings()
    log = (lambda s: None) if a.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    if a.jobs > 1 and len(tasks) > 1:
        try:
            results = _run_parallel(args, tasks, a.jobs, a.threads or 1, a.quiet)
        except RuntimeError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    else:
        results = run_transfer(model, tasks=tasks, seeds=seeds, settings=settings, device=device, log=log)
    commit, dirty = git_state()
    provenance = {
        "command": "python -m marlin_lite.transfer " + shlex.join(args),
        "argv": args,
        "encoder": str(encoder_path),
        "encoder_sha256": sha256_file(encoder_path),
        "pretraining": pretraining,
        "quick": bool(a.quick),
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": versions(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "elapsed_s": round(time.perf_counter() - t0, 1),
        "machine": f"{platform.machine()}, device {device}, "
                   + (f"{a.jobs} processes of {a.threads or 1} torch threads" if a.jobs > 1 and len(tasks) > 1
                      else f"{torch.get_num_threads()} torch threads"),
    }
    md, js = write_report(results, provenance, a.out)
    if not a.quiet:
        print(f"wrote {md} and {js} ({provenance['elapsed_s']:.0f} s)", file=sys.stderr)
    return 0


__all__ = [
    "ALL_TASKS",
    "COMPARISONS",
    "DEFAULT_DATA",
    "EncoderClassifier",
    "HEADLINE",
    "METHODS",
    "ProbeChoice",
    "QUICK_DATA",
    "REGIMES",
    "SECONDARY",
    "SmallCNN3D",
    "SplitData",
    "TASKS",
    "TASK_METHODS",
    "TransferSettings",
    "attribute_subsets",
    "betainc",
    "chance_levels",
    "conclusion",
    "encoder_views",
    "evaluate_lipsync",
    "evaluate_task",
    "fit_linear",
    "git_state",
    "load_lipsync_data",
    "load_task_data",
    "low_data_subsets",
    "main",
    "merge_results",
    "method_label",
    "paired_difference",
    "people_subsets",
    "per_class_subsets",
    "pixel_features",
    "render_markdown",
    "run_transfer",
    "select_probe",
    "select_trained",
    "summarize",
    "t_cdf",
    "t_interval",
    "t_quantile",
    "task_metrics",
    "task_targets",
    "train_classifier",
    "verdict",
    "versions",
    "vit_classifier",
    "write_report",
]


if __name__ == "__main__":
    raise SystemExit(main())
