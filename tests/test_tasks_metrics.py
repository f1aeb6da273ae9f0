"""Metrics of the downstream tasks: hand-computed values, known properties, clear errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from marlin_lite.tasks.metrics import (
    average_ranks,
    binary_accuracy,
    binary_auc,
    binary_f1,
    confusion_matrix,
    f1_from_confusion,
    f1_score,
    multiclass_accuracy,
    multiclass_auc,
    multilabel_auc,
)


def pairwise_auc(scores: list[float], targets: list[int]) -> float:
    """The definition: P(positive scores above negative), ties 1/2, over all pairs."""
    pos = [s for s, t in zip(scores, targets) if t == 1]
    neg = [s for s, t in zip(scores, targets) if t == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg))
    return wins / (len(pos) * len(neg))


def test_average_ranks_share_ties():
    assert average_ranks(torch.tensor([0.1, 0.5, 0.5, 0.9])).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert average_ranks(torch.tensor([3.0, 1.0, 2.0, 1.0, 1.0])).tolist() == [5.0, 2.0, 4.0, 2.0, 2.0]


def test_binary_auc_hand_values():
    # the classic example: 3 of 4 (positive, negative) pairs are ordered right
    assert binary_auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    # a tie between a positive and a negative counts one half: (0.5 + 1 + 1 + 1) / 4
    assert binary_auc([0.5, 0.5, 0.2, 0.9], [1, 0, 0, 1]) == pytest.approx(0.875)


def test_binary_auc_properties():
    y = torch.tensor([0, 1, 0, 1, 1, 0, 0, 1])
    perfect = y.double() + 0.1 * torch.arange(8)
    assert binary_auc(perfect, y) == 1.0
    assert binary_auc(-perfect, y) == 0.0  # inverted scores
    assert binary_auc(torch.full((8,), 0.3), y) == 0.5  # all tied
    # only the order matters: logits and probabilities give the same AUC
    logits = torch.randn(50, generator=torch.Generator().manual_seed(0))
    labels = (torch.rand(50, generator=torch.Generator().manual_seed(1)) < 0.4).long()
    assert binary_auc(logits, labels) == pytest.approx(binary_auc(logits.sigmoid(), labels))
    # random scores: about 0.5
    g = torch.Generator().manual_seed(2)
    assert abs(binary_auc(torch.rand(20000, generator=g), torch.randint(0, 2, (20000,), generator=g)) - 0.5) < 0.02
    # one class only: undefined
    assert math.isnan(binary_auc([0.2, 0.7], [1, 1]))


def test_binary_auc_matches_the_pairwise_definition_with_ties():
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        scores = (torch.rand(40, generator=g) * 5).round() / 5  # few distinct values: many ties
        targets = torch.randint(0, 2, (40,), generator=g)
        assert binary_auc(scores, targets) == pytest.approx(pairwise_auc(scores.tolist(), targets.tolist()))


def test_micro_and_macro_auc_differ_as_expected():
    # each label is ranked perfectly, but on a different scale
    scores = torch.tensor([[0.3, 0.9], [0.1, 0.7]])
    targets = torch.tensor([[1, 1], [0, 0]])
    assert multilabel_auc(scores, targets, "macro") == 1.0
    # pooled: positives {0.3, 0.9} vs negatives {0.1, 0.7}: 3 of 4 pairs right
    assert multilabel_auc(scores, targets, "micro") == pytest.approx(0.75)
    # a label with a single class is skipped by macro, still pooled by micro
    scores3 = torch.cat([scores, torch.tensor([[0.2], [0.8]])], 1)
    targets3 = torch.cat([targets, torch.tensor([[0], [0]])], 1)
    assert multilabel_auc(scores3, targets3, "macro") == 1.0
    assert multilabel_auc(scores3, targets3, "micro") == pytest.approx(pairwise_auc(scores3.flatten().tolist(), targets3.flatten().tolist()))
    assert math.isnan(multilabel_auc(torch.rand(3, 2), torch.ones(3, 2), "macro"))


def test_multiclass_auc_one_vs_rest():
    targets = torch.tensor([0, 1, 2, 2, 1, 0])
    scores = torch.nn.functional.one_hot(targets, 3).double() + 0.01
    assert multiclass_auc(scores, targets) == 1.0
    assert multiclass_auc(scores.flip(1), targets) < 1.0
    # a class absent from the targets is skipped (its one-vs-rest AUC is undefined)
    assert multiclass_auc(torch.cat([scores, torch.zeros(6, 1)], 1), targets, num_classes=4) == 1.0


def test_accuracies():
    # MARLIN's FAR accuracy: every (sample, label) entry at p > 0.5
    probs = torch.tensor([[0.9, 0.2, 0.6], [0.4, 0.1, 0.51]])
    targets = torch.tensor([[1, 0, 0], [1, 0, 1]])
    assert binary_accuracy(probs, targets) == pytest.approx(4 / 6)
    assert binary_accuracy(torch.tensor([2.0, -1.0]), torch.tensor([1, 1]), threshold=0.0) == 0.5
    assert multiclass_accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), torch.tensor([1, 1, 1])) == pytest.approx(2 / 3)
    assert multiclass_accuracy(torch.tensor([2, 0, 1]), torch.tensor([2, 0, 0])) == pytest.approx(2 / 3)


def test_confusion_matrix_and_f1_by_hand():
    targets = torch.tensor([0, 0, 1, 1, 2, 2])
    preds = torch.tensor([0, 1, 1, 1, 2, 0])
    m = confusion_matrix(preds, targets, 3)
    assert m.dtype == torch.int64 and m.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]  # rows true, columns predicted
    # per class 2TP / (2TP + FP + FN): 2/4, 4/5, 2/3
    per_class = f1_from_confusion(m, average=None)
    assert per_class == pytest.approx([0.5, 0.8, 2 / 3])
    assert f1_score(preds, targets, 3) == pytest.approx((0.5 + 0.8 + 2 / 3) / 3)
    assert f1_score(preds, targets, 3, average="micro") == pytest.approx(4 / 6)  # = accuracy
    # scores are accepted too (argmax taken)
    assert f1_score(torch.nn.functional.one_hot(preds, 3).float(), targets, 3) == pytest.approx(f1_score(preds, targets, 3))
    # a class neither present nor predicted does not count; one predicted but absent scores 0
    assert f1_score(preds, targets, 5) == pytest.approx(f1_score(preds, targets, 3))
    assert f1_score(torch.tensor([0, 3]), torch.tensor([0, 1]), 4) == pytest.approx((1 + 0 + 0) / 3)


def test_binary_f1():
    # TP 2, FP 1, FN 1 -> 4 / 6
    assert binary_f1([0.9, 0.8, 0.7, 0.2, 0.1], [1, 1, 0, 1, 0]) == pytest.approx(2 / 3)
    assert binary_f1([0.1, 0.2], [0, 0]) == 0.0  # nothing positive anywhere


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: binary_auc([0.1, 0.2, 0.3], [0, 1]), "same 1-D shape"),
        (lambda: binary_auc([0.1, 0.2], [0, 2]), "only 0 and 1"),
        (lambda: binary_auc([0.1, float("nan")], [0, 1]), "NaN"),
        (lambda: binary_auc(torch.empty(0), torch.empty(0)), "at least one sample"),
        (lambda: multilabel_auc(torch.rand(3, 2), torch.ones(3, 2), "weighted"), "average must be"),
        (lambda: multilabel_auc(torch.rand(3), torch.ones(3)), r"\(N, C\)"),
        (lambda: multiclass_auc(torch.rand(3, 2), torch.tensor([0, 1, 2])), "class ids in 0..1"),
        (lambda: confusion_matrix(torch.tensor([0, 5]), torch.tensor([0, 1]), 3), "preds must hold class ids"),
        (lambda: confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 1]), 0), "num_classes"),
        (lambda: multiclass_accuracy(torch.rand(3, 2), torch.tensor([0, 1])), "3 samples but targets has 2"),
        (lambda: binary_accuracy(torch.rand(2, 3), torch.ones(3, 2)), "same non-empty"),
        (lambda: f1_from_confusion(torch.ones(2, 3)), "square"),
    ],
)
def test_errors_name_the_problem(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------------------
# Cluster bootstrap
# --------------------------------------------------------------------------------------


def test_cluster_bootstrap_weights_draw_whole_groups():
    from marlin_lite.tasks.metrics import cluster_bootstrap_weights

    groups = torch.tensor([7, 7, 3, 9, 9, 9])  # 3 groups of sizes 2, 1, 3
    w = cluster_bootstrap_weights(groups, 500, torch.Generator().manual_seed(0))
    assert w.shape == (500, 6)
    assert torch.equal(w[:, 0], w[:, 1]) and torch.equal(w[:, 3], w[:, 5])  # a group is drawn whole
    per_group = torch.stack([w[:, 0], w[:, 2], w[:, 3]], 1)
    assert torch.equal(per_group.sum(1), torch.full((500,), 3.0))  # as many draws as groups
    assert per_group.mean().item() == pytest.approx(1.0, abs=0.1)  # each group drawn once on average
    again = cluster_bootstrap_weights(groups, 500, torch.Generator().manual_seed(0))
    assert torch.equal(w, again)
    for bad in (dict(groups=torch.tensor([]), n=3), dict(groups=groups, n=0)):
        with pytest.raises(ValueError):
            cluster_bootstrap_weights(**bad)


def test_weighted_auc_is_the_auc_of_the_resampled_data():
    from marlin_lite.tasks.metrics import weighted_auc

    g = torch.Generator().manual_seed(1)
    scores = torch.rand(12, generator=g).round(decimals=1)  # ties
    targets = torch.tensor([0, 1] * 6)
    torch.testing.assert_close(weighted_auc(scores, targets, torch.ones(1, 12))[0].item(), binary_auc(scores, targets))
    counts = torch.randint(0, 3, (12,), generator=g)
    counts[:2] = 1  # at least one of each class
    repeated = torch.repeat_interleave(torch.arange(12), counts)
    expected = binary_auc(scores[repeated], targets[repeated])
    assert weighted_auc(scores, targets, counts[None].float())[0].item() == pytest.approx(expected)
    with pytest.raises(ValueError, match="weights"):
        weighted_auc(scores, targets, torch.ones(12))


def test_percentile_interval_and_paired_bootstrap_lines():
    from marlin_lite.tasks.metrics import paired_bootstrap, percentile_interval

    lo, hi = percentile_interval(torch.arange(1001.0))
    assert (lo, hi) == pytest.approx((25.0, 975.0))
    assert percentile_interval(torch.tensor([1.0, float("nan"), 3.0]), 0.5) == pytest.approx((1.5, 2.5))
    a = torch.linspace(0.6, 0.8, 100)
    assert paired_bootstrap("A", "B", a, a - 0.1, 0.7, 0.6) == "A - B: +0.10 [+0.10, +0.10] (higher)"
    assert paired_bootstrap("A", "B", a, a + 0.1, 0.7, 0.8).endswith("(lower)")
    assert paired_bootstrap("A", "B", a, a.flip(0), 0.7, 0.7) == "A - B: +0.00 [-0.19, +0.19] (no clear difference)"
