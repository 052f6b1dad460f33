"""provenance.json and the report a study writes at its end."""

from __future__ import annotations

import json
import logging

import pytest

from dfshield import __version__
from dfshield.html_report import finish_study, study_report
from dfshield.html_report import provenance as provenance_module
from tests.helpers import write_comparison


@pytest.mark.slow  # draws a whole report: 7 s on 2 loaded cores
def test_a_study_records_its_provenance_and_writes_the_report(tmp_path):
    folder = write_comparison(tmp_path / "cmp", detectors=("alpha",))
    with study_report(folder, "compare", report=True, feature_cache=tmp_path / "cache"):
        pass
    recorded = json.loads((folder / "provenance.json").read_text())
    assert recorded["kind"] == "compare" and recorded["dfshield"] == __version__
    assert recorded["feature_cache"] == str((tmp_path / "cache").resolve())
    assert recorded["wall_seconds"] >= 0 and "started" in recorded
    text = (folder / "report.html").read_text()
    assert f"<dt>dfshield</dt><dd>{__version__}</dd>" in text, "the recorded version is shown"


def test_no_report_still_records_provenance(tmp_path):
    folder = write_comparison(tmp_path / "cmp", detectors=("alpha",))
    assert finish_study(folder, "compare", 0.0, report=False) is None
    assert (folder / "provenance.json").is_file() and not (folder / "report.html").exists()


def test_only_the_main_rank_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    assert finish_study(tmp_path, "compare", 0.0) is None
    assert list(tmp_path.iterdir()) == []


def test_a_failing_report_is_a_warning_not_a_failed_study(tmp_path, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ValueError("a plotting bug")

    monkeypatch.setattr("dfshield.html_report.write_report", broken)
    with caplog.at_level(logging.WARNING):
        assert finish_study(tmp_path, "compare", 0.0) is None
    assert "make it later with: dfshield report" in caplog.text
    assert (tmp_path / "provenance.json").is_file()


def test_git_commit_is_none_outside_a_checkout(tmp_path):
    assert provenance_module.git_commit(tmp_path) is None
