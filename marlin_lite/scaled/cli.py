"""``python -m marlin_lite.scaled {pretrain,downstream}``: a scaled notebook's run without Jupyter
(a GPU machine without papermill, a batch job), from the same parameter files."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from marlin_lite.scaled.common import resolve_path
from marlin_lite.scaled.downstream import DOWNSTREAM_PARAMETERS, run_downstream
from marlin_lite.scaled.pretraining import PRETRAIN_PARAMETERS, pretrain_pipeline
from marlin_lite.utils import load_yaml


def _defaults(table: dict[str, tuple[Any, str]]) -> dict[str, Any]:
    return {k: v[0] for k, v in table.items()}


def _table(kind: str) -> dict[str, tuple[Any, str]]:
    table = {"pretrain": PRETRAIN_PARAMETERS, "downstream": DOWNSTREAM_PARAMETERS}.get(kind)
    if table is None:
        raise ValueError(f"kind must be 'pretrain' or 'downstream', got {kind!r}")
    return table


def read_params(path: str | os.PathLike[str], kind: str) -> dict[str, Any]:
    """The parameters of a papermill YAML file (``kind`` = ``"pretrain"`` or ``"downstream"``).

    Unknown keys are an error naming the file and the key (papermill itself would inject them
    silently, and a typo would then change nothing).
    """
    table = _table(kind)
    p = resolve_path(path)
    if not p.is_file():
        raise FileNotFoundError(f"parameter file {p} not found (they live in configs/pretrain_*.yaml and configs/downstream_*.yaml)")
    values = load_yaml(p.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{p} must hold a mapping of notebook parameters, got {type(values).__name__}")
    unknown = sorted(set(values) - set(table))
    if unknown:
        raise ValueError(f"unknown {kind} notebook parameter(s) in {p}: {unknown}; known: {sorted(table)}")
    return values


def apply_sets(params: dict[str, Any], pairs: Sequence[str], kind: str) -> dict[str, Any]:
    """``params`` with ``key=value`` pairs applied (values are YAML). A dotted key sets one entry
    of a mapping parameter: ``settings.max_steps=100``, ``probe.lr=1e-4``.

    Raises:
        ValueError: a pair without ``=``, an unknown parameter, or a dotted key on a parameter
            that is not a mapping.
    """
    table = _table(kind)
    params = dict(params)
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set takes key=value (a YAML value), got {pair!r}")
        key, text = (part.strip() for part in pair.split("=", 1))
        value = load_yaml(text)
        name, _, entry = key.partition(".")
        if name not in table:
            raise ValueError(f"unknown {kind} parameter {name!r} in --set {pair}; known: {sorted(table)}")
        if not entry:
            params[name] = value
            continue
        if not isinstance(table[name][0], dict):
            raise ValueError(f"--set {pair}: {name} is not a mapping; set it whole ({name}=...)")
        params[name] = {**(params.get(name) or {}), entry: value}
    return params


def main(argv: list[str] | None = None) -> int:
    """``python -m marlin_lite.scaled {pretrain,downstream} [--params FILE] [--set key=value ...]``."""
    p = argparse.ArgumentParser(prog="python -m marlin_lite.scaled", description="Run a scaled notebook's steps without Jupyter.")
    p.add_argument("kind", choices=("pretrain", "downstream"))
    p.add_argument("--params", help="a papermill parameter file (configs/pretrain_*.yaml, configs/downstream_*.yaml)")
    p.add_argument("--set", nargs="*", action="extend", default=[], metavar="KEY=VALUE",
                   help="override parameters (YAML values; settings.max_steps=100 sets one entry of a mapping); "
                        "repeat --set or list several pairs after one")
    args = p.parse_args(argv)
    try:
        params = _defaults(_table(args.kind))
        if args.params:
            params.update(read_params(args.params, args.kind))
        params = apply_sets(params, args.set, args.kind)
        if args.kind == "pretrain":
            pretrain_pipeline(**params)
        else:
            result = run_downstream(**params)
            print(result.table.to_markdown())
            print(f"written: {result.paths['json']}")
    except (ValueError, FileNotFoundError, NotImplementedError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
