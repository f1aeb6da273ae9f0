"""Small helpers every lesson uses: seeding, device choice and progress bars."""

from __future__ import annotations

import contextlib
import os
import platform
import random
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm.auto import tqdm


def seed_everything(seed: int = 0, *, deterministic: bool = True) -> torch.Generator:
    """Seed Python, NumPy and PyTorch, and (optionally) ask PyTorch for deterministic kernels.

    Lessons call this once in their setup cell so that re-running a notebook prints the
    same numbers. Returns a ``torch.Generator`` seeded with ``seed`` for code that takes
    an explicit generator (the package's functions never touch the global RNG silently).
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs this for deterministic matmuls on GPU; harmless on CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
    return torch.Generator().manual_seed(seed)


def pick_device(preference: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available, else Apple MPS, else CPU; or a device string.

    A device this machine does not have (``"cuda"`` without a GPU or a CUDA build of PyTorch,
    ``"cuda:3"`` on a one-GPU machine, ``"mps"`` off a Mac) is a ``ValueError`` that says so."""
    if preference != "auto":
        try:
            dev = torch.device(preference)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device {preference!r} is not a device name (auto, cpu, cuda, cuda:0, mps): {err}") from None
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                raise ValueError(f"device {preference!r}: this machine has no CUDA GPU that PyTorch can use; use auto or cpu")
            if dev.index is not None and dev.index >= torch.cuda.device_count():
                raise ValueError(f"device {preference!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
        if dev.type == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise ValueError(f"device {preference!r}: Apple's MPS is not available here; use auto or cpu")
        return dev
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


PROGRESS_ENV = "MARLIN_LITE_PROGRESS"
"""Set to ``0`` to turn every :func:`progress_bar` off (``scripts/test.sh`` and the kernels of
:func:`marlin_lite.course.execute_notebook` do)."""


def progress_bar(
    iterable: Any = None, *, total: float | None = None, desc: str | None = None, unit: str = "it",
    enabled: bool = True, **kwargs: Any,
) -> tqdm:
    """The package's one progress bar: ``tqdm.auto.tqdm`` (a widget in Jupyter, text on stderr
    elsewhere), with tqdm's rate (``it/s`` or ``s/it`` in ``unit``) and time left.

    Wrap a loop (``for x in progress_bar(items, desc="features", unit="video")``) or update it by
    hand (``bar = progress_bar(total=n)``, ``bar.update(1)``, ``bar.close()``). The bar is disabled
    (it draws nothing and yields the iterable's items as they are) when ``enabled`` is false or
    when the environment variable ``MARLIN_LITE_PROGRESS`` is ``0``: committed lesson outputs and
    the nbval tests must not hold bars, whose text varies from run to run, so the root ``conftest.py``
    sets it whenever nbval runs and :func:`marlin_lite.course.execute_notebook` runs its kernels with it. A
    student in JupyterLab (the variable unset) sees the bars. Other keyword arguments go to tqdm.
    """
    off = not enabled or os.environ.get(PROGRESS_ENV, "").strip() == "0"
    return tqdm(iterable, total=total, desc=desc, unit=unit, disable=off, **kwargs)


# --------------------------------------------------------------------------------------
# Files: deterministic and atomic (shared by samples, preprocess, model downloads)
# --------------------------------------------------------------------------------------


#: The environment that keeps an AVX-512 machine on the code paths an AVX2 machine takes (see
#: :func:`reproducible_cpu_env`); ``scripts/_env.sh`` holds the same list (a test compares them).
#: Measured on an AMD EPYC with AVX-512 (CONTRIBUTING.md): these three reproduce every lesson's
#: committed digits; capping MKL (``MKL_ENABLE_INSTRUCTIONS``) and OpenBLAS (``OPENBLAS_CORETYPE``)
#: as well changed lesson 04's, so their kernels are left to choose.
REPRODUCIBLE_CPU_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's own vectorised kernels
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (convolutions, some matmuls)
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy's AVX-512 loops (log, exp, ...)
}


def _cpuinfo_field(name: str) -> str:
    """The value of the first ``name`` line of ``/proc/cpuinfo`` (``""`` where there is none)."""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith(name)), "")
    return ""


def _cpu_flags() -> set[str]:
    """The processor's feature flags from ``/proc/cpuinfo`` (empty where there is none)."""
    return set(_cpuinfo_field("flags").split())


def reproducible_cpu_env(flags: set[str] | None = None) -> dict[str, str]:
    """Environment variables that make an x86-64 machine with AVX-512 compute like one with AVX2:
    torch, oneDNN and numpy pick their kernels by the processor, and AVX-512
    kernels round differently in the last bits, which training and ranking metrics grow into other
    printed digits (the lessons' committed outputs, the reports). ``flags``: the CPU's feature
    flags (default: read from ``/proc/cpuinfo``). Empty without ``avx512f`` (nothing to cap, and
    forcing AVX2 kernels on a CPU without AVX2 would crash) and on other architectures. They act
    when a process starts, so they belong in the environment of a new process (``scripts/_env.sh``
    exports them; :func:`marlin_lite.course.kernel_env` gives them to lesson kernels)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return {}
    return dict(REPRODUCIBLE_CPU_ENV) if "avx512f" in (_cpu_flags() if flags is None else flags) else {}


def machine_description(threads: int | None = None, processes: int = 1) -> str:
    """Where a run's numbers came from, for provenance: the architecture, the processor's model
    name (``/proc/cpuinfo`` on Linux, else :func:`platform.processor`), the instruction set
    torch's CPU kernels use (e.g. ``AVX512``; CPU results differ in their last bits between
    instruction sets, and training amplifies that) and the torch thread count (``threads``, default
    the current one) per process (``processes``), e.g. ``x86_64, AMD EPYC, torch CPU kernels AVX512,
    1 torch threads``."""
    model = _cpuinfo_field("model name") or platform.processor() or "unknown processor"
    try:
        isa = torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # older torch
        isa = "unknown"
    n = torch.get_num_threads() if threads is None else threads
    work = f"{processes} processes of {n} torch threads" if processes > 1 else f"{n} torch threads"
    return f"{platform.machine()}, {model}, torch CPU kernels {isa}, {work}"


def deterministic_npz(arrays: dict[str, np.ndarray], *, compresslevel: int = 9) -> bytes:
    """A compressed ``.npz`` whose bytes depend only on the arrays (fixed time stamps, sorted keys)."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key in sorted(arrays):
            arr = io.BytesIO()
            np.lib.format.write_array(arr, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, arr.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=compresslevel)
    return buf.getvalue()


@contextlib.contextmanager
def atomic_file(path: "os.PathLike[str] | str", suffix: str = "") -> Iterator[Path]:
    """The one way the package writes a file that must never be seen half-written.

    Yields a temporary path beside ``path`` (``.<name>.<pid>.<random>.tmp<suffix>``: same folder,
    so the rename is atomic; ``suffix`` keeps an extension a writer needs, e.g. ``.mp4`` for
    PyAV); when the block ends without an error the file replaces ``path``, otherwise it is
    deleted. The folder is created if missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: "os.PathLike[str] | str", data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_file`: readers never see half a file."""
    with atomic_file(path) as tmp:
        tmp.write_bytes(data)


def check_writable_dir(path: "os.PathLike[str] | str", what: str = "OUT_DIR") -> None:
    """Make sure ``path`` is a folder this process can write to (created if missing), before any
    work: ``ValueError`` naming ``what`` and the path otherwise (a file, read-only, no space...)."""
    from pathlib import Path

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{what} '{path}' is a file; give a folder")
    probe = path / f".write_test.{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
    except OSError as err:
        raise ValueError(f"cannot write to {what} '{path}' ({err.strerror or err}); choose a folder you can write to") from None
    finally:
        try:
            probe.unlink()
        except OSError:
            pass


def json_bytes(obj: object) -> bytes:
    """Stable JSON (sorted keys, one-space indent, trailing newline) as bytes."""
    import json

    return (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode()


def sha256_file(path: "os.PathLike[str] | str") -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def project_root() -> Path:
    """The repository checkout the package runs from (the folder that holds ``pyproject.toml``
    beside ``marlin_lite/``), or the working directory when the package is an installed copy.
    Relative paths in the README's commands and the scaled notebooks' parameters are read from here."""
    here = Path(__file__).resolve().parents[1]
    return here if (here / "pyproject.toml").is_file() and (here / "marlin_lite").is_dir() else Path.cwd()


def shipped_configs() -> list[Path]:
    """The folders that may hold the YAML recipes of ``configs/``: inside the package (an installed
    copy: ``marlin_lite/configs``) and beside it (a checkout: ``<repository>/configs``)."""
    here = Path(__file__).resolve().parent
    return [d for d in (here / "configs", here.parent / "configs") if d.is_dir()]


def resolve_path(path: "os.PathLike[str] | str | None", base: "os.PathLike[str] | str | None" = None) -> Path | None:
    """``path`` with ``~`` expanded and, when relative and ``base`` is given, read from ``base``
    (e.g. :func:`project_root`, where the README's commands run); ``None`` stays ``None``."""
    if path is None:
        return None
    p = Path(path).expanduser()
    return p if p.is_absolute() or base is None else Path(base) / p


def find_config(name: "os.PathLike[str] | str", base: "os.PathLike[str] | str | None" = None) -> Path:
    """A recipe by path or by name: an existing file (relative paths read from ``base`` when
    given, else the working directory) is itself; otherwise ``tiny``, ``tiny.yaml`` or
    ``configs/tiny.yaml`` name a shipped recipe (:func:`shipped_configs`), so the README's
    commands work from any folder and in an installed copy.

    Raises:
        FileNotFoundError: naming the path and the shipped recipes.
    """
    path = resolve_path(name, base)
    if path.exists():
        return path
    path = Path(name).expanduser()
    if path.parent in (Path("."), Path("configs")):
        stem = path.name.removesuffix(".yaml").removesuffix(".yml")
        for folder in shipped_configs():
            if (folder / f"{stem}.yaml").is_file():
                return folder / f"{stem}.yaml"
    names = sorted({p.stem for d in shipped_configs() for p in d.glob("*.yaml") if not p.stem.startswith("downstream_")})
    raise FileNotFoundError(f"config file {path} not found; give a YAML file, or a recipe of configs/ by name: {', '.join(names)}")


class _Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's floats: ``1e-4`` is a number (YAML 1.1 wants a dot)."""


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][-+]?\d+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."),
)


def load_yaml(text: str) -> object:
    """A YAML document read safely, ``1e-4`` as the number it spells (not the string YAML 1.1 gives).
    Integers stay integers (the int resolver comes first)."""
    return yaml.load(text, Loader=_Yaml12Loader)  # noqa: S506 (a SafeLoader subclass)

