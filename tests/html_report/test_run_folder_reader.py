"""Reading run folders: every kind is recognised, missing pieces are listed, never raised."""

from __future__ import annotations

import pytest

from dfshield.errors import DataError
from dfshield.html_report.run_folder_reader import read_run_folder
from tests.helpers import (
    write_bank,
    write_comparison,
    write_detector_run,
    write_imbalance_folder,
    write_reproduce_folder,
    write_robustness_folder,
)


def test_a_train_folder_is_one_tested_run(tmp_path):
    write_detector_run(tmp_path / "run", "alpha", extra_tests=("Other",))
    contents = read_run_folder(tmp_path / "run")
    assert contents.kind == "train"
    (run,) = contents.runs
    assert run.state == "tested" and len(run.log) == 3 and run.train_set == "Toy"
    assert [t.name for t in run.tests] == ["Toy test", "Other"]
    assert run.tests[0].labels.size == 60 and run.tests[0].threshold == 0.5
    assert "results.json is missing (the run has not finished testing)" in contents.missing


def test_a_comparison_has_its_results_and_runs(tmp_path):
    contents = read_run_folder(write_comparison(tmp_path / "cmp"))
    assert contents.kind == "compare"
    assert [run.name for run in contents.runs] == ["alpha", "beta"]
    assert [row["detector"] for row in contents.results["rows"]] == ["alpha", "beta"]
    assert contents.missing == []


def test_a_run_still_training_is_read_as_it_is(tmp_path):
    write_detector_run(tmp_path / "cmp" / "alpha", "alpha", tested=False)
    contents = read_run_folder(tmp_path / "cmp")
    (run,) = contents.runs
    assert run.state == "training" and run.tests == [] and len(run.log) == 3
    assert any("still training" in note for note in contents.missing)


def test_an_old_folder_with_only_results_is_not_an_error(tmp_path):
    folder = write_comparison(tmp_path / "old")
    for name in ("alpha", "beta"):
        for file in ("config.json", "log.csv"):
            (folder / name / file).unlink()
    (folder / "alpha" / "test_metrics.json").write_text("{not json")
    contents = read_run_folder(folder)
    assert contents.results is not None
    assert any("config.json is missing" in note for note in contents.missing)
    assert any(
        "test_metrics.json" in note and "cannot be read" in note for note in contents.missing
    )
    assert contents.runs[0].tests[0].metrics is None  # unreadable, shown as missing


def test_not_a_folder_names_the_fix(tmp_path):
    with pytest.raises(DataError, match="is not a folder; give the run folder"):
        read_run_folder(tmp_path / "nowhere")


def test_an_empty_folder_is_unknown_and_says_so(tmp_path):
    contents = read_run_folder(tmp_path)
    assert contents.kind == "unknown" and contents.runs == []
    assert any("nothing dfshield writes was found" in note for note in contents.missing)


@pytest.mark.parametrize(
    "writer, kind",
    [
        (write_imbalance_folder, "imbalance"),
        (write_reproduce_folder, "reproduce"),
        (write_robustness_folder, "robustness"),
    ],
)
def test_each_study_is_recognised(tmp_path, writer, kind):
    contents = read_run_folder(writer(tmp_path / kind))
    assert contents.kind == kind
    assert getattr(contents, kind) is not None


def test_imbalance_keeps_the_first_seed_of_each_ratio(tmp_path):
    contents = read_run_folder(write_imbalance_folder(tmp_path / "imb", seeds=(1, 2)))
    assert [g.title for g in contents.groups] == ["ratio-1/seed-1", "ratio-10/seed-1"]


def test_banks_of_the_runs_datasets_are_found(tmp_path):
    cache = tmp_path / "out" / "feature_cache"
    ours = write_bank(cache, "Toy.json", seed=1)
    write_bank(cache, "Other.json", seed=2)
    folder = write_comparison(tmp_path / "cmp", output_dir=str(tmp_path / "out"))
    assert read_run_folder(folder).banks == [ours]
