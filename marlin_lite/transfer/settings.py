"""What the transfer evaluation runs: tasks, metrics, methods, regimes, comparisons and
:class:`TransferSettings` (sizes, grids and budgets), with the small helpers every other part uses."""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import numpy as np
import torch

from marlin_lite.tasks.dfd import DFD
from marlin_lite.tasks.far import FAR
from marlin_lite.tasks.fer import FER
from marlin_lite.tasks.probe import TaskSpec


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
