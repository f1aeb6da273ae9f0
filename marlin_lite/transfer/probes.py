"""The models the report compares: linear probes chosen on validation (pooling, L2) and
classifiers trained end to end (from scratch, fine-tuned, the 3-D CNN ceiling candidate) with
their learning rate chosen on validation and early stopping."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from marlin_lite.model import MarlinEncoder
from marlin_lite.tasks.dfd import dfd_metrics
from marlin_lite.tasks.far import far_metrics
from marlin_lite.tasks.fer import fer_metrics
from marlin_lite.tasks.probe import logits_to_scores, make_head, task_generator, task_loss
from marlin_lite.transfer.data import SplitData, _as_float, num_outputs
from marlin_lite.transfer.settings import HEADLINE, TASKS, TransferSettings


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
