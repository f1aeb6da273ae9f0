"""Notebook tooling for the course: run the lessons, regenerate their outputs, make student copies.

The lessons are ``notebooks/NN_topic.ipynb`` (``notebooks/scaled/`` holds the papermill notebooks
for GPUs and is never a lesson). Everything here is importable and also a command line::

    python -m marlin_lite.course list                      # the lessons and their exercises
    python -m marlin_lite.course run [LESSON ...]          # execute into build/course, save figures
    python -m marlin_lite.course execute [LESSON ...]      # re-execute IN PLACE (commit the outputs);
                                                           # refused while the paired .py differs
    python -m marlin_lite.course student [LESSON ...]      # student copies into build/student
    python -m marlin_lite.course site [LESSON ...]         # the executed lessons as HTML in build/site
                                                           # (marlin_lite.site; runs nothing)

A LESSON is a path to a notebook, a stem (``00_welcome_and_data``) or its number (``00``).

Classroom scheme
----------------
An exercise is a code cell tagged ``solution`` (cell metadata tags) followed, before the next
solution cell, by a code cell tagged ``self-check`` that raises ``AssertionError`` when the work
is wrong. Inside a solution cell the lines between ``# BEGIN SOLUTION`` and ``# END SOLUTION``
are the solution; the student copy replaces each such region (markers included) with one
``raise NotImplementedError(...)`` line indented like the ``# BEGIN SOLUTION`` marker, so a
function keeps its signature and docstring and raises when it is called; its tag becomes
``exercise``. The committed lesson keeps the markers: they are comments.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import functools
import inspect
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode

from marlin_lite.site import build_site, cell_source, record_run_time
from marlin_lite.utils import PROGRESS_ENV, project_root, reproducible_cpu_env

__all__ = [
    "REPO_ROOT",
    "STUDENT_PLACEHOLDER",
    "NotebookExecutionError",
    "lesson_notebooks",
    "execute_notebook",
    "error_cells",
    "extract_figures",
    "exercises",
    "make_student_notebook",
    "paired_script",
    "cell_signature",
    "pair_differences",
    "interact",
    "CHECK_WIDGETS_ENV",
    "main",
]

REPO_ROOT = project_root()
"""The repository root (the folder that holds ``notebooks/`` and ``marlin_lite/``)."""

STUDENT_PLACEHOLDER = 'raise NotImplementedError("Exercise: replace this line with your solution")'
"""The line that replaces each solution region in a student copy."""

SOLUTION_TAG = "solution"
SELF_CHECK_TAG = "self-check"
EXERCISE_TAG = "exercise"  # what a solution cell is tagged in a student copy
KERNEL_NAME = "python3"
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"

_BEGIN = re.compile(r"^(?P<indent>[ \t]*)#\s*BEGIN SOLUTION\s*$")
_END = re.compile(r"^[ \t]*#\s*END SOLUTION\s*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


# --------------------------------------------------------------------------------------------
# Finding lessons
# --------------------------------------------------------------------------------------------
def lesson_notebooks(root: str | Path | None = None) -> list[Path]:
    """The lesson notebooks ``<root>/notebooks/[0-9][0-9]*.ipynb``, sorted by name.

    ``root`` defaults to the repository this module lives in. ``notebooks/scaled/`` (papermill
    notebooks for GPUs) and checkpoints are not lessons and never listed. A missing
    ``notebooks/`` folder gives an empty list.
    """
    base = Path(root) if root is not None else REPO_ROOT
    folder = base / "notebooks"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("[0-9][0-9]*.ipynb") if p.is_file())


def _resolve_lessons(names: Sequence[str], root: Path | None = None) -> list[Path]:
    """Turn CLI names (paths, stems or numbers) into notebook paths; no names -> every lesson."""
    lessons = lesson_notebooks(root)
    if not names:
        return lessons
    resolved: list[Path] = []
    for name in names:
        path = Path(name)
        if path.suffix == ".ipynb" and path.is_file():
            resolved.append(path)
            continue
        matches = [p for p in lessons if p.stem == name or p.stem.split("_", 1)[0] == name]
        if len(matches) != 1:
            known = ", ".join(p.stem for p in lessons) or "none"
            what = "matches several lessons" if matches else "is neither a notebook file nor a lesson"
            raise ValueError(f"lesson {name!r} {what} (lessons: {known})")
        resolved.append(matches[0])
    return resolved


def _read(nb_or_path: NotebookNode | str | Path) -> tuple[NotebookNode, str]:
    if isinstance(nb_or_path, (str, Path)):
        path = Path(nb_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"notebook {str(path)!r} does not exist")
        return nbformat.read(path, as_version=4), str(path)
    return nb_or_path, "<notebook>"


def _tags(cell: NotebookNode) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _clear_cell(cell: NotebookNode) -> None:
    """Drop outputs, execution count and timing metadata of a code cell (in place)."""
    if cell.cell_type == "code":
        cell.outputs = []
        cell.execution_count = None
    cell.get("metadata", {}).pop("execution", None)


# --------------------------------------------------------------------------------------------
# Paired py:percent files (notebooks/jupytext.toml)
# --------------------------------------------------------------------------------------------
def paired_script(path: str | Path) -> Path:
    """The py:percent file that jupytext pairs with the notebook ``path``: same folder, same
    name, ``.py`` (``notebooks/jupytext.toml`` pairs every notebook below ``notebooks/``)."""
    return Path(path).with_suffix(".py")


def cell_signature(nb: NotebookNode) -> list[tuple[str, str, list[str]]]:
    """``(cell_type, source, tags)`` of every cell, in order: what a notebook and its paired
    ``.py`` hold in common (outputs and execution counts live in the ``.ipynb`` only)."""
    return [(cell.cell_type, cell_source(cell), _tags(cell)) for cell in nb.cells]


def pair_differences(path: str | Path) -> list[str]:
    """Where the notebook ``path`` and its paired ``.py`` (:func:`paired_script`) disagree, as
    sentences; empty when both hold the same cells (:func:`cell_signature`). The ``.py`` is read
    as jupytext reads it (``py:percent``); a missing ``.py`` is one difference."""
    import jupytext

    path = Path(path)
    script = paired_script(path)
    if not script.is_file():
        return [f"{script.name} is missing"]
    ours = cell_signature(nbformat.read(path, as_version=4))
    theirs = cell_signature(jupytext.read(script, fmt="py:percent"))
    problems = []
    for index, (a, b) in enumerate(zip(ours, theirs)):
        what = [name for name, x, y in zip(("cell type", "source", "tags"), a, b) if x != y]
        if what:
            problems.append(f"cell {index}: {' and '.join(what)} differ between {path.name} and {script.name}")
    if len(ours) != len(theirs):
        problems.append(f"{path.name} has {len(ours)} cells, {script.name} {len(theirs)}")
    return problems


# --------------------------------------------------------------------------------------------
# Executing
# --------------------------------------------------------------------------------------------
class NotebookExecutionError(RuntimeError):
    """A cell of a notebook raised (or timed out, or the kernel died).

    Attributes: ``nb`` (the notebook as far as it ran), ``seconds``, ``cell_index`` (or None),
    ``summary`` (one line: ``cell N: Ename: evalue``).
    """

    def __init__(self, message: str, *, nb: NotebookNode, seconds: float,
                 cell_index: int | None, summary: str) -> None:
        super().__init__(message)
        self.nb = nb
        self.seconds = seconds
        self.cell_index = cell_index
        self.summary = summary


@functools.lru_cache(maxsize=None)
def _client_classes():
    """NotebookClient / KernelManager subclasses, built lazily (nbclient imports are slow)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient
    from traitlets import default

    class CurrentEnvKernelSpecManager(KernelSpecManager):
        """``python3`` is always ipykernel on *this* interpreter (``sys.executable``).

        An installed ``python3`` kernelspec (e.g. in ~/.local/share/jupyter) could point at
        another Python; the course must run in the environment it was installed into.
        """

        def get_kernel_spec(self, kernel_name):
            if kernel_name == KERNEL_NAME:
                from ipykernel.kernelspec import RESOURCES, get_kernel_dict

                return self.kernel_spec_class(resource_dir=RESOURCES, **get_kernel_dict())
            return super().get_kernel_spec(kernel_name)

    class CurrentEnvKernelManager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _kernel_spec_manager_default(self):
            return CurrentEnvKernelSpecManager(data_dir=self.data_dir)

        @default("transport_encryption")
        def _transport_encryption_default(self):
            # Encrypt the local kernel connection when libzmq can (and keep ipykernel from
            # warning about plain TCP on every start); older jupyter_client lacks the trait.
            import zmq

            return "auto" if zmq.has("curve") else "disabled"

    class FilteringClient(NotebookClient):
        """Runs only the cells that ``keep(index, cell)`` accepts; the others are left empty."""

        keep: Callable[[int, NotebookNode], bool] | None = None

        async def async_execute_cell(self, cell, cell_index, execution_count=None,
                                     store_history=True):
            if self.keep is not None and not self.keep(cell_index, cell):
                _clear_cell(cell)
                return cell
            return await super().async_execute_cell(
                cell, cell_index, execution_count=execution_count, store_history=store_history)

    return CurrentEnvKernelManager, FilteringClient


def kernel_env() -> dict[str, str]:
    """The environment of a lesson kernel: ours, plus the inline matplotlib backend,
    ``PYTHONHASHSEED=0`` (``scripts/_env.sh`` sets ``MPLBACKEND=Agg`` for headless scripts, which
    would make a kernel draw nothing) and ``MARLIN_LITE_PROGRESS=0``: no progress bar (its text
    varies from run to run) lands in a lesson's committed outputs (:func:`marlin_lite.utils.progress_bar`).
    On x86-64 with AVX-512 it also keeps torch, oneDNN and numpy on their AVX2 kernels unless the caller chose otherwise
    (:func:`marlin_lite.utils.reproducible_cpu_env`), so the digits match the committed outputs."""
    env = dict(os.environ)
    env["MPLBACKEND"] = INLINE_BACKEND
    env["PYTHONHASHSEED"] = "0"
    env[PROGRESS_ENV] = "0"
    for key, value in reproducible_cpu_env().items():
        env.setdefault(key, value)
    return env


CHECK_WIDGETS_ENV = "MARLIN_LITE_CHECK_WIDGETS"
"""Set to ``1`` (``scripts/test.sh`` does) to make :func:`interact` call each explorer over its
controls' values before it draws the widget."""


def _option_values(options: Sequence[Any]) -> list[Any]:
    """The values of a menu's options: ``(label, value)`` pairs give their value."""
    return [o[1] if isinstance(o, tuple) and len(o) == 2 else o for o in options]


def _sweep_values(name: str, control: Any, default: Any) -> tuple[Any, list[Any]]:
    """(default, values to try) of one ``ipywidgets.interact`` control: a slider's value and both
    ends, a menu's options, a check box both ways, a plain value as it is; a ``(min, max[, step])``
    tuple (a slider to ipywidgets) at the function's ``default`` alone."""
    if isinstance(control, tuple) and len(control) in (2, 3) and all(isinstance(v, (int, float)) for v in control):
        if default is inspect.Parameter.empty:
            raise ValueError(f"interact: give {name!r} a default value in the function, or pass a widget instead of {control}")
        return default, [default]
    if isinstance(control, bool):
        return control, [control, not control]
    if isinstance(control, (list, tuple)):
        options = _option_values(control)
        first = default if default in options else options[0]
        return first, options
    if hasattr(control, "min") and hasattr(control, "max") and hasattr(control, "value"):  # a slider
        return control.value, [control.value, control.min, control.max]
    if hasattr(control, "options") and hasattr(control, "value"):  # a menu
        return control.value, _option_values(control.options)
    if hasattr(control, "value") and isinstance(control.value, bool):  # a check box
        return control.value, [control.value, not control.value]
    if hasattr(control, "value"):
        return control.value, [control.value]
    return control, [control]


def interact(function: Callable[..., Any], /, **controls: Any) -> Any:
    """``ipywidgets.interact(function, **controls)`` for the lessons' explorers, with a check.

    ipywidgets catches what ``function`` raises and prints it inside the widget, so a broken
    explorer fails no test. With the environment variable ``MARLIN_LITE_CHECK_WIDGETS=1``
    (``scripts/test.sh`` sets it), ``function`` is first called with every control at its
    default, then once for each other value of each control in turn (a slider's two ends, every
    option of a menu or list, a check box both ways), the others at their defaults; anything it
    raises propagates and fails the cell. Figures are closed after each call. Controls are
    ipywidgets widgets, lists of options or plain values, as ``ipywidgets.interact`` takes them
    (a tuple of 2-3 numbers is a slider there; here it stays at the function's default).
    Returns what ``ipywidgets.interact`` returns.
    """
    import ipywidgets

    if os.environ.get(CHECK_WIDGETS_ENV, "") not in ("", "0"):
        import matplotlib.pyplot as plt

        params = inspect.signature(function).parameters
        empty = inspect.Parameter.empty
        swept = {name: _sweep_values(name, control, params[name].default if name in params else empty)
                 for name, control in controls.items()}
        base = {name: d for name, (d, _) in swept.items()}
        calls = [base] + [{**base, name: v} for name, (d, values) in swept.items() for v in values if v != d]
        for kwargs in calls:
            try:
                function(**kwargs)
            except Exception as err:
                raise RuntimeError(f"explorer {function.__name__}({kwargs}) failed: {type(err).__name__}: {err}") from err
            finally:
                plt.close("all")
    return ipywidgets.interact(function, **controls)


def error_cells(nb: NotebookNode) -> list[int]:
    """Indices of the code cells that have an ``error`` output."""
    return [i for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code"
            and any(out.get("output_type") == "error" for out in cell.get("outputs", []))]


def _error_summary(nb: NotebookNode, cell_index: int | None = None) -> tuple[int | None, str, str]:
    """(cell index, one-line summary, short de-coloured traceback) of the first error output."""
    indices = error_cells(nb) if cell_index is None else [cell_index]
    for index in indices:
        for out in nb.cells[index].get("outputs", []):
            if out.get("output_type") == "error":
                line = f"cell {index}: {out.get('ename', 'Error')}: {out.get('evalue', '')}"
                tb = _ANSI.sub("", "\n".join(out.get("traceback", [])))
                return index, line, "\n".join(tb.strip().splitlines()[-12:])
    return cell_index, "no error output recorded", ""


def execute_notebook(
    path: str | Path | NotebookNode,
    out_path: str | Path | None = None,
    *,
    timeout: int = 900,
    cwd: str | Path | None = None,
    allow_errors: bool = False,
    cell_filter: Callable[[int, NotebookNode], bool] | None = None,
) -> tuple[NotebookNode, float]:
    """Execute a notebook top to bottom in a fresh ``python3`` kernel on this interpreter.

    Args:
        path: a ``.ipynb`` file, or a notebook already in memory (it is not modified).
        out_path: where to write the executed notebook (also written when a cell fails, so the
            error can be read there).
        timeout: seconds allowed per cell.
        cwd: the kernel's working directory; default the notebook's folder (for an in-memory
            notebook: the current directory).
        allow_errors: if False, stop at the first cell that raises (cells tagged
            ``raises-exception`` may raise) and raise :class:`NotebookExecutionError`; if True,
            run every cell and leave the ``error`` outputs in the result.
        cell_filter: ``keep(index, cell) -> bool``; cells it rejects are not run and are left
            without outputs (indices stay those of the input notebook).

    Returns:
        ``(executed notebook, wall-clock seconds)``. Code cells that ran are numbered 1..n in
        order, no timing metadata is stored, the kernelspec is ``python3``.
    """
    from nbclient.exceptions import CellControlSignal, DeadKernelError

    if isinstance(path, (str, Path)):
        source_nb, _ = _read(path)
        workdir = Path(cwd) if cwd is not None else Path(path).resolve().parent
    elif isinstance(path, NotebookNode):
        source_nb = path
        workdir = Path(cwd) if cwd is not None else Path.cwd()
    else:
        raise ValueError(f"path must be a notebook file or a NotebookNode, got {type(path).__name__}")
    if not workdir.is_dir():
        raise FileNotFoundError(f"cwd {str(workdir)!r} is not a directory")

    nb = copy.deepcopy(source_nb)
    for cell in nb.cells:
        _clear_cell(cell)
    nb.metadata["kernelspec"] = nbformat.from_dict(
        {"name": KERNEL_NAME, "display_name": "Python 3 (ipykernel)", "language": "python"})

    manager_class, client_class = _client_classes()
    client = client_class(
        nb,
        timeout=timeout,
        kernel_name=KERNEL_NAME,
        kernel_manager_class=manager_class,
        allow_errors=allow_errors,
        record_timing=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.keep = cell_filter
    start = time.perf_counter()
    failure: BaseException | None = None
    try:
        client.execute(cwd=str(workdir), env=kernel_env())
    except (CellControlSignal, DeadKernelError) as exc:  # CellExecutionError, CellTimeoutError
        failure = exc
    seconds = time.perf_counter() - start
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.get("outputs", []))

    if out_path is not None:
        out = Path(out_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, out)
    if failure is not None:
        index, line, tb = _error_summary(nb)
        if index is None:  # a timeout or a dead kernel leaves no error output
            last = (str(failure).strip().splitlines() or [""])[-1]
            line = f"{type(failure).__name__}: {last}"
        raise NotebookExecutionError(f"{line}\n{tb}".rstrip(), nb=nb, seconds=seconds,
                                     cell_index=index, summary=line) from failure
    return nb, seconds


def merge_streams(outputs: list) -> list:
    """Join consecutive outputs of the same stream (stdout / stderr) into one.

    The kernel splits a cell's prints into chunks at arbitrary points, so without this the
    committed notebook's bytes change from run to run although its text does not (nbval
    merges them too before comparing).
    """
    merged: list = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and out.get("output_type") == "stream"
            and prev.get("output_type") == "stream"
            and prev.get("name") == out.get("name")
        ):
            prev["text"] = "".join(prev["text"]) + "".join(out["text"])
        else:
            merged.append(out)
    return merged


def extract_figures(nb: NotebookNode, folder: str | Path) -> list[Path]:
    """Write every ``image/png`` output to ``folder/cell<NN>_<k>.png``.

    ``NN`` is the cell index (0-based, as in error messages and nbval's ``Cell N``), ``k`` the
    index of the PNG among that cell's outputs (0-based). The folder is emptied of old PNGs first.
    """
    folder = Path(folder)
    if folder.is_dir():
        for old in folder.glob("*.png"):
            old.unlink()
    written: list[Path] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        k = 0
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" not in data:
                continue
            png = data["image/png"]
            png = "".join(png) if isinstance(png, list) else png
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"cell{index:02d}_{k}.png"
            target.write_bytes(base64.b64decode(png))
            written.append(target)
            k += 1
    return written


# --------------------------------------------------------------------------------------------
# Classroom: exercises and student copies
# --------------------------------------------------------------------------------------------
def _solution_regions(source: str, where: str) -> list[tuple[int, int, str]]:
    """``(begin line, end line, indent)`` of each ``# BEGIN/END SOLUTION`` region of a cell."""
    regions: list[tuple[int, int, str]] = []
    begin: tuple[int, str] | None = None
    for number, line in enumerate(source.splitlines()):
        match = _BEGIN.match(line)
        if match:
            if begin is not None:
                raise ValueError(f"{where}: '# BEGIN SOLUTION' on line {number + 1} before the "
                                 f"'# END SOLUTION' of the one on line {begin[0] + 1}")
            begin = (number, match.group("indent"))
        elif _END.match(line):
            if begin is None:
                raise ValueError(f"{where}: '# END SOLUTION' on line {number + 1} has no "
                                 "'# BEGIN SOLUTION' before it")
            regions.append((begin[0], number, begin[1]))
            begin = None
    if begin is not None:
        raise ValueError(f"{where}: '# BEGIN SOLUTION' on line {begin[0] + 1} is never closed; "
                         "add a '# END SOLUTION' line")
    return regions


def exercises(nb: NotebookNode | str | Path, name: str | None = None) -> list[tuple[int, int]]:
    """The exercises of a notebook as ``(solution cell index, self-check cell index)`` pairs.

    Raises ``ValueError`` naming the notebook and cell when a solution cell has no (or
    unbalanced) ``# BEGIN SOLUTION``/``# END SOLUTION`` markers, when markers sit in a cell not
    tagged ``solution`` (the solution would leak into the student copy), when a non-code cell
    is tagged, or when a solution cell is not followed by a ``self-check`` cell before the next
    solution cell.
    """
    nb, default_name = _read(nb)
    label = name or default_name
    pairs: list[tuple[int, int]] = []
    pending: int | None = None
    for index, cell in enumerate(nb.cells):
        tags = _tags(cell)
        where = f"notebook {label}, cell {index}"
        is_solution = SOLUTION_TAG in tags
        if (is_solution or SELF_CHECK_TAG in tags) and cell.cell_type != "code":
            raise ValueError(f"{where}: a {cell.cell_type} cell is tagged "
                             f"{SOLUTION_TAG if is_solution else SELF_CHECK_TAG!r}; only code cells can be")
        if cell.cell_type != "code":
            continue
        regions = _solution_regions(cell_source(cell), where)
        if is_solution:
            if not regions:
                raise ValueError(f"{where}: tagged {SOLUTION_TAG!r} but has no "
                                 "'# BEGIN SOLUTION' ... '# END SOLUTION' region")
            if pending is not None:
                raise ValueError(f"notebook {label}, cell {pending}: solution cell has no "
                                 f"{SELF_CHECK_TAG!r} cell before the next solution (cell {index})")
            pending = index
        elif regions:
            raise ValueError(f"{where}: has solution markers but is not tagged {SOLUTION_TAG!r}")
        if SELF_CHECK_TAG in tags and pending is not None:
            pairs.append((pending, index))
            pending = None
    if pending is not None:
        raise ValueError(f"notebook {label}, cell {pending}: solution cell has no "
                         f"{SELF_CHECK_TAG!r} cell after it")
    return pairs


def _strip_regions(source: str, regions: list[tuple[int, int, str]]) -> str:
    lines = source.splitlines()
    out: list[str] = []
    cursor = 0
    for begin, end, indent in regions:
        out.extend(lines[cursor:begin])
        out.append(indent + STUDENT_PLACEHOLDER)
        cursor = end + 1
    out.extend(lines[cursor:])
    return "\n".join(out)


def make_student_notebook(nb: NotebookNode | str | Path, name: str | None = None) -> NotebookNode:
    """A student copy: every solution region replaced by :data:`STUDENT_PLACEHOLDER`.

    The placeholder is indented like the region's ``# BEGIN SOLUTION`` line; the rest of the
    code and every markdown cell are kept as they are; all outputs, execution counts and
    timing metadata are cleared; the ``solution`` tag becomes ``exercise`` (so the copy holds no
    solution cell, and :func:`exercises` of it is empty). The input is not modified. The notebook is validated with
    :func:`exercises` first (same ``ValueError`` s).
    """
    nb, default_name = _read(nb)
    label = name or default_name
    exercises(nb, name=label)
    student = copy.deepcopy(nb)
    student.metadata.pop("widgets", None)
    for index, cell in enumerate(student.cells):
        _clear_cell(cell)
        tags = _tags(cell)
        if cell.cell_type == "code" and SOLUTION_TAG in tags:
            source = cell_source(cell)
            cell.source = _strip_regions(source, _solution_regions(source, f"{label}, cell {index}"))
            cell.metadata["tags"] = [EXERCISE_TAG if tag == SOLUTION_TAG else tag for tag in tags]
    return student


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------
def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _cmd_list(args: argparse.Namespace) -> int:
    lessons = _resolve_lessons(args.lessons)
    if not lessons:
        print("no lesson notebooks (notebooks/NN_topic.ipynb)")
        return 0
    for path in lessons:
        try:
            count = f"{len(exercises(path))} exercise(s)"
        except ValueError as exc:
            count = f"INVALID: {exc}"
        print(f"{_display(path)}  {count}")
    return 0


RUNS_FOLDER = "runs"
"""Where lessons keep what they train and save (``../runs/...`` from the lessons' folder)."""


@contextlib.contextmanager
def fresh_runs(lesson_dir: str | Path) -> Iterator[Path]:
    """A working folder for the lessons of ``lesson_dir`` in which ``../runs`` starts empty, as on
    a fresh machine; yields the folder to run them in.

    A lesson reuses what an earlier run left in ``runs/`` (lesson 04 loads its finished live runs
    in seconds instead of training them for minutes), so a lesson executed in place is timed
    against this machine's history. Here the lessons' parent folder is mirrored in a temporary
    folder: each of its entries is a symbolic link to the real one, except ``runs`` (new and empty)
    and the lessons' folder, which is a real folder of links to the lessons' files. ``../configs``,
    ``../docs`` and the rest resolve to the checkout; ``../runs/...`` is written in the mirror and
    deleted with it. The real ``runs/`` is neither read nor changed.
    """
    lesson_dir = Path(lesson_dir).resolve()
    with tempfile.TemporaryDirectory(prefix="marlin-lite-fresh-") as tmp:
        mirror = Path(tmp)
        lessons = mirror / lesson_dir.name
        try:
            for entry in lesson_dir.parent.iterdir():
                if entry.name not in (RUNS_FOLDER, lesson_dir.name):
                    (mirror / entry.name).symlink_to(entry)
            (mirror / RUNS_FOLDER).mkdir()
            lessons.mkdir()
            for entry in lesson_dir.iterdir():
                (lessons / entry.name).symlink_to(entry)
        except OSError as err:  # e.g. Windows without the right to make symbolic links
            raise OSError(f"cannot mirror {lesson_dir.parent} with symbolic links in {mirror} ({err}); "
                          "run with --reuse-runs (course execute) or without --fresh (course run)") from err
        yield lessons


def _lesson_cwd(path: Path, fresh: bool) -> contextlib.AbstractContextManager[Path | None]:
    """The folder to execute lesson ``path`` in, as a context: a new :func:`fresh_runs` mirror of
    its folder when ``fresh``, else ``None`` (the lesson's own folder)."""
    return fresh_runs(path.parent) if fresh else contextlib.nullcontext(None)


def _run_one(path: Path, out: Path, timeout: int, cwd: Path | None, failures: list[tuple[str, str]]) -> tuple[str, str, float, int]:
    """Execute one lesson into ``out`` (its figures into ``out/figures``); a failure is appended
    to ``failures``. Returns the summary row ``(stem, status, seconds, figures)``."""
    try:
        nb, seconds = execute_notebook(path, out / path.name, timeout=timeout, cwd=cwd)
        status = "ok"
    except NotebookExecutionError as exc:
        nb, seconds, status = exc.nb, exc.seconds, "FAILED"
        failures.append((path.stem, str(exc)))
    except Exception as exc:  # e.g. the kernel did not start: report it, run the rest
        nb, seconds, status = None, 0.0, "FAILED"
        failures.append((path.stem, f"{type(exc).__name__}: {exc}"))
    figures = extract_figures(nb, out / "figures" / path.stem) if nb is not None else []
    print(f"{status} ({seconds:.1f} s, {len(figures)} figure(s))", flush=True)
    return path.stem, status, seconds, len(figures)


def _cmd_run(args: argparse.Namespace) -> int:
    lessons = _resolve_lessons(args.lessons)
    out = Path(args.out)
    if not lessons:
        print("no lesson notebooks to run")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, float, int]] = []
    failures: list[tuple[str, str]] = []
    width = len(str(len(lessons)))
    if args.fresh:
        print(f"fresh: every lesson starts from an empty ../{RUNS_FOLDER} (nothing an earlier run trained is reused)")
    for number, path in enumerate(lessons, start=1):
        print(f"[{number:>{width}}/{len(lessons)}] {path.stem} ...", end=" ", flush=True)
        with _lesson_cwd(path, args.fresh) as cwd:
            rows.append(_run_one(path, out, args.timeout, cwd, failures))

    name_width = max(len("notebook"), *(len(r[0]) for r in rows))
    print()
    print(f"{'notebook':<{name_width}}  {'status':<6}  {'seconds':>8}  {'figures':>7}")
    for stem, status, seconds, figures in rows:
        print(f"{stem:<{name_width}}  {status:<6}  {seconds:>8.1f}  {figures:>7d}")
    total_seconds = sum(r[2] for r in rows)
    total_figures = sum(r[3] for r in rows)
    print(f"total: {len(rows)} notebook(s), {len(rows) - len(failures)} ok, {len(failures)} failed, "
          f"{total_seconds:.1f} s, {total_figures} figure(s) -> {_display(out)}")
    for stem, message in failures:
        print(f"\n{stem} failed:\n{message}", file=sys.stderr)
    return 1 if failures else 0


def _cmd_execute(args: argparse.Namespace) -> int:
    lessons = _resolve_lessons(args.lessons)
    if not lessons:
        print("no lesson notebooks to execute")
        return 0
    failed = 0
    if not args.reuse_runs:
        print(f"every lesson starts from an empty ../{RUNS_FOLDER}, as on a fresh machine (--reuse-runs: use runs/)")
    for path in lessons:
        with _lesson_cwd(path, not args.reuse_runs) as cwd:
            failed += _execute_one(path, args.timeout, cwd, record=not args.reuse_runs)
    return 1 if failed else 0


def _execute_one(path: Path, timeout: int, cwd: Path | None, record: bool) -> int:
    """Execute lesson ``path`` in place (its kernel working in ``cwd``; ``None``: its own folder)
    and, when ``record``, store its time in ``run_times.json``. Returns 1 when it was refused or
    failed (the notebook is left unchanged), else 0."""
    print(f"executing {_display(path)} ...", end=" ", flush=True)
    # An edit in the paired .py that was not synced yet would be executed as the old code,
    # and the newer .ipynb would then win the next `jupytext --sync`: refuse instead.
    differences = pair_differences(path) if paired_script(path).is_file() else []
    if differences:
        print("REFUSED (left unchanged)", flush=True)
        print(f"{_display(path)} and its paired .py differ: {differences[0]}"
              f"{f' (and {len(differences) - 1} more)' if len(differences) > 1 else ''}. "
              f"Run `jupytext --sync {_display(paired_script(path))}` first (it keeps the most recently "
              "saved file's cells), then execute.", file=sys.stderr)
        return 1
    try:
        nb, seconds = execute_notebook(path, timeout=timeout, cwd=cwd)
    except NotebookExecutionError as exc:
        print(f"FAILED after {exc.seconds:.1f} s (left unchanged)", flush=True)
        print(str(exc), file=sys.stderr)
        return 1
    nbformat.validate(nb)
    nbformat.write(nb, path)
    if record:  # notebooks/run_times.json: the course site's index shows it (fresh runs only)
        record_run_time(path, seconds)
    print(f"ok ({seconds:.1f} s)", flush=True)
    return 0


def _cmd_student(args: argparse.Namespace) -> int:
    lessons = _resolve_lessons(args.lessons)
    out = Path(args.out)
    if not lessons:
        print("no lesson notebooks")
        return 0
    out.mkdir(parents=True, exist_ok=True)
    status = 0
    for path in lessons:
        try:
            student = make_student_notebook(path)
            count = len(exercises(path))
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            continue
        target = out / path.name
        nbformat.write(student, target)
        print(f"wrote {_display(target)} ({count} exercise(s))")
    return status


def _cmd_site(args: argparse.Namespace) -> int:
    lessons = _resolve_lessons(args.lessons)
    if not lessons:
        print("no lesson notebooks to render")
        return 0
    report = build_site(lessons, Path(args.out))
    print(report.summary().replace(str(report.out), _display(report.out)))
    return 1 if report.problems else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m marlin_lite.course",
        description="Run, re-execute, make student copies of and render (as a website) the MARLIN-lite lessons.")
    sub = parser.add_subparsers(dest="command", required=True)
    lessons_help = "lesson notebooks: paths, stems or numbers (default: every lesson)"

    p = sub.add_parser("list", help="list the lessons and their exercises")
    p.add_argument("lessons", nargs="*", help=lessons_help)
    p.set_defaults(func=_cmd_list)

    p = sub.add_parser("run", help="execute lessons into --out and extract their PNG figures")
    p.add_argument("lessons", nargs="*", help=lessons_help)
    p.add_argument("--out", default="build/course", help="output folder (default: build/course)")
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell (default: 900)")
    p.add_argument("--fresh", action="store_true",
                   help="start every lesson from an empty runs/, as on a fresh machine (a classroom check: lesson "
                        "04 then trains its live runs instead of loading them)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("execute", help="re-execute lessons in place, to commit their outputs")
    p.add_argument("lessons", nargs="*", help=lessons_help)
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell (default: 900)")
    p.add_argument("--reuse-runs", action="store_true",
                   help="run in the lessons' own folder, reusing what runs/ holds (faster; the time is then not "
                        "recorded). Default: from an empty runs/, as on a fresh machine, and the time is recorded "
                        "in notebooks/run_times.json for the site's index")
    p.set_defaults(func=_cmd_execute)

    p = sub.add_parser("student", help="write student copies (solutions replaced) to --out")
    p.add_argument("lessons", nargs="*", help=lessons_help)
    p.add_argument("--out", default="build/student", help="output folder (default: build/student)")
    p.set_defaults(func=_cmd_student)

    p = sub.add_parser("site", help="render the executed lessons (committed outputs, nothing is run) "
                                    "as a static website in --out")
    p.add_argument("lessons", nargs="*", help=lessons_help)
    p.add_argument("--out", default="build/site",
                   help="the site's folder, replaced on each build (default: build/site)")
    p.set_defaults(func=_cmd_site)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as exc:  # OSError: e.g. no symbolic links for a fresh run
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
