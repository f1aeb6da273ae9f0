"""Datasets of SynthFace clips with fixed, leak-free train/val/test splits.

A :class:`SynthFaceDataset` is a deterministic *plan* of clips (who, which expression,
real or which fake, audio offset) that renders each clip on the fly, optionally caching
it in memory or on disk. The plan depends only on the constructor's arguments, so two
machines, or two DataLoader workers, see the same data set.

Splits are by identity by default: a person is in exactly one of train / val / test, so a
model cannot pass the test by recognising faces it saw in training. ``split_by="clip"``
shares identities across splits (each person's clips are divided instead), for tasks that
need every identity in training.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from marlin_lite.synthface import ATTRIBUTES, EXPRESSION_STYLES, EXPRESSIONS, FRAMINGS, MANIPULATIONS, SynthClip, generate_clip

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class ClipSpec:
    """Everything that determines one clip of a data set (besides the render settings)."""

    identity: int
    clip_seed: int
    expression: str
    manipulation: str = "none"
    av_offset: int = 0
    donor_identity: int | None = None

    def render(self, *, world_seed: int = 0, **settings: Any) -> SynthClip:
        """Generate this clip; ``settings`` are :func:`generate_clip`'s render options."""
        return generate_clip(
            self.identity,
            self.clip_seed,
            world_seed=world_seed,
            expression=self.expression,
            manipulation=self.manipulation,
            av_offset=self.av_offset,
            donor_identity=self.donor_identity,
            **settings,
        )


def identity_splits(
    num_identities: int, world_seed: int = 0, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> dict[str, list[int]]:
    """Partition identities ``0 .. num_identities-1`` into train / val / test (seeded).

    Every split gets at least one identity (so ``num_identities >= 3``); the rest follow
    ``fractions``. Returns sorted id lists.
    """
    if num_identities < 3:
        raise ValueError(f"num_identities must be >= 3 to split by identity, got {num_identities}")
    _check_fractions(fractions)
    perm = np.random.default_rng([world_seed, 0x5B17]).permutation(num_identities)
    n_val = max(1, int(round(fractions[1] * num_identities)))
    n_test = max(1, int(round(fractions[2] * num_identities)))
    n_train = num_identities - n_val - n_test
    if n_train < 1:
        raise ValueError(f"{num_identities} identities leave none for training with fractions {fractions}")
    parts = np.split(perm, [n_train, n_train + n_val])
    return {name: sorted(int(i) for i in p) for name, p in zip(SPLITS, parts)}


def _check_fractions(fractions: tuple[float, float, float]) -> None:
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")


def plan_clips(
    split: str,
    *,
    num_identities: int = 24,
    clips_per_identity: int = 4,
    world_seed: int = 0,
    split_by: str = "identity",
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    fake_fraction: float = 0.0,
    manipulations: tuple[str, ...] = MANIPULATIONS[1:],
    max_av_offset: int = 0,
) -> list[ClipSpec]:
    """The deterministic list of clips of one split.

    Expressions cycle through :data:`EXPRESSIONS` (balanced classes). A ``fake_fraction``
    of clips are manipulated, kinds cycling through ``manipulations``; a face swap's donor
    is another identity *of the same split*. With ``max_av_offset > 0`` each clip's audio is
    shifted by a uniform integer in ``[-max_av_offset, max_av_offset]`` frames.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if split_by not in ("identity", "clip"):
        raise ValueError(f"split_by must be 'identity' or 'clip', got {split_by!r}")
    if not 0 <= fake_fraction <= 1:
        raise ValueError(f"fake_fraction must be in [0, 1], got {fake_fraction}")
    if clips_per_identity < 1:
        raise ValueError(f"clips_per_identity must be >= 1, got {clips_per_identity}")
    bad = [m for m in manipulations if m not in MANIPULATIONS[1:]]
    if bad or not manipulations:
        raise ValueError(f"manipulations must be a non-empty subset of {MANIPULATIONS[1:]}, got {manipulations}")
    if split_by == "identity":
        people = identity_splits(num_identities, world_seed, fractions)[split]
        pairs = [(i, c) for i in people for c in range(clips_per_identity)]
    else:
        _check_fractions(fractions)
        if num_identities < 1:
            raise ValueError(f"num_identities must be >= 1, got {num_identities}")
        people = list(range(num_identities))
        cut = np.cumsum([0] + [int(round(f * clips_per_identity)) for f in fractions])
        cut[-1] = clips_per_identity
        k = SPLITS.index(split)
        pairs = [(i, c) for i in people for c in range(int(cut[k]), int(cut[k + 1]))]
    rng = np.random.default_rng([world_seed, SPLITS.index(split), 0xD47A])
    n_fake = int(round(fake_fraction * len(pairs)))
    fake_slots = set(rng.permutation(len(pairs))[:n_fake].tolist())
    specs, kind = [], 0
    for n, (ident, c) in enumerate(pairs):
        manip, donor = "none", None
        if n in fake_slots:
            manip = manipulations[kind % len(manipulations)]
            kind += 1
            if manip == "face_swap":
                others = [p for p in people if p != ident]
                donor = int(others[int(rng.integers(len(others)))]) if others else num_identities + ident
        offset = int(rng.integers(-max_av_offset, max_av_offset + 1)) if max_av_offset > 0 else 0
        expression = EXPRESSIONS[(ident + c) % len(EXPRESSIONS)]
        specs.append(ClipSpec(ident, c, expression, manip, offset, donor))
    return specs


class SynthFaceDataset(Dataset):
    """SynthFace clips as a PyTorch dataset.

    Each item is a dict of tensors:

    * ``video``: ``float32 (3, T, H, W)`` in [0, 1] (the package's video convention);
    * ``parsing``: ``uint8 (T, H, W)`` label ids; ``audio``: ``float32 (S,)``;
    * ``attributes``: ``float32 (A,)`` 0/1 over :data:`ATTRIBUTES`;
    * ``expression``, ``fake``, ``manipulation``, ``av_offset``, ``identity``, ``index``:
      ``int64`` scalars; ``mouth_open``: ``float32 (T,)``.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``.
        size, num_frames, fps, sample_rate: render settings.
        framing, expressions: render settings too (:data:`~marlin_lite.synthface.FRAMINGS`,
            :data:`~marlin_lite.synthface.EXPRESSION_STYLES`): ``framing="face"`` frames clips
            as MARLIN's face crops do, ``expressions="marked"`` makes expressions learnable at
            lesson size. They join the render settings (and the cache key) only when they
            differ from the defaults, so existing caches and plans keep their names.
        cache: keep rendered clips in memory (fast epochs; they are kept as uint8, about
            ``len * T * H * W * 4`` bytes with the parsing maps, and made float per item).
        cache_dir: or keep them as ``.npz`` files in this folder (shared across runs and
            processes; the file name hashes the clip spec and render settings).
        Other keyword arguments go to :func:`plan_clips`.
    """

    def __init__(
        self,
        split: str = "train",
        *,
        num_identities: int = 24,
        clips_per_identity: int = 4,
        world_seed: int = 0,
        size: int = 64,
        num_frames: int = 16,
        fps: float = 25.0,
        sample_rate: int = 16000,
        framing: str = "scene",
        expressions: str = "subtle",
        split_by: str = "identity",
        fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
        fake_fraction: float = 0.0,
        manipulations: tuple[str, ...] = MANIPULATIONS[1:],
        max_av_offset: int = 0,
        cache: bool = False,
        cache_dir: str | Path | None = None,
    ) -> None:
        self.split = split
        self.world_seed = world_seed
        if framing not in FRAMINGS:
            raise ValueError(f"framing must be one of {FRAMINGS}, got {framing!r}")
        if expressions not in EXPRESSION_STYLES:
            raise ValueError(f"expressions must be one of {EXPRESSION_STYLES}, got {expressions!r}")
        self.render: dict[str, Any] = dict(size=size, num_frames=num_frames, fps=fps, sample_rate=sample_rate)
        if framing != "scene":
            self.render["framing"] = framing
        if expressions != "subtle":
            self.render["expressions"] = expressions
        self.specs = plan_clips(
            split,
            num_identities=num_identities,
            clips_per_identity=clips_per_identity,
            world_seed=world_seed,
            split_by=split_by,
            fractions=fractions,
            fake_fraction=fake_fraction,
            manipulations=manipulations,
            max_av_offset=max_av_offset,
        )
        self._memory: dict[int, dict[str, np.ndarray]] | None = {} if cache else None
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return len(self.specs)

    @property
    def identities(self) -> list[int]:
        """Sorted identity ids present in this split."""
        return sorted({s.identity for s in self.specs})

    def clip(self, index: int) -> SynthClip:
        """The full :class:`~marlin_lite.synthface.SynthClip` (landmarks, per-frame truth...)."""
        return self.specs[self._check_index(index)].render(world_seed=self.world_seed, **self.render)

    def _check_index(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a {self.split} split of {len(self)} clips")
        return index % len(self)

    def _cache_path(self, index: int) -> Path:
        assert self.cache_dir is not None
        key = json.dumps([asdict(self.specs[index]), self.render, self.world_seed], sort_keys=True)
        return self.cache_dir / f"synthface_{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = self._check_index(index)
        arrays: dict[str, Any] | None = None
        if self._memory is not None:
            arrays = self._memory.get(index)
        if arrays is None and self.cache_dir is not None:
            path = self._cache_path(index)
            if path.exists():
                with np.load(path) as z:
                    arrays = {k: z[k] for k in z.files}
        if arrays is None:
            c = self.clip(index)
            arrays = {
                "frames": c.frames,
                "parsing": c.parsing,
                "audio": c.audio,
                "mouth_open": c.per_frame["mouth_open"],
                "attributes": np.asarray(c.labels["attribute_vector"], dtype=np.float32),
            }
            if self.cache_dir is not None:
                tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npz")  # workers may race
                np.savez_compressed(tmp, **arrays)
                tmp.replace(path)
        if self._memory is not None:
            self._memory[index] = arrays
        s = self.specs[index]
        return {
            "video": torch.from_numpy(arrays["frames"]).permute(3, 0, 1, 2).float().div_(255),
            "parsing": torch.from_numpy(arrays["parsing"]),
            "audio": torch.from_numpy(arrays["audio"]),
            "mouth_open": torch.from_numpy(arrays["mouth_open"]),
            "attributes": torch.from_numpy(arrays["attributes"]),
            "expression": torch.tensor(EXPRESSIONS.index(s.expression)),
            "fake": torch.tensor(int(s.manipulation != "none")),
            "manipulation": torch.tensor(MANIPULATIONS.index(s.manipulation)),
            "av_offset": torch.tensor(s.av_offset),
            "identity": torch.tensor(s.identity),
            "index": torch.tensor(index),
        }


__all__ = ["ATTRIBUTES", "ClipSpec", "SPLITS", "SynthFaceDataset", "identity_splits", "plan_clips"]
