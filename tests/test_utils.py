"""Small shared helpers (marlin_lite.utils): paths read from a base folder, recipes found by name,
YAML numbers as YAML 1.2 reads them, progress bars off under MARLIN_LITE_PROGRESS=0."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from marlin_lite.utils import PROGRESS_ENV, find_config, load_yaml, progress_bar, resolve_path, shipped_configs


def test_resolve_path_reads_relative_paths_from_the_base(tmp_path):
    assert resolve_path(None, tmp_path) is None
    assert resolve_path("a/b.pt", tmp_path) == tmp_path / "a" / "b.pt"
    assert resolve_path("a/b.pt") == Path("a/b.pt")  # no base: as given
    assert resolve_path(tmp_path / "x", "/elsewhere") == tmp_path / "x"  # absolute paths stay
    assert resolve_path("~/x", tmp_path) == Path.home() / "x"


def test_find_config_prefers_a_file_under_the_base_then_a_shipped_recipe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing in the working directory
    shipped = find_config("tiny")
    assert shipped.name == "tiny.yaml" and shipped.parent in shipped_configs()
    assert find_config("configs/tiny.yaml") == shipped
    (tmp_path / "configs").mkdir()
    own = tmp_path / "configs" / "tiny.yaml"
    own.write_text("max_steps: 3\n")
    assert find_config("configs/tiny.yaml", base=tmp_path) == own  # a file of that name under the base wins
    with pytest.raises(FileNotFoundError, match="tiniest.*tiny"):
        find_config("tiniest")


def test_load_yaml_reads_exponents_as_numbers_and_keeps_the_rest():
    values = load_yaml("lr: 1e-4\nsteps: 3\nmin_lr: 1.0e-6\nbig: 1_000\nneg: -2E3\nname: x1e3\nlist: [0, 1]\ninf: .inf\nflag: true\n")
    assert values["lr"] == 1e-4 and isinstance(values["lr"], float)
    assert values["steps"] == 3 and isinstance(values["steps"], int)
    assert values["min_lr"] == 1e-6 and values["big"] == 1000 and values["neg"] == -2000.0
    assert values["name"] == "x1e3" and values["list"] == [0, 1] and math.isinf(values["inf"]) and values["flag"] is True


@pytest.mark.parametrize(("env", "enabled", "shown"), [
    (None, True, True), ("1", True, True), ("0", True, False), (None, False, False), ("0", False, False),
])
def test_progress_bar_shows_a_rate_unless_disabled_or_marlin_lite_progress_is_0(monkeypatch, capsys, env, enabled, shown):
    if env is None:
        monkeypatch.delenv(PROGRESS_ENV, raising=False)
    else:
        monkeypatch.setenv(PROGRESS_ENV, env)
    bar = progress_bar(range(3), desc="counting", unit="thing", enabled=enabled)
    assert bar.disable is not shown
    assert list(bar) == [0, 1, 2], "a disabled bar still yields every item"
    err = capsys.readouterr().err
    if shown:
        assert re.search(r"counting: 100%.* 3/3 \[.*(thing/s|s/thing)\]", err), err
    else:
        assert err == ""


def test_machine_description_names_the_processor_its_instruction_set_and_threads():
    """Provenance of a run: CPU numbers differ in their last bits between instruction sets, so the
    description names what torch's CPU kernels use, beside the processor and the threads."""
    import platform

    import torch

    from marlin_lite.utils import machine_description

    text = machine_description(3)
    assert text.startswith(platform.machine() + ", ") and text.endswith(", 3 torch threads")
    assert f"torch CPU kernels {torch.backends.cpu.get_cpu_capability()}" in text
    assert machine_description(1, processes=2).endswith(", 2 processes of 1 torch threads")
    assert machine_description().endswith(f", {torch.get_num_threads()} torch threads")


def test_lesson_kernels_run_avx2_kernels_on_an_avx512_machine_unless_chosen(monkeypatch):
    """On x86-64 with AVX-512, torch, oneDNN and numpy would run other kernels than on
    an AVX2 machine and print other digits than the committed outputs: lesson kernels (and
    scripts/_env.sh, with the same list) keep them on AVX2, keeping a choice the caller made;
    without AVX-512 or on other architectures nothing is set."""
    import platform

    from marlin_lite import utils
    from marlin_lite.course import kernel_env

    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    assert utils.reproducible_cpu_env({"avx2", "fma"}) == {}
    assert utils.reproducible_cpu_env({"avx2", "avx512f"}) == utils.REPRODUCIBLE_CPU_ENV
    monkeypatch.setattr(utils, "_cpu_flags", lambda: {"avx2", "avx512f"})
    for key in utils.REPRODUCIBLE_CPU_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX512_CORE")
    env = kernel_env()
    assert env["ATEN_CPU_CAPABILITY"] == "avx2" and env["ONEDNN_MAX_CPU_ISA"] == "AVX512_CORE"
    assert env["NPY_DISABLE_CPU_FEATURES"] == utils.REPRODUCIBLE_CPU_ENV["NPY_DISABLE_CPU_FEATURES"]
    monkeypatch.setattr(platform, "machine", lambda: "arm64")
    assert utils.reproducible_cpu_env({"avx512f"}) == {}
    script = (Path(__file__).resolve().parents[1] / "scripts" / "_env.sh").read_text()
    exported = dict(re.findall(r'export (\w+)="\$\{\1:-([^}]*)\}"', script))
    assert exported == utils.REPRODUCIBLE_CPU_ENV and "grep -qw avx512f /proc/cpuinfo" in script
