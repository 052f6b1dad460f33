"""One evaluator: how a detector is run to score data, for every command that scores.

* :func:`amp_dtype` — the one autocast policy of the trained part (``train.amp``), used by the
  training step, validation, ``dfshield test``, extra test sets, ``predict`` and ``robustness``.
* :func:`forward_batch` — the one forward pass that scores a batch: bank features run the head
  alone in float32 (as validation always has; a frozen backbone autocasts itself by its own
  ``precision``), images run the whole detector under the autocast policy. The
  :class:`~dfshield.scoring.scorer.Scorer` calls it too, so a frame scores the same through
  ``predict`` as through ``dfshield test``.
* :class:`Evaluator` — scores a split of a batch source (:mod:`dfshield.engine.batch_sources`) into
  :class:`~dfshield.eval.predictions.Predictions`, gathered over ``torchrun`` ranks, computes its
  metrics and writes ``test_metrics.json`` / ``test_scores.csv``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dfshield.backbones.base import autocast_dtype
from dfshield.distributed import gather_objects
from dfshield.eval.predictions import (
    Predictions,
    accuracy_at_threshold,
    assemble,
    batch_items,
    evaluate_predictions,
    write_scores,
)
from dfshield.fileio import write_json_atomic
from dfshield.losses import fake_logit


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``train.amp`` on ``device`` (None: autocast off).

    ``bf16``: bfloat16 on a GPU; ``auto``: bfloat16 on a GPU that supports it, else off; ``none``
    and the CPU: off. Never float16, which training would need loss scaling for (PyTorch offers
    none for closure-based optimisers such as SAM); scoring follows training so that a frame
    scores as it did during validation.
    """
    if amp == "auto" and not (device.type == "cuda" and torch.cuda.is_bf16_supported()):
        return None
    return autocast_dtype("none" if amp == "none" else "bf16", device)


def forward_batch(detector, data: Mapping[str, Any], dtype: torch.dtype | None) -> dict:
    """``detector(data, inference=True)`` for scoring: the ``pred_dict`` of one batch already on
    the detector's device. ``data["feature"]`` (bank features) runs the head in float32; images
    run under autocast to ``dtype`` (None: off)."""
    if data.get("feature") is not None:
        return detector(data, inference=True)
    device_type = data["image"].device.type
    with torch.autocast(device_type, dtype=dtype, enabled=dtype is not None):
        return detector(data, inference=True)


def pred_scores(pred: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """float64 arrays of a ``pred_dict``: ``logit`` (of fake, also from two logits ``(B, 2)``)
    and ``prob`` ``(B,)``; a video detector's frame head adds ``frame_logit`` and ``frame_prob``
    ``(B, T)``."""
    out = {
        "logit": fake_logit(pred["cls"]).float().cpu().double().numpy().reshape(-1),
        "prob": pred["prob"].float().cpu().double().numpy().reshape(-1),
    }
    if "frame_prob" in pred:
        out["frame_logit"] = pred["frame_cls"].float().cpu().double().numpy()
        out["frame_prob"] = pred["frame_prob"].float().cpu().double().numpy()
    return out


class Evaluator:
    """Scores the splits of a batch source with a detector and computes their metrics.

    Args:
        detector: the detector (its weights as they are: the trainer's current ones, or a
            checkpoint's).
        batches: a :class:`~dfshield.engine.batch_sources.BankBatches` or
            :class:`~dfshield.engine.batch_sources.LoaderBatches` over the detector's splits.
        dtype: the autocast dtype of image batches (:func:`amp_dtype`).
    """

    def __init__(self, detector, batches, dtype: torch.dtype | None):
        self.detector, self.batches, self.dtype = detector, batches, dtype

    @torch.no_grad()
    def predict(self, split: str) -> Predictions:
        """P(fake) of every frame of a split (and of every clip, for video detectors), with labels
        and full video paths, gathered over every rank in dataset order."""
        self.detector.eval()
        local = []
        for data in self.batches.eval_batches(split):
            scores = pred_scores(forward_batch(self.detector, data, self.dtype))
            local += batch_items(data["index"], scores)
        items = [item for part in gather_objects(local, self.batches.dist) for item in part]
        labels, video_ids = self.batches.targets(split)
        return assemble(items, labels, video_ids)

    def evaluate(self, split: str, bootstrap: int = 1000) -> tuple[dict[str, Any], Predictions]:
        """Frame- and video-level metrics of a split. Video level is the mean frame probability
        per full video path, or, for a video detector, its video head (``video_source`` says
        which)."""
        predictions = self.predict(split)
        return evaluate_predictions(predictions, bootstrap=bootstrap), predictions

    def test(
        self,
        split: str,
        folder: str | os.PathLike,
        header: Mapping[str, Any],
        val_eer_threshold: float | None = None,
    ) -> dict[str, Any]:
        """Evaluate a split and write ``test_metrics.json`` (``header`` then the metrics) and
        ``test_scores.csv`` into ``folder`` (main rank). ACC is at 0.5; with the checkpoint's
        ``val_eer_threshold`` the metrics also hold ACC at that threshold
        (:func:`~dfshield.eval.predictions.accuracy_at_threshold`). Returns ``{"metrics",
        "predictions", "scores", "labels", "video_ids"}``."""
        metrics, predictions = self.evaluate(split)
        if val_eer_threshold is not None:
            metrics.update(accuracy_at_threshold(predictions, val_eer_threshold))
        if self.batches.dist.is_main:
            folder = Path(folder)
            write_scores(folder / "test_scores.csv", predictions)
            write_json_atomic(folder / "test_metrics.json", {**header, **metrics})
        return {
            "metrics": metrics,
            "scores": predictions.scores,
            "labels": predictions.labels,
            "video_ids": predictions.video_ids,
            "predictions": predictions,
        }
