"""The lip-sync generator: a Wav2Lip-style model whose face encoder is a MARLIN encoder, and its training loop.

Part of :mod:`marlin_lite.tasks.lipsync` (its docstring describes the whole pipeline and the shapes)."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field

import torch
from einops import rearrange
from torch import nn

from marlin_lite.encoders import as_encoder, random_encoder
from marlin_lite.model import MarlinAutoencoder, MarlinConfig, MarlinEncoder
from marlin_lite.tasks.probe import task_generator
from marlin_lite.tasks.lipsync.data import (
    LipSyncClips,
    _as_device,
    _check_video,
    take_windows,
    lower_half,
    mask_lower_half,
    mel_context,
    paste_lower_half,
    sample_windows,
)
from marlin_lite.tasks.lipsync.expert import SyncExpert, _mel_stats
from marlin_lite.utils import progress_bar

REFERENCE_MODES = ("paste", "separate")


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
    return (take_windows(clips, ci, t0, T, device=device), take_windows(clips, ci, r0, T, device=device),
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
    steps_iter = progress_bar(range(1, steps + 1), desc="generator", unit="step", enabled=progress)
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
