"""``dfshield robustness`` and the perturbations: pure, seeded functions checked against
independent references; one row per perturbation; the clean row equals ``Trainer.test``; no
perturbed features in the shared feature cache."""

from __future__ import annotations

import argparse
import csv
import json

import cv2
import numpy as np
import pytest
from scipy import ndimage

from dfshield import cli
from dfshield.commands import robustness
from dfshield.errors import ConfigError
from dfshield.eval.metrics import compute_metrics
from dfshield.eval.perturbations import (
    DEFAULT_PERTURBATIONS,
    Perturbation,
    downscale,
    gaussian_blur,
    gaussian_noise,
    jpeg,
    parse_perturbation,
    parse_perturbations,
)
from tests.helpers import train_tiny_checkpoint


@pytest.fixture(scope="module")
def trained(toy_dataset, tmp_path_factory):
    return train_tiny_checkpoint(toy_dataset, tmp_path_factory.mktemp("tiny-run"))


def photo(seed: int = 0, shape=(48, 64)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.uniform(30, 220, (6, 8, 3)).astype(np.float32), shape[::-1])
    return np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


# -- perturbations -------------------------------------------------------------------------------
def test_perturbations_are_pure_and_keep_the_frame_format():
    image = photo()
    copy = image.copy()
    for perturbation in parse_perturbations(None):
        out = perturbation(image, seed=[0, 1, 2])
        assert out.shape == image.shape and out.dtype == np.uint8
        assert out is not image
        np.testing.assert_array_equal(image, copy)  # input untouched
    assert [p.name for p in parse_perturbations(None)] == list(DEFAULT_PERTURBATIONS)


def test_jpeg_loses_more_at_lower_quality():
    image = photo()
    qualities = [95, 75, 50, 30]
    scores = [psnr(image, jpeg(image, q)) for q in qualities]
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
    # the same bytes libjpeg gives for the BGR frame
    ok, buffer = cv2.imencode(".jpg", image[:, :, ::-1].copy(), [cv2.IMWRITE_JPEG_QUALITY, 50])
    np.testing.assert_array_equal(
        jpeg(image, 50), cv2.imdecode(buffer, cv2.IMREAD_COLOR)[:, :, ::-1]
    )


def test_blur_matches_scipy_gaussian_filter():
    image = photo()
    for sigma in (1.0, 2.0):
        reference = np.stack(
            [
                ndimage.gaussian_filter(
                    image[:, :, c].astype(np.float64), sigma, mode="mirror", truncate=3.0
                )
                for c in range(3)
            ],
            -1,
        )
        difference = np.abs(gaussian_blur(image, sigma).astype(np.float64) - reference)
        assert difference.max() <= 1.0  # rounding to uint8 only


def test_downscale_removes_detail_finer_than_the_new_resolution():
    checker = ((np.indices((32, 32)).sum(0) % 2) * 200 + 20).astype(np.uint8)
    image = np.repeat(checker[:, :, None], 3, axis=2)
    out = downscale(image, 0.5)
    assert out.shape == image.shape
    np.testing.assert_array_equal(out, np.full_like(image, 120))  # 2x2 area mean, then flat
    flat = np.full((20, 30, 3), 77, np.uint8)
    np.testing.assert_array_equal(downscale(flat, 0.25), flat)


def test_noise_is_seeded_with_the_right_spread():
    grey = np.full((200, 200, 3), 128, np.uint8)
    first, again, other = (
        gaussian_noise(grey, 10, seed) for seed in ([0, 1, 0], [0, 1, 0], [0, 2, 0])
    )
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    residual = first.astype(np.float64) - 128
    assert abs(residual.mean()) < 0.2 and residual.std() == pytest.approx(10, rel=0.03)
    assert Perturbation("noise", 5.0)(grey, seed=3).std() == pytest.approx(5, rel=0.05)


def test_parsing_perturbations():
    assert parse_perturbation("jpeg:75") == Perturbation("jpeg", 75)
    assert parse_perturbation("downscale:0.5").name == "downscale:0.5"
    assert parse_perturbation("blur:1").label == "blur σ=1"
    assert [p.name for p in parse_perturbations("clean,noise:5")] == ["clean", "noise:5"]
    for bad, message in (
        ("jpeg:0", "1..100"),
        ("jpeg:7.5", "integer"),
        ("downscale:2", r"\(0, 1\)"),
        ("nosie:5", "Did you mean 'noise'"),
        ("blur", "blur:1"),
    ):
        with pytest.raises(ConfigError, match=message):
            parse_perturbation(bad)
    with pytest.raises(ConfigError, match="given twice"):
        parse_perturbations("jpeg:75,jpeg:75")


@pytest.mark.slow
def test_perturbed_dataset_perturbs_the_decoded_frame_before_preprocessing(trained):
    from dfshield.data import DeepfakeDataset
    from dfshield.media.frames import decode_image
    from dfshield.scoring.scorer import PerturbedDataset, frame_preprocessor

    cfg = trained["cfg"]
    spec = {
        "mode": "frame",
        "resolution": 40,
        "mean": (0.5,) * 3,
        "std": (0.25,) * 3,
        "preprocess": None,
    }
    dataset = DeepfakeDataset(cfg.data, "test", augment=False, **spec)
    original_transform = dataset.transform
    noise = parse_perturbation("noise:10")
    perturbed = PerturbedDataset(dataset, noise, seed=5)
    prepare = frame_preprocessor(spec)
    for i in (0, 3, len(dataset) - 1):
        name, key = dataset.item_datasets[i], dataset.frame_keys[i]
        rgb = decode_image(dataset.store(name).get(key, dataset=name), key)
        expected = prepare(noise(rgb, seed=[5, i, 0]))
        np.testing.assert_array_equal(perturbed[i]["image"].numpy(), expected.numpy())
        np.testing.assert_array_equal(
            dataset[i]["image"].numpy(), prepare(rgb).numpy()
        )  # untouched
    assert dataset.transform is original_transform


# -- the command --------------------------------------------------------------------------------
def run_robustness(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    robustness.add_arguments(parser)
    return robustness.run(parser.parse_args([*argv, "--no-progress", "--device", "cpu"]))


@pytest.mark.slow
@pytest.mark.e2e
def test_robustness_table_and_clean_row_equal_to_trainer_test(trained, tmp_path, capsys):
    checkpoints = trained["run_dir"] / "checkpoints"
    cache = trained["run_dir"].parent / "cache"
    banks_before = sorted(p.name for p in cache.iterdir())
    out = tmp_path / "robustness"
    assert (
        run_robustness(
            "--checkpoint",
            str(checkpoints / "best.pt"),
            "--checkpoint",
            str(checkpoints / "last.pt"),
            "--out",
            str(out),
        )
        == 0
    )
    assert sorted(p.name for p in cache.iterdir()) == banks_before  # no perturbed banks cached
    assert {p.name for p in out.iterdir()} == {
        f"robustness.{k}" for k in ("md", "csv", "json", "png")
    }

    labels = ["clip_linear (run/best)", "clip_linear (run/last)"]
    rows = list(csv.DictReader((out / "robustness.csv").open()))
    assert [r["perturbation"] for r in rows] == list(DEFAULT_PERTURBATIONS)
    assert list(rows[0]) == ["perturbation", "label"] + [
        f"{label} {metric}" for label in labels for metric in ("AUC", "ACC", "EER", "video AUC")
    ]
    data = json.loads((out / "robustness.json").read_text())
    clean = data["rows"][0]["metrics"]
    test = trained["test"]
    threshold = data["checkpoints"][0]["threshold"]["value"]
    reference = compute_metrics(
        test["scores"], test["labels"], test["video_ids"], threshold=threshold, bootstrap=0
    )
    for label in labels:  # best.pt and last.pt of a 1-epoch run hold the same weights
        assert clean[label]["auc"] == test["metrics"]["auc"]
        assert float(rows[0][f"{label} AUC"]) == test["metrics"]["auc"]
        assert clean[label]["eer"] == pytest.approx(test["metrics"]["eer"], abs=1e-9)
        assert clean[label]["video_auc"] == pytest.approx(test["metrics"]["video_auc"], abs=1e-9)
        assert clean[label]["acc"] == pytest.approx(
            reference["acc"], abs=1e-9
        )  # at the EER threshold
        assert clean[label]["n"] == len(test["scores"])
    # blur and downscaling wash out the toy fakes' pixel-level checkerboard
    by_name = {row["perturbation"]: row["metrics"][labels[0]] for row in data["rows"]}
    assert by_name["blur:2"]["auc"] < by_name["clean"]["auc"]
    markdown = (out / "robustness.md").read_text()
    assert "## AUC" in markdown and "| JPEG q=30 |" in markdown and "| noise σ=10 |" in markdown
    assert (out / "robustness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "AUC per perturbation" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.e2e
def test_robustness_errors_are_clear(trained, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(cli.COMMANDS, "robustness", ("dfshield.commands.robustness", "robustness"))
    checkpoint = str(trained["checkpoint"])
    assert (
        cli.main(
            [
                "robustness",
                "--checkpoint",
                checkpoint,
                "--perturbations",
                "jpeg:101",
                "--no-progress",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "jpeg needs quality as an integer quality in 1..100" in capsys.readouterr().err
    assert cli.main(["robustness", "--checkpoint", str(tmp_path / "none.pt"), "--no-progress"]) == 2
    assert "no checkpoint at" in capsys.readouterr().err
    assert (
        cli.main(
            [
                "robustness",
                "--checkpoint",
                checkpoint,
                "--set",
                "data.test_datasets=[Nope]",
                "--perturbations",
                "clean",
                "--no-progress",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "for dataset 'Nope' does not exist" in capsys.readouterr().err
