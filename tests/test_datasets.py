"""Real-data loaders on their SynthFace replicas: items, labels, clips, splits and every error path."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from marlin_lite.datasets import (
    CELEBVHQ_EMOTIONS,
    DATASETS,
    FFPP_KINDS,
    SPLITS,
    canonical_name,
    get_dataset,
    hash_split,
    list_frame_files,
    make_replica,
    plan_clip,
    sentiment_classes,
)
from marlin_lite.datasets.replicas import CELEBVHQ_ACTION_NAMES, CELEBVHQ_APPEARANCE_NAMES
from marlin_lite.synthface import generate_clip

NAMES = ("ytf", "celebvhq", "ffpp", "mosei", "lrs2")
URLS = {
    "ytf": "https://www.cs.tau.ac.il/~wolf/ytfaces/",
    "celebvhq": "https://github.com/CelebV-HQ/CelebV-HQ",
    "ffpp": "https://github.com/ondyari/FaceForensics",
    "mosei": "https://github.com/A2Zadeh/CMU-MultimodalSDK",
    "lrs2": "https://www.robots.ox.ac.uk/~vgg/data/lip_reading/lrs2.html",
}


@pytest.fixture(scope="module")
def replicas(tmp_path_factory) -> dict[str, tuple[Path, dict]]:
    base = tmp_path_factory.mktemp("replicas")
    return {name: (base / name, make_replica(name, base / name)) for name in NAMES}


@pytest.fixture
def copy_of(replicas, tmp_path):
    """A private, modifiable copy of one replica."""

    def make(name: str) -> Path:
        dst = tmp_path / name
        shutil.copytree(replicas[name][0], dst)
        return dst

    return make


def names_in(manifest: dict, split: str) -> list[str]:
    return sorted(n for n, v in manifest["items"].items() if split == "all" or v["split"] == split)


# --------------------------------------------------------------------------------------
# Items, shapes and labels
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_items_follow_the_replica_and_splits_are_disjoint_by_source(replicas, name):
    root, manifest = replicas[name]
    sets = {}
    for split in SPLITS:
        ds = get_dataset(name, root, split)
        assert [it.name for it in ds.items] == names_in(manifest, split)
        assert len(ds) == len(ds.items) > 0
        assert all(it.path.exists() for it in ds.items)
        sets[split] = set(ds.sources)
        # Deterministic: a second construction lists the same items.
        assert [it.name for it in get_dataset(name, root, split).items] == [it.name for it in ds.items]
    assert not (sets["train"] & sets["val"]) and not (sets["train"] & sets["test"]) and not (sets["val"] & sets["test"])
    everything = get_dataset(name, root, "all")
    assert [it.name for it in everything.items] == names_in(manifest, "all")
    assert set(everything.sources) == sets["train"] | sets["val"] | sets["test"]


@pytest.mark.parametrize("name", NAMES)
def test_item_contract(replicas, name):
    root, manifest = replicas[name]
    ds = get_dataset(name, root, "train")
    item = ds[0]
    video = item["video"]
    assert video.dtype == torch.float32 and video.shape == (3, 16, 32, 32)
    assert 0.0 <= float(video.min()) and float(video.max()) <= 1.0
    idx = item["frame_indices"]
    assert idx.dtype == torch.int64 and idx.shape == (16,)
    assert torch.all(idx[1:] - idx[:-1] == 2) and int(idx[-1]) < ds.num_frames(0)
    assert item["index"].dtype == torch.int64 and int(item["index"]) == 0
    # The clip is exactly those frames of the whole video.
    frames = ds.frames(0)
    assert frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[-1] == 3
    assert frames.shape[0] == ds.num_frames(0) == manifest["items"][ds.items[0].name]["synthface"]["num_frames"]
    expected = torch.from_numpy(frames[idx.numpy()]).permute(3, 0, 1, 2).float() / 255
    torch.testing.assert_close(video, expected)
    # It shows the SynthFace clip the replica rendered (lossy codecs: a loose bound).
    spec = manifest["items"][ds.items[0].name]["synthface"]
    ref = generate_clip(**spec).frames.astype(np.float32)
    assert np.abs(frames.astype(np.float32) - ref).mean() < 12
    # read_video gives the same frames and a frame rate.
    v = ds.read_video(0)
    assert np.array_equal(v.frames, frames) and v.fps > 0
    # A batch collates.
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["video"].shape == (2, 3, 16, 32, 32)
    text = ds.describe()
    assert ds.title in text and URLS[name] in text and "train" in text
    assert type(ds).__name__ in repr(ds) and json.loads(ds.spec())["items"] == [it.name for it in ds.items]


def test_ytf_labels_and_numeric_frame_order(replicas):
    root, manifest = replicas["ytf"]
    ds = get_dataset("ytf", root, "all")
    assert ds.people == sorted({v["labels"]["person"] for v in manifest["items"].values()})
    for i, it in enumerate(ds.items):
        assert int(ds[i]["identity"]) == ds.people.index(manifest["items"][it.name]["labels"]["person"])
    # Frames are ordered by number (1, 2, ..., 10, ...), not as text (1, 10, 11, ..., 2).
    files = ds.frame_files(0)
    numbers = [int(f.stem.split(".")[-1]) for f in files]
    assert numbers == sorted(numbers) and numbers[0] == manifest["items"][ds.items[0].name]["labels"]["first_frame_no"]
    assert len(numbers) > 10 and sorted(f.name for f in files) != [f.name for f in files]
    ref = generate_clip(**manifest["items"][ds.items[0].name]["synthface"]).frames.astype(np.float32)
    got = ds.frames(0).astype(np.float32)
    lexical = np.argsort([f.name for f in files], kind="stable")
    assert np.abs(got - ref).mean() < 0.5 * np.abs(got[lexical] - ref).mean()
    # Official (MARLIN csv) lists.
    (root / "val_set.csv").write_text("path,len\n" + "".join(f"{n},40\n" for n in names_in(manifest, "all")[:2]))
    official = get_dataset("ytf", root, "val", splits="official")
    assert [it.name for it in official.items] == names_in(manifest, "all")[:2]
    (root / "val_set.csv").unlink()


def test_list_frame_files_sorts_numerically(tmp_path):
    for n in (10, 2, 1, 33):
        (tmp_path / f"0.{n}.jpg").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("ignored")
    assert [f.name for f in list_frame_files(tmp_path)] == ["0.1.jpg", "0.2.jpg", "0.10.jpg", "0.33.jpg"]
    (tmp_path / "cover.jpg").write_bytes(b"x")
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "cover.jpg"))):
        list_frame_files(tmp_path)


def test_celebvhq_labels(replicas):
    root, manifest = replicas["celebvhq"]
    ds = get_dataset("celebvhq", root, "all")
    assert ds.appearance_names == list(CELEBVHQ_APPEARANCE_NAMES) and len(ds.appearance_names) == 40
    assert ds.action_names == list(CELEBVHQ_ACTION_NAMES) and len(ds.action_names) == 35
    mixed = 0
    for i, it in enumerate(ds.items):
        want = manifest["items"][it.name]["labels"]
        item = ds[i]
        assert item["attributes"].dtype == torch.float32 and item["attributes"].tolist() == want["appearance"]
        assert item["actions"].shape == (35,) and item["actions"].tolist() == want["action"]
        assert int(item["emotion"]) == want["emotion"] and 0 <= want["emotion"] < len(CELEBVHQ_EMOTIONS)
        assert int(item["emotion_mixed"]) == want["emotion_mixed"]
        assert it.source == want["ytb_id"] and it.name.startswith(it.source + "_")
        mixed += want["emotion_mixed"]
    assert mixed == 1  # the replica's one clip with two timed emotions (the longer one wins)
    # MARLIN-style split lists.
    train = names_in(manifest, "train")
    for s in SPLITS:
        (root / f"{s}.txt").write_text("".join(f"{n}\n" for n in names_in(manifest, s)))
    assert [it.name for it in get_dataset("celebvhq", root, "train", splits="lists").items] == train
    for s in SPLITS:
        (root / f"{s}.txt").unlink()


def test_ffpp_labels_and_pairs(replicas):
    root, manifest = replicas["ffpp"]
    ds = get_dataset("ffpp", root, "all")
    for i, it in enumerate(ds.items):
        want = manifest["items"][it.name]["labels"]
        item = ds[i]
        assert int(item["fake"]) == want["fake"] and int(item["manipulation"]) == want["manipulation"]
        assert int(item["compression"]) == 1  # c23
        assert it.source == want["pair"]
    kinds = [FFPP_KINDS[int(ds[i]["manipulation"])] for i in range(len(ds))]
    assert kinds.count("original") * 5 == len(kinds) - kinds.count("original")
    reals = get_dataset("ffpp", root, "test", methods=())
    assert len(reals) == 2 and all(it.labels["kind"] == "original" for it in reals.items)
    two = get_dataset("ffpp", root, "test", methods=["Deepfakes", "Face2Face"])
    assert len(two) == 6
    # A fake differs from its original (same person, same performance).
    i_real = [it.name for it in ds.items].index("original/000")
    i_fake = [it.name for it in ds.items].index("Deepfakes/000_001")
    assert np.abs(ds.frames(i_real).astype(float) - ds.frames(i_fake).astype(float)).mean() > 2


def test_mosei_labels_and_split_sources(replicas, copy_of):
    root, manifest = replicas["mosei"]
    ds = get_dataset("mosei", root, "all")
    for i, it in enumerate(ds.items):
        want = manifest["items"][it.name]["labels"]
        item = ds[i]
        assert float(item["sentiment"]) == pytest.approx(want["sentiment"])
        assert item["emotions"].tolist() == pytest.approx(want["emotions"])
        assert item["emotions_present"].tolist() == [float(e > 0) for e in want["emotions"]]
        assert int(item["sentiment_class"]) == int(want["sentiment"] >= 0) == want["sentiment_class"]
        assert int(item["sentiment_class7"]) == want["sentiment_class7"]
        assert it.source == want["video_id"]
    assert sentiment_classes(-0.01) == (0, 3) and sentiment_classes(0.0) == (1, 3)
    assert sentiment_classes(2.6) == (1, 6) and sentiment_classes(-3.0) == (0, 0) and sentiment_classes(-1 / 3) == (0, 3)
    # Without split lists the hash split by video id gives the same splits (the replica drew ids so).
    private = copy_of("mosei")
    shutil.rmtree(private / "splits")
    for s in SPLITS:
        hashed = get_dataset("mosei", private, s)
        assert hashed.splits == "hash" and [it.name for it in hashed.items] == names_in(manifest, s)


def test_lrs2_audio_and_text(replicas):
    root, manifest = replicas["lrs2"]
    ds = get_dataset("lrs2", root, "test")
    for i, it in enumerate(ds.items):
        item = ds[i]
        assert item["text"] == manifest["items"][it.name]["labels"]["text"] == ds.text(i)
        audio = item["audio"]
        assert audio.dtype == torch.float32 and audio.shape == (round(16 * 2 / 25 * 16000),)
        assert float(audio.abs().max()) > 0.01 and float(audio.abs().max()) <= 1.0
        assert it.source == it.name.split("/")[0]
    whole = get_dataset("lrs2", root, "test", clip="all")
    item = whole[0]
    assert item["video"].shape[1] == whole.num_frames(0)
    assert abs(item["audio"].shape[0] - whole.num_frames(0) / 25 * 16000) < 2048  # AAC pads a little
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["audio"].shape == (2, 20480) and isinstance(batch["text"], list)


# --------------------------------------------------------------------------------------
# Clips and splits
# --------------------------------------------------------------------------------------


def test_random_clips_are_seeded_and_vary_with_epoch(replicas):
    root, _ = replicas["celebvhq"]
    ds = get_dataset("celebvhq", root, "all", clip="random", seed=3)
    first = [ds.clip_frame_indices(i).tolist() for i in range(len(ds))]
    assert first == [ds.clip_frame_indices(i).tolist() for i in range(len(ds))]
    assert first == [get_dataset("celebvhq", root, "all", clip="random", seed=3).clip_frame_indices(i).tolist() for i in range(len(ds))]
    torch.testing.assert_close(ds[1]["video"], ds[1]["video"])
    draws = set()
    for epoch in range(4):
        ds.set_epoch(epoch)
        draws.add(tuple(tuple(ds.clip_frame_indices(i).tolist()) for i in range(len(ds))))
    assert len(draws) > 1
    center = get_dataset("celebvhq", root, "val")
    assert center.clip == "center" and get_dataset("celebvhq", root, "train").clip == "random"
    n = center.num_frames(0)
    idx = center.clip_frame_indices(0)
    assert int(idx[0]) == (n - 31) // 2
    whole = get_dataset("celebvhq", root, "val", clip="all", size=16)
    assert whole[0]["video"].shape == (3, n, 16, 16)
    short = get_dataset("celebvhq", root, "val", clip_len=4, sample_rate=3)
    assert short[0]["video"].shape[1] == 4 and torch.all(short[0]["frame_indices"].diff() == 3)


def test_plan_clip_short_videos():
    assert plan_clip(40, 16, 2, "center").tolist() == list(range(4, 36, 2))
    assert plan_clip(31, 16, 2, "random", torch.Generator().manual_seed(0)).tolist() == list(range(0, 31, 2))
    assert plan_clip(20, 16, 2, "center").tolist() == list(range(2, 18))  # stride lowered to 1
    assert plan_clip(5, 8, 2, "center").tolist() == [0, 1, 2, 3, 4, 4, 4, 4]  # last frame repeated
    assert plan_clip(7, 16, 2, "all").tolist() == list(range(7))
    with pytest.raises(ValueError, match="clip mode"):
        plan_clip(40, 16, 2, "middle")


def test_hash_split_is_stable_and_follows_fractions():
    names = [f"person_{k}" for k in range(2000)]
    splits = [hash_split(n) for n in names]
    assert splits == [hash_split(n) for n in reversed(names)][::-1]  # order-free
    share = {s: splits.count(s) / len(names) for s in SPLITS}
    assert abs(share["train"] - 0.8) < 0.04 and abs(share["val"] - 0.1) < 0.03
    assert [hash_split(n, seed=1) for n in names] != splits
    assert all(hash_split(n, (1.0, 0.0, 0.0)) == "train" for n in names[:50])
    with pytest.raises(ValueError, match="fractions"):
        hash_split("x", (0.5, 0.5, 0.5))


def test_registry_and_argument_checks(replicas):
    assert set(DATASETS) == set(NAMES)
    assert canonical_name("CelebV-HQ") == "celebvhq" and canonical_name("FF++") == "ffpp" and canonical_name("YouTube_Faces") == "ytf"
    with pytest.raises(ValueError, match="unknown data set 'voxceleb'.*celebvhq"):
        get_dataset("voxceleb", ".", "train")
    root, _ = replicas["ffpp"]
    with pytest.raises(ValueError, match="split must be one of"):
        get_dataset("ffpp", root, "training")
    with pytest.raises(ValueError, match="clip must be one of"):
        get_dataset("ffpp", root, "train", clip="middle")
    with pytest.raises(ValueError, match="compression"):
        get_dataset("ffpp", root, "train", compression="c50")
    with pytest.raises(FileNotFoundError, match="Deepfakes"):
        get_dataset("ffpp", root, "train", compression="c23", methods=["Deepfakes"], splits_dir=root / "nowhere")
    with pytest.raises(IndexError, match="out of range"):
        get_dataset("ffpp", root, "test")[99]
    assert len(get_dataset("ffpp", root, "train", limit=3)) == 3


# --------------------------------------------------------------------------------------
# Error paths: each message names the path
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_missing_root_names_path_layout_and_url(tmp_path, name):
    root = tmp_path / "not_downloaded"
    with pytest.raises(FileNotFoundError) as err:
        get_dataset(name, root, "train")
    msg = str(err.value)
    assert str(root) in msg and URLS[name] in msg and "Expected layout" in msg and "make_replica" in msg


@pytest.mark.parametrize(
    "name, folder",
    [("ytf", "frame_images_DB"), ("ffpp", "original_sequences/youtube/c23/videos"), ("mosei", "videos"), ("lrs2", "main")],
)
def test_missing_folder_names_it(copy_of, name, folder):
    root = copy_of(name)
    shutil.rmtree(root / folder)
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / folder))):
        get_dataset(name, root, "train")


@pytest.mark.parametrize(
    "name, victim",
    [
        ("ffpp", "original_sequences/youtube/c23/videos/000.mp4"),
        ("celebvhq", None),
        ("mosei", None),
        ("lrs2", None),
    ],
)
def test_missing_video_names_it_and_can_be_skipped(copy_of, replicas, name, victim):
    root = copy_of(name)
    first = get_dataset(name, root, "train")
    path = root / victim if victim else first.items[0].path
    path.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))) as err:
        get_dataset(name, root, "train")
    assert "missing='skip'" in str(err.value)
    skipped = get_dataset(name, root, "train", missing="skip")
    assert len(skipped) == len(first) - 1 and [it.path for it in skipped.skipped] == [path]
    assert "skipped 1" in skipped.describe()


def test_lrs2_missing_transcript_and_bad_lines(copy_of):
    root = copy_of("lrs2")
    ds = get_dataset("lrs2", root, "val")
    txt = ds.items[0].path.with_suffix(".txt")
    txt.write_text("Conf: 3\n")
    with pytest.raises(ValueError, match=re.escape(str(txt)) + ".*Text:"):
        ds[0]
    txt.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(txt))):
        get_dataset("lrs2", root, "val")
    (root / "train.txt").write_text("not a name\n")
    with pytest.raises(ValueError, match=re.escape(str(root / "train.txt")) + "', line 1"):
        get_dataset("lrs2", root, "train")
    (root / "test.txt").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / "test.txt"))):
        get_dataset("lrs2", root, "test")


def test_celebvhq_malformed_json_names_the_file(copy_of):
    root = copy_of("celebvhq")
    info = root / "celebvhq_info.json"
    good = info.read_text()
    info.write_text(good[: len(good) // 2])
    with pytest.raises(ValueError, match=re.escape(str(info)) + ".*not valid JSON.*line"):
        get_dataset("celebvhq", root, "train")
    data = json.loads(good)
    cid = sorted(data["clips"])[0]
    data["clips"][cid]["attributes"]["appearance"] = data["clips"][cid]["attributes"]["appearance"][:-1]
    info.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=re.escape(str(info)) + f".*clips\\['{re.escape(cid)}'\\].attributes.appearance.*40"):
        get_dataset("celebvhq", root, "train")
    data = json.loads(good)
    data["clips"][cid]["attributes"]["emotion"] = {"sep_flag": False, "labels": "bored"}
    info.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=re.escape(str(info)) + ".*'bored'"):
        get_dataset("celebvhq", root, "train")
    info.write_text(json.dumps({"clips": {}}))
    with pytest.raises(ValueError, match=re.escape(str(info)) + ".*meta_info"):
        get_dataset("celebvhq", root, "train")
    info.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(info))):
        get_dataset("celebvhq", root, "train")
    (root / "celebvhq_info.json").write_text(good)
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / "val.txt"))):
        get_dataset("celebvhq", root, "val", splits="lists")


def test_ffpp_split_file_errors(copy_of):
    root = copy_of("ffpp")
    split = root / "splits" / "val.json"
    split.write_text('[["002", "003"]')
    with pytest.raises(ValueError, match=re.escape(str(split)) + ".*not valid JSON"):
        get_dataset("ffpp", root, "val")
    split.write_text('[["002", "003", "004"]]')
    with pytest.raises(ValueError, match=re.escape(str(split)) + ".*pair"):
        get_dataset("ffpp", root, "val")
    split.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(split)) + "(.|\n)*dataset/splits"):
        get_dataset("ffpp", root, "val")


def test_mosei_label_and_split_errors(copy_of):
    root = copy_of("mosei")
    (root / "splits" / "val.txt").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / "splits" / "val.txt"))):
        get_dataset("mosei", root, "val")
    labels = root / "mosei_labels.csv"
    lines = labels.read_text().splitlines()
    labels.write_text("video,segment,sentiment\n" + "\n".join(lines[1:]) + "\n")
    with pytest.raises(ValueError, match=re.escape(str(labels)) + ".*lacks the columns.*video_id"):
        get_dataset("mosei", root, "train")
    bad = lines[1].split(",")
    bad[4] = "positive"
    labels.write_text("\n".join([lines[0], ",".join(bad)] + lines[2:]) + "\n")
    with pytest.raises(ValueError, match=re.escape(str(labels)) + "', line 2"):
        get_dataset("mosei", root, "train")
    labels.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(labels))):
        get_dataset("mosei", root, "train")


def test_ytf_errors(copy_of):
    root = copy_of("ytf")
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / "train_set.csv"))):
        get_dataset("ytf", root, "train", splits="official")
    (root / "train_set.csv").write_text("video,len\nA/0,3\n")
    with pytest.raises(ValueError, match=re.escape(str(root / "train_set.csv")) + ".*'path' column"):
        get_dataset("ytf", root, "train", splits="official")
    ds = get_dataset("ytf", root, "train")
    folder = ds.items[0].path
    for f in folder.iterdir():
        f.unlink()
    with pytest.raises(ValueError, match=re.escape(str(folder)) + ".*no images"):
        ds[0]


# --------------------------------------------------------------------------------------
# Face crops: loaders refuse videos that are not known face crops
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ("celebvhq", "ffpp", "mosei"))
def test_videos_without_a_crop_record_are_refused_with_the_fix(copy_of, name):
    root = copy_of(name)
    assert json.loads((root / "faces.json").read_text())["faces"] == "as_is"  # the replicas declare their framing
    (root / "faces.json").unlink()
    with pytest.raises(ValueError) as err:
        get_dataset(name, root, "train")
    msg = str(err.value)
    assert "not known face crops" in msg and "python -m marlin_lite.preprocess" in msg and "--crop official" in msg
    assert "faces='as_is'" in msg and str(root / "faces.json") in msg
    first = get_dataset(name, root, "train", faces="as_is").items[0].path
    assert str(first) in msg or "... and" in msg
    # a preprocess record beside every video is what makes it a known crop
    everyone = get_dataset(name, root, "all", faces="as_is")
    for it in everyone.items:
        it.path.with_suffix(".json").write_text("{}")
    ds = get_dataset(name, root, "train")
    assert ds.faces == "cropped" and "faces: cropped (from the" in ds.describe()
    everyone.items[0].path.with_suffix(".json").unlink()
    with pytest.raises(ValueError, match="1 of the"):
        get_dataset(name, root, "all")


def test_faces_argument_and_declaration_are_checked(copy_of):
    root = copy_of("celebvhq")
    with pytest.raises(ValueError, match="faces must be one of"):
        get_dataset("celebvhq", root, "train", faces="yes")
    (root / "faces.json").write_text(json.dumps({"faces": "croped"}))
    with pytest.raises(ValueError, match="face-framing declaration .*faces.json"):
        get_dataset("celebvhq", root, "train")
    (root / "faces.json").write_text(json.dumps({"faces": "as_is", "note": "cropped by MARLIN's FaceXZoo step"}))
    ds = get_dataset("celebvhq", root, "train")
    assert ds.faces == "as_is" and str(root / "faces.json") in ds.describe()
    with pytest.raises(ValueError, match="not known face crops"):  # the argument wins over the declaration
        get_dataset("celebvhq", root, "train", faces="cropped")


def test_ytf_whole_frames_need_a_choice_and_lrs2_ships_crops(copy_of):
    ytf = copy_of("ytf")
    (ytf / "faces.json").unlink()
    with pytest.raises(ValueError, match="aligned_images_DB"):
        get_dataset("ytf", ytf, "train")
    assert len(get_dataset("ytf", ytf, "train", faces="as_is")) > 0
    shutil.move(str(ytf / "frame_images_DB"), str(ytf / "aligned_images_DB"))
    assert get_dataset("ytf", ytf, "train", image_dir="aligned_images_DB").faces == "cropped"
    lrs2 = copy_of("lrs2")
    (lrs2 / "faces.json").unlink()
    ds = get_dataset("lrs2", lrs2, "train")
    assert ds.faces == "as_is" and "LRS2 loader's default" in ds.describe()
