"""Batched runs (``train.batched_runs``): the stacked head equals the regular head, one batched
SAM + AdamW step equals separate steps run for run, and ``dfshield imbalance`` writes the same
files with the same subsets, falling back to separate runs where it cannot batch."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
from types import SimpleNamespace

import pytest
import torch

from dfshield.config import load_run_config
from dfshield.detectors import build_detector
from dfshield.engine.grouped_runs import batching_problem
from dfshield.engine.stacked_head import StackedRuns, stack_batches
from dfshield.engine.steps import TrainStep
from dfshield.optimizers import build_optimizer
from dfshield.studies.imbalance import run_imbalance
from tests.helpers import TINY_BACKBONE, toy_layer, write_toy_dataset

COUNTS = {"real": 30, "fake": 10}


@pytest.fixture(scope="module")
def fake_heavy(tmp_path_factory) -> dict:
    """The toy dataset of tests/test_imbalance.py: 12 real / 20 fake training videos."""
    return write_toy_dataset(
        tmp_path_factory.mktemp("batched"), "Imb", n_real=24, n_fake=40, seed=3
    )


def spcup(dropout: float = 0.0, seed: int = 0):
    """An spcup detector (its loss built, CVaR(VS) + AUC) on the tiny backbone, small head."""
    cfg = load_run_config(
        detector="spcup",
        extra_layers=[
            (
                "tiny",
                {"detector": {"backbone": dict(TINY_BACKBONE), "hidden": 12, "dropout": dropout}},
            )
        ],
    )
    torch.manual_seed(seed)
    detector = build_detector(cfg.detector)
    detector.build_loss(cfg.loss, class_counts=COUNTS)
    return cfg, detector.train()


def batch(detector, seed: int, size: int = 16) -> dict:
    generator = torch.Generator().manual_seed(seed)
    dtype = next(detector.head.parameters()).dtype
    features = torch.randn(size, detector.backbone.feature_dim, generator=generator, dtype=dtype)
    labels = (torch.arange(size) % 3 == 0).long()
    return {"feature": features, "label": labels, "image": None}


@pytest.mark.slow
def test_grouped_head_of_one_equals_the_regular_head():
    _, detector = spcup(dropout=0.3)
    twin = copy.deepcopy(detector)
    data = batch(detector, seed=1)
    torch.manual_seed(5)
    expected = detector(data)["cls"]
    loss = detector.get_losses(data, {"cls": expected})["overall"]
    loss.backward()
    stacked = StackedRuns([twin], [build_optimizer("adamw", twin)])
    torch.manual_seed(5)  # the same dropout masks
    weights = torch.ones(1, len(data["label"]))
    logits = stacked.logits(data["feature"][None], weights, update=torch.ones(1, dtype=bool))[0]
    twin.get_losses(data, {"cls": logits})["overall"].backward()
    stacked.store()
    torch.testing.assert_close(logits, expected, rtol=1e-6, atol=1e-6)
    for (name, p), q in zip(detector.head.named_parameters(), stacked.params):
        torch.testing.assert_close(q.grad[0], p.grad, rtol=1e-5, atol=1e-7, msg=name)
    for name, buffer in detector.head.named_buffers():
        torch.testing.assert_close(twin.head.get_buffer(name), buffer, msg=name)


@pytest.mark.slow
def test_one_batched_sam_adamw_step_equals_three_separate_steps():
    """The exactness proof: three runs (different weights, batches; no dropout) stepped together
    end with the weights, optimiser state and BatchNorm statistics of three separate steps; SAM's
    ε uses each run's own gradient norm (a norm across runs would give other weights).

    In float64: the gradient of a Linear bias just before a BatchNorm is zero up to rounding, and
    in float32 that rounding (~1e-9, other in a batched matmul) is above AdamW's ε, so AdamW turns
    it into steps of ±lr in either path; in float64 it stays far below ε (steps < 1e-9)."""
    runs = [spcup(seed=seed) for seed in range(3)]
    for _, detector in runs:
        detector.head.double()
    separate = [copy.deepcopy(detector) for _, detector in runs]
    grouped = [detector for _, detector in runs]
    cfg = runs[0][0]
    lr = {"name": "sam", "rho": 0.5, "base": {"name": "adamw", "lr": 1e-2, "weight_decay": 0.1}}
    assert cfg.optimizer["name"] == "sam"
    batches = [batch(detector, seed=10 + g) for g, detector in enumerate(grouped)]
    separate_opts = [build_optimizer(lr, detector) for detector in separate]
    grouped_opts = [build_optimizer(lr, detector) for detector in grouped]
    stacked = StackedRuns(grouped, grouped_opts)
    for _ in range(2):
        expected = [
            TrainStep(detector, detector, optimizer, None)(data)
            for detector, optimizer, data in zip(separate, separate_opts, batches)
        ]
        losses = stacked.step(*stack_batches(batches))
        torch.testing.assert_close(losses, torch.stack(expected))
    stacked.store()
    for alone, together in zip(separate, grouped):
        for (name, p), q in zip(alone.head.named_parameters(), together.head.parameters()):
            torch.testing.assert_close(q, p, rtol=1e-10, atol=1e-9, msg=name)
        for name, buffer in alone.head.named_buffers():
            torch.testing.assert_close(together.head.get_buffer(name), buffer, msg=name)
    state = grouped_opts[0].state[next(grouped[0].head.parameters())]
    alone = separate_opts[0].state[next(separate[0].head.parameters())]
    torch.testing.assert_close(state["exp_avg_sq"], alone["exp_avg_sq"], rtol=1e-10, atol=1e-20)


@pytest.fixture
def batched_groups(monkeypatch) -> list[int]:
    """The size of every group trained by ``fit_batched``."""
    import dfshield.engine.grouped_runs as batched

    sizes: list[int] = []
    original = batched.fit_batched
    monkeypatch.setattr(
        batched, "fit_batched", lambda trainers: sizes.append(len(trainers)) or original(trainers)
    )
    return sizes


def _run(fake_heavy, tmp_path, name: str, detectors, ratios, batched: bool, **train):
    layer = toy_layer(fake_heavy, tmp_path, epochs=2, batched_runs=batched, **train)
    return run_imbalance(
        detectors,
        ratios,
        tmp_path / name,
        seeds=1,
        extra_layers=[layer],
        overrides=["detector.dropout=0"],
        feature_cache=tmp_path / "cache",
    )


def _files(folder) -> list[str]:
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and "tensorboard" not in p.parts and not p.name.endswith(".lock")
    )


@pytest.mark.slow
@pytest.mark.e2e
def test_batched_imbalance_writes_the_same_files_and_metrics(fake_heavy, tmp_path, batched_groups):
    """Same subsets (the subsample JSONs byte for byte), the same files, and — without dropout,
    the one random stream a batched group shares — the same metrics within float tolerance."""
    separate = _run(fake_heavy, tmp_path, "separate", ["spcup"], ["3", "1"], batched=False)
    assert batched_groups == []
    batched = _run(fake_heavy, tmp_path, "batched", ["spcup"], ["3", "1"], batched=True)
    assert batched_groups == [2]  # both ratios (different subsample sizes) in one model
    assert batched["batching"] == {"spcup": "2 runs batched as one model"}
    assert separate["batching"] == {"spcup": "trained separately: train.batched_runs is false"}
    settings = json.loads((batched["run_dir"] / "imbalance.json").read_text())["settings"]
    assert settings["batching"] == batched["batching"]
    markdown = (batched["run_dir"] / "imbalance.md").read_text()
    assert "Training of spcup: 2 runs batched as one model." in markdown
    a, b = separate["run_dir"], batched["run_dir"]
    assert _files(b) == _files(a)
    for path in a.rglob("subsample.json"):
        left = json.loads(path.read_text())
        right = json.loads((b / path.relative_to(a)).read_text())
        assert {k: v for k, v in left.items() if k != "json_dir"} == {
            k: v for k, v in right.items() if k != "json_dir"
        }
    assert len(batched["runs"]) == len(separate["runs"]) == 2
    for alone, together in zip(separate["runs"], batched["runs"]):
        assert (alone["ratio"], alone["seed"]) == (together["ratio"], together["seed"])
        assert alone["best_epoch"] == together["best_epoch"]
        for key in ("auc", "ap", "eer"):
            assert math.isfinite(together[key])
            assert together[key] == pytest.approx(alone[key], abs=1e-3), key
    for log in a.rglob("log.csv"):
        rows = log.read_text().splitlines()
        other = (b / log.relative_to(a)).read_text().splitlines()
        assert len(rows) == len(other) == 3 and rows[0] == other[0]
        for left, right in zip(rows[1:], other[1:]):
            loss_a, loss_b = float(left.split(",")[2]), float(right.split(",")[2])
            assert loss_b == pytest.approx(loss_a, rel=1e-4)


@pytest.mark.slow
def test_an_unsupported_detector_trains_separately_and_says_why(
    fake_heavy, tmp_path, caplog, batched_groups
):
    caplog.set_level(logging.INFO, logger="dfshield.studies.imbalance")
    layer = toy_layer(fake_heavy, tmp_path, epochs=1, batched_runs=True)
    result = run_imbalance(
        ["clip_linear"],
        ["1"],
        tmp_path / "study",
        seeds=2,
        extra_layers=[layer],
        feature_cache=tmp_path / "cache",
    )
    assert "clip_linear trains its runs separately" in caplog.text
    assert "declares no batched_head" in caplog.text and batched_groups == []
    assert len(result["runs"]) == 2
    assert result["batching"]["clip_linear"].startswith("2 run(s) trained separately: detector")
    for seed in (1, 2):
        folder = tmp_path / "study" / "ratio-1" / f"seed-{seed}" / "clip_linear"
        assert (folder / "checkpoints" / "best.pt").is_file()
        assert (folder / "test_metrics.json").is_file()


@pytest.mark.parametrize(
    "optimizer",
    [{"name": "sgd"}, {"name": "sam", "base": {"name": "adamw", "amsgrad": True}}],
    ids=["sgd", "sam-amsgrad"],
)
def test_an_optimizer_the_stacked_step_lacks_is_named(optimizer):
    cfg, detector = spcup()
    trainer = SimpleNamespace(
        name="spcup",
        detector=detector,
        cfg=dataclasses.replace(cfg, optimizer=optimizer),
        dist=SimpleNamespace(enabled=False),
    )
    assert "is not adam or adamw" in batching_problem(trainer)
    assert batching_problem(SimpleNamespace(**{**vars(trainer), "cfg": cfg})) is None
    with pytest.raises(ValueError, match="is not adam or adamw"):
        StackedRuns([detector], [build_optimizer("sgd", detector)])
