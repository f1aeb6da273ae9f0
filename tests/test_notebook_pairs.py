"""Every notebook under notebooks/ is a jupytext pair: NN_topic.ipynb (with its outputs, what
nbval checks) and NN_topic.py (py:percent, the same cells without outputs). JupyterLab with
jupytext saves both; `jupytext --sync notebooks/NN_topic.py` updates one from the other
(CONTRIBUTING.md). These tests fail when a pair is out of step."""

from __future__ import annotations

import shutil
from pathlib import Path

import jupytext
import pytest
from jupytext.config import load_jupytext_config
from jupytext.paired_paths import paired_paths

from marlin_lite import course

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


def paired_notebooks(folder: Path) -> list[Path]:
    """The lessons (``NN*.ipynb``) and the scaled notebooks: every notebook that has a pair."""
    return sorted(folder.glob("[0-9][0-9]*.ipynb")) + sorted((folder / "scaled").glob("*.ipynb"))


def orphan_scripts(folder: Path) -> list[str]:
    """The ``.py`` files below ``folder`` without a notebook of the same name beside them."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.py") if not p.with_suffix(".ipynb").is_file())


NAMES = [p.relative_to(NOTEBOOKS).as_posix() for p in paired_notebooks(NOTEBOOKS)]


def test_the_lessons_and_scaled_notebooks_are_all_there():
    assert len([n for n in NAMES if not n.startswith("scaled/")]) == len(course.lesson_notebooks(REPO)) >= 12
    assert {"scaled/pretrain.ipynb", "scaled/downstream.ipynb"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_jupytext_pairs_the_notebook_with_a_percent_script(name):
    """notebooks/jupytext.toml is the configuration jupytext finds for this path (the CLI and
    JupyterLab look it up the same way), and it pairs the notebook with ``<name>.py``."""
    path = NOTEBOOKS / name
    config = load_jupytext_config(str(path))
    assert config is not None, f"jupytext finds no configuration for {name} (notebooks/jupytext.toml)"
    assert config.formats == ["ipynb,py:percent"]
    pairs = paired_paths(str(path), "ipynb", config.formats[0])
    assert [(Path(p).name, fmt.get("format_name")) for p, fmt in pairs] == [(path.name, None), (path.with_suffix(".py").name, "percent")]


@pytest.mark.parametrize("name", NAMES)
def test_the_pair_holds_the_same_cells(name):
    """Reading the .py with jupytext gives the .ipynb's cells: type, source and tags, in order."""
    path = NOTEBOOKS / name
    assert course.paired_script(path).is_file(), f"{name} has no paired .py: run `jupytext --sync notebooks/{name}`"
    differences = course.pair_differences(path)
    assert not differences, (
        f"notebooks/{name} and its .py differ: {differences}. Run `jupytext --sync` on the file you edited last "
        "(CONTRIBUTING.md), then re-execute the notebook if code changed")


def test_no_script_without_its_notebook():
    assert orphan_scripts(NOTEBOOKS) == [], "a .py in notebooks/ without its .ipynb: delete it or pair it"


# The check itself: it must see every kind of drift (a check that passes anyway checks nothing).


@pytest.fixture
def pair(tmp_path: Path) -> Path:
    """Lesson 01's notebook in a temporary folder, paired with a .py that jupytext writes from
    it (as `jupytext --sync` does); returns the .ipynb."""
    path = tmp_path / "01_tube_masking.ipynb"
    shutil.copyfile(NOTEBOOKS / path.name, path)
    jupytext.write(jupytext.read(path), course.paired_script(path), fmt="py:percent")
    assert course.pair_differences(path) == []
    return path


@pytest.mark.parametrize(
    "old, new, expected",
    [
        ("# *Run time: well under a minute", "# *Run time: under a minute", "cell 0: source differ"),  # markdown
        ("SEED = 0\n", "SEED = 1\n", "cell 1: source differ"),  # code
        ('# %% tags=["parameters"]', "# %%", "cell 1: tags differ"),  # a tag
        ('# %% tags=["parameters"]\n', '# %% [markdown]\n# a new cell\n\n# %% tags=["parameters"]\n', "has 40 cells, 01_tube_masking.py 41"),
    ],
    ids=["markdown", "code", "tag", "extra-cell"],
)
def test_a_pair_out_of_step_is_caught(pair, old, new, expected):
    script = course.paired_script(pair)
    text = script.read_text(encoding="utf-8")
    assert text.count(old) == 1
    script.write_text(text.replace(old, new, 1), encoding="utf-8")
    differences = course.pair_differences(pair)
    assert any(expected in d for d in differences), differences


def test_a_missing_script_and_an_orphan_are_caught(pair):
    folder = pair.parent
    course.paired_script(pair).rename(folder / "01_renamed.py")
    assert course.pair_differences(pair) == ["01_tube_masking.py is missing"]
    assert orphan_scripts(folder) == ["01_renamed.py"]


def test_execute_refuses_a_pair_out_of_step(pair, capsys):
    """`python -m marlin_lite.course execute` runs the .ipynb: with an unsynced edit in the .py
    it would run the old code, and the freshly written .ipynb would then win the next sync."""
    script = course.paired_script(pair)
    script.write_text(script.read_text(encoding="utf-8").replace("SEED = 0\n", "SEED = 1\n", 1), encoding="utf-8")
    before = pair.read_bytes()
    assert course.main(["execute", str(pair)]) == 1
    assert pair.read_bytes() == before
    err = capsys.readouterr().err
    assert "cell 1: source differ" in err and "jupytext --sync" in err
