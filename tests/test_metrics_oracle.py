"""The hand-written metrics of ``marlin_lite.tasks.metrics`` against scikit-learn's, as an oracle.

The package computes AUC, accuracy, confusion matrices and F1 in plain PyTorch (the lessons
derive them); scikit-learn is the reference implementation a reviewer trusts. The data are
random with many ties (scores drawn from a few values), where rank-based AUCs go wrong first.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from marlin_lite.tasks import metrics as M

import sklearn.metrics as sk  # noqa: E402 (a pinned test requirement: requirements.txt)


def _data(seed: int, n: int = 200, c: int = 5):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 7, size=(n, c)) / 6.0  # 7 distinct values: ties everywhere
    labels = (rng.random((n, c)) < 0.3).astype(np.int64)
    labels[0], labels[1] = 1, 0  # every label has both classes
    classes = rng.integers(0, c, size=n)
    classes[:c] = np.arange(c)  # every class present
    probs = rng.dirichlet(np.ones(c), size=n)
    return scores, labels, classes, probs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_aucs_match_scikit_learn(seed):
    scores, labels, classes, probs = _data(seed)
    t = torch.from_numpy
    assert M.binary_auc(t(scores[:, 0]), t(labels[:, 0])) == pytest.approx(sk.roc_auc_score(labels[:, 0], scores[:, 0]), abs=1e-12)
    for average in ("micro", "macro"):
        assert M.multilabel_auc(t(scores), t(labels), average=average) == pytest.approx(
            sk.roc_auc_score(labels, scores, average=average), abs=1e-12)
    assert M.multiclass_auc(t(probs), t(classes), average="macro") == pytest.approx(
        sk.roc_auc_score(classes, probs, multi_class="ovr", average="macro"), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_accuracy_confusion_and_f1_match_scikit_learn(seed):
    scores, labels, classes, probs = _data(seed)
    t = torch.from_numpy
    preds = probs.argmax(1)
    c = probs.shape[1]
    assert M.multiclass_accuracy(t(probs), t(classes)) == pytest.approx(sk.accuracy_score(classes, preds), abs=1e-12)
    np.testing.assert_array_equal(M.confusion_matrix(t(preds), t(classes), c).numpy(),
                                  sk.confusion_matrix(classes, preds, labels=list(range(c))))
    for average in ("macro", "micro"):
        assert M.f1_score(t(preds), t(classes), c, average=average) == pytest.approx(
            sk.f1_score(classes, preds, average=average), abs=1e-12)
    # a class never predicted and never present is left out of the macro mean, as scikit-learn does
    few = np.where(preds == c - 1, 0, preds)
    only = np.where(classes == c - 1, 0, classes)
    assert M.f1_score(t(few), t(only), c, average="macro") == pytest.approx(sk.f1_score(only, few, average="macro"), abs=1e-12)
    assert M.binary_accuracy(t(scores), t(labels)) == pytest.approx(
        sk.accuracy_score(labels.reshape(-1), (scores > 0.5).reshape(-1).astype(int)), abs=1e-12)
    assert M.binary_f1(t(scores[:, 0]), t(labels[:, 0])) == pytest.approx(
        sk.f1_score(labels[:, 0], (scores[:, 0] > 0.5).astype(int)), abs=1e-12)
