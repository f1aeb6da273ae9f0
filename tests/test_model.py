"""The MARLIN autoencoder: shapes, patch order, attention, official-weight parity and loading."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

import marlin_lite.official as M

from marlin_lite.masking import TokenGrid, make_visible_mask
from marlin_lite.model import PRESETS, Attention, MarlinAutoencoder, MarlinConfig, count_parameters, get_config, patchify, sincos_table, unpatchify
from marlin_lite.official import (
    _rename,
    config_from_official,
    from_official,
    load_official_reference,
    load_pretrained,
    official_layout,
    official_parity,
    to_official,
)

# Every state-dict key and shape of the official ViT-S/B/L full models (data_samples/official/README.md).
KEYS_TSV = Path(__file__).resolve().parents[1] / "data_samples" / "official" / "marlin_official_keys.tsv"

SMALL = MarlinConfig(img_size=32, patch_size=8, num_frames=4, tubelet_size=2, enc_dim=48, enc_depth=2, enc_heads=3,
                     dec_dim=24, dec_depth=1, dec_heads=2, name="test")


def _batch(cfg: MarlinConfig, B: int = 2, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(B, 3, cfg.num_frames, cfg.img_size, cfg.img_size, generator=gen)
    grid = TokenGrid(cfg.num_frames, cfg.img_size, cfg.tubelet_size, cfg.patch_size)
    visible = make_visible_mask("random", B, grid, 0.75, generator=gen)
    return x, visible


def test_patchify_order_and_inverse():
    x = torch.arange(2 * 3 * 4 * 8 * 8, dtype=torch.float32).reshape(2, 3, 4, 8, 8)
    tokens = patchify(x, patch_size=4, tubelet_size=2)
    assert tokens.shape == (2, 2 * 2 * 2, 3 * 2 * 4 * 4)
    # token 1 = slot 0, row 0, column 1; its vector is (c, pt, ph, pw) flattened channel first.
    first = tokens[0, 1].reshape(3, 2, 4, 4)
    torch.testing.assert_close(first, x[0, :, 0:2, 0:4, 4:8])
    torch.testing.assert_close(unpatchify(tokens, (2, 2, 2), 4, 2), x)


def test_sincos_table():
    table = sincos_table(10, 6)
    assert table.shape == (1, 10, 6)
    torch.testing.assert_close(table[0, :, 0], torch.sin(torch.arange(10.0)))
    torch.testing.assert_close(table[0, :, 1], torch.cos(torch.arange(10.0)))
    torch.testing.assert_close(table[0, 3, 4], torch.sin(torch.tensor(3.0) / 10000 ** (4 / 6)))


def test_attention_matches_the_textbook_formula():
    torch.manual_seed(0)
    attn = Attention(16, heads=4)
    torch.nn.init.normal_(attn.q_bias)
    torch.nn.init.normal_(attn.v_bias)
    x = torch.randn(2, 5, 16)
    qkv = x @ attn.qkv.weight.T + torch.cat([attn.q_bias, torch.zeros(16), attn.v_bias])
    q, k, v = qkv.reshape(2, 5, 3, 4, 4).permute(2, 0, 3, 1, 4)
    weights = torch.softmax(q @ k.transpose(-1, -2) * 4**-0.5, dim=-1)
    manual = attn.proj((weights @ v).transpose(1, 2).reshape(2, 5, 16))
    torch.testing.assert_close(attn(x), manual, atol=1e-5, rtol=1e-5)


def test_forward_shapes_and_reconstruction():
    model = MarlinAutoencoder(SMALL)
    x, visible = _batch(SMALL)
    n_vis = int(visible[0].sum())
    pred = model(x, visible)
    assert pred.shape == (2, SMALL.num_tokens - n_vis, SMALL.patch_dim)
    assert model.encoder(x, visible).shape == (2, n_vis, SMALL.enc_dim)
    assert model.encoder.extract_features(x).shape == (2, SMALL.enc_dim)
    assert model.encoder.extract_features(x, keep_seq=True).shape == (2, SMALL.num_tokens, SMALL.enc_dim)
    assert model.discriminator(pred).shape == (2, pred.shape[1], 1)
    # Targets are the masked patches in ascending token order; putting them back rebuilds x.
    targets = model.targets(x, visible)
    torch.testing.assert_close(model.reconstruct(x, visible, targets), x)
    with pytest.raises(ValueError, match="expected clips of shape"):
        model.encoder(x[:, :, :2])


def test_decoder_predicts_masked_tokens_in_ascending_order():
    """With no decoder blocks, prediction j is a function of its own position only, so it
    must equal head(norm(mask_token + pos[j-th masked index]))."""
    from dataclasses import replace

    torch.manual_seed(0)
    model = MarlinAutoencoder(replace(SMALL, dec_depth=0)).eval()
    torch.nn.init.normal_(model.decoder.norm.weight)
    x, visible = _batch(SMALL, B=2)
    with torch.no_grad():
        pred = model(x, visible)
        dec = model.decoder
        for b in range(2):
            masked_idx = torch.nonzero(~visible[b]).flatten()  # ascending
            expected = dec.head(dec.norm(dec.mask_token[0] + dec.pos_embed[0, masked_idx]))
            torch.testing.assert_close(pred[b], expected)


def test_official_parity_on_the_shipped_reference_file(tmp_path):
    """data_samples/official/: a tiny model built with the official modules and its outputs."""
    diffs, report = official_parity()
    assert report.layout == "full+discriminator" and not report.missing and not report.unexpected
    assert set(diffs) == {"encoder_visible_tokens", "decoder_masked_predictions", "features_seq", "features_mean",
                          "discriminator_scores"}
    assert max(diffs.values()) <= 1e-5, diffs
    cfg, ref = load_official_reference()
    c = ref["config"]
    # Inferring the config from the weights gives the same model (heads passed: not in weights).
    inferred = config_from_official(ref["state_dict"], num_frames=c["frames"], enc_heads=c["enc"][2], dec_heads=c["dec"][2])
    assert inferred == cfg
    # ... and the file's fixed position tables are the ones we compute.
    torch.testing.assert_close(sincos_table(cfg.num_tokens, cfg.enc_dim), ref["state_dict"]["encoder.pos_embedding.emb"])
    # The check can fail: a copy whose official output is off by 1e-3 shows that difference.
    bad = dict(ref, features_mean=ref["features_mean"] + 1e-3)
    torch.save(bad, tmp_path / "bad.pt")
    assert official_parity(tmp_path / "bad.pt")[0]["features_mean"] == pytest.approx(1e-3, rel=0.01)
    with pytest.raises(FileNotFoundError, match="data_samples/official"):
        official_parity(tmp_path / "missing.pt")


def _reference_layouts() -> tuple[MarlinConfig, dict[str, Any], dict[str, dict[str, torch.Tensor]]]:
    """The three official file layouts, built from the shipped official reference's state dict:
    ``*.encoder.pt`` (``encoder.*`` only), ``*.full.pt`` (no discriminator) and a Lightning
    ``*.ckpt`` (the whole state dict, discriminator included, under ``state_dict``)."""
    cfg, ref = load_official_reference()
    sd = ref["state_dict"]
    layouts = {
        "encoder": {k: v for k, v in sd.items() if k.startswith("encoder.")},
        "full": {k: v for k, v in sd.items() if not k.startswith("discriminator.")},
        "full+discriminator": dict(sd),
    }
    return cfg, ref, layouts


@pytest.mark.parametrize("layout", ["encoder", "full", "full+discriminator"])
def test_every_official_layout_loads_strictly(layout, tmp_path):
    cfg, ref, layouts = _reference_layouts()
    sd = layouts[layout]
    assert official_layout(sd) == layout
    model, report = from_official(sd, cfg)  # strict by default
    assert report.layout == layout and not report.unexpected
    assert sorted(report.loaded) == sorted(_rename(k, M._OFFICIAL_TO_LITE) for k in sd)
    assert (model.discriminator is not None) == (layout == "full+discriminator")
    if layout == "encoder":
        assert report.encoder_only and report.missing and all(not k.startswith("encoder.") for k in report.missing)
    else:
        assert not report.missing and not report.encoder_only
        with torch.no_grad():
            pred = model.eval()(ref["x"], ref["visible"])
        assert (pred - ref["decoder_masked_predictions"]).abs().max() <= 1e-5
    with torch.no_grad():
        feats = model.eval().encoder.extract_features(ref["x"])
    assert (feats - ref["features_mean"]).abs().max() <= 1e-5
    # The same layout written the way each file is written on disk loads through load_pretrained.
    path = tmp_path / {"encoder": "m.encoder.pt", "full": "m.full.pt", "full+discriminator": "m.ckpt"}[layout]
    if layout == "full+discriminator":  # Lightning: the dict sits under state_dict beside training state
        torch.save({"state_dict": sd, "epoch": 3, "global_step": 120, "hyper_parameters": {"img_size": 32}}, path)
    else:
        torch.save(sd, path)
    loaded, report2 = load_pretrained(path, config=cfg)
    assert report2.layout == layout
    with torch.no_grad():
        assert (loaded.eval().encoder.extract_features(ref["x"]) - ref["features_mean"]).abs().max() <= 1e-5
    # And MARLIN-lite writes each layout back under the official names.
    written = to_official(model, encoder_only=layout == "encoder", discriminator=layout == "full+discriminator")
    assert set(written) == set(sd)


def test_official_layouts_keep_their_errors():
    cfg, _, layouts = _reference_layouts()
    full = layouts["full"]
    no_proj = {k: v for k, v in full.items() if not k.startswith("enc_dec_proj.")}
    with pytest.raises(ValueError, match="missing keys.*enc_dec_proj.weight"):
        from_official(no_proj, cfg)
    enc = dict(layouts["encoder"])
    del enc["encoder.norm.weight"]
    with pytest.raises(ValueError, match="missing keys.*encoder.norm.weight"):
        from_official(enc, cfg)
    with pytest.raises(ValueError, match="unexpected keys.*encoder.extra"):
        from_official({**layouts["encoder"], "encoder.extra": torch.zeros(1)}, cfg)


@pytest.mark.parametrize("variant, preset", [("vit_small", "small"), ("vit_base", "base"), ("vit_large", "large")])
def test_official_key_layout(variant, preset):
    rows = [line.rstrip("\n").split("\t") for line in KEYS_TSV.read_text().splitlines()[1:]]
    expected = {k: tuple(int(n) for n in s.split("x")) for v, k, s in rows if v == variant}
    with torch.device("meta"):
        model = MarlinAutoencoder(preset)
    ours = {k: tuple(v.shape) for k, v in to_official(model).items()}
    assert ours == expected


@pytest.mark.parametrize("preset, official_m", [("small", 22.5), ("base", 87.4), ("large", 305.5)])
def test_parameter_counts_match_the_paper(preset, official_m):
    with torch.device("meta"):
        model = MarlinAutoencoder(preset)
    assert round(count_parameters(model.encoder, include_buffers=True) / 1e6, 1) == official_m


def test_round_trip_through_official_names():
    torch.manual_seed(0)
    model = MarlinAutoencoder(SMALL).eval()
    x, visible = _batch(SMALL)
    official = to_official(model)
    assert "encoder.patch_embedding.projection.weight" in official and "discriminator.layers.1.linear.bias" in official
    for prefix in ("", "model.", "module.model."):
        back, report = from_official({prefix + k: v for k, v in official.items()}, SMALL)
        assert not report.missing and not report.unexpected
        back.eval()
        with torch.no_grad():
            torch.testing.assert_close(back(x, visible), model(x, visible), atol=0, rtol=0)
    assert {k for k in to_official(back)} == set(official)


def test_encoder_only_state_dict():
    torch.manual_seed(0)
    model = MarlinAutoencoder(SMALL).eval()
    enc_sd = to_official(model, encoder_only=True)
    assert all(k.startswith("encoder.") for k in enc_sd)  # the release's *.encoder.pt keeps the prefix
    bare = {k[len("encoder."):]: v for k, v in enc_sd.items()}  # model.encoder.state_dict() under official names
    x, _ = _batch(SMALL)
    for sd in (enc_sd, bare, {"module." + k: v for k, v in bare.items()}):
        back, report = from_official(sd, SMALL)
        assert report.encoder_only and report.layout == "encoder" and not report.unexpected
        assert all(not k.startswith("encoder.") for k in report.missing)
        with torch.no_grad():
            torch.testing.assert_close(back.encoder.extract_features(x), model.encoder.extract_features(x))


def test_strict_loading_errors():
    official = to_official(MarlinAutoencoder(SMALL))
    with pytest.raises(ValueError, match="unexpected keys.*encoder.extra"):
        from_official({**official, "encoder.extra": torch.zeros(1)}, SMALL)
    model, report = from_official({**official, "encoder.extra": torch.zeros(1)}, SMALL, strict=False)
    assert report.unexpected == ["encoder.extra"]
    bad = dict(official)
    bad["encoder.norm.weight"] = torch.ones(7)
    with pytest.raises(ValueError, match=r"shape mismatch for 'encoder.norm.weight'.*\(7,\)"):
        from_official(bad, SMALL)
    missing = {k: v for k, v in official.items() if k != "decoder.head.weight"}
    with pytest.raises(ValueError, match="missing keys.*decoder.head.weight"):
        from_official(missing, SMALL)
    with pytest.raises(ValueError, match="not an official MARLIN state dict"):
        from_official({"weight": torch.zeros(1)}, SMALL)


def test_load_pretrained_offline(tmp_path):
    torch.manual_seed(0)
    model = MarlinAutoencoder(SMALL).eval()
    ckpt = tmp_path / "marlin.ckpt"
    torch.save({"state_dict": {"model." + k: v for k, v in to_official(model).items()}, "epoch": 3}, ckpt)
    loaded, report = load_pretrained(ckpt, config=SMALL)
    assert not report.unexpected
    x, visible = _batch(SMALL)
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(x, visible), model(x, visible))
    with pytest.raises(FileNotFoundError, match="neither a file nor an official weight name"):
        load_pretrained(tmp_path / "nope.pt")
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_pretrained("marlin_vit_base_ytf", cache_dir=tmp_path, download=False)
    pickled = tmp_path / "object.pt"
    torch.save({"state_dict": {"model": object.__new__(MarlinConfig)}}, pickled)
    with pytest.raises(ValueError, match="weights-only"):
        load_pretrained(pickled)


def test_presets_and_overrides():
    assert get_config("tiny").num_tokens == 256
    assert PRESETS["base"].num_tokens == 1568 and PRESETS["base"].patch_dim == 1536
    assert get_config("tiny", enc_depth=2).enc_depth == 2
    with pytest.raises(ValueError, match="unknown preset"):
        get_config("huge")
    with pytest.raises(ValueError, match="multiple of patch_size"):
        MarlinConfig(img_size=30, patch_size=8)


def test_flop_estimate_matches_pytorch_counter():
    """FlopCounterMode counts the matrix products; PyTorch 2.13 does not count the fused CPU
    attention kernel (other versions may), so the estimate must match exactly one way or the other."""
    from torch.utils.flop_counter import FlopCounterMode

    from marlin_lite.model import estimate_flops

    torch.manual_seed(0)
    model = MarlinAutoencoder(SMALL).eval()
    x, visible = _batch(SMALL, B=1)
    n, N = int(visible.sum()), SMALL.num_tokens
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.discriminator(model(x, visible))
    attention = SMALL.enc_depth * 4 * n * n * SMALL.enc_dim + SMALL.dec_depth * 4 * N * N * SMALL.dec_dim
    total = estimate_flops(SMALL, n, discriminator=True)["total"]
    assert counter.get_total_flops() in (total - attention, total)
    with pytest.raises(ValueError, match="num_visible"):
        estimate_flops(SMALL, 0)


def test_token_split_matches_the_mask_and_is_checked():
    from marlin_lite.model import TokenSplit, select_tokens, split_tokens

    x, visible = _batch(SMALL, B=3)
    split = split_tokens(visible)
    for b in range(3):
        assert split.visible[b].tolist() == torch.nonzero(visible[b]).flatten().tolist()
        assert split.masked[b].tolist() == torch.nonzero(~visible[b]).flatten().tolist()
    t = torch.randn(3, visible.shape[1], 5)
    torch.testing.assert_close(select_tokens(t, visible), t[visible].reshape(3, -1, 5))
    torch.manual_seed(0)
    model = MarlinAutoencoder(SMALL).eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x, split), model(x, visible), rtol=0, atol=0)
        torch.testing.assert_close(model.targets(x, split), model.targets(x, visible), rtol=0, atol=0)
        torch.testing.assert_close(model.encoder(x, split), model.encoder(x, visible), rtol=0, atol=0)
    uneven = visible.clone()
    uneven[0, split.masked[0, 0]] = True
    with pytest.raises(ValueError, match="same number of visible tokens"):
        split_tokens(uneven)
    with pytest.raises(ValueError, match="must be a bool tensor"):
        split_tokens(visible.long())
    known = split_tokens(visible, int(visible[0].sum()))  # a training step knows n: no read-back
    assert torch.equal(known.visible, split.visible) and torch.equal(known.masked, split.masked)
    with pytest.raises(ValueError, match="n must be an int"):
        split_tokens(visible, visible.shape[1] + 1)
    short = TokenSplit(split.visible, split.masked[:, 1:])
    with pytest.raises(ValueError, match="the model has"):
        model(x, short)


def test_a_training_forward_traces_into_one_graph():
    """With the token split computed outside, torch.compile sees the whole autoencoder forward
    as one graph (no host syncs, no data-dependent shapes): what the compiled GPU step relies on."""
    from marlin_lite.model import split_tokens

    torch._dynamo.reset()
    model = MarlinAutoencoder(SMALL)
    x, visible = _batch(SMALL, B=2)
    report = torch._dynamo.explain(model)(x, split_tokens(visible))
    assert report.graph_break_count == 0, report.break_reasons
    assert report.graph_count == 1


def test_bad_clips_and_masks_get_clear_errors():
    """Wrong clips, masks, splits and predictions fail with errors that name the argument, not
    deep in einops / gather / Conv3d, and a mask for another batch size is never half used."""
    from marlin_lite.model import TokenSplit, split_tokens

    torch.manual_seed(0)
    model = MarlinAutoencoder(SMALL).eval()
    x, visible = _batch(SMALL)
    split = split_tokens(visible)
    with torch.no_grad():
        pred = model(x, visible)
        with pytest.raises(TypeError, match="x must hold float pixels in \\[0, 1\\], got dtype torch.uint8"):
            model(x.mul(255).to(torch.uint8), visible)
        with pytest.raises(TypeError, match="x must hold float pixels"):
            model.targets(x.mul(255).to(torch.uint8), visible)  # used to return uint8 targets silently
        with pytest.raises(TypeError, match="x is torch.float64 but the encoder's weights are torch.float32"):
            model.encoder(x.double())
        with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast casts input and weights: still fine
            assert model.encoder(x.bfloat16(), visible).shape[:2] == split.visible.shape
        with pytest.raises(TypeError, match="x must be a torch tensor.*torch.from_numpy"):
            model.encoder(x.numpy())
        for call in (lambda v: model.targets(v, visible), lambda v: model.reconstruct(v, visible, pred)):
            with pytest.raises(ValueError, match=r"expected clips of shape \(B, 3, 4, 32, 32\), got \(2, 4, 32, 32, 3\)"):
                call(x.permute(0, 2, 3, 4, 1))  # channels last
            with pytest.raises(ValueError, match=r"expected clips of shape .*got \(2, 3, 4, 24, 24\)"):
                call(x[..., :24, :24])
        # A mask of the wrong batch size or width: named, not "the same number of visible tokens".
        for call in (model, model.targets, model.encoder):
            with pytest.raises(ValueError, match=r"visible must be bool \(B, N\) = \(2, 32\), got torch.bool \(1, 32\)"):
                call(x, visible[:1])
            with pytest.raises(ValueError, match=r"visible must be bool \(B, N\) = \(2, 32\), got torch.bool \(2, 20\)"):
                call(x, visible[:, :20])
        with pytest.raises(ValueError, match=r"visible must be bool \(B, N\) = \(2, 32\), got torch.bool \(1, 32\)"):
            model.reconstruct(x, visible[:1], pred[:1])
        with pytest.raises(ValueError, match="the token split has 1 rows but x has 2 clips"):
            model(x, TokenSplit(split.visible[:1], split.masked[:1]))
        with pytest.raises(ValueError, match="integer token indices.*split_tokens"):
            model.targets(x, TokenSplit(split.visible.float(), split.masked.float()))
        with pytest.raises(ValueError, match="integer token indices"):
            model(x, TokenSplit(split.visible[0], split.masked[0]))
        with pytest.raises(ValueError, match=r"predictions must be \(B, N - n, P\) = \(2, 24, 384\).*\(2, 10, 384\)"):
            model.reconstruct(x, visible, pred[:, :10])
        with pytest.raises(ValueError, match=r"predictions must be .*\(1, 24, 384\)"):
            model.reconstruct(x, visible, pred[:1])
        z = model.enc_dec_proj(model.encoder(x, split))
        with pytest.raises(ValueError, match=r"z must be \(B, n, dec_dim\) = \(2, 8, 24\)"):
            model.decoder(z[:, :5], split)
        torch.testing.assert_close(model.decoder(z, split), pred)


def test_official_loading_errors_name_the_problem(tmp_path):
    official = to_official(MarlinAutoencoder(SMALL))
    with pytest.raises(TypeError, match="state_dict must be a dict"):
        from_official(list(official.items()), SMALL)
    with pytest.raises(ValueError, match="'encoder.norm.weight' holds ndarray, not a tensor"):
        from_official({**official, "encoder.norm.weight": official["encoder.norm.weight"].numpy()}, SMALL)
    no_mlp = {k: v for k, v in official.items() if k != "encoder.blocks.0.mlp.layers.0.linear.weight"}
    with pytest.raises(ValueError, match="cannot infer the model size.*mlp.layers.0.linear.weight' is missing.*pass config="):
        config_from_official(no_mlp, num_frames=SMALL.num_frames)
    # A MARLIN-lite training checkpoint is not official weights: say which loader it needs.
    ckpt = tmp_path / "checkpoint.pt"
    torch.save({"config": {"model": "tiny"}, "model": MarlinAutoencoder(SMALL).state_dict(), "step": 1}, ckpt)
    with pytest.raises(ValueError, match="MARLIN-lite training checkpoint.*model_from_checkpoint"):
        load_pretrained(ckpt)


def test_a_mask_that_hides_nothing_predicts_nothing_and_ratios_that_hide_nothing_are_refused():
    torch.manual_seed(0)
    model = MarlinAutoencoder(SMALL).eval()
    x, _ = _batch(SMALL)
    everything = torch.ones(2, SMALL.num_tokens, dtype=torch.bool)
    with torch.no_grad():
        assert model(x, everything).shape == (2, 0, SMALL.patch_dim)
    grid = TokenGrid(SMALL.num_frames, SMALL.img_size, SMALL.tubelet_size, SMALL.patch_size)
    with pytest.raises(ValueError, match="hides no token"):
        make_visible_mask("random", 2, grid, 1e-9)
    with pytest.raises(ValueError, match="leaves no visible token"):
        make_visible_mask("random", 2, grid, 1 - 1e-9)
    assert make_visible_mask("random", 2, grid, 1 / SMALL.num_tokens).sum(1).tolist() == [SMALL.num_tokens - 1] * 2


def test_the_autoencoder_checks_its_input_once_per_call(monkeypatch):
    """Input checks sit at the public entry: one forward pass checks ``x`` once and splits the mask
    once; the encoder and decoder take the split as checked (each still checks when called alone)."""
    import marlin_lite.model as model_module

    calls = {"clips": 0, "split": 0}
    check, split = model_module.check_clips, model_module.split_tokens

    def counting_check(*args, **kwargs):
        calls["clips"] += 1
        return check(*args, **kwargs)

    def counting_split(*args, **kwargs):
        calls["split"] += 1
        return split(*args, **kwargs)

    monkeypatch.setattr(model_module, "check_clips", counting_check)
    monkeypatch.setattr(model_module, "split_tokens", counting_split)
    torch.manual_seed(0)
    m = MarlinAutoencoder("tiny").eval()
    grid = TokenGrid(m.cfg.num_frames, m.cfg.img_size, m.cfg.tubelet_size, m.cfg.patch_size)
    x = torch.rand(2, 3, m.cfg.num_frames, m.cfg.img_size, m.cfg.img_size)
    visible = make_visible_mask("tube", 2, grid, 0.9, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pred = m(x, visible)
    assert calls == {"clips": 1, "split": 1}
    with torch.no_grad():
        alone = m.encoder(x, visible)  # called on its own, the encoder checks
    assert calls == {"clips": 2, "split": 2} and alone.shape[1] == int(visible[0].sum())
    with pytest.raises(ValueError, match="expected clips of shape"):
        m(x[:, :, :2], visible)
    assert pred.shape == (2, int((~visible[0]).sum()), m.cfg.patch_dim)
