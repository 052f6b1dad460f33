"""Leaderboard rows: one per (detector, train set, test set), from every kind of folder."""

from __future__ import annotations

from dfshield.html_report.leaderboard import leaderboard_entries, slug
from dfshield.html_report.run_folder_reader import read_run_folder
from tests.helpers import (
    write_comparison,
    write_detector_run,
    write_imbalance_folder,
    write_robustness_folder,
)


def test_extra_test_rows_keep_the_detector_and_name_the_set(tmp_path):
    folder = write_comparison(tmp_path / "cmp", detectors=("alpha",), extra_tests=("Other",))
    entries = leaderboard_entries([read_run_folder(folder)])
    assert [(e.detector, e.train_set, e.test_set) for e in entries] == [
        ("alpha", "Toy", "Toy test"),
        ("alpha", "Toy", "Other"),
    ]
    assert [e.anchor for e in entries] == ["run-0-alpha", "run-0-alpha-on-Other"]


def test_imbalance_rows_are_means_per_ratio(tmp_path):
    folder = write_imbalance_folder(tmp_path / "imb", ratios=(1, 10), seeds=(1, 2))
    entries = leaderboard_entries([read_run_folder(folder)])
    assert [e.detector for e in entries] == ["alpha @ 1:1", "alpha @ 10:1"]
    summary = read_run_folder(folder).imbalance["summary"]
    assert entries[0].metrics["auc"] == summary[0]["auc_mean"]
    assert {e.anchor for e in entries} == {"run-0-imbalance"}


def test_robustness_rows_are_the_clean_scores_with_the_checkpoints_train_set(tmp_path):
    folder = write_robustness_folder(tmp_path / "rob")
    write_detector_run(tmp_path / "rob" / "alpha", "alpha", dataset="Train", tested=False)
    (tmp_path / "rob" / "alpha" / "log.csv").unlink()
    contents = read_run_folder(folder)
    entries = [e for e in leaderboard_entries([contents]) if e.test_set == "test (clean)"]
    assert [(e.detector, e.train_set) for e in entries] == [("alpha", "Train"), ("beta", "—")]
    assert entries[0].metrics["auc"] == 0.95


def test_slug_makes_an_id():
    assert slug("alpha on Celeb-DF v2/x") == "alpha-on-Celeb-DF-v2-x"
    assert slug("***") == "x"
