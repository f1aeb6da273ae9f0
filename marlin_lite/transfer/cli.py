"""The command line, ``python -m marlin_lite.transfer``: arguments, the provenance of a run, and
``--jobs`` (one process per task, results merged)."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from marlin_lite.pretrain import load_checkpoint, model_from_checkpoint, saved_config
from marlin_lite.transfer.evaluate import run_transfer, summarize
from marlin_lite.transfer.report import git_state, versions, write_report
from marlin_lite.transfer.settings import ALL_TASKS, TransferSettings
from marlin_lite.transfer.view import load_results
from marlin_lite.utils import machine_description, pick_device, sha256_file


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (``prog: error: message``), exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> _Parser:
    # the package docstring documents the method; its first line describes the command
    p = _Parser(prog="python -m marlin_lite.transfer", description=sys.modules[__package__].__doc__.splitlines()[0])
    p.add_argument("--encoder", help="a MARLIN-lite pretraining checkpoint (checkpoint.pt of marlin_lite.pretrain); required "
                                      "unless --merge")
    p.add_argument("--merge", nargs="+", metavar="PART.json", default=None,
                   help="no training: merge reports of disjoint task sets (the JSON of runs with --tasks, on one machine or "
                        "several, same settings, seeds and encoder) into --out; each part's command, commit and time are kept")
    p.add_argument("--out", default="docs/results.md", help="the Markdown report; the JSON goes beside it (.json)")
    p.add_argument("--seeds", nargs="+", default=["0", "1", "2"], help="seeds (non-negative ints), default 0 1 2")
    p.add_argument("--tasks", nargs="+", default=list(ALL_TASKS), help=f"any of {' '.join(ALL_TASKS)} (default all)")
    p.add_argument("--quick", action="store_true", help="toy sizes and budgets (seconds): a smoke test, not results")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, auto, ...")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--jobs", type=int, default=1,
                   help="run the tasks in this many processes at once (each with --threads, default 1 then); the tasks "
                        "are independent, so the numbers are those of one process at the same thread count")
    p.add_argument("--ft-max-epochs", type=int, default=None,
                   help="epochs of the supervised ViT runs (scratch, fine-tuning; default 8; the committed "
                        "docs/results.md used 40, after docs/budget_check.md found 8 too short)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


def merge_results(parts: Sequence[Mapping[str, Any]], order: Sequence[str] | None = None) -> dict[str, Any]:
    """One results dict from runs of disjoint task sets with the same settings, seeds and model
    (what ``--jobs`` makes); the summary is computed again over all records. Tasks and records
    come in the parts' order, or in ``order`` (task names) when given. ``ValueError`` when the
    parts cannot belong to one report."""
    if not parts:
        raise ValueError("nothing to merge")
    first = parts[0]
    for part in parts[1:]:
        for key in ("settings", "seeds", "model"):
            if part[key] != first[key]:
                raise ValueError(f"cannot merge: the parts differ in {key}")
    tasks = [t for part in parts for t in part["tasks"]]
    if len(set(tasks)) != len(tasks):
        raise ValueError(f"cannot merge: a task appears twice ({tasks})")
    if order is not None:
        tasks = sorted(tasks, key=list(order).index)
    records = sorted((r for part in parts for r in part["records"]), key=lambda r: tasks.index(r["task"]))
    merged = {"records": records, "summary": summarize(records), "settings": first["settings"], "seeds": first["seeds"],
              "tasks": tasks, "model": first["model"]}
    for key in ("chance", "data", "subsets", "timings_s", "extra"):
        merged[key] = {k: v for part in parts for k, v in part.get(key, {}).items()}
    return merged


_SHARED = ("encoder", "encoder_sha256", "pretraining", "quick")


def merge_parts(paths: Sequence[str | Path], command_args: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(results, provenance)`` of one report made of separately run reports (``paths``: their
    JSON, e.g. ``--tasks far fer`` on one machine and ``--tasks dfd ls`` on another). The parts
    must share settings, seeds, model, encoder (SHA-256) and pretraining; tasks come in the
    package's order. The provenance keeps each part's command, commit, date, time and machine
    under ``parts``; ``git_commit`` joins the parts' commits when they differ, ``elapsed_s`` sums
    their times. ``ValueError`` names the part that does not fit."""
    if len(paths) < 2:
        raise ValueError("give two or more parts to merge")
    parts, provs = [], []
    for path in paths:
        part = load_results(path)
        prov = part.pop("provenance", None)
        if not prov:
            raise ValueError(f"{path}: no provenance (not written by python -m marlin_lite.transfer)")
        for key in _SHARED:
            if provs and prov.get(key) != provs[0].get(key):
                raise ValueError(f"cannot merge: {path} differs from {paths[0]} in {key}")
        if parts and part["settings"] != parts[0]["settings"]:
            ours, theirs = part["settings"], parts[0]["settings"]
            fields = ", ".join(f"{k} {ours.get(k)} vs {theirs.get(k)}" for k in sorted(set(ours) | set(theirs))
                               if ours.get(k) != theirs.get(k))
            raise ValueError(f"cannot merge: {path} differs from {paths[0]} in settings ({fields}); rerun it with the same options")
        parts.append(part)
        provs.append(prov)
    merged = merge_results(parts, order=ALL_TASKS)
    commits = list(dict.fromkeys(str(p.get("git_commit") or "unknown") for p in provs))
    machines = list(dict.fromkeys(p["machine"] for p in provs))
    versions = {k: " / ".join(dict.fromkeys(str(p["versions"].get(k)) for p in provs)) for k in provs[0]["versions"]}
    provenance = {
        "command": "python -m marlin_lite.transfer " + shlex.join(command_args),
        "argv": list(command_args),
        **{k: provs[0].get(k) for k in _SHARED},
        "git_commit": ", ".join(commits),
        "git_dirty": any(bool(p.get("git_dirty")) for p in provs),
        "versions": versions,
        "date": max(p["date"] for p in provs),
        "elapsed_s": round(sum(float(p["elapsed_s"]) for p in provs), 1),
        "machine": "; ".join(machines),
        "parts": [{"file": str(path), "tasks": part["tasks"], **{k: prov.get(k) for k in
                   ("command", "git_commit", "git_dirty", "date", "elapsed_s", "machine")}}
                  for path, part, prov in zip(paths, parts, provs)],
    }
    return merged, provenance


def _run_parallel(args: Sequence[str], tasks: Sequence[str], jobs: int, threads: int, quiet: bool) -> dict[str, Any]:
    """Run each task as its own ``python -m marlin_lite.transfer`` process (at most ``jobs`` at once)
    and merge their results; a failed task stops the whole run with its exit status."""
    base, skip = [], False
    for i, arg in enumerate(args):  # the parent's arguments without --out, --tasks, --jobs, --threads
        if skip:
            if arg.startswith("--"):
                skip = False
            else:
                continue
        if arg in ("--out", "--tasks", "--jobs", "--threads"):
            skip = True
            continue
        base.append(arg)
    with tempfile.TemporaryDirectory(prefix="transfer_jobs_") as tmp:
        pending, running, parts = list(tasks), [], {}
        while pending or running:
            while pending and len(running) < jobs:
                task = pending.pop(0)
                cmd = [sys.executable, "-m", "marlin_lite.transfer", *base, "--tasks", task, "--threads", str(threads),
                       "--out", str(Path(tmp) / f"{task}.md")]
                running.append((task, subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL if quiet else None)))
            time.sleep(0.5)
            for task, proc in list(running):
                if proc.poll() is not None:
                    running.remove((task, proc))
                    if proc.returncode != 0:
                        for _, other in running:
                            other.kill()
                        raise RuntimeError(f"the {task} process failed (exit status {proc.returncode}); run it alone with --tasks {task}")
                    parts[task] = load_results(Path(tmp) / f"{task}.json")
        for part in parts.values():
            part.pop("provenance", None)
        return merge_results([parts[t] for t in tasks])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m marlin_lite.transfer --encoder PATH [--out docs/results.md] [--seeds 0 1 2]
    [--tasks far fer dfd] [--quick]``. Bad arguments exit with code 2 and a one-line message
    naming the argument."""
    args = list(sys.argv[1:] if argv is None else argv)
    p = _parser()
    a = p.parse_args(args)
    if a.merge is not None:
        if Path(a.out).suffix == ".json":
            p.error(f"--out: give the Markdown path (the JSON goes beside it), got {a.out}")
        try:
            results, provenance = merge_parts(a.merge, args)
        except (FileNotFoundError, ValueError) as err:
            p.error(f"--merge: {' '.join(str(err).split())}")
        md, js = write_report(results, provenance, a.out)
        if not a.quiet:
            print(f"wrote {md} and {js} (merged {len(a.merge)} parts: {', '.join(results['tasks'])})", file=sys.stderr)
        return 0
    if a.encoder is None:
        p.error("--encoder: required (a pretraining checkpoint), unless --merge")
    try:
        seeds = [int(s) for s in a.seeds]
    except ValueError:
        p.error(f"--seeds: expected non-negative integers, got {' '.join(a.seeds)}")
    if any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        p.error(f"--seeds: expected distinct non-negative integers, got {' '.join(a.seeds)}")
    unknown = [t for t in a.tasks if t not in ALL_TASKS]
    if unknown:
        p.error(f"--tasks: unknown task(s) {' '.join(unknown)}; choose from {' '.join(ALL_TASKS)}")
    tasks = list(dict.fromkeys(a.tasks))
    if Path(a.out).suffix == ".json":
        p.error(f"--out: give the Markdown path (the JSON goes beside it), got {a.out}")
    if a.threads is not None:
        if a.threads < 1:
            p.error(f"--threads: expected an integer >= 1, got {a.threads}")
        torch.set_num_threads(a.threads)
    if a.jobs < 1:
        p.error(f"--jobs: expected an integer >= 1, got {a.jobs}")
    encoder_path = Path(a.encoder)
    if not encoder_path.is_file():
        p.error(f"--encoder: no checkpoint file at {encoder_path}")
    try:
        model = model_from_checkpoint(encoder_path)
        ckpt = load_checkpoint(encoder_path)
        pre_cfg = saved_config(ckpt, encoder_path)
    except (ValueError, FileNotFoundError) as err:
        p.error(f"--encoder: {' '.join(str(err).split())}")
    pretraining = {k: getattr(pre_cfg, k) for k in ("model", "world_seed", "framing", "expressions", "num_identities",
                                                     "clips_per_identity", "mask_strategy", "mask_ratio", "max_steps", "data_path")}
    pretraining["step"] = int(ckpt.get("step", -1))
    del ckpt
    try:
        device = pick_device(a.device)
        torch.empty(0, device=device)
    except Exception as err:  # noqa: BLE001 (a CPU-only build raises AssertionError for cuda)
        p.error(f"--device: {a.device!r} is not usable here ({' '.join(str(err).split())[:200]})")
    settings = TransferSettings.quick() if a.quick else TransferSettings()
    if a.ft_max_epochs is not None:
        if a.ft_max_epochs < 1:
            p.error(f"--ft-max-epochs: expected an integer >= 1, got {a.ft_max_epochs}")
        settings = dataclasses.replace(settings, ft_max_epochs=a.ft_max_epochs)
    log = (lambda s: None) if a.quiet else (lambda s: print(s, file=sys.stderr, flush=True))
    t0 = time.perf_counter()
    if a.jobs > 1 and len(tasks) > 1:
        try:
            results = _run_parallel(args, tasks, a.jobs, a.threads or 1, a.quiet)
        except RuntimeError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
    else:
        results = run_transfer(model, tasks=tasks, seeds=seeds, settings=settings, device=device, log=log)
    commit, dirty = git_state()
    provenance = {
        "command": "python -m marlin_lite.transfer " + shlex.join(args),
        "argv": args,
        "encoder": str(encoder_path),
        "encoder_sha256": sha256_file(encoder_path),
        "pretraining": pretraining,
        "quick": bool(a.quick),
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": versions(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "elapsed_s": round(time.perf_counter() - t0, 1),
        "machine": (machine_description(a.threads or 1, a.jobs) if a.jobs > 1 and len(tasks) > 1 else machine_description())
                   + f", device {device}",
    }
    md, js = write_report(results, provenance, a.out)
    if not a.quiet:
        print(f"wrote {md} and {js} ({provenance['elapsed_s']:.0f} s)", file=sys.stderr)
    return 0
