"""Reconstruction baselines: what a masked autoencoder's loss is worth."""

import pytest
import torch

from marlin_lite.masking import TokenGrid, make_visible_mask
from marlin_lite.model import MarlinAutoencoder, patchify
from marlin_lite.recon import (
    mean_visible_patch,
    nearest_visible_patch,
    reconstruction_report,
    reconstruction_table,
    token_coordinates,
)


def test_mean_visible_patch_is_the_mean_of_the_visible_rows():
    patches = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3)
    visible = torch.tensor([[True, False, True, False], [False, False, False, True]])
    with pytest.raises(ValueError, match="same number"):
        mean_visible_patch(patches, visible)
    visible = torch.tensor([[True, False, True, False], [False, True, False, True]])
    out = mean_visible_patch(patches, visible)
    assert out.shape == (2, 2, 3)
    torch.testing.assert_close(out[0, 0], (patches[0, 0] + patches[0, 2]) / 2)
    torch.testing.assert_close(out[1, 1], (patches[1, 1] + patches[1, 3]) / 2)


def test_nearest_visible_patch_copies_the_closest_token_and_breaks_ties_low():
    grid = (1, 1, 5)  # five tokens in a row
    patches = torch.arange(5, dtype=torch.float32).reshape(1, 5, 1) * 10
    visible = torch.tensor([[True, False, False, False, True]])
    out = nearest_visible_patch(patches, visible, grid)
    # hidden 1 -> 0, hidden 2 -> tie between 0 and 4 -> 0, hidden 3 -> 4
    assert out.flatten().tolist() == [0.0, 0.0, 40.0]
    assert token_coordinates((2, 3, 4)).shape == (24, 3)
    assert token_coordinates(TokenGrid(4, 16, 2, 8)).tolist()[-1] == [1.0, 1.0, 1.0]


def test_baselines_refuse_bad_input():
    with pytest.raises(ValueError, match="visible must be bool"):
        mean_visible_patch(torch.zeros(1, 4, 3), torch.ones(1, 4))
    with pytest.raises(ValueError, match="at least one visible"):
        mean_visible_patch(torch.zeros(1, 4, 3), torch.ones(1, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="grid has"):
        nearest_visible_patch(torch.zeros(1, 4, 3), torch.tensor([[True, False, True, False]]), (1, 1, 5))


def test_report_on_smooth_clips_ranks_copying_above_the_mean():
    # Smooth horizontal ramps: a copied neighbour is closer than the clip's mean colour.
    torch.manual_seed(0)
    model = MarlinAutoencoder("tiny")
    ramp = torch.linspace(0, 1, 64)
    clips = ramp.view(1, 1, 1, 1, 64).expand(6, 3, 8, 64, 64).clone()
    clips = clips * torch.rand(6, 3, 1, 1, 1)
    rep = reconstruction_report(model, clips, strategy="tube", mask_ratio=0.75, seed=1)
    assert set(rep.per_clip) == {"model", "mean_visible_patch", "nearest_visible_patch"}
    assert all(v.shape == (6,) for v in rep.per_clip.values())
    assert rep.mean("nearest_visible_patch") < 0.5 * rep.mean("mean_visible_patch")
    # the per-clip MSE is the mean over hidden patches: recompute one baseline by hand
    grid = TokenGrid(8, 64, 2, 8)
    visible = make_visible_mask("tube", 6, grid, 0.75, generator=torch.Generator().manual_seed(1))
    patches = patchify(clips, 8, 2)
    target = patches[~visible].reshape(6, -1, patches.shape[-1])
    by_hand = ((mean_visible_patch(patches, visible) - target) ** 2).mean((1, 2))
    torch.testing.assert_close(rep.per_clip["mean_visible_patch"], by_hand)
    r, lo, hi = rep.interval("model", "mean_visible_patch")
    assert lo <= r <= hi
    table = reconstruction_table([rep])
    assert "tube 0.75" in table and table.count("\n") == 2


def test_cli_prints_the_table_and_refuses_a_missing_checkpoint(tmp_path, capsys):
    from marlin_lite.pretrain import load_config, train
    from marlin_lite.recon import held_out_clips, main

    cfg = load_config("configs/tiny.yaml", max_steps=2, num_identities=6, clips_per_identity=1, batch_size=2,
                      out_dir=str(tmp_path / "run"), progress=False, ckpt_every=2)
    train(cfg)
    assert main([str(tmp_path / "run" / "checkpoint.pt"), "--clips", "4"]) == 0
    out = capsys.readouterr().out
    assert "4 held-out clips" in out and "fasking 0.90" in out and "tube 0.90" in out
    assert main([str(tmp_path / "missing.pt")]) == 2
    assert "missing.pt" in capsys.readouterr().err
    x, p = held_out_clips(3, size=32, num_frames=4)
    assert x.shape == (3, 3, 4, 32, 32) and p.shape == (3, 4, 32, 32) and p.dtype == torch.uint8
