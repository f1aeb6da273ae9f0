"""Every lesson's exercises work as a classroom exercise.

For each ``notebooks/NN_topic.ipynb`` (see CONTRIBUTING.md, "Exercises"):

* it has at least one exercise (a ``solution`` cell followed by a ``self-check`` cell);
* the student copy (solutions replaced by ``raise NotImplementedError``) runs its setup fine and
  fails every self-check: a self-check that passes without the solution checks nothing;
* the lesson itself (with its solutions) passes every self-check: nbval checks that, since it runs
  every lesson with its solutions and fails on any cell that raises (a self-check raises
  ``AssertionError``), so this file does not run the solved lesson a second time.

The student run stops after the last self-check cell to save time.
With no lessons yet, the parametrization is empty and pytest reports one skip.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from marlin_lite.course import error_cells, execute_notebook, exercises, lesson_notebooks, make_student_notebook

LESSONS = lesson_notebooks()


def _run_through_last_self_check(nb: nbformat.NotebookNode, last: int, cwd: Path) -> nbformat.NotebookNode:
    executed, _ = execute_notebook(nb, cwd=cwd, allow_errors=True, cell_filter=lambda index, cell: index <= last)
    return executed


def _describe(nb: nbformat.NotebookNode, indices: list[int]) -> str:
    lines = []
    for index in indices:
        for out in nb.cells[index].outputs:
            if out.output_type == "error":
                lines.append(f"cell {index}: {out.ename}: {out.evalue}")
    return "; ".join(lines) or "none"


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_student_copies_fail_every_self_check(lesson: Path) -> None:
    nb = nbformat.read(lesson, as_version=4)
    pairs = exercises(nb, name=lesson.name)
    assert pairs, f"{lesson.name} has no exercise (a `solution` cell followed by a `self-check` cell)"
    first_solution = pairs[0][0]
    self_checks = [check for _, check in pairs]
    last = max(self_checks)

    student = _run_through_last_self_check(make_student_notebook(nb, name=lesson.name), last, lesson.parent)
    errored = error_cells(student)
    assert not errored or errored[0] >= first_solution, (
        f"{lesson.name} (student copy): the setup before the first exercise (cell {first_solution}) "
        f"failed: {_describe(student, errored[:1])}")
    passing = [check for check in self_checks if check not in errored]
    assert not passing, (
        f"{lesson.name} (student copy): self-check cell(s) {passing} pass without the solution; "
        "a self-check must fail (AssertionError) until the exercise is solved")
