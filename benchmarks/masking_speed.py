"""How fast the masks are made. Target (issue 3): masks for 64 clips of 16x224x224 in < 50 ms on CPU.

Prints one JSON line per strategy (median of 10 runs after a warm-up), with the threads used.
"""

from __future__ import annotations

import json
import statistics
import time

import torch

from marlin_lite.masking import STRATEGIES, TokenGrid, make_visible_mask
from marlin_lite.synthface import generate_clip

if __name__ == "__main__":
    grid = TokenGrid(16, 224, 2, 16)
    maps = torch.stack([torch.from_numpy(generate_clip(i, 0, size=224, num_frames=16).parsing) for i in range(8)])
    maps = maps.repeat(8, 1, 1, 1)  # 64 clips
    gen = torch.Generator().manual_seed(0)
    for strategy in STRATEGIES:
        make_visible_mask(strategy, 64, grid, 0.9, parsing=maps, generator=gen)
        times = []
        for _ in range(10):
            start = time.perf_counter()
            make_visible_mask(strategy, 64, grid, 0.9, parsing=maps, generator=gen)
            times.append((time.perf_counter() - start) * 1000)
        median = statistics.median(times)
        print(json.dumps({"bench": "masking", "strategy": strategy, "batch": 64, "clip": "16x224x224",
                          "median_ms": round(median, 1), "threads": torch.get_num_threads(),
                          "target_ms": 50, "meets_target": median < 50}))
