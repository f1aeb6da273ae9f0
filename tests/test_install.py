"""An installed copy (``pip install .``, not editable) works away from the repository.

The package is built into a wheel offline (``--no-build-isolation``: setuptools is pinned in
requirements.txt), installed into a folder of its own, and run from an empty folder elsewhere:
the shipped recipes are found by name (``--config tiny``), the course checkpoint is inside the
package, and nothing reads the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A folder holding the package installed from a freshly built wheel."""
    base = tmp_path_factory.mktemp("install")
    source = base / "source"  # a copy: building in the checkout would leave build/ and *.egg-info behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "marlin_lite", source / "marlin_lite", ignore=ignore)
    shutil.copytree(REPO / "configs", source / "configs", ignore=ignore)
    wheels = base / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                    "-w", str(wheels), str(source)], check=True, capture_output=True, text=True)
    (wheel,) = wheels.glob("marlin_lite-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "marlin_lite/configs/tiny.yaml" in names and "marlin_lite/weights/course_tiny.pt" in names, names
    # every module of the checkout is in the wheel (pyproject.toml lists the packages one by one)
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "marlin_lite").rglob("*.py")}
    missing = sorted(modules - set(names))
    assert not missing, f"not in the wheel (add their packages to [tool.setuptools] packages in pyproject.toml): {missing}"
    site = base / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, text=True)
    return site


def _run(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_installed_copy_is_the_one_imported(installed, tmp_path):
    done = _run(["-c", "import marlin_lite, marlin_lite.course; print(marlin_lite.__file__); print(marlin_lite.course.REPO_ROOT)"],
                installed, tmp_path)
    assert done.returncode == 0, done.stderr
    module_file, root = done.stdout.split()
    assert Path(module_file).is_relative_to(installed), module_file
    assert Path(root) == tmp_path  # an installed copy reads relative paths from the working directory


def test_tiny_pretraining_runs_from_any_folder(installed, tmp_path):
    done = _run(["-m", "marlin_lite.pretrain", "--config", "tiny", "--max-steps", "2", "--out-dir", "run"], installed, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "run" / "checkpoint.pt").is_file() and (tmp_path / "run" / "metrics.jsonl").is_file()
    wrong = _run(["-m", "marlin_lite.pretrain", "--config", "tiniest", "--max-steps", "2"], installed, tmp_path)
    assert wrong.returncode != 0 and "tiniest" in wrong.stderr and "tiny" in wrong.stderr


def test_every_module_imports_from_the_installed_copy(installed, tmp_path):
    code = ("import importlib, pkgutil, marlin_lite; "
            "names = [m.name for m in pkgutil.walk_packages(marlin_lite.__path__, 'marlin_lite.') if not m.name.endswith('__main__')]; "
            "[importlib.import_module(n) for n in names]; print(len(names))")
    done = _run(["-c", code], installed, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout) >= 50


def test_the_course_checkpoint_loads_from_the_installed_copy(installed, tmp_path):
    done = _run(["-c", "from marlin_lite.encoders import load_encoder; e, i = load_encoder('course'); print(i['kind'], e.cfg.name)"],
                installed, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["course", "tiny"]
