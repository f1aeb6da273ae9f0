"""Every lesson has a builder in scripts/lessons/, and the builder makes exactly its cells."""

from __future__ import annotations

import json
import runpy

import nbformat
import pytest


def _builders(root):
    return sorted((root / "scripts" / "lessons").glob("build*.py"))


def test_every_lesson_has_a_builder(repo_root):
    lessons = sorted(p.name for p in (repo_root / "notebooks").glob("[0-9][0-9]*.ipynb"))
    built = []
    for b in _builders(repo_root):
        tag = b.stem.removeprefix("build")
        built += [n for n in lessons if n.split("_")[0] == tag]
    assert sorted(built) == lessons, f"lessons without a builder: {sorted(set(lessons) - set(built))}"


@pytest.mark.parametrize("name", [p.name for p in _builders(__import__("pathlib").Path(__file__).resolve().parents[1])])
def test_builder_matches_committed_cells(repo_root, name, monkeypatch):
    captured = {}
    monkeypatch.setattr(nbformat, "write", lambda nb, path, *a, **k: captured.update(nb=nb, path=path))
    runpy.run_path(str(repo_root / "scripts" / "lessons" / name), run_name="__main__")
    committed = json.loads(open(captured["path"]).read())
    built = [(c.cell_type, c.source, list(c.metadata.get("tags", []))) for c in captured["nb"].cells]
    saved = [(c["cell_type"], "".join(c["source"]), list(c.get("metadata", {}).get("tags", []))) for c in committed["cells"]]
    assert built == saved, f"{name} and {captured['path']} differ: rebuild and re-execute the lesson (scripts/lessons/README.md)"
