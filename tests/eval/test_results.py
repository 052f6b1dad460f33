"""Result reports: results.md / .csv / .json, best-per-column marks, terminal table, roc.png."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from dfshield.errors import ConfigError
from dfshield.eval.metrics import compute_metrics
from dfshield.eval.results import format_table, plot_roc, write_results

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

ROWS = [
    {
        "detector": "spcup",
        "acc": 0.9137,
        "auc": 0.9691,
        "f1_macro": 0.9137,
        "precision_macro": 0.9142,
        "recall_macro": 0.9136,
        "eer": 0.0932,
        "ap": 0.97,
        "f1": 0.5,
        "precision": 0.99,
        "recall": 0.2,
        "video_auc": None,
    },
    {
        "detector": "clip_linear",
        "acc": 0.90,
        "auc": 0.9642,
        "f1_macro": 0.92,
        "precision_macro": 0.91,
        "recall_macro": 0.90,
        "eer": 0.0800,
        "ap": 0.98,
        "f1": 0.9,
        "precision": 0.5,
        "recall": 0.9,
    },
    {
        "detector": "robust_clip",
        "acc": 0.85,
        "auc": 0.9648,
        "f1_macro": 0.80,
        "precision_macro": 0.95,
        "recall_macro": 0.80,
        "eer": 0.1500,
        "ap": np.float64(0.96),
        "f1": 0.1,
        "precision": 0.1,
        "recall": 0.1,
        "video_auc": float("nan"),
    },
]


def _md_row(md: str, detector: str) -> list[str]:
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == detector:
            return cells[1:]
    raise AssertionError(f"no row for {detector} in\n{md}")


def _md_header(md: str) -> list[str]:
    line = next(line for line in md.splitlines() if line.startswith("| Detector"))
    return [c.strip() for c in line.strip().strip("|").split("|")][1:]


def test_write_results_writes_three_files_and_marks_best(tmp_path):
    paths = write_results(tmp_path / "run", ROWS, title="DFWild-Cup test")
    assert {p.name for p in paths.values()} == {"results.md", "results.csv", "results.json"}
    md = (tmp_path / "run" / "results.md").read_text(encoding="utf-8")
    assert md.startswith("# DFWild-Cup test")
    assert _md_header(md) == [
        "ACC",
        "AUC",
        "F1",
        "Precision",
        "Recall",
        "EER",
        "AP",
        "video AUC",
        "ACC@val-EER",
    ]
    assert "ACC is at the threshold 0.5; ACC@val-EER at the validation split's EER" in md

    spcup, linear, robust = (_md_row(md, name) for name in ("spcup", "clip_linear", "robust_clip"))
    # ACC, AUC: spcup best; F1 (macro): clip_linear; Precision (macro): robust_clip;
    # Recall (macro): spcup; EER lowest: clip_linear (0.0800); AP: clip_linear
    assert spcup[:2] == ["**0.9137**", "**0.9691**"]
    assert linear[2] == "**0.9200**" and spcup[2] == "0.9137"
    assert robust[3] == "**0.9500**"
    assert spcup[4] == "**0.9136**"
    assert linear[5] == "**0.0800**" and robust[5] == "0.1500" and spcup[5] == "0.0932"
    assert linear[6] == "**0.9800**"
    # video AUC: missing in every row (absent, None, NaN) -> dash, nothing bold
    assert spcup[7] == linear[7] == robust[7] == "—"
    assert "macro" in md and "EER: lower is better" in md


def test_csv_and_json_hold_every_metric(tmp_path):
    write_results(tmp_path, ROWS)
    with (tmp_path / "results.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["detector"] for r in rows] == ["spcup", "clip_linear", "robust_clip"]
    assert float(rows[0]["auc"]) == 0.9691 and float(rows[2]["ap"]) == 0.96
    assert rows[0]["video_auc"] == "" and rows[1]["video_auc"] == "" and rows[2]["video_auc"] == ""
    assert float(rows[1]["f1"]) == 0.9  # non-macro values are kept too

    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert data["rows"][0]["detector"] == "spcup"
    assert data["rows"][2]["ap"] == 0.96 and data["rows"][2]["video_auc"] is None


def test_non_macro_columns_and_ties_and_single_row(tmp_path):
    write_results(tmp_path, ROWS, macro=False)
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert _md_row(md, "clip_linear")[2] == "**0.9000**"  # f1 (fake class)
    assert _md_row(md, "spcup")[3] == "**0.9900**"
    assert "for the fake class" in md

    tied = [
        {"detector": "a", "auc": 0.91234},
        {"detector": "b", "auc": 0.91231},
        {"detector": "c", "auc": 0.5},
    ]
    write_results(tmp_path, tied)
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert _md_row(md, "a")[1] == _md_row(md, "b")[1] == "**0.9123**"  # equal as displayed
    assert _md_row(md, "c")[1] == "0.5000"

    write_results(tmp_path, [ROWS[0]])
    assert (
        "**" not in _md_row((tmp_path / "results.md").read_text(encoding="utf-8"), "spcup")[0]
    )  # nothing to compare with: no bold


def test_rows_need_a_detector_name(tmp_path):
    with pytest.raises(ConfigError, match="detector"):
        write_results(tmp_path, [{"auc": 0.5}])


def test_format_table_for_terminal():
    text = format_table(ROWS)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["Detector", "ACC", "AUC"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    spcup = next(line for line in lines if line.startswith("spcup"))
    assert "0.9691*" in spcup and "0.0932" in spcup and "0.0932*" not in spcup
    linear = next(line for line in lines if line.startswith("clip_linear"))
    assert "0.0800*" in linear
    assert "—" in spcup and "macro" in lines[-1]
    # columns line up
    assert len({len(line) for line in lines[:2]}) == 1


def test_report_from_compute_metrics_rows(tmp_path):
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.5).astype(int)
    rows = []
    for name, strength in (("good", 2.0), ("weak", 0.3)):
        s = 1 / (1 + np.exp(-(rng.normal(size=300) + strength * (2 * y - 1))))
        rows.append({"detector": name, **compute_metrics(s, y, bootstrap=20)})
    write_results(tmp_path, rows)
    md = (tmp_path / "results.md").read_text(encoding="utf-8")
    good = _md_row(md, "good")
    assert all(c.startswith("**") for c in good[:7])  # better in every column, EER included
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert math.isclose(data["rows"][0]["auc"], rows[0]["auc"])


def test_plot_roc_writes_a_valid_png(tmp_path):
    rng = np.random.default_rng(1)
    y = (rng.random(500) < 0.4).astype(int)
    curves = {
        "good": (1 / (1 + np.exp(-(rng.normal(size=500) + 2 * y))), y),
        "chance": (rng.random(500), y.tolist()),
    }
    out = plot_roc(tmp_path, curves)
    assert out == tmp_path / "roc.png"
    data = out.read_bytes()
    assert data[:8] == PNG_SIGNATURE and len(data) > 1000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 100 and height > 100

    named = plot_roc(tmp_path / "sub" / "curves.png", curves)
    assert named.name == "curves.png" and named.read_bytes()[:8] == PNG_SIGNATURE


def test_deepfakebench_columns_beside_ours_when_asked(tmp_path):
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0])
    s = np.array([0.9, 0.6, 0.7, 0.5, 0.9, 0.8, 0.0, 0.9])
    rows = [{"detector": "xception", **compute_metrics(s, y, bootstrap=0)}]
    assert "DFB" not in format_table(rows)
    text = format_table(rows, deepfakebench=True)
    header = text.splitlines()[0]
    assert "EER (DFB)" in header and "video AUC (DFB)" in header and "ACC real (DFB)" in header
    assert "0.6667" in text.splitlines()[2]  # their EER (ours, interpolated, is not)
    assert "not interpolated" in text.splitlines()[-1]
    write_results(tmp_path, rows, deepfakebench=True)
    assert "EER (DFB)" in (tmp_path / "results.md").read_text(encoding="utf-8")
    with open(tmp_path / "results.csv", encoding="utf-8") as handle:
        assert "eer_dfb" in next(csv.reader(handle))
