"""The committed SynthFace sample in ``data_samples/``: write it, verify it, load it.

``data_samples/`` holds a few dozen short talking-face clips as real files, the way a
downloaded data set would look: an mp4 per clip (h264 video + AAC audio), a JSON file of
labels, a compressed ``.npz`` of per-frame parsing maps, landmarks and per-frame truth, an
``index.json`` and a ``MANIFEST.sha256`` of every file. :func:`write_data_samples`
regenerates the folder exactly (``python -m marlin_lite.samples write``), and
:func:`verify_manifest` checks that the files on disk are the ones the manifest names.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from marlin_lite import video as V
from marlin_lite.data import ClipSpec
from marlin_lite.utils import atomic_write_bytes, deterministic_npz, json_bytes, sha256_file
from marlin_lite.synthface import EXPRESSIONS, MANIPULATIONS

#: Where the sample lives in a checkout of the course.
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "data_samples"
SAMPLE_SIZE = 112
SAMPLE_FRAMES = 48
SAMPLE_FPS = 25.0
SAMPLE_RATE = 16000
NUM_IDENTITIES = 12
MANIFEST = "MANIFEST.sha256"


@dataclass(frozen=True)
class SampleSpec(ClipSpec):
    """A :class:`~marlin_lite.data.ClipSpec` with the file name it is written under."""

    name: str = ""


def sample_specs() -> list[SampleSpec]:
    """The 36 clips of the sample: per identity two real clips and one fake.

    Real clip A shows expression ``i % 6``; real clip B shows ``(i + 3) % 6`` and, for a
    third of the identities, audio shifted by +-3 frames (a lip-sync label); the fake cycles
    through the manipulation kinds, a face swap taking the next identity's face.
    """
    specs = []
    offsets = (0, 3, 0, -3, 0, 0)
    for i in range(NUM_IDENTITIES):
        specs.append(SampleSpec(i, 0, EXPRESSIONS[i % 6], name=f"synth_{i:02d}_a"))
        specs.append(SampleSpec(i, 1, EXPRESSIONS[(i + 3) % 6], av_offset=offsets[i % 6], name=f"synth_{i:02d}_b"))
        manip = MANIPULATIONS[1 + i % 3]
        donor = (i + 1) % NUM_IDENTITIES if manip == "face_swap" else None
        specs.append(SampleSpec(i, 0, EXPRESSIONS[i % 6], manip, 0, donor, name=f"synth_{i:02d}_fake"))
    return specs


def write_data_samples(out_dir: str | Path = DEFAULT_DIR, *, progress: bool = True) -> list[Path]:
    """(Re)generate the sample folder; returns the files written (manifest last)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    index = []
    specs = sample_specs()
    for n, s in enumerate(specs):
        clip = s.render(size=SAMPLE_SIZE, num_frames=SAMPLE_FRAMES, fps=SAMPLE_FPS, sample_rate=SAMPLE_RATE)
        mp4 = V.write_video(out / f"{s.name}.mp4", clip.frames, SAMPLE_FPS, audio=clip.audio, sample_rate=SAMPLE_RATE)
        maps = {"parsing": clip.parsing, "landmarks": np.round(clip.landmarks, 2).astype(np.float32)}
        maps.update({f"frame_{k}": v for k, v in clip.per_frame.items()})
        if clip.fake_mask is not None:
            maps["fake_mask"] = np.round(clip.fake_mask * 255).astype(np.uint8)
        npz = out / f"{s.name}.npz"
        atomic_write_bytes(npz, deterministic_npz(maps))
        labels = dict(clip.labels, name=s.name, video=mp4.name, maps=npz.name)
        js = out / f"{s.name}.json"
        atomic_write_bytes(js, json_bytes(labels))
        written += [mp4, npz, js]
        index.append(
            {k: labels[k] for k in ("name", "identity", "expression", "manipulation", "fake", "av_offset", "attributes")}
        )
        if progress:
            print(f"\r[{n + 1}/{len(specs)}] {s.name}", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    idx = out / "index.json"
    atomic_write_bytes(idx, json_bytes({"clips": index, "fps": SAMPLE_FPS, "size": SAMPLE_SIZE, "num_frames": SAMPLE_FRAMES}))
    written.append(idx)
    manifest = out / MANIFEST
    lines = [f"{sha256_file(p)}  {p.name}\n" for p in sorted(written)]
    atomic_write_bytes(manifest, "".join(lines).encode())
    written.append(manifest)
    return written


def verify_manifest(folder: str | Path = DEFAULT_DIR) -> list[str]:
    """Check every file the manifest names; returns a list of problems (empty = all good)."""
    folder = Path(folder)
    manifest = folder / MANIFEST
    if not manifest.exists():
        raise FileNotFoundError(f"{manifest} is missing; regenerate with `python -m marlin_lite.samples write`")
    problems = []
    listed = set()
    for line in manifest.read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed.add(name)
        path = folder / name
        if not path.exists():
            problems.append(f"{name}: missing")
        elif sha256_file(path) != digest:
            problems.append(f"{name}: SHA-256 differs from {MANIFEST}")
    extra = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name not in listed | {MANIFEST, "README.md"})
    problems += [f"{name}: not in {MANIFEST}" for name in extra]
    return problems


@dataclass
class Sample:
    """A clip of the committed sample, as read back from its files."""

    name: str
    frames: np.ndarray  # uint8 (T, H, W, 3), decoded from the mp4
    fps: float
    audio: np.ndarray | None  # float32 (S,)
    sample_rate: int | None
    parsing: np.ndarray  # uint8 (T, H, W)
    landmarks: np.ndarray  # float32 (T, K, 2): 22 for SynthFace, 478 for MediaPipe (preprocess)
    per_frame: dict[str, np.ndarray]
    labels: dict[str, Any]
    fake_mask: np.ndarray | None  # float32 (T, H, W) in [0, 1]


def list_samples(folder: str | Path = DEFAULT_DIR) -> list[str]:
    """Names of the clips in the sample folder (from its ``index.json``)."""
    path = Path(folder) / "index.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {folder} the course's data_samples/ folder?")
    return [c["name"] for c in json.loads(path.read_text())["clips"]]


def load_sample(name: str, folder: str | Path = DEFAULT_DIR) -> Sample:
    """Read one clip of the sample: video + audio with PyAV, maps and labels from disk."""
    folder = Path(folder)
    js = folder / f"{name}.json"
    if not js.exists():
        known = ", ".join(list_samples(folder)[:6]) if (folder / "index.json").exists() else "none"
        raise FileNotFoundError(f"no sample named {name!r} in {folder} (no {js.name}); known names: {known}, ...")
    labels = json.loads(js.read_text())
    vid = V.read_video(folder / labels["video"])
    with np.load(folder / labels["maps"]) as z:
        maps = {k: z[k] for k in z.files}
    per_frame = {k[len("frame_") :]: v for k, v in maps.items() if k.startswith("frame_")}
    fake = maps.get("fake_mask")
    return Sample(
        name=name,
        frames=vid.frames,
        fps=vid.fps,
        audio=vid.audio,
        sample_rate=vid.sample_rate,
        parsing=maps["parsing"],
        landmarks=maps["landmarks"],
        per_frame=per_frame,
        labels=labels,
        fake_mask=None if fake is None else fake.astype(np.float32) / 255,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m marlin_lite.samples", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write", help="regenerate the sample folder")
    w.add_argument("--out", default=str(DEFAULT_DIR))
    v = sub.add_parser("verify", help="check files against the manifest")
    v.add_argument("--dir", default=str(DEFAULT_DIR))
    args = parser.parse_args(argv)
    if args.cmd == "write":
        files = write_data_samples(args.out)
        total = sum(p.stat().st_size for p in files)
        print(f"wrote {len(files)} files, {total / 1e6:.2f} MB, to {args.out}")
        return 0
    try:
        problems = verify_manifest(args.dir)
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for p in problems:
        print(p)
    print("OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
