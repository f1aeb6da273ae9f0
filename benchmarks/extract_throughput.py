"""Feature-extraction throughput: the encoder over all tokens of each clip, mean-pooled.

Target (issue 4): ViT-B over all 1568 tokens >= 1,000 clips/s in bf16 on an H200 (the official
encoder measured 251). On CPU the tiny preset gives a reference figure. Prints JSON lines.

    python benchmarks/extract_throughput.py --preset tiny --batch 16
    python benchmarks/extract_throughput.py --preset base --batch 64 --device cuda
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from marlin_lite.features import extract_features
from marlin_lite.model import MarlinAutoencoder, get_config
from marlin_lite.utils import pick_device

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="tiny")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--batches", type=int, default=5)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    dev = pick_device(a.device)
    cfg = get_config(a.preset)
    torch.manual_seed(0)
    encoder = MarlinAutoencoder(cfg, discriminator=False).encoder.to(dev).eval()
    clips = torch.rand(a.batch * a.batches, 3, cfg.num_frames, cfg.img_size, cfg.img_size)
    if dev.type == "cuda":
        clips = clips.pin_memory()
    extract_features(encoder, clips[: a.batch], batch_size=a.batch)  # warm-up
    if dev.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    extract_features(encoder, clips, batch_size=a.batch)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    sec = time.perf_counter() - start
    print(json.dumps({"bench": "extract_features", "preset": a.preset, "batch": a.batch, "device": str(dev),
                      "precision": "bf16" if dev.type == "cuda" else "fp32", "tokens": cfg.num_tokens,
                      "clips_per_s": round(len(clips) / sec, 1), "threads": torch.get_num_threads()}))
