"""Convert CMU-MOSEI's official label file (``CMU_MOSEI_Labels.csd``) into the layout of :class:`~marlin_lite.datasets.mosei.CMUMOSEI`.

The CMU Multimodal SDK stores every feature and label set as a *computational sequence*, an
HDF5 file (``.csd``) laid out as::

    /<root name>/                      one group, named after the sequence ("All Labels")
        data/<video id>/features       (n, d) one row per interval
        data/<video id>/intervals      (n, 2) start and end of each row, in seconds
        metadata/<key>                 (1,) strings holding JSON ("root name", citations, ...)

For the labels, ``d = 7``: ``[sentiment in -3..3, happy, sad, anger, surprise, disgust,
fear]`` (emotion intensities 0..3, averages of three annotators), one row per utterance
segment of the YouTube video. :func:`read_csd` reads such a file.

:func:`convert_mosei` then cuts, for every video id and every row ``i``, the interval
``[start, end]`` out of the full video ``<videos_dir>/<video id>.mp4`` (the raw download's
``Videos/Full/Combined`` folder) and writes::

    <out>/videos/<video id>_<i>.mp4     the segment, H.264 + AAC (the audio is kept)
    <out>/mosei_labels.csv              video_id,segment,start,end,sentiment,happy,...,fear
    <out>/splits/{train,val,test}.txt   only with ``folds=`` (one video id per line)

``i`` is the row's index in the ``.csd`` (skipped rows keep their number; the raw download's
``Videos/Segmented`` files use the same ``<video id>_<i>`` pattern, but check that their
numbering matches before mixing them in); the label file lists every valid row whose segment
file exists. From the command line::

    python -m marlin_lite.datasets.mosei_convert --csd CMU_MOSEI_Labels.csd \\
        --videos RAW/Videos/Full/Combined --out data/mosei [--folds folds.json] [--limit N]

The standard folds live in the SDK (``mmsdk.mmdatasdk.cmu_mosei.standard_folds``); dump them
once with ``json.dump({"train": f.standard_train_fold, "valid": f.standard_valid_fold,
"test": f.standard_test_fold}, open("folds.json", "w"))`` and pass ``--folds folds.json``.

Time: frame ``k`` of a video at ``fps`` frames per second covers ``[k / fps, (k + 1) / fps)``,
so the segment ``[start, end]`` is frames ``round(start * fps) .. round(end * fps) - 1``
(its duration is within one frame of ``end - start``) and the audio samples of the same span.
An interval that runs past either end of the video is clipped to it (reported as
``clipped``); one with ``end <= start``, one with no frame inside the video, rows with NaN
and rows whose labels are out of range (sentiment outside [-3, 3], a negative emotion) are
skipped and reported. Videos missing from ``videos_dir`` are reported, not fatal (unless
none of them exists). A rerun skips segments whose file already exists (``overwrite=True``
redoes them), so an interrupted conversion resumes; the label file is rewritten each run, with
one row per segment file present. Memory: one segment's frames at a time
(``T x H x W x 3`` bytes) plus one video's audio.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from marlin_lite.datasets.base import SPLITS
from marlin_lite.datasets.mosei import MOSEI_COLUMNS, MOSEI_EMOTIONS
from marlin_lite.utils import atomic_write_bytes, progress_bar
from marlin_lite.video import AAC_RATES, probe_video, read_audio, read_frames, write_video

__all__ = ["CSD_FEATURES", "H5PY_PIN", "convert_mosei", "format_summary", "main", "read_csd", "read_folds"]

PathLike = str | os.PathLike[str]

#: The 7 columns of the labels' ``features`` rows.
CSD_FEATURES: tuple[str, ...] = ("sentiment",) + MOSEI_EMOTIONS
#: The h5py release the course pins (``requirements.txt``).
H5PY_PIN = "h5py==3.16.0"
#: Extensions looked for, in this order, when ``<video id>.mp4`` is absent.
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".webm", ".avi", ".mov")
_FOLD_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "dev": "val", "test": "test"}
#: Audio rate used when the source's rate is not one AAC can encode.
_FALLBACK_RATE = 48000


# --------------------------------------------------------------------------------------
# Reading the .csd file
# --------------------------------------------------------------------------------------


def _import_h5py() -> Any:
    try:
        import h5py
    except ImportError as e:
        raise ImportError(
            f"reading CMU-MOSEI's .csd label file needs h5py (the files are HDF5): pip install {H5PY_PIN}"
        ) from e
    return h5py


def _find_root(fh: Any, h5py: Any, path: Path) -> tuple[Any, str]:
    """The group holding ``data`` (the sequence's root group) and its name."""
    if isinstance(fh.get("data"), h5py.Group):
        return fh, "/"
    groups = [name for name in fh.keys() if isinstance(fh.get(name), h5py.Group)]
    roots = [name for name in groups if isinstance(fh[name].get("data"), h5py.Group)]
    if len(roots) == 1:
        return fh[roots[0]], roots[0]
    if len(roots) > 1:
        raise ValueError(
            f"'{path}' holds several computational sequences ({roots}); pass a file with one, such as CMU_MOSEI_Labels.csd."
        )
    raise ValueError(
        f"'{path}' is HDF5 but not a CMU Multimodal SDK computational sequence: expected one root group "
        f"(e.g. 'All Labels') with a 'data' group of video ids; its top level holds {sorted(fh.keys()) or 'nothing'}."
    )


def _array(entry: Any, name: str, h5py: Any, path: Path, where: str) -> np.ndarray:
    ds = entry.get(name)
    if not isinstance(ds, h5py.Dataset):
        found = sorted(entry.keys())
        raise ValueError(f"'{path}': {where} has no '{name}' dataset (it holds {found}); expected 'features' and 'intervals'.")
    arr = np.asarray(ds[()])
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"'{path}': {where}/{name} holds {arr.dtype} values; expected numbers.")
    return arr


def read_csd(path: PathLike) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read a CMU Multimodal SDK label file such as ``CMU_MOSEI_Labels.csd``.

    Args:
        path: the ``.csd`` (HDF5) file. Its root group may have any name (``"All Labels"``
            in CMU-MOSEI); it must hold ``data/<video id>/{features,intervals}``.

    Returns:
        ``{video id: (intervals, features)}`` in sorted id order, with ``intervals``
        ``float64 (n, 2)`` (start, end in seconds) and ``features`` ``float32 (n, 7)`` =
        :data:`CSD_FEATURES` (sentiment in -3..3, then the 6 emotion intensities 0..3).
        Rows are returned as stored, NaN included, so that row ``i`` stays segment ``i``:
        :func:`convert_mosei` skips and reports invalid rows.

    Raises:
        ImportError: h5py is not installed (``pip install h5py==3.16.0``).
        FileNotFoundError: no such file.
        ValueError: not HDF5, not a computational sequence (no ``data`` group), a video
            entry without ``features``/``intervals``, ``features`` not ``(n, 7)``,
            ``intervals`` not ``(n, 2)``, or the two with different ``n``. The message names
            the file and the entry.
    """
    h5py = _import_h5py()
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"label file '{p}' does not exist (cwd is '{Path.cwd()}').")
    if p.is_dir():
        raise ValueError(f"'{p}' is a folder; pass the .csd label file (CMU_MOSEI_Labels.csd).")
    if not h5py.is_hdf5(str(p)):
        raise ValueError(
            f"'{p}' is not an HDF5 file, so not a CMU Multimodal SDK computational sequence (.csd); "
            "pass CMU_MOSEI_Labels.csd (re-download it if it is truncated)."
        )
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with h5py.File(str(p), "r") as fh:
            root, root_name = _find_root(fh, h5py, p)
            data = root["data"]
            for vid in sorted(data.keys()):
                entry = data[vid]
                where = f"'{root_name}/data/{vid}'" if root_name != "/" else f"'data/{vid}'"
                if not isinstance(entry, h5py.Group):
                    raise ValueError(f"'{p}': {where} is a dataset; expected a group with 'features' and 'intervals'.")
                features = _array(entry, "features", h5py, p, where)
                intervals = _array(entry, "intervals", h5py, p, where)
                if features.ndim != 2 or features.shape[1] != len(CSD_FEATURES):
                    raise ValueError(
                        f"'{p}': {where}/features has shape {features.shape}; expected (n, 7) = "
                        f"[{', '.join(CSD_FEATURES)}] (is this the labels file, CMU_MOSEI_Labels.csd?)."
                    )
                if intervals.ndim != 2 or intervals.shape[1] != 2:
                    raise ValueError(f"'{p}': {where}/intervals has shape {intervals.shape}; expected (n, 2) = (start, end) in seconds.")
                if intervals.shape[0] != features.shape[0]:
                    raise ValueError(
                        f"'{p}': {where} has {intervals.shape[0]} intervals but {features.shape[0]} feature rows; "
                        "expected one interval per row."
                    )
                out[vid] = (intervals.astype(np.float64), features.astype(np.float32))
    except OSError as e:  # h5py reports unreadable / truncated files as OSError
        raise ValueError(f"'{p}' could not be read as HDF5 ({e}); re-download it.") from e
    return out


# --------------------------------------------------------------------------------------
# Folds
# --------------------------------------------------------------------------------------


def _fold_key(key: str) -> str:
    k = str(key).strip().lower()
    for prefix in ("standard_",):
        k = k.removeprefix(prefix)
    k = k.removesuffix("_fold")
    if k not in _FOLD_ALIASES:
        raise ValueError(f"unknown fold {key!r}; expected train, val (or valid) and test")
    return _FOLD_ALIASES[k]


def read_folds(folds: Mapping[str, Iterable[str]] | PathLike) -> dict[str, list[str]]:
    """Normalise fold lists to ``{"train": ids, "val": ids, "test": ids}`` (sorted, unique).

    Args:
        folds: a mapping split -> video ids (``"valid"``/``"validation"`` and the SDK names
            ``standard_valid_fold`` etc. are accepted), a JSON file holding such a mapping, or
            a folder with ``train.txt``, ``val.txt`` (or ``valid.txt``) and ``test.txt``
            (one id per line).

    Raises:
        FileNotFoundError: the file or folder (or one of its lists) is missing.
        ValueError: a split is missing or unknown, or a video id is in two splits.
    """
    raw: dict[str, list[str]] = {}
    if isinstance(folds, (str, os.PathLike)):
        p = Path(folds)
        if p.is_dir():
            for split in SPLITS:
                names = [f"{split}.txt"] + (["valid.txt"] if split == "val" else [])
                found = [p / n for n in names if (p / n).is_file()]
                if not found:
                    raise FileNotFoundError(f"fold folder '{p}' lacks {' or '.join(names)} (one video id per line).")
                raw[split] = [line.strip() for line in found[0].read_text(encoding="utf-8").splitlines() if line.strip()]
        elif p.is_file():
            try:
                loaded = json.loads(p.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise ValueError(f"fold file '{p}' is not JSON ({e}); expected {{\"train\": [...], \"valid\": [...], \"test\": [...]}}.") from e
            if not isinstance(loaded, dict):
                raise ValueError(f"fold file '{p}' holds a {type(loaded).__name__}; expected an object split -> list of video ids.")
            folds = loaded
        else:
            raise FileNotFoundError(f"folds '{p}' does not exist; pass a JSON file or a folder of train/val/test .txt lists.")
    if not raw:
        if not isinstance(folds, Mapping):
            raise TypeError(f"folds must be a mapping, a JSON file or a folder; got {type(folds).__name__}")
        for key, ids in folds.items():
            split = _fold_key(key)
            if split in raw:
                raise ValueError(f"folds give the {split} split twice (as {key!r})")
            if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
                raise ValueError(f"fold {key!r} must be a list of video ids; got {type(ids).__name__}")
            raw[split] = [str(v).strip() for v in ids if str(v).strip()]
    lacking = [s for s in SPLITS if s not in raw]
    if lacking:
        raise ValueError(f"folds lack the split(s) {lacking}; give train, val (or valid) and test")
    out = {s: sorted(set(raw[s])) for s in SPLITS}
    seen: dict[str, str] = {}
    for split in SPLITS:
        for vid in out[split]:
            if vid in seen:
                raise ValueError(f"video id {vid!r} is in both the {seen[vid]} and the {split} fold; folds must not overlap")
            seen[vid] = split
    return out


# --------------------------------------------------------------------------------------
# Conversion
# --------------------------------------------------------------------------------------


def _read_audio(path: Path) -> tuple[np.ndarray | None, int | None]:
    """The first audio stream of ``path`` as mono ``float32 (S,)`` in [-1, 1] and its rate
    (resampled to 48 kHz when AAC cannot store the native rate), or ``(None, None)``."""
    info_rate = probe_video(path).sample_rate
    wave, rate = read_audio(path, rate=None if info_rate in AAC_RATES else _FALLBACK_RATE)
    return wave, rate


def _find_video(videos_dir: Path, vid: str) -> Path | None:
    for ext in VIDEO_EXTENSIONS:
        candidate = videos_dir / f"{vid}{ext}"
        if candidate.is_file():
            return candidate
    return None


def _row_problem(interval: np.ndarray, feature: np.ndarray) -> str | None:
    """Why a row cannot become a segment before the video is looked at, or ``None``."""
    if not (np.all(np.isfinite(interval)) and np.all(np.isfinite(feature))):
        return "NaN values"
    if not -3.0 <= float(feature[0]) <= 3.0 or float(feature[1:].min()) < 0:
        return "label out of range"
    if interval[1] <= interval[0]:
        return "empty interval"
    return None


def _fmt_label(value: float) -> str:
    """The shortest text that reads back as the same float32."""
    return np.format_float_positional(np.float32(value), unique=True, trim="0")


def _labels_csv(rows: list[tuple[str, int, float, float, np.ndarray]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MOSEI_COLUMNS)
    for vid, seg, start, end, feature in sorted(rows, key=lambda r: (r[0], r[1])):
        writer.writerow([vid, seg, repr(float(start)), repr(float(end)), *(_fmt_label(v) for v in feature)])
    return buf.getvalue().encode("utf-8")


def _check_vid(vid: str, csd: Path) -> None:
    if not vid or vid != vid.strip() or any(c in vid for c in "/\\\0") or vid.startswith("."):
        raise ValueError(f"'{csd}': video id {vid!r} cannot be a file name; expected YouTube ids such as '-3g5yACwYnA'.")
    if vid.endswith("]") and "[" in vid:
        raise ValueError(
            f"'{csd}': entry {vid!r} is a segment of an aligned sequence (video[i]); pass the original "
            "CMU_MOSEI_Labels.csd, whose entries are whole video ids."
        )


def _warn(summary: dict[str, Any], message: str) -> None:
    summary["warnings"].append(message)
    print(f"warning: {message}", file=sys.stderr)


def _some(names: list[str], k: int = 5) -> str:
    return ", ".join(names[:k]) + (f", ... ({len(names)} in all)" if len(names) > k else "")


def convert_mosei(
    csd: PathLike,
    videos_dir: PathLike,
    out_root: PathLike,
    *,
    folds: Mapping[str, Iterable[str]] | PathLike | None = None,
    overwrite: bool = False,
    progress: bool = False,
    limit: int | None = None,
    crf: int = 18,
) -> dict[str, Any]:
    """Cut CMU-MOSEI's full videos into labelled segments in the layout of :class:`~marlin_lite.datasets.mosei.CMUMOSEI`.

    Args:
        csd: ``CMU_MOSEI_Labels.csd`` (see :func:`read_csd`).
        videos_dir: the full videos, ``<videos_dir>/<video id>.mp4`` (``.mkv``, ``.webm``,
            ``.avi`` and ``.mov`` are also looked for).
        out_root: the converted data set's root (created).
        folds: optional split lists, see :func:`read_folds`; written to ``<out>/splits``.
        overwrite: re-cut segments whose file already exists (default: keep them, resume).
        progress: a progress bar over the videos on stderr.
        limit: cut only the first ``limit`` video ids of the ``.csd`` (sorted), for a trial
            run; segments of later ids converted before stay in the label file.
        crf: x264 quality of the segments (18: visually near-lossless).

    Returns:
        A summary dict: ``labels`` (the csv's path), ``videos`` (ids considered),
        ``videos_converted`` (ids with at least one segment in the csv), ``videos_missing``
        (ids with segments still to cut but no source video), ``videos_failed`` ({id: error} for
        unreadable sources), ``rows`` (``.csd`` rows considered), ``segments`` (rows in the
        csv), ``written`` / ``existing`` (segments cut now / kept from an earlier run),
        ``skipped`` (``[{"segment", "reason", "start", "end"}]``; reasons ``NaN values``,
        ``label out of range``, ``empty interval``, ``outside the video``, ``shorter than
        one frame``), ``skipped_counts`` ({reason: n}), ``clipped`` (segments cut short at
        the video's ends), ``no_audio`` (segments written without sound), ``splits``
        ({split: {"ids", "converted"}} or ``None``), ``not_in_folds`` (converted ids in no
        fold) and ``warnings`` (also printed to stderr, one line each).

    Raises:
        FileNotFoundError: ``csd`` or ``videos_dir`` is missing, or no video of the ``.csd``
            is in ``videos_dir`` (and none was converted before).
        ValueError: a bad ``.csd`` (see :func:`read_csd`) or bad folds.
        ImportError: h5py is missing.
    """
    csd_path, src, out = Path(csd), Path(videos_dir), Path(out_root)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be an int >= 1 or None; got {limit!r}")
    if isinstance(crf, bool) or not isinstance(crf, int) or not 0 <= crf <= 51:
        raise ValueError(f"crf must be an int in 0..51; got {crf!r}")
    fold_lists = read_folds(folds) if folds is not None else None
    labels = read_csd(csd_path)
    if not src.is_dir():
        what = "is not a folder" if src.exists() else "does not exist"
        raise FileNotFoundError(f"video folder '{src}' {what}; expected the full videos as <video id>.mp4 (Videos/Full/Combined).")
    for vid in labels:
        _check_vid(vid, csd_path)
    vids = list(labels)[:limit] if limit is not None else list(labels)
    seg_dir = out / "videos"

    summary: dict[str, Any] = {
        "csd": str(csd_path), "videos_dir": str(src), "out": str(out), "labels": str(out / "mosei_labels.csv"),
        "videos": len(vids), "videos_converted": 0, "videos_missing": [], "videos_failed": {},
        "rows": 0, "segments": 0, "written": 0, "existing": 0, "skipped": [], "skipped_counts": {},
        "clipped": [], "no_audio": [], "splits": None, "not_in_folds": 0, "warnings": [],
    }  # fmt: skip

    # What each video needs: rows to cut (valid, file absent or overwrite) and rows already there.
    plans: dict[str, list[int]] = {}
    csv_rows: list[tuple[str, int, float, float, np.ndarray]] = []
    sources: dict[str, Path | None] = {}
    for vid in vids:
        intervals, features = labels[vid]
        summary["rows"] += len(features)
        todo: list[int] = []
        for i in range(len(features)):
            problem = _row_problem(intervals[i], features[i])
            if problem is not None:
                summary["skipped"].append({"segment": f"{vid}_{i}", "reason": problem, "start": float(intervals[i, 0]), "end": float(intervals[i, 1])})
                continue
            target = seg_dir / f"{vid}_{i}.mp4"
            if target.is_file() and target.stat().st_size > 0 and not overwrite:
                summary["existing"] += 1
                csv_rows.append((vid, i, float(intervals[i, 0]), float(intervals[i, 1]), features[i]))
            else:
                todo.append(i)
        plans[vid] = todo
        sources[vid] = _find_video(src, vid) if todo else None
        if todo and sources[vid] is None:
            summary["videos_missing"].append(vid)
    # Beyond ``limit``: nothing is cut, but segments of an earlier run stay in the label file.
    for vid in list(labels)[len(vids):]:
        intervals, features = labels[vid]
        for i in range(len(features)):
            target = seg_dir / f"{vid}_{i}.mp4"
            if _row_problem(intervals[i], features[i]) is None and target.is_file() and target.stat().st_size > 0:
                csv_rows.append((vid, i, float(intervals[i, 0]), float(intervals[i, 1]), features[i]))
    needed = [v for v in vids if plans[v]]
    if needed and all(sources[v] is None for v in needed) and summary["existing"] == 0:
        raise FileNotFoundError(
            f"none of the {len(needed)} videos of '{csd_path}' is in '{src}' (looked for e.g. "
            f"'{src / (needed[0] + '.mp4')}'); pass the raw download's Videos/Full/Combined folder."
        )

    bar = progress_bar(total=len(needed), desc="mosei", unit="video", enabled=progress and bool(needed), file=sys.stderr)
    for vid in needed:
        source = sources[vid]
        if source is None:
            bar.update(1)
            continue
        intervals, features = labels[vid]
        try:
            info = probe_video(source)
            wave, rate = _read_audio(source) if info.has_audio else (None, None)
            for i in plans[vid]:
                start, end = float(intervals[i, 0]), float(intervals[i, 1])
                f0 = max(0, round(start * info.fps))
                f1 = min(info.num_frames, round(end * info.fps))
                if f1 - f0 < 1:
                    outside = start >= info.duration or end <= 0
                    reason = "outside the video" if outside else "shorter than one frame"
                    summary["skipped"].append({"segment": f"{vid}_{i}", "reason": reason, "start": start, "end": end})
                    continue
                if f0 != round(start * info.fps) or f1 != round(end * info.fps):
                    summary["clipped"].append(f"{vid}_{i}")
                frames = read_frames(source, f0, f1 - f0)
                h, w = frames.shape[1] - frames.shape[1] % 2, frames.shape[2] - frames.shape[2] % 2
                frames = frames[:, :h, :w]  # H.264 in yuv420p needs even sides
                audio = None
                if wave is not None and rate is not None:
                    s0, s1 = round(f0 / info.fps * rate), min(len(wave), round(f1 / info.fps * rate))
                    audio = wave[s0:s1] if s1 > s0 else None
                if audio is None:
                    summary["no_audio"].append(f"{vid}_{i}")
                write_video(
                    seg_dir / f"{vid}_{i}.mp4", frames, info.fps, audio=audio,
                    sample_rate=rate if audio is not None else None, crf=crf,
                )  # fmt: skip
                summary["written"] += 1
                csv_rows.append((vid, i, start, end, features[i]))
        except (ValueError, OSError) as e:
            summary["videos_failed"][vid] = " ".join(str(e).split("\n"))
            _warn(summary, f"video '{source}' could not be converted: {summary['videos_failed'][vid]}")
        bar.update(1)
    bar.close()

    atomic_write_bytes(out / "mosei_labels.csv", _labels_csv(csv_rows))
    converted = sorted({r[0] for r in csv_rows})
    summary["segments"] = len(csv_rows)
    summary["videos_converted"] = len(converted)
    summary["skipped"].sort(key=lambda s: (s["segment"].rsplit("_", 1)[0], int(s["segment"].rsplit("_", 1)[1])))
    summary["skipped_counts"] = dict(sorted(Counter(s["reason"] for s in summary["skipped"]).items()))
    if fold_lists is not None:
        for split in SPLITS:
            atomic_write_bytes(out / "splits" / f"{split}.txt", "".join(f"{v}\n" for v in fold_lists[split]).encode("utf-8"))
        done = set(converted)
        summary["splits"] = {s: {"ids": len(fold_lists[s]), "converted": len(done.intersection(fold_lists[s]))} for s in SPLITS}
        in_folds = set().union(*fold_lists.values())
        summary["not_in_folds"] = len(done - in_folds)
        if summary["not_in_folds"]:
            _warn(summary, f"{summary['not_in_folds']} converted videos are in no fold (the loader's split lists leave them out)")

    if summary["videos_missing"]:
        _warn(summary, f"{len(summary['videos_missing'])} of {len(vids)} videos are not in '{src}': {_some(summary['videos_missing'])}")
    for reason, n in summary["skipped_counts"].items():
        names = [s["segment"] for s in summary["skipped"] if s["reason"] == reason]
        _warn(summary, f"skipped {n} row(s) ({reason}): {_some(names)}")
    if summary["clipped"]:
        _warn(summary, f"{len(summary['clipped'])} segment(s) clipped at the video's ends: {_some(summary['clipped'])}")
    if not csv_rows:
        _warn(summary, f"no segment was converted; '{out / 'mosei_labels.csv'}' has no rows")
    return summary


def format_summary(summary: dict[str, Any]) -> str:
    """A few lines of text describing a :func:`convert_mosei` summary."""
    lines = [
        f"CMU-MOSEI: {summary['segments']} segments of {summary['videos_converted']} videos in '{summary['out']}' "
        f"({summary['written']} cut now, {summary['existing']} kept from an earlier run)",
        f"label file: {summary['labels']} ({summary['rows']} .csd rows of {summary['videos']} videos)",
    ]
    if summary["videos_missing"]:
        lines.append(f"missing videos: {len(summary['videos_missing'])}: {_some(summary['videos_missing'])}")
    if summary["videos_failed"]:
        lines.append(f"unreadable videos: {len(summary['videos_failed'])}: {_some(sorted(summary['videos_failed']))}")
    if summary["skipped_counts"]:
        lines.append("skipped rows: " + ", ".join(f"{n} {reason}" for reason, n in summary["skipped_counts"].items()))
    if summary["clipped"]:
        lines.append(f"clipped at the video's ends: {len(summary['clipped'])}")
    if summary["no_audio"]:
        lines.append(f"segments without audio: {len(summary['no_audio'])}")
    if summary["splits"] is not None:
        lines.append("splits: " + ", ".join(f"{s} {v['converted']}/{v['ids']} videos" for s, v in summary["splits"].items()))
    lines.append(f"next: the segments show whole frames, and the CMU-MOSEI loader reads face crops; crop them into a new root "
                 f"(python -m marlin_lite.preprocess {summary['out']}/videos NEW_ROOT/videos --crop official) and copy "
                 "mosei_labels.csv and splits/ beside it")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m marlin_lite.datasets.mosei_convert",
        description="Cut CMU-MOSEI's full videos into labelled segments (the layout of marlin_lite.datasets.CMUMOSEI).",
        epilog="Exit status: 0 done (missing videos and skipped rows are reported), 1 some videos could not be read "
        "or nothing was converted, 2 bad arguments or input.",
    )
    p.add_argument("--csd", required=True, help="the SDK's label file, CMU_MOSEI_Labels.csd")
    p.add_argument("--videos", required=True, help="folder of full videos <video id>.mp4 (Videos/Full/Combined)")
    p.add_argument("--out", required=True, help="output root (created; rerun to resume)")
    p.add_argument("--folds", default=None, help="split lists: a JSON file {train, valid, test} or a folder of train/val/test .txt")
    p.add_argument("--limit", type=int, default=None, help="only the first N video ids (sorted), for a trial run")
    p.add_argument("--crf", type=int, default=18, help="x264 quality 0..51 (default %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="re-cut segments that already exist")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 done, 1 some videos failed, 2 error)."""
    args = build_parser().parse_args(argv)
    try:
        summary = convert_mosei(
            args.csd, args.videos, args.out, folds=args.folds, overwrite=args.overwrite,
            progress=not args.no_progress, limit=args.limit, crf=args.crf,
        )  # fmt: skip
    except (FileNotFoundError, ValueError, TypeError, ImportError) as err:
        print("error: " + " ".join(str(err).split("\n")), file=sys.stderr)
        return 2
    print(format_summary(summary))
    return 1 if summary["videos_failed"] or not summary["segments"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
