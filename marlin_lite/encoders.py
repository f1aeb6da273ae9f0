"""One place that turns "which encoder?" into a frozen :class:`~marlin_lite.model.MarlinEncoder`.

Every consumer of a pretrained encoder (the lessons, :mod:`marlin_lite.features`, the task
runners, the scaled notebooks, the reports) names it the same way and gets it from here:

* :func:`as_encoder`: the encoder half of an encoder or a whole autoencoder;
* :func:`random_encoder`: the tiny (or any) preset at the official random init, seeded: the
  "random init" baseline of every task;
* :func:`encoder_digest`: SHA-256 of an encoder's config and weights, the identity of its features
  (feature caches and feature folders are keyed by it);
* :func:`load_encoder`: an encoder from a spec (a string on a command line or in a parameter file):

  ======================  ===========================================================
  ``course``              the shipped course checkpoint (hash checked)
  ``random:<preset>``     ``preset`` at random init, seed 0 (``random:tiny:3``: seed 3;
                          ``random:3``: the tiny preset, seed 3)
  an official name        :data:`marlin_lite.official.OFFICIAL_WEIGHTS` (read from the cache;
                          downloaded only with ``allow_download=True``)
  a path                  a MARLIN-lite ``checkpoint.pt`` (or the run folder holding it),
                          exported course-style weights, or an official weights file
  ======================  ===========================================================
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from marlin_lite.course_weights import COURSE_WEIGHTS, load_course_model
from marlin_lite.model import MarlinAutoencoder, MarlinConfig, MarlinEncoder, get_config
from marlin_lite.official import OFFICIAL_WEIGHTS, load_pretrained
from marlin_lite.pretrain import CHECKPOINT, NotACheckpointError, model_from_checkpoint, read_metrics
from marlin_lite.utils import resolve_path

__all__ = ["as_encoder", "encoder_digest", "load_encoder", "random_encoder"]


def as_encoder(model: MarlinEncoder | MarlinAutoencoder) -> MarlinEncoder:
    """The :class:`MarlinEncoder` of an encoder or a whole autoencoder."""
    if isinstance(model, MarlinAutoencoder):
        return model.encoder
    if isinstance(model, MarlinEncoder):
        return model
    raise TypeError(f"expected a MarlinEncoder or MarlinAutoencoder, got {type(model).__name__}")


def random_encoder(cfg: MarlinConfig | str, seed: int = 0) -> MarlinEncoder:
    """A randomly initialised encoder (the official init), seeded, in eval mode on the CPU.

    The global RNG is left as it was (the init runs inside ``torch.random.fork_rng``).
    """
    cfg = get_config(cfg)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = MarlinAutoencoder(cfg, discriminator=False)
    return model.encoder.eval()


def encoder_digest(model: MarlinEncoder | MarlinAutoencoder) -> str:
    """SHA-256 (hex) of an encoder's config and weights: the identity of its features."""
    enc = as_encoder(model)
    h = hashlib.sha256(json.dumps(enc.cfg.to_dict(), sort_keys=True).encode())
    for name, t in sorted(enc.state_dict().items()):
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _random_spec(text: str) -> tuple[str, int]:
    """``random:<preset>[:<seed>]`` or ``random:<seed>`` -> (preset, seed)."""
    parts = text.split(":")[1:]
    if len(parts) == 1 and parts[0].isdigit():
        return "tiny", int(parts[0])
    if len(parts) == 1 and parts[0]:
        return parts[0], 0
    if len(parts) == 2 and parts[0] and parts[1].isdigit():
        return parts[0], int(parts[1])
    raise ValueError(f"encoder {text!r}: write random:<preset>, random:<preset>:<seed> or random:<seed> (e.g. random:tiny:1)")


def load_encoder(
    spec: str | os.PathLike[str], *, allow_download: bool = False, base: str | os.PathLike[str] | None = None,
) -> tuple[MarlinEncoder, dict[str, Any]]:
    """A frozen encoder (eval mode, CPU, float32) and a description of where it came from.

    Args:
        spec: which encoder (the module docstring lists the forms).
        allow_download: fetch an official release named by ``spec`` when it is not cached.
        base: the folder relative paths are read from (default: the working directory).

    Returns:
        ``(encoder, info)``; ``info`` has ``checkpoint`` (the spec, or the file read), ``kind``
        (``course``, ``random``, ``official``, ``official_file`` or ``marlin_lite``), ``preset``,
        ``description`` (a phrase for reports) and, by kind, ``seed``, ``report`` (what official
        loading matched) or ``step`` (the last logged step of a MARLIN-lite run).

    Raises:
        FileNotFoundError: ``spec`` is neither a known name nor an existing file or run folder.
        ValueError: a malformed ``random:`` spec, or a file that holds no weights this model reads.
    """
    text = str(spec)
    if text == "course":
        enc = as_encoder(load_course_model())
        return enc, {"checkpoint": text, "kind": "course", "preset": enc.cfg.name,
                     "description": f"the shipped course checkpoint ({Path(COURSE_WEIGHTS).name})"}
    if text.startswith("random:"):
        preset, seed = _random_spec(text)
        enc = random_encoder(preset, seed)
        return enc, {"checkpoint": text, "kind": "random", "preset": enc.cfg.name, "seed": seed,
                     "description": f"the {enc.cfg.name} preset at random init (seed {seed})"}
    if text in OFFICIAL_WEIGHTS:
        model, report = load_pretrained(text, download=allow_download)
        return as_encoder(model).float().eval(), {"checkpoint": text, "kind": "official", "preset": model.cfg.name,
                                                  "report": str(report), "description": f"the official release {text}"}
    path = resolve_path(spec, base).resolve()
    if path.is_dir():
        path = path / CHECKPOINT
    if not path.exists():
        raise FileNotFoundError(
            f"encoder {text!r}: no such file or run folder ({path}). Give a MARLIN-lite checkpoint.pt or its run folder (train one with "
            f"python -m marlin_lite.pretrain), an official weights file, an official name ({', '.join(OFFICIAL_WEIGHTS)}), "
            "'course' (the shipped checkpoint) or random:<preset>[:<seed>]"
        )
    try:
        model = model_from_checkpoint(path)
    except NotACheckpointError:  # no "config"/"model": official weights
        model, report = load_pretrained(path)
        return as_encoder(model).float().eval(), {"checkpoint": str(path), "kind": "official_file", "preset": model.cfg.name,
                                                  "report": str(report), "description": f"the official weights file {path}"}
    info: dict[str, Any] = {"checkpoint": str(path), "kind": "marlin_lite", "preset": model.cfg.name,
                            "description": f"the MARLIN-lite checkpoint {path}"}
    rows = read_metrics(path.parent)
    if rows:
        info["step"] = int(rows[-1]["step"])
    return as_encoder(model).float().eval(), info
