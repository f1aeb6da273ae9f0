"""MARLIN pretraining: masked reconstruction + a WGAN-style critic, one forward per batch.

The official loop runs the encoder and decoder twice per batch (once for the critic step,
once for the generator step). Here one forward serves both: the critic learns from the
*detached* predictions, the generator from the same predictions through the (frozen)
critic. Everything else follows the official recipe: MSE on raw [0, 1] pixels of the masked
patches (MAE's per-patch normalised targets as an option), adversarial weight 0.01, two AdamW
optimisers (betas 0.9/0.95, no weight decay), learning rate ``1.5e-4 * batch / 256`` with a
linear warm-up and a cosine decay to ``1e-5 * batch / 256``. Two things differ by default and
have an official option for fidelity runs: the schedule moves every step (``schedule: official``:
once per epoch, the warm-up starting from 0, as the official schedulers) and the projection and
critic are xavier-initialised like the rest (``init: official``: PyTorch's default there, and
the mask token truncated at +-0.02; :class:`~marlin_lite.model.MarlinAutoencoder`).

Run it from Python (:func:`train`), from the command line::

    python -m marlin_lite.pretrain --config configs/tiny.yaml --max-steps 200
    python -m marlin_lite.pretrain --config configs/tiny.yaml --resume          # continue
    python -m marlin_lite.pretrain --config configs/tiny.yaml --data-path data/synth_tiny  # from a clip store
    torchrun --nproc_per_node 2 -m marlin_lite.pretrain --config configs/tiny.yaml

or from a papermill notebook; the same :class:`PretrainConfig` drives all three.
Checkpoints hold the config, both models' weights, both optimisers, the schedulers, the step
and every RNG state; they are written atomically, read with ``weights_only=True``, and a
resumed run ends with exactly the weights of an uninterrupted one.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
import yaml
from torch.utils.data import DataLoader, Dataset, Sampler

from marlin_lite.clipstore import ClipStore, make_loader, open_for_training, store_fingerprint, to_device_float
from marlin_lite.data import SynthFaceDataset
from marlin_lite.masking import FACE_GUIDED, TokenGrid, check_label_range, make_visible_mask, num_visible
from marlin_lite.model import INITS, Discriminator, MarlinAutoencoder, MarlinConfig, TokenSplit, estimate_flops, get_config, split_tokens
from marlin_lite.runs import (
    CHECKPOINT,
    METRICS,
    RUN_FILES,
    NotACheckpointError,
    RunLock,
    atomic_save,
    clear_run,
    load_checkpoint,
    prepare_run_folder,
    read_metrics,
    rng_state,
    run_files_in,
    set_rng_state,
    write_rank_digest,
)
from marlin_lite.synthface import EXPRESSION_STYLES, FRAMINGS
from marlin_lite.utils import find_config, load_yaml, pick_device, progress_bar

__all__ = [
    # the recipe
    "PretrainConfig", "SCHEDULES", "load_config", "parse_bool",
    # the objective and one step
    "lr_factor", "reconstruction_loss", "critic_loss", "fused_adamw", "step_flops", "StepBatches", "mask_generator",
    "check_pixels", "training_data", "train_step",
    # the loop and its results
    "train", "TrainResult", "ensure_pretrained", "saved_config", "model_from_checkpoint", "reconstruction_figure",
    "save_reconstruction_figure", "main",
    # the run folder (marlin_lite.runs), re-exported: lessons and users import them from here
    "CHECKPOINT", "METRICS", "RUN_FILES", "NotACheckpointError", "atomic_save", "clear_run", "load_checkpoint", "read_metrics",
    "run_files_in",
]

#: Learning-rate schedules: ``course`` (moves every step) and ``official`` (once per epoch), see :func:`lr_factor`.
SCHEDULES: tuple[str, ...] = ("course", "official")
#: Settings that may change between a run and its resumption (they do not change the result).
#: ``max_steps`` is not among them: the cosine schedule spans it.
_RUNTIME_KEYS = ("out_dir", "progress", "log_every", "ckpt_every", "figure_every", "num_workers", "device")

# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


@dataclass
class PretrainConfig:
    """Everything a pretraining run depends on (YAML files in ``configs/`` fill it in)."""

    # model
    model: str = "tiny"  # preset name
    model_overrides: dict[str, Any] = field(default_factory=dict)  # e.g. {enc_depth: 2}
    # data: SynthFace as described here, or a clip store (other data sets: `dataset=` of train())
    num_identities: int = 24
    clips_per_identity: int = 4
    world_seed: int = 0
    num_workers: int = 0
    cache: bool = True
    data_path: str | None = None  # a clip store folder (marlin_lite.clipstore); None = SynthFace
    framing: str = "scene"  # SynthFace framing: scene | face (MARLIN's face crops)
    expressions: str = "subtle"  # SynthFace expression style: subtle | marked
    # masking
    mask_strategy: str = "fasking"
    mask_ratio: float = 0.9
    # optimisation
    batch_size: int = 8  # per process
    max_steps: int = 200
    lr: float = 1.5e-4  # per 256 clips (scaled by the global batch)
    min_lr: float = 1e-5  # per 256 clips
    warmup_steps: int = 20
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.0
    grad_clip: float | None = None
    adversarial: bool = True
    adv_weight: float = 0.01
    norm_pix: bool = False
    schedule: str = "course"  # course: the rate moves every step | official: once per epoch, warm-up from 0
    epoch_steps: int | None = None  # steps per epoch of schedule official; None: one pass over the training clips
    init: str = "course"  # course | official (MarlinAutoencoder's init)
    # hardware
    device: str = "auto"
    precision: str = "auto"  # auto (bf16 on CUDA, fp32 elsewhere) | fp32 | bf16
    compile: bool = False
    # bookkeeping
    seed: int = 0
    out_dir: str = "runs/pretrain"
    ckpt_every: int = 50
    log_every: int = 10
    figure_every: int = 0  # save a reconstruction figure every N steps (0 = never)
    progress: bool = True

    def model_config(self) -> MarlinConfig:
        return get_config(self.model, **self.model_overrides)

    def validate(self) -> PretrainConfig:
        checks = [
            (self.batch_size >= 1, "batch_size must be >= 1"),
            (self.max_steps >= 1, "max_steps must be >= 1"),
            (0 < self.mask_ratio < 1, "mask_ratio must be in (0, 1)"),
            (self.lr > 0 and self.min_lr >= 0, "lr must be > 0 and min_lr >= 0"),
            (self.warmup_steps >= 0, "warmup_steps must be >= 0"),
            (self.precision in ("auto", "fp32", "bf16"), "precision must be auto, fp32 or bf16"),
            (self.ckpt_every >= 0 and self.log_every >= 1, "ckpt_every must be >= 0 and log_every >= 1"),
            (self.data_path is None or isinstance(self.data_path, str), "data_path must be a clip store folder or null"),
            (self.framing in FRAMINGS, f"framing must be one of {FRAMINGS}, got {self.framing!r}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}, got {self.schedule!r}"),
            (self.init in INITS, f"init must be one of {INITS}, got {self.init!r}"),
            (self.epoch_steps is None or self.epoch_steps >= 1, "epoch_steps must be >= 1 or null"),
            (self.expressions in EXPRESSION_STYLES, f"expressions must be one of {EXPRESSION_STYLES}, got {self.expressions!r}"),
        ]
        if self.data_path == "":
            self.data_path = None  # `--data-path ''` selects SynthFace
        for ok, message in checks:
            if not ok:
                raise ValueError(f"PretrainConfig: {message}")
        self.model_config()  # raises on an unknown preset
        return self


#: Words a boolean setting accepts (YAML and the command line); anything else is an error.
TRUE_WORDS, FALSE_WORDS = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def parse_bool(value: Any, name: str = "value") -> bool:
    """``True``/``False`` from a bool or one of :data:`TRUE_WORDS` / :data:`FALSE_WORDS` (any case);
    ``ValueError`` naming ``name`` otherwise (``"flase"`` is not quietly false)."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def _typed(name: str, kind: str, value: Any, where: str) -> Any:
    """One config value checked (and converted where the meaning is plain) against its field's type."""
    if value is None and "None" in kind:
        return None
    bad = f"{name}{where}: expected {{}}, got {value!r} ({type(value).__name__})"
    if kind.startswith("bool"):
        try:
            return parse_bool(value, name + where)
        except ValueError:
            raise ValueError(bad.format("true or false")) from None
    if kind.startswith("int"):
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and value.strip().lstrip("-").isdigit())):
            raise ValueError(bad.format("a whole number"))
        return int(value)
    if kind.startswith("float"):
        if isinstance(value, bool):
            raise ValueError(bad.format("a number"))
        try:
            number = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string: take it as the number it spells
        except (TypeError, ValueError):
            raise ValueError(bad.format("a number")) from None
        if not math.isfinite(number):
            raise ValueError(bad.format("a finite number"))
        return number
    if kind.startswith("tuple"):
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ValueError(bad.format("two numbers, e.g. [0.9, 0.95]"))
        return tuple(_typed(f"{name}[{i}]", "float", v, where) for i, v in enumerate(value))
    if kind.startswith("dict"):
        if not isinstance(value, dict):
            raise ValueError(bad.format("a mapping, e.g. {enc_depth: 2}"))
        return dict(value)
    if kind.startswith("str") and not isinstance(value, str):
        raise ValueError(bad.format("text"))
    return value


def load_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> PretrainConfig:
    """A :class:`PretrainConfig` from a YAML file (optional) plus keyword overrides.

    ``path`` is a YAML file, or a shipped recipe by name (``tiny``, ``course``,
    ``configs/tiny.yaml`` from any folder: :func:`marlin_lite.utils.find_config`).

    Unknown keys are an error that names the file and the key, so a typo never passes
    silently; so is a value of the wrong type (``batch_size: 2.5``, ``betas: 0.9``,
    ``adversarial: flase``), named with its field. YAML's ``1e-3`` (a string to YAML 1.1) is
    read as the number it spells.
    """
    values: dict[str, Any] = {}
    where = ""
    if path is not None:
        p = find_config(path)
        where = f" in {p}"
        if not p.is_file():
            raise ValueError(f"config {p} is a folder; give a YAML file (e.g. configs/tiny.yaml)")
        try:
            loaded = load_yaml(p.read_text()) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            raise ValueError(f"{p} is not valid YAML{at}: {getattr(err, 'problem', None) or err}") from None
        except UnicodeDecodeError as err:
            raise ValueError(f"{p} is not UTF-8 text ({err.reason}); is it a YAML file?") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"{p} must hold a mapping of config keys, got {type(loaded).__name__}")
        values.update(loaded)
    given = {k: v for k, v in overrides.items() if v is not None}
    kinds = {f.name: str(f.type) for f in dataclasses.fields(PretrainConfig)}
    # A bad key or value is named with where it came from: the YAML file, or the keyword overrides.
    for keys, origin in ((set(values) - set(given), where), (set(given), " (an override)")):
        unknown = sorted(k for k in keys if k not in kinds)
        if unknown:
            raise ValueError(f"unknown config key(s){origin}: {unknown}; known keys: {sorted(kinds)}")
    values = {k: _typed(k, kinds[k], v, where) for k, v in values.items() if k not in given}
    values.update({k: _typed(k, kinds[k], v, " (an override)") for k, v in given.items()})
    try:
        return PretrainConfig(**values).validate()
    except TypeError as err:  # e.g. a model size of the wrong type inside model_overrides
        raise ValueError(f"config{where}: {err}") from None


# --------------------------------------------------------------------------------------
# Pieces of the loop
# --------------------------------------------------------------------------------------


def lr_factor(step: int, cfg: PretrainConfig, steps_per_epoch: int = 1) -> float:
    """Multiplier of the peak learning rate at ``step``: linear warm-up, then cosine to min_lr.

    ``schedule="course"``: the warm-up reaches the peak at step ``warmup_steps - 1`` (it starts at
    ``1 / warmup_steps``) and the rate moves every step. ``schedule="official"`` (the official
    schedulers, which step once per epoch): every step of an epoch gets the rate of the epoch's
    first step, and the warm-up starts from 0 (``step / warmup_steps``), so the first epoch
    trains at rate 0 when there is a warm-up, as the official run's does.
    """
    if cfg.schedule == "official":
        step = (step // max(steps_per_epoch, 1)) * max(steps_per_epoch, 1)
        if step < cfg.warmup_steps:
            return step / cfg.warmup_steps
    elif step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    span = max(cfg.max_steps - cfg.warmup_steps, 1)
    progress = min((step - cfg.warmup_steps) / span, 1.0)
    floor = cfg.min_lr / cfg.lr
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def reconstruction_loss(pred: torch.Tensor, target: torch.Tensor, norm_pix: bool = False) -> torch.Tensor:
    """MSE between predicted and true masked patches ``(B, M, P)``.

    With ``norm_pix`` each target patch is standardised by its own mean and variance first
    (MAE's option); MARLIN uses raw [0, 1] pixels.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape (B, M, P)")
    if pred.numel() == 0:
        raise ValueError(
            f"no masked patches to reconstruct (pred {tuple(pred.shape)}): the mask hides nothing, so the loss "
            "would be NaN; use a mask_ratio above 0 or a visible mask with some False"
        )
    if norm_pix:
        mean = target.mean(-1, keepdim=True)
        var = target.var(-1, keepdim=True, unbiased=True)
        target = (target - mean) / (var + 1e-6).sqrt()
    return F.mse_loss(pred.float(), target.float())


def fused_adamw(device: torch.device | str) -> bool:
    """Whether AdamW's fused kernel serves ``device`` (CUDA and CPU): one kernel per step over all
    parameters, not a Python loop; about 5% of a tiny CPU step."""
    return torch.device(device).type in ("cuda", "cpu")


def critic_loss(disc: torch.nn.Module, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss ``mean D(fake) - mean D(real)`` (one critic call on both halves)."""
    scores = disc(torch.cat([fake, real], dim=0)).float()
    fake_s, real_s = scores.split([fake.shape[0], real.shape[0]])
    return fake_s.mean() - real_s.mean()


def step_flops(cfg: MarlinConfig | str, n_visible: int, *, adversarial: bool = True, two_pass: bool = False) -> int:
    """FLOPs of one training step per clip (a multiply-add counts 2), critic included.

    With ``F`` the encoder/decoder forward and ``C`` the critic's forward on one clip's masked
    patches (both from :func:`marlin_lite.model.estimate_flops`; a backward costs about twice
    its forward):

    * this module's step (``two_pass=False``): ``3 F`` for the one forward and backward (less
      the patch embedding's input gradient, which pixels do not need), and
      ``6 C`` for the critic: its step scores fake and real patches (2 C) and takes the weight
      gradient (2 C, the inputs need none); the generator's adversarial term scores the
      predictions again with the updated critic (C) and takes the input gradient (C);
    * the official loop (``two_pass=True``): ``6 F`` for two forwards and backwards, and
      ``9 C``: its critic step also back-propagates into the (not detached) predictions
      (2 C more), and its generator step also takes the critic's weight gradient (C more).

    Without the critic (``adversarial=False``) only the ``F`` terms remain. The ratio of the two
    (1.82 at ``tiny``, 1.92 at ``base``) bounds the speed-up one pass can give from doing less
    work; beyond it only doing the same work faster counts (``benchmarks/README.md``).
    """
    f = estimate_flops(cfg, n_visible, discriminator=True)
    critic = f["discriminator"]
    # forward + backward; the patch embedding's backward is its weight gradient alone (pixels need none)
    body = 3 * (f["total"] - critic) - f["patch_embed"]
    passes = 2 if two_pass else 1
    return body * passes + (9 if two_pass else 6) * critic * adversarial


class StepBatches(Sampler[list[int]]):
    """Batches of indices as a pure function of (seed, step): resumable at any step.

    Each epoch is a seeded permutation of the data set; a batch that would cross an epoch
    boundary is dropped. With ``world_size > 1`` every process takes its own slice of each
    global batch.
    """

    def __init__(self, n: int, batch_size: int, seed: int, start_step: int, max_steps: int, rank: int = 0, world_size: int = 1):
        self.n, self.batch, self.seed = n, batch_size, seed
        self.start, self.stop, self.rank, self.world = start_step, max_steps, rank, world_size
        self.global_batch = batch_size * world_size
        if n < self.global_batch:
            raise ValueError(f"the data set has {n} clips, fewer than one global batch of {self.global_batch}")
        self.per_epoch = n // self.global_batch

    def batch_at(self, step: int) -> list[int]:
        epoch, k = divmod(step, self.per_epoch)
        perm = torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))
        start = k * self.global_batch + self.rank * self.batch
        return perm[start : start + self.batch].tolist()

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.stop):
            yield self.batch_at(step)

    def __len__(self) -> int:
        return max(self.stop - self.start, 0)


def mask_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """The generator of the masks of one step (a pure function of seed, step and rank)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 64 + rank)


def _host_reads_every_step(device: torch.device) -> bool:
    """Whether the training loop reads its losses back every step (CPU: free; the lessons see
    every step, and a NaN stops the step it appears in) or only at log, checkpoint, figure and
    callback steps (CUDA: a read-back waits for the GPU to finish, so the loop would stop
    queueing work; a NaN is then caught at the next such step, before any checkpoint, and
    reported with the step it appeared in)."""
    return device.type != "cuda"


def _read_back(stats: dict[str, torch.Tensor]) -> dict[str, float]:
    """0-d tensors -> floats with one device-to-host copy (the loop's only read of a step)."""
    return dict(zip(stats, torch.stack([v.float() for v in stats.values()]).tolist()))


def check_pixels(video: torch.Tensor) -> None:
    """The first batch's pixels, once per run: NaN or infinite values are a ``ValueError``, and values
    outside [0, 1] (e.g. 0-255 floats) a warning, since the package's videos are floats in [0, 1]."""
    v = video.detach()
    if not v.is_floating_point():
        return
    if not bool(torch.isfinite(v).all()):
        raise ValueError(f"the first training batch holds NaN or infinite pixel values ({int((~torch.isfinite(v)).sum())} of "
                         f"{v.numel()}); check the data set: videos are float32 in [0, 1]")
    lo, hi = float(v.min()), float(v.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
        import warnings

        hint = " (0-255 values? divide by 255)" if hi > 2 else ""
        warnings.warn(f"the first training batch has pixel values in [{lo:.3g}, {hi:.3g}], not [0, 1]{hint}", stacklevel=2)


def saved_config(ckpt: dict[str, Any], path: str | os.PathLike[str]) -> PretrainConfig:
    """The :class:`PretrainConfig` a checkpoint (from :func:`load_checkpoint`) was trained with;
    a config this version cannot read (keys renamed or removed since) is an error naming ``path``."""
    try:
        return load_config(**ckpt["config"])
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{path}: its saved config does not load in this version of MARLIN-lite ({err}); the checkpoint was "
            "written by another version: retrain, or read its weights with torch.load(path, weights_only=True)['model']"
        ) from err


def model_from_checkpoint(path: str | os.PathLike[str]) -> MarlinAutoencoder:
    """The trained autoencoder (with its critic) of a checkpoint, in eval mode."""
    ckpt = load_checkpoint(path)
    cfg = saved_config(ckpt, path)
    model = MarlinAutoencoder(cfg.model_config())
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise ValueError(
            f"{path}: the saved weights do not fit the model its config describes (model={cfg.model!r}); the file was "
            f"altered or mixed up, retrain or point elsewhere. {err}"
        ) from err
    return model.eval()


@dataclass
class _Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def _init_distributed(device_pref: str) -> _Dist:
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        return _Dist()
    d = _Dist(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
    if not dist.is_initialized():
        use_nccl = torch.cuda.is_available() and device_pref != "cpu"
        if use_nccl:
            torch.cuda.set_device(d.local_rank)
        dist.init_process_group("nccl" if use_nccl else "gloo")
    return d


@dataclass
class TrainResult:
    model: MarlinAutoencoder
    history: list[dict[str, float]]
    out_dir: Path
    step: int


def training_data(cfg: PretrainConfig, dataset: Dataset | None = None) -> Dataset:
    """The clips a run trains on: ``dataset`` as given, the clip store at ``cfg.data_path``, else
    the SynthFace training split the config describes. A clip store is checked against the model
    (frames, size) and the masking (face-guided masks need its parsing maps)."""
    mcfg = cfg.model_config()
    if isinstance(dataset, ClipStore) or (dataset is None and cfg.data_path):
        return open_for_training(cfg.data_path if dataset is None else dataset, num_frames=mcfg.num_frames, img_size=mcfg.img_size,
                                 parsing=cfg.mask_strategy in FACE_GUIDED, why=f"mask_strategy {cfg.mask_strategy!r}")
    if dataset is not None:
        return dataset
    return SynthFaceDataset("train", num_identities=cfg.num_identities, clips_per_identity=cfg.clips_per_identity,
                            world_seed=cfg.world_seed, size=mcfg.img_size, num_frames=mcfg.num_frames, framing=cfg.framing,
                            expressions=cfg.expressions, cache=cfg.cache)


def _restore(ckpt_path: Path, cfg: PretrainConfig, model: MarlinAutoencoder, disc: Discriminator, *states: Any) -> dict[str, Any]:
    """Load a checkpoint into a resumed run (models, optimisers and schedules ``states`` in the order
    ``opt_g, opt_d, sched_g, sched_d``, the RNGs); refuses a checkpoint whose config differs."""
    ckpt = load_checkpoint(ckpt_path)
    saved = saved_config(ckpt, ckpt_path)
    changed = {k for k in asdict(cfg) if k not in _RUNTIME_KEYS and getattr(saved, k) != getattr(cfg, k)}
    if changed:
        hint = " (the learning-rate schedule spans max_steps, so a longer run is a new run)" if "max_steps" in changed else ""
        raise ValueError(f"cannot resume {ckpt_path}: the config differs in {sorted(changed)}{hint}; use the saved config or a new out_dir")
    state = ckpt["model"]
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith("discriminator.")})
    disc.load_state_dict({k[len("discriminator.") :]: v for k, v in state.items() if k.startswith("discriminator.")})
    for obj, key in zip(states, ("opt_g", "opt_d", "sched_g", "sched_d")):
        obj.load_state_dict(ckpt[key])
    set_rng_state(ckpt["rng"])
    return ckpt


def train_step(
    model: MarlinAutoencoder,
    disc: Discriminator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    x: torch.Tensor,
    split: TokenSplit | torch.Tensor,
    cfg: PretrainConfig,
    *,
    forward: Callable[..., torch.Tensor] | None = None,
    critic: Callable[[torch.Tensor], torch.Tensor] | None = None,
    autocast: Callable[[], Any] = contextlib.nullcontext,
    before_update: Callable[[torch.Tensor], None] | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One step of MARLIN pretraining on clips ``x (B, 3, T, H, W)`` whose visible tokens are ``split``
    (a :class:`~marlin_lite.model.TokenSplit`, or the ``(B, N)`` bool mask it comes from).

    One forward pass serves both players (the official code runs two):

    1. ``pred = forward(x, split)``: the autoencoder (``model`` without its critic) predicts the
       masked patches, ``(B, N - n, P)``;
    2. when ``cfg.adversarial``: the critic's update, :func:`critic_loss` on the *detached*
       predictions against the real patches, through ``opt_d``;
    3. the autoencoder's update, through ``opt_g``: :func:`reconstruction_loss` plus
       ``cfg.adv_weight`` times the adversarial term ``-disc(pred).mean()`` (the critic frozen
       for it), with gradient clipping when ``cfg.grad_clip``.

    ``forward`` and ``critic`` default to ``model`` and ``disc`` (the training loop passes their
    compiled or DDP-wrapped versions); ``autocast`` makes the mixed-precision context;
    ``before_update(loss)`` runs before the autoencoder's backward pass (the loop stops there on a
    non-finite loss). Learning-rate schedules are the caller's.

    Returns:
        ``(pred, stats)``: the predictions and detached scalars ``rec``, ``loss`` and, as they
        apply, ``critic``, ``adv``, ``grad_norm`` (still on the device: reading them back is the
        caller's choice).
    """
    forward = model if forward is None else forward
    critic = disc if critic is None else critic
    with autocast():
        pred = forward(x, split)
    target = model.targets(x, split)
    stats: dict[str, torch.Tensor] = {}
    if cfg.adversarial:
        with autocast():
            d_loss = critic_loss(critic, pred.detach(), target)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        stats["critic"] = d_loss.detach()
    with autocast():
        rec = reconstruction_loss(pred, target, cfg.norm_pix)
        loss = rec
        if cfg.adversarial:
            disc.requires_grad_(False)
            adv = -disc(pred).float().mean()
            disc.requires_grad_(True)
            loss = rec + cfg.adv_weight * adv
            stats["adv"] = adv.detach()
    if before_update is not None:
        before_update(loss)
    opt_g.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.grad_clip:
        stats["grad_norm"] = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip).detach()
    opt_g.step()
    stats.update(loss=loss.detach(), rec=rec.detach())
    return pred, stats


def train(
    cfg: PretrainConfig,
    *,
    resume: bool = False,
    overwrite: bool = False,
    dataset: Dataset | None = None,
    callback: Callable[[int, dict[str, float]], None] | None = None,
) -> TrainResult:
    """Pretrain a MARLIN autoencoder; returns the model, the logged history and the run folder.

    Each batch is one :func:`train_step`; the rest of this function is the run's bookkeeping
    (devices and DDP, resuming, the run folder and its lock, masks, logging, checkpoints,
    figures), kept in one place so that a reader sees every step of a run in order.

    A run folder holds one run: a new run (no ``resume``) into a folder with a checkpoint or a
    metrics log is refused unless ``overwrite`` (which deletes that run first). A resumed run's
    ``metrics.jsonl`` is cut back to its checkpoint's step, so no step is logged twice, and
    temporary files a killed run left are removed.

    Args:
        cfg: the run's configuration.
        resume: continue from ``cfg.out_dir/checkpoint.pt`` (its config must match).
        overwrite: start over in a folder that holds a run (its files are deleted).
        dataset: clips to train on, items with ``video (3, T, H, W)`` and ``parsing (T, H, W)``, or a
            :class:`~marlin_lite.clipstore.ClipStore`; default: the clip store at ``cfg.data_path``,
            else the SynthFace training split the config describes.
        callback: called as ``callback(step, metrics)`` after every step (for notebooks and
            tests; raising in it stops training, as a crash would).
    """
    cfg.validate()
    ddp = _init_distributed(cfg.device)
    device = pick_device(cfg.device)
    if device.type == "cuda" and ddp.world_size > 1:
        device = torch.device("cuda", ddp.local_rank)
    mcfg = cfg.model_config()
    out = Path(cfg.out_dir)
    ckpt_path = out / CHECKPOINT
    torch.manual_seed(cfg.seed)
    model = MarlinAutoencoder(mcfg, discriminator=True, init=cfg.init)
    disc: Discriminator = model.discriminator  # type: ignore[assignment]
    model.discriminator = None  # the generator and the critic are trained (and wrapped) apart
    model.to(device)
    disc.to(device)
    fused = fused_adamw(device)
    global_batch = cfg.batch_size * ddp.world_size
    peak = cfg.lr * global_batch / 256
    opt_g = torch.optim.AdamW(model.parameters(), lr=peak, betas=cfg.betas, eps=1e-8, weight_decay=cfg.weight_decay, fused=fused)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=peak, betas=cfg.betas, eps=1e-8, weight_decay=cfg.weight_decay, fused=fused)
    epoch = [1]  # steps per epoch, known once the data is (schedule "official")
    sched_g = torch.optim.lr_scheduler.LambdaLR(opt_g, lambda s: lr_factor(s, cfg, epoch[0]))
    sched_d = torch.optim.lr_scheduler.LambdaLR(opt_d, lambda s: lr_factor(s, cfg, epoch[0]))
    start_step, history, ckpt = 0, [], {}
    if resume:
        ckpt = _restore(ckpt_path, cfg, model, disc, opt_g, opt_d, sched_g, sched_d)
        start_step, history = int(ckpt["step"]), [dict(h) for h in ckpt.get("history", [])]
    gen_model: torch.nn.Module = model
    disc_model: torch.nn.Module = disc
    if ddp.world_size > 1:
        ids = [device.index] if device.type == "cuda" else None
        gen_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
        disc_model = torch.nn.parallel.DistributedDataParallel(disc, device_ids=ids)
    forward = torch.compile(gen_model) if cfg.compile else gen_model

    dataset = training_data(cfg, dataset)
    data_id = dataset.fingerprint if isinstance(dataset, ClipStore) else None
    if resume and ckpt.get("data") != data_id:
        raise ValueError(f"cannot resume {ckpt_path}: the training data changed (clip store fingerprint {ckpt.get('data')} then, "
                         f"{data_id} now; None is SynthFace); use the same data or a new out_dir")
    sampler = StepBatches(len(dataset), cfg.batch_size, cfg.seed, start_step, cfg.max_steps, ddp.rank, ddp.world_size)
    # Steps per epoch for schedule "official" (the rate of step 0, set above, does not depend on it;
    # a resumed run's current rate comes back with its optimiser).
    epoch[0] = cfg.epoch_steps or max(1, math.ceil(len(dataset) / global_batch))
    if isinstance(dataset, ClipStore):  # read as whole uint8 batches
        loader = make_loader(dataset, cfg.batch_size, batch_sampler=sampler, workers=cfg.num_workers, pin_memory=device.type == "cuda")
    else:
        loader = DataLoader(dataset, batch_sampler=sampler, num_workers=cfg.num_workers, pin_memory=device.type == "cuda",
                            persistent_workers=False)
    grid = TokenGrid(mcfg.num_frames, mcfg.img_size, mcfg.tubelet_size, mcfg.patch_size)
    bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
    autocast = lambda: torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)  # noqa: E731
    flops_per_clip = step_flops(mcfg, num_visible(grid.num_tokens, cfg.mask_ratio), adversarial=cfg.adversarial)

    lock = RunLock(out) if ddp.main else None
    if ddp.main:
        try:
            prepare_run_folder(out, resume=resume, overwrite=overwrite, resume_step=start_step if resume else None)
        except BaseException:
            lock.release()  # type: ignore[union-attr]
            raise
        (out / "config.json").write_text(json.dumps(asdict(cfg), indent=1, default=list) + "\n")
    log_path = out / METRICS
    bar = progress_bar(total=cfg.max_steps, initial=start_step, desc="pretrain", unit="step", enabled=ddp.main and cfg.progress,
                       dynamic_ncols=True)

    def save(step: int) -> None:
        if not ddp.main:
            return
        full = {**model.state_dict(), **{f"discriminator.{k}": v for k, v in disc.state_dict().items()}}
        atomic_save(
            {
                "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
                "model": full,
                "opt_g": opt_g.state_dict(),
                "opt_d": opt_d.state_dict(),
                "sched_g": sched_g.state_dict(),
                "sched_d": sched_d.state_dict(),
                "step": step,
                "rng": rng_state(),
                "history": history,
                "data": data_id,
            },
            ckpt_path,
        )

    n_visible = num_visible(grid.num_tokens, cfg.mask_ratio)
    first_bad = torch.full((), -1, dtype=torch.int64, device=device)  # first step whose loss was not finite

    def reads_now(step_after: int) -> bool:
        """Whether the step that ends at ``step_after`` reads its numbers back to the host."""
        return (
            _host_reads_every_step(device)
            or step_after % cfg.log_every == 0
            or step_after == cfg.max_steps
            or bool(cfg.ckpt_every and step_after % cfg.ckpt_every == 0)
            or bool(cfg.figure_every and step_after % cfg.figure_every == 0)
            or callback is not None
        )

    def stop_if_not_finite(loss: torch.Tensor) -> None:
        """Before an update: note the first step whose loss is not finite (on the device, no wait),
        and stop at the next step that reads its numbers back (``host``, ``step``: the loop's)."""
        first_bad.masked_fill_((first_bad < 0) & ~torch.isfinite(loss.detach()), step)
        if host and int(first_bad) >= 0:
            bad = int(first_bad)
            what = f"the loss became {float(loss.detach())}" if bad == step else "the loss became NaN or infinite"
            raise FloatingPointError(
                f"{what} at step {bad}; stopping. The last good checkpoint "
                f"({ckpt_path}) is intact: lower lr (now {cfg.lr}), set grad_clip, or check the data"
            )

    try:
        model.train()
        disc.train()
        step = start_step
        window_t, window_clips = time.perf_counter(), 0
        for batch in loader:
            if step == start_step and "video" in batch:  # once, before any work: a host read of the first batch only
                check_pixels(batch["video"])
            x = to_device_float(batch["frames"], device) if "frames" in batch else batch["video"].to(device, non_blocking=True)
            gen = mask_generator(cfg.seed, step, ddp.rank)
            parsing = batch["parsing"] if cfg.mask_strategy.startswith("fasking") else None
            check_labels = True
            if parsing is not None and device.type == "cuda":
                # face-guided masks on the GPU: the same masks (random draws stay on the CPU
                # generator; benchmarks/gpu_check.py compares), without ~40 ms of CPU work per
                # batch of 64 at 224x224 (benchmarks/README.md) in the training loop; the label
                # range is checked here on the CPU, so the GPU work needs no read-back
                check_label_range(parsing, mcfg.tubelet_size)
                parsing = parsing.to(device, non_blocking=True)
                check_labels = False
            visible = make_visible_mask(cfg.mask_strategy, x.shape[0], grid, cfg.mask_ratio, parsing=parsing, generator=gen,
                                        check_labels=check_labels).to(device, non_blocking=True)
            split = split_tokens(visible, n_visible)  # token indices once per step, on the device; one graph when compiled
            host = reads_now(step + 1)  # this step's numbers are read back (see _host_reads_every_step)

            pred, stats = train_step(model, disc, opt_g, opt_d, x, split, cfg, forward=forward, critic=disc_model, autocast=autocast,
                                     before_update=stop_if_not_finite)
            sched_g.step()
            if cfg.adversarial:  # the critic's schedule only moves when the critic trains
                sched_d.step()
            step += 1
            window_clips += x.shape[0] * ddp.world_size
            metrics: dict[str, float] = {}
            if host:  # one read-back for all of them
                values = _read_back(stats)
                metrics = {k: values[k] for k in ("critic", "adv", "grad_norm") if k in values}
                metrics.update(step=step, loss=values["loss"], rec=values["rec"], lr=opt_g.param_groups[0]["lr"])
            if step % cfg.log_every == 0 or step == cfg.max_steps:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                elapsed = time.perf_counter() - window_t
                metrics["clips_per_s"] = window_clips / max(elapsed, 1e-9)
                metrics["tflops"] = metrics["clips_per_s"] * flops_per_clip / 1e12
                window_t, window_clips = time.perf_counter(), 0
                history.append({k: float(f"{v:.6g}") for k, v in metrics.items()})
                if ddp.main:
                    with open(log_path, "a") as f:
                        f.write(json.dumps(history[-1]) + "\n")
            if metrics:
                bar.set_postfix(loss=f"{metrics['loss']:.4f}", clips_s=f"{history[-1].get('clips_per_s', 0) if history else 0:.1f}", refresh=False)
            bar.update(1)
            if ddp.main and cfg.figure_every and step % cfg.figure_every == 0:
                save_reconstruction_figure(model, x[:1], visible[:1], pred[:1], out / f"recon_step{step:06d}.png", step)
            if cfg.ckpt_every and (step % cfg.ckpt_every == 0 or step == cfg.max_steps):
                save(step)
            if callback is not None:
                callback(step, metrics)
        bar.close()
    finally:
        if lock is not None:
            lock.release()
    if ddp.world_size > 1:
        write_rank_digest(model, disc, out, ddp.rank)
    model.discriminator = disc
    return TrainResult(model.eval(), history, out, step)


def ensure_pretrained(cfg: PretrainConfig) -> TrainResult:
    """The checkpoint ladder of the lessons: reuse a finished run, resume a partial one, or train.

    If ``cfg.out_dir`` holds a checkpoint of the same configuration at ``cfg.max_steps``, the
    model and history are loaded from it (seconds); if it stopped earlier, training resumes;
    otherwise (or if the saved config differs) a fresh run trains. Lesson 04 trains the tiny
    model this way, and later lessons get the same model whether or not 04 ran before. The
    model comes back on the CPU, in eval mode, whichever path was taken.
    """
    path = Path(cfg.out_dir) / CHECKPOINT
    if path.exists():
        ckpt = load_checkpoint(path)
        saved = saved_config(ckpt, path)
        same = all(getattr(saved, k) == getattr(cfg, k) for k in asdict(cfg) if k not in _RUNTIME_KEYS)
        same = same and ckpt.get("data") == (store_fingerprint(cfg.data_path) if cfg.data_path else None)
        if same and int(ckpt["step"]) == cfg.max_steps:
            model = MarlinAutoencoder(cfg.model_config())
            model.load_state_dict(ckpt["model"])
            return TrainResult(model.eval(), [dict(h) for h in ckpt.get("history", [])], Path(cfg.out_dir), cfg.max_steps)
        if same and int(ckpt["step"]) < cfg.max_steps:
            result = train(cfg, resume=True)
            return dataclasses.replace(result, model=result.model.cpu())
    clear_run(Path(cfg.out_dir))  # another config's run, or a run killed before its first checkpoint
    result = train(cfg)
    return dataclasses.replace(result, model=result.model.cpu())


def save_reconstruction_figure(
    model: MarlinAutoencoder, x: torch.Tensor, visible: torch.Tensor, pred: torch.Tensor, path: Path, step: int | None = None
) -> None:
    """MAE's four panels over frames: original / masked / reconstruction / reconstruction + visible.

    Drawn without pyplot, so saving never touches the backend of a running notebook.
    """
    fig = reconstruction_figure(model, x, visible, pred, step, pyplot=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)


def reconstruction_figure(
    model: MarlinAutoencoder,
    x: torch.Tensor,
    visible: torch.Tensor,
    pred: torch.Tensor,
    step: int | None = None,
    *,
    frames: range | list[int] | None = None,
    pyplot: bool = True,
):
    """The four-panel figure (rows) over the clip's frames (columns) for ``x[0]``.

    ``frames`` picks the columns (default: every frame). With ``pyplot=False`` the figure is a
    bare ``matplotlib.figure.Figure`` (for saving, without touching a notebook's backend).
    """
    from matplotlib.figure import Figure

    from marlin_lite.video import tensor_to_frames

    with torch.no_grad():
        pred = pred.detach().float().clamp(0, 1)
        c = model.cfg
        # "reconstruction": every patch predicted where masked, the model's output only
        # (visible patches shown grey); "+ visible": the true visible patches pasted back.
        recon_only = model.reconstruct(torch.full_like(x, 0.5), visible, pred)
        masked = model.reconstruct(x, visible, torch.full((x.shape[0], pred.shape[1], c.patch_dim), 0.5, device=x.device))
        pasted = model.reconstruct(x, visible, pred)
    rows = [tensor_to_frames(t[0].float().cpu()) for t in (x, masked, recon_only, pasted)]
    if frames is not None:
        rows = [r[list(frames)] for r in rows]
    titles = ["original", "masked", "reconstruction", "recon. + visible"]
    T = rows[0].shape[0]
    size = (1.1 * T, 4.6)
    if pyplot:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(4, T, figsize=size, squeeze=False)
    else:
        fig = Figure(figsize=size)
        axes = fig.subplots(4, T, squeeze=False)
    for r, (frames, title) in enumerate(zip(rows, titles)):
        for t in range(T):
            ax = axes[r, t]
            ax.imshow(frames[t])
            ax.set_xticks([])
            ax.set_yticks([])
            if t == 0:
                ax.set_ylabel(title, fontsize=7)
    if step is not None:
        fig.suptitle(f"step {step}", fontsize=9)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _bool_flag(text: str) -> bool:
    try:
        return parse_bool(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}") from None


def _parse(argv: list[str] | None) -> tuple[str | None, bool, bool, dict[str, Any]]:
    p = argparse.ArgumentParser(prog="python -m marlin_lite.pretrain", description="Pretrain a MARLIN autoencoder.")
    p.add_argument("--config", help="YAML file, or a shipped recipe by name (tiny, course, base, ...)")
    p.add_argument("--resume", action="store_true", help="continue from OUT_DIR/checkpoint.pt")
    p.add_argument("--overwrite", action="store_true", help="delete the run in OUT_DIR and start over")
    for f in dataclasses.fields(PretrainConfig):
        if f.name in ("model_overrides", "betas"):
            continue
        flag = "--" + f.name.replace("_", "-")
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "str")
        if "bool" in kind:
            p.add_argument(flag, type=_bool_flag, metavar="BOOL")
        elif "int" in kind and "float" not in kind:
            p.add_argument(flag, type=int)
        elif "float" in kind:
            p.add_argument(flag, type=float)
        else:
            p.add_argument(flag)
    args = vars(p.parse_args(argv))
    if args["resume"] and args["overwrite"]:
        p.error("--resume continues the run in OUT_DIR and --overwrite deletes it: choose one")
    config, resume, overwrite = args.pop("config"), args.pop("resume"), args.pop("overwrite")
    return config, resume, overwrite, {k: v for k, v in args.items() if v is not None}


def main(argv: list[str] | None = None) -> int:
    config, resume, overwrite, overrides = _parse(argv)
    try:
        cfg = load_config(config, **overrides)
        result = train(cfg, resume=resume, overwrite=overwrite)
    except (ValueError, FileNotFoundError, FloatingPointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    if result.history:
        last = result.history[-1]
        print(f"done: step {result.step}, loss {last['loss']:.4f}, {last.get('clips_per_s', 0):.1f} clips/s -> {result.out_dir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
