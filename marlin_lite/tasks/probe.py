"""The downstream protocol shared by every task: features, linear probes, fine-tuning, baselines.

MARLIN transfers one pretrained encoder to several tasks in two ways
(``reference/MARLIN_FACTS.md``, *Downstream protocols*):

* **linear probe**: the encoder is frozen; each video is cut into non-overlapping windows of
  the encoder's ``num_frames`` (taken every ``sample_rate``-th frame), each window gives one
  feature (mean over tokens, then the final LayerNorm), the windows of a video are pooled
  (mean), and a single ``Linear(D, C)`` is trained on top (Adam, lr 1e-4, betas (0.5, 0.9));
* **fine-tuning**: encoder and linear head are trained together on *one random clip per
  video* per epoch.

This module holds the pieces (names in brackets):

* :class:`Features` and :func:`compute_features`: per-window features ``(M, D)`` of a data set,
  which item each window belongs to, and the items' labels; pooled to ``(N, D)`` on demand;
* :class:`FeatureCache`: features computed once per (encoder weights digest, data-set spec,
  protocol), kept in memory and optionally on disk;
* :func:`linear_probe` -> :class:`ProbeResult`; :func:`fine_tune` -> :class:`FineTuneResult`;
* :func:`subsample`: the low-data regime (1 %, 10 %, ... of the labels), stratified, seeded and
  nested (a seed's 1 % subset lies inside its 10 % subset);
* :func:`random_encoder`, :func:`make_head`, :func:`task_generator`: seeded building blocks;
* :class:`TaskSpec` and :func:`run_baselines`: the three baselines of every task (random-init
  encoder + probe, supervised from scratch = the same architecture fine-tuned from random
  init, pretrained encoder + probe) over label fractions and seeds, as a results table.

Shapes: ``N`` items (videos), ``M`` windows (clips) over all items, ``D`` encoder width,
``C`` outputs. Scores returned by probes are probabilities: ``(N,)`` for ``"binary"``,
``(N, C)`` (sigmoid) for ``"multilabel"``, ``(N, C)`` (softmax) for ``"multiclass"``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Subset

from marlin_lite.data import SynthFaceDataset
from marlin_lite.encoders import as_encoder, encoder_digest, random_encoder
from marlin_lite.features import POOLING_REDUCTIONS, extract_features
from marlin_lite.model import MarlinAutoencoder, MarlinEncoder
from marlin_lite.tasks.metrics import binary_auc, multiclass_accuracy, multilabel_auc
from marlin_lite.tasks.results import ResultsTable
from marlin_lite.utils import progress_bar
from marlin_lite.video import clip_span, random_clip_start, resize_clips, window_indices

TASK_KINDS = ("multilabel", "multiclass", "binary")
#: Item fields kept as labels beside the features (those a data set's items have).
LABEL_KEYS = ("attributes", "expression", "fake", "manipulation", "av_offset", "identity", "index")
#: The baselines of every task, in table order; ``"pretrained_finetune"`` may be added.
DEFAULT_METHODS = ("random_init_probe", "supervised_scratch", "pretrained_probe")
METHODS = DEFAULT_METHODS + ("pretrained_finetune",)


# --------------------------------------------------------------------------------------
# Seeds and building blocks
# --------------------------------------------------------------------------------------


def task_generator(seed: int, *purpose: str | int) -> torch.Generator:
    """A ``torch.Generator`` seeded from ``(seed, *purpose)``.

    Different purposes (``"subsample"``, ``"head"``, ``"shuffle"``...) get independent
    streams from one experiment seed, so adding a step never shifts another step's draws.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    digest = hashlib.sha256(json.dumps([seed, *purpose]).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))


def make_head(in_dim: int, out_dim: int, generator: torch.Generator) -> nn.Linear:
    """``Linear(in_dim, out_dim)`` with PyTorch's default init (uniform in ``±1/sqrt(in_dim)``)
    drawn from ``generator``."""
    if in_dim < 1 or out_dim < 1:
        raise ValueError(f"in_dim and out_dim must be >= 1, got {in_dim} and {out_dim}")
    head = nn.Linear(in_dim, out_dim)
    bound = 1 / math.sqrt(in_dim)
    with torch.no_grad():
        nn.init.uniform_(head.weight, -bound, bound, generator=generator)
        nn.init.uniform_(head.bias, -bound, bound, generator=generator)
    return head


def dataset_spec(dataset: Any) -> str:
    """A JSON string that determines a data set's items, for cache keys.

    Works for :class:`~marlin_lite.data.SynthFaceDataset` (its clip plan, render settings and
    world seed), ``torch.utils.data.Subset`` of one, and any data set with a ``spec()`` method
    (the loaders of :mod:`marlin_lite.datasets`: root, split, options and items; :class:`LabelView`);
    other data sets need an explicit key.
    """
    if isinstance(dataset, Subset):
        return json.dumps({"subset_of": json.loads(dataset_spec(dataset.dataset)), "indices": [int(i) for i in dataset.indices]})
    if isinstance(dataset, SynthFaceDataset):
        return json.dumps(
            {"type": "SynthFaceDataset", "world_seed": dataset.world_seed, "render": dataset.render, "specs": [asdict(s) for s in dataset.specs]},
            sort_keys=True,
        )
    if callable(getattr(dataset, "spec", None)):  # the loaders of marlin_lite.datasets, LabelView
        return str(dataset.spec())
    raise ValueError(
        f"cannot derive a cache key for a {type(dataset).__name__}; pass key='<something that names its items>' "
        "to FeatureCache.get (any string that changes whenever the data set does)"
    )


class LabelView(torch.utils.data.Dataset):
    """Items of ``dataset`` with some labels also stored under another name.

    The task protocol keeps the item fields of :data:`marlin_lite.tasks.probe.LABEL_KEYS`
    (``attributes``, ``expression``, ``fake``, ...) beside the features, so a label of a real
    data set with another name (CelebV-HQ's ``actions``, CMU-MOSEI's ``sentiment_class``) is
    copied into one of those slots: ``rename`` maps slot -> source field, e.g.
    ``{"expression": "sentiment_class"}``. ``spec()`` names the view (a feature-cache key).
    """

    def __init__(self, dataset: Any, rename: dict[str, str]) -> None:
        self.dataset = dataset
        self.rename = dict(rename)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = dict(self.dataset[i])
        for slot, source in self.rename.items():
            if source not in item:
                raise ValueError(f"items of {type(self.dataset).__name__} have no {source!r} field (they have {sorted(item)})")
            item[slot] = item[source]
        return item

    def spec(self) -> str:
        inner = self.dataset.spec() if callable(getattr(self.dataset, "spec", None)) else type(self.dataset).__name__
        return json.dumps({"view": self.rename, "of": inner}, sort_keys=True)

    def describe(self) -> str:
        text = self.dataset.describe() if callable(getattr(self.dataset, "describe", None)) else repr(self.dataset)
        return text + "\n  labels used: " + ", ".join(f"{s} <- {k}" for s, k in self.rename.items())


# --------------------------------------------------------------------------------------
# Features of a data set
# --------------------------------------------------------------------------------------


def clip_windows(video: torch.Tensor, num_frames: int, sample_rate: int = 1, size: int | None = None) -> torch.Tensor:
    """Non-overlapping windows of one video: ``float32 (3, T, H, W) -> (n, 3, num_frames, S, S)``.

    Window ``k`` takes frames ``k * num_frames * sample_rate + arange(num_frames) * sample_rate``
    (MARLIN: 16 frames at rate 2 on 25 fps video), every window whose frames exist
    (:func:`marlin_lite.video.window_indices` with ``rule="full"``); a video shorter than one
    window gets one as the official ``extract_video`` does (its last frame repeated, or its first
    ``num_frames`` frames at rate 1). Frames are resized (bilinear, antialiased) to ``size`` when
    given and different.
    """
    if video.dim() != 4 or video.shape[0] != 3:
        raise ValueError(f"video must be (3, T, H, W), got shape {tuple(video.shape)}")
    idx = torch.from_numpy(window_indices(video.shape[1], num_frames, sample_rate, rule="full"))
    windows = video[:, idx].permute(1, 0, 2, 3, 4)  # (n, 3, num_frames, H, W)
    return windows if size is None else resize_clips(windows, size)


@dataclass
class Features:
    """Per-window features of a data set and its items' labels.

    Attributes:
        windows: ``float32 (M, D)``, one row per window (clip), items in order.
        owner: ``int64 (M,)``, the item (video) index of each window.
        labels: per-item label tensors, ``(N,)`` or ``(N, A)`` (e.g. ``"attributes"``).
    """

    windows: torch.Tensor
    owner: torch.Tensor
    labels: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.windows.dim() != 2 or self.owner.shape != self.windows.shape[:1]:
            raise ValueError(f"windows must be (M, D) and owner (M,), got {tuple(self.windows.shape)} and {tuple(self.owner.shape)}")

    @property
    def num_items(self) -> int:
        if self.labels:
            return int(next(iter(self.labels.values())).shape[0])
        return int(self.owner.max()) + 1 if self.owner.numel() else 0

    @property
    def dim(self) -> int:
        return int(self.windows.shape[1])

    @property
    def windows_per_item(self) -> torch.Tensor:
        """``int64 (N,)``: how many windows each item has."""
        return torch.bincount(self.owner, minlength=self.num_items)

    def pooled(self, reduction: str = "mean") -> torch.Tensor:
        """Per-item features ``(N, D)``: the ``mean`` (MARLIN's probe) or ``max`` over windows."""
        return pool_windows(self.windows, self.owner, self.num_items, reduction)

    def select(self, items: torch.Tensor | Sequence[int]) -> Features:
        """The features of some items (renumbered ``0 .. len(items)-1`` in the given order)."""
        items = torch.as_tensor(items, dtype=torch.int64)
        if items.dim() != 1 or items.unique().numel() != items.numel():
            raise ValueError(f"items must be distinct item indices (1-D), got {items.tolist()[:10]}")
        remap = torch.full((self.num_items,), -1, dtype=torch.int64)
        remap[items] = torch.arange(len(items))
        keep = remap[self.owner] >= 0
        new_owner = remap[self.owner[keep]]
        order = torch.argsort(new_owner, stable=True)
        return Features(self.windows[keep][order], new_owner[order], {k: v[items] for k, v in self.labels.items()})


def pool_windows(values: torch.Tensor, owner: torch.Tensor, num_items: int, reduction: str = "mean") -> torch.Tensor:
    """Reduce per-window rows ``(M, ...)`` to per-item rows ``(N, ...)`` by ``owner (M,)``.

    Used for features (mean over windows) and for scores (a video's score = the mean of its
    clips' scores). Items without windows get zeros (mean) or ``-inf`` (max).
    """
    if reduction not in POOLING_REDUCTIONS:
        raise ValueError(f"reduction must be one of {POOLING_REDUCTIONS}, got {reduction!r}")
    if owner.shape != values.shape[:1]:
        raise ValueError(f"owner must be (M,) = ({values.shape[0]},), got {tuple(owner.shape)}")
    shape = (num_items, *values.shape[1:])
    index = owner.reshape(-1, *([1] * (values.dim() - 1))).expand_as(values)
    if reduction == "max":
        return torch.full(shape, -math.inf, dtype=values.dtype).scatter_reduce(0, index, values, "amax")
    sums = torch.zeros(shape, dtype=values.dtype).scatter_add(0, index, values)
    counts = torch.bincount(owner, minlength=num_items).clamp(min=1).to(values.dtype)
    return sums / counts.reshape(-1, *([1] * (values.dim() - 1)))


def compute_features(
    model: MarlinEncoder | MarlinAutoencoder,
    dataset: Any,
    *,
    sample_rate: int = 1,
    batch_size: int = 16,
    device: str | torch.device | None = None,
    precision: str = "auto",
    label_keys: Iterable[str] = LABEL_KEYS,
    progress: bool = False,
) -> Features:
    """Encode every window of every item of ``dataset`` (no caching; see :class:`FeatureCache`).

    Args:
        model: the (frozen) encoder; its config sets the window length and frame size.
        dataset: items are dicts with ``"video"`` ``float32 (3, T, H, W)`` in [0, 1] and labels
            (those of ``label_keys`` that are present are kept).
        sample_rate: frame stride inside a window (MARLIN uses 2 on real 25 fps video; SynthFace
            clips rendered for a model of the same ``num_frames`` need 1).
        batch_size, device, precision: as in :func:`marlin_lite.features.extract_features`.
        progress: a progress bar over the items, gone when they are done.
    """
    enc = as_encoder(model)
    if len(dataset) == 0:
        raise ValueError("dataset is empty; check its split and size arguments")
    label_keys = tuple(label_keys)
    windows, owners, pending, pending_owner = [], [], [], []
    labels: dict[str, list[torch.Tensor]] = {}

    def flush() -> None:
        if pending:
            clips = torch.cat(pending)
            windows.append(extract_features(enc, clips, batch_size=batch_size, device=device, precision=precision))
            owners.append(torch.cat(pending_owner))
            pending.clear()
            pending_owner.clear()

    for i in progress_bar(range(len(dataset)), desc="features", unit="video", enabled=progress, leave=False):
        item = dataset[i]
        if not isinstance(item, dict) or "video" not in item:
            raise ValueError(f"dataset items must be dicts with a 'video' (3, T, H, W) tensor; item {i} is not")
        w = clip_windows(item["video"], enc.cfg.num_frames, sample_rate, enc.cfg.img_size)
        pending.append(w)
        pending_owner.append(torch.full((w.shape[0],), i, dtype=torch.int64))
        for k in label_keys:
            if k in item:
                labels.setdefault(k, []).append(torch.as_tensor(item[k]))
        if sum(p.shape[0] for p in pending) >= batch_size:
            flush()
    flush()
    stacked = {k: torch.stack(v) for k, v in labels.items() if len(v) == len(dataset)}
    return Features(torch.cat(windows), torch.cat(owners), stacked)


class FeatureCache:
    """Features of (encoder, data set) pairs, computed once.

    The key hashes the encoder's config and weights (:func:`encoder_digest`), the data set's
    spec (:func:`dataset_spec`, or an explicit ``key``) and the protocol (``sample_rate``, the
    effective precision, ``label_keys``). Entries live in memory and, with ``cache_dir``, as
    ``features_<key>.pt`` files (written atomically, read with ``weights_only=True``) that later
    runs and processes reuse. ``hits`` and ``misses`` count lookups.
    """

    def __init__(self, cache_dir: str | os.PathLike[str] | None = None, *, memory: bool = True) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.memory: dict[str, Features] | None = {} if memory else None
        self.hits = 0
        self.misses = 0

    def key(
        self,
        model: MarlinEncoder | MarlinAutoencoder,
        dataset: Any,
        *,
        key: str | None = None,
        sample_rate: int = 1,
        device: str | torch.device | None = None,
        precision: str = "auto",
        label_keys: Iterable[str] = LABEL_KEYS,
    ) -> str:
        """The cache key (hex) of these features."""
        enc = as_encoder(model)
        dev = torch.device(device) if device is not None else next(enc.parameters()).device
        bf16 = precision == "bf16" or (precision == "auto" and dev.type == "cuda")
        parts = [encoder_digest(enc), key if key is not None else dataset_spec(dataset), sample_rate, "bf16" if bf16 else "fp32", list(label_keys)]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]

    def get(
        self,
        model: MarlinEncoder | MarlinAutoencoder,
        dataset: Any,
        *,
        key: str | None = None,
        sample_rate: int = 1,
        batch_size: int = 16,
        device: str | torch.device | None = None,
        precision: str = "auto",
        label_keys: Iterable[str] = LABEL_KEYS,
        progress: bool = False,
    ) -> Features:
        """Features of ``dataset`` under ``model`` (see :func:`compute_features`), cached."""
        label_keys = tuple(label_keys)
        k = self.key(model, dataset, key=key, sample_rate=sample_rate, device=device, precision=precision, label_keys=label_keys)
        if self.memory is not None and k in self.memory:
            self.hits += 1
            return self.memory[k]
        path = self.cache_dir / f"features_{k}.pt" if self.cache_dir is not None else None
        if path is not None and path.exists():
            blob = torch.load(path, map_location="cpu", weights_only=True)
            feats = Features(blob["windows"], blob["owner"], dict(blob["labels"]))
            self.hits += 1
        else:
            self.misses += 1
            feats = compute_features(
                model, dataset, sample_rate=sample_rate, batch_size=batch_size, device=device,
                precision=precision, label_keys=label_keys, progress=progress,
            )
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
                torch.save({"windows": feats.windows, "owner": feats.owner, "labels": feats.labels}, tmp)
                tmp.replace(path)
        if self.memory is not None:
            self.memory[k] = feats
        return feats

    def __len__(self) -> int:
        return len(self.memory) if self.memory is not None else 0


# --------------------------------------------------------------------------------------
# Targets, losses, scores
# --------------------------------------------------------------------------------------


def _check_kind(task: str) -> None:
    if task not in TASK_KINDS:
        raise ValueError(f"task must be one of {TASK_KINDS}, got {task!r}")


def prepare_targets(targets: torch.Tensor, task: str, num_classes: int | None = None, *, name: str = "targets") -> tuple[torch.Tensor, int]:
    """Check targets for a task kind; returns ``(targets, num_outputs)``.

    ``multilabel``: ``(N, C)`` of 0/1 -> float32, ``C`` outputs; ``binary``: ``(N,)`` of 0/1 ->
    float32, 1 output; ``multiclass``: ``(N,)`` class ids -> int64, ``num_classes`` outputs
    (default ``max + 1``; pass it when a small subset may miss the last classes).
    """
    _check_kind(task)
    targets = torch.as_tensor(targets)
    if task == "multilabel":
        if targets.dim() != 2:
            raise ValueError(f"{name} for a multilabel task must be (N, C) of 0/1, got shape {tuple(targets.shape)}")
        out = targets.shape[1]
    elif targets.dim() != 1:
        raise ValueError(f"{name} for a {task} task must be (N,), got shape {tuple(targets.shape)}")
    if task in ("multilabel", "binary"):
        if targets.numel() and not bool(((targets == 0) | (targets == 1)).all()):
            raise ValueError(f"{name} for a {task} task must hold only 0 and 1")
        return targets.float(), (out if task == "multilabel" else 1)
    if targets.is_floating_point() and not bool((targets == targets.round()).all()):
        raise ValueError(f"{name} for a multiclass task must be integer class ids")
    targets = targets.long()
    n = int(targets.max()) + 1 if num_classes is None else int(num_classes)
    if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= n):
        raise ValueError(f"{name} must be class ids in 0..{n - 1}; pass num_classes >= {int(targets.max()) + 1}")
    return targets, n


def task_loss(logits: torch.Tensor, targets: torch.Tensor, task: str) -> torch.Tensor:
    """BCE-with-logits (multilabel, binary on ``logits[:, 0]``) or cross-entropy (multiclass)."""
    if task == "multiclass":
        return F.cross_entropy(logits, targets)
    if task == "binary":
        return F.binary_cross_entropy_with_logits(logits[:, 0], targets)
    return F.binary_cross_entropy_with_logits(logits, targets)


def logits_to_scores(logits: torch.Tensor, task: str) -> torch.Tensor:
    """Probabilities: sigmoid ``(N,)`` (binary), sigmoid ``(N, C)`` (multilabel), softmax ``(N, C)``."""
    _check_kind(task)
    if task == "multiclass":
        return logits.softmax(-1)
    if task == "binary":
        return logits[:, 0].sigmoid()
    return logits.sigmoid()


# --------------------------------------------------------------------------------------
# Linear probe
# --------------------------------------------------------------------------------------


@dataclass
class ProbeResult:
    """A trained linear head and its history (``epoch``, ``train_loss``, ``lr``, ``val_loss`` and,
    when selecting by metric, ``val_metric``)."""

    head: nn.Linear
    task: str
    history: list[dict[str, float]]
    best_epoch: int

    @torch.no_grad()
    def predict(self, feats: torch.Tensor) -> torch.Tensor:
        """Probabilities of ``feats (N, D)``: ``(N,)`` binary, else ``(N, C)``."""
        if feats.dim() != 2 or feats.shape[1] != self.head.in_features:
            raise ValueError(f"feats must be (N, {self.head.in_features}), got {tuple(feats.shape)}")
        return logits_to_scores(self.head(feats.float()), self.task)


def _check_features(feats: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(feats, torch.Tensor) or feats.dim() != 2 or feats.shape[0] == 0:
        shape = tuple(feats.shape) if isinstance(feats, torch.Tensor) else type(feats).__name__
        raise ValueError(f"{name} must be a non-empty (N, D) tensor, got {shape}; pool window features first (Features.pooled())")
    if not bool(torch.isfinite(feats).all()):
        raise ValueError(f"{name} holds NaN or infinite values")
    return feats.float().cpu()


#: Named linear-probe protocols (:func:`linear_probe`'s ``protocol``). ``official``: the official
#: CelebV-HQ FAR code's: batch 32, Adam(lr 1e-4, betas (0.5, 0.9)), the rate halved when the
#: validation loss has not improved for 7 epochs (ReduceLROnPlateau(factor 0.5, patience 7)),
#: training stops once the rate is at or below 1e-6 (at most 2000 epochs), and the head of the
#: epoch with the best validation metric (AUC; accuracy for multi-class) is kept.
PROBE_PROTOCOLS: dict[str, dict[str, Any]] = {
    "official": dict(epochs=2000, lr=1e-4, betas=(0.5, 0.9), batch_size=32, eval_every=1, plateau=(0.5, 7),
                     stop_lr=1e-6, select="metric"),
}


def _selection_metric(logits: torch.Tensor, targets: torch.Tensor, task: str) -> float:
    """The validation metric ``select="metric"`` keeps the best head by: micro AUC (multilabel),
    AUC (binary), accuracy (multiclass); ``nan`` scores as -inf."""
    scores = logits_to_scores(logits, task)
    if task == "multilabel":
        value = multilabel_auc(scores, targets, average="micro")
    elif task == "binary":
        value = binary_auc(scores, targets)
    else:
        value = multiclass_accuracy(scores, targets)
    return -math.inf if math.isnan(value) else value


def _protocol_settings(protocol: str) -> tuple[Any, ...]:
    """``epochs, lr, betas, batch_size, eval_every, plateau, stop_lr, select`` of a named protocol."""
    if protocol not in PROBE_PROTOCOLS:
        raise ValueError(f"protocol must be one of {sorted(PROBE_PROTOCOLS)} or None, got {protocol!r}")
    named = PROBE_PROTOCOLS[protocol]
    return tuple(named[k] for k in ("epochs", "lr", "betas", "batch_size", "eval_every", "plateau", "stop_lr", "select"))


def _validate(logits: torch.Tensor, targets: torch.Tensor, task: str, select: str, row: dict[str, float]) -> float:
    """Record ``val_loss`` (and ``val_metric`` when ``select="metric"``) of validation ``logits``
    in ``row``; return the selection key (higher is better)."""
    row["val_loss"] = float(task_loss(logits, targets, task))
    if select == "metric":
        row["val_metric"] = _selection_metric(logits, targets, task)
    return row["val_metric"] if select == "metric" else -row["val_loss"]


def linear_probe(
    train_feats: torch.Tensor,
    train_targets: torch.Tensor,
    val_feats: torch.Tensor | None = None,
    val_targets: torch.Tensor | None = None,
    *,
    task: str = "multilabel",
    num_classes: int | None = None,
    epochs: int = 200,
    lr: float = 1e-4,
    betas: tuple[float, float] = (0.5, 0.9),
    weight_decay: float = 0.0,
    batch_size: int | None = 256,
    seed: int = 0,
    eval_every: int | None = None,
    keep_best: bool = True,
    plateau: tuple[float, int] | None = None,
    stop_lr: float | None = None,
    select: str = "loss",
    protocol: str | None = None,
) -> ProbeResult:
    """Train ``Linear(D, C)`` on frozen features (CPU, fast).

    Args:
        train_feats: ``(N, D)``; train_targets: see :func:`prepare_targets`.
        val_feats, val_targets: optional; the validation loss is recorded every ``eval_every``
            epochs (default: 20 evaluations) and, with ``keep_best``, the best head on
            validation is returned (model selection on val, never on test).
        task: ``"multilabel"`` (BCE), ``"multiclass"`` (cross-entropy) or ``"binary"`` (BCE).
        num_classes: outputs of a multiclass head (default ``max(train_targets) + 1``).
        epochs, lr, betas, weight_decay: Adam; defaults follow MARLIN's FAR protocol (lr 1e-4,
            betas (0.5, 0.9)).
        batch_size: mini-batch size, shuffled each epoch; ``None`` (or ``>= N``) is full batch.
        seed: head init and shuffling (through :func:`task_generator`).
        plateau: ``(factor, patience)``: multiply the rate by ``factor`` when the validation loss
            has not improved for ``patience`` evaluations (needs validation data).
        stop_lr: stop once the rate is at or below this (with ``plateau``).
        select: the best head is the one with the lowest validation ``"loss"`` or the highest
            validation ``"metric"`` (:func:`_selection_metric`).
        protocol: a name in :data:`PROBE_PROTOCOLS` (``"official"``); its settings replace
            ``epochs``, ``lr``, ``betas``, ``batch_size``, ``eval_every``, ``plateau``,
            ``stop_lr`` and ``select``. ``None``: the arguments as given (the course's protocol).

    The returned :class:`ProbeResult` records each evaluation (``history``: epoch, train loss,
    validation loss and metric, rate) and the epoch whose head it holds (``best_epoch``).
    """
    if protocol is not None:
        epochs, lr, betas, batch_size, eval_every, plateau, stop_lr, select = _protocol_settings(protocol)
    _check_kind(task)
    if select not in ("loss", "metric"):
        raise ValueError(f"select must be 'loss' or 'metric', got {select!r}")
    x = _check_features(train_feats, "train_feats")
    y, n_out = prepare_targets(train_targets, task, num_classes, name="train_targets")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"train_feats has {x.shape[0]} rows but train_targets has {y.shape[0]}")
    if task == "multilabel" and num_classes is not None and num_classes != n_out:
        raise ValueError(f"num_classes={num_classes} but multilabel train_targets have {n_out} columns")
    has_val = val_feats is not None
    if has_val != (val_targets is not None):
        raise ValueError("pass both val_feats and val_targets, or neither")
    if plateau is not None and not has_val:
        what = f"protocol {protocol!r}" if protocol else "plateau"
        raise ValueError(f"{what} steps the rate on the validation loss: pass val_feats and val_targets")
    if has_val:
        xv = _check_features(val_feats, "val_feats")
        yv, _ = prepare_targets(val_targets, task, n_out if task == "multiclass" else None, name="val_targets")
        if xv.shape[1] != x.shape[1] or yv.shape[0] != xv.shape[0] or yv.shape[1:] != y.shape[1:]:
            raise ValueError(
                f"val_feats / val_targets {tuple(xv.shape)} / {tuple(yv.shape)} do not match train {tuple(x.shape)} / {tuple(y.shape)}"
            )
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be >= 1 or None (full batch), got {batch_size}")
    eval_every = eval_every or max(1, epochs // 20)
    head = make_head(x.shape[1], n_out, task_generator(seed, "probe_head"))
    opt = torch.optim.Adam(head.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
    sched = None
    if plateau is not None:
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=plateau[0], patience=plateau[1])
    shuffle = task_generator(seed, "probe_shuffle")
    n = x.shape[0]
    bs = n if batch_size is None else min(batch_size, n)
    history: list[dict[str, float]] = []
    best = (-math.inf, 0, copy.deepcopy(head.state_dict()))  # (key, epoch, weights): higher key is better
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=shuffle) if bs < n else torch.arange(n)
        total = 0.0
        for i in range(0, n, bs):
            idx = order[i : i + bs]
            loss = task_loss(head(x[idx]), y[idx], task)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        if epoch % eval_every == 0 or epoch == epochs:
            row = {"epoch": epoch, "train_loss": total / n, "lr": opt.param_groups[0]["lr"]}
            if has_val:
                with torch.no_grad():
                    key = _validate(head(xv), yv, task, select, row)
                if key > best[0]:
                    best = (key, epoch, copy.deepcopy(head.state_dict()))
                if sched is not None:
                    sched.step(row["val_loss"])
            history.append(row)
            if stop_lr is not None and opt.param_groups[0]["lr"] <= stop_lr:
                break
    best_epoch = history[-1]["epoch"] if history else epochs
    if has_val and keep_best:
        head.load_state_dict(best[2])
        best_epoch = best[1]
    return ProbeResult(head.eval(), task, history, best_epoch)


# --------------------------------------------------------------------------------------
# Fine-tuning
# --------------------------------------------------------------------------------------


@dataclass
class FineTuneResult:
    """The fine-tuned encoder and head (CPU, eval mode), the loss per epoch (and, with
    validation, each evaluation's validation loss and metric and the rate) and the epoch whose
    weights they hold (``best_epoch``: the last epoch without validation selection)."""

    encoder: MarlinEncoder
    head: nn.Linear
    task: str
    history: list[dict[str, float]]
    best_epoch: int = 0

    @torch.no_grad()
    def predict(self, feats: torch.Tensor) -> torch.Tensor:
        """Probabilities of features ``(N, D)`` computed with :attr:`encoder`."""
        return logits_to_scores(self.head(feats.float()), self.task)


def random_clip(video: torch.Tensor, num_frames: int, sample_rate: int, generator: torch.Generator, size: int | None = None) -> torch.Tensor:
    """One random window of a video: ``(3, T, H, W) -> (3, num_frames, S, S)`` (training-time sampling)."""
    if video.dim() != 4 or video.shape[0] != 3:
        raise ValueError(f"video must be (3, T, H, W), got shape {tuple(video.shape)}")
    start = random_clip_start(video.shape[1], num_frames, sample_rate, generator)
    clip = video[:, start : start + clip_span(num_frames, sample_rate) : sample_rate]
    return clip if size is None else resize_clips(clip, size)


def fine_tune(
    encoder: MarlinEncoder | MarlinAutoencoder,
    head: nn.Linear,
    dataset: Any,
    targets: torch.Tensor,
    *,
    task: str,
    indices: Sequence[int] | torch.Tensor | None = None,
    epochs: int = 10,
    batch_size: int = 8,
    lr: float = 1e-4,
    betas: tuple[float, float] = (0.5, 0.9),
    weight_decay: float = 0.0,
    sample_rate: int = 1,
    seed: int = 0,
    device: str | torch.device | None = None,
    precision: str = "auto",
    val_dataset: Any = None,
    val_targets: torch.Tensor | None = None,
    select: str | None = None,
    eval_every: int = 1,
    plateau: tuple[float, int] | None = None,
    stop_lr: float | None = None,
    protocol: str | None = None,
    progress: bool = False,
) -> FineTuneResult:
    """Train encoder + head on one random clip per item per epoch (MARLIN's fine-tuning).

    The encoder and head are trained **in place** (pass a copy to keep the original).

    Validation selection (``select="metric"`` or ``"loss"``, needs ``val_dataset`` and
    ``val_targets``): every ``eval_every`` epochs the model scores one clip per validation item
    (the same clips each time); the weights of the best evaluation (highest AUC / micro AUC /
    accuracy, or lowest loss) are kept and returned. ``plateau=(factor, patience)`` lowers the
    rate when the validation loss stalls, and training stops once it is at or below ``stop_lr``.
    ``protocol="official"`` takes all of these, and ``epochs``, ``lr``, ``betas`` and
    ``batch_size``, from :data:`PROBE_PROTOCOLS` (the official code fine-tunes as it probes).
    Without ``select`` it trains ``epochs`` epochs and keeps the last weights.

    Args:
        encoder: the encoder (or an autoencoder, whose encoder is used).
        head: ``Linear(D, C)`` (``C = 1`` for binary); see :func:`make_head`.
        dataset: items with ``"video"`` ``(3, T, H, W)``; a data set that caches its items
            (``SynthFaceDataset(cache=True)``) saves re-rendering every epoch.
        targets: per-item targets of the whole ``dataset`` (see :func:`prepare_targets`).
        indices: the items to train on (the low-data subset; default all).
        sample_rate: frame stride of the clips.
        seed: shuffling and clip starts (through :func:`task_generator`).
        device: where to train (default: the encoder's device); precision: ``"auto"`` = bf16
            autocast on CUDA, fp32 elsewhere.
        progress: a progress bar over the training steps (its rate, the epoch and its loss).
    """
    if protocol is not None:
        epochs, lr, betas, batch_size, eval_every, plateau, stop_lr, select = _protocol_settings(protocol)
    _check_kind(task)
    enc = as_encoder(encoder)
    y, n_out = prepare_targets(targets, task)
    if y.shape[0] != len(dataset):
        raise ValueError(f"targets has {y.shape[0]} rows but the dataset has {len(dataset)} items; pass per-item targets")
    if select not in (None, "metric", "loss"):
        raise ValueError(f"select must be None, 'metric' or 'loss', got {select!r}")
    if (select is not None or plateau is not None) and (val_dataset is None or val_targets is None):
        what = f"protocol {protocol!r}" if protocol else ("select" if select is not None else "plateau")
        raise ValueError(f"fine-tuning with {what} chooses on the validation split: pass val_dataset and val_targets")
    if plateau is not None and select is None:
        select = "loss"
    if select is not None:
        yv, _ = prepare_targets(val_targets, task, n_out if task == "multiclass" else None, name="val_targets")
        if yv.shape[0] != len(val_dataset):
            raise ValueError(f"val_targets has {yv.shape[0]} rows but val_dataset has {len(val_dataset)} items")
        if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
            raise ValueError(f"eval_every must be an int >= 1, got {eval_every!r}")
    if task == "multiclass":
        n_out = max(n_out, head.out_features)  # a head may have classes the targets lack
    if head.in_features != enc.cfg.enc_dim or head.out_features != n_out:
        raise ValueError(
            f"head must be Linear({enc.cfg.enc_dim}, {n_out}) for this encoder and these targets, "
            f"got Linear({head.in_features}, {head.out_features}); build it with make_head"
        )
    idx = torch.arange(len(dataset)) if indices is None else torch.as_tensor(indices, dtype=torch.int64)
    if idx.numel() == 0:
        raise ValueError("indices is empty; nothing to fine-tune on")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    dev = torch.device(device) if device is not None else next(enc.parameters()).device
    bf16 = precision == "bf16" or (precision == "auto" and dev.type == "cuda")
    enc.to(dev).train()
    head.to(dev).train()
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=lr, betas=betas, weight_decay=weight_decay)
    sched = None
    if plateau is not None:
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=plateau[0], patience=plateau[1])
    shuffle, clips_rng = task_generator(seed, "finetune_shuffle"), task_generator(seed, "finetune_clips")

    def clip_of(ds: Any, j: int, gen: torch.Generator) -> torch.Tensor:
        return random_clip(ds[j]["video"], enc.cfg.num_frames, sample_rate, gen, enc.cfg.img_size)

    @torch.no_grad()
    def val_logits() -> torch.Tensor:
        enc.eval(), head.eval()
        gen, out = task_generator(seed, "finetune_val_clips"), []  # the same clips at every evaluation
        for i in range(0, len(val_dataset), batch_size):
            x = torch.stack([clip_of(val_dataset, j, gen) for j in range(i, min(i + batch_size, len(val_dataset)))]).to(dev)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                out.append(head(enc.extract_features(x)).float().cpu())
        enc.train(), head.train()
        return torch.cat(out)

    history: list[dict[str, float]] = []
    best: tuple[float, int, Any] = (-math.inf, 0, None)  # (key, epoch, weights)
    bar = progress_bar(total=epochs * math.ceil(len(idx) / batch_size), desc="fine-tune", unit="step", enabled=progress, leave=False)
    for epoch in range(1, epochs + 1):
        order = idx[torch.randperm(len(idx), generator=shuffle)]
        total = 0.0
        for i in range(0, len(order), batch_size):
            batch = order[i : i + batch_size].tolist()
            x = torch.stack([clip_of(dataset, j, clips_rng) for j in batch]).to(dev)
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
                logits = head(enc.extract_features(x))
            loss = task_loss(logits.float(), y[batch].to(dev), task)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch)
            bar.update(1)
        row: dict[str, float] = {"epoch": epoch, "train_loss": total / len(order)}
        bar.set_postfix(epoch=epoch, loss=f"{row['train_loss']:.3f}")
        if select is not None and (epoch % eval_every == 0 or epoch == epochs):
            row["lr"] = opt.param_groups[0]["lr"]
            key = _validate(val_logits(), yv, task, select, row)
            if key > best[0] or best[2] is None:
                best = (key, epoch, ({k: v.detach().cpu().clone() for k, v in enc.state_dict().items()},
                                     {k: v.detach().cpu().clone() for k, v in head.state_dict().items()}))
            if sched is not None:
                sched.step(row["val_loss"])
        history.append(row)
        if select is not None and stop_lr is not None and opt.param_groups[0]["lr"] <= stop_lr:
            break
    bar.close()
    best_epoch = history[-1]["epoch"]
    if best[2] is not None:
        enc.load_state_dict(best[2][0])
        head.load_state_dict(best[2][1])
        best_epoch = best[1]
    return FineTuneResult(enc.cpu().eval(), head.cpu().eval(), task, history, best_epoch)


# --------------------------------------------------------------------------------------
# Low-data regime
# --------------------------------------------------------------------------------------


def subsample(
    indices: Sequence[int] | torch.Tensor,
    fraction: float,
    seed: int = 0,
    *,
    stratify: Sequence[int] | torch.Tensor | None = None,
    min_per_class: int = 1,
) -> torch.Tensor:
    """A seeded subset of ``indices`` holding about ``fraction`` of them -> sorted ``int64 (k,)``.

    Without ``stratify``, ``k = max(1, round(fraction * n))`` indices are drawn uniformly. With
    ``stratify`` (one 1-D label per index: a class id, ``fake``, a manipulation...), each class
    ``c`` keeps ``max(min_per_class, round(fraction * n_c))`` of its ``n_c`` members (at most
    ``n_c``), so even a 1 % subset sees every class. Multi-label targets cannot be stratified
    exactly: pass a 1-D key or ``None``.

    The subsets of one seed are nested: each class is shuffled once per seed and the first
    ``k_c`` are kept, so a seed's 1 % subset lies inside its 10 % subset.
    """
    idx = torch.as_tensor(indices, dtype=torch.int64)
    if idx.dim() != 1 or idx.numel() == 0:
        raise ValueError(f"indices must be a non-empty 1-D sequence of ints, got shape {tuple(idx.shape)}")
    if not (isinstance(fraction, (int, float)) and 0 < fraction <= 1):
        raise ValueError(f"fraction must be in (0, 1] (e.g. 0.01 for 1 % of the labels), got {fraction!r}")
    if min_per_class < 0:
        raise ValueError(f"min_per_class must be >= 0, got {min_per_class}")
    gen = task_generator(seed, "subsample")
    if stratify is None:
        k = max(1, round(fraction * idx.numel()))
        return idx[torch.randperm(idx.numel(), generator=gen)[:k]].sort().values
    strata = torch.as_tensor(stratify)
    if strata.dim() != 1 or strata.shape[0] != idx.shape[0]:
        raise ValueError(
            f"stratify must be 1-D with one label per index ({idx.shape[0]}), got shape {tuple(strata.shape)}; "
            "for multi-label targets pass a 1-D key or None"
        )
    keep = []
    for c in torch.unique(strata):  # sorted: deterministic draw order
        members = idx[strata == c]
        k = min(members.numel(), max(min_per_class, round(fraction * members.numel())))
        keep.append(members[torch.randperm(members.numel(), generator=gen)[:k]])
    return torch.cat(keep).sort().values


# --------------------------------------------------------------------------------------
# Baselines
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskSpec:
    """What :func:`run_baselines` needs to know about a task.

    Attributes:
        name: short name for the table (``"far"``, ``"fer"``, ``"dfd"``).
        kind: ``"multilabel"``, ``"multiclass"`` or ``"binary"``.
        label_key: the item field holding the targets (``"attributes"``, ``"expression"``, ``"fake"``).
        num_classes: outputs of a multiclass head (fixed, so a small subset missing a class still
            gets the full head); ``None`` otherwise.
        evaluate: ``(video_scores, window_scores, test_features) -> list of metric dicts`` (one
            per row; extra keys such as ``level`` and ``manipulation`` become columns).
            ``video_scores`` come from the head on pooled features (``train_on="video"``) or as
            the mean of the window scores (``train_on="clip"``).
        train_on: ``"video"`` (one pooled feature per item, MARLIN's probe) or ``"clip"`` (every
            window is a training sample labelled like its item, e.g. deepfake clips).
        stratify_key: item field used to stratify the low-data subsets (or ``None``).
        check: optional ``(features, split_name) -> None`` that raises a helpful ``ValueError``
            when a split cannot serve the task (e.g. no fakes for deepfake detection).
    """

    name: str
    kind: str
    label_key: str
    evaluate: Callable[[torch.Tensor, torch.Tensor, Features], list[dict[str, Any]]]
    num_classes: int | None = None
    train_on: str = "video"
    stratify_key: str | None = None
    check: Callable[[Features, str], None] | None = None

    def __post_init__(self) -> None:
        _check_kind(self.kind)
        if self.train_on not in ("video", "clip"):
            raise ValueError(f"train_on must be 'video' or 'clip', got {self.train_on!r}")

    def targets(self, feats: Features) -> torch.Tensor:
        """Per-item targets from the labels stored beside the features."""
        if self.label_key not in feats.labels:
            raise ValueError(
                f"task {self.name!r} needs item field {self.label_key!r}; the data set's items have {sorted(feats.labels)}"
            )
        return feats.labels[self.label_key]


def _probe_inputs(spec: TaskSpec, feats: Features, items: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) for a probe: pooled per item, or one row per window for ``train_on="clip"``."""
    sub = feats if items is None else feats.select(items)
    y = spec.targets(sub)
    if spec.train_on == "clip":
        return sub.windows, y[sub.owner]
    return sub.pooled(), y


def _scores(spec: TaskSpec, predict: Callable[[torch.Tensor], torch.Tensor], feats: Features) -> tuple[torch.Tensor, torch.Tensor]:
    """(video_scores, window_scores) of a trained head on test features."""
    window_scores = predict(feats.windows)
    if spec.train_on == "clip":
        video_scores = pool_windows(window_scores, feats.owner, feats.num_items)
    else:
        video_scores = predict(feats.pooled())
    return video_scores, window_scores


def run_baselines(
    spec: TaskSpec,
    pretrained: MarlinEncoder | MarlinAutoencoder,
    train_set: Any,
    test_set: Any,
    *,
    val_set: Any | None = None,
    fractions: Sequence[float] = (1.0,),
    seeds: Sequence[int] = (0,),
    methods: Sequence[str] = DEFAULT_METHODS,
    cache: FeatureCache | None = None,
    sample_rate: int = 1,
    feature_batch_size: int = 16,
    device: str | torch.device | None = None,
    precision: str = "auto",
    probe: dict[str, Any] | None = None,
    finetune: dict[str, Any] | None = None,
    progress: bool = False,
) -> ResultsTable:
    """Evaluate a task's baselines over label fractions and seeds -> :class:`ResultsTable`.

    Methods (``methods`` picks and orders them):

    * ``"random_init_probe"``: a randomly initialised encoder of the same config (seeded by the
      row's seed), frozen, plus a linear probe;
    * ``"supervised_scratch"``: the same architecture from random init, fine-tuned with its head
      on the labelled subset (no pretraining);
    * ``"pretrained_probe"``: the pretrained encoder, frozen, plus a linear probe;
    * ``"pretrained_finetune"``: the pretrained encoder fine-tuned (a copy; ``pretrained`` is
      left untouched).

    For every fraction and seed the training items are :func:`subsample`\\ d (stratified by
    ``spec.stratify_key``); features of frozen encoders come from ``cache`` (one per call if
    ``None``), so each (encoder, split) is encoded once. Validation features (``val_set``)
    select the probe's epoch; the test split is only scored. Rows hold ``task``, ``method``,
    ``fraction``, ``seed``, ``n_train`` (items), ``n_test`` and the task's metrics.

    Args:
        probe: keyword arguments for :func:`linear_probe` (``epochs``, ``lr``, ``batch_size``...).
            The defaults are MARLIN's (Adam lr 1e-4, betas (0.5, 0.9)), tuned for tens of
            thousands of steps; a few hundred full-batch steps on a lesson-sized set move a head
            only a little, so small runs may pass e.g. ``probe=dict(lr=1e-2, epochs=200)``
            (and must then say so).
        finetune: keyword arguments for :func:`fine_tune` (``epochs``, ``lr``, ``batch_size``...; with ``protocol`` or
            ``select`` it chooses its epoch on ``val_set``).
        sample_rate, feature_batch_size, device, precision: the feature protocol.
        progress: progress bars: one over the runs (fractions x seeds x methods, with the run
            in hand), and one per feature pass and per fine-tuning.
    """
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"methods must be a non-empty subset of {METHODS}, got {tuple(methods)}")
    if not fractions or any(not 0 < f <= 1 for f in fractions):
        raise ValueError(f"fractions must be in (0, 1], e.g. (0.01, 0.1, 1.0); got {tuple(fractions)}")
    if not seeds:
        raise ValueError("seeds must name at least one seed, e.g. (0, 1, 2)")
    enc = as_encoder(pretrained)
    cache = cache if cache is not None else FeatureCache()
    probe = dict(probe or {})
    finetune = {"progress": progress, **(finetune or {})}
    fkw = dict(sample_rate=sample_rate, batch_size=feature_batch_size, device=device, precision=precision, progress=progress)

    def features(model: MarlinEncoder, dataset: Any, split: str) -> Features:
        feats = cache.get(model, dataset, **fkw)
        if spec.check is not None:
            spec.check(feats, split)
        spec.targets(feats)
        return feats

    splits = {"train": train_set, "test": test_set, **({"val": val_set} if val_set is not None else {})}
    reference = {name: features(enc, ds, name) for name, ds in splits.items()}  # labels + pretrained features
    train_targets = spec.targets(reference["train"])
    strata = reference["train"].labels.get(spec.stratify_key) if spec.stratify_key else None
    n_test = reference["test"].num_items
    table = ResultsTable()

    def probe_rows(model: MarlinEncoder, items: torch.Tensor, seed: int) -> list[dict[str, Any]]:
        feats = {name: features(model, ds, name) for name, ds in splits.items()}
        x, y = _probe_inputs(spec, feats["train"], items)
        xv = yv = None
        if "val" in feats:
            xv, yv = _probe_inputs(spec, feats["val"])
        result = linear_probe(x, y, xv, yv, task=spec.kind, num_classes=spec.num_classes, seed=seed, **probe)
        return spec.evaluate(*_scores(spec, result.predict, feats["test"]), feats["test"])

    def finetune_rows(model: MarlinEncoder, items: torch.Tensor, seed: int) -> list[dict[str, Any]]:
        n_out = spec.num_classes if spec.kind == "multiclass" else (train_targets.shape[1] if spec.kind == "multilabel" else 1)
        head = make_head(model.cfg.enc_dim, n_out, task_generator(seed, "finetune_head"))
        validated = finetune.get("protocol") is not None or finetune.get("select") is not None
        if validated and val_set is None:
            raise ValueError("finetune chooses on validation (protocol / select): pass val_set")
        val = {"val_dataset": val_set, "val_targets": spec.targets(reference["val"])} if validated else {}
        result = fine_tune(
            model, head, train_set, train_targets, task=spec.kind, indices=items, seed=seed,
            sample_rate=sample_rate, device=device, precision=precision, **val, **finetune,
        )
        test = compute_features(result.encoder, test_set, sample_rate=sample_rate, batch_size=feature_batch_size, device=device,
                                precision=precision, progress=progress)
        return spec.evaluate(*_scores(spec, result.predict, test), test)

    runs = progress_bar(total=len(fractions) * len(seeds) * len(methods), desc=f"{spec.name} baselines", unit="run", enabled=progress)
    for fraction in fractions:
        for seed in seeds:
            items = subsample(torch.arange(reference["train"].num_items), fraction, seed, stratify=strata)
            for method in methods:
                runs.set_postfix_str(f"{method}, {fraction:g} of the labels, seed {seed}")
                base = {"task": spec.name, "method": method, "fraction": float(fraction), "seed": int(seed),
                        "n_train": int(items.numel()), "n_test": n_test}
                if method == "random_init_probe":
                    rows = probe_rows(random_encoder(enc.cfg, seed), items, seed)
                elif method == "pretrained_probe":
                    rows = probe_rows(enc, items, seed)
                elif method == "supervised_scratch":
                    rows = finetune_rows(random_encoder(enc.cfg, seed), items, seed)
                else:
                    rows = finetune_rows(copy.deepcopy(enc).cpu(), items, seed)
                for r in rows:
                    table.append({**base, **r})
                runs.update(1)
    runs.close()
    return table


__all__ = [
    "DEFAULT_METHODS",
    "FeatureCache",
    "LabelView",
    "Features",
    "FineTuneResult",
    "LABEL_KEYS",
    "METHODS",
    "ProbeResult",
    "TASK_KINDS",
    "TaskSpec",
    "as_encoder",
    "clip_windows",
    "compute_features",
    "dataset_spec",
    "encoder_digest",
    "fine_tune",
    "linear_probe",
    "logits_to_scores",
    "make_head",
    "pool_windows",
    "prepare_targets",
    "random_clip",
    "random_encoder",
    "run_baselines",
    "subsample",
    "task_generator",
]
