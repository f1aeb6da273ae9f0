"""Where does a task's signal live in an encoder? Linear probes on every block and pooling.

The transfer report (:mod:`marlin_lite.transfer`) probes the encoder's *output* with two
poolings. When pretraining falls short of a random encoder on a task (FER on SynthFace), the
first questions are where the signal is lost (already in the patch embedding, or in the
blocks?) and whether a pooling that keeps *where* and *when* recovers it. This module answers
them with the report's own probe (:func:`marlin_lite.transfer.select_probe`: L-BFGS, L2 chosen
on validation) on the features after the patch embedding and after every block, each pooled
three ways:

* ``mean``: the mean over all tokens (MARLIN's feature, before its final LayerNorm's affine);
* ``grid``: 2 x 2 spatial regions, time averaged (the report's second pooling);
* ``regions``: 3 x 3 spatial regions x 2 halves of the clip (expressions are local and have an
  onset and an offset).

Every token is LayerNorm-ed without affine parameters first, so each block's features are on
the same footing. It runs on SynthFace **world 2** by default: neither pretraining's people
(world 0) nor the evaluation's (world 1), so nothing here is tuned on the report's data::

    python -m marlin_lite.diagnose --task fer --out docs/fer_diagnosis.md
    python -m marlin_lite.diagnose --task fer --encoder runs/my_run/checkpoint.pt --encoder random:0
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from marlin_lite import transfer
from marlin_lite.encoders import load_encoder
from marlin_lite.model import MarlinAutoencoder, MarlinEncoder
from marlin_lite.utils import machine_description

#: Poolings of :func:`layer_views`: name -> (time groups or None for all, spatial regions per side).
POOLINGS: dict[str, tuple[int | None, int]] = {"mean": (None, 1), "grid": (None, 2), "regions": (2, 3)}


@torch.no_grad()
def layer_views(encoder: MarlinEncoder | MarlinAutoencoder, clips: torch.Tensor, *, batch_size: int = 64) -> dict[str, torch.Tensor]:
    """Pooled features after the patch embedding (layer 0) and after each block (1..depth).

    Args:
        clips: ``(N, 3, T, H, W)``, uint8 or float in [0, 1], at the encoder's clip size.
    Returns:
        ``{"L<layer>/<pooling>": float32 (N, D * regions)}`` for every layer and :data:`POOLINGS`
        entry; tokens are LayerNorm-ed (no affine) before pooling.
    """
    enc = transfer.as_encoder(encoder)
    was_training = enc.training
    enc.eval()
    tt, hh, ww = enc.cfg.grid
    out: dict[str, list[torch.Tensor]] = {}
    for i in range(0, clips.shape[0], batch_size):
        x = transfer._as_float(clips[i : i + batch_size])
        z = enc.patch_embed(x) + enc.pos_embed.to(x.dtype)
        for layer in range(len(enc.blocks) + 1):
            if layer:
                z = enc.blocks[layer - 1](z)
            tok = F.layer_norm(z, z.shape[-1:]).reshape(z.shape[0], tt, hh, ww, -1).permute(0, 4, 1, 2, 3)  # (B, D, T', H', W')
            for name, (times, side) in POOLINGS.items():
                pooled = F.adaptive_avg_pool3d(tok, (times or 1, side, side))
                out.setdefault(f"L{layer}/{name}", []).append(pooled.flatten(1).float())
    enc.train(was_training)
    return {k: torch.cat(v) for k, v in out.items()}


def probe_layers(
    encoders: Mapping[str, MarlinEncoder | MarlinAutoencoder], task: str = "fer", *, world_seed: int = 2,
    settings: transfer.TransferSettings | None = None, progress: Any = print,
) -> list[dict[str, Any]]:
    """Probe every layer and pooling of each encoder on one task with all training labels.

    Returns one row per (encoder, layer, pooling): ``encoder``, ``layer``, ``pooling``, ``dim``,
    ``val`` (the validation headline metric the L2 was chosen by), ``test`` and ``l2``; plus a
    ``pixels`` row (the report's pixel probe) as the floor every encoder should clear.
    """
    settings = replace(settings or transfer.TransferSettings(), world_seed=world_seed)
    if task not in ("far", "fer", "dfd"):
        raise ValueError(f"task must be far, fer or dfd (the probed tasks), got {task!r}")
    cfg = transfer.as_encoder(next(iter(encoders.values()))).cfg
    data = transfer.load_task_data(task, cfg, settings)
    targets = {s: transfer.task_targets(task, d.labels) for s, d in data.items()}
    everyone = torch.arange(len(data["train"]))
    metric = transfer.HEADLINE[task]
    rows: list[dict[str, Any]] = []

    def probe(name: str, layer: str, pooling: str, views: Mapping[str, torch.Tensor]) -> None:
        choice = transfer.select_probe({pooling: views}, targets, everyone, task=task, l2_grid=settings.probe_l2,
                                       max_iter=settings.probe_max_iter)
        test = transfer.task_metrics(task, choice.test_scores, targets["test"])[metric]
        rows.append({"encoder": name, "layer": layer, "pooling": pooling, "dim": int(views["train"].shape[1]),
                     "val": round(choice.val_metric, 4), "test": round(test, 4), "l2": choice.l2, "n_test": len(data["test"])})

    probe("pixels", "-", "pixels", {s: transfer.pixel_features(d.clips, settings.pixel_size, settings.pixel_time) for s, d in data.items()})
    for name, enc in encoders.items():
        views = {s: layer_views(enc, d.clips, batch_size=settings.feature_batch_size) for s, d in data.items()}
        for key in views["train"]:
            layer, pooling = key.split("/")
            probe(name, layer, pooling, {s: views[s][key] for s in views})
        if progress:
            progress(f"{name}: {len(views['train'])} probes done")
    return rows


def render_markdown(rows: Sequence[Mapping[str, Any]], task: str, provenance: Mapping[str, Any]) -> str:
    """A table per pooling: layers down, encoders across, ``test (val)`` in each cell."""
    metric = transfer.METRIC_NAMES[transfer.HEADLINE[task]]
    encoders = list(dict.fromkeys(r["encoder"] for r in rows if r["encoder"] != "pixels"))
    layers = list(dict.fromkeys(r["layer"] for r in rows if r["encoder"] != "pixels"))
    pixels = next(r for r in rows if r["encoder"] == "pixels")
    lines = [
        f"# Where the {task.upper()} signal lives: linear probes on every layer",
        "",
        f"*Written by `{provenance['command']}`; do not edit by hand.*",
        "",
        f"- **commit** `{provenance.get('commit')}`; {provenance['date']}; {provenance['seconds']} s on {provenance['machine']}",
        f"- **data**: SynthFace world {provenance['world_seed']} (neither the pretraining people, world 0, nor the transfer "
        "report's, world 1), framing face, expressions marked, the report's split and sizes; all training labels",
        f"- **probe**: the transfer report's (L-BFGS, L2 chosen on validation, features standardised); cells: "
        f"test {metric} (validation {metric}); layer 0 is the patch embedding plus positions, layer k the output of block k",
        "- **encoders**: " + "; ".join(f"`{k}`: {v}" for k, v in provenance["encoders"].items()),
        f"- **pixel probe** (the report's 768 pooled pixels): test {pixels['test']:.3f} (validation {pixels['val']:.3f})",
        "",
    ]
    for pooling, (times, side) in POOLINGS.items():
        what = {"mean": "mean over all tokens", "grid": "2 x 2 regions, time averaged", "regions": "3 x 3 regions x 2 halves of the clip"}[pooling]
        lines += [f"## Pooling `{pooling}`: {what}", "", "| layer | " + " | ".join(encoders) + " |", "|---|" + "---|" * len(encoders)]
        for layer in layers:
            cells = []
            for e in encoders:
                r = next(x for x in rows if x["encoder"] == e and x["layer"] == layer and x["pooling"] == pooling)
                cells.append(f"{r['test']:.3f} ({r['val']:.3f})")
            lines.append(f"| {layer} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"One run, one seed of each encoder, {provenance['n_test']} test clips: read differences of a few hundredths as noise.", ""]
    return "\n".join(lines)


def _load(spec: str, index: int) -> tuple[str, MarlinEncoder, str]:
    """(column name, encoder, description) of ``--encoder spec`` (see :func:`marlin_lite.encoders.load_encoder`)."""
    encoder, info = load_encoder(spec)
    name = {"course": "course checkpoint", "random": f"random init {info.get('seed')}"}.get(info["kind"], f"encoder {index}")
    return name, encoder, info["description"] if info["kind"] in ("course", "random") else f"`{spec}`"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m marlin_lite.diagnose", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="fer", choices=("far", "fer", "dfd"))
    parser.add_argument("--encoder", action="append", default=None,
                        help="course (the shipped checkpoint), random:<seed>, or a checkpoint.pt; repeat (default: course and random:0)")
    parser.add_argument("--world-seed", type=int, default=2, help="SynthFace world (default 2: used by neither pretraining nor the report)")
    parser.add_argument("--out", default=None, help="write the markdown here (default: print it)")
    parser.add_argument("--quick", action="store_true", help="tiny data and probes (a smoke run)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    specs = args.encoder or ["course", "random:0"]
    try:
        loaded = [_load(s, i) for i, s in enumerate(specs)]
    except (FileNotFoundError, ValueError) as err:
        print(f"error: {' '.join(str(err).split())}", file=sys.stderr)  # one line, whatever torch said
        return 2
    settings = transfer.TransferSettings.quick() if args.quick else transfer.TransferSettings()
    start = time.perf_counter()
    rows = probe_layers({name: model for name, model, _ in loaded}, args.task, world_seed=args.world_seed, settings=settings)
    commit, dirty = transfer.git_state()
    provenance = {
        "command": "python -m marlin_lite.diagnose " + " ".join(argv if argv is not None else sys.argv[1:]),
        "commit": f"{commit} (with uncommitted changes)" if dirty else commit, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "seconds": round(time.perf_counter() - start), "machine": machine_description(),
        "world_seed": args.world_seed, "encoders": {name: desc for name, _, desc in loaded},
        "n_test": next(r["n_test"] for r in rows if r["encoder"] == "pixels"),
    }
    text = render_markdown(rows, args.task, provenance)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text)
        print(f"wrote {args.out}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
