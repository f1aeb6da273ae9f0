"""Would a wider learning-rate grid have changed the transfer report's end-to-end rows?

The transfer report (:mod:`marlin_lite.transfer`) tunes supervised-from-scratch training and
fine-tuning over a small grid of learning rates (``ft_lrs``, default 3e-4, 1e-3, 3e-3) on the
validation split, and flags the choices that fell at an end of the grid: a skeptic's question is
whether the baseline was tuned at all, or whether the best rate lies outside the grid. This module
answers it for a committed report without running the report again. For every end-of-grid choice
of the first seed (the seed that searched the grid; the others reuse its rate), it trains the
next rate outside the grid (1e-4 below 3e-4, 1e-2 above 3e-3: the half-decade grid widened by
one step) and the chosen rate again, on exactly the report's data, labelled items, seed and
budget, and says whether validation would have chosen differently, and what that choice scores
on test::

    python -m marlin_lite.lr_check --results docs/results.json --encoder marlin_lite/weights/course_tiny.pt \\
        --out docs/lr_grid_check.md --threads 1

Retraining the chosen rate checks that the run reproduces the report (its validation metric must
match the recorded one); a mismatch is printed in the table, not hidden.

The same skeptic asks about the budget: the report trains the ViTs for at most ``ft_max_epochs``
(8) epochs with early stopping, its CNN ceiling for 60. ``--epochs N`` answers that instead: each
tuned method's run of the first seed (all labels by default, ``--regimes``) is trained again at
its chosen rate for up to ``N`` epochs, with the same number of validation checks, patience and
everything else, and set beside the report's run::

    python -m marlin_lite.lr_check --results docs/results.json --encoder marlin_lite/weights/course_tiny.pt \
        --epochs 40 --out docs/budget_check.md --threads 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from marlin_lite import transfer as T
from marlin_lite.model import MarlinEncoder
from marlin_lite.pretrain import model_from_checkpoint
from marlin_lite.utils import machine_description

#: The end-to-end methods whose learning rate the report tunes.
TUNED = ("supervised_scratch", "pretrained_finetune")


def settings_from(saved: Mapping[str, Any]) -> T.TransferSettings:
    """The :class:`~marlin_lite.transfer.TransferSettings` a report's JSON recorded (lists back to tuples)."""
    kw = dict(saved)
    for key in ("split_fractions", "regimes", "probe_l2", "ft_lrs"):
        if key in kw:
            kw[key] = tuple(kw[key])
    return T.TransferSettings(**kw)


def load_report(results_path: str | Path, encoder_path: str | Path) -> tuple[dict[str, Any], MarlinEncoder]:
    """A committed transfer report's JSON and the encoder it evaluated (checked by SHA-256).

    Raises ``FileNotFoundError`` / ``ValueError`` naming the argument (``--results`` / ``--encoder``).
    """
    results = T.load_results(results_path)
    if not Path(encoder_path).is_file():
        raise FileNotFoundError(f"--encoder: no checkpoint file at {encoder_path}")
    if T.sha256_file(encoder_path) != results["provenance"].get("encoder_sha256"):
        raise ValueError(f"--encoder: {encoder_path} is not the checkpoint the report evaluated (SHA-256 differs)")
    return results, T.as_encoder(model_from_checkpoint(encoder_path)).eval()


def run_provenance(module: str, argv: Sequence[str] | None, t0: float) -> dict[str, Any]:
    """``command``, ``commit`` (marked when the tree has uncommitted changes), ``date``, ``seconds``
    since ``t0`` and ``machine`` of a check run as ``python -m marlin_lite.<module>``."""
    commit, dirty = T.git_state()
    return {
        "command": f"python -m marlin_lite.{module} " + " ".join(argv if argv is not None else sys.argv[1:]),
        "commit": f"{commit} (with uncommitted changes)" if dirty else commit, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": round(time.perf_counter() - t0), "machine": machine_description(),
    }


def beyond(lr: float, grid: Sequence[float]) -> float | None:
    """The next rate outside ``grid`` past ``lr`` (a decade boundary: 3e-4 -> 1e-4, 3e-3 -> 1e-2),
    or ``None`` when ``lr`` is not at an end of the grid."""
    lo, hi = min(grid), max(grid)
    if lr == lo:
        down = 10 ** math.floor(math.log10(lo) - 1e-9)
        return down if down < lo else lo / 3
    if lr == hi:
        up = 10 ** math.ceil(math.log10(hi) + 1e-9)
        return up if up > hi else hi * 3
    return None


def check_grid(results: Mapping[str, Any], encoder: MarlinEncoder, *, tasks: Sequence[str] = ("far", "fer", "dfd"),
               device: str = "cpu", log: Any = print) -> list[dict[str, Any]]:
    """One row per end-of-grid choice of the first seed (see the module docstring).

    Row keys: ``task``, ``method``, ``regime``, ``n_train``, ``chosen_lr``, ``recorded_val`` (the
    report's validation metric at that rate), ``rerun_val`` (this run's), ``other_lr``,
    ``other_val``, ``moves`` (validation would pick ``other_lr``), ``recorded_test`` and
    ``test_if_moved`` (the test headline of ``other_lr``'s model when it would be picked).
    """
    settings = settings_from(results["settings"])
    seed = int(results["seeds"][0])
    rows: list[dict[str, Any]] = []
    keep = lambda r: "lr_chosen_by_seed" not in r["choice"] and beyond(r["choice"]["lr"], settings.ft_lrs)  # noqa: E731
    for task, r, data, targets, items, make in _tuned_runs(results, encoder, settings, tasks, keep):
        chosen, other = r["choice"]["lr"], beyond(r["choice"]["lr"], settings.ft_lrs)
        t0 = time.perf_counter()
        out = T.select_trained(make, data, targets, items, task=task, settings=settings, seed=seed, device=device,
                               lrs=(chosen, other))
        tried = {t["lr"]: t for t in out["tried"]}
        moves = out["lr"] == other
        test = T.task_metrics(task, out["test_scores"], targets["test"])[T.HEADLINE[task]] if moves else None
        rows.append({
            "task": task, "method": r["method"], "regime": r["regime"], "n_train": int(items.numel()),
            "chosen_lr": chosen, "recorded_val": r["choice"]["val_metric"], "rerun_val": tried[chosen]["val_metric"],
            "other_lr": other, "other_val": tried[other]["val_metric"], "moves": moves,
            "recorded_test": r["headline"], "test_if_moved": test, "seconds": round(time.perf_counter() - t0, 1),
        })
        log(f"[{task}] {r['method']} {r['regime']}: lr {chosen:g} val {tried[chosen]['val_metric']:.3f} "
            f"(report {r['choice']['val_metric']:.3f}) | lr {other:g} val {tried[other]['val_metric']:.3f}"
            + (f" -> moves, test {test:.3f} (report {r['headline']:.3f})" if moves else ""))
    return rows


def _tuned_runs(results: Mapping[str, Any], encoder: MarlinEncoder, settings: T.TransferSettings, tasks: Sequence[str],
                keep: Callable[[Mapping[str, Any]], bool]) -> Iterator[tuple[str, Mapping[str, Any], Any, Any, torch.Tensor, Any]]:
    """The report's tuned runs (scratch, fine-tune) of its first seed that ``keep(record)`` selects,
    as ``(task, record, data, targets, labelled items, model factory)``: each task's data is drawn
    once, with the report's labelled items (``ValueError`` when they differ from the recorded ones:
    not the report's code), and the factory builds the run's ViT as the report did."""
    seed = int(results["seeds"][0])
    for task in tasks:
        records = [r for r in results["records"] if r["task"] == task and r["method"] in TUNED and r["seed"] == seed and keep(r)]
        if not records:
            continue
        data = T.load_task_data(task, encoder.cfg, settings)
        targets = {s: T.task_targets(task, d.labels) for s, d in data.items()}
        n_out = T.num_outputs(task, targets["train"])
        subsets = T.low_data_subsets(task, targets["train"], settings.regimes, seed)
        recorded = results.get("subsets", {}).get(task, {}).get(str(seed), {})
        for key, items in recorded.items():  # the same labelled items as the report, or stop
            if subsets[key].tolist() != items:
                raise ValueError(f"{task} regime {key}: the labelled items differ from the report's; is this the report's code?")
        rand_enc = T.random_encoder(encoder.cfg, seed)
        for r in records:
            make = T.vit_classifier(rand_enc if r["method"] == "supervised_scratch" else encoder, task, n_out, seed)
            yield task, r, data, targets, subsets[str(r["regime"])], make


def longer_budget(settings: T.TransferSettings, epochs: int) -> T.TransferSettings:
    """``settings`` with the fine-tuning budget raised to ``epochs`` (a step cap, when one is set,
    raised in proportion); checks, patience and the rest unchanged."""
    if epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {epochs}")
    cap = settings.ft_max_steps
    if cap is not None:
        cap = max(cap, math.ceil(cap * epochs / max(settings.ft_max_epochs, 1)))
    return dataclasses.replace(settings, ft_max_epochs=epochs, ft_max_steps=cap)


def prefers_longer(val: float, val_loss: float, recorded_val: float, recorded_loss: float) -> bool:
    """Whether validation would keep the longer run: a higher metric, or the same metric and a lower
    loss. Differences below 1e-9 (metric) and 1e-6 (loss: the report's JSON rounds it) are ties,
    which keep the report's run (the longer run often stops at the same best check)."""
    if not math.isfinite(val):
        return False
    if not math.isfinite(recorded_val) or val > recorded_val + 1e-9:
        return True
    return abs(val - recorded_val) <= 1e-9 and val_loss < recorded_loss - 1e-6


def check_budget(results: Mapping[str, Any], encoder: MarlinEncoder, epochs: int, *, tasks: Sequence[str] = ("far", "fer", "dfd"),
                 regimes: Sequence[str] = ("all",), device: str = "cpu", log: Any = print) -> list[dict[str, Any]]:
    """Each tuned method's first-seed run in ``regimes`` trained again at its chosen rate for up to
    ``epochs`` epochs (:func:`longer_budget`; see the module docstring).

    Row keys: ``task``, ``method``, ``regime``, ``n_train``, ``lr``, ``report_epochs``, ``epochs``,
    ``recorded_val``, ``recorded_test``, ``recorded_steps``, ``recorded_best_step`` (the report's
    run) and ``val``, ``test``, ``steps``, ``best_step``, ``seconds`` (this run), ``prefers_longer``
    (validation would keep the longer run: a higher metric, ties to the lower loss).
    """
    settings = settings_from(results["settings"])
    longer = longer_budget(settings, epochs)
    seed = int(results["seeds"][0])
    rows: list[dict[str, Any]] = []
    for task, r, data, targets, items, make in _tuned_runs(results, encoder, settings, tasks, lambda r: str(r["regime"]) in regimes):
        lr = r["choice"]["lr"]
        t0 = time.perf_counter()
        out = T.select_trained(make, data, targets, items, task=task, settings=longer, seed=seed, device=device, lrs=(lr,))
        test = T.task_metrics(task, out["test_scores"], targets["test"])[T.HEADLINE[task]]
        prefers = prefers_longer(out["val_metric"], out["val_loss"], r["choice"]["val_metric"], r["choice"]["val_loss"])
        rows.append({
            "task": task, "method": r["method"], "regime": r["regime"], "n_train": int(items.numel()), "lr": lr,
            "report_epochs": settings.ft_max_epochs, "epochs": epochs,
            "recorded_val": r["choice"]["val_metric"], "recorded_test": r["headline"],
            "recorded_steps": r["choice"]["steps"], "recorded_best_step": r["choice"]["best_step"],
            "recorded_val_loss": r["choice"]["val_loss"], "val_loss": out["val_loss"],
            "val": out["val_metric"], "test": test, "steps": out["steps"], "best_step": out["best_step"],
            "prefers_longer": bool(prefers), "seconds": round(time.perf_counter() - t0, 1),
        })
        log(f"[{task}] {r['method']} {r['regime']} lr {lr:g}: {settings.ft_max_epochs} epochs val {r['choice']['val_metric']:.3f} "
            f"test {r['headline']:.3f} | {epochs} epochs val {out['val_metric']:.3f} test {test:.3f} "
            f"(best step {out['best_step']} of {out['steps']})")
    return rows


def render_budget(rows: Sequence[Mapping[str, Any]], provenance: Mapping[str, Any]) -> str:
    """The budget check as Markdown (every number from ``rows`` and ``provenance``)."""
    longer = [r for r in rows if r["prefers_longer"]]
    epochs = rows[0]["epochs"] if rows else provenance.get("epochs")
    report_epochs = rows[0]["report_epochs"] if rows else "?"
    lines = [
        "# The transfer report's fine-tuning budget, lengthened",
        "",
        f"*Written by `{provenance['command']}`; do not edit by hand.*",
        "",
        f"- **report**: `{provenance['results']}` (commit `{provenance['report_commit']}`): the ViTs (supervised from scratch, "
        f"fine-tuned) train for up to {report_epochs} epochs, the CNN ceiling for up to {provenance['cnn_epochs']}; first seed "
        f"{provenance['seed']}",
        f"- **this run**: the chosen rate again, up to {epochs} epochs, the same {provenance['evals']} validation checks and "
        f"patience {provenance['patience']}; commit `{provenance['commit']}`, {provenance['date']}, {provenance['seconds']} s on "
        f"{provenance['machine']}",
        "",
        f"| task | method | regime | n | lr | {report_epochs} epochs: val, test (best step / steps) | {epochs} epochs: val, test "
        "(best step / steps) | validation keeps |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['task'].upper()} | {T.method_label(r['task'], r['method'])} | {r['regime']} | {r['n_train']} | {r['lr']:g} | "
            f"{r['recorded_val']:.3f}, {r['recorded_test']:.3f} ({r['recorded_best_step']} / {r['recorded_steps']}) | "
            f"{r['val']:.3f}, {r['test']:.3f} ({r['best_step']} / {r['steps']}) | "
            f"{f'{epochs} epochs' if r['prefers_longer'] else f'{report_epochs} epochs'} |")
    moved = "; ".join(f"{r['task'].upper()} {T.method_label(r['task'], r['method'])} {r['regime']} (test {r['recorded_test']:.3f} -> "
                      f"{r['test']:.3f})" for r in longer)
    lines += [
        "",
        f"**Summary**: validation would keep the longer run for {len(longer)} of {len(rows)}" + (f": {moved}" if moved else "")
        + ". One seed, validation of the report's size: read a change of a few hundredths as noise.",
        "",
    ]
    return "\n".join(lines)


def render(rows: Sequence[Mapping[str, Any]], provenance: Mapping[str, Any]) -> str:
    moved = [r for r in rows if r["moves"]]
    same = sum(abs(r["rerun_val"] - r["recorded_val"]) < 1e-9 for r in rows)
    lines = [
        "# The transfer report's learning-rate grid, widened by one step",
        "",
        f"*Written by `{provenance['command']}`; do not edit by hand.*",
        "",
        f"- **report**: `{provenance['results']}` (commit `{provenance['report_commit']}`), grid {provenance['grid']}, first seed "
        f"{provenance['seed']} (the seed that searched the grid)",
        f"- **this run**: commit `{provenance['commit']}`, {provenance['date']}, {provenance['seconds']} s on {provenance['machine']}",
        f"- **reproduction**: retrained at the chosen rate, {same} of {len(rows)} runs give the report's validation metric exactly",
        "",
        "| task | method | regime | n | chosen lr: val (report) | next lr: val | validation would pick | test: report -> moved |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        test = f"{r['recorded_test']:.3f} -> {r['test_if_moved']:.3f}" if r["moves"] else f"{r['recorded_test']:.3f}"
        pick = f"{r['other_lr']:g} (moves)" if r["moves"] else f"{r['chosen_lr']:g} (stays)"
        lines.append(f"| {r['task'].upper()} | {T.method_label(r['task'], r['method'])} | {r['regime']} | {r['n_train']} | "
                     f"{r['chosen_lr']:g}: {r['rerun_val']:.3f} ({r['recorded_val']:.3f}) | {r['other_lr']:g}: {r['other_val']:.3f} | "
                     f"{pick} | {test} |")
    lines += [
        "",
        f"**Summary**: of {len(rows)} end-of-grid choices, validation would move {len(moved)} to the rate outside the grid"
        + (": " + "; ".join(f"{r['task'].upper()} {T.method_label(r['task'], r['method'])} {r['regime']} "
                           f"(test {r['recorded_test']:.3f} -> {r['test_if_moved']:.3f})" for r in moved) if moved else "")
        + ". One seed, validation of the report's size: a move is a hint, not a measured gain.",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m marlin_lite.lr_check", description=__doc__.splitlines()[0])
    p.add_argument("--results", default="docs/results.json", help="the transfer report's JSON")
    p.add_argument("--encoder", required=True, help="the checkpoint the report evaluated")
    p.add_argument("--tasks", nargs="+", default=["far", "fer", "dfd"], choices=["far", "fer", "dfd"])
    p.add_argument("--epochs", type=int, default=None,
                   help="check the budget instead of the grid: train each tuned run again for up to this many epochs")
    p.add_argument("--regimes", nargs="+", default=["all"], help="with --epochs: the regimes to train again (default: all)")
    p.add_argument("--out", default=None, help="write the markdown here (default: print it)")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        p.error(f"--epochs must be >= 1, got {args.epochs}")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        results, encoder = load_report(args.results, args.encoder)
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    if args.epochs is not None:
        rows = check_budget(results, encoder, args.epochs, tasks=args.tasks, regimes=args.regimes, log=log)
    else:
        rows = check_grid(results, encoder, tasks=args.tasks, log=log)
    saved = results["settings"]
    provenance = {
        **run_provenance("lr_check", argv, t0), "results": args.results, "report_commit": results["provenance"].get("git_commit"),
        "grid": ", ".join(f"{x:g}" for x in saved["ft_lrs"]), "seed": results["seeds"][0], "epochs": args.epochs,
        "cnn_epochs": saved.get("cnn_max_epochs"), "evals": saved.get("ft_evals"), "patience": saved.get("ft_patience"),
    }
    text = render_budget(rows, provenance) if args.epochs is not None else render(rows, provenance)
    if args.out:
        Path(args.out).write_text(text)
        if args.epochs is not None:  # the rows as data too, for the lessons that read them
            Path(args.out).with_suffix(".json").write_text(json.dumps({"provenance": provenance, "rows": rows}, indent=1) + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
