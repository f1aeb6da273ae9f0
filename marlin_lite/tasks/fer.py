"""Facial expression recognition (FER): one expression class per clip.

A linear head ``Linear(D, C)`` with cross-entropy over the ``C = 6`` SynthFace
:data:`~marlin_lite.synthface.EXPRESSIONS` (MARLIN evaluates FER on CMU-MOSEI emotions and
sentiment; the protocol, a frozen encoder with a linear head or fine-tuning, is the same).
Targets are ``item["expression"]`` (``int64`` class ids). Metrics: accuracy and macro F1 (the
mean of per-class F1, robust to unbalanced classes), plus the one-vs-rest macro AUC and the
confusion matrix for analysis. Low-data subsets are stratified by expression, so even a 1 %
subset holds every class.

Fake clips are refused: an expression reenactment shows a driver's expression while keeping
the target's label.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch

from marlin_lite.synthface import EXPRESSIONS
from marlin_lite.tasks.metrics import confusion_matrix, f1_score, multiclass_accuracy, multiclass_auc
from marlin_lite.tasks.probe import Features, TaskSpec, run_baselines
from marlin_lite.tasks.results import ResultsTable


def fer_targets(items: Iterable[dict[str, torch.Tensor]]) -> torch.Tensor:
    """Targets of SynthFace items: ``int64 (N,)`` expression ids (indices into ``EXPRESSIONS``)."""
    rows = [int(item["expression"]) for item in items]
    if not rows:
        raise ValueError("items is empty; pass a non-empty data set or list of items")
    return torch.tensor(rows, dtype=torch.int64)


def fer_metrics(scores: torch.Tensor, targets: torch.Tensor, num_classes: int = len(EXPRESSIONS)) -> dict[str, float]:
    """``accuracy``, ``f1_macro`` and ``auc_macro`` (one-vs-rest) of class probabilities
    ``scores (N, C)`` against class ids ``targets (N,)``."""
    return {
        "accuracy": multiclass_accuracy(scores, targets),
        "f1_macro": f1_score(scores, targets, num_classes, average="macro"),
        "auc_macro": multiclass_auc(scores, targets, num_classes, average="macro"),
    }


def fer_confusion(scores: torch.Tensor, targets: torch.Tensor, num_classes: int = len(EXPRESSIONS)) -> torch.Tensor:
    """``int64 (C, C)`` confusion matrix (rows true expression, columns predicted)."""
    return confusion_matrix(scores, targets, num_classes)


def _evaluate(video_scores: torch.Tensor, window_scores: torch.Tensor, test: Features) -> list[dict[str, Any]]:
    return [fer_metrics(video_scores, test.labels["expression"])]


def _check(feats: Features, split: str) -> None:
    fake = feats.labels.get("fake")
    if fake is not None and bool(fake.any()):
        raise ValueError(
            f"the {split} split holds {int(fake.sum())} fake clips; a reenactment shows another expression than its "
            "label. Build FER data sets with fake_fraction=0"
        )


#: The FER task for :func:`~marlin_lite.tasks.probe.run_baselines`.
FER = TaskSpec(
    "fer", "multiclass", "expression", _evaluate, num_classes=len(EXPRESSIONS), train_on="video", stratify_key="expression", check=_check
)


def run_fer(pretrained, train_set, test_set, *, val_set=None, fractions=(1.0,), seeds=(0,), **kwargs: Any) -> ResultsTable:
    """FER baselines (random-init probe, supervised from scratch, pretrained probe) -> table.

    Rows: ``task="fer"``, ``method``, ``fraction``, ``seed``, ``n_train``, ``n_test``,
    ``accuracy``, ``f1_macro``, ``auc_macro``. Other keyword arguments go to
    :func:`~marlin_lite.tasks.probe.run_baselines`.
    """
    return run_baselines(FER, pretrained, train_set, test_set, val_set=val_set, fractions=fractions, seeds=seeds, **kwargs)


__all__ = ["FER", "fer_confusion", "fer_metrics", "fer_targets", "run_fer"]
