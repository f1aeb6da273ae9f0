"""How fast SynthFace renders clips (frames + parsing maps + landmarks + audio).

Prints one JSON line per setting: median and best milliseconds per clip over several
identities. Target (issue 2): a 16-frame 64x64 clip in <= 20 ms on one core. Pin one core
with e.g. `taskset -c 0 python benchmarks/synthface_speed.py`.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from marlin_lite.synthface import generate_clip  # noqa: E402


def bench(repeats: int = 30, **kwargs) -> dict:
    generate_clip(0, 0, **kwargs)  # warm-up
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        generate_clip(i, 1, **kwargs)
        times.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(times), 2), "best_ms": round(min(times), 2), "repeats": repeats}


if __name__ == "__main__":
    settings = [
        dict(size=64, num_frames=16),
        dict(size=64, num_frames=16, manipulation="face_swap"),
        dict(size=112, num_frames=48),
        dict(size=224, num_frames=16),
    ]
    for s in settings:
        row = {"bench": "synthface", **s, **bench(repeats=10 if s["size"] > 64 else 30, **s)}
        row["machine"] = platform.processor() or platform.machine()
        if s == settings[0]:
            row["target_ms"] = 20
            row["meets_target"] = row["median_ms"] <= 20
        print(json.dumps(row))
