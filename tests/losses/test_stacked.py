"""``stacked_loss``: G runs' losses in one call equal each run's loss on its own rows, value and
gradient, with per-run class counts and α, padding rows ignored."""

from __future__ import annotations

import pytest
import torch

from dfshield.losses import build_loss
from dfshield.losses.stacked import stacked_loss, vectorised

SPCUP = {
    "name": "composite",
    "terms": [
        {"name": "cvar", "alpha": 0.9, "base": {"name": "vs", "weights": "balanced"}},
        {"name": "auc_logistic", "weight": 0.6},
    ],
}
CONFIGS = [
    SPCUP,
    {"name": "vs", "weights": "balanced"},
    {"name": "bce"},
    {"name": "focal", "gamma": 2.0, "alpha": 0.3},
    {"name": "cvar", "alpha": 0.7, "solver": "bisect", "base": {"name": "bce"}},
    {"name": "auc_sqhinge", "eta": 0.6},
    {"name": "auc_wmw"},
]
COUNTS = [{"real": 30, "fake": 10}, {"real": 30, "fake": 3}, {"real": 12, "fake": 40}]
SIZES = [16, 11, 16]  # run 1 has a smaller (padded) batch


def _inputs(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(len(SIZES), 16, generator=generator, dtype=torch.float64)
    labels = (torch.rand(len(SIZES), 16, generator=generator) < 0.4).long()
    labels[:, :2] = torch.tensor([0, 1])  # both classes in every run
    weights = (torch.arange(16)[None, :] < torch.tensor(SIZES)[:, None]).double()
    return logits, labels, weights


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda cfg: cfg["name"])
def test_stacked_loss_equals_each_runs_loss(cfg):
    modules = [build_loss(cfg, class_counts=counts) for counts in COUNTS]
    assert vectorised(modules)
    logits, labels, weights = _inputs()
    stacked = logits.clone().requires_grad_()
    values = stacked_loss(modules)(stacked, labels, weights)
    values.sum().backward()
    for g, (module, n) in enumerate(zip(modules, SIZES)):
        alone = logits[g, :n].clone().requires_grad_()
        expected = module(alone, labels[g, :n])
        expected.backward()
        torch.testing.assert_close(values[g], expected, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(stacked.grad[g, :n], alone.grad, rtol=1e-10, atol=1e-12)
        assert not stacked.grad[g, n:].any()  # padding rows get no gradient


def test_per_run_alpha_and_an_empty_run():
    modules = [
        build_loss({"name": "cvar", "alpha": alpha, "base": {"name": "bce"}})
        for alpha in (0.25, 0.5, 1.0)
    ]
    logits, labels, weights = _inputs(seed=1)
    weights[2] = 0.0  # an inactive run: finite loss, no gradient
    stacked = logits.clone().requires_grad_()
    values = stacked_loss(modules)(stacked, labels, weights)
    values.sum().backward()
    for g in (0, 1):
        expected = modules[g](logits[g, : SIZES[g]], labels[g, : SIZES[g]])
        torch.testing.assert_close(values[g], expected, rtol=1e-12, atol=1e-12)
    assert torch.isfinite(values).all() and not stacked.grad[2].any()


def test_unvectorised_losses_fall_back_to_a_loop_per_run():
    modules = [build_loss({"name": "bce", "reduction": "none"}) for _ in COUNTS]
    assert not vectorised(modules)
    mixed = [build_loss({"name": "bce"}), build_loss({"name": "vs"}, class_counts=COUNTS[0])]
    assert not vectorised(mixed)
    logits, labels, weights = _inputs()
    values = stacked_loss(mixed)(logits[:2], labels[:2], weights[:2])
    for g, module in enumerate(mixed):
        expected = module(logits[g, : SIZES[g]], labels[g, : SIZES[g]])
        torch.testing.assert_close(values[g], expected)
