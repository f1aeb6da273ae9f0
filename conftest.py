"""Repository-wide pytest setup (a root conftest, so its ignores apply to ``notebooks/`` too).

* ``notebooks/scaled/`` holds papermill notebooks for GPUs: never validated by nbval here.
* ``notebooks/*.py`` are the jupytext twins of the lessons (``notebooks/jupytext.toml``): lesson
  code, not test modules. pytest's default file names skip them already; the ignore also keeps
  ``--doctest-modules`` from importing (that is, running) every lesson. Named on the command
  line, a file is collected anyway. ``tests/test_notebook_pairs.py`` checks the pairs.
* ``build/`` (executed copies, student copies) and ``.venv/`` are outputs, not tests.
* nbval's kernels inherit this process's environment. ``scripts/_env.sh`` exports
  ``MPLBACKEND=Agg`` for headless scripts, but a kernel with Agg draws nothing and every
  committed figure would go missing; so, when nbval runs, this process keeps Agg for itself
  and hands the kernels the inline backend (as Jupyter and ``marlin_lite.course`` do),
  ``PYTHONHASHSEED=0`` when unset, and ``MARLIN_LITE_PROGRESS=0`` (no progress bars, as in the
  committed outputs that ``marlin_lite.course`` executes; ``scripts/test.sh`` always runs nbval,
  so this is where its runs get it), and on an x86-64 machine with AVX-512 the AVX2 kernels of
  torch, oneDNN and numpy when not set (``marlin_lite.utils.reproducible_cpu_env``:
  AVX-512 kernels print other digits).

Shared fixtures live in ``tests/conftest.py``.
"""

import os

collect_ignore_glob = [
    "notebooks/scaled",
    "notebooks/scaled/*",
    "notebooks/*.py",
    "build/*",
    ".venv/*",
]

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def pytest_configure(config):
    if getattr(config.option, "nbval", False) or getattr(config.option, "nbval_lax", False):
        import matplotlib

        matplotlib.use("Agg")  # this process (and its tests) stays headless
        os.environ["MPLBACKEND"] = INLINE_BACKEND  # ... the notebook kernels draw inline
        os.environ.setdefault("PYTHONHASHSEED", "0")
        os.environ["MARLIN_LITE_PROGRESS"] = "0"
        from marlin_lite.utils import reproducible_cpu_env  # kernels start new: the AVX2 kernels act there

        for key, value in reproducible_cpu_env().items():
            os.environ.setdefault(key, value)
