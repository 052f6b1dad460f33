"""Helpers shared by the tests: the tiny random-init backbone, a toy dataset, a config layer.

Import them with ``from tests.helpers import ...`` (``tests`` is a package, so that its
folders, named after dfshield's packages, never shadow another project's top-level package such
as DeepfakeBench's ``detectors``); ``conftest.py`` holds only fixtures.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import lmdb
import numpy as np

SHARED_DATA = Path(
    os.environ.get("DFSHIELD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
TINY_BACKBONE = {"name": "clip", "model": "dfshield-tiny-vit", "pretrained": None}


def toy_image(rng: np.random.Generator, fake: bool, size: int = 32) -> np.ndarray:
    """A smooth random image; fakes get a strong checkerboard (a generator-like artefact)."""
    base = rng.uniform(40, 200, size=(4, 4, 3))
    image = np.kron(base, np.ones((size // 4, size // 4, 1)))
    image += rng.normal(0, 6, size=image.shape)
    if fake:
        checker = (np.indices((size, size)).sum(axis=0) % 2)[..., None] * 2 - 1
        image += 40 * checker
    return np.clip(image, 0, 255).astype(np.uint8)


def write_toy_dataset(
    out_dir: Path,
    name: str = "Toy",
    n_real: int = 40,
    n_fake: int = 20,
    frames_per_video: int = 2,
    seed: int = 0,
) -> dict:
    from dfshield.dataset_builder.dataset_writer import DatasetWriter
    from dfshield.dataset_builder.layout import label_dict_for

    rng = np.random.default_rng(seed)
    with DatasetWriter(out_dir, name) as writer:
        for i in range(n_real + n_fake):
            fake = i >= n_real
            frames = [(10 * j, toy_image(rng, fake)) for j in range(frames_per_video)]
            writer.add_video(f"v{i:04d}", "fake" if fake else "real", frames)
        summary = writer.close(fractions=(0.5, 0.25, 0.25), seed=seed)
    return {
        "name": name,
        "json_dir": str(out_dir / "json"),
        "lmdb_dir": str(out_dir / "lmdb"),
        "label_dict": label_dict_for(name),
        "summary": summary,
    }


def toy_layer(dataset: dict, cache_dir: Path | str, epochs: int = 3, **train) -> tuple[str, dict]:
    """A config layer that points a run at the toy dataset with the tiny random-init backbone."""
    return (
        "test layer",
        {
            "data": {
                "train_datasets": [dataset["name"]],
                "test_datasets": [dataset["name"]],
                "json_dir": dataset["json_dir"],
                "lmdb_dir": dataset["lmdb_dir"],
                "label_dict": dataset["label_dict"],
                "num_workers": 0,
            },
            "train": {
                "epochs": epochs,
                "batch_size": 16,
                "seed": 1,
                "device": "cpu",
                "progress": False,
                "output_dir": str(cache_dir),
                **train,
            },
            "detector": {"backbone": dict(TINY_BACKBONE)},
        },
    )


_TRAINED: dict = {}


def train_tiny_checkpoint(dataset: dict, folder: Path) -> dict:
    """One tiny clip_linear run per session (1 epoch), tested with ``Trainer.test``; shared by
    tests/test_predict.py and tests/test_robustness.py."""
    if "run" not in _TRAINED:
        from dfshield.config import load_run_config
        from dfshield.engine.trainer import Trainer

        cfg = load_run_config(
            detector="clip_linear", extra_layers=[toy_layer(dataset, folder, epochs=1)]
        )
        trainer = Trainer(cfg, folder / "run", feature_cache=folder / "cache")
        trainer.fit()
        result = trainer.test()
        _TRAINED["run"] = {
            "checkpoint": folder / "run" / "checkpoints" / "best.pt",
            "cfg": cfg,
            "run_dir": folder / "run",
            "test": result,
            "trainer": trainer,
        }
    return _TRAINED["run"]


def auc_of_written_scores(path: Path) -> tuple[float, float]:
    """scikit-learn's ROC AUC of a ``test_scores.csv`` as written, and the AUC weight of one
    (fake, real) pair, ``1 / (n_fake · n_real)``: the file keeps P(fake) to 6 decimals, which
    may tie a pair that the full-precision scores ordered."""
    import csv

    from sklearn.metrics import roc_auc_score

    with Path(path).open() as handle:
        rows = list(csv.DictReader(handle))
    labels = [int(row["label"]) for row in rows]
    scores = [float(row["prob_fake"]) for row in rows]
    return float(roc_auc_score(labels, scores)), 1 / (labels.count(1) * labels.count(0))


def sample_frames(path, n: int):
    """All ``n`` sampled frames of a video at once, ``([(index, rgb), ...], total)``, collected
    from :class:`dfshield.media.video.SampledVideo` (a truncated video restarts its sampling over
    the frames that decode): the reference the streaming readers are compared with."""
    from dfshield.media.video import SampledVideo

    video = SampledVideo(path, n)
    frames: list = []
    for frame in video:
        frames = [] if frame is None else [*frames, frame]
    return frames, video.total


def read_dataset(out: Path, name: str) -> tuple[dict, dict[str, bytes]]:
    """The JSON index and the LMDB's ``{key: bytes}`` of a dataset built into ``out``."""
    info = json.loads((out / "json" / f"{name}.json").read_text(encoding="utf-8"))
    env = lmdb.open(str(out / "lmdb" / f"{name}_lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        values = {k.decode("utf-8"): bytes(v) for k, v in txn.cursor()}
    env.close()
    return info, values


def videos_of(info: dict, name: str) -> dict[tuple[str, str], tuple[str, list[str]]]:
    """{(label, video): (split, frames)} with a structural check of the JSON on the way."""
    assert list(info) == [name]
    assert set(info[name]) == {f"{name}_real", f"{name}_fake"}
    out = {}
    for lab in ("real", "fake"):
        group = info[name][f"{name}_{lab}"]
        assert set(group) == {"train", "val", "test"}
        for split in ("train", "val", "test"):
            for vid, entry in group[split].items():
                assert entry["label"] == f"{name}_{lab}"
                assert (lab, vid) not in out, f"video {vid} is in two splits"
                out[(lab, vid)] = (split, entry["frames"])
    return out


# -- synthetic run folders, written by the project's own writers (for the HTML report's tests) --


def synthetic_scores(seed: int, n_real: int = 40, n_fake: int = 20, separation: float = 1.5):
    """Labels and P(fake) of a test split: fakes score higher by ``separation`` logits."""
    rng = np.random.default_rng(seed)
    labels = np.array([0] * n_real + [1] * n_fake)
    logits = rng.normal(0, 1, labels.size) + separation * labels
    return labels, 1 / (1 + np.exp(-logits))


def write_detector_run(
    folder: Path,
    name: str,
    *,
    dataset: str = "Toy",
    epochs: int = 3,
    tested: bool = True,
    extra_tests: tuple[str, ...] = (),
    output_dir: str | None = None,
    seed: int = 0,
) -> dict:
    """A detector's run folder as the trainer writes it: ``config.json``, ``log.csv`` and, when
    ``tested``, ``test_scores.csv`` / ``test_metrics.json`` (and the same per extra test set).
    Returns the test metrics (None when not tested)."""
    import csv

    from dfshield.engine.trainer import LOG_COLUMNS
    from dfshield.eval.predictions import Predictions, evaluate_predictions, write_scores
    from dfshield.fileio import write_json_atomic

    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "data": {"train_datasets": [dataset], "test_datasets": [dataset]},
        "detector": {"name": name, "backbone": dict(TINY_BACKBONE)},
        "train": {"epochs": epochs, "device": "cpu", "amp": "auto", "capture": "auto"},
    }
    if output_dir:
        config["train"]["output_dir"] = output_dir
    write_json_atomic(folder / "config.json", config)
    with (folder / "log.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=LOG_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for epoch in range(1, epochs + 1):
            writer.writerow(
                {"epoch": epoch, "lr": 1e-3 / epoch, "train_loss": 1.0 / epoch}
                | {"val_auc": 0.6 + 0.1 * epoch, "val_eer": 0.3 / epoch, "seconds": 0.5}
            )
    if not tested:
        return {}
    metrics = {}
    for k, test_set in enumerate(("", *extra_tests)):
        where = folder / "extra_tests" / test_set if test_set else folder
        labels, scores = synthetic_scores(seed + k, separation=2.0 - 0.5 * k)
        videos = [f"{dataset}/v{i}" for i in range(labels.size)]
        predictions = Predictions(scores, labels, videos)
        found = evaluate_predictions(predictions, bootstrap=0)
        where.mkdir(parents=True, exist_ok=True)
        write_scores(where / "test_scores.csv", predictions)
        write_json_atomic(where / "test_metrics.json", {"detector": name, **found})
        metrics[test_set or f"{dataset} test"] = found
    return metrics


def write_comparison(
    folder: Path, detectors=("alpha", "beta"), extra_tests: tuple[str, ...] = (), **options
) -> Path:
    """A ``compare`` folder: one tested run per detector, then ``results.*`` as the comparison
    writes them (extra test sets as extra rows)."""
    from dfshield.eval.results import write_results
    from dfshield.scoring.extra_test_sets import result_rows

    rows = []
    first_seed = options.pop("seed", 0)
    for k, name in enumerate(detectors):
        metrics = write_detector_run(
            folder / name, name, extra_tests=extra_tests, seed=first_seed + k, **options
        )
        main, *extras = metrics.items()
        extra = [{"test_set": s, "metrics": m} for s, m in extras]
        rows += result_rows(name, main[0], main[1], extra)
    if not extra_tests:
        rows = [{k: v for k, v in row.items() if k != "test_set"} for row in rows]
    write_results(folder, rows, title="Comparison on the test split")
    return folder


def write_bank(cache: Path, json_file: str, rows: int = 60, dim: int = 8, seed: int = 0) -> Path:
    """A feature-bank folder as the bank writer lays it out (``features.npy`` + ``meta.json``
    whose identity names the dataset JSON ``json_file``)."""
    from dfshield.fileio import write_json_atomic

    rng = np.random.default_rng(seed)
    labels = (np.arange(rows) % 3 == 0).astype(int)
    features = rng.normal(0, 1, (rows, dim)).astype(np.float32) + 3 * labels[:, None]
    folder = cache / f"bank{seed:020d}"
    folder.mkdir(parents=True)
    np.save(folder / "features.npy", features)
    meta = {
        "count": rows,
        "skipped": 0,
        "indices": list(range(rows)),
        "labels": labels.tolist(),
        "video_ids": [f"v{i}" for i in range(rows)],
        "frame_keys": [f"v{i}/0" for i in range(rows)],
        "identity": {"sources": [f"json:/data/json/{json_file}:10:1"]},
    }
    write_json_atomic(folder / "meta.json", meta)
    return folder


def write_imbalance_folder(folder: Path, ratios=(1, 10), seeds=(1, 2)) -> Path:
    """An ``imbalance`` folder: runs per ratio and seed and the study's summary files."""
    from dfshield.eval.metrics import compute_metrics
    from dfshield.studies.imbalance_report import summarize, write_imbalance

    runs = []
    for ratio in ratios:
        for seed in seeds:
            where = folder / f"ratio-{ratio}" / f"seed-{seed}"
            write_comparison(where, detectors=("alpha",), seed=seed)
            for name in ("alpha",):
                labels, scores = synthetic_scores(seed, separation=2.0 / ratio)
                metrics = compute_metrics(scores, labels, bootstrap=0)
                runs.append(
                    {"detector": name, "ratio": ratio, "seed": seed, "minority": "fake"}
                    | {"test_set": "Toy test", "train_real_videos": 40}
                    | {"train_fake_videos": 40 // ratio, **metrics}
                )
    settings = {"minority": "fake", "ratios": list(ratios), "seeds": list(seeds)}
    settings |= {"train_datasets": ["Toy"], "test_sets": ["Toy test"]}
    settings["protocol_counts"] = {"real": 40, "fake": 40}
    settings["counts"] = {str(r): {"real": 40, "fake": 40 // r} for r in ratios}
    write_imbalance(folder, summarize(runs), runs, settings)
    return folder


def write_reproduce_folder(folder: Path) -> Path:
    """A ``reproduce`` folder: the report files as ``write_report`` writes them."""
    from dfshield.studies.reproduce_report import write_report

    def cell(column, metric, published, ours):
        return {
            "column": column,
            "metric": metric,
            "test": "Toy",
            "published": published,
            "published_std": None,
            "ours": ours,
            "ours_std": None,
            "difference": None if ours is None else ours - published,
            "runs": [ours],
        }

    rows = [
        {"id": "a", "label": "Alpha", "detector": "alpha", "sets": []}
        | {"cells": [cell("AUC", "auc", 90.0, 92.5), cell("EER", "eer", 10.0, 14.0)]},
        {"id": "b", "label": "Beta", "detector": "beta", "sets": []}
        | {"cells": [cell("AUC", "auc", 95.0, 89.0), cell("EER", "eer", 8.0, None)]},
    ]
    report = {
        "name": "toy-table",
        "paper": "A toy paper",
        "title": "Toy table",
        "protocol": "toy.yaml",
        "seeds": [1],
        "overrides": [],
        "scale": 100,
        "decimals": 1,
        "sections": [{"name": "main", "rows": rows, "data": []}],
        "differences": [],
        "not_reproduced": [],
        "not_computed": [],
        "run_dir": str(folder),
    }
    folder.mkdir(parents=True, exist_ok=True)
    write_report(folder, report)
    return folder


def write_robustness_folder(folder: Path) -> Path:
    """A ``robustness`` folder as ``write_outputs`` writes it, for two checkpoints."""
    from dfshield.eval.perturbations import parse_perturbations
    from dfshield.scoring.robustness import RobustnessResult, write_outputs

    perturbations = parse_perturbations(["clean", "jpeg:90", "jpeg:50", "blur:1", "blur:2"])
    labels = ["alpha", "beta"]
    rows = [
        {
            label: {"auc": 0.95 - 0.05 * i - 0.02 * k, "acc": 0.9, "eer": 0.1, "video_auc": None}
            for k, label in enumerate(labels)
        }
        for i, _ in enumerate(perturbations)
    ]
    threshold = {"value": 0.5, "rule": "eer", "chosen_on": "validation split"}
    checkpoints = [
        {"label": label, "path": str(folder / label / "checkpoints" / "best.pt"), "epoch": 1}
        | {"test_datasets": ["Toy"]}
        | {"threshold": threshold}
        for label in labels
    ]
    result = RobustnessResult(perturbations, labels, rows, checkpoints, 0, "runs")
    write_outputs(folder, result)
    return folder


#: the cause a forced capture failure names (:func:`force_capture_failure`)
CAPTURE_FAILURE = "operation not permitted when stream is capturing (forced by the test)"


def force_capture_failure(monkeypatch) -> list[int]:
    """CUDA-graph capture on the CPU, made to fail: the warm-up steps run as plain steps and the
    capture raises :data:`CAPTURE_FAILURE` as torch raises when an operation cannot be captured.
    Returns the batch sizes a capture is tried on (filled as the steps run)."""
    import contextlib

    import torch

    from dfshield.engine.steps import TrainStep

    tried: list[int] = []
    try_capture = TrainStep._try_capture

    def trying(step, data, *args):
        tried.append(len(data["label"]))
        return try_capture(step, data, *args)

    @contextlib.contextmanager
    def failing_graph(graph):
        raise RuntimeError(CAPTURE_FAILURE)
        yield

    monkeypatch.setattr(TrainStep, "_side_stream_step", TrainStep._step)
    monkeypatch.setattr(TrainStep, "_try_capture", trying)
    monkeypatch.setattr(torch.cuda, "CUDAGraph", object)
    monkeypatch.setattr(torch.cuda, "graph", failing_graph)
    return tried
