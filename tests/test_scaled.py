"""The GPU track (notebooks/scaled/, marlin_lite.scaled, configs/pretrain_* and downstream_*): CPU smoke tests.

The notebooks run through papermill with tiny parameters (a one-block tiny model, a few steps,
SynthFace and a CelebV-HQ replica); the torchrun path launches two CPU processes (gloo).
"""

from __future__ import annotations

import ast
import io
import json
import math
import os
import subprocess
import sys
import tokenize
from pathlib import Path

import nbformat
import pytest
import torch
import yaml

from marlin_lite import scaled
from marlin_lite.pretrain import CHECKPOINT, _parse, load_checkpoint, load_config, train

REPO = Path(__file__).resolve().parents[1]
NB_DIR = REPO / "notebooks" / "scaled"
MICRO = {"model_overrides": {"enc_depth": 1, "dec_depth": 1}, "num_identities": 6, "clips_per_identity": 2,
         "warmup_steps": 1, "progress": False}
PRETRAIN_SETTINGS = {"batch_size": 2, "max_steps": 4, "log_every": 1, "ckpt_every": 2, "device": "cpu", "precision": "fp32", **MICRO}
PRETRAIN_MICRO = dict(config="configs/tiny.yaml", settings=PRETRAIN_SETTINGS)


def micro(drop: tuple[str, ...] = (), **changes) -> dict:
    """The notebook parameters of PRETRAIN_MICRO with some settings dropped or changed."""
    settings = {k: v for k, v in PRETRAIN_SETTINGS.items() if k not in drop}
    return {**PRETRAIN_MICRO, "settings": {**settings, **changes}}
PROBE = {"lr": 1e-2, "epochs": 20}


def parameters_cell(path: Path) -> str:
    """The source of a notebook's one cell tagged ``parameters``."""
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1, f"{path.name} needs exactly one cell tagged parameters"
    return cells[0].source


def notebook_parameters(path: Path) -> dict:
    """The names and literal defaults of a notebook's cell tagged ``parameters``."""
    tree = ast.parse(parameters_cell(path))
    return {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)}


def parameter_comments(path: Path) -> dict[str, str]:
    """``name -> comment`` of the ``name = value  # comment`` lines of the parameters cell."""
    comments, names = {}, {}
    for tok in tokenize.generate_tokens(io.StringIO(parameters_cell(path)).readline):
        if tok.type == tokenize.NAME and tok.start[1] == 0:
            names[tok.start[0]] = tok.string
        elif tok.type == tokenize.COMMENT and tok.start[0] in names:
            comments[names[tok.start[0]]] = tok.string.removeprefix("#").strip()
    return comments


def run_notebook(name: str, out: Path, **parameters) -> nbformat.NotebookNode:
    import papermill

    out.parent.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(str(NB_DIR / name), str(out), parameters=parameters, kernel_name="python3", cwd=str(REPO),
                               progress_bar=False, log_output=False, execution_timeout=600)
    return nbformat.read(out, as_version=4)


def text_outputs(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            parts.append(o.get("text", "") if o.get("output_type") == "stream" else "".join(o.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


# --------------------------------------------------------------------------------------
# Notebooks and parameter files
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pretrain", "downstream"])
def test_every_papermill_file_key_is_a_notebook_parameter(kind):
    params = notebook_parameters(NB_DIR / f"{kind}.ipynb")
    files = sorted((REPO / "configs").glob(f"{kind}_*.yaml"))
    assert files, f"no configs/{kind}_*.yaml"
    for path in files:
        values = yaml.safe_load(path.read_text())
        unknown = sorted(set(values) - set(params))
        assert not unknown, f"{path.name}: {unknown} are not parameters of {kind}.ipynb"
        assert scaled.read_params(path, kind) == values
        if kind == "pretrain":  # the recipe it names exists and loads with its settings (PretrainConfig's own fields)
            load_config(scaled.resolve_path(values["config"]), **values.get("settings", {}))
    with pytest.raises(ValueError, match="unknown pretrain notebook parameter"):
        bad = REPO / "configs" / "downstream_smoke.yaml"
        scaled.read_params(bad, "pretrain")


def test_notebook_parameters_are_the_package_tables_and_there_are_no_outputs():
    """The parameters cells (edited in the notebooks or their paired .py) list exactly the
    package's tables: names in order, defaults and comments."""
    import papermill  # papermill itself reads every parameter (it skips lines with a second "=")

    for name, table in (("pretrain.ipynb", scaled.PRETRAIN_PARAMETERS), ("downstream.ipynb", scaled.DOWNSTREAM_PARAMETERS)):
        assert notebook_parameters(NB_DIR / name) == {k: v[0] for k, v in table.items()}
        assert list(papermill.inspect_notebook(str(NB_DIR / name))) == list(table)
        assert parameter_comments(NB_DIR / name) == {k: v[1] for k, v in table.items()}, (
            f"{name}: the comments of the parameters cell differ from marlin_lite.scaled's table")
    for name in ("pretrain.ipynb", "downstream.ipynb"):
        nb = nbformat.read(NB_DIR / name, as_version=4)
        nbformat.validate(nb)
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    # the functions the notebooks call take exactly the notebooks' parameters
    import inspect

    assert list(inspect.signature(scaled.plan_pretraining).parameters) == list(scaled.PRETRAIN_PARAMETERS)
    assert list(inspect.signature(scaled.run_downstream).parameters) == list(scaled.DOWNSTREAM_PARAMETERS)


def test_the_cli_refuses_unknown_parameters(capsys):
    assert scaled.main(["pretrain", "--params", "configs/pretrain_tiny_smoke.yaml", "--set", "bogus=1"]) == 2
    assert "unknown pretrain parameter" in capsys.readouterr().err


def test_settings_are_pretrain_config_fields_and_nothing_else(tmp_path):
    with pytest.raises(ValueError, match=r"settings names unknown PretrainConfig field\(s\) \['max_step'\]"):
        scaled.plan_pretraining(out_dir=tmp_path / "run", **micro(max_step=3))
    with pytest.raises(ValueError, match=r"settings sets \['out_dir'\]: use the notebook parameters out_dir"):
        scaled.plan_pretraining(out_dir=tmp_path / "run", **micro(out_dir="elsewhere"))
    with pytest.raises(ValueError, match="settings must be a mapping of PretrainConfig fields"):
        scaled.plan_pretraining(out_dir=tmp_path / "run", config="tiny", settings=["max_steps", 3])
    with pytest.raises(ValueError, match="batch_size"):  # PretrainConfig types its own fields
        scaled.plan_pretraining(out_dir=tmp_path / "run", **micro(batch_size=2.5))
    assert not (tmp_path / "run").exists()


def test_set_pairs_change_one_entry_of_a_mapping():
    params = {"settings": {"max_steps": 4, "lr": 0.1}, "config": "tiny"}
    out = scaled.apply_sets(params, ["settings.max_steps=100", "config=configs/base.yaml"], "pretrain")
    assert out == {"settings": {"max_steps": 100, "lr": 0.1}, "config": "configs/base.yaml"}
    assert params["settings"]["max_steps"] == 4  # the caller's parameters are not changed
    assert scaled.apply_sets({}, ["probe.lr=1e-4"], "downstream") == {"probe": {"lr": 1e-4}}
    with pytest.raises(ValueError, match="out_dir is not a mapping"):
        scaled.apply_sets({}, ["out_dir.x=1"], "pretrain")
    with pytest.raises(ValueError, match="unknown pretrain parameter 'max_steps'"):
        scaled.apply_sets({}, ["max_steps=1"], "pretrain")
    with pytest.raises(ValueError, match="takes key=value"):
        scaled.apply_sets({}, ["max_steps"], "pretrain")


def test_the_cli_keeps_every_set_flag(monkeypatch):
    seen = {}

    def fake_run(**params):
        seen.update(params)
        raise RuntimeError("stop here")

    monkeypatch.setattr(scaled.cli, "run_downstream", fake_run)
    argv = ["downstream", "--params", "configs/downstream_smoke.yaml", "--set", "seeds=[0, 1]", "mode=all", "--set", "device=cpu"]
    assert scaled.main(argv) == 2
    assert seen["seeds"] == [0, 1] and seen["mode"] == "all" and seen["device"] == "cpu"


# --------------------------------------------------------------------------------------
# Pretraining
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """The pretraining notebook, run by papermill on CPU: 4 steps of a one-block tiny model."""
    base = tmp_path_factory.mktemp("scaled")
    out_dir = base / "run"
    nb = run_notebook("pretrain.ipynb", base / "pretrain_out.ipynb", out_dir=str(out_dir), **PRETRAIN_MICRO)
    return out_dir, nb


def test_pretrain_notebook_trains_and_writes_the_run(pretrained):
    out_dir, nb = pretrained
    for name in (CHECKPOINT, "metrics.jsonl", "summary.json", "config.json", "loss_curve.png", "reconstruction.png"):
        assert (out_dir / name).is_file(), name
    summary = json.loads((out_dir / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["finished"] and summary["launched"] == "in_process"
    assert all(finite(summary["final"][k]) for k in ("loss", "rec", "critic", "adv"))
    assert summary["throughput"]["clips_per_s"] > 0
    assert summary["device"]["type"] == "cpu" and summary["device"]["precision"] == "fp32"
    assert summary["config"]["model"] == "tiny" and summary["config"]["model_overrides"] == {"enc_depth": 1, "dec_depth": 1}
    assert load_checkpoint(out_dir / CHECKPOINT)["step"] == 4
    text = text_outputs(nb)
    assert "python -m marlin_lite.pretrain --config" in text
    assert "torchrun --standalone --nproc_per_node 2 -m marlin_lite.pretrain" in text
    assert "in_process: step 4 of 4" in text
    assert any(o.get("output_type") == "display_data" and "image/png" in o.get("data", {})
               for c in nb.cells for o in c.get("outputs", [])), "the loss curve and reconstructions are shown"


def test_the_printed_command_builds_the_same_config(tmp_path):
    plan = scaled.plan_pretraining(out_dir=tmp_path / "run", **micro(drop=("model_overrides",), lr=0.05))
    cmd = plan.command
    assert cmd[:3] == [sys.executable, "-m", "marlin_lite.pretrain"]
    config, resume, _, overrides = _parse(cmd[3:])
    assert load_config(config, **overrides) == plan.cfg and not resume
    assert plan.torchrun[:6] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    assert scaled.command_line(plan.torchrun).startswith("torchrun --standalone --nproc_per_node 2 -m marlin_lite.pretrain "
                                                         "--config configs/tiny.yaml")
    # fields without a flag go through a resolved YAML file that the commands name
    plan = scaled.plan_pretraining(out_dir=tmp_path / "run2", **PRETRAIN_MICRO)
    assert plan.launch_config == tmp_path / "run2" / "launch_config.yaml"
    config, _, _, overrides = _parse(plan.command[3:])
    assert overrides == {} and load_config(config) == plan.cfg


def test_epochs_become_steps(tmp_path):
    assert scaled.epochs_to_steps(2, 100, 8) == 24 and scaled.epochs_to_steps(0.01, 100, 8) == 1
    with pytest.raises(ValueError, match="fewer than one global batch"):
        scaled.epochs_to_steps(1, 4, 8)
    plan = scaled.plan_pretraining(out_dir=tmp_path / "run", epochs=3, warmup_epochs=1, num_gpus=2, launch_torchrun=False,
                                   **micro(drop=("max_steps",)))
    n = scaled.training_set_size(plan.cfg)
    assert plan.cfg.max_steps == 3 * (n // 4) and plan.cfg.warmup_steps == n // 4  # global batch 2 x 2


def test_resume_continues_a_crashed_run_and_old_runs_are_protected(tmp_path, capsys):
    plan = scaled.plan_pretraining(out_dir=tmp_path / "run", **PRETRAIN_MICRO)

    def crash(step, metrics):
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(plan.cfg, callback=crash)
    assert load_checkpoint(tmp_path / "run" / CHECKPOINT)["step"] == 2
    with pytest.raises(ValueError, match="resume=True"):
        scaled.plan_pretraining(out_dir=tmp_path / "run", **PRETRAIN_MICRO)
    plan = scaled.plan_pretraining(out_dir=tmp_path / "run", resume=True, **PRETRAIN_MICRO)
    assert plan.resume and plan.command[-1] == "--resume"
    outcome = scaled.run_pretraining(plan)
    assert outcome.step == 4 and [r["step"] for r in scaled.read_metrics(tmp_path / "run")] == [1, 2, 3, 4]
    assert scaled.write_summary(plan, outcome)["finished"]
    fresh = scaled.plan_pretraining(out_dir=tmp_path / "run", overwrite=True, **PRETRAIN_MICRO)
    assert not fresh.resume and not (tmp_path / "run" / CHECKPOINT).exists() and not (tmp_path / "run" / "summary.json").exists()
    scaled.plan_pretraining(out_dir=tmp_path / "new", resume=True, **PRETRAIN_MICRO)
    assert "starting a fresh run" in capsys.readouterr().out


def test_torchrun_launch_two_cpu_processes(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    kw = micro(drop=("model_overrides",), max_steps=2)
    idle = scaled.plan_pretraining(out_dir=tmp_path / "idle", num_gpus=2, launch_torchrun=False, **kw)
    assert not scaled.run_pretraining(idle).trained
    assert "torchrun --standalone --nproc_per_node 2" in capsys.readouterr().out
    plan = scaled.plan_pretraining(out_dir=tmp_path / "ddp", num_gpus=2, **kw)
    outcome = scaled.run_pretraining(plan)
    assert outcome.launched == "torchrun" and outcome.step == 2 and outcome.trained
    digests = [(tmp_path / "ddp" / f"rank{r}_weights.sha256").read_text() for r in (0, 1)]
    assert digests[0] == digests[1]
    assert (tmp_path / "ddp" / "torchrun.log").is_file()
    summary = scaled.write_summary(plan, outcome)
    assert summary["device"]["processes"] == 2 and summary["global_batch"] == 4


class _FakeParser:
    """Stands in for MediaPipe: a face-shaped blob of skin, eyes and mouth in every frame."""

    name = "fake_landmarks"

    def parse(self, frames):
        import numpy as np

        t, h, w = frames.shape[:3]
        maps = np.zeros((t, h, w), np.uint8)
        maps[:, h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = 1
        maps[:, h // 3, w // 3] = 4
        maps[:, 2 * h // 3, w // 2] = 8
        return type("Parse", (), {"parsing": maps})()


def test_a_real_data_set_becomes_a_clip_store_with_drawn_parsing_maps(tmp_path):
    from marlin_lite.clipstore import ClipStore
    from marlin_lite.datasets import make_replica

    make_replica("ytf", tmp_path / "ytf")
    kw = dict(num_frames=8, img_size=64, data_root=tmp_path / "ytf", progress=False)
    with pytest.raises(ValueError, match="face_parsing='landmarks'"):
        scaled.prepare_pretrain_data("ytf", store_dir=tmp_path / "plain", need_parsing=True, **kw)
    path, note = scaled.prepare_pretrain_data("ytf", store_dir=tmp_path / "store", face_parsing=_FakeParser(), need_parsing=True, **kw)
    store = ClipStore(path)
    assert store.has_parsing and store.frames_shape == (8, 64, 64, 3) and len(store) >= 4 and "ytf" in note
    assert scaled.prepare_pretrain_data(path, **kw) == (path, f"clip store {path}")  # a store is used as it is
    plan = scaled.plan_pretraining(dataset=path, out_dir=tmp_path / "run", **PRETRAIN_MICRO)
    assert plan.cfg.data_path == path and load_config(plan.launch_config).data_path == path
    with pytest.raises(FileNotFoundError, match="data set name"):
        scaled.prepare_pretrain_data("nowhere", **kw)


# --------------------------------------------------------------------------------------
# Downstream
# --------------------------------------------------------------------------------------


def _results(out_dir: Path) -> list[dict]:
    return json.loads((out_dir / "results.json").read_text())["rows"]


def test_downstream_notebook_on_synthface(pretrained, tmp_path):
    out_dir, _ = pretrained
    nb = run_notebook("downstream.ipynb", tmp_path / "ds.ipynb", task="far", checkpoint=str(out_dir), synthface={"num_identities": 10},
                      probe=PROBE, finetune={"epochs": 1}, precision="fp32", device="cpu", progress=False, out_dir=str(tmp_path / "far"))
    rows = _results(tmp_path / "far")
    assert [r["method"] for r in rows] == ["random_init_probe", "supervised_scratch", "pretrained_probe"]
    assert all(r["task"] == "far" and r["dataset"] == "synthface" and finite(r["accuracy"]) and finite(r["auc_micro"]) for r in rows)
    assert (tmp_path / "far" / "results.md").read_text().count("| far |") == 3
    run = json.loads((tmp_path / "far" / "run.json").read_text())
    assert run["encoder"]["kind"] == "marlin_lite" and run["encoder"]["step"] == 4
    assert "pretrained_probe" in text_outputs(nb)


def test_downstream_notebook_on_a_celebvhq_replica(pretrained, tmp_path):
    from marlin_lite.datasets import make_replica

    out_dir, _ = pretrained
    make_replica("celebvhq", tmp_path / "celebvhq")
    run_notebook("downstream.ipynb", tmp_path / "ds.ipynb", task="far", dataset="celebvhq", data_root=str(tmp_path / "celebvhq"),
                 checkpoint=str(out_dir / CHECKPOINT), methods=["pretrained_probe", "pretrained_finetune"], probe=PROBE,
                 finetune={"epochs": 1}, device="cpu", progress=False, out_dir=str(tmp_path / "far"))
    rows = _results(tmp_path / "far")
    assert [r["method"] for r in rows] == ["pretrained_probe", "pretrained_finetune"]
    assert all(r["dataset"] == "celebvhq" and finite(r["accuracy"]) and finite(r["auc_micro"]) for r in rows)
    run = json.loads((tmp_path / "far" / "run.json").read_text())
    assert run["data"]["sample_rate"] == 2 and run["data"]["label"] == "attributes"
    assert any((tmp_path / "far" / "features").glob("features_*.pt")), "features are cached on disk"


def test_deepfake_detection_on_an_ffpp_replica_names_its_methods(tmp_path):
    from marlin_lite.datasets import make_replica

    make_replica("ffpp", tmp_path / "ffpp", methods=("Deepfakes", "FaceSwap"))
    result = scaled.run_downstream(task="dfd", dataset="ffpp", data_root=tmp_path / "ffpp", checkpoint="random:tiny",
                                   methods=["pretrained_probe"], probe=PROBE, device="cpu", progress=False, out_dir=tmp_path / "dfd")
    rows = _results(tmp_path / "dfd")
    assert {(r["level"], r["manipulation"]) for r in rows} == {(lv, m) for lv in ("clip", "video") for m in ("all", "Deepfakes", "FaceSwap")}
    assert all(finite(r["auc"]) and finite(r["accuracy"]) for r in rows)
    assert result.info["encoder"]["kind"] == "random"


def test_mosei_labels_reach_the_probe_through_a_view(tmp_path):
    from marlin_lite.datasets import make_replica
    from marlin_lite.model import get_config

    make_replica("mosei", tmp_path / "mosei")
    data = scaled.downstream_data("fer", "mosei", get_config("tiny"), data_root=tmp_path / "mosei")
    item = data.train[0]
    assert data.spec.kind == "multiclass" and data.spec.num_classes == 2 and data.label == "sentiment_class"
    assert int(item["expression"]) == int(item["sentiment_class"]) and item["video"].shape[-1] == 64
    assert "sentiment_class" in data.train.spec()
    spec, rename = scaled.real_task_spec("mosei", "emotions_present")
    assert spec.kind == "multilabel" and rename == {"attributes": "emotions_present"}
    with pytest.raises(ValueError, match="not one of mosei"):
        scaled.real_task_spec("mosei", "happy")
    with pytest.raises(ValueError, match="runs on celebvhq"):
        scaled.downstream_data("far", "mosei", get_config("tiny"), data_root=tmp_path / "mosei")


def test_load_encoder_never_downloads_and_reads_official_files(tmp_path, monkeypatch):
    from marlin_lite import model as M
    from marlin_lite import official

    def no_download(*args, **kwargs):
        raise AssertionError("a test must never download weights")

    monkeypatch.setattr(official, "_download", no_download)
    monkeypatch.setenv("MARLIN_LITE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="download=False"):
        scaled.load_encoder("marlin_vit_base_ytf")
    torch.manual_seed(0)
    ref = M.MarlinAutoencoder(M.get_config("tiny", num_frames=16))  # official files hold 16-frame models
    torch.save(official.to_official(ref, encoder_only=True), tmp_path / "official_tiny.pt")
    enc, info = scaled.load_encoder(tmp_path / "official_tiny.pt")
    assert info["kind"] == "official_file" and enc.cfg.enc_dim == 128 and enc.cfg.num_frames == 16
    for k, v in ref.encoder.state_dict().items():
        torch.testing.assert_close(enc.state_dict()[k], v)
    with pytest.raises(FileNotFoundError, match="random:<preset>"):
        scaled.load_encoder(tmp_path / "missing.pt")


# --------------------------------------------------------------------------------------
# The GPU verification script
# --------------------------------------------------------------------------------------


def test_gpu_verify_script_is_valid_and_names_existing_files():
    script = REPO / "scripts" / "gpu_verify.sh"
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    text = script.read_text()
    for name in ("benchmarks/gpu_check.py", "benchmarks/pretrain_throughput.py", "benchmarks/extract_throughput.py",
                 "benchmarks/loader_throughput.py", "notebooks/scaled/pretrain.ipynb", "configs/pretrain_base_synthface_gpu.yaml"):
        assert name in text and (REPO / name).is_file(), name
    assert os.access(script, os.X_OK) or text.startswith("#!/usr/bin/env bash")
