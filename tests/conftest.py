"""Shared fixtures for the test suite (repository-wide ignores live in the root conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the folder holding ``notebooks/``, ``marlin_lite/``, ``tests/``)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_dir() -> Path | None:
    """``../shared`` beside the repository (reference material shared by the course's
    authors), or ``None`` where it is absent (a plain clone)."""
    candidate = REPO_ROOT.parent / "shared"
    return candidate if candidate.is_dir() else None
