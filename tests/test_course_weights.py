"""The shipped course checkpoint: its hash, config and record, that it loads, and its command."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from marlin_lite import course_weights as CW
from marlin_lite.pretrain import PretrainConfig, load_checkpoint, load_config, model_from_checkpoint, train

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_weights_match_their_record_config_and_load():
    record = CW.verify_course_weights()  # raises if the hash differs
    assert CW.COURSE_WEIGHTS.stat().st_size <= 6 * 1024 * 1024
    assert record["bytes"] == CW.COURSE_WEIGHTS.stat().st_size
    # trained with exactly configs/course.yaml (runtime-only keys aside)
    wanted = vars(load_config(ROOT / "configs" / "course.yaml"))
    saved = record["config"]
    defaults = vars(PretrainConfig())
    for key, value in wanted.items():
        if key in ("progress", "num_workers", "device"):
            continue
        # A key added after the checkpoint was trained is absent from its record: the run had
        # the behaviour that key's default now names (schedule and init "course").
        got = saved[key] if key in saved else defaults[key]
        got = tuple(got) if isinstance(value, tuple) else got
        assert got == value, key
    assert record["step"] == saved["max_steps"]
    assert len(record["commit"]) == 40 and record["command"] == CW.COURSE_COMMAND
    steps = [m["step"] for m in record["metrics"]]
    assert steps == sorted(steps) and steps[-1] == record["step"]
    model = CW.load_course_model()
    assert not model.training and next(model.parameters()).dtype == torch.float32
    assert model.discriminator is not None
    # the weights are the stored float16 values
    stored = torch.load(CW.COURSE_WEIGHTS, map_location="cpu", weights_only=True)["model"]
    torch.testing.assert_close(model.encoder.patch_embed.proj.weight, stored["encoder.patch_embed.proj.weight"].float())
    # what the lessons load and print
    same, pre, where = CW.lesson_model("course")
    assert where == "the course checkpoint" and pre.max_steps == record["step"] and pre.framing == saved["framing"]
    torch.testing.assert_close(same.encoder.patch_embed.proj.weight, model.encoder.patch_embed.proj.weight)
    text = CW.describe_record(record)
    assert text.splitlines()[0] == f"command: {CW.COURSE_COMMAND}" and record["sha256"][:16] in text
    assert f"{record['step']} steps of batch {saved['batch_size']}" in text


def test_a_changed_weights_file_is_refused(tmp_path):
    copy = tmp_path / "course_tiny.pt"
    data = bytearray(CW.COURSE_WEIGHTS.read_bytes())
    data[-10] ^= 0xFF
    copy.write_bytes(bytes(data))
    (tmp_path / "course_tiny.json").write_text(CW.COURSE_RECORD.read_text())
    with pytest.raises(ValueError, match="SHA-256"):
        CW.verify_course_weights(copy)
    with pytest.raises(FileNotFoundError, match="course_weights export"):
        CW.course_record(tmp_path / "missing.json")


def test_export_writes_float16_weights_that_load_and_a_record(tmp_path):
    cfg = load_config(ROOT / "configs" / "tiny.yaml", max_steps=3, num_identities=6, clips_per_identity=1, batch_size=2,
                      framing="face", expressions="marked", out_dir=str(tmp_path / "run"), progress=False, ckpt_every=3)
    train(cfg)
    out = tmp_path / "w" / "x.pt"
    rec = CW.export_weights(tmp_path / "run", out, commit="0" * 40, wall_seconds=1.5, machine="test")
    assert json.loads(out.with_suffix(".json").read_text()) == rec
    assert rec["sha256"] == CW.sha256_file(out) and rec["training"]["wall_seconds"] == 1.5
    state = load_checkpoint(out)["model"]
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    full = model_from_checkpoint(tmp_path / "run" / "checkpoint.pt")
    small = CW.load_course_model(out)
    x = torch.rand(1, 3, 8, 64, 64)
    torch.testing.assert_close(small.encoder.extract_features(x), full.encoder.extract_features(x), atol=2e-2, rtol=2e-2)
    # an unfinished run is not exported
    cfg2 = load_config(ROOT / "configs" / "tiny.yaml", max_steps=4, num_identities=6, clips_per_identity=1, batch_size=2,
                       out_dir=str(tmp_path / "run2"), progress=False, ckpt_every=1)
    def stop_at_2(step, metrics):
        if step == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(cfg2, callback=stop_at_2)
    with pytest.raises(ValueError, match="stopped at step 2 of 4"):
        CW.export_weights(tmp_path / "run2", tmp_path / "y.pt")
    assert CW.main(["export", str(tmp_path / "nowhere"), "--out", str(tmp_path / "z.pt")]) == 2

    # A lesson's WEIGHTS: a checkpoint path and "train" (a finished run is reused, not retrained).
    yaml_path = tmp_path / "recipe.yaml"
    yaml_path.write_text(yaml.safe_dump({k: v for k, v in vars(cfg).items() if k not in ("out_dir", "progress")}))
    for weights, kwargs in [(str(out), {}), ("train", {"config": yaml_path, "out_dir": tmp_path / "run"})]:
        model, pre, where = CW.lesson_model(weights, **kwargs)
        assert not model.training and pre.max_steps == 3 and pre.framing == "face" and where
        torch.testing.assert_close(model.encoder.extract_features(x), small.encoder.extract_features(x), atol=2e-2, rtol=2e-2)
    with pytest.raises(FileNotFoundError, match="WEIGHTS = 'nothing.pt'"):
        CW.lesson_model("nothing.pt")
    with pytest.raises(ValueError, match="CONFIG"):
        CW.lesson_model("train")


def test_the_course_command_runs_a_few_steps(tmp_path):
    """The documented command, shortened: the same config file, 2 steps."""
    out = tmp_path / "course"
    proc = subprocess.run(
        [sys.executable, "-m", "marlin_lite.pretrain", "--config", str(ROOT / "configs" / "course.yaml"), "--max-steps", "2",
         "--out-dir", str(out), "--progress", "false", "--log-every", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    cfg = yaml.safe_load((ROOT / "configs" / "course.yaml").read_text())
    saved = json.loads((out / "config.json").read_text())
    assert saved["framing"] == cfg["framing"] == "face" and saved["num_identities"] == cfg["num_identities"]
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2] and all(r["rec"] > 0 for r in log)
