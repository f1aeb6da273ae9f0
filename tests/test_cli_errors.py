"""Every command line answers a user's mistake with exit status 2 and one line on stderr, never a
traceback (issue 15): a sweep over the package's CLIs with bad paths, numbers and choices."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CKPT = str(REPO / "marlin_lite" / "weights" / "course_tiny.pt")
README = str(REPO / "README.md")

CASES = [
    ("pretrain", ["--config", "/nonexistent.yaml"], "not found"),
    ("pretrain", ["--batch-size", "0", "--max-steps", "1", "--out-dir", "{tmp}/r"], "batch_size must be >= 1"),
    ("pretrain", ["--model", "huge", "--out-dir", "{tmp}/r"], "unknown preset 'huge'"),
    ("pretrain", ["--data-path", "/nonexistent", "--out-dir", "{tmp}/r"], "no clip store"),
    ("pretrain", ["--norm-pix", "maybe"], "expected true or false"),
    ("features", ["/nonexistent", "{tmp}/f", "--encoder", "random:tiny"], "does not exist"),
    ("features", [str(REPO / "data_samples"), "{tmp}/f", "--encoder", "/nonexistent.pt"], "no such file"),
    ("features", [str(REPO / "data_samples"), "{tmp}/f", "--encoder", "random:huge"], "unknown preset"),
    ("features", [str(REPO / "data_samples"), "{tmp}/f", "--encoder", "random:tiny", "--sample-rate", "-1"], "sample_rate must be"),
    ("transfer", ["--encoder", "/nonexistent.pt"], "no checkpoint file"),
    ("transfer", ["--encoder", CKPT, "--seeds", "-1", "--quick"], "non-negative"),
    ("transfer", ["--encoder", README, "--quick"], "not a readable MARLIN-lite checkpoint"),
    ("diagnose", ["--encoder", "/nonexistent.pt"], "no such file"),
    ("diagnose", ["--encoder", README, "--quick"], "README.md"),
    ("transfer", ["--encoder", CKPT, "--ft-max-epochs", "0", "--quick"], "--ft-max-epochs: expected an integer >= 1"),
    ("lr_check", ["--results", "/nonexistent.json", "--encoder", CKPT], "no transfer results"),
    ("lr_check", ["--encoder", CKPT, "--epochs", "0"], "--epochs must be >= 1"),
    ("replicate", ["--results", README, "--encoder", CKPT], "no transfer results"),
    ("replicate", ["--encoder", CKPT, "--bootstrap", "0"], "must be >= 1"),
    ("clipstore", ["write", "--dataset", "nothing", "--root", "/nonexistent", "--out", "{tmp}/s"], "unknown data set"),
    ("clipstore", ["info", "/nonexistent"], "no clip store"),
    ("course", ["execute", "/nonexistent.ipynb"], "neither a notebook file nor a lesson"),
    ("preprocess", ["/nonexistent", "{tmp}/p"], "does not exist"),
    ("preprocess", [str(REPO / "data_samples"), "{tmp}/p", "--size", "15"], "size must be an even int"),
    ("preprocess", [str(REPO / "data_samples"), "{tmp}/p", "--workers", "0"], "--workers must be >= 1"),
]


@pytest.mark.parametrize("module, argv, message", CASES, ids=[f"{m}:{' '.join(a)[:40]}" for m, a, _ in CASES])
def test_a_cli_mistake_is_one_line_and_exit_2(module, argv, message, tmp_path, capsys):
    main = importlib.import_module(f"marlin_lite.{module}").main
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "Traceback" not in err and message in err
    assert message in err.splitlines()[-1]  # the error is one line: the last (argparse prints its usage above it)
