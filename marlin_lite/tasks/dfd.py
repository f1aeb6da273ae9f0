"""Deepfake detection (DFD): real vs fake, at clip and video level, per manipulation kind.

MARLIN reports FaceForensics++ AUC (ViT-S 0.8863, ViT-B 0.9305, ViT-L 0.9377). Here each
SynthFace item is a *video* and its non-overlapping windows are its *clips*: the probe is
trained on clips (each window labelled like its video, ``item["fake"]``), a video's score is
the mean of its clips' probabilities, and the metrics (AUC, accuracy at ``p > 0.5``) are
reported

* over all test clips / videos (``manipulation="all"``), and
* per manipulation kind of :data:`~marlin_lite.synthface.MANIPULATIONS`: the real test items
  against the fakes of that kind only (how hard each kind is to detect).

Video-level rows appear when test videos hold more than one window (e.g. 16-frame SynthFace
clips for an 8-frame encoder). Low-data subsets are stratified by manipulation kind.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import torch

from marlin_lite.synthface import MANIPULATIONS
from marlin_lite.tasks.metrics import binary_accuracy, binary_auc
from marlin_lite.tasks.probe import Features, TaskSpec, pool_windows, run_baselines
from marlin_lite.tasks.results import ResultsTable


def dfd_targets(items: Iterable[dict[str, torch.Tensor]]) -> torch.Tensor:
    """Targets of SynthFace items: ``float32 (N,)``, 1 = fake (any manipulation), 0 = real."""
    rows = [int(item["fake"]) for item in items]
    if not rows:
        raise ValueError("items is empty; pass a non-empty data set or list of items")
    return torch.tensor(rows, dtype=torch.float32)


def dfd_metrics(scores: torch.Tensor, targets: torch.Tensor, threshold: float = 0.5) -> dict[str, float]:
    """``auc`` and ``accuracy`` (at ``p > threshold``) of fake probabilities ``scores (N,)``
    against 0/1 ``targets (N,)``; AUC is ``nan`` when only one class is present."""
    return {"auc": binary_auc(scores, targets), "accuracy": binary_accuracy(scores, targets, threshold)}


def dfd_breakdown(
    scores: torch.Tensor, fake: torch.Tensor, manipulation: torch.Tensor, threshold: float = 0.5,
    names: Sequence[str] = MANIPULATIONS,
) -> list[dict[str, Any]]:
    """Rows ``{"manipulation": "all" | kind, "auc", "accuracy"}`` for ``scores (N,)``, 0/1
    ``fake (N,)`` and manipulation ids ``(N,)`` (indices into ``names``, 0 = real: SynthFace's
    ``MANIPULATIONS`` by default, FF++'s ``FFPP_KINDS`` for FaceForensics++).

    A kind's row scores the real samples plus that kind's fakes; kinds absent are skipped.
    """
    if not (scores.dim() == fake.dim() == manipulation.dim() == 1) or not (scores.shape == fake.shape == manipulation.shape):
        raise ValueError(
            f"scores, fake and manipulation must all be (N,), got {tuple(scores.shape)}, {tuple(fake.shape)}, {tuple(manipulation.shape)}"
        )
    fake = fake.float()
    rows = [{"manipulation": "all", **dfd_metrics(scores, fake, threshold)}]
    real = manipulation == 0
    for k, name in enumerate(names):
        kind = manipulation == k
        if k == 0 or not bool(kind.any()):
            continue
        keep = real | kind
        rows.append({"manipulation": name, **dfd_metrics(scores[keep], fake[keep], threshold)})
    return rows


def dfd_evaluate(
    video_scores: torch.Tensor, window_scores: torch.Tensor, test: Features, names: Sequence[str] = MANIPULATIONS,
) -> list[dict[str, Any]]:
    """:func:`dfd_breakdown` at clip level and, when videos have several windows, at video level
    (window scores pooled); manipulation ids index ``names``."""
    fake, manip = test.labels["fake"], test.labels["manipulation"]
    rows = [{"level": "clip", **r} for r in dfd_breakdown(window_scores, fake[test.owner], manip[test.owner], names=names)]
    if bool((test.windows_per_item > 1).any()):
        video = pool_windows(window_scores, test.owner, test.num_items)
        rows += [{"level": "video", **r} for r in dfd_breakdown(video, fake, manip, names=names)]
    return rows


def _check(feats: Features, split: str) -> None:
    if "manipulation" not in feats.labels:
        raise ValueError(f"the {split} split's items need a 'manipulation' field (SynthFaceDataset items have one)")
    fake = feats.labels.get("fake")
    if fake is None or bool(fake.all()) or not bool(fake.any()):
        raise ValueError(
            f"the {split} split needs both real and fake clips for deepfake detection; "
            "build it with e.g. SynthFaceDataset(..., fake_fraction=0.5)"
        )


#: The DFD task for :func:`~marlin_lite.tasks.probe.run_baselines` (trained on clips).
DFD = TaskSpec("dfd", "binary", "fake", dfd_evaluate, train_on="clip", stratify_key="manipulation", check=_check)


def run_dfd(pretrained, train_set, test_set, *, val_set=None, fractions=(1.0,), seeds=(0,), **kwargs: Any) -> ResultsTable:
    """DFD baselines (random-init probe, supervised from scratch, pretrained probe) -> table.

    Rows: ``task="dfd"``, ``method``, ``fraction``, ``seed``, ``n_train`` (videos),
    ``n_test``, ``level`` (``clip`` / ``video``), ``manipulation`` (``all`` or a kind), ``auc``,
    ``accuracy``. Other keyword arguments go to :func:`~marlin_lite.tasks.probe.run_baselines`.
    """
    return run_baselines(DFD, pretrained, train_set, test_set, val_set=val_set, fractions=fractions, seeds=seeds, **kwargs)


__all__ = ["DFD", "dfd_breakdown", "dfd_metrics", "dfd_targets", "run_dfd"]
