"""Lip-sync data: SynthFace clips with their log-mel spectrograms, face halves, and the windows cut from them.

Part of :mod:`marlin_lite.tasks.lipsync` (its docstring describes the whole pipeline and the shapes)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Sequence

import torch
from torch import nn

from marlin_lite.audio import log_mel, mel_frames_per_video_frame, mel_window
from marlin_lite.data import identity_splits
from marlin_lite.synthface import generate_clip
from marlin_lite.tasks.probe import task_generator


# --------------------------------------------------------------------------------------
# Data: clips with their log-mel spectrograms
# --------------------------------------------------------------------------------------


@dataclass
class LipSyncClips:
    """Talking-face clips, their log-mel spectrograms and who is in them.

    Attributes:
        video: ``float32 (N, 3, L, H, W)`` in [0, 1], or ``uint8`` (0-255, a quarter of the
            memory: real data sets; :func:`take_windows` returns float windows either way).
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


def take_windows(
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
