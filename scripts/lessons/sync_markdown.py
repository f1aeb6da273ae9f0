"""Give an executed lesson notebook its builder's markdown, keeping its code cells as executed.

    python scripts/lessons/sync_markdown.py 04 06 07 08        (or full names: 04_pretraining ...)

For each lesson:
1. back up the executed notebook to runs/notebook_backups/<name>.<timestamp>.ipynb;
2. run scripts/lessons/buildNN.py with nbformat.write redirected to a temporary file, so the
   builder never overwrites the executed notebook (the file is checked to be unchanged after);
3. assert that the builder's sequence of code-cell sources (and tags) equals the executed
   notebook's, and abort otherwise;
4. write a notebook whose code cells are the executed notebook's cells, untouched (source,
   outputs, metadata, execution_count, id), and whose markdown cells are the builder's, in the
   builder's order. A markdown cell keeps the id and metadata of the executed markdown cell at
   the same place in the same stretch between two code cells, when there is one.
The notebook-level metadata and format version are the executed notebook's.
"""

from __future__ import annotations

import copy
import hashlib
import runpy
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
BUILDERS = ROOT / "scripts" / "lessons"
BACKUP = ROOT / "runs" / "notebook_backups"


def build(tag: str):
    """Run buildTAG.py with nbformat.write sent to a temporary file; return (notebook name, built notebook)."""
    captured = {}
    real_write = nbformat.write
    tmp = Path(tempfile.mkdtemp(prefix=f"build{tag}_"))

    def redirected(nb, path, *args, **kwargs):
        target = tmp / Path(path).name
        captured["name"] = Path(path).name
        real_write(nb, target, *args, **kwargs)

    nbformat.write = redirected
    try:
        runpy.run_path(str(BUILDERS / f"build{tag}.py"), run_name="__main__")
    finally:
        nbformat.write = real_write
    name = captured["name"]
    return name, nbformat.read(tmp / name, as_version=4)


def segments(cells):
    """Markdown cells grouped by the number of code cells before them: {k: [markdown cells]}."""
    out, k = {}, 0
    for c in cells:
        if c.cell_type == "code":
            k += 1
        else:
            out.setdefault(k, []).append(c)
    return out


def code_key(c):
    return c.source, list(c.metadata.get("tags", []))


def sync(arg: str) -> None:
    tag = arg.split("_")[0]
    name, built = build(tag)
    path = NOTEBOOKS / name
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    BACKUP.mkdir(parents=True, exist_ok=True)
    backup = BACKUP / f"{path.stem}.{time.strftime('%Y%m%d-%H%M%S')}.ipynb"
    shutil.copyfile(path, backup)
    executed = nbformat.read(path, as_version=4)

    built_code = [code_key(c) for c in built.cells if c.cell_type == "code"]
    exec_code = [code_key(c) for c in executed.cells if c.cell_type == "code"]
    if built_code != exec_code:
        for i, (b, e) in enumerate(zip(built_code, exec_code)):
            if b != e:
                sys.exit(f"{name}: code cell {i} differs between builder and executed notebook; aborting")
        sys.exit(f"{name}: {len(built_code)} code cells in the builder, {len(exec_code)} executed; aborting")

    old_md = segments(executed.cells)
    exec_code_cells = iter([c for c in executed.cells if c.cell_type == "code"])
    cells, k, j = [], 0, 0
    for c in built.cells:
        if c.cell_type == "code":
            cells.append(next(exec_code_cells))  # the executed cell itself, outputs and all
            k, j = k + 1, 0
            continue
        md = nbformat.v4.new_markdown_cell(c.source)
        previous = old_md.get(k, [])
        if j < len(previous):  # keep the id (and metadata) of the markdown cell this one replaces
            md.id = previous[j].id
            md.metadata = copy.deepcopy(previous[j].metadata)
        md.metadata.update(copy.deepcopy(c.metadata))
        cells.append(md)
        j += 1
    ids = [c.id for c in cells]
    assert len(ids) == len(set(ids)), "duplicate cell ids"

    out = copy.deepcopy(executed)
    out.cells = cells
    nbformat.validate(out)
    assert path.read_bytes() == raw and hashlib.sha256(raw).hexdigest() == digest, "the executed notebook changed under us"
    nbformat.write(out, path)

    # checks: code cells untouched, markdown exactly the builder's
    again = nbformat.read(path, as_version=4)
    assert [c for c in again.cells if c.cell_type == "code"] == [c for c in executed.cells if c.cell_type == "code"]
    assert [(c.cell_type, c.source) for c in again.cells] == [(c.cell_type, c.source) for c in built.cells]
    n_md = sum(c.cell_type == "markdown" for c in again.cells)
    print(f"{name}: {len(exec_code)} code cells kept as executed, {n_md} markdown cells from the builder (backup {backup})")


if __name__ == "__main__":
    for a in sys.argv[1:]:
        sync(a)
