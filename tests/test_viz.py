"""Figures and animations: shapes, determinism, and clear errors."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from marlin_lite import viz  # noqa: E402
from marlin_lite.labels import LABEL_COLOURS  # noqa: E402
from marlin_lite.synthface import generate_clip  # noqa: E402


def test_overlay_and_colouring():
    c = generate_clip(0, 0, size=32, num_frames=4)
    rgb = viz.parsing_to_rgb(c.parsing)
    assert rgb.shape == (4, 32, 32, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[c.parsing == 1][0]) == LABEL_COLOURS[1]
    over = viz.overlay_parsing(c.frames, c.parsing, alpha=0.5)
    bg = c.parsing == 0
    np.testing.assert_array_equal(over[bg], c.frames[bg])  # background untouched
    assert not np.array_equal(over[~bg], c.frames[~bg])
    with pytest.raises(ValueError, match="does not match"):
        viz.overlay_parsing(c.frames, c.parsing[:, :16])
    with pytest.raises(ValueError, match="parsing ids"):
        viz.parsing_to_rgb(np.full((2, 2), 11))


def test_gif_is_deterministic_and_animated():
    a = generate_clip(1, 0, size=32, num_frames=5).frames
    b = generate_clip(2, 0, size=32, num_frames=5).frames
    data = viz.clip_gif([a, b], scale=2)
    assert data == viz.clip_gif([a, b], scale=2)
    im = Image.open(io.BytesIO(data))
    assert im.n_frames == 5 and im.size == ((32 * 2 + 2) * 2, 64)


def test_figures_build():
    c = generate_clip(3, 0, size=32, num_frames=8)
    fig = viz.show_frames([c.frames, viz.overlay_parsing(c.frames, c.parsing)], row_titles=["rgb", "parsing"])
    assert len(fig.axes) == 16
    fig = viz.plot_audio_and_mouth(c.audio, c.sample_rate, c.per_frame["mouth_open"], c.fps, envelope=c.per_frame["speech_envelope"])
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        viz.show_frames(np.zeros((4, 8, 8)))


def test_show_visible_tokens_paints_one_slot():
    import matplotlib.pyplot as plt
    import torch

    from marlin_lite import masking as M

    c = generate_clip(3, 0, size=32, num_frames=8)
    grid = M.TokenGrid(frames=8, size=32, tubelet=2, patch=8)  # (T', H', W') = (4, 4, 4)
    parsing = torch.from_numpy(c.parsing)[None]
    member = {name: m[0].reshape(grid.shape) for name, m in M.region_membership(parsing, grid).items()}
    for strategy, slot in (("fasking", 0), ("fasking_opp", 1), ("fasking_paper", 2), ("tube", 3), ("random", 1)):
        gen = torch.Generator().manual_seed(slot)
        visible = M.make_visible_mask(strategy, 1, grid, 0.75, parsing=parsing, generator=gen)[0].reshape(grid.shape)[slot]
        t = slot * grid.tubelet
        slot_member = {name: m[slot] for name, m in member.items()}
        fig = viz.show_visible_tokens(c.frames[t], c.parsing[t], visible, slot_member, dim=0.5)
        ax_frame, ax_map, ax_bars = fig.axes
        # Panel 0: visible patches untouched, hidden ones at half brightness.
        painted = np.asarray(ax_frame.images[0].get_array())
        on = visible.numpy().repeat(8, 0).repeat(8, 1)
        assert painted.shape == (32, 32, 3) and painted.dtype == np.uint8
        np.testing.assert_array_equal(painted[on], c.frames[t][on])
        np.testing.assert_array_equal(painted[~on], (c.frames[t][~on] * 0.5 + 0.5).astype(np.uint8))
        # Panel 1: one outline per visible token.
        assert len(ax_map.collections[0].get_paths()) == int(visible.sum())
        # Panel 2: the share of visible tokens touching each group, then of all tokens.
        n = max(int(visible.sum()), 1)
        want_visible = [int((m & visible).sum()) / n for m in slot_member.values()]
        want_all = [float(m.float().mean()) for m in slot_member.values()]
        np.testing.assert_allclose([b.get_width() for b in ax_bars.containers[0]], want_visible)
        np.testing.assert_allclose([b.get_width() for b in ax_bars.containers[1]], want_all)
        if strategy == "fasking" and visible.any():  # the official walk: every visible token shows background
            assert ax_bars.containers[0][list(slot_member).index("background")].get_width() == 1.0
        plt.close(fig)

    # Drawing into given axes (one row of a grid) returns that figure.
    fig, axes = plt.subplots(2, 3)
    assert viz.show_visible_tokens(c.frames[0], c.parsing[0], visible, slot_member, axes=axes[1]) is fig
    assert len(axes[1, 0].images) == 1 and len(axes[0, 0].images) == 0
    plt.close(fig)
    with pytest.raises(ValueError, match="parsing shape"):
        viz.show_visible_tokens(c.frames[0], c.parsing[0, :16], visible, slot_member)
    with pytest.raises(ValueError, match="one patch side"):
        viz.show_visible_tokens(c.frames[0], c.parsing[0], np.ones((4, 2), bool), slot_member)
    with pytest.raises(ValueError, match="membership maps"):
        viz.show_visible_tokens(c.frames[0], c.parsing[0], visible, {"skin": np.ones((2, 2), bool)})


def test_plot_intervals_draws_one_row_per_method():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    viz.plot_intervals(ax, ["a", "b", "c"], [0.5, 0.6, 0.7], [0.4, 0.55, 0.6], [0.6, 0.7, 0.8],
                       references={"chance": 0.5}, xlim=(0, 1), xlabel="accuracy")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    assert ax.get_yticks().tolist() == [2, 1, 0]  # the first label on top
    assert any(t.get_text() == " 0.60 [0.55, 0.70]" for t in ax.texts)
    assert ax.get_legend() is not None and ax.get_xlim() == (0, 1)
    plt.close(fig)
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="same non-zero length"):
        viz.plot_intervals(ax, ["a"], [0.5, 0.6], [0.4], [0.6])
    with pytest.raises(ValueError, match="contain its estimate"):
        viz.plot_intervals(ax, ["a"], [0.7], [0.4], [0.6])
    plt.close(fig)
