"""Masked reconstruction measured against the baselines a skeptic asks for.

A masked autoencoder's loss means little on its own: hiding 90 % of a face and predicting
"skin colour" everywhere already gets a small MSE. Two baselines that need no training say
what the loss is worth:

* **mean visible patch**: every hidden patch is predicted as the mean of the clip's visible
  patches (the clip's average colour, per pixel position of a patch);
* **nearest visible patch**: every hidden patch is a copy of the visible patch closest to it in
  the token grid (time, row, column; distances in token units, ties to the lowest index), the
  best a model could do by interpolating without knowing what a face looks like.

A model that learnt faces must beat both, on faces it never saw, under the masking it was
trained with and under another. :func:`reconstruction_report` measures all three on the same
clips and masks, clip by clip, so the comparison is paired.

Shapes: ``B`` clips, ``N`` tokens, ``n`` visible per clip, ``P`` values per patch
(``3 * tubelet * patch * patch``).
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from marlin_lite.data import SynthFaceDataset
from marlin_lite.masking import make_visible_mask, num_visible, TokenGrid
from marlin_lite.model import gather_tokens, MarlinAutoencoder, patchify, split_tokens
from marlin_lite.pretrain import model_from_checkpoint

#: The baselines of :func:`reconstruction_report`, in table order.
BASELINES = ("mean_visible_patch", "nearest_visible_patch")


def _check(patches: torch.Tensor, visible: torch.Tensor) -> None:
    if not isinstance(patches, torch.Tensor) or patches.dim() != 3 or not patches.is_floating_point():
        raise ValueError(f"patches must be a float tensor (B, N, P) (marlin_lite.model.patchify), got {getattr(patches, 'shape', type(patches))}")
    if not isinstance(visible, torch.Tensor) or visible.dtype != torch.bool or tuple(visible.shape) != tuple(patches.shape[:2]):
        raise ValueError(f"visible must be bool (B, N) = {tuple(patches.shape[:2])}, got {getattr(visible, 'dtype', type(visible))} "
                         f"{tuple(getattr(visible, 'shape', ()))}")
    counts = visible.sum(1)
    if bool((counts == 0).any()) or bool((counts == visible.shape[1]).any()):
        raise ValueError("every clip needs at least one visible and one hidden token")


def mean_visible_patch(patches: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """Predict every hidden patch as the mean of the clip's visible patches.

    Args:
        patches: ``float (B, N, P)``, the clip's patches (:func:`~marlin_lite.model.patchify`).
        visible: ``bool (B, N)``, the same number of True entries in every row.

    Returns:
        ``(B, N - n, P)``: one row per hidden token, in ascending token order (the order of
        the model's predictions and of :meth:`~marlin_lite.model.MarlinAutoencoder.targets`).
    """
    _check(patches, visible)
    split = split_tokens(visible)
    mean = gather_tokens(patches, split.visible).mean(1, keepdim=True)
    return mean.expand(-1, split.masked.shape[1], -1).clone()


def token_coordinates(grid: TokenGrid | tuple[int, int, int]) -> torch.Tensor:
    """``float (N, 3)`` (t, row, column) of every token, in the package's ``(t, h, w)`` order."""
    t, h, w = grid.shape if isinstance(grid, TokenGrid) else grid
    tt, hh, ww = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    return torch.stack([tt, hh, ww], -1).reshape(-1, 3).float()


def nearest_visible_patch(patches: torch.Tensor, visible: torch.Tensor, grid: TokenGrid | tuple[int, int, int]) -> torch.Tensor:
    """Predict every hidden patch as a copy of the nearest visible patch in the token grid.

    Distance is Euclidean over (time, row, column) in token units; among equally near visible
    tokens the one with the lowest index wins (deterministic).

    Args:
        patches: ``float (B, N, P)``; visible: ``bool (B, N)`` (equal counts per row);
        grid: the token grid ``(T', H', W')`` with ``T' * H' * W' = N``.

    Returns:
        ``(B, N - n, P)`` in ascending hidden-token order.
    """
    _check(patches, visible)
    coords = token_coordinates(grid).to(patches.device)
    if coords.shape[0] != patches.shape[1]:
        raise ValueError(f"grid has {coords.shape[0]} tokens but patches has {patches.shape[1]}; pass the model's token grid")
    split = split_tokens(visible)
    vis_xyz, hid_xyz = coords[split.visible], coords[split.masked]  # (B, n, 3), (B, m, 3)
    dist = torch.cdist(hid_xyz, vis_xyz)  # (B, m, n)
    nearest = dist.argmin(-1)  # first minimum: the lowest visible index (rows ascend)
    source = split.visible.gather(1, nearest)
    return gather_tokens(patches, source)


@dataclass
class ReconstructionReport:
    """Per-clip masked-patch MSE of a model and of the baselines on the same clips and masks.

    ``per_clip[name]`` is ``float (B,)`` for ``name`` in ``("model", *BASELINES)``.
    """

    strategy: str
    mask_ratio: float
    per_clip: dict[str, torch.Tensor]

    def mean(self, name: str) -> float:
        return float(self.per_clip[name].mean())

    def interval(self, name: str, other: str | None = None, z: float = 1.96) -> tuple[float, float, float]:
        """Mean and 95 % interval (normal approximation over clips) of ``name``, or of the paired
        ratio ``name / other`` of the mean MSEs (delta method on per-clip values)."""
        a = self.per_clip[name].double()
        n = a.numel()
        if other is None:
            m, se = float(a.mean()), float(a.std(unbiased=True) / math.sqrt(n)) if n > 1 else float("nan")
            return m, m - z * se, m + z * se
        b = self.per_clip[other].double()
        ma, mb = float(a.mean()), float(b.mean())
        r = ma / mb
        # Var(ma/mb) ~ (var(a) - 2 r cov(a, b) + r^2 var(b)) / (n mb^2)
        cov = float(((a - ma) * (b - mb)).sum() / max(n - 1, 1))
        var = (float(a.var(unbiased=True)) - 2 * r * cov + r * r * float(b.var(unbiased=True))) / (n * mb * mb) if n > 1 else float("nan")
        se = math.sqrt(max(var, 0.0))
        return r, r - z * se, r + z * se

    def summary(self) -> dict[str, Any]:
        """JSON-friendly means, the model's ratio to each baseline with its interval."""
        out: dict[str, Any] = {"strategy": self.strategy, "mask_ratio": self.mask_ratio, "clips": int(self.per_clip["model"].numel())}
        for name in self.per_clip:
            out[f"mse_{name}"] = self.mean(name)
        for b in BASELINES:
            r, lo, hi = self.interval("model", b)
            out[f"ratio_to_{b}"] = [r, lo, hi]
        return out


@torch.no_grad()
def reconstruction_report(
    model: MarlinAutoencoder,
    clips: torch.Tensor,
    *,
    strategy: str = "fasking",
    mask_ratio: float = 0.9,
    parsing: torch.Tensor | None = None,
    seed: int = 0,
    batch_size: int = 64,
) -> ReconstructionReport:
    """Masked-patch MSE of ``model`` and of :data:`BASELINES`, clip by clip.

    Args:
        model: a pretrained autoencoder (its critic is not used).
        clips: ``float (B, 3, T, H, W)`` in [0, 1], held-out clips.
        strategy, mask_ratio: the masking (:func:`~marlin_lite.masking.make_visible_mask`);
            face-guided strategies need ``parsing`` ``uint8 (B, T, H, W)``.
        seed: the masks' generator seed (the same masks for every model and baseline).
        batch_size: clips per forward pass.

    Returns:
        a :class:`ReconstructionReport` with ``float (B,)`` per-clip MSE over the hidden
        patches (raw [0, 1] pixels, MARLIN's loss) for the model and each baseline.
    """
    cfg = model.cfg
    grid = TokenGrid(cfg.num_frames, cfg.img_size, cfg.tubelet_size, cfg.patch_size)
    gen = torch.Generator().manual_seed(seed)
    visible = make_visible_mask(strategy, clips.shape[0], grid, mask_ratio, parsing=parsing, generator=gen)
    n = num_visible(grid.num_tokens, mask_ratio)
    device = next(model.parameters()).device
    model.eval()
    rows: dict[str, list[torch.Tensor]] = {"model": [], **{b: [] for b in BASELINES}}
    for i in range(0, clips.shape[0], batch_size):
        x = clips[i : i + batch_size].to(device)
        vis = visible[i : i + batch_size].to(device)
        split = split_tokens(vis, n)
        target = model.targets(x, split).float()
        patches = patchify(x, cfg.patch_size, cfg.tubelet_size).float()
        preds = {
            "model": model(x, split).float(),
            "mean_visible_patch": mean_visible_patch(patches, vis),
            "nearest_visible_patch": nearest_visible_patch(patches, vis, grid),
        }
        for name, p in preds.items():
            rows[name].append(((p - target) ** 2).mean((1, 2)).cpu())
    return ReconstructionReport(strategy, mask_ratio, {k: torch.cat(v) for k, v in rows.items()})


def reconstruction_table(reports: Sequence[ReconstructionReport]) -> str:
    """A Markdown table: one row per report, MSE of the model and each baseline, and the
    model's MSE as a fraction of each baseline's with its 95 % interval."""
    lines = ["| masking | model MSE | mean visible patch | nearest visible patch | model / mean patch | model / nearest patch |",
             "|---|---|---|---|---|---|"]
    for r in reports:
        cells = [f"{r.strategy} {r.mask_ratio:.2f}", f"{r.mean('model'):.4f}", f"{r.mean('mean_visible_patch'):.4f}",
                 f"{r.mean('nearest_visible_patch'):.4f}"]
        for b in BASELINES:
            m, lo, hi = r.interval("model", b)
            cells.append(f"{m:.2f} [{lo:.2f}, {hi:.2f}]")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def held_out_clips(num_clips: int, *, size: int = 64, num_frames: int = 8, framing: str = "face",
                   expressions: str = "marked", world_seed: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """``num_clips`` SynthFace clips of people no course run trains on (world 2, one clip each):
    ``float (B, 3, T, H, W)`` videos and ``uint8 (B, T, H, W)`` parsing maps."""
    if num_clips < 1:
        raise ValueError(f"num_clips must be >= 1, got {num_clips}")
    ds = SynthFaceDataset("test", num_identities=int(num_clips / 0.15) + 1, clips_per_identity=1, world_seed=world_seed,
                          size=size, num_frames=num_frames, framing=framing, expressions=expressions)
    items = [ds[i] for i in range(num_clips)]
    return torch.stack([it["video"] for it in items]), torch.stack([it["parsing"] for it in items])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m marlin_lite.recon CHECKPOINT [--clips N] [--strategies fasking tube]``: the
    reconstruction table of a checkpoint on held-out SynthFace people."""
    parser = argparse.ArgumentParser(prog="python -m marlin_lite.recon", description=main.__doc__.split("\n")[0])
    parser.add_argument("checkpoint", help="a MARLIN-lite checkpoint (a run's checkpoint.pt or the shipped weights)")
    parser.add_argument("--clips", type=int, default=240, help="held-out clips (default 240)")
    parser.add_argument("--strategies", nargs="+", default=["fasking", "tube"], help="maskings to score (default fasking tube)")
    parser.add_argument("--mask-ratio", type=float, default=0.9)
    parser.add_argument("--framing", default="face")
    parser.add_argument("--expressions", default="marked")
    parser.add_argument("--seed", type=int, default=0, help="the masks' seed")
    args = parser.parse_args(argv)
    try:
        model = model_from_checkpoint(args.checkpoint).float()
        cfg = model.cfg
        x, parsing = held_out_clips(args.clips, size=cfg.img_size, num_frames=cfg.num_frames, framing=args.framing,
                                    expressions=args.expressions)
        reports = [reconstruction_report(model, x, strategy=s, mask_ratio=args.mask_ratio, parsing=parsing, seed=args.seed)
                   for s in args.strategies]
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.checkpoint}: {args.clips} held-out clips (world 2, framing {args.framing}, expressions {args.expressions})")
    print(reconstruction_table(reports))
    return 0


__all__ = ["BASELINES", "ReconstructionReport", "mean_visible_patch", "nearest_visible_patch", "reconstruction_report",
           "reconstruction_table", "token_coordinates", "held_out_clips"]


if __name__ == "__main__":
    sys.exit(main())
