"""Do a transfer report's probe rows hold for people it never tested, and is its ceiling trained long enough?

The transfer report (:mod:`marlin_lite.transfer`) scores every method on *one* fixed test split
(world 1's test people), and its intervals are over seeds only: they say nothing about how much
a number would move on other test people. A skeptic asks two questions of a committed report:

1. **Test-set sampling.** Are the report's probe numbers (pixel probe, random-init probe,
   pretrained probe, every label regime) properties of the method, or of its test people? This
   module refits the report's probes exactly (the same data, labelled items, seeds and validation
   choice; each must reproduce the report's test number) and scores the chosen probes on the
   report's test people *and* on the test people of other SynthFace worlds (new people, never used
   by pretraining, the report or the lessons' defaults). Every cell carries a 95 % cluster-bootstrap
   interval over the test people (the seed mean recomputed on each resample), and the pretrained
   probe's paired difference from the random-init probe is given on every test set.
2. **The ceiling's budget.** Was the supervised ceiling's small 3-D CNN still improving when its
   budget ran out? It retrains the CNN (all labels, the rate the report chose) at the report's
   budget and at longer ones, per seed, and scores each on every test set.

Only probes and the CNN are retrained (minutes on one CPU thread), never the ViT runs::

    python -m marlin_lite.replicate --results docs/results.json --encoder marlin_lite/weights/course_tiny.pt \\
        --tasks dfd --worlds 2 3 --cnn-epochs 15 60 --out docs/replication.md --threads 1

The JSON of the numbers goes beside the markdown (``.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from marlin_lite import transfer as T
from marlin_lite.lr_check import load_report, run_provenance, settings_from
from marlin_lite.model import MarlinEncoder
from marlin_lite.tasks.metrics import cluster_bootstrap_weights, percentile_interval, weighted_auc
from marlin_lite.tasks.probe import task_generator

#: The report's rows that are linear probes (refitted here; seconds each).
PROBES = ("pixel_probe", "random_init_probe", "pretrained_probe")
#: Default worlds of new test people: world 0 trained the course checkpoint, world 1 is the
#: report's, world 2 the FER diagnosis's.
WORLDS = (3, 4)


def resampled_metric(task: str, scores: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The task's headline metric under each row of cluster-bootstrap ``weights (B, N)`` -> ``(B,)``.

    DFD: AUC; FAR: micro AUC (every (item, attribute) pair is one sample of the pooled AUC, weighted
    by its item's weight); FER: accuracy. Unit weights give the report's numbers.
    """
    if task == "dfd":
        return weighted_auc(scores.float(), targets.float(), weights)
    if task == "far":
        a = targets.shape[1]
        return weighted_auc(scores.float().reshape(-1), targets.float().reshape(-1), weights.repeat_interleave(a, dim=1))
    if task == "fer":
        correct = (scores.argmax(1) == targets.long()).float()
        return (weights * correct).sum(1) / weights.sum(1)
    raise ValueError(f"task must be far, fer or dfd, got {task!r}")


def _interval(per_seed: Sequence[torch.Tensor], point: float, level: float = 0.95) -> dict[str, float]:
    """Seed mean of per-resample metrics ``[(B,), ...]`` -> ``{"mean", "lo", "hi"}``."""
    lo, hi = percentile_interval(torch.stack(list(per_seed)).mean(0), level)
    return {"mean": point, "lo": lo, "hi": hi}


def _test_sets(task: str, cfg: Any, settings: T.TransferSettings, worlds: Sequence[int]) -> tuple[dict[str, T.SplitData], dict[str, T.SplitData]]:
    """The report's three splits, and the test split of each world in ``worlds`` (names ``"world <w>"``)."""
    data = T.load_task_data(task, cfg, settings)
    extra = {f"world {w}": T.load_task_data(task, cfg, replace(settings, world_seed=int(w)), splits=("test",))["test"] for w in worlds}
    return data, extra


def replicate_task(
    results: Mapping[str, Any],
    encoder: MarlinEncoder,
    task: str,
    *,
    worlds: Sequence[int] = WORLDS,
    cnn_epochs: Sequence[int] = (),
    n_boot: int = 1000,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Probe rows and (with ``cnn_epochs``) the CNN ceiling of one task on every test set.

    Returns ``{"task", "test_sets": {name: n_items, n_people}, "probes": [row...], "differences":
    [row...], "ceiling": [row...], "reproduced": (k, n)}``. A probe row: ``method``, ``regime``,
    ``per_seed`` (test set -> metric per seed) and ``cells`` (test set -> ``mean``, ``lo``, ``hi``:
    the seed mean and its 95 % interval over the test people). A difference row: the pretrained
    probe minus the random-init probe, same fields. A ceiling row: ``epochs``, ``seed``, ``lr``,
    ``val``, ``best_step``, ``steps`` and ``test`` (test set -> metric).
    """
    if task not in ("far", "fer", "dfd"):
        raise ValueError(f"task must be far, fer or dfd (LS has no probes), got {task!r}")
    settings = settings_from(results["settings"])
    seeds = [int(s) for s in results["seeds"]]
    cfg = encoder.cfg
    data, extra = _test_sets(task, cfg, settings, worlds)
    tests = {"report": data["test"], **extra}
    targets = {s: T.task_targets(task, d.labels) for s, d in data.items()}
    for name, d in extra.items():
        targets[name] = T.task_targets(task, d.labels)
    tgt_test = {"report": targets["test"], **{n: targets[n] for n in extra}}
    gen = torch.Generator().manual_seed(int(task_generator(0, "replicate", task).initial_seed()))
    weights = {n: cluster_bootstrap_weights(d.labels["identity"], n_boot, gen) for n, d in tests.items()}
    clips = {"train": data["train"].clips, "val": data["val"].clips, **{n: d.clips for n, d in tests.items()}}
    clips["test"] = clips.pop("report")

    def views_of(fn: Callable[[torch.Tensor], dict[str, torch.Tensor]]) -> dict[str, dict[str, torch.Tensor]]:
        per_split = {s: fn(c) for s, c in clips.items()}
        return {p: {s: v[p] for s, v in per_split.items()} for p in next(iter(per_split.values()))}

    pixel = views_of(lambda c: {"pixel": T.pixel_features(c, settings.pixel_size, settings.pixel_time)})
    pre = views_of(lambda c: T.encoder_views(encoder, c, grid=settings.grid, batch_size=settings.feature_batch_size, device=device))
    recorded = {(r["method"], str(r["regime"]), int(r["seed"])): r for r in results["records"] if r["task"] == task}
    found: dict[tuple[str, str], dict[str, list]] = {}
    boot: dict[tuple[str, str], dict[str, list]] = {}
    reproduced, compared = 0, 0
    for seed in seeds:
        subsets = T.low_data_subsets(task, targets["train"], settings.regimes, seed)
        for key, items in results.get("subsets", {}).get(task, {}).get(str(seed), {}).items():
            if subsets[key].tolist() != items:
                raise ValueError(f"{task} seed {seed} regime {key}: the labelled items differ from the report's; is this the report's code?")
        rand = views_of(lambda c: T.encoder_views(T.random_encoder(cfg, seed), c, grid=settings.grid,
                                                   batch_size=settings.feature_batch_size, device=device))
        for regime in settings.regimes:
            items = subsets[T._regime_key(regime)]
            for method, views in (("pixel_probe", pixel), ("random_init_probe", rand), ("pretrained_probe", pre)):
                choice = T.select_probe(views, targets, items, task=task, l2_grid=settings.probe_l2, max_iter=settings.probe_max_iter)
                scores = {"report" if s == "test" else s: v for s, v in choice.scores.items()}
                key = (method, T._regime_key(regime))
                for name, sc in scores.items():
                    found.setdefault(key, {}).setdefault(name, []).append(T.task_metrics(task, sc, tgt_test[name])[T.HEADLINE[task]])
                    boot.setdefault(key, {}).setdefault(name, []).append(resampled_metric(task, sc, tgt_test[name], weights[name]))
                rec = recorded.get((method, T._regime_key(regime), seed))
                if rec is not None:
                    compared += 1
                    reproduced += abs(rec["headline"] - found[key]["report"][-1]) < 1e-6
            log(f"[{task}] seed {seed}, {T._regime_label(regime)}: probes refitted")
    probes, differences = [], []
    for (method, regime), per in found.items():
        probes.append({"method": method, "regime": regime, "per_seed": per,
                       "cells": {n: _interval(boot[(method, regime)][n], sum(v) / len(v)) for n, v in per.items()}})
    for regime in dict.fromkeys(r for _, r in found):
        a, b = ("pretrained_probe", regime), ("random_init_probe", regime)
        cells = {}
        for n in tests:
            diff = [x - y for x, y in zip(boot[a][n], boot[b][n])]
            point = sum(found[a][n]) / len(seeds) - sum(found[b][n]) / len(seeds)
            cells[n] = _interval(diff, point)
        differences.append({"regime": regime, "cells": cells})
    ceiling = []
    if cnn_epochs:
        ceil_recs = [r for r in results["records"] if r["task"] == task and r["method"] == "ceiling"]
        lr = next((r["choice"]["candidates"]["cnn3d"]["lr"] for r in ceil_recs if "cnn3d" in r["choice"].get("candidates", {})),
                  settings.ft_lrs[len(settings.ft_lrs) // 2])
        n_out = T.num_outputs(task, targets["train"])
        everyone = torch.arange(len(data["train"]))
        for epochs in cnn_epochs:
            budget = replace(settings, ft_max_epochs=int(epochs))
            for seed in seeds:
                t0 = time.perf_counter()
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(int(task_generator(seed, "transfer", task, "cnn").initial_seed()))
                    model = T.SmallCNN3D(n_out, settings.cnn_width)
                r = T.train_classifier(model, data["train"].clips[everyone], targets["train"], data["val"].clips, targets["val"],
                                       task=task, lr=lr, settings=budget, seed=seed, device=device)
                test = {}
                for name, d in tests.items():
                    sc = T.logits_to_scores(T._predict_logits(model, d.clips, torch.device(device)), T.TASKS[task].kind)
                    test[name] = T.task_metrics(task, sc, tgt_test[name])[T.HEADLINE[task]]
                rec = next((c for c in ceil_recs if int(c["seed"]) == seed and c["choice"].get("candidate") == "cnn3d"), None)
                same = None  # at the report's budget, the CNN the report kept must come back
                if rec is not None and int(epochs) == settings.cnn_max_epochs and rec["choice"]["lr"] == lr:
                    same = abs(rec["headline"] - test["report"]) < 1e-6
                ceiling.append({"epochs": int(epochs), "seed": seed, "lr": lr, "val": r["val_metric"], "best_step": r["best_step"],
                                "steps": r["steps"], "test": test, "reproduces_report": same,
                                "seconds": round(time.perf_counter() - t0, 1)})
                log(f"[{task}] CNN {epochs} epochs, seed {seed}: val {r['val_metric']:.3f}, best step {r['best_step']} of "
                    f"{r['steps']}, " + ", ".join(f"{n} {v:.3f}" for n, v in test.items()))
    return {
        "task": task,
        "test_sets": {n: {"items": len(d), "people": int(torch.unique(d.labels["identity"]).numel())} for n, d in tests.items()},
        "probes": probes, "differences": differences, "ceiling": ceiling, "reproduced": [reproduced, compared],
    }


def _cell(c: Mapping[str, float]) -> str:
    return f"{c['mean']:.3f} [{c['lo']:.3f}, {c['hi']:.3f}]"


def _signed(c: Mapping[str, float]) -> str:
    verdict = "> 0" if c["lo"] > 0 else "< 0" if c["hi"] < 0 else "n.s."
    return f"{c['mean']:+.3f} [{c['lo']:+.3f}, {c['hi']:+.3f}] {verdict}"


def render(out: Sequence[Mapping[str, Any]], provenance: Mapping[str, Any]) -> str:
    """Markdown: per task, the probe table, the paired differences and the CNN budgets."""
    lines = [
        "# The transfer report on new test people, and its ceiling's budget",
        "",
        f"*Written by `{provenance['command']}`; do not edit by hand.*",
        "",
        f"- **report**: `{provenance['results']}` (commit `{provenance['report_commit']}`), seeds {provenance['seeds']}",
        f"- **this run**: commit `{provenance['commit']}`, {provenance['date']}, {provenance['seconds']} s on {provenance['machine']}",
        "- **what is refitted**: the report's linear probes, exactly (its data, labelled items, seeds, pooling and L2 chosen on "
        "its validation split); the chosen probes then score the report's test people and the test people of new SynthFace "
        "worlds (the same sizes and split, other people)",
        f"- **cells**: the mean over seeds and a 95 % cluster-bootstrap interval over the test people ({provenance['n_boot']} "
        "resamples, the seed mean recomputed on each): how far the number could move on other people like these. "
        "The report's own ± is over seeds only",
        "",
    ]
    for t in out:
        task, names = t["task"], list(t["test_sets"])
        metric = T.METRIC_NAMES[T.HEADLINE[task]]
        k, n = t["reproduced"]
        sizes = "; ".join(f"{m}: {s['items']} items of {s['people']} people" for m, s in t["test_sets"].items())
        lines += [f"## {task.upper()}: {metric}", "", f"Test sets: {sizes}. Reproduction: {k} of {n} refitted probes give the "
                  "report's test number (to 1e-6).", "",
                  "| method | regime | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
        for r in t["probes"]:
            lines.append(f"| {T.method_label(task, r['method'])} | {T._regime_label(r['regime'])} | "
                         + " | ".join(_cell(r["cells"][m]) for m in names) + " |")
        lines += ["", "Pretrained probe minus random-init probe, paired over the same test resamples:", "",
                  "| regime | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for r in t["differences"]:
            lines.append(f"| {T._regime_label(r['regime'])} | " + " | ".join(_signed(r["cells"][m]) for m in names) + " |")
        below = {m: sum(r["cells"][m]["mean"] < 0.5 for r in t["probes"] if r["regime"] != "all") for m in names}
        if task == "dfd":
            lines += ["", "Probe cells below chance (0.5) with at most 10 labels per class, of "
                      f"{sum(r['regime'] != 'all' for r in t['probes'])}: " + ", ".join(f"{m} {v}" for m, v in below.items()) + "."]
        if t["ceiling"]:
            lines += ["", f"**The ceiling's 3-D CNN at longer budgets** (all labels, lr {t['ceiling'][0]['lr']:g}, the report's "
                      "validation checks and patience; best validation check kept):", "",
                      "| epochs | seed | val | best step / steps | " + " | ".join(names) + " |", "|---|---|---|---|" + "---|" * len(names)]
            for r in t["ceiling"]:
                mark = {True: " (= report)", False: " (differs from the report)", None: ""}[r.get("reproduces_report")]
                lines.append(f"| {r['epochs']} | {r['seed']} | {r['val']:.3f} | {r['best_step']} / {r['steps']} | "
                             + " | ".join(f"{r['test'][m]:.3f}" + (mark if m == "report" else "") for m in names) + " |")
            for e in dict.fromkeys(r["epochs"] for r in t["ceiling"]):
                rows = [r for r in t["ceiling"] if r["epochs"] == e]
                lines.append(f"| {e} | mean | {sum(r['val'] for r in rows) / len(rows):.3f} | | "
                             + " | ".join(f"{sum(r['test'][m] for r in rows) / len(rows):.3f}" for m in names) + " |")
        lines.append("")
    return "\n".join(lines)


def load_replication(path: str | Path) -> dict[str, Any]:
    """The JSON a run wrote beside its markdown (``path``: the ``.md`` or the ``.json``)."""
    path = Path(path).with_suffix(".json")
    if not path.is_file():
        raise FileNotFoundError(f"no replication results at {path}; write them with python -m marlin_lite.replicate "
                                "--encoder CHECKPOINT --out " + str(path.with_suffix(".md")))
    return json.loads(path.read_text())


def text_table(replication: Mapping[str, Any], task: str) -> str:
    """Plain-text tables of one task (for notebooks): probe cells and differences on every test set,
    then the CNN budgets (seed means)."""
    t = next((x for x in replication["tasks"] if x["task"] == task), None)
    if t is None:
        raise KeyError(f"no {task} results in this replication; it has {[x['task'] for x in replication['tasks']]}")
    names = list(t["test_sets"])
    width = 31
    lines = [f"{T.METRIC_NAMES[T.HEADLINE[task]]}: seed mean [95 % interval over the test people]",
             f"{'':40}" + "".join(f"{n:>{width}}" for n in names)]
    for r in t["probes"]:
        label = f"{T.method_label(task, r['method'])}, {T._regime_label(r['regime'])}"
        lines.append(f"{label:40}" + "".join(f"{_cell(r['cells'][n]):>{width}}" for n in names))
    lines.append("pretrained probe - random-init probe")
    for r in t["differences"]:
        lines.append(f"{'  ' + T._regime_label(r['regime']):40}" + "".join(f"{_signed(r['cells'][n]):>{width}}" for n in names))
    for e in dict.fromkeys(r["epochs"] for r in t["ceiling"]):
        rows = [r for r in t["ceiling"] if r["epochs"] == e]
        label = f"3-D CNN, {e} epochs (mean of {len(rows)} seeds)"
        lines.append(f"{label:40}" + "".join(f"{sum(r['test'][n] for r in rows) / len(rows):>{width}.3f}" for n in names)
                     + "   per seed on report: " + ", ".join(f"{r['test']['report']:.3f}" for r in rows))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m marlin_lite.replicate", description=__doc__.splitlines()[0])
    p.add_argument("--results", default="docs/results.json", help="the transfer report's JSON")
    p.add_argument("--encoder", required=True, help="the checkpoint the report evaluated")
    p.add_argument("--tasks", nargs="+", default=["dfd"], choices=["far", "fer", "dfd"])
    p.add_argument("--worlds", nargs="+", type=int, default=list(WORLDS), help="SynthFace worlds of the new test people")
    p.add_argument("--cnn-epochs", nargs="*", type=int, default=[], help="retrain the ceiling's CNN at these budgets (epochs)")
    p.add_argument("--bootstrap", type=int, default=1000, help="resamples of the test people")
    p.add_argument("--out", default=None, help="write the markdown here and the JSON beside it (default: print the markdown)")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if any(w in (0, 1) for w in args.worlds):
        p.error("--worlds: 0 trained the course checkpoint and 1 is the report's own; choose others (e.g. 3 4)")
    if any(e < 1 for e in args.cnn_epochs) or args.bootstrap < 1:
        p.error("--cnn-epochs and --bootstrap must be >= 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        results, encoder = load_report(args.results, args.encoder)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    out = [replicate_task(results, encoder, task, worlds=args.worlds, cnn_epochs=args.cnn_epochs, n_boot=args.bootstrap,
                          log=lambda s: print(s, file=sys.stderr, flush=True)) for task in args.tasks]
    provenance = {**run_provenance("replicate", argv, t0), "results": args.results,
                  "report_commit": results["provenance"].get("git_commit"), "seeds": results["seeds"], "n_boot": args.bootstrap}
    text = render(out, provenance)
    if args.out:
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.with_suffix(".json").write_text(json.dumps({"provenance": provenance, "tasks": out}, indent=1) + "\n")
        print(f"wrote {path} and {path.with_suffix('.json')}", file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
