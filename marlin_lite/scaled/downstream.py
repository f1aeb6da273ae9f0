"""The scaled downstream notebook (``notebooks/scaled/downstream.ipynb``) as functions.

:func:`load_encoder` (a MARLIN-lite checkpoint, official weights by name or file - downloaded
only with ``allow_download`` - or a random encoder), :func:`downstream_data` (SynthFace splits,
or the loaders of :mod:`marlin_lite.datasets`: CelebV-HQ for FAR, CMU-MOSEI for FER,
FaceForensics++ for DFD) with the task's :class:`~marlin_lite.tasks.probe.TaskSpec`, and
:func:`run_downstream` (the baselines of :func:`~marlin_lite.tasks.probe.run_baselines`, or
:func:`~marlin_lite.tasks.lipsync.run_lipsync` for lip sync) -> a
:class:`~marlin_lite.tasks.results.ResultsTable` saved as JSON and Markdown.

The task modules decode video (PyAV) and are imported when first used, so that
``import marlin_lite.scaled`` works on a machine without PyAV.
"""

from __future__ import annotations

import functools
import math
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from marlin_lite import encoders
from marlin_lite.data import SynthFaceDataset
from marlin_lite.scaled.common import REPO_ROOT, dataset_name, plain_json, resolve_path
from marlin_lite.utils import atomic_write_bytes, json_bytes, pick_device

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
    atomic_write_bytes(paths["run"], json_bytes(plain_json(info)))
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
    name = dataset_name(dataset) or dataset
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


