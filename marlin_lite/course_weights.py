"""The course checkpoint: MARLIN-like pretraining of the tiny preset, shipped with the package.

Lessons 05-10 start from an encoder that has learnt faces, as the UvA notebooks start from a
shipped checkpoint: training it takes about 45 minutes on 2 CPU cores, too long for a lesson,
so the result of one documented command ships in ``marlin_lite/weights/``::

    python -m marlin_lite.pretrain --config configs/course.yaml           # trains runs/course
    python -m marlin_lite.course_weights export runs/course --commit SHA   # fp16 weights + record
    python -m marlin_lite.course_weights verify                            # hash, config, load

``course_tiny.pt`` holds the autoencoder's weights (encoder, decoder and critic) in float16
with the config it was trained with; it loads like any MARLIN-lite checkpoint
(:func:`marlin_lite.pretrain.model_from_checkpoint`, ``--encoder`` of the feature CLI).
``course_tiny.json`` records its SHA-256, the config, the whole metrics log, the commit the
run was trained at, the command, and the machine and wall time of the run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import torch

from marlin_lite.model import MarlinAutoencoder
from marlin_lite.pretrain import (
    CHECKPOINT,
    PretrainConfig,
    atomic_save,
    ensure_pretrained,
    load_checkpoint,
    load_config,
    model_from_checkpoint,
    saved_config,
)

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: The shipped weights and their record.
COURSE_WEIGHTS = WEIGHTS_DIR / "course_tiny.pt"
COURSE_RECORD = WEIGHTS_DIR / "course_tiny.json"
#: The command that trains them (from the repository root).
COURSE_COMMAND = "python -m marlin_lite.pretrain --config configs/course.yaml"


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def export_weights(
    run: str | os.PathLike[str],
    out: str | os.PathLike[str] = COURSE_WEIGHTS,
    *,
    commit: str | None = None,
    wall_seconds: float | None = None,
    machine: str | None = None,
) -> dict[str, Any]:
    """Write a finished run's weights as float16 (``out``) and its record (``out`` with ``.json``).

    Args:
        run: a run folder (holding ``checkpoint.pt``) or a checkpoint file; the run must have
            reached its ``max_steps``.
        out: where the weights go.
        commit: the git commit the run was trained at (default: the current ``HEAD``).
        wall_seconds, machine: how long the run took, and on what (recorded as given).

    Returns:
        the record written beside the weights.
    """
    path = Path(run)
    ckpt_path = path / CHECKPOINT if path.is_dir() else path
    ckpt = load_checkpoint(ckpt_path)
    cfg = saved_config(ckpt, ckpt_path)
    if int(ckpt["step"]) != cfg.max_steps:
        raise ValueError(f"{ckpt_path} stopped at step {ckpt['step']} of {cfg.max_steps}; finish it with --resume before exporting")
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in ckpt["model"].items()}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_save({"config": ckpt["config"], "model": state, "step": int(ckpt["step"]), "format": "marlin-lite weights, float16"}, out)
    history = [dict(h) for h in ckpt.get("history", [])]
    record = {
        "file": out.name,
        "sha256": sha256_file(out),
        "bytes": out.stat().st_size,
        "dtype": "float16",
        "parameters": sum(v.numel() for v in state.values()),
        "command": COURSE_COMMAND,
        "commit": commit or _git_commit(),
        "step": int(ckpt["step"]),
        "config": ckpt["config"],
        "training": {"wall_seconds": wall_seconds, "machine": machine or f"{platform.machine()}, {os.cpu_count()} CPUs",
                     "torch": torch.__version__},
        "final": history[-1] if history else None,
        "metrics": history,
    }
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(out.with_suffix(".json"))
    return record


def course_record(path: str | os.PathLike[str] = COURSE_RECORD) -> dict[str, Any]:
    """The shipped checkpoint's record (config, metrics log, commit, hash, training time)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p} not found: the course checkpoint ships with the package; reinstall it, or train it with "
                                f"`{COURSE_COMMAND}` and export it with `python -m marlin_lite.course_weights export runs/course`")
    return json.loads(p.read_text())


def verify_course_weights(path: str | os.PathLike[str] = COURSE_WEIGHTS) -> dict[str, Any]:
    """Check the weights' SHA-256 against their record; returns the record."""
    p = Path(path)
    record = course_record(p.with_suffix(".json"))
    if not p.exists():
        raise FileNotFoundError(f"{p} not found (its record {p.with_suffix('.json')} exists); reinstall the package")
    digest = sha256_file(p)
    if digest != record["sha256"]:
        raise ValueError(f"{p} has SHA-256 {digest}, its record says {record['sha256']}: the file was changed or damaged; "
                         "restore it (git checkout) or re-export it")
    return record


def load_course_model(path: str | os.PathLike[str] = COURSE_WEIGHTS, *, verify: bool = True) -> MarlinAutoencoder:
    """The course checkpoint as a float32 :class:`~marlin_lite.model.MarlinAutoencoder` (CPU, eval
    mode, with its critic), its hash checked first."""
    if verify:
        verify_course_weights(path)
    return model_from_checkpoint(path).float().eval()


def lesson_model(
    weights: str | os.PathLike[str] = "course", *, config: str | os.PathLike[str] | None = None,
    out_dir: str | os.PathLike[str] | None = None, progress: bool = False,
) -> tuple[MarlinAutoencoder, PretrainConfig, str]:
    """The pretrained model a lesson starts from, chosen by its ``WEIGHTS`` parameter.

    Args:
        weights: ``"course"``: the shipped checkpoint (hash checked); ``"train"``: the run of
            ``config`` in ``out_dir`` through :func:`~marlin_lite.pretrain.ensure_pretrained`
            (reused if finished, resumed if stopped, trained otherwise); any other value: the
            path of a MARLIN-lite checkpoint (``checkpoint.pt`` of a run, or exported weights).
        config, out_dir: the recipe and run folder of ``"train"``.
        progress: progress bars while ``"train"`` trains.
    Returns:
        ``(model, pretraining config, description)``: the autoencoder in float32, eval mode, on
        the CPU; the config it was trained with; a short phrase naming where it came from.
    """
    if weights == "course":
        return load_course_model(), load_config(**course_record()["config"]), "the course checkpoint"
    if weights == "train":
        if config is None:
            raise ValueError('WEIGHTS = "train" needs CONFIG (a YAML recipe, e.g. ../configs/course.yaml)')
        cfg = load_config(config, **({"out_dir": str(out_dir)} if out_dir is not None else {}), progress=progress)
        return ensure_pretrained(cfg).model.float().cpu().eval(), cfg, f"your run of {config} in {cfg.out_dir}"
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f'WEIGHTS = {str(weights)!r}: no such checkpoint file; use "course" (the shipped '
                                f'checkpoint), "train" (CONFIG in OUT_DIR) or the path of a checkpoint.pt')
    return model_from_checkpoint(path).float().eval(), saved_config(load_checkpoint(path), path), f"the checkpoint {path}"


def describe_record(record: dict[str, Any] | None = None) -> str:
    """How the shipped checkpoint was made, in four lines (command, data, recipe, hash and time)."""
    rec = record if record is not None else course_record()
    cfg = rec["config"]
    return "\n".join([
        f"command: {rec['command']}",
        f"trained at commit {rec['commit']}, {rec['step']} steps of batch {cfg['batch_size']}, {cfg['num_identities']} people "
        f"of world {cfg['world_seed']} x {cfg['clips_per_identity']} clips (70 % train split)",
        f"framing {cfg['framing']!r}, expressions {cfg['expressions']!r}, masking {cfg['mask_strategy']} at {cfg['mask_ratio']}, "
        f"adversarial {cfg['adversarial']}",
        f"sha256 {rec['sha256'][:16]}..., {rec['parameters']} parameters stored as {rec['dtype']}; trained in "
        f"{rec['training']['wall_seconds'] / 60:.0f} min on {rec['training']['machine'].split(';')[0]}",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m marlin_lite.course_weights", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write a finished run's float16 weights and record")
    ex.add_argument("run", help="run folder or checkpoint file (e.g. runs/course)")
    ex.add_argument("--out", default=str(COURSE_WEIGHTS), help="weights file to write (default: the shipped one)")
    ex.add_argument("--commit", default=None, help="commit the run was trained at (default: HEAD)")
    ex.add_argument("--wall-seconds", type=float, default=None, help="how long the run took")
    ex.add_argument("--machine", default=None, help="what it ran on, e.g. '2 CPU cores'")
    ve = sub.add_parser("verify", help="check the shipped weights' hash, config and that they load")
    ve.add_argument("--weights", default=str(COURSE_WEIGHTS))
    args = parser.parse_args(argv)
    try:
        if args.command == "export":
            rec = export_weights(args.run, args.out, commit=args.commit, wall_seconds=args.wall_seconds, machine=args.machine)
            print(f"wrote {args.out} ({rec['bytes'] / 1e6:.2f} MB, sha256 {rec['sha256'][:16]}...) and its record")
        else:
            rec = verify_course_weights(args.weights)
            model = load_course_model(args.weights, verify=False)
            print(f"ok: {args.weights} sha256 {rec['sha256'][:16]}..., step {rec['step']}, "
                  f"{sum(p.numel() for p in model.parameters())} parameters, trained at {rec['commit']}")
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
