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


def test_the_best_run_is_one_run_per_test_set_chosen_on_the_first_cell():
    cells = [
        {"test": "c23", "metric": "video_auc", "published": 99.0, "runs": [97.0, 99.5, 98.0]},
        {"test": "c23", "metric": "auc", "published": 98.0, "runs": [99.9, 90.0, 95.0]},
        {"test": "c40", "metric": "eer", "published": 5.0, "runs": [7.0, None, 4.0]},
        {"test": "c40", "metric": "acc", "published": 90.0, "runs": [99.0, None, 80.0]},
    ]
    reproduce_report.best_runs(cells, [8079, 8080, 8081])
    # c23: run 2 has the best video AUC, so its frame AUC is shown, not the best frame AUC
    assert [c["ours_best"] for c in cells] == [99.5, 90.0, 4.0, 80.0]
    assert [c["best_seed"] for c in cells] == [8080, 8080, 8081, 8081]  # EER: the lowest
    assert cells[0]["difference_best"] == pytest.approx(0.5)


def test_a_best_of_runs_table_reports_the_best_run_and_the_mean_labelled(tmp_path):
    from dfshield.studies.reproduce_plan import plan_reproduction

    plan = plan_reproduction("ddln-table6", overrides=[f"train.output_dir={tmp_path}"])
    assert plan.table.best_of_runs and len(plan.seeds) == 5
    results = {
        (run.section.name, run.test, run.seed): {
            row: {"video_acc": 0.9, "video_auc": 0.9 + 0.01 * i, "acc": 0.8, "auc": 0.8}
            for row in run.configs
        }
        for i, run in enumerate(plan.runs)
    }
    report = reproduce_report.build_report(plan, results, {})
    cell = report["sections"][0]["rows"][-1]["cells"][1]  # full model, video AUC
    assert cell["ours"] == pytest.approx(92.0) and cell["ours_best"] == pytest.approx(94.0)
    assert cell["best_seed"] == plan.seeds[-1]
    text = reproduce_report.format_report(report)
    for label in ("| paper |", "| dfshield mean ± std |", "| dfshield best of 5 |"):
        assert label in text
    assert "| difference (best) |" in text and "94.0 (seed 8083)" in text
    csv = reproduce_report.write_report(tmp_path, report)["csv"].read_text().splitlines()
    assert csv[0].endswith("difference,ours_best,best_seed,difference_best")
