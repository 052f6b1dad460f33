"""Vectorised sweeps: one stacked step of G runs equals G separate ``TrainStep``s (float64, SAM +
AdamW, per-run class counts, a padded batch), optimiser state and BatchNorm statistics included;
an inactive run is left untouched."""

from __future__ import annotations

import copy

import pytest
import torch

from dfshield.config import load_run_config
from dfshield.detectors import build_detector
from dfshield.engine.stacked_head import StackedRuns, stack_batches
from dfshield.engine.steps import TrainStep
from dfshield.losses.stacked import vectorised
from dfshield.optimizers import build_optimizer
from tests.helpers import TINY_BACKBONE

COUNTS = [{"real": 30, "fake": 10}, {"real": 30, "fake": 3}, {"real": 12, "fake": 40}]
#: lr 1e-3: the gradient of a Linear bias before a BatchNorm is zero up to rounding (~1e-16, other
#: in either path), which AdamW's first steps turn into moves of ~lr·1e-16/eps; at lr 1e-3 they
#: stay below 1e-10 while every other weight moves by ~lr
SAM_ADAMW = {"name": "sam", "rho": 0.5, "base": {"name": "adamw", "lr": 1e-3, "weight_decay": 0.1}}
VS = {"name": "vs", "weights": "balanced"}
ASAM = {**SAM_ADAMW, "adaptive": True, "eta": 0.01}


def runs(loss: dict | None = None, optimizer: dict = SAM_ADAMW, layers: int = 3):
    """Three float64 spcup heads (seeds 0-2, no dropout), each with its own class counts."""
    cfg = load_run_config(
        detector="spcup",
        extra_layers=[
            (
                "tiny",
                {
                    "detector": {
                        "backbone": dict(TINY_BACKBONE),
                        "hidden": 12,
                        "dropout": 0,
                        "layers": layers,
                    }
                },
            )
        ],
    )
    detectors = []
    for seed, counts in enumerate(COUNTS):
        torch.manual_seed(seed)
        detector = build_detector(cfg.detector)
        detector.head.double()
        detector.build_loss(loss or cfg.loss, class_counts=counts)
        detectors.append(detector.train())
    return detectors, [build_optimizer(optimizer, d) for d in detectors]


def batch(detector, seed: int, size: int = 16) -> dict:
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(size, detector.backbone.feature_dim, generator=generator).double()
    labels = (torch.arange(size) % 3 == 0).long()
    return {"feature": features, "label": labels, "image": None}


def state(detector, optimizer) -> dict:
    """Weights, buffers and optimiser state of one run, as tensors by name."""
    out = {f"buffer {k}": v.clone() for k, v in detector.head.named_buffers()}
    for name, p in detector.head.named_parameters():
        out[name] = p.detach().clone()
        for key, value in optimizer.state.get(p, {}).items():
            out[f"{name} {key}"] = value.clone()
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    "loss, optimizer, layers",
    [
        (None, SAM_ADAMW, 3),
        (VS, SAM_ADAMW, 3),
        (None, SAM_ADAMW["base"], 3),
        (VS, {"name": "adam", "lr": 1e-3, "weight_decay": 0.1}, 0),
        (VS, ASAM, 3),
    ],
    ids=["cvar_vs_auc-sam", "vs-sam", "cvar_vs_auc-adamw", "vs-adam-linear", "vs-asam"],
)
def test_one_stacked_step_equals_separate_steps(loss, optimizer, layers):
    detectors, optimizers = runs(loss, optimizer, layers)
    separate = [copy.deepcopy(d) for d in detectors]
    separate_opts = [build_optimizer(optimizer, d) for d in separate]
    stacked = StackedRuns(detectors, optimizers)
    sizes = [[16, 16, 16], [16, 11, 16]]  # the second step: run 1's smaller, padded, last batch
    for step, step_sizes in enumerate(sizes):
        batches = [
            batch(d, 10 * step + g, n) for g, (d, n) in enumerate(zip(detectors, step_sizes))
        ]
        expected = [
            TrainStep(d, d, o, None)(data) for d, o, data in zip(separate, separate_opts, batches)
        ]
        losses = stacked.step(*stack_batches(batches))
        torch.testing.assert_close(losses, torch.stack(expected), rtol=1e-10, atol=1e-12)
    stacked.store()
    for g in range(3):
        alone = state(separate[g], separate_opts[g])
        together = state(detectors[g], optimizers[g])
        assert together.keys() == alone.keys() and any(k.endswith("exp_avg_sq") for k in alone)
        assert any(k.endswith(" step") for k in alone)
        for key, value in alone.items():
            torch.testing.assert_close(together[key], value, rtol=1e-10, atol=1e-10, msg=key)


def test_an_inactive_run_is_untouched():
    detectors, optimizers = runs()
    stacked = StackedRuns(detectors, optimizers)
    stacked.step(*stack_batches([batch(d, g) for g, d in enumerate(detectors)]))
    stacked.store()
    before = [state(d, o) for d, o in zip(detectors, optimizers)]
    stacked.step(*stack_batches([batch(detectors[0], 5), None, batch(detectors[2], 6)]))
    stacked.store()
    after = [state(d, o) for d, o in zip(detectors, optimizers)]
    for key, value in before[1].items():
        assert torch.equal(after[1][key], value), key
    assert not torch.equal(after[0]["0.weight"], before[0]["0.weight"])
    assert after[0]["0.weight exp_avg"].ne(before[0]["0.weight exp_avg"]).any()


def test_a_loss_it_cannot_vectorise_steps_through_a_loop_per_run():
    """Focal losses whose γ differs between runs: no one call, a loop inside the same step."""
    detectors, optimizers = runs(optimizer=SAM_ADAMW["base"])
    for gamma, detector in zip((1.0, 2.0, 3.0), detectors):
        detector.build_loss({"name": "focal", "gamma": gamma})
    assert not vectorised([d.loss_fn for d in detectors])
    separate = [copy.deepcopy(d) for d in detectors]
    separate_opts = [build_optimizer(SAM_ADAMW["base"], d) for d in separate]
    stacked = StackedRuns(detectors, [build_optimizer(SAM_ADAMW["base"], d) for d in detectors])
    batches = [batch(d, g, n) for g, (d, n) in enumerate(zip(detectors, (16, 11, 16)))]
    expected = [TrainStep(d, d, o, None)(x) for d, o, x in zip(separate, separate_opts, batches)]
    losses = stacked.step(*stack_batches(batches))
    torch.testing.assert_close(losses, torch.stack(expected), rtol=1e-10, atol=1e-12)
    stacked.store()
    for alone, together in zip(separate, detectors):
        for (name, p), q in zip(alone.head.named_parameters(), together.head.parameters()):
            torch.testing.assert_close(q, p, rtol=1e-10, atol=1e-10, msg=name)
