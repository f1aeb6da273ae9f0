"""One prepared GPU check for the model and masking (run on a lent GPU machine).

1. CUDA parity: ViT-B forward on GPU (fp32, TF32 off) against the CPU, and bf16 autocast error.
2. Face-guided masks computed on the GPU equal the CPU ones (same seed), with exact counts.
3. Throughput (bf16 autocast, fused AdamW): a reconstruction training step with the critic
   (one encoder/decoder forward per batch) for ViT-B and ViT-S, and ViT-B feature extraction
   over all 1568 tokens. FLOPs from ``marlin_lite.pretrain.step_flops``.

Prints JSON lines (and writes them to $OUT/gpu_check.jsonl when OUT is set). Falls back to a
tiny CPU smoke run when no GPU is present (``--smoke``).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F

from marlin_lite.masking import TokenGrid, make_visible_mask, num_visible
from marlin_lite.model import MarlinAutoencoder, get_config, split_tokens
from marlin_lite.pretrain import step_flops
from marlin_lite.synthface import generate_clip

ROWS = []


def emit(**row):
    ROWS.append(row)
    print(json.dumps(row), flush=True)


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def parity(dev, preset, batch):
    cfg = get_config(preset)
    grid = TokenGrid(cfg.num_frames, cfg.img_size, cfg.tubelet_size, cfg.patch_size)
    maps = torch.stack([torch.from_numpy(generate_clip(i, 0, size=cfg.img_size, num_frames=cfg.num_frames).parsing) for i in range(batch)])
    vis_cpu = make_visible_mask("fasking", batch, grid, 0.9, parsing=maps, generator=torch.Generator().manual_seed(0))
    vis_dev = make_visible_mask("fasking", batch, grid, 0.9, parsing=maps.to(dev), generator=torch.Generator().manual_seed(0))
    emit(check="masks_same_on_device", ok=bool(torch.equal(vis_cpu, vis_dev.cpu())), counts=vis_dev.sum(1).tolist())
    torch.manual_seed(0)
    model = MarlinAutoencoder(cfg).eval()
    x = torch.rand(batch, 3, cfg.num_frames, cfg.img_size, cfg.img_size)
    with torch.no_grad():
        ref = model(x, vis_cpu)
        model = model.to(dev)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        out = model(x.to(dev), vis_dev).float().cpu()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            out_bf16 = model(x.to(dev), vis_dev).float().cpu()
        feats = model.encoder.extract_features(x.to(dev)).float().cpu()
    emit(check="fp32_parity", preset=preset, max_abs_diff=float((out - ref).abs().max()), ok=float((out - ref).abs().max()) < 1e-3)
    emit(check="bf16_autocast_error", preset=preset, max_abs_diff=float((out_bf16 - ref).abs().max()),
         mean_abs_diff=float((out_bf16 - ref).abs().mean()), feature_shape=list(feats.shape))


def bench_masks(dev, batch=64):
    grid = TokenGrid(16, 224, 2, 16)
    maps = torch.stack([torch.from_numpy(generate_clip(i, 0, size=224, num_frames=16).parsing) for i in range(8)]).repeat(batch // 8, 1, 1, 1).to(dev)
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        make_visible_mask("fasking", batch, grid, 0.9, parsing=maps, generator=gen)
    sync(dev)
    t = time.perf_counter()
    for _ in range(10):
        make_visible_mask("fasking", batch, grid, 0.9, parsing=maps, generator=gen)
    sync(dev)
    emit(bench="fasking_masks", device=str(dev), batch=batch, ms=round((time.perf_counter() - t) / 10 * 1000, 2))


def bench_train(dev, preset, batch, steps, warmup=5, compile_model=False):
    cfg = get_config(preset)
    grid = TokenGrid(cfg.num_frames, cfg.img_size, cfg.tubelet_size, cfg.patch_size)
    torch.manual_seed(0)
    model = MarlinAutoencoder(cfg).to(dev)
    gen_params = [p for n, p in model.named_parameters() if not n.startswith("discriminator.")]
    fused = dev.type == "cuda"
    opt_g = torch.optim.AdamW(gen_params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0, fused=fused)
    opt_d = torch.optim.AdamW(model.discriminator.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0, fused=fused)
    x = torch.rand(batch, 3, cfg.num_frames, cfg.img_size, cfg.img_size, device=dev)
    visible = make_visible_mask("tube", batch, grid, 0.9, generator=torch.Generator().manual_seed(0)).to(dev)
    fwd = torch.compile(model) if compile_model else model
    n_vis = num_visible(cfg.num_tokens, 0.9)

    def step():
        split = split_tokens(visible, n_vis)  # once per step, on the device, as marlin_lite.pretrain.train
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            pred = fwd(x, split)
            target = model.targets(x, split)
            # critic on detached predictions, generator on the same forward (one pass)
            d_loss = model.discriminator(pred.detach()).mean() - model.discriminator(target).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        model.discriminator.requires_grad_(False)  # the generator's term needs no critic weight gradient
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            g_loss = F.mse_loss(pred.float(), target) - 0.01 * model.discriminator(pred).mean()
        model.discriminator.requires_grad_(True)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()

    for _ in range(warmup):
        step()
    sync(dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    sync(dev)
    sec = (time.perf_counter() - t) / steps
    flops = step_flops(cfg, num_visible(cfg.num_tokens, 0.9))
    emit(bench="train_step", preset=preset, batch=batch, compiled=compile_model, device=str(dev),
         ms_per_step=round(sec * 1000, 1), clips_per_s=round(batch / sec, 1),
         tflops=round(flops * batch / sec / 1e12, 1),
         peak_gib=round(torch.cuda.max_memory_allocated() / 2**30, 2) if dev.type == "cuda" else None)


def bench_features(dev, preset, batch, steps):
    cfg = get_config(preset)
    torch.manual_seed(0)
    enc = MarlinAutoencoder(cfg, discriminator=False).encoder.to(dev).eval()
    x = torch.rand(batch, 3, cfg.num_frames, cfg.img_size, cfg.img_size, device=dev)
    with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
        for _ in range(3):
            enc.extract_features(x)
        sync(dev)
        t = time.perf_counter()
        for _ in range(steps):
            enc.extract_features(x)
        sync(dev)
    sec = (time.perf_counter() - t) / steps
    emit(bench="extract_features", preset=preset, batch=batch, device=str(dev), clips_per_s=round(batch / sec, 1))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="tiny sizes on CPU (to test this script)")
    args = p.parse_args()
    dev = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    emit(env="device", torch=torch.__version__, device=torch.cuda.get_device_name() if dev.type == "cuda" else "cpu",
         date=time.strftime("%Y-%m-%d"))
    if args.smoke:
        parity(dev, "tiny", 2)
        bench_train(dev, "tiny", 4, 2, warmup=1)
        bench_features(dev, "tiny", 4, 2)
    else:
        parity(dev, "base", 4)
        bench_masks(dev)
        bench_train(dev, "base", 64, 20)
        bench_train(dev, "base", 128, 10)
        bench_train(dev, "small", 128, 20)
        bench_features(dev, "base", 64, 10)
        try:
            bench_train(dev, "base", 128, 10, compile_model=True)
        except Exception as err:  # noqa: BLE001 (report, do not lose the other figures)
            emit(bench="train_step", preset="base", compiled=True, error=repr(err)[:300])
    out = os.environ.get("OUT")
    if out:
        with open(os.path.join(out, "gpu_check.jsonl"), "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in ROWS)
