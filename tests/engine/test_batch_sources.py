"""Batch sources: the feature bank's training batches carry the detector's latent augmentation
(docs/methods.md §6)."""

from __future__ import annotations

import pytest
import torch

from dfshield.config import load_run_config
from dfshield.detectors import build_detector
from dfshield.distributed import DistInfo
from dfshield.engine.batch_sources import BankBatches
from dfshield.engine.feature_bank import FeatureBank
from tests.helpers import TINY_BACKBONE


def bank_source(n: int, dim: int, batch_size: int) -> tuple[BankBatches, FeatureBank]:
    """A spcup ``BankBatches`` over an in-memory bank whose row i holds 1000·i in its first
    column, so a noisy copy (noise below 1000) still shows which row it copies."""
    cfg = load_run_config(
        detector="spcup",
        overrides=[f"train.batch_size={batch_size}", "train.progress=false"],
        extra_layers=[("test", {"detector": {"backbone": dict(TINY_BACKBONE)}})],
    )
    detector = build_detector(cfg.detector)
    features = torch.randn(n, dim)
    features[:, 0] = 1000.0 * torch.arange(n)
    labels = torch.arange(n) % 2
    bank = FeatureBank(features, labels, [f"v{i}" for i in range(n)], [f"f{i}" for i in range(n)])
    source = BankBatches(detector, None, cfg, torch.device("cpu"), DistInfo())
    source.bank = lambda split: bank  # no frames to encode
    return source, bank


def test_bank_batches_hold_each_row_once_as_it_is_and_once_as_a_noisy_copy():
    n, dim = 200, 32
    source, bank = bank_source(n, dim, batch_size=64)
    batches = list(source.train_batches(0, torch.Generator().manual_seed(0)))
    features = torch.cat([b["feature"] for b in batches])
    labels = torch.cat([b["label"] for b in batches])
    assert len(features) == 2 * n  # 400 rows: no last batch dropped
    row = torch.round(features[:, 0] / 1000).long()
    torch.testing.assert_close(labels, bank.labels[row])
    noise = features - bank.features[row]
    noise = noise[:, 1:]  # column 0 is too large for float32 to show small noise
    noisy = noise.abs().amax(dim=1) > 0
    assert torch.bincount(row, minlength=n).tolist() == [2] * n
    # of each row's two appearances, one is the row itself and one a copy with noise everywhere
    assert torch.bincount(row[noisy], minlength=n).tolist() == [1] * n
    assert (noise[noisy] != 0).all()
    # per-copy noise std β·σ with β, σ ~ U(0, 1): mean 1/4
    assert noise[noisy].std(dim=1).mean().item() == pytest.approx(0.25, abs=0.04)
