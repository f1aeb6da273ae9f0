"""What every lesson builder shares: collect markdown and code cells, write the notebook."""

from __future__ import annotations

from pathlib import Path

import nbformat as nbf

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


class Lesson:
    """Cells in order; ``write(name)`` saves them as ``notebooks/<name>`` without outputs."""

    def __init__(self) -> None:
        self.cells: list = []

    def md(self, s: str) -> None:
        self.cells.append(nbf.v4.new_markdown_cell(s.strip("\n")))

    def code(self, s: str, tags: list[str] | None = None) -> None:
        c = nbf.v4.new_code_cell(s.strip("\n"))
        if tags:
            c.metadata["tags"] = tags
        self.cells.append(c)

    def write(self, name: str) -> None:
        nb = nbf.v4.new_notebook()
        nb.cells = self.cells
        nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
        nb.metadata["language_info"] = {"name": "python"}
        nbf.write(nb, NOTEBOOKS / name)
        print(f"wrote notebooks/{name}")
