"""Training-step speed of the MARLIN autoencoder on CPU (or GPU if present).

One step = encoder on visible tokens + decoder + MSE on masked patches + backward + AdamW
(the reconstruction part of pretraining). Target (issue 3): the `tiny` preset at batch 8 well
under 100 ms per step on 2 CPU cores. Prints JSON lines.

    python benchmarks/model_speed.py [--preset tiny] [--batch 8] [--steps 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from marlin_lite.masking import TokenGrid, make_visible_mask
from marlin_lite.model import MarlinAutoencoder, count_parameters, get_config
from marlin_lite.utils import pick_device

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="tiny")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    device = pick_device(args.device)
    cfg = get_config(args.preset)
    torch.manual_seed(0)
    model = MarlinAutoencoder(cfg, discriminator=False).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95))
    grid = TokenGrid(cfg.num_frames, cfg.img_size, cfg.tubelet_size, cfg.patch_size)
    x = torch.rand(args.batch, 3, cfg.num_frames, cfg.img_size, cfg.img_size, device=device)
    visible = make_visible_mask("random", args.batch, grid, 0.9).to(device)
    times = []
    for step in range(args.steps + 3):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        loss = F.mse_loss(model(x, visible), model.targets(x, visible))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if step >= 3:
            times.append((time.perf_counter() - start) * 1000)
    ms = statistics.median(times)
    print(json.dumps({"bench": "train_step", "preset": args.preset, "batch": args.batch, "device": str(device),
                      "threads": torch.get_num_threads(), "median_ms": round(ms, 1),
                      "clips_per_s": round(args.batch / ms * 1000, 1),
                      "params_m": round(count_parameters(model) / 1e6, 2)}))
