"""Metrics of a split's predictions: ACC at another threshold than 0.5."""

from __future__ import annotations

import numpy as np
import pytest

from dfshield.eval.metrics import compute_metrics
from dfshield.eval.predictions import Predictions, accuracy_at_threshold


def test_accuracy_at_the_validation_eer_threshold():
    scores = np.array([0.1, 0.3, 0.35, 0.4, 0.6, 0.2, 0.45, 0.9])
    labels = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    videos = ["a", "a", "b", "b", "c", "d", "e", "e"]
    predictions = Predictions(scores, labels, videos)
    at = accuracy_at_threshold(predictions, 0.42)
    assert at["val_eer_threshold"] == 0.42
    assert at["acc_at_val_eer"] == pytest.approx(np.mean((scores >= 0.42) == labels))  # 6/8
    assert at["acc_at_val_eer"] != compute_metrics(scores, labels, bootstrap=0)["acc"]  # 5/8
    video = compute_metrics(scores, labels, videos, threshold=0.42, bootstrap=0)["video_acc"]
    assert at["video_acc_at_val_eer"] == video
