"""The evaluation: every method x regime x seed of one classification task
(:func:`evaluate_task`), the LS rows (:func:`evaluate_lipsync`), the summary over seeds
(:func:`summarize`) and the whole run (:func:`run_transfer`)."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import replace
from functools import partial
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import nn

from marlin_lite.encoders import as_encoder, random_encoder
from marlin_lite.model import MarlinAutoencoder, MarlinEncoder
from marlin_lite.tasks.dfd import dfd_breakdown
from marlin_lite.tasks.lipsync import run_lipsync, train_sync_expert
from marlin_lite.tasks.metrics import multiclass_accuracy, multilabel_auc
from marlin_lite.tasks.probe import task_generator
from marlin_lite.transfer.data import SplitData, encoder_views, load_lipsync_data, load_task_data, num_outputs, pixel_features, task_targets
from marlin_lite.transfer.probes import SmallCNN3D, _select_key, select_probe, select_trained, task_metrics, vit_classifier
from marlin_lite.transfer.settings import (
    ALL_TASKS,
    COMPARISONS,
    HEADLINE,
    METHODS,
    POOLINGS,
    SECONDARY,
    TASKS,
    TransferSettings,
    _regime_key,
    _regime_label,
)
from marlin_lite.transfer.stats import paired_difference, t_interval
from marlin_lite.transfer.subsets import low_data_subsets, people_subsets


# --------------------------------------------------------------------------------------
# One task
# --------------------------------------------------------------------------------------


def chance_levels(task: str, train_targets: torch.Tensor, test_targets: torch.Tensor) -> dict[str, float]:
    """What a predictor that never looks at a clip scores on the headline metric.

    FAR: ``blind`` 0.5 (constant scores) and ``prevalence_floor``, the micro AUC of giving every
    test person the train prevalence of each attribute (micro AUC rewards knowing which
    attributes are common). FER: ``chance`` 1/6 and ``majority`` (always the most frequent
    train expression). DFD: ``chance`` 0.5.
    """
    if task == "far":
        prior = train_targets.float().mean(0).expand_as(test_targets)
        return {"blind": 0.5, "prevalence_floor": multilabel_auc(prior, test_targets, "micro")}
    if task == "fer":
        n = TASKS["fer"].num_classes
        majority = torch.full_like(test_targets, int(torch.bincount(train_targets.long(), minlength=n).argmax()))
        return {"chance": 1 / n, "majority": multiclass_accuracy(majority, test_targets)}
    return {"chance": 0.5}


def _record(task: str, method: str, regime: int | str, seed: int, n_train: int, scores: torch.Tensor, test: SplitData,
            test_targets: torch.Tensor, choice: dict[str, Any], seconds: float) -> dict[str, Any]:
    metrics = task_metrics(task, scores, test_targets)
    row = {"task": task, "method": method, "regime": _regime_key(regime), "seed": int(seed), "n_train": int(n_train),
           "n_test": len(test), "metrics": metrics, "headline": metrics[HEADLINE[task]], "choice": choice,
           "seconds": round(seconds, 2)}
    if task == "dfd":
        row["by_manipulation"] = dfd_breakdown(scores, test.labels["fake"], test.labels["manipulation"])
    return row


def _reused_records(records: Sequence[dict[str, Any]], seed: int, same: int | str, regime: int | str) -> list[dict[str, Any]]:
    """Copies of ``seed``'s records of regime ``same`` (ceiling excluded) for ``regime``, which
    labels exactly the same items: the runs are deterministic, so they are not repeated."""
    return [{**r, "regime": _regime_key(regime), "choice": {**r["choice"], "same_subset_as": _regime_key(same)}, "seconds": 0.0}
            for r in records if r["seed"] == seed and r["regime"] == _regime_key(same) and r["method"] != "ceiling"]


def evaluate_task(
    task: str,
    encoder: MarlinEncoder,
    data: Mapping[str, SplitData],
    *,
    seeds: Sequence[int],
    settings: TransferSettings,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every method x regime x seed of one task -> ``{"records": [...], "chance": ..., "timings_s": ...}``.

    One record per (method, regime, seed) (the ceiling: regime ``"all"`` only): ``n_train``,
    ``metrics`` (all the task's metrics on test), ``headline``, ``choice`` (what validation chose:
    pooling / L2, or lr / best step / candidate) and ``seconds``. ``subsets``: seed -> regime ->
    the labelled train items (indices into the train split; ``"all"`` is every item).
    """
    cfg = encoder.cfg
    targets = {s: task_targets(task, d.labels) for s, d in data.items()}
    n_out = num_outputs(task, targets["train"])
    timings: dict[str, float] = {}
    records: list[dict[str, Any]] = []
    labelled: dict[int, dict[str, list[int]]] = {}  # seed -> regime -> labelled train items

    def tick(name: str, t0: float) -> float:
        timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - t0, 2)
        return time.perf_counter() - t0

    t0 = time.perf_counter()
    pixel = {"pixel": {s: pixel_features(d.clips, settings.pixel_size, settings.pixel_time) for s, d in data.items()}}
    pre = {s: encoder_views(encoder, d.clips, grid=settings.grid, batch_size=settings.feature_batch_size, device=device)
           for s, d in data.items()}
    pre_views = {p: {s: pre[s][p] for s in data} for p in POOLINGS}
    tick("features", t0)

    def probe(views: Mapping[str, Mapping[str, torch.Tensor]], items: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
        c = select_probe(views, targets, items, task=task, l2_grid=settings.probe_l2, max_iter=settings.probe_max_iter)
        return c.test_scores, {"pooling": c.pooling, "l2": c.l2, "val_metric": c.val_metric, "val_loss": c.val_loss, "tried": c.tried}

    chosen_lr: dict[tuple[str, str], float] = {}  # (method, regime) -> the lr the first seed chose

    cnn_settings = replace(settings, ft_max_epochs=settings.cnn_max_epochs)

    def trained(make: Callable[[], nn.Module], items: torch.Tensor, seed: int, which: tuple[str, str],
                budget: TransferSettings | None = None, **extra: Any) -> tuple[torch.Tensor, dict[str, Any]]:
        lrs = None
        if settings.ft_lr_search == "first_seed" and which in chosen_lr:
            lrs = (chosen_lr[which],)
            extra = {**extra, "lr_chosen_by_seed": seeds[0]}
        r = select_trained(make, data, targets, items, task=task, settings=budget or settings, seed=seed, device=device, lrs=lrs)
        chosen_lr.setdefault(which, r["lr"])
        keep = {k: r[k] for k in ("lr", "val_metric", "val_loss", "best_step", "steps")}
        keep["tried"] = [{k: t[k] for k in ("lr", "val_metric", "val_loss", "best_step", "steps")} for t in r["tried"]]
        return r["test_scores"], {**extra, **keep}

    def cnn(seed: int) -> Callable[[], nn.Module]:
        def make() -> nn.Module:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(task_generator(seed, "transfer", task, "cnn").initial_seed()))
                return SmallCNN3D(n_out, settings.cnn_width)
        return make

    for seed in seeds:
        t0 = time.perf_counter()
        rand_enc = random_encoder(cfg, seed)
        rand = {s: encoder_views(rand_enc, d.clips, grid=settings.grid, batch_size=settings.feature_batch_size, device=device)
                for s, d in data.items()}
        rand_views = {p: {s: rand[s][p] for s in data} for p in POOLINGS}
        tick("features", t0)
        subsets = low_data_subsets(task, targets["train"], settings.regimes, seed)
        labelled[int(seed)] = {k: v.tolist() for k, v in subsets.items() if k != "all"}
        scratch_all, scratch_runs = None, []
        done: dict[tuple[int, ...], int | str] = {}  # labelled items -> the regime that ran them
        for regime in settings.regimes:
            items = subsets[_regime_key(regime)]
            same = done.get(tuple(items.tolist()))
            if same is not None:  # e.g. k = 10 when every class has fewer: the runs are deterministic, so reuse them
                records += _reused_records(records, seed, same, regime)
                for which in ("supervised_scratch", "pretrained_finetune"):
                    if (which, _regime_key(same)) in chosen_lr:
                        chosen_lr.setdefault((which, _regime_key(regime)), chosen_lr[(which, _regime_key(same))])
                if regime == "all":
                    scratch_all = next((s for s in scratch_runs if s[0] == same), (None, None))[1]
                log(f"[{task}] seed {seed}, {_regime_label(regime)}: the same {items.numel()} items as {_regime_label(same)}")
                continue
            done[tuple(items.tolist())] = regime
            runs = {
                "pixel_probe": lambda: probe(pixel, items),
                "random_init_probe": lambda: probe(rand_views, items),
                "supervised_scratch": lambda: trained(vit_classifier(rand_enc, task, n_out, seed), items, seed, ("supervised_scratch", _regime_key(regime))),
                "pretrained_probe": lambda: probe(pre_views, items),
                "pretrained_finetune": lambda: trained(vit_classifier(encoder, task, n_out, seed), items, seed, ("pretrained_finetune", _regime_key(regime))),
            }
            line = []
            for method in METHODS[:-1]:
                t1 = time.perf_counter()
                scores, choice = runs[method]()
                rec = _record(task, method, regime, seed, items.numel(), scores, data["test"], targets["test"], choice, tick(method, t1))
                records.append(rec)
                line.append(f"{method} {rec['headline']:.3f}")
                if method == "supervised_scratch":
                    scratch_runs.append((regime, (scores, choice)))
                    if regime == "all":
                        scratch_all = (scores, choice)
            log(f"[{task}] seed {seed}, {_regime_label(regime)} (n={items.numel()}): " + ", ".join(line))
        # the ceiling: val-selected best of supervised-from-scratch and a small 3-D CNN, all labels
        t1 = time.perf_counter()
        everyone = torch.arange(len(data["train"]))
        if scratch_all is None:
            scratch_all = trained(vit_classifier(rand_enc, task, n_out, seed), everyone, seed, ("supervised_scratch", "all"))
        candidates = {"supervised_scratch": scratch_all}
        if settings.cnn_width > 0:
            candidates["cnn3d"] = trained(cnn(seed), everyone, seed, ("cnn3d", "all"), budget=cnn_settings)
        name = max(candidates, key=lambda c: _select_key(candidates[c][1]["val_metric"], candidates[c][1]["val_loss"]))
        choice = {"candidate": name, **candidates[name][1],
                  "candidates": {c: {k: v[1][k] for k in ("lr", "val_metric", "val_loss")} for c, v in candidates.items()}}
        rec = _record(task, "ceiling", "all", seed, everyone.numel(), candidates[name][0], data["test"], targets["test"], choice, tick("ceiling", t1))
        records.append(rec)
        log(f"[{task}] seed {seed}: ceiling {rec['headline']:.3f} ({name})")
    return {"records": records, "chance": chance_levels(task, targets["train"], targets["test"]), "timings_s": timings,
            "subsets": labelled}


# --------------------------------------------------------------------------------------
# LS: lip sync, a generation task
# --------------------------------------------------------------------------------------


#: ``run_lipsync``'s method names -> the harness's rows (the frozen encoders play the probes' part).
_LS_ROWS = {"copy_reference": "copy_reference", "random_init": "random_init_probe", "supervised_scratch": "supervised_scratch",
            "pretrained": "pretrained_probe", "pretrained_finetune": "pretrained_finetune"}


def evaluate_lipsync(
    encoder: MarlinEncoder,
    data: Mapping[str, Any],
    *,
    seeds: Sequence[int],
    settings: TransferSettings,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """LS rows for every regime and seed -> ``{"records", "chance", "timings_s", "subsets", "extra"}``
    (the shape of :func:`evaluate_task`'s answer).

    Protocol (:func:`~marlin_lite.tasks.lipsync.run_lipsync`, MARLIN's: the encoder replaces
    Wav2Lip's face encoder): two sync experts are trained once on the whole train split (one
    scores, the other drives the generators' sync loss); then per seed and regime (``k``
    training people) a generator is trained with each encoder for the same fixed budget and
    scored on the same held-out windows of the test people. Rows: ``copy_reference`` (the
    reference window's mouth, no audio), ``random_init_probe`` (random-init encoder, frozen),
    ``supervised_scratch`` (that encoder trained with the generator), ``pretrained_probe`` (the
    pretrained encoder, frozen), ``pretrained_finetune`` (trained with the generator at a tenth of
    the generator's lr) and ``ceiling`` (the real mouths: what the expert gives real video).
    Headline: how often the expert finds the true audio offset (0) on generated mouths; chance
    is ``1 / (2K + 1)``.
    """
    train, test = data["train"], data["test"]
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    experts = [train_sync_expert(train, steps=settings.ls_expert_steps, max_offset=settings.ls_max_offset, seed=s, device=device).expert
               for s in (0, 1)]
    timings["experts"] = round(time.perf_counter() - t0, 2)
    records: list[dict[str, Any]] = []
    labelled: dict[int, dict[str, list[int]]] = {}
    extra: dict[str, Any] = {}
    chance = 1.0 / (2 * settings.ls_max_offset + 1)
    for seed in seeds:
        subsets = people_subsets(train.identity, settings.regimes, seed)
        labelled[int(seed)] = {k: v.tolist() for k, v in subsets.items() if k != "all"}
        done: dict[tuple[int, ...], str] = {}
        for regime in settings.regimes:
            key = _regime_key(regime)
            items = subsets[key]
            same = done.get(tuple(items.tolist()))
            if same is not None:
                records += _reused_records(records, seed, same, regime)
                continue
            done[tuple(items.tolist())] = key
            art: dict[str, Any] = {}
            table = run_lipsync(
                encoder, seeds=(seed,), methods=tuple(_LS_ROWS), data={"train": train.subset(items), "test": test},
                max_offset=settings.ls_max_offset, expert=experts[0], loss_expert=experts[1], steps=settings.ls_steps,
                batch_size=settings.ls_batch_size, lr=settings.ls_lr, sync_weight=settings.ls_sync_weight,
                num_eval_windows=settings.ls_eval_windows, artifacts=art, device=device,
            )
            line = []
            for row in table:
                if row["method"] == "sync_expert":
                    extra.setdefault("expert", {k: row[k] for k in ("sync_offset_acc", "sync_offset_acc_pm1", "n_test")})
                    continue
                if row["method"] == "ground_truth":
                    extra.setdefault("real", {k: row[k] for k in ("sync_offset_acc", "sync_distance", "sync_confidence")})
                    continue
                method = _LS_ROWS[row["method"]]
                metrics = {k: float(v) for k, v in row.items() if k not in ("task", "method", "encoder", "seed", "n_train", "n_test", "chance")}
                seconds = art["seconds"][f"{row['method']}/{seed}"]
                timings[method] = round(timings.get(method, 0.0) + seconds, 2)
                records.append({"task": "ls", "method": method, "regime": key, "seed": int(seed), "n_train": len(items),
                                "n_test": int(row["n_test"]), "metrics": metrics, "headline": metrics[HEADLINE["ls"]],
                                "choice": {"encoder": row["encoder"]}, "seconds": round(seconds, 2)})
                line.append(f"{method} {metrics[HEADLINE['ls']]:.3f}")
            log(f"[ls] seed {seed}, {len({int(p) for p in train.identity[items]})} people ({len(items)} clips): " + ", ".join(line))
        real = extra["real"]
        records.append({"task": "ls", "method": "ceiling", "regime": "all", "seed": int(seed), "n_train": len(train),
                        "n_test": settings.ls_eval_windows, "headline": real["sync_offset_acc"],
                        "metrics": {**real, "psnr_lower": math.nan}, "choice": {"candidate": "real video"}, "seconds": 0.0})
    return {"records": records, "chance": {"chance": chance}, "timings_s": timings, "subsets": labelled, "extra": extra}


# --------------------------------------------------------------------------------------
# The whole evaluation
# --------------------------------------------------------------------------------------


def summarize(records: Sequence[dict[str, Any]], level: float = 0.95) -> dict[str, Any]:
    """Means with t-intervals per (task, method, regime) and the paired differences of
    :data:`COMPARISONS` per (task, regime), from per-seed records.

    Returns ``{"cells": [...], "differences": [...]}``: a cell holds ``task``, ``method``,
    ``regime``, ``metric``, ``per_seed`` (seed -> value) and the :func:`t_interval` numbers; a
    difference holds ``task``, ``regime``, ``a``, ``b``, ``metric`` and :func:`paired_difference`'s.
    Cells exist for the headline and the secondary metric (``metric`` says which).
    """
    groups: dict[tuple[str, str, str], dict[int, dict[str, float]]] = {}
    for r in records:
        groups.setdefault((r["task"], r["method"], r["regime"]), {})[r["seed"]] = r["metrics"]
    cells = []
    for (task, method, regime), by_seed in groups.items():
        for metric in (HEADLINE[task], SECONDARY[task]):
            per_seed = {s: m[metric] for s, m in by_seed.items()}
            cells.append({"task": task, "method": method, "regime": regime, "metric": metric, "per_seed": per_seed,
                          **t_interval(list(per_seed.values()), level)})
    diffs = []
    for task, regime in dict.fromkeys((t, g) for t, _, g in groups):
        for a, b in COMPARISONS:
            if (task, a, regime) in groups and (task, b, regime) in groups:
                m = HEADLINE[task]
                va = {s: v[m] for s, v in groups[(task, a, regime)].items()}
                vb = {s: v[m] for s, v in groups[(task, b, regime)].items()}
                diffs.append({"task": task, "regime": regime, "a": a, "b": b, "metric": m, **paired_difference(va, vb, level)})
    return {"cells": cells, "differences": diffs, "level": level}


def run_transfer(
    encoder: MarlinEncoder | MarlinAutoencoder,
    *,
    tasks: Sequence[str] = tuple(TASKS),
    seeds: Sequence[int] = (0, 1, 2),
    settings: TransferSettings | None = None,
    device: str | torch.device = "cpu",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Evaluate a pretrained encoder on ``tasks`` over ``seeds`` -> a JSON-friendly dict.

    Keys: ``records`` (one per task, method, regime and seed), ``summary``
    (:func:`summarize`), ``chance``, ``data`` (split sizes) and ``subsets`` (the labelled
    items) per task, ``settings``, ``seeds``, ``tasks``, ``model`` and ``timings_s``. The encoder is not modified (fine-tuning works on
    copies).
    """
    settings = (settings or TransferSettings()).validate(tasks)
    bad = [t for t in tasks if t not in ALL_TASKS]
    if bad or not tasks:
        raise ValueError(f"tasks must be a non-empty subset of {ALL_TASKS}, got {tuple(tasks)}")
    if not seeds or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct non-negative ints, e.g. (0, 1, 2); got {tuple(seeds)}")
    enc = copy.deepcopy(as_encoder(encoder)).cpu().eval()
    records, chance, sizes, timings, subsets, extra = [], {}, {}, {}, {}, {}
    for task in tasks:
        t0 = time.perf_counter()
        data = load_lipsync_data(enc.cfg, settings) if task == "ls" else load_task_data(task, enc.cfg, settings)
        t_data = time.perf_counter() - t0
        sizes[task] = {**settings.data[task], **{s: len(d) for s, d in data.items()}}
        log(f"[{task}] data: " + ", ".join(f"{s} {len(d)}" for s, d in data.items()) + f" clips ({t_data:.0f} s)")
        evaluate = evaluate_lipsync if task == "ls" else partial(evaluate_task, task)
        out = evaluate(enc, data, seeds=seeds, settings=settings, device=device, log=log)
        records += out["records"]
        chance[task] = out["chance"]
        subsets[task] = out["subsets"]
        if out.get("extra"):
            extra[task] = out["extra"]
        timings[task] = {"data": round(t_data, 2), **out["timings_s"], "total": round(time.perf_counter() - t0, 2)}
    return {"records": records, "summary": summarize(records), "chance": chance, "data": sizes, "settings": settings.to_dict(),
            "seeds": list(seeds), "tasks": list(tasks), "timings_s": timings, "model": enc.cfg.to_dict(), "subsets": subsets,
            "extra": extra}
