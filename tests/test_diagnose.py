"""marlin_lite.diagnose: per-layer, per-pooling probes (the FER diagnosis)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from marlin_lite import diagnose
from marlin_lite.tasks.probe import random_encoder


def test_layer_views_are_the_encoders_own_tokens_pooled():
    enc = random_encoder("tiny", seed=3)
    clips = torch.rand(3, 3, 8, 64, 64)
    views = diagnose.layer_views(enc, clips, batch_size=2)
    depth, dim = len(enc.blocks), enc.cfg.enc_dim
    assert sorted(views) == sorted(f"L{k}/{p}" for k in range(depth + 1) for p in diagnose.POOLINGS)
    assert views["L0/mean"].shape == (3, dim) and views["L4/grid"].shape == (3, 4 * dim) and views["L4/regions"].shape == (3, 18 * dim)
    with torch.no_grad():
        tokens = F.layer_norm(enc.tokens(clips), (dim,))  # the last block's output, normalised per token
        first = F.layer_norm(enc.patch_embed(clips) + enc.pos_embed, (dim,))
    torch.testing.assert_close(views[f"L{depth}/mean"], tokens.mean(1))
    torch.testing.assert_close(views["L0/mean"], first.mean(1))
    # regions: slot-halves x 3 x 3; the first region of the first half is the mean of those tokens
    t, h, w = enc.cfg.grid
    grid = tokens.reshape(3, t, h, w, dim)
    torch.testing.assert_close(views[f"L{depth}/regions"].reshape(3, dim, 2, 3, 3)[:, :, 0, 0, 0],
                               F.adaptive_avg_pool3d(grid.permute(0, 4, 1, 2, 3), (2, 3, 3))[:, :, 0, 0, 0])


def test_the_command_writes_a_table_per_pooling(tmp_path, capsys):
    out = tmp_path / "fer.md"
    assert diagnose.main(["--quick", "--task", "fer", "--encoder", "random:0", "--encoder", "random:1", "--out", str(out)]) == 0
    text = out.read_text()
    assert text.count("## Pooling") == 3 and "random init 0" in text and "random init 1" in text
    assert "| L0 |" in text and "| L4 |" in text and "pixel probe" in text
    assert diagnose.main(["--encoder", str(tmp_path / "missing.pt")]) == 2
    assert "no such file" in capsys.readouterr().err
