"""Metrics of the downstream tasks, in plain PyTorch (no scikit-learn).

Conventions (``N`` samples, ``C`` classes or labels):

* *scores* are real numbers where higher means "more positive" (probabilities or logits; AUC
  only uses their order, accuracy thresholds them);
* binary targets are ``(N,)`` of 0/1; multi-label targets ``(N, C)`` of 0/1; multi-class
  targets ``(N,)`` of class ids in ``0 .. C-1``.

AUC is the Mann-Whitney U statistic: the probability that a random positive scores higher than
a random negative, ties counting one half. It is computed from average ranks in
``O(N log N)``, so tied scores are handled exactly (all scores equal -> 0.5). It is undefined
when the targets hold only one class; the functions then return ``nan`` (and macro averages
skip such labels), because a small test split often lacks a rare attribute.

Every function returns Python floats (or an ``int64`` tensor for the confusion matrix) and
raises ``ValueError`` naming the argument when shapes or values do not fit.
"""

from __future__ import annotations

import math

import torch

AVERAGES = ("micro", "macro")


# --------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------


def _as_tensor(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError) as e:
            raise ValueError(f"{name} must be a tensor or array-like of numbers, got {type(x).__name__}") from e
    return x.detach().cpu()


def _check_binary_targets(targets: torch.Tensor, name: str = "targets") -> torch.Tensor:
    if targets.numel() and not bool(((targets == 0) | (targets == 1)).all()):
        bad = targets[(targets != 0) & (targets != 1)].unique()[:5].tolist()
        raise ValueError(f"{name} must hold only 0 and 1, found {bad}; threshold or one-hot encode the labels first")
    return targets.to(torch.int64)


def _check_scores(scores: torch.Tensor, name: str = "scores") -> torch.Tensor:
    if not scores.is_floating_point():
        scores = scores.double()
    if scores.numel() and not bool(torch.isfinite(scores).all()):
        raise ValueError(f"{name} holds NaN or infinite values; check the model's outputs")
    return scores.double()


def _check_same_shape(scores: torch.Tensor, targets: torch.Tensor, ndim: int, what: str) -> None:
    if scores.dim() != ndim or targets.shape != scores.shape:
        raise ValueError(
            f"{what} expects scores and targets of the same {ndim}-D shape "
            f"({'(N,)' if ndim == 1 else '(N, C)'}), got scores {tuple(scores.shape)} and targets {tuple(targets.shape)}"
        )
    if scores.shape[0] == 0:
        raise ValueError(f"{what} needs at least one sample, got an empty batch")


def _check_class_ids(labels: torch.Tensor, num_classes: int, name: str) -> torch.Tensor:
    if labels.is_floating_point():
        if not bool((labels == labels.round()).all()):
            raise ValueError(f"{name} must hold integer class ids, got fractional values; take argmax of scores first")
    labels = labels.to(torch.int64)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(
            f"{name} must hold class ids in 0..{num_classes - 1}, found range {int(labels.min())}..{int(labels.max())}; "
            f"pass the right num_classes"
        )
    return labels


def _check_average(average: str) -> None:
    if average not in AVERAGES:
        raise ValueError(f"average must be one of {AVERAGES}, got {average!r}")


# --------------------------------------------------------------------------------------
# Ranks and AUC
# --------------------------------------------------------------------------------------


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """1-based ranks of ``values (N,)`` with ties sharing their average rank -> ``float64 (N,)``.

    Example: ``[0.1, 0.5, 0.5, 0.9] -> [1, 2.5, 2.5, 4]``.
    """
    values = _as_tensor(values, "values")
    if values.dim() != 1:
        raise ValueError(f"values must be 1-D (N,), got shape {tuple(values.shape)}")
    order = torch.argsort(values, stable=True)
    sorted_values = values[order]
    _, counts = torch.unique_consecutive(sorted_values, return_counts=True)
    ends = torch.cumsum(counts, 0).double()  # last 1-based rank of each tie group
    group_rank = ends - (counts.double() - 1) / 2  # average of first..last
    ranks = torch.empty(values.shape[0], dtype=torch.float64)
    ranks[order] = torch.repeat_interleave(group_rank, counts)
    return ranks


def binary_auc(scores, targets) -> float:
    """ROC AUC of ``scores (N,)`` for ``targets (N,)`` of 0/1 (Mann-Whitney, ties count 1/2).

    Returns ``nan`` when ``targets`` holds a single class (AUC is undefined there).
    """
    scores, targets = _as_tensor(scores, "scores"), _as_tensor(targets, "targets")
    _check_same_shape(scores, targets, 1, "binary_auc")
    scores, targets = _check_scores(scores), _check_binary_targets(targets)
    n_pos = int(targets.sum())
    n_neg = targets.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = average_ranks(scores)
    u = float(ranks[targets == 1].sum()) - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


def multilabel_auc(scores, targets, average: str = "micro") -> float:
    """AUC of ``scores (N, C)`` for multi-label ``targets (N, C)`` of 0/1.

    ``average="micro"`` pools every ``(sample, label)`` entry into one binary problem (what
    MARLIN reports on CelebV-HQ); ``"macro"`` averages the per-label AUCs, skipping labels whose
    targets hold a single class (``nan`` if every label is skipped).
    """
    _check_average(average)
    scores, targets = _as_tensor(scores, "scores"), _as_tensor(targets, "targets")
    _check_same_shape(scores, targets, 2, "multilabel_auc")
    if average == "micro":
        return binary_auc(scores.reshape(-1), targets.reshape(-1))
    per_label = [binary_auc(scores[:, c], targets[:, c]) for c in range(scores.shape[1])]
    return _nanmean(per_label)


def multiclass_auc(scores, targets, num_classes: int | None = None, average: str = "macro") -> float:
    """One-vs-rest AUC of ``scores (N, C)`` for class ids ``targets (N,)``.

    ``"macro"`` averages per-class AUCs (classes absent from ``targets`` are skipped);
    ``"micro"`` pools the one-hot entries.
    """
    scores, targets = _as_tensor(scores, "scores"), _as_tensor(targets, "targets")
    if scores.dim() != 2 or targets.dim() != 1 or targets.shape[0] != scores.shape[0]:
        raise ValueError(
            f"multiclass_auc expects scores (N, C) and targets (N,), got {tuple(scores.shape)} and {tuple(targets.shape)}"
        )
    c = scores.shape[1] if num_classes is None else num_classes
    if c != scores.shape[1]:
        raise ValueError(f"num_classes={num_classes} but scores have {scores.shape[1]} columns")
    one_hot = torch.nn.functional.one_hot(_check_class_ids(targets, c, "targets"), c)
    return multilabel_auc(scores, one_hot, average=average)


def _nanmean(values: list[float]) -> float:
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


# --------------------------------------------------------------------------------------
# Accuracy, confusion matrix, F1
# --------------------------------------------------------------------------------------


def binary_accuracy(scores, targets, threshold: float = 0.5) -> float:
    """Fraction of ``(scores > threshold) == targets`` over ``(N,)`` or ``(N, C)`` 0/1 targets.

    For multi-label data this is MARLIN's FAR accuracy: every ``(sample, label)`` entry counts
    once (probabilities thresholded at 0.5). Pass ``threshold=0`` for logits.
    """
    scores, targets = _as_tensor(scores, "scores"), _as_tensor(targets, "targets")
    if scores.shape != targets.shape or scores.dim() not in (1, 2) or scores.numel() == 0:
        raise ValueError(
            f"binary_accuracy expects scores and targets of the same non-empty (N,) or (N, C) shape, "
            f"got {tuple(scores.shape)} and {tuple(targets.shape)}"
        )
    scores, targets = _check_scores(scores), _check_binary_targets(targets)
    return float(((scores > threshold).to(torch.int64) == targets).double().mean())


def multiclass_accuracy(scores_or_preds, targets) -> float:
    """Top-1 accuracy: ``scores (N, C)`` (argmax taken) or predicted ids ``(N,)`` vs ``targets (N,)``."""
    preds = _predictions(scores_or_preds, targets)
    targets = _as_tensor(targets, "targets").to(torch.int64)
    return float((preds == targets).double().mean())


def _predictions(scores_or_preds, targets) -> torch.Tensor:
    x, targets = _as_tensor(scores_or_preds, "scores_or_preds"), _as_tensor(targets, "targets")
    if targets.dim() != 1 or targets.shape[0] == 0:
        raise ValueError(f"targets must be a non-empty (N,) tensor of class ids, got shape {tuple(targets.shape)}")
    if x.dim() == 2:
        _check_scores(x, "scores_or_preds")
        x = x.argmax(1)
    elif x.dim() != 1:
        raise ValueError(f"scores_or_preds must be scores (N, C) or predicted ids (N,), got shape {tuple(x.shape)}")
    if x.shape[0] != targets.shape[0]:
        raise ValueError(f"scores_or_preds has {x.shape[0]} samples but targets has {targets.shape[0]}")
    return x.to(torch.int64)


def confusion_matrix(preds, targets, num_classes: int) -> torch.Tensor:
    """``int64 (C, C)``: entry ``[i, j]`` counts samples of true class ``i`` predicted as ``j``.

    ``preds`` may be predicted ids ``(N,)`` or scores ``(N, C)`` (argmax taken).
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    p = _check_class_ids(_predictions(preds, targets), num_classes, "preds")
    t = _check_class_ids(_as_tensor(targets, "targets"), num_classes, "targets")
    return torch.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def f1_from_confusion(matrix: torch.Tensor, average: str | None = "macro") -> float | list[float]:
    """F1 from a confusion matrix ``(C, C)`` (rows true, columns predicted).

    ``average=None`` -> per-class F1 list (``nan`` for a class neither present nor predicted);
    ``"macro"`` -> mean over classes that are present or predicted (a class with precision or
    recall 0/0 but some support or predictions scores 0, as in scikit-learn); ``"micro"`` ->
    the micro F1, which for single-label data equals accuracy.
    """
    m = _as_tensor(matrix, "matrix")
    if m.dim() != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
        raise ValueError(f"matrix must be a square (C, C) confusion matrix, got shape {tuple(m.shape)}")
    if average is not None:
        _check_average(average)
    m = m.double()
    tp = m.diag()
    if average == "micro":
        total = m.sum()
        return float(tp.sum() / total) if total > 0 else math.nan
    support, predicted = m.sum(1), m.sum(0)
    denom = support + predicted  # 2TP + FP + FN
    per_class = [(2 * float(tp[c]) / float(denom[c])) if denom[c] > 0 else math.nan for c in range(m.shape[0])]
    return per_class if average is None else _nanmean(per_class)


def f1_score(preds, targets, num_classes: int, average: str | None = "macro") -> float | list[float]:
    """F1 of predicted ids ``(N,)`` or scores ``(N, C)`` against ``targets (N,)``; see
    :func:`f1_from_confusion` for ``average``."""
    return f1_from_confusion(confusion_matrix(preds, targets, num_classes), average)


def binary_f1(scores, targets, threshold: float = 0.5) -> float:
    """F1 of the positive class for ``scores (N,)`` thresholded at ``threshold``, 0/1 ``targets (N,)``."""
    scores, targets = _as_tensor(scores, "scores"), _as_tensor(targets, "targets")
    _check_same_shape(scores, targets, 1, "binary_f1")
    preds = (_check_scores(scores) > threshold).to(torch.int64)
    per_class = f1_score(preds, _check_binary_targets(targets), 2, average=None)
    return 0.0 if math.isnan(per_class[1]) else per_class[1]


# --------------------------------------------------------------------------------------
# Cluster bootstrap: intervals over the test *people*
# --------------------------------------------------------------------------------------


def cluster_bootstrap_weights(groups, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Weights of ``N`` samples in ``n`` cluster-bootstrap resamples -> ``float32 (n, N)``.

    Each resample draws as many groups (e.g. test people) as there are, with replacement; a
    sample's weight is how often its group was drawn. A weighted mean over the samples is then
    the statistic of one resample, so ``n`` resamples are one matrix product (lesson 07 derives
    this). ``groups``: ``(N,)`` group ids of the samples (any integers).
    """
    groups = _as_tensor(groups, "groups")
    if groups.dim() != 1 or groups.numel() == 0:
        raise ValueError(f"groups must be a non-empty (N,) tensor of group ids, got shape {tuple(groups.shape)}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n (resamples) must be an int >= 1, got {n!r}")
    _, inverse = torch.unique(groups, return_inverse=True)
    k = int(inverse.max()) + 1
    draws = torch.randint(k, (n, k), generator=generator)
    counts = torch.zeros(n, k).scatter_add_(1, draws, torch.ones(n, k))
    return counts[:, inverse]


def weighted_auc(scores, targets, weights) -> torch.Tensor:
    """AUC of ``scores (N,)`` against 0/1 ``targets (N,)`` under each row of ``weights (B, N)``
    -> ``(B,)``: every (positive, negative) pair counts ``w_i * w_j``, ties 1/2. Unit weights
    give :func:`binary_auc`; a row without a positive or a negative gives NaN."""
    scores, targets, weights = _as_tensor(scores, "scores"), _as_tensor(targets, "targets"), _as_tensor(weights, "weights")
    _check_same_shape(scores, targets, 1, "weighted_auc")
    if weights.dim() != 2 or weights.shape[1] != scores.shape[0]:
        raise ValueError(f"weights must be (B, N) with N = {scores.shape[0]}, got {tuple(weights.shape)}")
    targets = _check_binary_targets(targets)
    pos, neg = targets == 1, targets == 0
    sp, sn = scores[pos].float()[:, None], scores[neg].float()[None, :]
    k = (sp > sn).float() + 0.5 * (sp == sn).float()
    wp, wn = weights[:, pos].float(), weights[:, neg].float()
    return torch.einsum("bi,ij,bj->b", wp, k, wn) / (wp.sum(1) * wn.sum(1))


def percentile_interval(values, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap ``values (n,)`` (NaNs ignored)."""
    values = _as_tensor(values, "values").float().reshape(-1)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    lo, hi = torch.nanquantile(values, torch.tensor([(1 - level) / 2, (1 + level) / 2])).tolist()
    return lo, hi


def paired_bootstrap(name_a: str, name_b: str, boot_a, boot_b, point_a: float, point_b: float, level: float = 0.95) -> str:
    """One line for the difference of two methods scored on the *same* resamples:
    ``"a - b: +0.05 [-0.01, +0.12] (no clear difference)"``: the point difference, the
    percentile interval of the per-resample differences ``boot_a - boot_b`` (``(n,)`` each), and
    ``higher`` / ``lower`` when the interval excludes 0."""
    lo, hi = percentile_interval(_as_tensor(boot_a, "boot_a") - _as_tensor(boot_b, "boot_b"), level)
    point = float(point_a) - float(point_b)
    verdict = "higher" if lo > 0 else "lower" if hi < 0 else "no clear difference"
    signed = [f"{v:+.2f}".replace("-0.00", "+0.00") for v in (point, lo, hi)]
    return f"{name_a} - {name_b}: {signed[0]} [{signed[1]}, {signed[2]}] ({verdict})"


__all__ = [
    "AVERAGES",
    "average_ranks",
    "binary_accuracy",
    "binary_auc",
    "binary_f1",
    "cluster_bootstrap_weights",
    "confusion_matrix",
    "f1_from_confusion",
    "f1_score",
    "multiclass_accuracy",
    "multiclass_auc",
    "multilabel_auc",
    "paired_bootstrap",
    "percentile_interval",
    "weighted_auc",
]
