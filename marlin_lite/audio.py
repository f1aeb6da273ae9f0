"""Log-mel spectrograms in plain PyTorch, aligned with video frames.

Speech enters the lip-sync models as a log-mel spectrogram: the short-time Fourier transform
(``torch.stft``, a periodic Hann window) gives the power at each frequency bin every
``hop_length`` samples; a bank of triangular filters spaced evenly on the *mel* scale sums
those powers into ``n_mels`` bands (fine at low frequencies, coarse at high ones, like the
ear); the natural log of the band powers, floored at ``floor``, is the feature.

* Mel scale: HTK by default, ``mel = 2595 * log10(1 + f / 700)``; the Slaney (Auditory
  Toolbox) scale, linear below 1 kHz and logarithmic above, is available with
  ``mel_scale="slaney"``. Filters are triangles in Hz with peak 1 (``norm=None``, the HTK
  convention) or with unit area (``norm="slaney"``: each triangle is scaled by
  ``2 / (f_right - f_left)``).
* Framing: with ``center=True`` (the default) the signal is zero-padded by ``n_fft // 2``
  on both sides and mel frame ``j`` is centred on sample ``j * hop_length``; a signal of
  ``S`` samples gives ``1 + S // hop_length`` frames (:func:`num_mel_frames`).
* Alignment with video: at 16 kHz and 25 fps a video frame lasts 640 samples, so with
  ``hop_length=160`` (10 ms) there are exactly 4 mel frames per video frame
  (:func:`mel_frames_per_video_frame`), and video frame ``t`` owns mel frames
  ``[4 t, 4 t + 4)`` (centred at 0, 10, 20, 30 ms into the frame). :func:`mel_window`
  cuts the mel frames of video frames ``[t0, t0 + T)``. Defaults follow common speech
  front-ends: 25 ms windows (``win_length=400``) zero-padded to ``n_fft=512``.

Shapes: audio ``float32 (S,)`` or ``(B, S)``; spectrograms ``float32 (B, n_mels, F)``.
"""

from __future__ import annotations

import math

import torch

MEL_SCALES = ("htk", "slaney")
FILTER_NORMS = (None, "slaney")


# --------------------------------------------------------------------------------------
# Mel scale and filterbank
# --------------------------------------------------------------------------------------

# Slaney's scale: linear (3 mels per 200 Hz) below 1 kHz, logarithmic above.
_SLANEY_F_SP = 200.0 / 3
_SLANEY_MIN_LOG_HZ = 1000.0
_SLANEY_MIN_LOG_MEL = _SLANEY_MIN_LOG_HZ / _SLANEY_F_SP  # 15
_SLANEY_LOGSTEP = math.log(6.4) / 27.0


def _check_scale(mel_scale: str) -> None:
    if mel_scale not in MEL_SCALES:
        raise ValueError(f"mel_scale must be one of {MEL_SCALES}, got {mel_scale!r}")


def hz_to_mel(freq: torch.Tensor | float, mel_scale: str = "htk") -> torch.Tensor:
    """Frequencies in Hz -> mels (float64 tensor of the same shape)."""
    _check_scale(mel_scale)
    f = torch.as_tensor(freq, dtype=torch.float64)
    if mel_scale == "htk":
        return 2595.0 * torch.log10(1.0 + f / 700.0)
    lin = f / _SLANEY_F_SP
    log = _SLANEY_MIN_LOG_MEL + torch.log(torch.clamp(f, min=1e-10) / _SLANEY_MIN_LOG_HZ) / _SLANEY_LOGSTEP
    return torch.where(f >= _SLANEY_MIN_LOG_HZ, log, lin)


def mel_to_hz(mel: torch.Tensor | float, mel_scale: str = "htk") -> torch.Tensor:
    """Mels -> frequencies in Hz (float64), the inverse of :func:`hz_to_mel`."""
    _check_scale(mel_scale)
    m = torch.as_tensor(mel, dtype=torch.float64)
    if mel_scale == "htk":
        return 700.0 * (torch.pow(10.0, m / 2595.0) - 1.0)
    lin = m * _SLANEY_F_SP
    log = _SLANEY_MIN_LOG_HZ * torch.exp(_SLANEY_LOGSTEP * (m - _SLANEY_MIN_LOG_MEL))
    return torch.where(m >= _SLANEY_MIN_LOG_MEL, log, lin)


def _check_positive_int(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def _check_band(sample_rate: int, f_min: float, f_max: float | None) -> float:
    _check_positive_int("sample_rate", sample_rate)
    f_max = sample_rate / 2 if f_max is None else float(f_max)
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(
            f"need 0 <= f_min < f_max <= sample_rate / 2 = {sample_rate / 2:g} Hz, got f_min={f_min}, f_max={f_max}; "
            "lower f_max or raise sample_rate"
        )
    return f_max


def mel_centres(
    n_mels: int, sample_rate: int = 16000, *, f_min: float = 0.0, f_max: float | None = None, mel_scale: str = "htk"
) -> torch.Tensor:
    """Centre frequencies in Hz of the ``n_mels`` filters, ``float64 (n_mels,)``.

    ``n_mels + 2`` points are spaced evenly in mels from ``f_min`` to ``f_max``; filter ``m``
    rises from point ``m`` to its peak at point ``m + 1`` and falls to zero at point ``m + 2``.
    """
    return _mel_points(n_mels, sample_rate, f_min, f_max, mel_scale)[1:-1]


def _mel_points(n_mels: int, sample_rate: int, f_min: float, f_max: float | None, mel_scale: str) -> torch.Tensor:
    _check_positive_int("n_mels", n_mels)
    f_max = _check_band(sample_rate, f_min, f_max)
    lo, hi = hz_to_mel(f_min, mel_scale), hz_to_mel(f_max, mel_scale)
    return mel_to_hz(torch.linspace(float(lo), float(hi), n_mels + 2, dtype=torch.float64), mel_scale)


def mel_filterbank(
    n_mels: int = 80,
    n_fft: int = 512,
    sample_rate: int = 16000,
    *,
    f_min: float = 0.0,
    f_max: float | None = None,
    mel_scale: str = "htk",
    norm: str | None = None,
) -> torch.Tensor:
    """Triangular mel filters ``float32 (n_mels, n_fft // 2 + 1)``; a power spectrum
    ``(..., n_freqs, F)`` becomes mel band powers by ``fb @ spec``.

    Row ``m`` is a triangle over the FFT bin frequencies ``k * sample_rate / n_fft``, zero
    outside ``(f_m, f_{m+2})`` and peaking at ``f_{m+1}`` (points from :func:`mel_centres`).
    ``norm=None`` gives peak-1 triangles (HTK; between the first and the last centre the rows
    sum to 1 at every frequency); ``norm="slaney"`` divides each by its half-width in Hz so that
    it has unit area. A filter that catches no FFT bin (too many mels for ``n_fft``) is an error.
    """
    _check_scale(mel_scale)
    _check_positive_int("n_fft", n_fft, 2)
    if norm not in FILTER_NORMS:
        raise ValueError(f"norm must be one of {FILTER_NORMS}, got {norm!r}")
    pts = _mel_points(n_mels, sample_rate, f_min, f_max, mel_scale)  # (n_mels + 2,)
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)  # bin k: k * sr / n_fft
    left, centre, right = pts[:-2, None], pts[1:-1, None], pts[2:, None]
    rising = (freqs[None, :] - left) / (centre - left)
    falling = (right - freqs[None, :]) / (right - centre)
    fb = torch.clamp(torch.minimum(rising, falling), min=0.0)
    if norm == "slaney":
        fb = fb * (2.0 / (right - left))
    empty = (fb.sum(1) == 0).nonzero().flatten().tolist()
    if empty:
        raise ValueError(
            f"mel filters {empty[:5]} hold no FFT bin: n_mels={n_mels} is too many for n_fft={n_fft} "
            f"between {f_min:g} and {float(pts[-1]):g} Hz; lower n_mels, raise n_fft or f_min"
        )
    return fb.float()


# --------------------------------------------------------------------------------------
# Spectrograms
# --------------------------------------------------------------------------------------


def num_mel_frames(num_samples: int, hop_length: int = 160, n_fft: int = 512, *, center: bool = True) -> int:
    """How many frames :func:`log_mel` gives for ``num_samples`` samples.

    ``center=True``: ``1 + num_samples // hop_length``; ``center=False``:
    ``1 + (num_samples - n_fft) // hop_length`` (0 when the signal is shorter than ``n_fft``).
    """
    _check_positive_int("num_samples", num_samples, 0)
    _check_positive_int("hop_length", hop_length)
    if center:
        return 1 + num_samples // hop_length
    return 0 if num_samples < n_fft else 1 + (num_samples - n_fft) // hop_length


def mel_frames_per_video_frame(sample_rate: int = 16000, fps: float = 25.0, hop_length: int = 160) -> int:
    """Mel frames per video frame, ``sample_rate / fps / hop_length`` (4 at 16 kHz, 25 fps, hop 160).

    Raises when it is not a whole number, since mel windows could then not follow video frames.
    """
    _check_positive_int("sample_rate", sample_rate)
    _check_positive_int("hop_length", hop_length)
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps!r}")
    ratio = sample_rate / fps / hop_length
    if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
        raise ValueError(
            f"sample_rate / fps / hop_length = {sample_rate} / {fps:g} / {hop_length} = {ratio:g} is not a whole "
            f"number; pick hop_length dividing {sample_rate / fps:g} (e.g. 160 at 16 kHz and 25 fps)"
        )
    return int(round(ratio))


def log_mel(
    audio: torch.Tensor,
    sample_rate: int = 16000,
    *,
    n_mels: int = 80,
    n_fft: int = 512,
    win_length: int = 400,
    hop_length: int = 160,
    f_min: float = 0.0,
    f_max: float | None = None,
    mel_scale: str = "htk",
    norm: str | None = None,
    floor: float = 1e-5,
    center: bool = True,
) -> torch.Tensor:
    """Log-mel spectrogram: ``float (S,)`` or ``(B, S)`` waveform -> ``float32 (B, n_mels, F)``.

    Steps: ``torch.stft`` with a periodic Hann window of ``win_length`` samples (centred in
    ``n_fft``), hop ``hop_length``; power ``|X|^2``; mel bands ``mel_filterbank(...) @ power``;
    ``log(max(bands, floor))`` (natural log; the floor keeps silence finite at ``log(floor)``).
    With ``center=True`` the signal is zero-padded by ``n_fft // 2`` on each side (silence
    outside the clip, so shifting the audio by whole hops shifts the frames) and there are
    ``F = 1 + S // hop_length`` frames, frame ``j`` centred on sample ``j * hop_length``.

    Args:
        audio: mono waveform(s) in [-1, 1]; a 1-D input is treated as a batch of one.
        sample_rate: in Hz; the filters span ``f_min .. f_max`` (default ``sample_rate / 2``).
        mel_scale: ``"htk"`` (default) or ``"slaney"``; norm: ``None`` (peak-1 triangles) or
            ``"slaney"`` (unit-area triangles); see :func:`mel_filterbank`.
    """
    if not isinstance(audio, torch.Tensor):
        raise ValueError(f"audio must be a torch.Tensor (S,) or (B, S), got {type(audio).__name__}; use torch.from_numpy")
    if audio.dim() not in (1, 2) or not audio.is_floating_point():
        raise ValueError(f"audio must be a float tensor (S,) or (B, S), got {audio.dtype} {tuple(audio.shape)}")
    x = audio[None] if audio.dim() == 1 else audio
    _check_positive_int("n_fft", n_fft, 2)
    _check_positive_int("hop_length", hop_length)
    _check_positive_int("win_length", win_length)
    if win_length > n_fft:
        raise ValueError(f"win_length ({win_length}) must be <= n_fft ({n_fft}); raise n_fft")
    if not floor > 0:
        raise ValueError(f"floor must be > 0 (the log of 0 is -inf), got {floor!r}")
    if not center and x.shape[-1] < n_fft:
        raise ValueError(f"audio has {x.shape[-1]} samples, fewer than n_fft={n_fft}; pass center=True or longer audio")
    if x.shape[-1] == 0:
        raise ValueError("audio is empty (0 samples)")
    fb = mel_filterbank(n_mels, n_fft, sample_rate, f_min=f_min, f_max=f_max, mel_scale=mel_scale, norm=norm)
    x = x.float()
    if center:  # zero padding by hand: torch.stft's padding modes need longer signals
        x = torch.nn.functional.pad(x, (n_fft // 2, n_fft // 2))
    window = torch.hann_window(win_length, periodic=True, dtype=x.dtype, device=x.device)
    spec = torch.stft(x, n_fft, hop_length=hop_length, win_length=win_length, window=window, center=False, return_complex=True)
    power = spec.real.square() + spec.imag.square()  # (B, n_fft // 2 + 1, F)
    mel = torch.matmul(fb.to(power.device), power)  # (B, n_mels, F)
    return torch.log(torch.clamp(mel, min=floor))


def mel_window(mel: torch.Tensor, start: int | torch.Tensor, num_frames: int, *, mel_per_frame: int = 4) -> torch.Tensor:
    """The mel frames of video frames ``[start, start + num_frames)``.

    ``mel (B, n_mels, F)`` -> ``(B, n_mels, num_frames * mel_per_frame)``: mel frames
    ``[start * mel_per_frame, (start + num_frames) * mel_per_frame)``. ``start`` is one int for
    the whole batch or an ``int64 (B,)`` tensor of per-row starts (any of them may be negative
    or run past the end only if the caller pads ``mel`` first: out-of-range windows raise).
    """
    if not isinstance(mel, torch.Tensor) or mel.dim() != 3:
        got = tuple(mel.shape) if isinstance(mel, torch.Tensor) else type(mel).__name__
        raise ValueError(f"mel must be a (B, n_mels, F) tensor (from log_mel), got {got}")
    _check_positive_int("num_frames", num_frames)
    _check_positive_int("mel_per_frame", mel_per_frame)
    B, _, F = mel.shape
    width = num_frames * mel_per_frame
    if isinstance(start, torch.Tensor):
        if start.dim() != 1 or start.shape[0] != B or start.is_floating_point():
            raise ValueError(f"start must be an int or an int64 (B,) = ({B},) tensor, got {start.dtype} {tuple(start.shape)}")
        starts = start.to(torch.int64) * mel_per_frame
    else:
        if isinstance(start, bool) or not isinstance(start, int):
            raise ValueError(f"start must be an int or an int64 (B,) tensor, got {start!r}")
        starts = torch.full((B,), start * mel_per_frame, dtype=torch.int64)
    if B and (int(starts.min()) < 0 or int(starts.max()) + width > F):
        raise ValueError(
            f"video frames [start, start + {num_frames}) need mel frames {int(starts.min())}..{int(starts.max()) + width - 1} "
            f"but mel has {F} frames (0..{F - 1}); pick start in 0..{(F - width) // mel_per_frame}"
        )
    idx = starts[:, None] + torch.arange(width)[None, :]  # (B, width)
    return mel.gather(2, idx[:, None, :].expand(-1, mel.shape[1], -1).to(mel.device))


__all__ = [
    "FILTER_NORMS",
    "MEL_SCALES",
    "hz_to_mel",
    "log_mel",
    "mel_centres",
    "mel_filterbank",
    "mel_frames_per_video_frame",
    "mel_to_hz",
    "mel_window",
    "num_mel_frames",
]
