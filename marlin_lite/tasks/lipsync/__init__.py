"""Lip sync (LS): a sync expert, a Wav2Lip-style generator with a MARLIN face encoder, metrics.

MARLIN evaluates its encoder on lip-sync generation by putting it in place of Wav2Lip's face
encoder; a SyncNet-style *sync expert*, retrained on the window length of the encoder, scores
the generated mouths (``reference/MARLIN_FACTS.md``, *Downstream protocols*). This package
rebuilds that pipeline at lesson scale on SynthFace talking faces, whose mouths are driven by
their (synthetic) speech:

Its modules follow the pipeline: ``data`` (clips, face halves, windows), ``expert`` (the sync
expert and its scores), ``generator``, ``metrics`` and ``run``; every name below is importable
from ``marlin_lite.tasks.lipsync`` itself.

* **data** (:func:`make_lipsync_clips`, :func:`lipsync_splits`): clips longer than a window,
  rendered with their audio and its log-mel spectrogram (:mod:`marlin_lite.audio`, 4 mel
  frames per video frame), split by identity so that evaluation is on unseen people;
* **sync expert** (:class:`SyncExpert`, :func:`train_sync_expert`): a video tower on the lower
  half of the face crop over ``T`` frames and an audio tower on the ``4 T`` aligned mel frames,
  both keeping the time axis (features per video frame, then temporal convolutions) and giving
  L2-normalised embeddings. It is trained contrastively over audio offsets: for a video window,
  the in-sync audio window and the windows shifted by ``d = ±1 .. ±K`` frames of the same clip
  are scored by cosine similarity; ``loss="infonce"`` (default) is a softmax cross-entropy over
  the ``2K + 1`` candidates (temperature 0.1; a multi-way matching objective, whereas SyncNet's
  original loss is a contrastive loss on distances), ``loss="bce"`` is Wav2Lip's expert loss, a
  binary cross-entropy on the cosine similarity (mapped to ``(1 + cos) / 2``) with the in-sync
  pair labelled 1 and the shifted ones 0;
* **scores** (:func:`sync_scores`, :func:`estimate_offset`): the distance between the video
  embedding and each candidate audio window; the offset estimate is the argmin,
  ``sync_distance`` the minimum and ``sync_confidence`` the median minus the minimum. These
  are *LSE-D / LSE-C-style scores from our own expert*, not LSE-D / LSE-C: those use the
  pretrained SyncNet of Chung & Zisserman on real faces, and their values are not comparable;
* **generator** (:class:`LipSyncGenerator`, :func:`train_generator`): the target window with
  its lower half masked out plus a reference window of the same person from another time of
  the clip, and the aligned mel window, give the lower half of every frame. The face encoder is
  a :class:`~marlin_lite.model.MarlinEncoder` (tiny by default; pass a pretrained one), its
  tokens reshaped to a ``(B, D, T', h, w)`` feature volume; a small conv net encodes the audio
  per tubelet slot; a conv decoder and a per-token pixel head (like MARLIN's decoder head) give
  a residual added to the reference's lower half (a pixel skip, the part Wav2Lip's U-Net skips
  play). Loss: L1 on the lower half, optionally plus a sync loss from a frozen expert (Wav2Lip
  weighs it 0.03);
* **metrics** (:func:`lipsync_metrics`, :func:`evaluate_generator`): on held-out identities,
  the expert's scores on generated mouths (distance, confidence, how often the offset estimate
  is 0), L1 and PSNR on the lower half, and :func:`frechet_distance_syncfeat`, a Fréchet
  distance between generated and real lower faces on the expert's video features (*not FID*,
  which uses Inception-v3 features of single frames);
* **runner** (:func:`run_lipsync`): rows for the sync expert (offset accuracy vs chance), the
  ground truth, a copy-the-reference baseline and generators whose encoder is ``random_init``
  (random, frozen), ``supervised_scratch`` (random init, trained with the generator) and
  ``pretrained`` (the MARLIN-lite encoder, frozen; ``pretrained_finetune`` optional).

How the reference enters a 3-channel ViT: Wav2Lip stacks the masked target and the reference
as 6 input channels of a conv encoder. MARLIN's patch embedding takes 3 channels, so by
default (``reference="paste"``) the reference's lower half is pasted into the masked region
and the encoder sees one composite window (one encoder pass; the target's own lower half is
never seen). ``reference="separate"`` encodes the masked target and the reference separately
with the same encoder and fuses the two token volumes with a linear layer (two passes).

Audio offsets follow SynthFace's ``av_offset``: a positive offset ``k`` means the audio lags
the picture by ``k`` frames, so the sound of video frame ``f`` is in audio frame ``f + k``;
candidate ``d`` pairs video frames ``[t0, t0 + T)`` with audio frames ``[t0 + d, t0 + d + T)``
and the expert's estimate on such a clip is ``k``.

Shapes: ``B`` windows, ``T`` frames per window, ``L`` frames per clip, ``K`` max offset,
``m`` mel frames per video frame (4), video ``float32 (B, 3, T, H, W)`` in [0, 1], lower
halves ``(B, 3, T, H - H // 2, W)``, mel windows ``(B, n_mels, m T)``, mel contexts
``(B, n_mels, m (T + 2K))`` (video frames ``[t0 - K, t0 + T + K)``).
"""

from marlin_lite.tasks.lipsync.data import (
    LipSyncClips,
    take_windows,
    lipsync_splits,
    lower_half,
    make_lipsync_clips,
    mask_lower_half,
    mel_context,
    paste_lower_half,
    sample_windows,
)
from marlin_lite.tasks.lipsync.expert import (
    SYNC_LOSSES,
    SyncExpert,
    SyncExpertConfig,
    SyncExpertResult,
    SyncScores,
    estimate_offset,
    evaluate_sync_expert,
    sync_scores,
    sync_test_windows,
    train_sync_expert,
)
from marlin_lite.tasks.lipsync.generator import REFERENCE_MODES, GeneratorResult, LipSyncGenerator, copy_reference, train_generator
from marlin_lite.tasks.lipsync.metrics import (
    eval_windows,
    evaluate_generator,
    frechet_distance,
    frechet_distance_syncfeat,
    gaussian_frechet_distance,
    generate_windows,
    lipsync_metrics,
    psnr,
)
from marlin_lite.tasks.lipsync.run import DEFAULT_LS_METHODS, LS_METHODS, run_lipsync

__all__ = [
    "DEFAULT_LS_METHODS",
    "GeneratorResult",
    "LS_METHODS",
    "LipSyncClips",
    "LipSyncGenerator",
    "REFERENCE_MODES",
    "SYNC_LOSSES",
    "SyncExpert",
    "SyncExpertConfig",
    "SyncExpertResult",
    "SyncScores",
    "take_windows",
    "copy_reference",
    "estimate_offset",
    "eval_windows",
    "evaluate_generator",
    "evaluate_sync_expert",
    "frechet_distance",
    "frechet_distance_syncfeat",
    "gaussian_frechet_distance",
    "generate_windows",
    "lipsync_metrics",
    "lipsync_splits",
    "lower_half",
    "make_lipsync_clips",
    "mask_lower_half",
    "mel_context",
    "paste_lower_half",
    "psnr",
    "run_lipsync",
    "sample_windows",
    "sync_scores",
    "sync_test_windows",
    "train_generator",
    "train_sync_expert",
]
