"""Lip sync (LS): a sync expert, a Wav2Lip-style generator with a MARLIN face encoder, metrics.

MARLIN evaluates its encoder on lip-sync generation by putting it in place of Wav2Lip's face
encoder; a SyncNet-style *sync expert*, retrained on the window length of the encoder, scores
the generated mouths (``reference/MARLIN_FACTS.md``, *Downstream protocols*). This module
rebuilds that pipeline at lesson scale on SynthFace talking faces, whose mouths are driven by
their (synthetic) speech:

* **data** (:func:`make_lipsync_clips`, :func:`lipsync_splits`): clips longer than a window,
  rendered with their audio and its log-mel spectrogram (:mod:`marlin_lite.audio`, 4 mel
  frames per video frame), split by identity so that evaluation is on unseen people;
* **sync expert** (:class:`SyncExpert`, :func:`train_sync_expert`): a video tower on the lower
  half of the face crop over ``T`` frames and an audio tower on the ``4 T`` aligned mel frames,
  both keeping the time axis (features per video frame, then temporal convolutions) and giving
  L2-normalised embeddings. It is trained contrastively over audio offsets: for a video window,
  the in-sync audio window and the windows shifted by ``d = ±1 .. ±K`` frames of the same clip
  are scored by cosine similarity; ``loss="infonce"`` (default) is a softmax cross-entropy over
  the ``2K + 1`` candidates (temperature 0.1; a multi-way matching objective, whereas SyncNet's
  original loss is a contrastive loss on distances), ``loss="bce"`` is Wav2Lip's expert loss, a
  binary cross-entropy on the cosine similarity (mapped to ``(1 + cos) / 2``) with the in-sync
  pair labelled 1 and the shifted ones 0;
* **scores** (:func:`sync_scores`, :func:`estimate_offset`): the distance between the video
  embedding and each candidate audio window; the offset estimate is the argmin,
  ``sync_distance`` the minimum and ``sync_confidence`` the median minus the minimum. These
  are *LSE-D / LSE-C-style scores from our own expert*, not LSE-D / LSE-C: those use the
  pretrained SyncNet of Chung & Zisserman on real faces, and their values are not comparable;
* **generator** (:class:`LipSyncGenerator`, :func:`train_generator`): the target window with
  its lower half masked out plus a reference window of the same person from another time of
  the clip, and the aligned mel window, give the lower half of every frame. The face encoder is
  a :class:`~marlin_lite.model.MarlinEncoder` (tiny by default; pass a pretrained one), its
  tokens reshaped to a ``(B, D, T', h, w)`` feature volume; a small conv net encodes the audio
  per tubelet slot; a conv decoder and a per-token pixel head (like MARLIN's decoder head) give
  a residual added to the reference's lower half (a pixel skip, the part Wav2Lip's U-Net skips
  play). Loss: L1 on the lower half, optionally plus a sync loss from a frozen expert (Wav2Lip
  weighs it 0.03);
* **metrics** (:func:`lipsync_metrics`, :func:`evaluate_generator`): on held-out identities,
  the expert's scores on generated mouths (distance, confidence, how often the offset estimate
  is 0), L1 and PSNR on the lower half, and :func:`frechet_distance_syncfeat`, a Fréchet
  distance between generated and real lower faces on the expert's video features (*not FID*,
  which uses Inception-v3 features of single frames);
* **runner** (:func:`run_lipsync`): rows for the sync expert (offset accuracy vs chance), the
  ground truth, a copy-the-reference baseline and generators whose encoder is ``random_init``
  (random, frozen), ``supervised_scratch`` (random init, trained with the generator) and
  ``pretrained`` (the MARLIN-lite encoder, frozen; ``pretrained_finetune`` optional).

How the reference enters a 3-channel ViT: Wav2Lip stacks the masked target and the reference
as 6 input channels of a conv encoder. MARLIN's patch embedding takes 3 channels, so by
default (``reference="paste"``) the reference's lower half is pasted into the masked region
and the encoder sees one composite window (one encoder pass; the target's own lower half is
never seen). ``reference="separate"`` encodes the masked target and the reference separately
with the same encoder and fuses the two token volumes with a linear layer (two passes).

Audio offsets follow SynthFace's ``av_offset``: a positive offset ``k`` means the audio lags
the picture by ``k`` frames, so the sound of video frame ``f`` is in audio frame ``f + k``;
candidate ``d`` pairs video frames ``[t0, t0 + T)`` with audio frames ``[t0 + d, t0 + d + T)``
and the expert's estimate on such a clip is ``k``.

Shapes: ``B`` windows, ``T`` frames per window, ``L`` frames per clip, ``K`` max offset,
``m`` mel frames per video frame (4), video ``float32 (B, 3, T, H, W)`` in [0, 1], lower
halves ``(B, 3, T, H - H // 2, W)``, mel windows ``(B, n_mels, m T)``, mel contexts
``(B, n_mels, m (T + 2K))`` (video frames ``[t0 - K, t0 + T + K)``).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from marlin_lite.audio import log_mel, mel_frames_per_video_frame, mel_window
from marlin_lite.data import identity_splits
from marlin_lite.features import as_encoder
from marlin_lite.model import MarlinAutoencoder, MarlinConfig, MarlinEncoder
from marlin_lite.synthface import generate_clip
from marlin_lite.tasks.probe import random_encoder, task_generator
from marlin_lite.tasks.results import ResultsTable

#: Generator baselines of :func:`run_lipsync`, in table order (``copy_reference`` needs no training).
LS_METHODS = ("copy_reference", "random_init", "supervised_scratch", "pretrained", "pretrained_finetune")
DEFAULT_LS_METHODS = ("copy_reference", "random_init", "supervised_scratch", "pretrained")
SYNC_LOSSES = ("infonce", "bce")
REFERENCE_MODES = ("paste", "separate")


# --------------------------------------------------------------------------------------
# Data: clips with their log-mel spectrograms
# --------------------------------------------------------------------------------------


@dataclass
class LipSyncClips:
    """Talking-face clips, their log-mel spectrograms and who is in them.

    Attributes:
        video: ``float32 (N, 3, L, H, W)`` in [0, 1], or ``uint8`` (0-255, a quarter of the
            memory: real data sets; :func:`clip_windows` returns float windows either way).
        mel: ``float32 (N, n_mels, F)`` log-mel of each clip's audio, ``F >= m L``; video frame
            ``t`` owns mel frames ``[m t, m t + m)``.
        identity: ``int64 (N,)`` who is speaking (SynthFace: the identity; real data: a
            stable id of the group the split keeps apart, e.g. LRS2's programme);
            clip_seed: ``int64 (N,)`` (SynthFace: the clip seed; real data: the segment's first
            frame in its video).
        mouth_open: ``float32 (N, L)`` how far the rendered mouth opens (SynthFace truth), or
            ``None`` (real data).
        mel_per_frame: ``m``; fps, sample_rate, hop_length: the audio front-end.
        names: where each clip comes from (real data: ``"<video>@<first frame>"``), or ``None``.
    """

    video: torch.Tensor
    mel: torch.Tensor
    identity: torch.Tensor
    clip_seed: torch.Tensor
    mouth_open: torch.Tensor | None
    mel_per_frame: int = 4
    fps: float = 25.0
    sample_rate: int = 16000
    hop_length: int = 160
    names: list[str] | None = None

    def __post_init__(self) -> None:
        v, m = self.video, self.mel
        if v.dim() != 5 or v.shape[1] != 3:
            raise ValueError(f"video must be (N, 3, L, H, W), got {tuple(v.shape)}")
        if not (v.is_floating_point() or v.dtype == torch.uint8):
            raise ValueError(f"video must be float in [0, 1] or uint8, got {v.dtype}")
        if self.mouth_open is not None and tuple(self.mouth_open.shape) != (v.shape[0], v.shape[2]):
            raise ValueError(f"mouth_open must be (N, L) = ({v.shape[0]}, {v.shape[2]}) or None, got {tuple(self.mouth_open.shape)}")
        if self.names is not None and len(self.names) != v.shape[0]:
            raise ValueError(f"names must have one entry per clip ({v.shape[0]}), got {len(self.names)}")
        if m.dim() != 3 or m.shape[0] != v.shape[0] or m.shape[2] < self.mel_per_frame * v.shape[2]:
            raise ValueError(
                f"mel must be (N, n_mels, F >= {self.mel_per_frame} * L) = ({v.shape[0]}, n_mels, >= "
                f"{self.mel_per_frame * v.shape[2]}), got {tuple(m.shape)}"
            )
        for name in ("identity", "clip_seed"):
            t = getattr(self, name)
            if t.shape != (v.shape[0],):
                raise ValueError(f"{name} must be ({v.shape[0]},), got {tuple(t.shape)}")

    def __len__(self) -> int:
        return int(self.video.shape[0])

    def subset(self, index: Sequence[int] | torch.Tensor) -> LipSyncClips:
        """The clips at ``index`` (ints into ``0 .. N - 1``, in that order), as new ``LipSyncClips``."""
        idx = torch.as_tensor(index, dtype=torch.long).reshape(-1)
        if idx.numel() == 0 or int(idx.min()) < 0 or int(idx.max()) >= len(self):
            raise ValueError(f"index must name at least one clip, each in 0 .. {len(self) - 1}; got {idx.tolist()[:10]}")
        mouth = None if self.mouth_open is None else self.mouth_open[idx]
        names = None if self.names is None else [self.names[i] for i in idx.tolist()]
        return replace(self, video=self.video[idx], mel=self.mel[idx], identity=self.identity[idx], clip_seed=self.clip_seed[idx],
                       mouth_open=mouth, names=names)

    @property
    def num_frames(self) -> int:
        """Frames per clip ``L``."""
        return int(self.video.shape[2])

    @property
    def size(self) -> int:
        return int(self.video.shape[-1])

    @property
    def n_mels(self) -> int:
        return int(self.mel.shape[1])

    @property
    def identities(self) -> list[int]:
        return sorted(set(self.identity.tolist()))


def make_lipsync_clips(
    identities: Sequence[int],
    clips_per_identity: int = 3,
    *,
    num_frames: int = 24,
    size: int = 64,
    world_seed: int = 0,
    n_mels: int = 40,
    fps: float = 25.0,
    sample_rate: int = 16000,
    hop_length: int = 160,
    first_clip_seed: int = 0,
    framing: str = "scene",
    expressions: str = "subtle",
) -> LipSyncClips:
    """Render ``clips_per_identity`` speaking SynthFace clips per identity (in sync, ``av_offset=0``).

    Clip ``c`` of identity ``i`` is ``generate_clip(i, first_clip_seed + c, ...)`` (expression
    drawn from the clip seed, so some mouths also move with the expression). ``framing`` and
    ``expressions`` go to :func:`~marlin_lite.synthface.generate_clip` (``"face"`` and
    ``"marked"`` render clips as the course checkpoint was pretrained on). The audio covers
    the clip (``L / fps`` seconds) and its log-mel has ``1 + S // hop_length = m L + 1`` frames.
    Make clips long enough for a window, its audio shifts and a non-overlapping reference
    window (e.g. ``L = 24`` for 8-frame windows and shifts up to 3 frames).
    """
    ids = [int(i) for i in identities]
    if not ids:
        raise ValueError("identities is empty; pass at least one identity id")
    if isinstance(clips_per_identity, bool) or not isinstance(clips_per_identity, int) or clips_per_identity < 1:
        raise ValueError(f"clips_per_identity must be an int >= 1, got {clips_per_identity!r}")
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 2:
        raise ValueError(f"num_frames must be an int >= 2, got {num_frames!r}")
    m = mel_frames_per_video_frame(sample_rate, fps, hop_length)
    videos, audios, who, seeds, mouth = [], [], [], [], []
    for i in ids:
        for c in range(clips_per_identity):
            clip = generate_clip(i, first_clip_seed + c, world_seed=world_seed, size=size, num_frames=num_frames, fps=fps,
                                 sample_rate=sample_rate, framing=framing, expressions=expressions)
            videos.append(torch.from_numpy(clip.frames).permute(3, 0, 1, 2).float().div_(255))
            audios.append(torch.from_numpy(clip.audio))
            who.append(i)
            seeds.append(first_clip_seed + c)
            mouth.append(torch.from_numpy(clip.per_frame["mouth_open"]))
    mel = log_mel(torch.stack(audios), sample_rate, n_mels=n_mels, hop_length=hop_length)
    return LipSyncClips(
        torch.stack(videos), mel, torch.tensor(who), torch.tensor(seeds), torch.stack(mouth), m, float(fps), sample_rate, hop_length
    )


def lipsync_splits(
    num_identities: int = 24,
    clips_per_identity: int = 3,
    *,
    splits: Sequence[str] = ("train", "test"),
    world_seed: int = 0,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    **render: Any,
) -> dict[str, LipSyncClips]:
    """Clips of the identity splits of :func:`marlin_lite.data.identity_splits` (no person in two
    splits), e.g. ``{"train": ..., "test": ...}``. ``render`` goes to :func:`make_lipsync_clips`."""
    parts = identity_splits(num_identities, world_seed, fractions)
    bad = [s for s in splits if s not in parts]
    if bad or not splits:
        raise ValueError(f"splits must be a non-empty subset of {tuple(parts)}, got {tuple(splits)}")
    return {s: make_lipsync_clips(parts[s], clips_per_identity, world_seed=world_seed, **render) for s in splits}


# --------------------------------------------------------------------------------------
# Face halves and windows
# --------------------------------------------------------------------------------------


def _check_video(video: Any, name: str = "video", *, num_frames: int | None = None, size: int | None = None) -> torch.Tensor:
    if not isinstance(video, torch.Tensor) or video.dim() != 5 or video.shape[1] != 3 or not video.is_floating_point():
        got = f"{video.dtype} {tuple(video.shape)}" if isinstance(video, torch.Tensor) else type(video).__name__
        raise ValueError(f"{name} must be a float tensor (B, 3, T, H, W) in [0, 1], got {got}")
    if num_frames is not None and video.shape[2] != num_frames:
        raise ValueError(f"{name} must have T = {num_frames} frames (the model's window), got {video.shape[2]}")
    if size is not None and tuple(video.shape[-2:]) != (size, size):
        raise ValueError(f"{name} frames must be {size}x{size} (the model's input size), got {tuple(video.shape[-2:])}")
    return video


def lower_half(video: torch.Tensor) -> torch.Tensor:
    """Rows ``[H // 2, H)`` of every frame: ``(B, 3, T, H, W) -> (B, 3, T, H - H // 2, W)``."""
    _check_video(video)
    return video[..., video.shape[-2] // 2 :, :]


def mask_lower_half(video: torch.Tensor) -> torch.Tensor:
    """A copy of ``video (B, 3, T, H, W)`` with rows ``[H // 2, H)`` set to 0 (the generator's input)."""
    _check_video(video)
    out = video.clone()
    out[..., video.shape[-2] // 2 :, :] = 0
    return out


def paste_lower_half(video: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
    """``video (B, 3, T, H, W)`` with its lower half replaced by ``lower (B, 3, T, H - H // 2, W)``."""
    _check_video(video)
    h0 = video.shape[-2] // 2
    want = (*video.shape[:3], video.shape[-2] - h0, video.shape[-1])
    if not isinstance(lower, torch.Tensor) or tuple(lower.shape) != want:
        got = tuple(lower.shape) if isinstance(lower, torch.Tensor) else type(lower).__name__
        raise ValueError(f"lower must be the lower half of video, shape {want}, got {got}")
    return torch.cat([video[..., :h0, :], lower.to(video.dtype)], dim=-2)


def _as_index(x: Any, name: str, n: int | None = None) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.dim() != 1 or t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(f"{name} must be a 1-D int64 tensor, got {t.dtype} {tuple(t.shape)}")
    if n is not None and t.shape[0] != n:
        raise ValueError(f"{name} must have {n} entries (one per window), got {t.shape[0]}")
    return t.to(torch.int64)


def clip_windows(
    clips: LipSyncClips, clip_index: torch.Tensor, start: torch.Tensor, num_frames: int, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Video frames ``[start, start + num_frames)`` of clips ``clip_index`` -> ``float32 (B, 3, T, H, W)``
    in [0, 1] (``uint8`` clips are converted), on ``device`` (default: the clips'; ``uint8``
    windows travel as bytes and are converted there)."""
    ci = _as_index(clip_index, "clip_index")
    t0 = _as_index(start, "start", ci.shape[0])
    if ci.numel() and (int(ci.min()) < 0 or int(ci.max()) >= len(clips)):
        raise ValueError(f"clip_index must be in 0..{len(clips) - 1}, got {int(ci.min())}..{int(ci.max())}")
    if ci.numel() and (int(t0.min()) < 0 or int(t0.max()) + num_frames > clips.num_frames):
        raise ValueError(
            f"start must be in 0..{clips.num_frames - num_frames} for {num_frames}-frame windows of {clips.num_frames}-frame "
            f"clips, got {int(t0.min())}..{int(t0.max())}"
        )
    idx = t0[:, None] + torch.arange(num_frames)[None, :]  # (B, T)
    out = clips.video[ci[:, None], :, idx].permute(0, 2, 1, 3, 4).contiguous()  # (B, T, 3, H, W) -> (B, 3, T, H, W)
    if device is not None:
        out = out.to(device, non_blocking=True)
    return out.float().div_(255) if out.dtype == torch.uint8 else out


def _device_of(module: nn.Module) -> torch.device:
    """Where a module's parameters (or buffers) live; CPU for a module without either."""
    for t in (*module.parameters(), *module.buffers()):
        return t.device
    return torch.device("cpu")


def _as_device(device: torch.device | str | None) -> torch.device:
    return torch.device(device) if device is not None else torch.device("cpu")


def mel_context(
    clips: LipSyncClips, clip_index: torch.Tensor, start: torch.Tensor, num_frames: int, max_offset: int = 0, *, shift: torch.Tensor | int = 0
) -> torch.Tensor:
    """Mel frames of video frames ``[start - K, start + T + K)`` -> ``(B, n_mels, m (T + 2K))``.

    ``shift`` (int or ``(B,)``) plays the clip's audio ``shift`` frames late (SynthFace's
    ``av_offset``): the context is then taken from the in-sync spectrogram at
    ``[start - K - shift, start + T + K - shift)``. ``max_offset=0`` gives the plain window.
    """
    ci = _as_index(clip_index, "clip_index")
    t0 = _as_index(start, "start", ci.shape[0])
    s = torch.full_like(t0, shift) if isinstance(shift, int) else _as_index(shift, "shift", ci.shape[0])
    if isinstance(max_offset, bool) or not isinstance(max_offset, int) or max_offset < 0:
        raise ValueError(f"max_offset must be an int >= 0, got {max_offset!r}")
    first = t0 - max_offset - s
    span = num_frames + 2 * max_offset
    m = clips.mel_per_frame
    if ci.numel() and (int(first.min()) < 0 or (int(first.max()) + span) * m > clips.mel.shape[2]):
        raise ValueError(
            f"the audio context [start - {max_offset} - shift, start + {num_frames} + {max_offset} - shift) leaves the "
            f"{clips.num_frames}-frame clips (first frame {int(first.min())}..{int(first.max())}); pick windows with "
            f"start in [max_offset + shift, L - T - max_offset + shift] (see sample_windows)"
        )
    return mel_window(clips.mel[ci], first, span, mel_per_frame=m)


def sample_windows(
    clips: LipSyncClips,
    num_windows: int,
    num_frames: int,
    *,
    margin: int = 0,
    reference: bool = False,
    generator: torch.Generator | None = None,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Random windows: ``clip`` ``(n,)``, ``start`` ``(n,)`` in ``[margin, L - T - margin]`` and,
    with ``reference``, ``ref_start`` ``(n,)``: a window of the same clip that does not overlap
    the target window (``|ref_start - start| >= T``; starts without room for one are skipped). Clips cycle in order (each clip gets
    ``num_windows / N`` windows, give or take one); starts are drawn from ``generator`` (default:
    seeded by ``seed``)."""
    if isinstance(num_windows, bool) or not isinstance(num_windows, int) or num_windows < 1:
        raise ValueError(f"num_windows must be an int >= 1, got {num_windows!r}")
    L = clips.num_frames
    hi = L - num_frames - margin
    if margin < 0 or hi < margin:
        raise ValueError(
            f"{L}-frame clips cannot hold {num_frames}-frame windows with a margin of {margin} frames on each side; "
            f"render clips of at least {num_frames + 2 * max(margin, 0)} frames"
        )
    starts = torch.arange(margin, hi + 1)
    if reference:  # only starts that leave room for a non-overlapping reference window
        starts = starts[(starts >= num_frames) | (starts <= L - 2 * num_frames)]
        if starts.numel() == 0:
            raise ValueError(
                f"{L}-frame clips leave no room for a {num_frames}-frame target (margin {margin}) and a non-overlapping "
                f"reference window; render clips of at least {2 * num_frames + margin} frames"
            )
    g = generator if generator is not None else task_generator(seed, "lipsync_windows")
    clip = torch.arange(num_windows) % len(clips)
    start = starts[torch.randint(starts.numel(), (num_windows,), generator=g)]
    out = {"clip": clip, "start": start}
    if reference:
        cand = torch.arange(L - num_frames + 1)
        refs = []
        for s in start.tolist():
            ok = cand[(cand - s).abs() >= num_frames]
            refs.append(ok[torch.randint(ok.numel(), (1,), generator=g)])
        out["ref_start"] = torch.cat(refs)
    return out


# --------------------------------------------------------------------------------------
# The sync expert
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncExpertConfig:
    """Sizes of a :class:`SyncExpert`.

    Attributes:
        num_frames: frames per window ``T`` (MARLIN retrains SyncNet on its 16-frame windows;
            the tiny encoder uses 8).
        mouth_size: ``(h, w)`` the lower half of the face is resized to (``(16, 32)``: the lower
            half of a 64-pixel face at half resolution; the mouth opens by up to ~4 pixels).
        n_mels, mel_per_frame: the audio input ``(n_mels, mel_per_frame * T)``.
        width: channels of the per-frame encoders; frame_dim: embedding channels per frame
            (the embedding has ``frame_dim * T`` values).
    """

    num_frames: int = 8
    mouth_size: tuple[int, int] = (16, 32)
    n_mels: int = 40
    mel_per_frame: int = 4
    width: int = 32
    frame_dim: int = 16

    def __post_init__(self) -> None:
        for name in ("num_frames", "n_mels", "mel_per_frame", "width", "frame_dim"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be an int >= 1, got {v!r}")
        if len(self.mouth_size) != 2 or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in self.mouth_size):
            raise ValueError(f"mouth_size must be (h, w) of positive ints, got {self.mouth_size!r}")
        if self.width % 8:
            raise ValueError(f"width must be a multiple of 8 (GroupNorm groups), got {self.width}")

    @property
    def embed_dim(self) -> int:
        """Size of an embedding: ``frame_dim * num_frames``."""
        return self.frame_dim * self.num_frames


def _down(n: int, times: int) -> int:
    for _ in range(times):
        n = (n + 1) // 2
    return n


def _norm_act(c: int) -> list[nn.Module]:
    return [nn.GroupNorm(math.gcd(8, c), c), nn.ReLU()]


class SyncExpert(nn.Module):
    """SyncNet-style two-tower model: lower-face windows and mel windows -> unit embeddings.

    Both towers keep the time axis: each gives ``frame_dim`` features per video frame, mixed
    over neighbouring frames by two temporal convolutions, and the embedding is the
    ``(frame_dim, T)`` map flattened and L2-normalised. A cosine similarity is then a sum of
    per-frame agreements, so a shifted audio window scores lower (the design choice that lets
    a tiny expert learn sync in a few hundred steps; towers that flatten everything into one
    vector learned it much later in our runs).

    * video tower: the lower half of ``(B, 3, T, H, W)`` resized to ``mouth_size``, centred
      (``x - 0.5``); per frame three stride-2 3x3 convs (GroupNorm, ReLU) and a linear layer;
    * audio tower: ``(B, n_mels, m T)`` standardised with the training set's log-mel mean and std
      (buffers ``mel_mean``, ``mel_std``), mel bands as channels; two 1-D convs, then one with
      kernel = stride = ``m`` (one step per video frame);
    * both: ReLU, ``Conv1d(k=3)``, ReLU, ``Conv1d(k=3)`` over the ``T`` frames.

    Build with :func:`train_sync_expert` or ``SyncExpert(config, seed=...)``.
    """

    def __init__(self, config: SyncExpertConfig | None = None, *, seed: int = 0) -> None:
        super().__init__()
        cfg = config or SyncExpertConfig()
        if not isinstance(cfg, SyncExpertConfig):
            raise ValueError(f"config must be a SyncExpertConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        w, e = cfg.width, cfg.frame_dim
        h, wd = cfg.mouth_size
        task_generator(seed)  # validates the seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.frame_encoder = nn.Sequential(
                nn.Conv2d(3, w // 2, 3, 2, 1), *_norm_act(w // 2),
                nn.Conv2d(w // 2, w, 3, 2, 1), *_norm_act(w),
                nn.Conv2d(w, w, 3, 2, 1), *_norm_act(w),
                nn.Flatten(), nn.Linear(w * _down(h, 3) * _down(wd, 3), w),
            )
            self.video_time = nn.Sequential(nn.ReLU(), nn.Conv1d(w, w, 3, padding=1), nn.ReLU(), nn.Conv1d(w, e, 3, padding=1))
            m = cfg.mel_per_frame
            self.audio_encoder = nn.Sequential(
                nn.Conv1d(cfg.n_mels, w, 3, padding=1), *_norm_act(w),
                nn.Conv1d(w, w, 3, padding=1), *_norm_act(w),
                nn.Conv1d(w, w, m, stride=m), *_norm_act(w),
            )
            self.audio_time = nn.Sequential(nn.Conv1d(w, w, 3, padding=1), nn.ReLU(), nn.Conv1d(w, e, 3, padding=1))
        self.register_buffer("mel_mean", torch.zeros(()))
        self.register_buffer("mel_std", torch.ones(()))

    # ----------------------------------------------------------------------------------
    def _video_input(self, video: torch.Tensor) -> torch.Tensor:
        """Lower halves resized to ``mouth_size``, centred: ``(B, 3, T, H, W) -> (B, 3, T, h, w)``."""
        _check_video(video, "video", num_frames=self.cfg.num_frames)
        x = lower_half(video)
        B, C, T, h, w = x.shape
        if (h, w) != self.cfg.mouth_size:
            flat = rearrange(x, "b c t h w -> (b t) c h w")
            flat = F.interpolate(flat, size=self.cfg.mouth_size, mode="bilinear", antialias=True, align_corners=False)
            x = rearrange(flat, "(b t) c h w -> b c t h w", b=B)
        return x - 0.5

    def _video_tower(self, x: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        f = self.frame_encoder(rearrange(x, "b c t h w -> (b t) c h w"))
        return self.video_time(rearrange(f, "(b t) d -> b d t", b=B)).flatten(1)

    def video_features(self, video: torch.Tensor) -> torch.Tensor:
        """Video-tower output before normalisation, ``(B, 3, T, H, W) -> (B, frame_dim * T)``
        (the features of :func:`frechet_distance_syncfeat`)."""
        return self._video_tower(self._video_input(video))

    def embed_video(self, video: torch.Tensor) -> torch.Tensor:
        """Unit-length embeddings of face windows ``(B, 3, T, H, W)`` (lower half used) -> ``(B, E)``."""
        return F.normalize(self.video_features(video), dim=-1)

    def embed_audio(self, mel: torch.Tensor) -> torch.Tensor:
        """Unit-length embeddings of mel windows ``(B, n_mels, m T)`` -> ``(B, E)``."""
        want = (self.cfg.n_mels, self.cfg.mel_per_frame * self.cfg.num_frames)
        if not isinstance(mel, torch.Tensor) or mel.dim() != 3 or tuple(mel.shape[1:]) != want:
            got = tuple(mel.shape) if isinstance(mel, torch.Tensor) else type(mel).__name__
            raise ValueError(f"mel must be (B, {want[0]}, {want[1]}) log-mel windows (see mel_window), got {got}")
        x = (mel - self.mel_mean) / self.mel_std
        return F.normalize(self.audio_time(self.audio_encoder(x)).flatten(1), dim=-1)

    def forward(self, video: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """Cosine similarity ``(B,)`` of each face window and its mel window (1 = perfectly matched)."""
        return (self.embed_video(video) * self.embed_audio(mel)).sum(-1)


@dataclass
class SyncExpertResult:
    """A trained :class:`SyncExpert` (eval mode, CPU) and its per-step ``history``
    (``step``, ``loss``, ``accuracy``: how often the in-sync window scored best in the batch)."""

    expert: SyncExpert
    history: list[dict[str, float]]
    loss: str
    max_offset: int


def _candidate_windows(context: torch.Tensor, num_frames: int, max_offset: int, mel_per_frame: int) -> torch.Tensor:
    """All ``2K + 1`` shifted windows of a mel context ``(B, n_mels, >= m (T + 2K))`` ->
    ``(B, 2K + 1, n_mels, m T)``; candidate ``j`` is offset ``d = j - K``."""
    m, K, T = mel_per_frame, max_offset, num_frames
    if context.dim() != 3 or context.shape[2] < m * (T + 2 * K):
        raise ValueError(
            f"the audio context must be (B, n_mels, >= {m * (T + 2 * K)}) mel frames for T={T} and max_offset={K}, "
            f"got {tuple(context.shape)}"
        )
    return torch.stack([context[:, :, m * (K + d) : m * (K + d + T)] for d in range(-K, K + 1)], dim=1)


def _mel_stats(clips: LipSyncClips) -> tuple[torch.Tensor, torch.Tensor]:
    m = clips.mel[:, :, : clips.mel_per_frame * clips.num_frames]
    return m.mean(), m.std().clamp(min=1e-6)


def train_sync_expert(
    train_clips: LipSyncClips,
    *,
    config: SyncExpertConfig | None = None,
    steps: int = 300,
    batch_size: int = 32,
    max_offset: int = 3,
    lr: float = 1e-3,
    loss: str = "infonce",
    temperature: float = 0.1,
    augment: bool = True,
    seed: int = 0,
    progress: bool = False,
    device: torch.device | str | None = None,
) -> SyncExpertResult:
    """Train a :class:`SyncExpert` on in-sync clips -> :class:`SyncExpertResult`.

    Each step draws ``batch_size`` windows (clip, start in ``[K, L - T - K]``) and scores the
    video window against its audio shifted by every ``d`` in ``-K .. K`` (``K = max_offset``):

    * ``loss="infonce"``: cross-entropy of ``softmax(cos_d / temperature)`` with the target
      ``d = 0`` (the other offsets of the same clip are the negatives);
    * ``loss="bce"`` (Wav2Lip's expert): ``p_d = (1 + cos_d) / 2``;
      ``(BCE(p_0, 1) + mean_{d != 0} BCE(p_d, 0)) / 2`` (as many positives as negatives).

    With ``augment`` each window gets a random colour gain per channel (x0.8 .. x1.2), a random
    horizontal flip and a random loudness change (log-mel + U(-1, 1), about ±4 dB), so the
    expert keys on timing rather than on who is speaking. Adam, constant ``lr``. Everything
    random comes from ``seed`` (init, batches, augmentation), so two calls with the same
    arguments give the same weights (on one device; the draws stay on the CPU, so a GPU run
    sees the same batches). The expert is trained and returned on ``device`` (default CPU).
    """
    if not isinstance(train_clips, LipSyncClips):
        raise ValueError(f"train_clips must be LipSyncClips (see make_lipsync_clips), got {type(train_clips).__name__}")
    cfg = config or SyncExpertConfig(n_mels=train_clips.n_mels, mel_per_frame=train_clips.mel_per_frame)
    if cfg.n_mels != train_clips.n_mels or cfg.mel_per_frame != train_clips.mel_per_frame:
        raise ValueError(
            f"config expects {cfg.n_mels} mels x {cfg.mel_per_frame} per frame but the clips have "
            f"{train_clips.n_mels} x {train_clips.mel_per_frame}; build the config from the clips"
        )
    if loss not in SYNC_LOSSES:
        raise ValueError(f"loss must be one of {SYNC_LOSSES}, got {loss!r}")
    if isinstance(max_offset, bool) or not isinstance(max_offset, int) or max_offset < 1:
        raise ValueError(f"max_offset must be an int >= 1 (shifted audio is the negative), got {max_offset!r}")
    for name, v in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    T, K = cfg.num_frames, max_offset
    if train_clips.num_frames < T + 2 * K:
        raise ValueError(f"clips of {train_clips.num_frames} frames are too short for {T}-frame windows shifted by ±{K}; render >= {T + 2 * K}")
    dev = _as_device(device)
    expert = SyncExpert(cfg, seed=seed)
    expert.mel_mean.fill_(_mel_stats(train_clips)[0])
    expert.mel_std.fill_(_mel_stats(train_clips)[1])
    expert.to(dev).train()
    opt = torch.optim.Adam(expert.parameters(), lr=lr)
    g = task_generator(seed, "sync_expert_batches")
    history = []
    steps_iter = range(1, steps + 1)
    if progress:
        from tqdm.auto import tqdm

        steps_iter = tqdm(steps_iter, desc="sync expert", unit="step")
    for step in steps_iter:
        ci = torch.randint(len(train_clips), (batch_size,), generator=g)
        t0 = torch.randint(K, train_clips.num_frames - T - K + 1, (batch_size,), generator=g)
        video = clip_windows(train_clips, ci, t0, T, device=dev)
        context = mel_context(train_clips, ci, t0, T, K).to(dev)
        if augment:  # drawn on the CPU generator, applied where the batch is
            gain = torch.empty(batch_size, 3, 1, 1, 1).uniform_(0.8, 1.2, generator=g).to(dev)
            flip = (torch.rand(batch_size, generator=g) < 0.5).to(dev)
            video = (video * gain).clamp(0, 1)
            video = torch.where(flip[:, None, None, None, None], video.flip(-1), video)
            context = context + torch.empty(batch_size, 1, 1).uniform_(-1, 1, generator=g).to(dev)
        cands = _candidate_windows(context, T, K, cfg.mel_per_frame)  # (B, 2K+1, n, mT)
        v = expert.embed_video(video)  # (B, E)
        a = expert.embed_audio(cands.flatten(0, 1)).reshape(batch_size, 2 * K + 1, -1)
        cos = torch.einsum("be,bke->bk", v, a)
        if loss == "infonce":
            value = F.cross_entropy(cos / temperature, torch.full((batch_size,), K, dtype=torch.int64, device=dev))
        else:
            p = ((1 + cos) / 2).clamp(1e-6, 1 - 1e-6)
            target = torch.zeros_like(p)
            target[:, K] = 1
            bce = F.binary_cross_entropy(p, target, reduction="none")
            value = 0.5 * (bce[:, K].mean() + torch.cat([bce[:, :K], bce[:, K + 1 :]], 1).mean())
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        history.append({"step": step, "loss": float(value.detach()), "accuracy": float((cos.argmax(1) == K).float().mean())})
    return SyncExpertResult(expert.eval(), history, loss, K)


# --------------------------------------------------------------------------------------
# Sync scores (LSE-D / LSE-C style, from our own expert)
# --------------------------------------------------------------------------------------


@dataclass
class SyncScores:
    """Distances between face windows and shifted audio windows, and what follows from them.

    Attributes:
        offsets: ``int64 (2K + 1,)`` candidate offsets ``-K .. K`` (audio frames late).
        distances: ``float32 (B, 2K + 1)`` Euclidean distance between the unit video embedding
            and each candidate's unit audio embedding (``sqrt(2 - 2 cos)``, in [0, 2]).
        offset: ``int64 (B,)`` the estimate, argmin over candidates.
        distance: ``(B,)`` the minimum distance (``sync_distance``: lower = better sync).
        confidence: ``(B,)`` median minus minimum distance (``sync_confidence``: higher = the
            best offset stands out more).

    *LSE-D / LSE-C-style scores from our own expert*: SyncNet's LSE-D and LSE-C are the same
    statistics computed with the pretrained SyncNet (Chung & Zisserman) on real faces; these
    numbers come from :class:`SyncExpert` and are only comparable with each other.
    """

    offsets: torch.Tensor
    distances: torch.Tensor

    @property
    def offset(self) -> torch.Tensor:
        return self.offsets[self.distances.argmin(1)]

    @property
    def distance(self) -> torch.Tensor:
        return self.distances.min(1).values

    @property
    def confidence(self) -> torch.Tensor:
        return self.distances.median(1).values - self.distance

    def mean_curve(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(offsets (2K + 1,), mean distance per offset (2K + 1,))`` for a distance-vs-offset plot."""
        return self.offsets, self.distances.mean(0)


@torch.no_grad()
def sync_scores(expert: SyncExpert, video: torch.Tensor, audio: torch.Tensor, max_offset: int = 3, *, batch_size: int = 64) -> SyncScores:
    """Score face windows against their audio shifted by ``-K .. K`` frames -> :class:`SyncScores`.

    Args:
        expert: a trained :class:`SyncExpert`.
        video: face windows ``(B, 3, T, H, W)`` with ``T = expert.cfg.num_frames`` (the lower
            half is scored), e.g. generated frames.
        audio: the audio *context* of the windows, covering video frames ``[t0 - K, t0 + T + K)``:
            a 16 kHz waveform ``(B, S)`` with ``S = (T + 2K) * 640`` samples at 25 fps (turned into
            a log-mel with :func:`marlin_lite.audio.log_mel`'s defaults, hop 160, and the expert's
            ``n_mels``), or a log-mel ``(B, n_mels, >= m (T + 2K))`` from :func:`mel_context`.
        max_offset: ``K``; candidate ``d`` pairs the video with audio frames ``[t0 + d, t0 + d + T)``.
    """
    if not isinstance(expert, SyncExpert):
        raise ValueError(f"expert must be a SyncExpert (see train_sync_expert), got {type(expert).__name__}")
    cfg = expert.cfg
    _check_video(video, "video", num_frames=cfg.num_frames)
    if isinstance(max_offset, bool) or not isinstance(max_offset, int) or max_offset < 0:
        raise ValueError(f"max_offset must be an int >= 0, got {max_offset!r}")
    if not isinstance(audio, torch.Tensor) or audio.dim() not in (2, 3) or audio.shape[0] != video.shape[0]:
        got = tuple(audio.shape) if isinstance(audio, torch.Tensor) else type(audio).__name__
        raise ValueError(f"audio must be a waveform (B, S) or a log-mel (B, n_mels, F) with B = {video.shape[0]}, got {got}")
    if audio.dim() == 2:
        audio = log_mel(audio, n_mels=cfg.n_mels)
    if audio.shape[1] != cfg.n_mels:
        raise ValueError(f"audio log-mel must have {cfg.n_mels} mel bands (the expert's), got {audio.shape[1]}")
    K, T = max_offset, cfg.num_frames
    cands = _candidate_windows(audio, T, K, cfg.mel_per_frame)  # validates the length
    dists = []
    was_training = expert.training
    expert.eval()
    dev = _device_of(expert)  # batches go where the expert is; distances come back to the CPU
    for i in range(0, video.shape[0], batch_size):
        v = expert.embed_video(video[i : i + batch_size].to(dev))
        c = cands[i : i + batch_size].to(dev)
        a = expert.embed_audio(c.flatten(0, 1)).reshape(c.shape[0], 2 * K + 1, -1)
        cos = torch.einsum("be,bke->bk", v, a)
        dists.append(torch.sqrt(torch.clamp(2 - 2 * cos, min=0)).float().cpu())
    expert.train(was_training)
    distances = torch.cat(dists) if dists else torch.empty(0, 2 * K + 1)
    return SyncScores(torch.arange(-K, K + 1), distances.float())


def estimate_offset(expert: SyncExpert, video: torch.Tensor, audio: torch.Tensor, max_offset: int = 3) -> torch.Tensor:
    """The audio offset (frames, positive = audio late) that best matches each window -> ``int64 (B,)``.

    Arguments as in :func:`sync_scores`.
    """
    return sync_scores(expert, video, audio, max_offset).offset


def _sync_test_plan(
    clips: LipSyncClips, num_frames: int, max_offset: int, windows_per_clip: int, shifted: bool, seed: int
) -> dict[str, torch.Tensor]:
    """The windows of :func:`sync_test_windows` as indices: ``clip``, ``start``, ``offset`` ``(n,)``."""
    K = max_offset
    win = sample_windows(clips, windows_per_clip * len(clips), num_frames, margin=2 * K, seed=seed)
    g = task_generator(seed, "lipsync_true_offsets")
    n = win["clip"].shape[0]
    offset = torch.randint(-K, K + 1, (n,), generator=g) if shifted else torch.zeros(n, dtype=torch.int64)
    return {"clip": win["clip"], "start": win["start"], "offset": offset}


def sync_test_windows(
    clips: LipSyncClips, num_frames: int, max_offset: int = 3, *, windows_per_clip: int = 4, shifted: bool = True, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Held-out windows for offset estimation: ``video (n, 3, T, H, W)``, ``mel`` contexts
    ``(n, n_mels, m (T + 2K))`` and the true ``offset (n,)``.

    With ``shifted`` each window's audio is played ``offset`` frames late, ``offset`` uniform in
    ``-K .. K`` (chance accuracy ``1 / (2K + 1)``); otherwise every offset is 0. Starts lie in
    ``[2K, L - T - 2K]`` so that every shift and candidate stays inside the clip.
    """
    plan = _sync_test_plan(clips, num_frames, max_offset, windows_per_clip, shifted, seed)
    return {
        "video": clip_windows(clips, plan["clip"], plan["start"], num_frames),
        "mel": mel_context(clips, plan["clip"], plan["start"], num_frames, max_offset, shift=plan["offset"]),
        **plan,
    }


def evaluate_sync_expert(
    expert: SyncExpert, clips: LipSyncClips, *, max_offset: int = 3, windows_per_clip: int = 4, seed: int = 0, batch_size: int = 64
) -> dict[str, float]:
    """Offset estimation on (held-out) clips with random true offsets in ``-K .. K`` (the windows
    of :func:`sync_test_windows`, scored ``batch_size`` at a time: memory does not grow with the
    number of clips).

    Returns ``sync_offset_acc`` (estimate == truth), ``sync_offset_acc_pm1`` (within one frame),
    ``chance`` (``1 / (2K + 1)``), and the mean ``sync_distance`` / ``sync_confidence``
    (LSE-D / LSE-C-style, our expert) of the real windows, and ``n_windows``.
    """
    T, K = expert.cfg.num_frames, max_offset
    plan = _sync_test_plan(clips, T, K, windows_per_clip, True, seed)
    distances = []
    for i in range(0, plan["clip"].shape[0], batch_size):
        ci, t0, off = plan["clip"][i : i + batch_size], plan["start"][i : i + batch_size], plan["offset"][i : i + batch_size]
        video, mel = clip_windows(clips, ci, t0, T), mel_context(clips, ci, t0, T, K, shift=off)
        distances.append(sync_scores(expert, video, mel, K, batch_size=batch_size).distances)
    s = SyncScores(torch.arange(-K, K + 1), torch.cat(distances))
    w = plan
    err = (s.offset - w["offset"]).abs()
    return {
        "sync_offset_acc": float((err == 0).float().mean()),
        "sync_offset_acc_pm1": float((err <= 1).float().mean()),
        "chance": 1.0 / (2 * max_offset + 1),
        "sync_distance": float(s.distance.mean()),
        "sync_confidence": float(s.confidence.mean()),
        "n_windows": int(w["offset"].shape[0]),
    }


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
# The generator
# --------------------------------------------------------------------------------------


class LipSyncGenerator(nn.Module):
    """Wav2Lip-style generator with a MARLIN face encoder.

    Inputs: the target window with its lower half masked out ``masked (B, 3, T, H, W)``, a
    reference window of the same person ``reference (B, 3, T, H, W)`` (another time of the
    clip) and the aligned log-mel window ``mel (B, n_mels, m T)``. Output: the lower half of
    every frame, ``(B, 3, T, H - H // 2, W)`` in [0, 1] (:meth:`generate` pastes it under the
    masked input's upper half).

    * face: ``reference="paste"`` encodes ``masked`` with the reference's lower half pasted in
      (one pass); ``"separate"`` encodes both and fuses the two token sets with
      ``Linear(2D, D)``. Tokens ``(B, N, D)`` -> feature volume ``(B, D, T', h, w)``;
    * audio: mel (standardised) -> Conv1d, GELU, Conv1d, GELU, then a Conv1d with kernel = stride
      = ``m * tubelet`` -> one ``audio_dim`` vector per tubelet slot ``(B, audio_dim, T')``,
      broadcast over ``(h, w)``;
    * decoder: Conv3d ``(1, 3, 3)`` and ``(3, 3, 3)`` (GELU) over the concatenated volume; the
      lower ``h / 2`` token rows kept; a 1x1x1 conv to the ``3 * tubelet * patch^2`` pixels of
      each token, un-patchified into a residual; a per-frame 2-D conv on (reference lower half,
      residual) adds a correction. Output ``clamp(reference lower half + residual + correction,
      0, 1)``. The skip of the reference's pixels plays the part of Wav2Lip's U-Net skips from
      its face encoder; the pixel head and the correction start at zero, so an untrained
      generator copies the reference (:func:`copy_reference`) and training learns what to change
      (the mouth, from the audio; the pose, from the upper half).

    The encoder is used as given (``train_generator`` passes a copy). Non-encoder layers are
    initialised from ``seed``.
    """

    def __init__(
        self,
        encoder: MarlinEncoder | MarlinAutoencoder,
        *,
        n_mels: int = 40,
        mel_per_frame: int = 4,
        audio_dim: int = 64,
        width: int = 64,
        reference: str = "paste",
        seed: int = 0,
    ) -> None:
        super().__init__()
        enc = as_encoder(encoder)
        cfg = enc.cfg
        if reference not in REFERENCE_MODES:
            raise ValueError(f"reference must be one of {REFERENCE_MODES}, got {reference!r}")
        _, gh, _ = cfg.grid
        if gh % 2 or (cfg.img_size // 2) % cfg.patch_size:
            raise ValueError(
                f"the lower half must be whole token rows: img_size {cfg.img_size} / 2 must be a multiple of patch_size "
                f"{cfg.patch_size} (an even number of token rows)"
            )
        self.encoder = enc
        self.cfg = cfg
        self.reference = reference
        self.n_mels, self.mel_per_frame = n_mels, mel_per_frame
        task_generator(seed)  # validates the seed
        D, pt, p = cfg.enc_dim, cfg.tubelet_size, cfg.patch_size
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.fuse = nn.Linear(2 * D, D) if reference == "separate" else None
            self.audio = nn.Sequential(
                nn.Conv1d(n_mels, audio_dim, 3, padding=1), nn.GELU(),
                nn.Conv1d(audio_dim, audio_dim, 3, padding=1), nn.GELU(),
                nn.Conv1d(audio_dim, audio_dim, mel_per_frame * pt, stride=mel_per_frame * pt),
            )
            self.body = nn.Sequential(
                nn.Conv3d(D + audio_dim, width, (1, 3, 3), padding=(0, 1, 1)), nn.GELU(),
                nn.Conv3d(width, width, 3, padding=1), nn.GELU(),
            )
            self.head = nn.Conv3d(width, 3 * pt * p * p, 1)
            self.refine = nn.Sequential(nn.Conv2d(6, 16, 3, padding=1), nn.GELU(), nn.Conv2d(16, 3, 3, padding=1))
            for layer in (self.head, self.refine[-1]):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        self.register_buffer("mel_mean", torch.zeros(()))
        self.register_buffer("mel_std", torch.ones(()))

    def _check_inputs(self, masked: torch.Tensor, reference: torch.Tensor) -> None:
        c = self.cfg
        _check_video(masked, "masked", num_frames=c.num_frames, size=c.img_size)
        _check_video(reference, "reference", num_frames=c.num_frames, size=c.img_size)
        if masked.shape != reference.shape:
            raise ValueError(f"masked and reference must have the same shape, got {tuple(masked.shape)} and {tuple(reference.shape)}")
        if bool(lower_half(masked).abs().amax() > 0):
            raise ValueError("masked must have its lower half set to 0 (the generator must not see the target mouth); use mask_lower_half")

    def face_input(self, masked: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """The encoder's input in ``"paste"`` mode: ``masked`` with the reference's lower half."""
        return paste_lower_half(masked, lower_half(reference))

    def encode(self, masked: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Face feature volume ``(B, D, T', h, w)`` from the encoder's tokens (after its final LayerNorm)."""
        self._check_inputs(masked, reference)
        t, h, w = self.cfg.grid
        if self.reference == "paste":
            tokens = self.encoder(self.face_input(masked, reference))
        else:
            both = self.encoder(torch.cat([masked, reference]))
            tokens = self.fuse(torch.cat(both.chunk(2), dim=-1))
        return rearrange(tokens, "b (t h w) d -> b d t h w", t=t, h=h, w=w)

    def decode(self, volume: torch.Tensor, mel: torch.Tensor, reference_lower: torch.Tensor) -> torch.Tensor:
        """Feature volume ``(B, D, T', h, w)``, mel window ``(B, n_mels, m T)`` and the reference's
        lower half ``(B, 3, T, H - H // 2, W)`` -> generated lower halves of the same shape, in [0, 1]."""
        c = self.cfg
        t, h, w = c.grid
        B = volume.shape[0]
        want = (self.n_mels, self.mel_per_frame * c.num_frames)
        if not isinstance(mel, torch.Tensor) or mel.dim() != 3 or tuple(mel.shape[1:]) != want or mel.shape[0] != B:
            got = tuple(mel.shape) if isinstance(mel, torch.Tensor) else type(mel).__name__
            raise ValueError(f"mel must be ({B}, {want[0]}, {want[1]}) log-mel windows aligned with the video, got {got}")
        lower_shape = (B, 3, c.num_frames, c.img_size - c.img_size // 2, c.img_size)
        if not isinstance(reference_lower, torch.Tensor) or tuple(reference_lower.shape) != lower_shape:
            got = tuple(reference_lower.shape) if isinstance(reference_lower, torch.Tensor) else type(reference_lower).__name__
            raise ValueError(f"reference_lower must be the reference's lower half {lower_shape}, got {got}")
        a = self.audio((mel - self.mel_mean) / self.mel_std)  # (B, A, T')
        a = a[:, :, :, None, None].expand(-1, -1, -1, h, w)
        x = self.body(torch.cat([volume, a], dim=1))[:, :, :, h // 2 :, :]
        residual = rearrange(
            self.head(x), "b (c pt ph pw) t h w -> b c (t pt) (h ph) (w pw)", c=3, pt=c.tubelet_size, ph=c.patch_size, pw=c.patch_size
        )
        base = reference_lower.to(residual.dtype)
        frames = rearrange(torch.cat([base, residual], dim=1), "b c t h w -> (b t) c h w")
        correction = rearrange(self.refine(frames), "(b t) c h w -> b c t h w", b=B)
        return (base + residual + correction).clamp(0, 1)

    def forward(self, masked: torch.Tensor, reference: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """Lower halves ``(B, 3, T, H - H // 2, W)`` for masked target windows, reference windows and mel windows."""
        return self.decode(self.encode(masked, reference), mel, lower_half(reference))

    @torch.no_grad()
    def generate(self, target: torch.Tensor, reference: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
        """Full frames ``(B, 3, T, H, W)``: ``target``'s upper half and the generated lower half
        (``target``'s lower half is masked before the generator sees it)."""
        masked = mask_lower_half(target)
        return paste_lower_half(masked, self(masked, reference, mel))


def copy_reference(masked: torch.Tensor, reference: torch.Tensor, mel: torch.Tensor) -> torch.Tensor:
    """A baseline "generator" that ignores the audio: the reference window's lower half."""
    return lower_half(reference)


@dataclass
class GeneratorResult:
    """A trained :class:`LipSyncGenerator` (eval mode, on the training device), whether its encoder was trained,
    and the per-step ``history`` (``step``, ``loss``, ``l1``, ``sync``)."""

    generator: LipSyncGenerator
    train_encoder: bool
    history: list[dict[str, float]]
    seconds: float = field(default=0.0, compare=False)


def _window_batch(
    clips: LipSyncClips, win: dict[str, torch.Tensor], idx: torch.Tensor, T: int, device: torch.device | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(target, reference, mel window) of windows ``idx`` of a ``sample_windows`` dict, on ``device``."""
    ci, t0, r0 = win["clip"][idx], win["start"][idx], win["ref_start"][idx]
    mel = mel_context(clips, ci, t0, T, 0)
    return (clip_windows(clips, ci, t0, T, device=device), clip_windows(clips, ci, r0, T, device=device),
            mel.to(device) if device is not None else mel)


def train_generator(
    encoder: MarlinEncoder | MarlinAutoencoder | None,
    train_clips: LipSyncClips,
    *,
    train_encoder: bool = False,
    steps: int = 100,
    batch_size: int = 4,
    pool_size: int | None = None,
    lr: float = 1e-3,
    encoder_lr: float = 1e-4,
    sync_expert: SyncExpert | None = None,
    sync_weight: float = 0.03,
    reference: str = "paste",
    config: MarlinConfig | str = "tiny",
    seed: int = 0,
    progress: bool = False,
    device: torch.device | str | None = None,
    cache_gib: float = 2.0,
) -> GeneratorResult:
    """Train a :class:`LipSyncGenerator` -> :class:`GeneratorResult`.

    Args:
        encoder: the face encoder (a copy is trained or frozen; the argument is never modified);
            ``None`` -> a random-init encoder of ``config`` seeded by ``seed``.
        train_clips: :class:`LipSyncClips` whose frames match the encoder's ``img_size``.
        train_encoder: train the encoder with the generator (``encoder_lr``) or keep it frozen.
            A frozen encoder's features of the ``pool_size`` training windows are computed once
            and reused (up to ``cache_gib`` GiB of them, on ``device``; windows past that are
            encoded every time they come up), which is why frozen runs are much cheaper than
            trained ones. A ViT-B window at 224x224 takes 4.8 MB, so a pool of thousands of
            windows would not fit whole.
        steps, batch_size, lr: Adam on the generator's own layers (constant ``lr``).
        pool_size: the training windows (target start, a non-overlapping reference start) are a
            fixed seeded pool of this size, cycled in shuffled order (``None``: ``steps * batch_size``).
        sync_expert, sync_weight: with an expert (it is copied and frozen), the loss is
            ``(1 - w) * L1 + w * sync`` with ``sync = -log((1 + cos) / 2)`` of the expert's cosine
            between the generated window and its audio (Wav2Lip uses ``w = 0.03``); without one,
            the L1 on the lower half alone.
        reference: ``"paste"`` or ``"separate"`` (see :class:`LipSyncGenerator`).
        seed: generator init, the window pool and its order (and a ``None`` encoder's init).
        device: where the generator (and the loss expert's copy) trains and stays (default CPU);
            the windows are gathered on the CPU and moved there as bytes.
    """
    if not isinstance(train_clips, LipSyncClips):
        raise ValueError(f"train_clips must be LipSyncClips (see make_lipsync_clips), got {type(train_clips).__name__}")
    enc = random_encoder(config, seed) if encoder is None else copy.deepcopy(as_encoder(encoder)).cpu()
    cfg = enc.cfg
    if train_clips.size != cfg.img_size:
        raise ValueError(f"train_clips frames are {train_clips.size}px but the encoder takes {cfg.img_size}px; render clips with size={cfg.img_size}")
    for name, v in (("steps", steps), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be an int >= 1, got {v!r}")
    if pool_size is not None and (isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1):
        raise ValueError(f"pool_size must be an int >= 1 or None, got {pool_size!r}")
    if not 0 <= sync_weight < 1:
        raise ValueError(f"sync_weight must be in [0, 1), got {sync_weight!r}")
    if sync_expert is not None:
        if not isinstance(sync_expert, SyncExpert):
            raise ValueError(f"sync_expert must be a SyncExpert or None, got {type(sync_expert).__name__}")
        if sync_expert.cfg.num_frames != cfg.num_frames or sync_expert.cfg.n_mels != train_clips.n_mels:
            raise ValueError(
                f"sync_expert takes {sync_expert.cfg.num_frames}-frame windows and {sync_expert.cfg.n_mels} mels, but the "
                f"generator makes {cfg.num_frames}-frame windows from {train_clips.n_mels} mels; train a matching expert"
            )
        sync_expert = copy.deepcopy(sync_expert).eval().requires_grad_(False)
    dev = _as_device(device)
    if sync_expert is not None:
        sync_expert.to(dev)
    T = cfg.num_frames
    gen = LipSyncGenerator(enc, n_mels=train_clips.n_mels, mel_per_frame=train_clips.mel_per_frame, reference=reference, seed=seed)
    mean, std = _mel_stats(train_clips)
    gen.mel_mean.fill_(mean)
    gen.mel_std.fill_(std)
    gen.to(dev)
    n_pool = pool_size or steps * batch_size
    pool = sample_windows(train_clips, n_pool, T, reference=True, generator=task_generator(seed, "generator_pool"))
    enc.requires_grad_(train_encoder)
    own = [p for n, p in gen.named_parameters() if not n.startswith("encoder.")]
    groups = [{"params": own, "lr": lr}]
    if train_encoder:
        groups.append({"params": list(enc.parameters()), "lr": encoder_lr})
    opt = torch.optim.Adam(groups)
    order_gen = task_generator(seed, "generator_order")
    order = torch.empty(0, dtype=torch.int64)
    cache: dict[int, torch.Tensor] = {}
    cache_left = int(cache_gib * 2**30)
    history = []
    t_start = time.perf_counter()
    steps_iter = range(1, steps + 1)
    if progress:
        from tqdm.auto import tqdm

        steps_iter = tqdm(steps_iter, desc="generator", unit="step")
    gen.train()
    if not train_encoder:
        enc.eval()
    for step in steps_iter:
        if order.numel() < batch_size:
            order = torch.cat([order, torch.randperm(n_pool, generator=order_gen)])
        idx, order = order[:batch_size], order[batch_size:]
        target, ref, mel = _window_batch(train_clips, pool, idx, T, dev)
        masked = mask_lower_half(target)
        if train_encoder:
            volume = gen.encode(masked, ref)
        else:
            todo = [i for i in idx.tolist() if i not in cache]
            fresh: dict[int, torch.Tensor] = {}
            if todo:
                with torch.no_grad():
                    rows = torch.tensor([idx.tolist().index(i) for i in todo], device=dev)
                    for i, v in zip(todo, gen.encode(masked[rows], ref[rows])):
                        fresh[i] = v
                        if v.numel() * v.element_size() <= cache_left:
                            cache[i] = v
                            cache_left -= v.numel() * v.element_size()
            volume = torch.stack([cache[i] if i in cache else fresh[i] for i in idx.tolist()])
        pred = gen.decode(volume, mel, lower_half(ref))
        l1 = (pred - lower_half(target)).abs().mean()
        value, sync = l1, torch.zeros(())
        if sync_expert is not None and sync_weight > 0:
            cos = sync_expert(paste_lower_half(masked, pred), mel)
            sync = -torch.log(((1 + cos) / 2).clamp(min=1e-6)).mean()
            value = (1 - sync_weight) * l1 + sync_weight * sync
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        history.append({"step": step, "loss": float(value.detach()), "l1": float(l1.detach()), "sync": float(sync.detach())})
    enc.requires_grad_(True)
    return GeneratorResult(gen.eval(), train_encoder, history, time.perf_counter() - t_start)


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


# --------------------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------------------


def run_lipsync(
    pretrained: MarlinEncoder | MarlinAutoencoder,
    *,
    seeds: Sequence[int] = (0,),
    methods: Sequence[str] = DEFAULT_LS_METHODS,
    data: dict[str, LipSyncClips] | None = None,
    num_identities: int = 80,
    clips_per_identity: int = 1,
    clip_frames: int = 24,
    world_seed: int = 0,
    max_offset: int = 3,
    expert: SyncExpert | None = None,
    expert_config: SyncExpertConfig | None = None,
    expert_steps: int = 150,
    expert_batch_size: int = 32,
    expert_seed: int = 0,
    steps: int = 100,
    batch_size: int = 4,
    pool_size: int | None = None,
    lr: float = 1e-3,
    encoder_lr: float | None = None,
    sync_weight: float = 0.03,
    loss_expert: SyncExpert | None = None,
    num_eval_windows: int = 48,
    artifacts: dict[str, Any] | None = None,
    progress: bool = False,
    device: torch.device | str | None = None,
) -> ResultsTable:
    """The lip-sync task end to end -> :class:`~marlin_lite.tasks.results.ResultsTable`.

    Steps: render train / test clips of disjoint identities (or take ``data``); train the
    evaluation sync expert on the train clips (or take ``expert``); for every seed and method,
    train a generator on the train clips and score it on fixed windows of the test clips.

    Rows (``task="ls"``): ``method="sync_expert"`` (offset accuracy on held-out clips whose audio
    is shifted by a random ``-K .. K``, against ``chance = 1 / (2K + 1)``); ``"ground_truth"`` (the
    real lower faces: the best sync scores the expert gives); then per seed the ``methods``:

    * ``copy_reference``: the reference window's lower half (no audio, no training);
    * ``random_init``: a random-init encoder (seeded by the row's seed), frozen;
    * ``supervised_scratch``: the same random-init encoder trained with the generator;
    * ``pretrained``: ``pretrained``'s encoder, frozen (as ``pretrained_probe`` elsewhere);
    * ``pretrained_finetune``: a copy of it trained with the generator (``encoder_lr``).

    Every generator gets the same ``steps``, ``batch_size``, window pool and init seed, so rows
    differ only in the encoder. Metrics: see :func:`lipsync_metrics`, plus ``train_l1`` (mean L1
    of the last 5 steps).

    The defaults are lesson-sized (80 identities of one 24-frame 64-pixel clip each: 56 train,
    12 test; two experts of 150 steps; 100 generator steps of 4 windows, each window seen once;
    48 evaluation windows): about 50 CPU-seconds for one seed on one thread. A frozen encoder's
    features are computed once per training window, so frozen rows are cheap;
    ``supervised_scratch`` and ``pretrained_finetune`` back-propagate through the ViT at every
    step and cost about twice as much. Results depend on the number of intra-op threads (the
    reduction order changes the training trajectory), not only on the seeds.

    Args:
        encoder_lr: learning rate of a trained encoder; ``None`` -> ``lr`` for
            ``supervised_scratch`` (trained from scratch like the rest) and ``lr / 10`` for
            ``pretrained_finetune`` (the usual gentler fine-tuning rate).
        sync_weight: weight of the sync loss (default 0.03, Wav2Lip's). When > 0 a *second*
            expert (trained with ``expert_seed + 1``, or ``loss_expert``) drives the loss, so that
            generators are not scored by the network they were trained against (a generator
            trained against the evaluation expert itself learns to please it: in our runs it then
            "beat" the real videos on sync while its FD doubled). ``0``: L1 only, one expert.
        expert_config: the experts' sizes (default :class:`SyncExpertConfig` on the encoder's
            ``num_frames``).
        artifacts: a dict to fill with what the lesson may plot: ``"expert"`` (the
            :class:`SyncExpertResult` or the given expert), ``"data"``, ``"windows"`` (the
            evaluation windows), ``"generators"`` (``{(method, seed): GeneratorResult}``),
            ``"seconds"`` (wall time per stage).
        device: where the experts and generators train (default CPU; e.g. ``"cuda"``); the
            clips stay on the CPU and windows are moved per batch.
    """
    bad = [m for m in methods if m not in LS_METHODS]
    if bad or not methods:
        raise ValueError(f"methods must be a non-empty subset of {LS_METHODS}, got {tuple(methods)}")
    if not seeds:
        raise ValueError("seeds must name at least one seed, e.g. (0, 1, 2)")
    enc = as_encoder(pretrained)
    cfg = enc.cfg
    T = cfg.num_frames
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    if data is None:
        data = lipsync_splits(
            num_identities, clips_per_identity, world_seed=world_seed, size=cfg.img_size, num_frames=clip_frames
        )
    for split in ("train", "test"):
        if split not in data or not isinstance(data[split], LipSyncClips):
            raise ValueError(f"data must map 'train' and 'test' to LipSyncClips (see lipsync_splits), got keys {sorted(data)}")
        if data[split].size != cfg.img_size:
            raise ValueError(f"data[{split!r}] frames are {data[split].size}px but the encoder takes {cfg.img_size}px")
    train, test = data["train"], data["test"]
    if set(train.identities) & set(test.identities):
        raise ValueError("train and test clips share identities; split by identity (lipsync_splits) to test on unseen people")
    seconds["data"] = time.perf_counter() - t

    expert_config = expert_config or SyncExpertConfig(num_frames=T, n_mels=train.n_mels, mel_per_frame=train.mel_per_frame)
    if expert_config.num_frames != T:
        raise ValueError(f"expert_config.num_frames must be the encoder's window, {T}, got {expert_config.num_frames}")

    def new_expert(seed: int) -> SyncExpertResult:
        return train_sync_expert(
            train, config=expert_config, steps=expert_steps, batch_size=expert_batch_size, max_offset=max_offset,
            seed=seed, progress=progress, device=device,
        )

    t = time.perf_counter()
    expert_result = None
    if expert is None:
        expert_result = new_expert(expert_seed)
        expert = expert_result.expert
    elif not isinstance(expert, SyncExpert) or expert.cfg.num_frames != T:
        raise ValueError(f"expert must be a SyncExpert on {T}-frame windows (the encoder's), got {type(expert).__name__}")
    if sync_weight > 0 and loss_expert is None:
        loss_expert = new_expert(expert_seed + 1).expert
    seconds["experts"] = time.perf_counter() - t

    table = ResultsTable()
    base = {"task": "ls", "n_train": len(train)}
    windows = eval_windows(test, num_eval_windows, T, max_offset, seed=0)
    n_test = int(windows["clip"].shape[0])
    ev = evaluate_sync_expert(expert, test, max_offset=max_offset, seed=0)
    table.append({**base, "method": "sync_expert", "encoder": "-", "seed": expert_seed, "n_test": ev.pop("n_windows"), **ev})
    gt = evaluate_generator(None, test, expert, windows=windows, max_offset=max_offset)
    gt = {k: gt[k] for k in ("sync_offset_acc", "sync_distance", "sync_confidence")}  # L1 / PSNR / FD are trivial
    table.append({**base, "method": "ground_truth", "encoder": "-", "seed": expert_seed, "n_test": n_test,
                  "chance": 1.0 / (2 * max_offset + 1), **gt})
    generators: dict[tuple[str, int], GeneratorResult] = {}
    train_kw = dict(steps=steps, batch_size=batch_size, pool_size=pool_size, lr=lr,
                    sync_expert=loss_expert if sync_weight > 0 else None, sync_weight=sync_weight, progress=progress, device=device)
    for seed in seeds:
        for method in methods:
            t = time.perf_counter()
            row = {**base, "method": method, "seed": int(seed), "n_test": n_test, "chance": 1.0 / (2 * max_offset + 1)}
            if method == "copy_reference":
                metrics = evaluate_generator(copy_reference, test, expert, windows=windows, max_offset=max_offset)
                row["encoder"] = "-"
            else:
                trained = method in ("supervised_scratch", "pretrained_finetune")
                start = enc if method.startswith("pretrained") else random_encoder(cfg, seed)
                e_lr = encoder_lr if encoder_lr is not None else (lr if method == "supervised_scratch" else lr / 10)
                result = train_generator(start, train, train_encoder=trained, encoder_lr=e_lr, seed=seed, **train_kw)
                generators[(method, int(seed))] = result
                metrics = evaluate_generator(result.generator, test, expert, windows=windows, max_offset=max_offset)
                row["encoder"] = "trained" if trained else "frozen"
                metrics["train_l1"] = sum(h["l1"] for h in result.history[-5:]) / len(result.history[-5:])
            metrics.pop("n_windows")
            table.append({**row, **metrics})
            seconds[f"{method}/{seed}"] = time.perf_counter() - t
    if artifacts is not None:
        artifacts.update(
            expert=expert_result if expert_result is not None else expert, loss_expert=loss_expert, data=data,
            windows=windows, generators=generators, seconds=seconds,
        )
    return table


__all__ = [
    "DEFAULT_LS_METHODS",
    "GeneratorResult",
    "LS_METHODS",
    "LipSyncClips",
    "LipSyncGenerator",
    "REFERENCE_MODES",
    "SYNC_LOSSES",
    "SyncExpert",
    "SyncExpertConfig",
    "SyncExpertResult",
    "SyncScores",
    "clip_windows",
    "copy_reference",
    "estimate_offset",
    "eval_windows",
    "evaluate_generator",
    "evaluate_sync_expert",
    "frechet_distance",
    "frechet_distance_syncfeat",
    "gaussian_frechet_distance",
    "generate_windows",
    "lipsync_metrics",
    "lipsync_splits",
    "lower_half",
    "make_lipsync_clips",
    "mask_lower_half",
    "mel_context",
    "paste_lower_half",
    "psnr",
    "run_lipsync",
    "sample_windows",
    "sync_scores",
    "sync_test_windows",
    "train_generator",
    "train_sync_expert",
]
