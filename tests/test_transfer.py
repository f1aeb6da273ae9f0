"""The transfer evaluation (marlin_lite.transfer): statistics, low-data subsets, probes that can
fail, and the command end to end on a tiny checkpoint with --quick sizes (seconds).

Nothing here asserts that pretraining helps: the tests check that the harness measures what it
says (a label it can see is found, a shuffled label is not), that its statistics match known
values, and that the report holds every method, regime and number it should.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from marlin_lite.features import extract_features
from marlin_lite.tasks.metrics import binary_auc, multiclass_accuracy, multilabel_auc
from marlin_lite.tasks.probe import random_encoder
from marlin_lite.transfer import (
    COMPARISONS,
    METHOD_LABELS,
    METHODS,
    REGIMES,
    TASK_METHODS,
    method_label,
    people_subsets,
    attribute_subsets,
    conclusion,
    differences_table,
    encoder_views,
    low_data_subsets,
    load_results,
    plot_task,
    main,
    paired_difference,
    per_class_subsets,
    pixel_features,
    SmallCNN3D,
    TransferSettings,
    select_probe,
    summarize,
    task_differences,
    task_metrics,
    task_rows,
    task_table,
    train_classifier,
    t_cdf,
    t_interval,
    t_quantile,
    verdict,
    HEADLINE,
)
from marlin_lite.utils import sha256_file

# --------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------

# Two-sided 95 % (p = 0.975) and other quantiles of Student's t from printed tables.
KNOWN_T = [
    (0.975, 1, 12.7062), (0.975, 2, 4.3027), (0.975, 3, 3.1824), (0.975, 4, 2.7764), (0.975, 9, 2.2622),
    (0.975, 30, 2.0423), (0.95, 5, 2.0150), (0.995, 10, 3.1693), (0.9, 2, 1.8856),
]


@pytest.mark.parametrize("p, df, expected", KNOWN_T)
def test_t_quantile_matches_printed_tables(p, df, expected):
    assert t_quantile(p, df) == pytest.approx(expected, abs=5e-5)
    assert t_quantile(1 - p, df) == pytest.approx(-expected, abs=5e-5)  # symmetric
    assert t_cdf(t_quantile(p, df), df) == pytest.approx(p, abs=1e-10)


def test_t_distribution_closed_forms_and_normal_limit():
    for t in (-3.0, -0.5, 0.0, 0.7, 2.0, 10.0):
        assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)  # Cauchy
        assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)
    assert t_quantile(0.975, 1e7) == pytest.approx(1.959964, abs=1e-5)
    assert t_quantile(0.5, 3) == 0.0
    with pytest.raises(ValueError, match="p must be"):
        t_quantile(1.0, 3)
    with pytest.raises(ValueError, match="df must be"):
        t_quantile(0.9, 0)


def test_paired_difference_by_hand():
    a = {0: 0.80, 1: 0.70, 2: 0.90, 3: 0.5}
    b = {0: 0.60, 1: 0.65, 2: 0.70, 7: 0.1}  # seeds 3 and 7 are unpaired: left out
    d = paired_difference(a, b)
    assert set(d["per_seed"]) == {0, 1, 2}
    assert [round(d["per_seed"][s], 10) for s in (0, 1, 2)] == [0.2, 0.05, 0.2]
    # mean 0.15; sd = sqrt((0.05^2 + 0.1^2 + 0.05^2) / 2) = sqrt(0.0075); se = sd / sqrt(3) = 0.05
    assert d["mean"] == pytest.approx(0.15)
    assert d["sd"] == pytest.approx(math.sqrt(0.0075))
    assert d["half_width"] == pytest.approx(4.302653 * 0.05, abs=1e-6)
    assert (d["lo"], d["hi"]) == pytest.approx((0.15 - 0.2151326, 0.15 + 0.2151326), abs=1e-6)
    assert d["n"] == 3 and verdict(d["lo"], d["hi"]) == "n.s."  # the interval holds 0
    tight = paired_difference({0: 0.9, 1: 0.91, 2: 0.92}, {0: 0.5, 1: 0.5, 2: 0.5})
    assert verdict(tight["lo"], tight["hi"]) == "> 0" and tight["lo"] > 0
    worse = paired_difference({0: 0.5, 1: 0.5, 2: 0.5}, {0: 0.9, 1: 0.91, 2: 0.92})
    assert verdict(worse["lo"], worse["hi"]) == "< 0"
    one = t_interval([0.7])  # one seed: a mean, no interval
    assert one["mean"] == 0.7 and one["n"] == 1 and math.isnan(one["half_width"])
    assert t_interval([0.5, float("nan"), 0.7])["n"] == 2  # an undefined metric (nan) is dropped


# --------------------------------------------------------------------------------------
# Low-data subsets
# --------------------------------------------------------------------------------------


def test_per_class_subsets_count_and_nest():
    labels = torch.tensor([0] * 20 + [1] * 12 + [2] * 3 + [3] * 7)[torch.randperm(42, generator=torch.Generator().manual_seed(0))]
    subs = per_class_subsets(labels, REGIMES, seed=0)
    assert list(subs) == ["1", "5", "10", "all"]
    for k in (1, 5, 10):
        counts = torch.bincount(labels[subs[str(k)]], minlength=4)
        assert counts.tolist() == [min(k, n) for n in (20, 12, 3, 7)]  # k per class, capped by what exists
        assert subs[str(k)].unique().numel() == subs[str(k)].numel()
    assert set(subs["1"].tolist()) <= set(subs["5"].tolist()) <= set(subs["10"].tolist()) <= set(subs["all"].tolist())
    assert subs["all"].tolist() == list(range(42))
    again = per_class_subsets(labels, REGIMES, seed=0)
    assert all(torch.equal(subs[k], again[k]) for k in subs)  # seeded
    other = per_class_subsets(labels, REGIMES, seed=1)
    assert not torch.equal(subs["5"], other["5"])
    # DFD and FER go through the same rule
    assert torch.equal(low_data_subsets("fer", labels, REGIMES, 0)["5"].sort().values, low_data_subsets("fer", labels, REGIMES, 0)["5"])
    fake = torch.tensor([0, 1] * 15)
    dfd = low_data_subsets("dfd", fake.float(), (1, 5), 3)
    assert torch.bincount(fake[dfd["1"]]).tolist() == [1, 1] and torch.bincount(fake[dfd["5"]]).tolist() == [5, 5]


def test_attribute_subsets_give_every_attribute_k_positives_and_nest():
    g = torch.Generator().manual_seed(0)
    prevalence = torch.linspace(0.03, 0.6, 24)
    attrs = (torch.rand(150, 24, generator=g) < prevalence).float()
    attrs[:, 5] = 0
    attrs[[3, 77], 5] = 1  # an attribute with only 2 positives in the whole split
    available = attrs.sum(0)
    subs = attribute_subsets(attrs, REGIMES, seed=0)
    previous: set[int] = set()
    for k in (1, 5, 10):
        chosen = subs[str(k)]
        have = attrs[chosen].sum(0)
        assert bool((have >= torch.minimum(torch.full_like(available, k), available)).all()), k
        assert previous <= set(chosen.tolist())  # nested
        previous = set(chosen.tolist())
        # greedy: every chosen person was needed by some attribute at its turn, so far fewer than everyone
        assert chosen.numel() < 150
    assert subs["all"].numel() == 150
    assert torch.equal(attribute_subsets(attrs, REGIMES, seed=0)["5"], subs["5"])
    assert not torch.equal(attribute_subsets(attrs, REGIMES, seed=1)["5"], subs["5"])
    assert torch.equal(low_data_subsets("far", attrs, (5,), 0)["5"], attribute_subsets(attrs, (5,), 0, purpose="far")["5"])
    with pytest.raises(ValueError, match="task must be one of"):
        low_data_subsets("lipsync", attrs, (1,), 0)


# --------------------------------------------------------------------------------------
# Features and probes
# --------------------------------------------------------------------------------------


def test_encoder_views_match_the_package_features_and_pixel_pooling():
    enc = random_encoder("tiny", 0)
    clips = (torch.rand(3, 3, 8, 64, 64, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    views = encoder_views(enc, clips, grid=2, batch_size=2)
    x = clips.float() / 255
    assert torch.allclose(views["mean"], extract_features(enc, x), atol=1e-5)  # MARLIN's feature
    tokens = extract_features(enc, x, pooling="none")  # (3, 256, 128): grid (4, 8, 8), ordered (t, h, w)
    manual = tokens.reshape(3, 4, 2, 4, 2, 4, 128).mean(dim=(1, 3, 5))  # time mean, 2 x 2 regions of 4 x 4 tokens
    assert views["grid"].shape == (3, 4 * 128)
    assert torch.allclose(views["grid"], manual.reshape(3, -1), atol=1e-5)
    pix = pixel_features(clips, size=8, time_groups=4)
    assert pix.shape == (3, 3 * 4 * 8 * 8)
    assert torch.allclose(pix[0, 0], x[0, 0, :2, :8, :8].mean(), atol=1e-6)  # first group, first 8 x 8 block, red


def test_probe_finds_a_label_it_can_see_and_not_a_shuffled_one():
    # Labels are linear functions of Gaussian features (no clusters: a shuffled label then carries
    # no information at all, and the test split is large enough to show it).
    g = torch.Generator().manual_seed(0)
    w = torch.randn(32, 6, generator=g)
    data = {s: torch.randn(n, 32, generator=g) for s, n in (("train", 300), ("val", 100), ("test", 600))}
    noise = {s: torch.randn(x.shape[0], 32, generator=g) for s, x in data.items()}
    views = {"mean": data, "grid": noise}  # the label is in "mean" only
    items = torch.arange(300)
    perm = torch.randperm(300, generator=g)

    def shuffled(targets):
        return dict(targets, train=targets["train"][perm])

    expression = {s: (x @ w).argmax(1) for s, x in data.items()}
    good = select_probe(views, expression, items, task="fer", l2_grid=(1.0, 1e-2))
    assert good.pooling == "mean"  # validation finds the view that carries the label
    assert multiclass_accuracy(good.test_scores, expression["test"]) > 0.7  # 300 labels: not perfect, far above chance
    bad = select_probe(views, shuffled(expression), items, task="fer", l2_grid=(1.0, 1e-2))
    assert multiclass_accuracy(bad.test_scores, expression["test"]) < 0.3  # chance is 1/6
    # binary (DFD) and multi-label (FAR) heads, scored by AUC
    fake = {s: (x @ w[:, 0] > 0).float() for s, x in data.items()}
    dfd = select_probe(views, fake, items, task="dfd", l2_grid=(1.0,))
    assert binary_auc(dfd.test_scores, fake["test"]) > 0.9
    dfd_bad = select_probe(views, shuffled(fake), items, task="dfd", l2_grid=(1.0,))
    assert abs(binary_auc(dfd_bad.test_scores, fake["test"]) - 0.5) < 0.1
    attrs = {s: (x @ w > 0.5).float() for s, x in data.items()}
    far = select_probe(views, attrs, items, task="far", l2_grid=(1.0,))
    assert multilabel_auc(far.test_scores, attrs["test"], "macro") > 0.9 and far.test_scores.shape == (600, 6)
    far_bad = select_probe(views, shuffled(attrs), items, task="far", l2_grid=(1.0,))
    assert abs(multilabel_auc(far_bad.test_scores, attrs["test"], "macro") - 0.5) < 0.1


def test_training_keeps_the_best_validation_checkpoint():
    g = torch.Generator().manual_seed(0)
    clips = torch.rand(80, 3, 8, 32, 32, generator=g) * 0.2
    fake = (torch.arange(80) % 2).float()
    clips[fake == 1, 0, :, :16, :16] += 0.6  # "fakes" have a bright red corner: learnable
    clips = (clips.clamp(0, 1) * 255).to(torch.uint8)
    settings = TransferSettings(ft_batch_size=8, ft_max_epochs=3, ft_min_steps=1, ft_evals=6, ft_patience=6)
    model = SmallCNN3D(1, width=2)
    r = train_classifier(model, clips[:60], fake[:60], clips[60:], fake[60:], task="dfd", lr=3e-3, settings=settings, seed=0)
    assert r["steps"] == 3 * 8 and 1 <= r["best_step"] <= r["steps"]
    with torch.no_grad():  # the returned model is the best checkpoint: its validation numbers are the reported ones
        scores = torch.sigmoid(model.eval()(clips[60:].float() / 255)[:, 0])
    assert task_metrics("dfd", scores, fake[60:])["auc"] == pytest.approx(r["val_metric"])
    assert r["val_metric"] > 0.9


def test_report_counts_runs_whose_best_check_was_their_last():
    """The report flags trained runs that may still have been improving: best check == last step
    (a run that early-stopped, or peaked earlier, is not counted; reused subsets count once)."""
    from marlin_lite.transfer.report import _choices, _still_improving

    def rec(method, best, steps, **extra):
        return {"task": "fer", "method": method, "choice": {"lr": 1e-3, "best_step": best, "steps": steps, **extra}}

    records = [rec("supervised_scratch", 144, 144), rec("supervised_scratch", 72, 120),
               rec("supervised_scratch", 144, 144, same_subset_as="5"), rec("pretrained_finetune", 48, 144),
               {"task": "far", "method": "supervised_scratch", "choice": {"lr": 1e-3, "best_step": 9, "steps": 9}}]
    assert _still_improving(records, "fer") == {"supervised_scratch": (1, 2), "pretrained_finetune": (0, 1)}
    assert _choices(records, "fer")[-1].endswith("supervised from scratch 1 of 2, pretrained, fine-tuned 0 of 1")


def test_people_subsets_count_people_and_nest():
    identity = torch.tensor([5, 5, 7, 9, 9, 9, 11, 12])  # clips of 5 people
    for seed in (0, 1, 2):
        subsets = people_subsets(identity, (1, 2, 10, "all"), seed)
        people = {k: set(identity[v].tolist()) for k, v in subsets.items()}
        assert [len(people[k]) for k in ("1", "2", "10", "all")] == [1, 2, 5, 5]
        assert people["1"] <= people["2"] <= people["all"]
        for k, v in subsets.items():  # every clip of a chosen person, sorted, no other
            assert v.tolist() == sorted(i for i, p in enumerate(identity.tolist()) if p in people[k])
    firsts = {tuple(people_subsets(identity, (1,), s)["1"].tolist()) for s in range(12)}
    assert len(firsts) > 1  # the seed decides who is labelled


def test_conclusions_are_generated_from_the_numbers():
    records = []
    for seed, (pre, rnd, scr, ft) in enumerate([(0.80, 0.60, 0.70, 0.75), (0.82, 0.61, 0.60, 0.80), (0.81, 0.62, 0.80, 0.70)]):
        for method, v in (("pretrained_probe", pre), ("random_init_probe", rnd), ("supervised_scratch", scr), ("pretrained_finetune", ft)):
            for regime in ("1", "all"):
                records.append({"task": "dfd", "method": method, "regime": regime, "seed": seed, "metrics": {"auc": v, "accuracy": v}})
    summary = summarize(records)
    assert {(d["a"], d["b"]) for d in summary["differences"]} == set(COMPARISONS)
    text = conclusion("dfd", summary, (1, "all"))
    assert "the pretrained probe beats the random-init probe (+0.200 [" in text
    assert "the pretrained probe cannot be told apart from supervised training from scratch (+0.110 [" in text
    assert "the fine-tuned pretrained encoder cannot be told apart from scratch" in text


# --------------------------------------------------------------------------------------
# The command
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from marlin_lite.pretrain import load_config, train

    out = tmp_path_factory.mktemp("transfer_ckpt")
    # batch 4: 6 people split 70/15/15 leave 4 training clips
    train(load_config("configs/tiny.yaml", max_steps=3, num_identities=6, clips_per_identity=1, batch_size=4, framing="face",
                      expressions="marked", out_dir=str(out), progress=False))
    return out / "checkpoint.pt"


def _part(results: dict, tasks: list[str], command: str) -> dict:
    """The report ``results`` as a run of ``tasks`` alone would have written it."""
    from marlin_lite.transfer.evaluate import summarize

    records = [r for r in results["records"] if r["task"] in tasks]
    part = {k: results[k] for k in ("settings", "seeds", "model")}
    part.update(tasks=tasks, records=records, summary=summarize(records),
                provenance={**results["provenance"], "command": command, "elapsed_s": 10.0})
    for key in ("chance", "data", "subsets", "timings_s", "extra"):
        part[key] = {t: v for t, v in results.get(key, {}).items() if t in tasks}
    return part


def _check_merging_parts_gives_the_same_report(results: dict, tmp_path: Path, capsys) -> None:
    """--merge: reports of disjoint task sets (given in any order) make the report of all of them,
    with each part's provenance kept; parts that do not belong together are refused, naming the file."""
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "b.json").write_text(json.dumps(_part(results, ["dfd", "ls"], "run B")))
    (parts / "a.json").write_text(json.dumps(_part(results, ["far", "fer"], "run A")))
    out = tmp_path / "merged.md"
    assert main(["--merge", str(parts / "b.json"), str(parts / "a.json"), "--out", str(out), "--quiet"]) == 0
    merged = json.loads(out.with_suffix(".json").read_text())
    assert merged["tasks"] == results["tasks"] and merged["records"] == results["records"]
    assert merged["summary"] == results["summary"] and merged["subsets"] == results["subsets"]
    prov = merged["provenance"]
    assert [p["command"] for p in prov["parts"]] == ["run B", "run A"] and prov["elapsed_s"] == 20.0
    assert prov["encoder_sha256"] == results["provenance"]["encoder_sha256"]
    text = out.read_text()
    assert "**parts**" in text and "DFD, LS: `run B`" in text and "FAR, FER: `run A`" in text
    odd = _part(results, ["dfd", "ls"], "run C")
    odd["provenance"]["encoder_sha256"] = "0" * 64
    (parts / "c.json").write_text(json.dumps(odd))
    shorter = _part(results, ["dfd", "ls"], "run D")
    shorter["settings"] = {**shorter["settings"], "ft_max_epochs": 99}
    (parts / "d.json").write_text(json.dumps(shorter))
    for bad, message in ([[str(parts / "a.json"), str(parts / "c.json")], "c.json differs from"],
                         [[str(parts / "a.json"), str(parts / "d.json")], "settings (ft_max_epochs 99 vs"],
                         [[str(parts / "a.json")], "two or more parts"],
                         [[str(parts / "a.json"), str(parts / "a.json")], "a task appears twice"],
                         [[str(parts / "a.json"), str(parts / "none.json")], "none.json"]):
        with pytest.raises(SystemExit) as exc:
            main(["--merge", *bad, "--out", str(tmp_path / "bad.md")])
        assert exc.value.code == 2 and "--merge" in (err := capsys.readouterr().err) and message in err
    assert not (tmp_path / "bad.md").exists()


def test_cli_quick_end_to_end_writes_markdown_and_json(checkpoint, tmp_path, capsys):
    out = tmp_path / "docs" / "results.md"
    argv = ["--encoder", str(checkpoint), "--out", str(out), "--quick", "--seeds", "0", "1", "--quiet"]
    assert main(argv) == 0
    results = json.loads(out.with_suffix(".json").read_text())
    prov = results["provenance"]
    assert prov["command"] == "python -m marlin_lite.transfer " + " ".join(argv)
    assert prov["encoder_sha256"] == sha256_file(checkpoint)
    assert {"torch", "numpy", "python", "marlin_lite"} <= set(prov["versions"]) and "git_commit" in prov
    from marlin_lite.transfer.view import rerender

    written = out.read_text()
    out.write_text("edited by hand")
    assert rerender(out.with_suffix(".json")) == out and out.read_text() == written  # the Markdown is its JSON rendered
    assert results["seeds"] == [0, 1] and results["tasks"] == ["far", "fer", "dfd", "ls"]
    assert results["settings"]["regimes"] == [1, 5, 10, "all"]
    _check_merging_parts_gives_the_same_report(results, tmp_path, capsys)
    seen = {(r["task"], r["method"], r["regime"], r["seed"]) for r in results["records"]}
    for task in ("far", "fer", "dfd"):
        for seed in (0, 1):
            for method in METHODS:
                for regime in (["all"] if method == "ceiling" else ["1", "5", "10", "all"]):
                    assert (task, method, regime, seed) in seen, (task, method, regime, seed)
    for seed in (0, 1):  # LS: its own rows (no pixel probe; copying the reference mouth is its floor)
        for method in TASK_METHODS["ls"]:
            for regime in (["all"] if method == "ceiling" else ["1", "5", "10", "all"]):
                assert ("ls", method, regime, seed) in seen, ("ls", method, regime, seed)
    assert len(results["records"]) == 4 * 2 * (5 * 4 + 1)
    for r in results["records"]:
        assert r["headline"] is None or 0 <= r["headline"] <= 1
        assert r["n_train"] >= 1 and r["choice"]
    ls = [r for r in results["records"] if r["task"] == "ls"]
    real = {r["headline"] for r in ls if r["method"] == "ceiling"}
    assert len(real) == 1  # the real mouths do not depend on the seed
    people = {r["regime"]: r["n_train"] for r in ls if r["method"] == "pretrained_probe" and r["seed"] == 0}
    assert people["1"] == 1 and people["1"] <= people["5"] <= people["all"] == results["data"]["ls"]["train"]
    assert all(math.isfinite(r["metrics"]["psnr_lower"]) for r in ls if r["method"] != "ceiling")
    diffs = results["summary"]["differences"]
    assert len(diffs) == 4 * 4 * len(COMPARISONS)
    for d in diffs:  # each difference is the mean of its per-seed differences
        per = [v for v in d["per_seed"].values()]
        if per:
            assert d["mean"] == pytest.approx(sum(per) / len(per))
    md = out.read_text()
    for task, methods in TASK_METHODS.items():
        for m in methods:
            assert method_label(task, m) in md
    for head in ("k = 1", "k = 5", "k = 10", "all labels"):
        assert head in md
    assert sha256_file(checkpoint) in md and "## Paired differences" in md and "## Conclusions" in md
    assert md.count("\n- FAR (") == md.count("\n- FER (") == md.count("\n- DFD (") == md.count("\n- LS (") == 1
    assert "## LS: lip sync" in md and "LS protocol" in md and "scoring expert finds the true offset" in md
    assert "quick mode" in md

    # Reading it back, as lessons do: the rows are the summary's numbers, in table order.
    back = load_results(out)  # the Markdown path finds the JSON beside it
    assert back["summary"] == results["summary"]
    for task in ("far", "fer", "dfd", "ls"):
        rows = task_rows(back, task)
        assert [r["method"] for r in rows][:4] == [TASK_METHODS[task][0]] * 4 and rows[-1]["method"] == "ceiling"
        for r in rows:
            per = list(r["per_seed"].values())
            assert r["mean"] == pytest.approx(sum(per) / len(per)) and r["n"] == len(per) == 2
        text = task_table(back, task)
        probe_all = next(r for r in rows if r["method"] == "pretrained_probe" and r["regime"] == "all")
        assert f"{probe_all['mean']:.3f} ± {probe_all['half_width']:.3f}" in text and "floors" in text
        diffs = task_differences(back, task)
        assert len(diffs) == 4 * len(COMPARISONS)
        assert all(d["verdict"] == verdict(d["lo"], d["hi"]) for d in diffs)
        text = differences_table(back, task)
        assert len(text.splitlines()) == 1 + len(diffs) and f"{diffs[0]['mean']:+.3f}" in text
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    plot_task(ax, back, "fer")
    drawn = set(ax.get_legend_handles_labels()[1])
    assert drawn == {METHOD_LABELS[m] for m in METHODS} | {"best blind floor"}
    plt.close(fig)
    fig, ax = plt.subplots()
    plot_task(ax, back, "ls")
    assert set(ax.get_legend_handles_labels()[1]) == {method_label("ls", m) for m in TASK_METHODS["ls"]} | {"best blind floor"}
    assert ax.get_xlabel() == "training people"
    plt.close(fig)
    with pytest.raises(ValueError, match="lipsync"):
        task_rows(back, "lipsync")
    with pytest.raises(FileNotFoundError, match="python -m marlin_lite.transfer"):
        load_results(tmp_path / "nothing.md")
    (tmp_path / "bad.json").write_text('{"summary": {}}')
    with pytest.raises(ValueError, match="not a marlin_lite.transfer report"):
        load_results(tmp_path / "bad.json")


def test_cli_bad_arguments_exit_2_naming_the_argument(checkpoint, tmp_path, capsys):
    cases = [
        (["--encoder", str(tmp_path / "missing.pt")], "--encoder"),
        (["--encoder", str(checkpoint), "--tasks", "far", "lipsync"], "--tasks"),
        (["--encoder", str(checkpoint), "--seeds", "0", "x"], "--seeds"),
        (["--encoder", str(checkpoint), "--seeds", "1", "1"], "--seeds"),
        (["--encoder", str(checkpoint), "--out", str(tmp_path / "r.json")], "--out"),
        ([], "--encoder"),
    ]
    not_a_checkpoint = tmp_path / "notes.pt"
    not_a_checkpoint.write_text("not a checkpoint")
    cases.append((["--encoder", str(not_a_checkpoint)], "--encoder"))
    for argv, name in cases:
        with pytest.raises(SystemExit) as err:
            main(argv + ["--quiet"])
        assert err.value.code == 2, argv
        message = capsys.readouterr().err.strip()
        assert len(message.splitlines()) == 1 and name in message, (argv, message)
    assert not any(tmp_path.glob("*.md"))
    # and through the interpreter, as a user runs it
    run = subprocess.run([sys.executable, "-m", "marlin_lite.transfer", "--encoder", str(tmp_path / "nope.pt")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "--encoder" in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_committed_report_is_generated_from_its_json_and_the_shipped_checkpoint():
    """docs/results.md is what render_markdown makes of docs/results.json (nothing typed by hand),
    the report covers every task with 3 or more seeds, and it describes the shipped checkpoint."""
    from pathlib import Path

    from marlin_lite.course_weights import course_record
    from marlin_lite.transfer import ALL_TASKS, render_markdown

    root = Path(__file__).resolve().parents[1]
    results = load_results(root / "docs" / "results.json")
    prov = results.pop("provenance")
    assert (root / "docs" / "results.md").read_text() == render_markdown(results, prov)
    assert results["tasks"] == list(ALL_TASKS) and len(results["seeds"]) >= 3 and not prov["quick"]
    assert prov["encoder_sha256"] == course_record()["sha256"] and prov["git_commit"] and not prov["git_dirty"]
    direct = "python -m marlin_lite.transfer --encoder marlin_lite/weights/course_tiny.pt"
    if "parts" in prov:  # run per task (--tasks), then joined by --merge: every part is a clean run of the same command
        assert prov["command"].startswith("python -m marlin_lite.transfer --merge")
        assert sorted(t for part in prov["parts"] for t in part["tasks"]) == sorted(ALL_TASKS)
        assert all(part["command"].startswith(direct) and not part["git_dirty"] for part in prov["parts"])
    else:
        assert prov["command"].startswith(direct)


def test_committed_replication_is_generated_and_checks_the_committed_report():
    """docs/replication.md is what replicate.render makes of its JSON, it checks the committed
    report (same commit, every refitted probe reproduced) on worlds the report does not use."""
    from pathlib import Path

    from marlin_lite import replicate

    root = Path(__file__).resolve().parents[1]
    rep = replicate.load_replication(root / "docs" / "replication.md")
    assert (root / "docs" / "replication.md").read_text() == replicate.render(rep["tasks"], rep["provenance"])
    report = load_results(root / "docs" / "results.json")
    assert "with uncommitted changes" not in rep["provenance"]["commit"]
    records = {(r["task"], r["method"], str(r["regime"]), int(r["seed"])): r["headline"] for r in report["records"]}
    for t in rep["tasks"]:
        k, n = t["reproduced"]
        assert n == len(report["seeds"]) * len(report["settings"]["regimes"]) * len(replicate.PROBES) and k == n
        assert not {"world 0", "world 1"} & set(t["test_sets"])
        kept = [c for c in t["ceiling"] if c["reproduces_report"] is not None]
        assert kept and all(c["reproduces_report"] for c in kept)
        # the probe cells it checked are the committed report's (a report rerun keeps them when only the ceiling changed)
        for r in t["probes"]:
            seeds = report["seeds"]
            got = [records[(t["task"], r["method"], r["regime"], int(s))] for s in seeds]
            assert r["per_seed"]["report"] == pytest.approx(got, abs=1e-6)


def test_lr_grid_check_reproduces_the_report_and_tries_the_next_rate(checkpoint, tmp_path, capsys):
    """marlin_lite.lr_check on a quick report: every first-seed end-to-end choice (the quick grid has
    one rate, so every choice is at an end) is retrained at its rate, giving the report's validation
    metric exactly, and at the next rate outside the grid."""
    from marlin_lite import lr_check

    out = tmp_path / "results.md"
    assert main(["--encoder", str(checkpoint), "--out", str(out), "--quick", "--seeds", "0", "--tasks", "far", "dfd", "--quiet"]) == 0
    report = tmp_path / "check.md"
    assert lr_check.main(["--results", str(out.with_suffix(".json")), "--encoder", str(checkpoint), "--tasks", "far", "dfd",
                          "--out", str(report)]) == 0
    text = report.read_text()
    results = json.loads(out.with_suffix(".json").read_text())
    from marlin_lite.pretrain import model_from_checkpoint

    rows = lr_check.check_grid(results, lr_check.T.as_encoder(model_from_checkpoint(checkpoint)).eval(), tasks=("far", "dfd"),
                               log=lambda s: None)
    assert len(rows) == 2 * 2 * 4  # 2 tasks x 2 tuned methods x 4 regimes, all at the end of a one-rate grid
    assert all(r["rerun_val"] == r["recorded_val"] and r["chosen_lr"] == 1e-3 and r["other_lr"] == 1e-4 for r in rows)
    assert "| FAR |" in text and "| DFD |" in text and f"{len(rows)} of {len(rows)} runs give the report's validation metric exactly" in text
    assert lr_check.main(["--results", str(out.with_suffix(".json")), "--encoder", str(tmp_path / "nope.pt")]) == 2
    assert "no checkpoint file" in capsys.readouterr().err


def test_budget_check_trains_the_reports_tuned_runs_longer(checkpoint, tmp_path, capsys):
    """marlin_lite.lr_check --epochs on a quick report: each tuned all-label run of the first seed is
    trained again at its chosen rate for more steps, and the table sets both budgets side by side."""
    from marlin_lite import lr_check

    out = tmp_path / "results.md"
    assert main(["--encoder", str(checkpoint), "--out", str(out), "--quick", "--seeds", "0", "--tasks", "far", "--quiet"]) == 0
    results = json.loads(out.with_suffix(".json").read_text())
    report = tmp_path / "budget.md"
    assert lr_check.main(["--results", str(out.with_suffix(".json")), "--encoder", str(checkpoint), "--tasks", "far",
                          "--epochs", "3", "--out", str(report)]) == 0
    text = report.read_text()
    assert text.startswith("# The transfer report's fine-tuning budget, lengthened")
    rows = [line for line in text.splitlines() if line.startswith("| FAR |")]
    assert len(rows) == 2 and "supervised from scratch" in rows[0] + rows[1]  # scratch and fine-tune, all labels
    quick = lr_check.settings_from(results["settings"])
    longer = lr_check.longer_budget(quick, 3)
    assert longer.ft_max_epochs == 3 and longer.ft_max_steps == 3 * quick.ft_max_steps and longer.ft_evals == quick.ft_evals
    recorded = [r for r in results["records"] if r["method"] in lr_check.TUNED and r["regime"] == "all"]
    for line, r in zip(rows, sorted(recorded, key=lambda r: lr_check.TUNED.index(r["method"]))):
        assert f"{r['choice']['val_metric']:.3f}, {r['headline']:.3f} ({r['choice']['best_step']} / {r['choice']['steps']})" in line
        assert f"/ {longer.ft_max_steps}) |" in line  # the longer run used its whole (raised) budget
    assert "validation would keep the longer run for" in text
    # what lessons 06-08 print of it: the same rows, refused for another report
    from marlin_lite.transfer import show_budget_check

    shown = show_budget_check(report.with_suffix(".json"), "far", report=results)
    assert [(r["method"], r["regime"]) for r in shown] == [(r["method"], r["regime"]) for r in
                                                           sorted(recorded, key=lambda r: lr_check.TUNED.index(r["method"]))]
    printed = capsys.readouterr().out
    assert "report budget" in printed and f"{shown[0]['test']:.3f}" in printed
    with pytest.raises(ValueError, match="rerun its command"):
        show_budget_check(report.with_suffix(".json"), "far", report={"provenance": {"git_commit": "another"}})
    # a later report that adopted the check's budget: shown, with a line saying which report it checked
    later = {"provenance": {"git_commit": "another"}, "settings": {**results["settings"], "ft_max_epochs": 3}}
    assert show_budget_check(report.with_suffix(".json"), "far", report=later) == shown
    assert "run on an earlier report" in capsys.readouterr().out
    with pytest.raises(ValueError, match="rerun its command"):
        show_budget_check(report.with_suffix(".json"), "far", report={**later, "settings": results["settings"]})
    with pytest.raises(FileNotFoundError, match="lr_check --epochs"):
        show_budget_check(tmp_path / "missing.json", "far")
    assert lr_check.main(["--results", str(out.with_suffix(".json")), "--encoder", str(checkpoint), "--epochs", "3",
                          "--regimes", "5"]) == 0  # a regime the report has: prints to stdout
    assert "| FAR |" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        lr_check.main(["--results", str(out.with_suffix(".json")), "--encoder", str(checkpoint), "--epochs", "0"])
    with pytest.raises(ValueError, match="--epochs must be >= 1"):
        lr_check.longer_budget(quick, 0)
    # ties keep the report's run; a better metric, or the same metric at a lower loss, keeps the longer one
    assert not lr_check.prefers_longer(0.6375, 0.7781472, 0.6375, 0.778147280216217)
    assert lr_check.prefers_longer(0.64, 0.9, 0.6375, 0.7) and not lr_check.prefers_longer(0.63, 0.1, 0.6375, 0.7)
    assert lr_check.prefers_longer(0.6375, 0.5, 0.6375, 0.7) and not lr_check.prefers_longer(float("nan"), 0.1, 0.5, 0.7)


def test_replicate_refits_the_reports_probes_and_scores_new_people(checkpoint, tmp_path, capsys):
    """marlin_lite.replicate on a quick report: every refitted probe gives the report's test number,
    the new worlds' test people are other people, every cell's interval holds its point, and the
    CNN at the report's budget gives the report's ceiling back when the report kept the CNN."""
    from marlin_lite import replicate

    out = tmp_path / "results.md"
    assert main(["--encoder", str(checkpoint), "--out", str(out), "--quick", "--seeds", "0", "1", "--tasks", "dfd", "--quiet"]) == 0
    report = tmp_path / "rep.md"
    assert replicate.main(["--results", str(out.with_suffix(".json")), "--encoder", str(checkpoint), "--tasks", "dfd",
                           "--worlds", "5", "--cnn-epochs", "1", "--bootstrap", "200", "--out", str(report)]) == 0
    rep = json.loads(report.with_suffix(".json").read_text())["tasks"][0]
    k, n = rep["reproduced"]
    assert n == 2 * 4 * 3 and k == n  # 2 seeds x 4 regimes x 3 probes
    assert set(rep["test_sets"]) == {"report", "world 5"}
    assert all(c["lo"] - 1e-9 <= c["mean"] <= c["hi"] + 1e-9 for r in rep["probes"] for c in r["cells"].values())
    results = json.loads(out.with_suffix(".json").read_text())
    kept = [r for r in results["records"] if r["task"] == "dfd" and r["method"] == "ceiling" and r["choice"]["candidate"] == "cnn3d"]
    assert [c["reproduces_report"] for c in rep["ceiling"] if int(c["seed"]) in {r["seed"] for r in kept}] == [True] * len(kept)
    text = report.read_text()
    assert "## DFD: video AUC" in text and "| world 5 |" in text and "Pretrained probe minus random-init probe" in text
    table = replicate.text_table(replicate.load_replication(report), "dfd")
    assert "pretrained encoder + probe, all labels" in table and "3-D CNN, 1 epochs (mean of 2 seeds)" in table
    with pytest.raises(KeyError, match="no far results"):
        replicate.text_table(replicate.load_replication(report), "far")
    with pytest.raises(FileNotFoundError, match="python -m marlin_lite.replicate"):
        replicate.load_replication(tmp_path / "none.md")
    # the report's own world and an unknown checkpoint are refused with one line
    with pytest.raises(SystemExit):
        replicate.main(["--results", str(out.with_suffix(".json")), "--encoder", str(checkpoint), "--worlds", "1"])
    assert replicate.main(["--results", str(out.with_suffix(".json")), "--encoder", str(tmp_path / "nope.pt")]) == 2
    assert "no checkpoint file" in capsys.readouterr().err


def test_resampled_metric_with_unit_weights_is_the_reports_metric():
    from marlin_lite import replicate

    g = torch.Generator().manual_seed(0)
    ones = torch.ones(1, 30)
    dfd_s, dfd_y = torch.rand(30, generator=g), (torch.arange(30) % 2).float()
    far_s, far_y = torch.rand(30, 4, generator=g), (torch.rand(30, 4, generator=g) > 0.5).float()
    fer_s, fer_y = torch.rand(30, 6, generator=g), torch.arange(30) % 6
    for task, s, y in (("dfd", dfd_s, dfd_y), ("far", far_s, far_y), ("fer", fer_s, fer_y)):
        want = task_metrics(task, s, y)[HEADLINE[task]]
        assert replicate.resampled_metric(task, s, y, ones).item() == pytest.approx(want, abs=1e-6)


def test_jobs_run_the_tasks_in_parallel_processes_with_the_same_numbers(checkpoint, tmp_path):
    """--jobs 2: each task in its own process (one thread), merged; every record equals the
    sequential one-thread run's except its timing."""
    seq, par = tmp_path / "seq.md", tmp_path / "par.md"
    common = ["--encoder", str(checkpoint), "--quick", "--seeds", "0", "--tasks", "far", "dfd", "--quiet", "--threads", "1"]
    assert main([*common, "--out", str(seq)]) == 0
    assert main([*common, "--out", str(par), "--jobs", "2"]) == 0
    a, b = json.loads(seq.with_suffix(".json").read_text()), json.loads(par.with_suffix(".json").read_text())
    strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]  # noqa: E731
    assert strip(a["records"]) == strip(b["records"]) and a["tasks"] == b["tasks"] == ["far", "dfd"]
    assert a["subsets"] == b["subsets"] and a["chance"] == b["chance"] and a["summary"] == b["summary"]
    assert "2 processes of 1 torch threads" in b["provenance"]["machine"]
    from marlin_lite.transfer import merge_results

    with pytest.raises(ValueError, match="a task appears twice"):
        merge_results([a, a])


def test_committed_budget_check_is_its_json_rendered_and_led_to_the_committed_report():
    """docs/budget_check.md is what lr_check renders from docs/budget_check.json (no hand edits). It
    checked an earlier, 8-epoch report and found its ViT runs under-trained; the committed report
    is the rerun at the check's budget, so lessons 06-08 print the check as the reason for it
    (show_budget_check says "run on an earlier report"), and every run it names is in the report."""
    from marlin_lite import lr_check

    docs = Path(__file__).resolve().parents[1] / "docs"
    check = json.loads((docs / "budget_check.json").read_text())
    assert (docs / "budget_check.md").read_text() == lr_check.render_budget(check["rows"], check["provenance"])
    report = json.loads((docs / "results.json").read_text())
    assert {r["task"] for r in check["rows"]} == {"far", "fer", "dfd"}
    assert {(r["report_epochs"], r["epochs"]) for r in check["rows"]} == {(8, report["settings"]["ft_max_epochs"])}
    assert check["provenance"]["report_commit"] not in report["provenance"]["git_commit"]
    for r in check["rows"]:  # the committed report has each checked run (task, method, regime, seed)
        assert any((x["task"], x["method"], str(x["regime"]), x["seed"]) ==
                   (r["task"], r["method"], str(r["regime"]), check["provenance"]["seed"]) for x in report["records"])
