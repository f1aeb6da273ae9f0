"""A preprocessed clip store: fixed-shape ``uint8`` clips in memory-mapped shards, and its loader.

Decoding video (or rendering SynthFace) is far too slow to feed a GPU trainer: at 1,000 clips/s
a ViT-B needs about 2.4 GB/s of 16 x 224 x 224 RGB frames. A clip store does the decoding once,
offline, and keeps the result as plain ``uint8`` arrays in ``.npy`` shards (memory-mappable with
``np.load(mmap_mode="r")``). Reading a clip is then one copy out of the page cache (or the disk),
a whole batch per call (:meth:`ClipStore.get_batch`), by reader threads that overlap the training
step (:func:`make_loader`); the conversion to ``float32`` happens on the device
(:func:`to_device_float`), so the host moves one byte per pixel instead of four.

Layout of a store folder::

    index.json                  written last: its presence marks the store complete
    shard_00000.frames.npy      uint8 (n, T, S, S, 3), n <= shard_size clips, RGB
    shard_00000.parsing.npy     uint8 (n, T, S, S): parsing maps (LaPa ids), for face-guided masking
    shard_00001.frames.npy      ...

``index.json`` holds the format and version, the clip shape, the number of clips, the writer's
config, every shard's file names, clip counts, sizes and SHA-256, and every clip's source name and
labels. While a store is being written, ``.writing/`` holds the plan (``config.json``) and one
record per finished shard; it is removed when ``index.json`` is written.

Writing is atomic and resumable: each shard is filled in a hidden temporary file and renamed into
place, its record is written after it, and ``index.json`` comes last. Rerunning the same write
after a crash skips the finished shards; rerunning it with a different config is an error that
says what changed (``overwrite=True`` starts over).

Sources the writer takes (:func:`write_clip_store`):

* a :class:`~marlin_lite.data.SynthFaceDataset` (frames, parsing maps and labels of every clip);
* any object with ``__len__`` and ``frames(i) -> uint8 (T, H, W, 3)`` returning *clips* of
  ``clip_len`` frames, optionally with ``parsing(i) -> uint8 (T, H, W)``, ``name(i) -> str``,
  ``labels(i) -> dict`` (JSON values) and ``fingerprint() -> JSON value`` (what identifies its
  content, for the resume check). :class:`VideoClips` is one: it cuts whole videos (a folder of
  files, or a data set of whole videos such as the loaders of :mod:`marlin_lite.datasets`, whose
  ``frames(i)`` is video ``i`` whole) into MARLIN's clips;
* an iterable of ``(name, frames)``, ``(name, frames, parsing)`` or ``(name, frames, parsing,
  labels)`` tuples (``parsing`` may be ``None``). An iterable is read in order; resuming reads
  and discards the clips of finished shards, and only ``source_id`` tells two iterables apart.

From the command line::

    python -m marlin_lite.clipstore write --synthface --out data/synth_tiny --frames 8 --size 64
    python -m marlin_lite.clipstore write --synthface --out runs/course_store --frames 8 --size 64 --num-identities 5000 \
        --clips-per-identity 2 --framing face --expressions marked     # configs/course.yaml's clips
    python -m marlin_lite.clipstore write --videos data/crops --out data/store --frames 16 --size 224
    python -m marlin_lite.clipstore write --dataset celebvhq --root data/CelebV-HQ --out data/celebvhq_store
    python -m marlin_lite.clipstore verify data/store
    python -m marlin_lite.clipstore info data/store

Pretraining reads a store with ``data_path`` (:class:`marlin_lite.pretrain.PretrainConfig`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import multiprocessing
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from marlin_lite import __version__
from marlin_lite.data import SynthFaceDataset
from marlin_lite.utils import atomic_write_bytes, json_bytes, progress_bar, sha256_file

__all__ = [
    "FORMAT",
    "VERSION",
    "ClipStore",
    "EpochBatches",
    "StoreLoader",
    "VideoClips",
    "fit_frames",
    "fit_parsing",
    "main",
    "make_loader",
    "open_for_training",
    "store_fingerprint",
    "to_device_float",
    "write_clip_store",
]

FORMAT = "marlin-lite-clipstore"
VERSION = 1
INDEX = "index.json"
WORKDIR = ".writing"
PathLike = str | os.PathLike[str]

_PREAD = hasattr(os, "preadv")
_WRITE_HINT = "write one with `python -m marlin_lite.clipstore write ...` (see --help)"


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _shard_name(k: int, kind: str) -> str:
    return f"shard_{k:05d}.{kind}.npy"


def _jsonable(value: Any, where: str) -> Any:
    """``value`` with NumPy / torch scalars and arrays turned into plain JSON values."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v, where) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, where) for v in value]
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise ValueError(f"{where}: labels must be JSON values (str, numbers, lists, dicts), got {type(value).__name__}")


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ValueError(f"{what} {path} is unreadable or not JSON ({err}); rewrite the store") from err
    if not isinstance(data, dict):
        raise ValueError(f"{what} {path} does not hold a JSON object; rewrite the store")
    return data


# --------------------------------------------------------------------------------------
# Fitting clips to the store's shape
# --------------------------------------------------------------------------------------


def _square(array: np.ndarray) -> np.ndarray:
    """Centre square crop of ``(T, H, W, ...)``."""
    h, w = array.shape[1:3]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return array[:, top : top + side, left : left + side]


def fit_frames(frames: np.ndarray, size: int) -> np.ndarray:
    """Frames ``uint8 (T, H, W, 3)`` -> ``uint8 (T, size, size, 3)``: centre square crop, then a
    bilinear, antialiased resize (a no-op when the frames already have that shape)."""
    if frames.shape[1] == frames.shape[2] == size:
        return frames
    x = torch.from_numpy(np.ascontiguousarray(_square(frames))).permute(0, 3, 1, 2).float()
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def fit_parsing(parsing: np.ndarray, size: int) -> np.ndarray:
    """Parsing maps ``uint8 (T, H, W)`` -> ``uint8 (T, size, size)``: the crop of :func:`fit_frames`
    and a nearest-neighbour resize (labels are never blended)."""
    if parsing.shape[1] == parsing.shape[2] == size:
        return parsing
    x = torch.from_numpy(np.ascontiguousarray(_square(parsing)))[:, None].float()
    x = torch.nn.functional.interpolate(x, size=(size, size), mode="nearest-exact")
    return x[:, 0].to(torch.uint8).numpy()


def _as_uint8(array: Any, what: str) -> np.ndarray:
    if isinstance(array, torch.Tensor):
        array = array.detach().cpu().numpy()
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8:
        raise ValueError(f"{what} must be a uint8 array, got {type(array).__name__} of dtype {getattr(array, 'dtype', None)}")
    return array


def _prepare(name: str, frames: Any, parsing: Any, clip_len: int, size: int, with_parsing: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Validate one source clip and fit it to ``(clip_len, size, size)``."""
    frames = _as_uint8(frames, f"frames of source clip {name!r}")
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames of source clip {name!r} must have shape (T, H, W, 3), got {frames.shape}")
    if frames.shape[0] != clip_len:
        raise ValueError(
            f"source clip {name!r} has {frames.shape[0]} frames but the store holds {clip_len}-frame clips; "
            f"pass clip_len={frames.shape[0]}, or cut whole videos into clips with "
            f"VideoClips(videos, clip_len={clip_len}, sample_rate=...) (a folder or a marlin_lite.datasets loader)"
        )
    maps = None
    if with_parsing:
        if parsing is None:
            raise ValueError(
                f"source clip {name!r} has no parsing maps but earlier clips had them; give every clip "
                "parsing maps, or write the store without them (parsing=False, --no-parsing)"
            )
        maps = _as_uint8(parsing, f"parsing of source clip {name!r}")
        if maps.shape != frames.shape[:3]:
            raise ValueError(f"parsing of source clip {name!r} has shape {maps.shape}, its frames {frames.shape[:3]}; they must match")
        maps = fit_parsing(maps, size)
    return fit_frames(frames, size), maps


# --------------------------------------------------------------------------------------
# Sources
# --------------------------------------------------------------------------------------


class _Source:
    """The writer's view of a source: random access (``length`` known) or a one-pass iterable."""

    def __init__(self, source: Any, source_id: Any) -> None:
        self.obj, self.iterator, self.first = source, None, None
        if isinstance(source, SynthFaceDataset):
            self.kind, self.length, self.has_parsing = "synthface", len(source), True
            self.identity = {
                "split": source.split,
                "world_seed": source.world_seed,
                "render": source.render,
                "specs": _digest([vars(s) for s in source.specs]),
            }
        elif callable(getattr(source, "frames", None)) and hasattr(source, "__len__"):
            self.kind, self.length = "frames", len(source)
            self.has_parsing = callable(getattr(source, "parsing", None)) and bool(getattr(source, "has_parsing", True))
            fp = source.fingerprint() if callable(getattr(source, "fingerprint", None)) else None
            self.identity = {"type": f"{type(source).__module__}.{type(source).__qualname__}", "len": self.length, "fingerprint": fp}
        elif isinstance(source, Iterable) and not isinstance(source, (str, bytes, os.PathLike)):
            self.kind, self.length = "iterable", None
            self.iterator = iter(source)
            self.first = next(self.iterator, None)
            if self.first is None:
                raise ValueError("the source yielded no clips; check it (an exhausted generator?)")
            self._check_tuple(self.first)
            self.has_parsing = len(self.first) >= 3 and self.first[2] is not None
            self.identity = {}  # only source_id tells two iterables apart
        else:
            raise ValueError(
                f"cannot write clips from a {type(source).__name__}: pass a SynthFaceDataset, an object with "
                "__len__ and frames(i) -> uint8 (T, H, W, 3), or an iterable of (name, frames[, parsing[, labels]])"
            )
        if source_id is not None:
            self.identity = {"source_id": _jsonable(source_id, "source_id")}

    @staticmethod
    def _check_tuple(item: Any) -> None:
        if not isinstance(item, (tuple, list)) or not 2 <= len(item) <= 4 or not isinstance(item[0], str):
            raise ValueError(
                "an iterable source must yield (name, frames), (name, frames, parsing) or (name, frames, parsing, labels) "
                f"tuples with a str name, got {type(item).__name__}"
                + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
            )

    def item(self, i: int) -> tuple[str, Any, Any, dict[str, Any]]:
        """``(name, frames, parsing or None, labels)`` of clip ``i`` (random-access sources)."""
        src = self.obj
        if self.kind == "synthface":
            c, s = src.clip(i), src.specs[i]
            labels = {"split": src.split, "identity": s.identity, "clip_seed": s.clip_seed, "expression": s.expression,
                      "manipulation": s.manipulation, "av_offset": s.av_offset}
            return f"synthface/{src.split}/{i:06d}", c.frames, c.parsing, labels
        name = str(src.name(i)) if callable(getattr(src, "name", None)) else f"{i:06d}"
        labels = src.labels(i) if callable(getattr(src, "labels", None)) else {}
        parsing = src.parsing(i) if self.has_parsing else None
        return name, src.frames(i), parsing, labels

    def iterate(self, skip: int) -> Iterator[tuple[str, Any, Any, dict[str, Any]]]:
        """The clips of an iterable source from clip ``skip`` on (earlier ones are read and dropped)."""
        assert self.iterator is not None
        first, self.first = self.first, None
        stream = self.iterator if first is None else _chain_one(first, self.iterator)
        for n, item in enumerate(stream):
            if n < skip:
                continue
            self._check_tuple(item)
            parsing = item[2] if len(item) >= 3 else None
            yield item[0], item[1], parsing, (item[3] if len(item) == 4 and item[3] is not None else {})


def _chain_one(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


# Worker side of a parallel write (random-access sources only): the source is set once per
# process by the pool's initializer and clips come back already fitted to the store's shape.
_WORKER: dict[str, Any] = {}


def _init_worker(source: _Source, clip_len: int, size: int, with_parsing: bool, pooled: bool = False) -> None:
    if pooled:
        torch.set_num_threads(1)  # one process per core
    _WORKER.update(source=source, clip_len=clip_len, size=size, with_parsing=with_parsing)


def _load_clip(i: int) -> tuple[str, np.ndarray, np.ndarray | None, dict[str, Any]]:
    w = _WORKER
    name, frames, parsing, labels = w["source"].item(i)
    frames, parsing = _prepare(name, frames, parsing, w["clip_len"], w["size"], w["with_parsing"])
    return name, frames, parsing, _jsonable(labels, f"labels of source clip {name!r}")


def _load_chunk(start: int, stop: int) -> list[tuple[str, np.ndarray, np.ndarray | None, dict[str, Any]]]:
    return [_load_clip(i) for i in range(start, stop)]


def _parallel_clips(pool: ProcessPoolExecutor, start: int, stop: int, *, chunk: int, inflight: int) -> Iterator[Any]:
    """Clips ``start .. stop-1`` loaded by ``pool`` in chunks of consecutive clips (so a worker
    decodes a video once for several of its clips), in order, with at most ``inflight`` chunks
    pending (memory stays bounded however slow the consumer is)."""
    from collections import deque

    pending: deque[Any] = deque()
    nxt = start
    while nxt < stop or pending:
        while nxt < stop and len(pending) < inflight:
            pending.append(pool.submit(_load_chunk, nxt, min(nxt + chunk, stop)))
            nxt += chunk
        yield from pending.popleft().result()


# --------------------------------------------------------------------------------------
# Writer
# --------------------------------------------------------------------------------------


def _config_diff(old: dict[str, Any], new: dict[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    parts = []
    for k in keys:
        if old.get(k) != new.get(k):
            a, b = json.dumps(old.get(k), sort_keys=True), json.dumps(new.get(k), sort_keys=True)
            if len(a) > 80 or len(b) > 80:
                parts.append(f"{k} (changed)")
            else:
                parts.append(f"{k}: {a} -> {b}")
    return "; ".join(parts)


def _clear_store(out: Path) -> None:
    """Remove the files a store consists of (and nothing else) from ``out``."""
    (out / INDEX).unlink(missing_ok=True)
    shutil.rmtree(out / WORKDIR, ignore_errors=True)
    for p in out.glob("shard_*.npy"):
        p.unlink()
    for p in out.glob(".shard_*.tmp"):
        p.unlink()


def _record_ok(out: Path, record: dict[str, Any]) -> bool:
    """A finished shard's files are still there with the recorded sizes."""
    for kind in ("frames", "parsing"):
        name = record.get(kind)
        if name is None:
            continue
        p = out / name
        if not p.is_file() or p.stat().st_size != record.get(f"{kind}_bytes"):
            return False
    return True


def _write_shard(
    out: Path,
    k: int,
    capacity: int,
    clips: Iterator[tuple[str, np.ndarray, np.ndarray | None, dict[str, Any]]],
    clip_len: int,
    size: int,
    with_parsing: bool,
    progress: Any,
) -> dict[str, Any] | None:
    """Fill shard ``k`` with up to ``capacity`` clips from ``clips`` (already fitted), atomically;
    ``progress`` (a :func:`~marlin_lite.utils.progress_bar`) counts each clip.

    Returns the shard's record, or ``None`` when ``clips`` was already exhausted.
    """
    kinds = ["frames"] + (["parsing"] if with_parsing else [])
    tmp = {kind: out / f".{_shard_name(k, kind)}.{os.getpid()}.tmp" for kind in kinds}
    shapes = {"frames": (clip_len, size, size, 3), "parsing": (clip_len, size, size)}
    names: list[str] = []
    labels: list[dict[str, Any]] = []
    maps: dict[str, np.ndarray] = {}
    try:
        for kind in kinds:
            maps[kind] = np.lib.format.open_memmap(tmp[kind], mode="w+", dtype=np.uint8, shape=(capacity, *shapes[kind]))
        for name, frames, parsing, lab in clips:
            j = len(names)
            maps["frames"][j] = frames
            if with_parsing:
                maps["parsing"][j] = parsing
            names.append(name)
            labels.append(lab)
            progress.update(1)
            if len(names) == capacity:
                break
        n = len(names)
        for kind in kinds:
            maps[kind].flush()
        if n == 0:
            return None
        if n < capacity:  # an iterable ended inside this shard: keep the first n clips
            for kind in kinds:
                small = out / f".{_shard_name(k, kind)}.{os.getpid()}.small.tmp"
                with open(small, "wb") as fh:
                    np.save(fh, np.asarray(maps[kind][:n]), allow_pickle=False)
                del maps[kind]
                os.replace(small, tmp[kind])
        maps.clear()
        record: dict[str, Any] = {"shard": k, "count": n, "names": names, "labels": labels, "parsing": None}
        for kind in kinds:
            final = out / _shard_name(k, kind)
            record[f"{kind}_sha256"] = sha256_file(tmp[kind])
            record[f"{kind}_bytes"] = tmp[kind].stat().st_size
            os.replace(tmp[kind], final)
            record[kind] = final.name
        return record
    finally:
        maps.clear()
        for p in tmp.values():
            p.unlink(missing_ok=True)


def write_clip_store(
    source: Any,
    out_dir: PathLike,
    *,
    clip_len: int = 16,
    size: int = 224,
    shard_size: int = 256,
    parsing: bool | None = None,
    source_id: Any = None,
    workers: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> ClipStore:
    """Write ``source``'s clips as a clip store in ``out_dir`` and return it opened.

    Args:
        source: a ``SynthFaceDataset``; an object with ``__len__`` and ``frames(i) -> uint8 (T, H, W, 3)``
            (optional ``parsing(i)``, ``name(i)``, ``labels(i)``, ``fingerprint()``); or an iterable of
            ``(name, frames[, parsing[, labels]])`` (see the module docstring).
        out_dir: the store's folder (created; other files in it are left alone).
        clip_len: frames per clip ``T``; every source clip must have exactly this many.
        size: side ``S`` of the stored frames; other sizes are centre-cropped to a square and
            resized (:func:`fit_frames`, :func:`fit_parsing`).
        shard_size: clips per shard file (256 clips of 16 x 224 x 224 are 617 MB).
        parsing: store parsing maps: ``None`` (default) when the source has them, ``True`` (an
            error if it has not), ``False`` never.
        source_id: a JSON value identifying the source's content for the resume check (default:
            derived from the source; iterables are told apart by ``source_id`` only).
        workers: processes that load and resize clips in parallel (random-access sources only;
            0 = in this process).
        overwrite: discard a store (finished or not) of a different config in ``out_dir``.
            One writer per folder: two processes writing the same store at once corrupt it.
        progress: show a progress bar (:func:`~marlin_lite.utils.progress_bar`).

    Returns:
        The written :class:`ClipStore`. A finished store of the same config is returned as is.

    Raises:
        ValueError: bad arguments, a source clip of the wrong shape or dtype, or ``out_dir`` holding
            a store written with a different config (the message names what differs).
    """
    clip_len = _check_int(clip_len, "clip_len", 1)
    size = _check_int(size, "size", 1)
    shard_size = _check_int(shard_size, "shard_size", 1)
    workers = _check_int(workers, "workers", 0)
    src = _Source(source, source_id)
    if src.length == 0:
        raise ValueError(f"the source ({src.kind}) has no clips; nothing to write to {out_dir}")
    if parsing is True and not src.has_parsing:
        raise ValueError(f"parsing=True but the source ({src.kind}) has no parsing maps; pass parsing=None or False")
    with_parsing = bool(src.has_parsing) if parsing is None else bool(parsing)
    config = {
        "format": FORMAT,
        "version": VERSION,
        "clip_len": clip_len,
        "size": size,
        "shard_size": shard_size,
        "parsing": with_parsing,
        "source": {"kind": src.kind, **src.identity},
    }
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {out} is a file; pass a folder for the clip store")
    work = out / WORKDIR
    for path, what in ((out / INDEX, "a finished clip store"), (work / "config.json", "an unfinished clip store")):
        if not path.exists():
            continue
        try:
            old = _read_json(path, "clip store file")
            old = old.get("config") if path.name == INDEX else old
            diff = _config_diff(old if isinstance(old, dict) else {}, config)
        except ValueError as err:
            old, diff = None, f"{path.name} unreadable: {err}"
        if old == config:
            if path.name != INDEX:
                continue  # resume
            try:
                return ClipStore(out)  # finished already
            except (ValueError, FileNotFoundError):
                if not overwrite:  # a shard went missing or was cut short
                    raise
        elif not overwrite:
            raise ValueError(
                f"{out} holds {what} written with a different config ({diff}); "
                "pass overwrite=True (--overwrite) to replace it, or choose another out_dir"
            )
        _clear_store(out)
        break
    work.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".shard_*.tmp"):  # left by a crashed writer
        stale.unlink(missing_ok=True)
    atomic_write_bytes(work / "config.json", json_bytes(config))

    num_shards = math.ceil(src.length / shard_size) if src.length is not None else None
    records: list[dict[str, Any]] = []
    for k in range(num_shards if num_shards is not None else 1 << 30):
        rec_path = work / f"shard_{k:05d}.json"
        if not rec_path.exists():
            break
        rec = _read_json(rec_path, "shard record")
        if not _record_ok(out, rec):
            break
        records.append(rec)
    done = sum(r["count"] for r in records)
    bar = progress_bar(total=src.length, initial=done, desc=f"clipstore {out.name}", unit="clip", enabled=progress, dynamic_ncols=True)
    pool = None
    try:
        if src.length is None:
            stream = (
                (name, *_prepare(name, f, p, clip_len, size, with_parsing), _jsonable(lab, f"labels of source clip {name!r}"))
                for name, f, p, lab in src.iterate(done)
            )
        elif workers > 0:
            ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
            pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker, initargs=(src, clip_len, size, with_parsing, True))
            stream = _parallel_clips(pool, done, src.length, chunk=8, inflight=2 * workers)
        else:
            _init_worker(src, clip_len, size, with_parsing)
            stream = map(_load_clip, range(done, src.length))
        k = len(records)
        while num_shards is None or k < num_shards:
            capacity = shard_size if src.length is None else min(shard_size, src.length - k * shard_size)
            rec = _write_shard(out, k, capacity, iter(stream), clip_len, size, with_parsing, bar)
            if rec is None:
                break
            atomic_write_bytes(work / f"shard_{k:05d}.json", json_bytes(rec))
            records.append(rec)
            bar.set_postfix_str(f"shard {k} written", refresh=False)
            k += 1
            if src.length is None and rec["count"] < shard_size:
                break
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        _WORKER.clear()

    for extra in out.glob("shard_*.npy"):  # shards beyond the end of a shorter, earlier write
        number = extra.name[6:11]
        if number.isdigit() and int(number) >= len(records):
            extra.unlink()
    shards = [{key: r[key] for key in ("count", "frames", "frames_bytes", "frames_sha256", "parsing", "parsing_bytes", "parsing_sha256") if key in r}
              for r in records]
    names = [n for r in records for n in r["names"]]
    index = {
        "format": FORMAT,
        "version": VERSION,
        "created_with": f"marlin_lite {__version__}",
        "clip_len": clip_len,
        "size": size,
        "has_parsing": with_parsing,
        "frames_shape": [clip_len, size, size, 3],
        "parsing_shape": [clip_len, size, size] if with_parsing else None,
        "dtype": "uint8",
        "num_clips": len(names),
        "config": config,
        "shards": shards,
        "names": names,
        "labels": [lab for r in records for lab in r["labels"]],
    }
    index["fingerprint"] = _digest([clip_len, size, with_parsing, [[s["count"], s["frames_sha256"], s.get("parsing_sha256")] for s in shards], names])
    atomic_write_bytes(out / INDEX, json_bytes(index))
    shutil.rmtree(work, ignore_errors=True)
    return ClipStore(out)


# --------------------------------------------------------------------------------------
# Videos as a source
# --------------------------------------------------------------------------------------


class VideoClips:
    """The clips of whole videos, as a random-access source for :func:`write_clip_store`.

    ``videos`` is either

    * a **folder**: every video file under it (recursively, the extensions of
      :mod:`marlin_lite.preprocess`), named by its relative path; or
    * a **data set of whole videos**: any object with ``__len__`` and ``frames(i) -> uint8 (T, H, W, 3)``
      returning video ``i`` whole, such as the loaders of :mod:`marlin_lite.datasets`. Optional:
      ``num_frames(i)`` (else every video is decoded once up front to count its frames),
      ``parsing(i) -> uint8 (T, H, W)``, names and labels from ``items[i].name`` / ``items[i].labels``
      (or ``name(i)`` / ``labels(i)``), and ``spec()`` or ``fingerprint()`` for the resume check.

    Each video is cut into clips of ``clip_len`` frames taking every ``sample_rate``-th frame,
    starting every ``stride`` frames (default ``clip_len * sample_rate``: MARLIN's non-overlapping
    windows, :func:`marlin_lite.video.window_starts`). Videos shorter than one clip are skipped and
    listed in :attr:`skipped`.

    Parsing maps: a folder's videos take them from the ``<name>.npz`` beside each ``<name>.mp4``
    (the output of ``python -m marlin_lite.preprocess``, key ``parsing``); a data set from its
    ``parsing(i)``. With ``parsing="auto"`` they are used when every video has them, ``True``
    requires them, ``False`` ignores them.

    Items: ``frames(i)`` ``uint8 (clip_len, H, W, 3)`` at the video's own size (the writer resizes),
    ``parsing(i)`` ``uint8 (clip_len, H, W)``, ``name(i)`` ``"<video name>#<start>"``, ``labels(i)``:
    the video's labels plus ``video``, ``start`` and ``sample_rate``. The last decoded video is kept
    in memory (the clips of a video are consecutive) when it fits ``cache_bytes``; a longer file is
    read clip by clip.
    """

    def __init__(
        self,
        videos: PathLike | Any,
        *,
        clip_len: int = 16,
        sample_rate: int = 2,
        stride: int | None = None,
        parsing: bool | str = "auto",
        cache_bytes: int = 1 << 30,
    ) -> None:
        from marlin_lite import video as V

        self.clip_len = _check_int(clip_len, "clip_len", 1)
        self.sample_rate = _check_int(sample_rate, "sample_rate", 1)
        self.stride = _check_int(stride if stride is not None else clip_len * sample_rate, "stride", 1)
        if parsing not in ("auto", True, False):
            raise ValueError(f"parsing must be 'auto', True or False, got {parsing!r}")
        self.cache_bytes = cache_bytes
        self.root: Path | None = None
        self.source: Any = None
        span = V.clip_span(self.clip_len, self.sample_rate)
        # Each video: name, frame count, labels and (folders) path and size.
        self.videos: list[dict[str, Any]] = []
        self.clips: list[tuple[int, int]] = []  # (video number, start)
        self.skipped: list[str] = []
        if isinstance(videos, (str, os.PathLike)):
            from marlin_lite.preprocess import find_videos

            self.root = Path(videos)
            found = find_videos(self.root)
            if not found:
                raise FileNotFoundError(f"no videos under {self.root}; pass the folder that holds the .mp4 files")
            candidates = []
            for path in found:
                info = V.probe_video(path)
                candidates.append({"name": path.relative_to(self.root).as_posix(), "num_frames": info.num_frames, "labels": {},
                                   "path": path, "pixels": info.width * info.height, "maps": path.with_suffix(".npz").is_file()})
            has_maps = [c["maps"] for c in candidates if c["num_frames"] >= span]
        elif callable(getattr(videos, "frames", None)) and hasattr(videos, "__len__"):
            self.source = videos
            src_maps = callable(getattr(videos, "parsing", None)) and bool(getattr(videos, "has_parsing", True))
            candidates = []
            for i in range(len(videos)):
                n = int(videos.num_frames(i)) if callable(getattr(videos, "num_frames", None)) else len(videos.frames(i))
                candidates.append({"name": self._source_name(i), "num_frames": n, "labels": self._source_labels(i), "item": i})
            has_maps = [src_maps] * len(candidates)
        else:
            raise ValueError(
                f"videos must be a folder or an object with __len__ and frames(i) -> uint8 (T, H, W, 3) "
                f"(e.g. a marlin_lite.datasets loader), got {type(videos).__name__}"
            )
        for c in candidates:
            if c["num_frames"] < span:
                self.skipped.append(f"{c['name']}: {c['num_frames']} frames < {span}")
                continue
            v = len(self.videos)
            self.videos.append(c)
            self.clips += [(v, s) for s in range(0, c["num_frames"] - span + 1, self.stride)]
        if not self.clips:
            raise ValueError(f"no video is long enough for one {clip_len}-frame clip at sample rate {sample_rate}: {self.skipped[:5]}")
        if parsing is True and not all(has_maps):
            where = "have no <name>.npz of parsing maps beside them; run python -m marlin_lite.preprocess first" if self.root else "the data set has no parsing(i)"
            raise FileNotFoundError(f"parsing=True but the videos {where}")
        self.has_parsing = bool(parsing) and all(has_maps)
        self._cache: tuple[int, np.ndarray | None, np.ndarray | None] | None = None

    def _source_name(self, i: int) -> str:
        src = self.source
        if callable(getattr(src, "name", None)):
            return str(src.name(i))
        items = getattr(src, "items", None)
        return str(items[i].name) if items is not None and hasattr(items[i], "name") else f"{i:06d}"

    def _source_labels(self, i: int) -> dict[str, Any]:
        src = self.source
        if callable(getattr(src, "labels", None)):
            return dict(src.labels(i))
        items = getattr(src, "items", None)
        return dict(getattr(items[i], "labels", {}) or {}) if items is not None else {}

    def __len__(self) -> int:
        return len(self.clips)

    def _video(self, v: int) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Video ``v`` decoded whole (``None`` for a file over ``cache_bytes``) and its maps; the
        last one is cached."""
        from marlin_lite import video as V

        if self._cache is None or self._cache[0] != v:
            video, frames, maps = self.videos[v], None, None
            if self.source is not None:
                frames = _as_uint8(self.source.frames(video["item"]), f"frames of video {video['name']!r}")
                if self.has_parsing:
                    maps = _as_uint8(self.source.parsing(video["item"]), f"parsing of video {video['name']!r}")
            else:
                path = video["path"]
                if video["num_frames"] * video["pixels"] * 3 <= self.cache_bytes:
                    frames = V.read_video(path, audio=False).frames
                if self.has_parsing:
                    npz = path.with_suffix(".npz")
                    with np.load(npz) as z:
                        if "parsing" not in z.files:
                            raise ValueError(f"{npz} has no 'parsing' array; rerun python -m marlin_lite.preprocess")
                        maps = z["parsing"]
            if frames is not None and frames.shape[0] < video["num_frames"]:
                raise ValueError(f"video {video['name']!r} decoded to {frames.shape[0]} frames, {video['num_frames']} expected")
            if maps is not None and (maps.shape[0] < video["num_frames"] or (frames is not None and maps.shape[1:] != frames.shape[1:3])):
                raise ValueError(f"the parsing maps of video {video['name']!r} are {maps.shape}, its frames "
                                 f"{frames.shape if frames is not None else video['num_frames']}; redo the preprocessing")
            self._cache = (v, frames, maps)
        return self._cache[1], self._cache[2]

    def _window(self, i: int) -> slice:
        _, start = self.clips[i]
        return slice(start, start + (self.clip_len - 1) * self.sample_rate + 1, self.sample_rate)

    def frames(self, i: int) -> np.ndarray:
        from marlin_lite import video as V

        v, start = self.clips[i]
        frames, _ = self._video(v)
        if frames is None:
            return V.read_clip(self.videos[v]["path"], start, self.clip_len, self.sample_rate)
        return np.ascontiguousarray(frames[self._window(i)])

    def parsing(self, i: int) -> np.ndarray:
        _, maps = self._video(self.clips[i][0])
        if maps is None:
            raise ValueError(f"no parsing maps for {self.name(i)}")
        return np.ascontiguousarray(maps[self._window(i)])

    def name(self, i: int) -> str:
        v, start = self.clips[i]
        return f"{self.videos[v]['name']}#{start}"

    def labels(self, i: int) -> dict[str, Any]:
        v, start = self.clips[i]
        return {**self.videos[v]["labels"], "video": self.videos[v]["name"], "start": start, "sample_rate": self.sample_rate}

    def fingerprint(self) -> dict[str, Any]:
        if self.root is not None:
            what: Any = {"root": str(self.root.resolve()),
                         "files": _digest([[v["name"], v["path"].stat().st_size, v["num_frames"]] for v in self.videos])}
        elif callable(getattr(self.source, "spec", None)):
            what = {"spec": _digest(self.source.spec())}
        elif callable(getattr(self.source, "fingerprint", None)):
            what = {"fingerprint": _jsonable(self.source.fingerprint(), "fingerprint()")}
        else:
            what = {"type": f"{type(self.source).__module__}.{type(self.source).__qualname__}",
                    "videos": _digest([[v["name"], v["num_frames"]] for v in self.videos])}
        return {**what, "clip_len": self.clip_len, "sample_rate": self.sample_rate, "stride": self.stride, "parsing": self.has_parsing}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_cache": None}


# --------------------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------------------


def _read_index(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise FileNotFoundError(f"no clip store at {path}; {_WRITE_HINT}")
    if not path.is_dir():
        raise ValueError(f"{path} is a file, not a clip store folder; pass the folder that holds index.json")
    index_path = path / INDEX
    if not index_path.is_file():
        if (path / WORKDIR).is_dir():
            raise ValueError(f"{path} is an unfinished clip store (the writer stopped before {INDEX}); rerun the same write command to finish it")
        raise FileNotFoundError(f"{index_path} not found: {path} is not a clip store; {_WRITE_HINT}")
    index = _read_json(index_path, "clip store index")
    if index.get("format") != FORMAT:
        raise ValueError(f"{index_path} is not a MARLIN-lite clip store index (format {index.get('format')!r}); rewrite the store")
    if index.get("version") != VERSION:
        raise ValueError(f"{index_path} is clip store version {index.get('version')}, this code reads version {VERSION}; rewrite the store")
    required = ("clip_len", "size", "has_parsing", "num_clips", "shards", "names", "labels")
    missing = [k for k in required if k not in index]
    counts = sum(int(s.get("count", 0)) for s in index.get("shards", []))
    if missing or counts != index.get("num_clips") or len(index.get("names", [])) != counts:
        raise ValueError(f"{index_path} is inconsistent (missing {missing}, shard counts sum to {counts}, num_clips {index.get('num_clips')}); rewrite the store")
    return index


def _new_batch(shape: tuple[int, ...], pin_memory: bool) -> torch.Tensor:
    """An uninitialised uint8 tensor; in a DataLoader worker it lives in shared memory from the start
    (as ``default_collate`` does), so handing it to the main process costs no extra copy."""
    if torch.utils.data.get_worker_info() is not None:
        numel = int(np.prod(shape))
        storage = torch.empty(0, dtype=torch.uint8)._typed_storage()._new_shared(numel, device="cpu")
        return torch.empty(0, dtype=torch.uint8).new(storage).resize_(shape)
    return torch.empty(shape, dtype=torch.uint8, pin_memory=pin_memory and torch.cuda.is_available())


def store_fingerprint(path: PathLike) -> str:
    """The content fingerprint of the store at ``path`` (a digest of its shards' SHA-256 and clip
    names, from ``index.json``): equal fingerprints mean the same clips."""
    return str(_read_index(Path(path))["fingerprint"])


class ClipStore(Dataset):
    """A clip store opened for reading (a map-style ``Dataset``).

    Items (``store[i]``), with ``output="float"`` (default):

    * ``video``: ``float32 (3, T, S, S)`` in [0, 1] (the package's video convention);
    * ``parsing``: ``uint8 (T, S, S)`` label ids, when the store has parsing maps;
    * ``index``: ``int64`` scalar, the clip's position in the store.

    With ``output="uint8"`` the item holds ``frames`` ``uint8 (T, S, S, 3)`` instead of ``video``
    (a quarter of the bytes; convert on the device with :func:`to_device_float`).

    Shards are opened lazily with ``np.load(mmap_mode="r")`` in the process that reads them (open
    maps and descriptors are not pickled, so DataLoader workers open their own); where the OS has
    ``preadv`` (Linux, macOS) the clips are then copied with positional reads straight into the
    batch, which skips the page faults of first touching a map (2-3x faster, measured), else out of
    the map. Opening checks every shard file's presence and size against ``index.json``; the first
    read of a shard checks its header's shape and dtype; :meth:`verify` checks every file's SHA-256.
    """

    def __init__(self, path: PathLike, *, output: str = "float") -> None:
        if output not in ("float", "uint8"):
            raise ValueError(f"output must be 'float' or 'uint8', got {output!r}")
        self.path = Path(path)
        self.output = output
        self.index = _read_index(self.path)
        self.clip_len = int(self.index["clip_len"])
        self.size = int(self.index["size"])
        self.has_parsing = bool(self.index["has_parsing"])
        self.shards: list[dict[str, Any]] = self.index["shards"]
        counts = np.array([int(s["count"]) for s in self.shards], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)])
        self._maps: dict[tuple[int, str], np.ndarray] = {}
        self._fds: dict[tuple[int, str], tuple[int, int]] = {}
        self._lock = threading.Lock()
        for s in self.shards:
            for kind in self._kinds():
                p = self.path / s[kind]
                if not p.is_file():
                    raise FileNotFoundError(f"clip store shard {p} is missing; restore it or rewrite the store")
                if p.stat().st_size != s[f"{kind}_bytes"]:
                    raise ValueError(
                        f"clip store shard {p} is {p.stat().st_size} bytes but {INDEX} says {s[f'{kind}_bytes']} "
                        "(truncated or replaced); restore it or rewrite the store"
                    )

    def _kinds(self) -> tuple[str, ...]:
        return ("frames", "parsing") if self.has_parsing else ("frames",)

    def __getstate__(self) -> dict[str, Any]:
        # memory maps would pickle as copies of the data, and descriptors belong to their process
        return {k: v for k, v in self.__dict__.items() if k not in ("_maps", "_fds", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _maps={}, _fds={}, _lock=threading.Lock())

    def close(self) -> None:
        """Release the open memory maps and file descriptors (reopened on the next read)."""
        self._maps.clear()
        for fd, _ in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 (interpreter shutdown)
            pass

    def __len__(self) -> int:
        return int(self._starts[-1])

    @property
    def frames_shape(self) -> tuple[int, int, int, int]:
        """Shape of one clip's frames, ``(T, S, S, 3)``."""
        return (self.clip_len, self.size, self.size, 3)

    @property
    def nbytes(self) -> int:
        """Bytes of pixels (and parsing maps) in the store."""
        per_clip = self.clip_len * self.size * self.size * (4 if self.has_parsing else 3)
        return len(self) * per_clip

    @property
    def fingerprint(self) -> str:
        """A digest of the shards' SHA-256 and clip names (see :func:`store_fingerprint`)."""
        return str(self.index["fingerprint"])

    @property
    def names(self) -> list[str]:
        """Every clip's source name, in store order."""
        return self.index["names"]

    def name(self, i: int) -> str:
        return self.names[self._check(i)]

    def labels(self, i: int) -> dict[str, Any]:
        """The labels the source gave clip ``i`` (a dict of JSON values)."""
        return self.index["labels"][self._check(i)]

    def _check(self, i: int) -> int:
        n = len(self)
        if isinstance(i, torch.Tensor):
            i = int(i)
        if not -n <= i < n:
            raise IndexError(f"clip {i} out of range for the clip store {self.path} of {n} clips")
        return int(i) % n

    def _shard(self, k: int, kind: str) -> np.ndarray:
        key = (k, kind)
        arr = self._maps.get(key)
        if arr is None:
            s = self.shards[k]
            p = self.path / s[kind]
            try:
                arr = np.load(p, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as err:
                raise ValueError(f"clip store shard {p} cannot be read ({err}); restore it or rewrite the store") from err
            expected = (int(s["count"]), *(self.frames_shape if kind == "frames" else self.frames_shape[:3]))
            if arr.shape != expected or arr.dtype != np.uint8:
                raise ValueError(
                    f"clip store shard {p} holds {arr.dtype} {arr.shape}, {INDEX} expects uint8 {expected}; "
                    "the store is damaged or mixed with another one: rewrite it"
                )
            self._maps[key] = arr
        return arr

    def _open(self, k: int, kind: str) -> tuple[int, int]:
        """The descriptor of a shard file and the offset of its data (opened once per process)."""
        with self._lock:  # reader threads may race to open the same shard
            if (k, kind) not in self._fds:
                offset = self._shard(k, kind).offset  # validates the header and the shape
                self._fds[(k, kind)] = (os.open(self.path / self.shards[k][kind], os.O_RDONLY), offset)
            return self._fds[(k, kind)]

    def _locate(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(indices.cpu() if isinstance(indices, torch.Tensor) else indices, dtype=np.int64).reshape(-1)
        n = len(self)
        bad = idx[(idx < -n) | (idx >= n)]
        if bad.size:
            raise IndexError(f"clip {int(bad[0])} out of range for the clip store {self.path} of {n} clips")
        idx = idx % max(n, 1)
        shard = np.searchsorted(self._starts, idx, side="right") - 1
        return shard, idx - self._starts[shard]

    def _gather(self, indices: Any, kind: str, out: torch.Tensor | None, pin_memory: bool) -> torch.Tensor:
        shard, local = self._locate(indices)
        shape = (len(shard), *(self.frames_shape if kind == "frames" else self.frames_shape[:3]))
        if out is None:
            out = _new_batch(shape, pin_memory)
        elif tuple(out.shape) != shape or out.dtype != torch.uint8 or out.device.type != "cpu":
            raise ValueError(f"out must be a CPU uint8 tensor of shape {shape}, got {out.dtype} {tuple(out.shape)} on {out.device}")
        dest = out.numpy()
        if not _PREAD:
            for b, (k, j) in enumerate(zip(shard.tolist(), local.tolist())):
                dest[b] = self._shard(k, kind)[j]
            return out
        # Positional reads straight into the batch: a copy out of the page cache at memcpy speed,
        # without the page faults of first touching a memory map (measured 2-3x faster).
        nbytes = dest[0].nbytes if len(dest) else 0
        for b, (k, j) in enumerate(zip(shard.tolist(), local.tolist())):
            fd, offset = self._fds.get((k, kind)) or self._open(k, kind)
            got = os.preadv(fd, [memoryview(dest[b]).cast("B")], offset + j * nbytes)
            if got != nbytes:
                raise ValueError(f"clip store shard {self.path / self.shards[k][kind]} ended early (read {got} of {nbytes} bytes of clip {j}); rewrite the store")
        return out

    def get_batch(self, indices: Any, *, out: torch.Tensor | None = None, pin_memory: bool = False) -> torch.Tensor:
        """Frames of several clips: ``uint8 (B, T, S, S, 3)``, one memory copy per clip.

        Args:
            indices: ``B`` clip indices (list, array or tensor; any order, repeats allowed).
            out: a preallocated CPU ``uint8 (B, T, S, S, 3)`` tensor to fill (e.g. pinned memory).
            pin_memory: allocate the result in pinned memory (with CUDA only; ignored otherwise).
        """
        return self._gather(indices, "frames", out, pin_memory)

    def get_parsing(self, indices: Any, *, out: torch.Tensor | None = None, pin_memory: bool = False) -> torch.Tensor:
        """Parsing maps of several clips: ``uint8 (B, T, S, S)``; an error if the store has none."""
        if not self.has_parsing:
            raise ValueError(f"the clip store {self.path} has no parsing maps; write it from a source with parsing maps")
        return self._gather(indices, "parsing", out, pin_memory)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        i = self._check(i)
        frames = self.get_batch([i])[0]
        item: dict[str, torch.Tensor] = {}
        if self.output == "uint8":
            item["frames"] = frames
        else:
            item["video"] = frames.permute(3, 0, 1, 2).float().div_(255)  # strides kept, as SynthFaceDataset
        if self.has_parsing:
            item["parsing"] = self.get_parsing([i])[0]
        item["index"] = torch.tensor(i)
        return item

    def require(self, *, clip_len: int | None = None, size: int | None = None, parsing: bool = False, why: str = "") -> ClipStore:
        """Check that the store fits a consumer; raise a ``ValueError`` saying what to change if not."""
        for_ = f" for {why}" if why else ""
        if (clip_len is not None and clip_len != self.clip_len) or (size is not None and size != self.size):
            want = f"{clip_len or self.clip_len} x {size or self.size} x {size or self.size}"
            raise ValueError(
                f"the clip store {self.path} holds {self.clip_len} x {self.size} x {self.size} clips, but {want} are needed{for_}; "
                f"write a store with --frames {clip_len or self.clip_len} --size {size or self.size}, or use a model of the store's shape"
            )
        if parsing and not self.has_parsing:
            raise ValueError(
                f"the clip store {self.path} has no parsing maps, but they are needed{for_}; use tube or random masking "
                "(mask_strategy: tube), or rewrite the store with parsing maps (SynthFace stores have them; for videos, "
                "preprocess them with python -m marlin_lite.preprocess so each .mp4 has its .npz of maps)"
            )
        return self

    def verify(self, *, progress: bool = False) -> dict[str, Any]:
        """Check every shard file's SHA-256 against ``index.json``.

        Returns a summary ``{"shards", "files", "bytes", "seconds"}``; raises ``ValueError`` naming
        every file that is missing or differs.
        """
        t0 = time.perf_counter()
        problems, files, total = [], 0, 0
        bar = progress_bar(total=len(self), desc="verify", unit="clip", enabled=progress, dynamic_ncols=True)
        try:
            for s in self.shards:
                for kind in self._kinds():
                    p = self.path / s[kind]
                    files += 1
                    if not p.is_file():
                        problems.append(f"{p}: missing")
                        continue
                    digest = sha256_file(p)
                    total += p.stat().st_size
                    if digest != s[f"{kind}_sha256"]:
                        problems.append(f"{p}: SHA-256 {digest[:12]}... but {INDEX} says {s[f'{kind}_sha256'][:12]}...")
                bar.update(int(s["count"]))
        finally:
            bar.close()
        if problems:
            raise ValueError(
                f"clip store {self.path} failed verification ({len(problems)} of {files} files): " + "; ".join(problems)
                + ". The files changed after writing (disk error or an edit): restore them or rewrite the store"
            )
        return {"shards": len(self.shards), "files": files, "bytes": total, "seconds": round(time.perf_counter() - t0, 3)}

    def info(self) -> dict[str, Any]:
        """A JSON-able summary: shape, counts, bytes, source, fingerprint."""
        return {
            "path": str(self.path),
            "num_clips": len(self),
            "clip_shape": list(self.frames_shape),
            "has_parsing": self.has_parsing,
            "shards": len(self.shards),
            "shard_size": self.index.get("config", {}).get("shard_size"),
            "gigabytes": round(self.nbytes / 1e9, 4),
            "source": self.index.get("config", {}).get("source"),
            "created_with": self.index.get("created_with"),
            "fingerprint": self.fingerprint,
        }

    def __repr__(self) -> str:
        p = ", parsing" if self.has_parsing else ""
        return f"ClipStore({str(self.path)!r}: {len(self)} clips of {self.clip_len}x{self.size}x{self.size}{p}, {len(self.shards)} shards)"


def open_for_training(store: ClipStore | PathLike, *, num_frames: int, img_size: int, parsing: bool, why: str = "pretraining") -> ClipStore:
    """A store (or the store at a path, opened for ``uint8`` reading) checked against a model's clip
    shape and, with ``parsing=True``, the parsing maps a face-guided masking strategy needs."""
    if not isinstance(store, ClipStore):
        store = ClipStore(store, output="uint8")
    return store.require(clip_len=num_frames, size=img_size, parsing=parsing, why=why)


# --------------------------------------------------------------------------------------
# Loader
# --------------------------------------------------------------------------------------


class EpochBatches(Sampler[list[int]]):
    """Batches of clip indices; epoch ``e`` is a permutation seeded by ``(seed, e)`` (or in order).

    Each pass over the sampler is the next epoch; :meth:`set_epoch` jumps to one. The last,
    smaller batch is dropped with ``drop_last``.
    """

    def __init__(self, n: int, batch_size: int, *, shuffle: bool = True, seed: int = 0, drop_last: bool = True) -> None:
        self.n, self.batch_size = _check_int(n, "n", 0), _check_int(batch_size, "batch_size", 1)
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0
        if drop_last and n < batch_size:
            raise ValueError(f"the store has {n} clips, fewer than one batch of {batch_size}; lower batch_size or pass drop_last=False")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        if self.shuffle:
            order = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch)).tolist()
        else:
            order = list(range(self.n))
        for b in range(len(self)):
            yield order[b * self.batch_size : (b + 1) * self.batch_size]


class _BufferPool:
    """Batch buffers that reader threads reuse once the consumer has let go of them.

    A fresh allocation of tens of MB is a new memory mapping whose every 4 KiB page faults on the
    first write (measured on 16 x 224 x 224 clips, batch 16: 1.2 GB/s with fresh buffers against
    5-10 GB/s with reused ones). A buffer is reused only when nothing outside the pool refers to it:
    no Python reference to the tensor and no other tensor (view, ``.numpy()``) on its storage, so a
    batch the consumer keeps is never overwritten. Pinned batches do not come from here: PyTorch's
    caching host allocator reuses those, and knows when an asynchronous copy still reads one.
    """

    def __init__(self, limit: int) -> None:
        self.buffers: list[torch.Tensor] = []
        self.limit = limit
        self.lock = threading.Lock()

    @staticmethod
    def available() -> bool:
        return hasattr(torch._C, "_storage_Use_Count")

    def _free(self, i: int) -> bool:
        buf = self.buffers[i]  # references: the list, `buf`, getrefcount's argument
        return sys.getrefcount(buf) == 3 and torch._C._storage_Use_Count(buf.untyped_storage()._cdata) <= 2

    def acquire(self, shape: tuple[int, ...]) -> torch.Tensor:
        with self.lock:
            spare = None
            for i in range(len(self.buffers)):
                if self._free(i):
                    if tuple(self.buffers[i].shape) == shape:
                        return self.buffers[i]
                    spare = i
            buf = torch.empty(shape, dtype=torch.uint8)
            if len(self.buffers) < self.limit:
                self.buffers.append(buf)
            elif spare is not None:
                self.buffers[spare] = buf  # a free buffer of another shape (a last, smaller batch)
            return buf


class _StoreBatches(Dataset):
    """A store indexed by *lists* of clips: ``ds[[i, j, ...]]`` is a whole batch, read in one call."""

    def __init__(self, store: ClipStore, parsing: bool, pin_memory: bool = False, pool: int = 0) -> None:
        self.store, self.parsing, self.pin_memory = store, parsing, pin_memory
        self.pool = _BufferPool(pool) if pool and not pin_memory and _BufferPool.available() else None

    def __len__(self) -> int:
        return len(self.store)

    def _out(self, b: int, shape: tuple[int, ...]) -> torch.Tensor | None:
        return self.pool.acquire((b, *shape)) if self.pool is not None else None

    def __getitem__(self, indices: list[int]) -> dict[str, torch.Tensor]:
        b, shape = len(indices), self.store.frames_shape
        batch = {"frames": self.store.get_batch(indices, out=self._out(b, shape), pin_memory=self.pin_memory)}
        if self.parsing:
            batch["parsing"] = self.store.get_parsing(indices, out=self._out(b, shape[:3]), pin_memory=self.pin_memory)
        batch["index"] = torch.as_tensor(indices, dtype=torch.int64)
        return batch


class StoreLoader:
    """Batches of a clip store read by threads in this process, ahead of the consumer, in order.

    Reading a batch is a few ``preadv`` calls, which release the GIL, so threads overlap it with
    training without the inter-process copy of DataLoader worker processes; with ``pin_memory``
    the clips are read straight into page-locked memory, ready for an asynchronous copy to the
    GPU. Iterate it like a ``DataLoader``; ``len()`` is the number of batches of one pass.
    """

    def __init__(self, batches: _StoreBatches, sampler: Iterable[list[int]], workers: int, prefetch: int) -> None:
        self.dataset, self.sampler, self.workers, self.prefetch = batches, sampler, workers, prefetch

    def __len__(self) -> int:
        return len(self.sampler)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        if self.workers == 0:
            for indices in self.sampler:
                yield self.dataset[indices]
            return
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        pending: deque[Any] = deque()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="clipstore") as pool:
            try:
                for indices in self.sampler:
                    pending.append(pool.submit(self.dataset.__getitem__, indices))
                    if len(pending) >= self.workers * self.prefetch:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()


def make_loader(
    store: ClipStore | PathLike,
    batch_size: int,
    *,
    workers: int = 0,
    pin_memory: bool = False,
    seed: int = 0,
    shuffle: bool = True,
    drop_last: bool = True,
    parsing: bool | None = None,
    backend: str = "thread",
    prefetch_factor: int = 2,
    batch_sampler: Sampler[list[int]] | Iterable[list[int]] | None = None,
) -> StoreLoader | DataLoader:
    """A loader of ``uint8`` batches read straight from the store's shards.

    Each batch is a dict: ``frames`` ``uint8 (B, T, S, S, 3)``, ``parsing`` ``uint8 (B, T, S, S)``
    (when the store has maps and ``parsing`` is not False), ``index`` ``int64 (B,)``. A batch is
    read in one call (one copy per clip out of the page cache, no per-item collation); convert it
    with :func:`to_device_float` on the device. The batches are a pure function of ``seed`` and
    the epoch (or of ``batch_sampler``), whatever ``workers`` and ``backend`` are.

    Args:
        store: a :class:`ClipStore` or its path.
        batch_size: clips per batch.
        workers: parallel readers (0 = read when the batch is asked for, in this thread).
        pin_memory: page-locked batches for asynchronous host-to-device copies (CUDA only).
        seed, shuffle, drop_last: the order of the clips (see :class:`EpochBatches`).
        parsing: include parsing maps (default: when the store has them).
        backend: ``"thread"`` (default): a :class:`StoreLoader`, reader threads in this process;
            ``"process"``: a ``DataLoader`` with worker processes (each batch then crosses to this
            process through shared memory, an extra copy; measured slower for a store).
        prefetch_factor: batches each reader keeps ready ahead of the consumer.
        batch_sampler: an explicit sampler of index lists (e.g. pretraining's resumable
            ``StepBatches``); replaces ``seed``, ``shuffle`` and ``drop_last``.
    """
    if not isinstance(store, ClipStore):
        store = ClipStore(store, output="uint8")
    workers = _check_int(workers, "workers", 0)
    prefetch_factor = _check_int(prefetch_factor, "prefetch_factor", 1)
    if backend not in ("thread", "process"):
        raise ValueError(f"backend must be 'thread' or 'process', got {backend!r}")
    with_parsing = store.has_parsing if parsing is None else bool(parsing)
    if with_parsing and not store.has_parsing:
        store.require(parsing=True, why="this loader (parsing=True)")
    sampler = batch_sampler if batch_sampler is not None else EpochBatches(len(store), batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last)
    pin = pin_memory and torch.cuda.is_available()
    if backend == "thread":
        pool = 2 * (workers * prefetch_factor + 2)  # frames and parsing of the batches in flight, and two more
        return StoreLoader(_StoreBatches(store, with_parsing, pin_memory=pin, pool=pool), sampler, workers, prefetch_factor)
    return DataLoader(
        _StoreBatches(store, with_parsing),
        sampler=sampler,
        batch_size=None,
        num_workers=workers,
        pin_memory=pin,
        prefetch_factor=prefetch_factor if workers > 0 else None,
        persistent_workers=False,
    )


def to_device_float(
    batch: torch.Tensor,
    device: torch.device | str,
    *,
    dtype: torch.dtype = torch.float32,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    non_blocking: bool = True,
) -> torch.Tensor:
    """A ``uint8 (B, T, H, W, 3)`` batch -> ``(B, 3, T, H, W)`` ``dtype`` in [0, 1] on ``device``.

    The ``uint8`` bytes cross to the device (asynchronously when ``batch`` is pinned); the
    permutation, the conversion and the scaling run there. With ``mean`` and ``std`` (per channel,
    in [0, 1] units) the result is also standardised; MARLIN uses raw [0, 1] pixels.
    """
    if not isinstance(batch, torch.Tensor) or batch.dtype != torch.uint8 or batch.ndim != 5 or batch.shape[-1] != 3:
        raise ValueError(
            f"batch must be a uint8 tensor (B, T, H, W, 3), got {getattr(batch, 'dtype', type(batch).__name__)} "
            f"{tuple(getattr(batch, 'shape', ()))}; pass ClipStore.get_batch / make_loader's 'frames'"
        )
    x = batch.to(device, non_blocking=non_blocking)
    x = x.permute(0, 4, 1, 2, 3).to(dtype, memory_format=torch.contiguous_format).div_(255)
    if (mean is None) != (std is None):
        raise ValueError("pass both mean and std (per channel), or neither")
    if mean is not None:
        m = torch.as_tensor(mean, dtype=dtype, device=x.device).view(1, 3, 1, 1, 1)
        s = torch.as_tensor(std, dtype=dtype, device=x.device).view(1, 3, 1, 1, 1)
        x.sub_(m).div_(s)
    return x


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m marlin_lite.clipstore", description="Write, verify and inspect clip stores.")
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="write a clip store from SynthFace or a folder of videos")
    src = w.add_mutually_exclusive_group(required=True)
    src.add_argument("--synthface", action="store_true", help="render a SynthFace split")
    src.add_argument("--videos", metavar="DIR", help="cut the videos under DIR into clips")
    src.add_argument("--dataset", metavar="NAME", help="cut the videos of a marlin_lite.datasets loader (ytf, celebvhq, ffpp, mosei, lrs2; with --root)")
    w.add_argument("--out", required=True, help="the store's folder")
    w.add_argument("--frames", type=int, default=16, help="frames per clip (16; the tiny model takes 8)")
    w.add_argument("--size", type=int, default=224, help="frame side in pixels (224; the tiny model takes 64)")
    w.add_argument("--shard-size", type=int, default=256, help="clips per shard file")
    w.add_argument("--workers", type=int, default=0, help="processes loading clips in parallel")
    w.add_argument("--no-parsing", action="store_true", help="do not store parsing maps")
    w.add_argument("--overwrite", action="store_true", help="replace a store of a different config in --out")
    w.add_argument("--no-progress", action="store_true")
    w.add_argument("--split", default="train", choices=("train", "val", "test", "all"), help="SynthFace or --dataset split")
    g = w.add_argument_group("SynthFace")
    g.add_argument("--num-identities", type=int, default=24)
    g.add_argument("--clips-per-identity", type=int, default=4)
    g.add_argument("--world-seed", type=int, default=0)
    g.add_argument("--fake-fraction", type=float, default=0.0)
    g.add_argument("--framing", default="scene", choices=("scene", "face"), help="'face': MARLIN-like face crops (the course recipe)")
    g.add_argument("--expressions", default="subtle", choices=("subtle", "marked"), help="'marked': the course recipe's expressions")
    v = w.add_argument_group("videos and data sets")
    v.add_argument("--root", help="the data set's root folder (with --dataset)")
    v.add_argument("--limit", type=int, default=None, help="only the first N videos of the data set (quick runs)")
    v.add_argument("--sample-rate", type=int, default=2, help="take every N-th source frame (MARLIN: 2)")
    v.add_argument("--stride", type=int, default=None, help="source frames between clip starts (default frames x sample rate)")
    for name, text in (("verify", "check every shard's SHA-256"), ("info", "print a summary as JSON")):
        s = sub.add_parser(name, help=text)
        s.add_argument("path", help="the store's folder")
    return p


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 1 verification failed, 2 error)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "write":
            if args.synthface:
                source: Any = SynthFaceDataset(
                    args.split, num_identities=args.num_identities, clips_per_identity=args.clips_per_identity,
                    world_seed=args.world_seed, size=args.size, num_frames=args.frames, fake_fraction=args.fake_fraction,
                    framing=args.framing, expressions=args.expressions,
                )
            else:
                videos: Any = args.videos
                if args.dataset:
                    from marlin_lite.datasets import get_dataset

                    if not args.root:
                        raise ValueError("--dataset needs --root, the data set's folder")
                    videos = get_dataset(args.dataset, args.root, args.split, clip_len=args.frames, sample_rate=args.sample_rate,
                                         limit=args.limit)
                source = VideoClips(videos, clip_len=args.frames, sample_rate=args.sample_rate, stride=args.stride,
                                    parsing=False if args.no_parsing else "auto")
                for line in source.skipped:
                    print(f"skipped (too short): {line}", file=sys.stderr)
            store = write_clip_store(
                source, args.out, clip_len=args.frames, size=args.size, shard_size=args.shard_size,
                parsing=False if args.no_parsing else None, workers=args.workers, overwrite=args.overwrite,
                progress=not args.no_progress,
            )
            print(store)
            return 0
        store = ClipStore(args.path)
        if args.command == "info":
            print(json.dumps(store.info(), indent=1))
            return 0
        try:
            summary = store.verify(progress=True)
        except ValueError as err:
            print(f"FAILED: {err}", file=sys.stderr)
            return 1
        print(f"ok: {summary['files']} files, {summary['bytes'] / 1e9:.3f} GB, SHA-256 match ({summary['seconds']} s)")
        return 0
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
