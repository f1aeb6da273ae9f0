"""What both halves of the GPU track share: the folder relative paths are read from, data set
names, strict JSON.

Relative paths in the scaled notebooks' parameters are read from the repository root (where the
README's commands run; the working directory for an installed copy), so a notebook behaves the same
whatever papermill's working directory is.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from marlin_lite import utils
from marlin_lite.utils import project_root

REPO_ROOT = project_root()
#: The package runs from a checkout (not an installed copy): child processes must import this copy.
IN_CHECKOUT = REPO_ROOT == Path(__file__).resolve().parents[2]


def resolve_path(path: str | os.PathLike[str] | None, base: Path = REPO_ROOT) -> Path | None:
    """``path`` as a :class:`Path`: ``~`` expanded, relative paths taken from ``base`` (the
    repository root); ``None`` stays ``None``."""
    return utils.resolve_path(path, base)


def dataset_name(dataset: str) -> str | None:
    """The registry name of a real data set, or ``None`` when ``dataset`` is not one."""
    from marlin_lite.datasets import canonical_name  # noqa: PLC0415 (decodes video: imported on use)

    try:
        return canonical_name(dataset)
    except ValueError:
        return None


def plain_json(obj: Any) -> Any:
    """``obj`` with non-finite floats as ``None`` and other odd values as strings (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): plain_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain_json(v) for v in obj]
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)
