"""Masking: exact counts, structure of each strategy, face guidance on SynthFace maps, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from marlin_lite import labels as L
from marlin_lite.masking import (
    COMPONENTS,
    STRATEGIES,
    TokenGrid,
    label_bitmask,
    make_visible_mask,
    num_visible,
    region_membership,
)
from marlin_lite.synthface import generate_clip


def _maps(grid: TokenGrid, identities=(0, 1, 2, 3), clip_seed=0) -> torch.Tensor:
    return torch.stack(
        [torch.from_numpy(generate_clip(i, clip_seed, size=grid.size, num_frames=grid.frames).parsing) for i in identities]
    )


@pytest.fixture(scope="module")
def marlin_grid_maps():
    grid = TokenGrid(16, 224, 2, 16)
    return grid, _maps(grid, identities=(0, 5))


def test_marlin_numbers():
    grid = TokenGrid(16, 224, 2, 16)
    assert grid.shape == (8, 14, 14) and grid.num_tokens == 1568
    assert num_visible(1568, 0.9) == 156
    assert num_visible(1000, 0.9) == 100  # no float trap: 1000 * (1 - 0.9) = 99.999...


@pytest.mark.parametrize("grid", [TokenGrid(8, 64, 2, 8), TokenGrid(6, 40, 2, 8), TokenGrid(4, 48, 2, 16)])
@pytest.mark.parametrize("ratio", [0.5, 0.75, 0.9])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_exact_visible_count(grid, ratio, strategy):
    try:
        n = num_visible(grid.num_tokens, ratio)
    except ValueError:
        pytest.skip("ratio leaves nothing visible on this grid")
    maps = _maps(grid, identities=(0, 7, 9))
    v = make_visible_mask(strategy, 3, grid, ratio, parsing=maps, generator=torch.Generator().manual_seed(1))
    assert v.dtype == torch.bool and v.shape == (3, grid.num_tokens)
    assert v.sum(1).tolist() == [n] * 3


def test_marlin_size_counts_and_speed_shape(marlin_grid_maps):
    grid, maps = marlin_grid_maps
    for strategy in STRATEGIES:
        v = make_visible_mask(strategy, 2, grid, 0.9, parsing=maps, generator=torch.Generator().manual_seed(0))
        assert v.sum(1).tolist() == [156, 156], strategy


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_reproducible_and_seed_dependent(strategy):
    grid = TokenGrid(8, 64, 2, 8)
    maps = _maps(grid)
    make = lambda seed: make_visible_mask(strategy, 4, grid, 0.75, parsing=maps, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(make(3), make(3))
    assert not torch.equal(make(3), make(4))


def test_tube_and_frame_structure():
    grid = TokenGrid(16, 224, 2, 16)
    t, h, w = grid.shape
    gen = torch.Generator().manual_seed(0)
    tube = make_visible_mask("tube", 8, grid, 0.9, generator=gen).reshape(8, t, h * w)
    per_position = tube.sum(1)  # slots in which each spatial position is visible
    positions = (per_position > 0).sum(1)
    assert (positions == math.ceil(156 / t)).all()  # 20 tubes, trimmed to 156 tokens
    # Whole tubes, except the 20 * 8 - 156 = 4 tokens the trimming drops.
    assert ((per_position > 0).sum(1) * t - per_position.sum(1) == 20 * t - 156).all()
    frame = make_visible_mask("frame", 8, grid, 0.9, generator=gen).reshape(8, t, h * w)
    assert ((frame.sum(2) > 0).sum(1) == 1).all()  # 156 < 196: one slot
    rand = make_visible_mask("random", 8, grid, 0.9, generator=gen).reshape(8, t, h * w)
    assert ((rand.sum(2) > 0).sum(1) > 1).all()


def test_label_bitmask_matches_a_plain_loop():
    gen = torch.Generator().manual_seed(0)
    # (labels 0-7 and 8-10 are packed in two uint8 maps inside: every label id is exercised)
    for grid, dtype in ((TokenGrid(4, 40, 2, 8), torch.uint8), (TokenGrid(2, 30, 2, 5), torch.int64), (TokenGrid(2, 36, 1, 6), torch.uint8),
                        (TokenGrid(2, 112, 2, 16), torch.uint8)):
        maps = torch.randint(0, 11, (2, grid.frames, grid.size, grid.size), generator=gen).to(dtype)
        maps[:, :, : grid.size // 2] = 1  # some uniform patches too
        maps[:, :, -3:, -3:] = 10  # and a corner of the last label
        bits = label_bitmask(maps, grid)
        assert bits.dtype == torch.int16
        t, h, w = grid.shape
        for b in range(2):
            for i in range(t):
                for y in range(h):
                    for x in range(w):
                        patch = maps[b, i * grid.tubelet, y * grid.patch : (y + 1) * grid.patch, x * grid.patch : (x + 1) * grid.patch]
                        expected = sum(1 << int(k) for k in patch.unique())
                        assert int(bits[b, i, y, x]) == expected


def test_fasking_hides_the_face(marlin_grid_maps):
    grid, maps = marlin_grid_maps
    regions = region_membership(maps, grid)
    component = torch.stack([regions[c] for c in COMPONENTS]).any(0)
    gen = torch.Generator().manual_seed(0)
    v = make_visible_mask("fasking", 2, grid, 0.9, parsing=maps, generator=gen)
    # On SynthFace every slot has > 10 % background patches: only they become visible.
    assert regions["background"][v].all()
    only_component = component & ~regions["background"] & ~regions["skin"]
    assert not (v & only_component).any()
    opp = make_visible_mask("fasking_opp", 2, grid, 0.9, parsing=maps, generator=gen)
    # The reverse walk shows the components first (then skin, if they cover < 10 % of a slot).
    assert component[opp].float().mean() > 0.6 > component[v].float().mean()
    paper = make_visible_mask("fasking_paper", 2, grid, 0.9, parsing=maps, generator=gen)
    assert not (paper & component).any()  # enough non-component tokens: none of the face is seen
    # ... and, unlike the official walk, the paper reading also shows pure-skin tokens.
    pure_skin = regions["skin"] & ~regions["background"] & ~component
    assert (paper & pure_skin).any() and not (v & pure_skin).any()


def test_fasking_without_a_face_is_uniform():
    grid = TokenGrid(8, 64, 2, 8)
    maps = torch.zeros(512, 8, 64, 64, dtype=torch.uint8)  # nobody in the picture
    v = make_visible_mask("fasking", 512, grid, 0.75, parsing=maps, generator=torch.Generator().manual_seed(0))
    assert (v.sum(1) == num_visible(grid.num_tokens, 0.75)).all()
    share = v.float().mean(0)  # every token is equally likely to be seen
    assert 0.15 < share.min() and share.max() < 0.35  # 0.25 +- 5 standard errors


def test_region_membership_on_synthface():
    grid = TokenGrid(8, 64, 2, 8)
    maps = _maps(grid, identities=(4,))
    regions = region_membership(maps, grid)
    assert set(regions) == set(L.REGION_GROUPS)
    union = torch.stack(list(regions.values())).any(0)
    assert union.all()  # every token touches some region
    t, h, w = grid.shape
    mouth = regions["mouth"].reshape(t, h, w)
    eyes = (regions["right_eye"] | regions["left_eye"]).reshape(t, h, w)
    rows = lambda m: np.nonzero(m.any(0).any(1).numpy())[0].mean()  # noqa: E731
    assert rows(eyes) < rows(mouth)  # eyes above the mouth


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(mask_ratio=0.0), "mask_ratio"),
        (dict(mask_ratio=1.0), "mask_ratio"),
        (dict(mask_ratio=1.5), "mask_ratio"),
        (dict(mask_ratio=0.999), "no visible token"),
        (dict(strategy="checkerboard"), "unknown masking strategy"),
        (dict(strategy="fasking", parsing=None), "needs parsing maps"),
        (dict(strategy="fasking", parsing=torch.zeros(2, 8, 32, 32, dtype=torch.uint8)), "do not match"),
        (dict(strategy="fasking", parsing=torch.zeros(3, 8, 64, 64, dtype=torch.uint8)), "batch_size"),
        (dict(strategy="fasking", parsing=torch.zeros(2, 8, 64, 64)), "integer label ids"),
        (dict(strategy="fasking", parsing=torch.full((2, 8, 64, 64), 11, dtype=torch.uint8)), "label ids 11..11"),
        (dict(batch_size=0), "batch_size"),
    ],
)
def test_clear_errors(kwargs, match):
    args = dict(strategy="random", batch_size=2, grid=TokenGrid(8, 64, 2, 8), mask_ratio=0.9)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        make_visible_mask(**args)


def test_wrong_types_and_parsing_shapes_are_named():
    grid = TokenGrid(8, 64, 2, 8)
    with pytest.raises(TypeError, match="grid must be a marlin_lite.masking.TokenGrid, got tuple"):
        make_visible_mask("random", 2, (4, 8, 8))
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        make_visible_mask("random", 2, grid, generator=0)
    maps = torch.zeros(2, 8, 64, 64, dtype=torch.uint8)
    with pytest.raises(TypeError, match="parsing must be a torch tensor.*got ndarray"):
        make_visible_mask("fasking", 2, grid, parsing=maps.numpy())
    # One clip's maps without the batch dimension: a shape error, not "8 clips but batch_size is 2".
    for strategy in ("fasking", "fasking_paper"):
        with pytest.raises(ValueError, match=r"parsing must be \(B, T, H, W\) label ids, got shape \(8, 64, 64\)"):
            make_visible_mask(strategy, 2, grid, parsing=maps[0])


def test_grid_errors():
    with pytest.raises(ValueError, match="multiple of patch"):
        TokenGrid(8, 60, 2, 16)
    with pytest.raises(ValueError, match="multiple of tubelet"):
        TokenGrid(7, 64, 2, 8)


def test_label_range_can_be_checked_before_the_maps_travel():
    """Training checks the maps on the CPU (check_label_range) and masks on the GPU without the
    check's read-back: with valid maps the masks are the same either way."""
    from marlin_lite.masking import check_label_range

    grid = TokenGrid(8, 64, 2, 8)
    maps = torch.randint(0, 11, (2, 8, 64, 64), generator=torch.Generator().manual_seed(3)).to(torch.uint8)
    check_label_range(maps, 2)
    for strategy in ("fasking", "fasking_opp", "fasking_paper"):
        a = make_visible_mask(strategy, 2, grid, 0.9, parsing=maps, generator=torch.Generator().manual_seed(1))
        b = make_visible_mask(strategy, 2, grid, 0.9, parsing=maps, generator=torch.Generator().manual_seed(1), check_labels=False)
        assert torch.equal(a, b), strategy
    bad = maps.clone()
    bad[1, 2, 5, 5] = 12  # the first frame of slot 1
    with pytest.raises(ValueError, match="label ids 0..12"):
        check_label_range(bad, 2)
    bad[1, 2, 5, 5] = 3
    bad[1, 3, 5, 5] = 12  # not a slot's first frame: masks never read it
    check_label_range(bad, 2)



def _official_walk_by_loops(parsing: torch.Tensor, grid: TokenGrid, mask_ratio: float, opposite: bool,
                            gen: torch.Generator) -> torch.Tensor:
    """The official walk written out with plain loops (clip, slot, label), as the official
    data set's mask generation reads: one queue of components per clip; in each slot, labels
    become visible one at a time (a patch joins when any pixel of its first frame has the label)
    until the visible share reaches 1 - mask_ratio; then exactly n candidates are kept at random.
    It draws its random numbers as the package does, so the two must agree exactly."""
    B = parsing.shape[0]
    t, h, w = grid.shape
    order = torch.rand(B, t, len(COMPONENTS), generator=gen).argsort(-1)[:, 0]
    candidates = torch.zeros(B, t, h, w, dtype=torch.bool)
    for b in range(B):
        comps = [lab for k in order[b].tolist() for lab in L.REGION_GROUPS[COMPONENTS[k]]]
        queue = comps + [L.SKIN, L.BACKGROUND] if opposite else [L.BACKGROUND, L.SKIN] + comps
        for s in range(t):
            frame = parsing[b, s * grid.tubelet]
            visible = torch.zeros(h, w, dtype=torch.bool)
            for lab in queue:
                has = (frame == lab).reshape(h, grid.patch, w, grid.patch).any(3).any(1)
                visible |= has
                if visible.float().mean() >= 1 - mask_ratio - 1e-6:
                    break
            candidates[b, s] = visible
    n = num_visible(grid.num_tokens, mask_ratio)
    scores = torch.rand(B, grid.num_tokens, generator=gen).masked_fill(~candidates.reshape(B, -1), -1.0)
    return torch.zeros(B, grid.num_tokens, dtype=torch.bool).scatter_(1, scores.topk(n, dim=1).indices, True)


@pytest.mark.parametrize("strategy", ["fasking", "fasking_opp"])
@pytest.mark.parametrize("ratio", [0.9, 0.75])
def test_fasking_is_the_official_walk(strategy, ratio):
    grid = TokenGrid(8, 64, 2, 8)
    maps = torch.cat([_maps(grid, identities=range(6), clip_seed=c) for c in (0, 1)])
    for seed in range(3):
        ours = make_visible_mask(strategy, len(maps), grid, ratio, parsing=maps, generator=torch.Generator().manual_seed(seed))
        loops = _official_walk_by_loops(maps, grid, ratio, strategy == "fasking_opp", torch.Generator().manual_seed(seed))
        assert torch.equal(ours, loops), (strategy, ratio, seed)


def test_fasking_opp_can_stop_inside_a_component():
    """A slot whose right brow alone makes 10 % visible: the walk stops after the brow, before
    the right eye of the same group (a walk by whole groups would make both candidates, and its
    random trim would show eye patches)."""
    grid = TokenGrid(2, 80, 2, 8)  # one slot of 10 x 10 patches
    frame = torch.full((80, 80), L.SKIN, dtype=torch.uint8)
    frame[:16, :40] = L.RIGHT_BROW  # 2 x 5 = 10 patches: exactly 10 % of the slot
    frame[16:24, :40] = L.RIGHT_EYE  # 5 more patches in the same group
    maps = frame.expand(1, 2, 80, 80).clone()
    brow = torch.zeros(10, 10, dtype=torch.bool)
    brow[:2, :5] = True
    for seed in range(20):
        vis = make_visible_mask("fasking_opp", 1, grid, 0.9, parsing=maps, generator=torch.Generator().manual_seed(seed))
        assert torch.equal(vis.reshape(10, 10), brow), seed
