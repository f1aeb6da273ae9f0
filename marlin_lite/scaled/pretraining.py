"""The scaled pretraining notebook (``notebooks/scaled/pretrain.ipynb``) as functions.

1. :func:`plan_pretraining`: the notebook's parameters (:data:`PRETRAIN_PARAMETERS`) become the
   :class:`~marlin_lite.pretrain.PretrainConfig` the command line builds from the same recipe and
   settings (``load_config(config, **settings)``: one schema, the config's own), the data are
   prepared (SynthFace rendered on the fly, a clip store, or a real data set / folder of videos
   written into a clip store once by :func:`prepare_pretrain_data`), epochs become steps, and the
   equivalent ``python -m marlin_lite.pretrain`` and ``torchrun`` commands are written down;
2. :func:`run_pretraining`: train in this process (``num_gpus <= 1``) or launch the torchrun
   command (``num_gpus > 1``); ``resume`` continues from the run folder's checkpoint;
3. :func:`~marlin_lite.pretrain.read_metrics`, :func:`throughput`, :func:`training_figure`,
   :func:`reconstruction_sample` and :func:`write_summary` (``summary.json`` in the run folder).

No PyAV at import time: the GPU machine may lack it (data set loaders are imported on use).
"""

from __future__ import annotations

import dataclasses
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
import yaml

from marlin_lite.clipstore import ClipStore
from marlin_lite.data import SynthFaceDataset
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
from marlin_lite.scaled.common import IN_CHECKOUT, REPO_ROOT, plain_json, resolve_path
from marlin_lite.scaled.pretrain_data import epochs_to_steps, prepare_pretrain_data, training_set_size
from marlin_lite.utils import atomic_write_bytes, find_config, json_bytes, pick_device

SUMMARY = "summary.json"

#: name -> (default, comment): the notebook's cell tagged ``parameters`` assigns them, in this
#: order, with these comments (``tests/test_scaled.py`` checks that the two agree). The model and
#: training settings are not listed here: they are :class:`~marlin_lite.pretrain.PretrainConfig`'s
#: own fields, a recipe (``config``) plus ``settings``, exactly as ``python -m marlin_lite.pretrain
#: --config RECIPE --field value`` builds them.
PRETRAIN_PARAMETERS: dict[str, tuple[Any, str]] = {
    "config": ("configs/tiny.yaml", "the PretrainConfig recipe: a YAML file or a shipped recipe by name (the CLI's --config)"),
    "settings": ({}, "PretrainConfig fields over the recipe, e.g. {model: base, batch_size: 64, max_steps: 300, lr: 1.5e-4}"),
    "dataset": ("synthface", "synthface | a clip store folder | a folder of videos | ytf, celebvhq, ffpp, mosei, lrs2 (with data_root)"),
    "data_root": (None, "root folder of a real data set (when dataset is its name)"),
    "data_split": ("train", "split of a real data set written into the clip store"),
    "data_limit": (None, "only the first N videos of a real data set (quick runs)"),
    "store_dir": (None, "clip store to write or reuse (default runs/clipstores/<data>_<split>_<T>x<S>)"),
    "use_clip_store": (False, "SynthFace: render the split into a clip store first (fast GPU feeding) instead of on the fly"),
    "face_parsing": ("auto", "parsing maps for fasking: auto (the source's, if any) | landmarks (MediaPipe FaceMesh) | none"),
    "data_workers": (0, "processes that write the clip store"),
    "epochs": (None, "passes over the training clips, converted to max_steps (instead of settings' max_steps)"),
    "warmup_epochs": (None, "warm-up in epochs, converted to warmup_steps"),
    "out_dir": ("runs/scaled_pretrain", "the run folder (checkpoint.pt, metrics.jsonl, summary.json, figures)"),
    "resume": (False, "continue from out_dir/checkpoint.pt (a fresh start when there is none)"),
    "overwrite": (False, "delete a previous run in out_dir first (otherwise an existing run is an error unless resume)"),
    "num_gpus": (1, "processes: up to 1 trains in this kernel, more runs torchrun --nproc_per_node num_gpus"),
    "launch_torchrun": (True, "with num_gpus > 1: launch torchrun from here (false: only print the command)"),
}


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


#: PretrainConfig fields that are notebook parameters of their own (the run folder, the data).
_OWN_PARAMETERS = ("out_dir", "data_path")


def _checked_settings(settings: Any) -> dict[str, Any]:
    """``settings`` as a dict of :class:`PretrainConfig` fields, or a ``ValueError`` naming the
    parameter and what to do."""
    if settings is None:
        return {}
    if not isinstance(settings, dict):
        raise ValueError(f"settings must be a mapping of PretrainConfig fields (e.g. {{max_steps: 300}}), got {settings!r}")
    known = {f.name for f in dataclasses.fields(PretrainConfig)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"settings names unknown PretrainConfig field(s) {unknown}; known: {sorted(known)}")
    own = sorted(k for k in settings if k in _OWN_PARAMETERS)
    if own:
        raise ValueError(f"settings sets {own}: use the notebook parameters out_dir and dataset / store_dir instead")
    return dict(settings)


def plan_pretraining(
    config: str | os.PathLike[str] | None = "configs/tiny.yaml",
    settings: dict[str, Any] | None = None,
    dataset: str = "synthface",
    data_root: str | os.PathLike[str] | None = None,
    data_split: str = "train",
    data_limit: int | None = None,
    store_dir: str | os.PathLike[str] | None = None,
    use_clip_store: bool = False,
    face_parsing: Any = "auto",
    data_workers: int = 0,
    epochs: float | None = None,
    warmup_epochs: float | None = None,
    out_dir: str | os.PathLike[str] | None = "runs/scaled_pretrain",
    resume: bool = False,
    overwrite: bool = False,
    num_gpus: int = 1,
    launch_torchrun: bool = True,
) -> PretrainPlan:
    """Turn the pretraining notebook's parameters into a :class:`PretrainPlan` (see
    :data:`PRETRAIN_PARAMETERS` for each one).

    The config is ``load_config(config, **settings)``, the object the command line builds from
    the same recipe and flags (``config=None``: the dataclass defaults). Data are prepared first
    (a clip store is written or reused, see :func:`prepare_pretrain_data`), then ``epochs`` /
    ``warmup_epochs`` become steps.

    A run folder that already holds a checkpoint is an error unless ``resume`` (continue it) or
    ``overwrite`` (delete the previous run's files first). ``resume`` without a checkpoint starts
    afresh.

    When the settings include fields without a command-line flag (``model_overrides``,
    ``betas``), the resolved config is written to ``<out_dir>/launch_config.yaml`` and the
    commands use it.
    """
    params = {k: v for k, v in locals().items()}
    config_path = find_config(config, base=REPO_ROOT) if config is not None else None
    over = _checked_settings(settings)
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
    if IN_CHECKOUT:  # the children import this copy of the package
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
    summary = plain_json(summary)
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


