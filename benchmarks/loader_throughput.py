"""Clip store loader throughput: can the host feed the trainer?

A ViT-B trainer at 1,000 clips/s eats about 2.4 GB/s of 16 x 224 x 224 uint8 frames. This script
measures what :func:`marlin_lite.clipstore.make_loader` delivers, in clips/s and GB/s, for several
worker counts and both backends (reader threads, worker processes), with and without pinned memory (pinning only exists with CUDA), and optionally
with the host-to-device copy and float conversion (:func:`to_device_float`) included. Batches are
drawn as pretraining draws them (``StepBatches``: random batches across epochs, no worker restarts).

Prints one JSON line per setting, then a summary line comparing the best setting with a trainer
figure (``--trainer-clips-per-s``): ``data_bound`` is true when the loader is the slower of the two.
With ``--simulate-trainer`` the loop also sleeps ``batch / trainer-clips-per-s`` per batch, as a
host waiting on GPU steps does (GIL released): a loader that overlaps its reads with the step
reaches the trainer's rate, a synchronous one (``--workers 0``) pays read + step per batch. The
sleeps alone are timed first (``trainer_only``: sleeping overshoots on a busy machine) and
``data_bound`` then means more than 5% below that.

Without ``--store`` a store of random clips is written to a temporary folder first (so it sits in
the page cache: these are warm-cache figures; a cold read is bounded by the disk).

    python benchmarks/loader_throughput.py                                   # 16 x 224 x 224, workers 0,2,4,8
    python benchmarks/loader_throughput.py --frames 8 --size 112 --clips 256 --workers 0,1,2
    python benchmarks/loader_throughput.py --store data/store --device cuda --trainer-clips-per-s 1000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from marlin_lite.clipstore import ClipStore, make_loader, to_device_float, write_clip_store
from marlin_lite.pretrain import StepBatches


def random_clips(n: int, frames: int, size: int, parsing: bool, seed: int = 0):
    """``n`` clips of uniform noise (every byte distinct: nothing for a page cache to share)."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        maps = rng.integers(0, 11, (frames, size, size), dtype=np.uint8) if parsing else None
        yield f"noise{i:06d}", rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8), maps


def measure(store: ClipStore, args, workers: int, pin: bool, mode: str, device: torch.device | None) -> dict:
    steps = args.warmup + args.batches
    sampler = StepBatches(len(store), args.batch, seed=0, start_step=0, max_steps=steps)
    if mode in ("thread", "process"):  # whole uint8 batches per read: the clip store loader, either backend
        loader = make_loader(store, args.batch, workers=workers, pin_memory=pin, parsing=args.parsing, batch_sampler=sampler, backend=mode)
        key = "frames"
    else:  # "items": per-clip float items + default collation + worker processes (a plain map-style Dataset)
        items = ClipStore(store.path, output="float")
        loader = DataLoader(items, batch_sampler=sampler, num_workers=workers, pin_memory=pin and torch.cuda.is_available(),
                            prefetch_factor=4 if workers else None)
        key = "video"
    step_s = args.batch / args.trainer_clips_per_s if args.simulate_trainer else 0.0
    clips, t0 = 0, None
    for step, batch in enumerate(loader):
        if step == args.warmup:
            if device is not None and device.type == "cuda":
                torch.cuda.synchronize()
            t0, clips = time.perf_counter(), 0
        if device is not None:
            x = to_device_float(batch[key], device) if key == "frames" else batch[key].to(device, non_blocking=True)
            if "parsing" in batch:
                batch["parsing"].to(device, non_blocking=True)
        clips += batch[key].shape[0]
        if step_s:
            time.sleep(step_s)  # a GPU step: the host waits with the GIL released
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - (t0 or time.perf_counter())
    per_clip = store.clip_len * store.size**2 * (3 + (1 if args.parsing and store.has_parsing else 0))
    host_bytes = per_clip * (4 if mode == "items" else 1)  # the items path moves float32 frames
    rate = clips / max(seconds, 1e-9)
    out = {
        "mode": mode,
        "workers": workers,
        "pin_memory": pin,
        "batch": args.batch,
        "clip": [store.clip_len, store.size, store.size],
        "parsing": bool(args.parsing and store.has_parsing),
        "device": str(device) if device is not None else None,
        "simulated_trainer": args.trainer_clips_per_s if args.simulate_trainer else None,
        "clips_per_s": round(rate, 1),
        "gb_per_s": round(rate * host_bytes / 1e9, 3),
        "ms_per_batch": round(1000 * seconds / max(args.batches, 1), 2),
    }
    out["data_bound"] = rate < (0.95 * args.ceiling if args.simulate_trainer else args.trainer_clips_per_s)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", help="an existing clip store (default: write random clips to a temp folder)")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--clips", type=int, default=512, help="clips in the temporary store")
    p.add_argument("--parsing", action="store_true", help="also load parsing maps (fasking needs them)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--batches", type=int, default=40, help="timed batches per setting")
    p.add_argument("--warmup", type=int, default=4, help="untimed batches first (worker start-up)")
    p.add_argument("--workers", default="0,2,4,8", help="comma-separated worker counts")
    p.add_argument("--pin", default="auto", choices=("auto", "on", "off", "both"), help="pinned batches (auto: both with CUDA, off without)")
    p.add_argument("--modes", default="thread,process",
                   help="thread / process: make_loader's backends; items: per-clip float items in a plain DataLoader")
    p.add_argument("--device", default=None, help="also copy to this device and convert to float (cuda, cpu)")
    p.add_argument("--trainer-clips-per-s", type=float, default=1000.0, help="the trainer's speed to compare with")
    p.add_argument("--simulate-trainer", action="store_true",
                   help="sleep batch / trainer-clips-per-s after each batch (a GPU step): shows whether reading overlaps it")
    p.add_argument("--torch-threads", type=int, default=None, help="torch.set_num_threads (the items mode converts on the host)")
    args = p.parse_args()

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    cuda = torch.cuda.is_available()
    pins = {"auto": [False, True] if cuda else [False], "on": [True], "off": [False], "both": [False, True]}[args.pin]
    device = torch.device(args.device) if args.device else None
    tmp = None
    if args.store:
        store = ClipStore(args.store, output="uint8")
    else:
        tmp = tempfile.TemporaryDirectory(prefix="clipstore_bench_")
        t0 = time.perf_counter()
        store = write_clip_store(random_clips(args.clips, args.frames, args.size, args.parsing), Path(tmp.name) / "store",
                                 clip_len=args.frames, size=args.size, shard_size=128, progress=False)
        write_s = time.perf_counter() - t0
        print(json.dumps({"wrote": str(store), "seconds": round(write_s, 2), "gb": round(store.nbytes / 1e9, 3)}))
    print(json.dumps({"machine": platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__, "cuda": cuda,
                      "store_clips": len(store), "store_gb": round(store.nbytes / 1e9, 3)}))
    args.ceiling = args.trainer_clips_per_s
    if args.simulate_trainer:  # the simulated steps alone: what sleeping reaches on this machine now
        t0 = time.perf_counter()
        for _ in range(args.batches):
            time.sleep(args.batch / args.trainer_clips_per_s)
        args.ceiling = args.batch * args.batches / (time.perf_counter() - t0)
        print(json.dumps({"mode": "trainer_only", "clips_per_s": round(args.ceiling, 1)}))
    results = []
    try:
        for mode in args.modes.split(","):
            for workers in [int(w) for w in args.workers.split(",")]:
                for pin in pins:
                    r = measure(store, args, workers, pin, mode, device)
                    results.append(r)
                    print(json.dumps(r), flush=True)
    finally:
        if tmp is not None:
            tmp.cleanup()
    best = max((r for r in results if r["mode"] != "items"), key=lambda r: r["clips_per_s"], default=None)
    if best is not None:
        verdict = "data-bound" if best["data_bound"] else "compute-bound (the loader keeps up)"
        print(json.dumps({"summary": True, "best": {k: best[k] for k in ("mode", "workers", "pin_memory", "clips_per_s", "gb_per_s")},
                          "trainer_clips_per_s": args.trainer_clips_per_s, "data_bound": best["data_bound"],
                          "verdict": f"training at {args.trainer_clips_per_s:g} clips/s would be {verdict}",
                          "headroom": round(best["clips_per_s"] / args.trainer_clips_per_s, 2)}))


if __name__ == "__main__":
    main()
