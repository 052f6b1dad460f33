"""Frame- and video-level metrics for binary deepfake detection (docs/methods.md §9).

Scores are P(fake) in [0, 1], fake = 1 is the positive class and a sample is fake when
``prob >= threshold``. Ours (AUC, AP, interpolated EER, TPR at 1 % FPR, thresholded and macro
scores, a bootstrap AUC interval, video level) sit beside DeepfakeBench's definitions of the same
metrics (``*_dfb``, ``acc_real``, ``acc_fake``; docs/deepfakebench.md), so that a difference
between them is seen in one file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    auc,
    average_precision_score,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

from dfshield.errors import DataError

__all__ = [
    "compute_metrics",
    "deepfakebench_metrics",
    "group_by_video",
    "VideoGroups",
    "roc_points",
    "threshold_at_eer",
    "threshold_at_fpr",
]

# Draws per class handled at once by the bootstrap (small enough to stay in the CPU cache).
_BOOTSTRAP_BLOCK_ELEMENTS = 2**16


# --------------------------------------------------------------------------------------------
# input checking
# --------------------------------------------------------------------------------------------
def _as_1d(values: Any, name: str) -> np.ndarray:
    """A flat numpy view of a list, numpy array or torch tensor (``(N,)`` or ``(N, 1)``)."""
    if hasattr(values, "detach") and hasattr(values, "cpu"):  # torch.Tensor without importing torch
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise DataError(
            f"{name} must be one value per sample, shape (N,) or (N, 1); got shape {arr.shape}. "
            "For two-column softmax outputs pass the fake column only."
        )
    return arr


def _check_scores(scores: Any, *, probabilities: bool) -> np.ndarray:
    arr = _as_1d(scores, "scores")
    if arr.dtype.kind not in "biuf":
        raise DataError(f"scores must be numbers; got dtype {arr.dtype}.")
    arr = arr.astype(np.float64, copy=False)
    finite = np.isfinite(arr)
    if not finite.all():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int((~finite).sum()) - n_nan
        raise DataError(
            f"scores contain {n_nan} NaN and {n_inf} infinite value(s) out of {arr.size}; "
            "metrics need finite scores. Check the model outputs (a diverged run or a broken "
            "frame gives NaN) and drop or fix those samples."
        )
    if probabilities and arr.size and (arr.min() < 0.0 or arr.max() > 1.0):
        raise DataError(
            f"scores must be probabilities of fake in [0, 1]; got values in "
            f"[{arr.min():.6g}, {arr.max():.6g}]. Apply sigmoid to logits first."
        )
    return arr


def _check_labels(labels: Any, n: int) -> np.ndarray:
    arr = _as_1d(labels, "labels")
    if arr.size != n:
        raise DataError(f"scores and labels differ in length: {n} scores, {arr.size} labels.")
    if arr.dtype.kind not in "biuf":
        raise DataError(f"labels must be 0 (real) or 1 (fake); got dtype {arr.dtype}.")
    bad = ~((arr == 0) | (arr == 1))
    if bad.any():
        examples = ", ".join(repr(v) for v in np.unique(arr[bad])[:5].tolist())
        raise DataError(
            f"labels must be 0 (real) or 1 (fake); {int(bad.sum())} label(s) are not, e.g. "
            f"{examples}. Map the dataset's labels to fake = 1, real = 0."
        )
    return arr.astype(np.int64)


def _check_inputs(
    scores: Any, labels: Any, *, probabilities: bool = True, what: str = "AUC/EER"
) -> tuple[np.ndarray, np.ndarray]:
    s = _check_scores(scores, probabilities=probabilities)
    if s.size == 0:
        raise DataError("no samples: scores and labels are empty; evaluate on a non-empty split.")
    y = _check_labels(labels, s.size)
    _require_both_classes(y, what)
    return s, y


def _require_both_classes(y: np.ndarray, what: str, unit: str = "samples") -> None:
    n_fake = int(y.sum())
    n_real = int(y.size - n_fake)
    if n_fake == 0 or n_real == 0:
        missing, present = ("fake (1)", "real (0)") if n_fake == 0 else ("real (0)", "fake (1)")
        raise DataError(
            f"{what} need both classes, but all {y.size} {unit} are {present} and there is no "
            f"{missing} one. Evaluate on a split that contains both real and fake {unit}."
        )


# --------------------------------------------------------------------------------------------
# ROC machinery
# --------------------------------------------------------------------------------------------
def _roc(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every ROC point, (0, 0) at threshold inf first; point k is "fake if score >= thr[k]"."""
    fpr, tpr, thr = roc_curve(y, s, drop_intermediate=False)
    return fpr, tpr, thr


def _eer_index(fpr: np.ndarray, tpr: np.ndarray) -> tuple[int, float]:
    """(first ROC index with FPR >= FNR, EER interpolated between the bracketing points)."""
    diff = fpr - (1.0 - tpr)
    i = int(np.argmax(diff >= 0))  # diff[-1] = 1 > 0, so a crossing always exists; i >= 1
    if diff[i] == 0:
        return i, float(fpr[i])
    t = -diff[i - 1] / (diff[i] - diff[i - 1])
    return i, float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def _tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """TPR at FPR = ``target`` by linear interpolation on the ROC (top of a vertical segment)."""
    i = int(np.searchsorted(fpr, target, side="right")) - 1  # last point with FPR <= target
    if fpr[i] == target or i == fpr.size - 1:
        return float(tpr[i])
    t = (target - fpr[i]) / (fpr[i + 1] - fpr[i])
    return float(tpr[i] + t * (tpr[i + 1] - tpr[i]))


def _threshold_for_point(thresholds: np.ndarray, j: int) -> float:
    """A threshold whose rule "fake if prob >= t" realises ROC point ``j``: the middle of its gap.
    The midpoint of ``(thresholds[j+1], thresholds[j]]`` is robust to small score shifts on new
    data; 1 stands in for point 0's ``inf`` and 0 for the gap below the lowest score."""
    upper = 1.0 if j == 0 else float(thresholds[j])
    lower = float(thresholds[j + 1]) if j + 1 < thresholds.size else 0.0
    if j == 0 and lower >= 1.0:
        return float(np.nextafter(1.0, 2.0))  # a real sample scored exactly 1: nothing is fake
    if j + 1 >= thresholds.size and upper <= 0.0:
        return 0.0  # lowest score is 0: everything is fake
    mid = lower + (upper - lower) / 2.0
    if not lower < mid <= upper:  # adjacent floats
        mid = upper
    return float(mid)


def roc_points(scores: Any, labels: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve ``(fpr, tpr, thresholds)`` for plotting, as ``roc_curve(drop_intermediate=False)``.
    Scores may be any finite numbers (probabilities or logits); one-class input raises."""
    s, y = _check_inputs(scores, labels, probabilities=False, what="a ROC curve")
    return _roc(s, y)


def threshold_at_eer(scores: Any, labels: Any) -> float:
    """Probability threshold of the ROC point closest to FPR = FNR (fake if ``prob >= it``)."""
    s, y = _check_inputs(scores, labels, what="an EER threshold")
    fpr, tpr, thr = _roc(s, y)
    gap = np.abs(fpr - (1.0 - tpr))
    j = 1 + int(np.argmin(gap[1:]))  # point 0 ("nothing is fake") is never closer than point 1
    return _threshold_for_point(thr, j)


def threshold_at_fpr(scores: Any, labels: Any, target_fpr: float) -> float:
    """Probability threshold with the highest TPR among those with FPR <= ``target_fpr``. If no
    threshold allows the target, it lies above every score, so nothing is flagged."""
    target = float(target_fpr)
    if not 0.0 <= target <= 1.0:
        raise ValueError(f"target_fpr must be in [0, 1]; got {target_fpr!r}.")
    s, y = _check_inputs(scores, labels, what="an FPR threshold")
    fpr, _, thr = _roc(s, y)
    j = int(np.searchsorted(fpr, target, side="right")) - 1  # tpr grows with j
    return _threshold_for_point(thr, j)


# --------------------------------------------------------------------------------------------
# thresholded metrics
# --------------------------------------------------------------------------------------------
def _threshold_metrics(s: np.ndarray, y: np.ndarray, threshold: float) -> dict[str, float]:
    pred = (s >= threshold).astype(np.int64)
    # per class (real, fake); an undefined ratio counts as 0
    p, r, f, _ = precision_recall_fscore_support(y, pred, labels=[0, 1], zero_division=0)
    return {
        "acc": float(accuracy_score(y, pred)),
        "f1": float(f[1]),
        "precision": float(p[1]),
        "recall": float(r[1]),
        "f1_macro": float(f.mean()),
        "precision_macro": float(p.mean()),
        "recall_macro": float(r.mean()),
    }


# --------------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------------
def _pair_bounds(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fakes by descending score, and per real the count of fakes above / at or above it."""
    fakes = np.sort(s[y == 1])
    reals = s[y == 0]
    above = fakes.size - np.searchsorted(fakes, reals, side="right")
    at_or_above = fakes.size - np.searchsorted(fakes, reals, side="left")
    return fakes[::-1], above, at_or_above


def _aucs_of_draws(
    above: np.ndarray, at_or_above: np.ndarray, fake_draws: np.ndarray, real_draws: np.ndarray
) -> np.ndarray:
    """Exact AUC of each resample (row) of draws with replacement, in integer arithmetic.
    ``fake_draws`` index the fakes by descending score, ``real_draws`` the reals; one ``bincount``
    and ``cumsum`` per resample counts every pair comparison (twice the wins, ties counting one)."""
    b, n_fake = fake_draws.shape
    n_real = real_draws.shape[1]
    offsets = (np.arange(b, dtype=np.int64) * (n_fake + 1) + 1)[:, None]
    cum = np.bincount((fake_draws + offsets).ravel(), minlength=b * (n_fake + 1))
    cum = np.cumsum(cum.reshape(b, n_fake + 1), axis=1)
    twice_wins = cum[:, above] + cum[:, at_or_above]
    total = np.take_along_axis(twice_wins, real_draws, axis=1).sum(axis=1)
    return total / (2.0 * n_fake * n_real)


def _bootstrap_auc(s: np.ndarray, y: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """AUCs of ``n_boot`` resamples, fakes and reals resampled separately (every resample has both).
    Blocks of resamples stay in the CPU cache: ~1 s for 1000 resamples of 100k scores."""
    _, above, at_or_above = _pair_bounds(s, y)
    n_fake = int(y.sum())
    n_real = y.size - n_fake
    rng = np.random.default_rng(seed)
    rows = max(1, _BOOTSTRAP_BLOCK_ELEMENTS // max(n_fake, n_real))
    out = np.empty(n_boot)
    for start in range(0, n_boot, rows):
        b = min(rows, n_boot - start)
        fake_draws = rng.integers(0, n_fake, size=(b, n_fake))
        real_draws = rng.integers(0, n_real, size=(b, n_real))
        out[start : start + b] = _aucs_of_draws(above, at_or_above, fake_draws, real_draws)
    return out


# --------------------------------------------------------------------------------------------
# video grouping
# --------------------------------------------------------------------------------------------
class VideoGroups(NamedTuple):
    """Per-video scores: ``ids[i]`` has mean frame probability ``scores[i]`` and ``labels[i]``."""

    ids: list[str]
    scores: np.ndarray
    labels: np.ndarray
    n_frames: np.ndarray


def _last_component(video_id: str) -> str:
    parts = [p for p in video_id.replace("\\", "/").split("/") if p]
    return parts[-1] if parts else video_id


def group_by_video(
    scores: Any, labels: Any, video_ids: Sequence[Any], *, parent_name_only: bool = False
) -> VideoGroups:
    """Group frame probabilities into videos by **full** path; a video scores its frames' mean.
    Videos come in order of first appearance; a video with frames of both labels raises.
    ``parent_name_only=True`` is DeepfakeBench's grouping, only to compare numbers with it: by
    folder name, label ``int(mean label)``, so same-named FF++ videos of different methods merge."""
    s = _check_scores(scores, probabilities=True)
    y = _check_labels(labels, s.size)
    ids = list(video_ids.tolist() if isinstance(video_ids, np.ndarray) else video_ids)
    if len(ids) != s.size:
        raise DataError(f"video_ids must give one id per frame: {s.size} scores, {len(ids)} ids.")
    keys = [os.fspath(v) if isinstance(v, os.PathLike) else str(v) for v in ids]
    if parent_name_only:
        keys = [_last_component(k) for k in keys]

    index: dict[str, int] = {}
    group = np.fromiter(
        (index.setdefault(k, len(index)) for k in keys), dtype=np.int64, count=len(keys)
    )
    ordered_ids = list(index)  # first appearance order
    n_groups = len(ordered_ids)
    n_frames = np.bincount(group, minlength=n_groups)
    mean_score = np.bincount(group, weights=s, minlength=n_groups) / n_frames
    n_fake = np.bincount(group, weights=y, minlength=n_groups).astype(np.int64)

    if parent_name_only:
        video_labels = n_fake // n_frames  # DeepfakeBench: int(label_sum / n) - mixed -> real
    else:
        mixed = np.flatnonzero((n_fake > 0) & (n_fake < n_frames))
        if mixed.size:
            g = int(mixed[0])
            raise DataError(
                f"video '{ordered_ids[g]}' has frames with different labels ({int(n_fake[g])} "
                f"fake, {int(n_frames[g] - n_fake[g])} real); {mixed.size} video(s) are mixed. "
                "Every frame of a video must carry the video's label - check the dataset JSON."
            )
        video_labels = (n_fake > 0).astype(np.int64)
    return VideoGroups(ordered_ids, mean_score, video_labels, n_frames)


# --------------------------------------------------------------------------------------------
# DeepfakeBench's definitions
# --------------------------------------------------------------------------------------------
def deepfakebench_metrics(
    scores: Any, labels: Any, video_ids: Sequence[Any] | None = None
) -> dict[str, Any]:
    """DeepfakeBench's ``eer_dfb``, ``acc_real``, ``acc_fake``, ``video_auc_dfb`` on our scores."""
    s, y = _check_inputs(scores, labels, what="DeepfakeBench's EER")
    fpr, tpr, _ = roc_curve(y, s)  # as theirs: intermediate points dropped
    fake_pred = s > 0.5
    out: dict[str, Any] = {
        "eer_dfb": float(fpr[np.nanargmin(np.abs((1 - tpr) - fpr))]),
        "acc_real": float(np.mean(~fake_pred[y == 0])),
        "acc_fake": float(np.mean(fake_pred[y == 1])),
    }
    if video_ids is not None:
        videos = group_by_video(s, y, video_ids, parent_name_only=True)
        one_class = videos.labels.min() == videos.labels.max()
        out["video_auc_dfb"] = (
            None if one_class else float(roc_auc_score(videos.labels, videos.scores))
        )
    return out


# --------------------------------------------------------------------------------------------
# the one entry point
# --------------------------------------------------------------------------------------------
def compute_metrics(
    scores: Any,
    labels: Any,
    video_ids: Sequence[Any] | None = None,
    *,
    threshold: float = 0.5,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict:
    """All frame-level (and, with ``video_ids``, video-level) metrics as a flat, JSON-ready dict.
    ``bootstrap`` resamples give the 95 % AUC interval (0: off, its keys ``None``). Raises
    ``DataError`` for one-class input (never NaN), non-finite scores, scores outside [0, 1], labels
    other than 0/1 or mismatched lengths."""
    s, y = _check_inputs(scores, labels, what="AUC and EER")
    threshold = float(threshold)
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0 resamples (0 turns it off); got {bootstrap}.")
    fpr, tpr, _ = _roc(s, y)
    _, eer = _eer_index(fpr, tpr)
    out: dict[str, Any] = {
        "auc": float(auc(fpr, tpr)),
        "ap": float(average_precision_score(y, s)),
        "eer": eer,
        **_threshold_metrics(s, y, threshold),
        "tpr_at_fpr_1pct": _tpr_at_fpr(fpr, tpr, 0.01),
        "auc_ci_low": None,
        "auc_ci_high": None,
        "threshold": float(threshold),
        "n": int(y.size),
        "n_fake": int(y.sum()),
        "n_real": int(y.size - y.sum()),
    }
    if bootstrap:
        aucs = _bootstrap_auc(s, y, int(bootstrap), seed)
        low, high = np.percentile(aucs, [2.5, 97.5])
        out["auc_ci_low"], out["auc_ci_high"] = float(low), float(high)

    if video_ids is not None:
        videos = group_by_video(s, y, video_ids)
        _require_both_classes(videos.labels, "video-level AUC and EER", unit="videos")
        vfpr, vtpr, _ = _roc(videos.scores, videos.labels)
        out.update(
            {
                "video_auc": float(auc(vfpr, vtpr)),
                "video_ap": float(average_precision_score(videos.labels, videos.scores)),
                "video_eer": _eer_index(vfpr, vtpr)[1],
            }
        )
        vthr = _threshold_metrics(videos.scores, videos.labels, threshold)
        out["video_acc"] = vthr["acc"]
        out["video_f1_macro"] = vthr["f1_macro"]
        out["n_videos"] = len(videos.ids)
    out.update(deepfakebench_metrics(s, y, video_ids))
    for key, value in out.items():
        if isinstance(value, float) and math.isnan(value):  # pragma: no cover - defensive
            raise DataError(f"metric {key} came out NaN; please report this with the inputs.")
    return out
