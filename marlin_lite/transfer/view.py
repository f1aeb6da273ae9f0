"""Reading a written report back: :func:`load_results`, and what a lesson shows of one task
(:func:`task_table`, :func:`differences_table`, :func:`plot_task`, :func:`show_task_report`)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from marlin_lite.transfer.report import _cell, _interval, _num, render_markdown
from marlin_lite.transfer.settings import HEADLINE, METHODS, METRIC_NAMES, TASK_METHODS, TASK_TITLES, _regime_key, _regime_label, method_label
from marlin_lite.transfer.stats import verdict
from marlin_lite.utils import atomic_write_bytes


def load_results(path: str | Path) -> dict[str, Any]:
    """Read a report's JSON (what :func:`write_report` wrote beside the Markdown).

    Accepts the Markdown path too (the JSON beside it is read). Raises ``FileNotFoundError``
    naming the file and the command that writes it, and ``ValueError`` when the file is not a
    transfer report.
    """
    path = Path(path)
    json_path = path.with_suffix(".json")
    if not json_path.is_file():
        raise FileNotFoundError(f"no transfer results at {json_path}; write them with "
                                f"`python -m marlin_lite.transfer --encoder CKPT --out {json_path.with_suffix('.md')}`")
    try:
        results = json.loads(json_path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{json_path} is not valid JSON ({err}); rerun the transfer command to rewrite it") from err
    missing = [k for k in ("summary", "settings", "tasks", "seeds", "provenance") if k not in results]
    if missing:
        raise ValueError(f"{json_path} is not a marlin_lite.transfer report (missing {missing})")
    return results


def task_rows(results: Mapping[str, Any], task: str, metric: str | None = None) -> list[dict[str, Any]]:
    """The cells of one task and metric (default: the headline), in table order.

    Returns one dict per (method, regime) that was run: ``method``, ``label``, ``regime``,
    ``mean``, ``half_width``, ``lo``, ``hi`` (the t-interval; ``None`` or NaN with one seed),
    ``n`` (seeds) and ``per_seed``.
    """
    if task not in results.get("tasks", ()):
        raise ValueError(f"task {task!r} is not in these results (they have {results.get('tasks')})")
    metric = metric or HEADLINE[task]
    order = {m: i for i, m in enumerate(TASK_METHODS.get(task, METHODS))}
    regimes = [_regime_key(r) for r in results["settings"]["regimes"]]
    rows = []
    for c in results["summary"]["cells"]:
        if c["task"] == task and c["metric"] == metric:
            rows.append({"method": c["method"], "label": method_label(task, c["method"]), "regime": c["regime"],
                         "mean": c["mean"], "half_width": c.get("half_width"), "lo": c.get("lo"), "hi": c.get("hi"),
                         "n": c["n"], "per_seed": c["per_seed"]})
    rows.sort(key=lambda r: (order.get(r["method"], len(order)), regimes.index(r["regime"]) if r["regime"] in regimes else 99))
    return rows


def task_table(results: Mapping[str, Any], task: str, metric: str | None = None) -> str:
    """A plain-text table of one task (methods x regimes, mean ± t half-width over seeds) with
    its floors and seeds: what a lesson prints from the committed report."""
    metric = metric or HEADLINE[task]
    regimes = [r if r == "all" else int(r) for r in results["settings"]["regimes"]]
    cells = {(r["method"], r["regime"]): r for r in task_rows(results, task, metric)}
    methods = TASK_METHODS.get(task, METHODS)
    width = max(len(method_label(task, m)) for m in methods)
    head = f"{'':{width}s}" + "".join(f"{_regime_label(r):>16s}" for r in regimes)
    lines = [f"{TASK_TITLES[task]}: {METRIC_NAMES[metric]} on the test people, mean ± 95 % t half-width over seeds "
             f"{', '.join(str(s) for s in results['seeds'])}", head]
    for m in methods:
        if any((m, _regime_key(r)) in cells for r in regimes):
            row = []
            for r in regimes:
                c = cells.get((m, _regime_key(r)))
                row.append(_cell(c) if c else "—")
            lines.append(f"{method_label(task, m):{width}s}" + "".join(f"{v:>16s}" for v in row))
    floors = ", ".join(f"{k.replace('_', ' ')} {_num(v)}" for k, v in results["chance"][task].items())
    lines.append(f"floors (never look at a clip): {floors}")
    return "\n".join(lines)


def task_differences(results: Mapping[str, Any], task: str) -> list[dict[str, Any]]:
    """The paired differences of one task (headline metric): ``label``, ``regime``, ``mean``,
    ``lo``, ``hi``, ``n``, ``per_seed`` and ``verdict`` (``"> 0"``, ``"< 0"`` or ``"n.s."``)."""
    out = []
    for d in results["summary"]["differences"]:
        if d["task"] == task:
            out.append({"label": f"{method_label(task, d['a'])} − {method_label(task, d['b'])}", "a": d["a"], "b": d["b"],
                        "regime": d["regime"], "mean": d["mean"], "lo": d.get("lo"), "hi": d.get("hi"), "n": d["n"],
                        "per_seed": d["per_seed"], "verdict": verdict(d.get("lo"), d.get("hi"))})
    return out


def differences_table(results: Mapping[str, Any], task: str) -> str:
    """The paired differences of one task as text: per regime, each comparison's mean and 95 %
    t-interval over seeds and its sign (``> 0``, ``< 0`` or ``n.s.``)."""
    rows = task_differences(results, task)
    width = max((len(d["label"]) for d in rows), default=10)
    lines = [f"{TASK_TITLES[task]}: paired differences of {METRIC_NAMES[HEADLINE[task]]} (same seed, same labelled items)"]
    for d in rows:
        regime = _regime_label(d["regime"] if d["regime"] == "all" else int(d["regime"]))
        lines.append(f"{regime:>10s}  {d['label']:{width}s}  {_interval(d):>26s}  {d['verdict']}")
    return "\n".join(lines)


def plot_task(ax, results: Mapping[str, Any], task: str, methods: Sequence[str] | None = None, metric: str | None = None) -> None:
    """Draw one task's results into a matplotlib ``ax``: the headline metric (or ``metric``)
    against the number of labels, one line per method with its 95 % t-interval as error bars,
    and (for the headline metric) the best floor that never looks at a clip as a dashed line."""
    metric = metric or HEADLINE[task]
    methods = list(methods or TASK_METHODS.get(task, METHODS))
    regimes = [_regime_key(r) for r in results["settings"]["regimes"]]
    rows = task_rows(results, task, metric)
    for i, m in enumerate(methods):
        pts = [(regimes.index(r["regime"]), r) for r in rows if r["method"] == m and r["regime"] in regimes]
        if not pts:
            continue
        xs = np.array([x for x, _ in pts], dtype=float) + (i - (len(methods) - 1) / 2) * 0.05  # a small offset per method
        ys = np.array([r["mean"] for _, r in pts], dtype=float)
        err = np.array([0.0 if r["half_width"] is None or not math.isfinite(r["half_width"]) else r["half_width"] for _, r in pts])
        style = dict(marker="o", capsize=3, label=method_label(task, m))
        if len(pts) == 1:
            style.update(marker="*", markersize=11, linestyle="none")
        ax.errorbar(xs, ys, yerr=err, **style)
    if metric == HEADLINE[task]:  # the floors are computed for the headline metric
        floor = max(v for v in results["chance"][task].values() if v is not None)
        ax.axhline(floor, color="0.5", linestyle="--", linewidth=1, label="best blind floor")
    ax.set_xticks(range(len(regimes)), [_regime_label(r if r == "all" else int(r)) for r in regimes])
    ax.set_xlabel("training people" if task == "ls" else "labelled training examples (per class)")
    ax.set_ylabel(METRIC_NAMES[metric])
    ax.set_title(f"{TASK_TITLES[task]}: {len(results['seeds'])} seeds, mean and 95 % t-interval", fontsize=10)


def show_task_report(path: str | Path, task: str, *, encoder_sha256: str | None = None) -> dict[str, Any]:
    """What a lesson shows of the committed report for its ``task``: the command and commit that
    made it, :func:`task_table`, :func:`plot_task` (a figure) and :func:`differences_table`.

    ``encoder_sha256``, when given, must be the report's encoder (``ValueError`` otherwise: the
    report would be about another checkpoint). Returns the report (:func:`load_results`).
    """
    import matplotlib.pyplot as plt

    results = load_results(path)
    prov = results["provenance"]
    if encoder_sha256 is not None and prov["encoder_sha256"] != encoder_sha256:
        raise ValueError(f"{path} was made with encoder {prov['encoder_sha256'][:16]}..., not {encoder_sha256[:16]}...: "
                         "rerun its command with this checkpoint")
    print(prov["command"])
    print(f"commit {prov['git_commit'][:12]}, encoder sha256 {prov['encoder_sha256'][:16]}..., seeds {results['seeds']}")
    print()
    print(task_table(results, task))
    fig, ax = plt.subplots(figsize=(8, 4))
    plot_task(ax, results, task)
    ax.legend(fontsize=7, loc="best")
    plt.show()
    print(differences_table(results, task))
    return results


def show_budget_check(path: str | Path, task: str, *, report: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """What a lesson shows of the committed budget check (``python -m marlin_lite.lr_check
    --epochs N``, its JSON) for ``task``: the command, then per tuned run of the first seed its
    validation and test headline at the report's budget and at ``N`` epochs, with the step of the
    best validation check out of the steps trained.

    ``report`` (the transfer report, :func:`load_results`), when given, must be the report the check
    was run on, or a later report that adopted the check's budget (its ``ft_max_epochs`` is the
    check's ``epochs``; a line then says so): ``ValueError`` otherwise. Returns the task's rows.
    """
    path = Path(path)
    try:
        check = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no budget check at {path}; write it with python -m marlin_lite.lr_check --epochs 40 "
                                "--out docs/budget_check.md") from None
    prov = check["provenance"]
    adopted = False
    if report is not None and report["provenance"].get("git_commit") != prov.get("report_commit"):
        adopted = report.get("settings", {}).get("ft_max_epochs") == prov.get("epochs")
        if not adopted:
            raise ValueError(f"{path} checked the report of commit {str(prov.get('report_commit'))[:12]}, not this one "
                             f"({str(report['provenance'].get('git_commit'))[:12]}): rerun its command")
    rows = [r for r in check["rows"] if r["task"] == task]
    print(prov["command"])
    if adopted:
        budgets = sorted({r["report_epochs"] for r in rows})
        print(f"(run on an earlier report, commit {str(prov.get('report_commit'))[:12]}, whose ViT runs trained for at most "
              f"{'/'.join(map(str, budgets))} epochs; the report above trains them for up to {prov['epochs']}, this check's budget)")
    print(f"first seed {prov['seed']}; {len(rows)} runs of {task.upper()} trained again at the rate the report chose\n")
    name = max([len(method_label(task, r["method"])) for r in rows] + [6])
    print(f"{'method':<{name}}  {'labels':>6}  {'lr':>6}  {'report budget: val  test (best/steps)':>38}  "
          f"{'longer: val  test (best/steps)':>32}")
    for r in rows:
        labels = "all" if r["regime"] == "all" else f"k={r['regime']}"
        print(f"{method_label(task, r['method']):<{name}}  {labels:>6}  "
              f"{r['lr']:>6g}  {r['report_epochs']:>3} epochs: {r['recorded_val']:.3f} {r['recorded_test']:.3f} "
              f"({r['recorded_best_step']:>3}/{r['recorded_steps']:>3})  {r['epochs']:>3} epochs: {r['val']:.3f} "
              f"{r['test']:.3f} ({r['best_step']:>3}/{r['steps']:>3})")
    return rows


def rerender(path: str | Path) -> Path:
    """Write a report's Markdown again from the JSON beside it, with this version's renderer (no
    training: for when the wording of the report changed, not its numbers), e.g. ``python -c "from
    marlin_lite.transfer.view import rerender; rerender('docs/results.md')"``. ``path``: the
    Markdown or the JSON. Returns the Markdown path."""
    md_path = Path(path).with_suffix(".md")
    results = load_results(path)
    provenance = results.pop("provenance")
    atomic_write_bytes(md_path, render_markdown(results, provenance).encode())
    return md_path
