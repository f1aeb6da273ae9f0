"""The sync expert: a SyncNet-style two-tower model trained contrastively over audio offsets, and its scores.

Part of :mod:`marlin_lite.tasks.lipsync` (its docstring describes the whole pipeline and the shapes)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from marlin_lite.audio import log_mel
from marlin_lite.tasks.probe import task_generator
from marlin_lite.tasks.lipsync.data import LipSyncClips, _as_device, _check_video, _device_of, take_windows, lower_half, mel_context, sample_windows
from marlin_lite.utils import progress_bar

SYNC_LOSSES = ("infonce", "bce")


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
    for step in progress_bar(range(1, steps + 1), desc="sync expert", unit="step", enabled=progress):
        ci = torch.randint(len(train_clips), (batch_size,), generator=g)
        t0 = torch.randint(K, train_clips.num_frames - T - K + 1, (batch_size,), generator=g)
        video = take_windows(train_clips, ci, t0, T, device=dev)
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
        "video": take_windows(clips, plan["clip"], plan["start"], num_frames),
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
        video, mel = take_windows(clips, ci, t0, T), mel_context(clips, ci, t0, T, K, shift=off)
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
