"""What every lesson builder shares: collect markdown and code cells, write the notebook."""

from __future__ import annotations

from pathlib import Path

import nbformat as nbf

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def own_encoder_help(notebook: str) -> str:
    """The appendix paragraph of lessons 07-08 on running a lesson with your own encoder
    (``WEIGHTS``), with the commands for ``notebook``; ends with a blank line."""
    return f"""**Your own encoder.** With `WEIGHTS = "train"`, `lesson_model` calls
`ensure_pretrained(load_config(CONFIG, out_dir=OUT_DIR))`: it loads the finished run in
`OUT_DIR`, resumes it if it stopped, or trains it (the course recipe: the training time printed
above). Any other value is read as the path of a checkpoint (`checkpoint.pt` of a run). From a terminal, at the repository root:

```bash
python -m marlin_lite.pretrain --config configs/course.yaml    # trains (or resumes) runs/course
papermill notebooks/{notebook} out.ipynb --cwd notebooks -p WEIGHTS train   # this lesson on it
python -m marlin_lite.course_weights export runs/course --out my.pt   # optional: package it as the course checkpoint is
```

"""


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

    def full_report(self, task: str, intro: str) -> None:
        """The section lessons 06-09 share: the lesson's own ``intro`` (markdown: what the
        full-size transfer report is, for its task), and a cell that reads the report
        (``docs/results.json``) and prints and draws ``task``'s rows."""
        self.md(intro)
        self.code(f"""
full = load_results(FULL_REPORT)
prov = full["provenance"]
print(prov['command'])
print(f"commit {{prov['git_commit'][:12]}}, encoder sha256 {{prov['encoder_sha256'][:16]}}..., seeds {{full['seeds']}}")
if WEIGHTS == "course":  # the report is about this lesson's encoder
    assert prov["encoder_sha256"] == course_record()["sha256"], "docs/results.json was made with another checkpoint"
print()
print(task_table(full, "{task}"))
fig, ax = plt.subplots(figsize=(8, 4))
plot_task(ax, full, "{task}")
ax.legend(fontsize=7, loc="best")
plt.show()
print(differences_table(full, "{task}"))
""")

    def write(self, name: str) -> None:
        nb = nbf.v4.new_notebook()
        nb.cells = self.cells
        nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
        nb.metadata["language_info"] = {"name": "python"}
        nbf.write(nb, NOTEBOOKS / name)
        print(f"wrote notebooks/{name}")
