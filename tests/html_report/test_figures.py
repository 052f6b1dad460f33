"""The report's figures: embedded PNGs, honest about what they cannot draw; the feature map's
projection and sampling."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from dfshield.html_report import feature_map, figures
from tests.helpers import synthetic_scores, write_bank


def decode(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    image.load()
    return image


def test_roc_pr_is_a_png_and_skips_a_one_class_set():
    labels, scores = synthetic_scores(0)
    assert decode(figures.roc_pr([("a", labels, scores)], "Toy")).width > 300
    assert figures.roc_pr([("a", np.zeros(5, int), np.linspace(0, 1, 5))], "Toy") is None


def test_histograms_and_confusion_take_the_threshold():
    labels, scores = synthetic_scores(1)
    items = [("a", labels, scores, 0.3), ("b", labels, scores, 0.7)]
    assert decode(figures.histograms(items)).height > 100
    assert decode(figures.confusion_matrices(items)).height > 100
    assert figures.histograms([]) is None


def test_training_curves_skip_missing_columns():
    log = [{"epoch": 1.0, "train_loss": 0.5, "lr": None}, {"epoch": 2.0, "train_loss": 0.4}]
    assert decode(figures.training_curves([("a", log)])).width > 200
    assert figures.training_curves([("a", [])]) is None


@pytest.mark.slow  # importing scikit-learn's manifold module alone takes seconds
def test_a_small_bank_gets_tsne_of_a_seeded_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(feature_map, "TSNE_SAMPLE_ROWS", 30)
    bank = write_bank(tmp_path, "Toy.json", rows=40)
    found = feature_map.feature_points([bank])
    assert found.method == "tsne" and found.points.shape == (30, 2)
    assert found.caption.startswith("t-SNE") and "30 of 40 rows" in found.caption
    assert found.datasets == ["Toy"] * 30


def test_a_large_bank_gets_pca_of_a_seeded_sample(tmp_path, monkeypatch):
    monkeypatch.setattr(feature_map, "TSNE_MAX_ROWS", 50)  # a bank of 90 rows is large
    monkeypatch.setattr(feature_map, "PCA_SAMPLE_ROWS", 30)
    banks = [write_bank(tmp_path, "Toy.json", rows=60, seed=1)]
    banks.append(write_bank(tmp_path, "Other.json", rows=30, seed=2))
    first = feature_map.feature_points(banks)
    again = feature_map.feature_points(banks)
    assert first.method == "pca" and first.total_rows == 90
    assert len(first.classes) == 30 and set(first.datasets) == {"Toy", "Other"}
    assert "30 of 90 rows sampled at random (seed 0)" in first.caption
    np.testing.assert_array_equal(first.points, again.points)
    assert feature_map.feature_points(banks, "none") is None
