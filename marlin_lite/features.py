"""Features from a (pretrained) MARLIN encoder, with the official protocol for whole videos.

* :func:`extract_features`: clips ``(B, 3, T, H, W)`` -> ``(B, D)`` (mean over tokens, then the
  final LayerNorm) or ``(B, N, D)`` (every token), batched, bf16 autocast on GPU.
* :func:`extract_video`: a video file (or frames) -> one feature per non-overlapping window of
  ``clip_len`` frames taken every ``sample_rate``-th frame (MARLIN: 16 frames, rate 2, so a
  window covers 32 source frames) -> ``(n_windows, D)``, or reduced over windows by ``mean``
  or ``max`` to ``(D,)``.

The encoder sees every token (no masking) at feature time. A folder of videos, from the command
line (one ``.npy`` per video, resumable, with a report; see :func:`extract_folder`)::

    python -m marlin_lite.features VIDEO_DIR OUT_DIR --encoder runs/pretrain/checkpoint.pt [--reduction mean]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from marlin_lite.encoders import as_encoder, encoder_digest, load_encoder
from marlin_lite.model import check_clips, MarlinAutoencoder, MarlinEncoder
from marlin_lite.preprocess import find_videos, output_name
from marlin_lite.utils import atomic_write_bytes, check_writable_dir, json_bytes, pick_device, progress_bar
from marlin_lite.video import WINDOW_RULES, frames_to_tensor, read_video, resize_clips, window_indices

POOLINGS = ("mean", "none")
#: Reductions that pool a video's window features (or scores) into one: ``(n_windows, D) -> (D,)``.
POOLING_REDUCTIONS = ("mean", "max")
#: How a video's window features are reduced: ``none`` keeps ``(n_windows, D)``, the others pool.
WINDOW_REDUCTIONS = ("none", *POOLING_REDUCTIONS)


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
    out = []
    for i in progress_bar(range(0, clips.shape[0], batch_size), desc="features", unit="batch", enabled=progress):
        x = clips[i : i + batch_size].to(dev, non_blocking=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            f = enc.extract_features(x, keep_seq=pooling == "none")
        out.append(f.float().cpu())
    enc.train(was_training)
    if not out:  # no clips: the empty batch of the shape a non-empty one has
        c = enc.cfg
        return torch.empty((0, c.num_tokens, c.enc_dim) if pooling == "none" else (0, c.enc_dim))
    return torch.cat(out)


def video_windows(
    frames: np.ndarray, clip_len: int = 16, sample_rate: int = 2, *, rule: str = "official", name: str | None = None
) -> np.ndarray:
    """The evaluation windows of a video: ``uint8 (T, H, W, 3) -> (n, clip_len, H, W, 3)``.

    Windows follow :func:`marlin_lite.video.window_indices`: by default the official
    ``extract_video`` rule (a video of at most ``clip_len`` frames is padded by repeating its last
    frame, one of at most ``clip_len * sample_rate`` frames gives its first ``clip_len`` frames,
    longer ones non-overlapping windows at ``sample_rate``); ``rule="full"`` keeps every full
    window of a long video. A video with no frames is an error that names it.
    """
    shape = getattr(frames, "shape", None)
    if shape is None or len(shape) != 4 or shape[-1] != 3:
        got = f"shape {tuple(shape)}" if shape is not None else type(frames).__name__
        who = f" of video '{name}'" if name else ""
        raise ValueError(
            f"frames{who} must be one video as an array (T, H, W, 3) (RGB, channels last), got {got}; "
            "pass one video at a time, channels last (frames.transpose(0, 2, 3, 1) for (T, 3, H, W))"
        )
    return frames[window_indices(len(frames), clip_len, sample_rate, rule=rule, name=name)]


def prepare_clips(windows: np.ndarray, size: int) -> torch.Tensor:
    """``uint8 (n, T, H, W, 3)`` -> ``float32 (n, 3, T, size, size)`` in [0, 1] (bilinear, antialiased).

    Frames should already be square face crops (MARLIN's preprocessing); a non-square input
    is resized as it is.
    """
    return resize_clips(frames_to_tensor(windows), size)  # (n, 3, T, H, W) -> (n, 3, T, size, size)


def extract_video(
    video: str | os.PathLike[str] | np.ndarray,
    model: MarlinEncoder | MarlinAutoencoder,
    *,
    sample_rate: int = 2,
    windows: str = "official",
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
        windows: ``"official"`` (the official ``extract_video``: short videos padded or read at
            rate 1, see :func:`video_windows`) or ``"full"`` (every full window of a long video).
        reduction: ``"none"`` -> ``(n_windows, D)``; ``"mean"`` / ``"max"`` over windows -> ``(D,)``.
    """
    if reduction not in WINDOW_REDUCTIONS:
        raise ValueError(f"reduction must be one of {WINDOW_REDUCTIONS}, got {reduction!r}")
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
    clips = prepare_clips(video_windows(frames, enc.cfg.num_frames, sample_rate, rule=windows, name=name), enc.cfg.img_size)
    feats = extract_features(enc, clips, batch_size=batch_size, device=device, precision=precision, progress=progress)
    if reduction == "mean":
        return feats.mean(0)
    if reduction == "max":
        return feats.max(0).values
    return feats


# --------------------------------------------------------------------------------------
# A folder of videos, from the command line
# --------------------------------------------------------------------------------------

FEATURES_REPORT = "features_report.json"
#: What made a feature folder's ``.npy`` files (encoder digest and settings); one recipe per folder.
FEATURES_RECIPE = "features_recipe.json"


def extract_folder(
    video_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    encoder: str | os.PathLike[str],
    *,
    sample_rate: int = 2,
    windows: str = "official",
    reduction: str = "none",
    batch_size: int = 8,
    device: str = "auto",
    precision: str = "auto",
    overwrite: bool = False,
    progress: bool = True,
    allow_download: bool = False,
) -> dict:
    """Features of every video under ``video_dir`` with :func:`extract_video`, one ``.npy`` each.

    ``encoder`` is anything :func:`marlin_lite.encoders.load_encoder` takes: a MARLIN-lite
    ``checkpoint.pt`` or its run folder (read from the working directory), an official weight name
    or file, ``course`` or ``random:<preset>``.
    Videos should be face crops (``python -m marlin_lite.preprocess`` makes them); each frame is
    resized to the encoder's size. ``OUT_DIR/<path relative to VIDEO_DIR>.npy`` holds float32
    ``(n_windows, D)`` (``reduction="none"``) or ``(D,)``; it is written atomically, and a file
    already there is kept (the run resumes) unless ``overwrite``. Short videos get a window as the
    official ``extract_video`` gives one (``windows``, :func:`video_windows`). A video that cannot
    be read (or has no frames) is a recorded skip: no ``.npy`` is written for it (the official
    CelebV-HQ script writes a zero vector instead, which a probe would then train on), its
    ``error`` is in the report, and the rest go on. Returns the report, also written
    to ``OUT_DIR/features_report.json``: the encoder, the settings, each video's status
    (``done``, ``kept`` or ``error`` with the message) and output shape.

    A feature folder holds the features of one recipe, never a mix: ``OUT_DIR/features_recipe.json``
    (written before the first feature) records the encoder's SHA-256 digest (config and weights)
    and every setting that changes the numbers. A rerun with the same recipe resumes; with another
    (or into a folder of ``.npy`` files whose recipe is unknown) it stops with a ``ValueError``
    naming what differs, unless ``overwrite``, which deletes the old files first. An existing
    ``.npy`` that cannot be read is computed again (its row says ``replaced``).
    """
    if reduction not in WINDOW_REDUCTIONS:
        raise ValueError(f"reduction must be one of {WINDOW_REDUCTIONS}, got {reduction!r}")
    for name, value in (("batch_size", batch_size), ("sample_rate", sample_rate)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    if windows not in WINDOW_RULES:
        raise ValueError(f"windows must be one of {WINDOW_RULES}, got {windows!r}")
    root, out = Path(video_dir), Path(out_dir)
    videos = find_videos(root, out)
    if not videos:
        raise FileNotFoundError(f"no video files under '{root}'; check the path and the file extensions")
    enc, source = load_encoder(encoder, allow_download=allow_download)
    dev = pick_device(device)
    _claim_folder(out, _recipe(enc, source, dev, sample_rate=sample_rate, windows=windows, reduction=reduction, precision=precision),
                  overwrite)
    started = time.perf_counter()
    files: list[dict] = []
    for path in progress_bar(videos, desc="videos", unit="video", enabled=progress):
        name = output_name(path, root)
        target = out / f"{name}.npy"
        row: dict = {"video": str(path.relative_to(root)), "features": str(target.relative_to(out))}
        kept = None
        if target.exists() and not overwrite:
            try:
                kept = list(np.load(target, mmap_mode="r").shape)
            except Exception as err:  # noqa: BLE001 (a damaged file is computed again, and said so)
                row["replaced"] = f"unreadable: {type(err).__name__}: {err}"
        if kept is not None:
            row.update(status="kept", shape=kept)
        else:
            try:
                feats = extract_video(path, enc, sample_rate=sample_rate, windows=windows, reduction=reduction, batch_size=batch_size,
                                      device=dev, precision=precision)
            except Exception as err:  # noqa: BLE001 (any unreadable or too short video is reported, the rest go on)
                row.update(status="error", error=f"{type(err).__name__}: {err}")
            else:
                array = feats.numpy().astype(np.float32)
                atomic_write_bytes(target, _npy_bytes(array))
                row.update(status="done", shape=list(array.shape))
        files.append(row)
    counts = {s: sum(r["status"] == s for r in files) for s in ("done", "kept", "error")}
    report = {
        "video_dir": str(root), "encoder": {k: v for k, v in source.items() if k != "report"},
        "settings": {"sample_rate": sample_rate, "windows": windows, "reduction": reduction, "clip_len": enc.cfg.num_frames,
                     "size": enc.cfg.img_size, "precision": precision, "device": str(dev)},
        "counts": counts, "seconds": round(time.perf_counter() - started, 2), "files": files,
    }
    atomic_write_bytes(out / FEATURES_REPORT, json_bytes(report))
    return report


def _recipe(enc: Any, source: dict, dev: Any, *, sample_rate: int, windows: str, reduction: str, precision: str) -> dict:
    """Everything that decides a feature file's numbers (the encoder by the digest of its weights)."""
    bf16 = precision == "bf16" or (precision == "auto" and getattr(dev, "type", str(dev)) == "cuda")
    return {"encoder_sha256": encoder_digest(enc), "encoder": source.get("checkpoint"), "preset": enc.cfg.name,
            "sample_rate": sample_rate, "windows": windows, "reduction": reduction, "clip_len": enc.cfg.num_frames,
            "size": enc.cfg.img_size, "precision": "bf16" if bf16 else "fp32"}


def _claim_folder(out: Path, recipe: dict, overwrite: bool) -> None:
    """Make ``out`` a folder of ``recipe``'s features (see :func:`extract_folder`), or refuse."""
    check_writable_dir(out)
    path = out / FEATURES_RECIPE
    old = None
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = None
    existing = sorted(out.rglob("*.npy")) if out.is_dir() else []
    ignore = ("encoder",)  # the same weights by another path are the same features
    same = old is not None and {k: v for k, v in old.items() if k not in ignore} == {k: v for k, v in recipe.items() if k not in ignore}
    if existing and not same:
        if not overwrite:
            what = ("were made with other settings: " + ", ".join(
                f"{k} {old.get(k)!r} then, {recipe[k]!r} now" for k in recipe if k not in ignore and old.get(k) != recipe[k])
                if old is not None else f"have no readable {FEATURES_RECIPE} (their encoder and settings are unknown)")
            raise ValueError(f"the {len(existing)} feature files in '{out}' {what}. Mixing them would be silently wrong: "
                             "pass --overwrite (overwrite=True) to delete them and compute again, or choose another OUT_DIR")
        for f in existing:
            f.unlink()
    atomic_write_bytes(path, json_bytes(recipe))


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> int:
    """``python -m marlin_lite.features VIDEO_DIR OUT_DIR --encoder ...``; exit 0 when every video
    has its features, 1 when some could not be read (listed), 2 for bad arguments."""
    p = argparse.ArgumentParser(
        prog="python -m marlin_lite.features",
        description="MARLIN features of every video in a folder (face crops; see python -m marlin_lite.preprocess), one .npy "
                    f"per video under OUT_DIR with the same relative path, and {FEATURES_REPORT}. Resumes: existing .npy files are kept.",
    )
    p.add_argument("video_dir")
    p.add_argument("out_dir")
    p.add_argument("--encoder", required=True,
                   help="a MARLIN-lite checkpoint.pt or run folder, an official weight name or file, or random:<preset>")
    p.add_argument("--reduction", choices=WINDOW_REDUCTIONS, default="none", help="none: (n_windows, D); mean / max over windows: (D,)")
    p.add_argument("--sample-rate", type=int, default=2, help="take every k-th frame (MARLIN: 2)")
    p.add_argument("--windows", choices=WINDOW_RULES, default="official",
                   help="official: as the official extract_video (short videos padded or read at rate 1); full: every full window")
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto")
    p.add_argument("--overwrite", action="store_true", help="recompute features that already exist")
    p.add_argument("--download", action="store_true", help="download official weights named by --encoder if not cached")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    try:
        report = extract_folder(a.video_dir, a.out_dir, a.encoder, sample_rate=a.sample_rate, windows=a.windows, reduction=a.reduction,
                                batch_size=a.batch_size, device=a.device, precision=a.precision, overwrite=a.overwrite,
                                progress=not a.no_progress, allow_download=a.download)
    except (FileNotFoundError, ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    c = report["counts"]
    print(f"{c['done']} videos done, {c['kept']} kept from an earlier run, {c['error']} failed "
          f"({report['seconds']} s) -> {a.out_dir}/{FEATURES_REPORT}")
    for row in report["files"]:
        if row["status"] == "error":
            print(f"  {row['video']}: {row['error']}")
    return 0 if c["error"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
