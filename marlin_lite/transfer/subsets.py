"""Low-data subsets: which train items are labelled in each regime (``k`` per class, ``k``
positives per attribute, ``k`` training people); a seed's subsets are nested across ``k``."""

from __future__ import annotations

from typing import Sequence

import torch

from marlin_lite.tasks.probe import task_generator
from marlin_lite.transfer.settings import TASKS, _regime_key


def per_class_subsets(labels: torch.Tensor, ks: Sequence[int | str], seed: int, purpose: str = "subset") -> dict[str, torch.Tensor]:
    """``k`` items per class for each ``k`` of ``ks`` (``"all"``: every item) -> sorted ``int64``.

    ``labels``: ``(N,)`` class ids. Each class is shuffled once per seed and its first
    ``min(k, n_class)`` members are kept, so the subsets of one seed are nested across ``k``.
    Keys are ``str(k)``.
    """
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or labels.numel() == 0:
        raise ValueError(f"labels must be a non-empty (N,) tensor of class ids, got shape {tuple(labels.shape)}")
    gen = task_generator(seed, "transfer", purpose)
    shuffled = {}
    for c in torch.unique(labels).tolist():  # sorted: a deterministic draw order
        members = torch.nonzero(labels == c).flatten()
        shuffled[c] = members[torch.randperm(members.numel(), generator=gen)]
    out = {}
    for k in ks:
        if k == "all":
            out[_regime_key(k)] = torch.arange(labels.numel())
        else:
            out[_regime_key(k)] = torch.cat([m[: int(k)] for m in shuffled.values()]).sort().values
    return out


def attribute_subsets(attributes: torch.Tensor, ks: Sequence[int | str], seed: int, purpose: str = "subset") -> dict[str, torch.Tensor]:
    """Multi-label subsets: people added greedily until every attribute has ``>= k`` positives.

    ``attributes``: ``(N, A)`` of 0/1. People are visited in one seeded order; for ``k = 1, 2,
    ...`` in turn, a person not yet chosen is added when one of their positive attributes has
    fewer than ``k`` positives among those chosen so far. After the pass for ``k`` every
    attribute has ``min(k, positives in the whole set)`` positives or more, and each subset
    contains the previous one (nested). ``"all"``: every person. Keys are ``str(k)``; values
    sorted ``int64``.
    """
    attributes = torch.as_tensor(attributes)
    if attributes.dim() != 2 or attributes.shape[0] == 0:
        raise ValueError(f"attributes must be a non-empty (N, A) tensor of 0/1, got shape {tuple(attributes.shape)}")
    pos = attributes > 0.5
    order = torch.randperm(pos.shape[0], generator=task_generator(seed, "transfer", purpose)).tolist()
    chosen: list[int] = []
    taken = torch.zeros(pos.shape[0], dtype=torch.bool)
    counts = torch.zeros(pos.shape[1], dtype=torch.int64)
    ints = sorted(int(k) for k in ks if k != "all")
    out = {}
    for k in range(1, (ints[-1] if ints else 0) + 1):
        for p in order:
            if not taken[p] and bool((pos[p] & (counts < k)).any()):
                taken[p] = True
                chosen.append(p)
                counts += pos[p].to(torch.int64)
        if k in ints:
            out[str(k)] = torch.tensor(sorted(chosen), dtype=torch.int64)
    if "all" in ks:
        out["all"] = torch.arange(pos.shape[0])
    return {_regime_key(k): out[_regime_key(k)] for k in ks}


def low_data_subsets(task: str, targets: torch.Tensor, ks: Sequence[int | str], seed: int) -> dict[str, torch.Tensor]:
    """The labelled train items of each regime for a task: FER per expression, DFD per class
    (real / fake), FAR per attribute (:func:`attribute_subsets`). Keys ``str(k)``."""
    if task == "far":
        return attribute_subsets(targets, ks, seed, purpose="far")
    if task in ("fer", "dfd"):
        return per_class_subsets(torch.as_tensor(targets).long(), ks, seed, purpose=task)
    raise ValueError(f"task must be one of {tuple(TASKS)}, got {task!r}")


def people_subsets(identity: torch.Tensor, ks: Sequence[int | str], seed: int) -> dict[str, torch.Tensor]:
    """LS regimes: the clips of ``k`` training people (a seeded order of the people, so subsets
    are nested across ``k``; ``"all"``: every clip) -> sorted ``int64`` clip indices."""
    people = sorted(set(identity.tolist()))
    order = torch.randperm(len(people), generator=task_generator(seed, "transfer", "ls", "people")).tolist()
    out = {}
    for k in ks:
        chosen = set(people) if k == "all" else {people[i] for i in order[: min(int(k), len(people))]}
        out[_regime_key(k)] = torch.tensor(sorted(i for i, p in enumerate(identity.tolist()) if p in chosen), dtype=torch.long)
    return out
