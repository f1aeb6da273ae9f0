"""Lip-sync metrics: Fréchet distances, PSNR and the expert's scores on generated mouths, over fixed windows.

Part of :mod:`marlin_lite.tasks.lipsync` (its docstring describes the whole pipeline and the shapes)."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from marlin_lite.tasks.probe import task_generator
from marlin_lite.tasks.lipsync.data import (
    LipSyncClips,
    _check_video,
    _device_of,
    lower_half,
    mask_lower_half,
    mel_context,
    paste_lower_half,
    sample_windows,
)
from marlin_lite.tasks.lipsync.expert import SyncExpert, SyncScores, sync_scores
from marlin_lite.tasks.lipsync.generator import LipSyncGenerator, _window_batch


# --------------------------------------------------------------------------------------
# Fréchet distance
# --------------------------------------------------------------------------------------


def _sqrtm_psd(m: torch.Tensor) -> torch.Tensor:
    """Square root of a symmetric positive semi-definite matrix (eigendecomposition, float64)."""
    vals, vecs = torch.linalg.eigh((m + m.T) / 2)
    return (vecs * vals.clamp(min=0).sqrt()) @ vecs.T


def gaussian_frechet_distance(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> float:
    """Fréchet (2-Wasserstein squared) distance between ``N(mu1, cov1)`` and ``N(mu2, cov2)``:

    ``|mu1 - mu2|^2 + tr(cov1) + tr(cov2) - 2 tr((cov1 cov2)^(1/2))``.

    The trace term is computed as ``tr((S cov2 S)^(1/2))`` with ``S = cov1^(1/2)``: ``S cov2 S``
    is symmetric PSD and similar to ``cov1 cov2``, so both square roots come from symmetric
    eigendecompositions (float64, negative round-off eigenvalues clipped to 0). Shapes ``(D,)``
    and ``(D, D)``.
    """
    mu1, mu2 = torch.as_tensor(mu1, dtype=torch.float64), torch.as_tensor(mu2, dtype=torch.float64)
    cov1, cov2 = torch.as_tensor(cov1, dtype=torch.float64), torch.as_tensor(cov2, dtype=torch.float64)
    D = mu1.shape[0] if mu1.dim() == 1 else -1
    for name, t, shape in (("mu1", mu1, (D,)), ("mu2", mu2, (D,)), ("cov1", cov1, (D, D)), ("cov2", cov2, (D, D))):
        if D < 1 or tuple(t.shape) != shape:
            raise ValueError(f"{name} must have shape {shape} (means (D,), covariances (D, D)), got {tuple(t.shape)}")
    s1 = _sqrtm_psd(cov1)
    inner = s1 @ cov2 @ s1
    tr_sqrt = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp(min=0).sqrt().sum()
    fd = (mu1 - mu2).square().sum() + torch.trace(cov1) + torch.trace(cov2) - 2 * tr_sqrt
    return float(fd.clamp(min=0))


def frechet_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets ``x (N, D)`` and ``y (M, D)``
    (sample means, unbiased covariances; see :func:`gaussian_frechet_distance`).

    With few samples (``N <= D``) the covariances are singular and the estimate is biased
    upwards; compare values only at equal sample counts.
    """
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor) or t.dim() != 2 or t.shape[0] < 2:
            got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"{name} must be a (N, D) feature tensor with N >= 2 rows, got {got}")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} holds NaN or infinite values")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same feature size, got {x.shape[1]} and {y.shape[1]}")
    x, y = x.double(), y.double()
    return gaussian_frechet_distance(x.mean(0), torch.cov(x.T).reshape(x.shape[1], -1), y.mean(0), torch.cov(y.T).reshape(y.shape[1], -1))


@torch.no_grad()
def frechet_distance_syncfeat(expert: SyncExpert, real: torch.Tensor, generated: torch.Tensor) -> float:
    """FD on our sync expert's video features, not FID (which uses Inception-v3 features).

    ``real`` and ``generated`` are face windows ``(N, 3, T, H, W)``; the expert's video tower
    (before normalisation, :meth:`SyncExpert.video_features`) embeds their lower halves over
    ``T`` frames, and :func:`frechet_distance` compares the two feature clouds. The extractor is
    fixed (the trained expert) and needs no download; lower is better.
    """
    return frechet_distance(_expert_features(expert, _check_video(real, "real")), _expert_features(expert, _check_video(generated, "generated")))


@torch.no_grad()
def _expert_features(expert: SyncExpert, video: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """The expert's video features (:meth:`SyncExpert.video_features`, eval mode) of
    ``video (N, 3, T, H, W)``, computed in batches on the expert's device -> CPU ``float32 (N, F)``."""
    was_training = expert.training
    expert.eval()
    dev = _device_of(expert)
    out = torch.cat([expert.video_features(video[i : i + batch_size].to(dev)).float().cpu() for i in range(0, video.shape[0], batch_size)])
    expert.train(was_training)
    return out


# --------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB of images in [0, 1], one value per row: ``(B, ...) -> (B,)``
    (``10 log10(1 / MSE)``; MSE floored at 1e-10)."""
    if pred.shape != target.shape or pred.dim() < 2:
        raise ValueError(f"pred and target must have the same (B, ...) shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    mse = (pred.float() - target.float()).square().flatten(1).mean(1)
    return 10 * torch.log10(1 / mse.clamp(min=1e-10))


class _MetricsAccumulator:
    """:func:`lipsync_metrics` over batches of windows: only per-window numbers and the expert's
    features are kept, so an evaluation never holds all of its frames at once."""

    def __init__(self, expert: SyncExpert, max_offset: int) -> None:
        self.expert, self.max_offset = expert, max_offset
        self.l1: list[torch.Tensor] = []
        self.psnr: list[torch.Tensor] = []
        self.distances: list[torch.Tensor] = []
        self.feats_real: list[torch.Tensor] = []
        self.feats_gen: list[torch.Tensor] = []

    @torch.no_grad()
    def add(self, real: torch.Tensor, generated: torch.Tensor, mel: torch.Tensor) -> None:
        _check_video(real, "real")
        _check_video(generated, "generated")
        if real.shape != generated.shape:
            raise ValueError(f"real and generated must have the same shape, got {tuple(real.shape)} and {tuple(generated.shape)}")
        lr, lg = lower_half(real), lower_half(generated)
        self.l1.append((lg - lr).abs().flatten(1).mean(1))
        self.psnr.append(psnr(lg, lr))
        self.distances.append(sync_scores(self.expert, generated, mel, self.max_offset).distances)
        self.feats_real.append(_expert_features(self.expert, real))
        self.feats_gen.append(_expert_features(self.expert, generated))

    def result(self) -> dict[str, float]:
        s = SyncScores(torch.arange(-self.max_offset, self.max_offset + 1), torch.cat(self.distances))
        return {
            "l1_lower": float(torch.cat(self.l1).mean()),
            "psnr_lower": float(torch.cat(self.psnr).mean()),
            "fd_syncfeat": frechet_distance(torch.cat(self.feats_real), torch.cat(self.feats_gen)),
            "sync_distance": float(s.distance.mean()),
            "sync_confidence": float(s.confidence.mean()),
            "sync_offset_acc": float((s.offset == 0).float().mean()),
        }


@torch.no_grad()
def lipsync_metrics(
    real: torch.Tensor, generated: torch.Tensor, mel: torch.Tensor, expert: SyncExpert, max_offset: int = 3
) -> dict[str, float]:
    """Metrics of generated face windows against the real ones (same windows, same order).

    Args:
        real, generated: ``(B, 3, T, H, W)`` full frames (only the lower halves differ).
        mel: the in-sync audio contexts ``(B, n_mels, m (T + 2K))`` (:func:`mel_context`).
        expert: the evaluation :class:`SyncExpert`.

    Returns ``l1_lower``, ``psnr_lower`` (means over windows), ``fd_syncfeat``
    (:func:`frechet_distance_syncfeat`), and from :func:`sync_scores`: ``sync_distance``,
    ``sync_confidence`` (means; LSE-D / LSE-C-style from our expert) and ``sync_offset_acc``
    (how often the estimated offset is the true 0).
    """
    acc = _MetricsAccumulator(expert, max_offset)
    acc.add(real, generated, mel)
    return acc.result()


def eval_windows(clips: LipSyncClips, num_windows: int, num_frames: int, max_offset: int = 3, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """Fixed evaluation windows (``clip``, ``start`` in ``[K, L - T - K]``, ``ref_start``) for
    :func:`evaluate_generator`, the same for every method."""
    return sample_windows(clips, num_windows, num_frames, margin=max_offset, reference=True, generator=task_generator(seed, "lipsync_eval"))


GenerateFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@torch.no_grad()
def generate_windows(
    generator: LipSyncGenerator | GenerateFn | None, clips: LipSyncClips, windows: dict[str, torch.Tensor], num_frames: int, *, batch_size: int = 16
) -> dict[str, torch.Tensor]:
    """Run a generator over windows -> ``real``, ``masked``, ``reference``, ``generated`` (all
    ``(n, 3, T, H, W)``), for metrics and figures. ``generator`` is a :class:`LipSyncGenerator`, any
    ``(masked, reference, mel) -> lower half`` callable (e.g. :func:`copy_reference`), or ``None``
    (the real lower half: the ground truth)."""
    n = windows["clip"].shape[0]
    out: dict[str, list[torch.Tensor]] = {"real": [], "masked": [], "reference": [], "generated": []}
    was_training = isinstance(generator, nn.Module) and generator.training
    dev = _device_of(generator) if isinstance(generator, nn.Module) else None  # windows go to the generator, results to the CPU
    if isinstance(generator, nn.Module):
        generator.eval()
    for i in range(0, n, batch_size):
        idx = torch.arange(i, min(i + batch_size, n))
        target, ref, mel = _window_batch(clips, windows, idx, num_frames, dev)
        masked = mask_lower_half(target)
        lower = lower_half(target) if generator is None else generator(masked, ref, mel)
        for k, v in (("real", target), ("masked", masked), ("reference", ref), ("generated", paste_lower_half(masked, lower))):
            out[k].append(v.cpu())
    if isinstance(generator, nn.Module):
        generator.train(was_training)
    return {k: torch.cat(v) for k, v in out.items()}


def evaluate_generator(
    generator: LipSyncGenerator | GenerateFn | None,
    clips: LipSyncClips,
    expert: SyncExpert,
    *,
    windows: dict[str, torch.Tensor] | None = None,
    num_windows: int = 24,
    max_offset: int = 3,
    seed: int = 0,
    batch_size: int = 16,
) -> dict[str, float]:
    """:func:`lipsync_metrics` of ``generator`` on (held-out) ``clips`` -> dict (plus ``n_windows``).

    ``windows`` defaults to :func:`eval_windows` ``(clips, num_windows, T, max_offset, seed=seed)``;
    pass the same windows to compare methods. Windows are generated and scored ``batch_size`` at
    a time (per-window numbers and the expert's features are kept, not the frames: 16 windows of
    16x224x224 and their copies take about 0.6 GB)."""
    T = expert.cfg.num_frames
    if isinstance(generator, LipSyncGenerator) and generator.cfg.num_frames != T:
        raise ValueError(f"the generator makes {generator.cfg.num_frames}-frame windows but the expert scores {T}-frame ones")
    w = windows if windows is not None else eval_windows(clips, num_windows, T, max_offset, seed=seed)
    n = int(w["clip"].shape[0])
    acc = _MetricsAccumulator(expert, max_offset)
    for i in range(0, n, batch_size):  # a batch of windows at a time: memory does not grow with n
        part = {k: v[i : i + batch_size] for k, v in w.items()}
        g = generate_windows(generator, clips, part, T)
        acc.add(g["real"], g["generated"], mel_context(clips, part["clip"], part["start"], T, max_offset))
    return {**acc.result(), "n_windows": n}
