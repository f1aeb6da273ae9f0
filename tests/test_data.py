"""SynthFaceDataset: leak-free splits, balanced plans, item contract, caching."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from marlin_lite.data import SPLITS, SynthFaceDataset, identity_splits, plan_clips
from marlin_lite.synthface import ATTRIBUTES, EXPRESSIONS


def test_identity_splits_partition_and_are_seeded():
    s = identity_splits(20, world_seed=3)
    ids = [i for name in SPLITS for i in s[name]]
    assert sorted(ids) == list(range(20))
    assert all(len(s[name]) >= 1 for name in SPLITS)
    assert s == identity_splits(20, world_seed=3)
    assert s != identity_splits(20, world_seed=4)
    with pytest.raises(ValueError, match="num_identities"):
        identity_splits(2)
    with pytest.raises(ValueError, match="fractions"):
        identity_splits(10, fractions=(0.5, 0.5, 0.5))


def test_plans_are_balanced_and_leak_free():
    specs = {sp: plan_clips(sp, num_identities=20, clips_per_identity=6, fake_fraction=0.5, max_av_offset=2) for sp in SPLITS}
    people = {sp: {s.identity for s in specs[sp]} for sp in SPLITS}
    assert not (people["train"] & people["val"]) and not (people["train"] & people["test"])
    train = specs["train"]
    counts = np.bincount([EXPRESSIONS.index(s.expression) for s in train], minlength=len(EXPRESSIONS))
    assert counts.min() > 0 and counts.max() - counts.min() <= len(people["train"])
    fakes = [s for s in train if s.manipulation != "none"]
    assert len(fakes) == round(0.5 * len(train))
    assert {s.manipulation for s in fakes} == {"face_swap", "reenactment", "mouth_resynthesis"}
    for s in fakes:
        if s.manipulation == "face_swap":
            assert s.donor_identity in people["train"] and s.donor_identity != s.identity
    assert all(-2 <= s.av_offset <= 2 for s in train) and len({s.av_offset for s in train}) > 1
    assert plan_clips("train", num_identities=20, clips_per_identity=6) == plan_clips("train", num_identities=20, clips_per_identity=6)


def test_split_by_clip_shares_identities():
    tr = plan_clips("train", num_identities=5, clips_per_identity=10, split_by="clip")
    te = plan_clips("test", num_identities=5, clips_per_identity=10, split_by="clip")
    assert {s.identity for s in tr} == {s.identity for s in te} == set(range(5))
    assert not {(s.identity, s.clip_seed) for s in tr} & {(s.identity, s.clip_seed) for s in te}


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(split="dev"), "split"), (dict(split_by="person"), "split_by"), (dict(fake_fraction=2), "fake_fraction"), (dict(manipulations=("morph",)), "manipulations")],
)
def test_plan_errors(kwargs, match):
    kwargs.setdefault("split", "train")
    with pytest.raises(ValueError, match=match):
        plan_clips(**kwargs)


def test_items_and_loader():
    ds = SynthFaceDataset("val", num_identities=10, clips_per_identity=2, size=32, num_frames=8, fake_fraction=0.5)
    item = ds[0]
    assert item["video"].shape == (3, 8, 32, 32) and item["video"].dtype == torch.float32
    assert 0 <= item["video"].min() and item["video"].max() <= 1
    assert item["parsing"].shape == (8, 32, 32) and item["parsing"].dtype == torch.uint8
    assert item["audio"].shape == (int(round(8 / 25 * 16000)),)
    assert item["attributes"].shape == (len(ATTRIBUTES),)
    batch = next(iter(DataLoader(ds, batch_size=len(ds))))
    assert batch["video"].shape[0] == len(ds)
    assert batch["fake"].sum().item() == round(0.5 * len(ds))
    # The item is the rendered clip, in the package's (C, T, H, W) layout.
    clip = ds.clip(0)
    np.testing.assert_array_equal(item["video"].permute(1, 2, 3, 0).mul(255).round().byte().numpy(), clip.frames)
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_caches_return_identical_items(tmp_path):
    kw = dict(num_identities=6, clips_per_identity=1, size=32, num_frames=4)
    plain = SynthFaceDataset("train", **kw)
    on_disk = SynthFaceDataset("train", cache_dir=tmp_path, **kw)
    first = on_disk[1]
    assert len(list(tmp_path.glob("*.npz"))) == 1
    again = SynthFaceDataset("train", cache_dir=tmp_path, **kw)[1]  # read back from the file
    in_memory = SynthFaceDataset("train", cache=True, **kw)
    for other in (first, again, in_memory[1], in_memory[1]):
        for key, value in plain[1].items():
            assert torch.equal(value, other[key]), key
