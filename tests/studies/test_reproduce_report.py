"""The report of ``dfshield reproduce``: metric values as the tables print them."""

from __future__ import annotations

import pytest

from dfshield.studies import reproduce_report


def test_real_class_metrics_are_derived_exactly():
    from sklearn.metrics import f1_score, precision_score, recall_score

    from dfshield.eval.metrics import compute_metrics

    labels = [0, 0, 0, 1, 1, 0, 1, 0]
    scores = [0.1, 0.7, 0.2, 0.9, 0.4, 0.3, 0.8, 0.6]
    metrics = compute_metrics(scores, labels, bootstrap=0)
    predicted = [int(s >= 0.5) for s in scores]
    for key, score in (("f1", f1_score), ("precision", precision_score), ("recall", recall_score)):
        expected = score(labels, predicted, pos_label=0)
        assert reproduce_report.metric_value(metrics, f"{key}_real") == pytest.approx(expected)
    assert reproduce_report.metric_value(metrics, "video_f1") is None  # not computed: shown as —
