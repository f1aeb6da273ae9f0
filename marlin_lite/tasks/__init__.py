"""Downstream tasks of a pretrained MARLIN-lite encoder (MARLIN's FAR, FER and DFD protocols).

* :mod:`~marlin_lite.tasks.metrics`: accuracy, AUC (Mann-Whitney, ties exact; micro / macro),
  F1, confusion matrix, in plain PyTorch;
* :mod:`~marlin_lite.tasks.probe`: cached features, linear probe, fine-tuning, low-data
  subsets, and :func:`~marlin_lite.tasks.probe.run_baselines` (random-init probe, supervised
  from scratch, pretrained probe);
* :mod:`~marlin_lite.tasks.far`, :mod:`~marlin_lite.tasks.fer`, :mod:`~marlin_lite.tasks.dfd`:
  targets, metrics and ``run_far`` / ``run_fer`` / ``run_dfd``;
* :mod:`~marlin_lite.tasks.lipsync`: lip sync (a SyncNet-style sync expert with offset
  estimation and LSE-D/LSE-C-style scores from our own expert, a Wav2Lip-style generator with
  a MARLIN face encoder, a Fréchet distance on the expert's features, ``run_lipsync``);
  :mod:`~marlin_lite.tasks.lipsync_data` makes its clips from real videos (LRS2: face crops,
  aligned log-mels, segments);
* :mod:`~marlin_lite.tasks.results`: :class:`ResultsTable` (Markdown, JSON, mean ± std over seeds).

Example::

    from marlin_lite.data import SynthFaceDataset
    from marlin_lite.tasks import run_fer

    kw = dict(num_identities=12, clips_per_identity=6, size=64, num_frames=8, cache=True)
    table = run_fer(model, SynthFaceDataset("train", **kw), SynthFaceDataset("test", **kw),
                    val_set=SynthFaceDataset("val", **kw), fractions=(0.1, 1.0), seeds=(0, 1))
    print(table.to_markdown())
"""

from marlin_lite.tasks.dfd import DFD, dfd_breakdown, dfd_metrics, dfd_targets, run_dfd
from marlin_lite.tasks.far import FAR, far_metrics, far_report, far_targets, run_far
from marlin_lite.tasks.fer import FER, fer_confusion, fer_metrics, fer_targets, run_fer
from marlin_lite.tasks.lipsync import (
    DEFAULT_LS_METHODS,
    LS_METHODS,
    GeneratorResult,
    LipSyncClips,
    LipSyncGenerator,
    SyncExpert,
    SyncExpertConfig,
    SyncExpertResult,
    SyncScores,
    copy_reference,
    estimate_offset,
    evaluate_generator,
    evaluate_sync_expert,
    frechet_distance,
    frechet_distance_syncfeat,
    generate_windows,
    lipsync_splits,
    make_lipsync_clips,
    run_lipsync,
    sync_scores,
    sync_test_windows,
    train_generator,
    train_sync_expert,
)
from marlin_lite.tasks.probe import (
    DEFAULT_METHODS,
    FeatureCache,
    LabelView,
    Features,
    FineTuneResult,
    ProbeResult,
    TaskSpec,
    compute_features,
    encoder_digest,
    fine_tune,
    linear_probe,
    make_head,
    random_encoder,
    run_baselines,
    subsample,
    task_generator,
)
from marlin_lite.tasks.results import ResultsTable

__all__ = [
    "DEFAULT_LS_METHODS",
    "DEFAULT_METHODS",
    "DFD",
    "FAR",
    "FER",
    "FeatureCache",
    "Features",
    "LabelView",
    "FineTuneResult",
    "GeneratorResult",
    "LS_METHODS",
    "LipSyncClips",
    "LipSyncGenerator",
    "ProbeResult",
    "ResultsTable",
    "SyncExpert",
    "SyncExpertConfig",
    "SyncExpertResult",
    "SyncScores",
    "TaskSpec",
    "compute_features",
    "copy_reference",
    "dfd_breakdown",
    "dfd_metrics",
    "dfd_targets",
    "encoder_digest",
    "estimate_offset",
    "evaluate_generator",
    "evaluate_sync_expert",
    "far_metrics",
    "far_report",
    "far_targets",
    "fer_confusion",
    "fer_metrics",
    "fer_targets",
    "fine_tune",
    "frechet_distance",
    "frechet_distance_syncfeat",
    "generate_windows",
    "linear_probe",
    "lipsync_splits",
    "make_head",
    "make_lipsync_clips",
    "random_encoder",
    "run_baselines",
    "run_dfd",
    "run_far",
    "run_fer",
    "run_lipsync",
    "subsample",
    "sync_scores",
    "sync_test_windows",
    "task_generator",
    "train_generator",
    "train_sync_expert",
]
