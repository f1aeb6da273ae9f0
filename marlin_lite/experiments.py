"""Ablations and low-data curves (lesson 10), as one reproducible, resumable script.

Every *variant* is the reference pretraining run (a YAML config, ``configs/tiny.yaml`` by
default: fasking, mask ratio 0.9, adversarial loss on) with one setting changed; each variant
is pretrained once per seed and then measured the same way:

* ``rec_tube90``: mean squared error of the masked patches of held-out SynthFace clips
  (people of world 2, whom neither pretraining nor the probes see) under one **common** mask (tube masking at ratio 0.9, a fixed
  generator), so that variants trained with different masks are compared on the same task;
* ``far_auc_micro`` / ``far_auc_macro`` / ``far_accuracy``: facial-attribute linear probe
  (lesson 06's protocol: people of world 1, 60/10/30 % split by person, full-batch Adam probe
  at ``probe_lr``) on the frozen encoder;
* ``fer_accuracy``: facial-expression linear probe with the transfer report's protocol
  (:mod:`marlin_lite.transfer`: FER people of world 1 split 60/10/30 % by person, pooling
  and L2 chosen on validation, all labels; only when ``fer=True``);
* ``train_rec``: the training reconstruction loss at the end (mean of the last logged values;
  each variant's own mask, so not comparable across mask strategies).

``baselines`` holds the same yardsticks for a random-init encoder of each seed (nothing
pretrained), the line every variant has to clear.

Each row also says whether its checkpoint was trained by this invocation or found finished in
``--runs-dir`` (``reused_checkpoint``), so the recorded timings can be read for what they are.

The **low-data** part runs MARLIN's three baselines (random-init probe, supervised from
scratch, pretrained probe) on FAR at several label fractions with the reference checkpoint of
each seed.

Runs are the lessons' checkpoint ladder (:func:`~marlin_lite.pretrain.ensure_pretrained`), one
folder per (variant, seed) under ``--runs-dir``: an interrupted script picks up where it
stopped. The JSON written to ``--out`` records the exact command, seeds, config, versions and
timings beside every number, so lesson 10 can show results it did not compute itself. Lesson
10's file, the course recipe's ablations (``configs/course.yaml`` at 600 steps per run, its
clips read from a clip store rendered once)::

    python -m marlin_lite.experiments --config configs/course.yaml --data-path runs/course_store \
        --variants reference random frame tube fasking_opp ratio_0.75 ratio_0.95 adversarial no_adversarial \
        --seeds 0 1 2 --max-steps 600 --fractions --fer --out notebooks/results/ablations_course.json

About 3.5 minutes per run on one CPU core (about 90 minutes for the 24 runs); on a GPU, minutes
in all. ``--variants``, ``--max-steps`` and ``--fractions`` shrink it (the tests run 2
variants for a few steps).
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import torch

from marlin_lite import transfer
from marlin_lite.data import SynthFaceDataset
from marlin_lite.masking import make_visible_mask, TokenGrid
from marlin_lite.model import MarlinAutoencoder
from marlin_lite.pretrain import ensure_pretrained, load_config
from marlin_lite.tasks import FeatureCache, random_encoder, ResultsTable, run_far
from marlin_lite.utils import atomic_write_bytes, json_bytes, machine_description

#: One setting changed from the reference config per variant (``reference`` changes nothing).
VARIANTS: dict[str, dict[str, Any]] = {
    "reference": {},
    "random": {"mask_strategy": "random"},
    "frame": {"mask_strategy": "frame"},
    "tube": {"mask_strategy": "tube"},
    "fasking_opp": {"mask_strategy": "fasking_opp"},
    "ratio_0.75": {"mask_ratio": 0.75},
    "ratio_0.95": {"mask_ratio": 0.95},
    "no_adversarial": {"adversarial": False},
    "adversarial": {"adversarial": True},
}

#: Lesson 06's FAR protocol (people the pretraining never saw).
FAR_DATA = dict(num_identities=120, clips_per_identity=1, world_seed=1, fractions=(0.6, 0.1, 0.3), fake_fraction=0.0)


def _check_variants(names: Sequence[str]) -> list[str]:
    bad = [n for n in names if n not in VARIANTS]
    if bad or not names:
        raise ValueError(f"variants must be a non-empty subset of {list(VARIANTS)}, got {list(names)}")
    return list(dict.fromkeys(names))


def same_as_reference(variant: str, reference: Any) -> bool:
    """Whether ``variant`` changes nothing in the ``reference`` config (e.g. ``no_adversarial``
    when the reference already trains without the critic): such a variant would repeat the
    reference runs, so it is skipped."""
    return variant != "reference" and all(getattr(reference, k) == v for k, v in VARIANTS[variant].items())


@torch.no_grad()
def held_out_reconstruction(model: MarlinAutoencoder, clips: torch.Tensor, *, mask_ratio: float = 0.9, seed: int = 0) -> float:
    """MSE of the masked patches of ``clips (B, 3, T, H, W)`` under tube masking at
    ``mask_ratio`` with a fixed generator (the same mask for every model)."""
    cfg = model.cfg
    grid = TokenGrid(cfg.num_frames, cfg.img_size, cfg.tubelet_size, cfg.patch_size)
    visible = make_visible_mask("tube", clips.shape[0], grid, mask_ratio, generator=torch.Generator().manual_seed(seed))
    model.eval()
    pred = model(clips, visible)
    return float(torch.nn.functional.mse_loss(pred, model.targets(clips, visible)))


def _fer_probe(mcfg: Any, base: Any, settings: Any = None) -> Any:
    """A function ``encoder -> FER test accuracy`` with the transfer report's protocol (all labels;
    its data rendered once here, framed as the reference's clips; ``settings``: a
    :class:`~marlin_lite.transfer.TransferSettings`, default the report's)."""
    from dataclasses import replace as _replace

    settings = _replace(settings or transfer.TransferSettings(), framing=base.framing, expressions=base.expressions)
    data = transfer.load_task_data("fer", mcfg, settings)
    targets = {s: transfer.task_targets("fer", d.labels) for s, d in data.items()}
    everyone = torch.arange(len(data["train"]))

    def accuracy(model: Any) -> float:
        enc = transfer.as_encoder(model).eval()
        feats = {s: transfer.encoder_views(enc, d.clips, grid=settings.grid, batch_size=settings.feature_batch_size) for s, d in data.items()}
        views = {p: {s: feats[s][p] for s in data} for p in transfer.POOLINGS}
        choice = transfer.select_probe(views, targets, everyone, task="fer", l2_grid=settings.probe_l2, max_iter=settings.probe_max_iter)
        return transfer.task_metrics("fer", choice.test_scores, targets["test"])["accuracy"]

    return accuracy


def run_experiments(
    config: str = "configs/tiny.yaml",
    *,
    variants: Sequence[str] = tuple(VARIANTS),
    seeds: Sequence[int] = (0, 1, 2),
    max_steps: int | None = None,
    runs_dir: str = "runs/experiments",
    fractions: Sequence[float] = (0.1, 0.3, 1.0),
    probe_lr: float = 1e-2,
    probe_epochs: int = 200,
    finetune_epochs: int = 5,
    num_eval_clips: int = 32,
    far_identities: int | None = None,
    data_path: str | None = None,
    fer: bool = False,
    progress: bool = False,
    log: Any = print,
) -> dict[str, Any]:
    """Pretrain every (variant, seed), measure it, and run the low-data baselines.

    Returns a JSON-friendly dict: ``ablations`` (one row per variant and seed), ``low_data``
    (rows of :func:`~marlin_lite.tasks.run_far` for the reference checkpoints), ``settings``
    and ``timings_s``. ``fractions=()`` skips the low-data part. Variants that change nothing
    in the reference config are skipped (:func:`same_as_reference`). ``data_path``: a clip store
    of the reference config's own training clips (``marlin_lite.clipstore``), rendered once and
    read by every run instead of rendering SynthFace again per run (the same clips, faster). The
    probe and held-out clips are rendered with the reference config's ``framing`` and
    ``expressions``, as the pretraining clips are.
    """
    variants = _check_variants(variants)
    if not seeds:
        raise ValueError("seeds must name at least one seed, e.g. (0, 1, 2)")
    store = {"data_path": data_path} if data_path else {}  # the config's own data_path otherwise
    base = load_config(config, **store)  # fails early on a bad file
    skipped = [v for v in variants if same_as_reference(v, base)]
    for v in skipped:
        log(f"{v}: skipped, it changes nothing in {config} ({VARIANTS[v]})")
    variants = [v for v in variants if v not in skipped]
    mcfg = base.model_config()
    data_kw = dict(size=mcfg.img_size, num_frames=mcfg.num_frames, cache=True, framing=base.framing, expressions=base.expressions)
    far_kw = dict(FAR_DATA, **({"num_identities": far_identities} if far_identities else {}))
    far = {s: SynthFaceDataset(s, **far_kw, **data_kw) for s in ("train", "val", "test")}
    held = SynthFaceDataset("train", num_identities=max(8, num_eval_clips // 2), clips_per_identity=2, world_seed=2, **data_kw)
    clips = torch.stack([held[i]["video"] for i in range(min(num_eval_clips, len(held)))])
    probe = dict(lr=probe_lr, epochs=probe_epochs)
    cache = FeatureCache()
    rows, low, timings, reference, baselines = [], ResultsTable(), {}, {}, []
    fer_probe = _fer_probe(mcfg, base) if fer else None

    def yardsticks(model: Any, seed: int, method: str) -> dict[str, float]:
        far_row = run_far(model, far["train"], far["test"], val_set=far["val"], seeds=(seed,), methods=(method,), cache=cache, probe=probe)[0]
        out = {"rec_tube90": held_out_reconstruction(model, clips) if isinstance(model, MarlinAutoencoder) else None,
               "far_auc_micro": far_row["auc_micro"], "far_auc_macro": far_row["auc_macro"], "far_accuracy": far_row["accuracy"]}
        if fer_probe is not None:  # the baselines pass random_encoder(mcfg, seed): the encoder run_far's random_init_probe builds
            out["fer_accuracy"] = fer_probe(model)
        return out

    for seed in seeds:
        t0 = time.perf_counter()
        baselines.append({"method": "random_init", "seed": seed, **yardsticks(random_encoder(mcfg, seed), seed, "random_init_probe")})
        timings[f"random_init_seed{seed}"] = round(time.perf_counter() - t0, 1)
        log(f"{'random init':15s} seed {seed}: FAR micro AUC {baselines[-1]['far_auc_micro']:.3f}"
            + (f" | FER accuracy {baselines[-1]['fer_accuracy']:.3f}" if fer else ""))
    for variant in variants:
        for seed in seeds:
            t0 = time.perf_counter()
            cfg = load_config(config, **VARIANTS[variant], seed=seed, progress=progress,
                              out_dir=str(Path(runs_dir) / f"{variant}_seed{seed}"), **({"max_steps": max_steps} if max_steps else {}),
                              **store)
            ckpt = Path(cfg.out_dir) / "checkpoint.pt"
            before = ckpt.stat().st_mtime_ns if ckpt.exists() else None
            result = ensure_pretrained(cfg)
            reused = before is not None and ckpt.stat().st_mtime_ns == before  # nothing was trained or rewritten
            t_train = time.perf_counter() - t0
            model = result.model.eval()
            tail = [h["rec"] for h in result.history[-5:]] or [float("nan")]
            row = {"variant": variant, "seed": seed, **VARIANTS[variant], "mask_strategy": cfg.mask_strategy,
                   "mask_ratio": cfg.mask_ratio, "adversarial": cfg.adversarial, "steps": result.step, "reused_checkpoint": reused,
                   "train_seconds": round(t_train, 1), "train_rec": sum(tail) / len(tail), **yardsticks(model, seed, "pretrained_probe")}
            rows.append(row)
            timings[f"{variant}_seed{seed}"] = round(time.perf_counter() - t0, 1)
            log(f"{variant:15s} seed {seed}: rec_tube90 {row['rec_tube90']:.4f} | FAR micro AUC {row['far_auc_micro']:.3f} "
                + (f"| FER accuracy {row['fer_accuracy']:.3f} " if fer else "")
                + f"| {t_train:.0f} s training, {timings[f'{variant}_seed{seed}']:.0f} s in all")
            if variant == variants[0]:
                reference[seed] = model
    if fractions:
        for seed, model in reference.items():
            t0 = time.perf_counter()
            low.extend(run_far(model, far["train"], far["test"], val_set=far["val"], fractions=tuple(fractions), seeds=(seed,),
                               cache=cache, probe=probe, finetune=dict(epochs=finetune_epochs)))
            timings[f"low_data_seed{seed}"] = round(time.perf_counter() - t0, 1)
            log(f"low-data FAR baselines, seed {seed}: {timings[f'low_data_seed{seed}']:.0f} s")
    return {
        "ablations": rows,
        "baselines": baselines,
        "low_data": low.to_dicts(),
        "settings": {"config": config, "reference": asdict(base), "low_data_variant": variants[0], "variants": {v: VARIANTS[v] for v in variants},
                     "skipped_variants": skipped, "fer": bool(fer),
                     "seeds": list(seeds), "max_steps": max_steps or base.max_steps, "fractions": list(fractions),
                     "probe": probe, "finetune_epochs": finetune_epochs, "far_data": {k: list(v) if isinstance(v, tuple) else v for k, v in far_kw.items()},
                     "held_out": {"clips": int(clips.shape[0]), "world_seed": 2, "mask": "tube", "mask_ratio": 0.9, "mask_seed": 0}},
        "timings_s": timings,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m marlin_lite.experiments", description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/tiny.yaml", help="the reference pretraining config (YAML)")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), help=f"which of {list(VARIANTS)}; the first is the low-data reference")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--max-steps", type=int, default=None, help="override the config's max_steps (every variant)")
    p.add_argument("--fractions", nargs="*", type=float, default=[0.1, 0.3, 1.0], help="label fractions of the low-data part (none: skip it)")
    p.add_argument("--finetune-epochs", type=int, default=5)
    p.add_argument("--far-identities", type=int, default=None, help="people in the FAR data (default 120, lesson 06's)")
    p.add_argument("--fer", action="store_true", help="also probe facial expressions (the transfer report's FER protocol, all labels)")
    p.add_argument("--data-path", default=None, help="a clip store of the reference config's training clips (render once, read by every run)")
    p.add_argument("--runs-dir", default="runs/experiments", help="one checkpoint folder per (variant, seed): rerun to resume")
    p.add_argument("--out", default="runs/experiments/results.json", help="where the results JSON goes (written atomically)")
    p.add_argument("--progress", action="store_true", help="progress bars while pretraining")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    results = run_experiments(a.config, variants=a.variants, seeds=a.seeds, max_steps=a.max_steps, runs_dir=a.runs_dir,
                              fractions=a.fractions, finetune_epochs=a.finetune_epochs, far_identities=a.far_identities,
                              data_path=a.data_path, fer=a.fer, progress=a.progress)
    args = list(sys.argv[1:] if argv is None else argv)
    results["provenance"] = {
        "command": "python -m marlin_lite.experiments " + shlex.join(args),
        "seeds": list(a.seeds),
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "elapsed_s": round(time.perf_counter() - t0, 1),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": machine_description(),
    }
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, json_bytes(results))
    print(f"wrote {out} ({results['provenance']['elapsed_s']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
