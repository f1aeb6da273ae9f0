"""Figures and animations for the lessons (matplotlib + Pillow, PNG/GIF only).

Everything returns a matplotlib ``Figure`` or raw bytes, so a lesson can show it, save it,
or test it. Animations are animated GIFs: small, deterministic, and shown by JupyterLab
without a running kernel.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from marlin_lite.labels import LABEL_COLOURS, LABEL_NAMES

_PALETTE = np.array(LABEL_COLOURS, dtype=np.uint8)


def _as_uint8_frames(frames: np.ndarray, name: str = "frames") -> np.ndarray:
    """Accept ``uint8 (T, H, W, 3)`` or ``float (T, H, W, 3)`` in [0, 1]; also a torch tensor."""
    if hasattr(frames, "detach"):
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"{name} must have shape (T, H, W, 3), got {frames.shape}")
    if frames.dtype != np.uint8:
        frames = (np.clip(frames, 0, 1) * 255 + 0.5).astype(np.uint8)
    return frames


def parsing_to_rgb(parsing: np.ndarray) -> np.ndarray:
    """Colour a parsing map: ``uint8 (..., H, W)`` label ids -> ``uint8 (..., H, W, 3)``."""
    parsing = np.asarray(parsing)
    if parsing.size and (parsing.min() < 0 or parsing.max() >= len(_PALETTE)):
        raise ValueError(f"parsing ids must be in 0..{len(_PALETTE) - 1}, got {parsing.min()}..{parsing.max()}")
    return _PALETTE[parsing.astype(np.int64)]


def overlay_parsing(frames: np.ndarray, parsing: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend coloured parsing maps over frames (background left untouched) -> ``uint8``."""
    frames = _as_uint8_frames(frames)
    parsing = np.asarray(parsing)
    if parsing.shape != frames.shape[:3]:
        raise ValueError(f"parsing shape {parsing.shape} does not match frames {frames.shape[:3]}")
    colour = parsing_to_rgb(parsing).astype(np.float32)
    a = np.where(parsing[..., None] > 0, alpha, 0.0)
    return (frames * (1 - a) + colour * a + 0.5).astype(np.uint8)


def label_legend(ax, labels: Sequence[int] | None = None, **kwargs) -> None:
    """Add a legend of parsing-label colours to a matplotlib axis."""
    ids = range(len(LABEL_NAMES)) if labels is None else labels
    handles = [Patch(color=np.array(LABEL_COLOURS[i]) / 255, label=f"{i} {LABEL_NAMES[i]}") for i in ids]
    kwargs.setdefault("fontsize", 7)
    kwargs.setdefault("loc", "center left")
    kwargs.setdefault("bbox_to_anchor", (1.02, 0.5))
    ax.legend(handles=handles, **kwargs)


def show_frames(
    rows: Sequence[np.ndarray] | np.ndarray,
    *,
    frame_ids: Sequence[int] | None = None,
    row_titles: Sequence[str] | None = None,
    size: float = 1.4,
) -> Figure:
    """A grid of frames: one row per clip (each ``(T, H, W, 3)``), columns = ``frame_ids``."""
    if isinstance(rows, np.ndarray) and rows.ndim == 4:
        rows = [rows]
    rows = [_as_uint8_frames(r, f"rows[{i}]") for i, r in enumerate(rows)]
    T = min(r.shape[0] for r in rows)
    frame_ids = list(frame_ids) if frame_ids is not None else list(np.linspace(0, T - 1, min(T, 8)).round().astype(int))
    fig, axes = plt.subplots(len(rows), len(frame_ids), figsize=(size * len(frame_ids), size * len(rows)), squeeze=False)
    for r, clip in enumerate(rows):
        for c, t in enumerate(frame_ids):
            ax = axes[r, c]
            ax.imshow(clip[t], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"t={t}", fontsize=8)
        if row_titles is not None:
            axes[r, 0].set_ylabel(row_titles[r], fontsize=8)
    fig.tight_layout()
    return fig


def clip_gif(clips: Sequence[np.ndarray] | np.ndarray, *, fps: float = 12.5, scale: int = 2, gap: int = 2) -> bytes:
    """An animated GIF of one or more clips side by side (``(T, H, W, 3)`` each, same T, H).

    ``scale`` enlarges pixels (nearest neighbour) so a 64x64 clip is visible; the result is
    deterministic bytes, e.g. for ``IPython.display.Image(data=..., format="gif")``.
    """
    from PIL import Image

    if isinstance(clips, np.ndarray) and clips.ndim == 4:
        clips = [clips]
    clips = [_as_uint8_frames(c, f"clips[{i}]") for i, c in enumerate(clips)]
    T = min(c.shape[0] for c in clips)
    H = clips[0].shape[1]
    if any(c.shape[1] != H for c in clips):
        raise ValueError("all clips must have the same height to be shown side by side")
    sep = np.full((T, H, gap, 3), 255, np.uint8)
    parts = []
    for i, c in enumerate(clips):
        parts += [c[:T]] + ([sep] if i < len(clips) - 1 else [])
    strip = np.concatenate(parts, axis=2)
    if scale > 1:
        strip = strip.repeat(scale, axis=1).repeat(scale, axis=2)
    images = [Image.fromarray(f) for f in strip]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0)
    return buf.getvalue()


def show_gif(clips, **kwargs):
    """Display :func:`clip_gif` in a notebook (returns an ``IPython.display.Image``)."""
    from IPython.display import Image

    return Image(data=clip_gif(clips, **kwargs), format="gif")


def plot_audio_and_mouth(
    audio: np.ndarray,
    sample_rate: int,
    mouth_open: np.ndarray,
    fps: float,
    *,
    envelope: np.ndarray | None = None,
    ax=None,
) -> Figure:
    """The waveform against time, with the per-frame mouth opening on a second axis."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 2.8))
    else:
        fig = ax.figure
    t = np.arange(len(audio)) / sample_rate
    ax.plot(t, audio, lw=0.4, color="0.55", label="audio waveform")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    ax2 = ax.twinx()
    tf = (np.arange(len(mouth_open)) + 0.5) / fps
    ax2.plot(tf, mouth_open, "o-", ms=3, color="crimson", label="mouth opening (per frame)")
    if envelope is not None:
        ax2.plot(tf, envelope, "--", color="navy", lw=1, label="speech envelope (per frame)")
    ax2.set_ylabel("mouth opening")
    ax2.set_ylim(bottom=0)
    lines = ax.get_legend_handles_labels()
    lines2 = ax2.get_legend_handles_labels()
    ax2.legend(lines[0] + lines2[0], lines[1] + lines2[1], fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def show_visible_tokens(
    frame: np.ndarray,
    parsing: np.ndarray,
    visible: np.ndarray,
    membership: dict[str, np.ndarray],
    *,
    axes: Sequence | None = None,
    dim: float = 0.3,
    size: float = 2.2,
) -> Figure:
    """One tubelet slot seen through a mask: what the encoder sees, and which regions it touches.

    Args:
        frame: the slot's first frame, ``uint8 (H, W, 3)`` (or float in [0, 1]).
        parsing: that frame's label ids, integer ``(H, W)``.
        visible: ``bool (H', W')``, True where the encoder sees the token. The patch side is
            ``H // H'``; ``H`` and ``W`` must be ``H' * patch`` and ``W' * patch``.
        membership: ``{region group: bool (H', W')}``: the groups each token of the slot touches,
            e.g. :func:`marlin_lite.masking.region_membership` reshaped to ``(B, T', H', W')``
            and indexed at one clip and slot. Torch tensors are accepted everywhere.
        axes: three matplotlib axes to draw into (e.g. one row of a larger grid); a new
            figure when None.
        dim: the brightness hidden patches keep in the first two panels.
        size: panel height in inches for a new figure.

    Returns:
        The figure. Panel 0: the frame, visible patches as they are, hidden ones dimmed to
        ``dim``. Panel 1: the coloured parsing map, hidden patches dimmed the same way and
        visible ones outlined. Panel 2: per group, the share of the slot's visible tokens that
        touch it (coloured bars, with the count) against the share of all the slot's tokens
        (grey); a token can touch several groups, so the shares need not sum to 1.
    """
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    def as_array(x):
        return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)

    frame = _as_uint8_frames(as_array(frame)[None], "frame")[0]
    parsing, visible = as_array(parsing), as_array(visible).astype(bool)
    membership = {name: as_array(m).astype(bool) for name, m in membership.items()}
    H, W = frame.shape[:2]
    if parsing.shape != (H, W):
        raise ValueError(f"parsing shape {parsing.shape} does not match the frame's {(H, W)}")
    if visible.ndim != 2 or H % visible.shape[0] or W % visible.shape[1] or H // visible.shape[0] != W // visible.shape[1]:
        raise ValueError(
            f"visible must be bool (H', W') with one patch side for both axes of a {H}x{W} frame, got {visible.shape}"
        )
    bad = {name: m.shape for name, m in membership.items() if m.shape != visible.shape}
    if bad:
        raise ValueError(f"membership maps must have visible's shape {visible.shape}, got {bad}")
    patch = H // visible.shape[0]

    new_figure = axes is None
    if new_figure:
        fig, axes = plt.subplots(1, 3, figsize=(size * 3.4, size), gridspec_kw={"width_ratios": [1, 1, 1.4]})
    ax_frame, ax_map, ax_bars = axes
    fig = ax_frame.figure
    keep = np.where(visible.repeat(patch, 0).repeat(patch, 1), 1.0, dim)[..., None]  # (H, W, 1)
    ax_frame.imshow((frame * keep + 0.5).astype(np.uint8), interpolation="nearest")
    ax_map.imshow((parsing_to_rgb(parsing) * keep + 0.5).astype(np.uint8), interpolation="nearest")
    rows, cols = np.nonzero(visible)
    boxes = [Rectangle((c * patch - 0.5, r * patch - 0.5), patch, patch) for r, c in zip(rows, cols)]
    ax_map.add_collection(PatchCollection(boxes, facecolor="none", edgecolor="white", linewidth=0.8))
    for ax in (ax_frame, ax_map):
        ax.set_xticks([])
        ax.set_yticks([])
    n_visible = int(visible.sum())
    ax_frame.set_title(f"{n_visible} of {visible.size} tokens visible", fontsize=8)
    ax_map.set_title("regions (visible outlined)", fontsize=8)

    names = list(membership)
    y = np.arange(len(names))
    touched = np.array([int((m & visible).sum()) for m in membership.values()])
    share_visible = touched / max(n_visible, 1)
    share_all = np.array([m.mean() for m in membership.values()])
    ax_bars.barh(y - 0.2, share_visible, height=0.4, color="tab:blue", label="visible tokens")
    ax_bars.barh(y + 0.2, share_all, height=0.4, color="0.75", label="all tokens")
    for k, (count, share) in enumerate(zip(touched, share_visible)):
        ax_bars.text(share + 0.02, k - 0.2, str(count), va="center", fontsize=6)
    ax_bars.set_yticks(y, names, fontsize=7)
    ax_bars.invert_yaxis()
    ax_bars.set_xlim(0, 1.15)
    ax_bars.tick_params(axis="x", labelsize=7)
    ax_bars.set_title("share of tokens touching each region", fontsize=8)
    ax_bars.legend(fontsize=6, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    if new_figure:
        fig.tight_layout()
    return fig


def plot_intervals(
    ax,
    labels: Sequence[str],
    estimates: Sequence[float],
    lows: Sequence[float],
    highs: Sequence[float],
    *,
    references: dict[str, float] | None = None,
    colors: Sequence | None = None,
    xlabel: str | None = None,
    xlim: tuple[float, float] | None = None,
    annotate: bool = True,
) -> None:
    """A forest plot of estimates with intervals: one row per label, top to bottom.

    Each row is a dot at ``estimates[i]`` and a bar from ``lows[i]`` to ``highs[i]`` (e.g. a
    95 % interval); ``references`` (``{name: x}``, such as chance or a floor) are drawn as
    dashed vertical lines with a legend; with ``annotate`` the value and interval are written at
    the right of each row (``0.52 [0.44, 0.60]``). Draws into ``ax`` (a matplotlib Axes).
    """
    n = len(labels)
    if not (len(estimates) == len(lows) == len(highs) == n) or n == 0:
        raise ValueError(f"labels, estimates, lows and highs must have the same non-zero length, got {n}, "
                         f"{len(estimates)}, {len(lows)}, {len(highs)}")
    est, lo, hi = (np.asarray(v, dtype=np.float64) for v in (estimates, lows, highs))
    if np.any(lo > est + 1e-12) or np.any(hi < est - 1e-12):
        raise ValueError("every interval must contain its estimate (lows <= estimates <= highs)")
    colors = list(colors) if colors is not None else ["C0"] * n
    if len(colors) != n:
        raise ValueError(f"colors must have one entry per label ({n}), got {len(colors)}")
    y = np.arange(n)[::-1]
    for k in range(n):
        ax.plot([lo[k], hi[k]], [y[k], y[k]], color=colors[k], lw=2, solid_capstyle="butt")
        ax.plot([est[k]], [y[k]], "o", color=colors[k], ms=5)
    for j, (name, x) in enumerate((references or {}).items()):
        ax.axvline(x, color="k" if j == 0 else f"{0.3 + 0.2 * j:.1f}", lw=0.9, ls="--" if j == 0 else ":", label=name)
    ax.set_yticks(y, list(labels), fontsize=8)
    ax.set_ylim(-0.7, n - 0.3)
    if xlim is not None:
        ax.set_xlim(*xlim)
    if annotate:
        right = ax.get_xlim()[1]
        for k in range(n):
            ax.text(right, y[k], f" {est[k]:.2f} [{lo[k]:.2f}, {hi[k]:.2f}]", va="center", fontsize=7, clip_on=False)
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    if references:
        ax.legend(fontsize=7, loc="lower left")
