"""The evaluation's data and features: SynthFace splits rendered in memory (classification
tasks and LS), task targets, the pixel probe's features and a frozen encoder's two poolings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F

from marlin_lite.data import SynthFaceDataset
from marlin_lite.encoders import as_encoder
from marlin_lite.model import MarlinAutoencoder, MarlinConfig, MarlinEncoder
from marlin_lite.tasks.lipsync import lipsync_splits
from marlin_lite.tasks.probe import Features
from marlin_lite.transfer.settings import TASKS, TransferSettings


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


def load_lipsync_data(cfg: MarlinConfig, settings: TransferSettings) -> dict[str, Any]:
    """Render the LS train / val / test splits (:func:`~marlin_lite.tasks.lipsync.lipsync_splits`):
    talking SynthFace clips of ``settings.ls_clip_frames`` frames at the encoder's size, framed
    and split by person as the other tasks (``settings.world_seed``, ``split_fractions``).
    The val split is rendered for its size only: nothing is chosen in LS."""
    d = settings.data["ls"]
    return lipsync_splits(d["num_identities"], d["clips_per_identity"], splits=("train", "val", "test"), world_seed=settings.world_seed,
                          fractions=tuple(settings.split_fractions), size=cfg.img_size, num_frames=settings.ls_clip_frames,
                          framing=settings.framing, expressions=settings.expressions)


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
