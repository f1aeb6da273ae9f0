"""The Markdown report: tables, paired differences and the generated conclusions
(:func:`render_markdown`), the provenance helpers, and :func:`write_report` (Markdown + JSON);
:func:`marlin_lite.transfer.view.rerender` writes the Markdown again from its JSON."""

from __future__ import annotations

import math
import platform
import subprocess
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import torch

import marlin_lite
from marlin_lite.transfer.settings import (
    HEADLINE,
    METHOD_LABELS,
    METRIC_NAMES,
    POOLINGS,
    SECONDARY,
    TASK_METHODS,
    TASK_TITLES,
    _jsonable,
    _regime_key,
    _regime_label,
    method_label,
)
from marlin_lite.transfer.stats import t_quantile, verdict
from marlin_lite.utils import atomic_write_bytes, json_bytes


def _num(v: Any, digits: int = 3, sign: bool = False) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def _cell(c: Mapping[str, Any] | None) -> str:
    if c is None:
        return "—"
    if c["n"] == 0:
        return "n/a"
    if c["n"] == 1 or c["half_width"] is None or not math.isfinite(c["half_width"]):
        return _num(c["mean"])
    return f"{_num(c['mean'])} ± {_num(c['half_width'])}"


def _interval(d: Mapping[str, Any]) -> str:
    if d["n"] < 2:
        return f"{_num(d['mean'], sign=True)} (one seed: no interval)"
    return f"{_num(d['mean'], sign=True)} [{_num(d['lo'], sign=True)}, {_num(d['hi'], sign=True)}]"


def _phrase(d: Mapping[str, Any] | None, a: str, b: str) -> str:
    """A clause generated from one paired difference."""
    if d is None or d["n"] == 0:
        return f"{a} vs {b}: not measured"
    if d["n"] < 2:
        return f"{a} differs from {b} by {_num(d['mean'], sign=True)} (one seed, no interval)"
    word = {"> 0": "beats", "< 0": "falls short of", "n.s.": "cannot be told apart from"}[verdict(d["lo"], d["hi"])]
    return f"{a} {word} {b} ({_interval(d)})"


def conclusion(task: str, summary: Mapping[str, Any], regimes: Sequence[int | str]) -> str:
    """One sentence about a task, generated from the summary's paired differences and cells.

    It covers the pretrained probe against the random-init probe and against scratch with all
    labels (the largest regime run), fine-tuning against scratch with the fewest labels, and the
    measured ceiling.
    """
    diffs = {(d["regime"], d["a"], d["b"]): d for d in summary["differences"] if d["task"] == task}
    cells = {(c["method"], c["regime"]): c for c in summary["cells"] if c["task"] == task and c["metric"] == HEADLINE[task]}
    keys = [_regime_key(r) for r in regimes]
    most, fewest = keys[-1], keys[0]
    if task == "ls":
        probe, rand, scratch = ("the generator on the frozen pretrained encoder", "the same generator on a frozen random-init encoder",
                                "the same generator with an encoder trained from scratch")
        most_words = "all training people" if regimes[-1] == "all" else f"{regimes[-1]} training people"
        few_words = f"{regimes[0]} training {'person' if regimes[0] == 1 else 'people'}"
    else:
        probe, rand, scratch = "the pretrained probe", "the random-init probe", "supervised training from scratch"
        most_words = _regime_label(regimes[-1])
        few_words = f"{regimes[0]} labelled example{'s' if regimes[0] != 1 else ''} per class"
    parts = [
        f"with {most_words}, " + _phrase(diffs.get((most, "pretrained_probe", "random_init_probe")), probe, rand),
        _phrase(diffs.get((most, "pretrained_probe", "supervised_scratch")), probe, scratch),
    ]
    if fewest != most:
        parts.append(f"with {few_words}, "
                     + _phrase(diffs.get((fewest, "pretrained_finetune", "supervised_scratch")), "the fine-tuned pretrained encoder",
                               "scratch"))
    ceiling = cells.get(("ceiling", "all"))
    text = f"{task.upper()} ({METRIC_NAMES[HEADLINE[task]]}): " + "; ".join(parts)
    if ceiling is not None and ceiling["n"]:
        text += (f"; real mouths score {_cell(ceiling)}" if task == "ls" else f"; the supervised ceiling with all labels is {_cell(ceiling)}")
    return text + "."


def render_markdown(results: Mapping[str, Any], provenance: Mapping[str, Any]) -> str:
    """The report: header (what was run), one table per task (headline and secondary metric),
    the paired differences with intervals, and generated conclusions."""
    summary = results["summary"]
    settings = results["settings"]
    regimes = [r if r == "all" else int(r) for r in settings["regimes"]]
    keys = [_regime_key(r) for r in regimes]
    n_seeds = len(results["seeds"])
    t_used = t_quantile((1 + summary["level"]) / 2, n_seeds - 1) if n_seeds > 1 else math.nan
    lines = [
        "# Does MARLIN-lite pretraining transfer? SynthFace downstream results",
        "",
        "*Written by `python -m marlin_lite.transfer`; every number and sentence below comes from the run it describes "
        "(the JSON beside this file holds each per-seed number). Do not edit by hand: rerun the command.*",
        "",
        f"- **command**: `{provenance['command']}`",
        f"- **commit**: `{provenance.get('git_commit') or 'unknown'}`" + (" (with uncommitted changes)" if provenance.get("git_dirty") else ""),
        *(["- **parts** (run separately, then merged by the command above): " + "; ".join(
            f"{', '.join(t.upper() for t in part['tasks'])}: `{part['command']}` at commit `{str(part['git_commit'])[:12]}`"
            + (" (with uncommitted changes)" if part.get("git_dirty") else "")
            + f", {part['date']}, {part['elapsed_s']:.0f} s on {part['machine']}" for part in provenance["parts"])]
          if provenance.get("parts") else []),
        f"- **encoder**: `{provenance['encoder']}`, SHA-256 `{provenance['encoder_sha256']}` "
        f"(preset `{results['model'].get('name')}`, {results['model']['num_frames']} frames of {results['model']['img_size']} px)",
        f"- **date**: {provenance['date']}; **time taken**: {provenance['elapsed_s']:.0f} s on {provenance['machine']}"
        + (" (the parts' times added)" if provenance.get("parts") else ""),
        "- **versions**: " + ", ".join(f"{k} {v}" for k, v in sorted(provenance["versions"].items())),
        f"- **seeds**: {' '.join(str(s) for s in results['seeds'])} (a seed draws the labelled subsets, the random encoder and every "
        "trained head's initialisation)" + (" — **quick mode: toy sizes, not for conclusions**" if provenance.get("quick") else ""),
        _pretraining_line(provenance.get("pretraining"), settings),
        f"- **data**: SynthFace world {settings['world_seed']}, framing "
        f"`{settings['framing']}`, expressions `{settings['expressions']}`, split by person "
        f"{'/'.join(f'{f:g}' for f in settings['split_fractions'])}; "
        + "; ".join(f"{t.upper()}: {d['num_identities']} people x {d['clips_per_identity']} clips"
                    + (f" ({d['fake_fraction']:.0%} fake)" if d.get("fake_fraction") else "")
                    + f" = {d['train']}/{d['val']}/{d['test']} train/val/test"
                    for t, d in ((t, results["data"][t]) for t in results["tasks"])),
        "- **regimes**: k labelled train examples per class (FER: per expression; DFD: k real + k fake videos; FAR: people "
        "added greedily until each attribute has k positives) and all labels; subsets nested across k"
        + ("; LS: the clips of k training people, and all of them" if "ls" in results["tasks"] else ""),
        f"- **selection**: on the validation split only (all its labels, in every regime): probe pooling "
        f"({'/'.join(POOLINGS)}, grid = {settings['grid']}x{settings['grid']} regions x time mean) and L2 in "
        f"{{{', '.join(f'{v:g}' for v in settings['probe_l2'])}}} (full-batch L-BFGS, features standardised with the whole "
        f"train split's statistics); fine-tuning lr in {{{', '.join(f'{v:g}' for v in settings['ft_lrs'])}}} "
        + ("(searched by the first seed per task, method and regime, then reused by the other seeds; "
           if settings.get("ft_lr_search") == "first_seed" else "(searched by every seed; ")
        + f"AdamW, weight decay "
        f"{settings['ft_weight_decay']:g}, batch {settings['ft_batch_size']}, up to max({settings['ft_min_steps']}, "
        f"{settings['ft_max_epochs']} epochs) steps"
        + (f" (at most {settings['ft_max_steps']})" if settings.get("ft_max_steps") else "")
        + f", {settings['ft_evals']} validation checks, patience {settings['ft_patience']}, "
        "best check's weights kept); the test split is only scored",
        *([f"- **LS protocol**: MARLIN's (the encoder replaces Wav2Lip's face encoder): two sync experts trained once on the "
           f"whole train split ({settings['ls_expert_steps']} steps each; one scores, the other drives the generators' sync loss, "
           f"weight {settings['ls_sync_weight']:g}); per seed and regime every generator trains {settings['ls_steps']} Adam steps of "
           f"{settings['ls_batch_size']} windows at lr {settings['ls_lr']:g} (a trained encoder: the same lr from scratch, a tenth "
           f"when fine-tuned); nothing is chosen on validation; all are scored on the same {settings['ls_eval_windows']} held-out "
           f"windows of {results['model']['num_frames']} frames (clips of {settings['ls_clip_frames']} frames, audio shifts "
           f"-{settings['ls_max_offset']} .. +{settings['ls_max_offset']}); headline: how often the expert finds offset 0 on the "
           "generated mouths"] if "ls" in results["tasks"] else []),
        f"- **pixel probe**: each clip average-pooled to {settings['pixel_time']} frame groups x {settings['pixel_size']}x"
        f"{settings['pixel_size']} pixels x RGB ({3 * settings['pixel_time'] * settings['pixel_size'] ** 2} numbers)",
        f"- **ceiling**: per seed, the validation-best of supervised-from-scratch with all labels and a small 3-D CNN "
        f"(width {settings['cnn_width']}, up to {settings.get('cnn_max_epochs', settings['ft_max_epochs'])} epochs, same lr grid "
        "and early stopping) from scratch" if settings["cnn_width"] else
        "- **ceiling**: per seed, supervised-from-scratch with all labels",
        f"- **intervals**: mean ± half-width of the {summary['level']:.0%} t-interval over {n_seeds} seed(s)"
        + (f" (t = {t_used:.3f}, df = {n_seeds - 1})" if n_seeds > 1 else " (one seed: none)")
        + "; they reflect the seeds (which examples are labelled, initialisation), not the sampling of the fixed test split",
        "",
    ]
    cells = {(c["task"], c["method"], c["regime"], c["metric"]): c for c in summary["cells"]}
    for task in results["tasks"]:
        chance = results["chance"][task]
        lines += [f"## {TASK_TITLES[task]}", ""]
        floors = ", ".join(f"{k.replace('_', ' ')} {_num(v)}" for k, v in chance.items())
        lines += [f"Floors that never look at a clip (headline metric): {floors}.", ""]
        for metric in (HEADLINE[task], SECONDARY[task]):
            head = "| method | " + " | ".join(_regime_label(r) for r in regimes) + " |"
            lines += [f"**{METRIC_NAMES[metric]}** ({'headline' if metric == HEADLINE[task] else 'secondary'}, test split)", "",
                      head, "|---" * (len(regimes) + 1) + "|"]
            for method in TASK_METHODS[task]:
                row = [_cell(cells.get((task, method, k, metric))) for k in keys]
                lines.append(f"| {method_label(task, method)} | " + " | ".join(row) + " |")
            lines.append("")
        if task == "ls" and results.get("extra", {}).get("ls"):
            ex = results["extra"]["ls"]
            lines += [f"The scoring expert finds the true offset of real held-out clips in {_num(ex['expert']['sync_offset_acc'])} "
                      f"of {ex['expert']['n_test']} windows ({_num(ex['expert']['sync_offset_acc_pm1'])} within one frame); the real "
                      f"mouths of the scored windows: {_num(ex['real']['sync_offset_acc'])} (the ceiling row, the same for every seed). "
                      "Copying the reference window's mouth ignores the audio: its score is the no-learning floor.", ""]
        n_train = {}
        for r in results["records"]:
            if r["task"] == task and r["method"] == "pretrained_probe":
                n_train.setdefault(r["regime"], []).append(r["n_train"])
        if n_train:
            spans = [f"{_regime_label(k if k == 'all' else int(k))}: " + (f"{min(v)}" if min(v) == max(v) else f"{min(v)}-{max(v)}")
                     for k, v in n_train.items()]
            what = "Training clips" if task == "ls" else "Labelled train items"
            lines += [f"{what} per regime (over seeds): " + "; ".join(spans) + ".", ""]
        picks = _choices(results["records"], task, settings["ft_lrs"])
        if picks:
            lines += ["Chosen on validation (counts over regimes and seeds): " + "; ".join(picks) + ".", ""]
    lines += ["## Paired differences (headline metric, per seed, then mean [95 % t-interval])", "",
              "| task | regime | difference | per seed | mean [interval] | sign |", "|---|---|---|---|---|---|"]
    for d in summary["differences"]:
        per = ", ".join(_num(v, sign=True) for v in d["per_seed"].values())
        lines.append(f"| {d['task'].upper()} | {_regime_label(d['regime'] if d['regime'] == 'all' else int(d['regime']))} | "
                     f"{method_label(d['task'], d['a'])} − {method_label(d['task'], d['b'])} | {per} | {_interval(d)} | "
                     f"{verdict(d['lo'], d['hi'])} |")
    lines += ["", "## Conclusions (generated from the numbers above)", ""]
    lines += [f"- {conclusion(task, summary, regimes)}" for task in results["tasks"]]
    return "\n".join(lines) + "\n"


def _pretraining_line(pre: Mapping[str, Any] | None, settings: Mapping[str, Any]) -> str:
    """What the encoder was pretrained on, and whether its people overlap the evaluation's."""
    if not pre:
        return "- **pretraining**: unknown (no config in the checkpoint)"
    text = (f"- **pretraining**: {pre['step']} steps of `{pre['model']}`, {pre['mask_strategy']} masking at {pre['mask_ratio']:g}, on "
            + (f"the clip store `{pre['data_path']}`" if pre.get("data_path") else
               f"SynthFace world {pre['world_seed']} ({pre['num_identities']} people x {pre['clips_per_identity']} clips, framing "
               f"`{pre['framing']}`, expressions `{pre['expressions']}`)"))
    if pre.get("data_path"):
        return text
    if pre["world_seed"] == settings["world_seed"]:
        return text + f"; **warning: the evaluation uses the same world ({settings['world_seed']}): its people may have been seen in pretraining**"
    return text + f"; the evaluation's people (world {settings['world_seed']}) were never seen in pretraining"


def _choices(records: Sequence[dict[str, Any]], task: str, lrs: Sequence[float] = ()) -> list[str]:
    """Counts of what validation chose, e.g. ``pretrained probe: grid 10, mean 2`` and, for the
    trained methods, their learning rates (``lr 0.001 x4``), flagged when a choice sits at an end of
    ``lrs`` (the grid may not reach the best rate)."""
    if task == "ls":  # nothing is chosen in LS
        return []
    out = []
    for method in ("random_init_probe", "pretrained_probe", "ceiling"):
        key = "candidate" if method == "ceiling" else "pooling"
        counts: dict[str, int] = {}
        for r in records:
            if r["task"] == task and r["method"] == method and key in r["choice"]:
                counts[r["choice"][key]] = counts.get(r["choice"][key], 0) + 1
        if counts:
            out.append(f"{METHOD_LABELS[method]}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for method in ("supervised_scratch", "pretrained_finetune"):
        picked: dict[float, int] = {}
        for r in records:
            if r["task"] == task and r["method"] == method and "lr" in r["choice"] and "same_subset_as" not in r["choice"]:
                picked[float(r["choice"]["lr"])] = picked.get(float(r["choice"]["lr"]), 0) + 1
        if picked:
            text = f"{METHOD_LABELS[method]}: " + ", ".join(f"lr {k:g} x{v}" for k, v in sorted(picked.items()))
            edge = sum(v for k, v in picked.items() if lrs and len(lrs) > 1 and k in (min(lrs), max(lrs)))
            if edge:
                text += f" ({edge} of {sum(picked.values())} at an end of the lr grid)"
            out.append(text)
    still = _still_improving(records, task)
    if still:
        out.append("best validation check the run's last, with its whole epoch budget used (it may still have been "
                   "improving): " + ", ".join(f"{METHOD_LABELS[m]} {k} of {n}" for m, (k, n) in still.items()))
    return out


def _still_improving(records: Sequence[dict[str, Any]], task: str) -> dict[str, tuple[int, int]]:
    """Per trained method, ``(runs whose best check was their last, runs)``. Such a run used its
    whole epoch budget (early stopping only ever stops after a check that was not the best, so
    ``best_step == steps`` means training ran to the end) and may have gained from more epochs."""
    out: dict[str, tuple[int, int]] = {}
    for method in ("supervised_scratch", "pretrained_finetune"):
        runs = [r["choice"] for r in records if r["task"] == task and r["method"] == method
                and "best_step" in r["choice"] and "same_subset_as" not in r["choice"]]
        if runs:
            last = sum(1 for c in runs if c["best_step"] == c["steps"])
            out[method] = (last, len(runs))
    return out


def git_state(path: str | Path | None = None) -> tuple[str | None, bool | None]:
    """``(commit, dirty)`` of the git checkout holding ``path`` (default: this package), or
    ``(None, None)`` where there is none."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(["git", "-C", str(where), "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                                text=True, timeout=10)
        return commit.stdout.strip(), bool(status.stdout.strip()) if status.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None, None


def versions() -> dict[str, str]:
    """Versions of Python and the packages the numbers depend on."""
    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "marlin_lite": marlin_lite.__version__}


def write_report(results: Mapping[str, Any], provenance: Mapping[str, Any], out: str | Path) -> tuple[Path, Path]:
    """Write the Markdown report to ``out`` and the JSON (``results`` + ``provenance``) beside it
    (same name, ``.json``), both atomically. Returns both paths."""
    out = Path(out)
    md_path, json_path = out, out.with_suffix(".json")
    if md_path == json_path:
        raise ValueError(f"--out must not end in .json (the JSON goes beside the Markdown), got {out}")
    atomic_write_bytes(json_path, json_bytes(_jsonable({"provenance": provenance, **results})))
    atomic_write_bytes(md_path, render_markdown(_jsonable(results), provenance).encode())
    return md_path, json_path

