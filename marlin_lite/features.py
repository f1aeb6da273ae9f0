"""Features from a (pretrained) MARLIN encoder, with the official protocol for whole videos.

* :func:`extract_features`: clips ``(B, 3, T, H, W)`` -> ``(B, D)`` (mean over tokens, then the
  final LayerNorm) or ``(B, N, D)`` (every token), batched, bf16 autocast on GPU.
* :func:`extract_video`: a video file (or frames) -> one feature per non-overlapping window of
  ``clip_len`` frames taken every ``sample_rate``-th frame (MARLIN: 16 frames, rate 2, so a
  window covers 32 source frames) -> ``(n_windows, D)``, or reduced over windows by ``mean``
  or ``max`` to ``(D,)``.

The encoder sees every token (no masking) at feature time.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from marlin_lite.model import MarlinAutoencoder, MarlinEncoder, check_clips
from marlin_lite.utils import pick_device
from marlin_lite.video import clip_indices, frames_to_tensor, read_video, window_starts

POOLINGS = ("mean", "none")
REDUCTIONS = ("none", "mean", "max")


def as_encoder(model: MarlinEncoder | MarlinAutoencoder) -> MarlinEncoder:
    """The :class:`MarlinEncoder` of an encoder or a whole autoencoder."""
    if isinstance(model, MarlinAutoencoder):
        return model.encoder
    if isinstance(model, MarlinEncoder):
        return model
    raise TypeError(f"expected a MarlinEncoder or MarlinAutoencoder, got {type(model).__name__}")


@torch.no_grad()
def extract_features(
    model: MarlinEncoder | MarlinAutoencoder,
    clips: torch.Tensor,
    *,
    pooling: str = "mean",
    batch_size: int = 16,
    device: str | torch.device | None = None,
    precision: str = "auto",
    progress: bool = False,
) -> torch.Tensor:
    """Encode clips ``float32 (B, 3, T, H, W)`` in [0, 1] -> ``float32`` features on the CPU.

    Args:
        pooling: ``"mean"`` -> ``(B, D)`` (mean over tokens then the final LayerNorm, the
            official order); ``"none"`` -> ``(B, N, D)``.
        batch_size: clips per forward pass.
        device: where to run (default: the model's device).
        precision: ``"auto"`` (bf16 autocast on CUDA, fp32 elsewhere), ``"fp32"`` or ``"bf16"``.
        progress: show a progress bar over batches.
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"precision must be auto, fp32 or bf16, got {precision!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an int >= 1 (clips per forward pass), got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    enc = as_encoder(model)
    check_clips(clips, enc.cfg, "clips")  # before the model moves or leaves training mode
    dev = torch.device(device) if device is not None else next(enc.parameters()).device
    enc = enc.to(dev)
    was_training = enc.training
    enc.eval()
    bf16 = precision == "bf16" or (precision == "auto" and dev.type == "cuda")
    chunks = range(0, clips.shape[0], batch_size)
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="features", unit="batch")
    out = []
    for i in chunks:
        x = clips[i : i + batch_size].to(dev, non_blocking=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            f = enc.extract_features(x, keep_seq=pooling == "none")
        out.append(f.float().cpu())
    enc.train(was_training)
    if not out:  # no clips: the empty batch of the shape a non-empty one has
        c = enc.cfg
        return torch.empty((0, c.num_tokens, c.enc_dim) if pooling == "none" else (0, c.enc_dim))
    return torch.cat(out)


def video_windows(frames: np.ndarray, clip_len: int = 16, sample_rate: int = 2, *, name: str | None = None) -> np.ndarray:
    """Non-overlapping windows of a video: ``uint8 (T, H, W, 3) -> (n, clip_len, H, W, 3)``.

    Window ``k`` takes frames ``s_k + arange(clip_len) * sample_rate`` with
    ``s_k = k * clip_len * sample_rate``. A video shorter than one window is an error that
    says how short it is.
    """
    shape = getattr(frames, "shape", None)
    if shape is None or len(shape) != 4 or shape[-1] != 3:
        got = f"shape {tuple(shape)}" if shape is not None else type(frames).__name__
        who = f" of video '{name}'" if name else ""
        raise ValueError(
            f"frames{who} must be one video as an array (T, H, W, 3) (RGB, channels last), got {got}; "
            "pass one video at a time, channels last (frames.transpose(0, 2, 3, 1) for (T, 3, H, W))"
        )
    starts = window_starts(len(frames), clip_len, sample_rate, name=name)
    idx = np.stack([clip_indices(len(frames), clip_len, sample_rate, start=s, name=name) for s in starts])
    return frames[idx]


def prepare_clips(windows: np.ndarray, size: int) -> torch.Tensor:
    """``uint8 (n, T, H, W, 3)`` -> ``float32 (n, 3, T, size, size)`` in [0, 1] (bilinear, antialiased).

    Frames should already be square face crops (MARLIN's preprocessing); a non-square input
    is resized as it is.
    """
    x = frames_to_tensor(windows)  # (n, 3, T, H, W)
    n, c, t, h, w = x.shape
    if (h, w) == (size, size):
        return x
    flat = x.permute(0, 2, 1, 3, 4).reshape(n * t, c, h, w)
    flat = F.interpolate(flat, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return flat.reshape(n, t, c, size, size).permute(0, 2, 1, 3, 4).clamp_(0, 1)


def extract_video(
    video: str | os.PathLike[str] | np.ndarray,
    model: MarlinEncoder | MarlinAutoencoder,
    *,
    sample_rate: int = 2,
    reduction: str = "none",
    batch_size: int = 8,
    device: str | torch.device | None = None,
    precision: str = "auto",
    progress: bool = False,
) -> torch.Tensor:
    """Features of a whole video with MARLIN's protocol.

    Args:
        video: a video file (read with PyAV) or frames ``uint8 (T, H, W, 3)`` (face crops).
        model: the encoder; its config sets the window length (``num_frames``) and size.
        sample_rate: take every ``sample_rate``-th frame (MARLIN: 2).
        reduction: ``"none"`` -> ``(n_windows, D)``; ``"mean"`` / ``"max"`` over windows -> ``(D,)``.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    enc = as_encoder(model)
    name = None
    if isinstance(video, np.ndarray):
        frames = video
    elif not isinstance(video, (str, os.PathLike)):
        raise TypeError(
            f"video must be a video file path or frames as a numpy uint8 array (T, H, W, 3), got "
            f"{type(video).__name__}; for a torch tensor of frames pass video.numpy()"
        )
    else:
        name = Path(video).name
        frames = read_video(video, audio=False).frames
    windows = video_windows(frames, enc.cfg.num_frames, sample_rate, name=name)
    clips = prepare_clips(windows, enc.cfg.img_size)
    feats = extract_features(enc, clips, batch_size=batch_size, device=device, precision=precision, progress=progress)
    if reduction == "mean":
        return feats.mean(0)
    if reduction == "max":
        return feats.max(0).values
    return feats
