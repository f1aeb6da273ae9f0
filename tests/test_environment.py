"""The pinned environment: requirements.txt and environment.yml agree, and the version has one home."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
import yaml

import marlin_lite

PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[A-Za-z0-9.+!_-]+)$")


def normalise(name: str) -> str:
    """Requirement names compare lowercase with ``_`` and ``.`` as ``-`` (as pip does)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(lines: list[str], where: str) -> dict[str, str]:
    """``{normalised name: version}`` from ``name==version`` lines; anything else fails."""
    pins: dict[str, str] = {}
    for line in lines:
        match = PIN.match(line.strip())
        assert match, f"{where}: {line!r} is not pinned as name==version"
        name = normalise(match["name"])
        assert name not in pins, f"{where}: {match['name']} is listed twice"
        pins[name] = match["version"]
    return pins


@pytest.fixture(scope="module")
def requirements(repo_root: Path) -> dict[str, str]:
    lines = []
    for raw in (repo_root / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return parse_pins(lines, "requirements.txt")


@pytest.fixture(scope="module")
def environment(repo_root: Path) -> dict:
    return yaml.safe_load((repo_root / "environment.yml").read_text())


def environment_pip_section(environment: dict) -> list[str]:
    sections = [dep["pip"] for dep in environment["dependencies"] if isinstance(dep, dict) and "pip" in dep]
    assert len(sections) == 1, "environment.yml needs exactly one `pip:` section"
    return [str(entry) for entry in sections[0]]


def test_environment_yml_basics(environment: dict) -> None:
    assert environment["name"] == "marlin-lite"
    conda_deps = [dep for dep in environment["dependencies"] if isinstance(dep, str)]
    assert "python=3.11" in conda_deps
    assert "pip" in conda_deps
    assert environment_pip_section(environment)[-1] == "-e .", "`-e .` must be the last pip entry"


def test_every_requirement_is_pinned(requirements: dict[str, str]) -> None:
    # parse_pins already asserts name==version for every line; there must be some.
    assert requirements, "requirements.txt lists no requirements"


def test_environment_yml_pins_equal_requirements(requirements: dict[str, str], environment: dict) -> None:
    entries = [e for e in environment_pip_section(environment) if e != "-e ."]
    pins = parse_pins(entries, "environment.yml")
    missing = sorted(set(requirements) - set(pins))
    extra = sorted(set(pins) - set(requirements))
    assert not missing and not extra, (
        f"environment.yml lacks {missing} and has extra {extra}: keep it equal to requirements.txt")
    differ = {name: (requirements[name], pins[name]) for name in requirements if requirements[name] != pins[name]}
    assert not differ, f"versions differ (requirements.txt, environment.yml): {differ}"


def test_key_pins(requirements: dict[str, str]) -> None:
    assert requirements.get("torch") == "2.13.0"
    assert requirements.get("numpy", "").split(".")[0] == "2", "numpy must be pinned to 2.x"


def test_version_is_defined_only_in_the_package(repo_root: Path) -> None:
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text())
    project = pyproject["project"]
    assert "version" not in project, "pyproject.toml must not hard-code a version"
    assert "version" in project.get("dynamic", []), "pyproject.toml: version must be dynamic"
    attr = pyproject["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "marlin_lite.__version__"

    assert re.fullmatch(r"\d+\.\d+\.\d+(?:[.-]?\w+)?", marlin_lite.__version__)
    assignment = re.compile(r"^__version__\s*=", re.MULTILINE)
    homes = [p.relative_to(repo_root).as_posix() for p in sorted((repo_root / "marlin_lite").rglob("*.py"))
             if assignment.search(p.read_text(encoding="utf-8"))]
    assert homes == ["marlin_lite/__init__.py"], f"__version__ is assigned in {homes}"
    for name in ("requirements.txt", "environment.yml"):
        text = (repo_root / name).read_text()
        assert not re.search(r"^\s*-?\s*marlin[-_]lite\s*==", text, re.MULTILINE | re.IGNORECASE), (
            f"{name} must not pin marlin-lite itself")


def test_installed_metadata_matches_version() -> None:
    try:
        installed = importlib.metadata.version("marlin-lite")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("marlin-lite is not installed (pip install -e . --no-deps)")
    assert installed == marlin_lite.__version__, (
        f"installed metadata says {installed}, marlin_lite.__version__ is {marlin_lite.__version__}: "
        "reinstall with `pip install -e . --no-deps` (scripts/_env.sh does it when the version changes)")
