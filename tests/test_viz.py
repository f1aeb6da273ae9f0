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
