"""One evaluator: how a detector scores data, for every command that scores.

:func:`amp_dtype` is the one autocast policy, :func:`forward_batch` the one forward pass (also
used by the ``predict`` Scorer, so a frame scores the same everywhere) and :class:`Evaluator`
scores a split into ``Predictions``, gathered over ranks, with its metrics and test files.
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
    """The autocast dtype for ``train.amp`` on ``device`` (None: autocast off). ``bf16``: bfloat16
    on a GPU; ``auto``: bfloat16 where supported; ``none`` and the CPU: off. Never float16, which
    would need loss scaling (none exists for closure optimisers like SAM)."""
    if amp == "auto" and not (device.type == "cuda" and torch.cuda.is_bf16_supported()):
        return None
    return autocast_dtype("none" if amp == "none" else "bf16", device)


def forward_batch(detector, data: Mapping[str, Any], dtype: torch.dtype | None) -> dict:
    """The ``pred_dict`` of one batch: bank features run the head in float32, images autocast."""
    if data.get("feature") is not None:
        return detector(data, inference=True)
    device_type = data["image"].device.type
    with torch.autocast(device_type, dtype=dtype, enabled=dtype is not None):
        return detector(data, inference=True)


def pred_scores(pred: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """float64 ``logit`` and ``prob`` ``(B,)`` of a ``pred_dict`` (plus ``frame_*`` ``(B, T)``)."""
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

    ``batches`` is a ``BankBatches`` or ``LoaderBatches``; ``dtype`` the image autocast dtype.
    """

    def __init__(self, detector, batches, dtype: torch.dtype | None):
        self.detector, self.batches, self.dtype = detector, batches, dtype

    @torch.no_grad()
    def predict(self, split: str) -> Predictions:
        """P(fake) of every frame (and clip) of a split, with labels and videos, from all ranks."""
        self.detector.eval()
        local = []
        for data in self.batches.eval_batches(split):
            scores = pred_scores(forward_batch(self.detector, data, self.dtype))
            local += batch_items(data["index"], scores)
        items = [item for part in gather_objects(local, self.batches.dist) for item in part]
        labels, video_ids = self.batches.targets(split)
        return assemble(items, labels, video_ids)

    def evaluate(self, split: str, bootstrap: int = 1000) -> tuple[dict[str, Any], Predictions]:
        """Frame- and video-level metrics of a split and its predictions."""
        predictions = self.predict(split)
        return evaluate_predictions(predictions, bootstrap=bootstrap), predictions

    def test(
        self,
        split: str,
        folder: str | os.PathLike,
        header: Mapping[str, Any],
        val_eer_threshold: float | None = None,
    ) -> dict[str, Any]:
        """Evaluate a split; write ``test_metrics.json`` and ``test_scores.csv`` (main rank). ACC is
        at 0.5; a ``val_eer_threshold`` adds ACC at that threshold."""
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
