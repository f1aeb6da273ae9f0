"""Downstream tasks: linear probe, feature cache, low-data subsets, fine-tuning, results tables,
and FAR / FER / DFD end to end on a tiny SynthFace set with a tiny encoder (seconds).

Honest by design: nothing here asserts that the pretrained encoder beats the baselines (on a
few clips and a few steps it need not); the tests check that every number is well formed and
reproducible.
"""

from __future__ import annotations

import inspect
import json
import math
import re

import pytest
import torch

from marlin_lite.data import SynthFaceDataset
from marlin_lite.model import get_config
from marlin_lite.synthface import ATTRIBUTES, EXPRESSIONS
from marlin_lite.tasks import (
    DEFAULT_METHODS,
    FeatureCache,
    ResultsTable,
    compute_features,
    encoder_digest,
    fine_tune,
    linear_probe,
    make_head,
    random_encoder,
    run_dfd,
    run_far,
    run_fer,
    subsample,
    task_generator,
)
from marlin_lite.tasks.far import far_report
from marlin_lite.tasks.fer import fer_confusion
from marlin_lite.tasks.metrics import binary_accuracy, multiclass_accuracy
from marlin_lite.tasks.probe import clip_windows, pool_windows, random_clip

CFG = get_config("tiny", enc_depth=1, dec_depth=1)
# 16-frame clips for an 8-frame encoder: two windows (clips) per item (video).
DATA = dict(num_identities=6, clips_per_identity=4, size=64, num_frames=16, cache=True, split_by="clip", fractions=(0.5, 0.25, 0.25))
FAST_PROBE = dict(epochs=30, lr=1e-2)
FAST_FINETUNE = dict(epochs=1, batch_size=6)


@pytest.fixture(scope="module")
def model():
    return random_encoder(CFG, seed=123)  # stands in for a pretrained encoder


@pytest.fixture(scope="module")
def real_sets():
    return {s: SynthFaceDataset(s, **DATA) for s in ("train", "val", "test")}


@pytest.fixture(scope="module")
def mixed_sets():
    return {s: SynthFaceDataset(s, fake_fraction=0.5, **DATA) for s in ("train", "val", "test")}


@pytest.fixture(scope="module")
def cache():
    return FeatureCache()


# --------------------------------------------------------------------------------------
# Linear probe
# --------------------------------------------------------------------------------------


def blobs(n=90, d=16, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(c, d, generator=g) * 2
    y = torch.arange(n) % c
    return centres[y] + 0.5 * torch.randn(n, d, generator=g), y


def test_official_probe_protocol_halves_the_rate_stops_and_keeps_the_best_auc():
    """The official FAR protocol: batch 32, Adam 1e-4 (0.5, 0.9), ReduceLROnPlateau(0.5, 7) on the
    validation loss, stop at lr <= 1e-6, keep the epoch with the best validation AUC."""
    from marlin_lite.tasks.probe import PROBE_PROTOCOLS
    from marlin_lite.tasks.metrics import multilabel_auc

    official = PROBE_PROTOCOLS["official"]
    assert (official["batch_size"], official["lr"], official["betas"], official["plateau"], official["stop_lr"]) == (
        32, 1e-4, (0.5, 0.9), (0.5, 7), 1e-6)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(160, 8, generator=g) * 30  # large features: the best weights are small, soon reached at lr 1e-4
    labels = (torch.rand(160, 3, generator=g) > 0.5).float()  # two labels of pure noise, one noisy but learnable:
    labels[:, 0] = (x[:, 0] / 30 + 2 * torch.randn(160, generator=g) > 0).float()  # the val loss plateaus
    result = linear_probe(x[:96], labels[:96], x[96:], labels[96:], task="multilabel", protocol="official", seed=1)
    lrs = [h["lr"] for h in result.history]
    assert [h["epoch"] for h in result.history] == list(range(1, len(lrs) + 1))  # evaluated every epoch
    # Each epoch's rate: 1e-4 halved six times to 1.56e-6; the next halving reaches 7.8e-7 <= 1e-6: stop.
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(1e-4 / 64) and len(lrs) < 2000
    assert all(b in (a, a / 2) for a, b in zip(lrs, lrs[1:])) and len(set(lrs)) == 7
    # A halving needs more than 7 evaluations without a better validation loss.
    changes = [i for i in range(1, len(lrs)) if lrs[i] < lrs[i - 1]]
    assert all(b - a >= 8 for a, b in zip([0, *changes], changes))
    best = max(result.history, key=lambda h: h["val_metric"])
    assert result.best_epoch == best["epoch"]
    assert multilabel_auc(result.predict(x[96:]), labels[96:], average="micro") == pytest.approx(best["val_metric"])
    with pytest.raises(ValueError, match="protocol 'official' steps the rate on the validation loss"):
        linear_probe(x, labels, task="multilabel", protocol="official")
    with pytest.raises(ValueError, match="protocol must be one of"):
        linear_probe(x, labels, task="multilabel", protocol="marlin")


def test_linear_probe_learns_a_separable_problem():
    x_all, y_all = blobs(n=180)  # held-out points of the same clusters for validation
    x, y, xv, yv = x_all[:90], y_all[:90], x_all[90:], y_all[90:]
    result = linear_probe(x, y, xv, yv, task="multiclass", epochs=50, lr=1e-2)
    assert multiclass_accuracy(result.predict(x), y) == 1.0
    assert multiclass_accuracy(result.predict(xv), yv) == 1.0
    assert result.head.weight.shape == (3, 16) and result.predict(xv).shape == (90, 3)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert 1 <= result.best_epoch <= 50 and "val_loss" in result.history[0]
    # binary and multi-label heads on linearly separable labels; mini-batches this time
    w = torch.randn(16, 4, generator=torch.Generator().manual_seed(5))
    labels = (x @ w > 0).float()
    multi = linear_probe(x, labels, task="multilabel", epochs=40, lr=5e-2, batch_size=32)  # 3 mini-batches an epoch
    assert binary_accuracy(multi.predict(x), labels) > 0.95
    binary = linear_probe(x, labels[:, 0], task="binary", epochs=100, lr=5e-2)
    assert binary.predict(x).shape == (90,) and binary_accuracy(binary.predict(x), labels[:, 0]) > 0.95


def test_linear_probe_is_seeded_and_follows_marlin_defaults():
    x, y = blobs(n=30)
    a = linear_probe(x, y, task="multiclass", epochs=5, seed=0)
    b = linear_probe(x, y, task="multiclass", epochs=5, seed=0)
    c = linear_probe(x, y, task="multiclass", epochs=5, seed=1)
    torch.testing.assert_close(a.head.weight, b.head.weight, rtol=0, atol=0)
    assert not torch.equal(a.head.weight, c.head.weight)
    params = inspect.signature(linear_probe).parameters
    assert params["lr"].default == 1e-4 and params["betas"].default == (0.5, 0.9)  # MARLIN's FAR protocol
    # a multiclass head keeps every class even if a small subset lacks the last ones
    assert linear_probe(x[y < 2], y[y < 2], task="multiclass", num_classes=6, epochs=1).head.out_features == 6


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(train_targets=torch.zeros(5, dtype=torch.long)), "10 rows but train_targets has 5"),
        (dict(task="multilabel", train_targets=torch.zeros(10, dtype=torch.long)), r"\(N, C\) of 0/1"),
        (dict(task="binary", train_targets=torch.full((10,), 2)), "only 0 and 1"),
        (dict(val_feats=torch.zeros(3, 4)), "both val_feats and val_targets"),
        (dict(train_feats=torch.zeros(10, 4, 2)), r"\(N, D\)"),
        (dict(task="regression"), "task must be one of"),
        (dict(epochs=0), "epochs must be >= 1"),
    ],
)
def test_linear_probe_errors(kwargs, match):
    args = dict(train_feats=torch.zeros(10, 4), train_targets=torch.zeros(10, dtype=torch.long), task="multiclass")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        linear_probe(args.pop("train_feats"), args.pop("train_targets"), **args)


# --------------------------------------------------------------------------------------
# Seeds, encoders, features and their cache
# --------------------------------------------------------------------------------------


def test_seeded_building_blocks_leave_the_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b = random_encoder(CFG, seed=7), random_encoder(CFG, seed=7)
    assert encoder_digest(a) == encoder_digest(b) != encoder_digest(random_encoder(CFG, seed=8))
    assert torch.equal(torch.random.get_rng_state(), state)
    h1, h2 = make_head(8, 2, task_generator(0, "head")), make_head(8, 2, task_generator(0, "head"))
    assert torch.equal(h1.weight, h2.weight) and h1.weight.abs().max() <= 8**-0.5
    assert task_generator(0, "a").initial_seed() != task_generator(0, "b").initial_seed()
    with pytest.raises(ValueError, match="seed"):
        task_generator(-1)


def test_features_follow_the_window_protocol(model, real_sets):
    ds = real_sets["test"]
    feats = compute_features(model, ds)
    n = len(ds)
    assert feats.windows.shape == (2 * n, CFG.enc_dim) and feats.owner.tolist() == [i // 2 for i in range(2 * n)]
    assert feats.labels["attributes"].shape == (n, len(ATTRIBUTES)) and feats.labels["expression"].shape == (n,)
    video = ds[1]["video"]
    windows = clip_windows(video, CFG.num_frames)
    torch.testing.assert_close(windows[1], video[:, 8:16])
    with torch.no_grad():
        expected = model.extract_features(windows).mean(0)
    torch.testing.assert_close(feats.pooled()[1], expected, atol=1e-5, rtol=1e-5)
    sub = feats.select(torch.tensor([3, 1]))
    torch.testing.assert_close(sub.pooled(), feats.pooled()[[3, 1]])
    assert sub.labels["index"].tolist() == [3, 1]
    # scores pool the same way (a video's score is the mean of its clips')
    torch.testing.assert_close(pool_windows(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([0, 0, 1]), 2), torch.tensor([2.0, 5.0]))
    torch.testing.assert_close(pool_windows(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([0, 0, 1]), 2, "max"), torch.tensor([3.0, 5.0]))


def test_feature_cache_hits_in_memory_and_on_disk(model, real_sets, tmp_path):
    ds = real_sets["val"]
    cache = FeatureCache(tmp_path)
    first = cache.get(model, ds)
    assert (cache.hits, cache.misses) == (0, 1)
    assert cache.get(model, ds) is first and cache.hits == 1
    assert len(list(tmp_path.glob("features_*.pt"))) == 1
    other = FeatureCache(tmp_path)  # a later process: read from disk
    again = other.get(model, ds)
    assert (other.hits, other.misses) == (1, 0)
    torch.testing.assert_close(again.windows, first.windows)
    assert torch.equal(again.labels["expression"], first.labels["expression"])
    # other weights, another split or another protocol: a miss each
    cache.get(random_encoder(CFG, seed=5), ds)
    cache.get(model, real_sets["test"])
    cache.get(model, ds, sample_rate=2)
    assert cache.misses == 4 and len(cache) == 4
    with pytest.raises(ValueError, match="pass key="):
        cache.get(model, [ds[0]])
    assert cache.get(model, [ds[0]], key="one val item").windows.shape == (2, CFG.enc_dim)


# --------------------------------------------------------------------------------------
# Low-data regime
# --------------------------------------------------------------------------------------


def test_subsample_is_stratified_seeded_and_nested():
    labels = torch.arange(600) % 6
    idx = torch.arange(1000, 1600)
    one = subsample(idx, 0.01, seed=0, stratify=labels)
    assert one.numel() == 6 and sorted(labels[one - 1000].tolist()) == list(range(6))  # 1 % still sees every class
    ten = subsample(idx, 0.1, seed=0, stratify=labels)
    assert torch.bincount(labels[ten - 1000]).tolist() == [10] * 6
    assert set(one.tolist()) <= set(ten.tolist())  # nested within a seed
    assert torch.equal(ten, subsample(idx, 0.1, seed=0, stratify=labels))
    assert not torch.equal(ten, subsample(idx, 0.1, seed=1, stratify=labels))
    assert torch.equal(subsample(idx, 1.0, stratify=labels), idx)
    plain = subsample(list(range(50)), 0.1, seed=3)
    assert plain.numel() == 5 and plain.tolist() == sorted(plain.tolist())
    assert subsample(range(50), 0.001).numel() == 1
    with pytest.raises(ValueError, match="fraction"):
        subsample(idx, 0)
    with pytest.raises(ValueError, match="stratify must be 1-D"):
        subsample(idx, 0.5, stratify=torch.zeros(600, 2))


# --------------------------------------------------------------------------------------
# Fine-tuning
# --------------------------------------------------------------------------------------


def test_fine_tune_trains_in_place_and_is_reproducible(real_sets):
    ds = real_sets["train"]
    targets = torch.stack([ds[i]["expression"] for i in range(len(ds))])

    def run():
        enc = random_encoder(CFG, seed=0)
        head = make_head(CFG.enc_dim, len(EXPRESSIONS), task_generator(0, "head"))
        return fine_tune(enc, head, ds, targets, task="multiclass", indices=[0, 2, 4, 6], epochs=2, batch_size=2, lr=1e-3)

    a, b = run(), run()
    assert [h["epoch"] for h in a.history] == [1, 2] and all(math.isfinite(h["train_loss"]) for h in a.history)
    assert encoder_digest(a.encoder) == encoder_digest(b.encoder) != encoder_digest(random_encoder(CFG, seed=0))
    assert not a.encoder.training
    with pytest.raises(ValueError, match="head must be Linear"):
        fine_tune(random_encoder(CFG), make_head(CFG.enc_dim, 2, task_generator(0)), ds, targets, task="multiclass")
    with pytest.raises(ValueError, match="per-item targets"):
        fine_tune(random_encoder(CFG), make_head(CFG.enc_dim, 6, task_generator(0)), ds, targets[:3], task="multiclass")


def test_fine_tune_keeps_the_best_validation_epoch(real_sets):
    """select='metric': the returned weights are those of the best validation evaluation (their
    accuracy on the same validation clips is the recorded one); plateau + stop_lr stop early; the
    official protocol needs a validation split; without select nothing changes."""
    ds, val = real_sets["train"], real_sets["val"]
    targets = torch.stack([ds[i]["expression"] for i in range(len(ds))])
    val_targets = torch.stack([val[i]["expression"] for i in range(len(val))])

    def run(**kw):
        enc = random_encoder(CFG, seed=0)
        head = make_head(CFG.enc_dim, len(EXPRESSIONS), task_generator(0, "head"))
        return fine_tune(enc, head, ds, targets, task="multiclass", epochs=4, batch_size=4, lr=3e-3, **kw)

    plain = run()
    assert plain.best_epoch == 4 and all("val_loss" not in h for h in plain.history)
    chosen = run(val_dataset=val, val_targets=val_targets, select="metric")
    assert [h["epoch"] for h in chosen.history] == [1, 2, 3, 4] and all("val_metric" in h for h in chosen.history)
    best = max(chosen.history, key=lambda h: h["val_metric"])
    assert chosen.best_epoch == best["epoch"]
    if chosen.best_epoch == 4:  # the last epoch's weights are the plain run's (same seeds, same clips)
        assert encoder_digest(chosen.encoder) == encoder_digest(plain.encoder)
    # re-score the same validation clips with the returned weights: the recorded metric comes back
    gen = task_generator(0, "finetune_val_clips")
    clips = torch.stack([random_clip(val[j]["video"], CFG.num_frames, 1, gen, CFG.img_size) for j in range(len(val))])
    with torch.no_grad():
        acc = multiclass_accuracy(chosen.head(chosen.encoder.extract_features(clips)).softmax(-1), val_targets)
    assert acc == pytest.approx(best["val_metric"], abs=1e-6)
    stopped = run(val_dataset=val, val_targets=val_targets, select="loss", plateau=(0.1, 0), stop_lr=5e-4)
    assert len(stopped.history) < 4 and stopped.history[-1]["lr"] <= 3e-3
    with pytest.raises(ValueError, match="pass val_dataset and val_targets"):
        run(protocol="official")
    with pytest.raises(ValueError, match="select must be"):
        run(val_dataset=val, val_targets=val_targets, select="auc")


# --------------------------------------------------------------------------------------
# Results tables
# --------------------------------------------------------------------------------------


def test_results_table_summary_markdown_and_json(tmp_path):
    table = ResultsTable()
    for seed, acc in [(0, 0.5), (1, 0.7), (2, 0.9)]:
        table.add(task="fer", method="pretrained_probe", fraction=1.0, seed=seed, accuracy=acc, auc=math.nan)
    table.add(task="fer", method="random_init_probe", fraction=1.0, seed=0, accuracy=0.25, auc=0.5)
    assert isinstance(table, list) and table.metric_columns() == ["accuracy", "auc"]
    summary = table.summarize()
    assert [s["method"] for s in summary] == ["pretrained_probe", "random_init_probe"]
    assert summary[0]["accuracy_mean"] == pytest.approx(0.7) and summary[0]["accuracy_std"] == pytest.approx(0.2)
    assert summary[0]["n_seed"] == 3 and math.isnan(summary[0]["auc_mean"]) and summary[1]["accuracy_std"] == 0.0
    md = table.to_markdown()
    assert md.splitlines()[0] == "| task | method | fraction | accuracy | auc | n_seed |"
    assert "| fer | pretrained_probe | 1 | 0.700 ± 0.200 | nan ± nan | 3 |" in md
    assert len(table.to_markdown(summary=False).splitlines()) == 2 + 4
    text = table.to_json(tmp_path / "results.json")
    assert json.loads(text)["rows"][0]["auc"] is None
    back = ResultsTable.from_json(tmp_path / "results.json")
    assert back[1]["accuracy"] == 0.7 and math.isnan(back[0]["auc"]) and back.filter(seed=0).to_dicts()[1]["method"] == "random_init_probe"
    with pytest.raises(ValueError, match="dict"):
        table.append([1, 2])


# --------------------------------------------------------------------------------------
# The tasks end to end
# --------------------------------------------------------------------------------------


def check_table(table, task, metrics, n_rows):
    assert isinstance(table, ResultsTable) and len(table) == n_rows
    for row in table:
        assert row["task"] == task and row["method"] in DEFAULT_METHODS
        for m in metrics:
            assert m in row and (math.isnan(row[m]) or 0.0 <= row[m] <= 1.0), (m, row)
    assert list(dict.fromkeys(r["method"] for r in table)) == list(DEFAULT_METHODS)
    json.loads(table.to_json())
    assert table.to_markdown().startswith("| task | method |")


def test_run_far_end_to_end(model, real_sets, cache):
    table = run_far(model, real_sets["train"], real_sets["test"], val_set=real_sets["val"], fractions=(0.5, 1.0), seeds=(0, 1),
                    cache=cache, probe=FAST_PROBE, finetune=FAST_FINETUNE)
    check_table(table, "far", ["accuracy", "auc_micro", "auc_macro"], n_rows=2 * 2 * 3)
    assert {r["n_train"] for r in table} == {6, 12} and {r["n_test"] for r in table} == {6}
    assert {r["fraction"] for r in table} == {0.5, 1.0}
    summary = table.summarize()
    assert len(summary) == 6 and all(s["n_seed"] == 2 for s in summary)
    # the same probes again reuse every cached feature and give the same numbers
    misses = cache.misses
    again = run_far(model, real_sets["train"], real_sets["test"], val_set=real_sets["val"], fractions=(0.5, 1.0), seeds=(0, 1),
                    cache=cache, probe=FAST_PROBE, methods=("random_init_probe", "pretrained_probe"))
    assert cache.misses == misses
    assert again.to_dicts() == [r for r in table.to_dicts() if r["method"] != "supervised_scratch"]
    report = far_report(torch.rand(4, len(ATTRIBUTES)), cache.get(model, real_sets["test"]).labels["attributes"][:4])
    assert [r["name"] for r in report] == list(ATTRIBUTES)


def test_run_baselines_shows_progress_bars_with_rates_unless_marlin_lite_progress_is_0(model, real_sets, monkeypatch, capsys):
    """progress=True: a bar over the runs (fractions x seeds x methods) with its rate, and bars of the
    feature passes and the fine-tuning; MARLIN_LITE_PROGRESS=0 turns them all off. Same numbers either way."""
    kw = dict(val_set=real_sets["val"], seeds=(0, 1), probe=FAST_PROBE, finetune=FAST_FINETUNE,
              methods=("pretrained_probe", "supervised_scratch"), progress=True)
    monkeypatch.delenv("MARLIN_LITE_PROGRESS", raising=False)
    shown = run_fer(model, real_sets["train"], real_sets["test"], cache=FeatureCache(), **kw)
    err = capsys.readouterr().err
    assert re.search(r"fer baselines: 100%.* 4/4 \[.*\d(run/s|s/run), supervised_scratch, 1 of the labels, seed 1\]", err), err
    assert "features:" in err and "video/s" in err
    assert "fine-tune:" in err and "step/s" in err
    monkeypatch.setenv("MARLIN_LITE_PROGRESS", "0")
    quiet = run_fer(model, real_sets["train"], real_sets["test"], cache=FeatureCache(), **kw)
    assert capsys.readouterr().err == ""
    assert quiet.to_dicts() == shown.to_dicts()


def test_run_task_fine_tunes_with_validation_selection(model, real_sets, cache):
    """finetune={'select': ...} (or a protocol) makes run_task's fine-tuning choose its epoch on
    val_set, and refuses to run without one."""
    chosen = run_fer(model, real_sets["train"], real_sets["test"], val_set=real_sets["val"], cache=cache, probe=FAST_PROBE,
                     finetune=dict(FAST_FINETUNE, epochs=2, select="metric"), methods=("pretrained_finetune",))
    assert [r["method"] for r in chosen] == ["pretrained_finetune"] and 0.0 <= chosen.to_dicts()[0]["accuracy"] <= 1.0
    with pytest.raises(ValueError, match="pass val_set"):
        run_fer(model, real_sets["train"], real_sets["test"], cache=cache, probe=FAST_PROBE,
                finetune=dict(FAST_FINETUNE, protocol="official"), methods=("pretrained_finetune",))


def test_run_fer_end_to_end(model, real_sets, cache):
    table = run_fer(model, real_sets["train"], real_sets["test"], val_set=real_sets["val"], fractions=(0.1,), cache=cache,
                    probe=FAST_PROBE, finetune=FAST_FINETUNE)
    check_table(table, "fer", ["accuracy", "f1_macro", "auc_macro"], n_rows=3)
    # 10 % of 12 clips, stratified by expression: at least one clip of each expression present
    present = len(set(cache.get(model, real_sets["train"]).labels["expression"].tolist()))
    assert {r["n_train"] for r in table} == {present}
    m = fer_confusion(torch.rand(6, len(EXPRESSIONS)), torch.arange(6))
    assert m.shape == (6, 6) and int(m.sum()) == 6


def test_run_dfd_end_to_end(model, mixed_sets, cache):
    table = run_dfd(model, mixed_sets["train"], mixed_sets["test"], val_set=mixed_sets["val"], cache=cache,
                    probe=FAST_PROBE, finetune=FAST_FINETUNE)
    test_labels = cache.get(model, mixed_sets["test"]).labels
    kinds = sorted({int(k) for k in test_labels["manipulation"].tolist() if k > 0})
    per_method = 2 * (1 + len(kinds))  # clip and video level, overall and per kind
    check_table(table, "dfd", ["auc", "accuracy"], n_rows=3 * per_method)
    rows = table.filter(method="pretrained_probe")
    assert [r["level"] for r in rows] == ["clip"] * (1 + len(kinds)) + ["video"] * (1 + len(kinds))
    assert rows[0]["manipulation"] == "all" and all(not math.isnan(r["auc"]) for r in rows)


def test_tasks_refuse_unsuitable_splits(model, real_sets, mixed_sets, cache):
    with pytest.raises(ValueError, match="fake_fraction=0"):
        run_far(model, mixed_sets["train"], mixed_sets["test"], cache=cache, methods=("pretrained_probe",))
    with pytest.raises(ValueError, match="fake_fraction=0.5"):
        run_dfd(model, real_sets["train"], real_sets["test"], cache=cache, methods=("pretrained_probe",))
    with pytest.raises(ValueError, match="methods must be"):
        run_fer(model, real_sets["train"], real_sets["test"], cache=cache, methods=("linear",))
    with pytest.raises(ValueError, match="fractions"):
        run_fer(model, real_sets["train"], real_sets["test"], cache=cache, fractions=(0.0,))


def test_a_pretrained_tiny_model_plugs_in(tmp_path, repo_root, real_sets, cache):
    """The lessons' path: ensure_pretrained (a few steps here) -> its encoder -> a task table."""
    from marlin_lite.pretrain import ensure_pretrained, load_config

    cfg = load_config(
        repo_root / "configs" / "tiny.yaml", out_dir=str(tmp_path / "run"), max_steps=2, warmup_steps=1, batch_size=4,
        num_identities=6, clips_per_identity=2, model_overrides={"enc_depth": 1, "dec_depth": 1},
        progress=False, ckpt_every=0, log_every=1,
    )
    pretrained = ensure_pretrained(cfg).model
    table = run_fer(pretrained, real_sets["train"], real_sets["test"], cache=cache, methods=("pretrained_probe", "pretrained_finetune"),
                    probe=FAST_PROBE, finetune=FAST_FINETUNE)
    assert [r["method"] for r in table] == ["pretrained_probe", "pretrained_finetune"]
    assert all(0 <= r["accuracy"] <= 1 for r in table)


def test_label_views_and_real_loaders_key_the_feature_cache_by_their_spec():
    from marlin_lite.tasks.probe import LabelView, dataset_spec

    class Items:
        def __init__(self, name):
            self.name = name

        def __len__(self):
            return 2

        def __getitem__(self, i):
            return {"video": torch.zeros(3, 2, 4, 4), "sentiment_class": torch.tensor(i), "actions": torch.tensor([i, 1 - i])}

        def spec(self):
            return f"items:{self.name}"

    a, b = Items("a"), Items("b")
    assert dataset_spec(a) == "items:a" != dataset_spec(b)
    fer, far = LabelView(a, {"expression": "sentiment_class"}), LabelView(a, {"attributes": "actions"})
    assert len({dataset_spec(fer), dataset_spec(far), dataset_spec(LabelView(b, {"expression": "sentiment_class"}))}) == 3
    assert int(fer[1]["expression"]) == 1 and far[0]["attributes"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="have no 'emotion' field"):
        LabelView(a, {"expression": "emotion"})[0]
    with pytest.raises(ValueError, match="cannot derive a cache key"):
        dataset_spec([1, 2, 3])
