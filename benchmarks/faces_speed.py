"""Real faces: how fast, and how well MediaPipe FaceMesh does on SynthFace (needs the 'faces' extra).

Prints one JSON line per measurement:

* ``speed``: milliseconds per frame of FaceMesh (detection + 478 landmarks), of drawing a
  224x224 parsing map from landmarks, of cropping a frame to 224x224, and the frames per
  second of the whole ``preprocess_video`` (decode twice, detect, crop, parse, encode) on an
  animated 640x480 photo;
* ``synthface``: the share of SynthFace frames in which FaceMesh finds a face (the committed
  ``data_samples/`` clips, and rendered clips at several sizes, real and fake), and the
  per-label IoU between the landmark parsing and SynthFace's exact maps inside the same crops,
  and the IoU of the tokens fasking treats as facial components (eyes+brows, nose, mouth;
  16x16 patches of 224x224 crops), the agreement that matters for masking.

    python benchmarks/faces_speed.py            # about a minute on 2 cores
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from marlin_lite import faces as F  # noqa: E402
from marlin_lite import labels as L  # noqa: E402
from marlin_lite import preprocess as P  # noqa: E402
from marlin_lite import samples as S  # noqa: E402
from marlin_lite import video as V  # noqa: E402
from marlin_lite.masking import COMPONENTS, TokenGrid, region_membership  # noqa: E402
from marlin_lite.synthface import MANIPULATIONS, generate_clip  # noqa: E402


def per_frame_ms(fn, frames, repeats: int = 3) -> dict:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for f in frames:
            fn(f)
        times.append((time.perf_counter() - start) * 1000 / len(frames))
    return {"median_ms": round(statistics.median(times), 2), "best_ms": round(min(times), 2)}


def speed(lm: F.MediaPipeLandmarker) -> None:
    photo = F.sample_face_photo()
    for h, w, scale in ((240, 320, 0.5), (480, 640, 0.9)):
        frames, _ = F.animate_photo(photo, 24, height=h, width=w, scale=scale)
        emit({"bench": "facemesh", "frame": f"{w}x{h}", **per_frame_ms(lm, frames)})
    clip = generate_clip(0, 0, size=112, num_frames=24)
    emit({"bench": "facemesh", "frame": "synthface 112x112", **per_frame_ms(lm, clip.frames)})
    frames, _ = F.animate_photo(photo, 24, height=480, width=640, scale=0.9)
    crop = F.crop_faces(frames, F.LandmarkParser(lm), size=224)
    pts = crop.landmarks
    emit({"bench": "mesh_parsing", "size": 224, **per_frame_ms(lambda p: F.mesh_parsing(p[None], 224), pts)})
    emit({"bench": "crop_frame", "frame": "640x480", "size": 224,
          **per_frame_ms(lambda i: F.crop_frames(frames[i : i + 1], crop.boxes[i : i + 1], 224), range(len(frames)))})
    with tempfile.TemporaryDirectory() as tmp:
        long, _ = F.animate_photo(photo, 96, height=480, width=640, scale=0.9)
        src = V.write_video(Path(tmp) / "in.mp4", long, 25)
        parser = F.LandmarkParser(lm)
        start = time.perf_counter()
        P.preprocess_video(src, Path(tmp) / "out", "in", P.PreprocessSettings(), parser)
        seconds = time.perf_counter() - start
        emit({"bench": "preprocess_video", "frames": 96, "frame": "640x480", "size": 224,
              "seconds": round(seconds, 2), "fps": round(96 / seconds, 1)})


def synthface(lm: F.MediaPipeLandmarker) -> None:
    parser = F.LandmarkParser(lm)
    found = total = 0
    for name in S.list_samples():
        sample = S.load_sample(name)
        track = parser.track(sample.frames)
        found += int(track.detected.sum())
        total += len(track)
    emit({"bench": "synthface_detection", "data": "data_samples/ (36 clips x 48 frames, 112x112, h264)",
          "found": found, "frames": total, "rate": round(found / total, 4)})
    for size in (64, 112, 224):
        found = total = 0
        inter = np.zeros(L.NUM_LABELS)
        union = np.zeros(L.NUM_LABELS)
        tok_inter = tok_union = 0
        for identity in range(24):
            for manipulation in MANIPULATIONS:
                clip = generate_clip(identity, 1, size=size, num_frames=16, manipulation=manipulation)
                track = parser.track(clip.frames)
                found += int(track.detected.sum())
                total += len(track)
                if not track.detected.any():
                    continue
                boxes = F.square_boxes(track.landmarks, track.detected)
                ok = track.detected
                a = parser.maps(track, boxes, 112)[ok]
                b = F.GroundTruthParser.from_clip(clip).maps(track, boxes, 112)[ok]
                for k in range(L.NUM_LABELS):
                    inter[k] += np.sum((a == k) & (b == k))
                    union[k] += np.sum((a == k) | (b == k))
                # What fasking sees: 16 x 16 patches of 224 x 224 crops touching a component.
                a224 = torch.from_numpy(parser.maps(track, boxes, 224)[None])
                b224 = torch.from_numpy(F.GroundTruthParser.from_clip(clip).maps(track, boxes, 224)[None])
                grid = TokenGrid(frames=16, size=224, tubelet=2, patch=16)
                ra, rb = region_membership(a224, grid), region_membership(b224, grid)
                ca = sum(ra[c].int() for c in COMPONENTS[:4]) > 0
                cb = sum(rb[c].int() for c in COMPONENTS[:4]) > 0
                tok_inter += int((ca & cb).sum())
                tok_union += int((ca | cb).sum())
        iou = {L.LABEL_NAMES[k]: round(float(inter[k] / max(union[k], 1)), 3) for k in range(L.NUM_LABELS)}
        emit({"bench": "synthface_detection", "data": f"generate_clip 24 identities x 4 kinds x 16 frames, {size}x{size}",
              "found": found, "frames": total, "rate": round(found / total, 4), "iou_vs_truth": iou,
              "component_token_iou": round(tok_inter / max(tok_union, 1), 3)})


def emit(row: dict) -> None:
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    emit({"machine": platform.machine(), "processor": platform.processor() or "?", "cpus": os.cpu_count()})
    with F.MediaPipeLandmarker() as landmarker:
        speed(landmarker)
        synthface(landmarker)
