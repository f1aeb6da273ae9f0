"""The lip-sync runner: the sync expert and every generator baseline, as one results table.

Part of :mod:`marlin_lite.tasks.lipsync` (its docstring describes the whole pipeline and the shapes)."""

from __future__ import annotations

import time
from typing import Any, Sequence

import torch

from marlin_lite.encoders import as_encoder, random_encoder
from marlin_lite.model import MarlinAutoencoder, MarlinEncoder
from marlin_lite.tasks.results import ResultsTable
from marlin_lite.tasks.lipsync.data import LipSyncClips, lipsync_splits
from marlin_lite.tasks.lipsync.expert import SyncExpert, SyncExpertConfig, SyncExpertResult, evaluate_sync_expert, train_sync_expert
from marlin_lite.tasks.lipsync.generator import GeneratorResult, copy_reference, train_generator
from marlin_lite.tasks.lipsync.metrics import eval_windows, evaluate_generator

#: Generator baselines of :func:`run_lipsync`, in table order (``copy_reference`` needs no training).
LS_METHODS = ("copy_reference", "random_init", "supervised_scratch", "pretrained", "pretrained_finetune")
DEFAULT_LS_METHODS = ("copy_reference", "random_init", "supervised_scratch", "pretrained")


# --------------------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------------------


def run_lipsync(
    pretrained: MarlinEncoder | MarlinAutoencoder,
    *,
    seeds: Sequence[int] = (0,),
    methods: Sequence[str] = DEFAULT_LS_METHODS,
    data: dict[str, LipSyncClips] | None = None,
    num_identities: int = 80,
    clips_per_identity: int = 1,
    clip_frames: int = 24,
    world_seed: int = 0,
    max_offset: int = 3,
    expert: SyncExpert | None = None,
    expert_config: SyncExpertConfig | None = None,
    expert_steps: int = 150,
    expert_batch_size: int = 32,
    expert_seed: int = 0,
    steps: int = 100,
    batch_size: int = 4,
    pool_size: int | None = None,
    lr: float = 1e-3,
    encoder_lr: float | None = None,
    sync_weight: float = 0.03,
    loss_expert: SyncExpert | None = None,
    num_eval_windows: int = 48,
    artifacts: dict[str, Any] | None = None,
    progress: bool = False,
    device: torch.device | str | None = None,
) -> ResultsTable:
    """The lip-sync task end to end -> :class:`~marlin_lite.tasks.results.ResultsTable`.

    Steps: render train / test clips of disjoint identities (or take ``data``); train the
    evaluation sync expert on the train clips (or take ``expert``); for every seed and method,
    train a generator on the train clips and score it on fixed windows of the test clips.

    Rows (``task="ls"``): ``method="sync_expert"`` (offset accuracy on held-out clips whose audio
    is shifted by a random ``-K .. K``, against ``chance = 1 / (2K + 1)``); ``"ground_truth"`` (the
    real lower faces: the best sync scores the expert gives); then per seed the ``methods``:

    * ``copy_reference``: the reference window's lower half (no audio, no training);
    * ``random_init``: a random-init encoder (seeded by the row's seed), frozen;
    * ``supervised_scratch``: the same random-init encoder trained with the generator;
    * ``pretrained``: ``pretrained``'s encoder, frozen (as ``pretrained_probe`` elsewhere);
    * ``pretrained_finetune``: a copy of it trained with the generator (``encoder_lr``).

    Every generator gets the same ``steps``, ``batch_size``, window pool and init seed, so rows
    differ only in the encoder. Metrics: see :func:`lipsync_metrics`, plus ``train_l1`` (mean L1
    of the last 5 steps).

    The defaults are lesson-sized (80 identities of one 24-frame 64-pixel clip each: 56 train,
    12 test; two experts of 150 steps; 100 generator steps of 4 windows, each window seen once;
    48 evaluation windows): about 50 CPU-seconds for one seed on one thread. A frozen encoder's
    features are computed once per training window, so frozen rows are cheap;
    ``supervised_scratch`` and ``pretrained_finetune`` back-propagate through the ViT at every
    step and cost about twice as much. Results depend on the number of intra-op threads (the
    reduction order changes the training trajectory), not only on the seeds.

    Args:
        encoder_lr: learning rate of a trained encoder; ``None`` -> ``lr`` for
            ``supervised_scratch`` (trained from scratch like the rest) and ``lr / 10`` for
            ``pretrained_finetune`` (the usual gentler fine-tuning rate).
        sync_weight: weight of the sync loss (default 0.03, Wav2Lip's). When > 0 a *second*
            expert (trained with ``expert_seed + 1``, or ``loss_expert``) drives the loss, so that
            generators are not scored by the network they were trained against (a generator
            trained against the evaluation expert itself learns to please it: in our runs it then
            "beat" the real videos on sync while its FD doubled). ``0``: L1 only, one expert.
        expert_config: the experts' sizes (default :class:`SyncExpertConfig` on the encoder's
            ``num_frames``).
        artifacts: a dict to fill with what the lesson may plot: ``"expert"`` (the
            :class:`SyncExpertResult` or the given expert), ``"data"``, ``"windows"`` (the
            evaluation windows), ``"generators"`` (``{(method, seed): GeneratorResult}``),
            ``"seconds"`` (wall time per stage).
        device: where the experts and generators train (default CPU; e.g. ``"cuda"``); the
            clips stay on the CPU and windows are moved per batch.
    """
    bad = [m for m in methods if m not in LS_METHODS]
    if bad or not methods:
        raise ValueError(f"methods must be a non-empty subset of {LS_METHODS}, got {tuple(methods)}")
    if not seeds:
        raise ValueError("seeds must name at least one seed, e.g. (0, 1, 2)")
    enc = as_encoder(pretrained)
    cfg = enc.cfg
    T = cfg.num_frames
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    if data is None:
        data = lipsync_splits(
            num_identities, clips_per_identity, world_seed=world_seed, size=cfg.img_size, num_frames=clip_frames
        )
    for split in ("train", "test"):
        if split not in data or not isinstance(data[split], LipSyncClips):
            raise ValueError(f"data must map 'train' and 'test' to LipSyncClips (see lipsync_splits), got keys {sorted(data)}")
        if data[split].size != cfg.img_size:
            raise ValueError(f"data[{split!r}] frames are {data[split].size}px but the encoder takes {cfg.img_size}px")
    train, test = data["train"], data["test"]
    if set(train.identities) & set(test.identities):
        raise ValueError("train and test clips share identities; split by identity (lipsync_splits) to test on unseen people")
    seconds["data"] = time.perf_counter() - t

    expert_config = expert_config or SyncExpertConfig(num_frames=T, n_mels=train.n_mels, mel_per_frame=train.mel_per_frame)
    if expert_config.num_frames != T:
        raise ValueError(f"expert_config.num_frames must be the encoder's window, {T}, got {expert_config.num_frames}")

    def new_expert(seed: int) -> SyncExpertResult:
        return train_sync_expert(
            train, config=expert_config, steps=expert_steps, batch_size=expert_batch_size, max_offset=max_offset,
            seed=seed, progress=progress, device=device,
        )

    t = time.perf_counter()
    expert_result = None
    if expert is None:
        expert_result = new_expert(expert_seed)
        expert = expert_result.expert
    elif not isinstance(expert, SyncExpert) or expert.cfg.num_frames != T:
        raise ValueError(f"expert must be a SyncExpert on {T}-frame windows (the encoder's), got {type(expert).__name__}")
    if sync_weight > 0 and loss_expert is None:
        loss_expert = new_expert(expert_seed + 1).expert
    seconds["experts"] = time.perf_counter() - t

    table = ResultsTable()
    base = {"task": "ls", "n_train": len(train)}
    windows = eval_windows(test, num_eval_windows, T, max_offset, seed=0)
    n_test = int(windows["clip"].shape[0])
    ev = evaluate_sync_expert(expert, test, max_offset=max_offset, seed=0)
    table.append({**base, "method": "sync_expert", "encoder": "-", "seed": expert_seed, "n_test": ev.pop("n_windows"), **ev})
    gt = evaluate_generator(None, test, expert, windows=windows, max_offset=max_offset)
    gt = {k: gt[k] for k in ("sync_offset_acc", "sync_distance", "sync_confidence")}  # L1 / PSNR / FD are trivial
    table.append({**base, "method": "ground_truth", "encoder": "-", "seed": expert_seed, "n_test": n_test,
                  "chance": 1.0 / (2 * max_offset + 1), **gt})
    generators: dict[tuple[str, int], GeneratorResult] = {}
    train_kw = dict(steps=steps, batch_size=batch_size, pool_size=pool_size, lr=lr,
                    sync_expert=loss_expert if sync_weight > 0 else None, sync_weight=sync_weight, progress=progress, device=device)
    for seed in seeds:
        for method in methods:
            t = time.perf_counter()
            row = {**base, "method": method, "seed": int(seed), "n_test": n_test, "chance": 1.0 / (2 * max_offset + 1)}
            if method == "copy_reference":
                metrics = evaluate_generator(copy_reference, test, expert, windows=windows, max_offset=max_offset)
                row["encoder"] = "-"
            else:
                trained = method in ("supervised_scratch", "pretrained_finetune")
                start = enc if method.startswith("pretrained") else random_encoder(cfg, seed)
                e_lr = encoder_lr if encoder_lr is not None else (lr if method == "supervised_scratch" else lr / 10)
                result = train_generator(start, train, train_encoder=trained, encoder_lr=e_lr, seed=seed, **train_kw)
                generators[(method, int(seed))] = result
                metrics = evaluate_generator(result.generator, test, expert, windows=windows, max_offset=max_offset)
                row["encoder"] = "trained" if trained else "frozen"
                metrics["train_l1"] = sum(h["l1"] for h in result.history[-5:]) / len(result.history[-5:])
            metrics.pop("n_windows")
            table.append({**row, **metrics})
            seconds[f"{method}/{seed}"] = time.perf_counter() - t
    if artifacts is not None:
        artifacts.update(
            expert=expert_result if expert_result is not None else expert, loss_expert=loss_expert, data=data,
            windows=windows, generators=generators, seconds=seconds,
        )
    return table
