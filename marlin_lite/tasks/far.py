"""Facial attribute recognition (FAR): multi-label appearance attributes.

MARLIN's protocol on CelebV-HQ: a linear head ``Linear(D, A)`` with BCE-with-logits over ``A``
binary attributes; accuracy over all ``(sample, label)`` entries at ``p > 0.5`` and micro AUC
(reported: appearance 93.90 % / 0.9561). On SynthFace the targets are the 24
:data:`~marlin_lite.synthface.ATTRIBUTES` of each item (``item["attributes"]``, ``float32
(24,)`` of 0/1). They describe the *identity*, so a split by identity (the default) tests
whether attributes of unseen people are recognised.

Fake clips are refused: a face swap keeps the target's attribute labels while showing the
donor's face, so its labels would be wrong.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import torch

from marlin_lite.synthface import ATTRIBUTES
from marlin_lite.tasks.metrics import binary_accuracy, binary_auc, multilabel_auc
from marlin_lite.tasks.probe import Features, TaskSpec, run_baselines
from marlin_lite.tasks.results import ResultsTable


def far_targets(items: Iterable[dict[str, torch.Tensor]]) -> torch.Tensor:
    """Targets of SynthFace items: ``float32 (N, A)`` of 0/1 from ``item["attributes"]``."""
    rows = [item["attributes"] for item in items]
    if not rows:
        raise ValueError("items is empty; pass a non-empty data set or list of items")
    return torch.stack([torch.as_tensor(r, dtype=torch.float32) for r in rows])


def far_metrics(scores: torch.Tensor, targets: torch.Tensor, threshold: float = 0.5) -> dict[str, float]:
    """MARLIN's FAR metrics of probabilities ``scores (N, A)`` against 0/1 ``targets (N, A)``.

    Returns ``accuracy`` (every entry at ``p > threshold``), ``auc_micro`` (all entries pooled,
    as MARLIN reports) and ``auc_macro`` (mean per-attribute AUC over attributes that have both
    classes in ``targets``).
    """
    return {
        "accuracy": binary_accuracy(scores, targets, threshold),
        "auc_micro": multilabel_auc(scores, targets, "micro"),
        "auc_macro": multilabel_auc(scores, targets, "macro"),
    }


def far_report(scores: torch.Tensor, targets: torch.Tensor, names: Sequence[str] = ATTRIBUTES, threshold: float = 0.5) -> list[dict[str, Any]]:
    """Per attribute: ``name``, ``positives`` (count in targets), ``accuracy`` and ``auc``
    (``nan`` where the attribute has a single class), for a figure or a table."""
    if scores.dim() != 2 or scores.shape != targets.shape or scores.shape[1] != len(names):
        raise ValueError(
            f"scores and targets must both be (N, {len(names)}) (one column per name), got {tuple(scores.shape)} and {tuple(targets.shape)}"
        )
    return [
        {
            "name": name,
            "positives": int(targets[:, a].sum()),
            "accuracy": binary_accuracy(scores[:, a], targets[:, a], threshold),
            "auc": binary_auc(scores[:, a], targets[:, a]),
        }
        for a, name in enumerate(names)
    ]


def _evaluate(video_scores: torch.Tensor, window_scores: torch.Tensor, test: Features) -> list[dict[str, Any]]:
    return [far_metrics(video_scores, test.labels["attributes"])]


def _check(feats: Features, split: str) -> None:
    fake = feats.labels.get("fake")
    if fake is not None and bool(fake.any()):
        raise ValueError(
            f"the {split} split holds {int(fake.sum())} fake clips; attribute labels of face swaps are the target's, "
            "not the shown face's. Build FAR data sets with fake_fraction=0"
        )


#: The FAR task for :func:`~marlin_lite.tasks.probe.run_baselines`.
FAR = TaskSpec("far", "multilabel", "attributes", _evaluate, train_on="video", stratify_key=None, check=_check)


def run_far(pretrained, train_set, test_set, *, val_set=None, fractions=(1.0,), seeds=(0,), **kwargs: Any) -> ResultsTable:
    """FAR baselines (random-init probe, supervised from scratch, pretrained probe) -> table.

    Rows: ``task="far"``, ``method``, ``fraction``, ``seed``, ``n_train``, ``n_test``,
    ``accuracy``, ``auc_micro``, ``auc_macro``. Other keyword arguments go to
    :func:`~marlin_lite.tasks.probe.run_baselines` (``methods``, ``cache``, ``probe``,
    ``finetune``, ``sample_rate``, ``device``...).
    """
    return run_baselines(FAR, pretrained, train_set, test_set, val_set=val_set, fractions=fractions, seeds=seeds, **kwargs)


__all__ = ["FAR", "far_metrics", "far_report", "far_targets", "run_far"]
