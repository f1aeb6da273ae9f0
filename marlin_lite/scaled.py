"""The GPU track: what ``notebooks/scaled/*.ipynb`` run, as plain functions of the package.

The two scaled notebooks hold no logic of their own: each cell calls one function here, with the
notebook's papermill parameters (``configs/pretrain_*.yaml``, ``configs/downstream_*.yaml``).
The same functions run without Jupyter (a GPU machine without papermill, a batch job)::

    python -m marlin_lite.scaled pretrain   --params configs/pretrain_base_synthface_gpu.yaml
    python -m marlin_lite.scaled downstream --params configs/downstream_smoke.yaml --set seeds=[0,1]

**Pretraining** (``notebooks/scaled/pretrain.ipynb``):

1. :func:`plan_pretraining`: turn the parameters into the :class:`~marlin_lite.pretrain.PretrainConfig`
   that the CLI would build (``load_config(config, **overrides)``), prepare the data (SynthFace
   rendered on the fly, a clip store, or a real data set / folder of videos written into a clip
   store once by :func:`prepare_pretrain_data`), convert epochs to steps, and write down the
   equivalent ``python -m marlin_lite.pretrain`` and ``torchrun`` commands;
2. :func:`run_pretraining`: train in this process (``num_gpus <= 1``) or launch the torchrun
   command (``num_gpus > 1``); ``resume`` continues from the run folder's checkpoint;
3. :func:`read_metrics`, :func:`throughput`, :func:`training_figure`, :func:`reconstruction_sample`
   and :func:`write_summary` (``summary.json`` in the run folder).

**Downstream** (``notebooks/scaled/downstream.ipynb``): :func:`load_encoder` (a MARLIN-lite
checkpoint, official weights by name or file - downloaded only with ``allow_download`` - or a
random encoder), :func:`downstream_data` (SynthFace splits, or the loaders of
:mod:`marlin_lite.datasets`: CelebV-HQ for FAR, CMU-MOSEI for FER, FaceForensics++ for DFD) with
the task's :class:`~marlin_lite.tasks.probe.TaskSpec`, and :func:`run_downstream` (the baselines
of :func:`~marlin_lite.tasks.probe.run_baselines`, or :func:`~marlin_lite.tasks.lipsync.run_lipsync`
for lip sync) -> a :class:`~marlin_lite.tasks.results.ResultsTable` saved as JSON and Markdown.

Relative paths in parameters are resolved against the repository root (where the README's
commands run), so a notebook behaves the same whatever papermill's working directory is.

This module imports only what pretraining needs at import time (no PyAV): the GPU machine may
lack it, and the data-set loaders (which decode video) are imported when first used.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from marlin_lite import encoders
from marlin_lite.clipstore import INDEX, ClipStore, VideoClips, write_clip_store
from marlin_lite.data import SynthFaceDataset
from marlin_lite.faces import LandmarkParser
from marlin_lite.masking import FACE_GUIDED, TokenGrid, make_visible_mask
from marlin_lite.pretrain import (
    CHECKPOINT,
    PretrainConfig,
    clear_run,
    load_config,
    model_from_checkpoint,
    read_metrics,
    reconstruction_figure,
    run_files_in,
    train,
)
from marlin_lite.utils import atomic_write_bytes, find_config, json_bytes, pick_device, project_root

REPO_ROOT = project_root()
SUMMARY = "summary.json"
#: Files of a run folder that ``overwrite=True`` removes (plus ``recon_step*.png`` and rank digests).

__all__ = [
    "DOWNSTREAM_PARAMETERS",
    "DownstreamData",
    "DownstreamResult",
    "LandmarkParsing",
    "PRETRAIN_PARAMETERS",
    "PretrainOutcome",
    "PretrainPlan",
    "command_line",
    "downstream_data",
    "epochs_to_steps",
    "feature_cache",
    "headline_rows",
    "launch",
    "load_encoder",
    "main",
    "methods_for",
    "plan_pretraining",
    "prepare_pretrain_data",
    "pretrain_command",
    "pretrain_pipeline",
    "read_metrics",
    "read_params",
    "real_task_spec",
    "reconstruction_sample",
    "resolve_path",
    "results_figure",
    "run_downstream",
    "run_pretraining",
    "throughput",
    "training_figure",
    "training_set_size",
    "write_summary",
]

# --------------------------------------------------------------------------------------
# Parameters of the two notebooks (their `parameters` cells hold these, in this order)
# --------------------------------------------------------------------------------------

#: name -> (default, comment): the notebook's cell tagged ``parameters`` assigns them, in this
#: order, with these comments (``tests/test_scaled.py`` checks that the two agree).
PRETRAIN_PARAMETERS: dict[str, tuple[Any, str]] = {
    "config": ("configs/tiny.yaml", "PretrainConfig YAML (the CLI's --config); None: the dataclass defaults"),
    "dataset": ("synthface", "synthface | a clip store folder | a folder of videos | ytf, celebvhq, ffpp, mosei, lrs2 (with data_root)"),
    "data_root": (None, "root folder of a real data set (when dataset is its name)"),
    "data_split": ("train", "split of a real data set written into the clip store"),
    "data_limit": (None, "only the first N videos of a real data set (quick runs)"),
    "store_dir": (None, "clip store to write or reuse (default runs/clipstores/<data>_<split>_<T>x<S>)"),
    "use_clip_store": (False, "SynthFace: render the split into a clip store first (fast GPU feeding) instead of on the fly"),
    "face_parsing": ("auto", "parsing maps for fasking: auto (the source's, if any) | landmarks (MediaPipe FaceMesh) | none"),
    "data_workers": (0, "processes that write the clip store"),
    "preset": (None, "model preset tiny | small | base | large (None: the config's)"),
    "batch_size": (None, "clips per GPU (process) per step"),
    "max_steps": (None, "training steps (None: the config's, or from epochs)"),
    "epochs": (None, "passes over the training clips, converted to max_steps (instead of max_steps)"),
    "warmup_epochs": (None, "warm-up in epochs, converted to warmup_steps"),
    "mask_strategy": (None, "random | frame | tube | fasking | fasking_opp | fasking_paper"),
    "mask_ratio": (None, "masked share of the tokens (MARLIN: 0.9)"),
    "precision": (None, "auto (bf16 on CUDA) | bf16 | fp32"),
    "compile": (None, "torch.compile the autoencoder"),
    "device": (None, "auto | cuda | cpu"),
    "num_workers": (None, "data loader workers (reader threads for a clip store)"),
    "log_every": (None, "steps between metrics.jsonl lines"),
    "ckpt_every": (None, "steps between checkpoints"),
    "figure_every": (None, "steps between reconstruction figures in out_dir (0: none)"),
    "overrides": ({}, "any other PretrainConfig field, e.g. {lr: 1.5e-4, adversarial: false, model_overrides: {enc_depth: 2}}"),
    "out_dir": ("runs/scaled_pretrain", "the run folder (checkpoint.pt, metrics.jsonl, summary.json, figures)"),
    "resume": (False, "continue from out_dir/checkpoint.pt (a fresh start when there is none)"),
    "overwrite": (False, "delete a previous run in out_dir first (otherwise an existing run is an error unless resume)"),
    "num_gpus": (1, "processes: up to 1 trains in this kernel, more runs torchrun --nproc_per_node num_gpus"),
    "launch_torchrun": (True, "with num_gpus > 1: launch torchrun from here (false: only print the command)"),
}

DOWNSTREAM_PARAMETERS: dict[str, tuple[Any, str]] = {
    "task": ("far", "far | fer | dfd | ls"),
    "dataset": ("synthface", "synthface, or a real data set: celebvhq (far), mosei (fer), ffpp (dfd), lrs2 (ls)"),
    "data_root": (None, "root folder of a real data set"),
    "data_limit": (None, "only the first N videos of each split (quick runs)"),
    "label": (None, "labels on real data: celebvhq attributes | actions; mosei sentiment_class | sentiment_class7 | emotions_present"),
    "checkpoint": ("runs/scaled_pretrain/checkpoint.pt", "our checkpoint.pt (or its run folder), official weights (name or file), or random:<preset>"),
    "allow_download": (False, "download official weights by name when they are not in the cache"),
    "mode": ("linear_probe", "linear_probe | finetune | all (which baselines: see marlin_lite.scaled.methods_for)"),
    "methods": (None, "an explicit list of methods instead of mode"),
    "fractions": ([1.0], "shares of the training labels (the low-data regime)"),
    "seeds": ([0], "one run per seed; tables show mean +- std"),
    "feature_batch_size": (16, "clips per encoder forward when extracting features"),
    "precision": ("auto", "auto (bf16 on CUDA) | bf16 | fp32"),
    "device": (None, "where features, fine-tuning and lip-sync training run (None: cuda if available)"),
    "sample_rate": (None, "frame stride inside a window (None: 1 on SynthFace, 2 on real data as MARLIN)"),
    "synthface": ({}, "SynthFace splits: num_identities, clips_per_identity, world_seed, fractions, video_frames, fake_fraction"),
    "probe": ({}, "linear_probe arguments, e.g. {protocol: official} (the official FAR code's) or {lr: 1.0e-4, epochs: 200}"),
    "finetune": ({}, "fine_tune arguments, e.g. {epochs: 5, lr: 1.0e-4}"),
    "lipsync": ({}, "run_lipsync arguments (task ls), e.g. {steps: 300, expert_steps: 300}"),
    "lipsync_data": ({}, "LRS2 clips for task ls (lrs2_lipsync_splits): crop (landmarks | frame), segment_frames, max_segments, n_mels, workers"),
    "progress": (True, "progress bars"),
    "cache_dir": (None, "feature cache folder (default <out_dir>/features)"),
    "out_dir": ("runs/scaled_downstream", "results.json, results.md and run.json go here"),
}


def _defaults(table: dict[str, tuple[Any, str]]) -> dict[str, Any]:
    return {k: v[0] for k, v in table.items()}


def read_params(path: str | os.PathLike[str], kind: str) -> dict[str, Any]:
    """The parameters of a papermill YAML file (``kind`` = ``"pretrain"`` or ``"downstream"``).

    Unknown keys are an error naming the file and the key (papermill itself would inject them
    silently, and a typo would then change nothing).
    """
    import yaml

    table = {"pretrain": PRETRAIN_PARAMETERS, "downstream": DOWNSTREAM_PARAMETERS}.get(kind)
    if table is None:
        raise ValueError(f"kind must be 'pretrain' or 'downstream', got {kind!r}")
    p = resolve_path(path)
    if not p.is_file():
        raise FileNotFoundError(f"parameter file {p} not found (they live in configs/pretrain_*.yaml and configs/downstream_*.yaml)")
    values = yaml.safe_load(p.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{p} must hold a mapping of notebook parameters, got {type(values).__name__}")
    unknown = sorted(set(values) - set(table))
    if unknown:
        raise ValueError(f"unknown {kind} notebook parameter(s) in {p}: {unknown}; known: {sorted(table)}")
    return values


def resolve_path(path: str | os.PathLike[str] | None, base: Path = REPO_ROOT) -> Path | None:
    """``path`` as an absolute :class:`Path`: ``~`` expanded, relative paths taken from ``base``
    (the repository root); ``None`` stays ``None``."""
    if path is None:
        return None
    p = Path(path).expanduser()
    return p if p.is_absolute() else base / p


def _config_file(config: str | os.PathLike[str]) -> Path:
    """A recipe path read from the repository root, else a shipped recipe by name (``tiny``)."""
    path = resolve_path(config)
    return path if path.exists() else find_config(config)


# --------------------------------------------------------------------------------------
# Pretraining data: SynthFace, a clip store, or a real data set written into a clip store
# --------------------------------------------------------------------------------------


class LandmarkParsing:
    """A data set of whole videos plus parsing maps drawn from face landmarks.

    Real data sets ship no parsing maps (MARLIN drew them with FaceXZoo), but face-guided
    masking needs them. Wrapping a loader of :mod:`marlin_lite.datasets` (or anything with
    ``__len__`` and ``frames(i) -> uint8 (T, H, W, 3)``) gives it ``parsing(i) -> uint8 (T, H, W)``
    from ``parser`` (default: :class:`marlin_lite.faces.LandmarkParser`, MediaPipe FaceMesh,
    the optional ``faces`` extra), so :class:`~marlin_lite.clipstore.VideoClips` stores them.
    Names, labels, ``num_frames`` and ``spec`` come from the source (the spec names the parser).
    """

    has_parsing = True

    def __init__(self, source: Any, parser: Any = None) -> None:
        if not (hasattr(source, "__len__") and callable(getattr(source, "frames", None))):
            raise ValueError(f"source must have __len__ and frames(i) (a marlin_lite.datasets loader), got {type(source).__name__}")
        self.source = source
        self._parser = parser
        self._last: tuple[int, Any] | None = None

    @property
    def parser(self) -> Any:
        if self._parser is None:
            self._parser = LandmarkParser()
        return self._parser

    @property
    def items(self) -> Any:
        return getattr(self.source, "items", None)

    def __len__(self) -> int:
        return len(self.source)

    def num_frames(self, i: int) -> int:
        if callable(getattr(self.source, "num_frames", None)):
            return int(self.source.num_frames(i))
        return len(self.frames(i))

    def frames(self, i: int) -> Any:
        if self._last is None or self._last[0] != i:  # VideoClips asks for frames, then parsing
            self._last = (i, self.source.frames(i))
        return self._last[1]

    def parsing(self, i: int) -> Any:
        return self.parser.parse(self.frames(i)).parsing

    def spec(self) -> str:
        inner = self.source.spec() if callable(getattr(self.source, "spec", None)) else type(self.source).__name__
        return json.dumps({"source": inner, "parsing": getattr(self.parser, "name", type(self.parser).__name__)}, sort_keys=True)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_last": None}


def _dataset_name(dataset: str) -> str | None:
    """The registry name of a real data set, or ``None`` when ``dataset`` is not one."""
    from marlin_lite.datasets import canonical_name  # noqa: PLC0415 (decodes video: imported on use)

    try:
        return canonical_name(dataset)
    except ValueError:
        return None


def prepare_pretrain_data(
    dataset: str,
    *,
    num_frames: int,
    img_size: int,
    data_root: str | os.PathLike[str] | None = None,
    data_split: str = "train",
    data_limit: int | None = None,
    store_dir: str | os.PathLike[str] | None = None,
    use_clip_store: bool = False,
    face_parsing: Any = "auto",
    need_parsing: bool = False,
    data_workers: int = 0,
    synthface: dict[str, Any] | None = None,
    progress: bool = True,
) -> tuple[str | None, str]:
    """The ``data_path`` of the pretraining config and a one-line description of the data.

    Args:
        dataset: ``"synthface"`` (rendered on the fly: ``data_path`` ``None``; with
            ``use_clip_store`` the training split is written into a clip store first); a clip
            store folder (used as it is); a data set name of :mod:`marlin_lite.datasets` with
            ``data_root``; or a folder of videos (e.g. the output of ``python -m
            marlin_lite.preprocess``, whose ``<name>.npz`` parsing maps are stored too).
        num_frames, img_size: the model's clip shape; stores are written (and checked) at it.
        store_dir: where to write the store (default ``runs/clipstores/<data>_<split>_<T>x<S>``).
            A finished store of the same source and shape is reused; one of another config is
            an error naming what differs.
        face_parsing: ``"auto"`` (maps when the source has them), ``"landmarks"`` (draw them with
            :class:`LandmarkParsing`), ``"none"``, or a parser object (anything with
            ``parse(frames).parsing``) used like ``"landmarks"``.
        need_parsing: the masking needs maps (face-guided); without any, a clear error.
        synthface: ``num_identities``, ``clips_per_identity``, ``world_seed`` of the SynthFace
            split (``use_clip_store``; the config's values).
    """
    if not isinstance(dataset, str) or not dataset:
        raise ValueError(f"dataset must be 'synthface', a clip store or video folder, or a data set name; got {dataset!r}")
    parse_mode = face_parsing if isinstance(face_parsing, str) else "landmarks"
    if parse_mode not in ("auto", "landmarks", "none"):
        raise ValueError(f"face_parsing must be 'auto', 'landmarks', 'none' or a parser object, got {face_parsing!r}")
    parser = None if isinstance(face_parsing, str) else face_parsing
    shape = f"{num_frames}x{img_size}"

    def default_store(stem: str) -> Path:
        return resolve_path(store_dir) if store_dir is not None else REPO_ROOT / "runs" / "clipstores" / f"{stem}_{data_split}_{shape}"

    def store_parsing() -> bool | None:
        return False if parse_mode == "none" else None

    if dataset.lower() == "synthface":
        if not use_clip_store:
            return None, "SynthFace, rendered on the fly (cached in memory)"
        kw = dict(synthface or {})
        source = SynthFaceDataset(data_split, size=img_size, num_frames=num_frames, **kw)
        out = default_store("synthface")
        store = write_clip_store(source, out, clip_len=num_frames, size=img_size, parsing=store_parsing(), workers=data_workers,
                                 progress=progress)
        return str(out), f"SynthFace {data_split} split in a clip store: {store}"

    path = resolve_path(dataset)
    name = None
    if not path.exists():
        name = _dataset_name(dataset)
        if name is None:
            raise FileNotFoundError(
                f"dataset {dataset!r} is neither 'synthface', an existing folder ({path}), nor a data set name "
                "(ytf, celebvhq, ffpp, mosei, lrs2)"
            )
    if name is None and (path / INDEX).is_file():
        return str(path), f"clip store {path}"
    if name is not None:
        from marlin_lite.datasets import get_dataset

        if data_root is None:
            raise ValueError(f"dataset {dataset!r} needs data_root, the folder of the downloaded data set")
        videos: Any = get_dataset(name, resolve_path(data_root), data_split, clip_len=num_frames, sample_rate=2, limit=data_limit)
        stem = name
    elif path.is_dir():
        videos, stem = path, path.name
    else:
        raise ValueError(f"dataset {path} is a file; pass a clip store folder, a folder of videos, or a data set name")
    if parse_mode == "landmarks":
        if name is None:
            raise ValueError("face_parsing='landmarks' works on data sets (dataset = ytf, celebvhq, ...); a folder of "
                             "preprocessed videos brings its own maps (face_parsing='auto')")
        videos = LandmarkParsing(videos, parser)
    clips = VideoClips(videos, clip_len=num_frames, sample_rate=2, parsing=False if parse_mode == "none" else "auto")
    for line in clips.skipped[:10]:
        print(f"skipped (too short): {line}", file=sys.stderr)
    if need_parsing and not clips.has_parsing:
        raise ValueError(
            f"the masking strategy needs parsing maps but {dataset!r} has none: set face_parsing='landmarks' (MediaPipe "
            "FaceMesh, the 'faces' extra), preprocess the videos with python -m marlin_lite.preprocess, or use "
            "mask_strategy='tube'"
        )
    out = default_store(stem)
    store = write_clip_store(clips, out, clip_len=num_frames, size=img_size, parsing=store_parsing(), workers=data_workers, progress=progress)
    return str(out), f"{stem} ({data_split}) in a clip store: {store}"


def training_set_size(cfg: PretrainConfig) -> int:
    """How many clips one epoch of ``cfg`` passes over (the clip store's, or the SynthFace split's)."""
    if cfg.data_path:
        return len(ClipStore(cfg.data_path))
    mcfg = cfg.model_config()
    return len(SynthFaceDataset("train", num_identities=cfg.num_identities, clips_per_identity=cfg.clips_per_identity,
                                world_seed=cfg.world_seed, size=mcfg.img_size, num_frames=mcfg.num_frames))


def epochs_to_steps(epochs: float, num_clips: int, global_batch: int) -> int:
    """Steps of ``epochs`` passes over ``num_clips`` at ``global_batch`` clips per step.

    One epoch is ``num_clips // global_batch`` steps (the sampler drops the batch that would cross
    an epoch boundary); at least one step.
    """
    if not (isinstance(epochs, (int, float)) and epochs > 0):
        raise ValueError(f"epochs must be a number > 0, got {epochs!r}")
    if global_batch < 1 or num_clips < global_batch:
        raise ValueError(f"the data has {num_clips} clips, fewer than one global batch of {global_batch}")
    return max(1, round(epochs * (num_clips // global_batch)))


# --------------------------------------------------------------------------------------
# Pretraining: plan, commands, run
# --------------------------------------------------------------------------------------

#: PretrainConfig fields the command line cannot set (they have no flag).
_NO_FLAG = ("model_overrides", "betas")


def _flag_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def pretrain_command(
    config: str | os.PathLike[str] | None, overrides: dict[str, Any], *, resume: bool = False, nproc: int = 1, python: str | None = None
) -> list[str]:
    """The argument list that runs ``load_config(config, **overrides)`` from the command line.

    ``nproc > 1`` gives the torchrun form (``python -m torch.distributed.run --standalone
    --nproc_per_node N -m marlin_lite.pretrain ...``, what ``torchrun`` runs), else ``python -m
    marlin_lite.pretrain ...``. Overrides without a flag (``model_overrides``, ``betas``) are an
    error: write a YAML file with them instead (:func:`plan_pretraining` does).
    """
    bad = [k for k in overrides if k in _NO_FLAG]
    if bad:
        raise ValueError(f"{bad} have no command-line flag; put them in a YAML config")
    python = python or sys.executable
    head = [python, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)] if nproc > 1 else [python]
    cmd = head + ["-m", "marlin_lite.pretrain"]
    if config is not None:
        cmd += ["--config", str(config)]
    for key, value in overrides.items():
        cmd += ["--" + key.replace("_", "-"), _flag_value(value)]
    if resume:
        cmd.append("--resume")
    return cmd


def command_line(cmd: Sequence[str]) -> str:
    """A command for people: ``python`` for this interpreter, ``torchrun`` for its launcher,
    repository paths relative to the root, shell quoting."""
    words = list(cmd)
    if words[:3] == [sys.executable, "-m", "torch.distributed.run"]:
        words = ["torchrun"] + words[3:]
    elif words and words[0] == sys.executable:
        words[0] = "python"
    root = str(REPO_ROOT) + os.sep
    return shlex.join(w[len(root):] if w.startswith(root) else w for w in words)


@dataclass
class PretrainPlan:
    """What :func:`run_pretraining` runs: the config, its source, the data and the commands."""

    cfg: PretrainConfig
    config_path: Path | None
    overrides: dict[str, Any]
    data: str
    resume: bool
    num_gpus: int
    launch_torchrun: bool
    command: list[str]
    torchrun: list[str]
    launch_config: Path | None = None  # the resolved YAML the commands use when a flag is missing
    params: dict[str, Any] = field(default_factory=dict)

    def launch_command(self) -> list[str]:
        """The torchrun command for ``num_gpus`` processes (what :func:`run_pretraining` launches)."""
        config = self.launch_config if self.launch_config is not None else self.config_path
        overrides = {} if self.launch_config is not None else self.overrides
        return pretrain_command(config, overrides, resume=self.resume, nproc=max(self.num_gpus, 2))

    @property
    def out_dir(self) -> Path:
        return Path(self.cfg.out_dir)

    @property
    def world_size(self) -> int:
        return max(int(self.num_gpus), 1)

    def describe(self) -> str:
        """A few lines for the notebook: model, data, schedule, hardware, commands."""
        c, m = self.cfg, self.cfg.model_config()
        gb = c.batch_size * self.world_size
        lines = [
            f"model      {m.name}: {m.num_frames} frames of {m.img_size}x{m.img_size}, encoder {m.enc_dim}x{m.enc_depth}, "
            f"decoder {m.dec_dim}x{m.dec_depth}",
            f"data       {self.data}",
            f"masking    {c.mask_strategy} at {c.mask_ratio}",
            f"schedule   {c.max_steps} steps of {c.batch_size} clips x {self.world_size} process(es) = {gb} clips/step; "
            f"peak lr {c.lr * gb / 256:.3g} (lr {c.lr:g} per 256 clips), warm-up {c.warmup_steps} steps",
            f"hardware   device {c.device}, precision {c.precision}, compile {c.compile}, {c.num_workers} loader workers",
            f"run folder {c.out_dir}" + (" (resuming)" if self.resume else ""),
            "",
            "the same run from the command line:",
            "  " + command_line(self.command),
            f"on {max(self.num_gpus, 2)} GPUs:",
            "  " + command_line(self.torchrun),
        ]
        return "\n".join(lines)


def _pretrain_overrides(params: dict[str, Any]) -> dict[str, Any]:
    named = {
        "model": params.get("preset"),
        "batch_size": params.get("batch_size"),
        "max_steps": params.get("max_steps"),
        "mask_strategy": params.get("mask_strategy"),
        "mask_ratio": params.get("mask_ratio"),
        "precision": params.get("precision"),
        "compile": params.get("compile"),
        "device": params.get("device"),
        "num_workers": params.get("num_workers"),
        "log_every": params.get("log_every"),
        "ckpt_every": params.get("ckpt_every"),
        "figure_every": params.get("figure_every"),
    }
    named = {k: v for k, v in named.items() if v is not None}
    extra = dict(params.get("overrides") or {})
    clash = sorted(k for k in extra if k in named or k in ("out_dir", "data_path"))
    if clash:
        raise ValueError(f"overrides sets {clash}, which are notebook parameters of their own; set them there")
    return {**named, **extra}


def plan_pretraining(
    config: str | os.PathLike[str] | None = "configs/tiny.yaml",
    dataset: str = "synthface",
    data_root: str | os.PathLike[str] | None = None,
    data_split: str = "train",
    data_limit: int | None = None,
    store_dir: str | os.PathLike[str] | None = None,
    use_clip_store: bool = False,
    face_parsing: Any = "auto",
    data_workers: int = 0,
    preset: str | None = None,
    batch_size: int | None = None,
    max_steps: int | None = None,
    epochs: float | None = None,
    warmup_epochs: float | None = None,
    mask_strategy: str | None = None,
    mask_ratio: float | None = None,
    precision: str | None = None,
    compile: bool | None = None,  # noqa: A002 (the PretrainConfig field's name)
    device: str | None = None,
    num_workers: int | None = None,
    log_every: int | None = None,
    ckpt_every: int | None = None,
    figure_every: int | None = None,
    overrides: dict[str, Any] | None = None,
    out_dir: str | os.PathLike[str] | None = "runs/scaled_pretrain",
    resume: bool = False,
    overwrite: bool = False,
    num_gpus: int = 1,
    launch_torchrun: bool = True,
) -> PretrainPlan:
    """Turn the pretraining notebook's parameters into a :class:`PretrainPlan` (see
    :data:`PRETRAIN_PARAMETERS` for each one).

    The config is ``load_config(config, **overrides)``, the object the command line builds from
    the same YAML file and flags. Data are prepared first (a clip store is written or reused, see
    :func:`prepare_pretrain_data`), then ``epochs`` / ``warmup_epochs`` become steps.

    A run folder that already holds a checkpoint is an error unless ``resume`` (continue it) or
    ``overwrite`` (delete the previous run's files first). ``resume`` without a checkpoint starts
    afresh.

    When the overrides include fields without a command-line flag (``model_overrides``,
    ``betas``), the resolved config is written to ``<out_dir>/launch_config.yaml`` and the
    commands use it.
    """
    params = {k: v for k, v in locals().items()}
    config_path = _config_file(config)
    over = _pretrain_overrides(params)
    base = load_config(config_path, **over)
    mcfg = base.model_config()
    synth = {"num_identities": base.num_identities, "clips_per_identity": base.clips_per_identity, "world_seed": base.world_seed}
    data_path, data_note = prepare_pretrain_data(
        dataset, num_frames=mcfg.num_frames, img_size=mcfg.img_size, data_root=data_root, data_split=data_split,
        data_limit=data_limit, store_dir=store_dir, use_clip_store=use_clip_store, face_parsing=face_parsing,
        need_parsing=base.mask_strategy in FACE_GUIDED, data_workers=data_workers, synthface=synth,
        progress=base.progress,
    )
    if data_path is not None:
        over["data_path"] = data_path
    elif base.data_path:
        over["data_path"] = ""  # the YAML names a store, the notebook asks for SynthFace
    over["out_dir"] = str(resolve_path(out_dir if out_dir is not None else base.out_dir))
    nproc = max(int(num_gpus), 1)
    cfg = load_config(config_path, **over)
    if epochs is not None or warmup_epochs is not None:
        n = training_set_size(cfg)
        gb = cfg.batch_size * nproc
        if epochs is not None:
            over["max_steps"] = epochs_to_steps(epochs, n, gb)
        if warmup_epochs is not None:
            over["warmup_steps"] = epochs_to_steps(warmup_epochs, n, gb) if warmup_epochs > 0 else 0
        cfg = load_config(config_path, **over)
    out = Path(cfg.out_dir)
    has_ckpt = (out / CHECKPOINT).is_file()
    if overwrite and out.is_dir():
        clear_run(out)
        has_ckpt = False
    held = run_files_in(out)
    if held and not resume:
        raise ValueError(f"{out} holds a run already ({', '.join(held)}); set resume=True to continue it, overwrite=True to "
                         "start over, or choose another out_dir")
    if resume and not has_ckpt:
        print(f"resume: no checkpoint in {out} yet, starting a fresh run")
        clear_run(out)  # a run killed before its first checkpoint leaves only a log: nothing to continue
    resume = bool(resume and has_ckpt)
    launch_yaml = None
    if any(k in _NO_FLAG for k in over):
        import yaml

        launch_yaml = out / "launch_config.yaml"
        values = {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(cfg).items()}
        atomic_write_bytes(launch_yaml, yaml.safe_dump(values, sort_keys=False).encode())
        cmd_config, cmd_over = launch_yaml, {}
    else:
        cmd_config, cmd_over = config_path, over
    command = pretrain_command(cmd_config, cmd_over, resume=resume)
    torchrun = pretrain_command(cmd_config, cmd_over, resume=resume, nproc=max(nproc, 2))
    return PretrainPlan(cfg, config_path, over, data_note, resume, int(num_gpus), bool(launch_torchrun), command, torchrun,
                        launch_yaml, params)


@dataclass
class PretrainOutcome:
    """What a run left: the folder, how it ran, and (in-process runs) the trained model."""

    out_dir: Path
    launched: str  # "in_process" | "torchrun" | "not_launched"
    seconds: float
    step: int
    model: Any = None

    @property
    def trained(self) -> bool:
        return self.launched != "not_launched" and (self.out_dir / CHECKPOINT).is_file()


def launch(cmd: Sequence[str], *, log_path: Path | None = None, cwd: Path = REPO_ROOT, echo: bool = True) -> None:
    """Run ``cmd`` (e.g. the torchrun command), printing its output as it comes (and saving it to
    ``log_path``); raise ``RuntimeError`` with the last lines if it fails."""
    env = dict(os.environ)
    if (REPO_ROOT / "marlin_lite").is_dir():  # a checkout: the children import this copy of the package
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env.setdefault("PYTHONUNBUFFERED", "1")
    tail: list[str] = []
    log = open(log_path, "w") if log_path is not None else None  # noqa: SIM115
    try:
        with subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                tail = (tail + [line])[-40:]
                if log is not None:
                    log.write(line)
                if echo and "\r" not in line:  # progress bars redraw with carriage returns: keep the log short
                    print(line, end="", flush=True)
            code = proc.wait()
    finally:
        if log is not None:
            log.close()
    if code != 0:
        raise RuntimeError(f"{command_line(cmd)} failed with exit status {code}; its last lines:\n" + "".join(tail))


def run_pretraining(plan: PretrainPlan) -> PretrainOutcome:
    """Train as planned: in this process (``num_gpus <= 1``), or by launching the torchrun command
    (``num_gpus > 1`` and ``launch_torchrun``; otherwise the command is printed and nothing runs)."""
    out = plan.out_dir
    start = time.perf_counter()
    if plan.num_gpus > 1:
        if not plan.launch_torchrun:
            print("launch_torchrun is false: run this in a shell, then rerun this notebook with resume=True to see the results:")
            print("  " + command_line(plan.torchrun))
            return PretrainOutcome(out, "not_launched", 0.0, 0)
        cmd = plan.launch_command()
        print("launching: " + command_line(cmd), flush=True)
        out.mkdir(parents=True, exist_ok=True)
        launch(cmd, log_path=out / "torchrun.log")
        rows = read_metrics(out)
        return PretrainOutcome(out, "torchrun", time.perf_counter() - start, int(rows[-1]["step"]) if rows else 0)
    result = train(plan.cfg, resume=plan.resume)
    return PretrainOutcome(out, "in_process", time.perf_counter() - start, result.step, result.model)


# --------------------------------------------------------------------------------------
# Pretraining: results
# --------------------------------------------------------------------------------------


def throughput(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Clips/s and TFLOP/s from logged rows: the median over logging windows (the first one, which
    holds start-up and compilation, is left out when there are others), the last and the best."""
    rates = [(r["clips_per_s"], r.get("tflops", math.nan)) for r in rows if "clips_per_s" in r]
    if not rates:
        return {"clips_per_s": math.nan, "clips_per_s_last": math.nan, "clips_per_s_best": math.nan, "tflops": math.nan, "windows": 0}
    steady = rates[1:] if len(rates) > 1 else rates
    return {
        "clips_per_s": statistics.median(r[0] for r in steady),
        "clips_per_s_last": rates[-1][0],
        "clips_per_s_best": max(r[0] for r in rates),
        "tflops": statistics.median(r[1] for r in steady),
        "windows": len(steady),
    }


def training_figure(rows: Sequence[dict[str, float]]):
    """Loss curves (total and reconstruction, log scale), the critic and the adversarial term,
    and throughput over steps: a ``matplotlib.figure.Figure`` (no pyplot state)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 3.2))
    ax = fig.subplots(1, 3)
    steps = [r["step"] for r in rows]
    for key, label in (("loss", "loss (rec. + adv.)"), ("rec", "reconstruction MSE")):
        if any(key in r for r in rows):
            ax[0].plot(steps, [r.get(key, math.nan) for r in rows], label=label)
    ax[0].set_yscale("log")
    ax[0].set_title("losses")
    for key in ("critic", "adv"):
        if any(key in r for r in rows):
            ax[1].plot(steps, [r.get(key, math.nan) for r in rows], label=key)
    ax[1].set_title("WGAN critic and adversarial term")
    ax[2].plot(steps, [r.get("clips_per_s", math.nan) for r in rows], marker=".")
    ax[2].set_title("throughput (clips/s)")
    for a in ax:
        a.set_xlabel("step")
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=8)
    fig.tight_layout()
    return fig


def reconstruction_sample(model: Any, cfg: PretrainConfig, *, index: int = 0, seed: int = 0, device: str | None = None):
    """The four-panel reconstruction figure (:func:`marlin_lite.pretrain.reconstruction_figure`)
    of one clip of the run's data (a clip store's clip, or a SynthFace validation clip: people
    the model never saw), masked with the run's strategy and a fixed seed."""
    mcfg = model.cfg
    if cfg.data_path:
        item = ClipStore(cfg.data_path)[index]
    else:
        kw = dict(num_identities=cfg.num_identities, clips_per_identity=cfg.clips_per_identity, world_seed=cfg.world_seed,
                  size=mcfg.img_size, num_frames=mcfg.num_frames)
        ds = SynthFaceDataset("val", **kw)
        item = (ds if len(ds) else SynthFaceDataset("train", **kw))[index]
    dev = pick_device(device or cfg.device)
    x = item["video"][None].float()
    grid = TokenGrid(mcfg.num_frames, mcfg.img_size, mcfg.tubelet_size, mcfg.patch_size)
    parsing = item["parsing"][None] if "parsing" in item and cfg.mask_strategy.startswith("fasking") else None
    visible = make_visible_mask(cfg.mask_strategy, 1, grid, cfg.mask_ratio, parsing=parsing, generator=torch.Generator().manual_seed(seed))
    was = next(model.parameters()).device
    model.to(dev).eval()
    with torch.no_grad():
        pred = model(x.to(dev), visible.to(dev)).float()
    step = None
    rows = read_metrics(cfg.out_dir)
    if rows:
        step = int(rows[-1]["step"])
    frames = range(0, mcfg.num_frames, 2) if mcfg.num_frames > 8 else None
    fig = reconstruction_figure(model, x.to(dev), visible.to(dev), pred, step, frames=frames, pyplot=False)
    model.to(was)
    return fig


def _plain_json(obj: Any) -> Any:
    """``obj`` with non-finite floats as ``None`` and other odd values as strings (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): _plain_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain_json(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def write_summary(plan: PretrainPlan, outcome: PretrainOutcome) -> dict[str, Any]:
    """Write ``<out_dir>/summary.json`` and return it: steps, first and final losses, throughput,
    device, how the run was launched, the commands and the full config."""
    rows = read_metrics(plan.out_dir)
    last = rows[-1] if rows else {}
    dev = pick_device(plan.cfg.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type
    bf16 = plan.cfg.precision == "bf16" or (plan.cfg.precision == "auto" and dev.type == "cuda")
    summary = {
        "steps": int(last.get("step", 0)),
        "max_steps": plan.cfg.max_steps,
        "finished": int(last.get("step", 0)) == plan.cfg.max_steps,
        "first_loss": rows[0].get("loss") if rows else None,
        "final": {k: last[k] for k in ("loss", "rec", "critic", "adv", "lr") if k in last},
        "throughput": throughput(rows),
        "device": {"type": dev.type, "name": name, "processes": plan.world_size if outcome.launched == "torchrun" else 1,
                   "precision": "bf16" if bf16 else "fp32", "compile": plan.cfg.compile, "torch": torch.__version__},
        "global_batch": plan.cfg.batch_size * (plan.world_size if outcome.launched == "torchrun" else 1),
        "launched": outcome.launched,
        "wall_seconds": round(outcome.seconds, 2),
        "data": plan.data,
        "command": command_line(plan.command),
        "torchrun": command_line(plan.torchrun),
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(plan.cfg).items()},
        "written": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    summary = _plain_json(summary)
    atomic_write_bytes(plan.out_dir / SUMMARY, json_bytes(summary))
    return summary


def pretrain_pipeline(**params: Any) -> dict[str, Any]:
    """The whole pretraining notebook without Jupyter: plan, train, figures as PNG files in the
    run folder, ``summary.json``; returns the summary."""
    plan = plan_pretraining(**params)
    print(plan.describe(), flush=True)
    outcome = run_pretraining(plan)
    if not outcome.trained:
        return {}
    rows = read_metrics(plan.out_dir)
    if rows:
        training_figure(rows).savefig(plan.out_dir / "loss_curve.png", dpi=80)
    model = outcome.model if outcome.model is not None else model_from_checkpoint(plan.out_dir / CHECKPOINT)
    try:
        reconstruction_sample(model, plan.cfg).savefig(plan.out_dir / "reconstruction.png", dpi=80)
    except ImportError as err:  # the figure draws frames with marlin_lite.video, which needs PyAV
        print(f"reconstruction figure skipped: {err}", file=sys.stderr)
    summary = write_summary(plan, outcome)
    print(json.dumps({k: summary[k] for k in ("steps", "final", "throughput", "device", "wall_seconds")}, indent=1))
    return summary


# --------------------------------------------------------------------------------------
# Downstream: encoders
# --------------------------------------------------------------------------------------


def load_encoder(checkpoint: str | os.PathLike[str], *, allow_download: bool = False) -> tuple[Any, dict[str, Any]]:
    """:func:`marlin_lite.encoders.load_encoder` with relative paths read from the repository root
    (where the README's commands run), whatever papermill's working directory is."""
    return encoders.load_encoder(checkpoint, allow_download=allow_download, base=REPO_ROOT)


# --------------------------------------------------------------------------------------
# Downstream: data and task specs
# --------------------------------------------------------------------------------------


def feature_cache(cache_dir: str | os.PathLike[str] | None = None) -> Any:
    """A feature cache (in memory, and in ``cache_dir`` when given); its keys work for SynthFace,
    the loaders of :mod:`marlin_lite.datasets` and label views alike (their ``spec()``)."""
    from marlin_lite.tasks.probe import FeatureCache  # noqa: PLC0415 (imports video decoding: on use only)

    return FeatureCache(cache_dir)


def _ffpp_check(feats: Any, split: str) -> None:
    fake = feats.labels.get("fake")
    if fake is None or bool(fake.all()) or not bool(fake.any()):
        raise ValueError(f"the FF++ {split} split needs both real and fake videos (check methods= and the download)")


def _multiclass_evaluate(num_classes: int):
    from marlin_lite.tasks.fer import fer_metrics

    def evaluate(video_scores: torch.Tensor, window_scores: torch.Tensor, test: Any) -> list[dict[str, Any]]:
        return [fer_metrics(video_scores, test.labels["expression"], num_classes)]

    return evaluate


def _multilabel_evaluate(video_scores: torch.Tensor, window_scores: torch.Tensor, test: Any) -> list[dict[str, Any]]:
    from marlin_lite.tasks.far import far_metrics

    return [far_metrics(video_scores, test.labels["attributes"])]


#: The labels each real data set offers per task: name -> (slot, kind, classes); the first is the default.
REAL_LABELS: dict[str, dict[str, tuple[str, str, int | None]]] = {
    "celebvhq": {"attributes": ("attributes", "multilabel", None), "actions": ("attributes", "multilabel", None)},
    "mosei": {
        "sentiment_class": ("expression", "multiclass", 2),
        "sentiment_class7": ("expression", "multiclass", 7),
        "emotions_present": ("attributes", "multilabel", None),
    },
    "ffpp": {"fake": ("fake", "binary", None)},
}
#: The real data set of each task (MARLIN's): FAR on CelebV-HQ, FER on CMU-MOSEI, DFD on FF++, LS on LRS2.
TASK_DATASETS = {"far": "celebvhq", "fer": "mosei", "dfd": "ffpp", "ls": "lrs2"}


def real_task_spec(name: str, label: str | None = None) -> tuple[Any, dict[str, str]]:
    """The :class:`~marlin_lite.tasks.probe.TaskSpec` of a real data set's task and the
    :class:`~marlin_lite.tasks.probe.LabelView` renaming it needs (``{}`` when none): CelebV-HQ attributes (40) or actions
    (35) as multi-label FAR; CMU-MOSEI 2- or 7-class sentiment (multiclass) or the presence of its
    6 emotions (multi-label) as FER; FF++ real/fake as DFD trained on clips, with a breakdown by
    FF++ manipulation method."""
    from marlin_lite.datasets.ffpp import FFPP_KINDS
    from marlin_lite.tasks.dfd import dfd_evaluate
    from marlin_lite.tasks.probe import TaskSpec

    if name not in REAL_LABELS:
        raise ValueError(f"no downstream task is defined on {name!r}; use one of {sorted(REAL_LABELS)} (or lrs2 for ls)")
    label = label or next(iter(REAL_LABELS[name]))
    if label not in REAL_LABELS[name]:
        raise ValueError(f"label {label!r} is not one of {name}'s: {sorted(REAL_LABELS[name])}")
    slot, kind, classes = REAL_LABELS[name][label]
    rename = {} if slot == label else {slot: label}
    if name == "ffpp":
        spec = TaskSpec("dfd", "binary", "fake", functools.partial(dfd_evaluate, names=FFPP_KINDS), train_on="clip", stratify_key="manipulation", check=_ffpp_check)
    elif kind == "multiclass":
        task = "fer" if name == "mosei" else "far"
        spec = TaskSpec(task, "multiclass", slot, _multiclass_evaluate(classes), num_classes=classes, stratify_key=slot)
    else:
        spec = TaskSpec("far" if name == "celebvhq" else "fer", "multilabel", slot, _multilabel_evaluate)
    return spec, rename


@dataclass
class DownstreamData:
    """The splits of a downstream task, its spec and the feature protocol's sample rate."""

    train: Any
    val: Any
    test: Any
    spec: Any
    sample_rate: int
    label: str
    dataset: str

    def describe(self) -> str:
        lines = [f"task {self.spec.name} ({self.spec.kind}, label {self.label}) on {self.dataset}; windows at sample rate {self.sample_rate}"]
        for split in ("train", "val", "test"):
            ds = getattr(self, split)
            lines.append(f"  {split:5s}: {len(ds) if ds is not None else 0} items")
        return "\n".join(lines)


#: SynthFace splits per task (people the lessons' pretraining never saw: world_seed 1).
SYNTHFACE_DEFAULTS: dict[str, dict[str, Any]] = {
    "far": dict(num_identities=24, clips_per_identity=1, fake_fraction=0.0, windows=1),
    "fer": dict(num_identities=24, clips_per_identity=3, fake_fraction=0.0, windows=1),
    "dfd": dict(num_identities=24, clips_per_identity=2, fake_fraction=0.5, windows=2),
}


def downstream_data(
    task: str,
    dataset: str,
    encoder_cfg: Any,
    *,
    data_root: str | os.PathLike[str] | None = None,
    label: str | None = None,
    data_limit: int | None = None,
    sample_rate: int | None = None,
    synthface: dict[str, Any] | None = None,
) -> DownstreamData:
    """Train / val / test splits for ``task`` (far, fer, dfd) and the task spec.

    SynthFace: :class:`~marlin_lite.data.SynthFaceDataset` splits by person (world seed 1, split
    0.6 / 0.1 / 0.3) at the encoder's frame size, ``video_frames`` frames per video (default one
    window; two for DFD, so clip and video scores differ), fakes only for DFD; ``synthface``
    overrides any of these. Real data: the loader of :mod:`marlin_lite.datasets` with whole
    videos (``clip="all"``, MARLIN's window protocol at ``sample_rate`` 2) resized to the
    encoder's frame size, and the spec of :func:`real_task_spec`.
    """
    if task not in ("far", "fer", "dfd"):
        raise ValueError(f"task must be far, fer or dfd here (ls: run_downstream), got {task!r}")
    if dataset.lower() == "synthface":
        from marlin_lite.tasks import DFD, FAR, FER

        kw = dict(SYNTHFACE_DEFAULTS[task])
        kw.update(world_seed=1, fractions=(0.6, 0.1, 0.3), cache=True)
        kw.update(synthface or {})
        frames = kw.pop("video_frames", None) or encoder_cfg.num_frames * kw.pop("windows")
        kw.pop("windows", None)
        kw["fractions"] = tuple(kw["fractions"])
        kw.setdefault("size", encoder_cfg.img_size)
        splits = [SynthFaceDataset(s, num_frames=frames, **kw) for s in ("train", "val", "test")]
        spec = {"far": FAR, "fer": FER, "dfd": DFD}[task]
        return DownstreamData(*splits, spec, sample_rate or 1, spec.label_key, "synthface")
    from marlin_lite.datasets import canonical_name, get_dataset
    from marlin_lite.tasks.probe import LabelView

    name = canonical_name(dataset)
    if TASK_DATASETS[task] != name:
        raise ValueError(f"task {task} runs on {TASK_DATASETS[task]} (MARLIN's protocol), not on {name}; or use synthface")
    if data_root is None:
        raise ValueError(f"dataset {dataset!r} needs data_root, the folder of the downloaded data set")
    spec, rename = real_task_spec(name, label)
    rate = sample_rate or 2
    root = resolve_path(data_root)

    def split(s: str, required: bool = True) -> Any:
        try:
            ds = get_dataset(name, root, s, clip="all", size=encoder_cfg.img_size, limit=data_limit,
                             clip_len=encoder_cfg.num_frames, sample_rate=rate)
        except ValueError as err:
            if required or "has no items" not in str(err):
                raise
            return None
        return LabelView(ds, rename) if rename else ds

    train_set, val_set, test_set = split("train"), split("val", required=False), split("test")
    return DownstreamData(train_set, val_set, test_set, spec, rate, label or next(iter(REAL_LABELS[name])), name)


def methods_for(task: str, mode: str, methods: Sequence[str] | None = None) -> tuple[str, ...]:
    """The baselines a mode runs: ``linear_probe`` -> the package's three (random-init probe,
    supervised from scratch, pretrained probe); ``finetune`` -> supervised from scratch and the
    pretrained encoder fine-tuned; ``all`` -> every method. For lip sync: the generators with a
    frozen (``linear_probe``) or trained (``finetune``) encoder. ``methods`` wins when given."""
    if methods:
        return tuple(methods)
    if task == "ls":
        table = {
            "linear_probe": ("copy_reference", "random_init", "supervised_scratch", "pretrained"),
            "finetune": ("copy_reference", "supervised_scratch", "pretrained_finetune"),
            "all": ("copy_reference", "random_init", "supervised_scratch", "pretrained", "pretrained_finetune"),
        }
    else:
        table = {
            "linear_probe": ("random_init_probe", "supervised_scratch", "pretrained_probe"),
            "finetune": ("supervised_scratch", "pretrained_finetune"),
            "all": ("random_init_probe", "supervised_scratch", "pretrained_probe", "pretrained_finetune"),
        }
    if mode not in table:
        raise ValueError(f"mode must be one of {sorted(table)}, got {mode!r}")
    return table[mode]


@dataclass
class DownstreamResult:
    """A downstream run: the table, where it was saved, and what produced it."""

    table: Any
    paths: dict[str, Path]
    info: dict[str, Any]


def run_downstream(
    task: str = "far",
    dataset: str = "synthface",
    data_root: str | os.PathLike[str] | None = None,
    data_limit: int | None = None,
    label: str | None = None,
    checkpoint: str | os.PathLike[str] = "runs/scaled_pretrain/checkpoint.pt",
    allow_download: bool = False,
    mode: str = "linear_probe",
    methods: Sequence[str] | None = None,
    fractions: Sequence[float] = (1.0,),
    seeds: Sequence[int] = (0,),
    feature_batch_size: int = 16,
    precision: str = "auto",
    device: str | None = None,
    sample_rate: int | None = None,
    synthface: dict[str, Any] | None = None,
    probe: dict[str, Any] | None = None,
    finetune: dict[str, Any] | None = None,
    lipsync: dict[str, Any] | None = None,
    lipsync_data: dict[str, Any] | None = None,
    progress: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] = "runs/scaled_downstream",
) -> DownstreamResult:
    """The downstream notebook's run (see :data:`DOWNSTREAM_PARAMETERS`): encoder, data, the
    baselines of ``mode`` over ``fractions`` x ``seeds`` -> a results table written to
    ``<out_dir>/results.json`` and ``results.md``, with ``run.json`` (parameters, encoder,
    data, device, seconds).

    Lip sync (``task="ls"``) runs :func:`marlin_lite.tasks.lipsync.run_lipsync` (``lipsync`` holds
    its arguments; ``fractions`` do not apply) on SynthFace talking faces, or on LRS2: its
    official train and test lists (``data_limit`` utterances each) cut into face-cropped clips with
    aligned log-mels by :func:`marlin_lite.tasks.lipsync_data.lrs2_lipsync_splits` (``lipsync_data``
    holds its settings; the clips are cached in ``<cache_dir or out_dir/features>``).
    """
    params = dict(locals())
    start = time.perf_counter()
    out = resolve_path(out_dir)
    encoder, enc_info = load_encoder(checkpoint, allow_download=allow_download)
    dev = str(pick_device(device or "auto"))
    chosen = methods_for(task, mode, methods)
    if task == "ls":
        cache = resolve_path(cache_dir) if cache_dir is not None else out / "features"
        table, data_info = _run_ls(encoder, dataset, chosen, seeds, {"device": dev, **(lipsync or {})}, progress, data_root=data_root,
                                   data_limit=data_limit, data_kwargs=lipsync_data or {}, cache_dir=cache)
    else:
        data = downstream_data(task, dataset, encoder.cfg, data_root=data_root, label=label, data_limit=data_limit,
                               sample_rate=sample_rate, synthface=synthface)
        print(data.describe(), flush=True)
        from marlin_lite.tasks.probe import run_baselines

        cache = feature_cache(resolve_path(cache_dir) if cache_dir is not None else out / "features")
        table = run_baselines(
            data.spec, encoder, data.train, data.test, val_set=data.val, fractions=tuple(fractions), seeds=tuple(seeds),
            methods=chosen, cache=cache, sample_rate=data.sample_rate, feature_batch_size=feature_batch_size, device=dev,
            precision=precision, probe=probe, finetune=finetune, progress=progress,
        )
        data_info = {"dataset": data.dataset, "label": data.label, "n_train": len(data.train), "n_val": len(data.val) if data.val is not None else 0,
                     "n_test": len(data.test), "sample_rate": data.sample_rate}
    from marlin_lite.tasks.results import ResultsTable

    table = ResultsTable(({"task": r.get("task", task), "dataset": data_info["dataset"], **r} for r in table), settings=table.settings)
    seconds = time.perf_counter() - start
    paths = {"json": out / "results.json", "markdown": out / "results.md", "run": out / "run.json"}
    table.to_json(paths["json"])
    header = (f"# {task.upper()} on {data_info['dataset']} ({data_info['label']})\n\n"
              f"encoder: {enc_info['checkpoint']} ({enc_info['kind']}, {enc_info['preset']}); methods: {', '.join(chosen)}; "
              f"seeds {list(seeds)}; device {dev}; {seconds:.0f} s\n\n")
    atomic_write_bytes(paths["markdown"], (header + table.to_markdown() + "\n").encode())
    info = {"params": params, "encoder": enc_info, "data": data_info, "methods": list(chosen), "device": dev,
            "seconds": round(seconds, 2), "torch": torch.__version__, "written": time.strftime("%Y-%m-%dT%H:%M:%S")}
    atomic_write_bytes(paths["run"], json_bytes(_plain_json(info)))
    return DownstreamResult(table, paths, info)


#: The headline metric of each task (MARLIN's: micro AUC for FAR, accuracy for FER, AUC for DFD).
HEADLINE = {"far": "auc_micro", "fer": "accuracy", "dfd": "auc", "ls": "sync_distance"}


def headline_rows(table: Any) -> list[dict[str, Any]]:
    """The rows a headline figure shows: for deepfake detection the ``manipulation="all"`` rows at
    video level when there are any (else clip level); every row otherwise."""
    rows = list(table)
    if any("manipulation" in r for r in rows):
        rows = [r for r in rows if r.get("manipulation") == "all"]
        levels = {r.get("level") for r in rows}
        rows = [r for r in rows if r.get("level") == ("video" if "video" in levels else "clip")]
    return rows


def results_figure(table: Any, metric: str | None = None):
    """The headline metric per method over the label fractions (mean and std over seeds): a
    ``matplotlib.figure.Figure``. Lip-sync tables (no fractions) are drawn as bars per method."""
    from matplotlib.figure import Figure

    from marlin_lite.tasks.results import ResultsTable

    rows = headline_rows(table)
    task = rows[0].get("task", "") if rows else ""
    if metric is None:
        metric = HEADLINE.get(task) or (ResultsTable(rows).metric_columns() or ["accuracy"])[0]
    rows = [r for r in rows if isinstance(r.get(metric), (int, float)) and math.isfinite(r[metric])]
    fig = Figure(figsize=(6, 3.4))
    ax = fig.subplots()
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fractions = sorted({r["fraction"] for r in rows if "fraction" in r})
    for k, method in enumerate(methods):
        mine = [r for r in rows if r["method"] == method]
        if len(fractions) > 1:
            xs, means, stds = [], [], []
            for f in fractions:
                vals = [r[metric] for r in mine if r.get("fraction") == f]
                if vals:
                    xs.append(f)
                    means.append(statistics.fmean(vals))
                    stds.append(statistics.stdev(vals) if len(vals) > 1 else 0.0)
            ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=method)
        else:
            vals = [r[metric] for r in mine]
            ax.bar(k, statistics.fmean(vals), yerr=statistics.stdev(vals) if len(vals) > 1 else 0.0, capsize=3, label=method)
    if len(fractions) > 1:
        ax.set_xscale("log")
        ax.set_xlabel("share of training labels")
    else:
        ax.set_xticks(range(len(methods)), methods, rotation=20, fontsize=8)
    ax.set_ylabel(metric)
    ax.set_title(f"{task.upper()}: {metric} (mean +- std over seeds)")
    if methods:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _run_ls(
    encoder: Any, dataset: str, methods: Sequence[str], seeds: Sequence[int], kwargs: dict[str, Any], progress: bool, *,
    data_root: str | os.PathLike[str] | None = None, data_limit: int | None = None, data_kwargs: dict[str, Any] | None = None,
    cache_dir: Path | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Lip sync on SynthFace (``run_lipsync`` renders its clips) or LRS2 (face-cropped clips of the
    official train / test lists) -> ``(table, data info)``."""
    from marlin_lite.tasks.lipsync import run_lipsync

    kwargs = dict(kwargs)
    if dataset.lower() == "synthface":
        if data_kwargs:
            raise ValueError(f"lipsync_data applies to LRS2 only; for SynthFace put the clip settings in lipsync, got {sorted(data_kwargs)}")
        table = run_lipsync(encoder, seeds=tuple(seeds), methods=tuple(methods), progress=progress, **kwargs)
        return table, {"dataset": "synthface", "label": "av_sync"}
    name = _dataset_name(dataset) or dataset
    if name != TASK_DATASETS["ls"]:
        raise ValueError(f"task ls runs on {TASK_DATASETS['ls']} (MARLIN's protocol), not on {name}; or use synthface")
    if data_root is None:
        raise ValueError(f"dataset {dataset!r} needs data_root, the folder of the downloaded data set")
    from marlin_lite.tasks.lipsync_data import lrs2_lipsync_splits

    unknown = sorted(set(data_kwargs or {}) - {"crop", "segment_frames", "max_segments", "n_mels", "workers"})
    if unknown:
        raise ValueError(f"lipsync_data takes crop, segment_frames, max_segments, n_mels and workers, got {unknown}")
    cfg = encoder.cfg
    data, reports = lrs2_lipsync_splits(
        resolve_path(data_root), size=cfg.img_size, num_frames=cfg.num_frames, max_offset=int(kwargs.get("max_offset", 3)),
        limit=data_limit, cache_dir=cache_dir, progress=progress, **(data_kwargs or {}),
    )
    for split, report in reports.items():
        print(f"{split}: {report.describe()}", flush=True)
    table = run_lipsync(encoder, seeds=tuple(seeds), methods=tuple(methods), progress=progress, data=data, **kwargs)
    info = {"dataset": name, "label": "av_sync", "n_train": len(data["train"]), "n_test": len(data["test"]),
            "crop": reports["train"].settings["crop"], "segment_frames": reports["train"].settings["segment_frames"]}
    return table, info


# --------------------------------------------------------------------------------------
# Command line (the notebooks' runs without Jupyter)
# --------------------------------------------------------------------------------------


def _parse_sets(pairs: Sequence[str]) -> dict[str, Any]:
    import yaml

    values = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set takes key=value (a YAML value), got {pair!r}")
        key, value = pair.split("=", 1)
        values[key.strip()] = yaml.safe_load(value)
    return values


def main(argv: list[str] | None = None) -> int:
    """``python -m marlin_lite.scaled {pretrain,downstream} [--params FILE] [--set key=value ...]``."""
    p = argparse.ArgumentParser(prog="python -m marlin_lite.scaled", description="Run a scaled notebook's steps without Jupyter.")
    p.add_argument("kind", choices=("pretrain", "downstream"))
    p.add_argument("--params", help="a papermill parameter file (configs/pretrain_*.yaml, configs/downstream_*.yaml)")
    p.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                   help="override parameters (YAML values); repeat --set or list several pairs after one")
    args = p.parse_args(argv)
    table = PRETRAIN_PARAMETERS if args.kind == "pretrain" else DOWNSTREAM_PARAMETERS
    try:
        params = _defaults(table)
        if args.params:
            params.update(read_params(args.params, args.kind))
        sets = _parse_sets(args.set)
        unknown = sorted(set(sets) - set(table))
        if unknown:
            raise ValueError(f"unknown {args.kind} parameter(s) {unknown}; known: {sorted(table)}")
        params.update(sets)
        if args.kind == "pretrain":
            pretrain_pipeline(**params)
        else:
            result = run_downstream(**params)
            print(result.table.to_markdown())
            print(f"written: {result.paths['json']}")
    except (ValueError, FileNotFoundError, NotImplementedError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
