"""Pretraining throughput: MARLIN-lite's one-forward step against the official two-pass loop.

Both loops train the same model on the same synthetic batch and masks:

* ``official_style``: the critic step runs its own encoder/decoder forward and a backward
  through the critic *and* the encoder/decoder (whose gradients are then thrown away), then the
  generator step runs a second full forward and backward, as the official loop does (facts in
  ../shared/reference/MARLIN_FACTS.md: "each run their own full forward and backward pass");
* ``marlin_lite``: one forward; the critic learns from the detached predictions, the generator
  from the same predictions (``marlin_lite.pretrain``'s step).

The loops run in alternating rounds (the machine's drift hits both). Prints one JSON line per loop with clips/s, ms/step, peak memory and model FLOP utilisation
(FLOPs per clip from ``marlin_lite.pretrain.step_flops``: each loop's own work, critic included), and the
speed-up next to ``flop_ratio``, the ratio of the two loops' work: what skipping the second pass
saves by itself, the speed-up a loop doing the same work no faster would reach.
CPU by default; on a GPU add ``--device cuda`` (bf16 autocast, fused AdamW).

    python benchmarks/pretrain_throughput.py --preset tiny --batch 8
    python benchmarks/pretrain_throughput.py --preset base --batch 64 --device cuda [--compile]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from marlin_lite.masking import TokenGrid, make_visible_mask, num_visible
from marlin_lite.model import MarlinAutoencoder, get_config, split_tokens
from marlin_lite.pretrain import critic_loss, fused_adamw, reconstruction_loss, step_flops
from marlin_lite.utils import pick_device

PEAK_TFLOPS = {"H200": 790.0, "H100": 790.0}  # measured bf16 matmul ceilings on this workplace's machines


def make(preset, device, fused):
    """Model, critic and the two AdamW optimisers; ``fused=None`` is PyTorch's default choice
    (what the official code gets: a for-loop on CPU, ``foreach`` on CUDA)."""
    torch.manual_seed(0)
    model = MarlinAutoencoder(get_config(preset)).to(device)
    disc = model.discriminator
    gen_params = [p for n, p in model.named_parameters() if not n.startswith("discriminator.")]
    opt_g = torch.optim.AdamW(gen_params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0, fused=fused)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0, fused=fused)
    return model, disc, opt_g, opt_d


def step_official(model, disc, opt_g, opt_d, x, visible, autocast):
    with autocast():
        pred = model(x, visible)  # pass 1: for the critic (not detached: its backward runs too)
        d_loss = critic_loss(disc, pred, model.targets(x, visible))
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    with autocast():
        pred = model(x, visible)  # pass 2: for the generator
        loss = reconstruction_loss(pred, model.targets(x, visible)) - 0.01 * disc(pred).float().mean()
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    opt_g.step()


def step_lite(model, disc, opt_g, opt_d, x, visible, autocast, forward):
    split = split_tokens(visible, num_visible(model.cfg.num_tokens, 0.9))  # once per step, on the device, as train()
    with autocast():
        pred = forward(x, split)
        target = model.targets(x, split)
        d_loss = critic_loss(disc, pred.detach(), target)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    disc.requires_grad_(False)
    with autocast():
        loss = reconstruction_loss(pred, target) - 0.01 * disc(pred).float().mean()
    disc.requires_grad_(True)
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    opt_g.step()


class Loop:
    """One loop's model, optimisers, input and step function, ready to time."""

    def __init__(self, name, preset, batch, device, compile_model):
        cfg = get_config(preset)
        self.name, self.preset, self.batch, self.device, self.cfg = name, preset, batch, device, cfg
        self.compiled = compile_model and name == "marlin_lite"
        # The official loop builds plain AdamW (PyTorch's default kernels); marlin_lite's train() asks
        # for the fused kernel, on CPU as on CUDA.
        self.fused = fused_adamw(device) if name == "marlin_lite" else None
        model, disc, opt_g, opt_d = make(preset, device, self.fused)
        grid = TokenGrid(cfg.num_frames, cfg.img_size, cfg.tubelet_size, cfg.patch_size)
        x = torch.rand(batch, 3, cfg.num_frames, cfg.img_size, cfg.img_size, device=device)
        visible = make_visible_mask("tube", batch, grid, 0.9, generator=torch.Generator().manual_seed(0)).to(device)
        bf16 = device.type == "cuda"
        autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)  # noqa: E731
        forward = torch.compile(model) if self.compiled else model
        if name == "official_style":
            self.step = lambda: step_official(model, disc, opt_g, opt_d, x, visible, autocast)
        else:
            self.step = lambda: step_lite(model, disc, opt_g, opt_d, x, visible, autocast, forward)
        self.times = []

    def timed(self, steps, keep=True):
        for _ in range(steps):
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            self.step()
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            if keep:
                self.times.append(time.perf_counter() - t)

    def row(self):
        sec = statistics.median(self.times)
        cfg = self.cfg
        flops = step_flops(cfg, num_visible(cfg.num_tokens, 0.9), two_pass=self.name == "official_style")
        row = {"bench": "pretrain_step", "loop": self.name, "preset": self.preset, "batch": self.batch, "device": str(self.device),
               "compiled": self.compiled, "steps": len(self.times), "ms_per_step": round(sec * 1000, 1),
               "clips_per_s": round(self.batch / sec, 1), "flops_per_clip": flops, "threads": torch.get_num_threads(),
               "adamw": "fused" if self.fused else "default"}
        if self.device.type == "cuda":
            row["peak_mem_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            gpu = torch.cuda.get_device_name()
            peak = next((v for k, v in PEAK_TFLOPS.items() if k in gpu), None)
            row["gpu"] = gpu
            if peak:
                row["mfu"] = round(flops * self.batch / sec / 1e12 / peak, 3)
        return row


def compare(preset, batch, steps, device, compile_model, rounds=5, warmup=3):
    """Time both loops in alternating rounds of ``steps`` steps (after ``warmup`` steps each), so
    that a machine whose speed drifts (shared cores, clocks) slows both alike. Prints one row per
    loop (median ms per step over all timed steps) and the speed-up: the ratio of the medians,
    with the lowest and highest ratio of single rounds."""
    loops = [Loop(n, preset, batch, device, compile_model) for n in ("official_style", "marlin_lite")]
    for loop in loops:
        loop.timed(warmup, keep=False)
    per_round = []
    for _ in range(rounds):
        medians = []
        for loop in loops:
            n0 = len(loop.times)
            loop.timed(steps)
            medians.append(statistics.median(loop.times[n0:]))
        per_round.append(medians[0] / medians[1])
    rows = [loop.row() for loop in loops]
    for row in rows:
        print(json.dumps(row), flush=True)
    speedup = {"bench": "pretrain_speedup", "preset": preset, "batch": batch, "device": str(device), "rounds": rounds,
               "speedup": round(rows[0]["ms_per_step"] / rows[1]["ms_per_step"], 2),
               "speedup_rounds_min": round(min(per_round), 2), "speedup_rounds_max": round(max(per_round), 2),
               "flop_ratio": round(rows[0]["flops_per_clip"] / rows[1]["flops_per_clip"], 3)}
    print(json.dumps(speedup), flush=True)
    return rows, speedup


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="tiny")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=10, help="timed steps per loop and round")
    p.add_argument("--rounds", type=int, default=5, help="alternating rounds (official, marlin_lite, official, ...)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--compile", action="store_true")
    a = p.parse_args()
    compare(a.preset, a.batch, a.steps, pick_device(a.device), a.compile, rounds=a.rounds)
