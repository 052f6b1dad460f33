"""Predictions of one split, their frame- and video-level metrics and their scores file, shared by
the evaluator and the ``predict`` scorer so every command computes them the same way.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dfshield.eval.metrics import compute_metrics
from dfshield.fileio import atomic_write

# one scored dataset item: (item index, P(fake) of each of its frames, P(fake) of the clip or None)
Item = tuple[int, list[float], "float | None"]


@dataclass
class Predictions:
    """Predictions of one split: per frame, and per clip when the detector has a video head."""

    scores: np.ndarray  # P(fake) of each frame
    labels: np.ndarray
    video_ids: list[str]  # full video path of each frame
    clip_scores: np.ndarray | None = None  # P(fake) of each clip from a video-level head
    clip_labels: np.ndarray | None = None
    clip_videos: list[str] | None = None


def batch_items(index: Sequence[Any], scores: Mapping[str, np.ndarray]) -> list[Item]:
    """A scored batch's items: dataset ``index``, ``prob`` and any ``frame_prob`` ``(B, T)``."""
    if "frame_prob" in scores:
        return [
            (int(i), [float(f) for f in frames], float(p))
            for i, frames, p in zip(index, scores["frame_prob"], scores["prob"])
        ]
    return [(int(i), [float(p)], None) for i, p in zip(index, scores["prob"])]


def assemble(
    items: Sequence[Item], labels: Sequence[int] | np.ndarray, video_ids: Sequence[str]
) -> Predictions:
    """Order scored items by dataset index and spread each one's label and video over its frames."""
    items = sorted(items, key=lambda item: item[0])
    scores, frame_labels, frame_videos = [], [], []
    for index, frame_probs, _ in items:
        scores += frame_probs
        frame_labels += [int(labels[index])] * len(frame_probs)
        frame_videos += [video_ids[index]] * len(frame_probs)
    predictions = Predictions(
        np.asarray(scores, dtype=np.float64), np.asarray(frame_labels, dtype=np.int64), frame_videos
    )
    if items and items[0][2] is not None:
        predictions.clip_scores = np.asarray([item[2] for item in items], dtype=np.float64)
        predictions.clip_labels = np.asarray(
            [int(labels[item[0]]) for item in items], dtype=np.int64
        )
        predictions.clip_videos = [video_ids[item[0]] for item in items]
    return predictions


def evaluate_predictions(
    predictions: Predictions, *, threshold: float = 0.5, bootstrap: int = 1000
) -> dict[str, Any]:
    """Frame- and video-level metrics; ``video_source``: mean frame probability or video head."""
    metrics = compute_metrics(
        predictions.scores,
        predictions.labels,
        predictions.video_ids,
        threshold=threshold,
        bootstrap=bootstrap,
    )
    metrics["video_source"] = "mean frame probability"
    if predictions.clip_scores is not None:
        clip = compute_metrics(
            predictions.clip_scores,
            predictions.clip_labels,
            predictions.clip_videos,
            threshold=threshold,
            bootstrap=0,
        )
        metrics.update({k: v for k, v in clip.items() if k.startswith("video_")})
        metrics["video_source"] = "video head"
    return metrics


def accuracy_at_threshold(predictions: Predictions, threshold: float) -> dict[str, Any]:
    """Frame and video ACC at the checkpoint's val-EER threshold (the one ``predict`` uses)."""
    at = evaluate_predictions(predictions, threshold=threshold, bootstrap=0)
    return {
        "val_eer_threshold": float(threshold),
        "acc_at_val_eer": at["acc"],
        "video_acc_at_val_eer": at.get("video_acc"),
    }


def write_scores(path: str | os.PathLike, predictions: Predictions) -> None:
    """``test_scores.csv``, atomically: one row per frame (full video path, label, P(fake))."""
    with atomic_write(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_id", "label", "prob_fake"])
        for video, label, score in zip(
            predictions.video_ids, predictions.labels, predictions.scores
        ):
            writer.writerow([video, int(label), f"{float(score):.6f}"])
