"""Unit tests of marlin_lite.course on small synthetic notebooks."""

from __future__ import annotations

import json

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from marlin_lite import course
from marlin_lite.course import (
    STUDENT_PLACEHOLDER,
    NotebookExecutionError,
    error_cells,
    execute_notebook,
    exercises,
    lesson_notebooks,
    make_student_notebook,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def code(source: str, *tags: str, outputs=None, count=None) -> nbformat.NotebookNode:
    cell = new_code_cell(source, execution_count=count)
    if tags:
        cell.metadata["tags"] = list(tags)
    if outputs:
        cell.outputs = outputs
    return cell


def write(path: Path, *cells) -> Path:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


SOLUTION_DEF = '''\
import math


def area(r):
    """Area of a circle of radius r."""
    # BEGIN SOLUTION
    squared = r * r
    return math.pi * squared
    # END SOLUTION


print("defined")'''


def exercise_notebook() -> nbformat.NotebookNode:
    """markdown, setup, solution (def), a plain cell, self-check, solution (top level), self-check."""
    return new_notebook(cells=[
        new_markdown_cell("# Lesson\n\n# BEGIN SOLUTION in prose is fine"),
        code("x = 2", outputs=[new_output("stream", name="stdout", text="hi\n")], count=1),
        code(SOLUTION_DEF, "solution", outputs=[new_output("stream", name="stdout", text="defined\n")], count=2),
        code("y = area(1)"),
        code("assert abs(area(1) - 3.14159) < 1e-4", "self-check"),
        code("for i in range(2):\n    # BEGIN SOLUTION\n    x += i\n    # END SOLUTION\nprint(x)", "solution"),
        code("assert x == 3", "self-check"),
    ])


# ------------------------------------------------------------------------------------------
# lesson_notebooks
# ------------------------------------------------------------------------------------------
def test_lesson_notebooks_sorted_and_excludes_non_lessons(tmp_path: Path) -> None:
    nbs = tmp_path / "notebooks"
    for rel in ["10_later.ipynb", "02_early.ipynb", "00_welcome.ipynb", "scaled/03_gpu.ipynb",
                "notes.ipynb", "1_short.ipynb", ".ipynb_checkpoints/00_welcome-checkpoint.ipynb"]:
        write(nbs / rel, code("1"))
    (nbs / "05_not_a_notebook.py").write_text("")
    assert [p.name for p in lesson_notebooks(tmp_path)] == ["00_welcome.ipynb", "02_early.ipynb", "10_later.ipynb"]
    assert lesson_notebooks(tmp_path / "nowhere") == []


def test_lesson_notebooks_default_root_is_the_repo(repo_root: Path) -> None:
    assert course.REPO_ROOT == repo_root
    assert all(p.parent == repo_root / "notebooks" for p in lesson_notebooks())


def test_resolve_lessons_by_number_stem_and_path(tmp_path: Path) -> None:
    a = write(tmp_path / "notebooks" / "00_a.ipynb", code("1"))
    b = write(tmp_path / "notebooks" / "01_b.ipynb", code("1"))
    assert course._resolve_lessons(["01", "00_a"], tmp_path) == [b, a]
    assert course._resolve_lessons([str(a)], tmp_path) == [a]
    assert course._resolve_lessons([], tmp_path) == [a, b]
    with pytest.raises(ValueError, match="'07'.*00_a, 01_b"):
        course._resolve_lessons(["07"], tmp_path)


# ------------------------------------------------------------------------------------------
# exercises and student copies
# ------------------------------------------------------------------------------------------
def test_exercises_pairs_solution_with_its_self_check() -> None:
    assert exercises(exercise_notebook()) == [(2, 4), (5, 6)]
    assert exercises(new_notebook(cells=[code("1")])) == []


def test_exercises_reads_a_path_and_names_it_in_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "07_bad.ipynb", code("# BEGIN SOLUTION\nx = 1", "solution"), code("assert x", "self-check"))
    with pytest.raises(ValueError, match=r"07_bad\.ipynb, cell 0: .*never closed"):
        exercises(path)


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        ([code("# BEGIN SOLUTION\nx = 1", "solution"), code("assert x", "self-check")],
         r"lesson\.ipynb, cell 0: '# BEGIN SOLUTION' on line 1 is never closed"),
        ([code("x = 1\n# END SOLUTION", "solution"), code("assert x", "self-check")],
         r"cell 0: '# END SOLUTION' on line 2 has no '# BEGIN SOLUTION'"),
        ([code("# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION", "solution"), code("1", "self-check")],
         r"cell 0: '# BEGIN SOLUTION' on line 2 before"),
        ([code("y = 0"), code("# BEGIN SOLUTION\nx = 1\n# END SOLUTION", "solution"), code("print(x)")],
         r"cell 1: solution cell has no 'self-check' cell after it"),
        ([code("# BEGIN SOLUTION\nx = 1\n# END SOLUTION", "solution"),
          code("# BEGIN SOLUTION\nz = 1\n# END SOLUTION", "solution"), code("assert z", "self-check")],
         r"cell 0: solution cell has no 'self-check' cell before the next solution \(cell 1\)"),
        ([code("x = 1", "solution"), code("assert x", "self-check")],
         r"cell 0: tagged 'solution' but has no '# BEGIN SOLUTION'"),
        ([code("# BEGIN SOLUTION\nx = 1\n# END SOLUTION"), code("assert x", "self-check")],
         r"cell 0: has solution markers but is not tagged 'solution'"),
    ],
    ids=["missing-end", "end-without-begin", "nested-begin", "no-self-check", "next-solution-first",
         "no-markers", "untagged-markers"],
)
def test_exercises_errors_name_notebook_and_cell(cells, message) -> None:
    with pytest.raises(ValueError, match=message):
        exercises(new_notebook(cells=cells), name="lesson.ipynb")


def test_exercises_rejects_tagged_markdown() -> None:
    cell = new_markdown_cell("text")
    cell.metadata["tags"] = ["solution"]
    with pytest.raises(ValueError, match="cell 0: a markdown cell is tagged 'solution'"):
        exercises(new_notebook(cells=[cell]))


def test_make_student_notebook_replaces_regions_at_their_indentation() -> None:
    nb = exercise_notebook()
    before = nbformat.writes(nb)
    student = make_student_notebook(nb)
    assert nbformat.writes(nb) == before, "the input notebook must not be modified"

    assert student.cells[2].source == SOLUTION_DEF.replace(
        '    # BEGIN SOLUTION\n    squared = r * r\n    return math.pi * squared\n    # END SOLUTION',
        "    " + STUDENT_PLACEHOLDER)
    assert '"""Area of a circle of radius r."""' in student.cells[2].source
    assert student.cells[5].source == f"for i in range(2):\n    {STUDENT_PLACEHOLDER}\nprint(x)"
    assert "BEGIN SOLUTION" not in "".join(c.source for c in student.cells if c.cell_type == "code")

    # everything else is kept, outputs and counts are cleared, markdown untouched, tags kept
    for index in (1, 3, 4, 6):
        assert student.cells[index].source == nb.cells[index].source
    assert student.cells[0] == nb.cells[0]
    for cell in student.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
    assert student.cells[2].metadata["tags"] == ["exercise"]
    assert exercises(student) == [], "a student copy has no solution regions left"

    # the student function keeps its signature and raises when called
    namespace: dict = {}
    exec(student.cells[2].source, namespace)
    with pytest.raises(NotImplementedError, match="Exercise"):
        namespace["area"](1.0)


def test_make_student_notebook_validates_first() -> None:
    with pytest.raises(ValueError, match="self-check"):
        make_student_notebook(new_notebook(cells=[code("# BEGIN SOLUTION\n# END SOLUTION", "solution")]))


# ------------------------------------------------------------------------------------------
# executing
# ------------------------------------------------------------------------------------------
def test_execute_notebook_counts_env_and_no_timing(tmp_path: Path) -> None:
    (tmp_path / "data.txt").write_text("here")
    path = write(
        tmp_path / "three.ipynb",
        code("import os, sys\nprint(open('data.txt').read())"),
        code("print(sys.executable == {!r}, os.environ['PYTHONHASHSEED'])".format(sys.executable)),
        code("import matplotlib\nmatplotlib.get_backend()", outputs=[new_output("stream", name="stdout", text="stale")], count=9),
    )
    stale = nbformat.read(path, as_version=4)
    stale.cells[0].metadata["execution"] = {"iopub.status.busy": "2020-01-01T00:00:00"}
    nbformat.write(stale, path)

    nb, seconds = execute_notebook(path, tmp_path / "out" / "three.ipynb")
    assert seconds > 0
    assert [c.execution_count for c in nb.cells] == [1, 2, 3]
    assert all("execution" not in c.metadata for c in nb.cells)
    assert nb.metadata.kernelspec.name == "python3"
    assert nb.cells[0].outputs[0].text == "here\n", "the kernel runs in the notebook's folder"
    assert nb.cells[1].outputs[0].text == "True 0\n", "the kernel is this interpreter, hash seed 0"
    assert "matplotlib_inline" in nb.cells[2].outputs[0].data["text/plain"]
    assert error_cells(nb) == []
    written = nbformat.read(tmp_path / "out" / "three.ipynb", as_version=4)
    assert [c.execution_count for c in written.cells] == [1, 2, 3]
    assert nbformat.read(path, as_version=4).cells[2].execution_count == 9, "the source file is untouched"


def test_execute_notebook_runs_kernels_without_progress_bars(tmp_path: Path, monkeypatch) -> None:
    """Committed lesson outputs hold no progress bar: the kernel gets MARLIN_LITE_PROGRESS=0 even
    when this process has none, so marlin_lite.utils.progress_bar draws nothing (no widget, no stderr)."""
    monkeypatch.delenv("MARLIN_LITE_PROGRESS", raising=False)
    nb = new_notebook(cells=[
        code("import os\nprint(os.environ.get('MARLIN_LITE_PROGRESS'))"),
        code("from marlin_lite.utils import progress_bar\nprint(sum(progress_bar(range(3), desc='counting')))"),
    ])
    ran, _ = execute_notebook(nb, cwd=tmp_path)
    assert ran.cells[0].outputs[0].text == "0\n"
    assert [(o.output_type, o.get("text")) for o in ran.cells[1].outputs] == [("stream", "3\n")]


def test_execute_notebook_errors_filter_and_in_memory(tmp_path: Path) -> None:
    nb = new_notebook(cells=[
        code("a = 1"),
        code("raise ValueError('boom')"),
        code("print(a + 1)"),
        code("print('skipped')"),
    ])
    with pytest.raises(NotebookExecutionError) as info:
        execute_notebook(nb, cwd=tmp_path)
    assert info.value.cell_index == 1
    assert info.value.summary == "cell 1: ValueError: boom"
    assert "ValueError" in str(info.value)

    ran, _ = execute_notebook(nb, cwd=tmp_path, allow_errors=True, cell_filter=lambda i, cell: i < 3)
    assert error_cells(ran) == [1]
    assert ran.cells[2].outputs[0].text == "2\n"
    assert ran.cells[3].outputs == [] and ran.cells[3].execution_count is None
    assert [c.execution_count for c in ran.cells[:3]] == [1, 2, 3]


PLOT = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(2, 2))\nax.plot([0, 1], [1, 0])\nplt.show()"


def test_run_writes_copies_and_extracts_png_figures(tmp_path: Path, capsys) -> None:
    path = write(tmp_path / "nbs" / "00_plot.ipynb", new_markdown_cell("# plot"), code("print('hello')"), code(PLOT))
    out = tmp_path / "course"
    assert course.main(["run", str(path), "--out", str(out)]) == 0
    figure = out / "figures" / "00_plot" / "cell02_0.png"
    assert figure.read_bytes().startswith(PNG_MAGIC)
    executed = nbformat.read(out / "00_plot.ipynb", as_version=4)
    assert executed.cells[1].outputs[0].text == "hello\n"
    printed = capsys.readouterr().out
    assert re.search(r"00_plot\s+ok\s+\d+\.\d\s+1\n", printed), printed
    assert "total: 1 notebook(s), 1 ok, 0 failed" in printed


def test_run_keeps_going_after_a_failure(tmp_path: Path, capsys) -> None:
    bad = write(tmp_path / "nbs" / "00_bad.ipynb", code("1 / 0"))
    good = write(tmp_path / "nbs" / "01_good.ipynb", code(PLOT))
    out = tmp_path / "course"
    assert course.main(["run", str(bad), str(good), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert re.search(r"00_bad\s+FAILED", captured.out)
    assert re.search(r"01_good\s+ok", captured.out)
    assert "total: 2 notebook(s), 1 ok, 1 failed" in captured.out
    assert "cell 0: ZeroDivisionError" in captured.err
    assert (out / "00_bad.ipynb").exists(), "the failed copy is kept to read the error"
    assert (out / "figures" / "01_good" / "cell00_0.png").exists()


def test_execute_command_rewrites_in_place_or_leaves_it(tmp_path: Path) -> None:
    path = write(tmp_path / "00_a.ipynb", code("x = 40"), code(""), code("x + 2", outputs=[new_output("stream", name="stdout", text="old")], count=7))
    assert course.main(["execute", str(path)]) == 0
    nb = nbformat.read(path, as_version=4)
    assert [c.execution_count for c in nb.cells] == [1, None, 2]
    assert nb.cells[2].outputs[0].data["text/plain"] == "42"
    assert nb.metadata.kernelspec.name == "python3"
    assert "execution" not in nb.cells[0].metadata

    bad = write(tmp_path / "01_b.ipynb", code("print(1)", outputs=[new_output("stream", name="stdout", text="kept")]), code("undefined_name"))
    before = bad.read_text()
    assert course.main(["execute", str(bad)]) == 1
    assert bad.read_text() == before


def test_execute_starts_each_lesson_from_an_empty_runs_folder_unless_told_to_reuse_it(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "runs" / "old").mkdir(parents=True)
    (repo / "runs" / "old" / "marker").write_text("trained earlier")
    (repo / "configs").mkdir()
    (repo / "configs" / "recipe.yaml").write_text("steps: 3\n")
    (repo / "notebooks").mkdir()
    (repo / "notebooks" / "data.txt").write_text("beside the lesson")
    lesson = write(repo / "notebooks" / "00_runs.ipynb", code(
        "from pathlib import Path\n"
        "print(Path('../runs/old/marker').exists(), Path('../configs/recipe.yaml').read_text().strip(), Path('data.txt').read_text())\n"
        "Path('../runs/new').mkdir(parents=True, exist_ok=True); Path('../runs/new/out.txt').write_text('x')"))

    assert course.main(["execute", str(lesson)]) == 0
    assert nbformat.read(lesson, as_version=4).cells[0].outputs[0].text == "False steps: 3 beside the lesson\n"
    assert (repo / "runs" / "old" / "marker").read_text() == "trained earlier"  # the real runs/ untouched
    assert not (repo / "runs" / "new").exists(), "a fresh run's files stay in its scratch folder"
    times = json.loads((repo / "notebooks" / "run_times.json").read_text())
    assert set(times) == {"00_runs"}

    (repo / "notebooks" / "run_times.json").unlink()
    assert course.main(["execute", "--reuse-runs", str(lesson)]) == 0
    assert nbformat.read(lesson, as_version=4).cells[0].outputs[0].text == "True steps: 3 beside the lesson\n"
    assert (repo / "runs" / "new" / "out.txt").is_file()
    assert not (repo / "notebooks" / "run_times.json").exists(), "a run that reused runs/ is not a fresh machine's time"

    out = tmp_path / "built"
    assert course.main(["run", "--fresh", str(lesson), "--out", str(out)]) == 0
    assert nbformat.read(out / "00_runs.ipynb", as_version=4).cells[0].outputs[0].text.startswith("False")


def test_execute_without_symbolic_links_names_the_way_out(tmp_path: Path, monkeypatch, capsys) -> None:
    lesson = write(tmp_path / "notebooks" / "00_x.ipynb", code("1 + 1"))
    before = lesson.read_text()

    def refuse(self, target, target_is_directory=False):
        raise OSError(1, "Operation not permitted")

    monkeypatch.setattr(Path, "symlink_to", refuse)
    assert course.main(["execute", str(lesson)]) == 2
    err = capsys.readouterr().err
    assert "cannot mirror" in err and "--reuse-runs" in err and lesson.read_text() == before


def test_student_and_list_commands(tmp_path: Path, capsys) -> None:
    path = tmp_path / "00_ex.ipynb"
    nbformat.write(exercise_notebook(), path)
    out = tmp_path / "student"
    assert course.main(["student", str(path), "--out", str(out)]) == 0
    assert "(2 exercise(s))" in capsys.readouterr().out
    student = nbformat.read(out / "00_ex.ipynb", as_version=4)
    assert STUDENT_PLACEHOLDER in student.cells[2].source
    assert course.main(["list", str(path)]) == 0
    assert "2 exercise(s)" in capsys.readouterr().out
    assert course.main(["run", "99_missing"]) == 2


def test_module_runs_as_a_command() -> None:
    result = subprocess.run([sys.executable, "-m", "marlin_lite.course", "--help"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0
    for command in ("run", "execute", "student", "list"):
        assert command in result.stdout


# ------------------------------------------------------------------------------------------
# nbval sanitizers
# ------------------------------------------------------------------------------------------
def sanitize(repo_root: Path, text: str) -> str:
    from nbval.plugin import get_sanitize_patterns

    patterns = get_sanitize_patterns((repo_root / "tests" / "nbval_sanitize.cfg").read_text(encoding="utf-8"))
    assert patterns, "no regex/replace pairs parsed"
    for regex, replace in patterns:
        text = re.sub(regex, replace, text)
    return text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100%|##########| 10/10 [00:01<00:00,  9.50it/s]", "PROGRESS-BAR"),
        ("train:  37%|###7      | 37/100 [01:02<1:03:04,  1.23s/it, loss=0.3]", "train:  PROGRESS-BAR"),
        ("5it [00:00, 12.3it/s]", "PROGRESS-BAR"),
        ("took 1.23 s, then 0.5ms and 12 \u00b5s", "took DURATION, then DURATION and DURATION"),
        ("812.4 clips/s", "RATE"),
        ("<Foo object at 0x7f3a2b1c4d90>", "<Foo object at 0xADDRESS>"),
        ("/home/u/x/.venv/lib/python3.11/site-packages/torch/nn/f.py:3: UserWarning", "SITE-PACKAGES/torch/nn/f.py:3: UserWarning"),
        ("saved /tmp/pytest-of-u/pytest-3/ckpt.pt", "saved TMP-PATH"),
        ("PosixPath('/Users/alice/marlin-lite/notebooks/a.mp4')", "PosixPath('REPO/notebooks/a.mp4')"),
        # left alone: ordinary numbers, shapes, ratios, frame rates, short hex, relative paths, slices
        ("loss 0.1234 after 3 steps, 2 samples, epoch 3/10", None),
        ("shape (2, 3, 16, 112, 112) at 25 fps; flags 0xff", None),
        ("notebooks/00_welcome.ipynb x[0:3] 10:30 [1:20]", None),
    ],
)
def test_sanitizers_are_conservative(repo_root: Path, text: str, expected: str | None) -> None:
    assert sanitize(repo_root, text) == (text if expected is None else expected)


def test_merge_streams_joins_consecutive_chunks():
    from marlin_lite.course import merge_streams

    outs = [
        {"output_type": "stream", "name": "stdout", "text": "a\n"},
        {"output_type": "stream", "name": "stdout", "text": "b\n"},
        {"output_type": "stream", "name": "stderr", "text": "warn\n"},
        {"output_type": "display_data", "data": {}, "metadata": {}},
        {"output_type": "stream", "name": "stdout", "text": "c\n"},
    ]
    merged = merge_streams(outs)
    assert [o.get("text") for o in merged] == ["a\nb\n", "warn\n", None, "c\n"]


def test_interact_checks_an_explorer_over_every_control_value(monkeypatch):
    """With MARLIN_LITE_CHECK_WIDGETS set, course.interact calls the explorer with the defaults,
    then each other value of each control (slider ends, menu and list options, check box both
    ways); an explorer that breaks on one of them fails loudly. Without it only ipywidgets calls
    it (once, catching errors itself)."""
    import ipywidgets as widgets

    from marlin_lite.course import CHECK_WIDGETS_ENV, interact

    calls = []

    def explore(n=3, kind="b", scale=0.5, flag=False, fixed=7, pair="y"):
        calls.append((n, kind, scale, flag, fixed, pair))
        if kind == "boom":
            raise IndexError("no such kind")

    controls = dict(n=widgets.IntSlider(value=3, min=0, max=9), kind=["a", "b"], scale=widgets.FloatSlider(value=0.5, min=0.1, max=1.0),
                    flag=widgets.Checkbox(value=False), fixed=(0, 10), pair=widgets.Dropdown(options=[("X", "x"), ("Y", "y")], value="y"))
    monkeypatch.setenv(CHECK_WIDGETS_ENV, "1")
    interact(explore, **controls)
    base = (3, "b", 0.5, False, 7, "y")
    swept = calls[: len(calls) - 1]  # the last call is ipywidgets' own, with the widgets' values
    assert swept[0] == base
    assert set(swept[1:]) == {(0, "b", 0.5, False, 7, "y"), (9, "b", 0.5, False, 7, "y"), (3, "a", 0.5, False, 7, "y"),
                              (3, "b", 0.1, False, 7, "y"), (3, "b", 1.0, False, 7, "y"), (3, "b", 0.5, True, 7, "y"),
                              (3, "b", 0.5, False, 7, "x")}
    assert len(swept) == 8
    with pytest.raises(RuntimeError, match=r"explorer explore\(.*'kind': 'boom'.*IndexError: no such kind"):
        interact(explore, kind=["b", "boom"])

    calls.clear()
    monkeypatch.delenv(CHECK_WIDGETS_ENV)
    interact(explore, kind=["b", "boom"])  # ipywidgets swallows errors: only the check catches them
    assert calls == [base]
