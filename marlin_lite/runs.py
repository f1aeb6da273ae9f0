"""A training run's folder: what it holds, how it is written, locked and resumed.

``train`` (:mod:`marlin_lite.pretrain`) writes ``<out_dir>/checkpoint.pt`` (atomically, see
:func:`atomic_save`) and ``metrics.jsonl`` (one JSON line per logged step), holds :class:`RunLock`
on the folder while it runs, and on ``--resume`` restores the global random generators
(:func:`rng_state` / :func:`set_rng_state`) so a resumed run ends with exactly the weights of an
uninterrupted one. Everything here is bookkeeping: the learning is in ``pretrain.train_step``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any

import filelock
import numpy as np
import torch

from marlin_lite.utils import atomic_file, atomic_write_bytes

__all__ = [
    "CHECKPOINT",
    "METRICS",
    "RUN_FILES",
    "NotACheckpointError",
    "RunLock",
    "atomic_save",
    "clear_run",
    "load_checkpoint",
    "prepare_run_folder",
    "read_metrics",
    "rng_state",
    "run_files_in",
    "set_rng_state",
    "write_rank_digest",
]

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"
#: What a run writes into its folder (``clear_run`` removes these, the figures and the rank digests).
RUN_FILES = (CHECKPOINT, METRICS, "config.json", "summary.json", "launch_config.yaml", "loss_curve.png", "reconstruction.png",
             "torchrun.log")


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename: never a half file (and no
    temporary file left behind when saving fails)."""
    with atomic_file(path) as tmp:
        torch.save(obj, tmp)


def clear_run(out: Path) -> None:
    """Delete a run's files from its folder (:data:`RUN_FILES`, figures, rank digests, temporary files)."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for pattern in ("recon_step*.png", "rank*_weights.sha256", ".*.tmp"):
        for p in out.glob(pattern):
            p.unlink(missing_ok=True)


def run_files_in(out: Path) -> list[str]:
    """The files that make ``out`` hold a run: a checkpoint or a non-empty metrics log."""
    return [n for n in (CHECKPOINT, METRICS) if (out / n).is_file() and (out / n).stat().st_size > 0]


def read_metrics(out_dir: str | os.PathLike[str]) -> list[dict[str, float]]:
    """The rows of ``<out_dir>/metrics.jsonl`` (one per logged step; all runs of a resumed run)."""
    path = Path(out_dir) / METRICS
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def prepare_run_folder(out: Path, *, resume: bool, overwrite: bool, resume_step: int | None) -> None:
    """Called with the folder's lock held: sweep temporary files a killed run left, refuse to start a
    new run over an old one (unless ``overwrite``), and cut a resumed run's log back to its checkpoint."""
    for p in out.glob(".*.tmp"):  # only a run holding the lock writes here, and that is us
        p.unlink(missing_ok=True)
    log = out / METRICS
    if not resume:
        held = run_files_in(out)
        if held and not overwrite:
            raise ValueError(f"{out} holds a run already ({', '.join(held)}); pass --resume to continue it, --overwrite "
                             "(overwrite=True) to delete it and start over, or choose another out_dir")
        if overwrite:
            clear_run(out)
        return
    if resume_step is not None and log.is_file():
        lines = log.read_text().splitlines()
        kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= resume_step]
        if len(kept) != len(lines):  # steps logged after the checkpoint would appear twice
            atomic_write_bytes(log, "".join(f"{line}\n" for line in kept).encode())


class NotACheckpointError(ValueError):
    """A readable PyTorch file that is not a MARLIN-lite training checkpoint (official weights,
    a bare state dict ...): :func:`load_checkpoint` raises it, so a caller can try another loader."""


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint written by :func:`train` (``weights_only=True``).

    Raises :class:`NotACheckpointError` for a readable file that is not one (no ``config`` and
    ``model`` dicts)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"no checkpoint at {p}; train first, or drop --resume")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001
        raise ValueError(f"{p} is not a readable MARLIN-lite checkpoint ({err}); delete it or point elsewhere") from err
    if not (isinstance(ckpt, dict) and isinstance(ckpt.get("config"), dict) and isinstance(ckpt.get("model"), dict)):
        got = f"a dict with keys {list(ckpt)[:6]}" if isinstance(ckpt, dict) else f"a {type(ckpt).__name__}"
        raise NotACheckpointError(
            f"{p} is not a MARLIN-lite checkpoint: it holds {got}, not the dict with 'config' and 'model' that "
            "train() writes; for official MARLIN weights use marlin_lite.official.load_pretrained, else point elsewhere"
        )
    return ckpt


class RunLock:
    """A lock on the run folder: two runs writing one folder would interleave their logs and
    overwrite each other's checkpoints.

    :class:`filelock.FileLock` on ``<folder>/.lock`` (``flock`` on POSIX, ``msvcrt`` on Windows):
    the operating system holds it, so it cannot be held twice and it ends with its process however
    that process dies (nothing stale to take over). The file stays between runs (unlinking a lock
    file breaks mutual exclusion for processes that opened it); while held it names the holder's
    PID for the error message, and it is emptied on release.
    """

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / ".lock"
        self._lock = filelock.FileLock(self.path, timeout=0)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            raise RuntimeError(f"another training run ({self._holder()}) is writing to {folder}; wait for it or use another "
                               "out_dir") from None
        self._write(str(os.getpid()))

    def _write(self, text: str) -> None:
        with open(self.path, "r+") as f:  # the holder alone writes; contenders never truncate it
            f.truncate(0)
            f.write(text)

    def _holder(self) -> str:
        try:
            pid = self.path.read_text().strip()
        except OSError:
            pid = ""
        return f"process {pid}" if pid else "a process"

    def release(self) -> None:
        if self._lock.is_locked:
            self._write("")
            self._lock.release()


def rng_state() -> dict[str, Any]:
    """Global RNG states (torch, NumPy, Python) as tensors and plain lists (weights_only-safe)."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": list(random.getstate()[1]),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    random.setstate((3, tuple(state["python"]), None))


def write_rank_digest(model: torch.nn.Module, disc: torch.nn.Module, out: Path, rank: int) -> None:
    """Each process records a digest of its final weights (DDP keeps them identical)."""
    h = hashlib.sha256()
    for _, t in sorted({**model.state_dict(), **disc.state_dict()}.items()):
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank{rank}_weights.sha256").write_text(h.hexdigest() + "\n")
