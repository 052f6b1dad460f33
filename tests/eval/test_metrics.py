"""Metrics: every number against scikit-learn, hand-computed EER / TPR@1%FPR, bootstrap, videos."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

from dfshield.errors import DataError
from dfshield.eval.metrics import (
    _aucs_of_draws,
    _pair_bounds,
    compute_metrics,
    deepfakebench_metrics,
    group_by_video,
    roc_points,
    threshold_at_eer,
    threshold_at_fpr,
)


def _random_case(seed: int, n: int = 600, decimals: int | None = 2):
    """Scores with many ties (rounded), classes imbalanced differently per seed."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15 + 0.1 * (seed % 5)).astype(int)
    logits = rng.normal(size=n) + 1.2 * y
    s = 1.0 / (1.0 + np.exp(-logits))
    if decimals is not None:
        s = np.round(s, decimals)
    return s, y


def _reference_eer(y, s):
    """EER from sklearn's ROC: interpolate FPR - FNR to zero between the bracketing points."""
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    d = fpr - (1 - tpr)
    i = int(np.flatnonzero(d >= 0)[0])
    if d[i] == 0:
        return fpr[i]
    t = -d[i - 1] / (d[i] - d[i - 1])
    return fpr[i - 1] + t * (fpr[i] - fpr[i - 1])


SEEDS = [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("threshold", [0.5, 0.37])
def test_every_metric_equals_sklearn(seed, threshold):
    s, y = _random_case(seed)
    m = compute_metrics(s, y, threshold=threshold, bootstrap=0)
    pred = (s >= threshold).astype(int)
    assert m["auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert m["ap"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
    assert m["acc"] == pytest.approx(accuracy_score(y, pred), abs=1e-12)
    p, r, f, _ = precision_recall_fscore_support(y, pred, average="binary", zero_division=0)
    assert (m["precision"], m["recall"], m["f1"]) == pytest.approx((p, r, f), abs=1e-12)
    assert m["f1"] == pytest.approx(f1_score(y, pred, zero_division=0), abs=1e-12)
    p, r, f, _ = precision_recall_fscore_support(y, pred, average="macro", zero_division=0)
    assert (m["precision_macro"], m["recall_macro"], m["f1_macro"]) == pytest.approx(
        (p, r, f), abs=1e-12
    )
    assert m["f1_macro"] == pytest.approx(
        f1_score(y, pred, average="macro", zero_division=0), abs=1e-12
    )
    assert m["eer"] == pytest.approx(_reference_eer(y, s), abs=1e-12)
    assert (m["n"], m["n_fake"], m["n_real"]) == (len(y), int(y.sum()), int((y == 0).sum()))
    assert m["auc_ci_low"] is None and m["auc_ci_high"] is None


@pytest.mark.parametrize("seed", SEEDS)
def test_tpr_at_fpr_1pct_equals_interpolated_sklearn_roc(seed):
    # 1 % of 733 reals is not a whole number of samples, so no ROC point sits exactly at FPR 1 %
    rng = np.random.default_rng(seed)
    y = np.r_[np.ones(267, int), np.zeros(733, int)]
    s = np.round(1 / (1 + np.exp(-(rng.normal(size=y.size) + 2 * y))), 3)
    fpr, tpr, _ = roc_curve(y, s)
    assert 0.01 not in fpr
    m = compute_metrics(s, y, bootstrap=0)
    assert m["tpr_at_fpr_1pct"] == pytest.approx(np.interp(0.01, fpr, tpr), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_roc_points_equal_sklearn_roc_curve(seed):
    s, y = _random_case(seed)
    fpr, tpr, thr = roc_points(s, y)
    ref_fpr, ref_tpr, ref_thr = roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, ref_fpr, atol=1e-12)
    np.testing.assert_allclose(tpr, ref_tpr, atol=1e-12)
    np.testing.assert_array_equal(thr, ref_thr)  # thr[0] is inf in both


def test_without_ties_and_with_all_scores_tied():
    s, y = _random_case(7, decimals=None)
    m = compute_metrics(s, y, bootstrap=0)
    assert m["auc"] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
    assert m["ap"] == pytest.approx(average_precision_score(y, s), abs=1e-12)
    y = np.array([0, 1, 0, 1, 1])
    m = compute_metrics(np.full(5, 0.5), y, bootstrap=0)
    assert m["auc"] == 0.5 and m["eer"] == 0.5
    assert m["ap"] == pytest.approx(average_precision_score(y, np.full(5, 0.5)))


def test_lists_numpy_and_torch_inputs_agree():
    s, y = _random_case(3)
    ref = compute_metrics(s, y, bootstrap=50)
    assert compute_metrics(s.tolist(), y.tolist(), bootstrap=50) == ref
    t = compute_metrics(
        torch.tensor(s, dtype=torch.float64)[:, None], torch.tensor(y), bootstrap=50
    )
    assert t == ref
    # float32 probabilities (what a model produces) are accepted too
    m32 = compute_metrics(
        torch.tensor(s, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), bootstrap=0
    )
    assert m32["auc"] == pytest.approx(ref["auc"])


# --------------------------------------------------------------------------------------------
# hand-computed cases
# --------------------------------------------------------------------------------------------
# 5 fakes, 4 reals. Thresholds (highest first) and cumulative (false pos, true pos):
#   0.9: one fake                  -> (0, 1)   FPR 0,   FNR 0.8
#   0.8: one fake                  -> (0, 2)   FPR 0,   FNR 0.6   FPR - FNR = -0.6
#   0.6: two fakes and a real tied -> (1, 4)   FPR 1/4, FNR 1/5   FPR - FNR = +0.05
#   0.3: a fake and a real tied    -> (2, 5)
#   0.2, 0.1: one real each        -> (3, 5), (4, 5)
# The crossing lies on the diagonal segment (0, 0.6) -> (0.25, 0.2): t = 0.6 / 0.65 = 12/13,
# EER = 0 + 12/13 * 0.25 = 3/13 (check: FNR = 0.6 - 12/13 * 0.4 = 3/13).
EER_SCORES = np.array([0.9, 0.8, 0.6, 0.6, 0.6, 0.3, 0.3, 0.2, 0.1])
EER_LABELS = np.array([1, 1, 1, 1, 0, 1, 0, 0, 0])


def test_eer_interpolated_between_bracketing_roc_points():
    m = compute_metrics(EER_SCORES, EER_LABELS, bootstrap=0)
    assert m["eer"] == pytest.approx(3 / 13, abs=1e-12)
    # neither bracketing point's own error rates
    assert m["eer"] not in (0.25, 0.2, 0.6, 0.0)


def test_eer_is_zero_for_perfect_separation_and_half_for_reversed_pairs():
    assert compute_metrics([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], bootstrap=0)["eer"] == 0.0
    assert compute_metrics([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1], bootstrap=0)["eer"] == 1.0


def test_threshold_at_eer_realises_the_closest_roc_point():
    thr = threshold_at_eer(EER_SCORES, EER_LABELS)
    # closest point to FPR = FNR is (FPR 1/4, FNR 1/5) at score 0.6; next lower score 0.3
    assert thr == pytest.approx(0.45)
    pred = EER_SCORES >= thr
    assert pred[EER_LABELS == 0].mean() == 0.25
    assert 1 - pred[EER_LABELS == 1].mean() == pytest.approx(0.2)


# 10 fakes, 300 reals (1 % FPR = 3 reals). Points (FPR, TPR):
#   0.95: 4 fakes             -> (0,     0.4)
#   0.90: 2 reals             -> (2/300, 0.4)
#   0.85: 3 fakes             -> (2/300, 0.7)
#   0.80: 2 reals + 2 fakes   -> (4/300, 0.9)
#   0.10: 296 reals + 1 fake  -> (1,     1.0)
# FPR 3/300 is halfway between 2/300 and 4/300: TPR = 0.7 + 0.5 * (0.9 - 0.7) = 0.8.
TPR_SCORES = np.r_[[0.95] * 4, [0.90] * 2, [0.85] * 3, [0.80] * 4, [0.10] * 297]
TPR_LABELS = np.r_[[1] * 4, [0] * 2, [1] * 3, [0, 0, 1, 1], [0] * 296, [1]]


def test_tpr_at_fpr_1pct_hand_computed():
    m = compute_metrics(TPR_SCORES, TPR_LABELS, bootstrap=0)
    assert (m["n_fake"], m["n_real"]) == (10, 300)
    assert m["tpr_at_fpr_1pct"] == pytest.approx(0.8, abs=1e-12)


def test_tpr_at_fpr_takes_top_of_vertical_segment_at_exactly_1pct():
    # 2 fakes, 100 reals: points (0, .5), (.01, .5), (.01, 1), (1, 1) - a vertical segment sits
    # exactly at FPR 1 %, and the best TPR with FPR <= 1 % is its top
    s = np.r_[0.9, 0.8, 0.7, [0.1] * 99]
    y = np.r_[1, 0, 1, [0] * 99]
    assert compute_metrics(s, y, bootstrap=0)["tpr_at_fpr_1pct"] == 1.0


def test_threshold_at_fpr():
    thr = threshold_at_fpr(TPR_SCORES, TPR_LABELS, 0.01)
    assert thr == pytest.approx(0.825)  # point (2/300, 0.7) at 0.85, next lower score 0.80
    pred = TPR_SCORES >= thr
    assert pred[TPR_LABELS == 0].mean() <= 0.01
    assert pred[TPR_LABELS == 1].mean() == pytest.approx(0.7)
    assert threshold_at_fpr(TPR_SCORES, TPR_LABELS, 0.0) == pytest.approx(0.925)
    assert threshold_at_fpr(TPR_SCORES, TPR_LABELS, 1.0) == pytest.approx(0.05)  # all fake
    # a real at the very top and no false positive allowed: nothing may be flagged
    s, y = np.array([1.0, 0.7, 0.2]), np.array([0, 1, 0])
    thr = threshold_at_fpr(s, y, 0.0)
    assert not (s >= thr).any()
    s, y = np.array([0.8, 0.7, 0.2]), np.array([0, 1, 0])
    assert threshold_at_fpr(s, y, 0.0) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="target_fpr"):
        threshold_at_fpr(s, y, 1.5)


# --------------------------------------------------------------------------------------------
# bootstrap
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_bootstrap_resample_aucs_are_exact(seed):
    s, y = _random_case(seed, n=80, decimals=1)
    fakes_desc, above, at_or_above = _pair_bounds(s, y)
    reals = s[y == 0]
    rng = np.random.default_rng(seed + 10)
    fake_draws = rng.integers(0, fakes_desc.size, size=(5, fakes_desc.size))
    real_draws = rng.integers(0, reals.size, size=(5, reals.size))
    got = _aucs_of_draws(above, at_or_above, fake_draws, real_draws)
    for b in range(5):
        rs = np.r_[fakes_desc[fake_draws[b]], reals[real_draws[b]]]
        ry = np.r_[np.ones(fakes_desc.size), np.zeros(reals.size)]
        assert got[b] == pytest.approx(roc_auc_score(ry, rs), abs=1e-12)


def test_bootstrap_interval_contains_auc_and_narrows_with_n():
    widths = []
    for n in (200, 20_000):
        s, y = _random_case(11, n=n)
        m = compute_metrics(s, y, bootstrap=500, seed=3)
        assert m["auc_ci_low"] <= m["auc"] <= m["auc_ci_high"]
        widths.append(m["auc_ci_high"] - m["auc_ci_low"])
    assert widths[1] < widths[0] / 4  # ~ 1/sqrt(100) = 1/10 in theory


def test_bootstrap_is_seeded():
    s, y = _random_case(2)
    a = compute_metrics(s, y, bootstrap=200, seed=5)
    assert compute_metrics(s, y, bootstrap=200, seed=5) == a
    assert compute_metrics(s, y, bootstrap=200, seed=6)["auc_ci_low"] != a["auc_ci_low"]


# --------------------------------------------------------------------------------------------
# video level
# --------------------------------------------------------------------------------------------
FF = "FaceForensics++"
FFPP_VIDEOS = {  # path -> (label, frame probabilities)
    f"{FF}/original_sequences/youtube/c23/frames/000": (0, [0.1, 0.3]),
    f"{FF}/original_sequences/youtube/c23/frames/001": (0, [0.6, 0.4]),
    f"{FF}/manipulated_sequences/Deepfakes/c23/frames/000_003": (1, [0.9, 0.7]),
    f"{FF}/manipulated_sequences/Face2Face/c23/frames/000_003": (1, [0.2, 0.4]),
}


def _frames(videos):
    ids, s, y = [], [], []
    for path, (label, probs) in videos.items():
        ids += [path] * len(probs)
        s += probs
        y += [label] * len(probs)
    return np.array(s), np.array(y), ids


def test_full_path_and_parent_name_grouping_differ_on_ffpp():
    s, y, ids = _frames(FFPP_VIDEOS)
    full = group_by_video(s, y, ids)
    assert full.ids == list(FFPP_VIDEOS)
    np.testing.assert_allclose(full.scores, [0.2, 0.5, 0.8, 0.3])
    np.testing.assert_array_equal(full.labels, [0, 0, 1, 1])
    np.testing.assert_array_equal(full.n_frames, [2, 2, 2, 2])

    merged = group_by_video(s, y, ids, parent_name_only=True)
    assert merged.ids == ["000", "001", "000_003"]  # Deepfakes and Face2Face 000_003 merged
    np.testing.assert_allclose(merged.scores, [0.2, 0.5, 0.55])
    np.testing.assert_array_equal(merged.n_frames, [2, 2, 4])
    assert compute_metrics(s, y, ids, bootstrap=0)["n_videos"] == 4


def test_parent_name_grouping_reproduces_deepfakebench_label_rule():
    # a real and a fake video with the same folder name: DeepfakeBench's int(mean label) -> real
    ids = [
        "Celeb-real/frames/id0_0000",
        "Celeb-real/frames/id0_0000",
        "other/frames/id0_0000",
        "other/frames/id0_0000",
    ]
    groups = group_by_video([0.2, 0.4, 0.9, 0.9], [0, 0, 1, 1], ids, parent_name_only=True)
    assert groups.ids == ["id0_0000"]
    assert groups.labels.tolist() == [0]
    # Windows separators and trailing slashes
    g = group_by_video([0.1, 0.3], [1, 1], ["a\\b\\vid", "c/d/vid/"], parent_name_only=True)
    assert g.ids == ["vid"] and g.scores.tolist() == [pytest.approx(0.2)]


def test_video_metrics_equal_sklearn_on_grouped_scores():
    rng = np.random.default_rng(4)
    n_videos = 120
    video_label = (rng.random(n_videos) < 0.3).astype(int)
    ids, s, y = [], [], []
    for v in range(n_videos):
        k = int(rng.integers(1, 9))
        method = "Deepfakes" if v % 2 else "FaceSwap"
        path = f"data/{method}/frames/{v // 2:03d}"  # names repeat across the two methods
        ids += [path] * k
        y += [video_label[v]] * k
        # multiples of 1/32: frame sums are exact, so video means (and their ties) do not
        # depend on the summation order
        s += list(np.round(32 / (1 + np.exp(-(rng.normal(size=k) + video_label[v])))) / 32)
    order = rng.permutation(len(s))  # frames of a video need not be contiguous
    s, y, ids = np.array(s)[order], np.array(y)[order], [ids[i] for i in order]

    m = compute_metrics(s, y, ids, bootstrap=0)
    keys = sorted(set(ids))
    vs = np.array([s[[i for i, x in enumerate(ids) if x == k]].mean() for k in keys])
    vy = np.array([y[[i for i, x in enumerate(ids) if x == k]][0] for k in keys])
    assert m["n_videos"] == n_videos == len(keys)
    assert m["video_auc"] == pytest.approx(roc_auc_score(vy, vs), abs=1e-12)
    assert m["video_ap"] == pytest.approx(average_precision_score(vy, vs), abs=1e-12)
    assert m["video_eer"] == pytest.approx(_reference_eer(vy, vs), abs=1e-12)
    assert m["video_acc"] == pytest.approx(accuracy_score(vy, vs >= 0.5), abs=1e-12)
    assert m["video_f1_macro"] == pytest.approx(
        f1_score(vy, vs >= 0.5, average="macro", zero_division=0), abs=1e-12
    )
    assert len(group_by_video(s, y, ids, parent_name_only=True).ids) == n_videos // 2


def test_video_with_mixed_labels_is_an_error_naming_it():
    ids = ["a/v1", "a/v1", "b/v1", "b/v1"]
    with pytest.raises(DataError, match=r"'a/v1'.*1 fake, 1 real"):
        compute_metrics([0.1, 0.9, 0.2, 0.3], [0, 1, 0, 0], ids, bootstrap=0)
    with pytest.raises(DataError, match="one id per frame"):
        compute_metrics([0.1, 0.9], [0, 1], ["a"], bootstrap=0)


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("labels, missing", [([1, 1, 1], "no real"), ([0, 0, 0], "no fake")])
def test_one_class_input_is_a_clear_error_not_nan(labels, missing):
    with pytest.raises(DataError, match=f"need both classes.*{missing}"):
        compute_metrics([0.2, 0.5, 0.9], labels)
    for fn in (roc_points, threshold_at_eer):
        with pytest.raises(DataError, match="both classes"):
            fn([0.2, 0.5, 0.9], labels)
    with pytest.raises(DataError, match="both classes"):
        threshold_at_fpr([0.2, 0.5, 0.9], labels, 0.01)


def test_non_finite_scores_are_counted_in_the_error():
    s = [0.1, float("nan"), 0.5, float("nan"), float("inf"), 0.7]
    with pytest.raises(DataError, match=r"2 NaN and 1 infinite value\(s\) out of 6"):
        compute_metrics(s, [0, 1, 0, 1, 0, 1])


@pytest.mark.parametrize(
    "scores, labels, pattern",
    [
        ([-2.0, 3.0], [0, 1], "sigmoid"),
        ([0.1, 0.9, 0.5], [0, 1], "3 scores, 2 labels"),
        ([0.1, 0.9], [0, 2], "0 \\(real\\) or 1 \\(fake\\)"),
        ([], [], "no samples"),
        (np.zeros((3, 2)), [0, 1, 0], "shape"),
    ],
)
def test_bad_inputs_are_clear_errors(scores, labels, pattern):
    with pytest.raises(DataError, match=pattern):
        compute_metrics(scores, labels)


def test_roc_points_accepts_logits():
    fpr, tpr, _ = roc_points([-2.0, 3.0, 0.5], [0, 1, 1])
    assert fpr[-1] == 1.0 and tpr[-1] == 1.0


# --------------------------------------------------------------------------------------------
# DeepfakeBench's definitions beside ours
# --------------------------------------------------------------------------------------------
# Their training/metrics/utils.py on these scores (frame paths <video>/<i>.png) gives acc 0.7,
# auc 0.708333, eer 0.25, ap 0.786111, video_auc 0.666667.
DFB_LABELS = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, 1])
DFB_SCORES = np.array([0.1, 0.4, 0.35, 0.8, 0.7, 0.2, 0.9, 0.55, 0.6, 0.45])
DFB_VIDEOS = [f"FF/{c}/{v}" for c, v in [("real", "000"), ("real", "001")]] + [
    f"FF/fake/{v}" for v in ("002_006", "003_004", "004_005")
]


def test_deepfakebench_definitions_on_their_worked_example():
    ids = [v for v in DFB_VIDEOS for _ in range(2)]
    m = compute_metrics(DFB_SCORES, DFB_LABELS, ids, bootstrap=0)
    assert (m["auc"], m["ap"], m["acc"]) == pytest.approx((0.708333, 0.786111, 0.7), abs=1e-6)
    assert m["eer_dfb"] == 0.25
    assert m["video_auc_dfb"] == pytest.approx(0.666667, abs=1e-6)
    assert (m["acc_real"], m["acc_fake"]) == pytest.approx((3 / 4, 4 / 6))


def test_deepfakebench_eer_is_the_closest_vertex_of_the_dropped_roc():
    # sklearn's roc_curve drops collinear points by default, as their call does: the vertex
    # closest to FPR = FNR is then at FPR 2/3 (on the full curve it would be FPR 1/2)
    s = np.array([0.9, 0.6, 0.7, 0.5, 0.9, 0.8, 0.0, 0.9])
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0])
    m = deepfakebench_metrics(s, y)
    assert m["eer_dfb"] == pytest.approx(2 / 3)
    assert compute_metrics(s, y, bootstrap=0)["eer"] == pytest.approx(_reference_eer(y, s))
    assert "video_auc_dfb" not in m


def test_deepfakebench_acc_uses_strict_half_and_video_names_merge():
    m = deepfakebench_metrics([0.5, 0.5, 0.9, 0.1], [0, 1, 1, 0])
    assert (m["acc_real"], m["acc_fake"]) == (1.0, 0.5)  # 0.5 is real for them (prob > 0.5)
    # a real and a fake video with one folder name merge into one real "video": one class left
    ids = ["a/000", "a/000", "b/000", "b/000"]
    merged = deepfakebench_metrics([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], ids)
    assert merged["video_auc_dfb"] is None
